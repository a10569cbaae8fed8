/* SPDX-License-Identifier: MIT */
/*
 * writer_fills.c: the FILLS section (format.h). Which prefixes get one: a
 * pass over the sorted keys sees every prefix once, as a lex range that
 * opens at the first key with it and closes at the first without, and
 * keeps the most popular (by summed score) of those of 4 code points or
 * more whose range holds fewer than K keys, in a bounded heap. Their
 * fills: the lookup's own walk (search.c), run on a draft of the snapshot
 * without the section, on as many threads as asked; each prefix's result
 * has its own place, so the bytes do not depend on the threads. A prefix
 * that extends a chosen one whose answer held every match takes its fill
 * from that answer instead of a walk.
 */
#include "walk.h"
#include "checksum.h"
#include "writer_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------ choosing prefixes */

/* Is a before b: more summed score, then shorter, then the first in lex order. */
static int more_popular(const ah_fill_prefix_t *a, const ah_fill_prefix_t *b)
{
    if (a->mass != b->mass)
        return a->mass > b->mass;
    if (a->len != b->len)
        return a->len < b->len;
    return a->lo < b->lo;
}

/* The heap keeps the least popular of the chosen at its root, to be replaced first. */
static void sift_down(ah_fill_prefix_t *h, size_t n, size_t i)
{
    ah_fill_prefix_t x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && more_popular(&h[c], &h[c + 1]))
            c++;
        if (!more_popular(&x, &h[c]))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void sift_up(ah_fill_prefix_t *h, size_t i)
{
    ah_fill_prefix_t x = h[i];
    while (i > 0 && more_popular(&h[(i - 1) / 2], &x)) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

typedef struct chooser {
    ah_fill_prefix_t *heap;
    size_t n, cap, want;
    int failed;
} chooser_t;

static void consider(chooser_t *c, const ah_fill_prefix_t *p)
{
    if (c->n < c->want) {
        if (c->n == c->cap) { /* grown as needed: want may be far more than there are */
            size_t cap = c->cap ? 2 * c->cap : 4096;
            ah_fill_prefix_t *h = realloc(c->heap, (cap < c->want ? cap : c->want) * sizeof *h);
            if (!h) {
                c->failed = 1;
                return;
            }
            c->heap = h;
            c->cap = cap < c->want ? cap : c->want;
        }
        c->heap[c->n] = *p;
        sift_up(c->heap, c->n++);
    } else if (more_popular(p, &c->heap[0])) {
        c->heap[0] = *p;
        sift_down(c->heap, c->n, 0);
    }
}

static int by_place(const void *a, const void *b)
{
    const ah_fill_prefix_t *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return (x->len > y->len) - (x->len < y->len);
}

/* A prefix open on the pass's stack: its length, first key and the score summed before it. */
typedef struct open_prefix {
    uint32_t len, lo;
    unsigned __int128 before;
} open_prefix_t;

int ah_writer__fill_choose(const ah_entry_t *e, uint32_t n, unsigned topk, size_t want,
                           const ah_read_hook_t *read, ah_fill_prefix_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (want == 0)
        return 0;
    chooser_t c = {.want = want};
    open_prefix_t stack[AH_FILL_MAX_LEN + 1];
    size_t depth = 0;
    unsigned __int128 sum = 0;
    for (uint32_t i = 0; i <= n; i++) {
        ah_read_tick(read, i);
        /* Close the prefixes key i does not share: their range ends here. */
        uint32_t shared = 0;
        if (i > 0 && i < n) {
            const ah_entry_t *a = &e[i - 1], *b = &e[i];
            uint32_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
            while (shared < m && a->key[shared] == b->key[shared])
                shared++;
        }
        while (depth > 0 && stack[depth - 1].len > shared) {
            const open_prefix_t *o = &stack[--depth];
            uint32_t count = i - o->lo;
            if (count < topk) {
                unsigned __int128 mass = sum - o->before;
                ah_fill_prefix_t p = {mass > UINT64_MAX ? UINT64_MAX : (uint64_t)mass, o->lo, count,
                                      o->len};
                consider(&c, &p);
            }
        }
        if (i == n)
            break;
        /* Open its own: every code point boundary past the shared bytes, from 4 code points. */
        const unsigned char *k = (const unsigned char *)e[i].key;
        uint32_t cps = 0, len = e[i].key_len < AH_FILL_MAX_LEN ? e[i].key_len : AH_FILL_MAX_LEN;
        for (uint32_t b = 0; b < len; b++) {
            cps += (k[b] & 0xc0) != 0x80;
            uint32_t end = b + 1; /* a prefix of `end` bytes, if a code point ends there */
            if (end > shared && cps >= AH_FILL_MIN_CPS &&
                (end == e[i].key_len || (k[end] & 0xc0) != 0x80))
                stack[depth++] = (open_prefix_t){end, i, sum};
        }
        sum += e[i].score;
    }
    if (c.failed) {
        free(c.heap);
        return AH_ENOMEM;
    }
    if (c.n > 0)
        qsort(c.heap, c.n, sizeof *c.heap, by_place);
    *out = c.heap;
    *n_out = c.n;
    return 0;
}

/* ------------------------------------------------------------ their fills */

/*
 * Most chosen prefixes extend another chosen one (`@babel/co`, `@babel/cor`,
 * ...). When the shorter one's answer holds every completion within its
 * typo budget (fewer than K in all), the longer one's fill, at the same
 * budget, is worked out from it without a walk (ah_index__fill_derive).
 * So the fills are made in rounds: walk every prefix that has no such
 * source, or whose source is done and could not serve; then, shortest
 * first, derive every prefix whose source can; until none is left.
 */
#define NO_SOURCE UINT32_MAX

typedef struct fill_job {
    const ah_index_t *ix;
    const ah_entry_t *e;
    const ah_fill_prefix_t *p;
    unsigned topk;
    uint64_t *hits;             /* topk per prefix */
    unsigned char *n_hits;      /* per prefix */
    unsigned char *flags;       /* per prefix: the entry's flags byte */
    const uint32_t *todo;       /* this round's walks: prefix indexes */
    size_t n_todo, next;        /* how many; the next to take */
    size_t release_above;       /* file pages mapped, in bytes, past which the draft's are dropped
                                   (0: never) */
    const ah_read_hook_t *read; /* called as the entries are read (NULL: none) */
    pthread_mutex_t lock;
    int rc;
} fill_job_t;

/* Keeps prefix i's fill f; an incomplete walk keeps no answers (the lookup walks). */
static void keep_fill(fill_job_t *j, size_t i, const ah_fill_t *f)
{
    j->n_hits[i] = f->complete ? (unsigned char)f->n : 0;
    j->flags[i] = (unsigned char)(f->budget | (f->words ? AH_FILL_WORDS : 0) |
                                  (f->complete ? 0 : AH_FILL_INCOMPLETE));
    memcpy(j->hits + i * j->topk, f->hit, j->n_hits[i] * sizeof *f->hit);
}

/* Prefix i's fill as kept, back in an ah_fill_t. */
static void kept_fill(const fill_job_t *j, size_t i, ah_fill_t *f)
{
    f->budget = j->flags[i] & AH_FILL_BUDGET;
    f->words = (j->flags[i] & AH_FILL_WORDS) != 0;
    f->complete = !(j->flags[i] & AH_FILL_INCOMPLETE);
    f->n = j->n_hits[i];
    memcpy(f->hit, j->hits + i * j->topk, f->n * sizeof *f->hit);
}

/* Can prefix i's kept fill serve the prefixes that extend it? */
static int holds_every_match(const fill_job_t *j, size_t i)
{
    return !(j->flags[i] & AH_FILL_INCOMPLETE) && j->p[i].count + j->n_hits[i] < j->topk;
}

size_t ah_mapped_file_bytes(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    unsigned long size, resident, shared;
    if (got <= 0)
        return SIZE_MAX;
    buf[got] = '\0';
    if (sscanf(buf, "%lu %lu %lu", &size, &resident, &shared) != 3)
        return SIZE_MAX;
    return shared * (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Drops the draft's pages when those of files mapped have passed
 * j->release_above, and lets the entries' reader drop theirs. Called every
 * few walks or derivations: 64 walks, or 256 derivations, of 10^8
 * completions mapped 1.5 GB past the budget between two calls.
 */
#define KEEP_SMALL_EVERY 8

static void keep_draft_small(const fill_job_t *j)
{
    if (j->release_above && ah_mapped_file_bytes() > j->release_above)
        ah_index__release_pages(j->ix);
    if (j->read && j->read->fn)
        j->read->fn(j->read->ctx);
}

static void *fill_main(void *arg)
{
    fill_job_t *j = arg;
    ah_walk_t *s = malloc(sizeof *s);
    ah_fill_t *f = malloc(sizeof *f);
    int rc = s && f ? 0 : AH_ENOMEM;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t t = j->next;
        j->next += 64;
        if (rc && !j->rc)
            j->rc = rc;
        int stop = j->rc != 0;
        pthread_mutex_unlock(&j->lock);
        if (stop || t >= j->n_todo)
            break;
        size_t end = t + 64 < j->n_todo ? t + 64 : j->n_todo;
        for (; t < end && !rc; t++) {
            if (t % KEEP_SMALL_EVERY == 0)
                keep_draft_small(j);
            size_t i = j->todo[t];
            const ah_fill_prefix_t *p = &j->p[i];
            rc = ah_index__fill_walk(j->ix, j->e[p->lo].key, p->len, p->lo, p->count, s, f);
            if (!rc)
                keep_fill(j, i, f);
        }
    }
    free(s);
    free(f);
    return NULL;
}

/* Walks the prefixes todo[0..n_todo) on `threads` threads. */
static int walk_round(fill_job_t *j, const uint32_t *todo, size_t n_todo, unsigned threads)
{
    j->todo = todo;
    j->n_todo = n_todo;
    j->next = 0;
    pthread_t tid[AH_FILL_MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < threads && t < AH_FILL_MAX_THREADS && 64 * t < n_todo; t++)
        if (pthread_create(&tid[started], NULL, fill_main, j) == 0)
            started++;
    fill_main(j);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    return j->rc;
}

static unsigned budget_of(const char *key, uint32_t len)
{
    return ah_match_budget(ah_match_shown_cps(key, len), AH_TYPOS_AUTO);
}

/*
 * Passes over the prefixes read a key each, from every part of the
 * completions (at 10^8, 1.56M prefixes over 5.7 GB of them): they call the
 * read hook every 1024, where passes over the entries call it every 16K.
 */
#define PREFIX_TICK(read, i) ah_read_tick(read, (uint64_t)(i) << 4)

/*
 * For each prefix, the longest shorter chosen prefix of it with the same
 * typo budget, or NO_SOURCE (a shorter chosen one with a smaller budget
 * ends the search: every shorter one's budget is smaller still).
 */
static int find_sources(const ah_entry_t *e, const ah_fill_prefix_t *p, size_t n, uint32_t *src,
                        const ah_read_hook_t *read)
{
    size_t cap = 2;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *table = malloc(cap * sizeof *table); /* prefix index + 1; 0 is empty */
    if (!table)
        return AH_ENOMEM;
    memset(table, 0, cap * sizeof *table);
    for (size_t i = 0; i < n; i++) {
        PREFIX_TICK(read, i);
        uint64_t at = ah_hash64(0, e[p[i].lo].key, p[i].len) & (cap - 1);
        while (table[at])
            at = (at + 1) & (cap - 1);
        table[at] = (uint32_t)i + 1;
    }
    for (size_t i = 0; i < n; i++) {
        PREFIX_TICK(read, i);
        const char *key = e[p[i].lo].key;
        unsigned budget = budget_of(key, p[i].len);
        src[i] = NO_SOURCE;
        for (uint32_t len = p[i].len - 1; len >= AH_FILL_MIN_CPS && src[i] == NO_SOURCE; len--) {
            if (((unsigned char)key[len] & 0xc0) == 0x80)
                continue; /* inside a code point */
            uint64_t at = ah_hash64(0, key, len) & (cap - 1);
            for (; table[at]; at = (at + 1) & (cap - 1)) {
                const ah_fill_prefix_t *q = &p[table[at] - 1];
                if (q->len == len && memcmp(e[q->lo].key, key, len) == 0)
                    break;
            }
            if (!table[at])
                continue;
            if (budget_of(key, len) != budget)
                break;
            src[i] = table[at] - 1;
        }
    }
    free(table);
    return 0;
}

static int by_length(const void *a, const void *b, void *arg)
{
    const ah_fill_prefix_t *p = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (p[x].len != p[y].len)
        return p[x].len < p[y].len ? -1 : 1;
    return (x > y) - (x < y);
}

/* Every prefix's fill into j, walked or derived (*derived of them). */
static int make_fills(fill_job_t *j, size_t n, unsigned threads, size_t *derived)
{
    uint32_t *src = malloc((n ? n : 1) * sizeof *src);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order); /* shortest first */
    uint32_t *todo = malloc((n ? n : 1) * sizeof *todo);
    unsigned char *done = calloc(n ? n : 1, 1);
    ah_fill_t *from = malloc(sizeof *from), *f = malloc(sizeof *f);
    int rc = src && order && todo && done && from && f ? find_sources(j->e, j->p, n, src, j->read)
                                                       : AH_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++)
        order[i] = (uint32_t)i;
    if (!rc)
        qsort_r(order, n, sizeof *order, by_length, (void *)j->p);
    for (size_t left = n; left > 0 && !rc;) {
        size_t before = left, n_todo = 0;
        for (size_t i = 0; i < n; i++)
            if (!done[i] &&
                (src[i] == NO_SOURCE || (done[src[i]] && !holds_every_match(j, src[i]))))
                todo[n_todo++] = (uint32_t)i;
        if ((rc = walk_round(j, todo, n_todo, threads)) != 0)
            break;
        for (size_t t = 0; t < n_todo; t++)
            done[todo[t]] = 1;
        left -= n_todo;
        for (size_t o = 0; o < n && !rc; o++) {
            uint32_t i = order[o], s = src[i];
            if (done[i] || s == NO_SOURCE || !done[s] || !holds_every_match(j, s))
                continue;
            const ah_fill_prefix_t *p = &j->p[i], *q = &j->p[s];
            if (*derived % KEEP_SMALL_EVERY == 0) /* a derivation reads up to K keys */
                keep_draft_small(j);
            kept_fill(j, s, from);
            rc = ah_index__fill_derive(j->ix, j->e[p->lo].key, p->len, p->lo, p->count, q->lo,
                                       q->count, from, f);
            if (!rc)
                keep_fill(j, i, f);
            done[i] = 1;
            left--;
            ++*derived;
        }
        if (left == before && !rc)
            rc = AH_EINVAL; /* cannot happen: every chain starts with a walk */
    }
    free(src);
    free(order);
    free(todo);
    free(done);
    free(from);
    free(f);
    return rc;
}

int ah_writer__fills(const ah_index_t *ix, const ah_entry_t *e, const ah_fill_prefix_t *p, size_t n,
                     unsigned threads, size_t memory, const ah_read_hook_t *read, buf_t *out,
                     size_t *derived)
{
    size_t unused;
    if (!derived)
        derived = &unused;
    *derived = 0;
    fill_job_t j = {.ix = ix, .e = e, .p = p, .topk = ix->topk, .read = read};
    /*
     * The walks read most of the draft over time, each a little of it (a
     * megabyte or two each at 10^7 completions). Where the draft is large for
     * the budget, its pages are dropped whenever those mapped pass a quarter
     * of it, so that they do not add up to the draft in memory (they stay in
     * the page cache, outside the budget, to be mapped again when read).
     * Between two checks the fills still map up to 2.1 GB of the draft for
     * 10^8 completions at 2 GB, the build's peak (bench/RESULTS.md; reading
     * it with MADV_RANDOM, no pages around a fault, did not change that).
     */
    if (memory && ix->size > memory / 4)
        j.release_above = memory / 4;
    j.hits = malloc((n ? n : 1) * ix->topk * sizeof *j.hits);
    j.n_hits = malloc(n ? n : 1);
    j.flags = malloc(n ? n : 1);
    if (!j.hits || !j.n_hits || !j.flags || pthread_mutex_init(&j.lock, NULL) != 0) {
        free(j.hits);
        free(j.n_hits);
        free(j.flags);
        return AH_ENOMEM;
    }
    int rc = make_fills(&j, n, threads, derived);
    pthread_mutex_destroy(&j.lock);

    /* The entries, then the slots that point at them. */
    uint64_t want_slots = (uint64_t)n + n / 3 + 1;
    if (!rc && want_slots > UINT32_MAX)
        rc = AH_EINVAL;
    uint32_t entries = (uint32_t)n, slots = (uint32_t)want_slots;
    size_t head = AH_FILL_HEAD + 4 * (size_t)slots;
    unsigned char *h = rc ? NULL : buf_grow(out, head);
    if (!rc && !h)
        rc = AH_ENOMEM;
    if (!rc) {
        ah_store_u32(h, slots);
        ah_store_u32(h + 4, entries);
        memset(h + AH_FILL_HEAD, 0xff, 4 * (size_t)slots);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        size_t at = out->len;
        unsigned char fixed[AH_FILL_ENTRY_HEAD];
        ah_store_u32(fixed, p[i].lo);
        fixed[4] = (unsigned char)p[i].len;
        fixed[5] = j.flags[i];
        fixed[6] = j.n_hits[i];
        buf_put(out, fixed, sizeof fixed);
        for (unsigned h2 = 0; h2 < j.n_hits[i]; h2++)
            buf_varint(out, j.hits[i * ix->topk + h2]);
        if (out->failed || at > UINT32_MAX - 1) {
            rc = out->failed ? AH_ENOMEM : AH_EINVAL;
            break;
        }
        PREFIX_TICK(read, i);
        uint64_t s = ah_fill_slot(ah_hash64(0, e[p[i].lo].key, p[i].len), slots);
        while (ah_load_u32(out->data + AH_FILL_HEAD + 4 * s) != AH_FILL_SLOT_EMPTY)
            s = s + 1 == slots ? 0 : s + 1;
        ah_store_u32(out->data + AH_FILL_HEAD + 4 * s, (uint32_t)at);
    }
    free(j.hits);
    free(j.n_hits);
    free(j.flags);
    return rc;
}
