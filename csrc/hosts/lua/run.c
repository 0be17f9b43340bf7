/*
 * run.c - handler runs: each message runs its handler in a pooled
 * coroutine. A finished coroutine is reset and reused, so a message costs
 * one lua_resume, not a lua_newthread (a new coroutine per message cost
 * ~30% of ring throughput in a prototype, DESIGN.md). A handler that calls ctx:ask yields; its run
 * waits in a->waiting until the reply (a message with msg->corr set)
 * resumes it, while other messages keep being served.
 */
#include "lua_actor.h"

#include <stdlib.h>
#include <string.h>

static int run_finish(lua_State *L, int status, lua_KContext k) {
    (void)status;
    (void)k;
    za__lua_actor *a = za__lua_actor_of(L);
    za__lua_run *run = a->cur;
    if (run->want_reply) {
        size_t len;
        char err[300];
        za_pack_reset(a->pack);
        if (za_lua_encode(L, -1, a->pack, err, sizeof err) != 0) {
            if (run->slot) { /* taken slot: answer it, then fail */
                za_reply_error(a->sys, run->slot, ZA_EFAILED, "bad reply value");
                run->slot = NULL;
            }
            return luaL_error(L, "zactor: bad reply value: %s", err);
        }
        len = za_pack_size(a->pack);
        if (run->slot) {
            za_reply_send(a->sys, run->slot, 0, za_pack_data(a->pack), len);
            run->slot = NULL;
        } else {
            za_reply(a->ctx, 0, za_pack_data(a->pack), len);
        }
        za__lua_pack_after(a, len);
        run->want_reply = 0;
    }
    return 0;
}

void za__lua_pack_trim(za__lua_actor *a) {
    za_pack *p = za_pack_new();
    if (!p) return; /* keep the big one: still correct */
    za_pack_free(a->pack);
    a->pack = p;
}

/* Coroutine body: decode the message (in protected mode), call the
 * handler; the reply is sent by run_finish (also after a yield). */
static int run_entry(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    const za_msg *m = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (m->tag == ZA__LUA_TAG_STARTUP || m->tag == ZA_TAG_REMINDER ||
        m->tag == ZA_TAG_DEACTIVATE) { /* grains and persistent actors (persist.c) */
        int n = za__lua_special_push(L, m);
        if (n < 0) return 0;
        lua_callk(L, n, 1, 0, run_finish);
        return run_finish(L, LUA_OK, 0);
    }
    if (m->tag == ZA_TAG_DOWN || m->tag == ZA_TAG_CHILD_FAILED) {
        za_down dn;
        memset(&dn, 0, sizeof dn);
        if (m->kind == ZA_PAYLOAD_BYTES && m->len >= sizeof dn) memcpy(&dn, m->data, sizeof dn);
        dn.reason[sizeof dn.reason - 1] = 0;
        int special = m->tag == ZA_TAG_DOWN ? a->ref_down : LUA_NOREF;
        if (m->tag == ZA_TAG_CHILD_FAILED) {
            lua_getfield(L, LUA_REGISTRYINDEX, "zactor.child_failed");
            if (lua_isnil(L, -1)) return 0; /* informational: ignore */
        } else if (special != LUA_NOREF) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, special);
        } else {
            lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_receive);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
        lua_createtable(L, 0, 4);
        lua_pushstring(L, m->tag == ZA_TAG_DOWN ? "down" : "child_failed");
        lua_setfield(L, -2, "event");
        za__lua_push_ref_or_nil(L, dn.ref ? dn.ref : m->sender);
        lua_setfield(L, -2, "ref");
        lua_pushinteger(L, dn.code);
        lua_setfield(L, -2, "code");
        lua_pushstring(L, dn.reason);
        lua_setfield(L, -2, "reason");
        lua_callk(L, 2, 1, 0, run_finish);
        return run_finish(L, LUA_OK, 0);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_receive);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
    if (m->kind != ZA_PAYLOAD_BYTES)
        lua_pushnil(L);
    else
        za__lua_push_payload(L, m->data, m->len);
    lua_pushinteger(L, m->tag);
    lua_callk(L, 3, 1, 0, run_finish);
    return run_finish(L, LUA_OK, 0);
}

static int new_thread_cf(lua_State *L) {
    lua_State *co = lua_newthread(L);
    lua_pushlightuserdata(L, co);
    lua_insert(L, -2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushinteger(L, ref);
    return 2;
}

za__lua_run *za__lua_get_run(za__lua_actor *a) {
    za__lua_run *r = a->pool;
    if (r) {
        a->pool = r->next;
        a->npool--;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    lua_State *L = a->L;
    lua_pushcfunction(L, new_thread_cf);
    if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
        lua_pop(L, 1);
        free(r);
        return NULL;
    }
    r->co = lua_touserdata(L, -2);
    r->anchor = (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return r;
}

static void drop_run(za__lua_actor *a, za__lua_run *r) {
    za__lua_run_unwait(r);
    if (r->slot) za_reply_error(a->sys, r->slot, ZA_EFAILED, "Lua actor stopped or failed");
    luaL_unref(a->L, LUA_REGISTRYINDEX, r->anchor); /* existing slot: no allocation */
    free(r);
}

const char *za__lua_error_text(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
        if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1); /* the __tostring found */
        return luaL_tolstring(L, idx, NULL);
    }
    /* {k = v, ...}: the first fields, one level deep */
    lua_pushliteral(L, "{");
    int acc = lua_gettop(L), n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* acc key value */
        if (n++ == 8) {
            lua_pop(L, 2);
            lua_pushliteral(L, ", ...");
            lua_concat(L, 2);
            break;
        }
        lua_pushstring(L, n > 1 ? ", " : "");
        luaL_tolstring(L, -3, NULL);
        lua_pushliteral(L, " = ");
        if (lua_type(L, -4) == LUA_TSTRING)
            lua_pushfstring(L, "\"%s\"", lua_tostring(L, -4));
        else
            luaL_tolstring(L, -4, NULL);
        lua_concat(L, 4);
        lua_pushvalue(L, acc);
        lua_insert(L, -2);
        lua_concat(L, 2);
        lua_replace(L, acc);
        lua_pop(L, 1); /* value */
    }
    if (lua_gettop(L) > acc) lua_settop(L, acc);
    lua_pushliteral(L, "}");
    lua_concat(L, 2);
    return lua_tostring(L, -1);
}

static int traceback_cf(lua_State *L) {
    lua_State *co = lua_touserdata(L, 1);
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    luaL_traceback(L, co, za__lua_error_text(L, -1), 0);
    return 1;
}

/* Describe a failed coroutine (allocation under the grace allowance). */
void za__lua_describe_failure(za__lua_actor *a, lua_State *co, int st) {
    a->grace = 1;
    lua_State *L = a->L;
    lua_pushcfunction(L, traceback_cf);
    lua_pushlightuserdata(L, co);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
        snprintf(a->fail, sizeof a->fail, "%s", lua_tostring(L, -1));
    } else {
        const char *m = lua_tostring(co, -1);
        snprintf(a->fail, sizeof a->fail, "%s",
                 m ? m : (st == LUA_ERRMEM ? "not enough memory" : "Lua error"));
    }
    lua_pop(L, 1);
    a->grace = 0;
}

/* Resume run with nargs already on its stack; returns 0 or -1 (failure). */
static int resume_run(za__lua_actor *a, za__lua_run *run, int nargs) {
    int nres = 0;
    a->cur = run;
    za__lua_mark_running(a, run->co);
    int st = lua_resume(run->co, a->L, nargs, &nres);
    za__lua_mark_idle(a, run->co);
    a->cur = NULL;
    za__lua_pack_after(a, za_pack_size(a->pack)); /* e.g. a large encode that failed */
    int role = run->role;
    if (st == LUA_OK) {
        lua_settop(run->co, 0);
        run->role = 0;
        if (a->npool < ZA_LUA_POOL_MAX) {
            run->next = a->pool;
            a->pool = run;
            a->npool++;
        } else {
            drop_run(a, run);
        }
        if (role) za__lua_role_done(a, role, 1);
        return 0;
    }
    if (st == LUA_YIELD && run->wait_corr) {
        lua_pop(run->co, nres);
        run->next = a->waiting;
        a->waiting = run;
        za__lua_live_add(1);
        return 0;
    }
    if (st == LUA_YIELD) {
        snprintf(a->fail, sizeof a->fail,
                 "zactor: a receive handler yielded outside ctx:ask (not supported)");
    } else {
        za__lua_describe_failure(a, run->co, st);
    }
    if (run->slot) {
        za_reply_error(a->sys, run->slot, ZA_EFAILED, a->fail);
        run->slot = NULL;
    }
    drop_run(a, run);
    if (role) za__lua_role_done(a, role, 0);
    za_ctx_fail(a->ctx, 1, "%s", a->fail);
    return -1;
}

/* Start a handler run for m; slot: its reply slot taken earlier (a stashed
 * message), else the live message's own; chain: its call chain (0: none). */
static int start_run(za__lua_actor *a, const za_msg *m, za_reply_slot *slot, uint64_t chain) {
    za__lua_run *run = za__lua_get_run(a);
    if (!run) {
        if (slot) za_reply_error(a->sys, slot, ZA_ENOMEM, "Lua actor out of memory");
        za_ctx_fail(a->ctx, ZA_ENOMEM, "Lua actor out of memory (coroutine)");
        return -1;
    }
    run->want_reply = slot ? 1 : za_ctx_can_reply(a->ctx);
    run->slot = slot;
    run->role = 0;
    run->sender = m->sender;
    run->wait_corr = 0;
    run->in_stop = 0;
    run->chain = chain;
    lua_pushcfunction(run->co, run_entry);
    lua_pushlightuserdata(run->co, (void *)m);
    return resume_run(a, run, 1);
}

int za__lua_start_role(za__lua_actor *a, const za_msg *m, int role) {
    za__lua_run *run = za__lua_get_run(a);
    if (!run) {
        snprintf(a->fail, sizeof a->fail, "Lua actor out of memory (coroutine)");
        za_ctx_fail(a->ctx, ZA_ENOMEM, "%s", a->fail);
        return -1;
    }
    run->want_reply = 0;
    run->slot = NULL;
    run->sender = ZA_REF_NONE;
    run->wait_corr = 0;
    run->in_stop = 0;
    run->role = role;
    run->chain = 0; /* made at its first ask, if any */
    lua_pushcfunction(run->co, run_entry);
    lua_pushlightuserdata(run->co, (void *)m);
    return resume_run(a, run, 1);
}

/* Handlers ended: start stashed messages while concurrency allows. */
static int drain_stash(za__lua_actor *a) {
    while (a->stash && !za__lua_busy(a)) {
        za__lua_stashed *s = za__lua_stash_pop(a);
        int rc =
            start_run(a, za__lua_stashed_msg(s), za__lua_stashed_slot(s), za__lua_stashed_chain(s));
        free(s);
        if (rc) return rc;
    }
    return 0;
}

/* The za_behaviour receive: a reply (m->corr) resumes the run waiting on
 * it, any other message starts a run from the pool (or waits in the stash
 * while `concurrency` handlers are in progress, stash.c). */
int za__lua_receive(za_ctx *ctx, const za_msg *m) {
    za__lua_actor *a = *(za__lua_actor **)za_ctx_state(ctx);
    if (!a) {
        za_ctx_fail(ctx, 1, "Lua actor has no state");
        return -1;
    }
    a->ctx = ctx;
    if (m->tag == ZA_TAG_PICKLE && !m->corr) {
        /* a pickled Python object from another node (csrc/cluster/pickle.c
         * stops those it can tell are for a Lua actor; one that came before
         * our start ran is refused here): never decoded, a dead letter, and
         * the asker told why */
        za_reply_slot *slot = za_ctx_can_reply(ctx) ? za_ctx_take_reply(ctx) : NULL;
        if (slot)
            za_reply_error(a->sys, slot, ZA_EINVAL,
                           "a pickled Python object cannot go to a lua actor");
        else
            za_dead_letter_report(a->sys, a->self, m, ZA_DL_DEAD_TARGET);
        return 0;
    }
    int rc = 0;
    uint64_t token = za__lua_sleep_token(m); /* ctx:sleep's timer (sleep.c) */
    if (token || m->corr) {
        uint64_t want = token ? token : m->corr;
        za__lua_run **pp = &a->waiting;
        while (*pp && (*pp)->wait_corr != want && !za__lua_in_wait_set(*pp, want))
            pp = &(*pp)->next;
        za__lua_run *run = *pp;
        if (run) {
            *pp = run->next;
            za__lua_live_add(-1);
            if (!run->wait_set) { /* (ask_all, first: their continuation decides) */
                run->wait_corr = 0;
                za__lua_ask_done(run, run->wait_h); /* answered or timed out */
                run->wait_h = NULL;
            }
            lua_pushlightuserdata(run->co, (void *)m);
            rc = resume_run(a, run, 1);
        } else if (!token && m->status == ZA_OK && m->tag != ZA_TAG_TIMEOUT) {
            /* an answer nobody waits for any more: an ask ctx:ask_all gave
             * up at its first failure, or one of a handler closed by a
             * restart. Counted as a dead letter, as a cancelled ask's late
             * reply is (error answers and timeouts carry no message). */
            za_dead_letter_report(a->sys, a->self, m, ZA_DL_LATE_REPLY);
        }
    } else if (m->tag == ZA_TAG_DEACTIVATE && a->grain) {
        za__lua_grain_deactivate(a, ctx); /* never stashed: it must defer now */
    } else if (m->tag == ZA__LUA_TAG_DRAIN && m->len == 0) {
        /* a restarted incarnation's nudge: the stash it adopted goes first */
    } else {
        uint64_t chain = za_ctx_chain(ctx); /* (before the stash takes the reply slot) */
        if (!za__lua_stash_if_busy(a, ctx, m, chain)) rc = start_run(a, m, NULL, chain);
    }
    if (rc == 0 && a->stash) rc = drain_stash(a);
    if (rc == 0 && a->deactivating == 1) rc = za__lua_grain_maybe_stop(a);
    a->ctx = NULL;
    return rc;
}

static int close_run_cf(lua_State *L) {
    lua_State *co = lua_touserdata(L, 1);
    int st = lua_resetthread(co); /* runs its pending to-be-closed variables */
    if (st != LUA_OK) {
        lua_xmove(co, L, 1);
        return lua_error(L);
    }
    return 0;
}

void za__lua_runs_close(za__lua_actor *a) {
    for (za__lua_run *r = a->waiting; r; r = r->next) {
        if (r->slot) {
            za_reply_error(a->sys, r->slot, ZA_EDEAD,
                           "the Lua actor stopped or restarted while this ask's handler was "
                           "suspended");
            r->slot = NULL;
        }
        za__lua_run_close(a, r);
    }
}

void za__lua_run_close(za__lua_actor *a, za__lua_run *r) {
    lua_State *L = a->L;
    za__lua_run_unwait(r); /* what it waited for is given up */
    /* a __close that fails is reported, never lost; the others still run */
    a->grace = 1;
    lua_pushcfunction(L, close_run_cf);
    lua_pushlightuserdata(L, r->co);
    za__lua_mark_running(a, r->co);
    int st = lua_pcall(L, 1, 0, 0);
    za__lua_mark_idle(a, r->co);
    if (st != LUA_OK) {
        fprintf(stderr, "zactor: actor %u.%u: a suspended handler failed while closing: %s\n",
                (unsigned)za_ref_slot(a->self), (unsigned)za_ref_gen(a->self),
                za__lua_error_text(L, -1));
        lua_pop(L, 2); /* the error and its text */
    }
    a->grace = 0;
}

void za__lua_runs_free(za__lua_actor *a) {
    za__lua_stash_free(a);
    for (za__lua_run *r = a->waiting, *n; r; r = n) {
        n = r->next;
        if (r->slot) za_reply_error(a->sys, r->slot, ZA_EFAILED, "Lua actor stopped");
        za__lua_run_unwait(r);
        za__lua_live_add(-1);
        free(r);
    }
    for (za__lua_run *r = a->pool, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    a->waiting = a->pool = NULL;
}
