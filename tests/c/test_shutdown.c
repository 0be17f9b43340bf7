/* Shutdown and destroy: draining, refusal afterwards, children-first stop hooks, no lost messages.
 */
#include "testutil.h"

enum { T_ADD = 1, T_GET, T_GATE, T_HOP, T_HOLD, T_TRY_SHUTDOWN, T_TRY_DESTROY };

static tu_gate g_gate;
static atomic_int g_received, g_stops, g_seq;
static atomic_int g_forward_ok; /* sends made by actors that were accepted */
static atomic_int g_produced;   /* sends of the producer threads that were accepted */
static tu_dl *g_dl;

#define MAXID 128
static atomic_int g_stop_seq[MAXID];
static za_reply_slot *g_slot;
static atomic_int g_have_slot;

static void reset(void) {
    tu_gate_init(&g_gate);
    atomic_store(&g_received, 0);
    atomic_store(&g_stops, 0);
    atomic_store(&g_seq, 0);
    atomic_store(&g_forward_ok, 0);
    atomic_store(&g_produced, 0);
    atomic_store(&g_have_slot, 0);
    g_slot = NULL;
    for (int i = 0; i < MAXID; i++) atomic_store(&g_stop_seq[i], 0);
}

/* ------------------------------------------------------------- worker */

typedef struct node_args {
    int32_t id;
    int32_t nkids; /* children to spawn, ids id*4+1 .. */
    int32_t depth; /* levels below */
    za_ref next;   /* T_HOP forwards here */
} node_args;

typedef struct node {
    node_args args;
    int64_t count;
} node;

static const za_behaviour node_beh;

static int node_start(za_ctx *ctx, const void *args, size_t len) {
    node *n = za_ctx_state(ctx);
    if (len == sizeof n->args) memcpy(&n->args, args, sizeof n->args);
    if (n->args.depth > 0) {
        for (int i = 0; i < n->args.nkids; i++) {
            node_args ka = {n->args.id * 4 + 1 + i, n->args.nkids, n->args.depth - 1, 0};
            za_ref kid;
            int rc = za_ctx_spawn(ctx, &node_beh, &ka, sizeof ka, NULL, &kid);
            if (rc) return rc;
        }
    }
    return 0;
}

static void node_stop(za_ctx *ctx) {
    node *n = za_ctx_state(ctx);
    atomic_fetch_add(&g_stops, 1);
    if (n->args.id >= 0 && n->args.id < MAXID)
        atomic_store(&g_stop_seq[n->args.id], atomic_fetch_add(&g_seq, 1) + 1);
}

static int node_receive(za_ctx *ctx, const za_msg *m) {
    node *n = za_ctx_state(ctx);
    switch (m->tag) {
    case T_ADD:
        n->count++;
        atomic_fetch_add(&g_received, 1);
        return 0;
    case T_GET:
        return za_reply(ctx, T_GET, &n->count, sizeof n->count);
    case T_GATE:
        tu_gate_pass(&g_gate);
        return 0;
    case T_HOP: { /* payload: int32 hops left; forward to args.next while > 0 */
        atomic_fetch_add(&g_received, 1);
        int32_t hops;
        memcpy(&hops, m->data, sizeof hops);
        if (hops > 0 && n->args.next) {
            hops--;
            if (za_tell(za_ctx_system(ctx), n->args.next, T_HOP, &hops, sizeof hops) == ZA_OK)
                atomic_fetch_add(&g_forward_ok, 1);
        }
        return 0;
    }
    case T_HOLD:
        g_slot = za_ctx_take_reply(ctx);
        atomic_store(&g_have_slot, 1);
        return 0;
    case T_TRY_SHUTDOWN: {
        int32_t rc = za_system_shutdown(za_ctx_system(ctx), 100);
        return za_reply(ctx, T_TRY_SHUTDOWN, &rc, sizeof rc);
    }
    case T_TRY_DESTROY: {
        int32_t rc = za_system_destroy(za_ctx_system(ctx));
        return za_reply(ctx, T_TRY_DESTROY, &rc, sizeof rc);
    }
    default:
        return 0;
    }
}

static const za_behaviour node_beh = {ZA_BEHAVIOUR_INIT,          .name = "node",
                                      .state_size = sizeof(node), .start = node_start,
                                      .receive = node_receive,    .stop = node_stop};

static za_ref spawn_node(za_system *sys, int32_t id, int32_t nkids, int32_t depth, za_ref next) {
    node_args a = {id, nkids, depth, next};
    return tu_spawn(sys, &node_beh, &a, sizeof a, NULL);
}

static za_system *sys_with_dl(const za_config *cfg) {
    za_system *sys = cfg ? tu_system_cfg(cfg) : tu_system(2);
    za_set_dead_letter_hook(sys, tu_dl_hook, g_dl);
    return sys;
}

static int setup(void **st) {
    reset();
    g_dl = tu_dl_new();
    *st = NULL;
    return 0;
}

static int teardown(void **st) {
    tu_gate_open(&g_gate);
    tu_dl_free(g_dl);
    g_dl = NULL;
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_shutdown_drains(void **st) {
    za_system *sys = sys_with_dl(NULL);
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    za_ref b = spawn_node(sys, 2, 0, 0, 0);
    const int n = (int)tu_size(20000);
    for (int i = 0; i < n; i++) {
        assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
        assert_int_equal(za_tell(sys, b, T_ADD, NULL, 0), ZA_OK);
    }
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_received), 2 * n); /* everything queued was delivered */
    assert_int_equal(atomic_load(&g_dl->n), 0);
    assert_int_equal(atomic_load(&g_stops), 2);
    assert_int_equal(za_is_alive(sys, a), 0);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.actors_alive, 0);
    assert_int_equal(m.stopped, 2);
    za_system_destroy(sys);
}

static atomic_int g_cb_calls, g_cb_status;
static void count_cb(za_answer *a, void *ud) {
    (void)ud;
    atomic_store(&g_cb_status, a->status);
    za_answer_free(a);
    atomic_fetch_add(&g_cb_calls, 1);
}

static void test_refused_after_shutdown(void **st) {
    za_system *sys = sys_with_dl(NULL);
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 0);
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    ASSERT_ERR(za_tell(sys, a, T_ADD, NULL, 0), ZA_ESHUTDOWN);
    ASSERT_ERR(za_tell_prio(sys, a, T_ADD, NULL, 0, ZA_PRIO_HIGH), ZA_ESHUTDOWN);
    atomic_int dtors = 0;
    tu_obj *o = tu_obj_new(1, &dtors);
    ASSERT_ERR(za_tell_ptr(sys, a, T_ADD, o, tu_obj_dtor, ZA_PRIO_NORMAL), ZA_ESHUTDOWN);
    assert_int_equal(atomic_load(&dtors), 0);
    tu_obj_dtor(o);
    za_ref r = (za_ref)5;
    ASSERT_ERR(za_spawn(sys, &node_beh, NULL, 0, NULL, &r), ZA_ESHUTDOWN);
    assert_true(r == ZA_REF_NONE);
    ASSERT_ERR(za_spawn_sync(sys, &node_beh, NULL, 0, NULL, 1000, &r), ZA_ESHUTDOWN);
    za_answer ans;
    ASSERT_ERR(za_ask(sys, a, T_GET, NULL, 0, 1000, &ans), ZA_ESHUTDOWN);
    za_answer_free(&ans);
    atomic_store(&g_cb_calls, 0);
    ASSERT_ERR(za_ask_async(sys, a, T_GET, NULL, 0, 0, count_cb, NULL, NULL), ZA_ESHUTDOWN);
    za_timer_id t;
    assert_true(za_send_after(sys, 1, a, T_ADD, NULL, 0, &t) != ZA_OK);
    assert_true(za_stop(sys, a) != ZA_OK);
    assert_int_equal(za_is_alive(sys, a), 0);
    assert_int_equal(za_system_wait_idle(sys, 100), ZA_OK);
    /* a second shutdown is fine, and so is destroy afterwards */
    assert_int_equal(za_system_shutdown(sys, 100), ZA_OK);
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&g_cb_calls), 0);
    assert_int_equal(atomic_load(&g_received), 0);
    za_system_destroy(sys);
}

typedef struct shut_arg {
    za_system *sys;
    int rc;
} shut_arg;

static void *shutdown_main(void *p) {
    shut_arg *a = p;
    a->rc = za_system_shutdown(a->sys, TU_WAIT_MS);
    return NULL;
}

static void test_shutdown_twice_concurrently(void **st) {
    /* shutdown from two threads at once: both return ZA_OK, stop hooks run once */
    za_system *sys = sys_with_dl(NULL);
    za_ref r[5];
    for (int i = 0; i < 5; i++) r[i] = spawn_node(sys, i, 0, 0, 0);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 100; k++) assert_int_equal(za_tell(sys, r[i], T_ADD, NULL, 0), ZA_OK);
    shut_arg args[2] = {{sys, 1}, {sys, 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, shutdown_main, &args[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].rc, ZA_OK);
    }
    za_system_destroy(sys);
    assert_int_equal(atomic_load(&g_stops), 5);
    assert_int_equal(atomic_load(&g_received), 500);
}

static void test_destroy_with_live_actors(void **st) {
    za_system *sys = sys_with_dl(NULL);
    /* 3 trees: root -> 2 kids -> 2 grandkids each */
    za_ref roots[3];
    for (int i = 0; i < 3; i++) roots[i] = spawn_node(sys, 100 + i, 2, 2, 0);
    /* (a start that spawns children would be refused once shutdown began) */
    za_metrics m;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.spawned == 21);
    for (int i = 0; i < 3; i++) assert_int_equal(tu_ask_i64(sys, roots[i], T_GET), 0);
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 10; k++)
            assert_int_equal(za_tell(sys, roots[i], T_ADD, NULL, 0), ZA_OK);
    }
    za_system_destroy(sys); /* no explicit shutdown */
    assert_int_equal(atomic_load(&g_stops), 3 * (1 + 2 + 4));
    assert_int_equal(atomic_load(&g_received), 30);
}

static void test_shutdown_children_first(void **st) {
    za_system *sys = sys_with_dl(NULL);
    /* ids: root 1; kids 5, 6; grandkids 21, 22 (of 5) and 25, 26 (of 6) */
    za_ref root = spawn_node(sys, 1, 2, 2, 0);
    assert_int_equal(tu_ask_i64(sys, root, T_GET), 0);
    za_metrics m;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.actors_alive == 7);
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_stops), 7);
    int root_seq = atomic_load(&g_stop_seq[1]);
    for (int k = 0; k < 2; k++) {
        int kid = 5 + k;
        int kid_seq = atomic_load(&g_stop_seq[kid]);
        assert_true(kid_seq > 0 && kid_seq < root_seq);
        for (int g = 0; g < 2; g++) {
            int gk = kid * 4 + 1 + g;
            int gseq = atomic_load(&g_stop_seq[gk]);
            assert_true(gseq > 0 && gseq < kid_seq);
        }
    }
    za_system_destroy(sys);
}

static void test_shutdown_inside_actor_refused(void **st) {
    za_system *sys = sys_with_dl(NULL);
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    za_answer ans;
    assert_int_equal(tu_ask(sys, a, T_TRY_SHUTDOWN, &ans), ZA_OK);
    int32_t rc;
    memcpy(&rc, ans.data, sizeof rc);
    za_answer_free(&ans);
    assert_int_equal(rc, ZA_ESTATE);
    /* still running */
    assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 1);
    za_system_destroy(sys);
}

/* Destroying the system from one of its actors would free it under the
 * running worker (it did: a use after free); it is refused like shutdown. */
static void test_destroy_inside_actor_refused(void **st) {
    za_system *sys = sys_with_dl(NULL);
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    za_answer ans;
    assert_int_equal(tu_ask(sys, a, T_TRY_DESTROY, &ans), ZA_OK);
    int32_t rc;
    memcpy(&rc, ans.data, sizeof rc);
    za_answer_free(&ans);
    assert_int_equal(rc, ZA_ESTATE);
    /* untouched: still running */
    assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 1);
    assert_int_equal(za_system_destroy(sys), ZA_OK);
    assert_int_equal(za_system_destroy(NULL), ZA_OK);
}

/* In manual mode the actor runs on the caller's thread inside
 * za_system_run: neither shutdown nor destroy may run from there. */
static void test_destroy_and_shutdown_inside_manual_actor_refused(void **st) {
    za_system *sys = tu_manual_system();
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    za_ask_wait_handle *h[2];
    assert_int_equal(za_ask_start(sys, a, T_TRY_DESTROY, NULL, 0, &h[0]), ZA_OK);
    assert_int_equal(za_ask_start(sys, a, T_TRY_SHUTDOWN, NULL, 0, &h[1]), ZA_OK);
    assert_true(za_system_run(sys, 0) > 0);
    for (int i = 0; i < 2; i++) {
        za_answer ans;
        assert_int_equal(za_ask_wait(h[i], 0, &ans), ZA_OK);
        za_ask_wait_release(h[i]);
        int32_t rc;
        memcpy(&rc, ans.data, sizeof rc);
        za_answer_free(&ans);
        assert_int_equal(rc, ZA_ESTATE);
    }
    assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_true(za_system_run(sys, 0) > 0);
    assert_int_equal(atomic_load(&g_received), 1);
    assert_int_equal(za_system_destroy(sys), ZA_OK);
}

/* ------------------------------------------------ traffic in flight */

typedef struct producer {
    za_system *sys;
    za_ref *targets;
    int ntargets;
    int accepted;
    int refused;
    atomic_int *stop;
} producer;

static void *producer_main(void *p) {
    producer *pr = p;
    int32_t hops = 3;
    for (int i = 0;; i++) {
        int rc = za_tell(pr->sys, pr->targets[i % pr->ntargets], T_HOP, &hops, sizeof hops);
        if (rc == ZA_OK) {
            pr->accepted++;
            atomic_fetch_add_explicit(&g_produced, 1, memory_order_relaxed);
        } else {
            pr->refused++;
            if (rc == ZA_ESHUTDOWN) break; /* no more after shutdown began */
        }
        if (atomic_load(pr->stop)) break;
        if (i % 64 == 0) tu_sleep_us(50);
    }
    return NULL;
}

static void test_shutdown_with_messages_in_flight(void **st) {
    za_system *sys = sys_with_dl(NULL);
    enum { N = 6, P = 3 };
    /* a ring: each forwards T_HOP to the next while hops remain */
    za_ref ring[N];
    for (int i = N - 1; i >= 0; i--)
        ring[i] = spawn_node(sys, i, 0, 0, i == N - 1 ? 0 : ring[i + 1]);
    atomic_int stop = 0;
    producer prs[P];
    pthread_t th[P];
    for (int i = 0; i < P; i++) {
        prs[i] = (producer){sys, ring, N, 0, 0, &stop};
        assert_int_equal(pthread_create(&th[i], NULL, producer_main, &prs[i]), 0);
    }
    /* traffic must be flowing when shutdown begins: wait for it, not for a
     * fixed 30 ms in which a loaded machine may run no producer at all */
    assert_true(WAIT_UNTIL(atomic_load(&g_produced) >= 128, TU_WAIT_MS));
    int rc = za_system_shutdown(sys, TU_WAIT_MS);
    assert_int_equal(rc, ZA_OK);
    atomic_store(&stop, 1);
    int accepted = atomic_load(&g_forward_ok);
    for (int i = 0; i < P; i++) {
        pthread_join(th[i], NULL);
        accepted += prs[i].accepted;
        assert_true(prs[i].refused >= 1); /* they were turned away once shutdown began */
    }
    /* none lost: every accepted message was delivered or became a dead letter */
    int delivered = atomic_load(&g_received);
    int dead = atomic_load(&g_dl->n);
    assert_true(accepted > 0);
    assert_int_equal(accepted, delivered + dead);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.sent, (uint64_t)accepted);
    assert_int_equal(m.dead_letters, (uint64_t)dead);
    za_system_destroy(sys);
}

static void *gate_opener_main(void *p) {
    /* Opens the gate once the shutdown has stopped the timers, i.e. after
     * it gave up waiting and is about to join the workers. */
    void **a = p;
    za_system *sys = a[0];
    za_ref target = *(za_ref *)a[1];
    uint64_t deadline = tu_now_ms() + 3 * TU_WAIT_MS;
    while (tu_now_ms() < deadline) {
        za_timer_id t;
        int rc = za_send_after(sys, 600000, target, T_ADD, NULL, 0, &t);
        if (rc == ZA_ESHUTDOWN) break;
        tu_sleep_ms(2);
    }
    tu_sleep_ms(50);
    tu_gate_open(&g_gate);
    return NULL;
}

static void test_shutdown_timeout_leftovers_are_dead_letters(void **st) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.batch = 1; /* a worker leaves after the current message once told to quit */
    za_system *sys = sys_with_dl(&cfg);
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    assert_int_equal(za_tell(sys, a, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    for (int i = 0; i < 5; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    atomic_store(&g_cb_calls, 0);
    assert_int_equal(za_ask_async(sys, a, T_GET, NULL, 0, 0, count_cb, NULL, NULL), ZA_OK);
    pthread_t th;
    void *args[2] = {sys, &a};
    assert_int_equal(pthread_create(&th, NULL, gate_opener_main, args), 0);
    int rc = za_system_shutdown(sys, 100);
    pthread_join(th, NULL);
    assert_int_equal(rc, ZA_ETIMEDOUT);
    assert_non_null(strstr(za_last_error(), "shutdown"));
    /* what was still queued became dead letters with reason SHUTDOWN */
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_SHUTDOWN), 6);
    assert_int_equal(tu_dl_count_tag(g_dl, T_ADD, ZA_DL_SHUTDOWN), 5);
    assert_int_equal(atomic_load(&g_received), 0);
    assert_int_equal(atomic_load(&g_cb_calls), 1);
    assert_int_equal(atomic_load(&g_cb_status), ZA_ESHUTDOWN);
    assert_int_equal(atomic_load(&g_stops), 1); /* the stop hook still ran */
    za_system_destroy(sys);
}

/* Interrupter for za_system_shutdown_ex: fires once 100 ms have passed
 * (like a Ctrl-C arriving during a long drain) and lets the gated actor go. */
static atomic_int g_polls;
static uint64_t g_fire_at;
static int interrupt_after(void *ud) {
    atomic_fetch_add(&g_polls, 1);
    if (tu_now_ns() < g_fire_at) return 0;
    tu_gate_open(&g_gate);
    return 1;
}

static void test_shutdown_interrupted(void **st) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.batch = 1;
    za_system *sys = sys_with_dl(&cfg);
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    assert_int_equal(za_tell(sys, a, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    for (int i = 0; i < 5; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    atomic_store(&g_polls, 0);
    uint64_t t0 = tu_now_ns();
    g_fire_at = t0 + 100000000ull;
    /* a drain that would wait a minute: the interrupter cuts it short */
    int rc = za_system_shutdown_ex(sys, 60000, interrupt_after, NULL);
    uint64_t took_ms = (tu_now_ns() - t0) / 1000000ull;
    assert_int_equal(rc, ZA_ECANCELLED);
    assert_non_null(strstr(za_last_error(), "interrupted"));
    assert_true(took_ms < 5000);
    assert_true(atomic_load(&g_polls) >= 2); /* polled, not only once */
    /* nothing silently lost: each message was handled or is a dead letter
     * (SHUTDOWN, or DEAD_TARGET when its actor stopped with it queued) */
    assert_int_equal(atomic_load(&g_received) + tu_dl_count_tag(g_dl, T_ADD, -1), 5);
    assert_int_equal(atomic_load(&g_stops), 1); /* the stop hook still ran */
    assert_false(za_is_alive(sys, a));
    /* shut down for good: a second call is a no-op, sends are refused */
    assert_int_equal(za_system_shutdown_ex(sys, 10, interrupt_after, NULL), ZA_OK);
    assert_int_not_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    za_system_destroy(sys);
}

static void test_pending_ask_timeout_at_shutdown(void **st) {
    za_system *sys = sys_with_dl(NULL);
    za_ref a = spawn_node(sys, 1, 0, 0, 0);
    atomic_store(&g_cb_calls, 0);
    /* the actor keeps the reply slot: only the timeout can answer */
    assert_int_equal(za_ask_async(sys, a, T_HOLD, NULL, 0, 600000, count_cb, NULL, NULL), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_have_slot));
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_cb_calls), 1); /* answered, once */
    assert_int_equal(atomic_load(&g_cb_status), ZA_ETIMEDOUT);
    /* the slot can still be answered: a late reply, not a second callback */
    assert_int_equal(za_reply_send(sys, g_slot, T_GET, NULL, 0), ZA_OK);
    assert_int_equal(atomic_load(&g_cb_calls), 1);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_LATE_REPLY), 1);
    za_system_destroy(sys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shutdown_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_after_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_twice_concurrently, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_live_actors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_children_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_inside_actor_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_inside_actor_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_and_shutdown_inside_manual_actor_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_with_messages_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_timeout_leftovers_are_dead_letters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pending_ask_timeout_at_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_interrupted, setup, teardown),
    };
    return cmocka_run_group_tests_name("shutdown", tests, NULL, NULL);
}
