/*
 * codec.c - values between Lua and MessagePack (the mapping is in
 * lua_host.h): the encoder (Lua value -> za_pack, csrc/value.c's writer)
 * and the decoder (bytes -> Lua values), one per direction.
 */
#include "lua_actor.h"

#include <string.h>

/* ------------------------------------------------------------- encoder */

typedef struct enc {
    lua_State *L;
    za_pack *p;
    char *err;
    size_t errlen;
    const void *stack[ZA_LUA_MAX_DEPTH + 1];
    int depth;
    const char *what; /* set by enc_fail; the message is formatted once, at the top */
    char path[256];   /* built while unwinding from a failure, innermost first */
} enc;

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0 && c >= 0xc2)
            k = 1;
        else if ((c & 0xf0) == 0xe0)
            k = 2;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
            k = 3;
        else
            return 0;
        if (i + k >= n) return 0; /* truncated sequence */
        for (size_t j = 1; j <= k; j++)
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return 0;
        uint32_t cp = c & (0x3f >> k);
        for (size_t j = 1; j <= k; j++) cp = (cp << 6) | (s[i + j] & 0x3f);
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Record what failed; the path ("at .a[2]") is prepended to by each
 * enclosing table while the failure unwinds (path_prepend), so the happy
 * path formats nothing. */
static int enc_fail(enc *e, const char *what) {
    e->what = what;
    e->path[0] = 0;
    return -1;
}

static int enc_value(enc *e, int idx);

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
    /* Array iff the keys are exactly 1..n; the empty table is an array. */
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    lua_Integer count = 0;
    int seq = 1;
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
        r = utf8_valid((const unsigned char *)s, n) ? za_pack_str(e->p, s, n)
                                                    : za_pack_bin(e->p, s, n);
        break;
    }
    case LUA_TTABLE:
        return enc_table(e, idx);
    case LUA_TUSERDATA:
        if (za__lua_is_ref(L, idx)) {
            r = za_pack_ref(e->p, ((za_lua_ref *)lua_touserdata(L, idx))->ref);
            break;
        }
        return enc_fail(e, "a userdata value (only actor refs can be sent)");
    case LUA_TFUNCTION:
        return enc_fail(e, "a function value");
    case LUA_TTHREAD:
        return enc_fail(e, "a coroutine value");
    case LUA_TLIGHTUSERDATA:
        return enc_fail(e, "a light userdata value");
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
 * bytes. It accepts exactly what za_doc_decode accepts and maps values as
 * the other hosts map za_doc's (uint above INT64_MAX -> float, str/bin ->
 * string, ext ZA_MP_EXT_REF of 8 bytes -> ref, nil/NaN map keys skipped).
 * Errors are raised as Lua errors; partial tables are garbage, nothing leaks.
 *
 * Why not za_doc_decode (csrc/value.c) followed by a za_value -> Lua walk,
 * which would leave one MessagePack reader in the project: measured here
 * (x86_64, gcc -O2, one thread, luaL_newstate, median of 7 runs of 20k-200k
 * decodes each, ns per decode, direct / via za_doc + walk):
 *     3-element array [1, "two", 3.5]      98 /  238   (2.4x)
 *     20-entry map {keyN = N * 1000}       801 / 1483   (1.9x)
 *     64 KiB string                       2266 / 3791   (1.7x)
 * Small messages are the per-message path of every Lua actor, so the walk
 * through za_doc (msgpack zone allocation, a second pass) is what this
 * decoder saves; tests/lua/decode_spec.lua and the conformance vectors hold
 * it to za_doc_decode's acceptance. */
#define ZA_LUA_DEC_DEPTH 32 /* msgpack-c's MSGPACK_EMBED_STACK_SIZE */

typedef struct dec {
    const unsigned char *p, *end, *start;
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

static void dec_container(lua_State *L, dec *d, int depth, uint32_t n, int is_map) {
    if (depth >= ZA_LUA_DEC_DEPTH) dec_fail(L, d, "value nested too deep");
    /* every element takes at least one byte: bounds hostile counts */
    size_t left = (size_t)(d->end - d->p);
    if ((uint64_t)n * (is_map ? 2u : 1u) > left) dec_fail(L, d, "truncated MessagePack container");
    luaL_checkstack(L, 4, "value nested too deep");
    if (!is_map) {
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
        int skip = lua_isnil(L, -1) ||
                   (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1));
        dec_value(L, d, depth + 1);
        if (skip)
            lua_pop(L, 2); /* nil / NaN keys cannot exist in Lua: skip */
        else
            lua_rawset(L, -3);
    }
}

static void dec_ext(lua_State *L, dec *d, size_t n) {
    int8_t type = (int8_t)*dec_take(L, d, 1);
    const unsigned char *b = dec_take(L, d, n);
    if (type != ZA_MP_EXT_REF) dec_fail(L, d, "unsupported MessagePack ext type");
    if (n != 8) dec_fail(L, d, "actor reference ext of the wrong size");
    (d->push_ref ? d->push_ref : za__lua_push_ref)(L, (za_ref)be_read(b, 8), d->ud);
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
        size_t n = c & 0x1f;
        lua_pushlstring(L, (const char *)dec_take(L, d, n), n);
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
    case 0xc0:
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
        lua_pushlstring(L, (const char *)dec_take(L, d, n), n);
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
        if (u <= (uint64_t)INT64_MAX)
            lua_pushinteger(L, (lua_Integer)u);
        else
            lua_pushnumber(L, (lua_Number)u);
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

static void decode_with(lua_State *L, const void *data, size_t len, za_lua_push_ref_fn push_ref,
                        void *ud, const char *prefix) {
    dec d;
    d.start = d.p = data;
    d.end = d.p + len;
    d.push_ref = push_ref;
    d.ud = ud;
    d.prefix = prefix;
    if (len == 0) dec_fail(L, &d, "empty input");
    dec_value(L, &d, 0);
    if (d.p != d.end) dec_fail(L, &d, "trailing bytes after the MessagePack value");
}

void za_lua_decode(lua_State *L, const void *data, size_t len, za_lua_push_ref_fn push_ref,
                   void *ud) {
    decode_with(L, data, len, push_ref, ud, "zactor: bad MessagePack");
}

void za__lua_push_payload(lua_State *L, const void *data, size_t len) {
    if (len == 0) {
        lua_pushnil(L);
        return;
    }
    decode_with(L, data, len, NULL, NULL, "zactor: bad message payload");
}

/* ------------------------------------------------------ actor shortcuts */

const void *za__lua_encode_or_raise(lua_State *L, za__lua_actor *a, int idx, size_t *len) {
    char err[300];
    za_pack_reset(a->pack);
    if (za_lua_encode(L, idx, a->pack, err, sizeof err) != 0)
        luaL_error(L, "zactor: bad value: %s", err);
    *len = za_pack_size(a->pack);
    return za_pack_data(a->pack);
}
