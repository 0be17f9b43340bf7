/*
 * watchdog.c - the handler budget: a runaway handler is stopped by an
 * instruction hook that one watchdog thread arms only when a handler has
 * run longer than its budget. A permanent count hook would slow every
 * actor about 2x; this costs a handler two uncontended spin-lock pairs.
 *
 * The thread exists while at least one Lua actor does. A fork()ed child
 * has no thread (only the forking one survives): an atfork handler marks
 * it gone, so the next Lua actor started in the child starts a new one.
 */
#include "lua_actor.h"

#include <lualib.h>
#include <pthread.h>
#include <time.h>

#define WD_TICK_MS 10 /* watchdog period */

static pthread_mutex_t g_wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wd_cv = PTHREAD_COND_INITIALIZER;
static za__lua_actor *g_wd_list;
static size_t g_wd_count;
static uint64_t g_wd_gen; /* a watchdog thread exits when the generation moves on */
static pthread_t g_wd_thread;
static int g_wd_alive; /* g_wd_thread runs */
static pthread_once_t g_wd_once = PTHREAD_ONCE_INIT;

static void wd_prefork(void) {
    pthread_mutex_lock(&g_wd_mu);
}
static void wd_postfork_parent(void) {
    pthread_mutex_unlock(&g_wd_mu);
}
static void wd_postfork_child(void) {
    pthread_mutex_init(&g_wd_mu, NULL);
    pthread_cond_init(&g_wd_cv, NULL);
    g_wd_alive = 0; /* the thread did not survive the fork */
    /* The parent's actors cannot run here (their workers are gone): leave
     * them idle and unlocked, so the child's watchdog never waits on a
     * lock a vanished worker held. */
    for (za__lua_actor *a = g_wd_list; a; a = a->wnext) {
        atomic_flag_clear(&a->lock);
        atomic_store(&a->running, NULL);
    }
}
static void wd_register_atfork(void) {
    pthread_atfork(wd_prefork, wd_postfork_parent, wd_postfork_child);
}

#define spin_lock za__lua_spin_lock
#define spin_unlock za__lua_spin_unlock

static void budget_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    /* Stays armed: an error swallowed by a pcall inside the handler fires
     * again at the next instruction, so the handler cannot keep running. */
    za__lua_actor *a = za__lua_actor_of(L);
    luaL_error(L, "zactor: handler ran longer than its budget of %d ms and was stopped",
               (int)a->budget_ms);
}

static void *watchdog_main(void *arg) {
    uint64_t gen = (uint64_t)(uintptr_t)arg;
    pthread_mutex_lock(&g_wd_mu);
    while (g_wd_gen == gen) {
        for (za__lua_actor *a = g_wd_list; a; a = a->wnext) {
            /* Idle actors (nearly all) are skipped without taking their
             * lock: a per-message lock write by the worker and a lock RMW
             * here would bounce the line between cores every tick. */
            if (!atomic_load_explicit(&a->running, memory_order_relaxed)) {
                a->wd_seq = atomic_load_explicit(&a->seq, memory_order_relaxed);
                a->wd_stuck_ms = 0;
                continue;
            }
            spin_lock(&a->lock);
            if (a->running && a->seq == a->wd_seq) {
                a->wd_stuck_ms += WD_TICK_MS;
                if (!a->armed && a->wd_stuck_ms >= a->budget_ms) {
                    /* Same technique as lua.c's SIGINT handler: lua_sethook
                     * only sets fields the VM polls at calls and jumps. */
                    lua_sethook(a->running, budget_hook, LUA_MASKCOUNT, 1);
                    a->armed = 1;
                    atomic_store_explicit(&a->over_budget, 1, memory_order_relaxed);
                }
            } else {
                a->wd_seq = a->seq;
                a->wd_stuck_ms = 0;
            }
            spin_unlock(&a->lock);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WD_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g_wd_cv, &g_wd_mu, &ts);
    }
    pthread_mutex_unlock(&g_wd_mu);
    return NULL;
}

int za__lua_wd_add(za__lua_actor *a) {
    int rc = 0;
    pthread_once(&g_wd_once, wd_register_atfork);
    pthread_mutex_lock(&g_wd_mu);
    if (!g_wd_alive) {
        g_wd_gen++;
        if (pthread_create(&g_wd_thread, NULL, watchdog_main, (void *)(uintptr_t)g_wd_gen) != 0)
            rc = -1;
        else
            g_wd_alive = 1;
    }
    if (rc == 0) {
        a->wnext = g_wd_list;
        a->wprev = NULL;
        if (g_wd_list) g_wd_list->wprev = a;
        g_wd_list = a;
        g_wd_count++;
    }
    pthread_mutex_unlock(&g_wd_mu);
    return rc;
}

void za__lua_wd_remove(za__lua_actor *a) {
    pthread_t t;
    int join = 0;
    pthread_mutex_lock(&g_wd_mu);
    if (a->wprev)
        a->wprev->wnext = a->wnext;
    else
        g_wd_list = a->wnext;
    if (a->wnext) a->wnext->wprev = a->wprev;
    if (--g_wd_count == 0 && g_wd_alive) {
        /* Last Lua actor gone: stop the thread, so nothing runs code of
         * this (possibly dlclose'd) module once every actor is gone. */
        g_wd_gen++;
        t = g_wd_thread;
        join = 1;
        g_wd_alive = 0;
        pthread_cond_broadcast(&g_wd_cv);
    }
    pthread_mutex_unlock(&g_wd_mu);
    if (join) pthread_join(t, NULL);
}

/* --------------------------------------------------------- coroutines */

/* The watchdog hooks the innermost running coroutine of an actor. A
 * handler's coroutine is marked by run.c; a coroutine the handler resumes
 * becomes `running` until it yields or ends, and the hook (when armed)
 * moves with it. Only the running thread ever carries the hook. */
static lua_State *co_enter(za__lua_actor *a, lua_State *co) {
    spin_lock(&a->lock);
    lua_State *prev = atomic_load_explicit(&a->running, memory_order_relaxed);
    atomic_store_explicit(&a->running, co, memory_order_relaxed);
    if (a->armed) {
        if (prev) lua_sethook(prev, NULL, 0, 0);
        lua_sethook(co, budget_hook, LUA_MASKCOUNT, 1);
    } else {
        lua_sethook(co, NULL, 0, 0); /* a hook copied by lua_newthread while armed */
    }
    spin_unlock(&a->lock);
    return prev;
}

static void co_leave(za__lua_actor *a, lua_State *co, lua_State *prev) {
    spin_lock(&a->lock);
    atomic_store_explicit(&a->running, prev, memory_order_relaxed);
    if (a->armed) {
        lua_sethook(co, NULL, 0, 0);
        if (prev) lua_sethook(prev, budget_hook, LUA_MASKCOUNT, 1);
    }
    spin_unlock(&a->lock);
}

/* Call the original function (upvalue up) on all arguments with co marked
 * running; errors are re-raised after the mark is undone. */
static int co_call(lua_State *L, lua_State *co, int up) {
    za__lua_actor *a = za__lua_actor_of(L);
    lua_pushvalue(L, lua_upvalueindex(up));
    lua_insert(L, 1);
    lua_State *prev = co_enter(a, co);
    int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    co_leave(a, co, prev);
    if (st != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

static int co_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    return co_call(L, co, 1);
}

static int co_close(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    return co_call(L, co, 1);
}

/* The function coroutine.wrap returns: upvalues co, resume (ours), close
 * (the original). Errors propagate, strings with the caller's position. */
static int co_wrapped(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rotate(L, 1, 2);
    lua_call(L, n + 1, LUA_MULTRET);
    if (lua_toboolean(L, 1)) return lua_gettop(L) - 1;
    lua_settop(L, 2); /* false, error */
    int st = lua_status(co);
    if (st != LUA_OK && st != LUA_YIELD) { /* died: close its pending to-be-closed */
        lua_pushvalue(L, lua_upvalueindex(3));
        lua_pushvalue(L, lua_upvalueindex(1));
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
    }
    if (st != LUA_ERRMEM && lua_type(L, 2) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, 2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int co_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushvalue(L, lua_upvalueindex(1)); /* our resume */
    lua_pushvalue(L, lua_upvalueindex(2)); /* the original close */
    lua_pushcclosure(L, co_wrapped, 3);
    return 1;
}

int za__lua_open_coroutine(lua_State *L) {
    luaopen_coroutine(L);
    int t = lua_gettop(L);
    lua_getfield(L, t, "resume");
    lua_pushcclosure(L, co_resume, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, t, "resume");
    lua_getfield(L, t, "close");
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, co_close, 1);
    lua_setfield(L, t, "close");
    lua_pushcclosure(L, co_wrap, 2); /* our resume, the original close */
    lua_setfield(L, t, "wrap");
    return 1;
}
