/*
 * errors.c - runtime error codes as Python exceptions, and the check every
 * call makes that its system is usable.
 */
#include "glue.h"

int zpy_check_init(SystemObject *s) {
    if (!s->st) {
        PyErr_Format(PyExc_RuntimeError,
                     "this %.100s was never initialised: a subclass's __init__ must call "
                     "super().__init__() (and System.__new__ alone makes no system)",
                     Py_TYPE(s)->tp_name);
        return -1;
    }
    return 0;
}

int zpy_check_sys(SystemObject *s) {
    if (zpy_check_init(s) < 0) return -1;
    if (s->fork_gen != g_fork_gen) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this zactor.System was created before os.fork(): its worker threads do "
                        "not exist in the child process; create a new System in the child");
        return -1;
    }
    if (s->closed || !s->sys) {
        PyErr_SetString(s->st->ActorDeadError, "the actor system is shut down");
        return -1;
    }
    return 0;
}

PyObject *zpy_raise_za(SystemObject *s, int rc, const char *what) {
    modstate *st = s->st;
    const char *detail = za_last_error();
    if (!detail || !*detail) detail = za_strerror(rc);
    PyObject *exc;
    switch (rc) {
    case ZA_EDEAD:
    case ZA_ESHUTDOWN:
        exc = st->ActorDeadError;
        break;
    case ZA_EFULL:
    case ZA_EDROPPED:
        exc = st->MailboxFull;
        break;
    case ZA_ETIMEDOUT:
        exc = st->AskTimeout;
        break;
    case ZA_EEXIST:
        exc = PyExc_ValueError;
        break;
    case ZA_EINVAL:
    case ZA_ETOOBIG:
        exc = PyExc_ValueError;
        break;
    case ZA_EVALUE:
        exc = PyExc_TypeError;
        break;
    case ZA_ENOMEM:
        return PyErr_NoMemory();
    case ZA_ESTATE:
        exc = PyExc_RuntimeError;
        break;
    case ZA_ENODEDOWN:
        exc = st->NodeDownError ? st->NodeDownError : st->ActorDeadError;
        break;
    default:
        exc = st->ActorError;
        break;
    }
    PyErr_Format(exc, "%s: %s", what, detail);
    return NULL;
}

const char *zpy_cstring(PyObject *o, const char *what) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n);
    if (s && (Py_ssize_t)strlen(s) != n) {
        PyErr_Format(PyExc_ValueError, "%s must not contain a NUL character", what);
        return NULL;
    }
    return s;
}
