/* Actors: spawn, tell, ask, stop, join, liveness, payloads, ptr ownership, bad input. */
#include "testutil.h"

enum {
    T_ADD = 1,
    T_GET,
    T_ECHO,
    T_INFO,
    T_GATE,
    T_PTR,
    T_TAKE,
    T_FAIL,
    T_STOPME,
    T_SELF,
    T_INSIDE,
    T_ARGS,
    T_TAKE_BYTES,
    T_CRASH,
};

static tu_gate g_gate;
static atomic_int g_starts, g_stops, g_zeroed_ok, g_zeroed_bad;
static atomic_int g_taken;
static atomic_llong g_ptr_sum;
static atomic_int g_cb_calls;
static atomic_int g_cb_status;
static atomic_int g_take_bytes_null;

static void reset_globals(void) {
    tu_gate_init(&g_gate);
    atomic_store(&g_starts, 0);
    atomic_store(&g_stops, 0);
    atomic_store(&g_zeroed_ok, 0);
    atomic_store(&g_zeroed_bad, 0);
    atomic_store(&g_taken, 0);
    atomic_store(&g_ptr_sum, 0);
    atomic_store(&g_take_bytes_null, 0);
    atomic_store(&g_cb_calls, 0);
    atomic_store(&g_cb_status, 0);
}

typedef struct probe {
    int64_t sum;
    uint8_t args[64];
    size_t args_len;
    uint8_t pad[4000]; /* a big state, to check zeroing */
} probe;

static uint64_t fnv(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

typedef struct info_reply {
    uint64_t len;
    uint64_t hash;
    int32_t data_null;
    int32_t kind;
} info_reply;

typedef struct self_reply {
    za_ref self, sender, parent;
    void *user;
    int32_t worker;
    int32_t can_reply;
} self_reply;

typedef struct inside_reply {
    int32_t ask_rc, spawn_sync_rc, join_rc, shutdown_rc;
} inside_reply;

static int probe_start(za_ctx *ctx, const void *args, size_t len) {
    probe *p = za_ctx_state(ctx);
    const uint8_t *b = (const uint8_t *)p;
    bool zero = true;
    for (size_t i = 0; i < sizeof *p; i++)
        if (b[i]) zero = false;
    atomic_fetch_add(zero ? &g_zeroed_ok : &g_zeroed_bad, 1);
    memset(p->pad, 0xAB, sizeof p->pad); /* dirty it: a restart must zero it again */
    if (len > sizeof p->args) return 1;
    if (len) memcpy(p->args, args, len);
    p->args_len = len;
    atomic_fetch_add(&g_starts, 1);
    return 0;
}

static void probe_stop(za_ctx *ctx) {
    atomic_fetch_add(&g_stops, 1);
}

static const za_behaviour probe_beh;

static int probe_receive(za_ctx *ctx, const za_msg *m) {
    probe *p = za_ctx_state(ctx);
    switch (m->tag) {
    case T_ADD: {
        int64_t v;
        memcpy(&v, m->data, sizeof v);
        p->sum += v;
        return 0;
    }
    case T_GET:
        return za_reply(ctx, T_GET, &p->sum, sizeof p->sum);
    case T_ECHO:
        return za_reply(ctx, T_ECHO, m->data, m->len);
    case T_INFO: {
        info_reply r = {m->len, m->len ? fnv(m->data, m->len) : 0, m->data == NULL, m->kind};
        if (!za_ctx_can_reply(ctx)) return 0; /* a tell */
        return za_reply(ctx, T_INFO, &r, sizeof r);
    }
    case T_GATE:
        tu_gate_pass(&g_gate);
        return 0;
    case T_PTR: {
        const tu_obj *o = m->ptr;
        if (m->kind == ZA_PAYLOAD_PTR && m->len == 0 && m->data == NULL && o)
            atomic_fetch_add(&g_ptr_sum, o->value);
        return 0;
    }
    case T_TAKE: {
        tu_obj *o = za_msg_take_ptr(m);
        if (o) {
            atomic_fetch_add(&g_ptr_sum, o->value);
            atomic_fetch_add(&g_taken, 1);
            free(o); /* ours now: do not run the counting dtor */
        }
        if (m->ptr != NULL) return 1; /* the view must no longer show it */
        return 0;
    }
    case T_FAIL:
        za_ctx_fail(ctx, 42, "failing on purpose (%d)", 7);
        return 1;
    case T_STOPME:
        za_ctx_stop(ctx);
        return 0;
    case T_SELF: {
        self_reply r = {za_ctx_self(ctx), m->sender,          za_ctx_parent(ctx),
                        za_ctx_user(ctx), za_ctx_worker(ctx), za_ctx_can_reply(ctx)};
        return za_reply(ctx, T_SELF, &r, sizeof r);
    }
    case T_INSIDE: {
        inside_reply r;
        za_answer a;
        za_ref out;
        za_system *sys = za_ctx_system(ctx);
        r.ask_rc = za_ask(sys, za_ctx_self(ctx), T_GET, NULL, 0, 10, &a);
        za_answer_free(&a);
        r.spawn_sync_rc = za_spawn_sync(sys, &probe_beh, NULL, 0, NULL, 10, &out);
        r.join_rc = za_join(sys, m->sender ? m->sender : za_ctx_self(ctx), 10);
        r.shutdown_rc = za_system_shutdown(sys, 10);
        return za_reply(ctx, T_INSIDE, &r, sizeof r);
    }
    case T_ARGS:
        return za_reply(ctx, T_ARGS, p->args, p->args_len);
    case T_TAKE_BYTES:
        if (za_msg_take_ptr(m) == NULL) atomic_fetch_add(&g_take_bytes_null, 1);
        return 0;
    case T_CRASH:
        return 1;
    default:
        return 0;
    }
}

static const za_behaviour probe_beh = {ZA_BEHAVIOUR_INIT,           .name = "probe",
                                       .state_size = sizeof(probe), .start = probe_start,
                                       .receive = probe_receive,    .stop = probe_stop};

/* Dead letters of the fixture system. Freed only after the system is gone:
 * removing the hook does not wait for a hook call in progress. */
static tu_dl *g_dl;

static int setup(void **st) {
    reset_globals();
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

/* ------------------------------------------------------------------ tests */

static void test_spawn_tell_ask(void **st) {
    za_system *sys = *st;
    assert_int_equal(za_system_workers(sys), 2);
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    assert_int_equal(za_is_alive(sys, r), 1);
    assert_int_equal(za_ref_node(r), 0);
    assert_true(za_ref_slot(r) != 0);
    assert_true(za_ref_gen(r) != 0);
    int64_t want = 0;
    for (int64_t i = 1; i <= 1000; i++) {
        assert_int_equal(za_tell(sys, r, T_ADD, &i, sizeof i), ZA_OK);
        want += i;
    }
    assert_int_equal(tu_ask_i64(sys, r, T_GET), want);
    /* asks are ordered after earlier tells from the same thread */
    int64_t one = 1;
    assert_int_equal(za_tell(sys, r, T_ADD, &one, sizeof one), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), want + 1);
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(atomic_load(&g_stops), 0);
}

static void test_hooks_state_args(void **st) {
    za_system *sys = *st;
    const char args[] = "hello, actor";
    za_ref r = ZA_REF_NONE;
    assert_int_equal(za_spawn_sync(sys, &probe_beh, args, sizeof args, NULL, TU_WAIT_MS, &r),
                     ZA_OK);
    /* spawn_sync returns after start ran */
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(atomic_load(&g_zeroed_ok), 1);
    assert_int_equal(atomic_load(&g_zeroed_bad), 0);
    za_answer a;
    assert_int_equal(tu_ask(sys, r, T_ARGS, &a), ZA_OK);
    assert_int_equal(a.tag, T_ARGS);
    assert_int_equal(a.len, sizeof args);
    assert_memory_equal(a.data, args, sizeof args);
    za_answer_free(&a);

    /* a restart zeroes the state again and passes the same args */
    assert_int_equal(za_tell(sys, r, T_CRASH, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_starts) == 2);
    assert_int_equal(atomic_load(&g_zeroed_ok), 2);
    assert_int_equal(atomic_load(&g_zeroed_bad), 0);
    assert_int_equal(atomic_load(&g_stops), 1); /* the stop hook of the old incarnation */
    assert_int_equal(tu_ask(sys, r, T_ARGS, &a), ZA_OK);
    assert_int_equal(a.len, sizeof args);
    assert_memory_equal(a.data, args, sizeof args);
    za_answer_free(&a);

    assert_int_equal(za_stop(sys, r), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_stops), 2);
    assert_int_equal(za_is_alive(sys, r), 0);
}

static void test_ctx_accessors(void **st) {
    za_system *sys = *st;
    int user_token = 0;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.user = &user_token;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, &o);
    za_answer a;
    assert_int_equal(tu_ask(sys, r, T_SELF, &a), ZA_OK);
    assert_int_equal(a.len, sizeof(self_reply));
    self_reply sr;
    memcpy(&sr, a.data, sizeof sr);
    za_answer_free(&a);
    assert_true(sr.self == r);
    assert_true(sr.sender == ZA_REF_NONE); /* asked from outside any actor */
    assert_true(sr.parent == ZA_REF_NONE); /* top-level */
    assert_ptr_equal(sr.user, &user_token);
    assert_in_range(sr.worker, 0, 1);
    assert_int_equal(sr.can_reply, 1);

    za_actor_info info;
    assert_int_equal(za_actor_info_get(sys, r, &info), ZA_OK);
    assert_string_equal(info.behaviour, "probe");
    assert_true(info.parent == ZA_REF_NONE);
    /* counted when receive returns, which may be just after the reply arrived */
    ASSERT_EVENTUALLY(za_actor_info_get(sys, r, &info) == ZA_OK && info.processed == 1);
    assert_int_equal(info.restarts, 0);
}

static void test_blocking_calls_inside_actor(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    za_answer a;
    assert_int_equal(tu_ask(sys, r, T_INSIDE, &a), ZA_OK);
    inside_reply ir;
    assert_int_equal(a.len, sizeof ir);
    memcpy(&ir, a.data, sizeof ir);
    za_answer_free(&a);
    assert_int_equal(ir.ask_rc, ZA_ESTATE);
    assert_int_equal(ir.spawn_sync_rc, ZA_ESTATE);
    assert_int_equal(ir.join_rc, ZA_ESTATE);
    assert_int_equal(ir.shutdown_rc, ZA_ESTATE);
    /* the system is unharmed */
    assert_int_equal(za_is_alive(sys, r), 1);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
}

static void test_stop_join_stale_refs(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
    assert_int_equal(za_stop(sys, r), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_is_alive(sys, r), 0);
    assert_int_equal(atomic_load(&g_stops), 1);

    int64_t v = 1;
    ASSERT_ERR(za_tell(sys, r, T_ADD, &v, sizeof v), ZA_EDEAD);
    ASSERT_ERR(za_tell_prio(sys, r, T_ADD, &v, sizeof v, ZA_PRIO_HIGH), ZA_EDEAD);
    ASSERT_ERR(za_stop(sys, r), ZA_EDEAD);
    za_answer a;
    ASSERT_ERR(za_ask(sys, r, T_GET, NULL, 0, 1000, &a), ZA_EDEAD);
    assert_int_equal(a.status, ZA_EDEAD);
    za_answer_free(&a);
    za_actor_info info;
    ASSERT_ERR(za_actor_info_get(sys, r, &info), ZA_EDEAD);
    /* join on a dead actor returns at once */
    assert_int_equal(za_join(sys, r, 0), ZA_OK);

    /* a stale ref whose slot was reused by a new actor still fails */
    za_ref fresh[64];
    int reused = -1;
    for (int i = 0; i < 64; i++) {
        fresh[i] = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
        assert_true(fresh[i] != r);
        if (za_ref_slot(fresh[i]) == za_ref_slot(r)) reused = i;
    }
    ASSERT_ERR(za_tell(sys, r, T_ADD, &v, sizeof v), ZA_EDEAD);
    assert_int_equal(za_is_alive(sys, r), 0);
    if (reused >= 0) {
        assert_true(za_ref_gen(fresh[reused]) != za_ref_gen(r));
        assert_int_equal(tu_ask_i64(sys, fresh[reused], T_GET), 0); /* untouched by the tell */
    }
    for (int i = 0; i < 64; i++) assert_int_equal(za_is_alive(sys, fresh[i]), 1);
}

static void test_stale_ref_reused_slot(void **st) {
    /* Churn actors so slots get reused, then check every old reference is
     * rejected while the slot's new tenants are fine. One worker makes the
     * slot recycling deterministic enough to be sure it happens. */
    (void)st;
    za_system *sys = tu_system(1);
    enum { N = 600 };
    za_ref *old = calloc(N, sizeof *old), *now = calloc(N, sizeof *now);
    assert_non_null(old);
    assert_non_null(now);
    for (int i = 0; i < N; i++) {
        old[i] = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
        assert_int_equal(za_stop(sys, old[i]), ZA_OK);
        assert_int_equal(za_join(sys, old[i], TU_WAIT_MS), ZA_OK);
    }
    for (int i = 0; i < N; i++) now[i] = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    int reused = 0, reused_live = 0;
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            if (za_ref_slot(old[j]) == za_ref_slot(old[i])) {
                reused++;
                assert_true(old[j] != old[i]);
            }
        }
        for (int j = 0; j < N; j++) {
            if (za_ref_slot(now[j]) == za_ref_slot(old[i])) {
                reused_live++;
                assert_true(now[j] != old[i]);
            }
        }
        int64_t v = 1000;
        assert_int_equal(za_tell(sys, old[i], T_ADD, &v, sizeof v), ZA_EDEAD);
        assert_int_equal(za_stop(sys, old[i]), ZA_EDEAD);
        assert_int_equal(za_is_alive(sys, old[i]), 0);
    }
    assert_true(reused + reused_live > 0); /* slots are recycled; generations tell them apart */
    for (int j = 0; j < N; j++) assert_int_equal(tu_ask_i64(sys, now[j], T_GET), 0);
    free(old);
    free(now);
    za_system_destroy(sys);
}

static void test_ctx_stop(void **st) {
    za_system *sys = *st;
    tu_dl *dl = g_dl;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, r, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    assert_int_equal(za_tell(sys, r, T_STOPME, NULL, 0), ZA_OK);
    for (int64_t i = 0; i < 3; i++) assert_int_equal(za_tell(sys, r, T_ADD, &i, sizeof i), ZA_OK);
    tu_gate_open(&g_gate);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_stops), 1);
    /* the messages queued behind the stop were not lost silently */
    ASSERT_EVENTUALLY(tu_dl_count_tag(dl, T_ADD, ZA_DL_DEAD_TARGET) == 3);
    assert_int_equal(tu_dl_count(dl, ZA_DL_DEAD_TARGET), 3);
}

/* A behaviour whose start stops it at once (e.g. nothing left to do). */
static int quitter_start(za_ctx *ctx, const void *args, size_t len) {
    atomic_fetch_add(&g_starts, 1);
    za_ctx_stop(ctx);
    return 0;
}

static void quitter_stop(za_ctx *ctx) {
    atomic_fetch_add(&g_stops, 1);
}

static int quitter_receive(za_ctx *ctx, const za_msg *m) {
    return 0;
}

static const za_behaviour quitter_beh = {ZA_BEHAVIOUR_INIT, .name = "quitter",
                                         .start = quitter_start, .receive = quitter_receive,
                                         .stop = quitter_stop};

static void test_ctx_stop_in_start(void **st) {
    /* the stop begins when start returns, without waiting for a message */
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &quitter_beh, NULL, 0, NULL);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(atomic_load(&g_stops), 1);
    assert_false(za_is_alive(sys, r));
}

static void count_cb(za_answer *a, void *ud) {
    (void)ud;
    atomic_store(&g_cb_status, a->status);
    atomic_fetch_add(&g_cb_calls, 1);
    za_answer_free(a);
}

static void test_stop_with_queued_messages(void **st) {
    za_system *sys = *st;
    tu_dl *dl = g_dl;
    atomic_store(&g_cb_calls, 0);
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, r, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    for (int64_t i = 0; i < 5; i++) assert_int_equal(za_tell(sys, r, T_ADD, &i, sizeof i), ZA_OK);
    za_ask_handle *h = NULL;
    assert_int_equal(za_ask_async(sys, r, T_GET, NULL, 0, 0, count_cb, NULL, &h), ZA_OK);
    assert_int_equal(za_stop(sys, r), ZA_OK);
    assert_int_equal(za_is_alive(sys, r), 1); /* stop is asynchronous */
    tu_gate_open(&g_gate);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_cb_calls) == 1);
    assert_int_equal(atomic_load(&g_cb_status), ZA_EDEAD); /* the queued ask was answered */
    ASSERT_EVENTUALLY(tu_dl_count(dl, ZA_DL_DEAD_TARGET) == 6);
    assert_int_equal(tu_dl_count_tag(dl, T_ADD, ZA_DL_DEAD_TARGET), 5);
    assert_int_equal(za_ask_cancel(h), 0);
    za_ask_handle_release(h);
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&g_cb_calls), 1);
}

static void test_payload_sizes(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    const size_t sizes[] = {0, 1, 7, 47, 48, 49, 64, 1000, 4096, 100000, 1u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        uint8_t *buf = malloc(n ? n : 1);
        assert_non_null(buf);
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 31u + k);
        za_answer a;
        int rc = za_ask(sys, r, T_INFO, buf, n, TU_WAIT_MS, &a);
        if (rc) fprintf(stderr, "size %zu: %s\n", n, za_last_error());
        assert_int_equal(rc, ZA_OK);
        info_reply ir;
        assert_int_equal(a.len, sizeof ir);
        memcpy(&ir, a.data, sizeof ir);
        za_answer_free(&a);
        assert_int_equal(ir.len, n);
        assert_int_equal(ir.kind, ZA_PAYLOAD_BYTES);
        assert_int_equal(ir.data_null, n == 0);
        if (n) assert_true(ir.hash == fnv(buf, n));
        /* the reply payload comes back intact too */
        assert_int_equal(za_ask(sys, r, T_ECHO, buf, n, TU_WAIT_MS, &a), ZA_OK);
        assert_int_equal(a.status, ZA_OK);
        assert_int_equal(a.tag, T_ECHO);
        assert_int_equal(a.len, n);
        assert_int_equal(a.kind, ZA_PAYLOAD_BYTES);
        if (n) assert_memory_equal(a.data, buf, n);
        za_answer_free(&a);
        /* and a tell copies: scribbling on the buffer afterwards is harmless */
        assert_int_equal(za_tell(sys, r, T_INFO, buf, n), ZA_OK);
        memset(buf, 0xEE, n);
        free(buf);
    }
}

static void test_too_big(void **st) {
    (void)st;
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 1;
    cfg.max_payload = 64;
    za_system *sys = tu_system_cfg(&cfg);
    uint8_t buf[65] = {0};
    za_ref r = ZA_REF_NONE;
    ASSERT_ERR(za_spawn(sys, &probe_beh, buf, 65, NULL, &r), ZA_ETOOBIG);
    assert_true(r == ZA_REF_NONE);
    r = tu_spawn(sys, &probe_beh, buf, 64, NULL);
    ASSERT_ERR(za_tell(sys, r, T_INFO, buf, 65), ZA_ETOOBIG);
    ASSERT_ERR(za_tell_prio(sys, r, T_INFO, buf, 65, ZA_PRIO_LOW), ZA_ETOOBIG);
    za_answer a;
    ASSERT_ERR(za_ask(sys, r, T_INFO, buf, 65, 1000, &a), ZA_ETOOBIG);
    za_answer_free(&a);
    ASSERT_ERR(za_ask_async(sys, r, T_INFO, buf, 65, 0, count_cb, NULL, NULL), ZA_ETOOBIG);
    za_timer_id t;
    ASSERT_ERR(za_send_after(sys, 10, r, T_INFO, buf, 65, &t), ZA_ETOOBIG);
    /* exactly max_payload is fine */
    assert_int_equal(za_tell(sys, r, T_INFO, buf, 64), ZA_OK);
    assert_int_equal(za_ask(sys, r, T_INFO, buf, 64, TU_WAIT_MS, &a), ZA_OK);
    info_reply ir;
    memcpy(&ir, a.data, sizeof ir);
    assert_int_equal(ir.len, 64);
    za_answer_free(&a);
    assert_int_equal(atomic_load(&g_cb_calls), 0);
    za_system_destroy(sys);
}

static void test_ptr_consumed(void **st) {
    za_system *sys = *st;
    atomic_int dtors = 0;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(
            za_tell_ptr(sys, r, T_PTR, tu_obj_new(i, &dtors), tu_obj_dtor, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0); /* barrier */
    assert_int_equal(atomic_load(&g_ptr_sum), 55);
    ASSERT_EVENTUALLY(atomic_load(&dtors) == 10);
    tu_sleep_ms(10);
    assert_int_equal(atomic_load(&dtors), 10);
    /* a NULL dtor is allowed */
    static tu_obj plain = {5, NULL};
    assert_int_equal(za_tell_ptr(sys, r, T_PTR, &plain, NULL, ZA_PRIO_HIGH), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
    assert_int_equal(atomic_load(&g_ptr_sum), 60);
}

static void test_ptr_take(void **st) {
    za_system *sys = *st;
    atomic_int dtors = 0;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(
            za_tell_ptr(sys, r, T_TAKE, tu_obj_new(i, &dtors), tu_obj_dtor, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0); /* same lane: a barrier */
    assert_int_equal(atomic_load(&g_taken), 10);
    assert_int_equal(atomic_load(&g_ptr_sum), 55);
    tu_sleep_ms(10);
    assert_int_equal(atomic_load(&dtors), 0); /* the receiver owned them */
    /* take on a BYTES message, on NULL and on a message outside receive: NULL */
    assert_int_equal(za_tell(sys, r, T_TAKE_BYTES, "x", 1), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
    assert_int_equal(atomic_load(&g_take_bytes_null), 1);
    assert_null(za_msg_take_ptr(NULL));
    tu_obj o = {1, NULL};
    za_msg fake;
    memset(&fake, 0, sizeof fake);
    fake.kind = ZA_PAYLOAD_PTR;
    fake.ptr = &o;
    assert_null(za_msg_take_ptr(&fake));
    assert_int_equal(atomic_load(&dtors), 0);
}

static void test_ptr_error_keeps_ownership(void **st) {
    za_system *sys = *st;
    atomic_int dtors = 0;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, r), ZA_OK);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    tu_obj *o = tu_obj_new(1, &dtors);
    ASSERT_ERR(za_tell_ptr(sys, r, T_PTR, o, tu_obj_dtor, ZA_PRIO_NORMAL), ZA_EDEAD);
    ASSERT_ERR(za_tell_ptr(NULL, r, T_PTR, o, tu_obj_dtor, ZA_PRIO_NORMAL), ZA_EINVAL);
    za_ref live = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    ASSERT_ERR(za_tell_ptr(sys, live, T_PTR, o, tu_obj_dtor, (za_prio)9), ZA_EINVAL);
    tu_sleep_ms(10);
    assert_int_equal(atomic_load(&dtors), 0);
    tu_obj_dtor(o); /* still ours */
    assert_int_equal(atomic_load(&dtors), 1);
}

static void test_ptr_dead_letters(void **st) {
    za_system *sys = *st;
    tu_dl *dl = g_dl;
    atomic_int dtors = 0;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    /* a failing receive: the message is a dead letter and its ptr is destroyed once */
    assert_int_equal(za_tell_ptr(sys, r, T_FAIL, tu_obj_new(1, &dtors), tu_obj_dtor, 0), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count(dl, ZA_DL_FAILED) == 1);
    ASSERT_EVENTUALLY(atomic_load(&dtors) == 1);
    ASSERT_EVENTUALLY(atomic_load(&g_starts) == 2); /* restarted */
    /* queued behind a stop: dead letters, each destroyed once */
    assert_int_equal(za_tell(sys, r, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            za_tell_ptr(sys, r, T_PTR, tu_obj_new(i, &dtors), tu_obj_dtor, ZA_PRIO_NORMAL), ZA_OK);
    assert_int_equal(za_stop(sys, r), ZA_OK);
    tu_gate_open(&g_gate);
    assert_int_equal(za_join(sys, r, TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&dtors) == 6);
    ASSERT_EVENTUALLY(tu_dl_count(dl, ZA_DL_DEAD_TARGET) == 5);
    assert_int_equal(atomic_load(&dl->ptr_kind), 6);
    assert_int_equal(atomic_load(&g_ptr_sum), 0); /* none was delivered */
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&dtors), 6);
}

static void test_ptr_queued_at_destroy(void **st) {
    (void)st;
    /* ptr messages still queued when the system goes away are destroyed once */
    za_system *sys = tu_system(2);
    atomic_int dtors = 0;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, r, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    for (int i = 0; i < 20; i++)
        assert_int_equal(za_tell_ptr(sys, r, T_PTR, tu_obj_new(1, &dtors), tu_obj_dtor, 0), ZA_OK);
    tu_gate_open(&g_gate);
    za_system_destroy(sys);
    assert_int_equal(atomic_load(&dtors), 20);
}

static void test_spawn_sync_failing_start(void **st) {
    za_system *sys = *st;
    za_ref r = (za_ref)123;
    char too_long_args[65] = {0}; /* probe_start fails for args > 64 bytes */
    ASSERT_ERR(
        za_spawn_sync(sys, &probe_beh, too_long_args, sizeof too_long_args, NULL, TU_WAIT_MS, &r),
        ZA_ESTART);
    assert_true(r == ZA_REF_NONE);
    /* not restarted, and dead */
    assert_int_equal(za_system_wait_idle(sys, TU_WAIT_MS), ZA_OK);
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.actors_alive, 0);
    assert_int_equal(m.restarts, 0);
    assert_int_equal(atomic_load(&g_starts), 0);
    assert_int_equal(atomic_load(&g_stops), 0); /* stop hook only after a successful start */
}

static int failing_start(za_ctx *ctx, const void *args, size_t len) {
    za_ctx_fail(ctx, 99, "cannot start: %s", "no database");
    return 1;
}

static atomic_int g_failing_starts;
static int counting_failing_start(za_ctx *ctx, const void *args, size_t len) {
    atomic_fetch_add(&g_failing_starts, 1);
    return failing_start(ctx, args, len);
}

static const za_behaviour failing_beh = {ZA_BEHAVIOUR_INIT, .name = "failing",
                                         .start = counting_failing_start, .receive = probe_receive};

static void test_spawn_sync_reason_text(void **st) {
    za_system *sys = *st;
    atomic_store(&g_failing_starts, 0);
    za_ref r;
    ASSERT_ERR(za_spawn_sync(sys, &failing_beh, NULL, 0, NULL, TU_WAIT_MS, &r), ZA_ESTART);
    assert_non_null(strstr(za_last_error(), "no database"));
    assert_true(r == ZA_REF_NONE);
    assert_int_equal(za_system_wait_idle(sys, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_failing_starts), 1);
}

/* A spawn does not wait for start, so a start failure is reported to the
 * first tell or ask to the ref instead: ZA_EDEAD with the reason (the
 * runtime remembers recent start failures; issue 10, finding 23). */
static void expect_start_failure(za_system *sys, za_ref r) {
    char want[64];
    snprintf(want, sizeof want, "actor %u.%u failed to start: ", (unsigned)za_ref_slot(r),
             (unsigned)za_ref_gen(r));
    za_answer a;
    int rc = za_ask(sys, r, T_GET, NULL, 0, TU_WAIT_MS, &a);
    if (rc != ZA_EDEAD || !strstr(za_last_error(), want) ||
        !strstr(za_last_error(), "cannot start: no database"))
        fail_msg("ask: rc %d, '%s'", rc, za_last_error());
    za_answer_free(&a);
    ASSERT_EVENTUALLY(!za_is_alive(sys, r));
    rc = za_tell(sys, r, T_GET, NULL, 0);
    if (rc != ZA_EDEAD || !strstr(za_last_error(), want) ||
        !strstr(za_last_error(), "cannot start: no database"))
        fail_msg("tell: rc %d, '%s'", rc, za_last_error());
}

static void test_start_failure_reason_reaches_the_caller(void **st) {
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.restart = ZA_RESTART_TEMPORARY;
    za_ref r;
    /* the ask queued behind the failing START, or sent once it is dead */
    assert_int_equal(za_spawn(sys, &failing_beh, NULL, 0, &o, &r), ZA_OK);
    expect_start_failure(sys, r);
    /* permanent: restarted until max_restarts, then dead with the reason */
    assert_int_equal(za_spawn(sys, &failing_beh, NULL, 0, NULL, &r), ZA_OK);
    expect_start_failure(sys, r);
    /* a plain death says nothing about starting */
    za_ref ok = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, ok), ZA_OK);
    assert_int_equal(za_join(sys, ok, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_tell(sys, ok, T_GET, NULL, 0), ZA_EDEAD);
    assert_null(strstr(za_last_error(), "failed to start"));
}

static atomic_int g_flaky_starts;
static int flaky_start(za_ctx *ctx, const void *args, size_t len) {
    if (atomic_fetch_add(&g_flaky_starts, 1) == 0) return failing_start(ctx, args, len);
    return 0;
}
static const za_behaviour flaky_beh = {ZA_BEHAVIOUR_INIT, .name = "flaky",
                                       .state_size = sizeof(probe), .start = flaky_start,
                                       .receive = probe_receive};

static void test_start_failures_are_bounded_and_forgotten(void **st) {
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.restart = ZA_RESTART_TEMPORARY;
    enum { N = 70 }; /* more than the table keeps (64) */
    za_ref r[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(za_spawn(sys, &failing_beh, NULL, 0, &o, &r[i]), ZA_OK);
        assert_int_equal(za_join(sys, r[i], TU_WAIT_MS), ZA_OK);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(za_tell(sys, r[i], T_GET, NULL, 0), ZA_EDEAD);
        int said = strstr(za_last_error(), "failed to start: cannot start") != NULL;
        if (said != (i >= N - 64)) fail_msg("ref %d of %d: '%s'", i, N, za_last_error());
    }
    /* a restart that succeeds: the start failure is no longer the story */
    atomic_store(&g_flaky_starts, 0);
    za_ref f;
    assert_int_equal(za_spawn(sys, &flaky_beh, NULL, 0, NULL, &f), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, f, T_GET), 0);
    assert_int_equal(atomic_load(&g_flaky_starts), 2);
    assert_int_equal(za_stop(sys, f), ZA_OK);
    assert_int_equal(za_join(sys, f, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_tell(sys, f, T_GET, NULL, 0), ZA_EDEAD);
    assert_null(strstr(za_last_error(), "failed to start"));
}

static int gated_start(za_ctx *ctx, const void *args, size_t len) {
    tu_gate_pass(&g_gate);
    atomic_fetch_add(&g_starts, 1);
    return 0;
}

static const za_behaviour gated_beh = {ZA_BEHAVIOUR_INIT,           .name = "gated",
                                       .state_size = sizeof(probe), .start = gated_start,
                                       .receive = probe_receive,    .stop = probe_stop};

static void test_spawn_sync_timeout(void **st) {
    za_system *sys = *st;
    za_ref r = ZA_REF_NONE;
    ASSERT_ERR(za_spawn_sync(sys, &gated_beh, NULL, 0, NULL, 30, &r), ZA_ETIMEDOUT);
    /* the actor exists and finishes starting later */
    assert_true(r != ZA_REF_NONE);
    assert_int_equal(za_is_alive(sys, r), 1);
    tu_gate_open(&g_gate);
    ASSERT_EVENTUALLY(atomic_load(&g_starts) == 1);
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
}

static void test_bad_arguments(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    za_ref out;
    za_system *s2 = NULL;
    za_config cfg;
    za_config_init(&cfg);
    ASSERT_ERR(za_system_create(&cfg, NULL), ZA_EINVAL);
    cfg.workers = -1; /* (the text ASSERT_ERR marks with: checked by hand) */
    assert_int_equal(za_system_create(&cfg, &s2), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "workers"));
    assert_null(s2);
    cfg.workers = 100000;
    ASSERT_ERR(za_system_create(&cfg, &s2), ZA_EINVAL);
    assert_null(s2);

    ASSERT_ERR(za_spawn(NULL, &probe_beh, NULL, 0, NULL, &out), ZA_EINVAL);
    ASSERT_ERR(za_spawn(sys, NULL, NULL, 0, NULL, &out), ZA_EINVAL);
    za_behaviour no_recv = {ZA_BEHAVIOUR_INIT, .name = "x"};
    ASSERT_ERR(za_spawn(sys, &no_recv, NULL, 0, NULL, &out), ZA_EINVAL);
    ASSERT_ERR(za_spawn(sys, &probe_beh, NULL, 0, NULL, NULL), ZA_EINVAL);
    ASSERT_ERR(za_spawn(sys, &probe_beh, NULL, 4, NULL, &out), ZA_EINVAL);
    ASSERT_ERR(za_spawn_sync(sys, &probe_beh, NULL, 0, NULL, 100, NULL), ZA_EINVAL);
    ASSERT_ERR(za_spawn_sync(NULL, &probe_beh, NULL, 0, NULL, 100, &out), ZA_EINVAL);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.restart = (za_restart)7;
    ASSERT_ERR(za_spawn(sys, &probe_beh, NULL, 0, &o, &out), ZA_EINVAL);
    za_spawn_opts_init(&o);
    o.strategy = (za_strategy)9;
    ASSERT_ERR(za_spawn(sys, &probe_beh, NULL, 0, &o, &out), ZA_EINVAL);
    za_spawn_opts_init(&o);
    o.full_policy = (za_full_policy)9;
    ASSERT_ERR(za_spawn(sys, &probe_beh, NULL, 0, &o, &out), ZA_EINVAL);
    za_spawn_opts_init(&o);
    o.name = "";
    ASSERT_ERR(za_spawn(sys, &probe_beh, NULL, 0, &o, &out), ZA_EINVAL);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    o.name = longname;
    ASSERT_ERR(za_spawn(sys, &probe_beh, NULL, 0, &o, &out), ZA_EINVAL);

    ASSERT_ERR(za_tell(NULL, r, T_ADD, NULL, 0), ZA_EINVAL);
    ASSERT_ERR(za_tell(sys, r, T_ADD, NULL, 3), ZA_EINVAL);
    ASSERT_ERR(za_tell_prio(sys, r, T_ADD, NULL, 0, (za_prio)3), ZA_EINVAL);
    ASSERT_ERR(za_tell_prio(sys, r, T_ADD, NULL, 0, (za_prio)-1), ZA_EINVAL);
    ASSERT_ERR(za_tell(sys, ZA_REF_NONE, T_ADD, NULL, 0), ZA_EDEAD);
    ASSERT_ERR(za_tell(sys, r | (1ull << 56), T_ADD, NULL, 0), ZA_EDEAD); /* other node */
    ASSERT_ERR(za_tell(sys, (za_ref)((1ull << 32) | 999999u), T_ADD, NULL, 0), ZA_EDEAD);
    ASSERT_ERR(za_tell(sys, r + (1ull << 32), T_ADD, NULL, 0), ZA_EDEAD); /* wrong generation */
    ASSERT_ERR(za_stop(NULL, r), ZA_EINVAL);
    ASSERT_ERR(za_stop(sys, ZA_REF_NONE), ZA_EDEAD);
    ASSERT_ERR(za_join(NULL, r, 10), ZA_EINVAL);
    ASSERT_ERR(za_join(sys, r, 20), ZA_ETIMEDOUT);
    za_answer a;
    ASSERT_ERR(za_ask(sys, r, T_GET, NULL, 0, 100, NULL), ZA_EINVAL);
    ASSERT_ERR(za_ask(NULL, r, T_GET, NULL, 0, 100, &a), ZA_EINVAL);
    ASSERT_ERR(za_ask(sys, r, T_GET, NULL, 5, 100, &a), ZA_EINVAL);
    za_answer_free(&a);
    ASSERT_ERR(za_ask_async(sys, r, T_GET, NULL, 0, 0, NULL, NULL, NULL), ZA_EINVAL);
    ASSERT_ERR(za_ask_async(NULL, r, T_GET, NULL, 0, 0, count_cb, NULL, NULL), ZA_EINVAL);
    za_actor_info info;
    ASSERT_ERR(za_actor_info_get(sys, r, NULL), ZA_EINVAL);
    ASSERT_ERR(za_actor_info_get(NULL, r, &info), ZA_EINVAL);
    za_metrics m;
    ASSERT_ERR(za_metrics_read(NULL, &m), ZA_EINVAL);
    ASSERT_ERR(za_metrics_read(sys, NULL), ZA_EINVAL);
    ASSERT_ERR(za_watch(NULL, r, r), ZA_EINVAL);
    ASSERT_ERR(za_register(sys, NULL, r), ZA_EINVAL);
    ASSERT_ERR(za_lookup(sys, "x", NULL), ZA_EINVAL);
    ASSERT_ERR(za_system_run(NULL, 0), ZA_EINVAL);
    ASSERT_ERR(za_system_run(sys, 0), ZA_ESTATE); /* not a manual system */
    ASSERT_ERR(za_system_wait_idle(NULL, 0), ZA_EINVAL);
    ASSERT_ERR(za_system_shutdown(NULL, 0), ZA_EINVAL);
    ASSERT_ERR(za_reply_send(NULL, NULL, 0, NULL, 0), ZA_EINVAL);
    ASSERT_ERR(za_reply_send(sys, NULL, 0, NULL, 0), ZA_EINVAL);
    ASSERT_ERR(za_reply_send_ptr(sys, NULL, 0, NULL, NULL), ZA_EINVAL);
    ASSERT_ERR(za_reply_error(sys, NULL, ZA_EFAILED, "x"), ZA_EINVAL);
    ASSERT_ERR(za_reply(NULL, 0, NULL, 0), ZA_EINVAL);
    ASSERT_ERR(za_ctx_spawn(NULL, &probe_beh, NULL, 0, NULL, &out), ZA_EINVAL);
    ASSERT_ERR(za_ctx_ask(NULL, r, 0, NULL, 0, 0, NULL), ZA_EINVAL);
    ASSERT_ERR(za_ctx_watch(NULL, r), ZA_EINVAL);
    ASSERT_ERR(za_timer_cancel(NULL, 1), ZA_EINVAL);
    ASSERT_ERR(za_metrics_prometheus(NULL, NULL, 0), ZA_EINVAL);

    /* harmless no-ops on NULL */
    za_system_destroy(NULL);
    za_spawn_opts_init(NULL);
    za_config_init(NULL);
    za_answer_free(NULL);
    za_ask_handle_release(NULL);
    assert_int_equal(za_ask_cancel(NULL), 0);
    za_set_dead_letter_hook(NULL, NULL, NULL);
    assert_int_equal(za_system_workers(NULL), 0);
    assert_int_equal(za_is_alive(NULL, r), 0);
    assert_int_equal(za_is_alive(sys, ZA_REF_NONE), 0);
    assert_null(za_ctx_state(NULL));
    assert_true(za_ctx_self(NULL) == ZA_REF_NONE);
    assert_true(za_ctx_parent(NULL) == ZA_REF_NONE);
    assert_null(za_ctx_system(NULL));
    assert_null(za_ctx_user(NULL));
    assert_int_equal(za_ctx_worker(NULL), -1);
    assert_int_equal(za_ctx_restarts(NULL), 0);
    assert_int_equal(za_ctx_can_reply(NULL), 0);
    assert_null(za_ctx_take_reply(NULL));
    za_ctx_stop(NULL);
    za_ctx_fail(NULL, 1, "x");

    /* the actor survived all of that */
    assert_int_equal(tu_ask_i64(sys, r, T_GET), 0);
    za_metrics_read(sys, &m);
    assert_int_equal(m.actors_alive, 1);
}

/* ---------------------------------------------- spawning from a stop hook */

static atomic_int g_stop_spawn_rc, g_stop_spawn2_rc;
static _Atomic za_ref g_stop_child;

static int idle_receive(za_ctx *ctx, const za_msg *m) {
    return 0;
}
static const za_behaviour idle_beh = {ZA_BEHAVIOUR_INIT, .name = "idle", .receive = idle_receive};

static void spawner_stop(za_ctx *ctx) {
    za_ref kid = ZA_REF_NONE;
    atomic_store(&g_stop_spawn_rc, za_ctx_spawn(ctx, &idle_beh, NULL, 0, NULL, &kid));
    atomic_store(&g_stop_child, kid);
    za_ref kid2 = ZA_REF_NONE; /* za_spawn inside an actor makes a child too */
    atomic_store(&g_stop_spawn2_rc, za_spawn(za_ctx_system(ctx), &idle_beh, NULL, 0, NULL, &kid2));
    if (kid2 != ZA_REF_NONE) atomic_store(&g_stop_child, kid2);
    atomic_fetch_add(&g_stops, 1);
}

static int spawner_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == 1) return 1; /* fail: a restart runs the stop hook too */
    return 0;
}
static const za_behaviour spawner_beh = {ZA_BEHAVIOUR_INIT, .name = "spawner",
                                         .receive = spawner_receive, .stop = spawner_stop};

/* A child spawned by a stop hook outlived its parent: the parent's
 * children were already stopped, and nothing stopped the new one. */
static void test_spawn_in_stop_refused(void **st) {
    za_system *sys = *st;
    atomic_store(&g_stop_spawn_rc, 99);
    atomic_store(&g_stop_spawn2_rc, 99);
    atomic_store(&g_stop_child, ZA_REF_NONE);
    za_ref p = tu_spawn(sys, &spawner_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, p), ZA_OK);
    assert_int_equal(za_join(sys, p, TU_WAIT_MS), ZA_OK);
    za_ref kid = atomic_load(&g_stop_child);
    if (kid != ZA_REF_NONE) {
        /* give the runtime every chance to stop it: it did not */
        bool died = WAIT_UNTIL(!za_is_alive(sys, kid), 500);
        fail_msg("spawn in stop: rc %d/%d, child %s", atomic_load(&g_stop_spawn_rc),
                 atomic_load(&g_stop_spawn2_rc), died ? "died" : "outlived its parent");
    }
    assert_int_equal(atomic_load(&g_stop_spawn_rc), ZA_ESTATE);
    assert_int_equal(atomic_load(&g_stop_spawn2_rc), ZA_ESTATE);

    /* the stop before a restart refuses too (the old state's children are gone) */
    atomic_store(&g_stop_spawn_rc, 99);
    atomic_store(&g_stops, 0);
    za_ref q = tu_spawn(sys, &spawner_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, q, 1, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_stops) == 1);
    assert_int_equal(atomic_load(&g_stop_spawn_rc), ZA_ESTATE);
    assert_true(za_is_alive(sys, q)); /* restarted */
    za_metrics m;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.actors_alive == 1);
}

/* Negative tags are the runtime's: a user could forge ZA_TAG_DOWN. */
static void test_reserved_tags_refused(void **st) {
    za_system *sys = *st;
    za_ref r = tu_spawn(sys, &probe_beh, NULL, 0, NULL);
    za_down fake = {.ref = r, .code = 0};
    ASSERT_ERR(za_tell(sys, r, ZA_TAG_DOWN, &fake, sizeof fake), ZA_EINVAL);
    ASSERT_ERR(za_tell_prio(sys, r, ZA_TAG_CHILD_FAILED, NULL, 0, ZA_PRIO_HIGH), ZA_EINVAL);
    ASSERT_ERR(za_tell(sys, r, INT32_MIN, NULL, 0), ZA_EINVAL);
    int obj = 0;
    ASSERT_ERR(za_tell_ptr(sys, r, ZA_TAG_TIMEOUT, &obj, NULL, ZA_PRIO_NORMAL), ZA_EINVAL);
    za_answer a;
    ASSERT_ERR(za_ask(sys, r, ZA_TAG_DOWN, NULL, 0, 1000, &a), ZA_EINVAL);
    za_answer_free(&a);
    za_ask_wait_handle *h = NULL;
    ASSERT_ERR(za_ask_start(sys, r, -5, NULL, 0, &h), ZA_EINVAL);
    assert_null(h);
    ASSERT_ERR(za_ask_async(sys, r, ZA_TAG_TIMEOUT, NULL, 0, 0, count_cb, NULL, NULL), ZA_EINVAL);
    za_timer_id t;
    ASSERT_ERR(za_send_after(sys, 1, r, ZA_TAG_DOWN, NULL, 0, &t), ZA_EINVAL);
    ASSERT_ERR(za_send_interval(sys, 1, 1, r, ZA_TAG_DOWN, NULL, 0, &t), ZA_EINVAL);
    /* nothing arrived, nothing was counted as sent */
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.sent, 0);
    assert_int_equal(za_tell(sys, r, 0, NULL, 0), ZA_OK); /* 0 is the user's */
    assert_int_equal(atomic_load(&g_cb_calls), 0);
}

static void test_strerror(void **st) {
    (void)st;
    const char *seen[20] = {0};
    for (int code = 0; code >= ZA_ESTATE; code--) {
        const char *s = za_strerror(code);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        for (int j = 0; j < -code; j++) assert_string_not_equal(s, seen[j]);
        seen[-code] = s;
    }
    assert_non_null(za_strerror(-999));
    assert_non_null(za_strerror(12345));
    assert_non_null(za_last_error());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spawn_tell_ask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_in_stop_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_tags_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hooks_state_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_calls_inside_actor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_join_stale_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_ref_reused_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_stop_in_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_queued_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ptr_consumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ptr_take, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ptr_error_keeps_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ptr_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ptr_queued_at_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_sync_failing_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_sync_reason_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failure_reason_reaches_the_caller, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_start_failures_are_bounded_and_forgotten, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spawn_sync_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests_name("actor", tests, NULL, NULL);
}
