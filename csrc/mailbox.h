/*
 * mailbox.h - an actor's mailbox: four MPSC lanes (system, high, normal,
 * low) in the slot. Producers are any senders; the single consumer is
 * whichever worker owns the actor's turn (the sched word is QUEUED).
 */
#ifndef ZA_MAILBOX_H
#define ZA_MAILBOX_H

#include "actor.h"

/* Empty lanes, idle sched word: a fresh slot (before it is shared). */
static inline void za__mbox_init(za_actor *a) {
    for (int i = 0; i < ZA_NLANES; i++) za__mpsc_init(&a->tail[i], &a->head[i], &a->stub[i]);
    atomic_store_explicit(&a->depth, 0, memory_order_relaxed);
    atomic_store_explicit(&a->to_drop, 0, memory_order_relaxed);
    atomic_store_explicit(&a->sched, ZA_SCHED_IDLE, memory_order_relaxed);
}

static inline void za__mbox_push(za_actor *a, int lane, za_msgnode *m) {
    za__mpsc_push(&a->tail[lane], &m->link);
}

static inline za_msgnode *za__mbox_pop(za_actor *a, int lane, bool *busy) {
    za_msgnode *m =
        (za_msgnode *)za__mpsc_pop(&a->tail[lane], &a->head[lane], &a->stub[lane], busy);
    /* The queue is a linked list: the next pop reads the new head's link
     * word, a line the producer wrote (78% of a counting consumer's time was
     * that one dependent load). Start the transfers early: the new head now,
     * and the node the sender's outbox marked a few places further on
     * (m->ahead, outbox.c), so several lines are in flight at once. */
    if (m) {
        __builtin_prefetch(a->head[lane]);
        if (m->ahead) __builtin_prefetch(m->ahead);
    }
    return m;
}

/* Consumer side only (the caller owns the actor's turn). The seq_cst tail
 * load is the turn's end-of-turn handshake load; see za__turn. */
static inline bool za__mbox_lane_empty(za_actor *a, int lane) {
    za_link *stub = &a->stub[lane];
    return a->head[lane] == stub &&
           atomic_load_explicit(&a->tail[lane], memory_order_seq_cst) == stub;
}

#endif
