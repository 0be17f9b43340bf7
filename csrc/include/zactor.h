/*
 * zactor.h - the public C API of the zactor actor runtime.
 *
 * This is the only public header. Everything the Python and Lua bindings
 * use is reachable from here. Functions return ZA_OK (0) or a negative
 * za_err code; the text of the most recent error on the calling thread is
 * available from za_last_error(). The runtime never aborts on bad input.
 */
#ifndef ZACTOR_H
#define ZACTOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZA_VERSION_MAJOR 0
#define ZA_VERSION_MINOR 2
#define ZA_VERSION_PATCH 0

/* ------------------------------------------------------------------ errors */

typedef enum za_err {
    ZA_OK = 0,
    ZA_EINVAL = -1,      /* a null or invalid argument */
    ZA_ENOMEM = -2,      /* out of memory */
    ZA_EDEAD = -3,       /* the target actor is dead or the reference is stale */
    ZA_EFULL = -4,       /* bounded mailbox full (ZA_FULL_FAIL, or block timed out) */
    ZA_ETIMEDOUT = -5,   /* a wait ran out of time */
    ZA_ESHUTDOWN = -6,   /* the system is shutting down or stopped */
    ZA_ETOOBIG = -7,     /* payload larger than the system's max_payload */
    ZA_EEXIST = -8,      /* name already registered */
    ZA_ENOTFOUND = -9,   /* no such name / timer */
    ZA_ESTART = -10,     /* the behaviour's start callback failed */
    ZA_EFAILED = -11,    /* the actor failed while handling an ask */
    ZA_ENOREPLY = -12,   /* the actor handled an ask without replying */
    ZA_ECANCELLED = -13, /* an ask or timer was cancelled */
    ZA_EVALUE = -14,     /* a MessagePack value could not be built or read */
    ZA_EDROPPED = -15,   /* accepted by a drop-newest mailbox and dropped */
    ZA_EAGAIN = -16,     /* try again (ask not yet complete) */
    ZA_ESTATE = -17,     /* call not valid in the current state */
    ZA_ECONFLICT = -18,  /* storage: expected version / sequence did not match; nothing written */
    ZA_ESTORE = -19,     /* storage: the database reported an error (za_last_error has its text) */
    ZA_ECONNECT = -20,   /* storage: the server cannot be reached (refused, unknown host, lost) */
    ZA_EAUTH = -21,      /* storage: the server refused the credentials */
    ZA_ENODEDOWN = -22,  /* the target's node was declared dead, left, or is unknown */
    ZA_EFENCED = -23,    /* storage: a newer activation holds the grain's lease; nothing written */
} za_err;

/* Static text for a code, e.g. "actor is dead". Never NULL. */
const char *za_strerror(int code);
/* Detailed text of the last error set on this thread ("" if none). */
const char *za_last_error(void);

/* -------------------------------------------------------------- references */

/*
 * An actor reference: 64 bits = node id (12) | generation (24) | slot (28).
 * Copy it freely across threads, languages and nodes. A reference to a dead
 * actor is detected through the generation and never touches freed memory.
 * Node 0 is "this process, not in a cluster"; a cluster member's actors
 * carry its node id (1..ZA_NODE_MAX), so references stay valid when they
 * travel inside messages. 12 node bits leave room for 4,095 live nodes; 24
 * generation bits let a slot be reused 16.7 M times before a stale
 * reference could alias a new actor; 28 slot bits cover the slot table's
 * 2^26 actors. (Before clusters the split was 8 | 24 | 32; the accessors
 * below are the stable interface.)
 */
typedef uint64_t za_ref;
#define ZA_REF_NONE ((za_ref)0)
#define ZA_REF_SLOT_BITS 28
#define ZA_REF_GEN_BITS 24
#define ZA_REF_NODE_BITS 12
#define ZA_NODE_MAX 4094u
/* Node field 4095 marks a grain reference (a virtual actor, see "grains"
 * below): it names (type, key), not an actor; the other 52 bits index the
 * identity table of the system that made it. */
#define ZA_REF_GRAIN_NODE 4095u
#define za_ref_is_grain(r) (za_ref_node(r) == ZA_REF_GRAIN_NODE)
#define za_ref_slot(r) ((uint32_t)((r)&0x0fffffffu))
#define za_ref_gen(r) ((uint32_t)(((r) >> 28) & 0xffffffu))
#define za_ref_node(r) ((uint32_t)((r) >> 52))
#define za_ref_make(node, gen, slot)                                                               \
    ((za_ref)(((uint64_t)((node)&0xfffu) << 52) | ((uint64_t)((gen)&0xffffffu) << 28) |            \
              ((uint64_t)(slot)&0x0fffffffu)))

/* ----------------------------------------------------------------- opaques */

typedef struct za_system za_system;
typedef struct za_ctx za_ctx;               /* valid only during a callback */
typedef struct za_reply_slot za_reply_slot; /* a one-shot reply slot (ask) */
typedef struct za_cluster za_cluster;       /* membership in a cluster (see below) */

/* ---------------------------------------------------------------- messages */

/* Tags >= 0 belong to the user; negative tags are the runtime's: a tell,
 * ask, timer or reply with a negative tag fails with ZA_EINVAL. */
enum {
    ZA_TAG_DOWN = -1,         /* a watched actor died; payload: za_down */
    ZA_TAG_CHILD_FAILED = -2, /* a child failed; payload: za_down (informational) */
    ZA_TAG_TIMEOUT = -3,      /* an actor-side ask timed out; za_msg.corr set */
    ZA_TAG_REPLY = -4,        /* unused as a tag: replies keep the replier's tag */
    ZA_TAG_REMINDER = -5,     /* a grain reminder fired; payload: MessagePack
                                 [name, missed, period_s, due_unix_s] */
    ZA_TAG_DEACTIVATE = -6,   /* a grain activation is asked to deactivate (idle,
                                 shutdown, moved home, stale lease); payload: the
                                 reason as UTF-8 text */
};

typedef enum za_prio { ZA_PRIO_HIGH = 0, ZA_PRIO_NORMAL = 1, ZA_PRIO_LOW = 2 } za_prio;

typedef enum za_payload_kind {
    ZA_PAYLOAD_BYTES = 0, /* data/len: bytes (inline when small) */
    ZA_PAYLOAD_PTR = 1,   /* ptr: an opaque pointer owned by the message */
} za_payload_kind;

/* A message as seen by a behaviour. Valid until receive returns. */
typedef struct za_msg {
    int32_t tag;
    uint8_t prio;     /* za_prio */
    uint8_t kind;     /* za_payload_kind */
    int16_t status;   /* for replies: ZA_OK or an error code */
    uint32_t len;     /* payload length in bytes (0 for PTR) */
    const void *data; /* payload bytes (NULL when len == 0) */
    void *ptr;        /* PTR payload (owned by the message) */
    za_ref sender;    /* ZA_REF_NONE when sent from outside any actor */
    uint64_t corr;    /* correlation id for actor-side asks (else 0) */
} za_msg;

/* Destructor of a PTR payload; runs exactly once, on whichever thread
 * consumes or discards the message. */
typedef void (*za_ptr_dtor)(void *ptr);

/* Steal a PTR payload out of a message being received: the runtime will no
 * longer destroy it. Returns NULL for BYTES messages. */
void *za_msg_take_ptr(const za_msg *msg);

/* ------------------------------------------------------------- behaviours */

typedef struct za_host za_host;

/*
 * The layout version of za_behaviour: 'z' 'a' and a number bumped whenever
 * the table or the contract of its callbacks changes. Every behaviour table
 * starts with it, and za_spawn (all spawns) refuses a table that does not
 * (ZA_EINVAL) before reading anything else from it: a table compiled
 * against another zactor.h, or an arbitrary symbol loaded by name, is never
 * called into.
 */
#define ZA_BEHAVIOUR_ABI 0x7a610002u
/* Put first in a behaviour's designated initialiser:
 *   static const za_behaviour counter = {ZA_BEHAVIOUR_INIT, .name = "counter",
 *                                        .receive = counter_receive};
 * (a table filled field by field sets .abi = ZA_BEHAVIOUR_ABI). */
#define ZA_BEHAVIOUR_INIT .abi = ZA_BEHAVIOUR_ABI

/*
 * A native behaviour. start/stop may be NULL. A non-zero return from start
 * or receive is a failure handled by supervision (see za_ctx_fail to give
 * a reason text).
 */
typedef struct za_behaviour {
    uint32_t abi; /* ZA_BEHAVIOUR_ABI (see ZA_BEHAVIOUR_INIT) */
    const char *name;
    size_t state_size; /* bytes of zeroed state handed to callbacks */
    int (*start)(za_ctx *ctx, const void *args, size_t args_len);
    int (*receive)(za_ctx *ctx, const za_msg *msg);
    void (*stop)(za_ctx *ctx);
    const za_host *host; /* NULL for native C; bindings set their host */
} za_behaviour;

/*
 * Load the behaviour table `symbol` from the shared object `path` (opened
 * once with RTLD_NOW | RTLD_LOCAL and never closed: actors may run its code
 * until the process ends). The symbol must be a data object at least as
 * large as a za_behaviour (checked through the ELF symbol table before a
 * byte of it is read) and carry ZA_BEHAVIOUR_ABI, so a function, a smaller
 * variable or a table built against another zactor.h is refused with
 * ZA_EINVAL; ZA_ENOTFOUND when the object cannot be opened or has no such
 * symbol. The object's own za_* calls must resolve (a binding makes its
 * runtime's symbols global before loading; a C program links -rdynamic).
 */
int za_behaviour_load(const char *path, const char *symbol, const za_behaviour **out);

/*
 * A behaviour host (Python, Lua): lets a binding wrap runs of actors.
 * enter/leave bracket a worker's consecutive turns of actors of this host
 * (e.g. take the GIL once per batch). With exclusive set, at most one
 * worker at a time runs actors of this host, for at most budget_us per
 * hold, so other workers stay free for other hosts. With takeover_us set
 * too, a turn that has run longer than that (a handler blocked in I/O, say)
 * no longer keeps the host: another worker takes the host's other actors
 * over meanwhile (it calls enter; the worker of the long turn calls leave
 * when the turn ends, and serves nothing more of this hold).
 */
struct za_host {
    const char *name;
    int exclusive;
    uint32_t budget_us; /* 0 = default 2000 */
    void (*enter)(void *host_ud, int worker_id);
    void (*leave)(void *host_ud, int worker_id);
    void *host_ud;
    uint32_t takeover_us; /* exclusive hosts: 0 = never taken over */
};

/* ------------------------------------------------------------------ system */

typedef struct za_config {
    int workers;                /* 0: one per online core; < 0 invalid */
    uint32_t batch;             /* messages per actor turn (0: 64) */
    uint32_t spin_us;           /* spin before parking an idle worker (0: 50) */
    uint32_t max_payload;       /* bytes (0: 64 MiB) */
    uint32_t latency_sample;    /* time 1 of N messages for latency (0: 64; 1: all) */
    uint32_t root_max_restarts; /* for top-level actors (0: 3) */
    uint32_t root_within_ms;    /* (0: 5000) */
    int manual;                 /* 1: no worker threads; the caller drives the
                                   system with za_system_run (deterministic mode) */
    /* The HTTP endpoint (csrc/http): "host:port" to serve /metrics, /health,
     * /actors, /tree, /deadletters and the dashboard on; port 0 picks a free
     * port (za_system_http_url tells which). NULL: no endpoint. Copied. */
    const char *http_addr;
    /* Bearer token the endpoint requires (NULL: none). Required when
     * http_addr is not a loopback address. Copied. */
    const char *http_token;
    uint32_t dead_letter_keep; /* recent dead letters kept for inspection (0: 100) */
    za_cluster *cluster;       /* NULL: a single process; else this system is the
                                  cluster member (za_cluster_create) */
    /* Where grains and persistent actors keep their state: a za_store_open
     * URL ("sqlite:///path.db", "redis://...", "postgresql://...",
     * "memory://"). NULL: "memory://" (state lives as long as the system).
     * Opened by za_system_create (its errors are za_store_open's), closed
     * by za_system_destroy after the last activation ended. Copied. */
    const char *storage;
} za_config;

/* Fill defaults (all zero means defaults). */
void za_config_init(za_config *cfg);

/* Create and start a system. cfg may be NULL for defaults. */
int za_system_create(const za_config *cfg, za_system **out);

/*
 * Graceful shutdown: refuse new spawns and outside sends; let mailboxes
 * drain; stop actors children-first (stop hooks run); join workers.
 * Returns ZA_OK, or ZA_ETIMEDOUT if draining did not finish within the
 * timeout (the remaining actors are then stopped and their messages turned
 * into dead letters). Safe to call twice. Must not be called from a worker.
 */
int za_system_shutdown(za_system *sys, uint32_t timeout_ms);

/*
 * Same, interruptible: interrupted(ud) is polled about every 50 ms while
 * shutdown waits for mailboxes to drain and for actors to stop. Once it
 * returns nonzero, shutdown stops waiting for the drain (what is still
 * queued becomes dead letters), gives stop hooks at most a second, and
 * returns ZA_ECANCELLED. The system is fully shut down either way. (Bindings
 * use this so Ctrl-C works during a long shutdown.)
 */
int za_system_shutdown_ex(za_system *sys, uint32_t timeout_ms, int (*interrupted)(void *ud),
                          void *ud);

/* Shutdown (if not yet) and free. NULL is a no-op (ZA_OK). Refused with
 * ZA_ESTATE, leaving the system untouched, on one of its workers or inside
 * one of its actors (the system would be freed under the caller); call it
 * from the thread that owns the system. */
int za_system_destroy(za_system *sys);

/* Manual systems only: run up to max_turns actor turns (0: until idle) on
 * the calling thread. Returns the number of turns run, or an error. */
int za_system_run(za_system *sys, uint32_t max_turns);

/* Number of workers (0 on NULL). */
int za_system_workers(const za_system *sys);
/* This System's identity: random per process, distinct for every System of
 * the process, never 0. Actor references carry it when encoded, so a ref of
 * one System cannot be read as a ref of another. The members of a cluster
 * share one (derived from the cluster name): a ref carries its node, and
 * reads on every member. */
uint64_t za_system_id(const za_system *sys);

/* Block until no actor is alive or the timeout passes (ZA_ETIMEDOUT). */
int za_system_wait_idle(za_system *sys, uint32_t timeout_ms);

/* --------------------------------------------------------------- spawning */

typedef enum za_restart {
    ZA_RESTART_PERMANENT = 0, /* restart on failure */
    ZA_RESTART_TRANSIENT = 1, /* restart on failure (not on a normal stop) */
    ZA_RESTART_TEMPORARY = 2, /* never restart: a failure stops it */
} za_restart;

typedef enum za_strategy {
    ZA_ONE_FOR_ONE = 0,
    ZA_ONE_FOR_ALL = 1,
    ZA_REST_FOR_ONE = 2,
    ZA_STRATEGY_STOP = 3,     /* stop the failed child */
    ZA_STRATEGY_ESCALATE = 4, /* fail the parent with the child's reason */
} za_strategy;

typedef enum za_full_policy {
    ZA_FULL_FAIL = 0,        /* the send returns ZA_EFULL */
    ZA_FULL_DROP_NEWEST = 1, /* the new message becomes a dead letter (ZA_EDROPPED) */
    ZA_FULL_DROP_OLDEST = 2, /* the oldest queued user message becomes a dead letter */
    ZA_FULL_BLOCK = 3,       /* the sender waits up to block_timeout_ms */
} za_full_policy;

typedef struct za_spawn_opts {
    const char *name; /* register under this unique name, 1..255 bytes (NULL: none) */
    za_restart restart;
    za_strategy strategy;    /* how THIS actor supervises its children */
    uint32_t max_restarts;   /* within within_ms, for THIS actor (0: 3; > 65536: no limit) */
    uint32_t within_ms;      /* restart window (0: 5000) */
    uint32_t backoff_min_ms; /* first restart delay (0: immediate) */
    uint32_t backoff_max_ms; /* cap of the exponential backoff (0: 1000) */
    uint32_t capacity;       /* mailbox bound in user messages (0: unbounded) */
    za_full_policy full_policy;
    uint32_t block_timeout_ms; /* for ZA_FULL_BLOCK */
    void *user;                /* free for bindings: za_ctx_user() */
    /* What the actor reports as its behaviour in introspection, the HTTP
     * endpoint's /actors and /metrics, and trace spans, instead of the
     * behaviour table's name (NULL: that name). Bindings set it: a Python
     * actor reports its class (module.qualname), a Lua actor its module or
     * file. 1..255 bytes; copied (equal labels share one copy for the life
     * of the process; past 65536 distinct labels new ones are ignored). */
    const char *label;
} za_spawn_opts;

void za_spawn_opts_init(za_spawn_opts *o);

/*
 * Spawn a top-level actor (supervised by the system). args are copied and
 * kept for restarts. start runs on a worker; a failing start is reported
 * as a failure (ZA_ESTART is returned only by za_spawn_sync). The system
 * remembers its recent start failures (the last 64): once such an actor is
 * dead, za_tell/za_ask to its ref fail with ZA_EDEAD and za_last_error()
 * "actor S.G failed to start: <reason>", and so does an ask that was queued
 * behind the failing start.
 */
int za_spawn(za_system *sys, const za_behaviour *beh, const void *args, size_t args_len,
             const za_spawn_opts *opts, za_ref *out);

/* Like za_spawn, but waits until start ran: ZA_ESTART if it failed
 * (the actor is then dead). Not from inside an actor. */
int za_spawn_sync(za_system *sys, const za_behaviour *beh, const void *args, size_t args_len,
                  const za_spawn_opts *opts, uint32_t timeout_ms, za_ref *out);

/* ------------------------------------------------------------------ sending */

/* Fire-and-forget send from anywhere. Inside an actor, the sender is set. */
int za_tell(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len);
int za_tell_prio(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                 za_prio prio);
/* Send an opaque pointer; dtor runs once when the message is consumed or
 * discarded. On an error return, dtor has NOT run: the caller still owns ptr. */
int za_tell_ptr(za_system *sys, za_ref to, int32_t tag, void *ptr, za_ptr_dtor dtor, za_prio prio);

/* Stop an actor (children first, then its stop hook). Async. */
int za_stop(za_system *sys, za_ref ref);
/* Is the reference alive right now? 1 / 0. */
int za_is_alive(za_system *sys, za_ref ref);
/* Wait until the actor is dead: ZA_OK or ZA_ETIMEDOUT. */
int za_join(za_system *sys, za_ref ref, uint32_t timeout_ms);

/* ---------------------------------------------------------------------- ask */

/* Result of an ask: status plus a copy of the reply payload. */
typedef struct za_answer {
    int status;   /* ZA_OK or error (ZA_ETIMEDOUT, ZA_EDEAD, ZA_EFAILED...) */
    int32_t tag;  /* the replier's tag */
    uint8_t kind; /* za_payload_kind */
    void *data;   /* malloc'd copy of the bytes (free with za_answer_free) */
    size_t len;
    void *ptr;        /* PTR reply payload (ownership passes to the caller) */
    za_ptr_dtor dtor; /* ...and its destructor */
    char *error;      /* failure text for ZA_EFAILED (malloc'd) or NULL */
} za_answer;

void za_answer_free(za_answer *a);

/* Blocking ask with timeout (never from inside an actor: ZA_ESTATE). */
int za_ask(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
           uint32_t timeout_ms, za_answer *out);

/*
 * Asynchronous ask: cb runs exactly once, on a runtime thread, with the
 * answer (owned by the callee of cb: free it with za_answer_free). The
 * returned handle (may be NULL) lets the caller cancel; release it with
 * za_ask_handle_release. timeout_ms 0 = no timeout.
 */
typedef void (*za_answer_cb)(za_answer *answer, void *ud);
typedef struct za_ask_handle za_ask_handle;
int za_ask_async(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                 uint32_t timeout_ms, za_answer_cb cb, void *ud, za_ask_handle **handle);
/* Cancel: if not yet answered, cb runs with ZA_ECANCELLED. 1 if cancelled. */
int za_ask_cancel(za_ask_handle *h);
void za_ask_handle_release(za_ask_handle *h);

/*
 * Blocking ask in slices, for bindings that must stay interruptible:
 * za_ask_start sends and returns a handle; za_ask_wait waits up to
 * slice_ms and returns ZA_EAGAIN if the answer is not there yet (call it
 * again), or the answer's status with *out filled (then release the handle).
 * za_ask_abandon gives up (a late reply becomes a dead letter); it also
 * releases the handle. Works from any non-worker thread.
 */
typedef struct za_ask_wait_handle za_ask_wait_handle;
int za_ask_start(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
                 za_ask_wait_handle **out);
int za_ask_ptr_start(za_system *sys, za_ref to, int32_t tag, void *ptr, za_ptr_dtor dtor,
                     za_ask_wait_handle **out);
int za_ask_wait(za_ask_wait_handle *h, uint32_t slice_ms, za_answer *out);
void za_ask_wait_release(za_ask_wait_handle *h);
void za_ask_abandon(za_ask_wait_handle *h);

/* Same as za_ask_async with a PTR payload (dtor as for za_tell_ptr). */
int za_ask_ptr_async(za_system *sys, za_ref to, int32_t tag, void *ptr, za_ptr_dtor dtor,
                     uint32_t timeout_ms, za_answer_cb cb, void *ud, za_ask_handle **handle);

/* ------------------------------------------------------- inside an actor */

void *za_ctx_state(za_ctx *ctx);
za_ref za_ctx_self(za_ctx *ctx);
za_ref za_ctx_parent(za_ctx *ctx);
za_system *za_ctx_system(za_ctx *ctx);
void *za_ctx_user(za_ctx *ctx);
int za_ctx_worker(za_ctx *ctx);        /* id of the worker running us (-1: caller thread) */
uint32_t za_ctx_restarts(za_ctx *ctx); /* how many times this actor was restarted */
/* In a stop callback: 1 when this is the actor's final stop, 0 when the
 * stop precedes a restart (the actor lives on with fresh state). */
int za_ctx_final_stop(za_ctx *ctx);
/* The behaviour of a live actor (NULL if dead): lets a binding recognise
 * its own actors cheaply. */
const za_behaviour *za_ref_behaviour(za_system *sys, za_ref ref);
/* The message being received has a pending reply slot: 1 / 0. */
int za_ctx_can_reply(za_ctx *ctx);

/* Reply to the current message's ask (once; later calls: ZA_ESTATE). */
int za_reply(za_ctx *ctx, int32_t tag, const void *data, size_t len);
int za_reply_ptr(za_ctx *ctx, int32_t tag, void *ptr, za_ptr_dtor dtor);
/* Take the reply slot to answer later, outside this receive. */
za_reply_slot *za_ctx_take_reply(za_ctx *ctx);
/* Answer a taken slot from any thread; the slot is consumed. */
int za_reply_send(za_system *sys, za_reply_slot *r, int32_t tag, const void *data, size_t len);
int za_reply_send_ptr(za_system *sys, za_reply_slot *r, int32_t tag, void *ptr, za_ptr_dtor dtor);
int za_reply_error(za_system *sys, za_reply_slot *r, int status, const char *text);

/*
 * Call chains. A chain names one request as it travels through actors that
 * ask each other. Hosts whose handlers suspend (Python `async def`, Lua
 * ctx:ask) let a message of a chain one of their handlers serves re-enter
 * past `concurrency`, so a cycle of asks (A asks B, B asks C, C asks A)
 * does not deadlock until its timeout, across languages. Every ask made on
 * a thread while a chain is current (za_chain_enter) carries that chain in
 * its reply slot; the receiver reads it with za_ctx_chain before taking the
 * slot, or later with za_reply_chain. Tells carry none; asks to another
 * node carry none.
 */
uint64_t za_chain_new(void); /* a fresh id: process-wide unique, never 0 */
uint64_t
za_chain_enter(uint64_t chain); /* current on this thread (0: none); returns the previous */
uint64_t za_ctx_chain(const za_ctx *ctx); /* of the ask being received (0: none, a tell, taken) */
uint64_t za_reply_chain(const za_reply_slot *r); /* of a taken reply slot (0: none) */

/* Spawn a child supervised by this actor. */
int za_ctx_spawn(za_ctx *ctx, const za_behaviour *beh, const void *args, size_t args_len,
                 const za_spawn_opts *opts, za_ref *out);
/* Ask from inside an actor: the reply arrives as a message to this actor
 * with za_msg.corr == *corr_out (status in za_msg.status; for an error
 * status the payload is the error text, UTF-8, not NUL-terminated); on
 * timeout a ZA_TAG_TIMEOUT message with the same corr arrives instead. */
int za_ctx_ask(za_ctx *ctx, za_ref to, int32_t tag, const void *data, size_t len,
               uint32_t timeout_ms, uint64_t *corr_out);
/* Stop this actor after the current message. */
void za_ctx_stop(za_ctx *ctx);
/* Set the failure reason that goes with a non-zero return. */
void za_ctx_fail(za_ctx *ctx, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Watch: a ZA_TAG_DOWN message (payload za_down) arrives when target dies
 * (at once if it is already dead). */
int za_ctx_watch(za_ctx *ctx, za_ref target);
int za_ctx_unwatch(za_ctx *ctx, za_ref target);

/* Payload of ZA_TAG_DOWN and ZA_TAG_CHILD_FAILED messages. */
typedef struct za_down {
    za_ref ref;
    int32_t code;     /* 0: normal stop; ZA_EDEAD: already dead; else failure */
    char reason[116]; /* NUL-terminated failure text */
} za_down;

/* Watch from outside an actor: a watcher ref receives the DOWN message. */
int za_watch(za_system *sys, za_ref watcher, za_ref target);

/* ------------------------------------------------------------------ timers */

typedef uint64_t za_timer_id;
/* Send tag/data to `to` after delay_ms (once) or every interval_ms. */
int za_send_after(za_system *sys, uint32_t delay_ms, za_ref to, int32_t tag, const void *data,
                  size_t len, za_timer_id *out);
int za_send_interval(za_system *sys, uint32_t delay_ms, uint32_t interval_ms, za_ref to,
                     int32_t tag, const void *data, size_t len, za_timer_id *out);
/* ZA_OK if cancelled before firing (periodic: no more sends), else ZA_ENOTFOUND. */
int za_timer_cancel(za_system *sys, za_timer_id id);

/* ---------------------------------------------------------------- registry */

/* name: 1..255 bytes, the same rule as za_spawn_opts.name (else ZA_EINVAL).
 * ZA_EEXIST if taken. */
int za_register(za_system *sys, const char *name, za_ref ref);
int za_unregister(za_system *sys, const char *name);
/* ZA_OK and *out, or ZA_ENOTFOUND. */
int za_lookup(za_system *sys, const char *name, za_ref *out);

/* ------------------------------------------------------------ dead letters */

typedef enum za_dl_reason {
    ZA_DL_DEAD_TARGET = 0, /* target was dead */
    ZA_DL_DROPPED = 1,     /* mailbox policy dropped it */
    ZA_DL_FAILED = 2,      /* the message whose handling failed */
    ZA_DL_LATE_REPLY = 3,  /* reply to an asker that timed out or left */
    ZA_DL_SHUTDOWN = 4,    /* still queued when the system stopped */
    ZA_DL_NODE_DOWN = 5,   /* the target's node is dead, gone or not a member */
} za_dl_reason;

typedef struct za_dead_letter {
    za_ref target;
    za_ref sender;
    int32_t tag;
    za_dl_reason reason;
    const za_msg *msg; /* the message (payload readable during the hook) */
} za_dead_letter;

/* The hook runs synchronously on the thread that produced the dead letter;
 * keep it short and do not block. fn NULL removes it. */
typedef void (*za_dead_letter_fn)(const za_dead_letter *dl, void *ud);
void za_set_dead_letter_hook(za_system *sys, za_dead_letter_fn fn, void *ud);
/* A message a binding holds and will never handle (e.g. parked while its
 * handlers were busy when the actor stopped, or a reply to an ask it gave
 * up): counted, recorded and shown to the hook as a dead letter of target.
 * The caller keeps the payload (a PTR payload is only described). */
int za_dead_letter_report(za_system *sys, za_ref target, const za_msg *msg, za_dl_reason why);

/* ----------------------------------------------------------------- metrics */

typedef struct za_latency {
    uint64_t count;
    uint64_t p50_ns, p95_ns, p99_ns, max_ns;
    uint64_t sum_ns; /* total of the count samples (mean = sum_ns / count) */
} za_latency;

typedef struct za_metrics {
    uint64_t sent;
    uint64_t delivered;
    uint64_t dead_letters;
    uint64_t restarts;
    uint64_t failures;
    uint64_t spawned;
    uint64_t stopped;
    uint64_t actors_alive;
    uint64_t timers_fired;
    za_latency queue_latency;   /* enqueue -> start of processing (sampled) */
    za_latency process_latency; /* processing time per message (sampled) */
    /* Asks awaiting an answer right now (gauge): reply slots made by an ask
     * (any language, blocking or not), a za_spawn_sync, or a message whose
     * taken reply slot is not answered yet, that are neither answered,
     * timed out nor given up. A leak check: 0 once a system is quiet. Read
     * racily like the counters (may lag a moment behind). */
    uint64_t reply_slots;
} za_metrics;

int za_metrics_read(za_system *sys, za_metrics *out);
/* Prometheus text exposition into buf (NUL-terminated). Returns the length
 * needed (excluding NUL) like snprintf, or a negative error. */
int za_metrics_prometheus(za_system *sys, char *buf, size_t cap);

typedef struct za_actor_info {
    const char *behaviour; /* the behaviour's name (static) */
    za_ref parent;
    uint64_t mailbox_depth; /* user messages queued */
    uint64_t processed;
    uint32_t restarts;
} za_actor_info;
int za_actor_info_get(za_system *sys, za_ref ref, za_actor_info *out);

/* ------------------------------------------------------------ introspection */

/*
 * A view of a running system from any thread, without stopping it and
 * without a lock on any worker's path (csrc/introspect.c). Counters and
 * mailbox depths are read racily: each number is one a worker wrote, but a
 * view is not a snapshot of one instant. A slot reused while it is read is
 * detected through its generation and skipped.
 */
typedef enum za_actor_state {
    ZA_ACTOR_ALIVE = 0,     /* running or waiting for messages */
    ZA_ACTOR_STOPPING = 1,  /* stopping (children first) */
    ZA_ACTOR_SUSPENDED = 2, /* failed, waiting for its supervisor's decision */
} za_actor_state;

typedef struct za_actor_view {
    za_ref ref;
    za_ref parent;          /* ZA_REF_NONE for a top-level actor */
    char name[64];          /* registered name ("" if none; cut at 63 bytes) */
    char behaviour[64];     /* the behaviour's name */
    char language[16];      /* "c", "python", "lua" or the host's name */
    uint64_t mailbox_depth; /* user messages queued */
    uint64_t processed;     /* messages handled (this slot, wraps at 2^32) */
    uint32_t restarts;
    za_actor_state state;
} za_actor_view;

/* One live actor (ZA_EDEAD if it is not alive, or not started yet: an
 * actor is visible once its start ran on a worker). */
int za_actor_view_get(za_system *sys, za_ref ref, za_actor_view *out);
/* Call fn for every live actor, in slot order; fn returning non-zero stops
 * the walk. Returns the number of actors visited or a negative error. */
typedef int (*za_actor_visit_fn)(const za_actor_view *v, void *ud);
int za_actors_visit(za_system *sys, za_actor_visit_fn fn, void *ud);
/* "alive", "stopping", "suspended". */
const char *za_actor_state_name(int state);

/* A dead letter kept in the system's bounded ring (za_config.dead_letter_keep). */
typedef struct za_dl_record {
    uint64_t seq;     /* 1, 2, ... in the order they happened */
    uint64_t unix_ms; /* wall-clock time */
    za_ref target;
    za_ref sender;
    int32_t tag;
    za_dl_reason reason;
    /* printable preview of the value: MessagePack as JSON-like text, other
     * bytes in hex, an object payload as <TypeName> (za_ptr_describer_add),
     * or <taken by the receiver> when the failing handler had taken it;
     * cut with "..." */
    char preview[128];
} za_dl_record;

/* Copy the most recent dead letters, oldest first, into out[0..cap):
 * returns how many. *total (may be NULL) gets the count ever recorded. A
 * record being written at that instant is skipped. */
int za_dead_letters_recent(za_system *sys, za_dl_record *out, size_t cap, uint64_t *total);
/* "dead_target", "dropped", "failed", "late_reply", "shutdown". */
const char *za_dl_reason_name(int reason);

/* Teach previews about a kind of pointer payload: messages whose PTR dtor
 * is dtor are described by fn (writes a short NUL-terminated text such as a
 * type name into buf; runs on the thread producing the dead letter, must
 * not block). Process-wide; up to 8. */
typedef void (*za_ptr_describe_fn)(void *ptr, char *buf, size_t cap);
int za_ptr_describer_add(za_ptr_dtor dtor, za_ptr_describe_fn fn);

/* Write a printable JSON-like preview of a MessagePack value (or hex for
 * bytes that are not one value) into buf (always NUL-terminated). Returns
 * the length written. */
size_t za_preview_msgpack(const void *data, size_t len, char *buf, size_t cap);

/* The URL the HTTP endpoint serves on ("http://127.0.0.1:9100"), or NULL
 * when the system has none (za_config.http_addr). Valid while sys lives. */
const char *za_system_http_url(za_system *sys);
/* Whether the system is ready to work: workers running, not shutting down. */
int za_system_ready(za_system *sys);

/* ------------------------------------------------------------------ tracing */

/*
 * A W3C trace context (https://www.w3.org/TR/trace-context/): messages sent
 * while one is current carry it, and while an actor handles such a message
 * it is current on that worker, so a chain of tells and asks through C,
 * Python and Lua actors stays in one trace. Nothing is carried, and nothing
 * costs more than a branch, while no context is set (csrc/trace.c).
 */
typedef struct za_trace {
    uint8_t trace_id[16];
    uint8_t span_id[8]; /* the span the message was sent from: its receiver's parent */
    uint8_t flags;      /* trace-flags (1: sampled) */
} za_trace;

/* Parse a traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"): ZA_OK or
 * ZA_EINVAL (bad syntax, all-zero ids, version ff). */
int za_trace_parse(const char *traceparent, za_trace *out);
/* Write the traceparent text (55 chars + NUL) into buf; ZA_EINVAL if cap < 56. */
int za_trace_format(const za_trace *t, char *buf, size_t cap);
/* The context sends from this thread carry from now on (NULL: none). In a
 * handler it starts as the handled message's and is restored after it. */
void za_trace_set_current(const za_trace *t);
/* The current context of this thread: ZA_OK, or ZA_ENOTFOUND if none. */
int za_trace_current(za_trace *out);
/* The context the message being handled arrived with: ZA_OK, or
 * ZA_ENOTFOUND (sent with none, or outside receive). */
int za_ctx_trace(za_ctx *ctx, za_trace *out);

/*
 * Spans (csrc/spans.c): the runtime records a span for each handler run of
 * a message that carries a sampled trace context (flags bit 0), by actors
 * of the languages enabled, with no allocation and no binding code on the
 * way: the record goes into a bounded process-wide buffer that an exporter
 * drains in batches (the Python side hands them to OpenTelemetry:
 * zactor.tracing.enable). While a handler runs, the current context is its
 * span, so what it sends are the span's children. Off by default; while
 * off, nothing but a branch on traced messages.
 */
enum { ZA_SPAN_RECEIVE = 1, ZA_SPAN_ASK = 2, ZA_SPAN_TELL = 3 };
enum { ZA_SPANS_C = 1, ZA_SPANS_LUA = 2, ZA_SPANS_PYTHON = 4, ZA_SPANS_OTHER = 8 };

typedef struct za_span {
    za_trace ctx;              /* trace id, this span's id, flags */
    uint8_t parent_span_id[8]; /* all zero: a root span */
    uint8_t kind;              /* ZA_SPAN_RECEIVE / ASK / TELL */
    uint8_t failed;            /* the handler failed; the ask got no answer */
    int32_t tag;               /* receive: the message's tag */
    za_ref actor;              /* receive: the actor; ask/tell: the target */
    uint64_t start_ns, end_ns; /* wall clock (CLOCK_REALTIME), ns since 1970 */
    uint64_t wait_ns;          /* receive: enqueue -> start of handling */
    char behaviour[96];        /* receive: the actor's label or behaviour name */
    char language[16];         /* receive: "c", "lua", "python", ... */
} za_span;

/* Record spans of the languages in langs (ZA_SPANS_* bits; 0: stop
 * recording). capacity: finished spans kept until drained (0: 16384; a
 * span that finds the buffer full is dropped and counted). Recorded spans
 * stay in the buffer when turned off. ZA_OK, ZA_EINVAL (capacity changed
 * while spans are buffered), ZA_ENOMEM. */
int za_spans_enable(unsigned langs, uint32_t capacity);
unsigned za_spans_enabled(void);
/* Move up to max finished spans (oldest first) into out: how many. */
size_t za_spans_drain(za_span *out, size_t max);
/* Wait until at least min spans are buffered or timeout_ms passed: the
 * count buffered. */
size_t za_spans_wait(size_t min, uint32_t timeout_ms);
/* Spans dropped because the buffer was full, since the process began. */
uint64_t za_spans_dropped(void);
/* Wait (up to timeout_ms) until no recorded handler is running: a flush
 * then sees the spans of handlers that ran before it. ZA_OK/ZA_ETIMEDOUT. */
int za_spans_quiesce(uint32_t timeout_ms);

/* A span of the caller (an ask or tell it makes): za_span_begin makes a new
 * span the current trace context (a child of the current one, or the root
 * of a new trace when there is none), so messages sent until za_span_end
 * carry it; za_span_end records it (if recording is on and it is sampled)
 * and restores the previous context. Same thread, properly nested. */
typedef struct za_span_scope {
    za_span span;
    int had; /* there was a current context before */
    za_trace prev;
} za_span_scope;
void za_span_begin(za_span_scope *sc, int kind, za_ref target);
void za_span_end(za_span_scope *sc, int failed);

/* -------------------------------------------------------- MessagePack values */

/*
 * The neutral value model (DESIGN.md): nil, bool, int64, double, str,
 * bytes, array, map, actor reference (MessagePack ext type ZA_MP_EXT_REF:
 * 16 bytes, the za_system_id of the ref's System then the ref, both
 * big-endian; an 8-byte body, the ref alone, is the form of unbound writers
 * and is read as a ref of the reader's own System). Built and read with
 * msgpack-c.
 */
#define ZA_MP_EXT_REF 1

typedef struct za_pack za_pack; /* a growable MessagePack writer */
za_pack *za_pack_new(void);
void za_pack_free(za_pack *p);
void za_pack_reset(za_pack *p);
int za_pack_nil(za_pack *p);
int za_pack_bool(za_pack *p, int v);
int za_pack_int(za_pack *p, int64_t v);
int za_pack_uint(za_pack *p, uint64_t v);
int za_pack_double(za_pack *p, double v);
int za_pack_str(za_pack *p, const char *s, size_t len);
int za_pack_bin(za_pack *p, const void *b, size_t len);
int za_pack_array(za_pack *p, uint32_t n); /* then n values */
int za_pack_map(za_pack *p, uint32_t n);   /* then n key, value pairs */
/* Refs are written with the identity of the System the writer is bound to
 * (za_pack_bind; unbound: the 8-byte form without identity). */
void za_pack_bind(za_pack *p, za_system *sys); /* NULL unbinds */
int za_pack_ref(za_pack *p, za_ref r);
int za_pack_ref_in(za_pack *p, za_system *sys, za_ref r); /* a ref of sys, whatever the binding */
const void *za_pack_data(const za_pack *p);
size_t za_pack_size(const za_pack *p);

typedef enum za_vtype {
    ZA_V_NIL,
    ZA_V_BOOL,
    ZA_V_INT,
    ZA_V_UINT,
    ZA_V_DOUBLE,
    ZA_V_STR,
    ZA_V_BIN,
    ZA_V_ARRAY,
    ZA_V_MAP,
    ZA_V_REF
} za_vtype;

typedef struct za_value za_value;
struct za_value {
    za_vtype type;
    union {
        int b;
        int64_t i;  /* ZA_V_INT */
        uint64_t u; /* ZA_V_UINT: only for values > INT64_MAX */
        double d;
        za_ref ref; /* ZA_V_REF (== refx.ref) */
        struct {
            za_ref ref;
            uint64_t system; /* za_system_id of the ref's System; 0: not said */
        } refx;              /* set by the decoders; za_pack_value writes only .ref */
        struct {
            const char *ptr;
            uint32_t len;
        } str; /* STR and BIN; not NUL-terminated */
        struct {
            za_value *items;
            uint32_t n;
        } array;
        struct {
            za_value *keys;
            za_value *vals;
            uint32_t n;
        } map;
    } v;
};

/* A decoded document: root plus the memory behind it. */
typedef struct za_doc za_doc;
/* Decode exactly one value spanning all of data[0..len). ZA_EVALUE with a
 * message on empty, malformed or truncated input, trailing bytes, an unknown
 * ext type, or nesting deeper than 32 levels (msgpack-c's own limit). The
 * document keeps its own copy of the bytes. */
int za_doc_decode(const void *data, size_t len, za_doc **out);
/* The same, for a reader in System sys: a ref that carries another System's
 * identity is refused (ZA_EVALUE, "foreign actor reference ...") instead of
 * being read as a ref of sys, where it would name an unrelated actor. */
int za_doc_decode_in(za_system *sys, const void *data, size_t len, za_doc **out);
const za_value *za_doc_root(const za_doc *d);
void za_doc_free(za_doc *d);
/* Append a value tree to a writer (round trip). */
int za_pack_value(za_pack *p, const za_value *v);

/* Send a built value (copies the bytes). */
int za_tell_pack(za_system *sys, za_ref to, int32_t tag, const za_pack *p);

/* ----------------------------------------------------------------- storage */

/*
 * Persistent state and event journals (csrc/store/): the provider shapes of
 * Orleans' IGrainStorage (read / write-if-version / clear) and Akka's
 * AsyncWriteJournal (append-if-sequence / replay-from / highest / delete-to).
 *
 * za_store_open picks the provider by URL scheme:
 *   sqlite:///abs/path.db  sqlite://rel/path.db   one file, WAL, group commit,
 *                          synchronous=FULL (the embedded default)
 *   redis://[user:pass@]host[:port][/db]          hiredis; atomic Lua scripts
 *   postgresql://... (or postgres://...)          libpq; any libpq URI
 *   memory://                                     in-process, for tests
 *
 * Values are bytes (MessagePack in the value model); keys are (type, id)
 * pairs of UTF-8 strings (type 0..255 bytes, id 1..1024 bytes, no NUL).
 *
 * Calls never do I/O on the caller's thread: a request goes to one of the
 * store's storage threads (chosen by hashing the key, so requests on one key
 * run in the order submitted) and completes through a callback, a message
 * to an actor, or a blocking wait. Each storage thread takes every request
 * queued for it (up to batch_max) and commits them in one transaction
 * (group commit); a completion is reported only after that commit, so a
 * successful write or append is durable when reported (SQLite
 * synchronous=FULL; PostgreSQL with its default fsync/synchronous_commit;
 * Redis when the server runs with appendonly yes + appendfsync always).
 *
 * Versions: a state's first write expects version 0 ("must not exist") and
 * stores version 1; each write expects the stored version and stores
 * expected + 1. A mismatch is ZA_ECONFLICT and nothing is written. Journal
 * sequence numbers start at 1; an append must carry highest + 1 (else
 * ZA_ECONFLICT). delete_to removes events <= seq but never lowers highest.
 */
typedef struct za_store za_store;

typedef enum za_store_op {
    ZA_STORE_READ = 1,  /* state: version + bytes (ZA_ENOTFOUND when absent) */
    ZA_STORE_WRITE,     /* state: write if the stored version == version */
    ZA_STORE_CLEAR,     /* state: delete if the stored version == version (ZA_STORE_ANY: always) */
    ZA_STORE_APPEND,    /* journal: append event number version (== highest + 1) */
    ZA_STORE_REPLAY,    /* journal: events with seq >= version, in order (at most max) */
    ZA_STORE_HIGHEST,   /* journal: highest sequence number ever appended (0: none) */
    ZA_STORE_DELETE_TO, /* journal: delete events with seq <= version */
} za_store_op;

#define ZA_STORE_ANY UINT64_MAX /* ZA_STORE_CLEAR: whatever the version */

typedef struct za_store_req {
    za_store_op op;
    const char *type; /* key part one, e.g. a grain type ("" allowed) */
    const char *id;   /* key part two: state key or journal id */
    const void *data; /* WRITE: the state; APPEND: the event (copied) */
    size_t len;
    uint64_t version; /* WRITE/CLEAR: expected version; APPEND: seq; REPLAY: from; DELETE_TO: to */
    uint32_t max;     /* REPLAY: at most this many events (0: all) */
    /* WRITE/CLEAR/APPEND/DELETE_TO: a fencing token (a grain lease's token;
     * 0: none). Refused with ZA_EFENCED, nothing written, when the key's
     * stored token is greater; on success the stored token becomes
     * max(stored, fence). */
    uint64_t fence;
} za_store_req;

typedef struct za_store_event {
    uint64_t seq;
    void *data;
    size_t len;
} za_store_event;

/* The outcome of a request (free it with za_store_result_free). */
typedef struct za_store_result {
    int status; /* ZA_OK, ZA_ENOTFOUND (READ), ZA_ECONFLICT, ZA_ESTORE, ZA_ECONNECT... */
    za_store_op op;
    uint64_t version; /* READ: stored version; WRITE: new version; CLEAR: 0; APPEND: seq;
                         REPLAY and HIGHEST: the journal's highest seq; DELETE_TO: highest */
    void *data;       /* READ: the state bytes (malloc'd) */
    size_t len;
    za_store_event *events; /* REPLAY: the events (malloc'd, each data malloc'd) */
    size_t nevents;
    char *error; /* text for an error status (malloc'd) or NULL */
} za_store_result;

void za_store_result_free(za_store_result *r); /* frees the contents, not r itself */

typedef struct za_store_opts {
    uint32_t threads;            /* storage threads (0: sqlite/memory 1, redis 2, postgresql 4) */
    uint32_t batch_max;          /* requests per group commit (0: 512) */
    uint32_t connect_timeout_ms; /* (0: 5000) */
} za_store_opts;

void za_store_opts_init(za_store_opts *o);

/* Open a store: ZA_EINVAL (bad or unknown URL), ZA_ECONNECT (server not
 * reachable), ZA_EAUTH (credentials refused), ZA_ESTORE (database error,
 * e.g. a file that is not a database); za_last_error() says what. */
int za_store_open(const char *url, const za_store_opts *opts, za_store **out);
/* Complete every request already submitted, then free. NULL: no-op. Not
 * from a storage callback. */
void za_store_close(za_store *st);
/* "sqlite", "redis", "postgresql" or "memory" */
const char *za_store_scheme(const za_store *st);

/* Completion callback: runs once on a storage thread (keep it short, do not
 * call the blocking store API from it). res is valid during the call; to
 * keep its contents, copy the struct and zero *res (the store frees what
 * is left in it afterwards). */
typedef void (*za_store_cb)(za_store_result *res, void *ud);

/* Submit a request; cb runs exactly once unless this returns an error
 * (ZA_EINVAL for a bad request, ZA_ESHUTDOWN once the store is closing). */
int za_store_submit(za_store *st, const za_store_req *req, za_store_cb cb, void *ud);

/* Blocking form for callers outside actors. Returns res->status (out is
 * filled in every case; free it). ZA_ETIMEDOUT when the request did not
 * complete in time: it may still complete later (outcome unknown). From a
 * worker thread: ZA_ESTATE (use za_ctx_store). */
int za_store_call(za_store *st, const za_store_req *req, uint32_t timeout_ms, za_store_result *out);

/*
 * Completion as a message: when the request completes, actor `to` receives a
 * message with this tag, kind ZA_PAYLOAD_PTR whose ptr is the
 * za_store_result (take it with za_msg_take_ptr to keep it; the runtime frees
 * it otherwise), za_msg.status = the result's status and za_msg.corr ==
 * *corr_out (like za_ctx_ask replies). A dead target makes it a dead letter.
 * The store's threads send into the system like any outside sender: close
 * the store (which completes its requests) before destroying the system.
 */
int za_store_tell(za_system *sys, za_store *st, const za_store_req *req, za_ref to, int32_t tag,
                  uint64_t *corr_out);
/* The same, to the calling actor itself. */
int za_ctx_store(za_ctx *ctx, za_store *st, const za_store_req *req, int32_t tag,
                 uint64_t *corr_out);

/* ------------------------------------------------------------------ grains */

/*
 * Virtual actors (csrc/grain/README.md), Orleans' model. A grain is named by
 * (type, key) and is never spawned: a message to its reference activates it
 * (its state is read from the system's store first, on a storage thread),
 * it is deactivated after idle_ms without a message, and the next message
 * activates it again from its stored state. At most one activation of a
 * grain exists in a system (in a cluster: in the cluster, see below).
 *
 * A grain reference (za_grain_ref) is a za_ref whose node field is
 * ZA_REF_GRAIN_NODE: za_tell, za_ask, za_ask_async, za_ctx_ask, timers...
 * take it like any reference and the directory routes each message to the
 * current activation (activating it when needed, holding messages while it
 * activates or deactivates; FIFO per sender is kept across reactivations).
 * Messages an activation sends carry the grain reference as sender, and
 * za_ctx_self returns it, so a reply to them reaches the grain even after it
 * was deactivated. za_stop on a grain reference deactivates it; za_is_alive
 * says whether it is active now.
 *
 * An activation is an actor of the class's behaviour, spawned with the
 * class's args, restart ZA_RESTART_NEVER: a failure (in start or receive)
 * ends the activation, and the next message activates it again from the
 * stored state. Its start may read the loaded state (za_ctx_grain_state,
 * za_ctx_grain_events). To deactivate, the runtime sends the activation a
 * ZA_TAG_DEACTIVATE message (after every message routed to it before); the
 * actor stops when that receive returns, unless the receive called
 * za_ctx_grain_defer (a binding finishing an async on_deactivate), in which
 * case it must call za_ctx_stop when done.
 *
 * State writes carry the activation's expected version (write-if-version):
 * a stale activation cannot overwrite a newer state. A save that fails with
 * ZA_ECONFLICT or ZA_EFENCED also deactivates the activation.
 *
 * In a cluster, a grain's home is chosen by rendezvous hashing of
 * (type, key) over the live members; messages to it go to its home node.
 * Before activating, the home takes a lease in Redis; the lease's token is
 * written with every state write and journal append as a fencing token, so
 * writes from an activation whose lease was taken over fail (ZA_EFENCED).
 */
typedef struct za_grain_class {
    const char *type;              /* 1..255 bytes of UTF-8, unique in the system; also
                                      the type part of the grain's storage keys */
    const za_behaviour *behaviour; /* the activations' behaviour */
    const void *args;              /* handed to start (copied at registration) */
    size_t args_len;
    uint32_t idle_ms;        /* deactivate after this long without a message (0: 600000) */
    int journaled;           /* 1: event sourced (za_ctx_grain_persist); 0: state snapshots */
    uint32_t snapshot_every; /* journaled: the binding snapshots every N events (0: never);
                                kept here so every language reads the same setting */
    uint32_t capacity;       /* activation mailbox bound (0: unbounded) */
} za_grain_class;

/* Register a grain class. ZA_EINVAL (bad type name, NULL behaviour),
 * ZA_EEXIST (the type is registered with another behaviour or args;
 * registering the same class again is ZA_OK). Reminders of this type that
 * fell due before it was registered fire once it is. */
int za_grain_register(za_system *sys, const za_grain_class *cls);
/* The reference of grain (type, key); nothing is activated. key: 1..1024
 * bytes of UTF-8 without NUL (ZA_EINVAL otherwise); ZA_ENOTFOUND when the
 * type is not registered. The same (type, key) always gives the same ref. */
int za_grain_ref(za_system *sys, const char *type, const char *key, za_ref *out);
/* The identity of a grain reference: pointers valid while sys lives.
 * ZA_EINVAL if ref is not a grain reference of this system. */
int za_grain_identity(za_system *sys, za_ref grain, const char **type, const char **key);

typedef enum za_grain_status {
    ZA_GRAIN_ACTIVATING = 1, /* reading state / waiting for the lease */
    ZA_GRAIN_ACTIVE = 2,
    ZA_GRAIN_DEACTIVATING = 3,
} za_grain_status;

typedef struct za_grain_info {
    const char *type, *key; /* valid during the callback */
    za_ref grain;           /* the grain reference */
    za_ref activation;      /* the actor now serving it (ZA_REF_NONE while activating) */
    za_grain_status status;
    uint64_t since_us; /* when this activation began (unix microseconds) */
    uint64_t idle_us;  /* time since its last message */
    uint64_t messages; /* messages routed to this activation */
    uint64_t version;  /* stored state version it last read or wrote (journaled: seq) */
} za_grain_info;

/* Visit this node's activations (a snapshot: fn runs outside the
 * directory's locks; a non-zero return stops the walk). *count = how many
 * were visited. */
int za_grain_list(za_system *sys, int (*fn)(const za_grain_info *g, void *ud), void *ud,
                  size_t *count);

/* --- inside an activation (ZA_ESTATE from an actor that is not one) --- */

/* 1 if the calling actor is a grain activation (then *grain is its ref). */
int za_ctx_grain(za_ctx *ctx, za_ref *grain);
/* The state read at activation: bytes (MessagePack in the value model),
 * NULL/0 when nothing was stored; *version the stored version (0: none).
 * Journaled grains: the latest snapshot's state (NULL: none) and *version
 * its sequence number. Valid until the activation ends. */
int za_ctx_grain_state(za_ctx *ctx, const void **data, size_t *len, uint64_t *version);
/* Journaled grains: the events after the snapshot, in order; *seq the
 * journal's highest sequence number. Valid until the activation ends. */
int za_ctx_grain_events(za_ctx *ctx, const za_store_event **events, size_t *n, uint64_t *seq);
/* Write the state (bytes: the binding's encoding of it, MessagePack) if
 * the stored version is still the one this activation holds; pipelined
 * (several saves in flight keep their order). Completion: a message with
 * `tag` (like za_ctx_store): za_msg.corr == *corr_out, za_msg.status ZA_OK
 * (the store's new version in the result) or ZA_ECONFLICT / ZA_EFENCED /
 * a store error. The bytes are copied. */
int za_ctx_grain_save(za_ctx *ctx, const void *data, size_t len, int32_t tag, uint64_t *corr_out);
/* Delete the stored state (write-if-version as above). */
int za_ctx_grain_clear(za_ctx *ctx, int32_t tag, uint64_t *corr_out);
/* Journaled: append an event at the next sequence number; completion as
 * for save (the result's version is the event's sequence number). */
int za_ctx_grain_persist(za_ctx *ctx, const void *data, size_t len, int32_t tag,
                         uint64_t *corr_out);
/* Journaled: store `state` as the snapshot at sequence `seq` (<= the
 * highest appended), so the next activation replays only what follows.
 * Completion as for save. */
int za_ctx_grain_snapshot(za_ctx *ctx, const void *state, size_t len, uint64_t seq, int32_t tag,
                          uint64_t *corr_out);
/* In the receive of ZA_TAG_DEACTIVATE: do not stop when this receive
 * returns; the actor calls za_ctx_stop itself once its on_deactivate ends. */
int za_ctx_grain_defer(za_ctx *ctx);
/* Ask the runtime to deactivate this activation once it is idle (as if its
 * idle time ran out now). */
int za_ctx_grain_deactivate(za_ctx *ctx);
/* The calling actor's own reference. For a grain activation it is the
 * activation's actor, where za_ctx_self gives the grain reference: a
 * message to it skips the grain directory, so it reaches the activation
 * even while the grain is deactivating (bindings resume the suspended
 * handlers of an async on_deactivate with it). Otherwise za_ctx_self. */
za_ref za_ctx_actor(za_ctx *ctx);

/*
 * Reminders: persistent timers of a grain, one store row each with the time
 * they last fired. A reminder sends the grain a ZA_TAG_REMINDER message
 * (activating it if needed) due_ms from now and then every period_ms (>=
 * 1000). They survive restarts of the process: on start, a reminder that
 * fell due while the process was down fires once at once, its payload
 * saying how many ticks were missed, unless created with catch_up = 0 (then
 * the missed ticks are skipped). Setting a name again replaces it.
 * Completion as for za_ctx_grain_save (status only).
 */
int za_ctx_grain_remind(za_ctx *ctx, const char *name, uint64_t due_ms, uint64_t period_ms,
                        int catch_up, int32_t tag, uint64_t *corr_out);
int za_ctx_grain_forget(za_ctx *ctx, const char *name, int32_t tag, uint64_t *corr_out);
/* The same from outside an activation (blocking, not on a worker:
 * ZA_ESTATE). forget: ZA_ENOTFOUND when there was no such reminder. */
int za_grain_remind(za_system *sys, za_ref grain, const char *name, uint64_t due_ms,
                    uint64_t period_ms, int catch_up, uint32_t timeout_ms);
int za_grain_forget(za_system *sys, za_ref grain, const char *name, uint32_t timeout_ms);

/* The system's store (za_config.storage), for persistence beyond grains. */
za_store *za_system_store(za_system *sys);

/* ----------------------------------------------------------------- cluster */

/*
 * A cluster: zactor processes that share a Redis membership table and talk
 * over ZeroMQ links (csrc/cluster/README.md). Create the cluster first (it
 * joins: this node gets its id), then a system with za_config.cluster set;
 * from then on za_tell/za_ask/za_watch/za_stop work on references of any
 * member, and za_register/za_lookup names are cluster-wide. Delivery between
 * nodes is at-most-once, FIFO per sender->receiver pair.
 *
 * Failure detection (Orleans' protocol): every node sends a heartbeat to
 * every member each heartbeat_ms over the same links as messages; a member
 * silent for suspect_ms gets this node's suspicion vote, written to Redis by
 * a Lua script; min(votes, live members - 1) votes within vote_window_ms
 * declare it dead (the table's version is bumped, every node applies it on
 * its next read, at most poll_ms later). Defaults: 300 ms, 3000 ms, 2, 10 s,
 * 500 ms: a kill -9 is seen everywhere in about 3.5-4 s; a pause shorter than
 * suspect_ms - heartbeat_ms (2.7 s) is never a verdict.
 */
typedef struct za_cluster_config {
    const char *redis;     /* "redis://[:password@]host[:port][/db]" (required) */
    const char *name;      /* cluster name: nodes with the same name form a cluster (required) */
    const char *listen;    /* "tcp://host:port", port 0 = any free one (NULL: tcp://127.0.0.1:0) */
    const char *advertise; /* endpoint other nodes dial (NULL: the bound one) */
    const char *node_name; /* unique among live members (NULL: "node-<id>") */
    const char *secret;    /* NULL, or the cluster key (za_cluster_secret_new): links use
                              ZeroMQ CURVE, only holders of the key can connect */
    int insecure;          /* 1: allow a non-loopback listen without a secret */
    uint32_t heartbeat_ms; /* 0: 300 */
    uint32_t suspect_ms;   /* 0: 3000 */
    uint32_t votes;        /* 0: 2 */
    uint32_t vote_window_ms;   /* 0: 10000 */
    uint32_t poll_ms;          /* 0: 500 (table reads) */
    uint32_t redis_timeout_ms; /* 0: 1000 (connect and command timeout) */
} za_cluster_config;

void za_cluster_config_init(za_cluster_config *cfg);
/* A new random cluster key: 40 printable characters (Z85 of 32 bytes) and
 * a NUL into out. Give the same key to every node (keep it out of logs). */
int za_cluster_secret_new(char out[41]);
/* Bind, connect to Redis and join. ZA_EINVAL (bad setting), ZA_ECONNECT
 * (Redis unreachable), ZA_EEXIST (node_name taken by a live member). */
int za_cluster_create(const za_cluster_config *cfg, za_cluster **out);
/* Leave (if no system uses it any more) and free. NULL is a no-op. A system
 * created with the cluster keeps it alive until za_system_destroy. */
void za_cluster_destroy(za_cluster *c);

typedef struct za_node_info {
    uint32_t id;
    uint64_t epoch; /* incarnation: start time in microseconds */
    char name[64];
    char endpoint[128];
} za_node_info;

/* This node. */
int za_cluster_self(za_cluster *c, za_node_info *out);
/* Live members (this one included) into out[0..cap); *n = how many there
 * are (may exceed cap). A member appears once this node read it from the
 * table (within poll_ms of its join), which is also when ZA_NODE_UP fires. */
int za_cluster_nodes(za_cluster *c, za_node_info *out, size_t cap, size_t *n);
/* The cluster of a system (NULL if none). */
za_cluster *za_system_cluster(za_system *sys);
/* The node id in this system's references (0 outside a cluster). */
uint32_t za_system_node(const za_system *sys);

typedef enum za_node_event_kind {
    ZA_NODE_UP = 1,       /* a member joined (or was first seen) */
    ZA_NODE_DOWN = 2,     /* a member was declared dead or left */
    ZA_NODE_EXPELLED = 3, /* THIS node was declared dead: it stays out */
} za_node_event_kind;
/* Runs on the cluster's membership thread; keep it short. NULL removes. */
typedef void (*za_node_event_fn)(za_node_event_kind kind, const za_node_info *node, void *ud);
void za_cluster_on_event(za_cluster *c, za_node_event_fn fn, void *ud);

typedef struct za_cluster_stats {
    uint64_t sent;          /* envelopes handed to the network */
    uint64_t received;      /* envelopes received and accepted */
    uint64_t batches_out;   /* network messages sent (each holds 1+ envelopes) */
    uint64_t malformed;     /* frames or envelopes dropped as malformed */
    uint64_t fenced;        /* dropped: from a node declared dead / old incarnation */
    uint64_t dropped;       /* outbound dropped (peer queue full or no route) */
    uint64_t votes;         /* suspicion votes this node cast */
    uint64_t nodes_down;    /* verdicts this node applied */
    uint64_t redis_errors;  /* failed Redis round trips (outage) */
    uint64_t table_version; /* the membership table version last read */
    uint64_t auth_failed;   /* connections refused: no or wrong key, not CURVE */
} za_cluster_stats;
int za_cluster_stats_read(za_cluster *c, za_cluster_stats *out);

/*
 * Remote spawn (csrc/cluster/remote_spawn.c): spawn an actor on another member.
 * The caller names the node (its name, or its id in decimal), a kind
 * ("c": a native behaviour; "lua", "python": what the receiving node's
 * bindings registered) and what to spawn: for "c" a behaviour registered
 * with za_cluster_spawn_behaviour, or "path/to/lib.so:symbol" (loaded with
 * za_behaviour_load on the receiving node); for "lua" a Lua spec as for
 * za_lua_spawn; for "python" "package.module:Class". args are handed over
 * as given: raw bytes for "c" (the behaviour's start args), a MessagePack
 * array of constructor / init arguments for "lua" and "python".
 *
 * A node spawns for others only what it allowed: a behaviour registered
 * with za_cluster_spawn_behaviour, or a `what` matching one of its
 * za_cluster_spawnable patterns (exact, or a prefix ending in '*'; "*"
 * alone, anything of any kind, only in a cluster with a secret). Anything
 * else is refused with ZA_EAUTH and a text that names the node and `what`.
 * Spawning runs arbitrary code on the receiving node (dlopen, import), so
 * the default is to refuse everything.
 */
/* The receiving side's handler of a kind; runs on the cluster's spawn
 * thread (never a worker; may block). ZA_OK with *out, or an error code
 * with a text in err. */
typedef int (*za_spawn_handler_fn)(za_system *sys, const char *what, const void *args,
                                   size_t args_len, const char *name, za_ref *out, char *err,
                                   size_t errcap, void *ud);
/* Register (fn) or remove (NULL: waits until a call in progress returned)
 * the handler of a kind (1..15 characters). "c" is built in. */
int za_cluster_spawn_handler(za_cluster *c, const char *kind, za_spawn_handler_fn fn, void *ud);
/* Allow remote spawns whose `what` matches pattern. ZA_EINVAL for "*"
 * without a secret. */
int za_cluster_spawnable(za_cluster *c, const char *pattern);
/* Offer a native behaviour under a name (kind "c"): allowed by this call. */
int za_cluster_spawn_behaviour(za_cluster *c, const char *name, const za_behaviour *beh);
/* Spawn on node (name or decimal id) and wait up to timeout_ms (0: 10 s)
 * for its reference. name: register the new actor under it (cluster-wide),
 * or NULL. Not from inside an actor (ZA_ESTATE). Errors: ZA_ENODEDOWN (no
 * live member by that name or id), ZA_EAUTH (the node does not allow it),
 * ZA_ENOTFOUND (no such behaviour / module / symbol there), ZA_EVALUE (a
 * Lua compile error), ZA_ESTART (its start failed), ZA_EEXIST (name
 * taken), ZA_ETIMEDOUT; za_last_error() has the receiving node's text. On
 * this node itself, the handler runs here (no allow-list: it is our own
 * decision). */
int za_cluster_spawn(za_system *sys, const char *node, const char *kind, const char *what,
                     const void *args, size_t args_len, const char *name, uint32_t timeout_ms,
                     za_ref *out);
/* Resolve a node given by name or decimal id among the live members:
 * ZA_OK with *id, or ZA_ENODEDOWN. */
int za_cluster_node_id(za_cluster *c, const char *node, uint32_t *id);

/*
 * Pickled Python objects between Python nodes (opt-in, secret only: loading
 * a pickle runs code). The Python binding sends a value it cannot encode as
 * MessagePack with this tag and pickle bytes when its cluster allows it;
 * the receiving node delivers such a message only to a Python actor and
 * only if za_cluster_allow_pickle was set there: anything else is a dead
 * letter (ZA_DL_DEAD_TARGET) and an ask is answered ZA_EINVAL with a text
 * that says why, never a crash.
 */
#define ZA_TAG_PICKLE 0x7A505980 /* (the Python glue's own tags are 0x7A5059xx below it) */
/* on = 1: accept ZA_TAG_PICKLE messages for Python actors. ZA_EINVAL
 * without a secret. */
int za_cluster_allow_pickle(za_cluster *c, int on);
/* 1 if this node accepts pickled messages. */
int za_cluster_pickle_allowed(za_cluster *c);

#ifdef __cplusplus
}
#endif
#endif /* ZACTOR_H */
