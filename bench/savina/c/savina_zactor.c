/*
 * savina_zactor.c - the eight Savina workloads of bench/savina/README.md on
 * zactor's native C actors.
 *
 *   savina_zactor [--runtime zactor-c] <workload> key=value ...
 *
 * Runs the workload once and prints one JSON line on stdout (the contract
 * of bench/savina/README.md). The system (workers = online cores) is
 * created before the clock starts; the clock runs from the first spawn to
 * the verified answer.
 *
 * Shape shared by all workloads: main spawns one top-level "driver" actor
 * and asks it T_GO. The driver keeps the reply slot (za_ctx_take_reply),
 * runs the workload with its own children, and answers the ask with the
 * result once the workload is complete. Message kinds are tags; payloads
 * are small plain structs copied into the message node (at most 48 bytes
 * stay inline, no second allocation).
 *
 * Long loops (counting's increments, fjthrput's messages, fjcreate's
 * spawns) run in one handler, as in Savina. Built with -DCHUNK=256 they run
 * in chunks that continue through a T_MORE message to the actor itself
 * (how a zactor program keeps a long loop from holding a worker); the
 * results table uses the Savina shape.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sysconf under -std=c11 */
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zactor.h"

#define RUNTIME_NAME "zactor-c"
/* Items per turn of the long loops (see the top of the file): by default
 * all of them, as Savina does. */
#ifndef CHUNK
#define CHUNK 4294967295u
#endif
#define ASK_TIMEOUT_MS 300000u /* a hung workload fails after 5 minutes */

/* Message tags, one per message kind, shared by all workloads. */
enum {
    T_GO = 1,    /* main -> driver: start; answered with the result */
    T_RESULT,    /* the driver's answer (uint64) */
    T_PING,      /* pingpong, big */
    T_PONG,      /* pingpong, big */
    T_INC,       /* counting */
    T_GET,       /* counting */
    T_TOTAL,     /* counting: the counter's reply */
    T_WORK,      /* fjthrput, fjcreate: one computation (payload: theta) */
    T_DONE,      /* fjthrput, fjcreate, threadring, big: a report (uint64) */
    T_NEXT,      /* threadring: the successor's ref */
    T_TOKEN,     /* threadring */
    T_MEET,      /* chameneos: creature -> mall, and mall -> waiting creature */
    T_CHANGE,    /* chameneos: creature -> creature */
    T_EXIT,      /* chameneos: mall -> creature */
    T_COUNT,     /* chameneos: creature -> mall (its meetings) */
    T_NEIGHBORS, /* big: the shared array of all refs (PTR payload) */
    T_START,     /* big, skynet */
    T_SUM,       /* skynet */
    T_MORE,      /* counting, fjthrput, fjcreate: to self, continue the loop */
};

/* Workload parameters (read-only once the run starts; actors reach them
 * through za_ctx_user). */
typedef struct params {
    uint64_t n, a, r, c, w, leaves;
} params;

static const params *P(za_ctx *ctx) {
    return (const params *)za_ctx_user(ctx);
}

/* Spawn a child that sees the parameters. */
static int spawn_child(za_ctx *ctx, const za_behaviour *beh, const void *args, size_t len,
                       za_ref *out) {
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.user = za_ctx_user(ctx);
    return za_ctx_spawn(ctx, beh, args, len, &o, out);
}

static int tell(za_ctx *ctx, za_ref to, int32_t tag, const void *data, size_t len) {
    return za_tell(za_ctx_system(ctx), to, tag, data, len);
}

static int tell_u64(za_ctx *ctx, za_ref to, int32_t tag, uint64_t v) {
    return za_tell(za_ctx_system(ctx), to, tag, &v, sizeof v);
}

static uint64_t msg_u64(const za_msg *m) {
    uint64_t v = 0;
    if (m->len == sizeof v) memcpy(&v, m->data, sizeof v);
    return v;
}

/* Answer main's T_GO ask with the result. */
static int answer(za_ctx *ctx, za_reply_slot **slot, uint64_t result) {
    za_reply_slot *r = *slot;
    *slot = NULL;
    if (!r) return 1; /* no pending ask: a protocol error */
    return za_reply_send(za_ctx_system(ctx), r, T_RESULT, &result, sizeof result);
}

/* Every driver's state starts with the reply slot of main's ask. A driver
 * whose handler fails answers that ask with the error, so main does not
 * wait for an answer that will never come. */
static int driver_failed(za_ctx *ctx, int rc) {
    za_reply_slot **slot = za_ctx_state(ctx);
    if (rc && slot && *slot) {
        za_reply_error(za_ctx_system(ctx), *slot, ZA_EFAILED, "the workload failed");
        *slot = NULL;
    }
    return rc;
}

/* The receive callback of a driver: its handler, guarded. */
#define DRIVER_RECEIVE(fn)                                                                         \
    static int fn##_guarded(za_ctx *ctx, const za_msg *m) {                                        \
        return driver_failed(ctx, fn(ctx, m));                                                     \
    }

/* Savina's performComputation: s = sin(theta), r = s * s. theta arrives in
 * the message, so the compiler cannot fold it; a non-positive r is counted
 * as an error, which keeps the result live (Savina throws there). */
static int perform_computation(double theta) {
    double s = sin(theta);
    double r = s * s;
    return r <= 0.0;
}

/* ================================================================ pingpong */

typedef struct ping_state {
    za_reply_slot *reply; /* first: see driver_failed */
    za_ref pong;
    uint64_t pongs;
} ping_state;

static int pong_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_PING) return tell(ctx, m->sender, T_PONG, NULL, 0);
    return 0;
}
static const za_behaviour pong_beh = {ZA_BEHAVIOUR_INIT, .name = "pong", .receive = pong_receive};

static int ping_receive(za_ctx *ctx, const za_msg *m) {
    ping_state *st = za_ctx_state(ctx);
    switch (m->tag) {
    case T_GO: {
        st->reply = za_ctx_take_reply(ctx);
        int rc = spawn_child(ctx, &pong_beh, NULL, 0, &st->pong);
        if (rc) return rc;
        if (P(ctx)->n == 0) return answer(ctx, &st->reply, 0);
        return tell(ctx, st->pong, T_PING, NULL, 0);
    }
    case T_PONG:
        if (++st->pongs == P(ctx)->n) return answer(ctx, &st->reply, st->pongs);
        return tell(ctx, st->pong, T_PING, NULL, 0);
    default:
        return 0;
    }
}
DRIVER_RECEIVE(ping_receive)
static const za_behaviour ping_beh = {ZA_BEHAVIOUR_INIT, .name = "ping",
                                      .state_size = sizeof(ping_state),
                                      .receive = ping_receive_guarded};

/* ================================================================ counting */

static int counter_receive(za_ctx *ctx, const za_msg *m) {
    uint64_t *count = za_ctx_state(ctx);
    if (m->tag == T_INC) {
        ++*count;
        return 0;
    }
    if (m->tag == T_GET) return tell_u64(ctx, m->sender, T_TOTAL, *count);
    return 0;
}
static const za_behaviour counter_beh = {ZA_BEHAVIOUR_INIT, .name = "counter",
                                         .state_size = sizeof(uint64_t),
                                         .receive = counter_receive};

typedef struct producer_state {
    za_reply_slot *reply; /* first: see driver_failed */
    za_ref counter;
    uint64_t sent;
} producer_state;

/* Send the next chunk of increments, then continue through a message to
 * ourselves; after the last one, ask for the total. */
static int producer_send_some(za_ctx *ctx, producer_state *st) {
    uint64_t n = P(ctx)->n;
    uint64_t end = n - st->sent > CHUNK ? st->sent + CHUNK : n;
    za_system *sys = za_ctx_system(ctx);
    for (; st->sent < end; st->sent++) {
        int rc = za_tell(sys, st->counter, T_INC, NULL, 0);
        if (rc) return rc;
    }
    if (st->sent < n) return tell(ctx, za_ctx_self(ctx), T_MORE, NULL, 0);
    return za_tell(sys, st->counter, T_GET, NULL, 0);
}

static int producer_receive(za_ctx *ctx, const za_msg *m) {
    producer_state *st = za_ctx_state(ctx);
    switch (m->tag) {
    case T_GO: {
        st->reply = za_ctx_take_reply(ctx);
        int rc = spawn_child(ctx, &counter_beh, NULL, 0, &st->counter);
        return rc ? rc : producer_send_some(ctx, st);
    }
    case T_MORE:
        return producer_send_some(ctx, st);
    case T_TOTAL:
        return answer(ctx, &st->reply, msg_u64(m));
    default:
        return 0;
    }
}
DRIVER_RECEIVE(producer_receive)
static const za_behaviour producer_beh = {ZA_BEHAVIOUR_INIT, .name = "producer",
                                          .state_size = sizeof(producer_state),
                                          .receive = producer_receive_guarded};

/* ================================================================ fjthrput */

typedef struct tp_worker_state {
    uint64_t handled;
    uint64_t errors;
} tp_worker_state;

static int tp_worker_receive(za_ctx *ctx, const za_msg *m) {
    tp_worker_state *st = za_ctx_state(ctx);
    if (m->tag != T_WORK) return 0;
    double theta;
    memcpy(&theta, m->data, sizeof theta);
    st->errors += (uint64_t)perform_computation(theta);
    if (++st->handled == P(ctx)->n) /* a failed computation spoils the count */
        return tell_u64(ctx, za_ctx_parent(ctx), T_DONE, st->errors ? 0 : st->handled);
    return 0;
}
static const za_behaviour tp_worker_beh = {ZA_BEHAVIOUR_INIT, .name = "fjthrput-worker",
                                           .state_size = sizeof(tp_worker_state),
                                           .receive = tp_worker_receive};

typedef struct tp_driver_state {
    za_reply_slot *reply; /* first: see driver_failed */
    za_ref *workers;
    uint64_t sent; /* messages sent so far; message i goes to worker i mod a */
    uint64_t sum, reports;
} tp_driver_state;

/* Send the next chunk of messages, then continue through a message to
 * ourselves. */
static int tp_send_some(za_ctx *ctx, tp_driver_state *st) {
    const params *p = P(ctx);
    uint64_t total = p->a * p->n;
    uint64_t end = total - st->sent > CHUNK ? st->sent + CHUNK : total;
    double theta = 37.2;
    za_system *sys = za_ctx_system(ctx);
    for (uint64_t k = st->sent % p->a; st->sent < end; st->sent++) {
        int rc = za_tell(sys, st->workers[k], T_WORK, &theta, sizeof theta);
        if (rc) return rc;
        if (++k == p->a) k = 0;
    }
    if (st->sent < total) return tell(ctx, za_ctx_self(ctx), T_MORE, NULL, 0);
    return 0;
}

static int tp_driver_receive(za_ctx *ctx, const za_msg *m) {
    tp_driver_state *st = za_ctx_state(ctx);
    const params *p = P(ctx);
    switch (m->tag) {
    case T_GO:
        st->reply = za_ctx_take_reply(ctx);
        if (p->a == 0 || p->n == 0) return answer(ctx, &st->reply, 0);
        st->workers = malloc(p->a * sizeof *st->workers);
        if (!st->workers) return 1;
        for (uint64_t i = 0; i < p->a; i++) {
            int rc = spawn_child(ctx, &tp_worker_beh, NULL, 0, &st->workers[i]);
            if (rc) return rc;
        }
        return tp_send_some(ctx, st);
    case T_MORE:
        return tp_send_some(ctx, st);
    case T_DONE:
        st->sum += msg_u64(m);
        if (++st->reports == p->a) return answer(ctx, &st->reply, st->sum);
        return 0;
    default:
        return 0;
    }
}

static void tp_driver_stop(za_ctx *ctx) {
    tp_driver_state *st = za_ctx_state(ctx);
    free(st->workers);
    st->workers = NULL;
}
DRIVER_RECEIVE(tp_driver_receive)
static const za_behaviour tp_driver_beh = {
    ZA_BEHAVIOUR_INIT, .name = "fjthrput-driver", .state_size = sizeof(tp_driver_state),
    .receive = tp_driver_receive_guarded, .stop = tp_driver_stop};

/* ================================================================ fjcreate */

static int fc_worker_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag != T_WORK) return 0;
    double theta;
    memcpy(&theta, m->data, sizeof theta);
    uint64_t ok = perform_computation(theta) ? 0 : 1;
    za_ctx_stop(ctx);
    return tell_u64(ctx, za_ctx_parent(ctx), T_DONE, ok);
}
static const za_behaviour fc_worker_beh = {ZA_BEHAVIOUR_INIT, .name = "fjcreate-worker",
                                           .receive = fc_worker_receive};

typedef struct fc_driver_state {
    za_reply_slot *reply; /* first: see driver_failed */
    uint64_t spawned, reports, ok;
} fc_driver_state;

/* Spawn the next chunk of workers, then continue through a message to
 * ourselves: between chunks the runtime delivers the finished children's
 * stop notices, which keeps our list of live children short. */
static int fc_spawn_some(za_ctx *ctx, fc_driver_state *st) {
    uint64_t n = P(ctx)->n;
    uint64_t end = n - st->spawned > CHUNK ? st->spawned + CHUNK : n;
    double theta = 37.2;
    for (; st->spawned < end; st->spawned++) {
        za_ref w;
        int rc = spawn_child(ctx, &fc_worker_beh, NULL, 0, &w);
        if (rc) return rc;
        rc = tell(ctx, w, T_WORK, &theta, sizeof theta);
        if (rc) return rc;
    }
    if (st->spawned < n) return tell(ctx, za_ctx_self(ctx), T_MORE, NULL, 0);
    return 0;
}

static int fc_driver_receive(za_ctx *ctx, const za_msg *m) {
    fc_driver_state *st = za_ctx_state(ctx);
    uint64_t n = P(ctx)->n;
    if (m->tag == T_GO) {
        st->reply = za_ctx_take_reply(ctx);
        if (n == 0) return answer(ctx, &st->reply, 0);
        return fc_spawn_some(ctx, st);
    }
    if (m->tag == T_MORE) return fc_spawn_some(ctx, st);
    if (m->tag == T_DONE) {
        st->ok += msg_u64(m);
        if (++st->reports == n) return answer(ctx, &st->reply, st->ok);
    }
    return 0;
}
DRIVER_RECEIVE(fc_driver_receive)
static const za_behaviour fc_driver_beh = {ZA_BEHAVIOUR_INIT, .name = "fjcreate-driver",
                                           .state_size = sizeof(fc_driver_state),
                                           .receive = fc_driver_receive_guarded};

/* ============================================================== threadring */

typedef struct token {
    uint64_t left; /* hops still to go */
    uint64_t hops; /* hops done so far (the check) */
} token;

static int ring_receive(za_ctx *ctx, const za_msg *m) {
    za_ref *next = za_ctx_state(ctx);
    if (m->tag == T_NEXT) {
        memcpy(next, m->data, sizeof *next);
        return 0;
    }
    if (m->tag != T_TOKEN) return 0;
    token t;
    memcpy(&t, m->data, sizeof t);
    if (t.left == 0) return tell_u64(ctx, za_ctx_parent(ctx), T_DONE, t.hops);
    t.left--;
    t.hops++;
    return tell(ctx, *next, T_TOKEN, &t, sizeof t);
}
static const za_behaviour ring_beh = {ZA_BEHAVIOUR_INIT, .name = "ring",
                                      .state_size = sizeof(za_ref), .receive = ring_receive};

typedef struct ring_driver_state {
    za_reply_slot *reply; /* first: see driver_failed */
} ring_driver_state;

static int ring_driver_receive(za_ctx *ctx, const za_msg *m) {
    ring_driver_state *st = za_ctx_state(ctx);
    const params *p = P(ctx);
    if (m->tag == T_GO) {
        st->reply = za_ctx_take_reply(ctx);
        if (p->n == 0) return 1;
        za_ref *ring = malloc(p->n * sizeof *ring);
        if (!ring) return 1;
        int rc = 0;
        for (uint64_t i = 0; i < p->n && !rc; i++)
            rc = spawn_child(ctx, &ring_beh, NULL, 0, &ring[i]);
        /* each NEXT is queued before the token can reach that actor */
        for (uint64_t i = 0; i < p->n && !rc; i++)
            rc = tell(ctx, ring[i], T_NEXT, &ring[(i + 1) % p->n], sizeof(za_ref));
        token t = {.left = p->r, .hops = 0};
        if (!rc) rc = tell(ctx, ring[0], T_TOKEN, &t, sizeof t);
        free(ring);
        return rc;
    }
    if (m->tag == T_DONE) return answer(ctx, &st->reply, msg_u64(m));
    return 0;
}
DRIVER_RECEIVE(ring_driver_receive)
static const za_behaviour ring_driver_beh = {ZA_BEHAVIOUR_INIT, .name = "ring-driver",
                                             .state_size = sizeof(ring_driver_state),
                                             .receive = ring_driver_receive_guarded};

/* =============================================================== chameneos */

enum { RED = 0, YELLOW = 1, BLUE = 2 };

/* Two different colours give the third; equal colours stay. */
static uint32_t complement(uint32_t a, uint32_t b) {
    return a == b ? a : 3u - a - b;
}

typedef struct meet_msg {
    uint32_t color;
    uint32_t _pad;
    za_ref creature; /* who asks to meet (kept when the mall forwards it) */
} meet_msg;

typedef struct creature_state {
    uint32_t color;
    uint64_t meetings;
} creature_state;

static int creature_meet(za_ctx *ctx, creature_state *st) {
    meet_msg mm = {.color = st->color, ._pad = 0, .creature = za_ctx_self(ctx)};
    return tell(ctx, za_ctx_parent(ctx), T_MEET, &mm, sizeof mm);
}

static int creature_start(za_ctx *ctx, const void *args, size_t len) {
    creature_state *st = za_ctx_state(ctx);
    if (len != sizeof st->color) return 1;
    memcpy(&st->color, args, sizeof st->color);
    return creature_meet(ctx, st);
}

static int creature_receive(za_ctx *ctx, const za_msg *m) {
    creature_state *st = za_ctx_state(ctx);
    switch (m->tag) {
    case T_MEET: { /* the mall paired us with the creature in the message */
        meet_msg other;
        memcpy(&other, m->data, sizeof other);
        st->color = complement(st->color, other.color);
        st->meetings++;
        uint32_t c = st->color;
        int rc = tell(ctx, other.creature, T_CHANGE, &c, sizeof c);
        return rc ? rc : creature_meet(ctx, st);
    }
    case T_CHANGE:
        memcpy(&st->color, m->data, sizeof st->color);
        st->meetings++;
        return creature_meet(ctx, st);
    case T_EXIT:
        za_ctx_stop(ctx);
        return tell_u64(ctx, za_ctx_parent(ctx), T_COUNT, st->meetings);
    default:
        return 0;
    }
}
static const za_behaviour creature_beh = {ZA_BEHAVIOUR_INIT, .name = "chameneo",
                                          .state_size = sizeof(creature_state),
                                          .start = creature_start, .receive = creature_receive};

typedef struct mall_state {
    za_reply_slot *reply; /* first: see driver_failed */
    uint64_t left;        /* meetings still to arrange */
    za_ref waiting;       /* the creature waiting for a partner, if any */
    uint64_t faded, sum;
} mall_state;

static int mall_receive(za_ctx *ctx, const za_msg *m) {
    mall_state *st = za_ctx_state(ctx);
    const params *p = P(ctx);
    switch (m->tag) {
    case T_GO: {
        st->reply = za_ctx_take_reply(ctx);
        st->left = p->n;
        if (p->c == 0) return answer(ctx, &st->reply, 0);
        for (uint64_t i = 0; i < p->c; i++) {
            uint32_t color = (uint32_t)(i % 3);
            za_ref r;
            int rc = spawn_child(ctx, &creature_beh, &color, sizeof color, &r);
            if (rc) return rc;
        }
        return 0;
    }
    case T_MEET: {
        meet_msg mm;
        memcpy(&mm, m->data, sizeof mm);
        if (st->left == 0) return tell(ctx, mm.creature, T_EXIT, NULL, 0);
        if (st->waiting == ZA_REF_NONE) {
            st->waiting = mm.creature;
            return 0;
        }
        st->left--;
        za_ref first = st->waiting;
        st->waiting = ZA_REF_NONE;
        /* the waiting creature learns who it meets and that one's colour */
        return tell(ctx, first, T_MEET, &mm, sizeof mm);
    }
    case T_COUNT:
        st->sum += msg_u64(m);
        if (++st->faded == p->c) return answer(ctx, &st->reply, st->sum);
        return 0;
    default:
        return 0;
    }
}
DRIVER_RECEIVE(mall_receive)
static const za_behaviour mall_beh = {ZA_BEHAVIOUR_INIT, .name = "mall",
                                      .state_size = sizeof(mall_state),
                                      .receive = mall_receive_guarded};

/* ===================================================================== big */

typedef struct big_state {
    uint32_t id;
    uint32_t expected; /* id of the actor we pinged last */
    const za_ref *all; /* every big actor, shared read-only (owned by the sink) */
    uint64_t rng;
    uint64_t pings, pongs, bad;
} big_state;

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int big_send_ping(za_ctx *ctx, big_state *st) {
    uint64_t w = P(ctx)->w;
    /* a pseudo-random other actor */
    uint32_t target = (uint32_t)(xorshift64(&st->rng) % (w - 1));
    if (target >= st->id) target++;
    st->expected = target;
    st->pings++;
    return tell(ctx, st->all[target], T_PING, &st->id, sizeof st->id);
}

static int big_start(za_ctx *ctx, const void *args, size_t len) {
    big_state *st = za_ctx_state(ctx);
    if (len != sizeof st->id) return 1;
    memcpy(&st->id, args, sizeof st->id);
    st->rng = 0x9E3779B97F4A7C15ull * (st->id + 1u); /* seeded per actor, never 0 */
    return 0;
}

static int big_receive(za_ctx *ctx, const za_msg *m) {
    big_state *st = za_ctx_state(ctx);
    switch (m->tag) {
    case T_NEIGHBORS:
        st->all = m->ptr; /* no destructor: the sink keeps the array */
        return 0;
    case T_START:
        return big_send_ping(ctx, st);
    case T_PING:
        return tell(ctx, m->sender, T_PONG, &st->id, sizeof st->id);
    case T_PONG: {
        uint32_t from;
        memcpy(&from, m->data, sizeof from);
        if (from != st->expected) st->bad++;
        if (++st->pongs == P(ctx)->n)
            return tell_u64(ctx, za_ctx_parent(ctx), T_DONE, st->bad ? 0 : st->pongs);
        return big_send_ping(ctx, st);
    }
    default:
        return 0;
    }
}
static const za_behaviour big_beh = {ZA_BEHAVIOUR_INIT, .name = "big",
                                     .state_size = sizeof(big_state), .start = big_start,
                                     .receive = big_receive};

typedef struct sink_state {
    za_reply_slot *reply; /* first: see driver_failed */
    za_ref *all;
    uint64_t sum, done;
} sink_state;

static int sink_receive(za_ctx *ctx, const za_msg *m) {
    sink_state *st = za_ctx_state(ctx);
    const params *p = P(ctx);
    if (m->tag == T_GO) {
        st->reply = za_ctx_take_reply(ctx);
        if (p->w < 2 || p->w > UINT32_MAX) return 1;
        if (p->n == 0) return answer(ctx, &st->reply, 0);
        st->all = malloc(p->w * sizeof *st->all);
        if (!st->all) return 1;
        for (uint64_t i = 0; i < p->w; i++) {
            uint32_t id = (uint32_t)i;
            int rc = spawn_child(ctx, &big_beh, &id, sizeof id, &st->all[i]);
            if (rc) return rc;
        }
        za_system *sys = za_ctx_system(ctx);
        for (uint64_t i = 0; i < p->w; i++) {
            int rc = za_tell_ptr(sys, st->all[i], T_NEIGHBORS, st->all, NULL, ZA_PRIO_NORMAL);
            if (rc) return rc;
        }
        for (uint64_t i = 0; i < p->w; i++) {
            int rc = tell(ctx, st->all[i], T_START, NULL, 0);
            if (rc) return rc;
        }
        return 0;
    }
    if (m->tag == T_DONE) {
        st->sum += msg_u64(m);
        if (++st->done == p->w) return answer(ctx, &st->reply, st->sum);
    }
    return 0;
}

static void sink_stop(za_ctx *ctx) {
    sink_state *st = za_ctx_state(ctx);
    free(st->all); /* the big actors (our children) stopped before us */
    st->all = NULL;
}
DRIVER_RECEIVE(sink_receive)
static const za_behaviour sink_beh = {ZA_BEHAVIOUR_INIT, .name = "sink",
                                      .state_size = sizeof(sink_state),
                                      .receive = sink_receive_guarded, .stop = sink_stop};

/* ================================================================== skynet */

typedef struct sky_start {
    uint64_t num;  /* the first leaf number below this actor */
    uint64_t size; /* leaves below this actor (1: a leaf) */
} sky_start;

typedef struct sky_state {
    za_reply_slot *reply; /* first: see driver_failed (the root only) */
    uint64_t sum;
    uint32_t pending;
} sky_state;

static int sky_receive_guarded(za_ctx *ctx, const za_msg *m);
static const za_behaviour sky_beh = {ZA_BEHAVIOUR_INIT, .name = "skynet",
                                     .state_size = sizeof(sky_state),
                                     .receive = sky_receive_guarded};

static int sky_spawn_children(za_ctx *ctx, sky_state *st, sky_start s) {
    uint64_t sub = s.size / 10;
    for (uint64_t i = 0; i < 10; i++) {
        za_ref child;
        int rc = za_ctx_spawn(ctx, &sky_beh, NULL, 0, NULL, &child);
        if (rc) return rc;
        sky_start cs = {.num = s.num + i * sub, .size = sub};
        rc = tell(ctx, child, T_START, &cs, sizeof cs);
        if (rc) return rc;
    }
    st->pending = 10;
    return 0;
}

/* A node's total: up to the parent, or to main for the root. */
static int sky_done(za_ctx *ctx, sky_state *st, uint64_t sum) {
    if (st->reply) return answer(ctx, &st->reply, sum);
    za_ctx_stop(ctx);
    return tell_u64(ctx, za_ctx_parent(ctx), T_SUM, sum);
}

static int sky_receive(za_ctx *ctx, const za_msg *m) {
    sky_state *st = za_ctx_state(ctx);
    switch (m->tag) {
    case T_GO: { /* the root: main's ask */
        st->reply = za_ctx_take_reply(ctx);
        sky_start s = {.num = 0, .size = P(ctx)->leaves};
        if (s.size == 1) return sky_done(ctx, st, 0);
        return sky_spawn_children(ctx, st, s);
    }
    case T_START: {
        sky_start s;
        memcpy(&s, m->data, sizeof s);
        if (s.size == 1) return sky_done(ctx, st, s.num);
        return sky_spawn_children(ctx, st, s);
    }
    case T_SUM:
        st->sum += msg_u64(m);
        if (--st->pending == 0) return sky_done(ctx, st, st->sum);
        return 0;
    default:
        return 0;
    }
}
DRIVER_RECEIVE(sky_receive) /* the root is a driver; other nodes hold no slot */

/* ==================================================================== main */

typedef struct workload {
    const char *name;
    const za_behaviour *driver;
    const char *keys[3]; /* the keys it takes, in README order */
} workload;

static const workload workloads[] = {
    {"pingpong", &ping_beh, {"n"}},
    {"counting", &producer_beh, {"n"}},
    {"fjthrput", &tp_driver_beh, {"a", "n"}},
    {"fjcreate", &fc_driver_beh, {"n"}},
    {"threadring", &ring_driver_beh, {"n", "r"}},
    {"chameneos", &mall_beh, {"c", "n"}},
    {"big", &sink_beh, {"w", "n"}},
    {"skynet", &sky_beh, {"leaves"}},
};

static uint64_t *param_slot(params *p, const char *key) {
    if (!strcmp(key, "n")) return &p->n;
    if (!strcmp(key, "a")) return &p->a;
    if (!strcmp(key, "r")) return &p->r;
    if (!strcmp(key, "c")) return &p->c;
    if (!strcmp(key, "w")) return &p->w;
    if (!strcmp(key, "leaves")) return &p->leaves;
    return NULL;
}

/* Savina defaults (README table). */
static void set_defaults(params *p, const char *wl) {
    memset(p, 0, sizeof *p);
    if (!strcmp(wl, "pingpong")) p->n = 40000;
    if (!strcmp(wl, "counting")) p->n = 1000000;
    if (!strcmp(wl, "fjthrput")) p->a = 60, p->n = 10000;
    if (!strcmp(wl, "fjcreate")) p->n = 40000;
    if (!strcmp(wl, "threadring")) p->n = 100, p->r = 100000;
    if (!strcmp(wl, "chameneos")) p->c = 100, p->n = 200000;
    if (!strcmp(wl, "big")) p->w = 120, p->n = 20000;
    if (!strcmp(wl, "skynet")) p->leaves = 1000000;
}

/* The expected answer; false for parameters the workload cannot take. */
static bool expected_result(const char *wl, const params *p, uint64_t *out) {
    if (!strcmp(wl, "pingpong") || !strcmp(wl, "counting") || !strcmp(wl, "fjcreate")) {
        *out = p->n;
    } else if (!strcmp(wl, "fjthrput")) {
        *out = p->a * p->n;
    } else if (!strcmp(wl, "threadring")) {
        if (p->n == 0) return false;
        *out = p->r;
    } else if (!strcmp(wl, "chameneos")) {
        *out = 2 * p->n;
    } else if (!strcmp(wl, "big")) {
        if (p->w < 2 || p->w > UINT32_MAX) return false;
        *out = p->w * p->n;
    } else if (!strcmp(wl, "skynet")) {
        uint64_t l = p->leaves;
        if (l == 0) return false;
        while (l % 10 == 0) l /= 10;
        if (l != 1) return false; /* not a power of 10 */
        *out = p->leaves * (p->leaves - 1) / 2;
    } else {
        return false;
    }
    return true;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_params(const workload *wl, const params *p) {
    printf("\"params\": {");
    for (int i = 0; i < 3 && wl->keys[i]; i++) {
        uint64_t *v = param_slot((params *)p, wl->keys[i]);
        printf("%s\"%s\": %" PRIu64, i ? ", " : "", wl->keys[i], *v);
    }
    printf("}");
}

static int usage(const char *msg) {
    fprintf(stderr,
            "savina_zactor: %s\nusage: savina_zactor [--runtime %s] <workload> key=value ...\n",
            msg, RUNTIME_NAME);
    return 2;
}

int main(int argc, char **argv) {
    int ai = 1;
    if (ai < argc && !strcmp(argv[ai], "--runtime")) {
        if (ai + 1 >= argc) return usage("--runtime needs a value");
        if (strcmp(argv[ai + 1], RUNTIME_NAME) && strcmp(argv[ai + 1], "zactor"))
            return usage("this program runs only the zactor-c runtime");
        ai += 2;
    }
    if (ai >= argc) return usage("no workload");
    const workload *wl = NULL;
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (!strcmp(argv[ai], workloads[i].name)) wl = &workloads[i];
    if (!wl) return usage("unknown workload");
    params p;
    set_defaults(&p, wl->name);
    for (ai++; ai < argc; ai++) {
        char key[32];
        const char *eq = strchr(argv[ai], '=');
        if (!eq || (size_t)(eq - argv[ai]) >= sizeof key) return usage("arguments are key=value");
        memcpy(key, argv[ai], (size_t)(eq - argv[ai]));
        key[eq - argv[ai]] = '\0';
        bool known = false;
        for (int i = 0; i < 3 && wl->keys[i]; i++) known |= !strcmp(key, wl->keys[i]);
        if (!known) return usage("unknown key for this workload");
        char *end;
        errno = 0;
        unsigned long long v = strtoull(eq + 1, &end, 10);
        if (errno || end == eq + 1 || *end || eq[1] == '-')
            return usage("values are integers >= 0");
        *param_slot(&p, key) = v;
    }
    uint64_t expected = 0;
    if (!expected_result(wl->name, &p, &expected))
        return usage("parameters out of range (skynet: leaves a power of 10; big: w >= 2; "
                     "threadring: n >= 1)");

    za_config cfg;
    za_config_init(&cfg);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.workers = ncpu > 0 ? (int)ncpu : 1;
    /* SAVINA_WORKERS=n: another worker count, for scaling runs
     * (bench/RESULTS.md); the harness never sets it */
    const char *wenv = getenv("SAVINA_WORKERS");
    if (wenv && atoi(wenv) > 0) cfg.workers = atoi(wenv);
    za_system *sys = NULL;
    if (za_system_create(&cfg, &sys) != ZA_OK) {
        fprintf(stderr, "za_system_create: %s\n", za_last_error());
        return 1;
    }

    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.user = &p;
    za_answer ans;
    memset(&ans, 0, sizeof ans);
    double t0 = now_s();
    za_ref driver;
    int rc = za_spawn(sys, wl->driver, NULL, 0, &o, &driver);
    if (rc == ZA_OK) rc = za_ask(sys, driver, T_GO, NULL, 0, ASK_TIMEOUT_MS, &ans);
    double secs = now_s() - t0;

    uint64_t result = 0;
    bool got = rc == ZA_OK && ans.status == ZA_OK && ans.len == sizeof result;
    if (got)
        memcpy(&result, ans.data, sizeof result);
    else
        fprintf(stderr, "savina_zactor %s: no answer: %s (%s)\n", wl->name, za_strerror(rc),
                za_last_error());
    za_answer_free(&ans);
    bool ok = got && result == expected;

    printf("{\"workload\": \"%s\", \"runtime\": \"%s\", ", wl->name, RUNTIME_NAME);
    print_params(wl, &p);
    printf(", \"seconds\": %.6f, \"ok\": %s, \"result\": %" PRIu64 ", \"expected\": %" PRIu64 "}\n",
           secs, ok ? "true" : "false", result, expected);
    fflush(stdout);

    if (za_system_shutdown(sys, 10000) != ZA_OK)
        fprintf(stderr, "savina_zactor: shutdown did not finish in time\n");
    za_system_destroy(sys);
    return ok ? 0 : 1;
}
