/*
 * _zactor.c - the CPython glue of zactor: Python actors on the runtime's
 * native workers.
 *
 * How Python meets the runtime (see DESIGN.md, "Python host"):
 *  - Every Python actor is a za_behaviour whose host is this system's
 *    za_host: exclusive (one worker at a time runs Python actors), and its
 *    enter/leave swap a per-worker PyThreadState in and out
 *    (PyEval_RestoreThread/SaveThread, ~90 ns) once per batch of turns,
 *    never PyGILState_Ensure per message (~5.5 us).
 *  - Python-to-Python messages carry the object itself (za_tell_ptr with a
 *    new reference and py_obj_dtor). Runtime threads may run that dtor, an
 *    ask callback or the dead-letter hook without the GIL; they then never
 *    touch Python: the work goes on a process-wide FIFO ("deferred queue")
 *    drained under the GIL by a dispatcher thread, by workers entering the
 *    host, and after blocking waits.
 *  - Blocking calls release the GIL, wait in 50 ms slices and call
 *    PyErr_CheckSignals between slices, so Ctrl-C works. A blocking ask is
 *    the runtime's sliced ask (za_ask_ptr_start + za_ask_wait, which polls
 *    ~20 us before it sleeps), sent after the GIL is released.
 *  - Hand-offs of the GIL on the hot paths poll briefly instead of sleeping
 *    in the GIL (g_in_host, g_handoff below): a futex sleep and wake-up
 *    costs more than a whole ask round trip.
 *  - `await future` polls for the answer for a moment before it parks the
 *    task on an asyncio future, which the loop's _LoopWaker (zactor/
 *    __init__.py) resolves: one call_soon_threadsafe per batch of answers.
 *  - receive is looked up once per incarnation (its function, called with
 *    the instance); Python actors are recognised by za_ref_behaviour; a cell
 *    is dropped at the actor's final stop (za_ctx_final_stop).
 *  - A thread-local flag (tl_gil) says "this thread holds the GIL on behalf
 *    of the glue"; callbacks consult it to act at once or defer.
 *
 * Module style: multi-phase init, heap types, state in the module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zactor.h"
#ifdef ZA_WITH_LUA
#include "hosts/lua_host.h"
#endif

/* Message tags the glue uses on the wire (tags >= 0 are user space; these
 * are high enough not to collide with the small tags native behaviours use). */
#define TAG_PY 0x7A505900    /* PTR payload: a PyObject* (new reference) */
#define TAG_PYEXC 0x7A505901 /* PTR reply: the exception raised by receive */
#define TAG_TIMER 0x7A505902 /* bytes: uint64 key into System.timers */

#define SLICE_MS 50u         /* blocking waits wake this often for signals */
#define SLICE_NS 50000000ull
#define GIL_FREE_SPIN_NS 10000ull /* wait this long for a worker to leave the GIL */
#define HANDOFF_NS 20000ull  /* a caller that just sent work releases the GIL within this */
#define AWAIT_SPIN_NS 50000ull /* an await polls this long before it parks its task */
#define RESULT_POLL_NS 20000ull /* Future.result() polls this long before it sleeps */

static const char PY_BEH_NAME[] = "zactor.python";

/* ------------------------------------------------------------ module state */

typedef struct {
    PyTypeObject *System_Type;
    PyTypeObject *Ref_Type;
    PyTypeObject *Future_Type;
    PyTypeObject *Context_Type;
    PyTypeObject *Timer_Type;
    PyTypeObject *FutureIter_Type;
    PyObject *ActorError;
    PyObject *ActorDeadError;
    PyObject *AskTimeout;
    PyObject *MailboxFull;
    PyObject *ActorFailed;
    PyObject *CancelledError;
    /* Python-level helpers registered by zactor/__init__.py (_set_hooks) */
    PyObject *terminated_cls;
    PyObject *dead_letter_cls;
    PyObject *report_failure;
    PyObject *get_running_loop; /* asyncio.get_running_loop */
    PyObject *waker_for;        /* loop -> its _LoopWaker */
    PyObject *function_actor;   /* Actor class wrapping a plain callable */
    PyObject *last_loop, *last_waker; /* one-entry cache of waker_for */
    PyObject *str_receive, *str_on_start, *str_on_stop, *str_on_failure, *str_context,
        *str_init, *str_new, *str_strategy, *str_add_note, *str_create_future, *str_add,
        *str_blocking;
} modstate;

static inline modstate *get_state(PyObject *module) { return (modstate *)PyModule_GetState(module); }

/* Bumped in the child after fork: systems created before it are unusable. */
static unsigned fork_gen;

/* ------------------------------------------------------------ GIL hand-off
 *
 * A futex sleep plus wake-up costs 5-20 us on this kind of machine, more
 * than a whole ask round trip should. Two hints let the threads that trade
 * the GIL on the hot paths (a caller thread waiting for an answer, the
 * worker serving Python actors) poll for a few microseconds instead of
 * sleeping inside PyEval_RestoreThread while the other side still holds it:
 *  - g_in_host: workers inside a Python host, i.e. holding the GIL for a
 *    batch of turns. A caller whose answer is there waits (bounded) for it
 *    to drop to 0 before taking the GIL back.
 *  - g_handoff: set (to a deadline in ns) by a caller thread that has just
 *    sent work to a Python actor and will release the GIL right after
 *    (ask_async before an await); cleared when it does. A worker entering
 *    the host polls while it is set instead of sleeping in the GIL.
 * Both are hints: the bounded polls fall back to the blocking GIL. */
static _Atomic int g_in_host;
static _Atomic uint64_t g_handoff;

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/*
 * A bounded poll. (Yielding the CPU between looks was tried: on a loaded
 * machine sched_yield hands the CPU to whatever else is runnable for a
 * whole time slice, which made asks 3-10x slower than spinning.)
 * Use: poller p; poll_init(&p, max); while (!cond && poll_pause(&p)) {}
 */
typedef struct poller {
    uint64_t end;
} poller;

static inline void poll_init(poller *p, uint64_t max_ns) { p->end = now_ns() + max_ns; }

/* Pause a little; 0 once the time is up. */
static inline int poll_pause(poller *p) {
    for (int i = 0; i < 16; i++) cpu_relax();
    return now_ns() < p->end;
}

/* Without the GIL: give a worker inside the host a moment to leave it. */
static void wait_gil_free(void) {
    if (!atomic_load_explicit(&g_in_host, memory_order_acquire)) return;
    poller p;
    poll_init(&p, GIL_FREE_SPIN_NS);
    while (atomic_load_explicit(&g_in_host, memory_order_acquire) && poll_pause(&p)) {
    }
}

static inline void handoff_promise(void) {
    atomic_store_explicit(&g_handoff, now_ns() + HANDOFF_NS, memory_order_release);
}

/* ------------------------------------------------------ thread-local flags */

/* 1 while this thread holds the GIL for the glue (worker inside the host,
 * or a caller thread inside a HOLDING scope). */
static _Thread_local int tl_gil;
/* The thread state a glue wait saved when it released the GIL on this
 * thread: a runtime callback on the same thread (e.g. a stop hook during
 * shutdown teardown) may take the GIL back with it. */
static _Thread_local PyThreadState *tl_saved;
/* Depth of actor callbacks (start/receive/stop) on this thread: blocking
 * calls there would stall the worker that other Python actors need. */
static _Thread_local int tl_in_actor;

#define HOLDING(expr)                                                                              \
    do {                                                                                           \
        int saved_gil_ = tl_gil;                                                                   \
        tl_gil = 1;                                                                                \
        expr;                                                                                      \
        tl_gil = saved_gil_;                                                                       \
    } while (0)

/* Release the GIL for a glue wait (and fulfil a hand-off promise). */
static void gil_release(void) {
    tl_gil = 0;
    tl_saved = PyEval_SaveThread();
    if (atomic_load_explicit(&g_handoff, memory_order_relaxed))
        atomic_store_explicit(&g_handoff, 0, memory_order_release);
}

static void gil_acquire(void) {
    PyThreadState *ts = tl_saved;
    tl_saved = NULL;
    PyEval_RestoreThread(ts);
}

/* ------------------------------------------------------------------ types */

typedef struct SystemObject {
    PyObject_HEAD
    za_system *sys;
    PyObject *module;
    modstate *st;
    za_host host;
    za_behaviour beh;       /* Python actors */
    za_behaviour beh_block; /* the same, for actors whose mailbox blocks senders when full */
    int manual;
    int nworkers;
    int closed;  /* workers joined: every call refuses */
    int closing; /* shutdown in progress */
    unsigned fork_gen;
    PyInterpreterState *interp;
    PyThreadState **tstates; /* one per worker, created on the worker */
    PyObject *cells;         /* int(ref) -> Context, for live Python actors */
    Py_ssize_t sweep_at;
    PyObject *timers;        /* int(key) -> (msg, periodic) */
    uint64_t next_timer_key;
    PyObject *dl_callback;
    _Atomic int dl_on;
    unsigned aw_tries, aw_hits; /* recent awaits that polled, and saw the answer (decaying) */
    unsigned aw_count;
    PyObject *weakreflist;
} SystemObject;

typedef struct RefObject {
    PyObject_HEAD
    SystemObject *sys;
    za_ref ref;
    int kind; /* 0 unknown, 1 Python actor, 2 native/other */
    int blocking; /* target's mailbox blocks senders when full */
} RefObject;

/* Per-actor cell: spawn spec kept for restarts, and self.context. */
typedef struct ContextObject {
    PyObject_HEAD
    SystemObject *sys;
    PyObject *cls;
    PyObject *args;
    PyObject *kwargs;
    PyObject *last_exc;
    za_ref ref;
    za_ctx *cur;    /* set during this actor's callbacks */
    za_ref sender;  /* sender of the message being received */
} ContextObject;

/* State of a Python actor inside the runtime (za_behaviour.state_size). */
typedef struct {
    PyObject *inst;
    PyObject *recv; /* inst.receive, looked up once per incarnation: the bound
                       method, or its function when recv_fn (called as fn(inst, msg)) */
    int recv_fn;
    int failed;
} pyactor;

/* The part of a Future that runtime threads touch: no Python inside. */
typedef struct futcore {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int refs;
    _Atomic int done;
    za_answer ans;
    PyObject *keep; /* the Future, kept alive while callbacks wait (owned) */
} futcore;

typedef struct FutureObject {
    PyObject_HEAD
    SystemObject *sys;
    futcore *core;
    za_ask_handle *handle;
    PyObject *callbacks; /* list or NULL */
    PyObject *result;
    PyObject *exc;
    int converted;
    int cancelled;
    za_ref target;
    double timeout;
    PyObject *aw_waiters; /* parked awaiting tasks: list of (waker, asyncio future), or NULL */
} FutureObject;

/* The iterator of `await future`. */
typedef struct FutureIterObject {
    PyObject_HEAD
    FutureObject *fut;
    int parked; /* yielded an asyncio waiter */
} FutureIterObject;

typedef struct TimerObject {
    PyObject_HEAD
    SystemObject *sys;
    za_timer_id id;
    uint64_t key;
    int active;
} TimerObject;

/* ----------------------------------------------------------- deferred work */

enum { DF_DECREF = 1, DF_FUTCB = 2, DF_DL = 3 };

typedef struct defer_item {
    struct defer_item *next;
    int kind;
    int owned; /* DL: obj is a new reference (else borrowed, see dl_hook) */
    PyObject *obj;
    SystemObject *sys;
    za_ref target, sender;
    int32_t tag;
    int reason;
    size_t len;
    unsigned char data[];
} defer_item;

static pthread_mutex_t dq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dq_cv = PTHREAD_COND_INITIALIZER;
static defer_item *dq_head, *dq_tail;
static _Atomic int dq_pending;
static int dq_stop;

static void defer_push(defer_item *it) {
    it->next = NULL;
    pthread_mutex_lock(&dq_mu);
    if (dq_tail)
        dq_tail->next = it;
    else
        dq_head = it;
    dq_tail = it;
    atomic_store(&dq_pending, 1);
    pthread_cond_signal(&dq_cv);
    pthread_mutex_unlock(&dq_mu);
}

static void defer_obj(int kind, PyObject *obj) {
    defer_item *it = calloc(1, sizeof *it);
    if (!it) return; /* out of memory: leaking one reference is the safe choice */
    it->kind = kind;
    it->obj = obj;
    defer_push(it);
}

/* PTR payload destructor: runs exactly once, on whatever thread. */
static void py_obj_dtor(void *p) {
    if (!p) return;
    if (tl_gil)
        Py_DECREF((PyObject *)p);
    else
        defer_obj(DF_DECREF, (PyObject *)p);
}

static void run_future_callbacks(FutureObject *f);
static void deliver_dead_letter(defer_item *it);

/* Run deferred work. GIL held. */
static void drain_deferred(void) {
    if (!atomic_load(&dq_pending)) return;
    pthread_mutex_lock(&dq_mu);
    defer_item *list = dq_head;
    dq_head = dq_tail = NULL;
    atomic_store(&dq_pending, 0);
    pthread_mutex_unlock(&dq_mu);
    /* Pin the systems of dead-letter items before any Python runs (which may
     * switch threads and let a system be closed and freed meanwhile). */
    for (defer_item *it = list; it; it = it->next)
        if (it->kind == DF_DL) Py_INCREF(it->sys);
    int saved = tl_gil;
    tl_gil = 1;
    while (list) {
        defer_item *it = list;
        list = it->next;
        switch (it->kind) {
        case DF_DECREF:
            Py_DECREF(it->obj);
            break;
        case DF_FUTCB:
            run_future_callbacks((FutureObject *)it->obj);
            Py_DECREF(it->obj);
            break;
        case DF_DL:
            deliver_dead_letter(it);
            Py_DECREF(it->sys);
            break;
        }
        free(it);
    }
    tl_gil = saved;
}

/* ------------------------------------------------------------------ errors */

static int check_sys(SystemObject *s) {
    if (s->fork_gen != fork_gen) {
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

static PyObject *raise_za(SystemObject *s, int rc, const char *what) {
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
    default:
        exc = st->ActorError;
        break;
    }
    PyErr_Format(exc, "%s: %s", what, detail);
    return NULL;
}

/* ------------------------------------------------------------ MessagePack */

static int pack_obj(modstate *st, za_pack *p, PyObject *o, int depth) {
    if (depth > 32) {
        PyErr_SetString(PyExc_ValueError, "value nested too deeply for MessagePack");
        return -1;
    }
    int rc;
    if (o == Py_None) {
        rc = za_pack_nil(p);
    } else if (PyBool_Check(o)) {
        rc = za_pack_bool(p, o == Py_True);
    } else if (PyLong_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(o);
            if (PyErr_Occurred()) return -1;
            rc = za_pack_uint(p, u);
        } else if (overflow < 0) {
            PyErr_SetString(PyExc_OverflowError, "int too small for MessagePack");
            return -1;
        } else {
            if (v == -1 && PyErr_Occurred()) return -1;
            rc = za_pack_int(p, v);
        }
    } else if (PyFloat_Check(o)) {
        rc = za_pack_double(p, PyFloat_AS_DOUBLE(o));
    } else if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) return -1;
        rc = za_pack_str(p, s, (size_t)n);
    } else if (PyBytes_Check(o)) {
        rc = za_pack_bin(p, PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
    } else if (PyByteArray_Check(o)) {
        rc = za_pack_bin(p, PyByteArray_AS_STRING(o), (size_t)PyByteArray_GET_SIZE(o));
    } else if (PyObject_TypeCheck(o, st->Ref_Type)) {
        rc = za_pack_ref(p, ((RefObject *)o)->ref);
    } else if (PyList_Check(o) || PyTuple_Check(o)) {
        PyObject *seq = PySequence_Fast(o, "");
        if (!seq) return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        rc = za_pack_array(p, (uint32_t)n);
        for (Py_ssize_t i = 0; rc == ZA_OK && i < n; i++) {
            if (pack_obj(st, p, PySequence_Fast_GET_ITEM(seq, i), depth + 1) < 0) {
                Py_DECREF(seq);
                return -1;
            }
        }
        Py_DECREF(seq);
    } else if (PyDict_Check(o)) {
        rc = za_pack_map(p, (uint32_t)PyDict_GET_SIZE(o));
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (rc == ZA_OK && PyDict_Next(o, &pos, &k, &v)) {
            if (pack_obj(st, p, k, depth + 1) < 0 || pack_obj(st, p, v, depth + 1) < 0) return -1;
        }
    } else {
        PyErr_Format(PyExc_TypeError,
                     "cannot send a %.100s to a non-Python actor: only None, bool, int, float, "
                     "str, bytes, list, tuple, dict and ActorRef cross languages",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    if (rc != ZA_OK) {
        PyErr_Format(PyExc_ValueError, "MessagePack encoding failed: %s", za_last_error());
        return -1;
    }
    return 0;
}

static PyObject *new_ref(SystemObject *s, za_ref r, int kind);

static PyObject *value_to_py(SystemObject *s, const za_value *v) {
    switch (v->type) {
    case ZA_V_NIL:
        Py_RETURN_NONE;
    case ZA_V_BOOL:
        return PyBool_FromLong(v->v.b);
    case ZA_V_INT:
        return PyLong_FromLongLong(v->v.i);
    case ZA_V_UINT:
        return PyLong_FromUnsignedLongLong(v->v.u);
    case ZA_V_DOUBLE:
        return PyFloat_FromDouble(v->v.d);
    case ZA_V_STR:
        return PyUnicode_DecodeUTF8(v->v.str.ptr, v->v.str.len, "surrogateescape");
    case ZA_V_BIN:
        return PyBytes_FromStringAndSize(v->v.str.ptr, v->v.str.len);
    case ZA_V_REF:
        return new_ref(s, v->v.ref, 0);
    case ZA_V_ARRAY: {
        PyObject *l = PyList_New(v->v.array.n);
        if (!l) return NULL;
        for (uint32_t i = 0; i < v->v.array.n; i++) {
            PyObject *x = value_to_py(s, &v->v.array.items[i]);
            if (!x) {
                Py_DECREF(l);
                return NULL;
            }
            PyList_SET_ITEM(l, i, x);
        }
        return l;
    }
    case ZA_V_MAP: {
        PyObject *d = PyDict_New();
        if (!d) return NULL;
        for (uint32_t i = 0; i < v->v.map.n; i++) {
            PyObject *k = value_to_py(s, &v->v.map.keys[i]);
            PyObject *x = k ? value_to_py(s, &v->v.map.vals[i]) : NULL;
            if (!x || PyDict_SetItem(d, k, x) < 0) {
                Py_XDECREF(k);
                Py_XDECREF(x);
                Py_DECREF(d);
                return NULL;
            }
            Py_DECREF(k);
            Py_DECREF(x);
        }
        return d;
    }
    }
    Py_RETURN_NONE;
}

/* Bytes from another language: MessagePack if it parses, else raw bytes. */
static PyObject *bytes_to_py(SystemObject *s, const void *data, size_t len) {
    if (!len) Py_RETURN_NONE;
    za_doc *d = NULL;
    if (za_doc_decode(data, len, &d) == ZA_OK) {
        PyObject *r = value_to_py(s, za_doc_root(d));
        za_doc_free(d);
        return r;
    }
    return PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
}

/* ------------------------------------------------------------- ActorRef */

static PyObject *new_ref(SystemObject *s, za_ref r, int kind) {
    RefObject *o = PyObject_New(RefObject, s->st->Ref_Type);
    if (!o) return NULL;
    Py_INCREF(s);
    o->sys = s;
    o->ref = r;
    o->kind = kind;
    o->blocking = 0;
    return (PyObject *)o;
}

static void Ref_dealloc(RefObject *o) {
    PyTypeObject *tp = Py_TYPE(o);
    Py_XDECREF(o->sys);
    PyObject_Free(o);
    Py_DECREF(tp);
}

static int py_receive(za_ctx *ctx, const za_msg *m);

/* Is the target a Python actor? Cached in the ref once the runtime knows
 * the actor's behaviour (za_ref_behaviour: no lock, no dictionary). */
static int ref_kind(RefObject *r) {
    if (r->kind) return r->kind;
    SystemObject *s = r->sys;
    const za_behaviour *b = za_ref_behaviour(s->sys, r->ref);
    if (!b) return 0; /* dead (the send reports it), or not started yet */
    if (b->receive == py_receive) {
        r->kind = 1;
        r->blocking = b == &s->beh_block;
    } else {
        r->kind = 2;
    }
    return r->kind;
}

static int parse_prio(PyObject *o, za_prio *out) {
    if (!o || o == Py_None) {
        *out = ZA_PRIO_NORMAL;
        return 0;
    }
    if (PyUnicode_Check(o)) {
        if (PyUnicode_CompareWithASCIIString(o, "high") == 0) *out = ZA_PRIO_HIGH;
        else if (PyUnicode_CompareWithASCIIString(o, "normal") == 0) *out = ZA_PRIO_NORMAL;
        else if (PyUnicode_CompareWithASCIIString(o, "low") == 0) *out = ZA_PRIO_LOW;
        else goto bad;
        return 0;
    }
bad:
    PyErr_SetString(PyExc_ValueError, "priority must be 'high', 'normal' or 'low'");
    return -1;
}

/*
 * Arguments of a METH_FASTCALL | METH_KEYWORDS method: names[] in order,
 * the first npos may be passed by position, the first nreq are required.
 * out[] gets borrowed references (NULL when absent).
 */
static int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, const char *const *names, int n, int npos, int nreq,
                      PyObject **out) {
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (nargs > npos) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional argument%s (%zd given)",
                     fname, npos, npos == 1 ? "" : "s", nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) out[i] = args[i];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = -1;
        for (int i = 0; i < n && found < 0; i++)
            if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) found = i;
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname,
                         key);
            return -1;
        }
        if (out[found]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[found]);
            return -1;
        }
        out[found] = args[nargs + k];
    }
    for (int i = 0; i < nreq; i++) {
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

/* Send msg to r (Python object to Python actors, MessagePack otherwise). */
static int send_msg(RefObject *r, PyObject *msg, za_prio prio, int32_t tag) {
    SystemObject *s = r->sys;
    if (s->fork_gen != fork_gen || s->closed || !s->sys) return check_sys(s);
    int kind = r->kind ? r->kind : ref_kind(r);
    int rc;
    if (kind != 2) {
        Py_INCREF(msg);
        if ((r->blocking || !kind) && !tl_in_actor && !s->manual) {
            /* a full blocking mailbox waits for the receiver, which may need the
             * GIL (kind 0: not started yet, so the mailbox kind is not known) */
            gil_release();
            rc = za_tell_ptr(s->sys, r->ref, TAG_PY, msg, py_obj_dtor, prio);
            gil_acquire();
        } else {
            HOLDING(rc = za_tell_ptr(s->sys, r->ref, TAG_PY, msg, py_obj_dtor, prio));
        }
        if (rc == ZA_OK) return 0;
        if (rc != ZA_EDROPPED) Py_DECREF(msg);
    } else {
        za_pack *p = za_pack_new();
        if (!p) return PyErr_NoMemory(), -1;
        if (pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            return -1;
        }
        HOLDING(rc = za_tell_prio(s->sys, r->ref, tag, za_pack_data(p), za_pack_size(p), prio));
        za_pack_free(p);
    }
    if (rc == ZA_OK || rc == ZA_EDROPPED) return 0;
    raise_za(s, rc, "tell");
    return -1;
}

static PyObject *Ref_tell(RefObject *r, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames) {
    if (nargs == 1 && !kwnames) {
        /* the common case: no options */
        if (send_msg(r, args[0], ZA_PRIO_NORMAL, 0) < 0) return NULL;
        Py_RETURN_NONE;
    }
    static const char *const names[] = {"msg", "priority", "tag"};
    PyObject *a[3];
    if (parse_args("tell", args, nargs, kwnames, names, 3, 1, 1, a) < 0) return NULL;
    za_prio prio;
    if (parse_prio(a[1], &prio) < 0) return NULL;
    int tag = 0;
    if (a[2]) {
        long t = PyLong_AsLong(a[2]);
        if (t == -1 && PyErr_Occurred()) return NULL;
        if (t < 0 || t > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "tag must be in 0..2**31-1");
            return NULL;
        }
        tag = (int)t;
    }
    if (send_msg(r, a[0], prio, tag) < 0) return NULL;
    Py_RETURN_NONE;
}

/* ref.send(msg): tell(msg) with no options, METH_O. */
static PyObject *Ref_tell_fast(RefObject *r, PyObject *msg) {
    if (send_msg(r, msg, ZA_PRIO_NORMAL, 0) < 0) return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- answers */

/* Raise an exception object, keeping its traceback. */
static void raise_exc_obj(PyObject *exc) {
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), Py_NewRef(exc), tb);
}

/*
 * Turn an answer into *res or *exc (exactly one is set, new references).
 * A PTR payload moves out of the answer. GIL held.
 */
static void answer_to_py(SystemObject *s, za_answer *a, double timeout, PyObject **res,
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
        *res = bytes_to_py(s, a->data, a->len);
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

static uint64_t deadline_after(double timeout) {
    if (timeout < 0 || timeout > 1e9) return UINT64_MAX;
    return now_ns() + (uint64_t)(timeout * 1e9);
}

/* The next wait slice in ms: up to SLICE_MS, rounded up, 0 at the deadline. */
static uint32_t slice_ms(uint64_t deadline) {
    uint64_t now = now_ns();
    if (now >= deadline) return 0;
    uint64_t left = deadline - now;
    if (left >= SLICE_NS) return SLICE_MS;
    return (uint32_t)((left + 999999ull) / 1000000ull);
}

/* ---------------------------------------------------------------- Future */

static void core_release(futcore *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    za_answer_free(&c->ans); /* a PTR answer's dtor defers if needed */
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static futcore *core_new(void) {
    futcore *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&c->refs, 1);
    return c;
}

/* The ask callback: any runtime thread, GIL maybe not held. */
static void ask_cb(za_answer *a, void *ud) {
    futcore *c = ud;
    pthread_mutex_lock(&c->mu);
    c->ans = *a;
    memset(a, 0, sizeof *a);
    atomic_store_explicit(&c->done, 1, memory_order_release);
    PyObject *keep = c->keep;
    c->keep = NULL;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (keep) {
        if (tl_gil) {
            run_future_callbacks((FutureObject *)keep);
            Py_DECREF(keep);
        } else {
            defer_obj(DF_FUTCB, keep);
        }
    }
    core_release(c);
}

static int refuse_in_actor(const char *what) {
    if (tl_in_actor) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s would block inside an actor (and stall the worker other Python actors "
                     "need): use ask_async() with add_done_callback(), or tell()",
                     what);
        return -1;
    }
    return 0;
}

/*
 * Wait until the core is done: 1 done, 0 timed out, -1 exception (a signal
 * handler raised). timeout < 0: no limit. GIL held on entry and exit.
 */
static int core_wait(SystemObject *s, futcore *c, double timeout) {
    if (atomic_load_explicit(&c->done, memory_order_acquire)) return 1;
    uint64_t deadline = deadline_after(timeout);
    if (s->manual) {
        /* deterministic mode: this thread runs the actors */
        for (;;) {
            int turns = 0;
            if (s->sys && !s->closed) HOLDING(turns = za_system_run(s->sys, 64));
            if (atomic_load(&c->done)) {
                drain_deferred();
                return 1;
            }
            if (PyErr_CheckSignals() < 0) return -1;
            if (now_ns() >= deadline) return 0;
            if (turns <= 0) {
                /* only timers can make progress now */
                Py_BEGIN_ALLOW_THREADS
                struct timespec ts = {0, 200000};
                nanosleep(&ts, NULL);
                Py_END_ALLOW_THREADS
            }
        }
    }
    gil_release();
    /* brief poll: a reply from an actor usually arrives within microseconds */
    poller pl;
    uint64_t t0 = now_ns();
    poll_init(&pl, deadline - t0 > RESULT_POLL_NS ? RESULT_POLL_NS : deadline - t0);
    int done;
    while (!(done = atomic_load_explicit(&c->done, memory_order_acquire)) && poll_pause(&pl)) {
    }
    while (!done) {
        pthread_mutex_lock(&c->mu);
        if (!atomic_load(&c->done)) {
            uint64_t now = now_ns();
            uint64_t until = deadline - now > SLICE_NS ? now + SLICE_NS : deadline;
            if (now < until) {
                struct timespec ts = {(time_t)(until / 1000000000ull),
                                      (long)(until % 1000000000ull)};
                pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            }
        }
        done = atomic_load(&c->done);
        pthread_mutex_unlock(&c->mu);
        if (done) break;
        gil_acquire();
        if (PyErr_CheckSignals() < 0) return -1;
        if (now_ns() >= deadline) return 0;
        gil_release();
    }
    wait_gil_free();
    gil_acquire();
    drain_deferred();
    return 1;
}

/* Turn the answer into result/exc (once). GIL held. */
static void fut_convert(FutureObject *f) {
    if (f->converted) return;
    f->converted = 1;
    answer_to_py(f->sys, &f->core->ans, f->timeout, &f->result, &f->exc);
}

static void run_future_callbacks(FutureObject *f) {
    PyObject *ws = f->aw_waiters;
    f->aw_waiters = NULL;
    if (ws) {
        /* awaiting tasks: each loop's waker resolves the asyncio future in
         * the loop's thread (one call_soon_threadsafe per batch) */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ws); i++) {
            PyObject *pair = PyList_GET_ITEM(ws, i);
            PyObject *waker = PyTuple_GET_ITEM(pair, 0);
            PyObject *r = PyObject_CallMethodOneArg(waker, f->sys->st->str_add,
                                                    PyTuple_GET_ITEM(pair, 1));
            if (!r)
                PyErr_WriteUnraisable(waker);
            else
                Py_DECREF(r);
        }
        Py_DECREF(ws);
    }
    PyObject *cbs = f->callbacks;
    f->callbacks = NULL;
    if (!cbs) return;
    fut_convert(f);
    Py_ssize_t n = PyList_GET_SIZE(cbs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *cb = PyList_GET_ITEM(cbs, i);
        PyObject *r = PyObject_CallOneArg(cb, (PyObject *)f);
        if (!r)
            PyErr_WriteUnraisable(cb);
        else
            Py_DECREF(r);
    }
    Py_DECREF(cbs);
}

static FutureObject *future_new(SystemObject *s) {
    FutureObject *f = PyObject_GC_New(FutureObject, s->st->Future_Type);
    if (!f) return NULL;
    f->sys = NULL;
    f->handle = NULL;
    f->callbacks = f->result = f->exc = NULL;
    f->aw_waiters = NULL;
    f->converted = 0;
    f->cancelled = 0;
    f->target = 0;
    f->timeout = 0;
    f->core = core_new();
    if (!f->core) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return NULL;
    }
    f->sys = (SystemObject *)Py_NewRef((PyObject *)s);
    PyObject_GC_Track(f);
    return f;
}

static int Future_traverse(FutureObject *f, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(f));
    Py_VISIT(f->sys);
    Py_VISIT(f->callbacks);
    Py_VISIT(f->result);
    Py_VISIT(f->exc);
    Py_VISIT(f->aw_waiters);
    return 0;
}

static int Future_clear(FutureObject *f) {
    Py_CLEAR(f->callbacks);
    Py_CLEAR(f->result);
    Py_CLEAR(f->exc);
    Py_CLEAR(f->aw_waiters);
    return 0;
}

static void Future_dealloc(FutureObject *f) {
    PyTypeObject *tp = Py_TYPE(f);
    PyObject_GC_UnTrack(f);
    Future_clear(f);
    if (f->handle) za_ask_handle_release(f->handle);
    if (f->core) HOLDING(core_release(f->core));
    Py_XDECREF(f->sys);
    PyObject_GC_Del(f);
    Py_DECREF(tp);
}

/* Issue an ask; returns a Future. timeout <= 0: none in the runtime. */
static FutureObject *do_ask(RefObject *r, PyObject *msg, double timeout) {
    SystemObject *s = r->sys;
    if (check_sys(s) < 0) return NULL;
    FutureObject *f = future_new(s);
    if (!f) return NULL;
    f->target = r->ref;
    f->timeout = timeout;
    uint32_t tms = timeout > 0 ? (uint32_t)(timeout * 1000.0 + 0.999) : 0;
    if (timeout > 0 && tms == 0) tms = 1;
    atomic_fetch_add(&f->core->refs, 1); /* the callback's */
    int kind = r->kind ? r->kind : ref_kind(r);
    int rc;
    if (kind != 2) {
        Py_INCREF(msg);
        HOLDING(rc = za_ask_ptr_async(s->sys, r->ref, TAG_PY, msg, py_obj_dtor, tms, ask_cb,
                                      f->core, &f->handle));
        if (rc != ZA_OK && rc != ZA_EDROPPED) Py_DECREF(msg);
        /* this thread awaits next, most likely: the worker polls for the
         * GIL for a moment instead of sleeping in it */
        if (rc == ZA_OK && !tl_in_actor && !s->manual) handoff_promise();
    } else {
        za_pack *p = za_pack_new();
        if (!p) {
            core_release(f->core);
            Py_DECREF(f);
            return (FutureObject *)PyErr_NoMemory();
        }
        if (pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            core_release(f->core);
            Py_DECREF(f);
            return NULL;
        }
        HOLDING(rc = za_ask_async(s->sys, r->ref, 0, za_pack_data(p), za_pack_size(p), tms, ask_cb,
                                  f->core, &f->handle));
        za_pack_free(p);
    }
    if (rc != ZA_OK && rc != ZA_EDROPPED) {
        core_release(f->core); /* the callback will never run */
        Py_DECREF(f);
        raise_za(s, rc, "ask");
        return NULL;
    }
    return f;
}

static PyObject *fut_outcome(FutureObject *f) {
    fut_convert(f);
    if (f->exc) {
        raise_exc_obj(f->exc);
        return NULL;
    }
    return Py_NewRef(f->result ? f->result : Py_None);
}

static double parse_timeout(PyObject *o, double dflt) {
    if (!o || o == Py_None) return dflt;
    double t = PyFloat_AsDouble(o);
    if (t == -1.0 && PyErr_Occurred()) return -2;
    if (t < 0) t = 0;
    return t;
}

static PyObject *Future_result(FutureObject *f, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:result", kwlist, &to)) return NULL;
    double timeout = parse_timeout(to, -1);
    if (timeout == -2) return NULL;
    if (!atomic_load_explicit(&f->core->done, memory_order_acquire)) {
        if (refuse_in_actor("Future.result()") < 0) return NULL;
        int w = core_wait(f->sys, f->core, timeout);
        if (w < 0) return NULL;
        if (w == 0) {
            PyErr_Format(f->sys->st->AskTimeout, "no reply within %.3g s", timeout);
            return NULL;
        }
    }
    return fut_outcome(f);
}

static PyObject *Future_exception(FutureObject *f, PyObject *args, PyObject *kw) {
    PyObject *r = Future_result(f, args, kw);
    if (r) {
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    if (f->converted && f->exc && PyErr_ExceptionMatches((PyObject *)Py_TYPE(f->exc))) {
        PyErr_Clear();
        return Py_NewRef(f->exc);
    }
    return NULL;
}

static PyObject *Future_done(FutureObject *f, PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(atomic_load(&f->core->done));
}

static PyObject *Future_cancelled(FutureObject *f, PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(f->cancelled);
}

static int fut_cancel(FutureObject *f) {
    if (atomic_load(&f->core->done) || !f->handle) return 0;
    int c;
    HOLDING(c = za_ask_cancel(f->handle));
    if (c) f->cancelled = 1;
    return c;
}

static PyObject *Future_cancel(FutureObject *f, PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(fut_cancel(f));
}

static PyObject *Future_add_done_callback(FutureObject *f, PyObject *fn) {
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "callback must be callable");
        return NULL;
    }
    futcore *c = f->core;
    pthread_mutex_lock(&c->mu);
    int done = atomic_load(&c->done);
    if (!done) {
        if (!f->callbacks && !(f->callbacks = PyList_New(0))) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        if (PyList_Append(f->callbacks, fn) < 0) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        if (!c->keep) c->keep = Py_NewRef((PyObject *)f);
    }
    pthread_mutex_unlock(&c->mu);
    if (done) {
        PyObject *r = PyObject_CallOneArg(fn, (PyObject *)f);
        if (!r)
            PyErr_WriteUnraisable(fn);
        else
            Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------- await future
 *
 * `await future` runs FutureIter: if the answer is there, or arrives while
 * the awaiting thread polls for a moment with the GIL released (the usual
 * case for a Python actor that answers at once), the await completes
 * without suspending the task: no event-loop round trip, no thread wake-up.
 * Otherwise the task parks on an asyncio future of its loop, which the
 * answer resolves through the loop's _LoopWaker (one call_soon_threadsafe
 * per batch of answers). The poll adapts: when fewer than 1 in 8 recent
 * polls saw the answer (slow actors), awaits park at once, and poll again
 * 1 time in 16. (Parking after a few misses in a row was tried: on a loaded
 * machine, where polls miss now and then, awaits then stayed parked.)
 */

/* Poll for the answer with the GIL released. 1 if done. GIL held. */
static int await_poll(FutureObject *f) {
    SystemObject *s = f->sys;
    futcore *c = f->core;
    if (s->manual) {
        /* deterministic mode: nobody else runs the actors */
        if (s->sys && !s->closed) {
            int turns;
            do {
                HOLDING(turns = za_system_run(s->sys, 64));
            } while (turns > 0 && !atomic_load(&c->done));
            drain_deferred();
        }
        return atomic_load(&c->done);
    }
    /* poll unless recent polls mostly missed (slow actors): then 1 in 16 */
    s->aw_count++;
    if (s->aw_tries >= 16 && s->aw_hits * 8 < s->aw_tries && (s->aw_count & 15)) return 0;
    if (++s->aw_tries >= 64) {
        s->aw_tries /= 2;
        s->aw_hits /= 2;
    }
    gil_release();
    poller pl;
    poll_init(&pl, AWAIT_SPIN_NS);
    int done;
    while (!(done = atomic_load_explicit(&c->done, memory_order_acquire)) && poll_pause(&pl)) {
    }
    if (done) wait_gil_free();
    gil_acquire();
    if (done) {
        s->aw_hits++;
        drain_deferred();
    }
    return done;
}

/* The running loop's waker (cached for the last loop seen, which the cache
 * holds through a weak reference). */
static PyObject *waker_of(modstate *st, PyObject *loop) {
    if (st->last_loop && PyWeakref_GET_OBJECT(st->last_loop) == loop && st->last_waker)
        return Py_NewRef(st->last_waker);
    PyObject *w = PyObject_CallOneArg(st->waker_for, loop);
    if (!w) return NULL;
    PyObject *wr = PyWeakref_NewRef(loop, NULL);
    if (!wr) {
        PyErr_Clear(); /* not weakly referenceable: no caching */
        return w;
    }
    Py_XSETREF(st->last_loop, wr);
    Py_XSETREF(st->last_waker, Py_NewRef(w));
    return w;
}

/* Park the awaiting task: returns a new asyncio future to yield, NULL with
 * an exception, or Py_None (borrowed) if the answer came meanwhile. */
static PyObject *await_park(FutureObject *f) {
    modstate *st = f->sys->st;
    if (!st->get_running_loop || !st->waker_for) {
        PyErr_SetString(PyExc_RuntimeError, "zactor is not initialised");
        return NULL;
    }
    PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
    if (!loop) return NULL;
    PyObject *waker = waker_of(st, loop);
    PyObject *waiter = waker ? PyObject_CallMethodNoArgs(loop, st->str_create_future) : NULL;
    Py_DECREF(loop);
    if (!waiter || PyObject_SetAttr(waiter, st->str_blocking, Py_True) < 0) {
        Py_XDECREF(waker);
        Py_XDECREF(waiter);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, waker, waiter);
    Py_DECREF(waker);
    if (!pair || (!f->aw_waiters && !(f->aw_waiters = PyList_New(0)))) {
        Py_XDECREF(pair);
        Py_DECREF(waiter);
        return NULL;
    }
    /* (the answer's callbacks run under the GIL too: no race on the list) */
    futcore *c = f->core;
    pthread_mutex_lock(&c->mu);
    int done = atomic_load(&c->done);
    if (!done && !c->keep) c->keep = Py_NewRef((PyObject *)f);
    pthread_mutex_unlock(&c->mu);
    int rc = done ? 0 : PyList_Append(f->aw_waiters, pair);
    Py_DECREF(pair);
    if (done || rc < 0) {
        Py_DECREF(waiter);
        return rc < 0 ? NULL : Py_None;
    }
    return waiter;
}

static PySendResult FutureIter_step(FutureIterObject *it, PyObject **result) {
    FutureObject *f = it->fut;
    *result = NULL;
    if (!f) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse an awaited zactor.Future iterator");
        return PYGEN_ERROR;
    }
    if (!atomic_load_explicit(&f->core->done, memory_order_acquire)) {
        if (it->parked) {
            PyErr_SetString(PyExc_RuntimeError, "zactor.Future resumed before its answer");
            return PYGEN_ERROR;
        }
        if (!await_poll(f)) {
            PyObject *w = await_park(f);
            if (!w) return PYGEN_ERROR;
            if (w != Py_None) {
                it->parked = 1;
                *result = w;
                return PYGEN_NEXT;
            }
        }
    }
    PyObject *v = fut_outcome(f);
    Py_CLEAR(it->fut);
    if (!v) return PYGEN_ERROR;
    *result = v;
    return PYGEN_RETURN;
}

static PySendResult FutureIter_am_send(FutureIterObject *it, PyObject *arg, PyObject **result) {
    (void)arg;
    return FutureIter_step(it, result);
}

static PyObject *FutureIter_next(FutureIterObject *it) {
    PyObject *r;
    PySendResult k = FutureIter_step(it, &r);
    if (k == PYGEN_NEXT) return r;
    if (k == PYGEN_RETURN) {
        if (r == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        } else {
            PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, r);
            if (e) {
                PyErr_SetObject(PyExc_StopIteration, e);
                Py_DECREF(e);
            }
        }
        Py_DECREF(r);
    }
    return NULL;
}

static PyObject *FutureIter_send(FutureIterObject *it, PyObject *arg) {
    return FutureIter_next(it);
}

/* The task was cancelled (or something else is thrown in): give the ask
 * up, then raise what was thrown. */
static PyObject *FutureIter_throw(FutureIterObject *it, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw() takes 1 to 3 arguments");
        return NULL;
    }
    FutureObject *f = it->fut;
    if (f) {
        /* (parked waiters of other tasks see the cancellation too: as for an
         * asyncio future awaited by several tasks) */
        fut_cancel(f);
        Py_CLEAR(it->fut);
    }
    PyObject *typ = args[0], *val = nargs > 1 ? args[1] : NULL, *tb = nargs > 2 ? args[2] : NULL;
    if (PyExceptionInstance_Check(typ)) {
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    } else if (PyExceptionClass_Check(typ)) {
        if (val && val != Py_None)
            PyErr_SetObject(typ, val);
        else
            PyErr_SetNone(typ);
    } else {
        PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
        return NULL;
    }
    if (tb && tb != Py_None && PyTraceBack_Check(tb)) {
        PyObject *t, *v, *old;
        PyErr_Fetch(&t, &v, &old);
        PyErr_NormalizeException(&t, &v, &old);
        Py_XDECREF(old);
        PyErr_Restore(t, v, Py_NewRef(tb));
    }
    return NULL;
}

static PyObject *FutureIter_close(FutureIterObject *it, PyObject *Py_UNUSED(ignored)) {
    Py_CLEAR(it->fut);
    Py_RETURN_NONE;
}

static int FutureIter_traverse(FutureIterObject *it, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(it));
    Py_VISIT(it->fut);
    return 0;
}

static int FutureIter_clear(FutureIterObject *it) {
    Py_CLEAR(it->fut);
    return 0;
}

static void FutureIter_dealloc(FutureIterObject *it) {
    PyTypeObject *tp = Py_TYPE(it);
    PyObject_GC_UnTrack(it);
    Py_CLEAR(it->fut);
    PyObject_GC_Del(it);
    Py_DECREF(tp);
}

static PyObject *FutureIter_self(PyObject *it) { return Py_NewRef(it); }

static PyMethodDef FutureIter_methods[] = {
    {"send", (PyCFunction)FutureIter_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))FutureIter_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)FutureIter_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot FutureIter_slots[] = {
    {Py_tp_dealloc, FutureIter_dealloc},
    {Py_tp_traverse, FutureIter_traverse},
    {Py_tp_clear, FutureIter_clear},
    {Py_tp_iter, FutureIter_self},
    {Py_tp_iternext, FutureIter_next},
    {Py_am_send, FutureIter_am_send},
    {Py_tp_methods, FutureIter_methods},
    {0, NULL},
};

static PyType_Spec FutureIter_spec = {
    "zactor._FutureIter", sizeof(FutureIterObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
        Py_TPFLAGS_DISALLOW_INSTANTIATION,
    FutureIter_slots};

static PyObject *Future_await(FutureObject *f) {
    FutureIterObject *it = PyObject_GC_New(FutureIterObject, f->sys->st->FutureIter_Type);
    if (!it) return NULL;
    it->fut = (FutureObject *)Py_NewRef((PyObject *)f);
    it->parked = 0;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static PyObject *Future_repr(FutureObject *f) {
    return PyUnicode_FromFormat("<zactor.Future %s>",
                                atomic_load(&f->core->done) ? "done" : "pending");
}

static PyMethodDef Future_methods[] = {
    {"result", (PyCFunction)(void (*)(void))Future_result, METH_VARARGS | METH_KEYWORDS,
     "result(timeout=None): wait for the answer (GIL released, Ctrl-C works) and return it, or "
     "raise the actor's exception. AskTimeout if the wait runs out (the ask continues)."},
    {"exception", (PyCFunction)(void (*)(void))Future_exception, METH_VARARGS | METH_KEYWORDS,
     "exception(timeout=None): the exception the ask ended with, or None."},
    {"done", (PyCFunction)Future_done, METH_NOARGS, "True once the ask has an outcome."},
    {"cancelled", (PyCFunction)Future_cancelled, METH_NOARGS, "True if cancel() succeeded."},
    {"cancel", (PyCFunction)Future_cancel, METH_NOARGS,
     "Cancel the ask if it has no answer yet; a later reply becomes a dead letter."},
    {"add_done_callback", (PyCFunction)Future_add_done_callback, METH_O,
     "add_done_callback(fn): call fn(future) once done (at once if already done). It may run "
     "on a runtime thread holding the GIL."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Future_slots[] = {
    {Py_tp_dealloc, Future_dealloc},
    {Py_tp_traverse, Future_traverse},
    {Py_tp_clear, Future_clear},
    {Py_tp_methods, Future_methods},
    {Py_tp_repr, Future_repr},
    {Py_am_await, Future_await},
    {Py_tp_doc, "The outcome of ask_async(): result(), done(), add_done_callback(), cancel(); "
                "awaitable from asyncio without blocking the event loop."},
    {0, NULL},
};

static PyType_Spec Future_spec = {
    "zactor.Future", sizeof(FutureObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    Future_slots};

/* --------------------------------------------------------- ActorRef cont. */

static PyObject *Ref_ask_async(RefObject *r, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames) {
    static const char *const names[] = {"msg", "timeout"};
    PyObject *a[2];
    if (nargs == 1 && !kwnames) {
        a[0] = args[0];
        a[1] = NULL;
    } else if (parse_args("ask_async", args, nargs, kwnames, names, 2, 2, 1, a) < 0) {
        return NULL;
    }
    double timeout = parse_timeout(a[1], 0);
    if (timeout == -2) return NULL;
    return (PyObject *)do_ask(r, a[0], timeout);
}

/*
 * Blocking ask: za_ask_ptr_start + za_ask_wait in slices with the GIL
 * released (Ctrl-C between slices). The message is sent after the GIL is
 * released, so the worker that picks it up takes the GIL at once instead of
 * sleeping in it; when the answer is there, this thread waits a moment for
 * that worker to leave the GIL before taking it back (wait_gil_free).
 */
static PyObject *Ref_ask(RefObject *r, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames) {
    static const char *const names[] = {"msg", "timeout"};
    PyObject *a[2];
    if (nargs == 1 && !kwnames) {
        a[0] = args[0];
        a[1] = NULL;
    } else if (parse_args("ask", args, nargs, kwnames, names, 2, 2, 1, a) < 0) {
        return NULL;
    }
    PyObject *msg = a[0];
    double timeout = parse_timeout(a[1], 5.0);
    if (timeout == -2) return NULL;
    SystemObject *s = r->sys;
    if (check_sys(s) < 0 || refuse_in_actor("ask()") < 0) return NULL;
    int kind = r->kind ? r->kind : ref_kind(r);
    za_pack *p = NULL;
    if (kind == 2) {
        if (!(p = za_pack_new())) return PyErr_NoMemory();
        if (pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            return NULL;
        }
    } else {
        Py_INCREF(msg);
    }
    int manual = s->manual;
    za_ask_wait_handle *h = NULL;
    int rc;
#define START_ASK()                                                                                \
    (p ? za_ask_start(s->sys, r->ref, 0, za_pack_data(p), za_pack_size(p), &h)                     \
       : za_ask_ptr_start(s->sys, r->ref, TAG_PY, msg, py_obj_dtor, &h))
    uint64_t deadline = deadline_after(timeout);
    za_answer ans;
    memset(&ans, 0, sizeof ans);
    int got = 0; /* 1 answered, 0 timed out, -1 interrupted */
    if (manual) {
        HOLDING(rc = START_ASK());
        if (rc == ZA_OK) {
            /* deterministic mode: za_ask_wait runs the actors on this thread */
            for (;;) {
                int w;
                HOLDING(w = za_ask_wait(h, slice_ms(deadline) ? slice_ms(deadline) : 1, &ans));
                if (w != ZA_EAGAIN) {
                    got = 1;
                    break;
                }
                if (PyErr_CheckSignals() < 0) {
                    got = -1;
                    break;
                }
                if (now_ns() >= deadline) break;
            }
        }
    } else {
        gil_release();
        rc = START_ASK();
        /* (za_ask_wait polls for ~20 us before it sleeps: the answer of a
         * Python actor usually comes within a few microseconds) */
        while (rc == ZA_OK) {
            int w = za_ask_wait(h, slice_ms(deadline), &ans);
            if (w != ZA_EAGAIN) {
                got = 1;
                wait_gil_free();
                break;
            }
            gil_acquire();
            if (PyErr_CheckSignals() < 0) {
                got = -1;
                break;
            }
            if (now_ns() >= deadline) break;
            gil_release();
        }
        if (got == 1 || rc != ZA_OK) gil_acquire();
    }
#undef START_ASK
    if (p) za_pack_free(p);
    if (rc != ZA_OK) {
        if (!p) Py_DECREF(msg);
        return raise_za(s, rc, "ask");
    }
    drain_deferred();
    if (got <= 0) {
        /* one last look (the answer may have just come), else give up: a
         * late reply becomes a dead letter */
        int w = ZA_EAGAIN;
        if (got == 0) HOLDING(w = za_ask_wait(h, 0, &ans));
        if (w == ZA_EAGAIN) {
            HOLDING(za_ask_abandon(h));
            if (got == 0) PyErr_Format(s->st->AskTimeout, "no reply within %.3g s", timeout);
            return NULL;
        }
    }
    PyObject *res, *exc;
    answer_to_py(s, &ans, timeout, &res, &exc);
    HOLDING(za_answer_free(&ans); za_ask_wait_release(h));
    if (exc) {
        raise_exc_obj(exc);
        Py_DECREF(exc);
        return NULL;
    }
    return res;
}

static PyObject *Ref_stop(RefObject *r, PyObject *Py_UNUSED(ignored)) {
    if (check_sys(r->sys) < 0) return NULL;
    int rc;
    HOLDING(rc = za_stop(r->sys->sys, r->ref));
    return PyBool_FromLong(rc == ZA_OK);
}

static PyObject *Ref_join(RefObject *r, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:join", kwlist, &to)) return NULL;
    double timeout = parse_timeout(to, -1);
    if (timeout == -2) return NULL;
    SystemObject *s = r->sys;
    if (check_sys(s) < 0) return NULL;
    if (!za_is_alive(s->sys, r->ref)) Py_RETURN_TRUE;
    if (refuse_in_actor("join()") < 0) return NULL;
    uint64_t deadline = deadline_after(timeout);
    for (;;) {
        uint32_t ms = slice_ms(deadline);
        int rc;
        if (s->manual) {
            HOLDING(rc = za_join(s->sys, r->ref, ms ? ms : 1));
        } else {
            gil_release();
            rc = za_join(s->sys, r->ref, ms);
            gil_acquire();
        }
        drain_deferred();
        if (rc == ZA_OK) Py_RETURN_TRUE;
        if (PyErr_CheckSignals() < 0) return NULL;
        if (now_ns() >= deadline) Py_RETURN_FALSE;
    }
}

static PyObject *Ref_is_alive(RefObject *r, PyObject *Py_UNUSED(ignored)) {
    if (r->sys->closed || r->sys->fork_gen != fork_gen) Py_RETURN_FALSE;
    return PyBool_FromLong(za_is_alive(r->sys->sys, r->ref));
}

static PyObject *Ref_richcompare(PyObject *a, PyObject *b, int op) {
    if (Py_TYPE(a) != Py_TYPE(b) || (op != Py_EQ && op != Py_NE)) Py_RETURN_NOTIMPLEMENTED;
    RefObject *x = (RefObject *)a, *y = (RefObject *)b;
    int eq = x->ref == y->ref && x->sys == y->sys;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t Ref_hash(RefObject *r) {
    Py_hash_t h = (Py_hash_t)(r->ref ^ (r->ref >> 29)) ^ (Py_hash_t)(uintptr_t)r->sys;
    return h == -1 ? -2 : h;
}

static PyObject *Ref_repr(RefObject *r) {
    return PyUnicode_FromFormat("<ActorRef %u.%u>", (unsigned)za_ref_slot(r->ref),
                                (unsigned)za_ref_gen(r->ref));
}

static PyObject *Ref_get_id(RefObject *r, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong(r->ref);
}

static PyObject *Ref_get_system(RefObject *r, void *Py_UNUSED(c)) {
    return Py_NewRef((PyObject *)r->sys);
}

static PyObject *Ref_reduce(RefObject *r, PyObject *Py_UNUSED(ignored)) {
    PyErr_SetString(PyExc_TypeError, "an ActorRef is valid only inside its process");
    return NULL;
}

static PyMethodDef Ref_methods[] = {
    {"tell", (PyCFunction)(void (*)(void))Ref_tell, METH_FASTCALL | METH_KEYWORDS,
     "tell(msg, *, priority='normal', tag=0): send without waiting. Python actors get the "
     "object itself; other actors get it as MessagePack (tag used then)."},
    {"send", (PyCFunction)Ref_tell_fast, METH_O, "send(msg): tell(msg) with no options (fastest)."},
    {"ask", (PyCFunction)(void (*)(void))Ref_ask, METH_FASTCALL | METH_KEYWORDS,
     "ask(msg, timeout=5.0): send and wait for receive's return value (GIL released). Raises "
     "AskTimeout, ActorDeadError, or the exception receive raised."},
    {"ask_async", (PyCFunction)(void (*)(void))Ref_ask_async, METH_FASTCALL | METH_KEYWORDS,
     "ask_async(msg, timeout=None) -> Future (awaitable)."},
    {"stop", (PyCFunction)Ref_stop, METH_NOARGS,
     "Stop the actor (served before queued messages, which become dead letters). False if "
     "already dead."},
    {"join", (PyCFunction)(void (*)(void))Ref_join, METH_VARARGS | METH_KEYWORDS,
     "join(timeout=None) -> bool: wait until the actor is dead."},
    {"is_alive", (PyCFunction)Ref_is_alive, METH_NOARGS, "Is the actor alive now?"},
    {"__reduce__", (PyCFunction)Ref_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Ref_getset[] = {
    {"id", (getter)Ref_get_id, NULL, "The 64-bit runtime reference.", NULL},
    {"system", (getter)Ref_get_system, NULL, "The System this actor lives in.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Ref_slots[] = {
    {Py_tp_dealloc, Ref_dealloc},
    {Py_tp_methods, Ref_methods},
    {Py_tp_getset, Ref_getset},
    {Py_tp_richcompare, Ref_richcompare},
    {Py_tp_hash, Ref_hash},
    {Py_tp_repr, Ref_repr},
    {Py_tp_doc, "The address of an actor: tell(), ask(), ask_async(), stop(), join()."},
    {0, NULL},
};

static PyType_Spec Ref_spec = {"zactor.ActorRef", sizeof(RefObject), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
                                   Py_TPFLAGS_DISALLOW_INSTANTIATION,
                               Ref_slots};

/* ----------------------------------------------------------------- timers */

static PyObject *start_timer(SystemObject *s, double delay, double interval, RefObject *to,
                             PyObject *msg) {
    if (check_sys(s) < 0) return NULL;
    if (delay < 0 || interval < 0) {
        PyErr_SetString(PyExc_ValueError, "delay and interval must be >= 0");
        return NULL;
    }
    uint32_t dms = (uint32_t)(delay * 1000.0 + 0.5);
    uint32_t ims = (uint32_t)(interval * 1000.0 + 0.5);
    if (interval > 0 && ims == 0) ims = 1;
    za_timer_id id = 0;
    uint64_t key = 0;
    int rc;
    if (ref_kind(to) == 2) {
        za_pack *p = za_pack_new();
        if (!p) return PyErr_NoMemory();
        if (pack_obj(s->st, p, msg, 0) < 0) {
            za_pack_free(p);
            return NULL;
        }
        if (interval > 0)
            rc = za_send_interval(s->sys, dms, ims, to->ref, 0, za_pack_data(p), za_pack_size(p), &id);
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
    if (rc != ZA_OK) return raise_za(s, rc, "timer");
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
    if (!t->active || s->closed || s->fork_gen != fork_gen) Py_RETURN_FALSE;
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

static PyType_Spec Timer_spec = {"zactor.Timer", sizeof(TimerObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
                                     Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                 Timer_slots};

/* ---------------------------------------------------------- Python actors */

static void fail_text(PyObject *exc, char *buf, size_t cap) {
    PyObject *s = exc ? PyObject_Str(exc) : NULL;
    const char *m = s ? PyUnicode_AsUTF8(s) : NULL;
    if (!m) PyErr_Clear();
    snprintf(buf, cap, "%s: %s", exc ? Py_TYPE(exc)->tp_name : "error", m ? m : "");
    Py_XDECREF(s);
}

static PyObject *fetch_exc(void) {
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v && tb) PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* Tell the Python layer (logging) about a failure outside receive. */
static void report(ContextObject *cell, PyObject *exc, const char *where) {
    modstate *st = cell->sys->st;
    if (!st->report_failure) return;
    PyObject *r = PyObject_CallFunction(st->report_failure, "OOs", (PyObject *)cell, exc, where);
    if (!r)
        PyErr_WriteUnraisable(st->report_failure);
    else
        Py_DECREF(r);
}

static void add_note(ContextObject *cell, PyObject *exc) {
    modstate *st = cell->sys->st;
    PyObject *note = PyUnicode_FromFormat("raised by actor %s (ActorRef %u.%u) in receive()",
                                          ((PyTypeObject *)cell->cls)->tp_name,
                                          (unsigned)za_ref_slot(cell->ref),
                                          (unsigned)za_ref_gen(cell->ref));
    if (!note) {
        PyErr_Clear();
        return;
    }
    PyObject *r = PyObject_CallMethodOneArg(exc, st->str_add_note, note);
    if (!r) {
        /* before 3.11 there is no add_note: keep the note in __notes__ */
        PyErr_Clear();
        PyObject *notes = PyObject_GetAttrString(exc, "__notes__");
        if (!notes) {
            PyErr_Clear();
            notes = PyList_New(0);
            if (notes && PyObject_SetAttrString(exc, "__notes__", notes) < 0) PyErr_Clear();
        }
        if (notes && PyList_Check(notes)) PyList_Append(notes, note);
        Py_XDECREF(notes);
        PyErr_Clear();
    } else {
        Py_DECREF(r);
    }
    Py_DECREF(note);
}

static int py_start(za_ctx *ctx, const void *args, size_t len) {
    ContextObject *cell = NULL;
    if (len != sizeof cell) return -1;
    memcpy(&cell, args, sizeof cell);
    pyactor *pa = za_ctx_state(ctx);
    modstate *st = cell->sys->st;
    tl_in_actor++;
    za_ctx *prev = cell->cur;
    cell->cur = ctx;
    cell->ref = za_ctx_self(ctx);
    cell->sender = ZA_REF_NONE;
    Py_CLEAR(cell->last_exc); /* (a new incarnation: the old one's exception is history) */
    int rc = 0;
    PyObject *inst = PyObject_CallMethodOneArg(cell->cls, st->str_new, cell->cls);
    if (!inst || PyObject_SetAttr(inst, st->str_context, (PyObject *)cell) < 0) goto fail;
    PyObject *init = PyObject_GetAttr(inst, st->str_init);
    if (!init) goto fail;
    PyObject *r = PyObject_Call(init, cell->args, cell->kwargs);
    Py_DECREF(init);
    if (!r) goto fail;
    Py_DECREF(r);
    pa->inst = inst;
    pa->failed = 0;
    r = PyObject_CallMethodNoArgs(inst, st->str_on_start);
    if (!r) {
        pa->inst = NULL;
        goto fail;
    }
    Py_DECREF(r);
    /* the bound method, once: no attribute lookup per message; and for a
     * plain method its function, called with (inst, msg) */
    pa->recv = PyObject_GetAttr(inst, st->str_receive);
    if (!pa->recv) {
        pa->inst = NULL;
        goto fail;
    }
    pa->recv_fn = 0;
    if (PyMethod_Check(pa->recv) && PyMethod_GET_SELF(pa->recv) == inst) {
        Py_SETREF(pa->recv, Py_NewRef(PyMethod_GET_FUNCTION(pa->recv)));
        pa->recv_fn = 1;
    }
    goto out;
fail : {
    PyObject *exc = fetch_exc();
    char buf[112];
    fail_text(exc, buf, sizeof buf);
    za_ctx_fail(ctx, ZA_EFAILED, "%s", buf);
    if (exc) {
        Py_XSETREF(cell->last_exc, Py_NewRef(exc));
        report(cell, exc, "start");
        Py_DECREF(exc);
    }
    Py_XDECREF(inst);
    rc = -1;
}
out:
    cell->cur = prev;
    tl_in_actor--;
    return rc;
}

static PyObject *make_terminated(SystemObject *s, const za_down *d) {
    modstate *st = s->st;
    PyObject *ref = new_ref(s, d->ref, 0);
    if (!ref) return NULL;
    PyObject *exc = NULL;
    if (d->code != 0 && d->code != ZA_EDEAD && d->code != ZA_ESHUTDOWN) {
        PyObject *key = PyLong_FromUnsignedLongLong(d->ref);
        PyObject *cell = key ? PyDict_GetItemWithError(s->cells, key) : NULL;
        Py_XDECREF(key);
        if (cell && ((ContextObject *)cell)->last_exc)
            exc = Py_NewRef(((ContextObject *)cell)->last_exc);
        else {
            PyErr_Clear();
            exc = PyObject_CallFunction(st->ActorFailed, "s", d->reason);
        }
    }
    if (!exc) {
        PyErr_Clear();
        exc = Py_NewRef(Py_None);
    }
    PyObject *t = PyObject_CallFunctionObjArgs(st->terminated_cls, ref, exc, NULL);
    Py_DECREF(ref);
    Py_DECREF(exc);
    return t;
}

static int py_receive(za_ctx *ctx, const za_msg *m) {
    ContextObject *cell = za_ctx_user(ctx);
    pyactor *pa = za_ctx_state(ctx);
    SystemObject *s = cell->sys;
    modstate *st = s->st;
    PyObject *obj = NULL;
    if (m->tag == TAG_PY && m->kind == ZA_PAYLOAD_PTR) {
        obj = za_msg_take_ptr(m);
        if (!obj) obj = Py_NewRef(Py_None);
    } else if (m->tag == TAG_TIMER && m->len == sizeof(uint64_t)) {
        uint64_t key;
        memcpy(&key, m->data, sizeof key);
        PyObject *k = PyLong_FromUnsignedLongLong(key);
        PyObject *entry = k ? PyDict_GetItemWithError(s->timers, k) : NULL;
        if (!entry) {
            PyErr_Clear();
            Py_XDECREF(k);
            return 0; /* cancelled meanwhile */
        }
        obj = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
        if (!PyObject_IsTrue(PyTuple_GET_ITEM(entry, 1)) && PyDict_DelItem(s->timers, k) < 0)
            PyErr_Clear();
        Py_DECREF(k);
    } else if (m->tag == ZA_TAG_DOWN && m->len == sizeof(za_down)) {
        za_down d;
        memcpy(&d, m->data, sizeof d);
        obj = make_terminated(s, &d);
    } else if (m->tag < 0 || m->corr) {
        return 0; /* CHILD_FAILED is informational; the glue makes no za_ctx_ask */
    } else {
        obj = bytes_to_py(s, m->data, m->len);
    }
    if (!obj) {
        PyErr_WriteUnraisable((PyObject *)cell);
        return 0;
    }
    if (!pa->inst) {
        Py_DECREF(obj);
        return 0;
    }
    tl_in_actor++;
    za_ctx *prev = cell->cur;
    cell->cur = ctx;
    cell->sender = m->sender;
    int can_reply = za_ctx_can_reply(ctx);
    PyObject *r;
    if (pa->recv_fn) {
        PyObject *argv[3] = {NULL, pa->inst, obj};
        r = PyObject_Vectorcall(pa->recv, argv + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    } else {
        r = PyObject_CallOneArg(pa->recv, obj);
    }
    Py_DECREF(obj);
    int rc = 0;
    if (r) {
        if (can_reply && za_ctx_can_reply(ctx)) {
            if (m->tag == TAG_PY) {
                if (za_reply_ptr(ctx, TAG_PY, r, py_obj_dtor) != ZA_OK) Py_DECREF(r);
                r = NULL;
            } else {
                /* the asker is another language: answer in MessagePack */
                za_pack *p = za_pack_new();
                if (p && pack_obj(st, p, r, 0) == 0) {
                    za_reply(ctx, 0, za_pack_data(p), za_pack_size(p));
                } else {
                    char buf[112];
                    PyObject *exc = fetch_exc();
                    fail_text(exc, buf, sizeof buf);
                    Py_XDECREF(exc);
                    za_reply_slot *slot = za_ctx_take_reply(ctx);
                    if (slot) za_reply_error(za_ctx_system(ctx), slot, ZA_EVALUE, buf);
                }
                za_pack_free(p);
            }
        }
        Py_XDECREF(r);
    } else {
        PyObject *exc = fetch_exc();
        if (exc) {
            add_note(cell, exc);
            Py_XSETREF(cell->last_exc, Py_NewRef(exc));
            if (can_reply && za_ctx_can_reply(ctx)) {
                if (m->tag == TAG_PY) {
                    Py_INCREF(exc);
                    if (za_reply_ptr(ctx, TAG_PYEXC, exc, py_obj_dtor) != ZA_OK) Py_DECREF(exc);
                } else {
                    /* another language asked: it gets the failure as text */
                    char text[512];
                    fail_text(exc, text, sizeof text);
                    za_reply_slot *slot = za_ctx_take_reply(ctx);
                    if (slot) za_reply_error(za_ctx_system(ctx), slot, ZA_EFAILED, text);
                }
            }
            pa->failed = 1; /* on_failure replaces on_stop for this incarnation */
            PyObject *fr = PyObject_CallMethodOneArg(pa->inst, st->str_on_failure, exc);
            if (!fr)
                PyErr_WriteUnraisable(st->str_on_failure);
            else
                Py_DECREF(fr);
            char buf[112];
            fail_text(exc, buf, sizeof buf);
            za_ctx_fail(ctx, ZA_EFAILED, "%s", buf);
            Py_DECREF(exc);
        }
        rc = -1;
    }
    cell->cur = prev;
    cell->sender = ZA_REF_NONE;
    tl_in_actor--;
    return rc;
}

/* Stop hook: on a worker inside the host (GIL held), or on the thread that
 * runs shutdown's teardown (it released the GIL through gil_release). */
static void py_stop(za_ctx *ctx) {
    pyactor *pa = za_ctx_state(ctx);
    if (!pa || !pa->inst) return;
    int restore = 0;
    PyGILState_STATE gs = PyGILState_UNLOCKED;
    int ensured = 0;
    if (!tl_gil) {
        if (tl_saved) {
            gil_acquire();
            restore = 1;
        } else {
            gs = PyGILState_Ensure(); /* rare: no glue thread state here */
            ensured = 1;
        }
    }
    int saved = tl_gil;
    tl_gil = 1;
    ContextObject *cell = za_ctx_user(ctx);
    PyObject *inst = pa->inst;
    pa->inst = NULL;
    Py_CLEAR(pa->recv);
    if (!pa->failed) {
        tl_in_actor++;
        za_ctx *prev = cell->cur;
        cell->cur = ctx;
        PyObject *r = PyObject_CallMethodNoArgs(inst, cell->sys->st->str_on_stop);
        if (!r) {
            PyObject *exc = fetch_exc();
            if (exc) {
                report(cell, exc, "on_stop");
                Py_DECREF(exc);
            }
        } else {
            Py_DECREF(r);
        }
        cell->cur = prev;
        tl_in_actor--;
    }
    Py_DECREF(inst);
    if (za_ctx_final_stop(ctx) && !cell->last_exc && cell->sys->cells) {
        /* the actor is gone for good (not restarting): its cell can go now
         * rather than at the next sweep. A cell with the exception that
         * killed the actor stays until then: Terminated messages carry it. */
        PyObject *key = PyLong_FromUnsignedLongLong(cell->ref);
        if (!key || PyDict_DelItem(cell->sys->cells, key) < 0) PyErr_Clear();
        Py_XDECREF(key); /* (the cell may be freed now: not used below) */
    }
    tl_gil = saved;
    if (restore) gil_release();
    if (ensured) PyGILState_Release(gs);
}

static void host_enter(void *ud, int wid) {
    SystemObject *s = ud;
    if (s->manual) return; /* the caller runs actors and already holds the GIL */
    PyThreadState *ts = s->tstates[wid];
    if (!ts) {
        /* created on the worker itself (allowed without the GIL), once */
        ts = PyThreadState_New(s->interp);
        s->tstates[wid] = ts;
    }
    uint64_t until = atomic_load_explicit(&g_handoff, memory_order_acquire);
    if (until) {
        /* a caller thread that just sent work lets the GIL go in a moment:
         * poll for that rather than sleep in the GIL (see g_handoff) */
        uint64_t now = now_ns();
        if (until > now) {
            poller pl;
            poll_init(&pl, until - now);
            while (atomic_load_explicit(&g_handoff, memory_order_acquire) == until &&
                   poll_pause(&pl)) {
            }
        }
    }
    PyEval_RestoreThread(ts);
    atomic_fetch_add_explicit(&g_in_host, 1, memory_order_relaxed);
    tl_gil = 1;
    drain_deferred();
}

static void host_leave(void *ud, int wid) {
    SystemObject *s = ud;
    (void)wid;
    if (s->manual) return;
    tl_gil = 0;
    PyEval_SaveThread();
    atomic_fetch_sub_explicit(&g_in_host, 1, memory_order_release);
}

/* Dead-letter hook: any thread, GIL maybe not held. Never blocks. */
static void dl_hook(const za_dead_letter *dl, void *ud) {
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
    defer_push(it);
}

static void deliver_dead_letter(defer_item *it) {
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
        msg = bytes_to_py(s, it->data, it->len);
        if (!msg) PyErr_Clear();
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
    PyObject *target = it->target ? new_ref(s, it->target, 0) : Py_NewRef(Py_None);
    PyObject *sender = it->sender ? new_ref(s, it->sender, 0) : Py_NewRef(Py_None);
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

/* ---------------------------------------------------------------- Context */

static void Context_dealloc(ContextObject *c) {
    PyTypeObject *tp = Py_TYPE(c);
    PyObject_GC_UnTrack(c);
    Py_CLEAR(c->cls);
    Py_CLEAR(c->args);
    Py_CLEAR(c->kwargs);
    Py_CLEAR(c->last_exc);
    Py_CLEAR(c->sys);
    PyObject_GC_Del(c);
    Py_DECREF(tp);
}

static int Context_traverse(ContextObject *c, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(c));
    Py_VISIT(c->sys);
    Py_VISIT(c->cls);
    Py_VISIT(c->args);
    Py_VISIT(c->kwargs);
    Py_VISIT(c->last_exc);
    return 0;
}

static int Context_clear(ContextObject *c) {
    /* a live actor's worker still reads its cell: only a closed system's cells are cleared */
    if (c->sys && c->sys->sys && !c->sys->closed) return 0;
    Py_CLEAR(c->cls);
    Py_CLEAR(c->args);
    Py_CLEAR(c->kwargs);
    Py_CLEAR(c->last_exc);
    return 0;
}

/* strat: how this actor supervises its children (a Python actor class's
 * `strategy` attribute, spawn_lua's strategy= keyword), NULL for the default. */
static int parse_spawn_opts(SystemObject *s, PyObject *strat, PyObject *kw, za_spawn_opts *o,
                            PyObject **name_keep, int *blocking) {
    za_spawn_opts_init(o);
    *blocking = 0;
    if (strat) {
        const char *sv = PyUnicode_Check(strat) ? PyUnicode_AsUTF8(strat) : NULL;
        if (!sv && strat != Py_None) {
            PyErr_SetString(PyExc_TypeError, "strategy must be a str");
            return -1;
        }
        if (!sv || !strcmp(sv, "one_for_one")) o->strategy = ZA_ONE_FOR_ONE;
        else if (!strcmp(sv, "one_for_all")) o->strategy = ZA_ONE_FOR_ALL;
        else if (!strcmp(sv, "rest_for_one")) o->strategy = ZA_REST_FOR_ONE;
        else if (!strcmp(sv, "stop")) o->strategy = ZA_STRATEGY_STOP;
        else if (!strcmp(sv, "escalate")) o->strategy = ZA_STRATEGY_ESCALATE;
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
#define OPT(nm) (v = PyDict_GetItemString(kw, nm)) != NULL && v != Py_None
    if (OPT("name")) {
        if (!PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "name must be a str");
            return -1;
        }
        *name_keep = Py_NewRef(v);
        o->name = PyUnicode_AsUTF8(v);
        if (!o->name) return -1;
    }
    if (OPT("restart")) {
        const char *r = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : "";
        if (!strcmp(r, "permanent")) o->restart = ZA_RESTART_PERMANENT;
        else if (!strcmp(r, "transient")) o->restart = ZA_RESTART_TRANSIENT;
        else if (!strcmp(r, "temporary")) o->restart = ZA_RESTART_TEMPORARY;
        else {
            PyErr_SetString(PyExc_ValueError,
                            "restart must be 'permanent', 'transient' or 'temporary'");
            return -1;
        }
    }
    if (OPT("max_restarts")) {
        long n = PyLong_AsLong(v);
        if (n < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "max_restarts must be >= 0");
            return -1;
        }
        /* 0 means "default" to the runtime; the smallest budget it offers is 1 */
        o->max_restarts = n ? (uint32_t)n : 1;
        if (n == 0) o->restart = ZA_RESTART_TEMPORARY;
    }
    if (OPT("within")) {
        double w = PyFloat_AsDouble(v);
        if (w == -1.0 && PyErr_Occurred()) return -1;
        o->within_ms = w > 0 ? (uint32_t)(w * 1000.0) : 1;
    }
    if (OPT("backoff")) {
        double lo = 0, hi = 0;
        if (PyTuple_Check(v)) {
            if (!PyArg_ParseTuple(v, "dd", &lo, &hi)) return -1;
        } else {
            lo = PyFloat_AsDouble(v);
            if (lo == -1.0 && PyErr_Occurred()) return -1;
            hi = lo * 32;
        }
        o->backoff_min_ms = (uint32_t)(lo * 1000.0);
        o->backoff_max_ms = (uint32_t)(hi * 1000.0);
    }
    if (OPT("capacity")) {
        long n = PyLong_AsLong(v);
        if (n < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "capacity must be >= 0");
            return -1;
        }
        o->capacity = (uint32_t)n;
    }
    if (OPT("on_full")) {
        const char *r = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : "";
        if (!strcmp(r, "fail")) o->full_policy = ZA_FULL_FAIL;
        else if (!strcmp(r, "drop_newest")) o->full_policy = ZA_FULL_DROP_NEWEST;
        else if (!strcmp(r, "drop_oldest")) o->full_policy = ZA_FULL_DROP_OLDEST;
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
        double w = PyFloat_AsDouble(v);
        if (w == -1.0 && PyErr_Occurred()) return -1;
        o->block_timeout_ms = w > 0 ? (uint32_t)(w * 1000.0) : 0;
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

static void sweep_cells(SystemObject *s) {
    if (PyDict_GET_SIZE(s->cells) < s->sweep_at) return;
    PyObject *dead = PyList_New(0);
    if (!dead) return;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(s->cells, &pos, &k, &v))
        if (!za_is_alive(s->sys, ((ContextObject *)v)->ref)) PyList_Append(dead, k);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(dead); i++)
        PyDict_DelItem(s->cells, PyList_GET_ITEM(dead, i));
    Py_DECREF(dead);
    PyErr_Clear();
    s->sweep_at = 2 * PyDict_GET_SIZE(s->cells) + 1024;
}

/* spawn(cls, *args, kwargs=None, name=..., ...): from outside (ctx NULL) or as a child. */
static PyObject *do_spawn(SystemObject *s, za_ctx *ctx, PyObject *args, PyObject *kw) {
    if (check_sys(s) < 0) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1) {
        PyErr_SetString(PyExc_TypeError, "spawn() needs an Actor class");
        return NULL;
    }
    PyObject *cls = PyTuple_GET_ITEM(args, 0);
    if (!PyType_Check(cls)) {
        if (!PyCallable_Check(cls) || !s->st->function_actor) {
            PyErr_Format(PyExc_TypeError, "spawn() needs an Actor class or a callable, not %.100s",
                         Py_TYPE(cls)->tp_name);
            return NULL;
        }
        /* a plain callable: the FunctionActor class calls it with each message */
        PyObject *wrapped = PyTuple_New(n + 1);
        if (!wrapped) return NULL;
        PyTuple_SET_ITEM(wrapped, 0, Py_NewRef(s->st->function_actor));
        for (Py_ssize_t i = 0; i < n; i++)
            PyTuple_SET_ITEM(wrapped, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
        PyObject *r = do_spawn(s, ctx, wrapped, kw);
        Py_DECREF(wrapped);
        return r;
    }
    PyObject *akw = NULL, *optkw = NULL, *name_keep = NULL;
    if (kw) {
        optkw = PyDict_Copy(kw);
        if (!optkw) return NULL;
        akw = PyDict_GetItemString(optkw, "kwargs");
        if (akw) {
            Py_INCREF(akw);
            PyDict_DelItemString(optkw, "kwargs");
            if (akw == Py_None) Py_CLEAR(akw);
            else if (!PyDict_Check(akw)) {
                PyErr_SetString(PyExc_TypeError, "kwargs must be a dict");
                goto err;
            }
        }
    }
    za_spawn_opts o;
    int blocking = 0;
    PyObject *strat = PyObject_GetAttr(cls, s->st->str_strategy);
    if (!strat) PyErr_Clear();
    int prc = parse_spawn_opts(s, strat, optkw, &o, &name_keep, &blocking);
    Py_XDECREF(strat);
    if (prc < 0) goto err;
    ContextObject *cell = PyObject_GC_New(ContextObject, s->st->Context_Type);
    if (!cell) goto err;
    cell->sys = (SystemObject *)Py_NewRef((PyObject *)s);
    cell->cls = Py_NewRef(cls);
    cell->args = PyTuple_GetSlice(args, 1, n);
    cell->kwargs = akw ? PyDict_Copy(akw) : NULL;
    cell->last_exc = NULL;
    cell->ref = 0;
    cell->cur = NULL;
    cell->sender = 0;
    PyObject_GC_Track(cell);
    if (!cell->args || (akw && !cell->kwargs)) {
        Py_DECREF(cell);
        goto err;
    }
    o.user = cell;
    za_ref ref = 0;
    int rc;
    if (ctx)
        HOLDING(rc = za_ctx_spawn(ctx, blocking ? &s->beh_block : &s->beh, &cell, sizeof cell, &o,
                                  &ref));
    else
        HOLDING(rc = za_spawn(s->sys, blocking ? &s->beh_block : &s->beh, &cell, sizeof cell, &o,
                              &ref));
    Py_XDECREF(name_keep);
    name_keep = NULL;
    if (rc != ZA_OK) {
        Py_DECREF(cell);
        raise_za(s, rc, "spawn");
        goto err;
    }
    cell->ref = ref;
    PyObject *key = PyLong_FromUnsignedLongLong(ref);
    if (!key || PyDict_SetItem(s->cells, key, (PyObject *)cell) < 0) {
        /* the actor exists but its cell would be freed under it: stop it */
        Py_XDECREF(key);
        za_stop(s->sys, ref);
        Py_DECREF(cell);
        goto err;
    }
    Py_DECREF(key);
    Py_DECREF(cell);
    sweep_cells(s);
    Py_XDECREF(akw);
    Py_XDECREF(optkw);
    RefObject *r = (RefObject *)new_ref(s, ref, 1);
    if (r) r->blocking = blocking;
    return (PyObject *)r;
err:
    Py_XDECREF(name_keep);
    Py_XDECREF(akw);
    Py_XDECREF(optkw);
    return NULL;
}

static za_ctx *cur_ctx(ContextObject *c, const char *what) {
    if (!c->cur || !tl_in_actor) {
        PyErr_Format(PyExc_RuntimeError,
                     "context.%s() is only valid while the actor handles a message (or in "
                     "__init__/on_start/on_stop)",
                     what);
        return NULL;
    }
    return c->cur;
}

static PyObject *Context_spawn(ContextObject *c, PyObject *args, PyObject *kw) {
    za_ctx *ctx = cur_ctx(c, "spawn");
    if (!ctx) return NULL;
    return do_spawn(c->sys, ctx, args, kw);
}

static PyObject *Context_get_self_ref(ContextObject *c, void *Py_UNUSED(x)) {
    return new_ref(c->sys, c->ref, 1);
}

static PyObject *Context_get_sender(ContextObject *c, void *Py_UNUSED(x)) {
    if (!c->sender) Py_RETURN_NONE;
    return new_ref(c->sys, c->sender, 0);
}

static PyObject *Context_get_actor_class(ContextObject *c, void *Py_UNUSED(x)) {
    return Py_NewRef(c->cls ? c->cls : Py_None);
}

static PyObject *Context_get_system(ContextObject *c, void *Py_UNUSED(x)) {
    return Py_NewRef((PyObject *)c->sys);
}

static PyObject *Context_get_restarts(ContextObject *c, void *Py_UNUSED(x)) {
    if (c->cur) return PyLong_FromUnsignedLong(za_ctx_restarts(c->cur));
    za_actor_info info;
    if (c->sys->closed || za_actor_info_get(c->sys->sys, c->ref, &info) != ZA_OK)
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLong(info.restarts);
}

static PyObject *Context_stop(ContextObject *c, PyObject *Py_UNUSED(ignored)) {
    if (check_sys(c->sys) < 0) return NULL;
    if (c->cur && tl_in_actor)
        za_ctx_stop(c->cur);
    else
        HOLDING(za_stop(c->sys->sys, c->ref));
    Py_RETURN_NONE;
}

static int as_ref(SystemObject *s, PyObject *o, RefObject **out) {
    if (!PyObject_TypeCheck(o, s->st->Ref_Type) || ((RefObject *)o)->sys != s) {
        PyErr_SetString(PyExc_TypeError, "expected an ActorRef of this system");
        return -1;
    }
    *out = (RefObject *)o;
    return 0;
}

static PyObject *Context_watch(ContextObject *c, PyObject *target) {
    RefObject *t;
    if (check_sys(c->sys) < 0 || as_ref(c->sys, target, &t) < 0) return NULL;
    int rc;
    if (c->cur && tl_in_actor)
        HOLDING(rc = za_ctx_watch(c->cur, t->ref));
    else
        HOLDING(rc = za_watch(c->sys->sys, c->ref, t->ref));
    if (rc != ZA_OK) return raise_za(c->sys, rc, "watch");
    Py_RETURN_NONE;
}

static PyObject *Context_unwatch(ContextObject *c, PyObject *target) {
    RefObject *t;
    za_ctx *ctx = cur_ctx(c, "unwatch");
    if (!ctx || as_ref(c->sys, target, &t) < 0) return NULL;
    int rc = za_ctx_unwatch(ctx, t->ref);
    if (rc != ZA_OK) return raise_za(c->sys, rc, "unwatch");
    Py_RETURN_NONE;
}

static PyObject *timer_args(SystemObject *s, PyObject *args, PyObject *kw, int periodic) {
    static char *kwlist1[] = {"delay", "ref", "msg", NULL};
    static char *kwlist2[] = {"interval", "ref", "msg", "delay", NULL};
    double a, delay = -1;
    PyObject *ref, *msg;
    if (periodic) {
        if (!PyArg_ParseTupleAndKeywords(args, kw, "dOO|d:send_interval", kwlist2, &a, &ref, &msg,
                                         &delay))
            return NULL;
        if (delay < 0) delay = a;
    } else {
        if (!PyArg_ParseTupleAndKeywords(args, kw, "dOO:send_after", kwlist1, &a, &ref, &msg))
            return NULL;
    }
    RefObject *r;
    if (as_ref(s, ref, &r) < 0) return NULL;
    if (periodic && a <= 0) {
        PyErr_SetString(PyExc_ValueError, "interval must be > 0");
        return NULL;
    }
    return periodic ? start_timer(s, delay, a, r, msg) : start_timer(s, a, 0, r, msg);
}

static PyObject *Context_send_after(ContextObject *c, PyObject *args, PyObject *kw) {
    return timer_args(c->sys, args, kw, 0);
}

static PyObject *Context_send_interval(ContextObject *c, PyObject *args, PyObject *kw) {
    return timer_args(c->sys, args, kw, 1);
}

static PyMethodDef Context_methods[] = {
    {"spawn", (PyCFunction)(void (*)(void))Context_spawn, METH_VARARGS | METH_KEYWORDS,
     "spawn(cls, *args, kwargs=None, name=None, restart='permanent', max_restarts=None, "
     "within=None, backoff=None, capacity=0, on_full='fail', block_timeout=1.0): spawn a child "
     "supervised by this actor (with this class's `strategy`)."},
    {"stop", (PyCFunction)Context_stop, METH_NOARGS, "Stop this actor after the current message."},
    {"watch", (PyCFunction)Context_watch, METH_O,
     "watch(ref): a zactor.Terminated(ref, exc) message arrives when ref dies."},
    {"unwatch", (PyCFunction)Context_unwatch, METH_O, "unwatch(ref)"},
    {"send_after", (PyCFunction)(void (*)(void))Context_send_after, METH_VARARGS | METH_KEYWORDS,
     "send_after(delay, ref, msg) -> Timer: send msg to ref after delay seconds."},
    {"send_interval", (PyCFunction)(void (*)(void))Context_send_interval,
     METH_VARARGS | METH_KEYWORDS,
     "send_interval(interval, ref, msg, delay=interval) -> Timer: send msg every interval s."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Context_getset[] = {
    {"self_ref", (getter)Context_get_self_ref, NULL, "This actor's ActorRef.", NULL},
    {"sender", (getter)Context_get_sender, NULL,
     "The sender of the message being handled (an ActorRef), or None from outside actors.",
     NULL},
    {"system", (getter)Context_get_system, NULL, "The System.", NULL},
    {"actor_class", (getter)Context_get_actor_class, NULL, "The actor's class.", NULL},
    {"restarts", (getter)Context_get_restarts, NULL, "How many times this actor restarted.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Context_slots[] = {
    {Py_tp_dealloc, Context_dealloc},
    {Py_tp_traverse, Context_traverse},
    {Py_tp_clear, Context_clear},
    {Py_tp_methods, Context_methods},
    {Py_tp_getset, Context_getset},
    {Py_tp_doc, "self.context inside an actor."},
    {0, NULL},
};

static PyType_Spec Context_spec = {"zactor.Context", sizeof(ContextObject), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
                                       Py_TPFLAGS_IMMUTABLETYPE |
                                       Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                   Context_slots};

/* ----------------------------------------------------------------- System */

static PyObject *System_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)args;
    (void)kw;
    return type->tp_alloc(type, 0); /* zeroed; System_init creates the runtime */
}

static struct PyModuleDef zactor_module;

static int System_init(SystemObject *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"workers", "batch", "budget_ms", "max_restarts", "within", NULL};
    PyObject *workers_o = Py_None;
    unsigned int batch = 0;
    double budget_ms = 2.0, within = 0;
    int max_restarts = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$Idid:System", kwlist, &workers_o, &batch,
                                     &budget_ms, &max_restarts, &within))
        return -1;
    if (s->sys) {
        PyErr_SetString(PyExc_RuntimeError, "System already initialised");
        return -1;
    }
    PyObject *mod = PyType_GetModuleByDef(Py_TYPE(s), &zactor_module);
    if (!mod) return -1;
    s->module = Py_NewRef(mod);
    s->st = get_state(mod);
    za_config cfg;
    za_config_init(&cfg);
    if (workers_o == Py_None) {
        cfg.workers = 0;
    } else {
        long w = PyLong_AsLong(workers_o);
        if (w == -1 && PyErr_Occurred()) return -1;
        if (w < 0 || w > 1024) {
            PyErr_SetString(PyExc_ValueError, "workers must be None, 0 (manual) or 1..1024");
            return -1;
        }
        if (w == 0) cfg.manual = 1;
        cfg.workers = (int)w;
    }
    cfg.batch = batch;
    if (max_restarts > 0) cfg.root_max_restarts = (uint32_t)max_restarts;
    if (within > 0) cfg.root_within_ms = (uint32_t)(within * 1000.0);
    s->manual = cfg.manual;
    s->fork_gen = fork_gen;
    s->interp = PyThreadState_Get()->interp;
    s->cells = PyDict_New();
    s->timers = PyDict_New();
    if (!s->cells || !s->timers) return -1;
    s->sweep_at = 1024;
    s->host.name = "python";
    s->host.exclusive = 1;
    s->host.budget_us = budget_ms > 0 ? (uint32_t)(budget_ms * 1000.0) : 2000;
    s->host.enter = host_enter;
    s->host.leave = host_leave;
    s->host.host_ud = s;
    s->beh.name = PY_BEH_NAME;
    s->beh.state_size = sizeof(pyactor);
    s->beh.start = py_start;
    s->beh.receive = py_receive;
    s->beh.stop = py_stop;
    s->beh.host = &s->host;
    s->beh_block = s->beh;
    int rc = za_system_create(&cfg, &s->sys);
    if (rc != ZA_OK) {
        s->sys = NULL;
        raise_za(s, rc, "System");
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
    za_set_dead_letter_hook(s->sys, dl_hook, s);
    return 0;
}

/* Shut down, join workers, free thread states. GIL held on entry/exit. */
/* Polled by za_system_shutdown_ex (GIL released) about every 50 ms: a
 * pending Ctrl-C cuts the drain short. The exception stays set on this
 * thread's state for system_close to raise. */
static int shutdown_interrupted(void *ud) {
    (void)ud;
    gil_acquire();
    int r = PyErr_CheckSignals() < 0;
    gil_release();
    return r;
}

/* interruptible: shutdown()/__exit__, where a KeyboardInterrupt may surface
 * (returns ZA_ECANCELLED with the exception set; the system is closed). */
static int system_close(SystemObject *s, double timeout, int interruptible) {
    if (!s->sys || s->closed) return ZA_OK;
    if (s->fork_gen != fork_gen) {
        /* the child of a fork: the workers do not exist here; leak, never join */
        s->closed = 1;
        return ZA_OK;
    }
    if (s->closing) return ZA_OK;
    /* Not "closed" yet: while mailboxes drain, actors keep talking to each
     * other (the runtime itself refuses sends from outside). */
    s->closing = 1;
    uint32_t ms = (uint32_t)(timeout * 1000.0);
    int rc;
    if (s->manual) {
        HOLDING(rc = za_system_shutdown(s->sys, ms));
    } else {
        gil_release();
        rc = za_system_shutdown_ex(s->sys, ms, interruptible ? shutdown_interrupted : NULL, NULL);
        gil_acquire();
    }
    /* the clean-up below runs Python callbacks: not with an exception set */
    PyObject *et = NULL, *ev = NULL, *etb = NULL;
    if (rc == ZA_ECANCELLED) PyErr_Fetch(&et, &ev, &etb);
    s->closed = 1;
    drain_deferred(); /* dead letters of this system, while it still exists */
    atomic_store(&s->dl_on, 0);
    HOLDING(za_system_destroy(s->sys));
    s->sys = NULL;
    drain_deferred();
    for (int i = 0; i < s->nworkers; i++) {
        if (s->tstates[i]) {
            PyThreadState_Clear(s->tstates[i]);
            PyThreadState_Delete(s->tstates[i]);
            s->tstates[i] = NULL;
        }
    }
    /* break the system <-> cell cycles */
    if (s->cells) PyDict_Clear(s->cells);
    if (s->timers) PyDict_Clear(s->timers);
    if (rc == ZA_ECANCELLED) {
        if (et)
            PyErr_Restore(et, ev, etb);
        else
            PyErr_SetString(PyExc_KeyboardInterrupt, "shutdown interrupted");
    }
    return rc;
}

static PyObject *System_shutdown(SystemObject *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"timeout", NULL};
    double timeout = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|d:shutdown", kwlist, &timeout)) return NULL;
    if (tl_in_actor) {
        PyErr_SetString(PyExc_RuntimeError, "shutdown() cannot run inside an actor");
        return NULL;
    }
    if (s->closed || !s->sys) Py_RETURN_TRUE;
    int rc = system_close(s, timeout, 1);
    if (rc == ZA_ECANCELLED) return NULL; /* Ctrl-C: closed without the drain */
    return PyBool_FromLong(rc == ZA_OK);
}

static void System_dealloc(SystemObject *s) {
    PyTypeObject *tp = Py_TYPE(s);
    PyObject_GC_UnTrack(s);
    if (s->weakreflist) PyObject_ClearWeakRefs((PyObject *)s);
    if (s->sys && !s->closed && !tl_in_actor) system_close(s, 5.0, 0);
    free(s->tstates);
    Py_CLEAR(s->cells);
    Py_CLEAR(s->timers);
    Py_CLEAR(s->dl_callback);
    Py_CLEAR(s->module);
    tp->tp_free((PyObject *)s);
    Py_DECREF(tp);
}

static int System_traverse(SystemObject *s, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(s));
    Py_VISIT(s->cells);
    Py_VISIT(s->timers);
    Py_VISIT(s->dl_callback);
    return 0;
}

static int System_clear(SystemObject *s) {
    /* a live system is never collected: its cells are reachable from workers */
    if (s->sys && !s->closed) return 0;
    Py_CLEAR(s->cells);
    Py_CLEAR(s->timers);
    Py_CLEAR(s->dl_callback);
    return 0;
}

static PyObject *System_spawn(SystemObject *s, PyObject *args, PyObject *kw) {
    return do_spawn(s, NULL, args, kw);
}

static PyObject *System_lookup(SystemObject *s, PyObject *name) {
    if (check_sys(s) < 0) return NULL;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "name must be a str");
        return NULL;
    }
    za_ref r;
    int rc = za_lookup(s->sys, PyUnicode_AsUTF8(name), &r);
    if (rc == ZA_ENOTFOUND) Py_RETURN_NONE;
    if (rc != ZA_OK) return raise_za(s, rc, "lookup");
    return new_ref(s, r, 0);
}

static PyObject *System_run(SystemObject *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"max_turns", NULL};
    unsigned int max_turns = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|I:run", kwlist, &max_turns)) return NULL;
    if (check_sys(s) < 0) return NULL;
    if (!s->manual) {
        PyErr_SetString(PyExc_RuntimeError, "run() is for System(workers=0) only");
        return NULL;
    }
    int rc;
    HOLDING(rc = za_system_run(s->sys, max_turns));
    drain_deferred();
    if (PyErr_Occurred()) return NULL;
    if (rc < 0) return raise_za(s, rc, "run");
    return PyLong_FromLong(rc);
}

static PyObject *System_on_dead_letter(SystemObject *s, PyObject *cb) {
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
    if (check_sys(s) < 0) return NULL;
    za_metrics m;
    int rc = za_metrics_read(s->sys, &m);
    if (rc != ZA_OK) return raise_za(s, rc, "metrics");
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    PyObject *q = lat_dict(&m.queue_latency), *p = lat_dict(&m.process_latency);
    if (!q || !p || put_u64(d, "sent", m.sent) < 0 || put_u64(d, "delivered", m.delivered) < 0 ||
        put_u64(d, "dead_letters", m.dead_letters) < 0 || put_u64(d, "restarts", m.restarts) < 0 ||
        put_u64(d, "failures", m.failures) < 0 || put_u64(d, "spawned", m.spawned) < 0 ||
        put_u64(d, "stopped", m.stopped) < 0 || put_u64(d, "actors_alive", m.actors_alive) < 0 ||
        put_u64(d, "timers_fired", m.timers_fired) < 0 ||
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
    if (check_sys(s) < 0) return NULL;
    int n = za_metrics_prometheus(s->sys, NULL, 0);
    if (n < 0) return raise_za(s, n, "prometheus");
    for (int tries = 0; tries < 4; tries++) {
        size_t cap = (size_t)n + 256;
        char *buf = malloc(cap);
        if (!buf) return PyErr_NoMemory();
        int m = za_metrics_prometheus(s->sys, buf, cap);
        if (m < 0) {
            free(buf);
            return raise_za(s, m, "prometheus");
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
    return timer_args(s, args, kw, 0);
}

static PyObject *System_send_interval(SystemObject *s, PyObject *args, PyObject *kw) {
    return timer_args(s, args, kw, 1);
}

static PyObject *System_enter(SystemObject *s, PyObject *Py_UNUSED(ignored)) {
    if (check_sys(s) < 0) return NULL;
    return Py_NewRef((PyObject *)s);
}

static PyObject *System_exit(SystemObject *s, PyObject *args) {
    (void)args;
    if (!s->closed && s->sys && system_close(s, 5.0, 1) == ZA_ECANCELLED) return NULL;
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
    if (check_sys(s) < 0) return NULL;
    unsigned long long r = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred()) return NULL;
    return new_ref(s, (za_ref)r, 0);
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
    if (check_sys(s) < 0) {
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
    if (rc != ZA_OK) return raise_za(s, rc, "spawn_native");
    return new_ref(s, ref, 2);
}

/* spawn_lua(spec, *args, name=None, memory_limit=None, budget=None,
 * open_io_os=False, strategy=None, restart=..., ...): a Lua actor with its
 * own lua_State (csrc/hosts/lua_host.c) on the same workers. Lua actors never
 * take the GIL; Python talks to them in MessagePack like to native actors. */
/* unpack(data): one MessagePack value, strictly (the same reader as messages
 * from other languages, but malformed input is an error, not raw bytes). */
static PyObject *System_unpack(SystemObject *s, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    za_doc *d = NULL;
    int rc = za_doc_decode(b.buf, (size_t)b.len, &d);
    PyObject *r = NULL;
    if (rc == ZA_OK) {
        r = value_to_py(s, za_doc_root(d));
        za_doc_free(d);
    } else {
        const char *detail = za_last_error();
        PyErr_Format(PyExc_ValueError, "unpack: not one MessagePack value (%zd bytes): %s",
                     b.len, detail && *detail ? detail : za_strerror(rc));
    }
    PyBuffer_Release(&b);
    return r;
}

static PyObject *System_spawn_lua(SystemObject *s, PyObject *args, PyObject *kw) {
#ifndef ZA_WITH_LUA
    PyErr_SetString(PyExc_RuntimeError,
                    "spawn_lua: this zactor was built without Lua support (install the Lua 5.4 "
                    "headers, e.g. Debian's liblua5.4-dev, then reinstall zactor)");
    return NULL;
#else
    if (check_sys(s) < 0) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError,
                        "spawn_lua() needs a Lua behaviour: a path to a .lua file, a module name "
                        "or Lua source text");
        return NULL;
    }
    const char *spec = PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, 0));
    if (!spec) return NULL;
    za_lua_opts lo = {0};
    PyObject *optkw = NULL, *name_keep = NULL, *strat = NULL, *packed = NULL, *v;
    PyObject *rest = NULL;
    if (kw) {
        if (!(optkw = PyDict_Copy(kw))) return NULL;
        if ((v = PyDict_GetItemString(optkw, "memory_limit")) && v != Py_None) {
            long long m = PyLong_AsLongLong(v);
            if (m <= 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "memory_limit must be > 0 bytes");
                goto err;
            }
            lo.memory_limit = (size_t)m;
        }
        if ((v = PyDict_GetItemString(optkw, "budget")) && v != Py_None) {
            double b = PyFloat_AsDouble(v);
            if (b == -1.0 && PyErr_Occurred()) goto err;
            if (b <= 0) {
                PyErr_SetString(PyExc_ValueError, "budget must be > 0 seconds");
                goto err;
            }
            lo.budget_ms = b * 1000.0 < 1 ? 1u : (uint32_t)(b * 1000.0);
        }
        if ((v = PyDict_GetItemString(optkw, "open_io_os")) && v != Py_None) {
            int t = PyObject_IsTrue(v);
            if (t < 0) goto err;
            lo.open_io_os = t;
        }
        strat = PyDict_GetItemString(optkw, "strategy");
        Py_XINCREF(strat); /* optkw loses it just below */
        static const char *lua_only[] = {"memory_limit", "budget", "open_io_os", "strategy", NULL};
        for (int i = 0; lua_only[i]; i++)
            if (PyDict_DelItemString(optkw, lua_only[i]) < 0) PyErr_Clear();
    }
    za_spawn_opts o;
    int blocking = 0;
    if (parse_spawn_opts(s, strat, optkw, &o, &name_keep, &blocking) < 0) goto err;
    if (n > 1) {
        if (!(rest = PyTuple_GetSlice(args, 1, n))) goto err;
        za_pack *p = za_pack_new();
        if (!p) {
            PyErr_NoMemory();
            goto err;
        }
        if (pack_obj(s->st, p, rest, 0) < 0) {
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
            raise_za(s, rc, "spawn_lua");
        goto err;
    }
    Py_XDECREF(optkw);
    Py_XDECREF(name_keep);
    Py_XDECREF(strat);
    Py_XDECREF(packed);
    Py_XDECREF(rest);
    return new_ref(s, ref, 2);
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
    double timeout = 5.0;
    if (!PyArg_ParseTuple(args, "|d:wait_idle", &timeout)) return NULL;
    if (check_sys(s) < 0 || refuse_in_actor("wait_idle()") < 0) return NULL;
    int rc;
    if (s->manual) {
        HOLDING(rc = za_system_wait_idle(s->sys, (uint32_t)(timeout * 1000)));
    } else {
        gil_release();
        rc = za_system_wait_idle(s->sys, (uint32_t)(timeout * 1000));
        gil_acquire();
    }
    drain_deferred();
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
     "workers. False if draining did not finish in time. Idempotent."},
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
     "strategy=None, restart='permanent', max_restarts=None, within=None, backoff=None, "
     "capacity=0, on_full='fail') -> ActorRef. spec: a path to a .lua file, a module name or "
     "Lua source text returning {init=, receive=, stop=}; args go to init."},
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
    {Py_tp_traverse, System_traverse},
    {Py_tp_clear, System_clear},
    {Py_tp_methods, System_methods},
    {Py_tp_getset, System_getset},
    {Py_tp_members, System_members},
    {Py_tp_doc, "System(workers=None, *, batch=0, budget_ms=2.0, max_restarts=0, within=0): an "
                "actor system. workers=None: one worker per core; workers=0: deterministic "
                "manual mode (actors run in the caller during ask/join/run)."},
    {0, NULL},
};

static PyType_Spec System_spec = {"zactor._zactor.System", sizeof(SystemObject), 0,
                                  Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                                  System_slots};

/* ------------------------------------------------------- module functions */

static PyObject *mod_set_hooks(PyObject *mod, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"terminated",       "dead_letter", "report_failure",
                             "get_running_loop", "waker_for",   "function_actor", NULL};
    PyObject *t, *d, *r, *g, *w, *f;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "$OOOOOO", kwlist, &t, &d, &r, &g, &w, &f))
        return NULL;
    modstate *st = get_state(mod);
    Py_XSETREF(st->function_actor, Py_NewRef(f));
    Py_XSETREF(st->terminated_cls, Py_NewRef(t));
    Py_XSETREF(st->dead_letter_cls, Py_NewRef(d));
    Py_XSETREF(st->report_failure, Py_NewRef(r));
    Py_XSETREF(st->get_running_loop, Py_NewRef(g));
    Py_XSETREF(st->waker_for, Py_NewRef(w));
    Py_RETURN_NONE;
}

/* Dispatcher: runs deferred work (future callbacks, dead letters, decrefs
 * from threads without the GIL). Runs in a daemon thread until stopped. */
static PyObject *mod_dispatch_loop(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&dq_mu);
        if (!dq_head && !dq_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&dq_cv, &dq_mu, &ts);
        }
        pthread_mutex_unlock(&dq_mu);
        Py_END_ALLOW_THREADS
        drain_deferred();
        pthread_mutex_lock(&dq_mu);
        int stop = dq_stop;
        pthread_mutex_unlock(&dq_mu);
        if (stop) break;
    }
    drain_deferred();
    Py_RETURN_NONE;
}

static PyObject *mod_dispatch_stop(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    pthread_mutex_lock(&dq_mu);
    dq_stop = 1;
    pthread_cond_broadcast(&dq_cv);
    pthread_mutex_unlock(&dq_mu);
    Py_RETURN_NONE;
}

static PyObject *mod_drain(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    drain_deferred();
    Py_RETURN_NONE;
}

/* os.register_at_fork(after_in_child=...): the child has none of the
 * parent's runtime threads. Locks may have been held at fork: make fresh
 * ones; queued work referred to the parent's threads: forget it. */
static PyObject *mod_after_fork_child(PyObject *mod, PyObject *Py_UNUSED(ignored)) {
    (void)mod;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    memcpy(&dq_mu, &m, sizeof m);
    memcpy(&dq_cv, &c, sizeof c);
    dq_head = dq_tail = NULL;
    atomic_store(&dq_pending, 0);
    dq_stop = 0;
    fork_gen++;
    tl_gil = 0;
    tl_in_actor = 0;
    tl_saved = NULL;
    Py_RETURN_NONE;
}

/* MessagePack bytes of a value (spawn arguments for native behaviours). */
static PyObject *mod_pack(PyObject *mod, PyObject *obj) {
    za_pack *p = za_pack_new();
    if (!p) return PyErr_NoMemory();
    PyObject *r = NULL;
    if (pack_obj(get_state(mod), p, obj, 0) == 0)
        r = PyBytes_FromStringAndSize(za_pack_data(p), (Py_ssize_t)za_pack_size(p));
    za_pack_free(p);
    return r;
}

static PyMethodDef mod_methods[] = {
    {"_pack", (PyCFunction)mod_pack, METH_O, NULL},
    {"_set_hooks", (PyCFunction)(void (*)(void))mod_set_hooks, METH_VARARGS | METH_KEYWORDS, NULL},
    {"_dispatch_loop", (PyCFunction)mod_dispatch_loop, METH_NOARGS, NULL},
    {"_dispatch_stop", (PyCFunction)mod_dispatch_stop, METH_NOARGS, NULL},
    {"_drain", (PyCFunction)mod_drain, METH_NOARGS, NULL},
    {"_after_fork_child", (PyCFunction)mod_after_fork_child, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static int add_type(PyObject *m, PyType_Spec *spec, PyObject *base, PyTypeObject **out,
                    const char *attr) {
    PyObject *t = PyType_FromModuleAndSpec(m, spec, base);
    if (!t) return -1;
    *out = (PyTypeObject *)t;
    return PyModule_AddObjectRef(m, attr, t);
}

static int add_exc(PyObject *m, const char *name, PyObject *base, PyObject **out,
                   const char *doc, const char *attr) {
    *out = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    if (!*out) return -1;
    return PyModule_AddObjectRef(m, attr, *out);
}

static int mod_exec(PyObject *m) {
    modstate *st = get_state(m);
    if (add_type(m, &System_spec, NULL, &st->System_Type, "System") < 0 ||
        add_type(m, &Ref_spec, NULL, &st->Ref_Type, "ActorRef") < 0 ||
        add_type(m, &Future_spec, NULL, &st->Future_Type, "Future") < 0 ||
        add_type(m, &Context_spec, NULL, &st->Context_Type, "Context") < 0 ||
        add_type(m, &Timer_spec, NULL, &st->Timer_Type, "Timer") < 0)
        return -1;
    st->FutureIter_Type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &FutureIter_spec, NULL);
    if (!st->FutureIter_Type) return -1;
    if (add_exc(m, "zactor.ActorError", PyExc_Exception, &st->ActorError,
                "Base class of zactor's errors.", "ActorError") < 0)
        return -1;
    if (add_exc(m, "zactor.ActorDeadError", st->ActorError, &st->ActorDeadError,
                "The actor (or its system) is dead: the message was not delivered.",
                "ActorDeadError") < 0)
        return -1;
    PyObject *bases = PyTuple_Pack(2, st->ActorError, PyExc_TimeoutError);
    if (!bases) return -1;
    st->AskTimeout = PyErr_NewExceptionWithDoc("zactor.AskTimeout", "No reply in time.", bases,
                                               NULL);
    Py_DECREF(bases);
    if (!st->AskTimeout || PyModule_AddObjectRef(m, "AskTimeout", st->AskTimeout) < 0) return -1;
    if (add_exc(m, "zactor.MailboxFull", st->ActorError, &st->MailboxFull,
                "The target's bounded mailbox is full.", "MailboxFull") < 0)
        return -1;
    if (add_exc(m, "zactor.ActorFailed", st->ActorError, &st->ActorFailed,
                "The actor failed (non-Python actors, or when the original exception is not "
                "available).",
                "ActorFailed") < 0)
        return -1;
    PyObject *cf = PyImport_ImportModule("concurrent.futures");
    if (!cf) return -1;
    st->CancelledError = PyObject_GetAttrString(cf, "CancelledError");
    Py_DECREF(cf);
    if (!st->CancelledError) return -1;
#define INTERN(f, s)                                                                               \
    if (!(st->f = PyUnicode_InternFromString(s))) return -1
    INTERN(str_receive, "receive");
    INTERN(str_on_start, "on_start");
    INTERN(str_on_stop, "on_stop");
    INTERN(str_on_failure, "on_failure");
    INTERN(str_context, "context");
    INTERN(str_init, "__init__");
    INTERN(str_new, "__new__");
    INTERN(str_strategy, "strategy");
    INTERN(str_add_note, "add_note");
    INTERN(str_create_future, "create_future");
    INTERN(str_add, "add");
    INTERN(str_blocking, "_asyncio_future_blocking");
#undef INTERN
    if (PyModule_AddIntConstant(m, "TAG_PY", TAG_PY) < 0) return -1;
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg) {
    modstate *st = get_state(m);
    if (!st) return 0;
    Py_VISIT(st->System_Type);
    Py_VISIT(st->Ref_Type);
    Py_VISIT(st->Future_Type);
    Py_VISIT(st->Context_Type);
    Py_VISIT(st->Timer_Type);
    Py_VISIT(st->ActorError);
    Py_VISIT(st->ActorDeadError);
    Py_VISIT(st->AskTimeout);
    Py_VISIT(st->MailboxFull);
    Py_VISIT(st->ActorFailed);
    Py_VISIT(st->CancelledError);
    Py_VISIT(st->terminated_cls);
    Py_VISIT(st->dead_letter_cls);
    Py_VISIT(st->get_running_loop);
    Py_VISIT(st->waker_for);
    Py_VISIT(st->function_actor);
    Py_VISIT(st->last_loop);
    Py_VISIT(st->last_waker);
    Py_VISIT(st->FutureIter_Type);
    Py_VISIT(st->report_failure);
    return 0;
}

static int mod_clear(PyObject *m) {
    modstate *st = get_state(m);
    if (!st) return 0;
    Py_CLEAR(st->System_Type);
    Py_CLEAR(st->Ref_Type);
    Py_CLEAR(st->Future_Type);
    Py_CLEAR(st->Context_Type);
    Py_CLEAR(st->Timer_Type);
    Py_CLEAR(st->ActorError);
    Py_CLEAR(st->ActorDeadError);
    Py_CLEAR(st->AskTimeout);
    Py_CLEAR(st->MailboxFull);
    Py_CLEAR(st->ActorFailed);
    Py_CLEAR(st->CancelledError);
    Py_CLEAR(st->terminated_cls);
    Py_CLEAR(st->dead_letter_cls);
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->waker_for);
    Py_CLEAR(st->function_actor);
    Py_CLEAR(st->last_loop);
    Py_CLEAR(st->last_waker);
    Py_CLEAR(st->FutureIter_Type);
    Py_CLEAR(st->report_failure);
    Py_CLEAR(st->str_receive);
    Py_CLEAR(st->str_on_start);
    Py_CLEAR(st->str_on_stop);
    Py_CLEAR(st->str_on_failure);
    Py_CLEAR(st->str_context);
    Py_CLEAR(st->str_init);
    Py_CLEAR(st->str_new);
    Py_CLEAR(st->str_strategy);
    Py_CLEAR(st->str_add_note);
    Py_CLEAR(st->str_create_future);
    Py_CLEAR(st->str_add);
    Py_CLEAR(st->str_blocking);
    return 0;
}

static void mod_free(void *m) { mod_clear((PyObject *)m); }

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
    {0, NULL},
};

static struct PyModuleDef zactor_module = {
    PyModuleDef_HEAD_INIT,
    "zactor._zactor",
    "CPython glue of the zactor actor runtime (use the zactor package).",
    sizeof(modstate),
    mod_methods,
    mod_slots,
    mod_traverse,
    mod_clear,
    mod_free,
};

PyMODINIT_FUNC PyInit__zactor(void) { return PyModuleDef_Init(&zactor_module); }
