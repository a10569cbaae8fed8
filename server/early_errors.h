/* SPDX-License-Identifier: MIT */
/*
 * early_errors.h: libh2o's own error answers (a malformed body framing, a
 * body too large, a bad Expect), sent before any handler of ours runs,
 * rewritten as the JSON errors every other answer uses.
 */
#ifndef AH_SERVER_EARLY_ERRORS_H
#define AH_SERVER_EARLY_ERRORS_H

#include "h2o.h"

/*
 * ah_early_errors_register: installs the rewrite on host's fallback path,
 * where libh2o binds requests it refuses early. cors_origin, when not
 * empty, is sent as Access-Control-Allow-Origin (the public listener).
 */
void ah_early_errors_register(h2o_hostconf_t *host, h2o_iovec_t cors_origin);

#endif /* AH_SERVER_EARLY_ERRORS_H */
