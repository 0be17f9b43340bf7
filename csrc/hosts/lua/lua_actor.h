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
 *  - values cross as MessagePack                            -> codec.c;
 *  - what a handler sees: refs and ctx                      -> api_ref.c,
 *    api_ctx.c, opts.c.
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

/* A compiled behaviour. Lives for the whole process: actors point at it
 * from their (copied, kept for restarts) spawn arguments, and a module is
 * normally spawned many times, so freeing them would buy little. */
typedef struct za__lua_proto {
    char *key;          /* spec as given */
    const char *search; /* interned search path a module name was resolved
                           with (NULL for source text and file paths) */
    char *chunkname;    /* "@path" or "=source" for tracebacks */
    char *code;         /* lua_dump output */
    size_t len;
    unsigned libs; /* za__lua_lazy_libs the bytecode names: opened at every spawn */
    struct za__lua_proto *next;
} za__lua_proto;

/* The search path to use: path as given, or the environment's default
 * (LUA_PATH_5_4, LUA_PATH, "./?.lua;./?/init.lua"). Interned: the result
 * lives for the process, so spawn headers carry it as a pointer and equal
 * paths compare equal as pointers. NULL: out of memory. */
const char *za__lua_search_path(const char *path);
/* Find or compile the behaviour for spec; a module name is resolved in
 * search (from za__lua_search_path). NULL with a message in err. */
const za__lua_proto *za__lua_proto_get(const char *spec, const char *search, char *err,
                                       size_t errlen);

/* ------------------------------------------------------------- actor.c */

/* Opened only when a behaviour's bytecode names them, or on first use
 * (actor.c says why); proto.c scans the bytecode for these names. */
extern const luaL_Reg za__lua_lazy_libs[];

/* ------------------------------------------------------------ the actor */

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
} za__lua_run;

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
    const char *search; /* interned module search path for ctx:spawn */
    int ref_receive, ref_stop, ref_init, ref_down, ref_ctx;
    za__lua_run *cur, *pool, *waiting;
    int npool;
    za_pack *pack;
    char fail[512];

    /* Watchdog: `running` is the state executing Lua right now (NULL when
     * idle), `seq` counts handler starts; both change under `lock`. */
    atomic_flag lock;
    _Atomic(lua_State *) running;
    _Atomic uint32_t seq;
    uint32_t wd_seq, wd_stuck_ms; /* the watchdog's own */
    int armed;
    uint32_t budget_ms;
    struct za__lua_actor *wprev, *wnext;
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

/* ------------------------------------------------------------- alloc.c */

/* The lua_Alloc of actor states (ud: the actor). */
void *za__lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Free the actor's slabs (after lua_close). */
void za__lua_alloc_free(za__lua_actor *a);

/* ---------------------------------------------------------- watchdog.c */

int za__lua_wd_add(za__lua_actor *a);
void za__lua_wd_remove(za__lua_actor *a);
/* Bracket every piece of Lua work: co is the state about to run. */
void za__lua_mark_running(za__lua_actor *a, lua_State *co);
void za__lua_mark_idle(za__lua_actor *a, lua_State *co);

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
/* Free the actor's pooled and waiting runs (waiting asks get an error). */
void za__lua_runs_free(za__lua_actor *a);

#endif /* ZA_LUA_ACTOR_H */
