/*
 * mpsc.h - the intrusive Vyukov MPSC queue behind actor mailbox lanes and
 * the scheduler's injection and host queues. Inline: it is on every
 * message's path, on both sides.
 *
 * A push is one exchange plus one store. The single consumer owns *headp.
 * head is published with release stores so another thread can ask "maybe
 * not empty?" (see za__mpsc_maybe_nonempty).
 */
#ifndef ZA_MPSC_H
#define ZA_MPSC_H

#include "common.h"

/* Intrusive link: first member of every queued thing. */
typedef struct za_link {
    _Atomic(struct za_link *) next;
} za_link;

/* An empty queue: head and tail at the stub. Before the queue is shared. */
static inline void za__mpsc_init(_Atomic(za_link *) *tail, za_link **headp, za_link *stub) {
    atomic_store_explicit(&stub->next, NULL, memory_order_relaxed);
    *headp = stub;
    atomic_store_explicit(tail, stub, memory_order_relaxed);
}

static inline void za__mpsc_push(_Atomic(za_link *) *tail, za_link *n) {
    /* relaxed: published by the release store of prev->next below */
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* seq_cst: the exchange is the first half of two store-then-load
     * handshakes (a sender's push, then its load of the actor's sched word,
     * in send.c; and the scheduler's push, then its fence, in scheduler.c). On
     * x86 and arm64 it is the same instruction as acq_rel (xchg / swpal),
     * but only seq_cst puts it in the single order the other side's
     * seq_cst store-then-load of sched / tail is checked against. Acquire:
     * pairs with the previous producer's exchange, so prev is a complete
     * node. */
    za_link *prev = atomic_exchange_explicit(tail, n, memory_order_seq_cst);
    /* release: pairs with the consumer's acquire load of head->next in
     * za__mpsc_pop, which then sees n's contents */
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Push a chain first..last whose internal links the caller wrote (plain
 * relaxed stores, before this call): one exchange for the whole chain. The
 * orders are za__mpsc_push's: the seq_cst exchange is the first half of the
 * send.c / outbox.c scheduling handshake; the release link store pairs with
 * the consumer's acquire load of head->next, which then sees every node of
 * the chain and every link inside it. */
static inline void za__mpsc_push_chain(_Atomic(za_link *) *tail, za_link *first, za_link *last) {
    atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
    za_link *prev = atomic_exchange_explicit(tail, last, memory_order_seq_cst);
    atomic_store_explicit(&prev->next, first, memory_order_release);
}

/* Pop one node, or NULL. *busy is set when a producer is between its
 * exchange and its link (the queue is not empty: try again later). An empty
 * queue whose head is the stub returns NULL without reading the tail, which
 * keeps the producers' cache line out of the consumer's per-message path;
 * callers re-check emptiness with the tail before going idle. */
static inline za_link *za__mpsc_pop(_Atomic(za_link *) *tail, za_link **headp, za_link *stub,
                                    bool *busy) {
    za_link *head = *headp;
    /* acquire loads of next: pair with za__mpsc_push's release link store */
    za_link *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == stub) {
        if (!next) return NULL;
        /* release head stores: pair with za__mpsc_maybe_nonempty's acquire */
        __atomic_store_n(headp, next, __ATOMIC_RELEASE);
        head = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        __atomic_store_n(headp, next, __ATOMIC_RELEASE);
        return head;
    }
    /* acquire: pairs with the producers' exchange (a newer tail is a node
     * whose link store is on its way) */
    if (atomic_load_explicit(tail, memory_order_acquire) != head) {
        *busy = true;
        return NULL;
    }
    /* head is the last node: put the stub behind it so head can be handed out */
    za__mpsc_push(tail, stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        __atomic_store_n(headp, next, __ATOMIC_RELEASE);
        return head;
    }
    *busy = true;
    return NULL;
}

/* From any thread: not empty if the tail moved off the stub, or the head is
 * not the stub. The tail alone is not enough: a pop that re-pushes the stub
 * while a producer is between its exchange and its link leaves
 * [node, stub] with tail == stub. The seq_cst tail load is the second half
 * of the store-then-load handshakes whose first half is a seq_cst fence or
 * RMW (scheduler.c: notify, serve_host, park); the head load pairs with the
 * consumer's release head stores. */
static inline bool za__mpsc_maybe_nonempty(_Atomic(za_link *) *tail, za_link *const *headp,
                                           za_link *stub) {
    return atomic_load_explicit(tail, memory_order_seq_cst) != stub ||
           __atomic_load_n(headp, __ATOMIC_ACQUIRE) != stub;
}

#endif
