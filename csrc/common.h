/*
 * common.h - the few helpers every part of the runtime uses: cache-line
 * size, a full fence, branch hints, the monotonic clock, a spin pause.
 * Never installed; bindings use zactor.h only.
 */
#ifndef ZA_COMMON_H
#define ZA_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "zactor.h"

#define ZA_CACHELINE 64

/* A full (seq_cst) fence. gcc refuses atomic_thread_fence under
 * -fsanitize=thread (TSan does not model fences); there a seq_cst RMW on a
 * shared word orders the same way and is visible to the sanitizer. */
#if defined(__SANITIZE_THREAD__)
extern _Atomic int za__fence_word; /* scheduler.c */
#define za__fence() ((void)atomic_fetch_add_explicit(&za__fence_word, 0, memory_order_seq_cst))
#else
#define za__fence() atomic_thread_fence(memory_order_seq_cst)
#endif
#define ZA_LIKELY(x) __builtin_expect(!!(x), 1)
#define ZA_UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline uint64_t za__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void za__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
