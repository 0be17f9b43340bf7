/*
 * memory.c - the memory:// provider: states and journals in a hash table
 * of the process, for tests and examples. Same semantics as the durable
 * providers (versions, sequence checks), nothing survives close.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "provider.h"

#define MAX_KEY 1600 /* type 255 + id 1024 + name 255 + separators */

enum { K_STATE, K_JOURNAL, K_REMIND };

typedef struct entry {
    struct entry *next;
    uint32_t hash;
    int kind;
    size_t klen;
    char *key; /* type \0 id (reminders: type \0 id \0 name) */
    uint64_t fence;
    /* state (version 0, data NULL: a tombstone that only keeps the fence
     * of a fenced clear) */
    uint64_t version;
    void *data;
    size_t len;
    /* reminder: the packed row (fence inside kept equal to fence) and its
     * index in mem.rem */
    size_t ridx;
    /* journal: events base+1 .. base+n, highest hi */
    uint64_t base, hi;
    za_store_event *ev;
    size_t n, cap;
} entry;

typedef struct mem {
    pthread_mutex_t mu; /* storage threads of one store share the table */
    entry **buckets;
    size_t nbuckets, count;
    /* reminder rows in no order until a LIST sorts them (rem_sorted) */
    entry **rem;
    size_t nrem, caprem;
    bool rem_sorted;
} mem;

static uint32_t hash_key(const char *k, size_t n, int kind) {
    uint32_t h = kind == K_JOURNAL ? 0x9e3779b9u : kind == K_REMIND ? 0x85ebca6bu : 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

static int mem_open(const char *url, const za_store_opts *o, void **shared) {
    if (strcmp(url, "memory://") != 0)
        return za__fail(ZA_EINVAL, "memory store URL must be exactly memory:// (got '%.80s')", url);
    mem *m = calloc(1, sizeof *m);
    if (!m) return za__fail(ZA_ENOMEM, "out of memory");
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&m->mu, NULL);
    *shared = m;
    return ZA_OK;
}

static int mem_connect(void *shared, const za_store_opts *o, int idx, void **conn) {
    *conn = shared;
    return ZA_OK;
}

static void mem_disconnect(void *conn) {}

static void entry_free(entry *e) {
    free(e->key);
    free(e->data);
    for (size_t i = 0; i < e->n; i++) free(e->ev[i].data);
    free(e->ev);
    free(e);
}

static void mem_close(void *shared) {
    mem *m = shared;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *nx = e->next;
            entry_free(e);
            e = nx;
        }
    }
    free(m->buckets);
    free(m->rem);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static entry **find(mem *m, const char *key, size_t klen, int kind, uint32_t *h_out) {
    uint32_t h = hash_key(key, klen, kind);
    *h_out = h;
    entry **pp = &m->buckets[h % m->nbuckets];
    for (; *pp; pp = &(*pp)->next) {
        entry *e = *pp;
        if (e->hash == h && e->kind == kind && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return pp;
    }
    return pp;
}

static void grow(mem *m) {
    size_t nb = m->nbuckets * 2;
    entry **b = calloc(nb, sizeof *b);
    if (!b) return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *nx = e->next;
            e->next = b[e->hash % nb];
            b[e->hash % nb] = e;
            e = nx;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

static entry *create(mem *m, entry **pp, const char *key, size_t klen, int kind, uint32_t h) {
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(klen))) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->hash = h;
    e->kind = kind;
    e->next = *pp;
    *pp = e;
    if (++m->count > m->nbuckets * 2) grow(m);
    return e;
}

/* Fencing: ZA_EFENCED when the stored token is greater than the request's
 * (0: the request is not fenced). */
static bool fenced(za_store_result *r, const entry *e, uint64_t fence) {
    if (!fence || !e || e->fence <= fence) return false;
    za__sres_fail(r, ZA_EFENCED, ZA__FENCED_FMT, (unsigned long long)fence,
                  (unsigned long long)e->fence);
    return true;
}

static void raise_fence(entry *e, uint64_t fence) {
    if (fence > e->fence) e->fence = fence;
}

static void unlink_entry(mem *m, entry **pp) {
    entry *e = *pp;
    *pp = e->next;
    if (e->kind == K_REMIND) { /* swap-remove from the listing array */
        entry *last = m->rem[--m->nrem];
        m->rem[e->ridx] = last;
        last->ridx = e->ridx;
        m->rem_sorted = false;
    }
    entry_free(e);
    m->count--;
}

static int rem_cmp(const void *a, const void *b) {
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    /* keys are type\0id\0name with no NUL inside a part: bytewise order
     * of the joined key is the order of the (type, id, name) tuples */
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static void remind(mem *m, za__sop *op) {
    za_store_result *r = &op->res;
    const za_store_req *q = &op->req;
    za__remind row;
    char key[MAX_KEY];
    size_t klen = 0;
    if (q->data) {
        if (za__remind_unpack(q->data, q->len, &row) != ZA_OK ||
            row.type_len + row.key_len + row.name_len + 3 > sizeof key) {
            za__sres_fail(r, ZA_EINVAL, "bad reminder row");
            return;
        }
        memcpy(key, row.type, row.type_len + 1);
        memcpy(key + row.type_len + 1, row.key, row.key_len + 1);
        memcpy(key + row.type_len + row.key_len + 2, row.name, row.name_len);
        klen = row.type_len + row.key_len + 2 + row.name_len;
    }
    if (q->op == ZA__STORE_REMIND_LIST) {
        if (!m->rem_sorted) {
            if (m->nrem) qsort(m->rem, m->nrem, sizeof *m->rem, rem_cmp);
            for (size_t i = 0; i < m->nrem; i++) m->rem[i]->ridx = i;
            m->rem_sorted = true;
        }
        size_t lo = 0, hi = m->nrem;
        if (q->data) { /* first row > cursor */
            entry probe = {.key = key, .klen = klen};
            const entry *pr = &probe;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (rem_cmp(&m->rem[mid], &pr) <= 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
        }
        uint32_t max = q->max ? q->max : ZA__REMIND_PAGE;
        for (size_t i = lo; i < m->nrem && r->nevents < max; i++)
            if (za__sres_add_event(r, 0, m->rem[i]->data, m->rem[i]->len) != ZA_OK) {
                za__sres_fail(r, ZA_ENOMEM, "out of memory");
                return;
            }
        return;
    }
    uint32_t h;
    entry **pp = find(m, key, klen, K_REMIND, &h);
    entry *e = *pp;
    if (fenced(r, e, q->fence)) return;
    switch ((int)q->op) {
    case ZA__STORE_REMIND_PUT: {
        void *d = malloc(q->len);
        if (!d) goto oom;
        memcpy(d, q->data, q->len);
        if (!e) {
            if (m->nrem == m->caprem) {
                size_t cap = m->caprem ? m->caprem * 2 : 64;
                entry **a = realloc(m->rem, cap * sizeof *a);
                if (!a) {
                    free(d);
                    goto oom;
                }
                m->rem = a;
                m->caprem = cap;
            }
            if (!(e = create(m, pp, key, klen, K_REMIND, h))) {
                free(d);
                goto oom;
            }
            e->ridx = m->nrem;
            m->rem[m->nrem++] = e;
            m->rem_sorted = false;
        }
        free(e->data);
        e->data = d;
        e->len = q->len;
        raise_fence(e, q->fence);
        memcpy((char *)e->data + 24, &e->fence, 8); /* the packed row's fence */
        return;
    }
    case ZA__STORE_REMIND_TOUCH:
        if (!e) {
            za__sres_fail(r, ZA_ENOTFOUND, "no such reminder");
            return;
        }
        memcpy((char *)e->data + 8, &row.next_due, 8);
        memcpy((char *)e->data + 16, &row.last_fired, 8);
        raise_fence(e, q->fence);
        memcpy((char *)e->data + 24, &e->fence, 8);
        return;
    case ZA__STORE_REMIND_DEL:
        if (!e) {
            za__sres_fail(r, ZA_ENOTFOUND, "no such reminder");
            return;
        }
        unlink_entry(m, pp);
        return;
    }
    return;
oom:
    za__sres_fail(r, ZA_ENOMEM, "out of memory");
}

static void one(mem *m, za__sop *op) {
    za_store_result *r = &op->res;
    const za_store_req *q = &op->req;
    r->status = ZA_OK;
    if (q->op >= ZA__STORE_REMIND_PUT) {
        remind(m, op);
        return;
    }
    int kind = q->op >= ZA_STORE_APPEND ? K_JOURNAL : K_STATE;
    uint32_t h;
    /* type \0 id, as laid out in op->buf */
    entry **pp = find(m, op->req.type, op->type_len + 1 + op->id_len, kind, &h);
    entry *e = *pp;
    switch ((int)q->op) {
    case ZA_STORE_READ:
        if (!e || !e->version) {
            za__sres_fail(r, ZA_ENOTFOUND, "no state for this key");
            return;
        }
        if (za__sres_set_data(r, e->data, e->len) != ZA_OK) goto oom;
        r->version = e->version;
        return;
    case ZA_STORE_WRITE: {
        if (fenced(r, e, q->fence)) return;
        uint64_t have = e ? e->version : 0;
        if (have != q->version) {
            za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
            return;
        }
        void *d = malloc(q->len);
        if (!d) goto oom;
        memcpy(d, q->data, q->len);
        if (!e && !(e = create(m, pp, op->req.type, op->type_len + 1 + op->id_len, K_STATE, h))) {
            free(d);
            goto oom;
        }
        free(e->data);
        e->data = d;
        e->len = q->len;
        e->version = q->version + 1;
        raise_fence(e, q->fence);
        r->version = e->version;
        return;
    }
    case ZA_STORE_CLEAR: {
        if (fenced(r, e, q->fence)) return;
        uint64_t have = e ? e->version : 0;
        if (q->version != ZA_STORE_ANY && have != q->version) {
            za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
            return;
        }
        if (q->fence) { /* keep a tombstone: the token must outlive the state */
            if (!e && !(e = create(m, pp, op->req.type, op->type_len + 1 + op->id_len, K_STATE, h)))
                goto oom;
            free(e->data);
            e->data = NULL;
            e->len = 0;
            e->version = 0;
            raise_fence(e, q->fence);
        } else if (e)
            unlink_entry(m, pp);
        return;
    }
    case ZA_STORE_APPEND: {
        if (fenced(r, e, q->fence)) return;
        uint64_t hi = e ? e->hi : 0;
        if (q->version != hi + 1) {
            za__sres_fail(r, ZA_ECONFLICT, "sequence conflict: append %llu, highest is %llu",
                          (unsigned long long)q->version, (unsigned long long)hi);
            return;
        }
        if (!e && !(e = create(m, pp, op->req.type, op->type_len + 1 + op->id_len, K_JOURNAL, h)))
            goto oom;
        if (e->n == e->cap) {
            size_t cap = e->cap ? e->cap * 2 : 8;
            za_store_event *ev = realloc(e->ev, cap * sizeof *ev);
            if (!ev) goto oom;
            e->ev = ev;
            e->cap = cap;
        }
        void *d = malloc(q->len);
        if (!d) goto oom;
        memcpy(d, q->data, q->len);
        e->ev[e->n++] = (za_store_event){.seq = q->version, .data = d, .len = q->len};
        e->hi = q->version;
        raise_fence(e, q->fence);
        r->version = e->hi;
        return;
    }
    case ZA_STORE_REPLAY:
        if (!e) return;
        r->version = e->hi;
        for (size_t i = 0; i < e->n; i++) {
            if (e->ev[i].seq < q->version) continue;
            if (q->max && r->nevents >= q->max) break;
            if (za__sres_add_event(r, e->ev[i].seq, e->ev[i].data, e->ev[i].len) != ZA_OK) goto oom;
        }
        return;
    case ZA_STORE_HIGHEST:
        r->version = e ? e->hi : 0;
        return;
    case ZA_STORE_DELETE_TO: {
        if (fenced(r, e, q->fence)) return;
        if (!e && q->fence &&
            !(e = create(m, pp, op->req.type, op->type_len + 1 + op->id_len, K_JOURNAL, h)))
            goto oom;
        if (!e) return;
        raise_fence(e, q->fence);
        size_t k = 0;
        while (k < e->n && e->ev[k].seq <= q->version) free(e->ev[k++].data);
        if (k) memmove(e->ev, e->ev + k, (e->n - k) * sizeof *e->ev);
        e->n -= k;
        r->version = e->hi;
        return;
    }
    }
    return;
oom:
    za__sres_fail(r, ZA_ENOMEM, "out of memory");
}

static void mem_exec(void *conn, za__sop **ops, size_t n) {
    mem *m = conn;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < n; i++) one(m, ops[i]);
    pthread_mutex_unlock(&m->mu);
}

const za__store_provider za__store_memory = {
    .scheme = "memory",
    .default_threads = 1,
    .open = mem_open,
    .connect = mem_connect,
    .exec = mem_exec,
    .disconnect = mem_disconnect,
    .close = mem_close,
};
