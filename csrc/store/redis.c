/*
 * redis.c - the redis:// provider (hiredis), the store a cluster shares.
 *
 * Every request is one atomic server-side step: a Lua script compares the
 * stored version (or journal highest) and writes only on a match, so two
 * writers racing on a key cannot both win, even from different processes.
 * A state is a hash {v: version, d: bytes}; a journal is a list of events
 * plus a hash {b: seq deleted up to, h: highest}, event seq = b + 1 + index,
 * so replay is one LRANGE and delete-to one LTRIM. Numbers travel as decimal
 * strings and are compared as strings; the scripts' arithmetic (replay and
 * delete-to offsets) is exact below 2^53.
 *
 * Group commit: a storage thread pipelines its whole batch (one write of
 * all commands, then the replies), so with appendfsync always the server
 * fsyncs once per event-loop pass for all of them. Durability is the
 * server's: "write returned" means durable when redis-server runs with
 * appendonly yes and appendfsync always.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "provider.h"

#define CMD_TIMEOUT_S 30

typedef struct rd_shared {
    char host[256];
    int port;
    int db;
    char user[128];
    char pass[256];
    bool has_pass;
} rd_shared;

typedef struct rd_conn {
    rd_shared *sh;
    redisContext *c;
    uint32_t connect_timeout_ms;
} rd_conn;

/* Fencing tokens travel and are stored as 20-digit zero-padded decimals,
 * so that Lua compares them exactly as strings (its numbers are doubles);
 * Z is "no token". A state is {v, d, f}; a fenced clear leaves {f} alone,
 * which reads as absent and keeps the token. */
#define Z "'00000000000000000000'"
#define FENCE_CHECK(arg)                                                                           \
    "local f = redis.call('HGET', KEYS[1], 'f') or " Z " "                                         \
    "if " arg " ~= " Z " and f > " arg " then return {-2, f} end "                                 \
    "local nf = f if " arg " > nf then nf = " arg " end "
static const char WRITE_LUA[] =
    FENCE_CHECK("ARGV[4]") "local v = redis.call('HGET', KEYS[1], 'v') or '0' "
                           "if v ~= ARGV[1] then return {-1, v} end "
                           "redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'f', nf) "
                           "return {0, ARGV[2]}";
static const char CLEAR_LUA[] =
    FENCE_CHECK("ARGV[2]") "local v = redis.call('HGET', KEYS[1], 'v') or '0' "
                           "if ARGV[1] ~= 'any' and v ~= ARGV[1] then return {-1, v} end "
                           "redis.call('DEL', KEYS[1]) "
                           "if ARGV[2] ~= " Z " then redis.call('HSET', KEYS[1], 'f', nf) end "
                           "return {0, '0'}";
static const char APPEND_LUA[] =
    FENCE_CHECK("ARGV[4]") "local h = redis.call('HGET', KEYS[1], 'h') or '0' "
                           "if h ~= ARGV[2] then return {-1, h} end "
                           "redis.call('RPUSH', KEYS[2], ARGV[3]) "
                           "redis.call('HSET', KEYS[1], 'h', ARGV[1], 'f', nf) "
                           "return {0, ARGV[1]}";
static const char REPLAY_LUA[] =
    "local b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0') "
    "local h = redis.call('HGET', KEYS[1], 'h') or '0' "
    "local from = tonumber(ARGV[1]) if from <= b then from = b + 1 end "
    "local start = from - b - 1 local stop = -1 local max = tonumber(ARGV[2]) "
    "if max > 0 then stop = start + max - 1 end "
    "return {h, string.format('%d', from), redis.call('LRANGE', KEYS[2], start, stop)}";
static const char DELETE_LUA[] = FENCE_CHECK(
    "ARGV[2]") "local b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0') "
               "local hs = redis.call('HGET', KEYS[1], 'h') or '0' local h = tonumber(hs) "
               "local to = tonumber(ARGV[1]) if to > h then to = h end "
               "if to > b then redis.call('LTRIM', KEYS[2], to - b, -1) "
               "redis.call('HSET', KEYS[1], 'b', string.format('%d', to)) end "
               "if ARGV[2] ~= " Z " then redis.call('HSET', KEYS[1], 'f', nf) end "
               "return {0, hs}";

/* Reminder rows: one hash za:rem:rows (field: type NUL key NUL name,
 * value: "period next_due last_fired catch_up fence") and a sorted set
 * za:rem:idx of the same members, all with score 0, so ZRANGEBYLEX pages
 * through them in bytewise (type, key, name) order. */
#define REM_CUR                                                                                    \
    "local cur = redis.call('HGET', KEYS[1], ARGV[1]) local f = " Z " "                            \
    "if cur then f = string.sub(cur, -20) end "
static const char RPUT_LUA[] =
    REM_CUR "if ARGV[3] ~= " Z " and f > ARGV[3] then return {-2, f} end "
            "local nf = f if ARGV[3] > nf then nf = ARGV[3] end "
            "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. nf) "
            "redis.call('ZADD', KEYS[2], 0, ARGV[1]) return {0, nf}";
static const char RTOUCH_LUA[] = REM_CUR
    "if not cur then return {-1, '0'} end "
    "if ARGV[4] ~= " Z " and f > ARGV[4] then return {-2, f} end "
    "local nf = f if ARGV[4] > nf then nf = ARGV[4] end "
    "local p, c = string.match(cur, '^(%d+) %d+ %d+ (%d+) ') "
    "redis.call('HSET', KEYS[1], ARGV[1], p .. ' ' .. ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. c "
    ".. ' ' .. nf) return {0, nf}";
static const char RDEL_LUA[] =
    REM_CUR "if not cur then return {-1, '0'} end "
            "if ARGV[2] ~= " Z " and f > ARGV[2] then return {-2, f} end "
            "redis.call('HDEL', KEYS[1], ARGV[1]) "
            "redis.call('ZREM', KEYS[2], ARGV[1]) return {0, f}";
static const char RLIST_LUA[] =
    "local m = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2])) "
    "if #m == 0 then return {{}, {}} end "
    "return {m, redis.call('HMGET', KEYS[1], unpack(m))}";
#undef REM_CUR
#undef FENCE_CHECK
#undef Z

/* redis://[[user]:password@]host[:port][/db] */
static int rd_open(const char *url, const za_store_opts *o, void **shared) {
    rd_shared *s = calloc(1, sizeof *s);
    if (!s) return za__fail(ZA_ENOMEM, "out of memory");
    s->port = 6379;
    const char *p = url + strlen("redis://");
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon || (size_t)(colon - p) >= sizeof s->user ||
            (size_t)(at - colon - 1) >= sizeof s->pass)
            goto bad;
        memcpy(s->user, p, (size_t)(colon - p));
        memcpy(s->pass, colon + 1, (size_t)(at - colon - 1));
        s->has_pass = true;
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof s->host) goto bad;
    memcpy(s->host, p, hl);
    p += hl;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535) goto bad;
        s->port = (int)port;
        p = end;
    }
    if (*p == '/') {
        if (p[1]) {
            char *end;
            long db = strtol(p + 1, &end, 10);
            if (end == p + 1 || *end || db < 0 || db > 1000000) goto bad;
            s->db = (int)db;
        }
    } else if (*p)
        goto bad;
    *shared = s;
    return ZA_OK;
bad:
    free(s);
    return za__fail(ZA_EINVAL,
                    "bad redis URL '%.100s': expected redis://[[user]:password@]host"
                    "[:port][/db]",
                    url);
}

static void rd_close(void *shared) {
    free(shared);
}

/* Run one command during connect; map its error. */
static int setup_cmd(rd_conn *c, int code, const char *what, int argc, const char **argv) {
    redisReply *r = redisCommandArgv(c->c, argc, argv, NULL);
    if (!r)
        return za__fail(ZA_ECONNECT, "redis %s:%d: %s: %s", c->sh->host, c->sh->port, what,
                        c->c->errstr);
    int rc = ZA_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        /* NOAUTH / WRONGPASS at any step mean credentials */
        if (strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "WRONGPASS", 9) == 0)
            code = ZA_EAUTH;
        rc = za__fail(code, "redis %s:%d: %s: %s", c->sh->host, c->sh->port, what, r->str);
    }
    freeReplyObject(r);
    return rc;
}

static int reconnect(rd_conn *c) {
    if (c->c) redisFree(c->c);
    struct timeval tv = {(time_t)(c->connect_timeout_ms / 1000),
                         (suseconds_t)(c->connect_timeout_ms % 1000) * 1000};
    c->c = redisConnectWithTimeout(c->sh->host, c->sh->port, tv);
    if (!c->c) return za__fail(ZA_ENOMEM, "out of memory");
    if (c->c->err)
        return za__fail(ZA_ECONNECT, "redis %s:%d: cannot connect: %s", c->sh->host, c->sh->port,
                        c->c->errstr);
    struct timeval ct = {CMD_TIMEOUT_S, 0};
    redisSetTimeout(c->c, ct);
    int rc;
    if (c->sh->has_pass) {
        const char *argv[3] = {"AUTH", c->sh->user, c->sh->pass};
        rc = c->sh->user[0]
                 ? setup_cmd(c, ZA_EAUTH, "AUTH", 3, argv)
                 : setup_cmd(c, ZA_EAUTH, "AUTH", 2, (const char *[]){"AUTH", c->sh->pass});
        if (rc != ZA_OK) return rc;
    }
    if (c->sh->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->sh->db);
        rc = setup_cmd(c, ZA_EINVAL, "SELECT", 2, (const char *[]){"SELECT", db});
        if (rc != ZA_OK) return rc;
    }
    return setup_cmd(c, ZA_ESTORE, "PING", 1, (const char *[]){"PING"});
}

static void rd_disconnect(void *conn) {
    rd_conn *c = conn;
    if (c->c) redisFree(c->c);
    free(c);
}

static int rd_connect(void *shared, const za_store_opts *o, int idx, void **conn) {
    rd_conn *c = calloc(1, sizeof *c);
    if (!c) return za__fail(ZA_ENOMEM, "out of memory");
    c->sh = shared;
    c->connect_timeout_ms = o->connect_timeout_ms;
    int rc = reconnect(c);
    if (rc != ZA_OK) {
        rd_disconnect(c);
        return rc;
    }
    *conn = c;
    return ZA_OK;
}

/* Key names: a length prefix keeps ("a:b", "c") apart from ("a", "b:c"). */
static void keyname(char *buf, size_t cap, const char *kind, const za__sop *op) {
    snprintf(buf, cap, "za:%s:%zu:%s:%s", kind, op->type_len, op->req.type, op->req.id);
}

/* The member naming a reminder row: type NUL key NUL name ('(' first when
 * it is a ZRANGEBYLEX exclusive bound). Returns its length. */
static size_t rem_member(char *buf, size_t cap, bool bound, const char *t, size_t tl, const char *k,
                         size_t kl, const char *n, size_t nl) {
    size_t o = bound ? 1 : 0;
    if (o + tl + kl + nl + 2 > cap) return 0;
    buf[0] = '(';
    memcpy(buf + o, t, tl);
    buf[o + tl] = 0;
    memcpy(buf + o + tl + 1, k, kl);
    buf[o + tl + 1 + kl] = 0;
    memcpy(buf + o + tl + kl + 2, n, nl);
    return o + tl + kl + 2 + nl;
}

static void append_cmd(rd_conn *c, const za__sop *op) {
    const za_store_req *q = &op->req;
    char k1[1400], k2[1400], a1[24], a2[24], af[24], mem[1700], val[120];
    const char *argv[12];
    size_t lens[12];
    int n = 0;
#define ARG(s, l) (argv[n] = (s), lens[n] = (l), n++)
#define ARGS(s) ARG(s, strlen(s))
    snprintf(af, sizeof af, "%020llu", (unsigned long long)q->fence);
    za__remind row = {0};
    size_t ml = 0;
    if (q->op >= ZA__STORE_REMIND_PUT) {
        snprintf(k1, sizeof k1, "za:rem:rows");
        snprintf(k2, sizeof k2, "za:rem:idx");
        if (q->data && za__remind_unpack(q->data, q->len, &row) == ZA_OK) {
            if (q->op == ZA__STORE_REMIND_LIST)
                ml = rem_member(mem, sizeof mem, true, row.type, row.type_len, row.key, row.key_len,
                                row.name, row.name_len);
            else
                ml = rem_member(mem, sizeof mem, false, op->req.type, op->type_len, op->req.id,
                                op->id_len, row.name, row.name_len);
        }
    } else if (q->op <= ZA_STORE_CLEAR)
        keyname(k1, sizeof k1, "s", op);
    else {
        keyname(k1, sizeof k1, "jm", op);
        keyname(k2, sizeof k2, "jl", op);
    }
    switch ((int)q->op) {
    case ZA_STORE_READ:
        ARGS("HMGET"), ARGS(k1), ARGS("v"), ARGS("d");
        break;
    case ZA_STORE_WRITE:
        snprintf(a1, sizeof a1, "%llu", (unsigned long long)q->version);
        snprintf(a2, sizeof a2, "%llu", (unsigned long long)q->version + 1);
        ARGS("EVAL"), ARGS(WRITE_LUA), ARGS("1"), ARGS(k1), ARGS(a1), ARGS(a2),
            ARG(q->data, q->len), ARGS(af);
        break;
    case ZA_STORE_CLEAR:
        if (q->version == ZA_STORE_ANY)
            snprintf(a1, sizeof a1, "any");
        else
            snprintf(a1, sizeof a1, "%llu", (unsigned long long)q->version);
        ARGS("EVAL"), ARGS(CLEAR_LUA), ARGS("1"), ARGS(k1), ARGS(a1), ARGS(af);
        break;
    case ZA_STORE_APPEND:
        snprintf(a1, sizeof a1, "%llu", (unsigned long long)q->version);
        snprintf(a2, sizeof a2, "%llu", (unsigned long long)q->version - 1);
        ARGS("EVAL"), ARGS(APPEND_LUA), ARGS("2"), ARGS(k1), ARGS(k2), ARGS(a1), ARGS(a2),
            ARG(q->data, q->len), ARGS(af);
        break;
    case ZA_STORE_REPLAY:
        snprintf(a1, sizeof a1, "%llu", (unsigned long long)q->version);
        snprintf(a2, sizeof a2, "%u", q->max);
        ARGS("EVAL"), ARGS(REPLAY_LUA), ARGS("2"), ARGS(k1), ARGS(k2), ARGS(a1), ARGS(a2);
        break;
    case ZA_STORE_HIGHEST:
        ARGS("HGET"), ARGS(k1), ARGS("h");
        break;
    case ZA_STORE_DELETE_TO:
        snprintf(a1, sizeof a1, "%llu", (unsigned long long)q->version);
        ARGS("EVAL"), ARGS(DELETE_LUA), ARGS("2"), ARGS(k1), ARGS(k2), ARGS(a1), ARGS(af);
        break;
    case (int)ZA__STORE_REMIND_PUT:
        snprintf(val, sizeof val, "%llu %llu %llu %u", (unsigned long long)row.period_ms,
                 (unsigned long long)row.next_due, (unsigned long long)row.last_fired,
                 row.catch_up);
        ARGS("EVAL"), ARGS(RPUT_LUA), ARGS("2"), ARGS(k1), ARGS(k2), ARG(mem, ml), ARGS(val),
            ARGS(af);
        break;
    case (int)ZA__STORE_REMIND_TOUCH:
        snprintf(a1, sizeof a1, "%llu", (unsigned long long)row.next_due);
        snprintf(a2, sizeof a2, "%llu", (unsigned long long)row.last_fired);
        ARGS("EVAL"), ARGS(RTOUCH_LUA), ARGS("2"), ARGS(k1), ARGS(k2), ARG(mem, ml), ARGS(a1),
            ARGS(a2), ARGS(af);
        break;
    case (int)ZA__STORE_REMIND_DEL:
        ARGS("EVAL"), ARGS(RDEL_LUA), ARGS("2"), ARGS(k1), ARGS(k2), ARG(mem, ml), ARGS(af);
        break;
    case (int)ZA__STORE_REMIND_LIST:
        snprintf(a1, sizeof a1, "%u", q->max ? q->max : ZA__REMIND_PAGE);
        ARGS("EVAL"), ARGS(RLIST_LUA), ARGS("2"), ARGS(k1), ARGS(k2);
        if (ml)
            ARG(mem, ml);
        else
            ARGS("-");
        ARGS(a1);
        break;
    }
#undef ARG
#undef ARGS
    redisAppendCommandArgv(c->c, n, argv, lens);
}

static uint64_t num(const redisReply *r) {
    if (!r) return 0;
    if (r->type == REDIS_REPLY_INTEGER) return (uint64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoull(r->str, NULL, 10);
    return 0;
}

static void take_reply(za__sop *op, redisReply *rep) {
    za_store_result *r = &op->res;
    const za_store_req *q = &op->req;
    r->status = ZA_OK;
    if (rep->type == REDIS_REPLY_ERROR) {
        za__sres_fail(r, ZA_ESTORE, "redis: %s", rep->str);
        return;
    }
    switch ((int)q->op) {
    case ZA_STORE_READ:
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) break;
        if (rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_STRING) {
            za__sres_fail(r, ZA_ENOTFOUND, "no state for this key");
            return;
        }
        r->version = num(rep->element[0]);
        if (za__sres_set_data(r, rep->element[1]->str, rep->element[1]->len) != ZA_OK)
            za__sres_fail(r, ZA_ENOMEM, "out of memory");
        return;
    case ZA_STORE_WRITE:
    case ZA_STORE_CLEAR:
    case ZA_STORE_APPEND:
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) break;
        if (rep->element[0]->integer == -2) {
            za__sres_fail(r, ZA_EFENCED, ZA__FENCED_FMT, (unsigned long long)q->fence,
                          (unsigned long long)num(rep->element[1]));
            return;
        }
        if (rep->element[0]->integer != 0) {
            if (q->op == ZA_STORE_APPEND)
                za__sres_fail(r, ZA_ECONFLICT, "sequence conflict: append %llu, highest is %llu",
                              (unsigned long long)q->version,
                              (unsigned long long)num(rep->element[1]));
            else
                za__sres_fail(r, ZA_ECONFLICT, "version conflict: expected %llu, stored %llu",
                              (unsigned long long)q->version,
                              (unsigned long long)num(rep->element[1]));
            return;
        }
        r->version = num(rep->element[1]);
        return;
    case ZA_STORE_REPLAY: {
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
            rep->element[2]->type != REDIS_REPLY_ARRAY)
            break;
        r->version = num(rep->element[0]);
        uint64_t seq = num(rep->element[1]);
        const redisReply *items = rep->element[2];
        for (size_t i = 0; i < items->elements; i++) {
            if (za__sres_add_event(r, seq + i, items->element[i]->str, items->element[i]->len) !=
                ZA_OK) {
                za__sres_fail(r, ZA_ENOMEM, "out of memory");
                return;
            }
        }
        return;
    }
    case ZA_STORE_HIGHEST:
        r->version = num(rep);
        return;
    case ZA_STORE_DELETE_TO:
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) break;
        if (rep->element[0]->integer == -2) {
            za__sres_fail(r, ZA_EFENCED, ZA__FENCED_FMT, (unsigned long long)q->fence,
                          (unsigned long long)num(rep->element[1]));
            return;
        }
        r->version = num(rep->element[1]);
        return;
    case (int)ZA__STORE_REMIND_PUT:
    case (int)ZA__STORE_REMIND_TOUCH:
    case (int)ZA__STORE_REMIND_DEL:
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) break;
        if (rep->element[0]->integer == -2)
            za__sres_fail(r, ZA_EFENCED, ZA__FENCED_FMT, (unsigned long long)q->fence,
                          (unsigned long long)num(rep->element[1]));
        else if (rep->element[0]->integer == -1)
            za__sres_fail(r, ZA_ENOTFOUND, "no such reminder");
        return;
    case (int)ZA__STORE_REMIND_LIST: {
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_ARRAY ||
            rep->element[1]->type != REDIS_REPLY_ARRAY ||
            rep->element[0]->elements != rep->element[1]->elements)
            break;
        for (size_t i = 0; i < rep->element[0]->elements; i++) {
            const redisReply *m = rep->element[0]->element[i], *v = rep->element[1]->element[i];
            if (m->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue; /* removed between the two reads of the script: cannot happen */
            const char *t = m->str, *end = m->str + m->len;
            const char *k = memchr(t, 0, m->len);
            const char *nm = k ? memchr(k + 1, 0, (size_t)(end - k - 1)) : NULL;
            unsigned long long p, nd, lf, f;
            unsigned cu;
            if (!nm || sscanf(v->str, "%llu %llu %llu %u %llu", &p, &nd, &lf, &cu, &f) != 5) {
                za__sres_fail(r, ZA_ESTORE, "redis: malformed reminder row");
                return;
            }
            char name[300];
            size_t nl = (size_t)(end - nm - 1);
            if (nl >= sizeof name) nl = sizeof name - 1;
            memcpy(name, nm + 1, nl);
            name[nl] = 0;
            za__remind row = {.type = t,
                              .key = k + 1,
                              .name = name,
                              .period_ms = p,
                              .next_due = nd,
                              .last_fired = lf,
                              .catch_up = cu,
                              .fence = f};
            char buf[2048];
            size_t n = za__remind_pack(&row, buf, sizeof buf);
            if (n > sizeof buf || za__sres_add_event(r, 0, buf, n) != ZA_OK) {
                za__sres_fail(r, ZA_ENOMEM, "out of memory");
                return;
            }
        }
        return;
    }
    }
    za__sres_fail(r, ZA_ESTORE, "redis: unexpected reply type %d", rep->type);
}

static void rd_exec(void *conn, za__sop **ops, size_t n) {
    rd_conn *c = conn;
    if (!c->c || c->c->err) {
        if (reconnect(c) != ZA_OK) {
            for (size_t i = 0; i < n; i++)
                za__sres_fail(&ops[i]->res, ZA_ECONNECT, "%s", za_last_error());
            if (c->c) {
                redisFree(c->c);
                c->c = NULL;
            }
            return;
        }
    }
    for (size_t i = 0; i < n; i++) append_cmd(c, ops[i]);
    for (size_t i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(c->c, &rep) != REDIS_OK || !rep) {
            /* the connection broke: what was sent may or may not have run */
            for (size_t j = i; j < n; j++)
                za__sres_fail(&ops[j]->res, ZA_ECONNECT,
                              "redis %s:%d: connection lost: %s (the outcome is unknown)",
                              c->sh->host, c->sh->port, c->c->errstr);
            redisFree(c->c);
            c->c = NULL;
            return;
        }
        take_reply(ops[i], rep);
        freeReplyObject(rep);
    }
}

const za__store_provider za__store_redis = {
    .scheme = "redis",
    .default_threads = 2,
    .open = rd_open,
    .connect = rd_connect,
    .exec = rd_exec,
    .disconnect = rd_disconnect,
    .close = rd_close,
};
