/*
 * Actors: one actor turn (a batch of messages), the lifecycle (start, stop
 * children-first, finalize) and the context API behaviours call.
 *
 * Ownership rule: the incarnation fields of a slot are touched only by the
 * thread that holds the actor's turn (sched word QUEUED). A spawn only
 * writes the producer-side words and pushes START; the worker that runs
 * START installs the behaviour. That way a spawn reusing a slot can never
 * race a worker still draining the slot's previous incarnation.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "actor.h"
#include "cluster/hook.h"
#include "ask.h"
#include "deadletter.h"
#include "grain/grain.h"
#include "mailbox.h"
#include "registry.h"
#include "send.h"
#include "slots.h"
#include "supervise.h"
#include "system.h"
#include "label.h"
#include "spans.h"
#include "trace.h"

_Thread_local za_ctx *za__tl_ctx;

static void ext_defaults(za_actor_ext *e) {
    e->max_restarts = 3;
    e->within_ms = 5000;
    e->backoff_min_ms = 0;
    e->backoff_max_ms = 1000;
    e->restart_policy = ZA_RESTART_PERMANENT;
    e->strategy = ZA_ONE_FOR_ONE;
}

za_actor_ext *za__ext_new(void) {
    za_actor_ext *e = calloc(1, sizeof *e);
    if (e) ext_defaults(e);
    return e;
}

za_actor_ext *za__ext(za_actor *a) {
    if (!a->ext) a->ext = za__ext_new();
    return a->ext;
}

void za__ext_free(za_actor_ext *e) {
    if (!e) return;
    free(e->name);
    za__refseq_free(&e->children);
    free(e->watchers);
    free(e->args);
    free(e->restart_ms);
    free(e);
}

/* --------------------------------------------------------------- the turn */

static void ctx_init(za_ctx *c, za_system *s, za_worker *w, za_actor *a) {
    c->sys = s;
    c->a = a;
    c->w = w;
    c->self = za__make_ref(s->node_id, a->slot, a->inc_gen);
    c->as = za__ctx_as(a, c->self);
    c->cur = NULL;
    c->reply = NULL;
    c->fail_code = 0;
    c->dirty = false;
    c->final_stop = false;
    c->in_stop = false;
    c->fail_text[0] = '\0';
}

/* Run a callback with the thread's context pointing at c. */
#define WITH_CTX(c, expr)                                                                          \
    do {                                                                                           \
        za_ctx *saved_ = za__tl_ctx;                                                               \
        za__tl_ctx = (c);                                                                          \
        expr;                                                                                      \
        za__tl_ctx = saved_;                                                                       \
        /* what the callback sent goes out now (outbox.c) */                                       \
        if ((c)->w) {                                                                              \
            if ((c)->w->outbox.used) za__outbox_flush((c)->w);                                     \
            (c)->w->outbox.cb_sends = 0;                                                           \
        }                                                                                          \
    } while (0)

static void take_fail_reason(za_ctx *c, int rc, int *code, const char **text) {
    *code = c->fail_code ? c->fail_code : rc;
    *text = c->fail_text[0] ? c->fail_text : "returned non-zero";
}

int za__start_incarnation(za_ctx *c) {
    za_actor *a = c->a;
    const za_behaviour *beh = atomic_load_explicit(&a->beh, memory_order_relaxed);
    if (beh->state_size) memset(a->state, 0, beh->state_size);
    c->fail_code = 0;
    c->fail_text[0] = '\0';
    a->flags &= (uint8_t)~ZA_AF_STOP_REQ; /* only a stop asked for by this start counts */
    int rc = 0;
    if (beh->start) {
        const void *args = a->ext ? a->ext->args : NULL;
        size_t alen = a->ext ? a->ext->args_len : 0;
        c->cur = NULL;
        WITH_CTX(c, rc = beh->start(c, args, alen));
    }
    if (rc == 0) {
        a->flags |= ZA_AF_STARTED;
        if (ZA_UNLIKELY(a->flags & ZA_AF_START_FAILED)) { /* a restart made it after all */
            a->flags &= (uint8_t)~ZA_AF_START_FAILED;
            za__startfail_forget(c->sys, c->self);
        }
    } else {
        /* before the supervisor hears of it, so a message that is dead-
         * lettered when the actor then dies already finds the reason */
        a->flags |= ZA_AF_START_FAILED;
        za__startfail_note(c->sys, c->self,
                           c->fail_text[0] ? c->fail_text : "start returned non-zero");
    }
    return rc;
}

/* za_ctx_stop during start or a receive: the stop begins once it returned
 * (a start that asked to stop did not wait for a first message). */
void za__stop_if_requested(za_ctx *c) {
    if (ZA_UNLIKELY(c->a->flags & ZA_AF_STOP_REQ)) {
        c->a->flags &= (uint8_t)~ZA_AF_STOP_REQ;
        za__begin_stop(c, 0, "stopped");
    }
}

static void finalize(za_ctx *c, int code, const char *text);

static void handle_start(za_ctx *c, za_msgnode *m) {
    za_actor *a = c->a;
    za_start_info si;
    memcpy(&si, za__msg_data(m), sizeof si);
    a->inc_gen = za_ref_gen(m->target);
    atomic_store_explicit(&a->beh, si.beh, memory_order_relaxed);
    atomic_store_explicit(&a->parent, si.parent, memory_order_relaxed);
    atomic_store_explicit(&a->processed, 0, memory_order_relaxed);
    atomic_store_explicit(&a->restarts, 0, memory_order_relaxed);
    a->ext = si.ext;
    a->user = si.user;
    za__actor_label_set(a, si.label);
    a->flags = atomic_load_explicit(&a->policy, memory_order_relaxed) == ZA_FULL_DROP_OLDEST
                   ? ZA_AF_DROP_OLDEST
                   : 0;
    if (ZA_UNLIKELY(si.ext && si.ext->grain)) a->flags |= ZA_AF_GRAIN;
    a->hi_streak = a->lo_streak = 0;
    ctx_init(c, c->sys, c->w, a);
    a->state = NULL;
    if (si.beh->state_size && !(a->state = calloc(1, si.beh->state_size))) {
        if (si.waiter) {
            za__reply_complete(c->sys, si.waiter, ZA_ENOMEM, 0, NULL, 0, NULL, NULL,
                               "out of memory for actor state");
            za__reply_release(si.waiter);
        }
        za__startfail_note(c->sys, c->self, "out of memory for actor state");
        finalize(c, ZA_ENOMEM, "out of memory for actor state");
        return;
    }
    int rc = za__start_incarnation(c);
    if (rc == 0) {
        if (si.waiter) {
            za__reply_complete(c->sys, si.waiter, ZA_OK, 0, NULL, 0, NULL, NULL, NULL);
            za__reply_release(si.waiter);
        }
        za__stop_if_requested(c);
        return;
    }
    int code;
    const char *text;
    take_fail_reason(c, rc, &code, &text);
    if (si.waiter) {
        /* a synchronous spawn reports the failure to its caller instead.
         * Counted here only: the za__actor_fail path below counts it itself
         * (counting before the branch double-counted; found by tests/c). */
        za__count(c->sys, ZA_C_FAILURES, 1);
        za__reply_complete(c->sys, si.waiter, ZA_ESTART, 0, NULL, 0, NULL, NULL, text);
        za__reply_release(si.waiter);
        char buf[1040];
        snprintf(buf, sizeof buf, "start failed: %s", text);
        finalize(c, ZA_ESTART, buf);
        return;
    }
    char buf[1040];
    snprintf(buf, sizeof buf, "start failed: %s", text);
    za__actor_fail(c, code ? code : ZA_ESTART, buf);
}

/* A START that will never run: undo what the spawn prepared. */
void za__discard_start(za_system *s, za_actor *a, za_msgnode *m) {
    za_start_info si;
    memcpy(&si, za__msg_data(m), sizeof si);
    if (si.ext) {
        if (si.ext->name) za__registry_drop(s, si.ext->name, m->target);
        za__ext_free(si.ext);
    }
    if (si.waiter) {
        za__reply_complete(s, si.waiter, ZA_ESHUTDOWN, 0, NULL, 0, NULL, NULL,
                           "actor never started: system shut down");
        za__reply_release(si.waiter);
    }
    uint32_t want = ZA_LIFE(za_ref_gen(m->target), ZA_ST_ALIVE);
    if (atomic_compare_exchange_strong(&a->life, &want,
                                       ZA_LIFE(za_ref_gen(m->target), ZA_ST_DEAD))) {
        atomic_fetch_sub(&s->alive, 1);
        za__slot_free(s, a->slot);
    }
}

static void send_down(za_system *s, za_ref to, za_ref dead, int code, const char *text) {
    za_down d;
    memset(&d, 0, sizeof d);
    d.ref = dead;
    d.code = code;
    snprintf(d.reason, sizeof d.reason, "%s", text ? text : "");
    za_msgnode *m = za__msg_new_bytes(ZA_TAG_DOWN, &d, sizeof d);
    if (!m) return;
    m->target = to;
    m->sender = dead;
    int rc = za__send_node(s, m, false);
    if (rc != ZA_OK && rc != ZA_EDROPPED) za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
}

void za__remove_root(za_system *s, za_ref ref) {
    pthread_mutex_lock(&s->root_mu);
    za__refseq_remove(&s->roots, ref);
    pthread_mutex_unlock(&s->root_mu);
}

/* The end of an incarnation. After this only the mailbox is touched. */
static void finalize(za_ctx *c, int code, const char *text) {
    za_system *s = c->sys;
    za_actor *a = c->a;
    bool grain = a->flags & ZA_AF_GRAIN;
    bool start_failed = !(a->flags & ZA_AF_STARTED);
    const za_behaviour *beh = atomic_load_explicit(&a->beh, memory_order_relaxed);
    if ((a->flags & ZA_AF_STARTED) && beh && beh->stop) {
        c->cur = NULL;
        c->final_stop = true;
        c->in_stop = true;
        WITH_CTX(c, beh->stop(c));
        c->in_stop = false;
        c->final_stop = false;
    }
    a->flags &= (uint8_t)~ZA_AF_STARTED;
    /* until the next START, the slot has no behaviour: za_ref_behaviour must
     * not report this one for a ref of the next incarnation */
    atomic_store_explicit(&a->beh, NULL, memory_order_relaxed);
    za__actor_label_set(a, NULL);
    za_actor_ext *e = a->ext;
    if (e && e->name) za__registry_drop(s, e->name, c->self);
    if (e) {
        for (uint32_t i = 0; i < e->nwatchers; i++)
            send_down(s, e->watchers[i], c->self, code, text);
    }
    za_ref parent = atomic_load_explicit(&a->parent, memory_order_relaxed);
    if (parent != ZA_REF_NONE) {
        /* the sender field names the child; the parent needs nothing else
         * (an empty payload keeps every stop free of a heap allocation) */
        za__send_sys(s, parent, c->self, ZA_SYS_CHILD_STOPPED, NULL, 0);
    } else {
        za__remove_root(s, c->self);
    }
    /* a grain activation ended: the directory takes what is still queued
     * (the slot is still this incarnation's) and reactivates if needed */
    if (ZA_UNLIKELY(grain)) za__grain_ended(s, a, e->grain_act, code, text, start_failed);
    free(a->state);
    a->state = NULL;
    za__ext_free(e);
    a->ext = NULL;
    a->flags = 0;
    /* release: pairs with the acquire loads of the life word (senders,
     * za_is_alive): the incarnation is gone before it reads as dead */
    atomic_store_explicit(&a->life, ZA_LIFE(a->inc_gen, ZA_ST_DEAD), memory_order_release);
    atomic_fetch_sub_explicit(&s->alive, 1, memory_order_relaxed);
    za__count(s, ZA_C_STOPPED, 1);
    za__slot_free(s, a->slot);
    /* seq_cst: against za_join's seq_cst increment of life_waiters before
     * it checks the life word. The life store above is only release, so a
     * waiter may still miss this broadcast; it waits in 10 ms slices and
     * re-checks, so a miss costs at most one slice. */
    if (atomic_load_explicit(&s->life_waiters, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&s->life_mu);
        pthread_cond_broadcast(&s->life_cv);
        pthread_mutex_unlock(&s->life_mu);
    }
}

void za__begin_stop(za_ctx *c, int code, const char *text) {
    za_actor *a = c->a;
    c->dirty = true;
    if (a->flags & ZA_AF_STOPPING) return;
    a->flags |= ZA_AF_STOPPING;
    atomic_store_explicit(&a->life, ZA_LIFE(a->inc_gen, ZA_ST_STOPPING), memory_order_release);
    za_actor_ext *e = a->ext;
    if (e) {
        e->fail_code = code;
        snprintf(e->fail_text, sizeof e->fail_text, "%s", text ? text : "");
        e->pending_children = 0;
        for (uint32_t i = 0; i < e->children.n; i++) {
            za_ref kid = e->children.v[i];
            if (kid && za__send_sys(c->sys, kid, c->self, ZA_SYS_STOP, NULL, 0) == ZA_OK)
                e->pending_children++;
        }
        if (e->pending_children) return; /* finalize when the last child reports */
    }
    finalize(c, code, text);
}

static void on_child_stopped(za_ctx *c, za_ref child) {
    za_actor_ext *e = c->a->ext;
    if (!e || !za__refseq_remove(&e->children, child)) return;
    if ((c->a->flags & ZA_AF_STOPPING) && e->pending_children && --e->pending_children == 0)
        finalize(c, e->fail_code, e->fail_text);
}

static void handle_sys(za_ctx *c, za_msgnode *m) {
    za_actor *a = c->a;
    za_system *s = c->sys;
    uint32_t life = atomic_load_explicit(&a->life, memory_order_acquire);
    bool current = ZA_LIFE_GEN(life) == za_ref_gen(m->target) &&
                   (ZA_LIFE_ST(life) == ZA_ST_ALIVE || ZA_LIFE_ST(life) == ZA_ST_STOPPING);
    if (m->sys == ZA_SYS_START) {
        if (current) {
            handle_start(c, m);
        } else {
            za__discard_start(s, a, m);
        }
        za__msg_free(m);
        return;
    }
    if (!current || a->inc_gen != za_ref_gen(m->target)) {
        /* addressed to an incarnation that is gone */
        if (m->sys == ZA_SYS_WATCH && m->sender)
            send_down(s, m->sender, m->target, ZA_EDEAD, "no such actor");
        za__msg_free(m);
        return;
    }
    ctx_init(c, s, c->w, a);
    switch (m->sys) {
    case ZA_SYS_STOP:
        za__begin_stop(c, 0, "stopped");
        break;
    case ZA_SYS_RESTART:
        za__do_restart(c);
        break;
    case ZA_SYS_CHILD_FAILED: {
        za_fail_note note;
        memcpy(&note, za__msg_data(m), sizeof note);
        za__on_child_failed(c, &note);
        break;
    }
    case ZA_SYS_CHILD_STOPPED:
        on_child_stopped(c, m->sender);
        break;
    case ZA_SYS_WATCH: {
        za_actor_ext *e = za__ext(a);
        if (e) za__ref_list_add(&e->watchers, &e->nwatchers, &e->capwatchers, m->sender);
        break;
    }
    case ZA_SYS_UNWATCH:
        if (a->ext) za__ref_list_remove(a->ext->watchers, &a->ext->nwatchers, m->sender);
        break;
    default:
        break;
    }
    za__msg_free(m);
}

/* Pick the next user message: high first, but after 8 high ones a normal or
 * low one gets a turn, and after 16 above-low ones a low one does. */
static za_msgnode *pop_user(za_actor *a, bool *busy) {
    za_msgnode *m;
    if (a->hi_streak >= 8) {
        if ((m = za__mbox_pop(a, ZA_LANE_NORMAL, busy)) ||
            (m = za__mbox_pop(a, ZA_LANE_LOW, busy))) {
            a->hi_streak = 0;
            if (m->prio == ZA_PRIO_LOW) a->lo_streak = 0;
            return m;
        }
    }
    if (a->lo_streak >= 16) {
        if ((m = za__mbox_pop(a, ZA_LANE_LOW, busy))) {
            a->lo_streak = 0;
            return m;
        }
    }
    if ((m = za__mbox_pop(a, ZA_LANE_HIGH, busy))) {
        if (a->hi_streak < 255) a->hi_streak++;
        if (a->lo_streak < 255) a->lo_streak++;
        return m;
    }
    if ((m = za__mbox_pop(a, ZA_LANE_NORMAL, busy))) {
        a->hi_streak = 0;
        if (a->lo_streak < 255) a->lo_streak++;
        return m;
    }
    if ((m = za__mbox_pop(a, ZA_LANE_LOW, busy))) {
        a->lo_streak = 0;
        a->hi_streak = 0;
        return m;
    }
    return NULL;
}

static void deliver(za_ctx *c, za_msgnode *m) {
    za_actor *a = c->a;
    za_system *s = c->sys;
    if (ZA_UNLIKELY(a->flags & ZA_AF_DROP_OLDEST) &&
        atomic_load_explicit(&a->to_drop, memory_order_relaxed)) {
        atomic_fetch_sub_explicit(&a->to_drop, 1, memory_order_relaxed);
        za__dead_letter(s, m, ZA_DL_DROPPED);
        return;
    }
    const za_behaviour *beh = atomic_load_explicit(&a->beh, memory_order_relaxed);
    za__count(s, ZA_C_DELIVERED, 1);
    uint64_t t0 = 0;
    if (ZA_UNLIKELY(m->flags & (ZA_MF_TIMED | ZA_MF_DEACT))) {
        /* a grain activation stops once it handled its deactivation (unless
         * the receive defers it: za_ctx_grain_defer clears the request) */
        if ((m->flags & ZA_MF_DEACT) && (a->flags & ZA_AF_GRAIN)) a->flags |= ZA_AF_STOP_REQ;
        if (m->flags & ZA_MF_TIMED) {
            t0 = za__now_ns();
            za__hist_add(&c->w->stats.queue_lat, t0 > m->enq_ns ? t0 - m->enq_ns : 0);
        }
    }
    c->cur = m;
    c->reply = m->reply;
    m->reply = NULL;
    c->fail_code = 0;
    c->fail_text[0] = '\0';
    c->view.tag = m->tag;
    c->view.prio = m->prio;
    c->view.kind = m->kind;
    c->view.status = m->status;
    c->view.len = m->len;
    c->view.data = za__msg_data(m);
    c->view.ptr = m->kind == ZA_PAYLOAD_PTR ? m->u.p.ptr : NULL;
    c->view.sender = m->sender;
    c->view.corr = (m->flags & ZA_MF_REPLY) ? m->corr : 0;
    int rc;
    za_tl_trace saved_trace; /* the message's trace context is current in its handler */
    bool traced = za__trace_enter(m, &saved_trace);
    za_span_open span;
    span.on = false;
    if (ZA_UNLIKELY(traced) && za__tl_trace.on) za__span_recv_begin(c, m, beh, &span);
    WITH_CTX(c, rc = beh->receive(c, &c->view));
    if (ZA_UNLIKELY(span.on)) za__span_recv_end(c, beh, &span, rc);
    if (ZA_UNLIKELY(traced)) za__trace_leave(&saved_trace);
    if (ZA_UNLIKELY(t0)) za__hist_add(&c->w->stats.proc_lat, za__now_ns() - t0);
    atomic_store_explicit(&a->processed,
                          atomic_load_explicit(&a->processed, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    c->cur = NULL;
    if (ZA_UNLIKELY(rc != 0)) {
        int code;
        const char *text;
        take_fail_reason(c, rc, &code, &text);
        if (c->reply) {
            za__reply_complete(s, c->reply, ZA_EFAILED, 0, NULL, 0, NULL, NULL, text);
            za__reply_release(c->reply);
            c->reply = NULL;
        }
        za__dead_letter(s, m, ZA_DL_FAILED);
        za__actor_fail(c, code, text);
        return;
    }
    if (c->reply) {
        za__reply_complete(s, c->reply, ZA_ENOREPLY, 0, NULL, 0, NULL, NULL,
                           "the actor handled the ask without replying");
        za__reply_release(c->reply);
        c->reply = NULL;
    }
    za__msg_free(m);
    if (ZA_UNLIKELY(a->flags & ZA_AF_STOP_REQ)) za__stop_if_requested(c);
}

/* Used only after the turn is released (sched no longer QUEUED): another
 * worker may then own the consumer side, so reading head[] here was a data
 * race (found by TSan in tests/c). Every lane checked there was left with
 * head == stub by this turn (a pop that sees a producer mid-push sets busy,
 * and the turn is kept), so "tail is the stub" alone means "empty". */
static bool lane_empty_released(za_actor *a, int lane) {
    /* seq_cst: the handshake load at the end of the turn (see za__turn) */
    return atomic_load_explicit(&a->tail[lane], memory_order_seq_cst) == &a->stub[lane];
}

static bool user_lanes_empty(za_actor *a) {
    return lane_empty_released(a, ZA_LANE_HIGH) && lane_empty_released(a, ZA_LANE_NORMAL) &&
           lane_empty_released(a, ZA_LANE_LOW);
}

/* Returns true if the actor must go back on a run queue. */
bool za__turn(za_worker *w, za_actor *a) {
    za_system *s = w->sys;
    za_ctx c;
    c.sys = s;
    c.w = w;
    c.a = a;
    c.self = za__make_ref(s->node_id, a->slot, a->inc_gen);
    c.as = za__ctx_as(a, c.self);
    c.cur = NULL;
    c.reply = NULL;
    c.dirty = false;
    c.final_stop = false;
    c.in_stop = false;
    uint32_t budget = s->cfg.batch;
    int64_t consumed = 0, batched = 0;
    /* A bounded mailbox gives a place back as soon as a message leaves the
     * queue: decrementing depth only at the end of the turn kept an emptied
     * mailbox "full" for the rest of a (possibly long) turn, so sends failed
     * or blocked with nothing queued (found by tests/c). Unbounded mailboxes
     * keep the cheap once-per-turn decrement. */
    bool bounded = atomic_load_explicit(&a->capacity, memory_order_relaxed) != 0;
    bool busy = false, user_ok = true;
    /* The life word sits on the producers' cache line; it only changes
     * through system messages (or a spawn, which queues START), so read it
     * once per turn and again after each system message. */
    /* acquire (here and below): pairs with the release stores of the life
     * word by a spawn (ALIVE) and by this actor's own stop (STOPPING, DEAD) */
    uint32_t life = atomic_load_explicit(&a->life, memory_order_acquire);
    while (budget) {
        budget--;
        za_msgnode *m = za__mbox_pop(a, ZA_LANE_SYS, &busy);
        if (m) {
            handle_sys(&c, m);
            life = atomic_load_explicit(&a->life, memory_order_acquire);
            continue;
        }
        uint32_t st = ZA_LIFE_ST(life);
        if (st == ZA_ST_ALIVE && (a->flags & (ZA_AF_SUSPENDED | ZA_AF_STOPPING))) {
            user_ok = false;
            break;
        }
        if (st == ZA_ST_STOPPING) {
            user_ok = false;
            break;
        }
        m = pop_user(a, &busy);
        if (!m) break;
        consumed++;
        if (ZA_UNLIKELY(bounded)) /* release: pairs with the senders' acq_rel reservation */
            atomic_fetch_sub_explicit(&a->depth, 1, memory_order_release);
        else
            batched++;
        if (ZA_LIFE_GEN(life) != za_ref_gen(m->target) || a->inc_gen != za_ref_gen(m->target))
            life = atomic_load_explicit(&a->life, memory_order_acquire);
        bool live = ZA_LIFE_ST(life) == ZA_ST_ALIVE && ZA_LIFE_GEN(life) == za_ref_gen(m->target);
        if (live && a->inc_gen != za_ref_gen(m->target)) {
            /* this message raced ahead of its incarnation's START: run START first */
            za_msgnode *sm;
            while (a->inc_gen != za_ref_gen(m->target)) {
                bool b2 = false;
                if ((sm = za__mbox_pop(a, ZA_LANE_SYS, &b2)))
                    handle_sys(&c, sm);
                else if (za__mbox_lane_empty(a, ZA_LANE_SYS))
                    break;
            }
            life = atomic_load_explicit(&a->life, memory_order_acquire);
            live = ZA_LIFE_ST(life) == ZA_ST_ALIVE && a->inc_gen == za_ref_gen(m->target) &&
                   !(a->flags & (ZA_AF_SUSPENDED | ZA_AF_STOPPING));
        }
        if (!live) {
            /* (queued when shutdown stopped the actor: "shutdown", as documented) */
            za__dead_letter(s, m,
                            atomic_load_explicit(&s->phase, memory_order_relaxed) >=
                                    ZA_PHASE_STOPPING
                                ? ZA_DL_SHUTDOWN
                                : ZA_DL_DEAD_TARGET);
            continue;
        }
        if (ZA_UNLIKELY(za_ref_gen(c.self) != a->inc_gen)) {
            c.self = m->target;
            c.as = za__ctx_as(a, c.self);
        }
        deliver(&c, m);
        if (ZA_UNLIKELY(c.dirty)) {
            c.dirty = false;
            life = atomic_load_explicit(&a->life, memory_order_acquire);
        }
    }
    if (consumed) {
        if (batched) atomic_fetch_sub_explicit(&a->depth, batched, memory_order_relaxed);
        za__count(s, ZA_C_CONSUMED, (uint64_t)consumed);
    }
    if (!budget || busy) return true;
    /* The turn's half of the scheduling handshake (send.c has the whole
     * story): store sched, then load the tails, all seq_cst, against the
     * sender's seq_cst exchange of a tail then load of sched. A message
     * pushed after our last pop is seen either here (we take the turn back)
     * or by its sender (it sees IDLE and schedules us). The store is also
     * the release the next scheduler's CAS acquires. */
    uint8_t next = user_ok ? ZA_SCHED_IDLE : ZA_SCHED_SUSPENDED;
    atomic_store_explicit(&a->sched, next, memory_order_seq_cst);
    if (!lane_empty_released(a, ZA_LANE_SYS) || (user_ok && !user_lanes_empty(a))) {
        uint8_t exp = next;
        /* acq_rel: like a sender's CAS; whoever wins owns the next turn.
         * relaxed on failure: a sender won and schedules us itself */
        if (atomic_compare_exchange_strong_explicit(&a->sched, &exp, ZA_SCHED_QUEUED,
                                                    memory_order_acq_rel, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Shutdown after workers are joined: end an incarnation on this thread. */
void za__actor_force_stop(za_system *s, za_actor *a, za_worker *w) {
    za_ctx c;
    ctx_init(&c, s, w, a);
    finalize(&c, ZA_ESHUTDOWN, "system shut down");
}

/* ---------------------------------------------------------------- ctx API */

void *za_ctx_state(za_ctx *ctx) {
    return ctx ? ctx->a->state : NULL;
}
za_ref za_ctx_self(za_ctx *ctx) {
    return ctx ? ctx->as : ZA_REF_NONE;
}
za_ref za_ctx_parent(za_ctx *ctx) {
    return ctx ? atomic_load_explicit(&ctx->a->parent, memory_order_relaxed) : ZA_REF_NONE;
}
za_system *za_ctx_system(za_ctx *ctx) {
    return ctx ? ctx->sys : NULL;
}
void *za_ctx_user(za_ctx *ctx) {
    return ctx ? ctx->a->user : NULL;
}
int za_ctx_worker(za_ctx *ctx) {
    return ctx && ctx->w ? ctx->w->id : -1;
}
uint32_t za_ctx_restarts(za_ctx *ctx) {
    return ctx ? atomic_load_explicit(&ctx->a->restarts, memory_order_relaxed) : 0;
}
int za_ctx_can_reply(za_ctx *ctx) {
    return ctx && ctx->reply ? 1 : 0;
}
int za_ctx_final_stop(za_ctx *ctx) {
    return ctx && ctx->final_stop ? 1 : 0;
}

const za_behaviour *za_ref_behaviour(za_system *sys, za_ref ref) {
    if (za_ref_is_grain(ref) || !za_is_alive(sys, ref)) return NULL;
    za_actor *a = za__slot(sys, za_ref_slot(ref));
    const za_behaviour *beh = atomic_load_explicit(&a->beh, memory_order_acquire);
    /* still the same incarnation after the load: the behaviour is its own */
    return za_is_alive(sys, ref) ? beh : NULL;
}

void za_ctx_stop(za_ctx *ctx) {
    if (ctx) ctx->a->flags |= ZA_AF_STOP_REQ;
}

void za_ctx_fail(za_ctx *ctx, int code, const char *fmt, ...) {
    if (!ctx) return;
    ctx->fail_code = code;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->fail_text, sizeof ctx->fail_text, fmt, ap);
        va_end(ap);
    }
}

void *za_msg_take_ptr(const za_msg *msg) {
    if (!msg) return NULL;
    za_ctx *c = za__tl_ctx;
    if (!c || &c->view != msg || !c->cur || c->cur->kind != ZA_PAYLOAD_PTR) return NULL;
    c->cur->u.p.dtor = NULL;
    void *p = c->cur->u.p.ptr;
    c->cur->u.p.ptr = NULL;
    c->view.ptr = NULL;
    return p;
}

int za__tell_self(za_ctx *c, int32_t tag, const void *data, size_t len) {
    za_msgnode *m = za__msg_new_bytes(tag, data, len);
    if (!m) return ZA_ENOMEM;
    m->target = c->self;
    m->sender = c->self;
    int rc = za__send_node(c->sys, m, false);
    if (rc != ZA_OK && rc != ZA_EDROPPED) za__msg_free(m);
    return rc;
}

int za_ctx_watch(za_ctx *ctx, za_ref target) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    return za_watch(ctx->sys, ctx->self, target);
}

int za_ctx_unwatch(za_ctx *ctx, za_ref target) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    int rc = za__send_sys(ctx->sys, target, ctx->self, ZA_SYS_UNWATCH, NULL, 0);
    return rc == ZA_EDEAD ? ZA_OK : rc;
}

int za_watch(za_system *sys, za_ref watcher, za_ref target) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    if (za_ref_is_grain(target) || za_ref_is_grain(watcher))
        return za__fail(ZA_EINVAL,
                        "cannot watch a grain reference: a grain never dies, its activations come "
                        "and go (za_is_alive says whether it is active)");
    if (!za__resolve(sys, watcher)) return za__fail(ZA_EDEAD, "watcher is dead");
    int rc = za__send_sys(sys, target, watcher, ZA_SYS_WATCH, NULL, 0);
    if (rc == ZA_EDEAD) {
        send_down(sys, watcher, target, ZA_EDEAD, "no such actor");
        return ZA_OK;
    }
    return rc;
}

/* ------------------------------------------------------------ lifecycle API */

int za_stop(za_system *sys, za_ref ref) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    if (za_ref_is_grain(ref)) return za__grain_stop(sys, ref);
    return za__send_sys(sys, ref, ZA_REF_NONE, ZA_SYS_STOP, NULL, 0);
}

int za_is_alive(za_system *sys, za_ref ref) {
    if (!sys || ref == ZA_REF_NONE) return 0;
    if (za_ref_is_grain(ref)) return za__grain_is_active(sys, ref);
    if (za_ref_node(ref) != sys->node_id) return sys->cluster ? za__cluster_is_alive(sys, ref) : 0;
    za_actor *a = za__slot(sys, za_ref_slot(ref));
    if (!a) return 0;
    uint32_t life = atomic_load_explicit(&a->life, memory_order_acquire);
    return ZA_LIFE_GEN(life) == za_ref_gen(ref) &&
           (ZA_LIFE_ST(life) == ZA_ST_ALIVE || ZA_LIFE_ST(life) == ZA_ST_STOPPING);
}

int za_join(za_system *sys, za_ref ref, uint32_t timeout_ms) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    if (!za_is_alive(sys, ref)) return ZA_OK;
    if (za__tl_ctx && za__tl_ctx->sys == sys)
        return za__fail(ZA_ESTATE, "za_join cannot wait inside an actor; use watch");
    uint64_t deadline = za__now_ns() + (uint64_t)timeout_ms * 1000000ull;
    atomic_fetch_add(&sys->life_waiters, 1);
    pthread_mutex_lock(&sys->life_mu);
    int rc = ZA_OK;
    while (za_is_alive(sys, ref)) {
        if (sys->manual) {
            pthread_mutex_unlock(&sys->life_mu);
            za__run_manual(sys, 64);
            pthread_mutex_lock(&sys->life_mu);
            if (za__now_ns() >= deadline) {
                rc = za_is_alive(sys, ref) ? ZA_ETIMEDOUT : ZA_OK;
                break;
            }
            continue;
        }
        uint64_t now = za__now_ns();
        if (now >= deadline) {
            rc = ZA_ETIMEDOUT;
            break;
        }
        /* bounded slices: a death between the check and the wait is seen soon */
        uint64_t until = now + 10000000ull < deadline ? now + 10000000ull : deadline;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t add = until - now;
        ts.tv_sec += (time_t)(add / 1000000000ull);
        ts.tv_nsec += (long)(add % 1000000000ull);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sys->life_cv, &sys->life_mu, &ts);
    }
    pthread_mutex_unlock(&sys->life_mu);
    atomic_fetch_sub(&sys->life_waiters, 1);
    if (rc == ZA_ETIMEDOUT) za__fail(rc, "actor still alive after %u ms", timeout_ms);
    return rc;
}

int za_actor_info_get(za_system *sys, za_ref ref, za_actor_info *out) {
    if (!sys || !out) return za__fail(ZA_EINVAL, "system or out is NULL");
    if (za_ref_is_grain(ref) || !za_is_alive(sys, ref)) return za__fail(ZA_EDEAD, "actor is dead");
    za_actor *a = za__slot(sys, za_ref_slot(ref));
    const za_behaviour *beh = atomic_load_explicit(&a->beh, memory_order_relaxed);
    out->behaviour = beh && beh->name ? beh->name : "?";
    out->parent = atomic_load_explicit(&a->parent, memory_order_relaxed);
    int64_t d = atomic_load_explicit(&a->depth, memory_order_relaxed);
    out->mailbox_depth = d > 0 ? (uint64_t)d : 0;
    out->processed = atomic_load_explicit(&a->processed, memory_order_relaxed);
    out->restarts = atomic_load_explicit(&a->restarts, memory_order_relaxed);
    return ZA_OK;
}

/* (za_ctx_self may name the grain this actor serves: see zactor.h) */
za_ref za_ctx_actor(za_ctx *ctx) {
    return ctx ? ctx->self : ZA_REF_NONE;
}
