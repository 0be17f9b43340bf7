/*
 * sleep.c - ctx:sleep(seconds): a handler suspends on a runtime timer, not
 * on its worker. The timer sends the actor a ZA__LUA_TAG_SLEEP message
 * carrying a token; the run waiting on that token (run->wait_corr, in the
 * same waiting list as ctx:ask) resumes, on whichever worker runs the actor
 * next, while other messages keep being served meanwhile.
 */
#include "lua_actor.h"

#include <string.h>

/* Tokens live in the upper half of the 64-bit space: the core's ask
 * correlation ids count up from 1 and never get there, so one waiting list
 * serves both. Process-wide, so a restarted actor never sees an old token
 * match a new run. (relaxed: only uniqueness matters, no data is published) */
static _Atomic uint64_t next_token = 1;

static int sleep_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    (void)k;
    lua_settop(L, 0); /* the timer message (a light userdata) */
    return 0;
}

int za__lua_ctx_sleep(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za__lua_run *run = a->cur;
    if (!run || run->co != L || !lua_isyieldable(L) || !a->ctx)
        return luaL_error(L, "zactor: ctx:sleep can only be called from a receive or stop "
                             "handler (not from init or a nested coroutine)");
    if (lua_isnoneornil(L, 2)) luaL_argerror(L, 2, "ctx:sleep: seconds expected");
    uint32_t ms = za_lua_check_duration(L, 2, "ctx:sleep", "seconds", 0, 0);
    uint64_t token =
        ZA__LUA_SLEEP_TOKEN_BIT | atomic_fetch_add_explicit(&next_token, 1, memory_order_relaxed);
    if (run->in_stop) {
        za__lua_stop_sleep(a, ms); /* no messages in stop: the stop driver wakes it */
    } else {
        za_timer_id id = 0;
        int rc = za_send_after(a->sys, ms ? ms : 1, a->self, ZA__LUA_TAG_SLEEP, &token,
                               sizeof token, &id);
        if (rc != ZA_OK) za_lua_raise(L, "sleep", rc);
    }
    run->wait_corr = token;
    run->wait_to = ZA_REF_NONE;
    /* the message being handled ends its receive now: keep its reply slot
     * to answer when the handler returns (as ctx:ask does) */
    if (run->want_reply && !run->slot) run->slot = za_ctx_take_reply(a->ctx);
    return lua_yieldk(L, 0, 0, sleep_cont);
}

/* A timer message of ctx:sleep: the token it carries, or 0. */
uint64_t za__lua_sleep_token(const za_msg *m) {
    uint64_t token = 0;
    if (m->tag != ZA__LUA_TAG_SLEEP || m->kind != ZA_PAYLOAD_BYTES || m->len != sizeof token)
        return 0;
    memcpy(&token, m->data, sizeof token);
    return token & ZA__LUA_SLEEP_TOKEN_BIT ? token : 0;
}
