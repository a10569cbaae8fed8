/* SPDX-License-Identifier: MIT */
/*
 * request.h: the pure parts of a completion request, apart from libh2o's
 * request object and the event loop: the parameters read from a query
 * string, and the answer's body written from completions. api.c calls them
 * for every request; tests/fuzz_request.c calls them with arbitrary bytes.
 */
#ifndef AH_SERVER_REQUEST_H
#define AH_SERVER_REQUEST_H

#include <stddef.h>

#include "ahead.h"
#include "format.h" /* AH_MAX_CONTEXT_BYTES */
#include "http_util.h"

/* The parameters of a completion request. */
typedef struct ah_params {
    const char *q; /* percent-decoded into the caller's buffer; not NUL-terminated */
    size_t qlen;
    unsigned k; /* 1..max_k */
    int opensearch;
    int typos; /* AH_TYPOS_AUTO or 0..2 */
    ah_match_mode_t match;
    const char *context; /* NULL, or the checked value of context= (in context_buf) */
    size_t context_len;
    char context_buf[4 * AH_MAX_CONTEXT_BYTES];
} ah_params_t;

/* What bounds and defaults the parameters: the snapshot's and the server's. */
typedef struct ah_param_rules {
    unsigned max_k;          /* k may be 1..max_k; the default is min(max_k, AH_DEFAULT_K) */
    unsigned max_text_bytes; /* q may be no longer (decoded) */
    int default_typos;
    ah_match_mode_t default_match;
} ah_param_rules_t;

/* Why a request is refused: always a 400, with a code and a message. */
typedef struct ah_param_error {
    const char *code;
    char message[96];
} ah_param_error_t;

/* Room for a decoded q: a raw q longer than this cannot decode to AH_MAX_TEXT_BYTES. */
#define AH_QBUF_BYTES (3 * AH_MAX_TEXT_BYTES)

/*
 * ah_params_parse: reads query/len (the part after '?', raw) into p: q, k,
 * format, typos, match and context (decoded, its surrounding spaces
 * trimmed, checked by ah_context_value_check()); unknown parameters are
 * ignored and the first of a repeated one wins. q is decoded into qbuf (AH_QBUF_BYTES). Returns 0,
 * or -1 with *e filled.
 */
int ah_params_parse(const char *query, size_t len, const ah_param_rules_t *rules, char *qbuf,
                    ah_params_t *p, ah_param_error_t *e);

/*
 * ah_write_answer: the body of a completion answer into o: JSON, or the
 * OpenSearch array when p->opensearch. snapshot_hex is the 16-digit id.
 * Valid UTF-8 JSON whatever bytes the completions hold.
 */
void ah_write_answer(ah_out_t *o, const ah_params_t *p, const char *index_name,
                     const char *snapshot_hex, const ah_completion_t *c, size_t n, int complete);

#endif /* AH_SERVER_REQUEST_H */
