/*
 * Dead letters: messages to dead actors, dropped by a full mailbox, failed
 * in receive or left at shutdown. Each is counted, its asker (if any) gets
 * an error answer, and the user's hook sees it before it is freed.
 */
#include <stdio.h>

#include "ask.h"
#include "deadletter.h"
#include "introspect.h"
#include "system.h"

void za_set_dead_letter_hook(za_system *sys, za_dead_letter_fn fn, void *ud) {
    if (!sys) return;
    /* release, fn last: pairs with za__dead_letter's acquire load of dl_fn,
     * so a reader that sees the new fn sees its ud too */
    atomic_store_explicit(&sys->dl_fn, NULL, memory_order_release);
    atomic_store_explicit(&sys->dl_ud, ud, memory_order_release);
    atomic_store_explicit(&sys->dl_fn, fn, memory_order_release);
}

void za__dead_letter(za_system *s, za_msgnode *m, za_dl_reason why) {
    if (!(m->flags & ZA_MF_SYSTEM)) za__count(s, ZA_C_DEAD, 1);
    if (m->reply) {
        za_reply_slot *r = m->reply;
        m->reply = NULL;
        int st = why == ZA_DL_DROPPED    ? ZA_EDROPPED
                 : why == ZA_DL_SHUTDOWN ? ZA_ESHUTDOWN
                                         : ZA_EDEAD;
        /* an ask queued behind a START that failed: the asker learns why */
        char dead[ZA_STARTFAIL_TEXT + 64];
        if (st != ZA_EDEAD || !za__startfail_text(s, m->target, dead, sizeof dead))
            snprintf(dead, sizeof dead, "actor is dead");
        za__reply_complete(s, r, st, 0, NULL, 0, NULL, NULL,
                           why == ZA_DL_DROPPED    ? "message dropped: mailbox full"
                           : why == ZA_DL_SHUTDOWN ? "system shut down"
                                                   : dead);
        za__reply_release(r);
    }
    if (!(m->flags & ZA_MF_SYSTEM)) za__introspect_dead_letter(s, m, why);
    za_dead_letter_fn fn = atomic_load_explicit(&s->dl_fn, memory_order_acquire);
    if (fn && !(m->flags & ZA_MF_SYSTEM)) {
        za_msg view = {.tag = m->tag,
                       .prio = m->prio,
                       .kind = m->kind,
                       .status = m->status,
                       .len = m->len,
                       .data = za__msg_data(m),
                       .ptr = m->kind == ZA_PAYLOAD_PTR ? m->u.p.ptr : NULL,
                       .sender = m->sender,
                       .corr = (m->flags & ZA_MF_REPLY) ? m->corr : 0};
        za_dead_letter dl = {
            .target = m->target, .sender = m->sender, .tag = m->tag, .reason = why, .msg = &view};
        fn(&dl, atomic_load_explicit(&s->dl_ud, memory_order_acquire));
    }
    za__msg_free(m);
}

int za_dead_letter_report(za_system *sys, za_ref target, const za_msg *msg, za_dl_reason why) {
    if (!sys || !msg) return za__fail(ZA_EINVAL, "system or message is NULL");
    int ptr = msg->kind == ZA_PAYLOAD_PTR;
    za_msgnode *m = za__msg_new_bytes(msg->tag, ptr ? NULL : msg->data, ptr ? 0 : msg->len);
    if (!m) return za__fail(ZA_ENOMEM, "out of memory");
    if (ptr) { /* described, never destroyed: the caller owns it */
        m->kind = ZA_PAYLOAD_PTR;
        m->u.p.ptr = msg->ptr;
        m->u.p.dtor = NULL;
    }
    m->target = target;
    m->sender = msg->sender;
    m->prio = msg->prio;
    m->status = msg->status;
    if (msg->corr) {
        m->flags |= ZA_MF_REPLY;
        m->corr = msg->corr;
    }
    za__dead_letter(sys, m, why);
    return ZA_OK;
}
