/* Shared helpers for the cmocka test programs. */
#ifndef ZA_TESTUTIL_H
#define ZA_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zactor.h"

/* ------------------------------------------------------------------ time */

/* Generous upper bound for waiting on asynchronous effects (never a speed check). */
#define TU_WAIT_MS 10000u

static inline uint64_t tu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tu_now_ms(void) {
    return tu_now_ns() / 1000000ull;
}

static inline void tu_sleep_us(unsigned us) {
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}

static inline void tu_sleep_ms(unsigned ms) {
    tu_sleep_us(ms * 1000u);
}

/* Poll `cond` (an expression) about every 200 us until it holds or `ms`
 * milliseconds passed. Evaluates to the last value of cond (true/false). */
#define WAIT_UNTIL(cond, ms)                                                                       \
    __extension__({                                                                                \
        uint64_t tu_deadline_ = tu_now_ms() + (uint64_t)(ms);                                      \
        bool tu_ok_;                                                                               \
        while (!(tu_ok_ = (cond)) && tu_now_ms() < tu_deadline_) tu_sleep_us(200);                 \
        tu_ok_;                                                                                    \
    })

/* Assert that cond becomes true within TU_WAIT_MS. */
#define ASSERT_EVENTUALLY(cond) assert_true(WAIT_UNTIL(cond, TU_WAIT_MS))

/* -------------------------------------------------------------- sizing */

#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_TSAN 1
#endif
#endif
#ifndef TU_TSAN
#define TU_TSAN 0
#endif

/* Loop sizes: `n` in plain builds, n/4 under TSan (which is 5-15x slower);
 * ZA_TEST_SCALE (an integer, default 1) multiplies either. */
static inline long tu_size(long n) {
    const char *e = getenv("ZA_TEST_SCALE");
    long scale = e && atol(e) > 0 ? atol(e) : 1;
    long v = TU_TSAN ? n / 4 : n;
    if (v < 1) v = 1;
    return v * scale;
}

/* ------------------------------------------------------------- systems */

static inline za_system *tu_system_cfg(const za_config *cfg) {
    za_system *sys = NULL;
    int rc = za_system_create(cfg, &sys);
    if (rc != ZA_OK) fprintf(stderr, "za_system_create: %s\n", za_last_error());
    assert_int_equal(rc, ZA_OK);
    assert_non_null(sys);
    return sys;
}

/* A system with `workers` workers (2 keeps the tests honest on 2 cores). */
static inline za_system *tu_system(int workers) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = workers;
    return tu_system_cfg(&cfg);
}

static inline za_system *tu_manual_system(void) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.manual = 1;
    return tu_system_cfg(&cfg);
}

/* Spawn and assert success. */
static inline za_ref tu_spawn(za_system *sys, const za_behaviour *beh, const void *args, size_t len,
                              const za_spawn_opts *opts) {
    za_ref r = ZA_REF_NONE;
    int rc = za_spawn(sys, beh, args, len, opts, &r);
    if (rc != ZA_OK) fprintf(stderr, "za_spawn: %s\n", za_last_error());
    assert_int_equal(rc, ZA_OK);
    assert_true(r != ZA_REF_NONE);
    return r;
}

/* Ask with no payload and the default generous timeout; returns the status. */
static inline int tu_ask(za_system *sys, za_ref to, int32_t tag, za_answer *out) {
    return za_ask(sys, to, tag, NULL, 0, TU_WAIT_MS, out);
}

/* Ask expecting a reply carrying one int64; returns it (asserts ZA_OK). */
static inline int64_t tu_ask_i64(za_system *sys, za_ref to, int32_t tag) {
    za_answer a;
    int rc = za_ask(sys, to, tag, NULL, 0, TU_WAIT_MS, &a);
    if (rc != ZA_OK) fprintf(stderr, "tu_ask_i64: %d %s\n", rc, za_last_error());
    assert_int_equal(rc, ZA_OK);
    assert_int_equal(a.len, sizeof(int64_t));
    int64_t v;
    memcpy(&v, a.data, sizeof v);
    za_answer_free(&a);
    return v;
}

/* ------------------------------------------------------------- errors */

/* Put a known text into za_last_error() so the next check sees fresh text.
 * (So ASSERT_ERR cannot check za_system_create with workers < 0 itself.) */
static inline void tu_mark_error(void) {
    za_config bad;
    za_config_init(&bad);
    bad.workers = -1;
    za_system *s = NULL;
    (void)za_system_create(&bad, &s);
}

/* expr must return `code` and leave a fresh, non-empty za_last_error(). */
#define ASSERT_ERR(expr, code)                                                                     \
    do {                                                                                           \
        tu_mark_error();                                                                           \
        char tu_mark_[256];                                                                        \
        snprintf(tu_mark_, sizeof tu_mark_, "%s", za_last_error());                                \
        int tu_rc_ = (expr);                                                                       \
        if (tu_rc_ != (code))                                                                      \
            fprintf(stderr, "%s: got %d (%s), want %d\n", #expr, tu_rc_, za_last_error(),          \
                    (int)(code));                                                                  \
        assert_int_equal(tu_rc_, (code));                                                          \
        const char *tu_e_ = za_last_error();                                                       \
        assert_non_null(tu_e_);                                                                    \
        assert_true(tu_e_[0] != '\0');                                                             \
        assert_string_not_equal(tu_e_, tu_mark_);                                                  \
    } while (0)

/* --------------------------------------------------------------- gates */

/* A gate an actor can block on inside receive, opened by the test thread. */
typedef struct tu_gate {
    atomic_int entered;
    atomic_int open;
} tu_gate;

static inline void tu_gate_init(tu_gate *g) {
    atomic_init(&g->entered, 0);
    atomic_init(&g->open, 0);
}

/* Called by an actor: announce, then wait (bounded, so a failing test cannot hang). */
static inline void tu_gate_pass(tu_gate *g) {
    atomic_fetch_add(&g->entered, 1);
    uint64_t deadline = tu_now_ms() + 2 * TU_WAIT_MS;
    while (!atomic_load(&g->open) && tu_now_ms() < deadline) tu_sleep_us(100);
}

static inline void tu_gate_open(tu_gate *g) {
    atomic_store(&g->open, 1);
}

/* -------------------------------------------------------- dead letters */

#define TU_DL_MAX 4096
#define TU_NREASONS 6

/* Records dead letters (thread-safe). Install with za_set_dead_letter_hook(sys, tu_dl_hook, &rec).
 */
typedef struct tu_dl {
    pthread_mutex_t mu;
    atomic_int n;
    atomic_int by_reason[TU_NREASONS];
    atomic_int ptr_kind;
    int n_rec;
    struct {
        za_ref target, sender;
        int32_t tag;
        int reason;
        uint32_t len;
        int64_t first8; /* first 8 bytes of the payload (0-padded) */
        uint64_t corr;
        int16_t status;
    } rec[TU_DL_MAX];
} tu_dl;

static inline tu_dl *tu_dl_new(void) {
    tu_dl *d = calloc(1, sizeof *d);
    assert_non_null(d);
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

static inline void tu_dl_free(tu_dl *d) {
    if (!d) return;
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static inline void tu_dl_hook(const za_dead_letter *dl, void *ud) {
    tu_dl *d = ud;
    if ((int)dl->reason >= 0 && (int)dl->reason < TU_NREASONS)
        atomic_fetch_add(&d->by_reason[dl->reason], 1);
    if (dl->msg && dl->msg->kind == ZA_PAYLOAD_PTR) atomic_fetch_add(&d->ptr_kind, 1);
    pthread_mutex_lock(&d->mu);
    if (d->n_rec < TU_DL_MAX) {
        int i = d->n_rec++;
        d->rec[i].target = dl->target;
        d->rec[i].sender = dl->sender;
        d->rec[i].tag = dl->tag;
        d->rec[i].reason = (int)dl->reason;
        d->rec[i].len = dl->msg ? dl->msg->len : 0;
        d->rec[i].first8 = 0;
        if (dl->msg && dl->msg->len && dl->msg->data)
            memcpy(&d->rec[i].first8, dl->msg->data, dl->msg->len < 8 ? dl->msg->len : 8);
        d->rec[i].corr = dl->msg ? dl->msg->corr : 0;
        d->rec[i].status = dl->msg ? dl->msg->status : 0;
    }
    pthread_mutex_unlock(&d->mu);
    atomic_fetch_add(&d->n, 1);
}

static inline int tu_dl_count(tu_dl *d, za_dl_reason why) {
    return atomic_load(&d->by_reason[why]);
}

/* Number of recorded dead letters with this tag (and reason, or -1 for any). */
static inline int tu_dl_count_tag(tu_dl *d, int32_t tag, int reason) {
    int n = 0;
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < d->n_rec; i++)
        if (d->rec[i].tag == tag && (reason < 0 || d->rec[i].reason == reason)) n++;
    pthread_mutex_unlock(&d->mu);
    return n;
}

/* ------------------------------------------------------- ptr payloads */

/* A heap object with a destructor that counts its runs. */
typedef struct tu_obj {
    int64_t value;
    atomic_int *dtor_count;
} tu_obj;

static inline tu_obj *tu_obj_new(int64_t v, atomic_int *count) {
    tu_obj *o = malloc(sizeof *o);
    assert_non_null(o);
    o->value = v;
    o->dtor_count = count;
    return o;
}

static inline void tu_obj_dtor(void *p) {
    tu_obj *o = p;
    if (o->dtor_count) atomic_fetch_add(o->dtor_count, 1);
    free(o);
}

#endif
