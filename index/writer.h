/* SPDX-License-Identifier: MIT */
/*
 * writer.h: turning a sorted list of completions into a snapshot file. The
 * builder aggregates and normalizes; this writes the format of format.h,
 * atomically: a temporary file beside the target, fsync, rename, fsync of
 * the directory. A crash leaves the old file or the new one, never a mix.
 */
#ifndef AH_WRITER_H
#define AH_WRITER_H

#include "format.h"

#include <stddef.h>
#include <stdint.h>

/* One completion to write. The writer reads, never keeps, these pointers. */
typedef struct ah_entry {
    const char *key; /* normalized match key */
    uint32_t key_len;
    const char *text; /* display text; stored once when equal to the key */
    uint32_t text_len;
    uint64_t score;
} ah_entry_t;

/* A context value and the completions that belong to it, scored by their counts in it. */
typedef struct ah_write_context {
    const char *value; /* 1..AH_MAX_CONTEXT_BYTES bytes */
    uint32_t value_len;
    const ah_entry_t *entries; /* sorted by key, each one of the whole's; score > 0 */
    size_t n;                  /* >= 1 */
} ah_write_context_t;

typedef struct ah_write_options {
    unsigned topk;           /* 1..AH_MAX_TOPK */
    unsigned bucket_size;    /* 1..AH_MAX_BUCKET; 0 picks the default */
    unsigned max_text_bytes; /* 1..AH_MAX_TEXT_BYTES: recorded, and enforced */
    unsigned hot_nodes;      /* inner nodes that get inline answers (0: none but the root) */
    unsigned hot_nodes_room; /* as many when size_budget has room for them (0: no more) */
    int no_words;            /* leave the word-start index out (ahead-build --no-infix) */
    int no_typo;             /* leave the typo index out (ahead-build --no-typo-index) */
    unsigned word_leaf;      /* most entries per word-start leaf, 1..AH_MAX_WORD_LEAF; 0: default */
    size_t memory;           /* a budget in bytes that the typo index is built within (0: none) */
    int entries_on_disk;     /* the entries are a file's mapped pages (ahead-build's, when its
                                completions spilled): the word-start trie copies their suffixes
                                rather than read keys at random */
    long fills;              /* prefixes given a precomputed fill (FILLS in format.h); 0: none,
                                AH_FILLS_AUTO: n / 64, at least 1,024 */
    unsigned threads;        /* threads that walk the fills (0: one) */
    double size_budget;      /* the most a snapshot with the typo index may grow to for
                                optional speed, as a multiple of its exact index alone
                                (no_words, no_typo, no fills): smaller word-start leaves and
                                hot_nodes_room are taken only within it (0: never) */
    const ah_write_context_t *contexts; /* sorted by value bytes, strictly; NULL: none */
    size_t n_contexts;                  /* 0..AH_MAX_CONTEXTS */
    /* Called now and then from the writer's long passes over the entries, from any of its
     * threads, with entries_read_ctx (NULL: none): with entries_on_disk, ahead-build drops
     * their pages there when too many are mapped. */
    void (*entries_read)(void *ctx);
    void *entries_read_ctx;
} ah_write_options_t;

#define AH_DEFAULT_BUCKET   16
#define AH_FILLS_AUTO       (-1L)
#define AH_FILLS_AUTO_SHARE 64   /* completions per fill, by default */
#define AH_FILLS_AUTO_MIN   1024 /* and at least this many */
#define AH_SIZE_BUDGET      2.5  /* ahead-build's default size_budget */

/* What was written, for the builder's summary and the benchmarks. */
typedef struct ah_write_info {
    uint64_t file_bytes;
    uint64_t content_id;
    uint32_t inner_nodes;
    uint32_t word_entries;                      /* word starts after the first, indexed */
    uint32_t word_inner_nodes;                  /* records of the word-start trie */
    int word_leaves_near;                       /* its leaves were kept small a level deeper:
                                                   size_budget had room */
    int grams_shallower;                        /* for them, the gram table one level shallower */
    int hot_nodes_more;                         /* hot_nodes_room were taken: it had room */
    uint64_t section_bytes[AH_SECTION_MAX + 1]; /* by section id, padding included */
    unsigned stale_temps_removed; /* temporary files of killed writers, removed (outfile.h) */
    uint32_t fills;               /* prefixes given a fill */
    uint32_t fills_derived;       /* of them, worked out from a shorter one's, not walked */
    uint64_t temp_disk;           /* the most disk its temporary files beside path took */
    double fill_seconds;          /* spent choosing them and walking their fills */
} ah_write_info_t;

/*
 * ah_snapshot_write: writes n (>= 1) entries, sorted by key bytes with no
 * two keys equal, to path; with opt->contexts, each context's snapshot too
 * (format.h, CONTEXTS), built with the same options but for hot nodes (the
 * fewer of opt->hot_nodes and the context's n / 256) and the typo index
 * (left out of contexts under AH_CONTEXT_TYPO_MIN completions).
 *
 * Returns 0, AH_EINVAL (unsorted or duplicate keys, an empty or over-long key
 * or text, an option out of range, n == 0), AH_ENOMEM or AH_EIO (with the
 * system's reason in err). On failure path is untouched and no temporary
 * file is left behind; a writer killed at any point leaves path untouched and
 * at most a temporary file that the next successful write removes.
 */
int ah_snapshot_write(const char *path, const ah_entry_t *entries, size_t n,
                      const ah_write_options_t *opt, ah_write_info_t *info, char *err,
                      size_t errlen);

/*
 * ah_snapshot_precheck: in one pass over the sorted entries, before the
 * long work of writing, whether they certainly exceed the format's limits
 * (more than 2^32 - 2 completions, or keys or display texts that cannot fit
 * in their 32-bit offsets even front-coded). Returns 0 (they may fit; the
 * writer still checks every section) or AH_EINVAL with the reason in err.
 */
int ah_snapshot_precheck(const ah_entry_t *entries, size_t n, char *err, size_t errlen);

/*
 * The bytes of files this process has mapped and in memory (RssFile and
 * RssShmem, /proc/self/statm), which count in its resident size; SIZE_MAX
 * when unknown. The writer drops its draft's pages by it, and ahead-build
 * the pages of completions it mapped from disk.
 */
size_t ah_mapped_file_bytes(void);

/* Reads (writing 0) or writes len bytes at offset off of fd, whole; returns 0 or an errno. */
int ah_file_io(int fd, void *p, size_t len, uint64_t off, int writing);

#endif /* AH_WRITER_H */
