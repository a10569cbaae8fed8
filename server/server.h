/* SPDX-License-Identifier: MIT */
/*
 * server.h: the state of one ahead-serve process, created by main() and
 * passed down to every thread; there are no mutable globals.
 *
 *   main thread      parses options, binds sockets, loads the indexes, then
 *                    waits in sigwait(): SIGHUP -> control, SIGTERM -> stop all
 *   workers[0..N)    one libh2o event loop each, with its own SO_REUSEPORT
 *                    listeners, serving the public API (api.c)
 *   control thread   one event loop for the admin listener (admin.c) and
 *                    the inotify watch (watch.c)
 *   reload thread    every reload after startup, one at a time (reloader.h)
 *
 * Only the registry (registry.h) is shared and mutable across threads, and
 * it documents its own locking; the rest is written before the threads start.
 */
#ifndef AH_SERVER_SERVER_H
#define AH_SERVER_SERVER_H

#include <stddef.h>

#include "h2o.h"

#include "config.h"
#include "metrics.h"
#include "registry.h"

struct ah_worker;
struct ah_control;

typedef struct ah_server {
    ah_config_t cfg;
    ah_registry_t reg;
    h2o_globalconf_t h2o_public; /* the public API: /v1/..., /healthz, /readyz */
    h2o_globalconf_t h2o_admin;  /* the admin listener */
    struct ah_worker *workers;
    size_t n_workers;
    ah_worker_metrics_t **metrics; /* [n_workers], each worker's counters */
    struct ah_control *control;
    unsigned max_connections;  /* --max-connections, lowered to fit RLIMIT_NOFILE */
    atomic_int draining;       /* 1 from SIGTERM while --drain-ms runs: /readyz says 503 */
    h2o_iovec_t cache_control; /* "public, max-age=N", points into cache_control_buf */
    h2o_iovec_t cors_origin;
    char cache_control_buf[48];
} ah_server_t;

#endif /* AH_SERVER_SERVER_H */
