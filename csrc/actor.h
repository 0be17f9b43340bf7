/*
 * actor.h - the actor slot and the turn that runs it.
 *
 * A slot holds one actor's mailbox (which outlives incarnations) and its
 * current incarnation. Slots live in the slot table (slots.c). The context
 * handed to behaviour callbacks (za_ctx) is defined here too: it is the
 * turn's view of the slot.
 */
#ifndef ZA_ACTOR_H
#define ZA_ACTOR_H

#include "msgnode.h"
#include "refseq.h"

typedef struct za_worker za_worker; /* scheduler.h */

enum { ZA_LANE_SYS = 0, ZA_LANE_HIGH = 1, ZA_LANE_NORMAL = 2, ZA_LANE_LOW = 3, ZA_NLANES = 4 };

/* life word: generation << 8 | state */
enum { ZA_ST_FREE = 0, ZA_ST_ALIVE = 1, ZA_ST_STOPPING = 2, ZA_ST_DEAD = 3 };
#define ZA_LIFE(gen, st) (((uint32_t)(gen) << 8) | (uint32_t)(st))
#define ZA_LIFE_GEN(l) ((l) >> 8)
#define ZA_LIFE_ST(l) ((l)&0xffu)
#define ZA_GEN_MASK 0xffffffu

/* sched word: who may put the actor on a run queue. */
enum { ZA_SCHED_IDLE = 0, ZA_SCHED_QUEUED = 1, ZA_SCHED_SUSPENDED = 2 };

/* actor flags (consumer-private) */
enum {
    ZA_AF_STARTED = 1,       /* start ran successfully */
    ZA_AF_SUSPENDED = 2,     /* failed: waiting for the supervisor's decision */
    ZA_AF_STOP_REQ = 4,      /* za_ctx_stop called */
    ZA_AF_STOPPING = 8,      /* waiting for children to stop */
    ZA_AF_DROP_OLDEST = 16,  /* consumer-side copy of the mailbox policy */
    ZA_AF_START_FAILED = 32, /* its last start failed: remembered in startfails */
    ZA_AF_GRAIN = 64,        /* a grain activation: ext->grain is its grain reference */
};

/* Restart windows remember at most this many restarts; a larger
 * max_restarts is effectively unlimited. */
#define ZA_MAX_RESTART_HISTORY 65536u

/* Rarely used per-incarnation data, allocated only when needed. */
typedef struct za_actor_ext {
    char *name;
    za_refseq children;
    za_ref *watchers;
    uint32_t nwatchers, capwatchers;
    uint64_t *restart_ms; /* ring of the last restart_cap restart times */
    uint32_t restart_cap, nrestart;
    uint32_t pending_children;
    void *args;
    size_t args_len;
    uint32_t max_restarts, within_ms, backoff_min_ms, backoff_max_ms;
    uint8_t restart_policy, strategy;
    int fail_code;
    char fail_text[116];
    /* a grain activation (csrc/grain/): its grain reference, which it sends
     * as, and the directory's activation record */
    za_ref grain;
    void *grain_act;
} za_actor_ext;

/*
 * One actor slot, 192 bytes, three cache lines. Slots live in chunks that
 * are never freed while the system exists ("type-stable" memory), so a
 * sender holding a stale reference can still read the life word safely.
 * The mailbox survives from one incarnation to the next.
 */
typedef struct za_actor {
    /* line 1: written by producers */
    _Atomic(za_link *) tail[ZA_NLANES];
    _Atomic int64_t depth;     /* user messages queued */
    _Atomic uint32_t life;     /* generation | state */
    _Atomic uint32_t to_drop;  /* drop-oldest debt, paid by the consumer */
    _Atomic uint32_t capacity; /* 0: unbounded */
    uint32_t slot;
    _Atomic uint32_t block_ms;
    _Atomic uint8_t sched;
    _Atomic uint8_t policy;
    _Atomic uint8_t host_idx; /* 0: native; i+1: sys->hostqs[i] (set at spawn) */
    uint8_t _pad1;
    /* line 2: consumer side of the lanes */
    za_link *head[ZA_NLANES];
    za_link stub[ZA_NLANES];
    /* line 3: the incarnation. Written only by the worker that owns the
     * actor's turn (START initialises it), so a spawn that reuses the slot
     * never races a worker still draining the previous incarnation. */
    _Atomic(const za_behaviour *) beh;
    void *state;
    _Atomic za_ref parent;
    za_actor_ext *ext;
    void *user;
    za_link runlink; /* injection / host queue link */
    _Atomic uint32_t processed;
    uint32_t inc_gen; /* generation this incarnation was started for */
    _Atomic uint32_t restarts;
    uint8_t flags;
    uint8_t hi_streak, lo_streak;
    uint8_t _pad3;
} __attribute__((aligned(ZA_CACHELINE))) za_actor;
/* The layout the comment above promises: producers, consumer and
 * incarnation each on a line of their own, no false sharing between them. */
_Static_assert(sizeof(za_actor) == 3 * ZA_CACHELINE, "za_actor is three cache lines");
_Static_assert(offsetof(za_actor, _pad1) < ZA_CACHELINE, "producer words fit line 1");
_Static_assert(offsetof(za_actor, head) == ZA_CACHELINE, "consumer words start line 2");
_Static_assert(offsetof(za_actor, beh) == 2 * ZA_CACHELINE, "incarnation starts line 3");

/* node: the system's node id (0 outside a cluster), see za_system.node_id */
static inline za_ref za__make_ref(uint32_t node, uint32_t slot, uint32_t gen) {
    return za_ref_make(node, gen & ZA_GEN_MASK, slot);
}

/* The context handed to behaviour callbacks: lives on the worker's stack. */
struct za_ctx {
    za_system *sys;
    za_actor *a;
    za_worker *w;
    za_ref self;
    za_ref as;       /* the sender its messages carry: self, or a grain activation's grain ref */
    za_msgnode *cur; /* message being received (NULL in start/stop) */
    za_reply_slot *reply; /* pending reply slot of cur (NULL once answered) */
    int fail_code;
    bool dirty;           /* lifecycle changed: the turn must re-read the life word */
    bool final_stop;      /* the stop callback now running ends the actor */
    bool in_stop;         /* a stop callback is running: spawning is refused */
    char fail_text[1024]; /* full text for askers; DOWN notices keep 115 chars */
    za_msg view;
};
extern _Thread_local za_ctx *za__tl_ctx;

/* Payload of START: everything the incarnation needs, built by the spawner
 * and applied by the worker that owns the turn. */
typedef struct za_start_info {
    const za_behaviour *beh;
    za_ref parent;
    void *user;
    za_actor_ext *ext;
    za_reply_slot *waiter;
    const char *label; /* interned (label.c) or NULL */
} za_start_info;

/* Run one turn; true if the actor must go back on a run queue. */
bool za__turn(za_worker *w, za_actor *a);
/* A START that will never run: undo what the spawn prepared. */
void za__discard_start(za_system *s, za_actor *a, za_msgnode *m);
void za__actor_force_stop(za_system *s, za_actor *a, za_worker *w); /* workers joined */

/* Lifecycle steps supervise.c drives. */
void za__begin_stop(za_ctx *c, int code, const char *text);
int za__start_incarnation(za_ctx *c);
void za__stop_if_requested(za_ctx *c);
int za__tell_self(za_ctx *c, int32_t tag, const void *data, size_t len);

/* The reference a turn's messages carry as sender: self, or for a grain
 * activation its grain reference (so replies reach the grain across
 * activations). */
static inline za_ref za__ctx_as(const za_actor *a, za_ref self) {
    return ZA_UNLIKELY(a->flags & ZA_AF_GRAIN) && a->ext ? a->ext->grain : self;
}

void za__remove_root(za_system *s, za_ref ref); /* from the system's top-level list */

za_actor_ext *za__ext_new(void);    /* with the default restart settings; NULL on OOM */
za_actor_ext *za__ext(za_actor *a); /* get or create; NULL on OOM */
void za__ext_free(za_actor_ext *e);

#endif
