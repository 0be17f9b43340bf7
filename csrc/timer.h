/*
 * timer.h - the system's timer thread: user send-after / periodic timers,
 * and the runtime's own delayed system messages and ask timeouts.
 */
#ifndef ZA_TIMER_H
#define ZA_TIMER_H

#include "common.h"

int za__timers_start(za_system *s);
void za__timers_stop(za_system *s);
void za__timers_free(za_system *s);
/* Internal timers: send a system message after delay, or time out a reply. */
int za__timer_sys(za_system *s, uint32_t delay_ms, za_ref to, int sys, const void *data,
                  size_t len);
int za__timer_reply(za_system *s, uint32_t delay_ms, za_reply_slot *r, za_timer_id *out);

#endif
