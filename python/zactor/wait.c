/*
 * wait.c - blocking calls from Python (ask, join, result, wait_idle): their
 * timeouts, the deadline they wait in slices towards (Ctrl-C between
 * slices), and the refusal to block inside an actor. (Timeouts are parsed
 * under the one rule of durations.c.)
 */
#include "glue.h"

uint64_t zpy_deadline_after(double timeout) {
    if (!(timeout <= ZPY_MAX_SECONDS)) return UINT64_MAX; /* inf: no limit */
    return zpy_now_ns() + (uint64_t)(timeout * 1e9);
}

/* The next wait slice in ms: up to SLICE_MS, rounded up, 0 at the deadline. */
uint32_t zpy_slice_ms(uint64_t deadline) {
    uint64_t now = zpy_now_ns();
    if (now >= deadline) return 0;
    uint64_t left = deadline - now;
    if (left >= SLICE_NS) return SLICE_MS;
    return (uint32_t)((left + 999999ull) / 1000000ull);
}

int zpy_refuse_in_actor(const char *what) {
    if (tl_in_actor) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s would block inside an actor (and stall the worker other Python actors "
                     "need): use ask_async() with add_done_callback(), or tell()",
                     what);
        return -1;
    }
    return 0;
}
