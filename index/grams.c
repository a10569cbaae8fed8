/* SPDX-License-Identifier: MIT */
/*
 * grams.c: the gram table's part of a typo pass (format.h, GRAM_SLOTS and
 * GRAM_BLOCKS; walk.h).
 *
 * A pass of distance d over Q (n code points) hands the table every match
 * whose distance state runs out of edits at a depth j <= J, where
 *
 *   J = min(typo depth, n - d - GRAM_MIN_REST)
 *
 * so that from any such state at least GRAM_MIN_REST code points of Q are
 * left to continue exactly: the two the block key holds, g1 and g2, and
 * where Q has them, the g3 of a group and the m4, m5 of a record.
 *
 *   for j = 2 .. J, for each position x = j - d .. j + d Q may go on from:
 *     block (j, Q[0], Q[x], Q[x+1])       one probe of GRAM_SLOTS
 *       group g3 = Q[x+2] (or all groups when Q ends at x + 2)
 *         records of this pass's trie      m4, m5 against Q[x+3], Q[x+4]
 *           head h: the distance over Q[0] h is not out of edits before
 *           depth j, is at j, and lane x holds exactly d
 *             -> every completion under Q[0] h Q[x..n) matches at d:
 *                an exact walk offers them (ah_walk__exact)
 *
 * The walk then drops every state that runs out of edits at a depth
 * <= J (walk.c, step): each is one of those, and was offered here.
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

/* The block of (j, p0, g1, g2): its first byte after the key, or NULL. */
static const unsigned char *find_block(const ah_index_t *ix, uint32_t j, uint32_t p0, uint32_t g1,
                                       uint32_t g2, const unsigned char **end)
{
    const ah_section_t *slots = &ix->sec[AH_SEC_GRAM_SLOTS], *blocks = &ix->sec[AH_SEC_GRAM_BLOCKS];
    uint64_t h = ah_gram_hash(j, p0, g1, g2), mask = ix->gram_slots - 1;
    *end = blocks->data + blocks->len;
    /* Open addressing: every probe sequence ends at an empty slot, or after every slot. */
    for (uint64_t probes = 0, at = h & mask; probes <= mask; probes++, at = (at + 1) & mask) {
        const unsigned char *slot = slots->data + at * AH_GRAM_SLOT_SIZE;
        uint32_t off = ah_load_u32(slot);
        if (off == AH_GRAM_SLOT_EMPTY)
            return NULL;
        if (ah_load_u32(slot + 4) != (uint32_t)(h >> 32) || off >= blocks->len)
            continue;
        const unsigned char *p = blocks->data + off;
        uint64_t k[4];
        int ok = 1;
        for (int i = 0; i < 4 && ok; i++)
            ok = ah_varint_get(&p, *end, &k[i]);
        if (ok && k[0] == j && k[1] == p0 && k[2] == g1 && k[3] == g2)
            return p;
    }
    return NULL;
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
 * Runs Q's distance over a head of j - 1 code points (h, len bytes) after
 * the state `start` (Q[0] read): 1 when the state is not out of edits
 * before depth j, is at depth j, and lane x holds exactly d.
 */
static int head_fits(const ah_pattern_t *p, const ah_osa_t *start, const unsigned char *h,
                     uint32_t len, unsigned j, unsigned x)
{
    uint32_t cps[AH_MAX_GRAM_DEPTH];
    if (ah_match_decode((const char *)h, len, cps, AH_MAX_GRAM_DEPTH) != j - 1)
        return 0; /* damaged: a record can only fail */
    ah_osa_t st = *start;
    for (unsigned i = 0; i + 1 < j; i++) {
        if (ah_osa_step(p, &st, cps[i]) != AH_OSA_ALIVE)
            return 0;
        if (i + 2 < j && st.sat)
            return 0; /* out of edits before depth j: the block of that depth has it */
    }
    unsigned lane = x + p->d - j;
    return st.sat && ((st.row >> (8 * lane)) & 0xff) == p->d;
}

/*
 * The records of one group's list (bytes [at, end)) for the position x:
 * each head that fits is offered through an exact walk of Q[0] h Q[x..n).
 */
static int take_records(ah_walk_t *s, int words, const ah_osa_t *start, const unsigned char *at,
                        const unsigned char *end, unsigned j, unsigned x, char *key, size_t q0)
{
    const ah_pattern_t *p = &s->pat;
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
        if (!head_fits(p, start, h, len, j, x))
            continue;
        memcpy(key + q0, h, len);
        size_t l = q0 + len;
        for (unsigned y = x; y < p->n; y++)
            l += put_utf8(p->q[y], key + l);
        int rc = ah_walk__exact(s, words, key, l);
        if (rc)
            return rc;
    }
    return 0;
}

int ah_grams__pass(ah_walk_t *s, int words)
{
    const ah_index_t *ix = s->ix;
    const ah_pattern_t *p = &s->pat;
    unsigned d = p->d;
    if (p->n < d + GRAM_MIN_REST + 2)
        return 0;
    unsigned top = p->n - d - GRAM_MIN_REST;
    if (top > ix->typo_depth)
        top = ix->typo_depth;
    ah_osa_t start;
    ah_osa_init(p, &start);
    if (ah_osa_step(p, &start, p->q[0]) != AH_OSA_ALIVE)
        return 0;
    /* Q[0] h Q[x..n): Q[0], up to typo depth - 1 code points of head, then Q's rest. */
    char key[4 * (AH_MAX_GRAM_DEPTH + AH_MAX_KEY_BYTES)];
    size_t q0 = put_utf8(p->q[0], key);
    for (unsigned j = 2; j <= top; j++) {
        for (unsigned x = j > d ? j - d : 0; x <= j + d; x++) {
            const unsigned char *end, *b = find_block(ix, j, p->q[0], p->q[x], p->q[x + 1], &end);
            if (!b)
                continue;
            uint64_t groups;
            if (!ah_varint_get(&b, end, &groups) || groups == 0 || groups > (uint64_t)(end - b))
                return AH_ECORRUPT;
            /* The group table, then the records in group order. */
            const unsigned char *rec = b;
            for (uint64_t g = 0; g < groups; g++) {
                uint64_t g3, mb, wb;
                if (!ah_varint_get(&rec, end, &g3) || !ah_varint_get(&rec, end, &mb) ||
                    !ah_varint_get(&rec, end, &wb))
                    return AH_ECORRUPT;
            }
            uint32_t want = p->n - x > 2 ? 1 + p->q[x + 2] : UINT32_MAX; /* MAX: every group */
            for (uint64_t g = 0; g < groups; g++) {
                uint64_t g3 = 0, mb = 0, wb = 0; /* read once above: these cannot fail */
                ah_varint_get(&b, end, &g3);
                ah_varint_get(&b, end, &mb);
                ah_varint_get(&b, end, &wb);
                if (mb > (uint64_t)(end - rec) || wb > (uint64_t)(end - rec) - mb)
                    return AH_ECORRUPT;
                if (want == UINT32_MAX || g3 == want) {
                    const unsigned char *at = rec + (words ? mb : 0);
                    int rc =
                        take_records(s, words, &start, at, at + (words ? wb : mb), j, x, key, q0);
                    if (rc)
                        return rc;
                }
                rec += mb + wb;
            }
        }
    }
    s->defer_j = top;
    return 0;
}
