/* SPDX-License-Identifier: MIT */
/*
 * check_corrupt.c: damaged and hostile snapshots. Truncations at every
 * length, and flips of every byte of every section, both as plain damage
 * (which the checksums catch) and "re-sealed" with fresh checksums, as a
 * hostile file would be, so that the structural bounds checks of open,
 * lookup and verify are what stands between the file and the process.
 * Every case must end in an error code, never a crash or an out-of-bounds
 * read: CI runs this suite under AddressSanitizer and UBSan.
 */
#include "checksum.h"
#include "format.h"
#include "oracle.h"
#include "reseal.h"

#include "bits.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *good;
static size_t good_len;
static char *good_ctx; /* a small snapshot with contexts */
static size_t good_ctx_len;
static const oracle_t *queries;
static oracle_t base;

/* A small snapshot that uses every feature: display texts, hot and cold nodes, light
 * children, several buckets, a wide bucket (a key over 255 bytes). */
static void make_snapshot(void)
{
    const char *words[] = {
        "São Paulo",   "sao",          "Straße",      "strasse x", "new york",  "newark",
        "new orleans", "Zürich",       "zurich",      "ab",        "abc",       "abd",
        "abe",         "big new york", "@types/node", "x-ab-ab",   "a b c d e", "café au lait",
        "서울 특별시", "한국",         "닭고기",      "(달걀)"};
    size_t nw = sizeof words / sizeof *words, n = 0;
    char *texts[400];
    uint64_t scores[400];
    uint64_t seed = 99;
    for (size_t i = 0; i < nw; i++) {
        texts[n] = strdup(words[i]);
        scores[n++] = 1000 + i;
    }
    while (n < 300) {
        char buf[32];
        size_t len = 1 + test_rand(&seed) % 6;
        for (size_t j = 0; j < len; j++)
            buf[j] = "abcdeé"[test_rand(&seed) % 5];
        buf[len] = 0;
        texts[n] = strdup(buf);
        scores[n++] = test_rand(&seed) % 3 == 0 ? test_rand(&seed) >> 20 : 1 + test_rand(&seed) % 9;
    }
    oracle_from_pairs(&base, (const char *const *)texts, scores, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    ah_entry_t *e = oracle_entries(&base);
    /* One long key, past what a one-byte length holds. */
    static char long_key[300];
    memset(long_key, 'q', 299);
    e = realloc(e, (base.n + 1) * sizeof *e);
    size_t at = 0;
    while (at < base.n && strcmp(base.e[at].key, long_key) < 0)
        at++;
    memmove(e + at + 1, e + at, (base.n - at) * sizeof *e);
    e[at] = (ah_entry_t){
        .key = long_key, .key_len = 299, .text = long_key, .text_len = 299, .score = 5};
    char path[512], err[256];
    ah_write_options_t opt = {.topk = 4,
                              .bucket_size = 8,
                              .max_text_bytes = 512,
                              .hot_nodes = 6,
                              .word_leaf = 3,
                              .fills = 24}; /* a few: every byte is flipped */
    if (ah_snapshot_write(scratch_path(path, sizeof path, "base.snap"), e, base.n + 1, &opt, NULL,
                          err, sizeof err) != 0) {
        fprintf(stderr, "check_corrupt: cannot write the base snapshot: %s\n", err);
        exit(EXIT_FAILURE);
    }
    free(e);
    good = read_file(path, &good_len);
    queries = &base;

    /* With contexts: three values over the first 48 completions, one of them in all three. */
    size_t m = base.n < 48 ? base.n : 48;
    ah_entry_t *all = oracle_entries(&base), *in[3];
    ah_write_context_t ctx[3];
    static const char *const values[] = {"café", "shoes", "x y"};
    for (int c = 0; c < 3; c++) {
        in[c] = malloc(m * sizeof *in[c]);
        size_t k = 0;
        for (size_t i = 0; i < m; i++)
            if (i % 3 == (size_t)c || i == 7) {
                in[c][k] = all[i]; /* a score in the context, up to the whole's */
                uint64_t score = 1 + (i * 7 + (size_t)c) % 5;
                in[c][k++].score = score < all[i].score ? score : all[i].score;
            }
        ctx[c] = (ah_write_context_t){values[c], (uint32_t)strlen(values[c]), in[c], k};
    }
    ah_write_options_t copt = {.topk = 4,
                               .bucket_size = 4,
                               .max_text_bytes = 512,
                               .hot_nodes = 2,
                               .contexts = ctx,
                               .n_contexts = 3};
    if (ah_snapshot_write(scratch_path(path, sizeof path, "ctx.snap"), all, m, &copt, NULL, err,
                          sizeof err) != 0) {
        fprintf(stderr, "check_corrupt: cannot write the contexts snapshot: %s\n", err);
        exit(EXIT_FAILURE);
    }
    for (int c = 0; c < 3; c++)
        free(in[c]);
    free(all);
    good_ctx = read_file(path, &good_ctx_len);
}

/* Opens the bytes as a snapshot and, if that works, looks things up and verifies. */
static int exercise(const unsigned char *bytes, size_t len, int *verified)
{
    char path[512], err[256];
    scratch_path(path, sizeof path, "victim.snap");
    write_file(path, (const char *)bytes, len);
    ah_index_t *ix;
    int rc = ah_index_open(path, &ix, err, sizeof err);
    *verified = 0;
    if (rc) {
        ck_assert_msg(rc == AH_ECORRUPT || rc == AH_EVERSION, "open: unexpected %d", rc);
        ck_assert(err[0] != 0);
        return rc;
    }
    ah_completion_t out[4];
    char text[AH_COMPLETE_TEXT_BYTES(4)];
    size_t n;
    static const char *const probes[] = {"",   "s", "sa", "sao p", "new ", "ne", "z",
                                         "zu", "a", "ab", "abc",   "b",    "c",  "d",
                                         "e",  "é", "q",  "qqqq",  "x",    "str"};
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        for (unsigned k = 1; k <= 4; k += 3) {
            int r =
                ah_index_complete(ix, probes[i], strlen(probes[i]), k, out, text, sizeof text, &n);
            ck_assert_msg(r == 0 || r == AH_ECORRUPT, "lookup '%s': %d", probes[i], r);
            for (size_t j = 0; r == 0 && j < n; j++)
                ck_assert(out[j].text >= text &&
                          out[j].text + out[j].text_len <= text + sizeof text);
        }
    }
    ah_lookup_options_t opt = {.k = 4, .typos = AH_TYPOS_AUTO, .match = AH_MATCH_WORDS};
    for (size_t i = 0; i < queries->n; i += 7) {
        const oracle_entry_t *e = &queries->e[i];
        int r = ah_index_complete_key(ix, e->key, e->key_len, 4, out, text, sizeof text, &n);
        ck_assert(r == 0 || r == AH_ECORRUPT);
        /* Its first 5 bytes with the defaults: prefixes that may have fills. */
        int complete;
        r = ah_index_lookup_key(ix, e->key, e->key_len < 5 ? e->key_len : 5, &opt, out, text,
                                sizeof text, &n, &complete);
        ck_assert(r == 0 || r == AH_ECORRUPT || r == AH_EINVAL);
    }
    /* Typos and word starts walk both tries and read every new section. */
    static const char *const typos[] = {"york",     "nwe york", "sao paolo", "strase x", "zurch",
                                        "abed",     "types",    "node",      "ab-a",     "cafe a",
                                        "qqqqqqqq", "lait",     "d e",       "bg new y", "ㅅㅇ",
                                        "ㅌㅂㅅ",   "한구",     "닭",        "ㄷㄱ"};
    for (size_t i = 0; i < sizeof typos / sizeof *typos; i++) {
        int complete;
        int r = ah_index_lookup(ix, typos[i], strlen(typos[i]), &opt, out, text, sizeof text, &n,
                                &complete);
        ck_assert_msg(r == 0 || r == AH_ECORRUPT, "lookup '%s': %d", typos[i], r);
        for (size_t j = 0; r == 0 && j < n; j++)
            ck_assert(out[j].text >= text && out[j].text + out[j].text_len <= text + sizeof text &&
                      out[j].span_start <= out[j].span_end);
    }
    /* Every context's index, found by value and by position, asked the same way. */
    for (uint32_t c = 0; c < ah_index_context_count(ix); c++) {
        size_t vlen;
        const char *v = ah_index_context_value(ix, c, &vlen);
        ck_assert(v != NULL && vlen >= 1 && vlen <= AH_MAX_CONTEXT_BYTES);
        const ah_index_t *in = ah_index_context(ix, v, vlen);
        ck_assert(in == NULL || in == ah_index_context_at(ix, c) || c > 0);
        in = ah_index_context_at(ix, c);
        for (size_t i = 0; i < sizeof typos / sizeof *typos; i += 3) {
            int complete;
            int r = ah_index_lookup(in, typos[i], strlen(typos[i]), &opt, out, text, sizeof text,
                                    &n, &complete);
            ck_assert_msg(r == 0 || r == AH_ECORRUPT, "context lookup '%s': %d", typos[i], r);
        }
        int r = ah_index_complete(in, "", 0, 4, out, text, sizeof text, &n);
        ck_assert(r == 0 || r == AH_ECORRUPT);
    }
    ck_assert(ah_index_context(ix, "zz", 2) == NULL || ah_index_context_count(ix) > 0);
    rc = ah_index_verify(ix, err, sizeof err);
    ck_assert_msg(rc == 0 || rc == AH_ECORRUPT, "verify: %d", rc);
    *verified = rc == 0;
    ah_index_close(ix);
    return 0;
}

START_TEST(test_good_snapshot_passes)
{
    int verified;
    ck_assert_int_eq(exercise((unsigned char *)good, good_len, &verified), 0);
    ck_assert(verified);
}
END_TEST

START_TEST(test_truncation_at_every_length)
{
    for (size_t len = 0; len < good_len; len++) {
        int verified;
        ck_assert_msg(exercise((unsigned char *)good, len, &verified) == AH_ECORRUPT,
                      "truncated to %zu bytes was accepted", len);
    }
    /* Appending bytes is damage too. */
    char *longer = malloc(good_len + 8);
    memcpy(longer, good, good_len);
    memset(longer + good_len, 0, 8);
    int verified;
    ck_assert_int_eq(exercise((unsigned char *)longer, good_len + 8, &verified), AH_ECORRUPT);
    free(longer);
}
END_TEST

/* _i selects the xor mask (and, from 4 on, the snapshot with contexts); every byte is flipped. */
START_TEST(test_flip_every_byte)
{
    static const unsigned char masks[] = {0x01, 0x80, 0xff, 0x10};
    const char *src = _i < 4 ? good : good_ctx;
    size_t len = _i < 4 ? good_len : good_ctx_len;
    unsigned char *f = malloc(len);
    size_t opened = 0;
    for (size_t at = 0; at < len; at++) {
        memcpy(f, src, len);
        f[at] ^= masks[_i % 4];
        int verified;
        /* Plain damage: refused at open or by verify, never accepted as good. */
        if (exercise(f, len, &verified) == 0) {
            opened++;
            ck_assert_msg(!verified, "flip at %zu passed verify", at);
        }
        /* Hostile: consistent checksums, so only the structure checks stand. */
        if (ts_reseal(f, len) == 0)
            exercise(f, len, &verified);
    }
    ck_assert_uint_lt(opened, len); /* the header flips at least were refused at open */
    free(f);
}
END_TEST

START_TEST(test_wrong_version_and_magic)
{
    unsigned char *f = malloc(good_len);
    memcpy(f, good, good_len);
    ah_store_u32(f + AH_HDR_VERSION, AH_FORMAT_VERSION + 1);
    ts_reseal(f, good_len);
    int verified;
    ck_assert_int_eq(exercise(f, good_len, &verified), AH_EVERSION);
    memcpy(f, good, good_len);
    memcpy(f, "NOTAHEAD", 8);
    ck_assert_int_eq(exercise(f, good_len, &verified), AH_ECORRUPT);
    free(f);
}
END_TEST

/*
 * Every typo depth a header can name, resealed: verify rebuilds the gram
 * table at that depth, so depths the builder never writes (6 to the most a
 * reader accepts) must be refused, not overrun the rebuild's buffers.
 */
START_TEST(test_every_typo_depth)
{
    unsigned char *f = malloc(good_len);
    for (uint32_t depth = 0; depth <= AH_MAX_GRAM_DEPTH + 1; depth++) {
        memcpy(f, good, good_len);
        ah_store_u32(f + AH_HDR_TYPO_DEPTH, depth);
        ck_assert_int_eq(ts_reseal(f, good_len), 0);
        int verified;
        if (exercise(f, good_len, &verified) == 0)
            ck_assert_msg(verified == (depth == AH_GRAM_DEPTH), "typo depth %u: verify %d",
                          (unsigned)depth, verified);
    }
    free(f);
}
END_TEST

/* The snapshot with contexts passes, answers in each context, and its truncations are refused. */
START_TEST(test_contexts_snapshot)
{
    int verified;
    ck_assert_int_eq(exercise((unsigned char *)good_ctx, good_ctx_len, &verified), 0);
    ck_assert(verified);
    ah_index_t *ix;
    char path[512];
    write_file(scratch_path(path, sizeof path, "ctx-victim.snap"), good_ctx, good_ctx_len);
    ck_assert_int_eq(ah_index_open(path, &ix, NULL, 0), 0);
    ck_assert_uint_eq(ah_index_context_count(ix), 3);
    ck_assert(ah_index_context(ix, "shoes", 5) != NULL);
    ah_index_close(ix);
    for (size_t len = 0; len < good_ctx_len; len += 1 + len / 64)
        ck_assert_msg(exercise((unsigned char *)good_ctx, len, &verified) == AH_ECORRUPT,
                      "truncated to %zu bytes was accepted", len);
}
END_TEST

int main(void)
{
    make_snapshot();
    Suite *s = suite_create("corrupt");
    TCase *tc = tcase_create("corrupt");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_good_snapshot_passes);
    tcase_add_test(tc, test_truncation_at_every_length);
    tcase_add_loop_test(tc, test_flip_every_byte, 0, 6);
    tcase_add_test(tc, test_contexts_snapshot);
    tcase_add_test(tc, test_wrong_version_and_magic);
    tcase_add_test(tc, test_every_typo_depth);
    suite_add_tcase(s, tc);
    int status = run_suite(s);
    free(good);
    free(good_ctx);
    oracle_free(&base);
    return status;
}
