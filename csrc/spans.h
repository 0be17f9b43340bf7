/*
 * spans.h - span recording hooks (spans.c) for the delivery path: deliver()
 * calls them only for a message whose trace context became current, so an
 * untraced message pays nothing more than before.
 */
#ifndef ZA_SPANS_H
#define ZA_SPANS_H

#include "actor.h"

/* ZA_SPANS_* bits being recorded (0: off). Relaxed loads: a span started
 * just before or after a change is recorded or not, either is fine. */
extern _Atomic unsigned za__spans_langs;

typedef struct za_span_open {
    bool on;
    uint8_t parent[8];
    int32_t tag;
    uint64_t start_ns, wait_ns;
} za_span_open;

/* A traced message is about to be handled (its context is current): if
 * spans are recorded for this actor's language and the context is sampled,
 * make a new span current and fill o (o->on). */
void za__span_recv_begin(za_ctx *c, const za_msgnode *m, const za_behaviour *b, za_span_open *o);
/* The handler returned rc: record the span. */
void za__span_recv_end(za_ctx *c, const za_behaviour *b, za_span_open *o, int rc);

/* Send path (trace.c): a traced message gets its enqueue time while spans
 * are recorded, for the receive span's mailbox wait. */
static inline void za__span_on_attach(za_msgnode *m) {
    if (ZA_UNLIKELY(atomic_load_explicit(&za__spans_langs, memory_order_relaxed))) {
        m->enq_ns = za__now_ns();
        m->flags |= ZA_MF_ENQ;
    }
}

#endif
