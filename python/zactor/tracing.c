/*
 * tracing.c - the trace context (csrc/trace.c) for the Python layer
 * (zactor/tracing.py): read and set this thread's current W3C traceparent.
 * Inside a Python actor's receive it starts as the handled message's.
 */
#include "glue.h"

PyObject *zpy_trace_get(PyObject *mod, PyObject *Py_UNUSED(x)) {
    za_trace t;
    char buf[56];
    if (za_trace_current(&t) != ZA_OK || za_trace_format(&t, buf, sizeof buf) != ZA_OK)
        Py_RETURN_NONE;
    return PyUnicode_FromString(buf);
}

PyObject *zpy_trace_set(PyObject *mod, PyObject *arg) {
    if (arg == Py_None) {
        za_trace_set_current(NULL);
        Py_RETURN_NONE;
    }
    const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!s) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "traceparent must be a str or None, not %.100s",
                         Py_TYPE(arg)->tp_name);
        return NULL;
    }
    za_trace t;
    if (za_trace_parse(s, &t) != ZA_OK) {
        PyErr_SetString(PyExc_ValueError, za_last_error());
        return NULL;
    }
    za_trace_set_current(&t);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ spans
 *
 * Spans recorded by the runtime (csrc/spans.c) reach Python as objects of a
 * subclass of _SpanRecord that zactor/tracing.py defines (it also derives
 * from OpenTelemetry's ReadableSpan and computes name, context, attributes
 * ... from the record only when an exporter asks). Making one costs an
 * allocation and a copy: no Python code runs per span until export.
 *
 * The configuration is process-wide, as the span ring is: static here,
 * touched only with the GIL held.
 */
typedef struct {
    PyObject_HEAD za_span sp;
} SpanRecordObject;

static PyObject *g_span_cls;  /* the tracing.py subclass (NULL: not configured) */
static PyObject *g_otel_var;  /* OpenTelemetry's ContextVar of the current Context */
static PyObject *g_otel_key;  /* the key of the current span in that Context */
static PyObject *g_otel_last; /* the span seen last, and what it parsed to */
static za_trace g_otel_last_t;
static int g_otel_last_ok;
static PyObject *g_str_ask, *g_str_tell, *g_kw_timeout;

static PyObject *id_to_int(const uint8_t *b, size_t n) {
    uint64_t hi = 0, lo = 0;
    for (size_t i = 0; i < n; i++) {
        if (n == 16 && i < 8)
            hi = hi << 8 | b[i];
        else
            lo = lo << 8 | b[i];
    }
    if (n != 16 || !hi) return PyLong_FromUnsignedLongLong(lo);
    PyObject *h = PyLong_FromUnsignedLongLong(hi), *l = PyLong_FromUnsignedLongLong(lo);
    PyObject *sixtyfour = PyLong_FromLong(64);
    PyObject *sh = h && sixtyfour ? PyNumber_Lshift(h, sixtyfour) : NULL;
    PyObject *r = sh && l ? PyNumber_Or(sh, l) : NULL;
    Py_XDECREF(h);
    Py_XDECREF(l);
    Py_XDECREF(sixtyfour);
    Py_XDECREF(sh);
    return r;
}

static int int_to_id(PyObject *v, uint8_t *b, size_t n) {
    PyObject *mask = PyLong_FromUnsignedLongLong(UINT64_MAX), *sixtyfour = PyLong_FromLong(64);
    PyObject *cur = Py_NewRef(v);
    int rc = mask && sixtyfour ? 0 : -1;
    for (size_t off = n; rc == 0 && off > 0; off -= 8) {
        PyObject *part = PyNumber_And(cur, mask);
        unsigned long long x = part ? PyLong_AsUnsignedLongLong(part) : 0;
        Py_XDECREF(part);
        if (!part || PyErr_Occurred()) {
            rc = -1;
            break;
        }
        for (int i = 7; i >= 0; i--) b[off - 8 + (size_t)i] = (uint8_t)(x >> (8 * (7 - i)));
        PyObject *next = PyNumber_Rshift(cur, sixtyfour);
        Py_SETREF(cur, next);
        if (!cur) rc = -1;
    }
    Py_XDECREF(cur);
    Py_XDECREF(mask);
    Py_XDECREF(sixtyfour);
    return rc;
}

#define SR(o) (&((SpanRecordObject *)(o))->sp)

static PyObject *sr_trace_id(PyObject *o, void *c) {
    return id_to_int(SR(o)->ctx.trace_id, 16);
}
static PyObject *sr_span_id(PyObject *o, void *c) {
    return id_to_int(SR(o)->ctx.span_id, 8);
}
static PyObject *sr_parent_id(PyObject *o, void *c) {
    return id_to_int(SR(o)->parent_span_id, 8);
}
static PyObject *sr_flags(PyObject *o, void *c) {
    return PyLong_FromLong(SR(o)->ctx.flags);
}
static PyObject *sr_kind(PyObject *o, void *c) {
    return PyLong_FromLong(SR(o)->kind);
}
static PyObject *sr_failed(PyObject *o, void *c) {
    return PyBool_FromLong(SR(o)->failed);
}
static PyObject *sr_tag(PyObject *o, void *c) {
    return PyLong_FromLong(SR(o)->tag);
}
static PyObject *sr_start(PyObject *o, void *c) {
    return PyLong_FromUnsignedLongLong(SR(o)->start_ns);
}
static PyObject *sr_end(PyObject *o, void *c) {
    return PyLong_FromUnsignedLongLong(SR(o)->end_ns);
}
static PyObject *sr_wait(PyObject *o, void *c) {
    return PyLong_FromUnsignedLongLong(SR(o)->wait_ns);
}
static PyObject *sr_actor(PyObject *o, void *c) {
    za_ref r = SR(o)->actor;
    return PyUnicode_FromFormat("<ActorRef %u.%u>", (unsigned)za_ref_slot(r),
                                (unsigned)za_ref_gen(r));
}
static PyObject *sr_behaviour(PyObject *o, void *c) {
    return PyUnicode_DecodeUTF8(SR(o)->behaviour, (Py_ssize_t)strlen(SR(o)->behaviour), "replace");
}
static PyObject *sr_language(PyObject *o, void *c) {
    return PyUnicode_FromString(SR(o)->language);
}

static PyGetSetDef sr_getset[] = {
    {"_z_trace_id", sr_trace_id, NULL, NULL, NULL},
    {"_z_span_id", sr_span_id, NULL, NULL, NULL},
    {"_z_parent_id", sr_parent_id, NULL, "0 for a root span", NULL},
    {"_z_flags", sr_flags, NULL, NULL, NULL},
    {"_z_kind", sr_kind, NULL, "1 receive, 2 ask, 3 tell", NULL},
    {"_z_failed", sr_failed, NULL, NULL, NULL},
    {"_z_tag", sr_tag, NULL, NULL, NULL},
    {"_z_start", sr_start, NULL, NULL, NULL},
    {"_z_end", sr_end, NULL, NULL, NULL},
    {"_z_wait", sr_wait, NULL, NULL, NULL},
    {"_z_actor", sr_actor, NULL, NULL, NULL},
    {"_z_behaviour", sr_behaviour, NULL, NULL, NULL},
    {"_z_language", sr_language, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot sr_slots[] = {
    {Py_tp_getset, sr_getset},
    {Py_tp_doc, "A span recorded by the runtime (zactor.tracing turns it into an OpenTelemetry "
                "span)."},
    {0, NULL},
};

static PyType_Spec sr_spec = {
    "zactor._zactor._SpanRecord",
    sizeof(SpanRecordObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    sr_slots,
};

int zpy_tracing_exec(PyObject *m) {
    PyObject *t = PyType_FromModuleAndSpec(m, &sr_spec, NULL);
    if (!t) return -1;
    int rc = PyModule_AddObjectRef(m, "_SpanRecord", t);
    Py_DECREF(t);
    if (rc < 0) return -1;
    if (!g_str_ask && !(g_str_ask = PyUnicode_InternFromString("ask"))) return -1;
    if (!g_str_tell && !(g_str_tell = PyUnicode_InternFromString("tell"))) return -1;
    if (!g_kw_timeout && !(g_kw_timeout = Py_BuildValue("(s)", "timeout"))) return -1;
    return 0;
}

/* _spans_configure(span_cls, otel_contextvar, otel_span_key): what drained
 * spans are made of, and where the current OpenTelemetry span is found
 * (None, None: not found that way). */
PyObject *zpy_spans_configure(PyObject *mod, PyObject *args) {
    PyObject *cls, *var, *key;
    if (!PyArg_ParseTuple(args, "OOO", &cls, &var, &key)) return NULL;
    if (cls != Py_None) {
        PyObject *base = PyObject_GetAttrString(mod, "_SpanRecord");
        int ok = base && PyType_Check(cls) &&
                 PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)base);
        Py_XDECREF(base);
        if (!ok) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "span_cls must subclass _SpanRecord");
            return NULL;
        }
    }
    if (var != Py_None && !PyContextVar_CheckExact(var)) {
        PyErr_SetString(PyExc_TypeError, "otel_contextvar must be a ContextVar or None");
        return NULL;
    }
    Py_XSETREF(g_span_cls, cls == Py_None ? NULL : Py_NewRef(cls));
    Py_XSETREF(g_otel_var, var == Py_None ? NULL : Py_NewRef(var));
    Py_XSETREF(g_otel_key, key == Py_None ? NULL : Py_NewRef(key));
    Py_CLEAR(g_otel_last);
    Py_RETURN_NONE;
}

/* _spans_enable(langs, capacity) */
PyObject *zpy_spans_enable(PyObject *mod, PyObject *args) {
    unsigned langs, cap;
    if (!PyArg_ParseTuple(args, "II", &langs, &cap)) return NULL;
    if (za_spans_enable(langs, cap) != ZA_OK) {
        PyErr_SetString(PyExc_ValueError, za_last_error());
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _spans_wait(min, timeout_s) -> spans buffered (the GIL is released) */
PyObject *zpy_spans_wait(PyObject *mod, PyObject *args) {
    Py_ssize_t min;
    double timeout;
    if (!PyArg_ParseTuple(args, "nd", &min, &timeout)) return NULL;
    if (min < 0 || !(timeout >= 0 && timeout <= 3600)) {
        PyErr_SetString(PyExc_ValueError, "min must be >= 0 and timeout in 0..3600 seconds");
        return NULL;
    }
    size_t n;
    Py_BEGIN_ALLOW_THREADS n = za_spans_wait((size_t)min, (uint32_t)(timeout * 1000));
    Py_END_ALLOW_THREADS return PyLong_FromSize_t(n);
}

/* _spans_quiesce(timeout_s) -> True if no recorded handler is running */
PyObject *zpy_spans_quiesce(PyObject *mod, PyObject *arg) {
    double timeout = PyFloat_AsDouble(arg);
    if (timeout == -1 && PyErr_Occurred()) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = za_spans_quiesce((uint32_t)(timeout > 0 ? timeout * 1000 : 0));
    Py_END_ALLOW_THREADS return PyBool_FromLong(rc == ZA_OK);
}

/* _spans_drain(max) -> [span_cls instance, ...] */
PyObject *zpy_spans_drain(PyObject *mod, PyObject *arg) {
    Py_ssize_t max = PyLong_AsSsize_t(arg);
    if (max == -1 && PyErr_Occurred()) return NULL;
    if (!g_span_cls) {
        PyErr_SetString(PyExc_RuntimeError, "spans are not configured (zactor.tracing.enable)");
        return NULL;
    }
    if (max <= 0) return PyList_New(0);
    if (max > 65536) max = 65536;
    za_span *buf = PyMem_Malloc((size_t)max * sizeof *buf);
    if (!buf) return PyErr_NoMemory();
    size_t n = za_spans_drain(buf, (size_t)max);
    PyObject *list = PyList_New((Py_ssize_t)n);
    PyTypeObject *cls = (PyTypeObject *)g_span_cls;
    for (size_t i = 0; list && i < n; i++) {
        PyObject *o = cls->tp_alloc(cls, 0);
        if (!o) {
            Py_CLEAR(list);
            break;
        }
        memcpy(SR(o), &buf[i], sizeof buf[i]);
        /* a span refers to no object that could refer back to it: the
         * collector need not traverse thousands of them per batch */
        if (PyObject_IS_GC(o)) PyObject_GC_UnTrack(o);
        PyList_SET_ITEM(list, (Py_ssize_t)i, o);
    }
    PyMem_Free(buf);
    return list;
}

PyObject *zpy_spans_dropped(PyObject *mod, PyObject *Py_UNUSED(x)) {
    return PyLong_FromUnsignedLongLong(za_spans_dropped());
}

/* The current OpenTelemetry span's context, read from its ContextVar
 * without calling into Python (a span seen before is not parsed again):
 * 1 found (out set), 0 none, -1 error. */
static int otel_current(za_trace *out) {
    if (!g_otel_var) return 0;
    PyObject *ctx = NULL;
    if (PyContextVar_Get(g_otel_var, NULL, &ctx) < 0) return -1;
    if (!ctx) return 0;
    PyObject *span = PyDict_Check(ctx) ? PyDict_GetItemWithError(ctx, g_otel_key) : NULL;
    Py_XINCREF(span);
    Py_DECREF(ctx);
    if (!span) return PyErr_Occurred() ? -1 : 0;
    if (span == g_otel_last) {
        Py_DECREF(span);
        *out = g_otel_last_t;
        return g_otel_last_ok;
    }
    int ok = 0;
    PyObject *sc = PyObject_CallMethod(span, "get_span_context", NULL);
    PyObject *valid = sc ? PyObject_GetAttrString(sc, "is_valid") : NULL;
    PyObject *tid = valid && PyObject_IsTrue(valid) ? PyObject_GetAttrString(sc, "trace_id") : NULL;
    PyObject *sid = tid ? PyObject_GetAttrString(sc, "span_id") : NULL;
    PyObject *fl = sid ? PyObject_GetAttrString(sc, "trace_flags") : NULL;
    za_trace t;
    memset(&t, 0, sizeof t);
    if (fl && int_to_id(tid, t.trace_id, 16) == 0 && int_to_id(sid, t.span_id, 8) == 0) {
        long f = PyLong_AsLong(fl);
        if (!(f == -1 && PyErr_Occurred())) {
            t.flags = (uint8_t)f;
            ok = 1;
        }
    }
    Py_XDECREF(sc);
    Py_XDECREF(valid);
    Py_XDECREF(tid);
    Py_XDECREF(sid);
    Py_XDECREF(fl);
    if (PyErr_Occurred()) {
        Py_DECREF(span);
        return -1;
    }
    Py_XSETREF(g_otel_last, span); /* keeps it alive: its address is not reused */
    g_otel_last_t = t;
    g_otel_last_ok = ok;
    *out = t;
    return ok;
}

/* _traced(kind, ref, msg, timeout): ref.ask(msg, timeout=timeout) (kind 2)
 * or ref.tell(msg) (kind 3) inside a span recorded by the runtime: a child
 * of the current OpenTelemetry span, else of this thread's trace context,
 * else the root of a new trace. The message carries the span's context. */
PyObject *zpy_traced(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "_traced(kind, ref, msg, timeout)");
        return NULL;
    }
    long kind = PyLong_AsLong(args[0]);
    if (kind == -1 && PyErr_Occurred()) return NULL;
    if (!g_span_cls || !za_spans_enabled()) { /* tracing.enable() not in force: a plain call */
        if (kind == ZA_SPAN_ASK) {
            PyObject *argv[4] = {NULL, args[1], args[2], args[3]};
            return PyObject_VectorcallMethod(g_str_ask, argv + 1,
                                             2 | PY_VECTORCALL_ARGUMENTS_OFFSET, g_kw_timeout);
        }
        return PyObject_VectorcallMethod(g_str_tell, (PyObject *[]){args[1], args[2]}, 2, NULL);
    }
    za_trace parent;
    int have = otel_current(&parent);
    if (have < 0) return NULL;
    modstate *st = zpy_state(mod);
    /* (not an ActorRef: the call below says so) */
    za_ref target = st && PyObject_TypeCheck(args[1], (PyTypeObject *)st->Ref_Type)
                        ? ((RefObject *)args[1])->ref
                        : 0;
    za_trace saved;
    int had = za_trace_current(&saved) == ZA_OK;
    if (have) za_trace_set_current(&parent);
    za_span_scope sc;
    za_span_begin(&sc, (int)kind, target);
    PyObject *r;
    if (kind == ZA_SPAN_ASK) {
        PyObject *argv[4] = {NULL, args[1], args[2], args[3]};
        r = PyObject_VectorcallMethod(g_str_ask, argv + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                      g_kw_timeout);
    } else {
        r = PyObject_VectorcallMethod(g_str_tell, (PyObject *[]){args[1], args[2]}, 2, NULL);
    }
    za_span_end(&sc, r == NULL);
    za_trace_set_current(had ? &saved : NULL);
    return r;
}
