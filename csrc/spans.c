/*
 * Span recording: one fixed-size record per traced handler run (and per
 * za_span_begin/end of a caller), in a bounded ring that an exporter drains
 * in batches.
 *
 * Why in the runtime rather than in each binding: a span built by the
 * OpenTelemetry Python SDK per message cost ~17 us, several times a whole
 * Python ask (~2 us), and the time it held the GIL pushed the asker past
 * its spin into a futex sleep (an ask with one SDK span per receive took
 * ~84 us, bench/RESULTS_http.md). Recorded here a span costs two clock
 * reads, a random id and a copy into its thread's own ring; the Python side
 * turns records into SDK span objects lazily, off the message path.
 *
 * Recording is process-wide, like the trace context it records: trace ids
 * cross systems and nodes. Each recording thread has its own ring; a full
 * ring drops new spans and counts them
 * (an exporter that falls behind must not slow the actors down).
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "label.h"
#include "spans.h"
#include "trace.h"

_Atomic unsigned za__spans_langs;

/* One ring per recording thread (the caller of a traced ask and the worker
 * that handles it push at nearly the same moment: one shared ring made them
 * contend for its lock and cache line on every ask). A ring is
 * single-producer (its thread) / single-consumer (the drainer, under g_mu):
 * the producer publishes a span with a release store of tail, the drainer
 * frees slots with a release store of head. g_mu guards the list of rings,
 * draining and waiting, never a push. */
typedef struct tring {
    _Alignas(64) _Atomic size_t tail; /* producer: spans pushed */
    _Atomic size_t mark;              /* wake the waiter at this fill (0: none waits) */
    _Atomic int64_t open;             /* recorded handler spans running on the owner */
    _Alignas(64) _Atomic size_t head; /* consumer: spans drained */
    _Atomic bool dead;                /* the owner ended or left it: free once empty */
    size_t cap;
    size_t avail, taken; /* the drainer's, under g_mu */
    struct tring *next;
    za_span *buf;
} tring;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static tring *g_rings;       /* under g_mu */
static _Atomic size_t g_cap; /* capacity of each thread's ring (0: never enabled) */
static _Atomic uint64_t g_dropped;
static _Thread_local tring *tl_ring;
static pthread_key_t g_key; /* its destructor retires a thread's ring */
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void ring_retire(void *p) {
    /* release: pairs with the drainer's acquire load of dead (what the
     * owner pushed is visible before the ring may be freed) */
    if (p) atomic_store_explicit(&((tring *)p)->dead, true, memory_order_release);
}

static void key_init(void) {
    if (pthread_key_create(&g_key, ring_retire) != 0) g_key = (pthread_key_t)-1;
}

/* This thread's ring, made (or remade after a capacity change) on first
 * use: NULL when out of memory or never enabled. */
static tring *my_ring(void) {
    tring *r = tl_ring;
    size_t cap = atomic_load_explicit(&g_cap, memory_order_relaxed);
    if (ZA_LIKELY(r && r->cap == cap)) return r;
    if (!cap) return NULL;
    pthread_once(&g_key_once, key_init);
    tring *n = calloc(1, sizeof *n);
    za_span *buf = n ? malloc(cap * sizeof *buf) : NULL;
    if (!buf) {
        free(n);
        return NULL;
    }
    n->buf = buf;
    n->cap = cap;
    pthread_mutex_lock(&g_mu);
    n->next = g_rings;
    g_rings = n;
    pthread_mutex_unlock(&g_mu);
    if (r) ring_retire(r);
    tl_ring = n;
    if (g_key != (pthread_key_t)-1) pthread_setspecific(g_key, n);
    return n;
}

static size_t ring_fill(tring *r) {
    /* acquire on tail: pairs with push's release (the slots are written) */
    return atomic_load_explicit(&r->tail, memory_order_acquire) -
           atomic_load_explicit(&r->head, memory_order_relaxed);
}

/* Under g_mu: free rings whose owner is gone once they are empty. */
static void reap(void) {
    for (tring **pp = &g_rings; *pp;) {
        tring *r = *pp;
        /* acquire: pairs with ring_retire's and span end's releases */
        if (atomic_load_explicit(&r->dead, memory_order_acquire) && !ring_fill(r) &&
            atomic_load_explicit(&r->open, memory_order_acquire) == 0) {
            *pp = r->next;
            free(r->buf);
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

static void drop(void) {
    atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
}

static void push_to(tring *r, const za_span *sp) {
    if (!r) {
        drop();
        return;
    }
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* acquire: pairs with the drainer's release of head (the slot is free) */
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) >= r->cap) {
        drop();
        return;
    }
    r->buf[t % r->cap] = *sp;
    /* release: pairs with the drainer's acquire of tail */
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    size_t m = atomic_load_explicit(&r->mark, memory_order_relaxed);
    if (ZA_UNLIKELY(m) && t + 1 - atomic_load_explicit(&r->head, memory_order_relaxed) >= m) {
        atomic_store_explicit(&r->mark, 0, memory_order_relaxed);
        pthread_mutex_lock(&g_mu); /* the waiter is in its wait or has not counted yet */
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
}

static void push(const za_span *sp) {
    push_to(my_ring(), sp);
}

static uint64_t real_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall clock = monotonic clock + this offset, taken when recording is
 * turned on: one clock read per span edge instead of two (a clock read
 * was a third of a traced tell's time on this VM), and the start, the
 * end and the mailbox wait of a span come from the same clock. */
static _Atomic uint64_t g_real_off;

static uint64_t wall(uint64_t mono) {
    uint64_t off = atomic_load_explicit(&g_real_off, memory_order_relaxed);
    if (ZA_UNLIKELY(!off)) { /* a caller span before recording was ever on */
        off = real_ns() - za__now_ns();
        atomic_store_explicit(&g_real_off, off, memory_order_relaxed);
    }
    return mono + off;
}

/* Span and trace ids: W3C wants them random and non-zero. A per-thread
 * xorshift64* seeded from the kernel: ids need to be unique, not secret. */
static _Thread_local uint64_t tl_rng;

static uint64_t rnd(void) {
    if (ZA_UNLIKELY(!tl_rng)) {
        if (getrandom(&tl_rng, sizeof tl_rng, GRND_NONBLOCK) != sizeof tl_rng)
            tl_rng = za__now_ns() ^ (uint64_t)(uintptr_t)&tl_rng;
        tl_rng |= 1;
    }
    tl_rng ^= tl_rng >> 12;
    tl_rng ^= tl_rng << 25;
    tl_rng ^= tl_rng >> 27;
    return tl_rng * 2685821657736338717ull;
}

static void new_id(uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r;
        do r = rnd();
        while (!r);
        memcpy(out + i, &r, 8);
    }
}

/* Under g_mu: spans buffered in all rings. */
static size_t total(void) {
    size_t n = 0;
    for (tring *r = g_rings; r; r = r->next) n += ring_fill(r);
    return n;
}

int za_spans_enable(unsigned langs, uint32_t capacity) {
    size_t cap = capacity ? capacity : 16384;
    int rc = ZA_OK;
    pthread_mutex_lock(&g_mu);
    reap();
    size_t n;
    if (langs && cap != atomic_load_explicit(&g_cap, memory_order_relaxed)) {
        if ((n = total()))
            rc =
                za__fail(ZA_EINVAL, "the span buffer holds %zu spans: drain it before resizing", n);
        else /* each thread makes a ring of the new size at its next span */
            atomic_store_explicit(&g_cap, cap, memory_order_relaxed);
    }
    if (rc == ZA_OK && langs)
        atomic_store_explicit(&g_real_off, real_ns() - za__now_ns(), memory_order_relaxed);
    if (rc == ZA_OK) atomic_store_explicit(&za__spans_langs, langs, memory_order_relaxed);
    pthread_mutex_unlock(&g_mu);
    return rc;
}

unsigned za_spans_enabled(void) {
    return atomic_load_explicit(&za__spans_langs, memory_order_relaxed);
}

/* Oldest first across threads: each ring is in the order its spans ended,
 * so a merge on the end time (a few rings: a linear pick, then a run of
 * the picked ring up to the next ring's oldest). */
size_t za_spans_drain(za_span *out, size_t max) {
    if (!out) return 0;
    size_t got = 0;
    pthread_mutex_lock(&g_mu);
    for (tring *r = g_rings; r; r = r->next) r->taken = 0, r->avail = ring_fill(r);
    while (got < max) {
        /* the ring whose next span ended first, and the end time it may
         * run up to before another ring's next span is older */
        tring *best = NULL;
        uint64_t best_end = 0, next_end = UINT64_MAX;
        for (tring *r = g_rings; r; r = r->next) {
            if (r->taken == r->avail) continue;
            size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
            uint64_t e = r->buf[(h + r->taken) % r->cap].end_ns;
            if (!best || e < best_end) {
                if (best) next_end = best_end < next_end ? best_end : next_end;
                best = r, best_end = e;
            } else if (e < next_end) {
                next_end = e;
            }
        }
        if (!best) break;
        size_t h = atomic_load_explicit(&best->head, memory_order_relaxed);
        do {
            out[got++] = best->buf[(h + best->taken) % best->cap];
            best->taken++;
        } while (got < max && best->taken < best->avail &&
                 best->buf[(h + best->taken) % best->cap].end_ns <= next_end);
    }
    for (tring *r = g_rings; r; r = r->next) {
        /* release: pairs with push's acquire of head (the slots were read) */
        if (r->taken) atomic_fetch_add_explicit(&r->head, r->taken, memory_order_release);
    }
    reap();
    pthread_mutex_unlock(&g_mu);
    return got;
}

size_t za_spans_wait(size_t min, uint32_t timeout_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&g_mu);
    size_t n;
    while ((n = total()) < min) {
        /* each ring wakes us once it holds its share of what is missing
         * more than now: a ring that reaches it means progress */
        size_t rings = 0;
        for (tring *r = g_rings; r; r = r->next) rings++;
        size_t share = rings ? (min - n + rings - 1) / rings : 1;
        for (tring *r = g_rings; r; r = r->next)
            atomic_store_explicit(&r->mark, ring_fill(r) + share, memory_order_relaxed);
        int w = pthread_cond_timedwait(&g_cv, &g_mu, &dl);
        for (tring *r = g_rings; r; r = r->next)
            atomic_store_explicit(&r->mark, 0, memory_order_relaxed);
        if (w != 0) break;
    }
    n = total();
    pthread_mutex_unlock(&g_mu);
    return n;
}

uint64_t za_spans_dropped(void) {
    return atomic_load_explicit(&g_dropped, memory_order_relaxed);
}

static int64_t open_spans(void) {
    int64_t n = 0;
    pthread_mutex_lock(&g_mu);
    /* acquire: pairs with the release decrement in za__span_recv_end, so a
     * span whose handler is seen finished is in its ring */
    for (tring *r = g_rings; r; r = r->next)
        n += atomic_load_explicit(&r->open, memory_order_acquire);
    pthread_mutex_unlock(&g_mu);
    return n;
}

int za_spans_quiesce(uint32_t timeout_ms) {
    uint64_t end = za__now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (open_spans() > 0) {
        if (za__now_ns() >= end) return ZA_ETIMEDOUT;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return ZA_OK;
}

static unsigned lang_of(const za_behaviour *b, const char **name) {
    if (b->host && b->host->name) {
        *name = b->host->name;
        return strcmp(*name, "python") == 0 ? ZA_SPANS_PYTHON : ZA_SPANS_OTHER;
    }
    if (b->name && strcmp(b->name, "lua") == 0) {
        *name = "lua";
        return ZA_SPANS_LUA;
    }
    *name = "c";
    return ZA_SPANS_C;
}

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

void za__span_recv_begin(za_ctx *c, const za_msgnode *m, const za_behaviour *b, za_span_open *o) {
    unsigned langs = atomic_load_explicit(&za__spans_langs, memory_order_relaxed);
    const char *lang;
    /* replies to a za_ctx_ask continue the asker's handler: not a new span */
    if (!langs || !(za__tl_trace.t.flags & 1) || (m->flags & (ZA_MF_REPLY | ZA_MF_SYSTEM)) ||
        !(lang_of(b, &lang) & langs))
        return;
    o->on = true;
    o->tag = m->tag;
    memcpy(o->parent, za__tl_trace.t.span_id, 8);
    new_id(za__tl_trace.t.span_id, 8); /* what the handler sends is our child */
    uint64_t now = za__now_ns();
    o->wait_ns = (m->flags & (ZA_MF_TIMED | ZA_MF_ENQ)) && now > m->enq_ns ? now - m->enq_ns : 0;
    o->start_ns = wall(now);
    tring *r = my_ring();
    o->ring = r;
    /* (only this thread writes its ring's count: no contention) */
    if (r) atomic_fetch_add_explicit(&r->open, 1, memory_order_relaxed);
    (void)c;
}

void za__span_recv_end(za_ctx *c, const za_behaviour *b, za_span_open *o, int rc) {
    za_span sp;
    sp.end_ns = wall(za__now_ns());
    sp.start_ns = o->start_ns;
    sp.wait_ns = o->wait_ns;
    sp.ctx = za__tl_trace.t;
    memcpy(sp.parent_span_id, o->parent, 8);
    sp.kind = ZA_SPAN_RECEIVE;
    sp.failed = rc != 0;
    sp.tag = o->tag;
    sp.actor = c->self;
    const char *lang, *label = za__actor_label(c->a);
    lang_of(b, &lang);
    copy_str(sp.behaviour, sizeof sp.behaviour, label ? label : b->name ? b->name : "?");
    copy_str(sp.language, sizeof sp.language, lang);
    push(&sp);
    /* release: pairs with open_spans's acquire (the span is pushed) */
    if (o->ring) atomic_fetch_sub_explicit(&((tring *)o->ring)->open, 1, memory_order_release);
}

void za_span_begin(za_span_scope *sc, int kind, za_ref target) {
    if (!sc) return;
    /* field by field: the record is 176 bytes and this is on the caller's
     * path (an ask waits for it) */
    memset(sc->span.parent_span_id, 0, sizeof sc->span.parent_span_id);
    sc->span.failed = 0;
    sc->span.tag = 0;
    sc->span.wait_ns = 0;
    sc->span.behaviour[0] = sc->span.language[0] = '\0';
    sc->had = za__tl_trace.on;
    if (sc->had) {
        sc->prev = za__tl_trace.t;
        memcpy(sc->span.ctx.trace_id, sc->prev.trace_id, 16);
        memcpy(sc->span.parent_span_id, sc->prev.span_id, 8);
        sc->span.ctx.flags = sc->prev.flags;
    } else {
        new_id(sc->span.ctx.trace_id, 16);
        sc->span.ctx.flags = 1; /* a new trace is sampled */
    }
    new_id(sc->span.ctx.span_id, 8);
    sc->span.kind = (uint8_t)kind;
    sc->span.actor = target;
    sc->span.start_ns = wall(za__now_ns());
    za__tl_trace.on = true;
    za__tl_trace.t = sc->span.ctx;
}

void za_span_end(za_span_scope *sc, int failed) {
    if (!sc) return;
    sc->span.end_ns = wall(za__now_ns());
    sc->span.failed = failed != 0;
    if (atomic_load_explicit(&za__spans_langs, memory_order_relaxed) && (sc->span.ctx.flags & 1))
        push(&sc->span);
    za__tl_trace.on = sc->had != 0;
    if (sc->had) za__tl_trace.t = sc->prev;
}
