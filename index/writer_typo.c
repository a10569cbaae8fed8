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
 * records, 16 bytes each):
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

#include "ahead.h"
#include "match.h"
#include "typo.h"

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

/* One string's record at one depth, 16 bytes: the rest is read off its key again. */
typedef struct grec {
    uint64_t hash; /* of the block key (j, P0, g1, g2) */
    uint32_t id;   /* the key's lex id */
    uint16_t start;
    uint8_t word; /* 0: the key itself (start 0), 1: a word-start suffix */
    uint8_t pad;
} grec_t;

typedef struct grams {
    const ah_entry_t *e;
    unsigned j;
    buf_t *blocks;
    uint64_t *slot_hash; /* per block: its hash, and its offset in blocks */
    uint32_t *slot_off;
    size_t n_blocks, cap_blocks;
    int too_large;
} grams_t;

/* Code points of a string from byte start on: up to cap of them, with their byte offsets. */
static unsigned decode_from(const char *key, uint32_t len, uint32_t start, uint32_t *cps,
                            uint32_t *offs, unsigned cap)
{
    unsigned n = 0;
    uint32_t b = start;
    while (b < len && n < cap) {
        unsigned char c0 = (unsigned char)key[b];
        uint32_t l = c0 < 0x80 ? 1 : c0 < 0xe0 ? 2 : c0 < 0xf0 ? 3 : 4;
        if (l > len - b)
            l = len - b;
        offs[n] = b;
        ah_match_decode(key + b, l, &cps[n], 1);
        n++;
        b += l;
    }
    offs[n] = b;
    return n;
}

/* What a record says about its string, decoded from the key: the block key, g3, head, m4, m5. */
typedef struct gview {
    uint32_t p0, g1, g2, g3; /* g3: AH_GRAM_END or 1 + the code point */
    const char *head;
    uint32_t head_len;
    uint8_t m4, m5, word;
} gview_t;

static void view(const grams_t *g, const grec_t *r, gview_t *v)
{
    const ah_entry_t *e = &g->e[r->id];
    uint32_t cps[AH_GRAM_DEPTH + 6], offs[AH_GRAM_DEPTH + 7];
    unsigned j = g->j, n = decode_from(e->key, e->key_len, r->start, cps, offs, j + 5);
    v->p0 = cps[0];
    v->g1 = cps[j];
    v->g2 = cps[j + 1];
    v->g3 = n > j + 2 ? 1 + cps[j + 2] : AH_GRAM_END;
    v->head = e->key + offs[1];
    v->head_len = offs[j] - offs[1];
    v->m4 = n > j + 3 ? (uint8_t)(1u << ah_gram_bit(cps[j + 3])) : 0;
    v->m5 = n > j + 4 ? (uint8_t)(1u << ah_gram_bit(cps[j + 4])) : 0;
    v->word = r->word;
}

/* Order within a run of equal hash: block key, g3, main before word, head bytes. */
static int by_view(const void *a, const void *b)
{
    const gview_t *x = a, *y = b;
#define CMP(f)                                                                                     \
    if (x->f != y->f)                                                                              \
    return x->f < y->f ? -1 : 1
    CMP(p0);
    CMP(g1);
    CMP(g2);
    CMP(g3);
    CMP(word);
#undef CMP
    uint32_t m = x->head_len < y->head_len ? x->head_len : y->head_len;
    int c = memcmp(x->head, y->head, m);
    return c ? c : (int)x->head_len - (int)y->head_len;
}

/* Stable LSD radix sort of n records by hash, eight bits at a time; tmp holds n records. */
static void radix_sort(grec_t *r, grec_t *tmp, size_t n)
{
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((r[i].hash >> shift) & 0xff) + 1]++;
        for (unsigned b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            tmp[count[(r[i].hash >> shift) & 0xff]++] = r[i];
        memcpy(r, tmp, n * sizeof *r);
    }
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

static int head_cmp(const gview_t *a, const gview_t *b)
{
    uint32_t m = a->head_len < b->head_len ? a->head_len : b->head_len;
    int c = memcmp(a->head, b->head, m);
    return c ? c : (int)a->head_len - (int)b->head_len;
}

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
        grecord_t r = {first->head, first->head_len, 0, 0, 0};
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
    buf_t *b = g->blocks;
    int rc = note_block(g, hash, b->len);
    if (rc)
        return rc;
    buf_varint(b, g->j);
    buf_varint(b, v[lo].p0);
    buf_varint(b, v[lo].g1);
    buf_varint(b, v[lo].g2);
    size_t groups = 0;
    for (size_t i = lo; i < hi; groups++) {
        size_t k = i + 1;
        while (k < hi && v[k].g3 == v[i].g3)
            k++;
        i = k;
    }
    buf_varint(b, groups);
    for (size_t i = lo; i < hi;) {
        size_t k = i + 1, mid = i;
        while (k < hi && v[k].g3 == v[i].g3)
            k++;
        while (mid < k && !v[mid].word)
            mid++;
        size_t n = group_records(v, i, mid, k, rec);
        uint64_t keys = put_records(b, rec, n, 1, 0), both = put_records(b, rec, n, 3, 0),
                 words = put_records(b, rec, n, 2, 0);
        buf_varint(b, v[i].g3);
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

/* Every string's record at depth g->j into r; returns how many (<= cap). */
static size_t collect(grams_t *g, uint32_t n, int words, grec_t *r)
{
    size_t m = 0;
    uint32_t starts[AH_MAX_KEY_BYTES / 2];
    uint32_t cps[AH_GRAM_DEPTH + 6], offs[AH_GRAM_DEPTH + 7];
    for (uint32_t id = 0; id < n; id++) {
        const ah_entry_t *e = &g->e[id];
        size_t ns = 0;
        starts[ns++] = 0;
        if (words)
            ns += ah_match_word_starts(e->key, e->key_len, starts + 1,
                                       sizeof starts / sizeof *starts - 1);
        if (ns > sizeof starts / sizeof *starts)
            ns = sizeof starts / sizeof *starts;
        for (size_t s = 0; s < ns; s++) {
            unsigned c = decode_from(e->key, e->key_len, starts[s], cps, offs, g->j + 2);
            if (c < g->j + 2)
                continue;
            r[m++] = (grec_t){ah_gram_hash(g->j, cps[0], cps[g->j], cps[g->j + 1]), id,
                              (uint16_t)starts[s], (uint8_t)(s > 0), 0};
        }
    }
    return m;
}

int ah_writer__grams(const ah_entry_t *e, uint32_t n, int words, unsigned depth, buf_t *slots,
                     buf_t *blocks, uint32_t *n_slots)
{
    /* One record per key, and per word start when words are indexed. */
    size_t cap = n;
    if (words) {
        uint32_t starts[AH_MAX_KEY_BYTES / 2];
        for (uint32_t id = 0; id < n; id++)
            cap += ah_match_word_starts(e[id].key, e[id].key_len, starts,
                                        sizeof starts / sizeof *starts);
    }
    grams_t g = {.e = e, .blocks = blocks};
    gview_t *views = NULL;
    grecord_t *recs = NULL;
    size_t cap_views = 0;
    grec_t *r = malloc((cap ? cap : 1) * sizeof *r), *tmp = malloc((cap ? cap : 1) * sizeof *r);
    int rc = r && tmp ? 0 : AH_ENOMEM;
    for (unsigned j = 2; j <= depth && !rc; j++) {
        g.j = j;
        size_t m = collect(&g, n, words, r);
        radix_sort(r, tmp, m);
        for (size_t i = 0; i < m && !rc;) {
            size_t k = i + 1;
            while (k < m && r[k].hash == r[i].hash)
                k++;
            if (k - i > cap_views) {
                gview_t *nv = realloc(views, (k - i) * sizeof *nv);
                if (nv)
                    views = nv;
                grecord_t *nr = nv ? realloc(recs, (k - i) * sizeof *nr) : NULL;
                if (!nr) {
                    rc = AH_ENOMEM;
                    break;
                }
                recs = nr;
                cap_views = k - i;
            }
            for (size_t x = i; x < k; x++)
                view(&g, &r[x], &views[x - i]);
            qsort(views, k - i, sizeof *views, by_view);
            /* A run of equal hash may hold several block keys (a collision): one block each. */
            for (size_t a = 0; a < k - i && !rc;) {
                size_t end = a + 1;
                while (end < k - i && views[end].p0 == views[a].p0 &&
                       views[end].g1 == views[a].g1 && views[end].g2 == views[a].g2)
                    end++;
                rc = encode_block(&g, r[i].hash, views, a, end, recs);
                a = end;
            }
            i = k;
        }
    }
    free(r);
    free(tmp);
    free(views);
    free(recs);
    /* The slots: a power of two at least 5/4 of the blocks, and one more, so one stays empty. */
    uint64_t ns = 1;
    while (!rc && ns < g.n_blocks + g.n_blocks / 4 + 1)
        ns *= 2;
    unsigned char *p = rc ? NULL : buf_grow(slots, ns * AH_GRAM_SLOT_SIZE);
    if (!rc && !p)
        rc = AH_ENOMEM;
    if (!rc) {
        memset(p, 0xff, ns * AH_GRAM_SLOT_SIZE);
        for (size_t i = 0; i < g.n_blocks; i++) {
            uint64_t at = g.slot_hash[i] & (ns - 1);
            while (ah_load_u32(p + at * AH_GRAM_SLOT_SIZE) != AH_GRAM_SLOT_EMPTY)
                at = (at + 1) & (ns - 1);
            ah_store_u32(p + at * AH_GRAM_SLOT_SIZE, g.slot_off[i]);
            ah_store_u32(p + at * AH_GRAM_SLOT_SIZE + 4, (uint32_t)(g.slot_hash[i] >> 32));
        }
        *n_slots = (uint32_t)ns;
    }
    if (!rc && (g.too_large || ns > UINT32_MAX))
        rc = AH_EINVAL;
    free(g.slot_hash);
    free(g.slot_off);
    return rc;
}
