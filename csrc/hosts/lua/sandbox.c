/*
 * sandbox.c - what an actor's code may reach beyond its own state.
 *
 * Lua does not verify bytecode: a binary chunk with a patched constant
 * index reads and writes outside the VM's arrays and crashes the whole
 * process. So actor code loads text only: `load` is wrapped to force mode
 * "t" and `string.dump` is removed (bytecode it makes could not be loaded
 * back anyway). The host's own bytecode cache (proto.c) is compiled from
 * text by the host and loaded with luaL_loadbufferx directly: trusted.
 *
 * Files: `dofile` and `loadfile` exist only with open_io_os (which already
 * grants io.open), and then load text only. `require` and `package` are
 * never opened in actors: package.loadlib / C searchers would load native
 * code into the process, and module behaviours are resolved by the host
 * (proto.c) at spawn time instead.
 */
#include "lua_actor.h"

#include <lualib.h>
#include <string.h>

/* load(chunk [, chunkname [, mode [, env]]]) with mode always "t": the
 * original function is upvalue 1. An explicit env stays an argument (load
 * distinguishes "no env" from a nil env). */
static int safe_load(lua_State *L) {
    int n = lua_gettop(L);
    if (n >= 3 && !lua_isnil(L, 3)) {
        const char *mode = luaL_checkstring(L, 3);
        if (strchr(mode, 'b') && !strchr(mode, 't'))
            return luaL_error(L, "zactor: load: binary chunks are not allowed in actors "
                                 "(mode must be \"t\")");
    }
    int nargs = n >= 4 ? 4 : 3;
    lua_settop(L, nargs);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, nargs, LUA_MULTRET);
    return lua_gettop(L);
}

/* loadfile(filename [, mode [, env]]), text only (open_io_os actors). */
static int safe_loadfile(lua_State *L) {
    int n = lua_gettop(L);
    const char *fname = luaL_checkstring(L, 1);
    if (luaL_loadfilex(L, fname, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (n >= 3) { /* env: the chunk's first upvalue is _ENV */
        lua_pushvalue(L, 3);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

static int dofile_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    (void)k;
    return lua_gettop(L) - 1;
}

/* dofile(filename), text only (open_io_os actors). */
static int safe_dofile(lua_State *L) {
    const char *fname = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, fname, "t") != LUA_OK) return lua_error(L);
    lua_callk(L, 0, LUA_MULTRET, 0, dofile_cont);
    return dofile_cont(L, 0, 0);
}

/* setmetatable(t, mt), as the base library's (same checks, same errors),
 * and: a metatable with __gc makes t finalizable, so the actor's state is
 * then never reused (statepool.c) and a finalizer never runs inside the
 * next actor. Not a wrapper: argument errors name 'setmetatable'. */
static int safe_setmetatable(lua_State *L) {
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) za__lua_actor_of(L)->tainted = 1;
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

void za__lua_sandbox_base(lua_State *L, int open_io_os) {
    lua_pushglobaltable(L);
    lua_pushcfunction(L, safe_setmetatable);
    lua_setfield(L, -2, "setmetatable");
    lua_getfield(L, -1, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setfield(L, -2, "load");
    if (open_io_os) {
        lua_pushcfunction(L, safe_loadfile);
        lua_setfield(L, -2, "loadfile");
        lua_pushcfunction(L, safe_dofile);
        lua_setfield(L, -2, "dofile");
    } else {
        lua_pushnil(L);
        lua_setfield(L, -2, "loadfile");
        lua_pushnil(L);
        lua_setfield(L, -2, "dofile");
    }
    lua_pop(L, 1);
}

/* The string library of actors: no dump, and the pattern functions bounded
 * by the handler budget (patterns.c). */
int za__lua_open_string(lua_State *L) {
    luaopen_string(L);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    za__lua_bound_patterns(L, lua_gettop(L));
    return 1;
}
