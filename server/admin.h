/* SPDX-License-Identifier: MIT */
/*
 * admin.h: the admin listener's handler (control thread only):
 *
 *   POST /admin/reload[?index=NAME]   reload all indexes or one; JSON outcome
 *   GET  /admin/indexes               each index: snapshot id, path, entries, ...
 *   GET  /metrics                     Prometheus text format, names ahead_*
 *
 * A reload runs on the reload thread (reloader.h) and is answered when it
 * is done; the other requests are answered at once.
 * With a token, every request needs "Authorization: Bearer TOKEN".
 * JSON here is built with cJSON: this is not the hot path.
 */
#ifndef AH_SERVER_ADMIN_H
#define AH_SERVER_ADMIN_H

#include "h2o.h"

#include "reloader.h"
#include "server.h"

/* ah_admin_register: adds the admin handler to pathconf (the admin host's "/"). */
void ah_admin_register(ah_server_t *srv, h2o_pathconf_t *pathconf);

/*
 * ah_admin_answer_reload: answers a POST /admin/reload with its job's
 * outcome (an ah_reload_answer_cb; arg is the server). 200 when every
 * index reloaded, else 422 (the old snapshots keep serving).
 */
void ah_admin_answer_reload(ah_reload_job_t *job, void *arg);

#endif /* AH_SERVER_ADMIN_H */
