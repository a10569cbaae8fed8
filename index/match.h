/* SPDX-License-Identifier: MIT */
/*
 * match.h: the rules of matching (docs/matching.md), as small pure
 * functions that the lookup (search.c), the writer (word starts) and the
 * verifier share. Nothing here reads a snapshot.
 *
 *   word start   position 0 of a key, and every code point that is a letter
 *                or number (Unicode L* or N*) right after one that is not
 *   budget D     typos=auto: 0 below 4 code points of prefix, 1 below 8, 2
 *                from 8; typos=t: min(t, auto)
 *   distance     prefix edit distance: the least optimal-string-alignment
 *                distance between the prefix Q and any prefix of the text
 *                from a word start; the first code point must be equal
 *
 * The distance is computed one code point of text at a time, so that a trie
 * walk can carry it down edges and stop where it exceeds the budget. Only
 * the cells of the dynamic-programming table within d of its diagonal can
 * hold a value <= d, so a row is 2d+1 cells (a band), each capped at d+1:
 *
 *              x = j-d ... j ... j+d        (code points of Q)
 *   row j-1    . prev[0..2d] .              (kept for transpositions)
 *   row j        . row[0..2d] .             (code points 0..j of the text)
 *
 * Cell i of row j is OSA(Q[0:x], text[0:j]) with x = j - d + i. The text's
 * prefix of j code points is within d of Q when row[n - j + d] <= d; no
 * longer text can come back within d once every cell exceeds it.
 */
#ifndef AH_MATCH_H
#define AH_MATCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define AH_MATCH_MAX_TYPOS 2
#define AH_MATCH_BAND      (2 * AH_MATCH_MAX_TYPOS + 1)

/*
 * The typed prefix as code points, and the distance a pass allows. q points
 * AH_PATTERN_PAD code points into its buffer: q[-PAD .. -1] and
 * q[n .. n + PAD - 1] hold AH_CP_NONE, which equals no code point, so a
 * step reads Q's neighbours without bounds checks (ah_match_pattern).
 */
typedef struct ah_pattern {
    const uint32_t *q;
    uint32_t n;
    unsigned d; /* 0..AH_MATCH_MAX_TYPOS */
} ah_pattern_t;

#define AH_PATTERN_PAD 8
#define AH_CP_NONE     0xffffffffu /* padding of the pattern */
#define AH_CP_START    0xfffffffeu /* "the code point before the text" */

/* Room for a pattern buffer of n code points. */
#define AH_PATTERN_CPS(n) ((n) + 2 * AH_PATTERN_PAD)

/*
 * The distance state after j code points of text. Plain data: copy it to
 * branch. The band's cells are packed one per byte (lane i of row holds
 * cell i), lanes past the band hold d + 1, so that a step is a handful of
 * word operations without branches.
 */
typedef struct ah_osa {
    uint64_t row, prev; /* rows j and j - 1 */
    uint16_t j;
    uint8_t eq;  /* lanes where Q matched the text's last code point (for swaps) */
    uint8_t sat; /* when no edit is left: the lanes at d, which only a match extends; else 0 */
} ah_osa_t;

/* What a step reports. A distance 0..d means: accepted at that distance. */
#define AH_OSA_DEAD  (-1) /* no continuation of this text comes within d */
#define AH_OSA_ALIVE (-2) /* not within d yet; a continuation may be */

/*
 * Incremental UTF-8 decoding for walks over byte-labelled tries: a node
 * boundary may fall inside a code point. A byte that cannot start or
 * continue a sequence decodes to a value above U+10FFFF, which equals no
 * code point of a valid prefix: a damaged file may answer wrongly, never
 * read out of bounds.
 */
typedef struct ah_utf8 {
    uint16_t acc;  /* bits of the code point so far: at most 15 before it completes */
    uint16_t need; /* continuation bytes still expected */
} ah_utf8_t;

/* Feeds one byte; returns 1 and sets *cp when a code point is complete. */
static inline int ah_utf8_feed(ah_utf8_t *u, unsigned char b, uint32_t *cp)
{
    if (u->need == 0) {
        if (b < 0x80) {
            *cp = b;
            return 1;
        }
        if (b >= 0xc2 && b <= 0xf4) {
            u->need = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : 1;
            u->acc = (uint16_t)(b & (0x3fu >> u->need));
            return 0;
        }
        *cp = 0x110000u + b;
        return 1;
    }
    if ((b & 0xc0) != 0x80) { /* a sequence cut short: reported as one bad unit */
        u->need = 0;
        *cp = 0x110100u + b;
        return 1;
    }
    uint32_t acc = (uint32_t)u->acc << 6 | (b & 0x3f);
    if (--u->need) {
        u->acc = (uint16_t)acc;
        return 0;
    }
    *cp = acc;
    return 1;
}

/*
 * Decodes UTF-8 into at most cap code points (invalid bytes as above).
 * Returns how many there are, which may exceed cap (only cap are stored).
 */
size_t ah_match_decode(const char *s, size_t len, uint32_t *cps, size_t cap);

/* The distance budget D for a prefix of n code points and a requested typos (-1: auto). */
unsigned ah_match_budget(size_t n, int typos);

/*
 * Hangul in keys (normalize.c): ah_hangul_keys() writes the jamo a key
 * holds for code point c (a syllable, a compatibility jamo typed alone, or a
 * conjoining jamo), compounds split into the keys typed for them, at most 6;
 * returns how many (c itself, 1, for anything else). ah_jamo_split() splits
 * one conjoining jamo: 2 for a compound vowel or trailing consonant, else 1.
 */
int ah_hangul_keys(int32_t c, int32_t *keys);
int ah_jamo_split(int32_t c, int32_t *keys);

/*
 * For a text whose key is made without utf8proc (ASCII, Hangul with
 * ASCII, or Latin below U+0250: normalize.c), in one pass: f[c] = the code
 * points in the key of its first c code points, one trailing space kept,
 * for c = 0 .. m, where m is the first c with f[c] >= until, or the
 * text's last; *bytes = the bytes of those m code points. Returns m, or
 * -1 when they take utf8proc's path or f has fewer than m + 1 places.
 * (Keys too long for ah_normalize_key() are counted all the same.)
 */
int ah_key_cps_of_prefixes(const char *text, size_t len, uint32_t until, uint32_t *f, size_t cap,
                           size_t *bytes);

/*
 * The code points of a key as its text shows them, which typos=auto counts:
 * every code point but the jamo that continue a syllable (a vowel or
 * trailing consonant after a leading consonant or vowel, a compound's
 * second key), so 한국 is 2 and 한ㄱ is 2, as typed. (A compound consonant
 * typed alone, ㄳ, is two leading consonants in a key: it counts 2 here;
 * ah_index_lookup() takes one off for each in the text typed.)
 */
uint32_t ah_match_shown_cps(const char *key, size_t len);

/*
 * Initial-consonant runs (format.h, CHOSEONG): the run of key that starts
 * at byte `from` (a word start), as consonant indexes 0..18 into out (at
 * most cap), returning how many (0: no Hangul syllable starts there). When
 * ends is not NULL, ends[i] receives the byte offset just past syllable i.
 */
size_t ah_match_initials(const char *key, size_t len, size_t from, unsigned char *out, size_t cap,
                         uint32_t *ends);

/*
 * The Hangul rule for a syllable still being typed: when key ends in a
 * trailing consonant, writes the key with that consonant as the leading
 * consonant of a next syllable into out (same length) and returns 1
 * (학 -> 하ㄱ, 닭 -> 달ㄱ); else returns 0.
 */
int ah_match_trailing_variant(const char *key, size_t len, char *out);

/* Is code point c a letter or a number (general category L* or N*)? */
int ah_match_is_word_cp(uint32_t c);

/* The same for an ASCII code point (c < 0x80), inline. */
static inline int ah_match_is_word_ascii(unsigned c)
{
    return c - '0' < 10 || (c | 0x20) - 'a' < 26;
}

/*
 * The word starts after the first of a key: byte offsets i > 0 where a
 * letter or number follows a code point that is neither. Stores at most cap
 * of them; returns how many there are.
 */
size_t ah_match_word_starts(const char *key, size_t len, uint32_t *offs, size_t cap);

/* The state before any text: row 0. */
void ah_osa_init(const ah_pattern_t *p, ah_osa_t *s);

#define AH_LANES_1 0x0101010101010101ull
#define AH_LANES_H 0x8080808080808080ull

/* Lane-wise minimum of two words of byte lanes, each below 128. */
static inline uint64_t ah_osa__min(uint64_t a, uint64_t b)
{
    uint64_t ge = (((a | AH_LANES_H) - b) & AH_LANES_H) >> 7; /* 1 in lanes where a >= b */
    ge *= 0xff;
    return (b & ge) | (a & ~ge);
}

/* A 5-bit lane mask spread to one 0x01 per byte lane. */
static inline uint64_t ah_osa__spread(uint32_t bits)
{
    /* Bit i times 2^(7i) lands on bit 8i, and no two products share a bit. */
    return ((uint64_t)(bits & 0x1f) * 0x10204081ull) & 0x0101010101ull;
}

/* Bit i set where qx[i] == c, for i in 0..7 (the pattern's padding makes qx[0..7] readable). */
static inline uint32_t ah_osa__eq(const uint32_t *qx, uint32_t c)
{
#ifdef __SSE2__
    __m128i cv = _mm_set1_epi32((int)c);
    __m128i lo = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)qx), cv);
    __m128i hi = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(qx + 4)), cv);
    return (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(lo)) |
           (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(hi)) << 4;
#else
    uint32_t eq = 0;
    for (unsigned i = 0; i < 8; i++)
        eq |= (uint32_t)(qx[i] == c) << i;
    return eq;
#endif
}

/*
 * One row of the band, for a budget known at compile time (d is a constant
 * at every call). Cell i holds x = j - d + i; its neighbours in the table
 * are: cell i + 1 of the row above (the text's code point left out), cell i
 * of the row above one code point of Q back (the diagonal), cell i - 1 of
 * the new row (Q's code point left out), and for a swap cell i of the row
 * before the last. The left-to-right dependency is a prefix minimum, done
 * in two shifted steps: values are capped at d + 1 <= 3, so nothing
 * travels more than two lanes.
 */
static inline __attribute__((always_inline)) int ah_osa__step(const ah_pattern_t *p, ah_osa_t *s,
                                                              uint32_t c, const unsigned d)
{
    const uint64_t inf = (uint64_t)(d + 1) * AH_LANES_1;
    const uint32_t wmask = (1u << (2 * d + 1)) - 1;
    uint32_t j = s->j + 1u;
    if (s->j == 0 && c != p->q[0])
        return AH_OSA_DEAD; /* the first letter is never a typo */
    if (j > p->n + d)
        return AH_OSA_DEAD; /* x = n has left the band without a match (j stays below 2^16) */
    const uint32_t *qx = p->q + ((int)j - (int)d) - 1; /* qx[i] = Q[x - 1] for cell i */
    uint32_t eq = ah_osa__eq(qx, c) & wmask;
    if (s->sat && !(eq & s->sat)) {
        s->j = (uint16_t)j; /* no lane at d goes on with c: every cell passes d */
        return AH_OSA_DEAD;
    }
    uint32_t swap = (s->eq >> 1) & (eq << 1) & wmask;
#ifdef __SSE2__
    const __m128i vinf = _mm_set1_epi8((char)(d + 1)), one = _mm_set1_epi8(1);
    __m128i row = _mm_cvtsi64_si128((long long)s->row);
    __m128i prev = _mm_cvtsi64_si128((long long)s->prev);
    __m128i t = _mm_add_epi8(row, _mm_cvtsi64_si128((long long)ah_osa__spread(~eq & wmask)));
    __m128i up = _mm_or_si128(_mm_srli_si128(row, 1), _mm_slli_si128(_mm_srli_si128(vinf, 15), 7));
    t = _mm_min_epu8(t, _mm_add_epi8(up, one));
    __m128i sw =
        _mm_sub_epi8(_mm_setzero_si128(), _mm_cvtsi64_si128((long long)ah_osa__spread(swap)));
    t = _mm_min_epu8(
        t, _mm_or_si128(_mm_and_si128(_mm_add_epi8(prev, one), sw), _mm_andnot_si128(sw, vinf)));
    t = _mm_min_epu8(
        t, _mm_add_epi8(_mm_or_si128(_mm_slli_si128(t, 1), _mm_srli_si128(vinf, 15)), one));
    t = _mm_min_epu8(t, _mm_add_epi8(_mm_or_si128(_mm_slli_si128(t, 2), _mm_srli_si128(vinf, 14)),
                                     _mm_add_epi8(one, one)));
    t = _mm_min_epu8(t, vinf);
    uint64_t row64 = s->row;
    uint64_t t64 = (uint64_t)_mm_cvtsi128_si64(t);
#else
    uint64_t row64 = s->row;
    uint64_t t64 = row64 + ah_osa__spread(~eq & wmask); /* diagonal */
    t64 = ah_osa__min(t64, ((row64 >> 8) | (inf & 0xff00000000000000ull)) + AH_LANES_1); /* up */
    uint64_t sw = ah_osa__spread(swap) * 0xff;
    t64 = ah_osa__min(t64, ((s->prev + AH_LANES_1) & sw) | (inf & ~sw));     /* swap */
    t64 = ah_osa__min(t64, ((t64 << 8) | (inf & 0xff)) + AH_LANES_1);        /* left, 1 */
    t64 = ah_osa__min(t64, ((t64 << 16) | (inf & 0xffff)) + 2 * AH_LANES_1); /* left, 2 */
    t64 = ah_osa__min(t64, inf);
#endif
    int lim = (int)p->n - (int)j + (int)d; /* the lane of x = n; lanes past it are outside Q */
    if (lim < 7) {
        uint64_t keep = lim < 0 ? 0 : (~0ull >> (8 * (7 - lim)));
        t64 = (t64 & keep) | (inf & ~keep);
    }
    s->prev = row64;
    s->row = t64;
    s->eq = (uint8_t)eq;
    s->j = (uint16_t)j;
    if (t64 == inf)
        return AH_OSA_DEAD;
    /*
     * No edit left once every cell of this row is at d or past it, and so
     * is every cell of the last row that a swap could use next (a swap adds
     * one to it, and needs Q's code point at that lane to be this one): then
     * only a match extends a lane at d, and the next step can reject a code
     * point with one mask test.
     */
    const uint64_t below = (uint64_t)d * AH_LANES_1;
    const uint64_t swappable = ah_osa__spread((eq >> 1) & wmask) * 0x80;
    s->sat = 0;
    if (((((t64 | AH_LANES_H) - below) & (((row64 | AH_LANES_H) - below) | ~swappable)) &
         AH_LANES_H) == AH_LANES_H) {
        uint64_t at_d = t64 ^ below; /* zero bytes where a lane holds d */
        const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
        uint64_t zero = ~(((at_d & low7) + low7) | at_d) & AH_LANES_H; /* 0x80 in those lanes */
        s->sat = (uint8_t)((((zero >> 7) * 0x0102040810204080ull) >> 56) & wmask);
    }
    if (lim >= 0 && lim <= (int)(2 * d)) {
        unsigned v = (unsigned)(t64 >> (8 * lim)) & 0xff;
        if (v <= d)
            return (int)v;
    }
    return AH_OSA_ALIVE;
}

/*
 * Advances s by one code point c of text. Returns AH_OSA_DEAD,
 * AH_OSA_ALIVE, or the distance (<= d) of Q to the text so far. The first
 * code point must equal Q's first (the first letter is never a typo). Q
 * must not be empty: the empty prefix matches everything before any text.
 */
static inline __attribute__((always_inline)) int ah_osa_step(const ah_pattern_t *p, ah_osa_t *s,
                                                             uint32_t c)
{
    switch (p->d) {
    case 0:
        return ah_osa__step(p, s, c, 0);
    case 1:
        return ah_osa__step(p, s, c, 1);
    default:
        return ah_osa__step(p, s, c, 2);
    }
}

/*
 * Decodes the normalized prefix key[0..len) into buf (AH_PATTERN_CPS(len)
 * code points of room) with its padding, and sets *p (d = 0).
 */
void ah_match_pattern(const char *key, size_t len, uint32_t *buf, ah_pattern_t *p);

/*
 * Is the prefix edit distance of Q to text[0..len) at most p->d? Returns
 * 1 or 0; stops at the first prefix of the text within d, or where none can
 * be.
 */
int ah_match_within(const ah_pattern_t *p, const char *text, size_t len);

/*
 * The highlight length L*: the largest number of code points L of text such
 * that OSA(Q, text[0:L]) == d (d = p->d, the match's distance). Returns
 * AH_OSA_DEAD when there is none.
 */
int ah_match_span_len(const ah_pattern_t *p, const char *text, size_t len);

/*
 * Maps key code points [a, b) to the smallest range [*start, *end) of code
 * points of the display text whose normalization covers them, extended over
 * the combining marks that follow it. The display text normalizes to the
 * key. Allocates nothing.
 */
void ah_match_display_span(const char *text, size_t len, uint32_t a, uint32_t b, uint32_t *start,
                           uint32_t *end);

#endif /* AH_MATCH_H */
