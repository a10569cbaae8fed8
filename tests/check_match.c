/* SPDX-License-Identifier: MIT */
/*
 * check_match.c: typo-tolerant and word-start lookups (ah_index_lookup)
 * against the contract's brute-force oracle (oracle_match.c): docs/matching.md's
 * examples, randomized corpora of multi-word keys with punctuation,
 * accents, ß, ligatures, CJK and emoji under every build parameter, queries
 * with 0, 1 and 2 edits, every k, both match modes and every typo setting,
 * spans included; the real datasets; snapshots without the word-start
 * index, and without the typo index (the walk alone, the fallback for
 * such snapshots), with and without fills (the later tiers of popular
 * prefixes, worked out by the builder); proof that the comparison notices
 * a broken rule (the first letter, the tier order), and that lookups rely
 * on the typo index (emptied, it loses answers) and on the fills (emptied,
 * they lose answers, and verify notices).
 */
#include "bits.h"
#include "datasets.h"
#include "format.h"
#include "match.h"
#include "oracle.h"
#include "reseal.h"
#include "typo.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

/* Writes, opens and verifies a snapshot of o; what the writer did into *info when not NULL. */
static ah_index_t *build_with(const oracle_t *o, const ah_write_options_t *opt, const char *name,
                              ah_write_info_t *info)
{
    char path[512], err[256];
    ah_entry_t *e = oracle_entries(o);
    int rc = ah_snapshot_write(scratch_path(path, sizeof path, name), e, o->n, opt, info, err,
                               sizeof err);
    free(e);
    ck_assert_msg(rc == 0, "write: %s", err);
    ah_index_t *ix;
    ck_assert_msg(ah_index_open(path, &ix, err, sizeof err) == 0, "open: %s", err);
    ck_assert_msg(ah_index_verify(ix, err, sizeof err) == 0, "verify: %s", err);
    return ix;
}

/* The gram table's depth in a snapshot's header: what its writer said it chose. */
static void assert_gram_depth(const ah_index_t *ix, const ah_write_info_t *info)
{
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    ck_assert_uint_eq(st.typo_depth, info->grams_shallower ? AH_GRAM_DEPTH - 1 : AH_GRAM_DEPTH);
}

static ah_index_t *build(const oracle_t *o, const ah_write_options_t *opt, const char *name)
{
    return build_with(o, opt, name, NULL);
}

/* One lookup through the public, normalizing call. */
static size_t lookup(const ah_index_t *ix, const char *q, int typos, int words, unsigned k,
                     ah_completion_t *out, int *complete)
{
    static char text[AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];
    ah_lookup_options_t opt = {
        .k = k, .typos = typos, .match = words ? AH_MATCH_WORDS : AH_MATCH_PREFIX};
    size_t n;
    int rc = ah_index_lookup(ix, q, strlen(q), &opt, out, text, sizeof text, &n, complete);
    ck_assert_msg(rc == 0, "lookup '%s': %s", q, ah_strerror(rc));
    return n;
}

static int is_text(const ah_completion_t *c, const char *s)
{
    return c->text_len == strlen(s) && memcmp(c->text, s, c->text_len) == 0;
}

/* ------------------------------------------------------------- examples */

START_TEST(test_readme_examples)
{
    const char *texts[] = {
        "new york",    "newark", "York City", "yorkshire pudding", "python", "pytest", "Straße",
        "@types/node", "node",   "typhoon",   "ythonic",           "pyton",  "pithon"};
    uint64_t scores[] = {500, 900, 100, 50, 1000, 800, 70, 300, 2000, 40, 5000, 3, 9000};
    oracle_t o;
    oracle_from_pairs(&o, texts, scores, sizeof scores / sizeof *scores);
    ah_write_options_t opt = {.topk = 10, .max_text_bytes = 256, .hot_nodes = 2};
    ah_index_t *ix = build(&o, &opt, "examples.snap");
    ah_completion_t out[10];
    int complete;

    /* Prefix matches first, then the same prefix at a later word start. */
    size_t n = lookup(ix, "york", -1, 1, 10, out, &complete);
    ck_assert(complete);
    ck_assert_uint_eq(n, 3);
    ck_assert(is_text(&out[0], "York City") && !out[0].mid && out[0].typos == 0);
    ck_assert(is_text(&out[1], "yorkshire pudding"));
    ck_assert(is_text(&out[2], "new york") && out[2].mid && out[2].typos == 0);
    ck_assert_uint_eq(out[2].span_start, 4);
    ck_assert_uint_eq(out[2].span_end, 8);
    /* match=prefix leaves the word starts out. */
    ck_assert_uint_eq(lookup(ix, "york", -1, 0, 10, out, &complete), 2);

    /* A transposition is one typo; exact matches come first whatever their score. */
    n = lookup(ix, "pyhton", -1, 1, 10, out, &complete);
    ck_assert_uint_eq(n, 2);
    ck_assert(is_text(&out[0], "python") && out[0].typos == 1);
    ck_assert_uint_eq(out[0].span_end, 6);
    /* "pyton" is one deletion away, and scores less; "pithon" is two edits away. */
    ck_assert(is_text(&out[1], "pyton") && out[1].typos == 1);
    /* The first letter is never a typo: "ython" does not find "python", only "ythonic". */
    n = lookup(ix, "ython", -1, 1, 10, out, &complete);
    ck_assert_uint_eq(n, 1);
    ck_assert(is_text(&out[0], "ythonic") && out[0].typos == 0);
    /* Under four code points there are no typos: "pyt" finds only what starts with it. */
    n = lookup(ix, "pyh", -1, 1, 10, out, &complete);
    ck_assert_uint_eq(n, 0);
    /* typos=0 is today's behaviour. */
    ck_assert_uint_eq(lookup(ix, "pyhton", 0, 1, 10, out, &complete), 0);

    /* Word starts after punctuation: "node" is also in "@types/node", after the exact ones. */
    n = lookup(ix, "node", -1, 1, 10, out, &complete);
    ck_assert_uint_eq(n, 2);
    ck_assert(is_text(&out[0], "node") && is_text(&out[1], "@types/node") && out[1].mid);
    ck_assert_uint_eq(out[1].span_start, 7);
    ck_assert_uint_eq(out[1].span_end, 11);
    n = lookup(ix, "types", -1, 1, 10, out, &complete);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(out[0].span_start, 1);

    /* Spans are in code points of the display text: "strass" covers "Straß". */
    n = lookup(ix, "strass", -1, 1, 10, out, &complete);
    ck_assert_uint_eq(n, 1);
    ck_assert(is_text(&out[0], "Straße"));
    ck_assert_uint_eq(out[0].span_start, 0);
    ck_assert_uint_eq(out[0].span_end, 5);

    /* Bad options are refused. */
    ah_lookup_options_t bad = {.k = 11, .typos = -1, .match = AH_MATCH_WORDS};
    char text[AH_COMPLETE_TEXT_BYTES(10)];
    ck_assert_int_eq(ah_index_lookup(ix, "a", 1, &bad, out, text, sizeof text, &n, &complete),
                     AH_EINVAL);
    bad = (ah_lookup_options_t){.k = 1, .typos = 3, .match = AH_MATCH_WORDS};
    ck_assert_int_eq(ah_index_lookup(ix, "a", 1, &bad, out, text, sizeof text, &n, &complete),
                     AH_EINVAL);
    bad = (ah_lookup_options_t){.k = 1, .typos = -2, .match = AH_MATCH_WORDS};
    ck_assert_int_eq(ah_index_lookup(ix, "a", 1, &bad, out, text, sizeof text, &n, &complete),
                     AH_EINVAL);
    bad = (ah_lookup_options_t){.k = 1, .typos = 0, .match = (ah_match_mode_t)2};
    ck_assert_int_eq(ah_index_lookup(ix, "a", 1, &bad, out, text, sizeof text, &n, &complete),
                     AH_EINVAL);
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/* ---------------------------------------------------- randomized corpora */

/* Every setting of the lookup for one query; returns how many answers were incomplete. */
static size_t check_query(const oracle_t *o, const ah_index_t *ix, const char *q, size_t len,
                          unsigned topk, uint64_t *seed, int words_built)
{
    static const int typos[] = {-1, 0, 1, 2};
    size_t incomplete = 0;
    for (int words = 0; words <= 1; words++)
        for (size_t t = 0; t < 4; t++) {
            unsigned k = 1 + (unsigned)(test_rand(seed) % topk);
            /* Without the index, words matching is prefix matching. */
            int want_words = words && words_built;
            if (want_words == words) {
                incomplete += !oracle_check_lookup(o, ix, q, len, k, typos[t], words);
                continue;
            }
            oracle_match_t want[AH_MAX_K];
            ah_completion_t got[AH_MAX_K];
            static char text[AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];
            size_t got_n, want_n = oracle_lookup(o, q, len, k, typos[t], 0, ORACLE_EXACT, want);
            int complete;
            ah_lookup_options_t opt = {.k = k, .typos = typos[t], .match = AH_MATCH_WORDS};
            ck_assert(ah_index_lookup_key(ix, q, len, &opt, got, text, sizeof text, &got_n,
                                          &complete) == 0);
            ck_assert_uint_eq(got_n, want_n);
            for (size_t i = 0; i < got_n; i++)
                ck_assert(got[i].text_len == o->e[want[i].entry].text_len && !got[i].mid &&
                          got[i].typos == want[i].typos);
        }
    return incomplete;
}

/*
 * `count` queries made from random keys of the corpus with 0, 1 or 2 edits
 * in turn, each checked in every setting (check_query); returns how many
 * answers were incomplete.
 */
static size_t check_edited_queries(const oracle_t *o, const ah_index_t *ix, unsigned topk,
                                   size_t count, uint64_t *seed, int words_built)
{
    size_t incomplete = 0;
    char q[AH_MAX_KEY_BYTES];
    for (size_t i = 0; i < count; i++) {
        const oracle_entry_t *e = &o->e[test_rand(seed) % o->n];
        size_t len = test_make_query(seed, e->key, e->key_len, (unsigned)(i % 3), q, sizeof q);
        incomplete += check_query(o, ix, q, len, topk, seed, words_built);
    }
    return incomplete;
}

/*
 * Every prefix of 4 code points or more of the `keys` best-scored keys,
 * as typed (no edits), with k = topk and a smaller k: the prefixes the
 * builder gives fills first. Returns how many answers were incomplete.
 */
static size_t check_popular_prefixes(const oracle_t *o, const ah_index_t *ix, unsigned topk,
                                     size_t keys, int words)
{
    size_t *best = calloc(keys, sizeof *best), nbest = 0, incomplete = 0;
    for (size_t i = 0; i < o->n; i++) { /* insertion into the best `keys` by score */
        size_t j;
        if (nbest < keys)
            j = nbest++;
        else if (o->e[i].score > o->e[best[keys - 1]].score)
            j = keys - 1;
        else
            continue;
        for (; j > 0 && o->e[best[j - 1]].score < o->e[i].score; j--)
            best[j] = best[j - 1];
        best[j] = i;
    }
    for (size_t b = 0; b < nbest; b++) {
        const oracle_entry_t *e = &o->e[best[b]];
        size_t cps = 0;
        for (size_t len = 1; len <= e->key_len; len++) {
            cps += ((unsigned char)e->key[len - 1] & 0xc0) != 0x80;
            if (cps < 4 || (len < e->key_len && ((unsigned char)e->key[len] & 0xc0) == 0x80))
                continue;
            incomplete += !oracle_check_lookup(o, ix, e->key, len, topk, -1, words);
            incomplete +=
                !oracle_check_lookup(o, ix, e->key, len, 1 + (unsigned)(len % topk), -1, words);
        }
    }
    free(best);
    return incomplete;
}

static void random_corpus(oracle_t *o, uint64_t seed, size_t n)
{
    char **texts = calloc(n, sizeof *texts);
    uint64_t *scores = calloc(n, sizeof *scores);
    for (size_t i = 0; i < n; i++) {
        char buf[256];
        test_random_text(&seed, buf, sizeof buf);
        texts[i] = strdup(buf);
        uint64_t r = test_rand(&seed);
        scores[i] = r % 5 == 0 ? r >> 20 : 1 + r % 6; /* ties, and counts far above 2^32 */
    }
    oracle_from_pairs(o, (const char *const *)texts, scores, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(scores);
}

START_TEST(test_random_corpora)
{
    static const unsigned topks[] = {1, 2, 3, 5, 10};
    static const unsigned leaves[] = {1, 2, 3, 8, 64};
    static const unsigned buckets[] = {1, 4, 16};
    uint64_t seed = 0x5eed0000u + (uint64_t)_i;
    oracle_t o;
    random_corpus(&o, seed, 60 + test_rand(&seed) % 900);
    ah_write_options_t opt = {.topk = topks[_i % 5],
                              .bucket_size = buckets[_i % 3],
                              .max_text_bytes = 256,
                              .hot_nodes = (unsigned)(test_rand(&seed) % 40),
                              .word_leaf = leaves[(_i / 2) % 5],
                              .no_words = _i % 7 == 6,
                              .no_typo = _i % 4 == 3,
                              /* none, all there are (small corpora), or a few */
                              .fills = _i % 3 == 0   ? 0
                                       : _i % 3 == 1 ? AH_FILLS_AUTO
                                                     : 9,
                              .threads = 1 + (unsigned)_i % 3};
    char name[64];
    snprintf(name, sizeof name, "random-%d.snap", _i);
    ah_write_info_t info;
    ah_index_t *ix = build_with(&o, &opt, name, &info);
    /* With every prefix chosen, chains of them come up, and most are derived, not walked:
     * the oracle below holds those fills too. */
    if (opt.fills == AH_FILLS_AUTO && opt.topk >= 5)
        ck_assert_msg(info.fills_derived > 0, "%u fills, none derived", info.fills);
    size_t incomplete = check_edited_queries(&o, ix, opt.topk, 120, &seed, !opt.no_words);
    char q[AH_MAX_KEY_BYTES];
    /* Untouched prefixes of the best-scored keys: the ones with fills. */
    incomplete += check_popular_prefixes(&o, ix, opt.topk, 12, !opt.no_words);
    /* Every k for some of them, and a query that matches nothing. */
    for (size_t i = 0; i < 6; i++) {
        const oracle_entry_t *e = &o.e[test_rand(&seed) % o.n];
        size_t len = test_make_query(&seed, e->key, e->key_len, (unsigned)(i % 3), q, sizeof q);
        for (unsigned k = 1; k <= opt.topk; k++)
            incomplete += !oracle_check_lookup(&o, ix, q, len, k, -1, !opt.no_words);
    }
    incomplete += !oracle_check_lookup(&o, ix, "zzzz", 4, opt.topk, -1, !opt.no_words);
    incomplete += !oracle_check_lookup(&o, ix, "", 0, opt.topk, -1, !opt.no_words);
    /* Small tries never reach the work bound: every answer was held to the contract. */
    ck_assert_uint_eq(incomplete, 0);
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/*
 * Phrases of two to four letters: nearly every word start's suffix also
 * occurs inside some other word, where it must not match (a match starts
 * at a word start). Leaves of 64 entries make the typo index's exact walks run
 * into leaves before their keys end, and check each entry there.
 */
START_TEST(test_words_of_few_letters)
{
    uint64_t seed = 0xab0000u + (uint64_t)_i;
    size_t n = 300 + test_rand(&seed) % 600, letters = 2 + _i % 3;
    char **texts = calloc(n, sizeof *texts);
    uint64_t *scores = calloc(n, sizeof *scores);
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        size_t len = 0, words = 2 + test_rand(&seed) % 4;
        for (size_t w = 0; w < words; w++) {
            if (w > 0)
                buf[len++] = ' ';
            for (size_t c = 1 + test_rand(&seed) % 6; c > 0; c--)
                buf[len++] = "abcd"[test_rand(&seed) % letters];
        }
        buf[len] = '\0';
        texts[i] = strdup(buf);
        scores[i] = 1 + test_rand(&seed) % 50;
    }
    oracle_t o;
    oracle_from_pairs(&o, (const char *const *)texts, scores, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(scores);
    ah_write_options_t opt = {.topk = 10,
                              .max_text_bytes = 256,
                              .word_leaf = _i % 2 ? 64 : 8,
                              .fills = _i < 2 ? 0 : AH_FILLS_AUTO,
                              .threads = 1};
    char name[64];
    snprintf(name, sizeof name, "few-letters-%d.snap", _i);
    ah_write_info_t info;
    ah_index_t *ix = build_with(&o, &opt, name, &info);
    ck_assert_uint_eq(check_edited_queries(&o, ix, opt.topk, 150, &seed, 1), 0);
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/*
 * Smaller word-start leaves a level deeper and more hot nodes (size_budget
 * with room): the same answers as the contract, from tries that really
 * changed.
 */
START_TEST(test_near_word_leaves)
{
    uint64_t seed = 0x1eaf0000u + (uint64_t)_i;
    oracle_t o;
    random_corpus(&o, seed, 4000);
    ah_write_options_t opt = {.topk = 10,
                              .max_text_bytes = 256,
                              .hot_nodes = 8,
                              .hot_nodes_room = 200,
                              .no_typo = _i == 2,
                              .fills = _i == 1 ? AH_FILLS_AUTO : 0,
                              .size_budget = 1};
    ah_write_info_t coarse, near;
    ah_index_close(build_with(&o, &opt, "coarse.snap", &coarse));
    /* No room: 1x is the exact index alone. */
    ck_assert_int_eq(coarse.word_leaves_near, 0);
    ck_assert_int_eq(coarse.hot_nodes_more, 0);
    opt.size_budget = 1000;
    ah_index_t *ix = build_with(&o, &opt, "near.snap", &near);
    ck_assert_uint_eq(near.word_entries, coarse.word_entries);
    ck_assert_uint_eq(near.inner_nodes, coarse.inner_nodes);
    if (opt.no_typo) { /* a snapshot without the typo index stays as it is */
        ck_assert_int_eq(near.word_leaves_near, 0);
        ck_assert_int_eq(near.hot_nodes_more, 0);
        ck_assert_uint_eq(near.file_bytes, coarse.file_bytes);
    } else {
        ck_assert_int_eq(near.word_leaves_near, 1);
        ck_assert_int_eq(near.hot_nodes_more, 1);
        ck_assert_uint_gt(near.word_inner_nodes, coarse.word_inner_nodes);
        ck_assert_uint_gt(near.section_bytes[AH_SEC_HOT_TEXTS],
                          coarse.section_bytes[AH_SEC_HOT_TEXTS]);
    }
    ck_assert_uint_eq(check_edited_queries(&o, ix, opt.topk, 300, &seed, 1), 0);
    ah_index_close(ix);
    if (!opt.no_typo) {
        /*
         * The least budget that has room for the smaller leaves (no hot nodes
         * asked for), found in steps of 2%: there they fit only without the
         * gram table's deepest level, and the answers stay the contract's.
         */
        opt.hot_nodes_room = 0;
        ah_write_info_t least;
        for (opt.size_budget = 1;; opt.size_budget *= 1.02) {
            ix = build_with(&o, &opt, "least.snap", &least);
            if (least.word_leaves_near || opt.size_budget > 100)
                break;
            ah_index_close(ix);
        }
        ck_assert_int_eq(least.word_leaves_near, 1);
        ck_assert_int_eq(least.grams_shallower, 1);
        ck_assert_uint_eq(least.word_inner_nodes, near.word_inner_nodes);
        assert_gram_depth(ix, &least);
        ck_assert_uint_lt(least.section_bytes[AH_SEC_GRAM_BLOCKS],
                          near.section_bytes[AH_SEC_GRAM_BLOCKS]);
        ck_assert_uint_eq(check_edited_queries(&o, ix, opt.topk, 300, &seed, 1), 0);
        ah_index_close(ix);
    }
    oracle_free(&o);
}
END_TEST

/*
 * ASCII keys from few letters, long enough that states run out of edits
 * below the gram table's depths, with near variants of each other, and
 * queries with an edit or two deep in them: the walk's lookahead decides
 * there whether a state with an edit left can still match (walk_look.h),
 * and only ASCII edges let it tell bytes apart.
 */
static void deep_edit(uint64_t *seed, char *s, size_t *len, size_t from, size_t cap)
{
    static const char letters[] = "abcdefghijk";
    size_t at = from + test_rand(seed) % (*len - from);
    char c = letters[test_rand(seed) % 11];
    switch (test_rand(seed) % 4) {
    case 0:
        s[at] = c;
        break;
    case 1:
        if (*len + 1 < cap) {
            memmove(s + at + 1, s + at, *len - at);
            s[at] = c;
            ++*len;
        }
        break;
    case 2:
        if (*len > from + 1) {
            memmove(s + at, s + at + 1, *len - at - 1);
            --*len;
        }
        break;
    default:
        if (at + 1 < *len) {
            char t = s[at];
            s[at] = s[at + 1];
            s[at + 1] = t;
        }
    }
    s[*len] = 0;
}

/* The bytes the walk tries for a lookahead class are exactly the bytes of that class. */
START_TEST(test_look_class_bytes)
{
    for (unsigned b = 1; b < 256; b++) {
        unsigned c = ah_look_class((unsigned char)b);
        const char *in = ah_look_class_bytes(c);
        ck_assert_msg(c >= 30 ? in == NULL : strchr(in, (int)b) != NULL, "byte %u", b);
    }
    for (unsigned c = 0; c < 32; c++)
        for (const char *t = ah_look_class_bytes(c); t && *t; t++)
            ck_assert_uint_eq(ah_look_class((unsigned char)*t), c);
}
END_TEST

START_TEST(test_deep_edits)
{
    uint64_t seed = 0xdee90000u + (uint64_t)_i;
    size_t n = 1500;
    char **texts = calloc(n, sizeof *texts);
    uint64_t *scores = calloc(n, sizeof *scores);
    for (size_t i = 0; i < n; i++) {
        char buf[128];
        size_t len = 0;
        if (i > 0 && test_rand(&seed) % 3 == 0) { /* a near variant of an earlier key */
            snprintf(buf, sizeof buf, "%s", texts[test_rand(&seed) % i]);
            len = strlen(buf);
            if (len > 6)
                deep_edit(&seed, buf, &len, 5, sizeof buf);
        } else {
            for (size_t w = 0, words = 1 + test_rand(&seed) % 3; w < words; w++) {
                if (w > 0)
                    buf[len++] = test_rand(&seed) % 2 ? ' ' : '-';
                for (size_t j = 0, l = 3 + test_rand(&seed) % 8; j < l; j++)
                    buf[len++] = (char)('a' + test_rand(&seed) % (j < 2 ? 3 : 10));
            }
            buf[len] = 0;
        }
        texts[i] = strdup(buf);
        scores[i] = 1 + test_rand(&seed) % 50;
    }
    oracle_t o;
    oracle_from_pairs(&o, (const char *const *)texts, scores, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(scores);
    ah_write_options_t opt = {.topk = 10,
                              .max_text_bytes = 256,
                              .fills = _i % 2 ? AH_FILLS_AUTO : 0,
                              .no_typo = _i == 2,
                              .threads = 1};
    ah_index_t *ix = build(&o, &opt, "deep.snap");
    size_t incomplete = 0;
    for (size_t i = 0; i < 300; i++) {
        const oracle_entry_t *e = &o.e[test_rand(&seed) % o.n];
        if (e->key_len < 8)
            continue;
        char raw[160], q[AH_MAX_KEY_BYTES];
        size_t rl = 6 + test_rand(&seed) % (e->key_len - 5), len;
        memcpy(raw, e->key, rl);
        raw[rl] = 0;
        for (size_t k = 0, edits = 1 + i % 2; k < edits && rl > 6; k++)
            deep_edit(&seed, raw, &rl, k == 0 ? 5 : 1, sizeof raw);
        ck_assert(ah_normalize_key(raw, rl, q, sizeof q, &len, 1) == 0);
        incomplete += check_query(&o, ix, q, len, opt.topk, &seed, 1);
    }
    ck_assert_uint_eq(incomplete, 0);
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/* -------------------------------------------- the test can fail: mutations */

START_TEST(test_broken_rules_are_noticed)
{
    uint64_t seed = 4242;
    oracle_t o;
    random_corpus(&o, seed, 800);
    ah_write_options_t opt = {.topk = 10, .max_text_bytes = 256, .hot_nodes = 8, .word_leaf = 4};
    ah_index_t *ix = build(&o, &opt, "mutations.snap");
    size_t first_letter = 0, tier_order = 0;
    char q[AH_MAX_KEY_BYTES];
    for (size_t i = 0; i < 200; i++) {
        const oracle_entry_t *e = &o.e[test_rand(&seed) % o.n];
        size_t len = test_make_query(&seed, e->key, e->key_len, 1 + (unsigned)(i % 2), q, sizeof q);
        first_letter +=
            oracle_lookup_differs(&o, ix, q, len, 10, -1, 1, ORACLE_NO_FIRST_LETTER_RULE);
        tier_order += oracle_lookup_differs(&o, ix, q, len, 10, -1, 1, ORACLE_WORDS_BEFORE_TYPOS);
        ck_assert(!oracle_lookup_differs(&o, ix, q, len, 10, -1, 1, ORACLE_EXACT));
    }
    /* An implementation without the rule, or with the tiers swapped, would fail above. */
    ck_assert_msg(first_letter > 0, "no query tells the first-letter rule apart");
    ck_assert_msg(tier_order > 0, "no query tells the tier order apart");
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/*
 * A typo pass leaves to the typo index every state that runs out of edits
 * near the top of the trie, and skips children its lookahead masks rule
 * out: with the gram table emptied, or every mask cleared, a snapshot
 * (re-sealed, so it opens) must lose answers the contract requires. This
 * is what makes the oracle comparisons above a test of the index.
 */
static size_t answers_lost(const oracle_t *o, const char *name, unsigned sec, int fill)
{
    char path[512], err[256];
    ah_entry_t *e = oracle_entries(o);
    ah_write_options_t opt = {.topk = 10, .max_text_bytes = 256, .hot_nodes = 8, .word_leaf = 4};
    ck_assert(ah_snapshot_write(scratch_path(path, sizeof path, name), e, o->n, &opt, NULL, err,
                                sizeof err) == 0);
    free(e);
    size_t len;
    unsigned char *f = (unsigned char *)read_file(path, &len);
    const unsigned char *entry = f + AH_HEADER_SIZE + (sec - 1) * AH_SECTION_ENTRY_SIZE;
    uint64_t off = ah_load_u64(entry + AH_SEC_OFFSET), n = ah_load_u64(entry + AH_SEC_LENGTH);
    ck_assert_uint_gt(n, AH_SECTION_PAD);
    memset(f + off, fill, n - AH_SECTION_PAD);
    ck_assert_int_eq(ts_reseal(f, len), 0);
    write_file(path, (const char *)f, len);
    free(f);
    ah_index_t *ix;
    ck_assert_msg(ah_index_open(path, &ix, err, sizeof err) == 0, "open: %s", err);
    uint64_t seed = 31337;
    size_t lost = 0;
    char q[AH_MAX_KEY_BYTES];
    for (size_t i = 0; i < 300; i++) {
        const oracle_entry_t *oe = &o->e[test_rand(&seed) % o->n];
        size_t qlen =
            test_make_query(&seed, oe->key, oe->key_len, 1 + (unsigned)(i % 2), q, sizeof q);
        lost += oracle_lookup_differs(o, ix, q, qlen, 10, -1, 1, ORACLE_EXACT);
    }
    ah_index_close(ix);
    return lost;
}

START_TEST(test_lookups_rely_on_the_typo_index)
{
    oracle_t o;
    random_corpus(&o, 777, 3000);
    size_t no_grams = answers_lost(&o, "no-grams.snap", AH_SEC_GRAM_SLOTS, 0xff);
    size_t no_look = answers_lost(&o, "no-look.snap", AH_SEC_LOOK, 0);
    size_t no_word_look = answers_lost(&o, "no-word-look.snap", AH_SEC_WORD_LOOK, 0);
    ck_assert_msg(no_grams > 0, "an empty gram table lost no answer");
    ck_assert_msg(no_look > 0, "cleared lookahead masks lost no answer");
    ck_assert_msg(no_word_look > 0, "cleared word-start lookahead masks lost no answer");
    oracle_free(&o);
}
END_TEST

/*
 * A lookup of a prefix with a fill takes its later tiers from it: with
 * every fill emptied (m = 0, resealed), lookups of popular prefixes must
 * lose answers the contract requires, and verify must refuse the file.
 * This is what makes the oracle comparisons a test of the fills.
 */
START_TEST(test_lookups_use_the_fills)
{
    oracle_t o;
    random_corpus(&o, 4711, 2000);
    char path[512], err[256];
    ah_entry_t *e = oracle_entries(&o);
    ah_write_options_t opt = {
        .topk = 10, .max_text_bytes = 256, .hot_nodes = 8, .fills = AH_FILLS_AUTO};
    ck_assert(ah_snapshot_write(scratch_path(path, sizeof path, "no-fills.snap"), e, o.n, &opt,
                                NULL, err, sizeof err) == 0);
    free(e);
    ah_index_t *ix;
    ck_assert_msg(ah_index_open(path, &ix, err, sizeof err) == 0, "open: %s", err);
    ck_assert_uint_eq(check_popular_prefixes(&o, ix, 10, 40, 1), 0);
    ah_index_close(ix);

    size_t len;
    unsigned char *f = (unsigned char *)read_file(path, &len);
    uint32_t n_sec = ah_load_u32(f + AH_HDR_SECTION_COUNT);
    const unsigned char *entry = f + AH_HEADER_SIZE + (n_sec - 1) * AH_SECTION_ENTRY_SIZE;
    ck_assert_uint_eq(ah_load_u32(entry + AH_SEC_ID), AH_SEC_FILLS);
    unsigned char *fills = f + ah_load_u64(entry + AH_SEC_OFFSET);
    uint32_t slots = ah_load_u32(fills), emptied = 0;
    for (uint32_t i = 0; i < slots; i++) {
        uint32_t at = ah_load_u32(fills + AH_FILL_HEAD + 4 * i);
        if (at != AH_FILL_SLOT_EMPTY && fills[at + 6] > 0) {
            fills[at + 6] = 0;
            emptied++;
        }
    }
    ck_assert_uint_gt(emptied, 0);
    ck_assert_int_eq(ts_reseal(f, len), 0);
    write_file(path, (const char *)f, len);
    free(f);
    ck_assert_msg(ah_index_open(path, &ix, err, sizeof err) == 0, "open: %s", err);
    ck_assert_int_eq(ah_index_verify(ix, err, sizeof err), AH_ECORRUPT);
    ck_assert_msg(strstr(err, "fills") != NULL, "verify: %s", err);
    uint64_t seed = 99;
    size_t lost = 0;
    for (size_t b = 0; b < 200; b++) {
        const oracle_entry_t *oe = &o.e[test_rand(&seed) % o.n];
        for (size_t l = 4; l <= oe->key_len; l++)
            if (l == oe->key_len || ((unsigned char)oe->key[l] & 0xc0) != 0x80)
                lost += oracle_lookup_differs(&o, ix, oe->key, l, 10, -1, 1, ORACLE_EXACT);
    }
    ck_assert_msg(lost > 0, "emptied fills lost no answer");
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

/* ------------------------------------------------------------ datasets */

/*
 * near_expected: whether the defaults make smaller word-start leaves;
 * shallower_expected: whether they give up the gram table's deepest level
 * for them (-1: either).
 */
static void check_dataset(const char *file, size_t max_lines, size_t queries, int near_expected,
                          int shallower_expected)
{
    char path[512];
    if (!dataset_path(file, path, sizeof path)) {
        printf("check_match: %s not found in data/ or ../shared/data: skipped\n", file);
        return;
    }
    oracle_t o;
    oracle_load(&o, path, max_lines);
    /* The exact index alone, whose size the defaults' budget is a multiple of. */
    ah_write_options_t exact = {.topk = 10,
                                .max_text_bytes = 256,
                                .hot_nodes = (unsigned)o.n / 256,
                                .no_words = 1,
                                .no_typo = 1};
    ah_write_info_t info;
    ah_index_close(build_with(&o, &exact, "exact.snap", &info));
    uint64_t exact_bytes = info.file_bytes;
    /* With the typo index and fills (the defaults), and without them: the walk alone. */
    for (int no_typo = 0; no_typo <= 1; no_typo++) {
        ah_write_options_t opt = {.topk = 10,
                                  .max_text_bytes = 256,
                                  .hot_nodes = (unsigned)o.n / 256,
                                  .hot_nodes_room = (unsigned)o.n / 64,
                                  .no_typo = no_typo,
                                  .fills = no_typo ? 0 : AH_FILLS_AUTO,
                                  .size_budget = AH_SIZE_BUDGET,
                                  .threads = 2};
        ah_index_t *ix = build_with(&o, &opt, "dataset.snap", &info);
        if (near_expected >= 0 && !no_typo)
            ck_assert_int_eq(info.word_leaves_near, near_expected);
        if (shallower_expected >= 0 && !no_typo)
            ck_assert_int_eq(info.grams_shallower, shallower_expected);
        if (!no_typo)
            assert_gram_depth(ix, &info);
        /* What the budget allows is taken only within it (the rest may exceed it). */
        if (info.word_leaves_near || info.hot_nodes_more)
            ck_assert_msg(info.file_bytes <= AH_SIZE_BUDGET * (double)exact_bytes,
                          "%" PRIu64 " bytes over %.1f x %" PRIu64, info.file_bytes, AH_SIZE_BUDGET,
                          exact_bytes);
        uint64_t seed = 77;
        size_t incomplete = 0;
        char q[AH_MAX_KEY_BYTES];
        for (size_t i = 0; i < queries; i++) {
            const oracle_entry_t *e = &o.e[test_rand(&seed) % o.n];
            size_t len = test_make_query(&seed, e->key, e->key_len, (unsigned)(i % 3), q, sizeof q);
            incomplete += !oracle_check_lookup(&o, ix, q, len, 10, -1, 1);
            incomplete += !oracle_check_lookup(&o, ix, q, len, 1 + (unsigned)(i % 10), -1, 0);
        }
        ck_assert_msg(incomplete * 100 <= queries, "%zu of %zu answers incomplete", incomplete,
                      2 * queries);
        ck_assert_uint_eq(check_popular_prefixes(&o, ix, 10, 25, 1), 0);
        ah_index_close(ix);
    }
    oracle_free(&o);
}

START_TEST(test_subtlex)
{
    /* Over the budget already at depth 5: the smaller leaves fit only at depth 4. */
    check_dataset("subtlex-us.tsv", 0, 150, 1, 1);
}
END_TEST

START_TEST(test_es_ngrams)
{
    check_dataset("es-ngrams.tsv.gz", 0, 100, 1, 0);
}
END_TEST

START_TEST(test_npm_head)
{
    check_dataset("npm-downloads.tsv.gz", 300000, 60, -1, -1);
}
END_TEST

/* ---------------------------------------------------------- display spans */

/*
 * Spans by the definition: f[c] is the code points of the key of a display
 * text's first c code points (of n, cps), from ah_normalize_key on each
 * prefix (prefix_key_cps); the span of key code points [a, b) starts at
 * the last c with f[c] <= a, ends at the first c from there with f[c] >=
 * b, then takes in the combining marks that follow.
 */
static size_t prefix_key_cps(const char *text, size_t len, uint32_t *f, utf8proc_int32_t *cps)
{
    size_t off[AH_MAX_TEXT_BYTES + 1], n = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_ssize_t w = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(len - i), &cps[n]);
        ck_assert(w > 0);
        off[n++] = i;
        i += (size_t)w;
    }
    off[n] = len;
    for (size_t c = 0; c <= n; c++) {
        char key[AH_MAX_KEY_BYTES + 8];
        size_t klen = 0;
        ck_assert(ah_normalize_key(text, off[c], key, sizeof key, &klen, 1) == 0);
        f[c] = 0;
        for (size_t i = 0; i < klen; i++)
            f[c] += ((unsigned char)key[i] & 0xc0) != 0x80;
    }
    return n;
}

static void span_by_definition(const uint32_t *f, const utf8proc_int32_t *cps, size_t n, uint32_t a,
                               uint32_t b, uint32_t *start, uint32_t *end)
{
    size_t s = 0, e;
    while (s < n && f[s + 1] <= a)
        s++;
    for (e = s; e < n && f[e] < b;)
        e++;
    while (e > s && e < n) {
        utf8proc_category_t cat = utf8proc_category(cps[e]);
        if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_MC &&
            cat != UTF8PROC_CATEGORY_ME)
            break;
        e++;
    }
    *start = (uint32_t)s;
    *end = (uint32_t)e;
}

/*
 * Display spans of Latin and Hangul texts are worked out in one pass over
 * the text (ah_key_cps_of_prefixes); they must be the spans of the
 * definition, for every [a, b), on texts whose code points' keys are
 * spaces (the diaeresis and acute accent alone), two letters (ß, ŉ, ǅ),
 * or jamo, with white space of several kinds, and on texts that need
 * utf8proc.
 */
START_TEST(test_display_spans_in_one_pass)
{
    static const char *const pieces[] = {"a",
                                         "B",
                                         "z",
                                         " ",
                                         "  ",
                                         "\t",
                                         "\xc2\xa0",
                                         "\xc3\xa9",
                                         "\xc3\x89",
                                         "\xc3\x9f",
                                         "\xc2\xa8",
                                         "\xc2\xb4",
                                         "\xc5\x89",
                                         "\xc7\x85",
                                         "\xc4\xb1",
                                         "\xc5\xbf",
                                         "\xc3\xb1",
                                         "\xc8\xb7",
                                         "\xea\xb0\x80",
                                         "\xed\x95\x9c",
                                         "\xe3\x84\xb1",
                                         "\xe3\x85\x98",
                                         "\xe3\x84\xb3",
                                         "x\xcc\x83",
                                         "\xef\xac\x81",
                                         "\xd0\x96",
                                         "\xc9\x90"};
    size_t n_pieces = sizeof pieces / sizeof *pieces, fast = 0;
    uint64_t seed = 0x5ba9;
    for (int round = 0; round < 4000; round++) {
        char text[AH_MAX_TEXT_BYTES];
        size_t len = 0;
        /* Most texts from the pieces the one pass takes; some with one that needs utf8proc. */
        size_t from = round % 4 == 0 ? n_pieces : n_pieces - 4;
        for (uint64_t m = 1 + test_rand(&seed) % 12; m > 0; m--) {
            const char *p = pieces[test_rand(&seed) % from];
            if (len + strlen(p) > sizeof text)
                break;
            memcpy(text + len, p, strlen(p));
            len += strlen(p);
        }
        /* A display text: its white space collapsed (ah_normalize_surface). */
        char raw[AH_MAX_TEXT_BYTES];
        memcpy(raw, text, len);
        ck_assert(ah_normalize_surface(raw, len, text, sizeof text, &len) == 0);
        if (len == 0)
            continue;
        uint32_t f[AH_MAX_TEXT_BYTES + 1], fast_f[AH_MAX_TEXT_BYTES + 1];
        utf8proc_int32_t cps[AH_MAX_TEXT_BYTES];
        size_t n = prefix_key_cps(text, len, f, cps);
        size_t bytes;
        int m = ah_key_cps_of_prefixes(text, len, UINT32_MAX, fast_f,
                                       sizeof fast_f / sizeof *fast_f, &bytes);
        if (m >= 0) {
            fast++;
            ck_assert_int_eq(m, (int)n);
            ck_assert_uint_eq(bytes, len);
            for (size_t c = 0; c <= n; c++)
                ck_assert_uint_eq(fast_f[c], f[c]);
        }
        for (uint32_t a = 0; a <= f[n] + 1; a++)
            for (uint32_t b = a; b <= f[n] + 2; b++) {
                uint32_t s0, e0, s1, e1;
                span_by_definition(f, cps, n, a, b, &s0, &e0);
                ah_match_display_span(text, len, a, b, &s1, &e1);
                ck_assert_msg(s0 == s1 && e0 == e1, "'%.*s' [%u, %u): [%u, %u), want [%u, %u)",
                              (int)len, text, a, b, s1, e1, s0, e0);
            }
    }
    ck_assert_uint_gt(fast, 1000); /* both ways were taken, many times */
    ck_assert_uint_gt(4000 - fast, 1000);
}
END_TEST

static Suite *match_suite(void)
{
    Suite *s = suite_create("match");
    TCase *tc = tcase_create("contract");
    tcase_add_test(tc, test_readme_examples);
    tcase_add_loop_test(tc, test_random_corpora, 0, 28);
    tcase_add_loop_test(tc, test_near_word_leaves, 0, 3);
    tcase_add_loop_test(tc, test_words_of_few_letters, 0, 6);
    tcase_add_test(tc, test_look_class_bytes);
    tcase_add_loop_test(tc, test_deep_edits, 0, 3);
    tcase_add_test(tc, test_broken_rules_are_noticed);
    tcase_add_test(tc, test_lookups_rely_on_the_typo_index);
    tcase_add_test(tc, test_lookups_use_the_fills);
    tcase_add_test(tc, test_display_spans_in_one_pass);
    suite_add_tcase(s, tc);
    TCase *real = tcase_create("datasets");
    tcase_set_timeout(real, 600);
    tcase_add_test(real, test_subtlex);
    tcase_add_test(real, test_es_ngrams);
    tcase_add_test(real, test_npm_head);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    return run_suite(match_suite());
}
