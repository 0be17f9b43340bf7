/*
 * Timers: one binary min-heap and one thread per system. Entries live in a
 * slab so an id (slab index + generation) can be cancelled in O(log n)
 * without a search, and a stale id is detected.
 */
#include <stdlib.h>

#include "ask.h"
#include "deadletter.h"
#include "msgnode.h"
#include "send.h"
#include "system.h"
#include "timer.h"

enum { TK_SEND = 0, TK_SYS = 1, TK_REPLY = 2 };

typedef struct tentry {
    uint64_t due_ns;
    uint64_t interval_ns;
    uint32_t gen;
    int32_t heap_idx; /* -1: not in the heap (free or firing) */
    int kind;
    za_ref to;
    int32_t tag;
    int sys;
    void *data;
    size_t len;
    za_reply_slot *reply;
} tentry;

struct za_timers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, quit;
    tentry *slab;
    uint32_t cap;
    uint32_t *free_idx;
    uint32_t nfree;
    uint32_t *heap; /* slab indices */
    uint32_t nheap;
};

static bool less(struct za_timers *t, uint32_t a, uint32_t b) {
    return t->slab[t->heap[a]].due_ns < t->slab[t->heap[b]].due_ns;
}

static void swap(struct za_timers *t, uint32_t a, uint32_t b) {
    uint32_t x = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = x;
    t->slab[t->heap[a]].heap_idx = (int32_t)a;
    t->slab[t->heap[b]].heap_idx = (int32_t)b;
}

static void sift_up(struct za_timers *t, uint32_t i) {
    while (i && less(t, i, (i - 1) / 2)) {
        swap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct za_timers *t, uint32_t i) {
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->nheap && less(t, l, m)) m = l;
        if (r < t->nheap && less(t, r, m)) m = r;
        if (m == i) return;
        swap(t, i, m);
        i = m;
    }
}

static void heap_remove(struct za_timers *t, uint32_t hi) {
    uint32_t last = --t->nheap;
    t->slab[t->heap[hi]].heap_idx = -1;
    if (hi != last) {
        t->heap[hi] = t->heap[last];
        t->slab[t->heap[hi]].heap_idx = (int32_t)hi;
        sift_down(t, hi);
        sift_up(t, hi);
    }
}

static void entry_release(struct za_timers *t, uint32_t idx) {
    tentry *e = &t->slab[idx];
    free(e->data);
    e->data = NULL;
    e->gen++;
    e->heap_idx = -1;
    t->free_idx[t->nfree++] = idx;
}

static int grow(struct za_timers *t) {
    uint32_t nc = t->cap ? t->cap * 2 : 64;
    tentry *ns = realloc(t->slab, nc * sizeof *ns);
    if (!ns) return ZA_ENOMEM;
    t->slab = ns;
    uint32_t *nf = realloc(t->free_idx, nc * sizeof *nf);
    if (!nf) return ZA_ENOMEM;
    t->free_idx = nf;
    uint32_t *nh = realloc(t->heap, nc * sizeof *nh);
    if (!nh) return ZA_ENOMEM;
    t->heap = nh;
    for (uint32_t i = nc; i-- > t->cap;) {
        memset(&t->slab[i], 0, sizeof t->slab[i]);
        t->slab[i].heap_idx = -1;
        t->slab[i].gen = 1;
        t->free_idx[t->nfree++] = i;
    }
    t->cap = nc;
    return ZA_OK;
}

static int add(za_system *s, tentry *proto, uint64_t delay_ms, za_timer_id *out) {
    struct za_timers *t = s->timers;
    pthread_mutex_lock(&t->mu);
    if (t->quit) {
        pthread_mutex_unlock(&t->mu);
        return za__fail(ZA_ESHUTDOWN, "system is shutting down");
    }
    if (!t->nfree && grow(t) != ZA_OK) {
        pthread_mutex_unlock(&t->mu);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    uint32_t idx = t->free_idx[--t->nfree];
    tentry *e = &t->slab[idx];
    uint32_t gen = e->gen;
    *e = *proto;
    e->gen = gen;
    e->due_ns = za__now_ns() + delay_ms * 1000000ull;
    t->heap[t->nheap] = idx;
    e->heap_idx = (int32_t)t->nheap;
    t->nheap++;
    sift_up(t, (uint32_t)e->heap_idx);
    if (e->heap_idx == 0) pthread_cond_signal(&t->cv);
    if (out) *out = ((uint64_t)gen << 32) | idx;
    pthread_mutex_unlock(&t->mu);
    return ZA_OK;
}

static int fire(za_system *s, tentry *e) {
    int rc = ZA_OK;
    switch (e->kind) {
    case TK_REPLY:
        za__reply_timeout(s, e->reply);
        za__reply_release(e->reply);
        break;
    case TK_SYS:
        za__send_sys(s, e->to, ZA_REF_NONE, e->sys, e->data, e->len);
        break;
    default: {
        za_msgnode *m = za__msg_new_bytes(e->tag, e->data, e->len);
        if (!m) return ZA_ENOMEM;
        m->target = e->to;
        rc = za__send_node(s, m, false);
        if (rc == ZA_OK || rc == ZA_EDROPPED) {
            za__count(s, ZA_C_TIMERS, 1);
        } else {
            za__dead_letter(s, m, rc == ZA_ESHUTDOWN ? ZA_DL_SHUTDOWN : ZA_DL_DEAD_TARGET);
        }
        break;
    }
    }
    return rc;
}

static void *timer_main(void *arg) {
    za_system *s = arg;
    struct za_timers *t = s->timers;
    pthread_mutex_lock(&t->mu);
    while (!t->quit) {
        if (!t->nheap) {
            pthread_cond_wait(&t->cv, &t->mu);
            continue;
        }
        uint32_t idx = t->heap[0];
        tentry *e = &t->slab[idx];
        uint64_t now = za__now_ns();
        if (e->due_ns > now) {
            struct timespec ts = {(time_t)(e->due_ns / 1000000000ull),
                                  (long)(e->due_ns % 1000000000ull)};
            pthread_cond_timedwait(&t->cv, &t->mu, &ts);
            continue;
        }
        tentry copy = *e;
        bool periodic = e->kind == TK_SEND && e->interval_ns;
        uint32_t gen = e->gen;
        if (periodic) {
            e->due_ns = now + e->interval_ns;
            sift_down(t, 0);
            /* keep the payload: copy.data aliases it, so fire before unlocking is unsafe;
             * duplicate it for the send instead */
            void *dup = NULL;
            if (copy.len) {
                dup = malloc(copy.len);
                if (dup) memcpy(dup, copy.data, copy.len);
            }
            copy.data = dup;
        } else {
            heap_remove(t, 0);
            e->data = NULL; /* ownership moves to copy */
            entry_release(t, idx);
        }
        pthread_mutex_unlock(&t->mu);
        int rc = fire(s, &copy);
        free(copy.data);
        /* a periodic timer whose target died stops by itself */
        if (periodic && rc == ZA_EDEAD) za_timer_cancel(s, ((uint64_t)gen << 32) | idx);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int za__timers_start(za_system *s) {
    struct za_timers *t = calloc(1, sizeof *t);
    if (!t) return za__fail(ZA_ENOMEM, "out of memory");
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->timers = t;
    if (pthread_create(&t->thread, NULL, timer_main, s) != 0)
        return za__fail(ZA_ENOMEM, "cannot start the timer thread");
    t->running = true;
    return ZA_OK;
}

void za__timers_stop(za_system *s) {
    struct za_timers *t = s->timers;
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->running) pthread_join(t->thread, NULL);
    t->running = false;
    /* pending timers never fire: release what they hold */
    while (t->nheap) {
        uint32_t idx = t->heap[0];
        tentry *e = &t->slab[idx];
        heap_remove(t, 0);
        if (e->kind == TK_REPLY) {
            za__reply_timeout(s, e->reply);
            za__reply_release(e->reply);
        }
        entry_release(t, idx);
    }
}

void za__timers_free(za_system *s) {
    struct za_timers *t = s->timers;
    if (!t) return;
    za__timers_stop(s);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t->slab);
    free(t->free_idx);
    free(t->heap);
    free(t);
    s->timers = NULL;
}

static int copy_payload(tentry *e, const void *data, size_t len) {
    e->len = len;
    e->data = NULL;
    if (!len) return ZA_OK;
    e->data = malloc(len);
    if (!e->data) return ZA_ENOMEM;
    memcpy(e->data, data, len);
    return ZA_OK;
}

static int user_timer(za_system *sys, uint32_t delay_ms, uint32_t interval_ms, za_ref to,
                      int32_t tag, const void *data, size_t len, za_timer_id *out) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    if (len && !data) return za__fail(ZA_EINVAL, "data is NULL but len is %zu", len);
    if (len > sys->cfg.max_payload) return za__fail(ZA_ETOOBIG, "payload too large");
    if (za__user_tag(tag)) return ZA_EINVAL;
    if (!za__resolve(sys, to)) return za__fail(ZA_EDEAD, "timer target is dead");
    tentry e;
    memset(&e, 0, sizeof e);
    e.kind = TK_SEND;
    e.to = to;
    e.tag = tag;
    e.interval_ns = (uint64_t)interval_ms * 1000000ull;
    if (copy_payload(&e, data, len)) return za__fail(ZA_ENOMEM, "out of memory");
    int rc = add(sys, &e, delay_ms, out);
    if (rc != ZA_OK) free(e.data);
    return rc;
}

int za_send_after(za_system *sys, uint32_t delay_ms, za_ref to, int32_t tag, const void *data,
                  size_t len, za_timer_id *out) {
    return user_timer(sys, delay_ms, 0, to, tag, data, len, out);
}

int za_send_interval(za_system *sys, uint32_t delay_ms, uint32_t interval_ms, za_ref to,
                     int32_t tag, const void *data, size_t len, za_timer_id *out) {
    if (interval_ms == 0) return za__fail(ZA_EINVAL, "interval_ms must be > 0");
    return user_timer(sys, delay_ms, interval_ms, to, tag, data, len, out);
}

int za_timer_cancel(za_system *sys, za_timer_id id) {
    if (!sys || !sys->timers) return za__fail(ZA_EINVAL, "system is NULL");
    struct za_timers *t = sys->timers;
    uint32_t idx = (uint32_t)id, gen = (uint32_t)(id >> 32);
    pthread_mutex_lock(&t->mu);
    if (idx >= t->cap || t->slab[idx].gen != gen || t->slab[idx].heap_idx < 0) {
        pthread_mutex_unlock(&t->mu);
        return za__fail(ZA_ENOTFOUND, "timer already fired or cancelled");
    }
    tentry *e = &t->slab[idx];
    za_reply_slot *r = e->kind == TK_REPLY ? e->reply : NULL;
    heap_remove(t, (uint32_t)e->heap_idx);
    entry_release(t, idx);
    pthread_mutex_unlock(&t->mu);
    if (r) za__reply_release(r);
    return ZA_OK;
}

int za__timer_sys(za_system *s, uint32_t delay_ms, za_ref to, int sys, const void *data,
                  size_t len) {
    tentry e;
    memset(&e, 0, sizeof e);
    e.kind = TK_SYS;
    e.to = to;
    e.sys = sys;
    if (copy_payload(&e, data, len)) return ZA_ENOMEM;
    int rc = add(s, &e, delay_ms, NULL);
    if (rc != ZA_OK) free(e.data);
    return rc;
}

int za__timer_reply(za_system *s, uint32_t delay_ms, za_reply_slot *r, za_timer_id *out) {
    tentry e;
    memset(&e, 0, sizeof e);
    e.kind = TK_REPLY;
    e.reply = r;
    return add(s, &e, delay_ms, out);
}
