/*
 * benchutil.h - helpers shared by the bench_*.c programs: monotonic time,
 * statistics over repeated runs, resident memory, machine description, a
 * tiny JSON writer for bench/results/<name>.json, a one-shot latch and a
 * one-line human summary.
 *
 * Header-only; every function is static inline so a program that does not
 * use one still compiles clean with -Wall -Wextra -Werror.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "zactor.h"

/* Warm-up runs (not reported) and measured runs of every workload. */
#define BU_WARMUP 1
#define BU_RUNS 5
#define BU_MAX_RUNS 64

/* ------------------------------------------------------------------ time */

static inline uint64_t bu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double bu_now_s(void) { return (double)bu_now_ns() * 1e-9; }

static inline void bu_sleep_us(uint64_t us) {
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------ statistics */

typedef struct bu_stats {
    int n;
    double median, min, max, mean;
    double v[BU_MAX_RUNS]; /* the runs, in run order */
} bu_stats;

static inline int bu__cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline int bu__cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static inline void bu_stats_init(bu_stats *s) { memset(s, 0, sizeof *s); }

static inline void bu_stats_add(bu_stats *s, double v) {
    if (s->n < BU_MAX_RUNS) s->v[s->n++] = v;
}

/* Compute median/min/max/mean of the values added so far. */
static inline void bu_stats_done(bu_stats *s) {
    double tmp[BU_MAX_RUNS];
    if (s->n == 0) return;
    memcpy(tmp, s->v, sizeof(double) * (size_t)s->n);
    qsort(tmp, (size_t)s->n, sizeof(double), bu__cmp_double);
    s->min = tmp[0];
    s->max = tmp[s->n - 1];
    s->median = (s->n & 1) ? tmp[s->n / 2] : (tmp[s->n / 2 - 1] + tmp[s->n / 2]) / 2.0;
    double sum = 0;
    for (int i = 0; i < s->n; i++) sum += tmp[i];
    s->mean = sum / s->n;
}

/* Sort n samples in place; then bu_pct_sorted reads percentiles. */
static inline void bu_sort_u64(uint64_t *v, size_t n) {
    if (n > 1) qsort(v, n, sizeof *v, bu__cmp_u64);
}

/* Nearest-rank percentile (0 < pct <= 100) of sorted samples. */
static inline uint64_t bu_pct_sorted(const uint64_t *v, size_t n, double pct) {
    if (n == 0) return 0;
    size_t rank = (size_t)((pct / 100.0) * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

/* --------------------------------------------------------------- memory */

/* A "Vm...:" line of /proc/self/status in KiB, or -1. */
static inline long bu__proc_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            kb = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Current resident set size in bytes (VmRSS), or -1. */
static inline long long bu_rss_bytes(void) {
    long kb = bu__proc_status_kb("VmRSS");
    return kb < 0 ? -1 : (long long)kb * 1024;
}

/* Peak resident set size in bytes: VmHWM, else getrusage ru_maxrss. */
static inline long long bu_peak_rss_bytes(void) {
    long kb = bu__proc_status_kb("VmHWM");
    if (kb < 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
        kb = ru.ru_maxrss; /* KiB on Linux */
    }
    return (long long)kb * 1024;
}

/* ------------------------------------------------------------- machine */

typedef struct bu_machine {
    long cores;
    char cpu[128];
    char os[192];
} bu_machine;

static inline void bu_machine_get(bu_machine *m) {
    memset(m, 0, sizeof *m);
    m->cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ' || *p == '\t') p++;
                    size_t l = strcspn(p, "\n");
                    snprintf(m->cpu, sizeof m->cpu, "%.*s", (int)l, p);
                }
                break;
            }
        }
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->os, sizeof m->os, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(m->os, sizeof m->os, "unknown");
}

/* ------------------------------------------------------------------ JSON */

/*
 * bu_json *j = bu_json_begin("tell_external", "msg/s", &stats);
 * bu_json_num(j, "messages", 1e7); bu_json_str(j, "note", "...");
 * bu_json_end(j);  -> writes bench/results/tell_external.json
 *
 * The directory is $BENCH_RESULTS_DIR if set, else bench/results (relative
 * to the working directory: `make bench` runs from the repository root).
 */
typedef struct bu_json {
    FILE *f;
    char path[512];
} bu_json;

static inline void bu__json_escape(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static inline void bu__json_double(FILE *f, double v) {
    if (v != v || v > 1e300 || v < -1e300)
        fputs("null", f);
    else
        fprintf(f, "%.6g", v);
}

static inline bu_json *bu_json_begin(const char *name, const char *unit, const bu_stats *s) {
    const char *dir = getenv("BENCH_RESULTS_DIR");
    if (!dir || !*dir) dir = "bench/results";
    mkdir(dir, 0755); /* may exist */
    bu_json *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    snprintf(j->path, sizeof j->path, "%s/%s.json", dir, name);
    j->f = fopen(j->path, "w");
    if (!j->f) {
        fprintf(stderr, "warning: cannot write %s: %s\n", j->path, strerror(errno));
        free(j);
        return NULL;
    }
    bu_machine m;
    bu_machine_get(&m);
    FILE *f = j->f;
    fputs("{\n  \"benchmark\": ", f);
    bu__json_escape(f, name);
    fprintf(f, ",\n  \"machine\": {\"cores\": %ld, \"cpu\": ", m.cores);
    bu__json_escape(f, m.cpu);
    fputs(", \"os\": ", f);
    bu__json_escape(f, m.os);
    fputs("},\n  \"runs\": [", f);
    for (int i = 0; i < s->n; i++) {
        if (i) fputs(", ", f);
        bu__json_double(f, s->v[i]);
    }
    fputs("],\n  \"median\": ", f);
    bu__json_double(f, s->median);
    fputs(",\n  \"min\": ", f);
    bu__json_double(f, s->min);
    fputs(",\n  \"max\": ", f);
    bu__json_double(f, s->max);
    fputs(",\n  \"unit\": ", f);
    bu__json_escape(f, unit);
    return j;
}

static inline void bu_json_num(bu_json *j, const char *key, double v) {
    if (!j) return;
    fputs(",\n  ", j->f);
    bu__json_escape(j->f, key);
    fputs(": ", j->f);
    bu__json_double(j->f, v);
}

static inline void bu_json_str(bu_json *j, const char *key, const char *v) {
    if (!j) return;
    fputs(",\n  ", j->f);
    bu__json_escape(j->f, key);
    fputs(": ", j->f);
    bu__json_escape(j->f, v);
}

static inline void bu_json_bool(bu_json *j, const char *key, bool v) {
    if (!j) return;
    fputs(",\n  ", j->f);
    bu__json_escape(j->f, key);
    fputs(v ? ": true" : ": false", j->f);
}

/* Another statistic over the same runs, as {"median","min","max","runs"}. */
static inline void bu_json_stats(bu_json *j, const char *key, const bu_stats *s) {
    if (!j) return;
    FILE *f = j->f;
    fputs(",\n  ", f);
    bu__json_escape(f, key);
    fputs(": {\"median\": ", f);
    bu__json_double(f, s->median);
    fputs(", \"min\": ", f);
    bu__json_double(f, s->min);
    fputs(", \"max\": ", f);
    bu__json_double(f, s->max);
    fputs(", \"runs\": [", f);
    for (int i = 0; i < s->n; i++) {
        if (i) fputs(", ", f);
        bu__json_double(f, s->v[i]);
    }
    fputs("]}", f);
}

static inline void bu_json_end(bu_json *j) {
    if (!j) return;
    fputs("\n}\n", j->f);
    fclose(j->f);
    free(j);
}

/* ------------------------------------------------------------- summary */

/* Scale v into (prefix, factor) for human output: K, M, G. */
static inline double bu__scaled(double v, const char **prefix) {
    if (v >= 1e9) {
        *prefix = "G ";
        return v / 1e9;
    }
    if (v >= 1e6) {
        *prefix = "M ";
        return v / 1e6;
    }
    if (v >= 1e3) {
        *prefix = "K ";
        return v / 1e3;
    }
    *prefix = "";
    return v;
}

/*
 * One line: "label: 23.1 M msg/s (median of 5, min 20.0, max 24.0)".
 * divisor rescales the stored unit for display (e.g. 1e3 to show ns as us);
 * pass 0 to auto-scale with K/M/G.
 */
static inline void bu_print(const char *label, const bu_stats *s, const char *unit,
                            double divisor) {
    const char *p = "";
    double med, lo, hi;
    if (divisor > 0) {
        med = s->median / divisor;
        lo = s->min / divisor;
        hi = s->max / divisor;
    } else {
        med = bu__scaled(s->median, &p);
        double f = s->median != 0 ? med / s->median : 1.0;
        lo = s->min * f;
        hi = s->max * f;
    }
    printf("%s: %.3g %s%s (median of %d, min %.3g, max %.3g)\n", label, med, p, unit, s->n, lo,
           hi);
    fflush(stdout);
}

/* Print the machine and the runtime configuration once per program. */
static inline void bu_header(const char *program, int workers) {
    bu_machine m;
    bu_machine_get(&m);
    printf("%s: %ld cores, %s, %s; zactor workers = %d; %d warm-up + %d measured runs\n", program,
           m.cores, m.cpu, m.os, workers, BU_WARMUP, BU_RUNS);
    fflush(stdout);
}

/* ---------------------------------------------------------------- checks */

static inline void bu_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Abort with the runtime's error text when a call fails. */
#define BU_CHECK(call)                                                                             \
    do {                                                                                           \
        int bu_rc_ = (call);                                                                       \
        if (bu_rc_ != ZA_OK)                                                                       \
            bu_die("%s:%d: %s -> %d (%s: %s)", __FILE__, __LINE__, #call, bu_rc_,                  \
                   za_strerror(bu_rc_), za_last_error());                                          \
    } while (0)

/* ----------------------------------------------------------------- latch */

/* One-shot event: an actor opens it, the timing thread waits for it. */
typedef struct bu_latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
} bu_latch;

static inline void bu_latch_init(bu_latch *l) {
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->open = 0;
}

static inline void bu_latch_reset(bu_latch *l) {
    pthread_mutex_lock(&l->mu);
    l->open = 0;
    pthread_mutex_unlock(&l->mu);
}

static inline void bu_latch_open(bu_latch *l) {
    pthread_mutex_lock(&l->mu);
    l->open = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Wait until open; false after timeout_s seconds. */
static inline bool bu_latch_wait(bu_latch *l, double timeout_s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + timeout_s;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    while (!l->open && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    bool ok = l->open != 0;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static inline void bu_latch_destroy(bu_latch *l) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

/* ----------------------------------------------------------- zactor */

/* A system with `workers` workers (0: one per core) and defaults otherwise. */
static inline za_system *bu_system(int workers) {
    za_config cfg;
    za_config_init(&cfg);
    cfg.workers = workers;
    za_system *sys = NULL;
    BU_CHECK(za_system_create(&cfg, &sys));
    return sys;
}

#endif
