/*
 * mhd.h - libmicrohttpd, loaded when a system first asks for an endpoint
 * (mhd.c). Only the functions the endpoint calls, through one table.
 */
#ifndef ZA_HTTP_MHD_H
#define ZA_HTTP_MHD_H

#include <microhttpd.h>

typedef struct za_mhd {
    __typeof__(&MHD_start_daemon) start_daemon;
    __typeof__(&MHD_stop_daemon) stop_daemon;
    __typeof__(&MHD_get_daemon_info) get_daemon_info;
    __typeof__(&MHD_lookup_connection_value) lookup_connection_value;
    __typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
    __typeof__(&MHD_add_response_header) add_response_header;
    __typeof__(&MHD_queue_response) queue_response;
    __typeof__(&MHD_destroy_response) destroy_response;
} za_mhd;

/* The table (loaded once per process), or NULL with za_last_error() set. */
const za_mhd *za__mhd(void);

#endif
