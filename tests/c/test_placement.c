/* Rendezvous hashing of grains over cluster members (csrc/cluster/hrw.c):
 * the same answer for the same members in any order, a fair share for
 * every member from 3 to 8 nodes, and a join moving only the grains the
 * new member wins (about 1/N), a departure only the departed member's. */
#include <stdio.h>

#include "cluster/gplace.h"
#include "testutil.h"

#define GRAINS 20000

static uint64_t grain(int i) {
    char key[32];
    int n = snprintf(key, sizeof key, "user-%d", i);
    return za__hrw_grain_hash("Account", 7, key, (size_t)n);
}

/* members with ids 1..n and plausible epochs (start times in µs) */
static void members(za_hrw_node *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        v[i] = (za_hrw_node){(uint32_t)(i + 1), 1764690000000000ull + 977 * i * i + 13 * i};
}

static uint32_t home(uint64_t h, const za_hrw_node *v, size_t n) {
    int i = za__hrw_pick(h, v, n);
    assert_true(i >= 0 && (size_t)i < n);
    return v[i].id;
}

static void test_stable(void **st) {
    (void)st;
    /* the hash is part of the wire contract: every node, every build and
     * every run must agree, so pin a few values */
    uint64_t alice = za__hrw_grain_hash("Account", 7, "alice", 5);
    assert_true(alice == 0x20f0b576112bb616ull);
    assert_true(za__hrw_score(alice, (za_hrw_node){3, 1764690000000000ull}) ==
                0x49f3de54549a5348ull);
    assert_true(za__hrw_grain_hash("ab", 2, "c", 1) != za__hrw_grain_hash("a", 1, "bc", 2));
    assert_true(za__hrw_grain_hash("", 0, "k", 1) != za__hrw_grain_hash("k", 1, "", 0));
    za_hrw_node v[5], w[5];
    members(v, 5);
    for (int i = 0; i < 5; i++) w[i] = v[4 - i]; /* another order of the same view */
    for (int i = 0; i < GRAINS; i++) assert_int_equal(home(grain(i), v, 5), home(grain(i), w, 5));
    assert_int_equal(za__hrw_pick(grain(1), v, 0), -1);
    assert_int_equal(home(grain(1), v, 1), 1);
    /* a new incarnation of a node (same id, new epoch) is a new member */
    za_hrw_node a = {3, 100}, b = {3, 101};
    int differ = 0;
    for (int i = 0; i < 1000; i++)
        differ += za__hrw_score(grain(i), a) != za__hrw_score(grain(i), b);
    assert_int_equal(differ, 1000);
}

static void test_balance(void **st) {
    (void)st;
    for (size_t n = 3; n <= 8; n++) {
        za_hrw_node v[8];
        members(v, n);
        int count[9] = {0};
        for (int i = 0; i < GRAINS; i++) count[home(grain(i), v, n)]++;
        double fair = (double)GRAINS / (double)n;
        for (size_t k = 1; k <= n; k++) {
            double dev = (count[k] - fair) / fair;
            if (dev > 0.08 || dev < -0.08)
                fail_msg("%zu nodes: node %zu has %d grains, fair share %.0f (%.1f%%)", n, k,
                         count[k], fair, 100 * dev);
        }
    }
}

static void test_join_and_leave_move_little(void **st) {
    (void)st;
    for (size_t n = 3; n <= 7; n++) {
        za_hrw_node v[8];
        members(v, n + 1); /* v[n] is the joiner */
        int moved = 0;
        for (int i = 0; i < GRAINS; i++) {
            uint32_t before = home(grain(i), v, n), after = home(grain(i), v, n + 1);
            if (before != after) {
                moved++;
                /* only to the new member: nothing shuffles between old ones */
                assert_int_equal(after, v[n].id);
            }
        }
        double frac = (double)moved / GRAINS, fair = 1.0 / (double)(n + 1);
        if (frac > fair * 1.1 || frac < fair * 0.9)
            fail_msg("join %zu -> %zu: %.3f of the grains moved, expected ~%.3f", n, n + 1, frac,
                     fair);
        /* a member leaves (the second one): only its grains move */
        za_hrw_node w[8];
        size_t m = 0;
        for (size_t k = 0; k < n + 1; k++)
            if (k != 1) w[m++] = v[k];
        for (int i = 0; i < GRAINS; i++) {
            uint32_t before = home(grain(i), v, n + 1), after = home(grain(i), w, m);
            if (before != v[1].id) assert_int_equal(after, before);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stable),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_join_and_leave_move_little),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
