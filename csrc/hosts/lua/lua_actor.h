/*
 * lua_actor.h - what the Lua host's files share (private; the public API is
 * ../lua_host.h). See DESIGN.md, "Lua host".
 *
 * Shape of one Lua actor:
 *  - its own lua_State, created with an allocator that counts bytes and
 *    refuses to grow past the actor's memory limit (Lua then raises a
 *    memory error, which fails only this actor)             -> alloc.c;
 *  - only base and string are opened up front, the other safe libraries
 *    when the behaviour names them, io/os only when asked   -> actor.c;
 *  - the sandbox: text-only load, no string.dump, no require/package,
 *    dofile/loadfile only with io/os (text only)            -> sandbox.c;
 *  - the behaviour chunk is compiled once per spec (lua_dump into a
 *    process-wide cache) and loaded from bytecode per actor -> proto.c;
 *  - handlers run in pooled coroutines: a finished coroutine is reset and
 *    reused, so a message costs one lua_resume, not a lua_newthread;
 *    ctx:ask yields the handler's coroutine; the reply comes back as a
 *    message with msg->corr set and resumes that coroutine, while other
 *    messages keep being served                             -> run.c;
 *  - every piece of Lua work runs in protected mode (lua_pcall or
 *    lua_resume), because an unprotected error would abort the process;
 *  - a runaway handler is stopped by an instruction hook that a watchdog
 *    thread arms only when a handler has run longer than its budget: a
 *    permanent count hook would slow every actor about 2x  -> watchdog.c;
 *    the hook follows the innermost running coroutine (wrapped
 *    coroutine.resume/wrap/close), and the string pattern functions are
 *    an own matcher that polls the same budget            -> patterns.c;
 *  - values cross as MessagePack                            -> codec.c;
 *  - what a handler sees: refs and ctx                      -> api_ref.c,
 *    api_ctx.c, opts.c; numbers from Lua follow one rule   -> numbers.c.
 */
#ifndef ZA_LUA_ACTOR_H
#define ZA_LUA_ACTOR_H

#define ZA_LUA_HOST_WANT_LUA_API 1
#include "hosts/lua_host.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#define ZA_LUA_MAX_DEPTH 32     /* msgpack-c's own nesting limit */
#define ZA_LUA_GRACE (1u << 20) /* extra bytes while reporting a failure */
#define ZA_LUA_POOL_MAX 4       /* idle coroutines kept per actor */

#define ZA_LUA_SMALL_STEP 16u /* small-block cache: size classes of 16 bytes */
#define ZA_LUA_SMALL_MAX 128u
#define ZA_LUA_SMALL_CLASSES (ZA_LUA_SMALL_MAX / ZA_LUA_SMALL_STEP)

/* ------------------------------------------------------------- proto.c */

/* A compiled behaviour, cached per (spec, search path). Actors point at it
 * from their (copied, kept for restarts) spawn arguments and hold a
 * reference from spawn to final stop; idle ones stay cached, bounded (LRU). */
typedef struct za__lua_proto {
    char *key;          /* spec as given */
    const char *search; /* interned search path a module name was resolved
                           with (NULL for source text and file paths) */
    char *chunkname;    /* "@path" or "=source" for tracebacks */
    char *code;         /* lua_dump output */
    size_t len;
    unsigned libs; /* za__lua_lazy_libs the bytecode names: opened at every spawn */
    uint64_t hash;
    size_t refs; /* actors using it (0: on the idle LRU list) */
    struct za__lua_proto *hnext, *lprev, *lnext;
} za__lua_proto;

/* The search path to use: path as given, or the environment's default
 * (LUA_PATH_5_4, LUA_PATH, "./?.lua;./?/init.lua"). Interned: the result
 * lives for the process, so spawn headers carry it as a pointer and equal
 * paths compare equal as pointers. NULL: out of memory. */
const char *za__lua_search_path(const char *path);
/* Find or compile the behaviour for spec; a module name is resolved in
 * search (from za__lua_search_path). NULL with a message in err. The caller
 * owns a reference: give it back with za__lua_proto_release. */
const za__lua_proto *za__lua_proto_get(const char *spec, const char *search, char *err,
                                       size_t errlen);
void za__lua_proto_release(const za__lua_proto *p);

/* ------------------------------------------------------------- actor.c */

/* Opened only when a behaviour's bytecode names them, or on first use
 * (actor.c says why); proto.c scans the bytecode for these names. */
extern const luaL_Reg za__lua_lazy_libs[];

/* ------------------------------------------------------------ the actor */

/* One ask a run waits on (asks.c): the id its answer carries, and the
 * handle that gives it up (a reply slot; in a stop handler an
 * za_ask_handle). */
typedef struct za__lua_wait {
    uint64_t corr; /* 0: answered (or never sent) */
    void *h;
} za__lua_wait;

/* One handler execution (run.c): a pooled coroutine plus what it must
 * answer. ctx:ask (api_ctx.c) parks it until its reply comes. */
typedef struct za__lua_run {
    lua_State *co;
    int anchor;          /* registry ref keeping co alive */
    int want_reply;      /* the message that started it was an ask */
    za_reply_slot *slot; /* taken reply slot (after the handler yielded) */
    za_ref sender;
    uint64_t wait_corr; /* corr of the ctx:ask it waits on (0: none) */
    struct za__lua_run *next;
    za__lua_wait *wait_set; /* ctx:ask_all/first: the asks still awaited, or NULL */
    uint32_t wait_n;
    int in_stop;    /* the run of a stop handler (stopwait.c) */
    void *wait_h;   /* the handle of the ctx:ask it waits on (asks.c), or NULL */
    za_ref wait_to; /* the actor its ctx:ask waits on (re-entry, stash.c), or none */
    int role;       /* ZA__LUA_ROLE_*: what its end means (persist.c), 0: a plain handler */
    uint64_t chain; /* call chain (za_chain_new): its message's, else made at its first ask */
} za__lua_run;

/* Asks a handler makes carry its call chain, so any cycle of asks that
 * comes back here re-enters (stash.c). A handler whose message carried no
 * chain gets one at its first ask (not per message: most never ask).
 * Returns the previous chain, for za_chain_enter after the ask. */
static inline uint64_t za__lua_chain_enter(za__lua_run *run) {
    if (!run->chain) run->chain = za_chain_new();
    return za_chain_enter(run->chain);
}

typedef struct za__lua_stashed za__lua_stashed; /* stash.c */

typedef struct za__lua_slab za__lua_slab; /* alloc.c */

typedef struct za__lua_actor {
    lua_State *L;
    size_t used, limit;
    void *small[ZA_LUA_SMALL_CLASSES]; /* free lists (see alloc.c) */
    za__lua_slab *slabs;
    char *bump, *bump_end; /* unused tail of the newest slab */
    size_t slab_next;
    int grace; /* allow ZA_LUA_GRACE more while reporting a failure */
    za_system *sys;
    za_ctx *ctx; /* valid during the current callback only */
    za_ref self;
    uint32_t restarts;
    const char *search;         /* interned module search path for ctx:spawn */
    const za__lua_proto *proto; /* its reference is given back at the final stop */
    int ref_receive, ref_stop, ref_init, ref_down, ref_ctx;
    za__lua_run *cur, *pool, *waiting;
    int npool;
    int stopping; /* in the stop callback */
    za_pack *pack;
    char fail[512];

    /* Watchdog: `running` is the state executing Lua right now (NULL when
     * idle), `seq` counts handler starts; both change under `lock`. */
    atomic_flag lock;
    _Atomic(lua_State *) running;
    _Atomic uint32_t seq;
    uint32_t wd_seq, wd_stuck_ms; /* the watchdog's own */
    int armed;                    /* the budget hook is set on `running` */
    _Atomic int over_budget;      /* polled by C loops the hook cannot stop (patterns.c) */
    uint32_t budget_ms;
    struct za__lua_actor *wprev, *wnext;
    uint32_t concurrency;                /* handlers in progress at once (stash.c) */
    za__lua_stashed *stash, *stash_tail; /* messages waiting for a free handler */
    uint64_t spawn_id;                   /* unique per spawn, kept by restarts: keys a carried stash
                                            (0: grain activations, never restarted) */

    /* Grains and persistent actors (grain.c, persist.c). */
    int grain;               /* a grain activation */
    int journaled;           /* event sourced: ctx:persist, apply */
    uint32_t snapshot_every; /* journaled: snapshot every N events (0: never) */
    char *pid;               /* persistent actor: its persistence_id (malloc'd) */
    uint64_t pversion;       /* persistent actor: the version the next save expects */
    int gate;                /* the startup run (load, init, on_activate) is in progress:
                                every other message waits in the stash */
    int deactivating;        /* 1: ZA_TAG_DEACTIVATE came (stop once idle); 2: stopping */
    int stale;               /* a write conflicted or was fenced: no more writes */
    void *init_args;         /* init's MessagePack arguments until the startup run */
    size_t init_len;
    int ref_apply, ref_activate, ref_deactivate, ref_reminder;
    uint32_t stop_timeout_ms;        /* the behaviour's stop_timeout (stopwait.c) */
    uint64_t stop_wake_ns;           /* a stop handler's ctx:sleep ends then (0: none) */
    struct za__lua_stopbox *stopbox; /* answers to a waiting stop handler's asks */
    /* State reuse (statepool.c): `pristine` the state has a snapshot and
     * may be reset for another actor; `libs` the lazy libraries opened
     * before the snapshot; `tainted` it must not be reused (an allocation
     * was refused, or a finalizer was set: sandbox.c). */
    int pristine, tainted;
    unsigned libs;
    /* The compiled behaviour kept in a reused state: `chunk` is the proto
     * whose loaded main function the registry holds (the state owns a
     * reference to it), `chunk_new` one loaded in this life. */
    const za__lua_proto *chunk, *chunk_new;
    const void *ref_mt; /* the state's ref metatable (za__lua_check_ref's fast test) */
} za__lua_actor;

/* Every state and coroutine of an actor carries it in its extra space. */
static inline za__lua_actor *za__lua_actor_of(lua_State *L) {
    return *(za__lua_actor **)lua_getextraspace(L);
}

static inline void za__lua_set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The runtime's detail for the last error, else the code's text. */
static inline const char *za__lua_err_text(int rc) {
    const char *t = za_last_error();
    return (t && *t) ? t : za_strerror(rc);
}

/* The encode buffer (a->pack) keeps its largest size: after a message
 * above this it is replaced by a fresh one, so an idle actor never keeps a
 * big buffer outside its memory_limit. */
#define ZA_LUA_PACK_KEEP (64u << 10)
void za__lua_pack_trim(za__lua_actor *a); /* run.c */
static inline void za__lua_pack_after(za__lua_actor *a, size_t used) {
    if (used > ZA_LUA_PACK_KEEP) za__lua_pack_trim(a);
}

/* The spawn header every Lua actor's start reads (actor.c), ahead of the
 * persistence id (pid_len bytes) and the MessagePack init arguments. */
#define ZA__LUA_GRAIN 1u     /* the class of a grain */
#define ZA__LUA_JOURNALED 2u /* ...of a journaled grain */
typedef struct za__lua_spawn_hdr {
    uint32_t magic;
    uint32_t budget_ms;
    const za__lua_proto *proto;
    const char *search; /* for the actor's own ctx:spawn */
    size_t memory_limit;
    int open_io_os;
    uint32_t concurrency; /* 0: the behaviour's field, else 1 */
    uint32_t flags;       /* ZA__LUA_GRAIN, ZA__LUA_JOURNALED */
    uint32_t snapshot_every;
    uint32_t pid_len;  /* bytes of persistence id after the header */
    uint64_t spawn_id; /* unique per spawn, the same for every incarnation (stash.c);
                          0 for grain classes (compared byte for byte) */
} za__lua_spawn_hdr;
#define ZA_LUA_MAGIC 0x7a4c7561u /* "zLua": guards the spawn args header */

/* Open the libraries and the sandbox of an actor state (actor.c): base,
 * string, the lazy ones the bytecode names (libs), io/os when asked, refs
 * and the global zactor table. */
void za__lua_open_env(lua_State *L, int open_io_os, unsigned libs);

/* ------------------------------------------------------------- alloc.c */

/* The lua_Alloc of actor states (ud: the actor). */
void *za__lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Free the actor's slabs (after lua_close). */
void za__lua_alloc_free(za__lua_actor *a);

/* --------------------------------------------------------- statepool.c */

/* Record the state's pristine point (everything reachable from the
 * registry and the string metatable). 0, or -1 (out of memory). */
int za__lua_pristine_take(lua_State *L);
/* A pooled actor (state reset, fields zeroed but the state's, its
 * allocator's, pack and ref_ctx; not registered with the watchdog) whose
 * state holds at most limit bytes, or NULL. */
za__lua_actor *za__lua_pool_take(size_t limit);
/* Reset a stopping actor's state to its pristine point. 0: done (the caller
 * unregisters it from the watchdog, then za__lua_pool_put); -1: the state
 * cannot be reused (close it as usual). */
int za__lua_pool_reset(za__lua_actor *a, int final);
/* Keep a reset actor for reuse, or free it when the pool is full. */
void za__lua_pool_put(za__lua_actor *a);
/* Close and free a reset (or pooled) actor. */
void za__lua_pool_discard(za__lua_actor *a);
/* Push the main function of p's chunk if this (reused) state keeps it: 1,
 * else 0 (nothing pushed). */
int za__lua_cached_chunk(lua_State *L, za__lua_actor *a, const za__lua_proto *p);
/* With p's freshly loaded main function on top: keep it for the state's
 * next actors (sandboxed states only). */
void za__lua_cache_chunk(lua_State *L, za__lua_actor *a, const za__lua_proto *p);
/* The state is closed: give back its reference to the kept chunk's proto. */
void za__lua_chunk_drop(za__lua_actor *a);

/* ---------------------------------------------------------- watchdog.c */

int za__lua_wd_add(za__lua_actor *a);
void za__lua_wd_remove(za__lua_actor *a);
/* The coroutine library of actors: resume, wrap and close tell the
 * watchdog which coroutine runs, so the budget covers every coroutine. */
int za__lua_open_coroutine(lua_State *L);

static inline void za__lua_spin_lock(atomic_flag *f) {
    while (atomic_flag_test_and_set_explicit(f, memory_order_acquire)) {
    }
}
static inline void za__lua_spin_unlock(atomic_flag *f) {
    atomic_flag_clear_explicit(f, memory_order_release);
}

/* Bracket every piece of Lua work: co is the state about to run. Per
 * message, so inline: two uncontended spin-lock pairs per handler. */
static inline void za__lua_mark_running(za__lua_actor *a, lua_State *co) {
    za__lua_spin_lock(&a->lock); /* the lock orders these; relaxed avoids extra fences */
    atomic_store_explicit(&a->running, co, memory_order_relaxed);
    atomic_store_explicit(&a->seq, atomic_load_explicit(&a->seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    za__lua_spin_unlock(&a->lock);
}

static inline void za__lua_mark_idle(za__lua_actor *a, lua_State *co) {
    za__lua_spin_lock(&a->lock);
    atomic_store_explicit(&a->running, NULL, memory_order_relaxed);
    if (a->armed) {
        if (co) lua_sethook(co, NULL, 0, 0);
        a->armed = 0;
        atomic_store_explicit(&a->over_budget, 0, memory_order_relaxed);
    }
    za__lua_spin_unlock(&a->lock);
}

/* ----------------------------------------------------------- sandbox.c */

/* Replace load (text only), and dofile/loadfile (text only with
 * open_io_os, else removed) in the global table. */
void za__lua_sandbox_base(lua_State *L, int open_io_os);
/* luaopen for the string library of actors (no dump, bounded patterns). */
int za__lua_open_string(lua_State *L);

/* ---------------------------------------------------------- patterns.c */

/* Replace find/match/gmatch/gsub of the string table at strlib with
 * matchers that stop at the handler budget. */
void za__lua_bound_patterns(lua_State *L, int strlib);

/* ------------------------------------------------------------- codec.c */

/* Decode a message payload and push it (empty: nil); raises a Lua error on
 * malformed input. */
void za__lua_push_payload(lua_State *L, const void *data, size_t len);
/* Encode the value at idx into the actor's scratch pack, or raise. */
const void *za__lua_encode_or_raise(lua_State *L, za__lua_actor *a, int idx, size_t *len);

/* ----------------------------------------------------------- api_ref.c */

int za__lua_is_ref(lua_State *L, int idx);
za_ref za__lua_check_ref(lua_State *L, int idx);
/* A plain ref (no system attached): the za_lua_push_ref_fn used by default. */
void za__lua_push_ref(lua_State *L, za_ref r, void *ud);
void za__lua_push_ref_or_nil(lua_State *L, za_ref r);
/* ref:tell(v) inside an actor; ctx:tell(ref, v) is the same call. */
int za__lua_ref_tell(lua_State *L);
/* The ref metatable of an actor state (with the methods a handler may use). */
void za__lua_open_refs(lua_State *L);

/* ----------------------------------------------------------- api_ctx.c */

/* Create the actor's ctx object and return its registry ref. */
int za__lua_new_ctx(lua_State *L);

/* --------------------------------------------------------------- run.c */

/* The za_behaviour receive of Lua actors. */
int za__lua_receive(za_ctx *ctx, const za_msg *m);

/* ctx:sleep (sleep.c): its timer message's tag, and the token bit. */
#define ZA__LUA_TAG_SLEEP 0x7A4C5301
#define ZA__LUA_SLEEP_TOKEN_BIT (1ull << 63)
int za__lua_ctx_sleep(lua_State *L);
/* ctx:node(), ctx:nodes() (api_cluster.c) */
int za__lua_ctx_node(lua_State *L);
int za__lua_ctx_nodes(lua_State *L);
uint64_t za__lua_sleep_token(const za_msg *m);

/* ctx:ask_all, ctx:first (askall.c): a run waiting on several asks has
 * this wait_corr. */
#define ZA__LUA_WAIT_SET UINT64_MAX
int za__lua_ctx_ask_all(lua_State *L);
int za__lua_ctx_first(lua_State *L);
/* Is corr one of the asks run waits on? */
int za__lua_in_wait_set(const za__lua_run *run, uint64_t corr);
/* Give up the asks of the wait set still pending (asks.c) and free it. */
void za__lua_wait_set_free(za__lua_run *run);
int za__lua_ask_result(lua_State *L, const za_msg *m);

/* asks.c: the asks a handler waits on. Sent as za_ctx_ask (the answer
 * comes back as a message) in a handler, as a callback ask in a stop
 * handler (stopwait.c). Returns a za_ code (za_last_error has the text). */
int za__lua_ask_send(za__lua_actor *a, za__lua_run *run, za_ref to, const void *d, size_t len,
                     uint32_t timeout_ms, uint64_t *corr, void **h);
/* Its answer arrived: drop the handle. */
void za__lua_ask_done(za__lua_run *run, void *h);
/* Give it up: a later answer becomes a late_reply dead letter (counted). */
void za__lua_ask_cancel(za__lua_run *run, void *h);
/* Give up everything run waits on (its ask, its wait set). */
void za__lua_run_unwait(za__lua_run *run);
/* Suspended handlers, process-wide (zactor.live_handlers): a run is
 * counted from its suspension to its resumption or closing. */
void za__lua_live_add(int n);

/* stopwait.c: stop handlers that wait (ctx:ask, ctx:sleep, ask_all,
 * first), bounded by the behaviour's stop_timeout (default 1 s). */
int za__lua_read_stop_timeout(lua_State *L, int t, za__lua_actor *a);
/* Run the stop handler; 0, or -1 if it failed or ran out of time (then
 * reported on stderr, its to-be-closed variables run). */
int za__lua_stop_call(za__lua_actor *a);
/* The callback ask of a stop handler (used by za__lua_ask_send). */
int za__lua_stop_ask(za__lua_actor *a, za_ref to, const void *d, size_t len, uint32_t timeout_ms,
                     uint64_t *corr, void **h);
/* ctx:sleep in a stop handler: wake the driver at now + ms. */
void za__lua_stop_sleep(za__lua_actor *a, uint32_t ms);

/* concurrency (stash.c) */
int za__lua_read_concurrency(lua_State *L, int t, za__lua_actor *a);
int za__lua_busy(const za__lua_actor *a);
/* 1 if m was stashed (its reply slot taken): wait for a free handler.
 * chain: the message's call chain (za_ctx_chain). */
int za__lua_stash_if_busy(za__lua_actor *a, za_ctx *ctx, const za_msg *m, uint64_t chain);
za__lua_stashed *za__lua_stash_pop(za__lua_actor *a);
const za_msg *za__lua_stashed_msg(za__lua_stashed *s);
za_reply_slot *za__lua_stashed_slot(za__lua_stashed *s);
uint64_t za__lua_stashed_chain(za__lua_stashed *s);
/* The final stop: stashed messages become dead letters, their askers are
 * told the actor stopped. */
void za__lua_stash_free(za__lua_actor *a);
/* A restart keeps stashed messages: the stopping incarnation leaves them
 * (carry), the next one takes them back first (adopt; 1 if it did). */
void za__lua_stash_carry(za__lua_actor *a);
int za__lua_stash_adopt(za__lua_actor *a);
/* The message an incarnation that adopted a stash sends itself, so the
 * stash is served even if nothing else arrives. */
#define ZA__LUA_TAG_DRAIN 0x7A4C5302
/* Close the suspended handlers (their to-be-closed variables run, their
 * askers are told), at stop and restart, before the stop handler. */
void za__lua_runs_close(za__lua_actor *a);
/* Free the actor's pooled and waiting runs (waiting asks get an error). */
void za__lua_runs_free(za__lua_actor *a);
/* A run from the actor's pool (or a new one); NULL when out of memory. */
za__lua_run *za__lua_get_run(za__lua_actor *a);
/* Close one suspended run: its to-be-closed variables run (a failing
 * __close is printed with the actor's id); the run itself stays. */
void za__lua_run_close(za__lua_actor *a, za__lua_run *r);
/* The traceback of a failed coroutine into a->fail. */
void za__lua_describe_failure(za__lua_actor *a, lua_State *co, int st);
/* The error value at idx as text (pushed, and returned): a string as is,
 * nil as "nil", a table by its __tostring or a short rendering of its
 * fields, anything else by tostring. */
const char *za__lua_error_text(lua_State *L, int idx);

/* ------------------------------------------------ persist.c, grain.c */

/* What a run's end means. */
#define ZA__LUA_ROLE_STARTUP 1    /* load the state, init, on_activate */
#define ZA__LUA_ROLE_DEACTIVATE 2 /* on_deactivate; the actor stops after it */
/* The synthetic message of the startup run, and the tag of store
 * completions (matched by corr, like ask replies). */
#define ZA__LUA_TAG_STARTUP 0x7A4C5302
#define ZA__LUA_TAG_STORE 0x7A4C5303
/* Start a run for a synthetic message in role (run.c). */
int za__lua_start_role(za__lua_actor *a, const za_msg *m, int role);
/* A run of role ended (ok: 1, else it failed). */
void za__lua_role_done(za__lua_actor *a, int role, int ok);
/* Actor start, after the behaviour loaded (setup ran): for grains and
 * persistent actors, start the startup run. 0 or -1 (failed, reported). */
int za__lua_persist_start(za__lua_actor *a, const za__lua_spawn_hdr *h, const void *args,
                          size_t len);
/* Read the grain handlers (on_activate, ...) of the behaviour table at t. */
void za__lua_grain_handlers(lua_State *L, int t, za__lua_actor *a);
/* In run_entry, for the special tags (startup, reminder, deactivate):
 * push the function to call and its arguments; the count, or -1: nothing
 * to call. */
int za__lua_special_push(lua_State *L, const za_msg *m);
/* za__lua_receive: ZA_TAG_DEACTIVATE for a grain (never stashed). */
void za__lua_grain_deactivate(za__lua_actor *a, za_ctx *ctx);
/* After a receive: a deactivating grain with nothing in progress runs its
 * on_deactivate, then stops. */
int za__lua_grain_maybe_stop(za__lua_actor *a);
/* ctx methods (persist.c, grain.c) */
int za__lua_ctx_state(lua_State *L);
int za__lua_ctx_save(lua_State *L);
int za__lua_ctx_clear(lua_State *L);
int za__lua_ctx_persist(lua_State *L);
int za__lua_ctx_remind(lua_State *L);
int za__lua_ctx_forget(lua_State *L);
int za__lua_ctx_key(lua_State *L);
int za__lua_ctx_deactivate(lua_State *L);
int za__lua_ctx_grain(lua_State *L);
void za__lua_persist_free(za__lua_actor *a);

#endif /* ZA_LUA_ACTOR_H */
