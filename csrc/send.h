/*
 * send.h - the send path: resolve a reference, apply the mailbox bound,
 * push into a lane, schedule on the idle -> queued transition.
 */
#ifndef ZA_SEND_H
#define ZA_SEND_H

#include "actor.h"

/* Resolve a ref to a live actor (ALIVE), else NULL. Memory stays valid. */
za_actor *za__resolve(za_system *s, za_ref r);
/* Enqueue a prepared node to m->target (sets enq time, counts, schedules).
 * On error the node is NOT freed (ZA_EDROPPED: it became a dead letter). */
int za__send_node(za_system *s, za_msgnode *m, bool from_outside);
/* Send a system message (always accepted unless dead). */
int za__send_sys(za_system *s, za_ref to, za_ref from, int sys, const void *data, size_t len);

#endif
