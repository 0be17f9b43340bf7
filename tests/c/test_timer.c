/* Timers: send_after, send_interval, cancel, dead targets, many timers. */
#include "testutil.h"

enum { T_A = 1, T_B, T_TICK, T_BIG, T_IDX };

#define MAX_REC 4096
typedef struct rec {
    int32_t tag;
    int32_t val;
    uint32_t len;
    uint64_t hash;
    uint64_t at_ns;
    za_ref sender;
} rec;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static rec g_rec[MAX_REC];
static atomic_int g_nrec;
static atomic_int g_idx_hits[MAX_REC];
static tu_dl *g_dl;

static uint64_t fnv(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int rec_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_IDX) {
        int32_t i;
        memcpy(&i, m->data, sizeof i);
        if (i >= 0 && i < MAX_REC) atomic_fetch_add(&g_idx_hits[i], 1);
        return 0;
    }
    pthread_mutex_lock(&g_mu);
    int i = atomic_load(&g_nrec);
    if (i < MAX_REC) {
        g_rec[i].tag = m->tag;
        g_rec[i].val = 0;
        if (m->len >= 4) memcpy(&g_rec[i].val, m->data, 4);
        g_rec[i].len = m->len;
        g_rec[i].hash = m->len ? fnv(m->data, m->len) : 0;
        g_rec[i].at_ns = tu_now_ns();
        g_rec[i].sender = m->sender;
    }
    pthread_mutex_unlock(&g_mu);
    atomic_fetch_add(&g_nrec, 1);
    return 0;
}

static const za_behaviour rec_beh = {ZA_BEHAVIOUR_INIT, .name = "rec", .receive = rec_receive};

static rec get_rec(int i) {
    pthread_mutex_lock(&g_mu);
    rec r = g_rec[i];
    pthread_mutex_unlock(&g_mu);
    return r;
}

static int count_tag(int32_t tag) {
    int n = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < atomic_load(&g_nrec) && i < MAX_REC; i++) n += g_rec[i].tag == tag;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static int setup(void **st) {
    atomic_store(&g_nrec, 0);
    for (int i = 0; i < MAX_REC; i++) atomic_store(&g_idx_hits[i], 0);
    *st = tu_system(2);
    g_dl = tu_dl_new();
    za_set_dead_letter_hook(*st, tu_dl_hook, g_dl);
    return 0;
}

static int teardown(void **st) {
    za_system_destroy(*st);
    tu_dl_free(g_dl);
    g_dl = NULL;
    return 0;
}

static void test_send_after(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    int32_t v = 1234;
    za_timer_id id = 0;
    uint64_t t0 = tu_now_ns();
    assert_int_equal(za_send_after(sys, 30, r, T_A, &v, sizeof v, &id), ZA_OK);
    assert_true(id != 0);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 1);
    rec x = get_rec(0);
    assert_int_equal(x.tag, T_A);
    assert_int_equal(x.val, 1234);
    assert_int_equal(x.len, sizeof v);
    assert_true(x.sender == ZA_REF_NONE);
    assert_true(x.at_ns - t0 >= 25ull * 1000000ull); /* not early (lower bound only) */
    za_metrics m;
    /* counted by the timer thread right after the enqueue */
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.timers_fired == 1);
    tu_sleep_ms(50);
    assert_int_equal(atomic_load(&g_nrec), 1); /* once */
    /* zero delay, no payload, no id wanted */
    assert_int_equal(za_send_after(sys, 0, r, T_B, NULL, 0, NULL), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 2);
    assert_int_equal(get_rec(1).tag, T_B);
    assert_int_equal(get_rec(1).len, 0);
}

static void test_big_payload(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    uint8_t buf[3000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 7u);
    za_timer_id id;
    assert_int_equal(za_send_after(sys, 1, r, T_BIG, buf, sizeof buf, NULL), ZA_OK);
    assert_int_equal(za_send_interval(sys, 1, 5, r, T_BIG, buf, sizeof buf, &id), ZA_OK);
    memset(buf, 0, sizeof buf); /* the timer kept its own copy */
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) >= 4);
    assert_int_equal(za_timer_cancel(sys, id), ZA_OK);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 7u);
    for (int i = 0; i < 4; i++) {
        rec x = get_rec(i);
        assert_int_equal(x.len, sizeof buf);
        assert_true(x.hash == fnv(buf, sizeof buf));
    }
}

static void test_interval_and_cancel(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    za_timer_id id;
    int32_t v = 7;
    assert_int_equal(za_send_interval(sys, 5, 10, r, T_TICK, &v, sizeof v, &id), ZA_OK);
    ASSERT_EVENTUALLY(count_tag(T_TICK) >= 3);
    assert_int_equal(za_timer_cancel(sys, id), ZA_OK);
    int n1 = count_tag(T_TICK);
    tu_sleep_ms(100);
    int n2 = count_tag(T_TICK);
    assert_true(n2 <= n1 + 1); /* at most one that was already on its way */
    for (int i = 0; i < n2; i++) assert_int_equal(get_rec(i).val, 7);
    ASSERT_ERR(za_timer_cancel(sys, id), ZA_ENOTFOUND);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.timers_fired, (uint64_t)n2);
}

static void test_cancel_before_fire(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    za_timer_id a, b;
    assert_int_equal(za_send_after(sys, 150, r, T_A, NULL, 0, &a), ZA_OK);
    assert_int_equal(za_send_interval(sys, 150, 10, r, T_TICK, NULL, 0, &b), ZA_OK);
    assert_true(a != b);
    assert_int_equal(za_timer_cancel(sys, a), ZA_OK);
    assert_int_equal(za_timer_cancel(sys, b), ZA_OK);
    ASSERT_ERR(za_timer_cancel(sys, a), ZA_ENOTFOUND);
    ASSERT_ERR(za_timer_cancel(sys, b), ZA_ENOTFOUND);
    tu_sleep_ms(250);
    assert_int_equal(atomic_load(&g_nrec), 0);
    /* ids are not reused in a way that lets an old id cancel a new timer */
    za_timer_id c;
    assert_int_equal(za_send_after(sys, 20, r, T_B, NULL, 0, &c), ZA_OK);
    assert_true(c != a && c != b);
    assert_int_equal(za_timer_cancel(sys, a), ZA_ENOTFOUND);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 1);
    assert_int_equal(get_rec(0).tag, T_B);
}

static void test_cancel_after_fire(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    za_timer_id id;
    assert_int_equal(za_send_after(sys, 1, r, T_A, NULL, 0, &id), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 1);
    ASSERT_ERR(za_timer_cancel(sys, id), ZA_ENOTFOUND);
    ASSERT_ERR(za_timer_cancel(sys, 0), ZA_ENOTFOUND);
    ASSERT_ERR(za_timer_cancel(sys, 12345), ZA_ENOTFOUND);
    ASSERT_ERR(za_timer_cancel(sys, ~(za_timer_id)0), ZA_ENOTFOUND);
}

static void test_timer_to_dead_actor(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, r), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    za_timer_id id;
    ASSERT_ERR(za_send_after(sys, 1, r, T_A, NULL, 0, &id), ZA_EDEAD);
    ASSERT_ERR(za_send_interval(sys, 1, 1, r, T_A, NULL, 0, &id), ZA_EDEAD);
    ASSERT_ERR(za_send_after(sys, 1, ZA_REF_NONE, T_A, NULL, 0, &id), ZA_EDEAD);

    /* the target dies while the timer is pending: a dead letter */
    za_ref r2 = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    int32_t v = 55;
    assert_int_equal(za_send_after(sys, 50, r2, T_A, &v, sizeof v, &id), ZA_OK);
    assert_int_equal(za_stop(sys, r2), ZA_OK);
    assert_int_equal(za_join(sys, r2, TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_A, ZA_DL_DEAD_TARGET) == 1);
    pthread_mutex_lock(&g_dl->mu);
    assert_int_equal(g_dl->rec[0].first8, 55);
    assert_true(g_dl->rec[0].target == r2);
    pthread_mutex_unlock(&g_dl->mu);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.timers_fired, 0);

    /* a periodic timer whose target died stops by itself after one dead letter */
    za_ref r3 = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    assert_int_equal(za_send_interval(sys, 1, 5, r3, T_TICK, NULL, 0, &id), ZA_OK);
    ASSERT_EVENTUALLY(count_tag(T_TICK) >= 2);
    assert_int_equal(za_stop(sys, r3), ZA_OK);
    assert_int_equal(za_join(sys, r3, TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_TICK, ZA_DL_DEAD_TARGET) == 1);
    tu_sleep_ms(60);
    assert_int_equal(tu_dl_count_tag(g_dl, T_TICK, ZA_DL_DEAD_TARGET), 1);
    assert_int_equal(za_timer_cancel(sys, id), ZA_ENOTFOUND);
    assert_int_equal(atomic_load(&g_nrec), count_tag(T_TICK)); /* nothing after the stop */
}

static void test_timer_order(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    assert_int_equal(za_send_after(sys, 200, r, T_B, NULL, 0, NULL), ZA_OK);
    assert_int_equal(za_send_after(sys, 100, r, T_TICK, NULL, 0, NULL), ZA_OK);
    assert_int_equal(za_send_after(sys, 1, r, T_A, NULL, 0, NULL), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_nrec) == 3);
    assert_int_equal(get_rec(0).tag, T_A);
    assert_int_equal(get_rec(1).tag, T_TICK);
    assert_int_equal(get_rec(2).tag, T_B);
}

static void test_many_timers(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    const int n = (int)tu_size(2000) > MAX_REC ? MAX_REC : (int)tu_size(2000);
    za_timer_id *ids = calloc((size_t)n, sizeof *ids);
    assert_non_null(ids);
    for (int32_t i = 0; i < n; i++)
        assert_int_equal(za_send_after(sys, (uint32_t)(i % 40), r, T_IDX, &i, sizeof i, &ids[i]),
                         ZA_OK);
    /* cancel every fifth one; some may already have fired */
    int cancelled = 0;
    bool *was_cancelled = calloc((size_t)n, sizeof *was_cancelled);
    for (int i = 0; i < n; i += 5) {
        int rc = za_timer_cancel(sys, ids[i]);
        assert_true(rc == ZA_OK || rc == ZA_ENOTFOUND);
        if (rc == ZA_OK) {
            cancelled++;
            was_cancelled[i] = true;
        }
    }
    za_metrics m;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK &&
                      m.timers_fired == (uint64_t)(n - cancelled));
    tu_sleep_ms(60);
    for (int i = 0; i < n; i++)
        assert_int_equal(atomic_load(&g_idx_hits[i]), was_cancelled[i] ? 0 : 1);
    free(ids);
    free(was_cancelled);
}

static void test_timer_bad_args(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    za_timer_id id;
    ASSERT_ERR(za_send_after(NULL, 1, r, T_A, NULL, 0, &id), ZA_EINVAL);
    ASSERT_ERR(za_send_after(sys, 1, r, T_A, NULL, 4, &id), ZA_EINVAL);
    ASSERT_ERR(za_send_interval(sys, 1, 0, r, T_A, NULL, 0, &id), ZA_EINVAL);
    ASSERT_ERR(za_send_interval(NULL, 1, 1, r, T_A, NULL, 0, &id), ZA_EINVAL);
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&g_nrec), 0);
}

static void test_pending_timers_at_destroy(void **st) {
    (void)st;
    za_system *sys = tu_system(2);
    za_ref r = tu_spawn(sys, &rec_beh, NULL, 0, NULL);
    uint8_t buf[500] = {1};
    for (int i = 0; i < 10; i++) {
        assert_int_equal(za_send_after(sys, 60000, r, T_A, buf, sizeof buf, NULL), ZA_OK);
        assert_int_equal(za_send_interval(sys, 60000, 60000, r, T_A, buf, 8, NULL), ZA_OK);
    }
    uint64_t t0 = tu_now_ms();
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    assert_true(tu_now_ms() - t0 < TU_WAIT_MS); /* did not wait for the timers */
    za_timer_id id;
    assert_true(za_send_after(sys, 1, r, T_A, NULL, 0, &id) != ZA_OK);
    za_system_destroy(sys);
    assert_int_equal(atomic_load(&g_nrec), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_fire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_after_fire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_to_dead_actor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_timers_at_destroy, setup, teardown),
    };
    return cmocka_run_group_tests_name("timer", tests, NULL, NULL);
}
