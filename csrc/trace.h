/*
 * trace.h - W3C trace context carried by messages (trace.c). The hooks are
 * inline so the send and delivery paths pay one thread-local load and a
 * branch while tracing is off.
 */
#ifndef ZA_TRACE_H
#define ZA_TRACE_H

#include "msgnode.h"

typedef struct za_tl_trace {
    bool on;
    za_trace t;
} za_tl_trace;
extern _Thread_local za_tl_trace za__tl_trace;

/* Copy this thread's context into m (best effort: on OOM m goes untraced). */
void za__trace_attach(za_msgnode *m);
/* Where a traced message keeps its context (NULL if untraced). */
const za_trace *za__msg_trace(const za_msgnode *m);

/* Send path: before the message is queued. */
static inline void za__trace_on_send(za_msgnode *m) {
    if (ZA_UNLIKELY(za__tl_trace.on) && !(m->flags & (ZA_MF_TRACED | ZA_MF_SYSTEM)))
        za__trace_attach(m);
}

/* Delivery: make m's context current for its handler; *saved gets what to
 * restore after (za__trace_leave). Returns whether anything was changed. */
static inline bool za__trace_enter(const za_msgnode *m, za_tl_trace *saved) {
    if (ZA_LIKELY(!(m->flags & ZA_MF_TRACED) && !za__tl_trace.on)) return false;
    *saved = za__tl_trace;
    const za_trace *t = za__msg_trace(m);
    za__tl_trace.on = t != NULL;
    if (t) memcpy(&za__tl_trace.t, t, sizeof *t);
    return true;
}

static inline void za__trace_leave(const za_tl_trace *saved) {
    za__tl_trace = *saved;
}

#endif
