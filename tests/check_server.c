/* SPDX-License-Identifier: MIT */
/*
 * check_server.c: integration tests of ahead-serve's public API and admin
 * listener, against the real binary on free ports (check_server_harness.h).
 *
 * One server serves two indexes built for this run: "default" (English
 * words, data/sample.tsv) and "es" (Spanish phrases with accents, the first
 * lines of the shared es-ngrams). Answers are compared with what the
 * library itself returns for the same snapshot file, so a test fails if the
 * server changes, drops or reorders anything. Servers with other options
 * (admin token, --max-k, startup errors) are started by their own tests.
 */
#include <check.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ahead.h"
#include "check_server_harness.h"

/* ------------------------------------------------------------------ state */

/* Built once by the fixture, shared by the tests of the "api" case. */
static char g_dir[256], g_default[512], g_es[512], g_alt[512], g_corrupt[512], g_sample[512];
static char g_ctx[512]; /* the sample with contexts: index "ctx" */
static char g_access_log[512];
static ts_server_t g_srv;
static int g_srv_exit; /* ts_server_stop()'s result for g_srv at the fixture's teardown */
static ah_index_t *g_idx_default, *g_idx_es, *g_idx_ctx;

static void build_fixture(void)
{
    char es_tsv[600];
    ts_tmpdir(g_dir, sizeof(g_dir));
    ck_assert_ptr_nonnull(ts_sample_tsv(g_sample, sizeof(g_sample)));
    snprintf(g_default, sizeof(g_default), "%s/default.snap", g_dir);
    snprintf(g_es, sizeof(g_es), "%s/es.snap", g_dir);
    snprintf(g_alt, sizeof(g_alt), "%s/alt.snap", g_dir);
    snprintf(g_corrupt, sizeof(g_corrupt), "%s/corrupt.snap", g_dir);
    snprintf(es_tsv, sizeof(es_tsv), "%s/es.tsv", g_dir);
    snprintf(g_access_log, sizeof(g_access_log), "%s/access.log", g_dir);
    ck_assert_int_eq(ts_build(g_sample, g_default, 0), 0);
    ck_assert_int_eq(ts_head_dataset("es-ngrams.tsv.gz", es_tsv, 30000), 0);
    ck_assert_int_eq(ts_build(es_tsv, g_es, 0), 0);
    /* The alternative snapshot: the same words with k = 20 lists (a different id). */
    ck_assert_int_eq(ts_build(g_sample, g_alt, 20), 0);
    FILE *f = fopen(g_corrupt, "wb");
    fputs("AHEADIDX this is not a snapshot", f);
    fclose(f);
    /* The sample's lines, each in one or two of five contexts (c0..c4), some in none. */
    char ctx_tsv[600], line[1024];
    snprintf(ctx_tsv, sizeof(ctx_tsv), "%s/ctx.tsv", g_dir);
    snprintf(g_ctx, sizeof(g_ctx), "%s/ctx.snap", g_dir);
    FILE *in = fopen(g_sample, "r"), *out = fopen(ctx_tsv, "w");
    ck_assert(in && out);
    for (unsigned i = 0; fgets(line, sizeof(line), in); i++) {
        line[strcspn(line, "\n")] = 0;
        if (i % 7 == 6)
            fprintf(out, "%s\n", line);
        else if (i % 3 == 0)
            fprintf(out, "%s\tc%u, c%u\n", line, i % 5, (i / 5) % 5);
        else
            fprintf(out, "%s\tc%u\n", line, i % 5);
    }
    fclose(in);
    fclose(out);
    ck_assert_int_eq(ts_build(ctx_tsv, g_ctx, 0), 0);
    ck_assert_int_eq(ah_index_open(g_ctx, &g_idx_ctx, NULL, 0), 0);
    ck_assert_int_eq(ah_index_open(g_default, &g_idx_default, NULL, 0), 0);
    ck_assert_int_eq(ah_index_open(g_es, &g_idx_es, NULL, 0), 0);
}

static void api_setup(void)
{
    char es_arg[600], ctx_arg[600];
    build_fixture();
    snprintf(es_arg, sizeof(es_arg), "es=%s", g_es);
    snprintf(ctx_arg, sizeof(ctx_arg), "ctx=%s", g_ctx);
    const char *args[] = {"--threads",       "2",
                          "--index",         es_arg,
                          "--index",         ctx_arg,
                          "--cache-max-age", "123",
                          "--cors-origin",   "https://example.test",
                          "--access-log",    g_access_log,
                          g_default,         NULL};
    ck_assert_msg(ts_server_start(&g_srv, args) == 0, "server did not start; log in %s", g_srv.log);
    ck_assert_msg(ts_server_check_identity(&g_srv, "default", g_default),
                  "the server answering is not the one this test started");
    ck_assert(ts_server_check_identity(&g_srv, "es", g_es));
}

static void api_teardown(void)
{
    g_srv_exit = ts_server_stop(&g_srv, SIGTERM, 10000, NULL);
    ah_index_close(g_idx_default);
    ah_index_close(g_idx_es);
    ah_index_close(g_idx_ctx);
    unlink(g_srv.log);
    ts_rmtree(g_dir);
}

/* ---------------------------------------------------------------- helpers */

static cJSON *get_json(const char *path, long want_status, ts_resp_t *r)
{
    ck_assert_int_eq(ts_get(g_srv.url, path, r), 0);
    ck_assert_msg(r->status == want_status, "%s: status %ld, want %ld; body %s", path, r->status,
                  want_status, r->body);
    cJSON *j = cJSON_Parse(r->body);
    ck_assert_msg(j != NULL, "%s: body is not JSON: %s", path, r->body);
    return j;
}

/* Checks a 4xx error body: {"error":{"code":code,"message":"..."}} and the CORS header. */
static void expect_error(const char *method, const char *path, long status, const char *code)
{
    ts_resp_t r;
    char url[8192], v[256];
    snprintf(url, sizeof(url), "%s%s", g_srv.url, path);
    ck_assert_int_eq(ts_http(method, url, NULL, 0, &r), 0);
    ck_assert_msg(r.status == status, "%s %s: status %ld, want %ld (%s)", method, path, r.status,
                  status, r.body);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_msg(j != NULL, "%s: error body is not JSON: %s", path, r.body);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "code")), code);
    ck_assert(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"))) > 0);
    ck_assert(ts_header(&r, "access-control-allow-origin", v, sizeof(v)));
    ck_assert_str_eq(v, "https://example.test");
    ck_assert(ts_header(&r, "content-type", v, sizeof(v)));
    ck_assert_str_eq(v, "application/json; charset=utf-8");
    cJSON_Delete(j);
    ts_resp_free(&r);
}

/*
 * The server's suggestions must equal the library's for the same prefix, k
 * and matching (typos: AH_TYPOS_AUTO or 0..2; words: match=words), with
 * every field: text, score, typos and the highlight span.
 */
static void expect_same_lookup(ah_index_t *idx, cJSON *answer, const char *prefix, size_t plen,
                               unsigned k, int typos, int words)
{
    ah_completion_t out[64];
    static char text[AH_COMPLETE_TEXT_BYTES(64)];
    size_t n = 0;
    int complete = 0;
    ah_lookup_options_t opt = {
        .k = k, .typos = typos, .match = words ? AH_MATCH_WORDS : AH_MATCH_PREFIX};
    ck_assert_int_eq(
        ah_index_lookup(idx, prefix, plen, &opt, out, text, sizeof(text), &n, &complete), 0);
    ck_assert(cJSON_IsBool(cJSON_GetObjectItem(answer, "complete")));
    ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItem(answer, "complete")), complete);
    cJSON *suggestions = cJSON_GetObjectItem(answer, "suggestions");
    ck_assert_int_eq(cJSON_GetArraySize(suggestions), (int)n);
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_GetArrayItem(suggestions, (int)i);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(s, "text"));
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(strlen(t), out[i].text_len);
        ck_assert(memcmp(t, out[i].text, out[i].text_len) == 0);
        ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "score")) == (double)out[i].score);
        ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "typos")) == (double)out[i].typos);
        cJSON *spans = cJSON_GetObjectItem(s, "spans");
        ck_assert_int_eq(cJSON_GetArraySize(spans), 1);
        cJSON *span = cJSON_GetArrayItem(spans, 0);
        ck_assert_int_eq(cJSON_GetArraySize(span), 2);
        ck_assert(cJSON_GetNumberValue(cJSON_GetArrayItem(span, 0)) == (double)out[i].span_start);
        ck_assert(cJSON_GetNumberValue(cJSON_GetArrayItem(span, 1)) == (double)out[i].span_end);
    }
}

/* The same, with the server's default matching (typos=auto, match=words). */
static void expect_same_as_library(ah_index_t *idx, cJSON *answer, const char *prefix, size_t plen,
                                   unsigned k)
{
    expect_same_lookup(idx, answer, prefix, plen, k, AH_TYPOS_AUTO, 1);
}

static const char *snapshot_id(ah_index_t *idx, char *buf)
{
    ah_index_stats_t st;
    ah_index_stats(idx, &st);
    memcpy(buf, st.id_hex, 17);
    return buf;
}

/* ----------------------------------------------------------- public API */

START_TEST(test_complete_default)
{
    ts_resp_t r;
    char v[256], id[17];
    cJSON *j = get_json("/v1/complete?q=th", 200, &r);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "q")), "th");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "index")), "default");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "snapshot")),
                     snapshot_id(g_idx_default, id));
    cJSON *s = cJSON_GetObjectItem(j, "suggestions");
    ck_assert_int_eq(cJSON_GetArraySize(s), 10); /* the default k */
    expect_same_as_library(g_idx_default, j, "th", 2, 10);
    ck_assert(ts_header(&r, "content-type", v, sizeof(v)));
    ck_assert_str_eq(v, "application/json; charset=utf-8");
    ck_assert(ts_header(&r, "content-length", v, sizeof(v)));
    ck_assert_int_eq(atol(v), (long)r.len);
    ck_assert(ts_header(&r, "access-control-allow-origin", v, sizeof(v)));
    ck_assert_str_eq(v, "https://example.test");
    cJSON_Delete(j);
    ts_resp_free(&r);
}
END_TEST

START_TEST(test_k_values)
{
    ts_resp_t r;
    cJSON *j = get_json("/v1/complete?q=a&k=3", 200, &r);
    expect_same_as_library(g_idx_default, j, "a", 1, 3);
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/complete?k=1&q=a", 200, &r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 1);
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/complete?q=a&k=10", 200, &r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 10);
    cJSON_Delete(j);
    ts_resp_free(&r);
    static const char *const bad[] = {"0",   "11",          "-1", "abc", "1.5", "",
                                      "1e3", "99999999999", "+3", "%20", "3x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/complete?q=a&k=%s", bad[i]);
        expect_error("GET", path, 400, "bad_k");
    }
}
END_TEST

START_TEST(test_empty_q_is_overall_top)
{
    ts_resp_t r;
    cJSON *j = get_json("/v1/complete?q=&k=5", 200, &r);
    expect_same_as_library(g_idx_default, j, "", 0, 5);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 5);
    cJSON_Delete(j);
    ts_resp_free(&r);
    /* No q at all is the empty prefix too. */
    j = get_json("/v1/complete", 200, &r);
    expect_same_as_library(g_idx_default, j, "", 0, 10);
    cJSON_Delete(j);
    ts_resp_free(&r);
}
END_TEST

START_TEST(test_opensearch)
{
    ts_resp_t r, rj;
    char v[256];
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?q=wh&format=opensearch&k=4", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(ts_header(&r, "content-type", v, sizeof(v)));
    ck_assert_str_eq(v, "application/x-suggestions+json");
    cJSON *j = cJSON_Parse(r.body);
    ck_assert(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(j, 0)), "wh");
    cJSON *texts = cJSON_GetArrayItem(j, 1);
    cJSON *full = get_json("/v1/complete?q=wh&k=4&format=json", 200, &rj);
    cJSON *s = cJSON_GetObjectItem(full, "suggestions");
    ck_assert_int_eq(cJSON_GetArraySize(texts), cJSON_GetArraySize(s));
    ck_assert_int_eq(cJSON_GetArraySize(texts), 4);
    for (int i = 0; i < cJSON_GetArraySize(s); i++)
        ck_assert_str_eq(
            cJSON_GetStringValue(cJSON_GetArrayItem(texts, i)),
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(s, i), "text")));
    cJSON_Delete(j);
    cJSON_Delete(full);
    ts_resp_free(&r);
    ts_resp_free(&rj);
    expect_error("GET", "/v1/complete?q=wh&format=xml", 400, "bad_format");
}
END_TEST

/* The matching parameters: typos and match, every combination against the library. */
START_TEST(test_typos_and_words)
{
    static const char *const prefixes[] = {"quijote",    "qujote",       "don qu",
                                           "panza que",  "dulcinae del", "rocinente y",
                                           "del toboso", "sancho pza"};
    static const char *const typos[] = {"auto", "0", "1", "2"};
    static const int typos_value[] = {AH_TYPOS_AUTO, 0, 1, 2};
    int saw_mid = 0, saw_typo = 0;
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++)
        for (size_t t = 0; t < 4; t++)
            for (int words = 0; words <= 1; words++) {
                ts_resp_t r;
                char path[256], q[64];
                snprintf(q, sizeof(q), "%s", prefixes[p]);
                for (char *c = q; *c; c++)
                    *c = *c == ' ' ? '+' : *c;
                snprintf(path, sizeof(path), "/v1/indexes/es/complete?q=%s&k=8&typos=%s&match=%s",
                         q, typos[t], words ? "words" : "prefix");
                cJSON *j = get_json(path, 200, &r);
                expect_same_lookup(g_idx_es, j, prefixes[p], strlen(prefixes[p]), 8, typos_value[t],
                                   words);
                cJSON *sug = cJSON_GetObjectItem(j, "suggestions");
                for (int i = 0; i < cJSON_GetArraySize(sug); i++) {
                    cJSON *one = cJSON_GetArrayItem(sug, i);
                    saw_typo |= cJSON_GetNumberValue(cJSON_GetObjectItem(one, "typos")) > 0;
                    saw_mid |=
                        cJSON_GetNumberValue(cJSON_GetArrayItem(
                            cJSON_GetArrayItem(cJSON_GetObjectItem(one, "spans"), 0), 0)) > 0;
                }
                cJSON_Delete(j);
                ts_resp_free(&r);
            }
    /* The data does exercise both: matches with typos, and matches inside phrases. */
    ck_assert(saw_typo && saw_mid);
    /* Defaults are typos=auto and match=words: the same answer as spelling them out. */
    ts_resp_t a, b;
    cJSON *ja = get_json("/v1/indexes/es/complete?q=qujote&k=8", 200, &a);
    cJSON *jb = get_json("/v1/indexes/es/complete?q=qujote&k=8&typos=auto&match=words", 200, &b);
    ck_assert_str_eq(a.body, b.body);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    ts_resp_free(&a);
    ts_resp_free(&b);
    /* The first of a repeated parameter counts. */
    ja = get_json("/v1/indexes/es/complete?q=qujote&k=8&typos=0&typos=2", 200, &a);
    expect_same_lookup(g_idx_es, ja, "qujote", 6, 8, 0, 1);
    cJSON_Delete(ja);
    ts_resp_free(&a);
    /* Each setting has its own ETag. */
    char e1[128], e2[128];
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/indexes/es/complete?q=quijote&typos=0", &a), 0);
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/indexes/es/complete?q=quijote&typos=1", &b), 0);
    ck_assert(ts_header(&a, "etag", e1, sizeof(e1)) && ts_header(&b, "etag", e2, sizeof(e2)));
    ck_assert_str_ne(e1, e2);
    ts_resp_free(&a);
    ts_resp_free(&b);
    /* The OpenSearch format keeps its shape: the same texts, nothing else. */
    ck_assert_int_eq(
        ts_get(g_srv.url, "/v1/indexes/es/complete?q=qujote&k=8&format=opensearch", &a), 0);
    jb = get_json("/v1/indexes/es/complete?q=qujote&k=8", 200, &b);
    ja = cJSON_Parse(a.body);
    ck_assert(cJSON_IsArray(ja) && cJSON_GetArraySize(ja) == 2);
    cJSON *texts = cJSON_GetArrayItem(ja, 1), *sug = cJSON_GetObjectItem(jb, "suggestions");
    ck_assert_int_eq(cJSON_GetArraySize(texts), cJSON_GetArraySize(sug));
    for (int i = 0; i < cJSON_GetArraySize(sug); i++)
        ck_assert_str_eq(
            cJSON_GetStringValue(cJSON_GetArrayItem(texts, i)),
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(sug, i), "text")));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    ts_resp_free(&a);
    ts_resp_free(&b);
    static const char *const bad_typos[] = {"3", "-1", "x", "", "autox", "1%20", "%41uto"};
    for (size_t i = 0; i < sizeof(bad_typos) / sizeof(bad_typos[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/complete?q=abcd&typos=%s", bad_typos[i]);
        expect_error("GET", path, 400, "bad_typos");
    }
    static const char *const bad_match[] = {"infix", "", "Prefix", "words2", "%zz"};
    for (size_t i = 0; i < sizeof(bad_match) / sizeof(bad_match[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/complete?q=abcd&match=%s", bad_match[i]);
        expect_error("GET", path, 400, "bad_match");
    }
}
END_TEST

START_TEST(test_percent_encoding_and_utf8)
{
    ts_resp_t r;
    /* %74%68 is "th"; '+' is a space. */
    cJSON *j = get_json("/v1/complete?q=%74%68", 200, &r);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "q")), "th");
    expect_same_as_library(g_idx_default, j, "th", 2, 10);
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/complete?q=i+d", 200, &r);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "q")), "i d");
    cJSON_Delete(j);
    ts_resp_free(&r);
    /* JSON escaping of the echoed q. */
    j = get_json("/v1/complete?q=%22%5C%0A%01", 200, &r);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "q")), "\"\\\n\x01");
    cJSON_Delete(j);
    ts_resp_free(&r);

    expect_error("GET", "/v1/complete?q=%zz", 400, "bad_percent_encoding");
    expect_error("GET", "/v1/complete?q=ab%4", 400, "bad_percent_encoding");
    expect_error("GET", "/v1/complete?q=%", 400, "bad_percent_encoding");
    expect_error("GET", "/v1/complete?q=%E2%82", 400, "invalid_utf8");    /* truncated */
    expect_error("GET", "/v1/complete?q=%C0%AF", 400, "invalid_utf8");    /* overlong */
    expect_error("GET", "/v1/complete?q=%ED%A0%80", 400, "invalid_utf8"); /* surrogate */
    expect_error("GET", "/v1/complete?q=%FF", 400, "invalid_utf8");
    expect_error("GET", "/v1/complete?q=a%00b", 400, "invalid_utf8");
}
END_TEST

START_TEST(test_q_too_long)
{
    ah_index_stats_t st;
    ah_index_stats(g_idx_default, &st);
    char *path = malloc(st.max_text_bytes * 3 + 64);
    /* Exactly the limit is accepted... */
    int n = sprintf(path, "/v1/complete?q=");
    memset(path + n, 'a', st.max_text_bytes);
    path[n + st.max_text_bytes] = '\0';
    ts_resp_t r;
    ck_assert_int_eq(ts_get(g_srv.url, path, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    /* ...one byte more is not, and neither is a much longer one, encoded or not. */
    strcat(path, "a");
    expect_error("GET", path, 400, "q_too_long");
    n = sprintf(path, "/v1/complete?q=");
    for (unsigned i = 0; i < st.max_text_bytes / 2 + 1; i++)
        n += sprintf(path + n, "%%C3%%A9"); /* "é", two bytes */
    expect_error("GET", path, 400, "q_too_long");
    free(path);
}
END_TEST

START_TEST(test_named_index_and_unicode)
{
    ts_resp_t r;
    char id[17];
    /* "Coraz%C3%B3n" is "Corazón": normalization folds case and accents. */
    cJSON *j = get_json("/v1/indexes/es/complete?q=Coraz%C3%B3n&k=5", 200, &r);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "q")), "Corazón");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "index")), "es");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "snapshot")),
                     snapshot_id(g_idx_es, id));
    expect_same_as_library(g_idx_es, j, "Corazón", strlen("Corazón"), 5);
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/indexes/es/complete?q=corazon&k=5", 200, &r);
    cJSON *s2 = cJSON_GetObjectItem(j, "suggestions");
    ck_assert_int_gt(cJSON_GetArraySize(s2), 0);
    expect_same_as_library(g_idx_es, j, "corazon", 7, 5);
    /* The display text keeps its accent. */
    ck_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(s2, 0), "text")),
                     "ó") != NULL);
    cJSON_Delete(j);
    ts_resp_free(&r);
    /* The default index is also reachable by name. */
    j = get_json("/v1/indexes/default/complete?q=th&k=2", 200, &r);
    expect_same_as_library(g_idx_default, j, "th", 2, 2);
    cJSON_Delete(j);
    ts_resp_free(&r);
    expect_error("GET", "/v1/indexes/nope/complete?q=a", 404, "unknown_index");
    expect_error("GET", "/v1/indexes/%22bad%22/complete?q=a", 404, "unknown_index");
}
END_TEST

START_TEST(test_paths_and_methods)
{
    expect_error("GET", "/index.html", 404, "not_found");
    expect_error("GET", "/ui/", 404, "not_found");
    expect_error("GET", "/v1", 404, "not_found");
    expect_error("GET", "/v1/indexes/es", 404, "not_found");
    expect_error("GET", "/v1/indexes/es/complete/x", 404, "not_found");
    expect_error("GET", "/v2/complete?q=a", 404, "not_found");
    expect_error("POST", "/v1/complete?q=a", 405, "method_not_allowed");
    expect_error("DELETE", "/v1/indexes/es/complete?q=a", 405, "method_not_allowed");
    expect_error("PUT", "/healthz", 405, "method_not_allowed");
    ts_resp_t r;
    char v[128], url[256];
    snprintf(url, sizeof(url), "%s/v1/complete?q=a", g_srv.url);
    ck_assert_int_eq(ts_http("POST", url, NULL, 0, &r), 0);
    ck_assert(ts_header(&r, "allow", v, sizeof(v)));
    ck_assert_str_eq(v, "GET, HEAD, OPTIONS");
    ts_resp_free(&r);
    /* HEAD: headers and length of the body, no body. */
    ck_assert_int_eq(ts_http("HEAD", url, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.len, 0);
    ck_assert(ts_header(&r, "content-length", v, sizeof(v)));
    ck_assert_int_gt(atol(v), 10);
    ts_resp_free(&r);
}
END_TEST

/* The search box and the API description, compiled in; and GET /v1/indexes. */
START_TEST(test_page_and_api_description)
{
    static const struct {
        const char *path, *ctype, *needle;
    } files[] = {
        {"/", "text/html; charset=utf-8", "<script type=\"module\" src=\"/ui/app.js\">"},
        {"/ui/app.js", "text/javascript; charset=utf-8", "from \"/ahead-autocomplete.js\""},
        {"/ui/app.css", "text/css; charset=utf-8", ".ahead-listbox"},
        {"/ahead-autocomplete.js", "text/javascript; charset=utf-8", "aria-activedescendant"},
        {"/openapi.json", "application/json; charset=utf-8", "\"openapi\": \"3.1.0\""},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        ts_resp_t r, r2;
        char v[512], etag[64], url[256], hdr[128];
        ck_assert_int_eq(ts_get(g_srv.url, files[i].path, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert(ts_header(&r, "content-type", v, sizeof(v)));
        ck_assert_str_eq(v, files[i].ctype);
        ck_assert_ptr_nonnull(strstr(r.body, files[i].needle));
        ck_assert(ts_header(&r, "x-content-type-options", v, sizeof(v)));
        ck_assert(ts_header(&r, "etag", etag, sizeof(etag)));
        if (i == 0) { /* the page may load only its own script and style, and talk to its origin */
            ck_assert(ts_header(&r, "content-security-policy", v, sizeof(v)));
            ck_assert_ptr_nonnull(strstr(v, "script-src 'self'"));
            ck_assert_ptr_null(strstr(v, "unsafe"));
        }
        /* Revalidation: the same ETag is a 304 without a body. */
        snprintf(url, sizeof(url), "%s%s", g_srv.url, files[i].path);
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
        const char *headers[] = {hdr, NULL};
        ck_assert_int_eq(ts_http("GET", url, headers, 0, &r2), 0);
        ck_assert_int_eq(r2.status, 304);
        ck_assert_int_eq(r2.len, 0);
        ts_resp_free(&r2);
        ck_assert_int_eq(ts_http("HEAD", url, NULL, 0, &r2), 0);
        ck_assert_int_eq(r2.status, 200);
        ck_assert_int_eq(r2.len, 0);
        ts_resp_free(&r2);
        ts_resp_free(&r);
        expect_error("POST", files[i].path, 405, "method_not_allowed");
    }
    /* The document is JSON, and names every public path. */
    ts_resp_t r;
    ck_assert_int_eq(ts_get(g_srv.url, "/openapi.json", &r), 0);
    cJSON *doc = cJSON_Parse(r.body);
    ck_assert_ptr_nonnull(doc);
    cJSON *paths = cJSON_GetObjectItem(doc, "paths");
    static const char *const names[] = {
        "/v1/complete", "/v1/indexes/{name}/complete", "/v1/indexes", "/healthz", "/readyz", "/",
        "/openapi.json"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_msg(cJSON_GetObjectItem(paths, names[i]) != NULL, "openapi.json lacks %s",
                      names[i]);
    cJSON_Delete(doc);
    ts_resp_free(&r);
    /* The indexes, and the snapshot each answers from. */
    char id[17];
    cJSON *j = get_json("/v1/indexes", 200, &r);
    cJSON *list = cJSON_GetObjectItem(j, "indexes");
    ck_assert_int_eq(cJSON_GetArraySize(list), 3);
    cJSON *d = cJSON_GetArrayItem(list, 0);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "name")), "default");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(d, "ready")));
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "snapshot")),
                     snapshot_id(g_idx_default, id));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(d, "infix")));
    ck_assert_ptr_null(cJSON_GetObjectItem(d, "path")); /* file paths stay on the admin side */
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "name")),
                     "es");
    cJSON_Delete(j);
    ts_resp_free(&r);
    /* Answers say how long the server took. */
    char v[128];
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?q=timing-probe", &r), 0);
    ck_assert(ts_header(&r, "server-timing", v, sizeof(v)));
    ck_assert_msg(strncmp(v, "lookup;dur=", 11) == 0 || strncmp(v, "cache;dur=", 10) == 0, "%s", v);
    /* Milliseconds with three decimals, and nothing after them: 0.012, 3.500, 12.000. */
    const char *dur = strchr(v, '=') + 1, *dot = strchr(dur, '.');
    ck_assert_msg(dot && dot > dur && strspn(dur, "0123456789") == (size_t)(dot - dur) &&
                      strlen(dot + 1) == 3 && strspn(dot + 1, "0123456789") == 3 &&
                      (dot - dur == 1 || dur[0] != '0') && strtod(dur, NULL) < 10000,
                  "%s", v);
    ts_resp_free(&r);
}
END_TEST

START_TEST(test_cors_preflight)
{
    ts_resp_t r;
    char v[256], url[256];
    const char *h[] = {"Origin: https://example.test", "Access-Control-Request-Method: GET",
                       "Access-Control-Request-Headers: if-none-match, x-custom", NULL};
    snprintf(url, sizeof(url), "%s/v1/complete?q=a", g_srv.url);
    ck_assert_int_eq(ts_http("OPTIONS", url, h, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_int_eq(r.len, 0);
    ck_assert(ts_header(&r, "access-control-allow-origin", v, sizeof(v)));
    ck_assert_str_eq(v, "https://example.test");
    ck_assert(ts_header(&r, "access-control-allow-methods", v, sizeof(v)));
    ck_assert_str_eq(v, "GET, HEAD, OPTIONS");
    ck_assert(ts_header(&r, "access-control-allow-headers", v, sizeof(v)));
    /* A fixed list, not an echo of what was asked (issue 9). */
    ck_assert_str_eq(v, "If-None-Match, Accept, Accept-Language, Content-Language, Content-Type");
    ck_assert(ts_header(&r, "access-control-max-age", v, sizeof(v)));
    ts_resp_free(&r);
    snprintf(url, sizeof(url), "%s/v1/indexes/es/complete", g_srv.url);
    ck_assert_int_eq(ts_http("OPTIONS", url, h, 0, &r), 0);
    ck_assert_int_eq(r.status, 204);
    ts_resp_free(&r);
}
END_TEST

START_TEST(test_etag_and_304)
{
    ts_resp_t r, r2;
    char etag[128], etag2[128], v[256], url[256], inm[300];
    snprintf(url, sizeof(url), "%s/v1/complete?q=wor&k=3", g_srv.url);
    ck_assert_int_eq(ts_http("GET", url, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(ts_header(&r, "etag", etag, sizeof(etag)));
    ck_assert(etag[0] == '"' && etag[strlen(etag) - 1] == '"');
    ck_assert(ts_header(&r, "cache-control", v, sizeof(v)));
    ck_assert_str_eq(v, "public, max-age=123");

    /* The same request (parameters reordered, an unknown one added) has the same ETag. */
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?k=3&utm=x&q=wor", &r2), 0);
    ck_assert(ts_header(&r2, "etag", etag2, sizeof(etag2)));
    ck_assert_str_eq(etag, etag2);
    ck_assert_str_eq(r.body, r2.body);
    ts_resp_free(&r2);
    /* Another request has another. */
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?q=wor&k=4", &r2), 0);
    ck_assert(ts_header(&r2, "etag", etag2, sizeof(etag2)));
    ck_assert_str_ne(etag, etag2);
    ts_resp_free(&r2);
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?q=wor&k=3&format=opensearch", &r2), 0);
    ck_assert(ts_header(&r2, "etag", etag2, sizeof(etag2)));
    ck_assert_str_ne(etag, etag2);
    ts_resp_free(&r2);

    static const char *const forms[] = {"%s", "W/%s", "\"zzz\", %s", "*"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char value[200];
        snprintf(value, sizeof(value), forms[i], etag);
        snprintf(inm, sizeof(inm), "If-None-Match: %s", value);
        const char *h[] = {inm, NULL};
        ck_assert_int_eq(ts_http("GET", url, h, 0, &r2), 0);
        ck_assert_msg(r2.status == 304, "If-None-Match: %s gave %ld", value, r2.status);
        ck_assert_int_eq(r2.len, 0);
        ck_assert(ts_header(&r2, "etag", etag2, sizeof(etag2)));
        ck_assert_str_eq(etag, etag2);
        ck_assert(ts_header(&r2, "access-control-allow-origin", v, sizeof(v)));
        ts_resp_free(&r2);
    }
    const char *h[] = {"If-None-Match: \"0000000000000000-0000000000000000\"", NULL};
    ck_assert_int_eq(ts_http("GET", url, h, 0, &r2), 0);
    ck_assert_int_eq(r2.status, 200);
    ts_resp_free(&r2);
    /* Errors carry no validators and are not cacheable. */
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?q=a&k=0", &r2), 0);
    ck_assert(!ts_header(&r2, "etag", v, sizeof(v)));
    ck_assert(ts_header(&r2, "cache-control", v, sizeof(v)));
    ck_assert_str_eq(v, "no-store");
    ts_resp_free(&r2);
    ts_resp_free(&r);
}
END_TEST

/*
 * context=V: answers equal the library's in V's index, the same q in other
 * contexts (and none) answered each from its own (the response cache and
 * the ETag keep them apart), an unknown V empty, a bad one a 400; the
 * values listed with their sizes, and counted in /v1/indexes.
 */
START_TEST(test_contexts)
{
    static const char *const qs[] = {"w", "wor", "th", "", "wrld", "a", "york"};
    static const char *const values[] = {"c0", "c1", "c4", "c2", "c3", "c0"};
    ts_resp_t r;
    char path[256], etag[128], prev[128] = "";
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        for (size_t v = 0; v <= sizeof(values) / sizeof(values[0]); v++) {
            int none = v == sizeof(values) / sizeof(values[0]);
            snprintf(path, sizeof(path), "/v1/indexes/ctx/complete?q=%s&k=6%s%s", qs[i],
                     none ? "" : "&context=", none ? "" : values[v]);
            cJSON *j = get_json(path, 200, &r);
            const ah_index_t *in =
                none ? g_idx_ctx : ah_index_context(g_idx_ctx, values[v], strlen(values[v]));
            ck_assert_ptr_nonnull(in);
            expect_same_as_library((ah_index_t *)in, j, qs[i], strlen(qs[i]), 6);
            cJSON *c = cJSON_GetObjectItem(j, "context");
            if (none)
                ck_assert_ptr_null(c);
            else
                ck_assert_str_eq(cJSON_GetStringValue(c), values[v]);
            ck_assert(ts_header(&r, "etag", etag, sizeof(etag)));
            if (v != 5) /* c0 twice in a row: then the same request, the same ETag */
                ck_assert_str_ne(etag, prev);
            else
                ck_assert_str_ne(etag, "");
            snprintf(prev, sizeof(prev), "%s", etag);
            cJSON_Delete(j);
            ts_resp_free(&r);
        }
    }
    /* Spaces around are trimmed; an unknown value is an empty answer. */
    cJSON *j = get_json("/v1/indexes/ctx/complete?q=w&context=%20c1%20", 200, &r);
    expect_same_as_library((ah_index_t *)ah_index_context(g_idx_ctx, "c1", 2), j, "w", 1, 10);
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/indexes/ctx/complete?q=w&context=c9", 200, &r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 0);
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/complete?q=w&context=c1", 200, &r); /* an index without contexts */
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 0);
    cJSON_Delete(j);
    ts_resp_free(&r);
    static const char *const bad[] = {
        "",
        "%20",
        "a,b",
        "%01",
        "%C3",
        "a%7F",
        "12345678901234567890123456789012345678901234567890123456789012345"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/v1/indexes/ctx/complete?q=w&context=%s", bad[i]);
        expect_error("GET", path, 400, "bad_context");
    }
    /* The listing, and the count. */
    j = get_json("/v1/indexes/ctx/contexts", 200, &r);
    cJSON *list = cJSON_GetObjectItem(j, "contexts");
    ck_assert_int_eq(cJSON_GetArraySize(list), 5);
    for (int i = 0; i < 5; i++) {
        cJSON *e = cJSON_GetArrayItem(list, i);
        char want[8];
        snprintf(want, sizeof(want), "c%d", i);
        ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "value")), want);
        ah_index_stats_t st;
        ah_index_stats(ah_index_context(g_idx_ctx, want, 2), &st);
        ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "entries")) == (double)st.entries);
    }
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/indexes/default/contexts", 200, &r);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "contexts")), 0);
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/v1/indexes", 200, &r);
    cJSON *ix = cJSON_GetObjectItem(j, "indexes");
    for (int i = 0; i < cJSON_GetArraySize(ix); i++) {
        cJSON *e = cJSON_GetArrayItem(ix, i);
        int is_ctx = strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")), "ctx") == 0;
        ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "contexts")) == (is_ctx ? 5 : 0));
    }
    cJSON_Delete(j);
    ts_resp_free(&r);
    expect_error("GET", "/v1/indexes/nope/contexts", 404, "unknown_index");
}
END_TEST

START_TEST(test_health)
{
    ts_resp_t r;
    cJSON *j = get_json("/healthz", 200, &r);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "ok");
    cJSON_Delete(j);
    ts_resp_free(&r);
    j = get_json("/readyz", 200, &r);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "ready");
    cJSON_Delete(j);
    ts_resp_free(&r);
}
END_TEST

START_TEST(test_h2c)
{
    ts_resp_t r1, r2;
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/complete?q=th&k=5", g_srv.url);
    ck_assert_int_eq(ts_http("GET", url, NULL, TS_H2C, &r2), 0);
    ck_assert_int_eq(r2.status, 200);
    ck_assert_int_eq(r2.http_version, CURL_HTTP_VERSION_2_0);
    ck_assert_int_eq(ts_http("GET", url, NULL, 0, &r1), 0);
    ck_assert_str_eq(r1.body, r2.body);
    ts_resp_free(&r1);
    ts_resp_free(&r2);
}
END_TEST

/* Two requests on one libcurl handle: the second must reuse the connection. */
START_TEST(test_keep_alive)
{
    char url[256];
    long connects = -1;
    snprintf(url, sizeof(url), "%s/v1/complete?q=th", g_srv.url);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        ck_assert_int_eq(connects, i == 0 ? 1 : 0);
    }
    /* An error answer keeps the connection too. */
    snprintf(url, sizeof(url), "%s/v1/complete?q=%%zz", g_srv.url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    snprintf(url, sizeof(url), "%s/healthz", g_srv.url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    ck_assert_int_eq(connects, 0);
    curl_easy_cleanup(c);
    fclose(devnull);
}
END_TEST

/* Whatever a client sends, the answer is never a 5xx (and the server keeps running). */
START_TEST(test_never_5xx)
{
    static const char *const paths[] = {"/v1/complete?q=%%%",
                                        "/v1/complete?q=%F0%9F%98%80",
                                        "/v1/complete?q=%F0%9F%98",
                                        "/v1/complete?&&&=&q",
                                        "/v1/complete?q=a&q=%zz",
                                        "/v1/complete?k=&q=",
                                        "/v1/complete?k=%31%30",
                                        "/v1/complete?format=&q=a",
                                        "/v1/complete?q=%E2%80%A8",
                                        "/v1/indexes//complete",
                                        "/v1/indexes/../complete",
                                        "/v1/indexes/%2e%2e/complete",
                                        "/v1/complete/../../etc/passwd",
                                        "/%00",
                                        "/v1/complete?q=%C2%A0%C2%A0x%20%20",
                                        "/v1/complete?q=%EF%AC%80",
                                        "/v1/complete?q=%E1%BA%9E",
                                        "/v1/complete?q=%CC%81"};
    char url[512];
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ts_resp_t r;
        snprintf(url, sizeof(url), "%s%s", g_srv.url, paths[i]);
        ck_assert_int_eq(ts_http("GET", url, NULL, 0, &r), 0);
        ck_assert_msg(r.status >= 200 && r.status < 500, "%s gave %ld", paths[i], r.status);
        ts_resp_free(&r);
    }
    /* Random bytes, percent-encoded, as q. */
    srand(12345);
    for (int i = 0; i < 300; i++) {
        int n = sprintf(url, "%s/v1/complete?k=%d&q=", g_srv.url, 1 + rand() % 10);
        int len = rand() % 12;
        for (int b = 0; b < len; b++)
            n += sprintf(url + n, "%%%02X", rand() % 256);
        ts_resp_t r;
        ck_assert_int_eq(ts_http("GET", url, NULL, 0, &r), 0);
        ck_assert_msg(r.status == 200 || r.status == 400, "%s gave %ld", url, r.status);
        ts_resp_free(&r);
    }
    ts_resp_t r;
    ck_assert_int_eq(ts_get(g_srv.url, "/healthz", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
}
END_TEST

START_TEST(test_access_log)
{
    ts_resp_t r;
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?q=access-log-probe", &r), 0);
    ts_resp_free(&r);
    int found = 0;
    for (int i = 0; i < 50 && !found; i++) {
        FILE *f = fopen(g_access_log, "r");
        char line[2048];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
            found |= strstr(line, "GET /v1/complete?q=access-log-probe") != NULL;
        if (f != NULL)
            fclose(f);
        if (!found)
            ts_sleep_ms(20);
    }
    ck_assert_msg(found, "request not in the access log");
}
END_TEST

/* ------------------------------------------------------------------ admin */

START_TEST(test_admin_indexes)
{
    ts_resp_t r;
    char id[17];
    ck_assert_int_eq(ts_admin(&g_srv, "GET", "/admin/indexes", &r), 0);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "ready")));
    cJSON *list = cJSON_GetObjectItem(j, "indexes");
    ck_assert_int_eq(cJSON_GetArraySize(list), 3);
    cJSON *d = cJSON_GetArrayItem(list, 0);
    ah_index_stats_t st;
    ah_index_stats(g_idx_default, &st);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "name")), "default");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "path")), g_default);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "snapshot")),
                     snapshot_id(g_idx_default, id));
    ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "entries")) == (double)st.entries);
    ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "bytes")) == (double)st.file_bytes);
    ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "topk")) == (double)st.topk);
    ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(d, "loaded_at")));
    /* Served from a private copy by default, advised into huge pages where the kernel has them. */
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "memory")),
                     ah_huge_pages_available() ? "copy, huge pages" : "copy");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "name")),
                     "es");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(d, "infix")));
    ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "contexts")) == 0);
    cJSON *c = cJSON_GetArrayItem(list, 2);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")), "ctx");
    ck_assert(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "contexts")) == 5);
    cJSON_Delete(j);
    ts_resp_free(&r);
}
END_TEST

START_TEST(test_admin_metrics)
{
    ts_resp_t r;
    char id[17], line[1024];
    /* One request of each kind, so the counters exist. */
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/indexes/es/complete?q=de", &r), 0);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(g_srv.url, "/nope", &r), 0);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_admin(&g_srv, "GET", "/metrics", &r), 0);
    ck_assert_int_eq(r.status, 200);
    char v[128];
    ck_assert(ts_header(&r, "content-type", v, sizeof(v)));
    ck_assert(strncmp(v, "text/plain; version=0.0.4", 25) == 0);
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_requests_total{index=\"es\",code=\"200\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_requests_total{index=\"\",code=\"404\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE ahead_request_duration_seconds histogram"));
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_request_duration_seconds_bucket{le=\"+Inf\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_request_duration_seconds_count "));
    snprintf(line, sizeof(line),
             "ahead_snapshot_info{index=\"default\",snapshot=\"%s\",path=\"%s\"} 1",
             snapshot_id(g_idx_default, id), g_default);
    ck_assert_msg(strstr(r.body, line) != NULL, "missing %s", line);
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_snapshot_entries{index=\"es\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_snapshot_bytes{index=\"default\"} "));
    ck_assert_ptr_nonnull(
        strstr(r.body, "ahead_reloads_total{index=\"default\",result=\"failed\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_open_connections "));
    ck_assert_ptr_nonnull(strstr(r.body, "ahead_ready 1"));
    ts_resp_free(&r);
    ck_assert(ts_metric(&g_srv, "ahead_requests_total{index=\"es\",code=\"200\"}") >= 1);
}
END_TEST

START_TEST(test_admin_errors)
{
    ts_resp_t r;
    ck_assert_int_eq(ts_admin(&g_srv, "GET", "/admin/reload", &r), 0);
    ck_assert_int_eq(r.status, 405);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_admin(&g_srv, "POST", "/admin/reload?index=nope", &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "unknown_index"));
    ts_resp_free(&r);
    ck_assert_int_eq(ts_admin(&g_srv, "GET", "/admin/nothing", &r), 0);
    ck_assert_int_eq(r.status, 404);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_admin(&g_srv, "POST", "/metrics", &r), 0);
    ck_assert_int_eq(r.status, 405);
    ts_resp_free(&r);
}
END_TEST

/*
 * A reload through the admin endpoint: a good new file swaps (the answers,
 * the snapshot id and the ETags change), a bad one is refused with 422 and
 * changes nothing, and the original comes back. Runs last in its case.
 */
START_TEST(test_admin_reload_swaps)
{
    ts_resp_t r;
    char etag_before[128], etag_after[128], id_default[17], url[256];
    ah_index_t *alt;
    ah_index_stats_t st_alt;
    ck_assert_int_eq(ah_index_open(g_alt, &alt, NULL, 0), 0);
    ah_index_stats(alt, &st_alt);
    snapshot_id(g_idx_default, id_default);

    snprintf(url, sizeof(url), "%s/v1/complete?q=th&k=3", g_srv.url);
    ck_assert_int_eq(ts_http("GET", url, NULL, 0, &r), 0);
    ck_assert(ts_header(&r, "etag", etag_before, sizeof(etag_before)));
    ts_resp_free(&r);

    /* Same content: ok, unchanged. */
    ck_assert_int_eq(ts_admin(&g_srv, "POST", "/admin/reload?index=default", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"changed\":false"));
    ts_resp_free(&r);

    /* A corrupt file: 422, still serving the old one. */
    ck_assert_int_eq(ts_install(g_corrupt, g_default), 0);
    ck_assert_int_eq(ts_admin(&g_srv, "POST", "/admin/reload", &r), 0);
    ck_assert_int_eq(r.status, 422);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *res0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(res0, "ok")));
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(res0, "snapshot")), id_default);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(res0, "error"));
    /* The other index reloaded fine (same content). */
    cJSON *res1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 1);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(res1, "ok")));
    cJSON_Delete(j);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_http("GET", url, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(ts_header(&r, "etag", etag_after, sizeof(etag_after)));
    ck_assert_str_eq(etag_before, etag_after);
    ts_resp_free(&r);
    ck_assert(ts_metric(&g_srv, "ahead_reloads_total{index=\"default\",result=\"failed\"}") >= 1);

    /* A good new file: swapped; new id, new ETag, the old ETag no longer matches. */
    ck_assert_int_eq(ts_install(g_alt, g_default), 0);
    ck_assert_int_eq(ts_admin(&g_srv, "POST", "/admin/reload?index=default", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, st_alt.id_hex));
    ts_resp_free(&r);
    char inm[200];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag_before);
    const char *h[] = {inm, NULL};
    ck_assert_int_eq(ts_http("GET", url, h, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(ts_header(&r, "etag", etag_after, sizeof(etag_after)));
    ck_assert_str_ne(etag_before, etag_after);
    j = cJSON_Parse(r.body);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "snapshot")), st_alt.id_hex);
    cJSON_Delete(j);
    ts_resp_free(&r);
    /* The new snapshot has k up to 20. */
    ck_assert_int_eq(ts_get(g_srv.url, "/v1/complete?q=a&k=20", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);

    /* And back. */
    ck_assert_int_eq(ts_build(g_sample, g_default, 0), 0);
    ck_assert_int_eq(ts_admin(&g_srv, "POST", "/admin/reload?index=default", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, id_default));
    ts_resp_free(&r);
    ah_index_close(alt);
}
END_TEST

/* ------------------------------------------------- servers of their own */

/* The response cache answers repeats from memory, byte for byte, and can be turned off. */
START_TEST(test_response_cache)
{
    char dir[256], snap[512];
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/cache.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    for (int off = 0; off < 2; off++) {
        ts_server_t s;
        ts_resp_t first, r;
        const char *on[] = {"--threads", "1", snap, NULL};
        const char *offargs[] = {"--threads", "1", "--response-cache", "0", snap, NULL};
        ck_assert_int_eq(ts_server_start(&s, off ? offargs : on), 0);
        ck_assert(ts_server_check_identity(&s, "default", snap));
        ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=th&k=5", &first), 0);
        ck_assert_int_eq(first.status, 200);
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=th&k=5", &r), 0);
            ck_assert_int_eq(r.status, 200);
            ck_assert_uint_eq(r.len, first.len);
            ck_assert(memcmp(r.body, first.body, r.len) == 0);
            ts_resp_free(&r);
        }
        /* Another k, another format: other answers, not the cached one. */
        ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=th&k=4", &r), 0);
        ck_assert(r.len < first.len);
        ts_resp_free(&r);
        ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=th&k=5&format=opensearch", &r), 0);
        ck_assert(r.body[0] == '[');
        ts_resp_free(&r);
        ts_resp_free(&first);
        double hits = ts_metric(&s, "ahead_response_cache_hits_total");
        double misses = ts_metric(&s, "ahead_response_cache_misses_total");
        ck_assert_msg(off ? hits == 0 : hits == 3, "hits %g", hits);
        ck_assert_msg(misses == (off ? 6 : 3), "misses %g", misses);
        ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    }
}
END_TEST

/*
 * A flood of requests seen once does not push out a popular one: with one
 * set of four slots, "th" asked three times stays cached through 60
 * distinct prefixes (a cache that keeps the last answer seen loses it).
 */
START_TEST(test_response_cache_keeps_popular)
{
    char dir[256], snap[512], path[64];
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/popular.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    ts_server_t s;
    ts_resp_t r;
    const char *args[] = {"--threads", "1", "--response-cache", "4", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=th", &r), 0);
        ck_assert_int_eq(r.status, 200);
        ts_resp_free(&r);
    }
    ck_assert(ts_metric(&s, "ahead_response_cache_hits_total") == 2);
    for (int i = 0; i < 60; i++) {
        snprintf(path, sizeof(path), "/v1/complete?q=%c%c", 'a' + i % 26, 'a' + i / 26);
        ck_assert_int_eq(ts_get(s.url, path, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ts_resp_free(&r);
    }
    char v[128];
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=th", &r), 0);
    ck_assert(ts_header(&r, "server-timing", v, sizeof(v)));
    ck_assert_msg(strncmp(v, "cache;", 6) == 0, "%s", v);
    ts_resp_free(&r);
    ck_assert(ts_metric(&s, "ahead_response_cache_hits_total") == 3);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
}
END_TEST

START_TEST(test_admin_token)
{
    char dir[256], snap[512];
    ts_server_t s;
    ts_resp_t r;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/token.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    const char *args[] = {"--threads", "1", "--admin-token", "s3cret-token", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    ck_assert(ts_log_contains(&s, "bearer token required"));
    /* No token, a wrong one, a wrong scheme: 401. */
    ck_assert_int_eq(ts_admin(&s, "GET", "/admin/indexes", &r), 0);
    ck_assert_int_eq(r.status, 401);
    char v[128];
    ck_assert(ts_header(&r, "www-authenticate", v, sizeof(v)));
    ts_resp_free(&r);
    s.token = "wrong";
    ck_assert_int_eq(ts_admin(&s, "GET", "/metrics", &r), 0);
    ck_assert_int_eq(r.status, 401);
    ts_resp_free(&r);
    s.token = "s3cret-token-and-more";
    ck_assert_int_eq(ts_admin(&s, "POST", "/admin/reload", &r), 0);
    ck_assert_int_eq(r.status, 401);
    ts_resp_free(&r);
    s.token = "s3cret-token";
    ck_assert(ts_server_check_identity(&s, "default", snap));
    ck_assert_int_eq(ts_admin(&s, "POST", "/admin/reload", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    /* The public API needs no token. */
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=a", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

START_TEST(test_max_k_and_admin_off)
{
    char dir[256], snap[512], arg[600];
    ts_server_t s;
    ts_resp_t r;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/maxk.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    /* Only a named index: /v1/complete has no "default". */
    snprintf(arg, sizeof(arg), "words=%s", snap);
    const char *args[] = {"--threads", "1",    "--max-k", "5", "--admin-listen", "off", "--index",
                          arg,         "--ui", "off",     NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    ck_assert(ts_log_contains(&s, "admin listener off"));
    /* --ui off: no page, but the API description and the widget stay. */
    ck_assert_int_eq(ts_get(s.url, "/", &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "not_found"));
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/ui/app.js", &r), 0);
    ck_assert_int_eq(r.status, 404);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/openapi.json", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/ahead-autocomplete.js", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/v1/indexes/words/complete?q=a&k=5", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/v1/indexes/words/complete?q=a&k=6", &r), 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "1..5"));
    ts_resp_free(&r);
    /* Without k, the default 10 is capped at max-k. */
    ck_assert_int_eq(ts_get(s.url, "/v1/indexes/words/complete?q=a", &r), 0);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 5);
    cJSON_Delete(j);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=a", &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "unknown_index"));
    ts_resp_free(&r);
    ck_assert_int_eq(ts_server_stop(&s, SIGINT, 10000, NULL), 0);
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

/* Startup errors: one clear line on stderr and a non-zero exit. */
START_TEST(test_startup_errors)
{
    char dir[256], snap[512], bad[512], err[4096], addr[64];
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/ok.snap", dir);
    snprintf(bad, sizeof(bad), "%s/bad.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    FILE *f = fopen(bad, "wb");
    fputs("garbage", f);
    fclose(f);

    const char *missing[] = {"--listen", "127.0.0.1:0",         "--admin-listen",
                             "off",      "/nonexistent/x.snap", NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(missing, err, sizeof(err), 10000), 1);
    ck_assert_msg(strstr(err, "/nonexistent/x.snap") != NULL, "%s", err);
    const char *corrupt[] = {"--listen", "127.0.0.1:0", "--admin-listen", "off", bad, NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(corrupt, err, sizeof(err), 10000), 1);
    ck_assert_msg(strstr(err, "failed") != NULL && strstr(err, bad) != NULL, "%s", err);

    const char *opts[][8] = {{"--threads", "0", snap, NULL},   {"--listen", "nohost", snap, NULL},
                             {"--max-k", "x", snap, NULL},     {"--bogus", snap, NULL},
                             {"--index", "a/b=x", snap, NULL}, {NULL}};
    for (int i = 0; opts[i][0] != NULL; i++) {
        ck_assert_int_eq(ts_run_server_expect_exit(opts[i], err, sizeof(err), 10000), 2);
        ck_assert_msg(strncmp(err, "ahead-serve: ", 13) == 0 &&
                          strchr(err, '\n') == err + strlen(err) - 1,
                      "not one line: %s", err);
    }

    /* A port in use, even by a socket with SO_REUSEPORT (as a stale server would have). */
    int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t alen = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
    const char *inuse[] = {"--listen", addr, "--admin-listen", "off", snap, NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(inuse, err, sizeof(err), 10000), 1);
    ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    const char *admin_inuse[] = {"--listen", "127.0.0.1:0", "--admin-listen", addr, snap, NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(admin_inuse, err, sizeof(err), 10000), 1);
    ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    close(fd);

    const char *help[] = {"--help", NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(help, err, sizeof(err), 10000), 0);
    ck_assert_ptr_nonnull(strstr(err, "--admin-token"));
    const char *version[] = {"--version", NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(version, err, sizeof(err), 10000), 0);
    ck_assert_ptr_nonnull(strstr(err, AH_VERSION_STRING));
    ts_rmtree(dir);
}
END_TEST

/*
 * Readiness: while an index is still loading, /healthz is 200 but /readyz
 * and the API are 503. The snapshot path is a FIFO, so the server's open()
 * blocks until the test opens the other end; the load then fails (not a
 * regular file) and the server exits 1.
 */
/* Indexes loaded by test_not_ready_while_loading, the last one broken. */
#define LOADING_INDEXES 10

START_TEST(test_not_ready_while_loading)
{
    char dir[256], tsv[512], snap[512], bad[512], specs[LOADING_INDEXES][600];
    const char *args[2 * LOADING_INDEXES + 8];
    ts_server_t s;
    ts_resp_t r;
    int n = 0;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(tsv, sizeof(tsv), "%s/es.tsv", dir);
    snprintf(snap, sizeof(snap), "%s/es.snap", dir);
    snprintf(bad, sizeof(bad), "%s/broken.snap", dir);
    ck_assert_msg(ts_head_dataset("es-ngrams.tsv.gz", tsv, 1000000) == 0, "data/es-ngrams missing");
    ck_assert_int_eq(ts_build(tsv, snap, 0), 0);
    FILE *f = fopen(bad, "w");
    fputs("not a snapshot\n", f);
    fclose(f);
    /*
     * A long load: the same 10 MB snapshot as many indexes, each deep-
     * verified (about 0.4 s of CPU apiece, more on a busy machine), then
     * a broken file last, which ends the startup.
     */
    args[n++] = "--threads";
    args[n++] = "1";
    args[n++] = "--verify";
    args[n++] = "full";
    for (int i = 0; i < LOADING_INDEXES; i++) {
        snprintf(specs[i], sizeof(specs[i]), "i%d=%s", i, i + 1 < LOADING_INDEXES ? snap : bad);
        args[n++] = "--index";
        args[n++] = specs[i];
    }
    args[n] = NULL;
    ck_assert_int_eq(ts_server_spawn(&s, args, "admin listening on"), 0);
    int healthy = 0;
    for (int i = 0; i < 500 && !healthy; i++) {
        healthy = ts_get(s.url, "/healthz", &r) == 0 && r.status == 200;
        ts_resp_free(&r);
        if (!healthy)
            ts_sleep_ms(10);
    }
    ck_assert(healthy);
    ck_assert_int_eq(ts_get(s.url, "/readyz", &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_ptr_nonnull(strstr(r.body, "loading"));
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/v1/indexes/i0/complete?q=a", &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_ptr_nonnull(strstr(r.body, "not_ready"));
    ts_resp_free(&r);
    ck_assert(ts_metric(&s, "ahead_ready") == 0);
    /* The broken file ends the load: the server exits with one line naming it. */
    ck_assert_int_eq(ts_server_stop(&s, 0, 120000, NULL), 1);
    ck_assert(ts_log_contains(&s, "broken.snap"));
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

/* A snapshot built with --no-infix: match=words answers as prefix, and the admin API says so. */
START_TEST(test_no_infix_snapshot)
{
    char dir[256], tsv[512], snap[512], arg[600];
    ts_server_t s;
    ts_resp_t r;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(tsv, sizeof(tsv), "%s/es.tsv", dir);
    snprintf(snap, sizeof(snap), "%s/es-noinfix.snap", dir);
    ck_assert_int_eq(ts_head_dataset("es-ngrams.tsv.gz", tsv, 30000), 0);
    ck_assert_int_eq(ts_build_with(tsv, snap, 0, "--no-infix"), 0);
    snprintf(arg, sizeof(arg), "es=%s", snap);
    const char *args[] = {"--threads", "1", "--index", arg, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    ck_assert_int_eq(ts_admin(&s, "GET", "/admin/indexes", &r), 0);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *one = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "indexes"), 0);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(one, "infix")));
    cJSON_Delete(j);
    ts_resp_free(&r);
    ah_index_t *idx;
    ck_assert_int_eq(ah_index_open(snap, &idx, NULL, 0), 0);
    ts_resp_t w, p;
    ck_assert_int_eq(ts_get(s.url, "/v1/indexes/es/complete?q=panza+que&match=words", &w), 0);
    ck_assert_int_eq(ts_get(s.url, "/v1/indexes/es/complete?q=panza+que&match=prefix", &p), 0);
    cJSON *jw = cJSON_Parse(w.body), *jp = cJSON_Parse(p.body);
    /* The same suggestions, none of them inside a phrase ("sancho panza que"). */
    char *sw = cJSON_PrintUnformatted(cJSON_GetObjectItem(jw, "suggestions"));
    char *sp = cJSON_PrintUnformatted(cJSON_GetObjectItem(jp, "suggestions"));
    ck_assert_str_eq(sw, sp);
    free(sw);
    free(sp);
    expect_same_lookup(idx, jw, "panza que", 9, 10, AH_TYPOS_AUTO, 1);
    ck_assert_ptr_null(strstr(w.body, "\"sancho panza que\""));
    cJSON_Delete(jw);
    cJSON_Delete(jp);
    ts_resp_free(&w);
    ts_resp_free(&p);
    ah_index_close(idx);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

/* --typos and --match set what a request that does not say gets; a request that says still can. */
START_TEST(test_matching_defaults)
{
    char dir[256], snap[512];
    ts_server_t s;
    ts_resp_t r;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/defaults.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    const char *args[] = {"--threads", "1", "--typos", "0", "--match", "prefix", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    ah_index_t *idx;
    ck_assert_int_eq(ah_index_open(snap, &idx, NULL, 0), 0);
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=wrld&k=5", &r), 0);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 0);
    expect_same_lookup(idx, j, "wrld", 4, 5, 0, 0);
    cJSON_Delete(j);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=wrld&k=5&typos=auto&match=words", &r), 0);
    j = cJSON_Parse(r.body);
    ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItem(j, "suggestions")), 0);
    expect_same_lookup(idx, j, "wrld", 4, 5, AH_TYPOS_AUTO, 1);
    cJSON_Delete(j);
    ts_resp_free(&r);
    ah_index_close(idx);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
    /* A bad value stops the server at startup with a message. */
    const char *bad[] = {"--typos", "3", snap, NULL};
    ck_assert_int_ne(ts_server_start(&s, bad), 0);
    ck_assert(ts_log_contains(&s, "--typos"));
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *api = tcase_create("api");
    tcase_add_unchecked_fixture(api, api_setup, api_teardown);
    tcase_set_timeout(api, 30);
    tcase_add_test(api, test_complete_default);
    tcase_add_test(api, test_k_values);
    tcase_add_test(api, test_empty_q_is_overall_top);
    tcase_add_test(api, test_opensearch);
    tcase_add_test(api, test_typos_and_words);
    tcase_add_test(api, test_contexts);
    tcase_add_test(api, test_percent_encoding_and_utf8);
    tcase_add_test(api, test_q_too_long);
    tcase_add_test(api, test_named_index_and_unicode);
    tcase_add_test(api, test_paths_and_methods);
    tcase_add_test(api, test_page_and_api_description);
    tcase_add_test(api, test_cors_preflight);
    tcase_add_test(api, test_etag_and_304);
    tcase_add_test(api, test_health);
    tcase_add_test(api, test_h2c);
    tcase_add_test(api, test_keep_alive);
    tcase_add_test(api, test_never_5xx);
    tcase_add_test(api, test_access_log);
    tcase_add_test(api, test_admin_indexes);
    tcase_add_test(api, test_admin_metrics);
    tcase_add_test(api, test_admin_errors);
    tcase_add_test(api, test_admin_reload_swaps);
    suite_add_tcase(s, api);

    TCase *own = tcase_create("own-servers");
    tcase_set_timeout(own, 120);
    tcase_add_test(own, test_admin_token);
    tcase_add_test(own, test_response_cache);
    tcase_add_test(own, test_response_cache_keeps_popular);
    tcase_add_test(own, test_max_k_and_admin_off);
    tcase_add_test(own, test_no_infix_snapshot);
    tcase_add_test(own, test_matching_defaults);
    tcase_add_test(own, test_startup_errors);
    tcase_add_test(own, test_not_ready_while_loading);
    suite_add_tcase(s, own);
    return s;
}

int main(void)
{
    int failed = ts_run_suite(server_suite());
    /* The fixture's teardown runs outside every test, so it cannot fail one: it is checked here. */
    if (g_srv_exit != 0) {
        fprintf(stderr,
                "the shared server's exit after SIGTERM: %d (%d: a sanitizer report, printed "
                "above; -1: no exit within 10 s)\n",
                g_srv_exit, TS_SANITIZER_REPORT);
        failed = 1;
    }
    return failed;
}
