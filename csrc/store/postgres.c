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
static __typeof__(PQnfields) *pq_PQnfields;
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
    LOAD(PQnfields);
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
    P_META,
    P_INS,
    P_UPD,
    P_DEL,
    P_DEL_V,
    P_CLR_F,
    P_HI_GET,
    P_HI_META,
    P_HI_INS,
    P_HI_UPD,
    P_HI_FENCE,
    P_EV_INS,
    P_REPLAY,
    P_EV_DEL,
    P_R_PUT,
    P_R_TOUCH,
    P_R_DEL,
    P_R_FENCE,
    P_R_LIST,
    P_COUNT
};

/* Every statement is prepared with the same typed parameters (an unused
 * one is allowed because its type is given): $1 type, $2 id, $3 number,
 * $4 bytes (binary), $5 fencing token (0: none), $6 limit (NULL: all);
 * reminder rows: $7 name, $8 period_ms, $9 next_due, $10 last_fired,
 * $11 catch_up. The fence guard "($5 = 0 OR fence <= $5)" is in each
 * writing statement's WHERE, so the check and the write are one atomic
 * step under concurrent writers. A state row of version 0 is the tombstone
 * a fenced clear leaves: it keeps the token and reads as absent. */
#define NPARAMS 11
static const Oid PARAM_TYPES[NPARAMS] = {25, 25, 20, 17, 20, 20, 25, 20, 20, 20, 20};

static const struct {
    const char *name, *sql;
} STMT[P_COUNT] = {
    [P_READ] = {"za_read",
                "SELECT version, data FROM za_state WHERE type = $1 AND id = $2 AND version > 0"},
    [P_META] = {"za_meta", "SELECT version, fence FROM za_state WHERE type = $1 AND id = $2"},
    [P_INS] = {"za_ins",
               "INSERT INTO za_state (type, id, version, data, fence) VALUES ($1, $2, 1, $4, $5) "
               "ON CONFLICT (type, id) DO UPDATE SET version = 1, data = EXCLUDED.data, "
               "fence = GREATEST(za_state.fence, EXCLUDED.fence) "
               "WHERE za_state.version = 0 AND ($5 = 0 OR za_state.fence <= $5)"},
    [P_UPD] = {"za_upd",
               "UPDATE za_state SET version = $3 + 1, data = $4, fence = GREATEST(fence, $5) "
               "WHERE type = $1 AND id = $2 AND version = $3 AND ($5 = 0 OR fence <= $5)"},
    [P_DEL] = {"za_del", "DELETE FROM za_state WHERE type = $1 AND id = $2"},
    [P_DEL_V] = {"za_del_v", "DELETE FROM za_state WHERE type = $1 AND id = $2 AND version = $3"},
    [P_CLR_F] = {"za_clr_f", "INSERT INTO za_state (type, id, version, data, fence) "
                             "VALUES ($1, $2, 0, ''::bytea, $5) "
                             "ON CONFLICT (type, id) DO UPDATE SET version = 0, data = ''::bytea, "
                             "fence = GREATEST(za_state.fence, EXCLUDED.fence) "
                             "WHERE ($3 = -1 OR za_state.version = $3) AND za_state.fence <= $5"},
    [P_HI_GET] = {"za_hi_get", "SELECT hi FROM za_journal_hi WHERE type = $1 AND id = $2"},
    [P_HI_META] = {"za_hi_meta", "SELECT hi, fence FROM za_journal_hi WHERE type = $1 AND id = $2"},
    [P_HI_INS] = {"za_hi_ins",
                  "INSERT INTO za_journal_hi (type, id, hi, fence) VALUES ($1, $2, 1, $5) "
                  "ON CONFLICT (type, id) DO UPDATE SET hi = 1, "
                  "fence = GREATEST(za_journal_hi.fence, EXCLUDED.fence) "
                  "WHERE za_journal_hi.hi = 0 AND ($5 = 0 OR za_journal_hi.fence <= $5)"},
    [P_HI_UPD] = {"za_hi_upd",
                  "UPDATE za_journal_hi SET hi = $3, fence = GREATEST(fence, $5) "
                  "WHERE type = $1 AND id = $2 AND hi = $3 - 1 AND ($5 = 0 OR fence <= $5)"},
    [P_HI_FENCE] = {"za_hi_fence",
                    "INSERT INTO za_journal_hi (type, id, hi, fence) VALUES ($1, $2, 0, $5) "
                    "ON CONFLICT (type, id) DO UPDATE SET "
                    "fence = GREATEST(za_journal_hi.fence, EXCLUDED.fence) "
                    "WHERE za_journal_hi.fence <= $5"},
    [P_EV_INS] = {"za_ev_ins",
                  "INSERT INTO za_journal (type, id, seq, data) VALUES ($1, $2, $3, $4)"},
    [P_REPLAY] = {"za_replay",
                  "SELECT seq, data FROM za_journal WHERE type = $1 AND id = $2 AND seq >= $3 "
                  "ORDER BY seq LIMIT $6"},
    [P_EV_DEL] = {"za_ev_del", "DELETE FROM za_journal WHERE type = $1 AND id = $2 AND seq <= $3"},
    [P_R_PUT] = {"za_r_put",
                 "INSERT INTO za_reminder (type, id, name, period_ms, next_due, last_fired, "
                 "catch_up, fence) VALUES ($1, $2, $7, $8, $9, $10, $11, $5) "
                 "ON CONFLICT (type, id, name) DO UPDATE SET period_ms = EXCLUDED.period_ms, "
                 "next_due = EXCLUDED.next_due, last_fired = EXCLUDED.last_fired, "
                 "catch_up = EXCLUDED.catch_up, "
                 "fence = GREATEST(za_reminder.fence, EXCLUDED.fence) "
                 "WHERE $5 = 0 OR za_reminder.fence <= $5"},
    [P_R_TOUCH] = {"za_r_touch",
                   "UPDATE za_reminder SET next_due = $9, last_fired = $10, "
                   "fence = GREATEST(fence, $5) "
                   "WHERE type = $1 AND id = $2 AND name = $7 AND ($5 = 0 OR fence <= $5)"},
    [P_R_DEL] = {"za_r_del", "DELETE FROM za_reminder WHERE type = $1 AND id = $2 AND name = $7 "
                             "AND ($5 = 0 OR fence <= $5)"},
    [P_R_FENCE] = {"za_r_fence",
                   "SELECT fence FROM za_reminder WHERE type = $1 AND id = $2 AND name = $7"},
    [P_R_LIST] = {"za_r_list",
                  "SELECT type, id, name, period_ms, next_due, last_fired, catch_up, fence "
                  "FROM za_reminder WHERE (type, id, name) > ($1, $2, $7) "
                  "ORDER BY type, id, name LIMIT $6"},
};

/* Reminder keys use the "C" collation: paging by (type, id, name) is then
 * bytewise, like the other providers, whatever the database's locale. The
 * ALTERs bring databases made before fencing tokens up to date. */
static const char SCHEMA[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(7946535);" /* concurrent first opens: one creates */
    "CREATE TABLE IF NOT EXISTS za_state (type text NOT NULL, id text NOT NULL, "
    "  version bigint NOT NULL, data bytea NOT NULL, fence bigint NOT NULL DEFAULT 0, "
    "  PRIMARY KEY (type, id));"
    "CREATE TABLE IF NOT EXISTS za_journal (type text NOT NULL, id text NOT NULL, "
    "  seq bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (type, id, seq));"
    "CREATE TABLE IF NOT EXISTS za_journal_hi (type text NOT NULL, id text NOT NULL, "
    "  hi bigint NOT NULL, fence bigint NOT NULL DEFAULT 0, PRIMARY KEY (type, id));"
    "ALTER TABLE za_state ADD COLUMN IF NOT EXISTS fence bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE za_journal_hi ADD COLUMN IF NOT EXISTS fence bigint NOT NULL DEFAULT 0;"
    "CREATE TABLE IF NOT EXISTS za_reminder (type text COLLATE \"C\" NOT NULL, "
    "  id text COLLATE \"C\" NOT NULL, name text COLLATE \"C\" NOT NULL, "
    "  period_ms bigint NOT NULL, next_due bigint NOT NULL, last_fired bigint NOT NULL, "
    "  catch_up bigint NOT NULL, fence bigint NOT NULL DEFAULT 0, "
    "  PRIMARY KEY (type, id, name));"
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
        r = pq_PQprepare(c->c, STMT[i].name, STMT[i].sql, NPARAMS, PARAM_TYPES);
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

/* Run a prepared statement with the parameters of STMT's comment: num as
 * a signed decimal (ZA_STORE_ANY is -1), lim 0 = NULL (all); row: a
 * reminder row's name and numbers. Binary results. */
static PGresult *run_row(pg_conn *c, int which, const za__sop *op, uint64_t num, uint32_t lim,
                         const za__remind *row) {
    char nbuf[24], lbuf[16], fbuf[24], rb[4][24];
    const char *vals[NPARAMS] = {op->req.type, op->req.id, nbuf, NULL, fbuf, NULL};
    int lens[NPARAMS] = {0};
    int fmts[NPARAMS] = {0};
    snprintf(nbuf, sizeof nbuf, "%lld", (long long)num);
    snprintf(fbuf, sizeof fbuf, "%llu", (unsigned long long)op->req.fence);
    if (lim) {
        snprintf(lbuf, sizeof lbuf, "%u", lim);
        vals[5] = lbuf;
    }
    if (op->req.data && !row) {
        vals[3] = op->req.data;
        lens[3] = (int)op->req.len;
        fmts[3] = 1;
    }
    if (row) {
        vals[6] = row->name;
        uint64_t n4[4] = {row->period_ms, row->next_due, row->last_fired, row->catch_up};
        for (int i = 0; i < 4; i++) {
            snprintf(rb[i], sizeof rb[i], "%lld", (long long)n4[i]);
            vals[7 + i] = rb[i];
        }
    }
    return pq_PQexecPrepared(c->c, STMT[which].name, NPARAMS, vals, lens, fmts, 1);
}

static PGresult *run(pg_conn *c, int which, const za__sop *op, uint64_t num, uint32_t lim) {
    return run_row(c, which, op, num, lim, NULL);
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

/* Two bigints of a one-row SELECT (0, 0: no row). */
static bool pair(pg_conn *c, int which, const za__sop *op, const za__remind *row, uint64_t *a,
                 uint64_t *b, err *e) {
    PGresult *r = run_row(c, which, op, 0, 0, row);
    if (!ok(c, r, e)) return false;
    bool found = pq_PQntuples(r) > 0;
    *a = found ? col_u64(r, 0, 0) : 0;
    if (b) *b = found && pq_PQnfields(r) > 1 ? col_u64(r, 0, 1) : 0;
    pq_PQclear(r);
    return true;
}

/* After a guarded write changed nothing: was it the fence? */
static bool fence_refused(za_store_result *res, uint64_t fence, uint64_t stored) {
    if (!fence || stored <= fence) return false;
    za__sres_fail(res, ZA_EFENCED, ZA__FENCED_FMT, (unsigned long long)fence,
                  (unsigned long long)stored);
    return true;
}

static bool remind_one(pg_conn *c, za__sop *op, err *e) {
    za_store_result *res = &op->res;
    const za_store_req *q = &op->req;
    za__remind row, cur = {.name = ""};
    if (q->data && za__remind_unpack(q->data, q->len, &row) != ZA_OK) {
        za__sres_fail(res, ZA_EINVAL, "bad reminder row");
        return true;
    }
    if (q->op == ZA__STORE_REMIND_LIST) {
        za__sop cop = *op; /* the cursor's key in $1 $2 $7 ("" "" "": from the start) */
        cop.req.type = cop.req.id = "";
        if (q->data) {
            cop.req.type = row.type;
            cop.req.id = row.key;
            cur.name = row.name;
        }
        PGresult *r = run_row(c, P_R_LIST, &cop, 0, q->max ? q->max : ZA__REMIND_PAGE, &cur);
        if (!ok(c, r, e)) return false;
        for (int i = 0; i < pq_PQntuples(r); i++) {
            char t[256], k[1025], n[256];
            const int lim[3] = {sizeof t, sizeof k, sizeof n};
            char *dst[3] = {t, k, n};
            for (int j = 0; j < 3; j++) {
                int l = pq_PQgetlength(r, i, j);
                if (l >= lim[j]) l = lim[j] - 1;
                memcpy(dst[j], pq_PQgetvalue(r, i, j), (size_t)l);
                dst[j][l] = 0;
            }
            za__remind out = {.type = t,
                              .key = k,
                              .name = n,
                              .period_ms = col_u64(r, i, 3),
                              .next_due = col_u64(r, i, 4),
                              .last_fired = col_u64(r, i, 5),
                              .catch_up = (uint32_t)col_u64(r, i, 6),
                              .fence = col_u64(r, i, 7)};
            char buf[2048];
            size_t len = za__remind_pack(&out, buf, sizeof buf);
            if (len > sizeof buf || za__sres_add_event(res, 0, buf, len) != ZA_OK) {
                za__sres_fail(res, ZA_ENOMEM, "out of memory");
                break;
            }
        }
        pq_PQclear(r);
        return true;
    }
    int which = q->op == ZA__STORE_REMIND_PUT     ? P_R_PUT
                : q->op == ZA__STORE_REMIND_TOUCH ? P_R_TOUCH
                                                  : P_R_DEL;
    PGresult *r = run_row(c, which, op, 0, 0, &row);
    if (!ok(c, r, e)) return false;
    uint64_t n = affected(r);
    pq_PQclear(r);
    if (n == 1) return true;
    uint64_t f;
    if (!pair(c, P_R_FENCE, op, &row, &f, NULL, e)) return false;
    if (!fence_refused(res, q->fence, f)) za__sres_fail(res, ZA_ENOTFOUND, "no such reminder");
    return true;
}

static bool one(pg_conn *c, za__sop *op, err *e) {
    za_store_result *res = &op->res;
    const za_store_req *q = &op->req;
    PGresult *r;
    uint64_t have, f;
    res->status = ZA_OK;
    if (q->op >= ZA__STORE_REMIND_PUT) return remind_one(c, op, e);
    switch ((int)q->op) {
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
        if (!pair(c, P_META, op, NULL, &have, &f, e)) return false;
        if (!fence_refused(res, q->fence, f))
            za__sres_fail(res, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
        return true;
    case ZA_STORE_CLEAR:
        if (q->fence) {
            /* a fenced clear leaves a tombstone (version 0) holding the token;
             * the statement re-checks version and token atomically */
            if (!pair(c, P_META, op, NULL, &have, &f, e)) return false;
            if (fence_refused(res, q->fence, f)) return true;
            if (q->version == ZA_STORE_ANY || have == q->version) {
                r = run(c, P_CLR_F, op, q->version, 0);
                if (!ok(c, r, e)) return false;
                uint64_t n = affected(r);
                pq_PQclear(r);
                if (n == 1) return true;
                if (!pair(c, P_META, op, NULL, &have, &f, e)) return false;
                if (fence_refused(res, q->fence, f)) return true;
            }
            za__sres_fail(res, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                          (unsigned long long)q->version, (unsigned long long)have);
            return true;
        }
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
            if (!pair(c, P_HI_META, op, NULL, &have, &f, e)) return false;
            if (!fence_refused(res, q->fence, f))
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
        if (q->fence) {
            r = run(c, P_HI_FENCE, op, 0, 0);
            if (!ok(c, r, e)) return false;
            uint64_t n = affected(r);
            pq_PQclear(r);
            if (n != 1) {
                if (!pair(c, P_HI_META, op, NULL, &have, &f, e)) return false;
                fence_refused(res, q->fence, f);
                return true;
            }
        }
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
