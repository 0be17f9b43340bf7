/*
 * bench_trace.c - what tracing costs C actors (bench/RESULTS_http.md).
 *
 * Three modes, alternated round by round in one process:
 *  off:     no trace context anywhere;
 *  carried: the sender has a trace context, every message carries it and
 *           is handled with it current (csrc/trace.c);
 *  spans:   the same with span recording on (za_spans_enable(ZA_SPANS_C)):
 *           a receive span per handled message, a caller span per ask
 *           (za_span_begin/end), and a thread draining the buffer as an
 *           exporter would (csrc/spans.c).
 * Two workloads: tell (the main thread tells N_TELL 8-byte messages to one
 * C actor, then asks it once) and ask (N_ASK round trips, one at a time).
 * The cost is the median over rounds of (off - mode) / off. Writes
 * bench/results/trace.json.
 */
#include "benchutil.h"

#ifndef N_TELL
#define N_TELL 1000000u
#endif
#ifndef N_ASK
#define N_ASK 50000u
#endif
#define ROUNDS 7

enum { M_OFF, M_CARRIED, M_SPANS, NMODES };
static const char *mode_names[NMODES] = {"off", "carried", "spans"};

static int c_receive(za_ctx *ctx, const za_msg *m) {
    uint64_t *n = za_ctx_state(ctx);
    (*n)++;
    if (za_ctx_can_reply(ctx)) return za_reply(ctx, 0, n, sizeof *n);
    return 0;
}
static const za_behaviour counter = {ZA_BEHAVIOUR_INIT, .name = "bench-counter",
                                     .state_size = sizeof(uint64_t), .receive = c_receive};

static atomic_int g_stop;
static uint64_t g_drained;

static void *drainer(void *ud) {
    static za_span buf[1024];
    while (!atomic_load(&g_stop)) {
        za_spans_wait(
            16384,
            100); /* a wake-up per batch: a third runnable thread on 2 cores stalls the hand-offs */
        size_t n;
        while ((n = za_spans_drain(buf, 1024))) g_drained += n;
    }
    size_t n;
    while ((n = za_spans_drain(buf, 1024))) g_drained += n;
    return NULL;
}

static double run(za_system *sys, za_ref c, int mode, bool ask) {
    za_trace t;
    za_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t);
    za_trace_set_current(mode == M_OFF ? NULL : &t);
    pthread_t th;
    if (mode == M_SPANS) {
        za_spans_enable(ZA_SPANS_C, 65536);
        atomic_store(&g_stop, 0);
        pthread_create(&th, NULL, drainer, NULL);
    }
    za_answer a;
    uint64_t t0 = bu_now_ns(), n;
    if (ask) {
        n = N_ASK;
        for (uint64_t i = 0; i < n; i++) {
            za_span_scope sc;
            if (mode == M_SPANS) za_span_begin(&sc, ZA_SPAN_ASK, c);
            if (za_ask(sys, c, 1, NULL, 0, 5000, &a) != ZA_OK) exit(1);
            if (mode == M_SPANS) za_span_end(&sc, 0);
            za_answer_free(&a);
        }
    } else {
        n = N_TELL;
        uint64_t v = 0;
        for (uint64_t i = 0; i < n; i++)
            while (za_tell(sys, c, 1, &v, sizeof v) != ZA_OK) sched_yield();
        if (za_ask(sys, c, 1, NULL, 0, 30000, &a) != ZA_OK) exit(1);
        za_answer_free(&a);
    }
    if (mode == M_SPANS) {
        za_spans_quiesce(5000);
        atomic_store(&g_stop, 1);
        pthread_join(th, NULL); /* every span handed over inside the timing */
        za_spans_enable(0, 0);
    }
    double rate = (double)n / ((double)(bu_now_ns() - t0) * 1e-9);
    za_trace_set_current(NULL);
    return rate;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(void) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    za_system *sys;
    if (za_system_create(&cfg, &sys) != ZA_OK) return 1;
    za_ref c;
    if (za_spawn_sync(sys, &counter, NULL, 0, NULL, 5000, &c) != ZA_OK) return 1;
    const char *wl[2] = {"tell", "ask"};
    double res[2][NMODES][ROUNDS];
    FILE *f = NULL;
    mkdir("bench/results", 0755);
    f = fopen("bench/results/trace.json", "w");
    if (f) fprintf(f, "{\"bench\": \"trace\", \"workers\": 2, \"rounds\": %d", ROUNDS);
    printf("bench_trace: C actors, 2 workers, median of %d rounds (modes alternated)\n", ROUNDS);
    for (int w = 0; w < 2; w++) {
        run(sys, c, M_OFF, w == 1); /* warm-up */
        for (int r = 0; r < ROUNDS; r++)
            for (int k = 0; k < NMODES; k++) {
                int m = (r % 2) ? NMODES - 1 - k : k;
                res[w][m][r] = run(sys, c, m, w == 1);
            }
        if (f) fprintf(f, ",\n \"%s\": {", wl[w]);
        for (int m = 0; m < NMODES; m++) {
            double d[ROUNDS], copy[ROUNDS];
            for (int r = 0; r < ROUNDS; r++) {
                d[r] = 100.0 * (res[w][M_OFF][r] - res[w][m][r]) / res[w][M_OFF][r];
                copy[r] = res[w][m][r];
            }
            double med = median(copy, ROUNDS), cost = median(d, ROUNDS);
            printf("  %-4s %-8s %12.0f /s   cost vs off (paired rounds) %+6.1f %%\n", wl[w],
                   mode_names[m], med, cost);
            if (f)
                fprintf(f, "%s\"%s\": {\"per_s\": %.0f, \"cost_pct_paired\": %.2f}", m ? ", " : "",
                        mode_names[m], med, cost);
        }
        if (f) fprintf(f, "}");
    }
    printf("  spans handed to the drainer: %llu, dropped: %llu\n", (unsigned long long)g_drained,
           (unsigned long long)za_spans_dropped());
    if (f) {
        fprintf(f, ",\n \"spans_drained\": %llu, \"spans_dropped\": %llu}\n",
                (unsigned long long)g_drained, (unsigned long long)za_spans_dropped());
        fclose(f);
    }
    za_system_destroy(sys);
    return 0;
}
