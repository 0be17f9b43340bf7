/*
 * Message nodes: fixed-size, recycled through per-thread caches.
 *
 * A node is usually allocated by the sender's thread and freed by the
 * receiver's, so caches drift; full caches spill batches to a global pool
 * that empty caches refill from. The global lock is taken once per batch,
 * never per message.
 */
#include <pthread.h>
#include <stdlib.h>

#include "ask.h"
#include "msgnode.h"

#define CACHE_MAX 512u
#define BATCH 256u
#define GLOBAL_MAX (1u << 17) /* nodes kept globally; beyond that, free() */

typedef struct cache {
    za_link *head;
    uint32_t n;
} cache;

static _Thread_local cache tl_cache;
static _Thread_local bool tl_registered;

/* adaptive: the critical section is a pointer swap, so spinning briefly beats
 * a futex sleep when senders and the consumer meet here */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
static pthread_mutex_t g_mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
#else
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
#endif
/* batches are chains of BATCH nodes; chain heads are linked via the
 * second word of the first node (its target field), to avoid another list */
static za_msgnode *g_batches;
static uint32_t g_nbatches;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void flush_cache(void *unused);

static void make_key(void) {
    pthread_key_create(&g_key, flush_cache);
}

static void register_thread(void) {
    pthread_once(&g_once, make_key);
    /* any non-NULL value makes the destructor run at thread exit */
    pthread_setspecific(g_key, &tl_cache);
    tl_registered = true;
}

/* Cut up to max nodes off the front of this thread's cache. */
static za_link *cut_front(uint32_t max, uint32_t *n_out) {
    za_link *chain = tl_cache.head, *last = chain;
    uint32_t n = 1;
    while (n < max && atomic_load_explicit(&last->next, memory_order_relaxed)) {
        last = atomic_load_explicit(&last->next, memory_order_relaxed);
        n++;
    }
    tl_cache.head = atomic_load_explicit(&last->next, memory_order_relaxed);
    atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
    tl_cache.n -= n;
    *n_out = n;
    return chain;
}

/* A full batch goes to the global pool while it has room; anything else
 * goes back to malloc. */
static void give_back(za_link *chain, uint32_t n) {
    bool kept = false;
    if (n == BATCH) {
        pthread_mutex_lock(&g_mu);
        if (g_nbatches * BATCH < GLOBAL_MAX) {
            za_msgnode *first = (za_msgnode *)chain;
            first->target = (za_ref)(uintptr_t)g_batches;
            g_batches = first;
            g_nbatches++;
            kept = true;
        }
        pthread_mutex_unlock(&g_mu);
    }
    while (!kept && chain) {
        za_link *nx = atomic_load_explicit(&chain->next, memory_order_relaxed);
        free(chain);
        chain = nx;
    }
}

/* Give every cached node back (thread exit). */
static void flush_cache(void *unused) {
    (void)unused;
    while (tl_cache.head) {
        uint32_t n;
        za_link *chain = cut_front(BATCH, &n);
        give_back(chain, n);
    }
    tl_cache.n = 0;
}

za_msgnode *za__msg_alloc(void) {
    za_link *l = tl_cache.head;
    if (ZA_UNLIKELY(!l)) {
        if (!tl_registered) register_thread();
        pthread_mutex_lock(&g_mu);
        za_msgnode *b = g_batches;
        if (b) {
            g_batches = (za_msgnode *)(uintptr_t)b->target;
            g_nbatches--;
        }
        pthread_mutex_unlock(&g_mu);
        if (b) {
            tl_cache.head = &b->link;
            tl_cache.n = BATCH;
            l = tl_cache.head;
        } else {
            za_msgnode *m = malloc(sizeof *m);
            return m;
        }
    }
    tl_cache.head = atomic_load_explicit(&l->next, memory_order_relaxed);
    tl_cache.n--;
    return (za_msgnode *)l;
}

void za__msg_free(za_msgnode *m) {
    if (!m) return;
    if (m->flags & ZA_MF_HEAP) {
        free(m->u.heap);
    } else if (m->kind == ZA_PAYLOAD_PTR && m->u.p.dtor) {
        m->u.p.dtor(m->u.p.ptr);
    }
    if (m->reply) za__reply_release(m->reply);
    if (ZA_UNLIKELY(!tl_registered)) register_thread();
    atomic_store_explicit(&m->link.next, (za_link *)tl_cache.head, memory_order_relaxed);
    tl_cache.head = &m->link;
    if (ZA_UNLIKELY(++tl_cache.n > CACHE_MAX)) {
        /* spill one batch from the front, keep the rest warm */
        uint32_t n;
        za_link *chain = cut_front(BATCH, &n);
        give_back(chain, n);
    }
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
    m->len = (uint32_t)len;
    m->enq_ns = 0;
    m->corr = 0;
    m->reply = NULL;
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
