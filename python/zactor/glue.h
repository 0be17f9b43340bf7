/*
 * glue.h - the CPython glue of zactor (module zactor._zactor): Python
 * actors on the runtime's native workers.
 *
 * How Python meets the runtime (see DESIGN.md, "Python host"):
 *  - Every Python actor is a za_behaviour whose host is this system's
 *    za_host: exclusive (one worker at a time runs Python actors), and its
 *    enter/leave swap a per-worker PyThreadState in and out
 *    (PyEval_RestoreThread/SaveThread, ~90 ns) once per batch of turns,
 *    never PyGILState_Ensure per message (~5.5 us).
 *  - Python-to-Python messages carry the object itself (za_tell_ptr with a
 *    new reference and zpy_py_obj_dtor). Runtime threads may run that dtor, an
 *    ask callback or the dead-letter hook without the GIL; they then never
 *    touch Python: the work goes on a process-wide FIFO ("deferred queue")
 *    drained under the GIL by a dispatcher thread, by workers entering the
 *    host, and after blocking waits.
 *  - Blocking calls release the GIL, wait in 50 ms slices and call
 *    PyErr_CheckSignals between slices, so Ctrl-C works. A blocking ask is
 *    the runtime's sliced ask (za_ask_ptr_start + za_ask_wait, which polls
 *    ~20 us before it sleeps), sent after the GIL is released.
 *  - Hand-offs of the GIL on the hot paths poll briefly instead of sleeping
 *    in the GIL (g_in_host, g_handoff in gil.c): a futex sleep and wake-up
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
 * Layout: one file per concept (gil.c, deferred.c, errors.c, wait.c,
 * values.c, answer.c, ref.c, future.c, awaitable.c, host.c, deadletters.c,
 * spawn_opts.c, timers.c, context.c, system.c, module.c); this private
 * header holds what they share. Functions used across files are zpy_*;
 * process-wide variables are g_*, thread-local ones tl_*.
 *
 * Module style: multi-phase init, heap types, state in the module.
 */
#ifndef ZACTOR_GLUE_H
#define ZACTOR_GLUE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zactor.h"

/* Message tags the glue uses on the wire (tags >= 0 are user space; these
 * are high enough not to collide with the small tags native behaviours use). */
#define TAG_PY 0x7A505900     /* PTR payload: a PyObject* (new reference) */
#define TAG_PYEXC 0x7A505901  /* PTR reply: the exception raised by receive */
#define TAG_TIMER 0x7A505902  /* bytes: uint64 key into System.timers */
#define TAG_RESUME 0x7A505903 /* bytes: key, gen, kind: resume an async handler (async.c) */
#define TAG_STORE 0x7A505904  /* PTR za_store_result: a handler's storage request completed */
/* (ZA_TAG_PICKLE, 0x7A505980 in zactor.h: a pickled object from another node) */

#define SLICE_MS 50u /* blocking waits wake this often for signals */
#define SLICE_NS 50000000ull
#define GIL_FREE_SPIN_NS 10000ull /* wait this long for a worker to leave the GIL */
#define HANDOFF_NS 20000ull       /* a caller that just sent work releases the GIL within this */
#define AWAIT_SPIN_NS 50000ull    /* an await polls this long before it parks its task */
#define RESULT_POLL_NS 20000ull   /* Future.result() polls this long before it sleeps */

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
    PyObject *get_running_loop;       /* asyncio.get_running_loop */
    PyObject *waker_for;              /* loop -> its _LoopWaker */
    PyObject *function_actor;         /* Actor class wrapping a plain callable */
    PyObject *last_loop, *last_waker; /* one-entry cache of waker_for */
    PyObject *str_receive, *str_on_start, *str_on_stop, *str_on_failure, *str_context, *str_init,
        *str_new, *str_strategy, *str_add_note, *str_create_future, *str_add, *str_blocking;
    /* the cluster (cluster.c) */
    PyTypeObject *Cluster_Type;
    PyObject *NodeDownError;
} modstate;

static inline modstate *zpy_state(PyObject *module) {
    return (modstate *)PyModule_GetState(module);
}

/* The module definition (module.c): types find their module state through it. */
extern struct PyModuleDef zpy_module;

/* Bumped in the child after fork: systems created before it are unusable. */
extern unsigned g_fork_gen;

/* -------------------------------------------- GIL hand-off (gil.c) */

/* Workers inside a Python host, and a caller's promise to release the GIL
 * soon (a deadline in ns): see gil.c. */
extern _Atomic int g_in_host;
extern _Atomic uint64_t g_handoff;

/* 1 while this thread holds the GIL for the glue (worker inside the host,
 * or a caller thread inside a HOLDING scope). */
extern _Thread_local int tl_gil;
/* The thread state a glue wait saved when it released the GIL on this
 * thread: a runtime callback on the same thread (e.g. a stop hook during
 * shutdown teardown) may take the GIL back with it. */
extern _Thread_local PyThreadState *tl_saved;
/* Depth of actor callbacks (start/receive/stop) on this thread: blocking
 * calls there would stall the worker that other Python actors need. */
extern _Thread_local int tl_in_actor;
/* 1 on a runtime worker between host_enter and host_leave (it holds the
 * Python host and the GIL): user callbacks (future callbacks, dead
 * letters) never run there, see deferred.c. */
extern _Thread_local int tl_in_host;
/* May user callbacks run on this thread now? (Holding the GIL, not on a
 * worker serving the Python host, not inside an actor: where the blocking
 * API is legal.) */
static inline int zpy_user_callbacks_ok(void) {
    return tl_gil && !tl_in_host && !tl_in_actor;
}

#define HOLDING(expr)                                                                              \
    do {                                                                                           \
        int saved_gil_ = tl_gil;                                                                   \
        tl_gil = 1;                                                                                \
        expr;                                                                                      \
        tl_gil = saved_gil_;                                                                       \
    } while (0)

static inline uint64_t zpy_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void zpy_cpu_relax(void) {
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
 * Use: poller p; zpy_poll_init(&p, max); while (!cond && zpy_poll_pause(&p)) {}
 */
typedef struct poller {
    uint64_t end;
} poller;

static inline void zpy_poll_init(poller *p, uint64_t max_ns) {
    p->end = zpy_now_ns() + max_ns;
}

/* Pause a little; 0 once the time is up. */
static inline int zpy_poll_pause(poller *p) {
    for (int i = 0; i < 16; i++) zpy_cpu_relax();
    return zpy_now_ns() < p->end;
}

/* Without the GIL: give a worker inside the host a moment to leave it. */
void zpy_wait_gil_free(void);
/* Before releasing the GIL soon after sending work (see g_handoff). */
void zpy_handoff_promise(void);
/* Release the GIL for a glue wait (and fulfil a hand-off promise). */
void zpy_gil_release(void);
void zpy_gil_acquire(void);

/* ------------------------------------------------------------------ types
 *
 * (Objects start with PyObject ob_base, what PyObject_HEAD expands to,
 * spelled out so that clang-format keeps it a statement of its own.) */

typedef struct SystemObject {
    PyObject ob_base;
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
    PyObject *timers; /* int(key) -> (msg, periodic) */
    uint64_t next_timer_key;
    PyObject *dl_callback;
    _Atomic int dl_on;
    unsigned aw_tries, aw_hits; /* recent awaits that polled, and saw the answer (decaying) */
    unsigned aw_count;
    PyObject *weakreflist;
    int abandoned_flag;  /* shutdown returned before the runtime finished (shutdown.c) */
    PyObject *abandoned; /* tuple of ActorRefs still in a handler then, or NULL */
    za_system *reap_sys; /* an abandoned system's runtime, freed at DF_REAP */
    /* grains (grain.c): Python grain activations, and type -> class (None:
     * a native type) for the classes registered here */
    za_behaviour beh_grain;
    PyObject *grain_classes;
} SystemObject;

typedef struct RefObject {
    PyObject ob_base;
    SystemObject *sys;
    za_ref ref;
    int kind;     /* 0 unknown, 1 Python actor, 2 native/other */
    int blocking; /* target's mailbox blocks senders when full */
} RefObject;

/* Per-actor cell: spawn spec kept for restarts, and self.context. */
typedef struct ContextObject {
    PyObject ob_base;
    SystemObject *sys;
    PyObject *cls;
    PyObject *args;
    PyObject *kwargs;
    PyObject *last_exc;
    za_ref ref;
    za_ctx *cur;   /* set during this actor's callbacks */
    za_ref sender; /* sender of the message being received */
} ContextObject;

/* The part of a Future that runtime threads touch: no Python inside. */
typedef struct futcore {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int refs;
    _Atomic int done;
    za_answer ans;
    PyObject *keep; /* the Future, kept alive while callbacks wait (owned) */
    /* an async handler awaits it: the answer sends this actor a TAG_RESUME
     * (async.c); set and read under mu */
    za_system *rs_sys;
    za_ref rs_to;
    uint64_t rs_key;
    uint32_t rs_gen;
} futcore;

typedef struct FutureObject {
    PyObject ob_base;
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

/* ---------------------------------------------------- deferred work (deferred.c) */

enum { DF_DECREF = 1, DF_FUTCB = 2, DF_DL = 3, DF_CLOSE = 4, DF_REAP = 5 };

typedef struct defer_item {
    struct defer_item *next;
    int kind;
    int owned; /* DL: obj is a new reference (else borrowed, see zpy_dl_hook) */
    PyObject *obj;
    SystemObject *sys;
    za_ref target, sender;
    int32_t tag;
    int reason;
    size_t len;
    unsigned char data[];
} defer_item;

void zpy_defer_push(defer_item *it);
void zpy_defer_obj(int kind, PyObject *obj);
/* PTR payload destructor: runs exactly once, on whatever thread. */
void zpy_py_obj_dtor(void *p);
/* introspect.c */
int zpy_introspect_init(void);
PyObject *zpy_system_http_url(SystemObject *s, void *x);
/* tracing.c */
PyObject *zpy_trace_get(PyObject *mod, PyObject *x);
PyObject *zpy_trace_set(PyObject *mod, PyObject *arg);
/* tracing.c: spans recorded by the runtime (csrc/spans.c) */
int zpy_tracing_exec(PyObject *m);
PyObject *zpy_spans_configure(PyObject *mod, PyObject *args);
PyObject *zpy_spans_enable(PyObject *mod, PyObject *args);
PyObject *zpy_spans_wait(PyObject *mod, PyObject *args);
PyObject *zpy_spans_quiesce(PyObject *mod, PyObject *arg);
PyObject *zpy_spans_drain(PyObject *mod, PyObject *arg);
PyObject *zpy_spans_dropped(PyObject *mod, PyObject *x);
PyObject *zpy_traced(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);
PyObject *zpy_traced_ask(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *zpy_traced_tell(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *zpy_ref_ask(PyObject *r, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *zpy_ref_tell(PyObject *r, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
/* Run deferred work. GIL held. */
void zpy_drain_deferred(void);
/* The child of a fork: a fresh, empty queue. */
void zpy_deferred_after_fork(void);
PyObject *zpy_dispatch_loop(PyObject *mod, PyObject *ignored);
PyObject *zpy_dispatch_stop(PyObject *mod, PyObject *ignored);

/* --------------------------------------------------------- errors (errors.c) */

/* -1 with RuntimeError if System.__init__ never ran (a subclass that does
 * not call super().__init__(), or System.__new__ alone). */
int zpy_check_init(SystemObject *s);
/* The UTF-8 text of str o for the C API, which takes NUL-terminated strings:
 * a str with a NUL inside would reach it cut short (a name registered as its
 * prefix), so that is a ValueError naming what. NULL with an exception set. */
const char *zpy_cstring(PyObject *o, const char *what);
/* -1 with an exception if the system is unusable (never initialised, shut
 * down, or forked). */
int zpy_check_sys(SystemObject *s);
/* Raise the Python exception for runtime error rc; returns NULL. */
PyObject *zpy_raise_za(SystemObject *s, int rc, const char *what);

/* ------------------------------------- the cluster (remote_spawn.c, pickle.c) */

PyObject *zpy_cluster_spawn(PyObject *mod, PyObject *args);
PyObject *zpy_cluster_serve_spawns(PyObject *mod, PyObject *args);
/* After zpy_pack_obj failed (TypeError) for a message to `to` on another
 * node: its pickle bytes when this node allows pickle (error cleared), else
 * NULL with the error kept (a hint added). */
PyObject *zpy_pickle_for(SystemObject *s, za_ref to, PyObject *msg);
/* The object of a ZA_TAG_PICKLE message, or NULL with ValueError. */
PyObject *zpy_unpickle_msg(SystemObject *s, za_ref sender, const void *data, size_t len);
/* After zpy_pack_obj failed (TypeError) for the reply r to m: its pickle
 * bytes when the asker is on another node and pickle is on (error
 * cleared), else NULL with the error kept. */
PyObject *zpy_pickle_reply(SystemObject *s, const za_msg *m, PyObject *r);
/* A ZA_TAG_PICKLE answer. */
PyObject *zpy_unpickle_answer(SystemObject *s, const void *data, size_t len);

/* ---------------------------------------------------- blocking waits (wait.c) */

/* The deadline of a timeout in seconds (inf: none, UINT64_MAX). */
uint64_t zpy_deadline_after(double timeout);
uint32_t zpy_slice_ms(uint64_t deadline);
/* -1 with RuntimeError when called inside an actor (it would block). */
int zpy_refuse_in_actor(const char *what);

/* ------------------------------------------- durations and counts (durations.c) */

#define ZPY_MAX_SECONDS 4294967.0 /* the runtime counts ms in 32 bits */
#define ZPY_FOREVER_MS UINT32_MAX /* what inf becomes in ms */
enum {
    ZPY_DUR_INF_OK = 1,   /* inf means "no limit" (timeouts) */
    ZPY_DUR_POSITIVE = 2, /* 0 is an error too (intervals) */
};
/* A duration in seconds under the one rule (see durations.c); -1 with an
 * exception naming the parameter. *out is INFINITY for inf. */
int zpy_duration(PyObject *o, const char *name, int flags, double *out);
/* The same, dflt for NULL/None. */
int zpy_duration_opt(PyObject *o, const char *name, int flags, double dflt, double *out);
/* A checked duration in ms for the runtime (inf: ZPY_FOREVER_MS). */
uint32_t zpy_seconds_to_ms(double t);
/* An int in lo..hi; -1 with ValueError/OverflowError naming the parameter. */
int zpy_count(PyObject *o, const char *name, unsigned long long lo, unsigned long long hi,
              unsigned long long *out);

/* ----------------------------------------------------- MessagePack (values.c) */

int zpy_pack_obj(modstate *st, za_pack *p, PyObject *o, int depth);
PyObject *zpy_value_to_py(SystemObject *s, const za_value *v);
PyObject *zpy_bytes_to_py(SystemObject *s, const void *data, size_t len);
/* One MessagePack value, strictly: ValueError (the runtime's text) if not. */
PyObject *zpy_unpack_strict(SystemObject *s, const void *data, size_t len);

/* ----------------------------------------------------- ask answers (answer.c) */

void zpy_raise_exc_obj(PyObject *exc);
void zpy_raise_ask_timeout(SystemObject *s, double timeout);
void zpy_answer_to_py(SystemObject *s, za_answer *a, double timeout, PyObject **res,
                      PyObject **exc);

/* --------------------------------------------------------------- ActorRef (ref.c) */

extern PyType_Spec zpy_Ref_spec;
PyObject *zpy_new_ref(SystemObject *s, za_ref r, int kind);
int zpy_ref_kind(RefObject *r);
/* o as an ActorRef of system s, else -1 with TypeError. */
int zpy_as_ref(SystemObject *s, PyObject *o, RefObject **out);

/* ---------------------------------------------------------------- Future (future.c) */

extern PyType_Spec zpy_Future_spec;
FutureObject *zpy_future_ask(RefObject *r, PyObject *msg, double timeout);
void zpy_future_run_callbacks(FutureObject *f);
void zpy_future_wake_waiters(FutureObject *f);
PyObject *zpy_future_outcome(FutureObject *f);
int zpy_future_wait(FutureObject *f, double timeout);
int zpy_future_cancel(FutureObject *f);

/* ---------------------------------------------------- await future (awaitable.c) */

extern PyType_Spec zpy_FutureIter_spec;
PyObject *zpy_future_await(FutureObject *f);

/* ----------------------------------------------------------- Python actors (host.c) */

/* Fill s->host, s->beh and s->beh_block: Python actors on this system. */
void zpy_host_init(SystemObject *s, double budget_ms);
/* The receive of Python actors: recognises them (zpy_ref_kind). */
int zpy_py_receive(za_ctx *ctx, const za_msg *m);
/* Start an incarnation of cell's actor (cell->ref set): the behaviour's
 * start after the cell is found (spawn args, or a grain's start). */
int zpy_start_cell(za_ctx *ctx, ContextObject *cell);

/* ------------------------------------------------------------- grains (grain.c) */

PyObject *zpy_grain_api(PyObject *mod, PyObject *ignored);
/* 1 (objects) or 2 (values): how Python sends to grain reference ref. */
int zpy_grain_ref_kind(SystemObject *s, za_ref ref);
/* ZA_TAG_REMINDER's payload as a zactor.Reminder. */
PyObject *zpy_grain_reminder(SystemObject *s, const za_msg *m);
/* TAG_STORE / ZA_TAG_DEACTIVATE for an actor with an async driver. */
PyObject *zpy_grain_message(za_ctx *ctx, SystemObject *s, PyObject *astate, PyObject *inst,
                            const za_msg *m);
/* The storage error rc as the zactor exception (VersionConflict, Fenced...). */
PyObject *zpy_raise_store(SystemObject *s, int rc, const char *text);
/* store.c: the same from the _zactor module object. */
PyObject *zpy_raise_store_error(PyObject *m, int rc, const char *text);
/* async.c: a dict of defs' functions bound to mod (private driver APIs). */
PyObject *zpy_method_dict(PyObject *mod, PyMethodDef *defs);
/* The actor's own reference (a grain activation's, not its grain's). */
za_ref zpy_ctx_actor(za_ctx *ctx);
/* spawn(..., persistence_id=...): the class and kwargs that load the state (grains.py). */
int zpy_persistent_spawn(PyObject **args, PyObject **kw);

/* ---------------------------------------------------- dead letters (deadletters.c) */

void zpy_dl_hook(const za_dead_letter *dl, void *ud);
void zpy_deliver_dead_letter(defer_item *it);

/* ---------------------------------------------------- spawn options (spawn_opts.c) */

int zpy_parse_spawn_opts(SystemObject *s, PyObject *strat, PyObject *kw, za_spawn_opts *o,
                         PyObject **name_keep, int *blocking);

/* ------------------------------------------------------------------ timers (timers.c) */

extern PyType_Spec zpy_Timer_spec;
/* send_after(delay, ref, msg) / send_interval(interval, ref, msg, delay=interval) */
PyObject *zpy_timer_args(SystemObject *s, PyObject *args, PyObject *kw, int periodic);

/* ---------------------------------------------------------------- Context (context.c) */

extern PyType_Spec zpy_Context_spec;
PyObject *zpy_spawn(SystemObject *s, za_ctx *ctx, PyObject *args, PyObject *kw);

/* ------------------------------------------------------------------ System (system.c) */

extern PyType_Spec zpy_System_spec;
/* Shut down a System nobody references any more (deferred from a worker). */
void zpy_system_close_dropped(SystemObject *s);

/* ------------------------------------------------------- shutdown (shutdown.c) */

/* Set by the exit hook before finalization: threads of abandoned systems
 * never touch Python from then on. */
extern _Atomic int g_exiting;
/* Shut down, join workers (or abandon a stuck one), free thread states.
 * GIL held on entry/exit. interruptible: shutdown()/__exit__, where a
 * KeyboardInterrupt may surface (returns ZA_ECANCELLED with the exception
 * set; the system is closed). Returns ZA_OK, ZA_ETIMEDOUT (drain not done,
 * or abandoned: s->abandoned) or ZA_ECANCELLED. */
int zpy_system_close(SystemObject *s, double timeout, int interruptible);
/* DF_REAP: free an abandoned system once its closer thread is done. */
void zpy_system_reap(SystemObject *s);
PyObject *zpy_exiting(PyObject *mod, PyObject *ignored);

/* ----------------------------------------------------------- Cluster (cluster.c) */

/* Add zactor.Cluster and zactor.NodeDownError to the module. */
int zpy_cluster_exec(PyObject *m, modstate *st);
/* The za_cluster behind a zactor.Cluster (TypeError / ValueError if not one, or closed). */
int zpy_cluster_get(modstate *st, PyObject *o, za_cluster **out);

/* ------------------------------------------------------------------ Store (store.c) */

/* Add zactor.Store and the store exceptions to the module. */
int zpy_store_init(PyObject *m);

/* ------------------------------------------------ async handlers (async.c) */

/* 1 while a handler's coroutine steps (await future yields to the driver). */
extern _Thread_local int tl_async_drive;
/* The call chain of the stepping handler (0: none): asks carry it. */
PyObject *zpy_async_api(PyObject *mod, PyObject *ignored);
void zpy_async_resume_send(za_system *sys, za_ref to, uint64_t key, uint32_t gen);
PyObject *zpy_async_new(ContextObject *cell, PyObject *inst, int force);
PyObject *zpy_async_start(PyObject *state, PyObject *coro);
PyObject *zpy_async_message(za_ctx *ctx, SystemObject *s, PyObject *state, PyObject *obj,
                            uint64_t chain, int py);
PyObject *zpy_async_adopt(za_ctx *ctx, SystemObject *s, PyObject *state, PyObject *coro,
                          uint64_t chain, int py);
PyObject *zpy_async_resume(PyObject *state, const void *data, size_t len);
void zpy_async_stop(PyObject *state, int final);
PyObject *zpy_async_finish(PyObject *coro, PyObject *inst, ContextObject *cell);
int zpy_async_idle(SystemObject *s);

#endif /* ZACTOR_GLUE_H */
