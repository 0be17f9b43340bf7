/*
 * patterns.c - string.find / match / gmatch / gsub for actors, bounded by
 * the handler budget.
 *
 * Lua's own pattern matcher is C code, and C code runs without hooks: a
 * catastrophic pattern (string.find(("a"):rep(5000), ("a-"):rep(30) .. "b")
 * backtracks for ages) would never see the budget hook and the worker would
 * be lost. This is an independent backtracking matcher for the same pattern
 * language (Lua 5.4 manual, section 6.4.1) that counts its steps and, every
 * few thousand, looks at the actor's over_budget flag (set by the watchdog
 * when it arms the hook): past the budget the call raises the same budget
 * error as the hook.
 *
 * Calls without pattern specials (and find with plain=true) go to the
 * original functions: a literal search has no backtracking.
 */
#include "lua_actor.h"

#include <ctype.h>
#include <string.h>

#define PM_MAXCAPTURES 32
#define PM_MAXDEPTH 200
#define PM_CHECK_EVERY 4096u
#define CAP_OPEN (-1)
#define CAP_POS (-2)
#define SPECIALS "^$*+?.([%-"

typedef struct pm {
    const char *src, *src_end, *p_end;
    lua_State *L;
    za__lua_actor *a;
    unsigned steps;
    int depth, level;
    struct {
        const char *init;
        ptrdiff_t len;
    } cap[PM_MAXCAPTURES];
} pm;

static void over_budget(pm *ms) {
    ms->steps = PM_CHECK_EVERY;
    if (ms->a && atomic_load_explicit(&ms->a->over_budget, memory_order_relaxed))
        luaL_error(ms->L,
                   "zactor: handler ran longer than its budget of %d ms and was stopped "
                   "(in a string pattern)",
                   (int)ms->a->budget_ms);
}

static inline void tick(pm *ms) {
    if (--ms->steps == 0) over_budget(ms);
}

static int class_matches(int c, int cl) {
    int r;
    switch (tolower(cl)) {
    case 'a':
        r = isalpha(c);
        break;
    case 'c':
        r = iscntrl(c);
        break;
    case 'd':
        r = isdigit(c);
        break;
    case 'g':
        r = isgraph(c);
        break;
    case 'l':
        r = islower(c);
        break;
    case 'p':
        r = ispunct(c);
        break;
    case 's':
        r = isspace(c);
        break;
    case 'u':
        r = isupper(c);
        break;
    case 'w':
        r = isalnum(c);
        break;
    case 'x':
        r = isxdigit(c);
        break;
    default:
        return cl == c;
    }
    r = r != 0;
    return isupper(cl) ? !r : r;
}

/* p at '[', close at the matching ']'. */
static int set_matches(int c, const char *p, const char *close) {
    int neg = 0;
    p++;
    if (*p == '^') {
        neg = 1;
        p++;
    }
    while (p < close) {
        if (*p == '%' && p + 1 < close) {
            if (class_matches(c, (unsigned char)p[1])) return !neg;
            p += 2;
        } else if (p + 2 < close && p[1] == '-') {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2]) return !neg;
            p += 3;
        } else {
            if ((unsigned char)*p == c) return !neg;
            p++;
        }
    }
    return neg;
}

/* End of the single-character class starting at p. */
static const char *class_end(pm *ms, const char *p) {
    if (*p == '%') {
        if (p + 1 >= ms->p_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 2;
    }
    if (*p == '[') {
        const char *q = p + 1;
        if (q < ms->p_end && *q == '^') q++;
        /* the first character of a set is never its end, even ']' */
        do {
            if (q >= ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*q++ == '%') {
                if (q >= ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
                q++;
            }
        } while (q >= ms->p_end || *q != ']');
        return q + 1;
    }
    return p + 1;
}

static int one_matches(pm *ms, const char *s, const char *p, const char *ep) {
    if (s >= ms->src_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return 1;
    case '%':
        return class_matches(c, (unsigned char)p[1]);
    case '[':
        return set_matches(c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

static const char *do_match(pm *ms, const char *s, const char *p);

static const char *greedy(pm *ms, const char *s, const char *p, const char *ep) {
    ptrdiff_t n = 0;
    while (one_matches(ms, s + n, p, ep)) {
        n++;
        tick(ms);
    }
    for (; n >= 0; n--) {
        const char *r = do_match(ms, s + n, ep + 1);
        if (r) return r;
    }
    return NULL;
}

static const char *lazy(pm *ms, const char *s, const char *p, const char *ep) {
    for (;;) {
        const char *r = do_match(ms, s, ep + 1);
        if (r) return r;
        if (!one_matches(ms, s, p, ep)) return NULL;
        s++;
    }
}

static const char *open_capture(pm *ms, const char *s, const char *p, ptrdiff_t what) {
    if (ms->level >= PM_MAXCAPTURES) luaL_error(ms->L, "too many captures");
    ms->cap[ms->level].init = s;
    ms->cap[ms->level].len = what;
    ms->level++;
    const char *r = do_match(ms, s, p);
    if (!r) ms->level--;
    return r;
}

static const char *close_capture(pm *ms, const char *s, const char *p) {
    int l = ms->level - 1;
    while (l >= 0 && ms->cap[l].len != CAP_OPEN) l--;
    if (l < 0) luaL_error(ms->L, "invalid pattern capture");
    ms->cap[l].len = s - ms->cap[l].init;
    const char *r = do_match(ms, s, p);
    if (!r) ms->cap[l].len = CAP_OPEN;
    return r;
}

static const char *balanced(pm *ms, const char *s, const char *p) {
    if (p + 1 >= ms->p_end) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ms->src_end || *s != *p) return NULL;
    char open = p[0], close = p[1];
    int depth = 1;
    while (++s < ms->src_end) {
        tick(ms);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

static const char *backref(pm *ms, const char *s, int digit) {
    int l = digit - '1';
    if (l < 0 || l >= ms->level || ms->cap[l].len == CAP_OPEN)
        luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    ptrdiff_t len = ms->cap[l].len;
    if (len < 0 || ms->src_end - s < len || memcmp(ms->cap[l].init, s, (size_t)len) != 0)
        return NULL;
    return s + len;
}

static const char *do_match(pm *ms, const char *s, const char *p) {
    if (ms->depth-- == 0) luaL_error(ms->L, "pattern too complex");
    tick(ms);
    while (s && p < ms->p_end) {
        if (*p == '(') {
            s = p + 1 < ms->p_end && p[1] == ')' ? open_capture(ms, s, p + 2, CAP_POS)
                                                 : open_capture(ms, s, p + 1, CAP_OPEN);
            break;
        }
        if (*p == ')') {
            s = close_capture(ms, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == ms->p_end) {
            if (s != ms->src_end) s = NULL;
            break;
        }
        if (*p == '%' && p + 1 < ms->p_end) {
            if (p[1] == 'b') {
                s = balanced(ms, s, p + 2);
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (p >= ms->p_end || *p != '[')
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                const char *ep = class_end(ms, p);
                int prev = s == ms->src ? 0 : (unsigned char)s[-1];
                int cur = s < ms->src_end ? (unsigned char)*s : 0;
                if (set_matches(prev, p, ep - 1) || !set_matches(cur, p, ep - 1)) s = NULL;
                p = ep;
                continue;
            }
            if (isdigit((unsigned char)p[1])) {
                s = backref(ms, s, p[1]);
                p += 2;
                continue;
            }
        }
        const char *ep = class_end(ms, p);
        int m = one_matches(ms, s, p, ep);
        char q = ep < ms->p_end ? *ep : 0;
        if (q == '?') {
            const char *r = m ? do_match(ms, s + 1, ep + 1) : NULL;
            if (r) {
                s = r;
                break;
            }
            p = ep + 1;
            continue;
        }
        if (q == '+') {
            s = m ? greedy(ms, s + 1, p, ep) : NULL;
            break;
        }
        if (q == '*') {
            s = greedy(ms, s, p, ep);
            break;
        }
        if (q == '-') {
            s = lazy(ms, s, p, ep);
            break;
        }
        if (!m)
            s = NULL;
        else {
            s++;
            p = ep;
        }
    }
    ms->depth++;
    return s;
}

static void pm_init(pm *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp) {
    ms->L = L;
    ms->a = za__lua_actor_of(L);
    ms->src = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
    ms->steps = PM_CHECK_EVERY;
}

static void pm_reset(pm *ms) {
    ms->level = 0;
    ms->depth = PM_MAXDEPTH;
}

/* Capture i of a match s..e (i == 0 with no captures: the whole match). */
static void push_capture(pm *ms, int i, const char *s, const char *e) {
    if (i >= ms->level) {
        if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(ms->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t len = ms->cap[i].len;
    if (len == CAP_OPEN) luaL_error(ms->L, "unfinished capture");
    if (len == CAP_POS)
        lua_pushinteger(ms->L, (ms->cap[i].init - ms->src) + 1);
    else
        lua_pushlstring(ms->L, ms->cap[i].init, (size_t)len);
}

static int push_captures(pm *ms, const char *s, const char *e) {
    int n = ms->level == 0 && s ? 1 : ms->level;
    luaL_checkstack(ms->L, n, "too many captures");
    for (int i = 0; i < n; i++) push_capture(ms, i, s, e);
    return n;
}

static int has_specials(const char *p, size_t lp) {
    for (size_t i = 0; i < lp; i++)
        if (p[i] && strchr(SPECIALS, p[i])) return 1;
    return 0;
}

static size_t start_index(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos;
    if (pos == 0) return 1;
    if (pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

static int find_or_match(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (!has_specials(p, lp) || (find && lua_toboolean(L, 4))) {
        /* literal: the original function (upvalue 1) */
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    pm ms;
    int anchor = *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    pm_init(&ms, L, s, ls, p, lp);
    const char *s1 = s + init;
    do {
        pm_reset(&ms);
        const char *e = do_match(&ms, s1, p);
        if (e) {
            if (find) {
                lua_pushinteger(L, (s1 - s) + 1);
                lua_pushinteger(L, e - s);
                return push_captures(&ms, NULL, NULL) + 2;
            }
            return push_captures(&ms, s1, e);
        }
    } while (s1++ < ms.src_end && !anchor);
    luaL_pushfail(L);
    return 1;
}

static int pat_find(lua_State *L) {
    return find_or_match(L, 1);
}

static int pat_match(lua_State *L) {
    return find_or_match(L, 0);
}

/* gmatch iterator: upvalues subject, pattern, position (integer), last
 * match end (integer, -1: none). */
static int gmatch_next(lua_State *L) {
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    size_t pos = (size_t)lua_tointeger(L, lua_upvalueindex(3));
    lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
    pm ms;
    pm_init(&ms, L, s, ls, p, lp);
    for (const char *src = s + pos; src <= ms.src_end; src++) {
        pm_reset(&ms);
        const char *e = do_match(&ms, src, p);
        if (e && (e - s) != last) {
            lua_pushinteger(L, e - s);
            lua_copy(L, -1, lua_upvalueindex(3));
            lua_replace(L, lua_upvalueindex(4));
            return push_captures(&ms, src, e);
        }
    }
    return 0;
}

static int pat_gmatch(lua_State *L) {
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) init = ls + 1; /* no match from beyond the end */
    lua_settop(L, 2);
    lua_pushinteger(L, (lua_Integer)init);
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, gmatch_next, 4);
    return 1;
}

/* Append the replacement for the match s..e to b. */
static void add_replacement(pm *ms, luaL_Buffer *b, const char *s, const char *e, int tr) {
    lua_State *L = ms->L;
    if (tr == LUA_TSTRING || tr == LUA_TNUMBER) {
        size_t l;
        const char *r = lua_tolstring(L, 3, &l);
        for (size_t i = 0; i < l; i++) {
            if (r[i] != '%') {
                luaL_addchar(b, r[i]);
                continue;
            }
            i++;
            if (i < l && r[i] == '%') {
                luaL_addchar(b, '%');
            } else if (i < l && isdigit((unsigned char)r[i])) {
                if (r[i] == '0')
                    luaL_addlstring(b, s, (size_t)(e - s));
                else {
                    push_capture(ms, r[i] - '1', s, e);
                    luaL_tolstring(L, -1, NULL);
                    lua_remove(L, -2);
                    luaL_addvalue(b);
                }
            } else {
                luaL_error(L, "invalid use of '%%' in replacement string");
            }
        }
        return;
    }
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
    } else { /* table */
        push_capture(ms, 0, s, e);
        lua_gettable(L, 3);
    }
    if (!lua_toboolean(L, -1)) { /* nil or false: keep the original text */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
}

static int pat_gsub(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    lua_settop(L, 3);
    int anchor = *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    pm ms;
    pm_init(&ms, L, s, ls, p, lp);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *src = s, *lastmatch = NULL;
    lua_Integer n = 0;
    int changed = 0;
    while (n < max_n) {
        pm_reset(&ms);
        const char *e = do_match(&ms, src, p);
        if (e && e != lastmatch) {
            n++;
            add_replacement(&ms, &b, src, e, tr);
            changed = 1;
            src = lastmatch = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor) break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void za__lua_bound_patterns(lua_State *L, int strlib) {
    static const luaL_Reg fns[] = {
        {"find", pat_find}, {"match", pat_match}, {"gmatch", pat_gmatch},
        {"gsub", pat_gsub}, {NULL, NULL},
    };
    strlib = lua_absindex(L, strlib);
    for (int i = 0; fns[i].name; i++) {
        lua_getfield(L, strlib, fns[i].name); /* the original, for literal searches */
        lua_pushcclosure(L, fns[i].func, 1);
        lua_setfield(L, strlib, fns[i].name);
    }
}
