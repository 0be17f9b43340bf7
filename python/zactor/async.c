/*
 * async.c - async handlers: the C half of `async def receive`.
 *
 * The driver itself is Python (zactor/_async.py): it owns the per-actor
 * state (running handlers, the stash of messages that wait while
 * `concurrency` handlers run, call chains). This file gives it what needs C:
 *  - _step(coro, chain, exc): one step of a handler's coroutine, with
 *    tl_async_drive set so that `await future` yields the Future to the
 *    driver instead of refusing (see awaitable.c), and the handler's call
 *    chain current (za_chain_enter), so that every ask it makes carries the
 *    chain in its reply slot, whatever the language of the actor asked
 *    (the core's csrc/chain.c; Lua handlers use the same ids);
 *  - _resume_on(future, cell, key, gen): when the ask's answer arrives, the
 *    ask callback (any thread, no GIL needed) sends the actor a TAG_RESUME
 *    message: the handler resumes on whichever worker runs the actor next;
 *  - _after(cell, seconds, key, gen, kind): the same message from a runtime
 *    timer (zactor.sleep, zactor.timeout deadlines);
 *  - Reply: an ask's reply slot taken out of the turn, answered when the
 *    handler returns (or fails), from a later turn.
 * Hooks into host.c: zpy_async_new/start/message/adopt/resume/stop/finish.
 */
#include "glue.h"

#include <math.h>

_Thread_local int tl_async_drive;

/* Python hooks (zactor/_async.py), set once at import by _set_async_hooks. */
static PyObject *g_new, *g_start, *g_message, *g_adopt, *g_resume, *g_stop, *g_finish, *g_idle;
static PyTypeObject *g_Reply_Type;

/* ------------------------------------------------------------------ Reply */

typedef struct {
    PyObject ob_base;
    SystemObject *sys;
    za_reply_slot *slot;
    int py; /* the asker is Python: answer with the object itself */
} ReplyObject;

static int reply_usable(ReplyObject *r) {
    if (!r->slot) {
        PyErr_SetString(PyExc_RuntimeError, "this ask was already answered");
        return 0;
    }
    if (!r->sys->sys || r->sys->closed) {
        PyErr_SetString(PyExc_RuntimeError, "the system is shut down");
        return 0;
    }
    return 1;
}

static PyObject *Reply_send(ReplyObject *r, PyObject *v) {
    if (!reply_usable(r)) return NULL;
    za_reply_slot *slot = r->slot;
    r->slot = NULL;
    za_system *sys = r->sys->sys;
    if (r->py) {
        int rc;
        Py_INCREF(v);
        HOLDING(rc = za_reply_send_ptr(sys, slot, TAG_PY, v, zpy_py_obj_dtor));
        (void)rc; /* (the slot is consumed either way; the dtor ran if not sent) */
        Py_RETURN_NONE;
    }
    /* another language asked: MessagePack, or an error it can read */
    za_pack *p = za_pack_new();
    if (p && zpy_pack_obj(r->sys->st, p, v, 0) == 0) {
        HOLDING(za_reply_send(sys, slot, 0, za_pack_data(p), za_pack_size(p)));
    } else {
        char buf[200] = "out of memory";
        if (PyErr_Occurred()) {
            PyObject *t, *e, *tb;
            PyErr_Fetch(&t, &e, &tb);
            PyObject *s = e ? PyObject_Str(e) : NULL;
            const char *m = s ? PyUnicode_AsUTF8(s) : NULL;
            snprintf(buf, sizeof buf, "reply not convertible to a value: %s", m ? m : "?");
            Py_XDECREF(s);
            Py_XDECREF(t);
            Py_XDECREF(e);
            Py_XDECREF(tb);
            PyErr_Clear();
        }
        HOLDING(za_reply_error(sys, slot, ZA_EVALUE, buf));
    }
    za_pack_free(p);
    Py_RETURN_NONE;
}

static PyObject *Reply_fail(ReplyObject *r, PyObject *exc) {
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetString(PyExc_TypeError, "fail() takes an exception");
        return NULL;
    }
    if (!reply_usable(r)) return NULL;
    za_reply_slot *slot = r->slot;
    r->slot = NULL;
    za_system *sys = r->sys->sys;
    if (r->py) {
        Py_INCREF(exc);
        HOLDING(za_reply_send_ptr(sys, slot, TAG_PYEXC, exc, zpy_py_obj_dtor));
    } else {
        PyObject *s = PyObject_Str(exc);
        const char *m = s ? PyUnicode_AsUTF8(s) : NULL;
        if (!m) PyErr_Clear();
        char text[512];
        snprintf(text, sizeof text, "%s: %s", Py_TYPE(exc)->tp_name, m ? m : "");
        Py_XDECREF(s);
        HOLDING(za_reply_error(sys, slot, ZA_EFAILED, text));
    }
    Py_RETURN_NONE;
}

static void Reply_dealloc(ReplyObject *r) {
    PyTypeObject *tp = Py_TYPE(r);
    if (r->slot && r->sys->sys && !r->sys->closed) {
        /* dropped unanswered (the actor stopped with the message stashed or
         * its handler suspended): the asker learns it at once */
        HOLDING(za_reply_error(r->sys->sys, r->slot, ZA_EDEAD,
                               "the actor stopped before answering this ask"));
    }
    r->slot = NULL;
    Py_XDECREF(r->sys);
    PyObject_Free(r);
    Py_DECREF(tp);
}

static PyMethodDef Reply_methods[] = {
    {"send", (PyCFunction)Reply_send, METH_O, "send(value): answer the ask."},
    {"fail", (PyCFunction)Reply_fail, METH_O, "fail(exc): the asker gets exc."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Reply_slots[] = {
    {Py_tp_dealloc, Reply_dealloc},
    {Py_tp_methods, Reply_methods},
    {Py_tp_doc, "The reply slot of an ask handled by an async handler (internal)."},
    {0, NULL},
};

static PyType_Spec Reply_spec = {"zactor._Reply", sizeof(ReplyObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                 Reply_slots};

/* The current message's reply slot as a Reply, or None. */
static PyObject *take_reply(za_ctx *ctx, SystemObject *s, int py) {
    if (!g_Reply_Type || !za_ctx_can_reply(ctx)) Py_RETURN_NONE;
    ReplyObject *r = PyObject_New(ReplyObject, g_Reply_Type);
    if (!r) return NULL;
    r->sys = (SystemObject *)Py_NewRef((PyObject *)s);
    r->py = py;
    r->slot = za_ctx_take_reply(ctx);
    return (PyObject *)r;
}

/* --------------------------------------------------------- module functions */

static PyObject *a_set_hooks(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *n, *st, *m, *ad, *rs, *sp, *fi, *idle;
    if (!PyArg_ParseTuple(args, "OOOOOOOO:_set_async_hooks", &n, &st, &m, &ad, &rs, &sp, &fi,
                          &idle))
        return NULL;
    if (!g_Reply_Type && !(g_Reply_Type = (PyTypeObject *)PyType_FromSpec(&Reply_spec)))
        return NULL;
    Py_XSETREF(g_new, Py_NewRef(n));
    Py_XSETREF(g_start, Py_NewRef(st));
    Py_XSETREF(g_message, Py_NewRef(m));
    Py_XSETREF(g_adopt, Py_NewRef(ad));
    Py_XSETREF(g_resume, Py_NewRef(rs));
    Py_XSETREF(g_stop, Py_NewRef(sp));
    Py_XSETREF(g_finish, Py_NewRef(fi));
    Py_XSETREF(g_idle, Py_NewRef(idle));
    Py_RETURN_NONE;
}

/* _step(coro, chain, exc) -> (done, value): send None (or throw exc) into
 * the coroutine; done 1 with its return value, 0 with what it yielded. */
static PyObject *a_step(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 3) {
        PyErr_SetString(PyExc_TypeError, "_step(coro, chain, exc)");
        return NULL;
    }
    unsigned long long chain = PyLong_AsUnsignedLongLong(args[1]);
    if (chain == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    int saved_drive = tl_async_drive;
    tl_async_drive = 1;
    uint64_t saved_chain = za_chain_enter(chain);
    PyObject *res = NULL;
    int done;
    if (args[2] == Py_None) {
        PySendResult k = PyIter_Send(args[0], Py_None, &res);
        done = k == PYGEN_RETURN ? 1 : k == PYGEN_NEXT ? 0 : -1;
    } else {
        res = PyObject_CallMethod(args[0], "throw", "O", args[2]);
        done = 0;
        if (!res) {
            done = -1;
            if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
                PyObject *t, *v, *tb;
                PyErr_Fetch(&t, &v, &tb);
                PyErr_NormalizeException(&t, &v, &tb);
                res = v ? PyObject_GetAttrString(v, "value") : Py_NewRef(Py_None);
                Py_XDECREF(t);
                Py_XDECREF(v);
                Py_XDECREF(tb);
                done = res ? 1 : -1;
            }
        }
    }
    tl_async_drive = saved_drive;
    za_chain_enter(saved_chain);
    if (done < 0) return NULL;
    PyObject *out = Py_BuildValue("(iN)", done, res);
    return out;
}

static ContextObject *as_cell(PyObject *o) {
    /* (the driver only ever passes a cell; a check keeps a bug a TypeError) */
    PyObject *mod = PyType_GetModuleByDef(Py_TYPE(o), &zpy_module);
    if (!mod) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "expected an actor context");
        return NULL;
    }
    if (Py_TYPE(o) != zpy_state(mod)->Context_Type) {
        PyErr_SetString(PyExc_TypeError, "expected an actor context");
        return NULL;
    }
    return (ContextObject *)o;
}

static void put_key(unsigned char buf[16], uint64_t key, uint32_t gen, uint32_t kind) {
    memcpy(buf, &key, 8);
    memcpy(buf + 8, &gen, 4);
    memcpy(buf + 12, &kind, 4);
}

/* The ask callback's half (future.c): send the registered resume, if any.
 * Called with c->mu held? No: after the answer is stored, without the lock,
 * with the fields copied under it. */
void zpy_async_resume_send(za_system *sys, za_ref to, uint64_t key, uint32_t gen) {
    unsigned char buf[16];
    put_key(buf, key, gen, 0);
    /* (a dead actor: the message becomes a dead letter; nothing to undo) */
    za_tell(sys, to, TAG_RESUME, buf, sizeof buf);
}

/* _resume_on(future, cell, key, gen) -> True if registered, False if the
 * answer is already there (the driver steps again at once). */
static PyObject *a_resume_on(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 4) {
        PyErr_SetString(PyExc_TypeError, "_resume_on(future, cell, key, gen)");
        return NULL;
    }
    ContextObject *cell = as_cell(args[1]);
    if (!cell) return NULL;
    if (Py_TYPE(args[0]) != cell->sys->st->Future_Type) {
        PyErr_Format(PyExc_TypeError,
                     "an async handler of a zactor actor cannot await %R: await "
                     "ref.ask_async(...), zactor.sleep(), zactor.gather(), zactor.first(), or "
                     "an asyncio awaitable",
                     args[0]);
        return NULL;
    }
    FutureObject *f = (FutureObject *)args[0];
    if (f->sys != cell->sys) {
        PyErr_SetString(PyExc_ValueError, "this Future belongs to another System");
        return NULL;
    }
    unsigned long long key = PyLong_AsUnsignedLongLong(args[2]);
    unsigned long gen = PyLong_AsUnsignedLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    futcore *c = f->core;
    pthread_mutex_lock(&c->mu);
    int done = atomic_load(&c->done);
    if (!done) {
        c->rs_sys = cell->sys->sys;
        c->rs_to = cell->ref;
        c->rs_key = key;
        c->rs_gen = (uint32_t)gen;
    }
    pthread_mutex_unlock(&c->mu);
    return PyBool_FromLong(!done);
}

/* _after(cell, seconds, key, gen, kind) -> timer id */
static PyObject *a_after(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 5) {
        PyErr_SetString(PyExc_TypeError, "_after(cell, seconds, key, gen, kind)");
        return NULL;
    }
    ContextObject *cell = as_cell(args[0]);
    if (!cell) return NULL;
    double sec = PyFloat_AsDouble(args[1]);
    unsigned long long key = PyLong_AsUnsignedLongLong(args[2]);
    unsigned long gen = PyLong_AsUnsignedLong(args[3]);
    unsigned long kind = PyLong_AsUnsignedLong(args[4]);
    if (PyErr_Occurred()) return NULL;
    if (zpy_check_sys(cell->sys) < 0) return NULL;
    /* whole ms, rounded up (never early), at least 1 */
    double ms = isnan(sec) || sec <= 0 ? 1.0 : ceil(sec * 1000.0);
    if (ms > (double)ZPY_MAX_SECONDS * 1000.0) ms = (double)ZPY_MAX_SECONDS * 1000.0;
    unsigned char buf[16];
    put_key(buf, key, (uint32_t)gen, (uint32_t)kind);
    za_timer_id id = 0;
    int rc;
    HOLDING(rc = za_send_after(cell->sys->sys, (uint32_t)ms, cell->ref, TAG_RESUME, buf, sizeof buf,
                               &id));
    if (rc != ZA_OK) return zpy_raise_za(cell->sys, rc, "sleep");
    return PyLong_FromUnsignedLongLong(id);
}

static PyObject *a_cancel_timer(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError, "_cancel_timer(cell, id)");
        return NULL;
    }
    ContextObject *cell = as_cell(args[0]);
    if (!cell) return NULL;
    unsigned long long id = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred()) return NULL;
    if (cell->sys->sys && !cell->sys->closed) HOLDING(za_timer_cancel(cell->sys->sys, id));
    Py_RETURN_NONE;
}

/* _resume_now(cell, key, gen, kind): send the resume message now (an
 * asyncio awaitable completed on the loop thread; a bare yield). Any thread. */
static PyObject *a_resume_now(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 4) {
        PyErr_SetString(PyExc_TypeError, "_resume_now(cell, key, gen, kind)");
        return NULL;
    }
    ContextObject *cell = as_cell(args[0]);
    if (!cell) return NULL;
    unsigned long long key = PyLong_AsUnsignedLongLong(args[1]);
    unsigned long gen = PyLong_AsUnsignedLong(args[2]);
    unsigned long kind = PyLong_AsUnsignedLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (!cell->sys->sys || cell->sys->closed) Py_RETURN_FALSE;
    unsigned char buf[16];
    put_key(buf, key, (uint32_t)gen, (uint32_t)kind);
    int rc;
    HOLDING(rc = za_tell(cell->sys->sys, cell->ref, TAG_RESUME, buf, sizeof buf));
    return PyBool_FromLong(rc == ZA_OK);
}

/* _asks_sender(cell, future) -> True if the future's ask went to the actor
 * that sent the message being received (re-entry for a C actor's ask,
 * which carries no call chain, see _async.py). */
static PyObject *a_asks_sender(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError, "_asks_sender(cell, future)");
        return NULL;
    }
    ContextObject *cell = as_cell(args[0]);
    if (!cell) return NULL;
    if (Py_TYPE(args[1]) != cell->sys->st->Future_Type) Py_RETURN_FALSE;
    FutureObject *f = (FutureObject *)args[1];
    return PyBool_FromLong(cell->sender != ZA_REF_NONE && f->target == cell->sender);
}

/* _dead_letter(cell, msg): a message the actor held (stashed while its
 * handlers were busy) and will never handle: counted and shown as a dead
 * letter of the actor (reason dead_target), like a message left in a
 * stopped actor's mailbox. The hook sees the object itself. */
static PyObject *a_dead_letter(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError, "_dead_letter(cell, msg)");
        return NULL;
    }
    ContextObject *cell = as_cell(args[0]);
    if (!cell) return NULL;
    if (!cell->sys->sys || cell->sys->closed) Py_RETURN_NONE;
    za_msg m = {.tag = TAG_PY, .kind = ZA_PAYLOAD_PTR, .ptr = args[1], .sender = ZA_REF_NONE};
    /* (HOLDING: the hook then keeps its own reference to the object) */
    HOLDING(za_dead_letter_report(cell->sys->sys, cell->ref, &m, ZA_DL_DEAD_TARGET));
    Py_RETURN_NONE;
}

/* _wait_future(future, seconds) -> bool: wait (GIL released) until the
 * ask is answered, at most seconds. Only for an async on_stop: the actor is
 * stopping, no later message can resume it, so its worker waits here. */
static PyObject *a_wait_future(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError, "_wait_future(future, seconds)");
        return NULL;
    }
    double sec = PyFloat_AsDouble(args[1]);
    if (sec == -1.0 && PyErr_Occurred()) return NULL;
    PyObject *mod_ = PyType_GetModuleByDef(Py_TYPE(args[0]), &zpy_module);
    if (!mod_ || Py_TYPE(args[0]) != zpy_state(mod_)->Future_Type) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "expected a zactor.Future");
        return NULL;
    }
    int r = zpy_future_wait((FutureObject *)args[0], sec > 0 ? sec : 0.0);
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

/* _chain_new() -> a fresh call-chain id (za_chain_new: shared with Lua). */
static PyObject *a_chain_new(PyObject *mod, PyObject *ignored) {
    (void)mod;
    (void)ignored;
    return PyLong_FromUnsignedLongLong(za_chain_new());
}

static PyMethodDef a_methods[] = {
    {"_chain_new", (PyCFunction)a_chain_new, METH_NOARGS, NULL},
    {"_dead_letter", (PyCFunction)(void (*)(void))a_dead_letter, METH_FASTCALL, NULL},
    {"_wait_future", (PyCFunction)(void (*)(void))a_wait_future, METH_FASTCALL, NULL},
    {"_asks_sender", (PyCFunction)(void (*)(void))a_asks_sender, METH_FASTCALL, NULL},
    {"_resume_now", (PyCFunction)(void (*)(void))a_resume_now, METH_FASTCALL, NULL},
    {"_set_async_hooks", (PyCFunction)a_set_hooks, METH_VARARGS, NULL},
    {"_step", (PyCFunction)(void (*)(void))a_step, METH_FASTCALL, NULL},
    {"_resume_on", (PyCFunction)(void (*)(void))a_resume_on, METH_FASTCALL, NULL},
    {"_after", (PyCFunction)(void (*)(void))a_after, METH_FASTCALL, NULL},
    {"_cancel_timer", (PyCFunction)(void (*)(void))a_cancel_timer, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

/* A dict of the functions in defs, bound to mod: how a Python-side driver
 * (zactor/_async.py, zactor/grains.py) gets its private C functions
 * without them appearing on the module. */
PyObject *zpy_method_dict(PyObject *mod, PyMethodDef *defs) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (PyMethodDef *m = defs; m->ml_name; m++) {
        PyObject *f = PyCFunction_NewEx(m, mod, NULL);
        if (!f || PyDict_SetItemString(d, m->ml_name, f) < 0) {
            Py_XDECREF(f);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(f);
    }
    return d;
}

/* _async_api() -> dict of the functions above (one registration in module.c). */
PyObject *zpy_async_api(PyObject *mod, PyObject *ignored) {
    (void)ignored;
    return zpy_method_dict(mod, a_methods);
}

/* ------------------------------------------------------------- host hooks */

PyObject *zpy_async_new(ContextObject *cell, PyObject *inst, int force) {
    if (!g_new) Py_RETURN_NONE;
    return PyObject_CallFunctionObjArgs(g_new, (PyObject *)cell, inst, force ? Py_True : Py_False,
                                        NULL);
}

PyObject *zpy_async_start(PyObject *state, PyObject *coro) {
    return PyObject_CallFunctionObjArgs(g_start, state, coro, NULL);
}

PyObject *zpy_async_message(za_ctx *ctx, SystemObject *s, PyObject *state, PyObject *obj,
                            uint64_t chain, int py) {
    PyObject *reply = take_reply(ctx, s, py);
    if (!reply) return NULL;
    PyObject *ch = PyLong_FromUnsignedLongLong(chain);
    PyObject *r = ch ? PyObject_CallFunctionObjArgs(g_message, state, obj, reply, ch, NULL) : NULL;
    Py_XDECREF(ch);
    Py_DECREF(reply);
    return r;
}

PyObject *zpy_async_adopt(za_ctx *ctx, SystemObject *s, PyObject *state, PyObject *coro,
                          uint64_t chain, int py) {
    PyObject *reply = take_reply(ctx, s, py);
    if (!reply) return NULL;
    PyObject *ch = PyLong_FromUnsignedLongLong(chain);
    PyObject *r = ch ? PyObject_CallFunctionObjArgs(g_adopt, state, coro, reply, ch, NULL) : NULL;
    Py_XDECREF(ch);
    Py_DECREF(reply);
    return r;
}

PyObject *zpy_async_resume(PyObject *state, const void *data, size_t len) {
    if (len != 16) Py_RETURN_NONE;
    uint64_t key;
    uint32_t gen, kind;
    memcpy(&key, data, 8);
    memcpy(&gen, (const char *)data + 8, 4);
    memcpy(&kind, (const char *)data + 12, 4);
    PyObject *k = PyLong_FromUnsignedLongLong(key);
    PyObject *g = PyLong_FromUnsignedLong(gen);
    PyObject *kd = PyLong_FromUnsignedLong(kind);
    PyObject *r =
        k && g && kd ? PyObject_CallFunctionObjArgs(g_resume, state, k, g, kd, NULL) : NULL;
    Py_XDECREF(k);
    Py_XDECREF(g);
    Py_XDECREF(kd);
    return r;
}

void zpy_async_stop(PyObject *state, int final) {
    if (!g_stop) return;
    PyObject *r = PyObject_CallFunctionObjArgs(g_stop, state, final ? Py_True : Py_False, NULL);
    if (!r)
        PyErr_WriteUnraisable(g_stop);
    else
        Py_DECREF(r);
}

PyObject *zpy_async_finish(PyObject *coro, PyObject *inst, ContextObject *cell) {
    if (!g_finish) {
        PyErr_SetString(PyExc_RuntimeError, "zactor async handlers are not initialised");
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(g_finish, coro, inst, (PyObject *)cell, NULL);
}

/* System(workers=0) with nothing left to run: fire the next timer of the
 * virtual clock (zactor.sleep, zactor.timeout). 1 if one fired. GIL held. */
int zpy_async_idle(SystemObject *s) {
    if (!g_idle || !s->manual) return 0;
    PyObject *r = PyObject_CallOneArg(g_idle, (PyObject *)s);
    if (!r) {
        PyErr_WriteUnraisable(g_idle);
        return 0;
    }
    int fired = r == Py_True;
    Py_DECREF(r);
    return fired;
}
