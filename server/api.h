/* SPDX-License-Identifier: MIT */
/*
 * api.h: the public API handler, registered on the public listeners' "/"
 * path so that it answers every path itself (JSON 404s included).
 *
 *   GET /v1/complete?q=PREFIX&k=N&format=json|opensearch    index "default"
 *   GET /v1/indexes/NAME/complete?...                       index NAME
 *       (&typos=auto|0|1|2, &match=prefix|words, &context=V: see request.h)
 *   GET /v1/indexes                 the indexes, with their context counts
 *   GET /v1/indexes/NAME/contexts   NAME's context values, with their sizes
 *   GET /healthz    200 while the process runs
 *   GET /readyz     200 once every index has loaded, 503 before
 *
 * Runs on the worker loops, so it is the hot path: no malloc, the response
 * is built in the request's pool, and the lookup writes into the worker's
 * scratch buffers.
 */
#ifndef AH_SERVER_API_H
#define AH_SERVER_API_H

#include "h2o.h"

#include "server.h"

/* ah_api_register: adds the API handler to pathconf (the public host's "/"). */
void ah_api_register(ah_server_t *srv, h2o_pathconf_t *pathconf);

#endif /* AH_SERVER_API_H */
