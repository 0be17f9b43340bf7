/*
 * Grain references inside payloads between nodes (csrc/cluster/grainref.c)
 * and the grain envelope (csrc/cluster/envelope.c), without a network: a
 * payload holding a grain ref leaves as the grain's identity and comes back
 * as the same ref; payloads without one, and raw bytes, are untouched;
 * hostile input is an error, never a crash or a huge allocation.
 */
#include "testutil.h"

#include "cluster/envelope.h"
#include "cluster/gplace.h"

static int nop_receive(za_ctx *ctx, const za_msg *m) {
    (void)ctx;
    (void)m;
    return 0;
}
static const za_behaviour nop = {ZA_BEHAVIOUR_INIT, .name = "nop", .receive = nop_receive};

static za_system *sys_with_grains(void) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 1;
    za_system *s;
    assert_int_equal(za_system_create(&cfg, &s), ZA_OK);
    za_grain_class cls = {.type = "Account", .behaviour = &nop};
    assert_int_equal(za_grain_register(s, &cls), ZA_OK);
    return s;
}

static void test_grain_refs_round_trip(void **st) {
    (void)st;
    za_system *s = sys_with_grains();
    za_ref alice, actor = za_ref_make(0, 1, 7);
    assert_int_equal(za_grain_ref(s, "Account", "alice", &alice), ZA_OK);
    za_pack *p = za_pack_new();
    za_pack_map(p, 2);
    za_pack_str(p, "who", 3);
    za_pack_array(p, 3);
    za_pack_ref_in(p, s, alice);
    za_pack_ref_in(p, s, actor); /* a plain actor ref is left alone */
    za_pack_bin(p, "\xd8\x01", 2);
    za_pack_str(p, "n", 1);
    za_pack_int(p, 42);
    void *out = NULL, *back = NULL;
    size_t n = 0, m = 0;
    assert_int_equal(za__grainref_out(s, za_pack_data(p), za_pack_size(p), &out, &n), 1);
    assert_non_null(memmem(out, n, "Account\0alice", 13)); /* the identity, not an index */
    assert_int_equal(za__grainref_in(s, out, n, &back, &m), 1);
    assert_int_equal(m, za_pack_size(p));
    assert_memory_equal(back, za_pack_data(p), m); /* the same ref again */
    free(out);
    free(back);

    /* nothing to do: no grain ref, raw bytes, a ref of another system */
    za_pack_reset(p);
    za_pack_array(p, 2);
    za_pack_int(p, 1);
    za_pack_ref_in(p, s, actor);
    out = NULL;
    assert_int_equal(za__grainref_out(s, za_pack_data(p), za_pack_size(p), &out, &n), 0);
    assert_null(out);
    uint8_t raw[40];
    memset(raw, 0xd8, sizeof raw);
    assert_int_equal(za__grainref_out(s, raw, sizeof raw, &out, &n), 0);
    za_system *other = sys_with_grains();
    za_pack_reset(p);
    za_pack_ref_in(p, other, alice);
    assert_int_equal(za__grainref_out(s, za_pack_data(p), za_pack_size(p), &out, &n), 0);
    za_pack_free(p);
    za_system_destroy(other);
    za_system_destroy(s);
}

static void test_hostile_identities(void **st) {
    (void)st;
    za_system *s = sys_with_grains();
    void *out = NULL;
    size_t n;
    /* an identity naming a type this node does not know */
    static const uint8_t unknown[] = {0xc7, 5, ZA_MP_EXT_GRAIN, 'X', 0, 'k', 'e', 'y'};
    assert_int_equal(za__grainref_in(s, unknown, sizeof unknown, &out, &n), ZA_ENOTFOUND);
    assert_non_null(strstr(za_last_error(), "X/key"));
    /* no NUL, an empty key, a NUL in the key */
    static const uint8_t nonul[] = {0xc7, 3, ZA_MP_EXT_GRAIN, 'a', 'b', 'c'};
    static const uint8_t nokey[] = {0xc7, 2, ZA_MP_EXT_GRAIN, 'a', 0};
    static const uint8_t nulkey[] = {0xc7, 4, ZA_MP_EXT_GRAIN, 'a', 0, 'b', 0};
    assert_int_equal(za__grainref_in(s, nonul, sizeof nonul, &out, &n), ZA_EVALUE);
    assert_int_equal(za__grainref_in(s, nokey, sizeof nokey, &out, &n), ZA_EVALUE);
    assert_int_equal(za__grainref_in(s, nulkey, sizeof nulkey, &out, &n), ZA_EVALUE);
    /* truncated, trailing bytes, a container claiming 268M elements */
    static const uint8_t trunc[] = {0x92, 0x01};
    static const uint8_t trail[] = {0x01, 0x02};
    static const uint8_t huge[] = {0xdd, 0x10, 0x00, 0x00, 0x00, 0xc0};
    static const uint8_t bad[] = {0xc1};
    assert_int_equal(za__grainref_in(s, trunc, sizeof trunc, &out, &n), ZA_EVALUE);
    assert_int_equal(za__grainref_in(s, trail, sizeof trail, &out, &n), ZA_EVALUE);
    assert_int_equal(za__grainref_in(s, huge, sizeof huge, &out, &n), ZA_EVALUE);
    assert_int_equal(za__grainref_in(s, bad, sizeof bad, &out, &n), ZA_EVALUE);
    /* every prefix of a valid payload: an error or nothing, never a crash */
    static const uint8_t ok[] = {
        0x92, 0xc7, 10, ZA_MP_EXT_GRAIN, 'A', 'c', 'c', 'o', 'u', 'n', 't', 0, 'b', 'o', 0xa1, 'x'};
    for (size_t k = 0; k < sizeof ok; k++) {
        out = NULL;
        int rc = za__grainref_in(s, ok, k, &out, &n);
        assert_true(rc == ZA_EVALUE);
        assert_null(out);
    }
    assert_int_equal(za__grainref_in(s, ok, sizeof ok, &out, &n), 1);
    free(out);
    za_system_destroy(s);
}

static void test_grain_envelope(void **st) {
    (void)st;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    za_env e = {.kind = ZA_ENV_GRAIN,
                .sender = za_ref_make(3, 1, 9),
                .tag = 7,
                .corr = 11,
                .status = 2,
                .data = "abc",
                .len = 3,
                .gtype = "Account",
                .gtype_len = 7,
                .gkey = "alice",
                .gkey_len = 5,
                .flags = ZA_ENV_F_GRAINREFS};
    assert_int_equal(za__env_pack(&sb, &e), ZA_OK);
    e.kind = ZA_ENV_TELL; /* the flags on another kind */
    assert_int_equal(za__env_pack(&sb, &e), ZA_OK);
    za_env_reader r;
    za__env_reader_init(&r, sb.data, sb.size);
    za_env o;
    assert_int_equal(za__env_read(&r, &o), 1);
    assert_int_equal(o.kind, ZA_ENV_GRAIN);
    assert_int_equal(o.flags, ZA_ENV_F_GRAINREFS);
    assert_int_equal(o.status, 2);
    assert_int_equal(o.gtype_len, 7);
    assert_memory_equal(o.gtype, "Account", 7);
    assert_memory_equal(o.gkey, "alice", 5);
    assert_int_equal(za__env_read(&r, &o), 1);
    assert_int_equal(o.kind, ZA_ENV_TELL);
    assert_int_equal(o.flags, ZA_ENV_F_GRAINREFS);
    assert_int_equal(za__env_read(&r, &o), 0);
    za__env_reader_done(&r);
    msgpack_sbuffer_destroy(&sb);

    /* a grain envelope without its identity, an empty key, unknown flags */
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 7);
    for (int i = 0; i < 6; i++) msgpack_pack_int(&pk, i == 0 ? ZA_ENV_GRAIN : 0);
    msgpack_pack_bin(&pk, 0);
    za__env_reader_init(&r, sb.data, sb.size);
    assert_int_equal(za__env_read(&r, &o), ZA_EVALUE);
    za__env_reader_done(&r);
    msgpack_sbuffer_clear(&sb);
    e.kind = ZA_ENV_GRAIN;
    e.gkey_len = 0;
    za__env_pack(&sb, &e);
    za__env_reader_init(&r, sb.data, sb.size);
    assert_int_equal(za__env_read(&r, &o), ZA_EVALUE);
    za__env_reader_done(&r);
    msgpack_sbuffer_clear(&sb);
    e.gkey_len = 5;
    e.flags = 8;
    za__env_pack(&sb, &e);
    za__env_reader_init(&r, sb.data, sb.size);
    assert_int_equal(za__env_read(&r, &o), ZA_EVALUE);
    za__env_reader_done(&r);
    msgpack_sbuffer_destroy(&sb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grain_refs_round_trip),
        cmocka_unit_test(test_hostile_identities),
        cmocka_unit_test(test_grain_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
