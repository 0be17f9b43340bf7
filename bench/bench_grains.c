/*
 * bench_grains.c - virtual actors (csrc/grain/) on each storage provider:
 *  - activation latency, warm: a blocking ask to an active grain (one
 *    round trip through the directory), p50/p99 over 20,000 asks;
 *  - activation latency, cold: a blocking ask to a grain that is not
 *    active and has a stored state (read on a storage thread, then spawn),
 *    p50/p99 over 1,000 grains;
 *  - warm grain calls/s: 1,000,000 tells from one outside thread to one
 *    active grain, closed by an ask (memory:// only: no storage involved);
 *  - state writes/s: 1,000 active grains each saving 20 times at once
 *    (pipelined write-if-version, 100-byte states);
 *  - journal appends/s: the same with a journaled class (persist);
 *  - activation storm: 100,000 grains touched once by a tell (memory://),
 *    time until every one has started, and the RSS it added.
 * SQLite runs in a temporary directory; Redis and PostgreSQL are started on
 * free ports in temporary directories and stopped at the end
 * (tests/c/testservers.h). Throughputs are the median of --runs (default 3).
 * Prints a table and writes bench/results/grains.json.
 *
 *   make bench-grains   (or build/release/bench/bench_grains [--runs N]
 *                        [--only memory,sqlite,redis,postgresql])
 */
#include "../tests/c/testservers.h"
#include "benchutil.h"

#define WARM_N 20000
#define COLD_N 1000
#define CALLS_N 1000000
#define WRITERS 1000
#define WRITES_EACH 20
#define STORM_N 100000
#define STATE_LEN 100
#define WAIT_S 120.0

enum { T_GET = 1, T_SAVE = 2, T_PERSIST = 3, T_NOP = 4, T_DONE = 100 };

static _Atomic uint64_t g_done, g_errors, g_started;
static unsigned char g_state[STATE_LEN + 2]; /* a MessagePack bin 8 of STATE_LEN bytes */

static int b_start(za_ctx *ctx, const void *args, size_t len) {
    (void)args;
    (void)len;
    const void *d;
    size_t n;
    uint64_t v;
    za_ctx_grain_state(ctx, &d, &n, &v);
    atomic_fetch_add_explicit(&g_started, 1, memory_order_relaxed);
    return 0;
}

static int b_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_GET: {
        int64_t v = 1;
        za_reply(ctx, 0, &v, sizeof v);
        break;
    }
    case T_SAVE:
    case T_PERSIST: {
        uint32_t n;
        memcpy(&n, m->data, sizeof n);
        for (uint32_t i = 0; i < n; i++) {
            int rc = m->tag == T_SAVE
                         ? za_ctx_grain_save(ctx, g_state, sizeof g_state, T_DONE, NULL)
                         : za_ctx_grain_persist(ctx, g_state, sizeof g_state, T_DONE, NULL);
            if (rc != ZA_OK) {
                atomic_fetch_add(&g_errors, 1);
                atomic_fetch_add(&g_done, 1);
            }
        }
        break;
    }
    case T_DONE:
        if (m->status != ZA_OK) atomic_fetch_add(&g_errors, 1);
        atomic_fetch_add_explicit(&g_done, 1, memory_order_relaxed);
        break;
    default:
        break;
    }
    return 0;
}

static const za_behaviour bench_beh = {ZA_BEHAVIOUR_INIT, .name = "bench-grain", .start = b_start,
                                       .receive = b_receive};

typedef struct figures {
    const char *name;
    bool ran;
    double warm_p50_us, warm_p99_us, cold_p50_us, cold_p99_us;
    bu_stats writes, appends;
    uint64_t errors;
} figures;

static za_system *grain_system(const char *url) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.storage = url;
    za_system *sys = NULL;
    if (za_system_create(&cfg, &sys) != ZA_OK)
        bu_die("za_system_create(%s): %s", url, za_last_error());
    za_grain_class k;
    memset(&k, 0, sizeof k);
    k.type = "bench";
    k.behaviour = &bench_beh;
    k.idle_ms = 3600000;
    BU_CHECK(za_grain_register(sys, &k));
    k.type = "journal";
    k.journaled = 1;
    BU_CHECK(za_grain_register(sys, &k));
    return sys;
}

static za_ref gref(za_system *sys, const char *type, const char *prefix, int i) {
    char key[64];
    snprintf(key, sizeof key, "%s%d", prefix, i);
    za_ref r;
    BU_CHECK(za_grain_ref(sys, type, key, &r));
    return r;
}

static uint64_t ask_ns(za_system *sys, za_ref g, figures *f) {
    za_answer a;
    uint64_t t0 = bu_now_ns();
    int rc = za_ask(sys, g, T_GET, NULL, 0, 30000, &a);
    uint64_t dt = bu_now_ns() - t0;
    if (rc != ZA_OK) f->errors++;
    za_answer_free(&a);
    return dt;
}

static bool wait_count(_Atomic uint64_t *c, uint64_t want) {
    double end = bu_now_s() + WAIT_S;
    while (atomic_load(c) < want) {
        if (bu_now_s() > end) return false;
        bu_sleep_us(200);
    }
    return true;
}

static void store_states(za_system *sys, const char *prefix, int n) {
    za_store *st = za_system_store(sys);
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s%d", prefix, i);
        za_store_req q = {.op = ZA_STORE_WRITE,
                          .type = "bench",
                          .id = key,
                          .data = g_state,
                          .len = sizeof g_state,
                          .version = 0};
        za_store_result r;
        BU_CHECK(za_store_call(st, &q, 30000, &r));
        za_store_result_free(&r);
    }
}

static double write_phase(za_system *sys, const char *type, int32_t tag, int run, figures *f) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%c%d-", tag == T_SAVE ? 'w' : 'j', run);
    za_ref g[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        g[i] = gref(sys, type, prefix, i);
        ask_ns(sys, g[i], f); /* active before the clock starts */
    }
    atomic_store(&g_done, 0);
    uint64_t err0 = atomic_load(&g_errors);
    uint32_t each = WRITES_EACH;
    double t0 = bu_now_s();
    for (int i = 0; i < WRITERS; i++) BU_CHECK(za_tell(sys, g[i], tag, &each, sizeof each));
    if (!wait_count(&g_done, (uint64_t)WRITERS * WRITES_EACH)) bu_die("writes did not complete");
    double dt = bu_now_s() - t0;
    f->errors += atomic_load(&g_errors) - err0;
    return (double)WRITERS * WRITES_EACH / dt;
}

static void bench_provider(figures *f, const char *url, int runs) {
    f->ran = true;
    za_system *sys = grain_system(url);
    /* warm: one active grain, asked again and again */
    static uint64_t lat[WARM_N];
    za_ref w = gref(sys, "bench", "warm", 0);
    ask_ns(sys, w, f);
    for (int i = 0; i < WARM_N; i++) lat[i] = ask_ns(sys, w, f);
    bu_sort_u64(lat, WARM_N);
    f->warm_p50_us = (double)bu_pct_sorted(lat, WARM_N, 50) / 1e3;
    f->warm_p99_us = (double)bu_pct_sorted(lat, WARM_N, 99) / 1e3;
    /* cold: grains with a stored state, activated by the ask */
    store_states(sys, "cold", COLD_N);
    static uint64_t clat[COLD_N];
    for (int i = 0; i < COLD_N; i++) clat[i] = ask_ns(sys, gref(sys, "bench", "cold", i), f);
    bu_sort_u64(clat, COLD_N);
    f->cold_p50_us = (double)bu_pct_sorted(clat, COLD_N, 50) / 1e3;
    f->cold_p99_us = (double)bu_pct_sorted(clat, COLD_N, 99) / 1e3;
    bu_stats_init(&f->writes);
    bu_stats_init(&f->appends);
    for (int r = 0; r < runs; r++) {
        bu_stats_add(&f->writes, write_phase(sys, "bench", T_SAVE, r, f));
        bu_stats_add(&f->appends, write_phase(sys, "journal", T_PERSIST, r, f));
    }
    bu_stats_done(&f->writes);
    bu_stats_done(&f->appends);
    za_system_destroy(sys);
    printf("%-11s %9.1f %9.1f %9.1f %9.1f %12.0f %12.0f %7llu\n", f->name, f->warm_p50_us,
           f->warm_p99_us, f->cold_p50_us, f->cold_p99_us, f->writes.median, f->appends.median,
           (unsigned long long)f->errors);
    fflush(stdout);
}

static double warm_calls(int runs, bu_stats *s) {
    za_system *sys = grain_system("memory://");
    za_ref g = gref(sys, "bench", "calls", 0);
    figures f = {0};
    ask_ns(sys, g, &f);
    bu_stats_init(s);
    for (int r = 0; r < runs; r++) {
        double t0 = bu_now_s();
        for (int i = 0; i < CALLS_N; i++) {
            int rc;
            while ((rc = za_tell(sys, g, T_NOP, NULL, 0)) == ZA_EFULL) bu_sleep_us(10);
            if (rc != ZA_OK) bu_die("tell: %s", za_last_error());
        }
        ask_ns(sys, g, &f); /* FIFO: every tell before it was handled */
        bu_stats_add(s, (double)CALLS_N / (bu_now_s() - t0));
    }
    bu_stats_done(s);
    za_system_destroy(sys);
    return s->median;
}

static void storm(double *secs, double *rss_mb) {
    za_system *sys = grain_system("memory://");
    long long rss0 = bu_rss_bytes();
    atomic_store(&g_started, 0);
    double t0 = bu_now_s();
    for (int i = 0; i < STORM_N; i++)
        BU_CHECK(za_tell(sys, gref(sys, "bench", "s", i), T_NOP, NULL, 0));
    if (!wait_count(&g_started, STORM_N)) bu_die("storm: activations did not all start");
    *secs = bu_now_s() - t0;
    *rss_mb = (double)(bu_rss_bytes() - rss0) / (1024.0 * 1024.0);
    za_system_destroy(sys);
}

static void json_stats(FILE *o, const char *key, const bu_stats *s) {
    fprintf(o, "      \"%s\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f},\n", key, s->median,
            s->min, s->max);
}

typedef struct run_ctx {
    figures *fs;
    int runs;
} run_ctx;

static void run_one(int idx, const char *name, const char *url, void *ud) {
    (void)name;
    run_ctx *rc = ud;
    bench_provider(&rc->fs[idx], url, rc->runs);
}

int main(int argc, char **argv) {
    int runs = 3;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else
            bu_die("usage: %s [--runs N] [--only memory,sqlite,redis,postgresql]", argv[0]);
    }
    if (runs < 1 || runs > BU_MAX_RUNS) bu_die("--runs 1..%d", BU_MAX_RUNS);
    g_state[0] = 0xc4; /* bin 8 */
    g_state[1] = STATE_LEN;
    for (int i = 0; i < STATE_LEN; i++) g_state[2 + i] = (unsigned char)(i * 7);
    bu_machine m;
    bu_machine_get(&m);
    printf("bench_grains: warm asks %d, cold activations %d, %d grains x %d writes, median of %d "
           "runs\nmachine: %ld cores, %s, %s\n\n",
           WARM_N, COLD_N, WRITERS, WRITES_EACH, runs, m.cores, m.cpu, m.os);
    printf("%-11s %9s %9s %9s %9s %12s %12s %7s\n", "provider", "warm p50", "warm p99", "cold p50",
           "cold p99", "writes/s", "appends/s", "errors");
    printf("%-11s %9s %9s %9s %9s\n", "", "us", "us", "us", "us");
    figures fs[4] = {
        {.name = "memory"}, {.name = "sqlite"}, {.name = "redis"}, {.name = "postgresql"}};
    run_ctx rc = {fs, runs};
    if (!ts_each_provider(only, run_one, &rc)) bu_die("cannot start a database server");
    bu_stats calls;
    warm_calls(runs, &calls);
    double storm_s, storm_mb;
    storm(&storm_s, &storm_mb);
    printf("\nwarm grain calls/s (1 outside sender, memory://): %.0f\n", calls.median);
    printf("activation storm (%d grains touched once, memory://): %.2f s (%.0f activations/s), "
           "RSS +%.1f MiB (%.0f bytes/grain)\n",
           STORM_N, storm_s, STORM_N / storm_s, storm_mb, storm_mb * 1048576.0 / STORM_N);

    const char *dir = getenv("BENCH_RESULTS_DIR");
    if (!dir || !*dir) dir = "bench/results";
    mkdir(dir, 0755);
    char path[512];
    snprintf(path, sizeof path, "%s/grains.json", dir);
    FILE *o = fopen(path, "w");
    if (!o) bu_die("cannot write %s", path);
    fprintf(o,
            "{\n  \"benchmark\": \"grains\",\n  \"machine\": {\"cores\": %ld, \"cpu\": \"%s\", "
            "\"os\": \"%s\"},\n  \"runs\": %d, \"warm_asks\": %d, \"cold_activations\": %d, "
            "\"writers\": %d, \"writes_each\": %d, \"state_bytes\": %d,\n  \"providers\": {\n",
            m.cores, m.cpu, m.os, runs, WARM_N, COLD_N, WRITERS, WRITES_EACH, STATE_LEN + 2);
    bool first = true;
    for (int i = 0; i < 4; i++) {
        if (!fs[i].ran) continue;
        fprintf(o, "%s    \"%s\": {\n", first ? "" : ",\n", fs[i].name);
        first = false;
        fprintf(o,
                "      \"warm_p50_us\": %.1f, \"warm_p99_us\": %.1f, \"cold_p50_us\": %.1f, "
                "\"cold_p99_us\": %.1f,\n",
                fs[i].warm_p50_us, fs[i].warm_p99_us, fs[i].cold_p50_us, fs[i].cold_p99_us);
        json_stats(o, "state_writes_per_s", &fs[i].writes);
        json_stats(o, "journal_appends_per_s", &fs[i].appends);
        fprintf(o, "      \"errors\": %llu\n    }", (unsigned long long)fs[i].errors);
    }
    fprintf(o,
            "\n  },\n  \"warm_calls_per_s\": {\"median\": %.0f, \"min\": %.0f, \"max\": %.0f},\n"
            "  \"storm\": {\"grains\": %d, \"seconds\": %.3f, \"rss_mib\": %.1f}\n}\n",
            calls.median, calls.min, calls.max, STORM_N, storm_s, storm_mb);
    fclose(o);
    printf("\nwrote %s\n", path);
    for (int i = 0; i < 4; i++)
        if (fs[i].errors) return 1;
    return 0;
}
