/* Error codes to text, and the per-thread "last error" buffer. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char tl_error[256];

const char *za_strerror(int code) {
    switch (code) {
    case ZA_OK:
        return "ok";
    case ZA_EINVAL:
        return "invalid argument";
    case ZA_ENOMEM:
        return "out of memory";
    case ZA_EDEAD:
        return "actor is dead";
    case ZA_EFULL:
        return "mailbox is full";
    case ZA_ETIMEDOUT:
        return "timed out";
    case ZA_ESHUTDOWN:
        return "system is shut down";
    case ZA_ETOOBIG:
        return "payload too large";
    case ZA_EEXIST:
        return "name already registered";
    case ZA_ENOTFOUND:
        return "not found";
    case ZA_ESTART:
        return "actor failed to start";
    case ZA_EFAILED:
        return "actor failed";
    case ZA_ENOREPLY:
        return "actor did not reply";
    case ZA_ECANCELLED:
        return "cancelled";
    case ZA_EVALUE:
        return "bad value";
    case ZA_EDROPPED:
        return "message dropped by mailbox policy";
    case ZA_EAGAIN:
        return "not ready";
    case ZA_ESTATE:
        return "not allowed in this state";
    case ZA_ECONFLICT:
        return "version conflict";
    case ZA_ESTORE:
        return "storage error";
    case ZA_ECONNECT:
        return "cannot connect to the storage server";
    case ZA_EAUTH:
        return "storage server refused the credentials";
    case ZA_ENODEDOWN:
        return "the actor's node is down or unknown";
    case ZA_EFENCED:
        return "a newer activation holds the grain's lease (write fenced off)";
    default:
        return "unknown error";
    }
}

const char *za_last_error(void) {
    return tl_error;
}

void za__clear_error(void) {
    tl_error[0] = '\0';
}

int za__fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_error, sizeof tl_error, fmt, ap);
    va_end(ap);
    return code;
}
