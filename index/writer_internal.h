/* SPDX-License-Identifier: MIT */
/*
 * writer_internal.h: what the snapshot writer's files share: a growable
 * byte buffer whose allocation failure sticks (so encoders need not check
 * every append), the word-start trie builder (writer_words.c) and the
 * typo index builder (writer_typo.c) that writer.c calls.
 */
#ifndef AH_WRITER_INTERNAL_H
#define AH_WRITER_INTERNAL_H

#include "bits.h"
#include "format.h"
#include "writer.h"

#include <stdlib.h>
#include <string.h>

/*
 * ah_write_options_t's entries_read, called by the passes over the entries
 * once every 2^AH_READ_EVERY_LOG2 entries (ah_read_tick(), with the index
 * of the pass), or of steps that read them at random: about a megabyte of
 * entries and keys read in order, or a few of a trie's nodes.
 */
typedef struct ah_read_hook {
    void (*fn)(void *ctx);
    void *ctx;
} ah_read_hook_t;

#define AH_READ_EVERY_LOG2 14

static inline void ah_read_tick(const ah_read_hook_t *h, uint64_t i)
{
    if (h && h->fn && (i & ((1u << AH_READ_EVERY_LOG2) - 1)) == 0)
        h->fn(h->ctx);
}

/* A growable byte buffer; an allocation failure sticks in `failed`. */
typedef struct buf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} buf_t;

static inline unsigned char *buf_grow(buf_t *b, size_t extra)
{
    if (b->failed)
        return NULL;
    /* A first append allocates even when empty: NULL + 0 is undefined in C. */
    if (!b->data || b->len + extra > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + extra)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return NULL;
        }
        b->data = d;
        b->cap = cap;
    }
    unsigned char *p = b->data + b->len;
    b->len += extra;
    return p;
}

static inline void buf_put(buf_t *b, const void *src, size_t n)
{
    unsigned char *p = buf_grow(b, n);
    if (p && n)
        memcpy(p, src, n);
}

static inline void buf_varint(buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    buf_put(b, tmp, ah_varint_put(tmp, v));
}

static inline void buf_uw(buf_t *b, uint32_t v, unsigned w)
{
    unsigned char *p = buf_grow(b, w);
    if (p)
        ah_store_uw(p, v, w);
}

/* Appends the section padding: AH_SECTION_PAD zeros, and up to 7 more for alignment. */
static inline void buf_pad(buf_t *b)
{
    size_t n = AH_SECTION_PAD + (8 - (b->len + AH_SECTION_PAD) % 8) % 8;
    unsigned char *p = buf_grow(b, n);
    if (p)
        memset(p, 0, n);
}

/* What the word-start trie builder reports. */
typedef struct ah_words_info {
    uint32_t entries;     /* word starts indexed */
    uint32_t inner_nodes; /* records in WORD_NODES */
    uint32_t root;        /* the root record's offset (0 when there are no entries) */
    unsigned id_bits;     /* width of WORD_ENTRIES values */
} ah_words_info_t;

/*
 * Where a section streamed to the side file goes while it is made
 * (writer.c): begin() learns the most the section can grow to before its
 * first byte is appended to the section's buffer, and flush() is called
 * after bytes were, may take them out of it, and returns how many of the
 * section's bytes are no longer in the buffer (its length so far is that
 * and the buffer's). The word-start trie and GRAM_BLOCKS come so.
 */
typedef struct ah_section_out {
    void (*begin)(void *ctx, uint64_t most);
    uint64_t (*flush)(void *ctx);
    void *ctx;
} ah_section_out_t;

/*
 * The most a trie's records over `strings` strings of `bytes` bytes in all
 * can take (NODES, WORD_NODES), to set a streamed region aside: each inner
 * node's fixed fields and list (at most 18 + 14 topk bytes; at most one
 * node per string, and the root), 9 bytes per child (fewer than twice the
 * strings) and the labels (no more than the strings' bytes); never past
 * the format's 32-bit offsets and one last record.
 */
static inline uint64_t ah_writer__nodes_most(uint64_t strings, uint64_t bytes, unsigned topk)
{
    uint64_t most = bytes + (strings + 1) * (18 + 14 * (uint64_t)topk) + 2 * strings * 9;
    uint64_t past = (uint64_t)UINT32_MAX + 65536;
    return most < past ? most : past;
}

/* Where the word-start trie's sections go while it is made: NULL, in memory. */
typedef struct ah_words_outs {
    const ah_section_out_t *nodes, *entries, *look;
} ah_words_outs_t;

/*
 * Builds the word-start trie (format.h, WORD_NODES and WORD_ENTRIES) over
 * the n sorted entries e, whose score classes are class_of (lex id -> class),
 * with top-k lists of topk and leaves of at most leaf entries (fewer near the
 * root, and with near set, fewer down to a few code points' depth: faster
 * typo passes for more bytes). Appends to
 * nodes and entries, and with look not NULL gives each record its look
 * field and appends its children's entries to look (WORD_LOOK).
 * WORD_ENTRIES is appended to entries part by part; each section goes
 * through its out in outs when that is not NULL. With
 * memory not 0, the suffixes held at once (16 bytes each, and a copy of
 * each when they are held in parts) take at most that, or one first
 * byte's when those alone take more: the same bytes. With copy set the
 * suffixes are copied even when they fit in one part.
 * Returns 0, AH_ENOMEM or AH_EINVAL (too large).
 */
int ah_writer__words(const ah_entry_t *e, uint32_t n, const uint32_t *class_of, unsigned topk,
                     unsigned leaf, int near, size_t memory, int copy, const ah_read_hook_t *read,
                     buf_t *nodes, buf_t *entries, const ah_words_outs_t *outs, buf_t *look,
                     ah_words_info_t *info);

/* The suffixes the word-start trie over e[0..n) is built from: 16 bytes each while it is. */
uint64_t ah_writer__word_starts(const ah_entry_t *e, uint32_t n, const ah_read_hook_t *read);

/* String i of a sorted set (a key, or a suffix of one), and its length in *len. */
typedef const unsigned char *(*ah_str_fn)(const void *ctx, uint32_t i, uint32_t *len);

/*
 * The LOOK entry (format.h) of a child whose strings are [lo, hi) of a
 * byte-sorted set, all sharing their first p + 1 bytes (the edge byte at p).
 */
uint64_t ah_writer__look(ah_str_fn str, const void *ctx, uint32_t lo, uint32_t hi, uint32_t p);

/* Appends one LOOK entry. */
void ah_writer__look_put(buf_t *look, uint64_t entry);

/*
 * Builds the gram table (format.h, GRAM_SLOTS and GRAM_BLOCKS) of depths 2
 * to depth over the n sorted entries e, and their word-start suffixes when
 * words is set, within a budget of memory bytes as ah_writer__grams_begin()
 * (0: none). Appends to slots and blocks and stores the slot count in
 * *n_slots. Returns 0, AH_ENOMEM or AH_EINVAL (a section over 4 GiB).
 */
int ah_writer__grams(const ah_entry_t *e, uint32_t n, int words, unsigned depth, size_t memory,
                     buf_t *slots, buf_t *blocks, uint32_t *n_slots);

/*
 * The CHOSEONG section's records (format.h) of keys e[0..n) ranked by
 * class_of, appended to out without padding; nothing when no key has a
 * Hangul run. Returns 0 or AH_ENOMEM. Verify rebuilds it to compare.
 */
int ah_writer__choseong(const ah_entry_t *e, uint32_t n, const uint32_t *class_of,
                        const ah_read_hook_t *read, buf_t *out);

/*
 * The same in three steps, so that two threads can share the work: begin
 * (one thread: finds every string), work (any number of threads, each
 * returning when no depth is left), end (after every work call has
 * returned: appends depths 2 to `depth` in order, through blocks_out when
 * it is not NULL, fills the slots, frees; with slots NULL it only frees).
 * ah_writer__grams_end() returns what ah_writer__grams() does, or AH_EIO
 * with errno set when the scratch file failed. The table of a shallower
 * depth is the deeper one's first depths (the same bytes as one built to
 * that depth), so the writer may choose how deep once they are built:
 * ah_writer__grams_bytes() is what the two sections would take, unpadded.
 */
typedef struct ah_grams_build ah_grams_build_t;
/* memory: a budget in bytes (0: none); a depth whose records would not fit in a
 * quarter of it is built in parts, the same bytes at the cost of reading the keys again.
 * scratch_fd: an empty file (or -1) for what is over every string, under that budget.
 * read (NULL: none) is called as the keys are read. */
int ah_writer__grams_begin(ah_grams_build_t **gb, const ah_entry_t *e, uint32_t n, int words,
                           unsigned depth, size_t memory, int scratch_fd,
                           const ah_read_hook_t *read);
void ah_writer__grams_work(ah_grams_build_t *gb);
uint64_t ah_writer__grams_bytes(const ah_grams_build_t *gb, unsigned depth);
int ah_writer__grams_end(ah_grams_build_t *gb, unsigned depth, buf_t *slots, buf_t *blocks,
                         const ah_section_out_t *blocks_out, uint32_t *n_slots);

/*
 * The FILLS section (writer_fills.c). A prefix that may get a fill: the
 * first len bytes of key lo, which count keys (< K) from lo on begin with,
 * whose scores sum to mass (saturating).
 */
typedef struct ah_fill_prefix {
    uint64_t mass;
    uint32_t lo, count, len;
} ah_fill_prefix_t;

#define AH_FILL_MAX_THREADS 64

/*
 * The `want` most popular prefixes of the sorted entries e[0..n) that may
 * get a fill (format.h, FILLS), sorted by (lo, len), into *out (malloc'd;
 * *n_out of them), calling read as it goes (NULL: none). Returns 0 or
 * AH_ENOMEM.
 */
int ah_writer__fill_choose(const ah_entry_t *e, uint32_t n, unsigned topk, size_t want,
                           const ah_read_hook_t *read, ah_fill_prefix_t **out, size_t *n_out);

/*
 * Appends the FILLS section (unpadded) for prefixes p[0..n) of the keys e
 * to out, each prefix's fill walked on ix, a snapshot of the same entries
 * (threads at once), or worked out from a shorter prefix's (*derived of
 * them, when derived is not NULL); a prefix whose walk was not complete is
 * marked so. With a memory budget (0: none) that ix is large against, the
 * pages of ix that the walks read are dropped whenever the process has more
 * than half of the budget of files mapped, and read (NULL: none) is
 * called as often. Returns 0, AH_ENOMEM, AH_EINVAL (over 4 GiB) or
 * AH_ECORRUPT.
 */
struct ah_index;
int ah_writer__fills(const struct ah_index *ix, const ah_entry_t *e, const ah_fill_prefix_t *p,
                     size_t n, unsigned threads, size_t memory, const ah_read_hook_t *read,
                     buf_t *out, size_t *derived);

#endif /* AH_WRITER_INTERNAL_H */
