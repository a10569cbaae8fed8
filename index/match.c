/* SPDX-License-Identifier: MIT */
/*
 * match.c: word starts, the typo budget, the banded prefix edit distance
 * and highlight spans (see match.h for the rules and the band's drawing).
 */
#include "match.h"

#include "ahead.h"

#include <string.h>
#include <utf8proc.h>

size_t ah_match_decode(const char *s, size_t len, uint32_t *cps, size_t cap)
{
    ah_utf8_t u = {0, 0};
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t c;
        if (ah_utf8_feed(&u, (unsigned char)s[i], &c)) {
            if (n < cap)
                cps[n] = c;
            n++;
        }
    }
    return n;
}

unsigned ah_match_budget(size_t n, int typos)
{
    unsigned automatic = n < 4 ? 0 : n < 8 ? 1 : 2;
    if (typos < 0 || (unsigned)typos > automatic)
        return automatic;
    return (unsigned)typos;
}

int ah_match_is_word_cp(uint32_t c)
{
    if (c < 0x80)
        return ah_match_is_word_ascii(c);
    if (c > 0x10ffff)
        return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

size_t ah_match_word_starts(const char *key, size_t len, uint32_t *offs, size_t cap)
{
    ah_utf8_t u = {0, 0};
    size_t n = 0, start = 0;
    int prev_word = 1; /* position 0 is not reported */
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)key[i];
        int word;
        if (u.need == 0)
            start = i;                 /* the first byte of a code point */
        if (b < 0x80 && u.need == 0) { /* most bytes: nothing to decode */
            word = ah_match_is_word_ascii(b);
        } else {
            uint32_t c;
            if (!ah_utf8_feed(&u, b, &c))
                continue;
            word = ah_match_is_word_cp(c);
        }
        if (word && !prev_word) {
            if (n < cap)
                offs[n] = (uint32_t)start;
            n++;
        }
        prev_word = word;
    }
    return n;
}

void ah_match_pattern(const char *key, size_t len, uint32_t *buf, ah_pattern_t *p)
{
    uint32_t *q = buf + AH_PATTERN_PAD;
    size_t n = ah_match_decode(key, len, q, len);
    for (size_t i = 0; i < AH_PATTERN_PAD; i++)
        buf[i] = q[n + i] = AH_CP_NONE;
    p->q = q;
    p->n = (uint32_t)n;
    p->d = 0;
}

void ah_osa_init(const ah_pattern_t *p, ah_osa_t *s)
{
    unsigned d = p->d;
    uint64_t row = (uint64_t)(d + 1) * AH_LANES_1;
    for (unsigned x = 0; x <= d && x <= p->n; x++) {
        /* Row 0: OSA(Q[0:x], "") = x, in lane x + d. */
        unsigned lane = x + d;
        row = (row & ~(0xffull << (8 * lane))) | (uint64_t)x << (8 * lane);
    }
    s->row = row;
    s->prev = (uint64_t)(d + 1) * AH_LANES_1;
    s->eq = 0;
    s->sat = 0;
    s->j = 0;
}

int ah_match_within(const ah_pattern_t *p, const char *text, size_t len)
{
    ah_osa_t s;
    ah_utf8_t u = {0, 0};
    ah_osa_init(p, &s);
    if (p->n == 0)
        return 1; /* the empty prefix is within any distance of anything */
    for (size_t i = 0; i < len; i++) {
        uint32_t c;
        if (!ah_utf8_feed(&u, (unsigned char)text[i], &c))
            continue;
        int r = ah_osa_step(p, &s, c);
        if (r == AH_OSA_DEAD)
            return 0;
        if (r >= 0)
            return 1;
    }
    return 0;
}

int ah_match_span_len(const ah_pattern_t *p, const char *text, size_t len)
{
    ah_osa_t s;
    ah_utf8_t u = {0, 0};
    ah_osa_init(p, &s);
    int best = p->n == p->d ? 0 : AH_OSA_DEAD; /* L = 0: OSA(Q, "") = n */
    for (size_t i = 0; i < len; i++) {
        uint32_t c;
        if (!ah_utf8_feed(&u, (unsigned char)text[i], &c))
            continue;
        int r = ah_osa_step(p, &s, c);
        if (r == AH_OSA_DEAD)
            break;
        if (r == (int)p->d)
            best = (int)s.j;
    }
    return best;
}

/* ------------------------------------------------------------------ Hangul */

static int is_leading(uint32_t c)
{
    return c >= 0x1100 && c <= 0x115f;
}

static int is_vowel(uint32_t c)
{
    return c >= 0x1160 && c <= 0x11a7;
}

static int is_trailing(uint32_t c)
{
    return c >= 0x11a8 && c <= 0x11ff;
}

uint32_t ah_match_shown_cps(const char *key, size_t len)
{
    uint32_t n = 0, prev = 0;
    ah_utf8_t u = {0, 0};
    for (size_t i = 0; i < len; i++) {
        uint32_t c;
        if (!ah_utf8_feed(&u, (unsigned char)key[i], &c))
            continue;
        /* A vowel after a leading consonant or a vowel, a trailing consonant after either. */
        int continues = (is_vowel(c) && (is_leading(prev) || is_vowel(prev))) ||
                        (is_trailing(c) && (is_vowel(prev) || is_trailing(prev)));
        n += !continues;
        prev = c;
    }
    return n;
}

/* The code point at key[i] (a valid UTF-8 key), its length in *w. */
static uint32_t cp_at(const char *key, size_t len, size_t i, size_t *w)
{
    const unsigned char *s = (const unsigned char *)key + i;
    if (s[0] < 0x80 || i + 1 >= len) {
        *w = 1;
        return s[0];
    }
    if (s[0] < 0xe0) {
        *w = 2;
        return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    }
    if (s[0] < 0xf0 && i + 2 < len) {
        *w = 3;
        return (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    }
    *w = s[0] < 0xf0 ? 1 : 4;
    return 0x110000; /* nothing a run holds */
}

size_t ah_match_initials(const char *key, size_t len, size_t from, unsigned char *out, size_t cap,
                         uint32_t *ends)
{
    size_t m = 0, i = from, w, w2;
    while (i < len && m < cap) {
        uint32_t c = cp_at(key, len, i, &w);
        if (c == ' ' && m > 0) { /* a space between syllables */
            i += w;
            continue;
        }
        if (c < 0x1100 || c > 0x1112 || i + w >= len)
            break;
        uint32_t v = cp_at(key, len, i + w, &w2);
        if (v < 0x1161 || v > 0x1175)
            break; /* a consonant typed alone is not a syllable */
        out[m] = (unsigned char)(c - 0x1100);
        i += w;
        while (i < len && (c = cp_at(key, len, i, &w), c >= 0x1161 && c <= 0x11c2))
            i += w; /* the syllable's vowel and trailing jamo */
        if (ends)
            ends[m] = (uint32_t)i;
        m++;
    }
    return m;
}

int ah_match_trailing_variant(const char *key, size_t len, char *out)
{
    /* Trailing consonants U+11A8.. as leading ones (0: a compound, never last in a key). */
    static const uint16_t as_leading[27] = {0x1100, 0x1101, 0,      0x1102, 0,      0,      0x1103,
                                            0x1105, 0,      0,      0,      0,      0,      0,
                                            0,      0x1106, 0x1107, 0,      0x1109, 0x110a, 0x110b,
                                            0x110c, 0x110e, 0x110f, 0x1110, 0x1111, 0x1112};
    /* A conjoining jamo is 3 bytes: E1 86 A8 .. E1 87 82 for U+11A8 .. U+11C2. */
    if (len < 3 || (unsigned char)key[len - 3] != 0xe1)
        return 0;
    uint32_t c = 0x1000 | ((uint32_t)((unsigned char)key[len - 2] & 0x3f) << 6) |
                 ((unsigned char)key[len - 1] & 0x3f);
    if (c < 0x11a8 || c > 0x11c2 || as_leading[c - 0x11a8] == 0)
        return 0;
    uint32_t l = as_leading[c - 0x11a8];
    memcpy(out, key, len - 3);
    out[len - 3] = (char)0xe1;
    out[len - 2] = (char)(0x80 | ((l >> 6) & 0x3f));
    out[len - 1] = (char)(0x80 | (l & 0x3f));
    return 1;
}

/* ------------------------------------------------------------ display spans */

/* Code points in the key of the display text's first `bytes` bytes. */
static uint32_t key_cps_of_prefix(const char *text, size_t bytes)
{
    char key[AH_MAX_KEY_BYTES + 8];
    size_t klen = 0;
    if (ah_normalize_key(text, bytes, key, sizeof key, &klen, 1) != 0)
        return UINT32_MAX;
    uint32_t n = 0;
    for (size_t i = 0; i < klen; i++)
        n += ((unsigned char)key[i] & 0xc0) != 0x80;
    return n;
}

static int is_mark(uint32_t c)
{
    if (c < 0x300 || c > 0x10ffff)
        return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
           cat == UTF8PROC_CATEGORY_ME;
}

void ah_match_display_span(const char *text, size_t len, uint32_t a, uint32_t b, uint32_t *start,
                           uint32_t *end)
{
    size_t i = 0;
    for (uint64_t v; i + 8 <= len; i += 8) { /* eight bytes at a time: most texts are ASCII */
        memcpy(&v, text + i, 8);
        if (v & 0x8080808080808080ull)
            break;
    }
    while (i < len && (unsigned char)text[i] < 0x80)
        i++;
    if (i == len) { /* ASCII: the key is the text, lowercased, code point for code point */
        *start = a < len ? a : (uint32_t)len;
        *end = b < len ? b : (uint32_t)len;
        if (*end < *start)
            *end = *start;
        return;
    }
    /*
     * When the key is made code point by code point (Latin, Hangul), f(c)
     * comes from one pass, as far as the span reaches; else from the key
     * of each prefix the binary searches below try.
     */
    uint32_t f[AH_MAX_TEXT_BYTES + 1];
    size_t at;
    int m =
        ah_key_cps_of_prefixes(text, len, (a + 1 > b ? a + 1 : b), f, sizeof f / sizeof *f, &at);
    if (m >= 0) {
        uint32_t c = 0;
        while (c < (uint32_t)m && f[c + 1] <= a)
            c++;
        *start = c;
        while (c < (uint32_t)m && f[c] < b)
            c++;
        /* Code points up to m are Latin or Hangul, none a mark; those after may be. */
        for (int more = c == (uint32_t)m && c > *start; more && at < len; c++) {
            uint32_t cp = 0, w = 0;
            for (ah_utf8_t u = {0, 0};
                 at + w < len && !ah_utf8_feed(&u, (unsigned char)text[at + w], &cp);)
                w++;
            if (!is_mark(cp))
                break;
            at += w + 1;
        }
        *end = c;
        return;
    }
    /* Byte offset of each code point, and the code points themselves. */
    uint16_t off[AH_MAX_TEXT_BYTES + 1];
    uint32_t cps[AH_MAX_TEXT_BYTES];
    uint32_t n = 0;
    ah_utf8_t u = {0, 0};
    size_t from = 0;
    for (i = 0; i < len && i < AH_MAX_TEXT_BYTES; i++) {
        uint32_t c;
        if (ah_utf8_feed(&u, (unsigned char)text[i], &c)) {
            off[n] = (uint16_t)from;
            cps[n++] = c;
            from = i + 1;
        }
    }
    off[n] = (uint16_t)from;
    /*
     * f(c), the key code points of the first c display code points, never
     * decreases as c grows: binary searches find the last c with f(c) <= a
     * and the first with f(c) >= b.
     */
    uint32_t lo = 0, hi = n;
    while (lo < hi) { /* the last c with f(c) <= a; f(0) = 0 */
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (key_cps_of_prefix(text, off[mid]) <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    *start = lo;
    lo = *start;
    hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (key_cps_of_prefix(text, off[mid]) >= b)
            hi = mid;
        else
            lo = mid + 1;
    }
    uint32_t e = lo;
    while (e < n && e > *start && is_mark(cps[e]))
        e++;
    *end = e;
}
