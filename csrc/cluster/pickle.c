/*
 * Pickled Python objects between Python nodes (ZA_TAG_PICKLE): opt-in per
 * node and only in a cluster with a secret, because loading a pickle runs
 * code chosen by the sender. The Python binding pickles; the runtime only
 * decides, on the receiving node's network thread, whether such a message
 * may be delivered: to a Python actor on a node that said yes. Anything
 * else (a Lua or C actor, a node without pickle) is a dead letter, and an
 * ask gets an error reply that says why.
 */
#include <stdio.h>

#include "cluster.h"

int za_cluster_allow_pickle(za_cluster *c, int on) {
    if (!c) return za__fail(ZA_EINVAL, "cluster is NULL");
    if (on && !c->curve)
        return za__fail(ZA_EINVAL, "pickle needs a cluster secret: unpickling runs code, so "
                                   "only members holding the key may send pickles");
    atomic_store_explicit(&c->pickle, on != 0, memory_order_relaxed);
    return ZA_OK;
}

int za_cluster_pickle_allowed(za_cluster *c) {
    return c && atomic_load_explicit(&c->pickle, memory_order_relaxed);
}

int za__pickle_check(za_cluster *c, za_system *s, za_ref target, char *why, size_t cap) {
    if (!atomic_load_explicit(&c->pickle, memory_order_relaxed)) {
        snprintf(why, cap,
                 "node %u (%s) does not accept pickled Python objects (Cluster(pickle=True) "
                 "with a secret)",
                 c->self.id, c->self.name);
        return ZA_EINVAL;
    }
    const za_behaviour *b = za_ref_behaviour(s, target);
    if (b && (!b->host || !b->host->name || strcmp(b->host->name, "python") != 0)) {
        snprintf(why, cap, "a pickled Python object cannot go to a %s actor",
                 b->host && b->host->name ? b->host->name : "native C");
        return ZA_EINVAL;
    }
    return ZA_OK; /* (a dead target: the send reports it) */
}
