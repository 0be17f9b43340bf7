/*
 * grains.c - the grain runtime's lifetime and its public entry points that
 * are not about one activation: za__grains_init / shutdown / free,
 * za_grain_register / ref / identity / list, za_system_store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grain/directory.h"
#include "grain/grain.h"
#include "system.h"
#include "utf8.h"

/* ------------------------------------------------------------- lifetime */

int za__grains_init(za_system *s) {
    za_grains *g = calloc(1, sizeof *g);
    if (!g) return za__fail(ZA_ENOMEM, "out of memory");
    pthread_mutex_init(&g->cls_mu, NULL);
    pthread_mutex_init(&g->sw_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the sweep's timed waits */
    pthread_cond_init(&g->sw_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (uint32_t i = 0; i < ZA_GSHARDS; i++) pthread_mutex_init(&g->shards[i].mu, NULL);
    atomic_init(&g->min_idle_ms, 600000u);
    /* 12 bits of the system's identity: a grain ref of another system (or
     * another process) is refused instead of naming an unrelated grain */
    uint64_t id = za_system_id(s);
    g->salt = (uint32_t)((id ^ (id >> 12) ^ (id >> 24) ^ (id >> 36) ^ (id >> 48)) & 0xfffu);
    s->grains = g;
    int rc = za__gid_init(g);
    if (rc != ZA_OK) return za__fail(ZA_ENOMEM, "out of memory");
    const char *url = s->cfg.storage ? s->cfg.storage : "memory://";
    rc = za_store_open(url, NULL, &g->store);
    if (rc != ZA_OK) return rc; /* za_store_open said why */
    return za__reminders_start(s);
}

/* Deactivate every activation and wait (bounded) until they ended, so the
 * saves of their on_deactivate land before the system stops. */
void za__grains_shutdown(za_system *s, uint32_t timeout_ms) {
    za_grains *g = s->grains;
    if (!g) return;
    za__reminders_stop(s); /* no firing activates a grain from here on */
    za__gidle_stop(s);
    for (uint32_t i = 0; i < ZA_GSHARDS; i++) {
        za_gshard *sh = &g->shards[i];
        pthread_mutex_lock(&sh->mu);
        /* under every shard lock in turn: a route that got the lock before
         * saw closing false and finished; every later one sees it */
        atomic_store_explicit(&g->closing, true, memory_order_relaxed);
        for (za_gentry *e = sh->live; e; e = e->lnext) za__gdir_deactivate(s, e, "shutdown");
        pthread_mutex_unlock(&sh->mu);
    }
    uint64_t deadline = za__now_ns() + (uint64_t)timeout_ms * 1000000ull;
    /* acquire: pairs with the release decrement when an entry settles */
    while (atomic_load_explicit(&g->live, memory_order_acquire) > 0 && za__now_ns() < deadline) {
        if (s->manual) {
            za_system_run(s, 64);
        } else {
            struct timespec ts = {0, 500000};
            nanosleep(&ts, NULL);
        }
    }
}

static void free_entry(za_grains *g, za_gentry *e, void *ud) {
    za_system *s = ud;
    (void)g;
    za_msgnode *chain = e->held_head;
    e->held_head = e->held_tail = NULL;
    e->nheld = 0;
    if (chain) za__gdir_fail_chain(s, chain, ZA_ESHUTDOWN, "system shut down");
}

void za__grains_free(za_system *s) {
    za_grains *g = s->grains;
    if (!g) return;
    za__gidle_stop(s);
    atomic_store(&g->closing, true);
    /* completes every request already submitted; their callbacks may still
     * touch entries and (for spawns) find the system stopped */
    za__reminders_stop(s); /* (a failed create never ran the shutdown) its last write-back first */
    za_store_close(g->store);
    g->store = NULL;
    za__reminders_free(s);
    if (g->htab) za__gid_each(g, free_entry, s);
    za__gid_free(g);
    for (size_t i = 0; i < g->nclasses; i++) {
        free(g->classes[i]->type);
        free(g->classes[i]->args);
        free(g->classes[i]);
    }
    free(g->classes);
    for (uint32_t i = 0; i < ZA_GSHARDS; i++) pthread_mutex_destroy(&g->shards[i].mu);
    pthread_mutex_destroy(&g->cls_mu);
    pthread_mutex_destroy(&g->sw_mu);
    pthread_cond_destroy(&g->sw_cv);
    free(g);
    s->grains = NULL;
}

za_store *za_system_store(za_system *sys) {
    return sys && sys->grains ? sys->grains->store : NULL;
}

/* -------------------------------------------------------------- classes */

static int check_type(const char *type) {
    if (!type) return za__fail(ZA_EINVAL, "grain type is NULL");
    size_t n = strlen(type);
    if (n == 0 || n > ZA_GRAIN_TYPE_MAX)
        return za__fail(ZA_EINVAL, "grain type must be 1..%u bytes (got %zu)", ZA_GRAIN_TYPE_MAX,
                        n);
    if (!za__utf8_valid(type, n)) return za__fail(ZA_EINVAL, "grain type is not valid UTF-8");
    return ZA_OK;
}

static za_gclass *find_class(za_grains *g, const char *type) {
    for (size_t i = 0; i < g->nclasses; i++)
        if (strcmp(g->classes[i]->type, type) == 0) return g->classes[i];
    return NULL;
}

int za_grain_register(za_system *sys, const za_grain_class *cls) {
    if (!sys || !cls) return za__fail(ZA_EINVAL, "system or class is NULL");
    int rc = check_type(cls->type);
    if (rc) return rc;
    if (!cls->behaviour) return za__fail(ZA_EINVAL, "grain type '%s' has no behaviour", cls->type);
    if (cls->behaviour->abi != ZA_BEHAVIOUR_ABI || !cls->behaviour->receive)
        return za__fail(ZA_EINVAL,
                        "grain type '%s': the behaviour is not a za_behaviour of this zactor.h "
                        "(abi) or has no receive",
                        cls->type);
    if (cls->args_len && !cls->args)
        return za__fail(ZA_EINVAL, "args is NULL but args_len is %zu", cls->args_len);
    if (cls->args_len > sys->cfg.max_payload)
        return za__fail(ZA_ETOOBIG, "args of %zu bytes exceed max_payload", cls->args_len);
    za_grains *g = sys->grains;
    if (atomic_load(&g->closing)) return za__fail(ZA_ESHUTDOWN, "system is shutting down");
    uint32_t idle = cls->idle_ms ? cls->idle_ms : 600000u;
    pthread_mutex_lock(&g->cls_mu);
    za_gclass *old = find_class(g, cls->type);
    if (old) {
        bool same = old->beh == cls->behaviour && old->args_len == cls->args_len &&
                    (!cls->args_len || memcmp(old->args, cls->args, cls->args_len) == 0) &&
                    old->idle_ms == idle && old->journaled == (cls->journaled != 0) &&
                    old->snapshot_every == cls->snapshot_every && old->capacity == cls->capacity;
        pthread_mutex_unlock(&g->cls_mu);
        return same ? ZA_OK
                    : za__fail(ZA_EEXIST,
                               "grain type '%s' is already registered with another behaviour "
                               "or settings",
                               cls->type);
    }
    za_gclass *c = calloc(1, sizeof *c);
    if (c) {
        c->type = strdup(cls->type);
        c->type_len = strlen(cls->type);
        c->args = cls->args_len ? malloc(cls->args_len) : NULL;
    }
    if (g->nclasses == g->capclasses && c) {
        size_t ncap = g->capclasses ? g->capclasses * 2 : 8;
        za_gclass **nv = realloc(g->classes, ncap * sizeof *nv);
        if (nv) {
            g->classes = nv;
            g->capclasses = ncap;
        }
    }
    if (!c || !c->type || (cls->args_len && !c->args) || g->nclasses == g->capclasses) {
        pthread_mutex_unlock(&g->cls_mu);
        if (c) {
            free(c->type);
            free(c->args);
        }
        free(c);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    if (cls->args_len) memcpy(c->args, cls->args, cls->args_len);
    c->args_len = cls->args_len;
    c->beh = cls->behaviour;
    c->idle_ms = idle;
    c->journaled = cls->journaled != 0;
    c->snapshot_every = cls->snapshot_every;
    c->capacity = cls->capacity;
    g->classes[g->nclasses++] = c;
    if (idle < atomic_load_explicit(&g->min_idle_ms, memory_order_relaxed))
        atomic_store_explicit(&g->min_idle_ms, idle, memory_order_relaxed);
    pthread_mutex_unlock(&g->cls_mu);
    /* wake the sweep so a shorter idle_ms takes effect now */
    pthread_mutex_lock(&g->sw_mu);
    pthread_cond_broadcast(&g->sw_cv);
    pthread_mutex_unlock(&g->sw_mu);
    rc = za__gidle_start(sys);
    za__reminders_type_registered(sys, cls->type); /* its parked reminders may fire */
    return rc;
}

/* ----------------------------------------------------------- references */

int za_grain_ref(za_system *sys, const char *type, const char *key, za_ref *out) {
    if (out) *out = ZA_REF_NONE;
    if (!sys || !out) return za__fail(ZA_EINVAL, "system or out is NULL");
    int rc = check_type(type);
    if (rc) return rc;
    if (!key) return za__fail(ZA_EINVAL, "grain key is NULL");
    size_t n = strlen(key);
    if (n == 0 || n > ZA_GRAIN_KEY_MAX)
        return za__fail(ZA_EINVAL, "grain key must be 1..%u bytes (got %zu)", ZA_GRAIN_KEY_MAX, n);
    if (!za__utf8_valid(key, n)) return za__fail(ZA_EINVAL, "grain key is not valid UTF-8");
    za_grains *g = sys->grains;
    pthread_mutex_lock(&g->cls_mu);
    za_gclass *c = find_class(g, type);
    pthread_mutex_unlock(&g->cls_mu);
    if (!c) return za__fail(ZA_ENOTFOUND, "grain type '%s' is not registered", type);
    za_gentry *e;
    rc = za__gid_intern(g, c, key, n, &e);
    if (rc != ZA_OK) return rc;
    *out = e->ref;
    return ZA_OK;
}

int za_grain_identity(za_system *sys, za_ref grain, const char **type, const char **key) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    za_gentry *e = za__gid_lookup(sys->grains, grain);
    if (!e)
        return za__fail(ZA_EINVAL, "%#llx is not a grain reference of this system",
                        (unsigned long long)grain);
    if (type) *type = e->cls->type;
    if (key) *key = e->key;
    return ZA_OK;
}

/* ------------------------------------------------------------------ list */

typedef struct gview {
    za_grain_info info;
} gview;

int za_grain_list(za_system *sys, int (*fn)(const za_grain_info *g, void *ud), void *ud,
                  size_t *count) {
    if (count) *count = 0;
    if (!sys || !fn) return za__fail(ZA_EINVAL, "system or fn is NULL");
    za_grains *g = sys->grains;
    uint64_t now = za__gnow_ns();
    size_t visited = 0;
    gview *v = NULL;
    size_t cap = 0;
    for (uint32_t i = 0; i < ZA_GSHARDS; i++) {
        za_gshard *sh = &g->shards[i];
        size_t n = 0;
        pthread_mutex_lock(&sh->mu);
        if (sh->nlive > cap) {
            gview *nv = realloc(v, sh->nlive * sizeof *nv);
            if (!nv) {
                pthread_mutex_unlock(&sh->mu);
                free(v);
                return za__fail(ZA_ENOMEM, "out of memory");
            }
            v = nv;
            cap = sh->nlive;
        }
        for (za_gentry *e = sh->live; e && n < cap; e = e->lnext) {
            za_grain_info *in = &v[n++].info;
            in->type = e->cls->type; /* identities live as long as the system */
            in->key = e->key;
            in->grain = e->ref;
            in->activation = e->status == ZA_GRAIN_ACTIVATING ? ZA_REF_NONE : e->act;
            in->status = e->status == ZA_GS_NONE ? ZA_GRAIN_ACTIVATING : (za_grain_status)e->status;
            in->since_us = e->since_us;
            in->idle_us = now > e->last_ns ? (now - e->last_ns) / 1000u : 0;
            in->messages = e->messages;
            in->version = e->version;
        }
        pthread_mutex_unlock(&sh->mu);
        /* outside the lock: fn may send, ask, even list again */
        for (size_t j = 0; j < n; j++) {
            visited++;
            if (fn(&v[j].info, ud)) {
                free(v);
                if (count) *count = visited;
                return ZA_OK;
            }
        }
    }
    free(v);
    if (count) *count = visited;
    return ZA_OK;
}
