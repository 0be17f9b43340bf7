/*
 * Pickled Python objects between Python nodes (ZA_TAG_PICKLE): opt-in per
 * node and only in a cluster with a secret, because loading a pickle runs
 * code chosen by the sender. The Python binding pickles; the runtime only
 * decides, on the receiving node's network thread, whether such a message
 * may be delivered: to a Python actor on a node that said yes. Anything
 * else (a Lua or C actor, a node without pickle) is a dead letter, and an
 * ask gets an error reply that says why.
 */
#include <stdbool.h>
#include <stdio.h>

#include "cluster.h"
#include "system.h"

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

static bool is_python(const za_behaviour *b) {
    return b->host && b->host->name && strcmp(b->host->name, "python") == 0;
}

/* "lua" (the Lua host's behaviour has no za_host), "native C" */
static const char *kind_of(const za_behaviour *b) {
    if (b->host && b->host->name) return b->host->name;
    return b->name && strcmp(b->name, "lua") == 0 ? "lua" : "native C";
}

int za__pickle_check(za_cluster *c, za_system *s, za_ref target, char *why, size_t cap) {
    if (!atomic_load_explicit(&c->pickle, memory_order_relaxed)) {
        snprintf(why, cap,
                 "node %u (%s) does not accept pickled Python objects (Cluster(pickle=True) "
                 "with a secret)",
                 c->self.id, c->self.name);
        return ZA_EINVAL;
    }
    /* NULL: dead (the send reports it), or its start has not run yet (the
     * behaviour is set then): its host refuses what is not for it (the
     * Python glue and the Lua host check the tag too) */
    const za_behaviour *b = za_ref_behaviour(s, target);
    if (b && !is_python(b)) {
        snprintf(why, cap, "a pickled Python object cannot go to a %s actor", kind_of(b));
        return ZA_EINVAL;
    }
    return ZA_OK;
}

int za__pickle_send_check(za_system *s, za_ref sender) {
    /* a thread outside actors (trusted: the process's own code) or a
     * Python actor; nothing else makes pickles */
    if (!sender || za_ref_node(sender) != s->node_id) return ZA_OK;
    const za_behaviour *b = za_ref_behaviour(s, sender);
    if (!b || is_python(b)) return ZA_OK;
    return za__fail(ZA_EINVAL,
                    "tag %d (ZA_TAG_PICKLE) is reserved for pickled Python objects: "
                    "a %s actor cannot send it",
                    (int)ZA_TAG_PICKLE, kind_of(b));
}
