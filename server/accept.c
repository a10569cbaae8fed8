/* SPDX-License-Identifier: MIT */
/*
 * accept.c: the accept gate (see accept.h): the connection cap and the
 * backoff when descriptors run out.
 */
#include "accept.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Connections taken per readiness event: bounded so one busy listener cannot starve the loop. */
#define ACCEPT_BATCH 16

/* The shortest interval between two log lines about running out of descriptors. */
#define SHORTAGE_LOG_MS 10000

uint64_t ah_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void set_reading(ah_accept_gate_t *g, int on)
{
    for (size_t i = 0; i < g->n; i++) {
        if (g->listeners[i] == NULL)
            continue;
        if (on)
            h2o_socket_read_start(g->listeners[i], on_accept);
        else
            h2o_socket_read_stop(g->listeners[i]);
    }
}

static void on_backoff_end(h2o_timeout_entry_t *entry)
{
    ah_accept_gate_t *g = H2O_STRUCT_FROM_MEMBER(ah_accept_gate_t, backoff_entry, entry);
    g->backing_off = 0;
    if (!g->at_cap)
        set_reading(g, 1);
}

static void on_conn_close(void *data)
{
    ah_accept_gate_t *g = data;
    g->conns--;
    if (g->on_count != NULL)
        g->on_count(g->arg, -1);
    if (g->at_cap && g->conns < g->max_conns) {
        g->at_cap = 0;
        if (!g->backing_off)
            set_reading(g, 1);
    }
}

/* accept() failed with errno e: back off when it is a shortage, else ignore it. */
static void on_accept_error(ah_accept_gate_t *g, int e)
{
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
        return; /* EAGAIN (drained), ECONNABORTED (the client gave up), ... */
    g->shortages++;
    uint64_t now = ah_monotonic_ms();
    if (g->logged_at == 0 || now - g->logged_at >= SHORTAGE_LOG_MS) {
        ah_log("%s listener: cannot accept (%s) with %lld connections open; pausing accepts "
               "for %d ms each time (%llu so far)",
               g->what, strerror(e), (long long)g->conns, AH_ACCEPT_BACKOFF_MS,
               (unsigned long long)g->shortages);
        g->logged_at = now;
    }
    g->backing_off = 1;
    set_reading(g, 0);
    h2o_timeout_link(g->loop, &g->backoff, &g->backoff_entry);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    ah_accept_gate_t *g = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (g->conns >= g->max_conns) {
            g->at_cap = 1;
            set_reading(g, 0);
            return;
        }
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            on_accept_error(g, errno);
            return;
        }
        g->conns++;
        if (g->on_count != NULL)
            g->on_count(g->arg, +1);
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = g;
        h2o_accept(g->accept_ctx, sock);
    }
}

void ah_accept_gate_init(ah_accept_gate_t *g, h2o_evloop_t *loop, h2o_accept_ctx_t *accept_ctx,
                         h2o_socket_t **listeners, const int *fds, size_t n, int64_t max_conns,
                         const char *what)
{
    g->loop = loop;
    g->accept_ctx = accept_ctx;
    g->listeners = listeners;
    g->n = n;
    g->max_conns = max_conns > 0 ? max_conns : 1;
    g->what = what;
    h2o_timeout_init(loop, &g->backoff, AH_ACCEPT_BACKOFF_MS);
    g->backoff_entry.cb = on_backoff_end;
    for (size_t i = 0; i < n; i++) {
        listeners[i] = h2o_evloop_socket_create(loop, fds[i], H2O_SOCKET_FLAG_DONT_READ);
        listeners[i]->data = g;
    }
    set_reading(g, 1);
}

void ah_accept_gate_dispose(ah_accept_gate_t *g)
{
    if (h2o_timeout_is_linked(&g->backoff_entry))
        h2o_timeout_unlink(&g->backoff_entry);
    h2o_timeout_dispose(g->loop, &g->backoff);
}
