/*
 * slots.h - the slot table: slot number -> za_actor, in chunks that are
 * never freed while the system exists, so any reference resolves to
 * readable memory. The lookup words sit in the system object (a send reads
 * them next to the system's other words, with no pointer to follow); the
 * allocator behind them is private to slots.c.
 */
#ifndef ZA_SLOTS_H
#define ZA_SLOTS_H

#include "actor.h"

/* A worker's private stock of free slots, so spawns and deaths on a worker
 * rarely take the table's lock. */
#define ZA_SLOT_CACHE 256u
typedef struct za_slot_cache {
    uint32_t v[ZA_SLOT_CACHE];
    uint32_t n;
} za_slot_cache;

typedef struct za_slots {
    _Atomic(za_actor *) *chunks; /* chunk index -> chunk, NULL until made */
    _Atomic uint32_t nslots;     /* slots ever handed out (bump) */
    struct za_slot_alloc *alloc; /* free list and its lock */
} za_slots;

int za__slots_new(za_system *s); /* ZA_OK or ZA_ENOMEM; slot 0 exists, never handed out */
void za__slots_free(za_system *s);
za_actor *za__slot(za_system *s, uint32_t slot); /* NULL if never allocated */
uint32_t za__slot_alloc(za_system *s);           /* 0: the table is full */
void za__slot_free(za_system *s, uint32_t slot);
uint32_t za__slots_used(za_system *s); /* one past the highest slot handed out */
/* The label cell of slot a (label.c): each chunk keeps one per slot after
 * its actors, since the slot itself has no free word. */
_Atomic(const char *) *za__slot_label_cell(za_actor *a);

#endif
