/*
 * lua_decode - libFuzzer target for the Lua host's direct MessagePack
 * decoder (za_lua_decode in the Lua host) and its encoder (za_lua_encode).
 *
 * For every input, in a fresh lua_State (liblua5.4, no libraries opened):
 *  1. za_lua_decode runs under lua_pcall: it either pushes one value or
 *     raises a Lua error whose message is a string starting with
 *     "zactor: bad MessagePack" (or a memory error); nothing else.
 *  2. Differential: the host's direct decoder must accept exactly what the
 *     runtime's za_doc_decode accepts (one wire format, two readers), but
 *     for a NaN map key, which only the Lua decoder refuses.
 *  3. The decoded value is encoded with za_lua_encode (must succeed: every
 *     decoded value is sendable), decoded again, and must be deep-equal.
 *
 * Deep equality: same Lua type, integers vs floats kept apart (math.type),
 * floats bit for bit (NaN equals NaN), strings byte for byte, userdata
 * (refs, zactor.bytes, zactor.uint64) by contents, tables by their key/value pairs (table keys matched
 * structurally).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ZA_LUA_HOST_WANT_LUA_API 1
#include <lauxlib.h>
#include <lua.h>

#include "fuzz_util.h"
#include "lua_host.h"
#include "zactor.h"

static int deep_eq(lua_State *L, int a, int b, int depth);

/* Is there a key in table tb structurally equal to key ka whose value is
 * deep-equal to va? */
static int has_pair(lua_State *L, int tb, int ka, int va, int depth) {
    int found = 0;
    lua_pushnil(L);
    while (!found && lua_next(L, tb)) {
        int top = lua_gettop(L);
        if (deep_eq(L, ka, top - 1, depth + 1) && deep_eq(L, va, top, depth + 1)) found = 1;
        lua_pop(L, 1);
        if (found) lua_pop(L, 1);
    }
    return found;
}

static int deep_eq(lua_State *L, int a, int b, int depth) {
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    FUZZ_CHECK(depth < 80, "deep_eq recursion too deep");
    FUZZ_CHECK(lua_checkstack(L, 8), "lua_checkstack");
    int t = lua_type(L, a);
    if (t != lua_type(L, b)) return 0;
    switch (t) {
    case LUA_TNIL:
        return 1;
    case LUA_TBOOLEAN:
        return lua_toboolean(L, a) == lua_toboolean(L, b);
    case LUA_TNUMBER:
        if (lua_isinteger(L, a) != lua_isinteger(L, b)) return 0;
        if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
        {
            lua_Number x = lua_tonumber(L, a), y = lua_tonumber(L, b);
            if (isnan(x) && isnan(y)) return 1;
            return memcmp(&x, &y, sizeof x) == 0;
        }
    case LUA_TSTRING: {
        size_t la, lb;
        const char *sa = lua_tolstring(L, a, &la), *sb = lua_tolstring(L, b, &lb);
        return la == lb && memcmp(sa, sb, la) == 0;
    }
    case LUA_TUSERDATA: { /* refs, zactor.bytes, zactor.uint64: by their contents */
        size_t la = lua_rawlen(L, a), lb = lua_rawlen(L, b);
        return la == lb && memcmp(lua_touserdata(L, a), lua_touserdata(L, b), la) == 0;
    }
    case LUA_TTABLE: {
        lua_Integer na = 0, nb = 0;
        lua_pushnil(L);
        while (lua_next(L, a)) na++, lua_pop(L, 1);
        lua_pushnil(L);
        while (lua_next(L, b)) nb++, lua_pop(L, 1);
        if (na != nb) return 0;
        int ok = 1;
        lua_pushnil(L);
        while (ok && lua_next(L, a)) {
            int top = lua_gettop(L);
            int kt = lua_type(L, top - 1);
            if (kt != LUA_TTABLE && kt != LUA_TUSERDATA) {
                lua_pushvalue(L, top - 1);
                lua_rawget(L, b);
                ok = deep_eq(L, top, -1, depth + 1);
                lua_pop(L, 1);
            } else {
                ok = has_pair(L, b, top - 1, top, depth);
            }
            lua_pop(L, 1);
            if (!ok) lua_pop(L, 1);
        }
        return ok;
    }
    }
    return lua_rawequal(L, a, b);
}

typedef struct job {
    const uint8_t *data;
    size_t size;
} job;

static int decode_cf(lua_State *L) {
    const job *j = lua_touserdata(L, 1);
    lua_settop(L, 0);
    za_lua_decode(L, j->data, j->size, NULL, NULL);
    return 1;
}

/* Run fn(ud) protected; 1 and the value on top, or 0 and the error on top. */
static int pcall_with(lua_State *L, lua_CFunction fn, void *ud) {
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    return lua_pcall(L, 1, 1, 0) == LUA_OK;
}

static const luaL_Reg no_methods[] = {{NULL, NULL}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_skip_known() && fuzz_known_oversized_count(data, size)) return 0;
    lua_State *L = luaL_newstate();
    FUZZ_CHECK(L, "luaL_newstate");
    /* The ref metatable, so decoded refs are real refs the encoder accepts. */
    za_lua_ref_metatable(L, no_methods);
    lua_pop(L, 1);

    job j = {data, size};
    int ok = pcall_with(L, decode_cf, &j); /* index 1: value or error */
    if (!ok) {
        FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "za_lua_decode raised a non-string error");
        const char *msg = lua_tostring(L, -1);
        FUZZ_CHECK(strncmp(msg, "zactor: bad MessagePack", 23) == 0 ||
                       strstr(msg, "not enough memory") || strstr(msg, "too deep"),
                   "unexpected error text: %s", msg);
    }

    /* Differential against za_doc_decode: same accept/reject verdict. */
    za_doc *doc = NULL;
    int rc = za_doc_decode(size ? data : NULL, size, &doc);
    /* The one difference by design: a NaN map key, which a Lua table cannot
     * hold, is a decode error in Lua only. */
    if (!ok && rc == ZA_OK && strstr(lua_tostring(L, 1), "NaN map key")) {
        za_doc_free(doc);
        lua_close(L);
        return 0;
    }
    FUZZ_CHECK((rc == ZA_OK) == ok,
               "za_lua_decode %s but za_doc_decode %s (%s)", ok ? "accepted" : "rejected",
               rc == ZA_OK ? "accepted" : "rejected", ok ? za_last_error() : lua_tostring(L, 1));
    if (!ok) {
        lua_close(L);
        return 0;
    }
    za_doc_free(doc);

    /* Encode what was decoded, decode that, compare. */
    za_pack *p = za_pack_new();
    char err[300];
    rc = za_lua_encode(L, 1, p, err, sizeof err);
    FUZZ_CHECK(rc == 0, "za_lua_encode of a decoded value failed: %s", err);
    FUZZ_CHECK(lua_gettop(L) == 1, "za_lua_encode left the stack at %d", lua_gettop(L));
    job j2 = {za_pack_data(p), za_pack_size(p)};
    FUZZ_CHECK(pcall_with(L, decode_cf, &j2), "encoded bytes do not decode: %s",
               lua_tostring(L, -1)); /* index 2 */
    FUZZ_CHECK(deep_eq(L, 1, 2, 0), "decode(encode(v)) != v in Lua");
    za_pack_free(p);
    lua_close(L);
    return 0;
}
