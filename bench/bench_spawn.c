/*
 * bench_spawn.c - spawning cost and the memory of an idle actor.
 *
 * (1) skynet: a root actor spawns 10 children, each spawns 10, ... down to
 *     1,000,000 leaves (6 levels below the root, 1,111,111 actors in all).
 *     Each actor gets its number and its subtree size in a START message
 *     right after its spawn (the classic skynet form). A leaf tells its number
 *     to its parent and stops; a parent sums its 10 answers, tells the sum up
 *     and stops. The root's sum must be 0+1+...+999999 = 499999500000.
 *     Reported: time until the root has the sum, time until every actor has
 *     stopped (za_system_wait_idle), and the peak RSS of the process.
 *
 * (2) idle actors: in a fresh child process per run (so memory that an
 *     earlier run left in the allocator cannot hide the cost), spawn
 *     IDLE_N top-level actors from the main thread and wait until all ran
 *     start. bytes/actor = (VmRSS after - VmRSS before) / IDLE_N. This includes
 *     everything the runtime holds per actor: its 192-byte slot in the slot
 *     table (allocated 4096 slots at a time), the system's list of top-level
 *     actors (8 bytes per actor, grown by doubling), the state allocation if
 *     state_size > 0, and whatever message-node memory the allocator keeps
 *     after the START messages were consumed (spawning is throttled to at
 *     most IDLE_INFLIGHT un-started actors so that stays small). The figure
 *     after malloc_trim(0) is given too. Measured for state_size 0 and 8.
 */
#include <malloc.h>
#include <sys/wait.h>

#include "benchutil.h"

#define FANOUT 10u
#define LEAVES 1000000u
#define EXPECTED_SUM 499999500000ull
#define TREE_ACTORS 1111111ull

#ifndef IDLE_N /* -DIDLE_N=... for a quick check build */
#define IDLE_N 1000000u
#endif
#define IDLE_INFLIGHT 16384u

enum { T_START = 1, T_SUM = 2 };

/* ------------------------------------------------------------- skynet */

typedef struct shared {
    uint64_t sum;
    uint64_t t_end;
    uint64_t bad;
    bu_latch done;
} shared;

typedef struct start_msg {
    uint64_t num;
    uint64_t size; /* leaves below (1 for a leaf) */
} start_msg;

typedef struct sky_state {
    uint64_t sum;
    uint32_t pending;
} sky_state;

static int sky_receive(za_ctx *ctx, const za_msg *m);
static const za_behaviour sky_beh = {ZA_BEHAVIOUR_INIT, .name = "skynet",
                                     .state_size = sizeof(sky_state), .receive = sky_receive};

static int sky_done(za_ctx *ctx, uint64_t sum) {
    za_ref parent = za_ctx_parent(ctx);
    za_ctx_stop(ctx);
    if (parent != ZA_REF_NONE) return za_tell(za_ctx_system(ctx), parent, T_SUM, &sum, sizeof sum);
    shared *sh = za_ctx_user(ctx);
    sh->t_end = bu_now_ns();
    sh->sum = sum;
    bu_latch_open(&sh->done);
    return 0;
}

static int sky_receive(za_ctx *ctx, const za_msg *m) {
    sky_state *st = za_ctx_state(ctx);
    if (m->tag == T_START) {
        start_msg sm;
        memcpy(&sm, m->data, sizeof sm);
        if (sm.size == 1) return sky_done(ctx, sm.num);
        uint64_t sub = sm.size / FANOUT;
        for (uint32_t i = 0; i < FANOUT; i++) {
            za_ref child;
            int rc = za_ctx_spawn(ctx, &sky_beh, NULL, 0, NULL, &child);
            if (rc != ZA_OK) return rc;
            start_msg cm = {.num = sm.num + i * sub, .size = sub};
            rc = za_tell(za_ctx_system(ctx), child, T_START, &cm, sizeof cm);
            if (rc != ZA_OK) return rc;
        }
        st->pending = FANOUT;
        return 0;
    }
    if (m->tag == T_SUM) {
        uint64_t v;
        memcpy(&v, m->data, sizeof v);
        st->sum += v;
        if (--st->pending == 0) return sky_done(ctx, st->sum);
    }
    return 0; /* CHILD_FAILED etc. would show up as a wrong sum */
}

static void run_skynet(void) {
    za_system *sys = bu_system(0);
    int workers = za_system_workers(sys);
    shared sh;
    memset(&sh, 0, sizeof sh);
    bu_latch_init(&sh.done);

    bu_stats t_sum, t_all, rss, c2c;
    bu_stats_init(&c2c);
    bu_stats_init(&t_sum);
    bu_stats_init(&t_all);
    bu_stats_init(&rss);
    bu_cpu c0, c1;
    bu_cpu_now(&c0);
    for (int r = 0; r < BU_WARMUP + BU_RUNS; r++) {
        if (r >= BU_WARMUP) bu_c2c_add(&c2c);
        bu_reset_peak_rss();
        za_metrics m0, m1;
        BU_CHECK(za_metrics_read(sys, &m0));
        bu_latch_reset(&sh.done);
        sh.sum = 0;
        za_spawn_opts o;
        za_spawn_opts_init(&o);
        o.user = &sh; /* only the root reads it */
        za_ref root;
        start_msg sm = {.num = 0, .size = LEAVES};
        uint64_t t0 = bu_now_ns();
        BU_CHECK(za_spawn(sys, &sky_beh, NULL, 0, &o, &root));
        BU_CHECK(za_tell(sys, root, T_START, &sm, sizeof sm));
        if (!bu_latch_wait(&sh.done, 60.0)) bu_die("skynet: no sum after 60 s");
        BU_CHECK(za_system_wait_idle(sys, 60000));
        uint64_t t2 = bu_now_ns();
        BU_CHECK(za_metrics_read(sys, &m1));
        if (sh.sum != EXPECTED_SUM)
            bu_die("skynet: sum %llu, expected %llu", (unsigned long long)sh.sum, EXPECTED_SUM);
        if (m1.spawned - m0.spawned != TREE_ACTORS || m1.stopped - m0.stopped != TREE_ACTORS)
            bu_die("skynet: %llu spawned, %llu stopped, expected %llu",
                   (unsigned long long)(m1.spawned - m0.spawned),
                   (unsigned long long)(m1.stopped - m0.stopped), TREE_ACTORS);
        if (m1.failures != m0.failures) bu_die("skynet: actors failed");
        if (r < BU_WARMUP) continue;
        bu_stats_add(&t_sum, (double)(sh.t_end - t0) * 1e-9);
        bu_stats_add(&t_all, (double)(t2 - t0) * 1e-9);
        bu_stats_add(&rss, (double)bu_peak_rss_bytes());
    }
    bu_cpu_now(&c1);
    double other = bu_other_load(&c0, &c1);
    bu_stats_done(&t_sum);
    bu_stats_done(&t_all);
    bu_stats_done(&rss);
    bu_stats_done(&c2c);
    bu_print("skynet 1M leaves (1,111,111 actors): time to sum", &t_sum, "s", 1);
    bu_print("skynet: time until all actors stopped", &t_all, "s", 1);
    bu_print("skynet: peak RSS of the process during a run", &rss, "MiB", 1048576.0);
    printf("  (workers = %d; sum checked = %llu; spawned/stopped counts checked)\n", workers,
           EXPECTED_SUM);

    bu_print_c2c(&c2c);
    bu_report_other_load("the skynet runs", other);

    bu_json *j = bu_json_begin("spawn_skynet", "s", &t_sum);
    bu_json_num(j, "other_load_cores", other);
    bu_json_stats(j, "c2c_round_trip_ns", &c2c);
    bu_json_str(j, "program", "bench_spawn");
    bu_json_str(j, "what", "time from spawning the root until the root has the sum");
    bu_json_num(j, "workers", workers);
    bu_json_num(j, "leaves", LEAVES);
    bu_json_num(j, "actors", (double)TREE_ACTORS);
    bu_json_num(j, "sum", (double)EXPECTED_SUM);
    bu_json_stats(j, "time_all_stopped_s", &t_all);
    bu_json_stats(j, "peak_rss_bytes", &rss);
    bu_json_end(j);

    za_system_destroy(sys);
    bu_latch_destroy(&sh.done);
}

/* ---------------------------------------------------------- idle actors */

static _Atomic uint64_t g_started;

static int idle_start(za_ctx *ctx, const void *args, size_t len) {
    atomic_fetch_add_explicit(&g_started, 1, memory_order_relaxed);
    return 0;
}

static int idle_receive(za_ctx *ctx, const za_msg *m) {
    return 0;
}

typedef struct idle_result {
    int ok;
    char err[160];
    double spawn_s;
    long long rss0, rss1, rss2;
    uint64_t alive;
} idle_result;

/* In a fresh child: spawn IDLE_N idle actors, measure RSS growth. */
static void idle_child(size_t state_size, idle_result *res) {
    za_behaviour beh = {ZA_BEHAVIOUR_INIT, .name = "idle", .state_size = state_size,
                        .start = idle_start, .receive = idle_receive};
    za_system *sys = bu_system(0);
    bu_sleep_us(20000); /* let the workers start and settle */
    res->rss0 = bu_rss_bytes();
    uint64_t t0 = bu_now_ns();
    for (uint32_t i = 0; i < IDLE_N; i++) {
        za_ref r;
        int rc = za_spawn(sys, &beh, NULL, 0, NULL, &r);
        if (rc != ZA_OK) {
            snprintf(res->err, sizeof res->err, "za_spawn #%u: %s", i, za_last_error());
            return;
        }
        while ((uint64_t)i + 1 - atomic_load_explicit(&g_started, memory_order_relaxed) >
               IDLE_INFLIGHT)
            sched_yield();
    }
    uint64_t deadline = bu_now_ns() + 30000000000ull;
    while (atomic_load(&g_started) < IDLE_N && bu_now_ns() < deadline) bu_sleep_us(100);
    res->spawn_s = (double)(bu_now_ns() - t0) * 1e-9;
    if (atomic_load(&g_started) != IDLE_N) {
        snprintf(res->err, sizeof res->err, "only %llu of %u actors started",
                 (unsigned long long)atomic_load(&g_started), IDLE_N);
        return;
    }
    bu_sleep_us(20000);
    res->rss1 = bu_rss_bytes();
    malloc_trim(0);
    res->rss2 = bu_rss_bytes();
    za_metrics m;
    if (za_metrics_read(sys, &m) == ZA_OK) res->alive = m.actors_alive;
    if (res->alive != IDLE_N) {
        snprintf(res->err, sizeof res->err, "metrics say %llu actors alive",
                 (unsigned long long)res->alive);
        return;
    }
    res->ok = 1;
    /* the process exits without shutting the system down: stopping 1M
     * actors is not what is measured here */
}

static idle_result idle_run(size_t state_size) {
    idle_result res;
    memset(&res, 0, sizeof res);
    int fds[2];
    if (pipe(fds) != 0) bu_die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) bu_die("fork");
    if (pid == 0) {
        close(fds[0]);
        idle_child(state_size, &res);
        ssize_t w = write(fds[1], &res, sizeof res);
        _exit(w == (ssize_t)sizeof res ? 0 : 1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], &res, sizeof res);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n != (ssize_t)sizeof res || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bu_die("idle actors: child process failed");
    if (!res.ok) bu_die("idle actors: %s", res.err);
    return res;
}

static void run_idle(size_t state_size, int workers) {
    bu_stats bpa, bpa_trim, rate, c2c;
    bu_stats_init(&c2c);
    bu_stats_init(&bpa);
    bu_stats_init(&bpa_trim);
    bu_stats_init(&rate);
    bu_cpu c0, c1;
    bu_cpu_now(&c0);
    for (int r = 0; r < BU_WARMUP + BU_RUNS; r++) {
        if (r >= BU_WARMUP) bu_c2c_add(&c2c);
        idle_result res = idle_run(state_size);
        if (r < BU_WARMUP) continue;
        bu_stats_add(&bpa, (double)(res.rss1 - res.rss0) / IDLE_N);
        bu_stats_add(&bpa_trim, (double)(res.rss2 - res.rss0) / IDLE_N);
        bu_stats_add(&rate, IDLE_N / res.spawn_s);
    }
    bu_cpu_now(&c1);
    double other = bu_other_load(&c0, &c1);
    bu_stats_done(&bpa);
    bu_stats_done(&bpa_trim);
    bu_stats_done(&rate);
    bu_stats_done(&c2c);
    char label[128];
    snprintf(label, sizeof label, "idle actor memory, state_size %zu (RSS growth / 1M actors)",
             state_size);
    bu_print(label, &bpa, "bytes/actor", 1);
    bu_print("  same after malloc_trim(0)", &bpa_trim, "bytes/actor", 1);
    bu_print("  spawn rate of 1M idle top-level actors from one outside thread", &rate, "actors/s",
             0);

    char name[64];
    snprintf(name, sizeof name, "spawn_idle_bytes_state%zu", state_size);
    bu_print_c2c(&c2c);
    bu_report_other_load("these runs", other);

    bu_json *j = bu_json_begin(name, "bytes/actor", &bpa);
    bu_json_num(j, "other_load_cores", other);
    bu_json_stats(j, "c2c_round_trip_ns", &c2c);
    bu_json_str(j, "program", "bench_spawn");
    bu_json_str(j, "what",
                "(VmRSS after all started - VmRSS before) / actors, fresh process per run; "
                "includes the 192-byte slot, the top-level list entry, the state allocation and "
                "allocator-retained message memory");
    bu_json_num(j, "workers", workers);
    bu_json_num(j, "actors", IDLE_N);
    bu_json_num(j, "state_size", (double)state_size);
    bu_json_stats(j, "after_malloc_trim_bytes_per_actor", &bpa_trim);
    bu_json_stats(j, "spawn_rate_actors_per_s", &rate);
    bu_json_end(j);
}

int main(void) {
    /* the idle measurements fork: do them before this process has threads */
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = ncores > 0 ? (int)ncores : 1; /* what workers = 0 means */
    bu_header("bench_spawn", workers);
    run_idle(0, workers);
    run_idle(8, workers);
    run_skynet();
    return 0;
}
