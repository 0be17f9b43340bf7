/* Multi-threaded stress: no loss, no duplication, no stale delivery, asks always complete.
 * Sizes scale with tu_size() (smaller under TSan; ZA_TEST_SCALE multiplies). */
#include "testutil.h"

enum { T_SEQ = 1, T_GET, T_CHECK, T_PING, T_PONG, T_START, T_STOPME, T_CRASH, T_ECHO, T_HOP };

#define MAXP 8
static tu_dl *g_dl;

static int setup(void **st) {
    *st = tu_system(2);
    g_dl = tu_dl_new();
    za_set_dead_letter_hook(*st, tu_dl_hook, g_dl);
    return 0;
}

static int teardown(void **st) {
    za_system_destroy(*st);
    tu_dl_free(g_dl);
    g_dl = NULL;
    return 0;
}

/* ------------------------------------------- many producers, one actor */

typedef struct seq_msg {
    int32_t producer;
    int32_t pad;
    int64_t seq;
} seq_msg;

/* kept outside the actor state so they survive restarts */
static int64_t g_next[MAXP];
static atomic_long g_seq_total;
static atomic_int g_seq_errors;

static void seq_reset(void) {
    memset(g_next, 0, sizeof g_next);
    atomic_store(&g_seq_total, 0);
    atomic_store(&g_seq_errors, 0);
}

static void seq_dtor(void *p) {
    free(p);
}
static atomic_int g_seq_dtors;
static void seq_dtor_counting(void *p) {
    atomic_fetch_add(&g_seq_dtors, 1);
    free(p);
}

static int seq_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_SEQ: {
        seq_msg s;
        if (m->kind == ZA_PAYLOAD_PTR)
            memcpy(&s, m->ptr, sizeof s);
        else
            memcpy(&s, m->data, sizeof s);
        /* only this actor touches g_next, one message at a time */
        if (s.producer < 0 || s.producer >= MAXP || s.seq != g_next[s.producer])
            atomic_fetch_add(&g_seq_errors, 1);
        else
            g_next[s.producer]++;
        atomic_fetch_add(&g_seq_total, 1);
        return 0;
    }
    case T_GET: {
        int64_t n = atomic_load(&g_seq_total);
        return za_reply(ctx, T_GET, &n, sizeof n);
    }
    case T_CRASH:
        za_ctx_fail(ctx, 9, "crash under load");
        return 1;
    default:
        return 0;
    }
}

static const za_behaviour seq_beh = {ZA_BEHAVIOUR_INIT, .name = "seq", .receive = seq_receive};

typedef struct seq_producer {
    za_system *sys;
    za_ref to;
    int32_t id;
    long n;
    bool use_ptr;
    long refused;
} seq_producer;

static void *seq_producer_main(void *p) {
    seq_producer *sp = p;
    for (long i = 0; i < sp->n; i++) {
        seq_msg s = {sp->id, 0, i};
        int rc;
        if (sp->use_ptr) {
            seq_msg *h = malloc(sizeof *h);
            *h = s;
            rc = za_tell_ptr(sp->sys, sp->to, T_SEQ, h, seq_dtor_counting, ZA_PRIO_NORMAL);
            if (rc != ZA_OK) seq_dtor(h);
        } else {
            rc = za_tell(sp->sys, sp->to, T_SEQ, &s, sizeof s);
        }
        if (rc != ZA_OK) {
            sp->refused++;
            i--; /* sequence numbers must stay dense: retry */
            tu_sleep_us(50);
        }
    }
    return NULL;
}

static void test_many_producers_one_actor(void **st) {
    za_system *sys = *st;
    seq_reset();
    atomic_store(&g_seq_dtors, 0);
    za_ref r = tu_spawn(sys, &seq_beh, NULL, 0, NULL);
    enum { P = 4 };
    const long n = tu_size(40000);
    seq_producer sp[P];
    pthread_t th[P];
    for (int i = 0; i < P; i++) {
        sp[i] = (seq_producer){sys, r, i, n, i == 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, seq_producer_main, &sp[i]), 0);
    }
    for (int i = 0; i < P; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sp[i].refused, 0);
    }
    assert_int_equal(tu_ask_i64(sys, r, T_GET), P * n);
    assert_int_equal(atomic_load(&g_seq_errors), 0);
    for (int i = 0; i < P; i++) assert_int_equal(g_next[i], n);
    ASSERT_EVENTUALLY(atomic_load(&g_seq_dtors) == n);
    assert_int_equal(atomic_load(&g_dl->n), 0);
}

/* -------------------------------------------------- restarts under load */

static void test_restarts_under_load(void **st) {
    za_system *sys = *st;
    seq_reset();
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.max_restarts = 100;
    o.within_ms = 600000;
    za_ref r = tu_spawn(sys, &seq_beh, NULL, 0, &o);
    enum { P = 3, CRASHES = 12 };
    const long n = tu_size(10000);
    seq_producer sp[P];
    pthread_t th[P];
    for (int i = 0; i < P; i++) {
        sp[i] = (seq_producer){sys, r, i, n, false, 0};
        assert_int_equal(pthread_create(&th[i], NULL, seq_producer_main, &sp[i]), 0);
    }
    for (int c = 0; c < CRASHES; c++) {
        assert_int_equal(za_tell(sys, r, T_CRASH, NULL, 0), ZA_OK);
        tu_sleep_ms(2);
    }
    for (int i = 0; i < P; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sp[i].refused, 0); /* a restarting actor still takes messages */
    }
    /* every message queued behind the crashes was kept and handled in order */
    assert_int_equal(tu_ask_i64(sys, r, T_GET), P * n);
    assert_int_equal(atomic_load(&g_seq_errors), 0);
    for (int i = 0; i < P; i++) assert_int_equal(g_next[i], n);
    za_actor_info info;
    ASSERT_EVENTUALLY(za_actor_info_get(sys, r, &info) == ZA_OK && info.restarts == CRASHES);
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_FAILED) == CRASHES);
    assert_int_equal(atomic_load(&g_dl->n), CRASHES); /* nothing else was lost */
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.failures, CRASHES);
    assert_int_equal(m.restarts, CRASHES);
}

/* ----------------------------------------------------- ping-pong storm */

static atomic_int g_pairs_done;

typedef struct pinger {
    za_ref peer;
    int64_t rounds, count;
} pinger;

static int pinger_receive(za_ctx *ctx, const za_msg *m) {
    pinger *p = za_ctx_state(ctx);
    za_system *sys = za_ctx_system(ctx);
    switch (m->tag) {
    case T_START:
        memcpy(&p->peer, m->data, sizeof p->peer);
        memcpy(&p->rounds, (const char *)m->data + sizeof p->peer, sizeof p->rounds);
        return za_tell(sys, p->peer, T_PING, &p->count, sizeof p->count) == ZA_OK ? 0 : 1;
    case T_PING: /* the ponger side: answer the sender */
        p->count++;
        return za_tell(sys, m->sender, T_PONG, m->data, m->len) == ZA_OK ? 0 : 1;
    case T_PONG: {
        int64_t v;
        memcpy(&v, m->data, sizeof v);
        if (v != p->count) return 1; /* out of order or duplicated */
        p->count++;
        if (p->count < p->rounds)
            return za_tell(sys, p->peer, T_PING, &p->count, sizeof p->count) == ZA_OK ? 0 : 1;
        atomic_fetch_add(&g_pairs_done, 1);
        return 0;
    }
    case T_GET:
        return za_reply(ctx, T_GET, &p->count, sizeof p->count);
    default:
        return 0;
    }
}

static const za_behaviour pinger_beh = {ZA_BEHAVIOUR_INIT, .name = "pinger",
                                        .state_size = sizeof(pinger), .receive = pinger_receive};

static void test_ping_pong_storm(void **st) {
    za_system *sys = *st;
    atomic_store(&g_pairs_done, 0);
    enum { PAIRS = 16 };
    const int64_t rounds = tu_size(2000);
    za_ref a[PAIRS], b[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        a[i] = tu_spawn(sys, &pinger_beh, NULL, 0, NULL);
        b[i] = tu_spawn(sys, &pinger_beh, NULL, 0, NULL);
    }
    for (int i = 0; i < PAIRS; i++) {
        char buf[sizeof(za_ref) + sizeof(int64_t)];
        memcpy(buf, &b[i], sizeof b[i]);
        memcpy(buf + sizeof b[i], &rounds, sizeof rounds);
        assert_int_equal(za_tell(sys, a[i], T_START, buf, sizeof buf), ZA_OK);
    }
    ASSERT_EVENTUALLY(atomic_load(&g_pairs_done) == PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(tu_ask_i64(sys, a[i], T_GET), rounds);
        assert_int_equal(tu_ask_i64(sys, b[i], T_GET), rounds);
    }
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.failures, 0);
    assert_int_equal(atomic_load(&g_dl->n), 0);
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK &&
                      m.delivered == (uint64_t)(PAIRS * (2 * rounds + 1 + 2)));
}

/* ------------------------------------------------ spawn / stop churn */

static atomic_int g_mismatch, g_checked;

static int churn_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_CHECK: { /* the payload names the actor the sender meant */
        za_ref meant;
        memcpy(&meant, m->data, sizeof meant);
        if (meant != za_ctx_self(ctx)) atomic_fetch_add(&g_mismatch, 1);
        atomic_fetch_add(&g_checked, 1);
        return 0;
    }
    case T_STOPME:
        za_ctx_stop(ctx);
        return 0;
    default:
        return 0;
    }
}

static const za_behaviour churn_beh = {ZA_BEHAVIOUR_INIT, .name = "churn",
                                       .receive = churn_receive};

#define MAXCHURN 20000
static za_ref g_refs[MAXCHURN];
static atomic_int g_nrefs;

typedef struct churner {
    za_system *sys;
    int n;
    int id;
} churner;

static void *churner_main(void *p) {
    churner *c = p;
    for (int i = 0; i < c->n; i++) {
        za_ref r;
        if (za_spawn(c->sys, &churn_beh, NULL, 0, NULL, &r) != ZA_OK) continue;
        int k = atomic_fetch_add(&g_nrefs, 1);
        if (k < MAXCHURN) __atomic_store_n(&g_refs[k], r, __ATOMIC_RELEASE);
        za_tell(c->sys, r, T_CHECK, &r, sizeof r);
        if ((i + c->id) % 2)
            za_stop(c->sys, r);
        else
            za_tell(c->sys, r, T_STOPME, NULL, 0);
        if (i % 3 == 0) za_join(c->sys, r, TU_WAIT_MS);
    }
    return NULL;
}

typedef struct stale_sender {
    za_system *sys;
    atomic_int *stop;
    long ok;
    atomic_long dead; /* read by the test while the sender runs */
} stale_sender;

static void *stale_sender_main(void *p) {
    stale_sender *s = p;
    uint64_t x = 88172645463325252ull;
    while (!atomic_load(s->stop)) {
        int n = atomic_load(&g_nrefs);
        if (n == 0) continue;
        if (n > MAXCHURN) n = MAXCHURN;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        za_ref r = __atomic_load_n(&g_refs[x % (uint64_t)n], __ATOMIC_ACQUIRE);
        if (!r) continue;
        int rc = za_tell(s->sys, r, T_CHECK, &r, sizeof r);
        if (rc == ZA_OK)
            s->ok++;
        else if (rc == ZA_EDEAD)
            atomic_fetch_add(&s->dead, 1);
    }
    return NULL;
}

static void test_spawn_stop_churn(void **st) {
    za_system *sys = *st;
    atomic_store(&g_mismatch, 0);
    atomic_store(&g_checked, 0);
    atomic_store(&g_nrefs, 0);
    memset(g_refs, 0, sizeof g_refs);
    enum { T = 2 };
    int n = (int)tu_size(3000);
    if (n > MAXCHURN / T) n = MAXCHURN / T;
    churner c[T];
    pthread_t th[T], sth;
    atomic_int stop = 0;
    stale_sender ss = {sys, &stop, 0, 0};
    assert_int_equal(pthread_create(&sth, NULL, stale_sender_main, &ss), 0);
    for (int i = 0; i < T; i++) {
        c[i] = (churner){sys, n, i};
        assert_int_equal(pthread_create(&th[i], NULL, churner_main, &c[i]), 0);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    /* On a loaded machine the churn can end before the stale sender met a
     * dead ref; every churned actor is stopping now, so it meets one soon:
     * wait for that (bounded) instead of asserting on the race. */
    for (unsigned ms = 0; atomic_load(&ss.dead) == 0 && ms < TU_WAIT_MS; ms++) tu_sleep_ms(1);
    atomic_store(&stop, 1);
    pthread_join(sth, NULL);
    int total = atomic_load(&g_nrefs);
    assert_int_equal(total, T * n);
    assert_int_equal(za_system_wait_idle(sys, TU_WAIT_MS), ZA_OK);
    /* no message ever reached an actor it was not meant for */
    assert_int_equal(atomic_load(&g_mismatch), 0);
    assert_true(atomic_load(&g_checked) > 0);
    assert_true(atomic_load(&ss.dead) > 0); /* stale refs were refused... */
    /* ...every one of them, now */
    int distinct_slots = 0;
    for (int i = 0; i < total; i++) {
        assert_int_equal(za_is_alive(sys, g_refs[i]), 0);
        assert_int_equal(za_tell(sys, g_refs[i], T_CHECK, &g_refs[i], sizeof g_refs[i]), ZA_EDEAD);
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = za_ref_slot(g_refs[j]) == za_ref_slot(g_refs[i]);
        distinct_slots += !seen;
        for (int j = 0; j < i; j++) assert_true(g_refs[j] != g_refs[i]); /* refs never repeat */
    }
    assert_true(distinct_slots < total); /* slots were reused */
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.spawned, (uint64_t)total);
    assert_int_equal(m.stopped, (uint64_t)total);
    assert_int_equal(m.actors_alive, 0);
}

/* ----------------------------------------------- asks from many threads */

static int echo_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_ECHO) return za_reply(ctx, T_ECHO, m->data, m->len);
    if (m->tag == T_GET) return za_reply(ctx, T_GET, NULL, 0);
    return 0;
}

static const za_behaviour echo_beh = {ZA_BEHAVIOUR_INIT, .name = "echo", .receive = echo_receive};

#define NECHO 4
#define MAXASYNC 4096

typedef struct asker {
    za_system *sys;
    za_ref *echo;
    int id;
    int n;
    int ok, timedout, bad;
    int async_n, async_cancelled;
    atomic_int *cb_counts; /* one per async ask */
} asker;

typedef struct cb_ud {
    atomic_int *count;
    atomic_int *bad;
    int64_t want;
} cb_ud;

static atomic_int g_cb_bad;

static void async_cb(za_answer *a, void *ud) {
    cb_ud *u = ud;
    if (a->status == ZA_OK) {
        int64_t v = 0;
        if (a->len != sizeof v)
            atomic_fetch_add(u->bad, 1);
        else {
            memcpy(&v, a->data, sizeof v);
            if (v != u->want) atomic_fetch_add(u->bad, 1);
        }
    } else if (a->status != ZA_ECANCELLED) {
        atomic_fetch_add(u->bad, 1);
    }
    za_answer_free(a);
    atomic_fetch_add(u->count, 1);
}

static void *asker_main(void *p) {
    asker *k = p;
    for (int i = 0; i < k->n; i++) {
        int64_t v = (int64_t)k->id * 1000000 + i;
        uint32_t timeout = i % 10 == 0 ? 0 : TU_WAIT_MS; /* some asks give up at once */
        za_answer a;
        int rc = za_ask(k->sys, k->echo[(k->id + i) % NECHO], T_ECHO, &v, sizeof v, timeout, &a);
        if (rc == ZA_OK) {
            int64_t got;
            if (a.len == sizeof got && (memcpy(&got, a.data, sizeof got), got == v))
                k->ok++;
            else
                k->bad++;
        } else if (rc == ZA_ETIMEDOUT) {
            k->timedout++;
        } else {
            k->bad++;
        }
        za_answer_free(&a);
    }
    cb_ud *uds = calloc((size_t)k->async_n, sizeof *uds);
    for (int i = 0; i < k->async_n; i++) {
        uds[i] = (cb_ud){&k->cb_counts[i], &g_cb_bad, (int64_t)k->id * 1000000 + i};
        za_ask_handle *h = NULL;
        if (za_ask_async(k->sys, k->echo[i % NECHO], T_ECHO, &uds[i].want, sizeof uds[i].want, 0,
                         async_cb, &uds[i], &h) != ZA_OK) {
            k->bad++;
            continue;
        }
        if (i % 3 == 0) k->async_cancelled += za_ask_cancel(h);
        za_ask_handle_release(h);
    }
    /* callbacks reference uds: wait for all before freeing */
    for (int i = 0; i < k->async_n; i++)
        if (!WAIT_UNTIL(atomic_load(&k->cb_counts[i]) >= 1, TU_WAIT_MS)) k->bad++;
    free(uds);
    return NULL;
}

static void test_asks_from_many_threads(void **st) {
    za_system *sys = *st;
    atomic_store(&g_cb_bad, 0);
    za_ref echo[NECHO];
    for (int i = 0; i < NECHO; i++) echo[i] = tu_spawn(sys, &echo_beh, NULL, 0, NULL);
    enum { T = 4 };
    const int n = (int)tu_size(3000);
    const int an = (int)(tu_size(2000) > MAXASYNC ? MAXASYNC : tu_size(2000));
    asker k[T];
    pthread_t th[T];
    atomic_int *counts = calloc((size_t)(T * an), sizeof *counts);
    assert_non_null(counts);
    for (int i = 0; i < T; i++) {
        k[i] = (asker){sys, echo, i, n, 0, 0, 0, an, 0, counts + (size_t)i * an};
        assert_int_equal(pthread_create(&th[i], NULL, asker_main, &k[i]), 0);
    }
    int ok = 0, timedout = 0, cancelled = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(k[i].bad, 0);
        assert_int_equal(k[i].ok + k[i].timedout, n); /* every ask came back */
        ok += k[i].ok;
        timedout += k[i].timedout;
        cancelled += k[i].async_cancelled;
    }
    assert_true(ok > 0);
    /* each callback ran exactly once */
    tu_sleep_ms(20);
    for (int i = 0; i < T * an; i++) assert_int_equal(atomic_load(&counts[i]), 1);
    assert_int_equal(atomic_load(&g_cb_bad), 0);
    /* once every echo has handled everything, each abandoned ask left exactly one late reply */
    for (int i = 0; i < NECHO; i++) {
        za_answer a;
        assert_int_equal(tu_ask(sys, echo[i], T_GET, &a), ZA_OK);
        za_answer_free(&a);
    }
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_LATE_REPLY) == timedout + cancelled);
    tu_sleep_ms(20);
    assert_int_equal(tu_dl_count(g_dl, ZA_DL_LATE_REPLY), timedout + cancelled);
    assert_int_equal(atomic_load(&g_dl->n), timedout + cancelled);
    free(counts);
}

/* ------------------------------------------- shutdown with traffic */

static atomic_long g_hop_received, g_hop_forwarded;

typedef struct hopper {
    za_ref next[2];
} hopper;

static int hopper_start(za_ctx *ctx, const void *args, size_t len) {
    memcpy(za_ctx_state(ctx), args, sizeof(hopper));
    return 0;
}

static int hopper_receive(za_ctx *ctx, const za_msg *m) {
    hopper *h = za_ctx_state(ctx);
    if (m->tag != T_HOP) return 0;
    atomic_fetch_add(&g_hop_received, 1);
    int32_t hops;
    memcpy(&hops, m->data, sizeof hops);
    if (hops <= 0) return 0;
    hops--;
    for (int i = 0; i < 2; i++) /* fan out: one message becomes two */
        if (h->next[i] && hops % 2 == i &&
            za_tell(za_ctx_system(ctx), h->next[i], T_HOP, &hops, sizeof hops) == ZA_OK)
            atomic_fetch_add(&g_hop_forwarded, 1);
    if (h->next[0] && hops > 3 &&
        za_tell(za_ctx_system(ctx), h->next[0], T_HOP, &hops, sizeof hops) == ZA_OK)
        atomic_fetch_add(&g_hop_forwarded, 1);
    return 0;
}

static const za_behaviour hopper_beh = {ZA_BEHAVIOUR_INIT, .name = "hopper",
                                        .state_size = sizeof(hopper), .start = hopper_start,
                                        .receive = hopper_receive};

typedef struct blaster {
    za_system *sys;
    za_ref *targets;
    int ntargets;
    long accepted, refused;
} blaster;

/* accepted sends of all blasters so far: the test waits for traffic on it */
static atomic_long g_blast_accepted;

static void *blaster_main(void *p) {
    blaster *b = p;
    int32_t hops = 6;
    for (long i = 0;; i++) {
        int rc = za_tell(b->sys, b->targets[i % b->ntargets], T_HOP, &hops, sizeof hops);
        if (rc == ZA_OK) {
            b->accepted++;
            atomic_fetch_add_explicit(&g_blast_accepted, 1, memory_order_relaxed);
        } else {
            b->refused++;
            if (rc == ZA_ESHUTDOWN) break;
        }
        if (i % 128 == 0) tu_sleep_us(100);
    }
    return NULL;
}

static void test_shutdown_with_traffic(void **st) {
    (void)st;
    atomic_store(&g_hop_received, 0);
    atomic_store(&g_hop_forwarded, 0);
    za_system *sys = tu_system(2);
    tu_dl *dl = tu_dl_new();
    za_set_dead_letter_hook(sys, tu_dl_hook, dl);
    enum { N = 8, P = 4 };
    za_ref ring[N];
    /* spawn back to front so each knows the next two */
    for (int i = N - 1; i >= 0; i--) {
        hopper h = {{i + 1 < N ? ring[i + 1] : 0, i + 2 < N ? ring[i + 2] : 0}};
        ring[i] = tu_spawn(sys, &hopper_beh, &h, sizeof h, NULL);
    }
    blaster b[P];
    pthread_t th[P];
    atomic_store(&g_blast_accepted, 0);
    for (int i = 0; i < P; i++) {
        b[i] = (blaster){sys, ring, N, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, blaster_main, &b[i]), 0);
    }
    /* shut down with traffic flowing: wait for it rather than a fixed 50 ms,
     * in which a loaded machine once ran no sender at all (accepted == 0) */
    assert_true(WAIT_UNTIL(atomic_load(&g_blast_accepted) >= 256, TU_WAIT_MS));
    int rc = za_system_shutdown(sys, 3 * TU_WAIT_MS);
    assert_int_equal(rc, ZA_OK);
    long accepted = atomic_load(&g_hop_forwarded);
    for (int i = 0; i < P; i++) {
        pthread_join(th[i], NULL);
        accepted += b[i].accepted;
    }
    long delivered = atomic_load(&g_hop_received), dead = atomic_load(&dl->n);
    assert_true(accepted > 0);
    assert_int_equal(accepted, delivered + dead); /* none lost, none doubled */
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    assert_int_equal(m.sent, (uint64_t)accepted);
    assert_int_equal(m.delivered, (uint64_t)delivered);
    za_system_destroy(sys);
    tu_dl_free(dl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_producers_one_actor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restarts_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_pong_storm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_stop_churn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asks_from_many_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_with_traffic, setup, teardown),
    };
    return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
