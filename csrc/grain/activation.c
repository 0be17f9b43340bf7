/*
 * activation.c - bringing a grain to life: lease (placement) -> read the
 * state (snapshot grains: READ; journaled: snapshot READ + REPLAY of the
 * tail) on a storage thread -> spawn the class's behaviour (restart never)
 * -> push the held messages in order -> ACTIVE.
 *
 * No step holds a directory lock while it calls out (placement, store,
 * spawn): each takes the shard lock only to look at and update the entry.
 * The activation record (za_gact) is shared by this pipeline and by the
 * activation actor (ext->grain_act), hence its reference count.
 */
#include <stdio.h>
#include <stdlib.h>

#include "grain/directory.h"
#include "grain/relocate.h"
#include "grain/grain.h"
#include "grain/placement.h"
#include "system.h"

za_gact *za__gact_new(za_system *s, za_gentry *e) {
    za_gact *ad = calloc(1, sizeof *ad);
    if (!ad) return NULL;
    atomic_init(&ad->refs, 1);
    ad->sys = s;
    ad->e = e;
    return ad;
}

void za__gact_release(za_gact *ad) {
    if (!ad) return;
    /* acq_rel: the last owner sees every write the others made to ad */
    if (atomic_fetch_sub_explicit(&ad->refs, 1, memory_order_acq_rel) != 1) return;
    free(ad->state);
    for (size_t i = 0; i < ad->nevents; i++) free(ad->events[i].data);
    free(ad->events);
    free(ad);
}

static uint64_t unix_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000u;
}

/* The activation could not be made: what waited for it fails with the
 * reason (no retry loop; the next message tries again). */
static void activation_failed(za_gact *ad, int code, const char *what, const char *detail) {
    za_system *s = ad->sys;
    za_grains *g = s->grains;
    za_gentry *e = ad->e;
    za_gshard *sh = za__gshard(g, e);
    char why[1200];
    snprintf(why, sizeof why, "grain %s/%s could not be activated: %s%s%s", e->cls->type, e->key,
             what, detail && detail[0] ? ": " : "", detail ? detail : "");
    za_msgnode *chain = NULL;
    pthread_mutex_lock(&sh->mu);
    if (e->ad == ad) {
        chain = e->held_head;
        e->held_head = e->held_tail = NULL;
        e->nheld = 0;
        e->ad = NULL;
        e->status = ZA_GS_NONE;
        za__gdir_list(g, e, false);
    }
    pthread_mutex_unlock(&sh->mu);
    if (ad->token) za__grain_lease_drop(s, e->cls->type, e->key, ad->token);
    za__gdir_fail_chain(s, chain, code, why);
    za__gact_release(ad);
}

/* Spawn the activation and hand it the held messages. */
static void spawn_activation(za_gact *ad) {
    za_system *s = ad->sys;
    za_grains *g = s->grains;
    za_gentry *e = ad->e;
    za_gclass *cls = e->cls;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.restart = ZA_RESTART_TEMPORARY; /* a failure ends the activation */
    o.capacity = cls->capacity;
    o.full_policy = ZA_FULL_FAIL;
    za__grain_link link = {.grain = e->ref, .act = ad};
    atomic_fetch_add_explicit(&ad->refs, 1, memory_order_relaxed); /* the actor's */
    za_ref ref;
    int rc = za__spawn_grain(s, cls->beh, cls->args, cls->args_len, &o, &link, &ref);
    if (rc != ZA_OK) {
        atomic_fetch_sub_explicit(&ad->refs, 1, memory_order_relaxed);
        activation_failed(ad, rc, "spawn failed", za_last_error());
        return;
    }
    za_gshard *sh = za__gshard(g, e);
    pthread_mutex_lock(&sh->mu);
    za_msgnode *failed = NULL;
    int fail_rc = ZA_OK;
    /* e->ad != ad: the activation already ended (a start that failed or
     * stopped at once) and its end hook settled the entry */
    if (e->ad == ad && e->status == ZA_GRAIN_ACTIVATING) {
        ad->act = ref;
        e->act = ref;
        e->status = ZA_GRAIN_ACTIVE;
        e->since_us = unix_us();
        e->last_ns = za__gnow_ns();
        e->version = ad->version;
        if (cls->journaled) e->version = ad->highest;
        while (e->held_head) {
            za_msgnode *m = e->held_head;
            za_msgnode *nx =
                (za_msgnode *)atomic_load_explicit(&m->link.next, memory_order_relaxed);
            int prc = za__gdir_push(s, e, m);
            if (prc == ZA_EDEAD) {
                /* ended meanwhile: the rest stays held for its end hook */
                e->status = ZA_GRAIN_DEACTIVATING;
                break;
            }
            e->held_head = nx;
            e->nheld--;
            if (!nx) e->held_tail = NULL;
            if (prc != ZA_OK && prc != ZA_EDROPPED) {
                /* a full bounded mailbox: this one is dropped */
                fail_rc = prc;
                atomic_store_explicit(&m->link.next, failed ? &failed->link : NULL,
                                      memory_order_relaxed);
                failed = m;
            }
        }
        if (atomic_load_explicit(&g->closing, memory_order_relaxed))
            za__gdir_deactivate(s, e, "shutdown");
    }
    pthread_mutex_unlock(&sh->mu);
    if (failed) za__gdir_fail_chain(s, failed, fail_rc, "grain mailbox full");
    za__gact_release(ad); /* the pipeline's reference */
}

static void replay_cb(za_store_result *res, void *ud) {
    za_gact *ad = ud;
    if (res->status != ZA_OK) {
        activation_failed(ad, res->status, "reading its journal failed",
                          res->error ? res->error : za_strerror(res->status));
        return;
    }
    ad->events = res->events;
    ad->nevents = res->nevents;
    res->events = NULL;
    res->nevents = 0;
    ad->highest = res->version > ad->version ? res->version : ad->version;
    ad->next_seq = ad->highest;
    spawn_activation(ad);
}

static void read_cb(za_store_result *res, void *ud) {
    za_gact *ad = ud;
    za_gentry *e = ad->e;
    if (res->status != ZA_OK && res->status != ZA_ENOTFOUND) {
        activation_failed(ad, res->status, "reading its state failed",
                          res->error ? res->error : za_strerror(res->status));
        return;
    }
    if (res->status == ZA_OK) {
        if (e->cls->journaled) {
            uint64_t seq;
            size_t off;
            if (za__gsnap_parse(res->data, res->len, &seq, &off) != ZA_OK) {
                activation_failed(ad, ZA_EVALUE, "its stored snapshot is not [seq, state]", NULL);
                return;
            }
            ad->snap_version = res->version;
            ad->next_snap = res->version;
            ad->version = seq;
            ad->state_len = res->len - off;
            ad->state = malloc(ad->state_len ? ad->state_len : 1);
            if (!ad->state) {
                activation_failed(ad, ZA_ENOMEM, "out of memory", NULL);
                return;
            }
            memcpy(ad->state, (const char *)res->data + off, ad->state_len);
        } else {
            ad->state = res->data;
            ad->state_len = res->len;
            res->data = NULL;
            res->len = 0;
            ad->version = res->version;
            ad->next_version = res->version;
        }
    }
    if (!e->cls->journaled) {
        spawn_activation(ad);
        return;
    }
    za_store_req q = {
        .op = ZA_STORE_REPLAY, .type = e->cls->type, .id = e->key, .version = ad->version + 1};
    int rc = za_store_submit(ad->sys->grains->store, &q, replay_cb, ad);
    if (rc != ZA_OK) activation_failed(ad, rc, "reading its journal failed", za_last_error());
}

static void lease_cb(int status, uint64_t token, void *ud) {
    za_gact *ad = ud;
    za_gentry *e = ad->e;
    if (status == ZA_EEXIST && token && token != ad->sys->node_id) {
        za__gact_lease_held(ad, (uint32_t)token); /* cluster: token = the holder */
        return;
    }
    if (status != ZA_OK) {
        activation_failed(ad, status, "its lease could not be taken", za_strerror(status));
        return;
    }
    ad->token = token;
    za_store_req q = {.op = ZA_STORE_READ, .type = e->cls->type, .id = e->key};
    int rc = za_store_submit(ad->sys->grains->store, &q, read_cb, ad);
    if (rc != ZA_OK) activation_failed(ad, rc, "reading its state failed", za_last_error());
}

void za__gact_begin(za_gact *ad) {
    za_gentry *e = ad->e;
    int rc = za__grain_lease_take(ad->sys, e->cls->type, e->key, lease_cb, ad);
    if (rc != ZA_OK) activation_failed(ad, rc, "its lease could not be taken", za_last_error());
}
