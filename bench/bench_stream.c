/*
 * bench_stream - one stream of small messages from one actor to another
 * (the shape of Savina's counting and, per worker, fjthrput), reported as
 * ns per message next to the core-to-core cache-line round trip probed
 * just before each run (bu_c2c_ns): the floor a cross-core message path is
 * measured against (bench/RESULTS.md, issue 15).
 *
 *   bench_stream            N=5M messages, payload 0 and 8 bytes, workers 2 and 1
 *
 * With 2 workers the producer and the consumer run on different cores
 * (the consumer is stolen off the producer's worker); with 1 worker the
 * same messages cross no core, which separates the runtime's own cost per
 * message from the cache-line transfers. Writes bench/results/stream.json.
 */

#include "benchutil.h"

#ifndef N_MSGS
#define N_MSGS 5000000ull
#endif

enum { T_GO = 1, T_INC, T_GET };

typedef struct prod_state {
    za_ref sink;
    uint64_t n;
    uint32_t len;
} prod_state;

static int sink_receive(za_ctx *ctx, const za_msg *m) {
    uint64_t *count = za_ctx_state(ctx);
    if (m->tag == T_INC) {
        ++*count;
        return 0;
    }
    if (m->tag == T_GET) return za_reply(ctx, 0, count, sizeof *count);
    return 0;
}
static const za_behaviour sink_beh = {ZA_BEHAVIOUR_INIT, .name = "stream-sink",
                                      .state_size = sizeof(uint64_t), .receive = sink_receive};

/* One turn sends everything, as Savina's counting producer does. */
static int prod_receive(za_ctx *ctx, const za_msg *m) {
    prod_state *st = za_ctx_state(ctx);
    if (m->tag != T_GO || m->len != sizeof *st) return 0;
    memcpy(st, m->data, sizeof *st);
    za_system *sys = za_ctx_system(ctx);
    uint64_t payload = 42;
    for (uint64_t i = 0; i < st->n; i++) {
        int rc = za_tell(sys, st->sink, T_INC, &payload, st->len);
        if (rc) return rc;
    }
    return 0;
}
static const za_behaviour prod_beh = {ZA_BEHAVIOUR_INIT, .name = "stream-producer",
                                      .state_size = sizeof(prod_state), .receive = prod_receive};

/* One run: seconds from the go to the sink's count reaching n. */
static double one_run(int workers, uint32_t len, uint64_t n) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = workers;
    za_system *sys = NULL;
    BU_CHECK(za_system_create(&cfg, &sys));
    za_ref sink, prod;
    BU_CHECK(za_spawn(sys, &sink_beh, NULL, 0, NULL, &sink));
    BU_CHECK(za_spawn(sys, &prod_beh, NULL, 0, NULL, &prod));
    prod_state go = {sink, n, len};
    double t0 = bu_now_s();
    BU_CHECK(za_tell(sys, prod, T_GO, &go, sizeof go));
    uint64_t got = 0;
    for (int tries = 0; tries < 600000 && got != n; tries++) {
        za_answer a;
        BU_CHECK(za_ask(sys, sink, T_GET, NULL, 0, 60000, &a));
        if (a.len == sizeof got) memcpy(&got, a.data, sizeof got);
        za_answer_free(&a);
        if (got != n) bu_sleep_us(200);
    }
    double t = bu_now_s() - t0;
    if (got != n)
        bu_die("stream: sink counted %llu of %llu", (unsigned long long)got, (unsigned long long)n);
    za_system_destroy(sys);
    return t;
}

int main(void) {
    bu_header("bench_stream", 2);
    uint64_t n = N_MSGS;
    static const int workers[] = {2, 1};
    static const uint32_t lens[] = {0, 8};
    for (size_t wi = 0; wi < sizeof workers / sizeof *workers; wi++) {
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            bu_stats ns, c2c;
            bu_stats_init(&ns);
            bu_stats_init(&c2c);
            for (int r = 0; r < BU_WARMUP + BU_RUNS; r++) {
                double probe = bu_c2c_ns(BU_C2C_ITERS);
                double t = one_run(workers[wi], lens[li], n);
                if (r < BU_WARMUP) continue;
                bu_stats_add(&ns, t * 1e9 / (double)n);
                if (probe > 0) bu_stats_add(&c2c, probe);
            }
            bu_stats_done(&ns);
            bu_stats_done(&c2c);
            char label[128], name[64];
            snprintf(label, sizeof label, "stream actor->actor, %u-byte payload, %d worker%s",
                     lens[li], workers[wi], workers[wi] > 1 ? "s" : "");
            bu_print(label, &ns, "ns/msg", 1);
            bu_print_c2c(&c2c);
            if (c2c.n)
                printf("  = %.2f messages per core-to-core round trip (median)\n",
                       c2c.median / ns.median);
            snprintf(name, sizeof name, "stream_w%d_len%u", workers[wi], lens[li]);
            bu_json *j = bu_json_begin(name, "ns/msg", &ns);
            bu_json_num(j, "messages", (double)n);
            bu_json_num(j, "workers", workers[wi]);
            bu_json_num(j, "payload_bytes", lens[li]);
            if (c2c.n) bu_json_stats(j, "c2c_round_trip_ns", &c2c);
            bu_json_end(j);
        }
    }
    return 0;
}
