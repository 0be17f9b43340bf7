/* Mailboxes: priorities, starvation prevention, system lane first, bounds and full policies. */
#include "testutil.h"

enum { T_GATE = 1, T_REC, T_COUNT, T_SELF3, T_GATE2 };

static tu_gate g_gate, g_gate2;

#define MAX_REC 20000
typedef struct rec {
    uint8_t prio;
    int32_t val;
    za_ref sender;
} rec;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static rec g_rec[MAX_REC];
static atomic_int g_nrec;
static atomic_int g_self_rc; /* T_SELF3: the failing tell's code and text */
static char g_self_err[256];
static atomic_int g_seq_errors;
static tu_dl *g_dl;

static void reset(void) {
    tu_gate_init(&g_gate);
    tu_gate_init(&g_gate2);
    atomic_store(&g_nrec, 0);
    atomic_store(&g_seq_errors, 0);
}

static int recorder_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_GATE:
        tu_gate_pass(&g_gate);
        return 0;
    case T_GATE2:
        tu_gate_pass(&g_gate2);
        return 0;
    case T_REC: {
        int32_t v = 0;
        if (m->len == sizeof v) memcpy(&v, m->data, sizeof v);
        pthread_mutex_lock(&g_mu);
        int i = atomic_load(&g_nrec);
        if (i < MAX_REC) {
            g_rec[i].prio = m->prio;
            g_rec[i].val = v;
            g_rec[i].sender = m->sender;
        }
        /* FIFO check for the plain sequence test: values arrive in order */
        pthread_mutex_unlock(&g_mu);
        atomic_fetch_add(&g_nrec, 1);
        return 0;
    }
    case T_COUNT: {
        int64_t n = atomic_load(&g_nrec);
        return za_reply(ctx, T_COUNT, &n, sizeof n);
    }
    case T_SELF3:
        for (int32_t i = 0; i < 3; i++) {
            int rc = za_tell(za_ctx_system(ctx), za_ctx_self(ctx), T_REC, &i, sizeof i);
            if (rc != ZA_OK) {
                /* the text first: the test reads it once it sees the code */
                snprintf(g_self_err, sizeof g_self_err, "%s", za_last_error());
                atomic_store(&g_self_rc, rc);
                return 1;
            }
        }
        return 0;
    default:
        return 0;
    }
}

static const za_behaviour recorder_beh = {ZA_BEHAVIOUR_INIT, .name = "recorder",
                                          .receive = recorder_receive};

static int tell_rec(za_system *sys, za_ref r, int32_t v, za_prio p) {
    return za_tell_prio(sys, r, T_REC, &v, sizeof v, p);
}

static int setup(void **st) {
    reset();
    *st = tu_system(2);
    g_dl = tu_dl_new();
    za_set_dead_letter_hook(*st, tu_dl_hook, g_dl);
    return 0;
}

static int teardown(void **st) {
    tu_gate_open(&g_gate);
    tu_gate_open(&g_gate2);
    za_system_destroy(*st);
    tu_dl_free(g_dl);
    g_dl = NULL;
    return 0;
}

/* A manual system (nothing runs until za_system_run): bounds are exact. */
static za_system *manual_with_dl(void) {
    za_system *sys = tu_manual_system();
    za_set_dead_letter_hook(sys, tu_dl_hook, g_dl);
    return sys;
}

static za_ref spawn_bounded(za_system *sys, uint32_t cap, za_full_policy pol, uint32_t block_ms) {
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.capacity = cap;
    o.full_policy = pol;
    o.block_timeout_ms = block_ms;
    return tu_spawn(sys, &recorder_beh, NULL, 0, &o);
}

/* Block the actor inside receive so everything sent next queues up. */
static void hold(za_system *sys, za_ref r) {
    assert_int_equal(za_tell(sys, r, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
}

/* ------------------------------------------------------------------ tests */

static void test_priority_order(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &recorder_beh, NULL, 0, NULL);
    hold(sys, r);
    for (int32_t i = 0; i < 4; i++) {
        assert_int_equal(tell_rec(sys, r, 200 + i, ZA_PRIO_LOW), ZA_OK);
        assert_int_equal(tell_rec(sys, r, 100 + i, ZA_PRIO_NORMAL), ZA_OK);
        assert_int_equal(tell_rec(sys, r, 0 + i, ZA_PRIO_HIGH), ZA_OK);
    }
    tu_gate_open(&g_gate);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 12);
    const int32_t want[12] = {0, 1, 2, 3, 100, 101, 102, 103, 200, 201, 202, 203};
    for (int i = 0; i < 12; i++) {
        assert_int_equal(g_rec[i].val, want[i]);
        assert_int_equal(g_rec[i].prio, want[i] / 100 == 0   ? ZA_PRIO_HIGH
                                        : want[i] / 100 == 1 ? ZA_PRIO_NORMAL
                                                             : ZA_PRIO_LOW);
    }
}

static void check_lane_fifo(int n) {
    int32_t last[3] = {-1, -1, -1};
    for (int i = 0; i < n; i++) {
        int lane = g_rec[i].val / 1000;
        assert_in_range(lane, 0, 2);
        assert_int_equal(g_rec[i].prio, lane);
        assert_true(g_rec[i].val > last[lane]);
        last[lane] = g_rec[i].val;
    }
}

static void test_starvation_prevention(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &recorder_beh, NULL, 0, NULL);
    hold(sys, r);
    for (int32_t i = 0; i < 40; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_HIGH), ZA_OK);
    for (int32_t i = 0; i < 5; i++)
        assert_int_equal(tell_rec(sys, r, 1000 + i, ZA_PRIO_NORMAL), ZA_OK);
    for (int32_t i = 0; i < 5; i++)
        assert_int_equal(tell_rec(sys, r, 2000 + i, ZA_PRIO_LOW), ZA_OK);
    tu_gate_open(&g_gate);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 50);
    check_lane_fifo(50);
    int first_normal = -1, first_low = -1, max_high_run = 0, run = 0;
    for (int i = 0; i < 50; i++) {
        int lane = g_rec[i].val / 1000;
        if (lane == 1 && first_normal < 0) first_normal = i;
        if (lane == 2 && first_low < 0) first_low = i;
        run = lane == 0 ? run + 1 : 0;
        if (run > max_high_run) max_high_run = run;
    }
    /* a normal message gets a turn after 8 high ones, a low one after 16 above-low ones */
    assert_in_range(first_normal, 1, 8);
    assert_in_range(first_low, 1, 16);
    assert_true(max_high_run <= 8);
    /* yet high still dominates: most of the first 20 are high */
    int high_in_20 = 0;
    for (int i = 0; i < 20; i++) high_in_20 += g_rec[i].val < 1000;
    assert_true(high_in_20 >= 15);
}

static void test_low_not_starved_by_normal(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &recorder_beh, NULL, 0, NULL);
    hold(sys, r);
    for (int32_t i = 0; i < 40; i++)
        assert_int_equal(tell_rec(sys, r, 1000 + i, ZA_PRIO_NORMAL), ZA_OK);
    for (int32_t i = 0; i < 3; i++)
        assert_int_equal(tell_rec(sys, r, 2000 + i, ZA_PRIO_LOW), ZA_OK);
    tu_gate_open(&g_gate);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 43);
    check_lane_fifo(43);
    int first_low = -1;
    for (int i = 0; i < 43 && first_low < 0; i++)
        if (g_rec[i].val >= 2000) first_low = i;
    assert_in_range(first_low, 1, 16);
}

static void test_fifo_single_sender(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &recorder_beh, NULL, 0, NULL);
    const int32_t n = (int32_t)(tu_size(10000) < MAX_REC ? tu_size(10000) : MAX_REC);
    for (int32_t i = 0; i < n; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_COUNT), n);
    for (int32_t i = 0; i < n; i++) assert_int_equal(g_rec[i].val, i);
}

static void test_tell_self(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &recorder_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, r, T_SELF3, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(g_rec[i].val, i);
        assert_true(g_rec[i].sender == r);
    }
}

static void test_system_messages_first(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &recorder_beh, NULL, 0, NULL);
    hold(sys, r);
    for (int32_t i = 0; i < 5; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_HIGH), ZA_OK);
    assert_int_equal(za_stop(sys, r), ZA_OK);
    tu_gate_open(&g_gate);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    /* the stop overtook every queued user message */
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_DEAD_TARGET) == 5);
    assert_int_equal(atomic_load(&g_nrec), 0);
}

static void test_bounded_fail(void **st) {
    (void)st;
    za_system *sys = manual_with_dl();
    za_ref r = spawn_bounded(sys, 4, ZA_FULL_FAIL, 0);
    assert_true(za_system_run(sys, 0) > 0); /* start */
    for (int32_t i = 0; i < 4; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_NORMAL), ZA_OK);
    za_actor_info info;
    assert_int_equal(za_actor_info_get(sys, r, &info), ZA_OK);
    assert_int_equal(info.mailbox_depth, 4);
    ASSERT_ERR(tell_rec(sys, r, 4, ZA_PRIO_NORMAL), ZA_EFULL);
    ASSERT_ERR(tell_rec(sys, r, 5, ZA_PRIO_HIGH), ZA_EFULL); /* the bound covers every lane */
    atomic_int dtors = 0;
    tu_obj *o = tu_obj_new(1, &dtors);
    ASSERT_ERR(za_tell_ptr(sys, r, T_REC, o, tu_obj_dtor, ZA_PRIO_LOW), ZA_EFULL);
    assert_int_equal(atomic_load(&dtors), 0); /* still ours */
    tu_obj_dtor(o);
    za_answer a;
    assert_int_equal(za_ask(sys, r, T_COUNT, NULL, 0, 100, &a), ZA_EFULL);
    za_answer_free(&a);
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_nrec), 4);
    for (int i = 0; i < 4; i++) assert_int_equal(g_rec[i].val, i);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DROPPED), 0);
    /* room again */
    for (int32_t i = 0; i < 4; i++)
        assert_int_equal(tell_rec(sys, r, 10 + i, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tell_rec(sys, r, 14, ZA_PRIO_NORMAL), ZA_EFULL);
    /* system messages are not bounded: a stop gets through a full mailbox, and first */
    assert_int_equal(za_stop(sys, r), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_nrec), 4);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DEAD_TARGET), 4);
    za_system_destroy(sys);
}

static void test_bounded_drop_newest(void **st) {
    (void)st;
    za_system *sys = manual_with_dl();
    za_ref r = spawn_bounded(sys, 3, ZA_FULL_DROP_NEWEST, 0);
    za_system_run(sys, 0);
    for (int32_t i = 1; i <= 3; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_NORMAL), ZA_OK);
    for (int32_t i = 4; i <= 5; i++)
        assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_NORMAL), ZA_EDROPPED);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DROPPED), 2); /* synchronously, on the sender */
    pthread_mutex_lock(&g_dl->mu);
    assert_int_equal(g_dl->rec[0].first8, 4);
    assert_int_equal(g_dl->rec[1].first8, 5);
    assert_true(g_dl->rec[0].target == r);
    pthread_mutex_unlock(&g_dl->mu);
    /* a dropped ptr message is destroyed (ZA_EDROPPED is not an error return) */
    atomic_int dtors = 0;
    assert_int_equal(za_tell_ptr(sys, r, T_REC, tu_obj_new(1, &dtors), tu_obj_dtor, 0),
                     ZA_EDROPPED);
    assert_int_equal(atomic_load(&dtors), 1);
    /* a dropped ask is answered */
    za_answer a;
    assert_int_equal(za_ask(sys, r, T_COUNT, NULL, 0, 1000, &a), ZA_EDROPPED);
    assert_int_equal(a.status, ZA_EDROPPED);
    za_answer_free(&a);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DROPPED), 4);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.dead_letters, 4);
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_nrec), 3);
    for (int i = 0; i < 3; i++) assert_int_equal(g_rec[i].val, i + 1);
    za_system_destroy(sys);
}

static void test_bounded_drop_oldest(void **st) {
    (void)st;
    za_system *sys = manual_with_dl();
    za_ref r = spawn_bounded(sys, 3, ZA_FULL_DROP_OLDEST, 0);
    za_system_run(sys, 0);
    for (int32_t i = 1; i <= 5; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_NORMAL), ZA_OK);
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_nrec), 3);
    for (int i = 0; i < 3; i++) assert_int_equal(g_rec[i].val, i + 3);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DROPPED), 2);
    pthread_mutex_lock(&g_dl->mu);
    assert_int_equal(g_dl->rec[0].first8, 1);
    assert_int_equal(g_dl->rec[1].first8, 2);
    pthread_mutex_unlock(&g_dl->mu);
    /* once drained, the bound is back to normal: no more drops */
    for (int32_t i = 6; i <= 8; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_NORMAL), ZA_OK);
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_nrec), 6);
    assert_int_equal(g_rec[5].val, 8);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DROPPED), 2);
    za_system_destroy(sys);
}

static void test_bounded_block_times_out(void **st) {
    (void)st;
    za_system *sys = manual_with_dl();
    za_ref r = spawn_bounded(sys, 2, ZA_FULL_BLOCK, 50);
    za_system_run(sys, 0);
    assert_int_equal(tell_rec(sys, r, 1, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tell_rec(sys, r, 2, ZA_PRIO_NORMAL), ZA_OK);
    uint64_t t0 = tu_now_ms();
    ASSERT_ERR(tell_rec(sys, r, 3, ZA_PRIO_NORMAL), ZA_EFULL);
    assert_true(tu_now_ms() - t0 >= 45); /* it did wait (a lower bound only) */
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_nrec), 2);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DROPPED), 0);
    za_system_destroy(sys);
}

static void test_bounded_room_after_consume(void **st) {
    /* Once the actor has taken its messages out of the mailbox, the bound
     * must let new ones in, even while the actor is still busy. */
    za_system *sys = *st;
    za_ref r = spawn_bounded(sys, 2, ZA_FULL_FAIL, 0);
    assert_int_equal(za_tell(sys, r, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    assert_int_equal(za_tell(sys, r, T_GATE2, NULL, 0), ZA_OK);
    tu_gate_open(&g_gate);
    ASSERT_EVENTUALLY(atomic_load(&g_gate2.entered) == 1);
    /* the mailbox is empty now (the actor is inside its last message) */
    za_actor_info info;
    assert_int_equal(za_actor_info_get(sys, r, &info), ZA_OK);
    assert_int_equal(info.mailbox_depth, 0);
    assert_int_equal(tell_rec(sys, r, 1, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tell_rec(sys, r, 2, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tell_rec(sys, r, 3, ZA_PRIO_NORMAL), ZA_EFULL);
    tu_gate_open(&g_gate2);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 2);
    assert_int_equal(g_rec[0].val, 1);
    assert_int_equal(g_rec[1].val, 2);
}

static int slow_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_REC) tu_sleep_us(100);
    return recorder_receive(ctx, m);
}

static const za_behaviour slow_beh = {ZA_BEHAVIOUR_INIT, .name = "slow", .receive = slow_receive};

static void test_bounded_block_waits_for_room(void **st) {
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.capacity = 2;
    o.full_policy = ZA_FULL_BLOCK;
    o.block_timeout_ms = TU_WAIT_MS;
    za_ref r = tu_spawn(sys, &slow_beh, NULL, 0, &o);
    const int32_t n = (int32_t)(tu_size(400) < MAX_REC ? tu_size(400) : MAX_REC);
    for (int32_t i = 0; i < n; i++) assert_int_equal(tell_rec(sys, r, i, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_COUNT), n);
    for (int32_t i = 0; i < n; i++) assert_int_equal(g_rec[i].val, i);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DROPPED), 0);
}

static void test_block_on_own_full_mailbox_fails_fast(void **st) {
    /* an actor cannot make room in its own mailbox during its turn: waiting
     * would only burn the block timeout, so the tell fails at once */
    za_system *sys = *st;
    za_ref r = spawn_bounded(sys, 2, ZA_FULL_BLOCK, 3 * TU_WAIT_MS);
    atomic_store(&g_self_rc, 0);
    uint64_t t0 = tu_now_ms();
    assert_int_equal(za_tell(sys, r, T_SELF3, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_self_rc) != 0);
    assert_true(tu_now_ms() - t0 < TU_WAIT_MS);
    assert_int_equal(atomic_load(&g_self_rc), ZA_EFULL);
    assert_non_null(strstr(g_self_err, "deadlock"));
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 2); /* the two accepted ones arrive */
}

typedef struct blocked_sender {
    za_system *sys;
    za_ref to;
    atomic_int started;
    int rc;
} blocked_sender;

static void *blocked_sender_main(void *p) {
    blocked_sender *b = p;
    atomic_store(&b->started, 1);
    b->rc = tell_rec(b->sys, b->to, 2, ZA_PRIO_NORMAL);
    return NULL;
}

static void test_block_sender_released_by_stop(void **st) {
    /* a sender blocked on a full mailbox does not sit out its whole timeout
     * when the actor dies, and its message is not lost silently */
    (void)st;
    za_system *sys = manual_with_dl();
    za_ref r = spawn_bounded(sys, 1, ZA_FULL_BLOCK, 3 * TU_WAIT_MS);
    za_system_run(sys, 0);
    assert_int_equal(tell_rec(sys, r, 1, ZA_PRIO_NORMAL), ZA_OK);
    blocked_sender b = {.sys = sys, .to = r, .rc = 1};
    pthread_t th;
    uint64_t t0 = tu_now_ms();
    assert_int_equal(pthread_create(&th, NULL, blocked_sender_main, &b), 0);
    ASSERT_EVENTUALLY(atomic_load(&b.started));
    tu_sleep_ms(20);
    assert_int_equal(za_stop(sys, r), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    pthread_join(th, NULL);
    assert_true(tu_now_ms() - t0 < 2 * TU_WAIT_MS);
    assert_true(b.rc == ZA_OK || b.rc == ZA_EDEAD || b.rc == ZA_EFULL);
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_nrec), 0);
    /* message 1, and message 2 if it was accepted, are dead letters */
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DEAD_TARGET), b.rc == ZA_OK ? 2 : 1);
    za_system_destroy(sys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_starvation_prevention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_low_not_starved_by_normal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_single_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tell_self, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_messages_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_drop_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_drop_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_block_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_room_after_consume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_block_waits_for_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_sender_released_by_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_on_own_full_mailbox_fails_fast, setup, teardown),
    };
    return cmocka_run_group_tests_name("mailbox", tests, NULL, NULL);
}
