/*
 * scheduler.h - the scheduler's workers and exclusive-host queues, and what
 * the rest of the runtime asks of the scheduler (make an actor runnable,
 * start and stop the pool, run a manual system).
 */
#ifndef ZA_SCHEDULER_H
#define ZA_SCHEDULER_H

#include <pthread.h>

#include "actor.h"
#include "outbox.h"
#include "slots.h"
#include "stats.h"

#define ZA_RQ_CAP 4096u

struct za_worker {
    struct za_system *sys;
    int id;
    pthread_t thread;
    /* local FIFO run queue: owner pushes at tail; owner and thieves CAS head */
    _Atomic uint64_t rq_head __attribute__((aligned(ZA_CACHELINE)));
    _Atomic uint64_t rq_tail;
    _Atomic(za_actor *) rq_buf[ZA_RQ_CAP];
    za_actor *run_next;
    uint32_t turn_sends; /* sends of the running turn while run_next was set */
    _Atomic uint32_t wake __attribute__((aligned(ZA_CACHELINE)));
    _Atomic bool running; /* inside an actor turn (single writer: this worker) */
    bool in_idle;
    const za_host *cur_host;
    uint64_t rng;
    uint32_t tick;
    za_slot_cache slots;
    za_stats stats;
    za_outbox outbox; /* messages the running callback sent, not yet published (outbox.c) */
};

extern _Thread_local za_worker *za__tl_worker;

/* Hosts with exclusive=1 get a queue of their own, served by one worker at a time. */
#define ZA_MAX_HOSTS 8
typedef struct za_hostq {
    const za_host *host;
    _Atomic(za_link *) tail;
    za_link *head;
    za_link stub;
    /* held by the one worker serving this host. Its own line: idle workers
     * read it, and must not pull the producers' and consumer's line away. */
    _Atomic bool token __attribute__((aligned(ZA_CACHELINE)));
    /* host->takeover_us: the start (coarse clock, ns, | 1) of the holder's
     * current turn, 0 between turns. A worker takes the queue over from a
     * turn older than takeover_us by swapping it to 0 (CAS); the holder
     * ends its turn with CAS(start -> 0), and failing that knows it was
     * taken over: one consumer of the queue at a time either way. Its own
     * line: the holder writes it per turn. */
    _Atomic uint64_t turn __attribute__((aligned(ZA_CACHELINE)));
    _Atomic uint64_t last_hold; /* when a worker last took the token (coarse ns) */
    _Atomic int watching;       /* idle workers in a timed park for this host */
} za_hostq;

/* Index+1 of the host's queue (registering it), 0 for none, -1 if full. */
int za__host_index(za_system *s, const za_host *h);
/* Put an actor whose sched word the caller just moved to QUEUED on a run queue. */
void za__schedule(za_system *s, za_actor *a);
void za__release_run_next(za_worker *w);
/* The running callback is about to block its worker for a while (a Lua
 * stop handler waiting for an answer, stopwait.c): what it sent goes out,
 * and the actors queued here (run_next too, which no thief takes) are
 * offered to the other workers, which are woken. Otherwise the answer it
 * waits for could sit behind it on its own worker. */
void za__sched_before_block(void);
int za__sched_start(za_system *s);
void za__sched_stop(za_system *s);
bool za__sched_idle(za_system *s);
int za__run_manual(za_system *s, uint32_t max_turns);

/* A turn that sends a lot (a producer's loop) would keep its receiver in
 * run_next, which no other worker can take, until the turn ends: the
 * receiver's backlog grew while a core idled (found by bench/savina's
 * counting). After this many sends in one turn the receiver goes to the
 * stealable queue; ping-pong and rings (one send per turn) are unaffected. */
#define ZA_RUN_NEXT_SENDS 64
static inline void za__after_send(za_system *s) {
    za_worker *w = za__tl_worker;
    if (w && w->run_next && ++w->turn_sends > ZA_RUN_NEXT_SENDS && w->sys == s)
        za__release_run_next(w);
}

#endif
