/*
 * The shared conformance vectors (tests/conformance/values.json), checked
 * from C: every vector's bytes decode (za_doc_decode) to its typed value,
 * and, unless decode_only, the typed value packed with za_pack_value gives
 * exactly those bytes (unordered: the same value after a round trip). Also
 * issue 10 finding 17: refs carry their System's identity, and a reader in
 * another System refuses them (za_doc_decode_in).
 *
 * The JSON is read with a tiny reader of its own (objects, arrays, strings
 * with \uXXXX escapes, numbers, true/false/null): enough for this file.
 */
#include "testutil.h"

#include <math.h>

/* ------------------------------------------------------------ tiny JSON */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jv jv;
struct jv {
    jtype t;
    int b;
    char *num; /* number text, parsed by the user (int64, uint64 or double) */
    char *s;   /* J_STR: UTF-8, NUL-terminated (no NULs in this file) */
    size_t n;  /* J_ARR / J_OBJ: items (J_OBJ: keys[i] names items[i]) */
    jv *items;
    char **keys;
};

typedef struct {
    const char *p;
} jin;

static void ws(jin *in) {
    while (*in->p == ' ' || *in->p == '\n' || *in->p == '\r' || *in->p == '\t') in->p++;
}

static void put_utf8(char **o, unsigned cp) {
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) {
        *u++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *u++ = (unsigned char)(0xc0 | cp >> 6);
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *u++ = (unsigned char)(0xe0 | cp >> 12);
        *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *u++ = (unsigned char)(0xf0 | cp >> 18);
        *u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *o = (char *)u;
}

static char *jstring(jin *in) {
    assert_int_equal(*in->p, '"');
    in->p++;
    char *out = malloc(strlen(in->p) + 1), *o = out;
    assert_non_null(out);
    while (*in->p != '"') {
        assert_true(*in->p != 0);
        if (*in->p != '\\') {
            *o++ = *in->p++;
            continue;
        }
        in->p++;
        char c = *in->p++;
        switch (c) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'u': {
            unsigned cp =
                (unsigned)strtoul((char[5]){in->p[0], in->p[1], in->p[2], in->p[3], 0}, NULL, 16);
            in->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && in->p[0] == '\\' && in->p[1] == 'u') {
                unsigned lo = (unsigned)strtoul(
                    (char[5]){in->p[2], in->p[3], in->p[4], in->p[5], 0}, NULL, 16);
                in->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(&o, cp);
            break;
        }
        default:
            *o++ = c;
        }
    }
    in->p++;
    *o = 0;
    return out;
}

static void jparse(jin *in, jv *v) {
    memset(v, 0, sizeof *v);
    ws(in);
    char c = *in->p;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        v->t = obj ? J_OBJ : J_ARR;
        in->p++;
        size_t cap = 0;
        ws(in);
        while (*in->p != (obj ? '}' : ']')) {
            if (v->n == cap) {
                cap = cap ? 2 * cap : 8;
                v->items = realloc(v->items, cap * sizeof *v->items);
                if (obj) v->keys = realloc(v->keys, cap * sizeof *v->keys);
                assert_non_null(v->items);
            }
            if (obj) {
                ws(in);
                v->keys[v->n] = jstring(in);
                ws(in);
                assert_int_equal(*in->p, ':');
                in->p++;
            }
            jparse(in, &v->items[v->n++]);
            ws(in);
            if (*in->p == ',') in->p++;
            ws(in);
        }
        in->p++;
    } else if (c == '"') {
        v->t = J_STR;
        v->s = jstring(in);
    } else if (!strncmp(in->p, "true", 4) || !strncmp(in->p, "false", 5)) {
        v->t = J_BOOL;
        v->b = c == 't';
        in->p += v->b ? 4 : 5;
    } else if (!strncmp(in->p, "null", 4)) {
        v->t = J_NULL;
        in->p += 4;
    } else {
        const char *st = in->p;
        while (*in->p && strchr("+-0123456789.eE", *in->p)) in->p++;
        assert_true(in->p > st);
        v->t = J_NUM;
        v->num = strndup(st, (size_t)(in->p - st));
    }
}

static void jfree(jv *v) {
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    free(v->num);
}

static const jv *jget(const jv *o, const char *key) {
    if (o->t != J_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

static size_t unhex(const char *h, unsigned char *out) {
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        sscanf(h + 2 * i, "%2x", &x);
        out[i] = (unsigned char)x;
    }
    return n;
}

static double jdouble(const jv *v) {
    return v->t == J_STR ? strtod(v->s, NULL) : strtod(v->num, NULL); /* "inf", "-inf", "nan" */
}

/* ------------------------------------------------- typed value <-> za_value */

/* Does decoded value d match the typed tree t? */
static int matches(const za_value *d, const jv *t) {
    const char *kind = t->keys[0];
    const jv *x = &t->items[0];
    if (!strcmp(kind, "nil")) return d->type == ZA_V_NIL;
    if (!strcmp(kind, "bool")) return d->type == ZA_V_BOOL && d->v.b == x->b;
    if (!strcmp(kind, "int")) return d->type == ZA_V_INT && d->v.i == strtoll(x->num, NULL, 10);
    if (!strcmp(kind, "uint")) return d->type == ZA_V_UINT && d->v.u == strtoull(x->s, NULL, 10);
    if (!strcmp(kind, "float")) {
        double want = jdouble(x);
        if (d->type != ZA_V_DOUBLE) return 0;
        return isnan(want) ? isnan(d->v.d) : d->v.d == want;
    }
    if (!strcmp(kind, "str"))
        return d->type == ZA_V_STR && d->v.str.len == strlen(x->s) &&
               !memcmp(d->v.str.ptr, x->s, d->v.str.len);
    if (!strcmp(kind, "bin")) {
        unsigned char b[256];
        size_t n = unhex(x->s, b);
        return d->type == ZA_V_BIN && d->v.str.len == n && !memcmp(d->v.str.ptr, b, n);
    }
    if (!strcmp(kind, "ref")) {
        const jv *sys = jget(t, "system");
        uint64_t want_sys = sys ? strtoull(sys->s, NULL, 16) : 0;
        return d->type == ZA_V_REF && d->v.ref == strtoull(x->num, NULL, 10) &&
               d->v.refx.system == want_sys;
    }
    if (!strcmp(kind, "array")) {
        if (d->type != ZA_V_ARRAY || d->v.array.n != x->n) return 0;
        for (size_t i = 0; i < x->n; i++)
            if (!matches(&d->v.array.items[i], &x->items[i])) return 0;
        return 1;
    }
    if (!strcmp(kind, "map")) { /* any order of pairs */
        if (d->type != ZA_V_MAP || d->v.map.n != x->n) return 0;
        for (size_t i = 0; i < x->n; i++) {
            int found = 0;
            for (uint32_t j = 0; j < d->v.map.n && !found; j++)
                found = matches(&d->v.map.keys[j], &x->items[i].items[0]) &&
                        matches(&d->v.map.vals[j], &x->items[i].items[1]);
            if (!found) return 0;
        }
        return 1;
    }
    fail_msg("unknown typed value kind %s", kind);
    return 0;
}

/* Build a za_value tree for typed tree t (malloc'd; freed by unbuild). */
static void build(za_value *v, const jv *t) {
    const char *kind = t->keys[0];
    const jv *x = &t->items[0];
    memset(v, 0, sizeof *v);
    if (!strcmp(kind, "nil")) {
        v->type = ZA_V_NIL;
    } else if (!strcmp(kind, "bool")) {
        v->type = ZA_V_BOOL;
        v->v.b = x->b;
    } else if (!strcmp(kind, "int")) {
        v->type = ZA_V_INT;
        v->v.i = strtoll(x->num, NULL, 10);
    } else if (!strcmp(kind, "uint")) {
        v->type = ZA_V_UINT;
        v->v.u = strtoull(x->s, NULL, 10);
    } else if (!strcmp(kind, "float")) {
        v->type = ZA_V_DOUBLE;
        v->v.d = jdouble(x);
    } else if (!strcmp(kind, "str")) {
        v->type = ZA_V_STR;
        v->v.str.ptr = x->s;
        v->v.str.len = (uint32_t)strlen(x->s);
    } else if (!strcmp(kind, "bin")) {
        unsigned char *b = malloc(strlen(x->s) / 2 + 1);
        v->type = ZA_V_BIN;
        v->v.str.len = (uint32_t)unhex(x->s, b);
        v->v.str.ptr = (const char *)b;
    } else if (!strcmp(kind, "ref")) {
        v->type = ZA_V_REF;
        v->v.ref = strtoull(x->num, NULL, 10);
    } else if (!strcmp(kind, "array")) {
        v->type = ZA_V_ARRAY;
        v->v.array.n = (uint32_t)x->n;
        v->v.array.items = calloc(x->n + 1, sizeof(za_value));
        for (size_t i = 0; i < x->n; i++) build(&v->v.array.items[i], &x->items[i]);
    } else if (!strcmp(kind, "map")) {
        v->type = ZA_V_MAP;
        v->v.map.n = (uint32_t)x->n;
        v->v.map.keys = calloc(x->n + 1, sizeof(za_value));
        v->v.map.vals = calloc(x->n + 1, sizeof(za_value));
        for (size_t i = 0; i < x->n; i++) {
            build(&v->v.map.keys[i], &x->items[i].items[0]);
            build(&v->v.map.vals[i], &x->items[i].items[1]);
        }
    } else {
        fail_msg("unknown typed value kind %s", kind);
    }
}

static void unbuild(za_value *v) {
    if (v->type == ZA_V_BIN) free((void *)v->v.str.ptr);
    if (v->type == ZA_V_ARRAY) {
        for (uint32_t i = 0; i < v->v.array.n; i++) unbuild(&v->v.array.items[i]);
        free(v->v.array.items);
    }
    if (v->type == ZA_V_MAP) {
        for (uint32_t i = 0; i < v->v.map.n; i++) {
            unbuild(&v->v.map.keys[i]);
            unbuild(&v->v.map.vals[i]);
        }
        free(v->v.map.keys);
        free(v->v.map.vals);
    }
}

static char *read_vectors(void) {
    const char *path = getenv("ZA_CONFORMANCE_VECTORS");
    char buf[1024];
    if (!path) {
        /* this file is tests/c/test_conformance.c; the vectors are beside tests/c */
        snprintf(buf, sizeof buf, "%s", __FILE__);
        char *slash = strrchr(buf, '/');
        if (slash)
            snprintf(slash, sizeof buf - (size_t)(slash - buf), "/../conformance/values.json");
        else
            snprintf(buf, sizeof buf, "../conformance/values.json");
        path = buf;
    }
    FILE *f = fopen(path, "rb");
    if (!f) f = fopen("tests/conformance/values.json", "rb");
    if (!f) fail_msg("cannot open the conformance vectors (%s)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = 0;
    fclose(f);
    return text;
}

static void test_vectors(void **state) {
    (void)state;
    char *text = read_vectors();
    jin in = {text};
    jv doc;
    jparse(&in, &doc);
    const jv *vecs = jget(&doc, "vectors");
    assert_non_null(vecs);
    assert_true(vecs->n >= 50);
    for (size_t i = 0; i < vecs->n; i++) {
        const jv *vec = &vecs->items[i];
        const char *name = jget(vec, "name")->s;
        const char *hex = jget(vec, "hex")->s;
        const jv *value = jget(vec, "value");
        const jv *dec_only = jget(vec, "decode_only"), *unordered = jget(vec, "unordered");
        unsigned char bytes[256];
        size_t n = unhex(hex, bytes);
        za_doc *d = NULL;
        if (za_doc_decode(bytes, n, &d) != ZA_OK)
            fail_msg("%s: decode failed: %s", name, za_last_error());
        if (!matches(za_doc_root(d), value)) fail_msg("%s: decoded value differs (%s)", name, hex);
        za_doc_free(d);
        if (dec_only && dec_only->b) continue;
        za_value v;
        build(&v, value);
        za_pack *p = za_pack_new();
        assert_int_equal(za_pack_value(p, &v), ZA_OK);
        if (unordered && unordered->b) {
            assert_int_equal(za_doc_decode(za_pack_data(p), za_pack_size(p), &d), ZA_OK);
            if (!matches(za_doc_root(d), value)) fail_msg("%s: round trip differs", name);
            za_doc_free(d);
        } else if (za_pack_size(p) != n || memcmp(za_pack_data(p), bytes, n)) {
            fail_msg("%s: encoded bytes differ from %s", name, hex);
        }
        za_pack_free(p);
        unbuild(&v);
    }
    jfree(&doc);
    free(text);
}

/* The "invalid" vectors: bytes every binding refuses (a str that is not
 * UTF-8: fuzz finding a2 ff fe), with the same text. */
static void test_invalid_vectors(void **state) {
    (void)state;
    char *text = read_vectors();
    jin in = {text};
    jv doc;
    jparse(&in, &doc);
    const jv *vecs = jget(&doc, "invalid");
    assert_non_null(vecs);
    assert_true(vecs->n >= 1);
    for (size_t i = 0; i < vecs->n; i++) {
        const jv *vec = &vecs->items[i];
        const char *name = jget(vec, "name")->s, *want = jget(vec, "error")->s;
        unsigned char bytes[256];
        size_t n = unhex(jget(vec, "hex")->s, bytes);
        za_doc *d = (za_doc *)1;
        int rc = za_doc_decode(bytes, n, &d);
        if (rc != ZA_EVALUE || d != NULL || !strstr(za_last_error(), want))
            fail_msg("%s: rc %d, error '%s' (want '%s')", name, rc, za_last_error(), want);
    }
    jfree(&doc);
    free(text);
}

/* ------------------------------------------------ finding 17: foreign refs */

static za_system *new_system(void) {
    za_config c;
    za_config_init(&c);
    c.workers = 1;
    za_system *s = NULL;
    assert_int_equal(za_system_create(&c, &s), ZA_OK);
    return s;
}

static void test_system_identity(void **state) {
    (void)state;
    za_system *a = new_system(), *b = new_system();
    assert_true(za_system_id(a) != 0);
    assert_true(za_system_id(b) != 0);
    assert_true(za_system_id(a) != za_system_id(b));
    assert_int_equal(za_system_id(a), za_system_id(a));
    za_system_destroy(a);
    za_system_destroy(b);
}

static void test_foreign_ref_is_refused(void **state) {
    (void)state;
    za_system *a = new_system(), *b = new_system();
    za_ref r = ((za_ref)1 << 32) | 5; /* the same ref value names an actor in either System */
    za_pack *p = za_pack_new();
    za_pack_bind(p, a);
    assert_int_equal(za_pack_array(p, 2), ZA_OK);
    assert_int_equal(za_pack_str(p, "to", 2), ZA_OK);
    assert_int_equal(za_pack_ref(p, r), ZA_OK);
    /* 0x92 a2 't' 'o' d8 01 <8 bytes identity> <8 bytes ref> */
    assert_int_equal(za_pack_size(p), 1 + 3 + 2 + 16);
    za_doc *d = NULL;
    /* the writer's System reads it back */
    assert_int_equal(za_doc_decode_in(a, za_pack_data(p), za_pack_size(p), &d), ZA_OK);
    const za_value *v = &za_doc_root(d)->v.array.items[1];
    assert_int_equal(v->type, ZA_V_REF);
    assert_true(v->v.ref == r);
    assert_true(v->v.refx.system == za_system_id(a));
    za_doc_free(d);
    /* another System refuses it */
    assert_int_equal(za_doc_decode_in(b, za_pack_data(p), za_pack_size(p), &d), ZA_EVALUE);
    assert_null(d);
    assert_non_null(strstr(za_last_error(), "foreign actor reference"));
    /* za_pack_ref_in writes a ref of the named System whatever the binding */
    za_pack_reset(p);
    assert_int_equal(za_pack_ref_in(p, b, r), ZA_OK);
    assert_int_equal(za_doc_decode_in(b, za_pack_data(p), za_pack_size(p), &d), ZA_OK);
    za_doc_free(d);
    assert_int_equal(za_doc_decode_in(a, za_pack_data(p), za_pack_size(p), &d), ZA_EVALUE);
    /* an unbound writer keeps the 8-byte form, read as a ref of the reader's System */
    za_pack_bind(p, NULL);
    za_pack_reset(p);
    assert_int_equal(za_pack_ref(p, r), ZA_OK);
    assert_int_equal(za_pack_size(p), 10);
    assert_int_equal(za_doc_decode_in(b, za_pack_data(p), za_pack_size(p), &d), ZA_OK);
    assert_true(za_doc_root(d)->v.refx.system == 0);
    za_doc_free(d);
    assert_int_equal(za_doc_decode_in(NULL, za_pack_data(p), za_pack_size(p), &d), ZA_EINVAL);
    assert_int_equal(za_pack_ref_in(p, NULL, r), ZA_EINVAL);
    za_pack_free(p);
    za_system_destroy(a);
    za_system_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_invalid_vectors),
        cmocka_unit_test(test_system_identity),
        cmocka_unit_test(test_foreign_ref_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
