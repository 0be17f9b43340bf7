/*
 * watchdog.c - the handler budget: a runaway handler is stopped by an
 * instruction hook that one watchdog thread arms only when a handler has
 * run longer than its budget. A permanent count hook would slow every
 * actor about 2x; this costs a handler two uncontended spin-lock pairs.
 *
 * The thread exists while at least one Lua actor does.
 */
#include "lua_actor.h"

#include <pthread.h>
#include <time.h>

#define WD_TICK_MS 10 /* watchdog period */

static pthread_mutex_t g_wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wd_cv = PTHREAD_COND_INITIALIZER;
static za__lua_actor *g_wd_list;
static size_t g_wd_count;
static uint64_t g_wd_gen; /* a watchdog thread exits when the generation moves on */
static pthread_t g_wd_thread;

static void spin_lock(atomic_flag *f) {
    while (atomic_flag_test_and_set_explicit(f, memory_order_acquire)) {
    }
}
static void spin_unlock(atomic_flag *f) {
    atomic_flag_clear_explicit(f, memory_order_release);
}

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
    pthread_mutex_lock(&g_wd_mu);
    if (g_wd_count == 0) {
        g_wd_gen++;
        if (pthread_create(&g_wd_thread, NULL, watchdog_main, (void *)(uintptr_t)g_wd_gen) != 0)
            rc = -1;
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
    if (--g_wd_count == 0) {
        /* Last Lua actor gone: stop the thread, so nothing runs code of
         * this (possibly dlclose'd) module once every actor is gone. */
        g_wd_gen++;
        t = g_wd_thread;
        join = 1;
        pthread_cond_broadcast(&g_wd_cv);
    }
    pthread_mutex_unlock(&g_wd_mu);
    if (join) pthread_join(t, NULL);
}

void za__lua_mark_running(za__lua_actor *a, lua_State *co) {
    spin_lock(&a->lock); /* the lock orders these; relaxed avoids extra fences */
    atomic_store_explicit(&a->running, co, memory_order_relaxed);
    atomic_store_explicit(&a->seq, atomic_load_explicit(&a->seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    spin_unlock(&a->lock);
}

void za__lua_mark_idle(za__lua_actor *a, lua_State *co) {
    spin_lock(&a->lock);
    atomic_store_explicit(&a->running, NULL, memory_order_relaxed);
    if (a->armed) {
        if (co) lua_sethook(co, NULL, 0, 0);
        a->armed = 0;
    }
    spin_unlock(&a->lock);
}
