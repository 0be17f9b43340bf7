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
 * -> 1 taken by us, 0 held by a live node (another one, or us) or by a
 * grain (a grain always exists: its name stays until dropped) */
static const char PUT_LUA[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if cur and cur ~= ARGV[2] then\n"
    "  local n = string.match(cur, '^(%d+)|')\n"
    "  if not n then return 0 end\n"
    "  if n ~= ARGV[3] and redis.call('HGET', KEYS[2], n) == 'alive' then return 0 end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "return 1\n";

/* KEYS: names; ARGV: name value -> delete only if it still names that ref */
static const char DROP_LUA[] = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then\n"
                               "  return redis.call('HDEL', KEYS[1], ARGV[1])\n"
                               "end\n"
                               "return 0\n";

/* "<node>|<ref>" for an actor; for a grain (whose ref is an index into
 * this node's identity table) "G|<type>\0<key>", what names it on every
 * node. The length (binary: the NUL), or 0 if it cannot be said. */
#define NAME_VALUE_MAX 1300
static size_t value_of(za_cluster *c, za_ref ref, char *buf, size_t cap) {
    if (za_ref_is_grain(ref)) {
        /* acquire: pairs with za__cluster_attach's publication of sys */
        za_system *s = atomic_load_explicit(&c->sys, memory_order_acquire);
        const char *type, *key;
        if (!s || za_grain_identity(s, ref, &type, &key) != ZA_OK) return 0;
        size_t tl = strlen(type), kl = strlen(key);
        if (2 + tl + 1 + kl > cap) return 0;
        memcpy(buf, "G|", 2);
        memcpy(buf + 2, type, tl + 1); /* with its NUL */
        memcpy(buf + 3 + tl, key, kl);
        return 3 + tl + kl;
    }
    int n = snprintf(buf, cap, "%u|%llu", za_ref_node(ref), (unsigned long long)ref);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
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
    char kn[200], ks[200], val[NAME_VALUE_MAX], me[16];
    snprintf(kn, sizeof kn, "%snames", c->prefix);
    snprintf(ks, sizeof ks, "%sstatus", c->prefix);
    size_t vl = value_of(c, ref, val, sizeof val);
    if (!vl)
        return za__fail(ZA_EINVAL, "cannot register '%s': %#llx names nothing here", name,
                        (unsigned long long)ref);
    snprintf(me, sizeof me, "%u", c->self.id);
    pthread_mutex_lock(&c->sync_mu);
    redisReply *r = sync_cmd(c, "EVAL %s 2 %s %s %s %b %s", PUT_LUA, kn, ks, name, val, vl, me);
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
    char kn[200], val[NAME_VALUE_MAX];
    snprintf(kn, sizeof kn, "%snames", c->prefix);
    size_t vl = value_of(c, ref, val, sizeof val);
    if (!vl) return;
    redisReply *r = redisCommand(rc, "EVAL %s 1 %s %s %b", DROP_LUA, kn, name, val, vl);
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
    if (r->type == REDIS_REPLY_STRING && r->len > 2 && !memcmp(r->str, "G|", 2)) {
        /* a grain: its reference on this node (interned from its identity) */
        const char *type = r->str + 2, *nul = memchr(type, 0, r->len - 2);
        char key[1025];
        size_t kl = nul ? r->len - (size_t)(nul + 1 - r->str) : 0;
        int rc = ZA_EVALUE;
        if (nul && kl && kl < sizeof key) {
            memcpy(key, nul + 1, kl);
            key[kl] = 0;
            rc = za_grain_ref(s, type, key, out);
            if (rc != ZA_OK)
                za__fail(rc, "'%s' names grain %s/%s, whose type is not registered here", name,
                         type, key);
        } else {
            za__fail(rc, "'%s' names a malformed grain identity in the cluster", name);
        }
        freeReplyObject(r);
        return rc;
    }
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
