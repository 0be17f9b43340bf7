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
 * reads, a random id and a copy under an uncontended lock; the Python side
 * turns records into SDK span objects lazily, off the message path.
 *
 * The ring is process-wide, like the trace context it records: trace ids
 * cross systems and nodes. A full ring drops new spans and counts them
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

/* Held for a 184-byte copy. The sender of a traced ask and the worker that
 * handles it push at nearly the same moment (the caller span ends as the
 * receive span does): an adaptive mutex spins briefly instead of putting
 * the loser to sleep in the kernel, which would cost more than the copy. */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
static pthread_mutex_t g_mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
#else
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
#endif
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static za_span *g_ring;
static size_t g_cap, g_head, g_n; /* oldest at g_head */
static size_t g_want;             /* a waiter wants this many (0: none waits) */
static _Atomic uint64_t g_dropped;
static _Atomic int64_t g_open; /* recorded handler spans running now */

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

static void push(const za_span *sp) {
    pthread_mutex_lock(&g_mu);
    if (!g_ring || g_n == g_cap) {
        pthread_mutex_unlock(&g_mu);
        atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
        return;
    }
    g_ring[(g_head + g_n) % g_cap] = *sp;
    g_n++;
    if (g_want && g_n >= g_want) {
        g_want = 0;
        pthread_cond_broadcast(&g_cv);
    }
    pthread_mutex_unlock(&g_mu);
}

int za_spans_enable(unsigned langs, uint32_t capacity) {
    size_t cap = capacity ? capacity : 16384;
    int rc = ZA_OK;
    pthread_mutex_lock(&g_mu);
    if (langs && cap != g_cap) {
        if (g_n) {
            rc = za__fail(ZA_EINVAL, "the span buffer holds %zu spans: drain it before resizing",
                          g_n);
        } else {
            za_span *r = malloc(cap * sizeof *r);
            if (!r) {
                rc = za__fail(ZA_ENOMEM, "out of memory for %zu spans", cap);
            } else {
                free(g_ring);
                g_ring = r;
                g_cap = cap;
                g_head = 0;
            }
        }
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

size_t za_spans_drain(za_span *out, size_t max) {
    if (!out) return 0;
    pthread_mutex_lock(&g_mu);
    size_t n = g_n < max ? g_n : max;
    for (size_t i = 0; i < n; i++) out[i] = g_ring[(g_head + i) % g_cap];
    if (n) {
        g_head = (g_head + n) % g_cap;
        g_n -= n;
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

size_t za_spans_wait(size_t min, uint32_t timeout_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&g_mu);
    while (g_n < min) {
        g_want = min;
        if (pthread_cond_timedwait(&g_cv, &g_mu, &dl) != 0) break;
    }
    size_t n = g_n;
    pthread_mutex_unlock(&g_mu);
    return n;
}

uint64_t za_spans_dropped(void) {
    return atomic_load_explicit(&g_dropped, memory_order_relaxed);
}

int za_spans_quiesce(uint32_t timeout_ms) {
    uint64_t end = za__now_ns() + (uint64_t)timeout_ms * 1000000ull;
    /* acquire: pairs with the release decrement in za__span_recv_end, so a
     * span whose handler is seen finished is in the ring */
    while (atomic_load_explicit(&g_open, memory_order_acquire) > 0) {
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
    atomic_fetch_add_explicit(&g_open, 1, memory_order_relaxed);
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
    /* release: pairs with za_spans_quiesce's acquire (the span is pushed) */
    atomic_fetch_sub_explicit(&g_open, 1, memory_order_release);
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
