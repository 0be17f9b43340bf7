/*
 * cluster.c - the cluster in the Lua module:
 *
 *   local system <close> = zactor.system{ workers = 2, cluster = {
 *       redis = "redis://127.0.0.1:6379/0", name = "shop",
 *       listen = "tcp://127.0.0.1:0", node_name = "lua-1",
 *       secret = nil, insecure = false, heartbeat = 0.3, suspect = 3.0 } }
 *   system:node()         -- { id =, name =, endpoint =, epoch = }
 *   system:nodes()        -- the live members, this one included
 *   system:node_events()  -- events since the last call: { kind = "up"|"down"|"expelled", node =
 * {...} } ref:node()            -- the id of the node an actor lives on
 *
 * Node events happen on the cluster's membership thread, and a lua_State
 * is single-threaded: they wait in a queue that the script drains with
 * node_events() (the shape of a Lua event loop, no callback from a foreign
 * thread). system:lookup(name) is cluster-wide through za_lookup.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define EVQ_MAX 1024 /* older events are dropped (counted) beyond this */

typedef struct evq {
    pthread_mutex_t mu;
    int n, dropped;
    struct {
        int kind;
        za_node_info node;
    } ev[EVQ_MAX];
} evq;

static void on_event(za_node_event_kind kind, const za_node_info *node, void *ud) {
    evq *q = ud;
    pthread_mutex_lock(&q->mu);
    if (q->n == EVQ_MAX) {
        memmove(&q->ev[0], &q->ev[1], sizeof q->ev[0] * (EVQ_MAX - 1));
        q->n--;
        q->dropped++;
    }
    q->ev[q->n].kind = (int)kind;
    q->ev[q->n].node = *node;
    q->n++;
    pthread_mutex_unlock(&q->mu);
}

static const char *opt_string(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    const char *s = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "zactor: system: cluster option '%s' must be a string", k);
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays alive: the option table holds it */
    return s;
}

static uint32_t opt_ms(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    uint32_t ms = 0;
    if (!lua_isnil(L, -1)) {
        int ok = 0;
        lua_Number v = lua_tonumberx(L, -1, &ok);
        if (!ok || !(v >= 0) || v > 86400)
            luaL_error(L, "zactor: system: cluster option '%s' must be seconds (0..86400)", k);
        ms = (uint32_t)(v * 1000.0);
    }
    lua_pop(L, 1);
    return ms;
}

static int lua_spawn_handler(za_system *sys, const char *what, const void *args, size_t len,
                             const char *name, za_ref *out, char *err, size_t cap, void *ud);

za_cluster *za__lmod_cluster_create(lua_State *L, int t, void **events) {
    t = lua_absindex(L, t);
    if (!lua_istable(L, t)) luaL_error(L, "zactor: system: option 'cluster' must be a table");
    static const char *const keys[] = {
        "redis",     "name",    "listen", "node_name",   "secret", "insecure",  "advertise",
        "heartbeat", "suspect", "votes",  "vote_window", "poll",   "spawnable", NULL};
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int i = 0;
        while (k && keys[i] && strcmp(keys[i], k) != 0) i++;
        if (!k || !keys[i])
            luaL_error(L,
                       "zactor: system: unknown cluster option '%s' (valid: redis, name, "
                       "listen, node_name, secret, insecure, advertise, heartbeat, suspect, "
                       "votes, vote_window, poll, spawnable)",
                       k ? k : luaL_typename(L, -1));
    }
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = opt_string(L, t, "redis");
    cc.name = opt_string(L, t, "name");
    if (!cc.redis || !cc.name)
        luaL_error(L, "zactor: system: cluster needs redis = \"redis://host:port/db\" and name");
    cc.listen = opt_string(L, t, "listen");
    cc.node_name = opt_string(L, t, "node_name");
    cc.secret = opt_string(L, t, "secret");
    cc.advertise = opt_string(L, t, "advertise");
    lua_getfield(L, t, "insecure");
    cc.insecure = lua_toboolean(L, -1);
    lua_getfield(L, t, "votes");
    if (!lua_isnil(L, -1))
        cc.votes = (uint32_t)za_lua_check_count(L, -1, "system", "cluster option 'votes'", 0, 100);
    lua_pop(L, 2);
    cc.heartbeat_ms = opt_ms(L, t, "heartbeat");
    cc.suspect_ms = opt_ms(L, t, "suspect");
    cc.vote_window_ms = opt_ms(L, t, "vote_window");
    cc.poll_ms = opt_ms(L, t, "poll");
    evq *q = calloc(1, sizeof *q);
    if (!q) luaL_error(L, "zactor: out of memory");
    pthread_mutex_init(&q->mu, NULL);
    za_cluster *cl = NULL;
    int rc = za_cluster_create(&cc, &cl);
    if (rc != ZA_OK) {
        pthread_mutex_destroy(&q->mu);
        free(q);
        za_lua_raise(L, "cluster", rc);
    }
    za_cluster_on_event(cl, on_event, q);
    *events = q;
    /* what other nodes may spawn here: Lua actors (kind "lua") matching
     * these patterns (csrc/cluster/remote_spawn.c) */
    za_cluster_spawn_handler(cl, "lua", lua_spawn_handler, NULL);
    if (lua_getfield(L, t, "spawnable") != LUA_TNIL) {
        if (!lua_istable(L, -1)) {
            za_cluster_destroy(cl);
            luaL_error(L, "zactor: system: cluster option 'spawnable' must be a list of "
                          "patterns");
        }
        for (lua_Integer i = 1; lua_geti(L, -1, i) != LUA_TNIL; i++) {
            const char *p = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            if (!p || za_cluster_spawnable(cl, p) != ZA_OK) {
                char why[300];
                snprintf(why, sizeof why, "%s", p ? za_last_error() : "patterns are strings");
                za_cluster_destroy(cl);
                luaL_error(L, "zactor: system: cluster option 'spawnable': %s", why);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return cl;
}

void za__lmod_cluster_events_free(void *events) {
    evq *q = events;
    if (!q) return;
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* Kind "lua" of a remote spawn: on the cluster's spawn thread, a Lua actor
 * from the spec (module names searched in LUA_PATH). */
static int lua_spawn_handler(za_system *sys, const char *what, const void *args, size_t len,
                             const char *name, za_ref *out, char *err, size_t cap, void *ud) {
    (void)ud;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = name;
    za_lua_opts lo = {0};
    err[0] = 0;
    int rc = za_lua_spawn_ex(sys, what, args, len, &o, &lo, out, err, cap);
    if (rc != ZA_OK && !err[0]) snprintf(err, cap, "%s", za_last_error());
    return rc;
}

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

static za_cluster *check_cluster(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    return za_system_cluster(s->sys);
}

/* system:node() -> table, or nil outside a cluster */
static int sys_node(lua_State *L) {
    za_cluster *c = check_cluster(L);
    if (!c) return lua_pushnil(L), 1;
    za_node_info n;
    za_cluster_self(c, &n);
    push_node(L, &n);
    return 1;
}

/* system:nodes() -> array of tables (empty outside a cluster) */
static int sys_nodes(lua_State *L) {
    za_cluster *c = check_cluster(L);
    lua_newtable(L);
    if (!c) return 1;
    size_t n = 0;
    za_cluster_nodes(c, NULL, 0, &n);
    za_node_info *v = n ? malloc((n + 8) * sizeof *v) : NULL;
    if (n && !v) return luaL_error(L, "zactor: out of memory");
    size_t got = 0;
    if (v) za_cluster_nodes(c, v, n + 8, &got);
    if (got > n + 8) got = n + 8;
    for (size_t i = 0; i < got; i++) {
        push_node(L, &v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(v);
    return 1;
}

/* system:node_events() -> array of { kind =, node = } since the last call */
static int sys_node_events(lua_State *L) {
    za__lmod_system *s = za__lmod_check_system(L, 1);
    evq *q = s->cluster_events;
    lua_newtable(L);
    if (!q) return 1;
    static const char *const kinds[] = {"?", "up", "down", "expelled"};
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < q->n; i++) {
        lua_createtable(L, 0, 2);
        int k = q->ev[i].kind;
        lua_pushstring(L, kinds[k >= 1 && k <= 3 ? k : 0]);
        lua_setfield(L, -2, "kind");
        push_node(L, &q->ev[i].node);
        lua_setfield(L, -2, "node");
        lua_rawseti(L, -2, i + 1);
    }
    q->n = 0;
    pthread_mutex_unlock(&q->mu);
    return 1;
}

static const luaL_Reg cluster_meth[] = {
    {"node", sys_node},
    {"nodes", sys_nodes},
    {"node_events", sys_node_events},
    {NULL, NULL},
};

void za__lmod_open_cluster(lua_State *L) {
    luaL_getmetatable(L, ZA_LMOD_SYSTEM_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, cluster_meth, 0);
    lua_pop(L, 2);
}
