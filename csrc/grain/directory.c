/*
 * directory.c - routing messages to grain activations.
 *
 * Every message to a grain reference comes here (send.c's "not this node"
 * branch). Under the lock of the identity's shard:
 *   ACTIVE        -> pushed straight into the activation's mailbox
 *                    (ZA_MF_DIRECT: never batched in a worker's outbox), so
 *                    the deactivation marker, pushed later under the same
 *                    lock, is behind every message routed before it;
 *   NONE          -> held, and an activation begins (activation.c);
 *   ACTIVATING /
 *   DEACTIVATING  -> held, whole nodes with their ask reply slots, in
 *                    arrival order.
 * When an activation ends (any cause), za__grain_ended takes the user
 * messages still in its mailbox back in front of the held ones, and a new
 * activation starts if any are waiting: none is lost and per-sender FIFO
 * holds across activations.
 */
#include <stdio.h>
#include <stdlib.h>

#include "deadletter.h"
#include "grain/directory.h"
#include "grain/grain.h"
#include "grain/placement.h"
#include "grain/relocate.h"
#include "ask.h"
#include "mailbox.h"
#include "send.h"
#include "system.h"

void za__gdir_list(za_grains *g, za_gentry *e, bool live) {
    za_gshard *sh = za__gshard(g, e);
    if (live && !e->listed) {
        e->lprev = NULL;
        e->lnext = sh->live;
        if (sh->live) sh->live->lprev = e;
        sh->live = e;
        sh->nlive++;
        e->listed = true;
        atomic_fetch_add_explicit(&g->live, 1, memory_order_relaxed);
    } else if (!live && e->listed) {
        if (e->lprev)
            e->lprev->lnext = e->lnext;
        else
            sh->live = e->lnext;
        if (e->lnext) e->lnext->lprev = e->lprev;
        e->lnext = e->lprev = NULL;
        sh->nlive--;
        e->listed = false;
        /* release: shutdown's acquire load of live then sees the entry settled */
        atomic_fetch_sub_explicit(&g->live, 1, memory_order_release);
    }
}

void za__gdir_hold(za_gentry *e, za_msgnode *m) {
    m->target = e->ref;
    m->flags &= (uint8_t)~ZA_MF_DIRECT;
    m->ahead = NULL;
    atomic_store_explicit(&m->link.next, NULL, memory_order_relaxed);
    if (e->held_tail)
        atomic_store_explicit(&e->held_tail->link.next, &m->link, memory_order_relaxed);
    else
        e->held_head = m;
    e->held_tail = m;
    e->nheld++;
}

int za__gdir_push(za_system *s, za_gentry *e, za_msgnode *m) {
    m->target = e->act;
    m->flags |= ZA_MF_DIRECT;
    m->ahead = NULL;
    /* not from outside: the system may be draining while activations finish */
    int rc = za__send_node(s, m, false);
    if (rc == ZA_OK || rc == ZA_EDROPPED) {
        e->messages++;
        return rc;
    }
    m->target = e->ref;
    m->flags &= (uint8_t)~ZA_MF_DIRECT;
    return rc;
}

void za__gdir_deactivate(za_system *s, za_gentry *e, const char *reason) {
    if (e->status != ZA_GRAIN_ACTIVE) return;
    e->status = ZA_GRAIN_DEACTIVATING;
    size_t n = strlen(reason);
    za_msgnode *m = za__msg_new_bytes(ZA_TAG_DEACTIVATE, reason, n);
    if (!m) return; /* out of memory: the activation stays until the next sweep */
    m->sender = ZA_REF_NONE;
    m->flags |= ZA_MF_DEACT;
    int rc = za__gdir_push(s, e, m);
    if (rc == ZA_OK || rc == ZA_EDROPPED) {
        e->messages--; /* the marker is not a message of the user's */
        e->deact_sent = true;
    } else {
        /* ZA_EDEAD: it is ending anyway (za__grain_ended follows); a full
         * bounded mailbox: the sweep sends it again */
        za__msg_free(m);
        if (rc != ZA_EDEAD) e->status = ZA_GRAIN_ACTIVE;
    }
}

void za__gdir_fail_chain(za_system *s, za_msgnode *m, int code, const char *text) {
    while (m) {
        za_msgnode *next = (za_msgnode *)atomic_load_explicit(&m->link.next, memory_order_relaxed);
        if (m->reply) {
            za_reply_slot *r = m->reply;
            m->reply = NULL;
            za__reply_complete(s, r, code, 0, NULL, 0, NULL, NULL, text);
            za__reply_release(r);
        }
        za__dead_letter(s, m,
                        code == ZA_ESHUTDOWN ? ZA_DL_SHUTDOWN
                        : code == ZA_EFULL   ? ZA_DL_DROPPED
                                             : ZA_DL_DEAD_TARGET);
        m = next;
    }
}

static int route(za_system *s, za_grains *g, za_gentry *e, za_msgnode *m) {
    za_gshard *sh = za__gshard(g, e);
    pthread_mutex_lock(&sh->mu);
    /* checked under the lock: shutdown sets it, then deactivates every
     * entry under the same locks, so nothing slips in behind that */
    if (atomic_load_explicit(&g->closing, memory_order_relaxed)) {
        pthread_mutex_unlock(&sh->mu);
        return za__fail(ZA_ESHUTDOWN, "system is shutting down: grain %s/%s is not reachable",
                        e->cls->type, e->key);
    }
    /* cluster: a grain with no activation here goes to its home; one
     * activated here is served here (relocate.c) */
    uint32_t home;
    if (e->status == ZA_GS_NONE && za__grain_moved(s, e, &home)) {
        pthread_mutex_unlock(&sh->mu);
        return za__grain_forward(s, home, e->cls->type, e->key, m, false);
    }
    e->last_ns = za__gnow_ns();
    if (e->status == ZA_GRAIN_ACTIVE) {
        int rc = za__gdir_push(s, e, m);
        if (rc != ZA_EDEAD) {
            pthread_mutex_unlock(&sh->mu);
            return rc;
        }
        /* the activation is ending (failed or stopped on its own): its end
         * hook takes this and reactivates */
        e->status = ZA_GRAIN_DEACTIVATING;
    }
    if (e->cls->capacity && e->nheld >= e->cls->capacity) {
        pthread_mutex_unlock(&sh->mu);
        return za__fail(ZA_EFULL, "grain %s/%s holds %u messages while it (de)activates (capacity)",
                        e->cls->type, e->key, e->nheld);
    }
    za_gact *start = NULL;
    if (e->status == ZA_GS_NONE) {
        start = za__gact_new(s, e);
        if (!start) {
            pthread_mutex_unlock(&sh->mu);
            return za__fail(ZA_ENOMEM, "out of memory");
        }
    }
    za__gdir_hold(e, m);
    if (start) {
        e->status = ZA_GRAIN_ACTIVATING;
        e->ad = start;
        e->messages = 0;
        za__gdir_list(g, e, true);
    }
    pthread_mutex_unlock(&sh->mu);
    if (start) za__gact_begin(start);
    return ZA_OK;
}

int za__grain_send(za_system *s, za_msgnode *m, bool from_outside) {
    za_grains *g = s->grains;
    if (m->flags & ZA_MF_SYSTEM)
        return za__fail(ZA_EINVAL,
                        "grain %#llx: runtime control messages (watch, stop...) do not "
                        "go to a grain reference",
                        (unsigned long long)m->target);
    za_gentry *e = za__gid_lookup(g, m->target);
    if (!e)
        return za__fail(ZA_EINVAL, "%#llx is not a grain reference of this system",
                        (unsigned long long)m->target);
    (void)from_outside;
    return route(s, g, e, m);
}

int za__grain_deliver(za_system *s, const char *type, const char *key, int32_t tag,
                      const void *data, size_t len) {
    za_ref ref;
    int rc = za_grain_ref(s, type, key, &ref);
    if (rc != ZA_OK) return rc;
    if (len > s->cfg.max_payload)
        return za__fail(ZA_ETOOBIG, "payload of %zu bytes exceeds max_payload", len);
    za_msgnode *m = za__msg_new_bytes(tag, data, len);
    if (!m) return za__fail(ZA_ENOMEM, "out of memory");
    m->target = ref;
    m->sender = ZA_REF_NONE;
    rc = za__send_node(s, m, false);
    if (rc != ZA_OK && rc != ZA_EDROPPED) za__msg_free(m);
    return rc == ZA_EDROPPED ? ZA_OK : rc;
}

int za__grain_is_active(za_system *s, za_ref grain) {
    za_gentry *e = za__gid_lookup(s->grains, grain);
    if (!e) return 0;
    za_gshard *sh = za__gshard(s->grains, e);
    pthread_mutex_lock(&sh->mu);
    int on = e->status == ZA_GRAIN_ACTIVE || e->status == ZA_GRAIN_DEACTIVATING;
    pthread_mutex_unlock(&sh->mu);
    return on;
}

int za__grain_stop(za_system *s, za_ref grain) {
    za_gentry *e = za__gid_lookup(s->grains, grain);
    if (!e)
        return za__fail(ZA_EINVAL, "%#llx is not a grain reference of this system",
                        (unsigned long long)grain);
    za_gshard *sh = za__gshard(s->grains, e);
    pthread_mutex_lock(&sh->mu);
    za__gdir_deactivate(s, e, "stopped");
    pthread_mutex_unlock(&sh->mu);
    return ZA_OK;
}

/* The messages the directory routed that are still queued in an ended
 * activation's mailbox, in lane order (the caller owns the turn: it is the
 * lanes' consumer). */
static za_msgnode *salvage(za_system *s, za_actor *a, za_msgnode **tail, uint32_t *n) {
    za_msgnode *head = NULL, *last = NULL;
    bool bounded = atomic_load_explicit(&a->capacity, memory_order_relaxed) != 0;
    for (int lane = ZA_LANE_HIGH; lane <= ZA_LANE_LOW; lane++) {
        for (int spins = 0; spins < 100000;) {
            bool busy = false;
            za_msgnode *m = za__mbox_pop(a, lane, &busy);
            if (!m) {
                if (!busy) break;
                spins++; /* a sender between its exchange and its link: a few ns */
                continue;
            }
            /* it was counted as sent when pushed; it leaves this mailbox now */
            atomic_fetch_sub_explicit(&a->depth, 1,
                                      bounded ? memory_order_release : memory_order_relaxed);
            za__count(s, ZA_C_CONSUMED, 1);
            if (m->flags & ZA_MF_DEACT) { /* meant for this activation only */
                za__msg_free(m);
                continue;
            }
            if (!(m->flags & ZA_MF_DIRECT)) {
                /* not routed by the directory (a store completion, a DOWN
                 * notice, a send to the activation's own ref): it was for
                 * this activation, which is gone */
                za__dead_letter(s, m, ZA_DL_DEAD_TARGET);
                continue;
            }
            atomic_store_explicit(&m->link.next, NULL, memory_order_relaxed);
            if (last)
                atomic_store_explicit(&last->link.next, &m->link, memory_order_relaxed);
            else
                head = m;
            last = m;
            (*n)++;
        }
    }
    *tail = last;
    return head;
}

void za__grain_ended(za_system *s, za_actor *a, void *act, int code, const char *text,
                     bool start_failed) {
    za_gact *ad = act;
    za_grains *g = s->grains;
    if (!ad || !g) return;
    za_gentry *e = ad->e;
    za_gshard *sh = za__gshard(g, e);
    pthread_mutex_lock(&sh->mu);
    uint32_t n = 0;
    za_msgnode *tail = NULL;
    za_msgnode *head = salvage(s, a, &tail, &n);
    za_msgnode *fail = NULL;
    int fail_code = 0;
    char why[1100];
    why[0] = '\0';
    za_gact *next = NULL;
    za_msgnode *moved = NULL;
    uint32_t moved_to = 0;
    uint64_t token = ad->token;
    bool current = e->ad == ad;
    if (!current) {
        /* not the entry's activation any more (cannot happen today): what
         * was queued goes back to the entry all the same */
        if (head) {
            for (za_msgnode *m = head; m;) {
                za_msgnode *nx =
                    (za_msgnode *)atomic_load_explicit(&m->link.next, memory_order_relaxed);
                za__gdir_hold(e, m);
                m = nx;
            }
        }
        pthread_mutex_unlock(&sh->mu);
        za__gact_release(ad);
        return;
    }
    for (za_msgnode *m = head; m;
         m = (za_msgnode *)atomic_load_explicit(&m->link.next, memory_order_relaxed)) {
        m->target = e->ref;
        m->flags &= (uint8_t)~ZA_MF_DIRECT;
    }
    if (head) { /* the salvaged ones were routed first: they go in front */
        atomic_store_explicit(&tail->link.next, e->held_head ? &e->held_head->link : NULL,
                              memory_order_relaxed);
        if (!e->held_head) e->held_tail = tail;
        e->held_head = head;
        e->nheld += n;
    }
    e->ad = NULL;
    e->act = ZA_REF_NONE;
    e->deact_sent = false;
    if (atomic_load_explicit(&g->closing, memory_order_relaxed) && e->held_head) {
        fail = e->held_head;
        fail_code = ZA_ESHUTDOWN;
        snprintf(why, sizeof why, "system is shutting down: grain %s/%s is not reachable",
                 e->cls->type, e->key);
    } else if (start_failed && e->held_head) {
        /* no retry loop: what waited for this activation fails with the
         * reason; the next message tries again */
        fail = e->held_head;
        fail_code = ZA_ESTART;
        snprintf(why, sizeof why, "grain %s/%s failed to activate: %s", e->cls->type, e->key,
                 text && text[0] ? text : "start failed");
    } else if (e->held_head && za__grain_moved(s, e, &moved_to)) {
        /* cluster: its home moved (a join): what waited goes there */
        moved = e->held_head;
        e->held_head = e->held_tail = NULL;
        e->nheld = 0;
    } else if (e->held_head) {
        next = za__gact_new(s, e);
    }
    if (fail) {
        e->held_head = e->held_tail = NULL;
        e->nheld = 0;
    }
    if (next) {
        e->status = ZA_GRAIN_ACTIVATING;
        e->ad = next;
        e->messages = 0;
    } else if (e->held_head) {
        /* out of memory for a new record: keep them held; the next message
         * or sweep retries */
        e->status = ZA_GS_NONE;
    } else {
        e->status = ZA_GS_NONE;
        za__gdir_list(g, e, false);
    }
    pthread_mutex_unlock(&sh->mu);
    (void)code;
    za__grain_lease_drop(s, e->cls->type, e->key, token);
    if (fail) za__gdir_fail_chain(s, fail, fail_code, why);
    if (moved) za__grain_forward_chain(s, e, moved_to, moved);
    za__gact_release(ad);
    if (next) za__gact_begin(next);
}
