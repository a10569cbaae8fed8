/* SPDX-License-Identifier: MIT */
/*
 * normalize.c: the match key of a text, and its displayed form.
 *
 * key = NFKC + case fold + combining marks stripped (utf8proc's
 * COMPOSE|COMPAT|CASEFOLD|STRIPMARK), then every run of White_Space code
 * points collapsed to one ASCII space, trimmed at both ends. A typed prefix
 * may keep one trailing space.
 *
 * Hangul is matched on jamo in the order the standard (2-set) keyboard types
 * them, so that a syllable still being composed is a prefix of the finished
 * one (한ㄱ and 한구 of 한국): a precomposed syllable becomes its leading
 * consonant, vowel and trailing consonant, and a compound vowel or trailing
 * consonant the two keys typed for it (ㅘ = ㅗ ㅏ, ㄺ = ㄹ ㄱ; the doubled
 * consonants ㄲ ㄸ ㅃ ㅆ ㅉ are one key). A compatibility jamo typed alone
 * (U+3131-U+3163) becomes the leading consonant or vowel it stands for,
 * split the same way, before NFKC could take it for a trailing consonant
 * (ㄳ alone is ㄱ ㅅ as leading consonants). Other texts are unchanged.
 *
 * Pure ASCII, which is most of what a search box sends, takes a fast path
 * (and Latin text one of its own, below):
 * NFKC and mark stripping leave ASCII unchanged and its case fold is
 * tolower, so the result is the same byte for byte as the utf8proc path
 * (tests/check_normalize.c holds the two paths to that). Neither path
 * allocates: utf8proc writes into a code point buffer on the stack.
 */
#include "ahead.h"

#include "match.h"

#include <pthread.h>
#include <utf8proc.h>

#include <string.h>

#define KEY_OPTIONS (UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK)

/* Unicode's White_Space property (PropList.txt), which utf8proc does not expose. */
static int is_space_cp(int32_t c)
{
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0d);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/*
 * Appends code point c to out through the whitespace collapser: a space is
 * only written when a non-space follows, so runs become one and the end is
 * trimmed. *pending says a space is owed.
 */
static int emit_cp(int32_t c, char *out, size_t cap, size_t *n, int *pending)
{
    if (is_space_cp(c)) {
        if (*n > 0)
            *pending = 1;
        return 0;
    }
    if (*pending) {
        if (*n + 1 > cap)
            return AH_ETOOLONG;
        out[(*n)++] = ' ';
        *pending = 0;
    }
    if (c < 0x80) {
        if (*n + 1 > cap)
            return AH_ETOOLONG;
        out[(*n)++] = (char)c;
        return 0;
    }
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t w = utf8proc_encode_char(c, tmp);
    if (*n + (size_t)w > cap)
        return AH_ETOOLONG;
    for (utf8proc_ssize_t i = 0; i < w; i++)
        out[(*n)++] = (char)tmp[i];
    return 0;
}

/* ------------------------------------------------------------- Hangul */

#define H_SBASE  0xac00
#define H_SCOUNT 11172
#define H_LBASE  0x1100
#define H_VBASE  0x1161
#define H_TBASE  0x11a7
#define H_NCOUNT 588 /* vowels x trailing consonants (with none) */
#define H_TCOUNT 28

/* The two keys of a compound vowel or trailing consonant, as conjoining jamo. */
static const struct {
    uint16_t jamo, first, second;
} compound[] = {
    {0x116a, 0x1169, 0x1161}, {0x116b, 0x1169, 0x1162}, {0x116c, 0x1169, 0x1175},
    {0x116f, 0x116e, 0x1165}, {0x1170, 0x116e, 0x1166}, {0x1171, 0x116e, 0x1175},
    {0x1174, 0x1173, 0x1175}, {0x11aa, 0x11a8, 0x11ba}, {0x11ac, 0x11ab, 0x11bd},
    {0x11ad, 0x11ab, 0x11c2}, {0x11b0, 0x11af, 0x11a8}, {0x11b1, 0x11af, 0x11b7},
    {0x11b2, 0x11af, 0x11b8}, {0x11b3, 0x11af, 0x11ba}, {0x11b4, 0x11af, 0x11c0},
    {0x11b5, 0x11af, 0x11c1}, {0x11b6, 0x11af, 0x11c2}, {0x11b9, 0x11b8, 0x11ba},
};

/* The compatibility consonants U+3131..U+314E as leading consonants (second: 0 or its second key).
 */
static const uint16_t compat_consonant[30][2] = {
    {0x1100, 0},      {0x1101, 0},      {0x1100, 0x1109}, {0x1102, 0},      {0x1102, 0x110c},
    {0x1102, 0x1112}, {0x1103, 0},      {0x1104, 0},      {0x1105, 0},      {0x1105, 0x1100},
    {0x1105, 0x1106}, {0x1105, 0x1107}, {0x1105, 0x1109}, {0x1105, 0x1110}, {0x1105, 0x1111},
    {0x1105, 0x1112}, {0x1106, 0},      {0x1107, 0},      {0x1108, 0},      {0x1107, 0x1109},
    {0x1109, 0},      {0x110a, 0},      {0x110b, 0},      {0x110c, 0},      {0x110d, 0},
    {0x110e, 0},      {0x110f, 0},      {0x1110, 0},      {0x1111, 0},      {0x1112, 0},
};

int ah_jamo_split(int32_t c, int32_t *keys)
{
    for (size_t i = 0; i < sizeof compound / sizeof *compound; i++)
        if (compound[i].jamo == c) {
            keys[0] = compound[i].first;
            keys[1] = compound[i].second;
            return 2;
        }
    keys[0] = c;
    return 1;
}

int ah_hangul_keys(int32_t c, int32_t *keys)
{
    if (c >= H_SBASE && c < H_SBASE + H_SCOUNT) {
        int32_t i = c - H_SBASE, t = i % H_TCOUNT;
        int n = 0;
        keys[n++] = H_LBASE + i / H_NCOUNT;
        n += ah_jamo_split(H_VBASE + i % H_NCOUNT / H_TCOUNT, keys + n);
        if (t)
            n += ah_jamo_split(H_TBASE + t, keys + n);
        return n;
    }
    if (c >= 0x3131 && c <= 0x314e) { /* a consonant typed alone: leading */
        keys[0] = compat_consonant[c - 0x3131][0];
        keys[1] = compat_consonant[c - 0x3131][1];
        return keys[1] ? 2 : 1;
    }
    if (c >= 0x314f && c <= 0x3163) /* a vowel typed alone */
        return ah_jamo_split(H_VBASE + (c - 0x314f), keys);
    if (c >= 0x1100 && c <= 0x11ff) /* a conjoining jamo left on its own by NFKC */
        return ah_jamo_split(c, keys);
    keys[0] = c;
    return 1;
}

/* Ends a collapsed text: the owed space is kept only when asked for. */
static int finish(char *out, size_t cap, size_t *n, int pending, int keep_trailing_space)
{
    if (pending && keep_trailing_space) {
        if (*n + 1 > cap)
            return AH_ETOOLONG;
        out[(*n)++] = ' ';
    }
    return 0;
}

static int normalize_ascii_key(const unsigned char *in, size_t len, char *out, size_t cap,
                               size_t *out_len, int keep_trailing_space)
{
    size_t n = 0;
    int pending = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = in[i];
        if (c == ' ' || (c >= 0x09 && c <= 0x0d)) {
            if (n > 0)
                pending = 1;
            continue;
        }
        if (n + pending + 1 > cap)
            return AH_ETOOLONG;
        if (pending) {
            out[n++] = ' ';
            pending = 0;
        }
        out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    int rc = finish(out, cap, &n, pending, keep_trailing_space);
    *out_len = n;
    return rc;
}

/*
 * Latin text, every code point below U+0250 (ASCII, Latin-1, Latin
 * Extended-A and -B), takes a fast path too: once marks are stripped, no
 * two of those code points' keys compose with each other (their
 * decompositions begin with a starter, and no two Latin starters
 * compose), so a text's key is its code points' keys one after another.
 * Each code point's key is worked out once, by utf8proc, into a table;
 * tests/check_normalize.c holds the path to the utf8proc one for every
 * code point and every pair of them.
 */
#define LATIN_END     0x250
#define LATIN_MAX_CPS 4
#define LATIN_SLOW    0xff /* a code point whose key is longer: the text takes utf8proc's path */

static struct latin_key {
    uint8_t n;
    int32_t cp[LATIN_MAX_CPS];
} latin[LATIN_END - 0x80];
static pthread_once_t latin_once = PTHREAD_ONCE_INIT;

static void latin_init(void)
{
    for (int32_t c = 0x80; c < LATIN_END; c++) {
        struct latin_key *k = &latin[c - 0x80];
        utf8proc_int32_t cps[16];
        int last = 0;
        utf8proc_ssize_t n =
            utf8proc_decompose_char(c, cps, 16, (utf8proc_option_t)KEY_OPTIONS, &last);
        if (n >= 0 && n <= 16)
            n = utf8proc_normalize_utf32(cps, n, (utf8proc_option_t)KEY_OPTIONS);
        k->n = n < 0 || n > LATIN_MAX_CPS ? LATIN_SLOW : (uint8_t)n;
        for (int i = 0; k->n != LATIN_SLOW && i < k->n; i++)
            k->cp[i] = cps[i];
    }
}

/* Is s[i..] a two-byte code point below LATIN_END that the table holds? */
static inline int latin_at(const unsigned char *s, size_t i, size_t len)
{
    if (s[i] < 0xc2 || s[i] > 0xc9 || i + 1 >= len || (s[i + 1] & 0xc0) != 0x80)
        return 0;
    uint32_t c = (uint32_t)(s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f);
    return c < LATIN_END && latin[c - 0x80].n != LATIN_SLOW;
}

/* Is the text ASCII and two-byte code points below LATIN_END, each in the table? */
static int latin_only(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i += s[i] < 0x80 ? 1 : 2)
        if (s[i] >= 0x80 && !latin_at(s, i, len))
            return 0;
    return 1;
}

/* Is s[i..] a precomposed syllable or a compatibility jamo typed alone (U+3131..U+3163)? */
static inline int hangul_at(const unsigned char *s, size_t i, size_t len)
{
    if (i + 2 >= len || (s[i] & 0xf0) != 0xe0 || (s[i + 1] & 0xc0) != 0x80 ||
        (s[i + 2] & 0xc0) != 0x80)
        return 0;
    uint32_t c =
        (uint32_t)(s[i] & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
    return (c >= H_SBASE && c < H_SBASE + H_SCOUNT) || (c >= 0x3131 && c <= 0x3163);
}

/*
 * Is the text only ASCII, precomposed syllables and compatibility jamo
 * typed alone? Then NFKC, case folding and mark stripping leave the Hangul
 * as it is and lower the ASCII, and the key is made without utf8proc (the
 * same bytes: tests/check_korean.c).
 */
static int hangul_and_ascii(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i += s[i] < 0x80 ? 1 : 3)
        if (s[i] >= 0x80 && !hangul_at(s, i, len))
            return 0;
    return 1;
}

/*
 * The keys of the code point at s[*i], which is ASCII, or Hangul
 * (hangul_at()) when hangul is set, else Latin (latin_at()): ASCII
 * lowered, a syllable's jamo as typed, or the Latin table's entry. Moves
 * *i past it; returns how many keys.
 */
static inline int mapped_keys(const unsigned char *s, size_t *i, int hangul, int32_t *keys)
{
    size_t at = *i;
    if (s[at] < 0x80) {
        keys[0] = s[at] >= 'A' && s[at] <= 'Z' ? s[at] + ('a' - 'A') : s[at];
        *i = at + 1;
        return 1;
    }
    if (hangul) {
        *i = at + 3;
        return ah_hangul_keys((int32_t)((uint32_t)(s[at] & 0x0f) << 12 |
                                        (uint32_t)(s[at + 1] & 0x3f) << 6 | (s[at + 2] & 0x3f)),
                              keys);
    }
    const struct latin_key *k = &latin[((uint32_t)(s[at] & 0x1f) << 6 | (s[at + 1] & 0x3f)) - 0x80];
    memcpy(keys, k->cp, (size_t)k->n * sizeof *keys);
    *i = at + 2;
    return k->n;
}

/*
 * The key of a text that passed hangul_and_ascii() (hangul 1) or
 * latin_only() (hangul 0): ASCII lowered, every other code point replaced
 * by its keys (the jamo as typed, or its Latin table entry).
 */
static int normalize_mapped_key(const unsigned char *s, size_t len, char *out, size_t cap,
                                size_t *out_len, int keep_trailing_space, int hangul)
{
    size_t used = 0;
    int pending = 0, rc = 0;
    for (size_t i = 0; i < len && !rc;) {
        int32_t keys[6];
        int m = mapped_keys(s, &i, hangul, keys);
        for (int j = 0; j < m && !rc; j++)
            rc = emit_cp(keys[j], out, cap, &used, &pending);
    }
    if (!rc)
        rc = finish(out, cap, &used, pending, keep_trailing_space);
    *out_len = used;
    return rc;
}

/* Does the text hold a compatibility jamo (U+3131..U+3163, UTF-8 E3 84 B1 .. E3 85 A3)? */
static int has_compat_jamo(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (s[i] == 0xe3 &&
            ((s[i + 1] == 0x84 && s[i + 2] >= 0xb1) || (s[i + 1] == 0x85 && s[i + 2] <= 0xa3)))
            return 1;
    return 0;
}

/*
 * utf8proc_decompose(), but a compatibility jamo becomes the leading
 * consonant or vowel it stands for (ah_hangul_keys), not what NFKC makes of
 * it (ㄳ would be a trailing consonant, composed into the syllable before).
 * Like utf8proc_decompose(), it reads the whole text even past the room it
 * has, so that bad UTF-8 anywhere is reported as such, not as too long.
 */
static utf8proc_ssize_t decompose_keeping_jamo(const unsigned char *s, size_t len,
                                               utf8proc_int32_t *cps)
{
    utf8proc_ssize_t n = 0;
    int over = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t w = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
        if (w <= 0)
            return UTF8PROC_ERROR_INVALIDUTF8;
        i += (size_t)w;
        if (over)
            continue;
        if (c >= 0x3131 && c <= 0x3163) {
            int32_t keys[2];
            int m = ah_hangul_keys(c, keys);
            if (n + m > AH_MAX_KEY_BYTES) {
                over = 1;
                continue;
            }
            for (int j = 0; j < m; j++)
                cps[n++] = keys[j];
            continue;
        }
        int last;
        utf8proc_ssize_t m = utf8proc_decompose_char(c, cps + n, AH_MAX_KEY_BYTES - n,
                                                     (utf8proc_option_t)KEY_OPTIONS, &last);
        if (m < 0)
            return m;
        if (m > AH_MAX_KEY_BYTES - n)
            over = 1;
        else
            n += m;
    }
    return over ? UTF8PROC_ERROR_OVERFLOW : n;
}

int ah_normalize_key(const char *in, size_t len, char *out, size_t cap, size_t *out_len,
                     int keep_trailing_space)
{
    const unsigned char *s = (const unsigned char *)in;
    /* A zero byte anywhere is refused; any byte with its top bit set leaves the ASCII path. */
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t high = 0;
    size_t at = 0;
    for (uint64_t v; at + 8 <= len; at += 8) {
        memcpy(&v, s + at, 8);
        if ((v - ones) & ~v & highs)
            return AH_EUTF8;
        high |= v;
    }
    for (; at < len; at++) {
        if (s[at] == 0)
            return AH_EUTF8;
        high |= s[at];
    }
    int ascii = !(high & highs);
    *out_len = 0;
    if (ascii)
        return normalize_ascii_key(s, len, out, cap, out_len, keep_trailing_space);
    if (hangul_and_ascii(s, len))
        return normalize_mapped_key(s, len, out, cap, out_len, keep_trailing_space, 1);
    pthread_once(&latin_once, latin_init);
    if (latin_only(s, len))
        return normalize_mapped_key(s, len, out, cap, out_len, keep_trailing_space, 0);

    /* NFKC can grow a text, but never past the room the key itself has. */
    utf8proc_int32_t cps[AH_MAX_KEY_BYTES];
    utf8proc_ssize_t n = has_compat_jamo(s, len)
                             ? decompose_keeping_jamo(s, len, cps)
                             : utf8proc_decompose(s, (utf8proc_ssize_t)len, cps, AH_MAX_KEY_BYTES,
                                                  (utf8proc_option_t)KEY_OPTIONS);
    if (n < 0)
        return n == UTF8PROC_ERROR_NOMEM || n == UTF8PROC_ERROR_OVERFLOW ? AH_ETOOLONG : AH_EUTF8;
    if (n > AH_MAX_KEY_BYTES)
        return AH_ETOOLONG;
    n = utf8proc_normalize_utf32(cps, n, (utf8proc_option_t)KEY_OPTIONS);
    if (n < 0)
        return AH_EUTF8;

    size_t used = 0;
    int pending = 0;
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        int32_t keys[6];
        int m = cps[i] >= 0x1100 && cps[i] <= 0xd7a3 ? ah_hangul_keys(cps[i], keys) : 0;
        int rc = 0;
        for (int j = 0; j < m && !rc; j++)
            rc = emit_cp(keys[j], out, cap, &used, &pending);
        if (!m)
            rc = emit_cp(cps[i], out, cap, &used, &pending);
        if (rc)
            return rc;
    }
    int rc = finish(out, cap, &used, pending, keep_trailing_space);
    *out_len = used;
    return rc;
}

int ah_key_cps_of_prefixes(const char *text, size_t len, uint32_t until, uint32_t *f, size_t cap,
                           size_t *bytes)
{
    const unsigned char *s = (const unsigned char *)text;
    pthread_once(&latin_once, latin_init);
    /* The collapser of emit_cp(), counting code points: a space is owed until a non-space. */
    uint32_t used = 0, n = 0;
    int pending = 0, latin_seen = 0, hangul_seen = 0;
    size_t i = 0;
    if (cap == 0)
        return -1;
    f[0] = 0;
    while (i < len && f[n] < until) {
        if (n + 1 >= cap || s[i] == 0)
            return -1; /* a key has no zero byte: ah_normalize_key() refuses it */
        /* A prefix is keyed as latin_only() or hangul_and_ascii() would take it, or not here. */
        int hangul = 0;
        if (s[i] >= 0x80 && latin_at(s, i, len) && !hangul_seen)
            latin_seen = 1;
        else if (s[i] >= 0x80 && hangul_at(s, i, len) && !latin_seen)
            hangul_seen = hangul = 1;
        else if (s[i] >= 0x80)
            return -1;
        int32_t keys[6];
        int m = mapped_keys(s, &i, hangul, keys);
        for (int j = 0; j < m; j++) {
            if (is_space_cp(keys[j])) {
                if (used > 0)
                    pending = 1;
            } else {
                used += 1 + (uint32_t)pending;
                pending = 0;
            }
        }
        f[++n] = used + (uint32_t)pending;
    }
    *bytes = i;
    return (int)n;
}

int ah_normalize_surface(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)in;
    size_t used = 0;
    int pending = 0;
    *out_len = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t w = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
        if (w <= 0 || c == 0)
            return AH_EUTF8;
        i += (size_t)w;
        if (is_space_cp(c)) {
            if (used > 0)
                pending = 1;
            continue;
        }
        /* Copy the original bytes: they are valid and this keeps the form. */
        if (used + (size_t)pending + (size_t)w > cap)
            return AH_ETOOLONG;
        if (pending) {
            out[used++] = ' ';
            pending = 0;
        }
        for (utf8proc_ssize_t j = 0; j < w; j++)
            out[used++] = (char)s[i - (size_t)w + (size_t)j];
    }
    *out_len = used;
    return 0;
}
