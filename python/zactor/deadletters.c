/*
 * deadletters.c - dead letters: the runtime's hook (any thread, no GIL)
 * queues them; delivery to System.on_dead_letter's callback runs under the
 * GIL from the deferred queue.
 */
#include "glue.h"

void zpy_dl_hook(const za_dead_letter *dl, void *ud) {
    SystemObject *s = ud;
    int is_timer = dl->tag == TAG_TIMER && dl->msg && dl->msg->len == sizeof(uint64_t);
    if (!atomic_load(&s->dl_on) && !is_timer) return;
    size_t len = 0;
    const za_msg *m = dl->msg;
    if (m && m->kind == ZA_PAYLOAD_BYTES && m->len) len = m->len;
    defer_item *it = calloc(1, sizeof *it + len);
    if (!it) return;
    it->kind = DF_DL;
    it->sys = s;
    it->target = dl->target;
    it->sender = dl->sender;
    it->tag = dl->tag;
    it->reason = (int)dl->reason;
    if (m && m->kind == ZA_PAYLOAD_PTR && m->ptr && (dl->tag == TAG_PY || dl->tag == TAG_PYEXC)) {
        it->obj = m->ptr;
        if (tl_gil) {
            Py_INCREF(it->obj);
            it->owned = 1;
        }
        /* else borrowed: the message's dtor runs next on this thread and,
         * without the GIL, defers its decref behind this item (FIFO). */
    }
    if (len) {
        memcpy(it->data, m->data, len);
        it->len = len;
    }
    zpy_defer_push(it);
}

void zpy_deliver_dead_letter(defer_item *it) {
    SystemObject *s = it->sys;
    PyObject *msg = NULL;
    if (it->tag == TAG_TIMER && it->len == sizeof(uint64_t)) {
        uint64_t key;
        memcpy(&key, it->data, sizeof key);
        PyObject *k = PyLong_FromUnsignedLongLong(key);
        PyObject *entry = k && s->timers ? PyDict_GetItemWithError(s->timers, k) : NULL;
        if (entry) {
            msg = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
            if (!PyObject_IsTrue(PyTuple_GET_ITEM(entry, 1))) PyDict_DelItem(s->timers, k);
        }
        Py_XDECREF(k);
        PyErr_Clear();
    } else if (it->obj) {
        msg = it->obj;
        if (!it->owned) Py_INCREF(msg);
        it->obj = NULL;
    } else if (it->len) {
        msg = zpy_bytes_to_py(s, it->data, it->len);
        if (!msg) {
            /* MessagePack that makes no Python value (e.g. an unhashable
             * key): the dead letter carries the raw bytes */
            PyErr_Clear();
            msg = PyBytes_FromStringAndSize((const char *)it->data, (Py_ssize_t)it->len);
            if (!msg) PyErr_Clear();
        }
    }
    PyObject *cb = s->dl_callback;
    if (!cb || !s->st->dead_letter_cls || !msg) {
        if (cb && !msg && !it->len && !it->obj) msg = Py_NewRef(Py_None);
        if (!cb || !msg || !s->st->dead_letter_cls) {
            Py_XDECREF(msg);
            return;
        }
    }
    static const char *reasons[] = {"dead_target", "dropped", "failed", "late_reply", "shutdown"};
    const char *reason = it->reason >= 0 && it->reason < 5 ? reasons[it->reason] : "unknown";
    PyObject *target = it->target ? zpy_new_ref(s, it->target, 0) : Py_NewRef(Py_None);
    PyObject *sender = it->sender ? zpy_new_ref(s, it->sender, 0) : Py_NewRef(Py_None);
    PyObject *dl = NULL;
    if (target && sender)
        dl = PyObject_CallFunction(s->st->dead_letter_cls, "OOOs", target, sender, msg, reason);
    Py_XDECREF(target);
    Py_XDECREF(sender);
    Py_DECREF(msg);
    Py_INCREF(cb);
    PyObject *r = dl ? PyObject_CallOneArg(cb, dl) : NULL;
    if (!r)
        PyErr_WriteUnraisable(cb);
    else
        Py_DECREF(r);
    Py_DECREF(cb);
    Py_XDECREF(dl);
}
