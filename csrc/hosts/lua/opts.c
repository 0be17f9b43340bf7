/*
 * opts.c - spawn options from a Lua table, shared by ctx:spawn and the
 * module's system:spawn / spawn_native (declared in lua_host.h).
 */
#include "lua_actor.h"

#include <string.h>

int za_lua_parse_opts(lua_State *L, int idx, za_spawn_opts *o, za_lua_opts *lo) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (strcmp(k, "name") == 0)
            o->name = luaL_checkstring(L, -1);
        else if (strcmp(k, "capacity") == 0)
            o->capacity = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "max_restarts") == 0)
            o->max_restarts = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "within_ms") == 0)
            o->within_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "backoff_min_ms") == 0)
            o->backoff_min_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "backoff_max_ms") == 0)
            o->backoff_max_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "block_timeout_ms") == 0)
            o->block_timeout_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "memory_limit") == 0)
            lo->memory_limit = (size_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "budget_ms") == 0)
            lo->budget_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "open_io_os") == 0)
            lo->open_io_os = lua_toboolean(L, -1);
        else if (strcmp(k, "restart") == 0) {
            static const char *const r[] = {"permanent", "transient", "temporary", NULL};
            o->restart = (za_restart)luaL_checkoption(L, -1, NULL, r);
        } else if (strcmp(k, "strategy") == 0) {
            static const char *const s[] = {"one_for_one", "one_for_all", "rest_for_one",
                                            "stop",        "escalate",    NULL};
            o->strategy = (za_strategy)luaL_checkoption(L, -1, NULL, s);
        } else if (strcmp(k, "full_policy") == 0) {
            static const char *const f[] = {"fail", "drop_newest", "drop_oldest", "block", NULL};
            o->full_policy = (za_full_policy)luaL_checkoption(L, -1, NULL, f);
        } else
            return luaL_error(L, "zactor: unknown spawn option '%s'", k);
        lua_pop(L, 1);
    }
    return 0;
}

/* Every key za_lua_parse_opts knows: keep the two in step. */
int za_lua_is_opts(lua_State *L, int idx) {
    static const char *const keys[] = {
        "name",           "capacity",         "max_restarts", "within_ms", "backoff_min_ms",
        "backoff_max_ms", "block_timeout_ms", "memory_limit", "budget_ms", "open_io_os",
        "restart",        "strategy",         "full_policy",  NULL};
    if (!lua_istable(L, idx)) return 0;
    idx = lua_absindex(L, idx);
    int n = 0, ok = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n++;
        int found = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            for (int i = 0; keys[i]; i++)
                if (strcmp(k, keys[i]) == 0) found = 1;
        }
        lua_pop(L, 1);
        if (!found) {
            lua_pop(L, 1);
            ok = 0;
            break;
        }
    }
    return ok && n > 0;
}
