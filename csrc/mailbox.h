/*
 * mailbox.h - the intrusive Vyukov MPSC queue used for actor mailbox lanes
 * and for the scheduler's injection and host queues. Inline: it is on every
 * message's path, on both sides.
 *
 * A push is one exchange plus one store. The single consumer owns *headp.
 * head is published with release stores so another thread can ask "maybe
 * not empty?" (see za__mpsc_maybe_nonempty).
 */
#ifndef ZA_MAILBOX_H
#define ZA_MAILBOX_H

static inline void za__mpsc_push(_Atomic(za_link *) *tail, za_link *n) {
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    za_link *prev = atomic_exchange_explicit(tail, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Pop one node, or NULL. *busy is set when a producer is between its
 * exchange and its link (the queue is not empty: try again later). An empty
 * queue whose head is the stub returns NULL without reading the tail, which
 * keeps the producers' cache line out of the consumer's per-message path;
 * callers re-check emptiness with the tail before going idle. */
static inline za_link *za__mpsc_pop(_Atomic(za_link *) *tail, za_link **headp, za_link *stub,
                                    bool *busy) {
    za_link *head = *headp;
    za_link *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == stub) {
        if (!next) return NULL;
        __atomic_store_n(headp, next, __ATOMIC_RELEASE);
        head = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        __atomic_store_n(headp, next, __ATOMIC_RELEASE);
        return head;
    }
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
 * [node, stub] with tail == stub. */
static inline bool za__mpsc_maybe_nonempty(_Atomic(za_link *) *tail, za_link *const *headp,
                                           za_link *stub) {
    return atomic_load_explicit(tail, memory_order_seq_cst) != stub ||
           __atomic_load_n(headp, __ATOMIC_ACQUIRE) != stub;
}

static inline void za__mbox_push(za_actor *a, int lane, za_msgnode *m) {
    za__mpsc_push(&a->tail[lane], &m->link);
}

static inline za_msgnode *za__mbox_pop(za_actor *a, int lane, bool *busy) {
    return (za_msgnode *)za__mpsc_pop(&a->tail[lane], &a->head[lane], &a->stub[lane], busy);
}

/* Consumer side only (the caller owns the actor's turn). */
static inline bool za__mbox_lane_empty(za_actor *a, int lane) {
    za_link *stub = &a->stub[lane];
    return a->head[lane] == stub &&
           atomic_load_explicit(&a->tail[lane], memory_order_seq_cst) == stub;
}

#endif
