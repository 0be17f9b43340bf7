/*
 * bench_pingpong.c - round-trip latency between two actors.
 *
 * Actor A tells B a PING, B tells A a PONG back: one round trip. A counts
 * ROUND_TRIPS of them (one run). Reported:
 *   - mean time per round trip of each run (run time / round trips), as the
 *     median/min/max over the runs, and the round trips per second;
 *   - the p50/p99/max of batch means: A timestamps every BATCH-th round trip,
 *     so each sample is the mean of BATCH consecutive round trips;
 *   - the p50/p99/max of single round trips sampled 1 in SAMPLE_EVERY: A reads
 *     the clock before the PING and again on the PONG (includes the cost of
 *     two clock_gettime calls, ~20-40 ns each here).
 * The count of round trips and the echoed sequence numbers are checked.
 *
 * Second part: blocking za_ask from the main (outside) thread to an echo
 * actor, every ask timed: the round trip a binding's caller thread sees.
 */
#include "benchutil.h"

#ifndef ROUND_TRIPS /* -DROUND_TRIPS=... for a quick check build */
#define ROUND_TRIPS 5000000ull
#endif
#define BATCH 1000ull
#define SAMPLE_EVERY 64ull
#define NBATCH (ROUND_TRIPS / BATCH)
#define NSAMPLE (ROUND_TRIPS / SAMPLE_EVERY + 1)

enum { T_GO = 1, T_PING = 2, T_PONG = 3 };

typedef struct shared {
    uint64_t n;
    uint64_t done_count;
    uint64_t bad;
    uint64_t t_start, t_end;
    uint64_t *batch_ns; /* NBATCH batch durations */
    uint64_t nbatch;
    uint64_t *single_ns; /* sampled single round trips */
    uint64_t nsingle;
    uint64_t cross; /* round trips where B ran on another worker than A */
    bu_latch done;
} shared;

/* Worker B last ran on: A counts round trips where B ran elsewhere. */
static _Atomic int g_b_worker = -1;

/* B: echo the sequence number back to the sender. */
static int b_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag != T_PING) return 0;
    atomic_store_explicit(&g_b_worker, za_ctx_worker(ctx), memory_order_relaxed);
    return za_tell(za_ctx_system(ctx), m->sender, T_PONG, m->data, m->len);
}

static const za_behaviour b_beh = {ZA_BEHAVIOUR_INIT, .name = "pong", .state_size = 0,
                                   .receive = b_receive};

typedef struct a_state {
    za_ref peer;
    uint64_t count;
    uint64_t t_batch;
    uint64_t t_ping; /* nonzero: the round trip in flight is sampled */
} a_state;

static int a_ping(za_ctx *ctx, a_state *st) {
    uint64_t seq = st->count;
    if (seq % SAMPLE_EVERY == 0) st->t_ping = bu_now_ns();
    return za_tell(za_ctx_system(ctx), st->peer, T_PING, &seq, sizeof seq);
}

static int a_receive(za_ctx *ctx, const za_msg *m) {
    a_state *st = za_ctx_state(ctx);
    shared *sh = za_ctx_user(ctx);
    if (m->tag == T_GO) {
        memcpy(&st->peer, m->data, sizeof st->peer);
        st->count = 0;
        sh->t_start = st->t_batch = bu_now_ns();
        return a_ping(ctx, st);
    }
    if (m->tag != T_PONG) return 0;
    uint64_t now = 0;
    if (st->t_ping) {
        now = bu_now_ns();
        if (sh->nsingle < NSAMPLE) sh->single_ns[sh->nsingle++] = now - st->t_ping;
        st->t_ping = 0;
    }
    if (atomic_load_explicit(&g_b_worker, memory_order_relaxed) != za_ctx_worker(ctx)) sh->cross++;
    uint64_t seq;
    memcpy(&seq, m->data, sizeof seq);
    if (m->len != sizeof seq || seq != st->count) sh->bad++;
    st->count++;
    if (st->count % BATCH == 0) {
        if (!now) now = bu_now_ns();
        if (sh->nbatch < NBATCH) sh->batch_ns[sh->nbatch++] = now - st->t_batch;
        st->t_batch = now;
    }
    if (st->count == sh->n) {
        sh->t_end = now ? now : bu_now_ns();
        sh->done_count = st->count;
        bu_latch_open(&sh->done);
        return 0;
    }
    return a_ping(ctx, st);
}

static const za_behaviour a_beh = {ZA_BEHAVIOUR_INIT, .name = "ping", .state_size = sizeof(a_state),
                                   .receive = a_receive};

/* ------------------------------------------- ask from an outside thread */

#ifndef ASKS /* -DASKS=... for a quick check build */
#define ASKS 200000u
#endif

/* Echo: reply to an ask with its payload. */
static int echo_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag != T_PING) return 0;
    return za_reply(ctx, T_PONG, m->data, m->len);
}

static const za_behaviour echo_beh = {ZA_BEHAVIOUR_INIT, .name = "echo", .state_size = 0,
                                      .receive = echo_receive};

/* The main thread asks an actor ASKS times, timing every ask (za_ask is far
 * slower than the two clock reads). */
static void run_ask(za_system *sys, int workers) {
    uint64_t *lat = calloc(ASKS, sizeof *lat);
    if (!lat) bu_die("out of memory");
    bu_stats mean, p50, p99, rate, c2c;
    bu_stats_init(&c2c);
    bu_stats_init(&mean);
    bu_stats_init(&p50);
    bu_stats_init(&p99);
    bu_stats_init(&rate);
    bu_cpu c0, c1;
    bu_cpu_now(&c0);
    for (int r = 0; r < BU_WARMUP + BU_RUNS; r++) {
        if (r >= BU_WARMUP) bu_c2c_add(&c2c);
        za_ref e;
        BU_CHECK(za_spawn_sync(sys, &echo_beh, NULL, 0, NULL, 5000, &e));
        uint64_t t0 = bu_now_ns();
        for (uint32_t i = 0; i < ASKS; i++) {
            uint64_t seq = i, got = ~0ull;
            za_answer a;
            uint64_t ta = bu_now_ns();
            BU_CHECK(za_ask(sys, e, T_PING, &seq, sizeof seq, 5000, &a));
            lat[i] = bu_now_ns() - ta;
            if (a.status != ZA_OK || a.tag != T_PONG || a.len != sizeof got)
                bu_die("ask %u: status %d tag %d len %zu", i, a.status, a.tag, a.len);
            memcpy(&got, a.data, sizeof got);
            za_answer_free(&a);
            if (got != seq) bu_die("ask %u: answer %llu", i, (unsigned long long)got);
        }
        uint64_t t1 = bu_now_ns();
        BU_CHECK(za_stop(sys, e));
        BU_CHECK(za_join(sys, e, 5000));
        if (r < BU_WARMUP) continue;
        bu_sort_u64(lat, ASKS);
        bu_stats_add(&mean, (double)(t1 - t0) / ASKS);
        bu_stats_add(&p50, (double)bu_pct_sorted(lat, ASKS, 50));
        bu_stats_add(&p99, (double)bu_pct_sorted(lat, ASKS, 99));
        bu_stats_add(&rate, ASKS / ((double)(t1 - t0) * 1e-9));
    }
    bu_cpu_now(&c1);
    double other = bu_other_load(&c0, &c1);
    bu_stats_done(&mean);
    bu_stats_done(&p50);
    bu_stats_done(&p99);
    bu_stats_done(&rate);
    bu_stats_done(&c2c);
    bu_print("za_ask round trip, outside thread -> actor (mean per run)", &mean, "us", 1e3);
    bu_print("  p50 of single asks (every ask timed)", &p50, "us", 1e3);
    bu_print("  p99 of single asks (every ask timed)", &p99, "us", 1e3);
    printf("  (workers = %d; %u sequential asks per run, 8-byte payload)\n", workers, ASKS);
    bu_print_c2c(&c2c);
    bu_report_other_load("the ask runs", other);
    bu_json *j = bu_json_begin("pingpong_ask", "ns", &mean);
    bu_json_num(j, "other_load_cores", other);
    bu_json_stats(j, "c2c_round_trip_ns", &c2c);
    bu_json_str(j, "program", "bench_pingpong");
    bu_json_str(j, "what", "blocking za_ask from the main thread to an echo actor, mean per run");
    bu_json_num(j, "workers", workers);
    bu_json_num(j, "asks", ASKS);
    bu_json_stats(j, "p50_ns", &p50);
    bu_json_stats(j, "p99_ns", &p99);
    bu_json_stats(j, "asks_per_s", &rate);
    bu_json_end(j);
    free(lat);
}

int main(void) {
    za_system *sys = bu_system(0);
    int workers = za_system_workers(sys);
    bu_header("bench_pingpong", workers);

    shared sh;
    memset(&sh, 0, sizeof sh);
    bu_latch_init(&sh.done);
    sh.n = ROUND_TRIPS;
    sh.batch_ns = calloc(NBATCH, sizeof(uint64_t));
    sh.single_ns = calloc(NSAMPLE, sizeof(uint64_t));
    if (!sh.batch_ns || !sh.single_ns) bu_die("out of memory");

    bu_stats rtt, rate, b50, b99, bmax, s50, s99, smax, cross, c2c;
    bu_stats *all[] = {&rtt, &rate, &b50, &b99, &bmax, &s50, &s99, &smax, &cross, &c2c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bu_stats_init(all[i]);

    bu_cpu c0, c1;
    bu_cpu_now(&c0);
    for (int r = 0; r < BU_WARMUP + BU_RUNS; r++) {
        if (r >= BU_WARMUP) bu_c2c_add(&c2c);
        za_spawn_opts o;
        za_spawn_opts_init(&o);
        o.user = &sh;
        za_ref a, b;
        BU_CHECK(za_spawn_sync(sys, &b_beh, NULL, 0, NULL, 5000, &b));
        BU_CHECK(za_spawn_sync(sys, &a_beh, NULL, 0, &o, 5000, &a));
        sh.nbatch = sh.nsingle = 0;
        sh.bad = sh.done_count = sh.cross = 0;
        bu_latch_reset(&sh.done);
        BU_CHECK(za_tell(sys, a, T_GO, &b, sizeof b));
        if (!bu_latch_wait(&sh.done, 60.0)) bu_die("ping-pong did not finish within 60 s");
        if (sh.done_count != sh.n || sh.bad)
            bu_die("ping-pong: %llu of %llu round trips, %llu bad sequence numbers",
                   (unsigned long long)sh.done_count, (unsigned long long)sh.n,
                   (unsigned long long)sh.bad);
        if (sh.nbatch != NBATCH) bu_die("ping-pong: %llu batches", (unsigned long long)sh.nbatch);
        BU_CHECK(za_stop(sys, a));
        BU_CHECK(za_stop(sys, b));
        BU_CHECK(za_join(sys, a, 5000));
        BU_CHECK(za_join(sys, b, 5000));
        if (r < BU_WARMUP) continue;
        double total = (double)(sh.t_end - sh.t_start);
        bu_stats_add(&rtt, total / (double)sh.n);
        bu_stats_add(&rate, (double)sh.n / (total * 1e-9));
        bu_stats_add(&cross, 100.0 * (double)sh.cross / (double)sh.n);
        bu_sort_u64(sh.batch_ns, sh.nbatch);
        bu_stats_add(&b50, (double)bu_pct_sorted(sh.batch_ns, sh.nbatch, 50) / BATCH);
        bu_stats_add(&b99, (double)bu_pct_sorted(sh.batch_ns, sh.nbatch, 99) / BATCH);
        bu_stats_add(&bmax, (double)sh.batch_ns[sh.nbatch - 1] / BATCH);
        bu_sort_u64(sh.single_ns, sh.nsingle);
        bu_stats_add(&s50, (double)bu_pct_sorted(sh.single_ns, sh.nsingle, 50));
        bu_stats_add(&s99, (double)bu_pct_sorted(sh.single_ns, sh.nsingle, 99));
        bu_stats_add(&smax, (double)sh.single_ns[sh.nsingle - 1]);
    }
    bu_cpu_now(&c1);
    double other = bu_other_load(&c0, &c1);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bu_stats_done(all[i]);

    bu_print("ping-pong round trip (mean per run)", &rtt, "us", 1e3);
    bu_print("ping-pong round trips/s", &rate, "round trips/s", 0);
    bu_print("  p50 of 1000-round-trip batch means", &b50, "us", 1e3);
    bu_print("  p99 of 1000-round-trip batch means", &b99, "us", 1e3);
    bu_print("  p50 of single round trips (1 in 64 timed)", &s50, "us", 1e3);
    bu_print("  p99 of single round trips (1 in 64 timed)", &s99, "us", 1e3);
    bu_print("  max of single round trips (1 in 64 timed)", &smax, "us", 1e3);
    printf(
        "  A and B ran on different workers in %.2f%% of round trips (median; runs %.2f-%.2f%%)\n",
        cross.median, cross.min, cross.max);
    printf("  (workers = %d; %llu round trips per run, 8-byte payload)\n", workers,
           (unsigned long long)ROUND_TRIPS);

    bu_print_c2c(&c2c);
    bu_report_other_load("the runs", other);

    bu_json *j = bu_json_begin("pingpong_rtt", "ns", &rtt);
    bu_json_num(j, "other_load_cores", other);
    bu_json_stats(j, "c2c_round_trip_ns", &c2c);
    bu_json_str(j, "program", "bench_pingpong");
    bu_json_str(j, "what", "mean time per round trip of each run (run time / round trips)");
    bu_json_num(j, "workers", workers);
    bu_json_num(j, "round_trips", (double)ROUND_TRIPS);
    bu_json_stats(j, "round_trips_per_s", &rate);
    bu_json_str(j, "p99_method",
                "batch_*: percentiles of the mean of 1000 consecutive round trips; single_*: "
                "percentiles of individually timed round trips, 1 in 64 (includes 2 clock reads)");
    bu_json_stats(j, "batch_mean_p50_ns", &b50);
    bu_json_stats(j, "batch_mean_p99_ns", &b99);
    bu_json_stats(j, "batch_mean_max_ns", &bmax);
    bu_json_stats(j, "single_p50_ns", &s50);
    bu_json_stats(j, "single_p99_ns", &s99);
    bu_json_stats(j, "single_max_ns", &smax);
    bu_json_stats(j, "pct_round_trips_across_workers", &cross);
    bu_json_end(j);

    run_ask(sys, workers);

    za_system_destroy(sys);
    free(sh.batch_ns);
    free(sh.single_ns);
    bu_latch_destroy(&sh.done);
    return 0;
}
