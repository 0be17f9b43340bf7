/*
 * ref.c - ActorRef: the address of an actor; tell, ask (blocking) and
 * ask_async (a Future), stop, join.
 */
#include "glue.h"

#include <math.h>

PyObject *zpy_new_ref(SystemObject *s, za_ref r, int kind) {
    RefObject *o = PyObject_New(RefObject, s->st->Ref_Type);
    if (!o) return NULL;
    Py_INCREF(s);
    o->sys = s;
    o->ref = r;
    o->kind = kind;
    o->blocking = 0;
    return (PyObject *)o;
}

static void Ref_dealloc(RefObject *o) {
    PyTypeObject *tp = Py_TYPE(o);
    Py_XDECREF(o->sys);
    PyObject_Free(o);
    Py_DECREF(tp);
}

/* Is the target a Python actor? Cached in the ref once the runtime knows
 * the actor's behaviour (za_ref_behaviour: no lock, no dictionary). */
int zpy_ref_kind(RefObject *r) {
    if (r->kind) return r->kind;
    SystemObject *s = r->sys;
    if (za_ref_is_grain(r->ref)) return r->kind = zpy_grain_ref_kind(s, r->ref); /* (grain.c) */
    if (za_ref_node(r->ref) != za_system_node(s->sys))
        return r->kind = 2; /* another node: values */
    const za_behaviour *b = za_ref_behaviour(s->sys, r->ref);
    if (!b) return 0; /* dead (the send reports it), or not started yet */
    if (b->receive == zpy_py_receive) {
        r->kind = 1;
        r->blocking = b == &s->beh_block;
    } else {
        r->kind = 2;
    }
    return r->kind;
}

static int parse_prio(PyObject *o, za_prio *out) {
    if (!o || o == Py_None) {
        *out = ZA_PRIO_NORMAL;
        return 0;
    }
    if (PyUnicode_Check(o)) {
        if (PyUnicode_CompareWithASCIIString(o, "high") == 0)
            *out = ZA_PRIO_HIGH;
        else if (PyUnicode_CompareWithASCIIString(o, "normal") == 0)
            *out = ZA_PRIO_NORMAL;
        else if (PyUnicode_CompareWithASCIIString(o, "low") == 0)
            *out = ZA_PRIO_LOW;
        else
            goto bad;
        return 0;
    }
bad:
    PyErr_SetString(PyExc_ValueError, "priority must be 'high', 'normal' or 'low'");
    return -1;
}

/*
 * Arguments of a METH_FASTCALL | METH_KEYWORDS method: names[] in order,
 * the first npos may be passed by position, the first nreq are required.
 * out[] gets borrowed references (NULL when absent).
 */
static int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      const char *const *names, int n, int npos, int nreq, PyObject **out) {
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (nargs > npos) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional argument%s (%zd given)",
                     fname, npos, npos == 1 ? "" : "s", nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) out[i] = args[i];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = -1;
        for (int i = 0; i < n && found < 0; i++)
            if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) found = i;
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname, key);
            return -1;
        }
        if (out[found]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[found]);
            return -1;
        }
        out[found] = args[nargs + k];
    }
    for (int i = 0; i < nreq; i++) {
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
    }
    return 0;
}

/* Send msg to r (Python object to Python actors, MessagePack otherwise). */
static int send_msg(RefObject *r, PyObject *msg, za_prio prio, int32_t tag) {
    SystemObject *s = r->sys;
    if (s->fork_gen != g_fork_gen || s->closed || !s->sys) return zpy_check_sys(s);
    int kind = r->kind ? r->kind : zpy_ref_kind(r);
    int rc;
    if (kind != 2) {
        Py_INCREF(msg);
        if ((r->blocking || !kind) && !tl_in_actor && !s->manual) {
            /* a full blocking mailbox waits for the receiver, which may need the
             * GIL (kind 0: not started yet, so the mailbox kind is not known) */
            zpy_gil_release();
            rc = za_tell_ptr(s->sys, r->ref, TAG_PY, msg, zpy_py_obj_dtor, prio);
            zpy_gil_acquire();
        } else {
            HOLDING(rc = za_tell_ptr(s->sys, r->ref, TAG_PY, msg, zpy_py_obj_dtor, prio));
        }
        if (rc == ZA_OK) return 0;
        if (rc != ZA_EDROPPED) Py_DECREF(msg);
    } else {
        za_pack *p = za_pack_new();
        if (!p) return PyErr_NoMemory(), -1;
        if (zpy_pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            /* not a value: pickled, to a Python actor of another node
             * (Cluster(pickle=True)), else the TypeError */
            PyObject *pk = zpy_pickle_for(s, r->ref, msg);
            if (!pk) return -1;
            HOLDING(rc = za_tell_prio(s->sys, r->ref, ZA_TAG_PICKLE, PyBytes_AS_STRING(pk),
                                      (size_t)PyBytes_GET_SIZE(pk), prio));
            Py_DECREF(pk);
            if (rc == ZA_OK || rc == ZA_EDROPPED) return 0;
            zpy_raise_za(s, rc, "tell");
            return -1;
        }
        HOLDING(rc = za_tell_prio(s->sys, r->ref, tag, za_pack_data(p), za_pack_size(p), prio));
        za_pack_free(p);
    }
    if (rc == ZA_OK || rc == ZA_EDROPPED) return 0;
    zpy_raise_za(s, rc, "tell");
    return -1;
}

static PyObject *Ref_tell(RefObject *r, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames) {
    if (nargs == 1 && !kwnames) {
        /* the common case: no options */
        if (send_msg(r, args[0], ZA_PRIO_NORMAL, 0) < 0) return NULL;
        Py_RETURN_NONE;
    }
    static const char *const names[] = {"msg", "priority", "tag"};
    PyObject *a[3];
    if (parse_args("tell", args, nargs, kwnames, names, 3, 1, 1, a) < 0) return NULL;
    za_prio prio;
    if (parse_prio(a[1], &prio) < 0) return NULL;
    int tag = 0;
    if (a[2]) {
        long t = PyLong_AsLong(a[2]);
        if (t == -1 && PyErr_Occurred()) return NULL;
        if (t < 0 || t > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "tag must be in 0..2**31-1");
            return NULL;
        }
        tag = (int)t;
    }
    if (send_msg(r, a[0], prio, tag) < 0) return NULL;
    Py_RETURN_NONE;
}

/* ref.send(msg): tell(msg) with no options, METH_O. */
static PyObject *Ref_tell_fast(RefObject *r, PyObject *msg) {
    if (send_msg(r, msg, ZA_PRIO_NORMAL, 0) < 0) return NULL;
    Py_RETURN_NONE;
}

int zpy_as_ref(SystemObject *s, PyObject *o, RefObject **out) {
    if (!PyObject_TypeCheck(o, s->st->Ref_Type) || ((RefObject *)o)->sys != s) {
        PyErr_SetString(PyExc_TypeError, "expected an ActorRef of this system");
        return -1;
    }
    *out = (RefObject *)o;
    return 0;
}

static PyObject *Ref_ask_async(RefObject *r, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames) {
    static const char *const names[] = {"msg", "timeout"};
    PyObject *a[2];
    if (nargs == 1 && !kwnames) {
        a[0] = args[0];
        a[1] = NULL;
    } else if (parse_args("ask_async", args, nargs, kwnames, names, 2, 2, 1, a) < 0) {
        return NULL;
    }
    double timeout;
    if (zpy_duration_opt(a[1], "timeout", ZPY_DUR_INF_OK, INFINITY, &timeout) < 0) return NULL;
    return (PyObject *)zpy_future_ask(r, a[0], timeout);
}

/*
 * Blocking ask: za_ask_ptr_start + za_ask_wait in slices with the GIL
 * released (Ctrl-C between slices). The message is sent after the GIL is
 * released, so the worker that picks it up takes the GIL at once instead of
 * sleeping in it; when the answer is there, this thread waits a moment for
 * that worker to leave the GIL before taking it back (zpy_wait_gil_free).
 */
static PyObject *Ref_ask(RefObject *r, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"msg", "timeout"};
    PyObject *a[2];
    if (nargs == 1 && !kwnames) {
        a[0] = args[0];
        a[1] = NULL;
    } else if (parse_args("ask", args, nargs, kwnames, names, 2, 2, 1, a) < 0) {
        return NULL;
    }
    PyObject *msg = a[0];
    double timeout;
    if (zpy_duration_opt(a[1], "timeout", ZPY_DUR_INF_OK, 5.0, &timeout) < 0) return NULL;
    SystemObject *s = r->sys;
    if (zpy_check_sys(s) < 0 || zpy_refuse_in_actor("ask()") < 0) return NULL;
    int kind = r->kind ? r->kind : zpy_ref_kind(r);
    za_pack *p = NULL;
    PyObject *pk = NULL; /* pickle bytes (Cluster(pickle=True)) */
    if (kind == 2) {
        if (!(p = za_pack_new())) return PyErr_NoMemory();
        if (zpy_pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            p = NULL;
            if (!(pk = zpy_pickle_for(s, r->ref, msg))) return NULL;
        }
    } else {
        Py_INCREF(msg);
    }
    int manual = s->manual;
    za_ask_wait_handle *h = NULL;
    int rc;
#define START_ASK()                                                                                \
    (p    ? za_ask_start(s->sys, r->ref, 0, za_pack_data(p), za_pack_size(p), &h)                  \
     : pk ? za_ask_start(s->sys, r->ref, ZA_TAG_PICKLE, PyBytes_AS_STRING(pk),                     \
                         (size_t)PyBytes_GET_SIZE(pk), &h)                                         \
          : za_ask_ptr_start(s->sys, r->ref, TAG_PY, msg, zpy_py_obj_dtor, &h))
    uint64_t deadline = zpy_deadline_after(timeout);
    za_answer ans;
    memset(&ans, 0, sizeof ans);
    int got = 0; /* 1 answered, 0 timed out, -1 interrupted */
    if (manual) {
        HOLDING(rc = START_ASK());
        if (rc == ZA_OK) {
            /* deterministic mode: za_ask_wait runs the actors on this thread */
            for (;;) {
                int w;
                HOLDING(
                    w = za_ask_wait(h, zpy_slice_ms(deadline) ? zpy_slice_ms(deadline) : 1, &ans));
                if (w != ZA_EAGAIN) {
                    got = 1;
                    break;
                }
                zpy_async_idle(s); /* (nothing ran: the virtual clock moves) */
                if (PyErr_CheckSignals() < 0) {
                    got = -1;
                    break;
                }
                if (zpy_now_ns() >= deadline) break;
            }
        }
    } else {
        zpy_gil_release();
        rc = START_ASK();
        /* (za_ask_wait polls for ~20 us before it sleeps: the answer of a
         * Python actor usually comes within a few microseconds) */
        while (rc == ZA_OK) {
            int w = za_ask_wait(h, zpy_slice_ms(deadline), &ans);
            if (w != ZA_EAGAIN) {
                got = 1;
                zpy_wait_gil_free();
                break;
            }
            zpy_gil_acquire();
            if (PyErr_CheckSignals() < 0) {
                got = -1;
                break;
            }
            if (zpy_now_ns() >= deadline) break;
            zpy_gil_release();
        }
        if (got == 1 || rc != ZA_OK) zpy_gil_acquire();
    }
#undef START_ASK
    if (p) za_pack_free(p);
    int was_value = p || pk;
    Py_XDECREF(pk);
    if (rc != ZA_OK) {
        if (!was_value) Py_DECREF(msg);
        return zpy_raise_za(s, rc, "ask");
    }
    zpy_drain_deferred();
    if (got <= 0) {
        /* one last look (the answer may have just come), else give up: a
         * late reply becomes a dead letter */
        int w = ZA_EAGAIN;
        if (got == 0) HOLDING(w = za_ask_wait(h, 0, &ans));
        if (w == ZA_EAGAIN) {
            HOLDING(za_ask_abandon(h));
            if (got == 0) zpy_raise_ask_timeout(s, timeout);
            return NULL;
        }
    }
    PyObject *res, *exc;
    zpy_answer_to_py(s, &ans, timeout, &res, &exc);
    HOLDING(za_answer_free(&ans); za_ask_wait_release(h));
    if (exc) {
        zpy_raise_exc_obj(exc);
        Py_DECREF(exc);
        return NULL;
    }
    return res;
}

static PyObject *Ref_stop(RefObject *r, PyObject *Py_UNUSED(ignored)) {
    if (zpy_check_sys(r->sys) < 0) return NULL;
    int rc;
    HOLDING(rc = za_stop(r->sys->sys, r->ref));
    return PyBool_FromLong(rc == ZA_OK);
}

static PyObject *Ref_join(RefObject *r, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:join", kwlist, &to)) return NULL;
    double timeout;
    if (zpy_duration_opt(to, "timeout", ZPY_DUR_INF_OK, INFINITY, &timeout) < 0) return NULL;
    SystemObject *s = r->sys;
    if (zpy_check_sys(s) < 0) return NULL;
    if (!za_is_alive(s->sys, r->ref)) Py_RETURN_TRUE;
    if (zpy_refuse_in_actor("join()") < 0) return NULL;
    uint64_t deadline = zpy_deadline_after(timeout);
    for (;;) {
        uint32_t ms = zpy_slice_ms(deadline);
        int rc;
        if (s->manual) {
            HOLDING(rc = za_join(s->sys, r->ref, ms ? ms : 1));
        } else {
            zpy_gil_release();
            rc = za_join(s->sys, r->ref, ms);
            zpy_gil_acquire();
        }
        zpy_drain_deferred();
        if (rc == ZA_OK) Py_RETURN_TRUE;
        if (PyErr_CheckSignals() < 0) return NULL;
        if (zpy_now_ns() >= deadline) Py_RETURN_FALSE;
    }
}

static PyObject *Ref_is_alive(RefObject *r, PyObject *Py_UNUSED(ignored)) {
    if (r->sys->closed || r->sys->fork_gen != g_fork_gen) Py_RETURN_FALSE;
    return PyBool_FromLong(za_is_alive(r->sys->sys, r->ref));
}

static PyObject *Ref_richcompare(PyObject *a, PyObject *b, int op) {
    if (Py_TYPE(a) != Py_TYPE(b) || (op != Py_EQ && op != Py_NE)) Py_RETURN_NOTIMPLEMENTED;
    RefObject *x = (RefObject *)a, *y = (RefObject *)b;
    int eq = x->ref == y->ref && x->sys == y->sys;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t Ref_hash(RefObject *r) {
    Py_hash_t h = (Py_hash_t)(r->ref ^ (r->ref >> 29)) ^ (Py_hash_t)(uintptr_t)r->sys;
    return h == -1 ? -2 : h;
}

static PyObject *Ref_repr(RefObject *r) {
    const char *type, *key;
    if (za_ref_is_grain(r->ref) && r->sys->sys && !r->sys->closed &&
        za_grain_identity(r->sys->sys, r->ref, &type, &key) == ZA_OK)
        return PyUnicode_FromFormat("<ActorRef grain %s/%s>", type, key);
    return PyUnicode_FromFormat("<ActorRef %u.%u>", (unsigned)za_ref_slot(r->ref),
                                (unsigned)za_ref_gen(r->ref));
}

static PyObject *Ref_get_id(RefObject *r, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong(r->ref);
}

static PyObject *Ref_get_system(RefObject *r, void *Py_UNUSED(c)) {
    return Py_NewRef((PyObject *)r->sys);
}

static PyObject *Ref_reduce(RefObject *r, PyObject *Py_UNUSED(ignored)) {
    PyErr_SetString(PyExc_TypeError, "an ActorRef is valid only inside its process");
    return NULL;
}

static PyMethodDef Ref_methods[] = {
    {"tell", (PyCFunction)(void (*)(void))Ref_tell, METH_FASTCALL | METH_KEYWORDS,
     "tell(msg, *, priority='normal', tag=0): send without waiting. Python actors get the "
     "object itself; other actors get it as MessagePack (tag used then)."},
    {"send", (PyCFunction)Ref_tell_fast, METH_O, "send(msg): tell(msg) with no options (fastest)."},
    {"ask", (PyCFunction)(void (*)(void))Ref_ask, METH_FASTCALL | METH_KEYWORDS,
     "ask(msg, timeout=5.0): send and wait for receive's return value (GIL released). Raises "
     "AskTimeout, ActorDeadError, or the exception receive raised."},
    {"ask_async", (PyCFunction)(void (*)(void))Ref_ask_async, METH_FASTCALL | METH_KEYWORDS,
     "ask_async(msg, timeout=None) -> Future (awaitable)."},
    {"stop", (PyCFunction)Ref_stop, METH_NOARGS,
     "Stop the actor (served before queued messages, which become dead letters). False if "
     "already dead."},
    {"join", (PyCFunction)(void (*)(void))Ref_join, METH_VARARGS | METH_KEYWORDS,
     "join(timeout=None) -> bool: wait until the actor is dead."},
    {"is_alive", (PyCFunction)Ref_is_alive, METH_NOARGS, "Is the actor alive now?"},
    {"__reduce__", (PyCFunction)Ref_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyObject *Ref_get_node(RefObject *r, void *Py_UNUSED(x)) {
    return PyLong_FromUnsignedLong(za_ref_node(r->ref));
}

static PyGetSetDef Ref_getset[] = {
    {"node", (getter)Ref_get_node, NULL,
     "Id of the cluster node the actor lives on (0: no cluster).", NULL},
    {"id", (getter)Ref_get_id, NULL, "The 64-bit runtime reference.", NULL},
    {"system", (getter)Ref_get_system, NULL, "The System this actor lives in.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Ref_slots[] = {
    {Py_tp_dealloc, Ref_dealloc},
    {Py_tp_methods, Ref_methods},
    {Py_tp_getset, Ref_getset},
    {Py_tp_richcompare, Ref_richcompare},
    {Py_tp_hash, Ref_hash},
    {Py_tp_repr, Ref_repr},
    {Py_tp_doc, "The address of an actor: tell(), ask(), ask_async(), stop(), join()."},
    {0, NULL},
};

PyType_Spec zpy_Ref_spec = {
    "zactor.ActorRef", sizeof(RefObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, Ref_slots};
