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
