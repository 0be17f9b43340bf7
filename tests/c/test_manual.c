/* Manual mode: no worker threads; the caller drives the system deterministically. */
#include "testutil.h"

enum { T_KICK = 1, T_BALL, T_NOTE, T_GET, T_CRASH, T_RUN_INSIDE, T_WATCH };

/* a trace of every receive, in order */
#define MAXTRACE 4096
typedef struct ev {
    int32_t actor, tag, val;
} ev;
typedef struct trace {
    ev ev[MAXTRACE];
    int n;
} trace;
static trace *g_trace;
static atomic_int g_starts, g_stops, g_downs, g_notes;
static pthread_t g_main_thread;
static atomic_int g_off_thread; /* receives that ran on another thread */
static atomic_int g_run_inside_rc;

typedef struct player {
    int32_t id;
    za_ref next;
    int64_t count;
} player;

typedef struct player_args {
    int32_t id;
    za_ref next;
} player_args;

static int player_start(za_ctx *ctx, const void *args, size_t len) {
    player *p = za_ctx_state(ctx);
    player_args a;
    memcpy(&a, args, sizeof a);
    p->id = a.id;
    p->next = a.next;
    atomic_fetch_add(&g_starts, 1);
    return 0;
}

static void player_stop(za_ctx *ctx) {
    atomic_fetch_add(&g_stops, 1);
}

static int player_receive(za_ctx *ctx, const za_msg *m) {
    player *p = za_ctx_state(ctx);
    za_system *sys = za_ctx_system(ctx);
    if (!pthread_equal(pthread_self(), g_main_thread)) atomic_fetch_add(&g_off_thread, 1);
    int32_t v = 0;
    if (m->len >= 4) memcpy(&v, m->data, 4);
    if (g_trace && g_trace->n < MAXTRACE) g_trace->ev[g_trace->n++] = (ev){p->id, m->tag, v};
    p->count++;
    switch (m->tag) {
    case T_KICK: /* start a ball of v hops and note it to ourselves */
    case T_BALL:
        if (v > 0 && p->next) {
            int32_t nv = v - 1;
            if (za_tell(sys, p->next, T_BALL, &nv, sizeof nv) != ZA_OK) return 1;
            if (za_tell(sys, za_ctx_self(ctx), T_NOTE, &nv, sizeof nv) != ZA_OK) return 1;
        }
        return 0;
    case T_NOTE:
        atomic_fetch_add(&g_notes, 1);
        return 0;
    case T_GET:
        return za_reply(ctx, T_GET, &p->count, sizeof p->count);
    case T_CRASH:
        return 1;
    case T_RUN_INSIDE:
        atomic_store(&g_run_inside_rc, za_system_run(sys, 0));
        return 0;
    case T_WATCH: {
        za_ref t;
        memcpy(&t, m->data, sizeof t);
        return za_ctx_watch(ctx, t);
    }
    case ZA_TAG_DOWN:
        atomic_fetch_add(&g_downs, 1);
        return 0;
    default:
        return 0;
    }
}

static const za_behaviour player_beh = {
    ZA_BEHAVIOUR_INIT,     .name = "player",          .state_size = sizeof(player),
    .start = player_start, .receive = player_receive, .stop = player_stop};

static int setup(void **st) {
    atomic_store(&g_starts, 0);
    atomic_store(&g_stops, 0);
    atomic_store(&g_downs, 0);
    atomic_store(&g_notes, 0);
    atomic_store(&g_off_thread, 0);
    atomic_store(&g_run_inside_rc, -1000);
    g_main_thread = pthread_self();
    g_trace = NULL;
    *st = tu_manual_system();
    return 0;
}

static int teardown(void **st) {
    za_system_destroy(*st);
    g_trace = NULL;
    return 0;
}

static za_ref spawn_player(za_system *sys, int32_t id, za_ref next) {
    player_args a = {id, next};
    return tu_spawn(sys, &player_beh, &a, sizeof a, NULL);
}

/* A ring of 4 players, a few balls: the full interleaving is recorded. */
static void run_scenario(trace *t) {
    za_system *sys = tu_manual_system();
    g_trace = t;
    t->n = 0;
    za_ref r[4];
    r[3] = spawn_player(sys, 3, ZA_REF_NONE);
    r[2] = spawn_player(sys, 2, r[3]);
    r[1] = spawn_player(sys, 1, r[2]);
    r[0] = spawn_player(sys, 0, r[1]);
    int32_t hops = 3;
    for (int i = 0; i < 4; i++)
        assert_int_equal(za_tell(sys, r[i], T_KICK, &hops, sizeof hops), ZA_OK);
    hops = 2;
    assert_int_equal(za_tell(sys, r[0], T_KICK, &hops, sizeof hops), ZA_OK);
    assert_true(za_system_run(sys, 0) > 0);
    g_trace = NULL;
    za_system_destroy(sys);
}

static void test_deterministic(void **st) {
    (void)st;
    trace *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    run_scenario(a);
    for (int k = 0; k < 3; k++) {
        run_scenario(b);
        assert_int_equal(a->n, b->n);
        assert_memory_equal(a->ev, b->ev, sizeof(ev) * (size_t)a->n);
    }
    /* 5 kicks; every ball hop (3+2+1 from r0.. limited by the ring end) and note */
    assert_true(a->n > 5);
    int kicks = 0;
    for (int i = 0; i < a->n; i++) kicks += a->ev[i].tag == T_KICK;
    assert_int_equal(kicks, 5);
    assert_int_equal(atomic_load(&g_off_thread), 0); /* all on the calling thread */
    free(a);
    free(b);
}

static void test_nothing_runs_until_run(void **st) {
    za_system *sys = *st;
    za_ref a = spawn_player(sys, 0, ZA_REF_NONE);
    assert_int_equal(za_is_alive(sys, a), 1);
    for (int i = 0; i < 3; i++) assert_int_equal(za_tell(sys, a, T_NOTE, NULL, 0), ZA_OK);
    tu_sleep_ms(30);
    assert_int_equal(atomic_load(&g_starts), 0); /* not even started */
    za_actor_info info;
    assert_int_equal(za_actor_info_get(sys, a, &info), ZA_OK);
    assert_int_equal(info.mailbox_depth, 3);
    assert_int_equal(za_system_run(sys, 1), 1); /* exactly one turn */
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(za_system_run(sys, 0), 0); /* that turn handled the whole mailbox */
    assert_int_equal(za_actor_info_get(sys, a, &info), ZA_OK);
    assert_int_equal(info.processed, 3);
    assert_int_equal(info.mailbox_depth, 0);
    assert_int_equal(za_system_run(sys, 0), 0); /* idle */
    assert_int_equal(atomic_load(&g_off_thread), 0);
}

static void test_run_limits_turns(void **st) {
    za_system *sys = *st;
    za_ref r[5];
    for (int i = 0; i < 5; i++) r[i] = spawn_player(sys, i, ZA_REF_NONE);
    assert_int_equal(za_system_run(sys, 2), 2);
    assert_int_equal(atomic_load(&g_starts), 2);
    assert_int_equal(za_system_run(sys, 0), 3);
    assert_int_equal(atomic_load(&g_starts), 5);
    for (int i = 0; i < 5; i++) assert_int_equal(za_tell(sys, r[i], T_NOTE, NULL, 0), ZA_OK);
    assert_int_equal(za_system_run(sys, 0), 5);
}

static void test_ask_drives_the_system(void **st) {
    za_system *sys = *st;
    za_ref a = spawn_player(sys, 0, ZA_REF_NONE);
    for (int i = 0; i < 4; i++) assert_int_equal(za_tell(sys, a, T_NOTE, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 5); /* 4 notes and the ask itself */
    assert_int_equal(atomic_load(&g_off_thread), 0);
    /* an ask that nobody answers times out instead of hanging */
    za_ref dead = spawn_player(sys, 1, ZA_REF_NONE);
    assert_int_equal(za_stop(sys, dead), ZA_OK);
    assert_int_equal(za_join(sys, dead, TU_WAIT_MS), ZA_OK); /* join drives it too */
    za_answer ans;
    assert_int_equal(za_ask(sys, dead, T_GET, NULL, 0, 50, &ans), ZA_EDEAD);
    za_answer_free(&ans);
}

static void test_timers_in_manual_mode(void **st) {
    za_system *sys = *st;
    za_ref a = spawn_player(sys, 0, ZA_REF_NONE);
    za_system_run(sys, 0);
    assert_int_equal(za_send_after(sys, 10, a, T_NOTE, NULL, 0, NULL), ZA_OK);
    /* the timer thread enqueues, the caller runs */
    ASSERT_EVENTUALLY((za_system_run(sys, 0), atomic_load(&g_notes) == 1));
    assert_int_equal(atomic_load(&g_off_thread), 0);
}

static void test_supervision_in_manual_mode(void **st) {
    za_system *sys = *st;
    za_ref a = spawn_player(sys, 0, ZA_REF_NONE);
    za_ref w = spawn_player(sys, 1, ZA_REF_NONE);
    assert_int_equal(za_tell(sys, w, T_WATCH, &a, sizeof a), ZA_OK);
    za_system_run(sys, 0);
    assert_int_equal(za_tell(sys, a, T_CRASH, NULL, 0), ZA_OK);
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_starts), 3); /* a restarted */
    za_actor_info info;
    assert_int_equal(za_actor_info_get(sys, a, &info), ZA_OK);
    assert_int_equal(info.restarts, 1);
    assert_int_equal(za_stop(sys, a), ZA_OK);
    za_system_run(sys, 0);
    assert_int_equal(za_is_alive(sys, a), 0);
    assert_int_equal(atomic_load(&g_downs), 1);
}

static void test_run_inside_actor(void **st) {
    za_system *sys = *st;
    za_ref a = spawn_player(sys, 0, ZA_REF_NONE);
    za_ref b = spawn_player(sys, 1, ZA_REF_NONE);
    assert_int_equal(za_tell(sys, a, T_RUN_INSIDE, NULL, 0), ZA_OK);
    assert_int_equal(za_tell(sys, b, T_NOTE, NULL, 0), ZA_OK);
    za_system_run(sys, 0);
    assert_int_equal(atomic_load(&g_run_inside_rc), 0); /* no re-entrant run */
    assert_int_equal(tu_ask_i64(sys, b, T_GET), 2);
}

static void test_shutdown_and_idle_in_manual_mode(void **st) {
    za_system *sys = *st;
    za_ref a = spawn_player(sys, 0, ZA_REF_NONE);
    assert_int_equal(za_system_wait_idle(sys, 30), ZA_ETIMEDOUT); /* a is alive */
    for (int i = 0; i < 10; i++) assert_int_equal(za_tell(sys, a, T_NOTE, NULL, 0), ZA_OK);
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(atomic_load(&g_stops), 1);
    assert_int_equal(atomic_load(&g_off_thread), 0);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.delivered, 10); /* drained before stopping */
    assert_int_equal(m.dead_letters, 0);
    assert_int_equal(za_system_wait_idle(sys, 30), ZA_OK);
    assert_int_equal(za_tell(sys, a, T_NOTE, NULL, 0), ZA_ESHUTDOWN);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_runs_until_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_limits_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_drives_the_system, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers_in_manual_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_supervision_in_manual_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_inside_actor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_and_idle_in_manual_mode, setup, teardown),
    };
    return cmocka_run_group_tests_name("manual", tests, NULL, NULL);
}
