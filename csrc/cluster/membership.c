/*
 * Membership in Redis, Orleans' protocol: one versioned table, every change
 * made by a Lua script that runs atomically in Redis and bumps the version.
 *
 *   za:<cluster>:status      hash  id -> "alive" | "dead" | "left"
 *   za:<cluster>:nodes       hash  id -> "<epoch>|<endpoint>|<name>"
 *   za:<cluster>:version     int   bumped by every change
 *   za:<cluster>:seq         int   node ids are handed out round-robin
 *   za:<cluster>:votes:<id>  hash  voter id -> time of its suspicion (ms)
 *   za:<cluster>:names       hash  name -> "<node>|<ref>" (names.c)
 *   za:<cluster>:alive       hash  id -> last I-am-alive (ms, Redis' clock), every poll_ms
 *
 * The membership thread reads the version every poll_ms and the whole
 * table when it moved; it casts the votes the network thread asks for.
 * When Redis cannot be reached nothing is decided: no join, no verdict;
 * the links keep working on the last view.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "cluster.h"
#include "gplace.h"
#include "hook.h"

/* KEYS: status nodes version seq votes-prefix alive; ARGV: epoch endpoint name max */
static const char JOIN_LUA[] =
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  if all[i+1] == 'alive' then\n"
    "    local info = redis.call('HGET', KEYS[2], all[i])\n"
    "    if info and string.match(info, '^[^|]*|[^|]*|(.*)$') == ARGV[3] then return {-1, 0} end\n"
    "  end\n"
    "end\n"
    "local maxn = tonumber(ARGV[4])\n"
    "for t = 1, maxn do\n"
    "  local id = (redis.call('INCR', KEYS[4]) - 1) % maxn + 1\n"
    "  if redis.call('HGET', KEYS[1], id) ~= 'alive' then\n"
    "    redis.call('HSET', KEYS[1], id, 'alive')\n"
    "    redis.call('HSET', KEYS[2], id, ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3])\n"
    "    redis.call('DEL', KEYS[5] .. id)\n"
    "    local t = redis.call('TIME')\n"
    "    redis.call('HSET', KEYS[6], id, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / "
    "1000))\n"
    "    return {id, redis.call('INCR', KEYS[3])}\n"
    "  end\n"
    "end\n"
    "return {0, 0}\n";

/* KEYS: status version votes:<target> names alive; ARGV: target voter needed
 * window_ms stale_ms -> 0 target not alive, -1 voter not alive, 1 vote
 * recorded, 2 declared dead. The votes needed are min(needed, the other
 * members that wrote I-am-alive within stale_ms): members that died together
 * do not keep each other alive by counting as voters that never vote. */
static const char VOTE_LUA[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'alive' then return 0 end\n"
    "if redis.call('HGET', KEYS[1], ARGV[2]) ~= 'alive' then return -1 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[3], ARGV[2], now)\n"
    "local others = 0\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  if all[i+1] == 'alive' and all[i] ~= ARGV[1] then\n"
    "    local ts = tonumber(redis.call('HGET', KEYS[5], all[i]) or '0')\n"
    "    if now - ts <= tonumber(ARGV[5]) then others = others + 1 end\n"
    "  end\n"
    "end\n"
    "local need = math.min(tonumber(ARGV[3]), others)\n"
    "if need < 1 then need = 1 end\n"
    "local votes = redis.call('HGETALL', KEYS[3])\n"
    "local n = 0\n"
    "for i = 1, #votes, 2 do\n"
    "  if now - tonumber(votes[i+1]) <= tonumber(ARGV[4]) and\n"
    "     redis.call('HGET', KEYS[1], votes[i]) == 'alive' then n = n + 1 end\n"
    "end\n"
    "if n < need then return 1 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], 'dead')\n"
    "redis.call('DEL', KEYS[3])\n"
    "local names = redis.call('HGETALL', KEYS[4])\n"
    "for i = 1, #names, 2 do\n"
    "  if string.match(names[i+1], '^(%d+)|') == ARGV[1] then redis.call('HDEL', KEYS[4], "
    "names[i]) end\n"
    "end\n"
    "redis.call('INCR', KEYS[2])\n"
    "return 2\n";

/* KEYS: status version names; ARGV: id -> leave the table, drop its names */
static const char LEAVE_LUA[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'alive' then return 0 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], 'left')\n"
    "local names = redis.call('HGETALL', KEYS[3])\n"
    "for i = 1, #names, 2 do\n"
    "  if string.match(names[i+1], '^(%d+)|') == ARGV[1] then redis.call('HDEL', KEYS[3], "
    "names[i]) end\n"
    "end\n"
    "redis.call('INCR', KEYS[2])\n"
    "return 1\n";

/* KEYS: version status nodes -> {version, status..., nodes...} in one step */
static const char READ_LUA[] =
    "return {redis.call('GET', KEYS[1]) or '0', redis.call('HGETALL', KEYS[2]),\n"
    "        redis.call('HGETALL', KEYS[3])}\n";

/* KEYS: alive; ARGV: id -> I-am-alive, on Redis' clock (the vote script compares) */
static const char ALIVE_LUA[] = "local t = redis.call('TIME')\n"
                                "return redis.call('HSET', KEYS[1], ARGV[1], tonumber(t[1]) * 1000 "
                                "+ math.floor(tonumber(t[2]) / 1000))\n";

static void key(za_cluster *c, char *out, size_t cap, const char *what) {
    snprintf(out, cap, "%s%s", c->prefix, what);
}

int za__mem_join(za_cluster *c) {
    char ks[200], kn[200], kv[200], kq[200], kvp[200], ka[200], ep[32], mx[16];
    key(c, ka, sizeof ka, "alive");
    key(c, ks, sizeof ks, "status");
    key(c, kn, sizeof kn, "nodes");
    key(c, kv, sizeof kv, "version");
    key(c, kq, sizeof kq, "seq");
    key(c, kvp, sizeof kvp, "votes:");
    snprintf(ep, sizeof ep, "%llu", (unsigned long long)c->self.epoch);
    snprintf(mx, sizeof mx, "%u", ZA_NODE_MAX);
    const char *name = c->node_name ? c->node_name : "";
    redisReply *r = redisCommand(c->sredis, "EVAL %s 6 %s %s %s %s %s %s %s %s %s %s", JOIN_LUA, ks,
                                 kn, kv, kq, kvp, ka, ep, c->self.endpoint, name, mx);
    if (!za__redis_ok(c, c->sredis, r))
        return za__fail(ZA_ECONNECT, "joining the cluster: Redis did not answer");
    int rc = ZA_OK;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        rc = za__fail(ZA_ECONNECT, "joining the cluster: unexpected reply from Redis%s%s",
                      r->type == REDIS_REPLY_ERROR ? ": " : "",
                      r->type == REDIS_REPLY_ERROR ? r->str : "");
    } else if (r->element[0]->integer == -1) {
        rc = za__fail(ZA_EEXIST, "node name '%s' is taken by a live member of cluster '%s'", name,
                      c->name);
    } else if (r->element[0]->integer <= 0) {
        rc = za__fail(ZA_ECONNECT, "cluster '%s' is full (%u live nodes)", c->name, ZA_NODE_MAX);
    } else {
        c->self.id = (uint32_t)r->element[0]->integer;
        if (!c->node_name) snprintf(c->self.name, sizeof c->self.name, "node-%u", c->self.id);
        pthread_mutex_lock(&c->view_mu);
        za_node_rec *me = za__node_rec_make(c, c->self.id);
        if (me) {
            me->info = c->self;
            me->confirmed = true;
            atomic_store_explicit(&me->state, NODE_ALIVE, memory_order_release);
        }
        pthread_mutex_unlock(&c->view_mu);
        if (!me) rc = za__fail(ZA_ENOMEM, "out of memory");
    }
    freeReplyObject(r);
    return rc;
}

/* Parse "<epoch>|<endpoint>|<name>". */
static bool parse_info(const char *s, size_t len, uint32_t id, za_node_info *out) {
    memset(out, 0, sizeof *out);
    out->id = id;
    const char *end = s + len;
    const char *b1 = memchr(s, '|', len);
    if (!b1) return false;
    const char *b2 = memchr(b1 + 1, '|', (size_t)(end - b1 - 1));
    if (!b2) return false;
    out->epoch = strtoull(s, NULL, 10);
    size_t el = (size_t)(b2 - b1 - 1), nl = (size_t)(end - b2 - 1);
    if (el == 0 || el >= sizeof out->endpoint) return false;
    memcpy(out->endpoint, b1 + 1, el);
    if (nl >= sizeof out->name) nl = sizeof out->name - 1;
    memcpy(out->name, b2 + 1, nl);
    return true;
}

typedef struct change {
    int kind; /* ZA_NODE_* */
    za_node_info info;
} change;

/* Apply a table read: records, then events and the consequences of deaths
 * outside the view lock. */
static void apply_table(za_cluster *c, redisReply *st, redisReply *nodes) {
    change *ch = calloc(st->elements / 2 + 1, sizeof *ch);
    if (!ch) return;
    size_t nch = 0;
    bool expel = false, joined = false;
    pthread_mutex_lock(&c->view_mu);
    for (size_t i = 0; i + 1 < st->elements; i += 2) {
        redisReply *kid = st->element[i], *kst = st->element[i + 1];
        if (kid->type != REDIS_REPLY_STRING || kst->type != REDIS_REPLY_STRING) continue;
        unsigned long id = strtoul(kid->str, NULL, 10);
        if (id == 0 || id > ZA_NODE_MAX) continue;
        za_node_info info;
        bool have = false;
        for (size_t j = 0; j + 1 < nodes->elements; j += 2)
            if (nodes->element[j]->type == REDIS_REPLY_STRING &&
                strcmp(nodes->element[j]->str, kid->str) == 0 &&
                nodes->element[j + 1]->type == REDIS_REPLY_STRING) {
                have = parse_info(nodes->element[j + 1]->str, nodes->element[j + 1]->len,
                                  (uint32_t)id, &info);
                break;
            }
        if (!have) continue;
        bool alive = strcmp(kst->str, "alive") == 0;
        za_node_rec *r = za__node_rec(c, (uint32_t)id);
        if (id == c->self.id) {
            if (!alive && info.epoch == c->self.epoch) expel = true;
            continue;
        }
        int cur = r ? atomic_load_explicit(&r->state, memory_order_relaxed) : NODE_NONE;
        if (alive) {
            if (r && cur == NODE_ALIVE && r->confirmed && r->info.epoch == info.epoch) continue;
            if (r && r->info.epoch > info.epoch) continue; /* the table lags a newer incarnation */
            r = za__node_rec_make(c, (uint32_t)id);
            if (!r) continue;
            r->info = info;
            r->confirmed = true;
            atomic_store_explicit(&r->state, NODE_ALIVE, memory_order_release);
            atomic_fetch_add_explicit(&c->view_gen, 1, memory_order_release);
            ch[nch++] = (change){ZA_NODE_UP, info};
        } else if (r && cur == NODE_ALIVE && r->info.epoch <= info.epoch) {
            atomic_store_explicit(&r->state, NODE_DEAD, memory_order_release);
            atomic_fetch_add_explicit(&c->view_gen, 1, memory_order_release);
            ch[nch++] = (change){ZA_NODE_DOWN, r->info};
        }
    }
    pthread_mutex_unlock(&c->view_mu);
    for (size_t i = 0; i < nch; i++) {
        if (ch[i].kind == ZA_NODE_DOWN) {
            atomic_fetch_add_explicit(&c->st.nodes_down, 1, memory_order_relaxed);
            char why[100];
            snprintf(why, sizeof why, "node-down: node %u (%s) was declared dead", ch[i].info.id,
                     ch[i].info.name);
            za__remote_node_down(c, ch[i].info.id, ZA_ENODEDOWN, why);
        }
        if (ch[i].kind == ZA_NODE_UP) joined = true;
        za__node_event(c, ch[i].kind, &ch[i].info);
    }
    bool changed = nch > 0;
    free(ch);
    if (expel && !atomic_exchange(&c->expelled, true)) {
        /* fenced: this identity is dead everywhere; stay out */
        atomic_fetch_add_explicit(&c->view_gen, 1, memory_order_release);
        za__remote_node_down(c, 0, ZA_ENODEDOWN,
                             "node-down: this node was declared dead by the cluster");
        za__node_event(c, ZA_NODE_EXPELLED, &c->self);
        za__cluster_grains_view_changed(c, false, true); /* every activation goes */
    } else if (changed) {
        za__cluster_grains_view_changed(c, joined, false); /* homes moved */
    }
}

static void drop_conn(za_cluster *c) {
    if (c->mredis) redisFree(c->mredis);
    c->mredis = NULL;
}

static bool read_table(za_cluster *c, bool force) {
    char kv[200], ks[200], kn[200];
    key(c, kv, sizeof kv, "version");
    key(c, ks, sizeof ks, "status");
    key(c, kn, sizeof kn, "nodes");
    if (!force) {
        redisReply *v = redisCommand(c->mredis, "GET %s", kv);
        if (!za__redis_ok(c, c->mredis, v)) return false;
        uint64_t ver = v->type == REDIS_REPLY_STRING ? strtoull(v->str, NULL, 10) : 0;
        freeReplyObject(v);
        if (ver == c->table_version) return true;
    }
    redisReply *r = redisCommand(c->mredis, "EVAL %s 3 %s %s %s", READ_LUA, kv, ks, kn);
    if (!za__redis_ok(c, c->mredis, r)) return false;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_ARRAY &&
        r->element[2]->type == REDIS_REPLY_ARRAY) {
        c->table_version = strtoull(r->element[0]->str, NULL, 10);
        atomic_store_explicit(&c->st.table_version, c->table_version, memory_order_relaxed);
        apply_table(c, r->element[1], r->element[2]);
    }
    freeReplyObject(r);
    return true;
}

/* I-am-alive older than this: the member does not count among the voters
 * (a pause shorter than suspect_ms must not make it stale) */
static uint32_t alive_stale_ms(za_cluster *c) {
    return c->cfg.suspect_ms + 2 * c->cfg.poll_ms;
}

/* -> true when the vote declared the node dead (read the table now) */
static bool vote(za_cluster *c, uint32_t target) {
    char ks[200], kv[200], kvt[220], kn[200], ka[200], a1[16], a2[16], a3[16], a4[16], a5[16];
    key(c, ka, sizeof ka, "alive");
    key(c, ks, sizeof ks, "status");
    key(c, kv, sizeof kv, "version");
    key(c, kn, sizeof kn, "names");
    snprintf(kvt, sizeof kvt, "%svotes:%u", c->prefix, target);
    snprintf(a1, sizeof a1, "%u", target);
    snprintf(a2, sizeof a2, "%u", c->self.id);
    snprintf(a3, sizeof a3, "%u", c->cfg.votes);
    snprintf(a4, sizeof a4, "%u", c->cfg.vote_window_ms);
    snprintf(a5, sizeof a5, "%u", alive_stale_ms(c));
    redisReply *r = redisCommand(c->mredis, "EVAL %s 5 %s %s %s %s %s %s %s %s %s %s", VOTE_LUA, ks,
                                 kv, kvt, kn, ka, a1, a2, a3, a4, a5);
    if (!za__redis_ok(c, c->mredis, r)) return false;
    bool dead = r->type == REDIS_REPLY_INTEGER && r->integer == 2;
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 1)
        atomic_fetch_add_explicit(&c->st.votes, 1, memory_order_relaxed);
    freeReplyObject(r);
    return dead;
}

/* names.c */
void za__names_drop_now(za_cluster *c, redisContext *rc, const char *name, za_ref ref);

static void *mem_main(void *arg) {
    za_cluster *c = arg;
    uint64_t poll_ns = (uint64_t)c->cfg.poll_ms * 1000000ull, next_alive = 0;
    bool force = true;
    pthread_mutex_lock(&c->mem_mu);
    while (!c->mem_stop) {
        za_mreq *rq = c->mreqs;
        c->mreqs = NULL;
        pthread_mutex_unlock(&c->mem_mu);
        if (!c->mredis) c->mredis = za__redis_connect(c);
        bool ok = c->mredis != NULL;
        while (rq) {
            za_mreq *next = rq->next;
            if (ok && rq->kind == MREQ_SUSPECT) force |= vote(c, rq->node);
            if (ok && rq->kind == MREQ_NAME_DROP)
                za__names_drop_now(c, c->mredis, rq->name, rq->ref);
            if (rq->kind == MREQ_REFRESH) force = true;
            ok = c->mredis && !c->mredis->err;
            free(rq);
            rq = next;
        }
        if (ok && !atomic_load(&c->expelled)) {
            uint64_t now = za__now_ns();
            if (now >= next_alive) { /* I-am-alive: the vote script counts fresh members */
                char ka[200], id[16];
                key(c, ka, sizeof ka, "alive");
                snprintf(id, sizeof id, "%u", c->self.id);
                redisReply *r = redisCommand(c->mredis, "EVAL %s 1 %s %s", ALIVE_LUA, ka, id);
                if (za__redis_ok(c, c->mredis, r)) freeReplyObject(r);
                next_alive = now + poll_ns;
            }
            if (c->mredis && read_table(c, force)) force = false;
        }
        if (c->mredis && c->mredis->err) drop_conn(c);
        pthread_mutex_lock(&c->mem_mu);
        if (c->mem_stop || c->mreqs) continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + poll_ns;
        ts.tv_sec = (time_t)(t / 1000000000ull);
        ts.tv_nsec = (long)(t % 1000000000ull);
        pthread_cond_timedwait(&c->mem_cv, &c->mem_mu, &ts);
    }
    pthread_mutex_unlock(&c->mem_mu);
    return NULL;
}

int za__mem_start(za_cluster *c) {
    if (pthread_create(&c->mem_thread, NULL, mem_main, c) != 0)
        return za__fail(ZA_ENOMEM, "cannot start the membership thread");
    c->mem_started = true;
    return ZA_OK;
}

void za__mem_stop(za_cluster *c) {
    if (c->mem_started) {
        pthread_mutex_lock(&c->mem_mu);
        c->mem_stop = true;
        pthread_cond_signal(&c->mem_cv);
        pthread_mutex_unlock(&c->mem_mu);
        pthread_join(c->mem_thread, NULL);
        c->mem_started = false;
    }
    drop_conn(c);
    for (za_mreq *rq = c->mreqs, *n; rq; rq = n) {
        n = rq->next;
        free(rq);
    }
    c->mreqs = NULL;
    /* leave: the others see it at their next read, no need to wait for votes */
    if (c->self.id && !atomic_load(&c->expelled)) {
        pthread_mutex_lock(&c->sync_mu);
        if (!c->sredis) c->sredis = za__redis_connect(c);
        if (c->sredis) {
            char ks[200], kv[200], kn[200], a1[16];
            key(c, ks, sizeof ks, "status");
            key(c, kv, sizeof kv, "version");
            key(c, kn, sizeof kn, "names");
            snprintf(a1, sizeof a1, "%u", c->self.id);
            redisReply *r =
                redisCommand(c->sredis, "EVAL %s 3 %s %s %s %s", LEAVE_LUA, ks, kv, kn, a1);
            if (za__redis_ok(c, c->sredis, r)) freeReplyObject(r);
        }
        pthread_mutex_unlock(&c->sync_mu);
    }
}
