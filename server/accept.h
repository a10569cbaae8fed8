/* SPDX-License-Identifier: MIT */
/*
 * accept.h: the accept gate, shared by the public event loops (worker.c)
 * and the admin loop (control.c). It takes connections from an event loop's
 * listening sockets, counts them, and stops taking them in two cases:
 *
 *   - at the connection cap (--max-connections, split over the loops): the
 *     listeners stop being read, so further clients wait in the kernel's
 *     listen queue, not in our memory, and are taken as soon as a
 *     connection closes;
 *   - when accept() fails for want of descriptors or memory (EMFILE,
 *     ENFILE, ENOBUFS, ENOMEM): the pending connection stays in the queue
 *     and the listener stays readable, so retrying at once would spin at
 *     100% CPU and starve the loop's own clients. The gate stops reading
 *     for AH_ACCEPT_BACKOFF_MS instead, and logs it (at most every 10 s).
 *
 * Everything here runs on the loop's own thread.
 */
#ifndef AH_SERVER_ACCEPT_H
#define AH_SERVER_ACCEPT_H

#include <stdint.h>

#include "h2o.h"

/* How long accepting pauses after running out of descriptors. */
#define AH_ACCEPT_BACKOFF_MS 100

typedef struct ah_accept_gate {
    h2o_evloop_t *loop;
    h2o_accept_ctx_t *accept_ctx;
    h2o_socket_t **listeners; /* n of them; ah_loop_drain() sets closed ones to NULL */
    size_t n;
    int64_t conns;      /* open connections */
    int64_t max_conns;  /* the cap */
    int at_cap;         /* paused because conns reached max_conns */
    int backing_off;    /* paused after EMFILE and the like */
    uint64_t shortages; /* accept() failures for want of descriptors or memory */
    uint64_t logged_at; /* when the last shortage was logged, ms */
    const char *what;   /* "public" or "admin", for the log */
    /* Told of every connection opened (+1) and closed (-1); may be NULL. */
    void (*on_count)(void *arg, int delta);
    void *arg;
    h2o_timeout_t backoff;
    h2o_timeout_entry_t backoff_entry;
} ah_accept_gate_t;

/*
 * ah_accept_gate_init: sets up the gate over the listeners (which it starts
 * reading). listeners[i] wraps fds[i]; both arrays have n entries.
 */
void ah_accept_gate_init(ah_accept_gate_t *g, h2o_evloop_t *loop, h2o_accept_ctx_t *accept_ctx,
                         h2o_socket_t **listeners, const int *fds, size_t n, int64_t max_conns,
                         const char *what);

/* ah_accept_gate_dispose: unlinks the backoff timer; call before the loop is destroyed. */
void ah_accept_gate_dispose(ah_accept_gate_t *g);

/* Milliseconds of CLOCK_MONOTONIC: the gate's backoff, and the drains at shutdown. */
uint64_t ah_monotonic_ms(void);

#endif /* AH_SERVER_ACCEPT_H */
