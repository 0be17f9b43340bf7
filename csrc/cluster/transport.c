/*
 * The transport: one network thread per node owns every ZeroMQ socket (they
 * are single-threaded): a ROUTER bound to this node's endpoint receives from
 * all members, one DEALER per member sends to it. Workers hand envelopes
 * over through an MPSC queue plus an eventfd wake-up; the thread batches
 * what it finds per peer into one frame. The same links carry heartbeats,
 * and silence on them is what the failure detector judges (Orleans: the
 * probe must share the data path).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.h>

#include "cluster.h"
#include "envelope.h"

#define BATCH_MAX (1u << 20)   /* flush a peer's batch beyond this many bytes */
#define RECV_PER_ROUND 512     /* frames read before serving the rest again */
#define FRAME_MAX (96ll << 20) /* larger frames are refused by ZeroMQ itself */

typedef struct npeer {
    void *sock;
    uint64_t epoch;
    msgpack_sbuffer batch;
    uint64_t last_seen_ns;
    uint64_t last_vote_ns;
    bool dirty;
} npeer;

typedef struct net {
    za_cluster *c;
    npeer *peers; /* by node id */
    uint32_t *dirty;
    uint32_t ndirty;
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
    return ZA_OK;
}

void za__net_enqueue(za_cluster *c, za_outitem *it) {
    za__mpsc_push(&c->out_tail, &it->link);
    /* seq_cst: after our push, before the net thread's store of 0 and its
     * drain (net_main): either it drains after seeing our item, or we see 0
     * here and write the eventfd that wakes its poll */
    if (atomic_exchange_explicit(&c->wake_pending, 1, memory_order_seq_cst) == 0) {
        uint64_t one = 1;
        ssize_t w = write(c->wake_fd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is already non-zero, the thread wakes anyway */
    }
}

static void close_peer(npeer *p) {
    if (p->sock) zmq_close(p->sock);
    p->sock = NULL;
    p->batch.size = 0;
    p->epoch = 0;
}

static void open_peer(net *n, uint32_t id, const za_node_info *info) {
    npeer *p = &n->peers[id];
    close_peer(p);
    void *s = zmq_socket(n->c->zctx, ZMQ_DEALER);
    if (!s) return;
    int zero = 0, hwm = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    za_cluster *c = n->c;
    if (c->curve && (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->curve_pub, 40) != 0 ||
                     zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, c->curve_pub, 40) != 0 ||
                     zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->curve_sec, 40) != 0)) {
        zmq_close(s);
        return;
    }
    if (zmq_connect(s, info->endpoint) != 0) {
        zmq_close(s);
        return;
    }
    p->sock = s;
    p->epoch = info->epoch;
    p->last_seen_ns = za__now_ns(); /* silence is counted from now */
    p->last_vote_ns = 0;
}

/* Open links to live members, close links to dead ones. */
static void sync_peers(net *n) {
    za_cluster *c = n->c;
    n->seen_gen = atomic_load_explicit(&c->view_gen, memory_order_acquire);
    pthread_mutex_lock(&c->view_mu);
    for (uint32_t id = 1; id < ZA_NODES; id++) {
        za_node_rec *r = atomic_load_explicit(&c->nodes[id], memory_order_relaxed);
        npeer *p = &n->peers[id];
        if (!r || id == c->self.id) continue;
        int st = atomic_load_explicit(&r->state, memory_order_relaxed);
        if (st == NODE_ALIVE && (!p->sock || p->epoch != r->info.epoch))
            open_peer(n, id, &r->info);
        else if (st != NODE_ALIVE && p->sock)
            close_peer(p);
    }
    pthread_mutex_unlock(&c->view_mu);
}

static void append(net *n, uint32_t id, const void *bytes, size_t len) {
    za_cluster *c = n->c;
    npeer *p = &n->peers[id];
    if (!p->batch.size &&
        za__env_pack_header(&p->batch, c->self.id, c->self.epoch, c->self.endpoint) != ZA_OK)
        return;
    msgpack_sbuffer_write(&p->batch, bytes, len);
    if (!p->dirty) {
        p->dirty = true;
        n->dirty[n->ndirty++] = id;
    }
}

static void flush_one(net *n, npeer *p) {
    za_cluster *c = n->c;
    if (!p->batch.size) return;
    if (zmq_send(p->sock, p->batch.data, p->batch.size, ZMQ_DONTWAIT) < 0)
        atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&c->st.batches_out, 1, memory_order_relaxed);
    p->batch.size = 0;
}

static void flush(net *n) {
    for (uint32_t i = 0; i < n->ndirty; i++) {
        npeer *p = &n->peers[n->dirty[i]];
        p->dirty = false;
        if (p->sock) flush_one(n, p);
        p->batch.size = 0;
    }
    n->ndirty = 0;
}

static void drain(net *n) {
    za_cluster *c = n->c;
    for (;;) {
        bool busy = false;
        za_link *l = za__mpsc_pop(&c->out_tail, &c->out_head, &c->out_stub, &busy);
        if (!l) {
            if (busy) {
                za__cpu_relax();
                continue;
            }
            break;
        }
        za_outitem *it = (za_outitem *)l;
        npeer *p = &n->peers[it->node];
        if (!p->sock) sync_peers(n); /* a member we have not linked to yet */
        if (p->sock) {
            append(n, it->node, it->bytes, it->len);
            atomic_fetch_add_explicit(&c->st.sent, 1, memory_order_relaxed);
            if (p->batch.size >= BATCH_MAX) flush_one(n, p);
        } else {
            atomic_fetch_add_explicit(&c->st.dropped, 1, memory_order_relaxed);
        }
        free(it);
    }
}

/* Accept the sender of a frame: a live member, or a node we have not read
 * from the table yet (it just joined: it is recorded until the table says
 * otherwise). An old incarnation or a node declared dead is fenced. */
static bool accept_sender(net *n, const za_env_header *h) {
    za_cluster *c = n->c;
    if (h->node == c->self.id) return false;
    za_node_rec *r = za__node_rec(c, h->node);
    if (r) {
        pthread_mutex_lock(&c->view_mu);
        uint64_t ep = r->info.epoch;
        int st = atomic_load_explicit(&r->state, memory_order_relaxed);
        pthread_mutex_unlock(&c->view_mu);
        if (ep == h->epoch) return st == NODE_ALIVE;
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
    n->peers[h.node].last_seen_ns = za__now_ns();
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

static void heartbeat(net *n, uint64_t now, bool paused) {
    za_cluster *c = n->c;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    za_env ping = {.kind = ZA_ENV_PING};
    za__env_pack(&sb, &ping);
    uint64_t suspect_ns = (uint64_t)c->cfg.suspect_ms * 1000000ull;
    for (uint32_t id = 1; id < ZA_NODES; id++) {
        npeer *p = &n->peers[id];
        if (!p->sock) continue;
        append(n, id, sb.data, sb.size);
        /* this thread did not run for a while (the process was paused):
         * the silence it measured is its own, not the peers' */
        if (paused) p->last_seen_ns = now;
        if (now - p->last_seen_ns > suspect_ns && now - p->last_vote_ns > 1000000000ull &&
            !atomic_load_explicit(&c->expelled, memory_order_relaxed)) {
            p->last_vote_ns = now;
            za_mreq *rq = calloc(1, sizeof *rq + 1);
            if (rq) {
                rq->kind = MREQ_SUSPECT;
                rq->node = id;
                za__mreq_push(c, rq);
            }
        }
    }
    msgpack_sbuffer_destroy(&sb);
}

static void *net_main(void *arg) {
    za_cluster *c = arg;
    net n = {.c = c, .seen_gen = ~0ull};
    n.peers = calloc(ZA_NODES, sizeof *n.peers);
    n.dirty = calloc(ZA_NODES, sizeof *n.dirty);
    if (!n.peers || !n.dirty) {
        free(n.peers);
        free(n.dirty);
        return NULL;
    }
    for (uint32_t i = 0; i < ZA_NODES; i++) msgpack_sbuffer_init(&n.peers[i].batch);
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
        /* seq_cst: pairs with za__net_enqueue's exchange (see there) */
        atomic_store_explicit(&c->wake_pending, 0, memory_order_seq_cst);
        if (atomic_load_explicit(&c->view_gen, memory_order_acquire) != n.seen_gen) sync_peers(&n);
        drain(&n);
        recv_all(&n);
        now = za__now_ns();
        /* a round normally ends within ~100 ms; half the suspicion time
         * without one means this process was stopped */
        bool paused = now - last_round > (uint64_t)c->cfg.suspect_ms * 500000ull;
        last_round = now;
        if (now >= next_hb || paused) {
            heartbeat(&n, now, paused);
            next_hb = now + hb_ns;
        }
        flush(&n);
    }
    for (uint32_t i = 0; i < ZA_NODES; i++) {
        close_peer(&n.peers[i]);
        msgpack_sbuffer_destroy(&n.peers[i].batch);
    }
    free(n.peers);
    free(n.dirty);
    return NULL;
}

int za__net_start(za_cluster *c) {
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
    /* what is still queued will never be sent */
    for (;;) {
        bool busy = false;
        za_link *l = za__mpsc_pop(&c->out_tail, &c->out_head, &c->out_stub, &busy);
        if (!l) {
            if (busy) continue;
            break;
        }
        free(l);
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
