/*
 * Grain leases in Redis (csrc/cluster/lease.c), against a redis-server this
 * program starts on a free port (testservers.h): two cluster members in this
 * process take, re-take, drop and fight over leases; a member that left or
 * was declared dead loses its leases; a member that is no longer alive gets
 * none; Redis down is ZA_ECONNECT, not a hang. Every wait is bounded.
 */
#include "testutil.h"

#include "testservers.h"

#include "cluster/cluster.h"
#include "cluster/gplace.h"

/* libzmq is not built with ThreadSanitizer (see test_cluster.c) */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) {
    return "race_top:libzmq.so\ncalled_from_lib:libzmq.so\n";
}

static ts_redis redis;

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
    uint64_t token;
} waiter;

static void on_lease(int status, uint64_t token, void *ud) {
    waiter *w = ud;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->token = token;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* take and wait for the callback: the status (ZA_ETIMEDOUT: none came) */
static int take(za_cluster *c, const char *type, const char *key, uint64_t *token) {
    waiter w = {.status = ZA_ETIMEDOUT};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = za__lease_take(c, type, key, on_lease, &w);
    if (rc == ZA_OK) {
        uint64_t end = tu_now_ns() + 10000000000ull;
        pthread_mutex_lock(&w.mu);
        while (!w.done && tu_now_ns() < end) {
            pthread_mutex_unlock(&w.mu);
            ts_sleep_ms(2);
            pthread_mutex_lock(&w.mu);
        }
        rc = w.status;
        *token = w.token;
        pthread_mutex_unlock(&w.mu);
        assert_true(w.done); /* the callback ran exactly once, in time */
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

static za_cluster *member(const char *name) {
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis.url;
    cc.name = "leases";
    cc.node_name = name;
    za_cluster *c = NULL;
    if (za_cluster_create(&cc, &c) != ZA_OK) fail_msg("join: %s", za_last_error());
    return c;
}

static uint32_t id_of(za_cluster *c) {
    za_node_info me;
    assert_int_equal(za_cluster_self(c, &me), ZA_OK);
    return me.id;
}

/* Redis' own view of a lease: "<node>|<epoch>|<token>" or "" */
static void lease_value(const char *type, const char *key, char *out, size_t cap) {
    redisContext *rc = redisConnect("127.0.0.1", redis.port);
    assert_non_null(rc);
    char k[300];
    int n = snprintf(k, sizeof k, "za:leases:lease:%s", type);
    memcpy(k + n + 1, key, strlen(key));
    redisReply *r = redisCommand(rc, "GET %b", k, (size_t)n + 1 + strlen(key));
    snprintf(out, cap, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r) freeReplyObject(r);
    redisFree(rc);
}

static void test_take_retake_conflict_drop(void **st) {
    (void)st;
    za_cluster *a = member("a"), *b = member("b");
    uint64_t t1 = 0, t2 = 0, t3 = 0, t = 0;
    assert_int_equal(take(a, "Account", "alice", &t1), ZA_OK);
    assert_true(t1 > 0);
    char v[128], want[128];
    lease_value("Account", "alice", v, sizeof v);
    za_node_info ai;
    za_cluster_self(a, &ai);
    snprintf(want, sizeof want, "%u|%llu|%llu", ai.id, (unsigned long long)ai.epoch,
             (unsigned long long)t1);
    assert_string_equal(v, want);
    /* the same incarnation may take it again: a newer token fences the old */
    assert_int_equal(take(a, "Account", "alice", &t2), ZA_OK);
    assert_true(t2 > t1);
    /* another live member may not; it learns the holder */
    assert_int_equal(take(b, "Account", "alice", &t), ZA_EEXIST);
    assert_int_equal(t, id_of(a));
    /* (type, key) is the identity: "Accoun"/"talice" is another grain */
    assert_int_equal(take(b, "Accoun", "talice", &t), ZA_OK);
    /* a stale drop (old token) leaves the lease alone; the right one frees it */
    za__lease_drop(a, "Account", "alice", t1);
    uint64_t t0 = 0;
    assert_int_equal(take(a, "Account", "ali", &t0), ZA_OK); /* a's queue is FIFO: drop done */
    assert_int_equal(take(b, "Account", "alice", &t), ZA_EEXIST);
    za__lease_drop(a, "Account", "alice", t2);
    assert_int_equal(take(a, "Account", "ali", &t0), ZA_OK);
    assert_int_equal(take(b, "Account", "alice", &t3), ZA_OK);
    assert_true(t3 > t2);
    assert_int_equal(take(a, "Account", "alice", &t), ZA_EEXIST);
    assert_int_equal(t, id_of(b));
    za_cluster_destroy(b);
    za_cluster_destroy(a);
}

static void test_leases_of_departed_members_are_free(void **st) {
    (void)st;
    za_cluster *a = member("a2"), *b = member("b2");
    uint64_t t = 0, tb = 0;
    assert_int_equal(take(b, "Cart", "42", &tb), ZA_OK);
    assert_int_equal(take(a, "Cart", "42", &t), ZA_EEXIST);
    /* b leaves the cluster without dropping: its leases go with it */
    za_cluster_destroy(b);
    assert_int_equal(take(a, "Cart", "42", &t), ZA_OK);
    assert_true(t > tb);

    /* a member declared dead (as the vote script does) loses its leases to
     * the others, and is refused new ones itself */
    za_cluster *c = member("c2");
    uint64_t tc = 0;
    assert_int_equal(take(a, "Cart", "43", &t), ZA_OK);
    redisContext *rc = redisConnect("127.0.0.1", redis.port);
    char id[16];
    snprintf(id, sizeof id, "%u", id_of(a));
    redisReply *r = redisCommand(rc, "HSET za:leases:status %s dead", id);
    freeReplyObject(r);
    assert_int_equal(take(c, "Cart", "43", &tc), ZA_OK);
    assert_true(tc > t);
    int got = take(a, "Cart", "44", &t); /* refused by the script, or at once once expelled */
    assert_int_equal(got, ZA_ENODEDOWN);
    redisFree(rc);
    za_cluster_destroy(c);
    za_cluster_destroy(a);
}

static void test_redis_down_is_an_error(void **st) {
    (void)st;
    za_cluster *a = member("a3");
    uint64_t t = 0;
    assert_int_equal(take(a, "Account", "bob", &t), ZA_OK);
    ts_stop_pid(redis.pid, SIGKILL, 5000);
    assert_int_equal(take(a, "Account", "carol", &t), ZA_ECONNECT);
    assert_true(ts_redis_launch(&redis)); /* appendonly: the table survived */
    /* the lease thread reconnects */
    int rc = ZA_ECONNECT;
    for (int i = 0; i < 100 && rc == ZA_ECONNECT; i++) {
        rc = take(a, "Account", "carol", &t);
        if (rc == ZA_ECONNECT) ts_sleep_ms(50);
    }
    assert_int_equal(rc, ZA_OK);
    za_cluster_destroy(a);
}

static int setup(void **st) {
    (void)st;
    return ts_redis_start(&redis) ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    ts_redis_stop(&redis);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_retake_conflict_drop),
        cmocka_unit_test(test_leases_of_departed_members_are_free),
        cmocka_unit_test(test_redis_down_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
