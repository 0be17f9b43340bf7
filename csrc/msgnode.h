/*
 * msgnode.h - the message node: one fixed-size allocation per message
 * (small payloads inline), linked straight into a mailbox lane. Nodes are
 * recycled by msgpool.c.
 */
#ifndef ZA_MSGNODE_H
#define ZA_MSGNODE_H

#include "mpsc.h"

/* Payloads up to this size live inside the node (no second allocation). */
#define ZA_INLINE 48

enum {
    ZA_MF_SYSTEM = 1, /* runtime message in the system lane */
    ZA_MF_HEAP = 2,   /* payload in u.heap (malloc'd) */
    ZA_MF_REPLY = 4,  /* a reply delivered to an asking actor */
    ZA_MF_TRACED = 8, /* carries a za_trace after the payload (trace.c) */
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

typedef struct za_msgnode {
    za_link link; /* first: a node is its own queue link */
    za_ref target;
    za_ref sender;
    int32_t tag;
    uint8_t prio;
    uint8_t kind;
    uint8_t flags;
    uint8_t sys;
    int16_t status;
    uint16_t _pad;
    uint32_t len;
    uint64_t enq_ns; /* 0 unless this message is sampled for latency */
    uint64_t corr;
    za_reply_slot *reply;
    union {
        struct {
            void *ptr;
            za_ptr_dtor dtor;
        } p;
        uint8_t *heap;
    } u;
    uint8_t inl[ZA_INLINE];
} za_msgnode;
_Static_assert(offsetof(za_msgnode, link) == 0, "a node is cast to and from its link");

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
