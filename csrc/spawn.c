/*
 * Spawning: check the request, prepare the slot's producer-side words and
 * queue START; the worker that runs START installs the incarnation (see
 * actor.c's ownership rule).
 *
 * A spawn takes resources in steps (extension record, slot, name, a place
 * in the parent's or the system's list, the START message). A failure at
 * any step gives back everything the earlier steps took, on one path.
 */
#include <stdlib.h>

#include "actor.h"
#include "ask.h"
#include "behaviour.h"
#include "grain/grain.h"
#include "label.h"
#include "registry.h"
#include "scheduler.h"
#include "send.h"
#include "slots.h"
#include "system.h"

/* The steps, in order; also the fault-injection points of the test build. */
enum {
    SPAWN_EXT = 1,  /* extension record */
    SPAWN_ARGS,     /* copy of args */
    SPAWN_NAME_DUP, /* copy of the name */
    SPAWN_HOST,     /* host queue */
    SPAWN_SLOT,     /* slot */
    SPAWN_REGISTER, /* name in the registry */
    SPAWN_LINK,     /* entry in the parent's children or the system's roots */
    SPAWN_START,    /* START queued */
};

#ifdef ZA_TESTING
/* tests/c/test_spawn_unwind.c compiles this file with ZA_TESTING and sets
 * this to a step to make that step fail as it would for real. */
_Atomic int za__spawn_fail_at;
#define FAIL_AT(step) (atomic_load_explicit(&za__spawn_fail_at, memory_order_relaxed) == (step))
#else
#define FAIL_AT(step) 0
#endif

void za_spawn_opts_init(za_spawn_opts *o) {
    if (o) memset(o, 0, sizeof *o);
}

static int check_request(za_system *s, const za_behaviour *beh, const void *args, size_t args_len,
                         const za_spawn_opts *opts) {
    if (!beh) return za__fail(ZA_EINVAL, "behaviour is NULL");
    int rc = za__behaviour_check(beh);
    if (rc != ZA_OK) return rc;
    if (!beh->receive)
        return za__fail(ZA_EINVAL, "behaviour '%s' has no receive", beh->name ? beh->name : "?");
    if (args_len && !args) return za__fail(ZA_EINVAL, "args is NULL but args_len is %zu", args_len);
    if (beh->state_size > (1u << 30))
        return za__fail(ZA_EINVAL, "state_size %zu is too large", beh->state_size);
    if (args_len > s->cfg.max_payload)
        return za__fail(ZA_ETOOBIG, "args of %zu bytes exceed max_payload", args_len);
    if (atomic_load_explicit(&s->phase, memory_order_acquire) != ZA_PHASE_RUNNING)
        return za__fail(ZA_ESHUTDOWN, "cannot spawn: system is shutting down");
    if ((unsigned)opts->restart > ZA_RESTART_TEMPORARY ||
        (unsigned)opts->strategy > ZA_STRATEGY_ESCALATE ||
        (unsigned)opts->full_policy > ZA_FULL_BLOCK)
        return za__fail(ZA_EINVAL, "bad restart, strategy or full_policy value");
    if (opts->name && za__name_check(opts->name)) return ZA_EINVAL;
    if (opts->label && (!opts->label[0] || strlen(opts->label) > ZA_LABEL_MAX))
        return za__fail(ZA_EINVAL, "label must be 1..%d bytes", ZA_LABEL_MAX);
    return ZA_OK;
}

/* The extension record the options ask for (*out stays NULL when the
 * defaults do). ZA_OK or ZA_ENOMEM. */
static int make_ext(za_system *s, bool child, const void *args, size_t args_len,
                    const za_spawn_opts *opts, const za__grain_link *g, za_actor_ext **out) {
    *out = NULL;
    bool need_ext = g || args_len || opts->name || opts->restart || opts->strategy ||
                    opts->max_restarts || opts->within_ms || opts->backoff_min_ms ||
                    opts->backoff_max_ms ||
                    (!child && (s->cfg.root_max_restarts != 3 || s->cfg.root_within_ms != 5000));
    if (!need_ext) return ZA_OK;
    za_actor_ext *ext = FAIL_AT(SPAWN_EXT) ? NULL : za__ext_new();
    if (!ext) return ZA_ENOMEM;
    *out = ext;
    if (!child) {
        ext->max_restarts = s->cfg.root_max_restarts;
        ext->within_ms = s->cfg.root_within_ms;
    }
    if (opts->max_restarts) ext->max_restarts = opts->max_restarts;
    if (opts->within_ms) ext->within_ms = opts->within_ms;
    ext->backoff_min_ms = opts->backoff_min_ms;
    if (opts->backoff_max_ms) ext->backoff_max_ms = opts->backoff_max_ms;
    ext->restart_policy = (uint8_t)opts->restart;
    ext->strategy = (uint8_t)opts->strategy;
    if (g) {
        ext->grain = g->grain;
        ext->grain_act = g->act;
    }
    if (args_len) {
        ext->args = FAIL_AT(SPAWN_ARGS) ? NULL : malloc(args_len);
        if (!ext->args) return ZA_ENOMEM;
        memcpy(ext->args, args, args_len);
        ext->args_len = args_len;
    }
    if (opts->name && !(ext->name = FAIL_AT(SPAWN_NAME_DUP) ? NULL : strdup(opts->name)))
        return ZA_ENOMEM;
    return ZA_OK;
}

/* Add ref to the parent's children, or to the system's top-level actors. */
static int link_actor(za_system *s, za_ctx *parent, za_ref ref) {
    if (FAIL_AT(SPAWN_LINK)) return ZA_ENOMEM;
    if (parent) {
        za_actor_ext *pe = za__ext(parent->a);
        return pe ? za__refseq_add(&pe->children, ref) : ZA_ENOMEM;
    }
    pthread_mutex_lock(&s->root_mu);
    /* out of memory here only costs shutdown's ordered stop of this actor;
     * teardown still ends it */
    (void)za__refseq_add(&s->roots, ref);
    pthread_mutex_unlock(&s->root_mu);
    return ZA_OK;
}

static void unlink_actor(za_system *s, za_ctx *parent, za_ref ref) {
    if (parent)
        za__refseq_remove(&parent->a->ext->children, ref); /* linked: ext exists */
    else
        za__remove_root(s, ref);
}

static int spawn_common(za_system *s, za_ctx *parent, const za_behaviour *beh, const void *args,
                        size_t args_len, const za_spawn_opts *opts, za_reply_slot *waiter,
                        const za__grain_link *g, za_ref *out) {
    if (!s) return za__fail(ZA_EINVAL, "system is NULL");
    if (!out) return za__fail(ZA_EINVAL, "out is NULL");
    *out = ZA_REF_NONE;
    za_spawn_opts def;
    if (!opts) {
        za_spawn_opts_init(&def);
        opts = &def;
    }
    /* The children were stopped (or are being stopped) before the stop
     * callback runs, and nothing stops a child linked after that: it would
     * outlive its parent (a restart would also hand the old state's child
     * to the new one). */
    if (parent && parent->in_stop)
        return za__fail(ZA_ESTATE, "cannot spawn from a stop callback: the actor is stopping and "
                                   "the child would outlive it");
    int rc = check_request(s, beh, args, args_len, opts);
    if (rc != ZA_OK) return rc;

    /* what has been taken so far, for the unwind */
    za_actor_ext *ext = NULL;
    za_actor *a = NULL;
    za_ref ref = ZA_REF_NONE;
    bool named = false, linked = false;

    if (make_ext(s, parent != NULL, args, args_len, opts, g, &ext) != ZA_OK) {
        rc = za__fail(ZA_ENOMEM, "out of memory");
        goto unwind;
    }
    int host_idx = FAIL_AT(SPAWN_HOST) ? -1 : za__host_index(s, beh->host);
    if (host_idx < 0) {
        rc = za__fail(ZA_EINVAL, "too many behaviour hosts (max %d)", ZA_MAX_HOSTS);
        goto unwind;
    }
    uint32_t slot = FAIL_AT(SPAWN_SLOT) ? 0 : za__slot_alloc(s);
    if (!slot) {
        rc = za__fail(ZA_ENOMEM, "actor table is full");
        goto unwind;
    }
    a = za__slot(s, slot);
    uint32_t old = atomic_load_explicit(&a->life, memory_order_acquire);
    uint32_t gen = (ZA_LIFE_GEN(old) + 1) & ZA_GEN_MASK;
    if (gen == 0) gen = 1;
    ref = za__make_ref(s->node_id, slot, gen);

    /* relaxed: published by the release store of ALIVE just below, which
     * pairs with the senders' acquire load of the life word */
    atomic_store_explicit(&a->capacity, opts->capacity, memory_order_relaxed);
    atomic_store_explicit(&a->policy, (uint8_t)opts->full_policy, memory_order_relaxed);
    atomic_store_explicit(&a->block_ms, opts->block_timeout_ms, memory_order_relaxed);
    atomic_store_explicit(&a->host_idx, (uint8_t)host_idx, memory_order_relaxed);
    atomic_store_explicit(&a->life, ZA_LIFE(gen, ZA_ST_ALIVE), memory_order_release);

    if (opts->name) {
        rc = FAIL_AT(SPAWN_REGISTER)
                 ? za__fail(ZA_EEXIST, "name '%s' is already registered", opts->name)
                 : za_register(s, opts->name, ref);
        if (rc != ZA_OK) goto unwind;
        named = true;
    }
    if (link_actor(s, parent, ref) != ZA_OK) {
        rc = za__fail(ZA_ENOMEM, "out of memory");
        goto unwind;
    }
    linked = true;

    za_start_info si = {.beh = beh,
                        .parent = parent ? parent->self : ZA_REF_NONE,
                        .user = opts->user,
                        .ext = ext,
                        .waiter = waiter,
                        .label = za__label_intern(opts->label)};
    /* counted before START is queued: the actor may end (and count itself
     * out) as soon as it is */
    atomic_fetch_add_explicit(&s->alive, 1, memory_order_relaxed);
    /* a real failure here means the system stopped under us */
    rc = FAIL_AT(SPAWN_START) ? za__fail(ZA_ESHUTDOWN, "system is shutting down")
                              : za__send_sys(s, ref, ZA_REF_NONE, ZA_SYS_START, &si, sizeof si);
    if (rc != ZA_OK) {
        atomic_fetch_sub_explicit(&s->alive, 1, memory_order_relaxed);
        goto unwind;
    }
    za__count(s, ZA_C_SPAWNED, 1);
    *out = ref;
    return ZA_OK;

unwind:
    /* in the reverse order of the steps; each undoes exactly its own */
    if (linked) unlink_actor(s, parent, ref);
    if (named) za__registry_drop(s, opts->name, ref);
    if (a) {
        /* release: as for any death; a sender that raced in a message sees
         * DEAD and the message becomes a dead letter */
        atomic_store_explicit(&a->life, ZA_LIFE(za_ref_gen(ref), ZA_ST_DEAD), memory_order_release);
        za__slot_free(s, za_ref_slot(ref));
    }
    za__ext_free(ext);
    return rc;
}

int za_spawn(za_system *sys, const za_behaviour *beh, const void *args, size_t args_len,
             const za_spawn_opts *opts, za_ref *out) {
    za_ctx *c = za__tl_ctx;
    /* spawning from inside an actor makes a child of that actor */
    if (c && c->sys == sys) return spawn_common(sys, c, beh, args, args_len, opts, NULL, NULL, out);
    return spawn_common(sys, NULL, beh, args, args_len, opts, NULL, NULL, out);
}

int za_ctx_spawn(za_ctx *ctx, const za_behaviour *beh, const void *args, size_t args_len,
                 const za_spawn_opts *opts, za_ref *out) {
    if (!ctx) return za__fail(ZA_EINVAL, "ctx is NULL");
    return spawn_common(ctx->sys, ctx, beh, args, args_len, opts, NULL, NULL, out);
}

int za_spawn_sync(za_system *sys, const za_behaviour *beh, const void *args, size_t args_len,
                  const za_spawn_opts *opts, uint32_t timeout_ms, za_ref *out) {
    if (za__tl_ctx) return za__fail(ZA_ESTATE, "za_spawn_sync cannot be used inside an actor");
    if (!sys) return za__fail(ZA_EINVAL, "system is NULL");
    za_reply_slot *r = za__reply_new(sys, ZA_RP_WAIT);
    if (!r) return za__fail(ZA_ENOMEM, "out of memory");
    int rc = spawn_common(sys, NULL, beh, args, args_len, opts, r, NULL, out);
    if (rc != ZA_OK) {
        za__reply_abandon(r); /* (not waiting any more: the reply_slots gauge) */
        za__reply_release(r); /* the START message never existed */
        za__reply_release(r);
        return rc;
    }
    za_answer ans;
    rc = za__reply_wait(sys, r, timeout_ms, &ans);
    za__reply_release(r);
    if (rc == ZA_OK) rc = ans.status;
    if (rc == ZA_ESTART)
        za__fail(ZA_ESTART, "actor failed to start: %s",
                 ans.error ? ans.error : "start returned non-zero");
    else if (rc == ZA_ETIMEDOUT)
        za__fail(ZA_ETIMEDOUT, "start did not finish within %u ms", timeout_ms);
    if (rc != ZA_OK && rc != ZA_ETIMEDOUT) *out = ZA_REF_NONE;
    za_answer_free(&ans);
    return rc;
}

int za__spawn_grain(za_system *sys, const za_behaviour *beh, const void *args, size_t args_len,
                    const za_spawn_opts *opts, const za__grain_link *g, za_ref *out) {
    /* always top-level: an activation belongs to the directory, not to
     * whichever actor's message happened to activate it */
    return spawn_common(sys, NULL, beh, args, args_len, opts, NULL, g, out);
}
