/* Registry: register, lookup, unregister, duplicates, names dropped on death. */
#include "testutil.h"

enum { T_PING = 1, T_CRASH, T_REGISTER_SELF };

static int reg_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_PING: {
        za_ref self = za_ctx_self(ctx);
        return za_reply(ctx, T_PING, &self, sizeof self);
    }
    case T_CRASH:
        return 1;
    case T_REGISTER_SELF: {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)m->len, (const char *)m->data);
        int32_t rc = za_register(za_ctx_system(ctx), name, za_ctx_self(ctx));
        return za_reply(ctx, T_REGISTER_SELF, &rc, sizeof rc);
    }
    default:
        return 0;
    }
}

static const za_behaviour reg_beh = {ZA_BEHAVIOUR_INIT, .name = "reg", .receive = reg_receive};

static int setup(void **st) {
    *st = tu_system(2);
    return 0;
}

static int teardown(void **st) {
    za_system_destroy(*st);
    return 0;
}

static za_ref ping(za_system *sys, za_ref r) {
    za_answer a;
    assert_int_equal(tu_ask(sys, r, T_PING, &a), ZA_OK);
    za_ref self;
    memcpy(&self, a.data, sizeof self);
    za_answer_free(&a);
    return self;
}

static void test_register_lookup_unregister(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
    za_ref out = (za_ref)1;
    ASSERT_ERR(za_lookup(sys, "alpha", &out), ZA_ENOTFOUND);
    assert_true(out == ZA_REF_NONE);
    assert_int_equal(za_register(sys, "alpha", a), ZA_OK);
    assert_int_equal(za_lookup(sys, "alpha", &out), ZA_OK);
    assert_true(out == a);
    assert_true(ping(sys, out) == a);
    /* names are exact: no prefix or case folding */
    ASSERT_ERR(za_lookup(sys, "alph", &out), ZA_ENOTFOUND);
    ASSERT_ERR(za_lookup(sys, "Alpha", &out), ZA_ENOTFOUND);
    ASSERT_ERR(za_lookup(sys, "alphabet", &out), ZA_ENOTFOUND);
    /* one actor may have several names */
    assert_int_equal(za_register(sys, "alpha2", a), ZA_OK);
    assert_int_equal(za_lookup(sys, "alpha2", &out), ZA_OK);
    assert_true(out == a);
    assert_int_equal(za_unregister(sys, "alpha"), ZA_OK);
    ASSERT_ERR(za_lookup(sys, "alpha", &out), ZA_ENOTFOUND);
    assert_int_equal(za_lookup(sys, "alpha2", &out), ZA_OK);
    ASSERT_ERR(za_unregister(sys, "alpha"), ZA_ENOTFOUND);
    ASSERT_ERR(za_unregister(sys, "never"), ZA_ENOTFOUND);
    /* the name is free again */
    za_ref b = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
    assert_int_equal(za_register(sys, "alpha", b), ZA_OK);
    assert_int_equal(za_lookup(sys, "alpha", &out), ZA_OK);
    assert_true(out == b);
    assert_int_equal(za_is_alive(sys, a), 1); /* unregistering does not touch the actor */
}

static void test_duplicate(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
    za_ref b = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
    assert_int_equal(za_register(sys, "svc", a), ZA_OK);
    ASSERT_ERR(za_register(sys, "svc", b), ZA_EEXIST);
    assert_non_null(strstr(za_last_error(), "svc"));
    ASSERT_ERR(za_register(sys, "svc", a), ZA_EEXIST); /* even for the same actor */
    za_ref out;
    assert_int_equal(za_lookup(sys, "svc", &out), ZA_OK);
    assert_true(out == a);
    /* from inside an actor too */
    za_answer ans;
    assert_int_equal(za_ask(sys, b, T_REGISTER_SELF, "svc", 3, TU_WAIT_MS, &ans), ZA_OK);
    int32_t rc;
    memcpy(&rc, ans.data, sizeof rc);
    za_answer_free(&ans);
    assert_int_equal(rc, ZA_EEXIST);
    assert_int_equal(za_ask(sys, b, T_REGISTER_SELF, "svc-b", 5, TU_WAIT_MS, &ans), ZA_OK);
    memcpy(&rc, ans.data, sizeof rc);
    za_answer_free(&ans);
    assert_int_equal(rc, ZA_OK);
    assert_int_equal(za_lookup(sys, "svc-b", &out), ZA_OK);
    assert_true(out == b);
}

static void test_unregistered_on_death(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
    assert_int_equal(za_register(sys, "mortal", a), ZA_OK);
    assert_int_equal(za_stop(sys, a), ZA_OK);
    assert_int_equal(za_join(sys, a, TU_WAIT_MS), ZA_OK);
    za_ref out;
    ASSERT_ERR(za_lookup(sys, "mortal", &out), ZA_ENOTFOUND);
    assert_true(out == ZA_REF_NONE);
    /* the name can be taken by someone else */
    za_ref b = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
    assert_int_equal(za_register(sys, "mortal", b), ZA_OK);
    assert_int_equal(za_lookup(sys, "mortal", &out), ZA_OK);
    assert_true(out == b);
}

static void test_name_via_spawn_opts(void **st) {
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = "named";
    za_ref a = tu_spawn(sys, &reg_beh, NULL, 0, &o);
    za_ref out;
    assert_int_equal(za_lookup(sys, "named", &out), ZA_OK); /* at once, not after start */
    assert_true(out == a);
    assert_true(ping(sys, a) == a);
    /* a second spawn with the same name fails and leaves nothing behind */
    za_metrics m0, m1;
    assert_int_equal(za_metrics_read(sys, &m0), ZA_OK);
    za_ref b = (za_ref)99;
    ASSERT_ERR(za_spawn(sys, &reg_beh, NULL, 0, &o, &b), ZA_EEXIST);
    assert_true(b == ZA_REF_NONE);
    ASSERT_ERR(za_spawn_sync(sys, &reg_beh, NULL, 0, &o, TU_WAIT_MS, &b), ZA_EEXIST);
    assert_int_equal(za_metrics_read(sys, &m1), ZA_OK);
    assert_int_equal(m1.actors_alive, m0.actors_alive);
    assert_int_equal(m1.spawned, m0.spawned);
    assert_int_equal(za_lookup(sys, "named", &out), ZA_OK);
    assert_true(out == a);
    /* a restart keeps the name */
    assert_int_equal(za_tell(sys, a, T_CRASH, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(za_actor_info_get(sys, a, &(za_actor_info){0}) == ZA_OK);
    za_actor_info info;
    ASSERT_EVENTUALLY(za_actor_info_get(sys, a, &info) == ZA_OK && info.restarts == 1);
    assert_int_equal(za_lookup(sys, "named", &out), ZA_OK);
    assert_true(out == a);
    /* death drops it, and the name can be spawned again */
    assert_int_equal(za_stop(sys, a), ZA_OK);
    assert_int_equal(za_join(sys, a, TU_WAIT_MS), ZA_OK);
    ASSERT_ERR(za_lookup(sys, "named", &out), ZA_ENOTFOUND);
    za_ref c = ZA_REF_NONE;
    assert_int_equal(za_spawn_sync(sys, &reg_beh, NULL, 0, &o, TU_WAIT_MS, &c), ZA_OK);
    assert_int_equal(za_lookup(sys, "named", &out), ZA_OK);
    assert_true(out == c);
    assert_true(c != a);
}

static void test_name_of_child_dropped_with_parent(void **st) {
    /* a named actor stopped through system shutdown-like paths also frees its name */
    za_system *sys = *st;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = "temp";
    o.restart = ZA_RESTART_TEMPORARY;
    za_ref a = tu_spawn(sys, &reg_beh, NULL, 0, &o);
    assert_true(ping(sys, a) == a);
    assert_int_equal(za_tell(sys, a, T_CRASH, NULL, 0), ZA_OK); /* temporary: dies */
    assert_int_equal(za_join(sys, a, TU_WAIT_MS), ZA_OK);
    za_ref out;
    ASSERT_ERR(za_lookup(sys, "temp", &out), ZA_ENOTFOUND);
}

static void test_many_names(void **st) {
    za_system *sys = *st;
    enum { N = 300 };
    za_ref refs[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        refs[i] = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
        snprintf(name, sizeof name, "actor-%d", i);
        assert_int_equal(za_register(sys, name, refs[i]), ZA_OK);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(name, sizeof name, "actor-%d", i);
        assert_int_equal(za_unregister(sys, name), ZA_OK);
    }
    for (int i = 0; i < N; i++) {
        za_ref out;
        snprintf(name, sizeof name, "actor-%d", i);
        if (i % 2) {
            assert_int_equal(za_lookup(sys, name, &out), ZA_OK);
            assert_true(out == refs[i]);
        } else {
            assert_int_equal(za_lookup(sys, name, &out), ZA_ENOTFOUND);
        }
    }
    /* re-register the removed ones under their names (reusing deleted entries) */
    for (int i = 0; i < N; i += 2) {
        snprintf(name, sizeof name, "actor-%d", i);
        assert_int_equal(za_register(sys, name, refs[i]), ZA_OK);
    }
    for (int i = 0; i < N; i++) {
        za_ref out;
        snprintf(name, sizeof name, "actor-%d", i);
        assert_int_equal(za_lookup(sys, name, &out), ZA_OK);
        assert_true(out == refs[i]);
    }
}

typedef struct racer {
    za_system *sys;
    za_ref ref;
    atomic_int *go;
    int rc;
} racer;

static void *racer_main(void *p) {
    racer *r = p;
    while (!atomic_load(r->go)) tu_sleep_us(10);
    r->rc = za_register(r->sys, "contested", r->ref);
    return NULL;
}

static void test_register_race(void **st) {
    za_system *sys = *st;
    enum { T = 4 };
    for (int round = 0; round < 20; round++) {
        atomic_int go = 0;
        racer rs[T];
        pthread_t th[T];
        for (int i = 0; i < T; i++) {
            rs[i] = (racer){sys, tu_spawn(sys, &reg_beh, NULL, 0, NULL), &go, 1};
            assert_int_equal(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
        }
        atomic_store(&go, 1);
        int winners = 0;
        za_ref winner = ZA_REF_NONE;
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            if (rs[i].rc == ZA_OK) {
                winners++;
                winner = rs[i].ref;
            } else {
                assert_int_equal(rs[i].rc, ZA_EEXIST);
            }
        }
        assert_int_equal(winners, 1);
        za_ref out;
        assert_int_equal(za_lookup(sys, "contested", &out), ZA_OK);
        assert_true(out == winner);
        assert_int_equal(za_unregister(sys, "contested"), ZA_OK);
        for (int i = 0; i < T; i++) assert_int_equal(za_stop(sys, rs[i].ref), ZA_OK);
    }
}

static void test_registry_bad_args(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &reg_beh, NULL, 0, NULL);
    za_ref out;
    ASSERT_ERR(za_register(NULL, "x", a), ZA_EINVAL);
    ASSERT_ERR(za_register(sys, NULL, a), ZA_EINVAL);
    ASSERT_ERR(za_register(sys, "", a), ZA_EINVAL);
    ASSERT_ERR(za_lookup(NULL, "x", &out), ZA_EINVAL);
    ASSERT_ERR(za_lookup(sys, NULL, &out), ZA_EINVAL);
    ASSERT_ERR(za_lookup(sys, "x", NULL), ZA_EINVAL);
    ASSERT_ERR(za_unregister(sys, NULL), ZA_EINVAL);
    ASSERT_ERR(za_unregister(NULL, "x"), ZA_EINVAL);
}

/* One rule for names, whichever way they are registered: za_register took
 * names longer than za_spawn accepts (a name that could be registered but
 * not spawned under, and the reverse). */
static void test_register_and_spawn_share_name_rule(void **st) {
    za_system *sys = *st;
    za_ref a = tu_spawn(sys, &reg_beh, NULL, 0, NULL), out;
    char name[300];
    memset(name, 'n', sizeof name);
    name[255] = '\0'; /* 255 bytes: fine both ways */
    assert_int_equal(za_register(sys, name, a), ZA_OK);
    assert_int_equal(za_lookup(sys, name, &out), ZA_OK);
    assert_int_equal(za_unregister(sys, name), ZA_OK);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = name;
    za_ref b = tu_spawn(sys, &reg_beh, NULL, 0, &o);
    assert_int_equal(za_lookup(sys, name, &out), ZA_OK);
    assert_int_equal(out, b);
    name[255] = 'n';
    name[256] = '\0'; /* 256 bytes: refused both ways, with the same reason */
    ASSERT_ERR(za_spawn(sys, &reg_beh, NULL, 0, &o, &out), ZA_EINVAL);
    char spawn_why[256];
    snprintf(spawn_why, sizeof spawn_why, "%s", za_last_error());
    ASSERT_ERR(za_register(sys, name, a), ZA_EINVAL);
    assert_string_equal(za_last_error(), spawn_why);
    assert_int_equal(za_lookup(sys, name, &out), ZA_ENOTFOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_lookup_unregister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregistered_on_death, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_via_spawn_opts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_of_child_dropped_with_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_and_spawn_share_name_rule, setup, teardown),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
