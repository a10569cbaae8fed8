/* SPDX-License-Identifier: MIT */
/*
 * check_normalize.c: the match key and the displayed form, case by case
 * (accents, case, width, ß, Turkish dotted I, ligatures, combining
 * sequences, Unicode spaces, bad UTF-8), and the ASCII fast path held to
 * the same output as the utf8proc path.
 */
#include "oracle.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void expect_key(const char *in, const char *want, int keep_space)
{
    char out[AH_MAX_KEY_BYTES];
    size_t n;
    int rc = ah_normalize_key(in, strlen(in), out, sizeof out, &n, keep_space);
    ck_assert_msg(rc == 0, "'%s': %s", in, ah_strerror(rc));
    ck_assert_msg(n == strlen(want) && memcmp(out, want, n) == 0, "'%s' -> '%.*s', want '%s'", in,
                  (int)n, out, want);
}

static void expect_surface(const char *in, const char *want)
{
    char out[AH_MAX_TEXT_BYTES];
    size_t n;
    int rc = ah_normalize_surface(in, strlen(in), out, sizeof out, &n);
    ck_assert_msg(rc == 0, "'%s': %s", in, ah_strerror(rc));
    ck_assert_msg(n == strlen(want) && memcmp(out, want, n) == 0, "'%s' -> '%.*s', want '%s'", in,
                  (int)n, out, want);
}

START_TEST(test_case_accents_width)
{
    expect_key("São Paulo", "sao paulo", 0);
    expect_key("SAO PAULO", "sao paulo", 0);
    expect_key("Crème Brûlée", "creme brulee", 0);
    expect_key("ＡＢＣ１２３", "abc123", 0); /* full-width */
    expect_key("ｶﾀｶﾅ", "カタカナ", 0);       /* half-width katakana widens */
    expect_key("Straße", "strasse", 0);      /* ß folds to ss */
    expect_key("ẞ", "ss", 0);                /* capital sharp s */
    expect_key("İstanbul", "istanbul", 0);   /* dotted I: i + combining dot, dot stripped */
    expect_key("ISTANBUL", "istanbul", 0);
    expect_key("ﬁnance", "finance", 0);  /* ligature */
    expect_key("e\xcc\x81", "e", 0);     /* e + combining acute */
    expect_key("\xc3\xa9", "e", 0);      /* precomposed é */
    expect_key("Å", "a", 0);             /* angstrom sign */
    expect_key("ΣΊΣΥΦΟΣ", "σισυφοσ", 0); /* final sigma folds like any sigma */
    expect_key("①②", "12", 0);
    expect_key("x²", "x2", 0);
}
END_TEST

START_TEST(test_whitespace)
{
    expect_key("  new \t york  ", "new york", 0);
    expect_key("new\xc2\xa0york", "new york", 0);     /* no-break space */
    expect_key("new\xe3\x80\x80york", "new york", 0); /* ideographic space */
    expect_key("new\xe2\x80\x83york", "new york", 0); /* em space */
    expect_key("new\nyork", "new york", 0);
    expect_key("new ", "new ", 1); /* a typed prefix keeps one */
    expect_key("new   \t", "new ", 1);
    expect_key("new ", "new", 0);
    expect_key("   ", "", 1); /* nothing before it: nothing kept */
    expect_key("", "", 1);
    expect_key("Ｎｅｗ\xe3\x80\x80", "new ", 1);
}
END_TEST

START_TEST(test_surface)
{
    expect_surface("  São   Paulo ", "São Paulo");
    expect_surface("a\tb\xe3\x80\x80 c", "a b c");
    expect_surface("ＡＢＣ", "ＡＢＣ");
    expect_surface("", "");
}
END_TEST

START_TEST(test_bad_input)
{
    char out[64];
    size_t n;
    static const char *const bad[] = {
        "\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(ah_normalize_key(bad[i], strlen(bad[i]), out, sizeof out, &n, 0),
                         AH_EUTF8);
        ck_assert_int_eq(ah_normalize_surface(bad[i], strlen(bad[i]), out, sizeof out, &n),
                         AH_EUTF8);
    }
    ck_assert_int_eq(ah_normalize_key("a\0b", 3, out, sizeof out, &n, 0), AH_EUTF8);
    /* Bad UTF-8 after a text that decomposes past the key's room is bad UTF-8, not too long,
     * also where a compatibility jamo sends it down the Hangul-aware decomposition (U+FDFA
     * is 18 code points under NFKC; a fuzz finding). */
    static char big[3 + 120 * 3 + 1];
    for (int jamo = 0; jamo < 2; jamo++) {
        size_t bn = 0;
        if (jamo) {
            memcpy(big, "\xe3\x84\xb1", 3);
            bn = 3;
        }
        for (int i = 0; i < 120; i++, bn += 3)
            memcpy(big + bn, "\xef\xb7\xba", 3);
        ck_assert_int_eq(ah_normalize_key(big, bn, out, sizeof out, &n, 0), AH_ETOOLONG);
        big[bn] = (char)0xff;
        ck_assert_int_eq(ah_normalize_key(big, bn + 1, out, sizeof out, &n, 0), AH_EUTF8);
    }
    /* A zero byte at every place of a longer text (read eight bytes at a time). */
    for (size_t at = 0; at < 20; at++) {
        char z[20];
        memset(z, 'a', sizeof z);
        z[at] = '\0';
        ck_assert_int_eq(ah_normalize_key(z, sizeof z, out, sizeof out, &n, 0), AH_EUTF8);
        z[at] = (char)0xc3; /* a lone lead byte there instead: not ASCII, and bad UTF-8 */
        ck_assert_int_eq(ah_normalize_key(z, sizeof z, out, sizeof out, &n, 0), AH_EUTF8);
    }
    ck_assert_int_eq(ah_normalize_surface("a\0b", 3, out, sizeof out, &n), AH_EUTF8);
    ck_assert_int_eq(ah_normalize_key("abcdef", 6, out, 3, &n, 0), AH_ETOOLONG);
    ck_assert_int_eq(ah_normalize_key("abcdé", 6, out, 3, &n, 0), AH_ETOOLONG);
    ck_assert_int_eq(ah_normalize_surface("abcdef", 6, out, 3, &n), AH_ETOOLONG);
    /* One ligature expands to 18 code points: the key needs room for it. */
    ck_assert_int_eq(ah_normalize_key("\xef\xb7\xba", 3, out, 8, &n, 0), AH_ETOOLONG);
}
END_TEST

/*
 * The ASCII fast path must equal the utf8proc path. A leading combining mark
 * (stripped, and with nothing before it to attach to) sends any text down
 * the utf8proc path without changing its key.
 */
START_TEST(test_ascii_fast_path_matches_utf8proc)
{
    uint64_t seed = 2026;
    for (int t = 0; t < 20000; t++) {
        char in[40], slow_in[48], fast[AH_MAX_KEY_BYTES], slow[AH_MAX_KEY_BYTES];
        size_t len = test_rand(&seed) % 24, fn, sn;
        for (size_t i = 0; i < len; i++) {
            unsigned r = (unsigned)(test_rand(&seed) % 100);
            in[i] = r < 10 ? ' ' : r < 13 ? '\t' : (char)(1 + test_rand(&seed) % 127);
        }
        memcpy(slow_in, "\xcc\x81", 2);
        memcpy(slow_in + 2, in, len);
        int keep = t % 2;
        ck_assert_int_eq(ah_normalize_key(in, len, fast, sizeof fast, &fn, keep), 0);
        ck_assert_int_eq(ah_normalize_key(slow_in, len + 2, slow, sizeof slow, &sn, keep), 0);
        ck_assert_msg(fn == sn && memcmp(fast, slow, fn) == 0, "ascii '%.*s': '%.*s' vs '%.*s'",
                      (int)len, in, (int)fn, fast, (int)sn, slow);
    }
}
END_TEST

/* Appends the UTF-8 of a code point below U+0800 to s at *n. */
static void put_cp(char *s, size_t *n, unsigned c)
{
    if (c < 0x80) {
        s[(*n)++] = (char)c;
        return;
    }
    s[(*n)++] = (char)(0xc0 | c >> 6);
    s[(*n)++] = (char)(0x80 | (c & 0x3f));
}

/* ah_normalize_key(in) against the same text sent down the utf8proc path (see above). */
static void check_against_utf8proc(const char *in, size_t len, int keep)
{
    char slow_in[AH_MAX_KEY_BYTES + 2], fast[AH_MAX_KEY_BYTES], slow[AH_MAX_KEY_BYTES];
    size_t fn, sn;
    memcpy(slow_in, "\xcc\x81", 2);
    memcpy(slow_in + 2, in, len);
    int rf = ah_normalize_key(in, len, fast, sizeof fast, &fn, keep);
    int rs = ah_normalize_key(slow_in, len + 2, slow, sizeof slow, &sn, keep);
    ck_assert_int_eq(rf, rs);
    ck_assert_msg(rf != 0 || (fn == sn && memcmp(fast, slow, fn) == 0), "'%.*s': '%.*s' vs '%.*s'",
                  (int)len, in, (int)fn, fast, (int)sn, slow);
}

/*
 * The Latin fast path (code points below U+0250) must equal the utf8proc
 * path: every code point alone and beside ASCII, every pair of them (where
 * a composition across two would show), and random texts of them with
 * spaces and ASCII.
 */
START_TEST(test_latin_fast_path_matches_utf8proc)
{
    for (unsigned a = 0x80; a < 0x250; a++) {
        char in[16];
        size_t n = 0;
        put_cp(in, &n, a);
        check_against_utf8proc(in, n, 0);
        n = 0;
        put_cp(in, &n, 'X');
        put_cp(in, &n, a);
        put_cp(in, &n, ' ');
        check_against_utf8proc(in, n, 1);
        for (unsigned b = 0x41; b < 0x250; b++) {
            n = 0;
            put_cp(in, &n, a);
            put_cp(in, &n, b);
            check_against_utf8proc(in, n, 0);
        }
    }
    uint64_t seed = 2027;
    for (int t = 0; t < 20000; t++) {
        char in[80];
        size_t n = 0, cps = test_rand(&seed) % 24;
        for (size_t i = 0; i < cps; i++) {
            unsigned r = (unsigned)(test_rand(&seed) % 100);
            put_cp(in, &n,
                   r < 10   ? ' '
                   : r < 40 ? 0x20 + (unsigned)(test_rand(&seed) % 95)
                            : 0xa0 + (unsigned)(test_rand(&seed) % (0x250 - 0xa0)));
        }
        check_against_utf8proc(in, n, t % 2);
    }
    /* Some keys by name: accents stripped, cases folded, ligatures and spaces as NFKC says. */
    static const char *const cases[][2] = {{"Camión Ñandú", "camion nandu"},
                                           {"STRAẞE", NULL},
                                           {"Straße", "strasse"},
                                           {"a\xc2\xa0\xc2\xa0"
                                            "b",
                                            "a b"},
                                           {"ǄEMAL", "dzemal"},
                                           {"¼ Øre", "1\xe2\x81\x84"
                                                     "4 øre"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[AH_MAX_KEY_BYTES];
        size_t on;
        check_against_utf8proc(cases[i][0], strlen(cases[i][0]), 0);
        if (!cases[i][1])
            continue;
        ck_assert_int_eq(
            ah_normalize_key(cases[i][0], strlen(cases[i][0]), out, sizeof out, &on, 0), 0);
        ck_assert_msg(on == strlen(cases[i][1]) && memcmp(out, cases[i][1], on) == 0,
                      "'%s' -> '%.*s'", cases[i][0], (int)on, out);
    }
}
END_TEST

/* Normalizing a key again changes nothing (the builder stores keys, lookups re-derive them). */
START_TEST(test_idempotent)
{
    static const char *const texts[] = {
        "São Paulo", "Straße", "İstanbul", "ﬁ", "ＡＢＣ", "ΣΊΣΥΦΟΣ", "e\xcc\x81\xcc\xa7", "ǅ", "Ⅻ"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        char a[AH_MAX_KEY_BYTES], b[AH_MAX_KEY_BYTES];
        size_t an, bn;
        ck_assert_int_eq(ah_normalize_key(texts[i], strlen(texts[i]), a, sizeof a, &an, 0), 0);
        ck_assert_int_eq(ah_normalize_key(a, an, b, sizeof b, &bn, 0), 0);
        ck_assert_msg(an == bn && memcmp(a, b, an) == 0, "'%s' is not stable", texts[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("normalize");
    TCase *tc = tcase_create("normalize");
    tcase_add_test(tc, test_case_accents_width);
    tcase_add_test(tc, test_whitespace);
    tcase_add_test(tc, test_surface);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_ascii_fast_path_matches_utf8proc);
    tcase_add_test(tc, test_latin_fast_path_matches_utf8proc);
    tcase_add_test(tc, test_idempotent);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
