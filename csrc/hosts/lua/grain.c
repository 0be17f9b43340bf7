/*
 * grain.c - Lua grains (virtual actors, csrc/grain/): the grain class of a
 * Lua behaviour, the references to grains, and an activation's life
 * around its handlers (deactivation; the state and its writes are
 * persist.c's).
 *
 * A Lua grain class is the Lua behaviour (za_lua_behaviour) with a spawn
 * header flagged ZA__LUA_GRAIN: every activation is a Lua actor with its
 * own lua_State. The behaviour's settings (idle_timeout, journaled,
 * snapshot_every) must be known when the class is registered, before any
 * activation exists, so registration runs the behaviour's chunk once in a
 * scratch state (sandboxed and under the watchdog like an actor) and reads
 * its table. The class keeps its compiled proto for the process's life
 * (the proto cache stays bounded by the number of grain types).
 *
 * Deactivation: ZA_TAG_DEACTIVATE is never stashed. The activation defers
 * its stop (za_ctx_grain_defer) at once, lets every handler in progress
 * and every stashed message finish, then runs on_deactivate (which may
 * suspend, e.g. in ctx:save) and stops itself.
 */
#include "lua_actor.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ------------------------------------------------------------ the probe */

typedef struct probe {
    uint32_t idle_ms; /* 0: not set */
    int journaled;
    uint32_t snapshot_every;
    const za__lua_proto *proto;
    int open_io_os;
} probe;

static void check_fn_field(lua_State *L, int t, const char *name, int required, const char *why) {
    int ty = lua_getfield(L, t, name);
    if (ty == LUA_TNIL && required)
        luaL_error(L, "zactor: grain behaviour has no '%s' function%s", name, why);
    if (ty != LUA_TNIL && ty != LUA_TFUNCTION)
        luaL_error(L, "zactor: grain behaviour field '%s' is not a function", name);
    lua_pop(L, 1);
}

/* Runs protected in the scratch state: the chunk's table, its settings. */
static int probe_cf(lua_State *L) {
    probe *pr = lua_touserdata(L, 1);
    lua_settop(L, 0);
    za__lua_open_env(L, pr->open_io_os, pr->proto->libs);
    if (luaL_loadbufferx(L, pr->proto->code, pr->proto->len, pr->proto->chunkname, "b") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "zactor: grain behaviour must return a table {receive=, ...}");
    int t = lua_gettop(L);
    check_fn_field(L, t, "receive", 1, "");
    if (lua_getfield(L, t, "idle_timeout") != LUA_TNIL)
        pr->idle_ms = za_lua_check_duration(L, -1, "grain", "idle_timeout", 0, ZA_LUA_POSITIVE);
    lua_pop(L, 1);
    int ty = lua_getfield(L, t, "journaled");
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
        return luaL_error(L, "zactor: grain behaviour field 'journaled' must be a boolean");
    pr->journaled = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, t, "snapshot_every") != LUA_TNIL)
        pr->snapshot_every =
            (uint32_t)za_lua_check_count(L, -1, "grain", "snapshot_every", 0, UINT32_MAX);
    lua_pop(L, 1);
    check_fn_field(L, t, "apply", pr->journaled,
                   " (a journaled grain needs apply = function(state, event) ... end)");
    check_fn_field(L, t, "on_activate", 0, "");
    check_fn_field(L, t, "on_deactivate", 0, "");
    check_fn_field(L, t, "on_reminder", 0, "");
    return 0;
}

static int run_probe(za_system *sys, const za_lua_opts *lo, probe *pr, char *err, size_t errlen) {
    za__lua_actor *a = calloc(1, sizeof *a);
    if (!a) {
        za__lua_set_err(err, errlen, "out of memory");
        return ZA_ENOMEM;
    }
    atomic_flag_clear(&a->lock);
    a->limit = lo && lo->memory_limit ? lo->memory_limit : ZA_LUA_DEFAULT_MEMORY;
    a->budget_ms = lo && lo->budget_ms ? lo->budget_ms : ZA_LUA_DEFAULT_BUDGET_MS;
    a->sys = sys;
    a->ref_receive = a->ref_init = a->ref_stop = a->ref_down = a->ref_ctx = LUA_NOREF;
    if (za__lua_wd_add(a) != 0) {
        free(a);
        za__lua_set_err(err, errlen, "out of memory");
        return ZA_ENOMEM;
    }
    int rc = ZA_OK;
    a->L = lua_newstate(za__lua_alloc, a);
    if (!a->L) {
        za__lua_set_err(err, errlen, "cannot create a Lua state within memory_limit");
        rc = ZA_ENOMEM;
    } else {
        *(za__lua_actor **)lua_getextraspace(a->L) = a;
        lua_pushcfunction(a->L, probe_cf);
        lua_pushlightuserdata(a->L, pr);
        za__lua_mark_running(a, a->L);
        int st = lua_pcall(a->L, 1, 0, 0);
        za__lua_mark_idle(a, a->L);
        if (st != LUA_OK) {
            const char *m = lua_tostring(a->L, -1);
            za__lua_set_err(err, errlen, "%s", m ? m : "not enough memory");
            rc = ZA_EVALUE;
        }
        za__lua_mark_running(a, a->L); /* a runaway __gc is stopped too */
        lua_close(a->L);
        za__lua_mark_idle(a, NULL);
    }
    za__lua_wd_remove(a);
    za__lua_alloc_free(a);
    free(a);
    return rc;
}

/* ------------------------------------------------------- registration */

#define REG_FAIL(code, ...)                                                                        \
    do {                                                                                           \
        za__lua_set_err(err, errlen, __VA_ARGS__);                                                 \
        return za__fail(code, __VA_ARGS__);                                                        \
    } while (0)

int za_lua_grain_register(za_system *sys, const char *spec, const za_lua_opts *lopts,
                          const za_lua_grain_opts *gopts, char *err, size_t errlen) {
    za__lua_set_err(err, errlen, "%s", "");
    if (!sys) REG_FAIL(ZA_EINVAL, "system is missing");
    if (!spec || !*spec)
        REG_FAIL(ZA_EVALUE, "the Lua behaviour (spec) is empty: give Lua source text, a path to "
                            "a .lua file or a module name");
    if (lopts && lopts->persistence_id)
        REG_FAIL(ZA_EINVAL, "a grain keeps its state under its key: persistence_id is for "
                            "spawned actors");
    if (lopts && lopts->concurrency > ZA_LUA_CONCURRENCY_MAX)
        REG_FAIL(ZA_EVALUE, "concurrency must be an integer in 1..%d", ZA_LUA_CONCURRENCY_MAX);
    const char *type = gopts && gopts->type ? gopts->type : spec;
    const char *search = za__lua_search_path(lopts ? lopts->path : NULL);
    if (!search) REG_FAIL(ZA_ENOMEM, "out of memory");
    char cerr[512];
    const za__lua_proto *p = za__lua_proto_get(spec, search, cerr, sizeof cerr);
    if (!p) REG_FAIL(ZA_EVALUE, "%s", cerr);
    probe pr;
    memset(&pr, 0, sizeof pr);
    pr.proto = p;
    pr.open_io_os = lopts ? lopts->open_io_os : 0;
    int rc = run_probe(sys, lopts, &pr, cerr, sizeof cerr);
    if (rc != ZA_OK) {
        za__lua_proto_release(p);
        REG_FAIL(rc, "grain '%s': %s", type, cerr);
    }
    za__lua_spawn_hdr h;
    memset(&h, 0, sizeof h); /* compared byte for byte when registered again */
    h.magic = ZA_LUA_MAGIC;
    h.proto = p;
    h.search = search;
    h.flags = ZA__LUA_GRAIN | (pr.journaled ? ZA__LUA_JOURNALED : 0);
    h.snapshot_every = gopts && gopts->snapshot_every ? gopts->snapshot_every : pr.snapshot_every;
    if (lopts) {
        h.memory_limit = lopts->memory_limit;
        h.budget_ms = lopts->budget_ms;
        h.open_io_os = lopts->open_io_os;
        h.concurrency = lopts->concurrency;
    }
    za_grain_class c;
    memset(&c, 0, sizeof c);
    c.type = type;
    c.behaviour = &za_lua_behaviour;
    c.args = &h;
    c.args_len = sizeof h;
    c.idle_ms = gopts && gopts->idle_ms ? gopts->idle_ms : pr.idle_ms;
    c.journaled = pr.journaled;
    c.snapshot_every = h.snapshot_every;
    c.capacity = gopts ? gopts->capacity : 0;
    za__clear_error(); /* its error text, never an older one */
    rc = za_grain_register(sys, &c);
    if (rc != ZA_OK) {
        char text[400];
        snprintf(text, sizeof text, "%s", za__lua_err_text(rc));
        za__lua_proto_release(p);
        if (rc == ZA_EEXIST)
            REG_FAIL(rc,
                     "grain type '%s' is registered already with another behaviour or "
                     "options",
                     type);
        REG_FAIL(rc, "grain '%s': %s", type, text);
    }
    /* the class keeps p's reference (activations never release it) */
    return ZA_OK;
}

/* -------------------------------------------------------- references */

/* Grain options from the table at idx (see za_lua_grain_ref). */
static void parse_grain_opts(lua_State *L, int idx, const char *fn, za_lua_opts *lo,
                             za_lua_grain_opts *go) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "zactor: %s: option names must be strings, not %s", fn,
                       luaL_typename(L, -2));
        const char *k = lua_tostring(L, -2);
        if (strcmp(k, "type") == 0) {
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "zactor: %s: option 'type' must be a string", fn);
            go->type = za_lua_check_cstring(L, -1, fn, "option 'type'");
        } else if (strcmp(k, "idle_timeout") == 0) {
            go->idle_ms =
                za_lua_check_duration(L, -1, fn, "option 'idle_timeout'", 0, ZA_LUA_POSITIVE);
        } else if (strcmp(k, "capacity") == 0) {
            go->capacity =
                (uint32_t)za_lua_check_count(L, -1, fn, "option 'capacity'", 0, UINT32_MAX);
        } else if (strcmp(k, "snapshot_every") == 0) {
            go->snapshot_every =
                (uint32_t)za_lua_check_count(L, -1, fn, "option 'snapshot_every'", 0, UINT32_MAX);
        } else if (strcmp(k, "memory_limit") == 0) {
            lo->memory_limit = (size_t)za_lua_check_count(L, -1, fn, "option 'memory_limit'", 0,
                                                          (uint64_t)1 << 48);
        } else if (strcmp(k, "budget_ms") == 0) {
            lo->budget_ms =
                (uint32_t)za_lua_check_count(L, -1, fn, "option 'budget_ms'", 0, UINT32_MAX);
        } else if (strcmp(k, "concurrency") == 0) {
            lo->concurrency = (uint32_t)za_lua_check_count(L, -1, fn, "option 'concurrency'", 1,
                                                           ZA_LUA_CONCURRENCY_MAX);
        } else if (strcmp(k, "open_io_os") == 0) {
            if (!lua_isboolean(L, -1))
                luaL_error(L, "zactor: %s: option 'open_io_os' must be a boolean", fn);
            lo->open_io_os = lua_toboolean(L, -1);
        } else {
            luaL_error(L,
                       "zactor: %s: unknown option '%s' (valid options: type, idle_timeout, "
                       "capacity, snapshot_every, memory_limit, budget_ms, concurrency, "
                       "open_io_os)",
                       fn, k);
        }
        lua_pop(L, 1);
    }
}

/* The grain type of behaviour/type `name` with the options at optsidx
 * (0: none), registering the Lua behaviour as a grain class when the type is
 * not registered yet. Raises a Lua error on failure. */
static const char *grain_class(lua_State *L, za_system *sys, const char *name, int optsidx,
                               const char *path, const char *fn) {
    za_lua_opts lo;
    memset(&lo, 0, sizeof lo);
    za_lua_grain_opts go;
    memset(&go, 0, sizeof go);
    if (optsidx && !lua_isnoneornil(L, optsidx)) {
        luaL_checktype(L, optsidx, LUA_TTABLE);
        parse_grain_opts(L, optsidx, fn, &lo, &go); /* strings stay in the table */
    }
    const char *type = go.type ? go.type : name;
    za_ref r = ZA_REF_NONE;
    /* a probe key: registered types answer without interning anything new
     * beyond one identity */
    int rc = za_grain_ref(sys, type, "?", &r);
    if (rc == ZA_ENOTFOUND) { /* not registered yet: name is a Lua behaviour */
        char err[600];
        lo.path = path;
        rc = za_lua_grain_register(sys, name, &lo, &go, err, sizeof err);
        if (rc != ZA_OK) luaL_error(L, "zactor: %s: %s", fn, err);
    } else if (rc != ZA_OK) {
        za_lua_raise(L, fn, rc);
    }
    return type;
}

const char *za_lua_grain_class(lua_State *L, za_system *sys, int nameidx, int optsidx,
                               const char *path, const char *fn) {
    const char *name = za_lua_check_cstring(L, nameidx, fn, "the grain type or behaviour");
    return grain_class(L, sys, name, optsidx, path, fn);
}

za_ref za_lua_grain_ref(lua_State *L, za_system *sys, int nameidx, int keyidx, int optsidx,
                        const char *path, const char *fn) {
    const char *name = za_lua_check_cstring(L, nameidx, fn, "the grain type or behaviour");
    if (lua_type(L, keyidx) != LUA_TSTRING)
        luaL_error(L, "zactor: %s: the key must be a string, not %s", fn, luaL_typename(L, keyidx));
    const char *key = za_lua_check_cstring(L, keyidx, fn, "the key");
    const char *type = grain_class(L, sys, name, optsidx, path, fn);
    za_ref r = ZA_REF_NONE;
    int rc = za_grain_ref(sys, type, key, &r);
    if (rc == ZA_EINVAL)
        luaL_error(L, "zactor: %s: bad key '%s': %s", fn, key, za__lua_err_text(rc));
    if (rc != ZA_OK) za_lua_raise(L, fn, rc);
    return r;
}

/* ------------------------------------------------- inside activations */

void za__lua_grain_handlers(lua_State *L, int t, za__lua_actor *a) {
    static const char *const names[] = {"apply", "on_activate", "on_deactivate", "on_reminder"};
    int *refs[] = {&a->ref_apply, &a->ref_activate, &a->ref_deactivate, &a->ref_reminder};
    for (int i = 0; i < 4; i++) {
        lua_getfield(L, t, names[i]);
        if (lua_isfunction(L, -1))
            *refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
        else
            lua_pop(L, 1);
    }
}

void za__lua_grain_deactivate(za__lua_actor *a, za_ctx *ctx) {
    if (a->deactivating) return; /* asked twice: once is enough */
    za_ctx_grain_defer(ctx);
    a->deactivating = 1;
}

int za__lua_grain_maybe_stop(za__lua_actor *a) {
    if (a->waiting || a->stash) return 0; /* handlers still in progress */
    a->deactivating = 2;
    if (a->ref_deactivate == LUA_NOREF) {
        za_ctx_stop(a->ctx);
        return 0;
    }
    za_msg m;
    memset(&m, 0, sizeof m);
    m.tag = ZA_TAG_DEACTIVATE;
    m.kind = ZA_PAYLOAD_BYTES;
    return za__lua_start_role(a, &m, ZA__LUA_ROLE_DEACTIVATE);
}

/* ctx:key() -> the grain's key */
int za__lua_ctx_key(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    const char *type, *key;
    if (!a->grain || za_grain_identity(a->sys, a->self, &type, &key) != ZA_OK)
        return luaL_error(L, "zactor: ctx:key: this actor is not a grain");
    lua_pushstring(L, key);
    return 1;
}

/* ctx:deactivate(): deactivate once idle (on_deactivate runs first). */
int za__lua_ctx_deactivate(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    if (!a->grain) return luaL_error(L, "zactor: ctx:deactivate: this actor is not a grain");
    if (!a->ctx) return luaL_error(L, "zactor: ctx used outside a handler");
    int rc = za_ctx_grain_deactivate(a->ctx);
    if (rc != ZA_OK) za_lua_raise(L, "ctx:deactivate", rc);
    return 0;
}

/* ctx:grain(type_or_behaviour, key [, opts]) -> ref */
int za__lua_ctx_grain(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za_ref r =
        za_lua_grain_ref(L, a->sys, 2, 3, lua_gettop(L) >= 4 ? 4 : 0, a->search, "ctx:grain");
    za__lua_push_ref(L, r, NULL);
    return 1;
}
