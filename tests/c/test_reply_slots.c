/* The reply_slots gauge (za_metrics, Prometheus): asks awaiting an answer.
 * Every way an ask ends (answered, failed, timed out, cancelled, abandoned,
 * sent to a dead actor, answered late, held by an actor and answered
 * later) brings it back to zero: a leak check users and tests can rely on. */
#include "testutil.h"

enum { T_ECHO = 1, T_HOLD, T_ANSWER, T_CRASH, T_SILENT, T_ASK_FROM, T_ASK_GOT };

static int s_receive(za_ctx *ctx, const za_msg *m) {
    za_reply_slot **held = za_ctx_state(ctx);
    switch (m->tag) {
    case T_ECHO:
        return za_reply(ctx, T_ECHO, m->data, m->len);
    case T_HOLD: /* keep the ask's reply slot: answered by a later T_ANSWER */
        if (*held) za_reply_send(za_ctx_system(ctx), *held, T_ANSWER, "next", 4);
        *held = za_ctx_take_reply(ctx);
        return 0;
    case T_ANSWER:
        if (*held) za_reply_send(za_ctx_system(ctx), *held, T_ANSWER, "late", 4);
        *held = NULL;
        return 0;
    case T_CRASH:
        za_ctx_fail(ctx, 3, "crash requested");
        return 1;
    case T_ASK_FROM: { /* ask the ref in the payload from inside an actor, 20 ms timeout */
        za_ref to;
        memcpy(&to, m->data, sizeof to);
        uint64_t corr;
        return za_ctx_ask(ctx, to, T_SILENT, NULL, 0, 20, &corr) == ZA_OK ? 0 : 1;
    }
    default: /* T_SILENT, replies and timeouts: no answer */
        return 0;
    }
}

/* A taken slot is the actor's to answer, also when it stops. */
static void s_stop(za_ctx *ctx) {
    za_reply_slot **held = za_ctx_state(ctx);
    if (*held) za_reply_error(za_ctx_system(ctx), *held, ZA_EDEAD, "stopped");
    *held = NULL;
}

static const za_behaviour s_beh = {ZA_BEHAVIOUR_INIT, .name = "slots",
                                   .state_size = sizeof(za_reply_slot *), .receive = s_receive,
                                   .stop = s_stop};

static uint64_t slots(za_system *sys) {
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    return m.reply_slots;
}

/* Everything told to `to` before this has been handled (FIFO mailbox). */
static void sync_with(za_system *sys, za_ref to) {
    za_answer ans;
    assert_int_equal(za_ask(sys, to, T_ECHO, NULL, 0, TU_WAIT_MS, &ans), ZA_OK);
    za_answer_free(&ans);
}

static int setup(void **st) {
    *st = tu_system(2);
    return 0;
}

static int teardown(void **st) {
    za_system_shutdown(*st, TU_WAIT_MS);
    za_system_destroy(*st);
    return 0;
}

static void test_answered_and_failed_asks(void **st) {
    za_system *sys = *st;
    assert_int_equal(slots(sys), 0);
    za_ref a = tu_spawn(sys, &s_beh, NULL, 0, NULL);
    for (int i = 0; i < 200; i++) {
        za_answer ans;
        assert_int_equal(za_ask(sys, a, T_ECHO, "x", 1, TU_WAIT_MS, &ans), ZA_OK);
        za_answer_free(&ans);
    }
    /* a receive that returns without answering: the runtime answers */
    za_answer ans;
    assert_int_not_equal(za_ask(sys, a, T_SILENT, NULL, 0, TU_WAIT_MS, &ans), ZA_OK);
    za_answer_free(&ans);
    /* a failing actor: the asker gets the failure */
    assert_int_equal(za_ask(sys, a, T_CRASH, NULL, 0, TU_WAIT_MS, &ans), ZA_EFAILED);
    za_answer_free(&ans);
    /* a dead target: refused at the send, or answered by its dead letter */
    za_ref b = tu_spawn(sys, &s_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, b), ZA_OK);
    assert_int_equal(za_join(sys, b, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_ask(sys, b, T_ECHO, NULL, 0, TU_WAIT_MS, &ans), ZA_EDEAD);
    za_answer_free(&ans);
    ASSERT_EVENTUALLY(slots(sys) == 0);
}

static void test_held_slot_counts_until_answered(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &s_beh, NULL, 0, NULL);
    za_ask_wait_handle *h;
    assert_int_equal(za_ask_start(sys, a, T_HOLD, NULL, 0, &h), ZA_OK);
    za_answer ans;
    assert_int_equal(za_ask_wait(h, 20, &ans), ZA_EAGAIN); /* held by the actor */
    assert_int_equal(slots(sys), 1);
    assert_int_equal(za_tell(sys, a, T_ANSWER, NULL, 0), ZA_OK);
    int rc;
    while ((rc = za_ask_wait(h, 100, &ans)) == ZA_EAGAIN) {
    }
    assert_int_equal(rc, ZA_OK);
    assert_memory_equal(ans.data, "late", 4);
    za_answer_free(&ans);
    za_ask_wait_release(h);
    ASSERT_EVENTUALLY(slots(sys) == 0);
}

static void test_timeouts_and_late_answers(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &s_beh, NULL, 0, NULL);
    /* a blocking ask that times out, then its answer comes late */
    za_answer ans;
    assert_int_equal(za_ask(sys, a, T_HOLD, NULL, 0, 20, &ans), ZA_ETIMEDOUT);
    za_answer_free(&ans);
    assert_int_equal(slots(sys), 0); /* gave up: waits for nothing */
    assert_int_equal(za_tell(sys, a, T_ANSWER, NULL, 0), ZA_OK);
    /* asks from inside an actor that time out (the target never answers) */
    za_ref silent = tu_spawn(sys, &s_beh, NULL, 0, NULL);
    for (int i = 0; i < 50; i++)
        assert_int_equal(za_tell(sys, a, T_ASK_FROM, &silent, sizeof silent), ZA_OK);
    /* a sliced ask abandoned while the actor holds its slot */
    za_ask_wait_handle *h;
    assert_int_equal(za_ask_start(sys, silent, T_HOLD, NULL, 0, &h), ZA_OK);
    za_ask_abandon(h);
    ASSERT_EVENTUALLY(slots(sys) == 0);
    assert_int_equal(za_tell(sys, silent, T_ANSWER, NULL, 0), ZA_OK); /* a late reply */
    sync_with(sys, silent);
    /* (a may still be asking silent: the gauge settles at zero) */
    ASSERT_EVENTUALLY(slots(sys) == 0);
}

static atomic_int g_cb;
static void count_cb(za_answer *ans, void *ud) {
    (void)ud;
    za_answer_free(ans);
    atomic_fetch_add(&g_cb, 1);
}

static void test_async_asks_cancelled(void **st) {
    za_system *sys = *st;
    atomic_store(&g_cb, 0);
    za_ref a = tu_spawn(sys, &s_beh, NULL, 0, NULL);
    enum { N = 100 };
    za_ask_handle *hs[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(
            za_ask_async(sys, a, i % 2 ? T_HOLD : T_ECHO, NULL, 0, 0, count_cb, NULL, &hs[i]),
            ZA_OK);
    for (int i = 0; i < N; i++) {
        za_ask_cancel(hs[i]);
        za_ask_handle_release(hs[i]);
    }
    ASSERT_EVENTUALLY(atomic_load(&g_cb) == N);
    ASSERT_EVENTUALLY(slots(sys) == 0);
    /* answered after they were cancelled: late replies, still zero */
    assert_int_equal(za_tell(sys, a, T_ANSWER, NULL, 0), ZA_OK);
    sync_with(sys, a);
    assert_int_equal(slots(sys), 0);
    /* spawn_sync waits on a slot too */
    za_ref c;
    assert_int_equal(za_spawn_sync(sys, &s_beh, NULL, 0, NULL, TU_WAIT_MS, &c), ZA_OK);
    assert_int_equal(slots(sys), 0);
}

static void test_prometheus_gauge(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &s_beh, NULL, 0, NULL);
    za_ask_wait_handle *h;
    assert_int_equal(za_ask_start(sys, a, T_HOLD, NULL, 0, &h), ZA_OK);
    ASSERT_EVENTUALLY(slots(sys) == 1);
    char buf[16384];
    int n = za_metrics_prometheus(sys, buf, sizeof buf);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    assert_non_null(strstr(buf, "# TYPE zactor_reply_slots gauge\nzactor_reply_slots 1\n"));
    za_ask_abandon(h);
    n = za_metrics_prometheus(sys, buf, sizeof buf);
    assert_non_null(strstr(buf, "\nzactor_reply_slots 0\n"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answered_and_failed_asks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_slot_counts_until_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeouts_and_late_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_asks_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_gauge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
