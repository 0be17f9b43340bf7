/*
 * test_reminders.c - persistent grain reminders (csrc/grain/reminders.c):
 * periodic firing into a C grain, the payload [name, missed, period_s,
 * due_unix_s], survival across a system restart on one sqlite file, late
 * delivery with a missed count after the process was down (and none with
 * catch_up = 0), replacing and forgetting, reminders from inside an
 * activation, reminders of a type registered late, bad input.
 *
 * Periods are at least 1 s (the floor), so the tests use a small first due
 * time and wait for one or two ticks; waits are bounded, nothing asserts
 * on how fast anything happened.
 */
#include <unistd.h>

#include "grain/grain.h"
#include "testservers.h"
#include "testutil.h"

enum {
    T_REMIND = 1, /* payload: [name, due_ms, period_ms, catch_up] raw uint64s after a name */
    T_FORGET = 2,
    T_DONE = 100, /* completions of remind/forget from inside the grain */
};

/* ------------------------------------------------------- what grains saw */

typedef struct tick {
    char key[32], name[32];
    int64_t missed;
    double period_s, due_s;
    uint64_t at_ms; /* unix ms when received */
} tick;

#define MAXTICKS 256
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static tick g_ticks[MAXTICKS];
static int g_nticks;
static int g_bad_payload;
static int g_done_status[8];
static int g_ndone;

static uint64_t unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void reset(void) {
    pthread_mutex_lock(&g_mu);
    g_nticks = 0;
    g_bad_payload = 0;
    g_ndone = 0;
    pthread_mutex_unlock(&g_mu);
}

static int nticks(const char *key, const char *name) {
    pthread_mutex_lock(&g_mu);
    int n = 0;
    for (int i = 0; i < g_nticks; i++)
        if ((!key || !strcmp(g_ticks[i].key, key)) && (!name || !strcmp(g_ticks[i].name, name)))
            n++;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* The i-th tick of (key, name). */
static tick get_tick(const char *key, const char *name, int which) {
    tick t = {0};
    pthread_mutex_lock(&g_mu);
    for (int i = 0, k = 0; i < g_nticks; i++)
        if (!strcmp(g_ticks[i].key, key) && !strcmp(g_ticks[i].name, name) && k++ == which) {
            t = g_ticks[i];
            break;
        }
    pthread_mutex_unlock(&g_mu);
    return t;
}

/* ---------------------------------------------------------- the grain */

static void record(za_ctx *ctx, const za_msg *m) {
    za_ref me;
    const char *type, *key = "?";
    if (za_ctx_grain(ctx, &me) == 1) za_grain_identity(za_ctx_system(ctx), me, &type, &key);
    za_doc *doc;
    tick t = {.at_ms = unix_ms()};
    snprintf(t.key, sizeof t.key, "%s", key);
    bool ok = za_doc_decode(m->data, m->len, &doc) == ZA_OK;
    if (ok) {
        const za_value *v = za_doc_root(doc);
        ok = v->type == ZA_V_ARRAY && v->v.array.n == 4 && v->v.array.items[0].type == ZA_V_STR &&
             v->v.array.items[1].type == ZA_V_INT && v->v.array.items[2].type == ZA_V_DOUBLE &&
             v->v.array.items[3].type == ZA_V_DOUBLE;
        if (ok) {
            const za_value *it = v->v.array.items;
            snprintf(t.name, sizeof t.name, "%.*s", (int)it[0].v.str.len, it[0].v.str.ptr);
            t.missed = it[1].v.i;
            t.period_s = it[2].v.d;
            t.due_s = it[3].v.d;
        }
        za_doc_free(doc);
    }
    pthread_mutex_lock(&g_mu);
    if (!ok)
        g_bad_payload++;
    else if (g_nticks < MAXTICKS)
        g_ticks[g_nticks++] = t;
    pthread_mutex_unlock(&g_mu);
}

typedef struct remind_cmd {
    char name[32];
    uint64_t due_ms, period_ms;
    int catch_up;
} remind_cmd;

static int grain_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case ZA_TAG_REMINDER:
        record(ctx, m);
        return 0;
    case T_REMIND: {
        remind_cmd c;
        memcpy(&c, m->data, sizeof c);
        int64_t rc =
            za_ctx_grain_remind(ctx, c.name, c.due_ms, c.period_ms, c.catch_up, T_DONE, NULL);
        if (za_ctx_can_reply(ctx)) za_reply(ctx, 0, &rc, sizeof rc);
        return 0;
    }
    case T_FORGET: {
        int64_t rc = za_ctx_grain_forget(ctx, (const char *)m->data, T_DONE, NULL);
        if (za_ctx_can_reply(ctx)) za_reply(ctx, 0, &rc, sizeof rc);
        return 0;
    }
    case T_DONE:
        pthread_mutex_lock(&g_mu);
        if (g_ndone < 8) g_done_status[g_ndone++] = m->status;
        pthread_mutex_unlock(&g_mu);
        return 0;
    default:
        return 0;
    }
}

static const za_behaviour GRAIN = {ZA_BEHAVIOUR_INIT, .name = "reminded", .receive = grain_receive};

static int plain_receive(za_ctx *ctx, const za_msg *m) {
    int64_t rc = za_ctx_grain_remind(ctx, "x", 0, 1000, 1, T_DONE, NULL);
    za_reply(ctx, 0, &rc, sizeof rc);
    return 0;
}

static const za_behaviour PLAIN = {ZA_BEHAVIOUR_INIT, .name = "plain", .receive = plain_receive};

/* ------------------------------------------------------------- helpers */

typedef struct env {
    char dir[64];
    char url[128];
} env;

static int env_setup(void **state) {
    env *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/za-remind-XXXXXX");
    if (!mkdtemp(e->dir)) return -1;
    snprintf(e->url, sizeof e->url, "sqlite://%s/grains.db", e->dir);
    *state = e;
    reset();
    return 0;
}

static int env_teardown(void **state) {
    env *e = *state;
    ts_rm_rf(e->dir);
    free(e);
    return 0;
}

static za_system *open_system(const char *url, bool register_class) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.storage = url;
    za_system *sys = tu_system_cfg(&cfg);
    if (register_class) {
        za_grain_class cls = {.type = "timed", .behaviour = &GRAIN};
        assert_int_equal(za_grain_register(sys, &cls), ZA_OK);
    }
    return sys;
}

static za_ref gref(za_system *sys, const char *key) {
    za_ref r;
    assert_int_equal(za_grain_ref(sys, "timed", key, &r), ZA_OK);
    return r;
}

static void close_system(za_system *sys) {
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    za_system_destroy(sys);
}

/* --------------------------------------------------------------- tests */

/* A reminder fires into a grain that was never activated, then again a
 * period later; its payload says what it is. forget stops it. */
static void test_fires_periodically_and_forget(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    za_ref g = gref(sys, "alice");
    uint64_t t0 = unix_ms();
    assert_int_equal(za_grain_remind(sys, g, "settle", 50, 1000, 1, TU_WAIT_MS), ZA_OK);
    assert_true(WAIT_UNTIL(nticks("alice", "settle") >= 2, 5000));
    tick a = get_tick("alice", "settle", 0), b = get_tick("alice", "settle", 1);
    assert_int_equal(a.missed, 0);
    assert_true(a.period_s == 1.0);
    /* due times: t0 + 50 ms, then one period later */
    assert_true(a.due_s * 1000.0 >= (double)t0 + 50.0 - 1.0);
    assert_true(b.due_s - a.due_s > 0.999 && b.due_s - a.due_s < 1.001);
    assert_true(a.at_ms + 1 >= (uint64_t)(a.due_s * 1000.0)); /* never early */
    assert_int_equal(g_bad_payload, 0);
    /* forget: no further tick (wait longer than a period) */
    assert_int_equal(za_grain_forget(sys, g, "settle", TU_WAIT_MS), ZA_OK);
    int n = nticks("alice", "settle");
    tu_sleep_ms(1300);
    assert_int_equal(nticks("alice", "settle"), n);
    /* and a second forget knows there is nothing */
    assert_int_equal(za_grain_forget(sys, g, "settle", TU_WAIT_MS), ZA_ENOTFOUND);
    assert_non_null(strstr(za_last_error(), "settle"));
    close_system(sys);
}

/* Setting a name again replaces it (one reminder, the new period). */
static void test_replace(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    za_ref g = gref(sys, "bob");
    assert_int_equal(za_grain_remind(sys, g, "r", 600000, 1000, 1, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_grain_remind(sys, g, "r", 10, 2000, 1, TU_WAIT_MS), ZA_OK);
    assert_true(WAIT_UNTIL(nticks("bob", "r") >= 1, 5000));
    tick t = get_tick("bob", "r", 0);
    assert_true(t.period_s == 2.0);
    uint64_t count = 0;
    assert_int_equal(za__reminders_figures(sys, &count, NULL, NULL), ZA_OK);
    assert_int_equal(count, 1);
    assert_int_equal(za_grain_forget(sys, g, "r", TU_WAIT_MS), ZA_OK);
    close_system(sys);
}

/* The reminder outlives the system: a new system on the same file fires
 * it again without being told. */
static void test_survives_restart(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    assert_int_equal(za_grain_remind(sys, gref(sys, "carol"), "tick", 10, 1000, 1, TU_WAIT_MS),
                     ZA_OK);
    assert_true(WAIT_UNTIL(nticks("carol", "tick") >= 1, 5000));
    close_system(sys);
    int before = nticks("carol", "tick");
    sys = open_system(e->url, true);
    uint64_t count = 0;
    assert_int_equal(za__reminders_figures(sys, &count, NULL, NULL), ZA_OK);
    assert_int_equal(count, 1);
    assert_true(WAIT_UNTIL(nticks("carol", "tick") > before, 5000));
    tick t = get_tick("carol", "tick", before);
    assert_true(t.period_s == 1.0);
    close_system(sys);
}

/* Down past the due time: one late delivery at start saying how many
 * ticks were missed; with catch_up = 0 none, the next tick on schedule. */
static void test_late_delivery_after_down(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    assert_int_equal(za_grain_remind(sys, gref(sys, "dave"), "catch", 300, 1000, 1, TU_WAIT_MS),
                     ZA_OK);
    assert_int_equal(za_grain_remind(sys, gref(sys, "erin"), "skip", 300, 1000, 0, TU_WAIT_MS),
                     ZA_OK);
    close_system(sys); /* (normally before either was due) */
    int d0 = nticks("dave", "catch"), e0 = nticks("erin", "skip");
    tu_sleep_ms(1500); /* a tick fell due (at +0.3 s or +1.3 s) while nobody ran them */
    uint64_t restart = unix_ms();
    sys = open_system(e->url, true);
    assert_true(WAIT_UNTIL(nticks("dave", "catch") > d0, 5000));
    tick late = get_tick("dave", "catch", d0);
    assert_true(late.missed >= 1);
    assert_true(late.due_s * 1000.0 < (double)restart); /* it was due before the start */
    /* the skipping one comes on schedule, not late, and says nothing was missed */
    assert_true(WAIT_UNTIL(nticks("erin", "skip") > e0, 5000));
    tick s = get_tick("erin", "skip", e0);
    assert_int_equal(s.missed, 0);
    assert_true(s.due_s * 1000.0 >= (double)restart);
    /* after the late one, the catching-up reminder is back on its period */
    assert_true(WAIT_UNTIL(nticks("dave", "catch") > d0 + 1, 5000));
    assert_int_equal(get_tick("dave", "catch", d0 + 1).missed, 0);
    close_system(sys);
}

/* From inside an activation: completion as a message with the caller's
 * tag; a non-grain actor is refused. */
static void test_from_activation(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    za_ref g = gref(sys, "frank");
    remind_cmd c = {.name = "inside", .due_ms = 20, .period_ms = 1000, .catch_up = 1};
    za_answer ans;
    assert_int_equal(za_ask(sys, g, T_REMIND, &c, sizeof c, TU_WAIT_MS, &ans), ZA_OK);
    int64_t rc;
    memcpy(&rc, ans.data, sizeof rc);
    za_answer_free(&ans);
    assert_int_equal(rc, ZA_OK);
    assert_true(WAIT_UNTIL(nticks("frank", "inside") >= 1, 5000));
    /* the period floor, from inside too */
    c.period_ms = 999;
    assert_int_equal(za_ask(sys, g, T_REMIND, &c, sizeof c, TU_WAIT_MS, &ans), ZA_OK);
    memcpy(&rc, ans.data, sizeof rc);
    za_answer_free(&ans);
    assert_int_equal(rc, ZA_EINVAL);
    assert_int_equal(za_ask(sys, g, T_FORGET, "inside", 7, TU_WAIT_MS, &ans), ZA_OK);
    za_answer_free(&ans);
    assert_int_equal(za_ask(sys, g, T_FORGET, "inside", 7, TU_WAIT_MS, &ans), ZA_OK);
    za_answer_free(&ans);
    /* completions: remind OK, forget OK, forget ENOTFOUND */
    ASSERT_EVENTUALLY(__extension__({
        pthread_mutex_lock(&g_mu);
        int n = g_ndone;
        pthread_mutex_unlock(&g_mu);
        n >= 3;
    }));
    assert_int_equal(g_done_status[0], ZA_OK);
    assert_int_equal(g_done_status[1], ZA_OK);
    assert_int_equal(g_done_status[2], ZA_ENOTFOUND);
    za_ref plain = tu_spawn(sys, &PLAIN, NULL, 0, NULL);
    assert_int_equal(za_ask(sys, plain, 1, NULL, 0, TU_WAIT_MS, &ans), ZA_OK);
    memcpy(&rc, ans.data, sizeof rc);
    za_answer_free(&ans);
    assert_int_equal(rc, ZA_ESTATE);
    close_system(sys);
}

/* A stored reminder whose type is not registered waits, then fires once
 * the type is registered (late: it fell due meanwhile). */
static void test_parked_until_registered(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    assert_int_equal(za_grain_remind(sys, gref(sys, "gina"), "p", 300, 1000, 1, TU_WAIT_MS), ZA_OK);
    close_system(sys);
    int n0 = nticks("gina", "p"); /* (0 unless the close was slower than 300 ms) */
    sys = open_system(e->url, false);
    tu_sleep_ms(1200); /* due, but nobody to deliver to */
    assert_int_equal(nticks("gina", "p"), n0);
    za_grain_class cls = {.type = "timed", .behaviour = &GRAIN};
    assert_int_equal(za_grain_register(sys, &cls), ZA_OK);
    assert_true(WAIT_UNTIL(nticks("gina", "p") > n0, 5000));
    assert_true(get_tick("gina", "p", n0).missed >= 1);
    close_system(sys);
}

static void test_bad_input(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    za_ref g = gref(sys, "hal");
    assert_int_equal(za_grain_remind(sys, g, "r", 0, 999, 1, TU_WAIT_MS), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "at least 1000 ms"));
    assert_int_equal(za_grain_remind(sys, g, "", 0, 1000, 1, TU_WAIT_MS), ZA_EINVAL);
    assert_int_equal(za_grain_remind(sys, g, NULL, 0, 1000, 1, TU_WAIT_MS), ZA_EINVAL);
    assert_int_equal(za_grain_remind(sys, g, "\xff\xfe", 0, 1000, 1, TU_WAIT_MS), ZA_EINVAL);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(za_grain_remind(sys, g, longname, 0, 1000, 1, TU_WAIT_MS), ZA_EINVAL);
    assert_int_equal(za_grain_remind(sys, g, "r", UINT64_MAX, 1000, 1, TU_WAIT_MS), ZA_EINVAL);
    /* not a grain reference */
    za_ref plain = tu_spawn(sys, &PLAIN, NULL, 0, NULL);
    assert_int_equal(za_grain_remind(sys, plain, "r", 0, 1000, 1, TU_WAIT_MS), ZA_EINVAL);
    assert_int_equal(za_grain_forget(sys, plain, "r", TU_WAIT_MS), ZA_EINVAL);
    assert_int_equal(za_grain_forget(sys, g, "never", TU_WAIT_MS), ZA_ENOTFOUND);
    assert_int_equal(za_grain_remind(NULL, g, "r", 0, 1000, 1, TU_WAIT_MS), ZA_EINVAL);
    /* nothing was stored by the refused calls */
    uint64_t count = 9;
    assert_int_equal(za__reminders_figures(sys, &count, NULL, NULL), ZA_OK);
    assert_int_equal(count, 0);
    close_system(sys);
}

/* Reminders on the in-memory store fire too (and vanish with the system). */
static void test_memory_store(void **state) {
    (void)state;
    za_system *sys = open_system("memory://", true);
    assert_int_equal(za_grain_remind(sys, gref(sys, "ivy"), "m", 10, 1000, 1, TU_WAIT_MS), ZA_OK);
    assert_true(WAIT_UNTIL(nticks("ivy", "m") >= 1, 5000));
    close_system(sys);
}

/* A membership change reloads the rows (ownership follows homes): what
 * was scheduled stays scheduled, with the times fired so far written back. */
static void test_reload_on_members_changed(void **state) {
    env *e = *state;
    za_system *sys = open_system(e->url, true);
    assert_int_equal(za_grain_remind(sys, gref(sys, "jo"), "a", 10, 1000, 1, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_grain_remind(sys, gref(sys, "jo"), "b", 600000, 1000, 1, TU_WAIT_MS),
                     ZA_OK);
    assert_true(WAIT_UNTIL(nticks("jo", "a") >= 1, 5000));
    za__reminders_members_changed(sys);
    uint64_t count = 0;
    assert_true(
        WAIT_UNTIL(za__reminders_figures(sys, &count, NULL, NULL) == ZA_OK && count == 2, 5000));
    int n = nticks("jo", "a");
    assert_true(WAIT_UNTIL(nticks("jo", "a") > n, 5000));
    /* on schedule after the reload: nothing was reported missed */
    assert_int_equal(get_tick("jo", "a", n).missed, 0);
    assert_int_equal(nticks("jo", "b"), 0);
    close_system(sys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fires_periodically_and_forget, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_replace, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_survives_restart, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_late_delivery_after_down, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_from_activation, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_parked_until_registered, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_memory_store, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reload_on_members_changed, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
