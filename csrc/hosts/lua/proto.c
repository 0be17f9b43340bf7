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
static za__lua_proto *g_protos;

/* Interned search paths: few distinct ones per process (one per
 * package.path value), so a list is enough. */
typedef struct search_path {
    struct search_path *next;
    char text[];
} search_path;
static search_path *g_paths;

const char *za__lua_search_path(const char *path) {
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

/* Under g_mu. The search path matters only for module names; interned,
 * so comparing pointers is enough. */
static za__lua_proto *find_locked(const char *spec, const char *search) {
    for (za__lua_proto *p = g_protos; p; p = p->next)
        if (strcmp(p->key, spec) == 0 && p->search == search) return p;
    return NULL;
}

const za__lua_proto *za__lua_proto_get(const char *spec, const char *search, char *err,
                                       size_t errlen) {
    int src = is_source(spec);
    int module = !src && !is_path(spec);
    if (!module) search = NULL;
    pthread_mutex_lock(&g_mu);
    za__lua_proto *found = find_locked(spec, search);
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
    pthread_mutex_lock(&g_mu);
    found = find_locked(spec, search);
    if (found) { /* lost a race: keep the first */
        pthread_mutex_unlock(&g_mu);
        free(np->key);
        free(np->chunkname);
        free(np->code);
        free(np);
        return found;
    }
    np->next = g_protos;
    g_protos = np;
    pthread_mutex_unlock(&g_mu);
    return np;
}
