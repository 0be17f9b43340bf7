/*
 * stash.c - a Lua actor's `concurrency` (the behaviour table's field,
 * default 1, the same rule as Python's class attribute): at most that many
 * handlers are in progress at once. A handler suspended in ctx:ask,
 * ctx:sleep or ctx:ask_all counts; while `concurrency` of them wait, other
 * messages wait in this stash (FIFO, with their reply slots) and start as
 * handlers end.
 *
 * Re-entry: an ask carries its asker's call chain (za_chain_new, the
 * core's; Python handlers use the same one), so a message of a chain a
 * waiting handler belongs to starts at once, whatever the length of the
 * cycle and the languages on it (A asks B, B asks C, C asks A). A message
 * from the actor a handler is asking also starts at once: a C actor's ask
 * carries no chain.
 *
 * Restarts keep the stash (the new incarnation serves it first, like
 * queued messages); the final stop turns it into dead letters.
 */
#include "lua_actor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CONCURRENCY_MAX 1000000

struct za__lua_stashed {
    struct za__lua_stashed *next;
    za_msg m; /* m.data points into bytes */
    za_reply_slot *slot;
    uint64_t chain;
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

static int reentrant(const za__lua_actor *a, za_ref sender, uint64_t chain) {
    if (a->gate) return 0; /* the state is not loaded yet (persist.c) */
    for (const za__lua_run *r = a->waiting; r; r = r->next) {
        if (chain && r->chain == chain) return 1;
        if (sender != ZA_REF_NONE && r->wait_corr && r->wait_to == sender) return 1;
    }
    return 0;
}

int za__lua_stash_if_busy(za__lua_actor *a, za_ctx *ctx, const za_msg *m, uint64_t chain) {
    if (m->kind != ZA_PAYLOAD_BYTES) return 0; /* (never the case for Lua actors) */
    if (!a->stash && !za__lua_busy(a)) return 0;
    if (reentrant(a, m->sender, chain)) return 0;
    za__lua_stashed *s = malloc(sizeof *s + m->len);
    if (!s) return 0; /* no room to wait: handled now rather than lost */
    s->next = NULL;
    s->m = *m;
    if (m->len) memcpy(s->bytes, m->data, m->len);
    s->m.data = m->len ? s->bytes : NULL;
    s->m.ptr = NULL;
    s->chain = chain;
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

uint64_t za__lua_stashed_chain(za__lua_stashed *s) {
    return s->chain;
}

void za__lua_stash_free(za__lua_actor *a) {
    za__lua_stashed *s;
    while ((s = za__lua_stash_pop(a))) {
        /* never handled: counted and shown like any message to a dead actor */
        za_dead_letter_report(a->sys, a->self, &s->m, ZA_DL_DEAD_TARGET);
        if (s->slot)
            za_reply_error(a->sys, s->slot, ZA_EDEAD,
                           "the Lua actor stopped before handling this message");
        free(s);
    }
}

/* Stashes between a restart's stop and its start, by the actor's spawn id
 * (process-wide unique, the same for all its incarnations: a ref or a
 * system address may be reused by a later system, a spawn id never is).
 * Stop and start run on the actor's turn, one after the other, but possibly
 * on two workers: a lock, as restarts are rare. A system shut down while
 * an actor waits for its restart leaves its entry here, never matched
 * again. */
typedef struct carried {
    struct carried *next;
    uint64_t spawn_id;
    za__lua_stashed *head, *tail;
} carried;

static pthread_mutex_t carry_mu = PTHREAD_MUTEX_INITIALIZER;
static carried *carry_list;

void za__lua_stash_carry(za__lua_actor *a) {
    if (!a->stash || !a->spawn_id) return;
    carried *c = malloc(sizeof *c);
    if (!c) return; /* the final-stop path then makes them dead letters */
    c->spawn_id = a->spawn_id;
    c->head = a->stash;
    c->tail = a->stash_tail;
    a->stash = a->stash_tail = NULL;
    pthread_mutex_lock(&carry_mu);
    c->next = carry_list;
    carry_list = c;
    pthread_mutex_unlock(&carry_mu);
}

int za__lua_stash_adopt(za__lua_actor *a) {
    if (!a->spawn_id || !a->restarts) return 0; /* a first start never has one: no lock */
    pthread_mutex_lock(&carry_mu);
    carried **pp = &carry_list;
    while (*pp && (*pp)->spawn_id != a->spawn_id) pp = &(*pp)->next;
    carried *c = *pp;
    if (c) *pp = c->next;
    pthread_mutex_unlock(&carry_mu);
    if (!c) return 0;
    /* (a new incarnation's stash is empty: nothing arrived before start) */
    a->stash = c->head;
    a->stash_tail = c->tail;
    free(c);
    return 1;
}
