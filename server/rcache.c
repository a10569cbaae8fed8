/* SPDX-License-Identifier: MIT */
/* rcache.c: the per-worker response body cache (see rcache.h). */
#include "rcache.h"

#include <stdlib.h>
#include <string.h>

#include "ahead.h"

typedef struct slot_header {
    uint64_t hash;
    uint64_t snapshot_id;
    uint32_t index;
    uint32_t k;
    uint32_t variant;
    uint16_t qlen;
    uint16_t body_len; /* 0: empty slot */
} slot_header_t;

#define SLOT_ROOM (AH_RCACHE_SLOT - sizeof(slot_header_t))

int ah_rcache_init(ah_rcache_t *c, size_t entries)
{
    c->slots = NULL;
    c->mask = 0;
    if (entries == 0)
        return 0;
    size_t n = 1;
    while (n < entries)
        n *= 2;
    c->slots = calloc(n, AH_RCACHE_SLOT);
    if (c->slots == NULL)
        return AH_ENOMEM;
    c->mask = n - 1;
    return 0;
}

void ah_rcache_dispose(ah_rcache_t *c)
{
    free(c->slots);
    c->slots = NULL;
}

static unsigned char *slot_of(const ah_rcache_t *c, uint64_t hash)
{
    return c->slots + (size_t)(hash & c->mask) * AH_RCACHE_SLOT;
}

const char *ah_rcache_get(const ah_rcache_t *c, const ah_rcache_key_t *key, size_t *len)
{
    if (c->slots == NULL)
        return NULL;
    const unsigned char *s = slot_of(c, key->hash);
    const slot_header_t *h = (const slot_header_t *)s;
    if (h->body_len == 0 || h->hash != key->hash || h->snapshot_id != key->snapshot_id ||
        h->index != key->index || h->k != key->k || h->variant != key->variant ||
        h->qlen != key->qlen || memcmp(s + sizeof(*h), key->q, key->qlen) != 0)
        return NULL;
    *len = h->body_len;
    return (const char *)s + sizeof(*h) + h->qlen;
}

void ah_rcache_put(ah_rcache_t *c, const ah_rcache_key_t *key, const h2o_iovec_t *segs,
                   size_t nsegs, size_t total)
{
    if (c->slots == NULL || total == 0 || key->qlen + total > SLOT_ROOM)
        return;
    unsigned char *s = slot_of(c, key->hash);
    slot_header_t *h = (slot_header_t *)s;
    *h = (slot_header_t){.hash = key->hash,
                         .snapshot_id = key->snapshot_id,
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
