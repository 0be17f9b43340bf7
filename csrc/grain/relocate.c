/*
 * relocate.c - the grain directory in a cluster (see relocate.h). The rule
 * that keeps one activation per grain is the lease (csrc/cluster/lease.c);
 * what this file adds is where messages go so that they reach it:
 *  - a message for a grain with no activation here goes to its home
 *    (directory.c's route asks za__grain_moved under the entry's lock), one
 *    with an activation here (active, activating or deactivating) stays:
 *    the activation serves it, whatever the view says meanwhile;
 *  - messages held while an activation ended go to the home if it moved
 *    (a join), else they activate the grain here again;
 *  - messages held for an activation whose lease another live node holds
 *    go to that node;
 *  - after a join every node deactivates the activations whose home moved,
 *    after an expulsion all of them.
 */
#include <stdio.h>

#include "grain/relocate.h"
#include "grain/placement.h"
#include "system.h"

bool za__grain_moved(za_system *s, za_gentry *e, uint32_t *home) {
    if (!s->cluster) return false;
    *home = za__grain_home(s, e->cls->type, e->key);
    return *home != s->node_id;
}

void za__grain_forward_chain(za_system *s, za_gentry *e, uint32_t node, za_msgnode *chain) {
    while (chain) {
        za_msgnode *next =
            (za_msgnode *)atomic_load_explicit(&chain->link.next, memory_order_relaxed);
        atomic_store_explicit(&chain->link.next, NULL, memory_order_relaxed);
        chain->target = e->ref;
        int rc = za__grain_forward(s, node, e->cls->type, e->key, chain, false);
        if (rc != ZA_OK) {
            char why[1400];
            snprintf(why, sizeof why, "grain %s/%s could not be forwarded to node %u: %s",
                     e->cls->type, e->key, node, za_last_error());
            za__gdir_fail_chain(s, chain, rc, why);
        }
        chain = next;
    }
}

void za__gact_lease_held(za_gact *ad, uint32_t holder) {
    za_system *s = ad->sys;
    za_grains *g = s->grains;
    za_gentry *e = ad->e;
    za_gshard *sh = za__gshard(g, e);
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
    za__grain_forward_chain(s, e, holder, chain);
    za__gact_release(ad);
}

void za__grains_relocate(za_system *s, bool all, const char *reason) {
    za_grains *g = s->grains;
    if (!g || atomic_load_explicit(&g->closing, memory_order_relaxed)) return;
    for (uint32_t i = 0; i < ZA_GSHARDS; i++) {
        za_gshard *sh = &g->shards[i];
        pthread_mutex_lock(&sh->mu);
        for (za_gentry *e = sh->live; e; e = e->lnext) {
            uint32_t home;
            if (e->status == ZA_GRAIN_ACTIVE && (all || za__grain_moved(s, e, &home)))
                za__gdir_deactivate(s, e, reason);
        }
        pthread_mutex_unlock(&sh->mu);
    }
}
