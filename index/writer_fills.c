/* SPDX-License-Identifier: MIT */
/*
 * writer_fills.c: the FILLS section (format.h). Which prefixes get one: a
 * pass over the sorted keys sees every prefix once, as a lex range that
 * opens at the first key with it and closes at the first without, and
 * keeps the most popular (by summed score) of those of 4 code points or
 * more whose range holds fewer than K keys, in a bounded heap. Their
 * fills: the lookup's own walk (search.c), run on a draft of the snapshot
 * without the section, on as many threads as asked; each prefix's result
 * has its own place, so the bytes do not depend on the threads.
 */
#include "walk.h"
#include "checksum.h"
#include "writer_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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
                           ah_fill_prefix_t **out, size_t *n_out)
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

typedef struct fill_job {
    const ah_index_t *ix;
    const ah_entry_t *e;
    const ah_fill_prefix_t *p;
    size_t n;
    unsigned topk;
    uint64_t *hits;        /* topk per prefix */
    unsigned char *n_hits; /* per prefix */
    unsigned char *flags;  /* per prefix: the entry's flags byte */
    size_t next;           /* the next prefix to take */
    pthread_mutex_t lock;
    int rc;
} fill_job_t;

static void *fill_main(void *arg)
{
    fill_job_t *j = arg;
    ah_walk_t *s = malloc(sizeof *s);
    ah_fill_t *f = malloc(sizeof *f);
    int rc = s && f ? 0 : AH_ENOMEM;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t i = j->next;
        j->next += 64;
        if (rc && !j->rc)
            j->rc = rc;
        int stop = j->rc != 0;
        pthread_mutex_unlock(&j->lock);
        if (stop || i >= j->n)
            break;
        size_t end = i + 64 < j->n ? i + 64 : j->n;
        for (; i < end && !rc; i++) {
            const ah_fill_prefix_t *p = &j->p[i];
            rc = ah_index__fill_walk(j->ix, j->e[p->lo].key, p->len, p->lo, p->count, s, f);
            if (rc)
                break;
            j->n_hits[i] = (unsigned char)f->n;
            j->flags[i] = (unsigned char)(f->budget | (f->words ? AH_FILL_WORDS : 0) |
                                          (f->complete ? 0 : AH_FILL_INCOMPLETE));
            if (!f->complete)
                j->n_hits[i] = 0; /* the lookup walks: there is nothing to keep */
            memcpy(j->hits + i * j->topk, f->hit, j->n_hits[i] * sizeof *f->hit);
        }
    }
    free(s);
    free(f);
    return NULL;
}

int ah_writer__fills(const ah_index_t *ix, const ah_entry_t *e, const ah_fill_prefix_t *p, size_t n,
                     unsigned threads, buf_t *out)
{
    fill_job_t j = {.ix = ix, .e = e, .p = p, .n = n, .topk = ix->topk};
    j.hits = malloc((n ? n : 1) * ix->topk * sizeof *j.hits);
    j.n_hits = malloc(n ? n : 1);
    j.flags = malloc(n ? n : 1);
    if (!j.hits || !j.n_hits || !j.flags || pthread_mutex_init(&j.lock, NULL) != 0) {
        free(j.hits);
        free(j.n_hits);
        free(j.flags);
        return AH_ENOMEM;
    }
    pthread_t tid[AH_FILL_MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < threads && t < AH_FILL_MAX_THREADS; t++)
        if (pthread_create(&tid[started], NULL, fill_main, &j) == 0)
            started++;
    fill_main(&j);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&j.lock);
    int rc = j.rc;

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
