/*
 * msgnode.h - the message node: one fixed-size allocation per message
 * (small payloads inline), linked straight into a mailbox lane. Nodes are
 * recycled by msgpool.c.
 */
#ifndef ZA_MSGNODE_H
#define ZA_MSGNODE_H

#include "mpsc.h"

/* Payloads up to this size live inside the node (no second allocation). */
#define ZA_INLINE 40

enum {
    ZA_MF_SYSTEM = 1, /* runtime message in the system lane */
    ZA_MF_HEAP = 2,   /* payload in u.heap (malloc'd) */
    ZA_MF_REPLY = 4,  /* a reply delivered to an asking actor */
    ZA_MF_TRACED = 8, /* carries a za_trace after the payload (trace.c) */
    ZA_MF_TIMED = 16, /* enq_ns is set: this message is sampled for latency */
    /* routed by the grain directory to an activation under its shard lock:
     * pushed at once, never batched in the worker's outbox, so a
     * deactivation marker pushed later under the same lock orders after it.
     * Tested in the same mask as ZA_MF_SYSTEM (send.c): no extra instruction. */
    ZA_MF_DIRECT = 32,
    /* the grain directory's deactivation marker (ZA_TAG_DEACTIVATE): tested
     * in the same mask as ZA_MF_TIMED on delivery (actor.c) */
    ZA_MF_DEACT = 64,
    /* enq_ns is set for a receive span's mailbox wait (spans.c), without
     * sampling the message for the latency histograms (ZA_MF_TIMED) */
    ZA_MF_ENQ = 128,
};

/* System message kinds (sys field). */
enum {
    ZA_SYS_START = 1,
    ZA_SYS_STOP,
    ZA_SYS_RESTART,       /* payload: none; restart this actor now */
    ZA_SYS_CHILD_FAILED,  /* to parent; payload: za_fail_note */
    ZA_SYS_CHILD_STOPPED, /* to parent; the sender is the child */
    ZA_SYS_WATCH,         /* sender wants a DOWN when we die */
    ZA_SYS_UNWATCH,
    ZA_SYS_ESCALATED, /* to self: fail with the payload reason */
};

/*
 * The layout is about cache lines: a message crosses cores, and every line
 * it touches is one more transfer from the sender's core to the receiver's
 * (and back, when the node is recycled). Everything a plain tell writes and
 * a delivery reads sits in the first line, including a payload of up to
 * ZA_LINE1_PAYLOAD bytes (a counter, a double, a ref): such a message moves
 * one line, not two. corr, enq_ns and u are read only when flags/kind say
 * so (ZA_MF_REPLY, ZA_MF_TIMED, ZA_MF_HEAP, ZA_PAYLOAD_PTR), so the second
 * line stays where it is.
 */
typedef struct za_msgnode {
    za_link link; /* first: a node is its own queue link */
    za_ref target;
    za_ref sender;
    int32_t tag;
    uint8_t prio;
    uint8_t kind;
    uint8_t flags;
    uint8_t sys;
    uint32_t len;
    int16_t status;
    uint16_t hops; /* a grain message: nodes it crossed so far (cluster/remote.c) */
    za_reply_slot *reply;
    /* A node further down the same queue, or NULL: set by the sender's
     * outbox (outbox.c) before the batch is published, read by the consumer
     * to prefetch several nodes ahead instead of one (the queue is a linked
     * list: without a hint each pop waits for the previous node's line). */
    struct za_msgnode *ahead;
    uint8_t inl[ZA_INLINE]; /* line 1 holds its first ZA_LINE1_PAYLOAD bytes */
    uint64_t corr;          /* valid only with ZA_MF_REPLY */
    uint64_t enq_ns;        /* valid only with ZA_MF_TIMED or ZA_MF_ENQ */
    union {
        struct {
            void *ptr;
            za_ptr_dtor dtor;
        } p;
        uint8_t *heap;
    } u;
} za_msgnode;
_Static_assert(offsetof(za_msgnode, link) == 0, "a node is cast to and from its link");
#define ZA_LINE1_PAYLOAD (64 - (int)offsetof(za_msgnode, inl))
_Static_assert(ZA_LINE1_PAYLOAD >= 8, "an 8-byte payload fits the node's first line");
_Static_assert(sizeof(za_msgnode) == 128, "a node is two cache lines");

static inline const void *za__msg_data(const za_msgnode *m) {
    if (m->len == 0) return NULL;
    return (m->flags & ZA_MF_HEAP) ? (const void *)m->u.heap : (const void *)m->inl;
}

/* msgpool.c: node allocation with per-thread caches. */
za_msgnode *za__msg_alloc(void);
void za__msg_free(za_msgnode *m); /* releases payload too (runs ptr dtor) */
/* Allocate a node and copy data in (inline or heap). NULL on OOM. */
za_msgnode *za__msg_new_bytes(int32_t tag, const void *data, size_t len);

#endif
