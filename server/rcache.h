/* SPDX-License-Identifier: MIT */
/*
 * rcache.h: a per-event-loop cache of whole response bodies.
 *
 * A search box sends the same few prefixes over and over ("a", "re",
 * "react"), and an answer depends only on (snapshot, index, q, k, and its
 * variant: format, typos and match mode).
 * Each worker keeps the bodies of recent answers in a direct-mapped table of
 * fixed-size slots, allocated once at startup: a hit costs a hash already
 * computed for the ETag, one slot compare and one copy into the request's
 * pool, instead of a lookup and a JSON rendering. No locks: a table belongs
 * to one loop. No invalidation either: the snapshot's content id is part of
 * the key, so after a swap old entries simply stop matching and are
 * overwritten as new answers come in.
 *
 *   slot (AH_RCACHE_SLOT bytes):
 *     [header: hash, snapshot id, index, k, variant, q length, body length]
 *     [q bytes][body bytes]      bodies that do not fit are not cached
 */
#ifndef AH_SERVER_RCACHE_H
#define AH_SERVER_RCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "h2o.h"

#define AH_RCACHE_SLOT 1024

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
    size_t mask;          /* n - 1 */
} ah_rcache_t;

/*
 * ah_rcache_init: a table of `entries` slots, rounded up to a power of two
 * (0 disables the cache: every get misses, every put is ignored). Returns 0
 * or AH_ENOMEM.
 */
int ah_rcache_init(ah_rcache_t *c, size_t entries);

void ah_rcache_dispose(ah_rcache_t *c);

/*
 * ah_rcache_get: the cached body for key, or NULL. The pointer is valid
 * until the next ah_rcache_put() on this cache: copy it before yielding.
 */
const char *ah_rcache_get(const ah_rcache_t *c, const ah_rcache_key_t *key, size_t *len);

/* ah_rcache_put: stores a body given as segments, if it fits a slot. */
void ah_rcache_put(ah_rcache_t *c, const ah_rcache_key_t *key, const h2o_iovec_t *segs,
                   size_t nsegs, size_t total);

#endif /* AH_SERVER_RCACHE_H */
