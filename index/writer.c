/* SPDX-License-Identifier: MIT */
/*
 * writer.c: encodes sorted completions into the sections of format.h and
 * writes them out atomically.
 *
 * Order of work: score classes (the distinct scores, sorted), keys (front
 * coding), the trie's inner nodes (one recursive pass over the sorted keys,
 * children before parents, each node's top-K merged from its children's),
 * the word-start index (writer_words.c, on a thread of its own beside the
 * trie: it reads the keys and classes only), then the header with its
 * checksums and content id. Everything is a pure
 * function of the entries and options, so equal input gives equal bytes.
 */
#include "writer.h"

#include "ahead.h"
#include "bits.h"
#include "checksum.h"
#include "index_internal.h"
#include "match.h"
#include "outfile.h"
#include "writer_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Errors are reported the reader's way. */
#define fail ah_index__fail

/* ---------------------------------------------------------------- state */

typedef struct node node_t;

typedef struct writer {
    const ah_entry_t *e;
    uint32_t n;
    unsigned topk, bucket;
    uint32_t *class_of; /* lex id -> index of its score in the distinct scores */
    uint32_t n_scores;
    uint64_t hot_mass;         /* inner nodes with at least this summed score are hot */
    node_t *hot;               /* hot nodes waiting for their records, in post-order */
    struct hot_text *hot_text; /* the hot nodes' completions, by lex id: their offsets in
                                * HOT_TEXTS (while the hot nodes' records are written) */
    size_t n_hot, cap_hot, n_hot_text;
    buf_t sec[AH_SECTION_MAX + 1];
    int has_contexts, has_choseong, has_fills; /* the optional sections are there */
    uint32_t inner_nodes;
    uint32_t max_key;
    int typo;               /* records get look fields; LOOK and the gram table are built */
    int entries_on_disk;    /* ah_write_options_t's: the word-start trie copies suffixes */
    const char *path;       /* of the output: temporary files go beside it (NULL: none) */
    int stream_tries;       /* a memory budget: the tries' sections go to the side file
                             * while they are made */
    struct stream *trie_st; /* build_trie()'s streams of them (TRIE_NODES, ...) */
    ah_read_hook_t read;    /* ah_write_options_t's entries_read */
    uint64_t nodes_read;    /* trie nodes shaped, for it */
    int words_near;         /* the word-start trie has small leaves a level deeper */
    int hot_more;           /* the main trie has opt->hot_nodes_room hot nodes */
    const char *too_large;  /* set when a section outgrew its offsets: why */
    struct side_file *side; /* finished sections, out of memory (NULL: none) */
    uint64_t side_off[AH_SECTION_MAX + 1]; /* where a section is in it, when spilled[] */
    unsigned char spilled[AH_SECTION_MAX + 1];
    int stream_errno;    /* a streamed section that could not be read back (stream_back) */
    int scratch_fd;      /* the gram table's scratch file while it is built (-1: none) */
    size_t stream_chunk; /* bytes a streamed section's buffer holds before it is written */
    uint64_t key_bytes, text_bytes; /* the entries' in all */
    ah_outfile_t out;               /* the output, once add_fills() writes its draft there */
    int out_open;                   /* out is open */
    unsigned table_room;            /* entries the section table has room for beyond its own (the
                                     * draft's, for FILLS) */
    _Atomic uint64_t temp_peak;     /* the most disk the temporary files took at once */
    /* What the header needs besides the sections, kept for sealing it again with FILLS. */
    unsigned class_bits;
    uint32_t root, gram_slots, fills, fills_derived;
    double fill_seconds;
    uint64_t total;
    ah_words_info_t words;
    /* The gram table while it is built and until it is written (NULL: none, or written), and
     * the depth it is written to: AH_GRAM_DEPTH, or one less where spend_room() gives that
     * level up. */
    ah_grams_build_t *grams;
    unsigned gram_depth;
    /* Sums already taken: the CRCs of the first n_summed sections in table order, and the
     * content id's chain after them (FILLS comes last, so the rest need not be read again). */
    unsigned n_summed;
    uint32_t sum_crc[AH_SECTION_MAX + 1];
    uint64_t chain;
} writer_t;

/*
 * A temporary file without a name beside the output, that finished
 * sections move to while the rest is built (they were a seventh of the
 * peak on npm-downloads); at the end they are read back in pieces for
 * their checksums and copied into the output. Either thread may add to it.
 */
typedef struct side_file {
    int fd; /* -1 once it gives back the output's, which it borrowed (add_fills) */
    uint64_t size;
    int error; /* of a failed write of a draft (add_fills) */
    pthread_mutex_t lock;
} side_file_t;

/* A temporary file without a name in the directory of path; -1 when none can be made. */
static int open_beside(const char *path)
{
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (!dir)
        return -1;
    const char *in = !slash ? "." : slash == dir ? "/" : (*slash = 0, dir);
    int fd = open(in, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    char name[4096];
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) &&
        snprintf(name, sizeof name, "%s/.ahead-side-XXXXXX", in) < (int)sizeof name &&
        (fd = mkostemp(name, O_CLOEXEC)) >= 0)
        unlink(name); /* a file system without O_TMPFILE: a name, removed at once */
    free(dir);
    return fd;
}

/*
 * A side file over fd, which it owns from here on unless the caller takes
 * it back (add_fills' draft borrows the output's); NULL when out of memory.
 */
static side_file_t *side_of_fd(int fd)
{
    side_file_t *f = calloc(1, sizeof *f);
    if (f && pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        f = NULL;
    }
    if (f)
        f->fd = fd;
    return f;
}

static side_file_t *side_open(const char *path)
{
    int fd = open_beside(path);
    side_file_t *f = fd >= 0 ? side_of_fd(fd) : NULL;
    if (!f && fd >= 0)
        close(fd);
    return f; /* NULL: no such file here, the sections stay in memory */
}

int ah_file_io(int fd, void *p, size_t len, uint64_t off, int writing)
{
    for (size_t done = 0; done < len;) {
        ssize_t got = writing ? pwrite(fd, (char *)p + done, len - done, (off_t)(off + done))
                              : pread(fd, (char *)p + done, len - done, (off_t)(off + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? errno : EIO;
        done += (size_t)got;
    }
    return 0;
}

static void side_close(side_file_t *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/*
 * Takes note of the disk the temporary files take now (their allocated
 * blocks: the side file's regions are holes until written), for the
 * builder's summary. Called as they grow, from any thread.
 */
static void note_temp_disk(writer_t *w)
{
    int fds[2] = {w->side ? w->side->fd : -1, w->scratch_fd};
    uint64_t sum = 0;
    struct stat st;
    for (unsigned i = 0; i < 2; i++)
        if (fds[i] >= 0 && fstat(fds[i], &st) == 0)
            sum += (uint64_t)st.st_blocks * 512;
    uint64_t had = atomic_load(&w->temp_peak);
    while (sum > had && !atomic_compare_exchange_weak(&w->temp_peak, &had, sum))
        ;
}

/* Gives back len bytes of the side file at off, a region no longer read. */
static void side_punch(writer_t *w, uint64_t off, uint64_t len)
{
    if (w->side && len)
        (void)fallocate(w->side->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                        (off_t)len);
}

/* Moves finished section s (padded here) to the side file; on an error it stays in memory. */
static void spill_section(writer_t *w, unsigned s)
{
    buf_t *b = &w->sec[s];
    if (!w->side || w->spilled[s] || b->failed)
        return;
    buf_pad(b);
    if (b->failed)
        return;
    pthread_mutex_lock(&w->side->lock);
    uint64_t at = w->side->size;
    int failed = ah_file_io(w->side->fd, b->data, b->len, at, 1);
    if (!failed)
        w->side->size += b->len;
    pthread_mutex_unlock(&w->side->lock);
    if (failed)
        return;
    w->side_off[s] = at;
    w->spilled[s] = 1;
    note_temp_disk(w);
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

/*
 * A section that is only appended to can go to the side file while it is
 * made: KEYS (1.74 GB at 10^8 completions), WORD_ENTRIES (0.98 GB) and,
 * under a memory budget, the tries' sections are never whole in memory. A
 * region as large as it can grow is set aside in the side file (a hole
 * until written), and the buffer is written into it whenever it holds
 * w->stream_chunk bytes (a 256th of the budget, 4 KB to 1 MB), in
 * multiples of 8 so that the padding comes out as in memory. Without a
 * side file the section stays in memory, and after a failed write (a full
 * disk, a file size limit) it goes back there, what was written read back,
 * as spill_section() leaves a section it cannot write.
 */
#define STREAM_CHUNK_MOST  (1u << 20)
#define STREAM_CHUNK_LEAST (4u << 10)

typedef struct stream {
    writer_t *w;
    buf_t *b;
    uint64_t off, most; /* its region in the side file */
    uint64_t streamed;  /* bytes written there */
    int on;             /* 0: in memory */
} stream_t;

static void stream_begin(stream_t *st, writer_t *w, buf_t *b, uint64_t most)
{
    *st = (stream_t){.w = w, .b = b};
    if (!w->side)
        return;
    pthread_mutex_lock(&w->side->lock);
    st->off = w->side->size;
    st->most = most;
    w->side->size += most;
    pthread_mutex_unlock(&w->side->lock);
    st->on = 1;
}

/* The section's length so far, streamed or not. */
static uint64_t stream_len(const stream_t *st)
{
    return st->streamed + st->b->len;
}

static void stream_back(stream_t *st)
{
    buf_t *b = st->b;
    size_t had = b->len, back = (size_t)st->streamed;
    st->on = 0;
    st->streamed = 0;
    b->len = 0;
    unsigned char *p = buf_grow(b, back + had);
    if (!p)
        return;
    memmove(p + back, p, had);
    int err = ah_file_io(st->w->side->fd, p, back, st->off, 0);
    if (err) {
        st->w->stream_errno = err;
        b->failed = 1;
    }
}

/*
 * Writes what the buffer holds to the region: a full chunk, or at the end
 * everything, padded; then (end, still on) the buffer holds nothing and
 * its length is the section's, as a spilled section's is.
 */
static void stream_out(stream_t *st, int end)
{
    buf_t *b = st->b;
    if (!st->on || b->failed || (!end && b->len < st->w->stream_chunk))
        return;
    size_t unpadded = b->len;
    if (end)
        buf_pad(b); /* its length so far is a multiple of 8: the same padding as in memory */
    size_t len = end ? b->len : b->len & ~(size_t)7;
    /* Past its region (a section over the format's limits, refused later): back to memory. */
    if (st->streamed + len > st->most ||
        ah_file_io(st->w->side->fd, b->data, len, st->off + st->streamed, 1)) {
        b->len = unpadded; /* padded again with the sections in memory */
        stream_back(st);
        return;
    }
    st->streamed += len;
    note_temp_disk(st->w);
    memmove(b->data, b->data + len, b->len - len);
    b->len -= len;
    if (end) {
        free(b->data);
        *b = (buf_t){.len = (size_t)st->streamed};
    }
}

/* After stream_out(st, 1): section s is in the side file, unless it went back to memory. */
static void stream_done(stream_t *st, unsigned s)
{
    if (!st->on)
        return;
    st->w->spilled[s] = 1;
    st->w->side_off[s] = st->off;
}

/*
 * Calls fn on the bytes of section s in order, in pieces when it was
 * spilled. Returns 0, or AH_EIO when the side file cannot be read back.
 */
static int section_bytes(const writer_t *w, unsigned s,
                         void (*fn)(void *ctx, const unsigned char *p, size_t len), void *ctx)
{
    const buf_t *b = &w->sec[s];
    if (!w->spilled[s]) {
        fn(ctx, b->data, b->len);
        return 0;
    }
    size_t piece_len = b->len < (1u << 20) ? b->len : (1u << 20);
    unsigned char *piece = malloc(piece_len);
    int rc = piece ? 0 : AH_ENOMEM;
    for (uint64_t done = 0; !rc && done < b->len;) {
        size_t want = b->len - done < piece_len ? (size_t)(b->len - done) : piece_len;
        ssize_t got = pread(w->side->fd, piece, want, (off_t)(w->side_off[s] + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = AH_EIO;
            break;
        }
        fn(ctx, piece, (size_t)got);
        done += (uint64_t)got;
    }
    free(piece);
    return rc;
}

/* -------------------------------------------------------- score classes */

/* Distinct scores and where they go: an open-addressing table of indexes + 1 into `score`. */
typedef struct score_set {
    uint64_t *score;
    uint32_t *slot, *rank_of; /* rank_of: a distinct score's index -> its class */
    size_t n, cap, n_slots;
} score_set_t;

static size_t score_slot(const score_set_t *t, uint64_t v)
{
    size_t h = (size_t)((v * 0x9E3779B97F4A7C15u) >> 17) & (t->n_slots - 1);
    while (t->slot[h] && t->score[t->slot[h] - 1] != v)
        h = (h + 1) & (t->n_slots - 1);
    return h;
}

static int score_add(score_set_t *t, uint64_t v)
{
    size_t h = score_slot(t, v);
    if (t->slot[h])
        return 0;
    if (t->n == t->cap) {
        size_t c = t->cap * 2;
        uint64_t *p = realloc(t->score, c * sizeof *p);
        if (!p)
            return AH_ENOMEM;
        t->score = p;
        t->cap = c;
    }
    t->score[t->n] = v;
    t->slot[h] = (uint32_t)++t->n;
    if (t->n * 2 <= t->n_slots)
        return 0;
    uint32_t *old = t->slot;
    size_t n_old = t->n_slots;
    t->n_slots *= 2;
    t->slot = calloc(t->n_slots, sizeof *t->slot);
    if (!t->slot) {
        t->slot = old;
        t->n_slots = n_old;
        return AH_ENOMEM;
    }
    for (size_t i = 0; i < n_old; i++)
        if (old[i])
            t->slot[score_slot(t, t->score[old[i] - 1])] = old[i];
    free(old);
    return 0;
}

static int by_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

/*
 * Fills SCORES with the distinct scores, descending, and class_of. Real
 * counts repeat (82k distinct among 3.7M on npm-downloads): the distinct
 * ones are gathered in a hash table and only they are sorted.
 */
static int compute_classes(writer_t *w)
{
    score_set_t t = {.cap = 1024, .n_slots = 4096};
    t.score = malloc(t.cap * sizeof *t.score);
    t.slot = calloc(t.n_slots, sizeof *t.slot);
    w->class_of = malloc((size_t)w->n * sizeof *w->class_of);
    int rc = t.score && t.slot && w->class_of ? 0 : AH_ENOMEM;
    for (uint32_t i = 0; i < w->n && !rc; i++) {
        ah_read_tick(&w->read, i);
        rc = score_add(&t, w->e[i].score);
    }
    uint64_t *sorted = rc ? NULL : malloc(t.n * sizeof *sorted);
    t.rank_of = rc ? NULL : malloc(t.n * sizeof *t.rank_of);
    if (!rc && (!sorted || !t.rank_of))
        rc = AH_ENOMEM;
    if (!rc) {
        memcpy(sorted, t.score, t.n * sizeof *sorted);
        qsort(sorted, t.n, sizeof *sorted, by_u64_desc);
        for (uint32_t c = 0; c < t.n; c++)
            t.rank_of[t.slot[score_slot(&t, sorted[c])] - 1] = c;
        w->n_scores = (uint32_t)t.n;
        for (uint32_t i = 0; i < w->n; i++) {
            ah_read_tick(&w->read, i);
            w->class_of[i] = t.rank_of[t.slot[score_slot(&t, w->e[i].score)] - 1];
        }
        buf_t *sec = &w->sec[AH_SEC_SCORES];
        for (uint32_t c = 0; c < t.n; c++) {
            unsigned char *p = buf_grow(sec, 8);
            if (p)
                ah_store_u64(p, sorted[c]);
        }
    }
    free(sorted);
    free(t.score);
    free(t.slot);
    free(t.rank_of);
    return rc;
}

/* A completion's place in ranking order: smaller is better. */
static uint64_t rank_key(const writer_t *w, uint32_t id)
{
    return (uint64_t)w->class_of[id] << 32 | id;
}

/* ------------------------------------------------------ keys and scores */

static int same_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static uint32_t shared_len(const ah_entry_t *a, const ah_entry_t *b)
{
    uint32_t m = a->key_len < b->key_len ? a->key_len : b->key_len, i = 0;
    while (i < m && a->key[i] == b->key[i])
        i++;
    return i;
}

/* One bucket of KEYS (format.h): flags, lengths, display map and offsets, added bytes. */
static void encode_bucket(writer_t *w, uint32_t first, uint32_t count)
{
    buf_t *keys = &w->sec[AH_SEC_KEYS], *disp = &w->sec[AH_SEC_DISPLAY];
    uint32_t sh[AH_MAX_BUCKET], wide = 0, displays = 0;
    for (uint32_t j = 0; j < count; j++) {
        const ah_entry_t *e = &w->e[first + j];
        sh[j] = j ? shared_len(e - 1, e) : 0;
        if (sh[j] > 255 || e->key_len - sh[j] > 255)
            wide = 1;
        displays += !same_bytes(e->key, e->key_len, e->text, e->text_len);
        if (e->key_len > w->max_key)
            w->max_key = e->key_len;
    }
    unsigned width = wide ? 2 : 1;
    unsigned char flags =
        (unsigned char)((wide ? AH_BUCKET_WIDE : 0) | (displays ? AH_BUCKET_HAS_DISPLAY : 0));
    buf_put(keys, &flags, 1);
    for (uint32_t j = 0; j < count; j++)
        buf_uw(keys, sh[j], width);
    for (uint32_t j = 0; j < count; j++)
        buf_uw(keys, w->e[first + j].key_len - sh[j], width);
    if (displays) {
        unsigned char map[AH_MAX_BUCKET / 8] = {0};
        for (uint32_t j = 0; j < count; j++) {
            const ah_entry_t *e = &w->e[first + j];
            if (!same_bytes(e->key, e->key_len, e->text, e->text_len))
                map[j / 8] |= (unsigned char)(1u << (j % 8));
        }
        buf_put(keys, map, (count + 7) / 8);
        for (uint32_t j = 0; j < count; j++) {
            const ah_entry_t *e = &w->e[first + j];
            if (same_bytes(e->key, e->key_len, e->text, e->text_len))
                continue;
            if (disp->len > UINT32_MAX)
                w->too_large = "display texts over 4 GiB";
            buf_uw(keys, (uint32_t)disp->len, 4);
            buf_varint(disp, e->text_len);
            buf_put(disp, e->text, e->text_len);
        }
    }
    for (uint32_t j = 0; j < count; j++) {
        const ah_entry_t *e = &w->e[first + j];
        buf_put(keys, e->key + sh[j], e->key_len - sh[j]);
    }
}

static void encode_keys(writer_t *w)
{
    /* A bucket takes at most a flag byte, two of map, and per key its bytes and 8 more
     * (two shared and added lengths of two bytes, a display offset). */
    uint64_t most = AH_SECTION_PAD + 8;
    for (uint32_t i = 0; i < w->n; i++) {
        ah_read_tick(&w->read, i);
        most += w->e[i].key_len + 8;
    }
    stream_t st;
    stream_begin(&st, w, &w->sec[AH_SEC_KEYS], most + 3 * ((uint64_t)w->n / w->bucket + 1));
    buf_t *kidx = &w->sec[AH_SEC_KEY_INDEX];
    for (uint32_t first = 0; first < w->n; first += w->bucket) {
        ah_read_tick(&w->read, first);
        buf_uw(kidx, (uint32_t)stream_len(&st), 4);
        encode_bucket(w, first, w->n - first < w->bucket ? w->n - first : w->bucket);
        stream_out(&st, 0);
    }
    buf_uw(kidx, (uint32_t)stream_len(&st), 4);
    stream_out(&st, 1);
    stream_done(&st, AH_SEC_KEYS);
}

static void encode_classes(writer_t *w, unsigned class_bits)
{
    buf_t *b = &w->sec[AH_SEC_CLASSES];
    size_t bytes = ((size_t)w->n * class_bits + 7) / 8;
    unsigned char *p = buf_grow(b, bytes);
    if (!p)
        return;
    memset(p, 0, bytes);
    for (uint32_t i = 0; i < w->n; i++)
        ah_bits_put(p, (uint64_t)i * class_bits, class_bits, w->class_of[i]);
}

/* ----------------------------------------------------------------- trie */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* First index in [i, hi) whose byte at depth d is greater than c. */
static uint32_t run_end(const writer_t *w, uint32_t i, uint32_t hi, uint32_t d, unsigned char c)
{
    uint32_t a = i + 1, b = hi;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if ((unsigned char)w->e[mid].key[d] > c)
            b = mid;
        else
            a = mid + 1;
    }
    return a;
}

#define REF_LIGHT          UINT32_MAX  /* a child with no record */
#define AH_HOT_TABLE_NODES 2048        /* hot nodes whose prefixes enter HOT_SLOTS */
#define REF_HOT            0x80000000u /* a child still waiting in the hot list: its index */

typedef struct child {
    unsigned char byte;
    uint32_t lo, hi; /* absolute lex ids */
    uint32_t ref;    /* record offset, REF_HOT | hot index, or REF_LIGHT */
} child_t;

/* An inner node, as far as its record needs. */
struct node {
    uint32_t lo, count;
    uint32_t d, depth; /* its label is key[lo][d, depth) */
    uint32_t nk, ntop;
    child_t *kids;
    uint32_t *top; /* lex ids, best first */
    uint64_t mass; /* summed score of the subtree */
};

/* Splits [lo, hi) at depth d into the node's label end and its children. */
static void node_shape(const writer_t *w, uint32_t lo, uint32_t hi, uint32_t d, node_t *nd,
                       int *terminal)
{
    const ah_entry_t *first = &w->e[lo], *last = &w->e[hi - 1];
    uint32_t depth = d, m = first->key_len < last->key_len ? first->key_len : last->key_len;
    while (depth < m && first->key[depth] == last->key[depth])
        depth++;
    *nd = (node_t){
        .lo = lo, .count = hi - lo, .d = d, .depth = depth, .kids = nd->kids, .top = nd->top};
    uint32_t i = lo;
    *terminal = first->key_len == depth; /* the node's own path is a key, sorted first */
    if (*terminal)
        i++;
    while (i < hi) {
        unsigned char c = (unsigned char)w->e[i].key[depth];
        uint32_t j = run_end(w, i, hi, depth, c);
        nd->kids[nd->nk++] = (child_t){.byte = c, .lo = i, .hi = j, .ref = REF_LIGHT};
        i = j;
    }
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * The summed score of every inner node below and at [lo, hi), pushed to
 * *masses; returns the node's own. This is the chance that a user typing
 * a completion passes through the node, up to a constant.
 */
static int collect_masses(writer_t *w, uint32_t lo, uint32_t hi, uint32_t d, uint64_t **masses,
                          size_t *n, size_t *cap, uint64_t *mass)
{
    /* On the heap: a chain of nested keys recurses once per byte, 1024 deep. */
    child_t *kids = malloc(256 * sizeof *kids);
    if (!kids)
        return AH_ENOMEM;
    node_t nd = {.kids = kids};
    int terminal;
    ah_read_tick(&w->read, (w->nodes_read++) << (AH_READ_EVERY_LOG2 - 6)); /* every 64 */
    node_shape(w, lo, hi, d, &nd, &terminal);
    uint64_t sum = terminal ? w->e[lo].score : 0;
    for (uint32_t j = 0; j < nd.nk; j++) {
        uint64_t m = 0;
        if (kids[j].hi - kids[j].lo > w->topk) {
            int rc = collect_masses(w, kids[j].lo, kids[j].hi, nd.depth + 1, masses, n, cap, &m);
            if (rc) {
                free(kids);
                return rc;
            }
        } else {
            for (uint32_t x = kids[j].lo; x < kids[j].hi; x++)
                m = add_sat(m, w->e[x].score);
        }
        sum = add_sat(sum, m);
    }
    free(kids);
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        uint64_t *p = realloc(*masses, c * sizeof *p);
        if (!p)
            return AH_ENOMEM;
        *masses = p;
        *cap = c;
    }
    (*masses)[(*n)++] = sum;
    *mass = sum;
    return 0;
}

/* Sets w->hot_mass: nodes with at least this mass (and above 0) get inline answers. */
static int choose_hot(writer_t *w, unsigned hot_nodes)
{
    uint64_t *masses = NULL, root;
    size_t n = 0, cap = 0;
    int rc = collect_masses(w, 0, w->n, 0, &masses, &n, &cap, &root);
    if (!rc) {
        qsort(masses, n, sizeof *masses, by_u64_desc);
        w->hot_mass = hot_nodes == 0 ? UINT64_MAX : hot_nodes >= n ? 1 : masses[hot_nodes - 1];
        if (w->hot_mass == 0)
            w->hot_mass = 1;
    }
    free(masses);
    return rc;
}

/* Key i for ah_writer__look(). */
static const unsigned char *key_at(const void *ctx, uint32_t i, uint32_t *len)
{
    const writer_t *w = ctx;
    *len = w->e[i].key_len;
    return (const unsigned char *)w->e[i].key;
}

static uint32_t hot_text_at(const writer_t *w, uint32_t id);

/* The sections build_trie() streams (w->trie_st), and their lengths so far. */
enum { TRIE_NODES, TRIE_LOOK, TRIE_HOT_TEXTS, N_TRIE_STREAMED };

static uint64_t trie_len(const writer_t *w, unsigned i)
{
    return stream_len(&w->trie_st[i]);
}

/* Appends a node's record (format.h, NODES) at the end of NODES. */
static void encode_node(writer_t *w, const node_t *nd, int hot)
{
    buf_t *b = &w->sec[AH_SEC_NODES];
    uint32_t off = (uint32_t)trie_len(w, TRIE_NODES), max_ptr = 0;
    for (uint32_t j = 0; j < nd->nk; j++)
        if (nd->kids[j].ref != REF_LIGHT && off - nd->kids[j].ref > max_ptr)
            max_ptr = off - nd->kids[j].ref;
    unsigned wr = ah_bytes_for(nd->count), wp = ah_bytes_for(max_ptr);
    const char *label = w->e[nd->lo].key + nd->d;
    buf_varint(b, nd->depth - nd->d);
    buf_put(b, label, nd->depth - nd->d);
    buf_varint(b, nd->count);
    buf_varint(b, nd->nk);
    unsigned char widths =
        (unsigned char)((wr - 1) | (wp - 1) << AH_NODE_WP_SHIFT | (hot ? AH_NODE_INLINE : 0));
    buf_put(b, &widths, 1);
    for (uint32_t j = 0; j < nd->nk; j++)
        buf_put(b, &nd->kids[j].byte, 1);
    for (uint32_t j = 0; j < nd->nk; j++)
        buf_uw(b, nd->kids[j].lo - nd->lo, wr);
    for (uint32_t j = 0; j < nd->nk; j++)
        buf_uw(b, nd->kids[j].ref == REF_LIGHT ? 0 : off - nd->kids[j].ref, wp);
    if (w->typo) {
        buf_t *look = &w->sec[AH_SEC_LOOK];
        uint64_t at = trie_len(w, TRIE_LOOK) / AH_LOOK_ENTRY_SIZE;
        if (at + nd->nk > UINT32_MAX)
            w->too_large = "lookahead masks over 4G entries";
        buf_uw(b, (uint32_t)at, 4);
        for (uint32_t j = 0; j < nd->nk; j++)
            ah_writer__look_put(
                look, ah_writer__look(key_at, w, nd->kids[j].lo, nd->kids[j].hi, nd->depth));
        stream_out(&w->trie_st[TRIE_LOOK], 0);
    }
    unsigned char list_len = (unsigned char)nd->ntop;
    buf_put(b, &list_len, 1);
    for (uint32_t j = 0; j < nd->ntop; j++)
        buf_uw(b, nd->top[j] - nd->lo, wr);
    for (uint32_t j = 0; hot && j < nd->ntop; j++) {
        buf_varint(b, w->class_of[nd->top[j]]);
        buf_varint(b, hot_text_at(w, nd->top[j]));
    }
    if (trie_len(w, TRIE_NODES) > UINT32_MAX)
        b->failed = 1;
    stream_out(&w->trie_st[TRIE_NODES], 0);
    w->inner_nodes++;
}

/*
 * Builds the node covering [lo, hi) whose label starts at depth d, after its
 * inner descendants (post-order). A cold node's record is written at once
 * and *ref is its offset; a hot node is kept in w->hot (records of hot nodes
 * go after every cold one, so the descent through them stays in one compact
 * region) and *ref is REF_HOT | its index. Stores the node's top-K rank keys
 * (ascending) in top and its summed score in *mass.
 */
static int build_node(writer_t *w, uint32_t lo, uint32_t hi, uint32_t d, uint32_t *ref,
                      uint64_t *top, uint32_t *ntop, uint64_t *mass)
{
    child_t *kids = malloc(256 * sizeof *kids);
    uint64_t *cand = malloc(((size_t)256 * w->topk + 1) * sizeof *cand);
    uint32_t *top_ids = malloc(w->topk * sizeof *top_ids);
    if (!kids || !cand || !top_ids) {
        free(kids);
        free(cand);
        free(top_ids);
        return AH_ENOMEM;
    }
    node_t nd = {.kids = kids, .top = top_ids};
    int terminal, rc = 0;
    ah_read_tick(&w->read, (w->nodes_read++) << (AH_READ_EVERY_LOG2 - 6)); /* every 64 */
    node_shape(w, lo, hi, d, &nd, &terminal);
    uint32_t nc = 0;
    uint64_t sum = 0;
    if (terminal) {
        cand[nc++] = rank_key(w, lo);
        sum = w->e[lo].score;
    }
    for (uint32_t j = 0; j < nd.nk && !rc; j++) {
        child_t *k = &kids[j];
        uint64_t m = 0;
        if (k->hi - k->lo > w->topk) {
            uint32_t got;
            rc = build_node(w, k->lo, k->hi, nd.depth + 1, &k->ref, cand + nc, &got, &m);
            nc += got;
        } else {
            for (uint32_t x = k->lo; x < k->hi; x++) {
                cand[nc++] = rank_key(w, x);
                m = add_sat(m, w->e[x].score);
            }
        }
        sum = add_sat(sum, m);
    }
    if (!rc) {
        qsort(cand, nc, sizeof *cand, cmp_u64);
        nd.ntop = *ntop = nc < w->topk ? nc : w->topk;
        memcpy(top, cand, *ntop * sizeof *top);
        for (uint32_t j = 0; j < nd.ntop; j++)
            top_ids[j] = (uint32_t)top[j];
        *mass = sum;
        int hot = (sum >= w->hot_mass && sum > 0) || (lo == 0 && hi == w->n && d == 0);
        if (!hot) {
            *ref = (uint32_t)trie_len(w, TRIE_NODES);
            encode_node(w, &nd, 0);
        } else if (w->n_hot == w->cap_hot) {
            size_t c = w->cap_hot ? w->cap_hot * 2 : 64;
            node_t *p = realloc(w->hot, c * sizeof *p);
            if (!p) {
                rc = AH_ENOMEM;
            } else {
                w->hot = p;
                w->cap_hot = c;
            }
        }
        if (hot && !rc) {
            /* Kept until every cold record is out; it owns kids and top_ids now, kids cut to
             * the children it has (room for 256 is 4 KB a node, millions of nodes at 10^8). */
            child_t *fit = realloc(kids, (nd.nk ? nd.nk : 1) * sizeof *kids);
            if (fit)
                nd.kids = kids = fit;
            *ref = REF_HOT | (uint32_t)w->n_hot;
            nd.mass = sum;
            w->hot[w->n_hot++] = nd;
            kids = NULL;
            top_ids = NULL;
        }
    }
    free(kids);
    free(cand);
    free(top_ids);
    return rc;
}

static int by_rank_key(const void *a, const void *b, void *ctx)
{
    const writer_t *w = ctx;
    uint64_t x = rank_key(w, *(const uint32_t *)a), y = rank_key(w, *(const uint32_t *)b);
    return x < y ? -1 : x > y;
}

/* A completion a hot node lists, and where its text is in HOT_TEXTS. */
typedef struct hot_text {
    uint32_t id, off;
} hot_text_t;

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The offset of hot completion id's text (it is one of w->hot_text, sorted by id). */
static uint32_t hot_text_at(const writer_t *w, uint32_t id)
{
    size_t lo = 0, hi = w->n_hot_text;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->hot_text[mid].id <= id)
            lo = mid;
        else
            hi = mid;
    }
    return w->hot_text[lo].off;
}

/*
 * HOT_TEXTS: every completion listed by a hot node, once, most popular
 * first; fills w->hot_text (a few per hot node, where an array over every
 * completion took 0.4 GB at 10^8). Returns 0, AH_ENOMEM or AH_EINVAL.
 */
static int encode_hot_texts(writer_t *w)
{
    size_t n = 0;
    uint32_t *ids = malloc((w->n_hot * (size_t)w->topk + 1) * sizeof *ids);
    for (size_t i = 0; ids && i < w->n_hot; i++)
        for (uint32_t j = 0; j < w->hot[i].ntop; j++)
            ids[n++] = w->hot[i].top[j];
    if (ids)
        qsort(ids, n, sizeof *ids, by_id);
    size_t distinct = 0;
    for (size_t i = 0; ids && i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            ids[distinct++] = ids[i];
    w->hot_text = ids ? malloc((distinct ? distinct : 1) * sizeof *w->hot_text) : NULL;
    if (!w->hot_text) {
        free(ids);
        return AH_ENOMEM;
    }
    w->n_hot_text = distinct;
    qsort_r(ids, distinct, sizeof *ids, by_rank_key, w);
    buf_t *b = &w->sec[AH_SEC_HOT_TEXTS];
    for (size_t i = 0; i < distinct; i++) {
        const ah_entry_t *e = &w->e[ids[i]];
        uint64_t at = trie_len(w, TRIE_HOT_TEXTS);
        w->hot_text[i] = (hot_text_t){ids[i], (uint32_t)at};
        buf_varint(b, e->text_len);
        buf_put(b, e->text, e->text_len);
        stream_out(&w->trie_st[TRIE_HOT_TEXTS], 0);
        if (at > UINT32_MAX)
            break;
    }
    free(ids);
    qsort(w->hot_text, distinct, sizeof *w->hot_text, by_id);
    return trie_len(w, TRIE_HOT_TEXTS) > UINT32_MAX ? AH_EINVAL : 0;
}

/*
 * The prefixes a table of AH_HOT_MAX_SLOTS slots holds at most: the table is
 * kept at most 70% full, so that probes stay short and a slot stays empty.
 */
#define HOT_MAX_PREFIXES ((AH_HOT_MAX_SLOTS * 7u - 7u) / 10u)

typedef struct hot_rank {
    uint64_t mass;
    uint32_t index; /* in w->hot, that is post-order */
} hot_rank_t;

static int by_mass_then_index(const void *a, const void *b)
{
    const hot_rank_t *x = a, *y = b;
    if (x->mass != y->mass)
        return x->mass > y->mass ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Which hot nodes enter HOT_SLOTS: chosen[i] is set for hot node i. Only the
 * hottest: a prefix that misses the table pays for the probe, and a table
 * that stays in the CPU's caches keeps that cheap (measured: a 256 KB table
 * over every hot node cost the slow lookups more than it saved the fast
 * ones). So at most AH_HOT_TABLE_NODES nodes, hottest first, ties broken by
 * post-order so that equal input gives equal bytes; and a node enters only
 * if its prefixes (one per byte of its label) still fit HOT_MAX_PREFIXES and
 * its path AH_HOT_MAX_PATHS. Nodes of equal mass (a log of many look-alike
 * groups) and long labels (keys that share hundreds of bytes) are thus cut
 * at the table's capacity, not beyond it. A node left out is still hot: its
 * prefixes descend the trie to it, as any miss does.
 */
static int choose_hot_table(const writer_t *w, unsigned char *chosen)
{
    hot_rank_t *rank = malloc((w->n_hot ? w->n_hot : 1) * sizeof *rank);
    if (!rank)
        return AH_ENOMEM;
    for (size_t i = 0; i < w->n_hot; i++)
        rank[i] = (hot_rank_t){.mass = w->hot[i].mass, .index = (uint32_t)i};
    qsort(rank, w->n_hot, sizeof *rank, by_mass_then_index);
    size_t nodes = 0, prefixes = 0, path_bytes = 0;
    memset(chosen, 0, w->n_hot);
    for (size_t r = 0; r < w->n_hot && nodes < AH_HOT_TABLE_NODES; r++) {
        const node_t *nd = &w->hot[rank[r].index];
        size_t need = (size_t)nd->depth - nd->d + 1;
        if (prefixes + need > HOT_MAX_PREFIXES || path_bytes + nd->depth > AH_HOT_MAX_PATHS)
            continue; /* a smaller node further down may still fit */
        chosen[rank[r].index] = 1;
        nodes++;
        prefixes += need;
        path_bytes += nd->depth;
    }
    free(rank);
    return 0;
}

/*
 * HOT_PATHS and HOT_SLOTS (format.h): for every hot node chosen for the
 * table, its path once, and a slot for each prefix length it answers, from
 * the byte after its parent's path to its own path's end. off[i]: hot node
 * i's record offset. Returns 0, AH_ENOMEM, or AH_EINVAL with *why when the
 * table would exceed the format's limits (which the choice rules out).
 */
static int encode_hot_prefixes(writer_t *w, const uint32_t *off, const char **why)
{
    typedef struct entry {
        uint32_t node, ref;
        uint64_t hash;
    } entry_t;
    buf_t *paths = &w->sec[AH_SEC_HOT_PATHS], *slots = &w->sec[AH_SEC_HOT_SLOTS];
    unsigned char *chosen = malloc(w->n_hot ? w->n_hot : 1);
    if (!chosen || choose_hot_table(w, chosen) != 0) {
        free(chosen);
        return AH_ENOMEM;
    }
    entry_t *e = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < w->n_hot; i++) {
        const node_t *nd = &w->hot[i];
        const char *path = w->e[nd->lo].key;
        if (!chosen[i])
            continue;
        uint32_t at = (uint32_t)paths->len;
        buf_put(paths, path, nd->depth);
        for (uint32_t l = nd->d; l <= nd->depth; l++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                entry_t *p = realloc(e, cap * sizeof *p);
                if (!p) {
                    free(e);
                    free(chosen);
                    return AH_ENOMEM;
                }
                e = p;
            }
            e[n++] = (entry_t){
                .node = off[i], .ref = at << AH_HOT_LEN_BITS | l, .hash = ah_hash64(0, path, l)};
        }
    }
    free(chosen);
    /* At most 70% full, so probes stay short and one slot at least is empty. */
    size_t count = 1;
    while (count * 7 < n * 10 + 7)
        count *= 2;
    if (count > AH_HOT_MAX_SLOTS || paths->len > AH_HOT_MAX_PATHS) {
        free(e);
        *why = "hot prefix table over the format's limits (a bug in choose_hot_table)";
        return AH_EINVAL;
    }
    unsigned char *table = n ? buf_grow(slots, count * AH_HOT_SLOT_SIZE) : NULL;
    if (table) {
        memset(table, 0xff, count * AH_HOT_SLOT_SIZE);
        for (size_t i = 0; i < n; i++) {
            size_t s = (size_t)(e[i].hash & (count - 1));
            while (ah_load_u32(table + s * AH_HOT_SLOT_SIZE) != AH_HOT_SLOT_EMPTY)
                s = (s + 1) & (count - 1);
            ah_store_u32(table + s * AH_HOT_SLOT_SIZE, e[i].node);
            ah_store_u32(table + s * AH_HOT_SLOT_SIZE + 4, e[i].ref);
        }
    }
    free(e);
    return n && !table ? AH_ENOMEM : 0;
}

/*
 * Writes the kept hot nodes after the cold ones, in post-order, then their
 * texts and prefix table; *root gets the root's offset. Returns 0,
 * AH_ENOMEM, or AH_EINVAL with *why.
 */
static int encode_hot_nodes(writer_t *w, uint32_t *root, const char **why)
{
    uint32_t *off = malloc((w->n_hot ? w->n_hot : 1) * sizeof *off);
    int rc = off ? encode_hot_texts(w) : AH_ENOMEM;
    if (rc) {
        free(off);
        if (rc == AH_EINVAL)
            *why = "hot answers' texts over 4 GiB";
        return rc;
    }
    for (size_t i = 0; i < w->n_hot; i++) {
        node_t *nd = &w->hot[i];
        for (uint32_t j = 0; j < nd->nk; j++)
            if (nd->kids[j].ref != REF_LIGHT && (nd->kids[j].ref & REF_HOT))
                nd->kids[j].ref = off[nd->kids[j].ref & ~REF_HOT];
        off[i] = *root = (uint32_t)trie_len(w, TRIE_NODES);
        encode_node(w, nd, 1);
    }
    rc = encode_hot_prefixes(w, off, why);
    free(off);
    return rc; /* the root is hot, and last in post-order */
}

static void free_hot_nodes(writer_t *w)
{
    for (size_t i = 0; i < w->n_hot; i++) {
        free(w->hot[i].kids);
        free(w->hot[i].top);
    }
    free(w->hot);
    w->hot = NULL;
    w->n_hot = w->cap_hot = 0;
}

static const unsigned trie_secs[] = {AH_SEC_NODES, AH_SEC_LOOK, AH_SEC_HOT_TEXTS, AH_SEC_HOT_PATHS,
                                     AH_SEC_HOT_SLOTS};
#define N_TRIE_SECS (sizeof trie_secs / sizeof *trie_secs)

/*
 * The main trie with hot_nodes hot nodes: NODES, LOOK and the hot sections
 * (spilled when done). top is room for AH_MAX_TOPK ranks.
 */
static int build_trie(writer_t *w, unsigned hot_nodes, uint64_t *top, uint32_t *root,
                      const char **why)
{
    static const unsigned streamed[N_TRIE_STREAMED] = {AH_SEC_NODES, AH_SEC_LOOK, AH_SEC_HOT_TEXTS};
    /* Regions that hold them at their largest: the records, a LOOK entry for each child
     * (an inner node or a key), a varint and the text of each completion at most. */
    const uint64_t pad = AH_SECTION_PAD + 8,
                   most[N_TRIE_STREAMED] = {ah_writer__nodes_most(w->n, w->key_bytes, w->topk) +
                                                pad,
                                            2 * AH_LOOK_ENTRY_SIZE * (uint64_t)w->n + pad,
                                            w->text_bytes + 5 * (uint64_t)w->n + pad};
    stream_t st[N_TRIE_STREAMED];
    for (unsigned i = 0; i < N_TRIE_STREAMED; i++) {
        st[i] = (stream_t){.w = w, .b = &w->sec[streamed[i]]};
        if (w->stream_tries && (i != TRIE_LOOK || w->typo))
            stream_begin(&st[i], w, &w->sec[streamed[i]], most[i]);
    }
    w->trie_st = st;
    uint64_t mass;
    uint32_t ref, ntop;
    int rc = choose_hot(w, hot_nodes);
    if (!rc)
        rc = build_node(w, 0, w->n, 0, &ref, top, &ntop, &mass);
    if (!rc)
        rc = encode_hot_nodes(w, root, why);
    free_hot_nodes(w);
    free(w->hot_text);
    w->hot_text = NULL;
    for (unsigned i = 0; !rc && i < N_TRIE_STREAMED; i++) {
        stream_out(&st[i], 1);
        stream_done(&st[i], streamed[i]);
    }
    w->trie_st = NULL;
    for (unsigned i = 0; !rc && i < N_TRIE_SECS; i++)
        spill_section(w, trie_secs[i]);
    return rc;
}

/* ------------------------------------------------------------ choseong */

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The distinct pairs of first consonants that the runs of the record at *p
 * begin with (a run of one has none), into pairs; moves *p past the
 * record. Records are the writer's own, so they parse.
 */
static unsigned record_pairs(const unsigned char **p, const unsigned char *end, uint16_t *pairs)
{
    uint64_t id;
    ah_varint_get(p, end, &id);
    unsigned runs = *(*p)++ & 0x7f, n = 0;
    for (unsigned r = 0; r < runs; r++) {
        unsigned len = *(*p)++;
        uint16_t pair = (uint16_t)((*p)[0] * 19 + (len > 1 ? (*p)[1] : 0));
        int seen = len < 2;
        for (unsigned j = 0; !seen && j < n; j++)
            seen = pairs[j] == pair;
        if (!seen)
            pairs[n++] = pair;
        *p += len;
    }
    return n;
}

/*
 * CHOSEONG (format.h): the initial-consonant runs of every key that has
 * one, a record per key in ranking order, into out (unpadded). Nothing
 * when no key has Hangul (a quick byte test passes over every other key).
 */
int ah_writer__choseong(const ah_entry_t *e, uint32_t n_keys, const uint32_t *class_of,
                        const ah_read_hook_t *read, buf_t *out)
{
    uint64_t *order = NULL;
    size_t n = 0, cap = 0;
    unsigned char run[255];
    uint32_t *starts = malloc((AH_MAX_KEY_BYTES / 2 + 1) * sizeof *starts);
    if (!starts)
        return AH_ENOMEM;
    for (uint32_t id = 0; id < n_keys; id++) {
        ah_read_tick(read, id);
        /* A leading consonant U+1100..U+1112 is E1 84 80..92 in UTF-8. */
        if (!memmem(e[id].key, e[id].key_len, "\xe1\x84", 2))
            continue;
        starts[0] = 0;
        size_t ns =
            1 + ah_match_word_starts(e[id].key, e[id].key_len, starts + 1, AH_MAX_KEY_BYTES / 2);
        int any = 0;
        for (size_t i = 0; !any && i < ns && i <= AH_MAX_KEY_BYTES / 2; i++)
            any = ah_match_initials(e[id].key, e[id].key_len, starts[i], run, 1, NULL) > 0;
        if (!any)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            uint64_t *p = realloc(order, cap * sizeof *order);
            if (!p) {
                free(order);
                free(starts);
                return AH_ENOMEM;
            }
            order = p;
        }
        order[n++] = (uint64_t)class_of[id] << 32 | id;
    }
    if (n > 1)
        qsort(order, n, sizeof *order, by_u64);
    /* The records, in ranking order. */
    buf_t rec = {0};
    for (size_t r = 0; r < n; r++) {
        uint32_t id = (uint32_t)order[r];
        starts[0] = 0;
        size_t ns =
            1 + ah_match_word_starts(e[id].key, e[id].key_len, starts + 1, AH_MAX_KEY_BYTES / 2);
        buf_varint(&rec, id);
        size_t head = rec.len;
        unsigned runs = 0, first = 0;
        buf_put(&rec, "", 1);
        for (size_t i = 0; i < ns && i <= AH_MAX_KEY_BYTES / 2 && runs < 127; i++) {
            size_t m =
                ah_match_initials(e[id].key, e[id].key_len, starts[i], run, sizeof run, NULL);
            if (m == 0)
                continue;
            first |= i == 0;
            runs++;
            unsigned char len = (unsigned char)m;
            buf_put(&rec, &len, 1);
            buf_put(&rec, run, m);
        }
        if (!rec.failed)
            rec.data[head] = (unsigned char)(runs | (first ? 0x80 : 0));
    }
    free(order);
    free(starts);
    /* The postings, read off the records: counted, then filled in the records' order. */
    uint32_t *count = calloc(AH_CHOSEONG_PAIRS + 1, sizeof *count);
    int rc = count && !rec.failed ? 0 : AH_ENOMEM;
    if (!rc && n > 0) {
        unsigned char le[4];
        ah_store_u32(le, (uint32_t)rec.len);
        buf_put(out, le, 4);
        buf_put(out, rec.data, rec.len);
        while (out->len % 4)
            buf_put(out, "", 1);
        uint16_t pairs[127];
        for (const unsigned char *p = rec.data, *end = p + rec.len; p < end;)
            for (unsigned j = 0, np = record_pairs(&p, end, pairs); j < np; j++)
                count[pairs[j]]++;
        uint32_t at = 0;
        for (unsigned p = 0; p <= AH_CHOSEONG_PAIRS; p++) {
            ah_store_u32(le, at);
            buf_put(out, le, 4);
            uint32_t c = p < AH_CHOSEONG_PAIRS ? count[p] : 0;
            count[p] = at; /* from here on: where the pair's next posting goes */
            at += c;
        }
        size_t base = out->len;
        if (!buf_grow(out, (size_t)at * 4))
            rc = AH_ENOMEM;
        for (const unsigned char *p = rec.data, *end = p + rec.len; !rc && p < end;) {
            uint32_t off = (uint32_t)(p - rec.data);
            for (unsigned j = 0, np = record_pairs(&p, end, pairs); j < np; j++)
                ah_store_u32(out->data + base + (size_t)count[pairs[j]]++ * 4, off);
        }
    }
    free(rec.data);
    free(count);
    return rc ? rc : out->failed ? AH_ENOMEM : 0;
}

static int encode_choseong(writer_t *w)
{
    buf_t *b = &w->sec[AH_SEC_CHOSEONG];
    int rc = ah_writer__choseong(w->e, w->n, w->class_of, &w->read, b);
    if (rc || b->len == 0)
        return rc;
    buf_pad(b);
    w->has_choseong = 1;
    return b->failed ? AH_ENOMEM : 0;
}

/* --------------------------------------------------------------- output */

/* The ids of the sections in the table, in order: 1..15, then the optional ones there are. */
static unsigned table_ids(const writer_t *w, unsigned *ids)
{
    unsigned n = 0;
    for (unsigned s = 1; s <= AH_SECTION_COUNT; s++)
        ids[n++] = s;
    if (w->has_contexts)
        ids[n++] = AH_SEC_CONTEXTS;
    if (w->has_choseong)
        ids[n++] = AH_SEC_CHOSEONG;
    if (w->has_fills)
        ids[n++] = AH_SEC_FILLS;
    return n;
}

/* A section's CRC and its link of the content id, taken piece by piece. */
typedef struct sums {
    uint32_t crc;
    ah_hash64_stream_t hash;
} sums_t;

static void add_to_sums(void *ctx, const unsigned char *p, size_t len)
{
    sums_t *sum = ctx;
    sum->crc = ah_crc32(sum->crc, p, len);
    ah_hash64_update(&sum->hash, p, len);
}

static int fill_header(writer_t *w, unsigned char *head, uint64_t file_size,
                       const ah_write_options_t *opt)
{
    unsigned max_text = opt->max_text_bytes;
    const ah_words_info_t *words = &w->words;
    ah_store_u32(head + AH_HDR_FLAGS,
                 (opt->no_words ? 0 : AH_FLAG_WORDS) | (w->typo ? AH_FLAG_TYPO : 0) |
                     (w->has_contexts ? AH_FLAG_CONTEXTS : 0) |
                     (w->has_choseong ? AH_FLAG_CHOSEONG : 0) | (w->has_fills ? AH_FLAG_FILLS : 0));
    ah_store_u32(head + AH_HDR_TYPO_DEPTH, w->typo ? w->gram_depth : 0);
    ah_store_u32(head + AH_HDR_GRAM_SLOTS, w->typo ? w->gram_slots : 0);
    ah_store_u32(head + AH_HDR_WORD_ENTRIES, words->entries);
    ah_store_u32(head + AH_HDR_WORD_NODES, words->inner_nodes);
    ah_store_u32(head + AH_HDR_WORD_ROOT, words->root);
    ah_store_u32(head + AH_HDR_WORD_LEAF, opt->word_leaf ? opt->word_leaf : AH_DEFAULT_WORD_LEAF);
    ah_store_u32(head + AH_HDR_ID_BITS, words->id_bits);
    ah_store_u32(head + AH_HDR_MAX_TEXT, max_text);
    memcpy(head + AH_HDR_MAGIC, AH_MAGIC, AH_MAGIC_LEN);
    ah_store_u32(head + AH_HDR_VERSION, AH_FORMAT_VERSION);
    ah_store_u32(head + AH_HDR_HEADER_SIZE, AH_HEADER_SIZE);
    ah_store_u64(head + AH_HDR_FILE_SIZE, file_size);
    ah_store_u32(head + AH_HDR_COUNT, w->n);
    ah_store_u32(head + AH_HDR_TOPK, w->topk);
    ah_store_u32(head + AH_HDR_BUCKET, w->bucket);
    ah_store_u32(head + AH_HDR_MAX_KEY, w->max_key);
    ah_store_u32(head + AH_HDR_INNER_NODES, w->inner_nodes);
    ah_store_u32(head + AH_HDR_CLASS_BITS, w->class_bits);
    ah_store_u32(head + AH_HDR_SCORE_COUNT, w->n_scores);
    ah_store_u32(head + AH_HDR_ROOT, w->root);
    ah_store_u64(head + AH_HDR_TOTAL_SCORE, w->total);
    unsigned ids[AH_SECTION_MAX], n_sec = table_ids(w, ids);
    ah_store_u32(head + AH_HDR_SECTION_COUNT, n_sec);
    uint64_t id = w->n_summed ? w->chain : ah_hash64(w->topk, &w->bucket, sizeof w->bucket);
    uint64_t off = AH_HEADER_SIZE + (uint64_t)(n_sec + w->table_room) * AH_SECTION_ENTRY_SIZE;
    for (unsigned i = 0; i < n_sec; i++) {
        unsigned s = ids[i];
        unsigned char *e = head + AH_HEADER_SIZE + i * AH_SECTION_ENTRY_SIZE;
        if (i >= w->n_summed) {
            sums_t sum = {0};
            ah_hash64_begin(&sum.hash, id, w->sec[s].len);
            int rc = section_bytes(w, s, add_to_sums, &sum);
            if (rc)
                return rc;
            w->sum_crc[s] = sum.crc;
            id = w->chain = ah_hash64_end(&sum.hash);
            w->n_summed = i + 1;
        }
        ah_store_u32(e + AH_SEC_ID, s);
        ah_store_u32(e + AH_SEC_CRC, w->sum_crc[s]);
        ah_store_u64(e + AH_SEC_OFFSET, off);
        ah_store_u64(e + AH_SEC_LENGTH, w->sec[s].len);
        off += w->sec[s].len;
    }
    ah_store_u64(head + AH_HDR_CONTENT_ID, id);
    return 0;
}

/* An unused entry of the section table: the room a draft keeps for FILLS' entry. */
static const unsigned char zero_entry[AH_SECTION_ENTRY_SIZE];

/*
 * The header and section table for the sections there are, checksums and
 * content id included; the sections start w->table_room entries after the
 * table (zeros there).
 */
static int seal(writer_t *w, const ah_write_options_t *opt, unsigned char *head, size_t *head_len)
{
    unsigned ids[AH_SECTION_MAX], n_sec = table_ids(w, ids);
    *head_len = AH_HEADER_SIZE + (size_t)n_sec * AH_SECTION_ENTRY_SIZE;
    memset(head, 0, *head_len);
    uint64_t size = *head_len + (uint64_t)w->table_room * AH_SECTION_ENTRY_SIZE;
    for (unsigned i = 0; i < n_sec; i++)
        size += w->sec[ids[i]].len;
    int rc = fill_header(w, head, size, opt);
    if (rc)
        return rc;
    /* Body CRC: the table, then the sections (their CRCs are in the table), in file order. */
    uint32_t body = ah_crc32(0, head + AH_HEADER_SIZE, *head_len - AH_HEADER_SIZE);
    for (unsigned i = 0; i < w->table_room; i++)
        body = ah_crc32(body, zero_entry, sizeof zero_entry);
    for (unsigned i = 0; i < n_sec; i++)
        body = ah_crc32_combine(
            body, ah_load_u32(head + AH_HEADER_SIZE + i * AH_SECTION_ENTRY_SIZE + AH_SEC_CRC),
            w->sec[ids[i]].len);
    ah_store_u32(head + AH_HDR_BODY_CRC, body);
    ah_store_u32(head + AH_HDR_HEADER_CRC, ah_crc32(0, head, AH_HDR_HEADER_CRC));
    return 0;
}

static void write_piece(void *ctx, const unsigned char *p, size_t len)
{
    ah_outfile_write(ctx, p, len);
}

/* Writes header+table and the sections to a file that replaces path whole (outfile.h). */
static int write_file(writer_t *w, const char *path, unsigned char *head, size_t head_len,
                      ah_write_info_t *info, char *err, size_t errlen)
{
    ah_outfile_t f;
    int rc = ah_outfile_open(&f, path, err, errlen);
    if (rc)
        return rc;
    ah_outfile_write(&f, head, head_len);
    unsigned ids[AH_SECTION_MAX], n_sec = table_ids(w, ids);
    for (unsigned i = 0; i < n_sec && !f.failed_errno; i++)
        if (section_bytes(w, ids[i], write_piece, &f) != 0 && !f.failed_errno)
            f.failed_errno = EIO; /* the side file would not read back: commit says so */
    rc = ah_outfile_commit(&f, err, errlen);
    if (!rc)
        info->stale_temps_removed = ah_outfile_sweep(path);
    return rc;
}

/*
 * The word-start index, built on a thread of its own (it reads the entries
 * and classes only); then that thread shares the gram table's depths with
 * the main thread, which joins in once the trie is written. Under a memory
 * budget too small for its suffixes beside the main trie and the gram
 * table's strings, it waits (words_later) until both are done.
 */
typedef struct words_job {
    const ah_entry_t *e;
    writer_t *w;
    unsigned leaf;
    size_t memory; /* for the word starts' suffixes at once (0: no bound) */
    int words, words_later;
    int near; /* small leaves a level deeper (spend_room() may build it again without) */
    ah_words_info_t info;
    int rc;
} words_job_t;

/* A section streamed to the side file as it is made (ah_section_out_t). */
typedef struct section_stream {
    stream_t st;  /* its w and b set before the build */
    uint64_t len; /* the section's length, unpadded, once section_end() */
} section_stream_t;

static void section_begin(void *ctx, uint64_t most)
{
    section_stream_t *ss = ctx;
    stream_begin(&ss->st, ss->st.w, ss->st.b, most + AH_SECTION_PAD + 8);
}

static uint64_t section_flush(void *ctx)
{
    section_stream_t *ss = ctx;
    stream_out(&ss->st, 0);
    return ss->st.streamed;
}

/* The section is made: the rest of it goes to the side file, padded, if it is streamed. */
static void section_end(section_stream_t *ss)
{
    ss->len = stream_len(&ss->st);
    stream_out(&ss->st, 1);
}

static const unsigned word_secs[] = {AH_SEC_WORD_NODES, AH_SEC_WORD_ENTRIES, AH_SEC_WORD_LOOK};

/*
 * Builds a word-start trie into secs[0..3) (word_secs' order): WORD_ENTRIES
 * streamed whenever there is a side file, the others under a memory budget.
 */
static int build_words(writer_t *w, unsigned leaf, int near, size_t memory, buf_t *secs,
                       section_stream_t *ss, ah_words_info_t *info)
{
    ah_section_out_t out[3];
    for (unsigned i = 0; i < 3; i++) {
        ss[i] = (section_stream_t){.st = {.w = w, .b = &secs[i]}};
        out[i] = (ah_section_out_t){section_begin, section_flush, &ss[i]};
    }
    ah_words_outs_t outs = {w->stream_tries ? &out[0] : NULL, &out[1],
                            w->stream_tries ? &out[2] : NULL};
    int rc =
        ah_writer__words(w->e, w->n, w->class_of, w->topk, leaf, near, memory, w->entries_on_disk,
                         &w->read, &secs[0], &secs[1], &outs, w->typo ? &secs[2] : NULL, info);
    for (unsigned i = 0; i < 3 && !rc; i++)
        section_end(&ss[i]);
    return rc;
}

/* Gives back the word-start trie's sections, to build it again. */
static void drop_words(writer_t *w)
{
    for (unsigned i = 0; i < 3; i++) {
        unsigned s = word_secs[i];
        free(w->sec[s].data);
        if (w->spilled[s])
            side_punch(w, w->side_off[s], w->sec[s].len);
        w->sec[s] = (buf_t){0};
        w->spilled[s] = 0;
    }
}

/*
 * Builds the word-start trie into w's sections, with small leaves a level
 * deeper when job->near (spend_room() decides whether they stay); one too
 * large for its offsets that way is built again without them.
 */
static void make_words(words_job_t *j)
{
    writer_t *w = j->w;
    section_stream_t ss[3];
    buf_t secs[3] = {{0}};
    j->rc = build_words(w, j->leaf, j->near, j->memory, secs, ss, &j->info);
    for (unsigned i = 0; i < 3; i++) {
        unsigned s = word_secs[i];
        w->sec[s] = secs[i];
        if (!j->rc) {
            stream_done(&ss[i].st, s);
            spill_section(w, s);
        }
    }
    if (j->rc == AH_EINVAL && j->near) {
        drop_words(w);
        j->near = 0;
        make_words(j);
    }
    w->words_near = j->near && !j->rc;
}

static void *words_main(void *arg)
{
    words_job_t *j = arg;
    if (j->words && !j->words_later)
        make_words(j);
    if (j->w->grams)
        ah_writer__grams_work(j->w->grams);
    return NULL;
}

/*
 * What ah_write_options_t.size_budget measures. The sizes are the
 * sections' as they will be written, padding included; the exact index
 * alone is what no_words, no_typo and no fills would write: the exact
 * sections, and node records without their look fields (4 bytes each).
 */
static uint64_t section_size(const writer_t *w, unsigned s)
{
    uint64_t len = w->sec[s].len;
    return w->spilled[s] ? len : len + AH_SECTION_PAD + 7;
}

static uint64_t exact_size(const writer_t *w)
{
    static const unsigned exact[] = {
        AH_SEC_SCORES,  AH_SEC_KEYS,      AH_SEC_KEY_INDEX, AH_SEC_CLASSES,   AH_SEC_NODES,
        AH_SEC_DISPLAY, AH_SEC_HOT_TEXTS, AH_SEC_HOT_PATHS, AH_SEC_HOT_SLOTS, AH_SEC_CHOSEONG};
    uint64_t sum = 0;
    for (unsigned i = 0; i < sizeof exact / sizeof *exact; i++)
        sum += w->sec[exact[i]].len ? section_size(w, exact[i]) : 0;
    return sum - (w->typo ? 4 * (uint64_t)w->inner_nodes : 0);
}

/* The most FILLS can take for want prefixes: slots, entry heads, K - 1 varint ids. */
static uint64_t fills_bound(size_t want, uint32_t n, unsigned topk)
{
    unsigned char tmp[10];
    uint64_t per = 4 * 4 / 3 + 1 + 7 + (uint64_t)(topk - 1) * ah_varint_put(tmp, (uint64_t)n << 3);
    return want ? 8 + want * per + AH_SECTION_PAD + 7 : 0;
}

static size_t fills_wanted(const ah_write_options_t *opt, size_t n)
{
    size_t share = n / AH_FILLS_AUTO_SHARE;
    if (opt->fills == AH_FILLS_AUTO)
        return share > AH_FILLS_AUTO_MIN ? share : AH_FILLS_AUTO_MIN;
    return opt->fills > 0 ? (size_t)opt->fills : 0;
}

/* What the gram table takes written to depth (unwritten: both sections padded). */
static uint64_t grams_size(const writer_t *w, unsigned depth)
{
    return w->grams ? ah_writer__grams_bytes(w->grams, depth) + 2 * (AH_SECTION_PAD + 7) : 0;
}

/*
 * The snapshot's sections as they stand, but CONTEXTS, with FILLS at their
 * largest and the gram table, when not yet written, at w->gram_depth.
 */
static uint64_t planned_size(const writer_t *w, const ah_write_options_t *opt)
{
    uint64_t total = fills_bound(fills_wanted(opt, w->n), w->n, w->topk);
    total += grams_size(w, w->gram_depth);
    for (unsigned s = 1; s <= AH_SECTION_MAX; s++)
        if (s != AH_SEC_CONTEXTS && s != AH_SEC_FILLS && w->sec[s].len)
            total += section_size(w, s);
    return total;
}

/* The main trie as it was, while another with more hot nodes is built. */
typedef struct trie_stash {
    buf_t sec[N_TRIE_SECS];
    unsigned char spilled[N_TRIE_SECS];
    uint64_t off[N_TRIE_SECS];
    uint32_t inner_nodes;
} trie_stash_t;

static void stash_trie(writer_t *w, trie_stash_t *t)
{
    for (unsigned i = 0; i < N_TRIE_SECS; i++) {
        unsigned s = trie_secs[i];
        t->sec[i] = w->sec[s];
        t->spilled[i] = w->spilled[s];
        t->off[i] = w->side_off[s];
        w->sec[s] = (buf_t){0};
        w->spilled[s] = 0;
    }
    t->inner_nodes = w->inner_nodes;
    w->inner_nodes = 0;
}

/* Keeps the new trie (and frees the stashed one) or puts the stashed one back. */
static void unstash_trie(writer_t *w, trie_stash_t *t, int keep)
{
    for (unsigned i = 0; i < N_TRIE_SECS; i++) {
        unsigned s = trie_secs[i];
        free(keep ? t->sec[i].data : w->sec[s].data);
        if (keep && t->spilled[i])
            side_punch(w, t->off[i], t->sec[i].len);
        else if (!keep && w->spilled[s])
            side_punch(w, w->side_off[s], w->sec[s].len);
        if (!keep) {
            w->sec[s] = t->sec[i];
            w->spilled[s] = t->spilled[i];
            w->side_off[s] = t->off[i];
        }
    }
    if (!keep)
        w->inner_nodes = t->inner_nodes;
}

/*
 * What opt->size_budget allows a snapshot with the typo index beyond the
 * defaults' sections (an exact one stays as it is: its size is the
 * measure), against the exact index as it stands, the fills at their
 * largest. The word-start trie was built with small leaves a level deeper
 * (writer_words.c), which typo passes over phrases read far fewer keys
 * through: they stay when the snapshot is within the budget, or would be
 * without the gram table's deepest level, which is then given up for them
 * (on npm-downloads the misspelled prefixes' p99 is 0.85x with both
 * changes, 1.19x with the shallower table alone: bench/RESULTS.md); else
 * the trie is built again with leaves of the usual size. Built first, they
 * cost no time where they stay (es-ngrams, subtlex-us, npm-downloads),
 * the time of a second trie where they do not (data/sample.tsv, a few
 * milliseconds). Then opt->hot_nodes_room hot nodes, which answer more
 * keystrokes inline, kept when they fit too, and not built when the room
 * is under 64 bytes per added hot node (about 125 on es-ngrams). The side
 * file gives back the regions of the sections that are replaced, or of a
 * candidate that is not kept.
 */
static int spend_room(writer_t *w, words_job_t *job, const ah_write_options_t *opt, uint64_t *top,
                      uint32_t *root)
{
    double budget = opt->size_budget * (double)exact_size(w);
    double over = (double)planned_size(w, opt) - budget;
    if (w->words_near && over > 0) {
        uint64_t deepest =
            w->grams ? grams_size(w, w->gram_depth) - grams_size(w, w->gram_depth - 1) : 0;
        if (over <= (double)deepest) {
            w->gram_depth--;
        } else {
            drop_words(w);
            job->near = 0;
            make_words(job);
            if (job->rc)
                return job->rc;
        }
    }
    double room = budget - (double)planned_size(w, opt);
    if (opt->hot_nodes_room <= opt->hot_nodes ||
        room < 64.0 * (opt->hot_nodes_room - opt->hot_nodes))
        return 0;
    trie_stash_t old = {0};
    stash_trie(w, &old);
    uint32_t new_root = 0;
    const char *why = NULL;
    int rc = build_trie(w, opt->hot_nodes_room, top, &new_root, &why);
    for (unsigned i = 0; i < N_TRIE_SECS; i++)
        if (w->sec[trie_secs[i]].failed && !rc)
            rc = AH_ENOMEM;
    int keep = !rc && (double)planned_size(w, opt) <= budget;
    unstash_trie(w, &old, keep);
    if (keep) {
        *root = new_root;
        w->hot_more = 1;
    }
    return rc == AH_ENOMEM ? rc : 0; /* AH_EINVAL, too large: the first one fits */
}

static int check_input(const ah_entry_t *e, size_t n, const ah_write_options_t *opt, char *err,
                       size_t errlen)
{
    if (n == 0)
        return fail(err, errlen, AH_EINVAL, "no completions to write");
    if (n >= UINT32_MAX)
        return fail(err, errlen, AH_EINVAL, "too many completions (%zu)", n);
    if (opt->topk < 1 || opt->topk > AH_MAX_TOPK || opt->bucket_size > AH_MAX_BUCKET ||
        (opt->bucket_size & (opt->bucket_size - 1)) != 0 || opt->max_text_bytes < 1 ||
        opt->max_text_bytes > AH_MAX_TEXT_BYTES || opt->word_leaf > AH_MAX_WORD_LEAF)
        return fail(err, errlen, AH_EINVAL, "option out of range");
    ah_read_hook_t read = {opt->entries_read, opt->entries_read_ctx};
    for (size_t i = 0; i < n; i++) {
        ah_read_tick(&read, i);
        if (e[i].key_len == 0 || e[i].key_len > AH_MAX_KEY_BYTES || e[i].text_len == 0 ||
            e[i].text_len > opt->max_text_bytes)
            return fail(err, errlen, AH_EINVAL, "entry %zu: empty or over-long key or text", i);
        if (i > 0) {
            const ah_entry_t *p = &e[i - 1];
            size_t m = p->key_len < e[i].key_len ? p->key_len : e[i].key_len;
            int c = memcmp(p->key, e[i].key, m);
            if (c > 0 || (c == 0 && p->key_len >= e[i].key_len))
                return fail(err, errlen, AH_EINVAL, "entry %zu: keys not strictly increasing", i);
        }
    }
    return 0;
}

static void free_sections(writer_t *w)
{
    for (unsigned s = 1; s <= AH_SECTION_MAX; s++) {
        free(w->sec[s].data);
        w->sec[s] = (buf_t){0};
    }
}

/* The header and section table of a snapshot: the most they take. */
#define HEAD_MAX (AH_HEADER_SIZE + AH_SECTION_MAX * AH_SECTION_ENTRY_SIZE)

/*
 * Encodes the entries into w->sec (w->sec[AH_SEC_CONTEXTS] already filled
 * when w->has_contexts says so) and their header and section table into head
 * (*head_len bytes). On success the caller writes head and the sections
 * and frees them with free_sections(); on failure they are freed here.
 */
static int build(writer_t *w, const ah_entry_t *entries, size_t n, const ah_write_options_t *opt,
                 unsigned char *head, size_t *head_len, char *err, size_t errlen)
{
    int rc = check_input(entries, n, opt, err, errlen);
    if (rc) {
        free_sections(w);
        return rc;
    }
    w->e = entries;
    w->n = (uint32_t)n;
    w->read = (ah_read_hook_t){opt->entries_read, opt->entries_read_ctx};
    w->entries_on_disk = opt->entries_on_disk;
    w->stream_tries = opt->memory != 0;
    w->stream_chunk = !opt->memory || opt->memory / 256 > STREAM_CHUNK_MOST ? STREAM_CHUNK_MOST
                      : opt->memory / 256 < STREAM_CHUNK_LEAST              ? STREAM_CHUNK_LEAST
                                                                            : opt->memory / 256;
    w->topk = opt->topk;
    w->bucket = opt->bucket_size ? opt->bucket_size : AH_DEFAULT_BUCKET;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        ah_read_tick(&w->read, i);
        total = entries[i].score > UINT64_MAX - total ? UINT64_MAX : total + entries[i].score;
        w->key_bytes += entries[i].key_len;
        w->text_bytes += entries[i].text_len;
    }

    uint32_t root = 0;
    uint64_t *top = malloc(AH_MAX_TOPK * sizeof *top);
    unsigned class_bits = 1;
    w->total = total;
    rc = top ? compute_classes(w) : AH_ENOMEM;
    /* The word-start index needs only the keys and their classes: it is built beside the rest. */
    w->typo = !opt->no_typo;
    w->gram_depth = AH_GRAM_DEPTH;
    words_job_t job = {.e = entries,
                       .w = w,
                       .leaf = opt->word_leaf ? opt->word_leaf : AH_DEFAULT_WORD_LEAF,
                       .words = !opt->no_words,
                       .near = !opt->no_words && w->typo && opt->size_budget > 0,
                       .info = {.id_bits = ah_bits_for(w->n - 1) ? ah_bits_for(w->n - 1) : 1}};
    /* Under a memory budget the gram table keeps what it has over every string in a file. */
    int scratch_fd = w->typo && opt->memory && w->path ? open_beside(w->path) : -1;
    w->scratch_fd = scratch_fd;
    if (!rc && w->typo)
        rc = ah_writer__grams_begin(&w->grams, entries, w->n, job.words, AH_GRAM_DEPTH, opt->memory,
                                    scratch_fd, &w->read);
    /* The word starts' suffixes beside the rest only when they fit half the memory budget. */
    job.words_later = !rc && job.words && opt->memory &&
                      16 * ah_writer__word_starts(entries, w->n, &w->read) > opt->memory / 2;
    /* Then in parts of half the budget (the rest is done), else beside the rest in quarters. */
    job.memory = opt->memory / (job.words_later ? 2 : 4);
    pthread_t words_thread;
    int threaded = 0, side = (job.words && !job.words_later) || w->typo;
    if (!rc && side)
        threaded = pthread_create(&words_thread, NULL, words_main, &job) == 0;
    if (!rc) {
        class_bits = ah_bits_for(w->n_scores - 1) ? ah_bits_for(w->n_scores - 1) : 1;
        encode_keys(w);
        encode_classes(w, class_bits);
        rc = encode_choseong(w);
    }
    static const unsigned first_done[] = {AH_SEC_SCORES, AH_SEC_KEYS, AH_SEC_KEY_INDEX,
                                          AH_SEC_DISPLAY, AH_SEC_CLASSES};
    for (unsigned i = 0; !rc && i < sizeof first_done / sizeof *first_done; i++)
        spill_section(w, first_done[i]);
    const char *why = NULL; /* the cause of an AH_EINVAL from here on */
    if (!rc)
        rc = build_trie(w, opt->hot_nodes, top, &root, &why);
    if (w->grams && threaded)
        ah_writer__grams_work(w->grams); /* the trie is done: help with the depths left */
    if (threaded)
        pthread_join(words_thread, NULL);
    else if (!rc && side)
        words_main(&job); /* no thread to be had: build them here */
    if (!rc && job.rc) {
        rc = job.rc;
        why = "word-start index too large";
    }
    if (!rc && job.words_later) {
        job.words_later = 0;
        words_main(&job);
        if (job.rc) {
            rc = job.rc;
            why = "word-start index too large";
        }
    }
    /* The gram table is written once spend_room() has chosen its depth. */
    if (!rc && opt->size_budget > 0 && w->typo) {
        rc = spend_room(w, &job, opt, top, &root);
        why = rc == AH_ENOMEM ? "out of memory" : rc ? "word-start index too large" : why;
    }
    uint32_t gram_slots = 0;
    if (w->grams) {
        section_stream_t blocks = {.st = {.w = w, .b = &w->sec[AH_SEC_GRAM_BLOCKS]}};
        ah_section_out_t blocks_out = {section_begin, section_flush, &blocks};
        int grc =
            ah_writer__grams_end(w->grams, w->gram_depth, rc ? NULL : &w->sec[AH_SEC_GRAM_SLOTS],
                                 &w->sec[AH_SEC_GRAM_BLOCKS], &blocks_out, &gram_slots);
        if (!rc && grc == AH_EIO) {
            w->stream_errno = errno;
            why = "the typo index's temporary file";
        } else if (!rc && grc) {
            why = "typo index too large";
        }
        rc = rc ? rc : grc;
        if (!rc) {
            section_end(&blocks);
            stream_done(&blocks.st, AH_SEC_GRAM_BLOCKS);
            spill_section(w, AH_SEC_GRAM_SLOTS);
            spill_section(w, AH_SEC_GRAM_BLOCKS);
        }
        w->grams = NULL;
    }
    if (scratch_fd >= 0)
        close(scratch_fd);
    w->scratch_fd = -1;
    w->words = job.info;
    if (!rc && w->stream_errno) {
        rc = AH_EIO;
        why = "reading back a temporary file beside the output";
    }
    for (unsigned s = 1; s <= AH_SECTION_COUNT; s++) {
        if (!w->spilled[s])
            buf_pad(&w->sec[s]);
        if (w->sec[s].failed && !rc)
            rc = AH_ENOMEM; /* buffers fail only to allocate, or to stream (above) */
    }
    if (!rc && (w->too_large || w->sec[AH_SEC_KEYS].len > UINT32_MAX)) {
        rc = AH_EINVAL;
        why = w->too_large ? w->too_large : "keys over 4 GiB";
    }
    free(w->class_of);
    free(top);
    if (rc) {
        free_sections(w);
        return fail(err, errlen, rc, "%s%s%s",
                    rc == AH_ENOMEM ? "out of memory"
                    : why           ? why
                                    : "input too large",
                    rc == AH_EIO ? ": " : "", rc == AH_EIO ? strerror(w->stream_errno) : "");
    }
    w->class_bits = class_bits;
    w->root = root;
    w->gram_slots = gram_slots;
    rc = seal(w, opt, head, head_len);
    if (rc) {
        free_sections(w);
        return fail(err, errlen, rc, "reading back a temporary file: %s", strerror(errno));
    }
    return 0;
}

/*
 * The CONTEXTS section (format.h): each context's snapshot built in memory
 * with the whole's options, one after the other, behind the directory.
 */
/* Is entry x one of e[0..n) (sorted by key), with its text and at most its score? */
static int member_of(const ah_entry_t *e, size_t n, const ah_entry_t *x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c =
            memcmp(e[mid].key, x->key, e[mid].key_len < x->key_len ? e[mid].key_len : x->key_len);
        if (c == 0 && e[mid].key_len == x->key_len)
            return e[mid].text_len == x->text_len &&
                   memcmp(e[mid].text, x->text, x->text_len) == 0 && x->score > 0 &&
                   x->score <= e[mid].score;
        if (c < 0 || (c == 0 && e[mid].key_len < x->key_len))
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int build_contexts(buf_t *out, const ah_entry_t *entries, size_t n,
                          const ah_write_options_t *opt, char *err, size_t errlen)
{
    size_t m = opt->n_contexts;
    if (m > AH_MAX_CONTEXTS)
        return fail(err, errlen, AH_EINVAL, "%zu context values, more than the %u a snapshot holds",
                    m, AH_MAX_CONTEXTS);
    size_t dir = 8 + m * AH_CONTEXT_ENTRY_SIZE, values = 0;
    for (size_t c = 0; c < m; c++) {
        const ah_write_context_t *x = &opt->contexts[c];
        if (x->value_len == 0 || x->value_len > AH_MAX_CONTEXT_BYTES || x->n == 0)
            return fail(err, errlen, AH_EINVAL, "context %zu: empty or over-long value, or empty",
                        c);
        for (size_t i = 0; i < x->n; i++)
            if (!member_of(entries, n, &x->entries[i]))
                return fail(err, errlen, AH_EINVAL,
                            "context %zu, entry %zu: not one of the completions (key, text), or "
                            "a score of 0 or above the completion's",
                            c, i);
        if (c > 0) {
            const ah_write_context_t *p = &opt->contexts[c - 1];
            size_t k = p->value_len < x->value_len ? p->value_len : x->value_len;
            int cmp = memcmp(p->value, x->value, k);
            if (cmp > 0 || (cmp == 0 && p->value_len >= x->value_len))
                return fail(err, errlen, AH_EINVAL, "context %zu: values not strictly increasing",
                            c);
        }
        values += x->value_len;
    }
    unsigned char *p = buf_grow(out, dir + values + (8 - values % 8) % 8);
    if (!p)
        return fail(err, errlen, AH_ENOMEM, "out of memory");
    memset(p, 0, dir + values + (8 - values % 8) % 8);
    ah_store_u32(p, (uint32_t)m);
    for (size_t c = 0, at = dir; c < m; at += opt->contexts[c].value_len, c++) {
        ah_store_u32(out->data + 8 + c * AH_CONTEXT_ENTRY_SIZE + 16, (uint32_t)at);
        ah_store_u32(out->data + 8 + c * AH_CONTEXT_ENTRY_SIZE + 20, opt->contexts[c].value_len);
        memcpy(out->data + at, opt->contexts[c].value, opt->contexts[c].value_len);
    }
    ah_write_options_t one = *opt;
    one.contexts = NULL;
    one.n_contexts = 0;
    for (size_t c = 0; c < m; c++) {
        const ah_write_context_t *x = &opt->contexts[c];
        /*
         * A small context's trie is walked whole in microseconds: the typo
         * index would cost it more bytes than its keys (the gram table's
         * slots and blocks, about 110 bytes a completion in contexts of
         * tens). Hot nodes scale with n, as the builder's default does.
         */
        one.no_typo = opt->no_typo || x->n < AH_CONTEXT_TYPO_MIN;
        one.hot_nodes = x->n / 256 < opt->hot_nodes ? (unsigned)(x->n / 256) : opt->hot_nodes;
        one.hot_nodes_room = 0;
        writer_t cw = {.scratch_fd = -1};
        unsigned char head[HEAD_MAX];
        size_t head_len;
        char why[200];
        int rc = build(&cw, x->entries, x->n, &one, head, &head_len, why, sizeof why);
        if (rc)
            return fail(err, errlen, rc, "context \"%.*s\": %s", (int)x->value_len, x->value, why);
        uint64_t start = out->len;
        buf_put(out, head, head_len);
        unsigned ids[AH_SECTION_MAX], n_sec = table_ids(&cw, ids);
        for (unsigned i = 0; i < n_sec; i++)
            buf_put(out, cw.sec[ids[i]].data, cw.sec[ids[i]].len);
        free_sections(&cw);
        unsigned char *e = out->failed ? NULL : out->data + 8 + c * AH_CONTEXT_ENTRY_SIZE;
        if (!e)
            return fail(err, errlen, AH_ENOMEM, "out of memory");
        ah_store_u64(e, start);
        ah_store_u64(e + 8, out->len - start);
    }
    buf_pad(out);
    return out->failed ? fail(err, errlen, AH_ENOMEM, "out of memory") : 0;
}

int ah_snapshot_precheck(const ah_entry_t *e, size_t n, char *err, size_t errlen)
{
    /* Lower bounds of what must be stored: a key stores at least its bytes after the part it
     * shares with the one before, a display text that differs from its key all of its bytes. */
    uint64_t keys = 0, display = 0;
    for (size_t i = 0; i < n; i++) {
        keys += e[i].key_len - (i > 0 ? shared_len(&e[i - 1], &e[i]) : 0);
        if (!same_bytes(e[i].key, e[i].key_len, e[i].text, e[i].text_len))
            display += e[i].text_len;
    }
    const char *what = n >= UINT32_MAX        ? "completions"
                       : keys > UINT32_MAX    ? "bytes of keys"
                       : display > UINT32_MAX ? "bytes of display texts"
                                              : NULL;
    if (!what)
        return 0;
    uint64_t have = n >= UINT32_MAX ? n : keys > UINT32_MAX ? keys : display;
    return fail(err, errlen, AH_EINVAL,
                "too large for one snapshot: %zu completions need at least %" PRIu64
                " %s, and the format holds at most %" PRIu32 "; build one snapshot per range "
                "of first characters (docs/building.md, How big one snapshot can be)",
                n, have, what, UINT32_MAX - 1);
}

/*
 * The draft is written in aligned pieces of this size: the page cache keeps
 * one write's bytes as one folio, which a fault maps whole, and the fills'
 * walks read the draft at random, so that megabyte folios had 64 walks map
 * 2 GB of a 5.3 GB draft between two drops of its pages (10^8 completions).
 */
#define DRAFT_PIECE (64u << 10)

/* Appends bytes to a side file at its end (the draft of add_fills); a short write sticks. */
static void draft_piece(void *ctx, const unsigned char *p, size_t len)
{
    side_file_t *f = ctx;
    while (len > 0 && f->size != UINT64_MAX) {
        size_t room = DRAFT_PIECE - (size_t)(f->size % DRAFT_PIECE);
        ssize_t got = pwrite(f->fd, p, len < room ? len : room, (off_t)f->size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            f->error = got < 0 ? errno : ENOSPC;
            f->size = UINT64_MAX;
            break;
        }
        p += got;
        len -= (size_t)got;
        f->size += (uint64_t)got;
    }
}

/*
 * After the draft (at head_len on, its sections ids[0..n) in order) is
 * written: it holds every section, so the rest of the write reads them
 * there, and the side file, as large, goes, with the sections still in
 * memory (10^8 completions: 5.3 GB of disk and 0.2 GB less through the fills).
 */
static void read_from_draft(writer_t *w, side_file_t *draft, const unsigned *ids, unsigned n,
                            uint64_t head_len)
{
    uint64_t at = head_len;
    for (unsigned i = 0; i < n; i++) {
        unsigned s = ids[i];
        if (!w->spilled[s]) {
            free(w->sec[s].data);
            w->sec[s].data = NULL;
            w->sec[s].cap = 0;
            w->spilled[s] = 1;
        }
        w->side_off[s] = at;
        at += w->sec[s].len;
    }
    side_close(w->side);
    w->side = draft;
}

/*
 * FILLS (format.h): the most popular prefixes with a short exact answer
 * are chosen from the entries; the snapshot as sealed so far is written to
 * the output's temporary file (ah_outfile_open) and opened, so that each
 * prefix's fill is found by the lookup's own walk over these very bytes;
 * then the section joins the others and the header is sealed again. The
 * draft's table has room for FILLS' entry, so its sections are where the
 * snapshot has them: finish_draft() adds FILLS at its end and the header
 * at its start, and the draft becomes the snapshot (10^8 completions:
 * 5.3 GB neither copied nor written twice on disk).
 */
static int add_fills(writer_t *w, const char *path, const ah_entry_t *e, size_t n,
                     const ah_write_options_t *opt, unsigned char *head, size_t *head_len,
                     char *err, size_t errlen)
{
    size_t want = fills_wanted(opt, n);
    if (want == 0)
        return 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ah_fill_prefix_t *p;
    size_t m;
    int rc = ah_writer__fill_choose(e, (uint32_t)n, w->topk, want, &w->read, &p, &m);
    if (rc || m == 0) {
        free(p);
        return rc ? fail(err, errlen, rc, "out of memory") : 0;
    }
    side_file_t *draft = side_of_fd(-1);
    if (!draft) {
        free(p);
        return fail(err, errlen, AH_ENOMEM, "out of memory");
    }
    rc = ah_outfile_open(&w->out, path, err, errlen);
    if (rc) {
        side_close(draft);
        free(p);
        return rc;
    }
    w->out_open = 1;
    draft->fd = w->out.fd;
    w->table_room = 1;
    rc = seal(w, opt, head, head_len);
    w->table_room = 0;
    draft_piece(draft, head, *head_len);
    draft_piece(draft, zero_entry, sizeof zero_entry);
    unsigned ids[AH_SECTION_MAX], n_sec = table_ids(w, ids);
    for (unsigned i = 0; i < n_sec && !rc; i++) {
        rc = section_bytes(w, ids[i], draft_piece, draft);
        note_temp_disk(w);
        /* Copied: its region of the side file is given back (the draft serves from here on). */
        if (!rc && w->spilled[ids[i]] && draft->size != UINT64_MAX)
            side_punch(w, w->side_off[ids[i]], w->sec[ids[i]].len);
    }
    if (!rc && draft->size == UINT64_MAX)
        rc = fail(err, errlen, AH_EIO, "%s: cannot write the snapshot's draft: %s%s", path,
                  strerror(draft->error),
                  draft->error == EFBIG    ? " (a file size limit: see ulimit -f)"
                  : draft->error == ENOSPC ? " (the disk is full)"
                                           : "");
    else if (rc)
        rc = fail(err, errlen, rc, "reading back a temporary file: %s", strerror(errno));
    ah_index_t *ix = NULL;
    if (!rc)
        rc = ah_index_open_fd(draft->fd, "the draft snapshot", &ix, err, errlen);
    if (!rc) {
        read_from_draft(w, draft, ids, n_sec, *head_len + sizeof zero_entry);
    } else {
        draft->fd = -1; /* the output's, given up by ah_snapshot_write */
        side_close(draft);
    }
    if (!rc) {
        size_t derived = 0;
        rc = ah_writer__fills(ix, e, p, m, opt->threads, opt->memory, &w->read,
                              &w->sec[AH_SEC_FILLS], &derived);
        w->fills_derived = (uint32_t)derived;
        if (rc)
            rc = fail(err, errlen, rc, "%s",
                      rc == AH_ENOMEM ? "out of memory" : "fills: the draft would not answer");
    }
    ah_index_close(ix);
    free(p);
    if (rc)
        return rc;
    w->fills = ah_load_u32(w->sec[AH_SEC_FILLS].data + 4);
    buf_pad(&w->sec[AH_SEC_FILLS]);
    if (w->sec[AH_SEC_FILLS].failed)
        return fail(err, errlen, AH_ENOMEM, "out of memory");
    w->has_fills = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    w->fill_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    rc = seal(w, opt, head, head_len);
    return rc ? fail(err, errlen, rc, "reading back a temporary file: %s", strerror(errno)) : 0;
}

/*
 * The draft made whole (add_fills): FILLS after its last section, and the
 * header with FILLS' entry over its own and the room left for it. Then the
 * output is committed (outfile.h).
 */
static int finish_draft(writer_t *w, const char *path, const unsigned char *head, size_t head_len,
                        ah_write_info_t *info, char *err, size_t errlen)
{
    buf_t *fills = &w->sec[AH_SEC_FILLS];
    int e = ah_file_io(w->out.fd, fills->data, fills->len, w->side->size, 1);
    if (!e)
        e = ah_file_io(w->out.fd, (void *)head, head_len, 0, 1);
    if (e && !w->out.failed_errno)
        w->out.failed_errno = e; /* the first error is the one commit reports */
    w->out.written = (size_t)w->side->size + (e ? 0 : fills->len);
    w->side->fd = -1;
    w->out_open = 0;
    int rc = ah_outfile_commit(&w->out, err, errlen);
    if (!rc)
        info->stale_temps_removed = ah_outfile_sweep(path);
    return rc;
}

/* Gives up the output's temporary file, if add_fills() opened it. */
static void drop_output(writer_t *w)
{
    if (!w->out_open)
        return;
    if (w->side && w->side->fd == w->out.fd)
        w->side->fd = -1;
    ah_outfile_discard(&w->out);
    w->out_open = 0;
}

int ah_snapshot_write(const char *path, const ah_entry_t *entries, size_t n,
                      const ah_write_options_t *opt, ah_write_info_t *info, char *err,
                      size_t errlen)
{
    writer_t w = {.has_contexts = opt->n_contexts > 0,
                  .side = side_open(path),
                  .path = path,
                  .scratch_fd = -1};
    int rc =
        opt->n_contexts ? build_contexts(&w.sec[AH_SEC_CONTEXTS], entries, n, opt, err, errlen) : 0;
    unsigned char head[HEAD_MAX];
    size_t head_len;
    if (rc) {
        free_sections(&w);
        side_close(w.side);
        return rc;
    }
    rc = build(&w, entries, n, opt, head, &head_len, err, errlen);
    if (!rc)
        rc = add_fills(&w, path, entries, n, opt, head, &head_len, err, errlen);
    if (rc) {
        drop_output(&w);
        free_sections(&w);
        side_close(w.side);
        return rc;
    }
    ah_write_info_t written = {0};
    rc = w.out_open ? finish_draft(&w, path, head, head_len, &written, err, errlen)
                    : write_file(&w, path, head, head_len, &written, err, errlen);
    if (!rc && info) {
        *info = written;
        info->file_bytes = ah_load_u64(head + AH_HDR_FILE_SIZE);
        info->content_id = ah_load_u64(head + AH_HDR_CONTENT_ID);
        info->inner_nodes = w.inner_nodes;
        info->word_entries = w.words.entries;
        info->word_inner_nodes = w.words.inner_nodes;
        info->word_leaves_near = w.words_near;
        info->grams_shallower = w.typo && w.gram_depth < AH_GRAM_DEPTH;
        info->hot_nodes_more = w.hot_more;
        info->fills = w.fills;
        info->fill_seconds = w.fill_seconds;
        info->fills_derived = w.fills_derived;
        info->temp_disk = atomic_load(&w.temp_peak);
        for (unsigned s = 1; s <= AH_SECTION_MAX; s++)
            info->section_bytes[s] = w.sec[s].len;
    }
    free_sections(&w);
    side_close(w.side);
    return rc;
}
