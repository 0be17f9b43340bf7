/*
 * cluster.c - zactor.Cluster: membership in a cluster (csrc/cluster/) for a
 * System created with System(cluster=...). The Python-level wrapper in
 * zactor/__init__.py adds the context manager, Node tuples and node events.
 *
 * Node events come from the cluster's membership thread, a thread Python
 * does not know: the trampoline takes the GIL with PyGILState_Ensure (a few
 * microseconds; events are rare). Anything that waits for that thread
 * (clearing the callback, closing) runs with the GIL released, or the
 * thread could wait for the GIL while we wait for it.
 */
#include "glue.h"

typedef struct ClusterObject {
    PyObject ob_base; /* PyObject_HEAD, spelled out (clang-format) */
    za_cluster *cl;
    PyObject *callback; /* called (kind, id, name, endpoint, epoch); under the GIL */
} ClusterObject;

static void event_trampoline(za_node_event_kind kind, const za_node_info *n, void *ud) {
    ClusterObject *c = ud;
    if (_Py_IsFinalizing()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *cb = c->callback ? Py_NewRef(c->callback) : NULL;
    if (cb) {
        PyObject *r = PyObject_CallFunction(cb, "iIssK", (int)kind, n->id, n->name, n->endpoint,
                                            (unsigned long long)n->epoch);
        if (!r) PyErr_WriteUnraisable(cb);
        Py_XDECREF(r);
        Py_DECREF(cb);
    }
    PyGILState_Release(g);
}

static int Cluster_init(ClusterObject *c, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"redis",       "name",      "listen",    "node_name", "secret",
                             "insecure",    "advertise", "heartbeat", "suspect",   "votes",
                             "vote_window", "poll",      NULL};
    const char *redis = NULL, *name = NULL, *listen = NULL, *node_name = NULL, *secret = NULL,
               *advertise = NULL;
    int insecure = 0;
    unsigned int votes = 0;
    double heartbeat = 0, suspect = 0, vote_window = 0, poll = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$szzzpzddIdd:Cluster", kwlist, &redis, &name,
                                     &listen, &node_name, &secret, &insecure, &advertise,
                                     &heartbeat, &suspect, &votes, &vote_window, &poll))
        return -1;
    if (c->cl) {
        PyErr_SetString(PyExc_RuntimeError, "Cluster already initialised");
        return -1;
    }
    if (!name) {
        PyErr_SetString(PyExc_TypeError, "Cluster() needs name=: nodes with the same name form "
                                         "one cluster");
        return -1;
    }
    if (heartbeat < 0 || suspect < 0 || vote_window < 0 || poll < 0) {
        PyErr_SetString(PyExc_ValueError, "heartbeat, suspect, vote_window and poll are "
                                          "seconds >= 0 (0: default)");
        return -1;
    }
    za_cluster_config cc;
    za_cluster_config_init(&cc);
    cc.redis = redis;
    cc.name = name;
    cc.listen = listen;
    cc.node_name = node_name;
    cc.secret = secret;
    cc.insecure = insecure;
    cc.advertise = advertise;
    cc.heartbeat_ms = (uint32_t)(heartbeat * 1000.0);
    cc.suspect_ms = (uint32_t)(suspect * 1000.0);
    cc.votes = votes;
    cc.vote_window_ms = (uint32_t)(vote_window * 1000.0);
    cc.poll_ms = (uint32_t)(poll * 1000.0);
    za_cluster *cl = NULL;
    int rc;
    char err[256];
    Py_BEGIN_ALLOW_THREADS; /* joining talks to Redis */
    rc = za_cluster_create(&cc, &cl);
    snprintf(err, sizeof err, "%s", za_last_error());
    Py_END_ALLOW_THREADS;
    if (rc != ZA_OK) {
        PyObject *exc = rc == ZA_ECONNECT ? PyExc_ConnectionError : PyExc_ValueError;
        PyErr_Format(exc, "cannot join cluster '%s': %s", name, err[0] ? err : za_strerror(rc));
        return -1;
    }
    c->cl = cl;
    za_cluster_on_event(cl, event_trampoline, c);
    return 0;
}

static void cluster_close(ClusterObject *c) {
    za_cluster *cl = c->cl;
    if (!cl) return;
    c->cl = NULL;
    Py_BEGIN_ALLOW_THREADS;
    za_cluster_on_event(cl, NULL, NULL); /* waits out an event in progress */
    za_cluster_destroy(cl);              /* leaves, unless a system still uses it */
    Py_END_ALLOW_THREADS;
}

static void Cluster_dealloc(ClusterObject *c) {
    PyTypeObject *tp = Py_TYPE(c);
    PyObject_GC_UnTrack(c);
    cluster_close(c);
    Py_CLEAR(c->callback);
    tp->tp_free(c);
    Py_DECREF(tp);
}

static int Cluster_traverse(ClusterObject *c, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(c));
    Py_VISIT(c->callback);
    return 0;
}

static int Cluster_clear(ClusterObject *c) {
    Py_CLEAR(c->callback);
    return 0;
}

static int check_open(ClusterObject *c) {
    if (c->cl) return 0;
    PyErr_SetString(PyExc_RuntimeError, "the cluster is closed");
    return -1;
}

static PyObject *node_tuple(const za_node_info *n) {
    return Py_BuildValue("(IssK)", n->id, n->name, n->endpoint, (unsigned long long)n->epoch);
}

static PyObject *Cluster_close(ClusterObject *c, PyObject *Py_UNUSED(x)) {
    cluster_close(c);
    Py_RETURN_NONE;
}

static PyObject *Cluster_self(ClusterObject *c, PyObject *Py_UNUSED(x)) {
    if (check_open(c) < 0) return NULL;
    za_node_info n;
    za_cluster_self(c->cl, &n);
    return node_tuple(&n);
}

static PyObject *Cluster_nodes(ClusterObject *c, PyObject *Py_UNUSED(x)) {
    if (check_open(c) < 0) return NULL;
    size_t n = 0, cap = 16;
    za_node_info *v = NULL;
    for (;;) {
        za_node_info *nv = PyMem_Realloc(v, cap * sizeof *v);
        if (!nv) {
            PyMem_Free(v);
            return PyErr_NoMemory();
        }
        v = nv;
        za_cluster_nodes(c->cl, v, cap, &n);
        if (n <= cap) break;
        cap = n + 16;
    }
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *t = node_tuple(&v[i]);
        if (!t) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    PyMem_Free(v);
    return list;
}

static PyObject *Cluster_stats(ClusterObject *c, PyObject *Py_UNUSED(x)) {
    if (check_open(c) < 0) return NULL;
    za_cluster_stats s;
    za_cluster_stats_read(c->cl, &s);
    return Py_BuildValue(
        "{sKsKsKsKsKsKsKsKsKsKsK}", "auth_failed", (unsigned long long)s.auth_failed, "sent",
        (unsigned long long)s.sent, "received", (unsigned long long)s.received, "batches_out",
        (unsigned long long)s.batches_out, "malformed", (unsigned long long)s.malformed, "fenced",
        (unsigned long long)s.fenced, "dropped", (unsigned long long)s.dropped, "votes",
        (unsigned long long)s.votes, "nodes_down", (unsigned long long)s.nodes_down, "redis_errors",
        (unsigned long long)s.redis_errors, "table_version", (unsigned long long)s.table_version);
}

static PyObject *Cluster_set_callback(ClusterObject *c, PyObject *cb) {
    if (cb != Py_None && !PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, "the node event callback must be callable or None");
        return NULL;
    }
    Py_XSETREF(c->callback, cb == Py_None ? NULL : Py_NewRef(cb));
    Py_RETURN_NONE;
}

static PyObject *Cluster_get_closed(ClusterObject *c, void *Py_UNUSED(x)) {
    return PyBool_FromLong(c->cl == NULL);
}

static PyObject *Cluster_new_secret(PyObject *Py_UNUSED(x), PyObject *Py_UNUSED(y)) {
    char key[41];
    if (za_cluster_secret_new(key) != ZA_OK) {
        PyErr_SetString(PyExc_RuntimeError, za_last_error());
        return NULL;
    }
    return PyUnicode_FromString(key);
}

static PyMethodDef Cluster_methods[] = {
    {"new_secret", (PyCFunction)Cluster_new_secret, METH_NOARGS | METH_STATIC,
     "new_secret() -> str: a new random cluster key (40 characters). Give the same key to every "
     "node as secret=...: links are then authenticated and encrypted (ZeroMQ CURVE)."},
    {"close", (PyCFunction)Cluster_close, METH_NOARGS,
     "Leave the cluster (once no System uses it) and free it. Idempotent."},
    {"_self", (PyCFunction)Cluster_self, METH_NOARGS, "(id, name, endpoint, epoch) of this node."},
    {"_nodes", (PyCFunction)Cluster_nodes, METH_NOARGS,
     "Live members as (id, name, endpoint, epoch)."},
    {"stats", (PyCFunction)Cluster_stats, METH_NOARGS,
     "Counters: sent, received, batches_out, malformed, fenced, dropped, votes, nodes_down, "
     "redis_errors, table_version, auth_failed."},
    {"_set_callback", (PyCFunction)Cluster_set_callback, METH_O,
     "Callback(kind, id, name, endpoint, epoch) for node events (1 up, 2 down, 3 expelled)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Cluster_getset[] = {
    {"closed", (getter)Cluster_get_closed, NULL, "True once close() ran.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Cluster_slots[] = {
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Cluster_init},
    {Py_tp_dealloc, Cluster_dealloc},
    {Py_tp_traverse, Cluster_traverse},
    {Py_tp_clear, Cluster_clear},
    {Py_tp_methods, Cluster_methods},
    {Py_tp_getset, Cluster_getset},
    {Py_tp_doc, "Cluster(redis, *, name, listen=None, node_name=None, secret=None, "
                "insecure=False, advertise=None, heartbeat=0, suspect=0, votes=0, "
                "vote_window=0, poll=0): join the cluster `name` whose membership table is in "
                "Redis at `redis` (redis://[:password@]host:port/db). Pass it to "
                "System(cluster=...)."},
    {0, NULL},
};

static PyType_Spec Cluster_spec = {
    .name = "zactor._zactor.Cluster",
    .basicsize = sizeof(ClusterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Cluster_slots,
};

int zpy_cluster_exec(PyObject *m, modstate *st) {
    PyObject *t = PyType_FromModuleAndSpec(m, &Cluster_spec, NULL);
    if (!t) return -1;
    st->Cluster_Type = (PyTypeObject *)t;
    if (PyModule_AddObjectRef(m, "Cluster", t) < 0) return -1;
    st->NodeDownError = PyErr_NewExceptionWithDoc(
        "zactor.NodeDownError",
        "The actor's node was declared dead, left the cluster, or is not a member.",
        st->ActorDeadError, NULL);
    if (!st->NodeDownError) return -1;
    return PyModule_AddObjectRef(m, "NodeDownError", st->NodeDownError);
}

int zpy_cluster_get(modstate *st, PyObject *o, za_cluster **out) {
    if (!PyObject_TypeCheck(o, st->Cluster_Type)) {
        PyErr_Format(PyExc_TypeError, "cluster must be a zactor.Cluster, not %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    ClusterObject *c = (ClusterObject *)o;
    if (!c->cl) {
        PyErr_SetString(PyExc_ValueError, "the cluster is closed");
        return -1;
    }
    *out = c->cl;
    return 0;
}
