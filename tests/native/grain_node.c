/*
 * A cluster node serving a counter grain, for tests/python/test_grain_cluster.py:
 * a shared object the test's node processes load with cffi (its za_* calls
 * resolve to a libzactor loaded before it, RTLD_GLOBAL), so the test needs
 * no language binding of grains.
 *
 * Grain type "Counter": tag 1 increments and replies with the new count
 * once the state (a MessagePack int) is stored, so an acknowledged
 * increment is durable; tag 2 replies with the count. On ZA_TAG_DEACTIVATE
 * it saves (always) before it stops. Saves refused as fenced are counted.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zactor.h>

enum { T_INC = 1, T_GET = 2, T_SAVED = 10, T_FINAL = 11 };
#define FIFO 256

typedef struct counter {
    int64_t n;
    uint32_t head, count; /* saves in flight, oldest first (they complete in order) */
    za_reply_slot *slot[FIFO];
    int64_t value[FIFO];
} counter;

static _Atomic long long n_fenced, n_conflict, n_moved, n_activations, n_deact;
static za_cluster *g_cluster;
static za_system *g_sys;

static int64_t decode_int(const void *data, size_t len) {
    za_doc *d;
    int64_t v = 0;
    if (len && za_doc_decode(data, len, &d) == ZA_OK) {
        if (za_doc_root(d)->type == ZA_V_INT) v = za_doc_root(d)->v.i;
        za_doc_free(d);
    }
    return v;
}

static int save(za_ctx *ctx, counter *c, int32_t tag) {
    za_pack *p = za_pack_new();
    if (!p) return ZA_ENOMEM;
    za_pack_int(p, c->n);
    uint64_t corr;
    int rc = za_ctx_grain_save(ctx, za_pack_data(p), za_pack_size(p), tag, &corr);
    za_pack_free(p);
    return rc;
}

static int start(za_ctx *ctx, const void *args, size_t len) {
    (void)args;
    (void)len;
    counter *c = za_ctx_state(ctx);
    const void *data = NULL;
    size_t n = 0;
    uint64_t version = 0;
    if (za_ctx_grain_state(ctx, &data, &n, &version) == ZA_OK) c->n = decode_int(data, n);
    if (getenv("GN_TRACE"))
        fprintf(stderr, "[node %u] activated at %lld (version %llu)\n",
                za_system_node(za_ctx_system(ctx)), (long long)c->n, (unsigned long long)version);
    atomic_fetch_add(&n_activations, 1);
    return 0;
}

static void count_failure(int status) {
    if (status == ZA_EFENCED) atomic_fetch_add(&n_fenced, 1);
    if (status == ZA_ECONFLICT) atomic_fetch_add(&n_conflict, 1);
}

static int receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    za_system *sys = za_ctx_system(ctx);
    if (m->tag == ZA_TAG_DEACTIVATE) {
        if (m->len >= 5 && memmem(m->data, m->len, "moved", 5)) atomic_fetch_add(&n_moved, 1);
        atomic_fetch_add(&n_deact, 1);
        if (save(ctx, c, T_FINAL) == ZA_OK) za_ctx_grain_defer(ctx); /* stop once stored */
        return 0;
    }
    if (m->tag == T_FINAL) {
        count_failure(m->status);
        za_ctx_stop(ctx);
        return 0;
    }
    if (m->tag == T_SAVED) {
        count_failure(m->status);
        if (!c->count) return 0;
        za_reply_slot *r = c->slot[c->head];
        int64_t v = c->value[c->head];
        c->head = (c->head + 1) % FIFO;
        c->count--;
        if (getenv("GN_TRACE"))
            fprintf(stderr, "[node %u] saved %lld status %d reply %p\n", za_system_node(sys),
                    (long long)v, m->status, (void *)r);
        if (r && m->status == ZA_OK)
            za_reply_send(sys, r, 0, &v, sizeof v);
        else if (r)
            za_reply_error(sys, r, m->status, m->status == ZA_EFENCED ? "fenced" : "save failed");
        return 0;
    }
    if (m->tag == T_GET) return za_reply(ctx, 0, &c->n, sizeof c->n);
    if (m->tag == T_INC) {
        int rc = c->count == FIFO ? ZA_EFULL : ZA_OK;
        if (rc == ZA_OK) {
            c->n++;
            rc = save(ctx, c, T_SAVED);
            if (rc != ZA_OK) c->n--;
        }
        za_reply_slot *r = za_ctx_take_reply(ctx); /* NULL for a tell */
        if (rc != ZA_OK) {
            if (r) za_reply_error(sys, r, rc, "cannot save");
            return 0;
        }
        uint32_t tail = (c->head + c->count) % FIFO;
        c->slot[tail] = r; /* every save completes: keep the FIFO aligned with them */
        c->value[tail] = c->n;
        c->count++;
    }
    return 0;
}

static void stop(za_ctx *ctx) {
    counter *c = za_ctx_state(ctx);
    for (; c->count; c->count--, c->head = (c->head + 1) % FIFO)
        if (c->slot[c->head])
            za_reply_error(za_ctx_system(ctx), c->slot[c->head], ZA_ESHUTDOWN,
                           "the activation ended before its save completed");
}

static const za_behaviour counter_beh = {
    ZA_BEHAVIOUR_INIT, .name = "grain-counter", .state_size = sizeof(counter),
    .start = start,    .receive = receive,      .stop = stop};

/* ------------------------------------------------------------- the node */

static void set_err(char *err, int cap, int rc) {
    if (err && cap > 0) snprintf(err, (size_t)cap, "%s: %s", za_strerror(rc), za_last_error());
}

int gn_start(const char *redis, const char *cluster, const char *name, const char *storage,
             unsigned suspect_ms, char *err, int errcap) {
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis;
    cc.name = cluster;
    cc.node_name = name;
    cc.suspect_ms = suspect_ms;
    cc.heartbeat_ms = suspect_ms ? suspect_ms / 6 : 0;
    cc.poll_ms = suspect_ms ? suspect_ms / 6 : 0;
    int rc = za_cluster_create(&cc, &g_cluster);
    if (rc != ZA_OK) {
        set_err(err, errcap, rc);
        return rc;
    }
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.cluster = g_cluster;
    cfg.storage = storage;
    rc = za_system_create(&cfg, &g_sys);
    za_cluster_destroy(g_cluster); /* the system holds it */
    if (rc != ZA_OK) {
        set_err(err, errcap, rc);
        return rc;
    }
    za_grain_class cls = {.type = "Counter", .behaviour = &counter_beh, .idle_ms = 600000};
    rc = za_grain_register(g_sys, &cls);
    if (rc != ZA_OK) {
        set_err(err, errcap, rc);
        return rc;
    }
    return (int)za_system_node(g_sys);
}

static int ask(const char *key, int32_t tag, long long *out, char *err, int errcap) {
    za_ref g;
    int rc = za_grain_ref(g_sys, "Counter", key, &g);
    if (rc != ZA_OK) {
        set_err(err, errcap, rc);
        return rc;
    }
    za_answer a;
    rc = za_ask(g_sys, g, tag, NULL, 0, 10000, &a);
    if (rc == ZA_OK && a.status == ZA_OK && a.len == sizeof(int64_t)) {
        int64_t v;
        memcpy(&v, a.data, sizeof v);
        *out = v;
    } else {
        if (rc == ZA_OK) rc = a.status != ZA_OK ? a.status : ZA_EVALUE;
        if (err && errcap > 0)
            snprintf(err, (size_t)errcap, "%s: %s", za_strerror(rc),
                     a.error ? a.error : za_last_error());
    }
    za_answer_free(&a);
    return rc;
}

int gn_inc(const char *key, long long *out, char *err, int errcap) {
    return ask(key, T_INC, out, err, errcap);
}

int gn_get(const char *key, long long *out, char *err, int errcap) {
    return ask(key, T_GET, out, err, errcap);
}

typedef struct listing {
    char *buf;
    size_t cap, used;
    int n;
} listing;

static int list_one(const za_grain_info *g, void *ud) {
    listing *l = ud;
    if (g->status != ZA_GRAIN_ACTIVE) return 0;
    l->n++;
    int w = snprintf(l->buf + l->used, l->cap - l->used, "%s%s", l->used ? "," : "", g->key);
    if (w > 0 && l->used + (size_t)w < l->cap) l->used += (size_t)w;
    return 0;
}

/* The grains active here: their number, keys comma-separated into buf. */
int gn_active(char *buf, int cap) {
    listing l = {buf, (size_t)cap, 0, 0};
    if (cap > 0) buf[0] = 0;
    size_t count = 0;
    za_grain_list(g_sys, list_one, &l, &count);
    return l.n;
}

void gn_stats(long long out[5]) {
    out[0] = atomic_load(&n_fenced);
    out[1] = atomic_load(&n_conflict);
    out[2] = atomic_load(&n_moved);
    out[3] = atomic_load(&n_activations);
    out[4] = atomic_load(&n_deact);
}

int gn_nodes(void) {
    size_t n = 0;
    za_cluster_nodes(za_system_cluster(g_sys), NULL, 0, &n);
    return (int)n;
}

void gn_stop(void) {
    if (g_sys) za_system_destroy(g_sys);
    g_sys = NULL;
}
