/*
 * module.h - what the Lua module's files share (private). The module is
 * `local zactor = require "zactor"`: module.c opens it, system.c is the
 * system object, native.c spawns native C behaviours, ref.c is actor refs
 * in the main script, values.c moves values between the script and
 * MessagePack. The Lua actor host it builds on is csrc/hosts/lua_host.h.
 *
 * Like Lua's own libraries (liolib.c), each file names its Lua-facing
 * functions after the table that registers them (sys_*, native_*, ref_*,
 * values_*, zactor_*); what crosses files is za__lmod_*.
 */
#ifndef ZA_LUA_MODULE_H
#define ZA_LUA_MODULE_H

#define ZA_LUA_HOST_WANT_LUA_API 1
#include <lauxlib.h>
#include <lua.h>

#include "hosts/lua_host.h"
#include "zactor.h"

#define ZA_LMOD_SYSTEM_MT "zactor.system"

/* The entry point, and the module's own address for native.c (dladdr). */
__attribute__((visibility("default"))) int luaopen_zactor(lua_State *L);

/* ------------------------------------------------------------ system.c */

/* The system object: userdata owning a za_system; __close/__gc shut it down. */
typedef struct za__lmod_system {
    za_system *sys;       /* NULL once closed */
    za_pack *pack;        /* scratch writer (the main state is single-threaded) */
    void *cluster_events; /* cluster.c: node events queued for node_events() */
} za__lmod_system;

/* The open system at idx, or a Lua error. */
za__lmod_system *za__lmod_check_system(lua_State *L, int idx);
/* system.c: push package.path of this state (nil when there is none) and
 * return it (NULL then): the host resolves module names in it, as require
 * would. The string stays valid while it is on the stack. */
const char *za__lmod_package_path(lua_State *L);
/* Collect the arguments from first on (and a trailing options table) into
 * s->pack as one MessagePack array; options fill o and lo. */
int za__lmod_collect_args(lua_State *L, za__lmod_system *s, int first, const char *fn,
                          za_spawn_opts *o, za_lua_opts *lo);
/* With the module table on top: create the system metatable, add zactor.system. */
void za__lmod_open_system(lua_State *L);

/* ------------------------------------------------------------ native.c */

/* Add system:spawn_native to the system methods (after za__lmod_open_system). */
void za__lmod_open_native(lua_State *L);

/* --------------------------------------------------------------- ref.c */

/* Push a ref carrying its system (at stack index (intptr_t)ud) as user
 * value 1: a ref keeps its system alive, and a ref to a closed system
 * raises a clear error instead of touching freed memory. */
void za__lmod_push_ref(lua_State *L, za_ref r, void *ud);
/* Create (refill) the ref metatable with the main script's ref methods. */
void za__lmod_open_ref(lua_State *L);

/* ------------------------------------------------------------ values.c */

/* Encode the value at idx into s->pack, or raise a Lua error. */
const void *za__lmod_encode(lua_State *L, za__lmod_system *s, int idx, size_t *len);
/* Push MessagePack bytes as a value (empty: nil); refs in it get the
 * system at sysidx. */
void za__lmod_push_bytes(lua_State *L, int sysidx, const void *data, size_t len);
/* With the module table on top: add zactor.pack, unpack, ref_from_id. */
void za__lmod_open_values(lua_State *L);

/* ----------------------------------------------------------- cluster.c */

/* Create the cluster described by the table at t (zactor.system{cluster =
 * {...}}) or raise a Lua error; *events gets the node event queue. */
za_cluster *za__lmod_cluster_create(lua_State *L, int t, void **events);
void za__lmod_cluster_events_free(void *events);
/* Add system:node, nodes, node_events (after za__lmod_open_system). */
void za__lmod_open_cluster(lua_State *L);

/* ------------------------------------------------------------- store.c */

/* With the module table on top: add zactor.store (the storage layer). */
void za__lmod_open_store(lua_State *L);

/* ------------------------------------------------------------- grain.c */

/* Add system:grain and system:grains (after za__lmod_open_system). */
void za__lmod_open_grain(lua_State *L);

#endif /* ZA_LUA_MODULE_H */
