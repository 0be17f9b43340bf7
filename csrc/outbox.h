/*
 * outbox.h - a worker's outbox: the messages a running callback sends,
 * linked into one chain per target mailbox in the worker's own cache and
 * published with one exchange per chain (outbox.c says why and when).
 */
#ifndef ZA_OUTBOX_H
#define ZA_OUTBOX_H

#include "actor.h"

/* Messages per chain: bounds how long the first one waits while its sender
 * keeps sending to the same mailbox. */
#define ZA_OB_MAX 32u
/* Prefetch distance: each node of a chain names the node this many places
 * further on (za_msgnode.ahead), so the consumer has that many lines in
 * flight instead of one. */
#define ZA_OB_AHEAD 8u
/* The first sends of a callback go straight to their mailbox: a handler
 * that answers with one message (ping-pong, rings, skynet) would only pay
 * for the chain. Batching starts with send number ZA_OB_DIRECT + 1. */
#define ZA_OB_DIRECT 4u
/* Chains kept at once (a power of 2, at most 64: a bit each in `used`),
 * direct-mapped by slot number: a fan-out to this many actors batches too. */
#define ZA_OB_TARGETS 64u

typedef struct za_ob_chain {
    za_actor *a; /* the target mailbox */
    za_msgnode *first, *last;
    za_msgnode *lag; /* the node ZA_OB_AHEAD places behind the next one */
    uint32_t n;      /* 0: unused */
    uint8_t lane;
} za_ob_chain;

typedef struct za_outbox {
    uint64_t used;     /* bit i: chain[i] holds messages */
    uint32_t cb_sends; /* batchable sends of the running callback (up to ZA_OB_DIRECT + 1) */
    za_ob_chain chain[ZA_OB_TARGETS];
} za_outbox;

/* Publish every chain (callers test w->outbox.used first). */
void za__outbox_flush(za_worker *w);
/* Queue m for a's lane. */
void za__outbox_add(za_worker *w, za_actor *a, int lane, za_msgnode *m);

#endif
