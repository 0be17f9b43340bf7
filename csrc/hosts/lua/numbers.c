/*
 * numbers.c - the one rule for numbers coming from Lua (durations and
 * counts), used by every numeric parameter of the module and of ctx:
 *
 *  - NaN and negative values are errors naming the function and parameter;
 *  - math.huge means "no limit" where a limit may be absent (ask timeouts,
 *    join, wait_idle, shutdown) and is an error elsewhere;
 *  - a value out of range is an error naming the range, never a wrap;
 *  - a count must be an integer (2.0 is fine, 2.5 is not).
 */
#include "lua_actor.h"

#include <math.h>

#define MAX_MS 4294967294.0 /* UINT32_MAX is ZA_LUA_FOREVER */

uint32_t za_lua_check_duration(lua_State *L, int idx, const char *fn, const char *param,
                               double dflt_s, int flags) {
    double s;
    if (lua_isnoneornil(L, idx)) {
        s = dflt_s;
    } else {
        if (lua_type(L, idx) != LUA_TNUMBER)
            luaL_error(L, "zactor: %s: %s must be a number of seconds, not %s", fn, param,
                       luaL_typename(L, idx));
        s = (double)lua_tonumber(L, idx);
    }
    if (isnan(s)) luaL_error(L, "zactor: %s: %s must be a number of seconds, not NaN", fn, param);
    if (s < 0) luaL_error(L, "zactor: %s: %s must be >= 0 seconds, not %f", fn, param, s);
    if ((flags & ZA_LUA_POSITIVE) && s == 0)
        luaL_error(L, "zactor: %s: %s must be > 0 seconds", fn, param);
    if (isinf(s)) {
        if (flags & ZA_LUA_HUGE_IS_FOREVER) return ZA_LUA_FOREVER;
        luaL_error(L, "zactor: %s: %s must be finite (at most %d seconds)", fn, param,
                   (int)(MAX_MS / 1000));
    }
    double ms = s * 1000.0;
    if (ms > MAX_MS)
        luaL_error(L, "zactor: %s: %s must be at most %d seconds%s", fn, param,
                   (int)(MAX_MS / 1000),
                   (flags & ZA_LUA_HUGE_IS_FOREVER) ? " (math.huge: no limit)" : "");
    uint32_t r = (uint32_t)(ms + 0.5);
    if (r == 0 && s > 0) r = 1; /* a positive duration is never 0 ms (0 often means "none") */
    return r;
}

uint64_t za_lua_check_count(lua_State *L, int idx, const char *fn, const char *param, uint64_t min,
                            uint64_t max) {
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, idx, &isint);
    if (!isint) {
        if (lua_type(L, idx) == LUA_TNUMBER) {
            double d = (double)lua_tonumber(L, idx);
            if (isnan(d)) luaL_error(L, "zactor: %s: %s must be an integer, not NaN", fn, param);
            if (d < 0) luaL_error(L, "zactor: %s: %s must be >= 0, not %f", fn, param, d);
            if (d == floor(d)) /* integral but beyond lua_Integer (math.huge, 2^63) */
                luaL_error(L, "zactor: %s: %s must be an integer in %I..%I", fn, param,
                           (lua_Integer)min, (lua_Integer)max);
            luaL_error(L, "zactor: %s: %s must be an integer, not %f", fn, param, d);
        }
        luaL_error(L, "zactor: %s: %s must be an integer, not %s", fn, param,
                   luaL_typename(L, idx));
    }
    if (i < 0) luaL_error(L, "zactor: %s: %s must be >= 0, not %I", fn, param, i);
    if ((uint64_t)i < min || (uint64_t)i > max)
        luaL_error(L, "zactor: %s: %s must be an integer in %I..%I, not %I", fn, param,
                   (lua_Integer)min, (lua_Integer)max, i);
    return (uint64_t)i;
}
