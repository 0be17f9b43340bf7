/*
 * The transport: a ROUTER bound to this node's endpoint receives from all
 * members (the network thread owns it), one DEALER per member sends to it
 * (any thread, under the peer's lock: ZeroMQ sockets are single-threaded,
 * a lock hands one between threads). Asks and replies leave from the
 * sender's own thread; tells gather in the peer's batch and leave in
 * frames of many envelopes (see "sending" below). The same links carry
 * heartbeats, and silence on them is what the failure detector judges
 * (Orleans: the probe must share the data path).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.h>

#include "cluster.h"
#include "envelope.h"

#define BATCH_MAX (32u << 20)    /* a stalled batch grows to this many bytes, then drops */
#define COALESCE_NS 50000ull     /* tells to a peer sent a frame this recently wait this long */
#define COALESCE_MAX (64u << 10) /* ... unless their batch is this large already */
#define RECV_PER_ROUND 512       /* frames read before serving the rest again */
#define FRAME_MAX (96ll << 20)   /* larger frames are refused by ZeroMQ itself */

/* The network thread's own view of the links (by node id). */
typedef struct net {
    za_cluster *c;
    uint64_t *last_seen;    /* last frame from the member (ns) */
    uint64_t *last_vote;    /* last suspicion vote this node cast for it */
    bool *linked;           /* a link is open: heartbeats go there */
    uint64_t *linked_epoch; /* the incarnation that link is for */
    uint32_t *due;          /* a copy of the due list */
    uint64_t *acc_epoch;    /* incarnation whose frames were accepted at acc_gen */
    uint64_t acc_gen;
    uint64_t seen_gen;
} net;

static bool loopback_host(const char *ep) {
    const char *h = strstr(ep, "://");
    h = h ? h + 3 : ep;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost:", 10) == 0 ||
           strncmp(h, "[::1]:", 6) == 0;
}

int za_cluster_secret_new(char out[41]) {
    if (!out) return za__fail(ZA_EINVAL, "out is NULL");
    char pub[41];
    if (zmq_curve_keypair(pub, out) != 0)
        return za__fail(ZA_EINVAL, "libzmq has no CURVE support: %s", zmq_strerror(errno));
    return ZA_OK;
}

int za__net_curve_keys(za_cluster *c, const char *secret) {
    uint8_t bin[32];
    if (strlen(secret) != 40 || !zmq_z85_decode(bin, secret))
        return za__fail(ZA_EINVAL, "the cluster secret must be a key from za_cluster_secret_new "
                                   "(40 Z85 characters)");
    memcpy(c->curve_sec, secret, 41);
    if (zmq_curve_public(c->curve_pub, c->curve_sec) != 0 ||
        !zmq_z85_decode(c->curve_pub_bin, c->curve_pub))
        return za__fail(ZA_EINVAL, "libzmq has no CURVE support: %s", zmq_strerror(errno));
    c->curve = true;
    return ZA_OK;
}

/* The ZAP handler and the handshake monitor (CURVE only). */
static int curve_server(za_cluster *c) {
    c->zap = zmq_socket(c->zctx, ZMQ_REP);
    if (!c->zap || zmq_bind(c->zap, "inproc://zeromq.zap.01") != 0)
        return za__fail(ZA_EINVAL, "cannot start the ZAP handler: %s", zmq_strerror(errno));
    int one = 1, zero = 0;
    zmq_setsockopt(c->zap, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_setsockopt(c->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(c->router, ZMQ_CURVE_SECRETKEY, c->curve_sec, 40) != 0 ||
        zmq_setsockopt(c->router, ZMQ_ZAP_DOMAIN, "zactor", 6) != 0)
        return za__fail(ZA_EINVAL, "cannot enable CURVE: %s", zmq_strerror(errno));
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://za-monitor-%p", (void *)c);
    if (zmq_socket_monitor(c->router, ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return za__fail(ZA_EINVAL, "cannot monitor the listener: %s", zmq_strerror(errno));
    c->monitor = zmq_socket(c->zctx, ZMQ_PAIR);
    if (!c->monitor || zmq_connect(c->monitor, ep) != 0)
        return za__fail(ZA_EINVAL, "cannot monitor the listener: %s", zmq_strerror(errno));
    zmq_setsockopt(c->monitor, ZMQ_LINGER, &zero, sizeof zero);
    return ZA_OK;
}

int za__net_bind(za_cluster *c) {
    if (strncmp(c->listen, "tcp://", 6) != 0)
        return za__fail(ZA_EINVAL, "listen endpoint '%s' must be tcp://host:port", c->listen);
    if (!loopback_host(c->listen) && !c->cfg.insecure && !c->curve)
        return za__fail(ZA_EINVAL,
                        "refusing to listen on non-loopback '%s' without a secret: links would "
                        "be open to anyone on the network (set insecure=1 to allow it)",
                        c->listen);
    char ep[200];
    size_t n = strlen(c->listen);
    if (n >= sizeof ep - 2) return za__fail(ZA_EINVAL, "listen endpoint is too long");
    memcpy(ep, c->listen, n + 1);
    if (n > 2 && strcmp(ep + n - 2, ":0") == 0) strcpy(ep + n - 1, "*"); /* any free port */
    c->zctx = zmq_ctx_new();
    if (!c->zctx) return za__fail(ZA_ENOMEM, "zmq_ctx_new failed");
    c->router = zmq_socket(c->zctx, ZMQ_ROUTER);
    if (!c->router) return za__fail(ZA_ENOMEM, "zmq_socket failed: %s", zmq_strerror(errno));
    int zero = 0, hwm = 100000;
    int64_t maxmsg = FRAME_MAX;
    zmq_setsockopt(c->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (c->curve) {
        int rc = curve_server(c);
        if (rc != ZA_OK) return rc;
    }
    if (zmq_bind(c->router, ep) != 0)
        return za__fail(ZA_EINVAL, "cannot listen on '%s': %s", c->listen, zmq_strerror(errno));
    char bound[128];
    size_t bl = sizeof bound;
    if (zmq_getsockopt(c->router, ZMQ_LAST_ENDPOINT, bound, &bl) != 0)
        return za__fail(ZA_EINVAL, "cannot read the bound endpoint: %s", zmq_strerror(errno));
    const char *adv = c->advertise ? c->advertise : bound;
    if (!c->advertise && strstr(bound, "://0.0.0.0:"))
        return za__fail(ZA_EINVAL, "listening on all interfaces: set advertise to the endpoint "
                                   "other nodes should dial");
    snprintf(c->self.endpoint, sizeof c->self.endpoint, "%s", adv);
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0) return za__fail(ZA_ENOMEM, "eventfd failed");
    c->due = calloc(ZA_NODES, sizeof *c->due);
    c->peers = calloc(ZA_NODES, sizeof *c->peers);
    if (!c->peers || !c->due) return za__fail(ZA_ENOMEM, "out of memory");
    for (uint32_t id = 0; id < ZA_NODES; id++) {
        pthread_mutex_init(&c->peers[id].mu, NULL);
        msgpack_sbuffer_init(&c->peers[id].batch);
    }
    return ZA_OK;
}

/* ------------------------------------------------------------ sending
 *
 * Every thread sends on its own: the sender takes the peer's lock and
 * appends its envelope to the peer's batch. An ask, a reply, a watch or a
 * heartbeat then hands the batch to ZeroMQ at once, which moves it to its
 * I/O thread and onto TCP: a remote round trip makes the hand-offs ZeroMQ
 * itself makes (sender -> I/O thread -> wire -> I/O thread -> receiver),
 * plus one per side for the network thread that reads the ROUTER. (Before,
 * every envelope went through an MPSC queue and an eventfd to the network
 * thread first: two more wake-ups of a parked thread per round trip, ~4.5
 * us each on this machine, more under load.)
 *
 * Tells are the throughput path: they wait in the batch, and the network
 * thread (woken once per batch) sends it; a peer that got a frame within
 * COALESCE_NS waits out the rest of it, and a batch past COALESCE_MAX goes
 * from the sender at once. A stream of tells leaves in frames of ~100
 * envelopes (the receiving side pays per frame); a lone tell leaves within
 * a wake-up, as before. A sender that finds others queued on the lock
 * (waiters) leaves even an ask in the batch for the last of them to send.
 * FIFO per sender -> receiver holds: one peer's envelopes enter its batch,
 * and its batches its DEALER, in lock order (an ask behind tells takes
 * them along). */

static void set_stalled(za_cluster *c, za_peer *p, bool on);

static void close_peer(za_cluster *c, za_peer *p) {
    if (p->sock) zmq_close(p->sock);
    p->sock = NULL;
    p->batch.size = 0;
    p->epoch = 0;
    set_stalled(c, p, false);
}

static void *open_socket(za_cluster *c, const char *endpoint) {
    void *s = zmq_socket(c->zctx, ZMQ_DEALER);
    if (!s) return NULL;
    int zero = 0, hwm = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (c->curve && (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->curve_pub, 40) != 0 ||
                     zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, c->curve_pub, 40) != 0 ||
                     zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->curve_sec, 40) != 0)) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_connect(s, endpoint) != 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* p->mu held. Is there a link to the member's current incarnation? Opens
 * it (or closes a link to a dead member) when the view moved since the
 * last look; otherwise one atomic load. */
static bool peer_ready(za_cluster *c, uint32_t id, za_peer *p) {
    if (atomic_load_explicit(&c->links_closed, memory_order_relaxed)) return false;
    /* acquire: pairs with the release increments of view_gen made after a
     * record changed (membership.c, accept_sender) */
    uint64_t g = atomic_load_explicit(&c->view_gen, memory_order_acquire);
    if (p->sock && p->gen == g) return true;
    za_node_rec *r = za__node_rec(c, id);
    if (!r || id == c->self.id) return false;
    char endpoint[sizeof r->info.endpoint];
    pthread_mutex_lock(&c->view_mu);
    int st = atomic_load_explicit(&r->state, memory_order_relaxed);
    uint64_t epoch = r->info.epoch;
    memcpy(endpoint, r->info.endpoint, sizeof endpoint);
    pthread_mutex_unlock(&c->view_mu);
    p->gen = g;
    if (st != NODE_ALIVE) {
        close_peer(c, p);
        return false;
    }
    if (p->sock && p->epoch == epoch) return true;
    close_peer(c, p);
    p->sock = open_socket(c, endpoint);
    if (p->sock) p->epoch = epoch;
    return p->sock != NULL;
}

static void set_stalled(za_cluster *c, za_peer *p, bool on) {
    if (p->stalled == on) return;
    p->stalled = on;
    /* relaxed: a hint for the network thread's poll timeout; the flag
     * itself is read under p->mu */
    atomic_fetch_add_explicit(&c->nstalled, on ? 1 : -1, memory_order_relaxed);
}

/* p->mu held. Hand the batch to ZeroMQ. When the peer's queue is full (its
 * high-water mark: the I/O thread is behind), the batch stays and grows
 * (up to BATCH_MAX): the next send, or the network thread within a
 * millisecond, tries again with everything queued meanwhile in one frame.
 * That is the batching under backlog; without one, every envelope leaves
 * at once. */
static void flush_one(za_cluster *c, za_peer *p) {
    if (!p->batch.size) return;
    if (zmq_send(p->sock, p->batch.data, p->batch.size, ZMQ_DONTWAIT) >= 0) {
        atomic_fetch_add_explicit(&c->st.batches_out, 1, memory_order_relaxed);
        p->last_flush_ns = za__now_ns();
    } else if (errno == EAGAIN) {
        set_stalled(c, p, true);
        return;
    } else {
        atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
    }
    p->batch.size = 0;
    p->urgent = false;
    set_stalled(c, p, false);
}

static void wake_net(za_cluster *c) {
    /* seq_cst: after our add to the due list, before the net thread's store
     * of 0 and its swap of the list (net_main): either it takes our entry,
     * or we see 0 here and write the eventfd that wakes its poll */
    if (atomic_exchange_explicit(&c->wake_pending, 1, memory_order_seq_cst) == 0) {
        uint64_t one = 1;
        ssize_t w = write(c->wake_fd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is already non-zero, the thread wakes anyway */
    }
}

int za__net_send(za_cluster *c, uint32_t node, const za_env *e) {
    if (node == 0 || node > ZA_NODE_MAX || !c->peers) return za__fail(ZA_EINVAL, "bad node");
    za_peer *p = &c->peers[node];
    /* relaxed: only a hint whether to leave the envelope for the next
     * holder of mu; the lock orders everything else */
    atomic_fetch_add_explicit(&p->waiters, 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    int behind = atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_relaxed) - 1;
    if (!peer_ready(c, node, p)) {
        pthread_mutex_unlock(&p->mu);
        atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
        return ZA_OK;
    }
    size_t mark = p->batch.size;
    if (mark >= BATCH_MAX) { /* a backlog as large as we keep: at-most-once */
        pthread_mutex_unlock(&p->mu);
        atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
        return ZA_OK;
    }
    if (!mark) msgpack_sbuffer_write(&p->batch, c->header, c->header_len);
    if (za__env_pack(&p->batch, e) != ZA_OK) {
        p->batch.size = mark;
        pthread_mutex_unlock(&p->mu);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    atomic_fetch_add_explicit(&c->st.sent, 1, memory_order_relaxed);
    /* Asks, replies, watches and heartbeats leave now (a sender queued
     * behind us sends ours with its own). Tells wait in the batch for the
     * network thread, woken once per batch: a stream of tells goes out in
     * large frames (the throughput path), and an ask behind them takes
     * them along, in order. */
    if (e->kind != ZA_ENV_TELL) p->urgent = true;
    bool wake = false;
    /* (a batch of tells this large goes now too: the network thread may be
     * slow to come, the stream is long enough to pay for the frame) */
    if ((p->urgent || p->batch.size >= COALESCE_MAX) && behind <= 0) {
        flush_one(c, p);
    } else if (!p->due) {
        p->due = true;
        pthread_mutex_lock(&c->due_mu);
        c->due[c->ndue++] = node;
        pthread_mutex_unlock(&c->due_mu);
        wake = true;
    }
    pthread_mutex_unlock(&p->mu);
    if (wake) wake_net(c);
    return ZA_OK;
}

/* The batches of tells (network thread, woken by wake_net). A peer that
 * got a frame less than COALESCE_NS ago is in a stream: wait out the rest
 * of that time first, so a stream of tells leaves in frames of many
 * envelopes (the receiving side's cost is per frame) while a lone tell,
 * or one every round trip, leaves at once. */
static void send_due(net *n) {
    za_cluster *c = n->c;
    pthread_mutex_lock(&c->due_mu);
    uint32_t k = c->ndue;
    memcpy(n->due, c->due, k * sizeof *n->due);
    c->ndue = 0;
    pthread_mutex_unlock(&c->due_mu);
    if (!k) return;
    uint64_t now = za__now_ns(), wait = 0;
    for (uint32_t i = 0; i < k; i++) {
        za_peer *p = &c->peers[n->due[i]];
        pthread_mutex_lock(&p->mu);
        uint64_t since = now - p->last_flush_ns;
        if (since < COALESCE_NS && COALESCE_NS - since > wait && p->batch.size < COALESCE_MAX)
            wait = COALESCE_NS - since;
        pthread_mutex_unlock(&p->mu);
    }
    if (wait) {
        struct timespec ts = {0, (long)wait};
        nanosleep(&ts, NULL);
    }
    for (uint32_t i = 0; i < k; i++) {
        za_peer *p = &c->peers[n->due[i]];
        pthread_mutex_lock(&p->mu);
        p->due = false;
        if (p->sock) flush_one(c, p);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Open links to live members, close links to dead ones (network thread,
 * when the view moved: senders would do it on their next send, this
 * frees the sockets of the dead at once and links new members before the
 * first heartbeat). */
static void sync_peers(net *n) {
    za_cluster *c = n->c;
    n->seen_gen = atomic_load_explicit(&c->view_gen, memory_order_acquire);
    for (uint32_t id = 1; id < ZA_NODES; id++) {
        if (id == c->self.id || !za__node_rec(c, id)) continue;
        za_peer *p = &c->peers[id];
        pthread_mutex_lock(&p->mu);
        uint64_t was = p->epoch;
        bool up = peer_ready(c, id, p);
        /* a new link (opened here, or by a sender since our last look):
         * its silence is counted from now */
        if (up && (!n->linked[id] || p->epoch != was || n->linked_epoch[id] != p->epoch)) {
            n->last_seen[id] = za__now_ns();
            n->last_vote[id] = 0;
            n->linked_epoch[id] = p->epoch;
        }
        n->linked[id] = up;
        pthread_mutex_unlock(&p->mu);
    }
}

/* Accept the sender of a frame: a live member, or a node we have not read
 * from the table yet (it just joined: it is recorded until the table says
 * otherwise). An old incarnation or a node declared dead is fenced. */
static bool accept_sender(net *n, const za_env_header *h) {
    za_cluster *c = n->c;
    if (h->node == c->self.id) return false;
    /* the common case, without view_mu: the same incarnation as the last
     * frame of this member, and the view has not moved since (acquire:
     * pairs with the release increments of view_gen) */
    uint64_t g = atomic_load_explicit(&c->view_gen, memory_order_acquire);
    if (g == n->acc_gen && h->epoch && n->acc_epoch[h->node] == h->epoch) return true;
    if (g != n->acc_gen) {
        memset(n->acc_epoch, 0, ZA_NODES * sizeof *n->acc_epoch);
        n->acc_gen = g;
    }
    za_node_rec *r = za__node_rec(c, h->node);
    if (r) {
        pthread_mutex_lock(&c->view_mu);
        uint64_t ep = r->info.epoch;
        int st = atomic_load_explicit(&r->state, memory_order_relaxed);
        pthread_mutex_unlock(&c->view_mu);
        if (ep == h->epoch) {
            if (st == NODE_ALIVE) n->acc_epoch[h->node] = h->epoch;
            return st == NODE_ALIVE;
        }
        if (ep > h->epoch) return false;
    }
    /* unknown, or a newer incarnation of a recycled id */
    pthread_mutex_lock(&c->view_mu);
    r = za__node_rec_make(c, h->node);
    if (r) {
        memset(&r->info, 0, sizeof r->info);
        r->info.id = h->node;
        r->info.epoch = h->epoch;
        memcpy(r->info.endpoint, h->endpoint, h->endpoint_len);
        r->confirmed = false;
        atomic_store_explicit(&r->state, NODE_ALIVE, memory_order_release);
        atomic_fetch_add_explicit(&c->view_gen, 1, memory_order_release);
    }
    pthread_mutex_unlock(&c->view_mu);
    /* read the table now: it has the node's name, and confirms it */
    za_mreq *rq = calloc(1, sizeof *rq + 1);
    if (rq) {
        rq->kind = MREQ_REFRESH;
        za__mreq_push(c, rq);
    }
    return r != NULL;
}

static void process_frame(net *n, const void *data, size_t len) {
    za_cluster *c = n->c;
    za_env_reader rd;
    za__env_reader_init(&rd, data, len);
    za_env_header h;
    if (za__env_read_header(&rd, &h) != ZA_OK) {
        atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
        za__env_reader_done(&rd);
        return;
    }
    if (!accept_sender(n, &h)) {
        atomic_fetch_add_explicit(&c->st.fenced, 1, memory_order_relaxed);
        za__env_reader_done(&rd);
        return;
    }
    n->last_seen[h.node] = za__now_ns();
    for (;;) {
        za_env e;
        int rc = za__env_read(&rd, &e);
        if (rc == 0) break;
        if (rc < 0) {
            atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
            break;
        }
        if (e.kind != ZA_ENV_PING) za__remote_deliver(c, h.node, &e);
    }
    za__env_reader_done(&rd);
}

static void recv_all(net *n) {
    za_cluster *c = n->c;
    for (int i = 0; i < RECV_PER_ROUND; i++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, c->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        zmq_msg_close(&id); /* the routing id: who sent is in the header */
        if (!zmq_msg_more(&id)) {
            atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
            continue;
        }
        zmq_msg_init(&body);
        if (zmq_msg_recv(&body, c->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&body);
            return;
        }
        bool extra = zmq_msg_more(&body);
        if (extra) {
            atomic_fetch_add_explicit(&c->st.malformed, 1, memory_order_relaxed);
            while (extra) { /* a multipart message is not ours: skip its frames */
                zmq_msg_t x;
                zmq_msg_init(&x);
                if (zmq_msg_recv(&x, c->router, ZMQ_DONTWAIT) < 0)
                    extra = false;
                else
                    extra = zmq_msg_more(&x);
                zmq_msg_close(&x);
            }
        } else {
            process_frame(n, zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&body);
    }
}

/* Read one multipart message into frames[] (at most max); the count, or 0. */
static int recv_parts(void *sock, zmq_msg_t *frames, int max) {
    int n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return n;
        }
        bool more = zmq_msg_more(&m);
        if (n < max)
            frames[n++] = m;
        else
            zmq_msg_close(&m);
        if (!more) return n;
    }
}

/* ZAP (RFC 27): admit a CURVE client only if its permanent public key is the
 * cluster's, which it can only use if it holds the cluster's secret key. */
static void serve_zap(net *n) {
    za_cluster *c = n->c;
    for (;;) {
        zmq_msg_t f[8];
        int k = recv_parts(c->zap, f, 8);
        if (k == 0) return;
        bool ok = k == 7 && zmq_msg_size(&f[5]) == 5 &&
                  memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 && zmq_msg_size(&f[6]) == 32 &&
                  memcmp(zmq_msg_data(&f[6]), c->curve_pub_bin, 32) == 0;
        const char *code = ok ? "200" : "400";
        const char *text = ok ? "OK" : "not a member key";
        zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE);
        if (k >= 2)
            zmq_send(c->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
        else
            zmq_send(c->zap, "", 0, ZMQ_SNDMORE);
        zmq_send(c->zap, code, 3, ZMQ_SNDMORE);
        zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(c->zap, "", 0, ZMQ_SNDMORE);
        zmq_send(c->zap, "", 0, 0);
        for (int i = 0; i < k; i++) zmq_msg_close(&f[i]);
    }
}

/* Handshake failures on the listener: no key, a wrong key, not CURVE. */
static void read_monitor(net *n) {
    za_cluster *c = n->c;
    for (;;) {
        zmq_msg_t f[2];
        int k = recv_parts(c->monitor, f, 2);
        if (k == 0) return;
        atomic_fetch_add_explicit(&c->st.auth_failed, 1, memory_order_relaxed);
        for (int i = 0; i < k; i++) zmq_msg_close(&f[i]);
    }
}

/* Batches left behind by a full peer queue: try them again (a sender that
 * comes along does too). */
static void retry_stalled(net *n) {
    za_cluster *c = n->c;
    for (uint32_t id = 1; id < ZA_NODES; id++) {
        if (!n->linked[id]) continue;
        za_peer *p = &c->peers[id];
        pthread_mutex_lock(&p->mu);
        if (p->stalled && p->sock) flush_one(c, p);
        pthread_mutex_unlock(&p->mu);
    }
}

static void heartbeat(net *n, uint64_t now, bool paused) {
    za_cluster *c = n->c;
    za_env ping = {.kind = ZA_ENV_PING};
    uint64_t suspect_ns = (uint64_t)c->cfg.suspect_ms * 1000000ull;
    for (uint32_t id = 1; id < ZA_NODES; id++) {
        if (!n->linked[id]) continue;
        za__net_send(c, id, &ping);
        /* this thread did not run for a while (the process was paused):
         * the silence it measured is its own, not the peers' */
        if (paused) n->last_seen[id] = now;
        if (now - n->last_seen[id] > suspect_ns && now - n->last_vote[id] > 1000000000ull &&
            !atomic_load_explicit(&c->expelled, memory_order_relaxed)) {
            n->last_vote[id] = now;
            za_mreq *rq = calloc(1, sizeof *rq + 1);
            if (rq) {
                rq->kind = MREQ_SUSPECT;
                rq->node = id;
                za__mreq_push(c, rq);
            }
        }
    }
}

static void *net_main(void *arg) {
    za_cluster *c = arg;
    net n = {.c = c, .seen_gen = ~0ull};
    n.last_seen = calloc(ZA_NODES, sizeof *n.last_seen);
    n.last_vote = calloc(ZA_NODES, sizeof *n.last_vote);
    n.linked = calloc(ZA_NODES, sizeof *n.linked);
    n.acc_epoch = calloc(ZA_NODES, sizeof *n.acc_epoch);
    n.linked_epoch = calloc(ZA_NODES, sizeof *n.linked_epoch);
    n.due = calloc(ZA_NODES, sizeof *n.due);
    if (!n.last_seen || !n.last_vote || !n.linked || !n.acc_epoch || !n.linked_epoch || !n.due)
        goto out;
    uint64_t hb_ns = (uint64_t)c->cfg.heartbeat_ms * 1000000ull;
    uint64_t next_hb = za__now_ns(), last_round = za__now_ns();
    zmq_pollitem_t items[4] = {{c->router, 0, ZMQ_POLLIN, 0},
                               {NULL, c->wake_fd, ZMQ_POLLIN, 0},
                               {c->zap, 0, ZMQ_POLLIN, 0},
                               {c->monitor, 0, ZMQ_POLLIN, 0}};
    int nitems = c->curve ? 4 : 2;
    while (!atomic_load_explicit(&c->net_stop, memory_order_acquire)) {
        uint64_t now = za__now_ns();
        long tmo = next_hb > now ? (long)((next_hb - now) / 1000000ull) + 1 : 0;
        if (tmo > 100) tmo = 100;
        /* relaxed: a hint (see set_stalled) */
        if (tmo > 1 && atomic_load_explicit(&c->nstalled, memory_order_relaxed)) tmo = 1;
        zmq_poll(items, nitems, tmo);
        if (c->curve) {
            if (items[2].revents & ZMQ_POLLIN) serve_zap(&n);
            if (items[3].revents & ZMQ_POLLIN) read_monitor(&n);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            uint64_t v;
            ssize_t r = read(c->wake_fd, &v, sizeof v);
            (void)r;
        }
        /* seq_cst: pairs with wake_net's exchange (see there) */
        atomic_store_explicit(&c->wake_pending, 0, memory_order_seq_cst);
        send_due(&n);
        if (atomic_load_explicit(&c->view_gen, memory_order_acquire) != n.seen_gen) sync_peers(&n);
        recv_all(&n);
        if (atomic_load_explicit(&c->nstalled, memory_order_relaxed)) retry_stalled(&n);
        now = za__now_ns();
        /* a round normally ends within ~100 ms; half the suspicion time
         * without one means this process was stopped */
        bool paused = now - last_round > (uint64_t)c->cfg.suspect_ms * 500000ull;
        last_round = now;
        if (now >= next_hb || paused) {
            heartbeat(&n, now, paused);
            next_hb = now + hb_ns;
        }
    }
out:
    free(n.last_seen);
    free(n.last_vote);
    free(n.linked);
    free(n.acc_epoch);
    free(n.linked_epoch);
    free(n.due);
    return NULL;
}

int za__net_start(za_cluster *c) {
    /* every batch starts with this node's header: packed once, now that
     * the join gave this node its id */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = za__env_pack_header(&sb, c->self.id, c->self.epoch, c->self.endpoint);
    if (rc == ZA_OK && sb.size <= sizeof c->header) {
        memcpy(c->header, sb.data, sb.size);
        c->header_len = sb.size;
    }
    msgpack_sbuffer_destroy(&sb);
    if (!c->header_len) return za__fail(ZA_ENOMEM, "cannot pack the frame header");
    if (pthread_create(&c->net_thread, NULL, net_main, c) != 0)
        return za__fail(ZA_ENOMEM, "cannot start the network thread");
    c->net_started = true;
    return ZA_OK;
}

void za__net_stop(za_cluster *c) {
    if (c->net_started) {
        atomic_store_explicit(&c->net_stop, true, memory_order_release);
        uint64_t one = 1;
        ssize_t w = write(c->wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(c->net_thread, NULL);
        c->net_started = false;
    }
    /* no sender opens a link from now on (checked under each peer's lock),
     * and the open ones close: zmq_ctx_term waits for every socket */
    atomic_store_explicit(&c->links_closed, true, memory_order_relaxed);
    if (c->peers)
        for (uint32_t id = 1; id < ZA_NODES; id++) {
            za_peer *p = &c->peers[id];
            pthread_mutex_lock(&p->mu);
            close_peer(c, p);
            pthread_mutex_unlock(&p->mu);
        }
    if (c->router && c->monitor) zmq_socket_monitor(c->router, NULL, 0);
    if (c->monitor) zmq_close(c->monitor);
    c->monitor = NULL;
    if (c->zap) zmq_close(c->zap);
    c->zap = NULL;
    if (c->router) zmq_close(c->router);
    c->router = NULL;
    if (c->zctx) zmq_ctx_term(c->zctx);
    c->zctx = NULL;
    if (c->wake_fd > 0) close(c->wake_fd);
    c->wake_fd = -1;
}

void za__net_free(za_cluster *c) {
    free(c->due);
    c->due = NULL;
    if (!c->peers) return;
    for (uint32_t id = 0; id < ZA_NODES; id++) {
        pthread_mutex_destroy(&c->peers[id].mu);
        msgpack_sbuffer_destroy(&c->peers[id].batch);
    }
    free(c->peers);
    c->peers = NULL;
}
