/*
 * The send path: resolve a reference, apply the mailbox bound, push into a
 * lane, and schedule the actor when its mailbox goes from idle to busy.
 * No lock is taken here; bounded "block" mailboxes sleep in short slices.
 */
#include <stdlib.h>

#include "cluster/hook.h"
#include "deadletter.h"
#include "grain/grain.h"
#include "mailbox.h"
#include "send.h"
#include "slots.h"
#include "system.h"
#include "trace.h"

static _Thread_local uint32_t tl_sample;

za_actor *za__resolve(za_system *s, za_ref r) {
    if (!s || r == ZA_REF_NONE || za_ref_node(r) != s->node_id) return NULL;
    za_actor *a = za__slot(s, za_ref_slot(r));
    if (!a) return NULL;
    /* acquire: pairs with the release stores of the life word (spawn,
     * begin_stop, finalize) */
    uint32_t life = atomic_load_explicit(&a->life, memory_order_acquire);
    if (ZA_LIFE_GEN(life) != za_ref_gen(r) || ZA_LIFE_ST(life) != ZA_ST_ALIVE) return NULL;
    return a;
}

static bool outside_thread(za_system *s) {
    za_worker *w = za__tl_worker;
    return !w || w->sys != s;
}

/* Wait for room in a bounded mailbox; sleeps in growing slices so a full
 * mailbox costs the sender no CPU. Returns true once a place is reserved. */
/* Would blocking for room in a's mailbox wait for nothing? An actor cannot
 * make room in its own mailbox during its turn, and the sender's turn holds
 * its exclusive host (e.g. the GIL for Python actors), so an actor of the
 * same host cannot run until that turn ends. */
static bool block_cannot_drain(za_system *s, za_actor *a) {
    za_ctx *c = za__tl_ctx;
    if (!c || c->sys != s) return false;
    if (c->a == a) return true;
    /* acquire pairs with nothing (handle_start stores beh relaxed) and is
     * not needed: a behaviour table is written before the spawn that made
     * the reference known to us. The load only picks the current pointer. */
    const za_behaviour *mine = atomic_load_explicit(&c->a->beh, memory_order_acquire);
    const za_behaviour *theirs = atomic_load_explicit(&a->beh, memory_order_acquire);
    return mine && theirs && mine->host && mine->host->exclusive && mine->host == theirs->host;
}

/* Wait (up to the actor's block timeout) for room in a full mailbox and
 * reserve it. ZA_OK, or ZA_EFULL with the reason set. */
static int reserve_blocking(za_system *s, za_actor *a, za_ref to, uint32_t cap) {
    if (block_cannot_drain(s, a))
        return za__fail(ZA_EFULL,
                        "mailbox of %#llx is full (capacity %u) and waiting for room would "
                        "deadlock: its actor cannot run until the sender's turn ends",
                        (unsigned long long)to, cap);
    uint64_t deadline =
        za__now_ns() +
        (uint64_t)atomic_load_explicit(&a->block_ms, memory_order_relaxed) * 1000000ull;
    uint32_t nap_us = 10;
    for (;;) {
        /* acq_rel: pairs with the turn's release decrement of a bounded
         * mailbox's depth, made once the message left the lane */
        int64_t d = atomic_fetch_add_explicit(&a->depth, 1, memory_order_acq_rel);
        if (d < (int64_t)cap) return ZA_OK;
        atomic_fetch_sub_explicit(&a->depth, 1, memory_order_relaxed);
        uint32_t life = atomic_load_explicit(&a->life, memory_order_acquire);
        if (za__now_ns() >= deadline || ZA_LIFE_GEN(life) != za_ref_gen(to) ||
            ZA_LIFE_ST(life) != ZA_ST_ALIVE ||
            atomic_load_explicit(&s->phase, memory_order_relaxed) >= ZA_PHASE_STOPPED)
            return za__fail(ZA_EFULL, "mailbox of %#llx stayed full (capacity %u)",
                            (unsigned long long)to, cap);
        struct timespec ts = {0, (long)nap_us * 1000};
        nanosleep(&ts, NULL);
        if (nap_us < 1000) nap_us *= 2;
    }
}

int za__send_node(za_system *s, za_msgnode *m, bool from_outside) {
    za_ref to = m->target;
    if (ZA_UNLIKELY(to == ZA_REF_NONE || za_ref_node(to) != s->node_id)) {
        /* a grain reference: the directory routes it to the activation */
        if (za_ref_is_grain(to)) return za__grain_send(s, m, from_outside);
        /* another node's actor: the cluster takes the message (ZA_OK: it
         * owns it now, even when it turned it into a dead letter) */
        if (to != ZA_REF_NONE && s->cluster) return za__cluster_send(s, m, from_outside);
        return za__fail(ZA_EDEAD, "no such actor %#llx", (unsigned long long)to);
    }
    za_actor *a = za__slot(s, za_ref_slot(to));
    if (!a) return za__fail(ZA_EDEAD, "no such actor %#llx", (unsigned long long)to);
    /* acquire: pairs with nothing that needs it (phase is written with
     * seq_cst stores in system.c); it only gates the send */
    int phase = atomic_load_explicit(&s->phase, memory_order_acquire);
    if (ZA_UNLIKELY(phase != ZA_PHASE_RUNNING)) {
        if (phase >= ZA_PHASE_STOPPED || (from_outside && !(m->flags & ZA_MF_SYSTEM)))
            return za__fail(ZA_ESHUTDOWN, "system is shutting down");
    }
    /* acquire: pairs with spawn's release store of ALIVE, so the mailbox
     * settings written before it (capacity, policy, host_idx) are seen */
    uint32_t life = atomic_load_explicit(&a->life, memory_order_acquire);
    uint32_t st = ZA_LIFE_ST(life);
    if (ZA_LIFE_GEN(life) != za_ref_gen(to) ||
        !(st == ZA_ST_ALIVE || (st == ZA_ST_STOPPING && (m->flags & ZA_MF_SYSTEM)))) {
        char why[ZA_STARTFAIL_TEXT + 64]; /* a spawn does not wait for start: say why here */
        if (za__startfail_text(s, to, why, sizeof why)) return za__fail(ZA_EDEAD, "%s", why);
        return za__fail(ZA_EDEAD, "actor %#llx is dead", (unsigned long long)to);
    }

    uint32_t cap = atomic_load_explicit(&a->capacity, memory_order_relaxed);
    /* A callback running on a worker of this system batches its plain sends
     * to unbounded mailboxes (outbox.c); anything else first publishes what
     * is batched, so this worker's pushes keep their order and nothing
     * waits in the outbox while we block below. */
    za_ctx *c = za__tl_ctx;
    za_worker *ow = (c && c->sys == s) ? c->w : NULL;
    /* Not from actors of a host (Python): their handlers may block in I/O
     * for long, and what they sent must not wait in the outbox meanwhile. */
    bool batch = ow && !ow->cur_host && !cap && !m->reply &&
                 !(m->flags & (ZA_MF_SYSTEM | ZA_MF_DIRECT)) &&
                 (ow->outbox.cb_sends > ZA_OB_DIRECT || ++ow->outbox.cb_sends > ZA_OB_DIRECT);
    if (ow && !batch && ow->outbox.used) za__outbox_flush(ow);

    if (m->flags & ZA_MF_SYSTEM) {
        /* push, then load sched: the scheduling handshake described below */
        za__mbox_push(a, ZA_LANE_SYS, m);
        uint8_t cur = atomic_load_explicit(&a->sched, memory_order_seq_cst);
        while (cur != ZA_SCHED_QUEUED) {
            if (atomic_compare_exchange_weak_explicit(&a->sched, &cur, ZA_SCHED_QUEUED,
                                                      memory_order_acq_rel, memory_order_relaxed)) {
                za__schedule(s, a);
                break;
            }
        }
        return ZA_OK;
    }

    za__trace_on_send(m); /* a branch unless this thread has a trace context */
    if (ZA_UNLIKELY(cap)) {
        /* acq_rel: as in reserve_blocking */
        int64_t d = atomic_fetch_add_explicit(&a->depth, 1, memory_order_acq_rel);
        if (d >= (int64_t)cap) {
            switch (atomic_load_explicit(&a->policy, memory_order_relaxed)) {
            case ZA_FULL_DROP_NEWEST:
                atomic_fetch_sub_explicit(&a->depth, 1, memory_order_relaxed);
                za__count(s, ZA_C_SENT, 1);
                za__count(s, ZA_C_CONSUMED, 1);
                za__dead_letter(s, m, ZA_DL_DROPPED);
                return ZA_EDROPPED;
            case ZA_FULL_DROP_OLDEST:
                atomic_fetch_add_explicit(&a->to_drop, 1, memory_order_relaxed);
                break;
            case ZA_FULL_BLOCK:
                atomic_fetch_sub_explicit(&a->depth, 1, memory_order_relaxed);
                if (reserve_blocking(s, a, to, cap) != ZA_OK) return ZA_EFULL;
                break;
            default:
                atomic_fetch_sub_explicit(&a->depth, 1, memory_order_relaxed);
                return za__fail(ZA_EFULL, "mailbox of %#llx is full (capacity %u)",
                                (unsigned long long)to, cap);
            }
        }
    }

    uint32_t every = s->cfg.latency_sample;
    if (ZA_UNLIKELY(every == 1 || (++tl_sample & (every - 1)) == 0)) {
        m->enq_ns = za__now_ns();
        m->flags |= ZA_MF_TIMED;
    }
    int lane = ZA_LANE_HIGH + (m->prio > ZA_PRIO_LOW ? ZA_PRIO_NORMAL : m->prio);
    if (batch) {
        za__outbox_add(ow, a, lane, m);
        za__count(s, ZA_C_SENT, 1);
        return ZA_OK;
    }
    za__mbox_push(a, lane, m);
    /* after the push the line is already ours: this second locked op is
     * cheap. relaxed: depth of an unbounded mailbox is only a gauge */
    if (!cap) atomic_fetch_add_explicit(&a->depth, 1, memory_order_relaxed);
    za__count(s, ZA_C_SENT, 1);
    /*
     * The scheduling handshake. Here: exchange the lane's tail (in the push),
     * then load sched. At the end of a turn (za__turn): store sched = IDLE,
     * then load the lanes' tails. Both sides are a store followed by a load
     * of the other side's word, all four seq_cst (the push's exchange is
     * seq_cst for this), so they cannot both read the old value: either we
     * see IDLE and schedule the actor, or the turn sees our message and
     * takes itself back. A weaker order on any of the four would let a
     * message sit in an idle mailbox. (On x86 the exchange is a locked
     * instruction, a full barrier whatever the order; seq_cst costs no
     * extra instruction there or on arm64.)
     *
     * The CAS's acquire pairs with the turn's store of IDLE: the finished
     * turn happens before the schedule that hands the actor on.
     */
    if (atomic_load_explicit(&a->sched, memory_order_seq_cst) == ZA_SCHED_IDLE) {
        uint8_t idle = ZA_SCHED_IDLE;
        if (atomic_compare_exchange_strong_explicit(&a->sched, &idle, ZA_SCHED_QUEUED,
                                                    memory_order_acq_rel, memory_order_relaxed))
            za__schedule(s, a);
    }
    za__after_send(s);
    return ZA_OK;
}

int za__send_sys(za_system *s, za_ref to, za_ref from, int sys, const void *data, size_t len) {
    za_msgnode *m = za__msg_new_bytes(0, data, len);
    if (!m) return za__fail(ZA_ENOMEM, "out of memory");
    m->flags |= ZA_MF_SYSTEM;
    m->sys = (uint8_t)sys;
    m->target = to;
    m->sender = from;
    int rc = za__send_node(s, m, false);
    if (rc != ZA_OK) za__msg_free(m);
    return rc;
}

int za__user_tag(int32_t tag) {
    if (ZA_LIKELY(tag >= 0)) return ZA_OK;
    return za__fail(ZA_EINVAL,
                    "tag %d is reserved: negative tags are the runtime's (ZA_TAG_DOWN...)",
                    (int)tag);
}

static za_ref current_sender(za_system *s) {
    za_ctx *c = za__tl_ctx;
    return (c && c->sys == s) ? c->as : ZA_REF_NONE;
}

static int check_payload(za_system *s, const void *data, size_t len) {
    if (!s) return za__fail(ZA_EINVAL, "system is NULL");
    if (len && !data) return za__fail(ZA_EINVAL, "data is NULL but len is %zu", len);
    if (len > s->cfg.max_payload)
        return za__fail(ZA_ETOOBIG, "payload of %zu bytes exceeds max_payload %u", len,
                        s->cfg.max_payload);
    return ZA_OK;
}

int za_tell_prio(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                 za_prio prio) {
    int rc = check_payload(sys, data, len);
    if (rc) return rc;
    if ((rc = za__user_tag(tag))) return rc;
    if ((unsigned)prio > ZA_PRIO_LOW) return za__fail(ZA_EINVAL, "bad priority %d", (int)prio);
    za_msgnode *m = za__msg_new_bytes(tag, data, len);
    if (!m) return za__fail(ZA_ENOMEM, "out of memory");
    m->prio = (uint8_t)prio;
    m->target = to;
    m->sender = current_sender(sys);
    rc = za__send_node(sys, m, outside_thread(sys));
    if (rc != ZA_OK && rc != ZA_EDROPPED) za__msg_free(m);
    return rc;
}

int za_tell(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len) {
    return za_tell_prio(sys, to, tag, data, len, ZA_PRIO_NORMAL);
}

int za_tell_ptr(za_system *sys, za_ref to, int32_t tag, void *ptr, za_ptr_dtor dtor, za_prio prio) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    if (za__user_tag(tag)) return ZA_EINVAL;
    if ((unsigned)prio > ZA_PRIO_LOW) return za__fail(ZA_EINVAL, "bad priority %d", (int)prio);
    za_msgnode *m = za__msg_new_bytes(tag, NULL, 0);
    if (!m) return za__fail(ZA_ENOMEM, "out of memory");
    m->kind = ZA_PAYLOAD_PTR;
    m->u.p.ptr = ptr;
    m->u.p.dtor = dtor;
    m->prio = (uint8_t)prio;
    m->target = to;
    m->sender = current_sender(sys);
    int rc = za__send_node(sys, m, outside_thread(sys));
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        m->u.p.dtor = NULL; /* the caller keeps ownership on error */
        za__msg_free(m);
    }
    return rc;
}
