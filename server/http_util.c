/* SPDX-License-Identifier: MIT */
/*
 * http_util.c: query parsing, percent-decoding, UTF-8 checking, JSON
 * escaping, ETag matching and the pool-backed response writer (see
 * http_util.h). Nothing here allocates outside the request's pool.
 */
#include "http_util.h"

#include <stdarg.h>
#include <stdio.h>

/* ------------------------------------------------------------ query string */

void ah_query_begin(ah_query_iter_t *it, const h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX || req->query_at >= req->path.len) {
        it->p = it->end = NULL;
        return;
    }
    it->p = req->path.base + req->query_at + 1;
    it->end = req->path.base + req->path.len;
}

void ah_query_begin_str(ah_query_iter_t *it, const char *query, size_t len)
{
    it->p = len > 0 ? query : NULL;
    it->end = len > 0 ? query + len : NULL;
}

int ah_query_next(ah_query_iter_t *it, h2o_iovec_t *name, h2o_iovec_t *value)
{
    while (it->p != NULL && it->p < it->end) {
        const char *start = it->p;
        const char *amp = memchr(start, '&', (size_t)(it->end - start));
        const char *stop = amp != NULL ? amp : it->end;
        it->p = amp != NULL ? amp + 1 : it->end;
        if (stop == start)
            continue; /* "&&" */
        const char *eq = memchr(start, '=', (size_t)(stop - start));
        if (eq == NULL) {
            *name = h2o_iovec_init(start, (size_t)(stop - start));
            *value = h2o_iovec_init(stop, 0);
        } else {
            *name = h2o_iovec_init(start, (size_t)(eq - start));
            *value = h2o_iovec_init(eq + 1, (size_t)(stop - eq - 1));
        }
        return 1;
    }
    return 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ah_percent_decode(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '+') {
            out[o++] = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (len - i < 3 || (hi = hexval((unsigned char)in[i + 1])) < 0 ||
                (lo = hexval((unsigned char)in[i + 2])) < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = (char)c;
        }
    }
    *out_len = o;
    return 0;
}

size_t ah_utf8_char_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 1, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 2, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 3, cp = c & 0x07, min = 0x10000;
    else
        return 0; /* a continuation byte, C0/C1 or F5..FF */
    if (avail <= n)
        return 0;
    for (size_t i = 1; i <= n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n + 1;
}

int ah_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        size_t n = *s == 0 ? 0 : ah_utf8_char_len(s, (size_t)(end - s));
        if (n == 0)
            return 0;
        s += n;
    }
    return 1;
}

/* Matches one If-None-Match value: a comma-separated list of entity tags or "*". */
static int etag_list_matches(const char *p, const char *end, const char *etag, size_t len)
{
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end)
            break;
        if (*p == '*')
            return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *tag = p;
        if (p < end && *p == '"') {
            const char *close = memchr(p + 1, '"', (size_t)(end - p - 1));
            p = close != NULL ? close + 1 : end;
        } else {
            while (p < end && *p != ',')
                p++;
        }
        if ((size_t)(p - tag) == len && memcmp(tag, etag, len) == 0)
            return 1;
    }
    return 0;
}

int ah_etag_matches(const h2o_req_t *req, const char *etag, size_t len)
{
    ssize_t i = -1;
    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, i)) != -1) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        if (etag_list_matches(v->base, v->base + v->len, etag, len))
            return 1;
    }
    return 0;
}

/* -------------------------------------------------------- response writer */

void ah_out__grow(ah_out_t *o)
{
    if (o->nsegs > 0)
        o->segs[o->nsegs - 1].len = AH_OUT_SEGMENT - (size_t)(o->end - o->cur);
    if (o->nsegs == o->capsegs) {
        size_t cap = o->capsegs ? o->capsegs * 2 : 4;
        h2o_iovec_t *segs = h2o_mem_alloc_pool(o->pool, cap * sizeof(*segs));
        if (o->nsegs > 0)
            memcpy(segs, o->segs, o->nsegs * sizeof(*segs));
        o->segs = segs;
        o->capsegs = cap;
    }
    char *seg = h2o_mem_alloc_pool(o->pool, AH_OUT_SEGMENT);
    o->segs[o->nsegs++] = h2o_iovec_init(seg, 0);
    o->cur = seg;
    o->end = seg + AH_OUT_SEGMENT;
}

void ah_out_u64(ah_out_t *o, uint64_t v)
{
    char buf[20];
    size_t i = sizeof(buf);
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    ah_out_put(o, buf + i, sizeof(buf) - i);
}

void ah_out_json_string(ah_out_t *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    ah_out_lit(o, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
            continue;
        if (c >= 0x80) {
            size_t n = ah_utf8_char_len((const unsigned char *)s + i, len - i);
            if (n != 0) {
                i += n - 1;
                continue;
            }
        }
        ah_out_put(o, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            ah_out_lit(o, "\\\"");
            break;
        case '\\':
            ah_out_lit(o, "\\\\");
            break;
        case '\n':
            ah_out_lit(o, "\\n");
            break;
        case '\r':
            ah_out_lit(o, "\\r");
            break;
        case '\t':
            ah_out_lit(o, "\\t");
            break;
        default: {
            if (c >= 0x80) { /* not UTF-8: U+FFFD, as ahead-query writes it */
                ah_out_lit(o, "\\ufffd");
                break;
            }
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ah_out_put(o, esc, sizeof(esc));
        }
        }
    }
    ah_out_put(o, s + run, len - run);
    ah_out_lit(o, "\"");
}

size_t ah_out_finish(ah_out_t *o, size_t *total)
{
    size_t t = 0;
    if (o->nsegs > 0)
        o->segs[o->nsegs - 1].len = AH_OUT_SEGMENT - (size_t)(o->end - o->cur);
    for (size_t i = 0; i < o->nsegs; i++)
        t += o->segs[i].len;
    *total = t;
    return o->nsegs;
}

/* --------------------------------------------------------------- sending */

const char *ah_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 422:
        return "Unprocessable Entity";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* Sends status, Content-Type and the body bufs[0..nbufs) of total bytes, all at once. */
static void send_whole(h2o_req_t *req, int status, h2o_iovec_t ctype, h2o_iovec_t *bufs,
                       size_t nbufs, size_t total)
{
    /* No callbacks: the whole body is handed over at once with the final flag. */
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = ah_http_reason(status);
    if (ctype.len != 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype.base,
                       ctype.len);
    /*
     * 204 and 304 have no body and must not carry a Content-Length of 0
     * (RFC 9110 8.6); SIZE_MAX tells h2o the length is not known.
     */
    req->res.content_length = status == 204 || status == 304 ? SIZE_MAX : total;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        nbufs = 0;
    h2o_start_response(req, &generator);
    h2o_send(req, bufs, nbufs, H2O_SEND_STATE_FINAL);
}

void ah_http_send(h2o_req_t *req, int status, h2o_iovec_t ctype, ah_out_t *body)
{
    h2o_iovec_t *bufs = NULL;
    size_t nbufs = 0, total = 0;
    if (body != NULL) {
        nbufs = ah_out_finish(body, &total);
        bufs = body->segs;
    }
    send_whole(req, status, ctype, bufs, nbufs, total);
}

void ah_http_send_static(h2o_req_t *req, int status, h2o_iovec_t ctype, const void *body,
                         size_t len)
{
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    send_whole(req, status, ctype, &buf, 1, len);
}

void ah_http_send_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n;

    ah_out_t o;
    ah_out_init(&o, &req->pool);
    ah_out_lit(&o, "{\"error\":{\"code\":");
    ah_out_json_string(&o, code, strlen(code));
    ah_out_lit(&o, ",\"message\":");
    ah_out_json_string(&o, msg, len);
    ah_out_lit(&o, "}}");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    ah_http_send(req, status, h2o_iovec_init(H2O_STRLIT(AH_CTYPE_JSON)), &o);
}
