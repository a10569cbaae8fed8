/* SPDX-License-Identifier: MIT */
/*
 * blocklist.c: blocked terms and phrases, kept as three sorted string
 * arrays (word terms, other terms, phrases). A key is tokenized into words
 * once and each word looked up by binary search; the few terms that are not
 * plain words are searched with memmem and a boundary check.
 *
 * The file's syntax is decided on raw bytes before a term is normalized: a
 * line whose first non-blank character is '#' is a comment (whatever else
 * it holds, invalid UTF-8 included), and a backslash there is dropped, so
 * that "\#tag" blocks the term "#tag" (and "\\x" the term "\x").
 */
#include "blocklist.h"

#include "ahead.h"
#include "input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct strvec {
    char **s;
    size_t n, cap;
} strvec_t;

struct ah_blocklist {
    strvec_t words;   /* terms made of word characters only */
    strvec_t others;  /* terms with other characters: substring search */
    strvec_t phrases; /* entries with a space: whole-key equality */
};

static int push(strvec_t *v, const char *s, size_t len)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char **p = realloc(v->s, cap * sizeof *p);
        if (!p)
            return AH_ENOMEM;
        v->s = p;
        v->cap = cap;
    }
    char *copy = strndup(s, len);
    if (!copy)
        return AH_ENOMEM;
    v->s[v->n++] = copy;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int contains(const strvec_t *v, const char *s, size_t len)
{
    char tmp[AH_MAX_KEY_BYTES + 1];
    if (len > AH_MAX_KEY_BYTES)
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    const char *key = tmp;
    return bsearch(&key, v->s, v->n, sizeof *v->s, cmp_str) != NULL;
}

/* Decodes the code point at s[i] (valid UTF-8, as keys are); stores its length. */
static int32_t cp_at(const char *s, size_t len, size_t i, size_t *w)
{
    utf8proc_int32_t c;
    utf8proc_ssize_t n =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
    *w = n > 0 ? (size_t)n : 1;
    return n > 0 ? c : -1;
}

static int is_word_cp(int32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (c < 0)
        return 0;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int all_word_chars(const char *s, size_t len)
{
    for (size_t i = 0, w; i < len; i += w)
        if (!is_word_cp(cp_at(s, len, i, &w)))
            return 0;
    return 1;
}

/* Is the code point ending just before byte i (or starting at i) a word character? */
static int word_before(const char *s, size_t i)
{
    if (i == 0)
        return 0;
    size_t start = i - 1, w;
    while (start > 0 && ((unsigned char)s[start] & 0xc0) == 0x80)
        start--;
    return is_word_cp(cp_at(s, i, start, &w));
}

static int word_after(const char *s, size_t len, size_t i)
{
    size_t w;
    return i < len && is_word_cp(cp_at(s, len, i, &w));
}

int ah_blocklist_load(const char *path, ah_blocklist_t **out, char *err, size_t errlen)
{
    *out = NULL;
    ah_input_t *in;
    int rc = ah_input_open(path, &in, err, errlen);
    if (rc)
        return rc;
    ah_blocklist_t *bl = calloc(1, sizeof *bl);
    if (!bl) {
        ah_input_close(in);
        return AH_ENOMEM;
    }
    const char *line;
    size_t len, lineno = 0;
    int truncated;
    char key[AH_MAX_KEY_BYTES];
    while ((rc = ah_input_next(in, &line, &len, &truncated, err, errlen)) == 1) {
        lineno++;
        size_t klen, blanks = 0;
        /* Comments are decided on the raw line, before any UTF-8 check:
         * a comment may hold anything, and a term may start with '#'. */
        while (blanks < len && (line[blanks] == ' ' || line[blanks] == '\t'))
            blanks++;
        if (!truncated && blanks < len && line[blanks] == '#')
            continue;
        if (!truncated && blanks < len && line[blanks] == '\\') {
            line += blanks + 1; /* the escape: "\#tag" is the term "#tag" */
            len -= blanks + 1;
        }
        if (truncated || ah_normalize_key(line, len, key, sizeof key, &klen, 0) != 0) {
            snprintf(err, errlen, "%s:%zu: not a valid UTF-8 term of at most %d bytes", path,
                     lineno, AH_MAX_KEY_BYTES);
            rc = AH_EUTF8;
            break;
        }
        if (klen == 0)
            continue;
        strvec_t *v = memchr(key, ' ', klen)      ? &bl->phrases
                      : all_word_chars(key, klen) ? &bl->words
                                                  : &bl->others;
        if ((rc = push(v, key, klen)) != 0) {
            snprintf(err, errlen, "out of memory");
            break;
        }
    }
    ah_input_close(in);
    if (rc < 0) {
        ah_blocklist_free(bl);
        return rc;
    }
    /* An empty list has no array at all, and qsort's pointer must not be NULL. */
    if (bl->words.n > 1)
        qsort(bl->words.s, bl->words.n, sizeof(char *), cmp_str);
    if (bl->phrases.n > 1)
        qsort(bl->phrases.s, bl->phrases.n, sizeof(char *), cmp_str);
    *out = bl;
    return 0;
}

int ah_blocklist_match(const ah_blocklist_t *bl, const char *key, size_t len)
{
    if (bl->phrases.n && contains(&bl->phrases, key, len))
        return 1;
    if (bl->words.n) {
        size_t i = 0, w;
        while (i < len) {
            while (i < len && !is_word_cp(cp_at(key, len, i, &w)))
                i += w;
            size_t start = i;
            while (i < len && is_word_cp(cp_at(key, len, i, &w)))
                i += w;
            if (i > start && contains(&bl->words, key + start, i - start))
                return 1;
        }
    }
    for (size_t t = 0; t < bl->others.n; t++) {
        const char *term = bl->others.s[t];
        size_t tlen = strlen(term);
        for (const char *p = key; (p = memmem(p, len - (size_t)(p - key), term, tlen)) != NULL;
             p++) {
            size_t at = (size_t)(p - key);
            /* A boundary matters only where the term itself has a word character. */
            int left_ok = !word_after(term, tlen, 0) || !word_before(key, at);
            int right_ok = !word_before(term, tlen) || !word_after(key, len, at + tlen);
            if (left_ok && right_ok)
                return 1;
        }
    }
    return 0;
}

size_t ah_blocklist_size(const ah_blocklist_t *bl)
{
    return bl->words.n + bl->others.n + bl->phrases.n;
}

static void strvec_free(strvec_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->s[i]);
    free(v->s);
}

void ah_blocklist_free(ah_blocklist_t *bl)
{
    if (!bl)
        return;
    strvec_free(&bl->words);
    strvec_free(&bl->others);
    strvec_free(&bl->phrases);
    free(bl);
}
