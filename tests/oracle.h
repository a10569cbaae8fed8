/* SPDX-License-Identifier: MIT */
/*
 * oracle.h: what the test suites share. A brute-force model of the
 * product (aggregate lines by key the slow, obvious way; answer a prefix by
 * filtering and sorting everything) to hold the snapshot to, and helpers to
 * run the real CLIs and to make scratch files.
 */
#ifndef AH_TESTS_ORACLE_H
#define AH_TESTS_ORACLE_H

#include "ahead.h"
#include "writer.h"

#include <check.h>

#include <stddef.h>
#include <stdint.h>

/* A completion as the oracle sees it; strings are owned by the oracle. */
typedef struct oracle_entry {
    char *key;
    uint32_t key_len;
    char *text;
    uint32_t text_len;
    uint64_t score;
} oracle_entry_t;

typedef struct oracle {
    oracle_entry_t *e; /* sorted by key bytes */
    size_t n;
    struct oracle_cps *cps; /* the keys as code points, made by the first oracle_lookup() */
} oracle_t;

/*
 * Reads a dataset (text<TAB>count or raw lines; .gz allowed) and aggregates
 * it as the builder's contract says: surface = whitespace-collapsed text,
 * key = normalized text, counts summed per key, the most frequent surface
 * (ties: byte-wise smallest) shown. Lines that are invalid are skipped.
 * max_lines limits how many lines are read (0: all).
 */
void oracle_load(oracle_t *o, const char *path, size_t max_lines);

/*
 * As oracle_load(), within one context: lines text<TAB>count<TAB>contexts
 * whose contexts field lists context count toward a completion's score in
 * it, and the oracle holds the completions whose score in it is > 0 (the
 * display text still the most frequent surface over all lines). A line
 * whose contexts field breaks the rules is skipped.
 */
void oracle_load_context(oracle_t *o, const char *path, size_t max_lines, const char *context);

/* Makes an oracle from given (text, score) pairs with the same rules. */
void oracle_from_pairs(oracle_t *o, const char *const *texts, const uint64_t *scores, size_t n);

/* The entries as writer input (pointers into o). Free with free(). */
ah_entry_t *oracle_entries(const oracle_t *o);

/*
 * The top k completions of an already normalized key prefix, best first,
 * into out (indexes into o->e). Returns how many.
 */
size_t oracle_topk(const oracle_t *o, const char *prefix, size_t len, unsigned k, size_t *out);

void oracle_free(oracle_t *o);

/* ------------------------------------------------ the matching contract (oracle_match.c) */

/* One answer of the contract: an entry, its distance, and its highlight. */
typedef struct oracle_match {
    size_t entry; /* index into o->e */
    unsigned typos;
    int mid;
    uint32_t span_start, span_end; /* code points of the display text */
} oracle_match_t;

/* The contract, or one deliberately broken, to show that a test notices. */
enum { ORACLE_EXACT, ORACLE_NO_FIRST_LETTER_RULE, ORACLE_WORDS_BEFORE_TYPOS };

/*
 * The k best matches of a normalized key prefix by the contract, with
 * typos (-1 for auto, or 0..2) and words (0: prefix only; 1: every word
 * start), each key tried at every word start with a full distance table.
 * Returns how many.
 */
size_t oracle_lookup(const oracle_t *o, const char *q, size_t len, unsigned k, int typos, int words,
                     int mutation, oracle_match_t *out);

/* oracle_lookup() with the typo budget of `shown` code points (0: q's own count). */
size_t oracle_lookup_shown(const oracle_t *o, const char *q_key, size_t q_len, size_t shown,
                           unsigned k, int typos, int words, int mutation, oracle_match_t *out);

/*
 * Compares ah_index_lookup_key() with oracle_lookup(), text, score, typos,
 * mid-phrase flag and span of every answer; fails the current test on a
 * difference. Returns 1 when compared, 0 when the lookup said it was not
 * complete (then it is not held to the contract).
 */
int oracle_check_lookup(const oracle_t *o, const ah_index_t *ix, const char *q, size_t len,
                        unsigned k, int typos, int words);

/* 1 when the lookup's answer differs from the mutated contract's (texts, typos, flags). */
int oracle_lookup_differs(const oracle_t *o, const ah_index_t *ix, const char *q, size_t len,
                          unsigned k, int typos, int words, int mutation);

/*
 * test_random_text: a text of 1-4 words of letters from several scripts
 * (marks, ligatures, full-width forms), joined by separators, the first
 * letters of a word from few so that prefixes are shared. NUL-terminated.
 * test_make_query: a query from a key: a prefix from one of its code points,
 * with `edits` random edits after the first, normalized as typed; its length.
 */
void test_random_text(uint64_t *seed, char *buf, size_t cap);
size_t test_make_query(uint64_t *seed, const char *key, size_t klen, unsigned edits, char *q,
                       size_t cap);

/* Frees what oracle_lookup() cached; oracle_free() calls it. */
void oracle_free_cps(struct oracle_cps *c);

/*
 * Compares ah_index_complete_key(ix, prefix) with the oracle; on a
 * difference, fails the current Check test with a message naming the
 * prefix and the first differing position.
 */
void oracle_check_prefix(const oracle_t *o, const ah_index_t *ix, const char *prefix, size_t len,
                         unsigned k);

/* A fresh scratch directory under $TMPDIR (or /tmp), made once per process. */
const char *scratch_dir(void);

/* scratch_dir()/name in buf. */
char *scratch_path(char *buf, size_t cap, const char *name);

/* Writes data to path; fails the test on error. */
void write_file(const char *path, const char *data, size_t len);

/* Reads a whole file into a malloc'ed buffer (NUL-terminated); NULL if missing. */
char *read_file(const char *path, size_t *len);

/*
 * Runs argv (argv[0] is a path) with stdin from in_path (NULL: /dev/null),
 * capturing stdout and stderr into malloc'ed strings (either pointer may be
 * NULL when not wanted). Returns the exit status, or -signal.
 */
int run_cmd(char *const argv[], const char *in_path, char **out, char **err);

/* Fails the current test unless the two files have the same bytes. */
void assert_same_file(const char *a, const char *b);

/* Runs a suite and returns the process's exit status (0 when every test passed). */
int run_suite(Suite *s);

/* A deterministic pseudo-random generator (splitmix64) for the tests. */
uint64_t test_rand(uint64_t *state);

#endif /* AH_TESTS_ORACLE_H */
