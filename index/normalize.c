/* SPDX-License-Identifier: MIT */
/*
 * normalize.c: the match key of a text, and its displayed form.
 *
 * key = NFKC + case fold + combining marks stripped (utf8proc's
 * COMPOSE|COMPAT|CASEFOLD|STRIPMARK), then every run of White_Space code
 * points collapsed to one ASCII space, trimmed at both ends. A typed prefix
 * may keep one trailing space.
 *
 * Pure ASCII, which is most of what a search box sends, takes a fast path:
 * NFKC and mark stripping leave ASCII unchanged and its case fold is
 * tolower, so the result is the same byte for byte as the utf8proc path
 * (tests/check_normalize.c holds the two paths to that). Neither path
 * allocates: utf8proc writes into a code point buffer on the stack.
 */
#include "ahead.h"

#include <utf8proc.h>

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

int ah_normalize_key(const char *in, size_t len, char *out, size_t cap, size_t *out_len,
                     int keep_trailing_space)
{
    const unsigned char *s = (const unsigned char *)in;
    int ascii = 1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == 0)
            return AH_EUTF8;
        if (s[i] >= 0x80)
            ascii = 0;
    }
    *out_len = 0;
    if (ascii)
        return normalize_ascii_key(s, len, out, cap, out_len, keep_trailing_space);

    /* NFKC can grow a text, but never past the room the key itself has. */
    utf8proc_int32_t cps[AH_MAX_KEY_BYTES];
    utf8proc_ssize_t n = utf8proc_decompose(s, (utf8proc_ssize_t)len, cps, AH_MAX_KEY_BYTES,
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
        int rc = emit_cp(cps[i], out, cap, &used, &pending);
        if (rc)
            return rc;
    }
    int rc = finish(out, cap, &used, pending, keep_trailing_space);
    *out_len = used;
    return rc;
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
