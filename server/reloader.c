/* SPDX-License-Identifier: MIT */
/*
 * reloader.c: the reload thread (see reloader.h): the job queue, the jobs,
 * and the way a result finds its admin request, if that is still there.
 */
#include "reloader.h"

#include <stdlib.h>

#include "control.h"
#include "log.h"

/*
 * Lives in the admin request's pool: when the request is disposed (its
 * client gone) before the job is done, the job learns that it has nobody
 * to answer. Both sides run on the control loop's thread.
 */
typedef struct ah_job_ticket {
    ah_reload_job_t *job;
} ah_job_ticket_t;

static void on_request_disposed(void *p)
{
    ah_job_ticket_t *t = p;
    if (t->job != NULL) {
        t->job->req = NULL;
        t->job->ticket = NULL;
    }
}

static void job_free(ah_reload_job_t *job)
{
    if (job->ticket != NULL)
        job->ticket->job = NULL;
    free(job->outcomes);
    free(job);
}

static void run_job(ah_reloader_t *r, ah_reload_job_t *job)
{
    size_t n = r->srv->reg.n;
    for (size_t i = 0; i < n; i++) {
        if (job->index >= 0 && (size_t)job->index != i)
            continue;
        ah_reload_outcome_t *o = &job->outcomes[job->n_outcomes++];
        o->index = i;
        o->rc = ah_control_reload(r->srv, i, job->trigger, &o->res);
        job->failed |= o->rc != 0;
    }
}

static void *reloader_main(void *arg)
{
    ah_reloader_t *r = arg;
    pthread_setname_np(pthread_self(), "ahead-reload");
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->head == NULL && !r->stop)
            pthread_cond_wait(&r->wake, &r->lock);
        if (r->stop)
            break;
        ah_reload_job_t *job = r->head;
        r->head = job->next;
        if (r->head == NULL)
            r->tail = NULL;
        pthread_mutex_unlock(&r->lock);
        run_job(r, job);
        if (job->wants_answer) {
            atomic_fetch_add(&r->in_flight, 1);
            h2o_multithread_send_message(&r->done_receiver, &job->done);
        } else {
            job_free(job);
        }
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* A job is done: answer its request if it is still there. On the control loop's thread. */
static void on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    ah_reloader_t *r = H2O_STRUCT_FROM_MEMBER(ah_reloader_t, done_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        ah_reload_job_t *job = H2O_STRUCT_FROM_MEMBER(ah_reload_job_t, done.link, messages->next);
        h2o_linklist_unlink(&job->done.link);
        if (job->req != NULL)
            r->answer(job, r->arg);
        job_free(job);
        atomic_fetch_sub(&r->in_flight, 1);
    }
}

int ah_reloader_start(ah_reloader_t *r, ah_server_t *srv, h2o_multithread_queue_t *queue,
                      ah_reload_answer_cb answer, void *arg)
{
    r->srv = srv;
    r->queue = queue;
    r->answer = answer;
    r->arg = arg;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    atomic_init(&r->in_flight, 0);
    h2o_multithread_register_receiver(queue, &r->done_receiver, on_done);
    if (pthread_create(&r->tid, NULL, reloader_main, r) != 0) {
        h2o_multithread_unregister_receiver(queue, &r->done_receiver);
        return -1;
    }
    r->started = 1;
    return 0;
}

int ah_reloader_submit(ah_reloader_t *r, int index, const char *trigger, h2o_req_t *req)
{
    ah_reload_job_t *job = calloc(1, sizeof(*job));
    if (job != NULL)
        job->outcomes = calloc(r->srv->reg.n, sizeof(*job->outcomes));
    if (job == NULL || job->outcomes == NULL) {
        free(job);
        ah_log("reload (%s) not started: out of memory", trigger);
        return -1;
    }
    job->index = index;
    job->trigger = trigger;
    if (req != NULL) {
        job->req = req;
        job->wants_answer = 1;
        job->ticket = h2o_mem_alloc_shared(&req->pool, sizeof(*job->ticket), on_request_disposed);
        job->ticket->job = job;
    }
    pthread_mutex_lock(&r->lock);
    if (r->tail != NULL)
        r->tail->next = job;
    else
        r->head = job;
    r->tail = job;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void ah_reloader_stop(ah_reloader_t *r, h2o_evloop_t *loop)
{
    if (!r->started)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->tid, NULL);
    r->started = 0;
    /* The last results still travel in the queue: let the loop hand them over. */
    for (int i = 0; i < 100 && atomic_load(&r->in_flight) > 0; i++)
        h2o_evloop_run(loop, 10);
    for (ah_reload_job_t *job = r->head, *next; job != NULL; job = next) {
        next = job->next;
        job_free(job);
    }
    r->head = r->tail = NULL;
    h2o_multithread_unregister_receiver(r->queue, &r->done_receiver);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
}
