/* Supervision: restart strategies, budgets, backoff, failing starts, watches, stop order. */
#include "testutil.h"

enum {
    W_CRASH = 1, /* fail with code 7, "boom <id>" */
    W_ADD,
    W_GET,   /* reply get_reply */
    W_GATE,  /* block on g_gate */
    S_KIDS,  /* sup: reply its children's refs */
    T_WATCH, /* watcher: payload za_ref to watch */
    T_UNWATCH,
    T_DOWNS, /* watcher: reply the number of DOWN messages */
};

#define MAXID 256
static atomic_int g_starts[MAXID], g_stops[MAXID], g_stop_seq[MAXID], g_fail_start[MAXID];
static _Atomic uint64_t g_start_ns[MAXID], g_crash_ns[MAXID];
static atomic_int g_seq;
static atomic_int g_kids_alive_at_stop;
static tu_gate g_gate;
static tu_dl *g_dl;

typedef struct note {
    int32_t receiver; /* id of the supervisor that saw it */
    za_ref ref;
    int32_t code;
    char reason[116];
} note;
#define MAXNOTES 64
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static note g_failed[MAXNOTES], g_downs[MAXNOTES];
static atomic_int g_nfailed, g_ndowns;
static za_ref g_down_senders[MAXNOTES];

static void reset(void) {
    for (int i = 0; i < MAXID; i++) {
        atomic_store(&g_starts[i], 0);
        atomic_store(&g_stops[i], 0);
        atomic_store(&g_stop_seq[i], 0);
        atomic_store(&g_fail_start[i], 0);
        atomic_store(&g_start_ns[i], 0);
        atomic_store(&g_crash_ns[i], 0);
    }
    atomic_store(&g_seq, 0);
    atomic_store(&g_kids_alive_at_stop, -1);
    atomic_store(&g_nfailed, 0);
    atomic_store(&g_ndowns, 0);
    tu_gate_init(&g_gate);
}

static void add_note(note *arr, atomic_int *n, int32_t receiver, const za_down *d, za_ref sender) {
    pthread_mutex_lock(&g_mu);
    int i = atomic_load(n);
    if (i < MAXNOTES) {
        arr[i].receiver = receiver;
        arr[i].ref = d->ref;
        arr[i].code = d->code;
        memcpy(arr[i].reason, d->reason, sizeof arr[i].reason);
        arr[i].reason[sizeof arr[i].reason - 1] = '\0';
        if (arr == g_downs) g_down_senders[i] = sender;
    }
    pthread_mutex_unlock(&g_mu);
    atomic_fetch_add(n, 1);
}

static note get_note(note *arr, int i) {
    pthread_mutex_lock(&g_mu);
    note n = arr[i];
    pthread_mutex_unlock(&g_mu);
    return n;
}

typedef struct get_reply {
    int64_t count;
    uint32_t restarts;
    za_ref self, parent;
} get_reply;

/* ------------------------------------------------------------- worker */

typedef struct worker {
    int32_t id;
    int64_t count;
} worker;

static int worker_start(za_ctx *ctx, const void *args, size_t len) {
    worker *w = za_ctx_state(ctx);
    if (w->count != 0 || w->id != 0) return 1; /* state must be zeroed */
    if (len != sizeof w->id) return 1;
    memcpy(&w->id, args, sizeof w->id);
    atomic_fetch_add(&g_starts[w->id], 1);
    atomic_store(&g_start_ns[w->id], tu_now_ns());
    if (atomic_load(&g_fail_start[w->id]) > 0) {
        atomic_fetch_sub(&g_fail_start[w->id], 1);
        za_ctx_fail(ctx, 13, "start refused %d", w->id);
        return 1;
    }
    return 0;
}

static void worker_stop(za_ctx *ctx) {
    worker *w = za_ctx_state(ctx);
    atomic_fetch_add(&g_stops[w->id], 1);
    atomic_store(&g_stop_seq[w->id], atomic_fetch_add(&g_seq, 1) + 1);
}

static int worker_receive(za_ctx *ctx, const za_msg *m) {
    worker *w = za_ctx_state(ctx);
    switch (m->tag) {
    case W_CRASH:
        atomic_store(&g_crash_ns[w->id], tu_now_ns());
        za_ctx_fail(ctx, 7, "boom %d", w->id);
        return 1;
    case W_ADD:
        w->count++;
        return 0;
    case W_GET: {
        get_reply r = {w->count, za_ctx_restarts(ctx), za_ctx_self(ctx), za_ctx_parent(ctx)};
        return za_reply(ctx, W_GET, &r, sizeof r);
    }
    case W_GATE:
        tu_gate_pass(&g_gate);
        return 0;
    default:
        return 0;
    }
}

static const za_behaviour worker_beh = {
    ZA_BEHAVIOUR_INIT,     .name = "worker",          .state_size = sizeof(worker),
    .start = worker_start, .receive = worker_receive, .stop = worker_stop};

/* --------------------------------------------------------- supervisor */

typedef struct kid_spec {
    int32_t nkids;
    int32_t first_id;
    int32_t restart;
    int32_t strategy; /* of each kid, when the kids are supervisors */
    uint32_t max_restarts, within_ms, backoff_min_ms, backoff_max_ms;
} kid_spec;

typedef struct sup_args {
    int32_t id;
    int32_t kids_are_sups;
    kid_spec kids;
    kid_spec grandkids;
} sup_args;

#define MAXKIDS 8
typedef struct sup {
    sup_args args;
    za_ref kids[MAXKIDS];
    int64_t failures_seen;
} sup;

static const za_behaviour sup_beh;

static int sup_start(za_ctx *ctx, const void *args, size_t len) {
    sup *s = za_ctx_state(ctx);
    if (len != sizeof s->args) return 1;
    memcpy(&s->args, args, sizeof s->args);
    atomic_fetch_add(&g_starts[s->args.id], 1);
    const kid_spec *k = &s->args.kids;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.restart = (za_restart)k->restart;
    o.strategy = (za_strategy)k->strategy;
    o.max_restarts = k->max_restarts;
    o.within_ms = k->within_ms;
    o.backoff_min_ms = k->backoff_min_ms;
    o.backoff_max_ms = k->backoff_max_ms;
    for (int i = 0; i < k->nkids && i < MAXKIDS; i++) {
        int rc;
        if (s->args.kids_are_sups) {
            sup_args ka;
            memset(&ka, 0, sizeof ka);
            ka.id = k->first_id + i;
            ka.kids = s->args.grandkids;
            ka.kids.first_id += 10 * i; /* each mid gets its own id range */
            rc = za_ctx_spawn(ctx, &sup_beh, &ka, sizeof ka, &o, &s->kids[i]);
        } else {
            int32_t id = k->first_id + i;
            /* za_spawn from inside an actor also makes a child */
            if (i % 2)
                rc = za_spawn(za_ctx_system(ctx), &worker_beh, &id, sizeof id, &o, &s->kids[i]);
            else
                rc = za_ctx_spawn(ctx, &worker_beh, &id, sizeof id, &o, &s->kids[i]);
        }
        if (rc != ZA_OK) return rc;
    }
    return 0;
}

static void sup_stop(za_ctx *ctx) {
    sup *s = za_ctx_state(ctx);
    int alive = 0;
    for (int i = 0; i < s->args.kids.nkids && i < MAXKIDS; i++)
        alive += za_is_alive(za_ctx_system(ctx), s->kids[i]);
    atomic_store(&g_kids_alive_at_stop, alive);
    atomic_fetch_add(&g_stops[s->args.id], 1);
    atomic_store(&g_stop_seq[s->args.id], atomic_fetch_add(&g_seq, 1) + 1);
}

static int sup_receive(za_ctx *ctx, const za_msg *m) {
    sup *s = za_ctx_state(ctx);
    switch (m->tag) {
    case S_KIDS:
        return za_reply(ctx, S_KIDS, s->kids, sizeof(za_ref) * (size_t)s->args.kids.nkids);
    case ZA_TAG_CHILD_FAILED: {
        za_down d;
        if (m->len != sizeof d) return 1;
        memcpy(&d, m->data, sizeof d);
        s->failures_seen++;
        add_note(g_failed, &g_nfailed, s->args.id, &d, m->sender);
        return 0;
    }
    case W_CRASH:
        za_ctx_fail(ctx, 8, "sup %d crashed", s->args.id);
        return 1;
    case W_GET: {
        get_reply r = {s->failures_seen, za_ctx_restarts(ctx), za_ctx_self(ctx),
                       za_ctx_parent(ctx)};
        return za_reply(ctx, W_GET, &r, sizeof r);
    }
    default:
        return 0;
    }
}

static const za_behaviour sup_beh = {ZA_BEHAVIOUR_INIT,         .name = "sup",
                                     .state_size = sizeof(sup), .start = sup_start,
                                     .receive = sup_receive,    .stop = sup_stop};

/* ------------------------------------------------------------ watcher */

static int watcher_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_WATCH: {
        za_ref t;
        memcpy(&t, m->data, sizeof t);
        int32_t rc = za_ctx_watch(ctx, t);
        return za_reply(ctx, T_WATCH, &rc, sizeof rc);
    }
    case T_UNWATCH: {
        za_ref t;
        memcpy(&t, m->data, sizeof t);
        int32_t rc = za_ctx_unwatch(ctx, t);
        return za_reply(ctx, T_UNWATCH, &rc, sizeof rc);
    }
    case ZA_TAG_DOWN: {
        za_down d;
        if (m->len != sizeof d) return 1;
        memcpy(&d, m->data, sizeof d);
        add_note(g_downs, &g_ndowns, 0, &d, m->sender);
        return 0;
    }
    case T_DOWNS: {
        int64_t n = atomic_load(&g_ndowns);
        return za_reply(ctx, T_DOWNS, &n, sizeof n);
    }
    default:
        return 0;
    }
}

static const za_behaviour watcher_beh = {ZA_BEHAVIOUR_INIT, .name = "watcher",
                                         .receive = watcher_receive};

/* ------------------------------------------------------------ helpers */

static int setup(void **st) {
    reset();
    *st = tu_system(2);
    g_dl = tu_dl_new();
    za_set_dead_letter_hook(*st, tu_dl_hook, g_dl);
    return 0;
}

static int teardown(void **st) {
    tu_gate_open(&g_gate);
    za_system_destroy(*st);
    tu_dl_free(g_dl);
    g_dl = NULL;
    return 0;
}

static za_ref spawn_worker(za_system *sys, int32_t id, const za_spawn_opts *o) {
    return tu_spawn(sys, &worker_beh, &id, sizeof id, o);
}

static get_reply get(za_system *sys, za_ref r) {
    za_answer a;
    int rc = tu_ask(sys, r, W_GET, &a);
    if (rc) fprintf(stderr, "get: %s\n", za_last_error());
    assert_int_equal(rc, ZA_OK);
    assert_int_equal(a.len, sizeof(get_reply));
    get_reply g;
    memcpy(&g, a.data, sizeof g);
    za_answer_free(&a);
    return g;
}

static void kids_of(za_system *sys, za_ref s, za_ref *out, int n) {
    za_answer a;
    assert_int_equal(tu_ask(sys, s, S_KIDS, &a), ZA_OK);
    assert_int_equal(a.len, sizeof(za_ref) * (size_t)n);
    memcpy(out, a.data, a.len);
    za_answer_free(&a);
}

static za_ref spawn_sup(za_system *sys, int32_t id, za_strategy strategy, int nkids,
                        int32_t first_kid, za_restart kid_restart, uint32_t kid_max_restarts) {
    sup_args sa;
    memset(&sa, 0, sizeof sa);
    sa.id = id;
    sa.kids.nkids = nkids;
    sa.kids.first_id = first_kid;
    sa.kids.restart = kid_restart;
    sa.kids.max_restarts = kid_max_restarts;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.strategy = strategy;
    za_ref r = ZA_REF_NONE;
    assert_int_equal(za_spawn_sync(sys, &sup_beh, &sa, sizeof sa, &o, TU_WAIT_MS, &r), ZA_OK);
    return r;
}

static za_ref spawn_watcher(za_system *sys) {
    return tu_spawn(sys, &watcher_beh, NULL, 0, NULL);
}

static int32_t ask_watch(za_system *sys, za_ref w, int tag, za_ref target) {
    za_answer a;
    assert_int_equal(za_ask(sys, w, tag, &target, sizeof target, TU_WAIT_MS, &a), ZA_OK);
    int32_t rc;
    memcpy(&rc, a.data, sizeof rc);
    za_answer_free(&a);
    return rc;
}

/* ------------------------------------------------------ top-level actors */

static void test_restart_keeps_ref_and_queue(void **st) {
    za_system *sys = *st;
    za_ref r = spawn_worker(sys, 1, NULL);
    assert_int_equal(za_tell(sys, r, W_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    assert_int_equal(za_tell(sys, r, W_CRASH, NULL, 0), ZA_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(za_tell(sys, r, W_ADD, NULL, 0), ZA_OK);
    tu_gate_open(&g_gate);
    get_reply g = get(sys, r);    /* same ref */
    assert_int_equal(g.count, 5); /* queued behind the crash, kept, handled by the new state */
    assert_int_equal(g.restarts, 1);
    assert_true(g.self == r);
    assert_int_equal(atomic_load(&g_starts[1]), 2);
    assert_int_equal(atomic_load(&g_stops[1]), 1);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, W_CRASH, ZA_DL_FAILED) == 1);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_DEAD_TARGET), 0);
    za_actor_info info;
    assert_int_equal(za_actor_info_get(sys, r, &info), ZA_OK);
    assert_int_equal(info.restarts, 1);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.restarts, 1);
    assert_int_equal(m.failures, 1);
}

static void crash_and_wait_restart(za_system *sys, za_ref r, int32_t id) {
    (void)get(sys, r); /* make sure start already ran */
    int before = atomic_load(&g_starts[id]);
    assert_int_equal(za_tell(sys, r, W_CRASH, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_starts[id]) == before + 1);
}

static void test_max_restarts_then_stop(void **st) {
    (void)st;
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.root_max_restarts = 2;
    za_system *sys = tu_system_cfg(&cfg);
    za_ref w = spawn_watcher(sys);
    za_ref r = spawn_worker(sys, 2, NULL);
    assert_int_equal(ask_watch(sys, w, T_WATCH, r), ZA_OK);
    crash_and_wait_restart(sys, r, 2);
    crash_and_wait_restart(sys, r, 2);
    assert_int_equal(get(sys, r).restarts, 2);
    assert_int_equal(za_tell(sys, r, W_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_is_alive(sys, r), 0);
    assert_int_equal(atomic_load(&g_starts[2]), 3);
    assert_int_equal(atomic_load(&g_stops[2]), 3);
    /* the watcher learns why */
    ASSERT_EVENTUALLY(atomic_load(&g_ndowns) == 1);
    note d = get_note(g_downs, 0);
    assert_true(d.ref == r);
    assert_int_equal(d.code, 7);
    assert_non_null(strstr(d.reason, "boom 2"));
    za_system_destroy(sys);
}

static void test_max_restarts_beyond_16(void **st) {
    /* a budget larger than 16 restarts is honoured too */
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.max_restarts = 20;
    o.within_ms = 600000;
    za_ref r = spawn_worker(sys, 3, &o);
    for (int i = 0; i < 20; i++) crash_and_wait_restart(sys, r, 3);
    assert_int_equal(get(sys, r).restarts, 20);
    assert_int_equal(za_tell(sys, r, W_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(za_join(sys, r, 3000), ZA_OK); /* the 21st failure stops it */
    assert_int_equal(atomic_load(&g_starts[3]), 21);
}

static void test_restart_window(void **st) {
    /* restarts older than within_ms do not count */
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.max_restarts = 1;
    o.within_ms = 100;
    za_ref r = spawn_worker(sys, 4, &o);
    crash_and_wait_restart(sys, r, 4);
    tu_sleep_ms(250);
    crash_and_wait_restart(sys, r, 4);
    assert_int_equal(get(sys, r).restarts, 2);
    /* two failures inside the window: stopped */
    assert_int_equal(za_tell(sys, r, W_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
}

static void test_temporary_and_transient(void **st) {
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.restart = ZA_RESTART_TEMPORARY;
    za_ref t = spawn_worker(sys, 5, &o);
    assert_int_equal(za_tell(sys, t, W_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(za_join(sys, t, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_starts[5]), 1);
    assert_int_equal(atomic_load(&g_stops[5]), 1);
    o.restart = ZA_RESTART_TRANSIENT;
    za_ref tr = spawn_worker(sys, 6, &o);
    crash_and_wait_restart(sys, tr, 6);
    assert_int_equal(get(sys, tr).restarts, 1);
    /* a normal stop is final */
    assert_int_equal(za_stop(sys, tr), ZA_OK);
    assert_int_equal(za_join(sys, tr, TU_WAIT_MS), ZA_OK);
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&g_starts[6]), 2);
}

static void test_backoff_delays_restart(void **st) {
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.backoff_min_ms = 200;
    o.backoff_max_ms = 5000;
    o.max_restarts = 5;
    za_ref r = spawn_worker(sys, 7, &o);
    assert_int_equal(get(sys, r).restarts, 0);
    assert_int_equal(za_tell(sys, r, W_CRASH, NULL, 0), ZA_OK);
    /* sent while it waits to be restarted: kept */
    for (int i = 0; i < 3; i++) assert_int_equal(za_tell(sys, r, W_ADD, NULL, 0), ZA_OK);
    get_reply g = get(sys, r); /* waits for the restart */
    assert_int_equal(g.restarts, 1);
    assert_int_equal(g.count, 3);
    uint64_t d1 = atomic_load(&g_start_ns[7]) - atomic_load(&g_crash_ns[7]);
    assert_true(d1 >= 140ull * 1000000ull); /* 200 ms -25% jitter, minus slack */
    /* the second restart waits about twice as long */
    assert_int_equal(za_tell(sys, r, W_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(get(sys, r).restarts, 2);
    uint64_t d2 = atomic_load(&g_start_ns[7]) - atomic_load(&g_crash_ns[7]);
    assert_true(d2 >= 290ull * 1000000ull); /* 400 ms -25% */
}

static void test_failing_start_restarted(void **st) {
    za_system *sys = *st;
    atomic_store(&g_fail_start[8], 2);
    za_ref r = spawn_worker(sys, 8, NULL);
    ASSERT_EVENTUALLY(atomic_load(&g_starts[8]) == 3);
    get_reply g = get(sys, r);
    assert_int_equal(g.restarts, 2);
    assert_int_equal(atomic_load(&g_stops[8]), 0); /* no stop hook for a start that failed */
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.failures, 2);
    /* a start that always fails: stopped once the budget is spent */
    atomic_store(&g_fail_start[9], 1000);
    za_ref bad = spawn_worker(sys, 9, NULL);
    assert_int_equal(za_join(sys, bad, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_starts[9]), 4); /* first start + 3 restarts */
    assert_int_equal(atomic_load(&g_stops[9]), 0);
}

/* --------------------------------------------------------- supervisors */

static void test_one_for_one(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 100, ZA_ONE_FOR_ONE, 3, 10, ZA_RESTART_PERMANENT, 0);
    za_ref k[3];
    kids_of(sys, s, k, 3);
    for (int i = 0; i < 3; i++) {
        get_reply g = get(sys, k[i]);
        assert_true(g.parent == s);
        za_actor_info info;
        assert_int_equal(za_actor_info_get(sys, k[i], &info), ZA_OK);
        assert_true(info.parent == s);
        assert_string_equal(info.behaviour, "worker");
    }
    crash_and_wait_restart(sys, k[1], 11);
    assert_int_equal(get(sys, k[1]).restarts, 1);
    assert_int_equal(get(sys, k[0]).restarts, 0);
    assert_int_equal(get(sys, k[2]).restarts, 0);
    assert_int_equal(atomic_load(&g_starts[10]), 1);
    assert_int_equal(atomic_load(&g_starts[12]), 1);
    za_ref k2[3];
    kids_of(sys, s, k2, 3);
    assert_memory_equal(k, k2, sizeof k); /* same refs */
    /* the parent saw ZA_TAG_CHILD_FAILED */
    ASSERT_EVENTUALLY(atomic_load(&g_nfailed) == 1);
    note n = get_note(g_failed, 0);
    assert_int_equal(n.receiver, 100);
    assert_true(n.ref == k[1]);
    assert_int_equal(n.code, 7);
    assert_non_null(strstr(n.reason, "boom 11"));
    assert_int_equal(get(sys, s).count, 1);
    assert_int_equal(get(sys, s).restarts, 0); /* the parent itself is fine */
}

static void test_one_for_all(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 101, ZA_ONE_FOR_ALL, 3, 20, ZA_RESTART_PERMANENT, 0);
    za_ref k[3];
    kids_of(sys, s, k, 3);
    assert_int_equal(za_tell(sys, k[1], W_CRASH, NULL, 0), ZA_OK);
    for (int i = 0; i < 3; i++) {
        ASSERT_EVENTUALLY(atomic_load(&g_starts[20 + i]) == 2);
        assert_int_equal(get(sys, k[i]).restarts, 1);
        assert_int_equal(atomic_load(&g_stops[20 + i]), 1);
    }
    assert_int_equal(get(sys, s).restarts, 0);
}

static void test_rest_for_one(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 102, ZA_REST_FOR_ONE, 4, 30, ZA_RESTART_PERMANENT, 0);
    za_ref k[4];
    kids_of(sys, s, k, 4);
    assert_int_equal(za_tell(sys, k[1], W_CRASH, NULL, 0), ZA_OK);
    for (int i = 1; i < 4; i++) {
        ASSERT_EVENTUALLY(atomic_load(&g_starts[30 + i]) == 2);
        assert_int_equal(get(sys, k[i]).restarts, 1);
    }
    /* the one spawned before the failed child is untouched */
    assert_int_equal(get(sys, k[0]).restarts, 0);
    assert_int_equal(atomic_load(&g_starts[30]), 1);
    assert_int_equal(atomic_load(&g_stops[30]), 0);
}

static void test_rest_for_one_after_siblings_stopped(void **st) {
    /* stopped siblings leave holes in the parent's child list: spawn order
     * still decides who is "after" the failed child */
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 105, ZA_REST_FOR_ONE, 8, 60, ZA_RESTART_PERMANENT, 0);
    za_ref k[8];
    kids_of(sys, s, k, 8);
    assert_int_equal(za_stop(sys, k[2]), ZA_OK);
    assert_int_equal(za_stop(sys, k[5]), ZA_OK);
    assert_int_equal(za_join(sys, k[2], TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_join(sys, k[5], TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_tell(sys, k[3], W_CRASH, NULL, 0), ZA_OK);
    const int restarted[] = {3, 4, 6, 7};
    for (int i = 0; i < 4; i++) {
        ASSERT_EVENTUALLY(atomic_load(&g_starts[60 + restarted[i]]) == 2);
        assert_int_equal(get(sys, k[restarted[i]]).restarts, 1);
    }
    const int untouched[] = {0, 1};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(get(sys, k[untouched[i]]).restarts, 0);
        assert_int_equal(atomic_load(&g_starts[60 + untouched[i]]), 1);
    }
    assert_false(za_is_alive(sys, k[2]));
    assert_false(za_is_alive(sys, k[5]));
}

static void test_strategy_stop(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 103, ZA_STRATEGY_STOP, 3, 40, ZA_RESTART_PERMANENT, 0);
    za_ref k[3];
    kids_of(sys, s, k, 3);
    assert_int_equal(za_tell(sys, k[1], W_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(za_join(sys, k[1], TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_starts[41]), 1);
    assert_int_equal(atomic_load(&g_stops[41]), 1);
    assert_int_equal(get(sys, k[0]).restarts, 0);
    assert_int_equal(get(sys, k[2]).restarts, 0);
    assert_int_equal(za_is_alive(sys, s), 1);
    ASSERT_EVENTUALLY(atomic_load(&g_nfailed) == 1);
    assert_int_equal(get(sys, s).restarts, 0);
}

static void test_temporary_child(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 104, ZA_ONE_FOR_ONE, 2, 50, ZA_RESTART_TEMPORARY, 0);
    za_ref k[2];
    kids_of(sys, s, k, 2);
    assert_int_equal(za_tell(sys, k[0], W_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(za_join(sys, k[0], TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_starts[50]), 1);
    ASSERT_EVENTUALLY(atomic_load(&g_nfailed) == 1);
    assert_int_equal(get(sys, k[1]).restarts, 0);
    assert_int_equal(get(sys, s).restarts, 0);
}

static void test_escalate(void **st) {
    za_system *sys = *st;
    /* root (one-for-one) -> mid (escalate) -> two workers */
    sup_args ra;
    memset(&ra, 0, sizeof ra);
    ra.id = 110;
    ra.kids_are_sups = 1;
    ra.kids.nkids = 1;
    ra.kids.first_id = 111;
    ra.kids.strategy = ZA_STRATEGY_ESCALATE;
    ra.grandkids.nkids = 2;
    ra.grandkids.first_id = 120;
    za_ref root = ZA_REF_NONE;
    assert_int_equal(za_spawn_sync(sys, &sup_beh, &ra, sizeof ra, NULL, TU_WAIT_MS, &root), ZA_OK);
    za_ref mid;
    kids_of(sys, root, &mid, 1);
    za_ref gk[2];
    kids_of(sys, mid, gk, 2);
    assert_true(get(sys, gk[0]).parent == mid);
    assert_int_equal(za_tell(sys, gk[0], W_CRASH, NULL, 0), ZA_OK);
    /* mid fails with the child's reason; root restarts mid, which respawns its children */
    ASSERT_EVENTUALLY(atomic_load(&g_starts[111]) == 2);
    assert_int_equal(za_join(sys, gk[0], TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_join(sys, gk[1], TU_WAIT_MS), ZA_OK);
    za_ref gk2[2];
    kids_of(sys, mid, gk2, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(gk2[i] != gk[i]);
        assert_int_equal(get(sys, gk2[i]).restarts, 0);
        assert_int_equal(atomic_load(&g_starts[120 + i]), 2);
    }
    assert_int_equal(get(sys, mid).restarts, 1);
    assert_int_equal(get(sys, root).restarts, 0);
    /* root was told why mid failed */
    bool found = false;
    ASSERT_EVENTUALLY(atomic_load(&g_nfailed) >= 2);
    for (int i = 0; i < atomic_load(&g_nfailed); i++) {
        note n = get_note(g_failed, i);
        if (n.receiver == 110) {
            assert_true(n.ref == mid);
            assert_non_null(strstr(n.reason, "child failed"));
            assert_non_null(strstr(n.reason, "boom 120"));
            found = true;
        }
    }
    assert_true(found);
}

static void test_child_budget_exceeded_fails_parent(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 105, ZA_ONE_FOR_ONE, 2, 60, ZA_RESTART_PERMANENT, 1);
    za_ref k[2];
    kids_of(sys, s, k, 2);
    crash_and_wait_restart(sys, k[0], 60);
    assert_int_equal(za_tell(sys, k[0], W_CRASH, NULL, 0), ZA_OK);
    /* the child is stopped, and the parent fails and is restarted by the system */
    assert_int_equal(za_join(sys, k[0], TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_starts[105]) == 2);
    assert_int_equal(get(sys, s).restarts, 1);
    assert_int_equal(za_join(sys, k[1], TU_WAIT_MS), ZA_OK); /* old children went with it */
    za_ref k2[2];
    kids_of(sys, s, k2, 2);
    assert_int_equal(get(sys, k2[0]).restarts, 0);
    assert_int_equal(get(sys, k2[1]).restarts, 0);
}

static void test_restart_of_parent_stops_children(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 106, ZA_ONE_FOR_ONE, 3, 70, ZA_RESTART_PERMANENT, 0);
    za_ref k[3];
    kids_of(sys, s, k, 3);
    assert_int_equal(za_tell(sys, s, W_CRASH, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_starts[106]) == 2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(za_join(sys, k[i], TU_WAIT_MS), ZA_OK);
        assert_int_equal(atomic_load(&g_stops[70 + i]), 1);
    }
    za_ref k2[3];
    kids_of(sys, s, k2, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(k2[i] != k[i]);
        assert_int_equal(za_is_alive(sys, k2[i]), 1);
        assert_true(get(sys, k2[i]).parent == s);
    }
}

static void test_children_stop_before_parent_hook(void **st) {
    za_system *sys = *st;
    za_ref s = spawn_sup(sys, 107, ZA_ONE_FOR_ONE, 4, 80, ZA_RESTART_PERMANENT, 0);
    za_ref k[4];
    kids_of(sys, s, k, 4);
    assert_int_equal(za_stop(sys, s), ZA_OK);
    assert_int_equal(za_join(sys, s, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_kids_alive_at_stop), 0);
    int parent_seq = atomic_load(&g_stop_seq[107]);
    assert_true(parent_seq > 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(za_is_alive(sys, k[i]), 0);
        assert_int_equal(atomic_load(&g_stops[80 + i]), 1);
        int kid_seq = atomic_load(&g_stop_seq[80 + i]);
        assert_true(kid_seq > 0 && kid_seq < parent_seq);
    }
    /* nested: grandchildren, then children, then the root */
    reset();
    sup_args ra;
    memset(&ra, 0, sizeof ra);
    ra.id = 130;
    ra.kids_are_sups = 1;
    ra.kids.nkids = 2;
    ra.kids.first_id = 131;
    ra.grandkids.nkids = 2;
    ra.grandkids.first_id = 140; /* mid 131: 140, 141; mid 132: 150, 151 */
    za_ref root;
    assert_int_equal(za_spawn_sync(sys, &sup_beh, &ra, sizeof ra, NULL, TU_WAIT_MS, &root), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_starts[141]) == 1 && atomic_load(&g_starts[151]) == 1);
    assert_int_equal(za_stop(sys, root), ZA_OK);
    assert_int_equal(za_join(sys, root, TU_WAIT_MS), ZA_OK);
    int root_seq = atomic_load(&g_stop_seq[130]);
    for (int m = 0; m < 2; m++) {
        int mid_seq = atomic_load(&g_stop_seq[131 + m]);
        assert_int_equal(atomic_load(&g_stops[131 + m]), 1);
        assert_true(mid_seq > 0 && mid_seq < root_seq);
        for (int g = 0; g < 2; g++) {
            int id = 140 + 10 * m + g;
            assert_int_equal(atomic_load(&g_stops[id]), 1);
            assert_true(atomic_load(&g_stop_seq[id]) > 0);
            assert_true(atomic_load(&g_stop_seq[id]) < mid_seq);
        }
    }
    assert_int_equal(za_system_wait_idle(sys, TU_WAIT_MS), ZA_OK);
}

/* -------------------------------------------------------------- watch */

static void test_watch_stop(void **st) {
    za_system *sys = *st;
    za_ref w = spawn_watcher(sys);
    za_ref t = spawn_worker(sys, 150, NULL);
    assert_int_equal(ask_watch(sys, w, T_WATCH, t), ZA_OK);
    assert_int_equal(za_stop(sys, t), ZA_OK);
    assert_int_equal(za_join(sys, t, TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_ndowns) == 1);
    note d = get_note(g_downs, 0);
    assert_true(d.ref == t);
    assert_int_equal(d.code, 0);
    pthread_mutex_lock(&g_mu);
    assert_true(g_down_senders[0] == t);
    pthread_mutex_unlock(&g_mu);
    /* exactly one */
    tu_sleep_ms(20);
    int64_t n = tu_ask_i64(sys, w, T_DOWNS);
    assert_int_equal(n, 1);
}

static void test_watch_already_dead(void **st) {
    za_system *sys = *st;
    za_ref w = spawn_watcher(sys);
    za_ref t = spawn_worker(sys, 151, NULL);
    assert_int_equal(za_stop(sys, t), ZA_OK);
    assert_int_equal(za_join(sys, t, TU_WAIT_MS), ZA_OK);
    assert_int_equal(ask_watch(sys, w, T_WATCH, t), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_ndowns) == 1);
    note d = get_note(g_downs, 0);
    assert_true(d.ref == t);
    assert_int_equal(d.code, ZA_EDEAD);
    /* from outside too, and for a ref that never existed */
    assert_int_equal(za_watch(sys, w, t), ZA_OK);
    assert_int_equal(za_watch(sys, w, (za_ref)((1ull << 32) | 77777u)), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_ndowns) == 3);
    assert_int_equal(get_note(g_downs, 1).code, ZA_EDEAD);
    assert_int_equal(get_note(g_downs, 2).code, ZA_EDEAD);
}

static void test_watch_failure_and_outside(void **st) {
    za_system *sys = *st;
    za_ref w = spawn_watcher(sys);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.restart = ZA_RESTART_TEMPORARY;
    za_ref t = spawn_worker(sys, 152, &o);
    assert_int_equal(za_watch(sys, w, t), ZA_OK);
    assert_int_equal(get(sys, t).count, 0); /* the WATCH went first */
    assert_int_equal(za_tell(sys, t, W_CRASH, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_ndowns) == 1);
    note d = get_note(g_downs, 0);
    assert_true(d.ref == t);
    assert_int_equal(d.code, 7);
    assert_non_null(strstr(d.reason, "boom 152"));
    /* a restart is not a death: no DOWN */
    za_ref p = spawn_worker(sys, 153, NULL);
    assert_int_equal(za_watch(sys, w, p), ZA_OK);
    crash_and_wait_restart(sys, p, 153);
    assert_int_equal(get(sys, p).restarts, 1);
    assert_int_equal(tu_ask_i64(sys, w, T_DOWNS), 1);
    /* a dead watcher cannot watch */
    za_ref dw = spawn_watcher(sys);
    assert_int_equal(za_stop(sys, dw), ZA_OK);
    assert_int_equal(za_join(sys, dw, TU_WAIT_MS), ZA_OK);
    ASSERT_ERR(za_watch(sys, dw, p), ZA_EDEAD);
}

static void test_unwatch(void **st) {
    za_system *sys = *st;
    za_ref w = spawn_watcher(sys);
    za_ref t = spawn_worker(sys, 154, NULL);
    assert_int_equal(ask_watch(sys, w, T_WATCH, t), ZA_OK);
    assert_int_equal(ask_watch(sys, w, T_UNWATCH, t), ZA_OK);
    assert_int_equal(za_stop(sys, t), ZA_OK);
    assert_int_equal(za_join(sys, t, TU_WAIT_MS), ZA_OK);
    tu_sleep_ms(20);
    assert_int_equal(tu_ask_i64(sys, w, T_DOWNS), 0);
    /* unwatching a dead actor is fine */
    assert_int_equal(ask_watch(sys, w, T_UNWATCH, t), ZA_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_keeps_ref_and_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_restarts_then_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_restarts_beyond_16, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temporary_and_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_delays_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_start_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_for_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_for_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_for_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_for_one_after_siblings_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strategy_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temporary_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_budget_exceeded_fails_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_of_parent_stops_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children_stop_before_parent_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_already_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_failure_and_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwatch, setup, teardown),
    };
    return cmocka_run_group_tests_name("supervision", tests, NULL, NULL);
}
