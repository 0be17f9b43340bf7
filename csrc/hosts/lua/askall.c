/*
 * askall.c - waiting for several asks at once:
 *  - ctx:ask_all{ {ref, msg}, ... } [, timeout]: all the answers (a list,
 *    in order); the first failure (error, timeout, dead target) raises;
 *  - ctx:first{ {ref, msg}, ... } [, timeout]: the outcome of the first to
 *    finish (its answer and its index, or its error raised), like Python's
 *    zactor.first.
 * The handler suspends once; each reply resumes it briefly to file the
 * answer, and it yields again while it still waits. Whatever it stops
 * waiting for (the rest after a failure, the losers of ctx:first) is given
 * up at once (asks.c): a late answer becomes a counted late_reply dead
 * letter, as for an ask Python's zactor.gather or zactor.first cancelled.
 */
#include "lua_actor.h"

#include <stdlib.h>

#define ASK_ALL_MAX 4096 /* asks in one call */

int za__lua_in_wait_set(const za__lua_run *run, uint64_t corr) {
    if (!run->wait_set || !corr) return 0;
    for (uint32_t i = 0; i < run->wait_n; i++)
        if (run->wait_set[i].corr == corr) return 1;
    return 0;
}

void za__lua_wait_set_free(za__lua_run *run) {
    for (uint32_t i = 0; run->wait_set && i < run->wait_n; i++)
        if (run->wait_set[i].corr) za__lua_ask_cancel(run, run->wait_set[i].h);
    free(run->wait_set);
    run->wait_set = NULL;
    run->wait_n = 0;
    if (run->wait_corr == ZA__LUA_WAIT_SET) run->wait_corr = 0;
}

/* A reply (light userdata on top, popped) for the run's wait set: its
 * index, its entry marked answered; *left: how many still wait. */
static const za_msg *file_reply(lua_State *L, za__lua_run *run, uint32_t *idx, uint32_t *left) {
    const za_msg *m = lua_touserdata(L, -1);
    lua_pop(L, 1);
    *idx = 0;
    *left = 0;
    if (!m || !run || !run->wait_set) return m;
    for (uint32_t j = 0; j < run->wait_n; j++) {
        if (run->wait_set[j].corr == m->corr) {
            *idx = j;
            za__lua_ask_done(run, run->wait_set[j].h);
            run->wait_set[j].corr = 0;
            run->wait_set[j].h = NULL;
        }
    }
    for (uint32_t j = 0; j < run->wait_n; j++) *left += run->wait_set[j].corr != 0;
    return m;
}

static int failed(const za_msg *m) {
    return !m || m->tag == ZA_TAG_TIMEOUT || m->status != ZA_OK;
}

/* ask_all: resumed by one reply; the results table is at stack index k. */
static int ask_all_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    za__lua_run *run = za__lua_actor_of(L)->cur;
    int res = (int)k;
    uint32_t i, left;
    const za_msg *m = file_reply(L, run, &i, &left);
    if (failed(m) || !left) za__lua_wait_set_free(run); /* done waiting (also before raising) */
    za__lua_ask_result(L, m);                           /* raises for a failure */
    lua_seti(L, res, (lua_Integer)i + 1);
    if (!left) {
        lua_pushvalue(L, res);
        return 1;
    }
    return lua_yieldk(L, 0, k, ask_all_cont);
}

/* first: the first reply wins, the others are given up. */
static int first_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    (void)k;
    za__lua_run *run = za__lua_actor_of(L)->cur;
    uint32_t i, left;
    const za_msg *m = file_reply(L, run, &i, &left);
    za__lua_wait_set_free(run); /* the losers (before a failure raises) */
    za__lua_ask_result(L, m);
    lua_pushinteger(L, (lua_Integer)i + 1);
    return 2;
}

/* Check the pairs, send every ask into a new wait set and yield with
 * cont. fn: the method's name for errors; results: push a table first. */
static int ask_many(lua_State *L, const char *fn, int at_least, lua_KFunction cont) {
    za__lua_actor *a = za__lua_actor_of(L);
    za__lua_run *run = a->cur;
    if (!run || run->co != L || !lua_isyieldable(L) || !a->ctx)
        return luaL_error(L,
                          "zactor: ctx:%s can only be called from a receive or stop handler "
                          "(not from init or a nested coroutine)",
                          fn);
    luaL_checktype(L, 2, LUA_TTABLE);
    char what[32];
    snprintf(what, sizeof what, "ctx:%s", fn);
    uint32_t ms =
        za_lua_check_duration(L, 3, what, "timeout", 5.0, ZA_LUA_HUGE_IS_FOREVER | ZA_LUA_POSITIVE);
    if (ms == ZA_LUA_FOREVER) ms = 0; /* za_ctx_ask: 0 = no timeout */
    lua_Integer n = luaL_len(L, 2);
    if (n < at_least || n > ASK_ALL_MAX)
        return luaL_error(L, "zactor: ctx:%s: between %d and %d asks", fn, at_least, ASK_ALL_MAX);
    lua_settop(L, 3);
    lua_createtable(L, cont == ask_all_cont ? (int)n : 0, 0); /* the answers: index 4 */
    if (n == 0) return 1;
    /* every pair is checked before the first ask leaves */
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 2, i) != LUA_TTABLE)
            return luaL_error(L, "zactor: ctx:%s: item %d is not a {ref, message} pair", fn,
                              (int)i);
        lua_geti(L, -1, 1);
        za__lua_check_ref(L, -1);
        lua_pop(L, 2);
    }
    za__lua_wait *set = calloc((size_t)n, sizeof *set);
    if (!set) return luaL_error(L, "zactor: ctx:%s: out of memory", fn);
    za__lua_run_unwait(run);
    run->wait_set = set;
    run->wait_n = (uint32_t)n;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        lua_geti(L, -1, 1);
        za_ref r = za__lua_check_ref(L, -1);
        lua_geti(L, -2, 2);
        size_t len;
        const void *d = za__lua_encode_or_raise(L, a, lua_gettop(L), &len);
        int rc = za__lua_ask_send(a, run, r, d, len, ms, &set[i - 1].corr, &set[i - 1].h);
        za__lua_pack_after(a, len);
        if (rc != ZA_OK) {
            set[i - 1].corr = 0;
            za__lua_wait_set_free(run); /* the asks already sent are given up */
            za_lua_raise(L, fn, rc);
        }
        lua_pop(L, 3);
    }
    run->wait_corr = ZA__LUA_WAIT_SET;
    run->wait_to = ZA_REF_NONE;
    /* the message being handled ends its receive now: keep its reply slot */
    if (run->want_reply && !run->slot) run->slot = za_ctx_take_reply(a->ctx);
    return lua_yieldk(L, 0, 4, cont);
}

int za__lua_ctx_ask_all(lua_State *L) {
    return ask_many(L, "ask_all", 0, ask_all_cont);
}

int za__lua_ctx_first(lua_State *L) {
    return ask_many(L, "first", 1, first_cont);
}
