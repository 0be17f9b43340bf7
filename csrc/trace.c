/*
 * Trace context carried by messages (W3C traceparent: trace id, span id,
 * flags).
 *
 * A thread has a current context (za__tl_trace): set by the user
 * (za_trace_set_current), or by the runtime while an actor handles a traced
 * message. Every user message sent while one is current carries a copy.
 * The copy lives after the payload, so the message node keeps its size and
 * an untraced message is exactly what it was: an inline payload with room
 * left takes it in the node; a longer one moves to (or grows) its heap
 * block; a pointer payload, which leaves the inline bytes unused, keeps it
 * there. Receivers see the same data and len as before.
 */
#include <stdio.h>
#include <stdlib.h>

#include "actor.h"
#include "spans.h"
#include "trace.h"

_Thread_local za_tl_trace za__tl_trace;

#define TSZ sizeof(za_trace)

const za_trace *za__msg_trace(const za_msgnode *m) {
    if (!(m->flags & ZA_MF_TRACED)) return NULL;
    if (m->kind == ZA_PAYLOAD_PTR) return (const za_trace *)(const void *)m->inl;
    const uint8_t *base = (m->flags & ZA_MF_HEAP) ? m->u.heap : m->inl;
    return (const za_trace *)(const void *)(base + m->len);
}

void za__trace_attach(za_msgnode *m) {
    uint8_t *at;
    if (m->kind == ZA_PAYLOAD_PTR) {
        at = m->inl;
    } else if (m->flags & ZA_MF_HEAP) {
        uint8_t *h = realloc(m->u.heap, (size_t)m->len + TSZ);
        if (!h) return;
        m->u.heap = h;
        at = h + m->len;
    } else if ((size_t)m->len + TSZ <= ZA_INLINE) {
        at = m->inl + m->len;
    } else { /* inline payload with no room left: move it to the heap */
        uint8_t *h = malloc((size_t)m->len + TSZ);
        if (!h) return;
        memcpy(h, m->inl, m->len);
        m->u.heap = h;
        m->flags |= ZA_MF_HEAP;
        at = h + m->len;
    }
    memcpy(at, &za__tl_trace.t, TSZ);
    m->flags |= ZA_MF_TRACED;
    za__span_on_attach(m);
}

void za_trace_set_current(const za_trace *t) {
    za__tl_trace.on = t != NULL;
    if (t) za__tl_trace.t = *t;
}

int za_trace_current(za_trace *out) {
    if (!out) return za__fail(ZA_EINVAL, "out is NULL");
    if (!za__tl_trace.on) return ZA_ENOTFOUND;
    *out = za__tl_trace.t;
    return ZA_OK;
}

int za_ctx_trace(za_ctx *ctx, za_trace *out) {
    if (!ctx || !out) return za__fail(ZA_EINVAL, "ctx or out is NULL");
    const za_trace *t = ctx->cur ? za__msg_trace(ctx->cur) : NULL;
    if (!t) return ZA_ENOTFOUND;
    *out = *t;
    return ZA_OK;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* the spec allows lowercase only */
}

static bool hex(const char *s, uint8_t *out, size_t n) {
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);
        if (lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        nonzero |= out[i] != 0;
    }
    return nonzero || n == 1;
}

int za_trace_parse(const char *tp, za_trace *out) {
    if (!tp || !out) return za__fail(ZA_EINVAL, "traceparent or out is NULL");
    uint8_t ver;
    /* version 00 is exactly 55 chars; a later version may append fields */
    size_t n = strlen(tp);
    if (n < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || !hex(tp, &ver, 1) ||
        ver == 0xff || (ver == 0 && n != 55) || (n > 55 && tp[55] != '-') ||
        !hex(tp + 3, out->trace_id, 16) || !hex(tp + 36, out->span_id, 8) ||
        !hex(tp + 53, &out->flags, 1))
        return za__fail(ZA_EINVAL, "not a W3C traceparent: '%.60s'", tp);
    return ZA_OK;
}

int za_trace_format(const za_trace *t, char *buf, size_t cap) {
    if (!t || !buf || cap < 56) return za__fail(ZA_EINVAL, "trace or buf is NULL, or cap < 56");
    static const char hx[] = "0123456789abcdef";
    char *p = buf;
    *p++ = '0';
    *p++ = '0';
    *p++ = '-';
    for (int i = 0; i < 16; i++) *p++ = hx[t->trace_id[i] >> 4], *p++ = hx[t->trace_id[i] & 15];
    *p++ = '-';
    for (int i = 0; i < 8; i++) *p++ = hx[t->span_id[i] >> 4], *p++ = hx[t->span_id[i] & 15];
    *p++ = '-';
    *p++ = hx[t->flags >> 4];
    *p++ = hx[t->flags & 15];
    *p = '\0';
    return ZA_OK;
}
