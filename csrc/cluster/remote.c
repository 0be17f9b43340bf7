/*
 * Messages to and from other nodes.
 *
 * Out (any thread, from za__send_node): the target's node must be a live
 * member, else the message is a dead letter (ZA_DL_NODE_DOWN) and an ask is
 * answered ZA_ENODEDOWN at once. An ask's reply slot waits in the pending
 * table under a cluster-wide correlation id; a watch of a remote actor is
 * remembered, so a verdict on its node can deliver DOWN (reason node-down).
 *
 * In (the network thread): a tell is delivered like a local one; an ask
 * gets a reply slot whose answer is posted back as a REPLY envelope; watch,
 * unwatch and stop are turned into the local system messages.
 */
#include <stdio.h>
#include <stdlib.h>

#include "trace.h"
#include "ask.h"
#include "cluster.h"
#include "deadletter.h"
#include "envelope.h"
#include "gplace.h"
#include "grain/grain.h"
#include "hook.h"
#include "send.h"
#include "system.h"

typedef struct za_pending {
    struct za_pending *next;
    uint64_t corr;
    uint32_t node;
    za_reply_slot *slot; /* holds the message's reference */
} za_pending;

typedef struct za_rwatch {
    struct za_rwatch *next;
    za_ref watcher, target;
} za_rwatch;

#define PEND_BUCKETS 1024u

int za__remote_init(za_cluster *c) {
    c->npend_buckets = PEND_BUCKETS;
    c->pend = calloc(PEND_BUCKETS, sizeof *c->pend);
    if (!c->pend) return ZA_ENOMEM;
    pthread_mutex_init(&c->pend_mu, NULL);
    pthread_mutex_init(&c->watch_mu, NULL);
    return za__rspawn_init(c);
}

void za__remote_free(za_cluster *c) {
    if (!c->pend) return;
    za__remote_node_down(c, 0, ZA_ESHUTDOWN, "cluster closed");
    za__rspawn_free(c);
    free(c->pend);
    c->pend = NULL;
    pthread_mutex_destroy(&c->pend_mu);
    pthread_mutex_destroy(&c->watch_mu);
}

static bool node_alive(za_cluster *c, uint32_t id) {
    if (atomic_load_explicit(&c->expelled, memory_order_acquire)) return false;
    za_node_rec *r = za__node_rec(c, id);
    /* acquire: pairs with the release stores of state in membership.c and
     * transport.c (the record's info is written before) */
    return r && atomic_load_explicit(&r->state, memory_order_acquire) == NODE_ALIVE;
}

int za__cluster_is_alive(za_system *s, za_ref ref) {
    return s->cluster && za_ref_node(ref) && node_alive(s->cluster, za_ref_node(ref));
}

int za__remote_post(za_cluster *c, uint32_t node, const za_env *e) {
    return za__net_send(c, node, e);
}

static void node_down_text(za_cluster *c, uint32_t node, char *buf, size_t cap) {
    za_node_rec *r = za__node_rec(c, node);
    if (atomic_load(&c->expelled))
        snprintf(buf, cap, "node-down: this node was expelled from the cluster");
    else if (!r)
        snprintf(buf, cap, "node-down: node %u is not a member of the cluster", node);
    else
        snprintf(buf, cap, "node-down: node %u is dead", node);
}

/* The target's node is gone: the message is a dead letter; an ask is
 * answered now with ZA_ENODEDOWN rather than at its timeout. */
static int to_dead_node_at(za_system *s, za_msgnode *m, uint32_t node) {
    char why[100];
    node_down_text(s->cluster, node, why, sizeof why);
    if (m->reply) {
        za_reply_slot *r = m->reply;
        m->reply = NULL;
        za__reply_complete(s, r, ZA_ENODEDOWN, 0, NULL, 0, NULL, NULL, why);
        za__reply_release(r);
    }
    if (m->flags & ZA_MF_SYSTEM) {
        /* a watch of an actor on a dead node: DOWN at once, as for a dead actor */
        if (m->sys == ZA_SYS_WATCH && m->sender) {
            za_down d;
            memset(&d, 0, sizeof d);
            d.ref = m->target;
            d.code = ZA_ENODEDOWN;
            snprintf(d.reason, sizeof d.reason, "%s", why);
            za_msgnode *dm = za__msg_new_bytes(ZA_TAG_DOWN, &d, sizeof d);
            if (dm) {
                dm->target = m->sender;
                dm->sender = m->target;
                if (za__send_node(s, dm, false) != ZA_OK) za__msg_free(dm);
            }
        }
        za__msg_free(m);
        return ZA_OK;
    }
    za__dead_letter(s, m, ZA_DL_NODE_DOWN);
    return ZA_OK;
}

static int to_dead_node(za_system *s, za_msgnode *m) {
    return to_dead_node_at(s, m, za_ref_node(m->target));
}

static void watch_add(za_cluster *c, za_ref watcher, za_ref target) {
    za_rwatch *w = malloc(sizeof *w);
    if (!w) return;
    w->watcher = watcher;
    w->target = target;
    pthread_mutex_lock(&c->watch_mu);
    w->next = c->watches;
    c->watches = w;
    pthread_mutex_unlock(&c->watch_mu);
}

static void watch_remove(za_cluster *c, za_ref watcher, za_ref target) {
    pthread_mutex_lock(&c->watch_mu);
    for (za_rwatch **pp = &c->watches; *pp; pp = &(*pp)->next)
        if ((*pp)->watcher == watcher && (*pp)->target == target) {
            za_rwatch *w = *pp;
            *pp = w->next;
            free(w);
            break;
        }
    pthread_mutex_unlock(&c->watch_mu);
}

/* The trace context a message to another node carries: its own, or the
 * sending thread's (a remote send leaves before the local send path
 * attaches it). */
static const za_trace *remote_trace(const za_msgnode *m) {
    const za_trace *t = za__msg_trace(m);
    return t ? t : za__tl_trace.on ? &za__tl_trace.t : NULL;
}

static za_pending *take_pending(za_cluster *c, uint64_t corr, uint32_t from);

/* An outbound payload holding grain refs of this system: they travel as
 * grain identities (grainref.c); *conv is the rewritten copy to free. */
static int grainrefs_out(za_system *s, za_env *e, void **conv) {
    size_t n = 0;
    int gr = za__grainref_out(s, e->data, e->len, conv, &n);
    if (gr < 0) return za__fail(gr, "out of memory");
    if (gr == 1) {
        if (n > UINT32_MAX) {
            free(*conv);
            *conv = NULL;
            return za__fail(ZA_ETOOBIG, "payload too large");
        }
        e->data = *conv;
        e->len = (uint32_t)n;
        e->flags |= ZA_ENV_F_GRAINREFS;
    }
    return ZA_OK;
}

/* An inbound payload: grain identities become refs of this system.
 * ZA_OK with *data, *len (and *conv to free), or an error with its text. */
static int grainrefs_in(za_system *s, const za_env *e, const void **data, size_t *len,
                        void **conv) {
    *data = e->data;
    *len = e->len;
    *conv = NULL;
    if (!(e->flags & ZA_ENV_F_GRAINREFS)) return ZA_OK;
    size_t n = 0;
    int gr = za__grainref_in(s, e->data, e->len, conv, &n);
    if (gr < 0) return gr;
    if (gr == 1) {
        *data = *conv;
        *len = n;
    }
    return ZA_OK;
}

/* An inbound ask that cannot be delivered: the asker gets the error now. */
static void refuse_ask(za_cluster *c, uint32_t from, const za_env *e, int rc) {
    const char *t = za_last_error();
    za_env r = {.kind = ZA_ENV_REPLY,
                .target = e->sender,
                .corr = e->corr,
                .status = rc,
                .data = t,
                .len = (uint32_t)strlen(t)};
    za__remote_post(c, from, &r);
}

int za__cluster_send(za_system *s, za_msgnode *m, bool from_outside) {
    za_cluster *c = s->cluster;
    uint32_t node = za_ref_node(m->target);
    if (m->kind == ZA_PAYLOAD_PTR)
        return za__fail(ZA_EINVAL,
                        "a pointer payload cannot be sent to another node (actor "
                        "%#llx is on node %u): send bytes or a value",
                        (unsigned long long)m->target, node);
    if (ZA_UNLIKELY(m->tag == ZA_TAG_PICKLE) && za__pickle_send_check(s, m->sender) != ZA_OK)
        return ZA_EINVAL; /* (text set) */
    za_env e = {.kind = ZA_ENV_TELL,
                .target = m->target,
                /* a grain activation sends as its grain ref, an index into
                 * this node's table: the receiver would drop it as a forged
                 * sender, so it travels as "no sender" (asks still work) */
                .sender = za_ref_is_grain(m->sender) ? ZA_REF_NONE : m->sender,
                .tag = m->tag,
                .data = za__msg_data(m),
                .len = m->len,
                .trace = (m->flags & ZA_MF_SYSTEM) ? NULL : remote_trace(m)};
    void *conv = NULL; /* the payload with its grain refs as identities */
    if (!(m->flags & ZA_MF_SYSTEM) && m->tag != ZA_TAG_PICKLE) { /* (a pickle is opaque) */
        int gr = grainrefs_out(s, &e, &conv);
        if (gr < 0) return gr;
    }
    if (m->flags & ZA_MF_SYSTEM) {
        if (m->sys != ZA_SYS_WATCH && m->sys != ZA_SYS_UNWATCH && m->sys != ZA_SYS_STOP)
            return za__fail(ZA_EDEAD, "actor %#llx is on another node",
                            (unsigned long long)m->target);
        if (!node_alive(c, node)) return to_dead_node(s, m);
        e.kind = ZA_ENV_SYS;
        e.tag = m->sys;
        e.len = 0;
        e.data = NULL;
        if (m->sys == ZA_SYS_WATCH) {
            watch_add(c, m->sender, m->target);
            /* a verdict between the check above and the add would miss
             * this watch: look again now that it is visible */
            if (!node_alive(c, node)) {
                watch_remove(c, m->sender, m->target);
                return to_dead_node(s, m);
            }
        } else if (m->sys == ZA_SYS_UNWATCH) {
            watch_remove(c, m->sender, m->target);
        }
    } else if (m->reply) {
        e.kind = ZA_ENV_ASK;
        e.trace = remote_trace(m);
        za_pending *p = malloc(sizeof *p);
        if (!p) {
            free(conv);
            return za__fail(ZA_ENOMEM, "out of memory");
        }
        p->corr = atomic_fetch_add_explicit(&c->next_corr, 1, memory_order_relaxed) + 1;
        p->node = node;
        p->slot = m->reply;
        za__reply_mark_far(p->slot);
        e.corr = p->corr;
        /* checked under pend_mu: za__remote_node_down marks the node dead
         * before it sweeps the table under the same lock, so either we
         * see the verdict here or the sweep sees our entry */
        pthread_mutex_lock(&c->pend_mu);
        if (!node_alive(c, node)) {
            pthread_mutex_unlock(&c->pend_mu);
            free(p);
            free(conv);
            return to_dead_node(s, m);
        }
        uint32_t b = (uint32_t)(p->corr & (c->npend_buckets - 1));
        p->next = c->pend[b];
        c->pend[b] = p;
        pthread_mutex_unlock(&c->pend_mu);
        m->reply = NULL; /* the pending entry holds the slot now */
    } else if (!node_alive(c, node)) {
        free(conv);
        return to_dead_node(s, m);
    }
    (void)from_outside;
    int rc = za__remote_post(c, node, &e);
    free(conv);
    if (rc != ZA_OK) {
        if (e.kind == ZA_ENV_ASK) { /* take the slot back: the caller answers */
            pthread_mutex_lock(&c->pend_mu);
            uint32_t b = (uint32_t)(e.corr & (c->npend_buckets - 1));
            for (za_pending **pp = &c->pend[b]; *pp; pp = &(*pp)->next)
                if ((*pp)->corr == e.corr) {
                    za_pending *p = *pp;
                    *pp = p->next;
                    m->reply = p->slot;
                    free(p);
                    break;
                }
            pthread_mutex_unlock(&c->pend_mu);
        }
        return rc;
    }
    za__msg_free(m);
    return ZA_OK;
}

/* A message for grain (type, key) whose home (or lease holder) is `node`:
 * a ZA_ENV_GRAIN envelope. An ask keeps its reply slot here under a
 * correlation id like any remote ask, so the answer reaches the asker
 * however many nodes the message crossed. */
int za__cluster_send_grain(za_system *s, uint32_t node, const char *type, const char *key,
                           za_msgnode *m, int hops) {
    za_cluster *c = s->cluster;
    if (m->flags & ZA_MF_SYSTEM)
        return za__fail(ZA_EINVAL, "grain %s/%s: system messages do not cross nodes", type, key);
    if (m->kind == ZA_PAYLOAD_PTR)
        return za__fail(ZA_EINVAL,
                        "a pointer payload cannot be sent to grain %s/%s, whose home is node %u: "
                        "send bytes or a value",
                        type, key, node);
    za_env e = {.kind = ZA_ENV_GRAIN,
                /* a grain sender is an index into this node's identity
                 * table, meaningless elsewhere: it travels as "no sender"
                 * (asks still reach it through their reply slot) */
                .sender = za_ref_is_grain(m->sender) ? ZA_REF_NONE : m->sender,
                .tag = m->tag,
                .status = hops,
                .data = za__msg_data(m),
                .len = m->len,
                .gtype = type,
                .gtype_len = (uint32_t)strlen(type),
                .gkey = key,
                .gkey_len = (uint32_t)strlen(key),
                .trace = remote_trace(m)};
    void *conv = NULL;
    int gr = grainrefs_out(s, &e, &conv);
    if (gr < 0) return gr;
    za_pending *p = NULL;
    if (m->reply) {
        p = malloc(sizeof *p);
        if (!p) {
            free(conv);
            return za__fail(ZA_ENOMEM, "out of memory");
        }
        p->corr = atomic_fetch_add_explicit(&c->next_corr, 1, memory_order_relaxed) + 1;
        p->node = node;
        p->slot = m->reply;
        e.corr = p->corr;
        /* under pend_mu, as in za__cluster_send: a verdict either is seen
         * here or its sweep sees the entry */
        pthread_mutex_lock(&c->pend_mu);
        if (!node_alive(c, node)) {
            pthread_mutex_unlock(&c->pend_mu);
            free(p);
            free(conv);
            return to_dead_node_at(s, m, node);
        }
        uint32_t b = (uint32_t)(p->corr & (c->npend_buckets - 1));
        p->next = c->pend[b];
        c->pend[b] = p;
        pthread_mutex_unlock(&c->pend_mu);
        m->reply = NULL;
    } else if (!node_alive(c, node)) {
        free(conv);
        return to_dead_node_at(s, m, node);
    }
    int rc = za__remote_post(c, node, &e);
    free(conv);
    if (rc != ZA_OK) {
        if (p) { /* take the slot back: the caller answers */
            za_pending *q = take_pending(c, e.corr, node);
            if (q) {
                m->reply = q->slot;
                free(q);
            }
        }
        return rc;
    }
    za__msg_free(m);
    return ZA_OK;
}

static za_pending *take_pending(za_cluster *c, uint64_t corr, uint32_t from) {
    pthread_mutex_lock(&c->pend_mu);
    uint32_t b = (uint32_t)(corr & (c->npend_buckets - 1));
    za_pending *found = NULL;
    for (za_pending **pp = &c->pend[b]; *pp; pp = &(*pp)->next)
        if ((*pp)->corr == corr && (*pp)->node == from) {
            found = *pp;
            *pp = found->next;
            break;
        }
    pthread_mutex_unlock(&c->pend_mu);
    return found;
}

void za__remote_node_down(za_cluster *c, uint32_t id, int code, const char *why) {
    za_system *s = atomic_load_explicit(&c->sys, memory_order_acquire);
    /* asks waiting on the node */
    za_pending *done = NULL;
    pthread_mutex_lock(&c->pend_mu);
    for (uint32_t b = 0; b < c->npend_buckets; b++)
        for (za_pending **pp = &c->pend[b]; *pp;) {
            if (id == 0 || (*pp)->node == id) {
                za_pending *p = *pp;
                *pp = p->next;
                p->next = done;
                done = p;
            } else {
                pp = &(*pp)->next;
            }
        }
    pthread_mutex_unlock(&c->pend_mu);
    for (za_pending *p = done, *n; p; p = n) {
        n = p->next;
        if (s) za__reply_complete(s, p->slot, code, 0, NULL, 0, NULL, NULL, why);
        za__reply_release(p->slot);
        free(p);
    }
    /* watches of actors on the node: DOWN with reason node-down */
    za_rwatch *gone = NULL;
    pthread_mutex_lock(&c->watch_mu);
    for (za_rwatch **pp = &c->watches; *pp;) {
        if (id == 0 || za_ref_node((*pp)->target) == id) {
            za_rwatch *w = *pp;
            *pp = w->next;
            w->next = gone;
            gone = w;
        } else {
            pp = &(*pp)->next;
        }
    }
    pthread_mutex_unlock(&c->watch_mu);
    for (za_rwatch *w = gone, *n; w; w = n) {
        n = w->next;
        if (s) {
            za_down d;
            memset(&d, 0, sizeof d);
            d.ref = w->target;
            d.code = code;
            snprintf(d.reason, sizeof d.reason, "%s", why);
            za_msgnode *m = za__msg_new_bytes(ZA_TAG_DOWN, &d, sizeof d);
            if (m) {
                m->target = w->watcher;
                m->sender = w->target;
                int rc = za__send_node(s, m, false);
                if (rc != ZA_OK && rc != ZA_EDROPPED) za__msg_free(m);
            }
        }
        free(w);
    }
}

/* ----------------------------------------------------------------- inbound */

typedef struct origin {
    za_cluster *c;
    uint32_t node;
    uint64_t corr;
    za_ref asker, target;
} origin;

/* The answer to a remote ask, on whichever thread answered: post it back. */
static void answer_back(za_answer *a, void *ud) {
    origin *o = ud;
    za_env e = {.kind = ZA_ENV_REPLY,
                .target = o->asker,
                .sender = o->target,
                .tag = a->tag,
                .corr = o->corr,
                .status = a->status};
    if (a->status == ZA_OK && a->kind == ZA_PAYLOAD_PTR) {
        e.status = ZA_EINVAL;
        e.tag = 0;
        static const char msg[] = "the reply was a pointer payload, which cannot cross nodes";
        e.data = msg;
        e.len = sizeof msg - 1;
    } else if (a->status == ZA_OK) {
        e.data = a->data;
        e.len = (uint32_t)a->len;
    } else {
        const char *t = a->error ? a->error : za_strerror(a->status);
        e.data = t;
        e.len = (uint32_t)strlen(t);
    }
    void *conv = NULL;
    /* acquire: pairs with za__cluster_attach's publication of sys */
    za_system *s = atomic_load_explicit(&o->c->sys, memory_order_acquire);
    if (s && e.status == ZA_OK && grainrefs_out(s, &e, &conv) != ZA_OK) {
        e.status = ZA_ENOMEM;
        e.tag = 0;
        e.data = "out of memory";
        e.len = 13;
    }
    if (node_alive(o->c, o->node)) za__remote_post(o->c, o->node, &e);
    free(conv);
    za_answer_free(a);
    free(o);
}

static void grain_in(za_cluster *c, za_system *s, uint32_t from, const za_env *e);

static bool local_target(za_cluster *c, za_ref r) {
    return r && za_ref_node(r) == c->self.id;
}

void za__remote_deliver(za_cluster *c, uint32_t from, const za_env *e) {
    za_system *s = atomic_load_explicit(&c->sys, memory_order_acquire);
    if (e->kind == ZA_ENV_REPLY) {
        za_pending *p = take_pending(c, e->corr, from);
        if (!p) return; /* already answered (node-down, shutdown) */
        const void *data;
        size_t len;
        void *conv = NULL;
        int gr = s && e->status == ZA_OK ? grainrefs_in(s, e, &data, &len, &conv) : ZA_OK;
        if (s && gr != ZA_OK) {
            za__reply_complete(s, p->slot, gr, 0, NULL, 0, NULL, NULL, za_last_error());
        } else if (s) {
            if (e->status == ZA_OK && e->tag == ZA_TAG_PICKLE &&
                !atomic_load_explicit(&c->pickle, memory_order_relaxed)) {
                /* a pickled Python answer for a node that does not take them */
                za__reply_complete(s, p->slot, ZA_EINVAL, 0, NULL, 0, NULL, NULL,
                                   "the answer is a pickled Python object and this node does "
                                   "not accept pickle");
            } else if (e->status == ZA_OK) {
                za__reply_complete(s, p->slot, ZA_OK, e->tag, data, len, NULL, NULL, NULL);
            } else {
                char text[256];
                size_t n = e->len < sizeof text - 1 ? e->len : sizeof text - 1;
                memcpy(text, e->data ? e->data : "", n);
                text[n] = 0;
                int st = e->status < 0 && e->status >= ZA_EFENCED ? e->status : ZA_EFAILED;
                za__reply_complete(s, p->slot, st, 0, NULL, 0, NULL, NULL, text);
            }
        }
        free(conv);
        za__reply_release(p->slot);
        free(p);
        return;
    }
    if (e->kind == ZA_ENV_GRAIN) {
        /* acquire: pairs with za__cluster_grains_ready's release; a node
         * still starting drops it (the asker's pending ask fails at its
         * timeout or when this node is declared dead) */
        if (s && atomic_load_explicit(&c->grains_ready, memory_order_acquire))
            grain_in(c, s, from, e);
        else
            atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
        return;
    }
    /* the sender must be an actor of the node the frame came from */
    if (!s || !local_target(c, e->target) || (e->sender && za_ref_node(e->sender) != from)) {
        atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&c->st.received, 1, memory_order_relaxed);
    if (za__is_spawner(e->target)) { /* the spawn service (remote_spawn.c) */
        za__rspawn_request(c, from, e);
        return;
    }
    if (e->kind == ZA_ENV_SYS) {
        if (e->tag == ZA_SYS_STOP) {
            za__send_sys(s, e->target, ZA_REF_NONE, ZA_SYS_STOP, NULL, 0);
        } else if ((e->tag == ZA_SYS_WATCH || e->tag == ZA_SYS_UNWATCH) && e->sender) {
            int rc = za__send_sys(s, e->target, e->sender, e->tag, NULL, 0);
            if (rc == ZA_EDEAD && e->tag == ZA_SYS_WATCH) {
                za_down d;
                memset(&d, 0, sizeof d);
                d.ref = e->target;
                d.code = ZA_EDEAD;
                snprintf(d.reason, sizeof d.reason, "no such actor");
                za_env de = {.kind = ZA_ENV_TELL,
                             .target = e->sender,
                             .sender = e->target,
                             .tag = ZA_TAG_DOWN,
                             .data = &d,
                             .len = sizeof d};
                za__remote_post(c, from, &de);
            }
        } else {
            atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
        }
        return;
    }
    if (e->len > s->cfg.max_payload) {
        atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
        return;
    }
    za_down d;
    const void *data = e->data;
    if (e->tag == ZA_TAG_DOWN) {
        /* a DOWN notice from the watched actor's node: check its shape */
        if (e->kind != ZA_ENV_TELL || e->len != sizeof d) {
            atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
            return;
        }
        memcpy(&d, e->data, sizeof d);
        d.reason[sizeof d.reason - 1] = 0;
        data = &d;
        watch_remove(c, e->target, e->sender);
    }
    if (ZA_UNLIKELY(e->tag == ZA_TAG_PICKLE)) {
        /* a pickled Python object: only for a Python actor, on a node that
         * said yes (pickle.c) */
        char why[160];
        int prc = za__pickle_check(c, s, e->target, why, sizeof why);
        if (prc != ZA_OK) {
            if (e->kind == ZA_ENV_ASK) {
                za_env re = {.kind = ZA_ENV_REPLY,
                             .target = e->sender,
                             .sender = e->target,
                             .corr = e->corr,
                             .status = prc,
                             .data = why,
                             .len = (uint32_t)strlen(why)};
                za__remote_post(c, from, &re);
            }
            za_msgnode *dm = za__msg_new_bytes(e->tag, e->data, e->len);
            if (dm) {
                dm->target = e->target;
                dm->sender = e->sender;
                za__fail(prc, "%s", why);
                za__dead_letter(s, dm, ZA_DL_DEAD_TARGET);
            }
            return;
        }
    }
    size_t len = e->len;
    void *conv = NULL;
    if (e->tag != ZA_TAG_DOWN) {
        int gr = grainrefs_in(s, e, &data, &len, &conv);
        if (gr != ZA_OK) {
            if (e->kind == ZA_ENV_ASK) refuse_ask(c, from, e, gr);
            atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
            return;
        }
    }
    za_msgnode *m = za__msg_new_bytes(e->tag, data, len);
    free(conv);
    if (!m) return;
    m->target = e->target;
    m->sender = e->sender;
    if (e->kind == ZA_ENV_ASK) {
        origin *o = malloc(sizeof *o);
        za_reply_slot *r = o ? za__reply_new_cb(s, answer_back, o) : NULL;
        if (!r) {
            free(o);
            za__msg_free(m);
            return;
        }
        *o = (origin){c, from, e->corr, e->sender, e->target};
        m->reply = r;
        za__reply_release(r); /* the message keeps its reference */
    }
    /* the sender's trace context is current for this send: the local send
     * path attaches it (csrc/trace.h), and the handler runs with it */
    za_tl_trace saved = za__tl_trace;
    za__tl_trace.on = e->trace != NULL;
    if (e->trace) memcpy(&za__tl_trace.t, e->trace, sizeof za__tl_trace.t);
    int rc = za__send_node(s, m, true);
    za__tl_trace = saved;
    if (rc != ZA_OK && rc != ZA_EDROPPED) za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
}

/* A grain message from node `from`: into this node's directory, which
 * pushes it to the activation here, activates the grain (taking the
 * lease), or forwards it on when its view names another home (at most
 * ZA_GRAIN_MAX_HOPS times, then this node acts as home). */
static void grain_in(za_cluster *c, za_system *s, uint32_t from, const za_env *e) {
    char type[256], key[1025];
    if ((e->sender && za_ref_node(e->sender) != from) || e->len > s->cfg.max_payload ||
        (e->tag < 0 && e->tag != ZA_TAG_REMINDER) || e->status < 0 ||
        memchr(e->gtype, 0, e->gtype_len) || memchr(e->gkey, 0, e->gkey_len)) {
        atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
        return;
    }
    memcpy(type, e->gtype, e->gtype_len);
    type[e->gtype_len] = 0;
    memcpy(key, e->gkey, e->gkey_len);
    key[e->gkey_len] = 0;
    atomic_fetch_add_explicit(&c->st.received, 1, memory_order_relaxed);
    const void *data;
    size_t len;
    void *conv = NULL;
    int gr = grainrefs_in(s, e, &data, &len, &conv);
    if (gr != ZA_OK) {
        if (e->corr) refuse_ask(c, from, e, gr);
        atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
        return;
    }
    za_msgnode *m = za__msg_new_bytes(e->tag, data, len);
    free(conv);
    if (!m) return;
    m->sender = e->sender;
    if (e->corr) {
        origin *o = malloc(sizeof *o);
        za_reply_slot *r = o ? za__reply_new_cb(s, answer_back, o) : NULL;
        if (!r) {
            free(o);
            za__msg_free(m);
            return;
        }
        *o = (origin){c, from, e->corr, e->sender, ZA_REF_NONE};
        m->reply = r;
        za__reply_release(r); /* the message keeps its reference */
    }
    za_ref g;
    int rc = za_grain_ref(s, type, key, &g);
    if (rc != ZA_OK) {
        char why[1600];
        snprintf(why, sizeof why, "grain %s/%s: %s on node %u", type, key,
                 rc == ZA_ENOTFOUND
                     ? "type not registered (every node must register the grain types it "
                       "may host)"
                     : za_strerror(rc),
                 c->self.id);
        if (m->reply) {
            za_reply_slot *r = m->reply;
            m->reply = NULL;
            za__reply_complete(s, r, rc, 0, NULL, 0, NULL, NULL, why);
            za__reply_release(r);
        }
        za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
        return;
    }
    m->target = g;
    /* kept with the message: if it waits in the directory (a lease taken
     * elsewhere, a deactivation) and is forwarded later from another
     * thread, it still counts the nodes it crossed */
    m->hops = (uint16_t)(e->status < UINT16_MAX ? e->status + 1 : UINT16_MAX);
    int saved = za__grain_hops;
    za__grain_hops = m->hops;
    /* the sender's trace context, as in za__remote_deliver */
    za_tl_trace saved_trace = za__tl_trace;
    za__tl_trace.on = e->trace != NULL;
    if (e->trace) memcpy(&za__tl_trace.t, e->trace, sizeof za__tl_trace.t);
    rc = za__grain_send(s, m, true);
    za__tl_trace = saved_trace;
    za__grain_hops = saved;
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        if (m->reply) { /* the asker learns why (forwarded too often, shutting down...) */
            za_reply_slot *r = m->reply;
            m->reply = NULL;
            za__reply_complete(s, r, rc, 0, NULL, 0, NULL, NULL, za_last_error());
            za__reply_release(r);
        }
        za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
    }
}
