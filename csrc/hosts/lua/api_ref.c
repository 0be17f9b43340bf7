/*
 * api_ref.c - actor references as Lua sees them: the ref metatable
 * (shared by actor states and the module), recognising and pushing refs,
 * the ref methods a handler may call, and za_lua_raise, the one wording of
 * runtime errors in Lua.
 */
#include "lua_actor.h"

#include <string.h>

/* By metatable identity, found without allocation (the encoder asks for
 * every userdata it meets): registry[&za_lua_behaviour]. */
int za__lua_is_ref(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour); /* the ref metatable */
    int eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

void za__lua_push_ref(lua_State *L, za_ref r, void *ud) {
    (void)ud;
    za_lua_ref *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->ref = r;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
    lua_setmetatable(L, -2);
}

za_ref za__lua_check_ref(lua_State *L, int idx) {
    if (!za__lua_is_ref(L, idx)) luaL_typeerror(L, idx, "zactor ref");
    return ((za_lua_ref *)lua_touserdata(L, idx))->ref;
}

void za__lua_push_ref_or_nil(lua_State *L, za_ref r) {
    if (r == ZA_REF_NONE)
        lua_pushnil(L);
    else
        za__lua_push_ref(L, r, NULL);
}

/* ZA_EDEAD's wording: "actor is dead", or, when the runtime remembers that
 * the actor died at start (text is then "actor 1.5 failed to start: ..."),
 * that reason: a spawn does not wait for init, so this is where a caller
 * learns why (issue 10, finding 23). text: the error of the failed call. */
int za__lua_raise_dead(lua_State *L, const char *op, const char *text) {
    if (text && strstr(text, " failed to start: "))
        return luaL_error(L, "zactor: %s: %s", op, text);
    return luaL_error(L, "zactor: %s: actor is dead", op);
}

/* One wording of runtime errors for Lua, shared with the Lua module. */
int za_lua_raise(lua_State *L, const char *op, int rc) {
    switch (rc) {
    case ZA_EDEAD:
        return za__lua_raise_dead(L, op, za_last_error());
    case ZA_EFULL:
        return luaL_error(L, "zactor: %s: mailbox full", op);
    case ZA_ETIMEDOUT:
        return luaL_error(L, "zactor: %s: timed out", op);
    case ZA_ESHUTDOWN:
        return luaL_error(L, "zactor: %s: system is shutting down", op);
    default:
        return luaL_error(L, "zactor: %s: %s", op, za__lua_err_text(rc));
    }
}

/* The methods of refs inside actor states (the module has its own, which
 * know the module's system: lua/ref.c). */

/* za__lua_check_ref in an actor state (never the module's: __tostring and
 * __eq are shared with it): the ref metatable's address is cached in the
 * actor, a registry lookup less per tell (~250 instructions of ~1100). */
static za_ref actor_check_ref(lua_State *L, za__lua_actor *a, int idx) {
    if (a->ref_mt && lua_type(L, idx) == LUA_TUSERDATA && lua_getmetatable(L, idx)) {
        const void *mt = lua_topointer(L, -1);
        lua_pop(L, 1);
        if (mt == a->ref_mt) return ((za_lua_ref *)lua_touserdata(L, idx))->ref;
    }
    return za__lua_check_ref(L, idx);
}

int za__lua_ref_tell(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za_ref r = actor_check_ref(L, a, 1);
    size_t len;
    const void *d = za__lua_encode_or_raise(L, a, 2, &len);
    int rc = za_tell(a->sys, r, 0, d, len);
    za__lua_pack_after(a, len);
    if (rc == ZA_EDROPPED) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc != ZA_OK) za_lua_raise(L, "tell", rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int ref_stop(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    int rc = za_stop(a->sys, za__lua_check_ref(L, 1));
    if (rc != ZA_OK && rc != ZA_EDEAD) za_lua_raise(L, "stop", rc);
    return 0;
}

static int ref_alive(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    lua_pushboolean(L, za_is_alive(a->sys, za__lua_check_ref(L, 1)) == 1);
    return 1;
}

static int ref_eq(lua_State *L) {
    lua_pushboolean(L, za__lua_is_ref(L, 1) && za__lua_is_ref(L, 2) &&
                           ((za_lua_ref *)lua_touserdata(L, 1))->ref ==
                               ((za_lua_ref *)lua_touserdata(L, 2))->ref);
    return 1;
}

static int ref_tostring(lua_State *L) {
    za_ref r = za__lua_check_ref(L, 1);
    lua_pushfstring(L, "zactor.ref(%d.%d)", (int)za_ref_slot(r), (int)za_ref_gen(r));
    return 1;
}

void za_lua_ref_metatable(lua_State *L, const luaL_Reg *methods) {
    luaL_newmetatable(L, ZA_LUA_REF_MT);
    int n = 0;
    while (methods[n].name) n++;
    lua_createtable(L, 0, n); /* presized: this runs for every actor state */
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ref_eq);
    lua_setfield(L, -2, "__eq");
    lua_pushcfunction(L, ref_tostring);
    lua_setfield(L, -2, "__tostring");
    /* findable without allocation: registry[&za_lua_behaviour] */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
}

/* ref:node(): the cluster node the actor lives on (0 outside a cluster),
 * as on the module's refs */
static int ref_node(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)za_ref_node(za__lua_check_ref(L, 1)));
    return 1;
}

static const luaL_Reg ref_methods[] = {
    {"tell", za__lua_ref_tell}, {"stop", ref_stop}, {"alive", ref_alive},
    {"node", ref_node},         {NULL, NULL},
};

void za__lua_open_refs(lua_State *L) {
    za_lua_ref_metatable(L, ref_methods);
    lua_pop(L, 1);
}
