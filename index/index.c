/* SPDX-License-Identifier: MIT */
/*
 * index.c: opening a snapshot and answering prefix lookups from it.
 *
 * Opening maps the file and checks the header and the section table: sizes
 * that must follow from the entry count, sections inside the file and apart.
 * That is O(1) work whatever the file's size, so a swap costs a few system
 * calls. Everything else in the file is checked where it is read: a lookup
 * that meets a bad offset returns AH_ECORRUPT, it never reads past a section.
 *
 * A lookup (see format.h for the structures):
 *
 *      prefix --normalize--> key P
 *      root --P[0]--> inner node --P[d]--> inner node ...      (trie descent)
 *        |                         \
 *        P ends on or inside a      the next child is light (<= K keys):
 *        node's label: its top-K    scan its lex range in KEYS, keep the keys
 *        list is the answer         that start with P, order them by rank
 *
 * then each answer's text is decoded from its key bucket and its score read
 * by rank. No allocation: scratch lives on the caller's stack.
 */
#include "index_internal.h"

#include "bits.h"
#include "checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(AH_MAX_K == AH_MAX_TOPK, "the API's largest k is the format's list limit");

/* ------------------------------------------------------------ helpers */

int ah_index__fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static uint64_t div_ceil(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

/* ---------------------------------------------------------- open/close */

static int check_sections(ah_index_t *ix, char *err, size_t errlen)
{
    const unsigned char *h = ix->map;
    uint64_t table_end = AH_HEADER_SIZE + (uint64_t)AH_SECTION_COUNT * AH_SECTION_ENTRY_SIZE;
    uint64_t prev_end = table_end;
    for (unsigned i = 1; i <= AH_SECTION_COUNT; i++) {
        const unsigned char *e = h + AH_HEADER_SIZE + (i - 1) * AH_SECTION_ENTRY_SIZE;
        uint32_t id = ah_load_u32(e + AH_SEC_ID);
        uint64_t off = ah_load_u64(e + AH_SEC_OFFSET);
        uint64_t len = ah_load_u64(e + AH_SEC_LENGTH);
        if (id != i)
            return ah_index__fail(err, errlen, AH_ECORRUPT, "section table entry %u has id %u", i,
                                  id);
        if (off % 8 || off < prev_end || len < AH_SECTION_PAD || off > ix->size ||
            len > ix->size - off)
            return ah_index__fail(err, errlen, AH_ECORRUPT,
                                  "section %u out of bounds (offset %llu, length %llu, file %llu)",
                                  i, (unsigned long long)off, (unsigned long long)len,
                                  (unsigned long long)ix->size);
        ix->sec[i].data = h + off;
        ix->sec[i].len = len - AH_SECTION_PAD;
        ix->sec[i].crc = ah_load_u32(e + AH_SEC_CRC);
        ix->sec[i].file_off = off;
        prev_end = off + len;
    }
    return 0;
}

/*
 * Sizes that follow from n and the parameters, checked once so lookups need
 * not. A section may carry up to 7 alignment bytes beyond its content.
 */
static int check_sizes(ah_index_t *ix, char *err, size_t errlen)
{
    uint64_t n = ix->n;
    struct {
        unsigned id;
        uint64_t need;
        const char *what;
    } need[] = {
        {AH_SEC_KEY_INDEX, ((uint64_t)ix->n_buckets + 1) * 4, "key index"},
        {AH_SEC_RANKS, div_ceil(n * ix->rank_bits, 8), "ranks"},
        {AH_SEC_SCORE_BLOCKS, div_ceil(n, AH_SCORE_BLOCK) * AH_SCORE_BLOCK_SIZE, "score blocks"},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (ix->sec[need[i].id].len < need[i].need || ix->sec[need[i].id].len >= need[i].need + 8)
            return ah_index__fail(err, errlen, AH_ECORRUPT,
                                  "%s section is %llu bytes, expected %llu", need[i].what,
                                  (unsigned long long)ix->sec[need[i].id].len,
                                  (unsigned long long)need[i].need);
    if (ix->sec[AH_SEC_KEYS].len > UINT32_MAX || ix->sec[AH_SEC_NODES].len > UINT32_MAX)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "keys or nodes section over 4 GiB");
    if (ix->root >= ix->sec[AH_SEC_NODES].len)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "root offset %u outside the trie",
                              ix->root);
    return 0;
}

static int parse_header(ah_index_t *ix, char *err, size_t errlen)
{
    const unsigned char *h = ix->map;
    uint64_t table_end = AH_HEADER_SIZE + (uint64_t)AH_SECTION_COUNT * AH_SECTION_ENTRY_SIZE;
    if (ix->size < AH_HEADER_SIZE || memcmp(h + AH_HDR_MAGIC, AH_MAGIC, AH_MAGIC_LEN) != 0)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "not an ahead snapshot (bad magic)");
    uint32_t version = ah_load_u32(h + AH_HDR_VERSION);
    if (version != AH_FORMAT_VERSION)
        return ah_index__fail(err, errlen, AH_EVERSION,
                              "snapshot format version %u, this build reads version %u", version,
                              AH_FORMAT_VERSION);
    if (ah_crc32(0, h, AH_HDR_HEADER_CRC) != ah_load_u32(h + AH_HDR_HEADER_CRC))
        return ah_index__fail(err, errlen, AH_ECORRUPT, "header checksum mismatch");
    if (ah_load_u32(h + AH_HDR_HEADER_SIZE) != AH_HEADER_SIZE ||
        ah_load_u32(h + AH_HDR_SECTION_COUNT) != AH_SECTION_COUNT)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "unexpected header or table size");
    uint64_t file_size = ah_load_u64(h + AH_HDR_FILE_SIZE);
    if (file_size != ix->size || ix->size < table_end)
        return ah_index__fail(err, errlen, AH_ECORRUPT,
                              "file is %llu bytes, header says %llu (truncated or extended)",
                              (unsigned long long)ix->size, (unsigned long long)file_size);
    ix->content_id = ah_load_u64(h + AH_HDR_CONTENT_ID);
    ix->n = ah_load_u32(h + AH_HDR_COUNT);
    ix->topk = ah_load_u32(h + AH_HDR_TOPK);
    ix->bucket = ah_load_u32(h + AH_HDR_BUCKET);
    ix->max_text = ah_load_u32(h + AH_HDR_MAX_TEXT);
    ix->max_key = ah_load_u32(h + AH_HDR_MAX_KEY);
    ix->inner_nodes = ah_load_u32(h + AH_HDR_INNER_NODES);
    ix->rank_bits = ah_load_u32(h + AH_HDR_RANK_BITS);
    ix->root = ah_load_u32(h + AH_HDR_ROOT);
    ix->total_score = ah_load_u64(h + AH_HDR_TOTAL_SCORE);
    if (ix->n == 0 || ix->topk == 0 || ix->topk > AH_MAX_TOPK || ix->bucket == 0 ||
        ix->bucket > AH_MAX_BUCKET || ix->max_text == 0 || ix->max_text > AH_MAX_TEXT_BYTES ||
        ix->max_key == 0 || ix->max_key > AH_MAX_KEY_BYTES || ix->inner_nodes == 0 ||
        ix->rank_bits == 0 || ix->rank_bits > 32 || ix->rank_bits < ah_bits_for(ix->n - 1))
        return ah_index__fail(err, errlen, AH_ECORRUPT, "header parameters out of range");
    ix->n_buckets = (uint32_t)div_ceil(ix->n, ix->bucket);
    int rc = check_sections(ix, err, errlen);
    return rc ? rc : check_sizes(ix, err, errlen);
}

int ah_index_open(const char *path, ah_index_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ah_index__fail(err, errlen, AH_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ah_index__fail(err, errlen, AH_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size < AH_HEADER_SIZE) {
        close(fd);
        return ah_index__fail(err, errlen, AH_ECORRUPT, "%s: %s", path,
                              S_ISREG(st.st_mode) ? "too short to be a snapshot"
                                                  : "not a regular file");
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ah_index__fail(err, errlen, AH_EIO, "%s: mmap: %s", path, strerror(map_errno));
    ah_index_t *ix = calloc(1, sizeof *ix);
    if (!ix) {
        munmap(map, (size_t)st.st_size);
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    }
    ix->map = map;
    ix->size = (uint64_t)st.st_size;
    int rc = parse_header(ix, err, errlen);
    if (rc) {
        ah_index_close(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void ah_index_close(ah_index_t *ix)
{
    if (!ix)
        return;
    munmap((void *)ix->map, (size_t)ix->size);
    free(ix);
}

void ah_index_stats(const ah_index_t *ix, ah_index_stats_t *st)
{
    memset(st, 0, sizeof *st);
    st->format_version = AH_FORMAT_VERSION;
    st->topk = ix->topk;
    st->entries = ix->n;
    st->file_bytes = ix->size;
    st->content_id = ix->content_id;
    snprintf(st->id_hex, sizeof st->id_hex, "%016llx", (unsigned long long)ix->content_id);
    st->max_text_bytes = ix->max_text;
    st->max_key_bytes = ix->max_key;
    st->inner_nodes = ix->inner_nodes;
    st->bucket_size = ix->bucket;
    st->total_score = ix->total_score;
}

/* ------------------------------------------------------ keys and scores */

/* Decodes the record at c->next into c->key, extending from the previous key. */
static int cursor_decode(ah_key_cursor_t *c, int head)
{
    const unsigned char *p = c->next, *end = c->end;
    uint64_t shared = 0, h;
    if (!head && !ah_varint_get(&p, end, &shared))
        return AH_ECORRUPT;
    if (!ah_varint_get(&p, end, &h))
        return AH_ECORRUPT;
    uint64_t add = h >> 1;
    if (shared > c->len || add > c->ix->max_key || shared + add > c->ix->max_key ||
        shared + add == 0 || add > (uint64_t)(end - p))
        return AH_ECORRUPT;
    memcpy(c->key + shared, p, (size_t)add);
    p += add;
    c->len = (uint32_t)(shared + add);
    c->display = UINT64_MAX;
    if (h & AH_KEY_HAS_DISPLAY) {
        uint64_t d;
        if (!ah_varint_get(&p, end, &d) || d >= c->ix->sec[AH_SEC_DISPLAY].len)
            return AH_ECORRUPT;
        c->display = d;
    }
    c->next = p;
    return 0;
}

static int cursor_enter_bucket(ah_key_cursor_t *c, uint32_t b)
{
    const ah_index_t *ix = c->ix;
    const unsigned char *kidx = ix->sec[AH_SEC_KEY_INDEX].data;
    uint32_t from = ah_load_u32(kidx + 4 * (uint64_t)b);
    uint32_t to = ah_load_u32(kidx + 4 * (uint64_t)b + 4);
    if (from >= to || to > ix->sec[AH_SEC_KEYS].len)
        return AH_ECORRUPT;
    c->next = ix->sec[AH_SEC_KEYS].data + from;
    c->end = ix->sec[AH_SEC_KEYS].data + to;
    c->len = 0;
    return cursor_decode(c, 1);
}

int ah_index__cursor_seek(ah_key_cursor_t *c, const ah_index_t *ix, uint32_t id)
{
    c->ix = ix;
    uint32_t b = id / ix->bucket;
    int rc = cursor_enter_bucket(c, b);
    for (uint32_t i = b * ix->bucket; !rc && i < id; i++)
        rc = cursor_decode(c, 0);
    c->id = id;
    return rc;
}

int ah_index__cursor_next(ah_key_cursor_t *c)
{
    uint32_t id = ++c->id;
    if (id % c->ix->bucket == 0)
        return cursor_enter_bucket(c, id / c->ix->bucket);
    return cursor_decode(c, 0);
}

uint32_t ah_index__rank(const ah_index_t *ix, uint32_t id)
{
    return (uint32_t)ah_bits_get(ix->sec[AH_SEC_RANKS].data, (uint64_t)id * ix->rank_bits,
                                 ix->rank_bits);
}

int ah_index__score(const ah_index_t *ix, uint32_t r, uint64_t *score)
{
    const unsigned char *blk =
        ix->sec[AH_SEC_SCORE_BLOCKS].data + (uint64_t)(r / AH_SCORE_BLOCK) * AH_SCORE_BLOCK_SIZE;
    uint64_t base = ah_load_u64(blk + AH_SB_BASE);
    uint64_t pos = ah_load_u32(blk + AH_SB_BITPOS);
    unsigned w = blk[AH_SB_WIDTH];
    if (w > 64 || pos + (uint64_t)AH_SCORE_BLOCK * w > ix->sec[AH_SEC_SCORE_BITS].len * 8)
        return AH_ECORRUPT;
    uint64_t delta = ah_bits_get(ix->sec[AH_SEC_SCORE_BITS].data, pos + (uint64_t)(r % 64) * w, w);
    if (delta > UINT64_MAX - base)
        return AH_ECORRUPT;
    *score = base + delta;
    return 0;
}

int ah_index__display(const ah_key_cursor_t *c, const char **text, uint32_t *len)
{
    if (c->display == UINT64_MAX) {
        *text = c->key;
        *len = c->len;
        return c->len > c->ix->max_text ? AH_ECORRUPT : 0;
    }
    const ah_section_t *s = &c->ix->sec[AH_SEC_DISPLAY];
    const unsigned char *p = s->data + c->display, *end = s->data + s->len;
    uint64_t n;
    if (!ah_varint_get(&p, end, &n) || n == 0 || n > c->ix->max_text ||
        n > (uint64_t)(end - p))
        return AH_ECORRUPT;
    *text = (const char *)p;
    *len = (uint32_t)n;
    return 0;
}

/* ---------------------------------------------------------------- nodes */

int ah_index__node_parse(const ah_index_t *ix, uint32_t off, ah_node_t *nd)
{
    const ah_section_t *s = &ix->sec[AH_SEC_NODES];
    const unsigned char *p = s->data + off, *end = s->data + s->len;
    uint64_t label_len, count, m;
    if (off >= s->len || !ah_varint_get(&p, end, &label_len) ||
        label_len > (uint64_t)(end - p) || label_len > ix->max_key)
        return AH_ECORRUPT;
    nd->offset = off;
    nd->label = p;
    nd->label_len = (uint32_t)label_len;
    p += label_len;
    if (!ah_varint_get(&p, end, &count) || !ah_varint_get(&p, end, &m) || count == 0 ||
        count > ix->n || m > 256 || p >= end)
        return AH_ECORRUPT;
    unsigned widths = *p++;
    if (widths & AH_NODE_WIDTHS_RESERVED)
        return AH_ECORRUPT;
    nd->count = (uint32_t)count;
    nd->n_children = (uint32_t)m;
    nd->wr = (widths & AH_NODE_WR_MASK) + 1;
    nd->wp = ((widths & AH_NODE_WP_MASK) >> AH_NODE_WP_SHIFT) + 1;
    uint64_t table = m * (1 + nd->wr + nd->wp);
    if (table + 1 > (uint64_t)(end - p))
        return AH_ECORRUPT;
    nd->child_bytes = p;
    nd->child_lo = p + m;
    nd->child_ptr = nd->child_lo + m * nd->wr;
    p += table;
    nd->list_len = *p++;
    nd->list = p;
    uint32_t want = count < ix->topk ? (uint32_t)count : ix->topk;
    if (nd->list_len != want || (uint64_t)nd->list_len * nd->wr > (uint64_t)(end - p))
        return AH_ECORRUPT;
    if (m == 0 && count != 1)
        return AH_ECORRUPT;
    return 0;
}

int ah_index__node_child(const ah_node_t *nd, uint32_t j, uint32_t *lo, uint32_t *hi,
                         uint32_t *child_off)
{
    *lo = ah_load_uw(nd->child_lo + j * nd->wr, nd->wr);
    *hi = j + 1 < nd->n_children ? ah_load_uw(nd->child_lo + (j + 1) * nd->wr, nd->wr)
                                 : nd->count;
    uint32_t ptr = ah_load_uw(nd->child_ptr + j * nd->wp, nd->wp);
    *child_off = ptr ? nd->offset - ptr : UINT32_MAX;
    if (*lo >= *hi || *hi > nd->count || ptr > nd->offset)
        return AH_ECORRUPT;
    return 0;
}

int ah_index__node_list(const ah_node_t *nd, uint32_t i, uint32_t *rel)
{
    *rel = ah_load_uw(nd->list + i * nd->wr, nd->wr);
    return *rel < nd->count ? 0 : AH_ECORRUPT;
}

/* ---------------------------------------------------------------- lookup */

/* Copies the text and score of lex id `id` into out, text into the buffer. */
static int emit(const ah_index_t *ix, ah_key_cursor_t *c, uint32_t id, ah_completion_t *out,
                char *text, size_t cap, size_t *used)
{
    int rc = ah_index__cursor_seek(c, ix, id);
    const char *t;
    uint32_t len;
    if (rc || (rc = ah_index__display(c, &t, &len)) != 0)
        return rc;
    if (len > cap - *used)
        return AH_ENOSPC;
    memcpy(text + *used, t, len);
    out->text = text + *used;
    out->text_len = len;
    *used += len;
    return ah_index__score(ix, ah_index__rank(ix, id), &out->score);
}

/* The answer is a node's precomputed list. */
static int answer_from_list(const ah_index_t *ix, const ah_node_t *nd, uint32_t lo, unsigned k,
                            ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    ah_key_cursor_t c;
    size_t used = 0, n = k < nd->list_len ? k : nd->list_len;
    for (size_t i = 0; i < n; i++) {
        uint32_t rel;
        int rc = ah_index__node_list(nd, (uint32_t)i, &rel);
        if (!rc)
            rc = emit(ix, &c, lo + rel, &out[i], text, cap, &used);
        if (rc)
            return rc;
    }
    *n_out = n;
    return 0;
}

/* The answer is the keys of the light range [a, b) that start with P, by rank. */
static int answer_from_scan(const ah_index_t *ix, uint32_t a, uint32_t b, const char *key,
                            size_t len, unsigned k, ah_completion_t *out, char *text, size_t cap,
                            size_t *n_out)
{
    uint32_t rank[AH_MAX_TOPK], id[AH_MAX_TOPK];
    uint32_t n = 0;
    ah_key_cursor_t c;
    int rc = ah_index__cursor_seek(&c, ix, a);
    for (uint32_t i = a; !rc && i < b; i++) {
        if (i > a && (rc = ah_index__cursor_next(&c)) != 0)
            break;
        if (c.len >= len && memcmp(c.key, key, len) == 0) {
            /* Insertion by rank; the range holds at most topk keys. */
            uint32_t r = ah_index__rank(ix, i), j = n++;
            for (; j > 0 && rank[j - 1] > r; j--) {
                rank[j] = rank[j - 1];
                id[j] = id[j - 1];
            }
            rank[j] = r;
            id[j] = i;
        } else if (n > 0) {
            break; /* matches are contiguous in lex order */
        }
    }
    if (rc)
        return rc;
    size_t used = 0, m = n < k ? n : k;
    for (size_t i = 0; i < m; i++)
        if ((rc = emit(ix, &c, id[i], &out[i], text, cap, &used)) != 0)
            return rc;
    *n_out = m;
    return 0;
}

int ah_index_complete_key(const ah_index_t *ix, const char *key, size_t len, unsigned k,
                          ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    *n_out = 0;
    if (k == 0 || k > ix->topk)
        return AH_EINVAL;
    if (len > AH_MAX_KEY_BYTES)
        return AH_ETOOLONG;
    uint32_t off = ix->root, lo = 0, count = ix->n;
    size_t depth = 0;
    /* Each step consumes at least one byte of the key, so this ends. */
    for (;;) {
        ah_node_t nd;
        int rc = ah_index__node_parse(ix, off, &nd);
        if (rc)
            return rc;
        if (nd.count != count || lo > ix->n - count)
            return AH_ECORRUPT;
        size_t rest = len - depth;
        size_t cmp = rest < nd.label_len ? rest : nd.label_len;
        if (memcmp(nd.label, key + depth, cmp) != 0)
            return 0;
        if (rest <= nd.label_len)
            return answer_from_list(ix, &nd, lo, k, out, text, cap, n_out);
        depth += nd.label_len;
        const unsigned char *hit = memchr(nd.child_bytes, (unsigned char)key[depth], nd.n_children);
        if (!hit)
            return 0;
        uint32_t clo, chi, child;
        rc = ah_index__node_child(&nd, (uint32_t)(hit - nd.child_bytes), &clo, &chi, &child);
        if (rc)
            return rc;
        if (child == UINT32_MAX) {
            if (chi - clo > ix->topk)
                return AH_ECORRUPT;
            return answer_from_scan(ix, lo + clo, lo + chi, key, len, k, out, text, cap, n_out);
        }
        off = child;
        lo += clo;
        count = chi - clo;
        depth += 1;
    }
}

int ah_index_complete(const ah_index_t *ix, const char *prefix, size_t len, unsigned k,
                      ah_completion_t *out, char *text, size_t cap, size_t *n_out)
{
    char key[AH_MAX_KEY_BYTES];
    size_t key_len;
    *n_out = 0;
    int rc = ah_normalize_key(prefix, len, key, sizeof key, &key_len, 1);
    if (rc)
        return rc;
    return ah_index_complete_key(ix, key, key_len, k, out, text, cap, n_out);
}
