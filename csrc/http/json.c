/*
 * A small JSON writer (json.h). Hand-written because what it must do is
 * small and exact: escape every string per RFC 8259 and never emit invalid
 * UTF-8 (actor names and value previews come from users). Debian's
 * libjansson or yyjson would add a dependency and a DOM for documents we
 * write once, front to back.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/json.h"

void za__jw_init(za_jw *w) {
    memset(w, 0, sizeof *w);
    w->first[0] = true;
}

void za__jw_free(za_jw *w) {
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

char *za__jw_take(za_jw *w, size_t *len) {
    if (w->oom || !w->buf) {
        za__jw_free(w);
        if (len) *len = 0;
        return NULL;
    }
    char *b = w->buf;
    if (len) *len = w->len;
    w->buf = NULL;
    w->len = w->cap = 0;
    return b;
}

static bool grow(za_jw *w, size_t more) {
    if (w->oom) return false;
    if (w->len + more + 1 <= w->cap) return true;
    size_t nc = w->cap ? w->cap : 1024;
    while (nc < w->len + more + 1) {
        if (nc > ((size_t)1 << 40)) {
            w->oom = true;
            return false;
        }
        nc *= 2;
    }
    char *nb = realloc(w->buf, nc);
    if (!nb) {
        w->oom = true;
        return false;
    }
    w->buf = nb;
    w->cap = nc;
    return true;
}

void za__jw_raw(za_jw *w, const char *s, size_t n) {
    if (!grow(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

void za__jw_fmt(za_jw *w, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        za__jw_raw(w, tmp, (size_t)n);
        return;
    }
    if (!grow(w, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(w->buf + w->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
}

/* Before a value: a comma unless it is the first at this depth or follows
 * its key. */
static void sep(za_jw *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth]) za__jw_raw(w, ",", 1);
    w->first[w->depth] = false;
}

static void open_(za_jw *w, char c) {
    sep(w);
    za__jw_raw(w, &c, 1);
    if (w->depth + 1 < ZA_JW_DEPTH) {
        w->depth++;
        w->first[w->depth] = true;
    } else {
        w->oom = true; /* deeper than any document we write: a bug, fail safe */
    }
}

static void close_(za_jw *w, char c) {
    if (w->depth > 0) w->depth--;
    za__jw_raw(w, &c, 1);
}

void za__jw_obj(za_jw *w) {
    open_(w, '{');
}
void za__jw_obj_end(za_jw *w) {
    close_(w, '}');
}
void za__jw_arr(za_jw *w) {
    open_(w, '[');
}
void za__jw_arr_end(za_jw *w) {
    close_(w, ']');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, out of range, or a surrogate */
    return k;
}

void za__jw_strn(za_jw *w, const char *str, size_t n) {
    sep(w);
    const unsigned char *s = (const unsigned char *)str;
    za__jw_raw(w, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c >= 0x20 && c != '"' && c != '\\' && c != 0x7f ? utf8_len(s + i, n - i) : 0;
        if (k) {
            run += k;
            i += k;
            continue;
        }
        if (run) za__jw_raw(w, (const char *)s + i - run, run);
        run = 0;
        char e[8];
        switch (c) {
        case '"':
            za__jw_raw(w, "\\\"", 2);
            break;
        case '\\':
            za__jw_raw(w, "\\\\", 2);
            break;
        case '\n':
            za__jw_raw(w, "\\n", 2);
            break;
        case '\r':
            za__jw_raw(w, "\\r", 2);
            break;
        case '\t':
            za__jw_raw(w, "\\t", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(e, sizeof e, "\\u%04x", c);
                za__jw_raw(w, e, 6);
            } else {
                za__jw_raw(w, "\\ufffd", 6); /* invalid UTF-8 byte */
            }
        }
        i++;
    }
    if (run) za__jw_raw(w, (const char *)s + n - run, run);
    za__jw_raw(w, "\"", 1);
}

void za__jw_str(za_jw *w, const char *s) {
    if (!s) {
        za__jw_null(w);
        return;
    }
    za__jw_strn(w, s, strlen(s));
}

void za__jw_key(za_jw *w, const char *k) {
    za__jw_str(w, k);
    za__jw_raw(w, ":", 1);
    w->after_key = true;
}

void za__jw_u64(za_jw *w, uint64_t v) {
    sep(w);
    za__jw_fmt(w, "%llu", (unsigned long long)v);
}

void za__jw_i64(za_jw *w, int64_t v) {
    sep(w);
    za__jw_fmt(w, "%lld", (long long)v);
}

void za__jw_dbl(za_jw *w, double v) {
    sep(w);
    if (!isfinite(v))
        za__jw_raw(w, "null", 4);
    else
        za__jw_fmt(w, "%.17g", v);
}

void za__jw_bool(za_jw *w, bool v) {
    sep(w);
    za__jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void za__jw_null(za_jw *w) {
    sep(w);
    za__jw_raw(w, "null", 4);
}
