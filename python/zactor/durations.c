/*
 * durations.c - the one rule for every number the Python API takes:
 * durations (seconds) and counts.
 *
 *  - NaN and negative numbers are errors (ValueError naming the parameter);
 *  - inf means "no limit" where that makes sense (timeouts, join, shutdown,
 *    block_timeout) and is an error where it does not (a send_after delay,
 *    an interval, a backoff, a restart window);
 *  - a value out of the range the runtime can represent is an error
 *    (OverflowError naming the parameter and the range), never a silent
 *    wrap: the runtime counts milliseconds in 32 bits, so a finite
 *    duration is at most ZPY_MAX_SECONDS (about 49.7 days).
 */
#include "glue.h"

#include <math.h>

int zpy_duration(PyObject *o, const char *name, int flags, double *out) {
    if (!PyFloat_Check(o) && !PyLong_Check(o)) {
        if (PyBool_Check(o) || !PyNumber_Check(o)) {
            PyErr_Format(PyExc_TypeError, "%s must be a number of seconds, not %.100s", name,
                         Py_TYPE(o)->tp_name);
            return -1;
        }
    }
    double t = PyFloat_AsDouble(o);
    if (t == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear(); /* an int beyond a double: out of range below */
            int sign = 0;
            if (PyLong_Check(o)) (void)PyLong_AsLongLongAndOverflow(o, &sign);
            if (sign > 0) goto range;
            if (sign < 0) {
                PyErr_Format(PyExc_ValueError, "%s must be >= 0 seconds (got %R)", name, o);
                return -1;
            }
        }
        return -1;
    }
    if (isnan(t)) {
        PyErr_Format(PyExc_ValueError, "%s must be a number of seconds, not NaN", name);
        return -1;
    }
    if (t < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0 seconds (got %R)", name, o);
        return -1;
    }
    if (t == 0 && (flags & ZPY_DUR_POSITIVE)) {
        PyErr_Format(PyExc_ValueError, "%s must be > 0 seconds", name);
        return -1;
    }
    if (isinf(t)) {
        if (flags & ZPY_DUR_INF_OK) {
            *out = INFINITY;
            return 0;
        }
        PyErr_Format(PyExc_ValueError, "%s must be finite (inf is not a valid %s)", name, name);
        return -1;
    }
    if (t > ZPY_MAX_SECONDS) goto range;
    *out = t;
    return 0;
range:
    if (flags & ZPY_DUR_INF_OK)
        PyErr_Format(PyExc_OverflowError,
                     "%s must be at most %d seconds (about 49.7 days), or inf for no limit", name,
                     (int)ZPY_MAX_SECONDS);
    else
        PyErr_Format(PyExc_OverflowError, "%s must be at most %d seconds (about 49.7 days)", name,
                     (int)ZPY_MAX_SECONDS);
    return -1;
}

int zpy_duration_opt(PyObject *o, const char *name, int flags, double dflt, double *out) {
    if (!o || o == Py_None) {
        *out = dflt;
        return 0;
    }
    return zpy_duration(o, name, flags, out);
}

uint32_t zpy_seconds_to_ms(double t) {
    if (isinf(t)) return ZPY_FOREVER_MS;
    double ms = t * 1000.0 + 0.5;
    if (ms >= (double)ZPY_FOREVER_MS) return ZPY_FOREVER_MS - 1;
    uint32_t r = (uint32_t)ms;
    if (r == 0 && t > 0) r = 1; /* a positive duration never becomes "none" */
    return r;
}

int zpy_count(PyObject *o, const char *name, unsigned long long lo, unsigned long long hi,
              unsigned long long *out) {
    if (PyFloat_Check(o) || !PyIndex_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(o)->tp_name);
        return -1;
    }
    PyObject *i = PyNumber_Index(o);
    if (!i) return -1;
    int sign = 0;
    long long sv = PyLong_AsLongLongAndOverflow(i, &sign);
    int neg = sign < 0 || (sign == 0 && sv < 0);
    unsigned long long v = neg         ? 0
                           : sign == 0 ? (unsigned long long)sv
                                       : PyLong_AsUnsignedLongLong(i);
    int over = !neg && v == (unsigned long long)-1 && PyErr_Occurred();
    if (over) PyErr_Clear();
    if (neg || v < lo) {
        PyErr_Format(PyExc_ValueError, "%s must be >= %llu (got %R)", name, lo, i);
        Py_DECREF(i);
        return -1;
    }
    if (over || v > hi) {
        PyErr_Format(PyExc_OverflowError, "%s must be in %llu..%llu (got %R)", name, lo, hi, i);
        Py_DECREF(i);
        return -1;
    }
    Py_DECREF(i);
    *out = v;
    return 0;
}
