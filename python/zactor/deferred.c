/*
 * deferred.c - the deferred queue: work that runtime threads without the
 * GIL hand to Python (decrefs, future callbacks, dead letters, closing a
 * System dropped on a worker), drained under the GIL by the dispatcher
 * thread and after blocking waits: never on a worker, so user callbacks
 * run where the blocking API (ask, join, shutdown) is legal.
 */
#include "glue.h"

static pthread_mutex_t dq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dq_cv = PTHREAD_COND_INITIALIZER;
static defer_item *dq_head, *dq_tail;
static _Atomic int dq_pending;
static int dq_stop;

void zpy_defer_push(defer_item *it) {
    it->next = NULL;
    pthread_mutex_lock(&dq_mu);
    if (dq_tail)
        dq_tail->next = it;
    else
        dq_head = it;
    dq_tail = it;
    atomic_store(&dq_pending, 1);
    pthread_cond_signal(&dq_cv);
    pthread_mutex_unlock(&dq_mu);
}

void zpy_defer_obj(int kind, PyObject *obj) {
    defer_item *it = calloc(1, sizeof *it);
    if (!it) return; /* out of memory: leaking one reference is the safe choice */
    it->kind = kind;
    it->obj = obj;
    zpy_defer_push(it);
}

/* PTR payload destructor: runs exactly once, on whatever thread. */
void zpy_py_obj_dtor(void *p) {
    if (!p) return;
    if (tl_gil)
        Py_DECREF((PyObject *)p);
    else
        zpy_defer_obj(DF_DECREF, (PyObject *)p);
}

/* Run deferred work. GIL held; not on a worker, not inside an actor. */
void zpy_drain_deferred(void) {
    if (!atomic_load(&dq_pending) || tl_in_host || tl_in_actor) return;
    pthread_mutex_lock(&dq_mu);
    defer_item *list = dq_head;
    dq_head = dq_tail = NULL;
    atomic_store(&dq_pending, 0);
    pthread_mutex_unlock(&dq_mu);
    /* Pin the systems of dead-letter items before any Python runs (which may
     * switch threads and let a system be closed and freed meanwhile). */
    for (defer_item *it = list; it; it = it->next)
        if (it->kind == DF_DL) Py_INCREF(it->sys);
    int saved = tl_gil;
    tl_gil = 1;
    while (list) {
        defer_item *it = list;
        list = it->next;
        switch (it->kind) {
        case DF_DECREF:
            Py_DECREF(it->obj);
            break;
        case DF_FUTCB:
            zpy_future_run_callbacks((FutureObject *)it->obj);
            Py_DECREF(it->obj);
            break;
        case DF_DL:
            zpy_deliver_dead_letter(it);
            Py_DECREF(it->sys);
            break;
        case DF_REAP: /* an abandoned System's closer is done (shutdown.c) */
            zpy_system_reap((SystemObject *)it->obj);
            Py_DECREF(it->obj);
            break;
        case DF_CLOSE: /* a System dropped on a worker (System_finalize) */
            zpy_system_close_dropped((SystemObject *)it->obj);
            Py_DECREF(it->obj);
            break;
        }
        free(it);
    }
    tl_gil = saved;
}

/* Dispatcher: runs deferred work (future callbacks, dead letters, decrefs
 * from threads without the GIL). Runs in a daemon thread until stopped. */
PyObject *zpy_dispatch_loop(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS;
        pthread_mutex_lock(&dq_mu);
        if (!dq_head && !dq_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&dq_cv, &dq_mu, &ts);
        }
        pthread_mutex_unlock(&dq_mu);
        Py_END_ALLOW_THREADS;
        zpy_drain_deferred();
        pthread_mutex_lock(&dq_mu);
        int stop = dq_stop;
        pthread_mutex_unlock(&dq_mu);
        if (stop) break;
    }
    zpy_drain_deferred();
    Py_RETURN_NONE;
}

PyObject *zpy_dispatch_stop(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    pthread_mutex_lock(&dq_mu);
    dq_stop = 1;
    pthread_cond_broadcast(&dq_cv);
    pthread_mutex_unlock(&dq_mu);
    Py_RETURN_NONE;
}

/* After fork, in the child (see mod_after_fork_child): locks may have been
 * held at fork: make fresh ones; queued work referred to the parent's
 * threads: forget it. */
void zpy_deferred_after_fork(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    memcpy(&dq_mu, &m, sizeof m);
    memcpy(&dq_cv, &c, sizeof c);
    dq_head = dq_tail = NULL;
    atomic_store(&dq_pending, 0);
    dq_stop = 0;
}
