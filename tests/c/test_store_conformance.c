/*
 * test_store_conformance.c - one suite, four providers: memory://,
 * sqlite://, redis:// and postgresql://, the last two on real servers this
 * program starts (tests/c/testservers.h) and always stops.
 *
 * Run with no argument. (With "--crash-writer URL", the program is the child
 * of the crash-safety test: it writes and prints each acknowledged version
 * until it is killed.)
 */
#include <sqlite3.h>

#include "store/provider.h"
#include "testservers.h"
#include "testutil.h"

/* --------------------------------------------------------------- helpers */

typedef struct prov {
    const char *name;
    char url[300];
    ts_redis redis;
    ts_pg pg;
    char dir[128];
    za_store *st;
} prov;

#define CALL_MS 30000u

static int st_write(za_store *st, const char *type, const char *id, const void *d, size_t n,
                    uint64_t expected, uint64_t *newv) {
    za_store_req q = {
        .op = ZA_STORE_WRITE, .type = type, .id = id, .data = d, .len = n, .version = expected};
    za_store_result r;
    int rc = za_store_call(st, &q, CALL_MS, &r);
    if (newv) *newv = r.version;
    za_store_result_free(&r);
    return rc;
}

static int st_read(za_store *st, const char *type, const char *id, za_store_result *r) {
    za_store_req q = {.op = ZA_STORE_READ, .type = type, .id = id};
    return za_store_call(st, &q, CALL_MS, r);
}

static int st_simple(za_store *st, za_store_op op, const char *id, uint64_t v, const void *d,
                     size_t n, uint64_t *out) {
    za_store_req q = {.op = op, .type = "t", .id = id, .data = d, .len = n, .version = v};
    za_store_result r;
    int rc = za_store_call(st, &q, CALL_MS, &r);
    if (out) *out = r.version;
    za_store_result_free(&r);
    return rc;
}

static void assert_replay(za_store *st, const char *id, uint64_t from, uint32_t max,
                          const uint64_t *want, size_t nwant, uint64_t want_hi) {
    za_store_req q = {.op = ZA_STORE_REPLAY, .type = "t", .id = id, .version = from, .max = max};
    za_store_result r;
    assert_int_equal(za_store_call(st, &q, CALL_MS, &r), ZA_OK);
    assert_int_equal(r.nevents, nwant);
    assert_int_equal(r.version, want_hi);
    for (size_t i = 0; i < nwant; i++) {
        assert_int_equal(r.events[i].seq, want[i]);
        char expect[32];
        int n = snprintf(expect, sizeof expect, "ev%llu", (unsigned long long)want[i]);
        assert_int_equal(r.events[i].len, (size_t)n);
        assert_memory_equal(r.events[i].data, expect, (size_t)n);
    }
    za_store_result_free(&r);
}

static int append_ev(za_store *st, const char *id, uint64_t seq) {
    char ev[32];
    int n = snprintf(ev, sizeof ev, "ev%llu", (unsigned long long)seq);
    return st_simple(st, ZA_STORE_APPEND, id, seq, ev, (size_t)n, NULL);
}

/* ---------------------------------------------------------- group set-up */

static int prov_setup(void **state) {
    prov *p = *state;
    if (!strcmp(p->name, "memory")) {
        snprintf(p->url, sizeof p->url, "memory://");
    } else if (!strcmp(p->name, "sqlite")) {
        snprintf(p->dir, sizeof p->dir, "/tmp/za-sqlite-XXXXXX");
        if (!mkdtemp(p->dir)) return -1;
        snprintf(p->url, sizeof p->url, "sqlite://%s/store.db", p->dir);
    } else if (!strcmp(p->name, "redis")) {
        if (!ts_redis_start(&p->redis)) return -1;
        snprintf(p->url, sizeof p->url, "%s", p->redis.url);
    } else {
        if (!ts_pg_start(&p->pg)) return -1;
        snprintf(p->url, sizeof p->url, "%s", p->pg.url);
    }
    if (za_store_open(p->url, NULL, &p->st) != ZA_OK) {
        fprintf(stderr, "open %s: %s\n", p->url, za_last_error());
        return -1;
    }
    return 0;
}

static int prov_teardown(void **state) {
    prov *p = *state;
    za_store_close(p->st);
    p->st = NULL;
    ts_redis_stop(&p->redis);
    ts_pg_stop(&p->pg);
    if (p->dir[0]) ts_rm_rf(p->dir);
    p->dir[0] = 0;
    return 0;
}

/* ----------------------------------------------------------------- state */

static void test_state_versions(void **state) {
    prov *p = *state;
    za_store *st = p->st;
    za_store_result r;
    assert_int_equal(st_read(st, "acct", "alice", &r), ZA_ENOTFOUND);
    za_store_result_free(&r);
    uint64_t v = 0;
    assert_int_equal(st_write(st, "acct", "alice", "\x01", 1, 0, &v), ZA_OK);
    assert_int_equal(v, 1);
    assert_int_equal(st_write(st, "acct", "alice", "\x02\x02", 2, 1, &v), ZA_OK);
    assert_int_equal(v, 2);
    /* a stale writer (expects 1) and a "must not exist" writer both lose */
    assert_int_equal(st_write(st, "acct", "alice", "\x03", 1, 1, &v), ZA_ECONFLICT);
    assert_non_null(strstr(za_last_error(), "conflict"));
    assert_int_equal(st_write(st, "acct", "alice", "\x03", 1, 0, &v), ZA_ECONFLICT);
    assert_int_equal(st_write(st, "acct", "alice", "\x03", 1, 7, &v), ZA_ECONFLICT);
    /* nothing was written by the losers */
    assert_int_equal(st_read(st, "acct", "alice", &r), ZA_OK);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.len, 2);
    assert_memory_equal(r.data, "\x02\x02", 2);
    za_store_result_free(&r);
    /* a write that expects a version on a missing key conflicts too */
    assert_int_equal(st_write(st, "acct", "bob", "\x01", 1, 3, &v), ZA_ECONFLICT);
    assert_int_equal(st_read(st, "acct", "bob", &r), ZA_ENOTFOUND);
    za_store_result_free(&r);
}

static void test_keys_are_pairs(void **state) {
    za_store *st = ((prov *)*state)->st;
    /* ("a:b", "c") and ("a", "b:c") are different keys; "" is a valid type */
    assert_int_equal(st_write(st, "a:b", "c", "1", 1, 0, NULL), ZA_OK);
    assert_int_equal(st_write(st, "a", "b:c", "2", 1, 0, NULL), ZA_OK);
    assert_int_equal(st_write(st, "", "a:b:c", "3", 1, 0, NULL), ZA_OK);
    assert_int_equal(st_write(st, "grain", "ключ-日本", "4", 1, 0, NULL), ZA_OK);
    za_store_result r;
    assert_int_equal(st_read(st, "a:b", "c", &r), ZA_OK);
    assert_memory_equal(r.data, "1", 1);
    za_store_result_free(&r);
    assert_int_equal(st_read(st, "a", "b:c", &r), ZA_OK);
    assert_memory_equal(r.data, "2", 1);
    za_store_result_free(&r);
    assert_int_equal(st_read(st, "grain", "ключ-日本", &r), ZA_OK);
    assert_memory_equal(r.data, "4", 1);
    za_store_result_free(&r);
}

static void test_clear(void **state) {
    za_store *st = ((prov *)*state)->st;
    uint64_t v;
    assert_int_equal(st_write(st, "c", "k", "x", 1, 0, &v), ZA_OK);
    assert_int_equal(st_write(st, "c", "k", "y", 1, 1, &v), ZA_OK);
    za_store_req q = {.op = ZA_STORE_CLEAR, .type = "c", .id = "k", .version = 1};
    za_store_result r;
    assert_int_equal(za_store_call(st, &q, CALL_MS, &r), ZA_ECONFLICT); /* stale */
    za_store_result_free(&r);
    assert_int_equal(st_read(st, "c", "k", &r), ZA_OK); /* still there */
    za_store_result_free(&r);
    q.version = 2;
    assert_int_equal(za_store_call(st, &q, CALL_MS, &r), ZA_OK);
    za_store_result_free(&r);
    assert_int_equal(st_read(st, "c", "k", &r), ZA_ENOTFOUND);
    za_store_result_free(&r);
    q.version = ZA_STORE_ANY; /* unconditional, also on a missing key */
    assert_int_equal(za_store_call(st, &q, CALL_MS, &r), ZA_OK);
    za_store_result_free(&r);
    q.version = 0; /* "must not exist" holds */
    assert_int_equal(za_store_call(st, &q, CALL_MS, &r), ZA_OK);
    za_store_result_free(&r);
    /* after a clear the key starts again at version 1 */
    assert_int_equal(st_write(st, "c", "k", "z", 1, 0, &v), ZA_OK);
    assert_int_equal(v, 1);
}

/* Two (eight) writers race on one key, round after round: exactly one wins
 * each round, and the stored value is the winner's. */
typedef struct racer {
    za_store *st;
    int idx;
    pthread_barrier_t *bar;
    _Atomic int *wins;
    int rounds;
    _Atomic int *winner;
} racer;

static void *race_fn(void *arg) {
    racer *rc = arg;
    for (int round = 0; round < rc->rounds; round++) {
        pthread_barrier_wait(rc->bar);
        char val[16];
        int n = snprintf(val, sizeof val, "w%d", rc->idx);
        int res = st_write(rc->st, "race", "k", val, (size_t)n, (uint64_t)round, NULL);
        if (res == ZA_OK) {
            atomic_fetch_add(&rc->wins[round], 1);
            atomic_store(&rc->winner[round], rc->idx);
        } else if (res != ZA_ECONFLICT)
            atomic_fetch_add(&rc->wins[round], 1000); /* any other error fails the test */
        pthread_barrier_wait(rc->bar);
    }
    return NULL;
}

static void test_race_one_winner(void **state) {
    za_store *st = ((prov *)*state)->st;
    enum { W = 8, ROUNDS = 20 };
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, W);
    _Atomic int wins[ROUNDS] = {0}, winner[ROUNDS] = {0};
    racer rs[W];
    pthread_t th[W];
    for (int i = 0; i < W; i++) {
        rs[i] = (racer){st, i, &bar, wins, ROUNDS, winner};
        pthread_create(&th[i], NULL, race_fn, &rs[i]);
    }
    for (int i = 0; i < W; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    for (int r = 0; r < ROUNDS; r++) assert_int_equal(atomic_load(&wins[r]), 1);
    za_store_result res;
    assert_int_equal(st_read(st, "race", "k", &res), ZA_OK);
    assert_int_equal(res.version, ROUNDS);
    char val[16];
    int n = snprintf(val, sizeof val, "w%d", atomic_load(&winner[ROUNDS - 1]));
    assert_int_equal(res.len, (size_t)n);
    assert_memory_equal(res.data, val, (size_t)n);
    za_store_result_free(&res);
}

/* --------------------------------------------------------------- journal */

static void test_journal(void **state) {
    za_store *st = ((prov *)*state)->st;
    uint64_t hi = 99;
    assert_int_equal(st_simple(st, ZA_STORE_HIGHEST, "j", 0, NULL, 0, &hi), ZA_OK);
    assert_int_equal(hi, 0);
    assert_replay(st, "j", 1, 0, NULL, 0, 0);
    assert_int_equal(append_ev(st, "j", 2), ZA_ECONFLICT); /* a gap */
    assert_non_null(strstr(za_last_error(), "highest is 0"));
    for (uint64_t s = 1; s <= 3; s++) assert_int_equal(append_ev(st, "j", s), ZA_OK);
    assert_int_equal(append_ev(st, "j", 3), ZA_ECONFLICT); /* a duplicate */
    assert_int_equal(append_ev(st, "j", 5), ZA_ECONFLICT); /* a gap */
    assert_int_equal(append_ev(st, "j", 1), ZA_ECONFLICT);
    assert_replay(st, "j", 1, 0, (uint64_t[]){1, 2, 3}, 3, 3);
    assert_replay(st, "j", 0, 0, (uint64_t[]){1, 2, 3}, 3, 3);
    assert_replay(st, "j", 2, 0, (uint64_t[]){2, 3}, 2, 3);
    assert_replay(st, "j", 2, 1, (uint64_t[]){2}, 1, 3);
    assert_replay(st, "j", 4, 0, NULL, 0, 3);
    assert_int_equal(st_simple(st, ZA_STORE_HIGHEST, "j", 0, NULL, 0, &hi), ZA_OK);
    assert_int_equal(hi, 3);
    /* delete-to removes the prefix, never lowers highest */
    assert_int_equal(st_simple(st, ZA_STORE_DELETE_TO, "j", 2, NULL, 0, &hi), ZA_OK);
    assert_int_equal(hi, 3);
    assert_replay(st, "j", 1, 0, (uint64_t[]){3}, 1, 3);
    assert_int_equal(append_ev(st, "j", 3), ZA_ECONFLICT);
    assert_int_equal(append_ev(st, "j", 4), ZA_OK);
    assert_replay(st, "j", 1, 0, (uint64_t[]){3, 4}, 2, 4);
    assert_int_equal(st_simple(st, ZA_STORE_DELETE_TO, "j", 1000, NULL, 0, &hi), ZA_OK);
    assert_int_equal(hi, 4);
    assert_replay(st, "j", 1, 0, NULL, 0, 4);
    assert_int_equal(st_simple(st, ZA_STORE_HIGHEST, "j", 0, NULL, 0, &hi), ZA_OK);
    assert_int_equal(hi, 4);
    assert_int_equal(append_ev(st, "j", 1), ZA_ECONFLICT);
    assert_int_equal(append_ev(st, "j", 5), ZA_OK);
    assert_replay(st, "j", 1, 0, (uint64_t[]){5}, 1, 5);
    /* journals are separate from states and from each other */
    assert_replay(st, "other", 1, 0, NULL, 0, 0);
    za_store_result r;
    assert_int_equal(st_read(st, "t", "j", &r), ZA_ENOTFOUND);
    za_store_result_free(&r);
}

/* A long journal replays in order, in pages too. */
static void test_journal_long(void **state) {
    za_store *st = ((prov *)*state)->st;
    enum { N = 300 };
    for (uint64_t s = 1; s <= N; s++) assert_int_equal(append_ev(st, "long", s), ZA_OK);
    uint64_t want[N];
    for (int i = 0; i < N; i++) want[i] = (uint64_t)i + 1;
    assert_replay(st, "long", 1, 0, want, N, N);
    for (uint64_t from = 1; from <= N; from += 100)
        assert_replay(st, "long", from, 100, want + from - 1, 100, N);
}

/* ----------------------------------------------------------------- sizes */

static void test_large_values(void **state) {
    za_store *st = ((prov *)*state)->st;
    size_t n = 1u << 20;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (unsigned char)(i * 131u + (i >> 9));
    uint64_t v;
    assert_int_equal(st_write(st, "big", "s", big, n, 0, &v), ZA_OK);
    za_store_result r;
    assert_int_equal(st_read(st, "big", "s", &r), ZA_OK);
    assert_int_equal(r.len, n);
    assert_memory_equal(r.data, big, n);
    za_store_result_free(&r);
    assert_int_equal(st_simple(st, ZA_STORE_APPEND, "bigj", 1, big, n, NULL), ZA_OK);
    za_store_req q = {.op = ZA_STORE_REPLAY, .type = "t", .id = "bigj", .version = 1};
    assert_int_equal(za_store_call(st, &q, CALL_MS, &r), ZA_OK);
    assert_int_equal(r.nevents, 1);
    assert_int_equal(r.events[0].len, n);
    assert_memory_equal(r.events[0].data, big, n);
    za_store_result_free(&r);
    free(big);
}

/* Many keys in flight at once (one group commit path): all written, all
 * read back with their own bytes. */
typedef struct counter {
    pthread_mutex_t mu;
    int done, ok;
} counter;

static void count_cb(za_store_result *res, void *ud) {
    counter *c = ud;
    pthread_mutex_lock(&c->mu);
    c->done++;
    if (res->status == ZA_OK) c->ok++;
    pthread_mutex_unlock(&c->mu);
}

static void test_many_keys(void **state) {
    za_store *st = ((prov *)*state)->st;
    enum { N = 2000 };
    counter c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < N; i++) {
        char id[32], val[32];
        snprintf(id, sizeof id, "key-%d", i);
        int n = snprintf(val, sizeof val, "value-%d", i);
        za_store_req q = {
            .op = ZA_STORE_WRITE, .type = "many", .id = id, .data = val, .len = (size_t)n};
        assert_int_equal(za_store_submit(st, &q, count_cb, &c), ZA_OK);
    }
    bool all = WAIT_UNTIL(__extension__({
                              pthread_mutex_lock(&c.mu);
                              int d = c.done;
                              pthread_mutex_unlock(&c.mu);
                              d == N;
                          }),
                          60000);
    assert_true(all);
    assert_int_equal(c.ok, N);
    for (int i = 0; i < N; i += 97) {
        char id[32], val[32];
        snprintf(id, sizeof id, "key-%d", i);
        int n = snprintf(val, sizeof val, "value-%d", i);
        za_store_result r;
        assert_int_equal(st_read(st, "many", id, &r), ZA_OK);
        assert_int_equal(r.version, 1);
        assert_int_equal(r.len, (size_t)n);
        assert_memory_equal(r.data, val, (size_t)n);
        za_store_result_free(&r);
    }
}

/* Writers on several threads, each on its own keys, blocking calls. */
typedef struct writer {
    za_store *st;
    int idx, n, errors;
} writer;

static void *writer_fn(void *arg) {
    writer *w = arg;
    char id[32];
    snprintf(id, sizeof id, "w%d", w->idx);
    for (int i = 0; i < w->n; i++) {
        uint64_t v;
        char val[16];
        int n = snprintf(val, sizeof val, "%d", i);
        if (st_write(w->st, "cw", id, val, (size_t)n, (uint64_t)i, &v) != ZA_OK ||
            v != (uint64_t)i + 1)
            w->errors++;
        if (append_ev(w->st, id, (uint64_t)i + 1) != ZA_OK) w->errors++;
    }
    return NULL;
}

static void test_concurrent_writers(void **state) {
    za_store *st = ((prov *)*state)->st;
    enum { W = 8 };
    int per = (int)tu_size(100);
    writer ws[W];
    pthread_t th[W];
    for (int i = 0; i < W; i++) {
        ws[i] = (writer){st, i, per, 0};
        pthread_create(&th[i], NULL, writer_fn, &ws[i]);
    }
    for (int i = 0; i < W; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < W; i++) {
        assert_int_equal(ws[i].errors, 0);
        char id[32];
        snprintf(id, sizeof id, "w%d", i);
        za_store_result r;
        assert_int_equal(st_read(st, "cw", id, &r), ZA_OK);
        assert_int_equal(r.version, (uint64_t)per);
        za_store_result_free(&r);
        uint64_t hi;
        assert_int_equal(st_simple(st, ZA_STORE_HIGHEST, id, 0, NULL, 0, &hi), ZA_OK);
        assert_int_equal(hi, (uint64_t)per);
    }
}

/* Requests on one key run in the order submitted: appends 1..N submitted
 * back to back without waiting all succeed. */
static void test_pipelined_appends(void **state) {
    za_store *st = ((prov *)*state)->st;
    enum { N = 200 };
    counter c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    for (uint64_t s = 1; s <= N; s++) {
        char ev[32];
        int n = snprintf(ev, sizeof ev, "ev%llu", (unsigned long long)s);
        za_store_req q = {.op = ZA_STORE_APPEND,
                          .type = "t",
                          .id = "pipe",
                          .data = ev,
                          .len = (size_t)n,
                          .version = s};
        assert_int_equal(za_store_submit(st, &q, count_cb, &c), ZA_OK);
    }
    assert_true(WAIT_UNTIL(__extension__({
                               pthread_mutex_lock(&c.mu);
                               int d = c.done;
                               pthread_mutex_unlock(&c.mu);
                               d == N;
                           }),
                           60000));
    assert_int_equal(c.ok, N);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_requests(void **state) {
    za_store *st = ((prov *)*state)->st;
    za_store_result r;
    za_store_req q = {.op = ZA_STORE_WRITE, .type = "t", .id = "k", .data = "x", .len = 1};
    za_store_req bad = q;
    bad.id = "";
    assert_int_equal(za_store_call(st, &bad, CALL_MS, &r), ZA_EINVAL);
    za_store_result_free(&r);
    bad = q;
    bad.id = "\xff\xfe";
    assert_int_equal(za_store_call(st, &bad, CALL_MS, &r), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "UTF-8"));
    za_store_result_free(&r);
    bad = q;
    bad.len = 0;
    assert_int_equal(za_store_call(st, &bad, CALL_MS, &r), ZA_EINVAL);
    za_store_result_free(&r);
    bad = q;
    bad.op = ZA_STORE_APPEND;
    bad.version = 0;
    assert_int_equal(za_store_call(st, &bad, CALL_MS, &r), ZA_EINVAL);
    za_store_result_free(&r);
    bad = q;
    bad.op = (za_store_op)77;
    assert_int_equal(za_store_submit(st, &bad, count_cb, NULL), ZA_EINVAL);
    assert_int_equal(za_store_submit(st, NULL, count_cb, NULL), ZA_EINVAL);
    assert_int_equal(za_store_submit(NULL, &q, count_cb, NULL), ZA_EINVAL);
    char longid[1100];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    bad = q;
    bad.id = longid;
    assert_int_equal(za_store_call(st, &bad, CALL_MS, &r), ZA_EINVAL);
    za_store_result_free(&r);
    /* and nothing of it was written */
    assert_int_equal(st_read(st, "t", "k", &r), ZA_ENOTFOUND);
    za_store_result_free(&r);
}

/* -------------------------------------------- completion as a message */

enum { TAG_SAVE = 1, TAG_SAVED = 2 };

typedef struct saver {
    za_store *st;
    uint64_t corr;
    za_reply_slot *pending;
} saver;

/* An actor "awaits" a save: it submits, keeps the asker's reply slot, and
 * answers when the completion message with the same corr arrives. */
static int saver_receive(za_ctx *ctx, const za_msg *m) {
    saver *s = za_ctx_state(ctx);
    if (m->tag == TAG_SAVE) {
        s->st = *(za_store **)m->data;
        za_store_req q = {.op = ZA_STORE_WRITE, .type = "actor", .id = "a", .data = "st", .len = 2};
        if (za_ctx_store(ctx, s->st, &q, TAG_SAVED, &s->corr) != ZA_OK) return 1;
        s->pending = za_ctx_take_reply(ctx);
        return 0;
    }
    if (m->tag == TAG_SAVED && m->corr == s->corr && s->pending) {
        za_store_result *res = m->ptr;
        int64_t out[2] = {m->status, res ? (int64_t)res->version : -1};
        za_reply_send(za_ctx_system(ctx), s->pending, 0, out, sizeof out);
        s->pending = NULL;
    }
    return 0;
}

static const za_behaviour SAVER = {ZA_BEHAVIOUR_INIT, .name = "saver", .state_size = sizeof(saver),
                                   .receive = saver_receive};

/* The store's threads send into the system: like any outside sender they
 * must be done before the system is destroyed, so each system here gets its
 * own store object, closed first. */
static void test_completion_message(void **state) {
    prov *p = *state;
    za_store *st;
    assert_int_equal(za_store_open(p->url, NULL, &st), ZA_OK);
    za_system *sys = tu_system(2);
    za_ref a = tu_spawn(sys, &SAVER, NULL, 0, NULL);
    for (int round = 0; round < 2; round++) {
        za_answer ans;
        assert_int_equal(za_ask(sys, a, TAG_SAVE, &st, sizeof st, TU_WAIT_MS, &ans), ZA_OK);
        assert_int_equal(ans.len, 16);
        int64_t out[2];
        memcpy(out, ans.data, sizeof out);
        za_answer_free(&ans);
        if (round == 0) {
            assert_int_equal(out[0], ZA_OK);
            assert_int_equal(out[1], 1);
        } else {
            assert_int_equal(out[0], ZA_ECONFLICT); /* it expects 0 again: stale */
        }
    }
    za_store_close(st);
    za_system_destroy(sys);
    /* to a dead actor: a dead letter, nothing leaks (ASan checks) */
    assert_int_equal(za_store_open(p->url, NULL, &st), ZA_OK);
    sys = tu_system(1);
    za_ref dead = tu_spawn(sys, &SAVER, NULL, 0, NULL);
    za_stop(sys, dead);
    assert_int_equal(za_join(sys, dead, TU_WAIT_MS), ZA_OK);
    za_store_req q = {.op = ZA_STORE_READ, .type = "actor", .id = "a"};
    uint64_t corr = 0;
    assert_int_equal(za_store_tell(sys, st, &q, dead, TAG_SAVED, &corr), ZA_OK);
    assert_true(corr != 0);
    za_metrics mt;
    ASSERT_EVENTUALLY(za_metrics_read(sys, &mt) == ZA_OK && mt.dead_letters >= 1);
    za_store_close(st);
    za_system_destroy(sys);
}

/* A blocking store call from an actor (a worker thread) is refused with
 * ZA_ESTATE instead of stalling the worker. */
static int blocker_receive(za_ctx *ctx, const za_msg *m) {
    za_store *st = *(za_store **)m->data;
    za_store_req q = {.op = ZA_STORE_READ, .type = "x", .id = "y"};
    za_store_result r;
    int rc = za_store_call(st, &q, 1000, &r);
    za_store_result_free(&r);
    int64_t out = rc;
    za_reply(ctx, 0, &out, sizeof out);
    return 0;
}

static const za_behaviour BLOCKER = {ZA_BEHAVIOUR_INIT, .name = "blocker",
                                     .receive = blocker_receive};

static void test_blocking_call_in_actor(void **state) {
    za_store *st = ((prov *)*state)->st;
    za_system *sys = tu_system(1);
    za_ref a = tu_spawn(sys, &BLOCKER, NULL, 0, NULL);
    za_answer ans;
    assert_int_equal(za_ask(sys, a, 1, &st, sizeof st, TU_WAIT_MS, &ans), ZA_OK);
    int64_t out;
    memcpy(&out, ans.data, sizeof out);
    za_answer_free(&ans);
    assert_int_equal(out, ZA_ESTATE);
    za_system_destroy(sys);
}

/* ---------------------------------------------------------- crash safety */

/* The child: 4 threads, each writes its own key and appends to its own
 * journal, printing "<thread> <version>" once a write is acknowledged. */
static za_store *g_child_store;

static void *crash_writer(void *arg) {
    int t = (int)(intptr_t)arg;
    char id[16];
    snprintf(id, sizeof id, "c%d", t);
    for (uint64_t v = 0; v < 1000000; v++) {
        char val[32];
        int n = snprintf(val, sizeof val, "v%llu", (unsigned long long)v + 1);
        if (st_write(g_child_store, "crash", id, val, (size_t)n, v, NULL) != ZA_OK) _exit(3);
        za_store_req q = {.op = ZA_STORE_APPEND,
                          .type = "crash",
                          .id = id,
                          .data = val,
                          .len = (size_t)n,
                          .version = v + 1};
        za_store_result r;
        if (za_store_call(g_child_store, &q, CALL_MS, &r) != ZA_OK) _exit(4);
        za_store_result_free(&r);
        char line[48];
        int l = snprintf(line, sizeof line, "%d %llu\n", t, (unsigned long long)v + 1);
        if (write(1, line, (size_t)l) != l) _exit(5); /* one write: lines never interleave */
    }
    return NULL;
}

static int crash_child(const char *url) {
    if (za_store_open(url, NULL, &g_child_store) != ZA_OK) {
        fprintf(stderr, "child: %s\n", za_last_error());
        return 2;
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, crash_writer, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    return 0;
}

static void test_crash_safety(void **state) {
    prov *p = *state;
    if (!strcmp(p->name, "memory")) return; /* nothing to survive */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "test_store_conformance", "--crash-writer", p->url, (char *)NULL);
        _exit(127);
    }
    ts_track(pid);
    close(fds[1]);
    uint64_t acked[4] = {0};
    int total = 0;
    char buf[4096], line[64];
    size_t ll = 0;
    uint64_t end = ts_now_ms() + 30000;
    bool killed = false;
    for (;;) {
        if (!killed && (total >= (int)tu_size(400) || ts_now_ms() > end)) {
            kill(pid, SIGKILL); /* mid-stream: writes are in flight */
            killed = true;
        }
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break; /* EOF once the child is dead */
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (ll < sizeof line - 1) line[ll++] = buf[i];
                continue;
            }
            line[ll] = 0;
            ll = 0;
            int t;
            unsigned long long v;
            if (sscanf(line, "%d %llu", &t, &v) == 2 && t >= 0 && t < 4) {
                if (v > acked[t]) acked[t] = v;
                total++;
            }
        }
    }
    close(fds[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    ts_untrack(pid);
    assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL); /* it did not stop on its own */
    assert_true(total > 0);
    /* The server crashes too: only what it made durable may survive. */
    za_store_close(p->st);
    p->st = NULL;
    if (!strcmp(p->name, "redis")) assert_true(ts_redis_crash_restart(&p->redis));
    if (!strcmp(p->name, "postgresql")) assert_true(ts_pg_crash_restart(&p->pg));
    assert_int_equal(za_store_open(p->url, NULL, &p->st), ZA_OK);
    for (int t = 0; t < 4; t++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", t);
        za_store_result r;
        int rc = st_read(p->st, "crash", id, &r);
        if (acked[t]) {
            assert_int_equal(rc, ZA_OK);
            assert_true(r.version >= acked[t]);
        }
        za_store_result_free(&r);
        za_store_req q = {.op = ZA_STORE_REPLAY, .type = "crash", .id = id, .version = 1};
        assert_int_equal(za_store_call(p->st, &q, CALL_MS, &r), ZA_OK);
        assert_true(r.version >= acked[t]);
        assert_int_equal(r.nevents, r.version); /* no holes: 1..highest */
        for (size_t i = 0; i < r.nevents; i++) assert_int_equal(r.events[i].seq, i + 1);
        za_store_result_free(&r);
    }
}

/* -------------------------------------------- dead and paused servers */

static void test_server_down_and_back(void **state) {
    prov *p = *state;
    if (!strcmp(p->name, "memory") || !strcmp(p->name, "sqlite")) return;
    za_store_result r;
    assert_int_equal(st_write(p->st, "down", "k", "1", 1, 0, NULL), ZA_OK);
    /* paused server: a blocking call times out instead of hanging */
    pid_t spid = !strcmp(p->name, "redis") ? p->redis.pid : p->pg.pid;
    ts_signal(spid, SIGSTOP); /* the server and its backends */
    za_store_req q = {.op = ZA_STORE_READ, .type = "down", .id = "k"};
    int rc = za_store_call(p->st, &q, 300, &r);
    ts_signal(spid, SIGCONT);
    assert_int_equal(rc, ZA_ETIMEDOUT);
    za_store_result_free(&r);
    assert_int_equal(st_read(p->st, "down", "k", &r), ZA_OK); /* and works again */
    za_store_result_free(&r);
    /* dead server: a clear error, then the store reconnects once it is back */
    if (!strcmp(p->name, "redis"))
        ts_stop_pid(p->redis.pid, SIGKILL, 5000);
    else
        ts_stop_pid(p->pg.pid, SIGKILL, 5000);
    int errs = 0;
    for (int i = 0; i < 4; i++) { /* every thread's connection notices */
        rc = st_read(p->st, "down", "k", &r);
        if (rc == ZA_ECONNECT)
            errs++;
        else
            assert_int_equal(rc, ZA_OK); /* (never anything else) */
        za_store_result_free(&r);
    }
    assert_true(errs > 0);
    if (!strcmp(p->name, "redis"))
        assert_true(ts_redis_launch(&p->redis));
    else
        assert_true(ts_pg_launch(&p->pg));
    assert_int_equal(st_read(p->st, "down", "k", &r), ZA_OK);
    assert_int_equal(r.version, 1);
    za_store_result_free(&r);
}

/* ------------------------------------------------------------- opening */

static void expect_open(const char *url, int code, const char *needle) {
    za_store *st = NULL;
    za_store_opts o;
    za_store_opts_init(&o);
    o.connect_timeout_ms = 2000;
    int rc = za_store_open(url, &o, &st);
    if (rc != code) fprintf(stderr, "open %s: %d (%s)\n", url, rc, za_last_error());
    assert_int_equal(rc, code);
    assert_null(st);
    if (needle && !strstr(za_last_error(), needle)) {
        fprintf(stderr, "open %s: '%s' lacks '%s'\n", url, za_last_error(), needle);
        fail();
    }
}

static void test_bad_urls(void **state) {
    (void)state;
    expect_open(NULL, ZA_EINVAL, NULL);
    expect_open("ftp://x", ZA_EINVAL, "unknown store URL");
    expect_open("sqlite", ZA_EINVAL, "unknown store URL");
    expect_open("sqlite://", ZA_EINVAL, "no path");
    expect_open("redis://", ZA_EINVAL, "bad redis URL");
    expect_open("redis://host:99999", ZA_EINVAL, "bad redis URL");
    expect_open("redis://host:12/x", ZA_EINVAL, "bad redis URL");
    expect_open("postgresql://host:5432/db?nonsense=1", ZA_EINVAL, "bad postgresql URL");
    expect_open("memory://x", ZA_EINVAL, "memory://");
    expect_open("sqlite:///nonexistent-dir-za/x/y.db", ZA_ESTORE, "cannot open");
    /* a file that is not a database */
    char path[] = "/tmp/za-notdb-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, "this is not a database, just text, long enough to matter......", 60) ==
                60);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "sqlite://%s", path);
    expect_open(url, ZA_ESTORE, "not a database");
    unlink(path);
    /* nobody listening */
    int port = ts_free_port();
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    expect_open(url, ZA_ECONNECT, "cannot connect");
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/postgres", port);
    expect_open(url, ZA_ECONNECT, "postgresql");
}

static void test_bad_credentials(void **state) {
    prov *p = *state;
    char url[300];
    if (!strcmp(p->name, "redis")) {
        snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d/0", p->redis.port);
        expect_open(url, ZA_EAUTH, "AUTH");
        snprintf(url, sizeof url, "redis://127.0.0.1:%d/99999", p->redis.port);
        expect_open(url, ZA_EINVAL, "SELECT");
    } else if (!strcmp(p->name, "postgresql")) {
        snprintf(url, sizeof url, "postgresql://postgres:wrong@127.0.0.1:%d/postgres", p->pg.port);
        expect_open(url, ZA_EAUTH, "password authentication failed");
        snprintf(url, sizeof url, "postgresql://nobody:x@127.0.0.1:%d/postgres", p->pg.port);
        expect_open(url, ZA_EAUTH, NULL);
    }
}

/* Data outlives the store object: close, open again, read. */
static void test_reopen(void **state) {
    prov *p = *state;
    if (!strcmp(p->name, "memory")) return;
    assert_int_equal(st_write(p->st, "re", "k", "abc", 3, 0, NULL), ZA_OK);
    za_store_close(p->st);
    assert_int_equal(za_store_open(p->url, NULL, &p->st), ZA_OK);
    za_store_result r;
    assert_int_equal(st_read(p->st, "re", "k", &r), ZA_OK);
    assert_int_equal(r.version, 1);
    assert_memory_equal(r.data, "abc", 3);
    za_store_result_free(&r);
    assert_string_equal(za_store_scheme(p->st), p->name);
}

/* --------------------------------------------------------------- fencing */

static int f_write(za_store *st, const char *id, uint64_t expected, uint64_t fence,
                   uint64_t *newv) {
    za_store_req q = {.op = ZA_STORE_WRITE,
                      .type = "fence",
                      .id = id,
                      .data = "s",
                      .len = 1,
                      .version = expected,
                      .fence = fence};
    za_store_result r;
    int rc = za_store_call(st, &q, CALL_MS, &r);
    if (newv) *newv = r.version;
    za_store_result_free(&r);
    return rc;
}

static int f_op(za_store *st, za_store_op op, const char *id, uint64_t v, uint64_t fence) {
    char ev[32];
    int n = snprintf(ev, sizeof ev, "ev%llu", (unsigned long long)v);
    za_store_req q = {.op = op,
                      .type = op == ZA_STORE_CLEAR ? "fence" : "t",
                      .id = id,
                      .data = op == ZA_STORE_APPEND ? ev : NULL,
                      .len = op == ZA_STORE_APPEND ? (size_t)n : 0,
                      .version = v,
                      .fence = fence};
    za_store_result r;
    int rc = za_store_call(st, &q, CALL_MS, &r);
    za_store_result_free(&r);
    return rc;
}

static void assert_fenced_msg(uint64_t token, uint64_t stored) {
    char want[96];
    snprintf(want, sizeof want, "fenced: token %llu < stored %llu", (unsigned long long)token,
             (unsigned long long)stored);
    if (!strstr(za_last_error(), want)) {
        fprintf(stderr, "'%s' lacks '%s'\n", za_last_error(), want);
        fail();
    }
}

/* A newer token fences older writers off a state; equal tokens pass;
 * token 0 is not fenced and does not lower the stored token. */
static void test_fence_state(void **state) {
    za_store *st = ((prov *)*state)->st;
    uint64_t v = 0;
    assert_int_equal(f_write(st, "s1", 0, 5, &v), ZA_OK);
    assert_int_equal(v, 1);
    assert_int_equal(f_write(st, "s1", 1, 3, &v), ZA_EFENCED);
    assert_fenced_msg(3, 5);
    za_store_result r;
    assert_int_equal(st_read(st, "fence", "s1", &r), ZA_OK); /* nothing written */
    assert_int_equal(r.version, 1);
    za_store_result_free(&r);
    assert_int_equal(f_write(st, "s1", 1, 5, &v), ZA_OK); /* the holder itself */
    assert_int_equal(v, 2);
    assert_int_equal(f_write(st, "s1", 2, 0, &v), ZA_OK); /* unfenced: as before */
    assert_int_equal(f_write(st, "s1", 3, 4, &v), ZA_EFENCED);
    assert_fenced_msg(4, 5);
    assert_int_equal(f_write(st, "s1", 3, 9, &v), ZA_OK); /* a newer holder */
    assert_int_equal(v, 4);
    assert_int_equal(f_write(st, "s1", 4, 5, &v), ZA_EFENCED);
    assert_fenced_msg(5, 9);
    /* stale token and stale version: the fence is what is reported */
    assert_int_equal(f_write(st, "s1", 1, 2, &v), ZA_EFENCED);
    /* a fresh token and a stale version: a conflict */
    assert_int_equal(f_write(st, "s1", 1, 10, &v), ZA_ECONFLICT);
    assert_int_equal(f_write(st, "s1", 4, 10, &v), ZA_OK);
    /* clear: refused when fenced; a fenced clear keeps the token */
    assert_int_equal(f_op(st, ZA_STORE_CLEAR, "s1", 5, 7), ZA_EFENCED);
    assert_fenced_msg(7, 10);
    assert_int_equal(st_read(st, "fence", "s1", &r), ZA_OK);
    assert_int_equal(r.version, 5);
    za_store_result_free(&r);
    assert_int_equal(f_op(st, ZA_STORE_CLEAR, "s1", 4, 11), ZA_ECONFLICT);
    assert_int_equal(f_op(st, ZA_STORE_CLEAR, "s1", 5, 11), ZA_OK);
    assert_int_equal(st_read(st, "fence", "s1", &r), ZA_ENOTFOUND);
    za_store_result_free(&r);
    assert_int_equal(f_write(st, "s1", 0, 10, &v), ZA_EFENCED); /* the stale holder */
    assert_fenced_msg(10, 11);
    assert_int_equal(f_op(st, ZA_STORE_CLEAR, "s1", ZA_STORE_ANY, 10), ZA_EFENCED);
    assert_int_equal(f_op(st, ZA_STORE_CLEAR, "s1", 0, 11), ZA_OK); /* must not exist: holds */
    assert_int_equal(f_write(st, "s1", 0, 11, &v), ZA_OK);
    assert_int_equal(v, 1);
    assert_int_equal(st_read(st, "fence", "s1", &r), ZA_OK);
    assert_int_equal(r.version, 1);
    assert_memory_equal(r.data, "s", 1);
    za_store_result_free(&r);
    /* a fenced clear of a key that never existed records the token too */
    assert_int_equal(f_op(st, ZA_STORE_CLEAR, "s2", ZA_STORE_ANY, 3), ZA_OK);
    assert_int_equal(f_write(st, "s2", 0, 2, &v), ZA_EFENCED);
    assert_int_equal(f_write(st, "s2", 0, 0, &v), ZA_OK); /* unfenced writers are not */
    /* out of range */
    assert_int_equal(f_write(st, "s3", 0, (uint64_t)INT64_MAX + 1, &v), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "fencing token"));
}

static void test_fence_journal(void **state) {
    za_store *st = ((prov *)*state)->st;
    uint64_t hi;
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 1, 7), ZA_OK);
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 2, 6), ZA_EFENCED);
    assert_fenced_msg(6, 7);
    assert_int_equal(st_simple(st, ZA_STORE_HIGHEST, "fj", 0, NULL, 0, &hi), ZA_OK);
    assert_int_equal(hi, 1);
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 2, 0), ZA_OK);
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 3, 8), ZA_OK);
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 3, 9), ZA_ECONFLICT); /* duplicate */
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 9, 2), ZA_EFENCED);   /* gap + fenced */
    assert_int_equal(f_op(st, ZA_STORE_DELETE_TO, "fj", 2, 7), ZA_EFENCED);
    assert_fenced_msg(7, 8);
    assert_replay(st, "fj", 1, 0, (uint64_t[]){1, 2, 3}, 3, 3);
    assert_int_equal(f_op(st, ZA_STORE_DELETE_TO, "fj", 2, 9), ZA_OK);
    assert_replay(st, "fj", 1, 0, (uint64_t[]){3}, 1, 3);
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 4, 8), ZA_EFENCED); /* 9 now */
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj", 4, 9), ZA_OK);
    /* a fenced delete-to on an empty journal records the token */
    assert_int_equal(f_op(st, ZA_STORE_DELETE_TO, "fj2", 5, 10), ZA_OK);
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj2", 1, 9), ZA_EFENCED);
    assert_int_equal(f_op(st, ZA_STORE_APPEND, "fj2", 1, 10), ZA_OK);
    assert_replay(st, "fj2", 1, 0, (uint64_t[]){1}, 1, 1);
    /* state and journal tokens are separate */
    uint64_t v;
    assert_int_equal(f_write(st, "fj", 0, 1, &v), ZA_OK);
}

/* Two holders race, round after round, each with its own token: the
 * newest token wins every round it takes part in, older ones are fenced. */
typedef struct fracer {
    za_store *st;
    uint64_t token;
    pthread_barrier_t *bar;
    _Atomic int *fenced_ok;
} fracer;

static void *frace_fn(void *arg) {
    fracer *f = arg;
    for (int round = 0; round < 10; round++) {
        char id[16];
        snprintf(id, sizeof id, "fr%d", round);
        pthread_barrier_wait(f->bar);
        int rc = f_write(f->st, id, 0, f->token + (uint64_t)round * 10, NULL);
        pthread_barrier_wait(f->bar);
        /* after both wrote once, the older token must be refused */
        rc = f_write(f->st, id, 1, f->token + (uint64_t)round * 10, NULL);
        if (f->token == 1 && rc != ZA_EFENCED) atomic_fetch_add(f->fenced_ok, 1000);
        if (f->token == 1 && rc == ZA_EFENCED) atomic_fetch_add(f->fenced_ok, 1);
        pthread_barrier_wait(f->bar);
    }
    return NULL;
}

static void test_fence_race(void **state) {
    za_store *st = ((prov *)*state)->st;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    _Atomic int fenced_ok = 0;
    /* the newer holder has written at least once before the older one's
     * second write: the older one is fenced whatever the order of the
     * first writes (a first write that lost on version still raised
     * nothing, so write a token unconditionally first) */
    for (int round = 0; round < 10; round++) {
        char id[16];
        snprintf(id, sizeof id, "fr%d", round);
        assert_int_equal(f_op(st, ZA_STORE_CLEAR, id, ZA_STORE_ANY, 2 + (uint64_t)round * 10),
                         ZA_OK);
    }
    fracer a = {st, 1, &bar, &fenced_ok}, b = {st, 2, &bar, &fenced_ok};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, frace_fn, &a);
    pthread_create(&tb, NULL, frace_fn, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    assert_int_equal(atomic_load(&fenced_ok), 10);
}

/* ---------------------------------------------------------- reminder rows */

static int rm_call(za_store *st, za_store_op op, const char *type, const char *key,
                   const char *name, uint64_t period, uint64_t due, uint64_t last, int catch_up,
                   uint64_t fence) {
    za__remind row = {.type = type,
                      .key = key,
                      .name = name,
                      .period_ms = period,
                      .next_due = due,
                      .last_fired = last,
                      .catch_up = (uint32_t)catch_up};
    char buf[2048];
    size_t n = za__remind_pack(&row, buf, sizeof buf);
    assert_true(n <= sizeof buf);
    za_store_req q = {.op = op, .type = type, .id = key, .data = buf, .len = n, .fence = fence};
    za_store_result r;
    int rc = za__store_call_op(st, &q, CALL_MS, &r);
    za_store_result_free(&r);
    return rc;
}

/* List every row (pages of `page`), calling fn on each; returns the count. */
static size_t rm_list(za_store *st, uint32_t page, void (*fn)(const za__remind *, void *),
                      void *ud) {
    char cursor[2048];
    size_t clen = 0, total = 0;
    for (int guard = 0; guard < 100000; guard++) {
        za_store_req q = {.op = ZA__STORE_REMIND_LIST,
                          .type = "",
                          .id = "",
                          .data = clen ? cursor : NULL,
                          .len = clen,
                          .max = page};
        za_store_result r;
        assert_int_equal(za__store_call_op(st, &q, CALL_MS, &r), ZA_OK);
        for (size_t i = 0; i < r.nevents; i++) {
            za__remind row;
            assert_int_equal(za__remind_unpack(r.events[i].data, r.events[i].len, &row), ZA_OK);
            fn(&row, ud);
            total++;
        }
        size_t n = r.nevents;
        if (n) {
            memcpy(cursor, r.events[n - 1].data, r.events[n - 1].len);
            clen = r.events[n - 1].len;
        }
        za_store_result_free(&r);
        if (n < (page ? page : ZA__REMIND_PAGE)) break;
    }
    return total;
}

typedef struct rm_seen {
    za__remind rows[8];
    char keep[8][3][64];
    size_t n;
} rm_seen;

static void rm_collect(const za__remind *row, void *ud) {
    rm_seen *s = ud;
    if (s->n >= 8) return;
    za__remind *d = &s->rows[s->n];
    *d = *row;
    snprintf(s->keep[s->n][0], 64, "%s", row->type);
    snprintf(s->keep[s->n][1], 64, "%s", row->key);
    snprintf(s->keep[s->n][2], 64, "%s", row->name);
    d->type = s->keep[s->n][0];
    d->key = s->keep[s->n][1];
    d->name = s->keep[s->n][2];
    s->n++;
}

static void test_reminder_rows(void **state) {
    za_store *st = ((prov *)*state)->st;
    rm_seen seen = {0};
    assert_int_equal(rm_list(st, 0, rm_collect, &seen), 0);
    assert_int_equal(
        rm_call(st, ZA__STORE_REMIND_PUT, "acct", "alice", "settle", 60000, 1000, 0, 1, 0), ZA_OK);
    assert_int_equal(
        rm_call(st, ZA__STORE_REMIND_PUT, "acct", "alice", "audit", 5000, 2000, 0, 0, 0), ZA_OK);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_PUT, "a:b", "c", "x", 1000, 3, 0, 1, 0), ZA_OK);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_PUT, "a", "b:c", "x", 1000, 4, 0, 1, 0), ZA_OK);
    /* the same name replaces */
    assert_int_equal(
        rm_call(st, ZA__STORE_REMIND_PUT, "acct", "alice", "settle", 120000, 7777, 1500, 0, 0),
        ZA_OK);
    assert_int_equal(rm_list(st, 0, rm_collect, &seen), 4);
    /* ordered by (type, key, name), bytewise */
    assert_string_equal(seen.rows[0].type, "a");
    assert_string_equal(seen.rows[0].key, "b:c");
    assert_string_equal(seen.rows[1].type, "a:b");
    assert_string_equal(seen.rows[2].name, "audit");
    assert_int_equal(seen.rows[2].period_ms, 5000);
    assert_int_equal(seen.rows[2].catch_up, 0);
    assert_string_equal(seen.rows[3].name, "settle");
    assert_int_equal(seen.rows[3].period_ms, 120000);
    assert_int_equal(seen.rows[3].next_due, 7777);
    assert_int_equal(seen.rows[3].last_fired, 1500);
    assert_int_equal(seen.rows[3].catch_up, 0);
    /* touch moves the times only */
    assert_int_equal(
        rm_call(st, ZA__STORE_REMIND_TOUCH, "acct", "alice", "settle", 1, 9999, 8888, 1, 0), ZA_OK);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_TOUCH, "acct", "alice", "nope", 1, 9, 8, 1, 0),
                     ZA_ENOTFOUND);
    seen.n = 0;
    assert_int_equal(rm_list(st, 0, rm_collect, &seen), 4);
    assert_int_equal(seen.rows[3].period_ms, 120000);
    assert_int_equal(seen.rows[3].next_due, 9999);
    assert_int_equal(seen.rows[3].last_fired, 8888);
    assert_int_equal(seen.rows[3].catch_up, 0);
    /* delete */
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_DEL, "acct", "alice", "audit", 0, 0, 0, 0, 0),
                     ZA_OK);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_DEL, "acct", "alice", "audit", 0, 0, 0, 0, 0),
                     ZA_ENOTFOUND);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_TOUCH, "acct", "alice", "audit", 1, 9, 8, 1, 0),
                     ZA_ENOTFOUND); /* a touch never brings a row back */
    seen.n = 0;
    assert_int_equal(rm_list(st, 0, rm_collect, &seen), 3);
    /* fencing */
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_PUT, "acct", "bob", "f", 1000, 1, 0, 1, 5),
                     ZA_OK);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_PUT, "acct", "bob", "f", 1000, 1, 0, 1, 4),
                     ZA_EFENCED);
    assert_fenced_msg(4, 5);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_TOUCH, "acct", "bob", "f", 1000, 1, 0, 1, 4),
                     ZA_EFENCED);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_DEL, "acct", "bob", "f", 0, 0, 0, 0, 3),
                     ZA_EFENCED);
    seen.n = 0;
    rm_list(st, 0, rm_collect, &seen);
    assert_int_equal(seen.rows[3].fence, 5);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_DEL, "acct", "bob", "f", 0, 0, 0, 0, 6), ZA_OK);
    /* a packed row that is not one: refused before it is queued */
    za_store_req bad = {
        .op = ZA__STORE_REMIND_PUT, .type = "acct", .id = "x", .data = "junk", .len = 4};
    za_store_result r;
    assert_int_equal(za__store_call_op(st, &bad, CALL_MS, &r), ZA_EINVAL);
    za_store_result_free(&r);
    /* and the public entry point does not know the internal operations */
    assert_int_equal(za_store_call(st, &bad, CALL_MS, &r), ZA_EINVAL);
    za_store_result_free(&r);
    /* clean up for the paging test */
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_DEL, "acct", "alice", "settle", 0, 0, 0, 0, 0),
                     ZA_OK);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_DEL, "a:b", "c", "x", 0, 0, 0, 0, 0), ZA_OK);
    assert_int_equal(rm_call(st, ZA__STORE_REMIND_DEL, "a", "b:c", "x", 0, 0, 0, 0, 0), ZA_OK);
}

typedef struct rm_pages {
    char last[3][64];
    size_t n, out_of_order, bad;
} rm_pages;

static void rm_check(const za__remind *row, void *ud) {
    rm_pages *p = ud;
    char t[64], k[64], nm[64];
    snprintf(t, sizeof t, "%s", row->type);
    snprintf(k, sizeof k, "%s", row->key);
    snprintf(nm, sizeof nm, "%s", row->name);
    if (p->n) {
        int c = strcmp(p->last[0], t);
        if (!c) c = strcmp(p->last[1], k);
        if (!c) c = strcmp(p->last[2], nm);
        if (c >= 0) p->out_of_order++;
    }
    /* each row carries its own numbers */
    unsigned idx;
    if (sscanf(k, "g%u", &idx) != 1 || row->period_ms != 1000 + idx) p->bad++;
    memcpy(p->last[0], t, 64);
    memcpy(p->last[1], k, 64);
    memcpy(p->last[2], nm, 64);
    p->n++;
}

static void put_cb(za_store_result *res, void *ud) {
    count_cb(res, ud);
}

/* Many rows list in full, in order, page by page, without duplicates. */
static void test_reminder_rows_paged(void **state) {
    za_store *st = ((prov *)*state)->st;
    enum { N = 2500 };
    counter c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    for (unsigned i = 0; i < N; i++) {
        char key[32], name[32];
        snprintf(key, sizeof key, "g%u", i);
        snprintf(name, sizeof name, i % 3 ? "r%u" : "r:%u-ключ", i % 7);
        za__remind row = {.type = i % 2 ? "pg-odd" : "pg-even",
                          .key = key,
                          .name = name,
                          .period_ms = 1000 + i,
                          .next_due = i,
                          .catch_up = 1};
        char buf[256];
        size_t n = za__remind_pack(&row, buf, sizeof buf);
        za_store_req q = {
            .op = ZA__STORE_REMIND_PUT, .type = row.type, .id = key, .data = buf, .len = n};
        assert_int_equal(za__store_submit_op(st, &q, put_cb, &c), ZA_OK);
    }
    assert_true(WAIT_UNTIL(__extension__({
                               pthread_mutex_lock(&c.mu);
                               int d = c.done;
                               pthread_mutex_unlock(&c.mu);
                               d == N;
                           }),
                           60000));
    assert_int_equal(c.ok, N);
    rm_pages pg = {0};
    assert_int_equal(rm_list(st, 0, rm_check, &pg), N);
    assert_int_equal(pg.out_of_order, 0);
    assert_int_equal(pg.bad, 0);
    memset(&pg, 0, sizeof pg);
    assert_int_equal(rm_list(st, 333, rm_check, &pg), N);
    assert_int_equal(pg.out_of_order, 0);
}

/* A database made by the schema before fencing tokens (no fence columns,
 * no reminder table) opens, keeps its data, and takes fenced writes. */
static void test_sqlite_old_schema(void **state) {
    (void)state;
    char dir[] = "/tmp/za-oldschema-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], url[300];
    snprintf(path, sizeof path, "%s/old.db", dir);
    snprintf(url, sizeof url, "sqlite://%s", path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE za_state (type TEXT NOT NULL, id TEXT NOT NULL, "
                     "  version INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (type, id));"
                     "CREATE TABLE za_journal (type TEXT NOT NULL, id TEXT NOT NULL, "
                     "  seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (type, id, seq));"
                     "CREATE TABLE za_journal_hi (type TEXT NOT NULL, id TEXT NOT NULL, "
                     "  hi INTEGER NOT NULL, PRIMARY KEY (type, id));"
                     "INSERT INTO za_state VALUES ('fence', 'old', 3, x'6f6c64');"
                     "INSERT INTO za_journal_hi VALUES ('t', 'oldj', 2);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    for (int round = 0; round < 2; round++) { /* the second open finds the columns there */
        za_store *st;
        assert_int_equal(za_store_open(url, NULL, &st), ZA_OK);
        za_store_result r;
        assert_int_equal(st_read(st, "fence", "old", &r), ZA_OK);
        assert_int_equal(r.version, 3 + (uint64_t)round);
        za_store_result_free(&r);
        assert_int_equal(f_write(st, "old", 3 + (uint64_t)round, 4, NULL), ZA_OK);
        assert_int_equal(f_write(st, "old", 4 + (uint64_t)round, 3, NULL), ZA_EFENCED);
        assert_int_equal(f_op(st, ZA_STORE_APPEND, "oldj", 3 + (uint64_t)round, 2), ZA_OK);
        assert_int_equal(rm_call(st, ZA__STORE_REMIND_PUT, "g", "k", "n", 1000, 1, 0, 1, 0), ZA_OK);
        za_store_close(st);
    }
    ts_rm_rf(dir);
}

/* ------------------------------------------------------------------ main */

#define PROVIDER_TESTS(st)                                                                         \
    cmocka_unit_test_prestate(test_state_versions, st),                                            \
        cmocka_unit_test_prestate(test_keys_are_pairs, st),                                        \
        cmocka_unit_test_prestate(test_clear, st),                                                 \
        cmocka_unit_test_prestate(test_race_one_winner, st),                                       \
        cmocka_unit_test_prestate(test_journal, st),                                               \
        cmocka_unit_test_prestate(test_journal_long, st),                                          \
        cmocka_unit_test_prestate(test_large_values, st),                                          \
        cmocka_unit_test_prestate(test_many_keys, st),                                             \
        cmocka_unit_test_prestate(test_concurrent_writers, st),                                    \
        cmocka_unit_test_prestate(test_pipelined_appends, st),                                     \
        cmocka_unit_test_prestate(test_bad_requests, st),                                          \
        cmocka_unit_test_prestate(test_completion_message, st),                                    \
        cmocka_unit_test_prestate(test_blocking_call_in_actor, st),                                \
        cmocka_unit_test_prestate(test_fence_state, st),                                           \
        cmocka_unit_test_prestate(test_fence_journal, st),                                         \
        cmocka_unit_test_prestate(test_fence_race, st),                                            \
        cmocka_unit_test_prestate(test_reminder_rows, st),                                         \
        cmocka_unit_test_prestate(test_reminder_rows_paged, st),                                   \
        cmocka_unit_test_prestate(test_bad_credentials, st),                                       \
        cmocka_unit_test_prestate(test_reopen, st),                                                \
        cmocka_unit_test_prestate(test_server_down_and_back, st),                                  \
        cmocka_unit_test_prestate(test_crash_safety, st)

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--crash-writer")) return crash_child(argv[2]);
    static prov mem = {.name = "memory"}, sq = {.name = "sqlite"}, rd = {.name = "redis"},
                pg = {.name = "postgresql"};
    const struct CMUnitTest misc[] = {cmocka_unit_test(test_bad_urls),
                                      cmocka_unit_test(test_sqlite_old_schema)};
    const struct CMUnitTest t_mem[] = {PROVIDER_TESTS(&mem)};
    const struct CMUnitTest t_sq[] = {PROVIDER_TESTS(&sq)};
    const struct CMUnitTest t_rd[] = {PROVIDER_TESTS(&rd)};
    const struct CMUnitTest t_pg[] = {PROVIDER_TESTS(&pg)};
    int fails = 0;
    fails += cmocka_run_group_tests_name("store: open", misc, NULL, NULL);
    /* cmocka hands the group state to each prestate test: set it up here */
    struct {
        const char *name;
        const struct CMUnitTest *t;
        size_t n;
        prov *p;
    } groups[] = {{"store: memory", t_mem, sizeof t_mem / sizeof t_mem[0], &mem},
                  {"store: sqlite", t_sq, sizeof t_sq / sizeof t_sq[0], &sq},
                  {"store: redis", t_rd, sizeof t_rd / sizeof t_rd[0], &rd},
                  {"store: postgresql", t_pg, sizeof t_pg / sizeof t_pg[0], &pg}};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        void *st = groups[g].p;
        if (prov_setup(&st) != 0) {
            fprintf(stderr, "%s: could not set up the provider\n", groups[g].name);
            prov_teardown(&st);
            fails++;
            continue;
        }
        fails += _cmocka_run_group_tests(groups[g].name, groups[g].t, groups[g].n, NULL, NULL);
        prov_teardown(&st);
    }
    return fails ? 1 : 0;
}
