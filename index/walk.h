/* SPDX-License-Identifier: MIT */
/*
 * walk.h: one pass of the typo-tolerant search (walk.c), and what the
 * tiers around it (search.c) keep between passes: the answers so far.
 *
 * A pass finds the best `need` completions that match the typed prefix
 * within distance d, from the start of their key (the main trie) or from a
 * later word start (the word-start trie), and that are not answers yet.
 * Its state, the frontier included, lives in one ah_walk_t on the caller's
 * stack (about 260 KB): the lookup allocates nothing.
 *
 * With the typo index (format.h), a pass first asks the gram table for the
 * matches whose state runs out of edits near the top of the trie
 * (grams.c); the walk then drops such states (defer_j) and every child the
 * lookahead masks show cannot continue.
 */
#ifndef AH_WALK_H
#define AH_WALK_H

#include "index_internal.h"
#include "match.h"

#define AH_WALK_FRONTIER 2048
#define AH_WALK_ARENA    65536 /* the paths of word-start items pushed in one pass */
#define AH_WALK_NO_PATH  UINT32_MAX

/* A subtree waiting on the frontier, with the distance state at its top. */
typedef struct ah_walk_item {
    ah_osa_t osa;
    uint32_t off;    /* NODE, WORD_NODE: the record */
    uint32_t lo, hi; /* its range: lex ids (main trie) or entries (word-start trie) */
    ah_utf8_t u;
    uint16_t depth; /* bytes of the path: where the keys' own bytes begin (RANGE, WORD_*) */
    uint32_t path;  /* WORD_*: the path's bytes in the pass's arena; AH_WALK_NO_PATH when they did
                       not fit */
    uint8_t kind;
    uint8_t refined; /* its bound is its own, not its parent's */
} ah_walk_item_t;

/*
 * The frontier's order: best bound first, and among equal bounds the
 * newest, so that children, which inherit their parent's bound, are walked
 * depth first.
 */
typedef struct ah_walk_slot {
    uint64_t bound; /* no completion below ranks better */
    uint32_t seq;
    uint32_t item; /* index into the item pool */
} ah_walk_slot_t;

/* An answer: rank is score class << 32 | lex id, so ascending is best first. */
typedef struct ah_hit {
    uint64_t rank;
    uint8_t d, mid;
} ah_hit_t;

/*
 * What Q's code point x gives a lookahead test (walk_look.h), worked out
 * once per pattern: the LOOK class bit of its first byte; the pair bit of
 * its first two bytes (0 for an ASCII one), and of its first byte with the
 * next code point's first when a run of two or more is needed (pair_on);
 * its first byte.
 */
typedef struct ah_look_cp {
    uint32_t next, pair_one, pair_on;
    unsigned char lead;
} ah_look_cp_t;

/*
 * A head the gram table's main-trie pass found to fit in a run of heads
 * that both tries have: Q[0] h Q[x..n), with h the record's bytes.
 */
typedef struct ah_gram_fit {
    const unsigned char *h;
    uint32_t len, g3;
    uint8_t j, x;
} ah_gram_fit_t;

#define AH_GRAM_FITS 256 /* kept for the word-start pass; more and it reads the runs again */

typedef struct ah_walk {
    const ah_index_t *ix;
    ah_pattern_t pat;
    const uint32_t *look_for; /* the pattern's code points that look[] was made for (NULL: none) */
    ah_look_cp_t look[AH_MAX_KEY_BYTES];
    unsigned first_byte;    /* Q's first UTF-8 byte */
    ah_hit_t res[AH_MAX_K]; /* the answers so far, in order */
    size_t nres;
    uint64_t cand[AH_MAX_K]; /* this pass's best candidates, ascending */
    size_t ncand, need;
    uint32_t work;
    int complete;
    unsigned defer_lo, defer_j; /* states that run out of edits at a depth in [defer_lo, defer_j]
                                   are the gram table's (none when defer_j is 0) */
    /* The fits of the "both" runs from the main trie's gram pass of distance fits_d (0: none
     * kept), in the order found, for the word-start pass of the same distance (grams.c). */
    ah_gram_fit_t fits[AH_GRAM_FITS];
    uint32_t nfits, fits_next;
    unsigned fits_d;
    size_t nheap, nstack, nfree, npool;
    uint32_t seq;
    ah_walk_slot_t heap[AH_WALK_FRONTIER];
    ah_walk_slot_t stack[AH_WALK_FRONTIER]; /* while no candidate bounds the walk: a plain stack */
    uint32_t arena_used;
    char arena[AH_WALK_ARENA];
    uint32_t free[AH_WALK_FRONTIER]; /* pool entries given back */
    ah_walk_item_t pool[AH_WALK_FRONTIER];
} ah_walk_t;

/* A completion's place in the ranking: score class << 32 | lex id; ascending is best first. */
static inline uint64_t ah_walk__rank(const ah_index_t *ix, uint32_t id)
{
    return (uint64_t)ah_index__class(ix, id) << 32 | id;
}

/*
 * Runs one pass over the main trie (words == 0) or the word-start trie
 * with distance d, for up to `need` new answers, appended to s->res with
 * their tier. s->ix, s->pat (d is set here), s->first_byte, s->res/nres,
 * s->work and s->complete must be set. Returns 0 or AH_ECORRUPT.
 */
int ah_walk__pass(ah_walk_t *s, int words, unsigned d, size_t need);

/*
 * Offers to the pass under way every completion whose key (words == 0) or
 * a word-start suffix (words == 1) begins with key[0..len), a normalized
 * prefix starting with Q's first code point: a descent along key's bytes to
 * the node that answers it, or to the leaf or light range whose keys are
 * checked one by one. It leaves the pass's frontier alone. Returns 0 or
 * AH_ECORRUPT.
 */
int ah_walk__exact(ah_walk_t *s, int words, const char *key, size_t len);

/*
 * The gram table's part of a pass (grams.c): offers the matches whose
 * state runs out of edits at a depth j <= J, and sets s->defer_j = J so
 * that the walk leaves them alone (0 when the table cannot serve this
 * pass). s->pat.d is the pass's distance, at least 1. Returns 0 or
 * AH_ECORRUPT.
 */
int ah_grams__pass(ah_walk_t *s, int words);

/*
 * A prefix's fill (FILLS in format.h), walked: what the tiers after the
 * exact one add, for k = K, to the answer of key[0..len), a prefix of
 * count < K keys from lex id lo on, with typos=auto and match=words. Each
 * hit is id << 3 | typos << 1 | mid-phrase, in answer order. s is the
 * walk's state (large: the caller's). Returns 0, AH_EINVAL or AH_ECORRUPT.
 */
typedef struct ah_fill {
    unsigned budget; /* the typo budget of key as typed */
    int words;       /* word starts were searched */
    int complete;    /* the walk saw everything it had to */
    size_t n;
    uint64_t hit[AH_MAX_K];
} ah_fill_t;

int ah_index__fill_walk(const ah_index_t *ix, const char *key, size_t len, uint32_t lo,
                        uint32_t count, ah_walk_t *s, ah_fill_t *f);

/*
 * The same fill worked out without a walk from src, the fill of a shorter
 * prefix of key (src_count keys from lex id src_lo on) whose answer held
 * every completion within its typo budget: src complete, with fewer than
 * K answers in all, and the same budget and word-start setting as key's.
 * The prefix edit distance only grows as the prefix does, so every match
 * of key[0..len), at any tier, is among src's answers; each is put in the
 * first tier after the exact one where it matches key. Returns 0,
 * AH_EINVAL (src cannot serve) or AH_ECORRUPT.
 */
int ah_index__fill_derive(const ah_index_t *ix, const char *key, size_t len, uint32_t lo,
                          uint32_t count, uint32_t src_lo, uint32_t src_count, const ah_fill_t *src,
                          ah_fill_t *f);

#endif /* AH_WALK_H */
