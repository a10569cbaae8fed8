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
    uint32_t id; /* its index when added: sorting moves it */
} surface_t;

/* A context value, interned. */
typedef struct context {
    const char *value;
    uint32_t len;
    uint64_t hash;
} context_t;

/* The count of one surface form in one context. */
typedef struct membership {
    uint32_t surface, context;
    uint64_t count;
} membership_t;

/* An open-addressing table of ids + 1 (0: empty), grown at half full. */
typedef struct id_table {
    uint32_t *slots;
    size_t n_slots, used;
} id_table_t;

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
    context_t *ctx;
    size_t n_ctx, cap_ctx;
    id_table_t ctx_table; /* value -> context */
    membership_t *mem;
    size_t n_mem, cap_mem;
    id_table_t mem_table;    /* (surface, context) -> membership */
    uint32_t *entry_of;      /* surface id -> entry, UINT32_MAX: none (ah_agg_finish) */
    ah_write_context_t *out; /* ah_agg_contexts()'s */
    ah_entry_t *out_entries;
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
    case AH_LINE_CONTEXT:
        return "a context value is empty, not UTF-8, or holds a comma or control character";
    case AH_LINE_CONTEXT_LONG:
        return "a context value is longer than 64 bytes";
    case AH_LINE_CONTEXT_MANY:
        return "more than 32 distinct context values";
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

static uint64_t add_count(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* Adds count to the surface form text, setting *id to its index. */
static int add_surface(ah_agg_t *agg, const char *text, size_t len, uint64_t count, uint32_t *id)
{
    uint64_t hash = ah_hash64(0, text, len);
    size_t mask = agg->n_slots - 1, h = (size_t)hash & mask;
    for (uint32_t idx; (idx = agg->slots[h]) != 0; h = (h + 1) & mask) {
        surface_t *s = &agg->surf[idx - 1];
        if (s->hash == hash && s->text_len == len && memcmp(s->text, text, len) == 0) {
            s->count = add_count(s->count, count);
            *id = idx - 1;
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
    *id = (uint32_t)agg->n_surf;
    agg->surf[agg->n_surf] = (surface_t){
        .text = copy, .text_len = (uint32_t)len, .count = count, .hash = hash, .id = *id};
    agg->slots[h] = (uint32_t)++agg->n_surf;
    if (agg->n_surf * 2 > agg->n_slots)
        return grow_table(agg);
    return 0;
}

/* The id tables' keys: a context value, or a (surface, context) pair. */
typedef struct table_key {
    const char *value;
    size_t len;
    uint32_t surface, context;
} table_key_t;

static uint64_t pair_hash(uint32_t surface, uint32_t context)
{
    return ((uint64_t)surface * 0x9E3779B97F4A7C15u) ^ ((uint64_t)context * 0xC2B2AE3D27D4EB4Fu);
}

static uint64_t context_hash(const ah_agg_t *agg, uint32_t id)
{
    return agg->ctx[id].hash;
}

static uint64_t membership_hash(const ah_agg_t *agg, uint32_t id)
{
    return pair_hash(agg->mem[id].surface, agg->mem[id].context);
}

static int same_context(const ah_agg_t *agg, uint32_t id, const table_key_t *k)
{
    const context_t *c = &agg->ctx[id];
    return c->len == k->len && memcmp(c->value, k->value, k->len) == 0;
}

static int same_membership(const ah_agg_t *agg, uint32_t id, const table_key_t *k)
{
    return agg->mem[id].surface == k->surface && agg->mem[id].context == k->context;
}

/*
 * The slot of table t where the key with this hash is, or would go; same()
 * says whether entry id is the key, hash_of() gives an entry's hash for
 * growing (at half full, first). NULL when out of memory.
 */
static uint32_t *id_slot(const ah_agg_t *agg, id_table_t *t, uint64_t hash, const table_key_t *k,
                         int (*same)(const ah_agg_t *, uint32_t, const table_key_t *),
                         uint64_t (*hash_of)(const ah_agg_t *, uint32_t))
{
    if ((t->used + 1) * 2 > t->n_slots) {
        size_t n = t->n_slots ? t->n_slots * 2 : 1024;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t i = 0; i < t->n_slots; i++) {
            if (!t->slots[i])
                continue;
            size_t h = (size_t)hash_of(agg, t->slots[i] - 1) & (n - 1);
            while (slots[h])
                h = (h + 1) & (n - 1);
            slots[h] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->n_slots = n;
    }
    size_t h = (size_t)hash & (t->n_slots - 1);
    while (t->slots[h] && !same(agg, t->slots[h] - 1, k))
        h = (h + 1) & (t->n_slots - 1);
    return &t->slots[h];
}

/* Grows an array of *cap elements of size sz to hold one more; 0 or AH_ENOMEM. */
static int reserve(void **array, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 256;
    void *p = realloc(*array, c * sz);
    if (!p)
        return AH_ENOMEM;
    *array = p;
    *cap = c;
    return 0;
}

/* Adds count to surface form `surface` in context value [value, value + len). */
static int add_membership(ah_agg_t *agg, uint32_t surface, const char *value, size_t len,
                          uint64_t count)
{
    table_key_t k = {.value = value, .len = len, .surface = surface};
    uint64_t hash = ah_hash64(0, value, len);
    uint32_t *slot = id_slot(agg, &agg->ctx_table, hash, &k, same_context, context_hash);
    if (!slot)
        return AH_ENOMEM;
    if (!*slot) {
        const char *copy = arena_copy(agg, value, len);
        if (!copy || agg->n_ctx >= UINT32_MAX - 1 ||
            reserve((void **)&agg->ctx, agg->n_ctx, &agg->cap_ctx, sizeof *agg->ctx))
            return AH_ENOMEM;
        agg->ctx[agg->n_ctx] = (context_t){copy, (uint32_t)len, hash};
        *slot = (uint32_t)++agg->n_ctx;
        agg->ctx_table.used++;
    }
    k.context = *slot - 1;
    slot = id_slot(agg, &agg->mem_table, pair_hash(surface, k.context), &k, same_membership,
                   membership_hash);
    if (!slot)
        return AH_ENOMEM;
    if (*slot) {
        membership_t *m = &agg->mem[*slot - 1];
        m->count = add_count(m->count, count);
        return 0;
    }
    if (agg->n_mem >= UINT32_MAX - 1 ||
        reserve((void **)&agg->mem, agg->n_mem, &agg->cap_mem, sizeof *agg->mem))
        return AH_ENOMEM;
    agg->mem[agg->n_mem] = (membership_t){surface, k.context, count};
    *slot = (uint32_t)++agg->n_mem;
    agg->mem_table.used++;
    return 0;
}

/*
 * Splits a line's contexts field into distinct, checked values (at most
 * AH_MAX_LINE_CONTEXTS) in v and vlen. Returns how many; *status tells
 * whether the field was good.
 */
static size_t parse_contexts(const char *s, size_t len, const char **v, size_t *vlen,
                             ah_line_status_t *status)
{
    size_t n = 0;
    *status = AH_LINE_OK;
    if (len == 0) /* an empty field lists no value: a data engine's NULL */
        return 0;
    for (size_t at = 0;;) {
        const char *comma = memchr(s + at, ',', len - at);
        size_t end = comma ? (size_t)(comma - s) : len;
        const char *value = s + at;
        size_t vl = end - at;
        int rc = ah_context_value_check(&value, &vl);
        if (rc) {
            *status = rc == AH_ETOOLONG ? AH_LINE_CONTEXT_LONG : AH_LINE_CONTEXT;
            return 0;
        }
        size_t i = 0;
        while (i < n && !(vlen[i] == vl && memcmp(v[i], value, vl) == 0))
            i++;
        if (i == n) {
            if (n == AH_MAX_LINE_CONTEXTS) {
                *status = AH_LINE_CONTEXT_MANY;
                return 0;
            }
            v[n] = value;
            vlen[n++] = vl;
        }
        if (!comma)
            return n;
        at = end + 1;
    }
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
    /* The text never holds a tab, so it ends at the first; a context may look like a count. */
    uint64_t count = 1;
    const char *tab = memchr(line, '\t', len);
    size_t text_len = len, n_ctx = 0;
    const char *ctx[AH_MAX_LINE_CONTEXTS];
    size_t ctx_len[AH_MAX_LINE_CONTEXTS];
    if (tab) {
        text_len = (size_t)(tab - line);
        size_t rest = len - text_len - 1;
        const char *tab2 = memchr(tab + 1, '\t', rest);
        *status = parse_count(tab + 1, tab2 ? (size_t)(tab2 - tab - 1) : rest, &count);
        if (*status == AH_LINE_OK && tab2)
            n_ctx = parse_contexts(tab2 + 1, (size_t)(line + len - tab2 - 1), ctx, ctx_len, status);
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
    uint32_t id;
    rc = add_surface(agg, surface, slen, count, &id);
    for (size_t i = 0; i < n_ctx && !rc; i++)
        rc = add_membership(agg, id, ctx[i], ctx_len[i], count);
    return rc;
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
    if (agg->n_mem) { /* which entry each surface form went to, for its contexts */
        agg->entry_of = malloc(counts->surfaces * sizeof *agg->entry_of);
        if (!agg->entry_of)
            return AH_ENOMEM;
        memset(agg->entry_of, 0xff, counts->surfaces * sizeof *agg->entry_of);
    }
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
        size_t first = i;
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
        for (size_t f = first; agg->entry_of && f < j; f++)
            agg->entry_of[agg->surf[f].id] = (uint32_t)out;
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

/* A context value with its id, for sorting the values. */
typedef struct ranked {
    const char *value;
    uint32_t len, id;
} ranked_t;

static int by_value(const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;
    int c = memcmp(x->value, y->value, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* A membership placed: the context's rank in byte order, the entry, the count. */
typedef struct placed {
    uint32_t rank, entry;
    uint64_t count;
} placed_t;

static int by_rank_then_entry(const void *a, const void *b)
{
    const placed_t *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return (x->entry > y->entry) - (x->entry < y->entry);
}

int ah_agg_contexts(ah_agg_t *agg, ah_write_context_t **contexts, size_t *n, uint64_t *memberships)
{
    *contexts = NULL;
    *n = 0;
    *memberships = 0;
    if (!agg->entry_of)
        return 0;
    ranked_t *ranked = malloc(agg->n_ctx * sizeof *ranked);
    uint32_t *rank = malloc(agg->n_ctx * sizeof *rank);
    placed_t *p = malloc(agg->n_mem * sizeof *p);
    int rc = ranked && rank && p ? 0 : AH_ENOMEM;
    size_t m = 0;
    if (!rc) {
        for (uint32_t c = 0; c < agg->n_ctx; c++)
            ranked[c] = (ranked_t){agg->ctx[c].value, agg->ctx[c].len, c};
        qsort(ranked, agg->n_ctx, sizeof *ranked, by_value);
        for (uint32_t r = 0; r < agg->n_ctx; r++)
            rank[ranked[r].id] = r;
        /* Surface forms dropped (no key, --min-count, the blocklist) take their contexts along. */
        for (size_t i = 0; i < agg->n_mem; i++) {
            uint32_t e = agg->entry_of[agg->mem[i].surface];
            if (e != UINT32_MAX)
                p[m++] = (placed_t){rank[agg->mem[i].context], e, agg->mem[i].count};
        }
        qsort(p, m, sizeof *p, by_rank_then_entry);
        /* Forms of one key in one context add up; a completion belongs when its sum is > 0. */
        size_t kept = 0;
        for (size_t i = 0; i < m;) {
            placed_t sum = p[i];
            for (i++; i < m && p[i].rank == sum.rank && p[i].entry == sum.entry; i++)
                sum.count = add_count(sum.count, p[i].count);
            if (sum.count > 0)
                p[kept++] = sum;
        }
        m = kept;
        agg->out_entries = malloc((m ? m : 1) * sizeof *agg->out_entries);
        agg->out = malloc((agg->n_ctx ? agg->n_ctx : 1) * sizeof *agg->out);
        rc = agg->out_entries && agg->out ? 0 : AH_ENOMEM;
    }
    for (size_t i = 0; !rc && i < m;) {
        const ranked_t *v = &ranked[p[i].rank];
        ah_write_context_t *c = &agg->out[(*n)++];
        *c = (ah_write_context_t){v->value, v->len, agg->out_entries + i, 0};
        for (uint32_t r = p[i].rank; i < m && p[i].rank == r; i++, c->n++) {
            agg->out_entries[i] = agg->entries[p[i].entry];
            agg->out_entries[i].score = p[i].count;
        }
    }
    free(ranked);
    free(rank);
    free(p);
    if (!rc) {
        *contexts = agg->out;
        *memberships = m;
    } else {
        *n = 0;
    }
    return rc;
}

void ah_agg_free(ah_agg_t *agg)
{
    if (!agg)
        return;
    free(agg->ctx);
    free(agg->ctx_table.slots);
    free(agg->mem);
    free(agg->mem_table.slots);
    free(agg->entry_of);
    free(agg->out);
    free(agg->out_entries);
    for (arena_block_t *b = agg->arena, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(agg->surf);
    free(agg->slots);
    free(agg->entries);
    free(agg);
}
