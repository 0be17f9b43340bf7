/* Trace context: traceparent text, carried by tells and asks of every payload
 * shape, current inside the handler, inherited by the handler's sends,
 * changed by the handler, restored after it. */
#include "testutil.h"

enum { T_REC = 1, T_FWD, T_GET, T_RESPAN };

typedef struct rec {
    int rc;          /* za_ctx_trace */
    int cur_rc;      /* za_trace_current inside the handler */
    za_trace t, cur; /* what they gave */
    uint32_t len;    /* payload as received */
    uint8_t first, last;
    int ptr_ok;
} rec;

typedef struct st {
    rec last;
    za_ref next;
} st;

static void *g_ptr_seen;
static void noop_dtor(void *p) {}

static int t_receive(za_ctx *ctx, const za_msg *m) {
    st *s = za_ctx_state(ctx);
    switch (m->tag) {
    case T_REC:
        memset(&s->last, 0, sizeof s->last);
        s->last.rc = za_ctx_trace(ctx, &s->last.t);
        s->last.cur_rc = za_trace_current(&s->last.cur);
        s->last.len = m->len;
        if (m->len) {
            s->last.first = ((const uint8_t *)m->data)[0];
            s->last.last = ((const uint8_t *)m->data)[m->len - 1];
        }
        s->last.ptr_ok = m->kind == ZA_PAYLOAD_PTR && m->ptr == g_ptr_seen;
        return 0;
    case T_FWD: /* to next, unchanged: the context follows by itself */
        memcpy(&s->next, m->data, sizeof s->next);
        return za_tell(za_ctx_system(ctx), s->next, T_REC, "fwd", 3);
    case T_RESPAN: { /* a new span of the same trace for what we send next */
        za_trace t;
        if (za_ctx_trace(ctx, &t) != ZA_OK) return 1;
        memset(t.span_id, 0x77, sizeof t.span_id);
        za_trace_set_current(&t);
        memcpy(&s->next, m->data, sizeof s->next);
        return za_tell(za_ctx_system(ctx), s->next, T_REC, NULL, 0);
    }
    case T_GET:
        return za_reply(ctx, T_GET, &s->last, sizeof s->last);
    default:
        return 0;
    }
}

static const za_behaviour t_beh = {ZA_BEHAVIOUR_INIT, .name = "tracer", .state_size = sizeof(st),
                                   .receive = t_receive};

static rec get_rec(za_system *sys, za_ref r) {
    za_trace saved;
    int had = za_trace_current(&saved) == ZA_OK;
    za_trace_set_current(NULL); /* the GET itself untraced */
    za_answer a;
    assert_int_equal(za_ask(sys, r, T_GET, NULL, 0, TU_WAIT_MS, &a), ZA_OK);
    rec out;
    assert_int_equal(a.len, sizeof out);
    memcpy(&out, a.data, sizeof out);
    za_answer_free(&a);
    if (had) za_trace_set_current(&saved);
    return out;
}

static const char *TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static void test_traceparent_text(void **state) {
    za_trace t;
    assert_int_equal(za_trace_parse(TP, &t), ZA_OK);
    assert_int_equal(t.trace_id[0], 0x4b);
    assert_int_equal(t.span_id[7], 0xb7);
    assert_int_equal(t.flags, 1);
    char buf[56];
    assert_int_equal(za_trace_format(&t, buf, sizeof buf), ZA_OK);
    assert_string_equal(buf, TP);
    ASSERT_ERR(za_trace_format(&t, buf, 55), ZA_EINVAL);
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",          /* short */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       /* uppercase */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       /* zero span */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", /* v00 + extra */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",       /* not hex */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_ERR(za_trace_parse(bad[i], &t), ZA_EINVAL);
    /* a later version may carry more fields after a dash */
    assert_int_equal(
        za_trace_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz", &t), ZA_OK);
    ASSERT_ERR(za_trace_parse(NULL, &t), ZA_EINVAL);
    za_trace_set_current(NULL);
    assert_int_equal(za_trace_current(&t), ZA_ENOTFOUND);
}

static void test_carried_by_every_payload_shape(void **state) {
    za_system *sys = tu_system(2);
    za_ref a = tu_spawn(sys, &t_beh, NULL, 0, NULL);
    za_trace t;
    assert_int_equal(za_trace_parse(TP, &t), ZA_OK);
    /* untraced first: nothing arrives */
    assert_int_equal(za_tell(sys, a, T_REC, "x", 1), ZA_OK);
    rec r = get_rec(sys, a);
    assert_int_equal(r.rc, ZA_ENOTFOUND);
    assert_int_equal(r.cur_rc, ZA_ENOTFOUND);
    za_trace_set_current(&t);
    /* 0 bytes, inline with room, inline without room (moves to the heap), heap */
    size_t sizes[] = {0, 8, 30, 48, 200};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t buf[200];
        for (size_t k = 0; k < sizeof buf; k++) buf[k] = (uint8_t)(k * 7 + 3);
        assert_int_equal(za_tell(sys, a, T_REC, sizes[i] ? buf : NULL, sizes[i]), ZA_OK);
        r = get_rec(sys, a);
        assert_int_equal(r.rc, ZA_OK);
        assert_memory_equal(&r.t, &t, sizeof t);
        assert_int_equal(r.cur_rc, ZA_OK); /* current inside the handler */
        assert_memory_equal(&r.cur, &t, sizeof t);
        assert_int_equal(r.len, sizes[i]); /* the payload is untouched */
        if (sizes[i]) {
            assert_int_equal(r.first, buf[0]);
            assert_int_equal(r.last, buf[sizes[i] - 1]);
        }
    }
    /* a pointer payload */
    static int obj;
    g_ptr_seen = &obj;
    assert_int_equal(za_tell_ptr(sys, a, T_REC, &obj, noop_dtor, ZA_PRIO_NORMAL), ZA_OK);
    r = get_rec(sys, a);
    assert_int_equal(r.rc, ZA_OK);
    assert_true(r.ptr_ok);
    assert_memory_equal(&r.t, &t, sizeof t);
    /* an ask carries it too */
    za_answer ans;
    assert_int_equal(za_ask(sys, a, T_REC, "q", 1, TU_WAIT_MS, &ans), ZA_ENOREPLY);
    za_answer_free(&ans);
    r = get_rec(sys, a);
    assert_int_equal(r.rc, ZA_OK);
    /* cleared: no longer sent */
    za_trace_set_current(NULL);
    assert_int_equal(za_tell(sys, a, T_REC, "y", 1), ZA_OK);
    r = get_rec(sys, a);
    assert_int_equal(r.rc, ZA_ENOTFOUND);
    za_system_destroy(sys);
}

static void test_followed_through_actors(void **state) {
    za_system *sys = tu_system(2);
    za_ref a = tu_spawn(sys, &t_beh, NULL, 0, NULL);
    za_ref b = tu_spawn(sys, &t_beh, NULL, 0, NULL);
    za_trace t;
    assert_int_equal(za_trace_parse(TP, &t), ZA_OK);
    za_trace_set_current(&t);
    /* a forwards to b: b's message carries a's context, which was ours */
    assert_int_equal(za_tell(sys, a, T_FWD, &b, sizeof b), ZA_OK);
    rec r;
    ASSERT_EVENTUALLY((r = get_rec(sys, b)).len == 3);
    assert_int_equal(r.rc, ZA_OK);
    assert_memory_equal(&r.t, &t, sizeof t);
    /* a handler that starts a new span: what it sends carries it */
    assert_int_equal(za_tell(sys, a, T_RESPAN, &b, sizeof b), ZA_OK);
    ASSERT_EVENTUALLY((r = get_rec(sys, b)).len == 0);
    assert_int_equal(r.rc, ZA_OK);
    assert_memory_equal(r.t.trace_id, t.trace_id, 16);
    assert_int_equal(r.t.span_id[0], 0x77);
    /* ...and the worker forgot it after the handler: an untraced message
     * forwarded by a goes out untraced */
    za_trace_set_current(NULL);
    assert_int_equal(za_tell(sys, a, T_FWD, &b, sizeof b), ZA_OK);
    ASSERT_EVENTUALLY((r = get_rec(sys, b)).len == 3 && r.rc == ZA_ENOTFOUND);
    za_system_destroy(sys);
}

static int fail_receive(za_ctx *ctx, const za_msg *m) {
    return m->tag == 9 ? 1 : 0;
}
static const za_behaviour fail_beh = {ZA_BEHAVIOUR_INIT, .name = "failer", .receive = fail_receive};

static size_t drain_all(za_span *out, size_t max) {
    size_t n = 0, got;
    while (n < max && (got = za_spans_drain(out + n, max - n))) n += got;
    return n;
}

/* Spans recorded by the runtime: a receive span per handler run of a
 * traced, sampled message (parented to the sender's span, with tag, mailbox
 * wait, label, language, failure), caller spans from za_span_begin/end,
 * unsampled contexts and other languages left alone, a full buffer counted. */
static void test_spans(void **state) {
    za_span buf[64];
    drain_all(buf, 64); /* whatever an earlier test left */
    za_system *sys = tu_system(2);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.label = "labelled.Forwarder";
    za_ref a = tu_spawn(sys, &t_beh, NULL, 0, &o);
    za_ref b = tu_spawn(sys, &t_beh, NULL, 0, NULL);
    za_ref f = tu_spawn(sys, &fail_beh, NULL, 0, NULL);
    assert_int_equal(za_spans_enable(ZA_SPANS_PYTHON, 8), ZA_OK); /* not C: nothing recorded */
    za_trace t;
    assert_int_equal(za_trace_parse(TP, &t), ZA_OK);
    za_trace_set_current(&t);
    assert_int_equal(za_tell(sys, a, T_FWD, &b, sizeof b), ZA_OK);
    rec r;
    ASSERT_EVENTUALLY((r = get_rec(sys, b)).len == 3);
    assert_int_equal(za_spans_quiesce(TU_WAIT_MS), ZA_OK);
    assert_int_equal(drain_all(buf, 64), 0);
    assert_int_equal(za_spans_enable(ZA_SPANS_C, 8), ZA_OK);
    assert_int_equal(za_spans_enabled(), ZA_SPANS_C);
    /* a caller span around the tell: a's span is its child, b's is a's */
    za_span_scope sc;
    za_span_begin(&sc, ZA_SPAN_TELL, a);
    za_trace inside;
    assert_int_equal(za_trace_current(&inside), ZA_OK);
    assert_memory_equal(inside.trace_id, t.trace_id, 16);
    assert_memory_not_equal(inside.span_id, t.span_id, 8);
    assert_int_equal(za_tell(sys, a, T_FWD, &b, sizeof b), ZA_OK);
    za_span_end(&sc, 0);
    za_trace after;
    assert_int_equal(za_trace_current(&after), ZA_OK);
    assert_memory_equal(&after, &t, sizeof t); /* restored */
    /* (b's record of the first forward carried t itself) */
    ASSERT_EVENTUALLY((r = get_rec(sys, b)).len == 3 && memcmp(r.t.span_id, t.span_id, 8) != 0);
    assert_int_equal(za_spans_quiesce(TU_WAIT_MS), ZA_OK);
    size_t n = drain_all(buf, 64);
    assert_int_equal(n, 3); /* tell, a's receive, b's receive (the GET is untraced) */
    const za_span *tell = NULL, *ra = NULL, *rb = NULL;
    for (size_t i = 0; i < n; i++) {
        if (buf[i].kind == ZA_SPAN_TELL) tell = &buf[i];
        if (buf[i].kind == ZA_SPAN_RECEIVE && buf[i].actor == a) ra = &buf[i];
        if (buf[i].kind == ZA_SPAN_RECEIVE && buf[i].actor == b) rb = &buf[i];
    }
    assert_non_null(tell);
    assert_non_null(ra);
    assert_non_null(rb);
    assert_memory_equal(tell->parent_span_id, t.span_id, 8);
    assert_memory_equal(tell->ctx.span_id, inside.span_id, 8);
    assert_memory_equal(ra->parent_span_id, tell->ctx.span_id, 8);
    assert_memory_equal(rb->parent_span_id, ra->ctx.span_id, 8);
    /* what b's handler saw: the message's context (za_ctx_trace) is a's
     * span; the current one (what it sends) is its own span */
    assert_memory_equal(r.t.span_id, ra->ctx.span_id, 8);
    assert_memory_equal(r.cur.span_id, rb->ctx.span_id, 8);
    assert_int_equal(ra->tag, T_FWD);
    assert_int_equal(rb->tag, T_REC);
    assert_string_equal(ra->behaviour, "labelled.Forwarder");
    assert_string_equal(rb->behaviour, "tracer");
    assert_string_equal(ra->language, "c");
    assert_true(ra->wait_ns > 0);
    assert_true(ra->start_ns >= tell->start_ns && ra->start_ns <= ra->end_ns);
    assert_true(ra->start_ns > 1600000000ull * 1000000000ull); /* wall clock */
    assert_int_equal(ra->failed, 0);
    /* a failing handler */
    assert_int_equal(za_tell(sys, f, 9, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY((za_spans_quiesce(TU_WAIT_MS), drain_all(buf, 64) == 1));
    assert_int_equal(buf[0].failed, 1);
    assert_int_equal(buf[0].actor, f);
    /* not sampled: carried, not recorded */
    za_trace uns = t;
    uns.flags = 0;
    za_trace_set_current(&uns);
    assert_int_equal(za_tell(sys, a, T_FWD, &b, sizeof b), ZA_OK);
    ASSERT_EVENTUALLY((r = get_rec(sys, b)).len == 3 && r.t.flags == 0);
    assert_int_equal(za_spans_quiesce(TU_WAIT_MS), ZA_OK);
    assert_int_equal(drain_all(buf, 64), 0);
    /* a full buffer (8) drops and counts, never blocks */
    za_trace_set_current(&t);
    uint64_t dropped = za_spans_dropped();
    for (int i = 0; i < 12; i++) assert_int_equal(za_tell(sys, b, T_REC, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(za_spans_wait(8, 10) == 8 && za_spans_dropped() == dropped + 4);
    ASSERT_ERR(za_spans_enable(ZA_SPANS_C, 16), ZA_EINVAL); /* spans buffered */
    assert_int_equal(drain_all(buf, 64), 8);
    /* no current context: a caller span roots a new trace */
    za_trace_set_current(NULL);
    za_span_begin(&sc, ZA_SPAN_ASK, b);
    za_span_end(&sc, 1);
    assert_int_equal(za_trace_current(&after), ZA_ENOTFOUND);
    assert_int_equal(drain_all(buf, 64), 1);
    assert_int_equal(buf[0].kind, ZA_SPAN_ASK);
    assert_int_equal(buf[0].failed, 1);
    static const uint8_t zero[16];
    assert_memory_equal(buf[0].parent_span_id, zero, 8);
    assert_memory_not_equal(buf[0].ctx.trace_id, zero, 16);
    assert_int_equal(za_spans_enable(0, 0), ZA_OK);
    assert_int_equal(za_spans_wait(1, 1), 0);
    za_system_destroy(sys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_text),
        cmocka_unit_test(test_carried_by_every_payload_shape),
        cmocka_unit_test(test_followed_through_actors),
        cmocka_unit_test(test_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
