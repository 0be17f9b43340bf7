/*
 * grain.c - virtual actors (grains) and persistent actors for Python: the
 * C half of zactor/grains.py.
 *
 *  - A Python grain class is registered (za_grain_register) with this
 *    system's grain behaviour (s->beh_grain): the Python behaviour whose
 *    start builds a fresh cell (Context) for each activation, since the
 *    runtime spawns activations itself. Its args are {SystemObject *,
 *    class}: the class stays alive in s->grain_classes (type -> class), and
 *    registering the same class again gives the same args (ZA_OK).
 *  - Storage requests made by a handler (save, clear, persist, snapshot,
 *    remind, forget; a persistent actor's read/write) complete as a
 *    TAG_STORE message to the actor; host.c hands it to _g_event
 *    (grains.py), which resumes the handler that awaits it. No call blocks
 *    a worker.
 *  - ZA_TAG_DEACTIVATE: the receive defers the stop (za_ctx_grain_defer)
 *    and the driver runs on_deactivate once every handler in progress
 *    ended; the grain then stops itself (Context.stop).
 *  - Messages to a Python grain from Python are the objects themselves
 *    (kind 1) when the system is not in a cluster: an activation is in this
 *    process then. In a cluster they are MessagePack (the home may be
 *    another node).
 */
#include "glue.h"

#ifdef ZA_WITH_LUA
#include "hosts/lua_host.h"
#endif

/* Python hooks (zactor/grains.py), set once at import by _set_grain_hooks. */
static PyObject *g_event;        /* _g_event(st, inst, kind, corr, status, version, value, text) */
static PyObject *g_reminder;     /* zactor.Reminder */
static PyObject *g_persist_hook; /* _persistent_spawn(args, kw) -> (args, kw) */

/* What a grain activation's start receives (za_grain_class.args). */
typedef struct grain_args {
    SystemObject *sys;
    PyObject *cls;
} grain_args;

enum { EV_STORE = 0, EV_DEACTIVATE = 1 };

/* --------------------------------------------------------------- errors */

/* A storage error as the zactor exception a user catches. */
PyObject *zpy_raise_store(SystemObject *s, int rc, const char *text) {
    if (!text || !*text) text = za_strerror(rc);
    return zpy_raise_store_error(s->module, rc, text);
}

/* ------------------------------------------------------------ the host */

/* The activation's own actor (resume messages must reach it while the
 * grain deactivates, when messages to the grain are held). */
za_ref zpy_ctx_actor(za_ctx *ctx) {
    return za_ctx_actor(ctx);
}

/* start of a Python grain activation: a new cell, then the usual start. */
static int grain_start(za_ctx *ctx, const void *args, size_t len) {
    grain_args ga;
    if (len != sizeof ga) return -1;
    memcpy(&ga, args, sizeof ga);
    SystemObject *s = ga.sys;
    ContextObject *cell = PyObject_GC_New(ContextObject, s->st->Context_Type);
    if (!cell) {
        PyErr_Clear();
        za_ctx_fail(ctx, ZA_ENOMEM, "out of memory");
        return -1;
    }
    cell->sys = (SystemObject *)Py_NewRef((PyObject *)s);
    cell->cls = Py_NewRef(ga.cls);
    cell->args = PyTuple_New(0);
    cell->kwargs = NULL;
    cell->last_exc = NULL;
    cell->ref = zpy_ctx_actor(ctx);
    cell->cur = NULL;
    cell->sender = 0;
    PyObject_GC_Track(cell);
    /* the system's cell table owns it (dropped at the final stop, host.c) */
    PyObject *key = cell->args ? PyLong_FromUnsignedLongLong(cell->ref) : NULL;
    if (!key || PyDict_SetItem(s->cells, key, (PyObject *)cell) < 0) {
        Py_XDECREF(key);
        Py_DECREF(cell);
        PyErr_Clear();
        za_ctx_fail(ctx, ZA_ENOMEM, "out of memory");
        return -1;
    }
    Py_DECREF(key);
    Py_DECREF(cell); /* (s->cells holds it) */
    int rc = zpy_start_cell(ctx, cell);
    if (rc < 0 && cell->last_exc) {
        /* the messages that waited for this activation fail with this
         * text: the exception and its traceback (on_activate's) */
        PyObject *tb = PyImport_ImportModule("traceback");
        PyObject *lines =
            tb ? PyObject_CallMethod(tb, "format_exception", "O", cell->last_exc) : NULL;
        PyObject *sep = lines ? PyUnicode_FromString("") : NULL;
        PyObject *text = sep ? PyUnicode_Join(sep, lines) : NULL;
        const char *t = text ? PyUnicode_AsUTF8(text) : NULL;
        if (t) {
            /* (the exception's line first: texts are cut at ~1000 bytes) */
            PyObject *head = PyObject_Str(cell->last_exc);
            const char *h = head ? PyUnicode_AsUTF8(head) : NULL;
            za_ctx_fail(ctx, ZA_EFAILED, "%s: %s\n%s", Py_TYPE(cell->last_exc)->tp_name, h ? h : "",
                        t);
            Py_XDECREF(head);
        }
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(sep);
        Py_XDECREF(lines);
        Py_XDECREF(tb);
    }
    return rc;
}

static int ensure_grains(SystemObject *s) {
    if (!s->grain_classes && !(s->grain_classes = PyDict_New())) return -1;
    if (!s->beh_grain.start) {
        s->beh_grain = s->beh;
        s->beh_grain.name = "zactor.python.grain";
        s->beh_grain.start = grain_start;
    }
    return 0;
}

/* The kind of a grain reference (ref.c): 1 for a Python grain of this
 * system outside a cluster (objects), else 2 (values). */
int zpy_grain_ref_kind(SystemObject *s, za_ref ref) {
    const char *type, *key;
    if (!s->grain_classes || za_system_cluster(s->sys) ||
        za_grain_identity(s->sys, ref, &type, &key) != ZA_OK)
        return 2;
    PyObject *cls = PyDict_GetItemString(s->grain_classes, type);
    return cls && PyType_Check(cls) ? 1 : 2;
}

/* A reminder's payload [name, missed, period_s, due_unix_s] as a zactor.Reminder. */
PyObject *zpy_grain_reminder(SystemObject *s, const za_msg *m) {
    PyObject *v = zpy_bytes_to_py(s, m->data, m->len);
    if (!v || !g_reminder) return v;
    if (!PyList_Check(v) || PyList_GET_SIZE(v) != 4) return v; /* (not ours: as it came) */
    PyObject *t = PyList_AsTuple(v);
    Py_DECREF(v);
    if (!t) return NULL;
    PyObject *r = PyObject_CallObject(g_reminder, t);
    Py_DECREF(t);
    return r;
}

/* A storage completion (TAG_STORE) or ZA_TAG_DEACTIVATE for an actor with
 * an async driver: the Python side resumes the handler that waits. */
PyObject *zpy_grain_message(za_ctx *ctx, SystemObject *s, PyObject *astate, PyObject *inst,
                            const za_msg *m) {
    if (!g_event) Py_RETURN_NONE;
    if (m->tag == ZA_TAG_DEACTIVATE) {
        /* the stop waits for on_deactivate (and the handlers in progress) */
        if (za_ctx_grain_defer(ctx) != ZA_OK) Py_RETURN_NONE; /* (not a grain: it stops) */
        PyObject *reason = PyUnicode_DecodeUTF8(m->data ? m->data : "", m->len, "replace");
        if (!reason) return NULL;
        PyObject *r = PyObject_CallFunction(g_event, "OOiKiKOO", astate, inst, EV_DEACTIVATE, 0ull,
                                            0, 0ull, Py_None, reason);
        Py_DECREF(reason);
        return r;
    }
    const za_store_result *res = m->kind == ZA_PAYLOAD_PTR ? (const za_store_result *)m->ptr : NULL;
    int status = m->status;
    if (res && res->status) status = res->status;
    PyObject *value = Py_None;
    Py_INCREF(value);
    if (status == ZA_OK && res && res->data && res->len) {
        /* a persistent actor's READ: its state */
        Py_SETREF(value, zpy_unpack_strict(s, res->data, res->len));
        if (!value) return NULL;
    }
    const char *text = res && res->error ? res->error : status ? za_strerror(status) : "";
    PyObject *t = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
    if (!t) {
        Py_DECREF(value);
        return NULL;
    }
    PyObject *r = PyObject_CallFunction(g_event, "OOiKiKOO", astate, inst, EV_STORE,
                                        (unsigned long long)m->corr, status,
                                        (unsigned long long)(res ? res->version : 0), value, t);
    Py_DECREF(value);
    Py_DECREF(t);
    return r;
}

/* ------------------------------------------------ inside an activation */

/* The current za_ctx of a cell (the handler runs now), else RuntimeError. */
static ContextObject *cell_of(PyObject *o, za_ctx **ctx, const char *what) {
    PyObject *mod = PyType_GetModuleByDef(Py_TYPE(o), &zpy_module);
    if (!mod || Py_TYPE(o) != zpy_state(mod)->Context_Type) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "expected an actor context");
        return NULL;
    }
    ContextObject *c = (ContextObject *)o;
    if (!c->cur || !tl_in_actor) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s is only valid inside the actor's handlers (receive, on_start, "
                     "on_activate, on_deactivate)",
                     what);
        return NULL;
    }
    if (zpy_check_sys(c->sys) < 0) return NULL;
    *ctx = c->cur;
    return c;
}

static PyObject *ctx_error(ContextObject *c, int rc, const char *what) {
    if (rc == ZA_ESTATE) {
        PyErr_Format(PyExc_RuntimeError, "%s: %s", what,
                     za_last_error()[0] ? za_last_error() : "not a grain activation");
        return NULL;
    }
    if (rc == ZA_ECONFLICT || rc == ZA_EFENCED || rc == ZA_ECONNECT || rc == ZA_ESTORE ||
        rc == ZA_EAUTH)
        return zpy_raise_store(c->sys, rc, za_last_error());
    return zpy_raise_za(c->sys, rc, what);
}

/* Pack o (the value model): TypeError/ValueError naming what, nothing sent. */
static za_pack *pack_value(SystemObject *s, PyObject *o, const char *what) {
    za_pack *p = za_pack_new();
    if (!p) {
        PyErr_NoMemory();
        return NULL;
    }
    if (zpy_pack_obj(s->st, p, o, 0) < 0) {
        za_pack_free(p);
        if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_ValueError) ||
            PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyObject *t, *v, *tb;
            PyErr_Fetch(&t, &v, &tb);
            PyErr_NormalizeException(&t, &v, &tb);
            PyObject *str = v ? PyObject_Str(v) : NULL;
            PyErr_Format(PyErr_GivenExceptionMatches(t, PyExc_TypeError) ? PyExc_TypeError
                                                                         : PyExc_ValueError,
                         "%s: the value is not storable (only None, bool, int, float, str, "
                         "bytes, list, tuple, dict and ActorRef are): %S; nothing was written",
                         what, str ? str : Py_None);
            Py_XDECREF(str);
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(tb);
        }
        return NULL;
    }
    return p;
}

static PyObject *corr_result(ContextObject *c, int rc, uint64_t corr, const char *what) {
    if (rc != ZA_OK) return ctx_error(c, rc, what);
    return PyLong_FromUnsignedLongLong(corr);
}

/* _g_state(cell) -> (value, version, present) */
static PyObject *g_state(PyObject *mod, PyObject *o) {
    (void)mod;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, "the grain's state");
    if (!c) return NULL;
    const void *data = NULL;
    size_t len = 0;
    uint64_t version = 0;
    int rc = za_ctx_grain_state(ctx, &data, &len, &version);
    if (rc != ZA_OK) return ctx_error(c, rc, "state");
    if (!data || !len)
        return Py_BuildValue("(OKO)", Py_None, (unsigned long long)version, Py_False);
    PyObject *v = zpy_unpack_strict(c->sys, data, len);
    if (!v) return NULL;
    return Py_BuildValue("(NKO)", v, (unsigned long long)version, Py_True);
}

/* _g_events(cell) -> ([event, ...], highest seq) */
static PyObject *g_events(PyObject *mod, PyObject *o) {
    (void)mod;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, "the grain's events");
    if (!c) return NULL;
    const za_store_event *ev = NULL;
    size_t n = 0;
    uint64_t seq = 0;
    int rc = za_ctx_grain_events(ctx, &ev, &n, &seq);
    if (rc != ZA_OK) return ctx_error(c, rc, "events");
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *v = zpy_unpack_strict(c->sys, ev[i].data, ev[i].len);
        if (!v) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    if (!l) return NULL;
    return Py_BuildValue("(NK)", l, (unsigned long long)seq);
}

/* _g_write(cell, op, value, seq) -> corr; op 0 save, 1 persist, 2 snapshot */
static PyObject *g_write(PyObject *mod, PyObject *const *args, Py_ssize_t n) {
    (void)mod;
    if (n != 4) {
        PyErr_SetString(PyExc_TypeError, "_g_write(cell, op, value, seq)");
        return NULL;
    }
    long op = PyLong_AsLong(args[1]);
    unsigned long long seq = PyLong_AsUnsignedLongLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    static const char *const names[] = {"save()", "persist()", "snapshot"};
    if (op < 0 || op > 2) {
        PyErr_SetString(PyExc_ValueError, "bad op");
        return NULL;
    }
    za_ctx *ctx;
    ContextObject *c = cell_of(args[0], &ctx, names[op]);
    if (!c) return NULL;
    za_pack *p = pack_value(c->sys, args[2], names[op]);
    if (!p) return NULL;
    uint64_t corr = 0;
    int rc;
    if (op == 0)
        HOLDING(rc = za_ctx_grain_save(ctx, za_pack_data(p), za_pack_size(p), TAG_STORE, &corr));
    else if (op == 1)
        HOLDING(rc = za_ctx_grain_persist(ctx, za_pack_data(p), za_pack_size(p), TAG_STORE, &corr));
    else
        HOLDING(rc = za_ctx_grain_snapshot(ctx, za_pack_data(p), za_pack_size(p), seq, TAG_STORE,
                                           &corr));
    za_pack_free(p);
    return corr_result(c, rc, corr, names[op]);
}

static PyObject *g_clear(PyObject *mod, PyObject *o) {
    (void)mod;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, "clear()");
    if (!c) return NULL;
    uint64_t corr = 0;
    int rc;
    HOLDING(rc = za_ctx_grain_clear(ctx, TAG_STORE, &corr));
    return corr_result(c, rc, corr, "clear()");
}

/* _g_remind(cell, name, due_ms, period_ms, catch_up) -> corr */
static PyObject *g_remind(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *o;
    const char *name;
    unsigned long long due, period;
    int catch_up;
    if (!PyArg_ParseTuple(args, "OsKKp:_g_remind", &o, &name, &due, &period, &catch_up))
        return NULL;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, "remind()");
    if (!c) return NULL;
    uint64_t corr = 0;
    int rc;
    HOLDING(rc = za_ctx_grain_remind(ctx, name, due, period, catch_up, TAG_STORE, &corr));
    return corr_result(c, rc, corr, "remind()");
}

static PyObject *g_forget(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *o;
    const char *name;
    if (!PyArg_ParseTuple(args, "Os:_g_forget", &o, &name)) return NULL;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, "forget()");
    if (!c) return NULL;
    uint64_t corr = 0;
    int rc;
    HOLDING(rc = za_ctx_grain_forget(ctx, name, TAG_STORE, &corr));
    return corr_result(c, rc, corr, "forget()");
}

static PyObject *g_deactivate(PyObject *mod, PyObject *o) {
    (void)mod;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, "deactivate()");
    if (!c) return NULL;
    int rc;
    HOLDING(rc = za_ctx_grain_deactivate(ctx));
    if (rc != ZA_OK) return ctx_error(c, rc, "deactivate()");
    Py_RETURN_NONE;
}

/* _g_self(cell) -> the grain's ref, or None when the actor is not a grain */
static PyObject *g_self(PyObject *mod, PyObject *o) {
    (void)mod;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, "the grain reference");
    if (!c) return NULL;
    za_ref g = ZA_REF_NONE;
    if (za_ctx_grain(ctx, &g) != 1) Py_RETURN_NONE;
    return zpy_new_ref(c->sys, g, 0);
}

/* _p_store(cell, op, type, id, value, version) -> corr: a persistent actor's
 * request to the system's store (op 0 read, 1 write, 2 clear). */
static PyObject *p_store(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *o, *value;
    int op;
    const char *type, *id;
    unsigned long long version;
    if (!PyArg_ParseTuple(args, "OissOK:_p_store", &o, &op, &type, &id, &value, &version))
        return NULL;
    za_ctx *ctx;
    ContextObject *c = cell_of(o, &ctx, op == 0 ? "load" : op == 1 ? "save()" : "clear()");
    if (!c) return NULL;
    za_store *st = za_system_store(c->sys->sys);
    if (!st) {
        PyErr_SetString(PyExc_RuntimeError, "this system has no storage");
        return NULL;
    }
    za_store_req q = {.type = type, .id = id, .version = version};
    za_pack *p = NULL;
    if (op == 0) {
        q.op = ZA_STORE_READ;
    } else if (op == 1) {
        q.op = ZA_STORE_WRITE;
        if (!(p = pack_value(c->sys, value, "save()"))) return NULL;
        q.data = za_pack_data(p);
        q.len = za_pack_size(p);
    } else {
        q.op = ZA_STORE_CLEAR;
    }
    uint64_t corr = 0;
    int rc;
    HOLDING(rc = za_ctx_store(ctx, st, &q, TAG_STORE, &corr));
    za_pack_free(p);
    return corr_result(c, rc, corr, "store");
}

/* ------------------------------------------------------ from the System */

static SystemObject *as_system(PyObject *o) {
    PyObject *mod = PyType_GetModuleByDef(Py_TYPE(o), &zpy_module);
    if (!mod || !PyObject_TypeCheck(o, zpy_state(mod)->System_Type)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "expected a zactor.System");
        return NULL;
    }
    SystemObject *s = (SystemObject *)o;
    if (zpy_check_sys(s) < 0) return NULL;
    return s;
}

static PyObject *register_error(SystemObject *s, int rc, const char *type) {
    if (rc == ZA_EEXIST) {
        PyErr_Format(PyExc_ValueError,
                     "grain type %s is already registered with another class or behaviour "
                     "(set grain_type to tell them apart)",
                     type);
        return NULL;
    }
    return zpy_raise_za(s, rc, "grain registration");
}

/* _g_register(system, cls, type, idle_ms, journaled, snapshot_every, capacity) */
static PyObject *g_register(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *so, *cls;
    const char *type;
    unsigned int idle_ms, snapshot_every, capacity;
    int journaled;
    if (!PyArg_ParseTuple(args, "OOsIpII:_g_register", &so, &cls, &type, &idle_ms, &journaled,
                          &snapshot_every, &capacity))
        return NULL;
    SystemObject *s = as_system(so);
    if (!s || ensure_grains(s) < 0) return NULL;
    PyObject *known = PyDict_GetItemString(s->grain_classes, type);
    if (known == cls) Py_RETURN_NONE;
    if (known) return register_error(s, ZA_EEXIST, type);
    grain_args ga = {s, cls};
    za_grain_class gc = {
        .type = type,
        .behaviour = &s->beh_grain,
        .args = &ga,
        .args_len = sizeof ga,
        .idle_ms = idle_ms,
        .journaled = journaled,
        .snapshot_every = snapshot_every,
        .capacity = capacity,
    };
    int rc;
    HOLDING(rc = za_grain_register(s->sys, &gc));
    if (rc != ZA_OK) return register_error(s, rc, type);
    /* (after the registration: the dict keeps the class its args point to) */
    if (PyDict_SetItemString(s->grain_classes, type, cls) < 0) return NULL;
    Py_RETURN_NONE;
}

/* _g_register_native(system, type, behaviour_addr, args, idle_ms, journaled, snapshot_every,
 * capacity) */
static PyObject *g_register_native(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *so;
    const char *type;
    unsigned long long addr;
    Py_buffer b = {0};
    unsigned int idle_ms, snapshot_every, capacity;
    int journaled;
    if (!PyArg_ParseTuple(args, "OsKy*IpII:_g_register_native", &so, &type, &addr, &b, &idle_ms,
                          &journaled, &snapshot_every, &capacity))
        return NULL;
    SystemObject *s = as_system(so);
    if (!s || ensure_grains(s) < 0) {
        PyBuffer_Release(&b);
        return NULL;
    }
    za_grain_class gc = {
        .type = type,
        .behaviour = (const za_behaviour *)(uintptr_t)addr,
        .args = b.len ? b.buf : NULL,
        .args_len = (size_t)b.len,
        .idle_ms = idle_ms,
        .journaled = journaled,
        .snapshot_every = snapshot_every,
        .capacity = capacity,
    };
    int rc;
    HOLDING(rc = za_grain_register(s->sys, &gc));
    PyBuffer_Release(&b);
    if (rc != ZA_OK) return register_error(s, rc, type);
    /* a native type: its refs carry values (kind 2) */
    if (!PyDict_GetItemString(s->grain_classes, type) &&
        PyDict_SetItemString(s->grain_classes, type, Py_None) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* _g_register_lua(system, spec, type, idle_ms, capacity, snapshot_every, memory_limit,
 * budget_ms, concurrency, path) -> the type: a Lua grain class (the Lua host's
 * za_lua_grain_register, the same class Lua's system:grain registers). */
static PyObject *g_register_lua(PyObject *mod, PyObject *args) {
    (void)mod;
#if defined(ZA_WITH_LUA) && defined(ZA_LUA_PERSIST_TYPE)
    PyObject *so;
    const char *spec, *type, *path;
    unsigned int idle_ms, capacity, snapshot_every, budget_ms, concurrency;
    unsigned long long memory_limit;
    if (!PyArg_ParseTuple(args, "OszIIIKIIz:_g_register_lua", &so, &spec, &type, &idle_ms,
                          &capacity, &snapshot_every, &memory_limit, &budget_ms, &concurrency,
                          &path))
        return NULL;
    SystemObject *s = as_system(so);
    if (!s || ensure_grains(s) < 0) return NULL;
    za_lua_opts lo = {0};
    lo.memory_limit = (size_t)memory_limit;
    lo.budget_ms = budget_ms;
    lo.concurrency = concurrency;
    lo.path = path;
    za_lua_grain_opts go = {0};
    go.type = type;
    go.idle_ms = idle_ms;
    go.capacity = capacity;
    go.snapshot_every = snapshot_every;
    char err[512] = "";
    int rc;
    /* compiling the chunk may take a while: let other Python threads run */
    Py_BEGIN_ALLOW_THREADS;
    rc = za_lua_grain_register(s->sys, spec, &lo, &go, err, sizeof err);
    Py_END_ALLOW_THREADS;
    const char *t = type ? type : spec;
    if (rc == ZA_EEXIST) return register_error(s, rc, t);
    if (rc != ZA_OK) {
        if (err[0]) {
            PyErr_Format(rc == ZA_EINVAL || rc == ZA_EVALUE ? PyExc_ValueError : PyExc_RuntimeError,
                         "grain_lua(%s): %s", spec, err);
            return NULL;
        }
        return zpy_raise_za(s, rc, "grain_lua");
    }
    /* a Lua type: its refs carry values (kind 2) */
    if (!PyDict_GetItemString(s->grain_classes, t) &&
        PyDict_SetItemString(s->grain_classes, t, Py_None) < 0)
        return NULL;
    return PyUnicode_FromString(t);
#else
    (void)args;
    PyErr_SetString(PyExc_RuntimeError,
                    "grain_lua: this zactor was built without Lua grains (install the Lua 5.4 "
                    "headers, e.g. Debian's liblua5.4-dev, then reinstall zactor)");
    return NULL;
#endif
}

/* _g_ref(system, type, key) -> ActorRef */
static PyObject *g_ref(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *so, *to, *ko;
    if (!PyArg_ParseTuple(args, "OUU:_g_ref", &so, &to, &ko)) return NULL;
    SystemObject *s = as_system(so);
    if (!s) return NULL;
    const char *type = zpy_cstring(to, "the grain type");
    const char *key = type ? zpy_cstring(ko, "a grain key") : NULL;
    if (!key) return NULL;
    za_ref r;
    int rc;
    HOLDING(rc = za_grain_ref(s->sys, type, key, &r));
    if (rc == ZA_ENOTFOUND) {
        PyErr_Format(PyExc_LookupError, "grain type %s is not registered", type);
        return NULL;
    }
    if (rc == ZA_EINVAL) {
        PyErr_Format(PyExc_ValueError,
                     "bad grain key %R: a key is 1..1024 bytes of UTF-8 without NUL", ko);
        return NULL;
    }
    if (rc != ZA_OK) return zpy_raise_za(s, rc, "grain");
    return zpy_new_ref(s, r, zpy_grain_ref_kind(s, r));
}

/* _g_identity(system, ref) -> (type, key) or None */
static PyObject *g_identity(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *so, *ro;
    if (!PyArg_ParseTuple(args, "OO:_g_identity", &so, &ro)) return NULL;
    SystemObject *s = as_system(so);
    RefObject *r;
    if (!s || zpy_as_ref(s, ro, &r) < 0) return NULL;
    const char *type, *key;
    if (!za_ref_is_grain(r->ref) || za_grain_identity(s->sys, r->ref, &type, &key) != ZA_OK)
        Py_RETURN_NONE;
    return Py_BuildValue("(ss)", type, key);
}

static int list_one(const za_grain_info *g, void *ud) {
    PyObject **ctx = ud; /* [list, system] */
    SystemObject *s = (SystemObject *)ctx[1];
    static const char *const st[] = {"?", "activating", "active", "deactivating"};
    PyObject *ref = zpy_new_ref(s, g->grain, zpy_grain_ref_kind(s, g->grain));
    PyObject *act = g->activation ? zpy_new_ref(s, g->activation, 0) : Py_NewRef(Py_None);
    PyObject *t =
        ref && act ? Py_BuildValue("(ssNNsKKKK)", g->type, g->key, ref, act,
                                   st[g->status >= 1 && g->status <= 3 ? g->status : 0],
                                   (unsigned long long)g->since_us, (unsigned long long)g->idle_us,
                                   (unsigned long long)g->messages, (unsigned long long)g->version)
                   : NULL;
    if (!t) {
        Py_XDECREF(ref);
        Py_XDECREF(act);
        return 1;
    }
    int rc = PyList_Append(ctx[0], t);
    Py_DECREF(t);
    return rc < 0;
}

/* _g_list(system) -> [(type, key, ref, activation, status, since_us, idle_us, messages,
 * version)] */
static PyObject *g_list(PyObject *mod, PyObject *so) {
    (void)mod;
    SystemObject *s = as_system(so);
    if (!s) return NULL;
    PyObject *l = PyList_New(0);
    if (!l) return NULL;
    PyObject *ctx[2] = {l, so};
    size_t n = 0;
    int rc;
    HOLDING(rc = za_grain_list(s->sys, list_one, ctx, &n));
    if (PyErr_Occurred()) {
        Py_DECREF(l);
        return NULL;
    }
    if (rc != ZA_OK) {
        Py_DECREF(l);
        return zpy_raise_za(s, rc, "grains");
    }
    return l;
}

/* _g_remind_out(system, ref, name, due_ms, period_ms, catch_up, timeout_ms); period_ms 0:
 * forget. Blocking, without the GIL. */
static PyObject *g_remind_out(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *so, *ro;
    const char *name;
    unsigned long long due, period;
    int catch_up;
    unsigned int timeout_ms;
    if (!PyArg_ParseTuple(args, "OOsKKpI:_g_remind_out", &so, &ro, &name, &due, &period, &catch_up,
                          &timeout_ms))
        return NULL;
    SystemObject *s = as_system(so);
    RefObject *r;
    if (!s || zpy_as_ref(s, ro, &r) < 0 || zpy_refuse_in_actor("remind/forget") < 0) return NULL;
    int rc;
    zpy_gil_release();
    if (period)
        rc = za_grain_remind(s->sys, r->ref, name, due, period, catch_up, timeout_ms);
    else
        rc = za_grain_forget(s->sys, r->ref, name, timeout_ms);
    zpy_gil_acquire();
    if (rc == ZA_OK) Py_RETURN_TRUE;
    if (rc == ZA_ENOTFOUND && !period) Py_RETURN_FALSE;
    if (rc == ZA_ECONFLICT || rc == ZA_EFENCED || rc == ZA_ECONNECT || rc == ZA_ESTORE ||
        rc == ZA_EAUTH)
        return zpy_raise_store(s, rc, za_last_error());
    return zpy_raise_za(s, rc, period ? "remind" : "forget");
}

static PyObject *g_codes(PyObject *mod, PyObject *ignored) {
    (void)mod;
    (void)ignored;
    return Py_BuildValue("{sisisisisisisisisi}", "OK", ZA_OK, "ECONFLICT", ZA_ECONFLICT, "EFENCED",
                         ZA_EFENCED, "ECONNECT", ZA_ECONNECT, "EAUTH", ZA_EAUTH, "ETIMEDOUT",
                         ZA_ETIMEDOUT, "ENOTFOUND", ZA_ENOTFOUND, "ESTORE", ZA_ESTORE, "EDEAD",
                         ZA_EDEAD);
}

/* _raise_store(system, status, text): raise the exception of a store status */
static PyObject *g_raise(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *so;
    int status;
    const char *text;
    if (!PyArg_ParseTuple(args, "Ois:_raise_store", &so, &status, &text)) return NULL;
    PyObject *m = PyType_GetModuleByDef(Py_TYPE(so), &zpy_module);
    if (!m || !PyObject_TypeCheck(so, zpy_state(m)->System_Type)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "expected a zactor.System");
        return NULL;
    }
    SystemObject *s = (SystemObject *)so;
    if (!s->module) return zpy_check_init(s) < 0 ? NULL : NULL;
    switch (status) {
    case ZA_EDEAD:
    case ZA_ESHUTDOWN:
    case ZA_ESTATE:
        return zpy_raise_za(s, status, text);
    default:
        return zpy_raise_store(s, status, text);
    }
}

static PyObject *g_set_hooks(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *ev, *rem, *fen, *ps;
    if (!PyArg_ParseTuple(args, "OOOO:_set_grain_hooks", &ev, &rem, &fen, &ps)) return NULL;
    Py_XSETREF(g_persist_hook, Py_NewRef(ps));
    Py_XSETREF(g_event, Py_NewRef(ev));
    Py_XSETREF(g_reminder, Py_NewRef(rem));
    (void)fen; /* (zactor.Fenced lives in _zactor: store.c raises it) */
    Py_RETURN_NONE;
}

static PyMethodDef g_methods[] = {
    {"_set_grain_hooks", (PyCFunction)g_set_hooks, METH_VARARGS, NULL},
    {"_g_state", (PyCFunction)g_state, METH_O, NULL},
    {"_g_events", (PyCFunction)g_events, METH_O, NULL},
    {"_g_write", (PyCFunction)(void (*)(void))g_write, METH_FASTCALL, NULL},
    {"_g_clear", (PyCFunction)g_clear, METH_O, NULL},
    {"_g_remind", (PyCFunction)g_remind, METH_VARARGS, NULL},
    {"_g_forget", (PyCFunction)g_forget, METH_VARARGS, NULL},
    {"_g_deactivate", (PyCFunction)g_deactivate, METH_O, NULL},
    {"_g_self", (PyCFunction)g_self, METH_O, NULL},
    {"_p_store", (PyCFunction)p_store, METH_VARARGS, NULL},
    {"_g_register", (PyCFunction)g_register, METH_VARARGS, NULL},
    {"_g_register_native", (PyCFunction)g_register_native, METH_VARARGS, NULL},
    {"_g_register_lua", (PyCFunction)g_register_lua, METH_VARARGS, NULL},
    {"_g_ref", (PyCFunction)g_ref, METH_VARARGS, NULL},
    {"_g_identity", (PyCFunction)g_identity, METH_VARARGS, NULL},
    {"_g_list", (PyCFunction)g_list, METH_O, NULL},
    {"_g_remind_out", (PyCFunction)g_remind_out, METH_VARARGS, NULL},
    {"_g_codes", (PyCFunction)g_codes, METH_NOARGS, NULL},
    {"_raise_store", (PyCFunction)g_raise, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* _grain_api() -> dict of the functions above (one registration in module.c). */
PyObject *zpy_grain_api(PyObject *mod, PyObject *ignored) {
    (void)ignored;
    return zpy_method_dict(mod, g_methods);
}

/* ------------------------------------------------- persistent actors */

int zpy_persistent_spawn(PyObject **args, PyObject **kw) {
    if (!g_persist_hook) {
        PyErr_SetString(PyExc_RuntimeError, "zactor.grains is not initialised");
        return -1;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(g_persist_hook, *args, *kw, NULL);
    if (!r) return -1;
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(r, 0)) ||
        !PyDict_Check(PyTuple_GET_ITEM(r, 1))) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_RuntimeError, "_persistent_spawn must return (tuple, dict)");
        return -1;
    }
    *args = Py_NewRef(PyTuple_GET_ITEM(r, 0));
    *kw = Py_NewRef(PyTuple_GET_ITEM(r, 1));
    Py_DECREF(r);
    return 0;
}
