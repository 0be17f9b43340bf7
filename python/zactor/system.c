/*
 * system.c - System: creating and shutting down the runtime, spawning
 * (Python, native and Lua actors), metrics, dead-letter callback, manual
 * mode.
 */
#include "glue.h"
#include <structmember.h>

#ifdef ZA_WITH_LUA
#include "hosts/lua_host.h"
#endif

static PyObject *System_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)args;
    (void)kw;
    return type->tp_alloc(type, 0); /* zeroed; System_init creates the runtime */
}

static int System_init(SystemObject *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"workers", "batch",      "budget_ms", "max_restarts", "within",
                             "http",    "http_token", "cluster",   "storage",      NULL};
    const char *http = NULL, *http_token = NULL, *storage = NULL;
    PyObject *workers_o = Py_None, *batch_o = NULL, *budget_o = NULL, *max_restarts_o = NULL,
             *within_o = NULL, *cluster_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$OOOOzzOz:System", kwlist, &workers_o, &batch_o,
                                     &budget_o, &max_restarts_o, &within_o, &http, &http_token,
                                     &cluster_o, &storage))
        return -1;
    unsigned long long batch = 0, max_restarts = 0;
    double budget_s = 0.002, within = 0;
    if ((batch_o && zpy_count(batch_o, "batch", 0, UINT32_MAX, &batch) < 0) ||
        (max_restarts_o &&
         zpy_count(max_restarts_o, "max_restarts", 0, UINT32_MAX, &max_restarts) < 0) ||
        zpy_duration_opt(within_o, "within", 0, 0, &within) < 0)
        return -1;
    if (budget_o) {
        /* (in ms: its own range, the runtime's budget_us is 32 bits) */
        double b;
        if (zpy_duration(budget_o, "budget_ms", ZPY_DUR_POSITIVE, &b) < 0) return -1;
        if (b > ZPY_MAX_SECONDS) {
            PyErr_Format(PyExc_OverflowError, "budget_ms must be at most %d ms",
                         (int)ZPY_MAX_SECONDS);
            return -1;
        }
        budget_s = b / 1000.0;
    }
    if (s->sys) {
        PyErr_SetString(PyExc_RuntimeError, "System already initialised");
        return -1;
    }
    PyObject *mod = PyType_GetModuleByDef(Py_TYPE(s), &zpy_module);
    if (!mod) return -1;
    s->module = Py_NewRef(mod);
    s->st = zpy_state(mod);
    za_config cfg;
    za_config_init(&cfg);
    if (workers_o == Py_None) {
        cfg.workers = 0;
    } else {
        unsigned long long w;
        if (zpy_count(workers_o, "workers (None, 0 for manual, or 1..1024)", 0, 1024, &w) < 0)
            return -1;
        if (w == 0) cfg.manual = 1;
        cfg.workers = (int)w;
    }
    cfg.batch = (uint32_t)batch;
    cfg.http_addr = http; /* copied by za_system_create */
    cfg.http_token = http_token;
    cfg.storage = storage; /* (grains and persistent actors; copied) */
    if (cluster_o != Py_None && zpy_cluster_get(s->st, cluster_o, &cfg.cluster) < 0) return -1;
    if (max_restarts > 0) cfg.root_max_restarts = (uint32_t)max_restarts;
    if (within > 0) cfg.root_within_ms = zpy_seconds_to_ms(within);
    s->manual = cfg.manual;
    s->fork_gen = g_fork_gen;
    s->interp = PyThreadState_Get()->interp;
    s->cells = PyDict_New();
    s->timers = PyDict_New();
    if (!s->cells || !s->timers) return -1;
    s->sweep_at = 1024;
    zpy_host_init(s, budget_s * 1000.0);
    int rc;
    /* opening the storage may connect to a server: without the GIL */
    Py_BEGIN_ALLOW_THREADS;
    rc = za_system_create(&cfg, &s->sys);
    Py_END_ALLOW_THREADS;
    if (rc != ZA_OK) {
        s->sys = NULL;
        if (storage && (rc == ZA_EINVAL || rc == ZA_ECONNECT || rc == ZA_EAUTH || rc == ZA_ESTORE))
            zpy_raise_store(s, rc, za_last_error()); /* (ValueError for a bad URL) */
        else
            zpy_raise_za(s, rc, "System");
        return -1;
    }
    s->nworkers = za_system_workers(s->sys);
    s->tstates = calloc((size_t)(s->nworkers > 0 ? s->nworkers : 1), sizeof *s->tstates);
    if (!s->tstates) {
        za_system_destroy(s->sys);
        s->sys = NULL;
        PyErr_NoMemory();
        return -1;
    }
    za_set_dead_letter_hook(s->sys, zpy_dl_hook, s);
    return 0;
}

static PyObject *System_shutdown(SystemObject *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = NULL;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:shutdown", kwlist, &to) ||
        zpy_duration_opt(to, "timeout", ZPY_DUR_INF_OK, 5.0, &timeout) < 0)
        return NULL;
    if (zpy_check_init(s) < 0) return NULL;
    if (tl_in_actor) {
        PyErr_SetString(PyExc_RuntimeError, "shutdown() cannot run inside an actor");
        return NULL;
    }
    if (s->closed || !s->sys) return PyBool_FromLong(!s->abandoned_flag);
    int rc = zpy_system_close(s, timeout, 1);
    if (rc == ZA_ECANCELLED) return NULL; /* Ctrl-C: closed without the drain */
    return PyBool_FromLong(rc == ZA_OK);
}

/*
 * A live System nobody references (a forgotten shutdown(), or the cycle
 * System <-> its actors' cells found by the cyclic GC): shut it down here,
 * before anything is cleared, so that no worker ever runs an actor whose
 * cell is gone. On a worker (the GC may run inside an actor) it cannot be
 * shut down: it is kept alive (resurrected) and the dispatcher thread shuts
 * it down.
 */
static void System_finalize(SystemObject *s) {
    if (!s->sys || s->closed || s->closing) return;
    if (s->fork_gen != g_fork_gen) return;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    if (tl_in_host || tl_in_actor) {
        zpy_defer_obj(DF_CLOSE, Py_NewRef((PyObject *)s));
    } else {
        zpy_system_close(s, 5.0, 0);
    }
    PyErr_Restore(et, ev, etb);
}

void zpy_system_close_dropped(SystemObject *s) {
    if (s->sys && !s->closed) zpy_system_close(s, 5.0, 0);
}

static PyObject *System_get_abandoned(SystemObject *s, void *Py_UNUSED(x)) {
    return s->abandoned ? Py_NewRef(s->abandoned) : PyTuple_New(0);
}

static void System_dealloc(SystemObject *s) {
    PyTypeObject *tp = Py_TYPE(s);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)s) < 0) return; /* resurrected */
    PyObject_GC_UnTrack(s);
    if (s->weakreflist) PyObject_ClearWeakRefs((PyObject *)s);
    if (s->sys && !s->closed && !tl_in_actor) zpy_system_close(s, 5.0, 0);
    free(s->tstates);
    Py_CLEAR(s->cells);
    Py_CLEAR(s->timers);
    Py_CLEAR(s->dl_callback);
    Py_CLEAR(s->abandoned);
    Py_CLEAR(s->grain_classes);
    Py_CLEAR(s->module);
    tp->tp_free((PyObject *)s);
    Py_DECREF(tp);
}

static int System_traverse(SystemObject *s, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(s));
    Py_VISIT(s->cells);
    Py_VISIT(s->timers);
    Py_VISIT(s->dl_callback);
    Py_VISIT(s->abandoned);
    Py_VISIT(s->grain_classes);
    return 0;
}

static int System_clear(SystemObject *s) {
    /* a live system is never collected: its cells are reachable from workers */
    if ((s->sys && !s->closed) || s->reap_sys) return 0; /* (abandoned: the closer's) */
    Py_CLEAR(s->cells);
    Py_CLEAR(s->timers);
    Py_CLEAR(s->dl_callback);
    Py_CLEAR(s->abandoned);
    Py_CLEAR(s->grain_classes);
    return 0;
}

static PyObject *System_spawn(SystemObject *s, PyObject *args, PyObject *kw) {
    return zpy_spawn(s, NULL, args, kw);
}

static PyObject *System_lookup(SystemObject *s, PyObject *name) {
    if (zpy_check_sys(s) < 0) return NULL;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "name must be a str");
        return NULL;
    }
    za_ref r;
    const char *cname = zpy_cstring(name, "name");
    if (!cname) return NULL;
    int rc = za_lookup(s->sys, cname, &r);
    if (rc == ZA_ENOTFOUND) Py_RETURN_NONE;
    if (rc != ZA_OK) return zpy_raise_za(s, rc, "lookup");
    return zpy_new_ref(s, r, 0);
}

static PyObject *System_run(SystemObject *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"max_turns", NULL};
    PyObject *mt = NULL;
    unsigned long long max_turns = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:run", kwlist, &mt) ||
        (mt && zpy_count(mt, "max_turns", 0, UINT32_MAX, &max_turns) < 0))
        return NULL;
    if (zpy_check_sys(s) < 0) return NULL;
    if (!s->manual) {
        PyErr_SetString(PyExc_RuntimeError, "run() is for System(workers=0) only");
        return NULL;
    }
    int rc;
    HOLDING(rc = za_system_run(s->sys, (uint32_t)max_turns));
    zpy_drain_deferred();
    if (PyErr_Occurred()) return NULL;
    if (rc < 0) return zpy_raise_za(s, rc, "run");
    return PyLong_FromLong(rc);
}

static PyObject *System_on_dead_letter(SystemObject *s, PyObject *cb) {
    if (zpy_check_init(s) < 0) return NULL;
    if (cb != Py_None && !PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, "callback must be callable or None");
        return NULL;
    }
    Py_XSETREF(s->dl_callback, cb == Py_None ? NULL : Py_NewRef(cb));
    atomic_store(&s->dl_on, cb != Py_None);
    return Py_NewRef(cb);
}

static int put_u64(PyObject *d, const char *k, uint64_t v) {
    PyObject *x = PyLong_FromUnsignedLongLong(v);
    if (!x) return -1;
    int r = PyDict_SetItemString(d, k, x);
    Py_DECREF(x);
    return r;
}

static PyObject *lat_dict(const za_latency *l) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (put_u64(d, "count", l->count) < 0 || put_u64(d, "p50_ns", l->p50_ns) < 0 ||
        put_u64(d, "p95_ns", l->p95_ns) < 0 || put_u64(d, "p99_ns", l->p99_ns) < 0 ||
        put_u64(d, "max_ns", l->max_ns) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *System_metrics(SystemObject *s, PyObject *Py_UNUSED(ignored)) {
    if (zpy_check_sys(s) < 0) return NULL;
    za_metrics m;
    int rc = za_metrics_read(s->sys, &m);
    if (rc != ZA_OK) return zpy_raise_za(s, rc, "metrics");
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    PyObject *q = lat_dict(&m.queue_latency), *p = lat_dict(&m.process_latency);
    if (!q || !p || put_u64(d, "sent", m.sent) < 0 || put_u64(d, "delivered", m.delivered) < 0 ||
        put_u64(d, "dead_letters", m.dead_letters) < 0 || put_u64(d, "restarts", m.restarts) < 0 ||
        put_u64(d, "failures", m.failures) < 0 || put_u64(d, "spawned", m.spawned) < 0 ||
        put_u64(d, "stopped", m.stopped) < 0 || put_u64(d, "actors_alive", m.actors_alive) < 0 ||
        put_u64(d, "timers_fired", m.timers_fired) < 0 ||
        put_u64(d, "reply_slots", m.reply_slots) < 0 ||
        PyDict_SetItemString(d, "queue_latency", q) < 0 ||
        PyDict_SetItemString(d, "process_latency", p) < 0) {
        Py_XDECREF(q);
        Py_XDECREF(p);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(q);
    Py_DECREF(p);
    return d;
}

static PyObject *System_prometheus(SystemObject *s, PyObject *Py_UNUSED(ignored)) {
    if (zpy_check_sys(s) < 0) return NULL;
    int n = za_metrics_prometheus(s->sys, NULL, 0);
    if (n < 0) return zpy_raise_za(s, n, "prometheus");
    for (int tries = 0; tries < 4; tries++) {
        size_t cap = (size_t)n + 256;
        char *buf = malloc(cap);
        if (!buf) return PyErr_NoMemory();
        int m = za_metrics_prometheus(s->sys, buf, cap);
        if (m < 0) {
            free(buf);
            return zpy_raise_za(s, m, "prometheus");
        }
        if ((size_t)m < cap) {
            PyObject *r = PyUnicode_FromStringAndSize(buf, m);
            free(buf);
            return r;
        }
        free(buf);
        n = m;
    }
    PyErr_SetString(PyExc_RuntimeError, "metrics text kept growing");
    return NULL;
}

static PyObject *System_send_after(SystemObject *s, PyObject *args, PyObject *kw) {
    return zpy_timer_args(s, args, kw, 0);
}

static PyObject *System_send_interval(SystemObject *s, PyObject *args, PyObject *kw) {
    return zpy_timer_args(s, args, kw, 1);
}

static PyObject *System_enter(SystemObject *s, PyObject *Py_UNUSED(ignored)) {
    if (zpy_check_sys(s) < 0) return NULL;
    return Py_NewRef((PyObject *)s);
}

static PyObject *System_exit(SystemObject *s, PyObject *args) {
    (void)args;
    if (zpy_check_init(s) < 0) return NULL;
    if (!s->closed && s->sys && zpy_system_close(s, 5.0, 1) == ZA_ECANCELLED) return NULL;
    Py_RETURN_FALSE;
}

static PyObject *System_get_workers(SystemObject *s, void *Py_UNUSED(x)) {
    return PyLong_FromLong(s->manual ? 0 : s->nworkers);
}

static PyObject *System_cells(SystemObject *s, PyObject *Py_UNUSED(ignored)) {
    /* (tests) how many actor cells the system holds */
    return PyLong_FromSsize_t(s->cells ? PyDict_GET_SIZE(s->cells) : 0);
}

static PyObject *System_get_closed(SystemObject *s, void *Py_UNUSED(x)) {
    return PyBool_FromLong(s->closed || !s->sys);
}

static PyObject *System_ref(SystemObject *s, PyObject *arg) {
    /* an ActorRef from its 64-bit id (e.g. from a native actor's message) */
    if (zpy_check_sys(s) < 0) return NULL;
    unsigned long long r;
    if (zpy_count(arg, "id", 0, UINT64_MAX, &r) < 0) return NULL;
    return zpy_new_ref(s, (za_ref)r, 0);
}

static PyObject *System_spawn_behaviour(SystemObject *s, PyObject *args, PyObject *kw) {
    /* spawn a native behaviour given the address of its za_behaviour (used by zactor.native) */
    static char *kwlist[] = {"behaviour", "args", "name", NULL};
    unsigned long long addr;
    Py_buffer buf = {0};
    const char *name = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "K|y*z:_spawn_behaviour", kwlist, &addr, &buf,
                                     &name))
        return NULL;
    if (zpy_check_sys(s) < 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    za_spawn_opts o;
    za_spawn_opts_init(&o);
    o.name = name;
    za_ref ref = 0;
    int rc;
    HOLDING(rc = za_spawn(s->sys, (const za_behaviour *)(uintptr_t)addr, buf.buf, (size_t)buf.len,
                          &o, &ref));
    PyBuffer_Release(&buf);
    if (rc != ZA_OK) return zpy_raise_za(s, rc, "spawn_native");
    return zpy_new_ref(s, ref, 2);
}

/* unpack(data): one MessagePack value, strictly (the same reader as messages
 * from other languages, but malformed input is an error, not raw bytes). */
static PyObject *System_unpack(SystemObject *s, PyObject *arg) {
    if (zpy_check_init(s) < 0) return NULL;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *r = zpy_unpack_strict(s, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    return r;
}

/* spawn_lua(spec, *args, name=None, memory_limit=None, budget=None,
 * open_io_os=False, concurrency=None, strategy=None, restart=..., ...): a Lua
 * actor (concurrency overrides the behaviour table's field) with its
 * own lua_State (the Lua host, csrc/hosts/lua/) on the same workers. Lua actors never
 * take the GIL; Python talks to them in MessagePack like to native actors. */
static PyObject *System_spawn_lua(SystemObject *s, PyObject *args, PyObject *kw) {
#ifndef ZA_WITH_LUA
    PyErr_SetString(PyExc_RuntimeError,
                    "spawn_lua: this zactor was built without Lua support (install the Lua 5.4 "
                    "headers, e.g. Debian's liblua5.4-dev, then reinstall zactor)");
    return NULL;
#else
    if (zpy_check_sys(s) < 0) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError,
                        "spawn_lua() needs a Lua behaviour: a path to a .lua file, a module name "
                        "or Lua source text");
        return NULL;
    }
    const char *spec = zpy_cstring(PyTuple_GET_ITEM(args, 0), "the Lua behaviour");
    if (!spec) return NULL;
    za_lua_opts lo = {0};
    PyObject *optkw = NULL, *name_keep = NULL, *strat = NULL, *packed = NULL, *v;
    PyObject *rest = NULL;
    if (kw) {
        if (!(optkw = PyDict_Copy(kw))) return NULL;
        if ((v = PyDict_GetItemString(optkw, "memory_limit")) && v != Py_None) {
            unsigned long long m;
            if (zpy_count(v, "memory_limit", 1, SIZE_MAX, &m) < 0) goto err;
            lo.memory_limit = (size_t)m;
        }
        if ((v = PyDict_GetItemString(optkw, "budget")) && v != Py_None) {
            double b;
            if (zpy_duration(v, "budget", ZPY_DUR_POSITIVE, &b) < 0) goto err;
            lo.budget_ms = zpy_seconds_to_ms(b);
        }
        if ((v = PyDict_GetItemString(optkw, "open_io_os")) && v != Py_None) {
            /* a bool, as from Lua: "false" is a true value and would open io/os */
            if (!PyBool_Check(v)) {
                PyErr_Format(PyExc_TypeError, "open_io_os must be a bool, not %s",
                             Py_TYPE(v)->tp_name);
                goto err;
            }
            lo.open_io_os = v == Py_True;
        }
        if ((v = PyDict_GetItemString(optkw, "concurrency")) && v != Py_None) {
            /* overrides the behaviour table's `concurrency` field */
            unsigned long long c;
            if (zpy_count(v, "concurrency", 1, ZA_LUA_CONCURRENCY_MAX, &c) < 0) goto err;
            lo.concurrency = (uint32_t)c;
        }
        if ((v = PyDict_GetItemString(optkw, "persistence_id")) && v != Py_None) {
            /* a persistent Lua actor (csrc/hosts/lua/persist.c); the string
             * stays alive in the caller's kw */
            if (!PyUnicode_Check(v)) {
                PyErr_Format(PyExc_TypeError, "persistence_id must be a str, not %s",
                             Py_TYPE(v)->tp_name);
                goto err;
            }
            if (!(lo.persistence_id = zpy_cstring(v, "persistence_id"))) goto err;
        }
        strat = PyDict_GetItemString(optkw, "strategy");
        Py_XINCREF(strat); /* optkw loses it just below */
        static const char *lua_only[] = {"memory_limit", "budget",         "open_io_os", "strategy",
                                         "concurrency",  "persistence_id", NULL};
        for (int i = 0; lua_only[i]; i++)
            if (PyDict_DelItemString(optkw, lua_only[i]) < 0) PyErr_Clear();
    }
    za_spawn_opts o;
    int blocking = 0;
    if (zpy_parse_spawn_opts(s, strat, optkw, &o, &name_keep, &blocking) < 0) goto err;
    if (n > 1) {
        if (!(rest = PyTuple_GetSlice(args, 1, n))) goto err;
        za_pack *p = za_pack_new();
        if (!p) {
            PyErr_NoMemory();
            goto err;
        }
        if (zpy_pack_obj(s->st, p, rest, 0) < 0) {
            za_pack_free(p);
            goto err;
        }
        packed = PyBytes_FromStringAndSize(za_pack_data(p), (Py_ssize_t)za_pack_size(p));
        za_pack_free(p);
        if (!packed) goto err;
    }
    za_ref ref = 0;
    char errbuf[512];
    int rc;
    /* compiling the chunk may take a while: let other Python threads run */
    Py_BEGIN_ALLOW_THREADS;
    rc = za_lua_spawn_ex(s->sys, spec, packed ? PyBytes_AS_STRING(packed) : NULL,
                         packed ? (size_t)PyBytes_GET_SIZE(packed) : 0, &o, &lo, &ref, errbuf,
                         sizeof errbuf);
    Py_END_ALLOW_THREADS;
    if (rc != ZA_OK) {
        if (rc == ZA_EVALUE && errbuf[0])
            PyErr_Format(PyExc_ValueError, "spawn_lua(%R): %s", PyTuple_GET_ITEM(args, 0), errbuf);
        else
            zpy_raise_za(s, rc, "spawn_lua");
        goto err;
    }
    Py_XDECREF(optkw);
    Py_XDECREF(name_keep);
    Py_XDECREF(strat);
    Py_XDECREF(packed);
    Py_XDECREF(rest);
    return zpy_new_ref(s, ref, 2);
err:
    Py_XDECREF(optkw);
    Py_XDECREF(name_keep);
    Py_XDECREF(strat);
    Py_XDECREF(packed);
    Py_XDECREF(rest);
    return NULL;
#endif
}

static PyObject *System_wait_idle(SystemObject *s, PyObject *args) {
    PyObject *to = NULL;
    double timeout;
    if (!PyArg_ParseTuple(args, "|O:wait_idle", &to) ||
        zpy_duration_opt(to, "timeout", ZPY_DUR_INF_OK, 5.0, &timeout) < 0)
        return NULL;
    uint32_t ms = zpy_seconds_to_ms(timeout);
    if (zpy_check_sys(s) < 0 || zpy_refuse_in_actor("wait_idle()") < 0) return NULL;
    int rc;
    if (s->manual) {
        HOLDING(rc = za_system_wait_idle(s->sys, ms));
    } else {
        zpy_gil_release();
        rc = za_system_wait_idle(s->sys, ms);
        zpy_gil_acquire();
    }
    zpy_drain_deferred();
    return PyBool_FromLong(rc == ZA_OK);
}

static PyMethodDef System_methods[] = {
    {"spawn", (PyCFunction)(void (*)(void))System_spawn, METH_VARARGS | METH_KEYWORDS,
     "spawn(cls, *args, kwargs=None, name=None, restart='permanent', max_restarts=None, "
     "within=None, backoff=None, capacity=0, on_full='fail', block_timeout=1.0) -> ActorRef. "
     "cls(*args, **kwargs) runs on a worker; a restart runs it again with the same arguments."},
    {"lookup", (PyCFunction)System_lookup, METH_O, "lookup(name) -> ActorRef or None."},
    {"shutdown", (PyCFunction)(void (*)(void))System_shutdown, METH_VARARGS | METH_KEYWORDS,
     "shutdown(timeout=5.0) -> bool: let mailboxes drain, stop actors children-first, join "
     "workers, all within about timeout seconds (inf: no limit). False if draining did not "
     "finish in time; if a handler is still running then, its worker is abandoned (a "
     "RuntimeWarning, System.abandoned lists those actors) and shutdown returns anyway. "
     "Idempotent."},
    {"run", (PyCFunction)(void (*)(void))System_run, METH_VARARGS | METH_KEYWORDS,
     "run(max_turns=0) -> int: System(workers=0) only: run actor turns on this thread (0: until "
     "idle)."},
    {"on_dead_letter", (PyCFunction)System_on_dead_letter, METH_O,
     "on_dead_letter(callback): callback(DeadLetter) for every dead letter (called soon after, "
     "from a thread holding the GIL); None removes it."},
    {"metrics", (PyCFunction)System_metrics, METH_NOARGS, "Counters and latency percentiles."},
    {"prometheus", (PyCFunction)System_prometheus, METH_NOARGS, "Prometheus text exposition."},
    {"send_after", (PyCFunction)(void (*)(void))System_send_after, METH_VARARGS | METH_KEYWORDS,
     "send_after(delay, ref, msg) -> Timer"},
    {"send_interval", (PyCFunction)(void (*)(void))System_send_interval,
     METH_VARARGS | METH_KEYWORDS, "send_interval(interval, ref, msg, delay=interval) -> Timer"},
    {"wait_idle", (PyCFunction)System_wait_idle, METH_VARARGS,
     "wait_idle(timeout=5.0) -> bool: wait until no actor is alive."},
    {"ref", (PyCFunction)System_ref, METH_O, "ref(id) -> ActorRef from a 64-bit id."},
    {"unpack", (PyCFunction)System_unpack, METH_O,
     "unpack(data) -> value: decode one MessagePack value as messages from Lua and C actors "
     "are decoded (actor refs bind to this system). ValueError if malformed."},
    {"spawn_lua", (PyCFunction)(void (*)(void))System_spawn_lua, METH_VARARGS | METH_KEYWORDS,
     "spawn_lua(spec, *args, name=None, memory_limit=None, budget=None, open_io_os=False, "
     "concurrency=None, strategy=None, restart='permanent', max_restarts=None, within=None, "
     "backoff=None, capacity=0, on_full='fail') -> ActorRef. spec: a path to a .lua file, a module "
     "name or "
     "Lua source text returning {init=, receive=, stop=}; args go to init. concurrency: how "
     "many handlers may interleave (default: the behaviour's `concurrency`, 1)."},
    {"_spawn_behaviour", (PyCFunction)(void (*)(void))System_spawn_behaviour,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"_cells", (PyCFunction)System_cells, METH_NOARGS, NULL},
    {"__enter__", (PyCFunction)System_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)System_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef System_getset[] = {
    {"workers", (getter)System_get_workers, NULL, "Number of worker threads (0: manual).", NULL},
    {"closed", (getter)System_get_closed, NULL, "True once shut down.", NULL},
    {"abandoned", (getter)System_get_abandoned, NULL,
     "The actors whose handler was still running when shutdown(timeout) gave up waiting (their "
     "worker is abandoned); () otherwise.",
     NULL},
    {"http_url", (getter)zpy_system_http_url, NULL,
     "URL of the HTTP endpoint (System(http=...)), e.g. 'http://127.0.0.1:9100'; None if off.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef System_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(SystemObject, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot System_slots[] = {
    {Py_tp_new, System_new},
    {Py_tp_init, System_init},
    {Py_tp_dealloc, System_dealloc},
    {Py_tp_finalize, System_finalize},
    {Py_tp_traverse, System_traverse},
    {Py_tp_clear, System_clear},
    {Py_tp_methods, System_methods},
    {Py_tp_getset, System_getset},
    {Py_tp_members, System_members},
    {Py_tp_doc, "System(workers=None, *, batch=0, budget_ms=2.0, max_restarts=0, within=0, "
                "http=None, http_token=None): an actor system. workers=None: one worker per "
                "core; workers=0: deterministic manual mode (actors run in the caller during "
                "ask/join/run). http='127.0.0.1:9100' serves /metrics, /health/live, "
                "/health/ready, /actors, /tree, /deadletters and a dashboard at / (port 0: any "
                "free port, see http_url); a non-loopback address needs http_token (a bearer "
                "token requests must present)."},
    {0, NULL},
};

PyType_Spec zpy_System_spec = {"zactor._zactor.System", sizeof(SystemObject), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                               System_slots};
