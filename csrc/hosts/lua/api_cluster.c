/*
 * api_cluster.c - what a Lua actor can learn of the cluster its system is
 * in: ctx:node() (this node: { id =, name =, endpoint =, epoch = }, nil
 * outside a cluster) and ctx:nodes() (the live members, this one
 * included; {} outside a cluster). The same tables as the module's
 * system:node() / system:nodes(). Names cluster-wide: ctx:lookup
 * (api_ctx.c) already asks the cluster for a name this node does not hold
 * (a Redis round trip on this worker). Both read the node's view in
 * memory: no I/O.
 */
#include "lua_actor.h"

#include <stdlib.h>

static void push_node(lua_State *L, const za_node_info *n) {
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)n->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, n->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, n->endpoint);
    lua_setfield(L, -2, "endpoint");
    lua_pushinteger(L, (lua_Integer)n->epoch);
    lua_setfield(L, -2, "epoch");
}

int za__lua_ctx_node(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za_cluster *c = za_system_cluster(a->sys);
    za_node_info n;
    if (!c || za_cluster_self(c, &n) != ZA_OK) {
        lua_pushnil(L);
        return 1;
    }
    push_node(L, &n);
    return 1;
}

int za__lua_ctx_nodes(lua_State *L) {
    za__lua_actor *a = za__lua_actor_of(L);
    za_cluster *c = za_system_cluster(a->sys);
    size_t n = 0;
    if (c) za_cluster_nodes(c, NULL, 0, &n);
    za_node_info *v = n ? malloc((n + 8) * sizeof *v) : NULL;
    size_t got = 0;
    if (v) za_cluster_nodes(c, v, n + 8, &got);
    if (got > n + 8) got = n + 8;
    lua_createtable(L, (int)got, 0);
    for (size_t i = 0; i < got; i++) {
        push_node(L, &v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(v);
    return 1;
}
