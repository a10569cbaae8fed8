/* SPDX-License-Identifier: MIT */
/*
 * synth.c: ahead-synth, synthetic query logs of any size with the shape of
 * a real one, for build benchmarks beyond the datasets we have.
 *
 *   ahead-synth --train FILE -n N [--seed S] [--order K] > log.tsv
 *
 * Learns from FILE (text<TAB>count lines, gzip or plain) a byte-level
 * Markov model of order K (default 4) over its texts, and the distribution
 * of its counts; then writes N distinct texts drawn from the model, each
 * with a count drawn from that distribution. Texts therefore follow the
 * training set's first letters, lengths, alphabet and common fragments
 * (npm-downloads: package-name-like; es-ngrams: Spanish phrases), and the
 * counts its heavy tail and ties. The same FILE, N, S and K give the same
 * bytes. Distinctness is exact: a text whose 64-bit hash was drawn before is
 * drawn again (a hash collision only costs a redraw).
 */
#include "checksum.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_TEXT 200

static void die(const char *msg)
{
    fprintf(stderr, "ahead-synth: %s\n", msg);
    exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        die("out of memory");
    return p;
}

/* splitmix64: a fast seeded generator. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* The hash of the last `order` bytes before position i of text (bytes before 0 count as 0),
 * with its low byte clear: the next byte goes there. Never 0: 0 marks an empty slot. */
static uint64_t context_of(const unsigned char *text, size_t i, unsigned order)
{
    unsigned char ctx[16] = {0};
    for (unsigned k = 0; k < order; k++)
        ctx[k] = i >= order - k ? text[i - (order - k)] : 0;
    return (ah_hash64(order, ctx, order) | 0x100) & ~(uint64_t)0xff;
}

/* An open-addressing table from nonzero 64-bit keys to a value. */
typedef struct table {
    uint64_t *keys, *values;
    size_t n_slots, used;
} table_t;

static uint64_t *slot_of(table_t *t, uint64_t key)
{
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15u) >> 20) & (t->n_slots - 1);
    while (t->keys[h] && t->keys[h] != key)
        h = (h + 1) & (t->n_slots - 1);
    if (!t->keys[h]) {
        if (++t->used * 2 > t->n_slots)
            die("too many contexts: lower --order");
        t->keys[h] = key;
    }
    return &t->values[h];
}

static table_t table_new(size_t n_slots)
{
    return (table_t){.keys = xcalloc(n_slots, sizeof(uint64_t)),
                     .values = xcalloc(n_slots, sizeof(uint64_t)),
                     .n_slots = n_slots};
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *train = NULL;
    uint64_t n = 0, seed = 20261205;
    unsigned order = 4;
    static const struct option opts[] = {{"train", required_argument, NULL, 't'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"order", required_argument, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "n:", opts, NULL)) != -1;) {
        if (c == 't')
            train = optarg;
        else if (c == 'n')
            n = strtoull(optarg, NULL, 10);
        else if (c == 's')
            seed = strtoull(optarg, NULL, 10);
        else if (c == 'k')
            order = (unsigned)atoi(optarg);
        else
            die("usage: ahead-synth --train FILE -n N [--seed S] [--order K]");
    }
    if (!train || n == 0 || order < 1 || order > 16)
        die("usage: ahead-synth --train FILE -n N [--seed S] [--order K 1..16]");

    /* Training: how often each byte (0: the end) follows each context. */
    table_t pairs = table_new(1u << 24);
    uint64_t *train_counts = NULL;
    size_t n_train = 0, cap_train = 0;
    gzFile in = gzopen(train, "rb");
    if (!in)
        die("cannot open the training file");
    char line[4096];
    while (gzgets(in, line, sizeof line)) {
        char *tab = strchr(line, '\t');
        size_t len = tab ? (size_t)(tab - line) : strcspn(line, "\n");
        if (len == 0 || len > MAX_TEXT)
            continue;
        const unsigned char *t = (const unsigned char *)line;
        for (size_t i = 0; i <= len; i++)
            ++*slot_of(&pairs, context_of(t, i, order) | (i < len ? t[i] : 0));
        if (n_train == cap_train) {
            cap_train = cap_train ? cap_train * 2 : 1 << 16;
            train_counts = realloc(train_counts, cap_train * sizeof *train_counts);
            if (!train_counts)
                die("out of memory");
        }
        train_counts[n_train++] = tab ? strtoull(tab + 1, NULL, 10) : 1;
    }
    gzclose(in);
    if (n_train == 0)
        die("no texts in the training file");

    /* The model: each context's next bytes in byte order, with running totals of their counts. */
    uint64_t *pair_keys = xcalloc(pairs.used, sizeof *pair_keys);
    size_t n_pairs = 0;
    for (size_t i = 0; i < pairs.n_slots; i++)
        if (pairs.keys[i])
            pair_keys[n_pairs++] = pairs.keys[i];
    qsort(pair_keys, n_pairs, sizeof *pair_keys, by_u64);
    unsigned char *next_byte = xcalloc(n_pairs, 1);
    uint64_t *running = xcalloc(n_pairs, sizeof *running);
    table_t contexts = table_new(1u << 23); /* context -> first pair << 16 | pairs (<= 256) */
    for (size_t i = 0, first = 0; i < n_pairs; i++) {
        uint64_t ctx = pair_keys[i] & ~(uint64_t)0xff;
        if (i > 0 && ctx != (pair_keys[i - 1] & ~(uint64_t)0xff))
            first = i;
        next_byte[i] = (unsigned char)(pair_keys[i] & 0xff);
        running[i] = (i > first ? running[i - 1] : 0) + *slot_of(&pairs, pair_keys[i]);
        *slot_of(&contexts, ctx) = (uint64_t)first << 16 | (i - first + 1);
    }

    size_t seen_slots = 1;
    while (seen_slots < 2 * n)
        seen_slots *= 2;
    uint64_t *seen = xcalloc(seen_slots, sizeof *seen);
    unsigned char text[MAX_TEXT + 1];
    uint64_t redraws = 0;
    for (uint64_t made = 0; made < n;) {
        size_t len = 0;
        for (;;) { /* draw bytes until the model ends the text */
            uint64_t at = *slot_of(&contexts, context_of(text, len, order));
            size_t first = (size_t)(at >> 16), k = (size_t)(at & 0xffff);
            uint64_t r = next_random(&seed) % running[first + k - 1];
            size_t lo = first, hi = first + k - 1; /* the first running total above r */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (running[mid] > r)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            if (next_byte[lo] == 0 || len == MAX_TEXT)
                break;
            text[len++] = next_byte[lo];
        }
        uint64_t h = ah_hash64(0, text, len) | 1;
        size_t slot = h & (seen_slots - 1);
        while (seen[slot] && seen[slot] != h)
            slot = (slot + 1) & (seen_slots - 1);
        if (len == 0 || seen[slot]) {
            if (++redraws > 100 * (made + 1000))
                die("the model repeats itself: raise --order or lower -n");
            continue;
        }
        seen[slot] = h;
        made++;
        uint64_t count = train_counts[next_random(&seed) % n_train];
        printf("%.*s\t%" PRIu64 "\n", (int)len, (const char *)text, count);
    }
    fprintf(stderr, "ahead-synth: %" PRIu64 " texts, %" PRIu64 " redrawn (seen before)\n", n,
            redraws);
    return fflush(stdout) == 0 ? 0 : 1;
}
