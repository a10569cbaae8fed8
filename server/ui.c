/* SPDX-License-Identifier: MIT */
/*
 * ui.c: answers the compiled-in files of ui.h. GET and HEAD only; a
 * matching If-None-Match is a 304 (the ETag is the file's hash, so a new
 * build's page is fetched again). The page's Content-Security-Policy lets
 * it load its own script and style sheet and talk to its own origin,
 * nothing else: a completion text can never become markup that runs.
 * --ui off leaves the page's files out (404 as before); the API
 * description and the drop-in widget /ahead-autocomplete.js, which other
 * sites' pages load (with the API's CORS header), stay.
 */
#include "ui.h"

#include <string.h>

#include "http_util.h"
#include "server.h"

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src "        \
    "'self'; "                                                                                     \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static h2o_iovec_t content_type(const char *kind)
{
    if (strcmp(kind, "html") == 0)
        return h2o_iovec_init(H2O_STRLIT("text/html; charset=utf-8"));
    if (strcmp(kind, "js") == 0)
        return h2o_iovec_init(H2O_STRLIT("text/javascript; charset=utf-8"));
    if (strcmp(kind, "css") == 0)
        return h2o_iovec_init(H2O_STRLIT("text/css; charset=utf-8"));
    if (strcmp(kind, "svg") == 0)
        return h2o_iovec_init(H2O_STRLIT("image/svg+xml"));
    return h2o_iovec_init(H2O_STRLIT(AH_CTYPE_JSON));
}

const ah_asset_t *ah_ui_find(const ah_server_t *srv, h2o_iovec_t path)
{
    for (size_t i = 0; i < ah_asset_count; i++) {
        const ah_asset_t *a = &ah_assets[i];
        if (!h2o_memis(path.base, path.len, a->path, strlen(a->path)))
            continue;
        if (!srv->cfg.ui && strcmp(a->kind, "json") != 0 &&
            strcmp(a->path, "/ahead-autocomplete.js") != 0)
            return NULL; /* --ui off: the page is gone; the API description and the widget stay */
        return a;
    }
    return NULL;
}

int ah_ui_send(h2o_req_t *req, const ah_asset_t *a)
{
    size_t elen = strlen(a->etag);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, a->etag, elen);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    ah_http_add_header(req, "x-content-type-options", H2O_STRLIT("nosniff"));
    if (strcmp(a->kind, "html") == 0) {
        ah_http_add_header(req, "content-security-policy", H2O_STRLIT(CSP));
        ah_http_add_header(req, "referrer-policy", H2O_STRLIT("no-referrer"));
    }
    if (ah_etag_matches(req, a->etag, elen)) {
        ah_http_send(req, 304, h2o_iovec_init(NULL, 0), NULL);
        return 304;
    }
    ah_http_send_static(req, 200, content_type(a->kind), a->data, a->len);
    return 200;
}
