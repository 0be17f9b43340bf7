/*
 * stopwait.c - a stop handler that waits. A Lua behaviour's `stop` may call
 * ctx:ask, ctx:sleep, ctx:ask_all and ctx:first like a receive handler,
 * bounded by the behaviour's `stop_timeout` (seconds, default 1.0, the
 * same rule as Python's Actor.stop_timeout for an async on_stop).
 *
 * A stopping actor gets no more messages, so the stop handler runs in a
 * coroutine driven here, on the stopping worker: its asks are callback asks
 * (za_ask_async) whose answers land in a small box this driver waits on
 * (condition variable, no spinning), and its ctx:sleep is a deadline of
 * that wait. Each answer resumes the coroutine through the same
 * continuations a receive handler uses (ctx:ask's, ask_all's, first's).
 * When stop_timeout runs out, what it waits for is given up, the coroutine
 * is closed (its to-be-closed variables run) and the failure is reported on
 * stderr. The worker is held meanwhile, like Python's async on_stop: with
 * one worker nobody else can answer, so keep stop handlers short.
 *
 * The box is reference counted: a callback may still be running on another
 * thread when the driver has given its ask up, so the last of the driver
 * and the pending callbacks frees it.
 */
#include "lua_actor.h"

#include "err.h"
#include "scheduler.h"
#include "system.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STOP_TIMEOUT_MAX 3600.0 /* seconds */

/* A stop handler's ask ids: bit 62 (sleep tokens use bit 63, core ask ids
 * count up from 1), process-wide so a stale answer never matches.
 * (relaxed: only uniqueness matters) */
#define STOP_ASK_BIT (1ull << 62)
static _Atomic uint64_t next_corr = 1;

typedef struct box_item {
    struct box_item *next;
    uint64_t corr;
    za_answer ans;
} box_item;

typedef struct za__lua_stopbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* CLOCK_MONOTONIC */
    _Atomic int refs;      /* the driver's + one per callback still to run */
    box_item *head, *tail; /* under mu */
} za__lua_stopbox;

typedef struct ask_ud {
    za__lua_stopbox *box;
    uint64_t corr;
} ask_ud;

int za__lua_read_stop_timeout(lua_State *L, int t, za__lua_actor *a) {
    lua_getfield(L, t, "stop_timeout");
    double s = 1.0;
    if (!lua_isnil(L, -1)) {
        int ok = 0;
        s = (double)lua_tonumberx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER || isnan(s) || s < 0 || s > STOP_TIMEOUT_MAX)
            return luaL_error(L,
                              "zactor: the behaviour's stop_timeout must be a number of seconds "
                              "from 0 to %d",
                              (int)STOP_TIMEOUT_MAX);
    }
    lua_pop(L, 1);
    a->stop_timeout_ms = (uint32_t)(s * 1000.0 + 0.5);
    return 0;
}

static za__lua_stopbox *box_new(void) {
    za__lua_stopbox *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&b->refs, 1);
    return b;
}

static void box_release(za__lua_stopbox *b) {
    /* acq_rel: the last releaser sees every item the others appended */
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    for (box_item *it = b->head, *n; it; it = n) {
        n = it->next;
        za_answer_free(&it->ans);
        free(it);
    }
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

/* za_answer_cb: on the replier's (or the timer's) thread. */
static void on_answer(za_answer *ans, void *ud) {
    ask_ud *u = ud;
    za__lua_stopbox *b = u->box;
    box_item *it = malloc(sizeof *it);
    if (it) {
        it->next = NULL;
        it->corr = u->corr;
        it->ans = *ans; /* moved */
        pthread_mutex_lock(&b->mu);
        if (b->tail)
            b->tail->next = it;
        else
            b->head = it;
        b->tail = it;
        pthread_cond_signal(&b->cv);
        pthread_mutex_unlock(&b->mu);
    } else {
        za_answer_free(ans); /* the driver then times out: reported */
    }
    free(u);
    box_release(b);
}

int za__lua_stop_ask(za__lua_actor *a, za_ref to, const void *d, size_t len, uint32_t timeout_ms,
                     uint64_t *corr, void **h) {
    *h = NULL;
    if (a->sys->manual)
        return za__fail(ZA_ESTATE, "a stop handler cannot wait for another actor in a system with "
                                   "workers = 0 (their turns run on this thread)");
    za__lua_stopbox *b = a->stopbox;
    ask_ud *u = malloc(sizeof *u);
    if (!b || !u) {
        free(u);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    u->box = b;
    u->corr = STOP_ASK_BIT | atomic_fetch_add_explicit(&next_corr, 1, memory_order_relaxed);
    *corr = u->corr;
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed); /* (the driver holds one) */
    za_ask_handle *hd = NULL;
    int rc = za_ask_async(a->sys, to, 0, d, len, timeout_ms, on_answer, u, &hd);
    if (rc != ZA_OK && rc != ZA_EDROPPED) { /* not sent: the callback never runs */
        free(u);
        box_release(b);
        return rc;
    }
    *h = hd; /* (on ZA_EDROPPED the callback already filed the failure) */
    return ZA_OK;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void za__lua_stop_sleep(za__lua_actor *a, uint32_t ms) {
    /* a system without workers has no real time to wait for (its timers
     * run on the caller's turns): the sleep ends at once */
    a->stop_wake_ns = now_ns() + (a->sys->manual ? 0 : (uint64_t)ms * 1000000ull);
}

/* The answer an item carries, as the message a receive handler would get. */
static void as_msg(const box_item *it, za_msg *m) {
    memset(m, 0, sizeof *m);
    m->corr = it->corr;
    m->kind = ZA_PAYLOAD_BYTES;
    m->status = (int16_t)it->ans.status;
    m->tag = it->ans.status == ZA_ETIMEDOUT ? ZA_TAG_TIMEOUT : it->ans.tag;
    if (it->ans.status == ZA_OK) {
        m->data = it->ans.data;
        m->len = (uint32_t)it->ans.len;
    } else if (it->ans.error) { /* an error answer carries its text as the payload */
        m->data = it->ans.error;
        m->len = (uint32_t)strlen(it->ans.error);
    }
}

/* Wait for what run waits on, until deadline. 1: *it (an answer for run,
 * or NULL for its sleep's end) resumes it; 0: the deadline came first. */
static int wait_event(za__lua_actor *a, za__lua_run *run, za__lua_stopbox *b, uint64_t deadline,
                      box_item **out) {
    *out = NULL;
    int sleeping = (run->wait_corr & ZA__LUA_SLEEP_TOKEN_BIT) && run->wait_corr != ZA__LUA_WAIT_SET;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->head) {
            box_item *it = b->head;
            b->head = it->next;
            if (!b->head) b->tail = NULL;
            if (!sleeping && (it->corr == run->wait_corr || za__lua_in_wait_set(run, it->corr))) {
                pthread_mutex_unlock(&b->mu);
                *out = it;
                return 1;
            }
            za_answer_free(&it->ans); /* one it gave up (ECANCELLED, a late answer) */
            free(it);
        }
        uint64_t now = now_ns(), until = deadline;
        if (sleeping) {
            if (now >= a->stop_wake_ns) {
                pthread_mutex_unlock(&b->mu);
                return 1;
            }
            if (a->stop_wake_ns < until) until = a->stop_wake_ns;
        }
        if (now >= deadline) {
            pthread_mutex_unlock(&b->mu);
            return 0;
        }
        struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
}

static int stop_done(lua_State *L, int status, lua_KContext k) {
    (void)L;
    (void)status;
    (void)k;
    return 0;
}

/* Coroutine body: call stop(ctx) (with a continuation: it may yield). */
static int stop_entry(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_stop);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
    lua_callk(L, 1, 0, 0, stop_done);
    return 0;
}

static void report(za__lua_actor *a, const char *fmt, const char *detail) {
    fprintf(stderr, "zactor: actor %u.%u: ", (unsigned)za_ref_slot(a->self),
            (unsigned)za_ref_gen(a->self));
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
}

int za__lua_stop_call(za__lua_actor *a) {
    za__lua_run *run = za__lua_get_run(a);
    za__lua_stopbox *b = box_new();
    if (!run || !b) {
        if (b) box_release(b);
        report(a, "the stop handler could not run: %s", "out of memory");
        return -1;
    }
    run->in_stop = 1;
    run->want_reply = 0;
    run->slot = NULL;
    run->wait_corr = 0;
    run->wait_h = NULL;
    run->chain = 0;
    run->sender = ZA_REF_NONE;
    a->stopbox = b;
    a->stop_wake_ns = 0;
    uint64_t deadline = now_ns() + (uint64_t)a->stop_timeout_ms * 1000000ull;
    int rc = 0, nargs = 0, closed = 0;
    box_item *it = NULL;
    za_msg m;
    lua_pushcfunction(run->co, stop_entry);
    for (;;) {
        int nres = 0;
        a->cur = run;
        za__lua_mark_running(a, run->co);
        int st = lua_resume(run->co, a->L, nargs, &nres);
        za__lua_mark_idle(a, run->co);
        a->cur = NULL;
        if (it) { /* the answer the resume read (copied into Lua values by now) */
            za_answer_free(&it->ans);
            free(it);
            it = NULL;
        }
        if (st == LUA_OK) break;
        if (st != LUA_YIELD) {
            za__lua_describe_failure(a, run->co, st);
            report(a, "Lua stop handler failed: %s", a->fail);
            rc = -1;
            closed = 1; /* a coroutine in error is dead: nothing to close */
            break;
        }
        lua_pop(run->co, nres);
        if (!run->wait_corr) {
            report(a, "Lua stop handler failed: %s",
                   "it yielded outside ctx:ask/ctx:sleep (not supported)");
            rc = -1;
            break;
        }
        za__lua_live_add(1);
        za__sched_before_block(); /* what it asks must not wait behind it */
        int got = wait_event(a, run, b, deadline, &it);
        za__lua_live_add(-1);
        if (!got) {
            char why[160];
            snprintf(why, sizeof why, "%g", a->stop_timeout_ms / 1000.0);
            report(a,
                   "the stop handler did not finish within stop_timeout=%s s (it was closed: "
                   "its to-be-closed variables ran)",
                   why);
            rc = -1;
            break;
        }
        if (!run->wait_set) { /* ctx:ask or ctx:sleep: one thing, now done */
            za__lua_ask_done(run, run->wait_h);
            run->wait_h = NULL;
            run->wait_corr = 0;
        }
        if (it)
            as_msg(it, &m);
        else
            memset(&m, 0, sizeof m); /* a sleep's end (its continuation ignores it) */
        lua_pushlightuserdata(run->co, &m);
        nargs = 1;
    }
    if (rc != 0 && !closed) za__lua_run_close(a, run); /* gives up its asks, runs <close> */
    za__lua_run_unwait(run);
    a->stopbox = NULL;
    box_release(b);
    /* the run is not pooled: the actor's state goes right after its stop */
    luaL_unref(a->L, LUA_REGISTRYINDEX, run->anchor);
    free(run);
    return rc;
}
