/*
 * timers.c - send_after/send_interval and the Timer handle. A timer to a
 * Python actor carries a key; the object itself waits in System.timers.
 */
#include "glue.h"

typedef struct TimerObject {
    PyObject ob_base;
    SystemObject *sys;
    za_timer_id id;
    uint64_t key;
    int active;
} TimerObject;

static PyObject *start_timer(SystemObject *s, double delay, double interval, RefObject *to,
                             PyObject *msg) {
    if (zpy_check_sys(s) < 0) return NULL;
    /* (checked by zpy_timer_args under the one rule: finite, in range) */
    uint32_t dms = delay > 0 ? zpy_seconds_to_ms(delay) : 0;
    uint32_t ims = interval > 0 ? zpy_seconds_to_ms(interval) : 0;
    za_timer_id id = 0;
    uint64_t key = 0;
    int rc;
    if (zpy_ref_kind(to) == 2) {
        za_pack *p = za_pack_new();
        if (!p) return PyErr_NoMemory();
        if (zpy_pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            return NULL;
        }
        if (interval > 0)
            rc = za_send_interval(s->sys, dms, ims, to->ref, 0, za_pack_data(p), za_pack_size(p),
                                  &id);
        else
            rc = za_send_after(s->sys, dms, to->ref, 0, za_pack_data(p), za_pack_size(p), &id);
        za_pack_free(p);
    } else {
        /* the timer carries a key; the object waits in s->timers */
        key = ++s->next_timer_key;
        PyObject *k = PyLong_FromUnsignedLongLong(key);
        PyObject *entry = Py_BuildValue("(Oi)", msg, interval > 0);
        if (!k || !entry || PyDict_SetItem(s->timers, k, entry) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(entry);
            return NULL;
        }
        Py_DECREF(entry);
        if (interval > 0)
            rc = za_send_interval(s->sys, dms, ims, to->ref, TAG_TIMER, &key, sizeof key, &id);
        else
            rc = za_send_after(s->sys, dms, to->ref, TAG_TIMER, &key, sizeof key, &id);
        if (rc != ZA_OK) PyDict_DelItem(s->timers, k);
        Py_DECREF(k);
    }
    if (rc != ZA_OK) return zpy_raise_za(s, rc, "timer");
    TimerObject *t = PyObject_New(TimerObject, s->st->Timer_Type);
    if (!t) return NULL;
    Py_INCREF(s);
    t->sys = s;
    t->id = id;
    t->key = key;
    t->active = 1;
    return (PyObject *)t;
}

static PyObject *Timer_cancel(TimerObject *t, PyObject *Py_UNUSED(ignored)) {
    SystemObject *s = t->sys;
    if (!t->active || s->closed || s->fork_gen != g_fork_gen) Py_RETURN_FALSE;
    t->active = 0;
    int rc = za_timer_cancel(s->sys, t->id);
    if (t->key) {
        PyObject *k = PyLong_FromUnsignedLongLong(t->key);
        if (!k) return NULL;
        /* also stops a periodic timer whose last send is already queued */
        if (PyDict_DelItem(s->timers, k) < 0) PyErr_Clear();
        Py_DECREF(k);
    }
    return PyBool_FromLong(rc == ZA_OK);
}

static void Timer_dealloc(TimerObject *t) {
    PyTypeObject *tp = Py_TYPE(t);
    Py_XDECREF(t->sys);
    PyObject_Free(t);
    Py_DECREF(tp);
}

static PyMethodDef Timer_methods[] = {
    {"cancel", (PyCFunction)Timer_cancel, METH_NOARGS,
     "Cancel: no (more) sends. True if it was cancelled before firing (one-shot) or while "
     "running (periodic)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Timer_slots[] = {
    {Py_tp_dealloc, Timer_dealloc},
    {Py_tp_methods, Timer_methods},
    {Py_tp_doc, "A handle on a send_after()/send_interval() timer."},
    {0, NULL},
};

PyType_Spec zpy_Timer_spec = {
    "zactor.Timer", sizeof(TimerObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, Timer_slots};

PyObject *zpy_timer_args(SystemObject *s, PyObject *args, PyObject *kw, int periodic) {
    static char *kwlist1[] = {"delay", "ref", "msg", NULL};
    static char *kwlist2[] = {"interval", "ref", "msg", "delay", NULL};
    double a, delay;
    PyObject *a_o, *delay_o = NULL, *ref, *msg;
    if (zpy_check_sys(s) < 0) return NULL;
    if (periodic) {
        if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|O:send_interval", kwlist2, &a_o, &ref, &msg,
                                         &delay_o) ||
            zpy_duration(a_o, "interval", ZPY_DUR_POSITIVE, &a) < 0 ||
            zpy_duration_opt(delay_o, "delay", 0, a, &delay) < 0)
            return NULL;
    } else {
        if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO:send_after", kwlist1, &a_o, &ref, &msg) ||
            zpy_duration(a_o, "delay", 0, &a) < 0)
            return NULL;
    }
    RefObject *r;
    if (zpy_as_ref(s, ref, &r) < 0) return NULL;
    return periodic ? start_timer(s, delay, a, r, msg) : start_timer(s, a, 0, r, msg);
}
