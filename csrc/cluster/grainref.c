/*
 * Grain references inside payloads that cross nodes. A grain reference is
 * node 4095 + an index into the identity table of the system that made it,
 * meaningless on any other node; what names a grain everywhere is its
 * (type, key). So at the cluster boundary:
 *
 *  - out: an actor-reference ext (type 1, 16 bytes: this system's identity
 *    then the ref) holding a grain ref of this system becomes ext type 2,
 *    the grain's identity: type bytes, NUL, key bytes; the envelope says
 *    so (ZA_ENV_F_GRAINREFS);
 *  - in (only when the envelope says so): each ext 2 becomes an actor
 *    reference of the receiving system to the same grain (za_grain_ref
 *    interns it), so the bindings only ever see their own references.
 *
 * The rewrite walks the MessagePack tokens without building a tree (no
 * allocation proportional to what a hostile header claims, no recursion):
 * every token is a header and a body of known length, and an ext is
 * replaced by one ext, so the containers' counts stay right. A payload
 * that is not exactly one MessagePack value is left alone on the way out
 * (raw bytes are the user's) and refused on the way in.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"
#include "gplace.h"
#include "system.h"

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static bool put(buf *b, const void *d, size_t n) {
    if (!n) return true; /* memcpy to a NULL buffer is undefined even for 0 bytes */
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    return true;
}

static uint64_t be(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = 0; i < k; i++) v = (v << 8) | p[i];
    return v;
}

static void put_be(uint8_t *p, uint64_t v, int k) {
    for (int i = 0; i < k; i++) p[i] = (uint8_t)(v >> (8 * (k - 1 - i)));
}

/* One token at p[0..left): its total size, and for an ext its type, body
 * and body size; for a container how many values follow. 0: malformed. */
typedef struct tok {
    size_t size;
    bool ext;
    int8_t etype;
    const uint8_t *body;
    size_t blen;
    uint64_t children; /* values this token opens (array n, map 2n) */
} tok;

static size_t token(const uint8_t *p, size_t left, tok *t) {
    memset(t, 0, sizeof *t);
    if (!left) return 0;
    uint8_t c = p[0];
    size_t hdr = 1, body = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        /* fixint, nil, bool */
    } else if (c <= 0x8f) {
        t->children = 2ull * (c & 0x0f);
    } else if (c <= 0x9f) {
        t->children = c & 0x0f;
    } else if (c <= 0xbf) {
        body = c & 0x1f;
    } else if (c == 0xc4 || c == 0xc5 || c == 0xc6 || c == 0xd9 || c == 0xda || c == 0xdb) {
        int k = (c == 0xc4 || c == 0xd9) ? 1 : (c == 0xc5 || c == 0xda) ? 2 : 4;
        if (left < 1 + (size_t)k) return 0;
        hdr = 1 + (size_t)k;
        body = (size_t)be(p + 1, k);
    } else if (c == 0xc7 || c == 0xc8 || c == 0xc9) {
        int k = c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4;
        if (left < 2 + (size_t)k) return 0;
        hdr = 2 + (size_t)k;
        body = (size_t)be(p + 1, k);
        t->ext = true;
        t->etype = (int8_t)p[1 + k];
    } else if (c >= 0xd4 && c <= 0xd8) {
        if (left < 2) return 0;
        hdr = 2;
        body = (size_t)1 << (c - 0xd4);
        t->ext = true;
        t->etype = (int8_t)p[1];
    } else if (c == 0xca || c == 0xcb || (c >= 0xcc && c <= 0xd3)) {
        static const uint8_t sz[] = {5, 9, 2, 3, 5, 9, 2, 3, 5, 9}; /* 0xca..0xd3 */
        hdr = sz[c - 0xca];
    } else if (c == 0xdc || c == 0xdd || c == 0xde || c == 0xdf) {
        int k = (c == 0xdc || c == 0xde) ? 2 : 4;
        if (left < 1 + (size_t)k) return 0;
        hdr = 1 + (size_t)k;
        uint64_t n = be(p + 1, k);
        t->children = c >= 0xde ? 2 * n : n;
    } else {
        return 0; /* 0xc1: never used */
    }
    if (hdr > left || body > left - hdr) return 0;
    t->size = hdr + body;
    t->body = p + hdr;
    t->blen = body;
    return t->size;
}

typedef int (*ext_fn)(za_system *s, const tok *t, buf *out);

/* Rewrite data with fn deciding each ext: 1 replaced (written to out), 0
 * kept, < 0 an error. -> 1 rewritten (*out malloc'd), 0 nothing to do,
 * ZA_EVALUE not exactly one value, or fn's error. */
static int rewrite(za_system *s, const uint8_t *p, size_t len, ext_fn fn, void **out,
                   size_t *out_len) {
    buf b = {0};
    size_t pos = 0, copied = 0;
    uint64_t pending = 1; /* values still to read */
    int rc = ZA_OK;
    while (pos < len && pending) {
        tok t;
        if (!token(p + pos, len - pos, &t)) {
            rc = za__fail(ZA_EVALUE, "payload is not one MessagePack value (byte %zu)", pos);
            break;
        }
        pending--;
        /* every value takes a byte at least: a count past the bytes left
         * is malformed (and would overflow pending) */
        if (t.children > len - pos) {
            rc = za__fail(ZA_EVALUE, "payload is not one MessagePack value (byte %zu)", pos);
            break;
        }
        pending += t.children;
        if (t.ext) {
            size_t mark = b.n;
            if (!put(&b, p + copied, pos - copied)) {
                rc = ZA_ENOMEM;
                break;
            }
            int r = fn(s, &t, &b);
            if (r < 0) {
                rc = r;
                break;
            }
            if (r == 1)
                copied = pos + t.size;
            else
                b.n = mark;
        }
        pos += t.size;
    }
    if (rc == ZA_OK && (pending || pos != len))
        rc = za__fail(ZA_EVALUE, "payload is not one MessagePack value");
    if (rc == ZA_OK && copied == 0) {
        free(b.p);
        return 0;
    }
    if (rc == ZA_OK && !put(&b, p + copied, len - copied)) rc = ZA_ENOMEM;
    if (rc != ZA_OK) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *out_len = b.n;
    return 1;
}

/* out: an actor reference of this system naming a grain -> ext 2 */
static int ext_out(za_system *s, const tok *t, buf *out) {
    if (t->etype != ZA_MP_EXT_REF || t->blen != 16) return 0;
    if (be(t->body, 8) != za_system_id(s)) return 0;
    za_ref r = (za_ref)be(t->body + 8, 8);
    const char *type, *key;
    if (!za_ref_is_grain(r) || za_grain_identity(s, r, &type, &key) != ZA_OK) return 0;
    size_t tl = strlen(type), kl = strlen(key), n = tl + 1 + kl;
    uint8_t h[4];
    size_t hl;
    if (n <= 0xff) {
        h[0] = 0xc7, h[1] = (uint8_t)n, h[2] = ZA_MP_EXT_GRAIN, hl = 3;
    } else {
        h[0] = 0xc8, put_be(h + 1, n, 2), h[3] = ZA_MP_EXT_GRAIN, hl = 4;
    }
    static const uint8_t nul = 0;
    return put(out, h, hl) && put(out, type, tl) && put(out, &nul, 1) && put(out, key, kl)
               ? 1
               : ZA_ENOMEM;
}

/* in: ext 2 (type NUL key) -> an actor reference of this system */
static int ext_in(za_system *s, const tok *t, buf *out) {
    if (t->etype != ZA_MP_EXT_GRAIN) return 0;
    const uint8_t *nul = memchr(t->body, 0, t->blen);
    size_t tl = nul ? (size_t)(nul - t->body) : 0, kl = nul ? t->blen - tl - 1 : 0;
    if (!nul || tl > 255 || kl == 0 || kl > 1024 || memchr(nul + 1, 0, kl))
        return za__fail(ZA_EVALUE, "a grain reference in the message is malformed");
    char type[256], key[1025];
    memcpy(type, t->body, tl);
    type[tl] = 0;
    memcpy(key, nul + 1, kl);
    key[kl] = 0;
    za_ref r;
    int rc = za_grain_ref(s, type, key, &r);
    if (rc != ZA_OK)
        return za__fail(rc, "the message holds a reference to grain %s/%s: %s on node %u", type,
                        key, rc == ZA_ENOTFOUND ? "type not registered" : za_strerror(rc),
                        za_system_node(s));
    uint8_t e[18] = {0xd8, ZA_MP_EXT_REF};
    put_be(e + 2, za_system_id(s), 8);
    put_be(e + 10, r, 8);
    return put(out, e, sizeof e) ? 1 : ZA_ENOMEM;
}

/* A quick look before the walk: any fixext16 of type 1 carrying this
 * system's identity and a grain ref? (Most payloads have no ref at all.) */
static bool may_hold_grain_ref(za_system *s, const uint8_t *p, size_t len) {
    uint8_t id[8];
    put_be(id, za_system_id(s), 8);
    for (size_t i = 0; i + 18 <= len; i++) {
        const uint8_t *q = memchr(p + i, 0xd8, len - 18 - i + 1);
        if (!q) return false;
        i = (size_t)(q - p);
        if (q[1] == ZA_MP_EXT_REF && !memcmp(q + 2, id, 8) && q[10] == 0xff &&
            (q[11] & 0xf0) == 0xf0)
            return true;
    }
    return false;
}

int za__grainref_out(za_system *s, const void *data, size_t len, void **out, size_t *out_len) {
    if (!s->grains || len < 18 || !may_hold_grain_ref(s, data, len)) return 0;
    int rc = rewrite(s, data, len, ext_out, out, out_len);
    return rc == 1 ? 1 : rc == ZA_ENOMEM ? rc : 0; /* not one value: raw bytes, as they are */
}

int za__grainref_in(za_system *s, const void *data, size_t len, void **out, size_t *out_len) {
    return rewrite(s, data, len, ext_in, out, out_len);
}
