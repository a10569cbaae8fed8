/* SPDX-License-Identifier: MIT */
/*
 * search.c: lookups that forgive typos and match at word starts
 * (ah_index_lookup), in tiers that follow the ranking of the contract:
 *
 *   tier (0, prefix)   the exact prefix answer: index.c's lookup, unchanged
 *   tier (0, words)    exact, at a later word start: word-start trie
 *   tier (1, prefix)   one typo, from the start: main trie
 *   tier (1, words)    one typo, at a later word start: word-start trie
 *   tier (2, ...)      the same with two
 *
 * A tier runs only while the ones before it left fewer than k answers, so
 * everything the earlier tiers matched is already among the answers; a
 * tier's pass only has to find the best `need` completions that match
 * within its distance and are not answers yet. Most keystrokes never leave
 * the first tier.
 *
 * A pass is a best-first walk of one trie, carrying the banded edit
 * distance of match.h down the edges:
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
 * popped, and only once some candidates make bounds matter: until then the
 * walk needs no ranks at all. Among equal bounds the newest comes first,
 * so the walk goes depth first along records the writer laid out side by
 * side, and each child's record is prefetched as it is pushed. A state
 * that admits no more edits looks up the few child bytes that can extend
 * it instead of stepping every child.
 *
 * Light ranges of the main trie are read key by key from KEYS, resuming
 * the distance where a key parts from the one before it; leaves of the
 * word-start trie hold lex ids in rank order, so their scan stops at the
 * first entry that cannot rank, and each entry's key (fetched in a batch,
 * so that the misses overlap) is matched from each word start that begins
 * with Q's first letter.
 *
 * The walk counts the nodes and keys it visits; past AH_LOOKUP_MAX_WORK,
 * or when the frontier is full, it stops and the answer says it is not
 * complete. Everything lives on the stack.
 */
#include "index_internal.h"

#include "match.h"

#include <string.h>

#define FRONTIER_CAP 2048
#define RANGE_DEPTHS 64 /* distance states kept while scanning a light range */

enum { ITEM_NODE, ITEM_RANGE, ITEM_WORD_NODE, ITEM_WORD_LEAF };

/* A subtree waiting on the frontier, with the distance state at its top. */
typedef struct item {
    ah_osa_t osa;
    uint32_t off;    /* NODE, WORD_NODE: the record */
    uint32_t lo, hi; /* its range: lex ids (main trie) or entries (word-start trie) */
    ah_utf8_t u;
    uint16_t depth; /* RANGE: bytes of the path, where the keys' own bytes begin */
    uint8_t kind;
    uint8_t refined; /* its bound is its own, not its parent's */
    uint8_t probed;  /* its list was checked: no unseen match ranks better than its bound */
} item_t;

/*
 * The frontier's order: best bound first, and among equal bounds the
 * newest, so that children, which inherit their parent's bound, are walked
 * depth first.
 */
typedef struct slot {
    uint64_t bound; /* no completion below ranks better */
    uint32_t seq;
    uint32_t item; /* index into the item pool */
} slot_t;

/* An answer: rank is score class << 32 | lex id, so ascending is best first. */
typedef struct hit {
    uint64_t rank;
    uint8_t d, mid;
} hit_t;

typedef struct search {
    const ah_index_t *ix;
    ah_pattern_t pat;
    unsigned first_byte; /* Q's first UTF-8 byte */
    hit_t res[AH_MAX_K]; /* the answers so far, in order */
    size_t nres;
    uint64_t cand[AH_MAX_K]; /* this pass's best candidates, ascending */
    size_t ncand, need;
    uint32_t work;
    int complete;
    size_t nheap, nfree, npool;
    uint32_t seq;
    slot_t heap[FRONTIER_CAP];
    uint32_t free[FRONTIER_CAP]; /* pool entries given back */
    item_t pool[FRONTIER_CAP];
} search_t;

static uint64_t rank_of(const ah_index_t *ix, uint32_t id)
{
    return (uint64_t)ah_index__class(ix, id) << 32 | id;
}

/* ------------------------------------------------------------- candidates */

/* The rank a candidate must beat: the need-th best so far. */
static inline uint64_t threshold(const search_t *s)
{
    return s->ncand < s->need ? UINT64_MAX : s->cand[s->need - 1];
}

/* Offers a matching completion to the pass; keeps the best `need`, each once. */
static void offer(search_t *s, uint64_t rank)
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

static inline int before(const slot_t *a, const slot_t *b)
{
    return a->bound < b->bound || (a->bound == b->bound && a->seq > b->seq);
}

/* Starts loading what a pushed item will read first, so that misses overlap. */
static inline void prefetch_item(const search_t *s, const item_t *it)
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

static void push(search_t *s, const item_t *it, uint64_t bound)
{
    uint32_t at;
    if (s->nfree > 0) {
        at = s->free[--s->nfree];
    } else if (s->npool < FRONTIER_CAP) {
        at = (uint32_t)s->npool++;
    } else {
        s->complete = 0; /* a subtree is dropped unseen */
        return;
    }
    prefetch_item(s, it);
    slot_t e = {bound, s->seq++, at};
    s->pool[at] = *it;
    size_t i = s->nheap++;
    while (i > 0 && before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

/* Takes the best slot off the frontier; its item stays valid until the next push. */
static slot_t pop(search_t *s)
{
    slot_t top = s->heap[0], last = s->heap[--s->nheap];
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
static int requeue(search_t *s, item_t *it, uint64_t *bound, uint64_t best)
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

/* Advances a distance state by one byte of text. */
static inline int feed(const search_t *s, ah_utf8_t *u, ah_osa_t *osa, unsigned char b)
{
    uint32_t c;
    if (!ah_utf8_feed(u, b, &c))
        return AH_OSA_ALIVE;
    return ah_osa_step(&s->pat, osa, c);
}

/*
 * The child bytes worth stepping from a state at a node's end: all of
 * them, or when the state admits no further edit only those that extend
 * it exactly (map). Returns 0 for all.
 */
static inline int child_filter(const search_t *s, const item_t *at, uint64_t map[4])
{
    map[0] = map[1] = map[2] = map[3] = 0;
    return at->u.need == 0 && ah_osa_exact_next(&s->pat, &at->osa, s->pat.d, map);
}

static inline int byte_in(const uint64_t map[4], unsigned b)
{
    return (map[b >> 6] >> (b & 63)) & 1;
}

/* -------------------------------------------------------------- main trie */

/* Every completion of a node matches: its list holds the best of them. */
static int take_node(search_t *s, const ah_node_t *nd, uint32_t lo)
{
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel;
        if (ah_index__node_list(nd, i, &rel) != 0)
            return AH_ECORRUPT;
        uint64_t rank = rank_of(s->ix, lo + rel);
        if (rank >= threshold(s))
            break; /* the list is best first */
        offer(s, rank);
    }
    return 0;
}

static void take_range(search_t *s, uint32_t lo, uint32_t hi)
{
    for (uint32_t id = lo; id < hi; id++)
        offer(s, rank_of(s->ix, id));
}

/* Parses the record a walk reaches for the lex range [lo, hi), checking it covers that range. */
static int reach_node(const search_t *s, uint32_t off, uint32_t lo, uint32_t hi, ah_node_t *nd)
{
    if (ah_index__node_parse(s->ix, off, nd) != 0 || nd->count != hi - lo || hi > s->ix->n)
        return AH_ECORRUPT;
    return 0;
}

/*
 * Checks the keys of a node's list one by one, offering those that match:
 * every other key of the subtree ranks below the list's last, so that is
 * the subtree's bound from now on (*last). A popular subtree without a
 * match is then passed over as soon as the candidates rank better than its
 * list, instead of walked. Keys ranked at or above bound were checked when
 * an ancestor's list was.
 */
static int probe_node(search_t *s, item_t *it, const ah_node_t *nd, uint64_t bound, uint64_t *last)
{
    char key[AH_MAX_KEY_BYTES];
    it->probed = 1;
    *last = bound;
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel, len;
        uint64_t display;
        if (ah_index__node_list(nd, i, &rel) != 0)
            return AH_ECORRUPT;
        uint32_t id = it->lo + rel;
        uint64_t rank = rank_of(s->ix, id);
        *last = rank > *last ? rank : *last;
        if (rank < bound || rank >= threshold(s))
            continue;
        s->work++;
        if (ah_index__key_at(s->ix, id, key, &len, &display) != 0 || len < it->depth)
            return AH_ECORRUPT;
        ah_osa_t st = it->osa;
        ah_utf8_t u = it->u;
        for (uint32_t b = it->depth; b < len; b++) {
            int r = feed(s, &u, &st, (unsigned char)key[b]);
            if (r == AH_OSA_DEAD)
                break;
            if (r >= 0) {
                offer(s, rank);
                break;
            }
        }
    }
    return 0;
}

static int expand_node(search_t *s, item_t *it, uint64_t bound)
{
    ah_node_t nd;
    if (reach_node(s, it->off, it->lo, it->hi, &nd) != 0)
        return AH_ECORRUPT;
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint32_t rel;
        if (ah_index__node_list(&nd, 0, &rel) != 0)
            return AH_ECORRUPT;
        if (requeue(s, it, &bound, rank_of(s->ix, it->lo + rel)))
            return 0;
    }
    if (!it->probed && nd.count > nd.list_len && threshold(s) != UINT64_MAX) {
        uint64_t last;
        int rc = probe_node(s, it, &nd, bound, &last);
        if (rc)
            return rc;
        if (requeue(s, it, &bound, last))
            return 0;
    }
    item_t at = *it;
    for (uint32_t i = 0; i < nd.label_len; i++) {
        int r = feed(s, &at.u, &at.osa, nd.label[i]);
        if (r == AH_OSA_DEAD)
            return 0;
        if (r >= 0)
            return take_node(s, &nd, it->lo);
    }
    uint32_t depth = it->depth + nd.label_len;
    uint64_t map[4];
    int exact = child_filter(s, &at, map);
    for (uint32_t j = 0; j < nd.n_children; j++) {
        if (exact && !byte_in(map, nd.child_bytes[j]))
            continue;
        item_t ch = at;
        int r = feed(s, &ch.u, &ch.osa, nd.child_bytes[j]);
        if (r == AH_OSA_DEAD)
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
        ch.probed = 0;
        push(s, &ch, bound);
    }
    return 0;
}

/*
 * A light range: each key's own bytes from the range's depth on. Keys come
 * in lex order, so a key shares a prefix with the one before it: the
 * distance states along that prefix are kept, a key that shares the bytes
 * where its predecessor died dies with it, and one that shares the bytes
 * where it matched matches too.
 */
static int scan_range(search_t *s, item_t *it, uint64_t bound)
{
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint64_t best = UINT64_MAX;
        for (uint32_t id = it->lo; id < it->hi; id++) {
            uint64_t r = rank_of(s->ix, id);
            best = r < best ? r : best;
        }
        if (requeue(s, it, &bound, best))
            return 0;
    }
    ah_key_cursor_t c;
    ah_osa_t osa[RANGE_DEPTHS + 1];
    ah_utf8_t u[RANGE_DEPTHS + 1];
    char prev[RANGE_DEPTHS + 1];
    uint32_t base = it->depth, kept = 0; /* states kept for bytes [base, base + kept) */
    uint32_t stop = UINT32_MAX;          /* where the previous key died or matched */
    int matched = 0;
    osa[0] = it->osa;
    u[0] = it->u;
    for (uint32_t id = it->lo; id < it->hi; id++) {
        int rc = id == it->lo ? ah_index__cursor_seek(&c, s->ix, id) : ah_index__cursor_next(&c);
        if (rc)
            return rc;
        s->work++;
        if (c.len < base)
            continue; /* cannot happen in a sound file: the range's keys share its path */
        uint32_t shared = 0, own = c.len - base;
        while (shared < kept && shared < own && prev[shared] == c.key[base + shared])
            shared++;
        if (stop != UINT32_MAX && shared > stop) { /* it parts after the decisive byte */
            if (matched)
                offer(s, rank_of(s->ix, id));
            continue;
        }
        kept = shared;
        stop = UINT32_MAX;
        matched = 0;
        ah_osa_t st = osa[kept];
        ah_utf8_t uu = u[kept];
        for (uint32_t i = kept; i < own; i++) {
            unsigned char b = (unsigned char)c.key[base + i];
            int r = feed(s, &uu, &st, b);
            if (i < RANGE_DEPTHS) {
                prev[i] = (char)b;
                osa[i + 1] = st;
                u[i + 1] = uu;
                kept = i + 1;
            }
            if (r == AH_OSA_DEAD || r >= 0) {
                stop = i;
                matched = r >= 0;
                if (matched)
                    offer(s, rank_of(s->ix, id));
                break;
            }
        }
        if (stop != UINT32_MAX && stop >= kept)
            stop = UINT32_MAX; /* past the kept bytes: not comparable */
    }
    return 0;
}

/* --------------------------------------------------------- word-start trie */

static int entry_id(const search_t *s, uint32_t pos, uint32_t *id)
{
    if (pos >= s->ix->word_entries || ah_index__word_entry(s->ix, pos, id) != 0)
        return AH_ECORRUPT;
    return 0;
}

static int take_word_node(search_t *s, const ah_node_t *nd, uint32_t lo)
{
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel, id;
        if (ah_index__node_list(nd, i, &rel) != 0 || entry_id(s, lo + rel, &id) != 0)
            return AH_ECORRUPT;
        uint64_t rank = rank_of(s->ix, id);
        if (rank >= threshold(s))
            break;
        offer(s, rank);
    }
    return 0;
}

/* Every entry of a leaf matches; they are in rank order. */
static int take_word_leaf(search_t *s, uint32_t lo, uint32_t hi)
{
    for (uint32_t pos = lo; pos < hi; pos++) {
        uint32_t id;
        if (entry_id(s, pos, &id) != 0)
            return AH_ECORRUPT;
        uint64_t rank = rank_of(s->ix, id);
        if (rank >= threshold(s))
            break;
        offer(s, rank);
    }
    return 0;
}

static int reach_word_node(const search_t *s, uint32_t off, uint32_t lo, uint32_t hi, ah_node_t *nd)
{
    if (ah_index__word_node_parse(s->ix, off, nd) != 0 || nd->count != hi - lo ||
        hi > s->ix->word_entries)
        return AH_ECORRUPT;
    return 0;
}

static int key_matches_inside(const search_t *s, const char *key, uint32_t len);

/* probe_node() for the word-start trie: the listed keys, matched at their word starts. */
static int probe_word_node(search_t *s, item_t *it, const ah_node_t *nd, uint64_t bound,
                           uint64_t *last)
{
    char key[AH_MAX_KEY_BYTES];
    it->probed = 1;
    *last = bound;
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel, id, len;
        uint64_t display;
        if (ah_index__node_list(nd, i, &rel) != 0 || entry_id(s, it->lo + rel, &id) != 0)
            return AH_ECORRUPT;
        uint64_t rank = rank_of(s->ix, id);
        *last = rank > *last ? rank : *last;
        if (rank < bound || rank >= threshold(s))
            continue;
        s->work++;
        if (ah_index__key_at(s->ix, id, key, &len, &display) != 0)
            return AH_ECORRUPT;
        if (key_matches_inside(s, key, len))
            offer(s, rank);
    }
    return 0;
}

static int expand_word_node(search_t *s, item_t *it, uint64_t bound)
{
    ah_node_t nd;
    if (reach_word_node(s, it->off, it->lo, it->hi, &nd) != 0)
        return AH_ECORRUPT;
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint32_t rel, id;
        if (ah_index__node_list(&nd, 0, &rel) != 0 || entry_id(s, it->lo + rel, &id) != 0)
            return AH_ECORRUPT;
        if (requeue(s, it, &bound, rank_of(s->ix, id)))
            return 0;
    }
    if (!it->probed && nd.count > nd.list_len && threshold(s) != UINT64_MAX) {
        uint64_t last;
        int rc = probe_word_node(s, it, &nd, bound, &last);
        if (rc)
            return rc;
        if (requeue(s, it, &bound, last))
            return 0;
    }
    item_t at = *it;
    for (uint32_t i = 0; i < nd.label_len; i++) {
        int r = feed(s, &at.u, &at.osa, nd.label[i]);
        if (r == AH_OSA_DEAD)
            return 0;
        if (r >= 0)
            return take_word_node(s, &nd, it->lo);
    }
    uint64_t map[4];
    int exact = child_filter(s, &at, map);
    for (uint32_t j = 0; j < nd.n_children; j++) {
        /* The suffixes that end here (edge 0x00) were matched all along the path: none is new. */
        unsigned b = nd.child_bytes[j];
        if (b == AH_WORD_END_EDGE || (exact && !byte_in(map, b)))
            continue;
        item_t ch = at;
        int r = feed(s, &ch.u, &ch.osa, (unsigned char)b);
        if (r == AH_OSA_DEAD)
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
        ch.probed = 0;
        push(s, &ch, bound);
    }
    return 0;
}

/*
 * Does the key match Q within the pass's distance at one of its word starts
 * after the first? Only a word start whose first byte is Q's first can, so
 * those are found with memchr and checked (a letter or number after a code
 * point that is neither) before the distance runs.
 */
static int key_matches_inside(const search_t *s, const char *key, uint32_t len)
{
    const char *p = key + 1, *end = key + len;
    while (p < end && (p = memchr(p, (int)s->first_byte, (size_t)(end - p))) != NULL) {
        /* The code point before p: back over continuation bytes. */
        const char *q = p - 1;
        while (q > key && ((unsigned char)*q & 0xc0) == 0x80)
            q--;
        uint32_t cp;
        ah_match_decode(q, (size_t)(p - q), &cp, 1);
        if (!ah_match_is_word_cp(cp) && ah_match_within(&s->pat, p, (size_t)(end - p)))
            return 1;
        p++;
    }
    return 0;
}

#define LEAF_BATCH 16

/*
 * A leaf: entries best first, until one cannot rank. Keys are fetched in
 * batches: their bucket offsets are prefetched for the whole batch, then
 * their buckets, so that the batch's misses overlap instead of queueing.
 */
static int scan_word_leaf(search_t *s, item_t *it, uint64_t bound)
{
    const ah_index_t *ix = s->ix;
    if (!it->refined && threshold(s) != UINT64_MAX) {
        uint32_t id;
        if (entry_id(s, it->lo, &id) != 0)
            return AH_ECORRUPT;
        if (requeue(s, it, &bound, rank_of(ix, id)))
            return 0;
    }
    const unsigned char *kidx = ix->sec[AH_SEC_KEY_INDEX].data;
    char key[AH_MAX_KEY_BYTES];
    for (uint32_t pos = it->lo; pos < it->hi; pos += LEAF_BATCH) {
        uint32_t ids[LEAF_BATCH], n = it->hi - pos < LEAF_BATCH ? it->hi - pos : LEAF_BATCH;
        for (uint32_t i = 0; i < n; i++) {
            if (entry_id(s, pos + i, &ids[i]) != 0)
                return AH_ECORRUPT;
            __builtin_prefetch(kidx + 4 * (uint64_t)(ids[i] >> ix->bucket_shift));
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t from = ah_load_u32(kidx + 4 * (uint64_t)(ids[i] >> ix->bucket_shift));
            if (from < ix->sec[AH_SEC_KEYS].len)
                __builtin_prefetch(ix->sec[AH_SEC_KEYS].data + from);
        }
        for (uint32_t i = 0; i < n; i++) {
            uint64_t thr = threshold(s);
            if (thr != UINT64_MAX && rank_of(ix, ids[i]) >= thr)
                return 0; /* the leaf is in rank order */
            s->work++;
            uint32_t len;
            uint64_t display;
            if (ah_index__key_at(ix, ids[i], key, &len, &display) != 0)
                return AH_ECORRUPT;
            if (key_matches_inside(s, key, len))
                offer(s, rank_of(ix, ids[i]));
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- passes */

/* Finds the best `need` completions within distance d (from the start, or at later word starts). */
static int run_pass(search_t *s, int words, unsigned d, size_t need)
{
    const ah_index_t *ix = s->ix;
    s->pat.d = d;
    s->ncand = 0;
    s->need = need;
    s->nheap = 0;
    s->nfree = 0;
    s->npool = 0;
    s->seq = 0;
    item_t root;
    memset(&root, 0, sizeof root);
    ah_osa_init(&s->pat, &root.osa);
    root.kind = words ? ITEM_WORD_NODE : ITEM_NODE;
    root.off = words ? ix->word_root : ix->root;
    root.hi = words ? ix->word_entries : ix->n;
    root.refined = 1;
    push(s, &root, 0);
    int rc = 0;
    while (s->nheap > 0 && !rc) {
        slot_t top = pop(s);
        item_t it = s->pool[top.item]; /* a push may reuse its entry */
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
    for (size_t i = 0; i < s->ncand && !rc; i++)
        s->res[s->nres++] = (hit_t){s->cand[i], (uint8_t)d, (uint8_t)words};
    return rc;
}

/* ---------------------------------------------------------------- answers */

static int put_text(ah_completion_t *out, char *text, size_t cap, size_t *used, const char *t,
                    uint32_t len)
{
    if (len > cap - *used)
        return AH_ENOSPC;
    memcpy(text + *used, t, len);
    out->text = text + *used;
    out->text_len = len;
    *used += len;
    return 0;
}

static uint32_t count_cps(const char *s, size_t len)
{
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/*
 * The answer for a hit of a later tier: text, score, and the span: at the
 * first word start that matches within the hit's distance (the start of
 * the key for a prefix match), the longest stretch of the key within
 * exactly that distance, mapped onto the display text.
 */
static int emit_hit(search_t *s, const hit_t *h, ah_completion_t *out, char *text, size_t cap,
                    size_t *used)
{
    const ah_index_t *ix = s->ix;
    char key[AH_MAX_KEY_BYTES];
    uint32_t len, tlen, id = (uint32_t)h->rank;
    uint64_t display;
    const char *t;
    int rc = ah_index__key_at(ix, id, key, &len, &display);
    if (rc || (rc = ah_index__display(ix, display, key, len, &t, &tlen)) != 0 ||
        (rc = put_text(out, text, cap, used, t, tlen)) != 0 ||
        (rc = ah_index__score(ix, (uint32_t)(h->rank >> 32), &out->score)) != 0)
        return rc;
    out->typos = h->d;
    out->mid = h->mid;
    ah_pattern_t p = s->pat;
    p.d = h->d;
    uint32_t from = 0;
    if (h->mid) {
        uint32_t starts[AH_MAX_KEY_BYTES / 2];
        size_t n = ah_match_word_starts(key, len, starts, sizeof starts / sizeof *starts);
        for (size_t w = 0; w < n && w < sizeof starts / sizeof *starts; w++)
            if (ah_match_within(&p, key + starts[w], len - starts[w])) {
                from = starts[w];
                break;
            }
    }
    int l = ah_match_span_len(&p, key + from, len - from);
    uint32_t a = count_cps(key, from), b = a + (l > 0 ? (uint32_t)l : 0);
    ah_match_display_span(out->text, out->text_len, a, b, &out->span_start, &out->span_end);
    return 0;
}

/*
 * The tiers after the exact one, each while there is room; out[0..*n_out)
 * holds the exact answers (lex ids in ids) and `used` bytes of text. Out
 * of line, so that the search's frame (the frontier) is only set up when
 * the exact answer is short.
 */
static __attribute__((noinline)) int later_tiers(const ah_index_t *ix, const ah_pattern_t *pat,
                                                 unsigned budget, int words, unsigned k,
                                                 const uint32_t *ids, ah_completion_t *out,
                                                 char *text, size_t cap, size_t used, size_t *n_out,
                                                 int *complete)
{
    search_t s;
    s.ix = ix;
    s.pat = *pat;
    {
        uint32_t c = pat->q[0];
        s.first_byte = c < 0x80      ? c
                       : c < 0x800   ? 0xc0 | c >> 6
                       : c < 0x10000 ? 0xe0 | c >> 12
                                     : 0xf0 | c >> 18;
    }
    s.nres = 0;
    s.work = 0;
    s.complete = 1;
    size_t t0 = *n_out;
    int rc = 0;
    for (size_t i = 0; i < t0; i++)
        s.res[s.nres++] = (hit_t){rank_of(ix, ids[i]), 0, 0};
    for (unsigned d = 0; d <= budget && s.nres < k && !rc; d++) {
        if (d > 0)
            rc = run_pass(&s, 0, d, k - s.nres);
        if (!rc && words && s.nres < k)
            rc = run_pass(&s, 1, d, k - s.nres);
    }
    for (size_t i = t0; i < s.nres && !rc; i++)
        rc = emit_hit(&s, &s.res[i], &out[i], text, cap, &used);
    if (rc) {
        *n_out = 0;
        return rc;
    }
    *n_out = s.nres;
    *complete = s.complete;
    return 0;
}

static int check_options(const ah_index_t *ix, const ah_lookup_options_t *opt)
{
    if (opt->k == 0 || opt->k > ix->topk || opt->typos < AH_TYPOS_AUTO ||
        opt->typos > AH_MATCH_MAX_TYPOS ||
        (opt->match != AH_MATCH_PREFIX && opt->match != AH_MATCH_WORDS))
        return AH_EINVAL;
    return 0;
}

int ah_index_lookup_key(const ah_index_t *ix, const char *key, size_t len,
                        const ah_lookup_options_t *opt, ah_completion_t *out, char *text,
                        size_t cap, size_t *n_out, int *complete)
{
    *n_out = 0;
    *complete = 1;
    int rc = check_options(ix, opt);
    if (rc)
        return rc;
    if (len > AH_MAX_KEY_BYTES)
        return AH_ETOOLONG;
    uint32_t qbuf[AH_PATTERN_CPS(AH_MAX_KEY_BYTES)];
    ah_pattern_t pat;
    ah_match_pattern(key, len, qbuf, &pat);
    uint32_t n = pat.n;
    unsigned budget = ah_match_budget(n, opt->typos);
    int words = opt->match == AH_MATCH_WORDS && ix->word_entries > 0 && n > 0 &&
                ah_match_is_word_cp(pat.q[0]);

    /* Tier (0, prefix): the exact answer. */
    uint32_t ids[AH_MAX_K];
    size_t t0 = 0, used = 0;
    rc = ah_index__exact(ix, key, len, opt->k, out, text, cap, &t0, ids);
    if (rc)
        return rc;
    for (size_t i = 0; i < t0; i++) {
        out[i].typos = 0;
        out[i].mid = 0;
        ah_match_display_span(out[i].text, out[i].text_len, 0, n, &out[i].span_start,
                              &out[i].span_end);
        used += out[i].text_len;
    }
    if (t0 == opt->k || n == 0 || (budget == 0 && !words)) {
        *n_out = t0;
        return 0;
    }

    *n_out = t0;
    return later_tiers(ix, &pat, budget, words, opt->k, ids, out, text, cap, used, n_out, complete);
}

int ah_index_lookup(const ah_index_t *ix, const char *prefix, size_t len,
                    const ah_lookup_options_t *opt, ah_completion_t *out, char *text, size_t cap,
                    size_t *n_out, int *complete)
{
    char key[AH_MAX_KEY_BYTES];
    size_t key_len;
    *n_out = 0;
    *complete = 1;
    int rc = ah_normalize_key(prefix, len, key, sizeof key, &key_len, 1);
    if (rc)
        return rc;
    return ah_index_lookup_key(ix, key, key_len, opt, out, text, cap, n_out, complete);
}

int ah_index_complete_key(const ah_index_t *ix, const char *key, size_t len, unsigned k,
                          ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    ah_lookup_options_t opt = {.k = k, .typos = 0, .match = AH_MATCH_PREFIX};
    int complete;
    return ah_index_lookup_key(ix, key, len, &opt, out, text, cap, n_out, &complete);
}

int ah_index_complete(const ah_index_t *ix, const char *prefix, size_t len, unsigned k,
                      ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    ah_lookup_options_t opt = {.k = k, .typos = 0, .match = AH_MATCH_PREFIX};
    int complete;
    return ah_index_lookup(ix, prefix, len, &opt, out, text, cap, n_out, &complete);
}
