/* SPDX-License-Identifier: MIT */
/*
 * grams.c: the gram table's part of a typo pass (format.h, GRAM_SLOTS and
 * GRAM_BLOCKS; walk.h).
 *
 * A pass of distance d over Q (n code points) hands the table every match
 * whose distance state first runs out of edits at a depth j in [d + 1, J]
 * (no state can before d + 1: the first code point is never an edit), where
 *
 *   J = min(typo depth, n - d - GRAM_MIN_REST)
 *
 * so that from any such state at least GRAM_MIN_REST code points of Q are
 * left to continue exactly: the two the block key holds, g1 and g2, and
 * where Q has them, the g3 of a group and the m4, m5 of a record.
 *
 *   for j = d + 1 .. J, for each position x = j - d .. j + d Q may go on from:
 *     block (j, Q[0], Q[x], Q[x+1])       one probe of GRAM_SLOTS
 *       group g3 = Q[x+2] (or all groups when Q ends at x + 2)
 *         records of this pass's trie      m4, m5 against Q[x+3], Q[x+4]
 *           head h: the distance over Q[0] h is not out of edits before
 *           depth j, is at j, and lane x holds exactly d
 *             -> every completion under Q[0] h Q[x..n) matches at d:
 *                an exact walk offers them (ah_walk__exact)
 *
 * The walk then drops every state that first runs out of edits at one of
 * those depths (walk.c, step): each is one of those, and was offered here.
 * The exact walks run before the pass's own, while its frontier is empty,
 * and offer into its candidates, so the best `need` overall win.
 */
#include "walk.h"

#include "typo.h"

#include <string.h>

/* Code points of Q a state must be able to continue with for the table to serve it. */
#define GRAM_MIN_REST 2

/* UTF-8 of one code point into out; returns its length. */
static size_t put_utf8(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* The bytes of the head at [at, end): cps code points by their lead bytes; 0 when cut short. */
static uint32_t head_bytes(const unsigned char *at, const unsigned char *end, unsigned cps)
{
    uint32_t len = 0;
    for (unsigned i = 0; i < cps; i++) {
        if (at + len >= end)
            return 0;
        unsigned char c = at[len];
        len += c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    }
    return at + len <= end ? len : 0;
}

/*
 * Q's distance over the heads of one list, which are sorted: a head
 * resumes from the states its predecessor left along the code points they
 * share, and one that shares the code point where its predecessor failed
 * fails with it.
 */
typedef struct heads {
    ah_osa_t st[AH_MAX_GRAM_DEPTH]; /* st[i]: after Q[0] and i code points of the last head */
    uint32_t cps[AH_MAX_GRAM_DEPTH];
    unsigned known;  /* cps[0..known) are the last head's */
    unsigned valid;  /* st[0..valid] hold */
    unsigned failed; /* the last head failed reading cps[failed], or AH_MAX_GRAM_DEPTH */
} heads_t;

static void heads_init(heads_t *hs, const ah_osa_t *start)
{
    hs->st[0] = *start;
    hs->known = hs->valid = 0;
    hs->failed = AH_MAX_GRAM_DEPTH;
}

/*
 * 1 when the state after Q[0] and the head h (j - 1 code points, len
 * bytes) first runs out of edits at depth j, with lane x at exactly d.
 */
static int head_fits(const ah_pattern_t *p, heads_t *hs, const unsigned char *h, uint32_t len,
                     unsigned j, unsigned x)
{
    uint32_t cps[AH_MAX_GRAM_DEPTH];
    if (ah_match_decode((const char *)h, len, cps, AH_MAX_GRAM_DEPTH) != j - 1)
        return 0; /* damaged: a record can only fail */
    unsigned same = 0;
    while (same < hs->known && cps[same] == hs->cps[same])
        same++;
    if (hs->failed < AH_MAX_GRAM_DEPTH && same > hs->failed)
        return 0; /* it shares the code point the last head failed on */
    hs->failed = AH_MAX_GRAM_DEPTH;
    unsigned i = same < hs->valid ? same : hs->valid;
    for (; i + 1 < j; i++) {
        hs->cps[i] = cps[i];
        hs->known = i + 1;
        hs->st[i + 1] = hs->st[i];
        hs->valid = i;
        /* Out of edits before depth j: the block of that depth has it. */
        if (ah_osa_step(p, &hs->st[i + 1], cps[i]) != AH_OSA_ALIVE ||
            (i + 2 < j && hs->st[i + 1].sat)) {
            hs->failed = i;
            return 0;
        }
        hs->valid = i + 1;
    }
    const ah_osa_t *st = &hs->st[j - 1];
    unsigned lane = x + p->d - j;
    return st->sat && ((st->row >> (8 * lane)) & 0xff) == p->d;
}

/* Offers the completions under Q[0] h Q[x..n) through an exact walk of this pass's trie. */
static int take_head(ah_walk_t *s, int words, const unsigned char *h, uint32_t len, unsigned x,
                     char *key, size_t q0)
{
    const ah_pattern_t *p = &s->pat;
    memcpy(key + q0, h, len);
    size_t l = q0 + len;
    for (unsigned y = x; y < p->n; y++)
        l += put_utf8(p->q[y], key + l);
    return ah_walk__exact(s, words, key, l);
}

/* Where a head that fits goes besides its walk: nowhere, or kept for the word-start pass. */
enum { FITS_WALK, FITS_KEEP };

/*
 * The records of one group's list (bytes [at, end)) for the position x:
 * each head that fits is offered through an exact walk of Q[0] h Q[x..n),
 * and with FITS_KEEP kept in s->fits as well.
 */
static int take_records(ah_walk_t *s, int words, const ah_osa_t *start, const unsigned char *at,
                        const unsigned char *end, unsigned j, unsigned x, uint32_t g3, int keep,
                        char *key, size_t q0)
{
    const ah_pattern_t *p = &s->pat;
    heads_t hs;
    heads_init(&hs, start);
    unsigned rest = p->n - x;
    uint8_t want4 = rest > 3 ? (uint8_t)(1u << ah_gram_bit(p->q[x + 3])) : 0;
    uint8_t want5 = rest > 4 ? (uint8_t)(1u << ah_gram_bit(p->q[x + 4])) : 0;
    while (at < end) {
        uint32_t len = end - at > 2 ? head_bytes(at + 2, end, j - 1) : 0;
        if (len == 0)
            return AH_ECORRUPT;
        uint8_t m4 = at[0], m5 = at[1];
        const unsigned char *h = at + 2;
        at = h + len;
        if ((want4 && !(m4 & want4)) || (want5 && !(m5 & want5)))
            continue; /* no string here goes on with Q[x+3], Q[x+4] */
        if (s->work >= AH_LOOKUP_MAX_WORK) {
            s->complete = 0;
            return 0;
        }
        s->work++;
        if (!head_fits(p, &hs, h, len, j, x))
            continue;
        if (keep == FITS_KEEP && s->nfits < AH_GRAM_FITS)
            s->fits[s->nfits] = (ah_gram_fit_t){h, len, g3, (uint8_t)j, (uint8_t)x};
        s->nfits += keep == FITS_KEEP; /* past AH_GRAM_FITS: too many to keep */
        int rc = take_head(s, words, h, len, x, key, q0);
        if (rc)
            return rc;
    }
    return 0;
}

/* The word-start pass: the heads the main trie's pass kept for this block and group. */
static int take_kept(ah_walk_t *s, unsigned j, unsigned x, uint32_t g3, char *key, size_t q0)
{
    for (; s->fits_next < s->nfits; s->fits_next++) {
        const ah_gram_fit_t *f = &s->fits[s->fits_next];
        if (f->j != j || f->x != x || f->g3 != g3)
            return 0;
        if (s->work >= AH_LOOKUP_MAX_WORK) {
            s->complete = 0;
            return 0;
        }
        s->work++;
        int rc = take_head(s, 1, f->h, f->len, x, key, q0);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * The block of key (j, Q[0], Q[x], Q[x+1]) at off in GRAM_BLOCKS, if it is
 * that key's (its check matched), for the position x: the group of
 * Q[x+2], or every group when Q ends at x + 2, and in it the list of this
 * pass's trie. Returns 1 when it was that key's block, 0 when it was not,
 * or AH_ECORRUPT.
 */
static int take_block(ah_walk_t *s, int words, const ah_osa_t *start, uint32_t off, unsigned j,
                      unsigned x, char *key, size_t q0)
{
    const ah_section_t *blocks = &s->ix->sec[AH_SEC_GRAM_BLOCKS];
    const ah_pattern_t *p = &s->pat;
    const unsigned char *b = blocks->data + off, *end = blocks->data + blocks->len;
    uint64_t k[4], groups, want = p->n - x > 2 ? 1 + (uint64_t)p->q[x + 2] : UINT64_MAX;
    for (int i = 0; i < 4; i++)
        if (off >= blocks->len || !ah_varint_get(&b, end, &k[i]))
            return AH_ECORRUPT;
    if (k[0] != j || k[1] != p->q[0] || k[2] != p->q[x] || k[3] != p->q[x + 1])
        return 0; /* another key with the same check */
    if (!ah_varint_get(&b, end, &groups) || groups == 0)
        return AH_ECORRUPT;
    for (uint64_t g = 0; g < groups; g++) {
        /* Three runs: heads of keys only (kb), of both (bb), of word starts only (wb). */
        uint64_t g3, a, bb = 0, wb = 0;
        if (!ah_varint_get(&b, end, &g3) || !ah_varint_get(&b, end, &a) ||
            ((a & 2) && !ah_varint_get(&b, end, &bb)) || ((a & 1) && !ah_varint_get(&b, end, &wb)))
            return AH_ECORRUPT;
        uint64_t kb = a >> 2;
        if (kb > (uint64_t)(end - b) || bb > (uint64_t)(end - b) - kb ||
            wb > (uint64_t)(end - b) - kb - bb)
            return AH_ECORRUPT;
        if (want == UINT64_MAX || g3 == want) {
            /* The "both" run's fits: found by the main trie's pass and kept for the
             * word-start one, which then reads only its own run (when all were kept). */
            uint32_t group = (uint32_t)g3;
            int rc;
            if (!words) {
                rc = take_records(s, 0, start, b, b + kb, j, x, group, FITS_WALK, key, q0);
                if (!rc)
                    rc = take_records(s, 0, start, b + kb, b + kb + bb, j, x, group, FITS_KEEP, key,
                                      q0);
            } else if (s->fits_d == p->d) {
                rc = take_kept(s, j, x, group, key, q0);
                if (!rc)
                    rc = take_records(s, 1, start, b + kb + bb, b + kb + bb + wb, j, x, group,
                                      FITS_WALK, key, q0);
            } else {
                rc = take_records(s, 1, start, b + kb, b + kb + bb + wb, j, x, group, FITS_WALK,
                                  key, q0);
            }
            if (rc || want != UINT64_MAX)
                return rc ? rc : 1; /* one group has this g3 */
        } else if (g3 > want) {
            break; /* groups are by g3 ascending */
        }
        b += kb + bb + wb;
    }
    return 1;
}

int ah_grams__pass(ah_walk_t *s, int words)
{
    const ah_index_t *ix = s->ix;
    const ah_pattern_t *p = &s->pat;
    unsigned d = p->d;
    int use_kept = words && s->fits_d == d;
    s->fits_d = 0; /* kept for one word-start pass, of the main pass's distance */
    if (use_kept)
        s->fits_d = d;
    if (!words)
        s->nfits = 0;
    s->fits_next = 0;
    if (p->n < d + GRAM_MIN_REST + 2)
        return 0;
    unsigned top = p->n - d - GRAM_MIN_REST;
    if (top > ix->typo_depth)
        top = ix->typo_depth;
    /* Edits come one per code point, the first is never one: none runs out before depth d + 1. */
    unsigned lo = d + 1 > 2 ? d + 1 : 2;
    if (lo > top)
        return 0;
    ah_osa_t start;
    ah_osa_init(p, &start);
    if (ah_osa_step(p, &start, p->q[0]) != AH_OSA_ALIVE)
        return 0;
    /* Q[0] h Q[x..n): Q[0], up to typo depth - 1 code points of head, then Q's rest. */
    char key[4 * (AH_MAX_GRAM_DEPTH + AH_MAX_KEY_BYTES)];
    size_t q0 = put_utf8(p->q[0], key);
    const unsigned char *slots = ix->sec[AH_SEC_GRAM_SLOTS].data;
    uint64_t mask = ix->gram_slots - 1;
    for (unsigned j = lo; j <= top; j++) {
        for (unsigned x = j > d ? j - d : 0; x <= j + d; x++) {
            uint64_t h = ah_gram_hash(j, p->q[0], p->q[x], p->q[x + 1]);
            /* Open addressing: every probe sequence ends at an empty slot, or after every slot. */
            for (uint64_t n = 0, at = h & mask; n <= mask; n++, at = (at + 1) & mask) {
                const unsigned char *slot = slots + at * AH_GRAM_SLOT_SIZE;
                uint32_t off = ah_load_u32(slot);
                if (off == AH_GRAM_SLOT_EMPTY)
                    break;
                if (ah_load_u32(slot + 4) != (uint32_t)(h >> 32))
                    continue;
                int rc = take_block(s, words, &start, off, j, x, key, q0);
                if (rc < 0)
                    return rc;
                if (rc == 1)
                    break;
            }
        }
    }
    s->defer_lo = lo;
    s->defer_j = top;
    /* Kept for the word-start pass only when every fit was, in a pass that ran to its end. */
    s->fits_d = !words && s->nfits <= AH_GRAM_FITS && s->work < AH_LOOKUP_MAX_WORK ? d : 0;
    return 0;
}
