/* SPDX-License-Identifier: MIT */
/*
 * check_contexts.c: suggestions within a context (issue 17, section 1).
 * Random logs with a third field (many values, values shared by many
 * completions and by one, ties, repeated texts in other surface forms, bad
 * context lists among good lines) are built with the real ahead-build, and
 * every lookup in every context is held to the brute-force oracle of the
 * matching contract over the completions of that context, scored by their
 * counts in it (oracle_load_context). Also: the line rules for the field,
 * part files with a third column, and that input without it gives the same
 * bytes as before contexts existed.
 */
#include "oracle.h"

#include "bits.h"
#include "format.h"
#include "reseal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Context values: ASCII, accented, CJK, a space inside, digits that look like a count. */
static const char *const pool[] = {"shoes", "men",    "women", "café",  "日本", "a b",
                                   "x",     "123",    "kids",  "Shoes", "sale", "z9",
                                   "home",  "garden", "été",   "tools"};
#define POOL (sizeof pool / sizeof *pool)

/* Appends one random contexts field (1-4 values, some repeated, some with spaces around). */
static size_t random_contexts(uint64_t *seed, char *buf, size_t cap)
{
    size_t n = 1 + test_rand(seed) % 4, at = 0;
    /* Half the lines draw from the first four values: values shared by many completions. */
    size_t span = test_rand(seed) % 2 ? 4 : POOL;
    for (size_t i = 0; i < n; i++) {
        const char *v = pool[test_rand(seed) % span];
        const char *pad = test_rand(seed) % 5 == 0 ? " " : "";
        at += (size_t)snprintf(buf + at, cap - at, "%s%s%s%s", i ? "," : "", pad, v, pad);
    }
    return at;
}

/* A bad contexts field, of one of the kinds the contract refuses. */
static const char *bad_contexts(uint64_t *seed)
{
    static char many[400];
    switch (test_rand(seed) % 5) {
    case 0:
        return "shoes,,men"; /* an empty value */
    case 1:
        return "  "; /* only spaces */
    case 2:
        return "0123456789012345678901234567890123456789012345678901234567890123X"; /* 65 bytes */
    case 3:
        return "sh\x01oes"; /* a control character */
    default:                /* 33 distinct values */
        many[0] = 0;
        for (int i = 0; i < 33; i++)
            snprintf(many + strlen(many), sizeof many - strlen(many), "%sv%d", i ? "," : "", i);
        return many;
    }
}

/* Writes a random log of n lines to path; returns the number of good lines with contexts. */
static size_t random_log(uint64_t *seed, const char *path, size_t n)
{
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    char(*texts)[256] = malloc(n * sizeof *texts);
    size_t with = 0;
    for (size_t i = 0; i < n; i++) {
        /* Repeats of an earlier text (one in five, as typed or upper-cased) sum across lines. */
        if (i > 0 && test_rand(seed) % 5 == 0) {
            memcpy(texts[i], texts[test_rand(seed) % i], sizeof texts[i]);
            for (char *c = texts[i]; *c && test_rand(seed) % 2; c++)
                if (*c >= 'a' && *c <= 'z')
                    *c = (char)(*c - 'a' + 'A');
        } else {
            test_random_text(seed, texts[i], sizeof texts[i]);
        }
        uint64_t r = test_rand(seed);
        uint64_t count = r % 7 == 0 ? r >> 22 : r % 11 == 0 ? 0 : 1 + r % 5; /* ties, zeros, big */
        char field[512];
        switch (test_rand(seed) % 8) {
        case 0:
            fprintf(f, "%s\t%llu\n", texts[i], (unsigned long long)count);
            break;
        case 1:
            fprintf(f, "%s\t%llu\t%s\n", texts[i], (unsigned long long)count, bad_contexts(seed));
            break;
        case 2: /* an empty field, as a data engine writes a NULL: no context */
            fprintf(f, "%s\t%llu\t\n", texts[i], (unsigned long long)count);
            break;
        default:
            random_contexts(seed, field, sizeof field);
            fprintf(f, "%s\t%llu\t%s\n", texts[i], (unsigned long long)count, field);
            with++;
        }
    }
    fclose(f);
    free(texts);
    return with;
}

/* Runs ahead-build with extra options on input into out; returns its stderr (free it). */
static char *build(const char *input, const char *out, const char *opt1, const char *opt2)
{
    char *argv[8];
    int a = 0;
    argv[a++] = (char *)AH_BUILD_BIN;
    if (opt1)
        argv[a++] = (char *)opt1;
    if (opt2)
        argv[a++] = (char *)opt2;
    argv[a++] = (char *)input;
    argv[a++] = (char *)"-o";
    argv[a++] = (char *)out;
    argv[a] = NULL;
    char *err = NULL;
    int rc = run_cmd(argv, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "ahead-build %s failed (%d): %s", input, rc, err);
    return err;
}

/* Lookups of many kinds in ix, each held to the oracle o; returns how many were incomplete. */
static size_t check_lookups(const oracle_t *o, const oracle_t *queries_from, const ah_index_t *ix,
                            unsigned topk, uint64_t *seed, size_t rounds)
{
    static const int typos[] = {-1, 0, 1, 2};
    size_t incomplete = 0;
    char q[AH_MAX_KEY_BYTES];
    for (size_t i = 0; i < rounds; i++) {
        const oracle_t *src = i % 3 == 2 ? queries_from : o; /* also queries from other contexts */
        const oracle_entry_t *e = &src->e[test_rand(seed) % src->n];
        size_t len = test_make_query(seed, e->key, e->key_len, (unsigned)(i % 3), q, sizeof q);
        unsigned k = 1 + (unsigned)(test_rand(seed) % topk);
        incomplete += !oracle_check_lookup(o, ix, q, len, k, typos[i % 4], (int)(i / 4 % 2));
    }
    incomplete += !oracle_check_lookup(o, ix, "", 0, topk, -1, 1);
    incomplete += !oracle_check_lookup(o, ix, "zzzz", 4, topk, -1, 1);
    return incomplete;
}

START_TEST(test_random_logs_in_every_context)
{
    static const char *const options[][2] = {
        {NULL, NULL}, {"-k", "3"}, {"--no-typo-index", NULL}, {"-k", "1"}, {"--min-count", "3"}};
    uint64_t seed = 0xc0de0000u + (uint64_t)_i;
    char input[512], out[512], name[64];
    snprintf(name, sizeof name, "contexts-%d.tsv", _i);
    scratch_path(input, sizeof input, name);
    snprintf(name, sizeof name, "contexts-%d.snap", _i);
    scratch_path(out, sizeof out, name);
    /* Two logs large enough that the shared values' indexes have the typo index too. */
    size_t lines = _i % 5 == 0 ? 20000 : 150 + test_rand(&seed) % 450;
    random_log(&seed, input, lines);
    free(build(input, out, options[_i % 5][0], options[_i % 5][1]));

    char err[256];
    ah_index_t *ix;
    ck_assert_msg(ah_index_open(out, &ix, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(ah_index_verify(ix, err, sizeof err) == 0, "%s", err);
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    oracle_t all;
    oracle_load(&all, input, 0);
    /* --min-count drops completions everywhere: the oracles apply it as the builder does. */
    uint64_t min_count = _i % 5 == 4 ? 3 : 1;
    size_t kept = 0;
    for (size_t i = 0; i < all.n; i++)
        kept += all.e[i].score >= min_count;
    ck_assert_uint_eq(st.entries, kept);
    size_t incomplete = min_count == 1 ? check_lookups(&all, &all, ix, st.topk, &seed, 60) : 0;

    uint32_t contexts = 0, typo_indexed = 0;
    for (size_t v = 0; v <= POOL; v++) {
        const char *value = v < POOL ? pool[v] : "nope";
        oracle_t o;
        oracle_load_context(&o, input, 0, value);
        if (min_count > 1) { /* keep the context's completions whose overall score passes */
            size_t m = 0;
            for (size_t i = 0; i < o.n; i++) {
                size_t j = 0;
                while (j < all.n && strcmp(all.e[j].key, o.e[i].key) != 0)
                    j++;
                if (j < all.n && all.e[j].score >= min_count)
                    o.e[m++] = o.e[i];
                else {
                    free(o.e[i].key);
                    free(o.e[i].text);
                }
            }
            o.n = m;
        }
        const ah_index_t *in = ah_index_context(ix, value, strlen(value));
        if (o.n == 0) {
            ck_assert_msg(in == NULL, "context '%s' has no completion, yet an index", value);
            oracle_free(&o);
            continue;
        }
        contexts++;
        ck_assert_msg(in != NULL, "context '%s' has %zu completions, but no index", value, o.n);
        ah_index_stats_t cs;
        ah_index_stats(in, &cs);
        ck_assert_uint_eq(cs.entries, o.n);
        ck_assert_int_eq(cs.has_typo_index, o.n >= AH_CONTEXT_TYPO_MIN && st.has_typo_index);
        typo_indexed += cs.has_typo_index;
        incomplete += check_lookups(&o, &all, in, st.topk, &seed, 48);
        oracle_free(&o);
    }
    ck_assert_uint_eq(ah_index_context_count(ix), contexts);
    ck_assert_uint_eq(st.contexts, contexts);
    /* The values come out in byte order, each found by its own bytes. */
    for (uint32_t i = 0; i < contexts; i++) {
        size_t len, plen;
        const char *v = ah_index_context_value(ix, i, &len);
        ck_assert(ah_index_context(ix, v, len) == ah_index_context_at(ix, i));
        if (i > 0) {
            const char *p = ah_index_context_value(ix, i - 1, &plen);
            int c = memcmp(p, v, plen < len ? plen : len);
            ck_assert(c < 0 || (c == 0 && plen < len));
        }
    }
    ck_assert_uint_eq(incomplete, 0); /* small tries never reach the work bound */
    if (lines == 20000)
        ck_assert_uint_gt(typo_indexed, 0);
    oracle_free(&all);
    ah_index_close(ix);
}
END_TEST

/* The field's rules, line by line: what is a bad line, and what counts once. */
START_TEST(test_line_rules)
{
    char input[512], out[512];
    scratch_path(input, sizeof input, "rules.tsv");
    scratch_path(out, sizeof out, "rules.snap");
    static const char log[] =
        "nike air\t10\tshoes, men ,shoes\n" /* trimmed, and shoes counts once */
        "nike air\t5\tmen\n"                /* sums: men 15 */
        "Nike Air\t1\twomen\n"              /* another surface form of the same key */
        "adidas\t7\t123\n"                  /* a value that looks like a count */
        "empty\t1\tshoes,,men\n"            /* bad: an empty value */
        "spaces\t1\t   \n"                  /* bad: only spaces */
        "control\t1\tsh\x7foes\n"           /* bad: DEL */
        "utf8\t1\tsh\xc3oes\n"              /* bad: not UTF-8 */
        "long\t1\t"
        "12345678901234567890123456789012345678901234567890123456789012345\n" /* bad: 65 */
        "ok64\t1\t"
        "1234567890123456789012345678901234567890123456789012345678901234\n" /* 64: good */
        "tab\t1\tshoes\tmen\n" /* bad: a tab in the field */
        "nocount\tx\tshoes\n"  /* bad: the count */
        "zero\t0\tshoes\n"     /* a count of 0: belongs to nothing */
        "engine null\t2\t\n";  /* an empty field: no context (a NULL) */
    write_file(input, log, sizeof log - 1);
    char *err = build(input, out, NULL, NULL);
    for (int line = 5; line <= 14; line++) {
        char want[32];
        snprintf(want, sizeof want, "rules.tsv:%d: skipped", line);
        if (line == 10 || line == 13 || line == 14)
            ck_assert_msg(strstr(err, want) == NULL, "line %d was skipped: %s", line, err);
        else
            ck_assert_msg(strstr(err, want) != NULL, "line %d not reported: %s", line, err);
    }
    ck_assert_msg(strstr(err, "skipped 7 bad lines") != NULL, "%s", err);
    free(err);
    ah_index_t *ix;
    char e[256];
    ck_assert_msg(ah_index_open(out, &ix, e, sizeof e) == 0, "%s", e);
    ah_completion_t c[10];
    char text[AH_COMPLETE_TEXT_BYTES(10)];
    size_t n;
    const ah_index_t *men = ah_index_context(ix, "men", 3);
    ck_assert(men != NULL);
    ck_assert_int_eq(ah_index_complete(men, "n", 1, 10, c, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(c[0].score, 15);
    ck_assert(c[0].text_len == 8 && memcmp(c[0].text, "nike air", 8) == 0);
    const ah_index_t *shoes = ah_index_context(ix, "shoes", 5);
    ck_assert_int_eq(ah_index_complete(shoes, "", 0, 10, c, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 1); /* nike air 10 (once, though listed twice); zero belongs to none */
    ck_assert_uint_eq(c[0].score, 10);
    ck_assert_int_eq(
        ah_index_complete(ah_index_context(ix, "women", 5), "", 0, 10, c, text, sizeof text, &n),
        0);
    ck_assert(n == 1 && c[0].score == 1 && memcmp(c[0].text, "nike air", 8) == 0);
    ck_assert(ah_index_context(ix, "123", 3) != NULL);
    ck_assert(ah_index_context(ix, "Shoes", 5) == NULL); /* compared as bytes */
    ck_assert(ah_index_context(ix, "shoe", 4) == NULL);
    ck_assert_uint_eq(ah_index_context_count(ix), 5); /* shoes men women 123 and the 64-byte one */
    ah_index_close(ix);

    /* --strict stops at the first bad contexts field, and the output stays as it was. */
    char *argv[] = {(char *)AH_BUILD_BIN, (char *)"--strict", input, (char *)"-o", out, NULL};
    char *serr = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, &serr), 1);
    ck_assert_msg(strstr(serr, "rules.tsv:5: skipped") != NULL, "%s", serr);
    free(serr);
}
END_TEST

/* A data engine's part files with a third column: header, quoting, a value of letters first. */
START_TEST(test_part_files_with_contexts)
{
    char dir[512], part[600], out[512];
    scratch_path(dir, sizeof dir, "parts");
    char *mk[] = {(char *)"/bin/mkdir", (char *)"-p", dir, NULL};
    ck_assert_int_eq(run_cmd(mk, NULL, NULL, NULL), 0);
    snprintf(part, sizeof part, "%s/part-0.csv", dir);
    static const char p0[] = "text\tcount\tcontexts\n\"say \"\"hi\"\"\"\t4\tgreetings,en\n";
    write_file(part, p0, sizeof p0 - 1);
    snprintf(part, sizeof part, "%s/part-1.csv", dir);
    static const char p1[] = "hello\t3\tgreetings\n"; /* first line, not a header */
    write_file(part, p1, sizeof p1 - 1);
    scratch_path(out, sizeof out, "parts.snap");
    free(build(dir, out, NULL, NULL));
    ah_index_t *ix;
    char e[256];
    ck_assert_msg(ah_index_open(out, &ix, e, sizeof e) == 0, "%s", e);
    ah_completion_t c[10];
    char text[AH_COMPLETE_TEXT_BYTES(10)];
    size_t n;
    const ah_index_t *g = ah_index_context(ix, "greetings", 9);
    ck_assert(g != NULL);
    ck_assert_int_eq(ah_index_complete(g, "", 0, 10, c, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert(c[0].text_len == 8 && memcmp(c[0].text, "say \"hi\"", 8) == 0 && c[0].score == 4);
    ck_assert(c[1].text_len == 5 && memcmp(c[1].text, "hello", 5) == 0 && c[1].score == 3);
    ck_assert(ah_index_context(ix, "en", 2) != NULL);
    ck_assert_uint_eq(ah_index_context_count(ix), 2);
    ah_index_close(ix);
}
END_TEST

/*
 * A context's completions are the whole's: keys, texts, scores. The writer
 * refuses others; verify refuses a snapshot whose context strays (made here
 * by changing a byte of the context's display text and resealing).
 */
START_TEST(test_verify_checks_members)
{
    ah_entry_t whole[] = {{"abc", 3, "ABC", 3, 10}, {"abd", 3, "abd", 3, 5}};
    static const struct {
        ah_entry_t in;
        int ok;
    } cases[] = {
        {{"abc", 3, "ABC", 3, 10}, 1}, /* the same, at the whole's score */
        {{"abd", 3, "abd", 3, 1}, 1},  {{"abc", 3, "abc", 3, 4}, 0}, /* another display text */
        {{"abd", 3, "abd", 3, 6}, 0},                                /* above the whole's score */
        {{"abe", 3, "abe", 3, 1}, 0},                                /* not a key of the whole */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ah_write_context_t ctx = {"v", 1, &cases[i].in, 1};
        ah_write_options_t opt = {
            .topk = 4, .max_text_bytes = 64, .contexts = &ctx, .n_contexts = 1};
        char path[512], err[256];
        int rc = ah_snapshot_write(scratch_path(path, sizeof path, "members.snap"), whole, 2, &opt,
                                   NULL, err, sizeof err);
        ck_assert_msg(cases[i].ok ? rc == 0 : rc == AH_EINVAL, "case %zu: write %d (%s)", i, rc,
                      err);
        if (rc)
            continue;
        ah_index_t *ix;
        ck_assert(ah_index_open(path, &ix, err, sizeof err) == 0);
        ck_assert_int_eq(ah_index_verify(ix, err, sizeof err), 0);
        ah_index_close(ix);
    }
    /* A stray display text in a context, resealed: "AbC" in the context's snapshot only. */
    ah_entry_t in = {"abc", 3, "ABC", 3, 10};
    ah_write_context_t ctx = {"v", 1, &in, 1};
    ah_write_options_t opt = {.topk = 4, .max_text_bytes = 64, .contexts = &ctx, .n_contexts = 1};
    char path[512], err[256];
    ck_assert(ah_snapshot_write(scratch_path(path, sizeof path, "stray.snap"), whole, 2, &opt, NULL,
                                err, sizeof err) == 0);
    size_t len;
    unsigned char *f = (unsigned char *)read_file(path, &len);
    /* The context's snapshot: the table's last entry (CONTEXTS), its first image. */
    uint32_t nsec = ah_load_u32(f + AH_HDR_SECTION_COUNT);
    const unsigned char *e = f + AH_HEADER_SIZE + (nsec - 1) * AH_SECTION_ENTRY_SIZE;
    ck_assert_uint_eq(ah_load_u32(e + AH_SEC_ID), AH_SEC_CONTEXTS);
    unsigned char *sec = f + ah_load_u64(e + AH_SEC_OFFSET), *img = sec + ah_load_u64(sec + 8);
    size_t img_len = ah_load_u64(sec + 16), changed = 0;
    for (size_t i = 0; i + 3 <= img_len; i++) /* its display text, and its hot copy */
        if (memcmp(img + i, "ABC", 3) == 0)
            img[i + 1] = 'b', changed++; /* AbC: the same key, another text */
    ck_assert_uint_gt(changed, 0);
    ck_assert_int_eq(ts_reseal(img, img_len), 0);
    ck_assert_int_eq(ts_reseal(f, len), 0);
    ah_index_t *ix;
    write_file(path, (const char *)f, len);
    free(f);
    ck_assert(ah_index_open(path, &ix, err, sizeof err) == 0);
    ck_assert_int_eq(ah_index_verify(ix, err, sizeof err), AH_ECORRUPT);
    ck_assert_msg(strstr(err, "not the whole's") != NULL, "%s", err);
    ah_index_close(ix);
}
END_TEST

/* Korean in a context: its snapshot has its own jamo keys and initial consonants. */
START_TEST(test_korean_in_contexts)
{
    char input[512], out[512];
    scratch_path(input, sizeof input, "korean.tsv");
    scratch_path(out, sizeof out, "korean.snap");
    static const char log[] = "서울 특별시\t9\tcity\n서울특별시\t8\tcity,office\n사원\t7\toffice\n"
                              "한국\t6\tcountry\nseoul\t5\tcity\n";
    write_file(input, log, sizeof log - 1);
    free(build(input, out, NULL, NULL));
    ah_index_t *ix;
    char e[256];
    ck_assert_msg(ah_index_open(out, &ix, e, sizeof e) == 0, "%s", e);
    ck_assert_msg(ah_index_verify(ix, e, sizeof e) == 0, "%s", e);
    ah_completion_t c[10];
    char text[AH_COMPLETE_TEXT_BYTES(10)];
    size_t n;
    const ah_index_t *office = ah_index_context(ix, "office", 6);
    ck_assert_int_eq(
        ah_index_complete(office, "ㅅㅇ", strlen("ㅅㅇ"), 10, c, text, sizeof text, &n), 0);
    ck_assert_uint_eq(n, 2); /* 서울특별시 8, 사원 7: 서울 특별시 is not in office */
    ck_assert(c[0].score == 8 && c[1].score == 7);
    ck_assert_int_eq(ah_index_complete(ah_index_context(ix, "city", 4), "서울 ㅌ",
                                       strlen("서울 ㅌ"), 10, c, text, sizeof text, &n),
                     0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(c[0].score, 9);
    ck_assert_int_eq(ah_index_complete(ah_index_context(ix, "country", 7), "한구", strlen("한구"),
                                       10, c, text, sizeof text, &n),
                     0);
    ck_assert_uint_eq(n, 1);
    ah_index_close(ix);
}
END_TEST

/*
 * Input without a third field: the same bytes as before contexts existed
 * (the content id and size of data/sample.tsv's snapshot as the build of
 * commit d19f675 made it, which had no fills: --fills 0), and no contexts.
 */
START_TEST(test_no_third_field_same_bytes)
{
    char out[512];
    scratch_path(out, sizeof out, "sample.snap");
    free(build(AH_SOURCE_DIR "/data/sample.tsv", out, "--fills", "0"));
    ah_index_t *ix;
    char e[256];
    ck_assert_msg(ah_index_open(out, &ix, e, sizeof e) == 0, "%s", e);
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    ck_assert_str_eq(st.id_hex, "33b708c421c29d79");
    ck_assert_uint_eq(st.contexts, 0);
    ck_assert(ah_index_context(ix, "shoes", 5) == NULL);
    ah_index_close(ix);
    size_t len;
    char *bytes = read_file(out, &len);
    uint32_t flags = (uint32_t)(unsigned char)bytes[AH_HDR_FLAGS];
    ck_assert_uint_eq(flags & AH_FLAG_CONTEXTS, 0);
    ck_assert_uint_eq((unsigned char)bytes[AH_HDR_SECTION_COUNT], AH_SECTION_COUNT);
    free(bytes);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("contexts");
    TCase *tc = tcase_create("contexts");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_random_logs_in_every_context, 0, 10);
    tcase_add_test(tc, test_line_rules);
    tcase_add_test(tc, test_part_files_with_contexts);
    tcase_add_test(tc, test_no_third_field_same_bytes);
    tcase_add_test(tc, test_korean_in_contexts);
    tcase_add_test(tc, test_verify_checks_members);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
