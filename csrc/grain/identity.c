/*
 * identity.c - the identity table: (type, key) <-> the 40-bit index a grain
 * reference carries.
 *
 * Identities are interned forever: a reference must name the same grain for
 * as long as the system lives, wherever it was copied to, so its index is
 * never reused. The cost is one record per distinct key ever named (about
 * 200 bytes plus the key: a 144-byte record, a hash slot, a chunk slot), freed
 * with the system. The hash table (looked up by za_grain_ref) is under a
 * mutex; index -> record, which every message to a grain does, is two
 * acquire loads through a chunk table whose chunks are never moved.
 */
#include <stdlib.h>
#include <string.h>

#include "grain/directory.h"
#include "system.h"

static uint32_t hash_key(const za_gclass *cls, const char *key, size_t len) {
    /* FNV-1a over the class pointer (classes are unique per type) and key */
    uint64_t h = 1469598103934665603ull;
    uintptr_t c = (uintptr_t)cls;
    for (size_t i = 0; i < sizeof c; i++) {
        h ^= (c >> (8 * i)) & 0xffu;
        h *= 1099511628211ull;
    }
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

int za__gid_init(za_grains *g) {
    pthread_mutex_init(&g->id_mu, NULL);
    g->hcap = 256;
    g->htab = calloc(g->hcap, sizeof *g->htab);
    return g->htab ? ZA_OK : ZA_ENOMEM;
}

static int grow(za_grains *g) {
    size_t ncap = g->hcap * 2;
    za_gentry **nt = calloc(ncap, sizeof *nt);
    if (!nt) return ZA_ENOMEM;
    for (size_t i = 0; i < g->hcap; i++) {
        za_gentry *e = g->htab[i];
        while (e) {
            za_gentry *next = e->hnext;
            size_t b = e->hash & (ncap - 1);
            e->hnext = nt[b];
            nt[b] = e;
            e = next;
        }
    }
    free(g->htab);
    g->htab = nt;
    g->hcap = ncap;
    return ZA_OK;
}

int za__gid_intern(za_grains *g, za_gclass *cls, const char *key, size_t key_len, za_gentry **out) {
    uint32_t h = hash_key(cls, key, key_len);
    pthread_mutex_lock(&g->id_mu);
    for (za_gentry *e = g->htab[h & (g->hcap - 1)]; e; e = e->hnext) {
        if (e->hash == h && e->cls == cls && e->key_len == key_len &&
            memcmp(e->key, key, key_len) == 0) {
            pthread_mutex_unlock(&g->id_mu);
            *out = e;
            return ZA_OK;
        }
    }
    uint64_t idx = g->nids + 1;
    if (idx >= (uint64_t)ZA_GCHUNKS * ZA_GCHUNK) {
        pthread_mutex_unlock(&g->id_mu);
        return za__fail(ZA_ENOMEM, "grain identity table is full (%llu identities)",
                        (unsigned long long)(idx - 1));
    }
    za_gentry **chunk = atomic_load_explicit(&g->chunks[idx >> ZA_GCHUNK_BITS],
                                             memory_order_relaxed); /* id_mu: we write them */
    if (!chunk) {
        chunk = calloc(ZA_GCHUNK, sizeof *chunk);
        if (!chunk) goto oom;
        /* release: pairs with za__gid_lookup's acquire load of the chunk */
        atomic_store_explicit(&g->chunks[idx >> ZA_GCHUNK_BITS], chunk, memory_order_release);
    }
    if (g->hcount + 1 > g->hcap && grow(g) != ZA_OK) goto oom;
    za_gentry *e = calloc(1, sizeof *e);
    char *k = e ? malloc(key_len + 1) : NULL;
    if (!k) {
        free(e);
        goto oom;
    }
    memcpy(k, key, key_len);
    k[key_len] = '\0';
    e->idx = idx;
    e->ref = ((za_ref)ZA_REF_GRAIN_NODE << 52) | ((za_ref)g->salt << ZA_GIDX_BITS) | idx;
    e->cls = cls;
    e->key = k;
    e->key_len = (uint32_t)key_len;
    e->hash = h;
    size_t b = h & (g->hcap - 1);
    e->hnext = g->htab[b];
    g->htab[b] = e;
    g->hcount++;
    g->nids = idx;
    /* release: the record's identity fields are complete before a reader
     * that finds it through the chunk (acquire in za__gid_lookup) reads them */
    __atomic_store_n(&chunk[idx & (ZA_GCHUNK - 1)], e, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g->id_mu);
    *out = e;
    return ZA_OK;
oom:
    pthread_mutex_unlock(&g->id_mu);
    return za__fail(ZA_ENOMEM, "out of memory");
}

za_gentry *za__gid_lookup(za_grains *g, za_ref ref) {
    if (!g || !za_ref_is_grain(ref)) return NULL;
    uint64_t low = ref & ((1ull << 52) - 1);
    if ((low >> ZA_GIDX_BITS) != g->salt) return NULL;
    uint64_t idx = low & ((1ull << ZA_GIDX_BITS) - 1);
    if (idx == 0 || idx >= (uint64_t)ZA_GCHUNKS * ZA_GCHUNK) return NULL;
    /* acquire (both): pair with the release stores in za__gid_intern */
    za_gentry **chunk =
        atomic_load_explicit(&g->chunks[idx >> ZA_GCHUNK_BITS], memory_order_acquire);
    if (!chunk) return NULL;
    return __atomic_load_n(&chunk[idx & (ZA_GCHUNK - 1)], __ATOMIC_ACQUIRE);
}

void za__gid_each(za_grains *g, void (*fn)(za_grains *g, za_gentry *e, void *ud), void *ud) {
    for (size_t i = 0; i < g->hcap; i++) {
        za_gentry *e = g->htab[i];
        while (e) {
            za_gentry *next = e->hnext;
            fn(g, e, ud);
            e = next;
        }
    }
}

void za__gid_free(za_grains *g) {
    if (!g->htab) return;
    for (size_t i = 0; i < g->hcap; i++) {
        za_gentry *e = g->htab[i];
        while (e) {
            za_gentry *next = e->hnext;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(g->htab);
    g->htab = NULL;
    for (size_t i = 0; i < ZA_GCHUNKS; i++) free(atomic_load(&g->chunks[i]));
    pthread_mutex_destroy(&g->id_mu);
}
