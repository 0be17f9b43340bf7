/* Ask: blocking, async, actor-side; timeouts, failures, deferred and late replies. */
#include "testutil.h"

enum {
    T_ECHO = 1,
    T_HOLD,      /* take the reply slot and park it in g_slots for the test to answer */
    T_FAIL,      /* fail with a reason text */
    T_NOREPLY,   /* handle the ask without replying */
    T_SLOW,      /* sleep (payload: uint32 ms), then reply */
    T_TWICE,     /* reply twice, record the second result */
    T_CANREPLY,  /* record za_ctx_can_reply and za_reply's result (for tells) */
    T_REPLY_PTR, /* reply with a ptr payload */
    T_GO,        /* client: za_ctx_ask as described by the payload */
    T_DEFER,     /* tag of deferred replies */
};

/* ------------------------------------------------------------ globals */

#define MAX_SLOTS 64
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static za_reply_slot *g_slots[MAX_SLOTS];
static atomic_int g_nslots;
static atomic_int g_second_reply_rc, g_can_reply, g_tell_reply_rc, g_reply_dtors;

/* what the client actor saw */
typedef struct seen {
    uint64_t corr;
    int32_t tag;
    int16_t status;
    uint32_t len;
    char data[16];
    za_ref sender;
} seen;
#define MAX_SEEN 64
static seen g_seen[MAX_SEEN];
static atomic_int g_nseen;
static atomic_int g_go_rc;
static _Atomic uint64_t g_go_corr;

static tu_dl *g_dl;

static void reset(void) {
    pthread_mutex_lock(&g_mu);
    memset(g_slots, 0, sizeof g_slots);
    memset(g_seen, 0, sizeof g_seen);
    pthread_mutex_unlock(&g_mu);
    atomic_store(&g_nslots, 0);
    atomic_store(&g_nseen, 0);
    atomic_store(&g_second_reply_rc, 1);
    atomic_store(&g_can_reply, -1);
    atomic_store(&g_tell_reply_rc, 1);
    atomic_store(&g_reply_dtors, 0);
    atomic_store(&g_go_rc, 1);
    atomic_store(&g_go_corr, 0);
}

static za_reply_slot *slot_at(int i) {
    pthread_mutex_lock(&g_mu);
    za_reply_slot *r = g_slots[i];
    g_slots[i] = NULL;
    pthread_mutex_unlock(&g_mu);
    return r;
}

/* ------------------------------------------------------------- server */

static void count_reply_dtor(void *p) {
    atomic_fetch_add(&g_reply_dtors, 1);
    free(p);
}

static int server_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_ECHO:
        return za_reply(ctx, T_ECHO, m->data, m->len);
    case T_HOLD: {
        za_reply_slot *r = za_ctx_take_reply(ctx);
        if (!r) return 1;
        if (za_ctx_can_reply(ctx)) return 1; /* the slot is gone from the message */
        if (za_reply(ctx, 0, NULL, 0) != ZA_ESTATE) return 1;
        pthread_mutex_lock(&g_mu);
        int i = atomic_load(&g_nslots);
        if (i < MAX_SLOTS) g_slots[i] = r;
        pthread_mutex_unlock(&g_mu);
        atomic_fetch_add(&g_nslots, 1);
        return 0;
    }
    case T_FAIL: {
        int n = 0;
        if (m->len == sizeof n) memcpy(&n, m->data, sizeof n);
        za_ctx_fail(ctx, 5, "bad request %d", n);
        return 1;
    }
    case T_NOREPLY:
        return 0;
    case T_SLOW: {
        uint32_t ms;
        memcpy(&ms, m->data, sizeof ms);
        tu_sleep_ms(ms);
        return za_reply(ctx, T_SLOW, "slow", 4);
    }
    case T_TWICE: {
        int rc = za_reply(ctx, T_TWICE, "one", 3);
        atomic_store(&g_second_reply_rc, za_reply(ctx, T_TWICE, "two", 3));
        return rc;
    }
    case T_CANREPLY:
        atomic_store(&g_can_reply, za_ctx_can_reply(ctx));
        atomic_store(&g_tell_reply_rc, za_reply(ctx, 0, NULL, 0));
        return 0;
    case T_REPLY_PTR: {
        int64_t *v = malloc(sizeof *v);
        *v = 4242;
        return za_reply_ptr(ctx, T_REPLY_PTR, v, count_reply_dtor);
    }
    default:
        return 0;
    }
}

static const za_behaviour server_beh = {ZA_BEHAVIOUR_INIT, .name = "server",
                                        .receive = server_receive};

/* ------------------------------------------------------------- client */

typedef struct go_req {
    za_ref target;
    int32_t tag;
    uint32_t timeout_ms;
    uint32_t len;
    char data[16];
} go_req;

static int client_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_GO) {
        go_req g;
        memcpy(&g, m->data, sizeof g);
        uint64_t corr = 0;
        int rc =
            za_ctx_ask(ctx, g.target, g.tag, g.len ? g.data : NULL, g.len, g.timeout_ms, &corr);
        atomic_store(&g_go_corr, corr);
        atomic_store(&g_go_rc, rc);
        return 0;
    }
    if (m->corr) {
        pthread_mutex_lock(&g_mu);
        int i = atomic_load(&g_nseen);
        if (i < MAX_SEEN) {
            g_seen[i].corr = m->corr;
            g_seen[i].tag = m->tag;
            g_seen[i].status = m->status;
            g_seen[i].len = m->len;
            g_seen[i].sender = m->sender;
            if (m->len) memcpy(g_seen[i].data, m->data, m->len < 16 ? m->len : 16);
        }
        pthread_mutex_unlock(&g_mu);
        atomic_fetch_add(&g_nseen, 1);
    }
    return 0;
}

static const za_behaviour client_beh = {ZA_BEHAVIOUR_INIT, .name = "client",
                                        .receive = client_receive};

/* Make the client ask; returns the corr (asserts the ask was accepted unless want_rc says). */
static uint64_t client_go(za_system *sys, za_ref client, za_ref target, int32_t tag,
                          uint32_t timeout_ms, const char *data, int want_rc) {
    go_req g;
    memset(&g, 0, sizeof g);
    g.target = target;
    g.tag = tag;
    g.timeout_ms = timeout_ms;
    if (data) {
        g.len = (uint32_t)strlen(data);
        memcpy(g.data, data, g.len);
    }
    atomic_store(&g_go_rc, 1);
    assert_int_equal(za_tell(sys, client, T_GO, &g, sizeof g), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_go_rc) != 1);
    assert_int_equal(atomic_load(&g_go_rc), want_rc);
    return atomic_load(&g_go_corr);
}

/* ----------------------------------------------------------- fixtures */

static int setup(void **st) {
    reset();
    *st = tu_system(2);
    g_dl = tu_dl_new();
    za_set_dead_letter_hook(*st, tu_dl_hook, g_dl);
    return 0;
}

static int teardown(void **st) {
    /* answer anything a failing test left parked, so nothing leaks */
    for (int i = 0; i < MAX_SLOTS; i++) {
        za_reply_slot *r = slot_at(i);
        if (r) za_reply_send(*st, r, 0, NULL, 0);
    }
    za_system_destroy(*st);
    tu_dl_free(g_dl);
    g_dl = NULL;
    return 0;
}

/* ----------------------------------------------------------- blocking */

static void test_ask_basic(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    for (int i = 0; i < 50; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "request %d", i);
        za_answer a;
        assert_int_equal(za_ask(sys, s, T_ECHO, buf, (size_t)n, TU_WAIT_MS, &a), ZA_OK);
        assert_int_equal(a.status, ZA_OK);
        assert_int_equal(a.tag, T_ECHO);
        assert_int_equal(a.kind, ZA_PAYLOAD_BYTES);
        assert_int_equal(a.len, n);
        assert_memory_equal(a.data, buf, (size_t)n);
        assert_null(a.error);
        assert_null(a.ptr);
        za_answer_free(&a);
        assert_null(a.data); /* freed and cleared */
    }
    /* an empty reply */
    za_answer a;
    assert_int_equal(za_ask(sys, s, T_ECHO, NULL, 0, TU_WAIT_MS, &a), ZA_OK);
    assert_int_equal(a.len, 0);
    za_answer_free(&a);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_LATE_REPLY), 0);
}

static void test_ask_timeout_then_late_reply(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_answer a;
    ASSERT_ERR(za_ask(sys, s, T_HOLD, NULL, 0, 50, &a), ZA_ETIMEDOUT);
    assert_int_equal(a.status, ZA_ETIMEDOUT);
    assert_null(a.data);
    za_answer_free(&a);
    ASSERT_EVENTUALLY(atomic_load(&g_nslots) == 1);
    za_reply_slot *r = slot_at(0);
    assert_non_null(r);
    int64_t late = 77;
    /* the replier is not told anything went wrong; the reply becomes a dead letter */
    assert_int_equal(za_reply_send(sys, r, T_DEFER, &late, sizeof late), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_LATE_REPLY) == 1);
    assert_int_equal(tu_dl_count_tag(g_dl, T_DEFER, ZA_DL_LATE_REPLY), 1);
    pthread_mutex_lock(&g_dl->mu);
    assert_int_equal(g_dl->rec[0].first8, 77);
    pthread_mutex_unlock(&g_dl->mu);
    /* the server is fine */
    assert_int_equal(za_ask(sys, s, T_ECHO, "x", 1, TU_WAIT_MS, &a), ZA_OK);
    za_answer_free(&a);
}

static void test_ask_slow_actor(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    uint32_t ms = 150;
    za_answer a;
    assert_int_equal(za_ask(sys, s, T_SLOW, &ms, sizeof ms, 20, &a), ZA_ETIMEDOUT);
    za_answer_free(&a);
    /* the reply made inside receive after the timeout is a late reply */
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_SLOW, ZA_DL_LATE_REPLY) == 1);
    /* with enough time it answers */
    ms = 1;
    assert_int_equal(za_ask(sys, s, T_SLOW, &ms, sizeof ms, TU_WAIT_MS, &a), ZA_OK);
    assert_int_equal(a.len, 4);
    assert_memory_equal(a.data, "slow", 4);
    za_answer_free(&a);
}

static void test_ask_dead(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, s), ZA_OK);
    assert_int_equal(za_join(sys, s, TU_WAIT_MS), ZA_OK);
    za_answer a;
    uint64_t t0 = tu_now_ms();
    ASSERT_ERR(za_ask(sys, s, T_ECHO, "x", 1, TU_WAIT_MS, &a), ZA_EDEAD);
    assert_true(tu_now_ms() - t0 < TU_WAIT_MS / 2); /* it did not wait for the timeout */
    assert_int_equal(a.status, ZA_EDEAD);
    za_answer_free(&a);
    ASSERT_ERR(za_ask(sys, ZA_REF_NONE, T_ECHO, NULL, 0, 100, &a), ZA_EDEAD);
    za_answer_free(&a);
}

static void test_ask_failure(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    int n = 3;
    za_answer a;
    ASSERT_ERR(za_ask(sys, s, T_FAIL, &n, sizeof n, TU_WAIT_MS, &a), ZA_EFAILED);
    assert_int_equal(a.status, ZA_EFAILED);
    assert_non_null(a.error);
    assert_non_null(strstr(a.error, "bad request 3"));
    assert_non_null(strstr(za_last_error(), "bad request 3"));
    za_answer_free(&a);
    assert_null(a.error);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_FAIL, ZA_DL_FAILED) == 1);
    /* restarted under the same reference */
    assert_int_equal(za_ask(sys, s, T_ECHO, "ok", 2, TU_WAIT_MS, &a), ZA_OK);
    assert_memory_equal(a.data, "ok", 2);
    za_answer_free(&a);
}

static void test_ask_noreply(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_answer a;
    ASSERT_ERR(za_ask(sys, s, T_NOREPLY, NULL, 0, TU_WAIT_MS, &a), ZA_ENOREPLY);
    assert_int_equal(a.status, ZA_ENOREPLY);
    za_answer_free(&a);
    assert_int_equal(za_is_alive(sys, s), 1); /* not a failure */
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.failures, 0);
}

static void test_reply_rules(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_answer a;
    assert_int_equal(za_ask(sys, s, T_TWICE, NULL, 0, TU_WAIT_MS, &a), ZA_OK);
    assert_int_equal(a.len, 3);
    assert_memory_equal(a.data, "one", 3); /* the first reply wins */
    za_answer_free(&a);
    ASSERT_EVENTUALLY(atomic_load(&g_second_reply_rc) != 1); /* stored after the first reply */
    assert_int_equal(atomic_load(&g_second_reply_rc), ZA_ESTATE);
    /* a tell has nothing to reply to */
    assert_int_equal(za_tell(sys, s, T_CANREPLY, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_tell_reply_rc) != 1);
    assert_int_equal(atomic_load(&g_can_reply), 0);
    assert_int_equal(atomic_load(&g_tell_reply_rc), ZA_ESTATE);
    /* an ask has */
    assert_int_equal(za_ask(sys, s, T_CANREPLY, NULL, 0, TU_WAIT_MS, &a), ZA_OK);
    assert_int_equal(atomic_load(&g_can_reply), 1);
    za_answer_free(&a);
}

static void test_reply_ptr(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_answer a;
    assert_int_equal(za_ask(sys, s, T_REPLY_PTR, NULL, 0, TU_WAIT_MS, &a), ZA_OK);
    assert_int_equal(a.kind, ZA_PAYLOAD_PTR);
    assert_non_null(a.ptr);
    assert_int_equal(*(int64_t *)a.ptr, 4242);
    assert_true(a.dtor == count_reply_dtor);
    assert_int_equal(atomic_load(&g_reply_dtors), 0); /* the answer owns it */
    za_answer_free(&a);
    assert_int_equal(atomic_load(&g_reply_dtors), 1);
    za_answer_free(&a); /* idempotent */
    assert_int_equal(atomic_load(&g_reply_dtors), 1);
}

/* --------------------------------------------------- deferred replies */

typedef struct replier_arg {
    za_system *sys;
    int mode; /* 0: bytes, 1: error, 2: ptr */
    int rc;
} replier_arg;

static void *replier_main(void *p) {
    replier_arg *ra = p;
    /* wait for the actor to park the slot */
    if (!WAIT_UNTIL(atomic_load(&g_nslots) >= 1, TU_WAIT_MS)) return NULL;
    za_reply_slot *r = slot_at(0);
    atomic_store(&g_nslots, 0);
    tu_sleep_ms(20);
    if (ra->mode == 0) {
        ra->rc = za_reply_send(ra->sys, r, T_DEFER, "later", 5);
    } else if (ra->mode == 1) {
        ra->rc = za_reply_error(ra->sys, r, ZA_EVALUE, "could not parse the request");
    } else {
        int64_t *v = malloc(sizeof *v);
        *v = 99;
        ra->rc = za_reply_send_ptr(ra->sys, r, T_DEFER, v, count_reply_dtor);
    }
    return NULL;
}

static void test_deferred_reply_from_thread(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    for (int mode = 0; mode < 3; mode++) {
        replier_arg ra = {sys, mode, 1};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, replier_main, &ra), 0);
        za_answer a;
        int rc = za_ask(sys, s, T_HOLD, NULL, 0, TU_WAIT_MS, &a);
        pthread_join(th, NULL);
        assert_int_equal(ra.rc, ZA_OK);
        if (mode == 0) {
            assert_int_equal(rc, ZA_OK);
            assert_int_equal(a.tag, T_DEFER);
            assert_int_equal(a.len, 5);
            assert_memory_equal(a.data, "later", 5);
        } else if (mode == 1) {
            assert_int_equal(rc, ZA_EVALUE);
            assert_int_equal(a.status, ZA_EVALUE);
            assert_non_null(a.error);
            assert_string_equal(a.error, "could not parse the request");
        } else {
            assert_int_equal(rc, ZA_OK);
            assert_int_equal(a.kind, ZA_PAYLOAD_PTR);
            assert_int_equal(*(int64_t *)a.ptr, 99);
            assert_int_equal(atomic_load(&g_reply_dtors), 0);
        }
        za_answer_free(&a);
    }
    assert_int_equal(atomic_load(&g_reply_dtors), 1);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_LATE_REPLY), 0);
}

static void test_late_ptr_reply_destroyed(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_answer a;
    assert_int_equal(za_ask(sys, s, T_HOLD, NULL, 0, 20, &a), ZA_ETIMEDOUT);
    za_answer_free(&a);
    ASSERT_EVENTUALLY(atomic_load(&g_nslots) == 1);
    int64_t *v = malloc(sizeof *v);
    *v = 1;
    assert_int_equal(za_reply_send_ptr(sys, slot_at(0), T_DEFER, v, count_reply_dtor), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_reply_dtors) == 1);
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_LATE_REPLY) == 1);
    assert_int_equal(atomic_load(&g_dl->ptr_kind), 1);
    tu_sleep_ms(10);
    assert_int_equal(atomic_load(&g_reply_dtors), 1);
}

/* -------------------------------------------------------------- async */

typedef struct cb_rec {
    atomic_int calls;
    atomic_int status;
    int32_t tag;
    size_t len;
    char data[16];
    char error[64];
} cb_rec;

static void record_cb(za_answer *a, void *ud) {
    cb_rec *r = ud;
    r->tag = a->tag;
    r->len = a->len;
    if (a->len) memcpy(r->data, a->data, a->len < 16 ? a->len : 16);
    if (a->error) snprintf(r->error, sizeof r->error, "%s", a->error);
    atomic_store(&r->status, a->status);
    za_answer_free(a);
    atomic_fetch_add(&r->calls, 1);
}

static void test_ask_async_ok(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    cb_rec rec = {0};
    za_ask_handle *h = NULL;
    assert_int_equal(za_ask_async(sys, s, T_ECHO, "async", 5, 0, record_cb, &rec, &h), ZA_OK);
    assert_non_null(h);
    ASSERT_EVENTUALLY(atomic_load(&rec.calls) == 1);
    assert_int_equal(atomic_load(&rec.status), ZA_OK);
    assert_int_equal(rec.tag, T_ECHO);
    assert_int_equal(rec.len, 5);
    assert_memory_equal(rec.data, "async", 5);
    assert_int_equal(za_ask_cancel(h), 0); /* already answered */
    za_ask_handle_release(h);
    /* without a handle, with a timeout that does not expire */
    cb_rec rec2 = {0};
    assert_int_equal(za_ask_async(sys, s, T_ECHO, "b", 1, TU_WAIT_MS, record_cb, &rec2, NULL),
                     ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&rec2.calls) == 1);
    assert_int_equal(atomic_load(&rec2.status), ZA_OK);
    /* failures and no-replies reach the callback too */
    cb_rec rec3 = {0}, rec4 = {0};
    int n = 9;
    assert_int_equal(za_ask_async(sys, s, T_FAIL, &n, sizeof n, 0, record_cb, &rec3, NULL), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&rec3.calls) == 1);
    assert_int_equal(atomic_load(&rec3.status), ZA_EFAILED);
    assert_non_null(strstr(rec3.error, "bad request 9"));
    assert_int_equal(za_ask_async(sys, s, T_NOREPLY, NULL, 0, 0, record_cb, &rec4, NULL), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&rec4.calls) == 1);
    assert_int_equal(atomic_load(&rec4.status), ZA_ENOREPLY);
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&rec.calls) + atomic_load(&rec2.calls) + atomic_load(&rec3.calls) +
                         atomic_load(&rec4.calls),
                     4);
}

static void test_ask_async_timeout(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    cb_rec rec = {0};
    za_ask_handle *h = NULL;
    assert_int_equal(za_ask_async(sys, s, T_HOLD, NULL, 0, 30, record_cb, &rec, &h), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&rec.calls) == 1);
    assert_int_equal(atomic_load(&rec.status), ZA_ETIMEDOUT);
    assert_int_equal(za_ask_cancel(h), 0); /* too late to cancel */
    ASSERT_EVENTUALLY(atomic_load(&g_nslots) == 1);
    assert_int_equal(za_reply_send(sys, slot_at(0), T_DEFER, "late", 4), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_DEFER, ZA_DL_LATE_REPLY) == 1);
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&rec.calls), 1); /* exactly once */
    za_ask_handle_release(h);
}

static void test_ask_async_cancel(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    cb_rec rec = {0};
    za_ask_handle *h = NULL;
    /* with a timeout: cancelling must also disarm it */
    assert_int_equal(za_ask_async(sys, s, T_HOLD, NULL, 0, 60, record_cb, &rec, &h), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_nslots) == 1);
    assert_int_equal(za_ask_cancel(h), 1);
    assert_int_equal(atomic_load(&rec.calls), 1);
    assert_int_equal(atomic_load(&rec.status), ZA_ECANCELLED);
    assert_int_equal(za_ask_cancel(h), 0);
    tu_sleep_ms(120); /* past the timeout */
    assert_int_equal(atomic_load(&rec.calls), 1);
    /* the reply that comes after the cancel is a dead letter */
    assert_int_equal(za_reply_send(sys, slot_at(0), T_DEFER, "late", 4), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_DEFER, ZA_DL_LATE_REPLY) == 1);
    assert_int_equal(atomic_load(&rec.calls), 1);
    za_ask_handle_release(h);

    /* cancel before the actor even saw the message */
    cb_rec rec2 = {0};
    atomic_store(&g_nslots, 0);
    assert_int_equal(za_ask_async(sys, s, T_HOLD, NULL, 0, 0, record_cb, &rec2, &h), ZA_OK);
    int c = za_ask_cancel(h);
    assert_int_equal(c, 1); /* T_HOLD never answers, so the cancel must win */
    assert_int_equal(atomic_load(&rec2.calls), 1);
    assert_int_equal(atomic_load(&rec2.status), ZA_ECANCELLED);
    za_ask_handle_release(h);
    ASSERT_EVENTUALLY(atomic_load(&g_nslots) == 1);
    assert_int_equal(za_reply_send(sys, slot_at(0), T_DEFER, "x", 1), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_DEFER, ZA_DL_LATE_REPLY) == 2);
    assert_int_equal(atomic_load(&rec2.calls), 1);
}

static void test_ask_async_dead(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, s), ZA_OK);
    assert_int_equal(za_join(sys, s, TU_WAIT_MS), ZA_OK);
    cb_rec rec = {0};
    za_ask_handle *h = (za_ask_handle *)&rec;
    ASSERT_ERR(za_ask_async(sys, s, T_ECHO, NULL, 0, 20, record_cb, &rec, &h), ZA_EDEAD);
    assert_null(h);
    atomic_int dtors = 0;
    tu_obj *o = tu_obj_new(1, &dtors);
    ASSERT_ERR(za_ask_ptr_async(sys, s, T_ECHO, o, tu_obj_dtor, 20, record_cb, &rec, NULL),
               ZA_EDEAD);
    tu_sleep_ms(60); /* past the timeouts: still no callback */
    assert_int_equal(atomic_load(&rec.calls), 0);
    assert_int_equal(atomic_load(&dtors), 0); /* the caller still owns it */
    tu_obj_dtor(o);
}

static void test_ask_ptr_async(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    atomic_int dtors = 0;
    cb_rec rec = {0};
    assert_int_equal(za_ask_ptr_async(sys, s, T_ECHO, tu_obj_new(1, &dtors), tu_obj_dtor, 0,
                                      record_cb, &rec, NULL),
                     ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&rec.calls) == 1);
    assert_int_equal(atomic_load(&rec.status), ZA_OK);
    assert_int_equal(rec.len, 0); /* echo of a ptr message carries no bytes */
    ASSERT_EVENTUALLY(atomic_load(&dtors) == 1);
    tu_sleep_ms(10);
    assert_int_equal(atomic_load(&dtors), 1);
}

/* -------------------------------------------------------- actor-side */

static int find_seen(uint64_t corr, seen *out) {
    int n = 0;
    pthread_mutex_lock(&g_mu);
    int total = atomic_load(&g_nseen);
    for (int i = 0; i < total && i < MAX_SEEN; i++) {
        if (g_seen[i].corr == corr) {
            if (out) *out = g_seen[i];
            n++;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

static void test_ctx_ask_reply(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_ref c = tu_spawn(sys, &client_beh, NULL, 0, NULL);
    uint64_t corr = client_go(sys, c, s, T_ECHO, 0, "ping", ZA_OK);
    assert_true(corr != 0);
    ASSERT_EVENTUALLY(find_seen(corr, NULL) == 1);
    seen sn;
    find_seen(corr, &sn);
    assert_int_equal(sn.status, ZA_OK);
    assert_int_equal(sn.tag, T_ECHO);
    assert_int_equal(sn.len, 4);
    assert_memory_equal(sn.data, "ping", 4);
    assert_true(sn.sender == s);
    /* correlation ids are distinct */
    uint64_t corr2 = client_go(sys, c, s, T_ECHO, TU_WAIT_MS, "pong", ZA_OK);
    assert_true(corr2 != corr);
    ASSERT_EVENTUALLY(find_seen(corr2, NULL) == 1);
    find_seen(corr2, &sn);
    assert_memory_equal(sn.data, "pong", 4);
}

static void test_ctx_ask_timeout_and_late_reply(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_ref c = tu_spawn(sys, &client_beh, NULL, 0, NULL);
    uint64_t corr = client_go(sys, c, s, T_HOLD, 30, NULL, ZA_OK);
    ASSERT_EVENTUALLY(find_seen(corr, NULL) == 1);
    seen sn;
    find_seen(corr, &sn);
    assert_int_equal(sn.tag, ZA_TAG_TIMEOUT);
    assert_int_equal(sn.status, ZA_ETIMEDOUT);
    ASSERT_EVENTUALLY(atomic_load(&g_nslots) == 1);
    assert_int_equal(za_reply_send(sys, slot_at(0), T_DEFER, "late", 4), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_DEFER, ZA_DL_LATE_REPLY) == 1);
    /* the client never saw the late reply: barrier through its mailbox */
    client_go(sys, c, s, T_ECHO, 0, "b", ZA_OK);
    uint64_t corr_b = atomic_load(&g_go_corr);
    ASSERT_EVENTUALLY(find_seen(corr_b, NULL) == 1);
    assert_int_equal(find_seen(corr, NULL), 1);
}

static void test_ctx_ask_errors(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_ref c = tu_spawn(sys, &client_beh, NULL, 0, NULL);
    seen sn;
    uint64_t corr = client_go(sys, c, s, T_FAIL, 0, NULL, ZA_OK);
    ASSERT_EVENTUALLY(find_seen(corr, NULL) == 1);
    find_seen(corr, &sn);
    assert_int_equal(sn.status, ZA_EFAILED);
    corr = client_go(sys, c, s, T_NOREPLY, 0, NULL, ZA_OK);
    ASSERT_EVENTUALLY(find_seen(corr, NULL) == 1);
    find_seen(corr, &sn);
    assert_int_equal(sn.status, ZA_ENOREPLY);
    /* asking a dead actor fails at once */
    za_ref dead = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, dead), ZA_OK);
    assert_int_equal(za_join(sys, dead, TU_WAIT_MS), ZA_OK);
    client_go(sys, c, dead, T_ECHO, 50, NULL, ZA_EDEAD);
    /* and no TIMEOUT message arrives later for it */
    tu_sleep_ms(100);
    client_go(sys, c, s, T_ECHO, 0, "b", ZA_OK);
    uint64_t corr_b = atomic_load(&g_go_corr);
    ASSERT_EVENTUALLY(find_seen(corr_b, NULL) == 1);
    assert_int_equal(atomic_load(&g_nseen), 3);
}

static void test_ctx_ask_asker_gone(void **st) {
    za_system *sys = *st;
    za_ref s = tu_spawn(sys, &server_beh, NULL, 0, NULL);
    za_ref c = tu_spawn(sys, &client_beh, NULL, 0, NULL);
    client_go(sys, c, s, T_HOLD, 0, NULL, ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_nslots) == 1);
    assert_int_equal(za_stop(sys, c), ZA_OK);
    assert_int_equal(za_join(sys, c, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_reply_send(sys, slot_at(0), T_DEFER, "x", 1), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count_tag(g_dl, T_DEFER, ZA_DL_LATE_REPLY) == 1);
    pthread_mutex_lock(&g_dl->mu);
    bool found = false;
    for (int i = 0; i < g_dl->n_rec; i++)
        if (g_dl->rec[i].tag == T_DEFER && g_dl->rec[i].target == c) found = true;
    pthread_mutex_unlock(&g_dl->mu);
    assert_true(found);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ask_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_timeout_then_late_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_slow_actor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_noreply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_ptr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_reply_from_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_ptr_reply_destroyed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_async_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_async_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_async_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_async_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_ptr_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_ask_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_ask_timeout_and_late_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_ask_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_ask_asker_gone, setup, teardown),
    };
    return cmocka_run_group_tests_name("ask", tests, NULL, NULL);
}
