/*
 * context.c - Context: a Python actor's cell (the spawn spec kept for
 * restarts) and self.context; spawning Python actors, and the table of
 * cells the system keeps.
 */
#include "glue.h"

static void Context_dealloc(ContextObject *c) {
    PyTypeObject *tp = Py_TYPE(c);
    PyObject_GC_UnTrack(c);
    Py_CLEAR(c->cls);
    Py_CLEAR(c->args);
    Py_CLEAR(c->kwargs);
    Py_CLEAR(c->last_exc);
    Py_CLEAR(c->sys);
    PyObject_GC_Del(c);
    Py_DECREF(tp);
}

static int Context_traverse(ContextObject *c, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(c));
    Py_VISIT(c->sys);
    Py_VISIT(c->cls);
    Py_VISIT(c->args);
    Py_VISIT(c->kwargs);
    Py_VISIT(c->last_exc);
    return 0;
}

static int Context_clear(ContextObject *c) {
    /* a live actor's worker still reads its cell: only a closed system's cells are cleared */
    if (c->sys && ((c->sys->sys && !c->sys->closed) || c->sys->reap_sys)) return 0;
    Py_CLEAR(c->cls);
    Py_CLEAR(c->args);
    Py_CLEAR(c->kwargs);
    Py_CLEAR(c->last_exc);
    return 0;
}

static void sweep_cells(SystemObject *s) {
    if (PyDict_GET_SIZE(s->cells) < s->sweep_at) return;
    PyObject *dead = PyList_New(0);
    if (!dead) return;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(s->cells, &pos, &k, &v))
        if (!za_is_alive(s->sys, ((ContextObject *)v)->ref)) PyList_Append(dead, k);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(dead); i++)
        PyDict_DelItem(s->cells, PyList_GET_ITEM(dead, i));
    Py_DECREF(dead);
    PyErr_Clear();
    s->sweep_at = 2 * PyDict_GET_SIZE(s->cells) + 1024;
}

/* "module.qualname" of what an actor runs (its class, or the callable a
 * FunctionActor wraps): its label (za_spawn_opts.label), which /actors,
 * /metrics and trace spans show instead of the one Python behaviour table's
 * "zactor.python". New reference, or NULL without an error set when obj has
 * no usable name (the actor then has no label). */
static PyObject *actor_label(PyObject *obj) {
    PyObject *qn = PyObject_GetAttrString(obj, "__qualname__");
    if (!qn || !PyUnicode_Check(qn)) {
        Py_XDECREF(qn);
        PyErr_Clear();
        return NULL;
    }
    PyObject *mod = PyObject_GetAttrString(obj, "__module__");
    PyObject *r = mod && PyUnicode_Check(mod) && PyUnicode_GET_LENGTH(mod)
                      ? PyUnicode_FromFormat("%U.%U", mod, qn)
                      : Py_NewRef(qn);
    Py_XDECREF(mod);
    Py_DECREF(qn);
    if (!r) PyErr_Clear();
    return r;
}

/* spawn(cls, *args, kwargs=None, name=..., ...): from outside (ctx NULL) or as a child. */
PyObject *zpy_spawn(SystemObject *s, za_ctx *ctx, PyObject *args, PyObject *kw) {
    if (zpy_check_sys(s) < 0) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1) {
        PyErr_SetString(PyExc_TypeError, "spawn() needs an Actor class");
        return NULL;
    }
    if (kw && PyDict_GetItemString(kw, "persistence_id")) {
        /* a persistent actor: a subclass that loads its state first (grains.py) */
        PyObject *a2 = args, *k2 = kw;
        if (zpy_persistent_spawn(&a2, &k2) < 0) return NULL;
        PyObject *r = zpy_spawn(s, ctx, a2, k2);
        Py_DECREF(a2);
        Py_DECREF(k2);
        return r;
    }
    PyObject *cls = PyTuple_GET_ITEM(args, 0);
    if (!PyType_Check(cls)) {
        if (!PyCallable_Check(cls) || !s->st->function_actor) {
            PyErr_Format(PyExc_TypeError, "spawn() needs an Actor class or a callable, not %.100s",
                         Py_TYPE(cls)->tp_name);
            return NULL;
        }
        /* a plain callable: the FunctionActor class calls it with each message */
        PyObject *wrapped = PyTuple_New(n + 1);
        if (!wrapped) return NULL;
        PyTuple_SET_ITEM(wrapped, 0, Py_NewRef(s->st->function_actor));
        for (Py_ssize_t i = 0; i < n; i++)
            PyTuple_SET_ITEM(wrapped, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
        PyObject *r = zpy_spawn(s, ctx, wrapped, kw);
        Py_DECREF(wrapped);
        return r;
    }
    PyObject *akw = NULL, *optkw = NULL, *name_keep = NULL;
    if (kw) {
        optkw = PyDict_Copy(kw);
        if (!optkw) return NULL;
        akw = PyDict_GetItemString(optkw, "kwargs");
        if (akw) {
            Py_INCREF(akw);
            PyDict_DelItemString(optkw, "kwargs");
            if (akw == Py_None)
                Py_CLEAR(akw);
            else if (!PyDict_Check(akw)) {
                PyErr_SetString(PyExc_TypeError, "kwargs must be a dict");
                goto err;
            }
        }
    }
    PyObject *conc = optkw ? PyDict_GetItemString(optkw, "concurrency") : NULL;
    if (conc) {
        /* concurrency=N: a cached subclass with that class attribute, the
         * same for System.spawn and Context.spawn (zactor._with_concurrency) */
        Py_INCREF(conc);
        PyDict_DelItemString(optkw, "concurrency");
        if (conc != Py_None) {
            PyObject *mod = PyImport_ImportModule("zactor");
            PyObject *sub =
                mod ? PyObject_CallMethod(mod, "_with_concurrency", "OO", cls, conc) : NULL;
            Py_XDECREF(mod);
            Py_DECREF(conc);
            if (!sub) goto err;
            PyObject *nargs = PyTuple_New(n);
            if (!nargs) {
                Py_DECREF(sub);
                goto err;
            }
            PyTuple_SET_ITEM(nargs, 0, sub);
            for (Py_ssize_t i = 1; i < n; i++)
                PyTuple_SET_ITEM(nargs, i, Py_NewRef(PyTuple_GET_ITEM(args, i)));
            PyDict_SetItemString(optkw, "kwargs", akw ? akw : Py_None);
            PyObject *r = zpy_spawn(s, ctx, nargs, optkw);
            Py_DECREF(nargs);
            Py_XDECREF(akw);
            Py_DECREF(optkw);
            return r;
        }
        Py_DECREF(conc);
    }
    za_spawn_opts o;
    int blocking = 0;
    PyObject *strat = PyObject_GetAttr(cls, s->st->str_strategy);
    if (!strat) PyErr_Clear();
    int prc = zpy_parse_spawn_opts(s, strat, optkw, &o, &name_keep, &blocking);
    Py_XDECREF(strat);
    if (prc < 0) goto err;
    ContextObject *cell = PyObject_GC_New(ContextObject, s->st->Context_Type);
    if (!cell) goto err;
    cell->sys = (SystemObject *)Py_NewRef((PyObject *)s);
    cell->cls = Py_NewRef(cls);
    cell->args = PyTuple_GetSlice(args, 1, n);
    cell->kwargs = akw ? PyDict_Copy(akw) : NULL;
    cell->last_exc = NULL;
    cell->ref = 0;
    cell->cur = NULL;
    cell->sender = 0;
    PyObject_GC_Track(cell);
    if (!cell->args || (akw && !cell->kwargs)) {
        Py_DECREF(cell);
        goto err;
    }
    o.user = cell;
    /* a FunctionActor is named after the callable it runs */
    PyObject *label =
        actor_label(cls == s->st->function_actor && n >= 2 ? PyTuple_GET_ITEM(args, 1) : cls);
    Py_ssize_t label_len = 0;
    const char *label_s = label ? PyUnicode_AsUTF8AndSize(label, &label_len) : NULL;
    if (!label_s) PyErr_Clear();
    o.label = label_s && label_len > 0 && label_len <= 255 ? label_s : NULL;
    za_ref ref = 0;
    int rc;
    if (ctx)
        HOLDING(rc = za_ctx_spawn(ctx, blocking ? &s->beh_block : &s->beh, &cell, sizeof cell, &o,
                                  &ref));
    else
        HOLDING(rc = za_spawn(s->sys, blocking ? &s->beh_block : &s->beh, &cell, sizeof cell, &o,
                              &ref));
    Py_XDECREF(name_keep);
    name_keep = NULL;
    Py_XDECREF(label);
    if (rc != ZA_OK) {
        Py_DECREF(cell);
        zpy_raise_za(s, rc, "spawn");
        goto err;
    }
    cell->ref = ref;
    PyObject *key = PyLong_FromUnsignedLongLong(ref);
    if (!key || PyDict_SetItem(s->cells, key, (PyObject *)cell) < 0) {
        /* the actor exists but its cell would be freed under it: stop it */
        Py_XDECREF(key);
        za_stop(s->sys, ref);
        Py_DECREF(cell);
        goto err;
    }
    Py_DECREF(key);
    Py_DECREF(cell);
    sweep_cells(s);
    Py_XDECREF(akw);
    Py_XDECREF(optkw);
    RefObject *r = (RefObject *)zpy_new_ref(s, ref, 1);
    if (r) r->blocking = blocking;
    return (PyObject *)r;
err:
    Py_XDECREF(name_keep);
    Py_XDECREF(akw);
    Py_XDECREF(optkw);
    return NULL;
}

static za_ctx *cur_ctx(ContextObject *c, const char *what) {
    if (!c->cur || !tl_in_actor) {
        PyErr_Format(PyExc_RuntimeError,
                     "context.%s() is only valid while the actor handles a message (or in "
                     "__init__/on_start/on_stop)",
                     what);
        return NULL;
    }
    return c->cur;
}

static PyObject *Context_spawn(ContextObject *c, PyObject *args, PyObject *kw) {
    za_ctx *ctx = cur_ctx(c, "spawn");
    if (!ctx) return NULL;
    return zpy_spawn(c->sys, ctx, args, kw);
}

/* grain(cls, key): the reference of a grain (System.grain, zactor/grains.py) */
static PyObject *Context_grain(ContextObject *c, PyObject *args, PyObject *kw) {
    if (zpy_check_sys(c->sys) < 0) return NULL;
    PyObject *m = PyObject_GetAttrString((PyObject *)c->sys, "grain");
    if (!m) return NULL;
    PyObject *r = PyObject_Call(m, args, kw);
    Py_DECREF(m);
    return r;
}

static PyObject *Context_get_self_ref(ContextObject *c, void *Py_UNUSED(x)) {
    return zpy_new_ref(c->sys, c->ref, 1);
}

static PyObject *Context_get_sender(ContextObject *c, void *Py_UNUSED(x)) {
    if (!c->sender) Py_RETURN_NONE;
    return zpy_new_ref(c->sys, c->sender, 0);
}

static PyObject *Context_get_actor_class(ContextObject *c, void *Py_UNUSED(x)) {
    return Py_NewRef(c->cls ? c->cls : Py_None);
}

static PyObject *Context_get_system(ContextObject *c, void *Py_UNUSED(x)) {
    return Py_NewRef((PyObject *)c->sys);
}

static PyObject *Context_get_restarts(ContextObject *c, void *Py_UNUSED(x)) {
    if (c->cur) return PyLong_FromUnsignedLong(za_ctx_restarts(c->cur));
    za_actor_info info;
    if (c->sys->closed || za_actor_info_get(c->sys->sys, c->ref, &info) != ZA_OK)
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLong(info.restarts);
}

static PyObject *Context_stop(ContextObject *c, PyObject *Py_UNUSED(ignored)) {
    if (zpy_check_sys(c->sys) < 0) return NULL;
    if (c->cur && tl_in_actor)
        za_ctx_stop(c->cur);
    else
        HOLDING(za_stop(c->sys->sys, c->ref));
    Py_RETURN_NONE;
}

static PyObject *Context_watch(ContextObject *c, PyObject *target) {
    RefObject *t;
    if (zpy_check_sys(c->sys) < 0 || zpy_as_ref(c->sys, target, &t) < 0) return NULL;
    int rc;
    if (c->cur && tl_in_actor)
        HOLDING(rc = za_ctx_watch(c->cur, t->ref));
    else
        HOLDING(rc = za_watch(c->sys->sys, c->ref, t->ref));
    if (rc != ZA_OK) return zpy_raise_za(c->sys, rc, "watch");
    Py_RETURN_NONE;
}

static PyObject *Context_unwatch(ContextObject *c, PyObject *target) {
    RefObject *t;
    za_ctx *ctx = cur_ctx(c, "unwatch");
    if (!ctx || zpy_as_ref(c->sys, target, &t) < 0) return NULL;
    int rc = za_ctx_unwatch(ctx, t->ref);
    if (rc != ZA_OK) return zpy_raise_za(c->sys, rc, "unwatch");
    Py_RETURN_NONE;
}

static PyObject *Context_send_after(ContextObject *c, PyObject *args, PyObject *kw) {
    return zpy_timer_args(c->sys, args, kw, 0);
}

static PyObject *Context_send_interval(ContextObject *c, PyObject *args, PyObject *kw) {
    return zpy_timer_args(c->sys, args, kw, 1);
}

static PyMethodDef Context_methods[] = {
    {"spawn", (PyCFunction)(void (*)(void))Context_spawn, METH_VARARGS | METH_KEYWORDS,
     "spawn(cls, *args, kwargs=None, name=None, restart='permanent', max_restarts=None, "
     "within=None, backoff=None, capacity=0, on_full='fail', block_timeout=1.0, "
     "persistence_id=None, concurrency=None): spawn a child supervised by this actor (with "
     "this class's `strategy`). persistence_id: self.state is loaded from the system's storage "
     "before on_start, and `await self.save()` writes it. concurrency: how many async handlers "
     "of the child may interleave (default: the class's `concurrency`, 1)."},
    {"stop", (PyCFunction)Context_stop, METH_NOARGS, "Stop this actor after the current message."},
    {"grain", (PyCFunction)(void (*)(void))Context_grain, METH_VARARGS | METH_KEYWORDS,
     "grain(cls, key) -> ActorRef: the reference of grain (cls, key), as System.grain."},
    {"watch", (PyCFunction)Context_watch, METH_O,
     "watch(ref): a zactor.Terminated(ref, exc) message arrives when ref dies."},
    {"unwatch", (PyCFunction)Context_unwatch, METH_O, "unwatch(ref)"},
    {"send_after", (PyCFunction)(void (*)(void))Context_send_after, METH_VARARGS | METH_KEYWORDS,
     "send_after(delay, ref, msg) -> Timer: send msg to ref after delay seconds."},
    {"send_interval", (PyCFunction)(void (*)(void))Context_send_interval,
     METH_VARARGS | METH_KEYWORDS,
     "send_interval(interval, ref, msg, delay=interval) -> Timer: send msg every interval s."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Context_getset[] = {
    {"self_ref", (getter)Context_get_self_ref, NULL, "This actor's ActorRef.", NULL},
    {"sender", (getter)Context_get_sender, NULL,
     "The sender of the message being handled (an ActorRef), or None from outside actors.", NULL},
    {"system", (getter)Context_get_system, NULL, "The System.", NULL},
    {"actor_class", (getter)Context_get_actor_class, NULL, "The actor's class.", NULL},
    {"restarts", (getter)Context_get_restarts, NULL, "How many times this actor restarted.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Context_slots[] = {
    {Py_tp_dealloc, Context_dealloc},
    {Py_tp_traverse, Context_traverse},
    {Py_tp_clear, Context_clear},
    {Py_tp_methods, Context_methods},
    {Py_tp_getset, Context_getset},
    {Py_tp_doc, "self.context inside an actor."},
    {0, NULL},
};

PyType_Spec zpy_Context_spec = {"zactor.Context", sizeof(ContextObject), 0,
                                Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
                                    Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                Context_slots};
