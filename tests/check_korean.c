/* SPDX-License-Identifier: MIT */
/*
 * check_korean.c: Korean as it is typed (issue 17, section 2): keys on
 * jamo in typing order, and the rule for a syllable still being typed.
 *
 * The test has its own model of both: Hangul syllables split by Unicode's
 * arithmetic and a table of compound jamo of its own (not normalize.c's),
 * an input method that shows what a 2-set keyboard shows after every key
 * (ㅎ, 하, 한, 한ㄱ, 한구, 한국; 다, 달, 닭, 달갸, 달걀 when a consonant
 * first joins the syllable before as a trailing one), and the contract's
 * lookup: the oracle's answers for the typed state as a jamo key, merged
 * with those for the key whose last trailing consonant leads a next
 * syllable, each completion at its better rank, the typo budget counted on
 * the state as shown. Every state of every word typed, with and without
 * typos, prefix and word matching, is held to it, spans included.
 */
#include "oracle.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* -------------------------------------------------- the test's own Hangul */

#define SBASE 0xac00
#define LBASE 0x1100
#define VBASE 0x1161
#define TBASE 0x11a7

/* Compound vowels (by vowel index) and trailing consonants (by trailing index): the two keys. */
static const int vowel_keys[21][2] = {{0, -1},  {1, -1},  {2, -1}, {3, -1}, {4, -1},  {5, -1},
                                      {6, -1},  {7, -1},  {8, -1}, {8, 0},  {8, 1},   {8, 20},
                                      {12, -1}, {13, -1}, {13, 4}, {13, 5}, {13, 20}, {17, -1},
                                      {18, -1}, {18, 20}, {20, -1}};
/* Trailing index 1..27 -> its keys as trailing indexes (second -1: one key). */
static const int trailing_keys[28][2] = {{-1, -1}, {1, -1},  {2, -1},  {1, 19},  {4, -1},  {4, 22},
                                         {4, 27},  {7, -1},  {8, -1},  {8, 1},   {8, 16},  {8, 17},
                                         {8, 19},  {8, 25},  {8, 26},  {8, 27},  {16, -1}, {17, -1},
                                         {17, 19}, {19, -1}, {20, -1}, {21, -1}, {22, -1}, {23, -1},
                                         {24, -1}, {25, -1}, {26, -1}, {27, -1}};
/* Trailing index -> the same consonant as a leading index (-1: none). */
static const int trailing_as_leading[28] = {-1, 0,  1, -1, 2,  -1, -1, 3,  5,  -1, -1, -1, -1, -1,
                                            -1, -1, 6, 7,  -1, 9,  10, 11, 12, 14, 15, 16, 17, 18};
/* Leading index -> trailing index when that consonant can end a syllable (0: it cannot). */
static const int leading_as_trailing[19] = {1,  2,  4,  7, 0,  8,  16, 17, 0, 19,
                                            20, 21, 22, 0, 23, 24, 25, 26, 27};
/* Compatibility consonants ㄱ..ㅎ (U+3131..) -> leading index, for the consonants that lead. */
static const int compat_of_leading[19] = {0x3131, 0x3132, 0x3134, 0x3137, 0x3138, 0x3139, 0x3141,
                                          0x3142, 0x3143, 0x3145, 0x3146, 0x3147, 0x3148, 0x3149,
                                          0x314a, 0x314b, 0x314c, 0x314d, 0x314e};

static size_t put(char *out, size_t at, uint32_t c)
{
    return at + (size_t)utf8proc_encode_char((utf8proc_int32_t)c, (utf8proc_uint8_t *)out + at);
}

/* The key of a text made of syllables, compatibility consonants, ASCII letters and spaces. */
static size_t own_key(const char *text, size_t len, char *out)
{
    size_t at = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                      (utf8proc_ssize_t)(len - i), &c);
        if (c >= SBASE && c < SBASE + 11172) {
            int s = c - SBASE, v = s % 588 / 28, t = s % 28;
            at = put(out, at, LBASE + (uint32_t)(s / 588));
            for (int j = 0; j < 2 && vowel_keys[v][j] >= 0; j++)
                at = put(out, at, VBASE + (uint32_t)vowel_keys[v][j]);
            for (int j = 0; t && j < 2 && trailing_keys[t][j] >= 0; j++)
                at = put(out, at, TBASE + (uint32_t)trailing_keys[t][j]);
        } else if (c >= 0x3131 && c <= 0x314e) {
            /* Compound consonants typed alone: their two keys, leading. */
            static const int compound[][3] = {{0x3133, 0, 9},  {0x3135, 2, 12}, {0x3136, 2, 18},
                                              {0x313a, 5, 0},  {0x313b, 5, 6},  {0x313c, 5, 7},
                                              {0x313d, 5, 9},  {0x313e, 5, 16}, {0x313f, 5, 17},
                                              {0x3140, 5, 18}, {0x3144, 7, 9}};
            int l = 0;
            while (l < 19 && compat_of_leading[l] != c)
                l++;
            for (size_t j = 0; l == 19 && j < sizeof compound / sizeof *compound; j++)
                if (compound[j][0] == c) {
                    at = put(out, at, LBASE + (uint32_t)compound[j][1]);
                    l = compound[j][2];
                }
            ck_assert(l < 19);
            at = put(out, at, LBASE + (uint32_t)l);
        } else {
            at = put(out, at, (uint32_t)(c >= 'A' && c <= 'Z' ? c + 32 : c));
        }
    }
    return at;
}

/* ---------------------------------------------------- an input method */

/* A syllable being composed: leading, vowel (-1: none yet), trailing (0: none). */
typedef struct syl {
    int l, v, t;
} syl_t;

static uint32_t syl_cp(syl_t s)
{
    return s.v < 0 ? (uint32_t)compat_of_leading[s.l]
                   : SBASE + (uint32_t)((s.l * 21 + s.v) * 28 + s.t);
}

/* The compound vowel of two vowel keys, or -1. */
static int vowel_compound(int a, int b)
{
    for (int v = 0; v < 21; v++)
        if (vowel_keys[v][0] == a && vowel_keys[v][1] == b)
            return v;
    return -1;
}

static int trailing_compound(int a, int b)
{
    for (int t = 1; t < 28; t++)
        if (trailing_keys[t][0] == a && trailing_keys[t][1] == b)
            return t;
    return -1;
}

/*
 * Types word (syllables and spaces) key by key as a 2-set input method
 * shows it, calling seen() with the text after every key.
 */
static void type_word(const char *word, void (*seen)(const char *, size_t, void *), void *arg)
{
    char done[1024];
    size_t dlen = 0;
    syl_t cur = {-1, -1, 0};
    int have = 0;
    char shown[1100];
    for (size_t i = 0, wlen = strlen(word); i < wlen;) {
        utf8proc_int32_t c;
        i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)word + i,
                                      (utf8proc_ssize_t)(wlen - i), &c);
        /* The keys of this character: a leading consonant, vowel keys, trailing keys. */
        int keys[6][2], nk = 0; /* {kind: 0 leading, 1 vowel, 2 trailing, index} */
        if (c >= SBASE && c < SBASE + 11172) {
            int s = c - SBASE, v = s % 588 / 28, t = s % 28;
            keys[nk][0] = 0, keys[nk++][1] = s / 588;
            for (int j = 0; j < 2 && vowel_keys[v][j] >= 0; j++)
                keys[nk][0] = 1, keys[nk++][1] = vowel_keys[v][j];
            for (int j = 0; t && j < 2 && trailing_keys[t][j] >= 0; j++)
                keys[nk][0] = 2, keys[nk++][1] = trailing_keys[t][j];
        } else { /* a space or an ASCII letter: ends the syllable */
            if (have)
                dlen = put(done, dlen, syl_cp(cur));
            have = 0;
            dlen = put(done, dlen, (uint32_t)c);
            memcpy(shown, done, dlen);
            seen(shown, dlen, arg);
            continue;
        }
        for (int k = 0; k < nk; k++) {
            int kind = keys[k][0], x = keys[k][1];
            if (kind == 0) { /* a consonant after a syllable may first join it as trailing */
                int as_t = leading_as_trailing[x], tc;
                if (have && cur.v >= 0 && cur.t == 0 && as_t) {
                    cur.t = as_t;
                } else if (have && cur.v >= 0 && cur.t && as_t &&
                           (tc = trailing_compound(cur.t, as_t)) > 0) {
                    cur.t = tc;
                } else {
                    if (have)
                        dlen = put(done, dlen, syl_cp(cur));
                    cur = (syl_t){x, -1, 0};
                    have = 1;
                }
            } else if (kind == 1) {
                if (cur.t) { /* the last trailing key leads the new syllable */
                    int last = trailing_keys[cur.t][1] >= 0 ? trailing_keys[cur.t][1] : cur.t;
                    int rest = trailing_keys[cur.t][1] >= 0 ? trailing_keys[cur.t][0] : 0;
                    syl_t prev = cur;
                    prev.t = rest;
                    dlen = put(done, dlen, syl_cp(prev));
                    cur = (syl_t){trailing_as_leading[last], x, 0};
                } else if (cur.v >= 0) {
                    int cv = vowel_compound(cur.v, x);
                    ck_assert(cv >= 0);
                    cur.v = cv;
                } else {
                    cur.v = x;
                }
            } else { /* a trailing key of this very syllable */
                cur.t = cur.t ? trailing_compound(cur.t, x) : x;
                ck_assert(cur.t > 0);
            }
            size_t slen = dlen;
            memcpy(shown, done, dlen);
            slen = put(shown, slen, syl_cp(cur));
            seen(shown, slen, arg);
        }
    }
}

/* ------------------------------------------------------------- the oracle */

typedef struct {
    const oracle_t *o;
    const ah_index_t *ix;
    uint64_t *seed;
    size_t checked;
    int typos, words;
} ctx_t;

static size_t count_shown(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* Rank of a match, as the contract orders them (ties: the key). */
static int before(const oracle_t *o, const oracle_match_t *a, const oracle_match_t *b)
{
    if (a->typos != b->typos)
        return a->typos < b->typos;
    if (a->mid != b->mid)
        return a->mid < b->mid;
    const oracle_entry_t *x = &o->e[a->entry], *y = &o->e[b->entry];
    if (x->score != y->score)
        return x->score > y->score;
    int c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
    return c < 0 || (c == 0 && x->key_len < y->key_len);
}

/* Is c a letter or number (a word start follows a code point that is neither)? */
static int word_cp(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/*
 * Initial-consonant search by the contract, on display texts: for a typed
 * text of two or more compatibility consonants (spaces ignored; a compound
 * typed alone is its two consonants, as in keys), every
 * completion whose text, from a word start, has syllables whose leading
 * consonants begin with them (spaces between skipped), as an exact match
 * from the start or mid-phrase; its span the syllables matched. Returns
 * -1 when typed is not such a query, else how many matches (best first).
 */
static long initials_oracle(const oracle_t *o, const char *typed, size_t tlen, unsigned k,
                            int words, oracle_match_t *out)
{
    int q[256];
    size_t m = 0;
    for (size_t i = 0; i < tlen;) {
        utf8proc_int32_t c;
        i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)typed + i,
                                      (utf8proc_ssize_t)(tlen - i), &c);
        if (c == ' ')
            continue;
        if (c < 0x3131 || c > 0x314e)
            return -1;
        /* A compound typed alone stands for its two consonants, as in keys (ㄶ: ㄴ ㅎ). */
        char one[4], key[8];
        size_t kl = own_key(one, put(one, 0, (uint32_t)c), key);
        for (size_t b = 0; b + 2 < kl; b += 3)
            q[m++] = (key[b + 2] & 0x3f) | ((key[b + 1] & 0x3) << 6); /* U+1100 + index */
    }
    if (m < 2)
        return -1;
    oracle_match_t *all = malloc((o->n + 1) * sizeof *all);
    size_t n = 0;
    for (size_t e = 0; e < o->n; e++) {
        int32_t cps[AH_MAX_TEXT_BYTES];
        size_t nc = 0;
        for (size_t i = 0; i < o->e[e].text_len;)
            i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)o->e[e].text + i,
                                          (utf8proc_ssize_t)(o->e[e].text_len - i), &cps[nc++]);
        for (size_t ws = 0; ws < nc; ws++) {
            if (!(ws == 0 || (word_cp(cps[ws]) && !word_cp(cps[ws - 1]))))
                continue;
            if (ws > 0 && !words)
                break;
            size_t j = ws, got = 0, last = ws;
            while (j < nc && got < m) {
                if (cps[j] >= SBASE && cps[j] < SBASE + 11172) {
                    if ((cps[j] - SBASE) / 588 != q[got])
                        break;
                    got++;
                    last = ++j;
                } else if (cps[j] == ' ' && got > 0) {
                    j++;
                } else {
                    break;
                }
            }
            if (got == m) {
                all[n++] = (oracle_match_t){.entry = e,
                                            .typos = 0,
                                            .mid = ws > 0,
                                            .span_start = (uint32_t)ws,
                                            .span_end = (uint32_t)last};
                break;
            }
        }
    }
    /* Best first: from the start before mid-phrase, then score, then key. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && before(o, &all[j], &all[j - 1]); j--) {
            oracle_match_t t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    size_t got = n < k ? n : k;
    memcpy(out, all, got * sizeof *out);
    free(all);
    return (long)got;
}

/* The contract's answer for a typed text: as typed, and with its last trailing consonant leading.
 */
static size_t korean_oracle(const oracle_t *o, const char *typed, size_t tlen, unsigned k,
                            int typos, int words, oracle_match_t *out)
{
    char q[AH_MAX_KEY_BYTES];
    size_t qlen = own_key(typed, tlen, q), shown = count_shown(typed, tlen);
    oracle_match_t a[AH_MAX_K], b[AH_MAX_K];
    size_t na = oracle_lookup_shown(o, q, qlen, shown, k, typos, words, ORACLE_EXACT, a), nb = 0;
    /* A trailing consonant last (U+11A8..U+11C2: E1 86 A8 .. E1 87 82) that can lead. */
    if (qlen >= 3 && (unsigned char)q[qlen - 3] == 0xe1) {
        uint32_t c = 0x1000 | ((uint32_t)((unsigned char)q[qlen - 2] & 0x3f) << 6) |
                     ((unsigned char)q[qlen - 1] & 0x3f);
        if (c >= 0x11a8 && c <= 0x11c2 && trailing_as_leading[c - TBASE] >= 0) {
            qlen -= 3;
            qlen = put(q, qlen, LBASE + (uint32_t)trailing_as_leading[c - TBASE]);
            nb = oracle_lookup_shown(o, q, qlen, shown, k, typos, words, ORACLE_EXACT, b);
        }
    }
    long ni = initials_oracle(o, typed, tlen, k, words, b);
    if (ni >= 0)
        nb = (size_t)ni;
    size_t m = 0, i = 0, j = 0;
    while (m < k && (i < na || j < nb)) {
        const oracle_match_t *c =
            j >= nb || (i < na && !before(o, &b[j], &a[i])) ? &a[i++] : &b[j++];
        int dup = 0;
        for (size_t x = 0; x < m; x++)
            dup |= out[x].entry == c->entry;
        if (!dup)
            out[m++] = *c;
    }
    return m;
}

static void check_state(const char *typed, size_t len, void *arg)
{
    ctx_t *x = arg;
    static const int typos[] = {-1, 0, 1, 2};
    for (int t = 0; t < 4; t++)
        for (int w = 0; w <= 1; w++) {
            unsigned k = 1 + (unsigned)(test_rand(x->seed) % 10);
            oracle_match_t want[AH_MAX_K];
            size_t want_n = korean_oracle(x->o, typed, len, k, typos[t], w, want);
            ah_completion_t got[AH_MAX_K];
            static char text[AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];
            size_t got_n;
            int complete;
            ah_lookup_options_t opt = {
                .k = k, .typos = typos[t], .match = w ? AH_MATCH_WORDS : AH_MATCH_PREFIX};
            ck_assert_int_eq(
                ah_index_lookup(x->ix, typed, len, &opt, got, text, sizeof text, &got_n, &complete),
                0);
            ck_assert(complete);
            ck_assert_msg(got_n == want_n, "'%.*s' (k=%u typos=%d words=%d): %zu answers, want %zu",
                          (int)len, typed, k, typos[t], w, got_n, want_n);
            for (size_t i = 0; i < got_n; i++) {
                const oracle_entry_t *e = &x->o->e[want[i].entry];
                ck_assert_msg(got[i].text_len == e->text_len &&
                                  memcmp(got[i].text, e->text, e->text_len) == 0 &&
                                  got[i].score == e->score && got[i].typos == want[i].typos &&
                                  got[i].mid == want[i].mid &&
                                  got[i].span_start == want[i].span_start &&
                                  got[i].span_end == want[i].span_end,
                              "'%.*s' (k=%u typos=%d words=%d) answer %zu: got '%.*s' typos %u "
                              "mid %u span %u-%u; want '%s' typos %u mid %d span %u-%u",
                              (int)len, typed, k, typos[t], w, i, (int)got[i].text_len, got[i].text,
                              got[i].typos, got[i].mid, got[i].span_start, got[i].span_end, e->text,
                              want[i].typos, want[i].mid, want[i].span_start, want[i].span_end);
            }
            x->checked++;
        }
}

/* ------------------------------------------------------------------ tests */

/* Words Koreans type, with the contract's examples among them. */
static const char *const words[] = {
    "한국", "한국어", "학교",        "하고",       "닭",   "닭고기", "달걀", "과일",
    "고기", "서울",   "서울 특별시", "서울특별시", "사원", "항공",   "화가", "의사",
    "읽다", "없다",   "값",          "앉다",       "많다", "외국",   "왜",   "뭐",
    "권리", "쌀",     "까치",        "빨리",       "짜다", "떡볶이", "김치", "hangul 한글",
};

START_TEST(test_keys_are_jamo_as_typed)
{
    /* normalize.c against the test's own decomposition, for every syllable there is. */
    char text[8], want[32], got[64];
    for (uint32_t c = SBASE; c < SBASE + 11172; c++) {
        size_t tl = put(text, 0, c), gl;
        size_t wl = own_key(text, tl, want);
        ck_assert_int_eq(ah_normalize_key(text, tl, got, sizeof got, &gl, 0), 0);
        ck_assert_msg(gl == wl && memcmp(got, want, wl) == 0, "U+%04X", c);
    }
    /* Compatibility jamo typed alone: leading consonants and vowels, compounds split. */
    static const struct {
        const char *typed, *key;
    } alone[] = {
        {"ㄱ", "\u1100"},
        {"ㄳ", "\u1100\u1109"},
        {"ㅘ", "\u1169\u1161"},
        {"하ㄳ", "\u1112\u1161\u1100\u1109"},
        {"ㄲ", "\u1101"},
        {"ㅢ", "\u1173\u1175"},
        {"닭", "\u1103\u1161\u11af\u11a8"},
    };
    for (size_t i = 0; i < sizeof alone / sizeof *alone; i++) {
        size_t gl;
        ck_assert_int_eq(
            ah_normalize_key(alone[i].typed, strlen(alone[i].typed), got, sizeof got, &gl, 0), 0);
        ck_assert_msg(gl == strlen(alone[i].key) && memcmp(got, alone[i].key, gl) == 0, "%s",
                      alone[i].typed);
    }
    /*
     * Texts of syllables, jamo typed alone and ASCII take a path without
     * utf8proc: the same keys as through it (a combining mark appended is
     * stripped there, and sends the text down the utf8proc path).
     */
    uint64_t seed = 0x66617374u;
    for (int t = 0; t < 20000; t++) {
        char in[64], slow[80], a[256], b[256];
        size_t il = 0, al, bl;
        for (int j = 0, n = 1 + (int)(test_rand(&seed) % 6); j < n; j++) {
            uint64_t r = test_rand(&seed) % 10;
            uint32_t c = r < 5   ? SBASE + (uint32_t)(test_rand(&seed) % 11172)
                         : r < 7 ? 0x3131 + (uint32_t)(test_rand(&seed) % 51)
                         : r < 8 ? (uint32_t) " \tAz"[test_rand(&seed) % 4]
                                 : 'a' + (uint32_t)(test_rand(&seed) % 26);
            il = put(in, il, c);
        }
        memcpy(slow, in, il);
        memcpy(slow + il, "\xcc\x81", 2);
        ck_assert_int_eq(ah_normalize_key(in, il, a, sizeof a, &al, t % 2), 0);
        ck_assert_int_eq(ah_normalize_key(slow, il + 2, b, sizeof b, &bl, t % 2), 0);
        ck_assert_msg(al == bl && memcmp(a, b, al) == 0, "%.*s: the two paths differ", (int)il, in);
    }
    /* Texts without Hangul keep their keys. */
    size_t gl;
    ck_assert_int_eq(ah_normalize_key("Café ﬁ", strlen("Café ﬁ"), got, sizeof got, &gl, 0), 0);
    ck_assert(gl == 7 && memcmp(got, "cafe fi", 7) == 0);
}
END_TEST

static void seen_collect(const char *s, size_t len, void *arg)
{
    char *all = arg;
    strncat(all, s, len);
    strcat(all, "|");
}

START_TEST(test_input_method_model)
{
    char all[512] = "";
    type_word("한국", seen_collect, all);
    ck_assert_str_eq(all, "ㅎ|하|한|한ㄱ|한구|한국|");
    all[0] = 0;
    type_word("달걀", seen_collect, all);
    ck_assert_str_eq(all, "ㄷ|다|달|닭|달갸|달걀|");
    all[0] = 0;
    type_word("과일", seen_collect, all);
    ck_assert_str_eq(all, "ㄱ|고|과|광|과이|과일|");
}
END_TEST

/* Every state of every word typed, in a snapshot of those words and random syllables. */
START_TEST(test_typed_states_match_the_contract)
{
    uint64_t seed = 0x6b6f0000u + (uint64_t)_i;
    size_t nw = sizeof words / sizeof *words, n = 0;
    char *texts[600];
    uint64_t scores[600];
    for (size_t i = 0; i < nw; i++) {
        texts[n] = strdup(words[i]);
        scores[n++] = 10 + test_rand(&seed) % 90;
    }
    /* Random words from a few jamo each, so that they share prefixes and near misses. */
    static const int ls[] = {0, 2, 3, 5, 11, 18}, vs[] = {0, 8, 9, 13, 19, 20},
                     ts[] = {0, 0, 1, 4, 8, 9, 18};
    while (n < 400) {
        char buf[64];
        size_t at = 0, syl = 1 + test_rand(&seed) % 4;
        for (size_t s = 0; s < syl; s++)
            at = put(
                buf, at,
                SBASE + (uint32_t)((ls[test_rand(&seed) % 6] * 21 + vs[test_rand(&seed) % 6]) * 28 +
                                   ts[test_rand(&seed) % 7]));
        buf[at] = 0;
        texts[n] = strdup(buf);
        scores[n++] = test_rand(&seed) % 4 == 0 ? 50 : 1 + test_rand(&seed) % 60; /* ties */
    }
    oracle_t o;
    oracle_from_pairs(&o, (const char *const *)texts, scores, n);
    /* The oracle's keys are normalize.c's: they must be the test's own. */
    for (size_t i = 0; i < o.n; i++) {
        char want[AH_MAX_KEY_BYTES];
        size_t wl = own_key(o.e[i].text, o.e[i].text_len, want);
        ck_assert_msg(wl == o.e[i].key_len && memcmp(want, o.e[i].key, wl) == 0, "key of %s",
                      o.e[i].text);
    }
    ah_entry_t *e = oracle_entries(&o);
    char path[512], name[32], err[256];
    ah_write_options_t opt = {
        .topk = 10, .max_text_bytes = 256, .hot_nodes = (unsigned)(_i * 7), .no_typo = _i == 2};
    snprintf(name, sizeof name, "korean-%d.snap", _i);
    scratch_path(path, sizeof path, name);
    ck_assert_msg(ah_snapshot_write(path, e, o.n, &opt, NULL, err, sizeof err) == 0, "%s", err);
    free(e);
    ah_index_t *ix;
    ck_assert_msg(ah_index_open(path, &ix, err, sizeof err) == 0, "%s", err);
    ctx_t x = {.o = &o, .ix = ix, .seed = &seed};
    for (size_t i = 0; i < nw; i++)
        type_word(words[i], check_state, &x);
    for (size_t i = nw; i < n; i += 9)
        type_word(texts[i], check_state, &x);
    ck_assert_uint_gt(x.checked, 1000);
    ah_index_close(ix);
    oracle_free(&o);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
}
END_TEST

/*
 * Real Korean words (data/korean-words.txt: 3,000 of hunspell-ko's, which
 * has no counts: these are random, ties among them), 150 of them typed
 * state by state.
 */
START_TEST(test_real_words_typed)
{
    size_t len;
    char *all = read_file(AH_SOURCE_DIR "/data/korean-words.txt", &len);
    ck_assert_ptr_nonnull(all);
    char *texts[3100];
    uint64_t scores[3100], seed = 0x6b6f7265u;
    size_t n = 0;
    for (char *line = strtok(all, "\n"); line && n < 3100; line = strtok(NULL, "\n")) {
        texts[n] = line;
        scores[n++] = 1 + (test_rand(&seed) % 3 ? test_rand(&seed) % 20 : test_rand(&seed) % 5000);
    }
    ck_assert_uint_ge(n, 3000);
    oracle_t o;
    oracle_from_pairs(&o, (const char *const *)texts, scores, n);
    ah_entry_t *e = oracle_entries(&o);
    char path[512], err[256];
    ah_write_options_t opt = {.topk = 10, .max_text_bytes = 256, .hot_nodes = 30};
    ck_assert(ah_snapshot_write(scratch_path(path, sizeof path, "words.snap"), e, o.n, &opt, NULL,
                                err, sizeof err) == 0);
    free(e);
    ah_index_t *ix;
    ck_assert(ah_index_open(path, &ix, err, sizeof err) == 0);
    ctx_t x = {.o = &o, .ix = ix, .seed = &seed};
    for (size_t i = 0; i < 150; i++)
        type_word(texts[test_rand(&seed) % n], check_state, &x);
    ck_assert_uint_gt(x.checked, 3000);
    ah_index_close(ix);
    oracle_free(&o);
    free(all);
}
END_TEST

/* Initial-consonant queries from a text: its syllables' consonants from each word start, cut
 * anywhere. */
static void initials_queries(const char *text, ctx_t *x)
{
    int32_t cps[256];
    size_t nc = 0, tl = strlen(text);
    for (size_t i = 0; i < tl && nc < 256;)
        i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                      (utf8proc_ssize_t)(tl - i), &cps[nc++]);
    for (size_t ws = 0; ws < nc; ws++) {
        if (!(ws == 0 || (word_cp(cps[ws]) && !word_cp(cps[ws - 1]))))
            continue;
        char q[1024];
        size_t ql = 0, got = 0;
        for (size_t j = ws; j < nc; j++) {
            if (cps[j] == ' ') {
                if (test_rand(x->seed) % 2)
                    q[ql++] = ' '; /* spaces in the query are ignored */
                continue;
            }
            if (cps[j] < SBASE || cps[j] >= SBASE + 11172)
                break;
            ql = put(q, ql, (uint32_t)compat_of_leading[(cps[j] - SBASE) / 588]);
            if (++got >= 2)
                check_state(q, ql, x);
        }
    }
}

/* ㅅㅇㅌ finds 서울 특별시 and 서울특별시: every word's initials, and random pairs, by the
 * contract. */
START_TEST(test_initial_consonants)
{
    uint64_t seed = 0x63686f00u;
    size_t len;
    char *all = read_file(AH_SOURCE_DIR "/data/korean-words.txt", &len);
    ck_assert_ptr_nonnull(all);
    char *texts[3200];
    uint64_t scores[3200];
    size_t n = 0, nw = sizeof words / sizeof *words;
    for (size_t i = 0; i < nw; i++) {
        texts[n] = (char *)words[i];
        scores[n++] = 100 + test_rand(&seed) % 100;
    }
    /* Phrases of real words, so that matches come from later word starts too. */
    static char phrases[100][200];
    for (char *line = strtok(all, "\n"); line && n < 3000; line = strtok(NULL, "\n")) {
        texts[n] = line;
        scores[n++] = 1 + test_rand(&seed) % 30;
    }
    for (size_t i = 0; i < 100; i++) {
        snprintf(phrases[i], sizeof phrases[i], "%s %s", texts[nw + test_rand(&seed) % (n - nw)],
                 texts[nw + test_rand(&seed) % (n - nw)]);
        texts[n] = phrases[i];
        scores[n++] = 1 + test_rand(&seed) % 30;
    }
    oracle_t o;
    oracle_from_pairs(&o, (const char *const *)texts, scores, n);
    ah_entry_t *e = oracle_entries(&o);
    char path[512], err[256];
    ah_write_options_t opt = {.topk = 10, .max_text_bytes = 256, .hot_nodes = 20};
    ck_assert(ah_snapshot_write(scratch_path(path, sizeof path, "initials.snap"), e, o.n, &opt,
                                NULL, err, sizeof err) == 0);
    free(e);
    ah_index_t *ix;
    ck_assert(ah_index_open(path, &ix, err, sizeof err) == 0);
    ck_assert_msg(ah_index_verify(ix, err, sizeof err) == 0, "%s", err);
    ctx_t x = {.o = &o, .ix = ix, .seed = &seed};
    for (size_t i = 0; i < nw; i++)
        initials_queries(words[i], &x);
    for (size_t i = 0; i < 100; i++)
        initials_queries(phrases[i], &x);
    for (size_t i = 0; i < 300; i++) { /* random pairs and triples, a compound among them */
        char q[16];
        size_t ql = 0, m = 2 + test_rand(&seed) % 2;
        for (size_t j = 0; j < m; j++)
            ql = put(q, ql, 0x3131 + (uint32_t)(test_rand(&seed) % 30));
        check_state(q, ql, &x);
    }
    /* The contract's example. */
    ah_completion_t c[10];
    char text[AH_COMPLETE_TEXT_BYTES(10)];
    size_t got;
    ck_assert_int_eq(
        ah_index_complete(ix, "ㅅㅇㅌ", strlen("ㅅㅇㅌ"), 10, c, text, sizeof text, &got), 0);
    ck_assert_uint_eq(got, 2);
    ck_assert_uint_gt(x.checked, 2000);
    ah_index_close(ix);
    oracle_free(&o);
    free(all);
}
END_TEST

/* The contract's own examples, spelled out. */
START_TEST(test_examples)
{
    const char *texts[] = {"한국", "학교", "하고", "닭고기", "달걀", "과일", "고기"};
    uint64_t scores[] = {70, 60, 50, 40, 30, 20, 10};
    oracle_t o;
    oracle_from_pairs(&o, texts, scores, 7);
    ah_entry_t *e = oracle_entries(&o);
    char path[512], err[256];
    ah_write_options_t opt = {.topk = 10, .max_text_bytes = 256};
    ck_assert(ah_snapshot_write(scratch_path(path, sizeof path, "examples.snap"), e, o.n, &opt,
                                NULL, err, sizeof err) == 0);
    free(e);
    ah_index_t *ix;
    ck_assert(ah_index_open(path, &ix, err, sizeof err) == 0);
    static const struct {
        const char *q, *want;
    } ex[] = {
        {"한구", "한국"},    {"한ㄱ", "한국"},      {"학", "학교 하고"},      {"닭", "닭고기 달걀"},
        {"고", "과일 고기"}, {"달", "닭고기 달걀"}, {"하", "한국 학교 하고"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
        ah_completion_t c[10];
        char text[AH_COMPLETE_TEXT_BYTES(10)], got[256] = "";
        size_t n;
        ck_assert_int_eq(
            ah_index_complete(ix, ex[i].q, strlen(ex[i].q), 10, c, text, sizeof text, &n), 0);
        for (size_t j = 0; j < n; j++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", j ? " " : "",
                     (int)c[j].text_len, c[j].text);
        ck_assert_msg(strcmp(got, ex[i].want) == 0, "%s: got '%s', want '%s'", ex[i].q, got,
                      ex[i].want);
    }
    ah_index_close(ix);
    oracle_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("korean");
    TCase *tc = tcase_create("korean");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_keys_are_jamo_as_typed);
    tcase_add_test(tc, test_input_method_model);
    tcase_add_test(tc, test_examples);
    tcase_add_loop_test(tc, test_typed_states_match_the_contract, 0, 3);
    tcase_add_test(tc, test_real_words_typed);
    tcase_add_test(tc, test_initial_consonants);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
