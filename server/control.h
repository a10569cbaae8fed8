/* SPDX-License-Identifier: MIT */
/*
 * control.h: the control thread, one libh2o event loop off the serving path
 * that owns everything slow or administrative:
 *
 *   - the admin listener (admin.c): reload, index list, metrics;
 *   - the --watch inotify descriptor (watch.c);
 *   - SIGHUP reloads, forwarded by the main thread as messages.
 *
 * A reload maps and verifies a whole file, which can take a while on a big
 * snapshot: the control thread hands every one to its reload thread
 * (reloader.h), so that neither the public loops nor the admin listener
 * wait for it.
 */
#ifndef AH_SERVER_CONTROL_H
#define AH_SERVER_CONTROL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "h2o.h"

#include "accept.h"
#include "reloader.h"

#include "registry.h"
#include "server.h"
#include "watch.h"

typedef struct ah_control {
    h2o_context_t ctx; /* first, as in ah_worker_t */
    ah_server_t *srv;
    pthread_t tid;
    int started;
    sem_t ready;  /* posted by the thread once set up (ah_control_start) */
    int start_rc; /* 0, or -1 with the reason in err, when the setup failed */
    char err[256];
    h2o_evloop_t *loop;
    h2o_accept_ctx_t accept_ctx;
    int admin_fd;           /* -1 with --admin-listen off */
    h2o_socket_t *listener; /* wraps admin_fd once started */
    h2o_multithread_receiver_t receiver;
    ah_watch_t watch;
    atomic_int stop;
    ah_accept_gate_t gate;  /* on the admin listener, when there is one */
    ah_reloader_t reloader; /* every reload after startup (reloader.h) */
} ah_control_t;

/* Admin connections open at most: operators and a scraper, not the public. */
#define AH_ADMIN_MAX_CONNS 64

/* What the main thread can ask of the control thread. */
enum { AH_CONTROL_RELOAD_ALL = 1, AH_CONTROL_STOP = 2 };

/*
 * ah_control_start: starts the thread, which sets up its loop (admin
 * listener on admin_fd unless it is -1, the watch with --watch), and waits
 * for that. Returns 0, or -1 with a message in err.
 */
int ah_control_start(ah_control_t *c, ah_server_t *srv, int admin_fd, char *err, size_t errlen);

/* ah_control_request: sends AH_CONTROL_RELOAD_ALL or AH_CONTROL_STOP; any thread. */
void ah_control_request(ah_control_t *c, int what);

/*
 * ah_control_join: waits for the thread after AH_CONTROL_STOP, until
 * deadline (CLOCK_REALTIME) at most. Returns 0 once it has ended, -1 when it
 * is still running then (stuck in a reload or a request): the caller must
 * not free what the thread uses, and should exit without unwinding.
 */
int ah_control_join(ah_control_t *c, const struct timespec *deadline);

/*
 * ah_control_reload: reloads index i of srv's registry and logs the outcome
 * with trigger ("startup", "admin", "SIGHUP", "watch"). Thread-safe
 * (reloads are serialized by the registry). Returns res->rc.
 */
int ah_control_reload(ah_server_t *srv, size_t i, const char *trigger, ah_reload_result_t *res);

#endif /* AH_SERVER_CONTROL_H */
