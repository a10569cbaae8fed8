/* SPDX-License-Identifier: MIT */
/*
 * oracle_match.c: the matching contract (docs/matching.md) done the
 * plain way, to hold ah_index_lookup() to it: every key, every word start,
 * a full textbook table of the optimal string alignment distance, a sort of
 * everything that matched, and highlight spans found by trying every range
 * of the display text. It shares nothing with index/match.c or search.c
 * but the key normalization, which the contract takes as given.
 */
#include "oracle.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* The keys as code points, and their word starts (code point positions, 0 first). */
struct oracle_cps {
    uint32_t *cps;
    size_t *at; /* entry i: cps[at[i] .. at[i+1]) */
    uint32_t *ws;
    size_t *ws_at;
};

static size_t decode(const char *s, size_t len, uint32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t w =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        ck_assert_msg(w > 0, "oracle: invalid UTF-8");
        out[n++] = (uint32_t)c;
        i += (size_t)w;
    }
    return n;
}

static int letter_or_number(uint32_t c)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
           cat == UTF8PROC_CATEGORY_LT || cat == UTF8PROC_CATEGORY_LM ||
           cat == UTF8PROC_CATEGORY_LO || cat == UTF8PROC_CATEGORY_ND ||
           cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

static const struct oracle_cps *code_points(const oracle_t *o)
{
    if (o->cps)
        return o->cps;
    struct oracle_cps *c = calloc(1, sizeof *c);
    size_t bytes = 0;
    for (size_t i = 0; i < o->n; i++)
        bytes += o->e[i].key_len;
    c->cps = malloc((bytes + 1) * sizeof *c->cps);
    c->ws = malloc((bytes + 1) * sizeof *c->ws);
    c->at = malloc((o->n + 1) * sizeof *c->at);
    c->ws_at = malloc((o->n + 1) * sizeof *c->ws_at);
    size_t n = 0, nw = 0;
    for (size_t i = 0; i < o->n; i++) {
        c->at[i] = n;
        c->ws_at[i] = nw;
        size_t m = decode(o->e[i].key, o->e[i].key_len, c->cps + n);
        for (size_t j = 0; j < m; j++)
            if (j == 0 || (!letter_or_number(c->cps[n + j - 1]) && letter_or_number(c->cps[n + j])))
                c->ws[nw++] = (uint32_t)j;
        n += m;
    }
    c->at[o->n] = n;
    c->ws_at[o->n] = nw;
    ((oracle_t *)o)->cps = c;
    return c;
}

void oracle_free_cps(struct oracle_cps *c)
{
    if (!c)
        return;
    free(c->cps);
    free(c->at);
    free(c->ws);
    free(c->ws_at);
    free(c);
}

/*
 * The textbook table: t[x][l] = OSA(q[0:x], w[0:l]) for x <= n, l <= m,
 * stored row-major with m + 1 columns. Inserting, deleting or substituting
 * a code point costs 1, as does swapping two adjacent ones.
 */
static void osa_table(const uint32_t *q, size_t n, const uint32_t *w, size_t m, unsigned *t)
{
#define T(x, l) t[(x) * (m + 1) + (l)]
    for (size_t x = 0; x <= n; x++)
        for (size_t l = 0; l <= m; l++) {
            if (x == 0 || l == 0) {
                T(x, l) = (unsigned)(x + l);
                continue;
            }
            unsigned v = T(x - 1, l) + 1;
            if (T(x, l - 1) + 1 < v)
                v = T(x, l - 1) + 1;
            if (T(x - 1, l - 1) + (q[x - 1] != w[l - 1]) < v)
                v = T(x - 1, l - 1) + (q[x - 1] != w[l - 1]);
            if (x > 1 && l > 1 && q[x - 1] == w[l - 2] && q[x - 2] == w[l - 1] &&
                T(x - 2, l - 2) + 1 < v)
                v = T(x - 2, l - 2) + 1;
            T(x, l) = v;
        }
#undef T
}

typedef struct found {
    size_t entry;
    unsigned d;
    int mid;
    size_t from, len; /* the span in key code points: word start, and L* */
} found_t;

static const oracle_t *sort_oracle;
static int sort_words_first;

static int by_contract(const void *x, const void *y)
{
    const found_t *a = x, *b = y;
    /* (typos, mid-phrase), or for the mutation (mid-phrase, typos) */
    unsigned ka = sort_words_first ? (unsigned)a->mid * 4 + a->d : a->d * 2 + (unsigned)a->mid;
    unsigned kb = sort_words_first ? (unsigned)b->mid * 4 + b->d : b->d * 2 + (unsigned)b->mid;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    const oracle_entry_t *ea = &sort_oracle->e[a->entry], *eb = &sort_oracle->e[b->entry];
    if (ea->score != eb->score)
        return ea->score > eb->score ? -1 : 1;
    size_t m = ea->key_len < eb->key_len ? ea->key_len : eb->key_len;
    int c = memcmp(ea->key, eb->key, m);
    return c ? c : (ea->key_len < eb->key_len ? -1 : ea->key_len > eb->key_len);
}

/* Code points of the key of the display text's first c code points (one trailing space kept). */
static size_t key_cps_of(const char *text, const size_t *off, size_t c)
{
    char key[AH_MAX_KEY_BYTES + 8];
    size_t klen;
    ck_assert(ah_normalize_key(text, off[c], key, sizeof key, &klen, 1) == 0);
    size_t n = 0;
    for (size_t i = 0; i < klen; i++)
        n += ((unsigned char)key[i] & 0xc0) != 0x80;
    return n;
}

/* The smallest range of display code points covering key code points [a, b), then its marks. */
static void display_span(const oracle_entry_t *e, size_t a, size_t b, uint32_t *start,
                         uint32_t *end)
{
    size_t off[AH_MAX_TEXT_BYTES + 1], f[AH_MAX_TEXT_BYTES + 1], n = 0;
    uint32_t cps[AH_MAX_TEXT_BYTES];
    for (size_t i = 0; i < e->text_len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t w = utf8proc_iterate((const utf8proc_uint8_t *)e->text + i,
                                              (utf8proc_ssize_t)(e->text_len - i), &c);
        off[n] = i;
        cps[n++] = (uint32_t)c;
        i += (size_t)w;
    }
    off[n] = e->text_len;
    for (size_t c = 0; c <= n; c++)
        f[c] = key_cps_of(e->text, off, c);
    size_t best_s = 0, best_e = n + 1;
    for (size_t s = 0; s <= n; s++)
        for (size_t t = s; t <= n; t++)
            if (f[s] <= a && f[t] >= b && t - s < best_e - best_s) {
                best_s = s;
                best_e = t;
            }
    ck_assert_msg(best_e <= n, "oracle: no display range covers the span");
    while (best_e > best_s && best_e < n) {
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cps[best_e]);
        if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_MC &&
            cat != UTF8PROC_CATEGORY_ME)
            break;
        best_e++;
    }
    *start = (uint32_t)best_s;
    *end = (uint32_t)best_e;
}

size_t oracle_lookup(const oracle_t *o, const char *q_key, size_t q_len, unsigned k, int typos,
                     int words, int mutation, oracle_match_t *out)
{
    return oracle_lookup_shown(o, q_key, q_len, 0, k, typos, words, mutation, out);
}

size_t oracle_lookup_shown(const oracle_t *o, const char *q_key, size_t q_len, size_t shown,
                           unsigned k, int typos, int words, int mutation, oracle_match_t *out)
{
    const struct oracle_cps *c = code_points(o);
    uint32_t q[AH_MAX_KEY_BYTES];
    size_t n = decode(q_key, q_len, q), b = shown ? shown : n;
    unsigned budget = b < 4 ? 0 : b < 8 ? 1 : 2;
    if (typos >= 0 && (unsigned)typos < budget)
        budget = (unsigned)typos;
    found_t *all = malloc((o->n + 1) * sizeof *all);
    size_t nall = 0;
    unsigned *table = NULL;
    size_t table_cap = 0;
    for (size_t i = 0; i < o->n; i++) {
        const uint32_t *t = c->cps + c->at[i];
        size_t m = c->at[i + 1] - c->at[i];
        found_t best = {i, budget + 1, 1, 0, 0};
        for (size_t x = c->ws_at[i]; x < c->ws_at[i + 1]; x++) {
            size_t from = c->ws[x];
            int mid = from > 0;
            if (mid && !words)
                break;
            const uint32_t *w = t + from;
            size_t wl = m - from;
            if (n > 0 && mutation != ORACLE_NO_FIRST_LETTER_RULE && w[0] != q[0])
                continue;
            /* Texts longer than n + budget + 1 cannot do better than their prefix of that length.
             */
            size_t cols = wl < n + budget + 1 ? wl : n + budget + 1;
            if ((n + 1) * (cols + 1) > table_cap) {
                table_cap = (n + 1) * (cols + 1);
                table = realloc(table, table_cap * sizeof *table);
            }
            osa_table(q, n, w, cols, table);
            unsigned ped = UINT32_MAX;
            for (size_t l = 0; l <= cols; l++)
                if (table[n * (cols + 1) + l] < ped)
                    ped = table[n * (cols + 1) + l];
            if (ped > budget)
                continue;
            if (ped < best.d || (ped == best.d && mid < best.mid)) {
                size_t len = 0;
                for (size_t l = 0; l <= cols; l++)
                    if (table[n * (cols + 1) + l] == ped)
                        len = l;
                best = (found_t){i, ped, mid, from, len};
            }
        }
        if (best.d <= budget)
            all[nall++] = best;
    }
    free(table);
    sort_oracle = o;
    sort_words_first = mutation == ORACLE_WORDS_BEFORE_TYPOS;
    qsort(all, nall, sizeof *all, by_contract);
    size_t got = nall < k ? nall : k;
    for (size_t i = 0; i < got; i++) {
        out[i] = (oracle_match_t){.entry = all[i].entry, .typos = all[i].d, .mid = all[i].mid};
        display_span(&o->e[all[i].entry], all[i].from, all[i].from + all[i].len, &out[i].span_start,
                     &out[i].span_end);
    }
    free(all);
    return got;
}

/* The snapshot's answer to a key prefix (texts in a static buffer); returns its completeness. */
static int index_lookup(const ah_index_t *ix, const char *q, size_t len, unsigned k, int typos,
                        int words, ah_completion_t *got, size_t *got_n)
{
    static char text[AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];
    int complete;
    ah_lookup_options_t opt = {
        .k = k, .typos = typos, .match = words ? AH_MATCH_WORDS : AH_MATCH_PREFIX};
    int rc = ah_index_lookup_key(ix, q, len, &opt, got, text, sizeof text, got_n, &complete);
    ck_assert_msg(rc == 0, "lookup '%.*s': %s", (int)len, q, ah_strerror(rc));
    return complete;
}

int oracle_check_lookup(const oracle_t *o, const ah_index_t *ix, const char *q, size_t len,
                        unsigned k, int typos, int words)
{
    oracle_match_t want[AH_MAX_K];
    ah_completion_t got[AH_MAX_K];
    size_t got_n;
    if (!index_lookup(ix, q, len, k, typos, words, got, &got_n))
        return 0;
    size_t want_n = oracle_lookup(o, q, len, k, typos, words, ORACLE_EXACT, want);
    ck_assert_msg(got_n == want_n, "'%.*s' (k=%u typos=%d words=%d): %zu results, oracle has %zu",
                  (int)len, q, k, typos, words, got_n, want_n);
    for (size_t i = 0; i < got_n; i++) {
        const oracle_entry_t *e = &o->e[want[i].entry];
        ck_assert_msg(got[i].score == e->score && got[i].text_len == e->text_len &&
                          memcmp(got[i].text, e->text, e->text_len) == 0 &&
                          got[i].typos == want[i].typos && got[i].mid == want[i].mid &&
                          got[i].span_start == want[i].span_start &&
                          got[i].span_end == want[i].span_end,
                      "'%.*s' (k=%u typos=%d words=%d) result %zu: got '%.*s' %llu typos %u mid %u "
                      "span %u-%u; oracle '%s' %llu typos %u mid %d span %u-%u",
                      (int)len, q, k, typos, words, i, (int)got[i].text_len, got[i].text,
                      (unsigned long long)got[i].score, got[i].typos, got[i].mid, got[i].span_start,
                      got[i].span_end, e->text, (unsigned long long)e->score, want[i].typos,
                      want[i].mid, want[i].span_start, want[i].span_end);
    }
    return 1;
}

int oracle_lookup_differs(const oracle_t *o, const ah_index_t *ix, const char *q, size_t len,
                          unsigned k, int typos, int words, int mutation)
{
    oracle_match_t want[AH_MAX_K];
    ah_completion_t got[AH_MAX_K];
    size_t got_n;
    index_lookup(ix, q, len, k, typos, words, got, &got_n);
    size_t want_n = oracle_lookup(o, q, len, k, typos, words, mutation, want);
    if (got_n != want_n)
        return 1;
    for (size_t i = 0; i < got_n; i++) {
        const oracle_entry_t *e = &o->e[want[i].entry];
        if (got[i].text_len != e->text_len || memcmp(got[i].text, e->text, e->text_len) != 0 ||
            got[i].typos != want[i].typos || got[i].mid != want[i].mid)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------ random texts and queries */

/* Pieces of text: letters of several scripts, marks, ligatures, and separators. */
static const char *const letters[] = {"a",  "b", "c", "e", "é",         "ß", "ü", "中",
                                      "文", "1", "ﬁ", "Ω", "e\xcc\x81", "ǅ", "Ｂ"};
static const char *const separators[] = {" ", "-", "/", "@", ".", "😀", "_", " & "};

void test_random_text(uint64_t *seed, char *buf, size_t cap)
{
    size_t words = 1 + test_rand(seed) % 4, at = 0;
    buf[0] = 0;
    if (test_rand(seed) % 6 == 0)
        at += (size_t)snprintf(buf + at, cap - at, "%s", separators[test_rand(seed) % 8]);
    for (size_t w = 0; w < words; w++) {
        if (w > 0)
            at += (size_t)snprintf(buf + at, cap - at, "%s", separators[test_rand(seed) % 8]);
        size_t len = 1 + test_rand(seed) % 6;
        for (size_t j = 0; j < len && at < cap - 8;
             j++) /* early letters from few: shared prefixes */
            at += (size_t)snprintf(buf + at, cap - at, "%s",
                                   letters[test_rand(seed) % (j < 2 ? 4 : 15)]);
    }
}

/* The code points of a UTF-8 string, as byte offsets. */
static size_t cp_offsets(const char *s, size_t len, size_t *off)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            off[n++] = i;
    off[n] = len;
    return n;
}

/*
 * A query from a key: a prefix from one of its code points (often a word
 * start), with `edits` random edits after the first code point, normalized
 * as a typed prefix would be. Written to q; returns its length.
 */
size_t test_make_query(uint64_t *seed, const char *key, size_t klen, unsigned edits, char *q,
                       size_t cap)
{
    size_t off[AH_MAX_KEY_BYTES + 1];
    size_t n = cp_offsets(key, klen, off);
    size_t from = test_rand(seed) % 3 == 0 ? 0 : test_rand(seed) % n;
    size_t take = 1 + test_rand(seed) % (n - from);
    /* Work on code point strings: pieces of the key, and letters for edits. */
    char pieces[64][8];
    size_t np = 0;
    for (size_t i = from; i < from + take && np < 60; i++) {
        size_t w = off[i + 1] - off[i];
        memcpy(pieces[np], key + off[i], w);
        pieces[np++][w] = 0;
    }
    for (unsigned e = 0; e < edits && np >= 2; e++) {
        size_t at = 1 + test_rand(seed) % (np - 1);
        const char *l = letters[test_rand(seed) % 11]; /* one code point each */
        switch (test_rand(seed) % 4) {
        case 0: /* substitution */
            snprintf(pieces[at], sizeof pieces[at], "%s", l);
            break;
        case 1: /* insertion */
            memmove(pieces[at + 1], pieces[at], (np - at) * sizeof pieces[0]);
            snprintf(pieces[at], sizeof pieces[at], "%s", l);
            np++;
            break;
        case 2: /* deletion */
            memmove(pieces[at], pieces[at + 1], (np - at - 1) * sizeof pieces[0]);
            np--;
            break;
        default: /* transposition with the next one */
            if (at + 1 < np) {
                char tmp[8];
                memcpy(tmp, pieces[at], 8);
                memcpy(pieces[at], pieces[at + 1], 8);
                memcpy(pieces[at + 1], tmp, 8);
            }
        }
    }
    char raw[1024];
    size_t rl = 0;
    for (size_t i = 0; i < np; i++)
        rl += (size_t)snprintf(raw + rl, sizeof raw - rl, "%s", pieces[i]);
    size_t len;
    if (ah_normalize_key(raw, rl, q, cap, &len, 1) != 0)
        return 0;
    return len;
}
