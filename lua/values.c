/*
 * values.c - values between the main script and MessagePack, with the
 * host's one encoder (za_lua_encode) and one decoder (za_lua_decode): what
 * the script sends and receives, and zactor.pack / unpack / ref_from_id,
 * which expose that exact encoding to the conformance tests.
 */
#include <stdint.h>

#include "module.h"

const void *za__lmod_encode(lua_State *L, za__lmod_system *s, int idx, size_t *len) {
    char err[300];
    za_pack_reset(s->pack);
    za_pack_bind(s->pack, s->sys); /* refs carry this System's identity */
    if (za_lua_encode(L, idx, s->pack, err, sizeof err) != 0)
        luaL_error(L, "zactor: bad value: %s", err);
    *len = za_pack_size(s->pack);
    return za_pack_data(s->pack);
}

/* Decoded straight from the bytes: nothing allocated outside Lua, so a
 * raised error leaks nothing. */
void za__lmod_push_bytes(lua_State *L, int sysidx, const void *data, size_t len) {
    if (!len) {
        lua_pushnil(L);
        return;
    }
    sysidx = lua_absindex(L, sysidx);
    za__lmod_system *s = luaL_testudata(L, sysidx, ZA_LMOD_SYSTEM_MT);
    za_lua_decode_in(L, s ? s->sys : NULL, data, len, za__lmod_push_ref, (void *)(intptr_t)sysidx);
}

/* A ref with no system (its user value slot stays empty): only for
 * comparing and re-encoding; its methods say "ref has no system". */
static void push_detached_ref(lua_State *L, za_ref r, void *ud) {
    (void)ud;
    za_lua_ref *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->ref = r;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
    lua_setmetatable(L, -2);
}

/* zactor.pack(v) -> MessagePack bytes, the exact encoding used for sends. */
static int values_pack(lua_State *L) {
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

/* zactor.unpack(bytes) -> value (refs come back as refs with no system). */
static int values_unpack(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    za_lua_decode(L, s, n, push_detached_ref, NULL);
    return 1;
}

/* zactor.ref_from_id(integer): a detached ref (for conformance vectors). */
static int values_ref_from_id(lua_State *L) {
    push_detached_ref(L, (za_ref)luaL_checkinteger(L, 1), NULL);
    return 1;
}

static const luaL_Reg values_funcs[] = {
    {"pack", values_pack},
    {"unpack", values_unpack},
    {"ref_from_id", values_ref_from_id},
    {NULL, NULL},
};

void za__lmod_open_values(lua_State *L) {
    luaL_setfuncs(L, values_funcs, 0);
    za_lua_values_api(L); /* null, array, map, bytes, array_mt, ... */
}
