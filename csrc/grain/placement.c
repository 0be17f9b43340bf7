/*
 * placement.c - grain placement for a system that is not in a cluster:
 * every grain lives here and its activation needs no lease. A cluster
 * member replaces these answers with csrc/cluster/'s (rendezvous home,
 * Redis lease) through s->cluster.
 */
#include "grain/placement.h"
#include "system.h"

uint32_t za__grain_home(za_system *s, const char *type, const char *key) {
    (void)type;
    (void)key;
    return za_system_node(s);
}

int za__grain_lease_take(za_system *s, const char *type, const char *key, za__lease_cb cb,
                         void *ud) {
    (void)s;
    (void)type;
    (void)key;
    cb(ZA_OK, 0, ud);
    return ZA_OK;
}

void za__grain_lease_drop(za_system *s, const char *type, const char *key, uint64_t token) {
    (void)s;
    (void)type;
    (void)key;
    (void)token;
}

int za__grain_forward(za_system *s, uint32_t node, const char *type, const char *key, za_msgnode *m,
                      bool from_outside) {
    (void)s;
    (void)type;
    (void)key;
    (void)m;
    (void)from_outside;
    return za__fail(ZA_EINVAL, "grain home is node %u but this system is not in a cluster", node);
}
