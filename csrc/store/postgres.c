/*
 * postgres.c - the postgresql:// provider (libpq), for clusters.
 *
 * The URL is any libpq connection URI (postgresql://user:pass@host:port/db
 * ?sslmode=...), checked with PQconninfoParse before connecting.
 *
 * Group commit: a storage thread runs its batch in one transaction (one
 * WAL flush at COMMIT for all of it; with several storage threads
 * PostgreSQL's own commit grouping applies between them). Every request is
 * one conditional statement (UPDATE ... WHERE version = $3, INSERT ... ON
 * CONFLICT DO NOTHING), so a conflict changes nothing and does not abort the
 * transaction; two writers racing on a row from different connections or
 * processes serialise on its row lock and the loser sees 0 rows (READ
 * COMMITTED re-checks the WHERE clause). A deadlock or serialisation
 * failure between batches retries the batch; any other error rolls it back
 * and fails all its requests (nothing of it was written). Durability: a
 * completion is reported after COMMIT returned, durable with the server's
 * default fsync = on and synchronous_commit = on.
 */
#include <dlfcn.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "provider.h"

#define RETRIES 5

/* libpq is loaded at run time (dlopen), not linked: a program or wheel
 * that never opens a postgresql:// store needs no PostgreSQL client
 * libraries, and a fully static link of libzactor stays possible (Debian
 * ships no static archives of libpq's own dependencies). The header gives
 * the prototypes; these pointers are filled once. */
static __typeof__(PQclear) *pq_PQclear;
static __typeof__(PQcmdTuples) *pq_PQcmdTuples;
static __typeof__(PQconnectdbParams) *pq_PQconnectdbParams;
static __typeof__(PQconninfoFree) *pq_PQconninfoFree;
static __typeof__(PQconninfoParse) *pq_PQconninfoParse;
static __typeof__(PQerrorMessage) *pq_PQerrorMessage;
static __typeof__(PQexec) *pq_PQexec;
static __typeof__(PQexecPrepared) *pq_PQexecPrepared;
static __typeof__(PQfinish) *pq_PQfinish;
static __typeof__(PQfreemem) *pq_PQfreemem;
static __typeof__(PQgetlength) *pq_PQgetlength;
static __typeof__(PQgetvalue) *pq_PQgetvalue;
static __typeof__(PQntuples) *pq_PQntuples;
static __typeof__(PQprepare) *pq_PQprepare;
static __typeof__(PQresultErrorField) *pq_PQresultErrorField;
static __typeof__(PQresultErrorMessage) *pq_PQresultErrorMessage;
static __typeof__(PQresultStatus) *pq_PQresultStatus;
static __typeof__(PQsetNoticeProcessor) *pq_PQsetNoticeProcessor;
static __typeof__(PQstatus) *pq_PQstatus;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static char pq_error[300]; /* empty once loaded */

static void pq_load(void) {
    static const char *const names[] = {"libpq.so.5", "libpq.so"};
    void *h = NULL;
    for (size_t i = 0; !h && i < sizeof names / sizeof names[0]; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(pq_error, sizeof pq_error,
                 "postgresql:// needs the libpq client library (Debian: libpq5): %s", dlerror());
        return;
    }
#define LOAD(f)                                                                                    \
    if (!(*(void **)&pq_##f = dlsym(h, #f))) {                                                     \
        snprintf(pq_error, sizeof pq_error, "libpq lacks %s", #f);                                 \
        return;                                                                                    \
    }
    LOAD(PQclear);
    LOAD(PQcmdTuples);
    LOAD(PQconnectdbParams);
    LOAD(PQconninfoFree);
    LOAD(PQconninfoParse);
    LOAD(PQerrorMessage);
    LOAD(PQexec);
    LOAD(PQexecPrepared);
    LOAD(PQfinish);
    LOAD(PQfreemem);
    LOAD(PQgetlength);
    LOAD(PQgetvalue);
    LOAD(PQntuples);
    LOAD(PQprepare);
    LOAD(PQresultErrorField);
    LOAD(PQresultErrorMessage);
    LOAD(PQresultStatus);
    LOAD(PQsetNoticeProcessor);
    LOAD(PQstatus);
#undef LOAD
}

static int pq_ready(void) {
    pthread_once(&pq_once, pq_load);
    return pq_error[0] ? za__fail(ZA_ESTORE, "%s", pq_error) : ZA_OK;
}

typedef struct pg_shared {
    char *url;
} pg_shared;

typedef struct pg_conn {
    pg_shared *sh;
    PGconn *c;
    uint32_t connect_timeout_ms;
} pg_conn;

enum {
    P_READ,
    P_INS,
    P_UPD,
    P_DEL,
    P_DEL_V,
    P_HI_GET,
    P_HI_INS,
    P_HI_UPD,
    P_EV_INS,
    P_REPLAY,
    P_EV_DEL,
    P_COUNT
};

/* Parameters: $1 type, $2 id, then per statement (see run()). */
static const struct {
    const char *name, *sql;
    int nparams; /* 2: type, id; 3: + number; 4: + bytes (INS: bytes as $3) */
} STMT[P_COUNT] = {
    [P_READ] = {"za_read", "SELECT version, data FROM za_state WHERE type = $1 AND id = $2", 2},
    [P_INS] = {"za_ins",
               "INSERT INTO za_state (type, id, version, data) VALUES ($1, $2, $3 + 1, $4) "
               "ON CONFLICT DO NOTHING",
               4},
    [P_UPD] = {"za_upd",
               "UPDATE za_state SET version = $3 + 1, data = $4 "
               "WHERE type = $1 AND id = $2 AND version = $3",
               4},
    [P_DEL] = {"za_del", "DELETE FROM za_state WHERE type = $1 AND id = $2", 2},
    [P_DEL_V] = {"za_del_v", "DELETE FROM za_state WHERE type = $1 AND id = $2 AND version = $3",
                 3},
    [P_HI_GET] = {"za_hi_get", "SELECT hi FROM za_journal_hi WHERE type = $1 AND id = $2", 2},
    [P_HI_INS] = {"za_hi_ins",
                  "INSERT INTO za_journal_hi (type, id, hi) VALUES ($1, $2, 1) "
                  "ON CONFLICT DO NOTHING",
                  2},
    [P_HI_UPD] = {"za_hi_upd",
                  "UPDATE za_journal_hi SET hi = $3 WHERE type = $1 AND id = $2 AND hi = $3 - 1",
                  3},
    [P_EV_INS] = {"za_ev_ins",
                  "INSERT INTO za_journal (type, id, seq, data) VALUES ($1, $2, $3, $4)", 4},
    [P_REPLAY] = {"za_replay",
                  "SELECT seq, data FROM za_journal WHERE type = $1 AND id = $2 AND seq >= $3 "
                  "ORDER BY seq LIMIT $4::bigint",
                  4},
    [P_EV_DEL] = {"za_ev_del", "DELETE FROM za_journal WHERE type = $1 AND id = $2 AND seq <= $3",
                  3},
};

static const char SCHEMA[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(7946535);" /* concurrent first opens: one creates */
    "CREATE TABLE IF NOT EXISTS za_state (type text NOT NULL, id text NOT NULL, "
    "  version bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (type, id));"
    "CREATE TABLE IF NOT EXISTS za_journal (type text NOT NULL, id text NOT NULL, "
    "  seq bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (type, id, seq));"
    "CREATE TABLE IF NOT EXISTS za_journal_hi (type text NOT NULL, id text NOT NULL, "
    "  hi bigint NOT NULL, PRIMARY KEY (type, id));"
    "COMMIT;";

static int pg_open(const char *url, const za_store_opts *o, void **shared) {
    int rc0 = pq_ready();
    if (rc0 != ZA_OK) return rc0;
    char *err = NULL;
    PQconninfoOption *opts = pq_PQconninfoParse(url, &err);
    if (!opts) {
        int rc = za__fail(ZA_EINVAL, "bad postgresql URL: %s", err ? err : "out of memory");
        pq_PQfreemem(err);
        return rc;
    }
    pq_PQconninfoFree(opts);
    pg_shared *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url))) {
        free(s);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    *shared = s;
    return ZA_OK;
}

static void pg_close(void *shared) {
    pg_shared *s = shared;
    free(s->url);
    free(s);
}

/* libpq reports connection failures as text only; these are the server's
 * messages for refused credentials (English locale). */
static int classify(const char *msg) {
    static const char *const auth[] = {
        "password authentication failed", "no password supplied",  "does not exist",
        "no pg_hba.conf entry",           "authentication failed", "password is required"};
    for (size_t i = 0; i < sizeof auth / sizeof auth[0]; i++)
        if (strstr(msg, auth[i])) return ZA_EAUTH;
    return ZA_ECONNECT;
}

static void quiet(void *arg, const char *message) {}

static int reconnect(pg_conn *c, bool schema) {
    if (c->c) pq_PQfinish(c->c);
    char to[16];
    unsigned secs = (c->connect_timeout_ms + 999) / 1000;
    snprintf(to, sizeof to, "%u", secs < 2 ? 2 : secs); /* libpq's minimum is 2 s */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {c->sh->url, to, "zactor-store", NULL};
    c->c = pq_PQconnectdbParams(keys, vals, 1);
    if (!c->c) return za__fail(ZA_ENOMEM, "out of memory");
    if (pq_PQstatus(c->c) != CONNECTION_OK) {
        const char *m = pq_PQerrorMessage(c->c);
        char msg[400];
        snprintf(msg, sizeof msg, "%s", m);
        size_t l = strlen(msg);
        while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' ')) msg[--l] = 0;
        return za__fail(classify(msg), "postgresql: %s", msg);
    }
    /* NOTICEs ("relation already exists, skipping") are not errors: keep
     * them off the user's stderr */
    pq_PQsetNoticeProcessor(c->c, quiet, NULL);
    PGresult *r;
    if (schema) {
        r = pq_PQexec(c->c, SCHEMA);
        if (pq_PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc =
                za__fail(ZA_ESTORE, "postgresql: creating tables: %s", pq_PQresultErrorMessage(r));
            pq_PQclear(r);
            return rc;
        }
        pq_PQclear(r);
    }
    for (int i = 0; i < P_COUNT; i++) {
        r = pq_PQprepare(c->c, STMT[i].name, STMT[i].sql, 0, NULL);
        if (pq_PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = za__fail(ZA_ESTORE, "postgresql: preparing %s: %s", STMT[i].name,
                              pq_PQresultErrorMessage(r));
            pq_PQclear(r);
            return rc;
        }
        pq_PQclear(r);
    }
    return ZA_OK;
}

static void pg_disconnect(void *conn) {
    pg_conn *c = conn;
    if (c->c) pq_PQfinish(c->c);
    free(c);
}

static int pg_connect(void *shared, const za_store_opts *o, int idx, void **conn) {
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) return za__fail(ZA_ENOMEM, "out of memory");
    c->sh = shared;
    c->connect_timeout_ms = o->connect_timeout_ms;
    int rc = reconnect(c, idx == 0);
    if (rc != ZA_OK) {
        pg_disconnect(c);
        return rc;
    }
    *conn = c;
    return ZA_OK;
}

/* Run a prepared statement: $1 type, $2 id, $3 num (text), $4 bytes
 * (binary) or, for P_REPLAY, $4 the limit (NULL: all). Binary results. */
static PGresult *run(pg_conn *c, int which, const za__sop *op, uint64_t num, uint32_t lim) {
    char nbuf[24], lbuf[16];
    const char *vals[4] = {op->req.type, op->req.id, nbuf, NULL};
    int lens[4] = {0, 0, 0, 0};
    int fmts[4] = {0, 0, 0, 0};
    snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)num);
    if (which == P_REPLAY) {
        if (lim) {
            snprintf(lbuf, sizeof lbuf, "%u", lim);
            vals[3] = lbuf;
        }
    } else if (STMT[which].nparams == 4) {
        vals[3] = op->req.data;
        lens[3] = (int)op->req.len;
        fmts[3] = 1;
    }
    return pq_PQexecPrepared(c->c, STMT[which].name, STMT[which].nparams, vals, lens, fmts, 1);
}

static uint64_t be64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | (uint8_t)p[i];
    return v;
}

static uint64_t col_u64(const PGresult *r, int row, int col) {
    return pq_PQgetlength(r, row, col) == 8 ? be64(pq_PQgetvalue(r, row, col)) : 0;
}

typedef struct err {
    char state[6];
    char text[300];
    bool conn;
} err;

/* Check a result; on failure fill e and return false. Frees r then. */
static bool ok(pg_conn *c, PGresult *r, err *e) {
    ExecStatusType st = pq_PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return true;
    const char *ss = pq_PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(e->state, sizeof e->state, "%s", ss ? ss : "");
    snprintf(e->text, sizeof e->text, "%s",
             r ? pq_PQresultErrorMessage(r) : pq_PQerrorMessage(c->c));
    size_t l = strlen(e->text);
    while (l && e->text[l - 1] == '\n') e->text[--l] = 0;
    e->conn = pq_PQstatus(c->c) != CONNECTION_OK;
    pq_PQclear(r);
    return false;
}

static uint64_t affected(PGresult *r) {
    return strtoull(pq_PQcmdTuples(r), NULL, 10);
}

/* A scalar bigint from a one-row SELECT (0: no row). */
static bool scalar(pg_conn *c, int which, const za__sop *op, uint64_t *out, err *e) {
    PGresult *r = run(c, which, op, 0, 0);
    if (!ok(c, r, e)) return false;
    *out = pq_PQntuples(r) ? col_u64(r, 0, 0) : 0;
    pq_PQclear(r);
    return true;
}

static bool one(pg_conn *c, za__sop *op, err *e) {
    za_store_result *res = &op->res;
    const za_store_req *q = &op->req;
    PGresult *r;
    uint64_t have;
    res->status = ZA_OK;
    switch (q->op) {
    case ZA_STORE_READ:
        r = run(c, P_READ, op, 0, 0);
        if (!ok(c, r, e)) return false;
        if (pq_PQntuples(r) == 0)
            za__sres_fail(res, ZA_ENOTFOUND, "no state for this key");
        else {
            res->version = col_u64(r, 0, 0);
            if (za__sres_set_data(res, pq_PQgetvalue(r, 0, 1), (size_t)pq_PQgetlength(r, 0, 1)) !=
                ZA_OK)
                za__sres_fail(res, ZA_ENOMEM, "out of memory");
        }
        pq_PQclear(r);
        return true;
    case ZA_STORE_WRITE:
        r = run(c, q->version == 0 ? P_INS : P_UPD, op, q->version, 0);
        if (!ok(c, r, e)) return false;
        if (affected(r) == 1) {
            res->version = q->version + 1;
            pq_PQclear(r);
            return true;
        }
        pq_PQclear(r);
        if (!scalar(c, P_READ, op, &have, e)) return false;
        za__sres_fail(res, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                      (unsigned long long)q->version, (unsigned long long)have);
        return true;
    case ZA_STORE_CLEAR:
        if (q->version == ZA_STORE_ANY) {
            r = run(c, P_DEL, op, 0, 0);
            if (!ok(c, r, e)) return false;
            pq_PQclear(r);
            return true;
        }
        if (q->version != 0) {
            r = run(c, P_DEL_V, op, q->version, 0);
            if (!ok(c, r, e)) return false;
            uint64_t n = affected(r);
            pq_PQclear(r);
            if (n == 1) return true;
        }
        if (!scalar(c, P_READ, op, &have, e)) return false;
        if (have != q->version)
            za__sres_fail(res, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
        return true;
    case ZA_STORE_APPEND: {
        r = run(c, q->version == 1 ? P_HI_INS : P_HI_UPD, op, q->version, 0);
        if (!ok(c, r, e)) return false;
        uint64_t n = affected(r);
        pq_PQclear(r);
        if (n != 1) {
            if (!scalar(c, P_HI_GET, op, &have, e)) return false;
            za__sres_fail(res, ZA_ECONFLICT, "sequence conflict: append %llu, highest is %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
            return true;
        }
        r = run(c, P_EV_INS, op, q->version, 0);
        if (!ok(c, r, e)) return false;
        pq_PQclear(r);
        res->version = q->version;
        return true;
    }
    case ZA_STORE_REPLAY:
        if (!scalar(c, P_HI_GET, op, &res->version, e)) return false;
        r = run(c, P_REPLAY, op,
                q->version > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : q->version, q->max);
        if (!ok(c, r, e)) return false;
        for (int i = 0; i < pq_PQntuples(r); i++) {
            if (za__sres_add_event(res, col_u64(r, i, 0), pq_PQgetvalue(r, i, 1),
                                   (size_t)pq_PQgetlength(r, i, 1)) != ZA_OK) {
                za__sres_fail(res, ZA_ENOMEM, "out of memory");
                break;
            }
        }
        pq_PQclear(r);
        return true;
    case ZA_STORE_HIGHEST:
        return scalar(c, P_HI_GET, op, &res->version, e);
    case ZA_STORE_DELETE_TO:
        r = run(c, P_EV_DEL, op,
                q->version > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : q->version, 0);
        if (!ok(c, r, e)) return false;
        pq_PQclear(r);
        return scalar(c, P_HI_GET, op, &res->version, e);
    }
    return true;
}

static void reset_results(za__sop **ops, size_t n) {
    for (size_t i = 0; i < n; i++) {
        za_store_op k = ops[i]->res.op;
        za_store_result_free(&ops[i]->res);
        ops[i]->res.op = k;
    }
}

static void fail_all(za__sop **ops, size_t n, int code, const char *fmt, const char *text) {
    reset_results(ops, n);
    for (size_t i = 0; i < n; i++) za__sres_fail(&ops[i]->res, code, fmt, text);
}

static bool simple(pg_conn *c, const char *sql, err *e) {
    PGresult *r = pq_PQexec(c->c, sql);
    if (!ok(c, r, e)) return false;
    pq_PQclear(r);
    return true;
}

static void pg_exec(void *conn, za__sop **ops, size_t n) {
    pg_conn *c = conn;
    if (!c->c || pq_PQstatus(c->c) != CONNECTION_OK) {
        if (reconnect(c, false) != ZA_OK) {
            fail_all(ops, n, ZA_ECONNECT, "%s", za_last_error());
            return;
        }
    }
    err e;
    for (int attempt = 0;; attempt++) {
        memset(&e, 0, sizeof e);
        bool good = simple(c, "BEGIN", &e);
        for (size_t i = 0; good && i < n; i++) good = one(c, ops[i], &e);
        if (good && simple(c, "COMMIT", &e)) return;
        if (e.conn) {
            /* Lost mid-batch: if COMMIT was sent, it may have happened. */
            fail_all(ops, n, ZA_ECONNECT,
                     "postgresql: connection lost: %s (the outcome is unknown)", e.text);
            return;
        }
        err e2;
        simple(c, "ROLLBACK", &e2);
        /* 40P01 deadlock, 40001 serialisation failure: another batch took
         * the same rows in another order; run ours again. */
        bool retry = strcmp(e.state, "40P01") == 0 || strcmp(e.state, "40001") == 0;
        if (!retry || attempt + 1 >= RETRIES) break;
        reset_results(ops, n);
    }
    fail_all(ops, n, ZA_ESTORE, "postgresql: %s (nothing in this batch was written)", e.text);
}

const za__store_provider za__store_postgres = {
    .scheme = "postgresql",
    .default_threads = 4,
    .open = pg_open,
    .connect = pg_connect,
    .exec = pg_exec,
    .disconnect = pg_disconnect,
    .close = pg_close,
};
