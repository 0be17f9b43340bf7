/*
 * reminders.c - persistent reminders of grains (Orleans' IRemindable): one
 * store row per (grain type, grain key, name) with its period, the time it
 * is next due and the time it last fired (csrc/store/provider.h).
 *
 * One reminder thread per system owns a min-heap of due times (unix ms) and
 * a hash of every reminder this node schedules. At start it pages through
 * all rows (ZA__STORE_REMIND_LIST) and keeps those whose grain's home is
 * this node; a row whose next_due passed while nobody ran it fires once at
 * once with missed = the ticks that fell due (catch_up), or is moved to its
 * next tick silently (catch_up = 0). A firing is za__grain_deliver of a
 * ZA_TAG_REMINDER message (MessagePack [name, missed, period_s,
 * due_unix_s]), which activates the grain if needed.
 *
 * Writes: a remind/forget writes its row at once (the caller learns the
 * outcome); firings only move next_due/last_fired in memory and mark the
 * reminder dirty; every FLUSH_MS the thread writes the dirty rows back
 * (TOUCH, one request per row, which the store groups into one commit per
 * batch). So 100k reminders firing every second cost 100k/5 s rows per
 * second of writes, not 100k, and a clean shutdown writes all of them. A
 * crash may lose up to FLUSH_MS of firings' bookkeeping: those ticks are
 * then reported again as missed at the next start (at-least-once).
 *
 * Ordering: a reminder's row requests (PUT, TOUCH, DEL) carry the grain's
 * (type, key) as the store key, so they share a storage thread and run in
 * the order submitted; they are submitted under the reminder lock, in the
 * order the in-memory state changed, so the stored row ends as memory has
 * it.
 *
 * A reminder whose type is not registered is parked (kept, not in the heap)
 * until za__reminders_type_registered; in a cluster, rows whose home is
 * another node are not kept at all, and za__reminders_members_changed
 * reloads the rows (ownership moves with homes).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor.h"
#include "deadletter.h"
#include "grain/directory.h"
#include "grain/grain.h"
#include "grain/placement.h"
#include "msgnode.h"
#include "scheduler.h"
#include "send.h"
#include "store/provider.h"
#include "system.h"
#include "utf8.h"

#define FLUSH_MS 5000u          /* dirty rows are written back this often */
#define FIRE_BATCH 512u         /* firings delivered per release of the lock */
#define RELOAD_MS 60000u        /* in a cluster: rows are read again this often */
#define FLUSH_STEP 64u          /* write-backs submitted per step of a pass */
#define FLUSH_INFLIGHT 128      /* at most this many write-backs queued */
#define FLUSH_STEP_MS 2u        /* between steps of a pass */
#define MIN_PERIOD_MS 1000u     /* the documented floor */
#define MAX_NAME 255u           /* bytes of UTF-8 */
#define MAX_MS 3155760000000ull /* 100 years: due and period bounds */

#define NOT_IN_HEAP ((size_t)-1)

typedef struct rem {
    struct rem *hnext;
    uint32_t hash;
    size_t heap;             /* index in the heap, NOT_IN_HEAP when parked */
    char *type, *key, *name; /* one allocation: type \0 key \0 name \0 */
    size_t tl, kl, nl;
    uint64_t period_ms, next_due, last_fired, fence;
    uint32_t catch_up;
    bool dirty;      /* next_due / last_fired not written back yet */
    bool late;       /* loaded (or parked) past due: its first firing is a late one */
    uint64_t gen;    /* bumped by every remind of this name (a failed put undoes only its own) */
    const void *cls; /* the registered class once seen (classes are never removed) */
} rem;

struct za__reminders {
    za_system *sys;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    pthread_t thread;
    bool started, stop, stopped, reload;
    rem **heap;
    size_t nheap, capheap;
    rem **htab;
    size_t hcap, count;
    uint64_t next_flush;  /* unix ms: the next write-back pass starts */
    uint64_t next_reload; /* unix ms (in a cluster) */
    bool flushing;        /* a pass is under way, at bucket flush_pos */
    size_t flush_pos;
    _Atomic int64_t touch_inflight;
    uint64_t gen;
    /* figures (under mu) */
    uint64_t fired, loaded, load_ms;
};

/* ----------------------------------------------------------------- time */

static uint64_t unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ----------------------------------------------------------------- hash */

static uint32_t hash3(const char *t, size_t tl, const char *k, size_t kl, const char *n,
                      size_t nl) {
    uint32_t h = 2166136261u; /* FNV-1a over type \0 key \0 name */
    for (size_t i = 0; i < tl; i++) h = (h ^ (uint8_t)t[i]) * 16777619u;
    h *= 16777619u;
    for (size_t i = 0; i < kl; i++) h = (h ^ (uint8_t)k[i]) * 16777619u;
    h *= 16777619u;
    for (size_t i = 0; i < nl; i++) h = (h ^ (uint8_t)n[i]) * 16777619u;
    return h;
}

static rem **hfind(za__reminders *R, const char *t, size_t tl, const char *k, size_t kl,
                   const char *n, size_t nl, uint32_t h) {
    if (!R->hcap) return NULL;
    rem **pp = &R->htab[h & (R->hcap - 1)];
    for (; *pp; pp = &(*pp)->hnext) {
        rem *r = *pp;
        if (r->hash == h && r->tl == tl && r->kl == kl && r->nl == nl && !memcmp(r->type, t, tl) &&
            !memcmp(r->key, k, kl) && !memcmp(r->name, n, nl))
            return pp;
    }
    return pp;
}

static bool hgrow(za__reminders *R) {
    size_t nc = R->hcap ? R->hcap * 2 : 1024;
    rem **nt = calloc(nc, sizeof *nt);
    if (!nt) return false;
    for (size_t i = 0; i < R->hcap; i++) {
        rem *r = R->htab[i];
        while (r) {
            rem *nx = r->hnext;
            r->hnext = nt[r->hash & (nc - 1)];
            nt[r->hash & (nc - 1)] = r;
            r = nx;
        }
    }
    free(R->htab);
    R->htab = nt;
    R->hcap = nc;
    return true;
}

/* ----------------------------------------------------------------- heap */

static void hswap(za__reminders *R, size_t a, size_t b) {
    rem *x = R->heap[a];
    R->heap[a] = R->heap[b];
    R->heap[b] = x;
    R->heap[a]->heap = a;
    R->heap[b]->heap = b;
}

static void sift_up(za__reminders *R, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (R->heap[p]->next_due <= R->heap[i]->next_due) break;
        hswap(R, p, i);
        i = p;
    }
}

static void sift_down(za__reminders *R, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < R->nheap && R->heap[l]->next_due < R->heap[m]->next_due) m = l;
        if (l + 1 < R->nheap && R->heap[l + 1]->next_due < R->heap[m]->next_due) m = l + 1;
        if (m == i) return;
        hswap(R, i, m);
        i = m;
    }
}

static bool heap_push(za__reminders *R, rem *r) {
    if (R->nheap == R->capheap) {
        size_t nc = R->capheap ? R->capheap * 2 : 1024;
        rem **nh = realloc(R->heap, nc * sizeof *nh);
        if (!nh) return false;
        R->heap = nh;
        R->capheap = nc;
    }
    r->heap = R->nheap;
    R->heap[R->nheap++] = r;
    sift_up(R, r->heap);
    return true;
}

static void heap_remove(za__reminders *R, rem *r) {
    size_t i = r->heap;
    if (i == NOT_IN_HEAP) return;
    r->heap = NOT_IN_HEAP;
    if (i == --R->nheap) return;
    R->heap[i] = R->heap[R->nheap];
    R->heap[i]->heap = i;
    sift_down(R, i);
    sift_up(R, i);
}

static void heap_fix(za__reminders *R, rem *r) {
    if (r->heap == NOT_IN_HEAP) return;
    sift_down(R, r->heap);
    sift_up(R, r->heap);
}

/* ------------------------------------------------------------ reminders */

static rem *rem_new(const char *t, size_t tl, const char *k, size_t kl, const char *n, size_t nl) {
    rem *r = calloc(1, sizeof *r);
    char *buf = malloc(tl + kl + nl + 3);
    if (!r || !buf) {
        free(r);
        free(buf);
        return NULL;
    }
    memcpy(buf, t, tl);
    buf[tl] = 0;
    memcpy(buf + tl + 1, k, kl);
    buf[tl + 1 + kl] = 0;
    memcpy(buf + tl + kl + 2, n, nl);
    buf[tl + kl + 2 + nl] = 0;
    r->type = buf;
    r->key = buf + tl + 1;
    r->name = buf + tl + kl + 2;
    r->tl = tl;
    r->kl = kl;
    r->nl = nl;
    r->heap = NOT_IN_HEAP;
    r->hash = hash3(t, tl, k, kl, n, nl);
    return r;
}

static void rem_free(rem *r) {
    free(r->type);
    free(r);
}

/* Insert r (not yet in the table). false: out of memory (r not inserted). */
static bool table_add(za__reminders *R, rem *r) {
    if ((R->count + 1) * 2 > R->hcap && !hgrow(R)) return false;
    rem **pp = &R->htab[r->hash & (R->hcap - 1)];
    r->hnext = *pp;
    *pp = r;
    R->count++;
    return true;
}

static void table_unlink(za__reminders *R, rem **pp) {
    rem *r = *pp;
    *pp = r->hnext;
    R->count--;
    heap_remove(R, r);
}

/* Whether the grain type is registered (cached once seen: classes are
 * never removed). Lock order: reminders' mu, then the classes' cls_mu. */
static bool registered(za__reminders *R, rem *r) {
    if (r->cls) return true;
    za_grains *g = R->sys->grains;
    pthread_mutex_lock(&g->cls_mu);
    for (size_t i = 0; i < g->nclasses; i++)
        if (g->classes[i]->type_len == r->tl && !memcmp(g->classes[i]->type, r->type, r->tl)) {
            r->cls = g->classes[i];
            break;
        }
    pthread_mutex_unlock(&g->cls_mu);
    return r->cls != NULL;
}

/* Schedule r: into the heap when its type is registered, else parked. A
 * row that is past due and may not catch up moves to its next tick now. */
static void schedule(za__reminders *R, rem *r, uint64_t now) {
    if (r->next_due < now && !r->catch_up) {
        uint64_t k = (now - r->next_due) / r->period_ms + 1;
        r->next_due += k * r->period_ms;
        r->late = false;
        r->dirty = true;
    }
    if (registered(R, r)) {
        if (r->heap == NOT_IN_HEAP)
            heap_push(R, r); /* out of memory: stays parked until reload */
        else
            heap_fix(R, r);
    } else
        heap_remove(R, r);
}

/* ------------------------------------------------------------- loading */

/* A blocking store call that works on any thread (za_store_call refuses
 * worker threads; a system may be created from inside an actor). */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    za_store_result res;
} waiter;

static void wait_cb(za_store_result *res, void *ud) {
    waiter *w = ud;
    pthread_mutex_lock(&w->mu);
    w->res = *res;
    memset(res, 0, sizeof *res);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits for the completion without a time limit: the store's own command
 * and connect timeouts bound it (a request always completes). */
static int call_anywhere(za_store *st, const za_store_req *q, za_store_result *out) {
    waiter w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = za__store_submit_op(st, q, wait_cb, &w);
    if (rc == ZA_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        *out = w.res;
        rc = out->status;
        if (rc != ZA_OK) za__fail(rc, "%s", out->error ? out->error : za_strerror(rc));
    } else
        memset(out, 0, sizeof *out);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

/* Read every row (pages of ZA__REMIND_PAGE) and schedule those whose home
 * is this node; rows already in memory (a remind raced the load) win. */
static int load_all(za__reminders *R) {
    za_system *s = R->sys;
    za_store *st = s->grains->store;
    uint64_t t0 = unix_ms();
    char *cursor = NULL;
    size_t clen = 0, total = 0;
    int rc = ZA_OK;
    for (;;) {
        za_store_req q = {.op = ZA__STORE_REMIND_LIST,
                          .type = "",
                          .id = "",
                          .data = cursor,
                          .len = clen,
                          .max = ZA__REMIND_PAGE};
        za_store_result res;
        rc = call_anywhere(st, &q, &res);
        if (rc != ZA_OK) {
            za_store_result_free(&res);
            break;
        }
        uint64_t now = unix_ms();
        pthread_mutex_lock(&R->mu);
        for (size_t i = 0; i < res.nevents; i++) {
            za__remind row;
            if (za__remind_unpack(res.events[i].data, res.events[i].len, &row) != ZA_OK) continue;
            if (za__grain_home(s, row.type, row.key) != za_system_node(s)) continue;
            uint32_t h =
                hash3(row.type, row.type_len, row.key, row.key_len, row.name, row.name_len);
            rem **pp =
                hfind(R, row.type, row.type_len, row.key, row.key_len, row.name, row.name_len, h);
            if (pp && *pp) continue;
            rem *r = rem_new(row.type, row.type_len, row.key, row.key_len, row.name, row.name_len);
            if (!r || !table_add(R, r)) {
                if (r) rem_free(r);
                rc = za__fail(ZA_ENOMEM, "out of memory loading reminders");
                break;
            }
            r->period_ms = row.period_ms < MIN_PERIOD_MS ? MIN_PERIOD_MS : row.period_ms;
            r->next_due = row.next_due;
            r->last_fired = row.last_fired;
            r->fence = row.fence;
            r->catch_up = row.catch_up;
            r->late = r->next_due < now;
            r->gen = ++R->gen;
            schedule(R, r, now);
            total++;
        }
        pthread_mutex_unlock(&R->mu);
        size_t n = res.nevents;
        if (n) {
            free(cursor);
            clen = res.events[n - 1].len;
            cursor = malloc(clen);
            if (!cursor)
                rc = za__fail(ZA_ENOMEM, "out of memory loading reminders");
            else
                memcpy(cursor, res.events[n - 1].data, clen);
        }
        za_store_result_free(&res);
        if (rc != ZA_OK || n < ZA__REMIND_PAGE) break;
    }
    free(cursor);
    pthread_mutex_lock(&R->mu);
    R->loaded += total;
    R->load_ms = unix_ms() - t0;
    pthread_mutex_unlock(&R->mu);
    return rc;
}

/* ------------------------------------------------------------- writing */

/* A write-back completed: one less in flight. (R outlives the store's
 * callbacks: it is freed after the store closed.) */
static void touch_cb(za_store_result *res, void *ud) {
    (void)res;
    za__reminders *R = ud;
    /* relaxed: a count that only paces the next flush step */
    atomic_fetch_sub_explicit(&R->touch_inflight, 1, memory_order_relaxed);
}

static size_t pack_rem(const rem *r, char *buf, size_t cap) {
    za__remind row = {.type = r->type,
                      .key = r->key,
                      .name = r->name,
                      .period_ms = r->period_ms,
                      .next_due = r->next_due,
                      .last_fired = r->last_fired,
                      .fence = r->fence,
                      .catch_up = r->catch_up};
    return za__remind_pack(&row, buf, cap);
}

/* Write back dirty reminders (locked: the TOUCHes queue in the order memory
 * changed), from bucket flush_pos on, until `budget` were submitted; true
 * when the walk reached the end. The write-back trickles (budget per pass,
 * few in flight) so that state reads of activating grains never queue
 * behind a whole table of touches on the storage thread. A failed touch
 * (the row was forgotten elsewhere, or another node fenced it) is left
 * alone: the next load settles it. */
static bool flush_some(za__reminders *R, size_t budget) {
    za_store *st = R->sys->grains->store;
    char buf[1600];
    size_t sent = 0;
    for (; R->flush_pos < R->hcap; R->flush_pos++) {
        for (rem *r = R->htab[R->flush_pos]; r; r = r->hnext) {
            if (!r->dirty) continue;
            size_t n = pack_rem(r, buf, sizeof buf);
            za_store_req q = {.op = ZA__STORE_REMIND_TOUCH,
                              .type = r->type,
                              .id = r->key,
                              .data = buf,
                              .len = n,
                              .fence = r->fence};
            atomic_fetch_add_explicit(&R->touch_inflight, 1, memory_order_relaxed);
            if (n <= sizeof buf && za__store_submit_op(st, &q, touch_cb, R) == ZA_OK) {
                r->dirty = false;
                sent++;
            } else
                atomic_fetch_sub_explicit(&R->touch_inflight, 1, memory_order_relaxed);
        }
        /* whole buckets only: a bucket's rows are few */
        if (sent >= budget) {
            R->flush_pos++;
            return R->flush_pos >= R->hcap;
        }
    }
    return true;
}

static void flush_dirty(za__reminders *R) {
    R->flush_pos = 0;
    flush_some(R, SIZE_MAX);
    R->flushing = false;
}

/* ------------------------------------------------------------- firing */

/* MessagePack [name, missed, period_s, due_unix_s]: the payload of
 * ZA_TAG_REMINDER. Returns its length (buf holds 2 + 5 + 255 + 9 + 18). */
static size_t encode_payload(uint8_t *buf, const rem *r, uint64_t missed, uint64_t due) {
    size_t o = 0;
    buf[o++] = 0x94;
    if (r->nl < 32)
        buf[o++] = (uint8_t)(0xa0 | r->nl);
    else {
        buf[o++] = 0xd9;
        buf[o++] = (uint8_t)r->nl;
    }
    memcpy(buf + o, r->name, r->nl);
    o += r->nl;
    if (missed < 128)
        buf[o++] = (uint8_t)missed;
    else {
        buf[o++] = 0xcf;
        for (int i = 7; i >= 0; i--) buf[o++] = (uint8_t)(missed >> (8 * i));
    }
    double d[2] = {(double)r->period_ms / 1000.0, (double)due / 1000.0};
    for (int j = 0; j < 2; j++) {
        uint64_t bits;
        memcpy(&bits, &d[j], 8);
        buf[o++] = 0xcb;
        for (int i = 7; i >= 0; i--) buf[o++] = (uint8_t)(bits >> (8 * i));
    }
    return o;
}

typedef struct fire {
    char *tk; /* type \0 key (copied: the reminder may go while we deliver) */
    uint8_t payload[300];
    size_t plen;
} fire;

/* Pop what is due (at most FIRE_BATCH) into f; locked. */
static size_t take_due(za__reminders *R, uint64_t now, fire *f) {
    size_t n = 0;
    while (n < FIRE_BATCH && R->nheap && R->heap[0]->next_due <= now) {
        rem *r = R->heap[0];
        uint64_t due = r->next_due;
        uint64_t k = (now - due) / r->period_ms; /* ticks past this one that also fell due */
        uint64_t missed = r->late ? k + 1 : k;
        r->late = false;
        r->next_due = due + (k + 1) * r->period_ms;
        r->last_fired = now;
        r->dirty = true;
        sift_down(R, 0);
        f[n].tk = malloc(r->tl + r->kl + 2);
        if (!f[n].tk) continue; /* out of memory: this tick is lost, the next comes */
        memcpy(f[n].tk, r->type, r->tl + r->kl + 2);
        f[n].plen = encode_payload(f[n].payload, r, missed, due);
        n++;
    }
    R->fired += n;
    return n;
}

static void deliver(za__reminders *R, fire *f, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *type = f[i].tk, *key = f[i].tk + strlen(f[i].tk) + 1;
        /* errors (shutting down, out of memory) lose this tick only; an
         * unregistered type cannot happen here (checked before the heap) */
        (void)za__grain_deliver(R->sys, type, key, ZA_TAG_REMINDER, f[i].payload, f[i].plen);
        free(f[i].tk);
    }
}

static void wait_until(za__reminders *R, uint64_t wake_unix_ms) {
    uint64_t now = unix_ms();
    if (wake_unix_ms <= now) return;
    uint64_t ms = wake_unix_ms - now;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000u);
    ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&R->cv, &R->mu, &ts);
}

static void clear_all(za__reminders *R) {
    for (size_t i = 0; i < R->hcap; i++) {
        rem *r = R->htab[i];
        while (r) {
            rem *nx = r->hnext;
            rem_free(r);
            r = nx;
        }
        R->htab[i] = NULL;
    }
    R->count = 0;
    R->nheap = 0;
}

static void *reminder_thread(void *arg) {
    za__reminders *R = arg;
    fire *f = malloc(FIRE_BATCH * sizeof *f);
    pthread_mutex_lock(&R->mu);
    /* deliveries activate grains: wait until the system runs */
    while (!R->stop && !za_system_ready(R->sys)) wait_until(R, unix_ms() + 5);
    R->next_reload = unix_ms() + RELOAD_MS;
    while (!R->stop) {
        uint64_t now = unix_ms();
        /* in a cluster, a reminder set on another node for a grain whose
         * home is here reaches this node's schedule at the next reload */
        if (R->sys->cluster && now >= R->next_reload) {
            R->reload = true;
            R->next_reload = now + RELOAD_MS;
        }
        if (R->reload) { /* membership changed: write back, then read the rows again */
            R->reload = false;
            flush_dirty(R);
            clear_all(R);
            pthread_mutex_unlock(&R->mu);
            /* the write-backs land before the rows are read again (they may
             * run on other storage threads than the listing); bounded.
             * relaxed: what must come first is the commit in the database,
             * which precedes the callback's decrement; no memory is handed over */
            for (int i = 0;
                 i < 5000 && atomic_load_explicit(&R->touch_inflight, memory_order_relaxed) > 0;
                 i++) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            (void)load_all(R); /* an error keeps what loaded; the next change retries */
            pthread_mutex_lock(&R->mu);
            continue;
        }
        if (now >= R->next_flush && !R->flushing) {
            R->flushing = true;
            R->flush_pos = 0;
            R->next_flush = now + FLUSH_MS;
        }
        if (R->flushing) {
            int64_t room =
                FLUSH_INFLIGHT - atomic_load_explicit(&R->touch_inflight, memory_order_relaxed);
            if (room >= (int64_t)FLUSH_STEP && flush_some(R, FLUSH_STEP)) R->flushing = false;
        }
        size_t n = f ? take_due(R, now, f) : 0;
        if (n) {
            pthread_mutex_unlock(&R->mu);
            deliver(R, f, n);
            pthread_mutex_lock(&R->mu);
            continue;
        }
        uint64_t wake = R->flushing ? now + FLUSH_STEP_MS : R->next_flush;
        if (R->nheap && R->heap[0]->next_due < wake) wake = R->heap[0]->next_due;
        wait_until(R, wake);
    }
    flush_dirty(R); /* the store completes it before it closes */
    pthread_mutex_unlock(&R->mu);
    free(f);
    return NULL;
}

/* -------------------------------------------------------------- hooks */

int za__reminders_start(za_system *s) {
    za_grains *g = s->grains;
    za__reminders *R = calloc(1, sizeof *R);
    if (!R) return za__fail(ZA_ENOMEM, "out of memory");
    R->sys = s;
    pthread_mutex_init(&R->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&R->cv, &ca);
    pthread_condattr_destroy(&ca);
    R->next_flush = unix_ms() + FLUSH_MS;
    g->reminders = R;
    int rc = load_all(R);
    if (rc != ZA_OK) return za__fail(rc, "loading reminders: %s", za_last_error());
    if (pthread_create(&R->thread, NULL, reminder_thread, R) != 0)
        return za__fail(ZA_ENOMEM, "cannot start the reminder thread");
    R->started = true;
    return ZA_OK;
}

void za__reminders_stop(za_system *s) {
    za__reminders *R = s->grains ? s->grains->reminders : NULL;
    if (!R) return;
    pthread_mutex_lock(&R->mu);
    R->stop = true;
    R->stopped = true;
    pthread_cond_signal(&R->cv);
    pthread_mutex_unlock(&R->mu);
    if (R->started) pthread_join(R->thread, NULL);
    R->started = false;
}

void za__reminders_free(za_system *s) {
    za__reminders *R = s->grains ? s->grains->reminders : NULL;
    if (!R) return;
    za__reminders_stop(s);
    clear_all(R);
    free(R->htab);
    free(R->heap);
    pthread_mutex_destroy(&R->mu);
    pthread_cond_destroy(&R->cv);
    free(R);
    s->grains->reminders = NULL;
}

void za__reminders_type_registered(za_system *s, const char *type) {
    za__reminders *R = s->grains ? s->grains->reminders : NULL;
    if (!R) return;
    size_t tl = strlen(type);
    uint64_t now = unix_ms();
    pthread_mutex_lock(&R->mu);
    bool any = false;
    for (size_t i = 0; i < R->hcap; i++)
        for (rem *r = R->htab[i]; r; r = r->hnext)
            if (r->heap == NOT_IN_HEAP && r->tl == tl && !memcmp(r->type, type, tl)) {
                if (r->next_due < now) r->late = true; /* it waited: a late firing */
                schedule(R, r, now);
                any = true;
            }
    if (any) pthread_cond_signal(&R->cv);
    pthread_mutex_unlock(&R->mu);
}

void za__reminders_members_changed(za_system *s) {
    za__reminders *R = s->grains ? s->grains->reminders : NULL;
    if (!R) return;
    pthread_mutex_lock(&R->mu);
    R->reload = true;
    pthread_cond_signal(&R->cv);
    pthread_mutex_unlock(&R->mu);
}

int za__reminders_figures(za_system *s, uint64_t *count, uint64_t *fired, uint64_t *load_ms) {
    za__reminders *R = s && s->grains ? s->grains->reminders : NULL;
    if (!R) return za__fail(ZA_ESTATE, "no reminders");
    pthread_mutex_lock(&R->mu);
    if (count) *count = R->count;
    if (fired) *fired = R->fired;
    if (load_ms) *load_ms = R->load_ms;
    pthread_mutex_unlock(&R->mu);
    return ZA_OK;
}

/* ------------------------------------------------------- remind / forget */

static int check_args(const char *name, uint64_t due_ms, uint64_t period_ms, size_t *nl) {
    if (!name) return za__fail(ZA_EINVAL, "reminder name is NULL");
    *nl = strnlen(name, MAX_NAME + 1);
    if (*nl == 0 || *nl > MAX_NAME)
        return za__fail(ZA_EINVAL, "reminder name must be 1..%u bytes of UTF-8", MAX_NAME);
    if (!za__utf8_valid(name, *nl)) return za__fail(ZA_EINVAL, "reminder name is not valid UTF-8");
    if (period_ms < MIN_PERIOD_MS)
        return za__fail(ZA_EINVAL, "reminder period must be at least %u ms (got %llu ms)",
                        MIN_PERIOD_MS, (unsigned long long)period_ms);
    if (period_ms > MAX_MS || due_ms > MAX_MS)
        return za__fail(ZA_EINVAL, "reminder due/period beyond 100 years");
    return ZA_OK;
}

/* What the completion of a remind/forget needs. */
typedef struct rop {
    za__reminders *R;
    bool put;
    uint64_t gen;
    char *tk; /* type \0 key \0 name: to find the reminder again */
    size_t tl, kl, nl;
    /* blocking caller */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, abandoned, blocking;
    int status;
    char err[256];
    /* message to an activation */
    za_ref to;
    int32_t tag;
    uint64_t corr;
} rop;

static void rop_free(rop *o) {
    if (o->blocking) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
    }
    free(o->tk);
    free(o);
}

static void result_dtor(void *p) {
    za_store_result_free(p);
    free(p);
}

static void rop_cb(za_store_result *res, void *ud) {
    rop *o = ud;
    za__reminders *R = o->R;
    if (o->put && res->status != ZA_OK) {
        /* the row was not written: memory must not keep a reminder the
         * store lacks (unless a later remind replaced it already) */
        const char *t = o->tk, *k = t + o->tl + 1, *n = k + o->kl + 1;
        pthread_mutex_lock(&R->mu);
        rem **pp = hfind(R, t, o->tl, k, o->kl, n, o->nl, hash3(t, o->tl, k, o->kl, n, o->nl));
        if (pp && *pp && (*pp)->gen == o->gen) {
            rem *r = *pp;
            table_unlink(R, pp);
            rem_free(r);
        }
        pthread_mutex_unlock(&R->mu);
    }
    if (o->blocking) {
        pthread_mutex_lock(&o->mu);
        if (o->abandoned) { /* the caller timed out and left: o is ours */
            pthread_mutex_unlock(&o->mu);
            rop_free(o);
            return;
        }
        o->status = res->status;
        snprintf(o->err, sizeof o->err, "%s", res->error ? res->error : "");
        o->done = true;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
        return;
    }
    /* completion message to the activation (like za_ctx_store) */
    za_system *s = R->sys;
    za_store_result *r = malloc(sizeof *r);
    za_msgnode *m = r ? za__msg_new_bytes(o->tag, NULL, 0) : NULL;
    if (m) {
        *r = *res;
        memset(res, 0, sizeof *res);
        m->kind = ZA_PAYLOAD_PTR;
        m->u.p.ptr = r;
        m->u.p.dtor = result_dtor;
        m->flags |= ZA_MF_REPLY;
        m->status = (int16_t)r->status;
        m->corr = o->corr;
        m->target = o->to;
        m->sender = ZA_REF_NONE;
        int rc = za__send_node(s, m, false);
        if (rc != ZA_OK && rc != ZA_EDROPPED) za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
    } else
        free(r); /* out of memory: nothing can carry the result */
    rop_free(o);
}

/* Apply a remind (put) or forget to memory and submit its row request, both
 * under the lock so requests queue in the order memory changed. */
static int submit_op(za_system *s, bool put, const char *type, const char *key, const char *name,
                     size_t nl, uint64_t due_ms, uint64_t period_ms, int catch_up, uint64_t fence,
                     rop *o) {
    za__reminders *R = s->grains ? s->grains->reminders : NULL;
    if (!R) return za__fail(ZA_ESTATE, "reminders are not running in this system");
    size_t tl = strlen(type), kl = strlen(key);
    o->R = R;
    o->put = put;
    o->tl = tl;
    o->kl = kl;
    o->nl = nl;
    o->tk = malloc(tl + kl + nl + 3);
    if (!o->tk) return za__fail(ZA_ENOMEM, "out of memory");
    memcpy(o->tk, type, tl + 1);
    memcpy(o->tk + tl + 1, key, kl + 1);
    memcpy(o->tk + tl + kl + 2, name, nl);
    o->tk[tl + kl + 2 + nl] = 0;
    uint64_t now = unix_ms();
    uint32_t h = hash3(type, tl, key, kl, name, nl);
    char buf[1600];
    pthread_mutex_lock(&R->mu);
    if (R->stopped) {
        pthread_mutex_unlock(&R->mu);
        return za__fail(ZA_ESHUTDOWN, "the system is shutting down");
    }
    rem **pp = hfind(R, type, tl, key, kl, name, nl, h);
    rem *r = pp ? *pp : NULL;
    rem tmp = {.type = (char *)type,
               .key = (char *)key,
               .name = o->tk + tl + kl + 2,
               .tl = tl,
               .kl = kl,
               .nl = nl};
    if (put) {
        bool fresh = !r;
        if (fresh && !(r = rem_new(type, tl, key, kl, name, nl))) {
            pthread_mutex_unlock(&R->mu);
            return za__fail(ZA_ENOMEM, "out of memory");
        }
        if (fresh && !table_add(R, r)) {
            pthread_mutex_unlock(&R->mu);
            rem_free(r);
            return za__fail(ZA_ENOMEM, "out of memory");
        }
        r->period_ms = period_ms;
        r->next_due = now + due_ms;
        r->last_fired = 0;
        r->catch_up = catch_up ? 1u : 0u;
        if (fence > r->fence) r->fence = fence;
        r->late = false;
        r->dirty = false; /* the put below writes everything */
        r->gen = o->gen = ++R->gen;
        if (za__grain_home(s, type, key) == za_system_node(s))
            schedule(R, r, now);
        else
            heap_remove(R, r); /* stored; its home schedules it at its next load */
        tmp = *r;
    } else if (r) {
        table_unlink(R, pp);
        rem_free(r);
    }
    size_t n = pack_rem(&tmp, buf, sizeof buf);
    za_store_req q = {.op = put ? ZA__STORE_REMIND_PUT : ZA__STORE_REMIND_DEL,
                      .type = type,
                      .id = key,
                      .data = buf,
                      .len = n,
                      .fence = fence};
    int rc = za__store_submit_op(s->grains->store, &q, rop_cb, o);
    if (rc != ZA_OK && put) { /* nothing queued: undo */
        pp = hfind(R, type, tl, key, kl, name, nl, h);
        if (pp && *pp && (*pp)->gen == o->gen) {
            rem *x = *pp;
            table_unlink(R, pp);
            rem_free(x);
        }
    }
    if (rc == ZA_OK) pthread_cond_signal(&R->cv); /* a new earliest due time */
    pthread_mutex_unlock(&R->mu);
    return rc;
}

static int blocking(za_system *sys, za_ref grain, bool put, const char *name, uint64_t due_ms,
                    uint64_t period_ms, int catch_up, uint32_t timeout_ms) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    if (za__tl_worker || za__tl_ctx)
        return za__fail(ZA_ESTATE, "a blocking reminder call on a worker thread would stall it; "
                                   "use za_ctx_grain_remind / za_ctx_grain_forget");
    size_t nl;
    int rc = check_args(name, put ? due_ms : 0, put ? period_ms : MIN_PERIOD_MS, &nl);
    if (rc != ZA_OK) return rc;
    const char *type, *key;
    if ((rc = za_grain_identity(sys, grain, &type, &key)) != ZA_OK) return rc;
    rop *o = calloc(1, sizeof *o);
    if (!o) return za__fail(ZA_ENOMEM, "out of memory");
    o->blocking = true;
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = submit_op(sys, put, type, key, name, nl, due_ms, period_ms, catch_up, 0, o);
    if (rc != ZA_OK) {
        rop_free(o);
        return rc;
    }
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&o->mu);
    while (!o->done)
        if (pthread_cond_timedwait(&o->cv, &o->mu, &dl) == ETIMEDOUT && !o->done) break;
    if (!o->done) {
        o->abandoned = true; /* rop_cb frees it */
        pthread_mutex_unlock(&o->mu);
        return za__fail(ZA_ETIMEDOUT, "reminder %s did not complete within %u ms",
                        put ? "remind" : "forget", timeout_ms);
    }
    pthread_mutex_unlock(&o->mu);
    rc = o->status;
    if (rc == ZA_ENOTFOUND)
        za__fail(rc, "grain %s/%s has no reminder '%s'", type, key, name);
    else if (rc != ZA_OK)
        za__fail(rc, "%s", o->err[0] ? o->err : za_strerror(rc));
    rop_free(o);
    return rc;
}

int za_grain_remind(za_system *sys, za_ref grain, const char *name, uint64_t due_ms,
                    uint64_t period_ms, int catch_up, uint32_t timeout_ms) {
    return blocking(sys, grain, true, name, due_ms, period_ms, catch_up, timeout_ms);
}

int za_grain_forget(za_system *sys, za_ref grain, const char *name, uint32_t timeout_ms) {
    return blocking(sys, grain, false, name, 0, 0, 0, timeout_ms);
}

static za_gact *act_of(za_ctx *ctx) {
    if (!ctx || !(ctx->a->flags & ZA_AF_GRAIN) || !ctx->a->ext) return NULL;
    return ctx->a->ext->grain_act;
}

static int in_activation(za_ctx *ctx, bool put, const char *name, uint64_t due_ms,
                         uint64_t period_ms, int catch_up, int32_t tag, uint64_t *corr_out) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    za_gact *ad = act_of(ctx);
    if (!ad) return za__fail(ZA_ESTATE, "the calling actor is not a grain activation");
    int rc = za__user_tag(tag);
    if (rc) return rc;
    size_t nl;
    if ((rc = check_args(name, put ? due_ms : 0, put ? period_ms : MIN_PERIOD_MS, &nl)) != ZA_OK)
        return rc;
    rop *o = calloc(1, sizeof *o);
    if (!o) return za__fail(ZA_ENOMEM, "out of memory");
    o->to = ctx->self;
    o->tag = tag;
    /* relaxed: the counter only has to hand out distinct numbers */
    o->corr = atomic_fetch_add_explicit(&ctx->sys->next_corr, 1, memory_order_relaxed) + 1;
    uint64_t corr = o->corr;
    rc = submit_op(ctx->sys, put, ad->e->cls->type, ad->e->key, name, nl, due_ms, period_ms,
                   catch_up, ad->token, o);
    if (rc != ZA_OK) {
        rop_free(o);
        return rc;
    }
    if (corr_out) *corr_out = corr;
    return ZA_OK;
}

int za_ctx_grain_remind(za_ctx *ctx, const char *name, uint64_t due_ms, uint64_t period_ms,
                        int catch_up, int32_t tag, uint64_t *corr_out) {
    return in_activation(ctx, true, name, due_ms, period_ms, catch_up, tag, corr_out);
}

int za_ctx_grain_forget(za_ctx *ctx, const char *name, int32_t tag, uint64_t *corr_out) {
    return in_activation(ctx, false, name, 0, 0, 0, tag, corr_out);
}
