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

typedef struct entry {
    struct entry *next;
    uint32_t hash;
    bool journal;
    size_t klen;
    char *key; /* type \0 id */
    /* state */
    uint64_t version;
    void *data;
    size_t len;
    /* journal: events base+1 .. base+n, highest hi */
    uint64_t base, hi;
    za_store_event *ev;
    size_t n, cap;
} entry;

typedef struct mem {
    pthread_mutex_t mu; /* storage threads of one store share the table */
    entry **buckets;
    size_t nbuckets, count;
} mem;

static uint32_t hash_key(const char *k, size_t n, bool journal) {
    uint32_t h = journal ? 0x9e3779b9u : 2166136261u;
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
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static entry **find(mem *m, const za__sop *op, bool journal, uint32_t *h_out) {
    size_t klen = op->type_len + 1 + op->id_len;
    uint32_t h = hash_key(op->req.type, klen, journal);
    *h_out = h;
    entry **pp = &m->buckets[h % m->nbuckets];
    for (; *pp; pp = &(*pp)->next) {
        entry *e = *pp;
        if (e->hash == h && e->journal == journal && e->klen == klen &&
            memcmp(e->key, op->req.type, klen) == 0)
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

static entry *create(mem *m, entry **pp, const za__sop *op, bool journal, uint32_t h) {
    entry *e = calloc(1, sizeof *e);
    size_t klen = op->type_len + 1 + op->id_len;
    if (!e || !(e->key = malloc(klen))) {
        free(e);
        return NULL;
    }
    memcpy(e->key, op->req.type, klen); /* type \0 id, as laid out in op->buf */
    e->klen = klen;
    e->hash = h;
    e->journal = journal;
    e->next = *pp;
    *pp = e;
    if (++m->count > m->nbuckets * 2) grow(m);
    return e;
}

static void one(mem *m, za__sop *op) {
    za_store_result *r = &op->res;
    const za_store_req *q = &op->req;
    bool journal = q->op >= ZA_STORE_APPEND;
    uint32_t h;
    entry **pp = find(m, op, journal, &h);
    entry *e = *pp;
    r->status = ZA_OK;
    switch (q->op) {
    case ZA_STORE_READ:
        if (!e) {
            za__sres_fail(r, ZA_ENOTFOUND, "no state for this key");
            return;
        }
        if (za__sres_set_data(r, e->data, e->len) != ZA_OK) goto oom;
        r->version = e->version;
        return;
    case ZA_STORE_WRITE: {
        uint64_t have = e ? e->version : 0;
        if (have != q->version) {
            za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
            return;
        }
        void *d = malloc(q->len);
        if (!d) goto oom;
        memcpy(d, q->data, q->len);
        if (!e && !(e = create(m, pp, op, false, h))) {
            free(d);
            goto oom;
        }
        free(e->data);
        e->data = d;
        e->len = q->len;
        e->version = q->version + 1;
        r->version = e->version;
        return;
    }
    case ZA_STORE_CLEAR: {
        uint64_t have = e ? e->version : 0;
        if (q->version != ZA_STORE_ANY && have != q->version) {
            za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
            return;
        }
        if (e) {
            *pp = e->next;
            entry_free(e);
            m->count--;
        }
        return;
    }
    case ZA_STORE_APPEND: {
        uint64_t hi = e ? e->hi : 0;
        if (q->version != hi + 1) {
            za__sres_fail(r, ZA_ECONFLICT, "sequence conflict: append %llu, highest is %llu",
                          (unsigned long long)q->version, (unsigned long long)hi);
            return;
        }
        if (!e && !(e = create(m, pp, op, true, h))) goto oom;
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
        if (!e) return;
        size_t k = 0;
        while (k < e->n && e->ev[k].seq <= q->version) free(e->ev[k++].data);
        memmove(e->ev, e->ev + k, (e->n - k) * sizeof *e->ev);
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
