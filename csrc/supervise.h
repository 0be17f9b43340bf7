/*
 * supervise.h - failure handling: a failing actor judges its restart
 * budget and tells its parent, whose strategy decides.
 */
#ifndef ZA_SUPERVISE_H
#define ZA_SUPERVISE_H

#include "actor.h"

/* Payload of CHILD_FAILED: the failure and the child's own verdict. */
enum { ZA_VERDICT_RESTART = 0, ZA_VERDICT_NO_RESTART = 1, ZA_VERDICT_EXCEEDED = 2 };
typedef struct za_fail_note {
    za_down down;
    int32_t verdict;
    uint32_t delay_ms;
} za_fail_note;

void za__actor_fail(za_ctx *c, int code, const char *text);
void za__on_child_failed(za_ctx *c, const za_fail_note *note);
void za__do_restart(za_ctx *c);

#endif
