/*
 * bench_cluster.c - two zactor nodes on loopback, with raw ZeroMQ beside them.
 *
 *   remote ask round trip: za_ask from node A's main thread to an echo actor
 *     on node B (another process), 64-byte payload, sequential;
 *   raw ZeroMQ REQ/REP between the same two processes: the floor, measured
 *     in rounds alternating with the zactor rounds (the ratio is per round:
 *     on a shared machine the load moves within a run);
 *   one-way throughput: za_tell of 64-byte messages from A's main thread to a
 *     counting actor on B, until B counted them all; raw PUSH/PULL beside it;
 *   failure detection: time from kill -9 of a node to A's NodeDown, over
 *     ZA_BENCH_KILLS kills (default 5), and verdicts after SIGSTOP pauses of
 *     1, 2 and 4 s (defaults: suspect 3 s, so 4 s is expected to be one).
 *
 * ZA_BENCH_ASK_ONLY=1: the round trips only. ZA_BENCH_SPIN_US=n: the
 * workers' idle spin (za_config.spin_us) of both nodes.
 *
 * Starts its own redis-server on a free port in a temporary directory; every
 * child dies with this process (PR_SET_PDEATHSIG) and is killed at the end.
 * Figures printed and written to bench/results/cluster_*.json.
 */
#include "benchutil.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <zmq.h>

#include "zactor.h"

enum { T_ECHO = 1, T_COUNT = 2, T_READ = 3 };
#define PAYLOAD 64
#define ROUND_TRIPS 20000
#define ONE_WAY 1000000

static int echo_receive(za_ctx *ctx, const za_msg *m) {
    uint64_t *n = za_ctx_state(ctx);
    if (m->tag == T_COUNT) (*n)++;
    if (m->tag == T_READ) return za_reply(ctx, T_READ, n, sizeof *n);
    if (za_ctx_can_reply(ctx)) return za_reply(ctx, m->tag, m->data, m->len);
    return 0;
}
static const za_behaviour echo_beh = {ZA_BEHAVIOUR_INIT, .name = "echo",
                                      .state_size = sizeof(uint64_t), .receive = echo_receive};

static char redis_url[64], tmpdir[64];
static pid_t redis_pid;
static _Atomic uint64_t down_at_ns;
static _Atomic uint32_t down_id;

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l))
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

static int node_main(char **argv) {
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = argv[2];
    cc.name = argv[3];
    cc.node_name = argv[4];
    za_cluster *cl;
    if (za_cluster_create(&cc, &cl) != ZA_OK) return fprintf(stderr, "%s\n", za_last_error()), 3;
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 1;
    cfg.cluster = cl;
    if (getenv("ZA_BENCH_SPIN_US")) cfg.spin_us = (uint32_t)atoi(getenv("ZA_BENCH_SPIN_US"));
    za_system *sys;
    if (za_system_create(&cfg, &sys) != ZA_OK) return 4;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    char ename[80];
    snprintf(ename, sizeof ename, "echo@%s", argv[4]); /* names are cluster-wide */
    o.name = ename;
    za_ref r;
    if (za_spawn_sync(sys, &echo_beh, NULL, 0, &o, 5000, &r) != ZA_OK) return 5;
    za_node_info me;
    za_cluster_self(cl, &me);
    printf("READY %u\n", me.id);
    fflush(stdout);
    char b[8];
    while (read(0, b, sizeof b) > 0) {
    }
    za_system_destroy(sys);
    za_cluster_destroy(cl);
    return 0;
}

/* raw ZeroMQ peer: REP echo until "pull", then PULL counting n messages,
 * then one more REP answer once they all arrived */
static int raw_main(char **argv) {
    void *ctx = zmq_ctx_new();
    void *rep = zmq_socket(ctx, ZMQ_REP);
    zmq_bind(rep, argv[2]);
    char buf[PAYLOAD];
    for (;;) {
        int n = zmq_recv(rep, buf, sizeof buf, 0);
        if (n == 4 && memcmp(buf, "pull", 4) == 0) break;
        zmq_send(rep, buf, n > 0 ? (size_t)n : 0, 0);
    }
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    zmq_bind(pull, argv[3]);
    zmq_send(rep, "ok", 2, 0); /* the PULL is bound */
    for (long i = 0; i < ONE_WAY; i++) zmq_recv(pull, buf, sizeof buf, 0);
    int n = zmq_recv(rep, buf, sizeof buf, 0);
    zmq_send(rep, buf, (size_t)n, 0);
    zmq_close(pull);
    zmq_close(rep);
    zmq_ctx_term(ctx);
    return 0;
}

static pid_t spawn_child(char *const argv[], int *out_fd, int *in_fd) {
    int o[2], i[2];
    if (pipe(o) || pipe(i)) exit(1);
    pid_t p = fork();
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(i[0], 0);
        dup2(o[1], 1);
        close(i[1]);
        close(o[0]);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(i[0]);
    close(o[1]);
    *out_fd = o[0];
    *in_fd = i[1];
    return p;
}

static char last_line[256];
static bool wait_line(int fd, const char *what, unsigned ms) {
    char *buf = last_line;
    const size_t cap = sizeof last_line;
    size_t n = 0;
    uint64_t end = bu_now_ns() + (uint64_t)ms * 1000000ull;
    while (bu_now_ns() < end && n < cap - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            ssize_t k = read(fd, buf + n, cap - 1 - n);
            if (k <= 0) return false;
            n += (size_t)k;
            buf[n] = 0;
            if (strstr(buf, what)) return true;
        }
    }
    return false;
}

typedef struct node {
    pid_t pid;
    int out, in;
    uint32_t id;
} node;

static node start_node(const char *cluster, const char *name) {
    char *argv[] = {"bench_cluster", "node", redis_url, (char *)cluster, (char *)name, NULL};
    node n;
    n.pid = spawn_child(argv, &n.out, &n.in);
    unsigned id = 0;
    if (!wait_line(n.out, "READY", 20000) ||
        sscanf(strstr(last_line, "READY"), "READY %u", &id) != 1) {
        fprintf(stderr, "node %s did not start\n", name);
        exit(1);
    }
    n.id = id;
    return n;
}

static void kill_node(node *n) {
    kill(n->pid, SIGCONT);
    kill(n->pid, SIGKILL);
    waitpid(n->pid, NULL, 0);
    close(n->out);
    close(n->in);
}

static void on_event(za_node_event_kind kind, const za_node_info *info, void *ud) {
    /* only the verdict on the node being measured */
    if (kind == ZA_NODE_DOWN && info->id == atomic_load(&down_id))
        atomic_store(&down_at_ns, bu_now_ns());
}

static za_ref lookup(za_system *sys, const char *name) {
    za_ref r = 0;
    uint64_t end = bu_now_ns() + 10000000000ull;
    while (za_lookup(sys, name, &r) != ZA_OK && bu_now_ns() < end) bu_sleep_us(2000);
    return r;
}

static void start_redis(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/za-bench-cluster-XXXXXX");
    if (!mkdtemp(tmpdir)) exit(1);
    int port = free_port();
    snprintf(redis_url, sizeof redis_url, "redis://127.0.0.1:%d/0", port);
    redis_pid = fork();
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1", "--dir", tmpdir,
               "--save", "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        struct timeval tv = {0, 100000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
        bool ok = c && !c->err;
        if (c) redisFree(c);
        if (ok) return;
        bu_sleep_us(50000);
    }
    fprintf(stderr, "redis-server did not start\n");
    exit(1);
}

static void stop_redis(void) {
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void emit(const char *name, const char *unit, bu_stats *s, const char *label,
                 double divisor) {
    bu_stats_done(s);
    bu_print(label, s, unit, divisor);
    bu_json_end(bu_json_begin(name, unit, s));
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "node") == 0) return node_main(argv);
    if (argc > 1 && strcmp(argv[1], "raw") == 0) return raw_main(argv);
    signal(SIGPIPE, SIG_IGN);
    start_redis();
    const char *kills_env = getenv("ZA_BENCH_KILLS");
    int kills = kills_env && atoi(kills_env) > 0 ? atoi(kills_env) : 5;

    /* --- raw ZeroMQ floor, same two-process shape */
    char ep1[64], ep2[64];
    snprintf(ep1, sizeof ep1, "tcp://127.0.0.1:%d", free_port());
    snprintf(ep2, sizeof ep2, "tcp://127.0.0.1:%d", free_port());
    char *rargv[] = {"bench_cluster", "raw", ep1, ep2, NULL};
    node raw;
    raw.pid = spawn_child(rargv, &raw.out, &raw.in);
    void *zctx = zmq_ctx_new();
    void *req = zmq_socket(zctx, ZMQ_REQ);
    zmq_connect(req, ep1);
    char buf[PAYLOAD];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < 1000; i++) { /* warm-up */
        zmq_send(req, buf, sizeof buf, 0);
        zmq_recv(req, buf, sizeof buf, 0);
    }

    /* --- zactor, C to C */
    node b = start_node("bench", "b");
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis_url;
    cc.name = "bench";
    cc.node_name = "a";
    za_cluster *cl;
    if (za_cluster_create(&cc, &cl) != ZA_OK) return fprintf(stderr, "%s\n", za_last_error()), 1;
    za_cluster_on_event(cl, on_event, NULL);
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.cluster = cl;
    if (getenv("ZA_BENCH_SPIN_US")) cfg.spin_us = (uint32_t)atoi(getenv("ZA_BENCH_SPIN_US"));
    za_system *sys;
    za_system_create(&cfg, &sys);
    za_ref echo = lookup(sys, "echo@b");
    if (!echo) return fprintf(stderr, "no echo\n"), 1;
    za_answer a;
    for (int i = 0; i < 1000; i++) { /* warm-up */
        za_ask(sys, echo, T_ECHO, buf, PAYLOAD, 5000, &a);
        za_answer_free(&a);
    }
    /* Raw REQ/REP and zactor asks in alternating rounds, between the same
     * two processes: on a shared machine the load moves during a run, and
     * only figures taken side by side compare (the ratio is per round). */
    bu_stats rtt, rawrt, ratio;
    bu_stats_init(&rtt);
    bu_stats_init(&rawrt);
    bu_stats_init(&ratio);
    int rounds = 9, per = ROUND_TRIPS / rounds;
    uint64_t t0;
    for (int r = 0; r < rounds; r++) {
        t0 = bu_now_ns();
        for (int i = 0; i < per; i++) {
            zmq_send(req, buf, sizeof buf, 0);
            zmq_recv(req, buf, sizeof buf, 0);
        }
        double raw_us = (double)(bu_now_ns() - t0) / 1e3 / per;
        bu_stats_add(&rawrt, raw_us);
        t0 = bu_now_ns();
        for (int i = 0; i < per; i++) {
            if (za_ask(sys, echo, T_ECHO, buf, PAYLOAD, 5000, &a) != ZA_OK) {
                fprintf(stderr, "ask failed: %s\n", za_last_error());
                return 1;
            }
            za_answer_free(&a);
        }
        double za_us = (double)(bu_now_ns() - t0) / 1e3 / per;
        bu_stats_add(&rtt, za_us);
        bu_stats_add(&ratio, za_us / raw_us);
    }
    emit("cluster_raw_reqrep", "us", &rawrt, "raw ZeroMQ REQ/REP round trip (64 B)", 1);
    emit("cluster_remote_ask_c", "us", &rtt, "zactor remote ask C->C (64 B)", 1);
    emit("cluster_remote_ask_ratio", "x", &ratio, "ratio zactor / raw, per round", 1);
    if (getenv("ZA_BENCH_ASK_ONLY")) { /* iterating on the ask path: skip the rest */
        kill_node(&b);
        kill(raw.pid, SIGKILL);
        waitpid(raw.pid, NULL, 0);
        za_system_destroy(sys);
        za_cluster_destroy(cl);
        stop_redis();
        return 0;
    }

    void *push = zmq_socket(zctx, ZMQ_PUSH);
    zmq_connect(push, ep2);
    zmq_send(req, "pull", 4, 0);
    zmq_recv(req, buf, sizeof buf, 0); /* the PULL is bound */
    t0 = bu_now_ns();
    for (long i = 0; i < ONE_WAY; i++) zmq_send(push, buf, PAYLOAD, 0);
    zmq_send(req, "done", 4, 0);
    zmq_recv(req, buf, sizeof buf, 0); /* answered once all arrived */
    double raw_rate = ONE_WAY / ((double)(bu_now_ns() - t0) / 1e9);
    zmq_close(push);
    zmq_close(req);
    zmq_ctx_term(zctx);
    waitpid(raw.pid, NULL, 0);
    close(raw.out);
    close(raw.in);

    bu_stats one;
    bu_stats_init(&one);
    uint64_t total = 0;
    for (int r = 0; r < 3; r++) {
        t0 = bu_now_ns();
        for (long i = 0; i < ONE_WAY; i++) za_tell(sys, echo, T_COUNT, buf, PAYLOAD);
        total += ONE_WAY;
        uint64_t got = 0, end = bu_now_ns() + 60000000000ull;
        while (got < total && bu_now_ns() < end) {
            if (za_ask(sys, echo, T_READ, NULL, 0, 10000, &a) == ZA_OK && a.len == 8)
                memcpy(&got, a.data, 8);
            za_answer_free(&a);
        }
        double secs = (double)(bu_now_ns() - t0) / 1e9;
        if (got < total)
            printf("  run %d: %llu of %llu arrived (at-most-once: the rest dropped)\n", r,
                   (unsigned long long)(total - got), (unsigned long long)total);
        bu_stats_add(&one, ONE_WAY / secs);
    }
    printf("raw ZeroMQ PUSH/PULL one-way (64 B): %.3g M msg/s\n", raw_rate / 1e6);
    emit("cluster_one_way_c", "msg/s", &one, "zactor remote one-way C->C (64 B)", 0);
    za_cluster_stats cs;
    za_cluster_stats_read(cl, &cs);
    printf("  envelopes per network message: %.1f (sent %llu, frames %llu, dropped %llu)\n",
           cs.batches_out ? (double)cs.sent / (double)cs.batches_out : 0.0,
           (unsigned long long)cs.sent, (unsigned long long)cs.batches_out,
           (unsigned long long)cs.dropped);
    kill_node(&b);

    /* --- failure detection */
    bu_stats det;
    bu_stats_init(&det);
    char name[32];
    for (int k = 0; k < kills; k++) {
        snprintf(name, sizeof name, "k%d", k);
        node n = start_node("bench", name);
        bu_sleep_us(800000); /* a few heartbeats */
        atomic_store(&down_id, n.id);
        atomic_store(&down_at_ns, 0);
        uint64_t tk = bu_now_ns();
        kill(n.pid, SIGKILL);
        uint64_t end = tk + 20000000000ull;
        while (!atomic_load(&down_at_ns) && bu_now_ns() < end) bu_sleep_us(5000);
        uint64_t at = atomic_load(&down_at_ns);
        if (at) bu_stats_add(&det, (double)(at - tk) / 1e9);
        kill_node(&n);
    }
    emit("cluster_failure_detection", "s", &det, "kill -9 -> NodeDown", 1);
    int pauses[] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "p%d", i);
        node n = start_node("bench", name);
        bu_sleep_us(800000);
        atomic_store(&down_id, n.id);
        atomic_store(&down_at_ns, 0);
        kill(n.pid, SIGSTOP);
        bu_sleep_us((uint64_t)pauses[i] * 1000000ull);
        kill(n.pid, SIGCONT);
        bu_sleep_us(3000000);
        printf("SIGSTOP %d s: %s\n", pauses[i],
               atomic_load(&down_at_ns) ? "declared dead" : "not declared dead");
        kill_node(&n);
    }
    za_system_destroy(sys);
    za_cluster_destroy(cl);
    stop_redis();
    return 0;
}
