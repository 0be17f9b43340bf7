/*
 * answer.c - the outcome of an ask (za_answer) as a Python value or
 * exception: shared by the blocking ask and Future.
 */
#include "glue.h"

/* AskTimeout for a wait of timeout seconds. (PyErr_Format has no %g: the
 * text is formatted here.) */
void zpy_raise_ask_timeout(SystemObject *s, double timeout) {
    char buf[64];
    snprintf(buf, sizeof buf, "no reply within %.3g s", timeout);
    PyErr_SetString(s->st->AskTimeout, buf);
}

/* Raise an exception object, keeping its traceback. */
void zpy_raise_exc_obj(PyObject *exc) {
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), Py_NewRef(exc), tb);
}

/*
 * Turn an answer into *res or *exc (exactly one is set, new references).
 * A PTR payload moves out of the answer. GIL held.
 */
void zpy_answer_to_py(SystemObject *s, za_answer *a, double timeout, PyObject **res,
                      PyObject **exc) {
    modstate *st = s->st;
    *res = *exc = NULL;
    if (a->status == ZA_OK) {
        if (a->tag == TAG_PY && a->kind == ZA_PAYLOAD_PTR) {
            *res = a->ptr ? (PyObject *)a->ptr : Py_NewRef(Py_None);
            a->ptr = NULL;
            a->dtor = NULL;
            return;
        }
        if (a->tag == TAG_PYEXC && a->kind == ZA_PAYLOAD_PTR && a->ptr) {
            *exc = (PyObject *)a->ptr;
            a->ptr = NULL;
            a->dtor = NULL;
            return;
        }
        if (a->tag == ZA_TAG_PICKLE)
            *res = zpy_unpickle_answer(s, a->data, a->len); /* (pickle.c) */
        else
            *res = zpy_bytes_to_py(s, a->data, a->len);
        if (*res) return;
    } else {
        PyObject *type;
        char buf[300];
        const char *text = a->error ? a->error : za_strerror(a->status);
        switch (a->status) {
        case ZA_ETIMEDOUT:
            type = st->AskTimeout;
            snprintf(buf, sizeof buf, "no reply within %.3g s", timeout);
            text = buf;
            break;
        case ZA_ENODEDOWN:
            type = st->NodeDownError;
            break;
        case ZA_EDEAD:
        case ZA_ESHUTDOWN:
            type = st->ActorDeadError;
            break;
        case ZA_EDROPPED:
        case ZA_EFULL:
            type = st->MailboxFull;
            break;
        case ZA_ECANCELLED:
            type = st->CancelledError;
            break;
        case ZA_EFAILED:
        case ZA_ESTART: /* (e.g. a grain whose activation failed) */
            type = st->ActorFailed;
            break;
        default:
            type = st->ActorError;
            break;
        }
        *exc = PyObject_CallFunction(type, "s", text);
        if (*exc) return;
    }
    /* building the value failed: that error is the outcome */
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v && tb) PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    *exc = v ? v : Py_NewRef(Py_None); /* (never NULL) */
}
