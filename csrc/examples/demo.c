/*
 * demo.c - a tour of the C API: a supervisor with worker children, tells
 * and asks, a child that fails and is restarted with its mailbox intact,
 * a periodic timer, a MessagePack payload, and the metrics at the end.
 *
 *   make demo
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zactor.h"

enum { T_ADD = 1, T_GET = 2, T_CRASH = 3, T_TICK = 4, T_HELLO = 5 };

/* A counter child: adds numbers, answers T_GET, fails on T_CRASH. */
typedef struct counter {
    int64_t sum;
    int64_t id;
} counter;

static int counter_start(za_ctx *ctx, const void *args, size_t len) {
    counter *c = za_ctx_state(ctx);
    if (len == sizeof c->id) memcpy(&c->id, args, sizeof c->id);
    if (za_ctx_restarts(ctx))
        printf("  counter %lld restarted (restart #%u), state rebuilt, mailbox kept\n",
               (long long)c->id, za_ctx_restarts(ctx));
    return 0;
}

static int counter_receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    switch (m->tag) {
    case T_ADD: {
        int64_t v;
        memcpy(&v, m->data, sizeof v);
        c->sum += v;
        return 0;
    }
    case T_GET:
        return za_reply(ctx, T_GET, &c->sum, sizeof c->sum);
    case T_CRASH:
        za_ctx_fail(ctx, 7, "counter %lld was told to crash", (long long)c->id);
        return 1;
    case T_HELLO: {
        za_doc *doc;
        if (za_doc_decode(m->data, m->len, &doc) != ZA_OK) return 0;
        const za_value *v = za_doc_root(doc);
        if (v->type == ZA_V_MAP && v->v.map.n == 2)
            printf("  counter %lld got a MessagePack map: {%.*s: %.*s, %.*s: %lld}\n",
                   (long long)c->id, (int)v->v.map.keys[0].v.str.len, v->v.map.keys[0].v.str.ptr,
                   (int)v->v.map.vals[0].v.str.len, v->v.map.vals[0].v.str.ptr,
                   (int)v->v.map.keys[1].v.str.len, v->v.map.keys[1].v.str.ptr,
                   (long long)v->v.map.vals[1].v.i);
        za_doc_free(doc);
        return 0;
    }
    default:
        return 0; /* runtime tags (negative) we do not use */
    }
}

static const za_behaviour counter_beh = {ZA_BEHAVIOUR_INIT, .name = "counter",
                                         .state_size = sizeof(counter), .start = counter_start,
                                         .receive = counter_receive};

/* The supervisor: spawns N counters one-for-one, forwards work, counts ticks. */
typedef struct super {
    za_ref kids[4];
    int64_t ticks;
} super;

static int super_start(za_ctx *ctx, const void *args, size_t len) {
    super *s = za_ctx_state(ctx);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.max_restarts = 5;
    o.within_ms = 1000;
    for (int64_t i = 0; i < 4; i++) {
        int rc = za_ctx_spawn(ctx, &counter_beh, &i, sizeof i, &o, &s->kids[i]);
        if (rc) return rc;
    }
    return 0;
}

static int super_receive(za_ctx *ctx, const za_msg *m) {
    super *s = za_ctx_state(ctx);
    switch (m->tag) {
    case T_ADD: { /* spread numbers over the children */
        int64_t v;
        memcpy(&v, m->data, sizeof v);
        return za_tell(za_ctx_system(ctx), s->kids[v % 4], T_ADD, &v, sizeof v) == ZA_OK ? 0 : 1;
    }
    case T_TICK:
        s->ticks++;
        return 0;
    case T_GET: { /* answer with the children's refs and our tick count */
        struct {
            za_ref kids[4];
            int64_t ticks;
        } out;
        memcpy(out.kids, s->kids, sizeof out.kids);
        out.ticks = s->ticks;
        return za_reply(ctx, T_GET, &out, sizeof out);
    }
    case ZA_TAG_CHILD_FAILED: {
        const za_down *d = m->data;
        printf("  supervisor saw child %#llx fail: code %d, \"%s\"\n", (unsigned long long)d->ref,
               d->code, d->reason);
        return 0;
    }
    default:
        return 0;
    }
}

static const za_behaviour super_beh = {ZA_BEHAVIOUR_INIT, .name = "supervisor",
                                       .state_size = sizeof(super), .start = super_start,
                                       .receive = super_receive};

static void on_dead_letter(const za_dead_letter *dl, void *ud) {
    (void)ud;
    static const char *why[] = {"dead target", "dropped", "failed", "late reply", "shutdown"};
    printf("  dead letter: tag %d to %#llx (%s)\n", dl->tag, (unsigned long long)dl->target,
           why[dl->reason]);
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != ZA_OK) {                                                                        \
            fprintf(stderr, "%s failed: %s (%s)\n", #expr, za_strerror(rc_), za_last_error());     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(void) {
    za_system *sys;
    za_config cfg;
    za_config_init(&cfg);
    cfg.latency_sample = 1; /* time every message: this is a demo, not a benchmark */
    CHECK(za_system_create(&cfg, &sys));
    za_set_dead_letter_hook(sys, on_dead_letter, NULL);
    printf("zactor demo: %d workers\n", za_system_workers(sys));

    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = "supervisor";
    za_ref sup;
    CHECK(za_spawn_sync(sys, &super_beh, NULL, 0, &o, 1000, &sup));
    za_ref found;
    CHECK(za_lookup(sys, "supervisor", &found));
    printf("1. spawned supervisor %#llx (found by name: %s)\n", (unsigned long long)sup,
           found == sup ? "yes" : "no");

    za_timer_id tick;
    CHECK(za_send_interval(sys, 10, 10, sup, T_TICK, NULL, 0, &tick));

    const int64_t n = 200000;
    for (int64_t i = 1; i <= n; i++) CHECK(za_tell(sys, sup, T_ADD, &i, sizeof i));
    printf("2. told %lld numbers to the supervisor, which spreads them over 4 children\n",
           (long long)n);

    za_answer a;
    CHECK(za_ask(sys, sup, T_GET, NULL, 0, 2000, &a));
    za_ref kids[4];
    memcpy(kids, a.data, sizeof kids);
    za_answer_free(&a);

    /* barrier: once the supervisor and child 1 answer, every number has been added */
    CHECK(za_ask(sys, sup, T_GET, NULL, 0, 2000, &a));
    za_answer_free(&a);
    CHECK(za_ask(sys, kids[1], T_GET, NULL, 0, 2000, &a));
    int64_t before;
    memcpy(&before, a.data, sizeof before);
    za_answer_free(&a);

    /* make child 1 fail, with more work for it queued behind the crash */
    printf("3. crashing child 1 (sum %lld) with work queued behind the crash\n", (long long)before);
    CHECK(za_tell(sys, kids[1], T_CRASH, NULL, 0));
    int64_t extra = 1000001; /* 1000001 % 4 == 1: goes to child 1 */
    CHECK(za_tell(sys, sup, T_ADD, &extra, sizeof extra));

    za_pack *p = za_pack_new();
    za_pack_map(p, 2);
    za_pack_str(p, "lang", 4);
    za_pack_str(p, "C", 1);
    za_pack_str(p, "answer", 6);
    za_pack_int(p, 42);
    CHECK(za_tell_pack(sys, kids[2], T_HELLO, p));
    za_pack_free(p);

    CHECK(za_ask(sys, sup, T_GET, NULL, 0, 2000, &a)); /* the extra number is forwarded */
    za_answer_free(&a);
    int64_t expect[4] = {0, 0, 0, 0}, total = 0;
    for (int64_t i = 1; i <= n; i++) expect[i % 4] += i;
    expect[1] = extra; /* the restart rebuilt child 1's state; the queued number survived */
    bool all_ok = true;
    for (int i = 0; i < 4; i++) {
        CHECK(za_ask(sys, kids[i], T_GET, NULL, 0, 2000, &a));
        int64_t v;
        memcpy(&v, a.data, sizeof v);
        za_answer_free(&a);
        printf("4. child %d sum = %lld (expected %lld)%s\n", i, (long long)v, (long long)expect[i],
               v == expect[i] ? "" : "  <-- MISMATCH");
        all_ok &= v == expect[i];
        total += v;
    }

    za_actor_info info;
    CHECK(za_actor_info_get(sys, kids[1], &info));
    printf("5. child 1 (same ref %#llx): behaviour %s, restarts %u, processed %llu messages\n",
           (unsigned long long)kids[1], info.behaviour, info.restarts,
           (unsigned long long)info.processed);

    struct timespec ts = {0, 60 * 1000000L};
    nanosleep(&ts, NULL);
    CHECK(za_timer_cancel(sys, tick));
    struct {
        za_ref kids[4];
        int64_t ticks;
    } st;
    CHECK(za_ask(sys, sup, T_GET, NULL, 0, 2000, &a));
    memcpy(&st, a.data, sizeof st);
    za_answer_free(&a);
    printf("6. periodic timer ticked %lld times before it was cancelled\n", (long long)st.ticks);

    printf("7. telling a stopped actor:\n");
    CHECK(za_stop(sys, kids[3]));
    CHECK(za_join(sys, kids[3], 1000));
    int rc = za_tell(sys, kids[3], T_ADD, &extra, sizeof extra);
    printf("   za_tell -> %s (%s)\n", za_strerror(rc), za_last_error());

    za_metrics m;
    CHECK(za_metrics_read(sys, &m));
    printf("8. metrics: sent %llu, delivered %llu, dead letters %llu, failures %llu, restarts %llu,"
           " alive %llu\n",
           (unsigned long long)m.sent, (unsigned long long)m.delivered,
           (unsigned long long)m.dead_letters, (unsigned long long)m.failures,
           (unsigned long long)m.restarts, (unsigned long long)m.actors_alive);
    printf("   queue latency p50 %llu ns, p99 %llu ns, max %llu ns; processing p50 %llu ns\n",
           (unsigned long long)m.queue_latency.p50_ns, (unsigned long long)m.queue_latency.p99_ns,
           (unsigned long long)m.queue_latency.max_ns,
           (unsigned long long)m.process_latency.p50_ns);
    int need = za_metrics_prometheus(sys, NULL, 0);
    char *prom = malloc((size_t)need + 1);
    za_metrics_prometheus(sys, prom, (size_t)need + 1);
    printf("9. Prometheus exposition (%d bytes), first lines:\n", need);
    int lines = 0;
    for (char *l = prom; *l && lines < 6; lines++) {
        char *e = strchr(l, '\n');
        printf("   %.*s\n", (int)(e ? e - l : (long)strlen(l)), l);
        l = e ? e + 1 : l + strlen(l);
    }
    free(prom);

    rc = za_system_shutdown(sys, 2000);
    printf("10. shutdown: %s; children's sums %s (total %lld)\n", za_strerror(rc),
           all_ok ? "all as expected" : "WRONG", (long long)total);
    za_system_destroy(sys);
    return all_ok && rc == ZA_OK ? 0 : 1;
}
