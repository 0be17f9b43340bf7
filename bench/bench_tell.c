/*
 * bench_tell.c - one-to-one tell throughput.
 *
 *  (a) external -> actor: the main (non-worker) thread tells N messages to
 *      one actor; the clock stops when the actor has received all N.
 *  (a') as (a), with the sender throttled to at most EXT_WINDOW messages not
 *      yet received (the consumer publishes its count every 1024 messages),
 *      so the mailbox backlog stays in cache instead of growing to N.
 *  (b) actor -> actor: a producer actor tells N messages to a consumer actor
 *      in batches of BATCH per turn-step, continuing with a self-tell so it
 *      never hogs its worker. Flow control: at most WINDOW messages in flight,
 *      the consumer acks every ACK_EVERY messages (1 ack per 1024 messages).
 *  (c) many -> one: one sender thread per core tells N/threads messages each
 *      to one actor.
 *
 * Every message carries (sender id, sequence number); the consumer checks
 * per-sender FIFO order and the total, and the program exits 1 if either is
 * wrong. Payload: 8 bytes (inline in the message node).
 */
#include "benchutil.h"

#define MAX_SENDERS 64
#define SEQ_BITS 48
#define SEQ_MASK ((1ull << SEQ_BITS) - 1)

#ifndef N_EXTERNAL /* -DN_EXTERNAL=... for a quick check build */
#define N_EXTERNAL 10000000ull
#endif
#ifndef N_ACTOR /* -DN_ACTOR=... for a quick check build */
#define N_ACTOR 10000000ull
#endif
#ifndef N_MANY /* -DN_MANY=... for a quick check build */
#define N_MANY 10000000ull
#endif
#define BATCH 128u
#define WINDOW 8192u
#define ACK_EVERY 1024u
#define EXT_WINDOW 65536u

enum { T_DATA = 1, T_GO = 2, T_CONT = 3, T_ACK = 4 };

typedef struct shared {
    uint64_t n;                /* messages the consumer expects in this run */
    uint64_t got;              /* written by the consumer when done */
    uint64_t bad;              /* out-of-order or foreign messages seen */
    uint64_t migrations;       /* consumer ran on another worker than for the previous message */
    uint64_t same;             /* messages received on the worker the producer last ran on */
    _Atomic uint64_t progress; /* messages received so far, published every ACK_EVERY */
    bu_latch done;             /* opened by the consumer at message n */
} shared;

/* Worker the producer actor last ran on (-1: no producer actor). Only for
 * the placement figures printed with (b). */
static _Atomic int g_prod_worker = -1;

/* ------------------------------------------------------------ consumer */

typedef struct cons_state {
    uint64_t count;
    uint64_t bad;
    uint64_t migrations, same;
    int last_worker;
    uint64_t next[MAX_SENDERS];
} cons_state;

static int cons_receive(za_ctx *ctx, const za_msg *m) {
    cons_state *st = za_ctx_state(ctx);
    shared *sh = za_ctx_user(ctx);
    if (m->tag != T_DATA || m->len != sizeof(uint64_t)) {
        if (m->tag >= 0) st->bad++;
        return 0;
    }
    uint64_t v;
    memcpy(&v, m->data, sizeof v);
    unsigned sid = (unsigned)(v >> SEQ_BITS);
    if (sid >= MAX_SENDERS || (v & SEQ_MASK) != st->next[sid])
        st->bad++;
    else
        st->next[sid]++;
    int w = za_ctx_worker(ctx);
    if (st->count && w != st->last_worker) st->migrations++;
    st->last_worker = w;
    if (w == atomic_load_explicit(&g_prod_worker, memory_order_relaxed)) st->same++;
    st->count++;
    if (st->count % ACK_EVERY == 0)
        atomic_store_explicit(&sh->progress, st->count, memory_order_relaxed);
    if (m->sender != ZA_REF_NONE && st->count % ACK_EVERY == 0) {
        uint64_t k = ACK_EVERY;
        za_tell(za_ctx_system(ctx), m->sender, T_ACK, &k, sizeof k);
    }
    if (st->count == sh->n) {
        sh->got = st->count;
        sh->bad = st->bad;
        sh->migrations = st->migrations;
        sh->same = st->same;
        bu_latch_open(&sh->done);
    }
    return 0;
}

static const za_behaviour cons_beh = {ZA_BEHAVIOUR_INIT, .name = "consumer",
                                      .state_size = sizeof(cons_state), .receive = cons_receive};

/* ------------------------------------------------------------ producer */

typedef struct go_msg {
    za_ref to;
    uint64_t n;
} go_msg;

typedef struct prod_state {
    za_ref to;
    uint64_t remaining;
    uint64_t seq;
    uint64_t credit;
    int cont_pending;
    int err;
} prod_state;

static void prod_send_some(za_ctx *ctx, prod_state *st) {
    za_system *sys = za_ctx_system(ctx);
    uint64_t k = BATCH;
    if (k > st->credit) k = st->credit;
    if (k > st->remaining) k = st->remaining;
    for (uint64_t i = 0; i < k; i++) {
        uint64_t v = st->seq++; /* sender id 0 */
        if (za_tell(sys, st->to, T_DATA, &v, sizeof v) != ZA_OK) st->err++;
    }
    st->credit -= k;
    st->remaining -= k;
    if (st->remaining && st->credit && !st->cont_pending) {
        st->cont_pending = 1;
        za_tell(sys, za_ctx_self(ctx), T_CONT, NULL, 0);
    }
}

static int prod_receive(za_ctx *ctx, const za_msg *m) {
    prod_state *st = za_ctx_state(ctx);
    atomic_store_explicit(&g_prod_worker, za_ctx_worker(ctx), memory_order_relaxed);
    switch (m->tag) {
    case T_GO: {
        go_msg g;
        memcpy(&g, m->data, sizeof g);
        st->to = g.to;
        st->remaining = g.n;
        st->credit = WINDOW;
        prod_send_some(ctx, st);
        break;
    }
    case T_CONT:
        st->cont_pending = 0;
        prod_send_some(ctx, st);
        break;
    case T_ACK: {
        uint64_t k;
        memcpy(&k, m->data, sizeof k);
        st->credit += k;
        if (!st->cont_pending && st->remaining) prod_send_some(ctx, st);
        break;
    }
    default:
        break;
    }
    if (st->err) {
        za_ctx_fail(ctx, ZA_EINVAL, "%d tells failed", st->err);
        return 1;
    }
    return 0;
}

static const za_behaviour prod_beh = {ZA_BEHAVIOUR_INIT, .name = "producer",
                                      .state_size = sizeof(prod_state), .receive = prod_receive};

/* -------------------------------------------------------------- senders */

typedef struct sender_arg {
    za_system *sys;
    za_ref to;
    unsigned id;
    uint64_t n;
    pthread_barrier_t *start;
    int errors;
    uint64_t t_end;
} sender_arg;

static void *sender_main(void *p) {
    sender_arg *a = p;
    pthread_barrier_wait(a->start);
    uint64_t base = (uint64_t)a->id << SEQ_BITS;
    for (uint64_t i = 0; i < a->n; i++) {
        uint64_t v = base | i;
        if (za_tell(a->sys, a->to, T_DATA, &v, sizeof v) != ZA_OK) a->errors++;
    }
    a->t_end = bu_now_ns();
    return NULL;
}

/* --------------------------------------------------------------- runs */

enum { V_EXTERNAL, V_EXTERNAL_WINDOW, V_ACTOR, V_MANY };

static za_ref spawn_consumer(za_system *sys, shared *sh, uint64_t n) {
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.user = sh;
    sh->n = n;
    sh->got = 0;
    sh->bad = 0;
    atomic_store(&sh->progress, 0);
    bu_latch_reset(&sh->done);
    za_ref c;
    BU_CHECK(za_spawn_sync(sys, &cons_beh, NULL, 0, &o, 5000, &c));
    return c;
}

static void finish_run(za_system *sys, shared *sh, za_ref *refs, int nrefs, const char *what) {
    if (!bu_latch_wait(&sh->done, 60.0))
        bu_die("%s: consumer did not receive all %llu messages within 60 s", what,
               (unsigned long long)sh->n);
    if (sh->got != sh->n || sh->bad)
        bu_die("%s: consumer got %llu of %llu messages, %llu out of order", what,
               (unsigned long long)sh->got, (unsigned long long)sh->n, (unsigned long long)sh->bad);
    for (int i = 0; i < nrefs; i++) {
        BU_CHECK(za_stop(sys, refs[i]));
        BU_CHECK(za_join(sys, refs[i], 5000));
    }
}

/* One run; returns messages per second (until the consumer has all N).
 * *send_rate: N over the time until the senders returned from their last
 * tell (external and many->one only; else 0). */
static double run_once(za_system *sys, shared *sh, int variant, int nthreads, double *send_rate) {
    uint64_t t0, t1, ts;
    *send_rate = 0;
    sh->migrations = sh->same = 0;
    if (variant == V_EXTERNAL || variant == V_EXTERNAL_WINDOW) {
        za_ref c = spawn_consumer(sys, sh, N_EXTERNAL);
        bool window = variant == V_EXTERNAL_WINDOW;
        t0 = bu_now_ns();
        for (uint64_t i = 0; i < N_EXTERNAL; i++) {
            if (window && (i & (ACK_EVERY - 1)) == 0) {
                while (i - atomic_load_explicit(&sh->progress, memory_order_relaxed) > EXT_WINDOW)
                    sched_yield();
            }
            uint64_t v = i;
            int rc = za_tell(sys, c, T_DATA, &v, sizeof v);
            if (rc != ZA_OK) bu_die("za_tell: %s", za_last_error());
        }
        ts = bu_now_ns();
        bu_latch_wait(&sh->done, 60.0);
        t1 = bu_now_ns();
        finish_run(sys, sh, &c, 1, "external->actor");
        *send_rate = (double)N_EXTERNAL / ((double)(ts - t0) * 1e-9);
        return (double)N_EXTERNAL / ((double)(t1 - t0) * 1e-9);
    }
    if (variant == V_ACTOR) {
        za_ref refs[2];
        refs[0] = spawn_consumer(sys, sh, N_ACTOR);
        BU_CHECK(za_spawn_sync(sys, &prod_beh, NULL, 0, NULL, 5000, &refs[1]));
        go_msg g = {.to = refs[0], .n = N_ACTOR};
        t0 = bu_now_ns();
        BU_CHECK(za_tell(sys, refs[1], T_GO, &g, sizeof g));
        bu_latch_wait(&sh->done, 60.0);
        t1 = bu_now_ns();
        finish_run(sys, sh, refs, 2, "actor->actor");
        atomic_store(&g_prod_worker, -1);
        return (double)N_ACTOR / ((double)(t1 - t0) * 1e-9);
    }
    /* many -> one */
    uint64_t per = N_MANY / (uint64_t)nthreads;
    za_ref c = spawn_consumer(sys, sh, per * (uint64_t)nthreads);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
    pthread_t th[MAX_SENDERS];
    sender_arg args[MAX_SENDERS];
    for (int i = 0; i < nthreads; i++) {
        args[i] = (sender_arg){
            .sys = sys, .to = c, .id = (unsigned)i, .n = per, .start = &bar, .errors = 0};
        if (pthread_create(&th[i], NULL, sender_main, &args[i]) != 0) bu_die("pthread_create");
    }
    t0 = bu_now_ns();
    ts = t0;
    pthread_barrier_wait(&bar);
    bu_latch_wait(&sh->done, 60.0);
    t1 = bu_now_ns();
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        if (args[i].errors) bu_die("many->one: sender %d had %d failed tells", i, args[i].errors);
        if (args[i].t_end > ts) ts = args[i].t_end;
    }
    *send_rate = (double)(per * (uint64_t)nthreads) / ((double)(ts - t0) * 1e-9);
    pthread_barrier_destroy(&bar);
    finish_run(sys, sh, &c, 1, "many->one");
    return (double)(per * (uint64_t)nthreads) / ((double)(t1 - t0) * 1e-9);
}

int main(int argc, char **argv) {
    za_system *sys = bu_system(0);
    int workers = za_system_workers(sys);
    int nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_SENDERS) nthreads = MAX_SENDERS;
    bu_header("bench_tell", workers);

    shared sh;
    memset(&sh, 0, sizeof sh);
    bu_latch_init(&sh.done);

    static const struct {
        int variant;
        const char *name, *label;
        uint64_t n;
    } vs[] = {
        {V_EXTERNAL, "tell_external", "tell external->actor", N_EXTERNAL},
        {V_EXTERNAL_WINDOW, "tell_external_window", "tell external->actor, <= 64Ki in flight",
         N_EXTERNAL},
        {V_ACTOR, "tell_actor", "tell actor->actor", N_ACTOR},
        {V_MANY, "tell_many", "tell many->one", N_MANY},
    };
    for (size_t v = 0; v < sizeof vs / sizeof vs[0]; v++) {
        /* optional argument: run only the variants whose name contains it */
        if (argc > 1 && !strstr(vs[v].name, argv[1])) continue;
        bu_stats st, sst, mig, same, c2c;
        bu_stats_init(&c2c);
        bu_stats_init(&st);
        bu_stats_init(&sst);
        bu_stats_init(&mig);
        bu_stats_init(&same);
        bu_cpu c0, c1;
        bu_cpu_now(&c0);
        bool peak_ok = bu_reset_peak_rss();
        long long rss_start = bu_rss_bytes();
        for (int r = 0; r < BU_WARMUP + BU_RUNS; r++) {
            double srate;
            double c2c_ns = bu_c2c_ns(BU_C2C_ITERS);
            double rate = run_once(sys, &sh, vs[v].variant, nthreads, &srate);
            if (getenv("BENCH_VERBOSE"))
                printf("    run %d: %.2f M msg/s, consumer moved %llu times, %.1f%% on producer's "
                       "worker, c2c %.0f ns\n",
                       r, rate / 1e6, (unsigned long long)sh.migrations,
                       100.0 * (double)sh.same / (double)sh.n, c2c_ns);
            if (r >= BU_WARMUP) {
                bu_stats_add(&st, rate);
                bu_stats_add(&sst, srate);
                if (c2c_ns > 0) bu_stats_add(&c2c, c2c_ns);
                bu_stats_add(&mig, (double)sh.migrations);
                bu_stats_add(&same, 100.0 * (double)sh.same / (double)sh.n);
            }
        }
        bu_cpu_now(&c1);
        double other = bu_other_load(&c0, &c1);
        bu_stats_done(&st);
        bu_stats_done(&sst);
        bu_stats_done(&mig);
        bu_stats_done(&same);
        bu_stats_done(&c2c);
        long long peak = bu_peak_rss_bytes();
        char label[128];
        if (vs[v].variant == V_MANY)
            snprintf(label, sizeof label, "%s (%d sender threads)", vs[v].label, nthreads);
        else
            snprintf(label, sizeof label, "%s", vs[v].label);
        bu_print(label, &st, "msg/s", 0);
        if (vs[v].variant == V_EXTERNAL || vs[v].variant == V_MANY)
            printf("    sender side alone: %.3g M msg/s (median; time until the last tell "
                   "returned)\n",
                   sst.median / 1e6);
        else if (vs[v].variant == V_ACTOR)
            printf("    consumer received %.0f%% of messages on the worker the producer last ran "
                   "on (median; runs %.0f-%.0f%%)\n",
                   same.median, same.min, same.max);
        printf("    consumer moved between workers %.0f times per run (median); ", mig.median);
        if (peak_ok)
            printf("peak RSS growth %.0f MiB (mailbox backlog)\n",
                   (double)(peak - rss_start) / 1048576.0);
        else
            printf("peak RSS of the process %.0f MiB\n", (double)peak / 1048576.0);
        bu_print_c2c(&c2c);
        bu_report_other_load("this variant", other);
        bu_json *j = bu_json_begin(vs[v].name, "msg/s", &st);
        bu_json_num(j, "other_load_cores", other);
        bu_json_stats(j, "c2c_round_trip_ns", &c2c);
        bu_json_str(j, "program", "bench_tell");
        bu_json_num(j, "workers", workers);
        bu_json_num(j, "messages", (double)vs[v].n);
        bu_json_num(j, "payload_bytes", 8);
        if (vs[v].variant == V_ACTOR) {
            bu_json_num(j, "batch", BATCH);
            bu_json_num(j, "window", WINDOW);
            bu_json_num(j, "ack_every", ACK_EVERY);
        }
        if (vs[v].variant == V_MANY) bu_json_num(j, "sender_threads", nthreads);
        if (vs[v].variant == V_EXTERNAL || vs[v].variant == V_MANY)
            bu_json_stats(j, "sender_side_msg_per_s", &sst);
        if (vs[v].variant == V_EXTERNAL_WINDOW) bu_json_num(j, "window", EXT_WINDOW);
        bu_json_stats(j, "consumer_worker_changes", &mig);
        if (vs[v].variant == V_ACTOR) bu_json_stats(j, "pct_on_producer_worker", &same);
        bu_json_num(j, "peak_rss_bytes", (double)peak);
        if (peak_ok) bu_json_num(j, "peak_rss_growth_bytes", (double)(peak - rss_start));
        bu_json_end(j);
    }
    printf("  (workers = %d; 8-byte payload; order and count checked)\n", workers);

    za_system_destroy(sys);
    bu_latch_destroy(&sh.done);
    return 0;
}
