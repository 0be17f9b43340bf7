/*
 * store.c - zactor.Store: the storage layer (csrc/store/, za_store_*) for
 * Python callers outside actors. Values are packed with the same encoder as
 * messages (the value model); each call submits one request and waits for
 * its completion with the GIL released, in slices, so Ctrl-C works.
 *
 * Keys are a str (type "", id = the str) or a (type, id) pair of str.
 */
#include "glue.h"

typedef struct StoreObject {
    PyObject ob_base;
    za_store *st;
    PyObject *url;
    PyObject *system; /* a zactor.System (decodes actor refs) or None */
    double timeout;
} StoreObject;

/* ------------------------------------------------------------ exceptions */

static PyObject *module_of(PyObject *self) {
    return PyType_GetModuleByDef(Py_TYPE(self), &zpy_module);
}

/* A storage error as the zactor exception a user catches (m: the _zactor
 * module); grains raise theirs through it too (grain.c). */
PyObject *zpy_raise_store_error(PyObject *m, int rc, const char *text) {
    const char *name;
    switch (rc) {
    case ZA_ECONFLICT:
        name = "VersionConflict";
        break;
    case ZA_EFENCED:
        name = "Fenced";
        break;
    case ZA_ECONNECT:
        name = "StoreUnavailable";
        break;
    case ZA_EAUTH:
        name = "StoreAuthError";
        break;
    case ZA_ETIMEDOUT:
        name = "StoreTimeout";
        break;
    case ZA_EINVAL:
    case ZA_ETOOBIG:
        PyErr_SetString(PyExc_ValueError, text);
        return NULL;
    case ZA_ENOMEM:
        return PyErr_NoMemory();
    default:
        name = "StoreError";
        break;
    }
    PyObject *exc = PyObject_GetAttrString(m, name);
    if (!exc) return NULL;
    PyErr_SetString(exc, text);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *raise_store(PyObject *self, int rc, const char *text) {
    PyObject *m = module_of(self);
    if (!m) return NULL;
    return zpy_raise_store_error(m, rc, text);
}

/* ----------------------------------------------------------- one request */

typedef struct pywait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned;
    za_store_result res;
} pywait;

static void pywait_free(pywait *w) {
    za_store_result_free(&w->res);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

/* On a storage thread, without the GIL: never touches Python. */
static void done_cb(za_store_result *res, void *ud) {
    pywait *w = ud;
    pthread_mutex_lock(&w->mu);
    if (w->abandoned) { /* the caller left (Ctrl-C or timeout): ours to free */
        pthread_mutex_unlock(&w->mu);
        pywait_free(w);
        return;
    }
    w->res = *res;
    memset(res, 0, sizeof *res);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Submit and wait. 0 with *out filled (any status), -1 with an exception. */
static int call(StoreObject *self, const za_store_req *q, za_store_result *out) {
    if (!self->st) {
        PyErr_SetString(PyExc_RuntimeError, "the store is closed");
        return -1;
    }
    if (zpy_refuse_in_actor("a zactor.Store call") < 0) return -1;
    pywait *w = calloc(1, sizeof *w);
    if (!w) {
        PyErr_NoMemory();
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = za_store_submit(self->st, q, done_cb, w);
    if (rc != ZA_OK) {
        pywait_free(w);
        raise_store((PyObject *)self, rc, za_last_error());
        return -1;
    }
    uint64_t deadline = zpy_deadline_after(self->timeout);
    int done = 0;
    for (;;) {
        uint32_t slice = zpy_slice_ms(deadline);
        Py_BEGIN_ALLOW_THREADS;
        pthread_mutex_lock(&w->mu);
        if (!w->done && slice) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)slice * 1000000ull;
            ts.tv_sec += (time_t)(ns / 1000000000ull);
            ts.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        done = w->done;
        pthread_mutex_unlock(&w->mu);
        Py_END_ALLOW_THREADS;
        if (done) break;
        int interrupted = PyErr_CheckSignals() < 0;
        if (interrupted || !zpy_slice_ms(deadline)) {
            pthread_mutex_lock(&w->mu);
            done = w->done;
            if (!done) w->abandoned = 1; /* done_cb frees it */
            pthread_mutex_unlock(&w->mu);
            if (done) break;
            if (interrupted) return -1;
            raise_store((PyObject *)self, ZA_ETIMEDOUT,
                        "the store did not answer in time (the request may still complete)");
            return -1;
        }
    }
    *out = w->res;
    memset(&w->res, 0, sizeof w->res);
    pywait_free(w);
    return 0;
}

/* A failed result as an exception (-1), or 0. */
static int check(StoreObject *self, za_store_result *r, int ok_status) {
    if (r->status == ZA_OK || r->status == ok_status) return 0;
    raise_store((PyObject *)self, r->status, r->error ? r->error : za_strerror(r->status));
    za_store_result_free(r);
    return -1;
}

/* ------------------------------------------------------------ arguments */

/* key: str or (type, id). Borrowed UTF-8 pointers valid while key lives. */
static int parse_key(PyObject *key, const char **type, const char **id) {
    PyObject *t = NULL, *i = key;
    if (PyTuple_Check(key)) {
        if (PyTuple_GET_SIZE(key) != 2) goto bad;
        t = PyTuple_GET_ITEM(key, 0);
        i = PyTuple_GET_ITEM(key, 1);
        if (!PyUnicode_Check(t)) goto bad;
    }
    if (!PyUnicode_Check(i)) goto bad;
    Py_ssize_t n;
    *type = "";
    if (t && !(*type = PyUnicode_AsUTF8AndSize(t, &n))) return -1;
    if (t && (Py_ssize_t)strlen(*type) != n) goto nul;
    if (!(*id = PyUnicode_AsUTF8AndSize(i, &n))) return -1;
    if ((Py_ssize_t)strlen(*id) != n) goto nul;
    return 0;
nul:
    PyErr_SetString(PyExc_ValueError, "a store key must not contain NUL characters");
    return -1;
bad:
    PyErr_Format(PyExc_TypeError, "a store key is a str or a (type, id) pair of str, not %.100R",
                 key);
    return -1;
}

static za_pack *pack(PyObject *self, PyObject *value) {
    PyObject *m = module_of(self);
    if (!m) return NULL;
    za_pack *p = za_pack_new();
    if (!p) {
        PyErr_NoMemory();
        return NULL;
    }
    if (zpy_pack_obj(zpy_state(m), p, value, 0) < 0) {
        za_pack_free(p);
        return NULL;
    }
    return p;
}

static int has_ref(const za_value *v) {
    if (v->type == ZA_V_REF) return 1;
    if (v->type == ZA_V_ARRAY)
        for (uint32_t i = 0; i < v->v.array.n; i++)
            if (has_ref(&v->v.array.items[i])) return 1;
    if (v->type == ZA_V_MAP)
        for (uint32_t i = 0; i < v->v.map.n; i++)
            if (has_ref(&v->v.map.keys[i]) || has_ref(&v->v.map.vals[i])) return 1;
    return 0;
}

static PyObject *unpack(StoreObject *self, const void *data, size_t len) {
    za_doc *d = NULL;
    if (za_doc_decode(data, len, &d) != ZA_OK)
        return PyBytes_FromStringAndSize(data, (Py_ssize_t)len); /* not ours: raw bytes */
    PyObject *r;
    if (self->system == Py_None && has_ref(za_doc_root(d))) {
        PyErr_SetString(PyExc_TypeError, "the stored value holds an actor reference: open the "
                                         "store with system=... to read it");
        r = NULL;
    } else
        r = zpy_value_to_py(self->system == Py_None ? NULL : (SystemObject *)self->system,
                            za_doc_root(d));
    za_doc_free(d);
    return r;
}

static int parse_u64(PyObject *o, const char *what, uint64_t *out) {
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError) ||
            PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s must be an int >= 0, not %.100R", what, o);
        }
        return -1;
    }
    *out = v;
    return 0;
}

/* fence=: a fencing token (int >= 0, below 2**63; 0 or None: not fenced). */
static int parse_fence(PyObject *o, uint64_t *out) {
    *out = 0;
    if (!o || o == Py_None) return 0;
    return parse_u64(o, "fence", out);
}

/* --------------------------------------------------------------- methods */

static PyObject *Store_read(StoreObject *self, PyObject *key) {
    za_store_req q = {.op = ZA_STORE_READ};
    if (parse_key(key, &q.type, &q.id) < 0) return NULL;
    za_store_result r;
    if (call(self, &q, &r) < 0 || check(self, &r, ZA_ENOTFOUND) < 0) return NULL;
    PyObject *out = NULL;
    if (r.status == ZA_ENOTFOUND)
        out = Py_NewRef(Py_None);
    else {
        PyObject *v = unpack(self, r.data, r.len);
        if (v) out = Py_BuildValue("(NK)", v, (unsigned long long)r.version);
    }
    za_store_result_free(&r);
    return out;
}

static PyObject *Store_write(StoreObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"key", "value", "version", "fence", NULL};
    PyObject *key, *value, *ver, *fence = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|$O:write", kwlist, &key, &value, &ver, &fence))
        return NULL;
    za_store_req q = {.op = ZA_STORE_WRITE};
    if (parse_key(key, &q.type, &q.id) < 0 || parse_u64(ver, "version", &q.version) < 0 ||
        parse_fence(fence, &q.fence) < 0)
        return NULL;
    za_pack *p = pack((PyObject *)self, value);
    if (!p) return NULL;
    q.data = za_pack_data(p);
    q.len = za_pack_size(p);
    za_store_result r;
    int rc = call(self, &q, &r);
    za_pack_free(p);
    if (rc < 0 || check(self, &r, ZA_OK) < 0) return NULL;
    PyObject *out = PyLong_FromUnsignedLongLong(r.version);
    za_store_result_free(&r);
    return out;
}

static PyObject *Store_clear(StoreObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"key", "version", "fence", NULL};
    PyObject *key, *ver = Py_None, *fence = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$O:clear", kwlist, &key, &ver, &fence))
        return NULL;
    za_store_req q = {.op = ZA_STORE_CLEAR, .version = ZA_STORE_ANY};
    if (parse_key(key, &q.type, &q.id) < 0 || parse_fence(fence, &q.fence) < 0) return NULL;
    if (ver != Py_None && parse_u64(ver, "version", &q.version) < 0) return NULL;
    za_store_result r;
    if (call(self, &q, &r) < 0 || check(self, &r, ZA_OK) < 0) return NULL;
    za_store_result_free(&r);
    Py_RETURN_NONE;
}

static PyObject *Store_append(StoreObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"journal_id", "seq", "event", "fence", NULL};
    PyObject *key, *seq, *ev, *fence = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|$O:append", kwlist, &key, &seq, &ev, &fence))
        return NULL;
    za_store_req q = {.op = ZA_STORE_APPEND};
    if (parse_key(key, &q.type, &q.id) < 0 || parse_u64(seq, "seq", &q.version) < 0 ||
        parse_fence(fence, &q.fence) < 0)
        return NULL;
    za_pack *p = pack((PyObject *)self, ev);
    if (!p) return NULL;
    q.data = za_pack_data(p);
    q.len = za_pack_size(p);
    za_store_result r;
    int rc = call(self, &q, &r);
    za_pack_free(p);
    if (rc < 0 || check(self, &r, ZA_OK) < 0) return NULL;
    za_store_result_free(&r);
    return PyLong_FromUnsignedLongLong(q.version);
}

static PyObject *Store_replay(StoreObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"journal_id", "from_seq", "max", NULL};
    PyObject *key, *from = NULL;
    unsigned int max = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OI:replay", kwlist, &key, &from, &max))
        return NULL;
    za_store_req q = {.op = ZA_STORE_REPLAY, .version = 1, .max = max};
    if (parse_key(key, &q.type, &q.id) < 0) return NULL;
    if (from && parse_u64(from, "from_seq", &q.version) < 0) return NULL;
    za_store_result r;
    if (call(self, &q, &r) < 0 || check(self, &r, ZA_OK) < 0) return NULL;
    PyObject *l = PyList_New((Py_ssize_t)r.nevents);
    for (size_t i = 0; l && i < r.nevents; i++) {
        PyObject *v = unpack(self, r.events[i].data, r.events[i].len);
        PyObject *t = v ? Py_BuildValue("(KN)", (unsigned long long)r.events[i].seq, v) : NULL;
        if (!t) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    za_store_result_free(&r);
    return l;
}

static PyObject *Store_highest(StoreObject *self, PyObject *key) {
    za_store_req q = {.op = ZA_STORE_HIGHEST};
    if (parse_key(key, &q.type, &q.id) < 0) return NULL;
    za_store_result r;
    if (call(self, &q, &r) < 0 || check(self, &r, ZA_OK) < 0) return NULL;
    PyObject *out = PyLong_FromUnsignedLongLong(r.version);
    za_store_result_free(&r);
    return out;
}

static PyObject *Store_delete_to(StoreObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"journal_id", "seq", "fence", NULL};
    PyObject *key, *seq, *fence = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:delete_to", kwlist, &key, &seq, &fence))
        return NULL;
    za_store_req q = {.op = ZA_STORE_DELETE_TO};
    if (parse_key(key, &q.type, &q.id) < 0 || parse_u64(seq, "seq", &q.version) < 0 ||
        parse_fence(fence, &q.fence) < 0)
        return NULL;
    za_store_result r;
    if (call(self, &q, &r) < 0 || check(self, &r, ZA_OK) < 0) return NULL;
    za_store_result_free(&r);
    Py_RETURN_NONE;
}

static void store_close(StoreObject *self) {
    za_store *st = self->st;
    self->st = NULL;
    if (!st) return;
    /* close completes what is queued: wait without the GIL */
    Py_BEGIN_ALLOW_THREADS;
    za_store_close(st);
    Py_END_ALLOW_THREADS;
}

static PyObject *Store_close(StoreObject *self, PyObject *Py_UNUSED(ignored)) {
    store_close(self);
    Py_RETURN_NONE;
}

static PyObject *Store_enter(StoreObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->st) {
        PyErr_SetString(PyExc_RuntimeError, "the store is closed");
        return NULL;
    }
    return Py_NewRef(self);
}

static PyObject *Store_exit(StoreObject *self, PyObject *args) {
    store_close(self);
    Py_RETURN_FALSE;
}

/* -------------------------------------------------------------- the type */

static PyObject *Store_new(PyTypeObject *tp, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"url", "threads", "timeout", "system", NULL};
    const char *url;
    unsigned int threads = 0;
    double timeout = 30.0;
    PyObject *system = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$IdO:Store", kwlist, &url, &threads, &timeout,
                                     &system))
        return NULL;
    if (timeout <= 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be > 0 seconds");
        return NULL;
    }
    StoreObject *self = (StoreObject *)tp->tp_alloc(tp, 0);
    if (!self) return NULL;
    self->timeout = timeout;
    self->system = Py_NewRef(system);
    self->url = PyUnicode_FromString(url);
    if (!self->url) {
        Py_DECREF(self);
        return NULL;
    }
    if (system != Py_None) {
        PyObject *m = module_of((PyObject *)self);
        if (!m || !PyObject_TypeCheck(system, zpy_state(m)->System_Type)) {
            if (m) PyErr_SetString(PyExc_TypeError, "system must be a zactor.System or None");
            Py_DECREF(self);
            return NULL;
        }
    }
    za_store_opts o;
    za_store_opts_init(&o);
    o.threads = threads;
    za_store *st = NULL;
    int rc;
    char err[256];
    /* connecting can take up to the connect timeout: without the GIL */
    Py_BEGIN_ALLOW_THREADS;
    rc = za_store_open(url, &o, &st);
    snprintf(err, sizeof err, "%s", za_last_error());
    Py_END_ALLOW_THREADS;
    if (rc != ZA_OK) {
        raise_store((PyObject *)self, rc, err);
        Py_DECREF(self);
        return NULL;
    }
    self->st = st;
    return (PyObject *)self;
}

static void Store_dealloc(StoreObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    store_close(self);
    Py_CLEAR(self->url);
    Py_CLEAR(self->system);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int Store_traverse(StoreObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->system);
    return 0;
}

static int Store_clear_gc(StoreObject *self) {
    Py_CLEAR(self->system);
    return 0;
}

static PyObject *Store_get_scheme(StoreObject *self, void *c) {
    if (!self->st) Py_RETURN_NONE;
    return PyUnicode_FromString(za_store_scheme(self->st));
}

static PyObject *Store_get_url(StoreObject *self, void *c) {
    return Py_NewRef(self->url);
}

static PyObject *Store_get_closed(StoreObject *self, void *c) {
    return PyBool_FromLong(self->st == NULL);
}

static PyObject *Store_repr(StoreObject *self) {
    return PyUnicode_FromFormat("<zactor.Store %R%s>", self->url, self->st ? "" : " closed");
}

static PyMethodDef Store_methods[] = {
    {"read", (PyCFunction)Store_read, METH_O,
     "read(key) -> (value, version) or None: the stored state and its version."},
    {"write", (PyCFunction)(void (*)(void))Store_write, METH_VARARGS | METH_KEYWORDS,
     "write(key, value, version, *, fence=None) -> new version. version is the version the "
     "caller expects to be stored (0: none yet); on a mismatch VersionConflict is raised and "
     "nothing is written. fence: a fencing token (e.g. a lease's); Fenced is raised (nothing "
     "written) when the key's stored token is greater, else the stored token becomes "
     "max(stored, fence). Returns once the write is durable."},
    {"clear", (PyCFunction)(void (*)(void))Store_clear, METH_VARARGS | METH_KEYWORDS,
     "clear(key, version=None, *, fence=None): delete the state if its version is `version` "
     "(None: whatever it is); VersionConflict otherwise; Fenced as for write (a fenced clear "
     "keeps the token)."},
    {"append", (PyCFunction)(void (*)(void))Store_append, METH_VARARGS | METH_KEYWORDS,
     "append(journal_id, seq, event, *, fence=None) -> seq: append an event; seq must be "
     "highest + 1 (VersionConflict otherwise); Fenced as for write. Returns once the event "
     "is durable."},
    {"replay", (PyCFunction)(void (*)(void))Store_replay, METH_VARARGS | METH_KEYWORDS,
     "replay(journal_id, from_seq=1, max=0) -> [(seq, event), ...] in order (max 0: all)."},
    {"highest", (PyCFunction)Store_highest, METH_O,
     "highest(journal_id) -> the highest sequence number ever appended (0: none)."},
    {"delete_to", (PyCFunction)(void (*)(void))Store_delete_to, METH_VARARGS | METH_KEYWORDS,
     "delete_to(journal_id, seq, *, fence=None): delete events <= seq (highest() is "
     "unchanged); Fenced as for write."},
    {"close", (PyCFunction)Store_close, METH_NOARGS,
     "Complete the requests in flight and close the store. Idempotent."},
    {"__enter__", (PyCFunction)Store_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Store_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Store_getset[] = {
    {"scheme", (getter)Store_get_scheme, NULL,
     "'sqlite', 'redis', 'postgresql' or 'memory' (None once closed)", NULL},
    {"url", (getter)Store_get_url, NULL, "the URL the store was opened with", NULL},
    {"closed", (getter)Store_get_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Store_slots[] = {
    {Py_tp_new, Store_new},
    {Py_tp_dealloc, Store_dealloc},
    {Py_tp_traverse, Store_traverse},
    {Py_tp_clear, Store_clear_gc},
    {Py_tp_methods, Store_methods},
    {Py_tp_getset, Store_getset},
    {Py_tp_repr, Store_repr},
    {Py_tp_doc,
     "Store(url, *, threads=0, timeout=30.0, system=None): persistent state and event "
     "journals.\n\nurl: sqlite:///path.db, redis://host:port/db, postgresql://..., memory://. "
     "Keys are a str or a (type, id) pair; values are anything a message can carry. Use it "
     "as a context manager (close() completes requests in flight)."},
    {0, NULL},
};

static PyType_Spec Store_spec = {
    .name = "zactor._zactor.Store",
    .basicsize = sizeof(StoreObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Store_slots,
};

int zpy_store_init(PyObject *m) {
    modstate *st = zpy_state(m);
    PyObject *t = PyType_FromModuleAndSpec(m, &Store_spec, NULL);
    if (!t || PyModule_AddObjectRef(m, "Store", t) < 0) {
        Py_XDECREF(t);
        return -1;
    }
    Py_DECREF(t);
    /* StoreError < ActorError; the others also derive from the builtin a
     * caller would catch for them */
    PyObject *base = PyErr_NewExceptionWithDoc("zactor.StoreError", "A storage operation failed.",
                                               st->ActorError, NULL);
    if (!base || PyModule_AddObjectRef(m, "StoreError", base) < 0) {
        Py_XDECREF(base);
        return -1;
    }
    static const struct {
        const char *name, *attr, *doc;
        int builtin; /* 0 none, 1 ConnectionError, 2 PermissionError, 3 TimeoutError */
    } subs[] = {
        {"zactor.VersionConflict", "VersionConflict",
         "The expected version (or journal sequence number) did not match: nothing was written.",
         0},
        {"zactor.StoreUnavailable", "StoreUnavailable",
         "The storage server cannot be reached (or the connection was lost).", 1},
        {"zactor.StoreAuthError", "StoreAuthError", "The storage server refused the credentials.",
         2},
        {"zactor.StoreTimeout", "StoreTimeout",
         "The store did not answer in time; the request may still complete.", 3},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof subs / sizeof subs[0]; i++) {
        PyObject *b2 = subs[i].builtin == 1   ? PyExc_ConnectionError
                       : subs[i].builtin == 2 ? PyExc_PermissionError
                       : subs[i].builtin == 3 ? PyExc_TimeoutError
                                              : NULL;
        PyObject *bases = b2 ? PyTuple_Pack(2, base, b2) : PyTuple_Pack(1, base);
        PyObject *e =
            bases ? PyErr_NewExceptionWithDoc(subs[i].name, subs[i].doc, bases, NULL) : NULL;
        Py_XDECREF(bases);
        if (!e || PyModule_AddObjectRef(m, subs[i].attr, e) < 0) rc = -1;
        Py_XDECREF(e);
    }
    Py_DECREF(base);
    if (rc == 0) {
        /* a newer lease holder wrote first: a kind of conflict, so code
         * that handles VersionConflict (re-read, give up) handles it too */
        PyObject *vc = PyObject_GetAttrString(m, "VersionConflict");
        PyObject *e = vc ? PyErr_NewExceptionWithDoc(
                               "zactor.Fenced",
                               "A newer fencing token (lease) was stored for this key: this "
                               "writer was fenced off and nothing was written.",
                               vc, NULL)
                         : NULL;
        Py_XDECREF(vc);
        if (!e || PyModule_AddObjectRef(m, "Fenced", e) < 0) rc = -1;
        Py_XDECREF(e);
    }
    return rc;
}
