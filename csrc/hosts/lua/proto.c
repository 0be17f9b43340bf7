/*
 * proto.c - compiled behaviours: the process-wide bytecode cache and the
 * module search that turns a spec into source.
 *
 * A spec is Lua source text, a file path or a module name (lua_host.h). A
 * module name is resolved at spawn time in the search path the caller
 * passes (the Lua module: package.path of the calling state; ctx:spawn: the
 * spawning actor's; others: the environment's default), not in a process
 * setting written earlier by someone else, so two callers with different
 * paths each get what their own path says.
 */
#include "lua_actor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* The cache: a hash table of every proto (keyed by spec and search path),
 * and an LRU list of the idle ones (no actor uses them). Actors hold a
 * reference from spawn to final stop, so a proto in use is never freed;
 * idle ones are evicted beyond IDLE_MAX entries or IDLE_BYTES of bytecode.
 * Everything under g_mu, which is held for O(1) work only (compiling
 * happens outside it). */
#define IDLE_MAX 256
#define IDLE_BYTES (8u << 20)
static za__lua_proto **g_buckets;
static size_t g_nbuckets, g_count;
static za__lua_proto *g_lru_head, *g_lru_tail; /* most / least recently idle */
static size_t g_idle, g_idle_bytes;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void proto_prefork(void) {
    pthread_mutex_lock(&g_mu);
}
static void proto_postfork(void) {
    pthread_mutex_unlock(&g_mu);
}
static void proto_postfork_child(void) {
    pthread_mutex_init(&g_mu, NULL);
}
static void proto_atfork(void) {
    pthread_atfork(proto_prefork, proto_postfork, proto_postfork_child);
}

/* Interned search paths: few distinct ones per process (one per
 * package.path value), so a list is enough. */
typedef struct search_path {
    struct search_path *next;
    char text[];
} search_path;
static search_path *g_paths;

const char *za__lua_search_path(const char *path) {
    pthread_once(&g_once, proto_atfork);
    if (!path) path = getenv("LUA_PATH_5_4");
    if (!path) path = getenv("LUA_PATH");
    if (!path) path = "./?.lua;./?/init.lua";
    pthread_mutex_lock(&g_mu);
    search_path *s = g_paths;
    while (s && strcmp(s->text, path) != 0) s = s->next;
    if (!s) {
        size_t n = strlen(path) + 1;
        s = malloc(sizeof *s + n);
        if (s) {
            memcpy(s->text, path, n);
            s->next = g_paths;
            g_paths = s;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return s ? s->text : NULL;
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

/* Resolve a module name against a ';'-separated template list, as
 * package.searchpath does ('.' in the name becomes '/'). */
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

/* Which lazy libraries the bytecode names (their names are constants in it). */
static unsigned libs_named(const char *code, size_t len) {
    unsigned m = 0;
    for (int i = 0; za__lua_lazy_libs[i].name; i++)
        if (memmem(code, len, za__lua_lazy_libs[i].name, strlen(za__lua_lazy_libs[i].name)))
            m |= 1u << i;
    return m;
}

static uint64_t key_hash(const char *spec, const char *search) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)search;
    for (const unsigned char *p = (const unsigned char *)spec; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void lru_unlink(za__lua_proto *p) {
    if (p->lprev)
        p->lprev->lnext = p->lnext;
    else
        g_lru_head = p->lnext;
    if (p->lnext)
        p->lnext->lprev = p->lprev;
    else
        g_lru_tail = p->lprev;
    p->lprev = p->lnext = NULL;
    g_idle--;
    g_idle_bytes -= p->len;
}

static void proto_free(za__lua_proto *p) {
    free(p->key);
    free(p->chunkname);
    free(p->code);
    free(p);
}

/* Under g_mu. The search path matters only for module names; interned,
 * so comparing pointers is enough. A hit gains a reference. */
static za__lua_proto *find_locked(const char *spec, const char *search, uint64_t h) {
    if (!g_nbuckets) return NULL;
    for (za__lua_proto *p = g_buckets[h & (g_nbuckets - 1)]; p; p = p->hnext) {
        if (p->hash == h && p->search == search && strcmp(p->key, spec) == 0) {
            if (p->refs++ == 0) lru_unlink(p);
            return p;
        }
    }
    return NULL;
}

/* Under g_mu: add p (which has its reference); 0 or -1 (out of memory). */
static int insert_locked(za__lua_proto *p) {
    if (g_count + 1 > g_nbuckets) {
        size_t nb = g_nbuckets ? g_nbuckets * 2 : 64;
        za__lua_proto **b = calloc(nb, sizeof *b);
        if (!b) {
            if (!g_nbuckets) return -1;
        } else {
            for (size_t i = 0; i < g_nbuckets; i++) {
                for (za__lua_proto *q = g_buckets[i], *n; q; q = n) {
                    n = q->hnext;
                    q->hnext = b[q->hash & (nb - 1)];
                    b[q->hash & (nb - 1)] = q;
                }
            }
            free(g_buckets);
            g_buckets = b;
            g_nbuckets = nb;
        }
    }
    za__lua_proto **slot = &g_buckets[p->hash & (g_nbuckets - 1)];
    p->hnext = *slot;
    *slot = p;
    g_count++;
    return 0;
}

static void remove_locked(za__lua_proto *p) {
    za__lua_proto **pp = &g_buckets[p->hash & (g_nbuckets - 1)];
    while (*pp != p) pp = &(*pp)->hnext;
    *pp = p->hnext;
    g_count--;
}

void za__lua_proto_release(const za__lua_proto *cp) {
    if (!cp) return;
    za__lua_proto *p = (za__lua_proto *)cp, *evict = NULL;
    pthread_mutex_lock(&g_mu);
    if (--p->refs == 0) {
        p->lprev = NULL;
        p->lnext = g_lru_head;
        if (g_lru_head) g_lru_head->lprev = p;
        g_lru_head = p;
        if (!g_lru_tail) g_lru_tail = p;
        g_idle++;
        g_idle_bytes += p->len;
        /* evict the least recently idle beyond the bounds (a chain, freed
         * outside the lock) */
        while (g_idle > IDLE_MAX || (g_idle > 1 && g_idle_bytes > IDLE_BYTES)) {
            za__lua_proto *old = g_lru_tail;
            lru_unlink(old);
            remove_locked(old);
            old->hnext = evict;
            evict = old;
        }
    }
    pthread_mutex_unlock(&g_mu);
    while (evict) {
        za__lua_proto *n = evict->hnext;
        proto_free(evict);
        evict = n;
    }
}

const za__lua_proto *za__lua_proto_get(const char *spec, const char *search, char *err,
                                       size_t errlen) {
    int src = is_source(spec);
    int module = !src && !is_path(spec);
    if (!module) search = NULL;
    uint64_t h = key_hash(spec, search);
    pthread_mutex_lock(&g_mu);
    za__lua_proto *found = find_locked(spec, search, h);
    pthread_mutex_unlock(&g_mu);
    if (found) return found; /* no file system access once compiled */

    char path[1024] = {0};
    if (module) {
        if (!search_module(spec, search, path, sizeof path)) {
            za__lua_set_err(err, errlen, "module '%s' not found in path '%s'", spec, search);
            return NULL;
        }
    } else if (!src) {
        snprintf(path, sizeof path, "%s", spec);
    }

    /* Compile in a scratch state: bytecode is state-independent. */
    lua_State *L = luaL_newstate();
    if (!L) {
        za__lua_set_err(err, errlen, "out of memory");
        return NULL;
    }
    int rc = src ? luaL_loadbufferx(L, spec, strlen(spec), "=(lua actor source)", "t")
                 : luaL_loadfilex(L, path, "t");
    if (rc != LUA_OK) {
        za__lua_set_err(err, errlen, "cannot load Lua behaviour: %s", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    dumpbuf d = {0};
    if (lua_dump(L, dump_writer, &d, 0) != 0 || !d.p) {
        free(d.p);
        lua_close(L);
        za__lua_set_err(err, errlen, "out of memory dumping bytecode");
        return NULL;
    }
    lua_close(L);
    za__lua_proto *np = calloc(1, sizeof *np);
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
        za__lua_set_err(err, errlen, "out of memory");
        return NULL;
    }
    np->search = search;
    np->code = d.p;
    np->libs = libs_named(d.p, d.len);
    np->len = d.len;
    np->hash = h;
    np->refs = 1;
    pthread_mutex_lock(&g_mu);
    found = find_locked(spec, search, h);
    if (found || insert_locked(np) != 0) { /* lost a race: keep the first */
        pthread_mutex_unlock(&g_mu);
        proto_free(np);
        if (!found) za__lua_set_err(err, errlen, "out of memory");
        return found;
    }
    pthread_mutex_unlock(&g_mu);
    return np;
}
