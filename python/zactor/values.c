/*
 * values.c - the value model between Python objects and MessagePack, for
 * actors of other languages: one encoder (Python objects straight into the
 * runtime's za_pack writer) and one decoder (the runtime's za_doc_decode,
 * then its za_value tree into Python objects).
 */
#include <math.h>

#include "glue.h"

/*
 * Encoder: Python objects straight into the runtime's za_pack writer (the
 * bytes are csrc/value.c's in every case). Measured against building a
 * za_value tree first and writing it with za_pack_value (the runtime's
 * round-trip path), best of 7 runs, ns per pack, on this 2-core machine:
 *
 *   message                   direct   via za_value
 *   (1, 42, "hello")              96            163   (+70%)
 *   {"key0": 0, ..} 20 entries   675            778   (+15%)
 *   64 KiB bytes                2900           2900
 *
 * so the direct walk stays.
 *
 * Decoder (zpy_bytes_to_py, System.unpack): the runtime's za_doc_decode,
 * then its za_value tree into Python objects; the glue has no MessagePack
 * reader of its own. For the same three messages a whole decode takes
 * 145 / 1580 / 3000-3400 ns, of which bytes -> za_value (parsing included)
 * is 95 / 430 / 1500-1900 ns: a direct reader into Python objects could
 * save only part of that, so none is kept beside the runtime's.
 */
int zpy_pack_obj(modstate *st, za_pack *p, PyObject *o, int depth) {
    if (depth > 32) {
        PyErr_SetString(PyExc_ValueError, "value nested too deeply for MessagePack");
        return -1;
    }
    int rc;
    if (o == Py_None) {
        rc = za_pack_nil(p);
    } else if (PyBool_Check(o)) {
        rc = za_pack_bool(p, o == Py_True);
    } else if (PyLong_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(o);
            if (PyErr_Occurred()) return -1;
            rc = za_pack_uint(p, u);
        } else if (overflow < 0) {
            PyErr_SetString(PyExc_OverflowError, "int too small for MessagePack");
            return -1;
        } else {
            if (v == -1 && PyErr_Occurred()) return -1;
            rc = za_pack_int(p, v);
        }
    } else if (PyFloat_Check(o)) {
        rc = za_pack_double(p, PyFloat_AS_DOUBLE(o));
    } else if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) return -1;
        rc = za_pack_str(p, s, (size_t)n);
    } else if (PyBytes_Check(o)) {
        rc = za_pack_bin(p, PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
    } else if (PyByteArray_Check(o)) {
        rc = za_pack_bin(p, PyByteArray_AS_STRING(o), (size_t)PyByteArray_GET_SIZE(o));
    } else if (PyObject_TypeCheck(o, st->Ref_Type)) {
        /* with its System's identity: a reader in another System refuses it */
        RefObject *r = (RefObject *)o;
        rc = r->sys && r->sys->sys ? za_pack_ref_in(p, r->sys->sys, r->ref) : za_pack_ref(p, r->ref);
    } else if (PyList_Check(o) || PyTuple_Check(o)) {
        PyObject *seq = PySequence_Fast(o, "");
        if (!seq) return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        rc = za_pack_array(p, (uint32_t)n);
        for (Py_ssize_t i = 0; rc == ZA_OK && i < n; i++) {
            if (zpy_pack_obj(st, p, PySequence_Fast_GET_ITEM(seq, i), depth + 1) < 0) {
                Py_DECREF(seq);
                return -1;
            }
        }
        Py_DECREF(seq);
    } else if (PyDict_Check(o)) {
        rc = za_pack_map(p, (uint32_t)PyDict_GET_SIZE(o));
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (rc == ZA_OK && PyDict_Next(o, &pos, &k, &v)) {
            if (PyFloat_Check(k) && isnan(PyFloat_AS_DOUBLE(k))) {
                /* Lua tables cannot hold it, and it never equals itself */
                PyErr_SetString(PyExc_ValueError, "cannot send a map with a NaN key");
                return -1;
            }
            if (zpy_pack_obj(st, p, k, depth + 1) < 0 || zpy_pack_obj(st, p, v, depth + 1) < 0)
                return -1;
        }
    } else {
        PyErr_Format(PyExc_TypeError,
                     "cannot send a %.100s to a non-Python actor: only None, bool, int, float, "
                     "str, bytes, list, tuple, dict and ActorRef cross languages",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    if (rc != ZA_OK) {
        PyErr_Format(PyExc_ValueError, "MessagePack encoding failed: %s", za_last_error());
        return -1;
    }
    return 0;
}

PyObject *zpy_value_to_py(SystemObject *s, const za_value *v) {
    switch (v->type) {
    case ZA_V_NIL:
        Py_RETURN_NONE;
    case ZA_V_BOOL:
        return PyBool_FromLong(v->v.b);
    case ZA_V_INT:
        return PyLong_FromLongLong(v->v.i);
    case ZA_V_UINT:
        return PyLong_FromUnsignedLongLong(v->v.u);
    case ZA_V_DOUBLE:
        return PyFloat_FromDouble(v->v.d);
    case ZA_V_STR:
        return PyUnicode_DecodeUTF8(v->v.str.ptr, v->v.str.len, "surrogateescape");
    case ZA_V_BIN:
        return PyBytes_FromStringAndSize(v->v.str.ptr, v->v.str.len);
    case ZA_V_REF:
        return zpy_new_ref(s, v->v.ref, 0);
    case ZA_V_ARRAY: {
        PyObject *l = PyList_New(v->v.array.n);
        if (!l) return NULL;
        for (uint32_t i = 0; i < v->v.array.n; i++) {
            PyObject *x = zpy_value_to_py(s, &v->v.array.items[i]);
            if (!x) {
                Py_DECREF(l);
                return NULL;
            }
            PyList_SET_ITEM(l, i, x);
        }
        return l;
    }
    case ZA_V_MAP: {
        PyObject *d = PyDict_New();
        if (!d) return NULL;
        for (uint32_t i = 0; i < v->v.map.n; i++) {
            PyObject *k = zpy_value_to_py(s, &v->v.map.keys[i]);
            PyObject *x = k ? zpy_value_to_py(s, &v->v.map.vals[i]) : NULL;
            if (!x || PyDict_SetItem(d, k, x) < 0) {
                Py_XDECREF(k);
                Py_XDECREF(x);
                Py_DECREF(d);
                return NULL;
            }
            Py_DECREF(k);
            Py_DECREF(x);
        }
        return d;
    }
    }
    Py_RETURN_NONE;
}

/* Bytes from another language: MessagePack if it parses, else raw bytes;
 * a ref of another System is a ValueError, never a ref of this one. */
PyObject *zpy_bytes_to_py(SystemObject *s, const void *data, size_t len) {
    if (!len) Py_RETURN_NONE;
    za_doc *d = NULL;
    int rc = s->sys ? za_doc_decode_in(s->sys, data, len, &d) : za_doc_decode(data, len, &d);
    if (rc != ZA_OK && s->sys) {
        char why[256];
        snprintf(why, sizeof why, "%s", za_last_error());
        if (za_doc_decode(data, len, &d) == ZA_OK) { /* only the System check failed */
            za_doc_free(d);
            PyErr_SetString(PyExc_ValueError, why);
            return NULL;
        }
    }
    if (rc == ZA_OK) {
        PyObject *r = zpy_value_to_py(s, za_doc_root(d));
        za_doc_free(d);
        return r;
    }
    return PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
}
