/*
 * Remote spawn: one node asks another to spawn an actor and gets its
 * reference back (za_cluster_spawn; Python spawn(..., node=), Lua
 * system:spawn(..., { node = })).
 *
 * The request is an ordinary remote ask, addressed to the receiving node's
 * spawn service: the reference (node, generation 0, slot 0), which no actor
 * ever has. Its payload is a MessagePack map {kind, what, args, name}. The
 * network thread of the receiving node checks it against the node's
 * allow-list at once (a refusal costs nothing but a reply) and queues what
 * passes to the spawn thread, started on the first request: loading a
 * shared object, compiling a Lua chunk or importing a Python module can
 * take milliseconds to seconds, which must neither hold up the links (the
 * network thread carries the heartbeats) nor a worker. The spawn thread
 * runs the kind's handler (a top-level spawn: no actor is the parent, so a
 * remote-spawned actor is supervised by the system like a spawn from the
 * main thread) and posts the reply: the reference (MessagePack ext, the
 * 8-byte form every reader takes) or the error code and text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"
#include "deadletter.h"
#include "envelope.h"
#include "msgnode.h"
#include "send.h"
#include "system.h"

#define RS_KINDS 8
#define RS_KIND_MAX 15
#define RS_WHAT_MAX 1024
#define RS_NAME_MAX 255
#define RS_TIMEOUT_MS 10000u
#define RS_START_MS 10000u /* a "c" spawn waits this long for start to run */

typedef struct rs_kind {
    char kind[RS_KIND_MAX + 1];
    za_spawn_handler_fn fn;
    void *ud;
} rs_kind;

typedef struct rs_beh {
    struct rs_beh *next;
    const za_behaviour *beh;
    char name[];
} rs_beh;

typedef struct rs_allow {
    struct rs_allow *next;
    char pattern[];
} rs_allow;

typedef struct rs_job {
    struct rs_job *next;
    uint32_t from;
    uint64_t corr;
    za_ref asker;
    char kind[RS_KIND_MAX + 1];
    char *what, *name; /* name: NULL for none */
    void *args;
    size_t len;
} rs_job;

struct za_rspawn {
    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;
    rs_kind kinds[RS_KINDS];
    int nkinds;
    rs_beh *behs;
    rs_allow *allow;
    rs_job *head, *tail;
    pthread_t thread;
    bool started, stop;
    int busy; /* handler calls in progress (removal waits for 0) */
};

static int c_handler(za_system *sys, const char *what, const void *args, size_t len,
                     const char *name, za_ref *out, char *err, size_t cap, void *ud);

int za__rspawn_init(za_cluster *c) {
    struct za_rspawn *rs = calloc(1, sizeof *rs);
    if (!rs) return ZA_ENOMEM;
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cv, NULL);
    snprintf(rs->kinds[0].kind, sizeof rs->kinds[0].kind, "c");
    rs->kinds[0].fn = c_handler;
    rs->kinds[0].ud = c;
    rs->nkinds = 1;
    c->rspawn = rs;
    return ZA_OK;
}

static void job_free(rs_job *j) {
    free(j->what);
    free(j->name);
    free(j->args);
    free(j);
}

void za__rspawn_stop(za_cluster *c) {
    struct za_rspawn *rs = c->rspawn;
    if (!rs) return;
    pthread_mutex_lock(&rs->mu);
    rs->stop = true;
    bool joined = rs->started;
    rs->started = false;
    pthread_cond_broadcast(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
    if (joined) pthread_join(rs->thread, NULL);
    /* requests still queued are not served: their askers time out or see
     * this node leave */
    pthread_mutex_lock(&rs->mu);
    rs_job *j = rs->head;
    rs->head = rs->tail = NULL;
    pthread_mutex_unlock(&rs->mu);
    while (j) {
        rs_job *n = j->next;
        job_free(j);
        j = n;
    }
}

void za__rspawn_free(za_cluster *c) {
    struct za_rspawn *rs = c->rspawn;
    if (!rs) return;
    za__rspawn_stop(c);
    for (rs_beh *b = rs->behs, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    for (rs_allow *a = rs->allow, *n; a; a = n) {
        n = a->next;
        free(a);
    }
    pthread_mutex_destroy(&rs->mu);
    pthread_cond_destroy(&rs->cv);
    free(rs);
    c->rspawn = NULL;
}

/* ---------------------------------------------------------- configuration */

static bool kind_ok(const char *kind) {
    size_t n = kind ? strlen(kind) : 0;
    if (n == 0 || n > RS_KIND_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || (kind[i] >= '0' && kind[i] <= '9')))
            return false;
    return true;
}

int za_cluster_spawn_handler(za_cluster *c, const char *kind, za_spawn_handler_fn fn, void *ud) {
    if (!c || !c->rspawn) return za__fail(ZA_EINVAL, "cluster is NULL");
    if (!kind_ok(kind))
        return za__fail(ZA_EINVAL, "spawn kind must be 1-%d characters a-z, 0-9", RS_KIND_MAX);
    if (strcmp(kind, "c") == 0) return za__fail(ZA_EINVAL, "spawn kind \"c\" is built in");
    struct za_rspawn *rs = c->rspawn;
    pthread_mutex_lock(&rs->mu);
    int i = 0;
    while (i < rs->nkinds && strcmp(rs->kinds[i].kind, kind) != 0) i++;
    if (!fn) {
        /* a handler's ud may go once this returns: wait out a call */
        while (rs->busy) pthread_cond_wait(&rs->cv, &rs->mu);
        if (i < rs->nkinds) rs->kinds[i] = rs->kinds[--rs->nkinds];
        pthread_mutex_unlock(&rs->mu);
        return ZA_OK;
    }
    if (i == rs->nkinds) {
        if (rs->nkinds == RS_KINDS) {
            pthread_mutex_unlock(&rs->mu);
            return za__fail(ZA_EINVAL, "too many spawn kinds (at most %d)", RS_KINDS);
        }
        rs->nkinds++;
        snprintf(rs->kinds[i].kind, sizeof rs->kinds[i].kind, "%s", kind);
    }
    rs->kinds[i].fn = fn;
    rs->kinds[i].ud = ud;
    pthread_mutex_unlock(&rs->mu);
    return ZA_OK;
}

int za_cluster_spawnable(za_cluster *c, const char *pattern) {
    if (!c || !c->rspawn || !pattern) return za__fail(ZA_EINVAL, "cluster or pattern is NULL");
    size_t n = strlen(pattern);
    if (n == 0 || n > RS_WHAT_MAX)
        return za__fail(ZA_EINVAL, "a spawnable pattern is 1-%d bytes", RS_WHAT_MAX);
    if (strcmp(pattern, "*") == 0 && !c->curve)
        return za__fail(ZA_EINVAL, "spawnable \"*\" (anything) needs a cluster secret: without "
                                   "one any process that reaches the port could run code here");
    rs_allow *a = malloc(sizeof *a + n + 1);
    if (!a) return za__fail(ZA_ENOMEM, "out of memory");
    memcpy(a->pattern, pattern, n + 1);
    struct za_rspawn *rs = c->rspawn;
    pthread_mutex_lock(&rs->mu);
    a->next = rs->allow;
    rs->allow = a;
    pthread_mutex_unlock(&rs->mu);
    return ZA_OK;
}

int za_cluster_spawn_behaviour(za_cluster *c, const char *name, const za_behaviour *beh) {
    if (!c || !c->rspawn || !name || !beh)
        return za__fail(ZA_EINVAL, "cluster, name or behaviour is NULL");
    size_t n = strlen(name);
    if (n == 0 || n > RS_WHAT_MAX || strchr(name, ':'))
        return za__fail(ZA_EINVAL, "a behaviour name is 1-%d bytes without ':'", RS_WHAT_MAX);
    if (beh->abi != ZA_BEHAVIOUR_ABI)
        return za__fail(ZA_EINVAL, "not a za_behaviour of this zactor (ZA_BEHAVIOUR_INIT)");
    rs_beh *b = malloc(sizeof *b + n + 1);
    if (!b) return za__fail(ZA_ENOMEM, "out of memory");
    memcpy(b->name, name, n + 1);
    b->beh = beh;
    struct za_rspawn *rs = c->rspawn;
    pthread_mutex_lock(&rs->mu);
    b->next = rs->behs;
    rs->behs = b;
    pthread_mutex_unlock(&rs->mu);
    return ZA_OK;
}

static const za_behaviour *find_beh(struct za_rspawn *rs, const char *name) {
    for (rs_beh *b = rs->behs; b; b = b->next)
        if (strcmp(b->name, name) == 0) return b->beh;
    return NULL;
}

static bool matches(const char *pattern, const char *what) {
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*') return strncmp(pattern, what, n - 1) == 0;
    return strcmp(pattern, what) == 0;
}

/* rs->mu held. The handler, or NULL with why set (refused). */
static rs_kind *allowed(za_cluster *c, const char *kind, const char *what, char *why, size_t cap) {
    struct za_rspawn *rs = c->rspawn;
    rs_kind *k = NULL;
    for (int i = 0; i < rs->nkinds; i++)
        if (strcmp(rs->kinds[i].kind, kind) == 0) k = &rs->kinds[i];
    if (!k) {
        snprintf(why, cap, "node %u (%s) cannot spawn %s actors (no handler for kind '%s')",
                 c->self.id, c->self.name, kind, kind);
        return NULL;
    }
    if (strcmp(kind, "c") == 0 && find_beh(rs, what)) return k;
    for (rs_allow *a = rs->allow; a; a = a->next)
        if (matches(a->pattern, what)) return k;
    snprintf(why, cap, "node %u (%s) does not allow spawning '%s' (not in its spawnable list)",
             c->self.id, c->self.name, what);
    return NULL;
}

/* ------------------------------------------------------ the built-in "c" */

static int c_handler(za_system *sys, const char *what, const void *args, size_t len,
                     const char *name, za_ref *out, char *err, size_t cap, void *ud) {
    za_cluster *c = ud;
    pthread_mutex_lock(&c->rspawn->mu);
    const za_behaviour *beh = find_beh(c->rspawn, what);
    pthread_mutex_unlock(&c->rspawn->mu);
    int rc;
    if (!beh) {
        const char *colon = strrchr(what, ':');
        if (!colon || colon == what || !colon[1]) {
            snprintf(err, cap,
                     "no behaviour '%s' here (a registered name, or path/to/lib.so:symbol)", what);
            return ZA_ENOTFOUND;
        }
        char path[RS_WHAT_MAX + 1];
        snprintf(path, sizeof path, "%.*s", (int)(colon - what), what);
        rc = za_behaviour_load(path, colon + 1, &beh);
        if (rc != ZA_OK) {
            snprintf(err, cap, "%s", za_last_error());
            return rc;
        }
    }
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = name;
    rc = za_spawn_sync(sys, beh, args, len, &o, RS_START_MS, out);
    if (rc != ZA_OK) snprintf(err, cap, "%s", za_last_error());
    return rc;
}

/* ------------------------------------------------------ the spawn thread */

static void reply(za_cluster *c, uint32_t to, uint64_t corr, za_ref asker, int status,
                  const void *data, size_t len) {
    za_env e = {.kind = ZA_ENV_REPLY,
                .target = asker,
                .sender = ZA__SPAWNER_REF(c->self.id),
                .corr = corr,
                .status = status,
                .data = data,
                .len = (uint32_t)len};
    za__remote_post(c, to, &e);
}

static void reply_error(za_cluster *c, uint32_t to, uint64_t corr, za_ref asker, int status,
                        const char *text) {
    reply(c, to, corr, asker, status, text, strlen(text));
}

static void reply_ref(za_cluster *c, uint32_t to, uint64_t corr, za_ref asker, za_ref r) {
    za_pack *p = za_pack_new(); /* unbound: the 8-byte form, read by every node */
    if (!p || za_pack_ref(p, r) != ZA_OK) {
        za_pack_free(p);
        reply_error(c, to, corr, asker, ZA_ENOMEM, "out of memory");
        return;
    }
    reply(c, to, corr, asker, ZA_OK, za_pack_data(p), za_pack_size(p));
    za_pack_free(p);
}

static void *spawn_main(void *arg) {
    za_cluster *c = arg;
    struct za_rspawn *rs = c->rspawn;
    pthread_mutex_lock(&rs->mu);
    for (;;) {
        while (!rs->stop && !rs->head) pthread_cond_wait(&rs->cv, &rs->mu);
        if (rs->stop) break;
        rs_job *j = rs->head;
        rs->head = j->next;
        if (!rs->head) rs->tail = NULL;
        char why[300];
        rs_kind *k = allowed(c, j->kind, j->what, why, sizeof why); /* (it may have changed) */
        za_spawn_handler_fn fn = k ? k->fn : NULL;
        void *ud = k ? k->ud : NULL;
        rs->busy++;
        pthread_mutex_unlock(&rs->mu);
        za_system *s = atomic_load_explicit(&c->sys, memory_order_acquire);
        if (!fn) {
            reply_error(c, j->from, j->corr, j->asker, ZA_EAUTH, why);
        } else if (!s) {
            reply_error(c, j->from, j->corr, j->asker, ZA_ESHUTDOWN, "the node is shutting down");
        } else {
            char err[512] = "";
            za_ref r = ZA_REF_NONE;
            int rc = fn(s, j->what, j->args, j->len, j->name, &r, err, sizeof err, ud);
            if (rc == ZA_OK && r)
                reply_ref(c, j->from, j->corr, j->asker, r);
            else
                reply_error(c, j->from, j->corr, j->asker, rc == ZA_OK ? ZA_EFAILED : rc,
                            err[0] ? err : za_strerror(rc == ZA_OK ? ZA_EFAILED : rc));
        }
        job_free(j);
        pthread_mutex_lock(&rs->mu);
        rs->busy--;
        pthread_cond_broadcast(&rs->cv);
    }
    pthread_mutex_unlock(&rs->mu);
    return NULL;
}

/* ------------------------------------------------------- the request */

static const za_value *field(const za_value *map, const char *key) {
    for (uint32_t i = 0; i < map->v.map.n; i++) {
        const za_value *k = &map->v.map.keys[i];
        if (k->type == ZA_V_STR && k->v.str.len == strlen(key) &&
            memcmp(k->v.str.ptr, key, k->v.str.len) == 0)
            return &map->v.map.vals[i];
    }
    return NULL;
}

static char *str_field(const za_value *map, const char *key, size_t max, bool *bad) {
    const za_value *v = field(map, key);
    if (!v || v->type == ZA_V_NIL) return NULL;
    if (v->type != ZA_V_STR || v->v.str.len == 0 || v->v.str.len > max ||
        memchr(v->v.str.ptr, 0, v->v.str.len)) {
        *bad = true;
        return NULL;
    }
    char *s = strndup(v->v.str.ptr, v->v.str.len);
    if (!s) *bad = true;
    return s;
}

void za__rspawn_request(za_cluster *c, uint32_t from, const za_env *e) {
    if (e->kind != ZA_ENV_ASK) { /* nothing else is addressed to the service */
        atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
        return;
    }
    za_doc *d = NULL;
    rs_job *j = calloc(1, sizeof *j);
    bool bad = !j || !e->len || za_doc_decode(e->data, e->len, &d) != ZA_OK;
    const za_value *root = d ? za_doc_root(d) : NULL;
    char *kind = NULL;
    if (!bad && root->type != ZA_V_MAP) bad = true;
    if (!bad) {
        kind = str_field(root, "kind", RS_KIND_MAX, &bad);
        j->what = str_field(root, "what", RS_WHAT_MAX, &bad);
        j->name = str_field(root, "name", RS_NAME_MAX, &bad);
        const za_value *a = field(root, "args");
        if (a && a->type == ZA_V_BIN && a->v.str.len) {
            j->args = malloc(a->v.str.len);
            if (j->args) memcpy(j->args, a->v.str.ptr, a->v.str.len);
            j->len = a->v.str.len;
            bad = bad || !j->args;
        } else if (a && a->type != ZA_V_NIL && a->type != ZA_V_BIN) {
            bad = true;
        }
        if (!kind || !kind_ok(kind) || !j->what) bad = true;
    }
    za_doc_free(d);
    if (bad) {
        if (j) job_free(j);
        free(kind);
        reply_error(c, from, e->corr, e->sender, ZA_EVALUE,
                    "malformed spawn request: expected {kind, what, args, name}");
        return;
    }
    snprintf(j->kind, sizeof j->kind, "%s", kind);
    free(kind);
    j->from = from;
    j->corr = e->corr;
    j->asker = e->sender;
    struct za_rspawn *rs = c->rspawn;
    char why[300];
    pthread_mutex_lock(&rs->mu);
    if (!allowed(c, j->kind, j->what, why, sizeof why)) {
        pthread_mutex_unlock(&rs->mu);
        reply_error(c, from, j->corr, j->asker, ZA_EAUTH, why);
        job_free(j);
        return;
    }
    if (rs->stop) {
        pthread_mutex_unlock(&rs->mu);
        reply_error(c, from, j->corr, j->asker, ZA_ESHUTDOWN, "the node is shutting down");
        job_free(j);
        return;
    }
    if (!rs->started) {
        if (pthread_create(&rs->thread, NULL, spawn_main, c) != 0) {
            pthread_mutex_unlock(&rs->mu);
            reply_error(c, from, j->corr, j->asker, ZA_ENOMEM, "cannot start the spawn thread");
            job_free(j);
            return;
        }
        rs->started = true;
    }
    if (rs->tail)
        rs->tail->next = j;
    else
        rs->head = j;
    rs->tail = j;
    pthread_cond_broadcast(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
}

/* ------------------------------------------------------- the asking side */

int za_cluster_node_id(za_cluster *c, const char *node, uint32_t *id) {
    if (!c || !node || !id) return za__fail(ZA_EINVAL, "cluster, node or id is NULL");
    za_node_info v[64];
    size_t n = 0;
    za_node_info *all = v;
    za_cluster_nodes(c, v, 64, &n);
    if (n > 64) {
        all = malloc((n + 16) * sizeof *all);
        if (!all) return za__fail(ZA_ENOMEM, "out of memory");
        za_cluster_nodes(c, all, n + 16, &n);
    }
    char *end = NULL;
    errno = 0;
    unsigned long want = strtoul(node, &end, 10);
    bool numeric = *node && *end == 0 && errno == 0;
    uint32_t found = 0;
    for (size_t i = 0; i < n && !found; i++)
        if (strcmp(all[i].name, node) == 0) found = all[i].id;
    for (size_t i = 0; i < n && !found && numeric; i++)
        if (all[i].id == want) found = all[i].id;
    if (all != v) free(all);
    if (!found)
        return za__fail(ZA_ENODEDOWN, "no live member named '%s' in cluster '%s'", node, c->name);
    *id = found;
    return ZA_OK;
}

int za_cluster_spawn(za_system *sys, const char *node, const char *kind, const char *what,
                     const void *args, size_t args_len, const char *name, uint32_t timeout_ms,
                     za_ref *out) {
    if (out) *out = ZA_REF_NONE;
    if (!sys || !node || !kind || !what || !out || (args_len && !args))
        return za__fail(ZA_EINVAL, "system, node, kind, what, args or out is NULL");
    za_cluster *c = sys->cluster;
    if (!c) return za__fail(ZA_ESTATE, "spawn on a node: this system is not in a cluster");
    if (!kind_ok(kind))
        return za__fail(ZA_EINVAL, "spawn kind must be 1-%d characters a-z, 0-9", RS_KIND_MAX);
    size_t wl = strlen(what);
    if (wl == 0 || wl > RS_WHAT_MAX)
        return za__fail(ZA_EINVAL, "what to spawn must be 1-%d bytes", RS_WHAT_MAX);
    if (name && (!*name || strlen(name) > RS_NAME_MAX))
        return za__fail(ZA_EINVAL, "an actor name is 1-%d bytes", RS_NAME_MAX);
    uint32_t id;
    int rc = za_cluster_node_id(c, node, &id);
    if (rc != ZA_OK) return rc;
    if (!timeout_ms) timeout_ms = RS_TIMEOUT_MS;
    if (id == c->self.id) {
        /* our own node: our own decision, no allow-list */
        struct za_rspawn *rs = c->rspawn;
        pthread_mutex_lock(&rs->mu);
        rs_kind *k = NULL;
        for (int i = 0; i < rs->nkinds; i++)
            if (strcmp(rs->kinds[i].kind, kind) == 0) k = &rs->kinds[i];
        za_spawn_handler_fn fn = k ? k->fn : NULL;
        void *ud = k ? k->ud : NULL;
        if (fn) rs->busy++;
        pthread_mutex_unlock(&rs->mu);
        if (!fn) return za__fail(ZA_EAUTH, "this node cannot spawn %s actors", kind);
        char err[512] = "";
        rc = fn(sys, what, args, args_len, name, out, err, sizeof err, ud);
        pthread_mutex_lock(&rs->mu);
        rs->busy--;
        pthread_cond_broadcast(&rs->cv);
        pthread_mutex_unlock(&rs->mu);
        if (rc != ZA_OK) return za__fail(rc, "spawn '%s' on node %s: %s", what, node, err);
        return ZA_OK;
    }
    za_pack *p = za_pack_new();
    if (!p) return za__fail(ZA_ENOMEM, "out of memory");
    rc = za_pack_map(p, 4);
    if (rc == ZA_OK) rc = za_pack_str(p, "kind", 4);
    if (rc == ZA_OK) rc = za_pack_str(p, kind, strlen(kind));
    if (rc == ZA_OK) rc = za_pack_str(p, "what", 4);
    if (rc == ZA_OK) rc = za_pack_str(p, what, wl);
    if (rc == ZA_OK) rc = za_pack_str(p, "args", 4);
    if (rc == ZA_OK) rc = args_len ? za_pack_bin(p, args, args_len) : za_pack_nil(p);
    if (rc == ZA_OK) rc = za_pack_str(p, "name", 4);
    if (rc == ZA_OK) rc = name ? za_pack_str(p, name, strlen(name)) : za_pack_nil(p);
    if (rc != ZA_OK) {
        za_pack_free(p);
        return rc;
    }
    za_answer a;
    rc = za_ask(sys, ZA__SPAWNER_REF(id), 0, za_pack_data(p), za_pack_size(p), timeout_ms, &a);
    za_pack_free(p);
    if (rc != ZA_OK) {
        char text[600];
        snprintf(text, sizeof text, "%s", a.error ? a.error : za_last_error());
        za_answer_free(&a);
        if (rc == ZA_ETIMEDOUT)
            return za__fail(rc, "spawn '%s' on node %s: no answer within %u ms", what, node,
                            timeout_ms);
        return za__fail(rc, "spawn '%s' on node %s: %s", what, node, text);
    }
    za_doc *d = NULL;
    rc = za_doc_decode(a.data, a.len, &d);
    if (rc == ZA_OK && za_doc_root(d)->type == ZA_V_REF && za_ref_node(za_doc_root(d)->v.ref) == id)
        *out = za_doc_root(d)->v.ref;
    else
        rc =
            za__fail(ZA_EVALUE, "spawn '%s' on node %s: the answer is not a reference", what, node);
    za_doc_free(d);
    za_answer_free(&a);
    return rc;
}
