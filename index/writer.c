/* SPDX-License-Identifier: MIT */
/*
 * writer.c: encodes sorted completions into the sections of format.h and
 * writes them out atomically.
 *
 * Order of work: ranks (sort by score), keys (front coding), scores by rank,
 * the trie's inner nodes (one recursive pass over the sorted keys, children
 * before parents, each node's top-K merged from its children's), then the
 * header with its checksums and content id. Everything is a pure function of
 * the entries and options, so equal input gives equal bytes.
 */
#include "writer.h"

#include "ahead.h"
#include "bits.h"
#include "checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* -------------------------------------------------------------- buffers */

/* A growable byte buffer; an allocation failure sticks in `failed`. */
typedef struct buf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} buf_t;

static unsigned char *buf_grow(buf_t *b, size_t extra)
{
    if (b->failed)
        return NULL;
    if (b->len + extra > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + extra)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return NULL;
        }
        b->data = d;
        b->cap = cap;
    }
    unsigned char *p = b->data + b->len;
    b->len += extra;
    return p;
}

static void buf_put(buf_t *b, const void *src, size_t n)
{
    unsigned char *p = buf_grow(b, n);
    if (p && n)
        memcpy(p, src, n);
}

static void buf_varint(buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    buf_put(b, tmp, ah_varint_put(tmp, v));
}

static void buf_uw(buf_t *b, uint32_t v, unsigned w)
{
    unsigned char *p = buf_grow(b, w);
    if (p)
        ah_store_uw(p, v, w);
}

/* Appends the section padding: AH_SECTION_PAD zeros, and up to 7 more for alignment. */
static void buf_pad(buf_t *b)
{
    size_t n = AH_SECTION_PAD + (8 - (b->len + AH_SECTION_PAD) % 8) % 8;
    unsigned char *p = buf_grow(b, n);
    if (p)
        memset(p, 0, n);
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---------------------------------------------------------------- state */

typedef struct writer {
    const ah_entry_t *e;
    uint32_t n;
    unsigned topk, bucket;
    uint32_t *rank_of; /* lex id -> rank */
    uint32_t *by_rank; /* rank -> lex id */
    buf_t sec[AH_SECTION_COUNT + 1];
    uint32_t inner_nodes;
    uint32_t max_key;
} writer_t;

/* ---------------------------------------------------------------- ranks */

static int by_score_then_key(const void *a, const void *b, void *entries)
{
    const ah_entry_t *e = entries;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    uint64_t sx = e[x].score, sy = e[y].score;
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return x < y ? -1 : x > y; /* lex id order is key order */
}

static int compute_ranks(writer_t *w)
{
    w->rank_of = malloc((size_t)w->n * sizeof *w->rank_of);
    w->by_rank = malloc((size_t)w->n * sizeof *w->by_rank);
    if (!w->rank_of || !w->by_rank)
        return AH_ENOMEM;
    for (uint32_t i = 0; i < w->n; i++)
        w->by_rank[i] = i;
    qsort_r(w->by_rank, w->n, sizeof *w->by_rank, by_score_then_key, (void *)w->e);
    for (uint32_t r = 0; r < w->n; r++)
        w->rank_of[w->by_rank[r]] = r;
    return 0;
}

/* ------------------------------------------------------ keys and scores */

static int same_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void encode_keys(writer_t *w)
{
    buf_t *keys = &w->sec[AH_SEC_KEYS], *kidx = &w->sec[AH_SEC_KEY_INDEX];
    buf_t *disp = &w->sec[AH_SEC_DISPLAY];
    for (uint32_t i = 0; i < w->n; i++) {
        const ah_entry_t *e = &w->e[i];
        uint32_t shared = 0;
        if (i % w->bucket == 0) {
            buf_uw(kidx, (uint32_t)keys->len, 4);
        } else {
            const ah_entry_t *p = &w->e[i - 1];
            uint32_t m = p->key_len < e->key_len ? p->key_len : e->key_len;
            while (shared < m && p->key[shared] == e->key[shared])
                shared++;
            buf_varint(keys, shared);
        }
        int has_display = !same_bytes(e->key, e->key_len, e->text, e->text_len);
        buf_varint(keys, (uint64_t)(e->key_len - shared) << 1 | (has_display ? 1 : 0));
        buf_put(keys, e->key + shared, e->key_len - shared);
        if (has_display) {
            buf_varint(keys, disp->len);
            buf_varint(disp, e->text_len);
            buf_put(disp, e->text, e->text_len);
        }
        if (e->key_len > w->max_key)
            w->max_key = e->key_len;
    }
    buf_uw(kidx, (uint32_t)keys->len, 4);
}

static void encode_ranks(writer_t *w, unsigned rank_bits)
{
    buf_t *b = &w->sec[AH_SEC_RANKS];
    size_t bytes = ((size_t)w->n * rank_bits + 7) / 8;
    unsigned char *p = buf_grow(b, bytes);
    if (!p)
        return;
    memset(p, 0, bytes);
    for (uint32_t i = 0; i < w->n; i++)
        ah_bits_put(p, (uint64_t)i * rank_bits, rank_bits, w->rank_of[i]);
}

static int encode_scores(writer_t *w)
{
    buf_t *blocks = &w->sec[AH_SEC_SCORE_BLOCKS], *bits = &w->sec[AH_SEC_SCORE_BITS];
    uint64_t bitpos = 0;
    /* First pass: the block table and the total bit count. */
    for (uint32_t first = 0; first < w->n; first += AH_SCORE_BLOCK) {
        uint32_t last = first + AH_SCORE_BLOCK < w->n ? first + AH_SCORE_BLOCK - 1 : w->n - 1;
        uint64_t base = w->e[w->by_rank[last]].score;
        unsigned width = ah_bits_for(w->e[w->by_rank[first]].score - base);
        if (bitpos > UINT32_MAX)
            return AH_EINVAL;
        unsigned char *p = buf_grow(blocks, AH_SCORE_BLOCK_SIZE);
        if (!p)
            return AH_ENOMEM;
        memset(p, 0, AH_SCORE_BLOCK_SIZE);
        ah_store_u64(p + AH_SB_BASE, base);
        ah_store_u32(p + AH_SB_BITPOS, (uint32_t)bitpos);
        p[AH_SB_WIDTH] = (unsigned char)width;
        bitpos += (uint64_t)AH_SCORE_BLOCK * width;
    }
    size_t bytes = (size_t)((bitpos + 7) / 8);
    unsigned char *p = buf_grow(bits, bytes);
    if (!p)
        return AH_ENOMEM;
    memset(p, 0, bytes);
    for (uint32_t r = 0; r < w->n; r++) {
        const unsigned char *blk = blocks->data + (size_t)(r / AH_SCORE_BLOCK) * AH_SCORE_BLOCK_SIZE;
        uint64_t base = ah_load_u64(blk + AH_SB_BASE);
        uint64_t pos = ah_load_u32(blk + AH_SB_BITPOS) + (uint64_t)(r % AH_SCORE_BLOCK) * blk[AH_SB_WIDTH];
        ah_bits_put(p, pos, blk[AH_SB_WIDTH], w->e[w->by_rank[r]].score - base);
    }
    return 0;
}

/* ----------------------------------------------------------------- trie */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
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

typedef struct child {
    unsigned char byte;
    uint32_t lo, hi;  /* absolute lex ids */
    uint32_t rec_off; /* UINT32_MAX when light */
} child_t;

/*
 * Emits the record of the node covering [lo, hi) whose edge ends at depth d
 * (its label starts there), after the records of its inner descendants.
 * Stores the record's offset and the node's top-K ranks (ascending).
 */
static int build_node(writer_t *w, uint32_t lo, uint32_t hi, uint32_t d, uint32_t *rec_off,
                      uint32_t *top, uint32_t *ntop)
{
    const ah_entry_t *first = &w->e[lo], *last = &w->e[hi - 1];
    uint32_t depth = d;
    uint32_t m = first->key_len < last->key_len ? first->key_len : last->key_len;
    while (depth < m && first->key[depth] == last->key[depth])
        depth++;

    child_t *kids = malloc(256 * sizeof *kids);
    uint32_t *cand = malloc(((size_t)256 * w->topk + 1) * sizeof *cand);
    if (!kids || !cand) {
        free(kids);
        free(cand);
        return AH_ENOMEM;
    }
    uint32_t nk = 0, nc = 0, i = lo;
    int rc = 0;
    if (first->key_len == depth) /* the node's own path is a key */
        cand[nc++] = w->rank_of[i++];
    while (i < hi && !rc) {
        unsigned char c = (unsigned char)w->e[i].key[depth];
        uint32_t j = run_end(w, i, hi, depth, c);
        child_t *k = &kids[nk++];
        k->byte = c;
        k->lo = i;
        k->hi = j;
        k->rec_off = UINT32_MAX;
        if (j - i > w->topk) {
            uint32_t got;
            rc = build_node(w, i, j, depth + 1, &k->rec_off, cand + nc, &got);
            nc += got;
        } else {
            for (uint32_t x = i; x < j; x++)
                cand[nc++] = w->rank_of[x];
        }
        i = j;
    }
    if (!rc) {
        qsort(cand, nc, sizeof *cand, cmp_u32);
        *ntop = nc < w->topk ? nc : w->topk;
        memcpy(top, cand, *ntop * sizeof *top);

        /* This record goes after every record emitted below it. */
        buf_t *b = &w->sec[AH_SEC_NODES];
        uint32_t off = (uint32_t)b->len, count = hi - lo, max_ptr = 0;
        for (uint32_t j = 0; j < nk; j++)
            if (kids[j].rec_off != UINT32_MAX && off - kids[j].rec_off > max_ptr)
                max_ptr = off - kids[j].rec_off;
        unsigned wr = ah_bytes_for(count), wp = ah_bytes_for(max_ptr);
        buf_varint(b, depth - d);
        buf_put(b, first->key + d, depth - d);
        buf_varint(b, count);
        buf_varint(b, nk);
        unsigned char widths = (unsigned char)((wr - 1) | (wp - 1) << AH_NODE_WP_SHIFT);
        buf_put(b, &widths, 1);
        for (uint32_t j = 0; j < nk; j++)
            buf_put(b, &kids[j].byte, 1);
        for (uint32_t j = 0; j < nk; j++)
            buf_uw(b, kids[j].lo - lo, wr);
        for (uint32_t j = 0; j < nk; j++)
            buf_uw(b, kids[j].rec_off == UINT32_MAX ? 0 : off - kids[j].rec_off, wp);
        unsigned char list_len = (unsigned char)*ntop;
        buf_put(b, &list_len, 1);
        for (uint32_t j = 0; j < *ntop; j++)
            buf_uw(b, w->by_rank[top[j]] - lo, wr);
        if (b->len > UINT32_MAX)
            rc = AH_EINVAL;
        *rec_off = off;
        w->inner_nodes++;
    }
    free(kids);
    free(cand);
    return rc;
}

/* --------------------------------------------------------------- output */

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t got = write(fd, p, len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

static void fill_header(writer_t *w, unsigned char *head, uint64_t file_size, unsigned rank_bits,
                        uint32_t root, uint64_t total, unsigned max_text)
{
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
    ah_store_u32(head + AH_HDR_RANK_BITS, rank_bits);
    ah_store_u32(head + AH_HDR_ROOT, root);
    ah_store_u64(head + AH_HDR_TOTAL_SCORE, total);
    ah_store_u32(head + AH_HDR_SECTION_COUNT, AH_SECTION_COUNT);
    uint64_t id = ah_hash64(w->topk, &w->bucket, sizeof w->bucket);
    uint64_t off = AH_HEADER_SIZE + (uint64_t)AH_SECTION_COUNT * AH_SECTION_ENTRY_SIZE;
    for (unsigned s = 1; s <= AH_SECTION_COUNT; s++) {
        unsigned char *e = head + AH_HEADER_SIZE + (s - 1) * AH_SECTION_ENTRY_SIZE;
        ah_store_u32(e + AH_SEC_ID, s);
        ah_store_u32(e + AH_SEC_CRC, ah_crc32(0, w->sec[s].data, w->sec[s].len));
        ah_store_u64(e + AH_SEC_OFFSET, off);
        ah_store_u64(e + AH_SEC_LENGTH, w->sec[s].len);
        id = ah_hash64(id, w->sec[s].data, w->sec[s].len);
        off += w->sec[s].len;
    }
    ah_store_u64(head + AH_HDR_CONTENT_ID, id);
}

/* Writes header+table and the sections to a temporary file, then renames it over path. */
static int write_file(writer_t *w, const char *path, unsigned char *head, size_t head_len,
                      char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return fail(err, errlen, AH_ENOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int rc = fail(err, errlen, AH_EIO, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    int ok = fchmod(fd, 0644) == 0 && write_all(fd, head, head_len) == 0;
    for (unsigned s = 1; ok && s <= AH_SECTION_COUNT; s++)
        ok = write_all(fd, w->sec[s].data, w->sec[s].len) == 0;
    ok = ok && fsync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        e = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        int rc = fail(err, errlen, AH_EIO, "%s: %s", path, strerror(e));
        free(tmp);
        return rc;
    }
    /* Make the rename itself durable. */
    char *dir = dirname(tmp);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(tmp);
    return 0;
}

static int check_input(const ah_entry_t *e, size_t n, const ah_write_options_t *opt, char *err,
                       size_t errlen)
{
    if (n == 0)
        return fail(err, errlen, AH_EINVAL, "no completions to write");
    if (n >= UINT32_MAX)
        return fail(err, errlen, AH_EINVAL, "too many completions (%zu)", n);
    if (opt->topk < 1 || opt->topk > AH_MAX_TOPK || opt->bucket_size > AH_MAX_BUCKET ||
        opt->max_text_bytes < 1 || opt->max_text_bytes > AH_MAX_TEXT_BYTES)
        return fail(err, errlen, AH_EINVAL, "option out of range");
    for (size_t i = 0; i < n; i++) {
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

int ah_snapshot_write(const char *path, const ah_entry_t *entries, size_t n,
                      const ah_write_options_t *opt, ah_write_info_t *info, char *err,
                      size_t errlen)
{
    int rc = check_input(entries, n, opt, err, errlen);
    if (rc)
        return rc;
    writer_t w = {.e = entries, .n = (uint32_t)n, .topk = opt->topk};
    w.bucket = opt->bucket_size ? opt->bucket_size : AH_DEFAULT_BUCKET;
    unsigned rank_bits = ah_bits_for(w.n - 1) ? ah_bits_for(w.n - 1) : 1;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total = entries[i].score > UINT64_MAX - total ? UINT64_MAX : total + entries[i].score;

    uint32_t root = 0, *top = malloc(AH_MAX_TOPK * sizeof *top), ntop;
    rc = top ? compute_ranks(&w) : AH_ENOMEM;
    if (!rc) {
        encode_keys(&w);
        encode_ranks(&w, rank_bits);
        rc = encode_scores(&w);
    }
    if (!rc)
        rc = build_node(&w, 0, w.n, 0, &root, top, &ntop);
    for (unsigned s = 1; s <= AH_SECTION_COUNT; s++) {
        buf_pad(&w.sec[s]);
        if (w.sec[s].failed && !rc)
            rc = AH_ENOMEM;
    }
    if (w.sec[AH_SEC_KEYS].len > UINT32_MAX && !rc)
        rc = AH_EINVAL;
    if (rc) {
        rc = fail(err, errlen, rc, "%s", rc == AH_ENOMEM ? "out of memory" : "input too large");
    } else {
        size_t head_len = AH_HEADER_SIZE + (size_t)AH_SECTION_COUNT * AH_SECTION_ENTRY_SIZE;
        unsigned char head[AH_HEADER_SIZE + AH_SECTION_COUNT * AH_SECTION_ENTRY_SIZE] = {0};
        uint64_t size = head_len;
        for (unsigned s = 1; s <= AH_SECTION_COUNT; s++)
            size += w.sec[s].len;
        fill_header(&w, head, size, rank_bits, root, total, opt->max_text_bytes);
        /* Body CRC: the table, then the sections, in file order. */
        uint32_t body = ah_crc32(0, head + AH_HEADER_SIZE, head_len - AH_HEADER_SIZE);
        for (unsigned s = 1; s <= AH_SECTION_COUNT; s++)
            body = ah_crc32(body, w.sec[s].data, w.sec[s].len);
        ah_store_u32(head + AH_HDR_BODY_CRC, body);
        ah_store_u32(head + AH_HDR_HEADER_CRC, ah_crc32(0, head, AH_HDR_HEADER_CRC));
        rc = write_file(&w, path, head, head_len, err, errlen);
        if (!rc && info) {
            memset(info, 0, sizeof *info);
            info->file_bytes = size;
            info->content_id = ah_load_u64(head + AH_HDR_CONTENT_ID);
            info->inner_nodes = w.inner_nodes;
            for (unsigned s = 1; s <= AH_SECTION_COUNT; s++)
                info->section_bytes[s] = w.sec[s].len;
        }
    }
    for (unsigned s = 1; s <= AH_SECTION_COUNT; s++)
        free(w.sec[s].data);
    free(w.rank_of);
    free(w.by_rank);
    free(top);
    return rc;
}
