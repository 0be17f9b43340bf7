/* Behaviour hosts (how bindings plug in): enter/leave bracketing, exclusivity, limits. */
#include "testutil.h"

enum { T_WORK = 1, T_GET, T_CRASH };

#define MAXW 8
typedef struct host_state {
    atomic_int entered[MAXW]; /* per worker: inside enter..leave */
    atomic_int enters, leaves;
    atomic_int inside;      /* receives running right now */
    atomic_int max_inside;  /* the most seen at once */
    atomic_int not_entered; /* receives that ran outside enter..leave */
    atomic_int bad_worker;
} host_state;

static void host_enter(void *ud, int worker) {
    host_state *h = ud;
    if (worker < 0 || worker >= MAXW) {
        atomic_fetch_add(&h->bad_worker, 1);
        return;
    }
    if (atomic_exchange(&h->entered[worker], 1) != 0) atomic_fetch_add(&h->bad_worker, 1);
    atomic_fetch_add(&h->enters, 1);
}

static void host_leave(void *ud, int worker) {
    host_state *h = ud;
    if (worker < 0 || worker >= MAXW) {
        atomic_fetch_add(&h->bad_worker, 1);
        return;
    }
    if (atomic_exchange(&h->entered[worker], 0) != 1) atomic_fetch_add(&h->bad_worker, 1);
    atomic_fetch_add(&h->leaves, 1);
}

typedef struct hosted {
    int64_t count;
} hosted;

static int hosted_receive(za_ctx *ctx, const za_msg *m) {
    hosted *s = za_ctx_state(ctx);
    host_state *h = za_ctx_user(ctx);
    switch (m->tag) {
    case T_WORK: {
        if (h) {
            int w = za_ctx_worker(ctx);
            if (w < 0 || w >= MAXW || !atomic_load(&h->entered[w]))
                atomic_fetch_add(&h->not_entered, 1);
            int now = atomic_fetch_add(&h->inside, 1) + 1;
            int prev = atomic_load(&h->max_inside);
            while (now > prev && !atomic_compare_exchange_weak(&h->max_inside, &prev, now)) {
            }
            for (volatile int i = 0; i < 200; i++) {
            }
            atomic_fetch_sub(&h->inside, 1);
        }
        s->count++;
        return 0;
    }
    case T_GET:
        return za_reply(ctx, T_GET, &s->count, sizeof s->count);
    case T_CRASH:
        return 1;
    default:
        return 0;
    }
}

static int setup(void **st) {
    *st = tu_system(2);
    return 0;
}

static int teardown(void **st) {
    za_system_destroy(*st);
    return 0;
}

typedef struct flood {
    za_system *sys;
    za_ref *to;
    int nto, n;
} flood;

static void *flood_main(void *p) {
    flood *f = p;
    for (int i = 0; i < f->n; i++) za_tell(f->sys, f->to[i % f->nto], T_WORK, NULL, 0);
    return NULL;
}

static void run_host_test(za_system *sys, int exclusive) {
    host_state *hs = calloc(1, sizeof *hs);
    assert_non_null(hs);
    za_host host = {.name = "testhost",
                    .exclusive = exclusive,
                    .budget_us = 500,
                    .enter = host_enter,
                    .leave = host_leave,
                    .host_ud = hs};
    za_behaviour beh = {ZA_BEHAVIOUR_INIT, .name = "hosted", .state_size = sizeof(hosted),
                        .receive = hosted_receive, .host = &host};
    za_behaviour native = {ZA_BEHAVIOUR_INIT, .name = "native", .state_size = sizeof(hosted),
                           .receive = hosted_receive};
    enum { N = 8, T = 2 };
    za_ref r[N], nat[2];
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.user = hs;
    for (int i = 0; i < N; i++) r[i] = tu_spawn(sys, &beh, NULL, 0, &o);
    for (int i = 0; i < 2; i++) nat[i] = tu_spawn(sys, &native, NULL, 0, NULL);
    const int n = (int)tu_size(8000);
    flood f[T + 1];
    pthread_t th[T + 1];
    for (int i = 0; i < T; i++) {
        f[i] = (flood){sys, r, N, n};
        assert_int_equal(pthread_create(&th[i], NULL, flood_main, &f[i]), 0);
    }
    f[T] = (flood){sys, nat, 2, n};
    assert_int_equal(pthread_create(&th[T], NULL, flood_main, &f[T]), 0);
    for (int i = 0; i <= T; i++) pthread_join(th[i], NULL);
    int64_t total = 0;
    for (int i = 0; i < N; i++) total += tu_ask_i64(sys, r[i], T_GET);
    assert_int_equal(total, T * n);
    assert_int_equal(tu_ask_i64(sys, nat[0], T_GET) + tu_ask_i64(sys, nat[1], T_GET), n);
    /* hosted receives always ran between enter and leave on their worker */
    assert_int_equal(atomic_load(&hs->not_entered), 0);
    assert_int_equal(atomic_load(&hs->bad_worker), 0);
    assert_true(atomic_load(&hs->enters) > 0);
    if (exclusive) assert_int_equal(atomic_load(&hs->max_inside), 1);
    /* once idle, every enter has its leave */
    ASSERT_EVENTUALLY(atomic_load(&hs->enters) == atomic_load(&hs->leaves));
    /* supervision works for hosted actors too */
    assert_int_equal(za_tell(sys, r[0], T_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r[0], T_GET), 0);
    za_actor_info info;
    assert_int_equal(za_actor_info_get(sys, r[0], &info), ZA_OK);
    assert_int_equal(info.restarts, 1);
    /* the system must not use the host after it is gone: destroy first */
    za_system_destroy(sys);
    assert_int_equal(atomic_load(&hs->enters), atomic_load(&hs->leaves));
    free(hs);
}

static void test_exclusive_host(void **st) {
    (void)st;
    run_host_test(tu_system(2), 1);
}

static void test_shared_host(void **st) {
    (void)st;
    run_host_test(tu_system(2), 0);
}

static void test_host_in_manual_mode(void **st) {
    (void)st;
    za_system *sys = tu_manual_system();
    host_state *hs = calloc(1, sizeof *hs);
    za_host host = {
        .name = "m", .exclusive = 1, .enter = host_enter, .leave = host_leave, .host_ud = hs};
    za_behaviour beh = {ZA_BEHAVIOUR_INIT, .name = "hosted", .state_size = sizeof(hosted),
                        .receive = hosted_receive, .host = &host};
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.user = hs;
    za_ref r = tu_spawn(sys, &beh, NULL, 0, &o);
    for (int i = 0; i < 10; i++) assert_int_equal(za_tell(sys, r, T_WORK, NULL, 0), ZA_OK);
    assert_true(za_system_run(sys, 0) > 0);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 10);
    assert_int_equal(atomic_load(&hs->not_entered), 0);
    assert_int_equal(atomic_load(&hs->enters), atomic_load(&hs->leaves));
    za_system_destroy(sys);
    free(hs);
}

static void test_too_many_hosts(void **st) {
    za_system *sys = *st;
    static za_host hosts[9];
    static za_behaviour behs[9]; /* must outlive the actors */
    int ok = 0;
    for (int i = 0; i < 9; i++) {
        hosts[i] = (za_host){.name = "h", .exclusive = i % 2};
        behs[i] = (za_behaviour){ZA_BEHAVIOUR_INIT, .name = "b", .state_size = sizeof(hosted),
                                 .receive = hosted_receive, .host = &hosts[i]};
        za_ref r;
        int rc = za_spawn(sys, &behs[i], NULL, 0, NULL, &r);
        if (rc == ZA_OK) {
            ok++;
            assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
        } else {
            assert_int_equal(rc, ZA_EINVAL);
            assert_true(za_last_error()[0] != '\0');
        }
    }
    assert_int_equal(ok, 8); /* at most 8 distinct hosts */
    /* an already known host is still fine */
    za_ref r;
    assert_int_equal(za_spawn(sys, &behs[0], NULL, 0, NULL, &r), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exclusive_host),
        cmocka_unit_test(test_shared_host),
        cmocka_unit_test(test_host_in_manual_mode),
        cmocka_unit_test_setup_teardown(test_too_many_hosts, setup, teardown),
    };
    return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
