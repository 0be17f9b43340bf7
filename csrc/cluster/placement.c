/*
 * Grain placement in a cluster: a grain's home is the rendezvous winner
 * (hrw.c) over the live members this node sees, and the directory asks the
 * home for the Redis lease (lease.c) before activating. Two nodes whose
 * views differ for a moment (a join or a death not yet read by both) may
 * each think they are home: the lease makes the activation single anyway,
 * and the loser forwards to the holder.
 *
 * When the view changes (membership thread): after a join, the grains
 * active here whose home is now another node are deactivated (they save
 * first, in their deactivate handler) and their next message goes to the
 * new home; after this node is expelled every activation here is
 * deactivated (its writes are fenced by the takeover's newer token anyway).
 */
#include <stdlib.h>

#include "cluster.h"
#include "gplace.h"
#include "hook.h"
#include "grain/grain.h"
#include "grain/relocate.h"
#include "system.h"

_Thread_local int za__grain_hops;

/* Rebuild the members snapshot if the view moved (place_mu held). */
static void refresh(za_cluster *c) {
    /* acquire: pairs with the release increments of view_gen made after a
     * record's state and info changed (membership.c, transport.c) */
    uint64_t gen = atomic_load_explicit(&c->view_gen, memory_order_acquire) + 1;
    if (gen == c->place_gen) return;
    size_t n = 0;
    pthread_mutex_lock(&c->view_mu);
    bool expelled = atomic_load_explicit(&c->expelled, memory_order_acquire);
    for (uint32_t id = 1; id < ZA_NODES && !expelled; id++) {
        za_node_rec *r = atomic_load_explicit(&c->nodes[id], memory_order_relaxed);
        if (!r || !r->confirmed) continue; /* a frame is not membership: the table is */
        if (atomic_load_explicit(&r->state, memory_order_relaxed) != NODE_ALIVE) continue;
        if (n == c->place_cap) {
            size_t cap = c->place_cap ? 2 * c->place_cap : 16;
            za_hrw_node *nn = realloc(c->place_nodes, cap * sizeof *nn);
            if (!nn) break; /* keep what fits: a smaller view still names a live home */
            c->place_nodes = nn;
            c->place_cap = cap;
        }
        c->place_nodes[n++] = (za_hrw_node){id, r->info.epoch};
    }
    pthread_mutex_unlock(&c->view_mu);
    c->place_n = n;
    c->place_gen = gen;
}

uint32_t za__cluster_grain_home(za_cluster *c, const char *type, const char *key) {
    uint64_t h = za__hrw_grain_hash(type, strlen(type), key, strlen(key));
    pthread_mutex_lock(&c->place_mu);
    refresh(c);
    int i = za__hrw_pick(h, c->place_nodes, c->place_n);
    uint32_t home = i < 0 ? c->self.id : c->place_nodes[i].id;
    pthread_mutex_unlock(&c->place_mu);
    return home;
}

void za__cluster_grains_ready(za_system *s) {
    /* release: pairs with the acquire loads below and in remote.c's
     * grain_in: the directory (s->grains) is complete when seen ready */
    atomic_store_explicit(&s->cluster->grains_ready, true, memory_order_release);
}

void za__cluster_grains_view_changed(za_cluster *c, bool joined, bool expelled) {
    /* acquire: pairs with the release store of sys in za__cluster_attach's
     * CAS; a detached system (NULL) has no grains to move */
    za_system *s = atomic_load_explicit(&c->sys, memory_order_acquire);
    if (!s || !atomic_load_explicit(&c->grains_ready, memory_order_acquire)) return;
    /* a death moves nothing active here (the dead node's grains activate
     * at their new homes on their next message); a join moves the grains
     * the newcomer now wins; an expulsion everything */
    if (expelled)
        za__grains_relocate(s, true, "expelled");
    else if (joined)
        za__grains_relocate(s, false, "moved");
    za__reminders_members_changed(s); /* reminder ownership moves with homes */
}
