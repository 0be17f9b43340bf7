/* Introspection (actors, tree links, dead-letter ring, previews) and the HTTP
 * endpoint's status codes, read while workers run. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

enum { T_NOTE = 1, T_GATE, T_SPAWN, T_CRASH };

static tu_gate g_gate;

static int i_receive(za_ctx *ctx, const za_msg *m) {
    switch (m->tag) {
    case T_GATE:
        tu_gate_pass(&g_gate);
        return 0;
    case T_SPAWN: {
        extern const za_behaviour child_beh;
        za_spawn_opts o;
        za_spawn_opts_init(&o);
        o.name = "kid\"1\n";
        za_ref r;
        return za_ctx_spawn(ctx, &child_beh, NULL, 0, &o, &r) == ZA_OK ? 0 : 1;
    }
    case T_CRASH:
        return 1;
    default:
        return 0;
    }
}

static const za_behaviour parent_beh = {ZA_BEHAVIOUR_INIT, .name = "parent", .receive = i_receive};
const za_behaviour child_beh = {ZA_BEHAVIOUR_INIT, .name = "child", .receive = i_receive};

typedef struct found {
    za_actor_view v[16];
    int n;
} found;

static int collect(const za_actor_view *v, void *ud) {
    found *f = ud;
    if (f->n < 16) f->v[f->n++] = *v;
    return 0;
}

static const za_actor_view *find_beh(found *f, const char *beh) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->v[i].behaviour, beh) == 0) return &f->v[i];
    return NULL;
}

static void test_actor_views(void **st) {
    tu_gate_init(&g_gate);
    za_system *sys = tu_system(2);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = "boss";
    za_ref p = tu_spawn(sys, &parent_beh, NULL, 0, &o);
    assert_int_equal(za_tell(sys, p, T_SPAWN, NULL, 0), ZA_OK);
    found f = {0};
    /* the name is registered just after the actor appears: wait for both */
    ASSERT_EVENTUALLY((f.n = 0, za_actors_visit(sys, collect, &f) == 2 && find_beh(&f, "child") &&
                                    find_beh(&f, "child")->name[0] && find_beh(&f, "parent") &&
                                    find_beh(&f, "parent")->name[0]));
    const za_actor_view *pv = find_beh(&f, "parent"), *cv = find_beh(&f, "child");
    assert_non_null(pv);
    assert_non_null(cv);
    assert_int_equal(pv->ref, p);
    assert_string_equal(pv->name, "boss");
    assert_string_equal(pv->language, "c");
    assert_int_equal(pv->parent, ZA_REF_NONE);
    assert_int_equal(cv->parent, p);
    assert_string_equal(cv->name, "kid\"1\n");
    /* a mailbox that fills while the actor is busy shows its depth */
    assert_int_equal(za_tell(sys, p, T_GATE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(atomic_load(&g_gate.entered) == 1);
    for (int i = 0; i < 5; i++) assert_int_equal(za_tell(sys, p, T_NOTE, NULL, 0), ZA_OK);
    za_actor_view v;
    assert_int_equal(za_actor_view_get(sys, p, &v), ZA_OK);
    /* the five queued (and, while it runs, the message being handled) */
    assert_true(v.mailbox_depth >= 5 && v.mailbox_depth <= 6);
    assert_int_equal(v.state, ZA_ACTOR_ALIVE);
    assert_string_equal(za_actor_state_name(v.state), "alive");
    tu_gate_open(&g_gate);
    ASSERT_EVENTUALLY(za_actor_view_get(sys, p, &v) == ZA_OK && v.mailbox_depth == 0 &&
                      v.processed >= 7);
    /* a crash is restarted by the root supervisor: the view counts it */
    assert_int_equal(za_tell(sys, cv->ref, T_CRASH, NULL, 0), ZA_OK);
    za_ref child = cv->ref;
    ASSERT_EVENTUALLY(za_actor_view_get(sys, child, &v) == ZA_OK && v.restarts == 1);
    /* bad input */
    ASSERT_ERR(za_actor_view_get(sys, ZA_REF_NONE, &v), ZA_EDEAD);
    ASSERT_ERR(za_actor_view_get(sys, ((za_ref)77 << 32) | 999999u, &v), ZA_EDEAD);
    ASSERT_ERR(za_actor_view_get(NULL, p, &v), ZA_EINVAL);
    ASSERT_ERR(za_actors_visit(sys, NULL, NULL), ZA_EINVAL);
    /* a stopped actor is gone from the walk; its reference stays dead */
    assert_int_equal(za_stop(sys, p), ZA_OK);
    assert_int_equal(za_join(sys, p, TU_WAIT_MS), ZA_OK);
    ASSERT_EVENTUALLY((f.n = 0, za_actors_visit(sys, collect, &f) == 0));
    ASSERT_ERR(za_actor_view_get(sys, p, &v), ZA_EDEAD);
    za_system_destroy(sys);
}

/* za_spawn_opts.label: what the actor reports as its behaviour (the bindings
 * name their classes and scripts with it); kept across a restart, gone
 * with the actor, and checked at spawn. */
static void test_label(void **st) {
    za_system *sys = tu_system(2);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    char label[64];
    snprintf(label, sizeof label, "shop.Cart");
    o.label = label;
    za_ref a = tu_spawn(sys, &parent_beh, NULL, 0, &o);
    za_ref b = tu_spawn(sys, &parent_beh, NULL, 0, &o);
    label[0] = 'X'; /* copied at spawn */
    za_ref plain = tu_spawn(sys, &child_beh, NULL, 0, NULL);
    za_actor_view v;
    ASSERT_EVENTUALLY(za_actor_view_get(sys, a, &v) == ZA_OK);
    assert_string_equal(v.behaviour, "shop.Cart");
    assert_string_equal(v.language, "c");
    ASSERT_EVENTUALLY(za_actor_view_get(sys, b, &v) == ZA_OK);
    assert_string_equal(v.behaviour, "shop.Cart");
    ASSERT_EVENTUALLY(za_actor_view_get(sys, plain, &v) == ZA_OK);
    assert_string_equal(v.behaviour, "child");
    assert_int_equal(za_tell(sys, a, T_CRASH, NULL, 0), ZA_OK); /* restarted: same label */
    ASSERT_EVENTUALLY(za_actor_view_get(sys, a, &v) == ZA_OK && v.restarts == 1);
    assert_string_equal(v.behaviour, "shop.Cart");
    /* the slot's next actor does not inherit it */
    assert_int_equal(za_stop(sys, b), ZA_OK);
    assert_int_equal(za_join(sys, b, TU_WAIT_MS), ZA_OK);
    for (int i = 0; i < 8; i++) {
        za_ref r = tu_spawn(sys, &child_beh, NULL, 0, NULL);
        ASSERT_EVENTUALLY(za_actor_view_get(sys, r, &v) == ZA_OK);
        assert_string_equal(v.behaviour, "child");
    }
    /* bad labels */
    za_ref r;
    o.label = "";
    ASSERT_ERR(za_spawn(sys, &parent_beh, NULL, 0, &o, &r), ZA_EINVAL);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o.label = big;
    ASSERT_ERR(za_spawn(sys, &parent_beh, NULL, 0, &o, &r), ZA_EINVAL);
    assert_non_null(strstr(za_last_error(), "label must be 1..255 bytes"));
    za_system_destroy(sys);
}

static void test_dead_letter_ring(void **st) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter_keep = 4;
    za_system *sys = tu_system_cfg(&cfg);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.max_restarts = 100000; /* no limit: every crash restarts it */
    za_ref r = tu_spawn(sys, &parent_beh, NULL, 0, &o);
    za_pack *pk = za_pack_new();
    za_pack_map(pk, 2);
    za_pack_str(pk, "op", 2);
    za_pack_str(pk, "a\"b\\c\n", 6);
    za_pack_str(pk, "n", 1);
    za_pack_array(pk, 3);
    za_pack_int(pk, -3);
    za_pack_double(pk, 1.5);
    za_pack_nil(pk);
    /* each message whose handling fails becomes a dead letter */
    for (int i = 0; i < 6; i++) assert_int_equal(za_tell_pack(sys, r, T_CRASH, pk), ZA_OK);
    assert_int_equal(za_tell(sys, r, T_CRASH, "\xff\x00\x01", 3), ZA_OK);
    za_pack_free(pk);
    za_dl_record recs[8];
    uint64_t total = 0;
    /* the count moves before the entry is written (a worker never waits on
     * a reader): wait until the last one is readable too */
    int n = 0;
    ASSERT_EVENTUALLY((n = za_dead_letters_recent(sys, recs, 8, &total),
                       total == 7 && n == 4 && recs[3].seq == 7));
    assert_int_equal(n, 4); /* the ring keeps 4 */
    for (int i = 1; i < n; i++) assert_true(recs[i - 1].seq < recs[i].seq);
    assert_int_equal(recs[3].seq, 7);
    assert_int_equal(recs[3].tag, T_CRASH);
    assert_int_equal(recs[3].target, r);
    assert_int_equal(recs[3].reason, ZA_DL_FAILED);
    assert_string_equal(za_dl_reason_name(recs[3].reason), "failed");
    assert_string_equal(recs[3].preview, "<3 bytes: ff0001>");
    assert_int_equal(recs[2].seq, 6);
    assert_string_equal(recs[2].preview,
                        "{\"op\": \"a\\\"b\\\\c\\u000a\", \"n\": [-3, 1.5, null]}");
    /* a smaller buffer gets the newest */
    n = za_dead_letters_recent(sys, recs, 2, NULL);
    assert_int_equal(n, 2);
    assert_int_equal(recs[1].seq, 7);
    assert_int_equal(recs[0].seq, 6);
    ASSERT_ERR(za_dead_letters_recent(NULL, recs, 2, NULL), ZA_EINVAL);
    za_system_destroy(sys);
}

static void test_preview_cut(void **st) {
    char big[300];
    memset(big, 'x', sizeof big);
    za_pack *pk = za_pack_new();
    za_pack_str(pk, big, sizeof big);
    char buf[32];
    size_t n = za_preview_msgpack(za_pack_data(pk), za_pack_size(pk), buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_true(n < sizeof buf);
    assert_memory_equal(buf + n - 3, "...", 3);
    /* multi-byte UTF-8 is never cut in the middle */
    za_pack_reset(pk);
    za_pack_str(pk, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 16);
    n = za_preview_msgpack(za_pack_data(pk), za_pack_size(pk), buf, 12);
    assert_memory_equal(buf + n - 3, "...", 3);
    assert_true(((unsigned char)buf[n - 4] & 0xc0) != 0xc0); /* not a lead byte */
    za_pack_free(pk);
    assert_int_equal(za_preview_msgpack(NULL, 0, buf, sizeof buf), strlen("<empty>"));
    assert_int_equal(za_preview_msgpack("x", 1, NULL, 0), 0);
}

static void describe(void *p, char *buf, size_t cap) {
    snprintf(buf, cap, "Thing");
}
static void thing_free(void *p) {
    free(p);
}

static void test_ptr_describer(void **st) {
    assert_int_equal(za_ptr_describer_add(thing_free, describe), ZA_OK);
    ASSERT_ERR(za_ptr_describer_add(NULL, describe), ZA_EINVAL);
    za_system *sys = tu_system(1);
    za_ref r = tu_spawn(sys, &parent_beh, NULL, 0, NULL);
    /* the message whose handling fails becomes a dead letter, described */
    assert_int_equal(za_tell_ptr(sys, r, T_CRASH, malloc(8), thing_free, ZA_PRIO_NORMAL), ZA_OK);
    za_dl_record rec;
    ASSERT_EVENTUALLY(za_dead_letters_recent(sys, &rec, 1, NULL) == 1);
    assert_int_equal(rec.reason, ZA_DL_FAILED);
    assert_string_equal(rec.preview, "<Thing>");
    /* a pointer nobody describes */
    assert_int_equal(za_tell_ptr(sys, r, T_CRASH, malloc(8), free, ZA_PRIO_NORMAL), ZA_OK);
    ASSERT_EVENTUALLY(za_dead_letters_recent(sys, &rec, 1, NULL) == 1 && rec.seq == 2);
    assert_string_equal(rec.preview, "<pointer>");
    za_system_destroy(sys);
}

/* -------------------------------------------------------------- HTTP */

/* One request over a fresh connection; returns the status code, body in out. */
static int http_req(const char *url, const char *raw, char *out, size_t cap) {
    unsigned port = 0;
    assert_int_equal(sscanf(url, "http://127.0.0.1:%u", &port), 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t len = strlen(raw), off = 0;
    while (off < len) {
        ssize_t k = send(fd, raw + off, len - off, MSG_NOSIGNAL);
        if (k <= 0) break; /* the server may close early on a huge request */
        off += (size_t)k;
    }
    size_t got = 0;
    for (;;) {
        ssize_t k = recv(fd, out + got, cap - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
        if (got == cap - 1) break;
    }
    out[got] = '\0';
    close(fd);
    int code = 0;
    sscanf(out, "HTTP/1.%*d %d", &code);
    return code;
}

static int http_get(const char *url, const char *path, const char *extra, char *out, size_t cap) {
    char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n", path,
             extra ? extra : "");
    return http_req(url, req, out, cap);
}

static char g_buf[1 << 16];

static void test_http_endpoint(void **st) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.http_addr = "127.0.0.1:0";
    za_system *sys = tu_system_cfg(&cfg);
    const char *url = za_system_http_url(sys);
    assert_non_null(url);
    assert_true(strncmp(url, "http://127.0.0.1:", 17) == 0);
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = "boss";
    za_ref p = tu_spawn(sys, &parent_beh, NULL, 0, &o);
    assert_int_equal(http_get(url, "/health/live", NULL, g_buf, sizeof g_buf), 200);
    assert_int_equal(http_get(url, "/health/ready", NULL, g_buf, sizeof g_buf), 200);
    ASSERT_EVENTUALLY(http_get(url, "/actors?name=boss", NULL, g_buf, sizeof g_buf) == 200 &&
                      strstr(g_buf, "\"behaviour\":\"parent\"") != NULL);
    assert_int_equal(http_get(url, "/metrics", NULL, g_buf, sizeof g_buf), 200);
    assert_non_null(strstr(g_buf, "zactor_queue_latency_seconds_bucket{le=\"+Inf\"}"));
    assert_non_null(
        strstr(g_buf, "zactor_behaviour_actors{behaviour=\"parent\",language=\"c\"} 1"));
    char path[64];
    snprintf(path, sizeof path, "/actors/%u.%u", za_ref_slot(p), za_ref_gen(p));
    assert_int_equal(http_get(url, path, NULL, g_buf, sizeof g_buf), 200);
    assert_int_equal(http_get(url, "/actors/9999.9", NULL, g_buf, sizeof g_buf), 404);
    assert_int_equal(http_get(url, "/actors/x.y", NULL, g_buf, sizeof g_buf), 400);
    assert_int_equal(http_get(url, "/actors?limit=-1", NULL, g_buf, sizeof g_buf), 400);
    assert_int_equal(http_get(url, "/tree", NULL, g_buf, sizeof g_buf), 200);
    assert_int_equal(http_get(url, "/deadletters", NULL, g_buf, sizeof g_buf), 200);
    assert_int_equal(http_get(url, "/", NULL, g_buf, sizeof g_buf), 200);
    assert_int_equal(http_get(url, "/nope", NULL, g_buf, sizeof g_buf), 404);
    assert_int_equal(http_req(url,
                              "POST /actors HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n",
                              g_buf, sizeof g_buf),
                     405);
    /* headers far beyond the per-connection memory limit */
    size_t big = 64 << 10;
    char *huge = malloc(big + 256);
    int k = snprintf(huge, 256, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(huge + k, 'a', big);
    strcpy(huge + k + big, "\r\n\r\n");
    int code = http_req(url, huge, g_buf, sizeof g_buf);
    assert_true(code == 431 || code == 400 || code == 413);
    free(huge);
    /* garbage is answered (or the link closed) and the system works on */
    http_req(url, "\x01\x02 nonsense\r\n\r\n", g_buf, sizeof g_buf);
    assert_int_equal(za_tell(sys, p, T_NOTE, NULL, 0), ZA_OK);
    assert_int_equal(http_get(url, "/health/ready", NULL, g_buf, sizeof g_buf), 200);
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    assert_int_equal(za_system_ready(sys), 0);
    za_system_destroy(sys);
}

static void test_http_token(void **st) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 1;
    cfg.http_addr = "0.0.0.0:0";
    za_system *s = NULL;
    ASSERT_ERR(za_system_create(&cfg, &s), ZA_EINVAL); /* not loopback, no token */
    assert_null(s);
    cfg.http_addr = "127.0.0.1:99999";
    ASSERT_ERR(za_system_create(&cfg, &s), ZA_EINVAL);
    cfg.http_addr = "nonsense";
    ASSERT_ERR(za_system_create(&cfg, &s), ZA_EINVAL);
    cfg.http_addr = NULL;
    cfg.http_token = "t";
    ASSERT_ERR(za_system_create(&cfg, &s), ZA_EINVAL);
    cfg.http_addr = "127.0.0.1:0";
    cfg.http_token = "s3cret";
    za_system *sys = tu_system_cfg(&cfg);
    const char *url = za_system_http_url(sys);
    assert_int_equal(http_get(url, "/actors", NULL, g_buf, sizeof g_buf), 401);
    assert_non_null(strstr(g_buf, "WWW-Authenticate: Bearer"));
    assert_int_equal(
        http_get(url, "/actors", "Authorization: Bearer wrong\r\n", g_buf, sizeof g_buf), 401);
    assert_int_equal(
        http_get(url, "/actors", "Authorization: Bearer s3cret\r\n", g_buf, sizeof g_buf), 200);
    /* probes need no token */
    assert_int_equal(http_get(url, "/health/ready", NULL, g_buf, sizeof g_buf), 200);
    /* a second system cannot take the same port */
    unsigned port;
    sscanf(url, "http://127.0.0.1:%u", &port);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    cfg.http_addr = addr;
    ASSERT_ERR(za_system_create(&cfg, &s), ZA_EINVAL);
    za_system_destroy(sys);
    cfg.http_addr = NULL;
    cfg.http_token = NULL;
    sys = tu_system_cfg(&cfg);
    assert_null(za_system_http_url(sys));
    za_system_destroy(sys);
}

/* Readers walk the system while workers spawn, crash and kill actors:
 * under TSan and ASan this is the check that reading is safe. */
static atomic_int g_stop_reader;
static void *reader(void *ud) {
    za_system *sys = ud;
    found f;
    za_dl_record recs[16];
    while (!atomic_load(&g_stop_reader)) {
        f.n = 0;
        za_actors_visit(sys, collect, &f);
        za_dead_letters_recent(sys, recs, 16, NULL);
    }
    return NULL;
}

static void test_concurrent_reads(void **st) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.http_addr = "127.0.0.1:0";
    cfg.dead_letter_keep = 8;
    za_system *sys = tu_system_cfg(&cfg);
    atomic_store(&g_stop_reader, 0);
    pthread_t th;
    pthread_create(&th, NULL, reader, sys);
    long rounds = tu_size(200);
    for (long i = 0; i < rounds; i++) {
        za_ref r = tu_spawn(sys, &parent_beh, NULL, 0, NULL);
        za_tell(sys, r, T_SPAWN, NULL, 0);
        za_stop(sys, r);
        za_tell(sys, r, T_NOTE, "\x93\x01\x02\x03", 4); /* may be a dead letter */
        if (i % 16 == 0)
            http_get(za_system_http_url(sys), (i / 16) % 2 ? "/tree" : "/metrics", NULL, g_buf,
                     sizeof g_buf);
    }
    atomic_store(&g_stop_reader, 1);
    pthread_join(th, NULL);
    assert_int_equal(za_system_shutdown(sys, TU_WAIT_MS), ZA_OK);
    za_system_destroy(sys);
}

/* GET /grains (the activations, filtered and paged, counted per type) and
 * GET /cluster outside a cluster ({"cluster": null}). */
static void test_http_grains_and_cluster(void **st) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    cfg.http_addr = "127.0.0.1:0";
    cfg.storage = "memory://";
    za_system *sys = tu_system_cfg(&cfg);
    const char *url = za_system_http_url(sys);
    assert_int_equal(http_get(url, "/grains", NULL, g_buf, sizeof g_buf), 200);
    assert_non_null(strstr(g_buf, "\"total\":0"));
    assert_non_null(strstr(g_buf, "\"grains\":[]"));
    za_grain_class k;
    memset(&k, 0, sizeof k);
    k.behaviour = &child_beh;
    k.type = "cart";
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    k.type = "user\"q";
    assert_int_equal(za_grain_register(sys, &k), ZA_OK);
    const char *keys[] = {"b", "a", "c"};
    for (int i = 0; i < 3; i++) {
        za_ref g;
        assert_int_equal(za_grain_ref(sys, "cart", keys[i], &g), ZA_OK);
        assert_int_equal(za_tell(sys, g, T_NOTE, NULL, 0), ZA_OK);
    }
    za_ref u;
    assert_int_equal(za_grain_ref(sys, "user\"q", "42", &u), ZA_OK);
    assert_int_equal(za_tell(sys, u, T_NOTE, NULL, 0), ZA_OK);
    ASSERT_EVENTUALLY(http_get(url, "/grains", NULL, g_buf, sizeof g_buf) == 200 &&
                      strstr(g_buf, "\"total\":4") && !strstr(g_buf, "activating"));
    assert_non_null(strstr(g_buf, "\"by_type\":{\"cart\":3,\"user\\\"q\":1}"));
    /* sorted by type then key: a, b, c */
    char *a = strstr(g_buf, "\"key\":\"a\""), *b = strstr(g_buf, "\"key\":\"b\""),
         *c = strstr(g_buf, "\"key\":\"c\"");
    assert_true(a && b && c && a < b && b < c);
    assert_non_null(strstr(g_buf, "\"status\":\"active\""));
    assert_int_equal(http_get(url, "/grains?type=cart&key=b", NULL, g_buf, sizeof g_buf), 200);
    assert_non_null(strstr(g_buf, "\"total\":1"));
    assert_non_null(strstr(g_buf, "\"messages\":1"));
    assert_int_equal(http_get(url, "/grains?offset=1&limit=1", NULL, g_buf, sizeof g_buf), 200);
    assert_non_null(strstr(g_buf, "\"total\":4"));
    assert_non_null(strstr(g_buf, "\"key\":\"b\""));
    assert_null(strstr(g_buf, "\"key\":\"a\""));
    assert_int_equal(http_get(url, "/grains?limit=x", NULL, g_buf, sizeof g_buf), 400);
    /* a deactivated grain leaves the list */
    assert_int_equal(za_stop(sys, u), ZA_OK);
    ASSERT_EVENTUALLY(http_get(url, "/grains?type=user%22q", NULL, g_buf, sizeof g_buf) == 200 &&
                      strstr(g_buf, "\"total\":0"));
    assert_int_equal(http_get(url, "/cluster", NULL, g_buf, sizeof g_buf), 200);
    assert_non_null(strstr(g_buf, "{\"cluster\":null}"));
    za_system_destroy(sys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actor_views),
        cmocka_unit_test(test_dead_letter_ring),
        cmocka_unit_test(test_preview_cut),
        cmocka_unit_test(test_ptr_describer),
        cmocka_unit_test(test_http_endpoint),
        cmocka_unit_test(test_http_token),
        cmocka_unit_test(test_concurrent_reads),
        cmocka_unit_test(test_label),
        cmocka_unit_test(test_http_grains_and_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
