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
