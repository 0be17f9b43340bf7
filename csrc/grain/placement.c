/*
 * placement.c - where a grain lives and who may activate it. Outside a
 * cluster every grain lives here and its activation needs no lease; a
 * cluster member (s->cluster) asks csrc/cluster/: the home is the
 * rendezvous winner over the live members (cluster/placement.c, hrw.c),
 * the lease a Redis key whose token fences state writes (cluster/lease.c),
 * and a forward a ZA_ENV_GRAIN envelope (cluster/remote.c).
 */
#include "grain/placement.h"
#include "cluster/cluster.h"
#include "cluster/gplace.h"
#include "system.h"

uint32_t za__grain_home(za_system *s, const char *type, const char *key) {
    if (!s->cluster) return za_system_node(s);
    /* a message that already crossed ZA_GRAIN_MAX_HOPS nodes stays: views
     * that disagree for a moment must not bounce it for ever */
    if (za__grain_hops > ZA_GRAIN_MAX_HOPS) return za_system_node(s);
    return za__cluster_grain_home(s->cluster, type, key);
}

int za__grain_lease_take(za_system *s, const char *type, const char *key, za__lease_cb cb,
                         void *ud) {
    if (s->cluster) return za__lease_take(s->cluster, type, key, cb, ud);
    cb(ZA_OK, 0, ud);
    return ZA_OK;
}

void za__grain_lease_drop(za_system *s, const char *type, const char *key, uint64_t token) {
    if (s->cluster) za__lease_drop(s->cluster, type, key, token);
}

int za__grain_forward(za_system *s, uint32_t node, const char *type, const char *key, za_msgnode *m,
                      bool from_outside) {
    (void)from_outside;
    if (s->cluster && node != za_system_node(s)) {
        int hops = m->hops > za__grain_hops ? m->hops : za__grain_hops;
        if (hops > ZA_GRAIN_GIVE_UP_HOPS)
            return za__fail(ZA_ENODEDOWN,
                            "grain %s/%s: crossed %d nodes without finding one that could "
                            "activate it (membership changing?)",
                            type, key, hops);
        return za__cluster_send_grain(s, node, type, key, m, hops);
    }
    return za__fail(ZA_EINVAL, "grain %s/%s: home is node %u but this system is %s", type, key,
                    node, s->cluster ? "that node" : "not in a cluster");
}
