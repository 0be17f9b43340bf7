/*
 * lua_host.c - the Lua 5.4 behaviour host (see lua_host.h and DESIGN.md,
 * "Lua host").
 *
 * Shape of one Lua actor:
 *  - its own lua_State, created with an allocator that counts bytes and
 *    refuses to grow past the actor's memory limit (Lua then raises a
 *    memory error, which fails only this actor);
 *  - only base, string, table, math, utf8 (and coroutine) are opened, so an
 *    actor cannot touch files or the process unless asked for;
 *  - the behaviour chunk is compiled once per spec (lua_dump into a
 *    process-wide cache) and loaded from bytecode per actor;
 *  - handlers run in pooled coroutines: a finished coroutine is reset and
 *    reused, so a message costs one lua_resume, not a lua_newthread;
 *  - ctx:ask yields the handler's coroutine; the reply comes back as a
 *    message with msg->corr set and resumes that coroutine, while other
 *    messages keep being served;
 *  - every piece of Lua work runs in protected mode (lua_pcall or
 *    lua_resume), because an unprotected error would abort the process;
 *  - a runaway handler is stopped by an instruction hook that a watchdog
 *    thread arms only when a handler has run longer than its budget: a
 *    permanent count hook would slow every actor about 2x.
 */
#define ZA_LUA_HOST_WANT_LUA_API 1
#include "lua_host.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZA_LUA_MAX_DEPTH 32      /* msgpack-c's own nesting limit */
#define ZA_LUA_GRACE (1u << 20)  /* extra bytes while reporting a failure */
#define ZA_LUA_POOL_MAX 4        /* idle coroutines kept per actor */
#define ZA_LUA_WD_TICK_MS 10     /* watchdog period */
#define ZA_LUA_MAGIC 0x7a4c7561u /* "zLua": guards the spawn args header */

/* ------------------------------------------------------------ small utils */

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --------------------------------------------------------- bytecode cache */

/* Compiled behaviours live for the whole process: actors point at them
 * from their (copied, kept for restarts) spawn arguments, and a module is
 * normally spawned many times, so freeing them would buy little. */
typedef struct za_lua_proto {
    char *key;       /* spec as given (or resolved path) */
    char *chunkname; /* "@path" or "=source" for tracebacks */
    char *code;      /* lua_dump output */
    size_t len;
    unsigned libs; /* LAZY_LIBS the bytecode names: opened at every spawn */
    struct za_lua_proto *next;
} za_lua_proto;

/* Opening a library costs ~2 us per state (all six: ~12 of a spawn's ~18
 * us), so base and string (string methods need their metatable) are always
 * open, these only when the behaviour's bytecode names them; any other is
 * opened on first use through _G's __index (dynamic names, load()ed code). */
static const luaL_Reg LAZY_LIBS[] = {
    {LUA_TABLIBNAME, luaopen_table},
    {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},
    {LUA_COLIBNAME, luaopen_coroutine},
    {NULL, NULL},
};

static unsigned libs_named(const char *code, size_t len) {
    unsigned m = 0;
    for (int i = 0; LAZY_LIBS[i].name; i++)
        if (memmem(code, len, LAZY_LIBS[i].name, strlen(LAZY_LIBS[i].name))) m |= 1u << i;
    return m;
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static za_lua_proto *g_protos;
static char *g_path;

void za_lua_set_path(const char *path) {
    if (!path) return;
    pthread_mutex_lock(&g_mu);
    if (!g_path || strcmp(g_path, path) != 0) {
        char *p = strdup(path);
        if (p) {
            free(g_path);
            g_path = p;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

typedef struct dumpbuf {
    char *p;
    size_t len, cap;
} dumpbuf;

static int dump_writer(lua_State *L, const void *b, size_t sz, void *ud) {
    (void)L;
    dumpbuf *d = ud;
    if (d->len + sz > d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4096;
        while (nc < d->len + sz) nc *= 2;
        char *np = realloc(d->p, nc);
        if (!np) return 1;
        d->p = np;
        d->cap = nc;
    }
    memcpy(d->p + d->len, b, sz);
    d->len += sz;
    return 0;
}

static int is_source(const char *spec) {
    return strchr(spec, '\n') != NULL || strncmp(spec, "return", 6) == 0;
}

static int is_path(const char *spec) {
    size_t n = strlen(spec);
    return strchr(spec, '/') != NULL || (n > 4 && strcmp(spec + n - 4, ".lua") == 0);
}

/* Resolve a module name against a ';'-separated template list. */
static int search_module(const char *name, const char *path, char *out, size_t outlen) {
    char mod[512];
    size_t n = strlen(name);
    if (n >= sizeof mod) return 0;
    for (size_t i = 0; i <= n; i++) mod[i] = name[i] == '.' ? '/' : name[i];
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t tl = e ? (size_t)(e - p) : strlen(p);
        size_t o = 0;
        for (size_t i = 0; i < tl && o + 1 < outlen; i++) {
            if (p[i] == '?') {
                size_t ml = strlen(mod);
                if (o + ml >= outlen) break;
                memcpy(out + o, mod, ml);
                o += ml;
            } else {
                out[o++] = p[i];
            }
        }
        out[o] = 0;
        if (o) {
            FILE *f = fopen(out, "r");
            if (f) {
                fclose(f);
                return 1;
            }
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* Find or compile the behaviour for spec. */
static const za_lua_proto *get_proto(const char *spec, char *err, size_t errlen) {
    pthread_mutex_lock(&g_mu);
    for (za_lua_proto *p = g_protos; p; p = p->next)
        if (strcmp(p->key, spec) == 0) {
            pthread_mutex_unlock(&g_mu);
            return p;
        }
    char path[1024] = {0};
    int src = is_source(spec);
    if (!src) {
        if (is_path(spec)) {
            snprintf(path, sizeof path, "%s", spec);
        } else {
            const char *tmpl = g_path;
            if (!tmpl) tmpl = getenv("LUA_PATH_5_4");
            if (!tmpl) tmpl = getenv("LUA_PATH");
            if (!tmpl) tmpl = "./?.lua;./?/init.lua";
            if (!search_module(spec, tmpl, path, sizeof path)) {
                pthread_mutex_unlock(&g_mu);
                set_err(err, errlen, "module '%s' not found in path '%s'", spec, tmpl);
                return NULL;
            }
        }
    }
    pthread_mutex_unlock(&g_mu);

    /* Compile in a scratch state: bytecode is state-independent. */
    lua_State *L = luaL_newstate();
    if (!L) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    int rc = src ? luaL_loadbufferx(L, spec, strlen(spec), "=(lua actor source)", "t")
                 : luaL_loadfilex(L, path, "t");
    if (rc != LUA_OK) {
        set_err(err, errlen, "cannot load Lua behaviour: %s", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    dumpbuf d = {0};
    if (lua_dump(L, dump_writer, &d, 0) != 0 || !d.p) {
        free(d.p);
        lua_close(L);
        set_err(err, errlen, "out of memory dumping bytecode");
        return NULL;
    }
    lua_close(L);
    za_lua_proto *np = calloc(1, sizeof *np);
    char cn[1100];
    snprintf(cn, sizeof cn, src ? "=(lua actor source)" : "@%s", path);
    if (np) {
        np->key = strdup(spec);
        np->chunkname = strdup(cn);
    }
    if (!np || !np->key || !np->chunkname) {
        if (np) {
            free(np->key);
            free(np->chunkname);
        }
        free(np);
        free(d.p);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    np->code = d.p;
    np->libs = libs_named(d.p, d.len);
    np->len = d.len;
    pthread_mutex_lock(&g_mu);
    for (za_lua_proto *p = g_protos; p; p = p->next)
        if (strcmp(p->key, spec) == 0) { /* lost a race: keep the first */
            pthread_mutex_unlock(&g_mu);
            free(np->key);
            free(np->chunkname);
            free(np->code);
            free(np);
            return p;
        }
    np->next = g_protos;
    g_protos = np;
    pthread_mutex_unlock(&g_mu);
    return np;
}

/* ----------------------------------------------------------------- actors */

/* One handler execution: a pooled coroutine plus what it must answer. */
typedef struct lua_run {
    lua_State *co;
    int anchor;          /* registry ref keeping co alive */
    int want_reply;      /* the message that started it was an ask */
    za_reply_slot *slot; /* taken reply slot (after the handler yielded) */
    za_ref sender;
    uint64_t wait_corr; /* corr of the ctx:ask it waits on (0: none) */
    struct lua_run *next;
} lua_run;

#define ZA_LUA_SMALL_STEP 16u /* small-block cache: size classes of 16 bytes */
#define ZA_LUA_SMALL_MAX 128u
#define ZA_LUA_SMALL_CLASSES (ZA_LUA_SMALL_MAX / ZA_LUA_SMALL_STEP)
#define ZA_LUA_SLAB_MIN 1024u /* first slab; doubles up to ZA_LUA_SLAB_MAX */
#define ZA_LUA_SLAB_MAX 4096u /* small: an idle actor wastes at most one tail */
struct lua_slab;

typedef struct za_lua_actor {
    lua_State *L;
    size_t used, limit;
    void *small[ZA_LUA_SMALL_CLASSES]; /* free lists (see actor_alloc) */
    struct lua_slab *slabs;
    char *bump, *bump_end; /* unused tail of the newest slab */
    size_t slab_next;
    int grace; /* allow ZA_LUA_GRACE more while reporting a failure */
    za_system *sys;
    za_ctx *ctx; /* valid during the current callback only */
    za_ref self;
    uint32_t restarts;
    int ref_receive, ref_stop, ref_init, ref_down, ref_ctx;
    lua_run *cur, *pool, *waiting;
    int npool;
    za_pack *pack;
    char fail[512];

    /* Watchdog: `running` is the state executing Lua right now (NULL when
     * idle), `seq` counts handler starts; both change under `lock`. */
    atomic_flag lock;
    _Atomic(lua_State *) running;
    _Atomic uint32_t seq;
    uint32_t wd_seq, wd_stuck_ms; /* the watchdog's own */
    int armed;
    uint32_t budget_ms;
    struct za_lua_actor *wprev, *wnext;
} za_lua_actor;

typedef struct lua_args_hdr {
    uint32_t magic;
    uint32_t budget_ms;
    const za_lua_proto *proto;
    size_t memory_limit;
    int open_io_os;
} lua_args_hdr;

static za_lua_actor *actor_of(lua_State *L) {
    return *(za_lua_actor **)lua_getextraspace(L);
}

/* Small-block slabs: a message typically allocates a few small objects
 * (the decoded table and its array, the handler's outgoing table, ...) that
 * the GC later frees in batches. An actor migrates between workers, so with
 * plain malloc these blocks are freed on another thread than the one that
 * allocated them, and glibc spends most of a message's time in its
 * cross-arena slow paths. Only one thread runs an actor at a time, so every
 * block of Lua size <= ZA_LUA_SMALL_MAX comes from per-actor slabs with
 * per-size-class free lists, no lock; the slabs go when the actor does.
 * Lua always tells the old size, so a block's origin follows from it. */
typedef struct lua_slab {
    struct lua_slab *next;
    size_t pad; /* keeps the payload 16-byte aligned */
} lua_slab;

static void *small_get(za_lua_actor *a, unsigned c) {
    void *b = a->small[c];
    if (b) {
        a->small[c] = *(void **)b;
        return b;
    }
    size_t sz = (size_t)(c + 1) * ZA_LUA_SMALL_STEP;
    if ((size_t)(a->bump_end - a->bump) < sz) {
        size_t ssz = a->slab_next ? a->slab_next : ZA_LUA_SLAB_MIN;
        lua_slab *sl = malloc(sizeof *sl + ssz);
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
        if (ssz < ZA_LUA_SLAB_MAX) a->slab_next = ssz * 2;
    }
    b = a->bump;
    a->bump += sz;
    return b;
}

static void small_put(za_lua_actor *a, void *b, unsigned c) {
    *(void **)b = a->small[c];
    a->small[c] = b;
}

static inline unsigned small_class(size_t n) {
    return (unsigned)((n - 1) / ZA_LUA_SMALL_STEP); /* n in 1..ZA_LUA_SMALL_MAX */
}

static void *actor_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    za_lua_actor *a = ud;
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
        if (a->used - old + nsize > cap) return NULL; /* Lua raises a memory error */
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

static void free_small_cache(za_lua_actor *a) {
    for (lua_slab *sl = a->slabs, *n; sl; sl = n) {
        n = sl->next;
        free(sl);
    }
    a->slabs = NULL;
    a->bump = a->bump_end = NULL;
    memset(a->small, 0, sizeof a->small);
}

static void spin_lock(atomic_flag *f) {
    while (atomic_flag_test_and_set_explicit(f, memory_order_acquire)) {
    }
}
static void spin_unlock(atomic_flag *f) {
    atomic_flag_clear_explicit(f, memory_order_release);
}

/* ---------------------------------------------------------------- watchdog */

static pthread_mutex_t g_wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wd_cv = PTHREAD_COND_INITIALIZER;
static za_lua_actor *g_wd_list;
static size_t g_wd_count;
static uint64_t g_wd_gen; /* a watchdog thread exits when the generation moves on */
static pthread_t g_wd_thread;

static void budget_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    /* Stays armed: an error swallowed by a pcall inside the handler fires
     * again at the next instruction, so the handler cannot keep running. */
    za_lua_actor *a = actor_of(L);
    luaL_error(L, "zactor: handler ran longer than its budget of %d ms and was stopped",
               (int)a->budget_ms);
}

static void *watchdog_main(void *arg) {
    uint64_t gen = (uint64_t)(uintptr_t)arg;
    pthread_mutex_lock(&g_wd_mu);
    while (g_wd_gen == gen) {
        for (za_lua_actor *a = g_wd_list; a; a = a->wnext) {
            /* Idle actors (nearly all) are skipped without taking their
             * lock: a per-message lock write by the worker and a lock RMW
             * here would bounce the line between cores every tick. */
            if (!atomic_load_explicit(&a->running, memory_order_relaxed)) {
                a->wd_seq = atomic_load_explicit(&a->seq, memory_order_relaxed);
                a->wd_stuck_ms = 0;
                continue;
            }
            spin_lock(&a->lock);
            if (a->running && a->seq == a->wd_seq) {
                a->wd_stuck_ms += ZA_LUA_WD_TICK_MS;
                if (!a->armed && a->wd_stuck_ms >= a->budget_ms) {
                    /* Same technique as lua.c's SIGINT handler: lua_sethook
                     * only sets fields the VM polls at calls and jumps. */
                    lua_sethook(a->running, budget_hook, LUA_MASKCOUNT, 1);
                    a->armed = 1;
                }
            } else {
                a->wd_seq = a->seq;
                a->wd_stuck_ms = 0;
            }
            spin_unlock(&a->lock);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += ZA_LUA_WD_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g_wd_cv, &g_wd_mu, &ts);
    }
    pthread_mutex_unlock(&g_wd_mu);
    return NULL;
}

static int wd_add(za_lua_actor *a) {
    int rc = 0;
    pthread_mutex_lock(&g_wd_mu);
    if (g_wd_count == 0) {
        g_wd_gen++;
        if (pthread_create(&g_wd_thread, NULL, watchdog_main, (void *)(uintptr_t)g_wd_gen) != 0)
            rc = -1;
    }
    if (rc == 0) {
        a->wnext = g_wd_list;
        a->wprev = NULL;
        if (g_wd_list) g_wd_list->wprev = a;
        g_wd_list = a;
        g_wd_count++;
    }
    pthread_mutex_unlock(&g_wd_mu);
    return rc;
}

static void wd_remove(za_lua_actor *a) {
    pthread_t t;
    int join = 0;
    pthread_mutex_lock(&g_wd_mu);
    if (a->wprev)
        a->wprev->wnext = a->wnext;
    else
        g_wd_list = a->wnext;
    if (a->wnext) a->wnext->wprev = a->wprev;
    if (--g_wd_count == 0) {
        /* Last Lua actor gone: stop the thread, so nothing runs code of
         * this (possibly dlclose'd) module once every actor is gone. */
        g_wd_gen++;
        t = g_wd_thread;
        join = 1;
        pthread_cond_broadcast(&g_wd_cv);
    }
    pthread_mutex_unlock(&g_wd_mu);
    if (join) pthread_join(t, NULL);
}

static void mark_running(za_lua_actor *a, lua_State *co) {
    spin_lock(&a->lock); /* the lock orders these; relaxed avoids extra fences */
    atomic_store_explicit(&a->running, co, memory_order_relaxed);
    atomic_store_explicit(&a->seq, atomic_load_explicit(&a->seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    spin_unlock(&a->lock);
}

static void mark_idle(za_lua_actor *a, lua_State *co) {
    spin_lock(&a->lock);
    atomic_store_explicit(&a->running, NULL, memory_order_relaxed);
    if (a->armed) {
        if (co) lua_sethook(co, NULL, 0, 0);
        a->armed = 0;
    }
    spin_unlock(&a->lock);
}

/* ------------------------------------------------------------ value codec */

typedef struct enc {
    lua_State *L;
    za_pack *p;
    char *err;
    size_t errlen;
    const void *stack[ZA_LUA_MAX_DEPTH + 1];
    int depth;
    const char *what; /* set by enc_fail; the message is formatted once, at the top */
    char path[256];   /* built while unwinding from a failure, innermost first */
} enc;

static int is_ref(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour); /* the ref metatable */
    int eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0 && c >= 0xc2)
            k = 1;
        else if ((c & 0xf0) == 0xe0)
            k = 2;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
            k = 3;
        else
            return 0;
        if (i + k >= n) return 0; /* truncated sequence */
        for (size_t j = 1; j <= k; j++)
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return 0;
        uint32_t cp = c & (0x3f >> k);
        for (size_t j = 1; j <= k; j++) cp = (cp << 6) | (s[i + j] & 0x3f);
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Record what failed; the path ("at .a[2]") is prepended to by each
 * enclosing table while the failure unwinds (path_prepend), so the happy
 * path formats nothing. */
static int enc_fail(enc *e, const char *what) {
    e->what = what;
    e->path[0] = 0;
    return -1;
}

static int enc_value(enc *e, int idx);

/* Prepend "[k]" or ".k" (the key at kidx, or the integer index i when
 * kidx is 0) to the error path. */
static void path_prepend(enc *e, int kidx, lua_Integer i) {
    char seg[128];
    lua_State *L = e->L;
    if (kidx == 0)
        snprintf(seg, sizeof seg, "[%lld]", (long long)i);
    else if (lua_type(L, kidx) == LUA_TSTRING)
        snprintf(seg, sizeof seg, ".%s", lua_tostring(L, kidx));
    else if (lua_isinteger(L, kidx))
        snprintf(seg, sizeof seg, "[%lld]", (long long)lua_tointeger(L, kidx));
    else
        snprintf(seg, sizeof seg, "[?]");
    size_t sl = strlen(seg), pl = strlen(e->path);
    if (sl + pl >= sizeof e->path) {
        if (sl >= sizeof e->path) return;
        pl = sizeof e->path - 1 - sl; /* keep the outer part; drop the tail */
    }
    memmove(e->path + sl, e->path, pl);
    memcpy(e->path, seg, sl);
    e->path[sl + pl] = 0;
}

static int enc_table(enc *e, int idx) {
    lua_State *L = e->L;
    const void *tp = lua_topointer(L, idx);
    for (int i = 0; i < e->depth; i++)
        if (e->stack[i] == tp) return enc_fail(e, "a cyclic table");
    if (e->depth >= ZA_LUA_MAX_DEPTH) return enc_fail(e, "a table nested deeper than 32 levels");
    if (!lua_checkstack(L, 6)) return enc_fail(e, "a value (Lua stack exhausted)");
    e->stack[e->depth++] = tp;
    /* Array iff the keys are exactly 1..n; the empty table is an array. */
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    lua_Integer count = 0;
    int seq = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        if (seq) {
            int isint = 0;
            lua_Integer k = lua_tointegerx(L, -2, &isint);
            if (!isint || lua_type(L, -2) != LUA_TNUMBER || k < 1 || k > n) seq = 0;
        }
        lua_pop(L, 1);
    }
    int rc = 0;
    if (seq && count == n) {
        if (count > UINT32_MAX || za_pack_array(e->p, (uint32_t)count) != ZA_OK)
            return enc_fail(e, "a table (MessagePack writer failed)");
        for (lua_Integer i = 1; i <= n && rc == 0; i++) {
            lua_rawgeti(L, idx, i);
            rc = enc_value(e, lua_gettop(L));
            if (rc != 0) path_prepend(e, 0, i);
            lua_pop(L, 1);
        }
    } else {
        if (count > UINT32_MAX || za_pack_map(e->p, (uint32_t)count) != ZA_OK)
            return enc_fail(e, "a table (MessagePack writer failed)");
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, idx)) {
            int top = lua_gettop(L);
            rc = enc_value(e, top - 1);
            if (rc == 0) rc = enc_value(e, top);
            if (rc != 0) path_prepend(e, top - 1, 0);
            lua_pop(L, 1);
        }
        if (rc != 0) lua_pop(L, 1); /* the key left by the aborted traversal */
    }
    e->depth--;
    return rc;
}

static int enc_value(enc *e, int idx) {
    lua_State *L = e->L;
    int r = ZA_OK;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        r = za_pack_nil(e->p);
        break;
    case LUA_TBOOLEAN:
        r = za_pack_bool(e->p, lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            r = za_pack_int(e->p, (int64_t)lua_tointeger(L, idx));
        else
            r = za_pack_double(e->p, (double)lua_tonumber(L, idx));
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        r = utf8_valid((const unsigned char *)s, n) ? za_pack_str(e->p, s, n)
                                                    : za_pack_bin(e->p, s, n);
        break;
    }
    case LUA_TTABLE:
        return enc_table(e, idx);
    case LUA_TUSERDATA:
        if (is_ref(L, idx)) {
            r = za_pack_ref(e->p, ((za_lua_ref *)lua_touserdata(L, idx))->ref);
            break;
        }
        return enc_fail(e, "a userdata value (only actor refs can be sent)");
    case LUA_TFUNCTION:
        return enc_fail(e, "a function value");
    case LUA_TTHREAD:
        return enc_fail(e, "a coroutine value");
    case LUA_TLIGHTUSERDATA:
        return enc_fail(e, "a light userdata value");
    default:
        return enc_fail(e, "a value of unknown type");
    }
    if (r != ZA_OK) return enc_fail(e, "a value (MessagePack writer failed)");
    return 0;
}

int za_lua_encode(lua_State *L, int idx, za_pack *p, char *err, size_t errlen) {
    enc e;
    e.L = L;
    e.p = p;
    e.err = err;
    e.errlen = errlen;
    e.depth = 0;
    e.what = NULL;
    e.path[0] = 0;
    int top = lua_gettop(L);
    int rc = enc_value(&e, lua_absindex(L, idx));
    lua_settop(L, top);
    if (rc != 0) {
        const char *what = e.what ? e.what : "a value";
        if (e.path[0])
            set_err(err, errlen, "cannot send %s (at %s)", what, e.path);
        else
            set_err(err, errlen, "cannot send %s", what);
    }
    return rc;
}

static void push_plain_ref(lua_State *L, za_ref r, void *ud) {
    (void)ud;
    za_lua_ref *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->ref = r;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
    lua_setmetatable(L, -2);
}

void za_lua_push_value(lua_State *L, const za_value *v, za_lua_push_ref_fn push_ref, void *ud) {
    luaL_checkstack(L, 4, "value nested too deep");
    switch (v->type) {
    case ZA_V_NIL:
        lua_pushnil(L);
        break;
    case ZA_V_BOOL:
        lua_pushboolean(L, v->v.b);
        break;
    case ZA_V_INT:
        lua_pushinteger(L, (lua_Integer)v->v.i);
        break;
    case ZA_V_UINT:
        lua_pushnumber(L, (lua_Number)v->v.u);
        break; /* > INT64_MAX */
    case ZA_V_DOUBLE:
        lua_pushnumber(L, v->v.d);
        break;
    case ZA_V_STR:
    case ZA_V_BIN:
        lua_pushlstring(L, v->v.str.ptr, v->v.str.len);
        break;
    case ZA_V_ARRAY:
        lua_createtable(L, (int)v->v.array.n, 0);
        for (uint32_t i = 0; i < v->v.array.n; i++) {
            za_lua_push_value(L, &v->v.array.items[i], push_ref, ud);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case ZA_V_MAP:
        lua_createtable(L, 0, (int)v->v.map.n);
        for (uint32_t i = 0; i < v->v.map.n; i++) {
            za_lua_push_value(L, &v->v.map.keys[i], push_ref, ud);
            if (lua_isnil(L, -1) ||
                (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1))) {
                lua_pop(L, 1); /* nil / NaN keys cannot exist in Lua: skip */
                continue;
            }
            za_lua_push_value(L, &v->v.map.vals[i], push_ref, ud);
            lua_rawset(L, -3);
        }
        break;
    case ZA_V_REF:
        (push_ref ? push_ref : push_plain_ref)(L, v->v.ref, ud);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

/* Direct MessagePack -> Lua decoder for the per-message path: no za_doc,
 * no msgpack zone, no malloc: values are pushed straight from the bytes.
 * It accepts exactly what za_doc_decode accepts and maps values as
 * za_lua_push_value does (uint above INT64_MAX -> float, str/bin -> string,
 * ext ZA_MP_EXT_REF of 8 bytes -> ref, nil/NaN map keys skipped). Errors
 * are raised as Lua errors; partial tables are garbage, nothing leaks. */
#define ZA_LUA_DEC_DEPTH 32 /* msgpack-c's MSGPACK_EMBED_STACK_SIZE */

typedef struct dec {
    const unsigned char *p, *end, *start;
    za_lua_push_ref_fn push_ref; /* NULL: push_plain_ref */
    void *ud;
    const char *prefix; /* of error messages */
} dec;

_Noreturn static void dec_fail(lua_State *L, dec *d, const char *what) {
    luaL_error(L, "%s: %s at byte %d", d->prefix, what, (int)(d->p - d->start));
    for (;;) { /* not reached */
    }
}

static const unsigned char *dec_take(lua_State *L, dec *d, size_t n) {
    if ((size_t)(d->end - d->p) < n) dec_fail(L, d, "truncated MessagePack value");
    const unsigned char *r = d->p;
    d->p += n;
    return r;
}

static uint64_t be_read(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | b[i];
    return v;
}

static void dec_value(lua_State *L, dec *d, int depth);

static void dec_container(lua_State *L, dec *d, int depth, uint32_t n, int is_map) {
    if (depth >= ZA_LUA_DEC_DEPTH) dec_fail(L, d, "value nested too deep");
    /* every element takes at least one byte: bounds hostile counts */
    size_t left = (size_t)(d->end - d->p);
    if ((uint64_t)n * (is_map ? 2u : 1u) > left) dec_fail(L, d, "truncated MessagePack container");
    luaL_checkstack(L, 4, "value nested too deep");
    if (!is_map) {
        lua_createtable(L, (int)n, 0);
        for (uint32_t i = 0; i < n; i++) {
            dec_value(L, d, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return;
    }
    lua_createtable(L, 0, (int)n);
    for (uint32_t i = 0; i < n; i++) {
        dec_value(L, d, depth + 1);
        int skip = lua_isnil(L, -1) ||
                   (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1));
        dec_value(L, d, depth + 1);
        if (skip)
            lua_pop(L, 2); /* nil / NaN keys cannot exist in Lua: skip */
        else
            lua_rawset(L, -3);
    }
}

static void dec_ext(lua_State *L, dec *d, size_t n) {
    int8_t type = (int8_t)*dec_take(L, d, 1);
    const unsigned char *b = dec_take(L, d, n);
    if (type != ZA_MP_EXT_REF) dec_fail(L, d, "unsupported MessagePack ext type");
    if (n != 8) dec_fail(L, d, "actor reference ext of the wrong size");
    (d->push_ref ? d->push_ref : push_plain_ref)(L, (za_ref)be_read(b, 8), d->ud);
}

static void dec_value(lua_State *L, dec *d, int depth) {
    unsigned c = *dec_take(L, d, 1);
    if (c <= 0x7f) {
        lua_pushinteger(L, (lua_Integer)c);
        return;
    }
    if (c >= 0xe0) {
        lua_pushinteger(L, (lua_Integer)(int8_t)c);
        return;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        size_t n = c & 0x1f;
        lua_pushlstring(L, (const char *)dec_take(L, d, n), n);
        return;
    }
    if (c >= 0x90 && c <= 0x9f) {
        dec_container(L, d, depth, c & 0x0f, 0);
        return;
    }
    if (c >= 0x80 && c <= 0x8f) {
        dec_container(L, d, depth, c & 0x0f, 1);
        return;
    }
    switch (c) {
    case 0xc0:
        lua_pushnil(L);
        return;
    case 0xc2:
        lua_pushboolean(L, 0);
        return;
    case 0xc3:
        lua_pushboolean(L, 1);
        return;
    case 0xc4:
    case 0xc5:
    case 0xc6:
    case 0xd9:
    case 0xda:
    case 0xdb: { /* bin / str */
        int w = (c == 0xc4 || c == 0xd9) ? 1 : (c == 0xc5 || c == 0xda) ? 2 : 4;
        size_t n = (size_t)be_read(dec_take(L, d, (size_t)w), w);
        lua_pushlstring(L, (const char *)dec_take(L, d, n), n);
        return;
    }
    case 0xc7:
    case 0xc8:
    case 0xc9: { /* ext 8/16/32 */
        int w = c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4;
        dec_ext(L, d, (size_t)be_read(dec_take(L, d, (size_t)w), w));
        return;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext 1..16 */
        dec_ext(L, d, (size_t)1 << (c - 0xd4));
        return;
    case 0xca: {
        uint32_t u = (uint32_t)be_read(dec_take(L, d, 4), 4);
        float f;
        memcpy(&f, &u, sizeof f);
        lua_pushnumber(L, (lua_Number)f);
        return;
    }
    case 0xcb: {
        uint64_t u = be_read(dec_take(L, d, 8), 8);
        double f;
        memcpy(&f, &u, sizeof f);
        lua_pushnumber(L, (lua_Number)f);
        return;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: { /* uint 8..64 */
        int w = 1 << (c - 0xcc);
        uint64_t u = be_read(dec_take(L, d, (size_t)w), w);
        if (u <= (uint64_t)INT64_MAX)
            lua_pushinteger(L, (lua_Integer)u);
        else
            lua_pushnumber(L, (lua_Number)u);
        return;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: { /* int 8..64 */
        int w = 1 << (c - 0xd0);
        uint64_t u = be_read(dec_take(L, d, (size_t)w), w);
        int64_t v;
        if (w == 1)
            v = (int8_t)u;
        else if (w == 2)
            v = (int16_t)u;
        else if (w == 4)
            v = (int32_t)u;
        else
            memcpy(&v, &u, sizeof v);
        lua_pushinteger(L, (lua_Integer)v);
        return;
    }
    case 0xdc:
    case 0xdd:
    case 0xde:
    case 0xdf: { /* array / map 16/32 */
        int w = (c == 0xdc || c == 0xde) ? 2 : 4;
        uint32_t n = (uint32_t)be_read(dec_take(L, d, (size_t)w), w);
        dec_container(L, d, depth, n, c >= 0xde);
        return;
    }
    default:
        d->p--;
        dec_fail(L, d, "malformed MessagePack (invalid byte)");
    }
}

static void decode_with(lua_State *L, const void *data, size_t len, za_lua_push_ref_fn push_ref,
                        void *ud, const char *prefix) {
    dec d;
    d.start = d.p = data;
    d.end = d.p + len;
    d.push_ref = push_ref;
    d.ud = ud;
    d.prefix = prefix;
    if (len == 0) dec_fail(L, &d, "empty input");
    dec_value(L, &d, 0);
    if (d.p != d.end) dec_fail(L, &d, "trailing bytes after the MessagePack value");
}

void za_lua_decode(lua_State *L, const void *data, size_t len, za_lua_push_ref_fn push_ref,
                   void *ud) {
    decode_with(L, data, len, push_ref, ud, "zactor: bad MessagePack");
}

/* Decode a message payload and push it (empty: nil); raises a Lua error
 * on malformed input. */
static void push_payload(lua_State *L, const void *data, size_t len) {
    if (len == 0) {
        lua_pushnil(L);
        return;
    }
    decode_with(L, data, len, NULL, NULL, "zactor: bad message payload");
}

/* --------------------------------------------------------- ctx and refs */

static za_ref check_ref(lua_State *L, int idx) {
    if (!is_ref(L, idx)) luaL_typeerror(L, idx, "zactor ref");
    return ((za_lua_ref *)lua_touserdata(L, idx))->ref;
}

static void push_ref_or_nil(lua_State *L, za_ref r) {
    if (r == ZA_REF_NONE)
        lua_pushnil(L);
    else
        push_plain_ref(L, r, NULL);
}

static const char *err_text(int rc) {
    const char *t = za_last_error();
    return (t && *t) ? t : za_strerror(rc);
}

/* One wording of runtime errors for Lua, shared with lua/zactor.c. */
int za_lua_raise(lua_State *L, const char *op, int rc) {
    switch (rc) {
    case ZA_EDEAD:
        return luaL_error(L, "zactor: %s: actor is dead", op);
    case ZA_EFULL:
        return luaL_error(L, "zactor: %s: mailbox full", op);
    case ZA_ETIMEDOUT:
        return luaL_error(L, "zactor: %s: timed out", op);
    case ZA_ESHUTDOWN:
        return luaL_error(L, "zactor: %s: system is shutting down", op);
    default:
        return luaL_error(L, "zactor: %s: %s", op, err_text(rc));
    }
}

static const void *encode_or_raise(lua_State *L, za_lua_actor *a, int idx, size_t *len) {
    char err[300];
    za_pack_reset(a->pack);
    if (za_lua_encode(L, idx, a->pack, err, sizeof err) != 0)
        luaL_error(L, "zactor: bad value: %s", err);
    *len = za_pack_size(a->pack);
    return za_pack_data(a->pack);
}

static int ref_tell(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    za_ref r = check_ref(L, 1);
    size_t len;
    const void *d = encode_or_raise(L, a, 2, &len);
    int rc = za_tell(a->sys, r, 0, d, len);
    if (rc == ZA_EDROPPED) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc != ZA_OK) za_lua_raise(L, "tell", rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int ref_stop(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    int rc = za_stop(a->sys, check_ref(L, 1));
    if (rc != ZA_OK && rc != ZA_EDEAD) za_lua_raise(L, "stop", rc);
    return 0;
}

static int ref_alive(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    lua_pushboolean(L, za_is_alive(a->sys, check_ref(L, 1)) == 1);
    return 1;
}

static int ref_eq(lua_State *L) {
    lua_pushboolean(L, is_ref(L, 1) && is_ref(L, 2) &&
                           ((za_lua_ref *)lua_touserdata(L, 1))->ref ==
                               ((za_lua_ref *)lua_touserdata(L, 2))->ref);
    return 1;
}

static int ref_tostring(lua_State *L) {
    za_ref r = check_ref(L, 1);
    lua_pushfstring(L, "zactor.ref(%d.%d)", (int)za_ref_slot(r), (int)za_ref_gen(r));
    return 1;
}

void za_lua_ref_metatable(lua_State *L, const luaL_Reg *methods) {
    luaL_newmetatable(L, ZA_LUA_REF_MT);
    int n = 0;
    while (methods[n].name) n++;
    lua_createtable(L, 0, n); /* presized: this runs for every actor state */
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ref_eq);
    lua_setfield(L, -2, "__eq");
    lua_pushcfunction(L, ref_tostring);
    lua_setfield(L, -2, "__tostring");
    /* findable without allocation: registry[&za_lua_behaviour] */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &za_lua_behaviour);
}

/* Parse a spawn options table at idx (shared by ctx:spawn and the module). */
int za_lua_parse_opts(lua_State *L, int idx, za_spawn_opts *o, za_lua_opts *lo);
int za_lua_parse_opts(lua_State *L, int idx, za_spawn_opts *o, za_lua_opts *lo) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (strcmp(k, "name") == 0)
            o->name = luaL_checkstring(L, -1);
        else if (strcmp(k, "capacity") == 0)
            o->capacity = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "max_restarts") == 0)
            o->max_restarts = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "within_ms") == 0)
            o->within_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "backoff_min_ms") == 0)
            o->backoff_min_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "backoff_max_ms") == 0)
            o->backoff_max_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "block_timeout_ms") == 0)
            o->block_timeout_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "memory_limit") == 0)
            lo->memory_limit = (size_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "budget_ms") == 0)
            lo->budget_ms = (uint32_t)luaL_checkinteger(L, -1);
        else if (strcmp(k, "open_io_os") == 0)
            lo->open_io_os = lua_toboolean(L, -1);
        else if (strcmp(k, "restart") == 0) {
            static const char *const r[] = {"permanent", "transient", "temporary", NULL};
            o->restart = (za_restart)luaL_checkoption(L, -1, NULL, r);
        } else if (strcmp(k, "strategy") == 0) {
            static const char *const s[] = {"one_for_one", "one_for_all", "rest_for_one",
                                            "stop",        "escalate",    NULL};
            o->strategy = (za_strategy)luaL_checkoption(L, -1, NULL, s);
        } else if (strcmp(k, "full_policy") == 0) {
            static const char *const f[] = {"fail", "drop_newest", "drop_oldest", "block", NULL};
            o->full_policy = (za_full_policy)luaL_checkoption(L, -1, NULL, f);
        } else
            return luaL_error(L, "zactor: unknown spawn option '%s'", k);
        lua_pop(L, 1);
    }
    return 0;
}

/* Is the table at idx a spawn options table (non-empty, only option keys)? */
int za_lua_is_opts(lua_State *L, int idx);
int za_lua_is_opts(lua_State *L, int idx) {
    static const char *const keys[] = {
        "name",           "capacity",         "max_restarts", "within_ms", "backoff_min_ms",
        "backoff_max_ms", "block_timeout_ms", "memory_limit", "budget_ms", "open_io_os",
        "restart",        "strategy",         "full_policy",  NULL};
    if (!lua_istable(L, idx)) return 0;
    idx = lua_absindex(L, idx);
    int n = 0, ok = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n++;
        int found = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            for (int i = 0; keys[i]; i++)
                if (strcmp(k, keys[i]) == 0) found = 1;
        }
        lua_pop(L, 1);
        if (!found) {
            lua_pop(L, 1);
            ok = 0;
            break;
        }
    }
    return ok && n > 0;
}

static int ctx_spawn(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    const char *spec = luaL_checkstring(L, 2);
    int last = lua_gettop(L);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    za_lua_opts lo = {0};
    if (last > 2 && za_lua_is_opts(L, last)) {
        za_lua_parse_opts(L, last, &o, &lo);
        last--;
    }
    za_pack_reset(a->pack);
    za_pack_array(a->pack, (uint32_t)(last - 2));
    char err[300];
    for (int i = 3; i <= last; i++)
        if (za_lua_encode(L, i, a->pack, err, sizeof err) != 0)
            return luaL_error(L, "zactor: bad spawn argument: %s", err);
    za_ref r;
    int rc = za_lua_spawn_ex(a->sys, spec, za_pack_data(a->pack), za_pack_size(a->pack), &o, &lo,
                             &r, err, sizeof err);
    if (rc != ZA_OK) return luaL_error(L, "zactor: spawn '%s' failed: %s", spec, err);
    push_plain_ref(L, r, NULL);
    return 1;
}

static int ctx_send_after(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    lua_Number sec = luaL_checknumber(L, 2);
    za_ref r = check_ref(L, 3);
    size_t len;
    const void *d = encode_or_raise(L, a, 4, &len);
    za_timer_id id = 0;
    uint32_t ms = sec <= 0 ? 0 : (uint32_t)(sec * 1000.0 + 0.5);
    int rc = za_send_after(a->sys, ms, r, 0, d, len, &id);
    if (rc != ZA_OK) za_lua_raise(L, "send_after", rc);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int ctx_cancel_timer(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    lua_pushboolean(L, za_timer_cancel(a->sys, (za_timer_id)luaL_checkinteger(L, 2)) == ZA_OK);
    return 1;
}

static int ctx_watch(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    if (!a->ctx) return luaL_error(L, "zactor: ctx used outside a handler");
    int rc = za_ctx_watch(a->ctx, check_ref(L, 2));
    if (rc != ZA_OK) za_lua_raise(L, "watch", rc);
    return 0;
}

static int ctx_unwatch(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    if (!a->ctx) return luaL_error(L, "zactor: ctx used outside a handler");
    za_ctx_unwatch(a->ctx, check_ref(L, 2));
    return 0;
}

static int ctx_stop(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    if (!a->ctx) return luaL_error(L, "zactor: ctx used outside a handler");
    za_ctx_stop(a->ctx);
    return 0;
}

static int ctx_tell(lua_State *L) {
    lua_remove(L, 1); /* ctx:tell(ref, v) == ref:tell(v) */
    return ref_tell(L);
}

static int ctx_lookup(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    za_ref r;
    if (za_lookup(a->sys, luaL_checkstring(L, 2), &r) != ZA_OK)
        lua_pushnil(L);
    else
        push_plain_ref(L, r, NULL);
    return 1;
}

static int ask_cont(lua_State *L, int status, lua_KContext k) {
    (void)status;
    (void)k;
    const za_msg *m = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!m) return luaL_error(L, "zactor: ask resumed without a reply");
    if (m->tag == ZA_TAG_TIMEOUT || m->status == ZA_ETIMEDOUT)
        return luaL_error(L, "zactor: ask timed out");
    if (m->status == ZA_EDEAD) return luaL_error(L, "zactor: ask: actor is dead");
    if (m->status == ZA_EFAILED) {
        /* an error reply carries the failure's text as its payload */
        if (m->kind == ZA_PAYLOAD_BYTES && m->len) {
            const char *text = lua_pushlstring(L, (const char *)m->data, m->len);
            return luaL_error(L, "zactor: ask: the actor failed: %s", text);
        }
        return luaL_error(L, "zactor: ask: the actor failed");
    }
    if (m->status != ZA_OK) return luaL_error(L, "zactor: ask failed: %s", za_strerror(m->status));
    if (m->kind != ZA_PAYLOAD_BYTES) return luaL_error(L, "zactor: ask: non-value reply");
    push_payload(L, m->data, m->len);
    return 1;
}

static int ctx_ask(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    lua_run *run = a->cur;
    if (!run || run->co != L || !lua_isyieldable(L) || !a->ctx)
        return luaL_error(L, "zactor: ctx:ask can only be called from a receive handler "
                             "(not from init/stop or a nested coroutine)");
    za_ref r = check_ref(L, 2);
    lua_Number t = luaL_optnumber(L, 4, 5.0);
    size_t len;
    const void *d = encode_or_raise(L, a, 3, &len);
    uint64_t corr = 0;
    uint32_t ms = t <= 0 ? 1 : (uint32_t)(t * 1000.0 + 0.5);
    int rc = za_ctx_ask(a->ctx, r, 0, d, len, ms, &corr);
    if (rc != ZA_OK) za_lua_raise(L, "ask", rc);
    run->wait_corr = corr;
    /* The message being answered is about to end its receive: keep its
     * reply slot to answer when the handler finally returns. */
    if (run->want_reply && !run->slot) run->slot = za_ctx_take_reply(a->ctx);
    return lua_yieldk(L, 0, 0, ask_cont);
}

static int ctx_index(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    const char *k = lua_tostring(L, 2);
    if (k) {
        if (strcmp(k, "self") == 0) {
            push_ref_or_nil(L, a->self);
            return 1;
        }
        if (strcmp(k, "sender") == 0) {
            push_ref_or_nil(L, a->cur ? a->cur->sender : ZA_REF_NONE);
            return 1;
        }
        if (strcmp(k, "restarts") == 0) {
            lua_pushinteger(L, (lua_Integer)a->restarts);
            return 1;
        }
        if (strcmp(k, "worker") == 0) { /* which native worker runs us now */
            lua_pushinteger(L, a->ctx ? za_ctx_worker(a->ctx) : -1);
            return 1;
        }
        if (strcmp(k, "memory") == 0) {
            lua_pushinteger(L, (lua_Integer)a->used);
            return 1;
        }
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* ------------------------------------------------------------ handlers */

static int msgh(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    a->grace = 1;
    const char *m = lua_tostring(L, 1);
    if (!m) m = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, m, 1);
    return 1;
}

static int run_finish(lua_State *L, int status, lua_KContext k) {
    (void)status;
    (void)k;
    za_lua_actor *a = actor_of(L);
    lua_run *run = a->cur;
    if (run->want_reply) {
        size_t len;
        char err[300];
        za_pack_reset(a->pack);
        if (za_lua_encode(L, -1, a->pack, err, sizeof err) != 0) {
            if (run->slot) { /* taken slot: answer it, then fail */
                za_reply_error(a->sys, run->slot, ZA_EFAILED, "bad reply value");
                run->slot = NULL;
            }
            return luaL_error(L, "zactor: bad reply value: %s", err);
        }
        len = za_pack_size(a->pack);
        if (run->slot) {
            za_reply_send(a->sys, run->slot, 0, za_pack_data(a->pack), len);
            run->slot = NULL;
        } else {
            za_reply(a->ctx, 0, za_pack_data(a->pack), len);
        }
        run->want_reply = 0;
    }
    return 0;
}

/* Coroutine body: decode the message (in protected mode), call the
 * handler; the reply is sent by run_finish (also after a yield). */
static int run_entry(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    const za_msg *m = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (m->tag == ZA_TAG_DOWN || m->tag == ZA_TAG_CHILD_FAILED) {
        za_down dn;
        memset(&dn, 0, sizeof dn);
        if (m->kind == ZA_PAYLOAD_BYTES && m->len >= sizeof dn) memcpy(&dn, m->data, sizeof dn);
        dn.reason[sizeof dn.reason - 1] = 0;
        int special = m->tag == ZA_TAG_DOWN ? a->ref_down : LUA_NOREF;
        if (m->tag == ZA_TAG_CHILD_FAILED) {
            lua_getfield(L, LUA_REGISTRYINDEX, "zactor.child_failed");
            if (lua_isnil(L, -1)) return 0; /* informational: ignore */
        } else if (special != LUA_NOREF) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, special);
        } else {
            lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_receive);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
        lua_createtable(L, 0, 4);
        lua_pushstring(L, m->tag == ZA_TAG_DOWN ? "down" : "child_failed");
        lua_setfield(L, -2, "event");
        push_ref_or_nil(L, dn.ref ? dn.ref : m->sender);
        lua_setfield(L, -2, "ref");
        lua_pushinteger(L, dn.code);
        lua_setfield(L, -2, "code");
        lua_pushstring(L, dn.reason);
        lua_setfield(L, -2, "reason");
        lua_callk(L, 2, 1, 0, run_finish);
        return run_finish(L, LUA_OK, 0);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_receive);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
    if (m->kind != ZA_PAYLOAD_BYTES)
        lua_pushnil(L);
    else
        push_payload(L, m->data, m->len);
    lua_pushinteger(L, m->tag);
    lua_callk(L, 3, 1, 0, run_finish);
    return run_finish(L, LUA_OK, 0);
}

static int new_thread_cf(lua_State *L) {
    lua_State *co = lua_newthread(L);
    lua_pushlightuserdata(L, co);
    lua_insert(L, -2);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushinteger(L, ref);
    return 2;
}

static lua_run *get_run(za_lua_actor *a) {
    lua_run *r = a->pool;
    if (r) {
        a->pool = r->next;
        a->npool--;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    lua_State *L = a->L;
    lua_pushcfunction(L, new_thread_cf);
    if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
        lua_pop(L, 1);
        free(r);
        return NULL;
    }
    r->co = lua_touserdata(L, -2);
    r->anchor = (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return r;
}

static void drop_run(za_lua_actor *a, lua_run *r) {
    if (r->slot) za_reply_error(a->sys, r->slot, ZA_EFAILED, "Lua actor stopped or failed");
    luaL_unref(a->L, LUA_REGISTRYINDEX, r->anchor); /* existing slot: no allocation */
    free(r);
}

static int traceback_cf(lua_State *L) {
    lua_State *co = lua_touserdata(L, 1);
    const char *m = lua_tostring(co, -1);
    if (!m) m = "(error object is not a string)";
    luaL_traceback(L, co, m, 0);
    return 1;
}

/* Describe a failed coroutine (allocation under the grace allowance). */
static void describe_failure(za_lua_actor *a, lua_State *co, int st) {
    a->grace = 1;
    lua_State *L = a->L;
    lua_pushcfunction(L, traceback_cf);
    lua_pushlightuserdata(L, co);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
        snprintf(a->fail, sizeof a->fail, "%s", lua_tostring(L, -1));
    } else {
        const char *m = lua_tostring(co, -1);
        snprintf(a->fail, sizeof a->fail, "%s",
                 m ? m : (st == LUA_ERRMEM ? "not enough memory" : "Lua error"));
    }
    lua_pop(L, 1);
    a->grace = 0;
}

/* Resume run with nargs already on its stack; returns 0 or -1 (failure). */
static int resume_run(za_lua_actor *a, lua_run *run, int nargs) {
    int nres = 0;
    a->cur = run;
    mark_running(a, run->co);
    int st = lua_resume(run->co, a->L, nargs, &nres);
    mark_idle(a, run->co);
    a->cur = NULL;
    if (st == LUA_OK) {
        lua_settop(run->co, 0);
        if (a->npool < ZA_LUA_POOL_MAX) {
            run->next = a->pool;
            a->pool = run;
            a->npool++;
        } else {
            drop_run(a, run);
        }
        return 0;
    }
    if (st == LUA_YIELD && run->wait_corr) {
        lua_pop(run->co, nres);
        run->next = a->waiting;
        a->waiting = run;
        return 0;
    }
    if (st == LUA_YIELD) {
        snprintf(a->fail, sizeof a->fail,
                 "zactor: a receive handler yielded outside ctx:ask (not supported)");
    } else {
        describe_failure(a, run->co, st);
    }
    if (run->slot) {
        za_reply_error(a->sys, run->slot, ZA_EFAILED, a->fail);
        run->slot = NULL;
    }
    drop_run(a, run);
    za_ctx_fail(a->ctx, 1, "%s", a->fail);
    return -1;
}

static int actor_receive(za_ctx *ctx, const za_msg *m) {
    za_lua_actor *a = *(za_lua_actor **)za_ctx_state(ctx);
    if (!a) {
        za_ctx_fail(ctx, 1, "Lua actor has no state");
        return -1;
    }
    a->ctx = ctx;
    int rc = 0;
    if (m->corr) {
        lua_run **pp = &a->waiting;
        while (*pp && (*pp)->wait_corr != m->corr) pp = &(*pp)->next;
        lua_run *run = *pp;
        if (run) { /* else: a late reply for a coroutine lost in a restart */
            *pp = run->next;
            run->wait_corr = 0;
            lua_pushlightuserdata(run->co, (void *)m);
            rc = resume_run(a, run, 1);
        }
    } else {
        lua_run *run = get_run(a);
        if (!run) {
            za_ctx_fail(ctx, ZA_ENOMEM, "Lua actor out of memory (coroutine)");
            a->ctx = NULL;
            return -1;
        }
        run->want_reply = za_ctx_can_reply(ctx);
        run->slot = NULL;
        run->sender = m->sender;
        run->wait_corr = 0;
        lua_pushcfunction(run->co, run_entry);
        lua_pushlightuserdata(run->co, (void *)m);
        rc = resume_run(a, run, 1);
    }
    a->ctx = NULL;
    return rc;
}

/* ----------------------------------------------------------- start / stop */

static const luaL_Reg ctx_methods[] = {
    {"spawn", ctx_spawn},
    {"send_after", ctx_send_after},
    {"cancel_timer", ctx_cancel_timer},
    {"watch", ctx_watch},
    {"unwatch", ctx_unwatch},
    {"stop", ctx_stop},
    {"ask", ctx_ask},
    {"tell", ctx_tell},
    {"lookup", ctx_lookup},
    {NULL, NULL},
};

static const luaL_Reg ref_methods[] = {
    {"tell", ref_tell},
    {"stop", ref_stop},
    {"alive", ref_alive},
    {NULL, NULL},
};

/* _G's __index: a standard library the bytecode did not name, opened on
 * first use (then a plain global). Anything else is nil, as without it. */
static int lazy_global(lua_State *L) {
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    for (int i = 0; k && LAZY_LIBS[i].name; i++) {
        if (strcmp(k, LAZY_LIBS[i].name) == 0) {
            luaL_requiref(L, LAZY_LIBS[i].name, LAZY_LIBS[i].func, 1);
            return 1;
        }
    }
    return 0;
}

static int handler_ref(lua_State *L, int tbl, const char *name, int required) {
    lua_getfield(L, tbl, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required) luaL_error(L, "zactor: behaviour table has no '%s' function", name);
        return LUA_NOREF;
    }
    if (!lua_isfunction(L, -1))
        luaL_error(L, "zactor: behaviour field '%s' is not a function", name);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Runs protected: build the state, load the behaviour, call init. */
static int setup_cf(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    const lua_args_hdr *h = lua_touserdata(L, 1);
    const char *args = lua_touserdata(L, 2);
    size_t alen = (size_t)lua_tointeger(L, 3);
    lua_settop(L, 0);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    lua_pop(L, 2);
    unsigned lazy = 0;
    for (int i = 0; LAZY_LIBS[i].name; i++) {
        if (h->proto->libs & (1u << i)) {
            luaL_requiref(L, LAZY_LIBS[i].name, LAZY_LIBS[i].func, 1);
            lua_pop(L, 1);
        } else {
            lazy = 1;
        }
    }
    if (lazy) {
        lua_pushglobaltable(L);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, lazy_global);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        lua_pop(L, 1);
    }
    if (h->open_io_os) {
        luaL_requiref(L, LUA_IOLIBNAME, luaopen_io, 1);
        luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
        lua_pop(L, 2);
    }
    za_lua_ref_metatable(L, ref_methods);
    lua_pop(L, 1);
    /* ctx: one userdata per actor; fields computed by __index. */
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 2);
    luaL_newlib(L, ctx_methods);
    lua_pushcclosure(L, ctx_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "zactor.ctx");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
    a->ref_ctx = luaL_ref(L, LUA_REGISTRYINDEX);
    /* The behaviour. */
    if (luaL_loadbufferx(L, h->proto->code, h->proto->len, h->proto->chunkname, "b") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "zactor: behaviour '%s' must return a table {init=, receive=, stop=}",
                          h->proto->key);
    int t = lua_gettop(L);
    a->ref_receive = handler_ref(L, t, "receive", 1);
    a->ref_init = handler_ref(L, t, "init", 0);
    a->ref_stop = handler_ref(L, t, "stop", 0);
    a->ref_down = handler_ref(L, t, "down", 0);
    lua_getfield(L, t, "child_failed");
    if (lua_isfunction(L, -1))
        lua_setfield(L, LUA_REGISTRYINDEX, "zactor.child_failed");
    else
        lua_pop(L, 1);
    lua_settop(L, 0);
    if (a->ref_init != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_init);
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
        int n = 1;
        if (alen) {
            push_payload(L, args, alen);
            if (lua_istable(L, -1)) {
                lua_Integer cnt = (lua_Integer)lua_rawlen(L, -1);
                int tt = lua_gettop(L);
                luaL_checkstack(L, (int)cnt + 2, "too many init arguments");
                for (lua_Integer i = 1; i <= cnt; i++) lua_rawgeti(L, tt, i);
                lua_remove(L, tt);
                n += (int)cnt;
            } else {
                n++;
            }
        }
        lua_call(L, n, 0);
    }
    return 0;
}

static void free_actor(za_lua_actor *a) {
    for (lua_run *r = a->waiting, *n; r; r = n) {
        n = r->next;
        if (r->slot) za_reply_error(a->sys, r->slot, ZA_EFAILED, "Lua actor stopped");
        free(r);
    }
    for (lua_run *r = a->pool, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    if (a->L) {
        mark_running(a, a->L); /* a runaway __gc is stopped too */
        lua_close(a->L);
        mark_idle(a, NULL);
    }
    wd_remove(a);
    free_small_cache(a);
    za_pack_free(a->pack);
    free(a);
}

static int actor_start(za_ctx *ctx, const void *args, size_t len) {
    za_lua_actor **slot = za_ctx_state(ctx);
    *slot = NULL;
    lua_args_hdr h;
    if (len < sizeof h) {
        za_ctx_fail(ctx, ZA_EINVAL, "Lua actor spawned without its header (use za_lua_spawn)");
        return -1;
    }
    memcpy(&h, args, sizeof h);
    if (h.magic != ZA_LUA_MAGIC) {
        za_ctx_fail(ctx, ZA_EINVAL, "Lua actor spawned with a bad header (use za_lua_spawn)");
        return -1;
    }
    za_lua_actor *a = calloc(1, sizeof *a);
    if (!a) {
        za_ctx_fail(ctx, ZA_ENOMEM, "out of memory");
        return -1;
    }
    atomic_flag_clear(&a->lock);
    a->limit = h.memory_limit ? h.memory_limit : ZA_LUA_DEFAULT_MEMORY;
    a->budget_ms = h.budget_ms ? h.budget_ms : ZA_LUA_DEFAULT_BUDGET_MS;
    a->sys = za_ctx_system(ctx);
    a->self = za_ctx_self(ctx);
    a->restarts = za_ctx_restarts(ctx);
    a->ctx = ctx;
    a->ref_receive = a->ref_init = a->ref_stop = a->ref_down = a->ref_ctx = LUA_NOREF;
    a->pack = za_pack_new();
    if (!a->pack || wd_add(a) != 0) {
        za_pack_free(a->pack);
        free(a);
        za_ctx_fail(ctx, ZA_ENOMEM, "out of memory");
        return -1;
    }
    a->L = lua_newstate(actor_alloc, a);
    if (!a->L) {
        za_ctx_fail(ctx, ZA_ENOMEM, "cannot create a Lua state within %zu bytes", a->limit);
        free_actor(a);
        return -1;
    }
    *(za_lua_actor **)lua_getextraspace(a->L) = a; /* copied into every coroutine */
    lua_State *L = a->L;
    lua_pushcfunction(L, msgh);
    lua_pushcfunction(L, setup_cf);
    lua_pushlightuserdata(L, &h);
    lua_pushlightuserdata(L, (void *)((const char *)args + sizeof h));
    lua_pushinteger(L, (lua_Integer)(len - sizeof h));
    mark_running(a, L);
    int st = lua_pcall(L, 3, 0, 1);
    mark_idle(a, L);
    if (st != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        za_ctx_fail(ctx, 1, "Lua actor init failed: %s", m ? m : "not enough memory");
        free_actor(a);
        return -1;
    }
    lua_settop(L, 0);
    a->grace = 0;
    a->ctx = NULL;
    *slot = a;
    return 0;
}

static int stop_cf(lua_State *L) {
    za_lua_actor *a = actor_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_stop);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ctx);
    lua_call(L, 1, 0);
    return 0;
}

static void actor_stop(za_ctx *ctx) {
    za_lua_actor **slot = za_ctx_state(ctx);
    za_lua_actor *a = *slot;
    if (!a) return;
    *slot = NULL;
    a->ctx = ctx;
    if (a->ref_stop != LUA_NOREF) {
        lua_State *L = a->L;
        lua_settop(L, 0);
        lua_pushcfunction(L, msgh);
        lua_pushcfunction(L, stop_cf);
        mark_running(a, L);
        if (lua_pcall(L, 0, 0, 1) != LUA_OK)
            fprintf(stderr, "zactor: Lua stop handler failed: %s\n", lua_tostring(L, -1));
        mark_idle(a, L);
    }
    a->ctx = NULL;
    free_actor(a);
}

const za_behaviour za_lua_behaviour = {
    .name = "lua",
    .state_size = sizeof(za_lua_actor *),
    .start = actor_start,
    .receive = actor_receive,
    .stop = actor_stop,
    .host = NULL, /* no enter/leave needed: states are private, no global lock */
};

/* ------------------------------------------------------------------ spawn */

int za_lua_spawn_ex(za_system *sys, const char *spec, const void *args_msgpack, size_t len,
                    const za_spawn_opts *opts, const za_lua_opts *lopts, za_ref *out, char *err,
                    size_t errlen) {
    set_err(err, errlen, "%s", "");
    if (!sys || !spec || !*spec) {
        set_err(err, errlen, "system or spec is missing");
        return ZA_EINVAL;
    }
    if (len && !args_msgpack) {
        set_err(err, errlen, "args is NULL but len is %zu", len);
        return ZA_EINVAL;
    }
    const za_lua_proto *p = get_proto(spec, err, errlen);
    if (!p) return ZA_EVALUE;
    lua_args_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = ZA_LUA_MAGIC;
    h.proto = p;
    if (lopts) {
        h.memory_limit = lopts->memory_limit;
        h.budget_ms = lopts->budget_ms;
        h.open_io_os = lopts->open_io_os;
    }
    char stackbuf[512];
    char *buf = sizeof h + len <= sizeof stackbuf ? stackbuf : malloc(sizeof h + len);
    if (!buf) {
        set_err(err, errlen, "out of memory");
        return ZA_ENOMEM;
    }
    memcpy(buf, &h, sizeof h);
    if (len) memcpy(buf + sizeof h, args_msgpack, len);
    int rc = za_spawn(sys, &za_lua_behaviour, buf, sizeof h + len, opts, out);
    if (buf != stackbuf) free(buf);
    if (rc != ZA_OK) set_err(err, errlen, "%s", err_text(rc));
    return rc;
}

int za_lua_spawn(za_system *sys, const char *spec, const void *args_msgpack, size_t len,
                 const za_spawn_opts *opts, const za_lua_opts *lopts, za_ref *out) {
    return za_lua_spawn_ex(sys, spec, args_msgpack, len, opts, lopts, out, NULL, 0);
}
