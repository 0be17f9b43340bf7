/*
 * asks.c - the asks a Lua handler waits on (ctx:ask, ctx:ask_all,
 * ctx:first). A handler's ask is a za_ctx_ask whose reply slot the run
 * keeps a reference on, so an ask the handler no longer waits for (the
 * losers of ctx:first, the rest of a failed ctx:ask_all, the asks of a
 * handler closed by a stop or restart) is given up at once: its timer is
 * cancelled, the reply_slots gauge drops, and a later answer becomes a
 * late_reply dead letter, as for Python's cancelled futures. A stop
 * handler cannot get messages, so its asks are callback asks answered into
 * the stop driver (stopwait.c).
 */
#include "lua_actor.h"

#include "ask.h"

/* Suspended Lua handlers in the process (zactor.live_handlers). relaxed:
 * a statistic, nothing is published with it; changed once per suspension,
 * which already costs an ask or a timer. */
static _Atomic int64_t live;

void za__lua_live_add(int n) {
    atomic_fetch_add_explicit(&live, n, memory_order_relaxed);
}

int64_t za_lua_live_handlers(void) {
    int64_t n = atomic_load_explicit(&live, memory_order_relaxed);
    return n > 0 ? n : 0;
}

int za__lua_ask_send(za__lua_actor *a, za__lua_run *run, za_ref to, const void *d, size_t len,
                     uint32_t timeout_ms, uint64_t *corr, void **h) {
    *h = NULL;
    if (run->in_stop) return za__lua_stop_ask(a, to, d, len, timeout_ms, corr, h);
    uint64_t prev = za__lua_chain_enter(run); /* the ask carries the handler's chain */
    za_reply_slot *slot = NULL;
    int rc = za__ctx_ask_held(a->ctx, to, 0, d, len, timeout_ms, corr, &slot);
    za_chain_enter(prev);
    *h = slot;
    return rc;
}

void za__lua_ask_done(za__lua_run *run, void *h) {
    if (!h) return;
    if (run->in_stop)
        za_ask_handle_release(h);
    else
        za__reply_release(h);
}

void za__lua_ask_cancel(za__lua_run *run, void *h) {
    if (!h) return;
    if (run->in_stop)
        za_ask_cancel(h); /* (its callback files an ECANCELLED nobody reads) */
    else
        za__reply_abandon(h);
    za__lua_ask_done(run, h);
}

void za__lua_run_unwait(za__lua_run *run) {
    if (run->wait_h) {
        za__lua_ask_cancel(run, run->wait_h);
        run->wait_h = NULL;
    }
    za__lua_wait_set_free(run);
    run->wait_corr = 0;
}
