/*
 * grain.c - grains (virtual actors) from the main script:
 * system:grain(behaviour_or_type, key [, opts]) -> ref (nothing activates
 * until a message) and system:grains() -> the activations of this system.
 * The Lua host (csrc/hosts/lua/grain.c) registers Lua grain classes; refs
 * to grains are ordinary refs (tell, ask, inside messages).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

/* system:grain(behaviour_or_type, key [, opts]) -> ref */
static int sys_grain(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    lua_settop(L, 4);
    const char *path = za__lmod_package_path(L); /* anchored at index 5 */
    za_ref r = za_lua_grain_ref(L, s->sys, 2, 3, 4, path, "grain");
    za__lmod_push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

/* system:register_grain(behaviour_or_type [, opts]) -> type: register a
 * grain class now, so messages and reminders for it can activate it here
 * (in a cluster, every node registers the types it may host). */
static int sys_register_grain(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    lua_settop(L, 3);
    const char *path = za__lmod_package_path(L); /* anchored at index 4 */
    const char *type = za_lua_grain_class(L, s->sys, 2, 3, path, "register_grain");
    lua_pushstring(L, type);
    return 1;
}

typedef struct gitem {
    char *type, *key;
    za_grain_info info;
} gitem;

typedef struct glist {
    gitem *v;
    size_t n, cap;
    int oom;
} glist;

/* Runs outside the directory's locks, but inside the runtime: no Lua here
 * (an error would unwind through C frames), only copies. */
static int collect(const za_grain_info *g, void *ud) {
    glist *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        gitem *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    gitem *it = &l->v[l->n];
    it->type = strdup(g->type ? g->type : "");
    it->key = strdup(g->key ? g->key : "");
    it->info = *g;
    if (!it->type || !it->key) {
        free(it->type);
        free(it->key);
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

static void glist_free(glist *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].type);
        free(l->v[i].key);
    }
    free(l->v);
}

static const char *status_name(za_grain_status st) {
    switch (st) {
    case ZA_GRAIN_ACTIVATING:
        return "activating";
    case ZA_GRAIN_ACTIVE:
        return "active";
    case ZA_GRAIN_DEACTIVATING:
        return "deactivating";
    }
    return "unknown";
}

static int glist_gc(lua_State *L) {
    glist *l = lua_touserdata(L, 1);
    glist_free(l);
    memset(l, 0, sizeof *l);
    return 0;
}

/* system:grains() -> { {type=, key=, ref=, status=, since=, idle=,
 * messages=, version=}, ... } (since: unix seconds; idle: seconds) */
static int sys_grains(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    /* the copies live in a userdata whose __gc frees them, so a memory
     * error while building the table leaks nothing */
    glist *l = lua_newuserdatauv(L, sizeof *l, 0);
    memset(l, 0, sizeof *l);
    if (luaL_newmetatable(L, "zactor.grainlist")) {
        lua_pushcfunction(L, glist_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    size_t count = 0;
    int rc = za_grain_list(s->sys, collect, l, &count);
    if (rc != ZA_OK) return za_lua_raise(L, "grains", rc);
    if (l->oom) return luaL_error(L, "zactor: grains: out of memory");
    lua_createtable(L, (int)l->n, 0);
    for (size_t i = 0; i < l->n; i++) {
        const gitem *it = &l->v[i];
        lua_createtable(L, 0, 8);
        lua_pushstring(L, it->type);
        lua_setfield(L, -2, "type");
        lua_pushstring(L, it->key);
        lua_setfield(L, -2, "key");
        za__lmod_push_ref(L, it->info.grain, (void *)(intptr_t)1);
        lua_setfield(L, -2, "ref");
        lua_pushstring(L, status_name(it->info.status));
        lua_setfield(L, -2, "status");
        lua_pushnumber(L, (lua_Number)it->info.since_us / 1e6);
        lua_setfield(L, -2, "since");
        lua_pushnumber(L, (lua_Number)it->info.idle_us / 1e6);
        lua_setfield(L, -2, "idle");
        lua_pushinteger(L, (lua_Integer)it->info.messages);
        lua_setfield(L, -2, "messages");
        lua_pushinteger(L, (lua_Integer)it->info.version);
        lua_setfield(L, -2, "version");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const luaL_Reg grain_meth[] = {
    {"grain", sys_grain},
    {"grains", sys_grains},
    {"register_grain", sys_register_grain},
    {NULL, NULL},
};

void za__lmod_open_grain(lua_State *L) {
    luaL_getmetatable(L, ZA_LMOD_SYSTEM_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, grain_meth, 0);
    lua_pop(L, 2);
}
