/*
 * A native counter behaviour for the Python and Lua tests, built as a shared object
 * and loaded with zactor.native. Messages are MessagePack: ["add", n] adds,
 * ["get"] replies with the sum, ["boom"] fails. start's argument: [initial].
 */
#include <string.h>
#include <zactor.h>

typedef struct {
    int64_t n;
} counter;

static int is_op(const za_value *v, const char *op) {
    if (v->type != ZA_V_ARRAY || v->v.array.n < 1) return 0;
    const za_value *s = &v->v.array.items[0];
    return s->type == ZA_V_STR && s->v.str.len == strlen(op) &&
           !memcmp(s->v.str.ptr, op, s->v.str.len);
}

static int start(za_ctx *ctx, const void *args, size_t len) {
    counter *c = za_ctx_state(ctx);
    za_doc *d;
    if (len && za_doc_decode(args, len, &d) == ZA_OK) {
        const za_value *r = za_doc_root(d);
        if (r->type == ZA_V_ARRAY && r->v.array.n && r->v.array.items[0].type == ZA_V_INT)
            c->n = r->v.array.items[0].v.i;
        za_doc_free(d);
    }
    return 0;
}

static int receive(za_ctx *ctx, const za_msg *m) {
    counter *c = za_ctx_state(ctx);
    za_doc *d;
    if (m->tag < 0) return 0;
    if (za_doc_decode(m->data, m->len, &d) != ZA_OK) return 0;
    const za_value *v = za_doc_root(d);
    int rc = 0;
    if (is_op(v, "add") && v->v.array.n > 1 && v->v.array.items[1].type == ZA_V_INT) {
        c->n += v->v.array.items[1].v.i;
    } else if (is_op(v, "get")) {
        za_pack *p = za_pack_new();
        za_pack_int(p, c->n);
        za_reply(ctx, 0, za_pack_data(p), za_pack_size(p));
        za_pack_free(p);
    } else if (is_op(v, "boom")) {
        za_ctx_fail(ctx, ZA_EFAILED, "native boom");
        rc = -1;
    }
    za_doc_free(d);
    return rc;
}

const za_behaviour counter_behaviour = {ZA_BEHAVIOUR_INIT, .name = "native-counter",
                                        .state_size = sizeof(counter), .start = start,
                                        .receive = receive};
