/*
 * Loading libmicrohttpd at run time, the first time a system is created
 * with http_addr set.
 *
 * Why not link it: Debian's libmicrohttpd is built with HTTPS, so linking
 * it drags GnuTLS and its chain (nettle, gmp, p11-kit, libunistring, ...)
 * into every program that links libzactor, even those that never serve
 * HTTP, and makes a fully static libzactor program impossible (Debian ships
 * no static p11-kit). Loaded on demand, the endpoint costs nothing to
 * programs that leave it off, and a program that asks for it on a machine
 * without the library gets a clear error instead of failing to start.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "http/mhd.h"

static za_mhd api;
static const za_mhd *loaded;
static char why[300];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    /* the soname of libmicrohttpd 0.9.x (Debian libmicrohttpd12), then the
     * development symlink */
    const char *names[] = {"libmicrohttpd.so.12", "libmicrohttpd.so"};
    void *h = NULL;
    for (size_t i = 0; !h && i < sizeof names / sizeof names[0]; i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, sizeof why,
                 "the HTTP endpoint needs GNU libmicrohttpd (Debian: libmicrohttpd12): %s",
                 e ? e : "not found");
        return;
    }
    /* dlsym returns void *; POSIX guarantees it converts to a function
     * pointer, which memcpy states without a cast the compiler frowns on */
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        void *p = dlsym(h, name);                                                                  \
        if (!p) {                                                                                  \
            snprintf(why, sizeof why, "libmicrohttpd lacks %s (too old?)", name);                  \
            return;                                                                                \
        }                                                                                          \
        memcpy(&api.field, &p, sizeof p);                                                          \
    } while (0)
    SYM(start_daemon, "MHD_start_daemon");
    SYM(stop_daemon, "MHD_stop_daemon");
    SYM(get_daemon_info, "MHD_get_daemon_info");
    SYM(lookup_connection_value, "MHD_lookup_connection_value");
    SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
    SYM(add_response_header, "MHD_add_response_header");
    SYM(queue_response, "MHD_queue_response");
    SYM(destroy_response, "MHD_destroy_response");
#undef SYM
    loaded = &api; /* published by pthread_once's synchronisation */
}

const za_mhd *za__mhd(void) {
    pthread_once(&once, load);
    if (!loaded) za__fail(ZA_EINVAL, "%s", why);
    return loaded;
}
