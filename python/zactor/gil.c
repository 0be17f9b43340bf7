/*
 * gil.c - GIL hand-off: who holds the GIL on behalf of the glue, and how
 * the threads that trade it on the hot paths poll instead of sleeping.
 */
#include "glue.h"

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
_Atomic int g_in_host;
_Atomic uint64_t g_handoff;

/* Without the GIL: give a worker inside the host a moment to leave it. */
void zpy_wait_gil_free(void) {
    if (!atomic_load_explicit(&g_in_host, memory_order_acquire)) return;
    poller p;
    zpy_poll_init(&p, GIL_FREE_SPIN_NS);
    while (atomic_load_explicit(&g_in_host, memory_order_acquire) && zpy_poll_pause(&p)) {
    }
}

void zpy_handoff_promise(void) {
    atomic_store_explicit(&g_handoff, zpy_now_ns() + HANDOFF_NS, memory_order_release);
}

/* ------------------------------------------------------ thread-local flags */

_Thread_local int tl_gil;
_Thread_local PyThreadState *tl_saved;
_Thread_local int tl_in_actor;
_Thread_local int tl_in_host;

/* Release the GIL for a glue wait (and fulfil a hand-off promise). */
void zpy_gil_release(void) {
    tl_gil = 0;
    tl_saved = PyEval_SaveThread();
    if (atomic_load_explicit(&g_handoff, memory_order_relaxed))
        atomic_store_explicit(&g_handoff, 0, memory_order_release);
}

void zpy_gil_acquire(void) {
    PyThreadState *ts = tl_saved;
    tl_saved = NULL;
    PyEval_RestoreThread(ts);
}
