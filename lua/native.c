/*
 * native.c - native C behaviours from Lua: system:spawn_native(path,
 * symbol, ...) loads the `const za_behaviour` symbol of path with
 * za_behaviour_load (opened once, never closed: actors may run its code
 * until the process ends) and spawns it.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "module.h"

/* require() loads this module RTLD_LOCAL, so a native behaviour's calls to
 * the za_* API would not resolve against it. Promote the module (already
 * loaded: RTLD_NOLOAD) to global before loading the first behaviour, so the
 * behaviour binds to this very runtime, not to a second copy. */
static int export_runtime(void) {
    static int done;
    if (done) return 0;
    Dl_info info;
    if (!dladdr((void *)&luaopen_zactor, &info) || !info.dli_fname) return -1;
    if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) return -1;
    done = 1;
    return 0;
}

static int native_spawn(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    size_t path_len, sym_len;
    const char *path = luaL_checklstring(L, 2, &path_len);
    const char *sym = luaL_checklstring(L, 3, &sym_len);
    /* the C side stops at the first NUL: refuse rather than load another name */
    if (strlen(path) != path_len || strlen(sym) != sym_len)
        return luaL_error(L, "zactor: spawn_native: path and symbol must not contain NUL");
    if (export_runtime() < 0)
        return luaL_error(L, "zactor: spawn_native: cannot export the runtime: %s", dlerror());
    /* the runtime loads and checks the table: a symbol that is not a
     * za_behaviour of this zactor (a function, `environ`, an older build)
     * is refused before a byte of it is read as one */
    const za_behaviour *beh;
    if (za_behaviour_load(path, sym, &beh) != ZA_OK)
        return luaL_error(L, "zactor: spawn_native: %s", za_last_error());
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    za_lua_opts lo = {0};
    za__lmod_collect_args(L, s, 4, "spawn_native", &o, &lo);
    za_ref r;
    int rc = za_spawn(s->sys, beh, za_pack_data(s->pack), za_pack_size(s->pack), &o, &r);
    if (rc != ZA_OK) return za_lua_raise(L, "spawn_native", rc);
    za__lmod_push_ref(L, r, (void *)(intptr_t)1);
    return 1;
}

/* system methods */
static const luaL_Reg native_meth[] = {
    {"spawn_native", native_spawn},
    {NULL, NULL},
};

void za__lmod_open_native(lua_State *L) {
    luaL_getmetatable(L, ZA_LMOD_SYSTEM_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, native_meth, 0);
    lua_pop(L, 2);
}
