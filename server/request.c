/* SPDX-License-Identifier: MIT */
/*
 * request.c: a completion request's parameters and its answer's body (see
 * request.h).
 */
#include "request.h"

#include <stdio.h>
#include <string.h>

#include "config.h" /* AH_DEFAULT_K */

static int name_is(h2o_iovec_t name, const char *lit, size_t len)
{
    return h2o_memis(name.base, name.len, lit, len);
}

static int refuse(ah_param_error_t *e, const char *code, const char *message)
{
    e->code = code;
    snprintf(e->message, sizeof(e->message), "%s", message);
    return -1;
}

/*
 * Decodes a short parameter value (k, format, typos, match) into buf of
 * cap bytes; returns its length, -1 on broken percent-encoding, -2 when
 * longer than cap.
 */
static long decode_small(h2o_iovec_t v, char *buf, size_t cap)
{
    size_t len;
    if (v.len > cap)
        return -2;
    if (ah_percent_decode(v.base, v.len, buf, &len) != 0)
        return -1;
    return (long)len;
}

static int parse_k(h2o_iovec_t value, unsigned max_k, unsigned *k, ah_param_error_t *e)
{
    char small[16];
    long n = decode_small(value, small, sizeof(small));
    if (n == -1)
        return refuse(e, "bad_percent_encoding",
                      "k has a '%' that is not followed by two hex digits");
    unsigned long v = 0;
    int ok = n > 0 && n <= 9;
    for (long i = 0; ok && i < n; i++) {
        ok = small[i] >= '0' && small[i] <= '9';
        v = v * 10 + (unsigned long)(small[i] - '0');
    }
    if (!ok || v < 1 || v > max_k) {
        e->code = "bad_k";
        snprintf(e->message, sizeof(e->message), "k must be an integer in 1..%u", max_k);
        return -1;
    }
    *k = (unsigned)v;
    return 0;
}

int ah_params_parse(const char *query, size_t len, const ah_param_rules_t *rules, char *qbuf,
                    ah_params_t *p, ah_param_error_t *e)
{
    ah_query_iter_t it;
    h2o_iovec_t name, value;
    int have_q = 0, have_k = 0, have_format = 0, have_typos = 0, have_match = 0, have_context = 0;
    char small[16];
    long n;

    p->q = "";
    p->qlen = 0;
    p->k = 0;
    p->opensearch = 0;
    p->typos = rules->default_typos;
    p->match = rules->default_match;
    p->context = NULL;
    p->context_len = 0;
    ah_query_begin_str(&it, query, len);
    while (ah_query_next(&it, &name, &value)) {
        if (name_is(name, H2O_STRLIT("q")) && !have_q) {
            have_q = 1;
            if (value.len > AH_QBUF_BYTES)
                goto too_long;
            if (ah_percent_decode(value.base, value.len, qbuf, &p->qlen) != 0)
                return refuse(e, "bad_percent_encoding",
                              "q has a '%' that is not followed by two hex digits");
            p->q = qbuf;
        } else if (name_is(name, H2O_STRLIT("k")) && !have_k) {
            have_k = 1;
            if (parse_k(value, rules->max_k, &p->k, e) != 0)
                return -1;
        } else if (name_is(name, H2O_STRLIT("format")) && !have_format) {
            have_format = 1;
            n = decode_small(value, small, sizeof(small));
            if (n == 10 && memcmp(small, "opensearch", 10) == 0)
                p->opensearch = 1;
            else if (!(n == 4 && memcmp(small, "json", 4) == 0))
                return refuse(e, "bad_format", "format must be json or opensearch");
        } else if (name_is(name, H2O_STRLIT("typos")) && !have_typos) {
            have_typos = 1;
            n = decode_small(value, small, sizeof(small));
            if (n < 0 || ah_parse_typos(small, (size_t)n, &p->typos) != 0)
                return refuse(e, "bad_typos", "typos must be auto, 0, 1 or 2");
        } else if (name_is(name, H2O_STRLIT("match")) && !have_match) {
            have_match = 1;
            n = decode_small(value, small, sizeof(small));
            if (n < 0 || ah_parse_match(small, (size_t)n, &p->match) != 0)
                return refuse(e, "bad_match", "match must be prefix or words");
        } else if (name_is(name, H2O_STRLIT("context")) && !have_context) {
            have_context = 1;
            n = decode_small(value, p->context_buf, sizeof(p->context_buf));
            const char *v = p->context_buf;
            size_t vlen = n > 0 ? (size_t)n : 0;
            if (n < 0 || ah_context_value_check(&v, &vlen) != 0)
                return refuse(e, "bad_context",
                              "context must be 1-64 bytes of UTF-8 without commas or control "
                              "characters");
            p->context = v;
            p->context_len = vlen;
        }
    }
    if (p->qlen > rules->max_text_bytes)
        goto too_long;
    if (!ah_utf8_valid(p->q, p->qlen))
        return refuse(e, "invalid_utf8", "q is not valid UTF-8 (or contains a NUL or a surrogate)");
    if (p->k == 0)
        p->k = rules->max_k < AH_DEFAULT_K ? rules->max_k : AH_DEFAULT_K;
    return 0;

too_long:
    e->code = "q_too_long";
    snprintf(e->message, sizeof(e->message), "q is longer than %u bytes", rules->max_text_bytes);
    return -1;
}

static void write_json(ah_out_t *o, const ah_params_t *p, const char *index_name,
                       const char *snapshot_hex, const ah_completion_t *c, size_t n, int complete)
{
    ah_out_lit(o, "{\"q\":");
    ah_out_json_string(o, p->q, p->qlen);
    ah_out_lit(o, ",\"index\":");
    ah_out_json_string(o, index_name, strlen(index_name));
    if (p->context) {
        ah_out_lit(o, ",\"context\":");
        ah_out_json_string(o, p->context, p->context_len);
    }
    ah_out_lit(o, ",\"snapshot\":\"");
    ah_out_put(o, snapshot_hex, 16);
    if (complete)
        ah_out_lit(o, "\",\"complete\":true,\"suggestions\":[");
    else
        ah_out_lit(o, "\",\"complete\":false,\"suggestions\":[");
    for (size_t i = 0; i < n; i++) {
        ah_out_put(o, i == 0 ? "{\"text\":" : ",{\"text\":", i == 0 ? 8 : 9);
        ah_out_json_string(o, c[i].text, c[i].text_len);
        ah_out_lit(o, ",\"score\":");
        ah_out_u64(o, c[i].score);
        ah_out_lit(o, ",\"typos\":");
        ah_out_u64(o, c[i].typos);
        ah_out_lit(o, ",\"spans\":[[");
        ah_out_u64(o, c[i].span_start);
        ah_out_lit(o, ",");
        ah_out_u64(o, c[i].span_end);
        ah_out_lit(o, "]]}");
    }
    ah_out_lit(o, "]}");
}

/* The browsers' search-suggestion format: ["q",["text",...]]. */
static void write_opensearch(ah_out_t *o, const ah_params_t *p, const ah_completion_t *c, size_t n)
{
    ah_out_lit(o, "[");
    ah_out_json_string(o, p->q, p->qlen);
    ah_out_lit(o, ",[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ah_out_lit(o, ",");
        ah_out_json_string(o, c[i].text, c[i].text_len);
    }
    ah_out_lit(o, "]]");
}

void ah_write_answer(ah_out_t *o, const ah_params_t *p, const char *index_name,
                     const char *snapshot_hex, const ah_completion_t *c, size_t n, int complete)
{
    if (p->opensearch)
        write_opensearch(o, p, c, n);
    else
        write_json(o, p, index_name, snapshot_hex, c, n, complete);
}
