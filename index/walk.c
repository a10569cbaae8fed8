/* SPDX-License-Identifier: MIT */
/*
 * walk.c: one pass of the typo-tolerant search (see walk.h, and search.c
 * for the tiers that run the passes): a best-first walk of one trie,
 * carrying the banded edit distance of match.h down the edges.
 *
 *   frontier (a min-heap by bound)        bound = the best rank in a subtree,
 *     pop the best subtree                        read from its list's first
 *     |- its bound cannot beat the need-th        entry, so a subtree whose
 *     |  candidate: stop, the pass is done        best cannot rank is never
 *     |- carry the distance along its label       opened
 *     |    dead: drop it
 *     |    within d: every completion below matches: take its list
 *     '- push each child whose edge keeps the distance alive
 *
 * Children are pushed with their parent's bound and get their own when
 * popped, and only once `need` candidates make bounds matter: until then
 * the frontier is a plain stack (depth first, along records the writer laid
 * out side by side) and the walk reads no ranks. Each child's record is
 * prefetched as it is pushed. A state that admits no more edits looks up
 * the few child bytes that can extend it instead of stepping every child.
 *
 * Light ranges of the main trie are read key by key from their front-coded
 * buckets, resuming the distance where a key parts from the one before it.
 * Leaves of the word-start trie hold lex ids in rank order, so their scan
 * stops at the first entry that cannot rank; each entry's key (fetched in
 * batches, so that the misses overlap) is matched at the word start whose
 * suffix begins with the leaf's path, from the distance state there.
 *
 * With the typo index (format.h), the gram table has first offered every
 * match whose state runs out of edits at a depth it covers (grams.c); the
 * walk drops those states (step), and tests each child against its
 * lookahead entry before reading it: a state with no edit left must read
 * Q on from one of its lanes, one with a swap pending one of Q's code
 * points near the diagonal, and one with an edit left just above the
 * covered depths must read Q exactly down to them, or it would run out of
 * edits there; elsewhere, one with an edit left must read Q on from a
 * lane, or any byte and then Q on from a lane. A child whose entry has
 * none of those is dropped.
 *
 * The walk counts the nodes and keys it visits; past AH_LOOKUP_MAX_WORK,
 * or when the frontier is full, it stops and the answer says it is not
 * complete.
 */
#include "walk.h"

#include "walk_look.h"

#include <string.h>

#define RANGE_DEPTHS 64 /* distance states kept while scanning a light range */

enum { ITEM_NODE, ITEM_RANGE, ITEM_WORD_NODE, ITEM_WORD_LEAF };

/* ------------------------------------------------------------- candidates */

/* The rank a candidate must beat: the need-th best so far. */
static inline uint64_t threshold(const ah_walk_t *s)
{
    return s->ncand < s->need ? UINT64_MAX : s->cand[s->need - 1];
}

/* Offers a matching completion to the pass; keeps the best `need`, each once. */
static void offer(ah_walk_t *s, uint64_t rank)
{
    if (rank >= threshold(s))
        return;
    uint32_t id = (uint32_t)rank;
    for (size_t i = 0; i < s->nres; i++)
        if ((uint32_t)s->res[i].rank == id)
            return;
    for (size_t i = 0; i < s->ncand; i++)
        if (s->cand[i] == rank)
            return;
    size_t j = s->ncand < s->need ? s->ncand++ : s->need - 1;
    for (; j > 0 && s->cand[j - 1] > rank; j--)
        s->cand[j] = s->cand[j - 1];
    s->cand[j] = rank;
}

/* --------------------------------------------------------------- frontier */

static inline int before(const ah_walk_slot_t *a, const ah_walk_slot_t *b)
{
    return a->bound < b->bound || (a->bound == b->bound && a->seq > b->seq);
}

/* Starts loading what a pushed item will read first, so that misses overlap. */
static inline void prefetch_item(const ah_walk_t *s, const ah_walk_item_t *it)
{
    const ah_index_t *ix = s->ix;
    switch (it->kind) {
    case ITEM_NODE:
        __builtin_prefetch(ix->sec[AH_SEC_NODES].data + it->off);
        break;
    case ITEM_WORD_NODE:
        __builtin_prefetch(ix->sec[AH_SEC_WORD_NODES].data + it->off);
        break;
    case ITEM_RANGE:
        __builtin_prefetch(ix->sec[AH_SEC_KEY_INDEX].data +
                           4 * (uint64_t)(it->lo >> ix->bucket_shift));
        break;
    default:
        __builtin_prefetch(ix->sec[AH_SEC_WORD_ENTRIES].data + (uint64_t)it->lo * ix->id_bits / 8);
        break;
    }
}

static void heap_insert(ah_walk_t *s, ah_walk_slot_t e)
{
    size_t i = s->nheap++;
    while (i > 0 && before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

/*
 * Until the pass has `need` candidates, bounds decide nothing, so the
 * frontier is a stack (depth first, no ordering work); from then on a heap.
 */
static void push(ah_walk_t *s, const ah_walk_item_t *it, uint64_t bound)
{
    uint32_t at;
    if (s->nfree > 0) {
        at = s->free[--s->nfree];
    } else if (s->npool < AH_WALK_FRONTIER) {
        at = (uint32_t)s->npool++;
    } else {
        s->complete = 0; /* a subtree is dropped unseen */
        return;
    }
    prefetch_item(s, it);
    ah_walk_slot_t e = {bound, s->seq++, at};
    s->pool[at] = *it;
    if (threshold(s) == UINT64_MAX)
        s->stack[s->nstack++] = e;
    else
        heap_insert(s, e);
}

/* Takes the next slot off the frontier; its item stays valid until the next push. */
static ah_walk_slot_t pop(ah_walk_t *s)
{
    ah_walk_slot_t top;
    if (s->nstack > 0 && threshold(s) == UINT64_MAX) {
        top = s->stack[--s->nstack];
        s->free[s->nfree++] = top.item;
        return top;
    }
    while (s->nstack > 0) /* bounds matter now: everything goes into the heap */
        heap_insert(s, s->stack[--s->nstack]);
    top = s->heap[0];
    ah_walk_slot_t last = s->heap[--s->nheap];
    size_t i = 0, n = s->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
    s->free[s->nfree++] = top.item;
    return top;
}

/*
 * Gives a popped item its own bound (best, read from its subtree) in place
 * of its parent's (*bound). Returns 1 when the item is done with for now:
 * it cannot rank, or another subtree is now more promising (it goes back
 * on the frontier).
 */
static int requeue(ah_walk_t *s, ah_walk_item_t *it, uint64_t *bound, uint64_t best)
{
    it->refined = 1;
    if (best > *bound)
        *bound = best;
    if (*bound >= threshold(s))
        return 1;
    if (s->nheap > 0 && s->heap[0].bound < *bound) {
        push(s, it, *bound);
        return 1;
    }
    return 0;
}

/*
 * Advances a distance state by one code point of text. A state that has
 * no edit left at a depth the gram table covered this pass is dropped: the
 * table has offered every match below it already.
 */
static inline int step(const ah_walk_t *s, ah_osa_t *osa, uint32_t c)
{
    unsigned had = osa->sat;
    int r = ah_osa_step(&s->pat, osa, c);
    if (r == AH_OSA_ALIVE && osa->sat && !had && osa->j <= s->defer_j && osa->j >= s->defer_lo)
        return AH_OSA_DEAD;
    return r;
}

/* Advances a distance state by one byte of text. */
static inline int feed(const ah_walk_t *s, ah_utf8_t *u, ah_osa_t *osa, unsigned char b)
{
    uint32_t c;
    if (!ah_utf8_feed(u, b, &c))
        return AH_OSA_ALIVE;
    return step(s, osa, c);
}

/*
 * Steps a node's children from the state at its end. An ASCII edge byte
 * that equals none of Q's code points in the band's next window extends no
 * lane, so it gives every such child the same next state: that state is
 * worked out once ("other"), and when it is dead those children are
 * skipped without a look. Only edges equal to a code point of Q near the
 * diagonal, and bytes inside multi-byte code points, are stepped one by one.
 */
typedef struct edges {
    ah_osa_t other;
    int other_r;
    look_need_t other_need; /* what the other children's state must read next */
    int whole;              /* the state is at a code point boundary */
    uint64_t window[2];     /* the ASCII code points of Q in the next window */
} edges_t;

#define AH_CP_OTHER 0x7fffffffu /* a code point equal to none of Q's */

static void edges_init(ah_walk_t *s, const ah_walk_item_t *at, edges_t *e)
{
    unsigned d = s->pat.d;
    e->window[0] = e->window[1] = 0;
    e->whole = at->u.need == 0;
    if (!e->whole)
        return;
    e->other = at->osa;
    e->other_r = step(s, &e->other, AH_CP_OTHER);
    e->other_need.n = 0;
    if (e->other_r == AH_OSA_ALIVE)
        look_need(s, &e->other, &e->other_need);
    const uint32_t *qx = s->pat.q + ((int)at->osa.j + 1 - (int)d) - 1;
    for (unsigned i = 0; i <= 2 * d; i++)
        if (qx[i] < 0x80)
            e->window[qx[i] >> 6] |= 1ull << (qx[i] & 63);
}

/* Edge byte b is an ASCII code point equal to none of Q's near the diagonal: e->other applies. */
static inline int edge_is_other(const edges_t *e, unsigned b)
{
    return e->whole && b < 0x80 && !((e->window[b >> 6] >> (b & 63)) & 1);
}

/*
 * Starts loading a node's LOOK entries (nd->look: child 0's, or NULL), which
 * are read child by child once the label and the edges have been stepped.
 */
static inline void prefetch_look(const ah_node_t *nd)
{
    if (!nd->look || nd->n_children == 0)
        return;
    uint32_t bytes = nd->n_children * AH_LOOK_ENTRY_SIZE;
    for (uint32_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(nd->look + o);
    __builtin_prefetch(nd->look + bytes - 1); /* the last line, when the first is not aligned */
}

/*
 * Whether child j (state ch; other: its edge is edge_is_other()) is ruled
 * out by its LOOK entry (look: child 0's).
 */
static inline int child_ruled_out(ah_walk_t *s, const edges_t *e, const ah_walk_item_t *ch,
                                  int other, const unsigned char *look, uint32_t j)
{
    const unsigned char *entry = look + (size_t)j * AH_LOOK_ENTRY_SIZE;
    if (ch->u.need != 0)
        return 0; /* inside a code point */
    if (other)
        return look_rules_out(&e->other_need, entry);
    look_need_t nd;
    look_need(s, &ch->osa, &nd);
    return look_rules_out(&nd, entry);
}

/*
 * The next state along edge byte b (into *ch, a copy of the state at the
 * node's end); other: b is edge_is_other(), worked out once by the caller.
 */
static inline int edge_step(const ah_walk_t *s, const edges_t *e, ah_walk_item_t *ch,
                            unsigned char b, int other)
{
    if (other) {
        ch->osa = e->other;
        return e->other_r;
    }
    return feed(s, &ch->u, &ch->osa, b);
}

/* -------------------------------------------------------------- main trie */

/* Every completion of a node matches: its list holds the best of them. */
static int take_node(ah_walk_t *s, const ah_node_t *nd, uint32_t lo)
{
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel;
        if (ah_index__node_list(nd, i, &rel) != 0)
            return AH_ECORRUPT;
        uint64_t rank = ah_walk__rank(s->ix, lo + rel);
        if (rank >= threshold(s))
            break; /* the list is best first */
        offer(s, rank);
    }
    return 0;
}

static void take_range(ah_walk_t *s, uint32_t lo, uint32_t hi)
{
    for (uint32_t id = lo; id < hi; id++)
        offer(s, ah_walk__rank(s->ix, id));
}

/* Parses the record a walk reaches for the lex range [lo, hi), checking it covers that range. */
static int reach_node(const ah_walk_t *s, uint32_t off, uint32_t lo, uint32_t hi, ah_node_t *nd)
{
    if (ah_index__node_parse(s->ix, off, nd) != 0 || nd->count != hi - lo || hi > s->ix->n)
        return AH_ECORRUPT;
    return 0;
}

static int expand_node(ah_walk_t *s, ah_walk_item_t *it, uint64_t bound)
{
    ah_node_t nd;
    if (reach_node(s, it->off, it->lo, it->hi, &nd) != 0)
        return AH_ECORRUPT;
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint32_t rel;
        if (ah_index__node_list(&nd, 0, &rel) != 0)
            return AH_ECORRUPT;
        if (requeue(s, it, &bound, ah_walk__rank(s->ix, it->lo + rel)))
            return 0;
    }
    prefetch_look(&nd);
    ah_walk_item_t at = *it;
    for (uint32_t i = 0; i < nd.label_len; i++) {
        int r = feed(s, &at.u, &at.osa, nd.label[i]);
        if (r == AH_OSA_DEAD)
            return 0;
        if (r >= 0)
            return take_node(s, &nd, it->lo);
    }
    uint32_t depth = it->depth + nd.label_len;
    edges_t e;
    edges_init(s, &at, &e);
    for (uint32_t j = 0; j < nd.n_children; j++) {
        unsigned b = nd.child_bytes[j];
        int other = edge_is_other(&e, b);
        if (other && e.other_r == AH_OSA_DEAD)
            continue;
        ah_walk_item_t ch = at;
        int r = edge_step(s, &e, &ch, (unsigned char)b, other);
        if (r == AH_OSA_DEAD ||
            (r == AH_OSA_ALIVE && nd.look && child_ruled_out(s, &e, &ch, other, nd.look, j)))
            continue;
        uint32_t clo, chi, coff;
        if (ah_index__node_child(&nd, j, &clo, &chi, &coff) != 0 || depth + 1 > UINT16_MAX)
            return AH_ECORRUPT;
        ch.lo = it->lo + clo;
        ch.hi = it->lo + chi;
        if (r >= 0) {
            if (coff == UINT32_MAX) {
                take_range(s, ch.lo, ch.hi);
            } else {
                ah_node_t child;
                if (reach_node(s, coff, ch.lo, ch.hi, &child) != 0 ||
                    take_node(s, &child, ch.lo) != 0)
                    return AH_ECORRUPT;
            }
            continue;
        }
        if (coff == UINT32_MAX && chi - clo > s->ix->topk)
            return AH_ECORRUPT;
        ch.kind = coff == UINT32_MAX ? ITEM_RANGE : ITEM_NODE;
        ch.off = coff;
        ch.depth = (uint16_t)(depth + 1);
        ch.refined = 0;
        push(s, &ch, bound);
    }
    return 0;
}

/*
 * A light range: each key's own bytes from the range's depth on, read
 * straight from the front-coded buckets. The range's first key shares less
 * than the range's path with the key before it (which is outside the
 * range), so its bytes past the path are all its own added bytes: no key
 * is rebuilt from its bucket's start. Each next key shares S bytes with the
 * one before: the distance states along as many bytes as the next key
 * shares are kept, a key that shares the byte where its predecessor died
 * dies with it, and one that shares the byte where it matched matches too.
 */
static int scan_range(ah_walk_t *s, ah_walk_item_t *it, uint64_t bound)
{
    const ah_index_t *ix = s->ix;
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint64_t best = UINT64_MAX;
        for (uint32_t id = it->lo; id < it->hi; id++) {
            uint64_t r = ah_walk__rank(ix, id);
            best = r < best ? r : best;
        }
        if (requeue(s, it, &bound, best))
            return 0;
    }
    ah_osa_t osa[RANGE_DEPTHS + 1];
    ah_utf8_t u[RANGE_DEPTHS + 1];
    char tail[AH_MAX_KEY_BYTES];          /* the current key's bytes from the path's end */
    uint32_t base = it->depth, kept = 0;  /* states kept for tail bytes [0, kept) */
    uint32_t stop = UINT32_MAX, last = 0; /* where the last key died or matched; its length */
    int matched = 0;
    osa[0] = it->osa;
    u[0] = it->u;
    ah_bucket_t bk;
    uint32_t bucket = UINT32_MAX, pos = 0;
    for (uint32_t id = it->lo; id < it->hi; id++) {
        uint32_t j = id & (ix->bucket - 1);
        if (id >> ix->bucket_shift != bucket) {
            bucket = id >> ix->bucket_shift;
            if (ah_index__bucket(ix, bucket, &bk) != 0 || j >= bk.count)
                return AH_ECORRUPT;
            pos = 0;
            for (uint32_t i = 0; i < j; i++)
                pos += ah_bucket_added(&bk, i);
        }
        uint32_t sh = ah_bucket_shared(&bk, j), add = ah_bucket_added(&bk, j);
        /* A range's keys share its path, and only they; a bucket's first key shares nothing.
         * Damage may make the lengths before key j add up past the bucket's bytes. */
        if (pos > bk.bytes_len || add > bk.bytes_len - pos || (uint64_t)sh + add > ix->max_key ||
            (j == 0 && sh != 0) || (id == it->lo || j == 0 ? sh > base : sh < base) ||
            sh + add < base)
            return AH_ECORRUPT;
        /* This key's bytes from the path on: the shared part of the last one's, then its own. */
        uint32_t own = sh + add - base, from = sh > base ? sh - base : 0, shared = from;
        if (id == it->lo) {
            shared = 0;
        } else if (j == 0) { /* stored whole: compare with the last key */
            const char *p = (const char *)bk.bytes + pos + base;
            uint32_t m = own < last ? own : last;
            for (shared = 0; shared < m && p[shared] == tail[shared];)
                shared++;
        }
        if (own > from)
            memcpy(tail + from, bk.bytes + pos + (base > sh ? base - sh : 0), own - from);
        pos += add;
        last = own;
        s->work++;
        if (stop != UINT32_MAX && shared > stop) { /* it parts after the decisive byte */
            if (matched)
                offer(s, ah_walk__rank(ix, id));
            continue;
        }
        /* States worth keeping: as far as the next key shares, when it is in this bucket. */
        uint32_t keep = RANGE_DEPTHS;
        if (id + 1 == it->hi)
            keep = 0;
        else if (j + 1 < bk.count)
            keep = ah_bucket_shared(&bk, j + 1) > base ? ah_bucket_shared(&bk, j + 1) - base : 0;
        uint32_t at = shared < kept ? shared : kept;
        kept = at;
        stop = UINT32_MAX;
        matched = 0;
        ah_osa_t st = osa[at];
        ah_utf8_t uu = u[at];
        for (uint32_t i = at; i < own; i++) {
            int r = feed(s, &uu, &st, (unsigned char)tail[i]);
            if (r == AH_OSA_DEAD || r >= 0) {
                stop = i;
                matched = r >= 0;
                if (matched)
                    offer(s, ah_walk__rank(ix, id));
                break;
            }
            if (i < keep && i < RANGE_DEPTHS) {
                osa[i + 1] = st;
                u[i + 1] = uu;
                kept = i + 1;
            }
        }
    }
    return 0;
}

/* --------------------------------------------------------- word-start trie */

static int entry_id(const ah_walk_t *s, uint32_t pos, uint32_t *id)
{
    if (pos >= s->ix->word_entries || ah_index__word_entry(s->ix, pos, id) != 0)
        return AH_ECORRUPT;
    return 0;
}

static int take_word_node(ah_walk_t *s, const ah_node_t *nd, uint32_t lo)
{
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel, id;
        if (ah_index__node_list(nd, i, &rel) != 0 || entry_id(s, lo + rel, &id) != 0)
            return AH_ECORRUPT;
        uint64_t rank = ah_walk__rank(s->ix, id);
        if (rank >= threshold(s))
            break;
        offer(s, rank);
    }
    return 0;
}

/* Every entry of a leaf matches; they are in rank order. */
static int take_word_leaf(ah_walk_t *s, uint32_t lo, uint32_t hi)
{
    for (uint32_t pos = lo; pos < hi; pos++) {
        uint32_t id;
        if (entry_id(s, pos, &id) != 0)
            return AH_ECORRUPT;
        uint64_t rank = ah_walk__rank(s->ix, id);
        if (rank >= threshold(s))
            break;
        offer(s, rank);
    }
    return 0;
}

static int reach_word_node(const ah_walk_t *s, uint32_t off, uint32_t lo, uint32_t hi,
                           ah_node_t *nd)
{
    if (ah_index__word_node_parse(s->ix, off, nd) != 0 || nd->count != hi - lo ||
        hi > s->ix->word_entries)
        return AH_ECORRUPT;
    return 0;
}

static int expand_word_node(ah_walk_t *s, ah_walk_item_t *it, uint64_t bound)
{
    ah_node_t nd;
    if (reach_word_node(s, it->off, it->lo, it->hi, &nd) != 0)
        return AH_ECORRUPT;
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint32_t rel, id;
        if (ah_index__node_list(&nd, 0, &rel) != 0 || entry_id(s, it->lo + rel, &id) != 0)
            return AH_ECORRUPT;
        if (requeue(s, it, &bound, ah_walk__rank(s->ix, id)))
            return 0;
    }
    prefetch_look(&nd);
    ah_walk_item_t at = *it;
    for (uint32_t i = 0; i < nd.label_len; i++) {
        int r = feed(s, &at.u, &at.osa, nd.label[i]);
        if (r == AH_OSA_DEAD)
            return 0;
        if (r >= 0)
            return take_word_node(s, &nd, it->lo);
    }
    /* The children's paths: this one's, the label, and the edge byte (written per child). */
    uint32_t depth = it->depth + nd.label_len, path = AH_WALK_NO_PATH;
    if (it->path != AH_WALK_NO_PATH && depth + 1 <= AH_WALK_ARENA - s->arena_used &&
        depth < UINT16_MAX) {
        path = s->arena_used;
        memmove(s->arena + path, s->arena + it->path, it->depth);
        memcpy(s->arena + path + it->depth, nd.label, nd.label_len);
    }
    edges_t e;
    edges_init(s, &at, &e);
    /* The 0x00 edge, first when present, has no LOOK entry. */
    uint32_t zero = nd.n_children > 0 && nd.child_bytes[0] == AH_WORD_END_EDGE;
    for (uint32_t j = 0; j < nd.n_children; j++) {
        /* The suffixes that end here (edge 0x00) were matched all along the path: none is new. */
        unsigned b = nd.child_bytes[j];
        int other = edge_is_other(&e, b);
        if (b == AH_WORD_END_EDGE || (other && e.other_r == AH_OSA_DEAD))
            continue;
        ah_walk_item_t ch = at;
        int r = edge_step(s, &e, &ch, (unsigned char)b, other);
        if (r == AH_OSA_DEAD ||
            (r == AH_OSA_ALIVE && nd.look && child_ruled_out(s, &e, &ch, other, nd.look, j - zero)))
            continue;
        uint32_t clo, chi, coff;
        if (ah_index__node_child(&nd, j, &clo, &chi, &coff) != 0)
            return AH_ECORRUPT;
        ch.lo = it->lo + clo;
        ch.hi = it->lo + chi;
        if (r >= 0) {
            ah_node_t child;
            if (coff == UINT32_MAX) {
                if (take_word_leaf(s, ch.lo, ch.hi) != 0)
                    return AH_ECORRUPT;
            } else if (reach_word_node(s, coff, ch.lo, ch.hi, &child) != 0 ||
                       take_word_node(s, &child, ch.lo) != 0) {
                return AH_ECORRUPT;
            }
            continue;
        }
        ch.kind = coff == UINT32_MAX ? ITEM_WORD_LEAF : ITEM_WORD_NODE;
        ch.off = coff;
        ch.refined = 0;
        ch.depth = (uint16_t)(depth + 1);
        ch.path = AH_WALK_NO_PATH;
        if (path != AH_WALK_NO_PATH && depth + 1 <= AH_WALK_ARENA - s->arena_used) {
            /* Children share the path up to the edge: each gets its own copy of it. */
            ch.path = s->arena_used;
            memmove(s->arena + ch.path, s->arena + path, depth);
            s->arena[ch.path + depth] = (char)b;
            s->arena_used += depth + 1;
            path = ch.path;
        }
        push(s, &ch, bound);
    }
    return 0;
}

/* Does a word start at p, inside text (p > text): is the code point before it no letter or number?
 */
static int word_starts_at(const char *text, const char *p)
{
    if ((unsigned char)p[-1] < 0x80) /* most keys are ASCII: nothing to decode */
        return !ah_match_is_word_ascii((unsigned char)p[-1]);
    const char *q = p - 1; /* the code point before p: back over continuation bytes */
    while (q > text && ((unsigned char)*q & 0xc0) == 0x80)
        q--;
    uint32_t cp;
    ah_match_decode(q, (size_t)(p - q), &cp, 1);
    return !ah_match_is_word_cp(cp);
}

/*
 * Does the key match Q within the pass's distance at one of its word starts
 * after the first? Only a word start whose first byte is Q's first can, so
 * those are found with memchr and checked (a letter or number after a code
 * point that is neither) before the distance runs.
 */
static int key_matches_inside(const ah_walk_t *s, const char *key, uint32_t len)
{
    const char *p = key + 1, *end = key + len;
    while (p < end && (p = memchr(p, (int)s->first_byte, (size_t)(end - p))) != NULL) {
        if (word_starts_at(key, p) && ah_match_within(&s->pat, p, (size_t)(end - p)))
            return 1;
        p++;
    }
    return 0;
}

/*
 * As key_matches_inside(), for an entry of a leaf whose path is known: only
 * a word start whose suffix begins with the path stands for this entry, and
 * the distance resumes from the leaf's state after the path instead of
 * starting over.
 */
static int key_matches_under(const ah_walk_t *s, const ah_walk_item_t *it, const char *key,
                             uint32_t len)
{
    const char *path = s->arena + it->path, *p = key + 1, *end = key + len;
    uint32_t plen = it->depth;
    while (p < end && (size_t)(end - p) >= plen &&
           (p = memchr(p, (unsigned char)path[0], (size_t)(end - p))) != NULL) {
        if ((size_t)(end - p) < plen)
            break;
        if (word_starts_at(key, p) && memcmp(p, path, plen) == 0) {
            ah_osa_t st = it->osa;
            ah_utf8_t u = it->u;
            for (const char *b = p + plen; b < end; b++) {
                int r = feed(s, &u, &st, (unsigned char)*b);
                if (r == AH_OSA_DEAD)
                    break;
                if (r >= 0)
                    return 1;
            }
        }
        p++;
    }
    return 0;
}

#define LEAF_BATCH 16

/*
 * A leaf: entries best first, until one cannot rank. Keys are fetched in
 * batches: the whole batch's bucket offsets and classes are prefetched,
 * then every line of their buckets (ah_index__prefetch_answers), so that
 * the batch's misses overlap instead of queueing.
 */
static int scan_word_leaf(ah_walk_t *s, ah_walk_item_t *it, uint64_t bound)
{
    const ah_index_t *ix = s->ix;
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint32_t id;
        if (entry_id(s, it->lo, &id) != 0)
            return AH_ECORRUPT;
        if (requeue(s, it, &bound, ah_walk__rank(ix, id)))
            return 0;
    }
    char key[AH_MAX_KEY_BYTES];
    for (uint32_t pos = it->lo; pos < it->hi; pos += LEAF_BATCH) {
        uint32_t ids[LEAF_BATCH], n = it->hi - pos < LEAF_BATCH ? it->hi - pos : LEAF_BATCH;
        for (uint32_t i = 0; i < n; i++)
            if (entry_id(s, pos + i, &ids[i]) != 0)
                return AH_ECORRUPT;
        ah_index__prefetch_answers(ix, ids, n);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t thr = threshold(s);
            if (thr != UINT64_MAX && ah_walk__rank(ix, ids[i]) >= thr)
                return 0; /* the leaf is in rank order */
            s->work++;
            uint32_t len;
            uint64_t display;
            if (ah_index__key_at(ix, ids[i], key, &len, &display) != 0)
                return AH_ECORRUPT;
            if (it->path == AH_WALK_NO_PATH ? key_matches_inside(s, key, len)
                                            : key_matches_under(s, it, key, len))
                offer(s, ah_walk__rank(ix, ids[i]));
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- passes */

/* Walks from the root with s->pat until the frontier is empty or nothing left can rank. */
static int run(ah_walk_t *s, int words)
{
    const ah_index_t *ix = s->ix;
    s->nheap = 0;
    s->nstack = 0;
    s->nfree = 0;
    s->npool = 0;
    s->seq = 0;
    ah_walk_item_t root;
    memset(&root, 0, sizeof root);
    ah_osa_init(&s->pat, &root.osa);
    root.kind = words ? ITEM_WORD_NODE : ITEM_NODE;
    root.path = 0; /* empty */
    s->arena_used = 0;
    root.off = words ? ix->word_root : ix->root;
    root.hi = words ? ix->word_entries : ix->n;
    root.refined = 1;
    push(s, &root, 0);
    int rc = 0;
    while (s->nheap + s->nstack > 0 && !rc) {
        ah_walk_slot_t top = pop(s);
        ah_walk_item_t it = s->pool[top.item]; /* a push may reuse its entry */
        if (top.bound >= threshold(s))
            break; /* nothing left can rank */
        if (s->work >= AH_LOOKUP_MAX_WORK) {
            s->complete = 0;
            break;
        }
        s->work++;
        switch (it.kind) {
        case ITEM_NODE:
            rc = expand_node(s, &it, top.bound);
            break;
        case ITEM_RANGE:
            rc = scan_range(s, &it, top.bound);
            break;
        case ITEM_WORD_NODE:
            rc = expand_word_node(s, &it, top.bound);
            break;
        default:
            rc = scan_word_leaf(s, &it, top.bound);
            break;
        }
    }
    return rc;
}

/*
 * The main trie's exact walk, straight down: where the prefix is answered
 * (ah_index__locate), a node's list or the keys of a light range that have
 * the prefix, each offered as the walk would.
 */
static int exact_main(ah_walk_t *s, const char *key, size_t len)
{
    const ah_index_t *ix = s->ix;
    ah_locus_t at;
    s->work++;
    if (ah_index__locate(ix, key, len, &at) != 0)
        return AH_ECORRUPT;
    if (at.kind == AH_LOCUS_NODE)
        return take_node(s, &at.node, at.lo);
    if (at.kind == AH_LOCUS_NONE)
        return 0;
    uint32_t lo = at.lo;
    while (lo < at.hi && ah_walk__rank(ix, lo) >= threshold(s))
        lo++; /* none of these could rank: their keys are not read */
    if (lo == at.hi)
        return 0;
    ah_key_cursor_t c;
    if (ah_index__cursor_seek(&c, ix, lo) != 0)
        return AH_ECORRUPT;
    for (uint32_t id = lo;; id++) {
        s->work++;
        if (c.len >= len && memcmp(c.key, key, len) == 0)
            offer(s, ah_walk__rank(ix, id));
        if (id + 1 == at.hi)
            return 0;
        if (ah_index__cursor_next(&c) != 0)
            return AH_ECORRUPT;
    }
}

/* Does a word start of text after its first begin with key[0..len)? */
static int begins_word_inside(const char *text, uint32_t text_len, const char *key, size_t len)
{
    const char *p = text + 1, *end = text + text_len;
    while ((size_t)(end - p) >= len && (p = memchr(p, key[0], (size_t)(end - p))) != NULL) {
        if ((size_t)(end - p) < len)
            break;
        if (word_starts_at(text, p) && memcmp(p, key, len) == 0)
            return 1;
        p++;
    }
    return 0;
}

/*
 * The word-start trie's exact walk, straight down the edges of key: the
 * list of the node where it ends, or the entries of the leaf it runs into
 * whose keys have a later word start beginning with it, best first.
 */
static int exact_words(ah_walk_t *s, const char *key, size_t len)
{
    const ah_index_t *ix = s->ix;
    uint32_t off = ix->word_root, lo = 0, hi = ix->word_entries;
    size_t depth = 0;
    for (;;) {
        ah_node_t nd;
        s->work++;
        if (reach_word_node(s, off, lo, hi, &nd) != 0)
            return AH_ECORRUPT;
        size_t rest = len - depth, cmp = rest < nd.label_len ? rest : nd.label_len;
        for (size_t i = 0; i < cmp; i++) /* labels are short: no library call */
            if (nd.label[i] != (unsigned char)key[depth + i])
                return 0;
        if (rest <= nd.label_len)
            return take_word_node(s, &nd, lo);
        depth += nd.label_len;
        uint32_t j = 0, clo, chi, coff;
        while (j < nd.n_children && nd.child_bytes[j] != (unsigned char)key[depth])
            j++;
        if (j == nd.n_children || key[depth] == AH_WORD_END_EDGE)
            return 0;
        if (ah_index__node_child(&nd, j, &clo, &chi, &coff) != 0)
            return AH_ECORRUPT;
        depth++;
        if (coff != UINT32_MAX) {
            off = coff;
            hi = lo + chi;
            lo += clo;
            continue;
        }
        if (depth == len) /* every entry of the leaf begins with key */
            return take_word_leaf(s, lo + clo, lo + chi);
        for (uint32_t pos = lo + clo; pos < lo + chi; pos++) {
            uint32_t id, key_len;
            uint64_t display;
            char text[AH_MAX_KEY_BYTES];
            if (entry_id(s, pos, &id) != 0)
                return AH_ECORRUPT;
            uint64_t rank = ah_walk__rank(ix, id);
            if (rank >= threshold(s))
                return 0; /* the leaf is in rank order */
            s->work++;
            if (ah_index__key_at(ix, id, text, &key_len, &display) != 0)
                return AH_ECORRUPT;
            if (begins_word_inside(text, key_len, key, len))
                offer(s, rank);
        }
        return 0;
    }
}

int ah_walk__exact(ah_walk_t *s, int words, const char *key, size_t len)
{
    if (!words)
        return exact_main(s, key, len);
    return exact_words(s, key, len);
}

int ah_walk__pass(ah_walk_t *s, int words, unsigned d, size_t need)
{
    s->pat.d = d;
    s->ncand = 0;
    s->need = need;
    s->defer_j = 0;
    int rc = d > 0 && s->ix->typo_depth > 0 ? ah_grams__pass(s, words) : 0;
    if (!rc)
        rc = run(s, words);
    for (size_t i = 0; i < s->ncand && !rc; i++)
        s->res[s->nres++] = (ah_hit_t){s->cand[i], (uint8_t)d, (uint8_t)words};
    return rc;
}
