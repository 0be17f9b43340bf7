/*
 * stats.h - counters and latency histograms. Each worker and each outside
 * thread writes a block of its own (no atomic read-modify-write on the hot
 * path); metrics.c merges them on read. The counting call itself,
 * za__count, is in system.h: it picks the block from the system's workers.
 */
#ifndef ZA_STATS_H
#define ZA_STATS_H

#include <pthread.h>

#include "common.h"

enum {
    ZA_C_SENT,
    ZA_C_DELIVERED,
    ZA_C_DEAD,
    ZA_C_RESTARTS,
    ZA_C_FAILURES,
    ZA_C_SPAWNED,
    ZA_C_STOPPED,
    ZA_C_TIMERS,
    ZA_C_CONSUMED,   /* user messages that left a mailbox (or were dropped at send) */
    ZA_C_SLOTS_NEW,  /* reply slots made (asks, spawn_sync waits) */
    ZA_C_SLOTS_DONE, /* reply slots that stopped waiting (answered, timed out, cancelled) */
    ZA_NCOUNTERS
};

/* Log-linear latency histogram, single writer, readable from any thread. */
#define ZA_HBUCKETS 496
typedef struct za_hist {
    _Atomic uint64_t b[ZA_HBUCKETS];
    _Atomic uint64_t max;
    _Atomic uint64_t sum; /* of the samples: Prometheus summaries carry _sum */
} za_hist;
void za__hist_add(za_hist *h, uint64_t ns);        /* single writer */
void za__hist_add_atomic(za_hist *h, uint64_t ns); /* any thread */
uint64_t za__hist_bucket_upper(uint32_t idx);      /* upper edge of bucket idx, ns */

typedef struct za_stats {
    _Atomic uint64_t c[ZA_NCOUNTERS];
    za_hist queue_lat;
    za_hist proc_lat;
} za_stats;

/* Counters of one outside thread for one system (sends from main threads). */
typedef struct za_ext_counters {
    _Atomic uint64_t c[ZA_NCOUNTERS];
    struct za_ext_counters *next;
    pthread_t owner;
} za_ext_counters;

extern _Thread_local uint64_t za__tl_ext_uid; /* system uid za__tl_ext belongs to */
extern _Thread_local za_ext_counters *za__tl_ext;
za_ext_counters *za__ext_counters(za_system *s); /* this thread's block (NULL on OOM) */
void za__ext_counters_free(za_system *s);
void za__stats_merge(za_system *s, uint64_t c[ZA_NCOUNTERS], za_hist *q, za_hist *p);

/* A single-writer add: relaxed, readers only need an eventually exact sum. */
static inline void za__bump(_Atomic uint64_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

#endif
