/*
 * opts.c - spawn options from a Lua table, shared by ctx:spawn and the
 * module's system:spawn / spawn_native (declared in lua_host.h). Every
 * error names the function and the option; numbers follow numbers.c's rule.
 */
#include "lua_actor.h"

#include <stdio.h>
#include <string.h>

enum { O_NAME, O_PID, O_COUNT32, O_MS32, O_MEMORY, O_BOOL, O_ENUM, O_CONCURRENCY, O_NODE };

typedef struct optdef {
    const char *key;
    int kind;
    const char *const *choices; /* O_ENUM */
} optdef;

static const char *const restarts[] = {"permanent", "transient", "temporary", NULL};
static const char *const strategies[] = {"one_for_one", "one_for_all", "rest_for_one",
                                         "stop",        "escalate",    NULL};
static const char *const policies[] = {"fail", "drop_newest", "drop_oldest", "block", NULL};

static const optdef g_opts[] = {
    {"name", O_NAME, NULL},
    {"capacity", O_COUNT32, NULL},
    {"max_restarts", O_COUNT32, NULL},
    {"within_ms", O_MS32, NULL},
    {"backoff_min_ms", O_MS32, NULL},
    {"backoff_max_ms", O_MS32, NULL},
    {"block_timeout_ms", O_MS32, NULL},
    {"memory_limit", O_MEMORY, NULL},
    {"budget_ms", O_MS32, NULL},
    {"open_io_os", O_BOOL, NULL},
    {"concurrency", O_CONCURRENCY, NULL},
    {"restart", O_ENUM, restarts},
    {"strategy", O_ENUM, strategies},
    {"full_policy", O_ENUM, policies},
    {"persistence_id", O_PID, NULL},
    {"node", O_NODE, NULL},
    {"timeout_ms", O_MS32, NULL},
    {NULL, 0, NULL},
};

#define MEMORY_MAX ((uint64_t)1 << 48)

static const optdef *find_opt(const char *k) {
    for (const optdef *d = g_opts; d->key; d++)
        if (strcmp(d->key, k) == 0) return d;
    return NULL;
}

/* Edit distance of a and b, capped (enough to spot a typo). */
static int distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    int row[41];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

/* What a key of a table is to the spawn options: an option, a near miss of
 * one (one edit away, two for names of 8+ chars; *hint gets the option it
 * was probably meant as), or neither. The one classifier behind both
 * za_lua_is_opts and the "did you mean" of za_lua_parse_opts, so a table
 * taken as options never gets an "unknown option" without a suggestion
 * (tests/fuzz/lua_opts found {strategfull_policyy=..., restart=...}: taken
 * as options for its known key, refused for the other without a hint). */
enum { K_OTHER, K_OPTION, K_NEAR };
static int classify(const char *k, const char **hint) {
    *hint = NULL;
    if (find_opt(k)) return K_OPTION;
    size_t n = strlen(k);
    if (n < 4) return K_OTHER; /* {x = 1}, {id = 2}: init arguments */
    for (const optdef *d = g_opts; d->key; d++)
        if (distance(k, d->key) <= (n >= 8 ? 2 : 1)) {
            *hint = d->key;
            return K_NEAR;
        }
    return K_OTHER;
}

static int unknown_option(lua_State *L, const char *fn, const char *k) {
    luaL_Buffer b;
    const char *hint;
    classify(k, &hint);
    luaL_buffinit(L, &b);
    for (const optdef *d = g_opts; d->key; d++) {
        if (d != g_opts) luaL_addstring(&b, ", ");
        luaL_addstring(&b, d->key);
    }
    luaL_pushresult(&b);
    return luaL_error(L, "zactor: %s: unknown option '%s'%s%s%s (valid options: %s)", fn, k,
                      hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "",
                      lua_tostring(L, -1));
}

int za_lua_parse_opts(lua_State *L, int idx, const char *fn, za_spawn_opts *o, za_lua_opts *lo) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "zactor: %s: option names must be strings, not %s", fn,
                              luaL_typename(L, -2));
        const char *k = lua_tostring(L, -2);
        const optdef *d = find_opt(k);
        if (!d) return unknown_option(L, fn, k);
        uint64_t n = 0;
        switch (d->kind) {
        case O_NAME:
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "zactor: %s: option 'name' must be a string, not %s", fn,
                                  luaL_typename(L, -1));
            o->name = za_lua_check_cstring(L, -1, fn, "option 'name'");
            break;
        case O_PID: /* persist.c */
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "zactor: %s: option 'persistence_id' must be a string, not %s",
                                  fn, luaL_typename(L, -1));
            lo->persistence_id = za_lua_check_cstring(L, -1, fn, "option 'persistence_id'");
            break;
        case O_COUNT32:
        case O_MS32:
            n = za_lua_check_count(L, -2, fn, lua_pushfstring(L, "option '%s'", k), 0, UINT32_MAX);
            lua_pop(L, 1);
            break;
        case O_MEMORY:
            n = za_lua_check_count(L, -1, fn, "option 'memory_limit'", 0, MEMORY_MAX);
            break;
        case O_NODE: /* a cluster node: its name, or its id */
            if (lua_type(L, -1) == LUA_TSTRING) {
                size_t len;
                const char *v = lua_tolstring(L, -1, &len);
                if (len == 0 || len >= sizeof lo->node || strlen(v) != len)
                    return luaL_error(L,
                                      "zactor: %s: option 'node' must be a node name (1-%d "
                                      "characters) or id",
                                      fn, (int)sizeof lo->node - 1);
                memcpy(lo->node, v, len + 1);
            } else {
                n = za_lua_check_count(L, -1, fn, "option 'node'", 1, ZA_NODE_MAX);
                snprintf(lo->node, sizeof lo->node, "%u", (unsigned)n);
            }
            break;
        case O_CONCURRENCY: /* overrides the behaviour table's field */
            lo->concurrency = (uint32_t)za_lua_check_count(L, -1, fn, "option 'concurrency'", 1,
                                                           ZA_LUA_CONCURRENCY_MAX);
            break;
        case O_BOOL:
            if (!lua_isboolean(L, -1))
                return luaL_error(L, "zactor: %s: option '%s' must be a boolean, not %s", fn, k,
                                  luaL_typename(L, -1));
            lo->open_io_os = lua_toboolean(L, -1);
            break;
        case O_ENUM: {
            const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            int i = 0;
            while (v && d->choices[i] && strcmp(d->choices[i], v) != 0) i++;
            if (!v || !d->choices[i]) {
                luaL_Buffer b;
                luaL_buffinit(L, &b);
                for (int j = 0; d->choices[j]; j++) {
                    if (j) luaL_addstring(&b, ", ");
                    luaL_addstring(&b, d->choices[j]);
                }
                luaL_pushresult(&b);
                return luaL_error(L, "zactor: %s: option '%s' must be one of %s, not %s%s%s", fn, k,
                                  lua_tostring(L, -1), v ? "'" : "", v ? v : luaL_typename(L, -2),
                                  v ? "'" : "");
            }
            if (d->choices == restarts)
                o->restart = (za_restart)i;
            else if (d->choices == strategies)
                o->strategy = (za_strategy)i;
            else
                o->full_policy = (za_full_policy)i;
            break;
        }
        }
        if (strcmp(k, "capacity") == 0)
            o->capacity = (uint32_t)n;
        else if (strcmp(k, "max_restarts") == 0)
            o->max_restarts = (uint32_t)n;
        else if (strcmp(k, "within_ms") == 0)
            o->within_ms = (uint32_t)n;
        else if (strcmp(k, "backoff_min_ms") == 0)
            o->backoff_min_ms = (uint32_t)n;
        else if (strcmp(k, "backoff_max_ms") == 0)
            o->backoff_max_ms = (uint32_t)n;
        else if (strcmp(k, "block_timeout_ms") == 0)
            o->block_timeout_ms = (uint32_t)n;
        else if (strcmp(k, "budget_ms") == 0)
            lo->budget_ms = (uint32_t)n;
        else if (strcmp(k, "memory_limit") == 0)
            lo->memory_limit = (size_t)n;
        else if (strcmp(k, "timeout_ms") == 0)
            lo->timeout_ms = (uint32_t)n;
        lua_pop(L, 1);
    }
    return 0;
}

/* A table is spawn options when every key is an option name or a near miss
 * of one (and it has at least one key); any other key makes it an init
 * argument ({name = "bob", age = 3} is a record, not options with a bad
 * key), so parsing a table this accepts never meets a key it cannot name a
 * suggestion for. */
int za_lua_is_opts(lua_State *L, int idx) {
    if (!lua_istable(L, idx)) return 0;
    idx = lua_absindex(L, idx);
    int any = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *hint;
        if (lua_type(L, -1) != LUA_TSTRING || classify(lua_tostring(L, -1), &hint) == K_OTHER) {
            lua_pop(L, 1);
            return 0;
        }
        any = 1;
    }
    return any;
}

const char *za_lua_check_cstring(lua_State *L, int idx, const char *fn, const char *what) {
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    if (strlen(s) != len) luaL_error(L, "zactor: %s: %s contains a NUL byte", fn, what);
    return s;
}
