/*
 * awaitable.c - `await future`: the iterator a Future's __await__ returns,
 * which polls for the answer for a moment, then parks the asyncio task.
 */
#include "glue.h"

/* ---------------------------------------------------------- await future
 *
 * `await future` runs FutureIter: if the answer is there, or arrives while
 * the awaiting thread polls for a moment with the GIL released (the usual
 * case for a Python actor that answers at once), the await completes
 * without suspending the task: no event-loop round trip, no thread wake-up.
 * Otherwise the task parks on an asyncio future of its loop, which the
 * answer resolves through the loop's _LoopWaker (one call_soon_threadsafe
 * per batch of answers). The poll adapts: when fewer than 1 in 8 recent
 * polls saw the answer (slow actors), awaits park at once, and poll again
 * 1 time in 16. (Parking after a few misses in a row was tried: on a loaded
 * machine, where polls miss now and then, awaits then stayed parked.)
 */

/* The iterator of `await future`. */
typedef struct FutureIterObject {
    PyObject ob_base;
    FutureObject *fut;
    int parked; /* yielded an asyncio waiter */
    int actor;  /* awaited by an async handler: yields the Future to its driver (async.c) */
} FutureIterObject;

/* Poll for the answer with the GIL released. 1 if done. GIL held. */
static int await_poll(FutureObject *f) {
    SystemObject *s = f->sys;
    futcore *c = f->core;
    if (s->manual) {
        /* deterministic mode: nobody else runs the actors */
        if (s->sys && !s->closed) {
            int turns;
            do {
                HOLDING(turns = za_system_run(s->sys, 64));
            } while (turns > 0 && !atomic_load(&c->done));
            zpy_drain_deferred();
        }
        return atomic_load(&c->done);
    }
    /* poll unless recent polls mostly missed (slow actors): then 1 in 16 */
    s->aw_count++;
    if (s->aw_tries >= 16 && s->aw_hits * 8 < s->aw_tries && (s->aw_count & 15)) return 0;
    if (++s->aw_tries >= 64) {
        s->aw_tries /= 2;
        s->aw_hits /= 2;
    }
    zpy_gil_release();
    poller pl;
    zpy_poll_init(&pl, AWAIT_SPIN_NS);
    int done;
    while (!(done = atomic_load_explicit(&c->done, memory_order_acquire)) && zpy_poll_pause(&pl)) {
    }
    if (done) zpy_wait_gil_free();
    zpy_gil_acquire();
    if (done) {
        s->aw_hits++;
        zpy_drain_deferred();
    }
    return done;
}

/* The running loop's waker (cached for the last loop seen, which the cache
 * holds through a weak reference). */
static PyObject *waker_of(modstate *st, PyObject *loop) {
    if (st->last_loop && PyWeakref_GET_OBJECT(st->last_loop) == loop && st->last_waker)
        return Py_NewRef(st->last_waker);
    PyObject *w = PyObject_CallOneArg(st->waker_for, loop);
    if (!w) return NULL;
    PyObject *wr = PyWeakref_NewRef(loop, NULL);
    if (!wr) {
        PyErr_Clear(); /* not weakly referenceable: no caching */
        return w;
    }
    Py_XSETREF(st->last_loop, wr);
    Py_XSETREF(st->last_waker, Py_NewRef(w));
    return w;
}

/* Park the awaiting task: returns a new asyncio future to yield, NULL with
 * an exception, or Py_None (borrowed) if the answer came meanwhile. */
static PyObject *await_park(FutureObject *f) {
    modstate *st = f->sys->st;
    if (!st->get_running_loop || !st->waker_for) {
        PyErr_SetString(PyExc_RuntimeError, "zactor is not initialised");
        return NULL;
    }
    PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
    if (!loop) return NULL;
    PyObject *waker = waker_of(st, loop);
    PyObject *waiter = waker ? PyObject_CallMethodNoArgs(loop, st->str_create_future) : NULL;
    Py_DECREF(loop);
    if (!waiter || PyObject_SetAttr(waiter, st->str_blocking, Py_True) < 0) {
        Py_XDECREF(waker);
        Py_XDECREF(waiter);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, waker, waiter);
    Py_DECREF(waker);
    if (!pair || (!f->aw_waiters && !(f->aw_waiters = PyList_New(0)))) {
        Py_XDECREF(pair);
        Py_DECREF(waiter);
        return NULL;
    }
    /* (the answer's callbacks run under the GIL too: no race on the list) */
    futcore *c = f->core;
    pthread_mutex_lock(&c->mu);
    int done = atomic_load(&c->done);
    if (!done && !c->keep) c->keep = Py_NewRef((PyObject *)f);
    pthread_mutex_unlock(&c->mu);
    int rc = done ? 0 : PyList_Append(f->aw_waiters, pair);
    Py_DECREF(pair);
    if (done || rc < 0) {
        Py_DECREF(waiter);
        return rc < 0 ? NULL : Py_None;
    }
    return waiter;
}

static PySendResult FutureIter_step(FutureIterObject *it, PyObject **result) {
    FutureObject *f = it->fut;
    *result = NULL;
    if (!f) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse an awaited zactor.Future iterator");
        return PYGEN_ERROR;
    }
    if (!atomic_load_explicit(&f->core->done, memory_order_acquire)) {
        if (it->parked) {
            PyErr_SetString(PyExc_RuntimeError, "zactor.Future resumed before its answer");
            return PYGEN_ERROR;
        }
        if (it->actor) {
            /* the handler suspends; its answer resumes it (async.c) */
            it->parked = 1;
            *result = Py_NewRef((PyObject *)f);
            return PYGEN_NEXT;
        }
        if (!await_poll(f)) {
            PyObject *w = await_park(f);
            if (!w) return PYGEN_ERROR;
            if (w != Py_None) {
                it->parked = 1;
                *result = w;
                return PYGEN_NEXT;
            }
        }
    }
    PyObject *v = zpy_future_outcome(f);
    Py_CLEAR(it->fut);
    if (!v) return PYGEN_ERROR;
    *result = v;
    return PYGEN_RETURN;
}

static PySendResult FutureIter_am_send(FutureIterObject *it, PyObject *arg, PyObject **result) {
    (void)arg;
    return FutureIter_step(it, result);
}

static PyObject *FutureIter_next(FutureIterObject *it) {
    PyObject *r;
    PySendResult k = FutureIter_step(it, &r);
    if (k == PYGEN_NEXT) return r;
    if (k == PYGEN_RETURN) {
        if (r == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        } else {
            PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, r);
            if (e) {
                PyErr_SetObject(PyExc_StopIteration, e);
                Py_DECREF(e);
            }
        }
        Py_DECREF(r);
    }
    return NULL;
}

static PyObject *FutureIter_send(FutureIterObject *it, PyObject *arg) {
    return FutureIter_next(it);
}

/* The task was cancelled (or something else is thrown in): give the ask
 * up, then raise what was thrown. */
static PyObject *FutureIter_throw(FutureIterObject *it, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw() takes 1 to 3 arguments");
        return NULL;
    }
    FutureObject *f = it->fut;
    if (f) {
        /* (parked waiters of other tasks see the cancellation too: as for an
         * asyncio future awaited by several tasks) */
        zpy_future_cancel(f);
        Py_CLEAR(it->fut);
    }
    PyObject *typ = args[0], *val = nargs > 1 ? args[1] : NULL, *tb = nargs > 2 ? args[2] : NULL;
    if (PyExceptionInstance_Check(typ)) {
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    } else if (PyExceptionClass_Check(typ)) {
        if (val && val != Py_None)
            PyErr_SetObject(typ, val);
        else
            PyErr_SetNone(typ);
    } else {
        PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
        return NULL;
    }
    if (tb && tb != Py_None && PyTraceBack_Check(tb)) {
        PyObject *t, *v, *old;
        PyErr_Fetch(&t, &v, &old);
        PyErr_NormalizeException(&t, &v, &old);
        Py_XDECREF(old);
        PyErr_Restore(t, v, Py_NewRef(tb));
    }
    return NULL;
}

static PyObject *FutureIter_close(FutureIterObject *it, PyObject *Py_UNUSED(ignored)) {
    Py_CLEAR(it->fut);
    Py_RETURN_NONE;
}

static int FutureIter_traverse(FutureIterObject *it, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(it));
    Py_VISIT(it->fut);
    return 0;
}

static int FutureIter_clear(FutureIterObject *it) {
    Py_CLEAR(it->fut);
    return 0;
}

static void FutureIter_dealloc(FutureIterObject *it) {
    PyTypeObject *tp = Py_TYPE(it);
    PyObject_GC_UnTrack(it);
    Py_CLEAR(it->fut);
    PyObject_GC_Del(it);
    Py_DECREF(tp);
}

static PyObject *FutureIter_self(PyObject *it) {
    return Py_NewRef(it);
}

static PyMethodDef FutureIter_methods[] = {
    {"send", (PyCFunction)FutureIter_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))FutureIter_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)FutureIter_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot FutureIter_slots[] = {
    {Py_tp_dealloc, FutureIter_dealloc}, {Py_tp_traverse, FutureIter_traverse},
    {Py_tp_clear, FutureIter_clear},     {Py_tp_iter, FutureIter_self},
    {Py_tp_iternext, FutureIter_next},   {Py_am_send, FutureIter_am_send},
    {Py_tp_methods, FutureIter_methods}, {0, NULL},
};

PyType_Spec zpy_FutureIter_spec = {"zactor._FutureIter", sizeof(FutureIterObject), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
                                       Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                   FutureIter_slots};

PyObject *zpy_future_await(FutureObject *f) {
    /* An event loop run inside receive (asyncio.run) would park there while
     * this worker holds the Python host the answer needs: refused like
     * Future.result() (whether or not the answer is already there, so that
     * the outcome does not depend on timing). */
    int actor = tl_async_drive;
    if (!actor && zpy_refuse_in_actor("awaiting a zactor Future") < 0) return NULL;
    FutureIterObject *it = PyObject_GC_New(FutureIterObject, f->sys->st->FutureIter_Type);
    if (!it) return NULL;
    it->fut = (FutureObject *)Py_NewRef((PyObject *)f);
    it->parked = 0;
    it->actor = actor;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}
