/*
 * actor.c - a Lua actor's life: the za_behaviour (start builds the state,
 * loads the behaviour and calls init; stop calls stop and closes the
 * state; receive is run.c's) and za_lua_spawn, which packs what start
 * needs ahead of the init arguments.
 */
#include "lua_actor.h"

#include <lualib.h>

#include "err.h"
#include "utf8.h"
#include <stdlib.h>
#include <string.h>

/* What za_lua_spawn_ex hands actor_start, ahead of the persistence id and
 * the MessagePack init arguments (za__lua_spawn_hdr, lua_actor.h); the
 * runtime keeps the copy for restarts. Pointers are to process-lifetime
 * data (the proto cache, interned search paths). */
typedef za__lua_spawn_hdr spawn_hdr;

/* relaxed: only uniqueness matters, no data is published with it */
static _Atomic uint64_t next_spawn_id = 1;

/* Opening a library costs ~2 us per state (all six: ~12 of a spawn's ~18
 * us), so base and string (string methods need their metatable) are always
 * open, these only when the behaviour's bytecode names them; any other is
 * opened on first use through _G's __index (dynamic names, load()ed code). */
const luaL_Reg za__lua_lazy_libs[] = {
    {LUA_TABLIBNAME, luaopen_table},
    {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},
    {LUA_COLIBNAME, za__lua_open_coroutine},
    {NULL, NULL},
};

/* Message handler of start's and stop's pcalls: a traceback, built under
 * the grace allowance since the failure may be the memory limit itself. */
static int msgh(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    a->grace = 1;
    luaL_traceback(L, L, za__lua_error_text(L, 1), 1);
    return 1;
}

/* _G's __index: a standard library the bytecode did not name, opened on
 * first use (then a plain global). Anything else is nil, as without it. */
static int lazy_global(lua_State *L) {
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    for (int i = 0; k && za__lua_lazy_libs[i].name; i++) {
        if (strcmp(k, za__lua_lazy_libs[i].name) == 0) {
            luaL_requiref(L, za__lua_lazy_libs[i].name, za__lua_lazy_libs[i].func, 1);
            return 1;
        }
    }
    return 0;
}

static int handler_ref(lua_State *L, int tbl, const char *name, int required) {
    lua_getfield(L, tbl, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required) luaL_error(L, "zactor: behaviour table has no '%s' function", name);
        return LUA_NOREF;
    }
    if (!lua_isfunction(L, -1))
        luaL_error(L, "zactor: behaviour field '%s' is not a function", name);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

void za__lua_open_env(lua_State *L, int open_io_os, unsigned libs) {
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, za__lua_open_string, 1);
    lua_pop(L, 2);
    za__lua_sandbox_base(L, open_io_os);
    unsigned lazy = 0;
    for (int i = 0; za__lua_lazy_libs[i].name; i++) {
        if (libs & (1u << i)) {
            luaL_requiref(L, za__lua_lazy_libs[i].name, za__lua_lazy_libs[i].func, 1);
            lua_pop(L, 1);
        } else {
            lazy = 1;
        }
    }
    if (lazy) {
        lua_pushglobaltable(L);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, lazy_global);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        lua_pop(L, 1);
    }
    if (open_io_os) {
        luaL_requiref(L, LUA_IOLIBNAME, luaopen_io, 1);
        luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
        lua_pop(L, 2);
    }
    za__lua_open_refs(L);
    lua_createtable(L, 0, 12); /* global zactor: the value model (codec.c) */
    za_lua_values_api(L);
    lua_setglobal(L, "zactor");
}

/* Only sandboxed plain actors reuse states (statepool.c): grain
 * activations and persistent actors keep more than a handler's state. */
static int poolable(const spawn_hdr *h) {
    return !h->open_io_os && !(h->flags & ZA__LUA_GRAIN) && !h->pid_len;
}

/* Runs protected: build the state (unless it is a reused one), load the
 * behaviour, call init (grains and persistent actors: the startup run calls
 * it, persist.c). */
static int setup_cf(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    const spawn_hdr *h = lua_touserdata(L, 1);
    const char *args = lua_touserdata(L, 2);
    size_t alen = (size_t)lua_tointeger(L, 3);
    lua_settop(L, 0);
    if (!a->pristine) {
        za__lua_open_env(L, h->open_io_os, h->proto->libs);
        a->libs = h->proto->libs;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour); /* the ref metatable */
        a->ref_mt = lua_topointer(L, -1);
        lua_pop(L, 1);
        a->ref_ctx = za__lua_new_ctx(L);
        if (poolable(h) && za__lua_pristine_take(L) == 0) a->pristine = 1;
    } else {
        /* a reused state: libraries the behaviour names that its pristine
         * point lacks (the reset takes them away again) */
        for (int i = 0; za__lua_lazy_libs[i].name; i++) {
            if ((h->proto->libs & ~a->libs) & (1u << i)) {
                luaL_requiref(L, za__lua_lazy_libs[i].name, za__lua_lazy_libs[i].func, 1);
                lua_pop(L, 1);
            }
        }
    }
    /* The behaviour. */
    if (!za__lua_cached_chunk(L, a, h->proto)) {
        if (luaL_loadbufferx(L, h->proto->code, h->proto->len, h->proto->chunkname, "b") != LUA_OK)
            return lua_error(L);
        za__lua_cache_chunk(L, a, h->proto);
    }
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "zactor: behaviour '%s' must return a table {init=, receive=, stop=}",
                          h->proto->key);
    int t = lua_gettop(L);
    a->ref_receive = handler_ref(L, t, "receive", 1);
    a->ref_init = handler_ref(L, t, "init", 0);
    a->ref_stop = handler_ref(L, t, "stop", 0);
    a->ref_down = handler_ref(L, t, "down", 0);
    za__lua_read_concurrency(L, t, a);
    za__lua_read_stop_timeout(L, t, a);
    if (h->concurrency) a->concurrency = h->concurrency; /* the spawn option wins */
    if (h->flags & ZA__LUA_GRAIN) za__lua_grain_handlers(L, t, a);
    lua_getfield(L, t, "child_failed");
    if (lua_isfunction(L, -1))
        lua_setfield(L, LUA_REGISTRYINDEX, "zactor.child_failed");
    else
        lua_pop(L, 1);
    lua_settop(L, 0);
    if ((h->flags & ZA__LUA_GRAIN) || h->pid_len) return 0; /* persist.c calls init */
    if (a->ref_init != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_init);
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
        int n = 1;
        if (alen) {
            za__lua_push_payload(L, args, alen);
            if (lua_istable(L, -1)) {
                lua_Integer cnt = (lua_Integer)lua_rawlen(L, -1);
                int tt = lua_gettop(L);
                luaL_checkstack(L, (int)cnt + 2, "too many init arguments");
                for (lua_Integer i = 1; i <= cnt; i++) lua_rawgeti(L, tt, i);
                lua_remove(L, tt);
                n += (int)cnt;
            } else {
                n++;
            }
        }
        lua_call(L, n, 0);
    }
    return 0;
}

/* A start failure is logged like a Python actor's (stderr, reason and
 * traceback): a child whose parent ignores child_failed, or a root actor
 * nobody asks, would otherwise die without a word. */
static void log_start_failure(za_ctx *ctx, const za__lua_proto *p, const char *why) {
    za_ref r = za_ctx_self(ctx);
    fprintf(stderr, "zactor: Lua actor %u.%u (%.80s%s) failed to start: %s\n",
            (unsigned)za_ref_slot(r), (unsigned)za_ref_gen(r), p->chunkname + 1,
            strlen(p->chunkname + 1) > 80 ? "..." : "", why);
}

/* final: the actor's last stop, its reference to a->proto is given back
 * here (a reused state may keep it, with the compiled chunk). */
static void free_actor(za__lua_actor *a, int final) {
    za__lua_runs_free(a);
    za__lua_persist_free(a);
    if (za__lua_pool_reset(a, final) == 0) {
        za__lua_wd_remove(a);
        za__lua_pool_put(a);
        return;
    }
    za__lua_chunk_drop(a);
    if (final && !a->grain) /* a grain class holds its proto for the system's life (grain.c) */
        za__lua_proto_release(a->proto);
    if (a->L) {
        za__lua_mark_running(a, a->L); /* a runaway __gc is stopped too */
        lua_close(a->L);
        za__lua_mark_idle(a, NULL);
    }
    za__lua_wd_remove(a);
    za__lua_alloc_free(a);
    za_pack_free(a->pack);
    free(a);
}

static int actor_start(za_ctx *ctx, const void *args, size_t len) {
    za__lua_actor **slot = za_ctx_state(ctx);
    *slot = NULL;
    spawn_hdr h;
    if (len < sizeof h) {
        za_ctx_fail(ctx, ZA_EINVAL, "Lua actor spawned without its header (use za_lua_spawn)");
        return -1;
    }
    memcpy(&h, args, sizeof h);
    if (h.magic != ZA_LUA_MAGIC || len - sizeof h < h.pid_len) {
        za_ctx_fail(ctx, ZA_EINVAL, "Lua actor spawned with a bad header (use za_lua_spawn)");
        return -1;
    }
    size_t limit = h.memory_limit ? h.memory_limit : ZA_LUA_DEFAULT_MEMORY;
    za__lua_actor *a = poolable(&h) ? za__lua_pool_take(limit) : NULL;
    if (!a && !(a = calloc(1, sizeof *a))) {
        za_ctx_fail(ctx, ZA_ENOMEM, "out of memory");
        return -1;
    }
    atomic_flag_clear(&a->lock);
    a->limit = limit;
    a->budget_ms = h.budget_ms ? h.budget_ms : ZA_LUA_DEFAULT_BUDGET_MS;
    a->sys = za_ctx_system(ctx);
    a->self = za_ctx_self(ctx);
    a->restarts = za_ctx_restarts(ctx);
    a->search = h.search;
    a->proto = h.proto;
    a->spawn_id = h.spawn_id;
    a->ctx = ctx;
    a->ref_receive = a->ref_init = a->ref_stop = a->ref_down = LUA_NOREF;
    if (!a->L) a->ref_ctx = LUA_NOREF; /* a reused state keeps its ctx */
    a->ref_apply = a->ref_activate = a->ref_deactivate = a->ref_reminder = LUA_NOREF;
    if (a->L) { /* reused */
        if (za__lua_wd_add(a) != 0) {
            za__lua_pool_discard(a);
            za_ctx_fail(ctx, ZA_ENOMEM, "out of memory");
            return -1;
        }
    } else {
        a->pack = za_pack_new();
        if (!a->pack || za__lua_wd_add(a) != 0) {
            za_pack_free(a->pack);
            free(a);
            za_ctx_fail(ctx, ZA_ENOMEM, "out of memory");
            return -1;
        }
    }
    /* a restart keeps the messages the last incarnation had stashed: they
     * go first (a failed start turns them into dead letters) */
    int adopted = za__lua_stash_adopt(a);
    if (!a->L) a->L = lua_newstate(za__lua_alloc, a);
    if (!a->L) {
        za_ctx_fail(ctx, ZA_ENOMEM, "cannot create a Lua state within memory_limit=%zu bytes",
                    a->limit);
        log_start_failure(ctx, h.proto, "cannot create a Lua state within memory_limit");
        free_actor(a, 0);
        return -1;
    }
    *(za__lua_actor **)lua_getextraspace(a->L) = a; /* copied into every coroutine */
    za_pack_bind(a->pack, a->sys);                  /* refs it writes carry its System's identity */
    lua_State *L = a->L;
    lua_pushcfunction(L, msgh);
    lua_pushcfunction(L, setup_cf);
    lua_pushlightuserdata(L, &h);
    lua_pushlightuserdata(L, (void *)((const char *)args + sizeof h + h.pid_len));
    lua_pushinteger(L, (lua_Integer)(len - sizeof h - h.pid_len));
    za__lua_mark_running(a, L);
    int st = lua_pcall(L, 3, 0, 1);
    za__lua_mark_idle(a, L);
    if (st != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        if (!m) m = "not enough memory";
        if (st == LUA_ERRMEM) m = "not enough memory (memory_limit too small?)";
        za_ctx_fail(ctx, 1, "Lua actor init failed: %s", m);
        log_start_failure(ctx, h.proto, m);
        a->tainted = 1; /* a failed state is closed, never reused */
        free_actor(a, 0);
        return -1;
    }
    lua_settop(L, 0);
    a->grace = 0;
    if (((h.flags & ZA__LUA_GRAIN) || h.pid_len) &&
        za__lua_persist_start(a, &h, (const char *)args + sizeof h, len - sizeof h) != 0) {
        log_start_failure(ctx, h.proto, a->fail[0] ? a->fail : "startup failed");
        free_actor(a, 0);
        return -1;
    }
    a->ctx = NULL;
    *slot = a;
    if (adopted && za_tell(a->sys, a->self, ZA__LUA_TAG_DRAIN, NULL, 0) != ZA_OK)
        za__lua_stash_free(a); /* cannot be served: dead letters, askers told */
    return 0;
}

static void actor_stop(za_ctx *ctx) {
    za__lua_actor **slot = za_ctx_state(ctx);
    za__lua_actor *a = *slot;
    if (!a) return;
    *slot = NULL;
    a->ctx = ctx;
    a->stopping = 1;                       /* ctx:spawn refuses: a child would outlive its parent */
    if (a->waiting) za__lua_runs_close(a); /* suspended handlers' <close> run first */
    if (a->ref_stop != LUA_NOREF) {
        lua_settop(a->L, 0);
        /* it may wait, within stop_timeout (stopwait.c); a failed one's state is not reused */
        if (za__lua_stop_call(a) != 0) a->tainted = 1;
    }
    a->ctx = NULL;
    int final = za_ctx_final_stop(ctx);
    if (!final) za__lua_stash_carry(a); /* a restart: the next incarnation serves them */
    free_actor(a, final);
}

const za_behaviour za_lua_behaviour = {
    ZA_BEHAVIOUR_INIT,
    .name = "lua",
    .state_size = sizeof(za__lua_actor *),
    .start = actor_start,
    .receive = za__lua_receive,
    .stop = actor_stop,
    .host = NULL, /* no enter/leave needed: states are private, no global lock */
};

/* ------------------------------------------------------------------ spawn */

/* Record an error for err and for za_last_error() (bindings report the
 * latter: it must never be a stale text from an earlier call). */
#define SPAWN_FAIL(code, ...)                                                                      \
    do {                                                                                           \
        za__lua_set_err(err, errlen, __VA_ARGS__);                                                 \
        return za__fail(code, __VA_ARGS__);                                                        \
    } while (0)

int za_lua_spawn_ex(za_system *sys, const char *spec, const void *args_msgpack, size_t len,
                    const za_spawn_opts *opts, const za_lua_opts *lopts, za_ref *out, char *err,
                    size_t errlen) {
    za__lua_set_err(err, errlen, "%s", "");
    za__clear_error();
    if (!sys) SPAWN_FAIL(ZA_EINVAL, "system is missing");
    if (!spec || !*spec)
        SPAWN_FAIL(ZA_EVALUE, "the Lua behaviour (spec) is empty: give Lua source text, a "
                              "path to a .lua file or a module name");
    if (len && !args_msgpack) SPAWN_FAIL(ZA_EINVAL, "args is NULL but len is %zu", len);
    if (!out) SPAWN_FAIL(ZA_EINVAL, "out is NULL");
    const char *search = za__lua_search_path(lopts ? lopts->path : NULL);
    if (!search) SPAWN_FAIL(ZA_ENOMEM, "out of memory");
    char cerr[512];
    const za__lua_proto *p = za__lua_proto_get(spec, search, cerr, sizeof cerr);
    if (!p) SPAWN_FAIL(ZA_EVALUE, "%s", cerr);
    spawn_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = ZA_LUA_MAGIC;
    h.spawn_id = atomic_fetch_add_explicit(&next_spawn_id, 1, memory_order_relaxed);
    h.proto = p;
    h.search = search;
    if (lopts) {
        h.memory_limit = lopts->memory_limit;
        h.budget_ms = lopts->budget_ms;
        h.open_io_os = lopts->open_io_os;
        if (lopts->concurrency > ZA_LUA_CONCURRENCY_MAX) {
            za__lua_proto_release(p);
            SPAWN_FAIL(ZA_EVALUE,
                       "concurrency must be an integer in 1..%d (0: the behaviour's), not %u",
                       ZA_LUA_CONCURRENCY_MAX, (unsigned)lopts->concurrency);
        }
        h.concurrency = lopts->concurrency;
    }
    const char *pid = lopts ? lopts->persistence_id : NULL;
    size_t plen = pid ? strlen(pid) : 0;
    if (pid && (plen == 0 || plen > 1024 || !za__utf8_valid(pid, plen))) {
        za__lua_proto_release(p);
        SPAWN_FAIL(ZA_EVALUE, "persistence_id must be 1..1024 bytes of UTF-8");
    }
    h.pid_len = (uint32_t)plen;
    char stackbuf[512];
    size_t total = sizeof h + plen + len;
    char *buf = total <= sizeof stackbuf ? stackbuf : malloc(total);
    if (!buf) {
        za__lua_proto_release(p);
        SPAWN_FAIL(ZA_ENOMEM, "out of memory");
    }
    memcpy(buf, &h, sizeof h);
    if (plen) memcpy(buf + sizeof h, pid, plen);
    if (len) memcpy(buf + sizeof h + plen, args_msgpack, len);
    /* Asynchronous, from the main script as from an actor: what can be
     * checked in the caller's thread was (the spec, the chunk compiled by
     * za__lua_proto_get: a syntax error or a missing file raises here).
     * Waiting for init as well (za_spawn_sync) made a spawn from the main
     * script ~2.6x slower (20,000 spawns: 16.8k/s -> 6.4k/s); a failing
     * init is logged to stderr (log_start_failure) and the runtime
     * remembers it, so the first tell or ask to the ref raises "actor 1.5
     * failed to start: <reason>" (startfail.c). */
    /* The actor reports its module name or file path as its behaviour
     * (/actors, /metrics, spans: za_spawn_opts.label) unless the caller
     * chose a label; source text has no name and stays "lua". */
    za_spawn_opts lab;
    if ((!opts || !opts->label) && p->chunkname[0] == '@' && strlen(spec) <= 255) {
        if (opts)
            lab = *opts;
        else
            za_spawn_opts_init(&lab);
        lab.label = spec;
        opts = &lab;
    }
    int rc = za_spawn(sys, &za_lua_behaviour, buf, total, opts, out);
    if (buf != stackbuf) free(buf);
    if (rc != ZA_OK) {
        /* no actor was made, so none holds the proto */
        char text[600];
        snprintf(text, sizeof text, "%s", za__lua_err_text(rc));
        za__lua_proto_release(p);
        SPAWN_FAIL(rc, "%s", text);
    }
    za__clear_error();
    return ZA_OK;
}

int za_lua_spawn(za_system *sys, const char *spec, const void *args_msgpack, size_t len,
                 const za_spawn_opts *opts, const za_lua_opts *lopts, za_ref *out) {
    return za_lua_spawn_ex(sys, spec, args_msgpack, len, opts, lopts, out, NULL, 0);
}
