/* SPDX-License-Identifier: MIT */
/*
 * check_index.c: the lookup library against the brute-force oracle, on
 * randomized inputs across every build parameter, and on the real datasets
 * from ../shared/data; the API's error contract; concurrent lookups.
 */
#include "bits.h"
#include "checksum.h"
#include "datasets.h"
#include "index_internal.h"
#include "oracle.h"

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static ah_index_t *build_and_open(const oracle_t *o, unsigned topk, unsigned bucket, unsigned hot,
                                  const char *name)
{
    char path[512], err[256];
    ah_entry_t *e = oracle_entries(o);
    ah_write_options_t opt = {
        .topk = topk, .bucket_size = bucket, .max_text_bytes = 256, .hot_nodes = hot};
    ah_write_info_t info;
    int rc = ah_snapshot_write(scratch_path(path, sizeof path, name), e, o->n, &opt, &info, err,
                               sizeof err);
    free(e);
    ck_assert_msg(rc == 0, "write: %s", err);
    ah_index_t *ix;
    rc = ah_index_open(path, &ix, err, sizeof err);
    ck_assert_msg(rc == 0, "open: %s", err);
    rc = ah_index_verify(ix, err, sizeof err);
    ck_assert_msg(rc == 0, "verify: %s", err);
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    ck_assert_uint_eq(st.content_id, info.content_id);
    ck_assert_uint_eq(st.file_bytes, info.file_bytes);
    ck_assert_uint_eq(st.entries, o->n);
    ck_assert_uint_eq(st.topk, topk);
    return ix;
}

/*
 * Every prefix (by bytes, so also mid-character) of every stride-th key, each
 * distinct prefix once, and the empty one.
 */
static void check_all_prefixes(const oracle_t *o, const ah_index_t *ix, unsigned k, size_t stride)
{
    oracle_check_prefix(o, ix, "", 0, k);
    const oracle_entry_t *prev = NULL;
    for (size_t i = 0; i < o->n; i += stride) {
        const oracle_entry_t *e = &o->e[i];
        size_t shared = 0;
        while (prev && shared < prev->key_len && shared < e->key_len &&
               prev->key[shared] == e->key[shared])
            shared++;
        for (size_t len = shared + 1; len <= e->key_len; len++)
            oracle_check_prefix(o, ix, e->key, len, k);
        prev = e;
    }
}

/* ------------------------------------------------------------ examples */

START_TEST(test_issue_examples)
{
    const char *texts[] = {"São Paulo", "sao paulo", "SAO PAULO",    "san diego",
                           "new york",  "newark",    "new  orleans", "Sao  Paulo "};
    uint64_t scores[] = {100, 50, 10, 80, 200, 300, 5, 7};
    oracle_t o;
    oracle_from_pairs(&o, texts, scores, 8);
    ah_index_t *ix = build_and_open(&o, 2, 16, 0, "examples.snap");
    ah_completion_t out[2];
    char text[AH_COMPLETE_TEXT_BYTES(2)];
    size_t n;
    ck_assert_int_eq(ah_index_complete(ix, "sao p", 5, 2, out, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(out[0].text_len, strlen("São Paulo"));
    ck_assert(memcmp(out[0].text, "São Paulo", out[0].text_len) == 0);
    ck_assert_uint_eq(out[0].score, 167); /* 100 + 50 + 10 + 7: all one key */
    /* "new " keeps its trailing space: new york, not newark. */
    ck_assert_int_eq(ah_index_complete(ix, "NEW ", 4, 2, out, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert(out[0].text_len == 8 && memcmp(out[0].text, "new york", 8) == 0);
    ck_assert(out[1].text_len == 11 && memcmp(out[1].text, "new orleans", 11) == 0);
    /* The empty prefix is the overall top. */
    ck_assert_int_eq(ah_index_complete(ix, "", 0, 2, out, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert(out[0].text_len == 6 && memcmp(out[0].text, "newark", 6) == 0);
    ck_assert(out[1].text_len == 8 && memcmp(out[1].text, "new york", 8) == 0);
    /* Accent- and width-insensitive query. */
    ck_assert_int_eq(ah_index_complete(ix, "ＳÃO", strlen("ＳÃO"), 2, out, text, sizeof text, &n),
                     0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(out[0].score, 167);
    ck_assert_int_eq(ah_index_complete(ix, "x", 1, 2, out, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 0);
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/* ------------------------------------------------------------ random */

/* Random texts over a small alphabet, so that keys share long prefixes. */
static void random_oracle(oracle_t *o, uint64_t seed, size_t n, int big_scores)
{
    static const char *const alphabet[] = {"a", "b", "c", "d", " ", "é", "E", "ß", "z", "0"};
    char **texts = calloc(n, sizeof *texts);
    uint64_t *scores = calloc(n, sizeof *scores);
    for (size_t i = 0; i < n; i++) {
        char buf[128] = "";
        size_t len = 1 + test_rand(&seed) % 12;
        for (size_t j = 0; j < len; j++)
            strcat(buf, alphabet[test_rand(&seed) % (j < 3 ? 4 : 10)]);
        texts[i] = strdup(buf);
        uint64_t r = test_rand(&seed);
        /* Many ties (small counts), and some counts far above 2^32. */
        scores[i] = big_scores && r % 7 == 0 ? (r >> 8) : 1 + r % 20;
    }
    oracle_from_pairs(o, (const char *const *)texts, scores, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(scores);
}

START_TEST(test_random_parameters)
{
    static const unsigned topks[] = {1, 2, 3, 10, 64};
    static const unsigned buckets[] = {1, 2, 8, 16, 256};
    static const unsigned hots[] = {0, 7, 1u << 30};
    uint64_t seed = 42 + (uint64_t)_i;
    oracle_t o;
    random_oracle(&o, seed, 300 + (size_t)_i * 97, _i % 2);
    for (size_t t = 0; t < sizeof topks / sizeof *topks; t++) {
        unsigned topk = topks[t];
        char name[64];
        snprintf(name, sizeof name, "random-%d-%u.snap", _i, topk);
        ah_index_t *ix = build_and_open(&o, topk, buckets[(t + (size_t)_i) % 5],
                                        hots[(t + (size_t)_i) % 3], name);
        check_all_prefixes(&o, ix, topk, 1);
        check_all_prefixes(&o, ix, 1, 3);
        if (topk > 2)
            check_all_prefixes(&o, ix, topk - 1, 5);
        ah_index_close(ix);
    }
    oracle_free(&o);
}
END_TEST

START_TEST(test_single_entry)
{
    const char *texts[] = {"Only"};
    uint64_t scores[] = {UINT64_MAX};
    oracle_t o;
    oracle_from_pairs(&o, texts, scores, 1);
    ah_index_t *ix = build_and_open(&o, 10, 16, 0, "single.snap");
    check_all_prefixes(&o, ix, 10, 1);
    oracle_check_prefix(&o, ix, "onlyx", 5, 3);
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    ck_assert_uint_eq(st.total_score, UINT64_MAX);
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

START_TEST(test_long_keys)
{
    /* Keys past 255 bytes take the wide bucket lengths. */
    char a[300], b[300], c[300];
    memset(a, 'x', 280);
    a[280] = 0;
    memcpy(b, a, 281);
    b[270] = 'y';
    memcpy(c, a, 281);
    c[3] = 'a';
    const char *texts[] = {a, b, c, "x"};
    uint64_t scores[] = {3, 2, 1, 9};
    oracle_t o;
    oracle_from_pairs(&o, texts, scores, 4);
    ck_assert_uint_eq(o.n, 1); /* only "x" fits the CLI's default 256-byte limit */
    oracle_free(&o);
    /* Build directly, past the CLI's default limit. */
    ah_entry_t e[4] = {
        {.key = "x", .key_len = 1, .text = "x", .text_len = 1, .score = 9},
        {.key = c, .key_len = 280, .text = c, .text_len = 280, .score = 1},
        {.key = a, .key_len = 280, .text = a, .text_len = 280, .score = 3},
        {.key = b, .key_len = 280, .text = b, .text_len = 280, .score = 2},
    };
    char path[512], err[256];
    ah_write_options_t opt = {.topk = 2, .bucket_size = 4, .max_text_bytes = 1024};
    ck_assert_int_eq(ah_snapshot_write(scratch_path(path, sizeof path, "long.snap"), e, 4, &opt,
                                       NULL, err, sizeof err),
                     0);
    ah_index_t *ix;
    ck_assert_int_eq(ah_index_open(path, &ix, err, sizeof err), 0);
    ck_assert_int_eq(ah_index_verify(ix, err, sizeof err), 0);
    ah_completion_t out[2];
    static char text[AH_COMPLETE_TEXT_BYTES(2)];
    size_t n;
    ck_assert_int_eq(ah_index_complete_key(ix, a, 270, 2, out, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert(out[0].score == 3 && out[0].text_len == 280 && memcmp(out[0].text, a, 280) == 0);
    ck_assert(out[1].score == 2 && memcmp(out[1].text, b, 280) == 0);
    ah_index_close(ix);
}
END_TEST

/* Keys nested in one another: "a", "aa", ... a trie as deep as the longest key. */
START_TEST(test_deep_chain)
{
    enum { N = 1000 };
    static char buf[N + 1];
    memset(buf, 'a', N);
    ah_entry_t *e = calloc(N, sizeof *e);
    for (uint32_t i = 0; i < N; i++)
        e[i] = (ah_entry_t){.key = buf,
                            .key_len = i + 1,
                            .text = buf,
                            .text_len = i + 1,
                            .score = (i * 7919u) % 101};
    char path[512], err[256];
    ah_write_options_t opt = {
        .topk = 3, .bucket_size = 16, .max_text_bytes = 1024, .hot_nodes = 100};
    ck_assert_int_eq(ah_snapshot_write(scratch_path(path, sizeof path, "deep.snap"), e, N, &opt,
                                       NULL, err, sizeof err),
                     0);
    ah_index_t *ix;
    ck_assert_int_eq(ah_index_open(path, &ix, err, sizeof err), 0);
    ck_assert_msg(ah_index_verify(ix, err, sizeof err) == 0, "%s", err);
    ah_completion_t out[3];
    static char text[AH_COMPLETE_TEXT_BYTES(3)];
    for (uint32_t len = 1; len <= N; len += 37) {
        size_t n;
        ck_assert_int_eq(ah_index_complete_key(ix, buf, len, 3, out, text, sizeof text, &n), 0);
        /* The oracle, inline: keys of length >= len, best score, then shorter (smaller) key. */
        uint32_t want[3] = {0}, m = 0;
        for (uint32_t i = len - 1; i < N; i++) {
            uint32_t j = m < 3 ? m++ : 3;
            while (j > 0 && (e[want[j - 1]].score < e[i].score ||
                             (e[want[j - 1]].score == e[i].score && want[j - 1] > i))) {
                if (j < 3)
                    want[j] = want[j - 1];
                j--;
            }
            if (j < 3)
                want[j] = i;
        }
        ck_assert_uint_eq(n, m);
        for (size_t r = 0; r < n; r++)
            ck_assert_msg(out[r].text_len == e[want[r]].text_len &&
                              out[r].score == e[want[r]].score,
                          "prefix length %u, result %zu", len, r);
    }
    ah_index_close(ix);
    free(e);
}
END_TEST

/* The varint decoder on its edges, with ten readable bytes (fast path) and with exactly enough. */
START_TEST(test_varints)
{
    static const uint64_t values[] = {0,          1,          127,        128,
                                      16383,      16384,      2097151,    2097152,
                                      UINT32_MAX, 1ull << 35, 1ull << 56, (1ull << 63) - 1,
                                      1ull << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        unsigned char buf[32] = {0};
        size_t n = ah_varint_put(buf, values[i]);
        ck_assert_uint_eq(n, ah_varint_len(values[i]));
        for (int exact = 0; exact < 2; exact++) {
            const unsigned char *p = buf, *end = buf + (exact ? n : sizeof buf);
            uint64_t v;
            ck_assert(ah_varint_get(&p, end, &v));
            ck_assert_uint_eq(v, values[i]);
            ck_assert(p == buf + n);
            p = buf;
            if (n > 1) /* cut short: refused */
                ck_assert(!ah_varint_get(&p, buf + n - 1, &v));
        }
    }
    /* Eleven continuation bytes, or a tenth byte above 1: over 64 bits. */
    unsigned char bad[16];
    memset(bad, 0xff, sizeof bad);
    const unsigned char *p = bad;
    uint64_t v;
    ck_assert(!ah_varint_get(&p, bad + sizeof bad, &v));
    bad[9] = 0x02;
    p = bad;
    ck_assert(!ah_varint_get(&p, bad + sizeof bad, &v));
    p = bad;
    ck_assert(!ah_varint_get(&p, bad + 10, &v));
}
END_TEST

/* ------------------------------------------------------------ real data */

static void count_piece(void *arg)
{
    (*(size_t *)arg)++;
}

/* AnonHugePages of the mapping that holds addr, in kB; -1 when no mapping does. */
static long huge_kb_at(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int inside = 0;
    long kb = -1;
    while (kb < 0 && fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        else if (inside)
            sscanf(line, "AnonHugePages: %ld kB", &kb);
    }
    fclose(f);
    return kb;
}

/*
 * The snapshot copied into private memory (as ahead-serve does by default),
 * read from its file piece by piece: at a huge page boundary, in 2 MB
 * pages where the kernel gives them, and independent of the file, which
 * is then cut to nothing: the same answers.
 */
static void check_private_copy(const oracle_t *o, ah_index_t *ix, const char *snap, unsigned topk,
                               size_t stride)
{
    char msg[256];
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    ck_assert_int_eq(ah_index_detached(ix), 0);
    ck_assert_str_eq(ah_index_memory(ix), "map");
    int fd = open(snap, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    size_t pieces = 0;
    ck_assert_int_eq(ah_index_detach_paced(ix, fd, count_piece, &pieces, msg, sizeof msg), 0);
    close(fd);
    ck_assert_uint_eq(pieces, (st.file_bytes + AH_PACE_BYTES - 1) / AH_PACE_BYTES);
    ck_assert_int_eq(ah_index_detached(ix), 1);
    ck_assert_uint_eq((uintptr_t)ix->map % (2u << 20), 0);
    int huge = ah_huge_pages_available();
    ck_assert_str_eq(ah_index_memory(ix), huge ? "copy, huge pages" : "copy");
    if (huge && st.file_bytes >= 4u << 20) {
        long kb = huge_kb_at(ix->map);
        printf("check_index: a %" PRIu64 "-byte snapshot copied into %ld kB of huge pages\n",
               st.file_bytes, kb);
        ck_assert_msg(kb >= 2048, "the copy of %" PRIu64 " bytes has %ld kB in huge pages",
                      st.file_bytes, kb);
    }
    ck_assert_int_eq(truncate(snap, 0), 0);
    ck_assert_int_eq(ah_index_verify(ix, msg, sizeof msg), 0);
    check_all_prefixes(o, ix, topk, stride);
}

/* Builds a dataset with the real CLI and checks it against the oracle, mapped and copied. */
static void check_dataset(const char *file, size_t max_lines, unsigned topk, size_t stride)
{
    char data[512], input[512], snap[512];
    if (!dataset_path(file, data, sizeof data)) {
        printf("check_index: %s not found in data/ or ../shared/data: skipped\n", file);
        return;
    }
    const char *src = data;
    if (max_lines) {
        /* Take the first lines into a scratch file for the CLI. */
        char cmd[1200];
        scratch_path(input, sizeof input, "subset.tsv");
        snprintf(cmd, sizeof cmd, "(zcat -f '%s' | head -n %zu) > '%s'", data, max_lines, input);
        ck_assert_int_eq(system(cmd), 0);
        src = input;
    }
    char topk_s[16];
    snprintf(topk_s, sizeof topk_s, "%u", topk);
    scratch_path(snap, sizeof snap, "dataset.snap");
    char *argv[] = {AH_BUILD_BIN, "--quiet", "--topk", topk_s, (char *)src, "-o", snap, NULL};
    char *err;
    int status = run_cmd(argv, NULL, NULL, &err);
    ck_assert_msg(status == 0, "ahead-build failed (%d): %s", status, err);
    free(err);
    oracle_t o;
    oracle_load(&o, src, 0);
    ah_index_t *ix;
    char msg[256];
    ck_assert_int_eq(ah_index_open(snap, &ix, msg, sizeof msg), 0);
    ck_assert_int_eq(ah_index_verify(ix, msg, sizeof msg), 0);
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    ck_assert_uint_eq(st.entries, o.n);
    check_all_prefixes(&o, ix, topk, stride);
    check_all_prefixes(&o, ix, 1, stride * 3 + 1);
    check_private_copy(&o, ix, snap, topk, stride * 5 + 2);
    ah_index_close(ix);
    oracle_free(&o);
}

START_TEST(test_subtlex)
{
    check_dataset("subtlex-us.tsv", 0, 10, 7);
}
END_TEST

START_TEST(test_es_ngrams)
{
    check_dataset("es-ngrams.tsv.gz", 0, 10, 41);
}
END_TEST

START_TEST(test_npm_head)
{
    check_dataset("npm-downloads.tsv.gz", 200000, 64, 97);
}
END_TEST

/* ------------------------------------------------------------ API */

START_TEST(test_api_errors)
{
    const char *texts[] = {"alpha", "beta", "gamma"};
    uint64_t scores[] = {1, 2, 3};
    oracle_t o;
    oracle_from_pairs(&o, texts, scores, 3);
    ah_index_t *ix = build_and_open(&o, 3, 16, 0, "api.snap");
    ah_completion_t out[4];
    char text[AH_COMPLETE_TEXT_BYTES(4)];
    size_t n = 99;
    ck_assert_int_eq(ah_index_complete(ix, "a", 1, 0, out, text, sizeof text, &n), AH_EINVAL);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(ah_index_complete(ix, "a", 1, 4, out, text, sizeof text, &n), AH_EINVAL);
    ck_assert_int_eq(ah_index_complete(ix, "a\xff", 2, 1, out, text, sizeof text, &n), AH_EUTF8);
    ck_assert_int_eq(ah_index_complete(ix, "a\0b", 3, 1, out, text, sizeof text, &n), AH_EUTF8);
    static char longq[AH_MAX_KEY_BYTES + 10];
    memset(longq, 'a', sizeof longq);
    ck_assert_int_eq(ah_index_complete(ix, longq, sizeof longq, 1, out, text, sizeof text, &n),
                     AH_ETOOLONG);
    ck_assert_int_eq(ah_index_complete(ix, "", 0, 3, out, text, 6, &n), AH_ENOSPC);
    ck_assert_int_eq(ah_index_complete(ix, "", 0, 3, out, text, 14, &n), 0);
    ck_assert_uint_eq(n, 3);
    ah_index_close(ix);
    ah_index_close(NULL);

    char err[256];
    ck_assert_int_eq(ah_index_open("/nonexistent/x.snap", &ix, err, sizeof err), AH_EIO);
    ck_assert(strstr(err, "/nonexistent/x.snap") != NULL);
    ck_assert(ix == NULL);
    char path[512];
    ck_assert_int_eq(ah_index_open(scratch_dir(), &ix, err, sizeof err), AH_ECORRUPT);

    ah_write_options_t opt = {.topk = 10, .max_text_bytes = 256};
    ck_assert_int_eq(ah_snapshot_write(scratch_path(path, sizeof path, "empty.snap"), NULL, 0, &opt,
                                       NULL, err, sizeof err),
                     AH_EINVAL);
    ck_assert(access(path, F_OK) != 0);
    ah_entry_t unsorted[2] = {{.key = "b", .key_len = 1, .text = "b", .text_len = 1, .score = 1},
                              {.key = "a", .key_len = 1, .text = "a", .text_len = 1, .score = 1}};
    ck_assert_int_eq(ah_snapshot_write(path, unsorted, 2, &opt, NULL, err, sizeof err), AH_EINVAL);
    opt.topk = 0;
    ck_assert_int_eq(ah_snapshot_write(path, unsorted + 1, 1, &opt, NULL, err, sizeof err),
                     AH_EINVAL);
    opt.topk = 1;
    opt.bucket_size = 3;
    ck_assert_int_eq(ah_snapshot_write(path, unsorted + 1, 1, &opt, NULL, err, sizeof err),
                     AH_EINVAL);
    ck_assert_str_eq(ah_strerror(AH_ECORRUPT), "snapshot is corrupt");
    oracle_free(&o);
}
END_TEST

/* ------------------------------------------------------------ threads */

typedef struct worker {
    const ah_index_t *ix;
    const oracle_t *o;
    int failures;
} worker_t;

static void *lookup_worker(void *arg)
{
    worker_t *w = arg;
    size_t want[10], n;
    ah_completion_t out[10];
    char text[AH_COMPLETE_TEXT_BYTES(10)];
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < w->o->n; i += 5) {
            const oracle_entry_t *e = &w->o->e[i];
            size_t len = 1 + (i + (size_t)round) % e->key_len;
            size_t m = oracle_topk(w->o, e->key, len, 10, want);
            if (ah_index_complete_key(w->ix, e->key, len, 10, out, text, sizeof text, &n) != 0 ||
                n != m)
                w->failures++;
            for (size_t j = 0; j < n && j < m; j++)
                if (out[j].score != w->o->e[want[j]].score)
                    w->failures++;
        }
    return NULL;
}

START_TEST(test_concurrent_lookups)
{
    oracle_t o;
    random_oracle(&o, 7, 3000, 1);
    ah_index_t *ix = build_and_open(&o, 10, 8, 50, "threads.snap");
    pthread_t t[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.ix = ix, .o = &o};
        ck_assert_int_eq(pthread_create(&t[i], NULL, lookup_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/*
 * A detached snapshot no longer depends on its file: lookups running during
 * the detach, and after the file is truncated to nothing (which would fault
 * a mapped file), still give the oracle's answers.
 */
START_TEST(test_detach)
{
    oracle_t o;
    char path[512], err[256];
    random_oracle(&o, 11, 3000, 1);
    ah_index_t *ix = build_and_open(&o, 10, 8, 50, "detach.snap");
    pthread_t t[2];
    worker_t w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (worker_t){.ix = ix, .o = &o};
        ck_assert_int_eq(pthread_create(&t[i], NULL, lookup_worker, &w[i]), 0);
    }
    ck_assert_int_eq(ah_index_detach(ix, err, sizeof err), 0);
    ck_assert_int_eq(truncate(scratch_path(path, sizeof path, "detach.snap"), 0), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    check_all_prefixes(&o, ix, 10, 7);
    ck_assert_int_eq(ah_index_verify(ix, err, sizeof err), 0);
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/* ah_crc32 (PCLMULQDQ folding where the CPU has it) against zlib's, at every length and offset. */
START_TEST(test_crc32_matches_zlib)
{
    enum { SIZE = 1 << 20 };
    unsigned char *buf = malloc(SIZE + 64);
    uint64_t seed = 0x243f6a8885a308d3u;
    for (size_t i = 0; i < SIZE + 64; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        buf[i] = (unsigned char)(seed >> 56);
    }
    for (size_t len = 0; len < 1200; len++) {
        size_t off = len % 61;
        uint32_t want = (uint32_t)crc32(0, buf + off, (uInt)len);
        ck_assert_msg(ah_crc32(0, buf + off, len) == want, "length %zu at offset %zu", len, off);
        /* Continued from a CRC, and split in two. */
        size_t cut = len / 3;
        ck_assert_uint_eq(ah_crc32(ah_crc32(0, buf + off, cut), buf + off + cut, len - cut), want);
    }
    for (size_t len = SIZE - 3; len <= SIZE; len++)
        ck_assert_uint_eq(ah_crc32(0x12345678u, buf + 7, len),
                          (uint32_t)crc32(0x12345678u, buf + 7, (uInt)len));
    /* All zeros and all ones: runs of equal lanes. */
    memset(buf, 0, 4096);
    ck_assert_uint_eq(ah_crc32(0, buf, 4096), (uint32_t)crc32(0, buf, 4096));
    memset(buf, 0xff, 4096);
    ck_assert_uint_eq(ah_crc32(0, buf, 4096), (uint32_t)crc32(0, buf, 4096));
    free(buf);
}
END_TEST

/* The hash in pieces (how the writer reads sections back from disk) is the hash at once. */
START_TEST(test_hash64_in_pieces)
{
    unsigned char buf[300];
    uint64_t seed = 0x13198a2e03707344u;
    for (size_t i = 0; i < sizeof buf; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        buf[i] = (unsigned char)(seed >> 56);
    }
    for (size_t len = 0; len <= sizeof buf; len++) {
        uint64_t want = ah_hash64(len * 31, buf, len);
        for (size_t piece = 1; piece <= 17; piece++) {
            ah_hash64_stream_t st;
            ah_hash64_begin(&st, len * 31, len);
            for (size_t at = 0; at < len; at += piece)
                ah_hash64_update(&st, buf + at, len - at < piece ? len - at : piece);
            ck_assert_msg(ah_hash64_end(&st) == want, "length %zu in pieces of %zu", len, piece);
        }
    }
}
END_TEST

static Suite *index_suite(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("oracle");
    tcase_add_test(tc, test_issue_examples);
    tcase_add_loop_test(tc, test_random_parameters, 0, 6);
    tcase_add_test(tc, test_single_entry);
    tcase_add_test(tc, test_long_keys);
    tcase_add_test(tc, test_deep_chain);
    tcase_add_test(tc, test_varints);
    tcase_add_test(tc, test_crc32_matches_zlib);
    tcase_add_test(tc, test_hash64_in_pieces);
    tcase_add_test(tc, test_api_errors);
    tcase_add_test(tc, test_concurrent_lookups);
    tcase_add_test(tc, test_detach);
    suite_add_tcase(s, tc);
    tcase_set_timeout(tc, 300);
    TCase *real = tcase_create("real data");
    tcase_set_timeout(real, 600);
    tcase_add_test(real, test_subtlex);
    tcase_add_test(real, test_es_ngrams);
    tcase_add_test(real, test_npm_head);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    return run_suite(index_suite());
}
