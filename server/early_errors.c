/* SPDX-License-Identifier: MIT */
/*
 * early_errors.c: the errors libh2o answers by itself, before any handler
 * of ours runs, rewritten as our JSON errors (see early_errors.h).
 *
 * libh2o 2.2.5 sends these through h2o_send_error_generic(), which binds
 * the request to its host's fallback path (no handler of ours is there)
 * and sends a text/plain body. A filter on that path sees each one before
 * its headers go out, so it replaces the type, the length and the body.
 * They are: 400 for a broken Content-Length, Transfer-Encoding or chunked
 * body, 413 for a body over the limit, 417 for an Expect other than
 * 100-continue, and HTTP/2's own request errors. What libh2o does not send
 * this way has no hook, and is listed in docs/operating.md: a request
 * line or header it cannot parse, or a head over 417,792 bytes or 100
 * headers, closes the connection without an answer.
 */
#include "early_errors.h"

#include <string.h>

#include "http_util.h"

typedef struct early_filter {
    h2o_filter_t super;
    h2o_iovec_t cors_origin; /* empty on the admin listener */
} early_filter_t;

typedef struct json_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
} json_ostream_t;

static void describe(int status, const char **code, const char **message)
{
    switch (status) {
    case 400:
        *code = "bad_request";
        *message = "malformed request: a broken Content-Length, Transfer-Encoding or chunked body";
        return;
    case 413:
        *code = "payload_too_large";
        *message = "request bodies are limited to 4096 bytes, and no endpoint reads one";
        return;
    case 417:
        *code = "expectation_failed";
        *message = "the only Expect understood is 100-continue";
        return;
    default:
        *code = status < 500 ? "bad_request" : "unavailable";
        *message = "the request was refused before it reached the API";
        return;
    }
}

/* Sends our body, once, in place of whatever libh2o sends. */
static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                    h2o_send_state_t state)
{
    json_ostream_t *o = (json_ostream_t *)self;
    (void)bufs;
    (void)bufcnt;
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (o->body.len != 0 && !head) {
        h2o_iovec_t body = o->body;
        o->body.len = 0;
        h2o_ostream_send_next(&o->super, req, &body, 1, state);
        return;
    }
    h2o_ostream_send_next(&o->super, req, NULL, 0, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    early_filter_t *f = (early_filter_t *)self;
    if (req->res.status >= 400) {
        const char *code, *message;
        describe(req->res.status, &code, &message);
        ah_out_t out;
        ah_out_init(&out, &req->pool);
        ah_out_lit(&out, "{\"error\":{\"code\":");
        ah_out_json_string(&out, code, strlen(code));
        ah_out_lit(&out, ",\"message\":");
        ah_out_json_string(&out, message, strlen(message));
        ah_out_lit(&out, "}}");
        size_t total, n = ah_out_finish(&out, &total);
        char *flat = h2o_mem_alloc_pool(&req->pool, total);
        for (size_t i = 0, at = 0; i < n; at += out.segs[i].len, i++)
            memcpy(flat + at, out.segs[i].base, out.segs[i].len);

        memset(&req->res.headers, 0, sizeof(req->res.headers));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT(AH_CTYPE_JSON));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
        if (f->cors_origin.len != 0)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN,
                           NULL, f->cors_origin.base, f->cors_origin.len);
        req->res.content_length = total;
        json_ostream_t *o = (json_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = on_send;
        o->body = h2o_iovec_init(flat, total);
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void ah_early_errors_register(h2o_hostconf_t *host, h2o_iovec_t cors_origin)
{
    early_filter_t *f = (early_filter_t *)h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->cors_origin = cors_origin;
}
