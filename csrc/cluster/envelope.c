/*
 * The envelope codec (see envelope.h). Decoding checks every field's type
 * and range: a frame from the network is untrusted input, and anything
 * that does not fit is reported as ZA_EVALUE, never a crash.
 */
#include "envelope.h"

int za__env_pack_header(msgpack_sbuffer *sb, uint32_t node, uint64_t epoch, const char *endpoint) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t n = strlen(endpoint);
    if (msgpack_pack_array(&pk, 4) || msgpack_pack_uint32(&pk, ZA_ENV_VERSION) ||
        msgpack_pack_uint32(&pk, node) || msgpack_pack_uint64(&pk, epoch) ||
        msgpack_pack_str(&pk, n) || msgpack_pack_str_body(&pk, endpoint, n))
        return ZA_ENOMEM;
    return ZA_OK;
}

int za__env_pack(msgpack_sbuffer *sb, const za_env *e) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    bool grain = e->kind == ZA_ENV_GRAIN;
    uint32_t n = 7 + (grain ? 2 : 0) + (e->flags ? 1 : 0) + (e->trace ? 1 : 0);
    if (msgpack_pack_array(&pk, n) || msgpack_pack_int(&pk, e->kind) ||
        msgpack_pack_uint64(&pk, e->target) || msgpack_pack_uint64(&pk, e->sender) ||
        msgpack_pack_int32(&pk, e->tag) || msgpack_pack_uint64(&pk, e->corr) ||
        msgpack_pack_int32(&pk, e->status) || msgpack_pack_bin(&pk, e->len) ||
        msgpack_pack_bin_body(&pk, e->data, e->len))
        return ZA_ENOMEM;
    if (grain &&
        (msgpack_pack_str(&pk, e->gtype_len) ||
         msgpack_pack_str_body(&pk, e->gtype, e->gtype_len) || msgpack_pack_str(&pk, e->gkey_len) ||
         msgpack_pack_str_body(&pk, e->gkey, e->gkey_len)))
        return ZA_ENOMEM;
    /* the optional trailing fields, told apart by type: flags, then trace */
    if (e->flags && msgpack_pack_uint32(&pk, e->flags)) return ZA_ENOMEM;
    if (e->trace && (msgpack_pack_bin(&pk, sizeof *e->trace) ||
                     msgpack_pack_bin_body(&pk, e->trace, sizeof *e->trace)))
        return ZA_ENOMEM;
    return ZA_OK;
}

void za__env_reader_init(za_env_reader *r, const void *buf, size_t len) {
    r->buf = buf;
    r->len = len;
    r->off = 0;
    msgpack_unpacked_init(&r->un);
}

void za__env_reader_done(za_env_reader *r) {
    msgpack_unpacked_destroy(&r->un);
}

/* The next object: 1, 0 at the clean end, ZA_EVALUE if malformed. */
static int next_obj(za_env_reader *r) {
    if (r->off >= r->len) return 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&r->un, r->buf, r->len, &r->off);
    return ret == MSGPACK_UNPACK_SUCCESS ? 1 : ZA_EVALUE;
}

static bool get_u64(const msgpack_object *o, uint64_t *v) {
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return false;
    *v = o->via.u64;
    return true;
}

static bool get_i64(const msgpack_object *o, int64_t *v) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX) return false;
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    return false;
}

int za__env_read_header(za_env_reader *r, za_env_header *out) {
    int rc = next_obj(r);
    if (rc != 1) return ZA_EVALUE;
    const msgpack_object *o = &r->un.data;
    uint64_t ver, node, epoch;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4) return ZA_EVALUE;
    const msgpack_object *a = o->via.array.ptr;
    if (!get_u64(&a[0], &ver) || ver != ZA_ENV_VERSION || !get_u64(&a[1], &node) || node == 0 ||
        node > ZA_NODE_MAX || !get_u64(&a[2], &epoch) || a[3].type != MSGPACK_OBJECT_STR ||
        a[3].via.str.size == 0 || a[3].via.str.size >= sizeof(((za_node_info *)0)->endpoint))
        return ZA_EVALUE;
    out->node = (uint32_t)node;
    out->epoch = epoch;
    out->endpoint = a[3].via.str.ptr;
    out->endpoint_len = a[3].via.str.size;
    return ZA_OK;
}

int za__env_read(za_env_reader *r, za_env *out) {
    int rc = next_obj(r);
    if (rc != 1) return rc;
    const msgpack_object *o = &r->un.data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 7 || o->via.array.size > 11)
        return ZA_EVALUE;
    uint32_t size = o->via.array.size;
    const msgpack_object *a = o->via.array.ptr;
    int64_t kind, tag, status;
    uint64_t target, sender, corr;
    if (!get_i64(&a[0], &kind) || kind < ZA_ENV_PING || kind > ZA_ENV_GRAIN ||
        !get_u64(&a[1], &target) || !get_u64(&a[2], &sender) || !get_i64(&a[3], &tag) ||
        tag < INT32_MIN || tag > INT32_MAX || !get_u64(&a[4], &corr) || !get_i64(&a[5], &status) ||
        status < INT16_MIN || status > INT16_MAX || a[6].type != MSGPACK_OBJECT_BIN)
        return ZA_EVALUE;
    out->kind = (int)kind;
    out->target = target;
    out->sender = sender;
    out->tag = (int32_t)tag;
    out->corr = corr;
    out->status = (int32_t)status;
    out->data = a[6].via.bin.size ? a[6].via.bin.ptr : NULL;
    out->len = a[6].via.bin.size;
    out->gtype = out->gkey = NULL;
    out->gtype_len = out->gkey_len = 0;
    out->flags = 0;
    out->trace = NULL;
    uint32_t i = 7;
    if (kind == ZA_ENV_GRAIN) {
        /* type 0..255 bytes, key 1..1024 (the grain API's limits) */
        if (size < 9 || a[7].type != MSGPACK_OBJECT_STR || a[7].via.str.size > 255 ||
            a[8].type != MSGPACK_OBJECT_STR || a[8].via.str.size == 0 || a[8].via.str.size > 1024)
            return ZA_EVALUE;
        out->gtype = a[7].via.str.ptr;
        out->gtype_len = a[7].via.str.size;
        out->gkey = a[8].via.str.ptr;
        out->gkey_len = a[8].via.str.size;
        i = 9;
    }
    if (i < size && a[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER) { /* the flags */
        uint64_t f;
        if (!get_u64(&a[i], &f) || f == 0 || f > ZA_ENV_F_GRAINREFS) return ZA_EVALUE;
        out->flags = (uint32_t)f;
        i++;
    }
    if (i < size) { /* the trace context */
        /* za_trace is bytes only (alignment 1): it can point into the frame */
        if (a[i].type != MSGPACK_OBJECT_BIN || a[i].via.bin.size != sizeof(za_trace))
            return ZA_EVALUE;
        out->trace = (const za_trace *)(const void *)a[i].via.bin.ptr;
        i++;
    }
    if (i != size) return ZA_EVALUE;
    return 1;
}
