/*
 * bench_ring.c - the Savina "thread ring": RING_SIZE actors in a ring pass a
 * token around HOPS times. Each actor receives the token (a hop counter),
 * decrements it and tells it to its successor; the actor that receives 0
 * opens the latch. One message is in flight at any time, so the ring is
 * inherently sequential: it measures the cost of one send + one actor turn.
 * The number of hops each actor forwarded is checked against the expected
 * count (HOPS / RING_SIZE, +1 for the first HOPS % RING_SIZE actors).
 */
#include "benchutil.h"

#define RING_SIZE 503u
#ifndef HOPS /* -DHOPS=... for a quick check build */
#define HOPS 10000000ull
#endif

enum { T_NEXT = 1, T_TOKEN = 2, T_HOPS = 3 };

typedef struct shared {
    uint64_t t_end;
    uint32_t last_index; /* index of the actor that saw 0 */
    bu_latch done;
} shared;

typedef struct ring_state {
    za_ref next;
    uint32_t index;
    uint64_t hops; /* tokens forwarded */
} ring_state;

typedef struct next_msg {
    za_ref next;
    uint32_t index;
} next_msg;

static int ring_receive(za_ctx *ctx, const za_msg *m) {
    ring_state *st = za_ctx_state(ctx);
    if (m->tag == T_NEXT) {
        next_msg nm;
        memcpy(&nm, m->data, sizeof nm);
        st->next = nm.next;
        st->index = nm.index;
        st->hops = 0;
        return 0;
    }
    if (m->tag != T_TOKEN) return 0;
    uint64_t v;
    memcpy(&v, m->data, sizeof v);
    if (v == 0) {
        shared *sh = za_ctx_user(ctx);
        sh->t_end = bu_now_ns();
        sh->last_index = st->index;
        bu_latch_open(&sh->done);
        return 0;
    }
    v--;
    st->hops++;
    return za_tell(za_ctx_system(ctx), st->next, T_TOKEN, &v, sizeof v);
}

/* Ask handler for the check at the end: reply with the hop count. */
static int ring_receive_or_ask(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_HOPS) {
        ring_state *st = za_ctx_state(ctx);
        return za_reply(ctx, T_HOPS, &st->hops, sizeof st->hops);
    }
    return ring_receive(ctx, m);
}

static const za_behaviour ring_beh = {ZA_BEHAVIOUR_INIT, .name = "ring",
                                      .state_size = sizeof(ring_state),
                                      .receive = ring_receive_or_ask};

int main(void) {
    za_system *sys = bu_system(0);
    int workers = za_system_workers(sys);
    bu_header("bench_ring", workers);

    shared sh;
    memset(&sh, 0, sizeof sh);
    bu_latch_init(&sh.done);
    za_ref *ring = calloc(RING_SIZE, sizeof *ring);
    if (!ring) bu_die("out of memory");

    bu_stats rate, nshop, c2c;
    bu_stats_init(&c2c);
    bu_stats_init(&rate);
    bu_stats_init(&nshop);
    bu_cpu c0, c1;
    bu_cpu_now(&c0);
    for (int r = 0; r < BU_WARMUP + BU_RUNS; r++) {
        za_spawn_opts o;
        za_spawn_opts_init(&o);
        o.user = &sh;
        for (uint32_t i = 0; i < RING_SIZE; i++)
            BU_CHECK(za_spawn_sync(sys, &ring_beh, NULL, 0, &o, 5000, &ring[i]));
        for (uint32_t i = 0; i < RING_SIZE; i++) {
            next_msg nm = {.next = ring[(i + 1) % RING_SIZE], .index = i};
            BU_CHECK(za_tell(sys, ring[i], T_NEXT, &nm, sizeof nm));
        }
        /* an ask to each actor (queued behind its NEXT) makes sure the ring
         * is wired before the clock starts */
        for (uint32_t i = 0; i < RING_SIZE; i++) {
            za_answer a;
            BU_CHECK(za_ask(sys, ring[i], T_HOPS, NULL, 0, 5000, &a));
            za_answer_free(&a);
        }
        if (r >= BU_WARMUP) bu_c2c_add(&c2c);
        bu_latch_reset(&sh.done);
        uint64_t v = HOPS;
        uint64_t t0 = bu_now_ns();
        BU_CHECK(za_tell(sys, ring[0], T_TOKEN, &v, sizeof v));
        if (!bu_latch_wait(&sh.done, 60.0)) bu_die("ring: token did not come back within 60 s");
        double secs = (double)(sh.t_end - t0) * 1e-9;
        /* check: actor i forwarded HOPS/RING_SIZE (+1 for i < HOPS%RING_SIZE) tokens */
        uint64_t total = 0;
        for (uint32_t i = 0; i < RING_SIZE; i++) {
            za_answer a;
            BU_CHECK(za_ask(sys, ring[i], T_HOPS, NULL, 0, 5000, &a));
            uint64_t h = 0;
            if (a.status != ZA_OK || a.len != sizeof h) bu_die("ring: bad answer from actor %u", i);
            memcpy(&h, a.data, sizeof h);
            za_answer_free(&a);
            uint64_t want = HOPS / RING_SIZE + (i < HOPS % RING_SIZE ? 1 : 0);
            if (h != want)
                bu_die("ring: actor %u forwarded %llu tokens, expected %llu", i,
                       (unsigned long long)h, (unsigned long long)want);
            total += h;
        }
        if (total != HOPS || sh.last_index != HOPS % RING_SIZE)
            bu_die("ring: %llu hops in total (want %llu), token ended at %u",
                   (unsigned long long)total, (unsigned long long)HOPS, sh.last_index);
        for (uint32_t i = 0; i < RING_SIZE; i++) BU_CHECK(za_stop(sys, ring[i]));
        for (uint32_t i = 0; i < RING_SIZE; i++) BU_CHECK(za_join(sys, ring[i], 5000));
        if (r < BU_WARMUP) continue;
        /* HOPS forwards + the final delivery of 0 = HOPS + 1 messages */
        double msgs = (double)(HOPS + 1);
        bu_stats_add(&rate, msgs / secs);
        bu_stats_add(&nshop, secs * 1e9 / msgs);
    }
    bu_cpu_now(&c1);
    double other = bu_other_load(&c0, &c1);
    bu_stats_done(&rate);
    bu_stats_done(&nshop);
    bu_stats_done(&c2c);
    char label[96];
    snprintf(label, sizeof label, "ring %u actors, %llu hops", RING_SIZE, (unsigned long long)HOPS);
    bu_print(label, &rate, "msg/s", 0);
    bu_print("ring time per hop", &nshop, "ns/hop", 1);
    printf("  (workers = %d; token = 8-byte counter; per-actor hop counts checked)\n", workers);

    bu_print_c2c(&c2c);
    bu_report_other_load("the runs", other);

    bu_json *j = bu_json_begin("ring", "msg/s", &rate);
    bu_json_num(j, "other_load_cores", other);
    bu_json_stats(j, "c2c_round_trip_ns", &c2c);
    bu_json_str(j, "program", "bench_ring");
    bu_json_num(j, "workers", workers);
    bu_json_num(j, "ring_size", RING_SIZE);
    bu_json_num(j, "hops", (double)HOPS);
    bu_json_stats(j, "ns_per_hop", &nshop);
    bu_json_end(j);

    za_system_destroy(sys);
    free(ring);
    bu_latch_destroy(&sh.done);
    return 0;
}
