/* SPDX-License-Identifier: MIT */
/*
 * worker.h: one public event loop: a thread running a libh2o evloop with its
 * own SO_REUSEPORT listening sockets (the kernel spreads connections across
 * loops), its own view of the snapshots, its own counters and its own
 * scratch buffers for lookups. Nothing in it is touched by another thread
 * except the stop flag and the relaxed-atomic counters.
 *
 * Lifecycle: ah_worker_start() -> serving -> ah_worker_request_stop() ->
 * drain: listeners closed, h2o asked to shut down, idle keep-alive
 * connections closed, busy ones allowed to finish until --grace-ms ->
 * ah_worker_join().
 */
#ifndef AH_SERVER_WORKER_H
#define AH_SERVER_WORKER_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "h2o.h"

#include "accept.h"
#include "ahead.h"
#include "rcache.h"
#include "request.h"
#include "server.h"

/* The largest k any snapshot can have (the format stores list lengths in one byte). */
#define AH_SERVE_MAX_K 255

typedef struct ah_worker {
    h2o_context_t ctx; /* first: handlers find their worker from req->conn->ctx */
    ah_server_t *srv;
    size_t id;
    pthread_t tid;
    int started;
    sem_t ready; /* posted by the thread once its loop exists (ah_worker_start) */
    h2o_evloop_t *loop;
    h2o_accept_ctx_t accept_ctx;
    int *fds; /* one listening socket per --listen address, bound before start */
    h2o_socket_t **listeners;
    size_t n_fds;
    ah_view_t view;
    ah_worker_metrics_t metrics;
    h2o_multithread_receiver_t receiver;
    atomic_int stop;
    ah_accept_gate_t gate; /* takes and counts connections (accept.h) */
    /* Scratch for the lookup: reused by every request, never freed while serving. */
    ah_completion_t *comp; /* [AH_SERVE_MAX_K] */
    char *text;            /* AH_COMPLETE_TEXT_BYTES(AH_SERVE_MAX_K) */
    size_t text_cap;
    char qbuf[AH_QBUF_BYTES];
    /* The response cache's key text with a context: the value, NUL, q (q never holds a NUL). */
    char ckey[AH_MAX_CONTEXT_BYTES + 1 + AH_QBUF_BYTES];
    ah_rcache_t rcache; /* this loop's response bodies (rcache.h) */
} ah_worker_t;

static inline ah_worker_t *ah_worker_from_ctx(h2o_context_t *ctx)
{
    return H2O_STRUCT_FROM_MEMBER(ah_worker_t, ctx, ctx);
}

/*
 * ah_listener_open: a non-blocking listening TCP socket on addr, queueing
 * up to backlog connections. With reuseport, SO_REUSEPORT is set so that
 * each loop can have its own. Returns the fd, or -1 with a message in err.
 */
int ah_listener_open(const struct sockaddr *addr, socklen_t len, int reuseport, int backlog,
                     char *err, size_t errlen);

/*
 * ah_listener_probe: binds addr once without SO_REUSEPORT, so that a port
 * already used by anyone (a stale ahead-serve with SO_REUSEPORT included)
 * is reported as in use instead of silently shared; a port 0 is replaced in
 * addr by the port the kernel chose. Returns 0 or -1 with a message in err.
 */
int ah_listener_probe(ah_listen_addr_t *addr, char *err, size_t errlen);

/* ah_worker_init: allocations for worker id (fds are set by the caller). Returns 0 or AH_ENOMEM. */
int ah_worker_init(ah_worker_t *w, ah_server_t *srv, size_t id);

/* ah_worker_start: starts the thread and waits until its loop can take messages. Returns 0 or -1.
 */
int ah_worker_start(ah_worker_t *w);

/* ah_worker_request_stop: asks the loop to drain and exit; callable from any thread, once. */
void ah_worker_request_stop(ah_worker_t *w);

/* ah_worker_join: waits for the thread to finish its drain. */
void ah_worker_join(ah_worker_t *w);

/* ah_worker_free: frees what the worker owns; after ah_worker_join(), once no thread reads its
 * counters. */
void ah_worker_free(ah_worker_t *w);

/*
 * ah_loop_drain: closes the listeners, asks h2o to shut the context down,
 * closes idle keep-alive connections, and runs the loop until *conns is 0
 * or grace_ms passed. Returns 1 when every connection closed. Used by the
 * workers and by the admin loop.
 */
int ah_loop_drain(h2o_context_t *ctx, h2o_socket_t **listeners, size_t n, int64_t *conns,
                  unsigned grace_ms);

/*
 * ah_loop_create: a new loop in *loop, ctx initialised on it with conf, and
 * receiver registered on its queue. Call it on the thread that runs the
 * loop, never on another (worker.c says why).
 */
void ah_loop_create(h2o_evloop_t **loop, h2o_context_t *ctx, h2o_globalconf_t *conf,
                    h2o_multithread_receiver_t *receiver, h2o_multithread_receiver_cb cb);

/* ah_loop_dispose: frees a drained context, its receiver registration and its loop. */
void ah_loop_dispose(h2o_context_t *ctx, h2o_multithread_receiver_t *receiver);

#endif /* AH_SERVER_WORKER_H */
