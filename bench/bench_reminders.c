/*
 * bench_reminders.c - 100k persistent grain reminders on one node
 * (csrc/grain/reminders.c), on memory:// and sqlite://.
 *
 * Each provider: N reminders of N grains (period PERIOD_S, first due times
 * spread evenly over one period, so ~N/PERIOD_S firings per second), then
 * WINDOW_S seconds of firing. Every firing is delivered to the grain (the
 * first one activates it: a state read from the store, then a spawn); the
 * grain records now - due_unix_s from the payload. Reported: firing jitter
 * p50 / p99 / max, firings seen, and for sqlite the time the system's start
 * took to load the N rows (they are written first through a store of their
 * own, as after a restart). memory:// has nothing to load: its rows are
 * created with za_grain_remind (the blocking call), whose rate is reported.
 *
 * Prints a table and writes bench/results/reminders.json.
 *   ./build/release/bench/bench_reminders [--n 100000] [--window 22]
 */
#include "benchutil.h"
#include "grain/grain.h"
#include "store/provider.h"

#define PERIOD_S 10u

static _Atomic uint64_t g_n;
static uint32_t *g_jit_us; /* one per firing */
static size_t g_cap;
static _Atomic uint64_t g_late_missed; /* firings that said ticks were missed */

static uint64_t unix_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double be_double(const uint8_t *p) {
    uint64_t b = 0;
    for (int i = 0; i < 8; i++) b = (b << 8) | p[i];
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static int grain_receive(za_ctx *ctx, const za_msg *m) {
    (void)ctx;
    if (m->tag != ZA_TAG_REMINDER) return 0;
    uint64_t now = unix_us();
    /* [name, missed, period_s, due_unix_s]: the due time is the last 8
     * bytes (a float64); missed is the byte after the name when small */
    const uint8_t *p = m->data;
    if (m->len < 20) return 0;
    double due_s = be_double(p + m->len - 8);
    size_t nl = p[1] & 0x1f;
    if (p[2 + nl] != 0) atomic_fetch_add_explicit(&g_late_missed, 1, memory_order_relaxed);
    uint64_t due_us = (uint64_t)(due_s * 1e6 + 0.5);
    uint64_t i = atomic_fetch_add_explicit(&g_n, 1, memory_order_relaxed);
    if (i < g_cap) g_jit_us[i] = now > due_us ? (uint32_t)(now - due_us) : 0;
    return 0;
}

static const za_behaviour GRAIN = {ZA_BEHAVIOUR_INIT, .name = "bench-reminded",
                                   .receive = grain_receive};

typedef struct result {
    const char *name;
    bool ran;
    double load_ms, create_per_s, create_s;
    uint64_t fired, late;
    double p50_ms, p99_ms, max_ms;
    long long rss_mb;
} result;

static void key_of(char *buf, size_t cap, uint32_t i) {
    snprintf(buf, cap, "g%06u", i);
}

static void count_cb(za_store_result *res, void *ud) {
    if (res->status == ZA_OK) atomic_fetch_add((_Atomic uint64_t *)ud, 1);
}

/* Write N rows straight into the store (as a previous run would have left
 * them), first due times spread over one period starting `start_ms`. */
static double prefill(const char *url, uint32_t n, uint64_t start_ms) {
    za_store *st;
    BU_CHECK(za_store_open(url, NULL, &st));
    _Atomic uint64_t ok = 0;
    double t0 = bu_now_s();
    for (uint32_t i = 0; i < n; i++) {
        char key[32], buf[256];
        key_of(key, sizeof key, i);
        za__remind row = {.type = "bench",
                          .key = key,
                          .name = "tick",
                          .period_ms = PERIOD_S * 1000u,
                          .next_due = start_ms + (uint64_t)i * PERIOD_S * 1000u / n,
                          .catch_up = 1};
        size_t len = za__remind_pack(&row, buf, sizeof buf);
        za_store_req q = {
            .op = ZA__STORE_REMIND_PUT, .type = "bench", .id = key, .data = buf, .len = len};
        BU_CHECK(za__store_submit_op(st, &q, count_cb, (void *)&ok));
    }
    za_store_close(st); /* completes them all */
    if (atomic_load(&ok) != n)
        bu_die("prefill: %llu of %u rows written", (unsigned long long)atomic_load(&ok), n);
    return bu_now_s() - t0;
}

static void run(result *r, const char *url, uint32_t n, double window_s) {
    atomic_store(&g_n, 0);
    atomic_store(&g_late_missed, 0);
    uint64_t lead_ms = 4000; /* first due time after creation / load */
    bool from_rows = strncmp(url, "sqlite", 6) == 0;
    uint64_t start = (uint64_t)(unix_us() / 1000u) + lead_ms + (from_rows ? 8000 : 0);
    if (from_rows) {
        double s = prefill(url, n, start);
        printf("  %s: %u rows written in %.2f s\n", r->name, n, s);
    }
    za_config cfg;
    za_config_init(&cfg);
    cfg.storage = url;
    za_system *sys = NULL;
    double t0 = bu_now_s();
    BU_CHECK(za_system_create(&cfg, &sys));
    double create_s = bu_now_s() - t0;
    za_grain_class cls = {.type = "bench", .behaviour = &GRAIN};
    BU_CHECK(za_grain_register(sys, &cls));
    uint64_t count = 0, load_ms = 0;
    za__reminders_figures(sys, &count, NULL, &load_ms);
    r->load_ms = from_rows ? (double)load_ms : 0;
    if (from_rows && count != n)
        bu_die("loaded %llu of %u reminders", (unsigned long long)count, n);
    if (!from_rows) {
        /* the blocking API, one call at a time; the spread is by due time */
        double c0 = bu_now_s();
        for (uint32_t i = 0; i < n; i++) {
            char key[32];
            key_of(key, sizeof key, i);
            za_ref g;
            BU_CHECK(za_grain_ref(sys, "bench", key, &g));
            uint64_t due = lead_ms + (uint64_t)i * PERIOD_S * 1000u / n;
            BU_CHECK(za_grain_remind(sys, g, "tick", due, PERIOD_S * 1000u, 1, 30000));
        }
        r->create_s = bu_now_s() - c0;
        r->create_per_s = n / r->create_s;
        printf("  %s: %u za_grain_remind calls in %.2f s\n", r->name, n, r->create_s);
        start = (uint64_t)(unix_us() / 1000u); /* (due times were relative to each call) */
    } else {
        printf("  %s: system start (loading %u rows) %.2f s, of which the load %.0f ms\n", r->name,
               n, create_s, r->load_ms);
    }
    /* the window: from the first due time on */
    uint64_t end_ms = start + (uint64_t)(window_s * 1000.0), now_ms = unix_us() / 1000u;
    if (end_ms > now_ms) bu_sleep_us((end_ms - now_ms) * 1000u);
    uint64_t fired = 0;
    za__reminders_figures(sys, NULL, &fired, NULL);
    r->rss_mb = bu_rss_bytes() >> 20;
    BU_CHECK(za_system_shutdown(sys, 30000));
    za_system_destroy(sys);
    uint64_t got = atomic_load(&g_n);
    if (got > g_cap) got = g_cap;
    r->fired = got;
    r->late = atomic_load(&g_late_missed);
    uint64_t *v = malloc((got ? got : 1) * sizeof *v);
    for (uint64_t i = 0; i < got; i++) v[i] = g_jit_us[i];
    bu_sort_u64(v, got);
    r->p50_ms = got ? bu_pct_sorted(v, got, 50) / 1000.0 : 0;
    r->p99_ms = got ? bu_pct_sorted(v, got, 99) / 1000.0 : 0;
    r->max_ms = got ? v[got - 1] / 1000.0 : 0;
    free(v);
    r->ran = true;
    printf("  %s: %llu firings (scheduler: %llu), jitter p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
           "RSS %lld MiB\n",
           r->name, (unsigned long long)r->fired, (unsigned long long)fired, r->p50_ms, r->p99_ms,
           r->max_ms, r->rss_mb);
}

int main(int argc, char **argv) {
    uint32_t n = 100000;
    double window = 22.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = (uint32_t)atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--window")) window = atof(argv[i + 1]);
    }
    g_cap = (size_t)n * (size_t)(window / PERIOD_S + 2);
    g_jit_us = calloc(g_cap, sizeof *g_jit_us);
    if (!g_jit_us) bu_die("out of memory");
    bu_header("bench_reminders", 0);
    printf("%u reminders, period %u s (first due spread over one period), %.0f s window\n", n,
           PERIOD_S, window);
    char dir[] = "/tmp/za-bench-rem-XXXXXX";
    if (!mkdtemp(dir)) bu_die("mkdtemp");
    char sq[300];
    snprintf(sq, sizeof sq, "sqlite://%s/rem.db", dir);
    result rs[2] = {{.name = "memory"}, {.name = "sqlite"}};
    run(&rs[0], "memory://", n, window);
    run(&rs[1], sq, n, window);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);

    printf("\n| store | reminders | firings | jitter p50 | p99 | max | load at start | "
           "remind calls/s |\n|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < 2; i++)
        printf("| %s | %u | %llu | %.2f ms | %.2f ms | %.2f ms | %s%.0f ms | %s%.0f |\n",
               rs[i].name, n, (unsigned long long)rs[i].fired, rs[i].p50_ms, rs[i].p99_ms,
               rs[i].max_ms, i ? "" : "n/a ", rs[i].load_ms, i ? "n/a " : "", rs[i].create_per_s);

    bu_stats s;
    bu_stats_init(&s);
    bu_stats_add(&s, rs[1].p99_ms);
    bu_stats_done(&s);
    bu_json *j = bu_json_begin("reminders", "ms (sqlite jitter p99)", &s);
    bu_json_num(j, "reminders", n);
    bu_json_num(j, "period_s", PERIOD_S);
    bu_json_num(j, "window_s", window);
    for (int i = 0; i < 2; i++) {
        char k[64];
#define NUM(field, v)                                                                              \
    snprintf(k, sizeof k, "%s_" field, rs[i].name);                                                \
    bu_json_num(j, k, v)
        NUM("firings", (double)rs[i].fired);
        NUM("late_firings", (double)rs[i].late);
        NUM("jitter_p50_ms", rs[i].p50_ms);
        NUM("jitter_p99_ms", rs[i].p99_ms);
        NUM("jitter_max_ms", rs[i].max_ms);
        NUM("rss_mb", (double)rs[i].rss_mb);
#undef NUM
    }
    bu_json_num(j, "sqlite_load_ms", rs[1].load_ms);
    bu_json_num(j, "memory_remind_calls_per_s", rs[0].create_per_s);
    bu_json_end(j);
    free(g_jit_us);
    return 0;
}
