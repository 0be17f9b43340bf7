/*
 * chain.h - call chains (chain.c): the chain current on this thread, which
 * every reply slot made here records (ask.c), so an ask carries it.
 */
#ifndef ZA_CHAIN_H
#define ZA_CHAIN_H

#include <stdint.h>

/* The chain of the handler running on this thread (0: none). Set only by
 * za_chain_enter; read by za__reply_new. */
extern _Thread_local uint64_t za__chain_cur;

#endif
