/*
 * stash.c - a Lua actor's `concurrency` (the behaviour table's field,
 * default 1, the same rule as Python's class attribute): at most that many
 * handlers are in progress at once. A handler suspended in ctx:ask,
 * ctx:sleep or ctx:ask_all counts; while `concurrency` of them wait, other
 * messages wait in this stash (FIFO, with their reply slots) and start as
 * handlers end. Re-entry: a message from an actor that a waiting handler is
 * asking (A asks B, B asks A) starts at once, so call cycles do not
 * deadlock until a timeout.
 */
#include "lua_actor.h"

#include <stdlib.h>
#include <string.h>

#define CONCURRENCY_MAX 1000000

struct za__lua_stashed {
    struct za__lua_stashed *next;
    za_msg m; /* m.data points into bytes */
    za_reply_slot *slot;
    unsigned char bytes[];
};

int za__lua_read_concurrency(lua_State *L, int t, za__lua_actor *a) {
    lua_getfield(L, t, "concurrency");
    if (lua_isnil(L, -1)) {
        a->concurrency = 1;
    } else {
        int ok = 0;
        lua_Integer n = lua_tointegerx(L, -1, &ok);
        if (!ok || n < 1 || n > CONCURRENCY_MAX)
            return luaL_error(L,
                              "zactor: the behaviour's concurrency must be an integer from 1 "
                              "to %d",
                              CONCURRENCY_MAX);
        a->concurrency = (uint32_t)n;
    }
    lua_pop(L, 1);
    return 0;
}

/* As many handlers wait as concurrency allows. */
int za__lua_busy(const za__lua_actor *a) {
    if (a->gate) return 1; /* loading state / on_activate (persist.c) */
    uint32_t n = 0;
    for (const za__lua_run *r = a->waiting; r; r = r->next)
        if (++n >= a->concurrency) return 1;
    return 0;
}

static int reentrant(const za__lua_actor *a, za_ref sender) {
    if (sender == ZA_REF_NONE || a->gate) return 0;
    for (const za__lua_run *r = a->waiting; r; r = r->next)
        if (r->wait_corr && r->wait_to == sender) return 1;
    return 0;
}

int za__lua_stash_if_busy(za__lua_actor *a, za_ctx *ctx, const za_msg *m) {
    if (m->kind != ZA_PAYLOAD_BYTES) return 0; /* (never the case for Lua actors) */
    if (!a->stash && !za__lua_busy(a)) return 0;
    if (reentrant(a, m->sender)) return 0;
    za__lua_stashed *s = malloc(sizeof *s + m->len);
    if (!s) return 0; /* no room to wait: handled now rather than lost */
    s->next = NULL;
    s->m = *m;
    if (m->len) memcpy(s->bytes, m->data, m->len);
    s->m.data = m->len ? s->bytes : NULL;
    s->m.ptr = NULL;
    s->slot = za_ctx_can_reply(ctx) ? za_ctx_take_reply(ctx) : NULL;
    if (a->stash_tail)
        a->stash_tail->next = s;
    else
        a->stash = s;
    a->stash_tail = s;
    return 1;
}

za__lua_stashed *za__lua_stash_pop(za__lua_actor *a) {
    za__lua_stashed *s = a->stash;
    if (!s) return NULL;
    a->stash = s->next;
    if (!a->stash) a->stash_tail = NULL;
    return s;
}

const za_msg *za__lua_stashed_msg(za__lua_stashed *s) {
    return &s->m;
}

za_reply_slot *za__lua_stashed_slot(za__lua_stashed *s) {
    za_reply_slot *slot = s->slot;
    s->slot = NULL;
    return slot;
}

void za__lua_stash_free(za__lua_actor *a) {
    za__lua_stashed *s;
    while ((s = za__lua_stash_pop(a))) {
        if (s->slot)
            za_reply_error(a->sys, s->slot, ZA_EDEAD,
                           "the Lua actor stopped before handling this message");
        free(s);
    }
}
