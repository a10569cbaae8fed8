/* SPDX-License-Identifier: MIT */
/*
 * worker.c: the public event loops (see worker.h): listening sockets,
 * accepting, connection counting, and the graceful drain at shutdown.
 *
 * Stopping. The listeners close first, so new connections are refused.
 * HTTP/2 connections are sent GOAWAY and close once their streams are done
 * (libh2o resends GOAWAY after a second, then closes). HTTP/1 needs more
 * care, because libh2o 2.2.5 has no lingering close: closing a socket that
 * still has unread input (pipelined requests) makes the kernel send RST and
 * drop the answer still in the send buffer. So HTTP/1 drains in two phases:
 *
 *   phase 1 (DRAIN_PHASE1_MS, at most half the grace period): an HTTP/1
 *     connection answers everything that reaches it; one that waits for a
 *     request for a millisecond is closed (h2o's http1 request timeout,
 *     set to 1 ms: input already in the kernel is read in the next loop
 *     iteration before that timeout can fire). Idle keep-alive connections
 *     close at once, instead of at the 10 s request timeout
 *     (LIBH2O-NOTES.md pitfall 5).
 *   phase 2: ctx->shutdown_requested is set, so libh2o ends each busy
 *     connection after its current answer with "Connection: close", and
 *     any connection waiting for a request closes in the same iteration.
 *
 * The loop runs until no connection is left or --grace-ms has passed.
 */
#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long HTTP/1 connections may keep asking before being told to close (see the top). */
#define DRAIN_PHASE1_MS 300

/* Longest sleep of an idle loop: how late an idle worker notices a swap or unmaps an old one. */
#define IDLE_WAKE_MS 100

int ah_listener_open(const struct sockaddr *addr, socklen_t len, int reuseport, int backlog,
                     char *err, size_t errlen)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
        snprintf(err, errlen, "SO_REUSEPORT: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    /* Accepted sockets inherit TCP_NODELAY: small answers must not wait for Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (bind(fd, addr, len) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s", e == EADDRINUSE ? "address already in use" : strerror(e));
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) != 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int ah_listener_probe(ah_listen_addr_t *a, char *err, size_t errlen)
{
    int fd = ah_listener_open((struct sockaddr *)&a->addr, a->addrlen, 0, 1, err, errlen);
    if (fd < 0)
        return -1;
    struct sockaddr_storage got;
    socklen_t len = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &len) == 0 && len == a->addrlen)
        memcpy(&a->addr, &got, len);
    close(fd);
    return 0;
}

static void count_conn(void *arg, int delta)
{
    ah_worker_t *w = arg;
    ah_metrics_conn(&w->metrics, delta);
}

/* The only message a worker gets is "stop". */
static void on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    ah_worker_t *w = H2O_STRUCT_FROM_MEMBER(ah_worker_t, receiver, receiver);
    atomic_store_explicit(&w->stop, 1, memory_order_release);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        free(m);
    }
}

/*
 * Stops accepting and runs the loop until *conns reaches zero or grace_ms
 * passes (see the top of this file). Returns 1 when every connection closed.
 * Shared with the control thread's admin loop.
 */
int ah_loop_drain(h2o_context_t *ctx, h2o_socket_t **listeners, size_t n, int64_t *conns,
                  unsigned grace_ms)
{
    for (size_t i = 0; i < n; i++) {
        if (listeners[i] != NULL) {
            h2o_socket_read_stop(listeners[i]);
            h2o_socket_close(listeners[i]);
            listeners[i] = NULL;
        }
    }
    if (ctx->globalconf->http2.callbacks.request_shutdown != NULL)
        ctx->globalconf->http2.callbacks.request_shutdown(ctx);
    ctx->http1.req_timeout.timeout = 1;

    uint64_t start = ah_monotonic_ms(), deadline = start + grace_ms;
    uint64_t phase2 = start + (grace_ms / 2 < DRAIN_PHASE1_MS ? grace_ms / 2 : DRAIN_PHASE1_MS);
    /* One pass even with no connection: it frees the closed listeners. */
    do {
        h2o_evloop_run(ctx->loop, 10);
        if (!ctx->shutdown_requested && ah_monotonic_ms() >= phase2) {
            ctx->shutdown_requested = 1; /* HTTP/1: "Connection: close" after the current answer */
            ctx->http1.req_timeout.timeout = 0;
        }
    } while (*conns > 0 && ah_monotonic_ms() < deadline);
    return *conns == 0;
}

/*
 * Creates a loop, its context and its message receiver. It must run on the
 * thread that will run the loop: libh2o 2.2.5 takes a socket's read buffers
 * from a per-thread recycling allocator (the __thread
 * h2o_socket_buffer_prototype), chosen by the thread that creates the
 * socket, and h2o_context_init() creates the socket of the loop's message
 * queue. Created on the main thread, every loop allocated and freed the
 * buffers of its messages in the main thread's allocator, with no lock: at
 * SIGTERM all loops read their "stop" at once, and one could free a buffer
 * that another was still reading into (issue 15, a heap use-after-free).
 */
void ah_loop_create(h2o_evloop_t **loop, h2o_context_t *ctx, h2o_globalconf_t *conf,
                    h2o_multithread_receiver_t *receiver, h2o_multithread_receiver_cb cb)
{
    *loop = h2o_evloop_create();
    h2o_context_init(ctx, *loop, conf);
    h2o_multithread_register_receiver(ctx->queue, receiver, cb);
}

/*
 * Frees the context and loop once nothing uses them. libh2o 2.2.5 asserts
 * in h2o_context_dispose() if the HTTP/2 graceful-shutdown timer is still
 * linked (pitfall 5), so it is unlinked first.
 */
void ah_loop_dispose(h2o_context_t *ctx, h2o_multithread_receiver_t *receiver)
{
    h2o_evloop_t *loop = ctx->loop;
    h2o_multithread_queue_t *queue = ctx->queue;
    if (h2o_timeout_is_linked(&ctx->http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&ctx->http2._graceful_shutdown_timeout);
    h2o_multithread_unregister_receiver(queue, receiver);
    h2o_context_dispose(ctx);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR <= 2
    /*
     * The evloop flavour of h2o_multithread_destroy_queue() in 2.2 closes the
     * queue's pipe but never frees the queue itself (later releases do).
     * Nothing refers to it any more: its socket is closed.
     */
    free(queue);
#endif
    h2o_evloop_destroy(loop);
}

static void *worker_main(void *arg)
{
    ah_worker_t *w = arg;
    ah_server_t *srv = w->srv;
    char name[16]; /* what top -H, perf and taskset users see */
    snprintf(name, sizeof(name), "ahead-loop-%zu", w->id);
    pthread_setname_np(pthread_self(), name);

    /* On this thread: see ah_loop_create(). */
    ah_loop_create(&w->loop, &w->ctx, &srv->h2o_public, &w->receiver, on_message);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = srv->h2o_public.hosts;
    sem_post(&w->ready);

    /* The cap is split evenly: SO_REUSEPORT spreads connections evenly over the loops. */
    int64_t cap =
        ((int64_t)srv->max_connections + (int64_t)srv->n_workers - 1) / (int64_t)srv->n_workers;
    w->gate.on_count = count_conn;
    w->gate.arg = w;
    ah_accept_gate_init(&w->gate, w->loop, &w->accept_ctx, w->listeners, w->fds, w->n_fds, cap,
                        "public");

    while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
        h2o_evloop_run(w->loop, IDLE_WAKE_MS);
        ah_view_check(&w->view, &srv->reg);
    }

    int clean = ah_loop_drain(&w->ctx, w->listeners, w->n_fds, &w->gate.conns, srv->cfg.grace_ms);
    /* Our references go now, so the main thread can unmap every snapshot. */
    ah_view_release(&w->view);
    if (clean) {
        ah_accept_gate_dispose(&w->gate);
        ah_loop_dispose(&w->ctx, &w->receiver);
    }
    return NULL;
}

int ah_worker_init(ah_worker_t *w, ah_server_t *srv, size_t id)
{
    memset(w, 0, sizeof(*w));
    w->srv = srv;
    w->id = id;
    atomic_init(&w->stop, 0);
    w->n_fds = srv->cfg.n_listen;
    w->fds = calloc(w->n_fds, sizeof(*w->fds));
    w->listeners = calloc(w->n_fds, sizeof(*w->listeners));
    w->comp = calloc(AH_SERVE_MAX_K, sizeof(*w->comp));
    w->text_cap = AH_COMPLETE_TEXT_BYTES(AH_SERVE_MAX_K);
    w->text = malloc(w->text_cap);
    if (w->fds == NULL || w->listeners == NULL || w->comp == NULL || w->text == NULL)
        return AH_ENOMEM;
    for (size_t i = 0; i < w->n_fds; i++)
        w->fds[i] = -1;
    if (ah_view_init(&w->view, &srv->reg) != 0 || ah_metrics_init(&w->metrics, srv->reg.n) != 0 ||
        ah_rcache_init(&w->rcache, srv->cfg.response_cache) != 0)
        return AH_ENOMEM;
    return 0;
}

int ah_worker_start(ah_worker_t *w)
{
    /*
     * The thread sets up its loop and registers its receiver before this
     * returns, so that ah_worker_request_stop() can never see a receiver
     * that is not registered yet.
     */
    if (sem_init(&w->ready, 0, 0) != 0)
        return -1;
    if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
        sem_destroy(&w->ready);
        return -1;
    }
    while (sem_wait(&w->ready) != 0)
        ; /* EINTR */
    sem_destroy(&w->ready);
    w->started = 1;
    return 0;
}

void ah_worker_request_stop(ah_worker_t *w)
{
    /*
     * The flag is set by the receiver of the message, not here: the loop
     * must not exit (and unregister its receiver) with a message in flight.
     * Without memory for a message, the flag alone is seen within
     * IDLE_WAKE_MS.
     */
    h2o_multithread_message_t *m = w->started ? calloc(1, sizeof(*m)) : NULL;
    if (m == NULL) {
        atomic_store_explicit(&w->stop, 1, memory_order_release);
        return;
    }
    h2o_multithread_send_message(&w->receiver, m);
}

void ah_worker_join(ah_worker_t *w)
{
    if (w->started)
        pthread_join(w->tid, NULL);
}

void ah_worker_free(ah_worker_t *w)
{
    /* Once a thread ran, h2o owned (and closed) the listening sockets. */
    if (!w->started) {
        for (size_t i = 0; w->fds != NULL && i < w->n_fds; i++) {
            if (w->fds[i] >= 0)
                close(w->fds[i]);
        }
    }
    free(w->fds);
    free(w->listeners);
    free(w->comp);
    free(w->text);
    ah_metrics_dispose(&w->metrics);
    ah_rcache_dispose(&w->rcache);
    w->fds = NULL;
    w->listeners = NULL;
    w->comp = NULL;
    w->text = NULL;
}
