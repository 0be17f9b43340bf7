/*
 * The cluster, end to end: a redis-server this program starts on a free
 * port in a temporary directory, other nodes as OS processes (this same
 * binary re-executed in "node" mode) on 127.0.0.1, and this process as a
 * member too. Every child dies with us (PR_SET_PDEATHSIG) and is killed at
 * the end; every wait is bounded.
 */
#include "testutil.h"

#include <errno.h>
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

/* libzmq (and libsodium, its CURVE crypto) are not built with
 * ThreadSanitizer: a message filled on libzmq's I/O thread and handed over
 * through its lock-free pipes looks like a race to TSan when we read it.
 * Silenced: races whose top frame is in libzmq, races with a write done
 * inside libsodium (decrypted frames), and interceptors (memcpy, malloc)
 * called by either library on its own buffers. Our code stays checked. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) {
    return "race_top:libzmq.so\ncalled_from_lib:libzmq.so\n"
           "race:crypto_secretbox_open_detached\ncalled_from_lib:libsodium.so\n";
}

enum { T_ECHO = 1, T_SEQ = 2, T_SEQ_READ = 3, T_STOP_ME = 7, T_TRACE = 8 };

/* ------------------------------------------------------------ behaviours */

typedef struct seq_state {
    uint32_t next, bad;
} seq_state;

static int echo_receive(za_ctx *ctx, const za_msg *m) {
    seq_state *st = za_ctx_state(ctx);
    if (m->tag == T_SEQ && m->len == 4) {
        uint32_t v;
        memcpy(&v, m->data, 4);
        if (v != st->next) st->bad++;
        st->next = v + 1;
    } else if (m->tag == T_SEQ_READ) {
        return za_reply(ctx, T_SEQ_READ, st, sizeof *st);
    } else if (m->tag == T_STOP_ME) {
        za_ctx_stop(ctx);
    } else if (m->tag == T_TRACE) { /* the trace context the message came with */
        za_trace t;
        if (za_ctx_trace(ctx, &t) != ZA_OK) return za_reply(ctx, T_TRACE, NULL, 0);
        return za_reply(ctx, T_TRACE, &t, sizeof t);
    }
    if (za_ctx_can_reply(ctx)) return za_reply(ctx, m->tag, m->data, m->len);
    return 0;
}
static const za_behaviour echo_beh = {ZA_BEHAVIOUR_INIT, .name = "echo",
                                      .state_size = sizeof(seq_state), .receive = echo_receive};

/* Takes every ask's reply slot and never answers (until it stops). */
typedef struct silent_state {
    za_reply_slot *held[64];
    int n;
} silent_state;
static int silent_receive(za_ctx *ctx, const za_msg *m) {
    silent_state *st = za_ctx_state(ctx);
    if (za_ctx_can_reply(ctx) && st->n < 64) st->held[st->n++] = za_ctx_take_reply(ctx);
    return 0;
}
static void silent_stop(za_ctx *ctx) {
    silent_state *st = za_ctx_state(ctx);
    for (int i = 0; i < st->n; i++)
        za_reply_error(za_ctx_system(ctx), st->held[i], ZA_EFAILED, "stopped");
    st->n = 0;
}
static const za_behaviour silent_beh = {ZA_BEHAVIOUR_INIT, .name = "silent",
                                        .state_size = sizeof(silent_state),
                                        .receive = silent_receive, .stop = silent_stop};

/* Records the DOWN notices it gets. */
static pthread_mutex_t down_mu = PTHREAD_MUTEX_INITIALIZER;
static za_down downs[16];
static atomic_int ndowns;
static int watcher_receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag == ZA_TAG_DOWN && m->len == sizeof(za_down)) {
        pthread_mutex_lock(&down_mu);
        int i = atomic_load(&ndowns);
        if (i < 16) memcpy(&downs[i], m->data, sizeof(za_down));
        pthread_mutex_unlock(&down_mu);
        atomic_fetch_add(&ndowns, 1);
    }
    return 0;
}
static const za_behaviour watcher_beh = {ZA_BEHAVIOUR_INIT, .name = "watcher",
                                         .receive = watcher_receive};

/* Fails its start: a remote spawn reports it. */
static int failstart_start(za_ctx *ctx, const void *args, size_t len) {
    za_ctx_fail(ctx, ZA_EFAILED, "no start for you (%zu bytes of args)", len);
    return 1;
}
static const za_behaviour failstart_beh = {ZA_BEHAVIOUR_INIT, .name = "failstart",
                                           .start = failstart_start, .receive = echo_receive};

/* Replies with the start args it was spawned with. */
typedef struct args_state {
    char args[32];
    size_t len;
} args_state;
static int args_start(za_ctx *ctx, const void *args, size_t len) {
    args_state *st = za_ctx_state(ctx);
    st->len = len < sizeof st->args ? len : sizeof st->args;
    if (st->len) memcpy(st->args, args, st->len);
    return 0;
}
static int args_receive(za_ctx *ctx, const za_msg *m) {
    args_state *st = za_ctx_state(ctx);
    return za_ctx_can_reply(ctx) ? za_reply(ctx, 1, st->args, st->len) : 0;
}
static const za_behaviour args_beh = {ZA_BEHAVIOUR_INIT, .name = "args",
                                      .state_size = sizeof(args_state), .start = args_start,
                                      .receive = args_receive};

/* ------------------------------------------------------------- node mode */

static void node_mode_event(za_node_event_kind kind, const za_node_info *n, void *ud) {
    if (kind == ZA_NODE_EXPELLED) {
        printf("EXPELLED %u\n", n->id);
        fflush(stdout);
    }
}

/* argv: node <redis-url> <cluster> <node-name>. Serves echo@<name> and
 * silent@<name>; prints "READY <id>"; runs until stdin closes (at most 60 s). */
static int node_main(int argc, char **argv) {
    if (argc < 5) return 2;
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = argv[2];
    cc.name = argv[3];
    cc.node_name = argv[4];
    if (argc > 5) cc.secret = argv[5];
    za_cluster *cl = NULL;
    if (za_cluster_create(&cc, &cl) != ZA_OK) {
        fprintf(stderr, "node %s: %s\n", argv[4], za_last_error());
        return 3;
    }
    za_cluster_on_event(cl, node_mode_event, NULL);
    /* remote spawn: two behaviours offered by name, and a path pattern */
    if (za_cluster_spawn_behaviour(cl, "args", &args_beh) != ZA_OK ||
        za_cluster_spawn_behaviour(cl, "failstart", &failstart_beh) != ZA_OK ||
        za_cluster_spawnable(cl, "/nonexistent/*") != ZA_OK)
        return 7;
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 1;
    cfg.cluster = cl;
    za_system *sys = NULL;
    if (za_system_create(&cfg, &sys) != ZA_OK) return 4;
    char name[96];
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    za_ref r;
    snprintf(name, sizeof name, "echo@%s", argv[4]);
    o.name = name;
    if (za_spawn_sync(sys, &echo_beh, NULL, 0, &o, 5000, &r) != ZA_OK) return 5;
    snprintf(name, sizeof name, "silent@%s", argv[4]);
    if (za_spawn_sync(sys, &silent_beh, NULL, 0, &o, 5000, &r) != ZA_OK) return 6;
    za_node_info me;
    za_cluster_self(cl, &me);
    printf("READY %u\n", me.id);
    fflush(stdout);
    struct pollfd p = {0, POLLIN, 0};
    uint64_t end = tu_now_ms() + 60000;
    while (tu_now_ms() < end) {
        if (poll(&p, 1, 100) > 0) {
            char b[16];
            if (read(0, b, sizeof b) <= 0) break;
        }
    }
    za_system_destroy(sys);
    za_cluster_destroy(cl);
    return 0;
}

/* ------------------------------------------------------------- harness */

static char tmpdir[64];
static pid_t redis_pid;
static int redis_port;
static char redis_url[64];

typedef struct child {
    pid_t pid;
    int in_fd, out_fd;
    uint32_t id;
} child;

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &l))
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

static bool redis_answers(void) {
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

static int group_setup(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/za-cluster-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    redis_port = free_port();
    snprintf(redis_url, sizeof redis_url, "redis://127.0.0.1:%d/0", redis_port);
    redis_pid = fork();
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char port[16];
        snprintf(port, sizeof port, "%d", redis_port);
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
               tmpdir, "--save", "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    if (!WAIT_UNTIL(redis_answers(), 10000)) {
        fprintf(stderr, "redis-server did not answer on port %d\n", redis_port);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    if (redis_pid > 0) {
        kill(redis_pid, SIGCONT);
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return 0;
}

/* Start a node process and wait (bounded) for its READY line. */
static child start_node_secret(const char *cluster, const char *name, const char *secret);
static child start_node(const char *cluster, const char *name) {
    return start_node_secret(cluster, name, NULL);
}
static child start_node_secret(const char *cluster, const char *name, const char *secret) {
    child ch = {0};
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    ch.pid = fork();
    assert_true(ch.pid >= 0);
    if (ch.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/proc/self/exe", "test_cluster", "node", redis_url, cluster, name, secret,
              (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    ch.in_fd = in[1];
    ch.out_fd = out[0];
    char line[64] = {0};
    size_t n = 0;
    uint64_t end = tu_now_ms() + 20000;
    while (n < sizeof line - 1 && tu_now_ms() < end && !strchr(line, '\n')) {
        struct pollfd p = {ch.out_fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            ssize_t k = read(ch.out_fd, line + n, sizeof line - 1 - n);
            if (k <= 0) break;
            n += (size_t)k;
        }
    }
    unsigned id = 0;
    assert_int_equal(sscanf(line, "READY %u", &id), 1);
    ch.id = id;
    return ch;
}

/* Wait (bounded) until the child printed a line starting with prefix. */
static bool child_says(child *ch, const char *prefix, unsigned ms) {
    static char buf[4096];
    size_t n = 0;
    uint64_t end = tu_now_ms() + ms;
    while (tu_now_ms() < end && n < sizeof buf - 1) {
        struct pollfd p = {ch->out_fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            ssize_t k = read(ch->out_fd, buf + n, sizeof buf - 1 - n);
            if (k <= 0) break;
            n += (size_t)k;
            buf[n] = 0;
            if (strstr(buf, prefix)) return true;
        }
    }
    return false;
}

static void stop_node(child *ch, bool graceful) {
    if (ch->pid <= 0) return;
    if (graceful) {
        close(ch->in_fd);
        ch->in_fd = -1;
        uint64_t end = tu_now_ms() + 10000;
        while (tu_now_ms() < end && waitpid(ch->pid, NULL, WNOHANG) == 0) tu_sleep_ms(20);
    }
    kill(ch->pid, SIGCONT);
    kill(ch->pid, SIGKILL);
    waitpid(ch->pid, NULL, 0);
    if (ch->in_fd >= 0) close(ch->in_fd);
    close(ch->out_fd);
    ch->pid = 0;
}

/* node events seen by this process */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static int ev_up[ZA_NODE_MAX + 1], ev_down[ZA_NODE_MAX + 1], ev_expelled;
static void on_event(za_node_event_kind kind, const za_node_info *n, void *ud) {
    pthread_mutex_lock(&ev_mu);
    if (kind == ZA_NODE_UP) ev_up[n->id]++;
    if (kind == ZA_NODE_DOWN) ev_down[n->id]++;
    if (kind == ZA_NODE_EXPELLED) ev_expelled++;
    pthread_mutex_unlock(&ev_mu);
}
static int downs_of(uint32_t id) {
    pthread_mutex_lock(&ev_mu);
    int n = ev_down[id];
    pthread_mutex_unlock(&ev_mu);
    return n;
}

typedef struct member {
    za_cluster *cl;
    za_system *sys;
    tu_dl *dl;
} member;

static member join_secret(const char *cluster, const char *name, const char *secret);
static member join(const char *cluster, const char *name) {
    return join_secret(cluster, name, NULL);
}
static member join_secret(const char *cluster, const char *name, const char *secret) {
    member m = {0};
    pthread_mutex_lock(&ev_mu); /* node ids restart in each test's cluster */
    memset(ev_up, 0, sizeof ev_up);
    memset(ev_down, 0, sizeof ev_down);
    ev_expelled = 0;
    pthread_mutex_unlock(&ev_mu);
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis_url;
    cc.name = cluster;
    cc.node_name = name;
    cc.secret = secret;
    assert_int_equal(za_cluster_create(&cc, &m.cl), ZA_OK);
    za_cluster_on_event(m.cl, on_event, NULL);
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.cluster = m.cl;
    assert_int_equal(za_system_create(&cfg, &m.sys), ZA_OK);
    m.dl = tu_dl_new();
    za_set_dead_letter_hook(m.sys, tu_dl_hook, m.dl);
    return m;
}

static void leave(member *m) {
    za_system_destroy(m->sys);
    za_cluster_destroy(m->cl);
    tu_dl_free(m->dl);
}

static za_ref lookup_eventually(za_system *sys, const char *name) {
    za_ref r = ZA_REF_NONE;
    WAIT_UNTIL(za_lookup(sys, name, &r) == ZA_OK, 10000);
    return r;
}

/* --------------------------------------------------------------- tests */

static void test_remote_spawn(void **state) {
    child b = start_node("c10", "b10");
    member me = join("c10", "main10");
    za_node_info self;
    za_cluster_self(me.cl, &self);
    ASSERT_EVENTUALLY(za_cluster_node_id(me.cl, "b10", &(uint32_t){0}) == ZA_OK);
    uint32_t bid = 0;
    assert_int_equal(za_cluster_node_id(me.cl, "b10", &bid), ZA_OK);
    assert_int_equal(bid, b.id);
    char idtext[16];
    snprintf(idtext, sizeof idtext, "%u", b.id);

    /* a registered behaviour, by node name and by id: a live actor there,
     * started with our args, registered under the name we gave */
    za_ref r = ZA_REF_NONE, r2 = ZA_REF_NONE;
    assert_int_equal(
        za_cluster_spawn(me.sys, "b10", "c", "args", "hi!", 3, "spawned@b10", 5000, &r), ZA_OK);
    assert_int_equal(za_ref_node(r), b.id);
    za_answer a;
    assert_int_equal(za_ask(me.sys, r, 1, NULL, 0, 5000, &a), ZA_OK);
    assert_int_equal(a.len, 3);
    assert_memory_equal(a.data, "hi!", 3);
    za_answer_free(&a);
    za_ref looked = ZA_REF_NONE;
    assert_int_equal(za_lookup(me.sys, "spawned@b10", &looked), ZA_OK);
    assert_true(looked == r);
    assert_int_equal(za_cluster_spawn(me.sys, idtext, "c", "args", NULL, 0, NULL, 5000, &r2),
                     ZA_OK);
    assert_true(r2 != r && za_ref_node(r2) == b.id);

    /* bad paths, each with a clear error */
    ASSERT_ERR(za_cluster_spawn(me.sys, "b10", "c", "args", NULL, 0, "spawned@b10", 5000, &r2),
               ZA_EEXIST);
    ASSERT_ERR(za_cluster_spawn(me.sys, "nosuch", "c", "args", NULL, 0, NULL, 5000, &r2),
               ZA_ENODEDOWN);
    assert_non_null(strstr(za_last_error(), "nosuch"));
    ASSERT_ERR(za_cluster_spawn(me.sys, "4000", "c", "args", NULL, 0, NULL, 5000, &r2),
               ZA_ENODEDOWN);
    /* not allowed there: refused, and nothing was loaded */
    ASSERT_ERR(za_cluster_spawn(me.sys, "b10", "c", "/tmp/evil.so:beh", NULL, 0, NULL, 5000, &r2),
               ZA_EAUTH);
    assert_non_null(strstr(za_last_error(), "does not allow spawning '/tmp/evil.so:beh'"));
    ASSERT_ERR(za_cluster_spawn(me.sys, "b10", "lua", "worker.lua", NULL, 0, NULL, 5000, &r2),
               ZA_EAUTH);
    assert_non_null(strstr(za_last_error(), "cannot spawn lua actors"));
    /* allowed by pattern, but not there: the loader's text comes back */
    ASSERT_ERR(
        za_cluster_spawn(me.sys, "b10", "c", "/nonexistent/lib.so:beh", NULL, 0, NULL, 5000, &r2),
        ZA_ENOTFOUND);
    assert_non_null(strstr(za_last_error(), "cannot load /nonexistent/lib.so"));
    ASSERT_ERR(za_cluster_spawn(me.sys, "b10", "c", "failstart", "xy", 2, NULL, 5000, &r2),
               ZA_ESTART);
    assert_non_null(strstr(za_last_error(), "no start for you (2 bytes of args)"));
    ASSERT_ERR(za_cluster_spawn(me.sys, "b10", "c", "", NULL, 0, NULL, 5000, &r2), ZA_EINVAL);
    ASSERT_ERR(za_cluster_spawn(me.sys, "b10", "C!", "args", NULL, 0, NULL, 5000, &r2), ZA_EINVAL);
    /* "*" (anything) only with a secret */
    ASSERT_ERR(za_cluster_spawnable(me.cl, "*"), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "secret"));

    /* on this node: our own handler, no allow-list */
    assert_int_equal(za_cluster_spawn_behaviour(me.cl, "echo", &echo_beh), ZA_OK);
    assert_int_equal(za_cluster_spawn(me.sys, "main10", "c", "echo", NULL, 0, NULL, 5000, &r2),
                     ZA_OK);
    assert_int_equal(za_ref_node(r2), self.id);
    assert_true(za_is_alive(me.sys, r2));

    /* pickled Python objects: refused by a node that did not allow them
     * (a C node never does), with the reason; allowing needs a secret */
    za_ref echo = lookup_eventually(me.sys, "echo@b10");
    assert_int_equal(za_ask(me.sys, echo, ZA_TAG_PICKLE, "\x80\x04N.", 4, 5000, &a), ZA_EINVAL);
    assert_non_null(strstr(a.error, "does not accept pickled Python objects"));
    za_answer_free(&a);
    assert_int_equal(za_tell(me.sys, echo, ZA_TAG_PICKLE, "\x80\x04N.", 4), ZA_OK);
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, "ok", 2, 5000, &a), ZA_OK); /* still there */
    za_answer_free(&a);
    ASSERT_ERR(za_cluster_allow_pickle(me.cl, 1), ZA_EINVAL);
    assert_int_equal(za_cluster_pickle_allowed(me.cl), 0);

    /* a node that dies while we wait: the spawn fails with node-down */
    za_ref silent = lookup_eventually(me.sys, "silent@b10");
    assert_true(silent != ZA_REF_NONE);
    stop_node(&b, false);
    ASSERT_EVENTUALLY(za_cluster_node_id(me.cl, "b10", &bid) == ZA_ENODEDOWN);
    ASSERT_ERR(za_cluster_spawn(me.sys, "b10", "c", "args", NULL, 0, NULL, 5000, &r2),
               ZA_ENODEDOWN);
    za_cluster_stats cs;
    za_cluster_stats_read(me.cl, &cs);
    assert_int_equal(cs.malformed, 0);
    leave(&me);
}

static void test_remote_tell_ask_watch_stop(void **state) {
    child b = start_node("c1", "b1");
    member me = join("c1", "main1");
    za_node_info self;
    za_cluster_self(me.cl, &self);
    assert_true(self.id != b.id);

    za_ref echo = lookup_eventually(me.sys, "echo@b1");
    assert_true(echo != ZA_REF_NONE);
    assert_int_equal(za_ref_node(echo), b.id);
    assert_true(za_is_alive(me.sys, echo));

    /* ask across nodes */
    za_answer a;
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, "hello", 5, 5000, &a), ZA_OK);
    assert_int_equal(a.tag, T_ECHO);
    assert_int_equal(a.len, 5);
    assert_memory_equal(a.data, "hello", 5);
    za_answer_free(&a);

    /* a trace context crosses nodes with the message (and only when set) */
    za_trace t;
    assert_int_equal(za_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t),
                     ZA_OK);
    za_trace_set_current(&t);
    assert_int_equal(za_ask(me.sys, echo, T_TRACE, NULL, 0, 5000, &a), ZA_OK);
    za_trace_set_current(NULL);
    assert_int_equal(a.len, sizeof t);
    assert_memory_equal(a.data, &t, sizeof t);
    za_answer_free(&a);
    assert_int_equal(za_ask(me.sys, echo, T_TRACE, NULL, 0, 5000, &a), ZA_OK);
    assert_int_equal(a.len, 0);
    za_answer_free(&a);

    /* FIFO per sender -> receiver, batched by the network thread */
    uint32_t n = (uint32_t)tu_size(2000);
    for (uint32_t i = 0; i < n; i++) assert_int_equal(za_tell(me.sys, echo, T_SEQ, &i, 4), ZA_OK);
    assert_int_equal(za_ask(me.sys, echo, T_SEQ_READ, NULL, 0, 5000, &a), ZA_OK);
    seq_state st;
    assert_int_equal(a.len, sizeof st);
    memcpy(&st, a.data, sizeof st);
    za_answer_free(&a);
    assert_int_equal(st.next, n);
    assert_int_equal(st.bad, 0);

    /* names are cluster-wide */
    za_ref local = tu_spawn(me.sys, &echo_beh, NULL, 0, NULL);
    ASSERT_ERR(za_register(me.sys, "echo@b1", local), ZA_EEXIST);
    assert_int_equal(za_register(me.sys, "echo@main1", local), ZA_OK);
    assert_int_equal(za_ref_node(local), self.id);

    /* bad paths: a stale actor on a live node, an unknown node, a pointer */
    za_ref stale = za_ref_make(b.id, 77, 4000);
    assert_int_equal(za_ask(me.sys, stale, T_ECHO, "x", 1, 5000, &a), ZA_EDEAD);
    za_answer_free(&a);
    za_ref nowhere = za_ref_make(4000, 1, 5);
    assert_int_equal(za_ask(me.sys, nowhere, T_ECHO, "x", 1, 5000, &a), ZA_ENODEDOWN);
    assert_non_null(strstr(a.error, "not a member"));
    za_answer_free(&a);
    assert_int_equal(za_tell(me.sys, nowhere, 42, "y", 1), ZA_OK);
    assert_int_equal(tu_dl_count_tag(me.dl, 42, ZA_DL_NODE_DOWN), 1);
    assert_false(za_is_alive(me.sys, nowhere));
    static int token;
    ASSERT_ERR(za_tell_ptr(me.sys, echo, 1, &token, NULL, ZA_PRIO_NORMAL), ZA_EINVAL);

    /* watch + stop across nodes: DOWN, normal code; the name goes with it */
    atomic_store(&ndowns, 0);
    za_ref w = tu_spawn(me.sys, &watcher_beh, NULL, 0, NULL);
    assert_int_equal(za_watch(me.sys, w, echo), ZA_OK);
    za_ref silent = lookup_eventually(me.sys, "silent@b1");
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, NULL, 0, 5000, &a), ZA_OK); /* watch is in */
    za_answer_free(&a);
    assert_int_equal(za_stop(me.sys, echo), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&ndowns) == 1);
    assert_true(downs[0].ref == echo);
    assert_int_equal(downs[0].code, 0);
    za_ref r2;
    ASSERT_EVENTUALLY(za_lookup(me.sys, "echo@b1", &r2) == ZA_ENOTFOUND);
    /* watching an actor that is already dead on its node: DOWN at once */
    assert_int_equal(za_watch(me.sys, w, echo), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&ndowns) == 2);
    assert_int_equal(downs[1].code, ZA_EDEAD);
    assert_true(silent != ZA_REF_NONE);

    size_t nn = 0;
    za_node_info nodes[8];
    assert_int_equal(za_cluster_nodes(me.cl, nodes, 8, &nn), ZA_OK);
    assert_int_equal(nn, 2);

    /* a node that leaves is a NodeDown for the others, and its names go */
    stop_node(&b, true);
    ASSERT_EVENTUALLY(downs_of(b.id) == 1);
    ASSERT_ERR(za_lookup(me.sys, "silent@b1", &r2), ZA_ENOTFOUND);
    leave(&me);
}

static void test_kill9_declared_dead(void **state) {
    child b = start_node("c2", "b2");
    child c = start_node("c2", "c2"); /* three members: the verdict takes two votes */
    member me = join("c2", "main2");
    za_ref echo = lookup_eventually(me.sys, "echo@b2");
    za_ref silent = lookup_eventually(me.sys, "silent@b2");
    assert_true(echo && silent);
    atomic_store(&ndowns, 0);
    za_ref w = tu_spawn(me.sys, &watcher_beh, NULL, 0, NULL);
    assert_int_equal(za_watch(me.sys, w, echo), ZA_OK);
    za_answer a;
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, NULL, 0, 5000, &a), ZA_OK);
    za_answer_free(&a);

    /* an ask that will never be answered: it must fail when the node is
     * declared dead, within the promised 5 s, not at its own timeout */
    za_ask_wait_handle *h = NULL;
    assert_int_equal(za_ask_start(me.sys, silent, T_ECHO, "q", 1, &h), ZA_OK);
    tu_sleep_ms(200);
    uint64_t t0 = tu_now_ms();
    kill(b.pid, SIGKILL);
    int rc = ZA_EAGAIN;
    while (rc == ZA_EAGAIN && tu_now_ms() - t0 < 5000) rc = za_ask_wait(h, 50, &a);
    uint64_t took = tu_now_ms() - t0;
    if (rc == ZA_EAGAIN)
        za_ask_abandon(h);
    else
        za_ask_wait_release(h);
    printf("kill -9 -> ask failed after %llu ms\n", (unsigned long long)took);
    assert_int_equal(rc, ZA_ENODEDOWN);
    assert_non_null(strstr(a.error, "node-down"));
    za_answer_free(&a);
    ASSERT_EVENTUALLY(atomic_load(&ndowns) == 1);
    assert_int_equal(downs[0].code, ZA_ENODEDOWN);
    assert_non_null(strstr(downs[0].reason, "node-down"));
    /* the event runs on the membership thread right after the asks and
     * watches were answered: wait for it */
    ASSERT_EVENTUALLY(downs_of(b.id) == 1);
    /* after the verdict: tells are dead letters with that reason, asks fail at once */
    assert_int_equal(za_tell(me.sys, echo, 43, "z", 1), ZA_OK);
    assert_int_equal(tu_dl_count_tag(me.dl, 43, ZA_DL_NODE_DOWN), 1);
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, NULL, 0, 5000, &a), ZA_ENODEDOWN);
    za_answer_free(&a);
    za_cluster_stats cs;
    za_cluster_stats_read(me.cl, &cs);
    assert_true(cs.votes >= 1);
    assert_int_equal(cs.nodes_down, 1);
    size_t nn = 0;
    za_cluster_nodes(me.cl, NULL, 0, &nn);
    assert_int_equal(nn, 2); /* main2 and c2 */
    assert_int_equal(downs_of(c.id), 0);
    stop_node(&b, false);
    stop_node(&c, true);
    leave(&me);
}

/* Two of three members die together: the survivor alone declares both dead
 * (members whose I-am-alive went stale do not count as voters). */
static void test_two_die_together(void **state) {
    child b = start_node("c9", "b9");
    child c = start_node("c9", "c9");
    member me = join("c9", "main9");
    assert_true(lookup_eventually(me.sys, "echo@b9") && lookup_eventually(me.sys, "echo@c9"));
    kill(b.pid, SIGKILL);
    kill(c.pid, SIGKILL);
    ASSERT_EVENTUALLY(downs_of(b.id) == 1 && downs_of(c.id) == 1);
    size_t nn = 0;
    za_cluster_nodes(me.cl, NULL, 0, &nn);
    assert_int_equal(nn, 1);
    stop_node(&b, false);
    stop_node(&c, false);
    leave(&me);
}

/* A node paused past the verdict is fenced: its old identity stays dead
 * everywhere, what it still sends is dropped, and it learns it was expelled. */
static void test_paused_node_is_fenced(void **state) {
    child b = start_node("c8", "b8");
    member me = join("c8", "main8");
    za_ref echo = lookup_eventually(me.sys, "echo@b8");
    assert_true(echo);
    kill(b.pid, SIGSTOP);
    ASSERT_EVENTUALLY(downs_of(b.id) == 1);
    kill(b.pid, SIGCONT);
    assert_true(child_says(&b, "EXPELLED", TU_WAIT_MS));
    ASSERT_EVENTUALLY(({
        za_cluster_stats cs;
        za_cluster_stats_read(me.cl, &cs);
        cs.fenced > 0; /* its heartbeats after the pause */
    }));
    za_answer a;
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, NULL, 0, 2000, &a), ZA_ENODEDOWN);
    za_answer_free(&a);
    assert_false(za_is_alive(me.sys, echo));
    stop_node(&b, true);
    leave(&me);
}

static void test_sigstop_2s_not_dead(void **state) {
    child b = start_node("c3", "b3");
    member me = join("c3", "main3");
    za_ref echo = lookup_eventually(me.sys, "echo@b3");
    assert_true(echo);
    za_answer a;
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, NULL, 0, 5000, &a), ZA_OK);
    za_answer_free(&a);
    kill(b.pid, SIGSTOP);
    tu_sleep_ms(2000);
    kill(b.pid, SIGCONT);
    /* the ask waits out the pause's backlog; then give a verdict time to show */
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, "after", 5, 5000, &a), ZA_OK);
    za_answer_free(&a);
    tu_sleep_ms(2500);
    assert_int_equal(downs_of(b.id), 0);
    assert_true(za_is_alive(me.sys, echo));
    za_cluster_stats cs;
    za_cluster_stats_read(me.cl, &cs);
    assert_int_equal(cs.nodes_down, 0);
    stop_node(&b, true);
    leave(&me);
}

static void test_redis_outage(void **state) {
    child b = start_node("c4", "b4");
    member me = join("c4", "main4");
    za_ref echo = lookup_eventually(me.sys, "echo@b4");
    assert_true(echo);
    kill(redis_pid, SIGSTOP); /* Redis stops answering */
    /* traffic between members keeps flowing for longer than suspect_ms */
    uint64_t end = tu_now_ms() + 3500;
    int ok = 0;
    while (tu_now_ms() < end) {
        za_answer a;
        assert_int_equal(za_ask(me.sys, echo, T_ECHO, "p", 1, 5000, &a), ZA_OK);
        za_answer_free(&a);
        ok++;
        tu_sleep_ms(50);
    }
    assert_true(ok > 0);
    /* a death while Redis is out: no verdict until it is back */
    kill(b.pid, SIGKILL);
    tu_sleep_ms(4500);
    assert_int_equal(downs_of(b.id), 0);
    za_cluster_stats cs;
    za_cluster_stats_read(me.cl, &cs);
    assert_true(cs.redis_errors > 0);
    kill(redis_pid, SIGCONT);
    ASSERT_EVENTUALLY(downs_of(b.id) == 1);
    stop_node(&b, false);
    leave(&me);
}

static void test_bad_config(void **state) {
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    za_cluster *cl = NULL;
    ASSERT_ERR(za_cluster_create(&cc, &cl), ZA_EINVAL); /* no redis, no name */
    cc.redis = redis_url;
    cc.name = "c5";
    cc.listen = "tcp://0.0.0.0:0";
    ASSERT_ERR(za_cluster_create(&cc, &cl), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "non-loopback"));
    cc.listen = NULL;
    cc.secret = "k";
    ASSERT_ERR(za_cluster_create(&cc, &cl), ZA_EINVAL);
    cc.secret = NULL;
    cc.redis = "http://127.0.0.1";
    ASSERT_ERR(za_cluster_create(&cc, &cl), ZA_EINVAL);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port());
    cc.redis = url;
    ASSERT_ERR(za_cluster_create(&cc, &cl), ZA_ECONNECT);
    cc.redis = redis_url;
    cc.node_name = "bad|name";
    ASSERT_ERR(za_cluster_create(&cc, &cl), ZA_EINVAL);
    cc.node_name = "twin";
    assert_int_equal(za_cluster_create(&cc, &cl), ZA_OK);
    za_cluster *cl2 = NULL;
    ASSERT_ERR(za_cluster_create(&cc, &cl2), ZA_EEXIST);
    /* one system per cluster */
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 1;
    cfg.cluster = cl;
    za_system *s1 = NULL, *s2 = NULL;
    assert_int_equal(za_system_create(&cfg, &s1), ZA_OK);
    ASSERT_ERR(za_system_create(&cfg, &s2), ZA_ESTATE);
    za_cluster_destroy(cl); /* the system keeps it until it is destroyed */
    za_ref r = tu_spawn(s1, &echo_beh, NULL, 0, NULL);
    assert_int_equal(za_ref_node(r) != 0, 1);
    /* a cluster that left with its system is not reused */
    za_cluster *cl3 = NULL;
    cc.node_name = "twin3";
    assert_int_equal(za_cluster_create(&cc, &cl3), ZA_OK);
    cfg.cluster = cl3;
    za_system *s3 = NULL;
    assert_int_equal(za_system_create(&cfg, &s3), ZA_OK);
    za_system_shutdown(s3, 2000);
    ASSERT_ERR(za_system_create(&cfg, &s2), ZA_ESTATE);
    za_system_destroy(s3);
    za_cluster_destroy(cl3);
    za_system_destroy(s1);
}

static void test_malformed_frames(void **state) {
    child b = start_node("c6", "b6");
    member me = join("c6", "main6");
    za_node_info self;
    za_cluster_self(me.cl, &self);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(s, self.endpoint), 0);
    /* garbage; a header-only lie about the version; a multipart message;
     * a valid header followed by a broken envelope */
    zmq_send(s, "\xc1\xff garbage", 10, 0);
    zmq_send(s, "\x94\x09\x01\x01\xa1x", 6, 0);
    zmq_send(s, "a", 1, ZMQ_SNDMORE);
    zmq_send(s, "b", 1, 0);
    zmq_send(s, "\x94\x01\xcd\x0f\xa0\x01\xa4tcp:\x93\x01\x02", 14, 0);
    ASSERT_EVENTUALLY(({
        za_cluster_stats cs;
        za_cluster_stats_read(me.cl, &cs);
        cs.malformed >= 4;
    }));
    zmq_close(s);
    zmq_ctx_term(ctx);
    /* still working */
    za_ref echo = lookup_eventually(me.sys, "echo@b6");
    za_answer a;
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, "ok", 2, 5000, &a), ZA_OK);
    za_answer_free(&a);
    stop_node(&b, true);
    leave(&me);
}

static void test_curve_secret(void **state) {
    char key[41], other_pub[41], other_sec[41];
    assert_int_equal(za_cluster_secret_new(key), ZA_OK);
    assert_int_equal(strlen(key), 40);
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis_url;
    cc.name = "c7";
    cc.secret = "not a key";
    za_cluster *bad = NULL;
    ASSERT_ERR(za_cluster_create(&cc, &bad), ZA_EINVAL);

    child b = start_node_secret("c7", "b7", key);
    member me = join_secret("c7", "main7", key);
    za_ref echo = lookup_eventually(me.sys, "echo@b7");
    assert_true(echo);
    za_answer a;
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, "sealed", 6, 5000, &a), ZA_OK);
    assert_memory_equal(a.data, "sealed", 6);
    za_answer_free(&a);

    /* outsiders: plain ZeroMQ, and CURVE with the right server key but
     * another client key; neither gets a frame through, both are counted */
    za_node_info self;
    za_cluster_self(me.cl, &self);
    char frame[64];
    int flen = snprintf(frame, sizeof frame, "\x94\x01\x05\x01\xa1x");
    void *ctx = zmq_ctx_new();
    void *plain = zmq_socket(ctx, ZMQ_DEALER);
    void *forged = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(plain, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(forged, ZMQ_LINGER, &zero, sizeof zero);
    char server_pub[41];
    assert_int_equal(zmq_curve_public(server_pub, key), 0);
    assert_int_equal(zmq_curve_keypair(other_pub, other_sec), 0);
    zmq_setsockopt(forged, ZMQ_CURVE_SERVERKEY, server_pub, 40);
    zmq_setsockopt(forged, ZMQ_CURVE_PUBLICKEY, other_pub, 40);
    zmq_setsockopt(forged, ZMQ_CURVE_SECRETKEY, other_sec, 40);
    assert_int_equal(zmq_connect(plain, self.endpoint), 0);
    assert_int_equal(zmq_connect(forged, self.endpoint), 0);
    zmq_send(plain, frame, (size_t)flen, ZMQ_DONTWAIT);
    zmq_send(forged, frame, (size_t)flen, ZMQ_DONTWAIT);
    ASSERT_EVENTUALLY(({
        za_cluster_stats cs;
        za_cluster_stats_read(me.cl, &cs);
        cs.auth_failed >= 2;
    }));
    zmq_close(plain);
    zmq_close(forged);
    zmq_ctx_term(ctx);
    za_cluster_stats cs;
    za_cluster_stats_read(me.cl, &cs);
    assert_int_equal(cs.malformed, 0); /* nothing reached the decoder */
    /* the members still talk */
    assert_int_equal(za_ask(me.sys, echo, T_ECHO, "again", 5, 5000, &a), ZA_OK);
    za_answer_free(&a);
    stop_node(&b, true);
    leave(&me);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "node") == 0) return node_main(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    /* ZA_TEST_ONLY=test_remote_spawn: run one test (while iterating) */
    if (getenv("ZA_TEST_ONLY")) cmocka_set_test_filter(getenv("ZA_TEST_ONLY"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_remote_tell_ask_watch_stop),
        cmocka_unit_test(test_malformed_frames),
        cmocka_unit_test(test_remote_spawn),
        cmocka_unit_test(test_curve_secret),
        cmocka_unit_test(test_kill9_declared_dead),
        cmocka_unit_test(test_sigstop_2s_not_dead),
        cmocka_unit_test(test_paused_node_is_fenced),
        cmocka_unit_test(test_two_die_together),
        cmocka_unit_test(test_redis_outage),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
