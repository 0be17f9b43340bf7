/*
 * GET /metrics: the Prometheus text exposition format (version 0.0.4).
 *
 * - the system's counters and gauges (the same numbers as za_metrics_read);
 * - the latency histograms as real histograms: the runtime keeps 496
 *   log-linear buckets (12.5% wide) per worker; they are merged and folded
 *   into the fixed `le` bounds below (each internal bucket counts under the
 *   first bound at or above its upper edge, so a bound may be up to 12.5%
 *   generous); `_sum` is the exact sum the histograms keep;
 * - per behaviour (labels behaviour and language): live actors, queued
 *   messages, the deepest mailbox, messages handled and restarts of the
 *   live actors (gauges: actors that die take their numbers with them).
 *
 * Label values are escaped as the format requires (backslash, double
 * quote, newline).
 */
#include <stdio.h>
#include <stdlib.h>

#include "http/http.h"
#include "http/json.h"
#include "stats.h"
#include "system.h"

static const double bounds_s[] = {1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5,   1e-4, 2.5e-4,
                                  5e-4, 1e-3,   2.5e-3, 5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,
                                  0.25, 0.5,    1.0,    2.5,  5.0,    10.0};
#define NBOUNDS (sizeof bounds_s / sizeof bounds_s[0])

static void put_hist(za_jw *w, const char *name, const char *help, const za_hist *h) {
    uint64_t cum[NBOUNDS + 1] = {0}; /* per bound, then +Inf */
    uint64_t total = 0;
    double sum = (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / 1e9;
    for (uint32_t i = 0; i < ZA_HBUCKETS; i++) {
        uint64_t upper = za__hist_bucket_upper(i);
        uint64_t n = atomic_load_explicit(&h->b[i], memory_order_relaxed);
        if (n) {
            size_t k = 0;
            while (k < NBOUNDS && (double)upper > bounds_s[k] * 1e9) k++;
            cum[k] += n;
            total += n;
        }
    }
    za__jw_fmt(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t run = 0;
    for (size_t k = 0; k < NBOUNDS; k++) {
        run += cum[k];
        za__jw_fmt(w, "%s_bucket{le=\"%g\"} %llu\n", name, bounds_s[k], (unsigned long long)run);
    }
    za__jw_fmt(w, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)total);
    za__jw_fmt(w, "%s_sum %.9f\n%s_count %llu\n", name, sum, name, (unsigned long long)total);
}

/* A label value with \\, \" and \n escaped. */
static void put_label(za_jw *w, const char *v) {
    for (; *v; v++) {
        if (*v == '\\')
            za__jw_raw(w, "\\\\", 2);
        else if (*v == '"')
            za__jw_raw(w, "\\\"", 2);
        else if (*v == '\n')
            za__jw_raw(w, "\\n", 2);
        else
            za__jw_raw(w, v, 1);
    }
}

typedef struct beh_row {
    char behaviour[64], language[16];
    uint64_t actors, depth, depth_max, processed, restarts;
} beh_row;

typedef struct beh_rows {
    beh_row *v;
    size_t n, cap;
    bool oom;
} beh_rows;

static int by_behaviour(const za_actor_view *a, void *ud) {
    beh_rows *rs = ud;
    beh_row *r = NULL;
    for (size_t i = 0; i < rs->n; i++) /* few distinct behaviours: a linear scan */
        if (strcmp(rs->v[i].behaviour, a->behaviour) == 0 &&
            strcmp(rs->v[i].language, a->language) == 0) {
            r = &rs->v[i];
            break;
        }
    if (!r) {
        if (rs->n == rs->cap) {
            size_t nc = rs->cap ? rs->cap * 2 : 16;
            beh_row *nv = realloc(rs->v, nc * sizeof *nv);
            if (!nv) {
                rs->oom = true;
                return 1;
            }
            rs->v = nv;
            rs->cap = nc;
        }
        r = &rs->v[rs->n++];
        memset(r, 0, sizeof *r);
        memcpy(r->behaviour, a->behaviour, sizeof r->behaviour);
        memcpy(r->language, a->language, sizeof r->language);
    }
    r->actors++;
    r->depth += a->mailbox_depth;
    if (a->mailbox_depth > r->depth_max) r->depth_max = a->mailbox_depth;
    r->processed += a->processed;
    r->restarts += a->restarts;
    return 0;
}

static void put_per_behaviour(za_jw *w, const beh_rows *rs, const char *name, const char *help,
                              size_t off) {
    za__jw_fmt(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t i = 0; i < rs->n; i++) {
        const beh_row *r = &rs->v[i];
        za__jw_fmt(w, "%s{behaviour=\"", name);
        put_label(w, r->behaviour);
        za__jw_raw(w, "\",language=\"", 12);
        put_label(w, r->language);
        za__jw_fmt(w, "\"} %llu\n", (unsigned long long)*(const uint64_t *)((const char *)r + off));
    }
}

int za__http_metrics(za_system *s, char **body, size_t *len) {
    uint64_t c[ZA_NCOUNTERS];
    za_hist *h = calloc(2, sizeof *h);
    beh_rows rs = {0};
    if (!h) {
        *body = NULL;
        return 500;
    }
    za__stats_merge(s, c, &h[0], &h[1]);
    za_actors_visit(s, by_behaviour, &rs);
    za_jw w;
    za__jw_init(&w);
    struct {
        const char *name, *help, *type;
        uint64_t v;
    } rows[] = {
        {"zactor_messages_sent_total", "User messages accepted by mailboxes.", "counter",
         c[ZA_C_SENT]},
        {"zactor_messages_delivered_total", "Messages handed to a behaviour.", "counter",
         c[ZA_C_DELIVERED]},
        {"zactor_dead_letters_total", "Messages that could not be delivered.", "counter",
         c[ZA_C_DEAD]},
        {"zactor_restarts_total", "Actor restarts by supervisors.", "counter", c[ZA_C_RESTARTS]},
        {"zactor_failures_total", "Actor failures (start or receive).", "counter",
         c[ZA_C_FAILURES]},
        {"zactor_actors_spawned_total", "Actors spawned.", "counter", c[ZA_C_SPAWNED]},
        {"zactor_actors_stopped_total", "Actors stopped.", "counter", c[ZA_C_STOPPED]},
        {"zactor_timers_fired_total", "Timer sends delivered to mailboxes.", "counter",
         c[ZA_C_TIMERS]},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        za__jw_fmt(&w, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", rows[i].name, rows[i].help,
                   rows[i].name, rows[i].type, rows[i].name, (unsigned long long)rows[i].v);
    int64_t alive = atomic_load(&s->alive);
    za__jw_fmt(&w,
               "# HELP zactor_actors_alive Actors currently alive.\n"
               "# TYPE zactor_actors_alive gauge\nzactor_actors_alive %lld\n",
               (long long)(alive > 0 ? alive : 0));
    uint64_t pending = c[ZA_C_SLOTS_NEW] > c[ZA_C_SLOTS_DONE]
                           ? c[ZA_C_SLOTS_NEW] - c[ZA_C_SLOTS_DONE]
                           : 0; /* (as za_metrics_read) */
    za__jw_fmt(&w,
               "# HELP zactor_reply_slots Asks awaiting an answer.\n"
               "# TYPE zactor_reply_slots gauge\nzactor_reply_slots %llu\n",
               (unsigned long long)pending);
    za__jw_fmt(&w,
               "# HELP zactor_workers Worker threads.\n# TYPE zactor_workers gauge\n"
               "zactor_workers %d\n",
               za_system_workers(s));
    const char *not_ready = NULL;
    za__jw_fmt(&w,
               "# HELP zactor_ready 1 while the workers run and the system is not "
               "shutting down (in a cluster: and this node is a member that reaches Redis).\n"
               "# TYPE zactor_ready gauge\nzactor_ready %d\n",
               za__http_ready(s, &not_ready) ? 1 : 0);
    put_hist(&w, "zactor_queue_latency_seconds",
             "Time from enqueue to start of processing (sampled).", &h[0]);
    put_hist(&w, "zactor_processing_seconds", "Time spent in receive per message (sampled).",
             &h[1]);
    put_per_behaviour(&w, &rs, "zactor_behaviour_actors", "Live actors per behaviour.",
                      offsetof(beh_row, actors));
    put_per_behaviour(&w, &rs, "zactor_behaviour_mailbox_depth",
                      "User messages queued in the mailboxes of a behaviour's live actors.",
                      offsetof(beh_row, depth));
    put_per_behaviour(&w, &rs, "zactor_behaviour_mailbox_depth_max",
                      "The deepest mailbox among a behaviour's live actors.",
                      offsetof(beh_row, depth_max));
    put_per_behaviour(&w, &rs, "zactor_behaviour_messages_handled",
                      "Messages handled by a behaviour's live actors.",
                      offsetof(beh_row, processed));
    put_per_behaviour(&w, &rs, "zactor_behaviour_restarts",
                      "Restarts of a behaviour's live actors.", offsetof(beh_row, restarts));
    free(rs.v);
    free(h);
    *body = za__jw_take(&w, len);
    return 200;
}
