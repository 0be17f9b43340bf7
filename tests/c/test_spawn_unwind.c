/* A spawn that fails at any of its steps leaves nothing behind: no slot
 * taken, no name registered, no entry in the parent's children or the
 * system's top-level actors, the alive count unchanged.
 *
 * The failures are injected. This program compiles its own copy of
 * csrc/spawn.c with ZA_TESTING, which turns on the za__spawn_fail_at hook;
 * it defines every symbol of spawn.o, so the linker takes this copy and not
 * the library's. The library itself never contains the hook. */
#define ZA_TESTING 1
#include "spawn.c"

#include "testutil.h"

#define NAME "unwind-me"

static int nop_receive(za_ctx *ctx, const za_msg *m) {
    (void)ctx;
    (void)m;
    return 0;
}
static const za_behaviour child_beh = {ZA_BEHAVIOUR_INIT, .name = "child", .receive = nop_receive};

static const int all_steps[] = {SPAWN_EXT,  SPAWN_ARGS,     SPAWN_NAME_DUP, SPAWN_HOST,
                                SPAWN_SLOT, SPAWN_REGISTER, SPAWN_LINK,     SPAWN_START};
#define NSTEPS (int)(sizeof all_steps / sizeof all_steps[0])

/* The slot the next allocation in this thread's context hands out (the
 * free lists and worker caches are LIFO). */
static uint32_t next_slot(za_system *s) {
    uint32_t x = za__slot_alloc(s);
    za__slot_free(s, x);
    return x;
}

static uint32_t live_entries(const za_refseq *q) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < q->n; i++) k += q->v[i] != ZA_REF_NONE;
    return k;
}

/* Checks run inside a receive cannot longjmp out of the runtime: the first
 * failure is kept and asserted afterwards. */
static char g_failed[256];
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond) && !g_failed[0])                                                               \
            snprintf(g_failed, sizeof g_failed, "step %d: %s (line %d)", step, #cond, __LINE__);   \
    } while (0)

/* Spawn with every step in play (args, a name), make `step` fail, and look
 * at what is left. parent: NULL for a top-level actor. */
static void spawn_failing_at(za_system *s, za_ctx *parent, int step) {
    const za_refseq *list = parent ? &za__ext(parent->a)->children : &s->roots;
    uint32_t entries = live_entries(list);
    int64_t alive = atomic_load(&s->alive);
    uint32_t slot = next_slot(s);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = NAME;
    int arg = 7;
    za_ref ref = 12345;
    atomic_store(&za__spawn_fail_at, step);
    int rc = parent ? za_ctx_spawn(parent, &child_beh, &arg, sizeof arg, &o, &ref)
                    : za_spawn(s, &child_beh, &arg, sizeof arg, &o, &ref);
    atomic_store(&za__spawn_fail_at, 0);
    CHECK(rc != ZA_OK);
    CHECK(ref == ZA_REF_NONE);
    CHECK(next_slot(s) == slot); /* the slot went back */
    CHECK(ZA_LIFE_ST(atomic_load(&za__slot(s, slot)->life)) != ZA_ST_ALIVE);
    CHECK(za_unregister(s, NAME) == ZA_ENOTFOUND); /* no name */
    CHECK(live_entries(list) == entries);          /* no child / root entry */
    CHECK(atomic_load(&s->alive) == alive);
}

enum { T_SPAWN_CHILDREN = 1 };

static int parent_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag != T_SPAWN_CHILDREN) return 0;
    for (int i = 0; i < NSTEPS; i++) spawn_failing_at(za_ctx_system(ctx), ctx, all_steps[i]);
    return 0;
}
static const za_behaviour parent_beh = {ZA_BEHAVIOUR_INIT, .name = "parent",
                                        .receive = parent_receive};

static void test_top_level_spawn_unwinds_every_step(void **st) {
    (void)st;
    za_system *s = tu_manual_system();
    g_failed[0] = '\0';
    for (int i = 0; i < NSTEPS; i++) spawn_failing_at(s, NULL, all_steps[i]);
    if (g_failed[0]) fail_msg("%s", g_failed);
    /* the hook is off again: the same spawn works, and its name is taken */
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = NAME;
    za_ref ref = tu_spawn(s, &child_beh, NULL, 0, &o);
    za_system_run(s, 0);
    assert_true(za_is_alive(s, ref));
    /* a real failure (the name is taken) unwinds the same way */
    uint32_t slot = next_slot(s);
    uint32_t roots = live_entries(&s->roots);
    za_ref dup = 12345;
    assert_int_equal(za_spawn(s, &child_beh, NULL, 0, &o, &dup), ZA_EEXIST);
    assert_true(dup == ZA_REF_NONE);
    assert_int_equal(next_slot(s), slot);
    assert_int_equal(live_entries(&s->roots), roots);
    assert_int_equal(za_system_shutdown(s, TU_WAIT_MS), ZA_OK);
    za_system_destroy(s);
}

static void test_child_spawn_unwinds_every_step(void **st) {
    (void)st;
    za_system *s = tu_manual_system();
    g_failed[0] = '\0';
    za_ref parent = tu_spawn(s, &parent_beh, NULL, 0, NULL);
    za_system_run(s, 0);
    assert_int_equal(za_tell(s, parent, T_SPAWN_CHILDREN, NULL, 0), ZA_OK);
    za_system_run(s, 0);
    if (g_failed[0]) fail_msg("%s", g_failed);
    assert_true(za_is_alive(s, parent));
    assert_int_equal(za_system_shutdown(s, TU_WAIT_MS), ZA_OK);
    za_system_destroy(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level_spawn_unwinds_every_step),
        cmocka_unit_test(test_child_spawn_unwinds_every_step),
    };
    return cmocka_run_group_tests_name("spawn_unwind", tests, NULL, NULL);
}
