/*
 * chain.c - call chains: one id per request as it travels through actors
 * that ask each other, so a host limiting an actor to `concurrency`
 * handlers can let a message of a chain it is already serving re-enter
 * (A asks B, B asks C, C asks A) instead of deadlocking until a timeout.
 *
 * The id lives in the ask's reply slot (ask.c), not in the message node:
 * only asks carry a chain, the node keeps its two cache lines, and a host
 * that parks a message with its taken slot still finds the chain. Python
 * and Lua hosts share this one mechanism, so a cycle that crosses languages
 * (a Python actor asks a Lua actor that asks it back) re-enters too.
 */
#include "chain.h"

#include "common.h"

_Thread_local uint64_t za__chain_cur;

/* Ids are handed to threads in blocks: a fresh chain per handler run must
 * not make every worker bounce one shared counter's cache line. */
#define CHAIN_BLOCK 1024u
static _Atomic uint64_t next_block;
static _Thread_local uint64_t tl_next, tl_end;

uint64_t za_chain_new(void) {
    if (tl_next == tl_end) {
        /* relaxed: only uniqueness matters, no data is published with it */
        uint64_t base = atomic_fetch_add_explicit(&next_block, CHAIN_BLOCK, memory_order_relaxed);
        tl_next = base + 1; /* never 0: 0 means "no chain" */
        tl_end = base + 1 + CHAIN_BLOCK;
    }
    return tl_next++;
}

uint64_t za_chain_enter(uint64_t chain) {
    uint64_t prev = za__chain_cur;
    za__chain_cur = chain;
    return prev;
}
