/* SPDX-License-Identifier: MIT */
/*
 * rcache.h: a per-event-loop cache of whole response bodies.
 *
 * A search box sends the same few prefixes over and over ("a", "re",
 * "react"), and an answer depends only on (snapshot, index, q, k, and its
 * variant: format, typos and match mode).
 * Each worker keeps the bodies of recent answers in a table of fixed-size
 * slots, allocated once at startup, in sets of AH_RCACHE_WAYS: a hit costs
 * a hash already computed for the ETag, a few slot compares and one copy
 * into the request's pool, instead of a lookup and a JSON rendering. No
 * locks: a table belongs to one loop. No invalidation either: the
 * snapshot's content id is part of the key, so after a swap old entries
 * simply stop matching, and the new answer to the same request takes the
 * old one's slot.
 *
 * Which answers stay: most keystrokes of a day are typed once, and a cache
 * that keeps the last one seen keeps mostly those. A small frequency sketch
 * (count-min: four rows of 8-bit counters, four per slot, all halved after
 * every ten times as many requests as slots) counts every request, and a
 * new answer enters a full set only if its request has been seen more often
 * than the least seen one there, which it replaces (TinyLFU's admission,
 * Einziger et al., 2017). On npm's keystroke prefixes 4,096 slots answer 69%
 * of requests this way, against 55% with one slot per set and the last
 * answer kept; and a flood of distinct requests cannot empty the cache of
 * the popular ones.
 *
 *   slot (AH_RCACHE_SLOT bytes):
 *     [header: snapshot id, index, k, variant, q length, body length]
 *     [q bytes][body bytes]      bodies that do not fit are not cached
 *   tags: each slot's hash, the slots of a set side by side, so that a miss
 *     reads one cache line instead of one per slot
 */
#ifndef AH_SERVER_RCACHE_H
#define AH_SERVER_RCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "h2o.h"

#define AH_RCACHE_SLOT 1024
#define AH_RCACHE_WAYS 4

/* What identifies an answer. q points to the decoded prefix, as requested. */
typedef struct ah_rcache_key {
    uint64_t hash;        /* of index, q, k and variant (the ETag's hash) */
    uint64_t snapshot_id; /* the content id of the snapshot answering */
    uint32_t index;
    uint32_t k;
    uint32_t variant; /* what else shapes the answer: format, typos, match (api.c) */
    const char *q;
    size_t qlen;
} ah_rcache_key_t;

typedef struct ah_rcache {
    unsigned char *slots; /* n * AH_RCACHE_SLOT bytes; NULL when disabled */
    uint64_t *tags;       /* each slot's hash, a set's side by side: a probe reads one line */
    size_t set_mask;      /* sets - 1 */
    unsigned ways;        /* slots per set: AH_RCACHE_WAYS, or n when fewer */
    uint8_t *sketch;      /* 4 rows of sketch_mask + 1 counters */
    size_t sketch_mask;
    unsigned sketch_shift;     /* 64 - log2(counters per row) */
    uint64_t seen, age_period; /* requests counted since the last halving, and how many */
} ah_rcache_t;

/*
 * ah_rcache_init: a table of `entries` slots, rounded up to a power of two
 * (0 disables the cache: every get misses, every put is ignored). Returns 0
 * or AH_ENOMEM.
 */
int ah_rcache_init(ah_rcache_t *c, size_t entries);

void ah_rcache_dispose(ah_rcache_t *c);

/*
 * ah_rcache_get: counts a request for key, and returns its cached body or
 * NULL. The pointer is valid until the next ah_rcache_put() on this cache:
 * copy it before yielding.
 */
const char *ah_rcache_get(ah_rcache_t *c, const ah_rcache_key_t *key, size_t *len);

/*
 * ah_rcache_put: stores a body given as segments, if it fits a slot and its
 * request has been seen more often than the least seen one of a full set.
 */
void ah_rcache_put(ah_rcache_t *c, const ah_rcache_key_t *key, const h2o_iovec_t *segs,
                   size_t nsegs, size_t total);

#endif /* AH_SERVER_RCACHE_H */
