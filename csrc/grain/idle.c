/*
 * idle.c - the idle sweep: a thread (started with the first registered
 * class) that deactivates activations idle longer than their class's
 * idle_ms.
 *
 * It wakes every min(idle_ms) / 4 (between 5 ms and 1 s) and walks only the
 * shards' lists of live entries, one shard lock at a time, comparing one
 * timestamp per entry: about 10 ns per activation, so 100k activations
 * cost ~1 ms per sweep and hold no lock longer than 1/64th of that.
 */
#include <stdlib.h>
#include <time.h>

#include "grain/directory.h"
#include "system.h"

static uint32_t tick_ms(za_grains *g) {
    uint32_t m = atomic_load_explicit(&g->min_idle_ms, memory_order_relaxed) / 4;
    if (m < 5) m = 5;
    if (m > 1000) m = 1000;
    return m;
}

static void sweep(za_system *s, za_grains *g) {
    uint64_t now = za__gnow_ns();
    for (uint32_t i = 0; i < ZA_GSHARDS; i++) {
        za_gshard *sh = &g->shards[i];
        pthread_mutex_lock(&sh->mu);
        for (za_gentry *e = sh->live; e; e = e->lnext) {
            if (e->status != ZA_GRAIN_ACTIVE) continue;
            /* relaxed: a stale count only delays the deactivation a sweep */
            if (e->ad && atomic_load_explicit(&e->ad->inflight, memory_order_relaxed)) continue;
            uint64_t idle = (uint64_t)e->cls->idle_ms * 1000000ull;
            if (now > e->last_ns && now - e->last_ns >= idle) za__gdir_deactivate(s, e, "idle");
        }
        pthread_mutex_unlock(&sh->mu);
    }
}

static void *sweeper(void *p) {
    za_system *s = p;
    za_grains *g = s->grains;
    pthread_mutex_lock(&g->sw_mu);
    while (!g->sw_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)tick_ms(g) * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&g->sw_cv, &g->sw_mu, &ts);
        if (g->sw_stop) break;
        pthread_mutex_unlock(&g->sw_mu);
        sweep(s, g);
        pthread_mutex_lock(&g->sw_mu);
    }
    pthread_mutex_unlock(&g->sw_mu);
    return NULL;
}

int za__gidle_start(za_system *s) {
    za_grains *g = s->grains;
    pthread_mutex_lock(&g->sw_mu);
    int rc = ZA_OK;
    if (!g->sw_started && !g->sw_stop) {
        if (pthread_create(&g->sw_thread, NULL, sweeper, s) == 0)
            g->sw_started = true;
        else
            rc = za__fail(ZA_ENOMEM, "cannot start the grain idle sweep thread");
    }
    pthread_mutex_unlock(&g->sw_mu);
    return rc;
}

void za__gidle_stop(za_system *s) {
    za_grains *g = s->grains;
    pthread_mutex_lock(&g->sw_mu);
    g->sw_stop = true;
    bool started = g->sw_started;
    g->sw_started = false;
    pthread_cond_broadcast(&g->sw_cv);
    pthread_mutex_unlock(&g->sw_mu);
    if (started) pthread_join(g->sw_thread, NULL);
}
