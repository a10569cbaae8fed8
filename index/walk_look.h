/* SPDX-License-Identifier: MIT */
/*
 * walk_look.h: what a typo walk's state must read next, tested against a
 * child's lookahead entry (format.h, LOOK) before the child is read. Part
 * of walk.c, kept apart because it is a concern of its own: only walk.c
 * includes it.
 *
 *   state                                   must read next
 *   no edit left (saturated at d)           Q on from one of its lanes,
 *                                           exactly: two bytes are tested
 *   at d, a swap still pending              one of Q's code points near
 *                                           the diagonal, or every lane dies
 *   one edit left at depth j, the gram      Q exactly from a lane for
 *   table covering depths up to defer_j     defer_j - 1 - j code points, or
 *                                           it would run out of edits at a
 *                                           depth the table covered (just
 *                                           above defer_j: Q[x], or the
 *                                           swap's first letter Q[x+1])
 *   one edit left, elsewhere                Q[x] from a lane; or any byte,
 *                                           then Q[x] or Q[x+1] from a lane
 *                                           with the edit left (the pair
 *                                           mask tested byte by byte)
 *
 * A child whose entry holds none of what its state needs has no new match
 * below it.
 */
#ifndef AH_WALK_LOOK_H
#define AH_WALK_LOOK_H

#include "typo.h"
#include "walk.h"

/*
 * The lanes (bits 0..2d) at value e of a state that is saturated at e: no
 * lane below e, and no swap that could bring one back below it. From such
 * a state the distance stays at e only along an exact continuation of Q
 * from one of those lanes. 0 when the state is not saturated at e.
 */
static inline unsigned lanes_at(const ah_osa_t *o, unsigned e, unsigned d)
{
    const uint64_t below = (uint64_t)e * AH_LANES_1;
    const uint32_t wmask = (1u << (2 * d + 1)) - 1;
    const uint64_t swappable = ah_osa__spread((o->eq >> 1) & wmask) * 0x80;
    if (((((o->row | AH_LANES_H) - below) & (((o->prev | AH_LANES_H) - below) | ~swappable)) &
         AH_LANES_H) != AH_LANES_H)
        return 0;
    uint64_t at = o->row ^ below; /* zero bytes where a lane holds e */
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t zero = ~(((at & low7) + low7) | at) & AH_LANES_H;
    return (unsigned)((((zero >> 7) * 0x0102040810204080ull) >> 56) & wmask);
}

/* The first one or two bytes of Q's code points [x, x + cps), UTF-8; returns how many (0..2). */
static inline unsigned next_bytes(const ah_pattern_t *p, unsigned x, unsigned cps, unsigned char *b)
{
    unsigned n = 0;
    for (unsigned y = x; y < p->n && y < x + cps && n < 2; y++) {
        uint32_t c = p->q[y];
        unsigned char u[4];
        unsigned l = c < 0x80      ? (u[0] = (unsigned char)c, 1)
                     : c < 0x800   ? (u[0] = (unsigned char)(0xc0 | c >> 6),
                                    u[1] = (unsigned char)(0x80 | (c & 0x3f)), 2)
                     : c < 0x10000 ? (u[0] = (unsigned char)(0xe0 | c >> 12),
                                      u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f)), 3)
                                   : (u[0] = (unsigned char)(0xf0 | c >> 18),
                                      u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f)), 4);
        for (unsigned i = 0; i < l && i < 2 && n < 2; i++)
            b[n++] = u[i];
    }
    return n;
}

/* s->look[] for s->pat, unless it is made already. */
static inline void look_table(ah_walk_t *s)
{
    const ah_pattern_t *p = &s->pat;
    if (s->look_for == p->q)
        return;
    for (unsigned x = 0; x < p->n && x < AH_MAX_KEY_BYTES; x++) {
        unsigned char b[2];
        ah_look_cp_t *c = &s->look[x];
        unsigned nb = next_bytes(p, x, 1, b);
        c->lead = b[0];
        c->next = 1u << ah_look_class(b[0]);
        c->pair_one = nb < 2 ? 0 : 1u << ah_look_pair(b[0], b[1]);
        nb = next_bytes(p, x, 2, b);
        c->pair_on = nb < 2 ? 0 : 1u << ah_look_pair(b[0], b[1]);
    }
    s->look_for = p->q;
}

/*
 * What a state must read next, as bits of LOOK masks (format.h): some
 * option i must find next[i] in the child's next mask and pair[i] (0: no
 * test) in its pair mask. n == 0: nothing rules a child out.
 */
typedef struct look_need {
    unsigned n;
    uint32_t next[2 * AH_MATCH_BAND], pair[2 * AH_MATCH_BAND];
    /* Or, when nsecond > 0: any byte at all, then one of these lead bytes. */
    unsigned nsecond;
    unsigned char second[2 * AH_MATCH_BAND];
} look_need_t;

/* Adds the option "Q[x..] for cps code points" (x < Q's length, cps >= 1). */
static inline void need_add(const ah_walk_t *s, look_need_t *nd, unsigned x, unsigned cps)
{
    const ah_look_cp_t *c = &s->look[x];
    nd->next[nd->n] = c->next;
    nd->pair[nd->n++] = cps == 1 ? c->pair_one : c->pair_on;
}

/*
 * A state with one edit left: no lane below d - 1 (lanes1 are those at
 * d - 1) and no swap that could land below d. Along a lane at d - 1 or d
 * that reads Q[x] next, the text may go on with Q[x]; along one at d - 1
 * also with any code point (the edit: one in Q[x]'s place or one too
 * many) and then Q[x + 1] or Q[x]; a swap pending on lane x, landing at d,
 * needs Q[x - 1]. (Q[x + 1] at once, Q[x] left out or a swap's first half,
 * is lane x + 1's Q[x]: that lane is at d or below, and in the band, since
 * the last lane cannot hold d - 1.) A lane that reads past Q's end this
 * close has nothing to test.
 */
static inline void need_one_left(const ah_walk_t *s, const ah_osa_t *o, unsigned lanes1,
                                 look_need_t *nd)
{
    const ah_pattern_t *p = &s->pat;
    unsigned d = p->d;
    unsigned swaps = (o->eq >> 1) & ((1u << (2 * d + 1)) - 1);
    for (unsigned i = 0; i <= 2 * d; i++) {
        unsigned v = (unsigned)(o->row >> (8 * i)) & 0xff,
                 pv = (unsigned)(o->prev >> (8 * i)) & 0xff;
        int one = (lanes1 >> i) & 1, at_d = v == d, swap = ((swaps >> i) & 1) && pv + 1 == d;
        if (!one && !at_d && !swap)
            continue;
        int x = (int)o->j - (int)d + (int)i;
        if (x < 1 || (unsigned)x + 1 >= p->n) {
            nd->n = nd->nsecond = 0;
            return;
        }
        if (one || at_d)
            need_add(s, nd, (unsigned)x, 1);
        if (swap)
            need_add(s, nd, (unsigned)x - 1, 1);
        if (!one)
            continue;
        for (unsigned k = 0; k < 2; k++) {
            unsigned char c = s->look[(unsigned)x + k].lead;
            unsigned m = 0;
            while (m < nd->nsecond && nd->second[m] != c)
                m++;
            if (m == nd->nsecond)
                nd->second[nd->nsecond++] = c;
        }
    }
}

static inline void look_need(ah_walk_t *s, const ah_osa_t *o, look_need_t *nd)
{
    look_table(s);
    const ah_pattern_t *p = &s->pat;
    unsigned j = o->j, d = p->d, lanes = o->sat, cps = p->n, swaps = 0;
    nd->n = nd->nsecond = 0;
    if (!lanes && d > 0 && s->defer_j > j && j + 1 >= s->defer_lo &&
        (lanes = lanes_at(o, d - 1, d)) != 0) {
        cps = s->defer_j - 1 - j;
        swaps = cps == 0;
    } else if (!lanes) {
        if (((((o->row | AH_LANES_H) - (uint64_t)d * AH_LANES_1)) & AH_LANES_H) != AH_LANES_H) {
            if (d > 0 && (lanes = lanes_at(o, d - 1, d)) != 0)
                need_one_left(s, o, lanes, nd);
            return; /* two edits left: anything may follow */
        }
        for (int x = (int)j - (int)d - 1; x <= (int)(j + d); x++)
            if (x >= 0 && (unsigned)x < p->n)
                need_add(s, nd, (unsigned)x, 1);
        return;
    }
    for (unsigned i = 0; i <= 2 * d; i++) {
        if (!((lanes >> i) & 1))
            continue;
        int x = (int)j - (int)d + (int)i;
        if (x < 0 || (unsigned)x >= p->n) {
            nd->n = 0; /* Q is used up along this lane: nothing to test */
            return;
        }
        need_add(s, nd, (unsigned)x, swaps ? 1 : cps);
        if (swaps && (unsigned)x + 1 < p->n)
            need_add(s, nd, (unsigned)x + 1, 1);
    }
}

/* Whether a child's LOOK entry rules it out, for a state that needs nd. */
static inline int look_rules_out(const look_need_t *nd, const unsigned char *entry)
{
    if (nd->n == 0)
        return 0;
    uint32_t next = ah_load_u32(entry), pair = ah_load_u32(entry + 4);
    for (unsigned i = 0; i < nd->n; i++)
        if ((next & nd->next[i]) && (!nd->pair[i] || (pair & nd->pair[i])))
            return 0;
    /* Any byte, then one of nd->second: each byte of a class that names its bytes is tried. */
    for (uint32_t left = nd->nsecond ? next : 0; left; left &= left - 1) {
        const char *t = ah_look_class_bytes((unsigned)__builtin_ctz(left));
        if (!t)
            return 0; /* some other byte: not told apart */
        for (; *t; t++)
            for (unsigned k = 0; k < nd->nsecond; k++)
                if ((pair >> ah_look_pair((unsigned char)*t, nd->second[k])) & 1)
                    return 0;
    }
    return 1;
}

#endif /* AH_WALK_LOOK_H */
