/*
 * lua_opts - libFuzzer target for the Lua host's spawn-option parser
 * (za_lua_is_opts and za_lua_parse_opts, used by system:spawn, ctx:spawn
 * and Python's spawn_lua).
 *
 * The input is Lua source for an expression, run as `return <input>` in a
 * sandboxed lua_State: no libraries at all (empty globals), text chunks only
 * (binary chunks are refused: Lua does not verify bytecode), at most 20,000
 * VM instructions (a count hook raises an error) and 8 MiB of memory (a
 * limiting allocator). If the result is a table:
 *  - za_lua_is_opts must answer 0 or 1 and leave the stack as it was;
 *  - za_lua_parse_opts runs under lua_pcall on a zeroed za_spawn_opts and
 *    za_lua_opts; it may raise a Lua error (unknown option, wrong type),
 *    which must be a string; on success the enums it filled are in range
 *    and a set name is a NUL-terminated string.
 *  - whenever za_lua_is_opts said 1 and parsing fails with an unknown
 *    option, it is a near miss ("did you mean"): the two lists agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ZA_LUA_HOST_WANT_LUA_API 1
#include <lauxlib.h>
#include <lua.h>

#include "fuzz_util.h"
#include "lua_host.h"
#include "zactor.h"


#define MEM_LIMIT (8u << 20)
#define INSN_LIMIT 20000

typedef struct limit {
    size_t used;
} limit;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    limit *l = ud;
    if (ptr == NULL) osize = 0;
    if (nsize == 0) {
        free(ptr);
        l->used -= osize;
        return NULL;
    }
    if (nsize > osize && l->used + (nsize - osize) > MEM_LIMIT) return NULL;
    void *n = realloc(ptr, nsize);
    if (n) l->used = l->used - osize + nsize;
    return n;
}

static void insn_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    luaL_error(L, "instruction limit");
}

typedef struct parsed {
    za_spawn_opts o;
    za_lua_opts lo;
} parsed;

static int parse_cf(lua_State *L) {
    parsed *p = lua_touserdata(L, 2);
    lua_settop(L, 1);
    za_lua_parse_opts(L, 1, "spawn", &p->o, &p->lo);
    FUZZ_CHECK(lua_gettop(L) == 1, "za_lua_parse_opts left %d values", lua_gettop(L) - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    limit lim = {0};
    lua_State *L = lua_newstate(limited_alloc, &lim);
    if (!L) return 0;
    lua_atpanic(L, NULL);

    char *src = malloc(size + 8);
    memcpy(src, "return ", 7);
    memcpy(src + 7, data, size);
    int st = luaL_loadbufferx(L, src, size + 7, "=opts", "t");
    free(src);
    if (st != LUA_OK) {
        lua_close(L);
        return 0;
    }
    lua_sethook(L, insn_hook, LUA_MASKCOUNT, INSN_LIMIT);
    st = lua_pcall(L, 0, 1, 0);
    lua_sethook(L, NULL, 0, 0);
    if (st != LUA_OK || !lua_istable(L, -1)) {
        lua_close(L);
        return 0;
    }

    int top = lua_gettop(L);
    int is = za_lua_is_opts(L, top);
    FUZZ_CHECK(is == 0 || is == 1, "za_lua_is_opts returned %d", is);
    FUZZ_CHECK(lua_gettop(L) == top, "za_lua_is_opts changed the stack: %d -> %d", top,
               lua_gettop(L));

    parsed p;
    memset(&p, 0, sizeof p);
    za_spawn_opts_init(&p.o);
    lua_pushcfunction(L, parse_cf);
    lua_pushvalue(L, top);
    lua_pushlightuserdata(L, &p);
    /* A __gc or __index metamethod can run Lua code while parsing: limit it too. */
    lua_sethook(L, insn_hook, LUA_MASKCOUNT, INSN_LIMIT);
    st = lua_pcall(L, 2, 0, 0);
    lua_sethook(L, NULL, 0, 0);
    if (st != LUA_OK) {
        FUZZ_CHECK(st == LUA_ERRRUN || st == LUA_ERRMEM, "lua_pcall status %d", st);
        if (st == LUA_ERRRUN) {
            FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "parse error is not a string");
            const char *msg = lua_tostring(L, -1);
            FUZZ_CHECK(!(is && strncmp(msg, "zactor: spawn: unknown option", 29) == 0 &&
                         !strstr(msg, "did you mean")),
                       "za_lua_is_opts accepted a table that za_lua_parse_opts calls unknown: %s",
                       msg);
        }
    } else {
        FUZZ_CHECK((unsigned)p.o.restart <= ZA_RESTART_TEMPORARY, "restart %d", (int)p.o.restart);
        FUZZ_CHECK((unsigned)p.o.strategy <= ZA_STRATEGY_ESCALATE, "strategy %d",
                   (int)p.o.strategy);
        FUZZ_CHECK((unsigned)p.o.full_policy <= ZA_FULL_BLOCK, "full_policy %d",
                   (int)p.o.full_policy);
        if (p.o.name) (void)strlen(p.o.name); /* ASan: a live, terminated string */
    }
    lua_close(L);
    return 0;
}
