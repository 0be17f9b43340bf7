/*
 * Behaviour tables: the ABI tag every spawn checks, and za_behaviour_load
 * (what the bindings' spawn_native uses) refusing symbols that are not a
 * behaviour of this zactor before reading them as one.
 */
#include <dlfcn.h>
#include <unistd.h>

#include "testutil.h"

static char tmpdir[64];
static char so_path[128];

/* A shared object with a good table and the kinds of symbol a user may
 * name by mistake. No za_* calls: the test binary does not export the
 * runtime, so the object must resolve without it. */
static const char *so_src =
    "#include <zactor.h>\n"
    "int hits;\n"
    "static int recv_(za_ctx *c, const za_msg *m) { (void)c; (void)m; hits++; return 0; }\n"
    "const za_behaviour good = {ZA_BEHAVIOUR_INIT, .name = \"good\", .receive = recv_};\n"
    "const za_behaviour untagged = {.name = \"untagged\", .receive = recv_};\n"
    "/* the layout before the abi field (zactor <= 0.1) */\n"
    "struct old_beh { const char *name; size_t state_size; void *start, *receive, *stop;\n"
    "                 const void *host; };\n"
    "const struct old_beh older = {\"older\", 0, 0, (void *)recv_, 0, 0};\n"
    "/* the same followed by other data: large enough, but no tag */\n"
    "const struct { struct old_beh b; void *more[4]; } older_big = {{\"older\", 0, 0, 0, 0, 0}, "
    "{0}};\n"
    "const int small = 42;\n"
    "int a_function(void) { return 1; }\n";

static int setup(void **st) {
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/za_native_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char src[128], cmd[512];
    snprintf(src, sizeof src, "%s/beh.c", tmpdir);
    snprintf(so_path, sizeof so_path, "%s/libbeh.so", tmpdir);
    FILE *f = fopen(src, "w");
    if (!f) return -1;
    fputs(so_src, f);
    fclose(f);
    const char *cc = getenv("CC");
    snprintf(cmd, sizeof cmd, "%s -std=c11 -shared -fPIC -Icsrc/include %s -o %s",
             cc && *cc ? cc : "cc", src, so_path);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_refused(const char *path, const char *sym, int code, const char *text) {
    const za_behaviour *b = (const za_behaviour *)1;
    int rc = za_behaviour_load(path, sym, &b);
    if (rc != code || !strstr(za_last_error(), text))
        fail_msg("%s:%s: rc %d (want %d), error '%s' (want '%s')", path, sym, rc, code,
                 za_last_error(), text);
    assert_null(b);
}

static void test_load_good_behaviour_and_run_it(void **st) {
    (void)st;
    const za_behaviour *b = NULL;
    assert_int_equal(za_behaviour_load(so_path, "good", &b), ZA_OK);
    assert_non_null(b);
    assert_string_equal(b->name, "good");
    za_system *sys = tu_system(2);
    za_ref r;
    assert_int_equal(za_spawn(sys, b, NULL, 0, NULL, &r), ZA_OK);
    assert_int_equal(za_tell(sys, r, 0, "x", 1), ZA_OK);
    void *h = dlopen(so_path, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    int *hits = dlsym(h, "hits");
    assert_non_null(hits);
    ASSERT_EVENTUALLY(__atomic_load_n(hits, __ATOMIC_RELAXED) == 1);
    dlclose(h); /* only our reference: the runtime's stays */
    za_system_destroy(sys);
}

static void test_load_refuses_what_is_not_a_behaviour(void **st) {
    (void)st;
    expect_refused(so_path, "untagged", ZA_EINVAL, "ZA_BEHAVIOUR_INIT");
    expect_refused(so_path, "older", ZA_EINVAL, "rebuild it against this zactor.h");
    expect_refused(so_path, "older_big", ZA_EINVAL, "not a za_behaviour of this zactor (abi tag");
    expect_refused(so_path, "small", ZA_EINVAL, "4 bytes");
    expect_refused(so_path, "a_function", ZA_EINVAL, "not a data object");
    /* the reported crash: libc's environ (8 bytes, a pointer) and printf */
    expect_refused("libc.so.6", "environ", ZA_EINVAL, "not a za_behaviour");
    expect_refused("libc.so.6", "printf", ZA_EINVAL, "not a data object");
    expect_refused(so_path, "no_such_symbol", ZA_ENOTFOUND, "no symbol 'no_such_symbol'");
    expect_refused("/nonexistent/libx.so", "good", ZA_ENOTFOUND, "cannot load");
    assert_int_equal(za_behaviour_load(NULL, "good", &(const za_behaviour *){0}), ZA_EINVAL);
    assert_int_equal(za_behaviour_load(so_path, "good", NULL), ZA_EINVAL);
}

/* What spawn_native did before za_behaviour_load: dlsym, then spawn. The
 * spawn itself must refuse a table without this zactor's tag, reading
 * nothing past the tag (environ is only 8 bytes long). This crashed. */
static void test_spawn_refuses_foreign_table(void **st) {
    (void)st;
    za_system *sys = tu_system(1);
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(libc);
    const za_behaviour *env = dlsym(libc, "environ");
    assert_non_null(env);
    za_ref r = 7;
    assert_int_equal(za_spawn(sys, env, NULL, 0, NULL, &r), ZA_EINVAL);
    assert_int_equal(r, ZA_REF_NONE);
    assert_non_null(strstr(za_last_error(), "not a za_behaviour of this zactor"));
    dlclose(libc);
    za_system_destroy(sys);
}

static int recv_nop(za_ctx *c, const za_msg *m) {
    (void)c;
    (void)m;
    return 0;
}

/* A table written before the abi field existed, recompiled against the new
 * header without the macro: compiles, and the first spawn says what to add. */
static void test_spawn_untagged_table_says_what_to_add(void **st) {
    (void)st;
    static const za_behaviour plain = {.name = "plain", .receive = recv_nop};
    za_system *sys = tu_system(1);
    za_ref r;
    assert_int_equal(za_spawn(sys, &plain, NULL, 0, NULL, &r), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "ZA_BEHAVIOUR_INIT"));
    assert_int_equal(za_spawn_sync(sys, &plain, NULL, 0, NULL, 1000, &r), ZA_EINVAL);
    static const za_behaviour tagged = {ZA_BEHAVIOUR_INIT, .name = "tagged", .receive = recv_nop};
    assert_int_equal(za_spawn(sys, &tagged, NULL, 0, NULL, &r), ZA_OK);
    za_system_destroy(sys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_good_behaviour_and_run_it),
        cmocka_unit_test(test_load_refuses_what_is_not_a_behaviour),
        cmocka_unit_test(test_spawn_refuses_foreign_table),
        cmocka_unit_test(test_spawn_untagged_table_says_what_to_add),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
