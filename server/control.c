/* SPDX-License-Identifier: MIT */
/*
 * control.c: the control thread (see control.h): its event loop, the
 * messages from the main thread, and the logged reload used by every
 * trigger.
 */
#include "control.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "admin.h"
#include "log.h"
#include "worker.h"

typedef struct control_msg {
    h2o_multithread_message_t super;
    int what;
} control_msg_t;

int ah_control_reload(ah_server_t *srv, size_t i, const char *trigger, ah_reload_result_t *res)
{
    const ah_registry_entry_t *e = &srv->reg.entries[i];
    int rc = ah_registry_reload(&srv->reg, i, res);

    if (res->warning[0] != '\0')
        ah_log("index %s: warning: %s", e->name, res->warning);
    if (rc != 0) {
        if (res->old_id[0] != '\0')
            ah_log("index %s: reload (%s) failed, still serving snapshot %s: %s", e->name, trigger,
                   res->old_id, res->err);
        else
            ah_log("index %s: load (%s) failed: %s", e->name, trigger, res->err);
    } else if (!res->changed) {
        ah_log("index %s: reload (%s): same content, still serving snapshot %s", e->name, trigger,
               res->new_id);
    } else {
        ah_log("index %s: snapshot %s, %llu entries, %llu bytes, from %s (%s%s%s)", e->name,
               res->new_id, (unsigned long long)res->entries, (unsigned long long)res->bytes,
               e->path, trigger, res->old_id[0] ? ", was " : "", res->old_id);
    }
    return rc;
}

static void reload_all(ah_server_t *srv, const char *trigger)
{
    ah_reload_result_t res;
    for (size_t i = 0; i < srv->reg.n; i++)
        ah_control_reload(srv, i, trigger, &res);
}

static void on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    ah_control_t *c = H2O_STRUCT_FROM_MEMBER(ah_control_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        control_msg_t *m = H2O_STRUCT_FROM_MEMBER(control_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->what == AH_CONTROL_RELOAD_ALL && !atomic_load(&c->stop))
            reload_all(c->srv, "SIGHUP");
        else if (m->what == AH_CONTROL_STOP)
            atomic_store(&c->stop, 1);
        free(m);
    }
}

static void on_watch(void *arg, size_t index)
{
    ah_control_t *c = arg;
    ah_reload_result_t res;
    ah_control_reload(c->srv, index, "watch", &res);
}

static void on_socket_close(void *data)
{
    ah_control_t *c = data;
    c->conns--;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    ah_control_t *c = listener->data;
    h2o_socket_t *sock;
    if (err != NULL || (sock = h2o_evloop_socket_accept(listener)) == NULL)
        return;
    c->conns++;
    sock->on_close.cb = on_socket_close;
    sock->on_close.data = c;
    h2o_accept(&c->accept_ctx, sock);
}

/* The control thread's nice value where SCHED_IDLE is refused. */
#define CONTROL_NICE 10

static void *control_main(void *arg)
{
    ah_control_t *c = arg;
    pthread_setname_np(pthread_self(), "ahead-control");

    /*
     * Reloads map and checksum whole snapshots (30 ms of CPU for 63 MB):
     * on a machine with few cores that work must yield to the event loops
     * that answer users, not compete with them. Under SCHED_IDLE this thread
     * runs only on CPU time the loops leave, and a loop that wakes preempts
     * it at once; nice 10 alone still took time slices of milliseconds from
     * a busy loop, a few requests' worth of latency per reload. Linux
     * applies both per thread. The cost: on cores the loops keep saturated,
     * a reload or an admin request waits for them.
     */
    struct sched_param idle = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_IDLE, &idle) != 0)
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), CONTROL_NICE);

    /* Wakes at least every 100 ms to unmap what the event loops retired. */
    while (!atomic_load(&c->stop)) {
        h2o_evloop_run(c->loop, 100);
        ah_registry_reap(&c->srv->reg);
    }

    ah_watch_stop(&c->watch);
    h2o_socket_t *listeners[1] = {c->listener};
    c->listener = NULL;
    /* Admin requests are short; a second is plenty and keeps shutdown quick. */
    unsigned grace = c->srv->cfg.grace_ms < 1000 ? c->srv->cfg.grace_ms : 1000;
    if (ah_loop_drain(&c->ctx, listeners, listeners[0] != NULL ? 1 : 0, &c->conns, grace))
        ah_loop_dispose(&c->ctx, &c->receiver);
    return NULL;
}

int ah_control_start(ah_control_t *c, ah_server_t *srv, int admin_fd, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->srv = srv;
    c->admin_fd = admin_fd;
    atomic_init(&c->stop, 0);
    c->loop = h2o_evloop_create();
    h2o_context_init(&c->ctx, c->loop, &srv->h2o_admin);
    h2o_multithread_register_receiver(c->ctx.queue, &c->receiver, on_message);
    c->accept_ctx.ctx = &c->ctx;
    c->accept_ctx.hosts = srv->h2o_admin.hosts;
    if (admin_fd >= 0) {
        c->listener = h2o_evloop_socket_create(c->loop, admin_fd, H2O_SOCKET_FLAG_DONT_READ);
        c->listener->data = c;
        h2o_socket_read_start(c->listener, on_accept);
    }
    if (srv->cfg.watch && ah_watch_start(&c->watch, c->loop, &srv->reg, on_watch, c, err, errlen))
        return -1;
    if (pthread_create(&c->tid, NULL, control_main, c) != 0) {
        snprintf(err, errlen, "cannot start the control thread");
        return -1;
    }
    c->started = 1;
    return 0;
}

void ah_control_request(ah_control_t *c, int what)
{
    if (!c->started)
        return;
    /*
     * The stop flag is set by the message's receiver, not here: the loop
     * must not exit (and unregister its receiver) with a message in flight.
     */
    control_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        if (what == AH_CONTROL_STOP)
            atomic_store(&c->stop, 1);
        return;
    }
    m->what = what;
    h2o_multithread_send_message(&c->receiver, &m->super);
}

int ah_control_join(ah_control_t *c, const struct timespec *deadline)
{
    if (c->started && pthread_timedjoin_np(c->tid, NULL, deadline) != 0)
        return -1;
    c->started = 0;
    return 0;
}
