/*
 * startfail.h - why an actor died at start, remembered for a while.
 *
 * A spawn returns before the actor's start runs (that is what keeps a spawn
 * cheap: waiting for start made Lua spawns from the main script ~2.6x
 * slower), so a start that fails can only be reported later: to the parent
 * (child_failed), on stderr by hosts that log, and here. The system keeps
 * the reasons of its most recent start failures, keyed by ref, so the
 * ZA_EDEAD a sender or asker then gets says "actor 1.5 failed to start:
 * <reason>" instead of a bare "actor is dead" (issue 10, finding 23).
 * Bounded: the oldest entry is overwritten when the table is full, so a
 * program spawning failing actors forever uses no more memory.
 */
#ifndef ZA_STARTFAIL_H
#define ZA_STARTFAIL_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "zactor.h"

#define ZA_STARTFAIL_KEEP 64  /* entries */
#define ZA_STARTFAIL_TEXT 480 /* bytes of reason kept per entry */

typedef struct za_startfails {
    pthread_mutex_t mu;
    _Atomic uint32_t n; /* entries in use: senders to dead refs skip the lock while 0 */
    uint32_t next;      /* the slot written next (the oldest once full) */
    struct {
        za_ref ref;
        char text[ZA_STARTFAIL_TEXT];
    } e[ZA_STARTFAIL_KEEP];
} za_startfails;

void za__startfail_init(za_startfails *t);
void za__startfail_destroy(za_startfails *t);
/* ref's start (or restart) failed with text; replaces an older entry for it */
void za__startfail_note(za_system *s, za_ref ref, const char *text);
/* ref started after all (a restart succeeded): its entry goes */
void za__startfail_forget(za_system *s, za_ref ref);
/* If ref is remembered: writes "actor S.G failed to start: <reason>" into
 * buf and returns 1; else 0 (buf untouched). */
int za__startfail_text(za_system *s, za_ref ref, char *buf, size_t n);

#endif
