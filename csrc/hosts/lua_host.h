/*
 * lua_host.h - the Lua 5.4 behaviour host: every Lua actor owns its own
 * lua_State, so Lua actors run in parallel on all workers.
 *
 * The host is runtime code, but it lives outside the csrc/ top-level wildcard so that
 * libzactor itself does not need Lua: its files (csrc/hosts/lua/, one concept
 * each, sharing the private lua_actor.h) are compiled into the Lua module
 * (lua/zactor.so) and the Python extension, which both get the Lua API from
 * the host interpreter (the lua5.4 binary) or link liblua themselves.
 *
 * Values cross as MessagePack (DESIGN.md, "Values across languages"):
 *   nil <-> nil, boolean <-> bool, integer <-> int, float <-> double (1.0
 *   stays a float), string <-> str when it is valid UTF-8, else bin (both
 *   decode to a Lua string), table with keys exactly 1..n <-> array, other
 *   table <-> map, EMPTY TABLE -> empty array, actor ref userdata <->
 *   ext ZA_MP_EXT_REF. Functions, coroutines, other userdata, cyclic or
 *   too-deep tables are an error at the send; nothing is enqueued.
 */
#ifndef ZA_LUA_HOST_H
#define ZA_LUA_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "zactor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZA_LUA_DEFAULT_MEMORY (16u * 1024u * 1024u) /* bytes per actor state */
#define ZA_LUA_DEFAULT_BUDGET_MS 5000u              /* max handler run time */

/* Per-spawn Lua options; zero fields mean the defaults. */
typedef struct za_lua_opts {
    size_t memory_limit; /* bytes the actor's lua_State may hold */
    uint32_t budget_ms;  /* a handler running longer than this is stopped
                            (instruction hook armed on demand by a watchdog) */
    int open_io_os;      /* 1: also open io and os (off: actors are sandboxed) */
    const char *path;    /* module search path (package.path form) for a module
                            name spec and for the actor's own ctx:spawn; copied.
                            NULL: LUA_PATH_5_4, else LUA_PATH, else
                            "./?.lua;./?/init.lua" (ctx:spawn passes the
                            spawning actor's path instead) */
    /* Handlers in progress at once (1..ZA_LUA_CONCURRENCY_MAX); overrides the
     * behaviour table's `concurrency` field. 0: that field, else 1. */
    uint32_t concurrency;
    /* A persistent actor (csrc/hosts/lua/persist.c): its state is read from
     * the system's store (za_system_store, key (ZA_LUA_PERSIST_TYPE, id))
     * before init, on every start and restart, and ctx:save() writes it
     * back. 1..1024 bytes of UTF-8 without NUL; copied. NULL: none. */
    const char *persistence_id;
    /* system:spawn(..., { node = ... }): spawn on that cluster node (its
     * name, or its id in decimal); "" for here. timeout_ms bounds the wait
     * for its answer (0: 10 s). Not for ctx:spawn (it would block). */
    char node[72];
    uint32_t timeout_ms;
} za_lua_opts;

/* The store key type of persistent actors' states (persistence_id). */
#define ZA_LUA_PERSIST_TYPE "zactor.actor"

/* Largest `concurrency` spawn option (za_lua_opts.concurrency). */
#define ZA_LUA_CONCURRENCY_MAX 65535

/*
 * Spawn a Lua actor. spec is one of:
 *  - Lua source text (contains a newline, or starts with "return"),
 *  - a path to a .lua file (contains '/' or ends in ".lua"),
 *  - a module name, searched at this call in lopts->path (see za_lua_opts).
 * The chunk must return a table {init=, receive=, stop=} (receive required).
 * args_msgpack: a MessagePack array of init's extra arguments (NULL/0: none).
 * Called from inside an actor, the new actor is that actor's child.
 * Compile errors are reported synchronously (ZA_EVALUE, za_last_error-like
 * text in err when given).
 */
int za_lua_spawn(za_system *sys, const char *spec, const void *args_msgpack, size_t len,
                 const za_spawn_opts *opts, const za_lua_opts *lopts, za_ref *out);

/* Same, with an error text buffer (compile errors, missing module). */
int za_lua_spawn_ex(za_system *sys, const char *spec, const void *args_msgpack, size_t len,
                    const za_spawn_opts *opts, const za_lua_opts *lopts, za_ref *out, char *err,
                    size_t errlen);

/* Reuse of actor states (csrc/hosts/lua/statepool.c): a sandboxed actor's
 * lua_State is reset when the actor stops and kept (a few per worker) for
 * the next Lua actor, instead of being closed. Counters since the process
 * started, over every System (za_lua_get_pool_stats): */
typedef struct za_lua_pool_stats {
    uint64_t fresh;   /* actors that got a new state (none was pooled) */
    uint64_t reused;  /* actors that got a reset state */
    uint64_t kept;    /* states reset and kept when their actor stopped */
    uint64_t refused; /* states closed instead: the actor failed, hit its memory
                         limit or budget, set a __gc metamethod, or grew large */
    size_t idle;      /* states in the pool now */
} za_lua_pool_stats;
void za_lua_get_pool_stats(za_lua_pool_stats *out);
/* Close the pooled states now (the Lua module does when the state that
 * loaded it closes, before the module may be unloaded). Safe at any time:
 * only idle states are in the pool. */
void za_lua_pool_drain(void);
/* Lua handlers suspended right now, in every system of the process: in
 * ctx:ask, ctx:sleep, ctx:ask_all or ctx:first, or a stop handler waiting.
 * A leak check: 0 once nothing waits (stop, restart and shutdown close
 * suspended handlers). Lua's zactor.live_handlers(). */
int64_t za_lua_live_handlers(void);

/*
 * Grains (virtual actors) written in Lua: register the grain class of the
 * Lua behaviour spec (as for za_lua_spawn; lopts->path resolves a module
 * name, lopts->persistence_id must be NULL). The behaviour's table is read
 * once, here, in a scratch state (its top-level code runs once more):
 * idle_timeout (seconds), journaled, snapshot_every; gopts override them.
 * A journaled behaviour needs an `apply` function. Registering the same
 * class again is ZA_OK (nothing changes), another spec or options under a
 * type already taken is ZA_EEXIST. Errors come with a text in err (and
 * za_last_error()). Then za_grain_ref(sys, type, key) gives the references;
 * the Python binding's grain_lua calls this too, so a Lua grain is the
 * same class whichever language registered it.
 */
typedef struct za_lua_grain_opts {
    const char *type;        /* the grain type (storage keys, za_grain_ref): NULL = spec */
    uint32_t idle_ms;        /* 0: the behaviour's idle_timeout, else the runtime's default */
    uint32_t capacity;       /* activation mailbox bound (0: unbounded) */
    uint32_t snapshot_every; /* 0: the behaviour's snapshot_every */
} za_lua_grain_opts;

int za_lua_grain_register(za_system *sys, const char *spec, const za_lua_opts *lopts,
                          const za_lua_grain_opts *gopts, char *err, size_t errlen);

/* The behaviour every Lua actor uses (recognise Lua actors with
 * za_ref_behaviour(sys, ref) == &za_lua_behaviour). */
extern const za_behaviour za_lua_behaviour;

/* Metatable name of actor reference userdata (a struct za_lua_ref). */
#define ZA_LUA_REF_MT "zactor.ref"
typedef struct za_lua_ref {
    za_ref ref;
} za_lua_ref;

#ifdef ZA_LUA_HOST_WANT_LUA_API
#include <lauxlib.h>
#include <lua.h>
/* Create (or refill) the ref metatable ZA_LUA_REF_MT with methods as its
 * __index, __eq and __tostring, register it where the encoder finds it, and
 * leave it on the stack. Actor states and the module share this one recipe;
 * only the methods differ. */
void za_lua_ref_metatable(lua_State *L, const luaL_Reg *methods);
/* Encode the Lua value at idx into p. 0 or -1 with a message in err. Raises
 * no Lua error and allocates no Lua memory. */
int za_lua_encode(lua_State *L, int idx, za_pack *p, char *err, size_t errlen);
/* Raise a Lua error describing runtime error rc during op (never returns). */
int za_lua_raise(lua_State *L, const char *op, int rc);
/* ZA_EDEAD for op: "actor is dead", or the start failure the runtime
 * remembers for the actor when text (the failed call's error) carries one. */
int za__lua_raise_dead(lua_State *L, const char *op, const char *text);
/* Pushes a decoded actor reference (NULL: plain za_lua_ref userdata with
 * metatable ZA_LUA_REF_MT). May raise Lua errors (memory). */
typedef void (*za_lua_push_ref_fn)(lua_State *L, za_ref r, void *ud);
/* Decode MessagePack bytes straight onto the stack (no za_doc, no malloc):
 * the same acceptance as za_doc_decode. Mapping (codec.c): nil inside a
 * container -> zactor.null, arrays/maps -> tables marked with
 * zactor.array_mt / map_mt, bin -> zactor.bytes, uint above INT64_MAX ->
 * zactor.uint64; a NaN map key is an error. Raises a Lua error ("zactor:
 * bad MessagePack: ...") on malformed or empty input, or on memory errors. */
void za_lua_decode(lua_State *L, const void *data, size_t len, za_lua_push_ref_fn push_ref,
                   void *ud);
/* The same for a reader in System sys: a ref of another System (its ext
 * carries another za_system_id) raises "foreign actor reference". */
void za_lua_decode_in(lua_State *L, za_system *sys, const void *data, size_t len,
                      za_lua_push_ref_fn push_ref, void *ud);
/* With a table on top: set its value-model fields (null, array, map, bytes,
 * is_bytes, array_mt, map_mt, bytes_mt, uint64_mt). Actor states get them
 * as the global table `zactor`, the module as fields of its table. */
void za_lua_values_api(lua_State *L);
/* Spawn options from a Lua table (shared by ctx:spawn and the module): the
 * table at idx fills o and lo; an unknown key (the error lists the valid
 * ones) or a bad value raises a Lua error naming fn and the option.
 * lo->path is left alone (the caller knows its search path). String
 * options (name) point into the table: keep it on the stack until the spawn. */
int za_lua_parse_opts(lua_State *L, int idx, const char *fn, za_spawn_opts *o, za_lua_opts *lo);
/* Is the value at idx a spawn options table? A non-empty table whose keys
 * are all option names or near misses of one (a typo is then reported by
 * za_lua_parse_opts with "did you mean", instead of silently turning the
 * table into an init argument); any other key makes it an init argument.
 * Callers use it to tell a trailing options table from an init argument. */
int za_lua_is_opts(lua_State *L, int idx);

/* The reference of grain (name, key), for system:grain and ctx:grain: name
 * is a registered grain type (any language's), else a Lua behaviour spec
 * registered as a grain class first, with the options table at optsidx
 * (0: none): type, idle_timeout, capacity, snapshot_every, memory_limit,
 * budget_ms, concurrency, open_io_os; path resolves module names. Raises
 * Lua errors naming fn. */
za_ref za_lua_grain_ref(lua_State *L, za_system *sys, int nameidx, int keyidx, int optsidx,
                        const char *path, const char *fn);
/* The same registration without a key: the grain type of (name, opts), for
 * system:register_grain (a node hosting grains it never names itself). The
 * string lives in the options table or at nameidx. */
const char *za_lua_grain_class(lua_State *L, za_system *sys, int nameidx, int optsidx,
                               const char *path, const char *fn);

/* The string argument at idx, for the C API, which takes NUL-terminated
 * strings: a Lua string with a NUL byte inside would reach it cut short (a
 * name registered as its prefix, a different source), so that is an error
 * naming fn and what ("zactor: spawn: name contains a NUL byte"). */
const char *za_lua_check_cstring(lua_State *L, int idx, const char *fn, const char *what);

/* Numbers from Lua, one rule (csrc/hosts/lua/numbers.c): NaN, negative and
 * out-of-range values raise an error naming fn and param (and the range);
 * never a silent wrap. Durations are seconds, returned in ms. */
#define ZA_LUA_FOREVER UINT32_MAX /* math.huge with ZA_LUA_HUGE_IS_FOREVER */
#define ZA_LUA_HUGE_IS_FOREVER 1  /* math.huge means no limit (else: error) */
#define ZA_LUA_POSITIVE 2         /* 0 is an error too */
/* The duration at idx (nil/none: dflt_s seconds) in ms. */
uint32_t za_lua_check_duration(lua_State *L, int idx, const char *fn, const char *param,
                               double dflt_s, int flags);
/* The integer at idx, in min..max. */
uint64_t za_lua_check_count(lua_State *L, int idx, const char *fn, const char *param, uint64_t min,
                            uint64_t max);
#endif

#ifdef __cplusplus
}
#endif
#endif /* ZA_LUA_HOST_H */
