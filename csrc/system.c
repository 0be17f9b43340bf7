/*
 * System lifetime: create, graceful shutdown (drain, stop children-first,
 * join), destroy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "actor.h"
#include "ask.h"
#include "deadletter.h"
#include "grain/grain.h"
#include "http/http.h"
#include "introspect.h"
#include "mailbox.h"
#include "registry.h"
#include "scheduler.h"
#include "slots.h"
#include "system.h"
#include "cluster/hook.h"
#include "timer.h"

void za_config_init(za_config *cfg) {
    if (cfg) memset(cfg, 0, sizeof *cfg);
}

static uint32_t pow2_at_least(uint32_t v) {
    uint32_t p = 1;
    while (p < v && p < (1u << 30)) p <<= 1;
    return p;
}

static int normalize(const za_config *in, za_config *out) {
    za_config c;
    if (in)
        c = *in;
    else
        memset(&c, 0, sizeof c);
    if (c.workers < 0) return za__fail(ZA_EINVAL, "workers must be >= 0 (0: one per core)");
    if (c.workers > 1024) return za__fail(ZA_EINVAL, "workers must be <= 1024");
    if (c.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.workers = n > 0 ? (int)n : 1;
    }
    if (c.manual) c.workers = 1;
    if (!c.batch) c.batch = 64;
    if (!c.spin_us) c.spin_us = 50;
    if (!c.max_payload) c.max_payload = 64u << 20;
    if (!c.latency_sample) c.latency_sample = 64;
    c.latency_sample = pow2_at_least(c.latency_sample);
    if (!c.root_max_restarts) c.root_max_restarts = 3;
    if (!c.root_within_ms) c.root_within_ms = 5000;
    *out = c;
    return ZA_OK;
}

static void free_system(za_system *s) {
    /* first: closing the store completes its requests, which may still
     * reach the directory and the slots */
    za__grains_free(s);
    za__http_free(s);
    za__introspect_free(s);
    za__cluster_release(s->cluster);
    za__slots_free(s);
    za__timers_free(s);
    za__registry_free(s);
    za__ext_counters_free(s);
    pthread_mutex_destroy(&s->ext_mu);
    za__refseq_free(&s->roots);
    free(s->idle_stack);
    free(s->workers);
    pthread_mutex_destroy(&s->idle_mu);
    pthread_mutex_destroy(&s->host_mu);
    pthread_mutex_destroy(&s->root_mu);
    pthread_mutex_destroy(&s->life_mu);
    pthread_cond_destroy(&s->life_cv);
    za__startfail_destroy(&s->startfails);
    free(s);
}

/* ------------------------------------------------------------ identity */

static uint64_t id_salt;
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void id_salt_init(void) {
    uint64_t x = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&x, sizeof x, 1, f) != 1) x = 0;
        fclose(f);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x ^= ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
         (uint64_t)(uintptr_t)&id_salt;
    id_salt = x;
}

/* splitmix64's finaliser is a bijection: distinct uids give distinct ids. */
uint64_t za_system_id(const za_system *s) {
    if (!s) return 0;
    /* a cluster member: the cluster's identity (refs carry their node) */
    if (s->cluster) return za__cluster_identity(s->cluster);
    pthread_once(&id_once, id_salt_init);
    uint64_t z = s->uid + id_salt;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z ? z : 1;
}

int za_system_create(const za_config *cfg, za_system **out) {
    if (!out) return za__fail(ZA_EINVAL, "out is NULL");
    *out = NULL;
    za_config c;
    int rc = normalize(cfg, &c);
    if (rc) return rc;
    za_system *s =
        aligned_alloc(ZA_CACHELINE, (sizeof *s + ZA_CACHELINE - 1) / ZA_CACHELINE * ZA_CACHELINE);
    if (!s) return za__fail(ZA_ENOMEM, "out of memory");
    memset(s, 0, sizeof *s);
    s->cfg = c;
    s->manual = c.manual != 0;
    s->nworkers = c.workers;
    pthread_mutex_init(&s->idle_mu, NULL);
    pthread_mutex_init(&s->host_mu, NULL);
    pthread_mutex_init(&s->root_mu, NULL);
    pthread_mutex_init(&s->life_mu, NULL);
    pthread_mutex_init(&s->ext_mu, NULL);
    pthread_cond_init(&s->life_cv, NULL);
    za__startfail_init(&s->startfails);
    static _Atomic uint64_t next_uid;
    s->uid = atomic_fetch_add(&next_uid, 1) + 1; /* never 0: 0 means "no block" */
    atomic_flag_clear(&s->inj_lock);
    za__mpsc_init(&s->inj_tail, &s->inj_head, &s->inj_stub);
    s->workers = aligned_alloc(ZA_CACHELINE, sizeof(za_worker) * (size_t)s->nworkers);
    s->idle_stack = calloc((size_t)s->nworkers, sizeof *s->idle_stack);
    if (!s->workers || !s->idle_stack || za__slots_new(s) != ZA_OK ||
        za__registry_new(s) != ZA_OK || za__introspect_new(s) != ZA_OK) {
        free_system(s);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    memset(s->workers, 0, sizeof(za_worker) * (size_t)s->nworkers);
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i].sys = s;
        s->workers[i].id = i;
        s->workers[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    }
    if (c.cluster && (rc = za__cluster_attach(s, c.cluster)) != ZA_OK) {
        free_system(s);
        return rc;
    }
    if ((rc = za__timers_start(s)) != ZA_OK) {
        free_system(s);
        return rc;
    }
    /* the store of za_config.storage and the grain directory */
    if ((rc = za__grains_init(s)) != ZA_OK) {
        free_system(s);
        return rc;
    }
    if ((rc = za__sched_start(s)) != ZA_OK) {
        free_system(s);
        return rc;
    }
    /* the cluster may now route grain messages and moves into the directory */
    if (s->cluster) za__cluster_grains_ready(s);
    /* the endpoint last: it reads the running system (http/server.c) */
    if ((rc = za__http_start(s, &c)) != ZA_OK) {
        za_system_destroy(s);
        return rc;
    }
    *out = s;
    return ZA_OK;
}

int za_system_ready(za_system *sys) {
    return sys && atomic_load(&sys->phase) == ZA_PHASE_RUNNING;
}

int za_system_workers(const za_system *sys) {
    return sys ? sys->nworkers : 0;
}

int za_system_run(za_system *sys, uint32_t max_turns) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    return za__run_manual(sys, max_turns);
}

static void nap(void) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
}

/* Nothing queued anywhere and no worker inside a turn. */
static bool quiescent(za_system *s) {
    uint64_t c[ZA_NCOUNTERS];
    za__stats_merge(s, c, NULL, NULL);
    return c[ZA_C_SENT] == c[ZA_C_CONSUMED] && za__sched_idle(s);
}

/* Someone who may cut a shutdown's waits short (za_system_shutdown_ex). */
typedef struct interrupter {
    int (*fn)(void *ud);
    void *ud;
    uint64_t next_ns; /* next poll */
    int fired;
} interrupter;

static bool interrupted(interrupter *in) {
    if (!in || !in->fn) return false;
    if (in->fired) return true;
    uint64_t now = za__now_ns();
    if (now < in->next_ns) return false;
    in->next_ns = now + 50000000ull;
    in->fired = in->fn(in->ud) != 0;
    return in->fired;
}

static bool wait_until_ex(za_system *s, uint64_t deadline, bool (*pred)(za_system *),
                          interrupter *in) {
    int stable = 0;
    for (;;) {
        if (s->manual) za__run_manual(s, 0);
        if (pred(s)) {
            /* twice in a row: counters are read without a global snapshot */
            if (++stable >= 2) return true;
        } else {
            stable = 0;
        }
        if (za__now_ns() >= deadline || interrupted(in)) return false;
        if (!s->manual || !pred(s)) nap();
    }
}

static bool wait_until(za_system *s, uint64_t deadline, bool (*pred)(za_system *)) {
    return wait_until_ex(s, deadline, pred, NULL);
}

static bool none_alive(za_system *s) {
    if (atomic_load(&s->alive) > 0) return false;
    /* After shutdown the workers are gone and no longer count as idle, so
     * za__sched_idle stays false: za_system_wait_idle on a shut-down system
     * timed out instead of returning ZA_OK (found by tests/c). */
    if (atomic_load(&s->phase) == ZA_PHASE_STOPPED) return true;
    return za__sched_idle(s);
}

int za_system_wait_idle(za_system *sys, uint32_t timeout_ms) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    uint64_t deadline = za__now_ns() + (uint64_t)timeout_ms * 1000000ull;
    if (!wait_until(sys, deadline, none_alive))
        return za__fail(ZA_ETIMEDOUT, "actors still alive after %u ms", timeout_ms);
    return ZA_OK;
}

/* An actor whose START ran and that has not been finalized. */
static bool incarnated(za_actor *a) {
    uint32_t life = atomic_load(&a->life);
    uint32_t st = ZA_LIFE_ST(life);
    return (st == ZA_ST_ALIVE || st == ZA_ST_STOPPING) && a->inc_gen == ZA_LIFE_GEN(life) &&
           atomic_load_explicit(&a->beh, memory_order_relaxed) != NULL;
}

static bool has_live_children(za_system *s, za_actor *a) {
    if (!a->ext) return false;
    for (uint32_t i = 0; i < a->ext->children.n; i++)
        if (a->ext->children.v[i] && za_is_alive(s, a->ext->children.v[i])) return true;
    return false;
}

/* After the workers are gone: end every incarnation and drain mailboxes. */
static void teardown_remaining(za_system *s) {
    za_worker *w = &s->workers[0];
    za_worker *saved = za__tl_worker;
    za__tl_worker = w; /* so counters and slot caches have a home */
    uint32_t n = za__slots_used(s);
    /* children first: end actors none of whose children still live, until none are left */
    for (bool progress = true, force = false; progress || !force;) {
        if (!progress) force = true;
        progress = false;
        for (uint32_t i = 1; i < n; i++) {
            za_actor *a = za__slot(s, i);
            if (!incarnated(a)) continue;
            if (!force && has_live_children(s, a)) continue;
            za__actor_force_stop(s, a, w);
            progress = true;
        }
    }
    for (uint32_t i = 1; i < n; i++) {
        za_actor *a = za__slot(s, i);
        {
            /* drain: sys messages via a turn-like sweep, user ones to dead letters */
            bool busy = false;
            for (int lane = 0; lane < ZA_NLANES; lane++) {
                za_msgnode *m;
                while ((m = za__mbox_pop(a, lane, &busy))) {
                    if (lane == ZA_LANE_SYS) {
                        if (m->sys == ZA_SYS_START) za__discard_start(s, a, m);
                        za__msg_free(m);
                    } else {
                        atomic_fetch_sub(&a->depth, 1);
                        za__count(s, ZA_C_CONSUMED, 1);
                        za__dead_letter(s, m, ZA_DL_SHUTDOWN);
                    }
                }
            }
        }
    }
    za__tl_worker = saved;
}

int za_system_shutdown_ex(za_system *sys, uint32_t timeout_ms, int (*interrupted_fn)(void *ud),
                          void *ud) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    za_worker *w = za__tl_worker;
    if (w && w->sys == sys && !sys->manual)
        return za__fail(ZA_ESTATE, "za_system_shutdown cannot run on a worker");
    /* in manual mode too: an actor's turn cannot wait for its own stop */
    if (za__tl_ctx && za__tl_ctx->sys == sys)
        return za__fail(ZA_ESTATE, "za_system_shutdown cannot run inside an actor");
    int expected = ZA_PHASE_RUNNING;
    if (!atomic_compare_exchange_strong(&sys->phase, &expected, ZA_PHASE_DRAINING))
        return ZA_OK; /* already shut down (or in progress elsewhere) */
    interrupter in = {interrupted_fn, ud, 0, 0};
    uint64_t deadline = za__now_ns() + (uint64_t)timeout_ms * 1000000ull;
    int rc = ZA_OK;
    /* 0: grain activations deactivate (their on_deactivate saves land) */
    za__grains_shutdown(sys, timeout_ms);
    /* 1: drain what is queued; actors may still talk to each other */
    if (!wait_until_ex(sys, deadline, quiescent, &in)) rc = ZA_ETIMEDOUT;
    /* 2: stop top-level actors; each stops its children first */
    atomic_store(&sys->phase, ZA_PHASE_STOPPING);
    pthread_mutex_lock(&sys->root_mu);
    size_t n = sys->roots.n;
    za_ref *roots = n ? malloc(n * sizeof *roots) : NULL;
    if (roots) memcpy(roots, sys->roots.v, n * sizeof *roots);
    pthread_mutex_unlock(&sys->root_mu);
    for (size_t i = 0; roots && i < n; i++)
        if (roots[i]) za_stop(sys, roots[i]);
    free(roots);
    uint64_t stop_deadline = deadline;
    if (rc == ZA_ETIMEDOUT)
        stop_deadline = za__now_ns() + 1000000000ull; /* still let stop hooks run */
    bool stopped = wait_until_ex(sys, stop_deadline, none_alive, in.fired ? NULL : &in);
    if (!stopped && in.fired) {
        /* interrupted while actors stop: their stop hooks get a second more */
        uint64_t d = za__now_ns() + 1000000000ull;
        stopped = wait_until(sys, d < stop_deadline ? d : stop_deadline, none_alive);
    }
    if (!stopped) rc = ZA_ETIMEDOUT;
    if (in.fired) rc = ZA_ECANCELLED;
    /* 3: workers and timers go; then whatever is left is torn down here */
    atomic_store(&sys->phase, ZA_PHASE_STOPPED);
    za__timers_stop(sys);
    za__sched_stop(sys);
    za__cluster_detach(sys);
    teardown_remaining(sys);
    za__http_stop(sys); /* the system is gone: so is its endpoint */
    if (rc == ZA_ETIMEDOUT)
        za__fail(rc, "shutdown did not finish draining within %u ms", timeout_ms);
    else if (rc == ZA_ECANCELLED)
        za__fail(rc, "shutdown interrupted: stopped without waiting for the drain");
    return rc;
}

int za_system_shutdown(za_system *sys, uint32_t timeout_ms) {
    return za_system_shutdown_ex(sys, timeout_ms, NULL, NULL);
}

/* Is the calling thread running this system's code: a worker (or the
 * caller of za_system_run in manual mode), or a callback of one of its
 * actors? Freeing the system there would free it under ourselves. */
static bool inside_system(za_system *sys) {
    za_worker *w = za__tl_worker;
    za_ctx *c = za__tl_ctx;
    return (w && w->sys == sys) || (c && c->sys == sys);
}

int za_system_destroy(za_system *sys) {
    if (!sys) return ZA_OK;
    if (inside_system(sys))
        return za__fail(ZA_ESTATE, "za_system_destroy cannot run inside the system (on a worker "
                                   "or in an actor): the system would be freed under its caller");
    za_system_shutdown(sys, 5000);
    free_system(sys);
    return ZA_OK;
}
