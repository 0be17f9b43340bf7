/*
 * ask.h - one-shot, reference-counted reply slots behind ask, spawn_sync
 * and replies to actors.
 */
#ifndef ZA_ASK_H
#define ZA_ASK_H

#include "common.h"

enum { ZA_RP_WAIT = 0, ZA_RP_CALLBACK = 1, ZA_RP_ACTOR = 2 };
za_reply_slot *za__reply_new(za_system *s, int mode); /* two references */
void za__reply_release(za_reply_slot *r);
/* A CALLBACK slot answered through cb (the cluster answers remote asks so). */
za_reply_slot *za__reply_new_cb(za_system *s, za_answer_cb cb, void *ud);
/* The answer comes from another node: blocking waits do not spin. */
void za__reply_mark_far(za_reply_slot *r);
/* Wait (WAIT mode) up to timeout_ms; fills out on ZA_OK. */
int za__reply_wait(za_system *s, za_reply_slot *r, uint32_t timeout_ms, za_answer *out);
/* Same, but a timeout returns ZA_EAGAIN and leaves the ask pending. */
int za__reply_wait_slice(za_system *s, za_reply_slot *r, uint32_t slice_ms, za_answer *out);
/* Complete a pending reply; the payload (bytes copied, ptr owned) goes to
 * the asker, or becomes a dead letter if the asker is gone. */
int za__reply_complete(za_system *s, za_reply_slot *r, int status, int32_t tag, const void *data,
                       size_t len, void *ptr, za_ptr_dtor dtor, const char *errtext);
/* Used by the timer thread. */
void za__reply_timeout(za_system *s, za_reply_slot *r);
/* za_ctx_ask that hands the asker a reference on the ask's reply slot
 * (*held; release it with za__reply_release), so it can give the ask up
 * with za__reply_abandon (the Lua host's ctx:first, closed handlers). */
int za__ctx_ask_held(za_ctx *ctx, za_ref to, int32_t tag, const void *data, size_t len,
                     uint32_t timeout_ms, uint64_t *corr_out, za_reply_slot **held);
/* Give up a pending ask: its timeout timer is cancelled, nothing comes
 * back to the asker, and a later reply becomes a late_reply dead letter
 * (counted). 1 if it was still pending. */
int za__reply_abandon(za_reply_slot *r);

#endif
