/*
 * The cluster object: configuration, creation (bind, join, start the
 * network and membership threads), attaching a system, leaving, and the
 * public za_cluster_* queries. Lifetime: the user's handle and an attached
 * system each hold a reference; the links stop when the system shuts down
 * (or when the user destroys a cluster no system uses).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "cluster.h"
#include "gplace.h"
#include "hook.h"
#include "system.h"

void za_cluster_config_init(za_cluster_config *cfg) {
    if (cfg) memset(cfg, 0, sizeof *cfg);
}

za_node_rec *za__node_rec(za_cluster *c, uint32_t id) {
    if (id == 0 || id > ZA_NODE_MAX) return NULL;
    /* acquire: pairs with za__node_rec_make's release publication */
    return atomic_load_explicit(&c->nodes[id], memory_order_acquire);
}

za_node_rec *za__node_rec_make(za_cluster *c, uint32_t id) {
    if (id == 0 || id > ZA_NODE_MAX) return NULL;
    za_node_rec *r = atomic_load_explicit(&c->nodes[id], memory_order_relaxed);
    if (r) return r;
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    /* release: pairs with za__node_rec's acquire; the record is zeroed
     * (NODE_NONE) when it becomes visible */
    atomic_store_explicit(&c->nodes[id], r, memory_order_release);
    return r;
}

void za__node_event(za_cluster *c, za_node_event_kind kind, const za_node_info *info) {
    pthread_mutex_lock(&c->ev_mu);
    za_node_event_fn fn = atomic_load_explicit(&c->ev_fn, memory_order_relaxed);
    void *ud = atomic_load_explicit(&c->ev_ud, memory_order_relaxed);
    if (fn) fn(kind, info, ud);
    pthread_mutex_unlock(&c->ev_mu);
}

void za_cluster_on_event(za_cluster *c, za_node_event_fn fn, void *ud) {
    if (!c) return;
    pthread_mutex_lock(&c->ev_mu);
    atomic_store_explicit(&c->ev_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&c->ev_ud, ud, memory_order_relaxed);
    pthread_mutex_unlock(&c->ev_mu);
}

void za__mreq_push(za_cluster *c, za_mreq *rq) {
    pthread_mutex_lock(&c->mem_mu);
    if (c->mem_stop) {
        pthread_mutex_unlock(&c->mem_mu);
        free(rq);
        return;
    }
    rq->next = c->mreqs;
    c->mreqs = rq;
    pthread_cond_signal(&c->mem_cv);
    pthread_mutex_unlock(&c->mem_mu);
}

bool za__redis_ok(za_cluster *c, redisContext *rc, redisReply *r) {
    /* relaxed: a health flag, read by the HTTP thread with no other data */
    if (r && !rc->err) {
        atomic_store_explicit(&c->redis_down, false, memory_order_relaxed);
        return true;
    }
    if (r) freeReplyObject(r);
    atomic_fetch_add_explicit(&c->st.redis_errors, 1, memory_order_relaxed);
    atomic_store_explicit(&c->redis_down, true, memory_order_relaxed);
    return false;
}

redisContext *za__redis_connect(za_cluster *c) {
    struct timeval tv = {c->cfg.redis_timeout_ms / 1000,
                         (suseconds_t)(c->cfg.redis_timeout_ms % 1000) * 1000};
    redisContext *rc = redisConnectWithTimeout(c->redis_host, c->redis_port, tv);
    if (!rc || rc->err) {
        za__fail(ZA_ECONNECT, "cannot connect to Redis at %s:%d: %s", c->redis_host, c->redis_port,
                 rc ? rc->errstr : "out of memory");
        atomic_fetch_add_explicit(&c->st.redis_errors, 1, memory_order_relaxed);
        atomic_store_explicit(&c->redis_down, true, memory_order_relaxed);
        if (rc) redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    redisReply *r = NULL;
    if (c->redis_pass) {
        r = redisCommand(rc, "AUTH %s", c->redis_pass);
        if (!r || r->type == REDIS_REPLY_ERROR) goto bad;
        freeReplyObject(r);
    }
    if (c->redis_db) {
        r = redisCommand(rc, "SELECT %d", c->redis_db);
        if (!r || r->type == REDIS_REPLY_ERROR) goto bad;
        freeReplyObject(r);
    }
    return rc;
bad:
    za__fail(ZA_ECONNECT, "Redis at %s:%d refused the connection: %s", c->redis_host, c->redis_port,
             r && r->str ? r->str : rc->errstr);
    if (r) freeReplyObject(r);
    redisFree(rc);
    atomic_fetch_add_explicit(&c->st.redis_errors, 1, memory_order_relaxed);
    return NULL;
}

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(za_cluster *c, const char *url) {
    if (strncmp(url, "redis://", 8) != 0)
        return za__fail(ZA_EINVAL, "redis URL '%s' must start with redis://", url);
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        c->redis_pass = strndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *hend = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(hend - p));
    c->redis_port = 6379;
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != hend || port <= 0 || port > 65535)
            return za__fail(ZA_EINVAL, "bad port in redis URL '%s'", url);
        c->redis_port = (int)port;
    }
    const char *hlast = colon ? colon : hend;
    if (hlast == p) return za__fail(ZA_EINVAL, "no host in redis URL '%s'", url);
    c->redis_host = strndup(p, (size_t)(hlast - p));
    if (slash && slash[1]) {
        char *e;
        long db = strtol(slash + 1, &e, 10);
        if (*e || db < 0 || db > 1000)
            return za__fail(ZA_EINVAL, "bad database in redis URL '%s'", url);
        c->redis_db = (int)db;
    }
    return c->redis_host ? ZA_OK : za__fail(ZA_ENOMEM, "out of memory");
}

static bool plain_name(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n >= max) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '|' || (unsigned char)s[i] < 0x20 || s[i] == ' ') return false;
    return true;
}

static void cluster_free(za_cluster *c) {
    za__mem_stop(c);
    za__net_stop(c);
    za__remote_free(c);
    za__lease_free(c);
    free(c->place_nodes);
    pthread_mutex_destroy(&c->place_mu);
    pthread_mutex_destroy(&c->lease_mu);
    za__net_free(c);
    if (c->sredis) redisFree(c->sredis);
    for (uint32_t i = 0; i < ZA_NODES; i++) free(atomic_load(&c->nodes[i]));
    pthread_mutex_destroy(&c->view_mu);
    pthread_mutex_destroy(&c->mem_mu);
    pthread_cond_destroy(&c->mem_cv);
    pthread_mutex_destroy(&c->sync_mu);
    pthread_mutex_destroy(&c->ev_mu);
    pthread_mutex_destroy(&c->due_mu);
    free(c->redis_host);
    free(c->redis_pass);
    free(c->name);
    free(c->node_name);
    free(c->listen);
    free(c->advertise);
    free(c);
}

int za_cluster_create(const za_cluster_config *cfg, za_cluster **out) {
    if (!out) return za__fail(ZA_EINVAL, "out is NULL");
    *out = NULL;
    if (!cfg || !cfg->redis || !cfg->name)
        return za__fail(ZA_EINVAL, "a cluster needs a redis URL and a name");
    if (!plain_name(cfg->name, 100))
        return za__fail(ZA_EINVAL,
                        "cluster name '%s' must be 1-99 characters without '|', "
                        "spaces or control characters",
                        cfg->name);
    if (cfg->node_name && !plain_name(cfg->node_name, sizeof(((za_node_info *)0)->name)))
        return za__fail(ZA_EINVAL,
                        "node name '%s' must be 1-63 characters without '|', spaces "
                        "or control characters",
                        cfg->node_name);
    za_cluster *c = calloc(1, sizeof *c);
    if (!c) return za__fail(ZA_ENOMEM, "out of memory");
    atomic_init(&c->refs, 1);
    c->wake_fd = -1;
    c->cfg = *cfg;
    za_cluster_config *k = &c->cfg;
    if (!k->heartbeat_ms) k->heartbeat_ms = 300;
    if (!k->suspect_ms) k->suspect_ms = 3000;
    if (!k->votes) k->votes = 2;
    if (!k->vote_window_ms) k->vote_window_ms = 10000;
    if (!k->poll_ms) k->poll_ms = 500;
    if (!k->redis_timeout_ms) k->redis_timeout_ms = 1000;
    pthread_mutex_init(&c->view_mu, NULL);
    pthread_mutex_init(&c->mem_mu, NULL);
    pthread_mutex_init(&c->sync_mu, NULL);
    pthread_mutex_init(&c->ev_mu, NULL);
    pthread_mutex_init(&c->place_mu, NULL);
    pthread_mutex_init(&c->lease_mu, NULL);
    pthread_mutex_init(&c->due_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->mem_cv, &ca);
    pthread_condattr_destroy(&ca);
    c->name = strdup(cfg->name);
    c->node_name = cfg->node_name ? strdup(cfg->node_name) : NULL;
    c->listen = strdup(cfg->listen ? cfg->listen : "tcp://127.0.0.1:0");
    c->advertise = cfg->advertise ? strdup(cfg->advertise) : NULL;
    k->redis = k->name = k->listen = k->advertise = k->node_name = NULL; /* use the copies */
    snprintf(c->prefix, sizeof c->prefix, "za:%s:", cfg->name);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    c->self.epoch = (uint64_t)tv.tv_sec * 1000000ull + (uint64_t)tv.tv_usec;
    if (c->node_name) snprintf(c->self.name, sizeof c->self.name, "%s", c->node_name);
    int rc = !c->name || !c->listen ? za__fail(ZA_ENOMEM, "out of memory") : ZA_OK;
    if (rc == ZA_OK && cfg->secret) rc = za__net_curve_keys(c, cfg->secret);
    k->secret = NULL; /* the key lives in curve_sec only */
    if (rc == ZA_OK) rc = parse_url(c, cfg->redis);
    if (rc == ZA_OK && za__remote_init(c) != ZA_OK) rc = za__fail(ZA_ENOMEM, "out of memory");
    if (rc == ZA_OK) rc = za__net_bind(c);
    if (rc == ZA_OK) {
        c->sredis = za__redis_connect(c);
        if (!c->sredis) rc = ZA_ECONNECT; /* text set by the connect */
    }
    if (rc == ZA_OK) rc = za__mem_join(c);
    if (rc == ZA_OK) rc = za__net_start(c);
    if (rc == ZA_OK) rc = za__mem_start(c);
    if (rc != ZA_OK) {
        char saved[256];
        snprintf(saved, sizeof saved, "%s", za_last_error());
        cluster_free(c); /* leaves the table if the join went through */
        return za__fail(rc, "%s", saved);
    }
    *out = c;
    return ZA_OK;
}

void za__cluster_release(za_cluster *c) {
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) cluster_free(c);
}

void za_cluster_destroy(za_cluster *c) {
    za__cluster_release(c);
}

int za__cluster_attach(za_system *s, za_cluster *c) {
    if (!c->net_started)
        return za__fail(ZA_ESTATE, "this cluster left with its previous system: create a new "
                                   "one (a new incarnation)");
    za_system *none = NULL;
    if (!atomic_compare_exchange_strong(&c->sys, &none, s))
        return za__fail(ZA_ESTATE, "this cluster already serves a system");
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    s->node_id = c->self.id;
    s->cluster = c;
    return ZA_OK;
}

void za__cluster_detach(za_system *s) {
    za_cluster *c = s->cluster;
    if (!c) return;
    /* leave and stop the links: nothing arrives for this system any more;
     * asks still waiting on other nodes are answered "shut down"; the
     * grains' lease drops go out first, while this node is still a member */
    za__lease_stop(c);
    za__mem_stop(c);
    za__rspawn_stop(c); /* its handlers use the system; their replies still go out */
    za__net_stop(c);
    za__remote_node_down(c, 0, ZA_ESHUTDOWN, "system shut down");
    atomic_store_explicit(&c->expelled, true, memory_order_release);
    /* release: nothing reads it any more (both threads are joined); the
     * cluster may outlive the system's memory until its last reference */
    atomic_store_explicit(&c->sys, NULL, memory_order_release);
}

uint64_t za__cluster_identity(const za_cluster *c) {
    /* FNV-1a of the Redis key prefix ("za:<name>:"), then splitmix64's
     * finaliser; never 0 (0 means "not said") */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = c->prefix; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

za_cluster *za_system_cluster(za_system *sys) {
    return sys ? sys->cluster : NULL;
}

uint32_t za_system_node(const za_system *sys) {
    return sys ? sys->node_id : 0;
}

int za_cluster_self(za_cluster *c, za_node_info *out) {
    if (!c || !out) return za__fail(ZA_EINVAL, "cluster or out is NULL");
    *out = c->self;
    return ZA_OK;
}

int za_cluster_nodes(za_cluster *c, za_node_info *out, size_t cap, size_t *n) {
    if (!c || !n || (cap && !out)) return za__fail(ZA_EINVAL, "cluster, out or n is NULL");
    size_t k = 0;
    pthread_mutex_lock(&c->view_mu);
    for (uint32_t id = 1; id < ZA_NODES; id++) {
        za_node_rec *r = atomic_load_explicit(&c->nodes[id], memory_order_relaxed);
        if (!r || atomic_load_explicit(&r->state, memory_order_relaxed) != NODE_ALIVE) continue;
        if (!r->confirmed) continue; /* known from a frame only: not yet in the table we read */
        if (id != c->self.id && atomic_load(&c->expelled)) continue;
        if (k < cap) out[k] = r->info;
        k++;
    }
    pthread_mutex_unlock(&c->view_mu);
    *n = k;
    return ZA_OK;
}

int za_cluster_stats_read(za_cluster *c, za_cluster_stats *o) {
    if (!c || !o) return za__fail(ZA_EINVAL, "cluster or out is NULL");
#define RD(f) o->f = atomic_load_explicit(&c->st.f, memory_order_relaxed)
    RD(sent);
    RD(received);
    RD(batches_out);
    RD(malformed);
    RD(fenced);
    RD(dropped);
    RD(votes);
    RD(nodes_down);
    RD(redis_errors);
    RD(table_version);
    RD(auth_failed);
#undef RD
    return ZA_OK;
}
