/*
 * Metrics: counters and latency histograms kept per worker (single
 * writer, no atomic read-modify-write on the hot path) and merged on read.
 *
 * Histogram buckets are log-linear: values below 16 ns get their own
 * bucket, above that each power of two is split in 8, so a percentile is
 * within 12.5% of the true value.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"
#include "system.h"

static uint32_t bucket_of(uint64_t v) {
    if (v < 16) return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v);
    uint32_t sub = (uint32_t)(v >> (e - 3)) & 7u;
    uint32_t idx = 16u + (e - 4u) * 8u + sub;
    return idx < ZA_HBUCKETS ? idx : ZA_HBUCKETS - 1;
}

/* The upper edge of a bucket, reported as its value. */
static uint64_t bucket_value(uint32_t idx) {
    if (idx < 16) return idx;
    uint32_t e = (idx - 16u) / 8u + 4u, sub = (idx - 16u) % 8u;
    return ((uint64_t)(8u + sub + 1u)) << (e - 3u);
}

uint64_t za__hist_bucket_upper(uint32_t idx) {
    return bucket_value(idx);
}

void za__hist_add(za_hist *h, uint64_t ns) {
    _Atomic uint64_t *b = &h->b[bucket_of(ns)];
    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (ns > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, ns, memory_order_relaxed);
    za__bump(&h->sum, ns);
}

void za__hist_add_atomic(za_hist *h, uint64_t ns) {
    atomic_fetch_add_explicit(&h->b[bucket_of(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, ns, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max, memory_order_relaxed);
    while (ns > m && !atomic_compare_exchange_weak(&h->max, &m, ns)) {
    }
}

static void hist_merge(za_hist *dst, za_hist *src) {
    for (int i = 0; i < ZA_HBUCKETS; i++)
        atomic_store_explicit(&dst->b[i],
                              atomic_load_explicit(&dst->b[i], memory_order_relaxed) +
                                  atomic_load_explicit(&src->b[i], memory_order_relaxed),
                              memory_order_relaxed);
    za__bump(&dst->sum, atomic_load_explicit(&src->sum, memory_order_relaxed));
    uint64_t m = atomic_load_explicit(&src->max, memory_order_relaxed);
    if (m > atomic_load_explicit(&dst->max, memory_order_relaxed))
        atomic_store_explicit(&dst->max, m, memory_order_relaxed);
}

static void summarize(za_hist *h, za_latency *out) {
    uint64_t total = 0;
    for (int i = 0; i < ZA_HBUCKETS; i++)
        total += atomic_load_explicit(&h->b[i], memory_order_relaxed);
    memset(out, 0, sizeof *out);
    out->count = total;
    /* read after the buckets: a sample landing in between makes the mean a
     * hair high, never undefined; readers want eventual, not snapshot, sums */
    out->sum_ns = atomic_load_explicit(&h->sum, memory_order_relaxed);
    if (!total) return;
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    const double qs[3] = {0.50, 0.95, 0.99};
    uint64_t *dst[3] = {&out->p50_ns, &out->p95_ns, &out->p99_ns};
    for (int q = 0; q < 3; q++) {
        uint64_t want = (uint64_t)(qs[q] * (double)total + 0.5), seen = 0;
        if (want == 0) want = 1;
        for (int i = 0; i < ZA_HBUCKETS; i++) {
            seen += atomic_load_explicit(&h->b[i], memory_order_relaxed);
            if (seen >= want) {
                uint64_t v = bucket_value((uint32_t)i);
                *dst[q] = v < max ? v : max;
                break;
            }
        }
    }
    out->max_ns = max;
}

_Thread_local uint64_t za__tl_ext_uid;
_Thread_local za_ext_counters *za__tl_ext;

za_ext_counters *za__ext_counters(za_system *s) {
    pthread_t self = pthread_self();
    pthread_mutex_lock(&s->ext_mu);
    za_ext_counters *e = s->ext_blocks;
    while (e && !pthread_equal(e->owner, self)) e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        e->owner = self;
        e->next = s->ext_blocks;
        s->ext_blocks = e;
    }
    pthread_mutex_unlock(&s->ext_mu);
    if (e) {
        za__tl_ext = e;
        za__tl_ext_uid = s->uid;
    }
    return e;
}

void za__ext_counters_free(za_system *s) {
    za_ext_counters *e = s->ext_blocks;
    while (e) {
        za_ext_counters *n = e->next;
        free(e);
        e = n;
    }
    s->ext_blocks = NULL;
}

void za__stats_merge(za_system *s, uint64_t c[ZA_NCOUNTERS], za_hist *q, za_hist *p) {
    for (int i = 0; i < ZA_NCOUNTERS; i++)
        c[i] = atomic_load_explicit(&s->ext_stats.c[i], memory_order_relaxed);
    pthread_mutex_lock(&s->ext_mu);
    for (za_ext_counters *e = s->ext_blocks; e; e = e->next)
        for (int i = 0; i < ZA_NCOUNTERS; i++)
            c[i] += atomic_load_explicit(&e->c[i], memory_order_relaxed);
    pthread_mutex_unlock(&s->ext_mu);
    if (q) hist_merge(q, &s->ext_stats.queue_lat);
    if (p) hist_merge(p, &s->ext_stats.proc_lat);
    for (int w = 0; w < s->nworkers; w++) {
        za_stats *st = &s->workers[w].stats;
        for (int i = 0; i < ZA_NCOUNTERS; i++)
            c[i] += atomic_load_explicit(&st->c[i], memory_order_relaxed);
        if (q) hist_merge(q, &st->queue_lat);
        if (p) hist_merge(p, &st->proc_lat);
    }
}

int za_metrics_read(za_system *sys, za_metrics *out) {
    if (!sys || !out) return za__fail(ZA_EINVAL, "system or out is NULL");
    uint64_t c[ZA_NCOUNTERS];
    za_hist *q = calloc(2, sizeof *q);
    if (!q) return za__fail(ZA_ENOMEM, "out of memory");
    za__stats_merge(sys, c, &q[0], &q[1]);
    memset(out, 0, sizeof *out);
    out->sent = c[ZA_C_SENT];
    out->delivered = c[ZA_C_DELIVERED];
    out->dead_letters = c[ZA_C_DEAD];
    out->restarts = c[ZA_C_RESTARTS];
    out->failures = c[ZA_C_FAILURES];
    out->spawned = c[ZA_C_SPAWNED];
    out->stopped = c[ZA_C_STOPPED];
    out->timers_fired = c[ZA_C_TIMERS];
    int64_t alive = atomic_load(&sys->alive);
    out->actors_alive = alive > 0 ? (uint64_t)alive : 0;
    /* two racy sums: the settled one may be read ahead of the made one */
    out->reply_slots =
        c[ZA_C_SLOTS_NEW] > c[ZA_C_SLOTS_DONE] ? c[ZA_C_SLOTS_NEW] - c[ZA_C_SLOTS_DONE] : 0;
    summarize(&q[0], &out->queue_latency);
    summarize(&q[1], &out->process_latency);
    free(q);
    return ZA_OK;
}

/* Appends like snprintf but keeps counting past the end of buf. */
typedef struct outbuf {
    char *buf;
    size_t cap, len;
} outbuf;

static void put(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(outbuf *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

static void put_summary(outbuf *o, const char *name, const char *help, const za_latency *l) {
    put(o, "# HELP %s %s\n# TYPE %s summary\n", name, help, name);
    put(o, "%s{quantile=\"0.5\"} %.9f\n", name, (double)l->p50_ns / 1e9);
    put(o, "%s{quantile=\"0.95\"} %.9f\n", name, (double)l->p95_ns / 1e9);
    put(o, "%s{quantile=\"0.99\"} %.9f\n", name, (double)l->p99_ns / 1e9);
    put(o, "%s{quantile=\"1\"} %.9f\n", name, (double)l->max_ns / 1e9);
    /* the exposition format's summary is quantiles, then _sum and _count */
    put(o, "%s_sum %.9f\n", name, (double)l->sum_ns / 1e9);
    put(o, "%s_count %llu\n", name, (unsigned long long)l->count);
}

int za_metrics_prometheus(za_system *sys, char *buf, size_t cap) {
    if (!sys || (!buf && cap)) return za__fail(ZA_EINVAL, "system or buf is NULL");
    za_metrics m;
    int rc = za_metrics_read(sys, &m);
    if (rc) return rc;
    outbuf o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    struct {
        const char *name, *help, *type;
        uint64_t v;
    } rows[] = {
        {"zactor_messages_sent_total", "User messages accepted by mailboxes.", "counter", m.sent},
        {"zactor_messages_delivered_total", "Messages handed to a behaviour.", "counter",
         m.delivered},
        {"zactor_dead_letters_total", "Messages that could not be delivered.", "counter",
         m.dead_letters},
        {"zactor_restarts_total", "Actor restarts by supervisors.", "counter", m.restarts},
        {"zactor_failures_total", "Actor failures (start or receive).", "counter", m.failures},
        {"zactor_actors_spawned_total", "Actors spawned.", "counter", m.spawned},
        {"zactor_actors_stopped_total", "Actors stopped.", "counter", m.stopped},
        {"zactor_timers_fired_total", "Timer sends delivered to mailboxes.", "counter",
         m.timers_fired},
        {"zactor_actors_alive", "Actors currently alive.", "gauge", m.actors_alive},
        {"zactor_reply_slots", "Asks awaiting an answer.", "gauge", m.reply_slots},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        put(&o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", rows[i].name, rows[i].help, rows[i].name,
            rows[i].type, rows[i].name, (unsigned long long)rows[i].v);
    put_summary(&o, "zactor_queue_latency_seconds",
                "Time from enqueue to start of processing (sampled).", &m.queue_latency);
    put_summary(&o, "zactor_processing_seconds", "Time spent in receive per message (sampled).",
                &m.process_latency);
    if (o.len > (size_t)0x7fffffff) return za__fail(ZA_ETOOBIG, "exposition too large");
    return (int)o.len;
}
