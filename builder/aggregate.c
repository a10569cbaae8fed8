/* SPDX-License-Identifier: MIT */
/*
 * aggregate.c: the line parser and the two aggregation steps.
 *
 * Step 1, per line: validate, collapse whitespace, and add the count to the
 * line's surface form in an open-addressing hash table (raw logs repeat the
 * same lines many times, so this is where most lines stop). Strings live in
 * an arena of blocks that never move (64 KB first, doubling to 16 MB).
 * Step 2, once: normalize each distinct surface form to its key, sort by
 * (key, surface), and fold each key's run into one completion. Sorting makes
 * the result independent of the input's line order.
 */
#include "aggregate.h"

#include "ahead.h"
#include "checksum.h"

#include <stdlib.h>
#include <string.h>

/* Arena blocks double from the first to the largest size: a small log takes little memory. */
#define ARENA_FIRST_BLOCK (64u << 10)
#define ARENA_BLOCK       (16u << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block_t;

typedef struct surface {
    const char *text;
    const char *key;
    uint32_t text_len;
    uint32_t key_len;
    uint64_t count;
    uint64_t hash;
} surface_t;

struct ah_agg {
    unsigned max_text;
    arena_block_t *arena;
    surface_t *surf;
    size_t n_surf, cap_surf;
    uint32_t *slots; /* index + 1 into surf, 0 = empty */
    size_t n_slots;
    ah_entry_t *entries;
    double weight;
    uint64_t weighted_to_zero;
};

const char *ah_line_status_str(ah_line_status_t status)
{
    switch (status) {
    case AH_LINE_OK:
        return "ok";
    case AH_LINE_EMPTY:
        return "empty text";
    case AH_LINE_UTF8:
        return "invalid UTF-8";
    case AH_LINE_CONTROL:
        return "NUL or control character in text";
    case AH_LINE_COUNT:
        return "count is not an unsigned integer";
    case AH_LINE_OVERFLOW:
        return "count overflows 64 bits";
    case AH_LINE_TOOLONG:
        return "text longer than --max-bytes";
    }
    return "?";
}

static char *arena_copy(ah_agg_t *agg, const char *s, size_t len)
{
    arena_block_t *b = agg->arena;
    if (!b || b->cap - b->used < len) {
        size_t cap = !b ? ARENA_FIRST_BLOCK : b->cap < ARENA_BLOCK ? b->cap * 2 : ARENA_BLOCK;
        if (cap < len)
            cap = len;
        arena_block_t *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        agg->arena = b = nb;
    }
    char *p = b->data + b->used;
    memcpy(p, s, len);
    b->used += len;
    return p;
}

ah_agg_t *ah_agg_new(unsigned max_text_bytes)
{
    ah_agg_t *agg = calloc(1, sizeof *agg);
    if (!agg)
        return NULL;
    agg->max_text = max_text_bytes;
    agg->weight = 1.0;
    agg->n_slots = 1u << 16;
    agg->slots = calloc(agg->n_slots, sizeof *agg->slots);
    if (!agg->slots) {
        free(agg);
        return NULL;
    }
    return agg;
}

/*
 * Parses the count field s[0..len) (not NUL-terminated: it ends the line):
 * one or more decimal digits, leading zeros allowed, of a value that fits in
 * 64 bits. A field with a non-digit anywhere is not a count, even when its
 * digits before that would overflow.
 */
static ah_line_status_t parse_count(const char *s, size_t len, uint64_t *out)
{
    if (len == 0)
        return AH_LINE_COUNT;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return AH_LINE_COUNT;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return AH_LINE_OVERFLOW;
        v = v * 10 + d;
    }
    *out = v;
    return AH_LINE_OK;
}

/* Control characters: C0 (the tab included: it separates fields), DEL, and C1. */
static int has_control(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 1;
        if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return 1;
    }
    return 0;
}

static int grow_table(ah_agg_t *agg)
{
    size_t n = agg->n_slots * 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return AH_ENOMEM;
    for (size_t i = 0; i < agg->n_surf; i++) {
        size_t h = (size_t)agg->surf[i].hash & (n - 1);
        while (slots[h])
            h = (h + 1) & (n - 1);
        slots[h] = (uint32_t)i + 1;
    }
    free(agg->slots);
    agg->slots = slots;
    agg->n_slots = n;
    return 0;
}

static int add_surface(ah_agg_t *agg, const char *text, size_t len, uint64_t count)
{
    uint64_t hash = ah_hash64(0, text, len);
    size_t mask = agg->n_slots - 1, h = (size_t)hash & mask;
    for (uint32_t idx; (idx = agg->slots[h]) != 0; h = (h + 1) & mask) {
        surface_t *s = &agg->surf[idx - 1];
        if (s->hash == hash && s->text_len == len && memcmp(s->text, text, len) == 0) {
            s->count = count > UINT64_MAX - s->count ? UINT64_MAX : s->count + count;
            return 0;
        }
    }
    if (agg->n_surf >= UINT32_MAX - 1)
        return AH_ENOMEM;
    if (agg->n_surf == agg->cap_surf) {
        size_t cap = agg->cap_surf ? agg->cap_surf * 2 : 4096;
        surface_t *p = realloc(agg->surf, cap * sizeof *p);
        if (!p)
            return AH_ENOMEM;
        agg->surf = p;
        agg->cap_surf = cap;
    }
    const char *copy = arena_copy(agg, text, len);
    if (!copy)
        return AH_ENOMEM;
    agg->surf[agg->n_surf] =
        (surface_t){.text = copy, .text_len = (uint32_t)len, .count = count, .hash = hash};
    agg->slots[h] = (uint32_t)++agg->n_surf;
    if (agg->n_surf * 2 > agg->n_slots)
        return grow_table(agg);
    return 0;
}

void ah_agg_set_weight(ah_agg_t *agg, double weight)
{
    agg->weight = weight;
}

/* count * weight, rounded (halves up) and saturated; long double holds 64-bit counts exactly. */
static uint64_t weigh(uint64_t count, double weight)
{
    long double v = (long double)count * weight + 0.5L;
    if (v >= 18446744073709551616.0L) /* 2^64 */
        return UINT64_MAX;
    return (uint64_t)v;
}

int ah_agg_add_line(ah_agg_t *agg, const char *line, size_t len, ah_line_status_t *status)
{
    uint64_t count = 1;
    const char *tab = memrchr(line, '\t', len);
    size_t text_len = len;
    if (tab) {
        text_len = (size_t)(tab - line);
        *status = parse_count(tab + 1, len - text_len - 1, &count);
        if (*status != AH_LINE_OK)
            return 0;
    }
    if (has_control(line, text_len)) {
        *status = AH_LINE_CONTROL;
        return 0;
    }
    char surface[AH_MAX_TEXT_BYTES];
    size_t slen;
    int rc = ah_normalize_surface(line, text_len, surface, agg->max_text, &slen);
    if (rc) {
        *status = rc == AH_ETOOLONG ? AH_LINE_TOOLONG : AH_LINE_UTF8;
        return 0;
    }
    if (slen == 0) {
        *status = AH_LINE_EMPTY;
        return 0;
    }
    *status = AH_LINE_OK;
    if (agg->weight != 1.0) {
        count = weigh(count, agg->weight);
        agg->weighted_to_zero += count == 0;
    }
    return add_surface(agg, surface, slen, count);
}

static int by_key_then_text(const void *a, const void *b)
{
    const surface_t *x = a, *y = b;
    size_t m = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, m);
    if (c || x->key_len != y->key_len)
        return c ? c : (x->key_len < y->key_len ? -1 : 1);
    m = x->text_len < y->text_len ? x->text_len : y->text_len;
    c = memcmp(x->text, y->text, m);
    return c ? c : (x->text_len < y->text_len ? -1 : x->text_len > y->text_len);
}

int ah_agg_finish(ah_agg_t *agg, uint64_t min_count, const ah_blocklist_t *bl, ah_entry_t **entries,
                  size_t *n, ah_agg_counts_t *counts)
{
    memset(counts, 0, sizeof *counts);
    counts->surfaces = agg->n_surf;
    counts->weighted_to_zero = agg->weighted_to_zero;
    free(agg->slots); /* the hash table's work is done */
    agg->slots = NULL;
    agg->n_slots = 0;

    /* Keys; forms with no usable key are dropped here. */
    char key[AH_MAX_KEY_BYTES];
    size_t kept = 0;
    for (size_t i = 0; i < agg->n_surf; i++) {
        surface_t *s = &agg->surf[i];
        size_t klen;
        int rc = ah_normalize_key(s->text, s->text_len, key, sizeof key, &klen, 0);
        if (rc || klen == 0) {
            if (rc)
                counts->long_keys++;
            else
                counts->empty_keys++;
            continue;
        }
        s->key = klen == s->text_len && memcmp(key, s->text, klen) == 0
                     ? s->text
                     : arena_copy(agg, key, klen);
        if (!s->key)
            return AH_ENOMEM;
        s->key_len = (uint32_t)klen;
        agg->surf[kept++] = *s;
    }
    if (kept > 1)
        qsort(agg->surf, kept, sizeof *agg->surf, by_key_then_text);

    agg->entries = malloc((kept ? kept : 1) * sizeof *agg->entries);
    if (!agg->entries)
        return AH_ENOMEM;
    size_t out = 0;
    for (size_t i = 0; i < kept;) {
        const surface_t *best = &agg->surf[i];
        uint64_t sum = 0;
        size_t j = i;
        for (; j < kept && agg->surf[j].key_len == best->key_len &&
               memcmp(agg->surf[j].key, best->key, best->key_len) == 0;
             j++) {
            const surface_t *s = &agg->surf[j];
            sum = s->count > UINT64_MAX - sum ? UINT64_MAX : sum + s->count;
            if (s->count > best->count) /* ties keep the earlier, byte-wise smaller */
                best = s;
        }
        i = j;
        counts->keys++;
        if (sum < min_count) {
            counts->below_min++;
            continue;
        }
        if (bl && ah_blocklist_match(bl, best->key, best->key_len)) {
            counts->blocked++;
            continue;
        }
        agg->entries[out++] = (ah_entry_t){.key = best->key,
                                           .key_len = best->key_len,
                                           .text = best->text,
                                           .text_len = best->text_len,
                                           .score = sum};
    }
    counts->completions = out;
    *entries = agg->entries;
    *n = out;
    return 0;
}

void ah_agg_free(ah_agg_t *agg)
{
    if (!agg)
        return;
    for (arena_block_t *b = agg->arena, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(agg->surf);
    free(agg->slots);
    free(agg->entries);
    free(agg);
}
