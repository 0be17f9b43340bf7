/*
 * provider.h - the storage provider interface behind za_store (store.c):
 * one vtable per database (memory.c, sqlite.c, redis.c, postgres.c).
 *
 * store.c owns the queues and the storage threads; a provider only runs
 * batches. Each storage thread has its own connection (conn) made by
 * connect(); exec() runs a batch of requests on it, as one transaction where
 * the database has them, and fills every op's result. A result is reported
 * only after exec() returns, i.e. after the batch's commit.
 */
#ifndef ZA_STORE_PROVIDER_H
#define ZA_STORE_PROVIDER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zactor.h"

/* One queued request: the request (key and bytes owned), its result and
 * where the result goes. */
typedef struct za__sop {
    struct za__sop *next;
    za_store_req req; /* type/id/data point into buf */
    size_t type_len, id_len;
    char *buf;
    za_store_result res;
    za_store_cb cb;
    void *ud;
} za__sop;

typedef struct za__store_provider {
    const char *scheme;
    uint32_t default_threads;
    /* Parse the URL and set up what the connections share (*shared). */
    int (*open)(const char *url, const za_store_opts *o, void **shared);
    /* One connection per storage thread; idx 0 is made first (and may
     * create the schema). Errors: codes + za__fail text. */
    int (*connect)(void *shared, const za_store_opts *o, int idx, void **conn);
    /* Run ops[0..n) and fill each op's res (status, and data). */
    void (*exec)(void *conn, za__sop **ops, size_t n);
    void (*disconnect)(void *conn);
    void (*close)(void *shared);
} za__store_provider;

/*
 * Reminder rows (csrc/grain/reminders.c): one row per (grain type, grain
 * key, reminder name). Internal operations, refused by za_store_submit and
 * accepted by za__store_submit_op. The request's type and id are the
 * grain's (so one grain's reminder requests share a storage thread and keep
 * their order); data is a packed row (za__remind_pack), fence as for states.
 *   PUT    insert or replace the row (ZA_EFENCED if its stored fence is greater)
 *   TOUCH  update next_due and last_fired of an existing row (ZA_ENOTFOUND
 *          when it is gone: a forget won the race; nothing is written)
 *   DEL    delete the row (ZA_ENOTFOUND when there is none)
 *   LIST   rows whose (type, id, name) is greater than the cursor row in data
 *          (none: from the start), in that order, at most max (0: 1000); each
 *          row is one result event whose data is a packed row
 */
#define ZA__STORE_REMIND_PUT ((za_store_op)64)
#define ZA__STORE_REMIND_TOUCH ((za_store_op)65)
#define ZA__STORE_REMIND_DEL ((za_store_op)66)
#define ZA__STORE_REMIND_LIST ((za_store_op)67)
#define ZA__REMIND_PAGE 1000u

typedef struct za__remind {
    const char *type, *key, *name; /* NUL-terminated (pointing into the packed bytes) */
    size_t type_len, key_len, name_len;
    uint64_t period_ms;
    uint64_t next_due;   /* unix ms */
    uint64_t last_fired; /* unix ms, 0: never */
    uint64_t fence;
    uint32_t catch_up;
} za__remind;

/* Packed: u64 period, next_due, last_fired, fence, u32 catch_up (native
 * order: the bytes never leave the process), then type NUL key NUL name NUL.
 * pack returns the size needed (writes only when it fits in cap). */
#define ZA__REMIND_FIXED 36u
size_t za__remind_pack(const za__remind *r, void *buf, size_t cap);
/* ZA_OK, or ZA_EINVAL when the bytes are not a packed row. */
int za__remind_unpack(const void *buf, size_t len, za__remind *out);
/* Total order of rows by (type, key, name), bytewise: <0, 0, >0. */
int za__remind_cmp(const za__remind *a, const za__remind *b);

/* za_store_submit for the internal operations too. */
int za__store_submit_op(za_store *st, const za_store_req *req, za_store_cb cb, void *ud);
int za__store_call_op(za_store *st, const za_store_req *req, uint32_t timeout_ms,
                      za_store_result *out);
int za__store_tell_op(za_system *sys, za_store *st, const za_store_req *req, za_ref to, int32_t tag,
                      uint64_t *corr_out);

/* Fencing: the message every provider gives for ZA_EFENCED. */
#define ZA__FENCED_FMT "fenced: token %llu < stored %llu"

extern const za__store_provider za__store_memory;
extern const za__store_provider za__store_sqlite;
extern const za__store_provider za__store_redis;
extern const za__store_provider za__store_postgres;

/* Set an op's result to an error with a formatted text. */
void za__sres_fail(za_store_result *r, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Append an event (copying the bytes) to a REPLAY result: ZA_OK/ZA_ENOMEM. */
int za__sres_add_event(za_store_result *r, uint64_t seq, const void *data, size_t len);
/* Copy bytes into a READ result. */
int za__sres_set_data(za_store_result *r, const void *data, size_t len);

#endif
