/*
 * introspect.c - what the runtime's introspection (csrc/introspect.c, the
 * HTTP endpoint) needs from the Python glue: how to name a Python object
 * payload in a dead letter's preview, and System.http_url.
 */
#include "glue.h"

/* Runs on whichever thread produces the dead letter, maybe without the
 * GIL: it reads only the object's type pointer and the type's tp_name. The
 * message holds a reference to the object, the object one to its type, so
 * both stay alive; no refcount is touched. */
static void describe_py(void *p, char *buf, size_t cap) {
    PyTypeObject *t = Py_TYPE((PyObject *)p);
    snprintf(buf, cap, "%s", t && t->tp_name ? t->tp_name : "object");
}

int zpy_introspect_init(void) {
    if (za_ptr_describer_add(zpy_py_obj_dtor, describe_py) != ZA_OK) {
        PyErr_SetString(PyExc_RuntimeError, za_last_error());
        return -1;
    }
    return 0;
}

PyObject *zpy_system_http_url(SystemObject *s, void *Py_UNUSED(x)) {
    const char *u = s->sys ? za_system_http_url(s->sys) : NULL;
    if (!u) Py_RETURN_NONE;
    return PyUnicode_FromString(u);
}
