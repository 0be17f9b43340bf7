/*
 * grain.h - the grain directory's calls from the rest of the runtime
 * (virtual actors: directory, activation, persistence, reminders).
 */
#ifndef ZA_GRAIN_H
#define ZA_GRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "msgnode.h"

/* send.c: a message whose target is a grain reference (reached inside the
 * "not this node" branch, so plain sends pay nothing). ZA_OK: the
 * directory owns m (routed, held while activating, or made a dead letter);
 * an error: the caller still owns m. */
int za__grain_send(za_system *s, za_msgnode *m, bool from_outside);
/* za_is_alive / za_stop on a grain reference. */
int za__grain_is_active(za_system *s, za_ref grain);
int za__grain_stop(za_system *s, za_ref grain);

/* spawn.c: spawn a grain activation (top-level, whatever thread calls):
 * the actor sends as `grain` and the directory finds its record `act`. */
typedef struct za__grain_link {
    za_ref grain;
    void *act;
} za__grain_link;
int za__spawn_grain(za_system *s, const za_behaviour *beh, const void *args, size_t args_len,
                    const za_spawn_opts *opts, const za__grain_link *g, za_ref *out);
/* actor.c (finalize, on the thread that owns the turn, before the slot is
 * freed): the activation `act` of actor a ended. The directory salvages the
 * user messages still queued in a's mailbox (they go back in front of the
 * held ones), then reactivates if messages wait, or fails them when the
 * activation's start failed (start_failed: text is the reason). */
struct za_actor;
void za__grain_ended(za_system *s, struct za_actor *a, void *act, int code, const char *text,
                     bool start_failed);

/* Deliver a runtime message (tag may be negative, e.g. ZA_TAG_REMINDER) to
 * grain (type, key), activating it if needed: reminders use this. */
int za__grain_deliver(za_system *s, const char *type, const char *key, int32_t tag,
                      const void *data, size_t len);

/* system.c: open the storage and start the directory; before draining at
 * shutdown, deactivate every activation (bounded by timeout_ms); free. */
int za__grains_init(za_system *s);
void za__grains_shutdown(za_system *s, uint32_t timeout_ms);
void za__grains_free(za_system *s);

/* reminders.c: started by za__grains_init, stopped by za__grains_shutdown;
 * told when a type registers (its parked reminders may fire) and when the
 * cluster's membership changes (reminder ownership moves with homes). */
int za__reminders_start(za_system *s);
void za__reminders_stop(za_system *s);
void za__reminders_type_registered(za_system *s, const char *type);
void za__reminders_members_changed(za_system *s);
/* Free what za__reminders_start made (after the store closed: completions
 * of remind/forget may still touch it until then). */
void za__reminders_free(za_system *s);
/* Figures for tests and benchmarks: reminders scheduled here, firings so
 * far, how long the start's load took. */
int za__reminders_figures(za_system *s, uint64_t *count, uint64_t *fired, uint64_t *load_ms);

#endif
