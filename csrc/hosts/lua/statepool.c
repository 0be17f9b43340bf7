/*
 * statepool.c - reuse of actor states: a stopped actor's lua_State is reset
 * to the state it had before its behaviour was loaded and kept for the next
 * Lua actor, instead of lua_close now and lua_newstate + library set-up then.
 *
 * Why: building a state (lua_newstate, base, string, the lazy libraries,
 * the ref metatable, the `zactor` table, ctx) was ~70% of a Lua actor's
 * lifetime in instructions (callgrind, Savina fjcreate: ~160 k of ~225 k per
 * actor, most of it interning the library functions' names); a reset costs
 * one pass over the tables the actor could reach.
 *
 * The promise stays: one state per actor at a time, a memory limit per
 * actor, and a reused state is indistinguishable from a fresh one to the
 * code that runs in it:
 *  - the pristine point: right after the environment is built (before the
 *    behaviour chunk runs), za__lua_pristine_take records every table
 *    reachable from the registry and from the string metatable (globals,
 *    library tables, package.loaded, metatables of the value model, of refs
 *    and of ctx) with a shadow copy of its fields and its metatable;
 *  - the reset (za__lua_pool_give) puts every recorded table back to its
 *    shadow (fields added, changed or removed by the actor are undone, a
 *    replaced metatable is put back), which also drops the registry's
 *    references to the actor's handlers, coroutines and child_failed;
 *    whatever the actor created is then unreachable garbage that the next
 *    actor's collector frees (the allocator does a full collection before
 *    it refuses an allocation, so garbage never makes the limit fail);
 *  - finalizers: an object with a __gc metamethod could run the old
 *    actor's code inside the next one. Actor code can only set one through
 *    setmetatable (the sandbox's wrapper marks the actor, sandbox.c) or by
 *    adding __gc to a recorded metatable (the reset sees it): such a state,
 *    like one that failed, hit its memory limit or its budget, opened io/os,
 *    or grew large, is closed as before and never pooled.
 * Objects a reused state keeps from before its pristine point (library
 * functions, ctx, interned strings) are ones a fresh state would have too.
 *
 * The pool: a few shards, each a small stack behind a spin lock, picked by
 * the calling thread (workers get their own shard, so the lock is not
 * contended); bounded, so idle states cost at most POOL_SHARDS * POOL_DEPTH
 * states of memory. Pooled states are not registered with the watchdog.
 */
#include "lua_actor.h"

#include <lualib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define POOL_SHARDS 8
#define POOL_DEPTH 32
/* Lua 5.4's collector defaults (lgc.h: LUAI_GCPAUSE, LUAI_GCMUL,
 * LUAI_GCSTEPSIZE), which a new state starts with and lua_gc cannot read. */
#define GC_PAUSE 200
#define GC_STEPMUL 100
#define GC_STEPSIZE 13
#define POOL_GC_AT (64u << 10)     /* a reset state above this is collected before it is kept */
#define POOL_MAX_USED (128u << 10) /* and closed if it is still above this */

static char chunk_key; /* registry key of the kept chunk (see za__lua_cached_chunk) */
static char snap_key;  /* registry key of the snapshot (a light userdata key: actor code cannot
                          reach the registry) */

/* ------------------------------------------------------------ snapshot */

/* The identity of a value without touching the Lua stack beyond reading
 * it: its type and its payload (the object's address for collectable
 * values, which the snapshot's record keeps alive, so an address is never
 * reused by another object while it is compared with). */
typedef struct ident {
    const void *k, *v;
    int kt, vt;
} ident;

static inline const void *value_id(lua_State *L, int idx, int *type) {
    /* Objects, C functions and light userdata: their address (distinct
     * objects never share one, nor do heap objects and code or static data),
     * one API call; the rest by type and value. */
    const void *p = lua_topointer(L, idx);
    if (p) {
        *type = -1;
        return p;
    }
    int t = lua_type(L, idx);
    *type = t;
    switch (t) {
    case LUA_TBOOLEAN:
        return (const void *)(uintptr_t)lua_toboolean(L, idx);
    case LUA_TNUMBER: {
        if (lua_isinteger(L, idx)) return (const void *)(uintptr_t)lua_tointeger(L, idx);
        lua_Number d = lua_tonumber(L, idx);
        uintptr_t u = 0;
        memcpy(&u, &d, sizeof d < sizeof u ? sizeof d : sizeof u);
        *type = LUA_NUMTYPES + 1; /* a float is never the integer with the same bits */
        return (const void *)u;
    }
    default: /* nil, a NULL light userdata */
        return NULL;
    }
}

/* The snapshot is an array of quadruples {table, record, ids, metatable or
 * false}: the record lists the table's fields in traversal order, {k1, v1,
 * k2, v2, ...} (what a reset puts back), ids the same as identities (a
 * userdata array of ident): an unchanged table is checked in one traversal
 * with no hashing and no value pushed. The snapshot itself hangs from the
 * registry (so the registry's record has it). Built protected (it
 * allocates). */
static int pristine_cf(lua_State *L) {
    lua_settop(L, 0);
    lua_createtable(L, 64, 0); /* 1: snapshot */
    lua_createtable(L, 0, 32); /* 2: seen */
    lua_createtable(L, 32, 0); /* 3: work list */
    int nwork = 0, nsnap = 0;
    lua_pushvalue(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &snap_key);
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, 2); /* not a table to record */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) lua_rawseti(L, 3, ++nwork);
    lua_pop(L, 1);
    lua_pushvalue(L, LUA_REGISTRYINDEX); /* last in: recorded first */
    lua_rawseti(L, 3, ++nwork);
    while (nwork > 0) {
        lua_rawgeti(L, 3, nwork); /* 4: table */
        lua_pushnil(L);
        lua_rawseti(L, 3, nwork--);
        lua_pushvalue(L, 4);
        if (lua_rawget(L, 2) != LUA_TNIL) { /* seen */
            lua_settop(L, 3);
            continue;
        }
        lua_pop(L, 1);
        lua_pushvalue(L, 4);
        lua_pushboolean(L, 1);
        lua_rawset(L, 2);
        int n = 0;
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            n++;
            lua_pop(L, 1);
        }
        lua_createtable(L, 2 * n, 0);                                            /* 5: record */
        ident *ids = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *ids, 0); /* 6 */
        int nrec = 0, k = 0;
        lua_pushnil(L);
        while (lua_next(L, 4) && k < n) {
            for (int i = -2; i <= -1; i++) { /* key and value: follow tables and their metatables */
                if (lua_type(L, i) == LUA_TTABLE) {
                    lua_pushvalue(L, i);
                    lua_rawseti(L, 3, ++nwork);
                }
                if ((lua_type(L, i) == LUA_TTABLE || lua_type(L, i) == LUA_TUSERDATA) &&
                    lua_getmetatable(L, i)) {
                    lua_rawseti(L, 3, ++nwork);
                }
            }
            ids[k].k = value_id(L, -2, &ids[k].kt);
            ids[k].v = value_id(L, -1, &ids[k].vt);
            k++;
            lua_pushvalue(L, -2);
            lua_rawseti(L, 5, ++nrec);
            lua_rawseti(L, 5, ++nrec);
        }
        lua_pushvalue(L, 4);
        lua_rawseti(L, 1, ++nsnap);
        lua_pushvalue(L, 5);
        lua_rawseti(L, 1, ++nsnap);
        lua_pushvalue(L, 6);
        lua_rawseti(L, 1, ++nsnap);
        if (lua_getmetatable(L, 4)) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, 3, ++nwork);
        } else {
            lua_pushboolean(L, 0);
        }
        lua_rawseti(L, 1, ++nsnap);
        lua_settop(L, 3);
    }
    return 0;
}

int za__lua_pristine_take(lua_State *L) {
    lua_pushcfunction(L, pristine_cf);
    int st = lua_pcall(L, 0, 0, 0);
    if (st != LUA_OK) {
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- reset */

/* Is the table at t exactly its record (same fields, same order)? ids at
 * u: the record's identities. */
static int unchanged(lua_State *L, int t, int u) {
    const ident *ids = lua_touserdata(L, u);
    size_t n = lua_rawlen(L, u) / sizeof *ids, i = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int kt, vt;
        const void *k = value_id(L, -2, &kt), *v = value_id(L, -1, &vt);
        if (i >= n || k != ids[i].k || v != ids[i].v || kt != ids[i].kt || vt != ids[i].vt) {
            lua_pop(L, 2);
            return 0;
        }
        i++;
        lua_pop(L, 1);
    }
    return i == n;
}

/* Put the table at t back to its record at r. Returns 1 when the table has
 * a __gc field its record does not (the caller gives the state up). */
static int restore_table(lua_State *L, int t, int r) {
    int gc = 0;
    lua_Integer n = (lua_Integer)lua_rawlen(L, r);
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, t) != LUA_TNIL) {
        gc = 1;
        for (lua_Integer i = 1; i + 1 <= n; i += 2) {
            lua_rawgeti(L, r, i);
            lua_rawgeti(L, r, i + 1);
            if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "__gc") == 0 &&
                lua_rawequal(L, -1, -3))
                gc = 0;
            lua_pop(L, 2);
        }
    }
    lua_pop(L, 1);
    /* clear every field (clearing a field during lua_next is allowed), then
     * put the recorded ones back */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, t);
    }
    for (lua_Integer i = 1; i + 1 <= n; i += 2) {
        lua_rawgeti(L, r, i);
        lua_rawgeti(L, r, i + 1);
        lua_rawset(L, t);
    }
    return gc;
}

static int reset_cf(lua_State *L) {
    lua_settop(L, 0);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &snap_key) != LUA_TTABLE) /* 1 */
        return luaL_error(L, "no snapshot");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &chunk_key); /* 2: the kept chunk (or nil) */
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    int gc = 0;
    /* the registry goes last (the snapshot, on this stack, anchors the
     * recorded tables while it is being restored) */
    for (lua_Integer i = n - 3; i >= 1; i -= 4) {
        lua_rawgeti(L, 1, i);     /* 3: table */
        lua_rawgeti(L, 1, i + 1); /* 4: record */
        lua_rawgeti(L, 1, i + 2); /* 5: ids */
        lua_rawgeti(L, 1, i + 3); /* 6: metatable or false */
        if (!unchanged(L, 3, 5)) gc |= restore_table(L, 3, 4);
        int has = lua_getmetatable(L, 3); /* 7 (if any) */
        if (lua_toboolean(L, 6)) {
            if (!has || !lua_rawequal(L, 6, 7)) {
                lua_pushvalue(L, 6);
                lua_setmetatable(L, 3);
            }
        } else if (has) {
            lua_pushnil(L);
            lua_setmetatable(L, 3);
        }
        lua_settop(L, 2);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, &chunk_key); /* back after the registry's reset */
    /* math.random's generator is no table but the library's C state: seed
     * it anew, as luaopen_math does for a new state (the last actor may
     * have seeded it; its sequence must not carry over) */
    if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE &&
        lua_getfield(L, -1, LUA_MATHLIBNAME) == LUA_TTABLE &&
        lua_getfield(L, -1, "randomseed") == LUA_TFUNCTION)
        lua_call(L, 0, 0);
    lua_settop(L, 2);
    lua_pushboolean(L, gc);
    return 1;
}

/* -------------------------------------------------------- kept chunks */

int za__lua_cached_chunk(lua_State *L, za__lua_actor *a, const za__lua_proto *p) {
    if (!a->chunk || a->chunk != p) return 0;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &chunk_key) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return 0;
    }
    /* as lua_load does: the first upvalue is the globals (a chunk that
     * assigned _ENV at its top level changed it for its next call) */
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    return 1;
}

void za__lua_cache_chunk(lua_State *L, za__lua_actor *a, const za__lua_proto *p) {
    if (!a->pristine) return;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &chunk_key);
    a->chunk_new = p;
}

void za__lua_chunk_drop(za__lua_actor *a) {
    if (a->chunk) za__lua_proto_release(a->chunk);
    a->chunk = NULL;
}

/* ---------------------------------------------------------------- pool */

typedef struct shard {
    atomic_flag lock;
    int n;
    za__lua_actor *items[POOL_DEPTH];
    /* counters (za_lua_pool_stats): relaxed, on the shard's own line */
    _Atomic uint64_t misses, reused, kept, refused;
    char pad[64];
} shard;

static shard g_pool[POOL_SHARDS] = {
    [0 ... POOL_SHARDS - 1] = {.lock = ATOMIC_FLAG_INIT},
};
static _Atomic unsigned g_next_shard;
static _Thread_local int tl_shard = -1;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;

/* A fork()ed child keeps the pooled states (plain memory) but no thread
 * that could hold a shard lock. */
static void pool_postfork_child(void) {
    for (int i = 0; i < POOL_SHARDS; i++) atomic_flag_clear(&g_pool[i].lock);
}
static void pool_register_atfork(void) {
    pthread_atfork(NULL, NULL, pool_postfork_child);
}

static shard *my_shard(void) {
    if (tl_shard < 0) {
        pthread_once(&g_pool_once, pool_register_atfork);
        tl_shard =
            (int)(atomic_fetch_add_explicit(&g_next_shard, 1, memory_order_relaxed) % POOL_SHARDS);
    }
    return &g_pool[tl_shard];
}

za__lua_actor *za__lua_pool_take(size_t limit) {
    shard *s = my_shard();
    za__lua_actor *a = NULL;
    za__lua_spin_lock(&s->lock);
    if (s->n > 0) a = s->items[--s->n];
    za__lua_spin_unlock(&s->lock);
    if (a && a->used > limit) {
        /* the last actor's garbage may be all that is over this actor's
         * limit (no finalizer can run: such states are never pooled) */
        lua_gc(a->L, LUA_GCCOLLECT, 0);
        if (a->used > limit) { /* the pristine state alone is over it */
            za__lua_pool_discard(a);
            a = NULL;
        }
    }
    atomic_fetch_add_explicit(a ? &s->reused : &s->misses, 1, memory_order_relaxed);
    return a;
}

/* Fields that survive a reset; every other field starts at zero, as after
 * calloc, so fields added to za__lua_actor later need no code here. */
static void clear_actor(za__lua_actor *a) {
    za__lua_actor keep = *a;
    memset(a, 0, sizeof *a);
    a->L = keep.L;
    a->used = keep.used;
    a->limit = keep.limit;
    memcpy(a->small, keep.small, sizeof a->small);
    a->slabs = keep.slabs;
    a->bump = keep.bump;
    a->bump_end = keep.bump_end;
    a->slab_next = keep.slab_next;
    a->pack = keep.pack;
    za_pack_reset(a->pack);
    za_pack_bind(a->pack, NULL); /* as za_pack_new: bound to no System (this actor's may differ) */
    a->ref_ctx = keep.ref_ctx;
    a->chunk = keep.chunk;
    a->ref_mt = keep.ref_mt;
    a->pristine = 1;
    a->libs = keep.libs;
    atomic_flag_clear(&a->lock);
}

int za__lua_pool_reset(za__lua_actor *a, int final) {
    if (!a->L || !a->pristine) return -1;
    if (a->tainted || a->fail[0] || a->armed) {
        atomic_fetch_add_explicit(&my_shard()->refused, 1, memory_order_relaxed);
        return -1;
    }
    lua_State *L = a->L;
    lua_settop(L, 0);
    a->grace = 0;
    lua_pushcfunction(L, reset_cf);
    /* no metamethod runs here (raw accesses only); it allocates only to put
     * back fields the actor removed */
    if (lua_pcall(L, 0, 1, 0) != LUA_OK || lua_toboolean(L, -1) || a->tainted) {
        lua_settop(L, 0);
        atomic_fetch_add_explicit(&my_shard()->refused, 1, memory_order_relaxed);
        return -1;
    }
    lua_settop(L, 0);
    lua_sethook(L, NULL, 0, 0);
    /* the collector as a new state has it: actor code may have stopped it
     * or switched it to generational mode (collectgarbage) */
    if (!lua_gc(L, LUA_GCISRUNNING)) lua_gc(L, LUA_GCRESTART); /* (it also zeroes the debt) */
    lua_gc(L, LUA_GCINC, GC_PAUSE, GC_STEPMUL, GC_STEPSIZE);
    /* an idle pooled state should not sit on its last actor's garbage */
    if (a->used > POOL_GC_AT) lua_gc(L, LUA_GCCOLLECT, 0);
    if (a->used > POOL_MAX_USED) {
        atomic_fetch_add_explicit(&my_shard()->refused, 1, memory_order_relaxed);
        return -1;
    }
    /* The chunk loaded in this life replaces the kept one: the state takes
     * over the actor's reference to its proto at the final stop (a restart
     * keeps that reference in the spawn arguments: then nothing is kept). */
    if (a->chunk_new) {
        za__lua_chunk_drop(a);
        if (final) {
            a->chunk = a->chunk_new;
        } else {
            lua_pushnil(L);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &chunk_key); /* an existing key: no allocation */
        }
    } else if (final) {
        za__lua_proto_release(a->proto);
    }
    return 0;
}

void za__lua_pool_put(za__lua_actor *a) {
    clear_actor(a);
    shard *s = my_shard();
    int ok = 0;
    za__lua_spin_lock(&s->lock);
    if (s->n < POOL_DEPTH) {
        s->items[s->n++] = a;
        ok = 1;
    }
    za__lua_spin_unlock(&s->lock);
    if (ok)
        atomic_fetch_add_explicit(&s->kept, 1, memory_order_relaxed);
    else
        za__lua_pool_discard(a);
}

void za_lua_get_pool_stats(za_lua_pool_stats *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < POOL_SHARDS; i++) {
        shard *s = &g_pool[i];
        out->fresh += atomic_load_explicit(&s->misses, memory_order_relaxed);
        out->reused += atomic_load_explicit(&s->reused, memory_order_relaxed);
        out->kept += atomic_load_explicit(&s->kept, memory_order_relaxed);
        out->refused += atomic_load_explicit(&s->refused, memory_order_relaxed);
        za__lua_spin_lock(&s->lock);
        out->idle += (size_t)s->n;
        za__lua_spin_unlock(&s->lock);
    }
}

void za__lua_pool_discard(za__lua_actor *a) {
    za__lua_chunk_drop(a);
    lua_close(a->L);
    za__lua_alloc_free(a);
    za_pack_free(a->pack);
    free(a);
}

void za_lua_pool_drain(void) {
    for (int i = 0; i < POOL_SHARDS; i++) {
        shard *s = &g_pool[i];
        za__lua_actor *items[POOL_DEPTH];
        za__lua_spin_lock(&s->lock);
        int n = s->n;
        memcpy(items, s->items, (size_t)n * sizeof *items);
        s->n = 0;
        za__lua_spin_unlock(&s->lock);
        for (int k = 0; k < n; k++) za__lua_pool_discard(items[k]); /* outside the lock */
    }
}
