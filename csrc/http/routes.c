/*
 * The JSON routes of the HTTP endpoint: /actors (paged, filtered),
 * /actors/<ref>, /tree, /deadletters, /status, /health/live and /health/ready. Each builds its
 * document from the introspection API (introspect.c), which reads the
 * running system without stopping it.
 *
 * A reference is written as "slot.generation" (what Python's and Lua's
 * reprs show) in "ref", and as the full 64-bit number in a decimal string
 * in "id" (JSON numbers lose precision above 2^53 in JavaScript).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/http.h"
#include "http/json.h"
#include "system.h"

#define ZA_HTTP_LIMIT_DEFAULT 100
#define ZA_HTTP_LIMIT_MAX 1000

char *za__http_error_body(const char *text, const char *detail, size_t *len) {
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "error");
    za__jw_str(&w, text);
    if (detail) {
        za__jw_key(&w, "detail");
        za__jw_str(&w, detail);
    }
    za__jw_obj_end(&w);
    return za__jw_take(&w, len);
}

static int error(int code, const char *text, const char *detail, char **body, size_t *len) {
    *body = za__http_error_body(text, detail, len);
    return code;
}

static int done(za_jw *w, char **body, size_t *len) {
    *body = za__jw_take(w, len);
    return 200;
}

static void put_ref(za_jw *w, const char *key, za_ref r) {
    char t[32];
    za__jw_key(w, key);
    if (!r) {
        za__jw_null(w);
        return;
    }
    snprintf(t, sizeof t, "%u.%u", za_ref_slot(r), za_ref_gen(r));
    za__jw_str(w, t);
}

static void put_actor_fields(za_jw *w, const za_actor_view *v) {
    char id[24];
    put_ref(w, "ref", v->ref);
    snprintf(id, sizeof id, "%llu", (unsigned long long)v->ref);
    za__jw_key(w, "id");
    za__jw_str(w, id);
    za__jw_key(w, "name");
    if (v->name[0])
        za__jw_str(w, v->name);
    else
        za__jw_null(w);
    za__jw_key(w, "behaviour");
    za__jw_str(w, v->behaviour);
    za__jw_key(w, "language");
    za__jw_str(w, v->language);
    put_ref(w, "parent", v->parent);
    za__jw_key(w, "mailbox_depth");
    za__jw_u64(w, v->mailbox_depth);
    za__jw_key(w, "restarts");
    za__jw_u64(w, v->restarts);
    za__jw_key(w, "processed");
    za__jw_u64(w, v->processed);
    za__jw_key(w, "state");
    za__jw_str(w, za_actor_state_name((int)v->state));
}

/* A non-negative decimal query value no larger than max; def if absent. */
static bool parse_count(const char *s, uint64_t def, uint64_t max, uint64_t *out) {
    if (!s) {
        *out = def;
        return true;
    }
    if (!*s || *s == '-' || *s == '+' || *s == ' ') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v > max ? max : v;
    return true;
}

/* All live actors, in slot order. */
typedef struct views {
    za_actor_view *v;
    size_t n, cap;
    bool oom;
} views;

static int collect(const za_actor_view *v, void *ud) {
    views *vs = ud;
    if (vs->n == vs->cap) {
        size_t nc = vs->cap ? vs->cap * 2 : 64;
        za_actor_view *nv = realloc(vs->v, nc * sizeof *nv);
        if (!nv) {
            vs->oom = true;
            return 1;
        }
        vs->v = nv;
        vs->cap = nc;
    }
    vs->v[vs->n++] = *v;
    return 0;
}

static bool gather(za_system *s, views *vs) {
    memset(vs, 0, sizeof *vs);
    int rc = za_actors_visit(s, collect, vs);
    return rc >= 0 && !vs->oom;
}

static bool matches(const za_actor_view *v, const za_http_query *q) {
    if (q->name && q->name[0] && !strstr(v->name, q->name)) return false;
    if (q->behaviour && q->behaviour[0] && strcmp(v->behaviour, q->behaviour) != 0) return false;
    if (q->language && q->language[0] && strcmp(v->language, q->language) != 0) return false;
    return true;
}

int za__http_actors(za_system *s, const za_http_query *q, char **body, size_t *len) {
    uint64_t offset, limit;
    if (!parse_count(q->offset, 0, UINT32_MAX, &offset))
        return error(400, "bad request", "offset must be a non-negative integer", body, len);
    if (!parse_count(q->limit, ZA_HTTP_LIMIT_DEFAULT, ZA_HTTP_LIMIT_MAX, &limit))
        return error(400, "bad request", "limit must be a non-negative integer", body, len);
    views vs;
    if (!gather(s, &vs)) {
        free(vs.v);
        return error(500, "out of memory", NULL, body, len);
    }
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "actors");
    za__jw_arr(&w);
    uint64_t total = 0;
    for (size_t i = 0; i < vs.n; i++) {
        if (!matches(&vs.v[i], q)) continue;
        if (total >= offset && total < offset + limit) {
            za__jw_obj(&w);
            put_actor_fields(&w, &vs.v[i]);
            za__jw_obj_end(&w);
        }
        total++;
    }
    za__jw_arr_end(&w);
    za__jw_key(&w, "total");
    za__jw_u64(&w, total);
    za__jw_key(&w, "offset");
    za__jw_u64(&w, offset);
    za__jw_key(&w, "limit");
    za__jw_u64(&w, limit);
    za__jw_obj_end(&w);
    free(vs.v);
    return done(&w, body, len);
}

/* "slot.gen" or the decimal 64-bit id. */
static bool parse_ref(const char *t, za_ref *out) {
    char *end;
    if (!*t || *t == '-' || *t == '+' || *t == ' ') return false;
    errno = 0;
    unsigned long long a = strtoull(t, &end, 10);
    if (errno || end == t) return false;
    if (*end == '\0') {
        *out = (za_ref)a;
        return true;
    }
    if (*end != '.' || a > 0x0fffffffull) return false;
    const char *g = end + 1;
    if (!*g || *g == '-' || *g == '+' || *g == ' ') return false;
    unsigned long long b = strtoull(g, &end, 10);
    if (errno || *end || b > 0xffffffull) return false;
    *out = za_ref_make(0, b, a); /* the node is the system's (za__http_actor) */
    return true;
}

int za__http_actor(za_system *s, const char *ref_text, char **body, size_t *len) {
    za_ref r;
    if (!parse_ref(ref_text, &r))
        return error(400, "bad request", "a reference is slot.generation, e.g. /actors/12.1", body,
                     len);
    if (!za_ref_node(r)) r |= za_ref_make(za_system_node(s), 0, 0); /* "slot.gen": this node's */
    za_actor_view v;
    if (za_actor_view_get(s, r, &v) != ZA_OK)
        return error(404, "no such actor", ref_text, body, len);
    views vs;
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    put_actor_fields(&w, &v);
    /* its children, from the same walk /tree uses */
    za__jw_key(&w, "children");
    za__jw_arr(&w);
    if (gather(s, &vs))
        for (size_t i = 0; i < vs.n; i++)
            if (vs.v[i].parent == r) {
                char t[32];
                snprintf(t, sizeof t, "%u.%u", za_ref_slot(vs.v[i].ref), za_ref_gen(vs.v[i].ref));
                za__jw_str(&w, t);
            }
    free(vs.v);
    za__jw_arr_end(&w);
    za__jw_obj_end(&w);
    return done(&w, body, len);
}

/* The tree is rebuilt from each actor's parent link: an actor whose parent
 * is not in the walk (top-level, or the parent died between two reads) is
 * a root. Children are found by sorting on parent; the nesting is written
 * with an explicit stack, so a deep chain cannot exhaust this thread's
 * stack (JSON nesting is capped: deeper levels are flattened). */
static int cmp_parent(const void *a, const void *b) {
    const za_actor_view *x = a, *y = b;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

static size_t first_child(const views *vs, za_ref parent) {
    size_t lo = 0, hi = vs->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (vs->v[mid].parent < parent)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool present(const views *vs, za_ref r) {
    if (!r) return false;
    for (size_t i = 0; i < vs->n; i++) /* slot order is lost after the sort: linear */
        if (vs->v[i].ref == r) return true;
    return false;
}

#define ZA_TREE_DEPTH 24

static void write_subtree(za_jw *w, const views *vs, size_t root) {
    struct {
        size_t node, next; /* next: index of the next child to write */
    } st[ZA_TREE_DEPTH];
    int top = 0;
    za__jw_obj(w);
    put_actor_fields(w, &vs->v[root]);
    za__jw_key(w, "children");
    za__jw_arr(w);
    st[0].node = root;
    st[0].next = first_child(vs, vs->v[root].ref);
    while (top >= 0) {
        size_t i = st[top].next;
        za_ref p = vs->v[st[top].node].ref;
        if (i >= vs->n || vs->v[i].parent != p) { /* no more children */
            za__jw_arr_end(w);
            za__jw_obj_end(w);
            top--;
            continue;
        }
        st[top].next = i + 1;
        za__jw_obj(w);
        put_actor_fields(w, &vs->v[i]);
        za__jw_key(w, "children");
        za__jw_arr(w);
        if (top + 1 < ZA_TREE_DEPTH) {
            top++;
            st[top].node = i;
            st[top].next = first_child(vs, vs->v[i].ref);
        } else { /* too deep to nest further: close it with its children listed as refs */
            size_t c = first_child(vs, vs->v[i].ref);
            for (; c < vs->n && vs->v[c].parent == vs->v[i].ref; c++) {
                char t[32];
                snprintf(t, sizeof t, "%u.%u", za_ref_slot(vs->v[c].ref), za_ref_gen(vs->v[c].ref));
                za__jw_str(w, t);
            }
            za__jw_arr_end(w);
            za__jw_obj_end(w);
        }
    }
}

int za__http_tree(za_system *s, char **body, size_t *len) {
    views vs;
    if (!gather(s, &vs)) {
        free(vs.v);
        return error(500, "out of memory", NULL, body, len);
    }
    /* which actors are roots: decided before the sort, against the set */
    bool *root = calloc(vs.n ? vs.n : 1, sizeof *root);
    if (!root) {
        free(vs.v);
        return error(500, "out of memory", NULL, body, len);
    }
    /* mark a root by setting its parent to 0 (sorted first) */
    for (size_t i = 0; i < vs.n; i++) root[i] = !present(&vs, vs.v[i].parent);
    for (size_t i = 0; i < vs.n; i++)
        if (root[i]) vs.v[i].parent = ZA_REF_NONE;
    free(root);
    if (vs.n > 1) qsort(vs.v, vs.n, sizeof *vs.v, cmp_parent);
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "actors");
    za__jw_u64(&w, vs.n);
    za__jw_key(&w, "roots");
    za__jw_arr(&w);
    for (size_t i = 0; i < vs.n && vs.v[i].parent == ZA_REF_NONE; i++) write_subtree(&w, &vs, i);
    za__jw_arr_end(&w);
    za__jw_obj_end(&w);
    free(vs.v);
    return done(&w, body, len);
}

int za__http_deadletters(za_system *s, const za_http_query *q, char **body, size_t *len) {
    uint64_t limit;
    if (!parse_count(q->limit, 65536, 65536, &limit))
        return error(400, "bad request", "limit must be a non-negative integer", body, len);
    size_t cap = s->cfg.dead_letter_keep ? s->cfg.dead_letter_keep : 100;
    if (cap > 65536) cap = 65536;
    za_dl_record *recs = malloc(cap * sizeof *recs);
    if (!recs) return error(500, "out of memory", NULL, body, len);
    uint64_t total = 0;
    int n = za_dead_letters_recent(s, recs, cap, &total);
    if (n < 0) n = 0;
    size_t from = (size_t)n > limit ? (size_t)n - (size_t)limit : 0;
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "total");
    za__jw_u64(&w, total);
    za__jw_key(&w, "kept");
    za__jw_u64(&w, cap);
    za__jw_key(&w, "deadletters");
    za__jw_arr(&w);
    for (size_t i = from; i < (size_t)n; i++) {
        const za_dl_record *r = &recs[i];
        za__jw_obj(&w);
        za__jw_key(&w, "seq");
        za__jw_u64(&w, r->seq);
        za__jw_key(&w, "time_ms");
        za__jw_u64(&w, r->unix_ms);
        za__jw_key(&w, "reason");
        za__jw_str(&w, za_dl_reason_name((int)r->reason));
        put_ref(&w, "target", r->target);
        put_ref(&w, "sender", r->sender);
        za__jw_key(&w, "tag");
        za__jw_i64(&w, r->tag);
        za__jw_key(&w, "preview");
        za__jw_str(&w, r->preview);
        za__jw_obj_end(&w);
    }
    za__jw_arr_end(&w);
    za__jw_obj_end(&w);
    free(recs);
    return done(&w, body, len);
}

static void put_latency(za_jw *w, const char *key, const za_latency *l) {
    za__jw_key(w, key);
    za__jw_obj(w);
    za__jw_key(w, "count");
    za__jw_u64(w, l->count);
    za__jw_key(w, "p50_ns");
    za__jw_u64(w, l->p50_ns);
    za__jw_key(w, "p95_ns");
    za__jw_u64(w, l->p95_ns);
    za__jw_key(w, "p99_ns");
    za__jw_u64(w, l->p99_ns);
    za__jw_key(w, "max_ns");
    za__jw_u64(w, l->max_ns);
    za__jw_obj_end(w);
}

int za__http_status(za_system *s, char **body, size_t *len) {
    za_metrics m;
    if (za_metrics_read(s, &m) != ZA_OK) return error(500, "metrics unavailable", NULL, body, len);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "ready");
    const char *why = NULL;
    za__jw_bool(&w, za__http_ready(s, &why));
    za__jw_key(&w, "workers");
    za__jw_i64(&w, za_system_workers(s));
    za__jw_key(&w, "time_ms");
    za__jw_u64(&w, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
    char ver[32];
    snprintf(ver, sizeof ver, "%d.%d.%d", ZA_VERSION_MAJOR, ZA_VERSION_MINOR, ZA_VERSION_PATCH);
    za__jw_key(&w, "version");
    za__jw_str(&w, ver);
    za__jw_key(&w, "metrics");
    za__jw_obj(&w);
    struct {
        const char *k;
        uint64_t v;
    } rows[] = {{"sent", m.sent},
                {"delivered", m.delivered},
                {"dead_letters", m.dead_letters},
                {"restarts", m.restarts},
                {"failures", m.failures},
                {"spawned", m.spawned},
                {"stopped", m.stopped},
                {"actors_alive", m.actors_alive},
                {"timers_fired", m.timers_fired},
                {"reply_slots", m.reply_slots}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        za__jw_key(&w, rows[i].k);
        za__jw_u64(&w, rows[i].v);
    }
    put_latency(&w, "queue_latency", &m.queue_latency);
    put_latency(&w, "process_latency", &m.process_latency);
    za__jw_obj_end(&w);
    za__jw_obj_end(&w);
    return done(&w, body, len);
}

bool za__http_ready(za_system *s, const char **why) {
    if (!za_system_ready(s)) {
        *why = "the system is not running";
        return false;
    }
    return za__http_cluster_ready(s, why);
}

int za__http_health(za_system *s, bool ready, char **body, size_t *len) {
    /* live: this thread answers, so the process is not wedged; ready: the
     * workers run and the system is not shutting down, and in a cluster
     * this node is a member and reaches Redis */
    const char *why = NULL;
    bool ok = !ready || za__http_ready(s, &why);
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "status");
    za__jw_str(&w, ready ? (ok ? "ready" : "not ready") : "live");
    if (why) {
        za__jw_key(&w, "reason");
        za__jw_str(&w, why);
    }
    za__jw_obj_end(&w);
    *body = za__jw_take(&w, len);
    return ok ? 200 : 503;
}
