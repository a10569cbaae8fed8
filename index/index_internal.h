/* SPDX-License-Identifier: MIT */
/*
 * index_internal.h: what the reader (index.c) and the deep verifier
 * (verify.c) share: the open snapshot's struct, the key cursor that walks
 * the front-coded keys, and the node record parser. Every accessor here
 * checks the offsets it reads against its section's end and reports
 * AH_ECORRUPT instead of reading past it.
 */
#ifndef AH_INDEX_INTERNAL_H
#define AH_INDEX_INTERNAL_H

#include "ahead.h"
#include "bits.h"
#include "format.h"

#include <stdint.h>
#include <string.h>

/* One mapped section: its bytes without the trailing padding, and its CRC. */
typedef struct ah_section {
    const unsigned char *data;
    uint64_t len;      /* usable bytes; AH_SECTION_PAD more are readable */
    uint32_t crc;      /* from the section table */
    uint64_t file_off; /* offset in the file */
} ah_section_t;

struct ah_index {
    const unsigned char *map; /* at a huge page boundary where the address space allowed */
    uint64_t size;
    int detached;   /* map is a private copy of the file (ah_index_detach) */
    int huge_pages; /* ... advised into transparent huge pages that the kernel gives */
    uint32_t n;
    uint32_t topk;
    uint32_t bucket; /* a power of two */
    unsigned bucket_shift;
    uint32_t n_buckets;
    uint32_t max_text;
    uint32_t max_key;
    uint32_t inner_nodes;
    uint32_t class_bits;
    uint32_t n_scores;
    uint32_t root;
    uint32_t hot_max_len; /* longest prefix in the hot prefix table */
    uint64_t content_id;
    uint64_t total_score;
    uint32_t flags;
    uint32_t word_entries, word_nodes, word_root, word_leaf;
    uint32_t id_bits;                     /* width of WORD_ENTRIES values */
    uint32_t typo_depth;                  /* 0 without the typo index */
    uint32_t gram_slots;                  /* entries of GRAM_SLOTS, a power of two */
    uint32_t look_n, word_look_n;         /* entries of LOOK and WORD_LOOK */
    uint32_t fill_slots, fills;           /* FILLS: slots (a power of two) and entries; 0: none */
    unsigned n_sec;                       /* sections in the table */
    unsigned sec_ids[AH_SECTION_MAX];     /* their ids, in table order */
    ah_section_t sec[AH_SECTION_MAX + 1]; /* indexed by section id; absent ones empty */
    /* Contexts (format.h, CONTEXTS): m values in byte order, and each one's
     * snapshot, a view into this one's mapping. NULL in a context's own. */
    uint32_t n_contexts;
    const unsigned char **ctx_value;
    uint32_t *ctx_value_len;
    struct ah_index *ctx_ix;
};

/* One front-coded key bucket, parsed (see KEYS in format.h); pointers into the mapping. */
typedef struct ah_bucket {
    uint32_t count; /* keys in the bucket */
    unsigned w;     /* bytes per length: 1 or 2 */
    const unsigned char *shared, *added;
    const unsigned char *bitmap;   /* NULL when no key here has a display text */
    const unsigned char *displays; /* u32 DISPLAY offsets */
    uint32_t n_displays;
    const unsigned char *bytes; /* the added bytes */
    uint32_t bytes_len;
} ah_bucket_t;

/* Parses bucket b (< n_buckets), checking that its arrays fit. Returns 0 or AH_ECORRUPT. */
int ah_index__bucket(const ah_index_t *ix, uint32_t b, ah_bucket_t *bk);

/*
 * Length j of a bucket's array of lengths w bytes wide (1, or 2 little-endian).
 * Callers that pass w as a constant get a loop of their own for each width.
 */
static inline uint32_t ah_bucket_len(const unsigned char *lengths, unsigned w, uint32_t j)
{
    return w == 1 ? lengths[j] : (uint32_t)lengths[2 * j] | lengths[2 * j + 1] << 8;
}

/* S[j] and A[j] of a parsed bucket. */
static inline uint32_t ah_bucket_shared(const ah_bucket_t *bk, uint32_t j)
{
    return ah_bucket_len(bk->shared, bk->w, j);
}

static inline uint32_t ah_bucket_added(const ah_bucket_t *bk, uint32_t j)
{
    return ah_bucket_len(bk->added, bk->w, j);
}

/* The DISPLAY offset of key j of the bucket, or UINT64_MAX when its text is the key. */
uint64_t ah_index__bucket_display(const ah_bucket_t *bk, uint32_t j);

/*
 * A position in the front-coded keys for walking them in order: the key of
 * lex id `id` decoded into key[0..len). Holds AH_MAX_KEY_BYTES, so it lives
 * on a stack or the heap, not in a struct that is copied around.
 */
typedef struct ah_key_cursor {
    const ah_index_t *ix;
    uint32_t id;
    uint32_t j;   /* id's position in its bucket */
    uint32_t pos; /* where key j+1's added bytes start */
    ah_bucket_t bk;
    uint64_t display; /* offset in DISPLAY, or UINT64_MAX when text == key */
    uint32_t len;
    char key[AH_MAX_KEY_BYTES];
} ah_key_cursor_t;

/* Positions c on lex id `id` (< n). Returns 0 or AH_ECORRUPT. */
int ah_index__cursor_seek(ah_key_cursor_t *c, const ah_index_t *ix, uint32_t id);

/*
 * Moves c to the next lex id (which must be < n). Leaving a bucket checks
 * that its added bytes were used up exactly. Returns 0 or AH_ECORRUPT.
 */
int ah_index__cursor_next(ah_key_cursor_t *c);

/*
 * Starts loading what the answers of lex ids ids[0..n) (< n each) read: their
 * buckets' offsets and score classes, then their buckets. The ids are
 * independent random reads; touching each section for all ids before the
 * next lets the misses overlap instead of queueing one behind the other.
 */
void ah_index__prefetch_answers(const ah_index_t *ix, const uint32_t *ids, size_t n);

/* The score class of lex id `id` (< n). Cannot fail: open checked CLASSES's size. */
uint32_t ah_index__class(const ah_index_t *ix, uint32_t id);

/* The score of class cls. Returns 0, or AH_ECORRUPT when there is no such class. */
int ah_index__score(const ah_index_t *ix, uint32_t cls, uint64_t *score);

/*
 * Decodes key `id` (< n) into key (AH_MAX_KEY_BYTES of room) without walking
 * the keys before it in its bucket; stores its DISPLAY offset (UINT64_MAX if
 * none). Returns 0 or AH_ECORRUPT.
 */
int ah_index__key_at(const ah_index_t *ix, uint32_t id, char *key, uint32_t *len,
                     uint64_t *display);

/*
 * The display text of `id` (< n) into *text and *len: from DISPLAY when it
 * has one of its own, without decoding the key; else the key, decoded into
 * key (AH_MAX_KEY_BYTES of room). Returns 0 or AH_ECORRUPT.
 */
int ah_index__text_at(const ah_index_t *ix, uint32_t id, char *key, const char **text,
                      uint32_t *len);

/*
 * The text shown for a key: the key itself (display == UINT64_MAX) or its
 * DISPLAY record. *text points into key or the mapping. Returns 0 or
 * AH_ECORRUPT (a bad record, or a text longer than max text bytes).
 */
int ah_index__display(const ah_index_t *ix, uint64_t display, const char *key, uint32_t key_len,
                      const char **text, uint32_t *len);

/* A parsed inner node record; pointers into the mapping. */
typedef struct ah_node {
    uint32_t offset; /* of the record in NODES */
    const unsigned char *label;
    uint32_t label_len;
    uint32_t count;
    uint32_t n_children;
    unsigned wr, wp;
    const unsigned char *child_bytes;
    const unsigned char *child_lo;  /* n_children x wr */
    const unsigned char *child_ptr; /* n_children x wp */
    uint32_t list_len;
    const unsigned char *list; /* list_len x wr */
    int hot;                   /* inline answers follow the list */
    const unsigned char *look; /* child 0's LOOK entry (checked in bounds), NULL without */
} ah_node_t;

/*
 * Parses the record at offset off, checking that it lies inside NODES and
 * that its list length is min(topk, count). The per-entry checks are left to
 * the two accessors below, so a lookup pays only for what it reads. Returns
 * 0 or AH_ECORRUPT.
 */
int ah_index__node_parse(const ah_index_t *ix, uint32_t off, ah_node_t *node);

/*
 * Parses a record of the word-start trie (format.h, WORD_NODES) at offset
 * off, with the same checks adapted: count in entries, a list of 1 to
 * min(topk, count) entries, no inline answers. Returns 0 or AH_ECORRUPT.
 */
int ah_index__word_node_parse(const ah_index_t *ix, uint32_t off, ah_node_t *node);

/* The lex id of word-start entry pos (< word_entries); AH_ECORRUPT when it is not below n. */
static inline int ah_index__word_entry(const ah_index_t *ix, uint32_t pos, uint32_t *id)
{
    *id = (uint32_t)ah_bits_get(ix->sec[AH_SEC_WORD_ENTRIES].data, (uint64_t)pos * ix->id_bits,
                                ix->id_bits);
    return *id < ix->n ? 0 : AH_ECORRUPT;
}

/*
 * Child j's range [*lo, *hi) relative to its parent, and its record offset
 * (UINT32_MAX for a light child, which has no record). Checks that the range
 * is non-empty and inside the node and that the pointer goes backwards.
 * Returns 0 or AH_ECORRUPT.
 */
int ah_index__node_child(const ah_node_t *node, uint32_t j, uint32_t *lo, uint32_t *hi,
                         uint32_t *child_off);

/* List entry i (< list_len), relative to the node's lo; checked below count. */
int ah_index__node_list(const ah_node_t *node, uint32_t i, uint32_t *rel);

/*
 * Reads the inline answer at *p of a hot node (start: node->list +
 * list_len * wr), advancing *p: its score, and its text in HOT_TEXTS.
 * *text points into the mapping. Returns 0 or AH_ECORRUPT.
 */
int ah_index__node_inline(const ah_index_t *ix, const unsigned char **p, uint64_t *score,
                          const char **text, uint32_t *len);

/* Where a key prefix is answered (ah_index__locate). */
typedef struct ah_locus {
    enum { AH_LOCUS_NONE, AH_LOCUS_NODE, AH_LOCUS_RANGE } kind;
    ah_node_t node;  /* NODE: the node, whose range starts at lo */
    uint32_t lo, hi; /* RANGE: the light lex range [lo, hi) to scan */
} ah_locus_t;

/*
 * Descends the trie for a normalized key prefix: to the inner node whose
 * list answers it, to the light range whose keys do, or to nothing (no key
 * has the prefix). Returns 0 or AH_ECORRUPT.
 */
int ah_index__locate(const ah_index_t *ix, const char *key, size_t len, ah_locus_t *at);

/*
 * Looks a key prefix up in the hot prefix table; on 1, *node_off is the
 * record offset of the hot node that answers it (unchecked: parse it).
 * 0 when the table has no such prefix.
 */
int ah_index__hot_lookup(const ah_index_t *ix, const char *key, size_t len, uint32_t *node_off);

/*
 * The exact prefix answer (today's lookup, the first tier of every lookup):
 * up to k completions of a normalized key prefix into out, texts into text,
 * scores set (nothing else). When fewer than k are found and ids is not
 * NULL, ids[0..*n_out) receives their lex ids. Returns 0, AH_ENOSPC or
 * AH_ECORRUPT.
 */
int ah_index__exact(const ah_index_t *ix, const char *key, size_t len, unsigned k,
                    ah_completion_t *out, char *text, size_t cap, size_t *n_out, uint32_t *ids);

/*
 * Drops the pages of a snapshot mapped from its file (never a detached one)
 * from this process's memory; a later read maps them again from the page
 * cache. For a reader that passes over more of a large file than it keeps
 * using (the fills' walks over the writer's draft).
 */
int ah_index__release_pages(const ah_index_t *ix);

/*
 * The fill of a key prefix (FILLS in format.h): the entry for the prefix
 * key[0..len) whose lex range starts at lo, or NULL when there is none.
 * The entry is checked to lie in the section, up to its m answers.
 */
const unsigned char *ah_index__fill_find(const ah_index_t *ix, const char *key, size_t len,
                                         uint32_t lo);

/*
 * Copies a result's text into the caller's buffer text[0..cap) at *used,
 * points out at it and advances *used; AH_ENOSPC when it does not fit.
 */
static inline int ah_index__put_text(ah_completion_t *out, char *text, size_t cap, size_t *used,
                                     const char *t, uint32_t len)
{
    if (len > cap - *used)
        return AH_ENOSPC;
    memcpy(text + *used, t, len);
    out->text = text + *used;
    out->text_len = len;
    *used += len;
    return 0;
}

/* Writes a one-line message into err (if any) and returns code. */
int ah_index__fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* AH_INDEX_INTERNAL_H */
