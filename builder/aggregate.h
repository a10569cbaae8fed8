/* SPDX-License-Identifier: MIT */
/*
 * aggregate.h: from log lines to completions. Each line is checked and
 * parsed (text<TAB>count, text<TAB>count<TAB>contexts, or a bare text
 * counting 1), its text reduced to a surface form (whitespace collapsed),
 * and counts summed per surface form, and per surface form and context
 * value. At the end surface forms are grouped by key: their counts add up,
 * and the most frequent form (ties: the byte-wise smallest) is the text
 * shown; a completion's score in a context is the sum of the counts of its
 * lines that list the context.
 */
#ifndef AH_BUILDER_AGGREGATE_H
#define AH_BUILDER_AGGREGATE_H

#include "blocklist.h"
#include "writer.h"

#include <stddef.h>
#include <stdint.h>

/* Why a line was skipped. */
typedef enum ah_line_status {
    AH_LINE_OK = 0,
    AH_LINE_EMPTY,        /* no text, or only whitespace */
    AH_LINE_UTF8,         /* not valid UTF-8 */
    AH_LINE_CONTROL,      /* a NUL or another control character in the text */
    AH_LINE_COUNT,        /* the count is not an unsigned decimal integer */
    AH_LINE_OVERFLOW,     /* the count does not fit in 64 bits */
    AH_LINE_TOOLONG,      /* the text is longer than --max-bytes */
    AH_LINE_CONTEXT,      /* a context value empty, not UTF-8, or with a comma or control character
                           * (an empty field is no value: what a data engine writes for NULL) */
    AH_LINE_CONTEXT_LONG, /* a context value longer than AH_MAX_CONTEXT_BYTES */
    AH_LINE_CONTEXT_MANY, /* more than AH_MAX_LINE_CONTEXTS distinct context values */
} ah_line_status_t;

#define AH_MAX_LINE_CONTEXTS 32 /* distinct context values one line may list */

const char *ah_line_status_str(ah_line_status_t status);

typedef struct ah_agg ah_agg_t;

/* What ah_agg_finish() kept and dropped, for the summary. */
typedef struct ah_agg_counts {
    uint64_t surfaces;         /* distinct surface forms */
    uint64_t keys;             /* distinct keys */
    uint64_t empty_keys;       /* surface forms whose key is empty (only marks, say) */
    uint64_t long_keys;        /* surface forms whose key exceeds AH_MAX_KEY_BYTES */
    uint64_t below_min;        /* keys dropped by --min-count */
    uint64_t blocked;          /* keys dropped by the blocklist */
    uint64_t completions;      /* entries returned */
    uint64_t weighted_to_zero; /* lines whose count times the weight rounded to 0 */
} ah_agg_counts_t;

/* A new aggregator for texts of at most max_text_bytes; NULL when out of memory. */
ah_agg_t *ah_agg_new(unsigned max_text_bytes);

/*
 * Before the first line: a memory budget in bytes (0: none), of which the
 * table of distinct surface forms may take half before it is spilled to
 * sorted runs in temporary files in tmpdir (aggregate.c, spill.h); and the
 * number of threads that key, sort and write runs. The result does not
 * depend on either. Returns 0 or AH_ENOMEM.
 */
int ah_agg_set_limits(ah_agg_t *agg, size_t memory, const char *tmpdir, unsigned threads);

/* Called on each spill ("spilled": spills so far, temporary bytes) and while merging
 * ("merging": surface forms merged so far, 0). */
typedef void (*ah_agg_progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);
void ah_agg_set_progress(ah_agg_t *agg, ah_agg_progress_fn fn, void *ctx);

/* What spilling did, for the summary. */
typedef struct ah_spill_stats {
    uint64_t spills;       /* times the table was full and went to disk */
    uint64_t runs;         /* sorted runs written to temporary files */
    uint64_t merge_passes; /* merges before the last one (too many runs at once) */
    uint64_t disk_peak;    /* the most temporary bytes at one time */
    uint64_t completions;  /* bytes of the completions' files (ah_agg_on_disk()), else 0 */
} ah_spill_stats_t;

void ah_agg_spill_stats(const ah_agg_t *agg, ah_spill_stats_t *stats);

/* Why the last call that failed with AH_EIO or AH_ENOMEM did. */
const char *ah_agg_error(const ah_agg_t *agg);

/*
 * Multiplies the count of every line added from now on by weight (finite,
 * > 0; 1 at first): the product is rounded to the nearest integer, halves
 * up, and saturates at UINT64_MAX, as sums do.
 */
void ah_agg_set_weight(ah_agg_t *agg, double weight);

/*
 * Adds one line. *status tells whether it was used or why not. Returns 0, or
 * AH_ENOMEM or AH_EIO (a spill failed: ah_agg_error() says why; the line was
 * not added).
 */
int ah_agg_add_line(ah_agg_t *agg, const char *line, size_t len, ah_line_status_t *status);

/*
 * Groups by key, applies min_count and the blocklist (may be NULL), and
 * returns the completions sorted by key in *entries (n in *n). The entries
 * point into agg, in memory or, when the table spilled, mapped from
 * temporary files (ah_agg_on_disk()): valid until ah_agg_free(). Returns 0, AH_ENOMEM or AH_EIO
 * (a temporary file could not be written or read: ah_agg_error()).
 */
int ah_agg_finish(ah_agg_t *agg, uint64_t min_count, const ah_blocklist_t *bl, ah_entry_t **entries,
                  size_t *n, ah_agg_counts_t *counts);

/*
 * After ah_agg_finish(): the context values that kept completions, in byte
 * order, each with its completions (a subset of the entries, in the same
 * order, scored by their counts in it, every score > 0), ready for
 * ah_write_options_t.contexts: *n = 0 when no line named a context. The
 * arrays belong to agg. *memberships receives the sum of their sizes.
 * Returns 0 or AH_ENOMEM.
 */
int ah_agg_contexts(ah_agg_t *agg, ah_write_context_t **contexts, size_t *n, uint64_t *memberships);

/*
 * After ah_agg_finish(): 1 when the completions were written to temporary
 * files and mapped, because the surface forms did not fit in half of the
 * memory budget. Their pages are then the page cache's, and
 * ah_agg_keep_mapped_below() starts a thread that takes them out of this
 * process's resident memory whenever the bytes of files it has mapped
 * (ah_mapped_file_bytes()) pass limit, checked every 5 ms, until
 * ah_agg_free(); a page read again is mapped again. It returns 0 (with the
 * completions in memory it has nothing to do) or AH_ENOMEM.
 */
int ah_agg_on_disk(const ah_agg_t *agg);
int ah_agg_keep_mapped_below(ah_agg_t *agg, size_t limit);

/*
 * The writer's entries_read hook (ah_write_options_t), ctx the aggregator:
 * the same check as that thread's, made at once by the thread reading the
 * completions, so that a fast pass cannot map far more than limit while
 * the thread waits for its turn (10^8 at --memory 2G mapped 1.3 GB so).
 */
void ah_agg_entries_read(void *agg);

/* Frees the aggregator and the entries it returned; no operation if NULL. */
void ah_agg_free(ah_agg_t *agg);

#endif /* AH_BUILDER_AGGREGATE_H */
