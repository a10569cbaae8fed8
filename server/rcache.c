/* SPDX-License-Identifier: MIT */
/* rcache.c: the per-worker response body cache (see rcache.h). */
#include "rcache.h"

#include <stdlib.h>
#include <string.h>

#include "ahead.h"

typedef struct slot_header { /* the request's hash is its tag (rcache.h) */
    uint64_t snapshot_id;
    uint32_t index;
    uint32_t k;
    uint32_t variant;
    uint16_t qlen;
    uint16_t body_len; /* 0: empty slot */
} slot_header_t;

#define SLOT_ROOM (AH_RCACHE_SLOT - sizeof(slot_header_t))

#define SKETCH_ROWS     4
#define SKETCH_PER_SLOT 4  /* counters per row for each slot */
#define AGE_PER_SLOT    10 /* requests per slot between halvings */

int ah_rcache_init(ah_rcache_t *c, size_t entries)
{
    *c = (ah_rcache_t){0};
    if (entries == 0)
        return 0;
    size_t n = 1;
    while (n < entries)
        n *= 2;
    size_t w = 64;
    unsigned bits = 6;
    while (w < n * SKETCH_PER_SLOT) {
        w *= 2;
        bits++;
    }
    c->slots = calloc(n, AH_RCACHE_SLOT);
    c->tags = calloc(n, sizeof *c->tags);
    c->sketch = calloc(SKETCH_ROWS, w);
    if (c->slots == NULL || c->tags == NULL || c->sketch == NULL) {
        ah_rcache_dispose(c);
        return AH_ENOMEM;
    }
    c->ways = n < AH_RCACHE_WAYS ? (unsigned)n : AH_RCACHE_WAYS;
    c->set_mask = n / c->ways - 1;
    c->sketch_mask = w - 1;
    c->sketch_shift = 64 - bits;
    c->age_period = (uint64_t)n * AGE_PER_SLOT;
    return 0;
}

void ah_rcache_dispose(ah_rcache_t *c)
{
    free(c->slots);
    free(c->tags);
    free(c->sketch);
    *c = (ah_rcache_t){0};
}

/* Counter `row` of a request's hash: the high bits of its product with an odd constant. */
static size_t counter_of(const ah_rcache_t *c, unsigned row, uint64_t hash)
{
    static const uint64_t mul[SKETCH_ROWS] = {0x9e3779b97f4a7c15u, 0xc2b2ae3d27d4eb4fu,
                                              0x165667b19e3779f9u, 0xd6e8feb86659fd93u};
    return (size_t)row * (c->sketch_mask + 1) + (size_t)((hash * mul[row]) >> c->sketch_shift);
}

/* How often a request has been seen lately: the least of its counters. */
static unsigned frequency(const ah_rcache_t *c, uint64_t hash)
{
    unsigned f = 255;
    for (unsigned r = 0; r < SKETCH_ROWS; r++) {
        unsigned v = c->sketch[counter_of(c, r, hash)];
        f = v < f ? v : f;
    }
    return f;
}

/*
 * Counts one request: raises only the counters at its least (so a counter
 * shared with a popular request does not lift the rest), and halves every
 * counter once per age_period requests, so that yesterday's prefixes fade.
 */
static void count_request(ah_rcache_t *c, uint64_t hash)
{
    unsigned f = frequency(c, hash);
    if (f < 255)
        for (unsigned r = 0; r < SKETCH_ROWS; r++) {
            uint8_t *v = &c->sketch[counter_of(c, r, hash)];
            if (*v == f)
                (*v)++;
        }
    if (++c->seen >= c->age_period) {
        c->seen = 0;
        for (size_t i = 0; i < SKETCH_ROWS * (c->sketch_mask + 1); i++)
            c->sketch[i] >>= 1;
    }
}

/* The first slot of a request's set: the low bits of its hash index the sets (the sketch uses
 * the high bits of products). */
static size_t set_of(const ah_rcache_t *c, uint64_t hash)
{
    return (size_t)(hash & c->set_mask) * c->ways;
}

static unsigned char *slot_at(const ah_rcache_t *c, size_t i)
{
    return c->slots + i * AH_RCACHE_SLOT;
}

/*
 * Slot i holds the same request, the snapshot aside. Its tag is compared
 * first: a slot's own cache lines are read only when its hash is the
 * request's.
 */
static int same_request(const ah_rcache_t *c, size_t i, const ah_rcache_key_t *key)
{
    if (c->tags[i] != key->hash)
        return 0;
    const unsigned char *s = slot_at(c, i);
    const slot_header_t *h = (const slot_header_t *)s;
    return h->body_len != 0 && h->index == key->index && h->k == key->k &&
           h->variant == key->variant && h->qlen == key->qlen &&
           memcmp(s + sizeof(*h), key->q, key->qlen) == 0;
}

const char *ah_rcache_get(ah_rcache_t *c, const ah_rcache_key_t *key, size_t *len)
{
    if (c->slots == NULL)
        return NULL;
    count_request(c, key->hash);
    size_t set = set_of(c, key->hash);
    for (unsigned i = 0; i < c->ways; i++) {
        if (!same_request(c, set + i, key))
            continue;
        const unsigned char *s = slot_at(c, set + i);
        const slot_header_t *h = (const slot_header_t *)s;
        if (h->snapshot_id == key->snapshot_id) {
            *len = h->body_len;
            return (const char *)s + sizeof(*h) + h->qlen;
        }
    }
    return NULL;
}

void ah_rcache_put(ah_rcache_t *c, const ah_rcache_key_t *key, const h2o_iovec_t *segs,
                   size_t nsegs, size_t total)
{
    if (c->slots == NULL || total == 0 || key->qlen + total > SLOT_ROOM)
        return;
    /* The request's own slot (an answer of an older snapshot), else an empty one, else the
     * least seen request's, if this one has been seen more often. */
    size_t set = set_of(c, key->hash), at = SIZE_MAX, victim = 0;
    unsigned least = 256;
    for (unsigned i = 0; i < c->ways && at == SIZE_MAX; i++) {
        uint64_t tag = c->tags[set + i];
        const slot_header_t *h = (const slot_header_t *)slot_at(c, set + i);
        if (same_request(c, set + i, key)) {
            at = set + i;
        } else if (tag == 0 && h->body_len == 0) {
            least = 0;
            victim = set + i;
        } else if (least > 0) {
            unsigned f = frequency(c, tag);
            if (f < least) {
                least = f;
                victim = set + i;
            }
        }
    }
    if (at == SIZE_MAX) {
        if (least != 0 && frequency(c, key->hash) <= least)
            return; /* seen no more often than what it would evict */
        at = victim;
    }
    c->tags[at] = key->hash;
    unsigned char *s = slot_at(c, at);
    slot_header_t *h = (slot_header_t *)s;
    *h = (slot_header_t){.snapshot_id = key->snapshot_id,
                         .index = key->index,
                         .k = key->k,
                         .variant = key->variant,
                         .qlen = (uint16_t)key->qlen,
                         .body_len = (uint16_t)total};
    unsigned char *p = s + sizeof(*h);
    memcpy(p, key->q, key->qlen);
    p += key->qlen;
    for (size_t i = 0; i < nsegs; i++) {
        memcpy(p, segs[i].base, segs[i].len);
        p += segs[i].len;
    }
}
