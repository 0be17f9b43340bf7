/*
 * The slot table. Lookups (every send) are lock-free: a chunk pointer is
 * published once, with release, before any slot in it is counted in
 * nslots. Handing slots out and taking them back goes through slot_mu, or a
 * worker's cache (za_slot_cache) without it.
 */
#include <pthread.h>
#include <stdlib.h>

#include "mailbox.h"
#include "scheduler.h"
#include "slots.h"
#include "system.h"

#define CHUNK_BITS 12
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 16384u
/* a chunk: its actors, then one label cell per actor (label.c) */
#define CHUNK_BYTES (sizeof(za_actor) * CHUNK_SIZE + sizeof(_Atomic(const char *)) * CHUNK_SIZE)

struct za_slot_alloc {
    pthread_mutex_t mu; /* also serialises making chunks and bumping nslots */
    uint32_t *free_slots;
    size_t nfree, capfree;
};

za_actor *za__slot(za_system *s, uint32_t slot) {
    za_slots *t = &s->slots;
    uint32_t ci = slot >> CHUNK_BITS;
    if (ci >= MAX_CHUNKS) return NULL;
    /* acquire: pairs with make_chunk's release, so the slots' initial
     * words (mailbox stubs, slot numbers) are visible */
    za_actor *chunk = atomic_load_explicit(&t->chunks[ci], memory_order_acquire);
    if (!chunk) return NULL;
    uint32_t idx = slot & (CHUNK_SIZE - 1);
    /* acquire: pairs with grab_slots' release store of nslots */
    if (slot >= atomic_load_explicit(&t->nslots, memory_order_acquire)) return NULL;
    return &chunk[idx];
}

_Atomic(const char *) *za__slot_label_cell(za_actor *a) {
    uint32_t idx = a->slot & (CHUNK_SIZE - 1);
    za_actor *chunk = a - idx;
    return (_Atomic(const char *) *)(void *)(chunk + CHUNK_SIZE) + idx;
}

/* Make slot `slot` exist (mu held, or the table not yet shared). */
static bool make_chunk(za_slots *t, uint32_t slot) {
    uint32_t ci = slot >> CHUNK_BITS;
    if (ci >= MAX_CHUNKS) return false;
    if (atomic_load_explicit(&t->chunks[ci], memory_order_relaxed)) return true;
    za_actor *chunk = aligned_alloc(ZA_CACHELINE, CHUNK_BYTES);
    if (!chunk) return false;
    memset(chunk, 0, CHUNK_BYTES); /* label cells too: NULL, no label */
    for (uint32_t i = 0; i < CHUNK_SIZE; i++) {
        za__mbox_init(&chunk[i]);
        chunk[i].slot = (ci << CHUNK_BITS) | i;
    }
    /* release: pairs with za__slot's acquire load of the chunk */
    atomic_store_explicit(&t->chunks[ci], chunk, memory_order_release);
    return true;
}

int za__slots_new(za_system *s) {
    za_slots *t = &s->slots;
    t->chunks = calloc(MAX_CHUNKS, sizeof *t->chunks);
    t->alloc = calloc(1, sizeof *t->alloc);
    if (!t->chunks || !t->alloc) return ZA_ENOMEM;
    pthread_mutex_init(&t->alloc->mu, NULL);
    atomic_store_explicit(&t->nslots, 1, memory_order_relaxed); /* ref 0 means none */
    return make_chunk(t, 0) ? ZA_OK : ZA_ENOMEM;
}

void za__slots_free(za_system *s) {
    za_slots *t = &s->slots;
    if (t->chunks) {
        for (uint32_t i = 0; i < MAX_CHUNKS; i++)
            free(atomic_load_explicit(&t->chunks[i], memory_order_relaxed));
        free(t->chunks);
        t->chunks = NULL;
    }
    if (t->alloc) {
        free(t->alloc->free_slots);
        pthread_mutex_destroy(&t->alloc->mu);
        free(t->alloc);
        t->alloc = NULL;
    }
}

uint32_t za__slots_used(za_system *s) {
    return atomic_load_explicit(&s->slots.nslots, memory_order_acquire);
}

/* Take up to `want` fresh slots into out[]; mu held. */
static uint32_t grab_slots(za_slots *t, uint32_t *out, uint32_t want) {
    struct za_slot_alloc *f = t->alloc;
    uint32_t got = 0;
    while (got < want && f->nfree) out[got++] = f->free_slots[--f->nfree];
    while (got < want) {
        uint32_t n = atomic_load_explicit(&t->nslots, memory_order_relaxed);
        if (!make_chunk(t, n)) break;
        /* release: pairs with za__slot's acquire (the chunk is published) */
        atomic_store_explicit(&t->nslots, n + 1, memory_order_release);
        out[got++] = n;
    }
    return got;
}

static za_slot_cache *my_cache(za_system *s) {
    za_worker *w = za__tl_worker;
    return w && w->sys == s ? &w->slots : NULL;
}

uint32_t za__slot_alloc(za_system *s) {
    za_slots *t = &s->slots;
    za_slot_cache *c = my_cache(s);
    if (c) {
        if (!c->n) {
            pthread_mutex_lock(&t->alloc->mu);
            c->n = grab_slots(t, c->v, 64);
            pthread_mutex_unlock(&t->alloc->mu);
            if (!c->n) return 0;
        }
        return c->v[--c->n];
    }
    uint32_t slot = 0;
    pthread_mutex_lock(&t->alloc->mu);
    if (!grab_slots(t, &slot, 1)) slot = 0;
    pthread_mutex_unlock(&t->alloc->mu);
    return slot;
}

static void push_free_locked(struct za_slot_alloc *t, const uint32_t *slots, uint32_t n) {
    if (t->nfree + n > t->capfree) {
        size_t cap = t->capfree ? t->capfree * 2 : 1024;
        while (cap < t->nfree + n) cap *= 2;
        uint32_t *nf = realloc(t->free_slots, cap * sizeof *nf);
        if (!nf) return; /* the slots stay unused: a leak of slots, not memory */
        t->free_slots = nf;
        t->capfree = cap;
    }
    memcpy(t->free_slots + t->nfree, slots, n * sizeof *slots);
    t->nfree += n;
}

void za__slot_free(za_system *s, uint32_t slot) {
    struct za_slot_alloc *t = s->slots.alloc;
    za_slot_cache *c = my_cache(s);
    if (c) {
        if (c->n == ZA_SLOT_CACHE) {
            pthread_mutex_lock(&t->mu);
            push_free_locked(t, c->v + ZA_SLOT_CACHE / 2, ZA_SLOT_CACHE / 2);
            pthread_mutex_unlock(&t->mu);
            c->n = ZA_SLOT_CACHE / 2;
        }
        c->v[c->n++] = slot;
        return;
    }
    pthread_mutex_lock(&t->mu);
    push_free_locked(t, &slot, 1);
    pthread_mutex_unlock(&t->mu);
}
