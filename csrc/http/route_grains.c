/*
 * GET /grains: this node's grain activations (csrc/grain, za_grain_list),
 * paged and filtered like /actors: ?type= (exact), ?key= (substring),
 * ?offset=, ?limit= (default 100, at most 1000). Sorted by type, then key,
 * so pages are stable while the set does not change. "by_type" counts every
 * activation (before paging), for the dashboard and for alerts.
 */
#include <stdio.h>
#include <stdlib.h>

#include "http/http.h"
#include "http/json.h"

typedef struct grow {
    char *type, *key;
    za_grain_info g;
} grow;

typedef struct glist {
    grow *v;
    size_t n, cap;
    bool oom;
    const char *type, *key; /* filters (NULL/empty: none) */
} glist;

static int collect(const za_grain_info *g, void *ud) {
    glist *l = ud;
    if (l->type && l->type[0] && strcmp(g->type, l->type) != 0) return 0;
    if (l->key && l->key[0] && !strstr(g->key, l->key)) return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        grow *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            l->oom = true;
            return 1;
        }
        l->v = nv;
        l->cap = nc;
    }
    grow *r = &l->v[l->n];
    r->g = *g;
    r->type = strdup(g->type);
    r->key = strdup(g->key);
    if (!r->type || !r->key) {
        free(r->type);
        free(r->key);
        l->oom = true;
        return 1;
    }
    l->n++;
    return 0;
}

static int by_identity(const void *a, const void *b) {
    const grow *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    return c ? c : strcmp(x->key, y->key);
}

static bool count_arg(const char *s, uint64_t def, uint64_t max, uint64_t *out) {
    if (!s || !*s) {
        *out = def;
        return true;
    }
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > UINT32_MAX) return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v > max ? max : v;
    return true;
}

static const char *status_name(za_grain_status st) {
    switch (st) {
    case ZA_GRAIN_ACTIVATING:
        return "activating";
    case ZA_GRAIN_ACTIVE:
        return "active";
    case ZA_GRAIN_DEACTIVATING:
        return "deactivating";
    }
    return "?";
}

static void put_ref(za_jw *w, const char *k, za_ref r) {
    za__jw_key(w, k);
    if (!r) {
        za__jw_null(w);
        return;
    }
    char t[32];
    snprintf(t, sizeof t, "%u.%u", za_ref_slot(r), za_ref_gen(r));
    za__jw_str(w, t);
}

int za__http_grains(za_system *s, const za_http_query *q, char **body, size_t *len) {
    uint64_t offset, limit;
    if (!count_arg(q->offset, 0, UINT32_MAX, &offset)) {
        *body = za__http_error_body("bad request", "offset must be a non-negative integer", len);
        return 400;
    }
    if (!count_arg(q->limit, 100, 1000, &limit)) {
        *body = za__http_error_body("bad request", "limit must be a non-negative integer", len);
        return 400;
    }
    glist l = {.type = q->type, .key = q->key};
    size_t visited = 0;
    int rc = za_grain_list(s, collect, &l, &visited);
    if (rc != ZA_OK || l.oom) {
        for (size_t i = 0; i < l.n; i++) free(l.v[i].type), free(l.v[i].key);
        free(l.v);
        *body = za__http_error_body(l.oom ? "out of memory" : "cannot list the grains",
                                    l.oom ? NULL : za_last_error(), len);
        return 500;
    }
    if (l.n > 1) qsort(l.v, l.n, sizeof *l.v, by_identity);
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "total");
    za__jw_u64(&w, l.n);
    za__jw_key(&w, "offset");
    za__jw_u64(&w, offset);
    za__jw_key(&w, "by_type");
    za__jw_obj(&w);
    for (size_t i = 0; i < l.n;) { /* sorted: each type is one run */
        size_t j = i;
        while (j < l.n && strcmp(l.v[j].type, l.v[i].type) == 0) j++;
        za__jw_key(&w, l.v[i].type);
        za__jw_u64(&w, j - i);
        i = j;
    }
    za__jw_obj_end(&w);
    za__jw_key(&w, "grains");
    za__jw_arr(&w);
    for (size_t i = (size_t)offset; i < l.n && i - (size_t)offset < (size_t)limit; i++) {
        const grow *r = &l.v[i];
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)r->g.grain);
        za__jw_obj(&w);
        za__jw_key(&w, "type");
        za__jw_str(&w, r->type);
        za__jw_key(&w, "key");
        za__jw_str(&w, r->key);
        za__jw_key(&w, "id");
        za__jw_str(&w, id);
        put_ref(&w, "activation", r->g.activation);
        za__jw_key(&w, "status");
        za__jw_str(&w, status_name(r->g.status));
        za__jw_key(&w, "since_ms");
        za__jw_u64(&w, r->g.since_us / 1000);
        za__jw_key(&w, "idle_ms");
        za__jw_u64(&w, r->g.idle_us / 1000);
        za__jw_key(&w, "messages");
        za__jw_u64(&w, r->g.messages);
        za__jw_key(&w, "version");
        za__jw_u64(&w, r->g.version);
        za__jw_obj_end(&w);
    }
    za__jw_arr_end(&w);
    za__jw_obj_end(&w);
    for (size_t i = 0; i < l.n; i++) free(l.v[i].type), free(l.v[i].key);
    free(l.v);
    *body = za__jw_take(&w, len);
    return *body ? 200 : 500;
}
