/*
 * directory.h - the grain runtime's private structures, shared by the files
 * of csrc/grain/ (identity.c, directory.c, activation.c, persist.c, idle.c,
 * grains.c). Nothing outside csrc/grain/ includes it.
 *
 * One record (za_gentry) per distinct (type, key) ever named in a system:
 * its identity (immutable once published, so a grain reference resolves to
 * it without a lock) and its directory entry (status, current activation,
 * held messages), guarded by the lock of the shard the identity index falls
 * in. Records live as long as the system (README.md: the cost per key).
 */
#ifndef ZA_GRAIN_DIRECTORY_H
#define ZA_GRAIN_DIRECTORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "actor.h"
#include "common.h"
#include "msgnode.h"

#define ZA_GSHARDS 64u /* directory shards (a power of 2) */
#define ZA_GCHUNK_BITS 14u
#define ZA_GCHUNK (1u << ZA_GCHUNK_BITS)
#define ZA_GCHUNKS (1u << 14) /* so at most 2^28 identities per system */
#define ZA_GIDX_BITS 40u      /* identity index bits of a grain ref; 12 more: the salt */
#define ZA_GRAIN_KEY_MAX 1024u
#define ZA_GRAIN_TYPE_MAX 255u

/* A registered class: the copy za_grain_register made. */
typedef struct za_gclass {
    char *type;
    size_t type_len;
    const za_behaviour *beh;
    void *args;
    size_t args_len;
    uint32_t idle_ms;
    int journaled;
    uint32_t snapshot_every;
    uint32_t capacity;
} za_gclass;

typedef struct za_gact za_gact;             /* one activation's record (activation.c) */
typedef struct za__reminders za__reminders; /* the reminder thread's state (reminders.c) */

/* entry status: 0 = no activation (ZA_GRAIN_* otherwise) */
enum { ZA_GS_NONE = 0 };

typedef struct za_gentry {
    /* identity: written before the record is published, then read-only */
    uint64_t idx;
    za_ref ref;
    za_gclass *cls;
    char *key;
    uint32_t key_len;
    uint32_t hash;
    struct za_gentry *hnext; /* identity hash chain (identities' mutex) */

    /* directory: under the shard's lock */
    uint8_t status;  /* ZA_GS_NONE or za_grain_status */
    bool deact_sent; /* the deactivation marker was pushed */
    bool listed;     /* on the shard's list of live entries */
    za_ref act;      /* the activation actor (ACTIVE / DEACTIVATING) */
    za_gact *ad;     /* the current activation's record */
    za_msgnode *held_head, *held_tail;
    uint32_t nheld;
    uint64_t version;                /* stored version last read or written */
    uint64_t since_us;               /* the activation's start (unix us) */
    uint64_t last_ns;                /* last message routed (monotonic) */
    uint64_t messages;               /* routed to this activation */
    struct za_gentry *lnext, *lprev; /* the shard's live entries */
} za_gentry;

typedef struct za_gshard {
    pthread_mutex_t mu;
    za_gentry *live; /* entries whose status is not NONE */
    uint32_t nlive;
} __attribute__((aligned(ZA_CACHELINE))) za_gshard;

/* One activation: what its start reads and what its writes expect. Owned by
 * the directory; referenced by the activation actor (ext->grain_act) and
 * by the loading pipeline, hence the count. */
struct za_gact {
    _Atomic int refs;
    za_system *sys;
    za_gentry *e;
    za_ref act;     /* the actor, once spawned */
    uint64_t token; /* lease fencing token (0: none) */
    /* loaded state */
    void *state;
    size_t state_len;
    uint64_t version; /* snapshot-state grains: stored version; journaled: snapshot seq */
    za_store_event *events;
    size_t nevents;
    uint64_t highest;      /* journaled: the journal's highest seq */
    uint64_t snap_version; /* journaled: the stored version of the snapshot row */
    /* pipelined writes: what the next submit must expect (written only by
     * the activation's own turns) */
    uint64_t next_version; /* state row version after the last submitted write */
    uint64_t next_seq;     /* journal: seq of the last submitted append */
    uint64_t next_snap;    /* journaled: snapshot row version after the last snapshot */
    /* writes submitted and not completed: the idle sweep leaves such an
     * activation alone (its completions are still to come) */
    _Atomic int inflight;
    /* ZA_ECONFLICT / ZA_EFENCED once a write of this activation failed so:
     * its view of the state is stale and later writes are refused */
    _Atomic int stale;
};

typedef struct za_grains {
    za_store *store;
    uint32_t salt; /* 12 bits in every grain ref: a ref of another system is refused */

    pthread_mutex_t cls_mu;
    za_gclass **classes;
    size_t nclasses, capclasses;

    /* identities: hash (type, key) -> record under id_mu; index -> record
     * through the chunk table, read without a lock */
    pthread_mutex_t id_mu;
    za_gentry **htab;
    size_t hcap, hcount;
    _Atomic(za_gentry **) chunks[ZA_GCHUNKS];
    uint64_t nids; /* under id_mu; indexes start at 1 */

    za_gshard shards[ZA_GSHARDS];
    _Atomic int64_t live; /* entries not NONE, for shutdown's wait */
    _Atomic bool closing; /* shutdown began: no new messages, no activations */

    /* the idle sweep (idle.c) */
    pthread_mutex_t sw_mu;
    pthread_cond_t sw_cv;
    pthread_t sw_thread;
    bool sw_started, sw_stop;
    _Atomic uint32_t min_idle_ms; /* smallest idle_ms of the classes */

    za__reminders *reminders; /* reminders.c */
} za_grains;

/* The directory's clock for idle times: the coarse monotonic clock (a few
 * ms of resolution, which idle timeouts do not need) costs a memory read,
 * not a timer read, on every routed message. */
static inline uint64_t za__gnow_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline za_gshard *za__gshard(za_grains *g, const za_gentry *e) {
    return &g->shards[e->idx & (ZA_GSHARDS - 1)];
}

/* identity.c */
int za__gid_init(za_grains *g);
void za__gid_free(za_grains *g);
/* The record of (cls, key), created on first use. ZA_OK or ZA_ENOMEM. */
int za__gid_intern(za_grains *g, za_gclass *cls, const char *key, size_t key_len, za_gentry **out);
/* The record a grain ref names, or NULL (not a grain ref of this system). */
za_gentry *za__gid_lookup(za_grains *g, za_ref ref);
/* Calls fn for each record (under no shard lock); for teardown. */
void za__gid_each(za_grains *g, void (*fn)(za_grains *g, za_gentry *e, void *ud), void *ud);

/* directory.c (callers hold the entry's shard lock where said) */
void za__gdir_hold(za_gentry *e, za_msgnode *m);           /* locked */
void za__gdir_list(za_grains *g, za_gentry *e, bool live); /* locked */
/* Push m to the activation under the lock: ZA_OK / ZA_EDROPPED (consumed),
 * ZA_EDEAD (the activation is ending: m is still the caller's), an error. */
int za__gdir_push(za_system *s, za_gentry *e, za_msgnode *m); /* locked */
/* Ask the activation to deactivate: the marker goes after everything
 * routed before (locked; ACTIVE entries only). */
void za__gdir_deactivate(za_system *s, za_gentry *e, const char *reason);
/* Fail a chain of held messages: asks get (code, text), tells become dead
 * letters. Not under a lock. */
void za__gdir_fail_chain(za_system *s, za_msgnode *m, int code, const char *text);

/* activation.c */
/* A new activation record for e (refs 1: the loading pipeline). */
za_gact *za__gact_new(za_system *s, za_gentry *e);
void za__gact_release(za_gact *ad);
/* Start the pipeline lease -> load -> spawn -> flush for ad (no lock held). */
void za__gact_begin(za_gact *ad);

/* persist.c: a journaled grain's snapshot row is the MessagePack array
 * [seq, state] (still one value in the value model, readable from every
 * language). parse: ZA_OK with the seq and the offset of state. */
int za__gsnap_parse(const void *data, size_t len, uint64_t *seq, size_t *off);

/* idle.c */
int za__gidle_start(za_system *s);
void za__gidle_stop(za_system *s);

#endif
