/* SPDX-License-Identifier: MIT */
/*
 * search.c: lookups that forgive typos and match at word starts
 * (ah_index_lookup), in tiers that follow the ranking of the contract:
 *
 *   tier (0, prefix)   the exact prefix answer: index.c's lookup, unchanged
 *   tier (0, words)    exact, at a later word start: word-start trie
 *   tier (1, prefix)   one typo, from the start: main trie
 *   tier (1, words)    one typo, at a later word start: word-start trie
 *   tier (2, ...)      the same with two
 *
 * A tier runs only while the ones before it left fewer than k answers, so
 * everything the earlier tiers matched is already among the answers; a
 * tier's pass only has to find the best `need` completions that match
 * within its distance and are not answers yet. Most keystrokes never leave
 * the first tier.
 *
 * Each pass is a walk of one trie (walk.c). Afterwards each answer gets
 * its text, score and highlight: at the first word start that matches
 * within its distance (the key's start for a prefix match), the longest
 * stretch of the key within exactly that distance, mapped onto the display
 * text (match.c).
 */
#include "walk.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- answers */

static uint32_t count_cps(const char *s, size_t len)
{
    /* Every byte but a continuation byte (10xxxxxx) starts a code point; eight at a time. */
    uint32_t cont = 0;
    size_t i = 0;
    for (uint64_t v; i + 8 <= len; i += 8) {
        memcpy(&v, s + i, 8);
        cont += (uint32_t)__builtin_popcountll(v & ~(v << 1) & 0x8080808080808080ull);
    }
    for (; i < len; i++)
        cont += ((unsigned char)s[i] & 0xc0) == 0x80;
    return (uint32_t)len - cont;
}

/* The completion of rank (class << 32 | lex id): its key into key/len, text and score into out. */
static int answer_of(const ah_index_t *ix, uint64_t rank, char *key, uint32_t *len,
                     ah_completion_t *out, char *text, size_t cap, size_t *used)
{
    uint32_t tlen;
    uint64_t display;
    const char *t;
    int rc = ah_index__key_at(ix, (uint32_t)rank, key, len, &display);
    if (rc || (rc = ah_index__display(ix, display, key, *len, &t, &tlen)) != 0 ||
        (rc = ah_index__put_text(out, text, cap, used, t, tlen)) != 0)
        return rc;
    return ah_index__score(ix, (uint32_t)(rank >> 32), &out->score);
}

/*
 * The answer for a hit of a later tier: text, score, and the span: at the
 * first word start that matches within the hit's distance (the start of
 * the key for a prefix match), the longest stretch of the key within
 * exactly that distance, mapped onto the display text.
 */
static int emit_hit(const ah_index_t *ix, const ah_pattern_t *pat, const ah_hit_t *h,
                    ah_completion_t *out, char *text, size_t cap, size_t *used)
{
    char key[AH_MAX_KEY_BYTES];
    uint32_t len;
    int rc = answer_of(ix, h->rank, key, &len, out, text, cap, used);
    if (rc)
        return rc;
    out->typos = h->d;
    out->mid = h->mid;
    ah_pattern_t p = *pat;
    p.d = h->d;
    uint32_t from = 0;
    if (h->mid) {
        uint32_t starts[AH_MAX_KEY_BYTES / 2];
        size_t n = ah_match_word_starts(key, len, starts, sizeof starts / sizeof *starts);
        for (size_t w = 0; w < n && w < sizeof starts / sizeof *starts; w++)
            if (ah_match_within(&p, key + starts[w], len - starts[w])) {
                from = starts[w];
                break;
            }
    }
    int l = ah_match_span_len(&p, key + from, len - from);
    uint32_t a = count_cps(key, from), b = a + (l > 0 ? (uint32_t)l : 0);
    ah_match_display_span(out->text, out->text_len, a, b, &out->span_start, &out->span_end);
    return 0;
}

/* A pass's state before its first tier: no answers yet, nothing spent. */
static void walk_init(ah_walk_t *s, const ah_index_t *ix, const ah_pattern_t *pat)
{
    s->ix = ix;
    s->pat = *pat;
    s->look_for = NULL;
    uint32_t c = pat->q[0];
    s->first_byte = c < 0x80      ? c
                    : c < 0x800   ? 0xc0 | c >> 6
                    : c < 0x10000 ? 0xe0 | c >> 12
                                  : 0xf0 | c >> 18;
    s->nres = 0;
    s->work = 0;
    s->complete = 1;
    s->fits_d = 0;
}

/* The tiers after the exact one (its answers already in s->res), each while there is room. */
static int walk_tiers(ah_walk_t *s, unsigned budget, int words, unsigned k)
{
    int rc = 0;
    for (unsigned d = 0; d <= budget && s->nres < k && !rc; d++) {
        if (d > 0)
            rc = ah_walk__pass(s, 0, d, k - s->nres);
        if (!rc && words && s->nres < k)
            rc = ah_walk__pass(s, 1, d, k - s->nres);
    }
    return rc;
}

/*
 * The tiers after the exact one, each while there is room; out[0..*n_out)
 * holds the exact answers (lex ids in ids) and `used` bytes of text. Out
 * of line, so that the search's frame (the frontier) is only set up when
 * the exact answer is short.
 */
static __attribute__((noinline)) int later_tiers(const ah_index_t *ix, const ah_pattern_t *pat,
                                                 unsigned budget, int words, unsigned k,
                                                 const uint32_t *ids, ah_completion_t *out,
                                                 char *text, size_t cap, size_t used, size_t *n_out,
                                                 int *complete)
{
    ah_walk_t s;
    walk_init(&s, ix, pat);
    size_t t0 = *n_out;
    for (size_t i = 0; i < t0; i++)
        s.res[s.nres++] = (ah_hit_t){ah_walk__rank(ix, ids[i]), 0, 0};
    int rc = walk_tiers(&s, budget, words, k);
    uint32_t hit_ids[AH_MAX_K];
    for (size_t i = t0; i < s.nres; i++)
        hit_ids[i - t0] = (uint32_t)s.res[i].rank;
    ah_index__prefetch_answers(ix, hit_ids, rc ? 0 : s.nres - t0);
    for (size_t i = t0; i < s.nres && !rc; i++)
        rc = emit_hit(ix, &s.pat, &s.res[i], &out[i], text, cap, &used);
    if (rc) {
        *n_out = 0;
        return rc;
    }
    *n_out = s.nres;
    *complete = s.complete;
    return 0;
}

/*
 * The same tiers from a precomputed fill (FILLS in format.h, entry e),
 * which holds the answers they add for k = K in order: the first ones
 * that fit in k.
 */
static int fill_tiers(const ah_index_t *ix, const ah_pattern_t *pat, unsigned budget,
                      const unsigned char *e, unsigned k, ah_completion_t *out, char *text,
                      size_t cap, size_t used, size_t *n_out)
{
    const unsigned char *p = e + AH_FILL_ENTRY_HEAD;
    const unsigned char *end = ix->sec[AH_SEC_FILLS].data + ix->sec[AH_SEC_FILLS].len;
    uint64_t v[AH_MAX_K];
    uint32_t ids[AH_MAX_K];
    size_t n = *n_out, m = 0;
    for (unsigned i = 0; i < e[6] && n + m < k; i++, m++) {
        if (!ah_varint_get(&p, end, &v[m]) || v[m] >> 3 >= ix->n || (v[m] >> 1 & 3) > budget) {
            *n_out = 0;
            return AH_ECORRUPT;
        }
        ids[m] = (uint32_t)(v[m] >> 3);
    }
    ah_index__prefetch_answers(ix, ids, m);
    int rc = 0;
    for (size_t i = 0; i < m && !rc; i++) {
        ah_hit_t h = {ah_walk__rank(ix, ids[i]), (uint8_t)(v[i] >> 1 & 3), (uint8_t)(v[i] & 1)};
        rc = emit_hit(ix, pat, &h, &out[n++], text, cap, &used);
    }
    *n_out = rc ? 0 : n;
    return rc;
}

static int check_options(const ah_index_t *ix, const ah_lookup_options_t *opt)
{
    if (opt->k == 0 || opt->k > ix->topk || opt->typos < AH_TYPOS_AUTO ||
        opt->typos > AH_MATCH_MAX_TYPOS ||
        (opt->match != AH_MATCH_PREFIX && opt->match != AH_MATCH_WORDS))
        return AH_EINVAL;
    return 0;
}

/*
 * Are these bytes all ASCII? end is the end of the buffer they lie in: a
 * short run is tested with one eight-byte load when the buffer allows it.
 */
static inline int all_ascii(const char *s, size_t len, const char *end)
{
    if (len <= 8 && (size_t)(end - s) >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        return !(v & (len == 8 ? ~0ull : (1ull << (8 * len)) - 1) & 0x8080808080808080ull);
    }
    size_t i = 0;
    for (uint64_t v; i + 8 <= len; i += 8) {
        memcpy(&v, s + i, 8);
        if (v & 0x8080808080808080ull)
            return 0;
    }
    for (; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

int ah_index__fill_walk(const ah_index_t *ix, const char *key, size_t len, uint32_t lo,
                        uint32_t count, ah_walk_t *s, ah_fill_t *f)
{
    uint32_t qbuf[AH_PATTERN_CPS(AH_MAX_KEY_BYTES)];
    ah_pattern_t pat;
    if (len == 0 || len > AH_MAX_KEY_BYTES || count >= ix->topk || lo > ix->n - count)
        return AH_EINVAL;
    ah_match_pattern(key, len, qbuf, &pat);
    f->budget = ah_match_budget(ah_match_shown_cps(key, len), AH_TYPOS_AUTO);
    f->words = ix->word_entries > 0 && ah_match_is_word_cp(pat.q[0]);
    walk_init(s, ix, &pat);
    for (uint32_t i = 0; i < count; i++)
        s->res[s->nres++] = (ah_hit_t){ah_walk__rank(ix, lo + i), 0, 0};
    int rc = f->budget == 0 && !f->words ? 0 : walk_tiers(s, f->budget, f->words, ix->topk);
    f->n = 0;
    for (size_t i = count; i < s->nres; i++)
        f->hit[f->n++] =
            (uint64_t)(uint32_t)s->res[i].rank << 3 | (uint64_t)s->res[i].d << 1 | s->res[i].mid;
    f->complete = s->complete;
    return rc;
}

/* A derived fill's answer before ordering: tier (2 d + mid-phrase), then rank. */
typedef struct tiered {
    unsigned tier;
    uint64_t rank;
} tiered_t;

static int by_tier_then_rank(const void *a, const void *b)
{
    const tiered_t *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* The first tier after the exact one where the key matches pat (its typo budget in f), or -1. */
static int tier_of(ah_pattern_t *pat, const ah_fill_t *f, const char *key, uint32_t len)
{
    uint32_t starts[AH_MAX_KEY_BYTES / 2];
    size_t n =
        f->words ? ah_match_word_starts(key, len, starts, sizeof starts / sizeof *starts) : 0;
    if (n > sizeof starts / sizeof *starts)
        n = sizeof starts / sizeof *starts;
    for (unsigned d = 0; d <= f->budget; d++) {
        pat->d = d;
        if (d > 0 && ah_match_within(pat, key, len))
            return (int)(2 * d);
        for (size_t w = 0; w < n; w++)
            if (ah_match_within(pat, key + starts[w], len - starts[w]))
                return (int)(2 * d + 1);
    }
    return -1;
}

int ah_index__fill_derive(const ah_index_t *ix, const char *key, size_t len, uint32_t lo,
                          uint32_t count, uint32_t src_lo, uint32_t src_count, const ah_fill_t *src,
                          ah_fill_t *f)
{
    uint32_t qbuf[AH_PATTERN_CPS(AH_MAX_KEY_BYTES)];
    ah_pattern_t pat;
    if (len == 0 || len > AH_MAX_KEY_BYTES || count >= ix->topk || lo > ix->n - count ||
        src_count + src->n >= ix->topk || src_lo > ix->n - src_count || !src->complete)
        return AH_EINVAL;
    ah_match_pattern(key, len, qbuf, &pat);
    f->budget = ah_match_budget(ah_match_shown_cps(key, len), AH_TYPOS_AUTO);
    f->words = ix->word_entries > 0 && ah_match_is_word_cp(pat.q[0]);
    if (f->budget != src->budget || f->words != src->words)
        return AH_EINVAL;
    tiered_t found[AH_MAX_K]; /* fewer than K: src's answers */
    size_t m = 0;
    for (size_t i = 0; i < src_count + src->n; i++) {
        uint32_t id =
            i < src_count ? src_lo + (uint32_t)i : (uint32_t)(src->hit[i - src_count] >> 3);
        if (id - lo < count)
            continue; /* the exact tier's */
        char k[AH_MAX_KEY_BYTES];
        uint32_t klen;
        uint64_t display;
        int rc = ah_index__key_at(ix, id, k, &klen, &display);
        if (rc)
            return rc;
        int tier = tier_of(&pat, f, k, klen);
        if (tier >= 0)
            found[m++] = (tiered_t){(unsigned)tier, ah_walk__rank(ix, id)};
    }
    qsort(found, m, sizeof *found, by_tier_then_rank);
    f->n = 0;
    for (size_t i = 0; i < m && count + f->n < ix->topk; i++)
        f->hit[f->n++] = (uint64_t)(uint32_t)found[i].rank << 3 |
                         (uint64_t)(found[i].tier >> 1) << 1 | (found[i].tier & 1);
    f->complete = 1;
    return 0;
}

int ah_parse_typos(const char *s, size_t len, int *typos)
{
    if (len == 1 && s[0] >= '0' && s[0] <= '2')
        *typos = s[0] - '0';
    else if (len == 4 && memcmp(s, "auto", 4) == 0)
        *typos = AH_TYPOS_AUTO;
    else
        return -1;
    return 0;
}

int ah_parse_match(const char *s, size_t len, ah_match_mode_t *match)
{
    if (len == 6 && memcmp(s, "prefix", 6) == 0)
        *match = AH_MATCH_PREFIX;
    else if (len == 5 && memcmp(s, "words", 5) == 0)
        *match = AH_MATCH_WORDS;
    else
        return -1;
    return 0;
}

/* One lookup of key by the contract, its typo budget from `shown` code points (match.h). */
static int lookup_one(const ah_index_t *ix, const char *key, size_t len, uint32_t shown,
                      const ah_lookup_options_t *opt, ah_completion_t *out, char *text, size_t cap,
                      size_t *n_out, int *complete)
{
    int rc;
    *n_out = 0;
    *complete = 1;
    uint32_t n = count_cps(key, len);

    /* Tier (0, prefix): the exact answer, highlighted over Q's n code points. */
    uint32_t ids[AH_MAX_K];
    size_t t0 = 0, used = 0;
    rc = ah_index__exact(ix, key, len, opt->k, out, text, cap, &t0, ids);
    if (rc)
        return rc;
    for (size_t i = 0; i < t0; i++) {
        out[i].typos = 0;
        out[i].mid = 0;
        /*
         * An ASCII text maps to its key code point for code point, so when the
         * text's first n code points, and the one after (it could be a mark the
         * highlight takes in), are ASCII, the highlight is simply [0, n).
         */
        uint32_t tl = out[i].text_len;
        if (all_ascii(out[i].text, n < tl ? n + 1 : tl, text + cap)) {
            out[i].span_start = 0;
            out[i].span_end = n < tl ? n : tl;
        } else {
            ah_match_display_span(out[i].text, out[i].text_len, 0, n, &out[i].span_start,
                                  &out[i].span_end);
        }
        used += out[i].text_len;
    }
    *n_out = t0;
    if (t0 == opt->k || n == 0)
        return 0;
    uint32_t qbuf[AH_PATTERN_CPS(AH_MAX_KEY_BYTES)];
    ah_pattern_t pat;
    ah_match_pattern(key, len, qbuf, &pat);
    unsigned budget = ah_match_budget(shown, opt->typos);
    int words =
        opt->match == AH_MATCH_WORDS && ix->word_entries > 0 && ah_match_is_word_cp(pat.q[0]);
    if (budget == 0 && !words)
        return 0;
    if (ix->fill_slots && t0 > 0) {
        /* The exact answer is the prefix's whole range: its first key identifies the prefix. */
        uint32_t lo = ids[0];
        for (size_t i = 1; i < t0; i++)
            lo = ids[i] < lo ? ids[i] : lo;
        const unsigned char *e = ah_index__fill_find(ix, key, len, lo);
        if (e && (e[5] & AH_FILL_BUDGET) == budget && !(e[5] & AH_FILL_WORDS) == !words &&
            !(e[5] & AH_FILL_INCOMPLETE))
            return fill_tiers(ix, &pat, budget, e, opt->k, out, text, cap, used, n_out);
    }
    return later_tiers(ix, &pat, budget, words, opt->k, ids, out, text, cap, used, n_out, complete);
}

/* An answer's rank: typos, then mid-phrase, then score descending (ties: the key, by the caller).
 */
static int rank_cmp(const ah_completion_t *a, const ah_completion_t *b)
{
    if (a->typos != b->typos)
        return a->typos < b->typos ? -1 : 1;
    if (a->mid != b->mid)
        return a->mid < b->mid ? -1 : 1;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return 0;
}

static int same_text(const ah_completion_t *a, const ah_completion_t *b)
{
    return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
}

static int answered(const ah_completion_t *out, size_t m, const ah_completion_t *c)
{
    for (size_t j = 0; j < m; j++)
        if (same_text(&out[j], c))
            return 1;
    return 0;
}

/* Ties of rank go by key: a display text normalizes to its key. */
static int key_cmp(const ah_completion_t *a, const ah_completion_t *b)
{
    char ka[AH_MAX_KEY_BYTES], kb[AH_MAX_KEY_BYTES];
    size_t la = 0, lb = 0;
    ah_normalize_key(a->text, a->text_len, ka, sizeof ka, &la, 0);
    ah_normalize_key(b->text, b->text_len, kb, sizeof kb, &lb, 0);
    int c = memcmp(ka, kb, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/*
 * Two ranked answers merged into out: each completion at the better of its
 * two ranks, the first k. Each list holds the k best of its own ranking,
 * and a completion's merged rank is no better than its rank in the list it
 * came from, so the merged k best are among them.
 */
static int merge_answers(ah_completion_t res[2][AH_MAX_K], const size_t n[2], unsigned k,
                         ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    size_t at[2] = {0, 0}, used = 0, m = 0;
    while (m < k) {
        /* Skip what is answered already: the other list had it at a better or equal rank. */
        for (int l = 0; l < 2; l++)
            while (at[l] < n[l] && answered(out, m, &res[l][at[l]]))
                at[l]++;
        if (at[0] >= n[0] && at[1] >= n[1])
            break;
        int pick = at[0] >= n[0];
        if (at[0] < n[0] && at[1] < n[1]) {
            int c = rank_cmp(&res[1][at[1]], &res[0][at[0]]);
            pick = c < 0 || (c == 0 && !same_text(&res[0][at[0]], &res[1][at[1]]) &&
                             key_cmp(&res[1][at[1]], &res[0][at[0]]) < 0);
        }
        const ah_completion_t *c = &res[pick][at[pick]++];
        if (used + c->text_len > cap)
            return AH_ENOSPC;
        out[m] = *c;
        memcpy(text + used, c->text, c->text_len);
        out[m++].text = text + used;
        used += c->text_len;
    }
    *n_out = m;
    return 0;
}

/* Two answers to merge, this thread's (only Hangul queries ever need them). */
static __thread ah_completion_t res[2][AH_MAX_K];
static __thread char texts[2][AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];

/*
 * The two lookups of a key that ends in a Hangul trailing consonant (the
 * key as typed, and the consonant as the next syllable's leading one),
 * merged.
 */
static int lookup_both(const ah_index_t *ix, const char *key, const char *alt, size_t len,
                       uint32_t shown, const ah_lookup_options_t *opt, ah_completion_t *out,
                       char *text, size_t cap, size_t *n_out, int *complete)
{
    size_t n[2];
    int done[2];
    int rc =
        lookup_one(ix, key, len, shown, opt, res[0], texts[0], sizeof texts[0], &n[0], &done[0]);
    if (!rc)
        rc = lookup_one(ix, alt, len, shown, opt, res[1], texts[1], sizeof texts[1], &n[1],
                        &done[1]);
    if (rc)
        return rc;
    *complete = done[0] && done[1];
    return merge_answers(res, n, opt->k, out, text, cap, n_out);
}

/* ------------------------------------------------------- initial consonants */

/*
 * A query of initial consonants: two or more leading consonant jamo
 * (U+1100..U+1112, from compatibility consonants typed alone) and nothing
 * else but spaces. Their indexes into q; returns how many (0: not such a query).
 */
static size_t initials_query(const char *key, size_t len, unsigned char *q)
{
    size_t m = 0;
    for (size_t i = 0; i < len;) {
        const unsigned char *b = (const unsigned char *)key + i;
        if (b[0] == ' ') {
            i++;
            continue;
        }
        if (i + 3 > len || b[0] != 0xe1 || b[1] != 0x84 || b[2] < 0x80 || b[2] > 0x92)
            return 0;
        q[m++] = (unsigned char)(b[2] - 0x80);
        i += 3;
    }
    return m >= 2 ? m : 0;
}

/*
 * The k best completions whose run from the key's start begins with the
 * consonants q (pre), and the k best whose run from a later word start
 * does (mid), as ranks: a scan of the records that hold q's first two
 * consonants (their postings, in ranking order), which stops at the k-th
 * match from the start (nothing after it can rank above it; mid-phrase
 * matches rank below them all).
 */
static int initials_scan(const ah_index_t *ix, const unsigned char *q, size_t m, unsigned k,
                         uint64_t *pre, size_t *npre, uint64_t *mid, size_t *nmid)
{
    /* The section's parts (format.h), checked here: open checks only its bounds. */
    const unsigned char *sec = ix->sec[AH_SEC_CHOSEONG].data;
    uint64_t len = ix->sec[AH_SEC_CHOSEONG].len;
    *npre = *nmid = 0;
    if (len < 4 || q[0] >= 19 || q[1] >= 19)
        return len < 4 ? AH_ECORRUPT : 0;
    uint64_t r = ah_load_u32(sec), table = (4 + r + 3) / 4 * 4;
    if (table + 4ull * (AH_CHOSEONG_PAIRS + 1) > len)
        return AH_ECORRUPT;
    const unsigned char *recs = sec + 4, *recs_end = recs + r, *starts = sec + table;
    uint64_t total = ah_load_u32(starts + 4 * AH_CHOSEONG_PAIRS);
    uint64_t from = ah_load_u32(starts + 4 * (q[0] * 19u + q[1]));
    uint64_t to = ah_load_u32(starts + 4 * (q[0] * 19u + q[1] + 1));
    const unsigned char *post = starts + 4 * (AH_CHOSEONG_PAIRS + 1);
    if (from > to || to > total || (uint64_t)(sec + len - post) < total * 4)
        return AH_ECORRUPT;
    for (uint64_t i = from; i < to && *npre < k; i++) {
        uint32_t at = ah_load_u32(post + 4 * i);
        if (at >= r)
            return AH_ECORRUPT;
        const unsigned char *p = recs + at;
        uint64_t id = 0;
        if (!ah_varint_get(&p, recs_end, &id) || id >= ix->n || p >= recs_end)
            return AH_ECORRUPT;
        unsigned runs = *p & 0x7f, first = *p >> 7;
        p++;
        int at_start = 0, later = 0;
        for (unsigned n = 0; n < runs; n++) {
            if (p >= recs_end || *p == 0 || (size_t)(recs_end - p) < 1u + *p)
                return AH_ECORRUPT;
            size_t l = *p++;
            if (l >= m && memcmp(p, q, m) == 0) {
                if (n == 0 && first)
                    at_start = 1;
                else
                    later = 1;
            }
            p += l;
        }
        if (at_start)
            pre[(*npre)++] = ah_walk__rank(ix, (uint32_t)id);
        else if (later && *nmid < k)
            mid[(*nmid)++] = ah_walk__rank(ix, (uint32_t)id);
    }
    return 0;
}

/* An initial-consonant answer: text, score, and the syllables matched, from the first run that
 * does. */
static int emit_initials(const ah_index_t *ix, uint64_t rank, int mid, const unsigned char *q,
                         size_t m, ah_completion_t *out, char *text, size_t cap, size_t *used)
{
    char key[AH_MAX_KEY_BYTES];
    uint32_t len;
    int rc = answer_of(ix, rank, key, &len, out, text, cap, used);
    if (rc)
        return rc;
    out->typos = 0;
    out->mid = (unsigned)mid;
    uint32_t starts[AH_MAX_KEY_BYTES / 2 + 1], ends[255];
    unsigned char run[255];
    starts[0] = 0;
    size_t ns = 1 + ah_match_word_starts(key, len, starts + 1, AH_MAX_KEY_BYTES / 2);
    for (size_t i = mid ? 1 : 0; i < ns && i <= AH_MAX_KEY_BYTES / 2; i++) {
        size_t r = ah_match_initials(key, len, starts[i], run, sizeof run, ends);
        if (r >= m && memcmp(run, q, m) == 0) {
            uint32_t a = count_cps(key, starts[i]), b = count_cps(key, ends[m - 1]);
            ah_match_display_span(out->text, out->text_len, a, b, &out->span_start, &out->span_end);
            return 0;
        }
    }
    return AH_ECORRUPT; /* the record said it matches */
}

/*
 * A query of initial consonants, answered: the k best of its plain lookup
 * (a key may hold such consonants typed alone) merged with its initial-
 * consonant matches, ranked as exact matches from the start and mid-phrase.
 */
static int lookup_initials(const ah_index_t *ix, const char *key, size_t len, uint32_t shown,
                           const unsigned char *q, size_t m, const ah_lookup_options_t *opt,
                           ah_completion_t *out, char *text, size_t cap, size_t *n_out,
                           int *complete)
{
    size_t n[2] = {0, 0};
    int rc =
        lookup_one(ix, key, len, shown, opt, res[0], texts[0], sizeof texts[0], &n[0], complete);
    uint64_t pre[AH_MAX_K], mid[AH_MAX_K];
    size_t npre = 0, nmid = 0, used = 0;
    if (!rc)
        rc = initials_scan(ix, q, m, opt->k, pre, &npre, mid, &nmid);
    if (opt->match != AH_MATCH_WORDS) /* mid-phrase matches are asked for by match=words */
        nmid = 0;
    for (size_t i = 0; !rc && i < npre + nmid && n[1] < opt->k; i++)
        rc = emit_initials(ix, i < npre ? pre[i] : mid[i - npre], i >= npre, q, m, &res[1][n[1]++],
                           texts[1], sizeof texts[1], &used);
    return rc ? rc : merge_answers(res, n, opt->k, out, text, cap, n_out);
}

/*
 * A lookup of a key whose text as shown had `fewer` code points than its
 * key says (compound consonants typed alone: ㄳ is one, its key two).
 */
static int lookup_key(const ah_index_t *ix, const char *key, size_t len, uint32_t fewer,
                      const ah_lookup_options_t *opt, ah_completion_t *out, char *text, size_t cap,
                      size_t *n_out, int *complete)
{
    *n_out = 0;
    *complete = 1;
    int rc = check_options(ix, opt);
    if (rc)
        return rc;
    if (len > AH_MAX_KEY_BYTES)
        return AH_ETOOLONG;
    if (all_ascii(key, len, key + len))
        return lookup_one(ix, key, len, (uint32_t)len, opt, out, text, cap, n_out, complete);
    uint32_t shown = ah_match_shown_cps(key, len) - fewer;
    unsigned char initials[AH_MAX_KEY_BYTES / 3];
    size_t m = ix->sec[AH_SEC_CHOSEONG].len ? initials_query(key, len, initials) : 0;
    if (m)
        return lookup_initials(ix, key, len, shown, initials, m, opt, out, text, cap, n_out,
                               complete);
    char alt[AH_MAX_KEY_BYTES];
    if (ah_match_trailing_variant(key, len, alt))
        return lookup_both(ix, key, alt, len, shown, opt, out, text, cap, n_out, complete);
    return lookup_one(ix, key, len, shown, opt, out, text, cap, n_out, complete);
}

int ah_index_lookup_key(const ah_index_t *ix, const char *key, size_t len,
                        const ah_lookup_options_t *opt, ah_completion_t *out, char *text,
                        size_t cap, size_t *n_out, int *complete)
{
    return lookup_key(ix, key, len, 0, opt, out, text, cap, n_out, complete);
}

/* Compound consonants typed alone (ㄳ ㄵ ㄶ ㄺ..ㅀ ㅄ: E3 84 B3, B5, B6, BA..BF, E3 85 80, 84). */
static uint32_t compound_consonants(const char *s, size_t len)
{
    uint32_t n = 0;
    for (size_t i = 0; i + 2 < len; i++) {
        const unsigned char *b = (const unsigned char *)s + i;
        if (b[0] == 0xe3 && ((b[1] == 0x84 && (b[2] == 0xb3 || b[2] == 0xb5 || b[2] == 0xb6 ||
                                               (b[2] >= 0xba && b[2] <= 0xbf))) ||
                             (b[1] == 0x85 && (b[2] == 0x80 || b[2] == 0x84))))
            n++;
    }
    return n;
}

int ah_index_lookup(const ah_index_t *ix, const char *prefix, size_t len,
                    const ah_lookup_options_t *opt, ah_completion_t *out, char *text, size_t cap,
                    size_t *n_out, int *complete)
{
    char key[AH_MAX_KEY_BYTES];
    size_t key_len;
    *n_out = 0;
    *complete = 1;
    int rc = ah_normalize_key(prefix, len, key, sizeof key, &key_len, 1);
    if (rc)
        return rc;
    return lookup_key(ix, key, key_len, compound_consonants(prefix, len), opt, out, text, cap,
                      n_out, complete);
}

int ah_index_complete_key(const ah_index_t *ix, const char *key, size_t len, unsigned k,
                          ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    ah_lookup_options_t opt = {.k = k, .typos = 0, .match = AH_MATCH_PREFIX};
    int complete;
    return ah_index_lookup_key(ix, key, len, &opt, out, text, cap, n_out, &complete);
}

int ah_index_complete(const ah_index_t *ix, const char *prefix, size_t len, unsigned k,
                      ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    ah_lookup_options_t opt = {.k = k, .typos = 0, .match = AH_MATCH_PREFIX};
    int complete;
    return ah_index_lookup(ix, prefix, len, &opt, out, text, cap, n_out, &complete);
}
