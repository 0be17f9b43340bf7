/*
 * value_decode - libFuzzer target for the runtime's MessagePack decoder
 * (csrc/value.c) through the public API of zactor.h.
 *
 * For every input:
 *  1. za_doc_decode either succeeds, or fails with ZA_EVALUE (or ZA_ENOMEM)
 *     and a non-empty za_last_error() text; never anything else.
 *  2. On success, the tree is re-encoded with za_pack_value (bytes A), A is
 *     decoded again and must give the same tree (deep equality: type, ints,
 *     doubles bit for bit, str/bin bytes, refs, arrays and maps in order),
 *     and re-encoding that tree must give exactly A again (the encoder is a
 *     fixpoint after one round).
 *  3. The tree is also rebuilt by hand with the za_pack_* builders (the
 *     path bindings use) and that must give exactly A too.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "zactor.h"

static int same_value(const za_value *a, const za_value *b, int depth) {
    if (depth > 200) return 0;
    if (a->type != b->type) return 0;
    switch (a->type) {
    case ZA_V_NIL:
        return 1;
    case ZA_V_BOOL:
        return (a->v.b != 0) == (b->v.b != 0);
    case ZA_V_INT:
        return a->v.i == b->v.i;
    case ZA_V_UINT:
        return a->v.u == b->v.u;
    case ZA_V_DOUBLE:
        return memcmp(&a->v.d, &b->v.d, sizeof(double)) == 0;
    case ZA_V_STR:
    case ZA_V_BIN:
        return a->v.str.len == b->v.str.len &&
               (a->v.str.len == 0 || memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len) == 0);
    case ZA_V_REF:
        return a->v.ref == b->v.ref;
    case ZA_V_ARRAY:
        if (a->v.array.n != b->v.array.n) return 0;
        for (uint32_t i = 0; i < a->v.array.n; i++)
            if (!same_value(&a->v.array.items[i], &b->v.array.items[i], depth + 1)) return 0;
        return 1;
    case ZA_V_MAP:
        if (a->v.map.n != b->v.map.n) return 0;
        for (uint32_t i = 0; i < a->v.map.n; i++)
            if (!same_value(&a->v.map.keys[i], &b->v.map.keys[i], depth + 1) ||
                !same_value(&a->v.map.vals[i], &b->v.map.vals[i], depth + 1))
                return 0;
        return 1;
    }
    return 0;
}

/* Rebuild a tree with the public builders, the way a binding packs. */
static int build(za_pack *p, const za_value *v) {
    switch (v->type) {
    case ZA_V_NIL:
        return za_pack_nil(p);
    case ZA_V_BOOL:
        return za_pack_bool(p, v->v.b);
    case ZA_V_INT:
        return za_pack_int(p, v->v.i);
    case ZA_V_UINT:
        return za_pack_uint(p, v->v.u);
    case ZA_V_DOUBLE:
        return za_pack_double(p, v->v.d);
    case ZA_V_STR:
        return za_pack_str(p, v->v.str.ptr, v->v.str.len);
    case ZA_V_BIN:
        return za_pack_bin(p, v->v.str.ptr, v->v.str.len);
    case ZA_V_REF:
        return za_pack_ref(p, v->v.ref);
    case ZA_V_ARRAY: {
        int rc = za_pack_array(p, v->v.array.n);
        for (uint32_t i = 0; rc == ZA_OK && i < v->v.array.n; i++)
            rc = build(p, &v->v.array.items[i]);
        return rc;
    }
    case ZA_V_MAP: {
        int rc = za_pack_map(p, v->v.map.n);
        for (uint32_t i = 0; rc == ZA_OK && i < v->v.map.n; i++) {
            rc = build(p, &v->v.map.keys[i]);
            if (rc == ZA_OK) rc = build(p, &v->v.map.vals[i]);
        }
        return rc;
    }
    }
    return ZA_EVALUE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_skip_known() && fuzz_known_oversized_count(data, size)) return 0;
    za_doc *doc = (za_doc *)0x1; /* must be reset to NULL on failure */
    int rc = za_doc_decode(size ? data : NULL, size, &doc);
    if (rc != ZA_OK) {
        FUZZ_CHECK(rc == ZA_EVALUE || rc == ZA_ENOMEM, "za_doc_decode returned %d (%s)", rc,
                   za_strerror(rc));
        FUZZ_CHECK(doc == NULL, "za_doc_decode failed (%d) but left *out set", rc);
        const char *e = za_last_error();
        FUZZ_CHECK(e && *e, "za_doc_decode failed (%d) without an error text", rc);
        return 0;
    }
    FUZZ_CHECK(doc != NULL, "za_doc_decode succeeded with a NULL document");
    const za_value *root = za_doc_root(doc);
    FUZZ_CHECK(root != NULL, "no root");

    za_pack *pa = za_pack_new();
    FUZZ_CHECK(pa, "za_pack_new");
    rc = za_pack_value(pa, root);
    FUZZ_CHECK(rc == ZA_OK, "za_pack_value of a decoded tree failed: %d %s", rc, za_last_error());
    size_t na = za_pack_size(pa);
    FUZZ_CHECK(na > 0, "za_pack_value wrote nothing");

    za_doc *doc2 = NULL;
    rc = za_doc_decode(za_pack_data(pa), na, &doc2);
    FUZZ_CHECK(rc == ZA_OK, "re-encoded bytes do not decode: %d %s", rc, za_last_error());
    FUZZ_CHECK(same_value(root, za_doc_root(doc2), 0), "decode(encode(v)) != v");

    za_pack *pb = za_pack_new();
    rc = za_pack_value(pb, za_doc_root(doc2));
    FUZZ_CHECK(rc == ZA_OK, "second za_pack_value failed: %d", rc);
    FUZZ_CHECK(za_pack_size(pb) == na && memcmp(za_pack_data(pb), za_pack_data(pa), na) == 0,
               "encode(decode(encode(v))) != encode(v) (%zu vs %zu bytes)", za_pack_size(pb), na);

    za_pack_reset(pb);
    rc = build(pb, root);
    FUZZ_CHECK(rc == ZA_OK, "za_pack_* builders failed: %d %s", rc, za_last_error());
    FUZZ_CHECK(za_pack_size(pb) == na && memcmp(za_pack_data(pb), za_pack_data(pa), na) == 0,
               "za_pack_* builders and za_pack_value disagree (%zu vs %zu bytes)",
               za_pack_size(pb), na);

    za_pack_free(pb);
    za_doc_free(doc2);
    za_pack_free(pa);
    za_doc_free(doc);
    return 0;
}
