/*
 * persist.c - persistent state of Lua actors: grains (virtual actors,
 * csrc/grain/) and plain actors spawned with persistence_id.
 *
 * Both start with a startup run (a handler run of role STARTUP, run.c):
 * load the state, call init, then (grains) on_activate. It runs in a pooled
 * coroutine like any handler, so init and on_activate may suspend in
 * ctx:ask or ctx:save; meanwhile a->gate keeps every other message in the
 * stash (stash.c), so no handler ever sees a state that is not loaded yet.
 *  - a grain's state was read by the runtime before the activation was
 *    spawned (za_ctx_grain_state): the run applies it at once, and for a
 *    journaled grain folds the events after the snapshot through `apply`;
 *  - a persistent actor reads its row (ZA_LUA_PERSIST_TYPE, id) itself with
 *    za_ctx_store (never a blocking call on a worker) and suspends until the
 *    completion message arrives, on every start and restart.
 *
 * ctx:save / clear / persist suspend the handler the same way until the
 * write is durable (the completion is a message with the request's corr,
 * matched like an ask reply, run.c). An expected failure is a result, as
 * in zactor.store: nil, "conflict" | "fenced", message. A state or event
 * outside the value model, or a store error, raises; nothing is written.
 */
#include "lua_actor.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

#define STATE_KEY "zactor.state" /* registry field holding the state */

enum { OP_SAVE = 1, OP_CLEAR, OP_PERSIST, OP_REMIND, OP_FORGET };
static const char *const op_names[] = {"",           "ctx:save",  "ctx:clear", "ctx:persist",
                                       "ctx:remind", "ctx:forget"};

/* A fresh state: an empty table marked as a map, so it is stored as a map
 * (an unmarked empty table encodes as an empty array, lua_host.h). */
static void push_new_state(lua_State *L) {
    lua_createtable(L, 0, 4);
    if (lua_getglobal(L, "zactor") == LUA_TTABLE && lua_getfield(L, -1, "map_mt") == LUA_TTABLE) {
        lua_setmetatable(L, -3);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 2);
    }
}

/* The decoded value at the top replaces the state (nil: a fresh one). */
static void set_state_from_top(lua_State *L) {
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        push_new_state(L);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
}

static void push_state(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TNIL) {
        lua_pop(L, 1);
        push_new_state(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    }
}

/* apply(state, event) with the event at ev: its result (unless nil)
 * becomes the state. */
static void apply_event(lua_State *L, za__lua_actor *a, int ev) {
    ev = lua_absindex(L, ev);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_apply);
    push_state(L);
    lua_pushvalue(L, ev);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1))
        lua_pop(L, 1); /* mutated in place */
    else
        lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
}

/* A grain: the state the runtime read before spawning us, then (journaled)
 * the events after its snapshot through apply. */
static void load_grain_state(lua_State *L, za__lua_actor *a) {
    const void *data = NULL;
    size_t len = 0;
    uint64_t version = 0;
    int rc = za_ctx_grain_state(a->ctx, &data, &len, &version);
    if (rc != ZA_OK) za_lua_raise(L, "reading the grain's state", rc);
    if (data && len)
        za__lua_push_payload(L, data, len);
    else
        lua_pushnil(L);
    set_state_from_top(L);
    if (!a->journaled) return;
    const za_store_event *ev = NULL;
    size_t n = 0;
    uint64_t seq = 0;
    rc = za_ctx_grain_events(a->ctx, &ev, &n, &seq);
    if (rc != ZA_OK) za_lua_raise(L, "reading the grain's journal", rc);
    for (size_t i = 0; i < n; i++) {
        za__lua_push_payload(L, ev[i].data, ev[i].len);
        apply_event(L, a, -1);
        lua_pop(L, 1);
    }
}

/* Suspend the running handler until the store completion `corr` (a
 * message matched by corr, run.c) resumes it in cont. */
static int suspend(lua_State *L, za__lua_actor *a, uint64_t corr, int op, lua_KFunction cont) {
    za__lua_run *run = a->cur;
    run->wait_corr = corr;
    run->wait_to = ZA_REF_NONE;
    /* the message being handled ends its receive now: keep its reply slot
     * to answer when the handler returns (as ctx:ask does) */
    if (run->want_reply && !run->slot) run->slot = za_ctx_take_reply(a->ctx);
    return lua_yieldk(L, 0, (lua_KContext)op, cont);
}

/* The actor of a handler that may suspend, or a Lua error naming fn. */
static za__lua_actor *check_handler(lua_State *L, const char *fn) {
    za__lua_actor *a = za__lua_actor_of(L);
    za__lua_run *run = a->cur;
    if (!run || run->co != L || !lua_isyieldable(L) || !a->ctx || run->in_stop)
        luaL_error(L,
                   "zactor: %s can only be called from a handler (not from stop or a nested "
                   "coroutine)",
                   fn);
    return a;
}

static void check_persistent(lua_State *L, za__lua_actor *a, const char *fn) {
    if (!a->grain && !a->pid)
        luaL_error(L,
                   "zactor: %s: this actor has no persistent state (make it a grain with "
                   "system:grain, or spawn it with persistence_id)",
                   fn);
}

/* After a conflict or a fence this activation's state is stale: a later
 * write would expect the version its failed write was to produce, which
 * may well be the stored one (written by someone else), and overwrite it
 * with stale data. So every later write fails the same way, as the ones
 * already in flight did. Returns the 3 results, or 0 to go on. */
static int refuse_if_stale(lua_State *L, za__lua_actor *a) {
    if (!a->stale) return 0;
    za__clear_error();
    lua_pushnil(L);
    lua_pushstring(L, a->stale == ZA_ECONFLICT ? "conflict" : "fenced");
    lua_pushstring(L, a->stale == ZA_ECONFLICT
                          ? "an earlier write of this activation conflicted: its state is stale "
                            "(the next activation reads the stored one)"
                          : "an earlier write of this activation was fenced: another activation "
                            "holds the grain");
    return 3;
}

/* A write the runtime refused at once: stale (its completion of an earlier
 * write was not received yet) is a result like a completion's, anything
 * else raises. */
static int write_refused(lua_State *L, za__lua_actor *a, const char *fn, int rc) {
    if (rc == ZA_ECONFLICT || rc == ZA_EFENCED) {
        a->stale = rc;
        lua_pushnil(L);
        lua_pushstring(L, rc == ZA_ECONFLICT ? "conflict" : "fenced");
        lua_pushstring(L, za__lua_err_text(rc));
        return 3;
    }
    return za_lua_raise(L, fn, rc);
}

/* ------------------------------------------------------------- startup */

enum { S_BEGIN, S_LOADED, S_INIT_DONE, S_ACTIVATED };

static int startup_k(lua_State *L, int status, lua_KContext k) {
    (void)status;
    za__lua_actor *a = za__lua_actor_of(L);
    if (k == S_BEGIN) {
        if (a->pid) {
            za_store *st = za_system_store(a->sys);
            if (!st) return luaL_error(L, "zactor: persistence_id: the system has no store");
            za_store_req q;
            memset(&q, 0, sizeof q);
            q.op = ZA_STORE_READ;
            q.type = ZA_LUA_PERSIST_TYPE;
            q.id = a->pid;
            uint64_t corr = 0;
            int rc = za_ctx_store(a->ctx, st, &q, ZA__LUA_TAG_STORE, &corr);
            if (rc != ZA_OK) za_lua_raise(L, "reading the persistent state", rc);
            a->cur->wait_corr = corr;
            a->cur->wait_to = ZA_REF_NONE;
            return lua_yieldk(L, 0, S_LOADED, startup_k);
        }
        if (a->grain) load_grain_state(L, a);
    } else if (k == S_LOADED) {
        const za_msg *m = lua_touserdata(L, -1);
        lua_pop(L, 1);
        const za_store_result *r =
            m && m->kind == ZA_PAYLOAD_PTR ? (const za_store_result *)m->ptr : NULL;
        int st = m ? m->status : ZA_EINVAL;
        if (st == ZA_ENOTFOUND) {
            a->pversion = 0;
            lua_pushnil(L);
        } else if (st == ZA_OK && r) {
            a->pversion = r->version;
            if (r->data && r->len)
                za__lua_push_payload(L, r->data, r->len);
            else
                lua_pushnil(L);
        } else {
            return luaL_error(L, "zactor: persistence_id '%s': cannot read the state: %s", a->pid,
                              r && r->error ? r->error : za_strerror(st));
        }
        set_state_from_top(L);
    }
    if (k <= S_LOADED && a->ref_init != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_init);
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
        int n = 1;
        if (a->init_len) {
            za__lua_push_payload(L, a->init_args, a->init_len);
            if (lua_istable(L, -1)) {
                int tt = lua_gettop(L);
                lua_Integer cnt = (lua_Integer)lua_rawlen(L, tt);
                luaL_checkstack(L, (int)cnt + 2, "too many init arguments");
                for (lua_Integer i = 1; i <= cnt; i++) lua_rawgeti(L, tt, i);
                lua_remove(L, tt);
                n += (int)cnt;
            } else {
                n++;
            }
        }
        lua_callk(L, n, 0, S_INIT_DONE, startup_k);
    }
    if (k <= S_INIT_DONE) {
        free(a->init_args);
        a->init_args = NULL;
        a->init_len = 0;
        if (a->grain && a->ref_activate != LUA_NOREF) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_activate);
            lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
            lua_callk(L, 1, 0, S_ACTIVATED, startup_k);
        }
    }
    lua_pushnil(L); /* the run's "reply" (nobody asked) */
    return 1;
}

static int startup_cf(lua_State *L) {
    return startup_k(L, LUA_OK, S_BEGIN);
}

int za__lua_persist_start(za__lua_actor *a, const za__lua_spawn_hdr *h, const void *args,
                          size_t len) {
    if (h->flags & ZA__LUA_GRAIN) {
        za_ref g;
        if (za_ctx_grain(a->ctx, &g) != 1) {
            snprintf(a->fail, sizeof a->fail,
                     "a Lua grain class can only run as a grain activation (use za_grain_ref)");
            za_ctx_fail(a->ctx, ZA_EINVAL, "%s", a->fail);
            return -1;
        }
        a->grain = 1;
        a->journaled = (h->flags & ZA__LUA_JOURNALED) != 0;
        a->snapshot_every = h->snapshot_every;
    }
    if (h->pid_len) {
        a->pid = malloc(h->pid_len + 1);
        if (!a->pid) goto nomem;
        memcpy(a->pid, args, h->pid_len);
        a->pid[h->pid_len] = 0;
    }
    if (len > h->pid_len) {
        a->init_len = len - h->pid_len;
        a->init_args = malloc(a->init_len);
        if (!a->init_args) goto nomem;
        memcpy(a->init_args, (const char *)args + h->pid_len, a->init_len);
    }
    a->gate = 1;
    za_msg m;
    memset(&m, 0, sizeof m);
    m.tag = ZA__LUA_TAG_STARTUP;
    m.kind = ZA_PAYLOAD_BYTES;
    return za__lua_start_role(a, &m, ZA__LUA_ROLE_STARTUP);
nomem:
    snprintf(a->fail, sizeof a->fail, "out of memory");
    za_ctx_fail(a->ctx, ZA_ENOMEM, "%s", a->fail);
    return -1;
}

void za__lua_persist_free(za__lua_actor *a) {
    free(a->pid);
    free(a->init_args);
    a->pid = NULL;
    a->init_args = NULL;
}

/* ------------------------------------------------------------ reminders */

/* ZA_TAG_REMINDER's payload [name, missed, period_s, due_unix_s] as the
 * table {reminder = name, missed = n, period = s, due = t}. */
static void push_reminder(lua_State *L, const za_msg *m) {
    za__lua_push_payload(L, m->kind == ZA_PAYLOAD_BYTES ? m->data : NULL,
                         m->kind == ZA_PAYLOAD_BYTES ? m->len : 0);
    int p = lua_gettop(L);
    lua_createtable(L, 0, 4);
    static const char *const fields[] = {"reminder", "missed", "period", "due"};
    for (int i = 0; i < 4; i++) {
        if (lua_istable(L, p))
            lua_rawgeti(L, p, i + 1);
        else
            lua_pushnil(L);
        lua_setfield(L, -2, fields[i]);
    }
    lua_remove(L, p);
}

int za__lua_special_push(lua_State *L, const za_msg *m) {
    za__lua_actor *a = za__lua_actor_of(L);
    if (m->tag == ZA__LUA_TAG_STARTUP) {
        lua_pushcfunction(L, startup_cf);
        return 0;
    }
    if (m->tag == ZA_TAG_DEACTIVATE) {
        if (a->ref_deactivate == LUA_NOREF) return -1;
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_deactivate);
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
        return 1;
    }
    /* ZA_TAG_REMINDER: on_reminder(ctx, r), else receive(ctx, r, tag) */
    if (a->ref_reminder != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_reminder);
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
        push_reminder(L, m);
        return 2;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_receive);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
    push_reminder(L, m);
    lua_pushinteger(L, m->tag);
    return 3;
}

void za__lua_role_done(za__lua_actor *a, int role, int ok) {
    if (role == ZA__LUA_ROLE_STARTUP) {
        a->gate = 0; /* (a failed startup fails the actor anyway) */
    } else if (role == ZA__LUA_ROLE_DEACTIVATE && ok && a->ctx) {
        za_ctx_stop(a->ctx); /* the runtime was told to wait (za_ctx_grain_defer) */
    }
}

/* ------------------------------------------------------ ctx methods */

/* Completion of a save, clear, persist, remind or forget. */
static int store_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    za__lua_actor *a = za__lua_actor_of(L);
    int op = (int)k;
    const za_msg *m = lua_touserdata(L, -1);
    lua_pop(L, 1);
    const za_store_result *r =
        m && m->kind == ZA_PAYLOAD_PTR ? (const za_store_result *)m->ptr : NULL;
    int st = m ? m->status : ZA_EINVAL;
    if (m && m->tag == ZA_TAG_TIMEOUT) st = ZA_ETIMEDOUT;
    if (st == ZA_OK || (st == ZA_ENOTFOUND && (op == OP_CLEAR || op == OP_FORGET))) {
        switch (op) {
        case OP_SAVE:
            if (r && a->pid) a->pversion = r->version;
            lua_pushinteger(L, r ? (lua_Integer)r->version : 0);
            return 1;
        case OP_CLEAR:
            if (a->pid) a->pversion = 0;
            lua_pushnil(L);
            set_state_from_top(L);
            lua_pushboolean(L, 1);
            return 1;
        case OP_PERSIST: { /* stack: ctx, event, its encoded bytes */
            lua_Integer seq = r ? (lua_Integer)r->version : 0;
            size_t n;
            const char *b = lua_tolstring(L, 3, &n);
            /* apply what was stored (decoded), as a replay will */
            za__lua_push_payload(L, b, n);
            apply_event(L, a, -1);
            lua_pop(L, 1);
            if (a->snapshot_every && seq > 0 && (uint64_t)seq % a->snapshot_every == 0) {
                push_state(L);
                size_t len;
                char err[300];
                za_pack_reset(a->pack);
                za_pack_bind(a->pack, a->sys);
                if (za_lua_encode(L, -1, a->pack, err, sizeof err) != 0)
                    return luaL_error(L,
                                      "zactor: ctx:persist: the state is not in the value "
                                      "model, no snapshot written: %s",
                                      err);
                len = za_pack_size(a->pack);
                uint64_t corr = 0; /* its completion finds no waiting run: dropped */
                za_ctx_grain_snapshot(a->ctx, za_pack_data(a->pack), len, (uint64_t)seq,
                                      ZA__LUA_TAG_STORE, &corr);
                za__lua_pack_after(a, len);
                lua_pop(L, 1);
            }
            lua_pushinteger(L, seq);
            return 1;
        }
        case OP_FORGET:
            lua_pushboolean(L, st == ZA_OK);
            return 1;
        default:
            lua_pushboolean(L, 1);
            return 1;
        }
    }
    if (op == OP_SAVE && a->pid && a->pversion) a->pversion--; /* not written */
    const char *text = r && r->error ? r->error : za_strerror(st);
    if (st == ZA_ECONFLICT || st == ZA_EFENCED) {
        a->stale = st;
        lua_pushnil(L);
        lua_pushstring(L, st == ZA_ECONFLICT ? "conflict" : "fenced");
        lua_pushstring(L, text);
        return 3;
    }
    return luaL_error(L, "zactor: %s: %s", op_names[op], text);
}

/* ctx:state() -> the state; ctx:state(v) replaces it. */
int za__lua_ctx_state(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    check_persistent(L, a, "ctx:state");
    if (lua_gettop(L) >= 2) {
        lua_settop(L, 2);
        set_state_from_top(L);
    }
    push_state(L);
    return 1;
}

/* Encode the state, or raise: nothing is written. */
static const void *encode_state(lua_State *L, za__lua_actor *a, const char *fn, size_t *len) {
    push_state(L);
    char err[300];
    za_pack_reset(a->pack);
    za_pack_bind(a->pack, a->sys);
    if (za_lua_encode(L, -1, a->pack, err, sizeof err) != 0)
        luaL_error(L, "zactor: %s: the state is not in the value model, nothing written: %s", fn,
                   err);
    lua_pop(L, 1);
    *len = za_pack_size(a->pack);
    return za_pack_data(a->pack);
}

/* ctx:save() -> version | nil, "conflict" | "fenced", message */
int za__lua_ctx_save(lua_State *L) {
    za__lua_actor *a = check_handler(L, "ctx:save");
    check_persistent(L, a, "ctx:save");
    if (a->journaled)
        return luaL_error(L, "zactor: ctx:save: a journaled grain stores events: use "
                             "ctx:persist(event)");
    if (refuse_if_stale(L, a)) return 3;
    size_t len;
    const void *data = encode_state(L, a, "ctx:save", &len);
    uint64_t corr = 0;
    int rc;
    if (a->grain) {
        rc = za_ctx_grain_save(a->ctx, data, len, ZA__LUA_TAG_STORE, &corr);
    } else {
        za_store_req q;
        memset(&q, 0, sizeof q);
        q.op = ZA_STORE_WRITE;
        q.type = ZA_LUA_PERSIST_TYPE;
        q.id = a->pid;
        q.data = data;
        q.len = len;
        q.version = a->pversion;
        rc = za_ctx_store(a->ctx, za_system_store(a->sys), &q, ZA__LUA_TAG_STORE, &corr);
        if (rc == ZA_OK) a->pversion++; /* pipelined saves expect the ones before to land */
    }
    za__lua_pack_after(a, len);
    if (rc != ZA_OK) return write_refused(L, a, "ctx:save", rc);
    return suspend(L, a, corr, OP_SAVE, store_cont);
}

/* ctx:clear() -> true | nil, "conflict" | "fenced", message */
int za__lua_ctx_clear(lua_State *L) {
    za__lua_actor *a = check_handler(L, "ctx:clear");
    check_persistent(L, a, "ctx:clear");
    if (refuse_if_stale(L, a)) return 3;
    uint64_t corr = 0;
    int rc;
    if (a->grain) {
        rc = za_ctx_grain_clear(a->ctx, ZA__LUA_TAG_STORE, &corr);
    } else {
        za_store_req q;
        memset(&q, 0, sizeof q);
        q.op = ZA_STORE_CLEAR;
        q.type = ZA_LUA_PERSIST_TYPE;
        q.id = a->pid;
        q.version = a->pversion ? a->pversion : ZA_STORE_ANY;
        rc = za_ctx_store(a->ctx, za_system_store(a->sys), &q, ZA__LUA_TAG_STORE, &corr);
    }
    if (rc != ZA_OK) return write_refused(L, a, "ctx:clear", rc);
    return suspend(L, a, corr, OP_CLEAR, store_cont);
}

/* ctx:persist(event) -> seq | nil, "conflict" | "fenced", message.
 * Appended first; applied (apply(state, event)) once durable. */
int za__lua_ctx_persist(lua_State *L) {
    za__lua_actor *a = check_handler(L, "ctx:persist");
    if (!a->journaled)
        return luaL_error(L, "zactor: ctx:persist: only a journaled grain (journaled = true) "
                             "keeps events; use ctx:save()");
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    if (refuse_if_stale(L, a)) return 3;
    char err[300];
    za_pack_reset(a->pack);
    za_pack_bind(a->pack, a->sys);
    if (za_lua_encode(L, 2, a->pack, err, sizeof err) != 0)
        return luaL_error(L,
                          "zactor: ctx:persist: the event is not in the value model, nothing "
                          "written: %s",
                          err);
    size_t len = za_pack_size(a->pack);
    lua_pushlstring(L, za_pack_data(a->pack), len); /* index 3: applied once stored */
    uint64_t corr = 0;
    int rc = za_ctx_grain_persist(a->ctx, za_pack_data(a->pack), len, ZA__LUA_TAG_STORE, &corr);
    za__lua_pack_after(a, len);
    if (rc != ZA_OK) return write_refused(L, a, "ctx:persist", rc);
    return suspend(L, a, corr, OP_PERSIST, store_cont);
}

static void check_grain(lua_State *L, za__lua_actor *a, const char *fn) {
    if (!a->grain)
        luaL_error(L, "zactor: %s: only a grain has reminders (this actor is not one)", fn);
}

/* ctx:remind(name, {period = s, due = s, catch_up = true}) -> true */
int za__lua_ctx_remind(lua_State *L) {
    za__lua_actor *a = check_handler(L, "ctx:remind");
    check_grain(L, a, "ctx:remind");
    const char *name = za_lua_check_cstring(L, 2, "ctx:remind", "the name");
    if (!*name) return luaL_error(L, "zactor: ctx:remind: the name is empty");
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
        if (strcmp(k, "period") && strcmp(k, "due") && strcmp(k, "catch_up"))
            return luaL_error(L,
                              "zactor: ctx:remind: unknown option '%s' (valid options: period, "
                              "due, catch_up)",
                              k);
    }
    lua_getfield(L, 3, "period");
    if (lua_isnil(L, -1))
        return luaL_error(L, "zactor: ctx:remind: option 'period' (seconds, >= 1) is required");
    uint32_t period = za_lua_check_duration(L, -1, "ctx:remind", "period", 0, ZA_LUA_POSITIVE);
    if (period < 1000) return luaL_error(L, "zactor: ctx:remind: period must be at least 1 second");
    lua_getfield(L, 3, "due");
    uint32_t due = za_lua_check_duration(L, -1, "ctx:remind", "due", period / 1000.0, 0);
    lua_getfield(L, 3, "catch_up");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        return luaL_error(L, "zactor: ctx:remind: option 'catch_up' must be a boolean");
    int catch_up = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_settop(L, 3);
    uint64_t corr = 0;
    int rc = za_ctx_grain_remind(a->ctx, name, due, period, catch_up, ZA__LUA_TAG_STORE, &corr);
    if (rc != ZA_OK) za_lua_raise(L, "ctx:remind", rc);
    return suspend(L, a, corr, OP_REMIND, store_cont);
}

/* ctx:forget(name) -> true, or false when there was no such reminder */
int za__lua_ctx_forget(lua_State *L) {
    za__lua_actor *a = check_handler(L, "ctx:forget");
    check_grain(L, a, "ctx:forget");
    const char *name = za_lua_check_cstring(L, 2, "ctx:forget", "the name");
    uint64_t corr = 0;
    int rc = za_ctx_grain_forget(a->ctx, name, ZA__LUA_TAG_STORE, &corr);
    if (rc != ZA_OK) za_lua_raise(L, "ctx:forget", rc);
    return suspend(L, a, corr, OP_FORGET, store_cont);
}
