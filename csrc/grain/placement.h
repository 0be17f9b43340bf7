/*
 * placement.h - where a grain lives and who may activate it: the calls the
 * grain directory makes into placement. Outside a cluster every grain lives
 * here and needs no lease (placement.c); in a cluster, home = rendezvous
 * hashing of (type, key) over the live members and the lease is a Redis
 * key whose token fences state writes (csrc/cluster/).
 */
#ifndef ZA_GRAIN_PLACEMENT_H
#define ZA_GRAIN_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "msgnode.h"

/* The node id of the grain's home: za_system_node(s) when it is here
 * (always outside a cluster). */
uint32_t za__grain_home(za_system *s, const char *type, const char *key);

/* Take the activation lease of (type, key) for this node. cb runs exactly
 * once, on any thread (possibly before this returns), with ZA_OK and the
 * fencing token (0 outside a cluster: no fencing), or an error: ZA_EEXIST
 * (a live node holds it; then `token` is that node's id: forward the
 * held messages there with za__grain_forward), ZA_ECONNECT (Redis
 * unreachable), ZA_ENODEDOWN (this node is no longer a member: expelled
 * or leaving). Returns ZA_OK when cb will run, an error (cb will not run)
 * otherwise. In a cluster cb runs on the lease thread, never inline. */
typedef void (*za__lease_cb)(int status, uint64_t token, void *ud);
int za__grain_lease_take(za_system *s, const char *type, const char *key, za__lease_cb cb,
                         void *ud);
/* Give the lease back (deactivation). Asynchronous; no-op outside a cluster. */
void za__grain_lease_drop(za_system *s, const char *type, const char *key, uint64_t token);

/* A message for a grain whose home is another node. ZA_OK: placement owns
 * m (sent, or made a dead letter); an error: the caller still owns m. */
int za__grain_forward(za_system *s, uint32_t node, const char *type, const char *key, za_msgnode *m,
                      bool from_outside);

#endif
