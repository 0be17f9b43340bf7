/*
 * The outbox: producer-side batching of the messages a callback sends.
 *
 * Why: a stream of small messages from one actor to another on another core
 * (Savina's counting and fjthrput) paid, per message, an exchange on the
 * mailbox's tail line, a locked add on its depth and a load of its sched
 * word, all on a line the consumer also touches; and the consumer, walking
 * a linked list, waited for one node's line before it could ask for the
 * next. Inside a callback (za__tl_ctx set, on a worker) sends to an
 * unbounded mailbox are linked into a chain here instead, in the sender's
 * own cache, and the chain is pushed with one exchange (za__mpsc_push_chain):
 * the tail, depth and sched lines move once per chain, not per message.
 * While the chain is private each node is told which node comes
 * ZA_OB_AHEAD places later (za_msgnode.ahead), so the consumer prefetches
 * that far ahead (mailbox.h).
 *
 * Which: sends to unbounded mailboxes from a callback on a worker, from the
 * callback's (ZA_OB_DIRECT + 1)-th on; the first ones go straight to their
 * mailbox, so a handler that answers with one message pays nothing extra.
 *
 * When: a chain is published when the callback returns (WITH_CTX in
 * actor.c, and supervise.c's stop), after ZA_OB_MAX messages, when another
 * mailbox needs its place in the table, and before any send that cannot be
 * batched (a system message, an ask, a bounded mailbox: send.c flushes
 * first). So a message waits at most until its sender's callback returns;
 * one sender's messages to one mailbox keep their order; and a callback
 * that blocks (a blocking ask, a full bounded mailbox) has published
 * everything before it waits. Messages to *different* mailboxes may be
 * published in another order than they were sent (the chains are flushed
 * by table position): the actor model promises order per sender-receiver
 * pair only (Erlang and Akka promise the same), and fjthrput's fan-out to
 * 60 workers is what the table is for.
 *
 * Memory orders: the links inside the chain are relaxed stores of the
 * owner, published by the chain push's release store (mpsc.h). The push's
 * seq_cst exchange, then the seq_cst load of sched below, is the sender's
 * half of the scheduling handshake described in send.c, unchanged.
 */
#include "outbox.h"
#include "mailbox.h"
#include "scheduler.h"
#include "system.h"

/* Publish one chain. */
static void publish(za_worker *w, za_ob_chain *ch) {
    uint32_t n = ch->n;
    za_actor *a = ch->a;
    ch->n = 0;
    za__mpsc_push_chain(&a->tail[ch->lane], &ch->first->link, &ch->last->link);
    /* relaxed: depth of an unbounded mailbox is only a gauge (send.c) */
    atomic_fetch_add_explicit(&a->depth, (int64_t)n, memory_order_relaxed);
    /* seq_cst, then the CAS's acq_rel: as in za__send_node */
    if (atomic_load_explicit(&a->sched, memory_order_seq_cst) == ZA_SCHED_IDLE) {
        uint8_t idle = ZA_SCHED_IDLE;
        if (atomic_compare_exchange_strong_explicit(&a->sched, &idle, ZA_SCHED_QUEUED,
                                                    memory_order_acq_rel, memory_order_relaxed))
            za__schedule(w->sys, a);
    }
    /* za__after_send for the n messages of the chain */
    if (w->run_next && (w->turn_sends += n) > ZA_RUN_NEXT_SENDS) za__release_run_next(w);
}

void za__outbox_flush(za_worker *w) {
    za_outbox *o = &w->outbox;
    while (o->used) {
        unsigned i = (unsigned)__builtin_ctzll(o->used);
        o->used &= o->used - 1;
        publish(w, &o->chain[i]);
    }
}

void za__outbox_add(za_worker *w, za_actor *a, int lane, za_msgnode *m) {
    za_outbox *o = &w->outbox;
    unsigned i = a->slot & (ZA_OB_TARGETS - 1);
    uint64_t bit = 1ull << i;
    za_ob_chain *ch = &o->chain[i];
    if (ch->n && (ch->a != a || ch->lane != lane)) { /* another mailbox maps here */
        publish(w, ch);
        o->used &= ~bit;
    }
    if (!ch->n) {
        ch->a = a;
        ch->lane = (uint8_t)lane;
        ch->first = ch->lag = m;
        o->used |= bit;
    } else {
        /* relaxed: private until the chain push's release store */
        atomic_store_explicit(&ch->last->link.next, &m->link, memory_order_relaxed);
    }
    if (ch->n >= ZA_OB_AHEAD) { /* the node ZA_OB_AHEAD places back points at m */
        ch->lag->ahead = m;
        ch->lag = (za_msgnode *)atomic_load_explicit(&ch->lag->link.next, memory_order_relaxed);
    }
    ch->last = m;
    if (++ch->n == ZA_OB_MAX) {
        publish(w, ch);
        o->used &= ~bit;
    }
}
