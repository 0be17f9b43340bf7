/*
 * gplace.h - grains in a cluster (csrc/cluster/placement.c, lease.c and the
 * grain envelope in remote.c): the cluster's answers behind
 * csrc/grain/placement.h, and the rendezvous function the unit test checks.
 */
#ifndef ZA_CLUSTER_GPLACE_H
#define ZA_CLUSTER_GPLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grain/placement.h"

/* One live member as placement sees it: a node incarnation. */
typedef struct za_hrw_node {
    uint32_t id;
    uint64_t epoch;
} za_hrw_node;

/* The grain's part of every score: a stable 64-bit hash of type NUL key
 * (the same on every node, every platform and every run). */
uint64_t za__hrw_grain_hash(const char *type, size_t tlen, const char *key, size_t klen);
/* The score of (grain, node): the node with the highest score is home. */
uint64_t za__hrw_score(uint64_t grain_hash, za_hrw_node n);
/* Rendezvous (highest random weight) over nodes[0..n): the index of the
 * winner, or -1 when n == 0. Ties (practically never) go to the lower id. */
int za__hrw_pick(uint64_t grain_hash, const za_hrw_node *nodes, size_t n);

/* placement.c: the home of (type, key) over this node's view of the live
 * members (this node when the view is empty or it was expelled). */
uint32_t za__cluster_grain_home(za_cluster *c, const char *type, const char *key);
/* The view changed (membership thread, after the table was applied): move
 * away the grains whose home moved (a join), deactivate everything after
 * an expulsion, and tell the reminders. */
void za__cluster_grains_view_changed(za_cluster *c, bool joined, bool expelled);
/* Messages a node receives for a grain go through its directory at most
 * this many hops after the first: past it the receiver treats itself as
 * home (the lease still makes the activation single). */
#define ZA_GRAIN_MAX_HOPS 2
/* Forwarded more often than this (a lease holder and a home sending a
 * message to each other while a lease drop is in flight), a message fails
 * (ZA_ENODEDOWN) rather than loop. */
#define ZA_GRAIN_GIVE_UP_HOPS 8
/* The hop count of the grain message being delivered on this thread (set
 * around the directory call by remote.c; read by za__grain_home/forward;
 * the message itself keeps it in za_msgnode.hops for later forwards). */
extern _Thread_local int za__grain_hops;

/* lease.c: the Redis lease, on the lease thread (started on first use). */
int za__lease_take(za_cluster *c, const char *type, const char *key, za__lease_cb cb, void *ud);
void za__lease_drop(za_cluster *c, const char *type, const char *key, uint64_t token);
void za__lease_stop(za_cluster *c); /* flush what is queued, refuse more, join */
void za__lease_free(za_cluster *c); /* at cluster free */

/* grainref.c: grain references inside payloads crossing nodes travel as
 * ext ZA_MP_EXT_GRAIN (type NUL key), never seen by a binding. out: 1 with
 * a rewritten copy in *out (malloc'd), 0 nothing to rewrite (or not one
 * MessagePack value: raw bytes travel as they are), ZA_ENOMEM. in (for an
 * envelope flagged ZA_ENV_F_GRAINREFS): 1 / 0 likewise, or an error with
 * its text (malformed, a type not registered here). */
#define ZA_MP_EXT_GRAIN 2
int za__grainref_out(za_system *s, const void *data, size_t len, void **out, size_t *out_len);
int za__grainref_in(za_system *s, const void *data, size_t len, void **out, size_t *out_len);

/* remote.c: a grain message to node `node` (ZA_ENV_GRAIN); same ownership
 * rule as za__cluster_send. */
int za__cluster_send_grain(za_system *s, uint32_t node, const char *type, const char *key,
                           za_msgnode *m, int hops);

#endif
