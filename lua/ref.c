/*
 * ref.c - actor references in the main script: a userdata {za_ref} with
 * the metatable "zactor.ref" (the host's layout and recipe, so refs encode
 * the same everywhere) whose user value is the system object. The methods
 * here block the calling thread (ask, join), which only the main script
 * may do; actors get the host's non-blocking ones.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "module.h"

void za__lmod_push_ref(lua_State *L, za_ref r, void *ud) {
    int sysidx = (int)(intptr_t)ud;
    za_lua_ref *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->ref = r;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, sysidx);
    lua_setiuservalue(L, -2, 1);
}

/* The ref at idx and its (open) system. */
static za_ref check_ref(lua_State *L, int idx, za__lmod_system **sys) {
    za_lua_ref *u = luaL_checkudata(L, idx, ZA_LUA_REF_MT);
    if (lua_getiuservalue(L, idx, 1) != LUA_TUSERDATA) luaL_error(L, "zactor: ref has no system");
    za__lmod_system *s = luaL_checkudata(L, -1, ZA_LMOD_SYSTEM_MT);
    lua_pop(L, 1); /* the ref keeps it alive */
    if (!s->sys) luaL_error(L, "zactor: the system of this ref is closed");
    *sys = s;
    return u->ref;
}

static int ref_tell(lua_State *L) {
    za__lmod_system *s;
    za_ref r = check_ref(L, 1, &s);
    size_t len;
    const void *d = za__lmod_encode(L, s, 2, &len);
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
    za__lmod_system *s;
    za_ref r = check_ref(L, 1, &s);
    uint32_t ms = za_lua_check_duration(L, 3, "ask", "timeout", 5.0,
                                        ZA_LUA_HUGE_IS_FOREVER | ZA_LUA_POSITIVE);
    size_t len;
    const void *d = za__lmod_encode(L, s, 2, &len);
    za_answer a;
    memset(&a, 0, sizeof a);
    int rc = za_ask(s->sys, r, 0, d, len, ms, &a);
    if (rc != ZA_OK) {
        char text[600];
        snprintf(text, sizeof text, "%s", a.error ? a.error : "");
        za_answer_free(&a);
        if (rc == ZA_ETIMEDOUT) {
            char secs[32];
            snprintf(secs, sizeof secs, "%g", ms / 1000.0); /* lua_pushfstring has no %g */
            return luaL_error(L, "zactor: ask timed out after %s s", secs);
        }
        if (rc == ZA_EFAILED) return luaL_error(L, "zactor: ask: the actor failed: %s", text);
        if (rc == ZA_EDEAD) return za__lua_raise_dead(L, "ask", text[0] ? text : za_last_error());
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
    za__lmod_push_bytes(L, sysidx, bytes, alen);
    return 1;
}

static int ref_stop(lua_State *L) {
    za__lmod_system *s;
    za_ref r = check_ref(L, 1, &s);
    int rc = za_stop(s->sys, r);
    if (rc != ZA_OK && rc != ZA_EDEAD) return za_lua_raise(L, "stop", rc);
    lua_pushboolean(L, rc == ZA_OK);
    return 1;
}

static int ref_join(lua_State *L) {
    za__lmod_system *s;
    za_ref r = check_ref(L, 1, &s);
    uint32_t ms = za_lua_check_duration(L, 2, "join", "timeout", 5.0, ZA_LUA_HUGE_IS_FOREVER);
    lua_pushboolean(L, za_join(s->sys, r, ms) == ZA_OK);
    return 1;
}

static int ref_alive(lua_State *L) {
    za__lmod_system *s;
    za_ref r = check_ref(L, 1, &s);
    lua_pushboolean(L, za_is_alive(s->sys, r) == 1);
    return 1;
}

static int ref_info(lua_State *L) {
    za__lmod_system *s;
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

/* ref:node(): the cluster node the actor lives on (0 outside a cluster) */
static int ref_node(lua_State *L) {
    za_lua_ref *u = luaL_checkudata(L, 1, ZA_LUA_REF_MT);
    lua_pushinteger(L, (lua_Integer)za_ref_node(u->ref));
    return 1;
}

static const luaL_Reg ref_meth[] = {
    {"tell", ref_tell}, {"ask", ref_ask},     {"stop", ref_stop},
    {"join", ref_join}, {"alive", ref_alive}, {"info", ref_info},
    {"id", ref_id},     {"node", ref_node},   {NULL, NULL},
};

void za__lmod_open_ref(lua_State *L) {
    za_lua_ref_metatable(L, ref_meth);
    lua_pop(L, 1);
}
