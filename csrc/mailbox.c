/*
 * Mailbox lanes: intrusive Vyukov MPSC queues (mailbox.h), one per lane
 * (system, high, normal, low). The single consumer is whichever worker
 * currently owns the actor (see the sched word).
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
