/*
 * cluster.h - the cluster object shared by the files of csrc/cluster/:
 * transport.c (the network thread, ZeroMQ), membership.c (the membership
 * thread, Redis), remote.c (messages to and from other nodes), names.c
 * (the cluster-wide registry), envelope.c (the wire form), cluster.c
 * (configuration, lifetime, the public za_cluster_* calls).
 */
#ifndef ZA_CLUSTER_H
#define ZA_CLUSTER_H

#include <pthread.h>

#include <hiredis/hiredis.h>
#include <msgpack.h>

#include "common.h"
#include "mpsc.h"

#define ZA_NODES (ZA_NODE_MAX + 1) /* node ids 1..ZA_NODE_MAX; 0 is unused */

enum { NODE_NONE = 0, NODE_ALIVE = 1, NODE_DEAD = 2 };

/* What this node knows of one member. Records are made once per id and
 * kept until the cluster is freed; a new incarnation of the id (a higher
 * epoch) overwrites the fields under view_mu. state is read without the
 * lock on the send path. */
typedef struct za_node_rec {
    _Atomic int state; /* NODE_* */
    bool confirmed;    /* seen in the Redis table (not only in a frame header) */
    za_node_info info; /* under view_mu */
} za_node_rec;

/* The link to one member (transport.c). Any thread sends on it under mu:
 * the envelope goes out from the sender's own thread, with no hand-off to
 * the network thread (see transport.c). */
typedef struct za_peer {
    pthread_mutex_t mu;
    void *sock;             /* DEALER connected to the member, or NULL */
    uint64_t epoch;         /* the incarnation sock was opened for */
    uint64_t gen;           /* view_gen when the link was last checked */
    msgpack_sbuffer batch;  /* header + envelopes not yet sent */
    _Atomic int waiters;    /* senders queued on mu: the last one flushes */
    bool stalled;           /* the batch waits for room in the peer's queue */
    bool urgent;            /* the batch holds an ask, a reply...: send it now */
    bool due;               /* on the network thread's list: it sends the batch */
    uint64_t last_flush_ns; /* when a frame last left (stream detection) */
} za_peer;

/* Work for the membership thread, from other threads. */
typedef struct za_mreq {
    struct za_mreq *next;
    int kind; /* MREQ_* */
    uint32_t node;
    za_ref ref;
    char name[];
} za_mreq;
enum { MREQ_SUSPECT = 1, MREQ_NAME_DROP = 2, MREQ_REFRESH = 3 };

struct za_pending; /* remote.c */
struct za_rwatch;  /* remote.c */
struct za_rspawn;  /* remote_spawn.c */

struct za_cluster {
    _Atomic int refs; /* the user's handle + an attached system */
    za_cluster_config cfg;
    char *redis_host, *redis_pass;
    int redis_port, redis_db;
    char *name, *node_name, *listen, *advertise; /* owned copies */
    char prefix[160];                            /* "za:<name>:" Redis key prefix */

    za_node_info self;
    _Atomic(za_system *) sys; /* NULL until attached, and again after detach */

    /* the view: per-id records, made lazily */
    pthread_mutex_t view_mu;
    _Atomic(za_node_rec *) nodes[ZA_NODES];
    _Atomic uint64_t view_gen; /* bumped when a record changes: the net thread resyncs */
    _Atomic bool expelled;     /* this node was declared dead: everything remote is off */
    _Atomic bool redis_down;   /* the last Redis round trip failed (HTTP /health/ready) */

    /* the network thread */
    void *zctx;
    void *router; /* bound at create (net thread owns it once started) */
    /* CURVE, when a secret is set: every node has the same keypair, and the
     * ZAP handler admits only clients that prove they hold its secret half */
    bool curve;
    char curve_sec[41], curve_pub[41]; /* Z85 */
    uint8_t curve_pub_bin[32];
    void *zap;     /* REP on inproc://zeromq.zap.01 (net thread) */
    void *monitor; /* PAIR: the router's handshake failures (net thread) */
    pthread_t net_thread;
    bool net_started;
    _Atomic bool net_stop;
    int wake_fd;               /* eventfd the net thread polls (stop) */
    za_peer *peers;            /* by node id (ZA_NODES) */
    _Atomic bool links_closed; /* after za__net_stop: nothing is sent any more */
    _Atomic int nstalled;      /* peers with a stalled batch (transport.c) */
    pthread_mutex_t due_mu;    /* the ids whose batch of tells the net thread sends */
    uint32_t *due, ndue;
    _Atomic int wake_pending; /* 1 while a wake-up is written, not yet consumed */
    char header[200];         /* this node's packed batch header (constant after join) */
    size_t header_len;

    /* the membership thread */
    redisContext *mredis; /* membership thread only */
    pthread_t mem_thread;
    bool mem_started;
    pthread_mutex_t mem_mu;
    pthread_cond_t mem_cv;
    bool mem_stop;
    za_mreq *mreqs;         /* under mem_mu */
    uint64_t table_version; /* membership thread; mirrored into stats */

    /* synchronous Redis calls from any thread (names) */
    pthread_mutex_t sync_mu;
    redisContext *sredis;

    /* remote.c */
    pthread_mutex_t pend_mu;
    struct za_pending **pend; /* corr -> pending ask, chained buckets */
    uint32_t npend_buckets;
    _Atomic uint64_t next_corr;
    pthread_mutex_t watch_mu;
    struct za_rwatch *watches; /* local watcher -> remote target */

    /* grains (placement.c, lease.c): the live members as rendezvous sees
     * them, rebuilt when view_gen moved; the lease thread (made on first use) */
    pthread_mutex_t place_mu;
    uint64_t place_gen; /* view_gen + 1 of the snapshot (0: none yet) */
    struct za_hrw_node *place_nodes;
    size_t place_n, place_cap;
    struct za_lease *_Atomic lease;
    pthread_mutex_t lease_mu;  /* creating / stopping the lease thread */
    bool lease_closed;         /* under lease_mu: the cluster is leaving, no new thread */
    _Atomic bool grains_ready; /* the attached system's directory exists (placement.c) */

    /* remote_spawn.c: remote spawn (allow-list, handlers, the spawn thread) */
    struct za_rspawn *rspawn;
    _Atomic bool pickle; /* ZA_TAG_PICKLE messages accepted (secret only) */

    _Atomic(za_node_event_fn) ev_fn;
    _Atomic(void *) ev_ud;
    pthread_mutex_t ev_mu; /* serialises event calls with on_event changes */

    struct {
        _Atomic uint64_t sent, received, batches_out, malformed, fenced, dropped, votes, nodes_down,
            redis_errors, table_version, auth_failed;
    } st;
};

/* cluster.c */
za_node_rec *za__node_rec(za_cluster *c, uint32_t id);      /* NULL if never seen */
za_node_rec *za__node_rec_make(za_cluster *c, uint32_t id); /* view_mu held */
void za__node_event(za_cluster *c, za_node_event_kind kind, const za_node_info *info);
redisContext *za__redis_connect(za_cluster *c); /* NULL on failure (za__fail set) */
bool za__redis_ok(za_cluster *c, redisContext *rc, redisReply *r); /* counts failures */
void za__mreq_push(za_cluster *c, za_mreq *rq);

/* transport.c */
int za__net_curve_keys(za_cluster *c, const char *secret); /* check the key, derive */
int za__net_bind(za_cluster *c);                           /* at create: bind, learn the endpoint */
int za__net_start(za_cluster *c);
void za__net_stop(za_cluster *c);
void za__net_free(za_cluster *c); /* after za__net_stop */
/* Send one envelope to a member now, from the calling thread (any): under
 * the peer's lock, batched with the envelopes of senders queued on the same
 * lock. ZA_OK also when the link is down (the envelope is dropped and
 * counted: at-most-once). */
struct za_env;
int za__net_send(za_cluster *c, uint32_t node, const struct za_env *e);

/* membership.c */
int za__mem_join(za_cluster *c); /* at create, on the sync connection */
int za__mem_start(za_cluster *c);
void za__mem_stop(za_cluster *c); /* and leave the table */

/* remote.c */
int za__remote_init(za_cluster *c);
void za__remote_free(za_cluster *c);
/* One decoded envelope from node `from` (net thread). */
struct za_env;
void za__remote_deliver(za_cluster *c, uint32_t from, const struct za_env *e);
/* A member was declared dead (membership thread) or everything went away
 * (detach, expulsion: id 0 = all nodes). */
void za__remote_node_down(za_cluster *c, uint32_t id, int code, const char *why);
/* Encode and queue a heartbeat or any envelope (any thread). */
int za__remote_post(za_cluster *c, uint32_t node, const struct za_env *e);

/* remote_spawn.c */
int za__rspawn_init(za_cluster *c);
void za__rspawn_stop(za_cluster *c); /* joins the spawn thread (detach) */
void za__rspawn_free(za_cluster *c);
/* Is this target the node's spawn service (slot 0, generation 0)? */
#define ZA__SPAWNER_REF(node) za_ref_make((node), 0, 0)
static inline bool za__is_spawner(za_ref r) {
    return za_ref_slot(r) == 0 && za_ref_gen(r) == 0;
}
/* An envelope for the spawn service (net thread). */
void za__rspawn_request(za_cluster *c, uint32_t from, const struct za_env *e);
/* pickle.c */
/* May sender (ZA_REF_NONE: a thread outside actors) send a ZA_TAG_PICKLE
 * message to another node? Only Python actors and plain threads: a
 * sandboxed Lua actor must not make pickles another node will load. */
int za__pickle_send_check(za_system *s, za_ref sender);
/* A ZA_TAG_PICKLE message for target: ZA_OK to deliver, else a refusal
 * code with why filled (net thread). */
int za__pickle_check(za_cluster *c, za_system *s, za_ref target, char *why, size_t cap);

#endif
