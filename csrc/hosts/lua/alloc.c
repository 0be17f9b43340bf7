/*
 * alloc.c - the allocator of actor states: a memory limit per actor, and
 * per-actor slabs for small blocks.
 *
 * The limit: the allocator counts the bytes a state holds and refuses to
 * grow past the actor's limit, so Lua raises a memory error that fails only
 * this actor (plus ZA_LUA_GRACE while a failure is being described).
 *
 * The slabs: a message typically allocates a few small objects (the decoded
 * table and its array, the handler's outgoing table, ...) that the GC later
 * frees in batches. An actor migrates between workers, so with plain malloc
 * these blocks are freed on another thread than the one that allocated
 * them, and glibc spends most of a message's time in its cross-arena slow
 * paths. Only one thread runs an actor at a time, so every block of Lua
 * size <= ZA_LUA_SMALL_MAX comes from per-actor slabs with per-size-class
 * free lists, no lock; the slabs go when the actor does. Lua always tells
 * the old size, so a block's origin follows from it.
 */
#include "lua_actor.h"

#include <stdlib.h>
#include <string.h>

#define SLAB_MIN 1024u /* first slab; doubles up to SLAB_MAX */
#define SLAB_MAX 4096u /* small: an idle actor wastes at most one tail */

struct za__lua_slab {
    struct za__lua_slab *next;
    size_t pad; /* keeps the payload 16-byte aligned */
};

static void *small_get(za__lua_actor *a, unsigned c) {
    void *b = a->small[c];
    if (b) {
        a->small[c] = *(void **)b;
        return b;
    }
    size_t sz = (size_t)(c + 1) * ZA_LUA_SMALL_STEP;
    if ((size_t)(a->bump_end - a->bump) < sz) {
        size_t ssz = a->slab_next ? a->slab_next : SLAB_MIN;
        za__lua_slab *sl = malloc(sizeof *sl + ssz);
        if (!sl) return NULL;
        /* the old slab's tail: hand it out through the free lists */
        while ((size_t)(a->bump_end - a->bump) >= ZA_LUA_SMALL_STEP) {
            size_t rest = (size_t)(a->bump_end - a->bump);
            unsigned rc = (unsigned)(rest / ZA_LUA_SMALL_STEP) - 1;
            if (rc >= ZA_LUA_SMALL_CLASSES) rc = ZA_LUA_SMALL_CLASSES - 1;
            *(void **)a->bump = a->small[rc];
            a->small[rc] = a->bump;
            a->bump += (size_t)(rc + 1) * ZA_LUA_SMALL_STEP;
        }
        sl->next = a->slabs;
        a->slabs = sl;
        a->bump = (char *)(sl + 1);
        a->bump_end = a->bump + ssz;
        if (ssz < SLAB_MAX) a->slab_next = ssz * 2;
    }
    b = a->bump;
    a->bump += sz;
    return b;
}

static void small_put(za__lua_actor *a, void *b, unsigned c) {
    *(void **)b = a->small[c];
    a->small[c] = b;
}

static inline unsigned small_class(size_t n) {
    return (unsigned)((n - 1) / ZA_LUA_SMALL_STEP); /* n in 1..ZA_LUA_SMALL_MAX */
}

void *za__lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    za__lua_actor *a = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        if (ptr) {
            a->used -= old;
            if (old <= ZA_LUA_SMALL_MAX)
                small_put(a, ptr, small_class(old));
            else
                free(ptr);
        }
        return NULL;
    }
    if (nsize > old) {
        size_t cap = a->limit + (a->grace ? ZA_LUA_GRACE : 0);
        if (a->used - old + nsize > cap) {
            a->tainted = 1; /* a state that hit its limit is not reused (statepool.c) */
            return NULL;    /* Lua raises a memory error */
        }
    }
    void *np;
    int old_small = ptr && old <= ZA_LUA_SMALL_MAX;
    if (nsize <= ZA_LUA_SMALL_MAX) {
        unsigned c = small_class(nsize);
        if (old_small && small_class(old) >= c) {
            /* same or smaller class: the block already fits, and Lua
             * requires that a shrink never fails. A bigger block later
             * freed into a smaller class list is still big enough. */
            np = ptr;
        } else {
            np = small_get(a, c);
            if (!np && ptr && nsize <= old) {
                /* a malloc'd block shrinking to small with no memory for a
                 * slab (Lua requires shrinks to succeed): keep it. It ends
                 * on a free list and is never returned: bounded to OOM. */
                np = ptr;
                a->used = a->used - old + nsize;
                return np;
            }
            if (!np) return NULL;
            if (ptr) {
                memcpy(np, ptr, old < nsize ? old : nsize);
                if (old_small)
                    small_put(a, ptr, small_class(old));
                else
                    free(ptr);
            }
        }
    } else if (old_small) {
        np = malloc(nsize);
        if (!np) return NULL;
        memcpy(np, ptr, old);
        small_put(a, ptr, small_class(old));
    } else {
        np = realloc(ptr, nsize);
        if (!np) return NULL;
    }
    a->used = a->used - old + nsize;
    return np;
}

void za__lua_alloc_free(za__lua_actor *a) {
    for (za__lua_slab *sl = a->slabs, *n; sl; sl = n) {
        n = sl->next;
        free(sl);
    }
    a->slabs = NULL;
    a->bump = a->bump_end = NULL;
    memset(a->small, 0, sizeof a->small);
}
