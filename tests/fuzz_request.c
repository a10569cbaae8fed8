/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request.c: a libFuzzer target for the request path of ahead-serve
 * without its sockets: the query string parsed as the handler parses it
 * (server/request.c: percent-decoding, UTF-8, k, format, typos, match,
 * context),
 * then an answer written from completions whose texts are arbitrary bytes
 * (JSON and OpenSearch), and an error body.
 *
 * Input: byte 0 picks the rules (max_k 1..64, the defaults of typos and
 * match, a small or large max text length); the bytes up to the first '\n'
 * are the query string; each further '\n'-separated piece is a completion
 * text. Checked, beyond the sanitizers:
 *   - a refusal has a code and a message;
 *   - an accepted request has k in 1..max_k, typos auto or 0..2, q valid
 *     UTF-8 and no longer than the maximum;
 *   - every body is valid UTF-8 and parses as JSON (cJSON), and q comes
 *     back from it byte for byte, as does every completion text that was
 *     valid UTF-8.
 * A violation aborts with a message. Built with clang by tests/fuzz.sh
 * (CMake -DAHEAD_FUZZ=ON, in build-fuzz/):
 *
 *   tests/fuzz.sh 60 fuzz_request
 *   build-fuzz/tests/fuzz_request CRASH_FILE          (replay a finding)
 */
#include "request.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "fuzz_request: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define MAX_COMPLETIONS 64

/* The body in one malloc'd, NUL-terminated piece. */
static char *flatten(ah_out_t *o, size_t *len)
{
    size_t n = ah_out_finish(o, len);
    char *flat = malloc(*len + 1);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(flat + at, o->segs[i].base, o->segs[i].len);
        at += o->segs[i].len;
    }
    flat[at] = '\0';
    return flat;
}

static cJSON *parse_body(const char *what, const char *body, size_t len)
{
    if (!ah_utf8_valid(body, len))
        FAIL("%s: the body is not valid UTF-8: %s", what, body);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (j == NULL)
        FAIL("%s: the body is not JSON: %s", what, body);
    return j;
}

static void expect_string(const cJSON *item, const char *s, size_t len, const char *what)
{
    if (!cJSON_IsString(item) || strlen(item->valuestring) != len ||
        memcmp(item->valuestring, s, len) != 0)
        FAIL("%s does not come back from the JSON", what);
}

static void check_error_body(h2o_mem_pool_t *pool, const ah_param_error_t *e)
{
    if (e->code == NULL || e->code[0] == '\0' ||
        memchr(e->message, '\0', sizeof(e->message)) == NULL)
        FAIL("a refusal without a code or a message");
    ah_out_t o;
    ah_out_init(&o, pool);
    ah_out_lit(&o, "{\"error\":{\"code\":");
    ah_out_json_string(&o, e->code, strlen(e->code));
    ah_out_lit(&o, ",\"message\":");
    ah_out_json_string(&o, e->message, strlen(e->message));
    ah_out_lit(&o, "}}");
    size_t len;
    char *body = flatten(&o, &len);
    cJSON_Delete(parse_body("error", body, len));
    free(body);
}

static void check_answer(h2o_mem_pool_t *pool, ah_params_t *p, const ah_completion_t *c, size_t n)
{
    for (int opensearch = 0; opensearch <= 1; opensearch++) {
        p->opensearch = opensearch;
        ah_out_t o;
        ah_out_init(&o, pool);
        ah_write_answer(&o, p, "default", "0123456789abcdef", c, n, n % 2);
        size_t len;
        char *body = flatten(&o, &len);
        cJSON *j = parse_body(opensearch ? "opensearch" : "json", body, len);
        const cJSON *q = opensearch ? cJSON_GetArrayItem(j, 0) : cJSON_GetObjectItem(j, "q");
        expect_string(q, p->q, p->qlen, "q");
        if (!opensearch && p->context)
            expect_string(cJSON_GetObjectItem(j, "context"), p->context, p->context_len, "context");
        const cJSON *list =
            opensearch ? cJSON_GetArrayItem(j, 1) : cJSON_GetObjectItem(j, "suggestions");
        if (cJSON_GetArraySize(list) != (int)n)
            FAIL("%zu completions written, %d read back", n, cJSON_GetArraySize(list));
        for (size_t i = 0; i < n; i++) {
            /* cJSON stops a string at an escaped NUL; a text with one is not compared. */
            if (!ah_utf8_valid(c[i].text, c[i].text_len))
                continue;
            const cJSON *item = cJSON_GetArrayItem(list, (int)i);
            expect_string(opensearch ? item : cJSON_GetObjectItem(item, "text"), c[i].text,
                          c[i].text_len, "a completion's text");
        }
        cJSON_Delete(j);
        free(body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    ah_param_rules_t rules = {.max_k = 1 + (data[0] & 63u),
                              .max_text_bytes = data[0] & 64u ? 16 : AH_MAX_TEXT_BYTES,
                              .default_typos = data[0] & 128u ? AH_TYPOS_AUTO : 1,
                              .default_match = data[0] & 128u ? AH_MATCH_WORDS : AH_MATCH_PREFIX};
    const char *in = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl = memchr(in, '\n', (size_t)(end - in));
    size_t qs_len = (size_t)((nl != NULL ? nl : end) - in);
    /* An exact-size copy: ASan sees a read past the query string. */
    char *query = malloc(qs_len ? qs_len : 1);
    memcpy(query, in, qs_len);
    static char qbuf[AH_QBUF_BYTES];

    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    ah_params_t p;
    ah_param_error_t e = {0};
    if (ah_params_parse(query, qs_len, &rules, qbuf, &p, &e) != 0) {
        check_error_body(&pool, &e);
    } else {
        if (p.k < 1 || p.k > rules.max_k)
            FAIL("k %u outside 1..%u", p.k, rules.max_k);
        if (p.typos != AH_TYPOS_AUTO && (p.typos < 0 || p.typos > 2))
            FAIL("typos %d", p.typos);
        if (p.qlen > rules.max_text_bytes || !ah_utf8_valid(p.q, p.qlen))
            FAIL("q accepted with %zu bytes, or not UTF-8", p.qlen);
        if (p.context) { /* a context accepted is one the builder would accept, trimmed */
            const char *v = p.context;
            size_t vlen = p.context_len;
            if (ah_context_value_check(&v, &vlen) != 0 || v != p.context || vlen != p.context_len)
                FAIL("context accepted with %zu bytes that the builder refuses", p.context_len);
        }
        ah_completion_t c[MAX_COMPLETIONS];
        size_t n = 0;
        for (const char *s = nl != NULL ? nl + 1 : end; s < end && n < MAX_COMPLETIONS; n++) {
            const char *stop = memchr(s, '\n', (size_t)(end - s));
            stop = stop != NULL ? stop : end;
            memset(&c[n], 0, sizeof(c[n]));
            c[n].text = s;
            c[n].text_len = (size_t)(stop - s);
            c[n].score = (uint64_t)n * 1000003u;
            c[n].typos = (unsigned)(n % 3);
            c[n].span_end = (uint32_t)c[n].text_len;
            s = stop + 1;
        }
        check_answer(&pool, &p, c, n);
    }
    h2o_mem_clear_pool(&pool);
    free(query);
    return 0;
}
