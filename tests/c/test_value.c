/* MessagePack values: writer, decoder, tree round trips and hostile input. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Decode the writer's bytes, failing the test unless they are one value. */
static za_doc *decode_pack(const za_pack *p) {
    za_doc *d = NULL;
    int rc = za_doc_decode(za_pack_data(p), za_pack_size(p), &d);
    if (rc != ZA_OK) fail_msg("decode failed: %d %s", rc, za_last_error());
    assert_non_null(d);
    assert_non_null(za_doc_root(d));
    return d;
}

static za_doc *decode_bytes(const unsigned char *b, size_t len) {
    za_doc *d = NULL;
    int rc = za_doc_decode(b, len, &d);
    if (rc != ZA_OK) fail_msg("decode failed: %d %s", rc, za_last_error());
    return d;
}

/* Checks the code, that *out was cleared, and that the error text says what
 * went wrong (a stale message from an earlier call would not match). */
static void expect_decode_error(const void *b, size_t len, int want, const char *needle) {
    za_doc *d = (za_doc *)(uintptr_t)1;
    int rc = za_doc_decode(b, len, &d);
    assert_int_equal(rc, want);
    assert_null(d);
    assert_true(za_last_error()[0] != '\0');
    if (!strstr(za_last_error(), needle))
        fail_msg("error text \"%s\" lacks \"%s\"", za_last_error(), needle);
}

static void expect_error_text(const char *needle) {
    assert_true(za_last_error()[0] != '\0');
    if (!strstr(za_last_error(), needle))
        fail_msg("error text \"%s\" lacks \"%s\"", za_last_error(), needle);
}

/* Structural equality; doubles by bit pattern so -0.0 differs from 0.0. */
static int value_eq(const za_value *a, const za_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case ZA_V_NIL:
        return 1;
    case ZA_V_BOOL:
        return !a->v.b == !b->v.b;
    case ZA_V_INT:
        return a->v.i == b->v.i;
    case ZA_V_UINT:
        return a->v.u == b->v.u;
    case ZA_V_DOUBLE:
        return memcmp(&a->v.d, &b->v.d, sizeof(double)) == 0;
    case ZA_V_REF:
        return a->v.ref == b->v.ref;
    case ZA_V_STR:
    case ZA_V_BIN:
        return a->v.str.len == b->v.str.len &&
               (a->v.str.len == 0 || memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len) == 0);
    case ZA_V_ARRAY:
        if (a->v.array.n != b->v.array.n) return 0;
        for (uint32_t i = 0; i < a->v.array.n; i++)
            if (!value_eq(&a->v.array.items[i], &b->v.array.items[i])) return 0;
        return 1;
    case ZA_V_MAP:
        if (a->v.map.n != b->v.map.n) return 0;
        for (uint32_t i = 0; i < a->v.map.n; i++)
            if (!value_eq(&a->v.map.keys[i], &b->v.map.keys[i]) ||
                !value_eq(&a->v.map.vals[i], &b->v.map.vals[i]))
                return 0;
        return 1;
    }
    return 0;
}

/* za_pack_value(decode(bytes)) must reproduce bytes exactly, since both the
 * writer and the tree writer use msgpack-c's smallest encodings. */
static void assert_repack_identical(const za_doc *d, const za_pack *orig) {
    za_pack *q = za_pack_new();
    assert_non_null(q);
    assert_int_equal(za_pack_value(q, za_doc_root(d)), ZA_OK);
    assert_int_equal(za_pack_size(q), za_pack_size(orig));
    assert_memory_equal(za_pack_data(q), za_pack_data(orig), za_pack_size(orig));
    za_pack_free(q);
}

static const za_value *item(const za_value *v, uint32_t i) {
    assert_int_equal(v->type, ZA_V_ARRAY);
    assert_true(i < v->v.array.n);
    return &v->v.array.items[i];
}

static void assert_str(const za_value *v, za_vtype t, const void *s, uint32_t len) {
    assert_int_equal(v->type, t);
    assert_int_equal(v->v.str.len, len);
    assert_non_null(v->v.str.ptr);
    if (len) assert_memory_equal(v->v.str.ptr, s, len);
}

/* ------------------------------------------------------------- round trips */

static void test_scalars_round_trip(void **state) {
    static const int64_t ints[] = {
        0,  1,   127, 128,  255,  256,    65535,  65536,     INT32_MAX,     INT64_MAX,
        -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, -2147483649LL, INT64_MIN};
    const size_t nints = sizeof ints / sizeof ints[0];
    za_pack *p = za_pack_new();
    assert_non_null(p);
    assert_int_equal(za_pack_array(p, (uint32_t)(nints + 9)), ZA_OK);
    assert_int_equal(za_pack_nil(p), ZA_OK);
    assert_int_equal(za_pack_bool(p, 1), ZA_OK);
    assert_int_equal(za_pack_bool(p, 0), ZA_OK);
    assert_int_equal(za_pack_bool(p, 42), ZA_OK); /* any non-zero is true */
    for (size_t i = 0; i < nints; i++) assert_int_equal(za_pack_int(p, ints[i]), ZA_OK);
    assert_int_equal(za_pack_uint(p, UINT64_MAX), ZA_OK);
    assert_int_equal(za_pack_uint(p, (uint64_t)INT64_MAX + 1), ZA_OK);
    assert_int_equal(za_pack_uint(p, 7), ZA_OK); /* fits int64, so it reads back as INT */
    assert_int_equal(za_pack_double(p, 0.5), ZA_OK);
    assert_int_equal(za_pack_double(p, -0.0), ZA_OK);

    za_doc *d = decode_pack(p);
    const za_value *r = za_doc_root(d);
    assert_int_equal(r->type, ZA_V_ARRAY);
    assert_int_equal(r->v.array.n, nints + 9);
    assert_int_equal(item(r, 0)->type, ZA_V_NIL);
    assert_int_equal(item(r, 1)->type, ZA_V_BOOL);
    assert_int_equal(item(r, 1)->v.b, 1);
    assert_int_equal(item(r, 2)->type, ZA_V_BOOL);
    assert_int_equal(item(r, 2)->v.b, 0);
    assert_int_equal(item(r, 3)->v.b, 1);
    for (size_t i = 0; i < nints; i++) {
        const za_value *v = item(r, (uint32_t)(4 + i));
        assert_int_equal(v->type, ZA_V_INT);
        if (v->v.i != ints[i]) fail_msg("int %zu: got %lld", i, (long long)v->v.i);
    }
    uint32_t k = (uint32_t)(4 + nints);
    assert_int_equal(item(r, k)->type, ZA_V_UINT);
    assert_true(item(r, k)->v.u == UINT64_MAX);
    assert_int_equal(item(r, k + 1)->type, ZA_V_UINT);
    assert_true(item(r, k + 1)->v.u == (uint64_t)INT64_MAX + 1);
    assert_int_equal(item(r, k + 2)->type, ZA_V_INT);
    assert_int_equal(item(r, k + 2)->v.i, 7);
    assert_int_equal(item(r, k + 3)->type, ZA_V_DOUBLE);
    assert_true(item(r, k + 3)->v.d == 0.5);
    assert_int_equal(item(r, k + 4)->type, ZA_V_DOUBLE);
    assert_true(item(r, k + 4)->v.d == 0.0);
    assert_true(signbit(item(r, k + 4)->v.d));
    za_doc_free(d);
    za_pack_free(p);
}

static void test_special_doubles(void **state) {
    const double ds[] = {1e300, -1e-300, 5e-324, INFINITY, -INFINITY, NAN};
    za_pack *p = za_pack_new();
    for (size_t i = 0; i < 6; i++) {
        za_pack_reset(p);
        assert_int_equal(za_pack_double(p, ds[i]), ZA_OK);
        assert_int_equal(za_pack_size(p), 9); /* always float64, never narrowed */
        za_doc *d = decode_pack(p);
        const za_value *v = za_doc_root(d);
        assert_int_equal(v->type, ZA_V_DOUBLE);
        assert_memory_equal(&v->v.d, &ds[i], sizeof(double));
        za_doc_free(d);
    }
    za_pack_free(p);
}

static void test_int_and_float_stay_distinct(void **state) {
    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_array(p, 2), ZA_OK);
    assert_int_equal(za_pack_int(p, 1), ZA_OK);
    assert_int_equal(za_pack_double(p, 1.0), ZA_OK);
    za_doc *d = decode_pack(p);
    const za_value *r = za_doc_root(d);
    assert_int_equal(item(r, 0)->type, ZA_V_INT);
    assert_int_equal(item(r, 0)->v.i, 1);
    assert_int_equal(item(r, 1)->type, ZA_V_DOUBLE);
    assert_true(item(r, 1)->v.d == 1.0);
    za_doc_free(d);
    za_pack_free(p);

    /* float32 from other encoders widens to a double, still not an int */
    const unsigned char f32[] = {0xca, 0x3f, 0x80, 0x00, 0x00};
    d = decode_bytes(f32, sizeof f32);
    assert_int_equal(za_doc_root(d)->type, ZA_V_DOUBLE);
    assert_true(za_doc_root(d)->v.d == 1.0);
    za_doc_free(d);
}

static void test_str_and_bin(void **state) {
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    char big[70000];
    memset(big, 'z', sizeof big);
    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_array(p, 7), ZA_OK);
    assert_int_equal(za_pack_str(p, "", 0), ZA_OK);
    assert_int_equal(za_pack_str(p, NULL, 0), ZA_OK);
    assert_int_equal(za_pack_str(p, "a\0b", 3), ZA_OK);
    assert_int_equal(za_pack_str(p, big, sizeof big), ZA_OK); /* str32 */
    assert_int_equal(za_pack_bin(p, "", 0), ZA_OK);
    assert_int_equal(za_pack_bin(p, all, sizeof all), ZA_OK);
    assert_int_equal(za_pack_bin(p, "a\0b", 3), ZA_OK);
    za_doc *d = decode_pack(p);
    const za_value *r = za_doc_root(d);
    assert_str(item(r, 0), ZA_V_STR, "", 0);
    assert_str(item(r, 1), ZA_V_STR, "", 0);
    assert_str(item(r, 2), ZA_V_STR, "a\0b", 3);
    assert_str(item(r, 3), ZA_V_STR, big, sizeof big);
    assert_str(item(r, 4), ZA_V_BIN, "", 0);
    assert_str(item(r, 5), ZA_V_BIN, all, sizeof all);
    assert_str(item(r, 6), ZA_V_BIN, "a\0b", 3);
    assert_repack_identical(d, p);
    za_doc_free(d);
    za_pack_free(p);
}

static void test_containers(void **state) {
    za_pack *p = za_pack_new();
    /* [[], {}, {"k": [1, [2, {}]], 3: {"x": nil}}, [[[]]]] */
    assert_int_equal(za_pack_array(p, 4), ZA_OK);
    assert_int_equal(za_pack_array(p, 0), ZA_OK);
    assert_int_equal(za_pack_map(p, 0), ZA_OK);
    assert_int_equal(za_pack_map(p, 2), ZA_OK);
    assert_int_equal(za_pack_str(p, "k", 1), ZA_OK);
    assert_int_equal(za_pack_array(p, 2), ZA_OK);
    assert_int_equal(za_pack_int(p, 1), ZA_OK);
    assert_int_equal(za_pack_array(p, 2), ZA_OK);
    assert_int_equal(za_pack_int(p, 2), ZA_OK);
    assert_int_equal(za_pack_map(p, 0), ZA_OK);
    assert_int_equal(za_pack_int(p, 3), ZA_OK);
    assert_int_equal(za_pack_map(p, 1), ZA_OK);
    assert_int_equal(za_pack_str(p, "x", 1), ZA_OK);
    assert_int_equal(za_pack_nil(p), ZA_OK);
    assert_int_equal(za_pack_array(p, 1), ZA_OK);
    assert_int_equal(za_pack_array(p, 1), ZA_OK);
    assert_int_equal(za_pack_array(p, 0), ZA_OK);

    za_doc *d = decode_pack(p);
    const za_value *r = za_doc_root(d);
    assert_int_equal(r->v.array.n, 4);
    assert_int_equal(item(r, 0)->type, ZA_V_ARRAY);
    assert_int_equal(item(r, 0)->v.array.n, 0);
    assert_int_equal(item(r, 1)->type, ZA_V_MAP);
    assert_int_equal(item(r, 1)->v.map.n, 0);
    const za_value *m = item(r, 2);
    assert_int_equal(m->type, ZA_V_MAP);
    assert_int_equal(m->v.map.n, 2);
    assert_str(&m->v.map.keys[0], ZA_V_STR, "k", 1);
    const za_value *kv = &m->v.map.vals[0];
    assert_int_equal(item(kv, 0)->v.i, 1);
    assert_int_equal(item(item(kv, 1), 0)->v.i, 2);
    assert_int_equal(item(item(kv, 1), 1)->type, ZA_V_MAP);
    assert_int_equal(m->v.map.keys[1].type, ZA_V_INT);
    assert_int_equal(m->v.map.keys[1].v.i, 3);
    assert_str(&m->v.map.vals[1].v.map.keys[0], ZA_V_STR, "x", 1);
    assert_int_equal(m->v.map.vals[1].v.map.vals[0].type, ZA_V_NIL);
    assert_int_equal(item(item(item(r, 3), 0), 0)->v.array.n, 0);
    assert_repack_identical(d, p);
    za_doc_free(d);
    za_pack_free(p);
}

static void test_refs(void **state) {
    const za_ref refs[] = {0, 1, UINT64_MAX, 0x0102030405060708ull, 0x8000000000000000ull};
    za_pack *p = za_pack_new();
    for (size_t i = 0; i < 5; i++) {
        za_pack_reset(p);
        assert_int_equal(za_pack_ref(p, refs[i]), ZA_OK);
        za_doc *d = decode_pack(p);
        assert_int_equal(za_doc_root(d)->type, ZA_V_REF);
        assert_true(za_doc_root(d)->v.ref == refs[i]);
        assert_repack_identical(d, p);
        za_doc_free(d);
    }
    /* wire form: fixext 8, type 1, big-endian */
    za_pack_reset(p);
    assert_int_equal(za_pack_ref(p, 0x0102030405060708ull), ZA_OK);
    const unsigned char want[] = {0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(za_pack_size(p), sizeof want);
    assert_memory_equal(za_pack_data(p), want, sizeof want);
    za_pack_free(p);
}

/* ------------------------------------------------------------ known bytes */

static void test_known_vectors(void **state) {
    const unsigned char v1[] = {0x93, 0x01, 0xa1, 'a', 0xc0};
    za_doc *d = decode_bytes(v1, sizeof v1);
    const za_value *r = za_doc_root(d);
    assert_int_equal(r->type, ZA_V_ARRAY);
    assert_int_equal(r->v.array.n, 3);
    assert_int_equal(item(r, 0)->type, ZA_V_INT);
    assert_int_equal(item(r, 0)->v.i, 1);
    assert_str(item(r, 1), ZA_V_STR, "a", 1);
    assert_int_equal(item(r, 2)->type, ZA_V_NIL);
    za_doc_free(d);

    /* the writer produces exactly those bytes */
    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_array(p, 3), ZA_OK);
    assert_int_equal(za_pack_int(p, 1), ZA_OK);
    assert_int_equal(za_pack_str(p, "a", 1), ZA_OK);
    assert_int_equal(za_pack_nil(p), ZA_OK);
    assert_int_equal(za_pack_size(p), sizeof v1);
    assert_memory_equal(za_pack_data(p), v1, sizeof v1);
    za_pack_free(p);

    const unsigned char v2[] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0xc2};
    d = decode_bytes(v2, sizeof v2);
    r = za_doc_root(d);
    assert_int_equal(r->type, ZA_V_MAP);
    assert_int_equal(r->v.map.n, 2);
    assert_str(&r->v.map.keys[0], ZA_V_STR, "a", 1);
    assert_int_equal(r->v.map.vals[0].v.i, 1);
    assert_str(&r->v.map.keys[1], ZA_V_STR, "b", 1);
    assert_int_equal(r->v.map.vals[1].type, ZA_V_BOOL);
    assert_int_equal(r->v.map.vals[1].v.b, 0);
    za_doc_free(d);

    struct {
        unsigned char b[12];
        size_t len;
        za_value want;
    } cases[] = {
        {{0xc0}, 1, {.type = ZA_V_NIL}},
        {{0xc3}, 1, {.type = ZA_V_BOOL, .v.b = 1}},
        {{0x7f}, 1, {.type = ZA_V_INT, .v.i = 127}},
        {{0xe0}, 1, {.type = ZA_V_INT, .v.i = -32}},
        {{0xcc, 0xff}, 2, {.type = ZA_V_INT, .v.i = 255}},
        {{0xd0, 0xff}, 2, {.type = ZA_V_INT, .v.i = -1}},
        {{0xd0, 0x05}, 2, {.type = ZA_V_INT, .v.i = 5}}, /* signed form, positive value */
        {{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, {.type = ZA_V_INT, .v.i = INT64_MIN}},
        {{0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
         9,
         {.type = ZA_V_INT, .v.i = INT64_MAX}},
        {{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
         9,
         {.type = ZA_V_UINT, .v.u = UINT64_MAX}},
        {{0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0}, 9, {.type = ZA_V_DOUBLE, .v.d = 0.5}},
        {{0xc4, 0x02, 0x00, 0xff}, 4, {.type = ZA_V_BIN, .v.str = {"\x00\xff", 2}}},
        {{0xd9, 0x01, 'q'}, 3, {.type = ZA_V_STR, .v.str = {"q", 1}}}, /* str8 */
        {{0x90}, 1, {.type = ZA_V_ARRAY}},
        {{0x80}, 1, {.type = ZA_V_MAP}},
        {{0xd7, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x2a}, 10, {.type = ZA_V_REF, .v.ref = 42}},
        /* the same ref in the ext8 form some encoders emit */
        {{0xc7, 0x08, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x2a}, 11, {.type = ZA_V_REF, .v.ref = 42}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d = decode_bytes(cases[i].b, cases[i].len);
        if (!value_eq(za_doc_root(d), &cases[i].want)) fail_msg("vector %zu decoded wrong", i);
        za_doc_free(d);
    }
}

/* The document must own its bytes: message payloads die after receive. */
static void test_doc_outlives_input(void **state) {
    const unsigned char src[] = {0x92, 0xa3, 'a', 'b', 'c', 0xc4, 0x01, 0x7e};
    unsigned char *copy = malloc(sizeof src);
    assert_non_null(copy);
    memcpy(copy, src, sizeof src);
    za_doc *d = decode_bytes(copy, sizeof src);
    memset(copy, 0, sizeof src);
    free(copy);
    const za_value *r = za_doc_root(d);
    assert_str(item(r, 0), ZA_V_STR, "abc", 3);
    assert_str(item(r, 1), ZA_V_BIN, "\x7e", 1);
    za_doc_free(d);
}

/* ------------------------------------------------------------- value trees */

static void test_pack_value_from_built_tree(void **state) {
    za_value inner[2] = {{.type = ZA_V_REF, .v.ref = UINT64_MAX},
                         {.type = ZA_V_BIN, .v.str = {"\x01\x02", 2}}};
    za_value keys[3] = {{.type = ZA_V_STR, .v.str = {"n", 1}},
                        {.type = ZA_V_INT, .v.i = -5},
                        {.type = ZA_V_STR, .v.str = {NULL, 0}}};
    za_value vals[3] = {{.type = ZA_V_DOUBLE, .v.d = -0.0},
                        {.type = ZA_V_ARRAY, .v.array = {inner, 2}},
                        {.type = ZA_V_UINT, .v.u = UINT64_MAX}};
    za_value items[4] = {{.type = ZA_V_MAP, .v.map = {keys, vals, 3}},
                         {.type = ZA_V_BOOL, .v.b = 1},
                         {.type = ZA_V_ARRAY, .v.array = {NULL, 0}},
                         {.type = ZA_V_MAP, .v.map = {NULL, NULL, 0}}};
    za_value root = {.type = ZA_V_ARRAY, .v.array = {items, 4}};

    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_value(p, &root), ZA_OK);
    za_doc *d = decode_pack(p);
    assert_true(value_eq(za_doc_root(d), &root));
    assert_repack_identical(d, p);
    za_doc_free(d);

    /* a value appended after other values lands after them */
    za_pack_reset(p);
    assert_int_equal(za_pack_array(p, 2), ZA_OK);
    assert_int_equal(za_pack_int(p, 9), ZA_OK);
    assert_int_equal(za_pack_value(p, &inner[0]), ZA_OK);
    d = decode_pack(p);
    assert_int_equal(item(za_doc_root(d), 0)->v.i, 9);
    assert_true(value_eq(item(za_doc_root(d), 1), &inner[0]));
    za_doc_free(d);
    za_pack_free(p);
}

static void test_pack_value_rejects_bad_trees(void **state) {
    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_int(p, 1), ZA_OK);
    const size_t before = za_pack_size(p);

    za_value unknown = {.type = (za_vtype)99};
    assert_int_equal(za_pack_value(p, &unknown), ZA_EVALUE);
    expect_error_text("unknown value type");

    /* a bad value deep inside must not leave the valid prefix behind */
    za_value items[3] = {{.type = ZA_V_INT, .v.i = 1},
                         {.type = ZA_V_STR, .v.str = {"ok", 2}},
                         {.type = (za_vtype)-1}};
    za_value arr = {.type = ZA_V_ARRAY, .v.array = {items, 3}};
    assert_int_equal(za_pack_value(p, &arr), ZA_EVALUE);
    assert_int_equal(za_pack_size(p), before);

    za_value holes = {.type = ZA_V_ARRAY, .v.array = {NULL, 2}};
    assert_int_equal(za_pack_value(p, &holes), ZA_EVALUE);
    za_value mholes = {.type = ZA_V_MAP, .v.map = {items, NULL, 1}};
    assert_int_equal(za_pack_value(p, &mholes), ZA_EVALUE);
    za_value nullstr = {.type = ZA_V_STR, .v.str = {NULL, 3}};
    assert_int_equal(za_pack_value(p, &nullstr), ZA_EVALUE);

    /* a cycle is caught by the depth bound instead of overflowing the stack */
    za_value self = {.type = ZA_V_ARRAY};
    self.v.array.items = &self;
    self.v.array.n = 1;
    assert_int_equal(za_pack_value(p, &self), ZA_EVALUE);
    expect_error_text("deeper");
    assert_int_equal(za_pack_size(p), before);

    /* only the original int remains and still decodes */
    za_doc *d = decode_pack(p);
    assert_int_equal(za_doc_root(d)->v.i, 1);
    za_doc_free(d);
    za_pack_free(p);
}

/* A chain of n single-item arrays ending in nil, built in `chain`. */
static za_value *nest(za_value *chain, int n) {
    for (int i = 0; i < n; i++) {
        chain[i].type = ZA_V_ARRAY;
        chain[i].v.array.items = &chain[i + 1];
        chain[i].v.array.n = 1;
    }
    chain[n].type = ZA_V_NIL;
    return chain;
}

static void test_nesting(void **state) {
    /* msgpack-c decodes up to 32 nested containers */
    za_value chain[301];
    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_value(p, nest(chain, 32)), ZA_OK);
    za_doc *d = decode_pack(p);
    const za_value *v = za_doc_root(d);
    for (int i = 0; i < 32; i++) v = item(v, 0);
    assert_int_equal(v->type, ZA_V_NIL);
    za_doc_free(d);

    za_pack_reset(p);
    assert_int_equal(za_pack_value(p, nest(chain, 128)), ZA_OK);
    za_pack_reset(p);
    assert_int_equal(za_pack_value(p, nest(chain, 300)), ZA_EVALUE);
    assert_int_equal(za_pack_size(p), 0);
    za_pack_free(p);
}

static void test_reset_reuses_writer(void **state) {
    za_pack *p = za_pack_new();
    assert_non_null(p);
    assert_int_equal(za_pack_size(p), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) assert_int_equal(za_pack_str(p, "abcdefgh", 8), ZA_OK);
        assert_int_equal(za_pack_size(p), 9000);
        za_pack_reset(p);
        assert_int_equal(za_pack_size(p), 0);
    }
    assert_int_equal(za_pack_int(p, -7), ZA_OK);
    za_doc *d = decode_pack(p);
    assert_int_equal(za_doc_root(d)->v.i, -7);
    za_doc_free(d);
    za_pack_free(p);
}

/* -------------------------------------------------------------- bad input */

static void test_empty_input(void **state) {
    const unsigned char b[] = {0xc0};
    expect_decode_error(b, 0, ZA_EVALUE, "empty");
    expect_decode_error(NULL, 0, ZA_EVALUE, "empty");
}

static void test_truncated(void **state) {
    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_map(p, 3), ZA_OK);
    assert_int_equal(za_pack_str(p, "key", 3), ZA_OK);
    assert_int_equal(za_pack_array(p, 4), ZA_OK);
    assert_int_equal(za_pack_int(p, INT64_MIN), ZA_OK);
    assert_int_equal(za_pack_double(p, 0.25), ZA_OK);
    assert_int_equal(za_pack_bin(p, "\0\1\2", 3), ZA_OK);
    assert_int_equal(za_pack_ref(p, 77), ZA_OK);
    assert_int_equal(za_pack_uint(p, UINT64_MAX), ZA_OK);
    assert_int_equal(za_pack_nil(p), ZA_OK);
    assert_int_equal(za_pack_bool(p, 1), ZA_OK);
    assert_int_equal(za_pack_map(p, 0), ZA_OK);
    /* every proper prefix is an incomplete value */
    for (size_t n = 1; n < za_pack_size(p); n++)
        expect_decode_error(za_pack_data(p), n, ZA_EVALUE, "truncated");
    za_pack_free(p);

    const unsigned char str32[] = {0xdb, 0x00, 0x00, 0x01, 0x00, 'a'};
    expect_decode_error(str32, sizeof str32, ZA_EVALUE, "truncated");
}

static void test_trailing_bytes(void **state) {
    const unsigned char one_extra[] = {0x93, 0x01, 0xa1, 'a', 0xc0, 0x00};
    expect_decode_error(one_extra, sizeof one_extra, ZA_EVALUE, "trailing");
    const unsigned char two_values[] = {0x01, 0x02};
    expect_decode_error(two_values, sizeof two_values, ZA_EVALUE, "trailing");
    const unsigned char junk_after[] = {0x90, 0xc1};
    expect_decode_error(junk_after, sizeof junk_after, ZA_EVALUE, "trailing");
}

static void test_malformed(void **state) {
    const unsigned char never_used[] = {0xc1};
    expect_decode_error(never_used, 1, ZA_EVALUE, "malformed");
    const unsigned char inside[] = {0x92, 0x01, 0xc1};
    expect_decode_error(inside, sizeof inside, ZA_EVALUE, "malformed");
}

static void test_bad_ext(void **state) {
    const unsigned char type2[] = {0xd7, 0x02, 0, 0, 0, 0, 0, 0, 0, 1};
    expect_decode_error(type2, sizeof type2, ZA_EVALUE, "ext type 2");
    const unsigned char timestamp[] = {0xd6, 0xff, 0, 0, 0, 1}; /* ext -1 */
    expect_decode_error(timestamp, sizeof timestamp, ZA_EVALUE, "ext type -1");
    const unsigned char short_ref[] = {0xd6, 0x01, 0, 0, 0, 1};
    expect_decode_error(short_ref, sizeof short_ref, ZA_EVALUE, "expected 16 (or 8)");
    const unsigned char odd_ref[15] = {0xc7, 12, 0x01}; /* 16 (identity + ref) or 8 only */
    expect_decode_error(odd_ref, sizeof odd_ref, ZA_EVALUE, "expected 16 (or 8)");
    const unsigned char empty_ref[] = {0xc7, 0x00, 0x01};
    expect_decode_error(empty_ref, sizeof empty_ref, ZA_EVALUE, "expected 16 (or 8)");
    /* deep inside a map value, after valid siblings were converted */
    const unsigned char nested[] = {0x82, 0xa1, 'a',  0x91, 0x01, 0xa1,
                                    'b',  0x92, 0xc0, 0xd4, 0x05, 0x00};
    expect_decode_error(nested, sizeof nested, ZA_EVALUE, "ext type 5");
}

static void test_depth_bombs(void **state) {
    enum { N = 10000 };
    unsigned char *b = malloc(N + 1);
    assert_non_null(b);
    memset(b, 0x91, N); /* [[[[...]]]] */
    b[N] = 0xc0;
    expect_decode_error(b, N + 1, ZA_EVALUE, "nested");
    memset(b, 0x81, N); /* {{{...}: ...}: ...} nested through keys */
    expect_decode_error(b, N + 1, ZA_EVALUE, "nested");
    expect_decode_error(b, N, ZA_EVALUE, "nested"); /* and unterminated */
    free(b);
}

static void test_null_arguments(void **state) {
    const unsigned char b[] = {0x01};
    za_doc *d = (za_doc *)(uintptr_t)1;
    assert_int_equal(za_doc_decode(NULL, 3, &d), ZA_EINVAL);
    assert_null(d);
    expect_error_text("NULL");
    assert_int_equal(za_doc_decode(b, sizeof b, NULL), ZA_EINVAL);
    expect_error_text("NULL");
    assert_null(za_doc_root(NULL));
    za_doc_free(NULL);

    assert_int_equal(za_pack_nil(NULL), ZA_EINVAL);
    expect_error_text("za_pack_nil");
    assert_int_equal(za_pack_bool(NULL, 1), ZA_EINVAL);
    expect_error_text("za_pack_bool");
    assert_int_equal(za_pack_int(NULL, 1), ZA_EINVAL);
    expect_error_text("za_pack_int");
    assert_int_equal(za_pack_uint(NULL, 1), ZA_EINVAL);
    expect_error_text("za_pack_uint");
    assert_int_equal(za_pack_double(NULL, 1), ZA_EINVAL);
    expect_error_text("za_pack_double");
    assert_int_equal(za_pack_str(NULL, "a", 1), ZA_EINVAL);
    expect_error_text("za_pack_str");
    assert_int_equal(za_pack_bin(NULL, "a", 1), ZA_EINVAL);
    expect_error_text("za_pack_bin");
    assert_int_equal(za_pack_array(NULL, 1), ZA_EINVAL);
    expect_error_text("za_pack_array");
    assert_int_equal(za_pack_map(NULL, 1), ZA_EINVAL);
    expect_error_text("za_pack_map");
    assert_int_equal(za_pack_ref(NULL, 1), ZA_EINVAL);
    expect_error_text("za_pack_ref");
    za_value nil = {.type = ZA_V_NIL};
    assert_int_equal(za_pack_value(NULL, &nil), ZA_EINVAL);
    expect_error_text("za_pack_value");
    assert_null(za_pack_data(NULL));
    assert_int_equal(za_pack_size(NULL), 0);
    za_pack_reset(NULL);
    za_pack_free(NULL);

    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_value(p, NULL), ZA_EINVAL);
    expect_error_text("NULL");
    assert_int_equal(za_pack_str(p, NULL, 3), ZA_EINVAL);
    expect_error_text("NULL");
    assert_int_equal(za_pack_bin(p, NULL, 3), ZA_EINVAL);
    expect_error_text("NULL");
    assert_int_equal(za_pack_size(p), 0);
    za_pack_free(p);
}

static void test_oversized_str_refused(void **state) {
#if SIZE_MAX > UINT32_MAX
    /* refused from the length alone: the bytes are never read */
    za_pack *p = za_pack_new();
    assert_int_equal(za_pack_str(p, "x", (size_t)UINT32_MAX + 1), ZA_EVALUE);
    expect_error_text("exceeds");
    assert_int_equal(za_pack_bin(p, "x", (size_t)UINT32_MAX + 1), ZA_EVALUE);
    assert_int_equal(za_pack_size(p), 0);
    za_pack_free(p);
#else
    skip();
#endif
}

/* MessagePack str is UTF-8: tests/fuzz found a2 ff fe decoding to a str
 * that the Lua host sent back as bin and Python as surrogate escapes. */
static void test_str_must_be_utf8(void **st) {
    (void)st;
    static const struct {
        const char *bytes;
        size_t n;
        int ok;
    } cases[] = {
        {"\xa2\xff\xfe", 3, 0},         /* the fuzz finding */
        {"\xa1\x80", 2, 0},             /* lone continuation byte */
        {"\xa2\xc0\x80", 3, 0},         /* overlong NUL */
        {"\xa2\xc1\xbf", 3, 0},         /* overlong */
        {"\xa3\xe0\x9f\xbf", 4, 0},     /* overlong 3-byte */
        {"\xa3\xed\xa0\x80", 4, 0},     /* surrogate U+D800 */
        {"\xa4\xf0\x8f\xbf\xbf", 5, 0}, /* overlong 4-byte */
        {"\xa4\xf4\x90\x80\x80", 5, 0}, /* above U+10FFFF */
        {"\xa1\xf5", 2, 0},             /* never a lead byte */
        {"\xa2\xe2\x82", 3, 0},         /* truncated */
        {"\xa3\xe2\x82\x41", 4, 0},     /* bad continuation */
        {"\x81\xa1\xff\x01", 4, 0},     /* as a map key */
        {"\xa3\xe2\x82\xac", 4, 1},     /* U+20AC */
        {"\xa3\xed\x9f\xbf", 4, 1},     /* U+D7FF, below the surrogates */
        {"\xa3\xee\x80\x80", 4, 1},     /* U+E000, above them */
        {"\xa4\xf4\x8f\xbf\xbf", 5, 1}, /* U+10FFFF */
        {"\xa2\xc2\x80", 3, 1},         /* U+0080 */
        {"\xa1\x00", 2, 1},             /* NUL is text */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        za_doc *d = (za_doc *)1;
        int rc = za_doc_decode(cases[i].bytes, cases[i].n, &d);
        if (cases[i].ok) {
            if (rc != ZA_OK) fail_msg("case %zu: refused: %s", i, za_last_error());
            za_doc_free(d);
        } else {
            if (rc != ZA_EVALUE || d ||
                !strstr(za_last_error(), "bad MessagePack: str is not valid UTF-8"))
                fail_msg("case %zu: rc %d, '%s'", i, rc, za_last_error());
        }
    }
    /* long strings: the 16-byte ASCII stride, then a bad byte at every
     * position of the last stride and the tail */
    char buf[3 + 100];
    for (size_t bad = 0; bad < 100; bad++) {
        buf[0] = (char)0xd9, buf[1] = 100;
        memset(buf + 2, 'a', 100);
        buf[2 + bad] = (char)0xff;
        za_doc *d = NULL;
        assert_int_equal(za_doc_decode(buf, 102, &d), ZA_EVALUE);
        buf[2 + bad] = 'a';
        assert_int_equal(za_doc_decode(buf, 102, &d), ZA_OK);
        za_doc_free(d);
    }
}

/* One decode: ZA_EVALUE, refused by the count check (its text), quickly. */
static void expect_oversized(const unsigned char *b, size_t len) {
    za_doc *d = (za_doc *)1;
    uint64_t t0 = tu_now_ns();
    int rc = za_doc_decode(b, len, &d);
    uint64_t ms = (tu_now_ns() - t0) / 1000000u;
    if (rc != ZA_EVALUE || !strstr(za_last_error(), "bytes follow"))
        fail_msg("%zu bytes (first 0x%02x): rc %d, '%s'", len, b[0], rc, za_last_error());
    assert_null(d);
    /* the count is refused before msgpack-c sees it: no gigabytes reserved
     * (before the fix: an 8 GiB zone, seconds under ASan) */
    assert_true(ms < 500);
}

/* tests/fuzz/crashes/value_decode/oom-array32-268M-one-nil and kin: a
 * container declaring more elements than there are bytes left. */
static void test_oversized_count_fails_fast(void **st) {
    (void)st;
    const unsigned char arr32[] = {0xdd, 0x10, 0x00, 0x00, 0x00, 0xc0};
    expect_oversized(arr32, sizeof arr32);
    const unsigned char arr32_max[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    expect_oversized(arr32_max, sizeof arr32_max);
    const unsigned char map32[] = {0xdf, 0x08, 0x00, 0x00, 0x00, 0xc0, 0xc0};
    expect_oversized(map32, sizeof map32);
    const unsigned char arr16[] = {0xdc, 0xff, 0xff, 0x01, 0x02};
    expect_oversized(arr16, sizeof arr16);
    /* nested: the inner header asks more than the outer leaves */
    const unsigned char nested[] = {0x92, 0xc0, 0xdd, 0x01, 0x00, 0x00, 0x00, 0xc0};
    expect_oversized(nested, sizeof nested);
    /* after a string payload is skipped */
    const unsigned char after_str[] = {0x92, 0xa3, 'a', 'b', 'c', 0x93, 0xc0, 0xc0};
    expect_oversized(after_str, sizeof after_str);
    /* a map's entries take two bytes each: 2 entries need 4 */
    const unsigned char fixmap[] = {0x82, 0xc0, 0xc0, 0xc0};
    expect_oversized(fixmap, sizeof fixmap);

    /* exactly enough still decodes */
    const unsigned char fits[] = {0xdd, 0x00, 0x00, 0x00, 0x03, 0xc0, 0xc0, 0xc0};
    za_doc *d = NULL;
    assert_int_equal(za_doc_decode(fits, sizeof fits, &d), ZA_OK);
    assert_int_equal(za_doc_root(d)->v.array.n, 3);
    za_doc_free(d);
    const unsigned char map_fits[] = {0x82, 0x01, 0xc0, 0xa1, 'k', 0x92, 0xc3, 0xc2};
    assert_int_equal(za_doc_decode(map_fits, sizeof map_fits, &d), ZA_OK);
    assert_int_equal(za_doc_root(d)->v.map.n, 2);
    za_doc_free(d);
    /* truncation and bad bytes keep msgpack-c's own diagnosis */
    const unsigned char trunc[] = {0x93, 0xc0, 0xc0};
    assert_int_equal(za_doc_decode(trunc, sizeof trunc, &d), ZA_EVALUE);
    assert_non_null(strstr(za_last_error(), "bytes follow"));
    const unsigned char str_trunc[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(za_doc_decode(str_trunc, sizeof str_trunc, &d), ZA_EVALUE);
    assert_non_null(strstr(za_last_error(), "truncated"));
    const unsigned char bad[] = {0x91, 0xc1};
    assert_int_equal(za_doc_decode(bad, sizeof bad, &d), ZA_EVALUE);
    assert_non_null(strstr(za_last_error(), "0xc1"));
}

/* The reproducer file itself, when the tests run from the repository. */
static void test_fuzz_reproducers(void **st) {
    (void)st;
    FILE *f = fopen("tests/fuzz/crashes/value_decode/oom-array32-268M-one-nil", "rb");
    if (!f) skip();
    unsigned char b[64];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    expect_oversized(b, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_round_trip),
        cmocka_unit_test(test_special_doubles),
        cmocka_unit_test(test_int_and_float_stay_distinct),
        cmocka_unit_test(test_str_and_bin),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_doc_outlives_input),
        cmocka_unit_test(test_pack_value_from_built_tree),
        cmocka_unit_test(test_pack_value_rejects_bad_trees),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_reset_reuses_writer),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_ext),
        cmocka_unit_test(test_depth_bombs),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_oversized_str_refused),
        cmocka_unit_test(test_oversized_count_fails_fast),
        cmocka_unit_test(test_str_must_be_utf8),
        cmocka_unit_test(test_fuzz_reproducers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
