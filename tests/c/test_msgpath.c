/*
 * The message path after the cache-line work of issue 15 (msgnode.h's
 * layout, msgpool.c's magazines): what a user sees must not change.
 *
 * - every payload size around the node's line boundaries arrives intact,
 *   whether the message is sampled for latency or not, and the latency
 *   metrics count exactly the sampled messages;
 * - nodes allocated by threads that come and go (and so drift between
 *   per-thread magazines and the global depot) carry every message, in
 *   order per sender;
 * - an actor-to-actor stream of small messages between two workers arrives
 *   complete and in order.
 */
#include "testutil.h"

enum { T_DATA = 1, T_SUM = 2 };

/* ------------------------------------------------------------ payloads */

/* State: messages seen, bytes that were wrong. */
typedef struct check_state {
    uint64_t seen, bad;
} check_state;

/* Payload of length len: byte i is (len * 31 + i) & 0xff, so a payload
 * read from the wrong place or truncated is caught. */
static void fill(uint8_t *p, size_t len) {
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(len * 31 + i);
}

static int check_receive(za_ctx *ctx, const za_msg *m) {
    check_state *st = za_ctx_state(ctx);
    if (m->tag == T_DATA) {
        st->seen++;
        size_t len = (size_t)m->len;
        const uint8_t *p = m->data;
        if (len && !p) st->bad++;
        for (size_t i = 0; i < len; i++)
            if (p[i] != (uint8_t)(len * 31 + i)) st->bad++;
        return 0;
    }
    if (m->tag == T_SUM) {
        int64_t v[2] = {(int64_t)st->seen, (int64_t)st->bad};
        return za_reply(ctx, 0, v, sizeof v);
    }
    return 0;
}
static const za_behaviour check_beh = {ZA_BEHAVIOUR_INIT, .name = "check",
                                       .state_size = sizeof(check_state), .receive = check_receive};

static void ask_sum(za_system *sys, za_ref a, int64_t *seen, int64_t *bad) {
    za_answer ans;
    assert_int_equal(za_ask(sys, a, T_SUM, NULL, 0, TU_WAIT_MS, &ans), ZA_OK);
    assert_int_equal(ans.len, 2 * sizeof(int64_t));
    int64_t v[2];
    memcpy(v, ans.data, sizeof v);
    za_answer_free(&ans);
    *seen = v[0];
    *bad = v[1];
}

/* sample = 1: every message is timed (its enq_ns and flag are set). */
static void payload_sizes(uint32_t sample) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.latency_sample = sample;
    za_system *sys = tu_system_cfg(&cfg);
    za_ref a = tu_spawn(sys, &check_beh, NULL, 0, NULL);
    uint8_t buf[200];
    int64_t sent = 0;
    for (int round = 0; round < 50; round++) {
        for (size_t len = 0; len <= 130; len++) {
            fill(buf, len);
            assert_int_equal(za_tell(sys, a, T_DATA, buf, len), ZA_OK);
            sent++;
        }
    }
    int64_t seen, bad;
    ask_sum(sys, a, &seen, &bad);
    assert_int_equal(seen, sent);
    assert_int_equal(bad, 0);
    za_metrics mt;
    assert_int_equal(za_metrics_read(sys, &mt), ZA_OK);
    if (sample == 1) /* every user message, the ask included, was timed */
        assert_true(mt.queue_latency.count >= (uint64_t)sent);
    else
        assert_true(mt.queue_latency.count < (uint64_t)sent);
    za_system_destroy(sys);
}

static void test_payload_sizes_untimed(void **state) {
    (void)state;
    payload_sizes(64);
}

static void test_payload_sizes_all_timed(void **state) {
    (void)state;
    payload_sizes(1);
}

/* --------------------------------------------- nodes drifting between threads */

#define NSEND 4

/* FIFO per sender: payload = (sender index, sequence number). */
typedef struct fifo_state {
    uint64_t next[NSEND];
    uint64_t seen, bad;
} fifo_state;

static int fifo_receive(za_ctx *ctx, const za_msg *m) {
    fifo_state *st = za_ctx_state(ctx);
    if (m->tag == T_DATA) {
        uint64_t v[2];
        if (m->len != sizeof v) {
            st->bad++;
            return 0;
        }
        memcpy(v, m->data, sizeof v);
        if (v[0] >= NSEND || v[1] != st->next[v[0]])
            st->bad++;
        else
            st->next[v[0]]++;
        st->seen++;
        return 0;
    }
    if (m->tag == T_SUM) {
        int64_t r[2] = {(int64_t)st->seen, (int64_t)st->bad};
        return za_reply(ctx, 0, r, sizeof r);
    }
    return 0;
}
static const za_behaviour fifo_beh = {ZA_BEHAVIOUR_INIT, .name = "fifo",
                                      .state_size = sizeof(fifo_state), .receive = fifo_receive};

typedef struct sender_arg {
    za_system *sys;
    za_ref to;
    uint64_t idx, from, count;
    int errors;
} sender_arg;

static void *sender_main(void *p) {
    sender_arg *s = p;
    for (uint64_t i = 0; i < s->count; i++) {
        uint64_t v[2] = {s->idx, s->from + i};
        if (za_tell(s->sys, s->to, T_DATA, v, sizeof v) != ZA_OK) s->errors++;
    }
    return NULL; /* thread exit hands this thread's magazines back */
}

static void test_nodes_drift_between_threads(void **state) {
    (void)state;
    za_system *sys = tu_system(2);
    za_ref a = tu_spawn(sys, &fifo_beh, NULL, 0, NULL);
    uint64_t per = (uint64_t)tu_size(20000);
    /* three generations of short-lived sender threads: each one's nodes are
     * freed by a worker and reused by the next generation */
    for (uint64_t gen = 0; gen < 3; gen++) {
        pthread_t th[NSEND];
        sender_arg args[NSEND];
        for (int i = 0; i < NSEND; i++) {
            args[i] = (sender_arg){sys, a, (uint64_t)i, gen * per, per, 0};
            assert_int_equal(pthread_create(&th[i], NULL, sender_main, &args[i]), 0);
        }
        for (int i = 0; i < NSEND; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(args[i].errors, 0);
        }
    }
    int64_t seen, bad;
    ask_sum(sys, a, &seen, &bad);
    assert_int_equal(seen, (int64_t)(3 * per * NSEND));
    assert_int_equal(bad, 0);
    za_system_destroy(sys);
}

/* ------------------------------------------- actor -> actor, two workers */

typedef struct producer_state {
    za_ref sink;
    uint64_t n;
} producer_state;

/* One long turn of sends, as Savina's counting does; then a marker. */
static int producer_receive(za_ctx *ctx, const za_msg *m) {
    producer_state *st = za_ctx_state(ctx);
    if (m->tag != T_DATA || m->len != sizeof(za_ref)) return 0;
    memcpy(&st->sink, m->data, sizeof st->sink);
    for (uint64_t i = 0; i < st->n; i++) {
        uint64_t v[2] = {0, i};
        int rc = za_tell(za_ctx_system(ctx), st->sink, T_DATA, v, sizeof v);
        if (rc) return rc;
    }
    return 0;
}
static int producer_start(za_ctx *ctx, const void *args, size_t len) {
    producer_state *st = za_ctx_state(ctx);
    if (len == sizeof st->n) memcpy(&st->n, args, len);
    return 0;
}
static const za_behaviour producer_beh = {ZA_BEHAVIOUR_INIT, .name = "producer",
                                          .state_size = sizeof(producer_state),
                                          .start = producer_start, .receive = producer_receive};

static void test_actor_stream_in_order(void **state) {
    (void)state;
    za_system *sys = tu_system(2);
    za_ref sink = tu_spawn(sys, &fifo_beh, NULL, 0, NULL);
    uint64_t n = (uint64_t)tu_size(400000);
    za_ref prod = tu_spawn(sys, &producer_beh, &n, sizeof n, NULL);
    assert_int_equal(za_tell(sys, prod, T_DATA, &sink, sizeof sink), ZA_OK);
    int64_t seen = 0, bad = 0;
    /* the ask queues behind the stream only once the producer's turn has
     * sent it all; poll until then */
    uint64_t deadline = tu_now_ms() + 6 * TU_WAIT_MS;
    do {
        ask_sum(sys, sink, &seen, &bad);
        if ((uint64_t)seen == n) break;
        tu_sleep_ms(5);
    } while (tu_now_ms() < deadline);
    assert_int_equal(seen, (int64_t)n);
    assert_int_equal(bad, 0);
    za_system_destroy(sys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_sizes_untimed),
        cmocka_unit_test(test_payload_sizes_all_timed),
        cmocka_unit_test(test_nodes_drift_between_threads),
        cmocka_unit_test(test_actor_stream_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
