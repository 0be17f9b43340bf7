/*
 * module.c - the module zactor._zactor: its functions, state and
 * multi-phase init (see glue.h for how the glue is laid out).
 */
#include "glue.h"
#include "hosts/lua_host.h"

/* Bumped in the child after fork: systems created before it are unusable. */
unsigned g_fork_gen;

static PyObject *mod_set_hooks(PyObject *mod, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {
        "terminated",     "dead_letter", "report_failure", "get_running_loop", "waker_for",
        "function_actor", NULL};
    PyObject *t, *d, *r, *g, *w, *f;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "$OOOOOO", kwlist, &t, &d, &r, &g, &w, &f))
        return NULL;
    modstate *st = zpy_state(mod);
    Py_XSETREF(st->function_actor, Py_NewRef(f));
    Py_XSETREF(st->terminated_cls, Py_NewRef(t));
    Py_XSETREF(st->dead_letter_cls, Py_NewRef(d));
    Py_XSETREF(st->report_failure, Py_NewRef(r));
    Py_XSETREF(st->get_running_loop, Py_NewRef(g));
    Py_XSETREF(st->waker_for, Py_NewRef(w));
    Py_RETURN_NONE;
}

/* zactor.live_lua_handlers(): the Lua host's suspended handlers. */
static PyObject *mod_live_lua(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    return PyLong_FromLongLong((long long)za_lua_live_handlers());
}

static PyObject *mod_drain(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    zpy_drain_deferred();
    Py_RETURN_NONE;
}

/* os.register_at_fork(after_in_child=...): the child has none of the
 * parent's runtime threads: a fresh deferred queue, older systems marked
 * unusable, and this thread's glue flags reset. */
static PyObject *mod_after_fork_child(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    zpy_deferred_after_fork();
    g_fork_gen++;
    tl_gil = 0;
    tl_in_actor = 0;
    tl_saved = NULL;
    Py_RETURN_NONE;
}

/* MessagePack bytes of a value (spawn arguments for native behaviours). */
static PyObject *mod_pack(PyObject *mod, PyObject *obj) {
    za_pack *p = za_pack_new();
    if (!p) return PyErr_NoMemory();
    PyObject *r = NULL;
    if (zpy_pack_obj(zpy_state(mod), p, obj, 0) == 0)
        r = PyBytes_FromStringAndSize(za_pack_data(p), (Py_ssize_t)za_pack_size(p));
    za_pack_free(p);
    return r;
}

static PyMethodDef mod_methods[] = {
    {"_pack", (PyCFunction)mod_pack, METH_O, NULL},
    {"_cluster_spawn", (PyCFunction)zpy_cluster_spawn, METH_VARARGS, NULL},
    {"_cluster_serve_spawns", (PyCFunction)zpy_cluster_serve_spawns, METH_VARARGS, NULL},
    {"_async_api", (PyCFunction)zpy_async_api, METH_NOARGS, NULL},
    {"_grain_api", (PyCFunction)zpy_grain_api, METH_NOARGS, NULL},
    {"_trace_get", (PyCFunction)zpy_trace_get, METH_NOARGS, NULL},
    {"_trace_set", (PyCFunction)zpy_trace_set, METH_O, NULL},
    {"_spans_configure", (PyCFunction)zpy_spans_configure, METH_VARARGS, NULL},
    {"_spans_enable", (PyCFunction)zpy_spans_enable, METH_VARARGS, NULL},
    {"_spans_wait", (PyCFunction)zpy_spans_wait, METH_VARARGS, NULL},
    {"_spans_quiesce", (PyCFunction)zpy_spans_quiesce, METH_O, NULL},
    {"_spans_drain", (PyCFunction)zpy_spans_drain, METH_O, NULL},
    {"_spans_dropped", (PyCFunction)zpy_spans_dropped, METH_NOARGS, NULL},
    {"_traced", (PyCFunction)(void (*)(void))zpy_traced, METH_FASTCALL, NULL},
    {"_set_hooks", (PyCFunction)(void (*)(void))mod_set_hooks, METH_VARARGS | METH_KEYWORDS, NULL},
    {"_dispatch_loop", (PyCFunction)zpy_dispatch_loop, METH_NOARGS, NULL},
    {"_dispatch_stop", (PyCFunction)zpy_dispatch_stop, METH_NOARGS, NULL},
    {"_drain", (PyCFunction)mod_drain, METH_NOARGS, NULL},
    {"_live_lua_handlers", (PyCFunction)mod_live_lua, METH_NOARGS, NULL},
    {"_exiting", (PyCFunction)zpy_exiting, METH_NOARGS, NULL},
    {"_after_fork_child", (PyCFunction)mod_after_fork_child, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static int add_type(PyObject *m, PyType_Spec *spec, PyObject *base, PyTypeObject **out,
                    const char *attr) {
    PyObject *t = PyType_FromModuleAndSpec(m, spec, base);
    if (!t) return -1;
    *out = (PyTypeObject *)t;
    return PyModule_AddObjectRef(m, attr, t);
}

static int add_exc(PyObject *m, const char *name, PyObject *base, PyObject **out, const char *doc,
                   const char *attr) {
    *out = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    if (!*out) return -1;
    return PyModule_AddObjectRef(m, attr, *out);
}

static int mod_exec(PyObject *m) {
    modstate *st = zpy_state(m);
    if (zpy_introspect_init() < 0) return -1;
    if (add_type(m, &zpy_System_spec, NULL, &st->System_Type, "System") < 0 ||
        add_type(m, &zpy_Ref_spec, NULL, &st->Ref_Type, "ActorRef") < 0 ||
        add_type(m, &zpy_Future_spec, NULL, &st->Future_Type, "Future") < 0 ||
        add_type(m, &zpy_Context_spec, NULL, &st->Context_Type, "Context") < 0 ||
        add_type(m, &zpy_Timer_spec, NULL, &st->Timer_Type, "Timer") < 0)
        return -1;
    st->FutureIter_Type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &zpy_FutureIter_spec, NULL);
    if (!st->FutureIter_Type) return -1;
    if (add_exc(m, "zactor.ActorError", PyExc_Exception, &st->ActorError,
                "Base class of zactor's errors.", "ActorError") < 0)
        return -1;
    if (add_exc(m, "zactor.ActorDeadError", st->ActorError, &st->ActorDeadError,
                "The actor (or its system) is dead: the message was not delivered.",
                "ActorDeadError") < 0)
        return -1;
    PyObject *bases = PyTuple_Pack(2, st->ActorError, PyExc_TimeoutError);
    if (!bases) return -1;
    st->AskTimeout =
        PyErr_NewExceptionWithDoc("zactor.AskTimeout", "No reply in time.", bases, NULL);
    Py_DECREF(bases);
    if (!st->AskTimeout || PyModule_AddObjectRef(m, "AskTimeout", st->AskTimeout) < 0) return -1;
    if (add_exc(m, "zactor.MailboxFull", st->ActorError, &st->MailboxFull,
                "The target's bounded mailbox is full.", "MailboxFull") < 0)
        return -1;
    if (add_exc(m, "zactor.ActorFailed", st->ActorError, &st->ActorFailed,
                "The actor failed (non-Python actors, or when the original exception is not "
                "available).",
                "ActorFailed") < 0)
        return -1;
    PyObject *cf = PyImport_ImportModule("concurrent.futures");
    if (!cf) return -1;
    st->CancelledError = PyObject_GetAttrString(cf, "CancelledError");
    Py_DECREF(cf);
    if (!st->CancelledError) return -1;
#define INTERN(f, s)                                                                               \
    if (!(st->f = PyUnicode_InternFromString(s))) return -1
    INTERN(str_receive, "receive");
    INTERN(str_on_start, "on_start");
    INTERN(str_on_stop, "on_stop");
    INTERN(str_on_failure, "on_failure");
    INTERN(str_context, "context");
    INTERN(str_init, "__init__");
    INTERN(str_new, "__new__");
    INTERN(str_strategy, "strategy");
    INTERN(str_add_note, "add_note");
    INTERN(str_create_future, "create_future");
    INTERN(str_add, "add");
    INTERN(str_blocking, "_asyncio_future_blocking");
#undef INTERN
    if (PyModule_AddIntConstant(m, "TAG_PY", TAG_PY) < 0) return -1;
    if (zpy_store_init(m) < 0) return -1;
    if (zpy_cluster_exec(m, st) < 0) return -1; /* after ActorDeadError: its base */
    if (zpy_tracing_exec(m) < 0) return -1;
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg) {
    modstate *st = zpy_state(m);
    if (!st) return 0;
    Py_VISIT(st->System_Type);
    Py_VISIT(st->Ref_Type);
    Py_VISIT(st->Future_Type);
    Py_VISIT(st->Context_Type);
    Py_VISIT(st->Timer_Type);
    Py_VISIT(st->ActorError);
    Py_VISIT(st->ActorDeadError);
    Py_VISIT(st->AskTimeout);
    Py_VISIT(st->MailboxFull);
    Py_VISIT(st->ActorFailed);
    Py_VISIT(st->CancelledError);
    Py_VISIT(st->terminated_cls);
    Py_VISIT(st->dead_letter_cls);
    Py_VISIT(st->get_running_loop);
    Py_VISIT(st->waker_for);
    Py_VISIT(st->function_actor);
    Py_VISIT(st->last_loop);
    Py_VISIT(st->last_waker);
    Py_VISIT(st->FutureIter_Type);
    Py_VISIT(st->report_failure);
    Py_VISIT(st->Cluster_Type);
    Py_VISIT(st->NodeDownError);
    return 0;
}

static int mod_clear(PyObject *m) {
    modstate *st = zpy_state(m);
    if (!st) return 0;
    Py_CLEAR(st->Cluster_Type);
    Py_CLEAR(st->NodeDownError);
    Py_CLEAR(st->System_Type);
    Py_CLEAR(st->Ref_Type);
    Py_CLEAR(st->Future_Type);
    Py_CLEAR(st->Context_Type);
    Py_CLEAR(st->Timer_Type);
    Py_CLEAR(st->ActorError);
    Py_CLEAR(st->ActorDeadError);
    Py_CLEAR(st->AskTimeout);
    Py_CLEAR(st->MailboxFull);
    Py_CLEAR(st->ActorFailed);
    Py_CLEAR(st->CancelledError);
    Py_CLEAR(st->terminated_cls);
    Py_CLEAR(st->dead_letter_cls);
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->waker_for);
    Py_CLEAR(st->function_actor);
    Py_CLEAR(st->last_loop);
    Py_CLEAR(st->last_waker);
    Py_CLEAR(st->FutureIter_Type);
    Py_CLEAR(st->report_failure);
    Py_CLEAR(st->str_receive);
    Py_CLEAR(st->str_on_start);
    Py_CLEAR(st->str_on_stop);
    Py_CLEAR(st->str_on_failure);
    Py_CLEAR(st->str_context);
    Py_CLEAR(st->str_init);
    Py_CLEAR(st->str_new);
    Py_CLEAR(st->str_strategy);
    Py_CLEAR(st->str_add_note);
    Py_CLEAR(st->str_create_future);
    Py_CLEAR(st->str_add);
    Py_CLEAR(st->str_blocking);
    return 0;
}

static void mod_free(void *m) {
    mod_clear((PyObject *)m);
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
    {0, NULL},
};

struct PyModuleDef zpy_module = {
    PyModuleDef_HEAD_INIT,
    "zactor._zactor",
    "CPython glue of the zactor actor runtime (use the zactor package).",
    sizeof(modstate),
    mod_methods,
    mod_slots,
    mod_traverse,
    mod_clear,
    mod_free,
};

PyMODINIT_FUNC PyInit__zactor(void) {
    return PyModuleDef_Init(&zpy_module);
}
