/*
 * testservers.h - real database servers for the C tests: a redis-server and
 * a PostgreSQL cluster, each on a free 127.0.0.1 port in its own temporary
 * directory, started by the test and always stopped:
 *  - the normal path stops them in the cmocka group teardown;
 *  - atexit and SIGINT/SIGTERM/SIGABRT handlers kill what is left (kill()
 *    is async-signal-safe);
 *  - each server is started with PR_SET_PDEATHSIG = SIGKILL, so even a
 *    test process killed with SIGKILL takes its servers down.
 * PostgreSQL refuses to run as root: initdb and postgres then run as the
 * "postgres" user (setuid in the forked child, so the pid we hold is the
 * server's own). Every wait is bounded.
 */
#ifndef ZA_TESTSERVERS_H
#define ZA_TESTSERVERS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TS_PG_BIN "/usr/lib/postgresql/15/bin"
#define TS_PG_PASSWORD "zactor-test-pw"
#define TS_MAX_PIDS 16

static volatile pid_t ts_pids[TS_MAX_PIDS];

/* Signal a server and the processes it forked (PostgreSQL's backends, which
 * each call setsid, so a process group would miss them): its children are
 * found through /proc. Used for SIGKILL (a crash) and SIGSTOP/SIGCONT (a
 * paused server). Not async-signal-safe: handlers use kill() alone. */
static inline void ts_signal(pid_t pid, int sig) {
    if (sig == SIGSTOP) kill(pid, sig); /* parent first: it forks no new child meanwhile */
    DIR *d = opendir("/proc");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            char path[300], buf[512];
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            const char *rp = strrchr(buf, ')'); /* after the command name */
            int ppid = 0;
            if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == pid)
                kill((pid_t)atoi(e->d_name), sig);
        }
        closedir(d);
    }
    if (sig != SIGSTOP) kill(pid, sig);
}

static inline void ts_kill_all(void) {
    for (int i = 0; i < TS_MAX_PIDS; i++)
        if (ts_pids[i] > 0)
            kill(ts_pids[i], SIGKILL); /* children follow (PDEATHSIG, postmaster death) */
}

static inline void ts_on_signal(int sig) {
    ts_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void ts_track(pid_t pid) {
    static bool hooked;
    if (!hooked) {
        hooked = true;
        /* Orphans of a killed server (PostgreSQL backends) come to us, not
         * to PID 1, which in a container may never reap them. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        atexit(ts_kill_all);
        signal(SIGINT, ts_on_signal);
        signal(SIGTERM, ts_on_signal);
        signal(SIGABRT, ts_on_signal);
    }
    for (int i = 0; i < TS_MAX_PIDS; i++)
        if (ts_pids[i] <= 0) {
            ts_pids[i] = pid;
            return;
        }
}

static inline void ts_untrack(pid_t pid) {
    for (int i = 0; i < TS_MAX_PIDS; i++)
        if (ts_pids[i] == pid) ts_pids[i] = 0;
}

static inline uint64_t ts_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static inline void ts_sleep_ms(unsigned ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* A port nobody listens on right now: bind port 0 and read what we got. */
static inline int ts_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Wait for a child with a deadline: 1 reaped, 0 still running. */
static inline int ts_wait_pid(pid_t pid, unsigned ms) {
    uint64_t end = ts_now_ms() + ms;
    do {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) return 1;
        ts_sleep_ms(20);
    } while (ts_now_ms() < end);
    return 0;
}

/* Stop a server: sig (SIGKILL: to it and its children, a crash), then
 * SIGKILL to them if it has not exited in grace_ms. */
static inline void ts_stop_pid(pid_t pid, int sig, unsigned grace_ms) {
    if (pid <= 0) return;
    if (sig == SIGKILL)
        ts_signal(pid, sig);
    else
        kill(pid, sig);
    if (!ts_wait_pid(pid, grace_ms)) ts_signal(pid, SIGKILL);
    ts_wait_pid(pid, 5000);
    ts_untrack(pid);
    for (int i = 0; i < 50 && waitpid(-1, NULL, WNOHANG) > 0; i++) {
    } /* reap its orphans */
}

/* fork + exec argv, optionally as user `as` (NULL: ourselves), stdout and
 * stderr to logfile; the child dies with us (PR_SET_PDEATHSIG). */
static inline pid_t ts_spawn(char *const argv[], const char *as, const char *logfile) {
    struct passwd *pw = as ? getpwnam(as) : NULL;
    if (as && !pw) return -1;
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0) ts_track(pid);
        return pid;
    }
    if (pw) {
        if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(126);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* after setuid, which clears it */
    int fd = open(logfile ? logfile : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execv(argv[0], argv);
    _exit(127);
}

static inline int ts_run(char *const argv[], const char *as, const char *logfile, unsigned ms) {
    pid_t pid = ts_spawn(argv, as, logfile);
    if (pid < 0) return -1;
    uint64_t end = ts_now_ms() + ms;
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (ts_now_ms() > end) {
            ts_stop_pid(pid, SIGKILL, 1000);
            return -1;
        }
        ts_sleep_ms(20);
    }
    ts_untrack(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void ts_rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                ts_rm_rf(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static inline void ts_print_log(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    fprintf(stderr, "---- %s\n", path);
    while (fgets(line, sizeof line, f)) fputs(line, stderr);
    fclose(f);
}

/* ------------------------------------------------------------------ redis */

typedef struct ts_redis {
    char dir[128];
    int port;
    pid_t pid;
    char url[160];
} ts_redis;

static inline bool ts_redis_ping(int port) {
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

/* (Re)start on r->port in r->dir: append-only file, fsync on every write. */
static inline bool ts_redis_launch(ts_redis *r) {
    char port[16], log[200];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    char *argv[] = {"/usr/bin/redis-server",
                    "--port",
                    port,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    r->dir,
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--daemonize",
                    "no",
                    NULL};
    r->pid = ts_spawn(argv, NULL, log);
    if (r->pid < 0) return false;
    uint64_t end = ts_now_ms() + 15000;
    while (ts_now_ms() < end) {
        if (ts_redis_ping(r->port)) return true;
        if (ts_wait_pid(r->pid, 0)) break; /* exited: port taken? */
        ts_sleep_ms(50);
    }
    ts_print_log(log);
    ts_stop_pid(r->pid, SIGKILL, 1000);
    r->pid = -1;
    return false;
}

static inline bool ts_redis_start(ts_redis *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/za-redis-XXXXXX");
    if (!mkdtemp(r->dir)) return false;
    for (int attempt = 0; attempt < 5; attempt++) { /* another process may take the port */
        r->port = ts_free_port();
        if (ts_redis_launch(r)) {
            snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
            return true;
        }
    }
    return false;
}

/* kill -9 (a crash: only what was fsynced survives), then start again. */
static inline bool ts_redis_crash_restart(ts_redis *r) {
    ts_stop_pid(r->pid, SIGKILL, 5000);
    return ts_redis_launch(r);
}

static inline void ts_redis_stop(ts_redis *r) {
    if (r->pid > 0) ts_stop_pid(r->pid, SIGTERM, 5000);
    r->pid = -1;
    if (r->dir[0]) ts_rm_rf(r->dir);
    r->dir[0] = 0;
}

/* ------------------------------------------------------------- postgresql */

typedef struct ts_pg {
    char dir[128];
    int port;
    pid_t pid;
    char url[256];
    const char *user; /* OS user the server runs as (NULL: ourselves) */
} ts_pg;

/* pg_isready (not libpq: the runtime loads libpq at run time, the tests do
 * not link it). */
static inline int ts_run(char *const argv[], const char *as, const char *logfile, unsigned ms);
static inline bool ts_pg_ready(const ts_pg *p) {
    char port[16];
    snprintf(port, sizeof port, "%d", p->port);
    char *argv[] = {TS_PG_BIN "/pg_isready", "-q", "-h", "127.0.0.1", "-p", port, "-t", "2", NULL};
    return ts_run(argv, NULL, NULL, 5000) == 0;
}

static inline bool ts_pg_launch(ts_pg *p) {
    char data[200], port[16], log[200], sock[160];
    snprintf(data, sizeof data, "%s/data", p->dir);
    snprintf(port, sizeof port, "%d", p->port);
    snprintf(log, sizeof log, "%s/postgres.log", p->dir);
    snprintf(sock, sizeof sock, "%s", p->dir);
    char *argv[] = {TS_PG_BIN "/postgres",
                    "-D",
                    data,
                    "-p",
                    port,
                    "-k",
                    sock,
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=on",
                    "-c",
                    "synchronous_commit=on",
                    "-c",
                    "max_connections=40",
                    NULL};
    uint64_t end = ts_now_ms() + 30000;
    while (ts_now_ms() < end) { /* after a kill -9 the old backends may linger a moment */
        p->pid = ts_spawn(argv, p->user, log);
        if (p->pid < 0) return false;
        while (ts_now_ms() < end) {
            if (ts_pg_ready(p)) return true;
            if (ts_wait_pid(p->pid, 0)) break;
            ts_sleep_ms(50);
        }
        ts_untrack(p->pid);
        ts_sleep_ms(200);
    }
    ts_print_log(log);
    ts_stop_pid(p->pid, SIGKILL, 1000);
    p->pid = -1;
    return false;
}

static inline bool ts_pg_start(ts_pg *p) {
    memset(p, 0, sizeof *p);
    p->user = geteuid() == 0 ? "postgres" : NULL;
    snprintf(p->dir, sizeof p->dir, "/tmp/za-pg-XXXXXX");
    if (!mkdtemp(p->dir)) return false;
    char pwfile[200], data[200], log[200];
    snprintf(pwfile, sizeof pwfile, "%s/pw", p->dir);
    snprintf(data, sizeof data, "%s/data", p->dir);
    snprintf(log, sizeof log, "%s/initdb.log", p->dir);
    FILE *f = fopen(pwfile, "w");
    if (!f) return false;
    fputs(TS_PG_PASSWORD "\n", f);
    fclose(f);
    if (p->user) {
        struct passwd *pw = getpwnam(p->user);
        if (!pw || chown(p->dir, pw->pw_uid, pw->pw_gid) != 0 ||
            chown(pwfile, pw->pw_uid, pw->pw_gid) != 0)
            return false;
    }
    chmod(p->dir, 0700);
    char *argv[] = {TS_PG_BIN "/initdb",
                    "-D",
                    data,
                    "-U",
                    "postgres",
                    "--pwfile",
                    pwfile,
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",
                    NULL};
    if (ts_run(argv, p->user, log, 60000) != 0) {
        ts_print_log(log);
        return false;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        p->port = ts_free_port();
        if (ts_pg_launch(p)) {
            snprintf(p->url, sizeof p->url, "postgresql://postgres:%s@127.0.0.1:%d/postgres",
                     TS_PG_PASSWORD, p->port);
            return true;
        }
    }
    return false;
}

static inline bool ts_pg_crash_restart(ts_pg *p) {
    ts_stop_pid(p->pid, SIGKILL, 5000);
    return ts_pg_launch(p);
}

static inline void ts_pg_stop(ts_pg *p) {
    /* SIGINT: fast shutdown (disconnect clients, checkpoint, exit) */
    if (p->pid > 0) ts_stop_pid(p->pid, SIGINT, 10000);
    p->pid = -1;
    if (p->dir[0]) ts_rm_rf(p->dir);
    p->dir[0] = 0;
}

/* The four storage providers in order (0 memory, 1 sqlite in a temporary
 * directory, 2 a redis-server, 3 PostgreSQL, each started here and stopped
 * after fn ran), those whose name `only` contains (NULL: all): fn(idx, name,
 * url, ud). false when a server could not start (the others still ran). */
static inline bool
ts_each_provider(const char *only, void (*fn)(int idx, const char *name, const char *url, void *ud),
                 void *ud) {
    static const char *const names[4] = {"memory", "sqlite", "redis", "postgresql"};
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        if (only && !strstr(only, names[i])) continue;
        if (i == 0) {
            fn(i, names[i], "memory://", ud);
        } else if (i == 1) {
            char dir[] = "/tmp/za-providers-XXXXXX", url[128];
            if (!mkdtemp(dir)) {
                ok = false;
                continue;
            }
            snprintf(url, sizeof url, "sqlite://%s/store.db", dir);
            fn(i, names[i], url, ud);
            ts_rm_rf(dir);
        } else if (i == 2) {
            ts_redis r;
            if (!ts_redis_start(&r)) {
                ok = false;
                continue;
            }
            fn(i, names[i], r.url, ud);
            ts_redis_stop(&r);
        } else {
            ts_pg pg;
            if (!ts_pg_start(&pg)) {
                ok = false;
                continue;
            }
            fn(i, names[i], pg.url, ud);
            ts_pg_stop(&pg);
        }
    }
    return ok;
}

#endif
