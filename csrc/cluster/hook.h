/*
 * hook.h - the few calls the core makes into the cluster (csrc/cluster/).
 * Each is reached only when a reference names another node or the system
 * has a cluster, so a single-process system never enters this code.
 */
#ifndef ZA_CLUSTER_HOOK_H
#define ZA_CLUSTER_HOOK_H

#include "msgnode.h"

/* A message whose target is on another node. ZA_OK: the cluster owns m
 * (sent, or turned into a dead letter when the node is down); an error:
 * the caller still owns m. */
int za__cluster_send(za_system *s, za_msgnode *m, bool from_outside);
/* A reference to another node: 1 while its node is a live member. */
int za__cluster_is_alive(za_system *s, za_ref ref);
/* The identity refs of this cluster's members carry in the value model
 * (za_system_id of a member): the same on every member, from the cluster
 * name, so a reference written on one node reads on any other (its node
 * bits say where it lives), and never in another cluster or a lone System. */
uint64_t za__cluster_identity(const za_cluster *c);

/* system.c: join a system to its cluster (sets node_id), stop the links
 * at shutdown, drop the system's hold at free. */
int za__cluster_attach(za_system *s, za_cluster *c);
void za__cluster_detach(za_system *s);
void za__cluster_release(za_cluster *c);
/* system.c, once the grain directory and the workers run: until then the
 * cluster's threads leave grains alone (placement.c). */
void za__cluster_grains_ready(za_system *s);

/* registry.c: names are cluster-wide. put: ZA_OK or ZA_EEXIST/...; drop is
 * asynchronous; get: ZA_OK with *out, or ZA_ENOTFOUND. */
int za__cluster_name_put(za_system *s, const char *name, za_ref ref);
void za__cluster_name_drop(za_system *s, const char *name, za_ref ref);
int za__cluster_name_get(za_system *s, const char *name, za_ref *out);

#endif
