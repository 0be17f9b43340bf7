/* Metrics: counters, dead letter hook, Prometheus text, latency percentiles, actor info. */
#include "testutil.h"

enum { T_ADD = 1, T_GET, T_CRASH, T_GATE, T_HOLD, T_FWD, T_X };

static tu_gate g_gate;
static za_reply_slot *g_slot;
static atomic_int g_have_slot;

static int m_receive(za_ctx *ctx, const za_msg *m) {
    int64_t *n = za_ctx_state(ctx);
    switch (m->tag) {
    case T_ADD:
        (*n)++;
        return 0;
    case T_GET:
        return za_reply(ctx, T_GET, n, sizeof *n);
    case T_CRASH:
        za_ctx_fail(ctx, 3, "crash requested");
        return 1;
    case T_GATE:
        tu_gate_pass(&g_gate);
        return 0;
    case T_HOLD:
        g_slot = za_ctx_take_reply(ctx);
        atomic_store(&g_have_slot, 1);
        return 0;
    case T_FWD: { /* tell T_X (payload 8 bytes "fwd-fwd!") to the ref in the payload */
        za_ref to;
        memcpy(&to, m->data, sizeof to);
        return za_tell(za_ctx_system(ctx), to, T_X, "fwd-fwd!", 8) == ZA_OK ? 0 : 1;
    }
    default:
        return 0;
    }
}

static const za_behaviour m_beh = {ZA_BEHAVIOUR_INIT, .name = "metered",
                                   .state_size = sizeof(int64_t), .receive = m_receive};

static int fail_start(za_ctx *ctx, const void *a, size_t l) {
    return 1;
}
static const za_behaviour failing_beh = {ZA_BEHAVIOUR_INIT, .name = "failing", .start = fail_start,
                                         .receive = m_receive};

static tu_dl *g_dl;

static int setup(void **st) {
    tu_gate_init(&g_gate);
    atomic_store(&g_have_slot, 0);
    g_slot = NULL;
    *st = tu_system(2);
    g_dl = tu_dl_new();
    za_set_dead_letter_hook(*st, tu_dl_hook, g_dl);
    return 0;
}

static int teardown(void **st) {
    tu_gate_open(&g_gate);
    za_system_destroy(*st);
    tu_dl_free(g_dl);
    g_dl = NULL;
    return 0;
}

static za_metrics metrics(za_system *sys) {
    za_metrics m;
    assert_int_equal(za_metrics_read(sys, &m), ZA_OK);
    return m;
}

#define EVENTUALLY_METRIC(sys, field, value)                                                       \
    do {                                                                                           \
        za_metrics m_;                                                                             \
        bool ok_ =                                                                                 \
            WAIT_UNTIL(za_metrics_read((sys), &m_) == ZA_OK && m_.field == (value), TU_WAIT_MS);   \
        if (!ok_)                                                                                  \
            fprintf(stderr, "metric %s = %llu, want %llu\n", #field, (unsigned long long)m_.field, \
                    (unsigned long long)(value));                                                  \
        assert_true(ok_);                                                                          \
    } while (0)

static void test_counters(void **st) {
    za_system *sys = *st;
    za_metrics m = metrics(sys);
    assert_int_equal(m.sent, 0);
    assert_int_equal(m.spawned, 0);
    assert_int_equal(m.actors_alive, 0);
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    m = metrics(sys);
    assert_int_equal(m.spawned, 1);
    assert_int_equal(m.actors_alive, 1);
    for (int i = 0; i < 10; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 10);
    EVENTUALLY_METRIC(sys, sent, 11);
    EVENTUALLY_METRIC(sys, delivered, 11);
    m = metrics(sys);
    assert_int_equal(m.dead_letters, 0);
    assert_int_equal(m.failures, 0);
    assert_int_equal(m.restarts, 0);
    assert_int_equal(m.stopped, 0);
    /* a refused send counts nowhere */
    za_ref b = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    assert_int_equal(za_stop(sys, b), ZA_OK);
    assert_int_equal(za_join(sys, b, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_tell(sys, b, T_ADD, NULL, 0), ZA_EDEAD);
    m = metrics(sys);
    assert_int_equal(m.sent, 11);
    assert_int_equal(m.spawned, 2);
    assert_int_equal(m.stopped, 1);
    assert_int_equal(m.actors_alive, 1);
    /* a failure: failures, restarts, one dead letter */
    assert_int_equal(za_tell(sys, a, T_CRASH, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 0);
    EVENTUALLY_METRIC(sys, failures, 1);
    EVENTUALLY_METRIC(sys, restarts, 1);
    EVENTUALLY_METRIC(sys, dead_letters, 1);
    EVENTUALLY_METRIC(sys, sent, 13);
    /* a failing synchronous start counts one failure */
    za_ref f;
    assert_int_equal(za_spawn_sync(sys, &failing_beh, NULL, 0, NULL, TU_WAIT_MS, &f), ZA_ESTART);
    EVENTUALLY_METRIC(sys, failures, 2);
    EVENTUALLY_METRIC(sys, stopped, 2);
    m = metrics(sys);
    assert_int_equal(m.spawned, 3);
    assert_int_equal(m.actors_alive, 1);
    assert_int_equal(m.restarts, 1);
    /* timers */
    assert_int_equal(za_send_after(sys, 1, a, T_ADD, NULL, 0, NULL), ZA_OK);
    EVENTUALLY_METRIC(sys, timers_fired, 1);
    EVENTUALLY_METRIC(sys, sent, 14);
    EVENTUALLY_METRIC(sys, delivered, 14);
    /* counters never go backwards, and the hook saw what the counter counted */
    assert_int_equal(metrics(sys).dead_letters, (uint64_t)atomic_load(&g_dl->n));
}

typedef struct teller {
    za_system *sys;
    za_ref to;
    int n;
    int ok;
} teller;

static void *teller_main(void *p) {
    teller *t = p;
    for (int i = 0; i < t->n; i++) t->ok += za_tell(t->sys, t->to, T_ADD, NULL, 0) == ZA_OK;
    return NULL;
}

static void test_counters_from_many_threads(void **st) {
    /* counts from outside threads that come and go are neither lost nor doubled */
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    enum { T = 4, ROUNDS = 3 };
    const int per = (int)tu_size(2000);
    int total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t th[T];
        teller t[T];
        for (int i = 0; i < T; i++) {
            t[i] = (teller){sys, a, per, 0};
            assert_int_equal(pthread_create(&th[i], NULL, teller_main, &t[i]), 0);
        }
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(t[i].ok, per);
            total += per;
        }
    }
    assert_int_equal(tu_ask_i64(sys, a, T_GET), total);
    EVENTUALLY_METRIC(sys, sent, (uint64_t)total + 1);
    EVENTUALLY_METRIC(sys, delivered, (uint64_t)total + 1);
}

static void test_dead_letter_reasons(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    za_ref fwd = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    /* DEAD_TARGET: queued behind a stop, incl. one sent by another actor */
    assert_int_equal(za_tell(sys, a, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    assert_int_equal(za_tell(sys, a, T_ADD, "12345678", 8), ZA_OK);
    assert_int_equal(za_tell(sys, fwd, T_FWD, &a, sizeof a), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, fwd, T_GET), 0); /* the forward happened */
    assert_int_equal(za_stop(sys, a), ZA_OK);
    tu_gate_open(&g_gate);
    assert_int_equal(za_join(sys, a, TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_DEAD_TARGET) == 2);
    pthread_mutex_lock(&g_dl->mu);
    for (int i = 0; i < 2; i++) {
        assert_true(g_dl->rec[i].target == a);
        assert_int_equal(g_dl->rec[i].reason, ZA_DL_DEAD_TARGET);
        assert_int_equal(g_dl->rec[i].len, 8);
        if (g_dl->rec[i].tag == T_ADD) {
            assert_true(g_dl->rec[i].sender == ZA_REF_NONE);
            assert_memory_equal(&g_dl->rec[i].first8, "12345678", 8);
        } else {
            assert_int_equal(g_dl->rec[i].tag, T_X);
            assert_true(g_dl->rec[i].sender == fwd); /* the sender is kept */
            assert_memory_equal(&g_dl->rec[i].first8, "fwd-fwd!", 8);
        }
    }
    pthread_mutex_unlock(&g_dl->mu);

    /* FAILED */
    za_ref b = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, b, T_CRASH, "boom", 4), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_FAILED) == 1);
    assert_int_equal(tu_dl_count_tag(g_dl, T_CRASH, ZA_DL_FAILED), 1);

    /* LATE_REPLY */
    za_answer ans;
    assert_int_equal(za_ask(sys, b, T_HOLD, NULL, 0, 20, &ans), ZA_ETIMEDOUT);
    za_answer_free(&ans);
    ASSERT_EVENTUALLY(atomic_load(&g_have_slot));
    assert_int_equal(za_reply_send(sys, g_slot, T_GET, "late", 4), ZA_OK);
    ASSERT_EVENTUALLY(tu_dl_count(g_dl, ZA_DL_LATE_REPLY) == 1);
    assert_int_equal(tu_dl_count_tag(g_dl, T_GET, ZA_DL_LATE_REPLY), 1);

    /* DROPPED, on a manual system where the bound is exact */
    za_system *ms = tu_manual_system();
    tu_dl *mdl = tu_dl_new();
    za_set_dead_letter_hook(ms, tu_dl_hook, mdl);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.capacity = 1;
    o.full_policy = ZA_FULL_DROP_NEWEST;
    za_ref c = tu_spawn(ms, &m_beh, NULL, 0, &o);
    assert_int_equal(za_tell(ms, c, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(za_tell(ms, c, T_X, "dropped!", 8), ZA_EDROPPED);
    assert_int_equal(tu_dl_count(mdl, ZA_DL_DROPPED), 1);
    assert_int_equal(tu_dl_count_tag(mdl, T_X, ZA_DL_DROPPED), 1);
    assert_int_equal(metrics(ms).dead_letters, 1);
    /* removing the hook stops the calls (the counter still counts) */
    za_set_dead_letter_hook(ms, NULL, NULL);
    assert_int_equal(za_tell(ms, c, T_X, NULL, 0), ZA_EDROPPED);
    assert_int_equal(atomic_load(&mdl->n), 1);
    assert_int_equal(metrics(ms).dead_letters, 2);
    za_system_destroy(ms);
    tu_dl_free(mdl);

    /* the fixture system's counter matches its hook */
    EVENTUALLY_METRIC(sys, dead_letters, (uint64_t)atomic_load(&g_dl->n));
    assert_int_equal(atomic_load(&g_dl->n), 4);
}

static bool contains_line_prefix(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, n) == 0) return true;
    return false;
}

static void test_prometheus(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    for (int i = 0; i < 5; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 5);
    EVENTUALLY_METRIC(sys, delivered, 6);
    int need = za_metrics_prometheus(sys, NULL, 0);
    assert_true(need > 0);
    char *buf = malloc((size_t)need + 1);
    assert_non_null(buf);
    assert_int_equal(za_metrics_prometheus(sys, buf, (size_t)need + 1), need);
    assert_int_equal(strlen(buf), (size_t)need);
    const char *names[] = {"zactor_messages_sent_total",  "zactor_messages_delivered_total",
                           "zactor_dead_letters_total",   "zactor_restarts_total",
                           "zactor_failures_total",       "zactor_actors_spawned_total",
                           "zactor_actors_stopped_total", "zactor_timers_fired_total",
                           "zactor_actors_alive",         "zactor_queue_latency_seconds",
                           "zactor_processing_seconds"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char help[128], type[128];
        snprintf(help, sizeof help, "# HELP %s ", names[i]);
        snprintf(type, sizeof type, "# TYPE %s ", names[i]);
        assert_true(contains_line_prefix(buf, help));
        assert_true(contains_line_prefix(buf, type));
        assert_true(contains_line_prefix(buf, names[i]));
    }
    assert_true(contains_line_prefix(buf, "zactor_messages_sent_total 6\n"));
    assert_true(contains_line_prefix(buf, "zactor_messages_delivered_total 6\n"));
    assert_true(contains_line_prefix(buf, "zactor_actors_spawned_total 1\n"));
    assert_true(contains_line_prefix(buf, "zactor_actors_alive 1\n"));
    assert_true(contains_line_prefix(buf, "zactor_queue_latency_seconds{quantile=\"0.5\"} "));
    assert_true(contains_line_prefix(buf, "zactor_processing_seconds{quantile=\"0.99\"} "));
    assert_true(contains_line_prefix(buf, "zactor_processing_seconds_count "));
    assert_true(buf[need - 1] == '\n');

    /* a small buffer: the needed length, and a NUL-terminated prefix */
    char small[32];
    memset(small, 'x', sizeof small);
    assert_int_equal(za_metrics_prometheus(sys, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, buf, sizeof small - 1);
    char one[1] = {'x'};
    assert_int_equal(za_metrics_prometheus(sys, one, 1), need);
    assert_int_equal(one[0], '\0');
    ASSERT_ERR(za_metrics_prometheus(sys, NULL, 10), ZA_EINVAL);
    free(buf);
}

static void test_latency_all_sampled(void **st) {
    (void)st;
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.latency_sample = 1;
    za_system *sys = tu_system_cfg(&cfg);
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    for (int i = 0; i < 200; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 200);
    za_metrics m;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.process_latency.count == 201);
    assert_int_equal(m.queue_latency.count, 201);
    const za_latency *ls[2] = {&m.queue_latency, &m.process_latency};
    for (int i = 0; i < 2; i++) {
        const za_latency *l = ls[i];
        assert_true(l->p50_ns <= l->p95_ns);
        assert_true(l->p95_ns <= l->p99_ns);
        assert_true(l->p99_ns <= l->max_ns);
        assert_true(l->max_ns > 0);
        assert_true(l->sum_ns >= l->max_ns);
    }
    /* percentiles are the same in the text */
    int need = za_metrics_prometheus(sys, NULL, 0);
    char *buf = malloc((size_t)need + 1);
    za_metrics_prometheus(sys, buf, (size_t)need + 1);
    assert_true(contains_line_prefix(buf, "zactor_queue_latency_seconds_count 201\n"));
    assert_true(contains_line_prefix(buf, "zactor_processing_seconds_count 201\n"));
    free(buf);
    za_system_destroy(sys);
}

/* The value of the sample line that starts with `prefix` (then a space). */
static bool sample_value(const char *text, const char *prefix, double *out) {
    size_t n = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncmp(l, prefix, n) && l[n] == ' ') return sscanf(l + n + 1, "%lf", out) == 1;
    return false;
}

/* The exposition format's summary: quantile samples, then <name>_sum and
 * <name>_count. _sum was missing (a Prometheus parser reads the family as
 * incomplete and averages cannot be computed). */
static void test_prometheus_summary_sum_and_count(void **st) {
    (void)st;
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.latency_sample = 1;
    za_system *sys = tu_system_cfg(&cfg);
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    for (int i = 0; i < 50; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 50);
    za_metrics m;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.process_latency.count == 51);
    int need = za_metrics_prometheus(sys, NULL, 0);
    char *buf = malloc((size_t)need + 1);
    assert_non_null(buf);
    za_metrics_prometheus(sys, buf, (size_t)need + 1);
    const char *fams[] = {"zactor_queue_latency_seconds", "zactor_processing_seconds"};
    for (int i = 0; i < 2; i++) {
        char name[96];
        double sum = -1, count = -1, max = -1;
        snprintf(name, sizeof name, "%s_sum", fams[i]);
        if (!sample_value(buf, name, &sum)) fail_msg("no %s line in:\n%s", name, buf);
        snprintf(name, sizeof name, "%s_count", fams[i]);
        assert_true(sample_value(buf, name, &count));
        snprintf(name, sizeof name, "%s{quantile=\"1\"}", fams[i]);
        assert_true(sample_value(buf, name, &max));
        assert_true(count == 51.0);
        /* every sample is at least 0 and the largest is one of them */
        assert_true(sum >= max);
        assert_true(sum <= max * count * 1.000001 + 1e-9);
        /* _sum and _count come after the quantiles, _sum first */
        snprintf(name, sizeof name, "\n%s_sum ", fams[i]);
        const char *ps = strstr(buf, name);
        snprintf(name, sizeof name, "\n%s_count ", fams[i]);
        const char *pc = strstr(buf, name);
        snprintf(name, sizeof name, "\n%s{quantile=\"1\"} ", fams[i]);
        const char *pq = strstr(buf, name);
        assert_true(pq && ps && pc && pq < ps && ps < pc);
    }
    free(buf);
    za_system_destroy(sys);
}

static void test_latency_sampled(void **st) {
    za_system *sys = *st; /* default: 1 message in 64 */
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    for (int i = 0; i < 640; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 640);
    za_metrics m;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.delivered == 641);
    ASSERT_EVENTUALLY(za_metrics_read(sys, &m) == ZA_OK && m.process_latency.count >= 10);
    assert_in_range(m.queue_latency.count, 10, 11);
    assert_in_range(m.process_latency.count, 10, 11);
}

static void test_actor_info(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &m_beh, NULL, 0, NULL);
    za_actor_info info;
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 0);
    ASSERT_EVENTUALLY(za_actor_info_get(sys, a, &info) == ZA_OK && info.processed == 1);
    assert_string_equal(info.behaviour, "metered");
    for (int i = 0; i < 20; i++) assert_int_equal(za_tell(sys, a, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, a, T_GET), 20);
    ASSERT_EVENTUALLY(za_actor_info_get(sys, a, &info) == ZA_OK && info.processed == 22);
    ASSERT_EVENTUALLY(za_actor_info_get(sys, a, &info) == ZA_OK && info.mailbox_depth == 0);
    /* depth is exact on a manual system */
    za_system *ms = tu_manual_system();
    za_ref b = tu_spawn(ms, &m_beh, NULL, 0, NULL);
    za_system_run(ms, 0);
    for (int i = 0; i < 7; i++) assert_int_equal(za_tell(ms, b, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(za_actor_info_get(ms, b, &info), ZA_OK);
    assert_int_equal(info.mailbox_depth, 7);
    assert_int_equal(info.processed, 0);
    za_system_run(ms, 0);
    assert_int_equal(za_actor_info_get(ms, b, &info), ZA_OK);
    assert_int_equal(info.mailbox_depth, 0);
    assert_int_equal(info.processed, 7);
    za_system_destroy(ms);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_from_many_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_all_sampled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_summary_sum_and_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_sampled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actor_info, setup, teardown),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
