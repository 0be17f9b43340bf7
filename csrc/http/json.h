/*
 * json.h - a small JSON writer for the HTTP endpoint's responses: a
 * growable buffer, commas placed by a nesting stack, strings escaped (and
 * invalid UTF-8 replaced) so any actor name or preview yields valid JSON.
 */
#ifndef ZA_HTTP_JSON_H
#define ZA_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZA_JW_DEPTH 64

typedef struct za_jw {
    char *buf;
    size_t len, cap;
    bool oom;
    int depth;
    bool first[ZA_JW_DEPTH]; /* no value yet at this depth: no comma */
    bool after_key;
} za_jw;

void za__jw_init(za_jw *w);
void za__jw_free(za_jw *w);
/* Hand the text over (NUL-terminated, malloc'd; NULL if memory ran out). */
char *za__jw_take(za_jw *w, size_t *len);

void za__jw_obj(za_jw *w);
void za__jw_obj_end(za_jw *w);
void za__jw_arr(za_jw *w);
void za__jw_arr_end(za_jw *w);
void za__jw_key(za_jw *w, const char *k);
void za__jw_str(za_jw *w, const char *s);
void za__jw_strn(za_jw *w, const char *s, size_t n);
void za__jw_u64(za_jw *w, uint64_t v);
void za__jw_i64(za_jw *w, int64_t v);
void za__jw_dbl(za_jw *w, double v); /* non-finite: null */
void za__jw_bool(za_jw *w, bool v);
void za__jw_null(za_jw *w);

/* Raw appends (for non-JSON bodies such as the Prometheus text). */
void za__jw_raw(za_jw *w, const char *s, size_t n);
void za__jw_fmt(za_jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
