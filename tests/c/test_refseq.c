/* The ordered reference list behind children and top-level actors
 * (za_refseq): spawn order kept, O(1) removal, an index past 64 entries. */
#include "refseq.h"
#include "testutil.h"

/* The live entries in order, holes skipped. */
static uint32_t live(const za_refseq *q, za_ref *out) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < q->n; i++)
        if (q->v[i] != ZA_REF_NONE) out[k++] = q->v[i];
    return k;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define N 5000

static void check_against_model(za_refseq *q, const za_ref *model, uint32_t nmodel) {
    static za_ref got[4 * N];
    uint32_t k = live(q, got);
    assert_int_equal(k, nmodel);
    for (uint32_t i = 0; i < k; i++) assert_true(got[i] == model[i]);
}

static void remove_from_model(za_ref *model, uint32_t *n, za_ref r) {
    for (uint32_t i = 0; i < *n; i++)
        if (model[i] == r) {
            memmove(model + i, model + i + 1, (*n - i - 1) * sizeof *model);
            (*n)--;
            return;
        }
}

static void test_orders(void **st) {
    (void)st;
    /* in order, in reverse, at random, and interleaved with adds */
    for (int pattern = 0; pattern < 4; pattern++) {
        za_refseq q;
        memset(&q, 0, sizeof q);
        static za_ref model[4 * N];
        uint32_t nmodel = 0;
        za_ref next_ref = 1;
        for (int i = 0; i < N; i++) {
            assert_int_equal(za__refseq_add(&q, next_ref), ZA_OK);
            model[nmodel++] = next_ref++;
        }
        if (pattern >= 1) assert_non_null(q.pos); /* long: indexed */
        for (int round = 0; round < N; round++) {
            if (!nmodel) break;
            za_ref r;
            if (pattern == 0)
                r = model[0];
            else if (pattern == 1)
                r = model[nmodel - 1];
            else
                r = model[next_rand() % nmodel];
            assert_true(za__refseq_remove(&q, r));
            remove_from_model(model, &nmodel, r);
            assert_false(za__refseq_remove(&q, r)); /* gone: not found twice */
            if (pattern == 3 && round % 3 == 0) {
                assert_int_equal(za__refseq_add(&q, next_ref), ZA_OK);
                model[nmodel++] = next_ref++;
            }
            if (round % 97 == 0) check_against_model(&q, model, nmodel);
        }
        check_against_model(&q, model, nmodel);
        assert_false(za__refseq_remove(&q, 999999999));
        assert_false(za__refseq_remove(&q, ZA_REF_NONE));
        za__refseq_clear(&q);
        assert_int_equal(za__refseq_add(&q, 42), ZA_OK);
        assert_true(za__refseq_remove(&q, 42));
        za__refseq_free(&q);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
    };
    return cmocka_run_group_tests_name("refseq", tests, NULL, NULL);
}
