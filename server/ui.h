/* SPDX-License-Identifier: MIT */
/*
 * ui.h: the files ahead-serve serves from its own binary: the search box at
 * / (server/ui/: the page, its script and its style sheet) and the API
 * description at /openapi.json (server/openapi.json). server/embed.cmake
 * compiles them into ah_assets[] at build time, so there is nothing to
 * install beside the binary and the page works offline.
 */
#ifndef AH_SERVER_UI_H
#define AH_SERVER_UI_H

#include <stddef.h>

#include "h2o.h"

typedef struct ah_asset {
    const char *path; /* the URL path it answers */
    const char *kind; /* html, js, css, svg or json */
    const char *etag; /* quoted: the first 16 hex digits of its SHA-256 */
    const unsigned char *data;
    size_t len;
} ah_asset_t;

extern const ah_asset_t ah_assets[];
extern const size_t ah_asset_count;

struct ah_server;

/*
 * ah_ui_find: the asset a request path names, or NULL (also for the page's
 * files under --ui off). Points into ah_assets[], which lives forever.
 */
const ah_asset_t *ah_ui_find(const struct ah_server *srv, h2o_iovec_t path);

/* ah_ui_send: answers GET or HEAD with the asset (or 304); returns the status sent. */
int ah_ui_send(h2o_req_t *req, const ah_asset_t *a);

#endif /* AH_SERVER_UI_H */
