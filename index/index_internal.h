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
#include "format.h"

#include <stdint.h>

/* One mapped section: its bytes without the trailing padding, and its CRC. */
typedef struct ah_section {
    const unsigned char *data;
    uint64_t len;      /* usable bytes; AH_SECTION_PAD more are readable */
    uint32_t crc;      /* from the section table */
    uint64_t file_off; /* offset in the file */
} ah_section_t;

struct ah_index {
    const unsigned char *map;
    uint64_t size;
    uint32_t n;
    uint32_t topk;
    uint32_t bucket;
    uint32_t n_buckets;
    uint32_t max_text;
    uint32_t max_key;
    uint32_t inner_nodes;
    uint32_t rank_bits;
    uint32_t root;
    uint64_t content_id;
    uint64_t total_score;
    ah_section_t sec[AH_SECTION_COUNT + 1]; /* indexed by section id */
};

/*
 * A position in the front-coded keys: the key of lex id `id` decoded into
 * key[0..len). Holds AH_MAX_KEY_BYTES, so it lives on a stack, not in a
 * struct that is copied around.
 */
typedef struct ah_key_cursor {
    const ah_index_t *ix;
    uint32_t id;
    const unsigned char *next; /* the record after id's */
    const unsigned char *end;  /* end of id's bucket */
    uint64_t display;          /* offset in DISPLAY, or UINT64_MAX when text == key */
    uint32_t len;
    char key[AH_MAX_KEY_BYTES];
} ah_key_cursor_t;

/* Positions c on lex id `id` (< n). Returns 0 or AH_ECORRUPT. */
int ah_index__cursor_seek(ah_key_cursor_t *c, const ah_index_t *ix, uint32_t id);

/* Moves c to the next lex id (which must be < n). Returns 0 or AH_ECORRUPT. */
int ah_index__cursor_next(ah_key_cursor_t *c);

/* The rank of lex id `id` (< n). Cannot fail: open checked RANKS's size. */
uint32_t ah_index__rank(const ah_index_t *ix, uint32_t id);

/* The score at rank r (< n). Returns 0 or AH_ECORRUPT. */
int ah_index__score(const ah_index_t *ix, uint32_t r, uint64_t *score);

/*
 * The display text of the key under cursor c: either the key itself or its
 * DISPLAY record. *text points into the cursor or the mapping.
 */
int ah_index__display(const ah_key_cursor_t *c, const char **text, uint32_t *len);

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
} ah_node_t;

/*
 * Parses the record at offset off, checking that it lies inside NODES and
 * that its list length is min(topk, count). The per-entry checks are left to
 * the two accessors below, so a lookup pays only for what it reads. Returns
 * 0 or AH_ECORRUPT.
 */
int ah_index__node_parse(const ah_index_t *ix, uint32_t off, ah_node_t *node);

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

/* Writes a one-line message into err (if any) and returns code. */
int ah_index__fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* AH_INDEX_INTERNAL_H */
