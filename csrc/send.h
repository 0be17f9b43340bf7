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
/* ZA_OK for a user tag (>= 0), else ZA_EINVAL: negative tags are the
 * runtime's (ZA_TAG_DOWN...), which a user send must not be able to forge.
 * Every public send, ask, timer and reply checks; the runtime's own
 * notices are built on internal paths that do not. */
int za__user_tag(int32_t tag);
/* Send a system message (always accepted unless dead). */
int za__send_sys(za_system *s, za_ref to, za_ref from, int sys, const void *data, size_t len);

#endif
