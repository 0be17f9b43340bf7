/* Call chains (csrc/chain.c): an ask carries the chain current on the
 * asking thread in its reply slot, from outside and from inside an actor;
 * tells carry none; ids are unique across threads. And
 * za_dead_letter_report: a message a binding held becomes a counted dead
 * letter. */
#include "testutil.h"

enum { T_PROBE = 1, T_RELAY = 2, T_TAKE = 3 };

static _Atomic uint64_t g_seen_chain, g_seen_taken_chain, g_ctx_after_take;
static atomic_int g_relay_rc = 1;
static _Atomic uint64_t g_relay_left; /* the chain current after the relay's ask: 0 */
static atomic_int g_seen;
static za_ref g_probe;

/* Records the chain of what it receives; T_TAKE reads it from the taken slot. */
static int probe_receive(za_ctx *ctx, const za_msg *m) {
    if (m->corr) return 0;
    atomic_store(&g_seen_chain, za_ctx_chain(ctx));
    if (m->tag == T_TAKE) {
        za_reply_slot *r = za_ctx_take_reply(ctx);
        atomic_store(&g_seen_taken_chain, za_reply_chain(r));
        atomic_store(&g_ctx_after_take, za_ctx_chain(ctx)); /* taken: the ctx has none now */
        za_reply_send(za_ctx_system(ctx), r, 0, NULL, 0);
    } else if (za_ctx_can_reply(ctx)) {
        za_reply(ctx, 0, NULL, 0);
    }
    atomic_fetch_add(&g_seen, 1);
    return 0;
}
static const za_behaviour probe_beh = {ZA_BEHAVIOUR_INIT, .name = "probe",
                                       .receive = probe_receive};

/* T_RELAY with a chain id: asks the probe with that chain current. */
static int relay_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag != T_RELAY) return 0; /* (the probe's reply) */
    uint64_t chain;
    memcpy(&chain, m->data, sizeof chain);
    uint64_t prev = za_chain_enter(chain);
    int rc = za_ctx_ask(ctx, g_probe, T_PROBE, NULL, 0, TU_WAIT_MS, NULL);
    za_chain_enter(prev);
    atomic_store(&g_relay_left, za_chain_enter(0)); /* restored: nothing leaks onwards */
    atomic_store(&g_relay_rc, rc);
    return 0;
}
static const za_behaviour relay_beh = {ZA_BEHAVIOUR_INIT, .name = "relay",
                                       .receive = relay_receive};

static uint64_t probe_chain_after(za_system *sys, int before) {
    (void)sys;
    ASSERT_EVENTUALLY(atomic_load(&g_seen) > before);
    return atomic_load(&g_seen_chain);
}

static void test_asks_carry_the_current_chain(void **st) {
    (void)st;
    za_system *sys = tu_system(2);
    g_probe = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    za_ref relay = tu_spawn(sys, &relay_beh, NULL, 0, NULL);
    za_answer a;

    /* from outside an actor, blocking and async */
    int n = atomic_load(&g_seen);
    uint64_t c = za_chain_new();
    assert_true(c != 0);
    assert_int_equal(za_chain_enter(c), 0);
    assert_int_equal(tu_ask(sys, g_probe, T_PROBE, &a), ZA_OK);
    za_answer_free(&a);
    assert_true(probe_chain_after(sys, n) == c);

    /* a tell carries none, even with a chain current */
    n = atomic_load(&g_seen);
    assert_int_equal(za_tell(sys, g_probe, T_PROBE, NULL, 0), ZA_OK);
    assert_true(probe_chain_after(sys, n) == 0);

    /* a taken slot keeps it */
    n = atomic_load(&g_seen);
    assert_int_equal(tu_ask(sys, g_probe, T_TAKE, &a), ZA_OK);
    za_answer_free(&a);
    ASSERT_EVENTUALLY(atomic_load(&g_seen) > n);
    assert_true(atomic_load(&g_seen_taken_chain) == c);
    assert_true(atomic_load(&g_ctx_after_take) == 0);

    /* none current: none carried */
    assert_true(za_chain_enter(0) == c);
    n = atomic_load(&g_seen);
    assert_int_equal(tu_ask(sys, g_probe, T_PROBE, &a), ZA_OK);
    za_answer_free(&a);
    assert_true(probe_chain_after(sys, n) == 0);

    /* from inside an actor (za_ctx_ask) */
    uint64_t c2 = za_chain_new();
    n = atomic_load(&g_seen);
    assert_int_equal(za_tell(sys, relay, T_RELAY, &c2, sizeof c2), ZA_OK);
    assert_true(probe_chain_after(sys, n) == c2);
    assert_int_equal(atomic_load(&g_relay_rc), ZA_OK);
    assert_true(atomic_load(&g_relay_left) == 0);

    /* bad input */
    assert_int_equal(za_ctx_chain(NULL), 0);
    assert_int_equal(za_reply_chain(NULL), 0);
    za_system_destroy(sys);
}

#define PER_THREAD 20000
static uint64_t g_ids[2][PER_THREAD];

static void *take_ids(void *p) {
    uint64_t *out = p;
    for (int i = 0; i < PER_THREAD; i++) out[i] = za_chain_new();
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_chain_ids_are_unique_across_threads(void **st) {
    (void)st;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, take_ids, g_ids[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    static uint64_t all[2 * PER_THREAD];
    memcpy(all, g_ids, sizeof all);
    qsort(all, 2 * PER_THREAD, sizeof all[0], cmp_u64);
    assert_true(all[0] != 0);
    for (int i = 1; i < 2 * PER_THREAD; i++) assert_true(all[i] != all[i - 1]);
}

static void test_dead_letter_report(void **st) {
    (void)st;
    za_system *sys = tu_system(1);
    tu_dl *dl = tu_dl_new();
    za_set_dead_letter_hook(sys, tu_dl_hook, dl);
    za_ref target = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    za_metrics m0, m1;
    assert_int_equal(za_metrics_read(sys, &m0), ZA_OK);
    int64_t v = 1234;
    za_msg msg = {
        .tag = 7, .kind = ZA_PAYLOAD_BYTES, .len = sizeof v, .data = &v, .sender = target};
    assert_int_equal(za_dead_letter_report(sys, target, &msg, ZA_DL_LATE_REPLY), ZA_OK);
    /* a PTR payload is described, never destroyed: the caller keeps it */
    za_msg pm = {.tag = 8, .kind = ZA_PAYLOAD_PTR, .ptr = &v};
    assert_int_equal(za_dead_letter_report(sys, target, &pm, ZA_DL_DEAD_TARGET), ZA_OK);
    assert_int_equal(v, 1234);
    assert_int_equal(atomic_load(&dl->by_reason[ZA_DL_LATE_REPLY]), 1);
    assert_int_equal(atomic_load(&dl->by_reason[ZA_DL_DEAD_TARGET]), 1);
    assert_int_equal(dl->rec[0].tag, 7);
    assert_true(dl->rec[0].target == target);
    assert_int_equal(dl->rec[0].first8, 1234);
    assert_int_equal(za_metrics_read(sys, &m1), ZA_OK);
    assert_true(m1.dead_letters == m0.dead_letters + 2);
    za_dl_record rec[4];
    uint64_t total = 0;
    int k = za_dead_letters_recent(sys, rec, 4, &total);
    assert_int_equal(k, 2);
    assert_int_equal(rec[0].reason, ZA_DL_LATE_REPLY);
    assert_string_equal(rec[1].preview, "<pointer>");
    assert_int_equal(za_dead_letter_report(NULL, target, &msg, ZA_DL_LATE_REPLY), ZA_EINVAL);
    assert_int_equal(za_dead_letter_report(sys, target, NULL, ZA_DL_LATE_REPLY), ZA_EINVAL);
    za_system_destroy(sys);
    tu_dl_free(dl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_asks_carry_the_current_chain),
        cmocka_unit_test(test_chain_ids_are_unique_across_threads),
        cmocka_unit_test(test_dead_letter_report),
    };
    return cmocka_run_group_tests_name("chain", tests, NULL, NULL);
}
