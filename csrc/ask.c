/*
 * Ask: a one-shot, reference-counted reply slot. Whoever moves it from
 * PENDING first wins: the replier (DONE) or the timeout / cancel
 * (ABANDONED). A reply that loses becomes a dead letter, so nothing is
 * ever written into memory the asker has given up.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ask.h"
#include "chain.h"
#include "deadletter.h"
#include "msgnode.h"
#include "send.h"
#include "system.h"
#include "timer.h"

enum { RS_PENDING = 0, RS_DONE = 1, RS_ABANDONED = 2 };

/*
 * The reply_slots gauge of za_metrics (asks awaiting an answer) is two
 * counters of the per-thread stats blocks: one bumped where a slot is made,
 * one where it leaves PENDING (answered, timed out, cancelled, abandoned),
 * so the ask path touches no shared atomic. Every move out of PENDING goes
 * through settle(): exactly one caller wins it, so a slot counts once.
 */
static int settle(za_reply_slot *r, int to);

struct za_reply_slot {
    _Atomic int state;
    _Atomic int refs;
    int mode;
    za_system *sys;
    /* WAIT */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic bool ready;
    za_answer ans;
    /* CALLBACK */
    za_answer_cb cb;
    void *ud;
    _Atomic za_timer_id timer;
    /* ACTOR */
    za_ref asker;
    uint64_t corr;
    uint64_t chain; /* call chain of the asker's handler (chain.c), 0: none */
    /* answered from another node (cluster): a blocking wait sleeps at once,
     * its spin would only take the CPU from the threads that bring the
     * answer (a network round trip is far longer than the spin) */
    _Atomic bool far;
};

void za__reply_mark_far(za_reply_slot *r) {
    atomic_store_explicit(&r->far, true, memory_order_relaxed);
}

za_reply_slot *za__reply_new(za_system *s, int mode) {
    za_reply_slot *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    atomic_init(&r->state, RS_PENDING);
    atomic_init(&r->refs, 2);
    r->mode = mode;
    r->sys = s;
    r->chain = za__chain_cur; /* an ask carries its asker's call chain (chain.c) */
    if (s) za__count(s, ZA_C_SLOTS_NEW, 1);
    if (mode == ZA_RP_WAIT) {
        pthread_mutex_init(&r->mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&r->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    return r;
}

za_reply_slot *za__reply_new_cb(za_system *s, za_answer_cb cb, void *ud) {
    za_reply_slot *r = za__reply_new(s, ZA_RP_CALLBACK);
    if (!r) return NULL;
    r->cb = cb;
    r->ud = ud;
    return r;
}

void za__reply_release(za_reply_slot *r) {
    if (!r) return;
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
    /* (not settled here: the last reference may be dropped after the system
     * is gone, e.g. a binding's future; every path that gives a pending slot
     * up settles it first) */
    if (r->mode == ZA_RP_WAIT) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        za_answer_free(&r->ans);
    }
    free(r);
}

void za_answer_free(za_answer *a) {
    if (!a) return;
    free(a->data);
    free(a->error);
    if (a->ptr && a->dtor) a->dtor(a->ptr);
    memset(a, 0, sizeof *a);
}

static int fill_answer(za_answer *a, int status, int32_t tag, const void *data, size_t len,
                       void *ptr, za_ptr_dtor dtor, const char *errtext) {
    memset(a, 0, sizeof *a);
    a->status = status;
    a->tag = tag;
    if (ptr || dtor) {
        a->kind = ZA_PAYLOAD_PTR;
        a->ptr = ptr;
        a->dtor = dtor;
    }
    if (len) {
        a->data = malloc(len);
        if (!a->data) {
            a->status = ZA_ENOMEM;
        } else {
            memcpy(a->data, data, len);
            a->len = len;
        }
    }
    if (errtext) a->error = strdup(errtext);
    return a->status;
}

static void late_reply(za_system *s, za_reply_slot *r, int32_t tag, const void *data, size_t len,
                       void *ptr, za_ptr_dtor dtor) {
    za_msgnode *m = za__msg_new_bytes(tag, data, len);
    if (!m) {
        if (ptr && dtor) dtor(ptr);
        return;
    }
    if (ptr || dtor) {
        m->kind = ZA_PAYLOAD_PTR;
        m->u.p.ptr = ptr;
        m->u.p.dtor = dtor;
    }
    m->target = r->mode == ZA_RP_ACTOR ? r->asker : ZA_REF_NONE;
    m->sender = za__tl_ctx ? za__tl_ctx->as : ZA_REF_NONE;
    m->flags |= ZA_MF_REPLY;
    m->corr = 0; /* corr is read only with ZA_MF_REPLY (msgnode.h) */
    za__dead_letter(s, m, ZA_DL_LATE_REPLY);
}

static void cancel_timer(za_system *s, za_reply_slot *r) {
    za_timer_id t = atomic_exchange(&r->timer, 0);
    if (t) za_timer_cancel(s, t); /* the timer's reference is dropped by the wheel */
}

static int settle(za_reply_slot *r, int to) {
    int exp = RS_PENDING;
    if (!atomic_compare_exchange_strong(&r->state, &exp, to)) return 0;
    if (r->sys) za__count(r->sys, ZA_C_SLOTS_DONE, 1);
    return 1;
}

int za__reply_complete(za_system *s, za_reply_slot *r, int status, int32_t tag, const void *data,
                       size_t len, void *ptr, za_ptr_dtor dtor, const char *errtext) {
    if (!settle(r, RS_DONE)) {
        if (status == ZA_OK)
            late_reply(s, r, tag, data, len, ptr, dtor);
        else if (ptr && dtor)
            dtor(ptr);
        return ZA_ETIMEDOUT;
    }
    switch (r->mode) {
    case ZA_RP_WAIT:
        pthread_mutex_lock(&r->mu);
        fill_answer(&r->ans, status, tag, data, len, ptr, dtor, errtext);
        atomic_store_explicit(&r->ready, true, memory_order_release);
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        break;
    case ZA_RP_CALLBACK: {
        cancel_timer(s, r);
        za_answer a;
        fill_answer(&a, status, tag, data, len, ptr, dtor, errtext);
        r->cb(&a, r->ud);
        break;
    }
    case ZA_RP_ACTOR: {
        cancel_timer(s, r);
        if (status != ZA_OK && errtext && !len && !ptr) {
            /* an error reply carries its text as the payload */
            data = errtext;
            len = strlen(errtext);
        }
        za_msgnode *m = za__msg_new_bytes(tag, data, len);
        if (!m) {
            if (ptr && dtor) dtor(ptr);
            return ZA_ENOMEM;
        }
        if (ptr || dtor) {
            m->kind = ZA_PAYLOAD_PTR;
            m->u.p.ptr = ptr;
            m->u.p.dtor = dtor;
        }
        m->flags |= ZA_MF_REPLY;
        m->status = (int16_t)status;
        m->corr = r->corr;
        m->target = r->asker;
        m->sender = za__tl_ctx ? za__tl_ctx->as : ZA_REF_NONE;
        int rc = za__send_node(s, m, false);
        if (rc != ZA_OK && rc != ZA_EDROPPED) za__dead_letter(s, m, ZA_DL_LATE_REPLY);
        break;
    }
    }
    return ZA_OK;
}

void za__reply_timeout(za_system *s, za_reply_slot *r) {
    if (!settle(r, RS_ABANDONED)) return;
    atomic_store(&r->timer, 0);
    if (r->mode == ZA_RP_CALLBACK) {
        za_answer a;
        fill_answer(&a, ZA_ETIMEDOUT, 0, NULL, 0, NULL, NULL, "ask timed out");
        r->cb(&a, r->ud);
    } else if (r->mode == ZA_RP_ACTOR) {
        za_msgnode *m = za__msg_new_bytes(ZA_TAG_TIMEOUT, NULL, 0);
        if (!m) return;
        m->flags |= ZA_MF_REPLY;
        m->status = ZA_ETIMEDOUT;
        m->corr = r->corr;
        m->target = r->asker;
        int rc = za__send_node(s, m, false);
        if (rc != ZA_OK && rc != ZA_EDROPPED) za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
    }
}

/* How long a blocking ask polls before it sleeps: a reply from an actor
 * usually comes within a few microseconds, and a futex sleep plus wake-up
 * costs more than that. */
#define ASK_SPIN_NS 20000ull

/* Wait up to timeout_ms. With abandon, a timeout gives the slot up
 * (ZA_ETIMEDOUT); without, it returns ZA_EAGAIN and the ask stays pending. */
static int reply_wait(za_system *s, za_reply_slot *r, uint32_t timeout_ms, za_answer *out,
                      bool abandon) {
    memset(out, 0, sizeof *out);
    uint64_t start = za__now_ns();
    uint64_t deadline = start + (uint64_t)timeout_ms * 1000000ull;
    if (!s->manual && !atomic_load_explicit(&r->far, memory_order_relaxed)) {
        uint64_t spin_end = start + ASK_SPIN_NS < deadline ? start + ASK_SPIN_NS : deadline;
        while (!atomic_load_explicit(&r->ready, memory_order_acquire)) {
            for (int i = 0; i < 16; i++) za__cpu_relax();
            if (za__now_ns() >= spin_end) break;
        }
    }
    pthread_mutex_lock(&r->mu);
    while (!atomic_load_explicit(&r->ready, memory_order_relaxed)) {
        uint64_t now = za__now_ns();
        if (now >= deadline) {
            if (!abandon) {
                pthread_mutex_unlock(&r->mu);
                return ZA_EAGAIN;
            }
            if (settle(r, RS_ABANDONED)) {
                pthread_mutex_unlock(&r->mu);
                out->status = ZA_ETIMEDOUT;
                return ZA_ETIMEDOUT;
            }
            /* the reply won the race and is being written: wait for it */
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        if (s->manual) {
            pthread_mutex_unlock(&r->mu);
            if (za__run_manual(s, 64) == 0) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
            pthread_mutex_lock(&r->mu);
            continue;
        }
        struct timespec ts;
        ts.tv_sec = (time_t)(deadline / 1000000000ull);
        ts.tv_nsec = (long)(deadline % 1000000000ull);
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    *out = r->ans;
    memset(&r->ans, 0, sizeof r->ans);
    pthread_mutex_unlock(&r->mu);
    return ZA_OK;
}

int za__reply_wait(za_system *s, za_reply_slot *r, uint32_t timeout_ms, za_answer *out) {
    return reply_wait(s, r, timeout_ms, out, true);
}

int za__reply_wait_slice(za_system *s, za_reply_slot *r, uint32_t slice_ms, za_answer *out) {
    return reply_wait(s, r, slice_ms, out, false);
}

/* ------------------------------------------------------------- public ask */

static int ask_send(za_system *s, za_ref to, int32_t tag, const void *data, size_t len, void *ptr,
                    za_ptr_dtor dtor, bool is_ptr, za_reply_slot *r) {
    if (za__user_tag(tag)) return ZA_EINVAL;
    if (len > s->cfg.max_payload)
        return za__fail(ZA_ETOOBIG, "payload of %zu bytes exceeds max_payload %u", len,
                        s->cfg.max_payload);
    if (len && !data) return za__fail(ZA_EINVAL, "data is NULL but len is %zu", len);
    za_msgnode *m = za__msg_new_bytes(tag, data, len);
    if (!m) return za__fail(ZA_ENOMEM, "out of memory");
    if (is_ptr) {
        m->kind = ZA_PAYLOAD_PTR;
        m->u.p.ptr = ptr;
        m->u.p.dtor = dtor;
    }
    m->target = to;
    m->sender = (za__tl_ctx && za__tl_ctx->sys == s) ? za__tl_ctx->as : ZA_REF_NONE;
    m->reply = r;
    za_worker *w = za__tl_worker;
    int rc = za__send_node(s, m, !w || w->sys != s);
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        m->reply = NULL; /* the caller still owns the message's reference */
        if (is_ptr) m->u.p.dtor = NULL;
        za__msg_free(m);
    }
    return rc;
}

int za_ask(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
           uint32_t timeout_ms, za_answer *out) {
    if (!sys || !out) return za__fail(ZA_EINVAL, "system or out is NULL");
    memset(out, 0, sizeof *out);
    if (za__tl_ctx && za__tl_ctx->sys == sys)
        return za__fail(ZA_ESTATE, "blocking za_ask inside an actor would stall a worker; "
                                   "use za_ctx_ask");
    za_reply_slot *r = za__reply_new(sys, ZA_RP_WAIT);
    if (!r) return za__fail(ZA_ENOMEM, "out of memory");
    int rc = ask_send(sys, to, tag, data, len, NULL, NULL, false, r);
    if (rc == ZA_EDROPPED) {
        /* the mailbox dropped it; its dead letter already answered the slot */
        za__reply_wait(sys, r, 0, out);
        za__reply_release(r);
        return za__fail(out->status ? out->status : ZA_EDROPPED,
                        "the mailbox was full and dropped the ask");
    }
    if (rc != ZA_OK) {
        settle(r, RS_ABANDONED); /* never sent */
        za__reply_release(r);
        za__reply_release(r);
        out->status = rc;
        return rc;
    }
    rc = za__reply_wait(sys, r, timeout_ms, out);
    za__reply_release(r);
    if (rc == ZA_ETIMEDOUT) return za__fail(ZA_ETIMEDOUT, "no reply within %u ms", timeout_ms);
    if (out->status != ZA_OK)
        za__fail(out->status, "%s", out->error ? out->error : za_strerror(out->status));
    return out->status;
}

struct za_ask_handle {
    za_reply_slot *r;
};

/* ------------------------------------------------------------ sliced ask */

struct za_ask_wait_handle {
    za_reply_slot *r;
    za_system *sys;
};

static int ask_start(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                     void *ptr, za_ptr_dtor dtor, bool is_ptr, za_ask_wait_handle **out) {
    if (!sys || !out) return za__fail(ZA_EINVAL, "system or out is NULL");
    *out = NULL;
    if (za__tl_ctx && za__tl_ctx->sys == sys)
        return za__fail(ZA_ESTATE, "a blocking ask inside an actor would stall a worker; "
                                   "use za_ctx_ask");
    za_ask_wait_handle *h = malloc(sizeof *h);
    za_reply_slot *r = h ? za__reply_new(sys, ZA_RP_WAIT) : NULL;
    if (!r) {
        free(h);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    int rc = ask_send(sys, to, tag, data, len, ptr, dtor, is_ptr, r);
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        settle(r, RS_ABANDONED); /* never sent */
        za__reply_release(r);
        za__reply_release(r);
        free(h);
        return rc;
    }
    /* on ZA_EDROPPED the dead letter already answered: za_ask_wait reports it */
    h->r = r;
    h->sys = sys;
    *out = h;
    return ZA_OK;
}

int za_ask_start(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                 za_ask_wait_handle **out) {
    return ask_start(sys, to, tag, data, len, NULL, NULL, false, out);
}

int za_ask_ptr_start(za_system *sys, za_ref to, int32_t tag, void *ptr, za_ptr_dtor dtor,
                     za_ask_wait_handle **out) {
    return ask_start(sys, to, tag, NULL, 0, ptr, dtor, true, out);
}

int za_ask_wait(za_ask_wait_handle *h, uint32_t slice_ms, za_answer *out) {
    if (!h || !out) return za__fail(ZA_EINVAL, "handle or out is NULL");
    memset(out, 0, sizeof *out);
    int rc = za__reply_wait_slice(h->sys, h->r, slice_ms, out);
    if (rc == ZA_EAGAIN) return ZA_EAGAIN;
    if (out->status != ZA_OK)
        za__fail(out->status, "%s", out->error ? out->error : za_strerror(out->status));
    return out->status;
}

void za_ask_wait_release(za_ask_wait_handle *h) {
    if (!h) return;
    za__reply_release(h->r);
    free(h);
}

void za_ask_abandon(za_ask_wait_handle *h) {
    if (!h) return;
    settle(h->r, RS_ABANDONED);
    za_ask_wait_release(h);
}

static int ask_async(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                     void *ptr, za_ptr_dtor dtor, bool is_ptr, uint32_t timeout_ms, za_answer_cb cb,
                     void *ud, za_ask_handle **handle) {
    if (handle) *handle = NULL;
    if (!sys || !cb) return za__fail(ZA_EINVAL, "system or callback is NULL");
    za_reply_slot *r = za__reply_new(sys, ZA_RP_CALLBACK);
    if (!r) return za__fail(ZA_ENOMEM, "out of memory");
    r->cb = cb;
    r->ud = ud;
    za_ask_handle *h = NULL;
    if (handle) {
        h = malloc(sizeof *h);
        if (!h) {
            free(r);
            return za__fail(ZA_ENOMEM, "out of memory");
        }
        h->r = r;
        atomic_fetch_add(&r->refs, 1);
    }
    if (timeout_ms) {
        za_timer_id t = 0;
        atomic_fetch_add(&r->refs, 1); /* held by the timer */
        if (za__timer_reply(sys, timeout_ms, r, &t) != ZA_OK) {
            atomic_fetch_sub(&r->refs, 1);
        } else {
            atomic_store(&r->timer, t);
        }
    }
    int rc = ask_send(sys, to, tag, data, len, ptr, dtor, is_ptr, r);
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        /* nothing was sent: the callback must not run, so abandon quietly */
        settle(r, RS_ABANDONED);
        cancel_timer(sys, r);
        za__reply_release(r); /* message's reference */
        if (h) {
            za__reply_release(r);
            free(h);
        }
        za__reply_release(r);
        return rc;
    }
    za__reply_release(r); /* the caller's reference: the handle keeps its own */
    if (handle) *handle = h;
    return ZA_OK; /* on ZA_EDROPPED the callback already ran */
}

int za_ask_async(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                 uint32_t timeout_ms, za_answer_cb cb, void *ud, za_ask_handle **handle) {
    return ask_async(sys, to, tag, data, len, NULL, NULL, false, timeout_ms, cb, ud, handle);
}

int za_ask_ptr_async(za_system *sys, za_ref to, int32_t tag, void *ptr, za_ptr_dtor dtor,
                     uint32_t timeout_ms, za_answer_cb cb, void *ud, za_ask_handle **handle) {
    return ask_async(sys, to, tag, NULL, 0, ptr, dtor, true, timeout_ms, cb, ud, handle);
}

int za_ask_cancel(za_ask_handle *h) {
    if (!h) return 0;
    za_reply_slot *r = h->r;
    if (!settle(r, RS_ABANDONED)) return 0;
    cancel_timer(r->sys, r);
    za_answer a;
    fill_answer(&a, ZA_ECANCELLED, 0, NULL, 0, NULL, NULL, "ask cancelled");
    r->cb(&a, r->ud);
    return 1;
}

void za_ask_handle_release(za_ask_handle *h) {
    if (!h) return;
    za__reply_release(h->r);
    free(h);
}

int za_ctx_ask(za_ctx *ctx, za_ref to, int32_t tag, const void *data, size_t len,
               uint32_t timeout_ms, uint64_t *corr_out) {
    return za__ctx_ask_held(ctx, to, tag, data, len, timeout_ms, corr_out, NULL);
}

int za__reply_abandon(za_reply_slot *r) {
    if (!r || !settle(r, RS_ABANDONED)) return 0;
    cancel_timer(r->sys, r);
    return 1;
}

int za__ctx_ask_held(za_ctx *ctx, za_ref to, int32_t tag, const void *data, size_t len,
                     uint32_t timeout_ms, uint64_t *corr_out, za_reply_slot **held) {
    if (held) *held = NULL;
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    za_system *s = ctx->sys;
    za_reply_slot *r = za__reply_new(s, ZA_RP_ACTOR);
    if (!r) return za__fail(ZA_ENOMEM, "out of memory");
    /* a grain activation is asked back through its grain reference */
    r->asker = ctx->as;
    r->corr = atomic_fetch_add(&s->next_corr, 1) + 1;
    if (corr_out) *corr_out = r->corr;
    if (timeout_ms) {
        za_timer_id t = 0;
        atomic_fetch_add(&r->refs, 1);
        if (za__timer_reply(s, timeout_ms, r, &t) != ZA_OK)
            atomic_fetch_sub(&r->refs, 1);
        else
            atomic_store(&r->timer, t);
    }
    int rc = ask_send(s, to, tag, data, len, NULL, NULL, false, r);
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        settle(r, RS_ABANDONED);
        cancel_timer(s, r);
        za__reply_release(r);
        za__reply_release(r);
        return rc;
    }
    if (held)
        *held = r; /* the caller's reference goes to the asker */
    else
        za__reply_release(r);
    return ZA_OK;
}

/* ------------------------------------------------------------ replying */

int za_reply(za_ctx *ctx, int32_t tag, const void *data, size_t len) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    if (!ctx->reply) return za__fail(ZA_ESTATE, "this message has no pending reply");
    if (len && !data) return za__fail(ZA_EINVAL, "data is NULL but len is %zu", len);
    /* refused before the slot is taken: the turn still answers it */
    if (za__user_tag(tag)) return ZA_EINVAL;
    za_reply_slot *r = ctx->reply;
    ctx->reply = NULL;
    za__reply_complete(ctx->sys, r, ZA_OK, tag, data, len, NULL, NULL, NULL);
    za__reply_release(r);
    return ZA_OK;
}

int za_reply_ptr(za_ctx *ctx, int32_t tag, void *ptr, za_ptr_dtor dtor) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    if (!ctx->reply) return za__fail(ZA_ESTATE, "this message has no pending reply");
    if (za__user_tag(tag)) return ZA_EINVAL;
    za_reply_slot *r = ctx->reply;
    ctx->reply = NULL;
    za__reply_complete(ctx->sys, r, ZA_OK, tag, NULL, 0, ptr, dtor, NULL);
    za__reply_release(r);
    return ZA_OK;
}

uint64_t za_ctx_chain(const za_ctx *ctx) {
    return ctx && ctx->reply ? ctx->reply->chain : 0;
}

uint64_t za_reply_chain(const za_reply_slot *r) {
    return r ? r->chain : 0;
}

za_reply_slot *za_ctx_take_reply(za_ctx *ctx) {
    if (!ctx) return NULL;
    za_reply_slot *r = ctx->reply;
    ctx->reply = NULL;
    return r;
}

/* A taken slot answered with a reserved tag: it is still consumed (the
 * caller is done with it), the asker gets an error rather than waiting
 * forever, and the caller ZA_EINVAL (keeping a PTR payload). */
static int refuse_reply_tag(za_system *sys, za_reply_slot *r, int32_t tag) {
    char why[128];
    za__user_tag(tag);
    snprintf(why, sizeof why, "%s", za_last_error());
    za__reply_complete(sys, r, ZA_EFAILED, 0, NULL, 0, NULL, NULL, why);
    za__reply_release(r);
    return za__fail(ZA_EINVAL, "%s", why);
}

int za_reply_send(za_system *sys, za_reply_slot *r, int32_t tag, const void *data, size_t len) {
    if (!sys || !r) return za__fail(ZA_EINVAL, "system or reply is NULL");
    if (tag < 0) return refuse_reply_tag(sys, r, tag);
    za__reply_complete(sys, r, ZA_OK, tag, data, len, NULL, NULL, NULL);
    za__reply_release(r);
    return ZA_OK;
}

int za_reply_send_ptr(za_system *sys, za_reply_slot *r, int32_t tag, void *ptr, za_ptr_dtor dtor) {
    if (!sys || !r) return za__fail(ZA_EINVAL, "system or reply is NULL");
    if (tag < 0) return refuse_reply_tag(sys, r, tag);
    za__reply_complete(sys, r, ZA_OK, tag, NULL, 0, ptr, dtor, NULL);
    za__reply_release(r);
    return ZA_OK;
}

int za_reply_error(za_system *sys, za_reply_slot *r, int status, const char *text) {
    if (!sys || !r) return za__fail(ZA_EINVAL, "system or reply is NULL");
    za__reply_complete(sys, r, status ? status : ZA_EFAILED, 0, NULL, 0, NULL, NULL, text);
    za__reply_release(r);
    return ZA_OK;
}
