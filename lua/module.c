/*
 * module.c - the Lua 5.4 module's entry: `local zactor = require "zactor"`.
 *
 * Built as lua/zactor.so from the runtime sources (every csrc top-level
 * .c), the Lua host (csrc/hosts/lua/) and the files of lua/ (module.h
 * lists them). It does not link liblua: the Lua API symbols come from the
 * interpreter that loads it (lua5.4), so the module and the actors' states
 * share one Lua core.
 */
#include <time.h>

#include "module.h"

/* zactor.sleep(sec): lets a main script wait without burning a core the
 * workers need. */
static int zactor_sleep(lua_State *L) {
    if (lua_isnoneornil(L, 1)) luaL_argerror(L, 1, "sleep: seconds expected");
    lua_Number t = za_lua_check_duration(L, 1, "sleep", "seconds", 0, 0) / 1000.0;
    if (t > 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (lua_Number)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return 0;
}

/* zactor.clock(): monotonic seconds (for benchmarks). */
static int zactor_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* zactor.lua_pool_stats(): {fresh=, reused=, kept=, refused=, idle=} (see
 * za_lua_pool_stats): how often Lua actors got a reset state. */
static int zactor_lua_pool_stats(lua_State *L) {
    za_lua_pool_stats st;
    za_lua_get_pool_stats(&st);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)st.fresh);
    lua_setfield(L, -2, "fresh");
    lua_pushinteger(L, (lua_Integer)st.reused);
    lua_setfield(L, -2, "reused");
    lua_pushinteger(L, (lua_Integer)st.kept);
    lua_setfield(L, -2, "kept");
    lua_pushinteger(L, (lua_Integer)st.refused);
    lua_setfield(L, -2, "refused");
    lua_pushinteger(L, (lua_Integer)st.idle);
    lua_setfield(L, -2, "idle");
    return 1;
}

/* zactor.live_handlers(): Lua handlers suspended right now in this
 * process (in ctx:ask, ctx:sleep, ctx:ask_all, ctx:first, or a waiting stop
 * handler), like Python's zactor.live_handlers(): 0 once nothing waits. */
static int zactor_live_handlers(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)za_lua_live_handlers());
    return 1;
}

static const luaL_Reg zactor_funcs[] = {
    {"sleep", zactor_sleep},
    {"clock", zactor_clock},
    {"lua_pool_stats", zactor_lua_pool_stats},
    {"live_handlers", zactor_live_handlers},
    {NULL, NULL},
};

/* __gc of a sentinel made at load: the pooled actor states go before the
 * interpreter may unload this module (the sentinel is younger than the C
 * library table whose __gc dlcloses it, so it is finalized first). */
static int zactor_unload(lua_State *L) {
    (void)L;
    za_lua_pool_drain();
    return 0;
}

/* Safe to call twice in one state (busted does): metatables are looked up
 * by name and (re)filled, nothing is global in C. */
__attribute__((visibility("default"))) int luaopen_zactor(lua_State *L) {
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, zactor_unload);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_newlib(L, zactor_funcs);
    za__lmod_open_system(L);
    za__lmod_open_native(L);
    za__lmod_open_cluster(L);
    za__lmod_open_grain(L);
    za__lmod_open_ref(L);
    za__lmod_open_values(L);
    za__lmod_open_store(L);
    lua_pushliteral(L, "0.1.0");
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, ZA_LUA_DEFAULT_MEMORY);
    lua_setfield(L, -2, "default_memory_limit");
    return 1;
}
