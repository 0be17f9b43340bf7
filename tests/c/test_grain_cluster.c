/*
 * Grains across cluster nodes inside one process (so the sanitizer builds
 * see every thread): two, then three members of one cluster, each a system
 * with its own cluster object, sharing a redis-server this program starts
 * (testservers.h) for membership, leases and state. A message sent on any
 * node reaches the grain's one activation, asks are answered across the
 * hop, a member that leaves hands its grains (with their state) to the
 * others, and a join moves only the grains the newcomer wins. Prints the
 * ask round trip to a grain whose home is the other node next to a local
 * one (figures, not checks). Every wait is bounded.
 */
#include "testutil.h"

#include "testservers.h"

#include "cluster/gplace.h" /* za__grain_hops */
#include "grain/placement.h"

/* libzmq is not built with ThreadSanitizer (see test_cluster.c) */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) {
    return "race_top:libzmq.so\ncalled_from_lib:libzmq.so\n";
}

static ts_redis redis;
static char store_url[200];

enum { T_INC = 1, T_GET = 2, T_REF = 3, T_RELAY = 4, T_SINK = 5, T_SAVED = 10, T_FINAL = 11 };
static _Atomic int moved_deactivations;

/* A counter grain: T_INC replies with the new count once it is stored. */
typedef struct counter {
    int64_t n;
    za_reply_slot *pending[64];
    int64_t value[64];
    uint32_t head, count;
} counter;

static int c_start(za_ctx *ctx, const void *args, size_t len) {
    (void)args;
    (void)len;
    counter *c = za_ctx_state(ctx);
    const void *d = NULL;
    size_t n = 0;
    uint64_t v = 0;
    za_ctx_grain_state(ctx, &d, &n, &v);
    za_doc *doc;
    if (n && za_doc_decode(d, n, &doc) == ZA_OK) {
        if (za_doc_root(doc)->type == ZA_V_INT) c->n = za_doc_root(doc)->v.i;
        za_doc_free(doc);
    }
    return 0;
}

/* the state is a MessagePack int (the value model every language reads) */
static int save(za_ctx *ctx, int64_t n, int32_t tag) {
    uint8_t b[9] = {0xd3};
    for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    uint64_t corr;
    return za_ctx_grain_save(ctx, b, sizeof b, tag, &corr);
}

static int c_receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    if (m->tag == ZA_TAG_DEACTIVATE) {
        if (m->len == 5 && !memcmp(m->data, "moved", 5)) atomic_fetch_add(&moved_deactivations, 1);
        if (save(ctx, c->n, T_FINAL) == ZA_OK) za_ctx_grain_defer(ctx);
        return 0;
    }
    if (m->tag == T_FINAL) return za_ctx_stop(ctx), 0;
    if (m->tag == T_SAVED && c->count) {
        za_reply_slot *r = c->pending[c->head];
        int64_t v = c->value[c->head];
        c->head = (c->head + 1) % 64;
        c->count--;
        if (m->status == ZA_OK)
            za_reply_send(za_ctx_system(ctx), r, 0, &v, sizeof v);
        else
            za_reply_error(za_ctx_system(ctx), r, m->status, "save failed");
        return 0;
    }
    if (m->tag == T_GET) return za_reply(ctx, 0, &c->n, sizeof c->n);
    if (m->tag == T_RELAY && m->len == sizeof(za_ref)) { /* tell the actor named in the payload */
        za_ref to;
        memcpy(&to, m->data, sizeof to);
        int rc = za_tell(za_ctx_system(ctx), to, T_SINK, "hi", 2);
        return za_reply(ctx, 0, &(int64_t){rc}, sizeof(int64_t));
    }
    if (m->tag == T_REF) { /* [ref] -> [key of the grain it names, the ref] */
        za_system *sys = za_ctx_system(ctx);
        za_doc *d;
        if (za_doc_decode_in(sys, m->data, m->len, &d) != ZA_OK)
            return za_reply_error(sys, za_ctx_take_reply(ctx), ZA_EVALUE, za_last_error());
        const za_value *v = za_doc_root(d);
        const char *type = "", *key = "";
        za_ref r = ZA_REF_NONE;
        if (v->type == ZA_V_ARRAY && v->v.array.n == 1 && v->v.array.items[0].type == ZA_V_REF) {
            r = v->v.array.items[0].v.ref;
            za_grain_identity(sys, r, &type, &key);
        }
        za_pack *p = za_pack_new();
        za_pack_array(p, 2);
        za_pack_str(p, key, strlen(key));
        za_pack_ref_in(p, sys, r);
        za_reply(ctx, 0, za_pack_data(p), za_pack_size(p));
        za_pack_free(p);
        za_doc_free(d);
        return 0;
    }
    if (m->tag == T_INC && za_ctx_can_reply(ctx) && c->count < 64) {
        c->n++;
        if (save(ctx, c->n, T_SAVED) != ZA_OK) {
            c->n--;
            return za_reply_error(za_ctx_system(ctx), za_ctx_take_reply(ctx), ZA_ESTORE, "save");
        }
        uint32_t t = (c->head + c->count) % 64;
        c->pending[t] = za_ctx_take_reply(ctx);
        c->value[t] = c->n;
        c->count++;
    }
    return 0;
}

static void c_stop(za_ctx *ctx) {
    counter *c = za_ctx_state(ctx);
    for (; c->count; c->count--, c->head = (c->head + 1) % 64)
        za_reply_error(za_ctx_system(ctx), c->pending[c->head], ZA_ESHUTDOWN, "ended");
}

static const za_behaviour counter_beh = {
    ZA_BEHAVIOUR_INIT, .name = "cluster-counter", .state_size = sizeof(counter),
    .start = c_start,  .receive = c_receive,      .stop = c_stop};

/* A plain actor: counts T_SINK tells, answers T_GET with the count. */
static int sink_receive(za_ctx *ctx, const za_msg *m) {
    int64_t *n = za_ctx_state(ctx);
    if (m->tag == T_SINK) ++*n;
    if (m->tag == T_GET) return za_reply(ctx, 0, n, sizeof *n);
    return 0;
}
static const za_behaviour sink_beh = {ZA_BEHAVIOUR_INIT, .name = "sink",
                                      .state_size = sizeof(int64_t), .receive = sink_receive};

/* A grain that takes its time to deactivate when moved: it defers and
 * stops only when told (za_stop on the activation); T_GET answers the
 * serving node. */
static _Atomic int slow_deacts;
static int slow_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == ZA_TAG_DEACTIVATE) {
        if (m->len != 5 || memcmp(m->data, "moved", 5)) return 0; /* shutdown: at once */
        atomic_fetch_add(&slow_deacts, 1);
        return za_ctx_grain_defer(ctx);
    }
    int64_t me = za_system_node(za_ctx_system(ctx));
    return za_ctx_can_reply(ctx) ? za_reply(ctx, 0, &me, sizeof me) : 0;
}
static const za_behaviour slow_beh = {ZA_BEHAVIOUR_INIT, .name = "slow", .receive = slow_receive};

typedef struct node {
    za_cluster *cl;
    za_system *sys;
} node;

static node up(const char *name) {
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis.url;
    cc.name = "grains";
    cc.node_name = name;
    node n = {0};
    if (za_cluster_create(&cc, &n.cl) != ZA_OK) fail_msg("join %s: %s", name, za_last_error());
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.cluster = n.cl;
    cfg.storage = store_url;
    if (za_system_create(&cfg, &n.sys) != ZA_OK) fail_msg("system: %s", za_last_error());
    za_cluster_destroy(n.cl); /* the system holds it */
    za_grain_class cls = {.type = "Counter", .behaviour = &counter_beh};
    assert_int_equal(za_grain_register(n.sys, &cls), ZA_OK);
    return n;
}

static size_t members(node n) {
    size_t k = 0;
    za_cluster_nodes(za_system_cluster(n.sys), NULL, 0, &k);
    return k;
}

static void wait_members(node *v, int nv, size_t want) {
    uint64_t end = tu_now_ns() + 15000000000ull;
    for (;;) {
        bool all = true;
        for (int i = 0; i < nv; i++) all &= members(v[i]) == want;
        if (all) return;
        if (tu_now_ns() > end) fail_msg("the nodes did not see %zu members", want);
        ts_sleep_ms(20);
    }
}

/* ask tag on grain key from node n: the int64 answer (fails the test otherwise) */
static int64_t ask(node n, const char *key, int32_t tag) {
    za_ref g;
    assert_int_equal(za_grain_ref(n.sys, "Counter", key, &g), ZA_OK);
    za_answer a;
    int rc = za_ask(n.sys, g, tag, NULL, 0, 10000, &a);
    if (rc != ZA_OK || a.status != ZA_OK || a.len != 8)
        fail_msg("ask %s: %s (%s)", key, za_strerror(rc ? rc : a.status),
                 a.error ? a.error : za_last_error());
    int64_t v;
    memcpy(&v, a.data, 8);
    za_answer_free(&a);
    return v;
}

static int count_active(const za_grain_info *g, void *ud) {
    if (g->status == ZA_GRAIN_ACTIVE) (*(int *)ud)++;
    return 0;
}

static int active(node n) {
    int k = 0;
    size_t seen;
    za_grain_list(n.sys, count_active, &k, &seen);
    return k;
}

#define KEYS 40

static void test_grains_across_nodes(void **st) {
    (void)st;
    node v[3];
    v[0] = up("a");
    v[1] = up("b");
    wait_members(v, 2, 2);
    char key[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ask(v[0], key, T_INC), 1);
    }
    int on_a = active(v[0]), on_b = active(v[1]);
    assert_int_equal(on_a + on_b, KEYS); /* one activation each */
    assert_true(on_a > 0 && on_b > 0);   /* homes on both nodes: asks crossed */
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ask(v[1], key, T_INC), 2); /* the same activation, from b */
    }
    assert_int_equal(active(v[0]) + active(v[1]), KEYS);

    /* figures: ask round trip from a to a grain homed on a and on b */
    const char *local = NULL, *remote = NULL;
    static char lk[32], rk[32];
    for (int i = 0; i < KEYS && (!local || !remote); i++) {
        snprintf(key, sizeof key, "k%d", i);
        za_ref g;
        za_grain_ref(v[0].sys, "Counter", key, &g);
        if (za_is_alive(v[0].sys, g) == 1 && !local) local = strcpy(lk, key);
        if (za_is_alive(v[0].sys, g) != 1 && !remote) remote = strcpy(rk, key);
    }
    if (local && remote) {
        for (int which = 0; which < 2; which++) {
            const char *k = which ? remote : local;
            uint64_t t0 = tu_now_ns();
            for (int i = 0; i < 1000; i++) ask(v[0], k, T_GET);
            printf("# ask round trip to a grain homed %s: %.1f us\n",
                   which ? "on the other node" : "here", (tu_now_ns() - t0) / 1000.0 / 1000.0);
        }
    }

    /* a grain ref inside a message crosses as the grain's identity: the
     * grain on b reads a ref of its own system to the grain on a, and its
     * answer carries it back as a's ref */
    if (local && remote) {
        za_ref gl, gr;
        za_grain_ref(v[0].sys, "Counter", local, &gl);
        za_grain_ref(v[0].sys, "Counter", remote, &gr);
        za_pack *p = za_pack_new();
        za_pack_array(p, 1);
        za_pack_ref_in(p, v[0].sys, gl);
        za_answer a;
        assert_int_equal(za_ask(v[0].sys, gr, T_REF, za_pack_data(p), za_pack_size(p), 10000, &a),
                         ZA_OK);
        za_pack_free(p);
        if (a.status != ZA_OK) fail_msg("T_REF: %s", a.error ? a.error : "?");
        za_doc *d;
        assert_int_equal(za_doc_decode_in(v[0].sys, a.data, a.len, &d), ZA_OK);
        const za_value *r = za_doc_root(d);
        assert_int_equal(r->type, ZA_V_ARRAY);
        assert_int_equal(r->v.array.items[0].type, ZA_V_STR);
        assert_int_equal(r->v.array.items[0].v.str.len, strlen(local));
        assert_memory_equal(r->v.array.items[0].v.str.ptr, local, strlen(local));
        assert_int_equal(r->v.array.items[1].type, ZA_V_REF);
        assert_true(r->v.array.items[1].v.ref == gl);
        za_doc_free(d);
        za_answer_free(&a);
    }

    /* an activation on a tells a plain actor on b: it arrives (as a
     * message without a sender: a grain ref means nothing on b) */
    if (local) {
        za_ref sink, gl;
        assert_int_equal(za_spawn(v[1].sys, &sink_beh, NULL, 0, NULL, &sink), ZA_OK);
        za_grain_ref(v[0].sys, "Counter", local, &gl);
        za_answer a;
        assert_int_equal(za_ask(v[0].sys, gl, T_RELAY, &sink, sizeof sink, 10000, &a), ZA_OK);
        assert_int_equal(a.status, ZA_OK);
        za_answer_free(&a);
        int64_t got = 0;
        uint64_t end = tu_now_ns() + 10000000000ull;
        while (got != 1 && tu_now_ns() < end) {
            assert_int_equal(za_ask(v[1].sys, sink, T_GET, NULL, 0, 10000, &a), ZA_OK);
            memcpy(&got, a.data, sizeof got);
            za_answer_free(&a);
            if (got != 1) ts_sleep_ms(5);
        }
        assert_int_equal(got, 1);
    }

    /* b leaves: its grains activate on a from their stored state */
    za_system_destroy(v[1].sys);
    wait_members(v, 1, 1);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ask(v[0], key, T_INC), 3);
    }
    assert_int_equal(active(v[0]), KEYS);

    /* c joins: a deactivates (saving) the grains c now wins, and only those */
    atomic_store(&moved_deactivations, 0);
    v[1] = up("c");
    wait_members(v, 2, 2);
    uint64_t end = tu_now_ns() + 10000000000ull;
    while (active(v[0]) + atomic_load(&moved_deactivations) != KEYS && tu_now_ns() < end)
        ts_sleep_ms(10);
    int moved = atomic_load(&moved_deactivations);
    assert_true(moved > 0 && moved < KEYS);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ask(v[1], key, T_INC), 4); /* nothing lost in the move */
    }
    assert_int_equal(active(v[1]), moved); /* the moved ones live on c now */
    assert_int_equal(active(v[0]), KEYS - moved);
    za_cluster_stats cs;
    za_cluster_stats_read(za_system_cluster(v[0].sys), &cs);
    assert_int_equal(cs.malformed, 0);
    za_system_destroy(v[1].sys);
    za_system_destroy(v[0].sys);
}

/* A grain envelope from a member that does not fit is dropped and counted,
 * an ask for a type the receiving node does not know fails with a clear
 * error rather than waiting for its timeout. */
static void test_unknown_type_on_the_home_node(void **st) {
    (void)st;
    node v[2];
    v[0] = up("d");
    v[1] = up("e");
    wait_members(v, 2, 2);
    /* "Other" is registered on d only: asks homed on e fail there */
    za_grain_class other = {.type = "Other", .behaviour = &counter_beh};
    assert_int_equal(za_grain_register(v[0].sys, &other), ZA_OK);
    int failed = 0, ok = 0;
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "o%d", i);
        za_ref g;
        assert_int_equal(za_grain_ref(v[0].sys, "Other", key, &g), ZA_OK);
        za_answer a;
        int rc = za_ask(v[0].sys, g, T_INC, NULL, 0, 10000, &a);
        if (rc == ZA_OK && a.status == ZA_OK) {
            ok++;
        } else {
            failed++;
            assert_int_not_equal(rc ? rc : a.status, ZA_ETIMEDOUT);
            assert_non_null(strstr(a.error ? a.error : za_last_error(), "not registered"));
        }
        za_answer_free(&a);
    }
    assert_true(ok > 0 && failed > 0);
    /* a ref to an "Other" grain sent to a Counter grain homed on e: e cannot
     * name that grain (type not registered there): a clear error */
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "c%d", i);
        za_ref target, oref;
        za_grain_ref(v[0].sys, "Counter", key, &target);
        if (za__grain_home(v[0].sys, "Counter", key) == za_system_node(v[0].sys)) continue;
        za_grain_ref(v[0].sys, "Other", "x", &oref);
        za_pack *p = za_pack_new();
        za_pack_array(p, 1);
        za_pack_ref_in(p, v[0].sys, oref);
        za_answer a;
        int rc = za_ask(v[0].sys, target, T_REF, za_pack_data(p), za_pack_size(p), 10000, &a);
        za_pack_free(p);
        assert_true(rc != ZA_OK || a.status != ZA_OK);
        assert_non_null(strstr(a.error ? a.error : za_last_error(), "Other/x"));
        za_answer_free(&a);
        break;
    }
    za_system_destroy(v[1].sys);
    za_system_destroy(v[0].sys);
}

/* A node that acts as home for a grain whose lease another live node
 * holds (views differ for a moment; forced here through the hop count a
 * message from another node would carry) does not activate it a second
 * time: the lease says who holds it and the messages go there. */
static void test_lease_held_elsewhere_forwards(void **st) {
    (void)st;
    node v[2];
    v[0] = up("f");
    v[1] = up("g");
    wait_members(v, 2, 2);
    char key[32];
    int i = 0;
    do snprintf(key, sizeof key, "held%d", i++);
    while (za__grain_home(v[0].sys, "Counter", key) == za_system_node(v[0].sys));
    assert_int_equal(ask(v[0], key, T_INC), 1); /* active on g, which holds the lease */
    assert_int_equal(active(v[1]), 1);
    za__grain_hops = ZA_GRAIN_MAX_HOPS + 1; /* f treats itself as home */
    assert_int_equal(za__grain_home(v[0].sys, "Counter", key), za_system_node(v[0].sys));
    assert_int_equal(ask(v[0], key, T_INC), 2); /* lease held by g: served there */
    assert_int_equal(ask(v[0], key, T_INC), 3);
    za__grain_hops = 0;
    assert_int_equal(active(v[0]), 0); /* never activated on f */
    assert_int_equal(active(v[1]), 1);
    assert_int_equal(ask(v[1], key, T_GET), 3);
    za_system_destroy(v[1].sys);
    za_system_destroy(v[0].sys);
}

/* A grain registered under a cluster-wide name is found from every node
 * (as that node's reference to the same grain), and the name stays taken
 * while the grain exists: grains always do. */
static void test_grain_names_across_nodes(void **st) {
    (void)st;
    node v[2];
    v[0] = up("h");
    v[1] = up("i");
    wait_members(v, 2, 2);
    za_ref g0, g1, found, other;
    assert_int_equal(za_grain_ref(v[0].sys, "Counter", "named", &g0), ZA_OK);
    assert_int_equal(za_register(v[0].sys, "the-account", g0), ZA_OK);
    assert_int_equal(za_lookup(v[1].sys, "the-account", &found), ZA_OK);
    assert_int_equal(za_grain_ref(v[1].sys, "Counter", "named", &g1), ZA_OK);
    assert_true(found == g1); /* i's own ref to the grain */
    za_answer a;
    assert_int_equal(za_ask(v[1].sys, found, T_INC, NULL, 0, 10000, &a), ZA_OK);
    assert_int_equal(a.status, ZA_OK);
    za_answer_free(&a);
    assert_int_equal(ask(v[0], "named", T_GET), 1);
    assert_int_equal(za_grain_ref(v[1].sys, "Counter", "other", &other), ZA_OK);
    assert_int_equal(za_register(v[1].sys, "the-account", other), ZA_EEXIST);
    za_system_destroy(v[0].sys); /* h leaves: the name of a grain stays */
    wait_members(&v[1], 1, 1);
    assert_int_equal(za_lookup(v[1].sys, "the-account", &found), ZA_OK);
    assert_true(found == g1);
    za_system_destroy(v[1].sys);
}

static int stop_deactivating(const za_grain_info *g, void *ud) {
    if (g->status == ZA_GRAIN_DEACTIVATING) za_stop((za_system *)ud, g->activation);
    return 0;
}

/* Messages that arrive while a moved grain deactivates wait for it, then
 * go to its new home (they do not activate it here again). */
static void test_held_messages_follow_a_move(void **st) {
    (void)st;
    node v[2];
    v[0] = up("j");
    za_grain_class slow = {.type = "Slow", .behaviour = &slow_beh};
    assert_int_equal(za_grain_register(v[0].sys, &slow), ZA_OK);
    wait_members(v, 1, 1);
    enum { N = 30 };
    char key[32];
    za_ref g[N];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "s%d", i);
        assert_int_equal(za_grain_ref(v[0].sys, "Slow", key, &g[i]), ZA_OK);
        za_answer a;
        assert_int_equal(za_ask(v[0].sys, g[i], T_GET, NULL, 0, 10000, &a), ZA_OK);
        za_answer_free(&a);
    }
    atomic_store(&slow_deacts, 0);
    v[1] = up("k");
    assert_int_equal(za_grain_register(v[1].sys, &slow), ZA_OK);
    wait_members(v, 2, 2);
    /* the moved ones were told to deactivate and hang in DEACTIVATING */
    int moved = 0;
    for (int i = 0; i < 500; i++) {
        ts_sleep_ms(10);
        int now = atomic_load(&slow_deacts);
        if (now && now == moved) break;
        moved = now;
    }
    assert_true(moved > 0 && moved < N);
    za_ask_wait_handle *h[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(za_ask_start(v[0].sys, g[i], T_GET, NULL, 0, &h[i]), ZA_OK);
    size_t seen;
    za_grain_list(v[0].sys, stop_deactivating, v[0].sys, &seen); /* now they end */
    int on_k = 0;
    for (int i = 0; i < N; i++) {
        za_answer a;
        int rc = ZA_EAGAIN;
        for (int t = 0; t < 100 && rc == ZA_EAGAIN; t++) rc = za_ask_wait(h[i], 100, &a);
        assert_int_equal(rc, ZA_OK);
        int64_t served;
        memcpy(&served, a.data, sizeof served);
        za_answer_free(&a);
        za_ask_wait_release(h[i]);
        on_k += served == (int64_t)za_system_node(v[1].sys);
    }
    assert_int_equal(on_k, moved); /* every moved grain answered from its new home */
    assert_int_equal(active(v[1]), moved);
    za_system_destroy(v[1].sys);
    za_system_destroy(v[0].sys);
}

static int setup(void **st) {
    (void)st;
    if (!ts_redis_start(&redis)) return -1;
    snprintf(store_url, sizeof store_url, "redis://127.0.0.1:%d/1", redis.port);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    ts_redis_stop(&redis);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grains_across_nodes),
        cmocka_unit_test(test_unknown_type_on_the_home_node),
        cmocka_unit_test(test_lease_held_elsewhere_forwards),
        cmocka_unit_test(test_grain_names_across_nodes),
        cmocka_unit_test(test_held_messages_follow_a_move),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
