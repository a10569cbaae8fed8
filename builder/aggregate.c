/* SPDX-License-Identifier: MIT */
/*
 * aggregate.c: the line parser and the two aggregation steps.
 *
 * Step 1, per line: validate, collapse whitespace, and add the count to the
 * line's surface form in an open-addressing hash table (raw logs repeat the
 * same lines many times, so this is where most lines stop). Strings live in
 * an arena of blocks that never move (64 KB first, doubling to 16 MB).
 * Step 2: normalize each distinct surface form to its key, sort by (key,
 * surface), and write the table out as sorted runs (spill.h), one per
 * thread; then merge the runs and fold each key's surface forms into one
 * completion. With a memory budget, step 2 also runs whenever the table
 * would outgrow half of it, into temporary files, and the table starts
 * again empty; merging many runs takes several passes when their read
 * buffers would not fit at once. Sums do not depend on the order they are
 * made in, so the result is the same for any budget, any number of threads
 * and any line order. When the table spilled, the completions do not fit
 * in memory either: the fold writes them to two more temporary files,
 * which the writer then reads through a mapping whose pages a thread of
 * ours drops whenever the files mapped pass a share of the budget.
 */
#include "aggregate.h"

#include "ahead.h"
#include "checksum.h"
#include "refsort.h"
#include "spill.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Arena blocks double from the first to the largest size: a small log takes little memory. */
#define ARENA_FIRST_BLOCK (64u << 10)
#define ARENA_BLOCK       (16u << 20)

/*
 * The completions' files (builds that spilled) are written through buffers
 * of this size. The page cache keeps what one write brings as one folio,
 * which a fault then maps whole: small writes keep what a read at random
 * maps small (the 64 KB the kernel maps around a fault anyway).
 */
#define OUT_BUF (64u << 10)

/*
 * How often the completions' pages are checked when they are on disk: each
 * fault maps 64 KB, so a writer reading keys at random maps tens of
 * megabytes in a few milliseconds.
 */
#define KEEPER_PERIOD_MS 5

/* A merge reads at most this many runs at once, each through a buffer of at most MERGE_BUF. */
#define MERGE_MAX_FAN_IN 128
#define MERGE_BUF        (4u << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block_t;

typedef struct arena {
    arena_block_t *head;
    size_t bytes; /* allocated, for the memory budget */
} arena_t;

typedef struct surface {
    const char *text;
    const char *key;
    uint32_t text_len;
    uint32_t key_len;
    uint64_t count;
    uint64_t hash;
    uint32_t id;  /* its index when added: sorting moves it */
    uint8_t kind; /* AH_RUN_KEYED, or why it has no key (spill.h) */
} surface_t;

/* A context value, interned: its id is the same in every run. */
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

/* A context and a count, as runs and merges carry them. */
typedef struct ctx_count {
    uint32_t context;
    uint64_t count;
} ctx_count_t;

/* A completion's count in a context: (context id, then rank in byte order; entry; count). */
typedef struct placed {
    uint32_t rank, entry;
    uint64_t count;
} placed_t;

/*
 * One of the two files a build that spilled writes its completions to
 * (ah_agg_finish()): written through a buffer, then mapped read-only.
 */
typedef struct out_file {
    ah_spill_t f;
    unsigned char *buf;
    size_t len;
    void *map;
    size_t map_len;
} out_file_t;

/* An open-addressing table of ids + 1 (0: empty), grown at half full. */
typedef struct id_table {
    uint32_t *slots;
    size_t n_slots, used;
} id_table_t;

struct ah_agg {
    unsigned max_text;
    /* the table of step 1 */
    arena_t arena;
    surface_t *surf;
    size_t n_surf, cap_surf;
    uint32_t *slots; /* index + 1 into surf, 0 = empty */
    size_t n_slots;
    double weight;
    uint64_t weighted_to_zero;
    arena_t ctx_arena; /* context values: kept across spills */
    context_t *ctx;
    size_t n_ctx, cap_ctx;
    id_table_t ctx_table; /* value -> context */
    membership_t *mem;
    size_t n_mem, cap_mem;
    id_table_t mem_table; /* (surface, context) -> membership */
    /* step 2 */
    size_t memory;      /* the budget; 0: none */
    char *tmpdir;       /* where spill files go */
    unsigned threads;   /* 1.. */
    ah_spill_t *spills; /* one per thread, opened at the first spill */
    ah_run_t *runs;
    size_t n_runs, cap_runs;
    ah_run_writer_t *mem_writers; /* the memory runs' bytes (no spill at all) */
    size_t n_mem_writers, cap_mem_writers;
    ah_spill_stats_t stats;
    ah_agg_progress_fn progress;
    void *progress_ctx;
    char err[512];
    /* the result: in memory, or (on_disk) in two mapped files */
    int on_disk;
    out_file_t out_bytes, out_list; /* keys and texts; the entries */
    pthread_t keeper;               /* ah_agg_keep_mapped_below()'s */
    pthread_mutex_t keeper_lock;
    pthread_cond_t keeper_wake;
    size_t keeper_limit;
    int keeper_on, keeper_stop;
    arena_t out_arena;
    ah_entry_t *entries;
    size_t n_entries, cap_entries;
    placed_t *placed;
    size_t n_placed, cap_placed;
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

static char *arena_copy(arena_t *a, const char *s, size_t len)
{
    arena_block_t *b = a->head;
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
        a->head = b = nb;
        a->bytes += sizeof *nb + cap;
    }
    char *p = b->data + b->used;
    memcpy(p, s, len);
    b->used += len;
    return p;
}

/* What the arena allocates next for len more bytes (0: they fit). */
static size_t arena_growth(const arena_t *a, size_t len)
{
    const arena_block_t *b = a->head;
    if (b && b->cap - b->used >= len)
        return 0;
    size_t cap = !b ? ARENA_FIRST_BLOCK : b->cap < ARENA_BLOCK ? b->cap * 2 : ARENA_BLOCK;
    return sizeof *b + (cap < len ? len : cap);
}

static void arena_free(arena_t *a)
{
    for (arena_block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    *a = (arena_t){0};
}

#define FIRST_SLOTS (1u << 16)

ah_agg_t *ah_agg_new(unsigned max_text_bytes)
{
    ah_agg_t *agg = calloc(1, sizeof *agg);
    if (!agg)
        return NULL;
    agg->max_text = max_text_bytes;
    agg->weight = 1.0;
    agg->threads = 1;
    agg->n_slots = FIRST_SLOTS;
    agg->slots = calloc(agg->n_slots, sizeof *agg->slots);
    if (!agg->slots || ah_agg_set_limits(agg, 0, ".", 1) != 0) {
        ah_agg_free(agg);
        return NULL;
    }
    return agg;
}

int ah_agg_set_limits(ah_agg_t *agg, size_t memory, const char *tmpdir, unsigned threads)
{
    char *dir = strdup(tmpdir ? tmpdir : ".");
    ah_spill_t *spills = calloc(threads ? threads : 1, sizeof *spills);
    if (!dir || !spills) {
        free(dir);
        free(spills);
        return AH_ENOMEM;
    }
    free(agg->tmpdir);
    free(agg->spills);
    agg->tmpdir = dir;
    agg->spills = spills;
    agg->memory = memory;
    agg->threads = threads ? threads : 1;
    /* A small budget starts with a small table: its slots take at most a 16th of it. */
    size_t slots = FIRST_SLOTS;
    while (memory && slots > 1024 && slots * sizeof(uint32_t) > memory / 16)
        slots /= 2;
    if (agg->n_surf == 0 && slots != agg->n_slots) {
        uint32_t *p = calloc(slots, sizeof *p);
        if (!p)
            return AH_ENOMEM;
        free(agg->slots);
        agg->slots = p;
        agg->n_slots = slots;
    }
    for (unsigned t = 0; t < agg->threads; t++)
        agg->spills[t].fd = -1;
    return 0;
}

void ah_agg_set_progress(ah_agg_t *agg, ah_agg_progress_fn fn, void *ctx)
{
    agg->progress = fn;
    agg->progress_ctx = ctx;
}

const char *ah_agg_error(const ah_agg_t *agg)
{
    return agg->err[0] ? agg->err : "out of memory";
}

void ah_agg_spill_stats(const ah_agg_t *agg, ah_spill_stats_t *stats)
{
    *stats = agg->stats;
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
        size_t cap = agg->cap_surf ? agg->cap_surf * 2 : agg->n_slots / 16;
        surface_t *p = realloc(agg->surf, cap * sizeof *p);
        if (!p)
            return AH_ENOMEM;
        agg->surf = p;
        agg->cap_surf = cap;
    }
    const char *copy = arena_copy(&agg->arena, text, len);
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
        const char *copy = arena_copy(&agg->ctx_arena, value, len);
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

/* The table's memory, as the budget counts it. */
static size_t table_bytes(const ah_agg_t *agg)
{
    return agg->arena.bytes + agg->ctx_arena.bytes + agg->cap_surf * sizeof(surface_t) +
           agg->n_slots * sizeof(uint32_t) + agg->cap_ctx * sizeof(context_t) +
           agg->ctx_table.n_slots * sizeof(uint32_t) + agg->cap_mem * sizeof(membership_t) +
           agg->mem_table.n_slots * sizeof(uint32_t);
}

/*
 * What adding one surface form of len bytes with n_ctx contexts may allocate
 * at most: arrays double, and a table that grows has its old and new slots
 * at once.
 */
static size_t table_growth(const ah_agg_t *agg, size_t len, size_t n_ctx)
{
    size_t g = arena_growth(&agg->arena, len) + arena_growth(&agg->ctx_arena, 64);
    if (agg->n_surf == agg->cap_surf)
        g += (agg->cap_surf ? agg->cap_surf : agg->n_slots / 16) * sizeof(surface_t);
    if ((agg->n_surf + 1) * 2 > agg->n_slots)
        g += agg->n_slots * 2 * sizeof(uint32_t);
    if (agg->n_mem + n_ctx > agg->cap_mem)
        g += (agg->cap_mem ? agg->cap_mem : 256) * sizeof(membership_t);
    if ((agg->mem_table.used + n_ctx + 1) * 2 > agg->mem_table.n_slots)
        g += (agg->mem_table.n_slots ? agg->mem_table.n_slots : 1024) * 2 * sizeof(uint32_t);
    if (agg->n_ctx + n_ctx > agg->cap_ctx)
        g += (agg->cap_ctx ? agg->cap_ctx : 256) * sizeof(context_t);
    if ((agg->ctx_table.used + n_ctx + 1) * 2 > agg->ctx_table.n_slots)
        g += (agg->ctx_table.n_slots ? agg->ctx_table.n_slots : 1024) * 2 * sizeof(uint32_t);
    return g;
}

static int spill(ah_agg_t *agg);

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
    if (agg->memory && agg->n_surf > 0 &&
        table_bytes(agg) + table_growth(agg, slen, n_ctx) > agg->memory / 2 &&
        (rc = spill(agg)) != 0)
        return rc;
    uint32_t id;
    rc = add_surface(agg, surface, slen, count, &id);
    for (size_t i = 0; i < n_ctx && !rc; i++)
        rc = add_membership(agg, id, ctx[i], ctx_len[i], count);
    return rc;
}

/* ---- Step 2: sorted runs, and merging them */

static ah_run_rec_t rec_of(const surface_t *s)
{
    return (ah_run_rec_t){.kind = s->kind,
                          .key = s->key,
                          .key_len = s->key_len,
                          .text = s->text,
                          .text_len = s->text_len,
                          .count = s->count};
}

/*
 * Eight bytes of a surface form's sort string from byte `at` on, big-endian:
 * its kind, then its key, then zeros. A key holds no NUL (texts with one
 * are refused), so these compare as ah_run_rec_cmp() does up to the key's
 * end, a key before its extensions.
 */
static uint64_t sort_word(const surface_t *s, uint32_t at)
{
    uint64_t v = 0;
    for (uint32_t b = at; b < at + 8; b++) {
        unsigned c = b == 0 ? s->kind : b - 1 < s->key_len ? (unsigned char)s->key[b - 1] : 0;
        v = v << 8 | c;
    }
    return v;
}

static int by_text(const void *a, const void *b, void *surf)
{
    ah_run_rec_t x = rec_of((const surface_t *)surf + ((const ah_ref_t *)a)->id);
    ah_run_rec_t y = rec_of((const surface_t *)surf + ((const ah_ref_t *)b)->id);
    return ah_run_rec_cmp(&x, &y);
}

/*
 * Sorts r[0..n) (references to surf by id) by ah_run_rec_cmp(), their sort
 * strings equal before byte `at`: eight bytes at a time (ah_refs_sort), then
 * each run of equal bytes by the next eight while a key in it goes on; a
 * run of one key, by text.
 */
static void sort_surface_refs(const surface_t *surf, ah_ref_t *r, size_t n, uint32_t at)
{
    for (size_t i = 0; i < n; i++)
        r[i].pre = sort_word(&surf[r[i].id], at);
    ah_refs_sort(r, n);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int longer = surf[r[i].id].key_len + 1 > at + 8;
        for (; j < n && r[j].pre == r[i].pre; j++)
            longer |= surf[r[j].id].key_len + 1 > at + 8;
        if (j - i > 1 && longer) {
            sort_surface_refs(surf, r + i, j - i, at + 8);
        } else if (j - i > 1) { /* one key, several texts (case, spaces) */
            qsort_r(r + i, j - i, sizeof *r, by_text, (void *)surf);
        }
        i = j;
    }
}

/*
 * Sorts a slice's surface forms by ah_run_rec_cmp(), the runs' order: their
 * references by a radix sort of their sort strings, then the forms moved
 * into place along the permutation's cycles. 16 bytes a form beside them,
 * where qsort's merge sort copied the 48-byte forms, with a comparison
 * through a pointer each time (a third of a build's aggregating).
 */
static int sort_surfaces(surface_t *surf, size_t n)
{
    ah_ref_t *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return AH_ENOMEM;
    for (size_t i = 0; i < n; i++)
        r[i] = (ah_ref_t){0, (uint32_t)i, 0};
    sort_surface_refs(surf, r, n, 0);
    for (size_t k = 0; k < n; k++) { /* place `at` takes the form at r[at].id */
        if (r[k].off)
            continue; /* placed in an earlier cycle */
        surface_t first = surf[k];
        for (size_t at = k;;) {
            size_t from = r[at].id;
            r[at].off = 1;
            if (from == k) {
                surf[at] = first;
                break;
            }
            surf[at] = surf[from];
            at = from;
        }
    }
    free(r);
    return 0;
}

/* The budget's share of one buffer of a run writer or reader: an eighth, at most 1 MB. */
static size_t buffer_bytes(const ah_agg_t *agg)
{
    size_t b = agg->memory ? agg->memory / 8 : (1u << 20);
    return b < (1u << 20) ? b : (1u << 20);
}

/* One thread's share of the table: its surface forms, keyed, sorted, written as a run. */
typedef struct slice_job {
    const ah_agg_t *agg;
    surface_t *surf;
    size_t n;
    const uint32_t *ctx_first;    /* surface id -> its first context in ctx_items */
    const ctx_count_t *ctx_items; /* NULL: no contexts */
    ah_spill_t *spill;            /* NULL: a memory run */
    ah_run_writer_t writer;
    ah_run_t run;
    int rc;
    char err[256];
} slice_job_t;

static void *write_slice(void *arg)
{
    slice_job_t *j = arg;
    arena_t keys = {0};
    char key[AH_MAX_KEY_BYTES];
    j->rc = 0;
    for (size_t i = 0; i < j->n && !j->rc; i++) {
        surface_t *s = &j->surf[i];
        size_t klen;
        int rc = ah_normalize_key(s->text, s->text_len, key, sizeof key, &klen, 0);
        s->kind = rc ? AH_RUN_LONG_KEY : klen == 0 ? AH_RUN_NO_KEY : AH_RUN_KEYED;
        s->key = s->text;
        s->key_len = s->kind == AH_RUN_KEYED ? (uint32_t)klen : 0;
        if (s->kind == AH_RUN_KEYED && !(klen == s->text_len && memcmp(key, s->text, klen) == 0) &&
            !(s->key = arena_copy(&keys, key, klen)))
            j->rc = AH_ENOMEM;
    }
    if (!j->rc && j->n > 1)
        j->rc = sort_surfaces(j->surf, j->n);
    /* A memory run gets its whole room at once: growing it by doubling copied it over and
     * over (a tenth of a build's time). Each record takes at most its bytes and 16 more. */
    size_t room = buffer_bytes(j->agg);
    for (size_t i = 0; !j->spill && i < j->n; i++) {
        uint32_t id = j->surf[i].id;
        room += j->surf[i].key_len + j->surf[i].text_len + 16 +
                (j->ctx_items ? (j->ctx_first[id + 1] - j->ctx_first[id]) * 15u : 0);
    }
    if (!j->rc)
        j->rc = ah_run_writer_init(&j->writer, j->spill, room);
    for (size_t i = 0; i < j->n && !j->rc; i++) {
        ah_run_rec_t rec = rec_of(&j->surf[i]);
        uint32_t id = j->surf[i].id;
        rec.n_contexts = j->ctx_items ? j->ctx_first[id + 1] - j->ctx_first[id] : 0;
        ah_run_writer_put(&j->writer, &rec);
        for (uint32_t c = 0; c < rec.n_contexts; c++) {
            const ctx_count_t *m = &j->ctx_items[j->ctx_first[id] + c];
            ah_run_writer_context(&j->writer, m->context, m->count);
        }
    }
    if (!j->rc)
        j->rc = ah_run_writer_finish(&j->writer, &j->run, j->err, sizeof j->err);
    else
        snprintf(j->err, sizeof j->err, "out of memory while sorting surface forms");
    if (j->spill)
        ah_run_writer_free(&j->writer); /* a file run needs its buffer no more */
    arena_free(&keys);
    return NULL;
}

/* Bytes in every spill file: the temporary disk in use. */
static uint64_t disk_in_use(const ah_agg_t *agg, const ah_spill_t *extra)
{
    uint64_t sum = extra ? extra->size : 0;
    for (unsigned t = 0; agg->spills && t < agg->threads; t++)
        sum += agg->spills[t].fd >= 0 ? agg->spills[t].size : 0;
    return sum;
}

static void note_disk(ah_agg_t *agg, const ah_spill_t *extra)
{
    uint64_t d = disk_in_use(agg, extra);
    if (d > agg->stats.disk_peak)
        agg->stats.disk_peak = d;
}

static int add_run(ah_agg_t *agg, const ah_run_t *run)
{
    if (reserve((void **)&agg->runs, agg->n_runs, &agg->cap_runs, sizeof *agg->runs))
        return AH_ENOMEM;
    agg->runs[agg->n_runs++] = *run;
    return 0;
}

/*
 * Writes the table out as sorted runs, one per thread: to the spill files
 * (to_disk), or kept in memory. The table itself is left as it was but for
 * its order and its keys, which die with the call.
 */
static int table_to_runs(ah_agg_t *agg, int to_disk)
{
    size_t n = agg->n_surf;
    if (n == 0)
        return 0;
    unsigned threads = agg->threads;
    if (threads > n / 4096 + 1)
        threads = (unsigned)(n / 4096 + 1);
    for (unsigned t = 0; to_disk && t < threads; t++)
        if (agg->spills[t].fd < 0 &&
            ah_spill_open(&agg->spills[t], agg->tmpdir, agg->err, sizeof agg->err) != 0)
            return AH_EIO;
    /* Each surface form's contexts, by surface id (a counting sort of the memberships). */
    uint32_t *first = NULL;
    ctx_count_t *items = NULL;
    slice_job_t *jobs = calloc(threads, sizeof *jobs);
    pthread_t *tids = calloc(threads, sizeof *tids);
    int rc = jobs && tids ? 0 : AH_ENOMEM;
    if (!rc && agg->n_mem) {
        first = calloc(n + 1, sizeof *first);
        items = malloc(agg->n_mem * sizeof *items);
        rc = first && items ? 0 : AH_ENOMEM;
        for (size_t i = 0; !rc && i < agg->n_mem; i++)
            first[agg->mem[i].surface + 1]++;
        for (size_t i = 0; !rc && i < n; i++)
            first[i + 1] += first[i];
        for (size_t i = 0; !rc && i < agg->n_mem; i++) { /* first[s] runs ahead, then steps back */
            const membership_t *m = &agg->mem[i];
            items[first[m->surface]++] = (ctx_count_t){m->context, m->count};
        }
        for (size_t i = n; !rc && i > 0; i--)
            first[i] = first[i - 1];
        if (!rc)
            first[0] = 0;
    }
    unsigned started = 0;
    for (unsigned t = 0; !rc && t < threads; t++) {
        size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        jobs[t] = (slice_job_t){.agg = agg,
                                .surf = agg->surf + lo,
                                .n = hi - lo,
                                .ctx_first = first,
                                .ctx_items = items,
                                .spill = to_disk ? &agg->spills[t] : NULL};
        if (t > 0 && pthread_create(&tids[t], NULL, write_slice, &jobs[t]) != 0) {
            jobs[t].rc = AH_ENOMEM;
            snprintf(jobs[t].err, sizeof jobs[t].err, "cannot start a thread");
            break;
        }
        started = t + 1;
    }
    if (started)
        write_slice(&jobs[0]);
    for (unsigned t = 1; t < started; t++)
        pthread_join(tids[t], NULL);
    for (unsigned t = 0; t < started; t++) {
        if (!rc && jobs[t].rc) {
            rc = jobs[t].rc;
            snprintf(agg->err, sizeof agg->err, "%s", jobs[t].err);
        }
        if (!rc)
            rc = add_run(agg, &jobs[t].run);
        if (to_disk || jobs[t].writer.buf == NULL)
            continue;
        if (!rc && reserve((void **)&agg->mem_writers, agg->n_mem_writers, &agg->cap_mem_writers,
                           sizeof *agg->mem_writers))
            rc = AH_ENOMEM;
        if (rc)
            ah_run_writer_free(&jobs[t].writer);
        else
            agg->mem_writers[agg->n_mem_writers++] = jobs[t].writer;
    }
    if (to_disk && !rc)
        agg->stats.runs += started;
    note_disk(agg, NULL);
    free(first);
    free(items);
    free(jobs);
    free(tids);
    return rc;
}

/* The table is full: out to disk with it, and start again. */
static int spill(ah_agg_t *agg)
{
    int rc = table_to_runs(agg, 1);
    if (rc)
        return rc;
    agg->stats.spills++;
    arena_free(&agg->arena);
    agg->n_surf = 0;
    memset(agg->slots, 0, agg->n_slots * sizeof *agg->slots);
    agg->n_mem = 0;
    agg->mem_table.used = 0;
    if (agg->mem_table.slots)
        memset(agg->mem_table.slots, 0, agg->mem_table.n_slots * sizeof *agg->mem_table.slots);
    if (agg->progress)
        agg->progress(agg->progress_ctx, "spilled", agg->stats.spills, disk_in_use(agg, NULL));
    return 0;
}

static void free_table(ah_agg_t *agg)
{
    arena_free(&agg->arena);
    free(agg->surf);
    free(agg->slots);
    free(agg->mem);
    free(agg->mem_table.slots);
    agg->surf = NULL;
    agg->slots = NULL;
    agg->mem = NULL;
    agg->mem_table = (id_table_t){0};
    agg->n_surf = agg->cap_surf = agg->n_slots = agg->n_mem = agg->cap_mem = 0;
}

/*
 * A k-way merge of runs into one stream of distinct surface forms: equal
 * records of several runs come out once, their counts and their contexts'
 * counts added up, contexts in id order.
 */
typedef struct merger {
    ah_run_reader_t *readers;
    ah_run_rec_t *cur; /* each reader's current record */
    size_t *heap, heap_n, n;
    char key[AH_MAX_KEY_BYTES], text[AH_MAX_TEXT_BYTES];
    ah_run_rec_t rec; /* the merged record: key and text above */
    ctx_count_t *ctx; /* its contexts */
    size_t n_ctx, cap_ctx;
    int failed_errno;
} merger_t;

static int heap_less(const merger_t *m, size_t a, size_t b)
{
    return ah_run_rec_cmp(&m->cur[m->heap[a]], &m->cur[m->heap[b]]) < 0;
}

static void sift_down(merger_t *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < m->heap_n && heap_less(m, l, best))
            best = l;
        if (l + 1 < m->heap_n && heap_less(m, l + 1, best))
            best = l + 1;
        if (best == i)
            return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[best];
        m->heap[best] = t;
        i = best;
    }
}

static void merger_free(merger_t *m)
{
    for (size_t i = 0; m->readers && i < m->n; i++)
        ah_run_reader_free(&m->readers[i]);
    free(m->readers);
    free(m->cur);
    free(m->heap);
    free(m->ctx);
    *m = (merger_t){0};
}

static int merger_init(merger_t *m, const ah_run_t *runs, size_t n, size_t buf_bytes)
{
    *m = (merger_t){.n = n};
    m->readers = calloc(n, sizeof *m->readers);
    m->cur = calloc(n, sizeof *m->cur);
    m->heap = calloc(n, sizeof *m->heap);
    if (!m->readers || !m->cur || !m->heap)
        return AH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (ah_run_reader_init(&m->readers[i], &runs[i], buf_bytes) != 0)
            return AH_ENOMEM;
        int got = ah_run_next(&m->readers[i], &m->cur[i]);
        if (got < 0) {
            m->failed_errno = m->readers[i].failed_errno;
            return AH_EIO;
        }
        if (got)
            m->heap[m->heap_n++] = i;
    }
    for (size_t i = m->heap_n / 2; i-- > 0;)
        sift_down(m, i);
    return 0;
}

/* Adds the contexts of source s's record to the merged record, and moves s on. */
static int merger_take(merger_t *m, size_t s)
{
    ah_run_reader_t *r = &m->readers[s];
    for (uint32_t c = m->cur[s].n_contexts; c > 0; c--) {
        if (reserve((void **)&m->ctx, m->n_ctx, &m->cap_ctx, sizeof *m->ctx))
            return AH_ENOMEM;
        ctx_count_t *x = &m->ctx[m->n_ctx++];
        if (ah_run_context(r, &x->context, &x->count) != 1)
            goto failed;
    }
    int got = ah_run_next(r, &m->cur[s]);
    if (got < 0)
        goto failed;
    if (!got)
        m->heap[0] = m->heap[--m->heap_n];
    sift_down(m, 0);
    return 0;
failed:
    m->failed_errno = r->failed_errno;
    return AH_EIO;
}

static int by_context(const void *a, const void *b)
{
    const ctx_count_t *x = a, *y = b;
    return (x->context > y->context) - (x->context < y->context);
}

/* Sorts contexts by id and adds up the counts of equal ones; returns how many are left. */
static size_t fold_contexts(ctx_count_t *c, size_t n)
{
    if (n > 1)
        qsort(c, n, sizeof *c, by_context);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && c[kept - 1].context == c[i].context)
            c[kept - 1].count = add_count(c[kept - 1].count, c[i].count);
        else
            c[kept++] = c[i];
    }
    return kept;
}

/* The next merged record in m->rec, its contexts in m->ctx: 1, 0 at the end, or an error (< 0). */
static int merger_next(merger_t *m)
{
    if (!m->heap_n)
        return 0;
    size_t s = m->heap[0];
    const ah_run_rec_t *r = &m->cur[s];
    memcpy(m->key, r->key, r->key_len);
    memcpy(m->text, r->text, r->text_len);
    m->rec = (ah_run_rec_t){.kind = r->kind,
                            .key = m->key,
                            .key_len = r->key_len,
                            .text = m->text,
                            .text_len = r->text_len,
                            .count = r->count};
    m->n_ctx = 0;
    int rc = merger_take(m, s);
    while (!rc && m->heap_n && ah_run_rec_cmp(&m->cur[m->heap[0]], &m->rec) == 0) {
        m->rec.count = add_count(m->rec.count, m->cur[m->heap[0]].count);
        rc = merger_take(m, m->heap[0]);
    }
    if (rc)
        return rc;
    m->n_ctx = fold_contexts(m->ctx, m->n_ctx);
    m->rec.n_contexts = (uint32_t)m->n_ctx;
    return 1;
}

static int merge_failed(ah_agg_t *agg, const merger_t *m, int rc)
{
    if (rc == AH_EIO)
        snprintf(agg->err, sizeof agg->err, "reading a temporary file in %s: %s", agg->tmpdir,
                 strerror(m->failed_errno ? m->failed_errno : EIO));
    return rc;
}

/*
 * Merges runs fan_in at a time into runs in a new spill file until at most
 * fan_in are left, so that the last merge reads them all at once.
 */
static int merge_passes(ah_agg_t *agg, size_t fan_in, size_t buf_bytes)
{
    while (agg->n_runs > fan_in) {
        ah_spill_t out;
        if (ah_spill_open(&out, agg->tmpdir, agg->err, sizeof agg->err) != 0)
            return AH_EIO;
        size_t kept = 0;
        int rc = 0;
        for (size_t g = 0; !rc && g < agg->n_runs; g += fan_in) {
            size_t k = agg->n_runs - g < fan_in ? agg->n_runs - g : fan_in;
            merger_t m;
            ah_run_writer_t w;
            ah_run_t run;
            rc = merger_init(&m, agg->runs + g, k, buf_bytes);
            if (!rc)
                rc = ah_run_writer_init(&w, &out, buf_bytes);
            int got = 0;
            while (!rc && (got = merger_next(&m)) == 1) {
                ah_run_writer_put(&w, &m.rec);
                for (size_t c = 0; c < m.n_ctx; c++)
                    ah_run_writer_context(&w, m.ctx[c].context, m.ctx[c].count);
            }
            if (!rc && got < 0)
                rc = got;
            rc = merge_failed(agg, &m, rc);
            if (!rc)
                rc = ah_run_writer_finish(&w, &run, agg->err, sizeof agg->err);
            if (w.buf)
                ah_run_writer_free(&w);
            merger_free(&m);
            if (!rc)
                agg->runs[kept++] = run; /* g >= kept: the runs still to merge are intact */
            note_disk(agg, &out);
        }
        for (unsigned t = 0; t < agg->threads; t++)
            ah_spill_close(&agg->spills[t]);
        if (rc) {
            ah_spill_close(&out);
            return rc;
        }
        agg->spills[0] = out; /* the merged runs' file, closed with the others */
        agg->n_runs = kept;
        agg->stats.merge_passes++;
    }
    return 0;
}

/* One key's surface forms so far, during the fold. */
typedef struct key_group {
    char key[AH_MAX_KEY_BYTES];
    uint32_t key_len;
    char text[AH_MAX_TEXT_BYTES]; /* the most frequent form (ties: the first, byte-wise smallest) */
    uint32_t text_len;
    uint64_t text_count, sum;
    ctx_count_t *ctx;
    size_t n_ctx, cap_ctx;
} key_group_t;

/* Appends len (<= OUT_BUF) bytes to o; returns their offset in its file. Failures stick in o->f. */
static uint64_t out_put(out_file_t *o, const void *data, size_t len)
{
    uint64_t at = o->f.size + o->len; /* the same after a flush */
    if (OUT_BUF - o->len < len) {
        ah_spill_write(&o->f, o->buf, o->len);
        o->len = 0;
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    return at;
}

/* Opens the completions' two files in tmpdir, before the fold. */
static int open_completions(ah_agg_t *agg)
{
    out_file_t *o[2] = {&agg->out_bytes, &agg->out_list};
    agg->on_disk = 1; /* from here ah_agg_free() closes them */
    o[0]->f.fd = o[1]->f.fd = -1;
    for (int i = 0; i < 2; i++) {
        if (ah_spill_open(&o[i]->f, agg->tmpdir, agg->err, sizeof agg->err) != 0)
            return AH_EIO;
        if (!(o[i]->buf = malloc(OUT_BUF)))
            return AH_ENOMEM;
    }
    return 0;
}

/* Maps o's file read-only and closes it (the mapping keeps it until munmap); 0 or an errno. */
static int map_out(out_file_t *o)
{
    free(o->buf);
    o->buf = NULL;
    void *map = mmap(NULL, (size_t)o->f.size, PROT_READ, MAP_SHARED, o->f.fd, 0);
    if (map == MAP_FAILED)
        return errno;
    o->map = map;
    o->map_len = (size_t)o->f.size;
    ah_spill_close(&o->f);
    return 0;
}

/*
 * After the fold, on disk: maps the keys' and texts' file, rewrites each
 * entry's offsets as pointers into that mapping, a buffer at a time, and
 * maps the entries' file as agg->entries.
 */
static int map_completions(ah_agg_t *agg)
{
    out_file_t *bytes = &agg->out_bytes, *list = &agg->out_list;
    ah_spill_write(&bytes->f, bytes->buf, bytes->len);
    ah_spill_write(&list->f, list->buf, list->len);
    bytes->len = list->len = 0;
    int err = bytes->f.failed_errno ? bytes->f.failed_errno : list->f.failed_errno;
    if (!err && agg->n_entries > 0)
        err = map_out(bytes);
    ah_entry_t *chunk = (ah_entry_t *)list->buf;
    size_t per_chunk = OUT_BUF / sizeof *chunk;
    for (size_t i = 0; !err && i < agg->n_entries; i += per_chunk) {
        size_t m = agg->n_entries - i < per_chunk ? agg->n_entries - i : per_chunk;
        uint64_t off = (uint64_t)i * sizeof *chunk;
        err = ah_file_io(list->f.fd, chunk, m * sizeof *chunk, off, 0);
        for (size_t k = 0; !err && k < m; k++) {
            chunk[k].key = (const char *)bytes->map + (uintptr_t)chunk[k].key;
            chunk[k].text = (const char *)bytes->map + (uintptr_t)chunk[k].text;
        }
        if (!err)
            err = ah_file_io(list->f.fd, chunk, m * sizeof *chunk, off, 1);
    }
    if (!err && agg->n_entries > 0)
        err = map_out(list);
    if (err) {
        snprintf(agg->err, sizeof agg->err, "the completions' temporary file in %s: %s",
                 agg->tmpdir, strerror(err));
        return AH_EIO;
    }
    agg->entries = list->map;
    return 0;
}

/* The key's completion, unless --min-count or the blocklist drops it; with its contexts. */
static int close_group(ah_agg_t *agg, key_group_t *g, uint64_t min_count, const ah_blocklist_t *bl,
                       ah_agg_counts_t *counts)
{
    counts->keys++;
    if (g->sum < min_count) {
        counts->below_min++;
        return 0;
    }
    if (bl && ah_blocklist_match(bl, g->key, g->key_len)) {
        counts->blocked++;
        return 0;
    }
    if (agg->n_entries >= UINT32_MAX - 1) { /* stop now, not after the merge */
        snprintf(agg->err, sizeof agg->err,
                 "more than %u completions, the most one snapshot holds; build one snapshot per "
                 "range of first characters (docs/building.md, How big one snapshot can be)",
                 UINT32_MAX - 2);
        return AH_EINVAL;
    }
    uint32_t entry = (uint32_t)agg->n_entries;
    ah_entry_t e = {.key_len = g->key_len, .text_len = g->text_len, .score = g->sum};
    int text_is_key = g->text_len == g->key_len && memcmp(g->text, g->key, g->key_len) == 0;
    if (agg->on_disk) { /* offsets into the bytes' file until map_completions() */
        uint64_t key = out_put(&agg->out_bytes, g->key, g->key_len);
        uint64_t text = text_is_key ? key : out_put(&agg->out_bytes, g->text, g->text_len);
        e.key = (const char *)(uintptr_t)key;
        e.text = (const char *)(uintptr_t)text;
        out_put(&agg->out_list, &e, sizeof e);
    } else {
        e.key = arena_copy(&agg->out_arena, g->key, g->key_len);
        e.text = e.key && !text_is_key ? arena_copy(&agg->out_arena, g->text, g->text_len) : e.key;
        if (!e.key || !e.text ||
            reserve((void **)&agg->entries, agg->n_entries, &agg->cap_entries,
                    sizeof *agg->entries))
            return AH_ENOMEM;
        agg->entries[agg->n_entries] = e;
    }
    agg->n_entries++;
    /* Forms of one key in one context add up; a completion belongs when its sum is > 0. */
    g->n_ctx = fold_contexts(g->ctx, g->n_ctx);
    for (size_t c = 0; c < g->n_ctx; c++) {
        if (g->ctx[c].count == 0)
            continue;
        if (reserve((void **)&agg->placed, agg->n_placed, &agg->cap_placed, sizeof *agg->placed))
            return AH_ENOMEM;
        agg->placed[agg->n_placed++] = (placed_t){g->ctx[c].context, entry, g->ctx[c].count};
    }
    return 0;
}

/*
 * Notes the temporary bytes in use while the fold runs: the runs' files
 * less what their readers gave back (spill.c), and the completions' files.
 */
static void note_fold_disk(ah_agg_t *agg, const merger_t *m)
{
    uint64_t d = disk_in_use(agg, NULL);
    for (size_t i = 0; m->readers && i < m->n; i++)
        d -= m->readers[i].punched;
    if (agg->on_disk)
        d += agg->out_bytes.f.size + agg->out_list.f.size;
    if (d > agg->stats.disk_peak)
        agg->stats.disk_peak = d;
}

/* Folds the merged stream into completions, one per key. */
static int fold(ah_agg_t *agg, merger_t *m, uint64_t min_count, const ah_blocklist_t *bl,
                ah_agg_counts_t *counts)
{
    key_group_t *g = calloc(1, sizeof *g);
    int rc = g ? 0 : AH_ENOMEM, got = 0, open = 0;
    while (!rc && (got = merger_next(m)) == 1) {
        const ah_run_rec_t *r = &m->rec;
        counts->surfaces++;
        if ((counts->surfaces & 0xffff) == 0) {
            note_fold_disk(agg, m);
            if (agg->progress)
                agg->progress(agg->progress_ctx, "merging", counts->surfaces, 0);
        }
        if (r->kind != AH_RUN_KEYED) {
            if (r->kind == AH_RUN_LONG_KEY)
                counts->long_keys++;
            else
                counts->empty_keys++;
            continue;
        }
        if (open && !(r->key_len == g->key_len && memcmp(r->key, g->key, r->key_len) == 0)) {
            rc = close_group(agg, g, min_count, bl, counts);
            open = 0;
        }
        if (rc)
            break;
        if (!open) {
            memcpy(g->key, r->key, r->key_len);
            g->key_len = r->key_len;
            g->text_len = 0;
            g->text_count = 0;
            g->sum = 0;
            g->n_ctx = 0;
            open = 1;
        }
        g->sum = add_count(g->sum, r->count);
        if (g->text_len == 0 || r->count > g->text_count) { /* ties keep the byte-wise smaller */
            memcpy(g->text, r->text, r->text_len);
            g->text_len = r->text_len;
            g->text_count = r->count;
        }
        for (size_t c = 0; c < m->n_ctx; c++) {
            if (reserve((void **)&g->ctx, g->n_ctx, &g->cap_ctx, sizeof *g->ctx)) {
                rc = AH_ENOMEM;
                break;
            }
            g->ctx[g->n_ctx++] = m->ctx[c];
        }
    }
    if (!rc && got < 0)
        rc = got;
    if (!rc && open)
        rc = close_group(agg, g, min_count, bl, counts);
    if (g)
        free(g->ctx);
    free(g);
    return rc;
}

int ah_agg_finish(ah_agg_t *agg, uint64_t min_count, const ah_blocklist_t *bl, ah_entry_t **entries,
                  size_t *n, ah_agg_counts_t *counts)
{
    memset(counts, 0, sizeof *counts);
    counts->weighted_to_zero = agg->weighted_to_zero;
    int to_disk = agg->stats.spills > 0; /* the table's last share joins the others on disk */
    int rc = table_to_runs(agg, to_disk);
    free_table(agg);
    size_t budget = agg->memory ? agg->memory : (size_t)1 << 32;
    size_t fan_in = budget / 4 / (256u << 10);
    if (fan_in < 2)
        fan_in = 2;
    if (fan_in > MERGE_MAX_FAN_IN)
        fan_in = MERGE_MAX_FAN_IN;
    if (!rc)
        rc = merge_passes(agg, fan_in, buffer_bytes(agg));
    size_t buf = agg->n_runs ? budget / 4 / agg->n_runs : MERGE_BUF;
    if (buf > MERGE_BUF)
        buf = MERGE_BUF;
    merger_t m = {0};
    if (!rc)
        rc = merge_failed(agg, &m, merger_init(&m, agg->runs, agg->n_runs, buf));
    if (!rc && to_disk) /* what did not fit as surface forms goes to disk as completions */
        rc = open_completions(agg);
    if (!rc)
        rc = merge_failed(agg, &m, fold(agg, &m, min_count, bl, counts));
    note_fold_disk(agg, &m);
    merger_free(&m);
    if (agg->on_disk) {
        agg->stats.completions = agg->out_bytes.f.size + agg->out_list.f.size;
        if (!rc)
            rc = map_completions(agg);
    }
    /* The runs are read: their memory and files go. */
    for (size_t i = 0; i < agg->n_mem_writers; i++)
        ah_run_writer_free(&agg->mem_writers[i]);
    agg->n_mem_writers = 0;
    for (unsigned t = 0; t < agg->threads; t++)
        ah_spill_close(&agg->spills[t]);
    agg->n_runs = 0;
    if (rc)
        return rc;
    counts->completions = agg->n_entries;
    *entries = agg->entries;
    *n = agg->n_entries;
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
    size_t m = agg->n_placed;
    if (m == 0)
        return 0;
    placed_t *p = agg->placed; /* one per (context, entry), rank still the context's id */
    ranked_t *ranked = malloc(agg->n_ctx * sizeof *ranked);
    uint32_t *rank = malloc(agg->n_ctx * sizeof *rank);
    agg->out_entries = malloc(m * sizeof *agg->out_entries);
    agg->out = malloc(agg->n_ctx * sizeof *agg->out);
    int rc = ranked && rank && agg->out_entries && agg->out ? 0 : AH_ENOMEM;
    if (!rc) {
        for (uint32_t c = 0; c < agg->n_ctx; c++)
            ranked[c] = (ranked_t){agg->ctx[c].value, agg->ctx[c].len, c};
        qsort(ranked, agg->n_ctx, sizeof *ranked, by_value);
        for (uint32_t r = 0; r < agg->n_ctx; r++)
            rank[ranked[r].id] = r;
        for (size_t i = 0; i < m; i++)
            p[i].rank = rank[p[i].rank];
        qsort(p, m, sizeof *p, by_rank_then_entry);
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
    if (!rc) {
        *contexts = agg->out;
        *memberships = m;
    } else {
        *n = 0;
    }
    return rc;
}

int ah_agg_on_disk(const ah_agg_t *agg)
{
    return agg->on_disk && agg->out_list.map != NULL;
}

/* Drops the completions' pages when the files mapped pass the limit; 1 when it did. */
static int drop_if_over(ah_agg_t *agg)
{
    if (ah_mapped_file_bytes() <= agg->keeper_limit)
        return 0;
    /* Read-only mappings of files: dropped pages come back unchanged from the page cache. */
    madvise(agg->out_bytes.map, agg->out_bytes.map_len, MADV_DONTNEED);
    madvise(agg->out_list.map, agg->out_list.map_len, MADV_DONTNEED);
    return 1;
}

void ah_agg_entries_read(void *agg)
{
    ah_agg_t *a = agg;
    if (a->keeper_on)
        drop_if_over(a);
}

static void *keeper_main(void *arg)
{
    ah_agg_t *agg = arg;
    pthread_mutex_lock(&agg->keeper_lock);
    while (!agg->keeper_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += KEEPER_PERIOD_MS * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000) {
            until.tv_sec++;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_cond_timedwait(&agg->keeper_wake, &agg->keeper_lock, &until);
        if (!agg->keeper_stop)
            drop_if_over(agg);
    }
    pthread_mutex_unlock(&agg->keeper_lock);
    return NULL;
}

int ah_agg_keep_mapped_below(ah_agg_t *agg, size_t limit)
{
    if (!ah_agg_on_disk(agg) || agg->keeper_on)
        return 0;
    agg->keeper_limit = limit;
    agg->keeper_stop = 0;
    if (pthread_mutex_init(&agg->keeper_lock, NULL) != 0)
        return AH_ENOMEM;
    if (pthread_cond_init(&agg->keeper_wake, NULL) != 0) {
        pthread_mutex_destroy(&agg->keeper_lock);
        return AH_ENOMEM;
    }
    if (pthread_create(&agg->keeper, NULL, keeper_main, agg) != 0) {
        pthread_cond_destroy(&agg->keeper_wake);
        pthread_mutex_destroy(&agg->keeper_lock);
        return AH_ENOMEM;
    }
    agg->keeper_on = 1;
    return 0;
}

void ah_agg_free(ah_agg_t *agg)
{
    if (!agg)
        return;
    if (agg->keeper_on) {
        pthread_mutex_lock(&agg->keeper_lock);
        agg->keeper_stop = 1;
        pthread_cond_signal(&agg->keeper_wake);
        pthread_mutex_unlock(&agg->keeper_lock);
        pthread_join(agg->keeper, NULL);
        pthread_cond_destroy(&agg->keeper_wake);
        pthread_mutex_destroy(&agg->keeper_lock);
    }
    free_table(agg);
    arena_free(&agg->ctx_arena);
    free(agg->ctx);
    free(agg->ctx_table.slots);
    for (size_t i = 0; i < agg->n_mem_writers; i++)
        ah_run_writer_free(&agg->mem_writers[i]);
    free(agg->mem_writers);
    for (unsigned t = 0; agg->spills && t < agg->threads; t++)
        ah_spill_close(&agg->spills[t]);
    free(agg->spills);
    free(agg->tmpdir);
    free(agg->runs);
    arena_free(&agg->out_arena);
    out_file_t *out[2] = {&agg->out_bytes, &agg->out_list};
    for (int i = 0; agg->on_disk && i < 2; i++) {
        free(out[i]->buf);
        if (out[i]->map)
            munmap(out[i]->map, out[i]->map_len);
        ah_spill_close(&out[i]->f);
    }
    if (!agg->on_disk)
        free(agg->entries);
    free(agg->placed);
    free(agg->out);
    free(agg->out_entries);
    free(agg);
}
