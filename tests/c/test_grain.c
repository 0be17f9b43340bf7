/*
 * test_grain.c - virtual actors (csrc/grain/): activation on the first
 * message, state that outlives activations (memory:// and sqlite), idle
 * deactivation with messages in flight, asks from outside and from actors,
 * failing starts, version conflicts, journaled grains, listing, bad input,
 * shutdown with unsaved work, and many grains.
 */
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------------------- helpers */

enum {
    T_ADD = 1,     /* payload int64 (raw): add, save, reply the count */
    T_GET = 2,     /* reply the count */
    T_ECHO = 4,    /* payload za_ref: tell it T_PING (the reply comes back later) */
    T_PING = 5,    /* to the echo actor */
    T_PONG = 6,    /* the echo actor's answer to the grain */
    T_ASKIT = 7,   /* to the asker actor: payload za_ref of a grain */
    T_SNAP = 8,    /* journaled: snapshot now */
    T_SEQ = 9,     /* payload int64 sender id | seq: FIFO check */
    T_BUMP = 10,   /* lazy grain: count++ without saving */
    T_FAIL = 12,   /* the receive fails */
    T_CLEAR = 13,  /* clear the stored state */
    T_SAVED = 100, /* save completions */
};

static int64_t unpack_int(const void *d, size_t n) {
    za_doc *doc;
    if (za_doc_decode(d, n, &doc) != ZA_OK) return -1000000;
    const za_value *v = za_doc_root(doc);
    int64_t r = v->type == ZA_V_INT ? v->v.i : v->type == ZA_V_UINT ? (int64_t)v->v.u : -2000000;
    za_doc_free(doc);
    return r;
}

static za_pack *pack_int(int64_t v) {
    za_pack *p = za_pack_new();
    za_pack_int(p, v);
    return p;
}

static void reply_i64(za_ctx *ctx, int64_t v) {
    if (za_ctx_can_reply(ctx)) za_reply(ctx, 0, &v, sizeof v);
}

/* what the tests observe (activations of one grain never overlap) */
static atomic_int g_starts, g_deacts, g_save_ok, g_save_conflict, g_pongs, g_fifo_bad, g_seen;
static atomic_int g_fail_start, g_nevents, g_deact_save, g_stale_refused;
static _Atomic int64_t g_snap_seq, g_ask_result;
static _Atomic za_ref g_pong_sender, g_self_seen;
#define NSENDERS 4
static _Atomic int64_t g_last_seq[NSENDERS];

static void reset_globals(void) {
    atomic_store(&g_starts, 0);
    atomic_store(&g_deacts, 0);
    atomic_store(&g_save_ok, 0);
    atomic_store(&g_save_conflict, 0);
    atomic_store(&g_pongs, 0);
    atomic_store(&g_fifo_bad, 0);
    atomic_store(&g_seen, 0);
    atomic_store(&g_fail_start, 0);
    atomic_store(&g_nevents, 0);
    atomic_store(&g_deact_save, 0);
    atomic_store(&g_stale_refused, 0);
    atomic_store(&g_snap_seq, -1);
    atomic_store(&g_ask_result, -1);
    atomic_store(&g_pong_sender, ZA_REF_NONE);
    atomic_store(&g_self_seen, ZA_REF_NONE);
    for (int i = 0; i < NSENDERS; i++) atomic_store(&g_last_seq[i], 0);
}

/* ---------------------------------------------------- the counter grain */

typedef struct counter {
    int64_t count;
    uint64_t seq; /* journaled: last event seq */
} counter;

static int counter_start(za_ctx *ctx, const void *args, size_t len) {
    counter *c = za_ctx_state(ctx);
    atomic_fetch_add(&g_starts, 1);
    atomic_store(&g_self_seen, za_ctx_self(ctx));
    if (atomic_load(&g_fail_start)) {
        za_ctx_fail(ctx, ZA_ESTORE, "database is down (test)");
        return -1;
    }
    const void *d;
    size_t n;
    uint64_t ver;
    assert_int_equal(za_ctx_grain_state(ctx, &d, &n, &ver), ZA_OK);
    c->count = d ? unpack_int(d, n) : 0;
    za_ref me;
    if (za_ctx_grain(ctx, &me) != 1 || me != za_ctx_self(ctx)) c->count = -999;
    return 0;
}

static int save_count(za_ctx *ctx, counter *c) {
    za_pack *p = pack_int(c->count);
    int rc = za_ctx_grain_save(ctx, za_pack_data(p), za_pack_size(p), T_SAVED, NULL);
    za_pack_free(p);
    return rc;
}

static int counter_receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    switch (m->tag) {
    case T_ADD: {
        int64_t v = 1;
        if (m->len == sizeof v) memcpy(&v, m->data, sizeof v);
        c->count += v;
        if (save_count(ctx, c) != ZA_OK) return -1;
        reply_i64(ctx, c->count);
        break;
    }
    case T_GET:
        reply_i64(ctx, c->count);
        break;
    case T_BUMP:
        c->count++;
        reply_i64(ctx, c->count);
        break;
    case T_ECHO: {
        za_ref echo;
        memcpy(&echo, m->data, sizeof echo);
        za_tell(za_ctx_system(ctx), echo, T_PING, NULL, 0);
        break;
    }
    case T_PONG:
        atomic_fetch_add(&g_pongs, 1);
        break;
    case T_SEQ: {
        int64_t v;
        memcpy(&v, m->data, sizeof v);
        int who = (int)(v >> 32);
        int64_t seq = v & 0xffffffff;
        if (atomic_load(&g_last_seq[who]) + 1 != seq) atomic_fetch_add(&g_fifo_bad, 1);
        atomic_store(&g_last_seq[who], seq);
        atomic_fetch_add(&g_seen, 1);
        break;
    }
    case T_SAVED:
        if (m->status == ZA_OK)
            atomic_fetch_add(&g_save_ok, 1);
        else if (m->status == ZA_ECONFLICT) {
            atomic_fetch_add(&g_save_conflict, 1);
            /* the activation's state is stale: a later write is refused */
            if (save_count(ctx, c) == ZA_ECONFLICT) atomic_fetch_add(&g_stale_refused, 1);
        }
        break;
    case ZA_TAG_DEACTIVATE:
        atomic_fetch_add(&g_deacts, 1);
        break;
    case T_CLEAR:
        if (za_ctx_grain_clear(ctx, T_SAVED, NULL) != ZA_OK) return -1;
        c->count = 0;
        reply_i64(ctx, 0);
        break;
    case T_FAIL:
        za_ctx_fail(ctx, ZA_EFAILED, "boom (test)");
        return -1;
    default:
        break;
    }
    return 0;
}

static const za_behaviour counter_beh = {ZA_BEHAVIOUR_INIT, .name = "counter",
                                         .state_size = sizeof(counter), .start = counter_start,
                                         .receive = counter_receive};

/* The lazy counter: counts in memory and saves only in its deactivation. */
static int lazy_receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    if (m->tag == ZA_TAG_DEACTIVATE) {
        if (save_count(ctx, c) == ZA_OK) atomic_fetch_add(&g_deact_save, 1);
        return 0;
    }
    return counter_receive(ctx, m);
}

static const za_behaviour lazy_beh = {ZA_BEHAVIOUR_INIT, .name = "lazy",
                                      .state_size = sizeof(counter), .start = counter_start,
                                      .receive = lazy_receive};

/* The deferred counter: its deactivation saves and waits for the save to
 * complete before it stops (what a binding's async on_deactivate does). */
static int deferred_receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    if (m->tag == ZA_TAG_DEACTIVATE) {
        atomic_fetch_add(&g_deacts, 1);
        if (za_ctx_grain_defer(ctx) != ZA_OK || save_count(ctx, c) != ZA_OK) return -1;
        return 0;
    }
    if (m->tag == T_SAVED) {
        if (m->status == ZA_OK) atomic_fetch_add(&g_deact_save, 1);
        za_ctx_stop(ctx);
        return 0;
    }
    if (m->tag == T_GET && za_ctx_grain_defer(ctx) != ZA_ESTATE)
        return -1; /* only in deactivation */
    return counter_receive(ctx, m);
}

static const za_behaviour deferred_beh = {ZA_BEHAVIOUR_INIT, .name = "deferred",
                                          .state_size = sizeof(counter), .start = counter_start,
                                          .receive = deferred_receive};

static za_grain_class counter_class(const char *type, const za_behaviour *b, uint32_t idle_ms) {
    za_grain_class k;
    memset(&k, 0, sizeof k);
    k.type = type;
    k.behaviour = b;
    k.idle_ms = idle_ms;
    return k;
}

static za_ref grain(za_system *sys, const char *type, const char *key) {
    za_ref r = ZA_REF_NONE;
    int rc = za_grain_ref(sys, type, key, &r);
    if (rc != ZA_OK) fprintf(stderr, "za_grain_ref: %s\n", za_last_error());
    assert_int_equal(rc, ZA_OK);
    assert_true(za_ref_is_grain(r));
    return r;
}

static int64_t ask_add(za_system *sys, za_ref g, int64_t v) {
    za_answer a;
    int rc = za_ask(sys, g, T_ADD, &v, sizeof v, TU_WAIT_MS, &a);
    if (rc != ZA_OK) fprintf(stderr, "ask_add: %d %s\n", rc, za_last_error());
    assert_int_equal(rc, ZA_OK);
    int64_t r;
    memcpy(&r, a.data, sizeof r);
    za_answer_free(&a);
    return r;
}

static za_system *grain_system(const char *storage) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.storage = storage;
    return tu_system_cfg(&cfg);
}

static int count_cb(const za_grain_info *g, void *ud) {
    (void)g;
    (*(size_t *)ud)++;
    return 0;
}

static size_t active_count(za_system *sys) {
    size_t n = 0, c = 0;
    assert_int_equal(za_grain_list(sys, count_cb, &n, &c), ZA_OK);
    assert_int_equal(n, c);
    return n;
}

/* -------------------------------------------------------------- tests */

static void test_activation_on_first_message(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK); /* the same class again */
    za_ref g = grain(sys, "counter", "alice");
    assert_int_equal(grain(sys, "counter", "alice"), g); /* same identity, same ref */
    assert_int_equal(za_is_alive(sys, g), 0);            /* a ref activates nothing */
    assert_int_equal(active_count(sys), 0);
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 0);
    assert_int_equal(za_is_alive(sys, g), 1);
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(atomic_load(&g_self_seen), g); /* za_ctx_self is the grain ref */
    assert_int_equal(ask_add(sys, g, 5), 5);
    assert_int_equal(za_tell(sys, g, T_ADD, NULL, 0), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 6);
    assert_int_equal(atomic_load(&g_starts), 1); /* one activation served them all */
    const char *type, *key;
    assert_int_equal(za_grain_identity(sys, g, &type, &key), ZA_OK);
    assert_string_equal(type, "counter");
    assert_string_equal(key, "alice");
    assert_non_null(za_system_store(sys));
    assert_string_equal(za_store_scheme(za_system_store(sys)), "memory");
    za_system_destroy(sys);
}

static void state_survives_idle(const char *storage) {
    reset_globals();
    za_system *sys = grain_system(storage);
    za_grain_class k = counter_class("counter", &counter_beh, 30);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "bob");
    assert_int_equal(ask_add(sys, g, 1), 1);
    assert_int_equal(ask_add(sys, g, 2), 3);
    assert_int_equal(ask_add(sys, g, 4), 7);
    /* idle_ms 30: the sweep deactivates it; wait for it, bounded */
    assert_true(WAIT_UNTIL(!za_is_alive(sys, g), TU_WAIT_MS));
    assert_true(WAIT_UNTIL(active_count(sys) == 0, TU_WAIT_MS));
    /* (on a slow machine it may also have idled out between two asks) */
    int deacts = atomic_load(&g_deacts);
    assert_true(deacts >= 1);
    assert_int_equal(atomic_load(&g_starts), deacts);
    assert_int_equal(atomic_load(&g_save_ok), 3);
    /* the next message activates it again, from the stored state */
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 7);
    assert_int_equal(atomic_load(&g_starts), deacts + 1);
    za_system_destroy(sys);
}

static char tmpdir[256];

static void test_state_survives_idle_memory(void **st) {
    (void)st;
    state_survives_idle(NULL);
}

static void test_state_survives_idle_sqlite(void **st) {
    (void)st;
    char url[400];
    snprintf(url, sizeof url, "sqlite://%s/idle.db", tmpdir);
    state_survives_idle(url);
}

/* Many senders, an idle timeout of 1 ms and forced deactivations: every
 * message arrives exactly once, in each sender's order. */
typedef struct sender_arg {
    za_system *sys;
    za_ref g;
    int who, n;
} sender_arg;

static void *sender(void *p) {
    sender_arg *a = p;
    for (int i = 1; i <= a->n; i++) {
        int64_t v = ((int64_t)a->who << 32) | i;
        int rc;
        while ((rc = za_tell(a->sys, a->g, T_SEQ, &v, sizeof v)) == ZA_EFULL) tu_sleep_us(50);
        if (rc != ZA_OK) {
            fprintf(stderr, "sender: %d %s\n", rc, za_last_error());
            break;
        }
        if (i % 64 == 0) tu_sleep_us(100); /* let deactivations fall in between */
    }
    return NULL;
}

static void test_fifo_across_deactivations(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 1);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "fifo");
    int n = (int)tu_size(4000);
    pthread_t th[NSENDERS];
    sender_arg args[NSENDERS];
    for (int i = 0; i < NSENDERS; i++) {
        args[i] = (sender_arg){sys, g, i, n};
        pthread_create(&th[i], NULL, sender, &args[i]);
    }
    for (int i = 0; i < 50; i++) { /* and stops from outside meanwhile */
        za_stop(sys, g);
        tu_sleep_us(500);
    }
    for (int i = 0; i < NSENDERS; i++) pthread_join(th[i], NULL);
    ASSERT_EVENTUALLY(atomic_load(&g_seen) == NSENDERS * n);
    assert_int_equal(atomic_load(&g_fifo_bad), 0);
    for (int i = 0; i < NSENDERS; i++) assert_int_equal(atomic_load(&g_last_seq[i]), n);
    assert_true(atomic_load(&g_starts) > 1); /* it really was deactivated in between */
    za_metrics mt;
    assert_int_equal(za_metrics_read(sys, &mt), ZA_OK);
    assert_int_equal(mt.dead_letters, 0);
    za_system_destroy(sys);
}

/* The echo actor keeps the grain's message and answers msg->sender (the
 * grain reference) only when told to, after the grain was deactivated. */
static _Atomic za_ref echo_to;
static int echo_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_PING) {
        atomic_store(&echo_to, m->sender);
        atomic_store(&g_pong_sender, m->sender);
    } else if (m->tag == 1) {
        za_tell(za_ctx_system(ctx), atomic_load(&echo_to), T_PONG, NULL, 0);
    }
    return 0;
}
static const za_behaviour echo_beh = {ZA_BEHAVIOUR_INIT, .name = "echo", .receive = echo_receive};

/* The asker actor: za_ctx_ask to a grain, the answer arrives as a message. */
static int asker_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == T_ASKIT) {
        za_ref g;
        memcpy(&g, m->data, sizeof g);
        uint64_t corr;
        return za_ctx_ask(ctx, g, T_GET, NULL, 0, TU_WAIT_MS, &corr) == ZA_OK ? 0 : -1;
    }
    if (m->corr && m->status == ZA_OK && m->len == sizeof(int64_t)) {
        int64_t v;
        memcpy(&v, m->data, sizeof v);
        atomic_store(&g_ask_result, v);
    }
    /* not a grain activation: the grain calls refuse */
    if (m->tag == 11) {
        int64_t v = za_ctx_grain_save(ctx, "\xc0", 1, T_SAVED, NULL) == ZA_ESTATE &&
                            za_ctx_grain(ctx, NULL) == 0
                        ? 1
                        : 0;
        atomic_store(&g_ask_result, v);
    }
    return 0;
}
static const za_behaviour asker_beh = {ZA_BEHAVIOUR_INIT, .name = "asker",
                                       .receive = asker_receive};

static void test_asks_and_replies_across_activations(void **st) {
    (void)st;
    reset_globals();
    atomic_store(&echo_to, ZA_REF_NONE);
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "carol");
    assert_int_equal(ask_add(sys, g, 41), 41);

    /* an actor asks the grain: the reply arrives with its corr */
    za_ref asker = tu_spawn(sys, &asker_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, asker, T_ASKIT, &g, sizeof g), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_ask_result) == 41);

    /* the grain's message carries the grain ref; the answer, sent after the
     * activation was deactivated, activates it again */
    za_ref echo = tu_spawn(sys, &echo_beh, NULL, 0, NULL);
    assert_int_equal(za_tell(sys, g, T_ECHO, &echo, sizeof echo), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_pong_sender) != ZA_REF_NONE);
    assert_int_equal(atomic_load(&g_pong_sender), g);
    assert_int_equal(za_stop(sys, g), ZA_OK);
    ASSERT_EVENTUALLY(!za_is_alive(sys, g));
    int starts = atomic_load(&g_starts);
    assert_int_equal(za_tell(sys, echo, 1, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_pongs) == 1);
    assert_int_equal(atomic_load(&g_starts), starts + 1);
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 41); /* from the stored state */

    /* an actor that is no grain cannot use the grain calls */
    atomic_store(&g_ask_result, -1);
    assert_int_equal(za_tell(sys, asker, 11, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_ask_result) == 1);
    za_system_destroy(sys);
}

static void test_failing_start(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "dave");
    atomic_store(&g_fail_start, 1);
    za_answer a;
    int rc = za_ask(sys, g, T_GET, NULL, 0, TU_WAIT_MS, &a);
    assert_int_equal(rc, ZA_ESTART);
    assert_non_null(a.error);
    assert_non_null(strstr(a.error, "database is down (test)"));
    assert_non_null(strstr(a.error, "counter/dave"));
    za_answer_free(&a);
    /* no retry loop: one start per message */
    tu_sleep_ms(20);
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(za_is_alive(sys, g), 0);
    /* the next message tries again */
    atomic_store(&g_fail_start, 0);
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 0);
    assert_int_equal(atomic_load(&g_starts), 2);
    za_system_destroy(sys);
}

static void test_failing_receive_reactivates(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "frank");
    assert_int_equal(ask_add(sys, g, 3), 3);
    za_answer a;
    assert_int_equal(za_ask(sys, g, T_FAIL, NULL, 0, TU_WAIT_MS, &a), ZA_EFAILED);
    assert_non_null(a.error);
    assert_non_null(strstr(a.error, "boom (test)"));
    za_answer_free(&a);
    /* the failure ended that activation; the next message starts another
     * from the stored state */
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 3);
    assert_int_equal(atomic_load(&g_starts), 2);
    za_system_destroy(sys);
}

static void test_deferred_deactivation(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("deferred", &deferred_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "deferred", "gina");
    for (int i = 1; i <= 3; i++) assert_int_equal(tu_ask_i64(sys, g, T_BUMP), i);
    assert_int_equal(za_stop(sys, g), ZA_OK);
    /* held while it deactivates; answered by the next activation, which
     * reads what the deferred deactivation saved */
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 3);
    assert_int_equal(atomic_load(&g_deacts), 1);
    assert_int_equal(atomic_load(&g_deact_save), 1);
    assert_int_equal(atomic_load(&g_starts), 2);
    za_system_destroy(sys);
}

static int version_cb(const za_grain_info *g, void *ud) {
    *(uint64_t *)ud = g->version;
    return 0;
}

static void test_clear_and_versions(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "hank");
    assert_int_equal(ask_add(sys, g, 2), 2);
    assert_int_equal(ask_add(sys, g, 2), 4);
    ASSERT_EVENTUALLY(atomic_load(&g_save_ok) == 2);
    uint64_t v = 0;
    ASSERT_EVENTUALLY((za_grain_list(sys, version_cb, &v, NULL) == ZA_OK && v == 2));
    assert_int_equal(tu_ask_i64(sys, g, T_CLEAR), 0);
    ASSERT_EVENTUALLY(atomic_load(&g_save_ok) == 3);
    assert_int_equal(ask_add(sys, g, 1), 1); /* writes again from version 0 */
    ASSERT_EVENTUALLY(atomic_load(&g_save_ok) == 4);
    assert_int_equal(za_stop(sys, g), ZA_OK);
    ASSERT_EVENTUALLY(!za_is_alive(sys, g));
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 1);
    za_system_destroy(sys);
}

static bool run_until(za_system *sys, atomic_int *c, int want) {
    for (uint64_t end = tu_now_ms() + TU_WAIT_MS; tu_now_ms() < end;) {
        za_system_run(sys, 0);
        if (atomic_load(c) >= want) return true;
        tu_sleep_us(200);
    }
    return false;
}

static void test_manual_system(void **st) {
    (void)st;
    reset_globals();
    za_config cfg;
    za_config_init(&cfg);
    cfg.manual = 1;
    za_system *sys = tu_system_cfg(&cfg);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "ida");
    int64_t one = 1;
    assert_int_equal(za_tell(sys, g, T_ADD, &one, sizeof one), ZA_OK);
    assert_true(run_until(sys, &g_save_ok, 1));
    assert_int_equal(atomic_load(&g_starts), 1);
    assert_int_equal(za_stop(sys, g), ZA_OK);
    assert_true(run_until(sys, &g_deacts, 1));
    assert_int_equal(za_tell(sys, g, T_ADD, &one, sizeof one), ZA_OK);
    assert_true(run_until(sys, &g_save_ok, 2));
    assert_int_equal(atomic_load(&g_starts), 2); /* reactivated from the stored 1, saved 2 */
    za_system_destroy(sys);
}

static int dbg_cb(const za_grain_info *g, void *ud) {
    za_actor_info ai;
    int rc = za_actor_info_get(ud, g->activation, &ai);
    fprintf(stderr,
            "DBG %s/%s status %d act %llx alive %d info rc %d depth %llu processed %llu deacts %d "
            "saves %d\n",
            g->type, g->key, g->status, (unsigned long long)g->activation,
            za_is_alive(ud, g->activation), rc, rc ? 0ull : (unsigned long long)ai.mailbox_depth,
            rc ? 0ull : (unsigned long long)ai.processed, atomic_load(&g_deacts),
            atomic_load(&g_save_ok));
    return 0;
}

static void test_registered_name(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "jane");
    /* a grain is always there to be named, active or not */
    assert_int_equal(za_register(sys, "the-bank", g), ZA_OK);
    ASSERT_ERR(za_register(sys, "the-bank", g), ZA_EEXIST);
    za_ref found = ZA_REF_NONE;
    assert_int_equal(za_lookup(sys, "the-bank", &found), ZA_OK);
    assert_int_equal(found, g);
    assert_int_equal(ask_add(sys, found, 9), 9);
    assert_int_equal(za_stop(sys, g), ZA_OK);
    if (!WAIT_UNTIL(!za_is_alive(sys, g), TU_WAIT_MS)) {
        za_grain_list(sys, dbg_cb, sys, NULL);
        fail();
    }
    assert_int_equal(za_lookup(sys, "the-bank", &found), ZA_OK);
    assert_int_equal(tu_ask_i64(sys, found, T_GET), 9);
    assert_int_equal(za_unregister(sys, "the-bank"), ZA_OK);
    ASSERT_ERR(za_lookup(sys, "the-bank", &found), ZA_ENOTFOUND);
    za_system_destroy(sys);
}

static void test_version_conflict(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "counter", "erin");
    assert_int_equal(ask_add(sys, g, 1), 1);
    ASSERT_EVENTUALLY(atomic_load(&g_save_ok) == 1);
    /* someone else writes the state behind the activation's back */
    za_pack *p = pack_int(100);
    za_store_req q = {.op = ZA_STORE_WRITE,
                      .type = "counter",
                      .id = "erin",
                      .data = za_pack_data(p),
                      .len = za_pack_size(p),
                      .version = 1};
    za_store_result r;
    assert_int_equal(za_store_call(za_system_store(sys), &q, TU_WAIT_MS, &r), ZA_OK);
    assert_int_equal(r.version, 2);
    za_store_result_free(&r);
    za_pack_free(p);
    /* its next save conflicts; the activation is deactivated */
    assert_int_equal(za_tell(sys, g, T_ADD, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_save_conflict) == 1);
    ASSERT_EVENTUALLY(!za_is_alive(sys, g));
    assert_int_equal(atomic_load(&g_stale_refused), 1);
    assert_int_equal(atomic_load(&g_deacts), 1);
    /* the next activation reads what is stored */
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 100);
    assert_int_equal(atomic_load(&g_starts), 2);
    za_system_destroy(sys);
}

/* ------------------------------------------------------ journaled grain */

static int cart_start(za_ctx *ctx, const void *args, size_t len) {
    counter *c = za_ctx_state(ctx);
    atomic_fetch_add(&g_starts, 1);
    const void *d;
    size_t n;
    uint64_t ver;
    assert_int_equal(za_ctx_grain_state(ctx, &d, &n, &ver), ZA_OK);
    c->count = d ? unpack_int(d, n) : 0;
    atomic_store(&g_snap_seq, (int64_t)ver);
    const za_store_event *ev;
    size_t nev;
    uint64_t seq;
    assert_int_equal(za_ctx_grain_events(ctx, &ev, &nev, &seq), ZA_OK);
    for (size_t i = 0; i < nev; i++) c->count += unpack_int(ev[i].data, ev[i].len);
    atomic_store(&g_nevents, (int)nev);
    c->seq = seq;
    return 0;
}

static int cart_receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    if (m->tag == T_ADD) {
        int64_t v;
        memcpy(&v, m->data, sizeof v);
        za_pack *p = pack_int(v);
        int rc = za_ctx_grain_persist(ctx, za_pack_data(p), za_pack_size(p), T_SAVED, NULL);
        za_pack_free(p);
        if (rc != ZA_OK) return -1;
        c->seq++;
        c->count += v;
        reply_i64(ctx, c->count);
    } else if (m->tag == T_SNAP) {
        za_pack *p = pack_int(c->count);
        int rc =
            za_ctx_grain_snapshot(ctx, za_pack_data(p), za_pack_size(p), c->seq, T_SAVED, NULL);
        za_pack_free(p);
        /* a snapshot past the journal is refused */
        if (za_ctx_grain_snapshot(ctx, "\xc0", 1, c->seq + 1, T_SAVED, NULL) != ZA_EINVAL) rc = -1;
        /* and a journaled grain does not save state */
        if (za_ctx_grain_save(ctx, "\xc0", 1, T_SAVED, NULL) != ZA_ESTATE) rc = -1;
        reply_i64(ctx, rc);
    } else if (m->tag == T_GET) {
        reply_i64(ctx, c->count);
    } else if (m->tag == T_SAVED && m->status == ZA_OK) {
        atomic_fetch_add(&g_save_ok, 1);
    }
    return 0;
}

static const za_behaviour cart_beh = {ZA_BEHAVIOUR_INIT, .name = "cart",
                                      .state_size = sizeof(counter), .start = cart_start,
                                      .receive = cart_receive};

static void journaled(const char *storage) {
    reset_globals();
    za_system *sys = grain_system(storage);
    za_grain_class k = counter_class("cart", &cart_beh, 0);
    k.journaled = 1;
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref g = grain(sys, "cart", "c1");
    assert_int_equal(ask_add(sys, g, 1), 1);
    assert_int_equal(ask_add(sys, g, 2), 3);
    assert_int_equal(ask_add(sys, g, 3), 6);
    assert_int_equal(tu_ask_i64(sys, g, T_SNAP), 0); /* snapshot [3, 6] */
    assert_int_equal(ask_add(sys, g, 4), 10);
    ASSERT_EVENTUALLY(atomic_load(&g_save_ok) == 5);
    assert_int_equal(za_stop(sys, g), ZA_OK);
    ASSERT_EVENTUALLY(!za_is_alive(sys, g));
    /* the next activation gets the snapshot and the tail */
    assert_int_equal(tu_ask_i64(sys, g, T_GET), 10);
    assert_int_equal(atomic_load(&g_starts), 2);
    assert_int_equal(atomic_load(&g_snap_seq), 3);
    assert_int_equal(atomic_load(&g_nevents), 1);
    /* and appends continue after the journal's highest seq */
    assert_int_equal(ask_add(sys, g, 5), 15);
    za_system_destroy(sys);
}

static void test_journaled_memory(void **st) {
    (void)st;
    journaled(NULL);
}

static void test_journaled_sqlite(void **st) {
    (void)st;
    char url[400];
    snprintf(url, sizeof url, "sqlite://%s/journal.db", tmpdir);
    journaled(url);
}

/* ---------------------------------------------------------------- list */

typedef struct seen {
    int n;
    int keys;   /* bit i: key "k<i>" */
    int active; /* how many were ACTIVE with an activation ref */
    int stop_after;
} seen;

static int list_cb(const za_grain_info *g, void *ud) {
    seen *s = ud;
    s->n++;
    if (!strcmp(g->type, "counter") && g->key[0] == 'k') s->keys |= 1 << (g->key[1] - '0');
    if (g->status == ZA_GRAIN_ACTIVE && g->activation != ZA_REF_NONE &&
        !za_ref_is_grain(g->activation) && za_ref_is_grain(g->grain) && g->since_us > 0 &&
        g->messages >= 1)
        s->active++;
    return s->stop_after && s->n >= s->stop_after;
}

static void test_list(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(tu_ask_i64(sys, grain(sys, "counter", key), T_GET), 0);
    }
    grain(sys, "counter", "k5"); /* a ref alone is not an activation */
    seen s = {0};
    size_t count = 0;
    assert_int_equal(za_grain_list(sys, list_cb, &s, &count), ZA_OK);
    assert_int_equal(count, 3);
    assert_int_equal(s.keys, 7);
    assert_int_equal(s.active, 3);
    seen s2 = {.stop_after = 2};
    assert_int_equal(za_grain_list(sys, list_cb, &s2, &count), ZA_OK);
    assert_int_equal(count, 2);
    assert_int_equal(za_grain_list(sys, NULL, NULL, &count), ZA_EINVAL);
    za_system_destroy(sys);
}

/* ----------------------------------------------------------- bad input */

static void test_bad_input(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    za_ref r;
    ASSERT_ERR(za_grain_ref(sys, "nosuch", "x", &r), ZA_ENOTFOUND);
    ASSERT_ERR(za_grain_ref(sys, "counter", "", &r), ZA_EINVAL);
    ASSERT_ERR(za_grain_ref(sys, "counter", NULL, &r), ZA_EINVAL);
    ASSERT_ERR(za_grain_ref(sys, "counter", "\xff\xfe", &r), ZA_EINVAL);
    ASSERT_ERR(za_grain_ref(sys, "", "x", &r), ZA_EINVAL);
    ASSERT_ERR(za_grain_ref(NULL, "counter", "x", &r), ZA_EINVAL);
    char big[1100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ASSERT_ERR(za_grain_ref(sys, "counter", big, &r), ZA_EINVAL);
    big[1024] = '\0';
    assert_int_equal(za_grain_ref(sys, "counter", big, &r), ZA_OK); /* 1024 bytes: fine */

    za_grain_class bad = counter_class("", &counter_beh, 0);
    ASSERT_ERR(za_grain_register(sys, &bad), ZA_EINVAL);
    bad = counter_class("nobeh", NULL, 0);
    ASSERT_ERR(za_grain_register(sys, &bad), ZA_EINVAL);
    bad = counter_class("counter", &lazy_beh, 0); /* taken by another behaviour */
    ASSERT_ERR(za_grain_register(sys, &bad), ZA_EEXIST);
    ASSERT_ERR(za_grain_register(sys, NULL), ZA_EINVAL);

    za_ref g = grain(sys, "counter", "x");
    ASSERT_ERR(za_tell(sys, g, -5, NULL, 0), ZA_EINVAL); /* negative tags are the runtime's */
    za_ref w = tu_spawn(sys, &echo_beh, NULL, 0, NULL);
    ASSERT_ERR(za_watch(sys, w, g), ZA_EINVAL);
    assert_int_equal(za_join(sys, g, 1), ZA_OK); /* not active: nothing to wait for */

    /* a grain ref of another system: refused, never read as one of ours */
    za_system *other = grain_system(NULL);
    assert_int_equal(za_grain_register(other, &k), ZA_OK);
    za_ref foreign = ZA_REF_NONE;
    for (int i = 0; i < 5; i++) {
        char key[8];
        snprintf(key, sizeof key, "o%d", i);
        foreign = grain(other, "counter", key);
    }
    ASSERT_ERR(za_tell(sys, foreign, T_GET, NULL, 0), ZA_EINVAL);
    const char *t, *kk;
    ASSERT_ERR(za_grain_identity(sys, foreign, &t, &kk), ZA_EINVAL);
    ASSERT_ERR(za_grain_identity(sys, w, &t, &kk), ZA_EINVAL); /* an actor ref */
    za_system_destroy(other);

    /* a bad storage URL fails za_system_create with the store's error */
    za_config cfg;
    za_config_init(&cfg);
    cfg.storage = "nosuch://x";
    za_system *s2 = NULL;
    ASSERT_ERR(za_system_create(&cfg, &s2), ZA_EINVAL);
    assert_null(s2);
    za_system_destroy(sys);
}

/* ------------------------------------------------------------- shutdown */

static void test_shutdown_saves(void **st) {
    (void)st;
    reset_globals();
    char url[400];
    snprintf(url, sizeof url, "sqlite://%s/shutdown.db", tmpdir);
    za_system *sys = grain_system(url);
    za_grain_class k = counter_class("lazy", &lazy_beh, 0);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "l%d", i);
        za_ref g = grain(sys, "lazy", key);
        for (int j = 0; j <= i; j++) assert_int_equal(tu_ask_i64(sys, g, T_BUMP), j + 1);
    }
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    assert_int_equal(atomic_load(&g_deact_save), 3);
    /* messages after shutdown began */
    za_ref g0 = ZA_REF_NONE;
    assert_int_equal(za_grain_ref(sys, "lazy", "l0", &g0), ZA_OK);
    ASSERT_ERR(za_tell(sys, g0, T_BUMP, NULL, 0), ZA_ESHUTDOWN);
    za_system_destroy(sys);

    /* a new system on the same file reads what on_deactivate saved */
    sys = grain_system(url);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "l%d", i);
        assert_int_equal(tu_ask_i64(sys, grain(sys, "lazy", key), T_GET), i + 1);
    }
    za_system_destroy(sys);
}

/* ----------------------------------------------------------- many grains */

static void test_many_grains_idle_out(void **st) {
    (void)st;
    reset_globals();
    za_system *sys = grain_system(NULL);
    za_grain_class k = counter_class("counter", &counter_beh, 20);
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    int n = (int)tu_size(10000);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "g%d", i);
        assert_int_equal(za_tell(sys, grain(sys, "counter", key), T_BUMP, NULL, 0), ZA_OK);
    }
    ASSERT_EVENTUALLY(atomic_load(&g_starts) == n);
    ASSERT_EVENTUALLY(active_count(sys) == 0);
    ASSERT_EVENTUALLY(atomic_load(&g_deacts) == n);
    za_metrics mt;
    assert_int_equal(za_metrics_read(sys, &mt), ZA_OK);
    assert_int_equal(mt.dead_letters, 0);
    za_system_destroy(sys);
}

static int make_tmp(void **st) {
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/za_grain_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int rm_tmp(void **st) {
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_on_first_message),
        cmocka_unit_test(test_state_survives_idle_memory),
        cmocka_unit_test(test_state_survives_idle_sqlite),
        cmocka_unit_test(test_fifo_across_deactivations),
        cmocka_unit_test(test_asks_and_replies_across_activations),
        cmocka_unit_test(test_failing_start),
        cmocka_unit_test(test_failing_receive_reactivates),
        cmocka_unit_test(test_deferred_deactivation),
        cmocka_unit_test(test_clear_and_versions),
        cmocka_unit_test(test_manual_system),
        cmocka_unit_test(test_registered_name),
        cmocka_unit_test(test_version_conflict),
        cmocka_unit_test(test_journaled_memory),
        cmocka_unit_test(test_journaled_sqlite),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_shutdown_saves),
        cmocka_unit_test(test_many_grains_idle_out),
    };
    return cmocka_run_group_tests(tests, make_tmp, rm_tmp);
}
