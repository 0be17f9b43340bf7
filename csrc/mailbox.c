/*
 * Mailbox lanes: intrusive Vyukov MPSC queues, one per lane (system, high,
 * normal, low). A push is one exchange plus one store; the single consumer
 * is whichever worker currently owns the actor (see the sched word).
 */
#include "internal.h"

void za__mbox_init(za_actor *a) {
    for (int i = 0; i < ZA_NLANES; i++) {
        atomic_store_explicit(&a->stub[i].next, NULL, memory_order_relaxed);
        a->head[i] = &a->stub[i];
        atomic_store_explicit(&a->tail[i], &a->stub[i], memory_order_relaxed);
    }
    atomic_store_explicit(&a->depth, 0, memory_order_relaxed);
    atomic_store_explicit(&a->to_drop, 0, memory_order_relaxed);
    atomic_store_explicit(&a->sched, ZA_SCHED_IDLE, memory_order_relaxed);
}

static inline void push_link(za_actor *a, int lane, za_link *n) {
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    za_link *prev = atomic_exchange_explicit(&a->tail[lane], n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

void za__mbox_push(za_actor *a, int lane, za_msgnode *m) { push_link(a, lane, &m->link); }

za_msgnode *za__mbox_pop(za_actor *a, int lane, bool *busy) {
    za_link *stub = &a->stub[lane];
    za_link *head = a->head[lane];
    za_link *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == stub) {
        /* Empty (or a push in progress, which the end-of-turn check catches).
         * Not reading the producers' tail here keeps their cache line out of
         * the consumer's per-message path. */
        if (!next) return NULL;
        a->head[lane] = next;
        head = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        a->head[lane] = next;
        return (za_msgnode *)head;
    }
    za_link *tail = atomic_load_explicit(&a->tail[lane], memory_order_acquire);
    if (tail != head) {
        *busy = true;
        return NULL;
    }
    /* head is the last node: put the stub behind it so head can be handed out */
    push_link(a, lane, stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        a->head[lane] = next;
        return (za_msgnode *)head;
    }
    *busy = true;
    return NULL;
}

bool za__mbox_lane_empty(za_actor *a, int lane) {
    za_link *stub = &a->stub[lane];
    return a->head[lane] == stub &&
           atomic_load_explicit(&a->tail[lane], memory_order_seq_cst) == stub;
}
