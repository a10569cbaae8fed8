/* SPDX-License-Identifier: MIT */
/*
 * fuzz_normalize.c: a libFuzzer target for index/normalize.c, the two
 * public entry points ah_normalize_key() and ah_normalize_surface(). The
 * first input byte picks the options (bit 0: keep_trailing_space; bits 1-7:
 * a small output capacity, 0 for AH_MAX_KEY_BYTES), the rest is the text.
 * Outputs are written to exact-size heap buffers, so ASan reports a write
 * past cap.
 *
 * What is checked is only what ahead.h, normalize.c and check_normalize.c
 * say must hold:
 *   - both agree on what is invalid UTF-8 (a NUL or surrogate included);
 *   - a result is valid UTF-8 without NUL, at most cap bytes; its only
 *     whitespace is single ASCII spaces, none leading, none trailing except
 *     the one space a key keeps when asked to and the text ended in space;
 *   - a smaller cap gives the same result or AH_ETOOLONG, never other bytes;
 *   - a key normalized again is the same key (check_normalize.c,
 *     test_idempotent: the builder stores keys, lookups re-derive them), and
 *     so is a surface form;
 *   - the key of a text's surface form is the key of the text (the builder
 *     keys a line by its surface form, a lookup keys the typed text);
 *   - the ASCII and Latin fast paths equal the utf8proc path (normalize.c):
 *     a leading U+0301, stripped, sends a text down the latter;
 *   - ah_key_cps_of_prefixes() (match.h), where it answers, gives the code
 *     points of the key of each prefix of the text, as far as it says.
 * A violation aborts with a message. Built with clang by tests/fuzz.sh
 * (CMake -DAHEAD_FUZZ=ON in build-fuzz/):
 *
 *   tests/fuzz.sh 60 fuzz_normalize
 *   build-fuzz/tests/fuzz_normalize CRASH_FILE          (replay a finding)
 */
#include "ahead.h"
#include "match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "fuzz_normalize: " __VA_ARGS__);                                           \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

/* Inputs longer than this are cut: the key's code point buffer holds AH_MAX_KEY_BYTES. */
#define MAX_TEXT_IN 1500

/* Unicode's White_Space, as normalize.c has it. */
static int is_space_cp(int32_t c)
{
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0d);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* 1 if s is valid UTF-8 with no NUL (and no surrogate: utf8proc refuses those). */
static int valid_utf8(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t w =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (w <= 0 || c == 0)
            return 0;
        i += (size_t)w;
    }
    return 1;
}

/* The shape every result has; trailing: may it end in one space. */
static void check_shape(const char *what, const char *s, size_t len, int trailing)
{
    if (!valid_utf8(s, len))
        FAIL("%s: result is not valid UTF-8", what);
    int prev_space = 1; /* a leading space counts as a double one */
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i),
                                      &c);
        if (is_space_cp(c) && c != ' ')
            FAIL("%s: whitespace U+%04X left in the result", what, (unsigned)c);
        if (c == ' ' && prev_space)
            FAIL("%s: a leading or doubled space at byte %zu", what, i - 1);
        prev_space = c == ' ';
    }
    if (len > 0 && s[len - 1] == ' ' && !trailing)
        FAIL("%s: a trailing space", what);
}

typedef int (*normalize_fn)(const char *in, size_t len, char *out, size_t cap, size_t *out_len,
                            int keep);

static int key_fn(const char *in, size_t len, char *out, size_t cap, size_t *out_len, int keep)
{
    return ah_normalize_key(in, len, out, cap, out_len, keep);
}

static int surface_fn(const char *in, size_t len, char *out, size_t cap, size_t *out_len, int keep)
{
    (void)keep;
    return ah_normalize_surface(in, len, out, cap, out_len);
}

/*
 * Runs fn with a full buffer (into full, AH_MAX_KEY_BYTES) and with cap
 * (an exact-size heap buffer); the two must agree. Returns the full run's code.
 */
static int run_both(const char *what, normalize_fn fn, const char *in, size_t len, size_t cap,
                    int keep, char *full, size_t *full_len)
{
    int rc = fn(in, len, full, AH_MAX_KEY_BYTES, full_len, keep);
    if (rc != 0 && rc != AH_EUTF8 && rc != AH_ETOOLONG)
        FAIL("%s: unexpected code %d", what, rc);
    if (rc == 0 && *full_len > AH_MAX_KEY_BYTES)
        FAIL("%s: %zu bytes written into %d", what, *full_len, AH_MAX_KEY_BYTES);
    char *small = malloc(cap);
    size_t small_len = 0;
    int src = fn(in, len, small, cap, &small_len, keep);
    if (src == 0 && (rc != 0 || small_len != *full_len || memcmp(small, full, small_len) != 0))
        FAIL("%s: cap %zu gives other bytes than cap %d", what, cap, AH_MAX_KEY_BYTES);
    /* A short cap may run out before bad UTF-8 further on is seen: that order is not promised. */
    if (src != 0 && src != rc &&
        !(src == AH_ETOOLONG && (rc == AH_EUTF8 || (rc == 0 && *full_len > cap))))
        FAIL("%s: cap %zu gives %d, cap %d gives %d (%zu bytes)", what, cap, src, AH_MAX_KEY_BYTES,
             rc, *full_len);
    free(small);
    return rc;
}

/*
 * The one pass over a text's prefixes (display spans use it) against the
 * key of each prefix: up to the first prefix with `until` code points of
 * key (from the options byte; all of them for 0).
 */
static void check_prefix_cps(const char *in, size_t len, unsigned char opt)
{
    uint32_t f[AH_MAX_TEXT_BYTES + 1], until = opt >> 1 ? opt >> 1 : UINT32_MAX;
    size_t bytes = 0;
    int m = ah_key_cps_of_prefixes(in, len, until, f, sizeof f / sizeof *f, &bytes);
    if (m < 0)
        return;
    size_t at = 0;
    for (int c = 0;; c++) {
        char key[AH_MAX_KEY_BYTES + 8];
        size_t klen = 0;
        int rc = ah_normalize_key(in, at, key, sizeof key, &klen, 1);
        if (rc == AH_ETOOLONG)
            return; /* past any key a snapshot holds: the pass counts on regardless */
        if (rc != 0)
            FAIL("prefix cps: a prefix of %zu bytes has no key, yet the pass went on", at);
        uint32_t n = 0;
        for (size_t i = 0; i < klen; i++)
            n += ((unsigned char)key[i] & 0xc0) != 0x80;
        if (f[c] != n)
            FAIL("prefix cps: %u code points of key after %d of text, the key has %u", f[c], c, n);
        if (c == m)
            break;
        if (f[c] >= until)
            FAIL("prefix cps: went on past %u code points of key", until);
        utf8proc_int32_t cp;
        utf8proc_ssize_t w =
            utf8proc_iterate((const utf8proc_uint8_t *)in + at, (utf8proc_ssize_t)(len - at), &cp);
        if (w <= 0)
            FAIL("prefix cps: invalid UTF-8 at byte %zu taken", at);
        at += (size_t)w;
    }
    if (at != bytes || (at < len && f[m] < until))
        FAIL("prefix cps: stopped at byte %zu (said %zu) of %zu", at, bytes, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int keep = data[0] & 1;
    size_t cap = data[0] >> 1 ? data[0] >> 1 : AH_MAX_KEY_BYTES;
    const char *in = (const char *)data + 1;
    size_t len = size - 1 < MAX_TEXT_IN ? size - 1 : MAX_TEXT_IN;

    static char key[AH_MAX_KEY_BYTES], key2[AH_MAX_KEY_BYTES], surf[AH_MAX_KEY_BYTES],
        surf2[AH_MAX_KEY_BYTES], kos[AH_MAX_KEY_BYTES];
    size_t key_len, key2_len, surf_len, surf2_len, kos_len;
    int krc = run_both("key", key_fn, in, len, cap, keep, key, &key_len);
    int src = run_both("surface", surface_fn, in, len, cap, keep, surf, &surf_len);

    int valid = valid_utf8(in, len);
    if ((krc == AH_EUTF8) != !valid || (src == AH_EUTF8) != !valid)
        FAIL("input %s valid UTF-8, yet key gives %d and surface %d", valid ? "is" : "is not", krc,
             src);
    if (src == AH_ETOOLONG && len <= AH_MAX_KEY_BYTES)
        FAIL("surface of %zu bytes too long for %d", len, AH_MAX_KEY_BYTES);

    if (krc == 0) {
        int ends_in_space = 0;
        for (size_t i = len; i > 0 && !ends_in_space; i--) {
            if (in[i - 1] == ' ' || (in[i - 1] >= 0x09 && in[i - 1] <= 0x0d))
                ends_in_space = 1;
            else
                break;
        }
        /* Unicode spaces and stripped marks may end a text too: only bound the ASCII case. */
        check_shape("key", key, key_len, keep);
        if (key_len > 0 && key[key_len - 1] == ' ' && valid && ends_in_space == 0 &&
            (unsigned char)in[len - 1] < 0x80)
            FAIL("key: a trailing space from a text that ends in '%c'", in[len - 1]);
        if (ah_normalize_key(key, key_len, key2, sizeof key2, &key2_len, keep) != 0 ||
            key2_len != key_len || memcmp(key, key2, key_len) != 0)
            FAIL("key: not idempotent ('%.*s' -> '%.*s')", (int)key_len, key, (int)key2_len, key2);
    }
    if (src == 0) {
        check_shape("surface", surf, surf_len, 0);
        if (surf_len > len)
            FAIL("surface: %zu bytes from %zu", surf_len, len);
        if (ah_normalize_surface(surf, surf_len, surf2, sizeof surf2, &surf2_len) != 0 ||
            surf2_len != surf_len || memcmp(surf, surf2, surf_len) != 0)
            FAIL("surface: not idempotent");
        int rc = ah_normalize_key(surf, surf_len, kos, sizeof kos, &kos_len, 0);
        size_t plain_len = key_len - (keep && key_len > 0 && key[key_len - 1] == ' ');
        if (krc == 0 && (rc != 0 || kos_len != plain_len || memcmp(kos, key, kos_len) != 0))
            FAIL("key of the surface ('%.*s') is not the key of the text ('%.*s')", (int)kos_len,
                 kos, (int)plain_len, key);
    }

    /*
     * ASCII and Latin text (code points below U+0250) without NUL: the fast
     * paths against utf8proc's, through a stripped U+0301.
     */
    int latin = len > 0;
    for (size_t i = 0; i < len && latin; i++) {
        unsigned char b = (unsigned char)in[i];
        if (b >= 0x80)
            latin = b >= 0xc2 && b <= 0xc9 && i + 1 < len &&
                    ((unsigned char)in[i + 1] & 0xc0) == 0x80 &&
                    ((unsigned)(b & 0x1f) << 6 | ((unsigned char)in[++i] & 0x3f)) < 0x250;
        else
            latin = b > 0;
    }
    if (latin && krc == 0) {
        static char slow_in[MAX_TEXT_IN + 2], slow[AH_MAX_KEY_BYTES];
        size_t slow_len;
        memcpy(slow_in, "\xcc\x81", 2);
        memcpy(slow_in + 2, in, len);
        if (ah_normalize_key(slow_in, len + 2, slow, sizeof slow, &slow_len, keep) != 0 ||
            slow_len != key_len || memcmp(slow, key, key_len) != 0)
            FAIL("fast path '%.*s' differs from utf8proc's '%.*s'", (int)key_len, key,
                 (int)slow_len, slow);
    }
    check_prefix_cps(in, len, data[0]);
    return 0;
}
