/*
 * zactor.c - the Lua 5.4 module: `local zactor = require "zactor"`.
 *
 * Built as lua/zactor.so from the runtime sources (every csrc top-level .c) plus the Lua
 * host (csrc/hosts/lua_host.c) and this glue. It does not link liblua: the
 * Lua API symbols come from the interpreter that loads it (lua5.4), so the
 * module and the actors' states share one Lua core.
 *
 * Objects:
 *  - system: userdata owning a za_system; __close/__gc shut it down.
 *  - ref: userdata {za_ref} with metatable "zactor.ref" (shared layout with
 *    the host, so refs encode the same everywhere) whose user value is the
 *    system object: a ref keeps its system alive, and a ref to a closed
 *    system raises a clear error instead of touching freed memory.
 */
#define ZA_LUA_HOST_WANT_LUA_API 1
#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hosts/lua_host.h"
#include "zactor.h"

#define SYS_MT "zactor.system"

__attribute__((visibility("default"))) int luaopen_zactor(lua_State *L);

int za_lua_parse_opts(lua_State *L, int idx, za_spawn_opts *o, za_lua_opts *lo);
int za_lua_is_opts(lua_State *L, int idx);

typedef struct lsys {
    za_system *sys; /* NULL once closed */
    za_pack *pack;  /* scratch writer (the main state is single-threaded) */
} lsys;

static lsys *check_sys(lua_State *L, int idx) {
    lsys *s = luaL_checkudata(L, idx, SYS_MT);
    if (!s->sys) luaL_error(L, "zactor: the system is closed");
    return s;
}

/* Refs pushed by the module carry their system as user value 1. */
static void push_ref(lua_State *L, za_ref r, void *ud) {
    int sysidx = (int)(intptr_t)ud;
    za_lua_ref *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->ref = r;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, sysidx);
    lua_setiuservalue(L, -2, 1);
}

/* The ref at idx and its (open) system. */
static za_ref check_ref(lua_State *L, int idx, lsys **sys) {
    za_lua_ref *u = luaL_checkudata(L, idx, ZA_LUA_REF_MT);
    if (lua_getiuservalue(L, idx, 1) != LUA_TUSERDATA) luaL_error(L, "zactor: ref has no system");
    lsys *s = luaL_checkudata(L, -1, SYS_MT);
    lua_pop(L, 1); /* the ref keeps it alive */
    if (!s->sys) luaL_error(L, "zactor: the system of this ref is closed");
    *sys = s;
    return u->ref;
}

static const void *encode(lua_State *L, lsys *s, int idx, size_t *len) {
    char err[300];
    za_pack_reset(s->pack);
    if (za_lua_encode(L, idx, s->pack, err, sizeof err) != 0)
        luaL_error(L, "zactor: bad value: %s", err);
    *len = za_pack_size(s->pack);
    return za_pack_data(s->pack);
}

/* Push bytes as a value; sysidx: stack index of the system object.
 * Decoded straight from the bytes: nothing allocated outside Lua, so a
 * raised error leaks nothing. */
static void push_bytes(lua_State *L, int sysidx, const void *data, size_t len) {
    if (!len) {
        lua_pushnil(L);
        return;
    }
    za_lua_decode(L, data, len, push_ref, (void *)(intptr_t)lua_absindex(L, sysidx));
}

/* --------------------------------------------------------------- system */

static int l_system(lua_State *L) {
    za_config cfg;
    za_config_init(&cfg);
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "workers");
        cfg.workers = (int)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 1, "batch");
        cfg.batch = (uint32_t)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 1, "max_restarts");
        cfg.root_max_restarts = (uint32_t)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 1, "within_ms");
        cfg.root_within_ms = (uint32_t)luaL_optinteger(L, -1, 0);
        lua_pop(L, 4);
    } else if (!lua_isnoneornil(L, 1)) {
        return luaL_typeerror(L, 1, "table or nil");
    }
    if (cfg.workers < 0) return luaL_error(L, "zactor: workers must be >= 0");
    lsys *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->sys = NULL;
    s->pack = NULL;
    luaL_setmetatable(L, SYS_MT);
    s->pack = za_pack_new();
    if (!s->pack) return luaL_error(L, "zactor: out of memory");
    int rc = za_system_create(&cfg, &s->sys);
    if (rc != ZA_OK) {
        s->sys = NULL;
        return za_lua_raise(L, "system", rc);
    }
    return 1;
}

static int sys_close(lua_State *L) {
    lsys *s = luaL_checkudata(L, 1, SYS_MT);
    if (s->sys) {
        za_system *sys = s->sys;
        s->sys = NULL;
        za_system_destroy(sys); /* drains, stops actors, joins workers */
    }
    if (s->pack) {
        za_pack_free(s->pack);
        s->pack = NULL;
    }
    return 0;
}

static int sys_shutdown(lua_State *L) {
    lsys *s = check_sys(L, 1);
    lua_Number t = luaL_optnumber(L, 2, 5.0);
    int rc = za_system_shutdown(s->sys, (uint32_t)(t * 1000.0));
    lua_pushboolean(L, rc == ZA_OK);
    return 1;
}

/* Resolve a module name with the caller's package.path, like require. */
static const char *resolve(lua_State *L, const char *spec) {
    if (strchr(spec, '\n') || strncmp(spec, "return", 6) == 0 || strchr(spec, '/')) return spec;
    size_t n = strlen(spec);
    if (n > 4 && strcmp(spec + n - 4, ".lua") == 0) return spec;
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return spec;
    }
    lua_getfield(L, -1, "path");
    const char *path = lua_tostring(L, -1);
    if (path) za_lua_set_path(path); /* for ctx:spawn inside actors */
    lua_getfield(L, -2, "searchpath");
    if (!path || !lua_isfunction(L, -1)) {
        lua_pop(L, 3);
        return spec;
    }
    lua_pushstring(L, spec);
    lua_pushvalue(L, -3);
    lua_call(L, 2, 2); /* package, path, found|nil, why */
    if (lua_isstring(L, -2)) {
        lua_pop(L, 1);
        lua_replace(L, -3); /* found replaces package */
        lua_pop(L, 1);      /* leaves the found path anchored on the stack */
        return lua_tostring(L, -1);
    }
    const char *why = lua_tostring(L, -1);
    luaL_error(L, "zactor: module '%s' not found:%s", spec, why ? why : "");
    return NULL;
}

/* Collect extra args (and a trailing options table) into s->pack. */
static int collect_args(lua_State *L, lsys *s, int first, za_spawn_opts *o, za_lua_opts *lo) {
    int last = lua_gettop(L);
    if (last >= first && za_lua_is_opts(L, last)) {
        za_lua_parse_opts(L, last, o, lo);
        last--;
    }
    za_pack_reset(s->pack);
    za_pack_array(s->pack, (uint32_t)(last - first + 1));
    char err[300];
    for (int i = first; i <= last; i++)
        if (za_lua_encode(L, i, s->pack, err, sizeof err) != 0)
            return luaL_error(L, "zactor: bad spawn argument %d: %s", i - first + 1, err);
    return 0;
}

static int sys_spawn(lua_State *L) {
    lsys *s = check_sys(L, 1);
    const char *spec0 = luaL_checkstring(L, 2);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    za_lua_opts lo = {0};
    collect_args(L, s, 3, &o, &lo); /* o.name stays anchored in the options table */
    const char *spec = resolve(L, spec0);
    char err[512];
    za_ref r;
    int rc = za_lua_spawn_ex(s->sys, spec, za_pack_data(s->pack), za_pack_size(s->pack), &o, &lo,
                             &r, err, sizeof err);
    if (rc == ZA_EEXIST) return luaL_error(L, "zactor: spawn: name '%s' is taken", o.name);
    if (rc != ZA_OK) return luaL_error(L, "zactor: spawn: %s", err[0] ? err : za_strerror(rc));
    push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

/* Native behaviours: dlopen(path) once (never closed: actors may run its
 * code until the process ends) and take a `const za_behaviour` symbol. */
/* require() loads this module RTLD_LOCAL, so a native behaviour's calls to
 * the za_* API would not resolve against it. Promote the module (already
 * loaded: RTLD_NOLOAD) to global before loading the first behaviour, so the
 * behaviour binds to this very runtime, not to a second copy. */
static int export_runtime(void) {
    static int done;
    if (done) return 0;
    Dl_info info;
    if (!dladdr((void *)&luaopen_zactor, &info) || !info.dli_fname) return -1;
    if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) return -1;
    done = 1;
    return 0;
}

static int sys_spawn_native(lua_State *L) {
    lsys *s = check_sys(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char *sym = luaL_checkstring(L, 3);
    if (export_runtime() < 0)
        return luaL_error(L, "zactor: spawn_native: cannot export the runtime: %s", dlerror());
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) return luaL_error(L, "zactor: spawn_native: %s", dlerror());
    const za_behaviour *beh = dlsym(h, sym);
    if (!beh) return luaL_error(L, "zactor: spawn_native: no symbol '%s' in %s", sym, path);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    za_lua_opts lo = {0};
    collect_args(L, s, 4, &o, &lo);
    za_ref r;
    int rc = za_spawn(s->sys, beh, za_pack_data(s->pack), za_pack_size(s->pack), &o, &r);
    if (rc != ZA_OK) return za_lua_raise(L, "spawn_native", rc);
    push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

static int sys_lookup(lua_State *L) {
    lsys *s = check_sys(L, 1);
    za_ref r;
    if (za_lookup(s->sys, luaL_checkstring(L, 2), &r) != ZA_OK) {
        lua_pushnil(L);
        return 1;
    }
    push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

static int sys_wait_idle(lua_State *L) {
    lsys *s = check_sys(L, 1);
    lua_Number t = luaL_optnumber(L, 2, 5.0);
    lua_pushboolean(L, za_system_wait_idle(s->sys, (uint32_t)(t * 1000.0)) == ZA_OK);
    return 1;
}

static void set_lat(lua_State *L, const char *name, const za_latency *l) {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)l->count);
    lua_setfield(L, -2, "count");
    lua_pushinteger(L, (lua_Integer)l->p50_ns);
    lua_setfield(L, -2, "p50_ns");
    lua_pushinteger(L, (lua_Integer)l->p95_ns);
    lua_setfield(L, -2, "p95_ns");
    lua_pushinteger(L, (lua_Integer)l->p99_ns);
    lua_setfield(L, -2, "p99_ns");
    lua_pushinteger(L, (lua_Integer)l->max_ns);
    lua_setfield(L, -2, "max_ns");
    lua_setfield(L, -2, name);
}

static int sys_metrics(lua_State *L) {
    lsys *s = check_sys(L, 1);
    za_metrics m;
    int rc = za_metrics_read(s->sys, &m);
    if (rc != ZA_OK) return za_lua_raise(L, "metrics", rc);
    lua_createtable(L, 0, 12);
#define F(x)                                                                                       \
    lua_pushinteger(L, (lua_Integer)m.x);                                                          \
    lua_setfield(L, -2, #x)
    F(sent);
    F(delivered);
    F(dead_letters);
    F(restarts);
    F(failures);
    F(spawned);
    F(stopped);
    F(actors_alive);
    F(timers_fired);
#undef F
    set_lat(L, "queue_latency", &m.queue_latency);
    set_lat(L, "process_latency", &m.process_latency);
    return 1;
}

static int sys_workers(lua_State *L) {
    lua_pushinteger(L, za_system_workers(check_sys(L, 1)->sys));
    return 1;
}

static int sys_tostring(lua_State *L) {
    lsys *s = luaL_checkudata(L, 1, SYS_MT);
    lua_pushfstring(L, "zactor.system(%s)", s->sys ? "open" : "closed");
    return 1;
}

/* ------------------------------------------------------------------ refs */

static int ref_tell(lua_State *L) {
    lsys *s;
    za_ref r = check_ref(L, 1, &s);
    size_t len;
    const void *d = encode(L, s, 2, &len);
    int rc = za_tell(s->sys, r, 0, d, len);
    if (rc == ZA_EDROPPED) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc != ZA_OK) return za_lua_raise(L, "tell", rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int ref_ask(lua_State *L) {
    lsys *s;
    za_ref r = check_ref(L, 1, &s);
    lua_Number t = luaL_optnumber(L, 3, 5.0);
    if (t <= 0) return luaL_error(L, "zactor: ask: timeout must be > 0 seconds");
    size_t len;
    const void *d = encode(L, s, 2, &len);
    za_answer a;
    memset(&a, 0, sizeof a);
    int rc = za_ask(s->sys, r, 0, d, len, (uint32_t)(t * 1000.0 + 0.5), &a);
    if (rc != ZA_OK) {
        char text[600];
        snprintf(text, sizeof text, "%s", a.error ? a.error : "");
        za_answer_free(&a);
        if (rc == ZA_ETIMEDOUT) {
            char secs[32];
            snprintf(secs, sizeof secs, "%g", (double)t); /* lua_pushfstring has no %g */
            return luaL_error(L, "zactor: ask timed out after %s s", secs);
        }
        if (rc == ZA_EFAILED) return luaL_error(L, "zactor: ask: the actor failed: %s", text);
        if (rc == ZA_EDEAD) return luaL_error(L, "zactor: ask: actor is dead");
        return za_lua_raise(L, "ask", rc);
    }
    if (a.kind != ZA_PAYLOAD_BYTES) {
        za_answer_free(&a);
        return luaL_error(L, "zactor: ask: the reply is not a value");
    }
    lua_getiuservalue(L, 1, 1); /* the system, for refs in the reply */
    int sysidx = lua_gettop(L);
    /* Copy out so the answer is freed before anything can raise. */
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, a.len ? a.len : 1);
    if (a.len) memcpy(p, a.data, a.len);
    size_t alen = a.len;
    za_answer_free(&a);
    luaL_pushresultsize(&b, alen);
    size_t bl;
    const char *bytes = lua_tolstring(L, -1, &bl);
    push_bytes(L, sysidx, bytes, alen);
    return 1;
}

static int ref_stop(lua_State *L) {
    lsys *s;
    za_ref r = check_ref(L, 1, &s);
    int rc = za_stop(s->sys, r);
    if (rc != ZA_OK && rc != ZA_EDEAD) return za_lua_raise(L, "stop", rc);
    lua_pushboolean(L, rc == ZA_OK);
    return 1;
}

static int ref_join(lua_State *L) {
    lsys *s;
    za_ref r = check_ref(L, 1, &s);
    lua_Number t = luaL_optnumber(L, 2, 5.0);
    lua_pushboolean(L, za_join(s->sys, r, (uint32_t)(t * 1000.0)) == ZA_OK);
    return 1;
}

static int ref_alive(lua_State *L) {
    lsys *s;
    za_ref r = check_ref(L, 1, &s);
    lua_pushboolean(L, za_is_alive(s->sys, r) == 1);
    return 1;
}

static int ref_info(lua_State *L) {
    lsys *s;
    za_ref r = check_ref(L, 1, &s);
    za_actor_info in;
    if (za_actor_info_get(s->sys, r, &in) != ZA_OK) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, in.behaviour ? in.behaviour : "?");
    lua_setfield(L, -2, "behaviour");
    lua_pushinteger(L, (lua_Integer)in.mailbox_depth);
    lua_setfield(L, -2, "mailbox_depth");
    lua_pushinteger(L, (lua_Integer)in.processed);
    lua_setfield(L, -2, "processed");
    lua_pushinteger(L, (lua_Integer)in.restarts);
    lua_setfield(L, -2, "restarts");
    return 1;
}

static int ref_id(lua_State *L) {
    za_lua_ref *u = luaL_checkudata(L, 1, ZA_LUA_REF_MT);
    lua_pushinteger(L, (lua_Integer)u->ref);
    return 1;
}

/* ------------------------------------------------- values (conformance) */

/* zactor.pack(v) -> MessagePack bytes, the exact encoding used for sends. */
static int l_pack(lua_State *L) {
    za_pack *p = za_pack_new();
    if (!p) return luaL_error(L, "zactor: out of memory");
    char err[300];
    if (za_lua_encode(L, 1, p, err, sizeof err) != 0) {
        za_pack_free(p);
        return luaL_error(L, "zactor: bad value: %s", err);
    }
    lua_pushlstring(L, za_pack_data(p),
                    za_pack_size(p)); /* may raise: tiny leak risk only on OOM */
    za_pack_free(p);
    return 1;
}

static void push_detached_ref(lua_State *L, za_ref r, void *ud) {
    (void)ud;
    za_lua_ref *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->ref = r;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
    lua_setmetatable(L, -2);
}

/* zactor.unpack(bytes) -> value (refs come back as refs with no system). */
static int l_unpack(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    za_lua_decode(L, s, n, push_detached_ref, NULL);
    return 1;
}

/* zactor.ref_from_id(integer): a detached ref (for conformance vectors). */
static int l_ref_from_id(lua_State *L) {
    push_detached_ref(L, (za_ref)luaL_checkinteger(L, 1), NULL);
    return 1;
}

/* zactor.sleep(sec): lets a main script wait without burning a core the
 * workers need; zactor.clock(): monotonic seconds (for benchmarks). */
static int l_sleep(lua_State *L) {
    lua_Number t = luaL_checknumber(L, 1);
    if (t > 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (lua_Number)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return 0;
}

static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* ------------------------------------------------------------------ open */

static const luaL_Reg sys_methods[] = {
    {"spawn", sys_spawn},
    {"spawn_native", sys_spawn_native},
    {"lookup", sys_lookup},
    {"shutdown", sys_shutdown},
    {"close", sys_close},
    {"wait_idle", sys_wait_idle},
    {"metrics", sys_metrics},
    {"workers", sys_workers},
    {NULL, NULL},
};

static const luaL_Reg ref_methods[] = {
    {"tell", ref_tell},   {"ask", ref_ask},   {"stop", ref_stop}, {"join", ref_join},
    {"alive", ref_alive}, {"info", ref_info}, {"id", ref_id},     {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"system", l_system}, {"pack", l_pack},   {"unpack", l_unpack}, {"ref_from_id", l_ref_from_id},
    {"sleep", l_sleep},   {"clock", l_clock}, {NULL, NULL},
};

/* Safe to call twice in one state (busted does): metatables are looked up
 * by name and (re)filled, nothing is global in C. */
__attribute__((visibility("default"))) int luaopen_zactor(lua_State *L) {
    luaL_newmetatable(L, SYS_MT);
    luaL_newlib(L, sys_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, sys_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, sys_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, sys_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    za_lua_ref_metatable(L, ref_methods);
    lua_pop(L, 1);

    luaL_newlib(L, funcs);
    lua_pushliteral(L, "0.1.0");
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, ZA_LUA_DEFAULT_MEMORY);
    lua_setfield(L, -2, "default_memory_limit");
    return 1;
}
