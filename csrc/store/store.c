/*
 * store.c - za_store: the storage front end. Requests are validated and
 * copied on the caller's thread, then queued to one storage thread per
 * shard (the key's hash picks it, so one key's requests keep their order);
 * a storage thread takes everything queued for it (up to batch_max) and has
 * its provider run it as one batch, which is how writes from many callers
 * share one commit (group commit). Completions go to a callback, a blocking
 * waiter (za_store_call) or an actor's mailbox (za_store_tell).
 *
 * The queues are a mutex and a condition variable: a storage request costs
 * a database round trip or an fsync, so a lock-free queue would buy nothing
 * here, and the lock is what lets a thread sleep until work arrives.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadletter.h"
#include "err.h"
#include "msgnode.h"
#include "provider.h"
#include "scheduler.h"
#include "send.h"
#include "system.h"

#define MAX_TYPE 255u
#define MAX_ID 1024u
#define MAX_VALUE (256u << 20) /* 256 MiB: below every provider's own cap */
#define MAX_THREADS 64u

typedef struct shard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    za__sop *head, *tail;
    bool closing;
    pthread_t thread;
    bool started;
    void *conn;
    struct za_store *st;
} shard;

struct za_store {
    const za__store_provider *prov;
    void *shared;
    za_store_opts opts;
    uint32_t nshards;
    shard *shards;
    _Atomic bool closing;
};

/* ------------------------------------------------------------- results */

void za__sres_fail(za_store_result *r, int code, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->status = code;
    free(r->error);
    r->error = strdup(buf);
}

int za__sres_set_data(za_store_result *r, const void *data, size_t len) {
    free(r->data);
    r->data = malloc(len ? len : 1);
    if (!r->data) return ZA_ENOMEM;
    if (len) memcpy(r->data, data, len);
    r->len = len;
    return ZA_OK;
}

int za__sres_add_event(za_store_result *r, uint64_t seq, const void *data, size_t len) {
    /* capacity is implicit: 8, then doubled whenever nevents reaches a
     * power of two */
    size_t n = r->nevents;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n ? n * 2 : 8;
        za_store_event *e = realloc(r->events, cap * sizeof *e);
        if (!e) return ZA_ENOMEM;
        r->events = e;
    }
    za_store_event *ev = &r->events[r->nevents];
    ev->data = malloc(len ? len : 1);
    if (!ev->data) return ZA_ENOMEM;
    if (len) memcpy(ev->data, data, len);
    ev->len = len;
    ev->seq = seq;
    r->nevents++;
    return ZA_OK;
}

void za_store_result_free(za_store_result *r) {
    if (!r) return;
    free(r->data);
    for (size_t i = 0; i < r->nevents; i++) free(r->events[i].data);
    free(r->events);
    free(r->error);
    memset(r, 0, sizeof *r);
}

/* -------------------------------------------------------------- options */

void za_store_opts_init(za_store_opts *o) {
    if (o) memset(o, 0, sizeof *o);
}

const char *za_store_scheme(const za_store *st) {
    return st ? st->prov->scheme : "";
}

/* -------------------------------------------------------------- threads */

static void op_free(za__sop *op) {
    za_store_result_free(&op->res);
    free(op->buf);
    free(op);
}

static void *storage_thread(void *arg) {
    shard *sh = arg;
    za_store *st = sh->st;
    uint32_t cap = st->opts.batch_max;
    za__sop *one[1];
    za__sop **batch = malloc(cap * sizeof *batch);
    if (!batch) { /* out of memory: one request per commit still works */
        batch = one;
        cap = 1;
    }
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        while (!sh->head && !sh->closing) pthread_cond_wait(&sh->cv, &sh->mu);
        if (!sh->head) { /* closing and drained */
            pthread_mutex_unlock(&sh->mu);
            break;
        }
        size_t n = 0;
        while (sh->head && n < cap) {
            za__sop *op = sh->head;
            sh->head = op->next;
            op->next = NULL;
            batch[n++] = op;
        }
        if (!sh->head) sh->tail = NULL;
        pthread_mutex_unlock(&sh->mu);
        st->prov->exec(sh->conn, batch, n);
        for (size_t i = 0; i < n; i++) {
            if (batch[i]->cb) batch[i]->cb(&batch[i]->res, batch[i]->ud);
            op_free(batch[i]);
        }
    }
    if (batch != one) free(batch);
    return NULL;
}

/* ----------------------------------------------------------------- open */

static const za__store_provider *provider_for(const char *url) {
    static const struct {
        const char *prefix;
        const za__store_provider *p;
    } table[] = {
        {"sqlite://", &za__store_sqlite},       {"redis://", &za__store_redis},
        {"postgresql://", &za__store_postgres}, {"postgres://", &za__store_postgres},
        {"memory://", &za__store_memory},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strncmp(url, table[i].prefix, strlen(table[i].prefix)) == 0) return table[i].p;
    return NULL;
}

static void store_free(za_store *st) {
    for (uint32_t i = 0; i < st->nshards; i++) {
        shard *sh = &st->shards[i];
        if (sh->started) {
            pthread_mutex_lock(&sh->mu);
            sh->closing = true;
            pthread_cond_signal(&sh->cv);
            pthread_mutex_unlock(&sh->mu);
            pthread_join(sh->thread, NULL);
        }
    }
    for (uint32_t i = 0; i < st->nshards; i++) {
        shard *sh = &st->shards[i];
        if (sh->conn) st->prov->disconnect(sh->conn);
        pthread_mutex_destroy(&sh->mu);
        pthread_cond_destroy(&sh->cv);
    }
    if (st->shared) st->prov->close(st->shared);
    free(st->shards);
    free(st);
}

int za_store_open(const char *url, const za_store_opts *opts, za_store **out) {
    if (!out) return za__fail(ZA_EINVAL, "out is NULL");
    *out = NULL;
    if (!url) return za__fail(ZA_EINVAL, "store URL is NULL");
    const za__store_provider *p = provider_for(url);
    if (!p)
        return za__fail(ZA_EINVAL,
                        "unknown store URL '%.80s': expected sqlite:///path, redis://host:port/db, "
                        "postgresql://... or memory://",
                        url);
    za_store_opts o;
    za_store_opts_init(&o);
    if (opts) o = *opts;
    if (o.threads > MAX_THREADS)
        return za__fail(ZA_EINVAL, "threads = %u: at most %u", o.threads, MAX_THREADS);
    if (!o.threads) o.threads = p->default_threads;
    if (!o.batch_max) o.batch_max = 512;
    if (!o.connect_timeout_ms) o.connect_timeout_ms = 5000;
    za_store *st = calloc(1, sizeof *st);
    if (!st) return za__fail(ZA_ENOMEM, "out of memory");
    st->prov = p;
    st->opts = o;
    st->shards = calloc(o.threads, sizeof *st->shards);
    if (!st->shards) {
        free(st);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    int rc = p->open(url, &o, &st->shared);
    if (rc != ZA_OK) {
        st->shared = NULL;
        store_free(st);
        return rc;
    }
    for (uint32_t i = 0; i < o.threads; i++) {
        shard *sh = &st->shards[i];
        pthread_mutex_init(&sh->mu, NULL);
        pthread_cond_init(&sh->cv, NULL);
        sh->st = st;
        st->nshards = i + 1;
        /* Connect on the caller's thread so that open reports an unreachable
         * server or refused credentials itself. */
        rc = p->connect(st->shared, &o, (int)i, &sh->conn);
        if (rc != ZA_OK) {
            sh->conn = NULL;
            char saved[256];
            snprintf(saved, sizeof saved, "%s", za_last_error());
            store_free(st);
            return za__fail(rc, "%s", saved);
        }
    }
    for (uint32_t i = 0; i < o.threads; i++) {
        shard *sh = &st->shards[i];
        if (pthread_create(&sh->thread, NULL, storage_thread, sh) != 0) {
            store_free(st);
            return za__fail(ZA_ENOMEM, "cannot start a storage thread");
        }
        sh->started = true;
    }
    *out = st;
    return ZA_OK;
}

void za_store_close(za_store *st) {
    if (!st) return;
    atomic_store(&st->closing, true);
    store_free(st); /* each thread drains its queue before it exits */
}

/* --------------------------------------------------------------- submit */

static bool utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else
            return false;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        /* overlong forms, surrogates and values past U+10FFFF */
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static bool is_remind_op(za_store_op op) {
    return op >= ZA__STORE_REMIND_PUT && op <= ZA__STORE_REMIND_LIST;
}

static int check_req(const za_store_req *r, size_t *tl, size_t *il, bool internal) {
    if (!r) return za__fail(ZA_EINVAL, "request is NULL");
    if ((r->op < ZA_STORE_READ || r->op > ZA_STORE_DELETE_TO) && !(internal && is_remind_op(r->op)))
        return za__fail(ZA_EINVAL, "unknown store operation %d", (int)r->op);
    /* the SQL providers keep tokens in signed 64-bit columns */
    if (r->fence > (uint64_t)INT64_MAX)
        return za__fail(ZA_EINVAL, "fencing token %llu out of range (at most 2^63-1)",
                        (unsigned long long)r->fence);
    const char *type = r->type ? r->type : "";
    if (!r->id) return za__fail(ZA_EINVAL, "key id is NULL");
    *tl = strnlen(type, MAX_TYPE + 1);
    *il = strnlen(r->id, MAX_ID + 1);
    if (*tl > MAX_TYPE) return za__fail(ZA_EINVAL, "key type longer than %u bytes", MAX_TYPE);
    if (is_remind_op(r->op)) {
        /* LIST has no key (its cursor is in data); the others carry a
         * packed row, checked by the reminder module that made it */
        if (r->op != ZA__STORE_REMIND_LIST && (*il == 0 || *il > MAX_ID))
            return za__fail(ZA_EINVAL, "key id must be 1..%u bytes", MAX_ID);
        if (r->op != ZA__STORE_REMIND_LIST || r->data) {
            za__remind row;
            if (za__remind_unpack(r->data, r->len, &row) != ZA_OK)
                return za__fail(ZA_EINVAL, "not a packed reminder row");
        }
        return ZA_OK;
    }
    if (*il == 0 || *il > MAX_ID)
        return za__fail(ZA_EINVAL, "key id must be 1..%u bytes (got %s)", MAX_ID,
                        *il ? "more" : "an empty id");
    if (!utf8_ok((const unsigned char *)type, *tl) || !utf8_ok((const unsigned char *)r->id, *il))
        return za__fail(ZA_EINVAL, "key is not valid UTF-8");
    switch (r->op) {
    case ZA_STORE_WRITE:
    case ZA_STORE_APPEND:
        if (!r->data || r->len == 0)
            return za__fail(ZA_EINVAL, "%s needs non-empty bytes",
                            r->op == ZA_STORE_WRITE ? "write" : "append");
        if (r->len > MAX_VALUE)
            return za__fail(ZA_ETOOBIG, "value of %zu bytes: at most %u", r->len, MAX_VALUE);
        if (r->op == ZA_STORE_WRITE && r->version >= (UINT64_MAX >> 1))
            return za__fail(ZA_EINVAL, "expected version %llu out of range",
                            (unsigned long long)r->version);
        if (r->op == ZA_STORE_APPEND && (r->version == 0 || r->version >= (UINT64_MAX >> 1)))
            return za__fail(ZA_EINVAL, "append: sequence numbers start at 1 (got %llu)",
                            (unsigned long long)r->version);
        break;
    case ZA_STORE_CLEAR:
        if (r->version != ZA_STORE_ANY && r->version >= (UINT64_MAX >> 1))
            return za__fail(ZA_EINVAL, "expected version %llu out of range",
                            (unsigned long long)r->version);
        break;
    default:
        break;
    }
    return ZA_OK;
}

static uint32_t key_hash(const char *t, size_t tl, const char *id, size_t il) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < tl; i++) h = (h ^ (uint8_t)t[i]) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (size_t i = 0; i < il; i++) h = (h ^ (uint8_t)id[i]) * 16777619u;
    return h;
}

static int submit(za_store *st, const za_store_req *req, za_store_cb cb, void *ud, bool internal) {
    if (!st) return za__fail(ZA_EINVAL, "store is NULL");
    size_t tl = 0, il = 0;
    int rc = check_req(req, &tl, &il, internal);
    if (rc != ZA_OK) return rc;
    if (atomic_load_explicit(&st->closing, memory_order_relaxed))
        return za__fail(ZA_ESHUTDOWN, "the store is closing");
    bool has_data = req->op == ZA_STORE_WRITE || req->op == ZA_STORE_APPEND ||
                    (is_remind_op(req->op) && req->data);
    size_t dl = has_data ? req->len : 0;
    za__sop *op = calloc(1, sizeof *op);
    char *buf = malloc(tl + il + 2 + dl);
    if (!op || !buf) {
        free(op);
        free(buf);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    memcpy(buf, req->type ? req->type : "", tl);
    buf[tl] = 0;
    memcpy(buf + tl + 1, req->id, il);
    buf[tl + 1 + il] = 0;
    if (dl) memcpy(buf + tl + il + 2, req->data, dl);
    op->buf = buf;
    op->req = *req;
    op->req.type = buf;
    op->req.id = buf + tl + 1;
    op->req.data = dl ? buf + tl + il + 2 : NULL;
    op->req.len = dl;
    op->type_len = tl;
    op->id_len = il;
    op->res.op = req->op;
    op->cb = cb;
    op->ud = ud;
    shard *sh = &st->shards[key_hash(buf, tl, op->req.id, il) % st->nshards];
    pthread_mutex_lock(&sh->mu);
    if (sh->closing) {
        pthread_mutex_unlock(&sh->mu);
        op_free(op);
        return za__fail(ZA_ESHUTDOWN, "the store is closing");
    }
    if (sh->tail)
        sh->tail->next = op;
    else
        sh->head = op;
    sh->tail = op;
    pthread_cond_signal(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    return ZA_OK;
}

int za_store_submit(za_store *st, const za_store_req *req, za_store_cb cb, void *ud) {
    return submit(st, req, cb, ud, false);
}

int za__store_submit_op(za_store *st, const za_store_req *req, za_store_cb cb, void *ud) {
    return submit(st, req, cb, ud, true);
}

/* ------------------------------------------------------- blocking call */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool abandoned;
    za_store_result res;
} waiter;

static void waiter_free(waiter *w) {
    za_store_result_free(&w->res);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

static void call_cb(za_store_result *res, void *ud) {
    waiter *w = ud;
    pthread_mutex_lock(&w->mu);
    if (w->abandoned) { /* the caller timed out and left: the waiter is ours */
        pthread_mutex_unlock(&w->mu);
        waiter_free(w);
        return;
    }
    w->res = *res;
    memset(res, 0, sizeof *res);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int call(za_store *st, const za_store_req *req, uint32_t timeout_ms, za_store_result *out,
                bool internal) {
    if (!out) return za__fail(ZA_EINVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    out->op = req ? req->op : 0;
    if (za__tl_worker) {
        out->status = za__fail(ZA_ESTATE, "a blocking store call on a worker thread would stall "
                                          "it; use za_ctx_store");
        return out->status;
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w) return out->status = za__fail(ZA_ENOMEM, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = submit(st, req, call_cb, w, internal);
    if (rc != ZA_OK) {
        waiter_free(w);
        return out->status = rc;
    }
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT && !w->done) break;
    }
    if (!w->done) {
        w->abandoned = true; /* call_cb frees it */
        pthread_mutex_unlock(&w->mu);
        return out->status = za__fail(ZA_ETIMEDOUT,
                                      "store request did not complete within %u ms (it may "
                                      "still complete)",
                                      timeout_ms);
    }
    pthread_mutex_unlock(&w->mu);
    *out = w->res;
    memset(&w->res, 0, sizeof w->res);
    waiter_free(w);
    if (out->status != ZA_OK)
        za__fail(out->status, "%s", out->error ? out->error : za_strerror(out->status));
    return out->status;
}

int za_store_call(za_store *st, const za_store_req *req, uint32_t timeout_ms,
                  za_store_result *out) {
    return call(st, req, timeout_ms, out, false);
}

int za__store_call_op(za_store *st, const za_store_req *req, uint32_t timeout_ms,
                      za_store_result *out) {
    return call(st, req, timeout_ms, out, true);
}

/* --------------------------------------------------- completion as message */

typedef struct teller {
    za_system *sys;
    za_ref to;
    int32_t tag;
    uint64_t corr;
} teller;

static void result_dtor(void *p) {
    za_store_result_free(p);
    free(p);
}

static void tell_cb(za_store_result *res, void *ud) {
    teller *t = ud;
    za_store_result *r = malloc(sizeof *r);
    za_msgnode *m = r ? za__msg_new_bytes(t->tag, NULL, 0) : NULL;
    if (!m) {
        /* Out of memory: nothing can carry the result; the actor's own
         * timeout (if any) is what notices. */
        free(r);
        free(t);
        return;
    }
    *r = *res;
    memset(res, 0, sizeof *res);
    m->kind = ZA_PAYLOAD_PTR;
    m->u.p.ptr = r;
    m->u.p.dtor = result_dtor;
    m->flags |= ZA_MF_REPLY;
    m->status = (int16_t)r->status;
    m->corr = t->corr;
    m->target = t->to;
    m->sender = ZA_REF_NONE;
    int rc = za__send_node(t->sys, m, false);
    if (rc != ZA_OK && rc != ZA_EDROPPED) za__dead_letter(t->sys, m, ZA_DL_DEAD_TARGET);
    free(t);
}

static int tell(za_system *sys, za_store *st, const za_store_req *req, za_ref to, int32_t tag,
                uint64_t *corr_out, bool internal) {
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    teller *t = malloc(sizeof *t);
    if (!t) return za__fail(ZA_ENOMEM, "out of memory");
    t->sys = sys;
    t->to = to;
    t->tag = tag;
    /* relaxed: the counter only has to hand out distinct numbers */
    t->corr = atomic_fetch_add_explicit(&sys->next_corr, 1, memory_order_relaxed) + 1;
    uint64_t corr = t->corr;
    int rc = submit(st, req, tell_cb, t, internal);
    if (rc != ZA_OK) {
        free(t);
        return rc;
    }
    if (corr_out) *corr_out = corr;
    return ZA_OK;
}

int za_store_tell(za_system *sys, za_store *st, const za_store_req *req, za_ref to, int32_t tag,
                  uint64_t *corr_out) {
    return tell(sys, st, req, to, tag, corr_out, false);
}

int za__store_tell_op(za_system *sys, za_store *st, const za_store_req *req, za_ref to, int32_t tag,
                      uint64_t *corr_out) {
    return tell(sys, st, req, to, tag, corr_out, true);
}

int za_ctx_store(za_ctx *ctx, za_store *st, const za_store_req *req, int32_t tag,
                 uint64_t *corr_out) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    return za_store_tell(ctx->sys, st, req, ctx->self, tag, corr_out);
}
