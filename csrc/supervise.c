/*
 * Supervision: what happens when an actor fails.
 *
 * The failing actor judges its own restart budget (it owns its restart
 * history), suspends itself so its queued messages wait, and tells its
 * parent. The parent applies its strategy. Top-level actors are judged by
 * the system as one-for-one.
 */
#include <stdio.h>
#include <stdlib.h>

#include "actor.h"
#include "send.h"
#include "supervise.h"
#include "system.h"
#include "timer.h"

static uint64_t now_ms(void) {
    return za__now_ns() / 1000000ull;
}

/* xorshift: jitter only needs to decorrelate restarts, not be strong */
static uint32_t jitter_rand(void) {
    static _Thread_local uint64_t x;
    if (!x) x = za__now_ns() | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)x;
}

/* Count restarts inside the window and decide. */
static int verdict(za_actor *a, uint32_t *delay_ms) {
    za_actor_ext *e = a->ext;
    uint8_t policy = e ? e->restart_policy : ZA_RESTART_PERMANENT;
    *delay_ms = 0;
    if (policy == ZA_RESTART_TEMPORARY) return ZA_VERDICT_NO_RESTART;
    uint32_t maxr = e ? e->max_restarts : 3, within = e ? e->within_ms : 5000;
    uint32_t bmin = e ? e->backoff_min_ms : 0, bmax = e ? e->backoff_max_ms : 1000;
    uint64_t now = now_ms(), recent = 0;
    if (e) {
        uint32_t n = e->nrestart < e->restart_cap ? e->nrestart : e->restart_cap;
        for (uint32_t i = 0; i < n; i++)
            if (now - e->restart_ms[i] <= within) recent++;
    }
    if (recent >= maxr) return ZA_VERDICT_EXCEEDED;
    if (bmin) {
        uint64_t d = (uint64_t)bmin << (recent < 20 ? recent : 20);
        if (d > bmax) d = bmax;
        /* +-25% jitter so siblings restarted together do not retry in lockstep */
        uint64_t span = d / 2;
        if (span) d = d - span / 2 + jitter_rand() % (span + 1);
        *delay_ms = (uint32_t)d;
    }
    return ZA_VERDICT_RESTART;
}

static void request_restart(za_system *s, za_ref child, uint32_t delay_ms) {
    if (delay_ms)
        za__timer_sys(s, delay_ms, child, ZA_SYS_RESTART, NULL, 0);
    else
        za__send_sys(s, child, ZA_REF_NONE, ZA_SYS_RESTART, NULL, 0);
}

void za__actor_fail(za_ctx *c, int code, const char *text) {
    za_actor *a = c->a;
    za_system *s = c->sys;
    za__count(s, ZA_C_FAILURES, 1);
    c->dirty = true;
    if (a->flags & ZA_AF_STOPPING) return;
    a->flags |= ZA_AF_SUSPENDED;
    za_actor_ext *e = za__ext(a);
    if (e) {
        e->fail_code = code;
        snprintf(e->fail_text, sizeof e->fail_text, "%s", text ? text : "");
    }
    za_fail_note note;
    memset(&note, 0, sizeof note);
    note.down.ref = c->self;
    note.down.code = code;
    snprintf(note.down.reason, sizeof note.down.reason, "%s", text ? text : "");
    note.verdict = verdict(a, &note.delay_ms);
    za_ref parent = atomic_load_explicit(&a->parent, memory_order_relaxed);
    if (parent == ZA_REF_NONE) {
        /* the system supervises top-level actors one-for-one */
        if (note.verdict == ZA_VERDICT_RESTART && atomic_load(&s->phase) == ZA_PHASE_RUNNING)
            request_restart(s, c->self, note.delay_ms);
        else
            za__begin_stop(c, code, text);
        return;
    }
    if (za__send_sys(s, parent, c->self, ZA_SYS_CHILD_FAILED, &note, sizeof note) != ZA_OK)
        za__begin_stop(c, code, text); /* orphaned: nobody can decide, so stop */
}

void za__on_child_failed(za_ctx *c, const za_fail_note *note) {
    za_actor *a = c->a;
    za_system *s = c->sys;
    za_actor_ext *e = a->ext;
    if ((a->flags & ZA_AF_STOPPING) || !e) return;
    uint32_t idx = e->children.n;
    for (uint32_t i = 0; i < e->children.n; i++)
        if (e->children.v[i] == note->down.ref) idx = i;
    if (idx == e->children.n) return; /* already gone */
    /* let the parent's behaviour see the failure too */
    za__tell_self(c, ZA_TAG_CHILD_FAILED, &note->down, sizeof note->down);

    if (note->verdict == ZA_VERDICT_NO_RESTART || e->strategy == ZA_STRATEGY_STOP) {
        za__send_sys(s, note->down.ref, c->self, ZA_SYS_STOP, NULL, 0);
        return;
    }
    if (note->verdict == ZA_VERDICT_EXCEEDED) {
        char buf[116];
        snprintf(buf, sizeof buf, "child exceeded max restarts: %s", note->down.reason);
        za__send_sys(s, note->down.ref, c->self, ZA_SYS_STOP, NULL, 0);
        za__actor_fail(c, note->down.code ? note->down.code : ZA_EFAILED, buf);
        return;
    }
    switch (e->strategy) {
    case ZA_STRATEGY_ESCALATE: {
        char buf[116];
        snprintf(buf, sizeof buf, "child failed: %s", note->down.reason);
        za__actor_fail(c, note->down.code ? note->down.code : ZA_EFAILED, buf);
        break;
    }
    case ZA_ONE_FOR_ALL:
        for (uint32_t i = 0; i < e->children.n; i++)
            if (e->children.v[i]) request_restart(s, e->children.v[i], note->delay_ms);
        break;
    case ZA_REST_FOR_ONE:
        for (uint32_t i = idx; i < e->children.n; i++)
            if (e->children.v[i]) request_restart(s, e->children.v[i], note->delay_ms);
        break;
    default:
        request_restart(s, note->down.ref, note->delay_ms);
        break;
    }
}

void za__do_restart(za_ctx *c) {
    za_actor *a = c->a;
    za_system *s = c->sys;
    if (a->flags & ZA_AF_STOPPING) return;
    za_actor_ext *e = za__ext(a);
    if (!e) {
        za__begin_stop(c, ZA_ENOMEM, "out of memory while restarting");
        return;
    }
    /* children belong to the old state: stop them (they report back and are ignored) */
    for (uint32_t i = 0; i < e->children.n; i++)
        if (e->children.v[i]) za__send_sys(s, e->children.v[i], c->self, ZA_SYS_STOP, NULL, 0);
    za__refseq_clear(&e->children);
    const za_behaviour *beh = atomic_load_explicit(&a->beh, memory_order_relaxed);
    if ((a->flags & ZA_AF_STARTED) && beh->stop) {
        za_ctx *saved = za__tl_ctx;
        za__tl_ctx = c;
        c->in_stop = true;
        beh->stop(c);
        c->in_stop = false;
        za__tl_ctx = saved;
        if (c->w) { /* what stop sent (outbox.c) */
            if (c->w->outbox.used) za__outbox_flush(c->w);
            c->w->outbox.cb_sends = 0;
        }
    }
    a->flags &= (uint8_t) ~(ZA_AF_STARTED | ZA_AF_SUSPENDED);
    if (!e->restart_ms) {
        /* the window can only be judged if it remembers max_restarts restarts */
        uint32_t cap =
            e->max_restarts < ZA_MAX_RESTART_HISTORY ? e->max_restarts : ZA_MAX_RESTART_HISTORY;
        e->restart_ms = calloc(cap ? cap : 1, sizeof *e->restart_ms);
        e->restart_cap = e->restart_ms ? (cap ? cap : 1) : 0;
    }
    if (e->restart_cap) e->restart_ms[e->nrestart % e->restart_cap] = now_ms();
    e->nrestart++;
    atomic_store_explicit(&a->restarts,
                          atomic_load_explicit(&a->restarts, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    za__count(s, ZA_C_RESTARTS, 1);
    int rc = za__start_incarnation(c);
    if (rc != 0) {
        char buf[116];
        snprintf(buf, sizeof buf, "restart failed: %s",
                 c->fail_text[0] ? c->fail_text : "start returned non-zero");
        za__actor_fail(c, c->fail_code ? c->fail_code : ZA_ESTART, buf);
        return;
    }
    za__stop_if_requested(c);
}
