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
#include <sched.h>
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

static inline double bu_now_s(void) {
    return (double)bu_now_ns() * 1e-9;
}

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

static inline void bu_stats_init(bu_stats *s) {
    memset(s, 0, sizeof *s);
}

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

/* Reset the peak (VmHWM) to the current RSS, so a later bu_peak_rss_bytes
 * reports the peak of what ran in between (Linux >= 4.0; false if not). */
static inline bool bu_reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    if (fclose(f) != 0) ok = false;
    return ok;
}

/* ---------------------------------------------------------- other load */

/*
 * Interference check: CPU time used by the whole machine (/proc/stat) minus
 * CPU time used by this process and its waited-for children (/proc/self/stat).
 * bu_other_load() gives the average number of cores that OTHER processes kept
 * busy between two snapshots (clock-tick resolution, 10 ms). A figure well
 * above 0 means the measurement was disturbed.
 */
typedef struct bu_cpu {
    unsigned long long busy; /* machine-wide busy ticks */
    unsigned long long self; /* this process + reaped children, ticks */
    uint64_t ns;
} bu_cpu;

static inline void bu_cpu_now(bu_cpu *c) {
    memset(c, 0, sizeof *c);
    c->ns = bu_now_ns();
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long v[10] = {0};
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8)
            c->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* not idle, iowait, guest */
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        char *p = strrchr(buf, ')'); /* skip "pid (comm)" */
        if (p) {
            unsigned long long ut = 0, st = 0;
            long long cut = 0, cst = 0;
            /* fields 3..17: state ppid pgrp session tty tpgid flags minflt cminflt
             * majflt cmajflt utime stime cutime cstime */
            if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
                       &ut, &st, &cut, &cst) == 4)
                c->self = ut + st + (unsigned long long)cut + (unsigned long long)cst;
        }
    }
}

/* Average cores used by other processes between a and b (>= 0). */
static inline double bu_other_load(const bu_cpu *a, const bu_cpu *b) {
    double hz = (double)sysconf(_SC_CLK_TCK);
    double secs = (double)(b->ns - a->ns) * 1e-9;
    if (hz <= 0 || secs <= 0) return 0;
    double other = ((double)(b->busy - a->busy) - (double)(b->self - a->self)) / hz;
    return other > 0 ? other / secs : 0;
}

/* Print a warning line when other processes used noticeable CPU. */
static inline void bu_report_other_load(const char *what, double cores) {
    if (cores >= 0.10)
        printf("  WARNING: other processes kept %.2f cores busy on average during %s; "
               "figures are disturbed\n",
               cores, what);
    else
        printf("  (other processes: %.2f cores busy on average during %s)\n", cores, what);
}

/* ------------------------------------------------------ core-to-core probe */

/*
 * Round-trip time of one cache line bounced between two threads pinned to
 * the first two CPUs this process may use. On a VM the host may place the
 * virtual CPUs on nearby or distant physical cores, and that can change
 * from one second to the next (on the machine of RESULTS.md: about 55 ns vs
 * about 330 ns). Every cross-thread figure moves with it, so the programs
 * probe it next to each run and report it. Returns ns, or -1 with < 2 CPUs.
 */
typedef struct bu__c2c {
    _Atomic uint64_t flag __attribute__((aligned(64)));
    char pad[56]; /* the flag alone on its cache line */
    uint32_t iters;
    int cpu_a, cpu_b;
    uint64_t ns; /* measured by side a */
} bu__c2c;

static inline void bu__pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static inline void *bu__c2c_b(void *p) {
    bu__c2c *c = p;
    bu__pin(c->cpu_b);
    uint64_t n = c->iters;
    for (uint64_t i = 1; i <= n; i++) {
        while (atomic_load_explicit(&c->flag, memory_order_acquire) != 2 * i - 1) {
        }
        atomic_store_explicit(&c->flag, 2 * i, memory_order_release);
    }
    return NULL;
}

static inline void *bu__c2c_a(void *p) {
    bu__c2c *c = p;
    bu__pin(c->cpu_a);
    uint64_t n = c->iters;
    uint64_t t0 = bu_now_ns();
    for (uint64_t i = 1; i <= n; i++) {
        atomic_store_explicit(&c->flag, 2 * i - 1, memory_order_release);
        while (atomic_load_explicit(&c->flag, memory_order_acquire) != 2 * i) {
        }
    }
    c->ns = bu_now_ns() - t0;
    return NULL;
}

/* Both sides run on threads of their own, so the caller keeps its affinity. */
static inline double bu_c2c_ns(uint32_t iters) {
    cpu_set_t set;
    if (iters == 0 || sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int cpus[2], n = 0;
    for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
        if (CPU_ISSET(i, &set)) cpus[n++] = i;
    if (n < 2) return -1;
    static bu__c2c c; /* static for the alignment; one probe at a time */
    atomic_store(&c.flag, 0);
    c.iters = iters;
    c.cpu_a = cpus[0];
    c.cpu_b = cpus[1];
    c.ns = 0;
    pthread_t a, b;
    if (pthread_create(&b, NULL, bu__c2c_b, &c) != 0) return -1;
    if (pthread_create(&a, NULL, bu__c2c_a, &c) != 0) {
        fputs("FAIL: pthread_create in the core-to-core probe\n", stderr);
        exit(1); /* b would wait forever */
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return (double)c.ns / iters;
}

/* Probe size used next to each run: ~6 ms at 55 ns, ~35 ms at 330 ns. */
#define BU_C2C_ITERS 100000u

/* Probe once and add the result to s (when the machine has 2 CPUs). */
static inline void bu_c2c_add(bu_stats *s) {
    double ns = bu_c2c_ns(BU_C2C_ITERS);
    if (ns > 0 && s->n < BU_MAX_RUNS) s->v[s->n++] = ns;
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
    printf("%s: %.3g %s%s (median of %d, min %.3g, max %.3g)\n", label, med, p, unit, s->n, lo, hi);
    fflush(stdout);
}

/* "core-to-core round trip next to the runs: 56 ns median (54-332)". */
static inline void bu_print_c2c(const bu_stats *s) {
    if (s->n == 0) return;
    printf("  (core-to-core cache-line round trip probed before each run: median %.0f ns, "
           "min %.0f, max %.0f)\n",
           s->median, s->min, s->max);
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
