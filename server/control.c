/* SPDX-License-Identifier: MIT */
/*
 * control.c: the control thread (see control.h): its event loop, the
 * messages from the main thread, and the logged reload used by every
 * trigger.
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        ah_log("index %s: snapshot %s, %llu entries, %llu bytes (%s), from %s (%s%s%s)", e->name,
               res->new_id, (unsigned long long)res->entries, (unsigned long long)res->bytes,
               res->memory, e->path, trigger, res->old_id[0] ? ", was " : "", res->old_id);
    }
    return rc;
}

static void on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    ah_control_t *c = H2O_STRUCT_FROM_MEMBER(ah_control_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        control_msg_t *m = H2O_STRUCT_FROM_MEMBER(control_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->what == AH_CONTROL_RELOAD_ALL && !atomic_load(&c->stop))
            ah_reloader_submit(&c->reloader, -1, "SIGHUP", NULL);
        else if (m->what == AH_CONTROL_STOP)
            atomic_store(&c->stop, 1);
        free(m);
    }
}

static void on_watch(void *arg, size_t index)
{
    ah_control_t *c = arg;
    ah_reloader_submit(&c->reloader, (int)index, "watch", NULL);
}

/*
 * Everything h2o of this loop is made here, on its own thread (worker.c,
 * ah_loop_create, says why). Returns 0, or -1 with a message in c->err.
 */
static int control_setup(ah_control_t *c)
{
    ah_server_t *srv = c->srv;
    ah_loop_create(&c->loop, &c->ctx, &srv->h2o_admin, &c->receiver, on_message);
    c->accept_ctx.ctx = &c->ctx;
    c->accept_ctx.hosts = srv->h2o_admin.hosts;
    if (c->admin_fd >= 0)
        ah_accept_gate_init(&c->gate, c->loop, &c->accept_ctx, &c->listener, &c->admin_fd, 1,
                            AH_ADMIN_MAX_CONNS, "admin");
    if (ah_reloader_start(&c->reloader, srv, c->ctx.queue, ah_admin_answer_reload, srv) != 0) {
        snprintf(c->err, sizeof(c->err), "cannot start the reload thread");
        return -1;
    }
    if (srv->cfg.watch &&
        ah_watch_start(&c->watch, c->loop, &srv->reg, on_watch, c, c->err, sizeof(c->err)) != 0)
        return -1;
    return 0;
}

static void *control_main(void *arg)
{
    ah_control_t *c = arg;
    pthread_setname_np(pthread_self(), "ahead-control");

    c->start_rc = control_setup(c);
    sem_post(&c->ready);
    if (c->start_rc != 0)
        return NULL; /* the process exits: ah_control_start() failed */

    /*
     * This thread and the reload thread run at the event loops' priority.
     * They once ran under SCHED_IDLE, so that reloads took only CPU time the
     * loops left; at 100% load that time never came, and reloads, /metrics
     * and every admin answer waited seconds (issue 9). An unprivileged
     * thread cannot leave SCHED_IDLE again, so there is no escalating after
     * a deadline; instead a reload paces its checksum pass (registry.c),
     * and runs on its own thread (reloader.h), so the admin answers,
     * microseconds each, never wait for one.
     */

    /* Wakes at least every 100 ms to unmap what the event loops retired. */
    while (!atomic_load(&c->stop)) {
        h2o_evloop_run(c->loop, 100);
        ah_registry_reap(&c->srv->reg);
    }

    ah_watch_stop(&c->watch);
    /* Admin requests are short; a second is plenty and keeps shutdown quick. */
    unsigned grace = c->srv->cfg.grace_ms < 1000 ? c->srv->cfg.grace_ms : 1000;
    int clean =
        ah_loop_drain(&c->ctx, &c->listener, c->admin_fd >= 0 ? 1 : 0, &c->gate.conns, grace);
    ah_reloader_stop(&c->reloader, c->loop);
    if (clean) {
        if (c->admin_fd >= 0)
            ah_accept_gate_dispose(&c->gate);
        ah_loop_dispose(&c->ctx, &c->receiver);
    }
    return NULL;
}

int ah_control_start(ah_control_t *c, ah_server_t *srv, int admin_fd, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->srv = srv;
    c->admin_fd = admin_fd;
    atomic_init(&c->stop, 0);
    if (sem_init(&c->ready, 0, 0) != 0 || pthread_create(&c->tid, NULL, control_main, c) != 0) {
        snprintf(err, errlen, "cannot start the control thread");
        return -1;
    }
    while (sem_wait(&c->ready) != 0)
        ; /* EINTR */
    sem_destroy(&c->ready);
    if (c->start_rc != 0) {
        pthread_join(c->tid, NULL);
        snprintf(err, errlen, "%s", c->err);
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
