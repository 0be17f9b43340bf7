/*
 * Grain leases in Redis: one key per grain,
 *
 *   za:<cluster>:lease:<type>\0<key>   string  "<node>|<epoch>|<token>"
 *   za:<cluster>:lease_token           int     the last token handed out
 *
 * taken by a Lua script that succeeds when the lease is free, held by this
 * incarnation, or held by an incarnation the membership table no longer
 * lists as alive (dead, left, or its id now belongs to a newer epoch); the
 * script reads the table in the same atomic step, so a lease is never
 * granted while its holder is still a member. Each grant takes a new token
 * from one cluster-wide counter: tokens only grow, so the token of the
 * latest grant of a grain is the largest any activation of it ever had, and
 * storage providers refuse writes that carry a smaller one (ZA_EFENCED).
 * A lease has no time limit: it lives as long as its holder is a member,
 * and the membership protocol (votes, verdict) is what frees it.
 *
 * Redis is never called from a worker: takes and drops go to the lease
 * thread (started on first use, with its own connection), which sends
 * everything queued as one pipeline and completes each take through its
 * callback.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"
#include "gplace.h"

/* KEYS: lease status nodes token; ARGV: my id, my epoch
 * -> {1, token} granted, {0, holder id} held by a live member,
 *    {-1, 0} this incarnation is not a live member (expelled or left) */
static const char TAKE_LUA[] =
    "if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'alive' then return {-1, 0} end\n"
    "local mine = redis.call('HGET', KEYS[3], ARGV[1])\n"
    "if not mine or string.match(mine, '^(%d+)|') ~= ARGV[2] then return {-1, 0} end\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local n, e = string.match(cur, '^(%d+)|(%d+)|')\n"
    "  if n and not (n == ARGV[1] and e == ARGV[2]) and\n"
    "     redis.call('HGET', KEYS[2], n) == 'alive' then\n"
    "    local info = redis.call('HGET', KEYS[3], n)\n"
    "    if info and string.match(info, '^(%d+)|') == e then return {0, tonumber(n)} end\n"
    "  end\n"
    "end\n"
    "local tok = redis.call('INCR', KEYS[4])\n"
    "redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. tok)\n"
    "return {1, tok}\n";

/* KEYS: lease; ARGV: "<node>|<epoch>|<token>" -> drop only if still ours */
static const char DROP_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                               "  return redis.call('DEL', KEYS[1])\n"
                               "end\n"
                               "return 0\n";

typedef struct lreq {
    struct lreq *next;
    bool take;
    uint64_t token; /* drop */
    za__lease_cb cb;
    void *ud;
    size_t klen;
    char key[]; /* the Redis key, binary (type NUL key) */
} lreq;

typedef struct za_lease {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, joined;
    lreq *head, **tail; /* FIFO: a drop and a later take of one grain keep their order */
    redisContext *rc;   /* the lease thread's */
} za_lease;

static void run_batch(za_cluster *c, za_lease *l, lreq *batch) {
    char ks[200], kn[200], kt[200], me[16], ep[32];
    snprintf(ks, sizeof ks, "%sstatus", c->prefix);
    snprintf(kn, sizeof kn, "%snodes", c->prefix);
    snprintf(kt, sizeof kt, "%slease_token", c->prefix);
    snprintf(me, sizeof me, "%u", c->self.id);
    snprintf(ep, sizeof ep, "%llu", (unsigned long long)c->self.epoch);
    if (!l->rc) l->rc = za__redis_connect(c);
    size_t sent = 0;
    for (lreq *q = batch; q && l->rc; q = q->next, sent++) {
        int rc;
        if (q->take) {
            rc = redisAppendCommand(l->rc, "EVAL %s 4 %b %s %s %s %s %s", TAKE_LUA, q->key, q->klen,
                                    ks, kn, kt, me, ep);
        } else {
            char val[80];
            snprintf(val, sizeof val, "%s|%s|%llu", me, ep, (unsigned long long)q->token);
            rc = redisAppendCommand(l->rc, "EVAL %s 1 %b %s", DROP_LUA, q->key, q->klen, val);
        }
        if (rc != REDIS_OK) break;
    }
    size_t i = 0;
    for (lreq *q = batch, *next; q; q = next, i++) {
        next = q->next;
        redisReply *r = NULL;
        if (i < sent && l->rc && redisGetReply(l->rc, (void **)&r) != REDIS_OK) r = NULL;
        if (!r && l->rc) {
            atomic_fetch_add_explicit(&c->st.redis_errors, 1, memory_order_relaxed);
            redisFree(l->rc); /* what is left of the pipeline is lost: fail it */
            l->rc = NULL;
        }
        if (q->take) {
            int st = ZA_ECONNECT;
            uint64_t tok = 0;
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                r->element[0]->type == REDIS_REPLY_INTEGER &&
                r->element[1]->type == REDIS_REPLY_INTEGER) {
                long long k = r->element[0]->integer;
                st = k == 1 ? ZA_OK : k == 0 ? ZA_EEXIST : ZA_ENODEDOWN;
                /* granted: the token; held: the holder's node id (placement.h) */
                tok = (uint64_t)r->element[1]->integer;
            }
            q->cb(st, tok, q->ud);
        }
        if (r) freeReplyObject(r);
        free(q);
    }
}

static void *lease_main(void *arg) {
    za_cluster *c = arg;
    za_lease *l = atomic_load_explicit(&c->lease, memory_order_acquire);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->stop) pthread_cond_wait(&l->cv, &l->mu);
        lreq *batch = l->head;
        l->head = NULL;
        l->tail = &l->head;
        bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (batch) run_batch(c, l, batch); /* at stop too: drops are flushed */
        pthread_mutex_lock(&l->mu);
        if (stop && !l->head) break;
    }
    pthread_mutex_unlock(&l->mu);
    if (l->rc) redisFree(l->rc);
    l->rc = NULL;
    return NULL;
}

/* The lease thread, started on first use; NULL when the cluster is leaving. */
static za_lease *lease_get(za_cluster *c) {
    /* acquire: pairs with the release store below (the thread and its
     * mutex are ready when the pointer is seen) */
    za_lease *l = atomic_load_explicit(&c->lease, memory_order_acquire);
    if (l) return l;
    pthread_mutex_lock(&c->lease_mu);
    l = atomic_load_explicit(&c->lease, memory_order_relaxed);
    if (!l && !c->lease_closed && (l = calloc(1, sizeof *l)) != NULL) {
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        l->tail = &l->head;
        atomic_store_explicit(&c->lease, l, memory_order_release);
        if (pthread_create(&l->thread, NULL, lease_main, c) != 0) {
            atomic_store_explicit(&c->lease, NULL, memory_order_relaxed);
            pthread_mutex_destroy(&l->mu);
            pthread_cond_destroy(&l->cv);
            free(l);
            l = NULL;
        }
    }
    pthread_mutex_unlock(&c->lease_mu);
    return l;
}

static lreq *make_req(za_cluster *c, const char *type, const char *key) {
    size_t tl = strlen(type), kl = strlen(key), pl = strlen(c->prefix) + 6; /* "lease:" */
    lreq *q = calloc(1, sizeof *q + pl + tl + 1 + kl);
    if (!q) return NULL;
    memcpy(q->key, c->prefix, pl - 6);
    memcpy(q->key + pl - 6, "lease:", 6);
    memcpy(q->key + pl, type, tl);
    q->key[pl + tl] = 0;
    memcpy(q->key + pl + tl + 1, key, kl);
    q->klen = pl + tl + 1 + kl;
    return q;
}

static bool submit(za_cluster *c, lreq *q) {
    za_lease *l = lease_get(c);
    if (!l) return false;
    pthread_mutex_lock(&l->mu);
    bool ok = !l->stop;
    if (ok) {
        *l->tail = q;
        l->tail = &q->next;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

int za__lease_take(za_cluster *c, const char *type, const char *key, za__lease_cb cb, void *ud) {
    if (atomic_load_explicit(&c->expelled, memory_order_acquire))
        return za__fail(ZA_ENODEDOWN,
                        "grain %s/%s: this node was expelled from the cluster (or left it)", type,
                        key);
    lreq *q = make_req(c, type, key);
    if (!q) return za__fail(ZA_ENOMEM, "out of memory");
    q->take = true;
    q->cb = cb;
    q->ud = ud;
    if (!submit(c, q)) {
        free(q);
        return za__fail(ZA_ESHUTDOWN, "grain %s/%s: the cluster is shutting down", type, key);
    }
    return ZA_OK;
}

void za__lease_drop(za_cluster *c, const char *type, const char *key, uint64_t token) {
    if (!token) return; /* never granted */
    lreq *q = make_req(c, type, key);
    if (!q) return; /* the lease stays until this node leaves: only delays a move */
    q->token = token;
    if (!submit(c, q)) free(q);
}

void za__lease_stop(za_cluster *c) {
    pthread_mutex_lock(&c->lease_mu);
    c->lease_closed = true;
    za_lease *l = atomic_load_explicit(&c->lease, memory_order_relaxed);
    pthread_mutex_unlock(&c->lease_mu);
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    bool joined = l->joined;
    l->stop = true; /* submit refuses from now on; the queue is flushed */
    l->joined = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (!joined) pthread_join(l->thread, NULL);
}

/* At cluster free: a submitter may still hold the pointer until then, so
 * the record lives as long as the cluster. */
void za__lease_free(za_cluster *c) {
    za__lease_stop(c);
    za_lease *l = atomic_load_explicit(&c->lease, memory_order_relaxed);
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
    atomic_store_explicit(&c->lease, NULL, memory_order_relaxed);
}
