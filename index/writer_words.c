/* SPDX-License-Identifier: MIT */
/*
 * writer_words.c: builds the word-start index (format.h, WORD_NODES and
 * WORD_ENTRIES): a compacted trie over the suffix of every key at each of
 * its word starts after the first.
 *
 *   keys          suffixes at word starts, sorted    trie (leaf size 2)
 *   new york      "orleans"        (new orleans)     root --o-> leaf {new orleans}
 *   new orleans   "york"           (new york)             --y-> "ork" --0x00-> leaf
 *   york          "york city"      (york city)                        {new york}
 *   york city                                                  --' '-> leaf
 *                                                                 {york city}
 *
 * Suffixes are referred to as (lex id, byte offset) and never copied. They
 * are sorted eight bytes at a time: each round loads the next eight bytes
 * of every suffix in a range as one big-endian integer, so the comparison
 * sort runs on integers in one array rather than chasing key pointers, and
 * only ranges still equal go to the next round. Then one recursive pass
 * cuts the sorted suffixes into nodes (post-order, as writer.c does for the
 * keys), sorts each leaf by rank and merges the children's best into each
 * node's list. Every step is a function of the keys and scores, so equal
 * input gives equal bytes.
 *
 * The suffixes (16 bytes each, most of this builder's memory: 4.65 GB for
 * 10^8 synthetic package names) need not be held at once: the root's
 * children are the runs of each first byte, so a budget gathers the
 * suffixes of a few consecutive first bytes at a time (one pass over the
 * keys each), builds those children, and makes the root from their best
 * at the end. The records come out in the same order either way.
 *
 * A build in parts also copies each part's suffixes, gathered in the same
 * pass, into a buffer of its own (a two-byte length, then the bytes), and
 * the sort and the trie read them there: their keys are then read once, in
 * order, instead of at random for every comparison, which matters when
 * the keys are a file's pages (ahead-build maps its completions from disk
 * when they do not fit in its memory budget) and keeps the sort in cache.
 */
#include "writer_internal.h"

#include "ahead.h"
#include "match.h"
#include "refsort.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of a copied suffix before its bytes: its length. */
#define COPY_HEAD 2

typedef struct words {
    const ah_entry_t *e;
    uint32_t n_keys;
    const uint32_t *class_of;
    unsigned topk, leaf;
    int near; /* small leaves down to NEAR_DEPTH too */
    /* The suffixes: key `id` from byte `off` on, or with the suffixes copied,
     * the copy at `off` in copies (in the same order as the (id, offset)
     * pairs); `pre` is the sort's current eight bytes. */
    ah_ref_t *s;
    uint32_t n;
    unsigned char *copies; /* the part's suffixes, or NULL: read in the keys */
    uint32_t copied;       /* bytes used in copies */
    uint32_t *offs;        /* sort_by_rank()'s room */
    uint32_t cap_offs;
    buf_t *nodes;
    buf_t *look; /* WORD_LOOK, or NULL without the typo index */
    uint32_t inner;
    const ah_read_hook_t *read;                   /* called as the keys are read (NULL: none) */
    const ah_section_out_t *nodes_out, *look_out; /* NULL: in memory */
    uint64_t nodes_out_took, look_out_took;       /* their bytes no longer in nodes, look */
} words_t;

/* WORD_NODES' length so far, the offset of the next record. */
static uint64_t nodes_len(const words_t *w)
{
    return w->nodes_out_took + w->nodes->len;
}

/* A list candidate: a key's rank, and the position of one of its entries. */
typedef struct cand {
    uint64_t rank;
    uint32_t pos;
} cand_t;

static uint32_t suffix_len(const words_t *w, const ah_ref_t *r)
{
    if (w->copies)
        return (uint32_t)w->copies[r->off] | (uint32_t)w->copies[r->off + 1] << 8;
    return w->e[r->id].key_len - r->off;
}

static const unsigned char *suffix(const words_t *w, const ah_ref_t *r)
{
    if (w->copies)
        return w->copies + r->off + COPY_HEAD;
    return (const unsigned char *)w->e[r->id].key + r->off;
}

/* Suffix i for ah_writer__look(). */
static const unsigned char *suffix_at(const void *ctx, uint32_t i, uint32_t *len)
{
    const words_t *w = ctx;
    *len = suffix_len(w, &w->s[i]);
    return suffix(w, &w->s[i]);
}

static uint64_t rank_of(const words_t *w, uint32_t id)
{
    return (uint64_t)w->class_of[id] << 32 | id;
}

/*
 * Sorts s[lo, hi), whose suffixes agree on their first `depth` bytes, by
 * their bytes from depth on, then by lex id and offset. Keys hold no NUL,
 * so zero padding past a suffix's end sorts it before its extensions; a
 * range whose eight bytes are equal goes on to the next eight unless every
 * suffix in it has ended (then they are equal, and in id order already).
 */
static void sort_suffixes(words_t *w, uint32_t lo, uint32_t hi, uint32_t depth)
{
    for (uint32_t i = lo; i < hi; i++) {
        uint32_t len = suffix_len(w, &w->s[i]);
        const unsigned char *p = suffix(w, &w->s[i]) + depth;
        uint64_t v = 0;
        for (uint32_t b = 0; b < 8; b++)
            v = v << 8 | (depth + b < len ? p[b] : 0);
        w->s[i].pre = v;
    }
    ah_refs_sort(w->s + lo, hi - lo);
    for (uint32_t i = lo; i < hi;) {
        uint32_t j = i + 1, longer = suffix_len(w, &w->s[i]) > depth + 8;
        for (; j < hi && w->s[j].pre == w->s[i].pre; j++)
            longer |= suffix_len(w, &w->s[j]) > depth + 8;
        if (j - i > 1 && longer)
            sort_suffixes(w, i, j, depth + 8);
        i = j;
    }
}

/*
 * Sorts the suffixes of a leaf, s[lo, hi), by the rank of their keys; a
 * key that begins two of them keeps them in suffix order. Their offsets
 * are set aside while each holds its place in suffix order instead, so
 * that ah_refs_sort()'s order is (class, lex id, place). Returns 0 or AH_ENOMEM.
 */
static int sort_by_rank(words_t *w, uint32_t lo, uint32_t hi)
{
    uint32_t n = hi - lo;
    if (n > w->cap_offs) {
        uint32_t *p = realloc(w->offs, (size_t)n * sizeof *p);
        if (!p)
            return AH_ENOMEM;
        w->offs = p;
        w->cap_offs = n;
    }
    ah_ref_t *s = w->s + lo;
    for (uint32_t i = 0; i < n; i++) {
        w->offs[i] = s[i].off;
        s[i].pre = w->class_of[s[i].id];
        s[i].off = i;
    }
    ah_refs_sort(s, n);
    for (uint32_t i = 0; i < n; i++)
        s[i].off = w->offs[s[i].off];
    return 0;
}

/* ------------------------------------------------------------------- trie */

typedef struct kid {
    unsigned char byte;
    uint32_t lo, hi; /* positions in s */
    uint32_t ref;    /* record offset, or LEAF */
    uint64_t look;   /* its LOOK entry, taken while its suffixes are still in byte order */
} kid_t;

#define LEAF UINT32_MAX

/*
 * Near the root a two-typo walk reaches almost every node (two
 * substitutions make any three letters match), so leaves there are kept
 * tiny and the distance prunes on node records instead of on keys read one
 * by one. Deeper, the walk reaches few leaves and larger ones save room.
 */
#define FINE_DEPTH 4 /* bytes of path */
#define FINE_LEAF  4

/*
 * Where the snapshot has room for it (writer.c decides), leaves are kept
 * small a little deeper too. On phrase data (word n-grams, place names)
 * many typed prefixes begin no key and only the word-start passes can
 * answer them; a two-typo pass then reads whole leaves along the typed
 * path, one key per entry. On es-ngrams this takes its p99 from 102 to
 * 56 us for 7% more bytes (bench/RESULTS.md).
 */
#define NEAR_DEPTH 8
#define NEAR_LEAF  8

static unsigned leaf_limit(const words_t *w, uint32_t depth)
{
    if (depth <= FINE_DEPTH && w->leaf > FINE_LEAF)
        return FINE_LEAF;
    if (w->near && depth <= NEAR_DEPTH && w->leaf > NEAR_LEAF)
        return NEAR_LEAF;
    return w->leaf;
}

/* First position in [i, hi) whose suffix's byte at depth is greater than c. */
static uint32_t run_end(const words_t *w, uint32_t i, uint32_t hi, uint32_t depth, unsigned char c)
{
    uint32_t a = i + 1, b = hi;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if (suffix(w, &w->s[mid])[depth] > c)
            b = mid;
        else
            a = mid + 1;
    }
    return a;
}

static int by_cand(const void *a, const void *b)
{
    uint64_t x = ((const cand_t *)a)->rank, y = ((const cand_t *)b)->rank;
    return x < y ? -1 : x > y;
}

/* Appends the record of the node over [lo, hi) with label [d, depth) (format.h, WORD_NODES). */
static void encode(words_t *w, uint32_t lo, uint32_t hi, uint32_t d, uint32_t depth,
                   const kid_t *kids, uint32_t nk, const cand_t *top, uint32_t ntop)
{
    buf_t *b = w->nodes;
    uint32_t off = (uint32_t)nodes_len(w), max_ptr = 0, count = hi - lo;
    for (uint32_t j = 0; j < nk; j++)
        if (kids[j].ref != LEAF && off - kids[j].ref > max_ptr)
            max_ptr = off - kids[j].ref;
    unsigned wr = ah_bytes_for(count), wp = ah_bytes_for(max_ptr);
    buf_varint(b, depth - d);
    buf_put(b, suffix(w, &w->s[lo]) + d, depth - d);
    buf_varint(b, count);
    buf_varint(b, nk);
    unsigned char widths = (unsigned char)((wr - 1) | (wp - 1) << AH_NODE_WP_SHIFT);
    buf_put(b, &widths, 1);
    for (uint32_t j = 0; j < nk; j++)
        buf_put(b, &kids[j].byte, 1);
    for (uint32_t j = 0; j < nk; j++)
        buf_uw(b, kids[j].lo - lo, wr);
    for (uint32_t j = 0; j < nk; j++)
        buf_uw(b, kids[j].ref == LEAF ? 0 : off - kids[j].ref, wp);
    if (w->look) {
        uint64_t at = (w->look_out_took + w->look->len) / AH_LOOK_ENTRY_SIZE;
        if (at + nk > UINT32_MAX)
            w->look->failed = 1;
        buf_uw(b, (uint32_t)at, 4);
        for (uint32_t j = 0; j < nk; j++)
            if (kids[j].byte != AH_WORD_END_EDGE) /* never walked: no entry */
                ah_writer__look_put(w->look, kids[j].look);
    }
    unsigned char list_len = (unsigned char)ntop;
    buf_put(b, &list_len, 1);
    for (uint32_t j = 0; j < ntop; j++)
        buf_uw(b, top[j].pos - lo, wr);
    if (nodes_len(w) > UINT32_MAX)
        b->failed = 1;
    if (w->nodes_out)
        w->nodes_out_took = w->nodes_out->flush(w->nodes_out->ctx);
    if (w->look_out && w->look)
        w->look_out_took = w->look_out->flush(w->look_out->ctx);
    w->inner++;
}

/* A leaf's best distinct keys, in rank order (the leaf is sorted by rank). */
static uint32_t leaf_best(const words_t *w, uint32_t lo, uint32_t hi, cand_t *out)
{
    uint32_t n = 0;
    for (uint32_t i = lo; i < hi && n < w->topk; i++)
        if (n == 0 || w->s[i].id != w->s[out[n - 1].pos].id)
            out[n++] = (cand_t){rank_of(w, w->s[i].id), i};
    return n;
}

/* A node's list from its children's best (cand, reordered): one key may come from several. */
static uint32_t pick_top(const words_t *w, cand_t *cand, uint32_t nc, cand_t *top)
{
    qsort(cand, nc, sizeof *cand, by_cand);
    uint32_t nt = 0;
    for (uint32_t j = 0; j < nc && nt < w->topk; j++)
        if (nt == 0 || cand[j].rank != top[nt - 1].rank)
            top[nt++] = cand[j];
    return nt;
}

/*
 * Builds the node over s[lo, hi) whose label starts at depth d, after its
 * inner descendants; stores its record offset in *ref and its best distinct
 * keys (up to topk) in top.
 */
static int build(words_t *w, uint32_t lo, uint32_t hi, uint32_t d, uint32_t *ref, cand_t *top,
                 uint32_t *ntop)
{
    /* On the heap: nested suffixes recurse once per byte, up to a key's length. */
    kid_t *kids = malloc(257 * sizeof *kids);
    cand_t *cand = malloc(((size_t)257 * w->topk + 1) * sizeof *cand);
    if (!kids || !cand) {
        free(kids);
        free(cand);
        return AH_ENOMEM;
    }
    const ah_ref_t *first = &w->s[lo], *last = &w->s[hi - 1];
    uint32_t depth = d, flen = suffix_len(w, first), llen = suffix_len(w, last);
    uint32_t m = flen < llen ? flen : llen;
    while (depth < m && suffix(w, first)[depth] == suffix(w, last)[depth])
        depth++;
    uint32_t nk = 0, i = lo;
    if (flen == depth) { /* the suffixes that end here: edge 0x00, sorted first */
        uint32_t j = i;
        while (j < hi && suffix_len(w, &w->s[j]) == depth)
            j++;
        kids[nk++] = (kid_t){AH_WORD_END_EDGE, i, j, LEAF, 0};
        i = j;
    }
    while (i < hi) {
        unsigned char c = suffix(w, &w->s[i])[depth];
        uint32_t j = run_end(w, i, hi, depth, c);
        kids[nk++] =
            (kid_t){c, i, j, LEAF, w->look ? ah_writer__look(suffix_at, w, i, j, depth) : 0};
        i = j;
    }
    uint32_t nc = 0;
    int rc = 0;
    for (uint32_t j = 0; j < nk && !rc; j++) {
        kid_t *k = &kids[j];
        uint32_t got = 0;
        if (k->byte != AH_WORD_END_EDGE && k->hi - k->lo > leaf_limit(w, depth + 1)) {
            rc = build(w, k->lo, k->hi, depth + 1, &k->ref, cand + nc, &got);
        } else {
            rc = sort_by_rank(w, k->lo, k->hi);
            got = rc ? 0 : leaf_best(w, k->lo, k->hi, cand + nc);
        }
        nc += got;
    }
    if (!rc) {
        *ntop = pick_top(w, cand, nc, top);
        *ref = (uint32_t)nodes_len(w);
        encode(w, lo, hi, d, depth, kids, nk, top, *ntop);
    }
    free(kids);
    free(cand);
    return rc;
}

/* ------------------------------------------------------------------ entry */

/* Calls fn(ctx, id, off) for every word start of e[0..n), in id order, then offset order. */
static void each_word_start(const ah_entry_t *e, uint32_t n, const ah_read_hook_t *read,
                            void (*fn)(void *ctx, uint32_t id, uint32_t off), void *ctx)
{
    uint32_t offs[AH_MAX_KEY_BYTES];
    for (uint32_t id = 0; id < n; id++) {
        ah_read_tick(read, id);
        size_t k = ah_match_word_starts(e[id].key, e[id].key_len, offs, AH_MAX_KEY_BYTES);
        for (size_t j = 0; j < k; j++)
            fn(ctx, id, offs[j]);
    }
}

static void count_start(void *ctx, uint32_t id, uint32_t off)
{
    (void)id;
    (void)off;
    ++*(uint64_t *)ctx;
}

uint64_t ah_writer__word_starts(const ah_entry_t *e, uint32_t n, const ah_read_hook_t *read)
{
    uint64_t total = 0;
    each_word_start(e, n, read, count_start, &total);
    return total;
}

/* The word starts by the first byte of their suffix, and their copies' bytes. */
typedef struct first_bytes {
    const ah_entry_t *e;
    uint64_t count[256];
    uint64_t bytes[256];
} first_bytes_t;

static void count_first_byte(void *ctx, uint32_t id, uint32_t off)
{
    first_bytes_t *f = ctx;
    unsigned c = (unsigned char)f->e[id].key[off];
    f->count[c]++;
    f->bytes[c] += COPY_HEAD + f->e[id].key_len - off;
}

/* What the suffixes of first byte c take at once in a part: references, and copies or not. */
static uint64_t part_cost(const first_bytes_t *f, unsigned c, int copies)
{
    return f->count[c] * sizeof(ah_ref_t) + (copies ? f->bytes[c] : 0);
}

/*
 * The last first byte of the part from first on: as many as fit in cap
 * bytes (with copies or without), at least one; *m their suffixes, *bytes
 * their copies' bytes.
 */
static unsigned part_last(const first_bytes_t *f, unsigned first, uint64_t cap, int copies,
                          uint64_t *m, uint64_t *bytes)
{
    unsigned last = first;
    uint64_t cost = part_cost(f, first, copies);
    *m = f->count[first];
    *bytes = f->bytes[first];
    while (last + 1 < 256 && cost + part_cost(f, last + 1, copies) <= cap) {
        cost += part_cost(f, ++last, copies);
        *m += f->count[last];
        *bytes += f->bytes[last];
    }
    return last;
}

/* Gathers into w->s the suffixes whose first byte is in [first, last]. */
typedef struct gather {
    words_t *w;
    unsigned first, last;
} gather_t;

static void gather_start(void *ctx, uint32_t id, uint32_t off)
{
    gather_t *g = ctx;
    words_t *w = g->w;
    const ah_entry_t *e = &w->e[id];
    unsigned c = (unsigned char)e->key[off];
    if (c < g->first || c > g->last)
        return;
    if (!w->copies) {
        w->s[w->n++] = (ah_ref_t){0, id, off};
        return;
    }
    uint32_t len = e->key_len - off;
    unsigned char *to = w->copies + w->copied;
    to[0] = (unsigned char)len;
    to[1] = (unsigned char)(len >> 8);
    memcpy(to + COPY_HEAD, e->key + off, len);
    w->s[w->n++] = (ah_ref_t){0, id, w->copied};
    w->copied += COPY_HEAD + len;
}

/*
 * WORD_ENTRIES as it is made: the parts' entries come in position order,
 * so each part's bits are set in a window of their own bytes, whose whole
 * bytes are appended to the section; the last one, shared with the next
 * part's, is carried over.
 */
typedef struct entry_bits {
    buf_t *out;
    const ah_section_out_t *hook;
    unsigned id_bits;
    unsigned char *win;
    size_t cap;
    unsigned char carry; /* the bits of the byte the last part ended in */
} entry_bits_t;

/* Appends the entries of s[0..w->n), at positions base.. Returns 0 or AH_ENOMEM. */
static int put_entries(const words_t *w, entry_bits_t *eb, uint64_t base)
{
    uint64_t first = base * eb->id_bits, end = (base + w->n) * eb->id_bits;
    size_t len = (size_t)((end + 7) / 8 - first / 8);
    if (len > eb->cap) {
        unsigned char *p = realloc(eb->win, len);
        if (!p)
            return AH_ENOMEM;
        eb->win = p;
        eb->cap = len;
    }
    memset(eb->win, 0, len);
    eb->win[0] = eb->carry;
    for (uint32_t i = 0; i < w->n; i++)
        ah_bits_put(eb->win, first % 8 + (uint64_t)i * eb->id_bits, eb->id_bits, w->s[i].id);
    size_t whole = (size_t)(end / 8 - first / 8);
    buf_put(eb->out, eb->win, whole);
    eb->carry = end % 8 ? eb->win[whole] : 0;
    if (eb->hook)
        eb->hook->flush(eb->hook->ctx);
    return 0;
}

/*
 * The root when its suffixes begin with more than one byte: its children
 * are the runs of each first byte, and a part of consecutive first bytes
 * whose suffixes fit in cap at once is gathered, sorted and built before
 * the next (cap = the whole when memory allows). The records come out in
 * the order one pass over all of them writes (children in byte order, each
 * in post-order, then the root), so the bytes do not depend on cap.
 */
static int build_root_in_parts(words_t *w, const first_bytes_t *f, uint64_t total, uint64_t cap,
                               int copy, entry_bits_t *eb, uint32_t *ref)
{
    /* Copies when asked or when there is more than one part, if each part's fit in 32-bit
     * offsets. */
    uint64_t largest = 0, most_bytes = 0, m, bytes;
    copy = copy || part_last(f, 0, cap, 0, &m, &bytes) < 255;
    for (unsigned first = 0, last; first < 256; first = last + 1) {
        last = part_last(f, first, cap, copy, &m, &bytes);
        largest = m > largest ? m : largest;
        most_bytes = bytes > most_bytes ? bytes : most_bytes;
    }
    copy = copy && most_bytes <= UINT32_MAX;
    unsigned char *copies = copy ? malloc(most_bytes) : NULL;
    if (copy && !copies)
        return AH_ENOMEM;
    kid_t *kids = malloc(256 * sizeof *kids);
    cand_t *cand = malloc(((size_t)256 * w->topk + 1) * sizeof *cand);
    cand_t *top = malloc(((size_t)w->topk + 1) * sizeof *top);
    w->s = malloc((size_t)largest * sizeof *w->s);
    int rc = kids && cand && top && w->s ? 0 : AH_ENOMEM;
    uint32_t nk = 0, nc = 0;
    uint64_t base = 0;
    for (unsigned first = 0, last; first < 256 && !rc; first = last + 1) {
        last = part_last(f, first, cap, copy, &m, &bytes);
        if (m == 0)
            continue;
        w->n = 0;
        w->copies = copies;
        w->copied = 0;
        each_word_start(w->e, w->n_keys, w->read, gather_start, &(gather_t){w, first, last});
        sort_suffixes(w, 0, w->n, 0);
        for (uint32_t i = 0; i < w->n && !rc;) {
            unsigned char c = suffix(w, &w->s[i])[0];
            uint32_t j = run_end(w, i, w->n, 0, c), got = 0;
            kid_t *k = &kids[nk++];
            *k = (kid_t){c, (uint32_t)base + i, (uint32_t)base + j, LEAF,
                         w->look ? ah_writer__look(suffix_at, w, i, j, 0) : 0};
            if (j - i > leaf_limit(w, 1)) {
                rc = build(w, i, j, 1, &k->ref, cand + nc, &got);
            } else {
                rc = sort_by_rank(w, i, j);
                got = rc ? 0 : leaf_best(w, i, j, cand + nc);
            }
            for (uint32_t g = 0; g < got; g++)
                cand[nc + g].pos += (uint32_t)base;
            nc += got;
            i = j;
        }
        if (!rc)
            rc = put_entries(w, eb, base);
        base += w->n;
    }
    w->copies = NULL; /* the root's label is empty: encode() reads no suffix */
    free(copies);
    if (!rc) { /* the root, as build() makes it */
        uint32_t nt = pick_top(w, cand, nc, top);
        *ref = (uint32_t)nodes_len(w);
        encode(w, 0, (uint32_t)total, 0, 0, kids, nk, top, nt);
    }
    free(kids);
    free(cand);
    free(top);
    return rc;
}

int ah_writer__words(const ah_entry_t *e, uint32_t n, const uint32_t *class_of, unsigned topk,
                     unsigned leaf, int near, size_t memory, int copy, const ah_read_hook_t *read,
                     buf_t *nodes, buf_t *entries, const ah_words_outs_t *outs, buf_t *look,
                     ah_words_info_t *info)
{
    words_t w = {.e = e,
                 .n_keys = n,
                 .class_of = class_of,
                 .topk = topk,
                 .leaf = leaf,
                 .near = near,
                 .nodes = nodes,
                 .look = look,
                 .read = read,
                 .nodes_out = outs ? outs->nodes : NULL,
                 .look_out = outs && look ? outs->look : NULL};
    const ah_section_out_t *entries_out = outs ? outs->entries : NULL;
    memset(info, 0, sizeof *info);
    info->id_bits = ah_bits_for(n - 1) ? ah_bits_for(n - 1) : 1;
    /* Counted first, so that the suffixes, most of this builder's memory, are allocated once. */
    first_bytes_t *f = calloc(1, sizeof *f);
    if (!f)
        return AH_ENOMEM;
    f->e = e;
    each_word_start(e, n, read, count_first_byte, f);
    uint64_t total = 0;
    unsigned firsts = 0;
    for (unsigned c = 0; c < 256; c++) {
        total += f->count[c];
        firsts += f->count[c] > 0;
    }
    int rc = total > UINT32_MAX ? AH_EINVAL : 0;
    entry_bits_t eb = {.out = entries, .hook = entries_out, .id_bits = info->id_bits};
    if (!rc && entries_out)
        entries_out->begin(entries_out->ctx, (total * info->id_bits + 7) / 8);
    /* At their largest: the records, and an entry for each child, an inner node or a leaf,
     * of which there are fewer than twice the entries. */
    uint64_t suffix_bytes = 0;
    for (unsigned c = 0; c < 256; c++)
        suffix_bytes += f->bytes[c] - COPY_HEAD * f->count[c];
    if (!rc && w.nodes_out)
        w.nodes_out->begin(w.nodes_out->ctx, ah_writer__nodes_most(total, suffix_bytes, topk));
    if (!rc && w.look_out)
        w.look_out->begin(w.look_out->ctx, 2 * AH_LOOK_ENTRY_SIZE * (total + 1));
    if (!rc && firsts > 1) {
        uint64_t cap = memory ? memory : UINT64_MAX;
        rc = build_root_in_parts(&w, f, total, cap, copy, &eb, &info->root);
    } else if (!rc && total > 0) { /* one first byte: the root may have a label */
        cand_t *top = malloc(((size_t)topk + 1) * sizeof *top);
        uint32_t ntop;
        w.s = malloc((size_t)total * sizeof *w.s);
        rc = top && w.s ? 0 : AH_ENOMEM;
        if (!rc) {
            each_word_start(e, n, read, gather_start, &(gather_t){&w, 0, 255});
            sort_suffixes(&w, 0, w.n, 0);
            rc = build(&w, 0, w.n, 0, &info->root, top, &ntop);
        }
        if (!rc)
            rc = put_entries(&w, &eb, 0);
        free(top);
    }
    if (!rc && (total * info->id_bits) % 8) /* the last byte, partly used */
        buf_put(entries, &eb.carry, 1);
    free(eb.win);
    info->entries = (uint32_t)total;
    info->inner_nodes = w.inner;
    free(f);
    free(w.s);
    free(w.offs);
    return rc;
}
