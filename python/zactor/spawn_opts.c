/*
 * spawn_opts.c - spawn keyword options (name, restart, capacity, on_full,
 * ...) and the supervision strategy as za_spawn_opts: for Python actors
 * (spawn) and Lua actors (spawn_lua).
 */
#include "glue.h"

/* strat: how this actor supervises its children (a Python actor class's
 * `strategy` attribute, spawn_lua's strategy= keyword), NULL for the default. */
int zpy_parse_spawn_opts(SystemObject *s, PyObject *strat, PyObject *kw, za_spawn_opts *o,
                         PyObject **name_keep, int *blocking) {
    za_spawn_opts_init(o);
    *blocking = 0;
    if (strat) {
        const char *sv = PyUnicode_Check(strat) ? PyUnicode_AsUTF8(strat) : NULL;
        if (!sv && strat != Py_None) {
            PyErr_SetString(PyExc_TypeError, "strategy must be a str");
            return -1;
        }
        if (!sv || !strcmp(sv, "one_for_one"))
            o->strategy = ZA_ONE_FOR_ONE;
        else if (!strcmp(sv, "one_for_all"))
            o->strategy = ZA_ONE_FOR_ALL;
        else if (!strcmp(sv, "rest_for_one"))
            o->strategy = ZA_REST_FOR_ONE;
        else if (!strcmp(sv, "stop"))
            o->strategy = ZA_STRATEGY_STOP;
        else if (!strcmp(sv, "escalate"))
            o->strategy = ZA_STRATEGY_ESCALATE;
        else {
            PyErr_Format(PyExc_ValueError,
                         "unknown strategy %R: one_for_one, one_for_all, rest_for_one, stop, "
                         "escalate",
                         strat);
            return -1;
        }
    }
    if (!kw) return 0;
    PyObject *v;
#define OPT(nm) ((v = PyDict_GetItemString(kw, nm)) != NULL && v != Py_None)
    if (OPT("name")) {
        if (!PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "name must be a str");
            return -1;
        }
        *name_keep = Py_NewRef(v);
        o->name = zpy_cstring(v, "name");
        if (!o->name) return -1;
    }
    if (OPT("restart")) {
        const char *r = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : "";
        if (!strcmp(r, "permanent"))
            o->restart = ZA_RESTART_PERMANENT;
        else if (!strcmp(r, "transient"))
            o->restart = ZA_RESTART_TRANSIENT;
        else if (!strcmp(r, "temporary"))
            o->restart = ZA_RESTART_TEMPORARY;
        else {
            PyErr_SetString(PyExc_ValueError,
                            "restart must be 'permanent', 'transient' or 'temporary'");
            return -1;
        }
    }
    if (OPT("max_restarts")) {
        unsigned long long n;
        if (zpy_count(v, "max_restarts", 0, UINT32_MAX, &n) < 0) return -1;
        /* 0 means "default" to the runtime; the smallest budget it offers is 1 */
        o->max_restarts = n ? (uint32_t)n : 1;
        if (n == 0) o->restart = ZA_RESTART_TEMPORARY;
    }
    if (OPT("within")) {
        double w;
        if (zpy_duration(v, "within", 0, &w) < 0) return -1;
        o->within_ms = w > 0 ? zpy_seconds_to_ms(w) : 1;
    }
    if (OPT("backoff")) {
        double lo = 0, hi = 0;
        if (PyTuple_Check(v)) {
            PyObject *lo_o, *hi_o;
            if (!PyArg_ParseTuple(v, "OO:backoff", &lo_o, &hi_o) ||
                zpy_duration(lo_o, "backoff", 0, &lo) < 0 ||
                zpy_duration(hi_o, "backoff", 0, &hi) < 0)
                return -1;
            if (hi < lo) {
                PyErr_SetString(PyExc_ValueError, "backoff (min, max) needs min <= max");
                return -1;
            }
        } else {
            if (zpy_duration(v, "backoff", 0, &lo) < 0) return -1;
            hi = lo * 32 > ZPY_MAX_SECONDS ? ZPY_MAX_SECONDS : lo * 32;
        }
        o->backoff_min_ms = zpy_seconds_to_ms(lo);
        o->backoff_max_ms = zpy_seconds_to_ms(hi);
    }
    if (OPT("capacity")) {
        unsigned long long n;
        if (zpy_count(v, "capacity", 0, UINT32_MAX, &n) < 0) return -1;
        o->capacity = (uint32_t)n;
    }
    if (OPT("on_full")) {
        const char *r = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : "";
        if (!strcmp(r, "fail"))
            o->full_policy = ZA_FULL_FAIL;
        else if (!strcmp(r, "drop_newest"))
            o->full_policy = ZA_FULL_DROP_NEWEST;
        else if (!strcmp(r, "drop_oldest"))
            o->full_policy = ZA_FULL_DROP_OLDEST;
        else if (!strcmp(r, "block")) {
            o->full_policy = ZA_FULL_BLOCK;
            *blocking = 1;
        } else {
            PyErr_SetString(PyExc_ValueError,
                            "on_full must be 'fail', 'drop_newest', 'drop_oldest' or 'block'");
            return -1;
        }
    }
    o->block_timeout_ms = 1000;
    if (OPT("block_timeout")) {
        double w;
        if (zpy_duration(v, "block_timeout", ZPY_DUR_INF_OK, &w) < 0) return -1;
        o->block_timeout_ms = w > 0 ? zpy_seconds_to_ms(w) : 0;
    }
#undef OPT
    static const char *known[] = {"name",     "restart", "max_restarts",  "within", "backoff",
                                  "capacity", "on_full", "block_timeout", NULL};
    Py_ssize_t pos = 0;
    PyObject *k;
    while (PyDict_Next(kw, &pos, &k, &v)) {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            if (PyUnicode_CompareWithASCIIString(k, known[i]) == 0) ok = 1;
        if (!ok) {
            PyErr_Format(PyExc_TypeError,
                         "spawn() got an unexpected keyword %R (pass the actor's own keyword "
                         "arguments through kwargs={...})",
                         k);
            return -1;
        }
    }
    return 0;
}
