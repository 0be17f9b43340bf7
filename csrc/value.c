/*
 * MessagePack values: a growable writer over msgpack-c's sbuffer/packer, and
 * a decoder that turns msgpack-c's object tree into the public za_value tree.
 * All framing is msgpack-c's; this file only maps between the two models and
 * turns every failure into a za_err with text, because payloads come from
 * other actors and bindings and must never be able to crash the runtime.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "err.h"
#include "utf8.h"

/* Bounds recursion over za_value trees (decoding, and packing a tree built by
 * the caller, which might even be cyclic), so no input can exhaust the stack. */
#define MAX_DEPTH 128

/* libmsgpackc refuses deeper nesting with MSGPACK_UNPACK_NOMEM_ERROR; the
 * limit (MSGPACK_EMBED_STACK_SIZE) is compiled into the library, not settable
 * here, and only used to make the error text say what most likely happened. */
#define MSGPACK_C_MAX_NESTING 32

struct za_pack {
    uint64_t sysid; /* za_system_id of the System refs are written for; 0: unbound */
    msgpack_sbuffer sb;
    msgpack_packer pk; /* writes into sb, so the pair must not move: heap only */
};

struct za_doc {
    msgpack_unpacked up; /* its zone holds msgpack's objects and our za_value arrays */
    za_value root;
    /* msgpack_unpack_next points str/bin/ext objects into the buffer it
     * parses, and the caller's bytes (often a message payload) do not outlive
     * the receive call, so the document parses its own copy. */
    char bytes[];
};

/* ------------------------------------------------------------------ writer */

static int no_writer(const char *fn) {
    return za__fail(ZA_EINVAL, "%s: writer is NULL", fn);
}

/* msgpack-c's only failure on an sbuffer is a failed realloc. */
static int mp(int r) {
    return r ? za__fail(ZA_ENOMEM, "out of memory while packing MessagePack") : ZA_OK;
}

/* A value written with several appends (header, then body) that fails half
 * way would leave a header without its body and corrupt everything packed
 * after it, so failed calls cut the buffer back to where they started. */
static int finish(za_pack *p, size_t mark, int rc) {
    if (rc != ZA_OK) p->sb.size = mark;
    return rc;
}

za_pack *za_pack_new(void) {
    za_pack *p = malloc(sizeof *p);
    if (!p) {
        za__fail(ZA_ENOMEM, "za_pack_new: out of memory");
        return NULL;
    }
    p->sysid = 0;
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
    return p;
}

void za_pack_free(za_pack *p) {
    if (!p) return;
    msgpack_sbuffer_destroy(&p->sb);
    free(p);
}

void za_pack_reset(za_pack *p) {
    /* Keeps the allocation: writers are typically reused for many messages. */
    if (p) msgpack_sbuffer_clear(&p->sb);
}

const void *za_pack_data(const za_pack *p) {
    return p ? p->sb.data : NULL;
}

size_t za_pack_size(const za_pack *p) {
    return p ? p->sb.size : 0;
}

static int put_raw(za_pack *p, int bin, const void *b, size_t len) {
    const char *what = bin ? "bin" : "str";
    if (!b && len) return za__fail(ZA_EINVAL, "%s is NULL but its length is %zu", what, len);
    /* msgpack-c would silently truncate the 32-bit length field. */
    if ((uint64_t)len > UINT32_MAX)
        return za__fail(ZA_EVALUE, "%s of %zu bytes exceeds the MessagePack limit of 2^32-1", what,
                        len);
    if (bin) {
        int rc = mp(msgpack_pack_bin(&p->pk, len));
        return rc ? rc : mp(msgpack_pack_bin_body(&p->pk, b, len));
    }
    int rc = mp(msgpack_pack_str(&p->pk, len));
    return rc ? rc : mp(msgpack_pack_str_body(&p->pk, b, len));
}

/* An actor reference: ext ZA_MP_EXT_REF of 16 bytes, the identity of its
 * System (za_system_id) then the ref, both big-endian; or, written by an
 * unbound writer (sysid 0), the older 8-byte form with the ref alone, which
 * every decoder takes as a ref of its own System. */
static int put_ref(za_pack *p, uint64_t sysid, za_ref r) {
    unsigned char be[16];
    size_t n = 0;
    if (sysid)
        for (int i = 0; i < 8; i++) be[n++] = (unsigned char)(sysid >> (56 - 8 * i));
    for (int i = 0; i < 8; i++) be[n++] = (unsigned char)(r >> (56 - 8 * i));
    int rc = mp(msgpack_pack_ext(&p->pk, n, ZA_MP_EXT_REF));
    return rc ? rc : mp(msgpack_pack_ext_body(&p->pk, be, n));
}

void za_pack_bind(za_pack *p, za_system *sys) {
    if (p) p->sysid = sys ? za_system_id(sys) : 0;
}

int za_pack_nil(za_pack *p) {
    return p ? mp(msgpack_pack_nil(&p->pk)) : no_writer(__func__);
}

int za_pack_bool(za_pack *p, int v) {
    if (!p) return no_writer(__func__);
    return mp(v ? msgpack_pack_true(&p->pk) : msgpack_pack_false(&p->pk));
}

int za_pack_int(za_pack *p, int64_t v) {
    return p ? mp(msgpack_pack_int64(&p->pk, v)) : no_writer(__func__);
}

int za_pack_uint(za_pack *p, uint64_t v) {
    return p ? mp(msgpack_pack_uint64(&p->pk, v)) : no_writer(__func__);
}

int za_pack_double(za_pack *p, double v) {
    return p ? mp(msgpack_pack_double(&p->pk, v)) : no_writer(__func__);
}

int za_pack_str(za_pack *p, const char *s, size_t len) {
    if (!p) return no_writer(__func__);
    size_t mark = p->sb.size;
    return finish(p, mark, put_raw(p, 0, s, len));
}

int za_pack_bin(za_pack *p, const void *b, size_t len) {
    if (!p) return no_writer(__func__);
    size_t mark = p->sb.size;
    return finish(p, mark, put_raw(p, 1, b, len));
}

int za_pack_array(za_pack *p, uint32_t n) {
    return p ? mp(msgpack_pack_array(&p->pk, n)) : no_writer(__func__);
}

int za_pack_map(za_pack *p, uint32_t n) {
    return p ? mp(msgpack_pack_map(&p->pk, n)) : no_writer(__func__);
}

int za_pack_ref(za_pack *p, za_ref r) {
    if (!p) return no_writer(__func__);
    size_t mark = p->sb.size;
    return finish(p, mark, put_ref(p, p->sysid, r));
}

int za_pack_ref_in(za_pack *p, za_system *sys, za_ref r) {
    if (!p) return no_writer(__func__);
    if (!sys) return za__fail(ZA_EINVAL, "za_pack_ref_in: system is NULL");
    size_t mark = p->sb.size;
    return finish(p, mark, put_ref(p, za_system_id(sys), r));
}

static int put_tree(za_pack *p, const za_value *v, int depth) {
    switch (v->type) {
    case ZA_V_NIL:
        return mp(msgpack_pack_nil(&p->pk));
    case ZA_V_BOOL:
        return mp(v->v.b ? msgpack_pack_true(&p->pk) : msgpack_pack_false(&p->pk));
    case ZA_V_INT:
        return mp(msgpack_pack_int64(&p->pk, v->v.i));
    case ZA_V_UINT:
        return mp(msgpack_pack_uint64(&p->pk, v->v.u));
    case ZA_V_DOUBLE:
        return mp(msgpack_pack_double(&p->pk, v->v.d));
    case ZA_V_STR:
    case ZA_V_BIN:
        if (!v->v.str.ptr && v->v.str.len)
            return za__fail(ZA_EVALUE, "za_pack_value: str/bin of %u bytes has a NULL pointer",
                            v->v.str.len);
        return put_raw(p, v->type == ZA_V_BIN, v->v.str.ptr, v->v.str.len);
    case ZA_V_REF:
        return put_ref(p, p->sysid, v->v.ref);
    case ZA_V_ARRAY:
    case ZA_V_MAP:
        break;
    default:
        return za__fail(ZA_EVALUE, "za_pack_value: unknown value type %d", (int)v->type);
    }
    if (depth >= MAX_DEPTH)
        return za__fail(ZA_EVALUE, "za_pack_value: tree nested deeper than %d levels (or cyclic)",
                        MAX_DEPTH);
    if (v->type == ZA_V_ARRAY) {
        uint32_t n = v->v.array.n;
        if (n && !v->v.array.items)
            return za__fail(ZA_EVALUE, "za_pack_value: array of %u items has NULL items", n);
        int rc = mp(msgpack_pack_array(&p->pk, n));
        for (uint32_t i = 0; rc == ZA_OK && i < n; i++)
            rc = put_tree(p, &v->v.array.items[i], depth + 1);
        return rc;
    }
    uint32_t n = v->v.map.n;
    if (n && (!v->v.map.keys || !v->v.map.vals))
        return za__fail(ZA_EVALUE, "za_pack_value: map of %u pairs has NULL keys or vals", n);
    int rc = mp(msgpack_pack_map(&p->pk, n));
    for (uint32_t i = 0; rc == ZA_OK && i < n; i++) {
        rc = put_tree(p, &v->v.map.keys[i], depth + 1);
        if (rc == ZA_OK) rc = put_tree(p, &v->v.map.vals[i], depth + 1);
    }
    return rc;
}

int za_pack_value(za_pack *p, const za_value *v) {
    if (!p) return no_writer(__func__);
    if (!v) return za__fail(ZA_EINVAL, "za_pack_value: value is NULL");
    /* All or nothing: a tree rejected half way must not leave its prefix. */
    size_t mark = p->sb.size;
    return finish(p, mark, put_tree(p, v, 0));
}

int za_tell_pack(za_system *sys, za_ref to, int32_t tag, const za_pack *p) {
    if (!p) return no_writer(__func__);
    return za_tell(sys, to, tag, za_pack_data(p), za_pack_size(p));
}

/* ----------------------------------------------------------------- reading */

/* Zero-length str/bin get a real pointer so callers may pass it to memcpy
 * and friends without a special case. */
static const char *raw_ptr(const char *ptr, uint32_t len) {
    return len ? ptr : "";
}

static za_value *new_values(msgpack_zone *z, uint32_t n) {
    size_t bytes = (size_t)n * sizeof(za_value);
    if (bytes / sizeof(za_value) != n) return NULL; /* only possible with a 32-bit size_t */
    return msgpack_zone_malloc(z, bytes);
}

/* sysid: the decoding System's identity, refs of any other are refused;
 * 0 accepts every ref (za_doc_decode). */
static int convert(msgpack_zone *z, uint64_t sysid, const msgpack_object *o, za_value *out,
                   int depth) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        out->type = ZA_V_NIL;
        return ZA_OK;
    case MSGPACK_OBJECT_BOOLEAN:
        out->type = ZA_V_BOOL;
        out->v.b = o->via.boolean ? 1 : 0;
        return ZA_OK;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 <= INT64_MAX) {
            out->type = ZA_V_INT;
            out->v.i = (int64_t)o->via.u64;
        } else {
            out->type = ZA_V_UINT;
            out->v.u = o->via.u64;
        }
        return ZA_OK;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        out->type = ZA_V_INT;
        out->v.i = o->via.i64;
        return ZA_OK;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        out->type = ZA_V_DOUBLE;
        out->v.d = o->via.f64;
        return ZA_OK;
    case MSGPACK_OBJECT_STR:
        /* MessagePack's str is UTF-8, and every binding maps it to text: a
         * str that is not (a2 ff fe, found by tests/fuzz) became a Lua
         * string that went back out as bin, and a Python str with
         * surrogate escapes that zactor.pack refused. Refused here, a str
         * is always text in every language (bytes travel as bin). */
        if (!za__utf8_valid(o->via.str.ptr, o->via.str.size))
            return za__fail(ZA_EVALUE,
                            "bad MessagePack: str is not valid UTF-8 (%u bytes; send "
                            "bytes as bin)",
                            (unsigned)o->via.str.size);
        out->type = ZA_V_STR;
        out->v.str.ptr = raw_ptr(o->via.str.ptr, o->via.str.size);
        out->v.str.len = o->via.str.size;
        return ZA_OK;
    case MSGPACK_OBJECT_BIN:
        out->type = ZA_V_BIN;
        out->v.str.ptr = raw_ptr(o->via.bin.ptr, o->via.bin.size);
        out->v.str.len = o->via.bin.size;
        return ZA_OK;
    case MSGPACK_OBJECT_EXT: {
        if (o->via.ext.type != ZA_MP_EXT_REF)
            return za__fail(ZA_EVALUE,
                            "unsupported MessagePack ext type %d (only %d, an actor reference)",
                            (int)o->via.ext.type, ZA_MP_EXT_REF);
        if (o->via.ext.size != 8 && o->via.ext.size != 16)
            return za__fail(ZA_EVALUE, "actor reference ext has %u bytes, expected 16 (or 8)",
                            (unsigned)o->via.ext.size);
        const unsigned char *b = (const unsigned char *)o->via.ext.ptr;
        uint64_t origin = 0;
        if (o->via.ext.size == 16) {
            for (int i = 0; i < 8; i++) origin = (origin << 8) | b[i];
            b += 8;
        }
        za_ref r = 0;
        for (int i = 0; i < 8; i++) r = (r << 8) | b[i];
        if (sysid && origin && origin != sysid)
            return za__fail(ZA_EVALUE,
                            "foreign actor reference: ref %016llx belongs to another System "
                            "(identity %016llx, this one is %016llx)",
                            (unsigned long long)r, (unsigned long long)origin,
                            (unsigned long long)sysid);
        out->type = ZA_V_REF;
        out->v.refx.ref = r;
        out->v.refx.system = origin;
        return ZA_OK;
    }
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        break;
    default:
        return za__fail(ZA_EVALUE, "unsupported MessagePack object type %d", (int)o->type);
    }
    if (depth >= MAX_DEPTH)
        return za__fail(ZA_EVALUE, "MessagePack value nested deeper than %d levels", MAX_DEPTH);
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        uint32_t n = o->via.array.size;
        za_value *items = NULL;
        if (n && !(items = new_values(z, n)))
            return za__fail(ZA_ENOMEM, "out of memory decoding an array of %u items", n);
        for (uint32_t i = 0; i < n; i++) {
            int rc = convert(z, sysid, &o->via.array.ptr[i], &items[i], depth + 1);
            if (rc != ZA_OK) return rc;
        }
        out->type = ZA_V_ARRAY;
        out->v.array.items = items;
        out->v.array.n = n;
        return ZA_OK;
    }
    uint32_t n = o->via.map.size;
    za_value *kv = NULL;
    /* One block, keys then values, halves the zone allocations. */
    if (n && (n > UINT32_MAX / 2 || !(kv = new_values(z, 2 * n))))
        return za__fail(ZA_ENOMEM, "out of memory decoding a map of %u pairs", n);
    for (uint32_t i = 0; i < n; i++) {
        int rc = convert(z, sysid, &o->via.map.ptr[i].key, &kv[i], depth + 1);
        if (rc == ZA_OK) rc = convert(z, sysid, &o->via.map.ptr[i].val, &kv[n + i], depth + 1);
        if (rc != ZA_OK) return rc;
    }
    out->type = ZA_V_MAP;
    out->v.map.keys = kv;
    out->v.map.vals = kv ? kv + n : NULL;
    out->v.map.n = n;
    return ZA_OK;
}

/* Big-endian unsigned of k bytes at p. */
static uint64_t be(const unsigned char *p, int k) {
    uint64_t v = 0;
    for (int i = 0; i < k; i++) v = (v << 8) | p[i];
    return v;
}

/*
 * msgpack-c allocates count * sizeof(msgpack_object) for a container as soon
 * as it reads the header, before it knows the elements are there: the 6
 * bytes dd 10 00 00 00 c0 (an array32 of 268M elements, one nil) reserved
 * 8 GiB (found by tests/fuzz). So walk the headers first and refuse a
 * container whose elements cannot fit in the bytes left: every element
 * takes at least one byte, a map entry two. `pending` counts the elements
 * declared and not yet read across all open containers, so the total
 * msgpack-c may allocate stays proportional to the input, not to the
 * number of containers times the input. Anything else wrong (a bad byte, a
 * truncated header, nesting past msgpack-c's stack) is left to msgpack-c's
 * own diagnosis, which comes at the same point of the input.
 */
#define WALK_DEPTH MSGPACK_C_MAX_NESTING
static int check_counts(const unsigned char *b, size_t len) {
    uint64_t left[WALK_DEPTH + 1]; /* elements still to read, per open container */
    int top = 0;
    left[0] = 1; /* the root */
    uint64_t pending = 1;
    size_t pos = 0;
    while (pos < len) {
        while (top >= 0 && left[top] == 0) top--;
        if (top < 0) break;
        left[top]--;
        pending--;
        unsigned c = b[pos];
        uint64_t n = 0, skip = 0; /* n: elements it declares; skip: payload bytes */
        size_t hdr = 1;
        int lenb = 0; /* bytes of a length field after the type (and ext type) byte */
        bool map = false;
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        } else if (c <= 0x8f) {
            n = 2u * (c & 0x0fu), map = true;
        } else if (c <= 0x9f) {
            n = c & 0x0fu;
        } else if (c <= 0xbf) {
            skip = c & 0x1fu;
        } else {
            switch (c) {
            case 0xc4:
            case 0xd9:
                lenb = 1;
                break; /* bin8, str8 */
            case 0xc5:
            case 0xda:
                lenb = 2;
                break; /* bin16, str16 */
            case 0xc6:
            case 0xdb:
                lenb = 4;
                break; /* bin32, str32 */
            case 0xc7:
                lenb = 1;
                skip = 1;
                break; /* ext8: length, then type */
            case 0xc8:
                lenb = 2;
                skip = 1;
                break;
            case 0xc9:
                lenb = 4;
                skip = 1;
                break;
            case 0xca:
                skip = 4;
                break; /* float32 */
            case 0xcb:
                skip = 8;
                break; /* float64 */
            case 0xcc:
            case 0xd0:
                skip = 1;
                break; /* (u)int8 */
            case 0xcd:
            case 0xd1:
                skip = 2;
                break;
            case 0xce:
            case 0xd2:
                skip = 4;
                break;
            case 0xcf:
            case 0xd3:
                skip = 8;
                break;
            case 0xd4:
                skip = 2;
                break; /* fixext1: type + 1 byte */
            case 0xd5:
                skip = 3;
                break;
            case 0xd6:
                skip = 5;
                break;
            case 0xd7:
                skip = 9;
                break;
            case 0xd8:
                skip = 17;
                break;
            case 0xdc:
            case 0xdd:
            case 0xde:
            case 0xdf: { /* array16/32, map16/32 */
                int k = (c == 0xdc || c == 0xde) ? 2 : 4;
                if (len - pos < 1u + (size_t)k) return ZA_OK; /* truncated */
                map = c >= 0xde;
                n = be(b + pos + 1, k) * (map ? 2u : 1u);
                hdr = 1u + (size_t)k;
                break;
            }
            default: /* 0xc1: never used */
                return ZA_OK;
            }
        }
        if (lenb) {
            if (len - pos < hdr + (size_t)lenb) return ZA_OK;
            skip += be(b + pos + 1, lenb);
            hdr += (size_t)lenb;
        }
        if (len - pos < hdr) return ZA_OK;
        size_t at = pos;
        pos += hdr;
        if (skip > len - pos) return ZA_OK; /* truncated payload */
        pos += (size_t)skip;
        if (!n) continue;
        if (pending + n > len - pos)
            return za__fail(ZA_EVALUE,
                            "truncated MessagePack value: the %s at byte %zu declares %llu %s "
                            "but only %zu bytes follow (each takes at least one)",
                            map ? "map" : "array", at, (unsigned long long)(map ? n / 2 : n),
                            map ? "entries" : "elements", len - pos);
        if (top == WALK_DEPTH) return ZA_OK; /* msgpack-c refuses this nesting */
        left[++top] = n;
        pending += n;
    }
    return ZA_OK;
}

static int unpack(za_doc *d, uint64_t sysid, size_t len) {
    int rc = check_counts((const unsigned char *)d->bytes, len);
    if (rc != ZA_OK) return rc;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&d->up, d->bytes, len, &off);
    switch (r) {
    case MSGPACK_UNPACK_SUCCESS:
    case MSGPACK_UNPACK_EXTRA_BYTES:
        if (off != len)
            return za__fail(
                ZA_EVALUE, "trailing bytes after the MessagePack value: it ends at byte %zu of %zu",
                off, len);
        return convert(d->up.zone, sysid, &d->up.data, &d->root, 0);
    case MSGPACK_UNPACK_CONTINUE:
        return za__fail(ZA_EVALUE, "truncated MessagePack value: %zu bytes are not a whole value",
                        len);
    case MSGPACK_UNPACK_PARSE_ERROR:
        return za__fail(ZA_EVALUE, "malformed MessagePack: invalid byte 0x%02x at offset %zu",
                        off < len ? (unsigned char)d->bytes[off] : 0u, off);
    case MSGPACK_UNPACK_NOMEM_ERROR:
        /* msgpack-c reports excessive nesting, container counts too large to
         * allocate (hostile or truncated input) and real exhaustion alike;
         * the first two are by far the likely ones for a payload. */
        return za__fail(ZA_EVALUE,
                        "cannot decode MessagePack near byte %zu: nested deeper than %d levels, a "
                        "container too large, or out of memory",
                        off, MSGPACK_C_MAX_NESTING);
    }
    return za__fail(ZA_EVALUE, "MessagePack decoder returned unexpected status %d", (int)r);
}

static int doc_decode(uint64_t sysid, const void *data, size_t len, za_doc **out) {
    if (!out) return za__fail(ZA_EINVAL, "za_doc_decode: out is NULL");
    *out = NULL;
    /* (NULL, 0) is how an empty message payload arrives, so it is an empty
     * value rather than a bad argument. */
    if (!data && len) return za__fail(ZA_EINVAL, "za_doc_decode: data is NULL but len is %zu", len);
    if (len == 0) return za__fail(ZA_EVALUE, "cannot decode MessagePack from empty input");
    if (len > SIZE_MAX - sizeof(za_doc))
        return za__fail(ZA_ENOMEM, "za_doc_decode: input too large");
    za_doc *d = malloc(sizeof *d + len);
    if (!d) return za__fail(ZA_ENOMEM, "za_doc_decode: out of memory for %zu bytes", len);
    memcpy(d->bytes, data, len);
    msgpack_unpacked_init(&d->up);
    int rc = unpack(d, sysid, len);
    if (rc != ZA_OK) {
        za_doc_free(d);
        return rc;
    }
    *out = d;
    return ZA_OK;
}

int za_doc_decode(const void *data, size_t len, za_doc **out) {
    return doc_decode(0, data, len, out);
}

int za_doc_decode_in(za_system *sys, const void *data, size_t len, za_doc **out) {
    if (!sys) {
        if (out) *out = NULL;
        return za__fail(ZA_EINVAL, "za_doc_decode_in: system is NULL");
    }
    return doc_decode(za_system_id(sys), data, len, out);
}

const za_value *za_doc_root(const za_doc *d) {
    return d ? &d->root : NULL;
}

void za_doc_free(za_doc *d) {
    if (!d) return;
    msgpack_unpacked_destroy(&d->up);
    free(d);
}
