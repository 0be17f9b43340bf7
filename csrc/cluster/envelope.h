/*
 * envelope.h - the wire form between nodes, MessagePack (msgpack-c).
 *
 * A network message (one ZeroMQ frame) is a batch: a header
 *   [1, from_node, from_epoch, from_endpoint]
 * followed by one or more envelopes, each
 *   [kind, target, sender, tag, corr, status, payload]
 * (payload: bin; for an error reply, the error text); a grain message has the
 * grain's type and key (str) appended. Then two optional trailing fields,
 * told apart by their type: the flags (a positive integer, when not 0) and
 * a W3C trace context (bin of 16 + 8 + 1 bytes: trace id, span id, flags;
 * csrc/trace.c), so a trace continues on the receiving node. Batches are per peer:
 * the network thread appends every envelope bound for a peer that it finds
 * queued, then sends them as one frame.
 */
#ifndef ZA_ENVELOPE_H
#define ZA_ENVELOPE_H

#include <msgpack.h>

#include "common.h"

enum {
    ZA_ENV_PING = 1,  /* heartbeat: only proves the link works */
    ZA_ENV_TELL = 2,  /* a user message (also DOWN notices: tag ZA_TAG_DOWN) */
    ZA_ENV_ASK = 3,   /* a request; corr names it at the asker's node */
    ZA_ENV_REPLY = 4, /* the answer to corr; status != 0: payload is error text */
    ZA_ENV_SYS = 5,   /* watch / unwatch / stop: tag is the ZA_SYS_* kind */
    ZA_ENV_GRAIN = 6, /* a message for grain (type, key), two more fields:
                         [6, 0, sender, tag, corr, hops, payload, type, key];
                         corr != 0: an ask (answered by a REPLY to corr) */
};
#define ZA_ENV_VERSION 1
/* za_env.flags, sent as one more trailing field when not 0 */
#define ZA_ENV_F_GRAINREFS 1u /* the payload holds grain identities (grainref.c) */

typedef struct za_env {
    int kind;
    za_ref target, sender;
    int32_t tag;
    uint64_t corr;
    int32_t status;
    const void *data; /* points into the frame (decode) or the caller's bytes */
    uint32_t len;
    const za_trace *trace; /* NULL: untraced (decode: points into the frame) */
    /* ZA_ENV_GRAIN: the grain's identity (not NUL-terminated on decode) */
    const char *gtype, *gkey;
    uint32_t gtype_len, gkey_len;
    uint32_t flags; /* ZA_ENV_F_* */
} za_env;

typedef struct za_env_header {
    uint32_t node;
    uint64_t epoch;
    const char *endpoint; /* not NUL-terminated */
    uint32_t endpoint_len;
} za_env_header;

/* Append to a buffer. */
int za__env_pack_header(msgpack_sbuffer *sb, uint32_t node, uint64_t epoch, const char *endpoint);
int za__env_pack(msgpack_sbuffer *sb, const za_env *e);

/* Walk a received frame: header first, then envelopes. Returns 1 with *out
 * filled, 0 at the clean end, ZA_EVALUE on malformed input (stop there).
 * The za_env's data points into `un`'s zone: valid until the next call. */
typedef struct za_env_reader {
    const char *buf;
    size_t len, off;
    msgpack_unpacked un;
} za_env_reader;
void za__env_reader_init(za_env_reader *r, const void *buf, size_t len);
void za__env_reader_done(za_env_reader *r);
int za__env_read_header(za_env_reader *r, za_env_header *out);
int za__env_read(za_env_reader *r, za_env *out);

#endif
