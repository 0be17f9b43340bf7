/*
 * future.c - Future: the outcome of ask_async. Its core (futcore) is the
 * part runtime threads touch, with no Python inside; result() waits for it
 * with the GIL released.
 */
#include "glue.h"

#include <math.h>

static void core_release(futcore *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    za_answer_free(&c->ans); /* a PTR answer's dtor defers if needed */
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static futcore *core_new(void) {
    futcore *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&c->refs, 1);
    return c;
}

/* The ask callback: any runtime thread, GIL maybe not held. */
static void ask_cb(za_answer *a, void *ud) {
    futcore *c = ud;
    pthread_mutex_lock(&c->mu);
    c->ans = *a;
    memset(a, 0, sizeof *a);
    atomic_store_explicit(&c->done, 1, memory_order_release);
    PyObject *keep = c->keep;
    c->keep = NULL;
    za_system *rs_sys = c->rs_sys;
    c->rs_sys = NULL;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    /* an async handler awaits this answer: resume it (not for a cancel, which
     * only the handler itself makes, see async.c) */
    if (rs_sys && c->ans.status != ZA_ECANCELLED)
        zpy_async_resume_send(rs_sys, c->rs_to, c->rs_key, c->rs_gen);
    if (keep) {
        if (zpy_user_callbacks_ok()) {
            zpy_future_run_callbacks((FutureObject *)keep);
            Py_DECREF(keep);
        } else if (tl_gil) {
            /* a worker (or an actor): wake awaiting tasks now (glue code,
             * no user code), leave the user's callbacks to the dispatcher */
            zpy_future_wake_waiters((FutureObject *)keep);
            if (((FutureObject *)keep)->callbacks)
                zpy_defer_obj(DF_FUTCB, keep);
            else
                Py_DECREF(keep);
        } else {
            zpy_defer_obj(DF_FUTCB, keep);
        }
    }
    core_release(c);
}

/*
 * Wait until the core is done: 1 done, 0 timed out, -1 exception (a signal
 * handler raised). timeout inf: no limit. GIL held on entry and exit.
 */
static int core_wait(SystemObject *s, futcore *c, double timeout) {
    if (atomic_load_explicit(&c->done, memory_order_acquire)) return 1;
    uint64_t deadline = zpy_deadline_after(timeout);
    if (s->manual) {
        /* deterministic mode: this thread runs the actors */
        for (;;) {
            int turns = 0;
            if (s->sys && !s->closed) HOLDING(turns = za_system_run(s->sys, 64));
            if (atomic_load(&c->done)) {
                zpy_drain_deferred();
                return 1;
            }
            if (PyErr_CheckSignals() < 0) return -1;
            if (zpy_now_ns() >= deadline) return 0;
            if (turns <= 0 && zpy_async_idle(s)) continue; /* (the virtual clock moved) */
            if (turns <= 0) {
                /* only timers can make progress now */
                Py_BEGIN_ALLOW_THREADS;
                struct timespec ts = {0, 200000};
                nanosleep(&ts, NULL);
                Py_END_ALLOW_THREADS;
            }
        }
    }
    zpy_gil_release();
    /* brief poll: a reply from an actor usually arrives within microseconds */
    poller pl;
    uint64_t t0 = zpy_now_ns();
    zpy_poll_init(&pl, deadline - t0 > RESULT_POLL_NS ? RESULT_POLL_NS : deadline - t0);
    int done;
    while (!(done = atomic_load_explicit(&c->done, memory_order_acquire)) && zpy_poll_pause(&pl)) {
    }
    while (!done) {
        pthread_mutex_lock(&c->mu);
        if (!atomic_load(&c->done)) {
            uint64_t now = zpy_now_ns();
            uint64_t until = deadline - now > SLICE_NS ? now + SLICE_NS : deadline;
            if (now < until) {
                struct timespec ts = {(time_t)(until / 1000000000ull),
                                      (long)(until % 1000000000ull)};
                pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            }
        }
        done = atomic_load(&c->done);
        pthread_mutex_unlock(&c->mu);
        if (done) break;
        zpy_gil_acquire();
        if (PyErr_CheckSignals() < 0) return -1;
        if (zpy_now_ns() >= deadline) return 0;
        zpy_gil_release();
    }
    zpy_wait_gil_free();
    zpy_gil_acquire();
    zpy_drain_deferred();
    return 1;
}

/* Wait up to timeout s for f (an async on_stop awaiting an ask, async.c):
 * 1 done, 0 not yet, -1 exception. GIL held. */
int zpy_future_wait(FutureObject *f, double timeout) {
    return core_wait(f->sys, f->core, timeout);
}

/* Turn the answer into result/exc (once). GIL held. */
static void fut_convert(FutureObject *f) {
    if (f->converted) return;
    f->converted = 1;
    zpy_answer_to_py(f->sys, &f->core->ans, f->timeout, &f->result, &f->exc);
}

void zpy_future_wake_waiters(FutureObject *f) {
    PyObject *ws = f->aw_waiters;
    f->aw_waiters = NULL;
    if (ws) {
        /* awaiting tasks: each loop's waker resolves the asyncio future in
         * the loop's thread (one call_soon_threadsafe per batch) */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ws); i++) {
            PyObject *pair = PyList_GET_ITEM(ws, i);
            PyObject *waker = PyTuple_GET_ITEM(pair, 0);
            PyObject *r =
                PyObject_CallMethodOneArg(waker, f->sys->st->str_add, PyTuple_GET_ITEM(pair, 1));
            if (!r)
                PyErr_WriteUnraisable(waker);
            else
                Py_DECREF(r);
        }
        Py_DECREF(ws);
    }
}

/* Done: wake awaiting tasks and run add_done_callback's callbacks (on a
 * thread where zpy_user_callbacks_ok(), see ask_cb). */
void zpy_future_run_callbacks(FutureObject *f) {
    zpy_future_wake_waiters(f);
    PyObject *cbs = f->callbacks;
    f->callbacks = NULL;
    if (!cbs) return;
    fut_convert(f);
    Py_ssize_t n = PyList_GET_SIZE(cbs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *cb = PyList_GET_ITEM(cbs, i);
        PyObject *r = PyObject_CallOneArg(cb, (PyObject *)f);
        if (!r)
            PyErr_WriteUnraisable(cb);
        else
            Py_DECREF(r);
    }
    Py_DECREF(cbs);
}

static FutureObject *future_new(SystemObject *s) {
    FutureObject *f = PyObject_GC_New(FutureObject, s->st->Future_Type);
    if (!f) return NULL;
    f->sys = NULL;
    f->handle = NULL;
    f->callbacks = f->result = f->exc = NULL;
    f->aw_waiters = NULL;
    f->converted = 0;
    f->cancelled = 0;
    f->target = 0;
    f->timeout = 0;
    f->core = core_new();
    if (!f->core) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return NULL;
    }
    f->sys = (SystemObject *)Py_NewRef((PyObject *)s);
    PyObject_GC_Track(f);
    return f;
}

static int Future_traverse(FutureObject *f, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(f));
    Py_VISIT(f->sys);
    Py_VISIT(f->callbacks);
    Py_VISIT(f->result);
    Py_VISIT(f->exc);
    Py_VISIT(f->aw_waiters);
    return 0;
}

static int Future_clear(FutureObject *f) {
    Py_CLEAR(f->callbacks);
    Py_CLEAR(f->result);
    Py_CLEAR(f->exc);
    Py_CLEAR(f->aw_waiters);
    return 0;
}

static void Future_dealloc(FutureObject *f) {
    PyTypeObject *tp = Py_TYPE(f);
    PyObject_GC_UnTrack(f);
    Future_clear(f);
    if (f->handle) za_ask_handle_release(f->handle);
    if (f->core) HOLDING(core_release(f->core));
    Py_XDECREF(f->sys);
    PyObject_GC_Del(f);
    Py_DECREF(tp);
}

/* Issue an ask; returns a Future. timeout inf: none in the runtime. */
FutureObject *zpy_future_ask(RefObject *r, PyObject *msg, double timeout) {
    SystemObject *s = r->sys;
    if (zpy_check_sys(s) < 0) return NULL;
    FutureObject *f = future_new(s);
    if (!f) return NULL;
    f->target = r->ref;
    f->timeout = timeout;
    /* (0 in the runtime means "no timeout": ask_async(timeout=0) times out
     * at once, in 1 ms) */
    uint32_t tms = isinf(timeout) ? 0 : timeout > 0 ? zpy_seconds_to_ms(timeout) : 1;
    atomic_fetch_add(&f->core->refs, 1); /* the callback's */
    int kind = r->kind ? r->kind : zpy_ref_kind(r);
    int rc;
    if (kind != 2) {
        /* (an ask made by an async handler carries its call chain in the
         * reply slot: za_chain_enter in async.c) */
        Py_INCREF(msg);
        HOLDING(rc = za_ask_ptr_async(s->sys, r->ref, TAG_PY, msg, zpy_py_obj_dtor, tms, ask_cb,
                                      f->core, &f->handle));
        if (rc != ZA_OK && rc != ZA_EDROPPED) Py_DECREF(msg);
        /* this thread awaits next, most likely: the worker polls for the
         * GIL for a moment instead of sleeping in it */
        if (rc == ZA_OK && !tl_in_actor && !s->manual) zpy_handoff_promise();
    } else {
        za_pack *p = za_pack_new();
        if (!p) {
            core_release(f->core);
            Py_DECREF(f);
            return (FutureObject *)PyErr_NoMemory();
        }
        if (zpy_pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            core_release(f->core);
            Py_DECREF(f);
            return NULL;
        }
        HOLDING(rc = za_ask_async(s->sys, r->ref, 0, za_pack_data(p), za_pack_size(p), tms, ask_cb,
                                  f->core, &f->handle));
        za_pack_free(p);
    }
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        core_release(f->core); /* the callback will never run */
        Py_DECREF(f);
        zpy_raise_za(s, rc, "ask");
        return NULL;
    }
    return f;
}

PyObject *zpy_future_outcome(FutureObject *f) {
    fut_convert(f);
    if (f->exc) {
        zpy_raise_exc_obj(f->exc);
        return NULL;
    }
    return Py_NewRef(f->result ? f->result : Py_None);
}

static PyObject *Future_result(FutureObject *f, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:result", kwlist, &to)) return NULL;
    double timeout;
    if (zpy_duration_opt(to, "timeout", ZPY_DUR_INF_OK, INFINITY, &timeout) < 0) return NULL;
    if (!atomic_load_explicit(&f->core->done, memory_order_acquire)) {
        if (zpy_refuse_in_actor("Future.result()") < 0) return NULL;
        int w = core_wait(f->sys, f->core, timeout);
        if (w < 0) return NULL;
        if (w == 0) {
            zpy_raise_ask_timeout(f->sys, timeout);
            return NULL;
        }
    }
    return zpy_future_outcome(f);
}

static PyObject *Future_exception(FutureObject *f, PyObject *args, PyObject *kw) {
    PyObject *r = Future_result(f, args, kw);
    if (r) {
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    if (f->converted && f->exc && PyErr_ExceptionMatches((PyObject *)Py_TYPE(f->exc))) {
        PyErr_Clear();
        return Py_NewRef(f->exc);
    }
    return NULL;
}

static PyObject *Future_done(FutureObject *f, PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(atomic_load(&f->core->done));
}

static PyObject *Future_cancelled(FutureObject *f, PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(f->cancelled);
}

int zpy_future_cancel(FutureObject *f) {
    if (atomic_load(&f->core->done) || !f->handle) return 0;
    int c;
    HOLDING(c = za_ask_cancel(f->handle));
    if (c) f->cancelled = 1;
    return c;
}

static PyObject *Future_cancel(FutureObject *f, PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(zpy_future_cancel(f));
}

static PyObject *Future_add_done_callback(FutureObject *f, PyObject *fn) {
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "callback must be callable");
        return NULL;
    }
    futcore *c = f->core;
    pthread_mutex_lock(&c->mu);
    int done = atomic_load(&c->done);
    if (!done) {
        if (!f->callbacks && !(f->callbacks = PyList_New(0))) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        if (PyList_Append(f->callbacks, fn) < 0) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        if (!c->keep) c->keep = Py_NewRef((PyObject *)f);
    }
    pthread_mutex_unlock(&c->mu);
    if (done) {
        PyObject *r = PyObject_CallOneArg(fn, (PyObject *)f);
        if (!r)
            PyErr_WriteUnraisable(fn);
        else
            Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

static PyObject *Future_repr(FutureObject *f) {
    return PyUnicode_FromFormat("<zactor.Future %s>",
                                atomic_load(&f->core->done) ? "done" : "pending");
}

static PyMethodDef Future_methods[] = {
    {"result", (PyCFunction)(void (*)(void))Future_result, METH_VARARGS | METH_KEYWORDS,
     "result(timeout=None): wait for the answer (GIL released, Ctrl-C works) and return it, or "
     "raise the actor's exception. AskTimeout if the wait runs out (the ask continues)."},
    {"exception", (PyCFunction)(void (*)(void))Future_exception, METH_VARARGS | METH_KEYWORDS,
     "exception(timeout=None): the exception the ask ended with, or None."},
    {"done", (PyCFunction)Future_done, METH_NOARGS, "True once the ask has an outcome."},
    {"cancelled", (PyCFunction)Future_cancelled, METH_NOARGS, "True if cancel() succeeded."},
    {"cancel", (PyCFunction)Future_cancel, METH_NOARGS,
     "Cancel the ask if it has no answer yet; a later reply becomes a dead letter."},
    {"add_done_callback", (PyCFunction)Future_add_done_callback, METH_O,
     "add_done_callback(fn): call fn(future) once done (at once if already done). It runs on "
     "a thread where blocking calls are legal (the caller's, or zactor's dispatcher thread), "
     "never on a runtime worker."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Future_slots[] = {
    {Py_tp_dealloc, Future_dealloc},
    {Py_tp_traverse, Future_traverse},
    {Py_tp_clear, Future_clear},
    {Py_tp_methods, Future_methods},
    {Py_tp_repr, Future_repr},
    {Py_am_await, zpy_future_await},
    {Py_tp_doc, "The outcome of ask_async(): result(), done(), add_done_callback(), cancel(); "
                "awaitable from asyncio without blocking the event loop."},
    {0, NULL},
};

PyType_Spec zpy_Future_spec = {"zactor.Future", sizeof(FutureObject), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
                                   Py_TPFLAGS_DISALLOW_INSTANTIATION,
                               Future_slots};
