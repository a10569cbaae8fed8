/* SPDX-License-Identifier: MIT */
/*
 * api.c: the public API (see api.h for the routes). Every answer carries
 * Access-Control-Allow-Origin; every error is JSON,
 * {"error":{"code":"...","message":"..."}}, and anything a client can send
 * is answered with a 2xx, 304 or 4xx, never a 5xx.
 *
 * A completion request, in order:
 *
 *   1. route: the index from the path (404 unknown_index), the method
 *      (OPTIONS preflight, 405 for anything but GET/HEAD);
 *   2. refresh the worker's view if a swap happened (one relaxed load);
 *   3. parameters: q percent-decoded into the worker's buffer, checked as
 *      UTF-8 and against the snapshot's maximum text length; k, format,
 *      typos, match and context; unknown parameters ignored, the first of
 *      a repeated one wins;
 *   4. the ETag, "<snapshot id>-<hash of index, q, k, format, typos,
 *      match, context>": a matching If-None-Match is a 304 without a
 *      lookup;
 *   5. the worker's response cache (rcache.h): a hit is copied and sent;
 *   6. else ah_index_lookup() into the worker's scratch (on the context's
 *      index with context=V; none, an empty answer, when the snapshot
 *      lacks V); the JSON is
 *      written into pool segments (http_util.h), kept in the cache, and
 *      sent with Content-Length.
 *
 * The handler never keeps a snapshot pointer past its return, which is
 * what lets the registry's view refresh unmap old snapshots safely.
 */
#include "api.h"

#include <stdio.h>
#include <time.h>

#include "checksum.h" /* ah_hash64: the library's content hash */
#include "http_util.h"
#include "registry.h"
#include "request.h"
#include "ui.h"
#include "worker.h"

typedef struct ah_api_handler {
    h2o_handler_t super;
    ah_server_t *srv;
} ah_api_handler_t;

/* What besides q and k shapes an answer, as one small integer (ETag and response cache). */
static uint32_t variant_of(const ah_params_t *p)
{
    return (uint32_t)p->opensearch | (uint32_t)(p->typos + 1) << 1 | (uint32_t)p->match << 3;
}

#define ALLOW_METHODS "GET, HEAD, OPTIONS"
/* The request headers the API reads (If-None-Match) and ones a fetch() may add. */
#define ALLOW_HEADERS    "If-None-Match, Accept, Accept-Language, Content-Language, Content-Type"
#define CTYPE_OPENSEARCH "application/x-suggestions+json"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int is_method(const h2o_req_t *req, const char *m, size_t len)
{
    return h2o_memis(req->method.base, req->method.len, m, len);
}

static int path_is(h2o_iovec_t path, const char *lit, size_t len)
{
    return h2o_memis(path.base, path.len, lit, len);
}

/* ------------------------------------------------------------- responses */

static int send_preflight(h2o_req_t *req)
{
    ah_http_add_header(req, "access-control-allow-methods", H2O_STRLIT(ALLOW_METHODS));
    /* A fixed list: echoing the asked-for headers would vouch for any a page invents. */
    ah_http_add_header(req, "access-control-allow-headers", H2O_STRLIT(ALLOW_HEADERS));
    ah_http_add_header(req, "access-control-max-age", H2O_STRLIT("86400"));
    ah_http_send(req, 204, h2o_iovec_init(NULL, 0), NULL);
    return 204;
}

static int send_method_not_allowed(h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT(ALLOW_METHODS));
    ah_http_send_error(req, 405, "method_not_allowed", "method %.*s is not allowed here; use %s",
                       (int)(req->method.len > 20 ? 20 : req->method.len), req->method.base,
                       ALLOW_METHODS);
    return 405;
}

static int send_status(h2o_req_t *req, int status, const char *json, size_t len)
{
    ah_out_t o;
    ah_out_init(&o, &req->pool);
    ah_out_put(&o, json, len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    ah_http_send(req, status, h2o_iovec_init(H2O_STRLIT(AH_CTYPE_JSON)), &o);
    return status;
}

/* Health and readiness: what a load balancer polls. */
static int health(ah_server_t *srv, h2o_req_t *req, int ready_check)
{
    if (!ready_check)
        return send_status(req, 200, H2O_STRLIT("{\"status\":\"ok\"}"));
    if (atomic_load_explicit(&srv->draining, memory_order_acquire))
        return send_status(req, 503, H2O_STRLIT("{\"status\":\"draining\"}"));
    if (atomic_load_explicit(&srv->reg.ready, memory_order_acquire))
        return send_status(req, 200, H2O_STRLIT("{\"status\":\"ready\"}"));
    return send_status(req, 503, H2O_STRLIT("{\"status\":\"loading\"}"));
}

/* ------------------------------------------------------------ parameters */

/* Fills p from the query string (request.h); on a bad parameter sends the 400 and returns it. */
static int parse_params(ah_worker_t *w, h2o_req_t *req, const ah_snap_t *snap, unsigned max_k,
                        ah_params_t *p)
{
    ah_param_rules_t rules = {.max_k = max_k,
                              .max_text_bytes = snap->st.max_text_bytes,
                              .default_typos = w->srv->cfg.default_typos,
                              .default_match = w->srv->cfg.default_match};
    ah_param_error_t e;
    const char *query = "";
    size_t len = 0;
    if (req->query_at != SIZE_MAX && req->query_at < req->path.len) {
        query = req->path.base + req->query_at + 1;
        len = req->path.len - req->query_at - 1;
    }
    if (ah_params_parse(query, len, &rules, w->qbuf, p, &e) == 0)
        return 0;
    ah_http_send_error(req, 400, e.code, "%s", e.message);
    return 400;
}

/* ------------------------------------------------------------ completion */

static const char hexdigits[] = "0123456789abcdef";

/* The quoted ETag, in the pool: "<snapshot id>-<request hash>". */
static h2o_iovec_t make_etag(h2o_req_t *req, const ah_snap_t *snap, const char *index_name,
                             const ah_params_t *p, uint64_t *hash)
{
    uint32_t variant = variant_of(p);
    unsigned char tail[5] = {(unsigned char)p->k, (unsigned char)(p->k >> 8),
                             (unsigned char)(p->k >> 16), (unsigned char)(p->k >> 24),
                             (unsigned char)variant};
    uint64_t h = ah_hash64(0, index_name, strlen(index_name) + 1);
    h = ah_hash64(h, p->q, p->qlen);
    h = ah_hash64(h, tail, sizeof(tail));
    if (p->context) /* and a NUL, which no q holds: "a" in "b" never hashes as "a\0b" unset */
        h = ah_hash64(h, p->context, p->context_len + 1);
    *hash = h;

    char *e = h2o_mem_alloc_pool(&req->pool, 35);
    e[0] = '"';
    memcpy(e + 1, snap->st.id_hex, 16);
    e[17] = '-';
    for (int i = 0; i < 16; i++)
        e[18 + i] = hexdigits[(h >> (60 - 4 * i)) & 15];
    e[34] = '"';
    return h2o_iovec_init(e, 35);
}

/*
 * Server-Timing: NAME;dur=MILLISECONDS (three decimals), what the search
 * box shows as the server's time. Written by hand: snprintf was 2% of the
 * serving core at saturation.
 */
static void add_server_timing(h2o_req_t *req, const char *name, uint64_t ns)
{
    size_t name_len = strlen(name);
    char digits[20], *v = h2o_mem_alloc_pool(&req->pool, name_len + 5 + 20 + 4);
    uint64_t ms = ns / 1000000, us = ns / 1000 % 1000;
    size_t nd = 0, n = name_len;
    memcpy(v, name, name_len);
    memcpy(v + n, ";dur=", 5);
    n += 5;
    do {
        digits[nd++] = (char)('0' + ms % 10);
        ms /= 10;
    } while (ms != 0);
    while (nd > 0)
        v[n++] = digits[--nd];
    v[n++] = '.';
    v[n++] = (char)('0' + us / 100);
    v[n++] = (char)('0' + us / 10 % 10);
    v[n++] = (char)('0' + us % 10);
    ah_http_add_header(req, "server-timing", v, n);
}

/* Validators and freshness go on answers only: an error must not be cached. */
static void add_cache_headers(ah_server_t *srv, h2o_req_t *req, h2o_iovec_t etag)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, etag.base, etag.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   srv->cache_control.base, srv->cache_control.len);
}

static int lookup_error(h2o_req_t *req, int rc, const ah_snap_t *snap)
{
    switch (rc) {
    case AH_EUTF8:
        ah_http_send_error(req, 400, "invalid_utf8", "q is not valid UTF-8");
        return 400;
    case AH_ETOOLONG:
        ah_http_send_error(req, 400, "q_too_long", "q normalizes to a key longer than allowed");
        return 400;
    case AH_EINVAL:
        ah_http_send_error(req, 400, "bad_k", "k must be an integer in 1..%u", snap->st.topk);
        return 400;
    default:
        /* The snapshot itself is damaged (it passed verification, so this is not expected). */
        ah_http_send_error(req, 500, "internal", "lookup failed: %s", ah_strerror(rc));
        return 500;
    }
}

static int complete(ah_server_t *srv, ah_worker_t *w, h2o_req_t *req, int index)
{
    const char *name = srv->reg.entries[index].name;
    ah_params_t p;
    int status;

    ah_view_check(&w->view, &srv->reg);
    const ah_snap_t *snap = w->view.snaps[index];
    if (snap == NULL) {
        ah_http_send_error(req, 503, "not_ready", "index '%s' is still loading", name);
        return 503;
    }
    unsigned max_k = snap->st.topk;
    if (srv->cfg.max_k != 0 && srv->cfg.max_k < max_k)
        max_k = srv->cfg.max_k;
    if ((status = parse_params(w, req, snap, max_k, &p)) != 0)
        return status;

    uint64_t hash;
    h2o_iovec_t etag = make_etag(req, snap, name, &p, &hash);
    if (ah_etag_matches(req, etag.base, etag.len)) {
        add_cache_headers(srv, req, etag);
        ah_http_send(req, 304, h2o_iovec_init(NULL, 0), NULL);
        return 304;
    }
    h2o_iovec_t ctype = p.opensearch ? h2o_iovec_init(H2O_STRLIT(CTYPE_OPENSEARCH))
                                     : h2o_iovec_init(H2O_STRLIT(AH_CTYPE_JSON));
    ah_rcache_key_t key = {.hash = hash,
                           .snapshot_id = snap->st.content_id,
                           .index = (uint32_t)index,
                           .k = p.k,
                           .variant = variant_of(&p),
                           .q = p.q,
                           .qlen = p.qlen};
    if (p.context) { /* the cache compares this text whole: the context is part of it */
        memcpy(w->ckey, p.context, p.context_len);
        w->ckey[p.context_len] = '\0';
        memcpy(w->ckey + p.context_len + 1, p.q, p.qlen);
        key.q = w->ckey;
        key.qlen = p.context_len + 1 + p.qlen;
        key.variant |= 1u << 5;
    }
    ah_out_t o;
    ah_out_init(&o, &req->pool);
    size_t cached_len;
    uint64_t t0 = mono_ns();
    const char *cached = ah_rcache_get(&w->rcache, &key, &cached_len);
    if (cached != NULL) {
        ah_counter_add(&w->metrics.cache_hits, 1);
        ah_out_put(&o, cached, cached_len); /* into the pool: the slot may be reused */
        add_cache_headers(srv, req, etag);
        add_server_timing(req, "cache", mono_ns() - t0);
        ah_http_send(req, 200, ctype, &o);
        return 200;
    }

    size_t n = 0;
    int complete = 1;
    ah_lookup_options_t opt = {.k = p.k, .typos = p.typos, .match = p.match};
    /* In a context the snapshot lacks, nothing belongs: an empty answer. */
    const ah_index_t *ix =
        p.context ? ah_index_context(snap->idx, p.context, p.context_len) : snap->idx;
    int rc =
        ix ? ah_index_lookup(ix, p.q, p.qlen, &opt, w->comp, w->text, w->text_cap, &n, &complete)
           : 0;
    if (rc != 0)
        return lookup_error(req, rc, snap);
    ah_counter_add(&w->metrics.cache_misses, 1);
    add_cache_headers(srv, req, etag);
    add_server_timing(req, "lookup", mono_ns() - t0);
    ah_write_answer(&o, &p, name, snap->st.id_hex, w->comp, n, complete);
    size_t total, nsegs = ah_out_finish(&o, &total);
    ah_rcache_put(&w->rcache, &key, o.segs, nsegs, total);
    ah_http_send(req, 200, ctype, &o);
    return 200;
}

/* GET /v1/indexes: the indexes served, and what each answers from (no file paths). */
static int list_indexes(ah_server_t *srv, ah_worker_t *w, h2o_req_t *req)
{
    ah_view_check(&w->view, &srv->reg);
    ah_out_t o;
    ah_out_init(&o, &req->pool);
    ah_out_lit(&o, "{\"indexes\":[");
    for (size_t i = 0; i < srv->reg.n; i++) {
        const ah_snap_t *snap = i < w->view.n ? w->view.snaps[i] : NULL;
        const char *name = srv->reg.entries[i].name;
        ah_out_put(&o, i == 0 ? "{\"name\":" : ",{\"name\":", i == 0 ? 8 : 9);
        ah_out_json_string(&o, name, strlen(name));
        if (snap == NULL) {
            ah_out_lit(&o, ",\"ready\":false}");
            continue;
        }
        ah_out_lit(&o, ",\"ready\":true,\"snapshot\":\"");
        ah_out_put(&o, snap->st.id_hex, 16);
        ah_out_lit(&o, "\",\"entries\":");
        ah_out_u64(&o, snap->st.entries);
        ah_out_lit(&o, ",\"topk\":");
        ah_out_u64(&o, snap->st.topk);
        ah_out_lit(&o, ",\"contexts\":");
        ah_out_u64(&o, snap->st.contexts);
        if (snap->st.has_words)
            ah_out_lit(&o, ",\"infix\":true}");
        else
            ah_out_lit(&o, ",\"infix\":false}");
    }
    ah_out_lit(&o, "]}");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    ah_http_send(req, 200, h2o_iovec_init(H2O_STRLIT(AH_CTYPE_JSON)), &o);
    return 200;
}

/*
 * GET /v1/indexes/NAME/contexts: the index's context values in byte order,
 * each with how many completions belong to it (for a picker).
 */
static int list_contexts(ah_server_t *srv, ah_worker_t *w, h2o_req_t *req, int index)
{
    ah_view_check(&w->view, &srv->reg);
    const ah_snap_t *snap = w->view.snaps[index];
    const char *name = srv->reg.entries[index].name;
    if (snap == NULL) {
        ah_http_send_error(req, 503, "not_ready", "index '%s' is still loading", name);
        return 503;
    }
    ah_out_t o;
    ah_out_init(&o, &req->pool);
    ah_out_lit(&o, "{\"index\":");
    ah_out_json_string(&o, name, strlen(name));
    ah_out_lit(&o, ",\"snapshot\":\"");
    ah_out_put(&o, snap->st.id_hex, 16);
    ah_out_lit(&o, "\",\"contexts\":[");
    uint32_t m = ah_index_context_count(snap->idx);
    for (uint32_t i = 0; i < m; i++) {
        size_t len;
        const char *v = ah_index_context_value(snap->idx, i, &len);
        ah_index_stats_t st;
        ah_index_stats(ah_index_context_at(snap->idx, i), &st);
        if (i)
            ah_out_lit(&o, ",");
        ah_out_lit(&o, "{\"value\":");
        ah_out_json_string(&o, v, len);
        ah_out_lit(&o, ",\"entries\":");
        ah_out_u64(&o, st.entries);
        ah_out_lit(&o, "}");
    }
    ah_out_lit(&o, "]}");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    ah_http_send(req, 200, h2o_iovec_init(H2O_STRLIT(AH_CTYPE_JSON)), &o);
    return 200;
}

/* ---------------------------------------------------------------- routing */

/* Finds the index a /v1/ path names; returns it, or -1 after sending the 404. */
static int route_index(ah_server_t *srv, h2o_req_t *req, h2o_iovec_t path, int *contexts)
{
    static const char prefix[] = "/v1/indexes/", complete_suffix[] = "/complete",
                      contexts_suffix[] = "/contexts";
    const size_t plen = sizeof(prefix) - 1, slen = sizeof(complete_suffix) - 1;
    int index;
    const char *suffix = complete_suffix;
    /* "/contexts" is as long as "/complete": the one tail decides which. */
    _Static_assert(sizeof(complete_suffix) == sizeof(contexts_suffix), "suffix lengths");
    *contexts =
        path.len > plen + slen && memcmp(path.base + path.len - slen, contexts_suffix, slen) == 0;
    if (*contexts)
        suffix = contexts_suffix;

    if (path_is(path, H2O_STRLIT("/v1/complete"))) {
        if ((index = ah_registry_find(&srv->reg, "default", 7)) < 0)
            ah_http_send_error(req, 404, "unknown_index",
                               "no index named 'default'; use /v1/indexes/NAME/complete");
        return index;
    }
    if (path.len > plen + slen && memcmp(path.base, prefix, plen) == 0 &&
        memcmp(path.base + path.len - slen, suffix, slen) == 0) {
        const char *nm = path.base + plen;
        size_t nlen = path.len - plen - slen;
        if (memchr(nm, '/', nlen) == NULL) {
            if (ah_config_valid_name(nm, nlen) &&
                (index = ah_registry_find(&srv->reg, nm, nlen)) >= 0)
                return index;
            if (ah_config_valid_name(nm, nlen))
                ah_http_send_error(req, 404, "unknown_index", "no index named '%.*s'", (int)nlen,
                                   nm);
            else
                ah_http_send_error(req, 404, "unknown_index", "no such index");
            return -1;
        }
    }
    ah_http_send_error(req, 404, "not_found", "no such path; see /v1/complete?q=PREFIX");
    return -1;
}

/* Routes a request; returns the status sent and sets *index for the metrics. */
static int route(ah_server_t *srv, ah_worker_t *w, h2o_req_t *req, int *index)
{
    h2o_iovec_t path = req->path_normalized;
    int get = is_method(req, H2O_STRLIT("GET")) || is_method(req, H2O_STRLIT("HEAD"));
    int options = is_method(req, H2O_STRLIT("OPTIONS"));

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
                   srv->cors_origin.base, srv->cors_origin.len);

    int is_health = path_is(path, H2O_STRLIT("/healthz"));
    if (is_health || path_is(path, H2O_STRLIT("/readyz"))) {
        if (options)
            return send_preflight(req);
        return get ? health(srv, req, !is_health) : send_method_not_allowed(req);
    }
    if (path_is(path, H2O_STRLIT("/v1/indexes"))) {
        if (options)
            return send_preflight(req);
        return get ? list_indexes(srv, w, req) : send_method_not_allowed(req);
    }
    const ah_asset_t *asset = ah_ui_find(srv, path);
    if (asset != NULL)
        return get ? ah_ui_send(req, asset) : send_method_not_allowed(req);
    int contexts;
    if ((*index = route_index(srv, req, path, &contexts)) < 0)
        return 404;
    if (options)
        return send_preflight(req);
    if (!get)
        return send_method_not_allowed(req);
    return contexts ? list_contexts(srv, w, req, *index) : complete(srv, w, req, *index);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    ah_server_t *srv = ((ah_api_handler_t *)self)->srv;
    ah_worker_t *w = ah_worker_from_ctx(req->conn->ctx);
    uint64_t t0 = mono_ns();
    int index = -1;
    int status = route(srv, w, req, &index);
    ah_metrics_request(&w->metrics, index, status, mono_ns() - t0);
    return 0;
}

void ah_api_register(ah_server_t *srv, h2o_pathconf_t *pathconf)
{
    ah_api_handler_t *h = (ah_api_handler_t *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
}
