/*
 * The scheduler: N workers, each with a local FIFO run queue that others
 * can steal from, a run-next slot, a shared injection queue for wake-ups
 * from outside the pool, and per-host queues for exclusive hosts.
 *
 * Idle workers spin for spin_us, then park on a futex. A wake-up is sent
 * only when runnable work appears, nobody is already searching for work
 * and somebody sleeps — never per message.
 */
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "mailbox.h"
#include "scheduler.h"
#include "system.h"

#if defined(__SANITIZE_THREAD__)
_Atomic int za__fence_word;
#endif

_Thread_local za_worker *za__tl_worker;

/* ----------------------------------------------------------------- futex */

static void futex_wait(_Atomic uint32_t *w, uint32_t val) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    (void)w;
    (void)val;
    usleep(100);
#endif
}

/* The same, for at most ns nanoseconds. */
static void futex_wait_for(_Atomic uint32_t *w, uint32_t val, uint64_t ns) {
#if defined(__linux__)
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
#else
    (void)w;
    (void)val;
    (void)ns;
    usleep(100);
#endif
}

static void futex_wake(_Atomic uint32_t *w) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)w;
#endif
}

/* ------------------------------------------------------ local run queues */

/* Owner only. rq_tail relaxed: only the owner writes it. rq_head acquire:
 * pairs with the takers' CAS, so a slot is reused only after its taker
 * read it. The release store of rq_tail publishes the slot; it pairs with
 * rq_take's and rq_empty's acquire loads of rq_tail. */
static bool rq_push(za_worker *w, za_actor *a) {
    uint64_t t = atomic_load_explicit(&w->rq_tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&w->rq_head, memory_order_acquire);
    if (t - h >= ZA_RQ_CAP) return false;
    atomic_store_explicit(&w->rq_buf[t & (ZA_RQ_CAP - 1)], a, memory_order_relaxed);
    atomic_store_explicit(&w->rq_tail, t + 1, memory_order_release);
    return true;
}

/* Owner pop and steal are the same operation: both take from the head.
 * Acquire loads pair with rq_push's release of rq_tail and with other
 * takers' CAS of rq_head; the slot's relaxed load is ordered by them. The
 * CAS's acq_rel pairs with the other takers and with rq_push's acquire load
 * of rq_head (a slot is overwritten only after it was taken). */
static za_actor *rq_take(za_worker *w) {
    for (;;) {
        uint64_t h = atomic_load_explicit(&w->rq_head, memory_order_acquire);
        uint64_t t = atomic_load_explicit(&w->rq_tail, memory_order_acquire);
        if (h >= t) return NULL;
        za_actor *a = atomic_load_explicit(&w->rq_buf[h & (ZA_RQ_CAP - 1)], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&w->rq_head, &h, h + 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return a;
    }
}

static bool rq_empty(za_worker *w) {
    return atomic_load_explicit(&w->rq_head, memory_order_acquire) >=
           atomic_load_explicit(&w->rq_tail, memory_order_acquire);
}

/* ------------------------------------------------ injection queue */

static za_actor *actor_of_link(za_link *l) {
    return (za_actor *)((char *)l - offsetof(za_actor, runlink));
}

static za_actor *inj_pop(za_system *s) {
    if (!za__mpsc_maybe_nonempty(&s->inj_tail, &s->inj_head, &s->inj_stub)) return NULL;
    /* acquire / release: the try-lock makes the consumers one at a time */
    if (atomic_flag_test_and_set_explicit(&s->inj_lock, memory_order_acquire)) return NULL;
    bool busy = false; /* a producer mid-push: the queue still reads non-empty */
    za_link *l = za__mpsc_pop(&s->inj_tail, &s->inj_head, &s->inj_stub, &busy);
    atomic_flag_clear_explicit(&s->inj_lock, memory_order_release);
    return l ? actor_of_link(l) : NULL;
}

/* ----------------------------------------------------------------- hosts */

static za_hostq *hostq_for(za_system *s, const za_host *h) {
    int n = atomic_load_explicit(&s->nhosts, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (s->hostqs[i].host == h) return &s->hostqs[i];
    pthread_mutex_lock(&s->host_mu);
    n = atomic_load_explicit(&s->nhosts, memory_order_relaxed);
    za_hostq *q = NULL;
    for (int i = 0; i < n; i++)
        if (s->hostqs[i].host == h) q = &s->hostqs[i];
    if (!q && n < ZA_MAX_HOSTS) {
        q = &s->hostqs[n];
        q->host = h;
        /* relaxed: published by the release store of nhosts */
        za__mpsc_init(&q->tail, &q->head, &q->stub);
        atomic_store_explicit(&q->token, false, memory_order_relaxed);
        atomic_store_explicit(&q->turn, 0, memory_order_relaxed);
        atomic_store_explicit(&q->last_hold, 0, memory_order_relaxed);
        atomic_store_explicit(&q->watching, 0, memory_order_relaxed);
        /* release: pairs with the acquire loads of nhosts (here, serve_hosts,
         * any_work): a counted queue is initialised */
        atomic_store_explicit(&s->nhosts, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&s->host_mu);
    return q;
}

/* ------------------------------------------------------------ wake-ups */

static void wake_one(za_system *s) {
    pthread_mutex_lock(&s->idle_mu);
    if (s->nidle == 0) {
        pthread_mutex_unlock(&s->idle_mu);
        return;
    }
    za_worker *w = &s->workers[s->idle_stack[--s->nidle]];
    w->in_idle = false;
    atomic_fetch_sub(&s->nsleeping, 1);
    atomic_fetch_add(&s->nsearching, 1); /* it wakes up searching */
    pthread_mutex_unlock(&s->idle_mu);
    /* release: pairs with park's acquire load of wake */
    atomic_store_explicit(&w->wake, 1, memory_order_release);
    futex_wake(&w->wake);
}

static void notify(za_system *s) {
    if (s->manual) return;
    /* pairs with the parking worker's nsleeping increment and re-check */
    za__fence();
    if (atomic_load_explicit(&s->nsearching, memory_order_seq_cst) > 0) return;
    if (atomic_load_explicit(&s->nsleeping, memory_order_seq_cst) == 0) return;
    wake_one(s);
}

int za__host_index(za_system *s, const za_host *h) {
    if (!h) return 0;
    za_hostq *q = hostq_for(s, h);
    return q ? (int)(q - s->hostqs) + 1 : -1;
}

static const za_host *host_of(za_system *s, za_actor *a) {
    uint8_t i = atomic_load_explicit(&a->host_idx, memory_order_relaxed);
    return i ? s->hostqs[i - 1].host : NULL;
}

/* ------------------------------------------------------ host takeover
 * (za_host.takeover_us; see za_hostq.turn). The coarse clock is enough for
 * thresholds of milliseconds and costs a few ns. */
static uint64_t coarse_now_ns(void) {
#if defined(CLOCK_MONOTONIC_COARSE)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#else
    return za__now_ns();
#endif
}

/* ns until the holder's current turn may be taken over (0: now), or
 * UINT64_MAX if it may not (no takeover, or no turn running). */
static uint64_t takeover_in(za_hostq *q) {
    uint32_t us = q->host->takeover_us;
    if (!us) return UINT64_MAX;
    uint64_t t = atomic_load_explicit(&q->turn, memory_order_relaxed);
    if (!t) return UINT64_MAX;
    uint64_t now = coarse_now_ns(), lim = (uint64_t)us * 1000ull;
    uint64_t age = now > t ? now - t : 0;
    return age >= lim ? 0 : lim - age;
}

/* Take the queue over from a long turn: true if this worker now holds it
 * (the token stays set). */
static bool try_takeover(za_hostq *q) {
    uint32_t us = q->host->takeover_us;
    if (!us) return false;
    uint64_t t = atomic_load_explicit(&q->turn, memory_order_relaxed);
    uint64_t now = coarse_now_ns();
    if (!t || now <= t || now - t < (uint64_t)us * 1000ull) return false;
    /* acq_rel: the holder's pops (before its release store of t) happen
     * before ours */
    return atomic_compare_exchange_strong_explicit(&q->turn, &t, 0, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

void za__schedule(za_system *s, za_actor *a) {
    uint8_t hi = atomic_load_explicit(&a->host_idx, memory_order_relaxed);
    if (ZA_UNLIKELY(hi) && s->hostqs[hi - 1].host->exclusive) {
        za_hostq *q = &s->hostqs[hi - 1];
        za__mpsc_push(&q->tail, &a->runlink);
        /* A worker serving this host will get to it, and notifies when it
         * lets go of a non-empty queue; waking another worker now would only
         * have it find the host taken (a futex wake per send). The fence
         * pairs with serve_host's release-then-recheck. */
        za__fence();
        /* relaxed: ordered by the fence before it. A holder in a turn that
         * may run long notifies nobody: make sure a worker watches it (see
         * park_limit), and wake one to take over a turn already long. */
        if (!atomic_load_explicit(&q->token, memory_order_relaxed)) {
            notify(s);
        } else if (q->host->takeover_us && atomic_load_explicit(&q->turn, memory_order_relaxed)) {
            if (!atomic_load_explicit(&q->watching, memory_order_relaxed) || takeover_in(q) == 0)
                notify(s);
        }
        return;
    }
    za_worker *w = za__tl_worker;
    if (w && w->sys == s) {
        /* a message sent by the running actor: the receiver runs next, here */
        za_actor *prev = w->run_next;
        w->run_next = a;
        if (!prev) {
            /* Other runnable actors wait in our queue (several tokens in a
             * ring, say): an idle worker could steal them. Nothing waits in
             * plain ping-pong, which keeps its no-wake-up fast path. */
            if (!rq_empty(w)) notify(s);
            return;
        }
        if (!rq_push(w, prev)) {
            za__mpsc_push(&s->inj_tail, &prev->runlink);
        }
        notify(s);
        return;
    }
    za__mpsc_push(&s->inj_tail, &a->runlink);
    notify(s);
}

/* ----------------------------------------------------------- worker loop */

static void leave_host(za_worker *w) {
    if (w->cur_host) {
        if (w->cur_host->leave) w->cur_host->leave(w->cur_host->host_ud, w->id);
        w->cur_host = NULL;
    }
}

void za__release_run_next(za_worker *w) {
    za_actor *a = w->run_next;
    w->run_next = NULL;
    if (!rq_push(w, a)) za__mpsc_push(&w->sys->inj_tail, &a->runlink);
    notify(w->sys);
}

void za__sched_before_block(void) {
    za_worker *w = za__tl_worker;
    if (!w) return;
    if (w->outbox.used) za__outbox_flush(w);
    w->outbox.cb_sends = 0;
    if (w->run_next)
        za__release_run_next(w); /* (notifies) */
    else if (!rq_empty(w))
        notify(w->sys);
}

static void run_actor(za_worker *w, za_actor *a) {
    w->turn_sends = 0;
    const za_host *h = host_of(w->sys, a);
    if (h != w->cur_host) {
        leave_host(w);
        if (h && h->enter) h->enter(h->host_ud, w->id);
        w->cur_host = h;
    }
    if (za__turn(w, a)) {
        /* Budget used up. If nothing else is waiting here we run it again
         * ourselves right away: waking a thief would only move it. */
        bool alone = !w->run_next && rq_empty(w);
        if (!rq_push(w, a)) za__mpsc_push(&w->sys->inj_tail, &a->runlink);
        if (!alone) notify(w->sys);
    }
}

static void found_work(za_worker *w, bool *searching);

/* Serve an exclusive host's queue for up to its budget. */
static bool serve_host(za_worker *w, za_hostq *q, bool *searching) {
    if (!za__mpsc_maybe_nonempty(&q->tail, &q->head, &q->stub)) return false;
    /* a plain load first: a held token is not worth a write to its line */
    /* acquire: pairs with the previous holder's release of the token, so
     * its pops (the queue's consumer side) happen before ours */
    if ((atomic_load_explicit(&q->token, memory_order_relaxed) ||
         atomic_exchange_explicit(&q->token, true, memory_order_acquire)) &&
        !try_takeover(q))
        return false;
    bool ran = false;
    bool marks = q->host->takeover_us != 0;
    if (marks) atomic_store_explicit(&q->last_hold, coarse_now_ns(), memory_order_relaxed);
    uint64_t budget_ns = (uint64_t)(q->host->budget_us ? q->host->budget_us : 2000) * 1000ull;
    uint64_t start = 0;
    for (;;) {
        bool busy = false; /* a producer mid-push: the next look finds it */
        za_link *l = za__mpsc_pop(&q->tail, &q->head, &q->stub, &busy);
        if (!l) break;
        if (!ran) {
            start = za__now_ns();
            /* not searching any more: a long turn counted in nsearching
             * would make notify() skip every wake-up (see work_once) */
            found_work(w, searching);
        }
        ran = true;
        za_actor *a = actor_of_link(l);
        if (w->cur_host != q->host) {
            leave_host(w);
            if (q->host->enter) q->host->enter(q->host->host_ud, w->id);
            w->cur_host = q->host;
        }
        uint64_t mark = 0;
        if (marks) {
            mark = coarse_now_ns() | 1;
            /* release: our pops so far happen before a taker's */
            atomic_store_explicit(&q->turn, mark, memory_order_release);
        }
        if (za__turn(w, a)) za__mpsc_push(&q->tail, &a->runlink);
        if (marks && !atomic_compare_exchange_strong_explicit(
                         &q->turn, &mark, 0, memory_order_acq_rel, memory_order_relaxed)) {
            /* taken over during the turn: the taker holds the queue and the
             * token now */
            leave_host(w);
            return true;
        }
        if (za__now_ns() - start > budget_ns) break;
    }
    leave_host(w);
    /* release: pairs with the next holder's acquire exchange */
    atomic_store_explicit(&q->token, false, memory_order_release);
    /* pairs with za__schedule's push-then-look-at-the-token */
    za__fence();
    if (za__mpsc_maybe_nonempty(&q->tail, &q->head, &q->stub)) notify(w->sys);
    return ran;
}

static za_actor *find_local(za_worker *w) {
    za_system *s = w->sys;
    za_actor *a;
    /* now and then look at the shared queue first so it cannot starve */
    if ((++w->tick & 63) == 0 && (a = inj_pop(s))) return a;
    if ((a = w->run_next)) {
        w->run_next = NULL;
        return a;
    }
    if ((a = rq_take(w))) return a;
    return inj_pop(s);
}

static za_actor *steal(za_worker *w) {
    za_system *s = w->sys;
    int n = s->nworkers;
    if (n <= 1) return NULL;
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    int start = (int)(w->rng % (uint64_t)n);
    for (int i = 0; i < n; i++) {
        za_worker *v = &s->workers[(start + i) % n];
        if (v == w) continue;
        za_actor *a = rq_take(v);
        if (a) return a;
    }
    return NULL;
}

static bool serve_hosts(za_worker *w, bool *searching) {
    za_system *s = w->sys;
    int n = atomic_load_explicit(&s->nhosts, memory_order_acquire);
    bool ran = false;
    for (int i = 0; i < n; i++) ran |= serve_host(w, &s->hostqs[i], searching);
    return ran;
}

static bool any_work(za_system *s);

/* A searching worker has found an actor to run. */
static void found_work(za_worker *w, bool *searching) {
    if (!*searching) return;
    *searching = false;
    /* the last searcher found work: let another look for more */
    if (atomic_fetch_sub(&w->sys->nsearching, 1) == 1 && any_work(w->sys)) notify(w->sys);
}

/* One unit of work: true if something ran. A searching worker stops being
 * counted as searching once it has found an actor, before running it: a
 * long (or blocked) turn counted in nsearching made notify() skip every
 * wake-up, so queued work sat while other workers slept (found by
 * tests/c: an actor blocked in receive stalled all others). */
static bool work_once(za_worker *w, bool *searching) {
    za_actor *a = find_local(w);
    if (!a && atomic_load_explicit(&w->sys->nhosts, memory_order_relaxed)) {
        atomic_store_explicit(&w->running, true, memory_order_relaxed);
        bool ran = serve_hosts(w, searching);
        /* release: pairs with za__sched_idle's acquire: the turn's effects
         * (its counters) are visible once it reads not running */
        atomic_store_explicit(&w->running, false, memory_order_release);
        if (ran) return true;
    }
    if (!a) a = steal(w);
    if (!a) return false;
    /* a per-worker flag, not a shared counter: no contended line per turn.
     * relaxed (set) / release (clear): as above */
    atomic_store_explicit(&w->running, true, memory_order_relaxed);
    found_work(w, searching);
    run_actor(w, a);
    atomic_store_explicit(&w->running, false, memory_order_release);
    return true;
}

static bool any_work(za_system *s) {
    if (za__mpsc_maybe_nonempty(&s->inj_tail, &s->inj_head, &s->inj_stub)) return true;
    for (int i = 0; i < s->nworkers; i++)
        if (!rq_empty(&s->workers[i])) return true;
    /* A host queue another worker is serving is not work for us: that
     * worker notifies when it lets go of it non-empty. (Counting it kept an
     * idle worker spinning on the token while Python actors ran.) */
    int n = atomic_load_explicit(&s->nhosts, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        za_hostq *q = &s->hostqs[i];
        if (za__mpsc_maybe_nonempty(&q->tail, &q->head, &q->stub) &&
            (!atomic_load_explicit(&q->token, memory_order_relaxed) || takeover_in(q) == 0))
            return true;
    }
    return false;
}

/* How long a parking worker may sleep (UINT64_MAX: until woken): while a
 * host that can be taken over is in a turn, until that turn may be taken
 * over, then every takeover_us. (A message queued behind a turn that is
 * not long yet wakes nobody: za__schedule wakes a worker only for a turn
 * already long. These timed sleeps close that gap: at most a wake-up per
 * takeover_us per idle worker while Python actors run.) */
static uint64_t park_limit(za_system *s, za_hostq **watch) {
    uint64_t best = UINT64_MAX;
    int n = atomic_load_explicit(&s->nhosts, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        za_hostq *q = &s->hostqs[i];
        uint64_t period = (uint64_t)q->host->takeover_us * 1000ull, t;
        if (!period) continue;
        if (atomic_load_explicit(&q->token, memory_order_relaxed)) {
            t = takeover_in(q);
            if (t == 0) t = period;
        } else {
            /* served recently: keep watching (no wake-up per send) */
            uint64_t last = atomic_load_explicit(&q->last_hold, memory_order_relaxed);
            if (!last || coarse_now_ns() - last > 10 * period) continue;
            t = period;
        }
        if (t < best) {
            best = t;
            *watch = q;
        }
    }
    return best;
}

/* Take w off the idle stack unless a waker already did (it then owes w a
 * token on w->wake); back to searching. True if w was still on the stack. */
static bool leave_idle_stack(za_system *s, za_worker *w) {
    pthread_mutex_lock(&s->idle_mu);
    bool still = w->in_idle;
    if (still) {
        for (int i = 0; i < s->nidle; i++) {
            if (s->idle_stack[i] == w->id) {
                s->idle_stack[i] = s->idle_stack[--s->nidle];
                break;
            }
        }
        w->in_idle = false;
        atomic_fetch_sub(&s->nsleeping, 1);
        atomic_fetch_add(&s->nsearching, 1);
    }
    pthread_mutex_unlock(&s->idle_mu);
    return still;
}

static void park(za_worker *w) {
    za_system *s = w->sys;
    leave_host(w);
    pthread_mutex_lock(&s->idle_mu);
    s->idle_stack[s->nidle++] = w->id;
    w->in_idle = true;
    atomic_fetch_add(&s->nsleeping, 1);
    pthread_mutex_unlock(&s->idle_mu);
    atomic_fetch_sub(&s->nsearching, 1);
    if (any_work(s) || atomic_load(&s->quit)) {
        if (leave_idle_stack(s, w)) return;
        /* a waker already took us off the idle stack: consume its token */
    }
    za_hostq *watch = NULL;
    uint64_t limit = park_limit(s, &watch);
    if (limit != UINT64_MAX) {
        /* a host that may be taken over is busy: look again when its turn
         * may be taken over, as if woken (off the idle stack, searching) */
        atomic_fetch_add_explicit(&watch->watching, 1, memory_order_relaxed);
        futex_wait_for(&w->wake, 0, limit + 1000000ull);
        atomic_fetch_sub_explicit(&watch->watching, 1, memory_order_relaxed);
        if (leave_idle_stack(s, w)) return;
        /* a waker took us off the idle stack: consume its token below */
    }
    /* acquire: pairs with wake_one's release store */
    while (atomic_load_explicit(&w->wake, memory_order_acquire) == 0) futex_wait(&w->wake, 0);
    atomic_store_explicit(&w->wake, 0, memory_order_relaxed); /* only we read it until parked */
}

static void *worker_main(void *arg) {
    za_worker *w = arg;
    za_system *s = w->sys;
    za__tl_worker = w;
    uint64_t spin_ns = (uint64_t)s->cfg.spin_us * 1000ull;
    bool searching = false;
    /* acquire: pairs with za__sched_stop's (seq_cst) store of quit */
    while (!atomic_load_explicit(&s->quit, memory_order_acquire)) {
        if (work_once(w, &searching)) {
            if (searching) { /* (host turns: still counted until here) */
                searching = false;
                /* the last searcher found work: let another look for more */
                if (atomic_fetch_sub(&s->nsearching, 1) == 1 && any_work(s)) notify(s);
            }
            continue;
        }
        if (!searching) {
            searching = true;
            atomic_fetch_add(&s->nsearching, 1);
        }
        uint64_t t0 = za__now_ns();
        bool found = false;
        while (za__now_ns() - t0 < spin_ns) {
            for (int i = 0; i < 32; i++) za__cpu_relax();
            if (any_work(s) || w->run_next ||
                atomic_load_explicit(&s->quit, memory_order_relaxed)) {
                found = true;
                break;
            }
        }
        if (found) continue;
        leave_host(w);
        park(w); /* returns counted as searching */
    }
    if (searching) atomic_fetch_sub(&s->nsearching, 1);
    leave_host(w);
    za__tl_worker = NULL;
    return NULL;
}

int za__sched_start(za_system *s) {
    if (s->manual) return ZA_OK;
    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            atomic_store(&s->quit, true);
            for (int j = 0; j < i; j++) {
                atomic_store(&s->workers[j].wake, 1);
                futex_wake(&s->workers[j].wake);
            }
            for (int j = 0; j < i; j++) pthread_join(s->workers[j].thread, NULL);
            return za__fail(ZA_ENOMEM, "cannot start worker thread %d", i);
        }
    }
    return ZA_OK;
}

void za__sched_stop(za_system *s) {
    if (s->manual) return;
    atomic_store(&s->quit, true);
    for (int i = 0; i < s->nworkers; i++) {
        atomic_store(&s->workers[i].wake, 1);
        futex_wake(&s->workers[i].wake);
    }
    for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i].thread, NULL);
}

bool za__sched_idle(za_system *s) {
    for (int i = 0; i < s->nworkers; i++)
        /* acquire: pairs with work_once's release clear of running */
        if (atomic_load_explicit(&s->workers[i].running, memory_order_acquire)) return false;
    return !any_work(s) &&
           (s->manual || atomic_load(&s->nsleeping) + atomic_load(&s->nsearching) >= s->nworkers);
}

/* Manual mode: the calling thread borrows worker 0. */
int za__run_manual(za_system *s, uint32_t max_turns) {
    if (!s->manual) return za__fail(ZA_ESTATE, "za_system_run needs a manual system");
    za_worker *w = &s->workers[0];
    za_worker *saved = za__tl_worker;
    if (saved == w) return 0; /* re-entered from inside an actor */
    za__tl_worker = w;
    int turns = 0;
    while (max_turns == 0 || (uint32_t)turns < max_turns) {
        za_actor *a = find_local(w);
        if (!a) {
            bool searching = false; /* (manual: nobody counts searchers) */
            if (atomic_load_explicit(&s->nhosts, memory_order_relaxed) &&
                serve_hosts(w, &searching)) {
                turns++;
                continue;
            }
            break;
        }
        run_actor(w, a);
        turns++;
    }
    leave_host(w);
    za__tl_worker = saved;
    return turns;
}
