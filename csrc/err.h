/* Error codes and per-thread error text, shared by every subsystem. */
#ifndef ZA_ERR_H
#define ZA_ERR_H
#include "zactor.h"

/* Record a detailed message for za_last_error() and return code. */
int za__fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Clear the thread's error text. */
void za__clear_error(void);

#endif
