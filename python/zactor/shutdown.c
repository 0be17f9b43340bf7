/*
 * shutdown.c - closing a System within its timeout.
 *
 * The runtime's shutdown drains mailboxes, stops actors, then joins the
 * workers: a Python handler that does not return (or returns late) kept
 * shutdown(timeout) waiting for it, Ctrl-C included. So the runtime's
 * shutdown runs on a helper thread ("closer") while the caller waits, GIL
 * released, in slices (Ctrl-C between them), for at most the timeout plus
 * CLOSE_GRACE_NS (stop hooks run after the drain). If the closer is still
 * not done then, the system is *abandoned*:
 *  - shutdown() returns False, warns (RuntimeWarning) and lists the actors
 *    still inside a handler in System.abandoned; the System is closed to
 *    every call;
 *  - everything the stuck worker and the closer may still touch stays
 *    alive: the SystemObject (one reference owned by the closer), its cells,
 *    thread states and za_system. When the closer finishes, the dispatcher
 *    frees them (DF_REAP);
 *  - once the interpreter begins to exit (g_exiting, set by the exit hook
 *    before finalization), no thread of an abandoned system touches Python:
 *    a worker about to enter the Python host parks for good, the closer's
 *    stop hooks skip Python, and a worker still inside Python is stopped by
 *    CPython itself when it next takes the GIL.
 */
#include "glue.h"

#define CLOSE_GRACE_NS 500000000ull /* after the timeout: stop hooks, joining */
#define INTERRUPT_GRACE_NS 1000000000ull

_Atomic int g_exiting;

typedef struct closer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    za_system *sys;
    SystemObject *s; /* a reference, once abandoned */
    uint32_t ms;
    _Atomic int interrupted;
    int done, abandoned, rc;
} closer;

static int closer_interrupted(void *ud) {
    return atomic_load(&((closer *)ud)->interrupted);
}

static void *closer_main(void *arg) {
    closer *c = arg;
    int rc = za_system_shutdown_ex(c->sys, c->ms, closer_interrupted, c);
    pthread_mutex_lock(&c->mu);
    c->rc = rc;
    c->done = 1;
    int abandoned = c->abandoned;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (abandoned) {
        /* nobody waits any more: the dispatcher frees the system (never
         * after the interpreter began to exit: then it is leaked) */
        zpy_defer_obj(DF_REAP, (PyObject *)c->s);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
    }
    return NULL;
}

/* The last of a system: GIL held, workers joined. */
static void finish(SystemObject *s) {
    zpy_drain_deferred(); /* dead letters of this system, while it still exists */
    atomic_store(&s->dl_on, 0);
    HOLDING(za_system_destroy(s->sys));
    s->sys = NULL;
    zpy_drain_deferred();
    for (int i = 0; i < s->nworkers; i++) {
        if (s->tstates[i]) {
            PyThreadState_Clear(s->tstates[i]);
            PyThreadState_Delete(s->tstates[i]);
            s->tstates[i] = NULL;
        }
    }
    /* break the system <-> cell cycles */
    if (s->cells) PyDict_Clear(s->cells);
    if (s->timers) PyDict_Clear(s->timers);
}

/* DF_REAP: an abandoned system's closer is done. */
void zpy_system_reap(SystemObject *s) {
    if (!atomic_load(&g_exiting) && s->reap_sys) {
        s->sys = s->reap_sys;
        s->reap_sys = NULL;
        finish(s);
    }
}

/* The actors still inside a callback (their handler is what is stuck). */
static PyObject *running_actors(SystemObject *s) {
    PyObject *l = PyList_New(0);
    if (!l || !s->cells) return l;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(s->cells, &pos, &k, &v)) {
        ContextObject *c = (ContextObject *)v;
        if (!c->cur) continue;
        PyObject *r = zpy_new_ref(s, c->ref, 1);
        if (!r || PyList_Append(l, r) < 0) {
            Py_XDECREF(r);
            Py_DECREF(l);
            return NULL;
        }
        Py_DECREF(r);
    }
    return l;
}

static void abandon(SystemObject *s, closer *c, double timeout) {
    s->reap_sys = s->sys;
    s->sys = NULL;
    s->abandoned_flag = 1;
    PyObject *l = running_actors(s);
    if (!l) PyErr_Clear();
    Py_XSETREF(s->abandoned, l ? PyList_AsTuple(l) : PyTuple_New(0));
    PyObject *text = PyUnicode_FromString("");
    for (Py_ssize_t i = 0; l && text && i < PyList_GET_SIZE(l); i++) {
        RefObject *r = (RefObject *)PyList_GET_ITEM(l, i);
        PyObject *key = PyLong_FromUnsignedLongLong(r->ref);
        PyObject *cell = key ? PyDict_GetItemWithError(s->cells, key) : NULL;
        Py_XDECREF(key);
        const char *cls = cell && ((ContextObject *)cell)->cls
                              ? ((PyTypeObject *)((ContextObject *)cell)->cls)->tp_name
                              : "?";
        Py_SETREF(text, PyUnicode_FromFormat("%U%s%s %R", text, i ? ", " : "", cls, (PyObject *)r));
    }
    Py_XDECREF(l);
    if (!s->abandoned || !text) PyErr_Clear();
    char secs[32];
    snprintf(secs, sizeof secs, "%g", timeout);
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                         "zactor: shutdown(timeout=%s) returned with %zd actor(s) still inside a "
                         "handler (%U): their worker is abandoned (see System.abandoned)",
                         secs, s->abandoned ? PyTuple_GET_SIZE(s->abandoned) : 0,
                         text ? text : Py_None) < 0)
        PyErr_WriteUnraisable((PyObject *)s); /* (warnings turned into errors) */
    Py_XDECREF(text);
    /* the closer owns a reference until DF_REAP */
    c->s = (SystemObject *)Py_NewRef((PyObject *)s);
}

int zpy_system_close(SystemObject *s, double timeout, int interruptible) {
    if (!s->sys || s->closed) return ZA_OK;
    if (s->fork_gen != g_fork_gen) {
        /* the child of a fork: the workers do not exist here; leak, never join */
        s->closed = 1;
        return ZA_OK;
    }
    if (s->closing) return ZA_OK;
    /* Not "closed" yet: while mailboxes drain, actors keep talking to each
     * other (the runtime itself refuses sends from outside). */
    s->closing = 1;
    uint32_t ms = zpy_seconds_to_ms(timeout); /* (inf: ~49.7 days, "no limit") */
    int rc;
    if (s->manual) {
        /* actors run on this thread: nothing to wait for elsewhere */
        HOLDING(rc = za_system_shutdown(s->sys, ms));
        s->closed = 1;
        finish(s);
        return rc;
    }
    closer *c = calloc(1, sizeof *c);
    pthread_t th;
    if (c) {
        pthread_mutex_init(&c->mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cv, &ca);
        pthread_condattr_destroy(&ca);
        c->sys = s->sys;
        c->ms = ms;
    }
    if (!c || pthread_create(&th, NULL, closer_main, c) != 0) {
        /* no thread: the runtime's shutdown on this thread, unbounded */
        if (c) {
            pthread_mutex_destroy(&c->mu);
            pthread_cond_destroy(&c->cv);
            free(c);
        }
        zpy_gil_release();
        rc = za_system_shutdown(s->sys, ms);
        zpy_gil_acquire();
        s->closed = 1;
        finish(s);
        return rc;
    }
    uint64_t deadline = zpy_deadline_after(timeout);
    if (deadline != UINT64_MAX) deadline += CLOSE_GRACE_NS;
    PyObject *et = NULL, *ev = NULL, *etb = NULL;
    int interrupted = 0, done = 0;
    zpy_gil_release();
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (!c->done) {
            uint64_t now = zpy_now_ns();
            uint64_t until = deadline - now > SLICE_NS ? now + SLICE_NS : deadline;
            if (now < until) {
                struct timespec ts = {(time_t)(until / 1000000000ull),
                                      (long)(until % 1000000000ull)};
                pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            }
        }
        done = c->done;
        if (!done && zpy_now_ns() >= deadline) c->abandoned = 1;
        pthread_mutex_unlock(&c->mu);
        if (done || c->abandoned) break;
        if (interruptible && !interrupted) {
            zpy_gil_acquire();
            if (PyErr_CheckSignals() < 0) {
                /* Ctrl-C: the closer stops waiting for the drain; stop hooks
                 * get a moment, then this returns */
                PyErr_Fetch(&et, &ev, &etb);
                interrupted = 1;
                atomic_store(&c->interrupted, 1);
                uint64_t d = zpy_now_ns() + INTERRUPT_GRACE_NS;
                if (d < deadline) deadline = d;
            }
            zpy_gil_release();
        }
    }
    zpy_gil_acquire();
    s->closed = 1;
    if (done) {
        pthread_join(th, NULL);
        rc = c->rc;
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        finish(s);
    } else {
        pthread_detach(th);
        rc = ZA_ETIMEDOUT;
        if (interrupted) {
            PyObject *t2, *v2, *tb2;
            PyErr_Fetch(&t2, &v2, &tb2); /* (nothing expected) */
            abandon(s, c, timeout);
            PyErr_Restore(t2, v2, tb2);
        } else {
            abandon(s, c, timeout);
        }
        /* from here on c belongs to the closer thread */
    }
    if (interrupted) {
        rc = ZA_ECANCELLED;
        if (et)
            PyErr_Restore(et, ev, etb);
        else
            PyErr_SetString(PyExc_KeyboardInterrupt, "shutdown interrupted");
    }
    return rc;
}

/* The exit hook, before finalization: no thread of a system left running
 * (abandoned) may touch Python from now on. */
PyObject *zpy_exiting(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    atomic_store(&g_exiting, 1);
    Py_RETURN_NONE;
}
