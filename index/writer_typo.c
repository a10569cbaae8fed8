/* SPDX-License-Identifier: MIT */
/*
 * writer_typo.c: builds the typo index (format.h, LOOK, GRAM_SLOTS and
 * GRAM_BLOCKS): the lookahead masks of a trie's children, and the gram
 * table.
 *
 * Lookahead masks are read off sorted strings: below a child whose edge
 * byte is at offset p, the strings are sorted by their bytes from p + 1
 * on, so the distinct next bytes, and the distinct pairs of next two
 * bytes, are runs found by binary search, a few probes each, never a scan
 * of every string below a big node.
 *
 * The gram table, one depth j at a time (so that memory holds one depth's
 * records, 32 bytes each, or a part of them under a budget). The strings
 * are kept as their start offsets alone, 2 bytes each, in lex id order
 * (a key, then its word starts), so each one's id follows from the order:
 *
 *   every key, and every word-start suffix         (id, start)
 *     of at least j + 2 code points                     |
 *   -> a record: hash of (j, P0, g1, g2), g3,           |  radix sort by hash,
 *      the head (code points 1..j-1), m4, m5            |  then each run of
 *                                                        v  equal hash by key
 *   blocks: (j, P0, g1, g2) -> groups by g3 -> heads of keys only, of both,
 *                                              of word starts only
 *
 * Blocks are laid out in hash order, so equal input gives equal bytes, and
 * the slot table is filled last, from the blocks' hashes and offsets.
 */
#include "writer_internal.h"
#include "refsort.h"

#include "ahead.h"
#include "match.h"
#include "typo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ lookahead */

/* First position in [i, hi) whose string's byte at depth is greater than c. */
static uint32_t run_end(ah_str_fn str, const void *ctx, uint32_t i, uint32_t hi, uint32_t depth,
                        unsigned char c)
{
    uint32_t a = i + 1, b = hi, len;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if (str(ctx, mid, &len)[depth] > c)
            b = mid;
        else
            a = mid + 1;
    }
    return a;
}

uint64_t ah_writer__look(ah_str_fn str, const void *ctx, uint32_t lo, uint32_t hi, uint32_t p)
{
    uint32_t next = 0, pair = 0, len, i = lo;
    /* Strings that end at the edge byte sort first; they add nothing. */
    while (i < hi && (str(ctx, i, &len), len <= p + 1))
        i++;
    while (i < hi) {
        unsigned char b = str(ctx, i, &len)[p + 1];
        uint32_t j = run_end(str, ctx, i, hi, p + 1, b);
        next |= 1u << ah_look_class(b);
        uint32_t k = i;
        while (k < j && (str(ctx, k, &len), len <= p + 2))
            k++;
        while (k < j) {
            unsigned char c = str(ctx, k, &len)[p + 2];
            pair |= 1u << ah_look_pair(b, c);
            k = run_end(str, ctx, k, j, p + 2, c);
        }
        i = j;
    }
    return next | (uint64_t)pair << 32;
}

void ah_writer__look_put(buf_t *look, uint64_t entry)
{
    unsigned char *p = buf_grow(look, AH_LOOK_ENTRY_SIZE);
    if (p)
        ah_store_u64(p, entry);
}

/* ---------------------------------------------------------- gram table */

/*
 * One string's record at one depth, 32 bytes, enough to write it without
 * reading its key again when its head is ASCII (reading the keys in hash
 * order missed the cache once per record: most of the build's time).
 */
typedef struct grec {
    uint64_t hash;  /* of the block key (j, P0, g1, g2) */
    uint64_t order; /* g3, word, the head's first four bytes, its length: see order_of() */
    uint32_t id;    /* the key's lex id */
    uint32_t check; /* a second hash of the block key, to tell two keys of one hash apart */
    uint16_t start;
    uint8_t m4, m5;
} grec_t;

/*
 * g3 (21 bits), word (1), a head's first four bytes (32) and its length
 * (5), as one integer that orders them as by_view() does.
 */
static uint64_t order_of(uint32_t g3, unsigned word, const char *head, uint32_t head_len)
{
    uint32_t first = 0;
    for (uint32_t i = 0; i < 4; i++)
        first = first << 8 | (i < head_len ? (unsigned char)head[i] : 0);
    return (uint64_t)g3 << 38 | (uint64_t)word << 37 | (uint64_t)first << 5 | head_len;
}

#define ORDER_G3(o)   ((uint32_t)((o) >> 38))
#define ORDER_WORD(o) ((unsigned)((o) >> 37) & 1)
#define ORDER_LEN(o)  ((uint32_t)(o)&31)

/* One depth's share of the table: its blocks, and their hashes and offsets for the slots. */
typedef struct grams {
    const ah_entry_t *e;
    unsigned j;
    buf_t blocks;        /* with no data once parked: blocks.len bytes at parked_at */
    uint64_t parked_at;  /* in the scratch file, when the depth is done and blocks.data NULL */
    uint64_t *slot_hash; /* per block: its hash, and its offset in blocks */
    uint32_t *slot_off;
    uint64_t slots_at; /* or, once parked too, the hashes then the offsets in the scratch file */
    size_t n_blocks, cap_blocks;
    int too_large;
    int rc;
} grams_t;

/*
 * The whole build: every string (a key from its start, or from a word
 * start), found once, and one grams_t per depth. Depths are handed out to
 * whichever thread asks next, deepest (largest) first.
 *
 * Under a memory budget the arrays over every string (2 bytes each for the
 * starts, 1 more per depth being built for the parts: 1.56 GB at 10^8
 * completions) and the finished depths' blocks wait in a scratch file
 * instead, read back in order a piece at a time; regions the build is done
 * with are given back to the file system.
 */
struct ah_grams_build {
    const ah_entry_t *e;
    uint16_t *starts;    /* in lex id order: each key (0), then its word starts (> 0); NULL when
                          * they are in the scratch file, from offset 0 */
    int fd;              /* the scratch file (-1: none) */
    ah_read_hook_t read; /* called as the keys are read */
    _Atomic uint64_t scratch_end; /* its bytes handed out */
    atomic_int io_errno;          /* of the first read or write of it that failed */
    size_t n;
    unsigned depth;
    unsigned part_bits; /* a depth is built in 2^part_bits parts by the hash's top bits */
    atomic_uint next;   /* depths handed out so far */
    grams_t *per;       /* [depth + 1], index j */
};

/* Code points of a string from byte start on: up to cap of them, with their byte offsets. */
static unsigned decode_from(const char *key, uint32_t len, uint32_t start, uint32_t *cps,
                            uint32_t *offs, unsigned cap)
{
    unsigned n = 0;
    uint32_t b = start;
    while (b < len && n < cap) {
        unsigned char c0 = (unsigned char)key[b];
        offs[n] = b;
        if (c0 < 0x80) { /* most keys are ASCII: no call */
            cps[n++] = c0;
            b++;
            continue;
        }
        uint32_t l = c0 < 0xe0 ? 2 : c0 < 0xf0 ? 3 : 4;
        if (l > len - b)
            l = len - b;
        ah_match_decode(key + b, l, &cps[n], 1);
        n++;
        b += l;
    }
    offs[n] = b;
    return n;
}

/* ---------------------------------------------------- the scratch file */

#define SCRATCH_ALIGN 4096 /* regions start on pages, so that giving one back frees them */

/*
 * A region of len bytes of the scratch file, its blocks allocated;
 * UINT64_MAX when there is no scratch file or no room in it (the caller
 * then keeps the bytes in memory).
 */
static uint64_t scratch_take(ah_grams_build_t *gb, uint64_t len)
{
    if (gb->fd < 0 || len == 0)
        return UINT64_MAX;
    uint64_t rounded = (len + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    uint64_t at = atomic_fetch_add(&gb->scratch_end, rounded);
    return posix_fallocate(gb->fd, (off_t)at, (off_t)rounded) == 0 ? at : UINT64_MAX;
}

/* Gives a region back (its bytes are no longer needed). */
static void scratch_drop(const ah_grams_build_t *gb, uint64_t at, uint64_t len)
{
    uint64_t rounded = (len + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    if (at != UINT64_MAX)
        (void)fallocate(gb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)at,
                        (off_t)rounded);
}

/* Reads or writes len bytes at `at` of the scratch file; AH_EIO (noted) when it cannot. */
static int scratch_io(ah_grams_build_t *gb, void *p, size_t len, uint64_t at, int writing)
{
    int err = ah_file_io(gb->fd, p, len, at, writing);
    if (!err)
        return 0;
    int none = 0;
    atomic_compare_exchange_strong(&gb->io_errno, &none, err);
    return AH_EIO;
}

/*
 * The strings are read PIECE at a time, in order: their starts, and at one
 * depth their parts, from memory or from the scratch file.
 */
#define PIECE 65536

typedef struct piece {
    const uint16_t *start;     /* of strings [base, base + len) */
    const unsigned char *part; /* their parts (NULL: not asked for) */
    uint16_t start_buf[PIECE];
    unsigned char part_buf[PIECE];
} piece_t;

/* Where one depth's parts are: mem, or at `at` in the scratch file. */
typedef struct parts {
    unsigned char *mem;
    uint64_t at;
} parts_t;

static int load_piece(ah_grams_build_t *gb, const parts_t *parts, size_t base, size_t len,
                      piece_t *p)
{
    if (gb->read.fn) /* a piece's strings read about a megabyte of keys */
        gb->read.fn(gb->read.ctx);
    p->start = gb->starts ? gb->starts + base : p->start_buf;
    p->part = !parts ? NULL : parts->mem ? parts->mem + base : p->part_buf;
    int rc = gb->starts ? 0 : scratch_io(gb, p->start_buf, len * 2, (uint64_t)base * 2, 0);
    if (!rc && parts && !parts->mem)
        rc = scratch_io(gb, p->part_buf, len, parts->at + base, 0);
    return rc;
}

/* What is written of a record: its group, list and head, and its masks. */
typedef struct gview {
    uint64_t order;
    uint32_t check, id;
    const char *head; /* NULL: hbuf holds it */
    uint32_t head_len;
    uint16_t start;
    uint8_t m4, m5, word;
    char hbuf[4];
} gview_t;

static const char *head_of(const gview_t *v)
{
    return v->head ? v->head : v->hbuf;
}

static void view(const grams_t *g, const grec_t *r, gview_t *v)
{
    *v = (gview_t){.order = r->order,
                   .check = r->check,
                   .id = r->id,
                   .head_len = ORDER_LEN(r->order),
                   .start = r->start,
                   .m4 = r->m4,
                   .m5 = r->m5,
                   .word = (uint8_t)ORDER_WORD(r->order)};
    if (v->head_len <= 4) {
        for (unsigned i = 0; i < 4; i++)
            v->hbuf[i] = (char)(r->order >> (5 + 8 * (3 - i)));
        return;
    }
    /* A longer head (not ASCII) is read from the key. */
    const ah_entry_t *e = &g->e[r->id];
    unsigned char c0 = (unsigned char)e->key[r->start];
    v->head = e->key + r->start + (c0 < 0x80 ? 1 : c0 < 0xe0 ? 2 : c0 < 0xf0 ? 3 : 4);
}

static int head_cmp(const gview_t *a, const gview_t *b)
{
    uint32_t m = a->head_len < b->head_len ? a->head_len : b->head_len;
    int c = memcmp(head_of(a), head_of(b), m);
    return c ? c : (int)a->head_len - (int)b->head_len;
}

/* Order within a run of equal hash: block key (its check), then order, then head bytes. */
static int by_view(const void *a, const void *b)
{
    const gview_t *x = a, *y = b;
    if (x->check != y->check)
        return x->check < y->check ? -1 : 1;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->head_len <= 4 ? 0 : head_cmp(x, y); /* order held all four bytes */
}

/* Runs of up to this many views are sorted by sort_views(), in a room of their size. */
#define VIEW_SORT_ROOM 65536
#define VIEW_PIECE     16

/*
 * Sorts a run's views v[0..n) by by_view(), stably, with tmp holding n:
 * insertion sort of pieces of VIEW_PIECE, then merges through tmp. The
 * order is qsort's (glibc's is a stable merge sort too), at a fraction of
 * its cost: qsort of these 48-byte views, a call through a pointer per
 * comparison, was a sixth of a build.
 */
static void sort_views(gview_t *v, gview_t *tmp, size_t n)
{
    for (size_t lo = 0; lo < n; lo += VIEW_PIECE) {
        size_t hi = n - lo > VIEW_PIECE ? lo + VIEW_PIECE : n;
        for (size_t i = lo + 1; i < hi; i++) {
            gview_t x = v[i];
            size_t j = i;
            for (; j > lo && by_view(&v[j - 1], &x) > 0; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    }
    gview_t *from = v, *to = tmp;
    for (size_t width = VIEW_PIECE; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = n - lo > width ? lo + width : n;
            size_t hi = n - mid > width ? mid + width : n, a = lo, b = mid, o = lo;
            while (a < mid && b < hi) /* ties from the left run: stable */
                to[o++] = by_view(&from[b], &from[a]) < 0 ? from[b++] : from[a++];
            while (a < mid)
                to[o++] = from[a++];
            while (b < hi)
                to[o++] = from[b++];
        }
        gview_t *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof *v);
}

/*
 * Sorts n records by hash in place (their bits above shift + 8 equal; 56
 * for any), with no memory beside them: an MSD radix sort a byte at a
 * time from the top (AH_RADIX_PASS), each bucket then by the next byte,
 * down to buckets small enough for insertion. The hashes are uniform, so
 * two or three passes sort a depth, where an LSD sort of each top-byte
 * bucket made eight.
 * Records of equal hash may come out in any order: a block's bytes do not
 * depend on it (by_view orders them, and equal heads are merged).
 */
#define SMALL_BUCKET 48 /* sorted by insertion instead */

static void sort_by_hash(grec_t *r, size_t n, unsigned shift)
{
    if (n <= SMALL_BUCKET) {
        for (size_t i = 1; i < n; i++) {
            grec_t v = r[i];
            size_t k = i;
            for (; k > 0 && r[k - 1].hash > v.hash; k--)
                r[k] = r[k - 1];
            r[k] = v;
        }
        return;
    }
    size_t count[256], end[256];
    AH_RADIX_PASS(grec_t, r, n, hash, shift, count, end);
    if (shift == 0)
        return;
    for (unsigned b = 0; b < 256; b++)
        if (count[b] > 1)
            sort_by_hash(r + end[b] - count[b], count[b], shift - 8);
}

static int note_block(grams_t *g, uint64_t hash, size_t off)
{
    if (off > UINT32_MAX - 1) {
        g->too_large = 1;
        return AH_EINVAL;
    }
    if (g->n_blocks == g->cap_blocks) {
        size_t c = g->cap_blocks ? g->cap_blocks * 2 : 4096;
        uint64_t *h = realloc(g->slot_hash, c * sizeof *h);
        if (h)
            g->slot_hash = h;
        uint32_t *o = h ? realloc(g->slot_off, c * sizeof *o) : NULL;
        if (!o)
            return AH_ENOMEM;
        g->slot_off = o;
        g->cap_blocks = c;
    }
    g->slot_hash[g->n_blocks] = hash;
    g->slot_off[g->n_blocks++] = (uint32_t)off;
    return 0;
}

/* One record to write: a head, its masks, and which strings it comes from (bit 0 key, 1 word). */
typedef struct grecord {
    const char *head;
    uint32_t head_len;
    uint8_t m4, m5, from;
} grecord_t;

/*
 * The records of one group, v[lo, mid) from keys and v[mid, hi) from word
 * starts (each sorted by head): each distinct head once, its masks OR-ed
 * over its strings, in out (hi - lo of room); returns how many.
 */
static size_t group_records(const gview_t *v, size_t lo, size_t mid, size_t hi, grecord_t *out)
{
    size_t n = 0, a = lo, b = mid;
    while (a < mid || b < hi) {
        int c = a == mid ? 1 : b == hi ? -1 : head_cmp(&v[a], &v[b]);
        const gview_t *first = c <= 0 ? &v[a] : &v[b];
        grecord_t r = {head_of(first), first->head_len, 0, 0, 0};
        for (; a < mid && head_cmp(&v[a], first) == 0; a++) {
            r.m4 |= v[a].m4;
            r.m5 |= v[a].m5;
            r.from |= 1;
        }
        for (; b < hi && head_cmp(&v[b], first) == 0; b++) {
            r.m4 |= v[b].m4;
            r.m5 |= v[b].m5;
            r.from |= 2;
        }
        out[n++] = r;
    }
    return n;
}

/* Appends the records of rec[0..n) that come from exactly `from`; returns their bytes. */
static uint64_t put_records(buf_t *b, const grecord_t *rec, size_t n, uint8_t from, int write)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (rec[i].from != from)
            continue;
        bytes += 2 + rec[i].head_len;
        if (write) {
            buf_put(b, &rec[i].m4, 1);
            buf_put(b, &rec[i].m5, 1);
            buf_put(b, rec[i].head, rec[i].head_len);
        }
    }
    return bytes;
}

/*
 * Appends the block of v[lo, hi) (one block key, sorted by by_view): its
 * key, then each group: its g3, the sizes of its three runs of records
 * (keys only, both, word starts only) and the runs.
 */
static int encode_block(grams_t *g, uint64_t hash, const gview_t *v, size_t lo, size_t hi,
                        grecord_t *rec)
{
    buf_t *b = &g->blocks;
    int rc = note_block(g, hash, b->len);
    if (rc)
        return rc;
    /* The block's key, read once from its first string. */
    const ah_entry_t *e = &g->e[v[lo].id];
    uint32_t cps[AH_MAX_GRAM_DEPTH + 2], offs[AH_MAX_GRAM_DEPTH + 3];
    decode_from(e->key, e->key_len, v[lo].start, cps, offs, g->j + 2);
    buf_varint(b, g->j);
    buf_varint(b, cps[0]);
    buf_varint(b, cps[g->j]);
    buf_varint(b, cps[g->j + 1]);
    size_t groups = 0;
    for (size_t i = lo; i < hi; groups++) {
        size_t k = i + 1;
        while (k < hi && ORDER_G3(v[k].order) == ORDER_G3(v[i].order))
            k++;
        i = k;
    }
    buf_varint(b, groups);
    for (size_t i = lo; i < hi;) {
        size_t k = i + 1, mid = i;
        while (k < hi && ORDER_G3(v[k].order) == ORDER_G3(v[i].order))
            k++;
        while (mid < k && !v[mid].word)
            mid++;
        size_t n = group_records(v, i, mid, k, rec);
        uint64_t keys = put_records(b, rec, n, 1, 0), both = put_records(b, rec, n, 3, 0),
                 words = put_records(b, rec, n, 2, 0);
        buf_varint(b, ORDER_G3(v[i].order));
        buf_varint(b, keys * 4 + (both > 0) * 2 + (words > 0));
        if (both > 0)
            buf_varint(b, both);
        if (words > 0)
            buf_varint(b, words);
        put_records(b, rec, n, 1, 1);
        put_records(b, rec, n, 3, 1);
        put_records(b, rec, n, 2, 1);
        i = k;
    }
    return 0;
}

/*
 * The part of every string at depth j (the top part_bits bits of its block
 * key's hash; 0 for a string too short to have one, which collect() skips
 * anyway), one byte each, so that each part's pass reads only its own
 * strings' keys: decoding every key for every part made a build in parts
 * quadratic (10^8 completions at --memory 2G: 64 parts of 4 depths).
 */
static int assign_parts(ah_grams_build_t *gb, unsigned j, const parts_t *parts, piece_t *p)
{
    uint32_t cps[AH_MAX_GRAM_DEPTH + 6], offs[AH_MAX_GRAM_DEPTH + 7];
    uint32_t id = UINT32_MAX; /* a key's string comes first: then its id is one more */
    for (size_t base = 0; base < gb->n; base += PIECE) {
        size_t len = gb->n - base < PIECE ? gb->n - base : PIECE;
        if (load_piece(gb, NULL, base, len, p))
            return AH_EIO;
        unsigned char *part_of = parts->mem ? parts->mem + base : p->part_buf;
        for (size_t x = 0; x < len; x++) {
            id += p->start[x] == 0;
            const ah_entry_t *e = &gb->e[id];
            unsigned c = decode_from(e->key, e->key_len, p->start[x], cps, offs, j + 2);
            part_of[x] = c < j + 2 ? 0
                                   : (unsigned char)(ah_gram_hash(j, cps[0], cps[j], cps[j + 1]) >>
                                                     (64 - gb->part_bits));
        }
        if (!parts->mem && scratch_io(gb, p->part_buf, len, parts->at + base, 1))
            return AH_EIO;
    }
    return 0;
}

/*
 * Every string's record at depth g->j whose hash's top part_bits bits are
 * `part` (parts, when not NULL, say which strings may be), into *r (*cap
 * records, grown when they do not fit), *m of them; p is room to read the
 * strings in. Returns 0, AH_ENOMEM or AH_EIO.
 */
static int collect(ah_grams_build_t *gb, grams_t *g, grec_t **r, size_t *cap, unsigned part,
                   const parts_t *parts, piece_t *p, size_t *m)
{
    uint32_t cps[AH_MAX_GRAM_DEPTH + 6], offs[AH_MAX_GRAM_DEPTH + 7];
    unsigned j = g->j;
    uint32_t id = UINT32_MAX;
    *m = 0;
    for (size_t base = 0; base < gb->n; base += PIECE) {
        size_t len = gb->n - base < PIECE ? gb->n - base : PIECE;
        if (load_piece(gb, parts, base, len, p))
            return AH_EIO;
        for (size_t x = 0; x < len; x++) {
            id += p->start[x] == 0;
            if (p->part && p->part[x] != part)
                continue;
            const ah_entry_t *e = &g->e[id];
            uint16_t start = p->start[x];
            /* The block key's code points first: a string of another part goes no further. */
            unsigned c = decode_from(e->key, e->key_len, start, cps, offs, j + 2);
            if (c < j + 2)
                continue;
            uint64_t h = ah_gram_hash(j, cps[0], cps[j], cps[j + 1]);
            if (gb->part_bits && h >> (64 - gb->part_bits) != part)
                continue;
            c += decode_from(e->key, e->key_len, offs[j + 2], cps + j + 2, offs + j + 2, 3);
            uint32_t g3 = c > j + 2 ? 1 + cps[j + 2] : AH_GRAM_END, hl = offs[j] - offs[1];
            unsigned word = start > 0;
            if (*m == *cap) {
                size_t grown = *cap + *cap / 4 + 1024;
                grec_t *nr = realloc(*r, grown * sizeof *nr);
                if (!nr)
                    return AH_ENOMEM;
                *r = nr;
                *cap = grown;
            }
            (*r)[(*m)++] = (grec_t){h,
                                    order_of(g3, word, e->key + offs[1], hl),
                                    id,
                                    ah_gram_check(j, cps[0], cps[j], cps[j + 1]),
                                    start,
                                    c > j + 3 ? (uint8_t)(1u << ah_gram_bit(cps[j + 3])) : 0,
                                    c > j + 4 ? (uint8_t)(1u << ah_gram_bit(cps[j + 4])) : 0};
        }
    }
    return 0;
}

/* Appends the blocks of r[0..m) (sorted by hash) to g. */
static int encode_blocks(grams_t *g, const grec_t *r, size_t m)
{
    gview_t *views = NULL, *room = NULL; /* room: the sort's, as views up to VIEW_SORT_ROOM */
    grecord_t *recs = NULL;
    size_t cap_views = 0;
    int rc = 0;
    for (size_t i = 0; i < m && !rc;) {
        size_t k = i + 1;
        while (k < m && r[k].hash == r[i].hash)
            k++;
        if (k - i > cap_views) {
            size_t n_room = k - i < VIEW_SORT_ROOM ? k - i : VIEW_SORT_ROOM;
            gview_t *nv = realloc(views, (k - i) * sizeof *nv);
            if (nv)
                views = nv;
            gview_t *nroom = nv ? realloc(room, n_room * sizeof *nroom) : NULL;
            if (nroom)
                room = nroom;
            grecord_t *nr = nroom ? realloc(recs, (k - i) * sizeof *nr) : NULL;
            if (!nr) {
                rc = AH_ENOMEM;
                break;
            }
            recs = nr;
            cap_views = k - i;
        }
        for (size_t x = i; x < k; x++)
            view(g, &r[x], &views[x - i]);
        if (k - i <= VIEW_SORT_ROOM)
            sort_views(views, room, k - i);
        else /* glibc's sorts these through pointers: less room than a copy of the run */
            qsort(views, k - i, sizeof *views, by_view);
        /* A run of equal hash may hold several block keys (a collision): one block each. */
        for (size_t a = 0; a < k - i && !rc;) {
            size_t end = a + 1;
            while (end < k - i && views[end].check == views[a].check)
                end++;
            rc = encode_block(g, r[i].hash, views, a, end, recs);
            a = end;
        }
        i = k;
    }
    free(views);
    free(room);
    free(recs);
    return rc;
}

/*
 * Builds the blocks of depth g->j, part by part: each part is a range of
 * hashes, so the parts' blocks follow one another in hash order and the
 * bytes are those of one part.
 */
static int build_depth(ah_grams_build_t *gb, grams_t *g)
{
    size_t parts = (size_t)1 << gb->part_bits;
    size_t cap = gb->n / parts + gb->n / parts / 8 + 1024; /* hashes spread evenly, or nearly */
    grec_t *r = malloc(cap * sizeof *r);
    piece_t *p = malloc(sizeof *p);
    parts_t where = {NULL, UINT64_MAX};
    if (parts > 1) {
        where.at = scratch_take(gb, gb->n);
        where.mem = where.at == UINT64_MAX ? malloc(gb->n ? gb->n : 1) : NULL;
    }
    int rc = r && p && (parts == 1 || where.mem || where.at != UINT64_MAX) ? 0 : AH_ENOMEM;
    if (!rc && parts > 1)
        rc = assign_parts(gb, g->j, &where, p);
    for (unsigned part = 0; part < parts && !rc; part++) {
        size_t m;
        rc = collect(gb, g, &r, &cap, part, parts > 1 ? &where : NULL, p, &m);
        if (!rc) {
            sort_by_hash(r, m, 56);
            rc = encode_blocks(g, r, m);
        }
    }
    free(r);
    free(p);
    free(where.mem);
    scratch_drop(gb, where.at, gb->n);
    if (!rc && g->blocks.failed)
        rc = AH_ENOMEM;
    /* Done: the blocks wait in the scratch file for the others, or here when it has no room. */
    uint64_t at = rc ? UINT64_MAX : scratch_take(gb, g->blocks.len);
    if (at != UINT64_MAX && !scratch_io(gb, g->blocks.data, g->blocks.len, at, 1)) {
        free(g->blocks.data);
        g->blocks.data = NULL;
        g->blocks.cap = 0;
        g->parked_at = at;
        /* And the slots' hashes and offsets, which wait until the writer has chosen the depth. */
        uint64_t n = g->n_blocks;
        at = scratch_take(gb, 12 * n);
        if (at != UINT64_MAX && !scratch_io(gb, g->slot_hash, 8 * n, at, 1) &&
            !scratch_io(gb, g->slot_off, 4 * n, at + 8 * n, 1)) {
            free(g->slot_hash);
            free(g->slot_off);
            g->slot_hash = NULL;
            g->slot_off = NULL;
            g->slots_at = at;
        }
    }
    return rc;
}

int ah_writer__grams_begin(ah_grams_build_t **out, const ah_entry_t *e, uint32_t n, int words,
                           unsigned depth, size_t memory, int scratch_fd,
                           const ah_read_hook_t *read)
{
    /* Verifying rebuilds the table at the depth a header names; the buffers hold up to the most. */
    if (depth > AH_MAX_GRAM_DEPTH)
        return AH_EINVAL;
    ah_grams_build_t *gb = calloc(1, sizeof *gb);
    uint32_t *offs = malloc(AH_MAX_KEY_BYTES / 2 * sizeof *offs);
    size_t cap = n;
    for (uint32_t id = 0; words && offs && id < n; id++) {
        ah_read_tick(read, id);
        cap += ah_match_word_starts(e[id].key, e[id].key_len, offs, AH_MAX_KEY_BYTES / 2);
    }
    uint16_t *piece = NULL;
    if (gb) {
        gb->e = e;
        gb->depth = depth;
        gb->fd = -1;
        gb->read = read ? *read : (ah_read_hook_t){NULL, NULL};
        atomic_init(&gb->scratch_end, 0);
        atomic_init(&gb->io_errno, 0);
        /* The scratch file when the arrays over every string of two depths at once (4 bytes a
         * string) would take more than an eighth of the memory budget. */
        if (scratch_fd >= 0 && memory && 4 * (uint64_t)cap > memory / 8) {
            gb->fd = scratch_fd;
            if (scratch_take(gb, 2 * (uint64_t)cap) == UINT64_MAX) /* from 0 */
                gb->fd = -1;
        }
        if (gb->fd >= 0)
            piece = malloc(PIECE * sizeof *piece);
        else
            gb->starts = malloc((cap ? cap : 1) * sizeof *gb->starts);
        gb->per = calloc(depth + 1, sizeof *gb->per);
    }
    if (!gb || !offs || !(gb->starts || piece) || !gb->per) {
        free(offs);
        free(piece);
        ah_writer__grams_end(gb, AH_MAX_GRAM_DEPTH, NULL, NULL, NULL, NULL);
        return AH_ENOMEM;
    }
    int rc = 0;
    for (uint32_t id = 0; id < n && !rc; id++) {
        ah_read_tick(read, id);
        size_t k =
            words ? ah_match_word_starts(e[id].key, e[id].key_len, offs, AH_MAX_KEY_BYTES / 2) : 0;
        for (size_t i = 0; i <= k && i <= AH_MAX_KEY_BYTES / 2; i++) {
            uint16_t start = i == 0 ? 0 : (uint16_t)offs[i - 1];
            if (gb->starts) {
                gb->starts[gb->n++] = start;
                continue;
            }
            piece[gb->n++ % PIECE] = start;
            if (gb->n % PIECE == 0)
                rc = scratch_io(gb, piece, PIECE * 2, (uint64_t)(gb->n - PIECE) * 2, 1);
        }
    }
    if (!rc && piece && gb->n % PIECE)
        rc = scratch_io(gb, piece, gb->n % PIECE * 2, (uint64_t)(gb->n - gb->n % PIECE) * 2, 1);
    free(offs);
    free(piece);
    if (rc) {
        ah_writer__grams_end(gb, AH_MAX_GRAM_DEPTH, NULL, NULL, NULL, NULL);
        return rc;
    }
    for (unsigned j = 2; j <= depth; j++)
        gb->per[j] = (grams_t){.e = e, .j = j, .parked_at = UINT64_MAX, .slots_at = UINT64_MAX};
    /* Two depths at a time (two threads) may take a quarter of the memory budget. */
    while (memory && gb->part_bits < 8 &&
           2 * (gb->n >> gb->part_bits) * sizeof(grec_t) > memory / 4)
        gb->part_bits++;
    atomic_init(&gb->next, 0);
    *out = gb;
    return 0;
}

void ah_writer__grams_work(ah_grams_build_t *gb)
{
    for (;;) {
        unsigned i = atomic_fetch_add(&gb->next, 1);
        if (gb->depth < 2 || i > gb->depth - 2)
            return;
        grams_t *g = &gb->per[gb->depth - i];
        g->rc = build_depth(gb, g);
    }
}

/* Appends depth g's blocks to out, from the scratch file in pieces when parked, and frees them. */
static int append_blocks(ah_grams_build_t *gb, grams_t *g, buf_t *out,
                         const ah_section_out_t *out_to)
{
    if (g->parked_at == UINT64_MAX) {
        buf_put(out, g->blocks.data, g->blocks.len);
        free(g->blocks.data);
        g->blocks.data = NULL;
        if (out_to)
            out_to->flush(out_to->ctx);
        return 0;
    }
    int rc = 0;
    for (uint64_t done = 0; done < g->blocks.len && !rc;) {
        size_t len =
            g->blocks.len - done < (1u << 20) ? (size_t)(g->blocks.len - done) : (1u << 20);
        unsigned char *p = buf_grow(out, len);
        if (!p)
            return AH_ENOMEM;
        rc = scratch_io(gb, p, len, g->parked_at + done, 0);
        done += len;
        if (out_to)
            out_to->flush(out_to->ctx);
    }
    scratch_drop(gb, g->parked_at, g->blocks.len);
    return rc;
}

#define SLOT_PIECE 65536 /* parked slots' hashes and offsets read back a piece at a time */

/* The slots for total blocks: a power of two at least 5/4 of them, and one more, so one stays
 * empty. */
static uint64_t slots_for(size_t total)
{
    uint64_t ns = 1;
    while (ns < total + total / 4 + 1)
        ns *= 2;
    return ns;
}

uint64_t ah_writer__grams_bytes(const ah_grams_build_t *gb, unsigned depth)
{
    size_t total = 0;
    uint64_t bytes = 0;
    for (unsigned j = 2; j <= depth && j <= gb->depth; j++) {
        total += gb->per[j].n_blocks;
        bytes += gb->per[j].blocks.len;
    }
    return slots_for(total) * AH_GRAM_SLOT_SIZE + bytes;
}

int ah_writer__grams_end(ah_grams_build_t *gb, unsigned depth, buf_t *slots, buf_t *blocks,
                         const ah_section_out_t *blocks_out, uint32_t *n_slots)
{
    if (!gb)
        return AH_ENOMEM;
    int rc = 0;
    size_t total = 0;
    uint64_t bytes = 0;
    if (depth > gb->depth)
        depth = gb->depth;
    for (unsigned j = 2; j <= gb->depth && gb->per; j++) {
        grams_t *g = &gb->per[j];
        if (!rc && (g->rc || g->too_large))
            rc = g->rc ? g->rc : AH_EINVAL;
        total += j <= depth ? g->n_blocks : 0;
        bytes += j <= depth ? g->blocks.len : 0;
    }
    uint64_t ns = rc ? 1 : slots_for(total);
    uint64_t *hash_buf = rc || !slots ? NULL : malloc(SLOT_PIECE * sizeof *hash_buf);
    uint32_t *off_buf = hash_buf ? malloc(SLOT_PIECE * sizeof *off_buf) : NULL;
    if (!rc && slots && !off_buf)
        rc = AH_ENOMEM;
    unsigned char *p = rc || !slots ? NULL : buf_grow(slots, ns * AH_GRAM_SLOT_SIZE);
    if (!rc && slots && !p)
        rc = AH_ENOMEM;
    if (!rc && bytes > UINT32_MAX - 1)
        rc = AH_EINVAL;
    if (!rc && p) {
        memset(p, 0xff, ns * AH_GRAM_SLOT_SIZE);
        if (blocks_out)
            blocks_out->begin(blocks_out->ctx, bytes);
        uint64_t base = 0;
        for (unsigned j = 2; j <= depth && !rc; j++) {
            grams_t *g = &gb->per[j];
            /* Depths follow one another in GRAM_BLOCKS, shallowest first. */
            rc = append_blocks(gb, g, blocks, blocks_out);
            for (size_t i = 0; i < g->n_blocks && !rc; i += SLOT_PIECE) {
                size_t m = g->n_blocks - i < SLOT_PIECE ? g->n_blocks - i : SLOT_PIECE;
                const uint64_t *hash = g->slot_hash + i;
                const uint32_t *off = g->slot_off + i;
                if (g->slots_at != UINT64_MAX) { /* parked: a piece at a time */
                    rc = scratch_io(gb, hash_buf, 8 * m, g->slots_at + 8 * i, 0);
                    if (!rc)
                        rc = scratch_io(gb, off_buf, 4 * m,
                                        g->slots_at + 8 * (uint64_t)g->n_blocks + 4 * i, 0);
                    hash = hash_buf;
                    off = off_buf;
                }
                for (size_t k = 0; k < m && !rc; k++) {
                    uint64_t at = hash[k] & (ns - 1);
                    while (ah_load_u32(p + at * AH_GRAM_SLOT_SIZE) != AH_GRAM_SLOT_EMPTY)
                        at = (at + 1) & (ns - 1);
                    ah_store_u32(p + at * AH_GRAM_SLOT_SIZE, (uint32_t)(base + off[k]));
                    ah_store_u32(p + at * AH_GRAM_SLOT_SIZE + 4, (uint32_t)(hash[k] >> 32));
                }
            }
            base += g->blocks.len;
        }
        *n_slots = (uint32_t)ns;
    }
    if (!rc && ns > UINT32_MAX)
        rc = AH_EINVAL;
    if (rc == AH_EIO)
        errno = atomic_load(&gb->io_errno);
    for (unsigned j = 2; j <= gb->depth && gb->per; j++) {
        free(gb->per[j].blocks.data);
        free(gb->per[j].slot_hash);
        free(gb->per[j].slot_off);
        scratch_drop(gb, gb->per[j].slots_at, 12 * (uint64_t)gb->per[j].n_blocks);
        if (j > depth) /* left out: its blocks wait in the scratch file no longer */
            scratch_drop(gb, gb->per[j].parked_at, gb->per[j].blocks.len);
    }
    free(hash_buf);
    free(off_buf);
    free(gb->per);
    free(gb->starts);
    free(gb);
    return rc;
}

int ah_writer__grams(const ah_entry_t *e, uint32_t n, int words, unsigned depth, size_t memory,
                     buf_t *slots, buf_t *blocks, uint32_t *n_slots)
{
    ah_grams_build_t *gb;
    int rc = ah_writer__grams_begin(&gb, e, n, words, depth, memory, -1, NULL);
    if (rc)
        return rc;
    ah_writer__grams_work(gb);
    return ah_writer__grams_end(gb, depth, slots, blocks, NULL, n_slots);
}
