/* SPDX-License-Identifier: MIT */
/*
 * fuzz_builder.c: a libFuzzer target for what ahead-build does with a log,
 * through the functions ahead-build itself calls (libahead-builder): the
 * log is read by ah_input (plain or gzip) line by line, each line read as
 * a part file's (header, CSV quoting) when asked, parsed and aggregated
 * (text<TAB>count lines and raw lines, one counting 1, mixed freely) under
 * a --weight, a blocklist file loaded, the completions (and the contexts of
 * lines with a third field) written to a snapshot on tmpfs, which is then
 * opened, deep-verified and asked for its keys, in each context too.
 *
 * Input layout (all of it is fuzzed):
 *
 *   0  1  topk - 1 (low 4 bits); word leaf (high 4 bits, 0: default)
 *   1  1  bit 0: --no-infix; bits 1-2: bucket size 16, 1, 2, 4;
 *         bits 4-7: hot nodes (0: ahead-build's default, 15: none, else 2^n)
 *   2  1  --max-bytes / 4 (0: 1 byte)
 *   3  1  --min-count (0..3, bits 0-1); bit 2: the log is a part file
 *         (ah_part_line); bits 4-6: the --weight, one of WEIGHTS
 *   4  2  B, the blocklist's length (little-endian, cut to what is left)
 *   6  B  the blocklist file; the rest is the log
 *
 * What must hold for any input: no crash or sanitizer report; a blocklist
 * either loads or is refused as bad UTF-8 or a damaged gzip stream; when lines survive
 * aggregation, the snapshot is written (any input must build), opens,
 * passes ah_index_verify, and completes every kept key as a prefix with at
 * least one answer; and the same log aggregated again under a budget so
 * small that every line spills a sorted run (ahead-build --memory, merged
 * in many passes, two threads) gives the same completions and contexts.
 * A violation aborts with a message. Built with clang by
 * tests/fuzz.sh (CMake -DAHEAD_FUZZ=ON in build-fuzz/):
 *
 *   tests/fuzz.sh 60 fuzz_builder
 *   build-fuzz/tests/fuzz_builder CRASH_FILE          (replay a finding)
 */
#include "aggregate.h"
#include "ahead.h"
#include "blocklist.h"
#include "input.h"
#include "parts.h"
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "fuzz_builder: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

static char paths[3][96]; /* the blocklist, the log and the snapshot */

/* --weight values: 1, fractions, roundings to 0 and saturation. */
static const double WEIGHTS[8] = {1, 0.5, 3, 1e-20, 1e20, 1.0 / 3, 2.5, 1e300};

static void remove_files(void)
{
    for (int i = 0; i < 3; i++)
        if (paths[i][0])
            unlink(paths[i]);
}

/* Writes data to a per-process file on tmpfs named by what; returns its path. */
static const char *tmp_file(const char *what, const uint8_t *data, size_t len)
{
    static int registered;
    if (!registered++)
        atexit(remove_files); /* libFuzzer ends with exit(); a crash leaves the files */
    int slot = what[0] == 'b' ? 0 : what[0] == 'l' ? 1 : 2;
    snprintf(paths[slot], sizeof paths[slot], "/dev/shm/ahead-fuzz-builder-%d.%s", (int)getpid(),
             what);
    FILE *f = fopen(paths[slot], "wb");
    if (!f)
        FAIL("cannot write %s", paths[slot]);
    if (len && fwrite(data, 1, len, f) != len)
        FAIL("short write to %s", paths[slot]);
    fclose(f);
    return paths[slot];
}

static void read_log(const char *path, int part_file, ah_agg_t *agg);

static int same_entry(const ah_entry_t *a, const ah_entry_t *b)
{
    return a->key_len == b->key_len && a->text_len == b->text_len && a->score == b->score &&
           memcmp(a->key, b->key, a->key_len) == 0 && memcmp(a->text, b->text, a->text_len) == 0;
}

/* The log aggregated with a spill at every line gives the same completions and contexts. */
static void check_spilled(const uint8_t *log, size_t len, unsigned max_bytes, double weight,
                          int part_file, uint64_t min_count, const ah_blocklist_t *bl,
                          const ah_entry_t *e, size_t n, const ah_write_context_t *contexts,
                          size_t n_contexts)
{
    ah_agg_t *agg = ah_agg_new(max_bytes);
    if (!agg || ah_agg_set_limits(agg, 4096, "/dev/shm", 2) != 0)
        FAIL("out of memory");
    ah_agg_set_weight(agg, weight);
    read_log(tmp_file("log", log, len), part_file, agg);
    ah_entry_t *se;
    size_t sn, sn_contexts;
    ah_agg_counts_t counts;
    ah_write_context_t *sc;
    uint64_t memberships;
    if (ah_agg_finish(agg, min_count, bl, &se, &sn, &counts) != 0 ||
        ah_agg_contexts(agg, &sc, &sn_contexts, &memberships) != 0)
        FAIL("spilled aggregation failed: %s", ah_agg_error(agg));
    if (sn != n || sn_contexts != n_contexts)
        FAIL("spilled: %zu completions, %zu contexts; in memory %zu, %zu", sn, sn_contexts, n,
             n_contexts);
    for (size_t i = 0; i < n; i++)
        if (!same_entry(&e[i], &se[i]))
            FAIL("spilled: completion %zu differs", i);
    for (size_t c = 0; c < n_contexts; c++) {
        if (sc[c].n != contexts[c].n || sc[c].value_len != contexts[c].value_len ||
            memcmp(sc[c].value, contexts[c].value, sc[c].value_len) != 0)
            FAIL("spilled: context %zu differs", c);
        for (size_t i = 0; i < sc[c].n; i++)
            if (!same_entry(&sc[c].entries[i], &contexts[c].entries[i]))
                FAIL("spilled: context %zu, completion %zu differs", c, i);
    }
    ah_agg_free(agg);
}

/* Reads the log as ahead-build's read_file() does: truncated lines are skipped. */
static void read_log(const char *path, int part_file, ah_agg_t *agg)
{
    static char unquoted[AH_INPUT_MAX_LINE];
    uint64_t lineno = 0;
    char err[256];
    ah_input_t *in;
    if (ah_input_open(path, &in, err, sizeof err) != 0)
        FAIL("cannot open the log: %s", err);
    const char *line;
    size_t len;
    int truncated, rc;
    while ((rc = ah_input_next(in, &line, &len, &truncated, err, sizeof err)) == 1) {
        lineno++;
        if (part_file && !truncated) {
            size_t out_len = len;
            ah_part_line_t r = ah_part_line(line, len, lineno == 1, unquoted, &out_len);
            if (r == AH_PART_HEADER)
                continue;
            if (r == AH_PART_UNQUOTED) {
                if (out_len > len - 2)
                    FAIL("unquoting made %zu bytes of %zu", out_len, len);
                line = unquoted;
                len = out_len;
            }
        }
        ah_line_status_t st = AH_LINE_TOOLONG;
        if (!truncated && ah_agg_add_line(agg, line, len, &st) != 0)
            FAIL("out of memory adding a line");
        if (st != AH_LINE_OK && ah_line_status_str(st)[0] == '?')
            FAIL("unknown line status %d", (int)st);
    }
    ah_input_close(in); /* a damaged gzip stream (rc < 0) ends the log early, as in ahead-build */
    (void)rc;
}

/* Opens, verifies and queries the snapshot written from entries. */
static void check_snapshot(const char *path, const ah_entry_t *e, size_t n, unsigned topk,
                           int words, const ah_write_context_t *ctx, size_t n_ctx)
{
    char err[256];
    ah_index_t *ix;
    if (ah_index_open(path, &ix, err, sizeof err) != 0)
        FAIL("a snapshot just written does not open: %s", err);
    if (ah_index_verify(ix, err, sizeof err) != 0)
        FAIL("a snapshot just written does not verify: %s", err);
    static ah_completion_t out[AH_MAX_K];
    static char text[AH_COMPLETE_TEXT_BYTES(16)];
    unsigned k = topk < 16 ? topk : 16;
    /* Each context's index holds exactly its completions; its first key completes, to a
     * completion of at least its score (a longer key may outrank it). */
    if (ah_index_context_count(ix) != n_ctx)
        FAIL("%u contexts in the snapshot, %zu written", ah_index_context_count(ix), n_ctx);
    for (size_t c = 0; c < n_ctx; c++) {
        const ah_index_t *in = ah_index_context(ix, ctx[c].value, ctx[c].value_len);
        ah_index_stats_t st;
        if (!in)
            FAIL("context %zu is not found by its value", c);
        ah_index_stats(in, &st);
        if (st.entries != ctx[c].n)
            FAIL("context %zu: %llu completions, %zu written", c, (unsigned long long)st.entries,
                 ctx[c].n);
        size_t got;
        int rc = ah_index_complete_key(in, ctx[c].entries[0].key, ctx[c].entries[0].key_len, 1, out,
                                       text, sizeof text, &got);
        if (rc != 0 || got != 1 || out[0].score < ctx[c].entries[0].score)
            FAIL("context %zu: its first key does not complete (rc %d)", c, rc);
    }
    /* The first keys, as keys and as their texts typed (which normalize to them). */
    for (size_t i = 0; i < n && i < 16; i++) {
        size_t got;
        int rc = ah_index_complete_key(ix, e[i].key, e[i].key_len, k, out, text, sizeof text, &got);
        if (rc != 0 || got == 0)
            FAIL("key %zu ('%.*s') completes to %zu answers, rc %d", i, (int)e[i].key_len, e[i].key,
                 got, rc);
        rc = ah_index_complete(ix, e[i].text, e[i].text_len, k, out, text, sizeof text, &got);
        if (rc != 0 || got == 0)
            FAIL("text %zu ('%.*s') completes to %zu answers, rc %d", i, (int)e[i].text_len,
                 e[i].text, got, rc);
        ah_lookup_options_t opt = {
            .k = k, .typos = AH_TYPOS_AUTO, .match = words ? AH_MATCH_WORDS : AH_MATCH_PREFIX};
        int complete;
        rc = ah_index_lookup(ix, e[i].text, e[i].text_len, &opt, out, text, sizeof text, &got,
                             &complete);
        if (rc != 0 || got == 0)
            FAIL("lookup of text %zu: %zu answers, rc %d", i, got, rc);
    }
    ah_index_close(ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    unsigned topk = 1 + (data[0] & 15), word_leaf = data[0] >> 4;
    static const unsigned buckets[4] = {16, 1, 2, 4};
    unsigned bucket = buckets[(data[1] >> 1) & 3], hot_sel = data[1] >> 4;
    int no_words = data[1] & 1;
    unsigned max_bytes = data[2] ? data[2] * 4u : 1;
    uint64_t min_count = data[3] & 3;
    int part_file = (data[3] >> 2) & 1;
    double weight = WEIGHTS[(data[3] >> 4) & 7];
    size_t bl_len = (size_t)data[4] | (size_t)data[5] << 8;
    data += 6;
    size -= 6;
    if (bl_len > size)
        bl_len = size;

    char err[256];
    ah_blocklist_t *bl = NULL;
    if (bl_len > 0) {
        int rc = ah_blocklist_load(tmp_file("bl", data, bl_len), &bl, err, sizeof err);
        if (rc != 0 && rc != AH_EUTF8 && rc != AH_EIO) /* EIO: a damaged gzip stream */
            FAIL("blocklist refused with %d: %s", rc, err);
    }
    ah_agg_t *agg = ah_agg_new(max_bytes);
    if (!agg)
        FAIL("out of memory");
    ah_agg_set_weight(agg, weight);
    read_log(tmp_file("log", data + bl_len, size - bl_len), part_file, agg);

    ah_entry_t *e;
    size_t n;
    ah_agg_counts_t counts;
    if (ah_agg_finish(agg, min_count, bl, &e, &n, &counts) != 0)
        FAIL("out of memory aggregating");
    if (counts.completions != n || counts.keys < n)
        FAIL("counts disagree: %zu entries", n);
    ah_write_context_t *contexts;
    size_t n_contexts;
    uint64_t memberships;
    if (ah_agg_contexts(agg, &contexts, &n_contexts, &memberships) != 0)
        FAIL("out of memory gathering contexts");
    check_spilled(data + bl_len, size - bl_len, max_bytes, weight, part_file, min_count, bl, e, n,
                  contexts, n_contexts);
    for (size_t c = 0; c < n_contexts; c++)
        if (contexts[c].n == 0 || contexts[c].value_len == 0 ||
            contexts[c].value_len > AH_MAX_CONTEXT_BYTES)
            FAIL("context %zu: %zu completions, a value of %u bytes", c, contexts[c].n,
                 contexts[c].value_len);
    if (n > 0) {
        ah_write_options_t wo = {.topk = topk,
                                 .contexts = contexts,
                                 .n_contexts = n_contexts,
                                 .bucket_size = bucket,
                                 .max_text_bytes = max_bytes,
                                 .hot_nodes = hot_sel == 0    ? (unsigned)(n / 256 + 16)
                                              : hot_sel == 15 ? 0
                                                              : 1u << hot_sel,
                                 .no_words = no_words,
                                 .word_leaf = word_leaf,
                                 /* half the time the builder's room for finer tries */
                                 .size_budget = hot_sel & 1 ? AH_SIZE_BUDGET : 0,
                                 .hot_nodes_room = (unsigned)(n / 64 + 16)};
        const char *snap = tmp_file("snap", NULL, 0);
        if (ah_snapshot_write(snap, e, n, &wo, NULL, err, sizeof err) != 0)
            FAIL("%zu completions do not build: %s", n, err);
        check_snapshot(snap, e, n, topk, !no_words, contexts, n_contexts);
    }
    ah_agg_free(agg);
    ah_blocklist_free(bl);
    return 0;
}
