/* SPDX-License-Identifier: MIT */
/*
 * http_util.h: the small HTTP pieces the handlers share: query-string
 * iteration, percent-decoding, strict UTF-8 checking, JSON string escaping,
 * ETag matching, and a response writer that builds a body in the request's
 * memory pool.
 *
 * The response writer (ah_out_t) fills fixed-size segments allocated with
 * h2o_mem_alloc_pool() and sends them as an iovec array:
 *
 *   segs[0] ---> [ 1000 bytes ]   pool chunk
 *   segs[1] ---> [ 1000 bytes ]   pool chunk
 *   segs[2] ---> [ 312 bytes  ]   the tail; segs[2].len = 312
 *
 * A segment is kept below a quarter of a pool chunk, the size above which
 * libh2o 2.2.5 satisfies a pool allocation with malloc(); pool chunks
 * themselves come from a per-thread recycle list. So a response of any size
 * costs no malloc, and everything is freed with the request.
 */
#ifndef AH_SERVER_HTTP_UTIL_H
#define AH_SERVER_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "h2o.h"

/* ------------------------------------------------------------ query string */

/* Walks "a=1&b=2" pairs of a query string (the part after '?'). */
typedef struct ah_query_iter {
    const char *p, *end;
} ah_query_iter_t;

/* ah_query_begin: an iterator over req's query string (empty when there is none). */
void ah_query_begin(ah_query_iter_t *it, const h2o_req_t *req);

/* ah_query_begin_str: an iterator over the query string query/len (without the '?'). */
void ah_query_begin_str(ah_query_iter_t *it, const char *query, size_t len);

/*
 * ah_query_next: the next non-empty pair, raw (still percent-encoded); a
 * pair without '=' has an empty value. Returns 1, or 0 at the end.
 */
int ah_query_next(ah_query_iter_t *it, h2o_iovec_t *name, h2o_iovec_t *value);

/*
 * ah_percent_decode: decodes in/len (with '+' as space) into out, which must
 * hold len bytes. Returns 0, or -1 on a '%' not followed by two hex digits.
 */
int ah_percent_decode(const char *in, size_t len, char *out, size_t *out_len);

/*
 * ah_utf8_char_len: the length (1-4) of the well-formed UTF-8 sequence at
 * s, which has avail >= 1 bytes; 0 when it is not one (a stray
 * continuation byte, an overlong form, a surrogate, beyond U+10FFFF, cut
 * short).
 */
size_t ah_utf8_char_len(const unsigned char *s, size_t avail);

/* ah_utf8_valid: 1 when s/len is well-formed UTF-8 without NUL or surrogates. */
int ah_utf8_valid(const char *s, size_t len);

/*
 * ah_etag_matches: 1 when an If-None-Match header of req lists etag (a
 * quoted entity tag such as "\"abc\"") or "*"; weak comparison (W/ ignored).
 */
int ah_etag_matches(const h2o_req_t *req, const char *etag, size_t len);

/* -------------------------------------------------------- response writer */

#define AH_OUT_SEGMENT 1000

typedef struct ah_out {
    h2o_mem_pool_t *pool;
    h2o_iovec_t *segs; /* in the pool */
    size_t nsegs, capsegs;
    char *cur, *end; /* free room in the last segment */
} ah_out_t;

static inline void ah_out_init(ah_out_t *o, h2o_mem_pool_t *pool)
{
    memset(o, 0, sizeof(*o));
    o->pool = pool;
}

/* ah_out__grow: starts a new segment (internal to ah_out_put). */
void ah_out__grow(ah_out_t *o);

static inline void ah_out_put(ah_out_t *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->cur == o->end)
            ah_out__grow(o);
        size_t room = (size_t)(o->end - o->cur), m = n < room ? n : room;
        memcpy(o->cur, s, m);
        o->cur += m;
        s += m;
        n -= m;
    }
}

#define ah_out_lit(o, s) ah_out_put((o), (s), sizeof(s) - 1)

/* ah_out_u64: a decimal number. */
void ah_out_u64(ah_out_t *o, uint64_t v);

/*
 * ah_out_json_string: s/len as a JSON string, quotes included. Whatever s
 * holds, the output is valid UTF-8: a byte that does not start a
 * well-formed sequence is written as \ufffd (a snapshot's text is checked
 * by its CRCs, not for UTF-8).
 */
void ah_out_json_string(ah_out_t *o, const char *s, size_t len);

/* ah_out_finish: closes the last segment; returns the segment count, *total the byte count. */
size_t ah_out_finish(ah_out_t *o, size_t *total);

/* --------------------------------------------------------------- sending */

/* ah_http_reason: the reason phrase of a status code. */
const char *ah_http_reason(int status);

/*
 * ah_http_send: sends status with body (may be NULL for none) and, when
 * ctype is non-empty, a Content-Type. Other headers are the caller's, added
 * to req->res.headers before. Sets Content-Length, so HTTP/1.1 keeps the
 * connection alive (LIBH2O-NOTES.md pitfall 4). A HEAD request gets the
 * headers and the length of the body but no body.
 */
void ah_http_send(h2o_req_t *req, int status, h2o_iovec_t ctype, ah_out_t *body);

/* ah_http_send_static: as ah_http_send, with a body that outlives the request (not copied). */
void ah_http_send_static(h2o_req_t *req, int status, h2o_iovec_t ctype, const void *body,
                         size_t len);

/*
 * ah_http_send_error: a JSON error, {"error":{"code":CODE,"message":MESSAGE}},
 * with Cache-Control: no-store. MESSAGE is formatted from fmt.
 */
void ah_http_send_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds a header whose name is not one of h2o's tokens; name and value must outlive req. */
static inline void ah_http_add_header(h2o_req_t *req, const char *name, const char *value,
                                      size_t len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, value, len);
}

#define AH_CTYPE_JSON "application/json; charset=utf-8"

#endif /* AH_SERVER_HTTP_UTIL_H */
