/* SPDX-License-Identifier: MIT */
/*
 * admin.c: the admin endpoints (see admin.h). Status codes: 200, 401 (token
 * missing or wrong), 403 (a request from a web page: see browser_refusal()),
 * 404 (path or index), 405 (method), and 422 when a
 * reload failed: the request was fine but the file on disk was not, and the
 * old snapshot keeps serving. The body then says which index failed and why.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "control.h"
#include "http_util.h"
#include "metrics.h"
#include "worker.h"

typedef struct ah_admin_handler {
    h2o_handler_t super;
    ah_server_t *srv;
} ah_admin_handler_t;

static int is_method(const h2o_req_t *req, const char *m, size_t len)
{
    return h2o_memis(req->method.base, req->method.len, m, len);
}

/* Copies text into the pool (in segments) and sends it. */
static void send_text(h2o_req_t *req, int status, const char *ctype, const char *text, size_t len)
{
    ah_out_t o;
    ah_out_init(&o, &req->pool);
    ah_out_put(&o, text, len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    ah_http_send(req, status, h2o_iovec_init(ctype, strlen(ctype)), &o);
}

static void send_json(h2o_req_t *req, int status, cJSON *json)
{
    char *s = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (s == NULL) {
        ah_http_send_error(req, 503, "no_memory", "out of memory");
        return;
    }
    send_text(req, status, AH_CTYPE_JSON, s, strlen(s));
    cJSON_free(s);
}

/*
 * Compares a presented token with the secret in time that depends only on
 * the presented length: every presented byte is compared (with the secret
 * repeated), so neither a prefix nor the secret's length shows in timings.
 */
static int same_secret(const char *given, size_t given_len, const char *secret, size_t secret_len)
{
    unsigned char diff = given_len != secret_len;
    for (size_t i = 0; i < given_len; i++)
        diff |= (unsigned char)(given[i] ^ secret[i % secret_len]);
    return diff == 0;
}

static int authorized(ah_server_t *srv, h2o_req_t *req)
{
    const char *token = srv->cfg.admin_token;
    if (token == NULL)
        return 1;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || !h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")))
        return 0;
    return same_secret(v.base + 7, v.len - 7, token, strlen(token));
}

/* 1 when the host part of a Host value (PORT and [] stripped) is an IP literal or localhost. */
static int host_is_address(h2o_iovec_t host)
{
    char buf[64];
    const char *end = host.base + host.len;
    if (host.len > 0 && host.base[0] == '[') {
        const char *close = memchr(host.base, ']', host.len);
        if (close == NULL || (size_t)(close - host.base - 1) >= sizeof(buf))
            return 0;
        memcpy(buf, host.base + 1, close - host.base - 1);
        buf[close - host.base - 1] = '\0';
        struct in6_addr a6;
        return inet_pton(AF_INET6, buf, &a6) == 1;
    }
    const char *colon = memchr(host.base, ':', host.len);
    size_t len = (size_t)((colon != NULL ? colon : end) - host.base);
    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, host.base, len);
    buf[len] = '\0';
    struct in_addr a4;
    return inet_pton(AF_INET, buf, &a4) == 1 || strcasecmp(buf, "localhost") == 0;
}

/*
 * A page in a browser must not drive the admin API. A cross-site request
 * carries Origin (or Sec-Fetch-Site: cross-site), and none of ours is ever
 * same-origin: the listener serves no pages. DNS rebinding makes a page's
 * own name resolve to this listener, so its Host is that name: without a
 * token, only a Host that is an address (or localhost) is answered. With a
 * token, the page cannot know it, and any Host is fine (a proxy's name).
 * Returns the reason for refusing, or NULL.
 */
static const char *browser_refusal(ah_server_t *srv, h2o_req_t *req)
{
    if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1) != -1)
        return "admin requests from a web page (with an Origin header) are refused";
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-fetch-site"), -1);
    if (i != -1 && !h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len,
                              H2O_STRLIT("none")))
        return "admin requests from a web page (Sec-Fetch-Site) are refused";
    /* A request without Host (HTTP/1.0) gets the host entry's name: no browser sends that. */
    h2o_iovec_t host = req->input.authority, unnamed = req->hostconf->authority.hostport;
    if (srv->cfg.admin_token == NULL &&
        !h2o_memis(host.base, host.len, unnamed.base, unnamed.len) && !host_is_address(host))
        return "without a token, the admin listener answers only a Host that is an IP address "
               "or localhost";
    return NULL;
}

static const char *error_code(int rc)
{
    switch (rc) {
    case AH_EIO:
        return "io";
    case AH_ECORRUPT:
        return "corrupt";
    case AH_EVERSION:
        return "version";
    case AH_ENOMEM:
        return "no_memory";
    default:
        return "reload_failed";
    }
}

static void format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ----------------------------------------------------------------- reload */

static cJSON *describe_outcome(ah_server_t *srv, const ah_reload_outcome_t *out)
{
    const ah_reload_result_t *res = &out->res;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "index", srv->reg.entries[out->index].name);
    cJSON_AddBoolToObject(o, "ok", out->rc == 0);
    if (out->rc == 0) {
        cJSON_AddBoolToObject(o, "changed", res->changed);
        cJSON_AddStringToObject(o, "snapshot", res->new_id);
        cJSON_AddStringToObject(o, "previous", res->old_id);
        cJSON_AddNumberToObject(o, "entries", (double)res->entries);
        cJSON_AddNumberToObject(o, "bytes", (double)res->bytes);
    } else {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", error_code(out->rc));
        cJSON_AddStringToObject(e, "message", res->err);
        /* What keeps serving: the old snapshot, or nothing if none ever loaded. */
        if (res->old_id[0] != '\0')
            cJSON_AddStringToObject(o, "snapshot", res->old_id);
        else
            cJSON_AddNullToObject(o, "snapshot");
    }
    return o;
}

void ah_admin_answer_reload(ah_reload_job_t *job, void *arg)
{
    ah_server_t *srv = arg;
    cJSON *root = cJSON_CreateObject();
    cJSON *results = cJSON_AddArrayToObject(root, "results");
    for (size_t i = 0; i < job->n_outcomes; i++)
        cJSON_AddItemToArray(results, describe_outcome(srv, &job->outcomes[i]));
    cJSON_AddBoolToObject(root, "ok", !job->failed);
    send_json(job->req, job->failed ? 422 : 200, root);
}

/* Queues the reload; the reload thread's result answers the request (reloader.h). */
static void handle_reload(ah_server_t *srv, h2o_req_t *req)
{
    ah_query_iter_t it;
    h2o_iovec_t name, value;
    int only = -1;

    ah_query_begin(&it, req);
    while (ah_query_next(&it, &name, &value)) {
        if (h2o_memis(name.base, name.len, H2O_STRLIT("index"))) {
            if (!ah_config_valid_name(value.base, value.len)) {
                ah_http_send_error(req, 404, "unknown_index", "no such index");
                return;
            }
            if ((only = ah_registry_find(&srv->reg, value.base, value.len)) < 0) {
                ah_http_send_error(req, 404, "unknown_index", "no index named '%.*s'",
                                   (int)value.len, value.base);
                return;
            }
            break;
        }
    }
    if (ah_reloader_submit(&srv->control->reloader, only, "admin", req) != 0)
        ah_http_send_error(req, 503, "no_memory", "out of memory");
}

/* ---------------------------------------------------------------- indexes */

static cJSON *describe(ah_server_t *srv, size_t i)
{
    ah_registry_t *reg = &srv->reg;
    cJSON *o = cJSON_CreateObject();
    char when[32];

    cJSON_AddStringToObject(o, "name", reg->entries[i].name);
    cJSON_AddStringToObject(o, "path", reg->entries[i].path);
    ah_snap_t *s = ah_registry_acquire(reg, i);
    if (s != NULL) {
        cJSON_AddStringToObject(o, "snapshot", s->st.id_hex);
        cJSON_AddNumberToObject(o, "entries", (double)s->st.entries);
        cJSON_AddNumberToObject(o, "bytes", (double)s->st.file_bytes);
        cJSON_AddStringToObject(o, "memory", ah_index_memory(s->idx));
        cJSON_AddNumberToObject(o, "topk", s->st.topk);
        cJSON_AddNumberToObject(o, "max_text_bytes", s->st.max_text_bytes);
        cJSON_AddNumberToObject(o, "format_version", s->st.format_version);
        /* Without the word-start index, match=words answers as match=prefix. */
        cJSON_AddBoolToObject(o, "infix", s->st.has_words);
        cJSON_AddNumberToObject(o, "contexts", s->st.contexts);
        format_time(s->loaded_at, when, sizeof(when));
        cJSON_AddStringToObject(o, "loaded_at", when);
        cJSON_AddNumberToObject(o, "loaded_at_unix", (double)s->loaded_at);
        ah_snap_release(s);
    } else {
        cJSON_AddNullToObject(o, "snapshot");
    }
    pthread_mutex_lock(&reg->lock);
    cJSON *r = cJSON_AddObjectToObject(o, "reloads");
    cJSON_AddNumberToObject(r, "ok", (double)reg->entries[i].reloads_ok);
    cJSON_AddNumberToObject(r, "unchanged", (double)reg->entries[i].reloads_unchanged);
    cJSON_AddNumberToObject(r, "failed", (double)reg->entries[i].reloads_failed);
    cJSON_AddNumberToObject(o, "detaches", (double)reg->entries[i].detaches);
    if (reg->entries[i].last_error[0] != '\0')
        cJSON_AddStringToObject(o, "last_error", reg->entries[i].last_error);
    pthread_mutex_unlock(&reg->lock);
    return o;
}

static void handle_indexes(ah_server_t *srv, h2o_req_t *req)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "ready", atomic_load(&srv->reg.ready));
    cJSON_AddBoolToObject(root, "draining", atomic_load(&srv->draining));
    cJSON_AddNumberToObject(root, "snapshots_mapped", ah_registry_mapped(&srv->reg));
    cJSON *list = cJSON_AddArrayToObject(root, "indexes");
    for (size_t i = 0; i < srv->reg.n; i++)
        cJSON_AddItemToArray(list, describe(srv, i));
    send_json(req, 200, root);
}

/* ---------------------------------------------------------------- metrics */

static void handle_metrics(ah_server_t *srv, h2o_req_t *req)
{
    ah_strbuf_t b = {0};
    ah_metrics_render(&b, &srv->reg, srv->metrics, srv->n_workers);
    if (b.oom) {
        ah_strbuf_free(&b);
        ah_http_send_error(req, 503, "no_memory", "out of memory");
        return;
    }
    send_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
    ah_strbuf_free(&b);
}

/* ---------------------------------------------------------------- routing */

static void not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    ah_http_send_error(req, 405, "method_not_allowed", "use %s", allow);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    ah_server_t *srv = ((ah_admin_handler_t *)self)->srv;
    h2o_iovec_t path = req->path_normalized;
    int get = is_method(req, H2O_STRLIT("GET")) || is_method(req, H2O_STRLIT("HEAD"));

    const char *refusal = browser_refusal(srv, req);
    if (refusal != NULL) {
        ah_http_send_error(req, 403, "forbidden", "%s", refusal);
    } else if (!authorized(srv, req)) {
        ah_http_add_header(req, "www-authenticate", H2O_STRLIT("Bearer realm=\"ahead-admin\""));
        ah_http_send_error(req, 401, "unauthorized",
                           "this listener needs 'Authorization: Bearer <token>'");
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/admin/reload"))) {
        if (is_method(req, H2O_STRLIT("POST")))
            handle_reload(srv, req);
        else
            not_allowed(req, "POST");
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/admin/indexes"))) {
        if (get)
            handle_indexes(srv, req);
        else
            not_allowed(req, "GET, HEAD");
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        if (get)
            handle_metrics(srv, req);
        else
            not_allowed(req, "GET, HEAD");
    } else {
        ah_http_send_error(req, 404, "not_found",
                           "admin paths: POST /admin/reload, GET /admin/indexes, GET /metrics");
    }
    return 0;
}

void ah_admin_register(ah_server_t *srv, h2o_pathconf_t *pathconf)
{
    ah_admin_handler_t *h = (ah_admin_handler_t *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
}
