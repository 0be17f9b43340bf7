/*
 * The cluster-wide name registry: za:<cluster>:names, name -> "<node>|<ref>".
 * A name is unique among live members: registering takes it atomically (a
 * Lua script) unless a live node holds it. It goes away with its actor
 * (asynchronously, via the membership thread), with its node (the verdict
 * and leave scripts drop the node's names), and a lookup that finds a name
 * of a dead node treats it as absent. The local registry stays the fast
 * path: lookups of local names never reach Redis.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"
#include "hook.h"
#include "system.h"

/* KEYS: names status; ARGV: name value mynode
 * -> 1 taken by us, 0 held by a live node (another one, or us) */
static const char PUT_LUA[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if cur and cur ~= ARGV[2] then\n"
    "  local n = string.match(cur, '^(%d+)|')\n"
    "  if n ~= ARGV[3] and redis.call('HGET', KEYS[2], n) == 'alive' then return 0 end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "return 1\n";

/* KEYS: names; ARGV: name value -> delete only if it still names that ref */
static const char DROP_LUA[] = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then\n"
                               "  return redis.call('HDEL', KEYS[1], ARGV[1])\n"
                               "end\n"
                               "return 0\n";

static void value_of(za_ref ref, char *buf, size_t cap) {
    snprintf(buf, cap, "%u|%llu", za_ref_node(ref), (unsigned long long)ref);
}

/* Run one command on the shared synchronous connection (reconnecting). */
static redisReply *sync_cmd(za_cluster *c, const char *fmt, ...) {
    va_list ap;
    if (!c->sredis) c->sredis = za__redis_connect(c);
    if (!c->sredis) return NULL;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c->sredis, fmt, ap);
    va_end(ap);
    if (!za__redis_ok(c, c->sredis, r)) {
        redisFree(c->sredis);
        c->sredis = NULL;
        return NULL;
    }
    return r;
}

int za__cluster_name_put(za_system *s, const char *name, za_ref ref) {
    za_cluster *c = s->cluster;
    char kn[200], ks[200], val[48], me[16];
    snprintf(kn, sizeof kn, "%snames", c->prefix);
    snprintf(ks, sizeof ks, "%sstatus", c->prefix);
    value_of(ref, val, sizeof val);
    snprintf(me, sizeof me, "%u", c->self.id);
    pthread_mutex_lock(&c->sync_mu);
    redisReply *r = sync_cmd(c, "EVAL %s 2 %s %s %s %s %s", PUT_LUA, kn, ks, name, val, me);
    pthread_mutex_unlock(&c->sync_mu);
    if (!r)
        return za__fail(ZA_ECONNECT, "cannot register '%s' cluster-wide: Redis is unreachable",
                        name);
    int rc = r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? ZA_OK
             : r->type == REDIS_REPLY_INTEGER
                 ? za__fail(ZA_EEXIST, "name '%s' is already registered in the cluster", name)
                 : za__fail(ZA_ECONNECT, "registering '%s': unexpected reply from Redis", name);
    freeReplyObject(r);
    return rc;
}

void za__names_drop_now(za_cluster *c, redisContext *rc, const char *name, za_ref ref) {
    char kn[200], val[48];
    snprintf(kn, sizeof kn, "%snames", c->prefix);
    value_of(ref, val, sizeof val);
    redisReply *r = redisCommand(rc, "EVAL %s 1 %s %s %s", DROP_LUA, kn, name, val);
    if (za__redis_ok(c, rc, r)) freeReplyObject(r);
}

void za__cluster_name_drop(za_system *s, const char *name, za_ref ref) {
    za_cluster *c = s->cluster;
    size_t n = strlen(name);
    za_mreq *rq = calloc(1, sizeof *rq + n + 1);
    if (!rq) return;
    rq->kind = MREQ_NAME_DROP;
    rq->ref = ref;
    memcpy(rq->name, name, n + 1);
    za__mreq_push(c, rq);
}

int za__cluster_name_get(za_system *s, const char *name, za_ref *out) {
    za_cluster *c = s->cluster;
    char kn[200];
    snprintf(kn, sizeof kn, "%snames", c->prefix);
    pthread_mutex_lock(&c->sync_mu);
    redisReply *r = sync_cmd(c, "HGET %s %s", kn, name);
    pthread_mutex_unlock(&c->sync_mu);
    if (!r) return za__fail(ZA_ECONNECT, "cannot look up '%s': Redis is unreachable", name);
    za_ref ref = ZA_REF_NONE;
    if (r->type == REDIS_REPLY_STRING) {
        const char *bar = strchr(r->str, '|');
        if (bar) ref = (za_ref)strtoull(bar + 1, NULL, 10);
    }
    freeReplyObject(r);
    /* a name of this node that the local registry no longer has is dead;
     * a name of a dead node is gone */
    if (!ref || za_ref_node(ref) == c->self.id || !za__cluster_is_alive(s, ref))
        return za__fail(ZA_ENOTFOUND, "no actor named '%s' in the cluster", name);
    *out = ref;
    return ZA_OK;
}
