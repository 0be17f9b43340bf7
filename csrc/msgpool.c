/*
 * Message nodes: fixed-size, recycled through per-thread magazines.
 *
 * A node is usually allocated by the sender's thread and freed by the
 * receiver's, so nodes drift from one thread to the other. Each thread keeps
 * two magazines (arrays of node pointers, Bonwick's "magazine" layer): a
 * full magazine goes to a global depot that an empty thread refills from, so
 * the global lock is taken once per MAG nodes, never per message.
 *
 * Arrays rather than the intrusive free list this file had before: popping
 * a list reads the node's link word, and a node freed by another core is a
 * cache miss the allocator waited on for every message (12% of the counting
 * workload's time, bench/RESULTS.md). With an array the next pointer is in
 * our own cache; the node's line is prefetched for writing one allocation
 * ahead, so its transfer overlaps the current message's work.
 */
#include <pthread.h>
#include <stdlib.h>

#include "ask.h"
#include "msgnode.h"

#define MAG 128u             /* nodes per magazine */
#define DEPOT_MAX (1u << 10) /* full magazines kept globally (128Ki nodes); beyond: free() */
#define REFILL 32u           /* nodes malloc'd at once when the depot is empty */

typedef struct mag {
    struct mag *next; /* in the depot's full or empty list */
    uint32_t n;
    za_msgnode *m[MAG];
} mag;

/* loaded: allocations pop and frees push here; prev: the other magazine,
 * swapped in when loaded runs empty (alloc) or full (free). */
typedef struct cache {
    mag *loaded, *prev;
    bool registered;
} cache;

static _Thread_local cache tl;

/* adaptive: the critical section is a pointer swap, so spinning briefly beats
 * a futex sleep when senders and the consumer meet here */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
static pthread_mutex_t g_mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
#else
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
#endif
static mag *g_full, *g_empty; /* depot: full and empty magazines, under g_mu */
static uint32_t g_nfull, g_nempty;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void flush_thread(void *unused);

static void make_key(void) {
    pthread_key_create(&g_key, flush_thread);
}

static void register_thread(void) {
    pthread_once(&g_once, make_key);
    /* any non-NULL value makes the destructor run at thread exit */
    pthread_setspecific(g_key, &tl);
    tl.registered = true;
}

/* Plain malloc. aligned_alloc(64) would keep a node's first line (all a
 * small tell touches, msgnode.h) on one cache line instead of straddling
 * two 3 times in 4, but glibc's memalign made every fresh node ~90 ns dearer:
 * a 5M-message backlog (bench_stream, 1 worker) went from 110 to 215 ns per
 * message. A slab allocator for nodes is the way to have both. */
static za_msgnode *node_new(void) {
    return malloc(sizeof(za_msgnode));
}

static mag *mag_new(void) {
    mag *g = malloc(sizeof *g);
    if (g) g->n = 0, g->next = NULL;
    return g;
}

/* Hand a full magazine to the depot and get an empty one back (NULL if the
 * depot holds no empty one: the caller allocates). Beyond DEPOT_MAX the
 * nodes go back to malloc and the magazine itself is returned, emptied. */
static mag *depot_put_full(mag *full) {
    pthread_mutex_lock(&g_mu);
    if (g_nfull < DEPOT_MAX) {
        full->next = g_full;
        g_full = full;
        g_nfull++;
        mag *e = g_empty;
        if (e) {
            g_empty = e->next;
            g_nempty--;
        }
        pthread_mutex_unlock(&g_mu);
        return e ? e : mag_new();
    }
    pthread_mutex_unlock(&g_mu);
    for (uint32_t i = 0; i < full->n; i++) free(full->m[i]);
    full->n = 0;
    return full;
}

/* Swap an empty magazine for a full one from the depot; NULL if none. */
static mag *depot_get_full(mag *empty) {
    pthread_mutex_lock(&g_mu);
    mag *f = g_full;
    if (f) {
        g_full = f->next;
        g_nfull--;
        if (empty) {
            empty->next = g_empty;
            g_empty = empty;
            g_nempty++;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return f;
}

/* Thread exit: full magazines to the depot, the rest back to malloc. */
static void flush_thread(void *unused) {
    (void)unused;
    mag *ms[2] = {tl.loaded, tl.prev};
    tl.loaded = tl.prev = NULL;
    for (int i = 0; i < 2; i++) {
        mag *g = ms[i];
        if (!g) continue;
        if (g->n == MAG) {
            mag *e = depot_put_full(g);
            if (e == g)
                free(g); /* the depot was full: nodes already freed */
            else
                free(e);
            continue;
        }
        for (uint32_t k = 0; k < g->n; k++) free(g->m[k]);
        free(g);
    }
}

/* The loaded magazine is empty (or missing): find nodes. */
static za_msgnode *alloc_slow(void) {
    if (!tl.registered) register_thread();
    if (tl.prev && tl.prev->n) { /* the other magazine has nodes */
        mag *t = tl.loaded;
        tl.loaded = tl.prev;
        tl.prev = t;
    } else {
        mag *f = depot_get_full(tl.loaded);
        if (f) {
            tl.loaded = f;
        } else {
            if (!tl.loaded && !(tl.loaded = mag_new())) return node_new();
            /* a bulk refill: one trip here per REFILL messages, not per message */
            mag *g = tl.loaded;
            while (g->n < REFILL) {
                za_msgnode *m = node_new();
                if (!m) break;
                g->m[g->n++] = m;
            }
            if (!g->n) return NULL;
        }
    }
    return tl.loaded->m[--tl.loaded->n];
}

za_msgnode *za__msg_alloc(void) {
    mag *g = tl.loaded;
    if (ZA_UNLIKELY(!g || !g->n)) return alloc_slow();
    uint32_t n = --g->n;
    /* the next node's line is probably in the consumer's cache: start
     * taking it (for writing) now, while this message is being sent */
    if (n) __builtin_prefetch(g->m[n - 1], 1);
    return g->m[n];
}

static void free_slow(za_msgnode *m) {
    if (!tl.registered) register_thread();
    if (!tl.loaded && !(tl.loaded = mag_new())) {
        free(m);
        return;
    }
    if (tl.loaded->n == MAG) {
        if (tl.prev && tl.prev->n < MAG) {
            mag *t = tl.loaded;
            tl.loaded = tl.prev;
            tl.prev = t;
        } else {
            /* both full: the older one goes to the depot */
            mag *full = tl.prev;
            tl.prev = tl.loaded;
            tl.loaded = full ? depot_put_full(full) : mag_new();
            if (!tl.loaded) {
                free(m);
                return;
            }
        }
    }
    tl.loaded->m[tl.loaded->n++] = m;
}

void za__msg_free(za_msgnode *m) {
    if (!m) return;
    if (m->flags & ZA_MF_HEAP) {
        free(m->u.heap);
    } else if (m->kind == ZA_PAYLOAD_PTR && m->u.p.dtor) {
        m->u.p.dtor(m->u.p.ptr);
    }
    if (m->reply) za__reply_release(m->reply);
    mag *g = tl.loaded;
    if (ZA_UNLIKELY(!g || g->n == MAG)) {
        free_slow(m);
        return;
    }
    g->m[g->n++] = m;
}

za_msgnode *za__msg_new_bytes(int32_t tag, const void *data, size_t len) {
    za_msgnode *m = za__msg_alloc();
    if (!m) return NULL;
    m->tag = tag;
    m->prio = ZA_PRIO_NORMAL;
    m->kind = ZA_PAYLOAD_BYTES;
    m->flags = 0;
    m->sys = 0;
    m->status = 0;
    m->hops = 0;
    m->len = (uint32_t)len;
    m->reply = NULL;
    m->ahead = NULL;
    m->sender = ZA_REF_NONE;
    m->target = ZA_REF_NONE;
    if (len > ZA_INLINE) {
        m->u.heap = malloc(len);
        if (!m->u.heap) {
            m->len = 0;
            za__msg_free(m);
            return NULL;
        }
        memcpy(m->u.heap, data, len);
        m->flags = ZA_MF_HEAP;
    } else if (len) {
        memcpy(m->inl, data, len);
    }
    return m;
}
