/*
 * remote_spawn.c - spawning on another node of the cluster from Python
 * (System.spawn / spawn_lua / spawn_native with node=...), and serving the
 * requests of other nodes (kinds "python" and "lua").
 *
 * The asking side is za_cluster_spawn with the GIL released. The serving
 * side runs on the cluster's spawn thread (csrc/cluster/remote_spawn.c),
 * a thread Python does not know: the "python" handler takes the GIL with
 * PyGILState_Ensure (a few microseconds; spawns are rare) and calls
 * zactor.cluster._remote_spawn, which imports the class and spawns it. The
 * "lua" handler needs no Python at all.
 */
#include "glue.h"

#ifdef ZA_WITH_LUA
#include "hosts/lua_host.h"
#endif

/* What went wrong, for zactor/cluster.py to raise the right exception. */
static const char *err_kind(int rc) {
    switch (rc) {
    case ZA_ENODEDOWN:
        return "node";
    case ZA_EAUTH:
        return "refused";
    case ZA_ETIMEDOUT:
        return "timeout";
    case ZA_EEXIST:
        return "exists";
    case ZA_EINVAL:
        return "invalid";
    default:
        return "failed";
    }
}

/* _cluster_spawn(system, node, kind, what, args, name, timeout) ->
 * ("ok", ActorRef) or (error kind, text). args: bytes (as is) or None. */
PyObject *zpy_cluster_spawn(PyObject *mod, PyObject *args) {
    PyObject *sysobj, *argbytes, *nameobj;
    const char *node, *kind, *what;
    double timeout;
    if (!PyArg_ParseTuple(args, "OsssOOd:_cluster_spawn", &sysobj, &node, &kind, &what, &argbytes,
                          &nameobj, &timeout))
        return NULL;
    modstate *st = zpy_state(mod);
    if (!PyObject_TypeCheck(sysobj, st->System_Type)) {
        PyErr_SetString(PyExc_TypeError, "_cluster_spawn: not a System");
        return NULL;
    }
    SystemObject *s = (SystemObject *)sysobj;
    if (zpy_check_sys(s) < 0 || zpy_refuse_in_actor("spawn(node=...)") < 0) return NULL;
    const char *name = NULL;
    if (nameobj != Py_None && !(name = zpy_cstring(nameobj, "name"))) return NULL;
    const void *data = NULL;
    Py_ssize_t len = 0;
    if (argbytes != Py_None) {
        if (!PyBytes_Check(argbytes)) {
            PyErr_SetString(PyExc_TypeError, "_cluster_spawn: args must be bytes or None");
            return NULL;
        }
        data = PyBytes_AS_STRING(argbytes);
        len = PyBytes_GET_SIZE(argbytes);
    }
    uint32_t ms = timeout <= 0 ? 0 : timeout > 3600 ? 3600000u : (uint32_t)(timeout * 1000.0);
    if (timeout > 0 && ms == 0) ms = 1;
    za_ref ref = ZA_REF_NONE;
    char err[700];
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    rc = za_cluster_spawn(s->sys, node, kind, what, data, (size_t)len, name, ms, &ref);
    snprintf(err, sizeof err, "%s", rc == ZA_OK ? "" : za_last_error());
    Py_END_ALLOW_THREADS;
    if (rc != ZA_OK) return Py_BuildValue("(ss)", err_kind(rc), err);
    PyObject *r = zpy_new_ref(s, ref, 0);
    if (!r) return NULL;
    return Py_BuildValue("(sN)", "ok", r);
}

/* The "python" kind: zactor.cluster._remote_spawn(system id, what, args,
 * name) -> ("ok", ref id) or (error kind, text). */
static int py_handler(za_system *sys, const char *what, const void *args, size_t len,
                      const char *name, za_ref *out, char *err, size_t cap, void *ud) {
    (void)ud;
    if (_Py_IsFinalizing() || atomic_load(&g_exiting)) {
        snprintf(err, cap, "the node's Python interpreter is exiting");
        return ZA_ESHUTDOWN;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = ZA_EFAILED;
    PyObject *m = PyImport_ImportModule("zactor.cluster");
    PyObject *r =
        m ? PyObject_CallMethod(m, "_remote_spawn", "Ksy#z", (unsigned long long)za_system_id(sys),
                                what, (const char *)args, (Py_ssize_t)len, name)
          : NULL;
    const char *k = NULL, *text = NULL;
    PyObject *v = NULL;
    if (r && PyArg_ParseTuple(r, "sO", &k, &v)) {
        if (strcmp(k, "ok") == 0 && PyLong_Check(v)) {
            *out = PyLong_AsUnsignedLongLong(v);
            rc = PyErr_Occurred() ? ZA_EFAILED : ZA_OK;
        } else {
            text = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
            rc = strcmp(k, "notfound") == 0 ? ZA_ENOTFOUND
                 : strcmp(k, "exists") == 0 ? ZA_EEXIST
                 : strcmp(k, "closed") == 0 ? ZA_ESHUTDOWN
                                            : ZA_ESTART;
        }
    }
    if (rc != ZA_OK) snprintf(err, cap, "%s", text ? text : "the Python spawn helper failed");
    if (PyErr_Occurred()) PyErr_WriteUnraisable(m);
    Py_XDECREF(r);
    Py_XDECREF(m);
    PyGILState_Release(g);
    return rc;
}

#ifdef ZA_WITH_LUA
/* The "lua" kind: a Lua actor from a spec, as spawn_lua does. */
static int lua_handler(za_system *sys, const char *what, const void *args, size_t len,
                       const char *name, za_ref *out, char *err, size_t cap, void *ud) {
    (void)ud;
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = name;
    za_lua_opts lo = {0};
    err[0] = 0;
    int rc = za_lua_spawn_ex(sys, what, args, len, &o, &lo, out, err, cap);
    if (rc != ZA_OK && !err[0]) snprintf(err, cap, "%s", za_last_error());
    return rc;
}
#endif

/* _cluster_serve_spawns(system, patterns, pickle) -> system id: register
 * the handlers of this node, its allow-list and its pickle choice. */
PyObject *zpy_cluster_serve_spawns(PyObject *mod, PyObject *args) {
    PyObject *sysobj, *patterns;
    int pickle;
    if (!PyArg_ParseTuple(args, "OOp:_cluster_serve_spawns", &sysobj, &patterns, &pickle))
        return NULL;
    modstate *st = zpy_state(mod);
    if (!PyObject_TypeCheck(sysobj, st->System_Type)) {
        PyErr_SetString(PyExc_TypeError, "_cluster_serve_spawns: not a System");
        return NULL;
    }
    SystemObject *s = (SystemObject *)sysobj;
    if (zpy_check_sys(s) < 0) return NULL;
    za_cluster *c = za_system_cluster(s->sys);
    if (!c) {
        PyErr_SetString(PyExc_RuntimeError, "this System is not in a cluster");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(patterns, "spawnable must be a list of str");
    if (!seq) return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *p = PySequence_Fast_GET_ITEM(seq, i);
        const char *pat = PyUnicode_Check(p) ? zpy_cstring(p, "a spawnable pattern") : NULL;
        if (!pat) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "spawnable patterns are str, not %.100s",
                             Py_TYPE(p)->tp_name);
            Py_DECREF(seq);
            return NULL;
        }
        if (za_cluster_spawnable(c, pat) != ZA_OK) {
            PyErr_Format(PyExc_ValueError, "spawnable %R: %s", p, za_last_error());
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    if (za_cluster_allow_pickle(c, pickle) != ZA_OK) {
        PyErr_Format(PyExc_ValueError, "pickle=True: %s", za_last_error());
        return NULL;
    }
    if (za_cluster_spawn_handler(c, "python", py_handler, NULL) != ZA_OK) {
        PyErr_SetString(PyExc_RuntimeError, za_last_error());
        return NULL;
    }
#ifdef ZA_WITH_LUA
    if (za_cluster_spawn_handler(c, "lua", lua_handler, NULL) != ZA_OK) {
        PyErr_SetString(PyExc_RuntimeError, za_last_error());
        return NULL;
    }
#endif
    return PyLong_FromUnsignedLongLong(za_system_id(s->sys));
}
