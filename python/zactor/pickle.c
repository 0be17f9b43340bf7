/*
 * pickle.c - arbitrary Python objects between Python nodes of a cluster
 * (Cluster(pickle=True), only with a secret: loading a pickle runs code).
 *
 * A message or an ask reply for another node that MessagePack cannot carry
 * goes as pickle bytes with tag ZA_TAG_PICKLE, when this node allows it.
 * The runtime delivers such a message only to a Python actor of a node
 * that allows it too (csrc/cluster/pickle.c): a Lua or C actor, or a node
 * without pickle, gets a dead letter and the asker a clear error. Here, a
 * Python actor unpickles only what came from another node or from Python:
 * a local Lua actor (sandboxed) must not reach pickle.loads with bytes of
 * its own making.
 */
#include "glue.h"

static int pickle_allowed(SystemObject *s) {
    return s->sys && za_cluster_pickle_allowed(za_system_cluster(s->sys));
}

static PyObject *pickle_call(const char *fn, PyObject *arg) {
    PyObject *m = PyImport_ImportModule("pickle");
    if (!m) return NULL;
    PyObject *r = PyObject_CallMethod(m, fn, "(O)", arg); /* (a tuple is one argument) */
    Py_DECREF(m);
    return r;
}

PyObject *zpy_pickle_for(SystemObject *s, za_ref to, PyObject *msg) {
    int remote = s->sys && za_ref_node(to) != za_system_node(s->sys);
    if (!remote || !PyErr_ExceptionMatches(PyExc_TypeError)) return NULL;
    if (!pickle_allowed(s)) {
        /* say how to get there */
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *exc = PyErr_GetRaisedException();
#else
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
#endif
        PyObject *text = exc ? PyObject_Str(exc) : NULL;
        Py_XDECREF(exc);
        if (text) {
            PyErr_Format(PyExc_TypeError,
                         "%U (to send any Python object to Python actors on other nodes, "
                         "create the clusters with pickle=True and a secret)",
                         text);
            Py_DECREF(text);
        }
        return NULL;
    }
    PyErr_Clear();
    PyObject *b = pickle_call("dumps", msg);
    if (b && !PyBytes_Check(b)) Py_CLEAR(b);
    return b;
}

PyObject *zpy_unpickle_msg(SystemObject *s, za_ref sender, const void *data, size_t len) {
    const char *why = NULL;
    if (!pickle_allowed(s)) {
        why = "this node does not accept pickled objects (Cluster(pickle=True, secret=...))";
    } else if (sender && za_ref_node(sender) == za_system_node(s->sys)) {
        const za_behaviour *b = za_ref_behaviour(s->sys, sender);
        if (b && (!b->host || !b->host->name || strcmp(b->host->name, "python") != 0))
            why = "a pickled object from a non-Python actor of this node is refused";
    }
    if (why) {
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    if (!b) return NULL;
    PyObject *r = pickle_call("loads", b);
    Py_DECREF(b);
    return r;
}

PyObject *zpy_pickle_reply(SystemObject *s, const za_msg *m, PyObject *r) {
    /* the asker is on another node (a remote actor, or a remote main thread:
     * no sender, and not TAG_PY): a Python node with pickle gets the pickle,
     * the runtime answers any other asker with an error (csrc/cluster/remote.c) */
    if (m->tag == TAG_PY || !pickle_allowed(s) || !PyErr_ExceptionMatches(PyExc_TypeError))
        return NULL;
    if (!(m->tag == ZA_TAG_PICKLE || !m->sender ||
          za_ref_node(m->sender) != za_system_node(s->sys)))
        return NULL;
    PyErr_Clear();
    PyObject *b = pickle_call("dumps", r);
    if (b && !PyBytes_Check(b)) Py_CLEAR(b);
    return b;
}

PyObject *zpy_unpickle_answer(SystemObject *s, const void *data, size_t len) {
    if (!pickle_allowed(s)) {
        PyErr_SetString(PyExc_ValueError, "the answer is a pickled Python object and this node "
                                          "does not accept pickle");
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    if (!b) return NULL;
    PyObject *r = pickle_call("loads", b);
    Py_DECREF(b);
    return r;
}
