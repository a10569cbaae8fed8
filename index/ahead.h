/* SPDX-License-Identifier: MIT */
/*
 * ahead.h: the public API of libahead, the lookup library shared by the
 * builder, the query tool, the server and the benchmarks.
 *
 * Three parts live here:
 *
 *   - the error convention: every function returns int, 0 on success or a
 *     negative AH_E* code; results come back through out-parameters, and
 *     ah_strerror() turns a code into text;
 *   - normalization: how a text or a typed prefix becomes the match key
 *     (NFKC, case fold, marks stripped, whitespace collapsed);
 *   - the snapshot: open a file written by ahead-build, ask it for the top
 *     completions of a prefix, read its facts, close it.
 *
 * Thread safety: an open ah_index_t is immutable. Any number of threads may
 * call ah_index_complete() and ah_index_stats() on the same snapshot at once;
 * ah_index_close() must not race with them (the server keeps a reference
 * count for that).
 *
 * The byte layout of the snapshot file is documented in index/format.h and
 * nowhere else.
 */
#ifndef AHEAD_H
#define AHEAD_H

#include <stddef.h>
#include <stdint.h>

#define AH_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- errors */

#define AH_OK       0
#define AH_ENOMEM   (-1) /* an allocation failed */
#define AH_EIO      (-2) /* a file could not be read, written or mapped */
#define AH_ECORRUPT (-3) /* a snapshot failed a structural or checksum check */
#define AH_EVERSION (-4) /* a snapshot of a format version we do not read */
#define AH_EINVAL   (-5) /* an argument outside its documented range */
#define AH_ETOOLONG (-6) /* a text or prefix longer than the limit allows */
#define AH_EUTF8    (-7) /* a text or prefix that is not valid UTF-8 */
#define AH_ENOSPC   (-8) /* a caller-supplied buffer is too small */

/* Returns a static, human-readable description of an AH_E* code. */
const char *ah_strerror(int code);

/* ---------------------------------------------------------- normalization */

/*
 * The longest normalized key, in bytes, that a snapshot may hold or a prefix
 * may normalize to. NFKC can expand a text (one ligature becomes up to 18
 * code points), so keys get more room than the displayed texts.
 */
#define AH_MAX_KEY_BYTES 2048

/* The largest k a snapshot can be built for (ahead-build --topk). */
#define AH_MAX_K 255

/* The longest displayed text a snapshot may hold (ahead-build --max-bytes). */
#define AH_MAX_TEXT_BYTES 1024

/*
 * ah_normalize_key: turn a UTF-8 text into its match key.
 *
 * The key is Unicode NFKC, case-folded, with combining marks stripped; every
 * run of whitespace (ASCII or Unicode, tabs included) becomes one ASCII space
 * and leading and trailing whitespace is dropped. When keep_trailing_space is
 * non-zero and the input ends in whitespace after some non-space text, one
 * trailing space is kept: that is how a typed prefix "new " is told apart
 * from "new".
 *
 * in/len:   the input (need not be NUL-terminated).
 * out/cap:  caller storage for the key; AH_MAX_KEY_BYTES is always enough
 *           for a key the snapshot can hold. The key is not NUL-terminated.
 * out_len:  receives the key's length.
 *
 * Allocates nothing. Returns 0, AH_EUTF8 when the input is not valid UTF-8
 * (or holds a NUL or a surrogate), or AH_ETOOLONG when the key would not fit
 * in cap bytes.
 */
int ah_normalize_key(const char *in, size_t len, char *out, size_t cap, size_t *out_len,
                     int keep_trailing_space);

/*
 * ah_normalize_surface: the displayed form of a text: whitespace runs
 * collapsed to one ASCII space and trimmed, case and accents kept. Checks
 * that the input is valid UTF-8. Returns 0, AH_EUTF8 or AH_ETOOLONG.
 */
int ah_normalize_surface(const char *in, size_t len, char *out, size_t cap, size_t *out_len);

/* --------------------------------------------------------------- snapshot */

typedef struct ah_index ah_index_t;

/* One completion returned by ah_index_lookup() or ah_index_complete(). */
typedef struct ah_completion {
    const char *text; /* UTF-8 display text; points into the caller's text buffer */
    uint32_t text_len;
    uint64_t score; /* summed count, exact */
    uint8_t typos;  /* edit distance of the match (0..2) */
    uint8_t mid;    /* 1: matched at a word start after the first ("york" in "new york") */
    /* The highlight: code points [span_start, span_end) of text matched the prefix. */
    uint32_t span_start, span_end;
} ah_completion_t;

/* Where a prefix may match (ah_lookup_options_t.match). */
typedef enum ah_match_mode {
    AH_MATCH_PREFIX = 0, /* at the start of the text only */
    AH_MATCH_WORDS = 1   /* at any word start (the default) */
} ah_match_mode_t;

#define AH_TYPOS_AUTO (-1) /* 0 typos below 4 code points, 1 below 8, then 2 */

typedef struct ah_lookup_options {
    unsigned k;            /* 1..topk */
    int typos;             /* AH_TYPOS_AUTO, or 0..2: at most that many, and never more than auto */
    ah_match_mode_t match; /* AH_MATCH_WORDS needs the word-start index; without it, PREFIX */
} ah_lookup_options_t;

/*
 * The option words every front end takes (ahead-serve's typos= and match=
 * and its flags, ahead-query, ahead-bench-lookup), len bytes, not
 * NUL-terminated: ah_parse_typos reads "auto", "0", "1" or "2";
 * ah_parse_match reads "prefix" or "words". Return 0 and set the value, or
 * -1 and leave it.
 */
int ah_parse_typos(const char *s, size_t len, int *typos);
int ah_parse_match(const char *s, size_t len, ah_match_mode_t *match);

/* Facts about an open snapshot, all read from its header. */
typedef struct ah_index_stats {
    uint32_t format_version;
    uint32_t topk;           /* length of the precomputed lists; the largest k */
    uint64_t entries;        /* completions */
    uint64_t file_bytes;     /* size of the snapshot file */
    uint64_t content_id;     /* hash of the content: the snapshot id */
    char id_hex[17];         /* content_id as 16 lowercase hex digits */
    uint32_t max_text_bytes; /* longest display text the builder accepted */
    uint32_t max_key_bytes;  /* longest key stored */
    uint32_t inner_nodes;    /* trie nodes that carry a top-k list */
    uint32_t bucket_size;    /* keys per front-coded bucket */
    int has_words;           /* the word-start index was built (ahead-build without --no-infix) */
    uint32_t word_entries;   /* word starts after the first, indexed */
    uint32_t word_nodes;     /* inner nodes of the word-start trie */
    uint32_t word_leaf;      /* most entries per word-start leaf */
    int has_typo_index;      /* the typo index was built (ahead-build without --no-typo-index) */
    uint32_t typo_depth;     /* deepest head in its gram table */
    uint64_t total_score;    /* sum of all scores (saturating) */
    uint32_t contexts;       /* context values (0: the snapshot has no contexts) */
    uint32_t fills;          /* prefixes with a precomputed fill (ahead-build --fills) */
    /* Bytes of each section, by id (format.h), padding included; [0] unused. */
    uint64_t section_bytes[19];
} ah_index_stats_t;

/*
 * Caller storage for the texts of k completions: every returned text is
 * copied there, so it lives as long as the caller keeps the buffer.
 */
#define AH_COMPLETE_TEXT_BYTES(k) ((size_t)(k)*AH_MAX_TEXT_BYTES)

/*
 * ah_index_open: map a snapshot file read-only and check its header, its
 * section table and every section's bounds. It does no work proportional to
 * the file's size: checksums are left to ah_index_verify().
 *
 * path: the file. out: receives the open snapshot, owned by the caller until
 * ah_index_close(). err/errlen: optional (may be NULL/0); on failure receives
 * a one-line message naming what was wrong.
 *
 * Returns 0, AH_EIO (cannot open, stat or map), AH_ECORRUPT (bad magic,
 * truncated, a section out of bounds, an inconsistent count), AH_EVERSION
 * (another format version) or AH_ENOMEM.
 */
int ah_index_open(const char *path, ah_index_t **out, char *err, size_t errlen);

/*
 * ah_index_open_fd: as ah_index_open(), on a regular file the caller opened
 * read-only. The descriptor stays the caller's: the mapping does not need it
 * once this returns, but a caller may keep it to hold a lease on the file
 * (see ah_index_detach). name is used in messages only.
 */
int ah_index_open_fd(int fd, const char *name, ah_index_t **out, char *err, size_t errlen);

/*
 * ah_index_detach: copies the snapshot out of its file into anonymous
 * memory at the same address, after which the file may be rewritten or
 * truncated without affecting the open snapshot. The copy is advised into
 * transparent huge pages (2 MB), where the kernel gives them.
 *
 * A snapshot is mapped from its file, so a file rewritten in place (cp onto
 * it, truncate) changes or removes the pages lookups read, and reading a
 * page past a new end of file kills the process with SIGBUS. Replacing a
 * snapshot by rename never does that; a caller that cannot rule out writes
 * in place takes a read lease on the file and detaches when it is broken.
 *
 * A caller may also detach a snapshot on purpose before it serves: lookups
 * that walk a large snapshot run faster in huge pages (on npm-downloads'
 * 153 MB, the typo-tolerant lookups' p99 0.88-0.92x: bench/RESULTS.md),
 * at the cost of the file's size in the process's own memory, where a
 * mapping shares the page cache with every process that maps the file.
 *
 * Lookups may run on other threads meanwhile. Costs the file's size in
 * memory, and the file must not be changing while it is copied. Returns 0,
 * or AH_ENOMEM with a message (the snapshot is then still mapped from its
 * file).
 */
int ah_index_detach(ah_index_t *idx, char *err, size_t errlen);

/*
 * ah_index_detach_paced: ah_index_detach(), calling pace(arg) after every
 * AH_PACE_BYTES copied (NULL: never; see ah_index_verify_checksums_paced).
 * With fd >= 0, a descriptor of the snapshot's file, the bytes are read
 * with pread() rather than through the mapping (cheaper where nothing has
 * touched the mapping yet); AH_EIO if a read fails, the snapshot then
 * still mapped from its file.
 */
#define AH_PACE_BYTES (1u << 20)
typedef void (*ah_pace_fn)(void *arg);
int ah_index_detach_paced(ah_index_t *idx, int fd, ah_pace_fn pace, void *arg, char *err,
                          size_t errlen);

/* ah_index_detached: 1 when the snapshot is a private copy (detached), 0 when it is mapped. */
int ah_index_detached(const ah_index_t *idx);

/*
 * ah_index_memory: how the snapshot is held, for logs and status pages:
 * "copy, huge pages" (detached, advised into huge pages the kernel gives),
 * "copy" or "map".
 */
const char *ah_index_memory(const ah_index_t *idx);

/*
 * ah_huge_pages_available: 1 when the kernel gives transparent huge pages
 * to memory advised for them (/sys/kernel/mm/transparent_hugepage/enabled
 * is "madvise" or "always"), else 0.
 */
int ah_huge_pages_available(void);

/*
 * ah_index_prefault: fills the mapping's page tables in one call
 * (MADV_POPULATE_READ, Linux 5.14), for a file already in the page cache:
 * 2-4 ms for 92 MB here, where lookups that fault the pages in one at a
 * time would pay tens of milliseconds between them after a hot swap.
 * Returns 0, or -1 where the kernel cannot (nothing is lost).
 */
int ah_index_prefault(const ah_index_t *idx);

/*
 * ah_index_verify: deep check of an open snapshot: the whole-file checksum,
 * every section's checksum and the content id, then a walk over every key,
 * trie node and list, checking order, ranges and that each list really is
 * its node's top-k. Proportional to the file's size. Returns 0 or
 * AH_ECORRUPT with a message in err.
 */
int ah_index_verify(const ah_index_t *idx, char *err, size_t errlen);

/*
 * ah_index_verify_checksums: the first part of ah_index_verify() alone: the
 * whole-file and per-section CRC-32s. Catches a damaged or half-copied file
 * at memory speed (tens of milliseconds for 60 MB), without recomputing the
 * content id or walking the structures. Returns 0 or AH_ECORRUPT with a
 * message.
 */
int ah_index_verify_checksums(const ah_index_t *idx, char *err, size_t errlen);

/*
 * ah_index_verify_checksums_paced: ah_index_verify_checksums(), calling
 * pace(arg) after every AH_PACE_BYTES checked (a fraction of a millisecond
 * of CPU), so that a server can bound how long its reload holds a core (a
 * short sleep) without knowing the file's layout. With fd >= 0, a
 * descriptor of the snapshot's file, the bytes are read with pread()
 * rather than through the mapping: on virtual machines that is several
 * times cheaper for a mapping nothing has touched yet. AH_EIO if a read
 * fails.
 */
int ah_index_verify_checksums_paced(const ah_index_t *idx, int fd, ah_pace_fn pace, void *arg,
                                    char *err, size_t errlen);

/*
 * ah_index_lookup: the k best matches of a typed prefix, typos and word
 * starts allowed as the options say (docs/matching.md is the contract):
 * matches are ranked by (typos, mid-phrase, score descending, key bytes
 * ascending), so every exact prefix match comes first, then every exact
 * match at a later word start, then the one-typo matches, and so on.
 *
 * prefix/len: the typed prefix, UTF-8, not normalized (this function
 *             normalizes it, keeping one trailing space if it ended in one).
 * opt:        k (1..topk), typos, match mode.
 * out:        caller storage for at least k completions, best first.
 * text/cap:   caller storage for their texts; AH_COMPLETE_TEXT_BYTES(k) is
 *             always enough. out[i].text points into it.
 * n_out:      receives how many completions were written (0..k).
 * complete:   receives 1, or 0 when the search for typo matches stopped at
 *             its work bound (AH_LOOKUP_MAX_WORK nodes and keys visited, or a
 *             full frontier): the answer is then the best found, not
 *             necessarily the contract's. Exact prefix matches are always
 *             complete.
 *
 * Allocates nothing (its scratch, about 270 KB, is on the stack: call it
 * from a thread with a stack of 512 KB or more; a Korean prefix that ends
 * in a trailing consonant, or of initial consonants, merges two answers
 * in about 540 KB of this thread's storage, static TLS) and is safe to
 * call from many threads on one snapshot. Returns 0, AH_EINVAL (k or an
 * option out of range), AH_EUTF8 (prefix not valid UTF-8), AH_ETOOLONG
 * (normalized prefix longer than AH_MAX_KEY_BYTES), AH_ENOSPC (text buffer
 * too small) or AH_ECORRUPT (the walk met a structure that fails its bounds
 * checks: the file is damaged; nothing out of bounds was read).
 */
int ah_index_lookup(const ah_index_t *idx, const char *prefix, size_t len,
                    const ah_lookup_options_t *opt, ah_completion_t *out, char *text, size_t cap,
                    size_t *n_out, int *complete);

/* ah_index_lookup_key: as ah_index_lookup() for an already normalized key prefix. */
int ah_index_lookup_key(const ah_index_t *idx, const char *key, size_t len,
                        const ah_lookup_options_t *opt, ah_completion_t *out, char *text,
                        size_t cap, size_t *n_out, int *complete);

/* How many trie nodes and keys one lookup's typo search may visit before it gives up. */
#define AH_LOOKUP_MAX_WORK 40000

/*
 * ah_index_complete: the k best exact prefix completions: ah_index_lookup()
 * with typos 0 and match prefix, which is always complete. Ordered by score
 * descending, ties by key bytes ascending. The empty prefix gives the
 * overall top k.
 */
int ah_index_complete(const ah_index_t *idx, const char *prefix, size_t len, unsigned k,
                      ah_completion_t *out, char *text, size_t cap, size_t *n_out);

/*
 * ah_index_complete_key: as ah_index_complete() but for an already
 * normalized key prefix (no normalization is done). For the tests and tools.
 */
int ah_index_complete_key(const ah_index_t *idx, const char *key, size_t len, unsigned k,
                          ah_completion_t *out, char *text, size_t cap, size_t *n_out);

/*
 * Contexts: a snapshot built from lines with a third field holds, for each
 * context value, the index of the completions that belong to it, scored by
 * their counts in it (format.h, CONTEXTS). Every lookup function above runs
 * on such an index as on any, with the same contract.
 *
 * ah_index_context: the index of context value [value, value + len), or NULL
 * when the snapshot has no such value. It belongs to idx: valid until
 * ah_index_close(idx), never closed on its own.
 * ah_index_context_count: how many values (0 without contexts).
 * ah_index_context_value: value i (< count), in byte order, its length in
 * *len; NULL past the end. ah_index_context_at: value i's index.
 */
const ah_index_t *ah_index_context(const ah_index_t *idx, const char *value, size_t len);
uint32_t ah_index_context_count(const ah_index_t *idx);
const char *ah_index_context_value(const ah_index_t *idx, uint32_t i, size_t *len);
const ah_index_t *ah_index_context_at(const ah_index_t *idx, uint32_t i);

/*
 * ah_context_value_check: trims the ASCII spaces around a context value
 * (moving *value and *len) and checks what is left: 1..AH_MAX_CONTEXT_BYTES
 * (64) bytes of valid UTF-8 with no comma and no control character (C0,
 * DEL, C1). Returns 0, AH_EINVAL (empty, a comma or a control character),
 * AH_ETOOLONG or AH_EUTF8. The builder applies it to each value of a line,
 * the server to context=.
 */
int ah_context_value_check(const char **value, size_t *len);

/* ah_index_stats: copies the snapshot's facts into *st. Never fails. */
void ah_index_stats(const ah_index_t *idx, ah_index_stats_t *st);

/* ah_index_close: unmaps and frees. No operation is performed if idx is NULL. */
void ah_index_close(ah_index_t *idx);

#endif /* AHEAD_H */
