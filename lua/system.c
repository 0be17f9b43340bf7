/*
 * system.c - the system object of the Lua module: zactor.system{...}
 * creates one (a za_system with its worker threads); its methods spawn Lua
 * actors, look names up, wait, shut down and read metrics.
 */
#include <stdint.h>
#include <string.h>

#include "module.h"

za__lmod_system *za__lmod_check_system(lua_State *L, int idx) {
    za__lmod_system *s = luaL_checkudata(L, idx, ZA_LMOD_SYSTEM_MT);
    if (!s->sys) luaL_error(L, "zactor: the system is closed");
    return s;
}

int za__lmod_collect_args(lua_State *L, za__lmod_system *s, int first, const char *fn,
                          za_spawn_opts *o, za_lua_opts *lo) {
    int last = lua_gettop(L);
    if (last >= first && za_lua_is_opts(L, last)) {
        za_lua_parse_opts(L, last, fn, o, lo);
        last--;
    }
    za_pack_reset(s->pack);
    za_pack_array(s->pack, (uint32_t)(last - first + 1));
    char err[300];
    for (int i = first; i <= last; i++)
        if (za_lua_encode(L, i, s->pack, err, sizeof err) != 0)
            return luaL_error(L, "zactor: %s: bad spawn argument %d: %s", fn, i - first + 1, err);
    return 0;
}

/* zactor.system{workers=, batch=, max_restarts=, within_ms=, http=, http_token=,
 * cluster={...}, storage="sqlite:///path.db"} */
static int sys_new(lua_State *L) {
    za_config cfg;
    za_config_init(&cfg);
    if (lua_istable(L, 1)) {
        static const char *const keys[] = {"workers",   "batch",   "max_restarts",
                                           "within_ms", "http",    "http_token",
                                           "cluster",   "storage", NULL};
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            lua_pop(L, 1);
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            int i = 0;
            while (k && keys[i] && strcmp(keys[i], k) != 0) i++;
            if (!k || !keys[i])
                return luaL_error(L,
                                  "zactor: system: unknown option '%s' (valid options: "
                                  "workers, batch, max_restarts, within_ms, http, http_token, "
                                  "cluster, storage)",
                                  k ? k : luaL_typename(L, -1));
        }
        lua_getfield(L, 1, "workers");
        if (!lua_isnil(L, -1))
            cfg.workers = (int)za_lua_check_count(L, -1, "system", "option 'workers'", 0, 1024);
        lua_getfield(L, 1, "batch");
        if (!lua_isnil(L, -1))
            cfg.batch =
                (uint32_t)za_lua_check_count(L, -1, "system", "option 'batch'", 0, UINT32_MAX);
        lua_getfield(L, 1, "max_restarts");
        if (!lua_isnil(L, -1))
            cfg.root_max_restarts = (uint32_t)za_lua_check_count(
                L, -1, "system", "option 'max_restarts'", 0, UINT32_MAX);
        lua_getfield(L, 1, "within_ms");
        if (!lua_isnil(L, -1))
            cfg.root_within_ms =
                (uint32_t)za_lua_check_count(L, -1, "system", "option 'within_ms'", 0, UINT32_MAX);
        /* the strings stay alive in the options table (argument 1) */
        lua_getfield(L, 1, "http");
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "zactor: option 'http' must be a string like '127.0.0.1:9100'");
        cfg.http_addr = lua_tostring(L, -1);
        lua_getfield(L, 1, "http_token");
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "zactor: option 'http_token' must be a string");
        cfg.http_token = lua_tostring(L, -1);
        /* where grains and persistent actors keep their state (default memory://) */
        lua_getfield(L, 1, "storage");
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "zactor: option 'storage' must be a URL string like "
                                 "'sqlite:///path/to.db' (or memory://, redis://, postgresql://)");
        if (!lua_isnil(L, -1))
            cfg.storage = za_lua_check_cstring(L, -1, "system", "option 'storage'");
        lua_pop(L, 7);
    } else if (!lua_isnoneornil(L, 1)) {
        return luaL_typeerror(L, 1, "table or nil");
    }
    if (cfg.workers < 0) return luaL_error(L, "zactor: workers must be >= 0");
    za__lmod_system *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->sys = NULL;
    s->pack = NULL;
    s->cluster_events = NULL;
    luaL_setmetatable(L, ZA_LMOD_SYSTEM_MT);
    s->pack = za_pack_new();
    if (!s->pack) return luaL_error(L, "zactor: out of memory");
    if (lua_istable(L, 1)) {
        if (lua_getfield(L, 1, "cluster") != LUA_TNIL)
            cfg.cluster = za__lmod_cluster_create(L, -1, &s->cluster_events);
        lua_pop(L, 1); /* the system userdata is on top again */
    }
    int rc = za_system_create(&cfg, &s->sys);
    za_cluster_destroy(cfg.cluster); /* the system holds it now (or it leaves: failed) */
    if (rc != ZA_OK) {
        s->sys = NULL;
        return za_lua_raise(L, "system", rc);
    }
    return 1;
}

static int sys_close(lua_State *L) {
    za__lmod_system *s = luaL_checkudata(L, 1, ZA_LMOD_SYSTEM_MT);
    if (s->sys) {
        za_system *sys = s->sys;
        s->sys = NULL;
        za_system_destroy(sys); /* drains, stops actors, joins workers */
    }
    za__lmod_cluster_events_free(s->cluster_events); /* no event after the destroy */
    s->cluster_events = NULL;
    if (s->pack) {
        za_pack_free(s->pack);
        s->pack = NULL;
    }
    return 0;
}

static int sys_shutdown(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    uint32_t ms = za_lua_check_duration(L, 2, "shutdown", "timeout", 5.0, ZA_LUA_HUGE_IS_FOREVER);
    int rc = za_system_shutdown(s->sys, ms);
    lua_pushboolean(L, rc == ZA_OK);
    return 1;
}

/* Push package.path of this state (nil when there is none): the host
 * resolves module names in it, as require would, and the actor's own
 * ctx:spawn keeps using it. */
const char *za__lmod_package_path(lua_State *L) {
    if (lua_getglobal(L, "package") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return NULL;
    }
    lua_getfield(L, -1, "path");
    lua_remove(L, -2);
    return lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
}

/* system:spawn(spec, ..., { node = "api-2" | 2, name =, timeout_ms = }):
 * on another node of the cluster (csrc/cluster/remote_spawn.c), which must
 * allow spec; only name applies there (the node uses its defaults). */
static int spawn_on_node(lua_State *L, za__lmod_system *s, const char *spec, const za_spawn_opts *o,
                         const za_lua_opts *lo) {
    za_spawn_opts d;
    za_spawn_opts_init(&d);
    if (o->capacity != d.capacity || o->restart != d.restart || o->strategy != d.strategy ||
        o->max_restarts != d.max_restarts || o->within_ms != d.within_ms ||
        o->backoff_min_ms != d.backoff_min_ms || o->backoff_max_ms != d.backoff_max_ms ||
        o->full_policy != d.full_policy || o->block_timeout_ms != d.block_timeout_ms ||
        lo->memory_limit || lo->budget_ms || lo->open_io_os || lo->concurrency)
        return luaL_error(L, "zactor: spawn: with option 'node' only 'name' and 'timeout_ms' "
                             "apply (the other node uses its defaults)");
    za_ref r;
    int rc = za_cluster_spawn(s->sys, lo->node, "lua", spec, za_pack_data(s->pack),
                              za_pack_size(s->pack), o->name, lo->timeout_ms, &r);
    if (rc != ZA_OK) return luaL_error(L, "zactor: spawn: %s", za_last_error());
    za__lmod_push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

static int sys_spawn(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    const char *spec = za_lua_check_cstring(L, 2, "spawn", "the behaviour");
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    za_lua_opts lo = {0};
    za__lmod_collect_args(L, s, 3, "spawn", &o,
                          &lo);         /* o.name stays anchored in the options table */
    lo.path = za__lmod_package_path(L); /* anchored on the stack until we return */
    char err[512];
    za_ref r;
    if (lo.node[0]) return spawn_on_node(L, s, spec, &o, &lo);
    int rc = za_lua_spawn_ex(s->sys, spec, za_pack_data(s->pack), za_pack_size(s->pack), &o, &lo,
                             &r, err, sizeof err);
    if (rc == ZA_EEXIST) return luaL_error(L, "zactor: spawn: name '%s' is taken", o.name);
    if (rc != ZA_OK) return luaL_error(L, "zactor: spawn: %s", err[0] ? err : za_strerror(rc));
    za__lmod_push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

static int sys_lookup(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    za_ref r;
    if (za_lookup(s->sys, za_lua_check_cstring(L, 2, "lookup", "the name"), &r) != ZA_OK) {
        lua_pushnil(L);
        return 1;
    }
    za__lmod_push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

static int sys_wait_idle(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    uint32_t ms = za_lua_check_duration(L, 2, "wait_idle", "timeout", 5.0, ZA_LUA_HUGE_IS_FOREVER);
    lua_pushboolean(L, za_system_wait_idle(s->sys, ms) == ZA_OK);
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
    za__lmod_system *s = za__lmod_check_system(L, 1);
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
    F(reply_slots);
#undef F
    set_lat(L, "queue_latency", &m.queue_latency);
    set_lat(L, "process_latency", &m.process_latency);
    return 1;
}

static int sys_workers(lua_State *L) {
    lua_pushinteger(L, za_system_workers(za__lmod_check_system(L, 1)->sys));
    return 1;
}

static int sys_tostring(lua_State *L) {
    za__lmod_system *s = luaL_checkudata(L, 1, ZA_LMOD_SYSTEM_MT);
    lua_pushfstring(L, "zactor.system(%s)", s->sys ? "open" : "closed");
    return 1;
}

/* system:http_url() -> "http://127.0.0.1:9100" or nil (no endpoint) */
static int sys_http_url(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    const char *u = za_system_http_url(s->sys);
    if (u)
        lua_pushstring(L, u);
    else
        lua_pushnil(L);
    return 1;
}

/* zactor.trace() -> the traceparent sends from this thread carry, or nil;
 * zactor.trace(traceparent) sets it; zactor.trace(false) clears it. */
static int mod_trace(lua_State *L) {
    if (lua_gettop(L) >= 1) {
        if (lua_isboolean(L, 1) && !lua_toboolean(L, 1)) {
            za_trace_set_current(NULL);
            return 0;
        }
        za_trace t;
        if (za_trace_parse(luaL_checkstring(L, 1), &t) != ZA_OK)
            return luaL_error(L, "zactor: trace: %s", za_last_error());
        za_trace_set_current(&t);
        return 0;
    }
    za_trace t;
    char buf[56];
    if (za_trace_current(&t) != ZA_OK || za_trace_format(&t, buf, sizeof buf) != ZA_OK)
        lua_pushnil(L);
    else
        lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg sys_funcs[] = {
    {"system", sys_new},
    {"trace", mod_trace},
    {NULL, NULL},
};

static const luaL_Reg sys_meth[] = {
    {"spawn", sys_spawn},     {"lookup", sys_lookup},       {"shutdown", sys_shutdown},
    {"close", sys_close},     {"wait_idle", sys_wait_idle}, {"metrics", sys_metrics},
    {"workers", sys_workers}, {"http_url", sys_http_url},   {NULL, NULL},
};

static const luaL_Reg sys_metameth[] = {
    {"__close", sys_close},
    {"__gc", sys_close},
    {"__tostring", sys_tostring},
    {NULL, NULL},
};

void za__lmod_open_system(lua_State *L) {
    luaL_newmetatable(L, ZA_LMOD_SYSTEM_MT);
    luaL_newlib(L, sys_meth);
    lua_setfield(L, -2, "__index");
    luaL_setfuncs(L, sys_metameth, 0);
    lua_pop(L, 1);
    luaL_setfuncs(L, sys_funcs, 0);
}
