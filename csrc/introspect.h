/*
 * introspect.h - the inside view of a running system (introspect.c): the
 * dead-letter ring the core feeds, and what the HTTP endpoint reads.
 */
#ifndef ZA_INTROSPECT_H
#define ZA_INTROSPECT_H

#include "msgnode.h"

int za__introspect_new(za_system *s); /* ZA_OK or ZA_ENOMEM */
void za__introspect_free(za_system *s);
/* Record a dead letter in the ring (any thread, never blocks: a record
 * whose ring entry is being read or written at that instant is dropped). */
void za__introspect_dead_letter(za_system *s, const za_msgnode *m, za_dl_reason why);

#endif
