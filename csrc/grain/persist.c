/*
 * persist.c - what an activation reads and writes: the state loaded at
 * activation, and saves / clears / journal appends / snapshots.
 *
 * Every write is conditional (write-if-version, append-if-sequence) and
 * carries the lease token as its fence. Writes are pipelined: each submit
 * expects the version the previous in-flight one will produce, so a grain
 * need not wait for one save to complete before the next; the storage
 * threads run one key's requests in submission order. If one fails with
 * ZA_ECONFLICT, the ones behind it fail too (their expected version never
 * came to be) and the activation is deactivated: its view of the state is
 * stale, the next activation reads the stored one.
 *
 * Completion is a message to the activation actor itself (not through the
 * directory: it must reach this activation even while it deactivates) with
 * the caller's tag, kind PTR holding the za_store_result, status and corr
 * as for za_ctx_store.
 */
#include <stdlib.h>
#include <string.h>

#include "deadletter.h"
#include "grain/directory.h"
#include "grain/grain.h"
#include "send.h"
#include "system.h"

/* ----------------------------------------------------------- snapshots */

int za__gsnap_parse(const void *data, size_t len, uint64_t *seq, size_t *off) {
    const uint8_t *p = data;
    if (!p || len < 3 || p[0] != 0x92) return ZA_EVALUE;
    uint8_t t = p[1];
    size_t n;
    uint64_t v = 0;
    if (t < 0x80) {
        v = t;
        n = 0;
    } else if (t == 0xcc) {
        n = 1;
    } else if (t == 0xcd) {
        n = 2;
    } else if (t == 0xce) {
        n = 4;
    } else if (t == 0xcf) {
        n = 8;
    } else {
        return ZA_EVALUE;
    }
    if (len < 2 + n + 1) return ZA_EVALUE;
    for (size_t i = 0; i < n; i++) v = (v << 8) | p[2 + i];
    *seq = v;
    *off = 2 + n;
    return ZA_OK;
}

/* [seq, state] with seq as a uint64 (0xcf): fixed-size header. */
static void *snap_encode(uint64_t seq, const void *state, size_t len, size_t *out_len) {
    uint8_t *b = malloc(10 + len);
    if (!b) return NULL;
    b[0] = 0x92;
    b[1] = 0xcf;
    for (int i = 0; i < 8; i++) b[2 + i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(b + 10, state, len);
    *out_len = 10 + len;
    return b;
}

/* ------------------------------------------------------------ the ctx */

static za_gact *act_of(za_ctx *ctx) {
    if (!ctx || !(ctx->a->flags & ZA_AF_GRAIN) || !ctx->a->ext) return NULL;
    return ctx->a->ext->grain_act;
}

static int not_grain(za_ctx *ctx) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    return za__fail(ZA_ESTATE, "the calling actor is not a grain activation");
}

int za_ctx_grain(za_ctx *ctx, za_ref *grain) {
    za_gact *ad = act_of(ctx);
    if (!ad) return 0;
    if (grain) *grain = ad->e->ref;
    return 1;
}

int za_ctx_grain_state(za_ctx *ctx, const void **data, size_t *len, uint64_t *version) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    if (data) *data = ad->state_len ? ad->state : NULL;
    if (len) *len = ad->state_len;
    if (version) *version = ad->version;
    return ZA_OK;
}

int za_ctx_grain_events(za_ctx *ctx, const za_store_event **events, size_t *n, uint64_t *seq) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    if (!ad->e->cls->journaled)
        return za__fail(ZA_ESTATE, "grain type '%s' is not journaled", ad->e->cls->type);
    if (events) *events = ad->events;
    if (n) *n = ad->nevents;
    if (seq) *seq = ad->highest;
    return ZA_OK;
}

int za_ctx_grain_defer(za_ctx *ctx) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    if (!ctx->cur || !(ctx->cur->flags & ZA_MF_DEACT))
        return za__fail(ZA_ESTATE, "za_ctx_grain_defer is for the receive of ZA_TAG_DEACTIVATE");
    ctx->a->flags &= (uint8_t)~ZA_AF_STOP_REQ;
    return ZA_OK;
}

int za_ctx_grain_deactivate(za_ctx *ctx) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    za_gentry *e = ad->e;
    za_gshard *sh = za__gshard(ctx->sys->grains, e);
    pthread_mutex_lock(&sh->mu);
    if (e->ad == ad) za__gdir_deactivate(ctx->sys, e, "requested");
    pthread_mutex_unlock(&sh->mu);
    return ZA_OK;
}

/* --------------------------------------------------------- completion */

typedef struct gwrite {
    za_system *sys;
    za_gentry *e;
    za_gact *ad; /* a reference: the completion may outlive the activation */
    za_ref act;
    int32_t tag;
    uint64_t corr;
} gwrite;

static void result_dtor(void *p) {
    za_store_result_free(p);
    free(p);
}

static void write_cb(za_store_result *res, void *ud) {
    gwrite *w = ud;
    za_system *s = w->sys;
    za_gentry *e = w->e;
    int status = res->status;
    uint64_t version = res->version;
    za_store_op op = res->op;
    za_store_result *r = malloc(sizeof *r);
    za_msgnode *m = r ? za__msg_new_bytes(w->tag, NULL, 0) : NULL;
    if (m) {
        *r = *res;
        memset(res, 0, sizeof *res);
        m->kind = ZA_PAYLOAD_PTR;
        m->u.p.ptr = r;
        m->u.p.dtor = result_dtor;
        m->flags |= ZA_MF_REPLY;
        m->status = (int16_t)status;
        m->corr = w->corr;
        m->target = w->act;
        m->sender = ZA_REF_NONE;
        /* before a deactivation below: the activation learns why first */
        int rc = za__send_node(s, m, false);
        if (rc != ZA_OK && rc != ZA_EDROPPED) za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
    } else {
        free(r); /* out of memory: nothing can carry the result */
    }
    if (status == ZA_ECONFLICT || status == ZA_EFENCED) {
        int none = 0;
        /* relaxed: the activation reads it on its next write; a write it
         * submits before seeing it fails in the store all the same */
        atomic_compare_exchange_strong_explicit(&w->ad->stale, &none, status, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    atomic_fetch_sub_explicit(&w->ad->inflight, 1, memory_order_relaxed);
    za_gshard *sh = za__gshard(s->grains, e);
    pthread_mutex_lock(&sh->mu);
    if (e->act == w->act) {
        e->last_ns = za__gnow_ns(); /* a completion is activity: idle counts from here */
        if (status == ZA_OK) {
            /* journaled grains report their journal's seq, not the snapshot row's */
            if (op == ZA_STORE_APPEND || (op == ZA_STORE_WRITE && !e->cls->journaled))
                e->version = version;
            else if (op == ZA_STORE_CLEAR && !e->cls->journaled)
                e->version = 0;
        } else if (status == ZA_ECONFLICT || status == ZA_EFENCED) {
            /* its view of the state is stale: the next activation reads the stored one */
            za__gdir_deactivate(s, e,
                                status == ZA_ECONFLICT ? "version conflict" : "fenced: lease lost");
        }
    }
    pthread_mutex_unlock(&sh->mu);
    za__gact_release(w->ad);
    free(w);
}

static int submit(za_ctx *ctx, za_gact *ad, const za_store_req *q, int32_t tag,
                  uint64_t *corr_out) {
    za_system *s = ctx->sys;
    int stale = atomic_load_explicit(&ad->stale, memory_order_relaxed);
    if (stale)
        return za__fail(stale,
                        "grain %s/%s: an earlier write of this activation failed (%s): its state "
                        "is stale and it is being deactivated; nothing written",
                        ad->e->cls->type, ad->e->key, za_strerror(stale));
    gwrite *w = malloc(sizeof *w);
    if (!w) return za__fail(ZA_ENOMEM, "out of memory");
    w->sys = s;
    w->e = ad->e;
    w->ad = ad;
    w->act = ctx->self;
    w->tag = tag;
    /* relaxed: the counter only has to hand out distinct numbers */
    w->corr = atomic_fetch_add_explicit(&s->next_corr, 1, memory_order_relaxed) + 1;
    uint64_t corr = w->corr;
    atomic_fetch_add_explicit(&ad->refs, 1, memory_order_relaxed); /* w's */
    atomic_fetch_add_explicit(&ad->inflight, 1, memory_order_relaxed);
    int rc = za_store_submit(s->grains->store, q, write_cb, w);
    if (rc != ZA_OK) {
        atomic_fetch_sub_explicit(&ad->inflight, 1, memory_order_relaxed);
        za__gact_release(ad);
        free(w);
        return rc;
    }
    if (corr_out) *corr_out = corr;
    return ZA_OK;
}

/* The bytes must be one MessagePack value of the value model: a state
 * another language cannot read is refused here, nothing written. */
static int check_value(za_system *s, const void *data, size_t len, const char *what) {
    if (!data || !len)
        return za__fail(ZA_EINVAL, "%s is empty: pass one MessagePack value (nil is 0xc0)", what);
    if (len > s->cfg.max_payload)
        return za__fail(ZA_ETOOBIG, "%s of %zu bytes exceeds max_payload", what, len);
    za_doc *d;
    int rc = za_doc_decode_in(s, data, len, &d);
    if (rc != ZA_OK)
        return za__fail(ZA_EVALUE, "%s is not a MessagePack value of the value model: %s", what,
                        za_last_error());
    za_doc_free(d);
    return ZA_OK;
}

int za_ctx_grain_save(za_ctx *ctx, const void *data, size_t len, int32_t tag, uint64_t *corr_out) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    int rc = za__user_tag(tag);
    if (rc) return rc;
    if (ad->e->cls->journaled)
        return za__fail(ZA_ESTATE, "grain type '%s' is journaled: persist events (and snapshot)",
                        ad->e->cls->type);
    if ((rc = check_value(ctx->sys, data, len, "state"))) return rc;
    za_store_req q = {.op = ZA_STORE_WRITE,
                      .type = ad->e->cls->type,
                      .id = ad->e->key,
                      .data = data,
                      .len = len,
                      .version = ad->next_version,
                      .fence = ad->token};
    rc = submit(ctx, ad, &q, tag, corr_out);
    if (rc == ZA_OK) ad->next_version++;
    return rc;
}

int za_ctx_grain_clear(za_ctx *ctx, int32_t tag, uint64_t *corr_out) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    int rc = za__user_tag(tag);
    if (rc) return rc;
    bool j = ad->e->cls->journaled;
    /* journaled: clears the snapshot row (the journal keeps its events) */
    za_store_req q = {.op = ZA_STORE_CLEAR,
                      .type = ad->e->cls->type,
                      .id = ad->e->key,
                      .version = j ? ad->next_snap : ad->next_version,
                      .fence = ad->token};
    rc = submit(ctx, ad, &q, tag, corr_out);
    if (rc == ZA_OK) {
        if (j)
            ad->next_snap = 0;
        else
            ad->next_version = 0;
    }
    return rc;
}

int za_ctx_grain_persist(za_ctx *ctx, const void *data, size_t len, int32_t tag,
                         uint64_t *corr_out) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    int rc = za__user_tag(tag);
    if (rc) return rc;
    if (!ad->e->cls->journaled)
        return za__fail(ZA_ESTATE, "grain type '%s' is not journaled: save its state instead",
                        ad->e->cls->type);
    if ((rc = check_value(ctx->sys, data, len, "event"))) return rc;
    za_store_req q = {.op = ZA_STORE_APPEND,
                      .type = ad->e->cls->type,
                      .id = ad->e->key,
                      .data = data,
                      .len = len,
                      .version = ad->next_seq + 1,
                      .fence = ad->token};
    rc = submit(ctx, ad, &q, tag, corr_out);
    if (rc == ZA_OK) ad->next_seq++;
    return rc;
}

int za_ctx_grain_snapshot(za_ctx *ctx, const void *state, size_t len, uint64_t seq, int32_t tag,
                          uint64_t *corr_out) {
    za_gact *ad = act_of(ctx);
    if (!ad) return not_grain(ctx);
    int rc = za__user_tag(tag);
    if (rc) return rc;
    if (!ad->e->cls->journaled)
        return za__fail(ZA_ESTATE, "grain type '%s' is not journaled: save its state instead",
                        ad->e->cls->type);
    if (seq > ad->next_seq)
        return za__fail(ZA_EINVAL, "snapshot at seq %llu is past the last event appended (%llu)",
                        (unsigned long long)seq, (unsigned long long)ad->next_seq);
    if ((rc = check_value(ctx->sys, state, len, "snapshot state"))) return rc;
    size_t blen;
    void *blob = snap_encode(seq, state, len, &blen);
    if (!blob) return za__fail(ZA_ENOMEM, "out of memory");
    za_store_req q = {.op = ZA_STORE_WRITE,
                      .type = ad->e->cls->type,
                      .id = ad->e->key,
                      .data = blob,
                      .len = blen,
                      .version = ad->next_snap,
                      .fence = ad->token};
    rc = submit(ctx, ad, &q, tag, corr_out); /* the store copies the bytes */
    free(blob);
    if (rc == ZA_OK) ad->next_snap++;
    return rc;
}
