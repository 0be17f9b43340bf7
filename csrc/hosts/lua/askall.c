/*
 * askall.c - ctx:ask_all{ {ref, msg}, ... } [, timeout]: ask several actors
 * at once and wait for all the answers (a list, in order). The handler
 * suspends once; each reply resumes it briefly to file the answer, and it
 * yields again until the last one. The first failure (error, timeout, dead
 * target) raises at once; the answers still pending then arrive for
 * nobody and become dead letters (late_reply, counted), as the late reply
 * of an ask Python's zactor.gather cancelled does.
 */
#include "lua_actor.h"

#include <stdlib.h>

#define ASK_ALL_MAX 4096 /* asks in one call */

int za__lua_in_wait_set(const za__lua_run *run, uint64_t corr) {
    if (!run->wait_set || !corr) return 0;
    for (uint32_t i = 0; i < run->wait_n; i++)
        if (run->wait_set[i] == corr) return 1;
    return 0;
}

void za__lua_wait_set_free(za__lua_run *run) {
    free(run->wait_set);
    run->wait_set = NULL;
    run->wait_n = 0;
    if (run->wait_corr == ZA__LUA_WAIT_SET) run->wait_corr = 0;
}

/* Resumed by one reply (a light userdata on top); the results table is at
 * stack index k. */
static int ask_all_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    za__lua_actor *a = za__lua_actor_of(L);
    za__lua_run *run = a->cur;
    int res = (int)k;
    const za_msg *m = lua_touserdata(L, -1);
    lua_pop(L, 1);
    uint32_t i = 0, left = 0;
    if (m && run && run->wait_set) {
        for (uint32_t j = 0; j < run->wait_n; j++) {
            if (run->wait_set[j] == m->corr) i = j;
        }
        run->wait_set[i] = 0;
        for (uint32_t j = 0; j < run->wait_n; j++) left += run->wait_set[j] != 0;
    }
    int failed = !m || m->tag == ZA_TAG_TIMEOUT || m->status != ZA_OK;
    if (failed || !left) za__lua_wait_set_free(run); /* done waiting (also before raising) */
    za__lua_ask_result(L, m);                        /* raises for a failure */
    lua_seti(L, res, (lua_Integer)i + 1);
    if (!left) {
        lua_pushvalue(L, res);
        return 1;
    }
    return lua_yieldk(L, 0, k, ask_all_cont);
}

int za__lua_ctx_ask_all(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za__lua_run *run = a->cur;
    if (!run || run->co != L || !lua_isyieldable(L) || !a->ctx)
        return luaL_error(L, "zactor: ctx:ask_all can only be called from a receive handler "
                             "(not from init/stop or a nested coroutine)");
    luaL_checktype(L, 2, LUA_TTABLE);
    uint32_t ms = za_lua_check_duration(L, 3, "ctx:ask_all", "timeout", 5.0,
                                        ZA_LUA_HUGE_IS_FOREVER | ZA_LUA_POSITIVE);
    if (ms == ZA_LUA_FOREVER) ms = 0; /* za_ctx_ask: 0 = no timeout */
    lua_Integer n = luaL_len(L, 2);
    if (n < 0 || n > ASK_ALL_MAX)
        return luaL_error(L, "zactor: ctx:ask_all: between 0 and %d asks", ASK_ALL_MAX);
    lua_settop(L, 3);
    lua_createtable(L, (int)n, 0); /* the answers: index 4 */
    if (n == 0) return 1;
    /* every pair is checked before the first ask leaves */
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 2, i) != LUA_TTABLE)
            return luaL_error(L, "zactor: ctx:ask_all: item %d is not a {ref, message} pair",
                              (int)i);
        lua_geti(L, -1, 1);
        za__lua_check_ref(L, -1);
        lua_pop(L, 2);
    }
    uint64_t *set = calloc((size_t)n, sizeof *set);
    if (!set) return luaL_error(L, "zactor: ctx:ask_all: out of memory");
    za__lua_wait_set_free(run);
    run->wait_set = set;
    run->wait_n = (uint32_t)n;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        lua_geti(L, -1, 1);
        za_ref r = za__lua_check_ref(L, -1);
        lua_geti(L, -2, 2);
        size_t len;
        const void *d = za__lua_encode_or_raise(L, a, lua_gettop(L), &len);
        uint64_t prev = za__lua_chain_enter(run); /* each ask carries the handler's chain */
        int rc = za_ctx_ask(a->ctx, r, 0, d, len, ms, &set[i - 1]);
        za_chain_enter(prev);
        za__lua_pack_after(a, len);
        if (rc != ZA_OK) {
            /* the asks already sent are abandoned: their replies become dead letters */
            za__lua_wait_set_free(run);
            za_lua_raise(L, "ask_all", rc);
        }
        lua_pop(L, 3);
    }
    run->wait_corr = ZA__LUA_WAIT_SET;
    run->wait_to = ZA_REF_NONE;
    /* the message being handled ends its receive now: keep its reply slot */
    if (run->want_reply && !run->slot) run->slot = za_ctx_take_reply(a->ctx);
    return lua_yieldk(L, 0, 4, ask_all_cont);
}
