/*
 * codec.c - values between Lua and MessagePack (the mapping is in
 * lua_host.h): the encoder (Lua value -> za_pack, csrc/value.c's writer)
 * and the decoder (bytes -> Lua values), one per direction.
 */
#include "lua_actor.h"

#include <stddef.h>
#include <string.h>

#include "utf8.h"

/* --------------------------------------------------- the value model in Lua
 *
 * What Lua lacks to hold every value of the model unchanged:
 *  - nil inside arrays and maps: zactor.null, one light userdata (the same
 *    value in every actor state and the main script);
 *  - array vs map: a decoded map carries zactor.map_mt (one
 *    lua_setmetatable), so an empty or 1..n-keyed map stays a map; a decoded
 *    array is a plain sequence (its nils are zactor.null, so its keys are
 *    exactly 1..n, which the encoder writes as an array). zactor.map{} and
 *    zactor.array{} mark tables built by hand (an array_mt table with keys
 *    other than 1..n is refused); an unmarked table is an array iff its keys
 *    are exactly 1..n (the empty table: an empty array);
 *  - bytes vs text: bin decodes to a zactor.bytes userdata (tostring, #,
 *    :sub, :byte, ==); plain strings go out as str when valid UTF-8, else bin;
 *  - integers above math.maxinteger: a zactor.uint64 userdata (tostring, ==,
 *    <), written back as the same uint64.
 * A NaN map key cannot exist in a Lua table: decoding one is an error. */

static const char null_tag = 0;
#define ZA_LUA_NULL ((void *)&null_tag)
static const char k_array = 0, k_map = 0, k_bytes = 0, k_uint = 0;

typedef struct lbytes {
    size_t len;
    char b[];
} lbytes;

static lbytes *to_bytes(lua_State *L, int idx) {
    lbytes *u = lua_touserdata(L, idx);
    if (!u || !lua_getmetatable(L, idx)) return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &k_bytes);
    int ok = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return ok ? u : NULL;
}

static const lbytes *check_bytes(lua_State *L, int idx) {
    const lbytes *u = to_bytes(L, idx);
    if (!u) luaL_typeerror(L, idx, "zactor.bytes");
    return u;
}

static lbytes *new_bytes(lua_State *L, const void *b, size_t n) {
    lbytes *u = lua_newuserdatauv(L, offsetof(lbytes, b) + n, 0);
    u->len = n;
    if (n) memcpy(u->b, b, n);
    return u;
}

static int bytes_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)check_bytes(L, 1)->len);
    return 1;
}

static int bytes_tostring(lua_State *L) {
    const lbytes *u = check_bytes(L, 1);
    lua_pushlstring(L, u->b, u->len);
    return 1;
}

/* A bytes value or a string: its contents. */
static const char *bytes_or_string(lua_State *L, int idx, size_t *n) {
    const lbytes *u = to_bytes(L, idx);
    if (u) {
        *n = u->len;
        return u->b;
    }
    return luaL_checklstring(L, idx, n);
}

static int bytes_eq(lua_State *L) {
    size_t a, b;
    const lbytes *x = to_bytes(L, 1), *y = to_bytes(L, 2);
    if (!x || !y) {
        lua_pushboolean(L, 0);
        return 1;
    }
    a = x->len;
    b = y->len;
    lua_pushboolean(L, a == b && memcmp(x->b, y->b, a) == 0);
    return 1;
}

static int bytes_concat(lua_State *L) {
    size_t a, b;
    const char *x = bytes_or_string(L, 1, &a), *y = bytes_or_string(L, 2, &b);
    luaL_Buffer buf;
    luaL_buffinit(L, &buf);
    luaL_addlstring(&buf, x, a);
    luaL_addlstring(&buf, y, b);
    luaL_pushresult(&buf);
    return 1;
}

static size_t rel_pos(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos;
    if (pos == 0) return 1;
    if (pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

/* b:sub(i [, j]): a string, with string.sub's indices. */
static int bytes_sub(lua_State *L) {
    const lbytes *u = check_bytes(L, 1);
    size_t i = rel_pos(luaL_checkinteger(L, 2), u->len);
    lua_Integer jj = luaL_optinteger(L, 3, -1);
    size_t j = jj < -(lua_Integer)u->len ? 0 : jj < 0 ? u->len + (size_t)jj + 1 : (size_t)jj;
    if (j > u->len) j = u->len;
    if (i > j)
        lua_pushliteral(L, "");
    else
        lua_pushlstring(L, u->b + i - 1, j - i + 1);
    return 1;
}

/* b:byte([i]): the byte at i (default 1), or nothing past the end. */
static int bytes_byte(lua_State *L) {
    const lbytes *u = check_bytes(L, 1);
    size_t i = rel_pos(luaL_optinteger(L, 2, 1), u->len);
    if (i < 1 || i > u->len) return 0;
    lua_pushinteger(L, (unsigned char)u->b[i - 1]);
    return 1;
}

static int uint_tostring(lua_State *L) {
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(uint64_t *)lua_touserdata(L, 1));
    lua_pushstring(L, buf);
    return 1;
}

/* uint64 values compare with each other and with Lua numbers. */
static int uint_cmp_args(lua_State *L, uint64_t *a, uint64_t *b, int *neg_b) {
    *neg_b = 0;
    for (int i = 1; i <= 2; i++) {
        uint64_t *dst = i == 1 ? a : b;
        if (lua_type(L, i) == LUA_TUSERDATA) {
            *dst = *(uint64_t *)lua_touserdata(L, i);
        } else {
            lua_Integer v = luaL_checkinteger(L, i);
            if (v < 0) {
                *neg_b = i;
                *dst = 0;
            } else {
                *dst = (uint64_t)v;
            }
        }
    }
    return 0;
}

static int uint_eq(lua_State *L) {
    uint64_t a, b;
    int neg;
    if (lua_type(L, 1) != LUA_TUSERDATA || lua_type(L, 2) != LUA_TUSERDATA) {
        lua_pushboolean(L, 0);
        return 1;
    }
    uint_cmp_args(L, &a, &b, &neg);
    lua_pushboolean(L, a == b);
    return 1;
}

static int uint_lt(lua_State *L) {
    uint64_t a, b;
    int neg;
    uint_cmp_args(L, &a, &b, &neg);
    lua_pushboolean(L, neg == 1 ? 1 : neg == 2 ? 0 : a < b);
    return 1;
}

static int uint_le(lua_State *L) {
    uint64_t a, b;
    int neg;
    uint_cmp_args(L, &a, &b, &neg);
    lua_pushboolean(L, neg == 1 ? 1 : neg == 2 ? 0 : a <= b);
    return 1;
}

/* Push the metatable under key, creating it the first time in this state. */
static void push_mt(lua_State *L, const char *key) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 8);
    if (key == &k_array) {
        lua_pushliteral(L, "zactor.array");
    } else if (key == &k_map) {
        lua_pushliteral(L, "zactor.map");
    } else if (key == &k_bytes) {
        static const luaL_Reg meta[] = {{"__len", bytes_len},
                                        {"__tostring", bytes_tostring},
                                        {"__eq", bytes_eq},
                                        {"__concat", bytes_concat},
                                        {NULL, NULL}};
        static const luaL_Reg methods[] = {{"sub", bytes_sub},
                                           {"byte", bytes_byte},
                                           {"len", bytes_len},
                                           {"tostring", bytes_tostring},
                                           {NULL, NULL}};
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "zactor.bytes");
    } else {
        static const luaL_Reg meta[] = {{"__tostring", uint_tostring},
                                        {"__eq", uint_eq},
                                        {"__lt", uint_lt},
                                        {"__le", uint_le},
                                        {NULL, NULL}};
        luaL_setfuncs(L, meta, 0);
        lua_pushliteral(L, "zactor.uint64");
    }
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* zactor.array(t [, n]): mark t (default {}) as an array; with n, fill
 * the missing items 1..n with zactor.null. Returns t. */
static int api_array(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 1);
        lua_newtable(L);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_optinteger(L, 2, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 1, i) == LUA_TNIL) {
            lua_pushlightuserdata(L, ZA_LUA_NULL);
            lua_rawseti(L, 1, i);
        }
        lua_pop(L, 1);
    }
    push_mt(L, &k_array);
    lua_setmetatable(L, 1);
    lua_settop(L, 1);
    return 1;
}

/* zactor.map(t): mark t (default {}) as a map, even when empty or int-keyed. */
static int api_map(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 1);
        lua_newtable(L);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    push_mt(L, &k_map);
    lua_setmetatable(L, 1);
    lua_settop(L, 1);
    return 1;
}

/* zactor.bytes(s): a bytes value (sent as MessagePack bin) from a string. */
static int api_bytes(lua_State *L) {
    size_t n;
    const char *b = bytes_or_string(L, 1, &n);
    new_bytes(L, b, n);
    push_mt(L, &k_bytes);
    lua_setmetatable(L, -2);
    return 1;
}

static int api_is_bytes(lua_State *L) {
    lua_pushboolean(L, to_bytes(L, 1) != NULL);
    return 1;
}

void za_lua_values_api(lua_State *L) {
    static const luaL_Reg funcs[] = {{"array", api_array},
                                     {"map", api_map},
                                     {"bytes", api_bytes},
                                     {"is_bytes", api_is_bytes},
                                     {NULL, NULL}};
    luaL_checkstack(L, 4, NULL);
    luaL_setfuncs(L, funcs, 0);
    lua_pushlightuserdata(L, ZA_LUA_NULL);
    lua_setfield(L, -2, "null");
    push_mt(L, &k_array);
    lua_setfield(L, -2, "array_mt");
    push_mt(L, &k_map);
    lua_setfield(L, -2, "map_mt");
    push_mt(L, &k_bytes);
    lua_setfield(L, -2, "bytes_mt");
    push_mt(L, &k_uint);
    lua_setfield(L, -2, "uint64_mt");
}

/* ------------------------------------------------------------- encoder */

typedef struct enc {
    lua_State *L;
    za_pack *p;
    char *err;
    size_t errlen;
    const void *stack[ZA_LUA_MAX_DEPTH + 1];
    int depth;
    const void *amt, *mmt, *bmt, *umt; /* this state's marker metatables (NULL: not fetched) */
    const char *what; /* set by enc_fail; the message is formatted once, at the top */
    char path[256];   /* built while unwinding from a failure, innermost first */
} enc;

/* Record what failed; the path ("at .a[2]") is prepended to by each
 * enclosing table while the failure unwinds (path_prepend), so the happy
 * path formats nothing. */
static int enc_fail(enc *e, const char *what) {
    e->what = what;
    e->path[0] = 0;
    return -1;
}

static int enc_value(enc *e, int idx);

static void enc_fetch_mts(enc *e) {
    lua_State *L = e->L;
    static const char *const keys[4] = {&k_array, &k_map, &k_bytes, &k_uint};
    const void **dst[4] = {&e->amt, &e->mmt, &e->bmt, &e->umt};
    for (int i = 0; i < 4; i++) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, keys[i]);
        *dst[i] = lua_topointer(L, -1); /* NULL when never created: matches nothing */
        lua_pop(L, 1);
    }
    if (!e->amt) e->amt = &e->amt; /* "fetched" without matching a real table */
}

/* The metatable of the value at idx as a pointer (NULL: none). */
static const void *enc_mt(enc *e, int idx) {
    lua_State *L = e->L;
    if (!lua_getmetatable(L, idx)) return NULL;
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (!e->amt) enc_fetch_mts(e);
    return mt;
}

/* Prepend "[k]" or ".k" (the key at kidx, or the integer index i when
 * kidx is 0) to the error path. */
static void path_prepend(enc *e, int kidx, lua_Integer i) {
    char seg[128];
    lua_State *L = e->L;
    if (kidx == 0)
        snprintf(seg, sizeof seg, "[%lld]", (long long)i);
    else if (lua_type(L, kidx) == LUA_TSTRING)
        snprintf(seg, sizeof seg, ".%s", lua_tostring(L, kidx));
    else if (lua_isinteger(L, kidx))
        snprintf(seg, sizeof seg, "[%lld]", (long long)lua_tointeger(L, kidx));
    else
        snprintf(seg, sizeof seg, "[?]");
    size_t sl = strlen(seg), pl = strlen(e->path);
    if (sl + pl >= sizeof e->path) {
        if (sl >= sizeof e->path) return;
        pl = sizeof e->path - 1 - sl; /* keep the outer part; drop the tail */
    }
    memmove(e->path + sl, e->path, pl);
    memcpy(e->path, seg, sl);
    e->path[sl + pl] = 0;
}

static int enc_table(enc *e, int idx) {
    lua_State *L = e->L;
    const void *tp = lua_topointer(L, idx);
    for (int i = 0; i < e->depth; i++)
        if (e->stack[i] == tp) return enc_fail(e, "a cyclic table");
    if (e->depth >= ZA_LUA_MAX_DEPTH) return enc_fail(e, "a table nested deeper than 32 levels");
    if (!lua_checkstack(L, 6)) return enc_fail(e, "a value (Lua stack exhausted)");
    e->stack[e->depth++] = tp;
    /* Marked: zactor.array_mt / map_mt. Unmarked: array iff the keys are
     * exactly 1..n (the empty table is an array). */
    const void *mt = enc_mt(e, idx);
    int marked_array = mt && mt == e->amt, marked_map = mt && mt == e->mmt;
    lua_Integer n = marked_map ? 0 : (lua_Integer)lua_rawlen(L, idx);
    lua_Integer count = 0;
    int seq = !marked_map;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        if (seq) {
            int isint = 0;
            lua_Integer k = lua_tointegerx(L, -2, &isint);
            if (!isint || lua_type(L, -2) != LUA_TNUMBER || k < 1 || k > n) seq = 0;
        }
        lua_pop(L, 1);
    }
    int rc = 0;
    if (marked_array && !(seq && count == n))
        return enc_fail(e, "a zactor.array with keys other than 1..#t (use zactor.null for holes)");
    if (seq && count == n) {
        if (count > UINT32_MAX || za_pack_array(e->p, (uint32_t)count) != ZA_OK)
            return enc_fail(e, "a table (MessagePack writer failed)");
        for (lua_Integer i = 1; i <= n && rc == 0; i++) {
            lua_rawgeti(L, idx, i);
            rc = enc_value(e, lua_gettop(L));
            if (rc != 0) path_prepend(e, 0, i);
            lua_pop(L, 1);
        }
    } else {
        if (count > UINT32_MAX || za_pack_map(e->p, (uint32_t)count) != ZA_OK)
            return enc_fail(e, "a table (MessagePack writer failed)");
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, idx)) {
            int top = lua_gettop(L);
            rc = enc_value(e, top - 1);
            if (rc == 0) rc = enc_value(e, top);
            if (rc != 0) path_prepend(e, top - 1, 0);
            lua_pop(L, 1);
        }
        if (rc != 0) lua_pop(L, 1); /* the key left by the aborted traversal */
    }
    e->depth--;
    return rc;
}

static int enc_value(enc *e, int idx) {
    lua_State *L = e->L;
    int r = ZA_OK;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        r = za_pack_nil(e->p);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != ZA_LUA_NULL)
            return enc_fail(e, "a light userdata value (only zactor.null can be sent)");
        r = za_pack_nil(e->p);
        break;
    case LUA_TBOOLEAN:
        r = za_pack_bool(e->p, lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            r = za_pack_int(e->p, (int64_t)lua_tointeger(L, idx));
        else
            r = za_pack_double(e->p, (double)lua_tonumber(L, idx));
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        r = za__utf8_valid(s, n) ? za_pack_str(e->p, s, n) : za_pack_bin(e->p, s, n);
        break;
    }
    case LUA_TTABLE:
        return enc_table(e, idx);
    case LUA_TUSERDATA:
        if (za__lua_is_ref(L, idx)) {
            /* A ref of the Lua module carries its System as user value 1
             * (a "zactor.system" userdata whose first field is the
             * za_system *): it is written with that System's identity, so
             * a ref of one System sent through another is refused there.
             * Actor-state refs are of the actor's System: the writer's. */
            za_ref ref = ((za_lua_ref *)lua_touserdata(L, idx))->ref;
            za_system *owner = NULL;
            if (lua_getiuservalue(L, idx, 1) == LUA_TUSERDATA) {
                void *const *sp = luaL_testudata(L, -1, "zactor.system");
                if (sp) owner = (za_system *)*sp;
            }
            lua_pop(L, 1);
            r = owner ? za_pack_ref_in(e->p, owner, ref) : za_pack_ref(e->p, ref);
            break;
        }
        {
            const void *mt = enc_mt(e, idx);
            if (mt && mt == e->bmt) {
                const lbytes *u = lua_touserdata(L, idx);
                r = za_pack_bin(e->p, u->b, u->len);
                break;
            }
            if (mt && mt == e->umt) {
                r = za_pack_uint(e->p, *(const uint64_t *)lua_touserdata(L, idx));
                break;
            }
        }
        return enc_fail(e,
                        "a userdata value (only actor refs, zactor.bytes and uint64 can be sent)");
    case LUA_TFUNCTION:
        return enc_fail(e, "a function value");
    case LUA_TTHREAD:
        return enc_fail(e, "a coroutine value");
    default:
        return enc_fail(e, "a value of unknown type");
    }
    if (r != ZA_OK) return enc_fail(e, "a value (MessagePack writer failed)");
    return 0;
}

int za_lua_encode(lua_State *L, int idx, za_pack *p, char *err, size_t errlen) {
    enc e;
    e.L = L;
    e.p = p;
    e.err = err;
    e.errlen = errlen;
    e.depth = 0;
    e.amt = e.mmt = e.bmt = e.umt = NULL;
    e.what = NULL;
    e.path[0] = 0;
    int top = lua_gettop(L);
    int rc = enc_value(&e, lua_absindex(L, idx));
    lua_settop(L, top);
    if (rc != 0) {
        const char *what = e.what ? e.what : "a value";
        if (e.path[0])
            za__lua_set_err(err, errlen, "cannot send %s (at %s)", what, e.path);
        else
            za__lua_set_err(err, errlen, "cannot send %s", what);
    }
    return rc;
}

/* ------------------------------------------------------------- decoder */

/* Direct MessagePack -> Lua decoder, the only one of the Lua side: no
 * za_doc, no msgpack zone, no malloc: values are pushed straight from the
 * bytes. It accepts exactly what za_doc_decode accepts, but for a NaN map
 * key (a Lua table cannot hold one: an error here), and maps values as the
 * top of this file says (nil inside containers -> zactor.null, maps marked
 * with zactor.map_mt, bin -> zactor.bytes, uint above INT64_MAX ->
 * zactor.uint64, ext ZA_MP_EXT_REF of 16 bytes (identity + ref; a ref of
 * another System is an error when the reader's System is known) or 8 -> ref).
 * Errors are raised as Lua errors; partial tables are garbage, nothing leaks.
 *
 * Why not za_doc_decode (csrc/value.c) followed by a za_value -> Lua walk,
 * which would leave one MessagePack reader in the project: measured here
 * (x86_64, gcc -O2, one thread, luaL_newstate, median of 7 runs of 20k-200k
 * decodes each, ns per decode, direct / via za_doc + walk):
 *     3-element array [1, "two", 3.5]      98 /  238   (2.4x)
 *     20-entry map {keyN = N * 1000}       801 / 1483   (1.9x)
 *     64 KiB string                       2266 / 3791   (1.7x)
 * With the value model (issue 10): 3-element array 121 -> 116 ns, 20-entry
 * map 787 -> 760 ns (medians, zactor.unpack from the main state: arrays are
 * not marked, maps cost one lua_setmetatable, metatables are fetched only
 * when a map or bin is met).
 * Small messages are the per-message path of every Lua actor, so the walk
 * through za_doc (msgpack zone allocation, a second pass) is what this
 * decoder saves; tests/lua/decode_spec.lua and the conformance vectors hold
 * it to za_doc_decode's acceptance. */
#define ZA_LUA_DEC_DEPTH 32 /* msgpack-c's MSGPACK_EMBED_STACK_SIZE */

typedef struct dec {
    const unsigned char *p, *end, *start;
    int base;                    /* stack top + 1 when the decode started */
    int mt;                      /* 0, or base once 3 slots there hold array_mt, map_mt, bytes_mt */
    unsigned have;               /* which of them are filled (bit 0 array, 1 map, 2 bytes) */
    za_system *sys;              /* refs of another System are refused; NULL: all accepted */
    za_lua_push_ref_fn push_ref; /* NULL: za__lua_push_ref */
    void *ud;
    const char *prefix; /* of error messages */
} dec;

_Noreturn static void dec_fail(lua_State *L, dec *d, const char *what) {
    luaL_error(L, "%s: %s at byte %d", d->prefix, what, (int)(d->p - d->start));
    for (;;) { /* not reached */
    }
}

static const unsigned char *dec_take(lua_State *L, dec *d, size_t n) {
    if ((size_t)(d->end - d->p) < n) dec_fail(L, d, "truncated MessagePack value");
    const unsigned char *r = d->p;
    d->p += n;
    return r;
}

static uint64_t be_read(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | b[i];
    return v;
}

static void dec_value(lua_State *L, dec *d, int depth);

/* The stack slot of marker metatable `which` (0 array, 1 map, 2 bytes),
 * fetched into its reserved slot once per decode, when first needed. */
static int dec_mt(lua_State *L, dec *d, int which) {
    if (!d->mt) { /* slip 3 slots under what is being built (relative indices hold) */
        luaL_checkstack(L, 4, "decoding");
        lua_settop(L, lua_gettop(L) + 3);
        lua_rotate(L, d->base, 3);
        d->mt = d->base;
    }
    int slot = d->mt + which;
    if (!(d->have & (1u << which))) {
        static const char *const keys[3] = {&k_array, &k_map, &k_bytes};
        push_mt(L, keys[which]);
        lua_replace(L, slot);
        d->have |= 1u << which;
    }
    return slot;
}

static void dec_container(lua_State *L, dec *d, int depth, uint32_t n, int is_map) {
    if (depth >= ZA_LUA_DEC_DEPTH) dec_fail(L, d, "value nested too deep");
    /* every element takes at least one byte: bounds hostile counts */
    size_t left = (size_t)(d->end - d->p);
    if ((uint64_t)n * (is_map ? 2u : 1u) > left) dec_fail(L, d, "truncated MessagePack container");
    luaL_checkstack(L, 4, "value nested too deep");
    if (!is_map) {
        /* A plain sequence (nil items are zactor.null, so the keys are
         * exactly 1..n): the encoder writes it back as an array unmarked,
         * which saves a lua_setmetatable per array (about 25 ns). */
        lua_createtable(L, (int)n, 0);
        for (uint32_t i = 0; i < n; i++) {
            dec_value(L, d, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return;
    }
    lua_createtable(L, 0, (int)n);
    for (uint32_t i = 0; i < n; i++) {
        dec_value(L, d, depth + 1);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1))
            dec_fail(L, d, "NaN map key (a Lua table cannot hold it)");
        dec_value(L, d, depth + 1);
        lua_rawset(L, -3);
    }
    lua_pushvalue(L, dec_mt(L, d, 1));
    lua_setmetatable(L, -2);
}

static void dec_ext(lua_State *L, dec *d, size_t n) {
    int8_t type = (int8_t)*dec_take(L, d, 1);
    const unsigned char *b = dec_take(L, d, n);
    if (type != ZA_MP_EXT_REF) dec_fail(L, d, "unsupported MessagePack ext type");
    if (n != 8 && n != 16) dec_fail(L, d, "actor reference ext of the wrong size");
    if (n == 16) {
        uint64_t origin = be_read(b, 8);
        b += 8;
        if (d->sys && origin && origin != za_system_id(d->sys))
            dec_fail(L, d, "foreign actor reference (a ref of another System)");
    }
    (d->push_ref ? d->push_ref : za__lua_push_ref)(L, (za_ref)be_read(b, 8), d->ud);
}

static void dec_raw(lua_State *L, dec *d, size_t n, int bin) {
    const char *b = (const char *)dec_take(L, d, n);
    if (!bin) {
        /* as za_doc_decode: a str is text (else a2 ff fe decoded to a Lua
         * string that the encoder sent back as bin) */
        if (!za__utf8_valid(b, n)) {
            d->p -= n; /* the error names the str's first byte */
            dec_fail(L, d, "str is not valid UTF-8 (send bytes as bin)");
        }
        lua_pushlstring(L, b, n);
        return;
    }
    int mt = dec_mt(L, d, 2);
    new_bytes(L, b, n);
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
}

static void dec_value(lua_State *L, dec *d, int depth) {
    unsigned c = *dec_take(L, d, 1);
    if (c <= 0x7f) {
        lua_pushinteger(L, (lua_Integer)c);
        return;
    }
    if (c >= 0xe0) {
        lua_pushinteger(L, (lua_Integer)(int8_t)c);
        return;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        dec_raw(L, d, c & 0x1f, 0);
        return;
    }
    if (c >= 0x90 && c <= 0x9f) {
        dec_container(L, d, depth, c & 0x0f, 0);
        return;
    }
    if (c >= 0x80 && c <= 0x8f) {
        dec_container(L, d, depth, c & 0x0f, 1);
        return;
    }
    switch (c) {
    case 0xc0: /* nil; inside a container, zactor.null */
        if (depth)
            lua_pushlightuserdata(L, ZA_LUA_NULL);
        else
            lua_pushnil(L);
        return;
    case 0xc2:
        lua_pushboolean(L, 0);
        return;
    case 0xc3:
        lua_pushboolean(L, 1);
        return;
    case 0xc4:
    case 0xc5:
    case 0xc6:
    case 0xd9:
    case 0xda:
    case 0xdb: { /* bin / str */
        int w = (c == 0xc4 || c == 0xd9) ? 1 : (c == 0xc5 || c == 0xda) ? 2 : 4;
        size_t n = (size_t)be_read(dec_take(L, d, (size_t)w), w);
        dec_raw(L, d, n, c <= 0xc6);
        return;
    }
    case 0xc7:
    case 0xc8:
    case 0xc9: { /* ext 8/16/32 */
        int w = c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4;
        dec_ext(L, d, (size_t)be_read(dec_take(L, d, (size_t)w), w));
        return;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext 1..16 */
        dec_ext(L, d, (size_t)1 << (c - 0xd4));
        return;
    case 0xca: {
        uint32_t u = (uint32_t)be_read(dec_take(L, d, 4), 4);
        float f;
        memcpy(&f, &u, sizeof f);
        lua_pushnumber(L, (lua_Number)f);
        return;
    }
    case 0xcb: {
        uint64_t u = be_read(dec_take(L, d, 8), 8);
        double f;
        memcpy(&f, &u, sizeof f);
        lua_pushnumber(L, (lua_Number)f);
        return;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: { /* uint 8..64 */
        int w = 1 << (c - 0xcc);
        uint64_t u = be_read(dec_take(L, d, (size_t)w), w);
        if (u <= (uint64_t)INT64_MAX) {
            lua_pushinteger(L, (lua_Integer)u);
        } else { /* beyond lua_Integer: a zactor.uint64, never a rounded float */
            *(uint64_t *)lua_newuserdatauv(L, sizeof u, 0) = u;
            push_mt(L, &k_uint);
            lua_setmetatable(L, -2);
        }
        return;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: { /* int 8..64 */
        int w = 1 << (c - 0xd0);
        uint64_t u = be_read(dec_take(L, d, (size_t)w), w);
        int64_t v;
        if (w == 1)
            v = (int8_t)u;
        else if (w == 2)
            v = (int16_t)u;
        else if (w == 4)
            v = (int32_t)u;
        else
            memcpy(&v, &u, sizeof v);
        lua_pushinteger(L, (lua_Integer)v);
        return;
    }
    case 0xdc:
    case 0xdd:
    case 0xde:
    case 0xdf: { /* array / map 16/32 */
        int w = (c == 0xdc || c == 0xde) ? 2 : 4;
        uint32_t n = (uint32_t)be_read(dec_take(L, d, (size_t)w), w);
        dec_container(L, d, depth, n, c >= 0xde);
        return;
    }
    default:
        d->p--;
        dec_fail(L, d, "malformed MessagePack (invalid byte)");
    }
}

static void decode_with(lua_State *L, za_system *sys, const void *data, size_t len,
                        za_lua_push_ref_fn push_ref, void *ud, const char *prefix) {
    dec d;
    d.start = d.p = data;
    d.end = d.p + len;
    d.sys = sys;
    d.have = 0;
    d.mt = 0;
    d.base = lua_gettop(L) + 1;
    d.push_ref = push_ref;
    d.ud = ud;
    d.prefix = prefix;
    if (len == 0) dec_fail(L, &d, "empty input");
    dec_value(L, &d, 0);
    if (d.p != d.end) dec_fail(L, &d, "trailing bytes after the MessagePack value");
    if (d.mt) {
        lua_replace(L, d.mt); /* the value, in place of the reserved slots */
        lua_settop(L, d.mt);
    }
}

void za_lua_decode(lua_State *L, const void *data, size_t len, za_lua_push_ref_fn push_ref,
                   void *ud) {
    decode_with(L, NULL, data, len, push_ref, ud, "zactor: bad MessagePack");
}

void za_lua_decode_in(lua_State *L, za_system *sys, const void *data, size_t len,
                      za_lua_push_ref_fn push_ref, void *ud) {
    decode_with(L, sys, data, len, push_ref, ud, "zactor: bad MessagePack");
}

void za__lua_push_payload(lua_State *L, const void *data, size_t len) {
    if (len == 0) {
        lua_pushnil(L);
        return;
    }
    decode_with(L, za__lua_actor_of(L)->sys, data, len, NULL, NULL, "zactor: bad message payload");
}

/* ------------------------------------------------------ actor shortcuts */

const void *za__lua_encode_or_raise(lua_State *L, za__lua_actor *a, int idx, size_t *len) {
    char err[300];
    za_pack_reset(a->pack);
    /* The common message, one integer (Savina's counting and skynet send
     * nothing else): straight to the writer, without za_lua_encode's set-up
     * (~150 instructions of a ~1100-instruction tell). */
    if (lua_type(L, idx) == LUA_TNUMBER && lua_isinteger(L, idx)) {
        if (za_pack_int(a->pack, (int64_t)lua_tointeger(L, idx)) != ZA_OK)
            luaL_error(L, "zactor: bad value: %s", za__lua_err_text(ZA_ENOMEM));
        *len = za_pack_size(a->pack);
        return za_pack_data(a->pack);
    }
    za_pack_bind(a->pack, a->sys); /* refs carry this System's identity */
    if (za_lua_encode(L, idx, a->pack, err, sizeof err) != 0)
        luaL_error(L, "zactor: bad value: %s", err);
    *len = za_pack_size(a->pack);
    return za_pack_data(a->pack);
}
