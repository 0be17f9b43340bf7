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
 * Decoder (zpy_bytes_to_py, System.unpack): a direct reader into Python
 * objects for the common subset, the runtime's za_doc_decode (then its
 * za_value tree into Python objects) for the rest and for error texts. For
 * speed alone the direct reader was not worth it (for the three messages
 * above a whole za_doc decode takes 145 / 1580 / 3000-3400 ns, of which
 * bytes -> za_value is 95 / 430 / 1500-1900 ns); it is kept for memory:
 * see "The direct reader" below.
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
            if (u == (unsigned long long)-1 && PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
                PyErr_Clear();
                PyErr_SetString(PyExc_OverflowError,
                                "int too big for MessagePack (its range is -2**63 .. 2**64-1)");
                return -1;
            }
            rc = za_pack_uint(p, u);
        } else if (overflow < 0) {
            PyErr_SetString(PyExc_OverflowError,
                            "int too small for MessagePack (its range is -2**63 .. 2**64-1)");
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
        rc =
            r->sys && r->sys->sys ? za_pack_ref_in(p, r->sys->sys, r->ref) : za_pack_ref(p, r->ref);
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

/*
 * The direct reader: MessagePack bytes straight into Python objects, so
 * that decoding holds only the input and the Python value. Through
 * za_doc_decode a message is held four times at the peak (the bytes, its
 * copy in the za_doc, msgpack-c's object tree and the za_value tree, then
 * the Python objects): 64-128x the input, 4-8 GB for one hostile message at
 * the 64 MiB payload limit (issue 10, finding 20). The runtime's decoder
 * stays the authority on what is valid: the reader accepts a subset of
 * what za_doc_decode accepts (one value, no trailing bytes, no ext at all,
 * so actor references go through za_doc_decode_in and its check that they
 * name this System; nesting below msgpack-c's limit) and hands anything
 * else to it, for its value or its error text.
 */
#define RD_MAX_NESTING 30 /* containers; msgpack-c (csrc/value.c) allows 32 */

typedef struct {
    const unsigned char *p, *end;
    SystemObject *s;
    int reject; /* not in the reader's subset: use za_doc_decode */
} reader;

static int rd_need(reader *r, size_t n) {
    if ((size_t)(r->end - r->p) < n) {
        r->reject = 1;
        return -1;
    }
    return 0;
}

static uint64_t rd_be(reader *r, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | r->p[i];
    r->p += n;
    return v;
}

static PyObject *rd_value(reader *r, int depth);

static PyObject *rd_raw(reader *r, size_t n, int str) {
    if (rd_need(r, n) < 0) return NULL;
    const char *b = (const char *)r->p;
    r->p += n;
    if (!str) return PyBytes_FromStringAndSize(b, (Py_ssize_t)n);
    PyObject *u = PyUnicode_DecodeUTF8(b, (Py_ssize_t)n, NULL);
    if (!u && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        /* not valid UTF-8: the runtime's decoder says what that is */
        PyErr_Clear();
        r->reject = 1;
    }
    return u;
}

static PyObject *rd_array(reader *r, uint64_t n, int depth) {
    if (depth >= RD_MAX_NESTING || n > (uint64_t)(r->end - r->p)) { /* >= 1 byte per item */
        r->reject = 1;
        return NULL;
    }
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (!l) return NULL;
    for (uint64_t i = 0; i < n; i++) {
        PyObject *x = rd_value(r, depth + 1);
        if (!x) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, x);
    }
    return l;
}

static PyObject *rd_map(reader *r, uint64_t n, int depth) {
    if (depth >= RD_MAX_NESTING || n > (uint64_t)(r->end - r->p) / 2) {
        r->reject = 1;
        return NULL;
    }
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (uint64_t i = 0; i < n; i++) {
        PyObject *k = rd_value(r, depth + 1);
        PyObject *x = k ? rd_value(r, depth + 1) : NULL;
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

static PyObject *rd_value(reader *r, int depth) {
    if (rd_need(r, 1) < 0) return NULL;
    unsigned c = *r->p++;
    if (c <= 0x7f) return PyLong_FromLong((long)c);
    if (c >= 0xe0) return PyLong_FromLong((long)(int8_t)c);
    if ((c & 0xf0) == 0x80) return rd_map(r, c & 0x0f, depth);
    if ((c & 0xf0) == 0x90) return rd_array(r, c & 0x0f, depth);
    if ((c & 0xe0) == 0xa0) return rd_raw(r, c & 0x1f, 1);
    static const int width[] = {
        [0xc4] = 1, [0xc5] = 2, [0xc6] = 4, [0xca] = 4, [0xcb] = 8, [0xcc] = 1, [0xcd] = 2,
        [0xce] = 4, [0xcf] = 8, [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8, [0xd9] = 1,
        [0xda] = 2, [0xdb] = 4, [0xdc] = 2, [0xdd] = 4, [0xde] = 2, [0xdf] = 4};
    switch (c) {
    case 0xc0:
        Py_RETURN_NONE;
    case 0xc2:
        Py_RETURN_FALSE;
    case 0xc3:
        Py_RETURN_TRUE;
    default:
        if (c > 0xdf || !width[c]) break;
        if (rd_need(r, (size_t)width[c]) < 0) return NULL;
        uint64_t v = rd_be(r, width[c]);
        switch (c) {
        case 0xc4:
        case 0xc5:
        case 0xc6:
            return rd_raw(r, v, 0);
        case 0xd9:
        case 0xda:
        case 0xdb:
            return rd_raw(r, v, 1);
        case 0xca: {
            uint32_t u = (uint32_t)v;
            float f;
            memcpy(&f, &u, sizeof f);
            return PyFloat_FromDouble((double)f);
        }
        case 0xcb: {
            double d;
            memcpy(&d, &v, sizeof d);
            return PyFloat_FromDouble(d);
        }
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            return PyLong_FromUnsignedLongLong(v);
        case 0xd0:
            return PyLong_FromLong((long)(int8_t)v);
        case 0xd1:
            return PyLong_FromLong((long)(int16_t)v);
        case 0xd2:
            return PyLong_FromLong((long)(int32_t)v);
        case 0xd3:
            return PyLong_FromLongLong((long long)(int64_t)v);
        case 0xdc:
        case 0xdd:
            return rd_array(r, v, depth);
        default: /* 0xde, 0xdf */
            return rd_map(r, v, depth);
        }
    }
    /* ext (actor references: the runtime checks whose System they name),
     * 0xc1: the runtime's decoder */
    r->reject = 1;
    return NULL;
}

/* MessagePack to Python: the direct reader, else the runtime's decoder.
 * NULL with an exception: a Python error (e.g. an unhashable map key), or
 * ValueError with the runtime's text when strict and not MessagePack;
 * when not strict, bytes that are not MessagePack come back as bytes. */
static PyObject *decode(SystemObject *s, const void *data, size_t len, int strict) {
    reader r = {data, (const unsigned char *)data + len, s, 0};
    PyObject *v = rd_value(&r, 0);
    if (v && r.p == r.end) return v;
    if (!v && !r.reject) return NULL; /* a Python error */
    Py_XDECREF(v);                    /* (trailing bytes) */
    za_doc *d = NULL;
    /* (unpack() reads refs of any System, as za_doc_decode does) */
    int in = s->sys && !strict;
    int rc = in ? za_doc_decode_in(s->sys, data, len, &d) : za_doc_decode(data, len, &d);
    if (rc != ZA_OK && in) {
        /* a ref of another System is a ValueError, never a ref of this one */
        char why[256];
        snprintf(why, sizeof why, "%s", za_last_error());
        if (za_doc_decode(data, len, &d) == ZA_OK) { /* only the System check failed */
            za_doc_free(d);
            PyErr_SetString(PyExc_ValueError, why);
            return NULL;
        }
    }
    if (rc == ZA_OK) {
        PyObject *res = zpy_value_to_py(s, za_doc_root(d));
        za_doc_free(d);
        return res;
    }
    if (!strict) return PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    const char *detail = za_last_error();
    PyErr_Format(PyExc_ValueError, "unpack: not one MessagePack value (%zu bytes): %s", len,
                 detail && *detail ? detail : "malformed");
    return NULL;
}

PyObject *zpy_unpack_strict(SystemObject *s, const void *data, size_t len) {
    if (!len) {
        PyErr_SetString(PyExc_ValueError,
                        "unpack: not one MessagePack value (0 bytes): cannot decode MessagePack "
                        "from empty input");
        return NULL;
    }
    return decode(s, data, len, 1);
}

/* Bytes from another language: MessagePack if it parses, else raw bytes. */
PyObject *zpy_bytes_to_py(SystemObject *s, const void *data, size_t len) {
    if (!len) Py_RETURN_NONE;
    return decode(s, data, len, 0);
}
