/*
 * bench_grain_cluster.c - grains across cluster nodes: what the forward hop
 * costs. Two members of one cluster in this process (each its own system,
 * cluster object, ZeroMQ links and threads) and a redis-server started on a
 * free port (tests/c/testservers.h) for membership, leases and state.
 *
 *   ask to a warm grain whose home is this node       (the directory only)
 *   ask to a warm grain whose home is the other node  (one forward hop)
 *   ask to a plain actor on the other node            (the remote ask alone)
 *   first ask to a grain homed here / on the other node (cold activation:
 *   lease in Redis, state read from Redis, spawn; plus the hop)
 *
 * Latencies are per ask from an outside thread (blocking za_ask), p50 and
 * p99 of each run; figures are the median over --runs (default 5), printed
 * and written to bench/results/grain_cluster_*.json.
 *
 *   make bench-grain-cluster   (or build/release/bench/bench_grain_cluster [--runs N])
 */
#include "../tests/c/testservers.h"
#include "benchutil.h"

#include "grain/placement.h" /* za__grain_home: pick keys by their home */
#include "zactor.h"

enum { T_GET = 2 };
#define WARM_ASKS 2000
#define COLD_ASKS 200

static int echo_receive(za_ctx *ctx, const za_msg *m) {
    (void)m;
    int64_t v = 0;
    return za_ctx_can_reply(ctx) ? za_reply(ctx, 0, &v, sizeof v) : 0;
}
static const za_behaviour echo_beh = {ZA_BEHAVIOUR_INIT, .name = "bench-grain",
                                      .receive = echo_receive};

static ts_redis redis;
static char store_url[200];

typedef struct node {
    za_cluster *cl;
    za_system *sys;
} node;

static int up(const char *name, node *n) {
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis.url;
    cc.name = "bench-grains";
    cc.node_name = name;
    if (za_cluster_create(&cc, &n->cl) != ZA_OK) return -1;
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 1; /* two nodes on two cores */
    cfg.cluster = n->cl;
    cfg.storage = store_url;
    int rc = za_system_create(&cfg, &n->sys);
    za_cluster_destroy(n->cl);
    if (rc != ZA_OK) return -1;
    za_grain_class cls = {.type = "Bench", .behaviour = &echo_beh};
    return za_grain_register(n->sys, &cls) == ZA_OK ? 0 : -1;
}

static size_t members(node *n) {
    size_t k = 0;
    za_cluster_nodes(za_system_cluster(n->sys), NULL, 0, &k);
    return k;
}

/* A key whose first ask from a lands on a (here) or on b. */
static za_ref key_on(node *a, bool here, int *seq, char *key, size_t cap) {
    for (;;) {
        snprintf(key, cap, "%s-%d", here ? "h" : "r", (*seq)++);
        za_ref g;
        za_grain_ref(a->sys, "Bench", key, &g);
        za_answer ans;
        if (za_ask(a->sys, g, T_GET, NULL, 0, 10000, &ans) != ZA_OK) {
            fprintf(stderr, "ask failed: %s\n", za_last_error());
            exit(1);
        }
        za_answer_free(&ans);
        if ((za_is_alive(a->sys, g) == 1) == here) return g;
    }
}

/* n asks to ref from a; p50 and p99 in us */
static void timed(node *a, za_ref ref, int n, double *p50, double *p99) {
    uint64_t *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++) {
        uint64_t t0 = bu_now_ns();
        za_answer ans;
        if (za_ask(a->sys, ref, T_GET, NULL, 0, 10000, &ans) != ZA_OK) {
            fprintf(stderr, "ask failed: %s\n", za_last_error());
            exit(1);
        }
        za_answer_free(&ans);
        v[i] = bu_now_ns() - t0;
    }
    bu_sort_u64(v, (size_t)n);
    *p50 = bu_pct_sorted(v, (size_t)n, 50) / 1000.0;
    *p99 = bu_pct_sorted(v, (size_t)n, 99) / 1000.0;
    free(v);
}

/* first asks to n new grains homed here or on b */
static void cold(node *a, bool here, int n, int *seq, double *p50, double *p99) {
    uint64_t *v = malloc((size_t)n * sizeof *v);
    char key[64];
    int got = 0;
    uint32_t me = za_system_node(a->sys);
    while (got < n) {
        snprintf(key, sizeof key, "c-%d", (*seq)++);
        /* which node is home: the hash says it, without touching the grain */
        za_ref g;
        za_grain_ref(a->sys, "Bench", key, &g);
        if ((za__grain_home(a->sys, "Bench", key) == me) != here) continue;
        uint64_t t0 = bu_now_ns();
        za_answer ans;
        if (za_ask(a->sys, g, T_GET, NULL, 0, 10000, &ans) != ZA_OK) exit(1);
        za_answer_free(&ans);
        v[got++] = bu_now_ns() - t0;
    }
    bu_sort_u64(v, (size_t)n);
    *p50 = bu_pct_sorted(v, (size_t)n, 50) / 1000.0;
    *p99 = bu_pct_sorted(v, (size_t)n, 99) / 1000.0;
    free(v);
}

static void emit(const char *name, const char *label, bu_stats *p50, bu_stats *p99) {
    bu_stats_done(p50);
    bu_stats_done(p99);
    char l[160];
    snprintf(l, sizeof l, "%s p50", label);
    bu_print(l, p50, "us", 1);
    snprintf(l, sizeof l, "%s p99", label);
    bu_print(l, p99, "us", 1);
    bu_json *j = bu_json_begin(name, "us (p50 per run)", p50);
    bu_json_stats(j, "p99_us", p99);
    bu_json_end(j);
}

int main(int argc, char **argv) {
    int runs = BU_RUNS;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    if (runs < 1 || runs > BU_MAX_RUNS) runs = BU_RUNS;
    if (!ts_redis_start(&redis)) {
        fprintf(stderr, "cannot start redis-server\n");
        return 1;
    }
    snprintf(store_url, sizeof store_url, "redis://127.0.0.1:%d/1", redis.port);
    node a, b;
    if (up("a", &a) || up("b", &b)) {
        fprintf(stderr, "cannot start the nodes: %s\n", za_last_error());
        ts_redis_stop(&redis);
        return 1;
    }
    for (int i = 0; i < 1500 && (members(&a) != 2 || members(&b) != 2); i++) ts_sleep_ms(10);
    int seq = 0;
    char k1[64], k2[64];
    za_ref here = key_on(&a, true, &seq, k1, sizeof k1);
    za_ref there = key_on(&a, false, &seq, k2, sizeof k2);
    za_ref actor;
    za_spawn(b.sys, &echo_beh, NULL, 0, NULL, &actor);
    printf("bench_grain_cluster: 2 nodes in one process, %d warm asks and %d cold activations "
           "per run, median of %d runs\n",
           WARM_ASKS, COLD_ASKS, runs);
    bu_stats s[5][2];
    for (int k = 0; k < 5; k++) bu_stats_init(&s[k][0]), bu_stats_init(&s[k][1]);
    for (int r = -BU_WARMUP; r < runs; r++) {
        double p50, p99;
        za_ref targets[3] = {here, there, actor};
        for (int k = 0; k < 3; k++) {
            timed(&a, targets[k], WARM_ASKS, &p50, &p99);
            if (r >= 0) bu_stats_add(&s[k][0], p50), bu_stats_add(&s[k][1], p99);
        }
        for (int k = 0; k < 2; k++) {
            cold(&a, k == 0, COLD_ASKS, &seq, &p50, &p99);
            if (r >= 0) bu_stats_add(&s[3 + k][0], p50), bu_stats_add(&s[3 + k][1], p99);
        }
    }
    emit("grain_cluster_ask_local", "ask, warm grain homed here", &s[0][0], &s[0][1]);
    emit("grain_cluster_ask_hop", "ask, warm grain homed on the other node", &s[1][0], &s[1][1]);
    emit("grain_cluster_ask_remote_actor", "ask, plain actor on the other node", &s[2][0],
         &s[2][1]);
    emit("grain_cluster_activate_local", "first ask, grain homed here (redis)", &s[3][0], &s[3][1]);
    emit("grain_cluster_activate_hop", "first ask, grain homed on the other node (redis)", &s[4][0],
         &s[4][1]);
    za_system_destroy(b.sys);
    za_system_destroy(a.sys);
    ts_redis_stop(&redis);
    return 0;
}
