/*
 * bench_store.c - the storage layer (csrc/store/) on each provider:
 *  - state writes/s: 8 writer threads, 1,000 keys (125 each), every thread
 *    keeping up to 64 writes in flight (za_store_submit), each write
 *    expecting the key's current version: the group-commit path;
 *  - state writes/s, blocking: 8 threads, one za_store_call at a time each;
 *  - journal appends/s: 8 threads, 1,000 journals, 64 in flight each;
 *  - read latency p50/p99: one thread, blocking reads of 200-byte states.
 * Values are 200-byte MessagePack-sized blobs. SQLite runs in a temporary
 * directory (synchronous=FULL, WAL); Redis (appendfsync always) and
 * PostgreSQL (fsync on) are started by the program on free ports in
 * temporary directories and stopped at the end (tests/c/testservers.h).
 * Each figure is the median of --runs (default 3) runs of ~1 s. Prints a
 * table and writes bench/results/store.json.
 *
 *   make bench-store            (or build/release/bench/bench_store [--runs N] [--only
 * sqlite,redis])
 */
#include <semaphore.h>

#include "../tests/c/testservers.h"
#include "benchutil.h"

#define THREADS 8
#define KEYS 1000
#define WINDOW 64
#define VALUE_LEN 200
#define PHASE_S 1.0

typedef struct phase {
    za_store *st;
    int idx;
    bool journal;
    bool blocking;
    sem_t window;
    _Atomic uint64_t done, errors;
    _Atomic bool stop;
    uint64_t next[KEYS / THREADS]; /* expected version / next seq per key */
    char tag[24];
} phase;

static unsigned char g_value[VALUE_LEN];

static void done_cb(za_store_result *res, void *ud) {
    phase *p = ud;
    if (res->status == ZA_OK)
        atomic_fetch_add_explicit(&p->done, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&p->errors, 1, memory_order_relaxed);
    sem_post(&p->window);
}

static void *writer(void *arg) {
    phase *p = arg;
    int per = KEYS / THREADS;
    char id[32];
    for (uint64_t i = 0; !atomic_load_explicit(&p->stop, memory_order_relaxed); i++) {
        int k = (int)(i % (uint64_t)per);
        snprintf(id, sizeof id, "k%d", p->idx * per + k);
        za_store_req q = {.op = p->journal ? ZA_STORE_APPEND : ZA_STORE_WRITE,
                          .type = p->tag,
                          .id = id,
                          .data = g_value,
                          .len = VALUE_LEN,
                          .version = p->journal ? p->next[k] + 1 : p->next[k]};
        p->next[k]++;
        if (p->blocking) {
            za_store_result r;
            int rc = za_store_call(p->st, &q, 30000, &r);
            za_store_result_free(&r);
            atomic_fetch_add_explicit(rc == ZA_OK ? &p->done : &p->errors, 1, memory_order_relaxed);
            continue;
        }
        sem_wait(&p->window);
        if (za_store_submit(p->st, &q, done_cb, p) != ZA_OK) {
            atomic_fetch_add(&p->errors, 1);
            sem_post(&p->window);
        }
    }
    /* drain what is in flight */
    if (!p->blocking)
        for (int i = 0; i < WINDOW; i++) sem_wait(&p->window);
    return NULL;
}

/* One run of a write phase: writes (or appends) per second. */
static double run_writes(za_store *st, bool journal, bool blocking, int run, uint64_t *errors) {
    static phase ps[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        phase *p = &ps[i];
        memset(p, 0, sizeof *p);
        p->st = st;
        p->idx = i;
        p->journal = journal;
        p->blocking = blocking;
        snprintf(p->tag, sizeof p->tag, "%s%s-%d", journal ? "j" : "s", blocking ? "b" : "", run);
        sem_init(&p->window, 0, WINDOW);
    }
    uint64_t t0 = bu_now_ns();
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, writer, &ps[i]);
    bu_sleep_us((uint64_t)(PHASE_S * 1e6));
    for (int i = 0; i < THREADS; i++) atomic_store(&ps[i].stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    double secs = (double)(bu_now_ns() - t0) * 1e-9;
    uint64_t n = 0;
    for (int i = 0; i < THREADS; i++) {
        n += atomic_load(&ps[i].done);
        *errors += atomic_load(&ps[i].errors);
        sem_destroy(&ps[i].window);
    }
    return (double)n / secs;
}

/* Blocking reads one after another: p50 and p99 in microseconds. */
static void run_reads(za_store *st, int run, double *p50, double *p99, uint64_t *errors) {
    enum { N = 2000, NK = 100 };
    char type[24], id[16];
    snprintf(type, sizeof type, "r-%d", run);
    for (int k = 0; k < NK; k++) {
        snprintf(id, sizeof id, "k%d", k);
        za_store_req q = {
            .op = ZA_STORE_WRITE, .type = type, .id = id, .data = g_value, .len = VALUE_LEN};
        za_store_result r;
        if (za_store_call(st, &q, 30000, &r) != ZA_OK) (*errors)++;
        za_store_result_free(&r);
    }
    static uint64_t lat[N];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "k%d", i % NK);
        za_store_req q = {.op = ZA_STORE_READ, .type = type, .id = id};
        za_store_result r;
        uint64_t t0 = bu_now_ns();
        if (za_store_call(st, &q, 30000, &r) != ZA_OK || r.len != VALUE_LEN) (*errors)++;
        lat[i] = bu_now_ns() - t0;
        za_store_result_free(&r);
    }
    bu_sort_u64(lat, N);
    *p50 = (double)bu_pct_sorted(lat, N, 50) / 1e3;
    *p99 = (double)bu_pct_sorted(lat, N, 99) / 1e3;
}

typedef struct figures {
    const char *name;
    bool ran;
    bu_stats writes, writes_blocking, appends, p50, p99;
    uint64_t errors;
} figures;

static void bench_provider(figures *f, const char *url, int runs) {
    za_store *st;
    if (za_store_open(url, NULL, &st) != ZA_OK) bu_die("open %s: %s", url, za_last_error());
    bu_stats_init(&f->writes);
    bu_stats_init(&f->writes_blocking);
    bu_stats_init(&f->appends);
    bu_stats_init(&f->p50);
    bu_stats_init(&f->p99);
    for (int r = 0; r < runs; r++) {
        bu_stats_add(&f->writes, run_writes(st, false, false, r, &f->errors));
        bu_stats_add(&f->writes_blocking, run_writes(st, false, true, r, &f->errors));
        bu_stats_add(&f->appends, run_writes(st, true, false, r, &f->errors));
        double a, b;
        run_reads(st, r, &a, &b, &f->errors);
        bu_stats_add(&f->p50, a);
        bu_stats_add(&f->p99, b);
    }
    bu_stats_done(&f->writes);
    bu_stats_done(&f->writes_blocking);
    bu_stats_done(&f->appends);
    bu_stats_done(&f->p50);
    bu_stats_done(&f->p99);
    f->ran = true;
    za_store_close(st);
    printf("%-11s %14.0f %14.0f %14.0f %10.1f %10.1f %7llu\n", f->name, f->writes.median,
           f->writes_blocking.median, f->appends.median, f->p50.median, f->p99.median,
           (unsigned long long)f->errors);
    fflush(stdout);
}

static void json_stats(FILE *o, const char *key, const bu_stats *s, bool last) {
    fprintf(o, "      \"%s\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f, \"runs\": [", key,
            s->median, s->min, s->max);
    for (int i = 0; i < s->n; i++) fprintf(o, "%s%.1f", i ? ", " : "", s->v[i]);
    fprintf(o, "]}%s\n", last ? "" : ",");
}

typedef struct run_ctx {
    figures *fs;
    int runs;
} run_ctx;

static void run_one(int idx, const char *name, const char *url, void *ud) {
    (void)name;
    run_ctx *rc = ud;
    bench_provider(&rc->fs[idx], url, rc->runs);
}

int main(int argc, char **argv) {
    int runs = 3;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else
            bu_die("usage: %s [--runs N] [--only memory,sqlite,redis,postgresql]", argv[0]);
    }
    if (runs < 1 || runs > BU_MAX_RUNS) bu_die("--runs 1..%d", BU_MAX_RUNS);
    for (int i = 0; i < VALUE_LEN; i++) g_value[i] = (unsigned char)(i * 7);
    bu_machine m;
    bu_machine_get(&m);
    printf("bench_store: %d writer threads, %d keys, %d in flight per thread, %d-byte values, "
           "median of %d runs of %.0f s\nmachine: %ld cores, %s, %s\n\n",
           THREADS, KEYS, WINDOW, VALUE_LEN, runs, PHASE_S, m.cores, m.cpu, m.os);
    printf("%-11s %14s %14s %14s %10s %10s %7s\n", "provider", "writes/s", "writes/s(blk)",
           "appends/s", "read p50us", "read p99us", "errors");
    figures fs[4] = {
        {.name = "memory"}, {.name = "sqlite"}, {.name = "redis"}, {.name = "postgresql"}};
    run_ctx rc = {fs, runs};
    if (!ts_each_provider(only, run_one, &rc)) bu_die("cannot start a database server");
    const char *dir = getenv("BENCH_RESULTS_DIR");
    if (!dir || !*dir) dir = "bench/results";
    mkdir(dir, 0755);
    char path[512];
    snprintf(path, sizeof path, "%s/store.json", dir);
    FILE *o = fopen(path, "w");
    if (!o) bu_die("cannot write %s", path);
    fprintf(o,
            "{\n  \"benchmark\": \"store\",\n  \"machine\": {\"cores\": %ld, \"cpu\": \"%s\", "
            "\"os\": \"%s\"},\n  \"threads\": %d, \"keys\": %d, \"window\": %d, "
            "\"value_bytes\": %d, \"runs\": %d, \"phase_s\": %.1f,\n  \"providers\": {\n",
            m.cores, m.cpu, m.os, THREADS, KEYS, WINDOW, VALUE_LEN, runs, PHASE_S);
    bool first = true;
    for (int i = 0; i < 4; i++) {
        if (!fs[i].ran) continue;
        fprintf(o, "%s    \"%s\": {\n", first ? "" : ",\n", fs[i].name);
        first = false;
        json_stats(o, "state_writes_per_s", &fs[i].writes, false);
        json_stats(o, "state_writes_blocking_per_s", &fs[i].writes_blocking, false);
        json_stats(o, "journal_appends_per_s", &fs[i].appends, false);
        json_stats(o, "read_p50_us", &fs[i].p50, false);
        json_stats(o, "read_p99_us", &fs[i].p99, false);
        fprintf(o, "      \"errors\": %llu\n    }", (unsigned long long)fs[i].errors);
    }
    fprintf(o, "\n  }\n}\n");
    fclose(o);
    printf("\nwrote %s\n", path);
    for (int i = 0; i < 4; i++)
        if (fs[i].errors) return 1;
    return 0;
}
