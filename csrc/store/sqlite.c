/*
 * sqlite.c - the sqlite:// provider, the embedded default: one database
 * file in WAL mode with synchronous=FULL, so a committed transaction has
 * been fsynced (WAL) before its completions are reported: "write returned"
 * means durable, also across a kill -9 or a power cut.
 *
 * Group commit: store.c hands a storage thread everything queued for it;
 * the whole batch runs in one BEGIN IMMEDIATE ... COMMIT, one fsync for all
 * of it. Each request is one conditional statement (UPDATE ... WHERE
 * version = ?, INSERT ... ON CONFLICT DO NOTHING), so a conflicting request
 * changes nothing and its neighbours in the batch still commit. A database
 * error (disk full, I/O error, busy past the timeout) rolls the batch back
 * and fails every request in it: nothing of it was written.
 *
 * Tables: za_state(type, id, version, data), za_journal(type, id, seq,
 * data) and za_journal_hi(type, id, hi), the highest sequence number of a
 * journal, kept apart so that delete-to never lowers it.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "provider.h"

typedef struct sq_shared {
    char *path;
} sq_shared;

enum {
    S_READ,
    S_META,
    S_INS,
    S_UPD,
    S_DEL,
    S_DEL_V,
    S_CLR_F,
    S_HI_GET,
    S_HI_META,
    S_HI_INS,
    S_HI_UPD,
    S_HI_FENCE,
    S_EV_INS,
    S_REPLAY,
    S_EV_DEL,
    S_R_PUT,
    S_R_TOUCH,
    S_R_DEL,
    S_R_FENCE,
    S_R_LIST,
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_COUNT
};

/* Parameters (bind()): ?1 type, ?2 id, ?3 number, ?4 bytes, ?5 limit,
 * ?6 fencing token (0: none); reminder rows: ?7 name, ?8 period_ms,
 * ?9 next_due, ?10 last_fired, ?11 catch_up. The fence guard
 * "(?6 = 0 OR fence <= ?6)" sits in each writing statement so that the
 * check and the write are one step. A state row of version 0 is the
 * tombstone a fenced clear leaves: it keeps the token, reads as absent. */
static const char *const SQL[S_COUNT] = {
    [S_READ] = "SELECT version, data FROM za_state WHERE type = ?1 AND id = ?2 AND version > 0",
    [S_META] = "SELECT version, fence FROM za_state WHERE type = ?1 AND id = ?2",
    [S_INS] = "INSERT INTO za_state(type, id, version, data, fence) VALUES (?1, ?2, 1, ?4, ?6) "
              "ON CONFLICT(type, id) DO UPDATE SET version = 1, data = excluded.data, "
              "fence = MAX(za_state.fence, excluded.fence) "
              "WHERE za_state.version = 0 AND (?6 = 0 OR za_state.fence <= ?6)",
    [S_UPD] = "UPDATE za_state SET version = ?3 + 1, data = ?4, fence = MAX(fence, ?6) "
              "WHERE type = ?1 AND id = ?2 AND version = ?3 AND (?6 = 0 OR fence <= ?6)",
    [S_DEL] = "DELETE FROM za_state WHERE type = ?1 AND id = ?2",
    [S_DEL_V] = "DELETE FROM za_state WHERE type = ?1 AND id = ?2 AND version = ?3",
    [S_CLR_F] = "INSERT INTO za_state(type, id, version, data, fence) VALUES (?1, ?2, 0, x'', ?6) "
                "ON CONFLICT(type, id) DO UPDATE SET version = 0, data = x'', "
                "fence = MAX(za_state.fence, excluded.fence) "
                "WHERE (?3 = -1 OR za_state.version = ?3) AND za_state.fence <= ?6",
    [S_HI_GET] = "SELECT hi FROM za_journal_hi WHERE type = ?1 AND id = ?2",
    [S_HI_META] = "SELECT hi, fence FROM za_journal_hi WHERE type = ?1 AND id = ?2",
    [S_HI_INS] = "INSERT INTO za_journal_hi(type, id, hi, fence) VALUES (?1, ?2, 1, ?6) "
                 "ON CONFLICT(type, id) DO UPDATE SET hi = 1, "
                 "fence = MAX(za_journal_hi.fence, excluded.fence) "
                 "WHERE za_journal_hi.hi = 0 AND (?6 = 0 OR za_journal_hi.fence <= ?6)",
    [S_HI_UPD] = "UPDATE za_journal_hi SET hi = ?3, fence = MAX(fence, ?6) "
                 "WHERE type = ?1 AND id = ?2 AND hi = ?3 - 1 AND (?6 = 0 OR fence <= ?6)",
    [S_HI_FENCE] = "INSERT INTO za_journal_hi(type, id, hi, fence) VALUES (?1, ?2, 0, ?6) "
                   "ON CONFLICT(type, id) DO UPDATE SET "
                   "fence = MAX(za_journal_hi.fence, excluded.fence) "
                   "WHERE za_journal_hi.fence <= ?6",
    [S_EV_INS] = "INSERT INTO za_journal(type, id, seq, data) VALUES (?1, ?2, ?3, ?4)",
    [S_REPLAY] = "SELECT seq, data FROM za_journal WHERE type = ?1 AND id = ?2 AND seq >= ?3 "
                 "ORDER BY seq LIMIT ?5",
    [S_EV_DEL] = "DELETE FROM za_journal WHERE type = ?1 AND id = ?2 AND seq <= ?3",
    [S_R_PUT] = "INSERT INTO za_reminder(type, id, name, period_ms, next_due, last_fired, "
                "catch_up, fence) VALUES (?1, ?2, ?7, ?8, ?9, ?10, ?11, ?6) "
                "ON CONFLICT(type, id, name) DO UPDATE SET period_ms = excluded.period_ms, "
                "next_due = excluded.next_due, last_fired = excluded.last_fired, "
                "catch_up = excluded.catch_up, fence = MAX(za_reminder.fence, excluded.fence) "
                "WHERE ?6 = 0 OR za_reminder.fence <= ?6",
    [S_R_TOUCH] = "UPDATE za_reminder SET next_due = ?9, last_fired = ?10, fence = MAX(fence, ?6) "
                  "WHERE type = ?1 AND id = ?2 AND name = ?7 AND (?6 = 0 OR fence <= ?6)",
    [S_R_DEL] = "DELETE FROM za_reminder WHERE type = ?1 AND id = ?2 AND name = ?7 "
                "AND (?6 = 0 OR fence <= ?6)",
    [S_R_FENCE] = "SELECT fence FROM za_reminder WHERE type = ?1 AND id = ?2 AND name = ?7",
    [S_R_LIST] = "SELECT type, id, name, period_ms, next_due, last_fired, catch_up, fence "
                 "FROM za_reminder WHERE (type, id, name) > (?1, ?2, ?7) "
                 "ORDER BY type, id, name LIMIT ?5",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS za_state (type TEXT NOT NULL, id TEXT NOT NULL, "
    "  version INTEGER NOT NULL, data BLOB NOT NULL, fence INTEGER NOT NULL DEFAULT 0, "
    "  PRIMARY KEY (type, id));"
    "CREATE TABLE IF NOT EXISTS za_journal (type TEXT NOT NULL, id TEXT NOT NULL, "
    "  seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (type, id, seq));"
    "CREATE TABLE IF NOT EXISTS za_journal_hi (type TEXT NOT NULL, id TEXT NOT NULL, "
    "  hi INTEGER NOT NULL, fence INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (type, id));"
    "CREATE TABLE IF NOT EXISTS za_reminder (type TEXT NOT NULL, id TEXT NOT NULL, "
    "  name TEXT NOT NULL, period_ms INTEGER NOT NULL, next_due INTEGER NOT NULL, "
    "  last_fired INTEGER NOT NULL, catch_up INTEGER NOT NULL, "
    "  fence INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (type, id, name));";

/* Databases made before fencing tokens existed lack the fence columns:
 * add them (an existing column is the "duplicate column" error, ignored). */
static const char *const MIGRATE[] = {
    "ALTER TABLE za_state ADD COLUMN fence INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE za_journal_hi ADD COLUMN fence INTEGER NOT NULL DEFAULT 0",
};

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
} sq_conn;

static int sq_open(const char *url, const za_store_opts *o, void **shared) {
    const char *path = url + strlen("sqlite://");
    if (!*path)
        return za__fail(ZA_EINVAL, "sqlite URL has no path: use sqlite:///abs/file.db or "
                                   "sqlite://relative/file.db");
    if (strchr(path, '?'))
        return za__fail(ZA_EINVAL, "sqlite URL '%.80s': no query parameters are supported", url);
    sq_shared *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    *shared = s;
    return ZA_OK;
}

static void sq_close(void *shared) {
    sq_shared *s = shared;
    free(s->path);
    free(s);
}

static void sq_disconnect(void *conn) {
    sq_conn *c = conn;
    for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(c->st[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

static int sq_connect(void *shared, const za_store_opts *o, int idx, void **conn) {
    sq_shared *s = shared;
    sq_conn *c = calloc(1, sizeof *c);
    if (!c) return za__fail(ZA_ENOMEM, "out of memory");
    /* NOMUTEX: each connection belongs to one storage thread. */
    int rc = sqlite3_open_v2(
        s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int code = za__fail(ZA_ESTORE, "sqlite: cannot open '%s': %s", s->path,
                            c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sq_disconnect(c);
        return code;
    }
    /* Several connections (threads, processes) take turns for the write
     * lock: wait for it rather than fail at once. */
    sqlite3_busy_timeout(c->db, 10000);
    char *err = NULL;
    rc = sqlite3_exec(c->db,
                      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                      "PRAGMA foreign_keys = OFF;",
                      NULL, NULL, &err);
    if (rc == SQLITE_OK && idx == 0) rc = sqlite3_exec(c->db, SCHEMA, NULL, NULL, &err);
    for (size_t i = 0; rc == SQLITE_OK && idx == 0 && i < sizeof MIGRATE / sizeof *MIGRATE; i++) {
        rc = sqlite3_exec(c->db, MIGRATE[i], NULL, NULL, &err);
        if (rc != SQLITE_OK && err && strstr(err, "duplicate column")) {
            sqlite3_free(err);
            err = NULL;
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        int code =
            za__fail(ZA_ESTORE, "sqlite: '%s': %s", s->path, err ? err : sqlite3_errmsg(c->db));
        sqlite3_free(err);
        sq_disconnect(c);
        return code;
    }
    for (int i = 0; i < S_COUNT; i++) {
        rc = sqlite3_prepare_v3(c->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
        if (rc != SQLITE_OK) {
            int code = za__fail(ZA_ESTORE, "sqlite: '%s': %s", s->path, sqlite3_errmsg(c->db));
            sq_disconnect(c);
            return code;
        }
    }
    *conn = c;
    return ZA_OK;
}

/* Bind the parameters every statement shares: ?1 type, ?2 id, ?3 number,
 * ?4 bytes, ?5 limit, ?6 fence; with a reminder row ?7..?11 (see SQL).
 * (A parameter a statement lacks is skipped.) */
static sqlite3_stmt *bind_row(sq_conn *c, int which, const za__sop *op, int64_t num, int64_t lim,
                              const za__remind *row) {
    sqlite3_stmt *s = c->st[which];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    int np = sqlite3_bind_parameter_count(s);
    if (np >= 1) sqlite3_bind_text(s, 1, op->req.type, (int)op->type_len, SQLITE_STATIC);
    if (np >= 2) sqlite3_bind_text(s, 2, op->req.id, (int)op->id_len, SQLITE_STATIC);
    if (np >= 3) sqlite3_bind_int64(s, 3, num);
    if (np >= 4 && op->req.data && !row)
        sqlite3_bind_blob64(s, 4, op->req.data, op->req.len, SQLITE_STATIC);
    if (np >= 5) sqlite3_bind_int64(s, 5, lim);
    if (np >= 6) sqlite3_bind_int64(s, 6, (int64_t)op->req.fence);
    if (row && np >= 7) {
        sqlite3_bind_text(s, 7, row->name, (int)row->name_len, SQLITE_STATIC);
        if (np >= 8) sqlite3_bind_int64(s, 8, (int64_t)row->period_ms);
        if (np >= 9) sqlite3_bind_int64(s, 9, (int64_t)row->next_due);
        if (np >= 10) sqlite3_bind_int64(s, 10, (int64_t)row->last_fired);
        if (np >= 11) sqlite3_bind_int64(s, 11, (int64_t)row->catch_up);
    }
    return s;
}

static sqlite3_stmt *bind(sq_conn *c, int which, const za__sop *op, int64_t num, int64_t lim) {
    return bind_row(c, which, op, num, lim, NULL);
}

/* Step a statement that returns no row: SQLITE_DONE or an error code. */
static int run(sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* The stored version of a state (0: none), or -1 on error. */
static int64_t stored_version(sq_conn *c, const za__sop *op, int *rc_out) {
    sqlite3_stmt *s = bind(c, S_READ, op, 0, 0);
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    *rc_out = rc == SQLITE_ROW ? SQLITE_DONE : rc;
    return v;
}

static int64_t journal_hi(sq_conn *c, const za__sop *op, int *rc_out) {
    sqlite3_stmt *s = bind(c, S_HI_GET, op, 0, 0);
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    *rc_out = rc == SQLITE_ROW ? SQLITE_DONE : rc;
    return v;
}

/* Two numbers of a one-row SELECT (0, 0 and *found false: no row). */
static int meta(sq_conn *c, int which, const za__sop *op, const za__remind *row, int64_t *a,
                int64_t *b, bool *found) {
    sqlite3_stmt *s = bind_row(c, which, op, 0, 0, row);
    int rc = sqlite3_step(s);
    *found = rc == SQLITE_ROW;
    *a = *found ? sqlite3_column_int64(s, 0) : 0;
    *b = *found && sqlite3_column_count(s) > 1 ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* After a guarded write changed nothing: was it the fence? */
static bool fence_refused(za_store_result *r, uint64_t fence, int64_t stored) {
    if (!fence || (uint64_t)stored <= fence) return false;
    za__sres_fail(r, ZA_EFENCED, ZA__FENCED_FMT, (unsigned long long)fence,
                  (unsigned long long)stored);
    return true;
}

static int remind_one(sq_conn *c, za__sop *op) {
    za_store_result *r = &op->res;
    const za_store_req *q = &op->req;
    za__remind row, cur = {0};
    int rc;
    int64_t f, unused;
    bool found;
    if (q->data && za__remind_unpack(q->data, q->len, &row) != ZA_OK) {
        za__sres_fail(r, ZA_EINVAL, "bad reminder row");
        return SQLITE_DONE;
    }
    if (q->op == ZA__STORE_REMIND_LIST) {
        /* keyset paging: the cursor row's key in ?1 ?2 ?7 ("" "" "": from the start) */
        za__sop cop = *op;
        cur.name = "";
        if (q->data) {
            cop.req.type = row.type;
            cop.type_len = row.type_len;
            cop.req.id = row.key;
            cop.id_len = row.key_len;
            cur.name = row.name;
            cur.name_len = row.name_len;
        } else {
            cop.req.type = cop.req.id = "";
            cop.type_len = cop.id_len = 0;
        }
        sqlite3_stmt *s =
            bind_row(c, S_R_LIST, &cop, 0, q->max ? (int64_t)q->max : ZA__REMIND_PAGE, &cur);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            za__remind out = {
                .type = (const char *)sqlite3_column_text(s, 0),
                .key = (const char *)sqlite3_column_text(s, 1),
                .name = (const char *)sqlite3_column_text(s, 2),
                .period_ms = (uint64_t)sqlite3_column_int64(s, 3),
                .next_due = (uint64_t)sqlite3_column_int64(s, 4),
                .last_fired = (uint64_t)sqlite3_column_int64(s, 5),
                .catch_up = (uint32_t)sqlite3_column_int64(s, 6),
                .fence = (uint64_t)sqlite3_column_int64(s, 7),
            };
            char buf[2048];
            size_t n = za__remind_pack(&out, buf, sizeof buf);
            if (n > sizeof buf || za__sres_add_event(r, 0, buf, n) != ZA_OK) {
                za__sres_fail(r, ZA_ENOMEM, "reminder row too large or out of memory");
                rc = SQLITE_DONE;
                break;
            }
        }
        sqlite3_reset(s);
        return rc;
    }
    int which = q->op == ZA__STORE_REMIND_PUT     ? S_R_PUT
                : q->op == ZA__STORE_REMIND_TOUCH ? S_R_TOUCH
                                                  : S_R_DEL;
    rc = run(bind_row(c, which, op, 0, 0, &row));
    if (rc != SQLITE_DONE || sqlite3_changes(c->db) == 1) return rc;
    rc = meta(c, S_R_FENCE, op, &row, &f, &unused, &found);
    if (rc == SQLITE_DONE && !fence_refused(r, q->fence, f))
        za__sres_fail(r, ZA_ENOTFOUND, "no such reminder");
    return rc;
}

/* Run one request inside the open transaction. Returns SQLITE_DONE, or the
 * SQLite error that must roll the batch back. */
static int one(sq_conn *c, za__sop *op) {
    za_store_result *r = &op->res;
    const za_store_req *q = &op->req;
    int64_t v = (int64_t)q->version;
    int rc = SQLITE_DONE;
    r->status = ZA_OK;
    if (q->op >= ZA__STORE_REMIND_PUT) return remind_one(c, op);
    switch ((int)q->op) {
    case ZA_STORE_READ: {
        sqlite3_stmt *s = bind(c, S_READ, op, 0, 0);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            r->version = (uint64_t)sqlite3_column_int64(s, 0);
            const void *d = sqlite3_column_blob(s, 1);
            int n = sqlite3_column_bytes(s, 1);
            if (za__sres_set_data(r, d, (size_t)n) != ZA_OK)
                za__sres_fail(r, ZA_ENOMEM, "out of memory");
            rc = SQLITE_DONE;
        } else if (rc == SQLITE_DONE)
            za__sres_fail(r, ZA_ENOTFOUND, "no state for this key");
        sqlite3_reset(s);
        return rc;
    }
    case ZA_STORE_WRITE: {
        rc = run(bind(c, v == 0 ? S_INS : S_UPD, op, v, 0));
        if (rc != SQLITE_DONE) return rc;
        if (sqlite3_changes(c->db) == 1) {
            r->version = q->version + 1;
            return rc;
        }
        int64_t have, f;
        bool found;
        rc = meta(c, S_META, op, NULL, &have, &f, &found);
        if (rc == SQLITE_DONE && !fence_refused(r, q->fence, f))
            za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %lld",
                          (unsigned long long)q->version, (long long)have);
        return rc;
    }
    case ZA_STORE_CLEAR: {
        if (q->fence) {
            /* a fenced clear leaves a tombstone (version 0) holding the token */
            int64_t have, f;
            bool found;
            rc = meta(c, S_META, op, NULL, &have, &f, &found);
            if (rc != SQLITE_DONE || fence_refused(r, q->fence, f)) return rc;
            if (q->version != ZA_STORE_ANY && (uint64_t)have != q->version) {
                za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %lld",
                              (unsigned long long)q->version, (long long)have);
                return rc;
            }
            return run(bind(c, S_CLR_F, op, v, 0));
        }
        if (q->version == ZA_STORE_ANY) return run(bind(c, S_DEL, op, 0, 0));
        if (q->version != 0) {
            rc = run(bind(c, S_DEL_V, op, v, 0));
            if (rc != SQLITE_DONE || sqlite3_changes(c->db) == 1) return rc;
        }
        {
            int64_t have = stored_version(c, op, &rc);
            if (rc == SQLITE_DONE && have != v)
                za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %lld",
                              (unsigned long long)q->version, (long long)have);
        }
        return rc;
    }
    case ZA_STORE_APPEND:
        rc = run(bind(c, v == 1 ? S_HI_INS : S_HI_UPD, op, v, 0));
        if (rc != SQLITE_DONE) return rc;
        if (sqlite3_changes(c->db) != 1) {
            int64_t hi, f;
            bool found;
            rc = meta(c, S_HI_META, op, NULL, &hi, &f, &found);
            if (rc == SQLITE_DONE && !fence_refused(r, q->fence, f))
                za__sres_fail(r, ZA_ECONFLICT, "sequence conflict: append %llu, highest is %lld",
                              (unsigned long long)q->version, (long long)hi);
            return rc;
        }
        rc = run(bind(c, S_EV_INS, op, v, 0));
        if (rc == SQLITE_DONE) r->version = q->version;
        return rc;
    case ZA_STORE_REPLAY: {
        int64_t hi = journal_hi(c, op, &rc);
        if (rc != SQLITE_DONE) return rc;
        r->version = (uint64_t)hi;
        sqlite3_stmt *s = bind(c, S_REPLAY, op, v, q->max ? (int64_t)q->max : -1);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (za__sres_add_event(r, (uint64_t)sqlite3_column_int64(s, 0),
                                   sqlite3_column_blob(s, 1),
                                   (size_t)sqlite3_column_bytes(s, 1)) != ZA_OK) {
                za__sres_fail(r, ZA_ENOMEM, "out of memory");
                rc = SQLITE_DONE;
                break;
            }
        }
        sqlite3_reset(s);
        return rc;
    }
    case ZA_STORE_HIGHEST:
        r->version = (uint64_t)journal_hi(c, op, &rc);
        return rc;
    case ZA_STORE_DELETE_TO: {
        int64_t to = q->version > (uint64_t)INT64_MAX ? INT64_MAX : v;
        if (q->fence) {
            rc = run(bind(c, S_HI_FENCE, op, 0, 0));
            if (rc != SQLITE_DONE) return rc;
            if (sqlite3_changes(c->db) != 1) {
                int64_t hi, f;
                bool found;
                rc = meta(c, S_HI_META, op, NULL, &hi, &f, &found);
                if (rc == SQLITE_DONE) fence_refused(r, q->fence, f);
                return rc;
            }
        }
        rc = run(bind(c, S_EV_DEL, op, to, 0));
        if (rc != SQLITE_DONE) return rc;
        r->version = (uint64_t)journal_hi(c, op, &rc);
        return rc;
    }
    }
    return rc;
}

static void fail_all(za__sop **ops, size_t n, int code, const char *text) {
    for (size_t i = 0; i < n; i++) {
        za_store_result *r = &ops[i]->res;
        za_store_op opk = r->op;
        za_store_result_free(r);
        r->op = opk;
        za__sres_fail(r, code, "sqlite: %s (nothing in this batch was written)", text);
    }
}

static void sq_exec(void *conn, za__sop **ops, size_t n) {
    sq_conn *c = conn;
    int rc = run(c->st[S_BEGIN]);
    if (rc != SQLITE_DONE) {
        fail_all(ops, n, ZA_ESTORE, sqlite3_errmsg(c->db));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rc = one(c, ops[i]);
        if (rc != SQLITE_DONE) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(c->db));
            run(c->st[S_ROLLBACK]);
            fail_all(ops, n, ZA_ESTORE, msg);
            return;
        }
    }
    rc = run(c->st[S_COMMIT]);
    if (rc != SQLITE_DONE) {
        char msg[256];
        snprintf(msg, sizeof msg, "commit failed: %s", sqlite3_errmsg(c->db));
        if (!sqlite3_get_autocommit(c->db)) run(c->st[S_ROLLBACK]);
        fail_all(ops, n, ZA_ESTORE, msg);
    }
}

const za__store_provider za__store_sqlite = {
    .scheme = "sqlite",
    .default_threads = 1,
    .open = sq_open,
    .connect = sq_connect,
    .exec = sq_exec,
    .disconnect = sq_disconnect,
    .close = sq_close,
};
