/*
 * host.c - the Python behaviour host: Python actors as a za_behaviour
 * (start/receive/stop) run by this system's exclusive za_host, whose
 * enter/leave swap a per-worker thread state in and out once per batch.
 */
#include "glue.h"

#include <unistd.h>

static const char PY_BEH_NAME[] = "zactor.python";

/* A turn longer than this lets another worker take the Python host over
 * (za_host.takeover_us): measured in issue 10 (finding 12). */
#define PY_TAKEOVER_US 10000u

/* State of a Python actor inside the runtime (za_behaviour.state_size). */
typedef struct {
    PyObject *inst;
    PyObject *recv; /* inst.receive, looked up once per incarnation: the bound
                       method, or its function when recv_fn (called as fn(inst, msg)) */
    int recv_fn;
    int failed;
    PyObject *astate;    /* async handlers of this incarnation (zactor/_async.py), or NULL */
    ContextObject *cell; /* the actor's cell (borrowed: the system's cell table holds it); a
                            grain activation's is made by its start (grain.c), not a spawn */
} pyactor;

static void fail_text(PyObject *exc, char *buf, size_t cap) {
    PyObject *s = exc ? PyObject_Str(exc) : NULL;
    const char *m = s ? PyUnicode_AsUTF8(s) : NULL;
    if (!m) PyErr_Clear();
    snprintf(buf, cap, "%s: %s", exc ? Py_TYPE(exc)->tp_name : "error", m ? m : "");
    Py_XDECREF(s);
}

static PyObject *fetch_exc(void) {
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v && tb) PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* Tell the Python layer (logging) about a failure outside receive. */
static void report(ContextObject *cell, PyObject *exc, const char *where) {
    modstate *st = cell->sys->st;
    if (!st->report_failure) return;
    PyObject *r = PyObject_CallFunction(st->report_failure, "OOs", (PyObject *)cell, exc, where);
    if (!r)
        PyErr_WriteUnraisable(st->report_failure);
    else
        Py_DECREF(r);
}

static void add_note(ContextObject *cell, PyObject *exc) {
    modstate *st = cell->sys->st;
    PyObject *note = PyUnicode_FromFormat(
        "raised by actor %s (ActorRef %u.%u) in receive()", ((PyTypeObject *)cell->cls)->tp_name,
        (unsigned)za_ref_slot(cell->ref), (unsigned)za_ref_gen(cell->ref));
    if (!note) {
        PyErr_Clear();
        return;
    }
    PyObject *r = PyObject_CallMethodOneArg(exc, st->str_add_note, note);
    if (!r) {
        /* before 3.11 there is no add_note: keep the note in __notes__ */
        PyErr_Clear();
        PyObject *notes = PyObject_GetAttrString(exc, "__notes__");
        if (!notes) {
            PyErr_Clear();
            notes = PyList_New(0);
            if (notes && PyObject_SetAttrString(exc, "__notes__", notes) < 0) PyErr_Clear();
        }
        if (notes && PyList_Check(notes)) PyList_Append(notes, note);
        Py_XDECREF(notes);
        PyErr_Clear();
    } else {
        Py_DECREF(r);
    }
    Py_DECREF(note);
}

static int py_start(za_ctx *ctx, const void *args, size_t len) {
    ContextObject *cell = NULL;
    if (len != sizeof cell) return -1;
    memcpy(&cell, args, sizeof cell);
    cell->ref = za_ctx_self(ctx);
    return zpy_start_cell(ctx, cell);
}

/* Start an incarnation of the actor of cell (cell->ref already set). */
int zpy_start_cell(za_ctx *ctx, ContextObject *cell) {
    pyactor *pa = za_ctx_state(ctx);
    pa->cell = cell;
    modstate *st = cell->sys->st;
    tl_in_actor++;
    za_ctx *prev = cell->cur;
    cell->cur = ctx;
    cell->sender = ZA_REF_NONE;
    Py_CLEAR(cell->last_exc); /* (a new incarnation: the old one's exception is history) */
    int rc = 0;
    PyObject *inst = PyObject_CallMethodOneArg(cell->cls, st->str_new, cell->cls);
    if (!inst || PyObject_SetAttr(inst, st->str_context, (PyObject *)cell) < 0) goto fail;
    PyObject *init = PyObject_GetAttr(inst, st->str_init);
    if (!init) goto fail;
    PyObject *r = PyObject_Call(init, cell->args, cell->kwargs);
    Py_DECREF(init);
    if (!r) goto fail;
    Py_DECREF(r);
    pa->inst = inst;
    pa->failed = 0;
    /* an actor with async handlers gets its driver state (async.c) */
    pa->astate = zpy_async_new(cell, inst, 0);
    if (pa->astate == Py_None) Py_CLEAR(pa->astate);
    if (!pa->astate && PyErr_Occurred()) {
        pa->inst = NULL;
        goto fail;
    }
    r = PyObject_CallMethodNoArgs(inst, st->str_on_start);
    if (r && PyCoro_CheckExact(r)) {
        /* async on_start: runs as the actor's first handler */
        PyObject *coro = r;
        if (!pa->astate) pa->astate = zpy_async_new(cell, inst, 1);
        r = pa->astate && pa->astate != Py_None ? zpy_async_start(pa->astate, coro) : NULL;
        Py_DECREF(coro);
    }
    if (!r) {
        pa->inst = NULL;
        goto fail;
    }
    Py_DECREF(r);
    /* the bound method, once: no attribute lookup per message; and for a
     * plain method its function, called with (inst, msg) */
    pa->recv = PyObject_GetAttr(inst, st->str_receive);
    if (!pa->recv) {
        pa->inst = NULL;
        goto fail;
    }
    pa->recv_fn = 0;
    if (PyMethod_Check(pa->recv) && PyMethod_GET_SELF(pa->recv) == inst) {
        Py_SETREF(pa->recv, Py_NewRef(PyMethod_GET_FUNCTION(pa->recv)));
        pa->recv_fn = 1;
    }
    goto out;
fail : {
    PyObject *exc = fetch_exc();
    char buf[112];
    fail_text(exc, buf, sizeof buf);
    za_ctx_fail(ctx, ZA_EFAILED, "%s", buf);
    if (exc) {
        Py_XSETREF(cell->last_exc, Py_NewRef(exc));
        report(cell, exc, "start");
        Py_DECREF(exc);
    }
    if (pa->astate) {
        zpy_async_stop(pa->astate, 0); /* (closes a suspended async on_start) */
        Py_CLEAR(pa->astate);
    }
    Py_XDECREF(inst);
    rc = -1;
}
out:
    cell->cur = prev;
    tl_in_actor--;
    return rc;
}

static PyObject *make_terminated(SystemObject *s, const za_down *d) {
    modstate *st = s->st;
    PyObject *ref = zpy_new_ref(s, d->ref, 0);
    if (!ref) return NULL;
    PyObject *exc = NULL;
    if (d->code != 0 && d->code != ZA_EDEAD && d->code != ZA_ESHUTDOWN) {
        PyObject *key = PyLong_FromUnsignedLongLong(d->ref);
        PyObject *cell = key ? PyDict_GetItemWithError(s->cells, key) : NULL;
        Py_XDECREF(key);
        if (cell && ((ContextObject *)cell)->last_exc)
            exc = Py_NewRef(((ContextObject *)cell)->last_exc);
        else {
            PyErr_Clear();
            exc = PyObject_CallFunction(st->ActorFailed, "s", d->reason);
        }
    }
    if (!exc) {
        PyErr_Clear();
        exc = Py_NewRef(Py_None);
    }
    PyObject *t = PyObject_CallFunctionObjArgs(st->terminated_cls, ref, exc, NULL);
    Py_DECREF(ref);
    Py_DECREF(exc);
    return t;
}

/* A message that cannot become a Python value (e.g. a Lua table with a
 * table as a key: unhashable): the handling of that message fails, like a
 * receive that raised. The runtime then turns it into a dead letter
 * ("failed"), answers an asker with the cause, and supervision sees the
 * failure. */
static int fail_unbuildable(za_ctx *ctx, ContextObject *cell, pyactor *pa) {
    PyObject *exc = fetch_exc();
    char buf[400];
    fail_text(exc, buf, sizeof buf);
    if (exc) {
        PyObject *note =
            PyUnicode_FromString("raised while building the Python value of a message from a "
                                 "non-Python actor (before receive() ran)");
        PyObject *r =
            note ? PyObject_CallMethodOneArg(exc, cell->sys->st->str_add_note, note) : NULL;
        Py_XDECREF(r);
        Py_XDECREF(note);
        PyErr_Clear();
        Py_XSETREF(cell->last_exc, Py_NewRef(exc));
        if (pa->inst) {
            pa->failed = 1; /* on_failure replaces on_stop for this incarnation */
            r = PyObject_CallMethodOneArg(pa->inst, cell->sys->st->str_on_failure, exc);
            if (!r)
                PyErr_WriteUnraisable(cell->sys->st->str_on_failure);
            else
                Py_DECREF(r);
        }
        Py_DECREF(exc);
    }
    za_ctx_fail(ctx, ZA_EVALUE, "message not convertible to a Python value: %s", buf);
    return -1;
}

static int py_receive(za_ctx *ctx, const za_msg *m) {
    pyactor *pa = za_ctx_state(ctx);
    ContextObject *cell = pa->cell;
    SystemObject *s = cell->sys;
    modstate *st = s->st;
    PyObject *obj = NULL;
    int resume = 0;
    /* an ask from a suspended handler's call chain (any language): read
     * before the async driver takes the reply slot */
    uint64_t chain = za_ctx_chain(ctx);
    if (m->tag == TAG_PY && m->kind == ZA_PAYLOAD_PTR) {
        obj = za_msg_take_ptr(m);
        if (!obj) obj = Py_NewRef(Py_None);
    } else if (m->tag == TAG_TIMER && m->len == sizeof(uint64_t)) {
        uint64_t key;
        memcpy(&key, m->data, sizeof key);
        PyObject *k = PyLong_FromUnsignedLongLong(key);
        PyObject *entry = k ? PyDict_GetItemWithError(s->timers, k) : NULL;
        if (!entry) {
            PyErr_Clear();
            Py_XDECREF(k);
            return 0; /* cancelled meanwhile */
        }
        obj = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
        if (!PyObject_IsTrue(PyTuple_GET_ITEM(entry, 1)) && PyDict_DelItem(s->timers, k) < 0)
            PyErr_Clear();
        Py_DECREF(k);
    } else if (m->tag == TAG_RESUME) {
        /* an awaited answer or timer for an async handler (async.c) */
        if (!pa->astate) return 0; /* (stale: the handler was closed) */
        resume = 1;
        obj = Py_NewRef(Py_None);
    } else if (m->tag == TAG_STORE || m->tag == ZA_TAG_DEACTIVATE) {
        /* a storage request's completion, or a grain asked to deactivate:
         * for the async driver (grain.c, zactor/grains.py) */
        if (!pa->astate) return 0; /* (no handler waits; a grain then just stops) */
        resume = 2;
        obj = Py_NewRef(Py_None);
    } else if (m->tag == ZA_TAG_REMINDER) {
        obj = zpy_grain_reminder(s, m); /* a zactor.Reminder, received like a message */
    } else if (m->tag == ZA_TAG_DOWN && m->len == sizeof(za_down)) {
        za_down d;
        memcpy(&d, m->data, sizeof d);
        obj = make_terminated(s, &d);
    } else if (m->tag < 0 || m->corr) {
        return 0; /* CHILD_FAILED is informational; the glue makes no za_ctx_ask */
    } else if (m->tag == ZA_TAG_PICKLE) {
        obj = zpy_unpickle_msg(s, m->sender, m->data, m->len); /* (pickle.c) */
    } else {
        obj = zpy_bytes_to_py(s, m->data, m->len);
    }
    if (!obj) return fail_unbuildable(ctx, cell, pa);
    if (!pa->inst) {
        Py_DECREF(obj);
        return 0;
    }
    tl_in_actor++;
    za_ctx *prev = cell->cur;
    cell->cur = ctx;
    cell->sender = m->sender;
    int can_reply = za_ctx_can_reply(ctx);
    PyObject *r;
    if (pa->astate) {
        /* async actors: the driver (zactor/_async.py) runs the handler */
        r = resume == 2 ? zpy_grain_message(ctx, s, pa->astate, pa->inst, m)
            : resume    ? zpy_async_resume(pa->astate, m->data, m->len)
                        : zpy_async_message(ctx, s, pa->astate, obj, chain, m->tag == TAG_PY);
    } else if (pa->recv_fn) {
        PyObject *argv[3] = {NULL, pa->inst, obj};
        r = PyObject_Vectorcall(pa->recv, argv + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    } else {
        r = PyObject_CallOneArg(pa->recv, obj);
    }
    Py_DECREF(obj);
    if (r && PyCoro_CheckExact(r) && !pa->astate) {
        /* a plain receive returned a coroutine: run it as an async handler
         * (never send a coroutine object as a reply) */
        PyObject *coro = r;
        pa->astate = zpy_async_new(cell, pa->inst, 1);
        if (pa->astate == Py_None) Py_CLEAR(pa->astate);
        r = pa->astate ? zpy_async_adopt(ctx, s, pa->astate, coro, chain, m->tag == TAG_PY) : NULL;
        Py_DECREF(coro);
    }
    int rc = 0;
    if (r) {
        if (can_reply && za_ctx_can_reply(ctx)) {
            if (m->tag == TAG_PY) {
                if (za_reply_ptr(ctx, TAG_PY, r, zpy_py_obj_dtor) != ZA_OK) Py_DECREF(r);
                r = NULL;
            } else {
                /* the asker is another language: answer in MessagePack */
                za_pack *p = za_pack_new();
                PyObject *pk = NULL;
                if (p && zpy_pack_obj(st, p, r, 0) == 0) {
                    za_reply(ctx, 0, za_pack_data(p), za_pack_size(p));
                } else if (p && (pk = zpy_pickle_reply(s, m, r))) {
                    /* an asker on another node, pickle on: pickled (pickle.c) */
                    za_reply(ctx, ZA_TAG_PICKLE, PyBytes_AS_STRING(pk),
                             (size_t)PyBytes_GET_SIZE(pk));
                    Py_DECREF(pk);
                } else {
                    char buf[112];
                    PyObject *exc = fetch_exc();
                    fail_text(exc, buf, sizeof buf);
                    Py_XDECREF(exc);
                    za_reply_slot *slot = za_ctx_take_reply(ctx);
                    if (slot) za_reply_error(za_ctx_system(ctx), slot, ZA_EVALUE, buf);
                }
                za_pack_free(p);
            }
        }
        Py_XDECREF(r);
    } else {
        PyObject *exc = fetch_exc();
        if (exc) {
            add_note(cell, exc);
            Py_XSETREF(cell->last_exc, Py_NewRef(exc));
            if (can_reply && za_ctx_can_reply(ctx)) {
                if (m->tag == TAG_PY) {
                    Py_INCREF(exc);
                    if (za_reply_ptr(ctx, TAG_PYEXC, exc, zpy_py_obj_dtor) != ZA_OK) Py_DECREF(exc);
                } else {
                    /* another language asked: it gets the failure as text */
                    char text[512];
                    fail_text(exc, text, sizeof text);
                    za_reply_slot *slot = za_ctx_take_reply(ctx);
                    if (slot) za_reply_error(za_ctx_system(ctx), slot, ZA_EFAILED, text);
                }
            }
            pa->failed = 1; /* on_failure replaces on_stop for this incarnation */
            PyObject *fr = PyObject_CallMethodOneArg(pa->inst, st->str_on_failure, exc);
            if (!fr)
                PyErr_WriteUnraisable(st->str_on_failure);
            else
                Py_DECREF(fr);
            char buf[112];
            fail_text(exc, buf, sizeof buf);
            za_ctx_fail(ctx, ZA_EFAILED, "%s", buf);
            Py_DECREF(exc);
        }
        rc = -1;
    }
    cell->cur = prev;
    cell->sender = ZA_REF_NONE;
    tl_in_actor--;
    return rc;
}

/* The receive of Python actors (the whole turn counts as "inside an actor":
 * building the message's value too, where a GC may finalize a dropped
 * System, see System_finalize). */
int zpy_py_receive(za_ctx *ctx, const za_msg *m) {
    tl_in_actor++;
    int rc = py_receive(ctx, m);
    tl_in_actor--;
    return rc;
}

/* Stop hook: on a worker inside the host (GIL held), or on the thread that
 * runs shutdown's teardown (it released the GIL through zpy_gil_release). */
static void py_stop(za_ctx *ctx) {
    pyactor *pa = za_ctx_state(ctx);
    if (!pa || !pa->inst) return;
    /* an abandoned system's closer after the interpreter began to exit:
     * no Python (the instance is leaked) */
    if (!tl_gil && atomic_load(&g_exiting)) return;
    int restore = 0;
    PyGILState_STATE gs = PyGILState_UNLOCKED;
    int ensured = 0;
    if (!tl_gil) {
        if (tl_saved) {
            zpy_gil_acquire();
            restore = 1;
        } else {
            gs = PyGILState_Ensure(); /* rare: no glue thread state here */
            ensured = 1;
        }
    }
    int saved = tl_gil;
    tl_gil = 1;
    ContextObject *cell = pa->cell;
    PyObject *inst = pa->inst;
    pa->inst = NULL;
    Py_CLEAR(pa->recv);
    if (pa->astate) {
        /* close suspended handlers: their finally blocks run, their askers
         * are told (zactor/_async.py) */
        tl_in_actor++;
        za_ctx *prev = cell->cur;
        cell->cur = ctx;
        zpy_async_stop(pa->astate, za_ctx_final_stop(ctx));
        Py_CLEAR(pa->astate);
        cell->cur = prev;
        tl_in_actor--;
    }
    if (!pa->failed) {
        tl_in_actor++;
        za_ctx *prev = cell->cur;
        cell->cur = ctx;
        PyObject *r = PyObject_CallMethodNoArgs(inst, cell->sys->st->str_on_stop);
        if (r && PyCoro_CheckExact(r)) {
            PyObject *coro = r; /* async on_stop: runs to its end here, bounded (_async.py) */
            r = zpy_async_finish(coro, inst, cell);
            Py_DECREF(coro);
        }
        if (!r) {
            PyObject *exc = fetch_exc();
            if (exc) {
                report(cell, exc, "on_stop");
                Py_DECREF(exc);
            }
        } else {
            Py_DECREF(r);
        }
        cell->cur = prev;
        tl_in_actor--;
    }
    Py_DECREF(inst);
    if (za_ctx_final_stop(ctx) && !cell->last_exc && cell->sys->cells) {
        /* the actor is gone for good (not restarting): its cell can go now
         * rather than at the next sweep. A cell with the exception that
         * killed the actor stays until then: Terminated messages carry it. */
        PyObject *key = PyLong_FromUnsignedLongLong(cell->ref);
        if (!key || PyDict_DelItem(cell->sys->cells, key) < 0) PyErr_Clear();
        Py_XDECREF(key); /* (the cell may be freed now: not used below) */
    }
    tl_gil = saved;
    if (restore) zpy_gil_release();
    if (ensured) PyGILState_Release(gs);
}

static void host_enter(void *ud, int wid) {
    SystemObject *s = ud;
    if (s->manual) return; /* the caller runs actors and already holds the GIL */
    if (atomic_load_explicit(&g_exiting, memory_order_acquire)) {
        /* the interpreter is exiting and this system was abandoned by its
         * shutdown (shutdown.c): never touch Python again */
        for (;;) pause();
    }
    PyThreadState *ts = s->tstates[wid];
    if (!ts) {
        /* created on the worker itself (allowed without the GIL), once */
        ts = PyThreadState_New(s->interp);
        s->tstates[wid] = ts;
    }
    uint64_t until = atomic_load_explicit(&g_handoff, memory_order_acquire);
    if (until) {
        /* a caller thread that just sent work lets the GIL go in a moment:
         * poll for that rather than sleep in the GIL (see g_handoff) */
        uint64_t now = zpy_now_ns();
        if (until > now) {
            poller pl;
            zpy_poll_init(&pl, until - now);
            while (atomic_load_explicit(&g_handoff, memory_order_acquire) == until &&
                   zpy_poll_pause(&pl)) {
            }
        }
    }
    PyEval_RestoreThread(ts);
    atomic_fetch_add_explicit(&g_in_host, 1, memory_order_relaxed);
    tl_gil = 1;
    tl_in_host = 1;
    /* (no drain of the deferred queue here: it holds user callbacks, which
     * must not run on a worker; the dispatcher thread runs them) */
}

static void host_leave(void *ud, int wid) {
    SystemObject *s = ud;
    (void)wid;
    if (s->manual) return;
    tl_gil = 0;
    tl_in_host = 0;
    PyEval_SaveThread();
    atomic_fetch_sub_explicit(&g_in_host, 1, memory_order_release);
}

void zpy_host_init(SystemObject *s, double budget_ms) {
    s->host.name = "python";
    s->host.exclusive = 1;
    s->host.budget_us = budget_ms > 0 ? (uint32_t)(budget_ms * 1000.0) : 2000;
    /* A handler that runs long (blocked in I/O with the GIL released, say)
     * no longer keeps the other Python actors waiting: after this long
     * another worker takes the host over (if the handler holds the GIL, the
     * taker waits for it like any Python thread: a switch interval). */
    s->host.takeover_us = PY_TAKEOVER_US;
    s->host.enter = host_enter;
    s->host.leave = host_leave;
    s->host.host_ud = s;
    s->beh.abi = ZA_BEHAVIOUR_ABI;
    s->beh.name = PY_BEH_NAME;
    s->beh.state_size = sizeof(pyactor);
    s->beh.start = py_start;
    s->beh.receive = zpy_py_receive;
    s->beh.stop = py_stop;
    s->beh.host = &s->host;
    s->beh_block = s->beh;
}
