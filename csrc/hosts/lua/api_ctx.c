/*
 * api_ctx.c - the ctx object a handler gets: spawning, timers, watches,
 * stopping, asking (which suspends the handler's coroutine, see run.c) and
 * the computed fields self, sender, restarts, worker and memory.
 */
#include "lua_actor.h"

#include <string.h>

static int ctx_spawn(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    const char *spec = za_lua_check_cstring(L, 2, "ctx:spawn", "the behaviour");
    if (a->stopping)
        return luaL_error(L, "zactor: ctx:spawn: not allowed in stop (a child spawned by a "
                             "stopping actor would outlive it)");
    int last = lua_gettop(L);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    za_lua_opts lo = {0};
    lo.path = a->search; /* children search modules where their parent did */
    if (last > 2 && za_lua_is_opts(L, last)) {
        za_lua_parse_opts(L, last, "ctx:spawn", &o, &lo);
        last--;
    }
    if (lo.node[0])
        return luaL_error(L, "zactor: ctx:spawn: option 'node' is for system:spawn (waiting "
                             "for another node would block this worker); ask an actor there");
    za_pack_reset(a->pack);
    za_pack_array(a->pack, (uint32_t)(last - 2));
    char err[300];
    for (int i = 3; i <= last; i++)
        if (za_lua_encode(L, i, a->pack, err, sizeof err) != 0)
            return luaL_error(L, "zactor: bad spawn argument: %s", err);
    za_ref r;
    int rc = za_lua_spawn_ex(a->sys, spec, za_pack_data(a->pack), za_pack_size(a->pack), &o, &lo,
                             &r, err, sizeof err);
    za__lua_pack_after(a, za_pack_size(a->pack));
    if (rc != ZA_OK) return luaL_error(L, "zactor: spawn '%s' failed: %s", spec, err);
    za__lua_push_ref(L, r, NULL);
    return 1;
}

static int ctx_send_after(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    if (lua_isnoneornil(L, 2)) luaL_argerror(L, 2, "send_after: delay (seconds) expected");
    uint32_t ms = za_lua_check_duration(L, 2, "ctx:send_after", "delay", 0, 0);
    za_ref r = za__lua_check_ref(L, 3);
    size_t len;
    const void *d = za__lua_encode_or_raise(L, a, 4, &len);
    za_timer_id id = 0;
    int rc = za_send_after(a->sys, ms, r, 0, d, len, &id);
    za__lua_pack_after(a, len);
    if (rc != ZA_OK) za_lua_raise(L, "send_after", rc);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int ctx_cancel_timer(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    lua_pushboolean(L, za_timer_cancel(a->sys, (za_timer_id)za_lua_check_count(
                                                   L, 2, "ctx:cancel_timer", "timer id", 0,
                                                   INT64_MAX)) == ZA_OK);
    return 1;
}

static int ctx_watch(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    if (!a->ctx) return luaL_error(L, "zactor: ctx used outside a handler");
    int rc = za_ctx_watch(a->ctx, za__lua_check_ref(L, 2));
    if (rc != ZA_OK) za_lua_raise(L, "watch", rc);
    return 0;
}

static int ctx_unwatch(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    if (!a->ctx) return luaL_error(L, "zactor: ctx used outside a handler");
    za_ctx_unwatch(a->ctx, za__lua_check_ref(L, 2));
    return 0;
}

static int ctx_stop(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    if (!a->ctx) return luaL_error(L, "zactor: ctx used outside a handler");
    za_ctx_stop(a->ctx);
    return 0;
}

static int ctx_tell(lua_State *L) {
    lua_remove(L, 1); /* ctx:tell(ref, v) == ref:tell(v) */
    return za__lua_ref_tell(L);
}

static int ctx_lookup(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za_ref r;
    if (za_lookup(a->sys, za_lua_check_cstring(L, 2, "ctx:lookup", "the name"), &r) != ZA_OK)
        lua_pushnil(L);
    else
        za__lua_push_ref(L, r, NULL);
    return 1;
}

static int ask_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    (void)k;
    const za_msg *m = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return za__lua_ask_result(L, m);
}

/* The reply message of a ctx:ask pushed as a value, or raised as an error
 * (also for ctx:ask_all, askall.c). */
int za__lua_ask_result(lua_State *L, const za_msg *m) {
    if (!m) return luaL_error(L, "zactor: ask resumed without a reply");
    if (m->tag == ZA_TAG_TIMEOUT || m->status == ZA_ETIMEDOUT)
        return luaL_error(L, "zactor: ask timed out");
    if (m->status == ZA_EDEAD) { /* an error reply carries its text as the payload */
        const char *text = m->kind == ZA_PAYLOAD_BYTES && m->len
                               ? lua_pushlstring(L, (const char *)m->data, m->len)
                               : NULL;
        return za__lua_raise_dead(L, "ask", text);
    }
    if (m->status == ZA_EFAILED) {
        /* an error reply carries the failure's text as its payload */
        if (m->kind == ZA_PAYLOAD_BYTES && m->len) {
            const char *text = lua_pushlstring(L, (const char *)m->data, m->len);
            return luaL_error(L, "zactor: ask: the actor failed: %s", text);
        }
        return luaL_error(L, "zactor: ask: the actor failed");
    }
    if (m->status != ZA_OK) return luaL_error(L, "zactor: ask failed: %s", za_strerror(m->status));
    if (m->kind != ZA_PAYLOAD_BYTES) return luaL_error(L, "zactor: ask: non-value reply");
    za__lua_push_payload(L, m->data, m->len);
    return 1;
}

static int ctx_ask(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za__lua_run *run = a->cur;
    if (!run || run->co != L || !lua_isyieldable(L) || !a->ctx)
        return luaL_error(L, "zactor: ctx:ask can only be called from a receive or stop handler "
                             "(not from init or a nested coroutine)");
    za_ref r = za__lua_check_ref(L, 2);
    uint32_t ms = za_lua_check_duration(L, 4, "ctx:ask", "timeout", 5.0,
                                        ZA_LUA_HUGE_IS_FOREVER | ZA_LUA_POSITIVE);
    if (ms == ZA_LUA_FOREVER) ms = 0; /* za_ctx_ask: 0 = no timeout */
    size_t len;
    const void *d = za__lua_encode_or_raise(L, a, 3, &len);
    uint64_t corr = 0;
    void *h = NULL;
    za__lua_run_unwait(run); /* (nothing: a handler waits on one thing at a time) */
    int rc = za__lua_ask_send(a, run, r, d, len, ms, &corr, &h);
    za__lua_pack_after(a, len);
    if (rc != ZA_OK) za_lua_raise(L, "ask", rc);
    run->wait_corr = corr;
    run->wait_h = h;  /* given up if the handler is closed (asks.c) */
    run->wait_to = r; /* (a message from r may re-enter, stash.c) */
    /* The message being answered is about to end its receive: keep its
     * reply slot to answer when the handler finally returns. */
    if (run->want_reply && !run->slot) run->slot = za_ctx_take_reply(a->ctx);
    return lua_yieldk(L, 0, 0, ask_cont);
}

/* ctx:trace() -> the W3C traceparent the handler's sends carry (the
 * handled message's unless changed), or nil; ctx:trace(traceparent) sets it
 * for the rest of this handler, ctx:trace(false) clears it. (After an ask
 * resumes the handler, it is the reply's.) */
static int ctx_trace(lua_State *L) {
    if (lua_gettop(L) >= 2) {
        if (lua_isboolean(L, 2) && !lua_toboolean(L, 2)) {
            za_trace_set_current(NULL);
            return 0;
        }
        za_trace t;
        if (za_trace_parse(luaL_checkstring(L, 2), &t) != ZA_OK)
            return luaL_error(L, "zactor: ctx:trace: %s", za_last_error());
        za_trace_set_current(&t);
        return 0;
    }
    za_trace t;
    char buf[56];
    if (za_trace_current(&t) != ZA_OK || za_trace_format(&t, buf, sizeof buf) != ZA_OK) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, buf);
    return 1;
}

static int ctx_index(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    const char *k = lua_tostring(L, 2);
    if (k) {
        if (strcmp(k, "self") == 0) {
            za__lua_push_ref_or_nil(L, a->self);
            return 1;
        }
        if (strcmp(k, "sender") == 0) {
            za__lua_push_ref_or_nil(L, a->cur ? a->cur->sender : ZA_REF_NONE);
            return 1;
        }
        if (strcmp(k, "restarts") == 0) {
            lua_pushinteger(L, (lua_Integer)a->restarts);
            return 1;
        }
        if (strcmp(k, "worker") == 0) { /* which native worker runs us now */
            lua_pushinteger(L, a->ctx ? za_ctx_worker(a->ctx) : -1);
            return 1;
        }
        if (strcmp(k, "memory") == 0) {
            lua_pushinteger(L, (lua_Integer)a->used);
            return 1;
        }
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static const luaL_Reg ctx_methods[] = {
    {"spawn", ctx_spawn},
    {"send_after", ctx_send_after},
    {"cancel_timer", ctx_cancel_timer},
    {"watch", ctx_watch},
    {"unwatch", ctx_unwatch},
    {"stop", ctx_stop},
    {"ask", ctx_ask},
    {"sleep", za__lua_ctx_sleep},
    {"ask_all", za__lua_ctx_ask_all},
    {"tell", ctx_tell},
    {"lookup", ctx_lookup},
    {"trace", ctx_trace},
    {"first", za__lua_ctx_first},
    /* grains and persistent actors (persist.c, grain.c) */
    {"state", za__lua_ctx_state},
    {"save", za__lua_ctx_save},
    {"clear", za__lua_ctx_clear},
    {"persist", za__lua_ctx_persist},
    {"remind", za__lua_ctx_remind},
    {"forget", za__lua_ctx_forget},
    {"key", za__lua_ctx_key},
    {"deactivate", za__lua_ctx_deactivate},
    {"grain", za__lua_ctx_grain},
    /* the cluster (api_cluster.c) */
    {"node", za__lua_ctx_node},
    {"nodes", za__lua_ctx_nodes},
    {NULL, NULL},
};

/* ctx: one userdata per actor; its fields are computed by __index. */
int za__lua_new_ctx(lua_State *L) {
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 2);
    luaL_newlib(L, ctx_methods);
    lua_pushcclosure(L, ctx_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "zactor.ctx");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}
