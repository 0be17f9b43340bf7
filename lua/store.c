/*
 * store.c - zactor.store(url [, opts]): the storage layer (csrc/store/,
 * za_store_*) from the main Lua script. Values are encoded like messages
 * (the value model); every call waits for its completion (with the store's
 * timeout). Keys are an id string or a {type, id} table.
 *
 * An expected failure is a result, like io.open's: write, clear and append
 * return nil, "conflict", message on a version or sequence conflict, and
 * write, clear, append and delete_to nil, "fenced", message when a fencing
 * token was given (a trailing `fence` number or {fence = n}) and the key's
 * stored token is greater. Bad arguments, an unreachable server or a
 * timeout raise errors.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "module.h"

#define STORE_MT "zactor.store"

typedef struct lstore {
    za_store *st; /* NULL once closed */
    za_pack *pack;
    uint32_t timeout_ms;
} lstore;

static lstore *check_open(lua_State *L) {
    lstore *s = luaL_checkudata(L, 1, STORE_MT);
    if (!s->st) luaL_error(L, "zactor.store: the store is closed");
    return s;
}

/* key at idx: "id" or {type, id}. The strings stay on the stack (in the
 * argument or its table) for as long as the call runs. */
static void check_key(lua_State *L, int idx, za_store_req *q) {
    if (lua_type(L, idx) == LUA_TSTRING) {
        q->type = "";
        q->id = za_lua_check_cstring(L, idx, "zactor.store", "the key");
        return;
    }
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_rawgeti(L, idx, 1);
        lua_rawgeti(L, idx, 2);
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
            q->type = za_lua_check_cstring(L, -2, "zactor.store", "the key's type");
            q->id = za_lua_check_cstring(L, -1, "zactor.store", "the key's id");
            /* the two strings are anchored by the key table itself */
            lua_pop(L, 2);
            return;
        }
    }
    luaL_error(L, "zactor.store: a key is an id string or a {type, id} table of strings, not %s",
               luaL_typename(L, idx));
}

static lua_Integer check_u63(lua_State *L, int idx, const char *what) {
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < 0) luaL_error(L, "zactor.store: %s must be >= 0 (got %I)", what, (LUAI_UACINT)v);
    return v;
}

/* The optional fencing token at idx: nil, an integer, or {fence = n}. */
static uint64_t opt_fence(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx)) return 0;
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_getfield(L, idx, "fence");
        uint64_t f = lua_isnil(L, -1) ? 0 : (uint64_t)check_u63(L, -1, "fence");
        lua_pop(L, 1);
        return f;
    }
    if (!lua_isinteger(L, idx))
        luaL_error(L, "zactor.store: the fence is an integer or {fence = n}, not %s",
                   luaL_typename(L, idx));
    return (uint64_t)check_u63(L, idx, "fence");
}

/* Run q; returns the status with *r filled. A status other than ZA_OK and
 * `expected` (and ZA_ECONFLICT / ZA_EFENCED, which are results) raises. */
static int run(lua_State *L, lstore *s, const za_store_req *q, za_store_result *r, int allow) {
    int rc = za_store_call(s->st, q, s->timeout_ms, r);
    if (rc == ZA_OK || rc == allow || rc == ZA_ECONFLICT || rc == ZA_EFENCED) return rc;
    char msg[400];
    snprintf(msg, sizeof msg, "zactor.store: %s: %s", za_strerror(rc),
             r->error ? r->error : za_last_error());
    za_store_result_free(r);
    return luaL_error(L, "%s", msg);
}

/* nil, "conflict" | "fenced", message */
static int conflict(lua_State *L, za_store_result *r) {
    bool fenced = r->status == ZA_EFENCED;
    lua_pushnil(L);
    if (fenced)
        lua_pushliteral(L, "fenced");
    else
        lua_pushliteral(L, "conflict");
    lua_pushstring(L, r->error ? r->error : fenced ? "fenced" : "version conflict");
    za_store_result_free(r);
    return 3;
}

static bool refused(int rc) {
    return rc == ZA_ECONFLICT || rc == ZA_EFENCED;
}

static const void *encode(lua_State *L, lstore *s, int idx, size_t *len) {
    char err[300];
    za_pack_reset(s->pack);
    if (za_lua_encode(L, idx, s->pack, err, sizeof err) != 0)
        luaL_error(L, "zactor.store: bad value: %s", err);
    *len = za_pack_size(s->pack);
    return za_pack_data(s->pack);
}

/* store:read(key) -> value, version | nil */
static int store_read(lua_State *L) {
    lstore *s = check_open(L);
    za_store_req q = {.op = ZA_STORE_READ};
    check_key(L, 2, &q);
    za_store_result r;
    if (run(L, s, &q, &r, ZA_ENOTFOUND) == ZA_ENOTFOUND) {
        za_store_result_free(&r);
        lua_pushnil(L);
        return 1;
    }
    /* into a Lua string before decoding (which may raise): r is freed first */
    lua_pushlstring(L, r.data, r.len);
    lua_Integer v = (lua_Integer)r.version;
    za_store_result_free(&r);
    size_t n;
    const char *b = lua_tolstring(L, -1, &n);
    za_lua_decode(L, b, n, NULL, NULL);
    lua_remove(L, -2);
    lua_pushinteger(L, v);
    return 2;
}

/* store:write(key, value, version [, fence]) -> new version | nil, "conflict"|"fenced", msg */
static int store_write(lua_State *L) {
    lstore *s = check_open(L);
    za_store_req q = {.op = ZA_STORE_WRITE};
    check_key(L, 2, &q);
    luaL_checkany(L, 3);
    q.version = (uint64_t)check_u63(L, 4, "version");
    q.fence = opt_fence(L, 5);
    q.data = encode(L, s, 3, &q.len);
    za_store_result r;
    if (refused(run(L, s, &q, &r, ZA_OK))) return conflict(L, &r);
    lua_pushinteger(L, (lua_Integer)r.version);
    za_store_result_free(&r);
    return 1;
}

/* store:clear(key [, version [, fence]]) -> true | nil, "conflict"|"fenced", msg */
static int store_clear(lua_State *L) {
    lstore *s = check_open(L);
    za_store_req q = {.op = ZA_STORE_CLEAR, .version = ZA_STORE_ANY};
    check_key(L, 2, &q);
    if (!lua_isnoneornil(L, 3)) q.version = (uint64_t)check_u63(L, 3, "version");
    q.fence = opt_fence(L, 4);
    za_store_result r;
    if (refused(run(L, s, &q, &r, ZA_OK))) return conflict(L, &r);
    za_store_result_free(&r);
    lua_pushboolean(L, 1);
    return 1;
}

/* store:append(journal, seq, event [, fence]) -> seq | nil, "conflict"|"fenced", msg */
static int store_append(lua_State *L) {
    lstore *s = check_open(L);
    za_store_req q = {.op = ZA_STORE_APPEND};
    check_key(L, 2, &q);
    q.version = (uint64_t)check_u63(L, 3, "seq");
    luaL_checkany(L, 4);
    q.fence = opt_fence(L, 5);
    q.data = encode(L, s, 4, &q.len);
    za_store_result r;
    if (refused(run(L, s, &q, &r, ZA_OK))) return conflict(L, &r);
    za_store_result_free(&r);
    lua_pushinteger(L, (lua_Integer)q.version);
    return 1;
}

/* store:replay(journal [, from_seq [, max]]) -> { {seq, event}, ... } */
static int store_replay(lua_State *L) {
    lstore *s = check_open(L);
    za_store_req q = {.op = ZA_STORE_REPLAY, .version = 1};
    check_key(L, 2, &q);
    if (!lua_isnoneornil(L, 3)) q.version = (uint64_t)check_u63(L, 3, "from_seq");
    if (!lua_isnoneornil(L, 4)) {
        lua_Integer m = check_u63(L, 4, "max");
        q.max = m > (lua_Integer)UINT32_MAX ? UINT32_MAX : (uint32_t)m;
    }
    za_store_result r;
    run(L, s, &q, &r, ZA_OK);
    /* Copy the events into Lua strings and free r before decoding, which
     * raises on bad bytes. (Only a memory error while copying could leak r.) */
    lua_createtable(L, (int)r.nevents, 0);
    int t = lua_gettop(L);
    if (!lua_checkstack(L, 4)) {
        za_store_result_free(&r);
        return luaL_error(L, "zactor.store: out of stack space");
    }
    lua_createtable(L, (int)r.nevents, 0); /* raw event bytes */
    for (size_t i = 0; i < r.nevents; i++) {
        lua_pushlstring(L, r.events[i].data, r.events[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    size_t n = r.nevents;
    uint64_t *seqs = NULL;
    if (n) {
        seqs = lua_newuserdatauv(L, n * sizeof *seqs, 0);
        for (size_t i = 0; i < n; i++) seqs[i] = r.events[i].seq;
    } else
        lua_pushnil(L);
    za_store_result_free(&r);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, (lua_Integer)seqs[i]);
        lua_rawseti(L, -2, 1);
        lua_rawgeti(L, t + 1, (lua_Integer)i + 1);
        size_t bl;
        const char *b = lua_tolstring(L, -1, &bl);
        za_lua_decode(L, b, bl, NULL, NULL);
        lua_remove(L, -2);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, t, (lua_Integer)i + 1);
    }
    lua_settop(L, t);
    return 1;
}

/* store:highest(journal) -> integer */
static int store_highest(lua_State *L) {
    lstore *s = check_open(L);
    za_store_req q = {.op = ZA_STORE_HIGHEST};
    check_key(L, 2, &q);
    za_store_result r;
    run(L, s, &q, &r, ZA_OK);
    lua_pushinteger(L, (lua_Integer)r.version);
    za_store_result_free(&r);
    return 1;
}

/* store:delete_to(journal, seq [, fence]) -> true | nil, "fenced", msg */
static int store_delete_to(lua_State *L) {
    lstore *s = check_open(L);
    za_store_req q = {.op = ZA_STORE_DELETE_TO};
    check_key(L, 2, &q);
    q.version = (uint64_t)check_u63(L, 3, "seq");
    q.fence = opt_fence(L, 4);
    za_store_result r;
    if (refused(run(L, s, &q, &r, ZA_OK))) return conflict(L, &r);
    za_store_result_free(&r);
    lua_pushboolean(L, 1);
    return 1;
}

static int store_close(lua_State *L) {
    lstore *s = luaL_checkudata(L, 1, STORE_MT);
    if (s->st) za_store_close(s->st); /* completes what is in flight */
    s->st = NULL;
    if (s->pack) za_pack_free(s->pack);
    s->pack = NULL;
    return 0;
}

static int store_scheme(lua_State *L) {
    lstore *s = luaL_checkudata(L, 1, STORE_MT);
    if (!s->st) return 0;
    lua_pushstring(L, za_store_scheme(s->st));
    return 1;
}

static int store_tostring(lua_State *L) {
    lstore *s = luaL_checkudata(L, 1, STORE_MT);
    lua_pushfstring(L, "zactor.store (%s)", s->st ? za_store_scheme(s->st) : "closed");
    return 1;
}

/* zactor.store(url [, {threads = n, timeout = seconds}]) */
static int zactor_store(lua_State *L) {
    const char *url = luaL_checkstring(L, 1);
    za_store_opts o;
    za_store_opts_init(&o);
    double timeout = 30.0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (!strcmp(k, "threads")) {
                lua_Integer n = luaL_checkinteger(L, -1);
                if (n < 0 || n > 64) luaL_error(L, "zactor.store: threads must be 0..64");
                o.threads = (uint32_t)n;
            } else if (!strcmp(k, "timeout")) {
                timeout = luaL_checknumber(L, -1);
                if (!(timeout > 0 && timeout < 1e6))
                    luaL_error(L, "zactor.store: timeout must be > 0 seconds");
            } else
                luaL_error(L, "zactor.store: unknown option '%s' (threads, timeout)", k);
            lua_pop(L, 1);
        }
    }
    lstore *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, STORE_MT);
    s->timeout_ms = (uint32_t)(timeout * 1000.0);
    if (!(s->pack = za_pack_new())) return luaL_error(L, "zactor.store: out of memory");
    int rc = za_store_open(url, &o, &s->st);
    if (rc != ZA_OK) return luaL_error(L, "zactor.store: %s: %s", za_strerror(rc), za_last_error());
    return 1;
}

static const luaL_Reg store_methods[] = {
    {"read", store_read},           {"write", store_write},
    {"clear", store_clear},         {"append", store_append},
    {"replay", store_replay},       {"highest", store_highest},
    {"delete_to", store_delete_to}, {"close", store_close},
    {"scheme", store_scheme},       {NULL, NULL},
};

void za__lmod_open_store(lua_State *L) {
    if (luaL_newmetatable(L, STORE_MT)) {
        luaL_newlib(L, store_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, store_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, store_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, store_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, zactor_store);
    lua_setfield(L, -2, "store");
}
