/*
 * Registry: unique names to references. A mutex-guarded open-addressing
 * table; lookups are not on any hot path, so simplicity wins.
 */
#include <stdlib.h>

#include <pthread.h>

#include "registry.h"
#include "system.h"
#include "cluster/hook.h"

typedef struct rent {
    char *name; /* NULL: empty; TOMB: deleted */
    za_ref ref;
} rent;

static char tomb_;
#define TOMB (&tomb_)

struct za_registry {
    pthread_mutex_t mu;
    rent *t;
    size_t cap, used; /* used counts live + tombstones */
};

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

int za__registry_new(za_system *s) {
    struct za_registry *r = calloc(1, sizeof *r);
    if (!r) return ZA_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    s->registry = r;
    return ZA_OK;
}

void za__registry_free(za_system *s) {
    struct za_registry *r = s->registry;
    if (!r) return;
    for (size_t i = 0; i < r->cap; i++)
        if (r->t[i].name && r->t[i].name != TOMB) free(r->t[i].name);
    free(r->t);
    pthread_mutex_destroy(&r->mu);
    free(r);
    s->registry = NULL;
}

static int local_register(za_system *sys, const char *name, za_ref ref);
static int cluster_register(za_system *sys, const char *name, za_ref ref);

static rent *find(struct za_registry *r, const char *name) {
    if (!r->cap) return NULL;
    size_t i = hash(name) & (r->cap - 1);
    for (size_t n = 0; n < r->cap; n++, i = (i + 1) & (r->cap - 1)) {
        if (!r->t[i].name) return NULL;
        if (r->t[i].name != TOMB && strcmp(r->t[i].name, name) == 0) return &r->t[i];
    }
    return NULL;
}

static int rehash(struct za_registry *r, size_t ncap) {
    rent *nt = calloc(ncap, sizeof *nt);
    if (!nt) return ZA_ENOMEM;
    size_t used = 0;
    for (size_t i = 0; i < r->cap; i++) {
        char *n = r->t[i].name;
        if (!n || n == TOMB) continue;
        size_t j = hash(n) & (ncap - 1);
        while (nt[j].name) j = (j + 1) & (ncap - 1);
        nt[j] = r->t[i];
        used++;
    }
    free(r->t);
    r->t = nt;
    r->cap = ncap;
    r->used = used;
    return ZA_OK;
}

int za__name_check(const char *name) {
    if (!name) return za__fail(ZA_EINVAL, "name is NULL");
    size_t n = strnlen(name, ZA_NAME_MAX + 1);
    if (n == 0 || n > ZA_NAME_MAX)
        return za__fail(ZA_EINVAL, "name must be 1..%d bytes", ZA_NAME_MAX);
    return ZA_OK;
}

int za_register(za_system *sys, const char *name, za_ref ref) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    if (za__name_check(name)) return ZA_EINVAL;
    if (sys->cluster) return cluster_register(sys, name, ref);
    return local_register(sys, name, ref);
}

/* A registered ref still names something: a live actor, or a grain (a
 * grain always exists; its activations come and go). */
static bool names_something(za_system *sys, za_ref ref) {
    return za_ref_is_grain(ref) || za_is_alive(sys, ref);
}

static int local_register(za_system *sys, const char *name, za_ref ref) {
    struct za_registry *r = sys->registry;
    pthread_mutex_lock(&r->mu);
    rent *e = find(r, name);
    if (e) {
        if (names_something(sys, e->ref)) {
            pthread_mutex_unlock(&r->mu);
            return za__fail(ZA_EEXIST, "name '%s' is already registered", name);
        }
        e->ref = ref; /* the previous owner died without unregistering yet */
        pthread_mutex_unlock(&r->mu);
        return ZA_OK;
    }
    if ((r->used + 1) * 4 >= r->cap * 3 && rehash(r, r->cap ? r->cap * 2 : 16) != ZA_OK) {
        pthread_mutex_unlock(&r->mu);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    char *copy = strdup(name);
    if (!copy) {
        pthread_mutex_unlock(&r->mu);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    size_t i = hash(name) & (r->cap - 1);
    while (r->t[i].name && r->t[i].name != TOMB) i = (i + 1) & (r->cap - 1);
    if (!r->t[i].name) r->used++;
    r->t[i].name = copy;
    r->t[i].ref = ref;
    pthread_mutex_unlock(&r->mu);
    return ZA_OK;
}

static int drop(struct za_registry *r, const char *name, za_ref ref, bool any) {
    pthread_mutex_lock(&r->mu);
    rent *e = find(r, name);
    int rc = ZA_ENOTFOUND;
    if (e && (any || e->ref == ref)) {
        free(e->name);
        e->name = TOMB;
        rc = ZA_OK;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* In a cluster a name is unique cluster-wide: taken in Redis first (unless
 * a live local actor holds it), then locally. */
static int cluster_register(za_system *sys, const char *name, za_ref ref) {
    za_ref cur;
    struct za_registry *r = sys->registry;
    pthread_mutex_lock(&r->mu);
    rent *e = find(r, name);
    cur = e ? e->ref : ZA_REF_NONE;
    pthread_mutex_unlock(&r->mu);
    if (cur && names_something(sys, cur))
        return za__fail(ZA_EEXIST, "name '%s' is already registered", name);
    int rc = za__cluster_name_put(sys, name, ref);
    if (rc != ZA_OK) return rc;
    rc = local_register(sys, name, ref);
    if (rc != ZA_OK) za__cluster_name_drop(sys, name, ref);
    return rc;
}

int za_unregister(za_system *sys, const char *name) {
    if (!sys || !name) return za__fail(ZA_EINVAL, "system or name is NULL");
    za_ref held = ZA_REF_NONE;
    if (sys->cluster) za_lookup(sys, name, &held);
    int rc = drop(sys->registry, name, 0, true);
    if (rc == ZA_OK && held && sys->cluster) za__cluster_name_drop(sys, name, held);
    if (rc) za__fail(rc, "name '%s' is not registered", name);
    return rc;
}

void za__registry_drop(za_system *s, const char *name, za_ref ref) {
    if (drop(s->registry, name, ref, false) == ZA_OK && s->cluster)
        za__cluster_name_drop(s, name, ref);
}

int za_lookup(za_system *sys, const char *name, za_ref *out) {
    if (!sys || !name || !out) return za__fail(ZA_EINVAL, "system, name or out is NULL");
    struct za_registry *r = sys->registry;
    pthread_mutex_lock(&r->mu);
    rent *e = find(r, name);
    za_ref ref = e ? e->ref : ZA_REF_NONE;
    pthread_mutex_unlock(&r->mu);
    if (!ref || !names_something(sys, ref)) {
        *out = ZA_REF_NONE;
        if (sys->cluster) return za__cluster_name_get(sys, name, out);
        return za__fail(ZA_ENOTFOUND, "no actor named '%s'", name);
    }
    *out = ref;
    return ZA_OK;
}

void za__registry_each(za_system *s, void (*fn)(const char *name, za_ref ref, void *ud), void *ud) {
    struct za_registry *r = s->registry;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->cap; i++)
        if (r->t[i].name && r->t[i].name != TOMB) fn(r->t[i].name, r->t[i].ref, ud);
    pthread_mutex_unlock(&r->mu);
}
