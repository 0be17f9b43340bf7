/*
 * bench_http.c - what the HTTP endpoint costs the workers.
 *
 * Two workloads, each run with the endpoint off and on, alternating in one
 * process (off, on, off, on, ...) so both see the same machine state:
 *
 *  tell: the main thread tells N 8-byte messages to one C actor, then asks
 *        it once (the clock stops at the answer: all N were handled);
 *  ask:  the main thread asks one C actor M times, one at a time.
 *
 * "on": the system serves HTTP on 127.0.0.1 (port 0) and a scraper thread
 * GETs /metrics every 100 ms (a Prometheus at 10x its usual rate), which
 * walks every live actor; 1000 idle actors are alive in both modes so the
 * walk has work to do. Prints medians and writes bench/results/http.json.
 *
 * --busy [seconds]: a busy system (64 pairs of actors bouncing messages)
 * with and without a 1 Hz scraper of /metrics and /actors (see busy_main).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "benchutil.h"

#ifndef N_TELL
#define N_TELL 1000000u
#endif
#ifndef N_ASK
#define N_ASK 20000u
#endif
#define ROUNDS 9
#define IDLE_ACTORS 1000

static int c_receive(za_ctx *ctx, const za_msg *m) {
    uint64_t *n = za_ctx_state(ctx);
    (*n)++;
    if (za_ctx_can_reply(ctx)) return za_reply(ctx, 0, n, sizeof *n);
    return 0;
}
static const za_behaviour counter = {ZA_BEHAVIOUR_INIT, .name = "bench-counter",
                                     .state_size = sizeof(uint64_t), .receive = c_receive};
static int idle_receive(za_ctx *ctx, const za_msg *m) {
    return 0;
}
static const za_behaviour idle = {ZA_BEHAVIOUR_INIT, .name = "idle", .receive = idle_receive};

typedef struct scraper {
    const char *url;
    uint64_t every_us;    /* between scrapes */
    const char *paths[2]; /* GET each per scrape (NULL: none) */
    atomic_int stop;
    uint64_t scrapes, bytes, failures, ns;
} scraper;

/* One GET of path over a fresh connection; bytes received, 0 on failure. */
static size_t scrape_once(unsigned port, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[256];
        int len = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", path);
        if (send(fd, req, (size_t)len, MSG_NOSIGNAL) == (ssize_t)len) {
            char buf[65536];
            ssize_t k;
            while ((k = recv(fd, buf, sizeof buf, 0)) > 0) got += (size_t)k;
        }
    }
    close(fd);
    return got;
}

static void *scrape(void *ud) {
    scraper *s = ud;
    unsigned port = 0;
    if (sscanf(s->url, "http://127.0.0.1:%u", &port) != 1) return NULL;
    while (!atomic_load(&s->stop)) {
        uint64_t t0 = bu_now_ns();
        size_t n = 0;
        bool ok = true;
        for (int i = 0; i < 2 && s->paths[i]; i++) {
            size_t k = scrape_once(port, s->paths[i]);
            ok = ok && k;
            n += k;
        }
        if (ok) {
            s->ns += bu_now_ns() - t0;
            s->scrapes++;
            s->bytes += n;
        } else {
            s->failures++;
        }
        /* in slices, so a stop is seen soon */
        for (uint64_t t = 0; t < s->every_us && !atomic_load(&s->stop); t += 10000)
            bu_sleep_us(10000);
    }
    return NULL;
}

static double run(bool http, bool ask, scraper *sc) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    if (http) cfg.http_addr = "127.0.0.1:0";
    za_system *sys = NULL;
    if (za_system_create(&cfg, &sys) != ZA_OK) {
        fprintf(stderr, "za_system_create: %s\n", za_last_error());
        exit(1);
    }
    for (int i = 0; i < IDLE_ACTORS; i++) {
        za_ref r;
        za_spawn(sys, &idle, NULL, 0, NULL, &r);
    }
    za_ref c;
    if (za_spawn_sync(sys, &counter, NULL, 0, NULL, 5000, &c) != ZA_OK) exit(1);
    pthread_t th;
    memset(sc, 0, sizeof *sc);
    if (http) {
        sc->url = za_system_http_url(sys);
        sc->every_us = 100000;
        sc->paths[0] = "/metrics";
        pthread_create(&th, NULL, scrape, sc);
    }
    za_answer a;
    uint64_t t0 = bu_now_ns(), n;
    if (ask) {
        n = N_ASK;
        for (uint64_t i = 0; i < n; i++) {
            if (za_ask(sys, c, 1, NULL, 0, 5000, &a) != ZA_OK) exit(1);
            za_answer_free(&a);
        }
    } else {
        n = N_TELL;
        uint64_t v = 0;
        for (uint64_t i = 0; i < n; i++)
            while (za_tell(sys, c, 1, &v, sizeof v) != ZA_OK) sched_yield();
        if (za_ask(sys, c, 1, NULL, 0, 30000, &a) != ZA_OK) exit(1);
        za_answer_free(&a);
    }
    double rate = (double)n / ((double)(bu_now_ns() - t0) * 1e-9);
    if (http) {
        atomic_store(&sc->stop, 1);
        pthread_join(th, NULL);
    }
    za_system_destroy(sys);
    return rate;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- --busy: a busy system scraped at 1 Hz ----------------------------------
 *
 * PAIRS pairs of C actors bounce a message between them without end (every
 * receive tells the partner), so both workers are always busy, next to 1000
 * idle actors; the throughput is the runtime's delivered counter over
 * BUSY_S seconds. "on": the endpoint serves HTTP and a scraper GETs
 * /metrics and /actors once a second (the first at the start), which is what
 * a Prometheus plus an operator's dashboard do; "off": no endpoint at all.
 * Off and on alternate round by round; the cost is the median of the
 * per-round (off - on) / off. Writes bench/results/http_busy.json. */
#define PAIRS 64
#define BUSY_ROUNDS 7

static int bounce_receive(za_ctx *ctx, const za_msg *m) {
    za_ref partner;
    memcpy(&partner, m->data, sizeof partner);
    za_ref me = za_ctx_self(ctx);
    return za_tell(za_ctx_system(ctx), partner, 1, &me, sizeof me) == ZA_OK ? 0 : 1;
}
static const za_behaviour bouncer = {ZA_BEHAVIOUR_INIT, .name = "bouncer",
                                     .receive = bounce_receive};

static double busy_run(bool http, double seconds, scraper *sc) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = 2;
    if (http) cfg.http_addr = "127.0.0.1:0";
    za_system *sys = NULL;
    if (za_system_create(&cfg, &sys) != ZA_OK) {
        fprintf(stderr, "za_system_create: %s\n", za_last_error());
        exit(1);
    }
    for (int i = 0; i < IDLE_ACTORS; i++) {
        za_ref r;
        za_spawn(sys, &idle, NULL, 0, NULL, &r);
    }
    za_ref a[PAIRS], b[PAIRS];
    for (int i = 0; i < PAIRS; i++)
        if (za_spawn(sys, &bouncer, NULL, 0, NULL, &a[i]) != ZA_OK ||
            za_spawn(sys, &bouncer, NULL, 0, NULL, &b[i]) != ZA_OK)
            exit(1);
    for (int i = 0; i < PAIRS; i++) za_tell(sys, a[i], 1, &b[i], sizeof b[i]);
    bu_sleep_us(200000); /* every pair bouncing */
    pthread_t th;
    memset(sc, 0, sizeof *sc);
    if (http) {
        sc->url = za_system_http_url(sys);
        sc->every_us = 1000000;
        sc->paths[0] = "/metrics";
        sc->paths[1] = "/actors";
        pthread_create(&th, NULL, scrape, sc);
    }
    za_metrics m0, m1;
    za_metrics_read(sys, &m0);
    uint64_t t0 = bu_now_ns();
    bu_sleep_us((uint64_t)(seconds * 1e6));
    za_metrics_read(sys, &m1);
    double rate = (double)(m1.delivered - m0.delivered) / ((double)(bu_now_ns() - t0) * 1e-9);
    if (http) {
        atomic_store(&sc->stop, 1);
        pthread_join(th, NULL);
    }
    za_system_destroy(sys);
    return rate;
}

static int busy_main(double seconds) {
    double res[2][BUSY_ROUNDS], d[BUSY_ROUNDS];
    uint64_t scrapes = 0, bytes = 0, failures = 0, scrape_ns = 0;
    scraper sc;
    busy_run(false, 1.0, &sc); /* warm-up */
    for (int r = 0; r < BUSY_ROUNDS; r++)
        for (int h = 0; h < 2; h++) {
            int hh = (r % 2) ? 1 - h : h;
            res[hh][r] = busy_run(hh == 1, seconds, &sc);
            if (hh) {
                scrapes += sc.scrapes;
                bytes += sc.bytes;
                failures += sc.failures;
                scrape_ns += sc.ns;
            }
        }
    printf("bench_http --busy: 2 workers, %d bouncing pairs + %d idle actors, %.1f s per run, "
           "/metrics + /actors at 1 Hz when on, %d rounds\n  runs off/on (msg/s):",
           PAIRS, IDLE_ACTORS, seconds, BUSY_ROUNDS);
    for (int r = 0; r < BUSY_ROUNDS; r++) {
        printf(" %.0f/%.0f", res[0][r], res[1][r]);
        d[r] = 100.0 * (res[0][r] - res[1][r]) / res[0][r];
    }
    double c0[BUSY_ROUNDS], c1[BUSY_ROUNDS]; /* median() sorts: keep the runs' order */
    memcpy(c0, res[0], sizeof c0);
    memcpy(c1, res[1], sizeof c1);
    double paired = median(d, BUSY_ROUNDS), off = median(c0, BUSY_ROUNDS),
           on = median(c1, BUSY_ROUNDS);
    double per = scrapes ? (double)scrape_ns / (double)scrapes / 1e3 : 0.0;
    printf("\n  off %.0f msg/s   on %.0f msg/s   cost (median of paired rounds) %+.2f %%\n"
           "  scrapes %llu (%.0f bytes each, /metrics + /actors: %.0f us per scrape incl. "
           "connects), failed %llu\n",
           off, on, paired, (unsigned long long)scrapes,
           scrapes ? (double)bytes / (double)scrapes : 0.0, per, (unsigned long long)failures);
    mkdir("bench/results", 0755);
    FILE *f = fopen("bench/results/http_busy.json", "w");
    if (f) {
        fprintf(f,
                "{\"bench\": \"http_busy\", \"workers\": 2, \"pairs\": %d, \"idle_actors\": %d,"
                " \"seconds\": %.1f, \"rounds\": %d, \"scrape_hz\": 1,\n \"paths\": "
                "[\"/metrics\", \"/actors\"], \"scrapes\": %llu, \"scrape_failures\": %llu,"
                " \"scrape_us\": %.1f,\n \"off_per_s\": [",
                PAIRS, IDLE_ACTORS, seconds, BUSY_ROUNDS, (unsigned long long)scrapes,
                (unsigned long long)failures, per);
        for (int r = 0; r < BUSY_ROUNDS; r++) fprintf(f, "%s%.0f", r ? ", " : "", res[0][r]);
        fprintf(f, "],\n \"on_per_s\": [");
        for (int r = 0; r < BUSY_ROUNDS; r++) fprintf(f, "%s%.0f", r ? ", " : "", res[1][r]);
        fprintf(f, "],\n \"off_median\": %.0f, \"on_median\": %.0f, \"cost_pct_paired\": %.2f}\n",
                off, on, paired);
        fclose(f);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--busy") == 0)
        return busy_main(argc > 2 ? atof(argv[2]) : 3.0);

    const char *names[2] = {"tell", "ask"};
    double res[2][2][ROUNDS]; /* [workload][http][round] */
    uint64_t scrapes = 0, bytes = 0, failures = 0, scrape_ns = 0;
    scraper sc;
    for (int w = 0; w < 2; w++) {
        run(false, w == 1, &sc); /* warm-up */
        for (int r = 0; r < ROUNDS; r++)
            for (int h = 0; h < 2; h++) {
                int hh = (r % 2) ? 1 - h : h; /* alternate which goes first */
                res[w][hh][r] = run(hh == 1, w == 1, &sc);
                if (hh) {
                    scrapes += sc.scrapes;
                    bytes += sc.bytes;
                    failures += sc.failures;
                    scrape_ns += sc.ns;
                }
            }
    }
    double med[2][2], paired[2];
    printf("bench_http: 2 workers, %d idle actors, /metrics every 100 ms when on, median of %d\n",
           IDLE_ACTORS, ROUNDS);
    for (int w = 0; w < 2; w++) {
        /* the cost from each round's adjacent off/on pair, so load that drifts
         * over the run (a shared machine) cancels out; then the median */
        double d[ROUNDS];
        printf("  %-4s  runs off/on:", names[w]);
        for (int r = 0; r < ROUNDS; r++) {
            printf(" %.0f/%.0f", res[w][0][r], res[w][1][r]);
            d[r] = 100.0 * (res[w][0][r] - res[w][1][r]) / res[w][0][r];
        }
        paired[w] = median(d, ROUNDS);
        med[w][0] = median(res[w][0], ROUNDS);
        med[w][1] = median(res[w][1], ROUNDS);
        printf(
            "\n  %-4s  off %12.0f /s   on %12.0f /s   cost (median of paired rounds) %+5.1f %%\n",
            names[w], med[w][0], med[w][1], paired[w]);
    }
    double per = scrapes ? (double)scrape_ns / (double)scrapes / 1e3 : 0.0;
    printf("  scrapes %llu (%.0f bytes each, %.0f us per request incl. connect: %.2f %% of one "
           "core at 10/s), failed %llu\n",
           (unsigned long long)scrapes, scrapes ? (double)bytes / (double)scrapes : 0.0, per,
           per / 1e3, (unsigned long long)failures);
    mkdir("bench/results", 0755);
    FILE *f = fopen("bench/results/http.json", "w");
    if (f) {
        fprintf(f, "{\"bench\": \"http\", \"workers\": 2, \"idle_actors\": %d, \"rounds\": %d,\n",
                IDLE_ACTORS, ROUNDS);
        fprintf(f,
                " \"scrape_interval_ms\": 100, \"scrapes\": %llu, \"scrape_failures\": %llu,"
                " \"scrape_us\": %.1f,\n",
                (unsigned long long)scrapes, (unsigned long long)failures, per);
        for (int w = 0; w < 2; w++)
            fprintf(
                f,
                " \"%s\": {\"off_per_s\": %.0f, \"on_per_s\": %.0f, \"cost_pct_paired\": %.2f}%s\n",
                names[w], med[w][0], med[w][1], paired[w], w ? "" : ",");
        fprintf(f, "}\n");
        fclose(f);
    }
    return failures ? 1 : 0;
}
