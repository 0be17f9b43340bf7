/*
 * system.h - the system object: configuration, workers, the shared
 * scheduler state, top-level actors and the per-system subsystems
 * (slot table, timers, registry), plus counting into the right block.
 */
#ifndef ZA_SYSTEM_H
#define ZA_SYSTEM_H

#include <pthread.h>

#include "mpsc.h"
#include "refseq.h"
#include "slots.h"
#include "scheduler.h"
#include "stats.h"
#include "startfail.h"

enum { ZA_PHASE_RUNNING = 0, ZA_PHASE_DRAINING, ZA_PHASE_STOPPING, ZA_PHASE_STOPPED };

struct za_timers;
struct za_registry;

struct za_system {
    za_config cfg;
    int nworkers;
    bool manual;
    za_worker *workers;

    za_slots slots; /* slots.c */

    /* injection queue: lock-free producers, consumers take a try-lock */
    _Atomic(za_link *) inj_tail __attribute__((aligned(ZA_CACHELINE)));
    za_link *inj_head;
    za_link inj_stub;
    atomic_flag inj_lock;

    /* idle workers */
    pthread_mutex_t idle_mu __attribute__((aligned(ZA_CACHELINE)));
    int *idle_stack;
    int nidle;
    _Atomic int nsleeping;
    _Atomic int nsearching;
    /* (whether a worker is inside a turn: za_worker.running) */

    za_hostq hostqs[ZA_MAX_HOSTS];
    _Atomic int nhosts;
    pthread_mutex_t host_mu;

    _Atomic int phase;
    _Atomic bool quit;

    /* top-level actors, for shutdown */
    pthread_mutex_t root_mu;
    za_refseq roots;

    za_stats ext_stats; /* from non-worker threads without a block (atomic adds) */
    /* per outside-thread counter blocks: single writer, merged on read */
    pthread_mutex_t ext_mu;
    struct za_ext_counters *ext_blocks;
    uint64_t uid;
    _Atomic int64_t alive;

    _Atomic(za_dead_letter_fn) dl_fn;
    _Atomic(void *) dl_ud;

    /* deaths: za_join waiters */
    pthread_mutex_t life_mu;
    pthread_cond_t life_cv;
    _Atomic int life_waiters;

    struct za_timers *timers;
    struct za_registry *registry;
    pthread_mutex_t corr_mu;
    _Atomic uint64_t next_corr;

    za_startfails startfails; /* why recent actors died at start (startfail.c) */

    struct za_introspect *intro; /* introspect.c: the dead-letter ring */
    struct za_http *http;        /* http/server.c: the endpoint, or NULL */

    /* cluster (csrc/cluster/): this node's id in every local reference (0
     * outside a cluster), and the cluster a reference to another node goes
     * through (NULL: such a reference is dead). Set at creation, before any
     * actor exists, and never changed: plain reads. */
    uint32_t node_id;
    struct za_cluster *cluster;

    /* grains (csrc/grain/): the directory and the system's store */
    struct za_grains *grains;
};

/* Count n events: into this worker's block, else this outside thread's,
 * else (no memory for a block) the shared one with an atomic add. */
static inline void za__count(za_system *s, int idx, uint64_t n) {
    za_worker *w = za__tl_worker;
    if (ZA_LIKELY(w && w->sys == s)) {
        za__bump(&w->stats.c[idx], n);
        return;
    }
    za_ext_counters *e = za__tl_ext_uid == s->uid ? za__tl_ext : za__ext_counters(s);
    if (e)
        za__bump(&e->c[idx], n);
    else
        atomic_fetch_add_explicit(&s->ext_stats.c[idx], n, memory_order_relaxed);
}

#endif
