/* SPDX-License-Identifier: MIT */
/*
 * admin.h: the admin listener's handler (control thread only):
 *
 *   POST /admin/reload[?index=NAME]   reload all indexes or one; JSON outcome
 *   GET  /admin/indexes               each index: snapshot id, path, entries, ...
 *   GET  /metrics                     Prometheus text format, names ahead_*
 *
 * With --admin-token, every request needs "Authorization: Bearer TOKEN".
 * JSON here is built with cJSON: this is not the hot path.
 */
#ifndef AH_SERVER_ADMIN_H
#define AH_SERVER_ADMIN_H

#include "h2o.h"

#include "server.h"

/* ah_admin_register: adds the admin handler to pathconf (the admin host's "/"). */
void ah_admin_register(ah_server_t *srv, h2o_pathconf_t *pathconf);

#endif /* AH_SERVER_ADMIN_H */
