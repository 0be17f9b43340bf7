/*
 * internal.h - structures shared by the runtime's subsystems.
 * Never installed; bindings use zactor.h only.
 */
#ifndef ZA_INTERNAL_H
#define ZA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "zactor.h"

#define ZA_CACHELINE 64

/* A full (seq_cst) fence. gcc refuses atomic_thread_fence under
 * -fsanitize=thread (TSan does not model fences); there a seq_cst RMW on a
 * shared word orders the same way and is visible to the sanitizer. */
#if defined(__SANITIZE_THREAD__)
extern _Atomic int za__fence_word;
#define za__fence() ((void)atomic_fetch_add_explicit(&za__fence_word, 0, memory_order_seq_cst))
#else
#define za__fence() atomic_thread_fence(memory_order_seq_cst)
#endif
#define ZA_LIKELY(x) __builtin_expect(!!(x), 1)
#define ZA_UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline uint64_t za__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void za__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ------------------------------------------------------------ messages */

/* Intrusive link: first member of every queued thing (Vyukov MPSC). */
typedef struct za_link {
    _Atomic(struct za_link *) next;
} za_link;

/* Payloads up to this size live inside the node (no second allocation). */
#define ZA_INLINE 48

enum {
    ZA_MF_SYSTEM = 1, /* runtime message in the system lane */
    ZA_MF_HEAP = 2,   /* payload in u.heap (malloc'd) */
    ZA_MF_REPLY = 4,  /* a reply delivered to an asking actor */
};

/* System message kinds (sys field). */
enum {
    ZA_SYS_START = 1,
    ZA_SYS_STOP,
    ZA_SYS_RESTART,       /* payload: none; restart this actor now */
    ZA_SYS_CHILD_FAILED,  /* to parent; payload: za_down */
    ZA_SYS_CHILD_STOPPED, /* to parent; the sender is the child */
    ZA_SYS_WATCH,         /* sender wants a DOWN when we die */
    ZA_SYS_UNWATCH,
    ZA_SYS_ESCALATED, /* to self: fail with the payload reason */
};

typedef struct za_msgnode {
    za_link link;
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

static inline const void *za__msg_data(const za_msgnode *m) {
    if (m->len == 0) return NULL;
    return (m->flags & ZA_MF_HEAP) ? (const void *)m->u.heap : (const void *)m->inl;
}

/* msgpool.c: node allocation with per-thread caches. */
za_msgnode *za__msg_alloc(void);
void za__msg_free(za_msgnode *m); /* releases payload too (runs ptr dtor) */
/* Allocate a node and copy data in (inline or heap). NULL on OOM. */
za_msgnode *za__msg_new_bytes(int32_t tag, const void *data, size_t len);

/* -------------------------------------------------------------- mailbox */

/* -------------------------------------------------------------- mailbox */

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
    ZA_AF_STARTED = 1,      /* start ran successfully */
    ZA_AF_SUSPENDED = 2,    /* failed: waiting for the supervisor's decision */
    ZA_AF_STOP_REQ = 4,     /* za_ctx_stop called */
    ZA_AF_STOPPING = 8,     /* waiting for children to stop */
    ZA_AF_DROP_OLDEST = 16, /* consumer-side copy of the mailbox policy */
};

/* Restart windows remember at most this many restarts; a larger
 * max_restarts is effectively unlimited. */
#define ZA_MAX_RESTART_HISTORY 65536u

/* References in insertion order (rest-for-one needs spawn order) whose
 * removal is O(1) for the usual orders; see za__refseq_remove. */
typedef struct za_refseq {
    za_ref *v;       /* ZA_REF_NONE marks a removed entry (a hole) */
    uint32_t n, cap; /* n counts holes too */
    uint32_t holes, hint;
    uint32_t *pos;   /* past ZA_REFSEQ_INDEX_AT entries: open-addressing index */
    uint32_t poscap; /*   ref -> position + 1 (0: empty), power of two */
} za_refseq;
#define ZA_REFSEQ_INDEX_AT 64u

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

void za__mbox_init(za_actor *a);
#include "mailbox.h"

static inline za_ref za__make_ref(uint32_t slot, uint32_t gen) {
    return ((uint64_t)(gen & ZA_GEN_MASK) << 32) | slot;
}

/* ------------------------------------------------------------ counters */

enum {
    ZA_C_SENT,
    ZA_C_DELIVERED,
    ZA_C_DEAD,
    ZA_C_RESTARTS,
    ZA_C_FAILURES,
    ZA_C_SPAWNED,
    ZA_C_STOPPED,
    ZA_C_TIMERS,
    ZA_C_CONSUMED, /* user messages that left a mailbox (or were dropped at send) */
    ZA_NCOUNTERS
};

/* Log-linear latency histogram, single writer, readable from any thread. */
#define ZA_HBUCKETS 496
typedef struct za_hist {
    _Atomic uint64_t b[ZA_HBUCKETS];
    _Atomic uint64_t max;
} za_hist;
void za__hist_add(za_hist *h, uint64_t ns);        /* single writer */
void za__hist_add_atomic(za_hist *h, uint64_t ns); /* any thread */

typedef struct za_stats {
    _Atomic uint64_t c[ZA_NCOUNTERS];
    za_hist queue_lat;
    za_hist proc_lat;
} za_stats;

/* ------------------------------------------------------------- workers */

#define ZA_RQ_CAP 4096u

typedef struct za_worker {
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
    /* per-worker slot cache */
    uint32_t slot_cache[256];
    uint32_t nslot_cache;
    za_stats stats;
} za_worker;

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
} za_hostq;

/* ----------------------------------------------------------------- system */

enum { ZA_PHASE_RUNNING = 0, ZA_PHASE_DRAINING, ZA_PHASE_STOPPING, ZA_PHASE_STOPPED };

#define ZA_CHUNK_BITS 12
#define ZA_CHUNK_SIZE (1u << ZA_CHUNK_BITS)
#define ZA_MAX_CHUNKS 16384u

struct za_timers;
struct za_registry;

struct za_system {
    za_config cfg;
    int nworkers;
    bool manual;
    za_worker *workers;

    /* slot table */
    _Atomic(za_actor *) *chunks;
    _Atomic uint32_t nslots; /* slots ever handed out (bump) */
    pthread_mutex_t slot_mu;
    uint32_t *free_slots;
    size_t nfree, capfree;

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
};

extern _Thread_local za_worker *za__tl_worker;

/* The context handed to behaviour callbacks: lives on the worker's stack. */
struct za_ctx {
    za_system *sys;
    za_actor *a;
    za_worker *w;
    za_ref self;
    za_msgnode *cur;      /* message being received (NULL in start/stop) */
    za_reply_slot *reply; /* pending reply slot of cur (NULL once answered) */
    int fail_code;
    bool dirty;           /* lifecycle changed: the turn must re-read the life word */
    bool final_stop;      /* the stop callback now running ends the actor */
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
} za_start_info;

/* Payload of CHILD_FAILED. */
enum { ZA_VERDICT_RESTART = 0, ZA_VERDICT_NO_RESTART = 1, ZA_VERDICT_EXCEEDED = 2 };
typedef struct za_fail_note {
    za_down down;
    int32_t verdict;
    uint32_t delay_ms;
} za_fail_note;

/* Counters of one outside thread for one system (sends from main threads). */
typedef struct za_ext_counters {
    _Atomic uint64_t c[ZA_NCOUNTERS];
    struct za_ext_counters *next;
    pthread_t owner;
} za_ext_counters;

extern _Thread_local uint64_t za__tl_ext_uid;
extern _Thread_local za_ext_counters *za__tl_ext;
za_ext_counters *za__ext_counters(za_system *s); /* this thread's block (NULL on OOM) */

static inline void za__bump(_Atomic uint64_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Counters: single-writer blocks (per worker, per outside thread), so the
 * hot path has no atomic read-modify-write. */
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

/* actor.c */
za_actor *za__slot(za_system *s, uint32_t slot); /* NULL if never allocated */
/* Resolve a ref to a live actor (ALIVE), else NULL. Memory stays valid. */
za_actor *za__resolve(za_system *s, za_ref r);
/* Enqueue a prepared node to m->target (sets enq time, counts, schedules).
 * On error the node is NOT freed. */
int za__send_node(za_system *s, za_msgnode *m, bool from_outside);
/* Send a system message (always accepted unless dead). */
int za__send_sys(za_system *s, za_ref to, za_ref from, int sys, const void *data, size_t len);
/* Run one turn; true if the actor must go back on a run queue. */
bool za__turn(za_worker *w, za_actor *a);
void za__discard_start(za_system *s, za_actor *a, za_msgnode *m);
void za__actor_force_stop(za_system *s, za_actor *a, za_worker *w); /* workers joined */

/* supervise.c */
void za__actor_fail(za_ctx *c, int code, const char *text);
void za__on_child_failed(za_ctx *c, const za_fail_note *note);
void za__do_restart(za_ctx *c);
/* actor.c, used by supervise.c */
void za__begin_stop(za_ctx *c, int code, const char *text);
int za__start_incarnation(za_ctx *c);
void za__stop_if_requested(za_ctx *c);
za_actor_ext *za__ext(za_actor *a); /* get or create; NULL on OOM */
int za__ref_list_add(za_ref **arr, uint32_t *n, uint32_t *cap, za_ref r);
int za__refseq_add(za_refseq *q, za_ref r);
bool za__refseq_remove(za_refseq *q, za_ref r);
void za__refseq_clear(za_refseq *q);
void za__refseq_free(za_refseq *q);
int za__tell_self(za_ctx *c, int32_t tag, const void *data, size_t len);

/* sched.c */
/* Index+1 of the host's queue (registering it), 0 for none, -1 if full. */
int za__host_index(za_system *s, const za_host *h);
void za__schedule(za_system *s, za_actor *a);
void za__release_run_next(za_worker *w);

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
int za__sched_start(za_system *s);
void za__sched_stop(za_system *s);
bool za__sched_idle(za_system *s);
int za__run_manual(za_system *s, uint32_t max_turns);

/* deadletter (actor.c) */
void za__dead_letter(za_system *s, za_msgnode *m, za_dl_reason why);

/* ask.c */
enum { ZA_RP_WAIT = 0, ZA_RP_CALLBACK = 1, ZA_RP_ACTOR = 2 };
za_reply_slot *za__reply_new(za_system *s, int mode);
void za__reply_release(za_reply_slot *r);
/* Wait (WAIT mode) up to timeout_ms; fills out on ZA_OK. */
int za__reply_wait(za_system *s, za_reply_slot *r, uint32_t timeout_ms, za_answer *out);
/* Same, but a timeout returns ZA_EAGAIN and leaves the ask pending. */
int za__reply_wait_slice(za_system *s, za_reply_slot *r, uint32_t slice_ms, za_answer *out);
/* Complete a pending reply; the payload (bytes copied, ptr owned) goes to
 * the asker, or becomes a dead letter if the asker is gone. */
int za__reply_complete(za_system *s, za_reply_slot *r, int status, int32_t tag, const void *data,
                       size_t len, void *ptr, za_ptr_dtor dtor, const char *errtext);
/* Used by the timer wheel. */
void za__reply_timeout(za_system *s, za_reply_slot *r);

/* timer.c */
int za__timers_start(za_system *s);
void za__timers_stop(za_system *s);
void za__timers_free(za_system *s);
/* Internal timers: send a system message after delay, or time out a reply. */
int za__timer_sys(za_system *s, uint32_t delay_ms, za_ref to, int sys, const void *data,
                  size_t len);
int za__timer_reply(za_system *s, uint32_t delay_ms, za_reply_slot *r, za_timer_id *out);

/* registry.c */
int za__registry_new(za_system *s);
void za__registry_free(za_system *s);
/* Remove name only if it still maps to ref. */
void za__registry_drop(za_system *s, const char *name, za_ref ref);

/* metrics.c */
void za__ext_counters_free(za_system *s);
void za__stats_merge(za_system *s, uint64_t c[ZA_NCOUNTERS], za_hist *q, za_hist *p);

#endif
