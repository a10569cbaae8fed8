/* SPDX-License-Identifier: MIT */
/*
 * reloader.h: the reload thread. Every reload after startup (POST
 * /admin/reload, SIGHUP, --watch) runs here, one at a time, off the control
 * thread's event loop, so that /metrics and /admin/indexes answer in
 * microseconds even while a reload maps and checks a large snapshot.
 *
 * A reload is a job queued by the control loop. A job that came from an
 * admin request carries it: when the job is done, the result travels back
 * to the control loop as a message, and the loop answers the request
 * (through the callback given at start). If the client went away in the
 * meantime, the request's pool is gone and the result is only logged.
 *
 * The thread runs at the event loops' priority; the reload paces its own
 * checksum pass (registry.c), which keeps it from holding a core.
 */
#ifndef AH_SERVER_RELOADER_H
#define AH_SERVER_RELOADER_H

#include <pthread.h>
#include <stdatomic.h>

#include "h2o.h"

#include "registry.h"
#include "server.h"

/* One index's reload, as the job did it. */
typedef struct ah_reload_outcome {
    size_t index;
    int rc;
    ah_reload_result_t res;
} ah_reload_outcome_t;

struct ah_job_ticket;

typedef struct ah_reload_job {
    struct ah_reload_job *next;
    int index;           /* -1: every index */
    const char *trigger; /* "admin", "SIGHUP", "watch" (static strings) */
    ah_reload_outcome_t *outcomes;
    size_t n_outcomes;
    int failed;       /* some outcome has rc != 0 */
    int wants_answer; /* it came with a request; fixed once queued */
    /* Touched on the control loop's thread only. */
    h2o_req_t *req; /* the admin request waiting, NULL if none or gone */
    struct ah_job_ticket *ticket;
    h2o_multithread_message_t done;
} ah_reload_job_t;

/* Answers job->req (on the control loop's thread). */
typedef void (*ah_reload_answer_cb)(ah_reload_job_t *job, void *arg);

typedef struct ah_reloader {
    ah_server_t *srv;
    pthread_t tid;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    ah_reload_job_t *head, *tail; /* queued, under lock */
    int stop;                     /* under lock */
    atomic_int in_flight;         /* done messages sent and not yet handled */
    h2o_multithread_receiver_t done_receiver;
    h2o_multithread_queue_t *queue;
    ah_reload_answer_cb answer;
    void *arg;
} ah_reloader_t;

/*
 * ah_reloader_start: starts the thread; its results come back through
 * queue (the control loop's). Returns 0 or -1.
 */
int ah_reloader_start(ah_reloader_t *r, ah_server_t *srv, h2o_multithread_queue_t *queue,
                      ah_reload_answer_cb answer, void *arg);

/*
 * ah_reloader_submit: queues a reload of index (-1: every index) for
 * trigger; req, when not NULL, is answered when it is done. On the control
 * loop's thread. Returns 0, or -1 without memory (req is not answered).
 */
int ah_reloader_submit(ah_reloader_t *r, int index, const char *trigger, h2o_req_t *req);

/*
 * ah_reloader_stop: lets the current reload finish, drops the queued ones,
 * joins the thread and handles its last messages (running loop, which must
 * be the control loop). Safe on a reloader never started.
 */
void ah_reloader_stop(ah_reloader_t *r, h2o_evloop_t *loop);

#endif /* AH_SERVER_RELOADER_H */
