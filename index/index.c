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
 *        list is the answer         that start with P, order them by
 *                                   (score class, lex id)
 *
 * then each answer's text is decoded from its key bucket and its score read
 * through its class. No allocation: scratch lives on the caller's stack.
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
#include <utf8proc.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
    uint64_t table_end = AH_HEADER_SIZE + (uint64_t)ix->n_sec * AH_SECTION_ENTRY_SIZE;
    uint64_t prev_end = table_end;
    for (unsigned t = 0; t < ix->n_sec; t++) {
        const unsigned char *e = h + AH_HEADER_SIZE + t * AH_SECTION_ENTRY_SIZE;
        uint32_t id = ah_load_u32(e + AH_SEC_ID), i = ix->sec_ids[t];
        uint64_t off = ah_load_u64(e + AH_SEC_OFFSET);
        uint64_t len = ah_load_u64(e + AH_SEC_LENGTH);
        if (id != i)
            return ah_index__fail(err, errlen, AH_ECORRUPT, "section table entry %u has id %u",
                                  t + 1, id);
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
        {AH_SEC_SCORES, (uint64_t)ix->n_scores * 8, "scores"},
        {AH_SEC_CLASSES, div_ceil(n * ix->class_bits, 8), "classes"},
        {AH_SEC_WORD_ENTRIES, div_ceil((uint64_t)ix->word_entries * ix->id_bits, 8),
         "word-start entries"},
        {AH_SEC_GRAM_SLOTS, (uint64_t)ix->gram_slots * AH_GRAM_SLOT_SIZE, "gram slots"},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (ix->sec[need[i].id].len < need[i].need || ix->sec[need[i].id].len >= need[i].need + 8)
            return ah_index__fail(
                err, errlen, AH_ECORRUPT, "%s section is %llu bytes, expected %llu", need[i].what,
                (unsigned long long)ix->sec[need[i].id].len, (unsigned long long)need[i].need);
    if (ix->sec[AH_SEC_KEYS].len > UINT32_MAX || ix->sec[AH_SEC_NODES].len > UINT32_MAX ||
        ix->sec[AH_SEC_WORD_NODES].len > UINT32_MAX || ix->sec[AH_SEC_GRAM_BLOCKS].len > UINT32_MAX)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "keys or nodes section over 4 GiB");
    /* Entries are 8 bytes and sections 8-aligned: the alignment bytes are a part entry, dropped. */
    ix->look_n = (uint32_t)(ix->sec[AH_SEC_LOOK].len / AH_LOOK_ENTRY_SIZE);
    ix->word_look_n = (uint32_t)(ix->sec[AH_SEC_WORD_LOOK].len / AH_LOOK_ENTRY_SIZE);
    if (!(ix->flags & AH_FLAG_TYPO) && (ix->sec[AH_SEC_LOOK].len | ix->sec[AH_SEC_WORD_LOOK].len |
                                        ix->sec[AH_SEC_GRAM_BLOCKS].len))
        return ah_index__fail(err, errlen, AH_ECORRUPT, "typo index sections without the flag");
    if (ix->word_entries > 0 && ix->word_root >= ix->sec[AH_SEC_WORD_NODES].len)
        return ah_index__fail(err, errlen, AH_ECORRUPT,
                              "word-start root offset %u outside its trie", ix->word_root);
    uint64_t slots = ix->sec[AH_SEC_HOT_SLOTS].len / AH_HOT_SLOT_SIZE;
    if (ix->sec[AH_SEC_HOT_SLOTS].len % AH_HOT_SLOT_SIZE || (slots & (slots - 1)) != 0 ||
        slots > AH_HOT_MAX_SLOTS)
        return ah_index__fail(err, errlen, AH_ECORRUPT,
                              "hot prefix table is not a power of two of slots, up to %u",
                              AH_HOT_MAX_SLOTS);
    /* The longest prefix in the table: longer ones skip the probe. The table
     * is bounded (AH_HOT_MAX_SLOTS), so this stays constant work. */
    ix->hot_max_len = 0;
    for (uint64_t i = 0; i < slots; i++) {
        const unsigned char *slot = ix->sec[AH_SEC_HOT_SLOTS].data + i * AH_HOT_SLOT_SIZE;
        uint32_t l = ah_load_u32(slot + 4) & AH_HOT_LEN_MASK;
        if (ah_load_u32(slot) != AH_HOT_SLOT_EMPTY && l > ix->hot_max_len)
            ix->hot_max_len = l;
    }
    if (ix->root >= ix->sec[AH_SEC_NODES].len)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "root offset %u outside the trie",
                              ix->root);
    ix->fill_slots = ix->fills = 0;
    if (ix->flags & AH_FLAG_FILLS) {
        const ah_section_t *f = &ix->sec[AH_SEC_FILLS];
        uint32_t s = f->len >= AH_FILL_HEAD ? ah_load_u32(f->data) : 0;
        if (s < 2 || AH_FILL_HEAD + 4ull * s > f->len || ah_load_u32(f->data + 4) >= s)
            return ah_index__fail(err, errlen, AH_ECORRUPT, "fills table out of range");
        ix->fill_slots = s;
        ix->fills = ah_load_u32(f->data + 4);
    }
    return 0;
}

static int parse_header(ah_index_t *ix, char *err, size_t errlen)
{
    const unsigned char *h = ix->map;
    if (ix->size < AH_HEADER_SIZE || memcmp(h + AH_HDR_MAGIC, AH_MAGIC, AH_MAGIC_LEN) != 0)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "not an ahead snapshot (bad magic)");
    uint32_t version = ah_load_u32(h + AH_HDR_VERSION);
    if (version != AH_FORMAT_VERSION)
        return ah_index__fail(err, errlen, AH_EVERSION,
                              "snapshot format version %u, this build reads version %u: "
                              "rebuild the snapshot with this version's ahead-build",
                              version, AH_FORMAT_VERSION);
    if (ah_crc32(0, h, AH_HDR_HEADER_CRC) != ah_load_u32(h + AH_HDR_HEADER_CRC))
        return ah_index__fail(err, errlen, AH_ECORRUPT, "header checksum mismatch");
    ix->flags = ah_load_u32(h + AH_HDR_FLAGS);
    ix->n_sec = 0;
    for (unsigned i = 1; i <= AH_SECTION_COUNT; i++)
        ix->sec_ids[ix->n_sec++] = i;
    if (ix->flags & AH_FLAG_CONTEXTS)
        ix->sec_ids[ix->n_sec++] = AH_SEC_CONTEXTS;
    if (ix->flags & AH_FLAG_CHOSEONG)
        ix->sec_ids[ix->n_sec++] = AH_SEC_CHOSEONG;
    if (ix->flags & AH_FLAG_FILLS)
        ix->sec_ids[ix->n_sec++] = AH_SEC_FILLS;
    if (ah_load_u32(h + AH_HDR_HEADER_SIZE) != AH_HEADER_SIZE ||
        ah_load_u32(h + AH_HDR_SECTION_COUNT) != ix->n_sec)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "unexpected header or table size");
    uint64_t table_end = AH_HEADER_SIZE + (uint64_t)ix->n_sec * AH_SECTION_ENTRY_SIZE;
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
    ix->class_bits = ah_load_u32(h + AH_HDR_CLASS_BITS);
    ix->n_scores = ah_load_u32(h + AH_HDR_SCORE_COUNT);
    ix->root = ah_load_u32(h + AH_HDR_ROOT);
    ix->total_score = ah_load_u64(h + AH_HDR_TOTAL_SCORE);
    ix->word_entries = ah_load_u32(h + AH_HDR_WORD_ENTRIES);
    ix->word_nodes = ah_load_u32(h + AH_HDR_WORD_NODES);
    ix->word_root = ah_load_u32(h + AH_HDR_WORD_ROOT);
    ix->word_leaf = ah_load_u32(h + AH_HDR_WORD_LEAF);
    ix->id_bits = ah_load_u32(h + AH_HDR_ID_BITS);
    ix->typo_depth = ah_load_u32(h + AH_HDR_TYPO_DEPTH);
    ix->gram_slots = ah_load_u32(h + AH_HDR_GRAM_SLOTS);
    for (unsigned at = AH_HDR_GRAM_SLOTS + 4; at < AH_HDR_HEADER_CRC; at++)
        if (h[at] != 0)
            return ah_index__fail(err, errlen, AH_ECORRUPT, "reserved header bytes are not zero");
    if ((ix->flags & ~AH_FLAGS_DEFINED) != 0 ||
        (!(ix->flags & AH_FLAG_WORDS) && (ix->word_entries != 0 || ix->word_nodes != 0)) ||
        (ix->word_entries == 0) != (ix->word_nodes == 0) || ix->word_leaf == 0 ||
        ix->word_leaf > AH_MAX_WORD_LEAF)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "word-start index fields out of range");
    if (ix->flags & AH_FLAG_TYPO
            ? ix->typo_depth < 2 || ix->typo_depth > AH_MAX_GRAM_DEPTH || ix->gram_slots == 0 ||
                  (ix->gram_slots & (ix->gram_slots - 1)) != 0
            : ix->typo_depth != 0 || ix->gram_slots != 0)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "typo index fields out of range");
    if (ix->n == 0 || ix->topk == 0 || ix->topk > AH_MAX_TOPK || ix->bucket == 0 ||
        ix->bucket > AH_MAX_BUCKET || ix->max_text == 0 || ix->max_text > AH_MAX_TEXT_BYTES ||
        ix->max_key == 0 || ix->max_key > AH_MAX_KEY_BYTES || ix->inner_nodes == 0 ||
        ix->n_scores == 0 || ix->n_scores > ix->n || ix->class_bits == 0 || ix->class_bits > 32 ||
        ix->class_bits < ah_bits_for(ix->n_scores - 1) || (ix->bucket & (ix->bucket - 1)) != 0 ||
        ix->id_bits > 32 || ix->id_bits < ah_bits_for(ix->n - 1) || ix->id_bits == 0)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "header parameters out of range");
    ix->n_buckets = (uint32_t)div_ceil(ix->n, ix->bucket);
    ix->bucket_shift = (unsigned)__builtin_ctz(ix->bucket);
    int rc = check_sections(ix, err, errlen);
    return rc ? rc : check_sizes(ix, err, errlen);
}

static int value_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/*
 * The CONTEXTS section: its directory checked, and each context's snapshot
 * opened as a view into the mapping (its header and table checked as any
 * snapshot's, and its parameters the whole's). O(m) work, no allocation
 * per lookup.
 */
static int open_contexts(ah_index_t *ix, char *err, size_t errlen)
{
    const unsigned char *d = ix->sec[AH_SEC_CONTEXTS].data;
    uint64_t len = ix->sec[AH_SEC_CONTEXTS].len;
    uint32_t m = len >= 8 ? ah_load_u32(d) : 0;
    uint64_t dir_end = 8 + (uint64_t)m * AH_CONTEXT_ENTRY_SIZE;
    if (m == 0 || m > AH_MAX_CONTEXTS || ah_load_u32(d + 4) != 0 || dir_end > len)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "contexts directory out of range");
    ix->ctx_value = calloc(m, sizeof *ix->ctx_value);
    ix->ctx_value_len = calloc(m, sizeof *ix->ctx_value_len);
    ix->ctx_ix = calloc(m, sizeof *ix->ctx_ix);
    if (!ix->ctx_value || !ix->ctx_value_len || !ix->ctx_ix)
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    ix->n_contexts = m;
    uint64_t prev_end = dir_end;
    for (uint32_t c = 0; c < m; c++) {
        const unsigned char *e = d + 8 + (uint64_t)c * AH_CONTEXT_ENTRY_SIZE;
        uint64_t off = ah_load_u64(e), size = ah_load_u64(e + 8);
        uint32_t voff = ah_load_u32(e + 16), vlen = ah_load_u32(e + 20);
        if (vlen == 0 || vlen > AH_MAX_CONTEXT_BYTES || voff < dir_end || voff > len ||
            vlen > len - voff)
            return ah_index__fail(err, errlen, AH_ECORRUPT, "context %u: value out of bounds", c);
        ix->ctx_value[c] = d + voff;
        ix->ctx_value_len[c] = vlen;
        if (c > 0 && value_cmp(ix->ctx_value[c - 1], ix->ctx_value_len[c - 1], d + voff, vlen) >= 0)
            return ah_index__fail(err, errlen, AH_ECORRUPT, "context %u: values out of order", c);
        if (off % 8 || off < prev_end || off > len || size > len - off)
            return ah_index__fail(err, errlen, AH_ECORRUPT,
                                  "context %u: snapshot out of bounds (offset %llu, length %llu)",
                                  c, (unsigned long long)off, (unsigned long long)size);
        prev_end = off + size;
        ah_index_t *sub = &ix->ctx_ix[c];
        sub->map = d + off;
        sub->size = size;
        char why[200];
        int rc = parse_header(sub, why, sizeof why);
        if (!rc &&
            ((sub->flags & AH_FLAG_CONTEXTS) || sub->topk != ix->topk ||
             sub->bucket != ix->bucket || sub->max_text != ix->max_text ||
             /* the whole's flags, but contexts; typos only if the whole has them; its own Hangul */
             /* and no fills (a context's lookups walk) */
             (sub->flags & ~(AH_FLAG_TYPO | AH_FLAG_CHOSEONG)) !=
                 (ix->flags &
                  ~(AH_FLAG_CONTEXTS | AH_FLAG_TYPO | AH_FLAG_CHOSEONG | AH_FLAG_FILLS)) ||
             (sub->flags & ~ix->flags & AH_FLAG_TYPO)))
            rc = ah_index__fail(why, sizeof why, AH_ECORRUPT, "parameters differ from the whole's");
        if (rc)
            return ah_index__fail(err, errlen, rc == AH_EVERSION ? AH_ECORRUPT : rc,
                                  "context \"%.*s\": %s", (int)vlen, (const char *)d + voff, why);
    }
    return 0;
}

int ah_context_value_check(const char **value, size_t *len)
{
    const unsigned char *v = (const unsigned char *)*value;
    size_t n = *len;
    while (n > 0 && v[0] == ' ')
        v++, n--;
    while (n > 0 && v[n - 1] == ' ')
        n--;
    *value = (const char *)v;
    *len = n;
    if (n == 0)
        return AH_EINVAL;
    if (n > AH_MAX_CONTEXT_BYTES)
        return AH_ETOOLONG;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate(v + i, (utf8proc_ssize_t)(n - i), &cp);
        if (step <= 0)
            return AH_EUTF8;
        if (cp < 0x20 || cp == ',' || (cp >= 0x7f && cp <= 0x9f))
            return AH_EINVAL;
        i += (size_t)step;
    }
    return 0;
}

uint32_t ah_index_context_count(const ah_index_t *ix)
{
    return ix->n_contexts;
}

const char *ah_index_context_value(const ah_index_t *ix, uint32_t i, size_t *len)
{
    if (i >= ix->n_contexts)
        return NULL;
    *len = ix->ctx_value_len[i];
    return (const char *)ix->ctx_value[i];
}

const ah_index_t *ah_index_context_at(const ah_index_t *ix, uint32_t i)
{
    return i < ix->n_contexts ? &ix->ctx_ix[i] : NULL;
}

const ah_index_t *ah_index_context(const ah_index_t *ix, const char *value, size_t len)
{
    uint32_t lo = 0, hi = ix->n_contexts;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = value_cmp(ix->ctx_value[mid], ix->ctx_value_len[mid], (const unsigned char *)value,
                          len);
        if (c == 0)
            return &ix->ctx_ix[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Reads len bytes at offset off; 0, or -1 with errno set (0 when the file ends early). */
static int read_fully(int fd, void *buf, size_t len, off_t off)
{
    for (size_t got = 0; got < len;) {
        ssize_t k = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = 0;
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

#define HUGE_PAGE_BYTES ((size_t)2 << 20)

/*
 * Reserves len bytes of address space (no memory) that start at a huge
 * page boundary, for a mapping placed there with MAP_FIXED; NULL when the
 * address space has no room.
 */
static void *reserve_aligned(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (len + page - 1) & ~(page - 1), span = rounded + HUGE_PAGE_BYTES;
    unsigned char *raw =
        mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    unsigned char *at = (unsigned char *)(((uintptr_t)raw + HUGE_PAGE_BYTES - 1) &
                                          ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
    if (at > raw)
        munmap(raw, (size_t)(at - raw));
    if (raw + span > at + rounded)
        munmap(at + rounded, (size_t)(raw + span - (at + rounded)));
    return at;
}

int ah_index_open_fd(int fd, const char *name, ah_index_t **out, char *err, size_t errlen)
{
    *out = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ah_index__fail(err, errlen, AH_EIO, "%s: %s", name, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size < AH_HEADER_SIZE)
        return ah_index__fail(err, errlen, AH_ECORRUPT, "%s: %s", name,
                              S_ISREG(st.st_mode) ? "too short to be a snapshot"
                                                  : "not a regular file");
    /*
     * Read the header and section table once with pread: where the disk
     * cannot give them, that is an error here, not SIGBUS at the first
     * touch of the mapping. (Checksums, pread too, cover the rest.)
     */
    unsigned char probe[AH_HEADER_SIZE + AH_SECTION_MAX * AH_SECTION_ENTRY_SIZE];
    size_t want = (uint64_t)st.st_size < sizeof probe ? (size_t)st.st_size : sizeof probe;
    if (read_fully(fd, probe, want, 0) != 0)
        return ah_index__fail(err, errlen, AH_EIO, "%s: cannot read the header: %s", name,
                              errno ? strerror(errno) : "the file ends early");
    /* At a huge page boundary, so that a private copy can take its place in 2 MB pages. */
    void *at = reserve_aligned((size_t)st.st_size);
    void *map = mmap(at, (size_t)st.st_size, PROT_READ, MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
    if (map == MAP_FAILED && at)
        munmap(at, (size_t)st.st_size);
    if (map == MAP_FAILED)
        return ah_index__fail(err, errlen, AH_EIO, "%s: mmap: %s", name, strerror(errno));
    ah_index_t *ix = calloc(1, sizeof *ix);
    if (!ix) {
        munmap(map, (size_t)st.st_size);
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    }
    ix->map = map;
    ix->size = (uint64_t)st.st_size;
    int rc = parse_header(ix, err, errlen);
    if (!rc && (ix->flags & AH_FLAG_CONTEXTS))
        rc = open_contexts(ix, err, errlen);
    if (rc) {
        ah_index_close(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

int ah_index_open(const char *path, ah_index_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ah_index__fail(err, errlen, AH_EIO, "%s: %s", path, strerror(errno));
    int rc = ah_index_open_fd(fd, path, out, err, errlen);
    close(fd); /* the mapping keeps the file */
    return rc;
}

int ah_index_detach_paced(ah_index_t *ix, int fd, ah_pace_fn pace, void *arg, char *err,
                          size_t errlen)
{
    size_t len = (size_t)ix->size;
    unsigned char *copy = reserve_aligned(len);
    if (copy == NULL || mmap(copy, len, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
        int e = errno;
        if (copy)
            munmap(copy, len);
        return ah_index__fail(err, errlen, AH_ENOMEM, "detach: %s", strerror(e));
    }
    /*
     * In 2 MB pages where the kernel gives them (transparent huge pages,
     * "madvise" or "always"): a walk over a large snapshot then misses the
     * TLB far less often than in 4 KB pages.
     */
    ix->huge_pages = madvise(copy, len, MADV_HUGEPAGE) == 0 && ah_huge_pages_available();
    for (size_t at = 0; at < len; at += AH_PACE_BYTES) {
        size_t piece = len - at < AH_PACE_BYTES ? len - at : AH_PACE_BYTES;
        if (fd < 0)
            memcpy(copy + at, ix->map + at, piece);
        else if (read_fully(fd, copy + at, piece, (off_t)at) != 0) {
            int e = errno;
            munmap(copy, len);
            ix->huge_pages = 0;
            return ah_index__fail(err, errlen, AH_EIO,
                                  "cannot read the file's bytes %llu..%llu: %s",
                                  (unsigned long long)at, (unsigned long long)(at + piece),
                                  e ? strerror(e) : "it ends early");
        }
        if (pace)
            pace(arg);
    }
    /*
     * mremap moves the copy's pages over the file mapping in one step under
     * the kernel's address-space lock: a concurrent lookup reads either the
     * file's page or the copy's, which hold the same bytes, and every
     * pointer into the snapshot stays valid. Both are at huge page
     * boundaries, so the 2 MB pages move whole.
     */
    if (mprotect(copy, len, PROT_READ) != 0 ||
        mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)ix->map) == MAP_FAILED) {
        int e = errno;
        munmap(copy, len);
        ix->huge_pages = 0;
        return ah_index__fail(err, errlen, AH_ENOMEM, "detach: %s", strerror(e));
    }
    ix->detached = 1;
    return 0;
}

int ah_index_detach(ah_index_t *ix, char *err, size_t errlen)
{
    return ah_index_detach_paced(ix, -1, NULL, NULL, err, errlen);
}

int ah_index_detached(const ah_index_t *ix)
{
    return ix->detached;
}

const char *ah_index_memory(const ah_index_t *ix)
{
    return !ix->detached ? "map" : ix->huge_pages ? "copy, huge pages" : "copy";
}

int ah_huge_pages_available(void)
{
    char line[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == NULL)
        return 0;
    int ok = fgets(line, sizeof line, f) != NULL && strstr(line, "[never]") == NULL;
    fclose(f);
    return ok;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

int ah_index_prefault(const ah_index_t *ix)
{
    return madvise((void *)ix->map, (size_t)ix->size, MADV_POPULATE_READ);
}

int ah_index__release_pages(const ah_index_t *ix)
{
    if (ix->detached)
        return -1; /* the copy's pages are the only ones it has */
    return madvise((void *)ix->map, (size_t)ix->size, MADV_DONTNEED);
}

void ah_index_close(ah_index_t *ix)
{
    if (!ix)
        return;
    munmap((void *)ix->map, (size_t)ix->size);
    free(ix->ctx_value);
    free(ix->ctx_value_len);
    free(ix->ctx_ix);
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
    st->has_words = (ix->flags & AH_FLAG_WORDS) != 0;
    st->word_entries = ix->word_entries;
    st->word_nodes = ix->word_nodes;
    st->word_leaf = ix->word_leaf;
    st->has_typo_index = (ix->flags & AH_FLAG_TYPO) != 0;
    st->typo_depth = ix->typo_depth;
    st->contexts = ix->n_contexts;
    st->fills = ix->fills;
    for (unsigned t = 0; t < ix->n_sec; t++)
        st->section_bytes[ix->sec_ids[t]] = ix->sec[ix->sec_ids[t]].len + AH_SECTION_PAD;
}

/* ------------------------------------------------------ keys and scores */

/* Set bits per byte value: the portable x86-64 baseline has no popcnt instruction. */
static const unsigned char bits_in_byte[256] = {
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
    B6(0), B6(1), B6(1), B6(2)
#undef B6
#undef B4
#undef B2
};

int ah_index__bucket(const ah_index_t *ix, uint32_t b, ah_bucket_t *bk)
{
    const unsigned char *kidx = ix->sec[AH_SEC_KEY_INDEX].data;
    uint32_t from = ah_load_u32(kidx + 4 * (uint64_t)b);
    uint32_t to = ah_load_u32(kidx + 4 * (uint64_t)b + 4);
    if (from >= to || to > ix->sec[AH_SEC_KEYS].len)
        return AH_ECORRUPT;
    const unsigned char *p = ix->sec[AH_SEC_KEYS].data + from;
    const unsigned char *end = ix->sec[AH_SEC_KEYS].data + to;
    unsigned flags = *p++;
    if (flags & AH_BUCKET_RESERVED)
        return AH_ECORRUPT;
    uint32_t first = b * ix->bucket;
    bk->count = ix->n - first < ix->bucket ? ix->n - first : ix->bucket;
    bk->w = flags & AH_BUCKET_WIDE ? 2 : 1;
    uint64_t lengths = 2 * (uint64_t)bk->count * bk->w;
    if (lengths > (uint64_t)(end - p))
        return AH_ECORRUPT;
    bk->shared = p;
    bk->added = p + bk->count * bk->w;
    p += lengths;
    bk->bitmap = NULL;
    bk->displays = NULL;
    bk->n_displays = 0;
    if (flags & AH_BUCKET_HAS_DISPLAY) {
        uint32_t map_len = (bk->count + 7) / 8;
        if (map_len > (uint64_t)(end - p))
            return AH_ECORRUPT;
        bk->bitmap = p;
        for (uint32_t i = 0; i < map_len; i++)
            bk->n_displays += bits_in_byte[p[i]];
        p += map_len;
        if ((uint64_t)bk->n_displays * 4 > (uint64_t)(end - p))
            return AH_ECORRUPT;
        bk->displays = p;
        p += (uint64_t)bk->n_displays * 4;
    }
    bk->bytes = p;
    bk->bytes_len = (uint32_t)(end - p);
    return 0;
}

uint64_t ah_index__bucket_display(const ah_bucket_t *bk, uint32_t j)
{
    if (!bk->bitmap || !(bk->bitmap[j / 8] & (1u << (j % 8))))
        return UINT64_MAX;
    uint32_t before = 0;
    for (uint32_t i = 0; i < j / 8; i++)
        before += bits_in_byte[bk->bitmap[i]];
    before += bits_in_byte[bk->bitmap[j / 8] & ((1u << (j % 8)) - 1)];
    return ah_load_u32(bk->displays + 4 * (uint64_t)before);
}

/*
 * memcpy for the few bytes a key record adds, without a library call for
 * each: up to 16 bytes as two fixed-size copies that may overlap, which
 * read and write only [0, n).
 */
static inline void copy_short(char *dst, const unsigned char *src, uint32_t n)
{
    if (n > 16) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else if (n > 0) {
        dst[0] = (char)src[0];
        dst[n / 2] = (char)src[n / 2];
        dst[n - 1] = (char)src[n - 1];
    }
}

/* Where key j's added bytes start: the sum of A[0..j) of a bucket with one byte a length. */
static inline uint64_t added_before(const ah_bucket_t *bk, uint32_t j)
{
#ifdef __SSE2__
    /* Sixteen lengths at once when the bucket goes on that far (it nearly always does). */
    if (j < 16 && bk->bytes + bk->bytes_len - bk->added >= 16) {
        const __m128i lane = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)bk->added);
        v = _mm_and_si128(v, _mm_cmplt_epi8(lane, _mm_set1_epi8((char)j)));
        __m128i sums = _mm_sad_epu8(v, _mm_setzero_si128()); /* the two halves' sums */
        return (uint64_t)_mm_cvtsi128_si32(sums) + (uint64_t)_mm_extract_epi16(sums, 4);
    }
#endif
    uint64_t start = 0;
    for (uint32_t i = 0; i < j; i++)
        start += bk->added[i];
    return start;
}

/*
 * The bytes of key j that it shares with the keys before it, [0, need),
 * into key: walking back, key i supplies bytes [S[i], need) that later
 * keys kept; start is where key j's added bytes begin. w is the bucket's
 * width, passed as a constant so that each width gets a loop of its own.
 */
static inline int shared_bytes(const ah_bucket_t *bk, unsigned w, uint32_t j, uint64_t start,
                               uint32_t need, char *key)
{
    for (uint32_t i = j; need > 0;) {
        if (i == 0)
            return AH_ECORRUPT; /* the bucket's first key shares nothing */
        i--;
        uint32_t add = ah_bucket_len(bk->added, w, i), sh = ah_bucket_len(bk->shared, w, i);
        start -= add;
        if (sh < need) {
            if (need - sh > add)
                return AH_ECORRUPT; /* a key shared more than its predecessor had */
            copy_short(key + sh, bk->bytes + start, need - sh);
            need = sh;
        }
    }
    return 0;
}

/*
 * Decodes key j of a parsed bucket (see ah_index__key_at). *end receives
 * where its added bytes end, which is where key j+1's begin.
 */
static int key_in_bucket(const ah_index_t *ix, const ah_bucket_t *b, uint32_t j, char *key,
                         uint32_t *len, uint64_t *display, uint32_t *end)
{
    const ah_bucket_t bk = *b;
    uint64_t start = 0;
    if (bk.w == 1) { /* the common case, kept free of per-byte width tests */
        start = added_before(&bk, j);
    } else {
        for (uint32_t i = 0; i < j; i++)
            start += ah_bucket_added(&bk, i);
    }
    uint32_t add = ah_bucket_added(&bk, j), sh = ah_bucket_shared(&bk, j);
    if (start + add > bk.bytes_len || sh + add == 0 || sh + add > ix->max_key)
        return AH_ECORRUPT;
    copy_short(key + sh, bk.bytes + start, add);
    int rc = bk.w == 1 ? shared_bytes(&bk, 1, j, start, sh, key)
                       : shared_bytes(&bk, 2, j, start, sh, key);
    if (rc)
        return rc;
    *len = sh + add;
    *display = ah_index__bucket_display(&bk, j);
    *end = (uint32_t)(start + add);
    return 0;
}

int ah_index__key_at(const ah_index_t *ix, uint32_t id, char *key, uint32_t *len, uint64_t *display)
{
    ah_bucket_t bk;
    uint32_t end;
    int rc = ah_index__bucket(ix, id >> ix->bucket_shift, &bk);
    return rc ? rc : key_in_bucket(ix, &bk, id & (ix->bucket - 1), key, len, display, &end);
}

int ah_index__text_at(const ah_index_t *ix, uint32_t id, char *key, const char **text,
                      uint32_t *len)
{
    ah_bucket_t bk;
    uint32_t j = id & (ix->bucket - 1), key_len, end;
    int rc = ah_index__bucket(ix, id >> ix->bucket_shift, &bk);
    if (rc || j >= bk.count)
        return rc ? rc : AH_ECORRUPT;
    uint64_t display = ah_index__bucket_display(&bk, j);
    if (display == UINT64_MAX &&
        (rc = key_in_bucket(ix, &bk, j, key, &key_len, &display, &end)) != 0)
        return rc;
    return ah_index__display(ix, display, key, display == UINT64_MAX ? key_len : 0, text, len);
}

/* Makes key c->j of the current bucket from the previous one (or from nothing, j = 0). */
static int cursor_extend(ah_key_cursor_t *c)
{
    uint32_t sh = ah_bucket_shared(&c->bk, c->j), add = ah_bucket_added(&c->bk, c->j);
    if ((c->j == 0 ? sh != 0 : sh > c->len) || sh + add == 0 || sh + add > c->ix->max_key ||
        add > c->bk.bytes_len - c->pos)
        return AH_ECORRUPT;
    memcpy(c->key + sh, c->bk.bytes + c->pos, add);
    c->pos += add;
    c->len = sh + add;
    c->display = ah_index__bucket_display(&c->bk, c->j);
    return 0;
}

static int cursor_enter_bucket(ah_key_cursor_t *c, uint32_t b)
{
    int rc = ah_index__bucket(c->ix, b, &c->bk);
    if (rc)
        return rc;
    c->j = 0;
    c->pos = 0;
    c->len = 0;
    return cursor_extend(c);
}

int ah_index__cursor_seek(ah_key_cursor_t *c, const ah_index_t *ix, uint32_t id)
{
    c->ix = ix;
    c->id = id;
    c->j = id & (ix->bucket - 1);
    int rc = ah_index__bucket(ix, id >> ix->bucket_shift, &c->bk);
    return rc ? rc : key_in_bucket(ix, &c->bk, c->j, c->key, &c->len, &c->display, &c->pos);
}

int ah_index__cursor_next(ah_key_cursor_t *c)
{
    c->id++;
    if (++c->j == c->bk.count) {
        if (c->pos != c->bk.bytes_len)
            return AH_ECORRUPT;
        return cursor_enter_bucket(c, c->id >> c->ix->bucket_shift);
    }
    return cursor_extend(c);
}

uint32_t ah_index__class(const ah_index_t *ix, uint32_t id)
{
    return (uint32_t)ah_bits_get(ix->sec[AH_SEC_CLASSES].data, (uint64_t)id * ix->class_bits,
                                 ix->class_bits);
}

int ah_index__score(const ah_index_t *ix, uint32_t cls, uint64_t *score)
{
    if (cls >= ix->n_scores)
        return AH_ECORRUPT;
    *score = ah_load_u64(ix->sec[AH_SEC_SCORES].data + 8 * (uint64_t)cls);
    return 0;
}

int ah_index__display(const ah_index_t *ix, uint64_t display, const char *key, uint32_t key_len,
                      const char **text, uint32_t *len)
{
    if (display == UINT64_MAX) {
        *text = key;
        *len = key_len;
        return key_len > ix->max_text ? AH_ECORRUPT : 0;
    }
    const ah_section_t *s = &ix->sec[AH_SEC_DISPLAY];
    if (display >= s->len)
        return AH_ECORRUPT;
    const unsigned char *p = s->data + display, *end = s->data + s->len;
    uint64_t n;
    if (!ah_varint_get(&p, end, &n) || n == 0 || n > ix->max_text || n > (uint64_t)(end - p))
        return AH_ECORRUPT;
    *text = (const char *)p;
    *len = (uint32_t)n;
    return 0;
}

/* ---------------------------------------------------------------- nodes */

/*
 * The parser itself, inlined into the lookup loops; see ah_index__node_parse()
 * and ah_index__word_node_parse(). A word-start node (words != 0) counts
 * entries rather than keys, lists at most min(K, count) distinct keys and
 * has no inline answers.
 */
static inline __attribute__((always_inline)) int parse_record(const ah_index_t *ix, uint32_t off,
                                                              ah_node_t *nd, int words)
{
    const ah_section_t *s = &ix->sec[words ? AH_SEC_WORD_NODES : AH_SEC_NODES];
    const unsigned char *p = s->data + off, *end = s->data + s->len;
    uint64_t label_len, count, m;
    if (off >= s->len || !ah_varint_get(&p, end, &label_len) || label_len > (uint64_t)(end - p) ||
        label_len > ix->max_key)
        return AH_ECORRUPT;
    nd->offset = off;
    nd->label = p;
    nd->label_len = (uint32_t)label_len;
    p += label_len;
    if (!ah_varint_get(&p, end, &count) || !ah_varint_get(&p, end, &m) || count == 0 ||
        count > (words ? ix->word_entries : ix->n) || m > 256 || p >= end)
        return AH_ECORRUPT;
    unsigned widths = *p++;
    if (widths & (words ? AH_NODE_WIDTHS_RESERVED | AH_NODE_INLINE : AH_NODE_WIDTHS_RESERVED))
        return AH_ECORRUPT;
    nd->count = (uint32_t)count;
    nd->n_children = (uint32_t)m;
    nd->wr = (widths & AH_NODE_WR_MASK) + 1;
    nd->wp = ((widths & AH_NODE_WP_MASK) >> AH_NODE_WP_SHIFT) + 1;
    nd->hot = (widths & AH_NODE_INLINE) != 0;
    unsigned look = ix->flags & AH_FLAG_TYPO ? 4 : 0;
    uint64_t table = m * (1 + nd->wr + nd->wp);
    if (table + look + 1 > (uint64_t)(end - p))
        return AH_ECORRUPT;
    nd->child_bytes = p;
    nd->child_lo = p + m;
    nd->child_ptr = nd->child_lo + m * nd->wr;
    p += table;
    nd->look = NULL;
    if (look) {
        /* A word-start record's 0x00 edge (first when present) has no entry. */
        uint64_t at = ah_load_u32(p), entries = m - (words && m > 0 && nd->child_bytes[0] == 0);
        if (at + entries > (words ? ix->word_look_n : ix->look_n))
            return AH_ECORRUPT;
        nd->look = ix->sec[words ? AH_SEC_WORD_LOOK : AH_SEC_LOOK].data + at * AH_LOOK_ENTRY_SIZE;
        p += 4;
    }
    nd->list_len = *p++;
    nd->list = p;
    uint32_t want = count < ix->topk ? (uint32_t)count : ix->topk;
    if ((words ? nd->list_len == 0 || nd->list_len > want : nd->list_len != want) ||
        (uint64_t)nd->list_len * nd->wr > (uint64_t)(end - p))
        return AH_ECORRUPT;
    if (m == 0 && (words || count != 1))
        return AH_ECORRUPT;
    return 0;
}

static inline __attribute__((always_inline)) int node_parse(const ah_index_t *ix, uint32_t off,
                                                            ah_node_t *nd)
{
    return parse_record(ix, off, nd, 0);
}

int ah_index__node_parse(const ah_index_t *ix, uint32_t off, ah_node_t *nd)
{
    return parse_record(ix, off, nd, 0);
}

int ah_index__word_node_parse(const ah_index_t *ix, uint32_t off, ah_node_t *nd)
{
    return parse_record(ix, off, nd, 1);
}

int ah_index__node_child(const ah_node_t *nd, uint32_t j, uint32_t *lo, uint32_t *hi,
                         uint32_t *child_off)
{
    *lo = ah_load_uw(nd->child_lo + j * nd->wr, nd->wr);
    *hi = j + 1 < nd->n_children ? ah_load_uw(nd->child_lo + (j + 1) * nd->wr, nd->wr) : nd->count;
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

/* The inline-answer reader itself, inlined into the lookup; see ah_index__node_inline(). */
static inline __attribute__((always_inline)) int node_inline(const ah_index_t *ix,
                                                             const unsigned char **p,
                                                             uint64_t *score, const char **text,
                                                             uint32_t *len)
{
    const unsigned char *end = ix->sec[AH_SEC_NODES].data + ix->sec[AH_SEC_NODES].len;
    const ah_section_t *hot = &ix->sec[AH_SEC_HOT_TEXTS];
    uint64_t cls, at, n;
    if (!ah_varint_get(p, end, &cls) || cls >= ix->n_scores || !ah_varint_get(p, end, &at) ||
        at >= hot->len)
        return AH_ECORRUPT;
    const unsigned char *t = hot->data + at, *tend = hot->data + hot->len;
    if (!ah_varint_get(&t, tend, &n) || n == 0 || n > ix->max_text || n > (uint64_t)(tend - t))
        return AH_ECORRUPT;
    ah_index__score(ix, (uint32_t)cls, score);
    *text = (const char *)t;
    *len = (uint32_t)n;
    return 0;
}

int ah_index__node_inline(const ah_index_t *ix, const unsigned char **p, uint64_t *score,
                          const char **text, uint32_t *len)
{
    return node_inline(ix, p, score, text, len);
}

/* ---------------------------------------------------------------- lookup */

/* Declared, and why, in index_internal.h. */
void ah_index__prefetch_answers(const ah_index_t *ix, const uint32_t *ids, size_t n)
{
    const unsigned char *kidx = ix->sec[AH_SEC_KEY_INDEX].data;
    for (size_t i = 0; i < n; i++) {
        __builtin_prefetch(kidx + 4 * (uint64_t)(ids[i] >> ix->bucket_shift));
        __builtin_prefetch(ix->sec[AH_SEC_CLASSES].data + ((uint64_t)ids[i] * ix->class_bits >> 3));
    }
    for (size_t i = 0; i < n; i++) {
        /* The whole bucket: its lengths and its bytes are on different lines. */
        const unsigned char *b = kidx + 4 * (uint64_t)(ids[i] >> ix->bucket_shift);
        uint32_t from = ah_load_u32(b), to = ah_load_u32(b + 4);
        if (from < to && to <= ix->sec[AH_SEC_KEYS].len)
            for (uint32_t at = from; at < to; at += 64)
                __builtin_prefetch(ix->sec[AH_SEC_KEYS].data + at);
    }
}

/*
 * Writes the completions of lex ids ids[0..n) (best first) into out, their
 * texts into text, their loads started together first.
 */
static int emit_all(const ah_index_t *ix, const uint32_t *ids, size_t n, ah_completion_t *out,
                    char *text, size_t cap)
{
    uint32_t cls[AH_MAX_TOPK];
    ah_index__prefetch_answers(ix, ids, n);
    for (size_t i = 0; i < n; i++)
        cls[i] = ah_index__class(ix, ids[i]);
    size_t used = 0;
    char key[AH_MAX_KEY_BYTES];
    for (size_t i = 0; i < n; i++) {
        uint32_t len;
        const char *t;
        int rc = ah_index__text_at(ix, ids[i], key, &t, &len);
        if (rc || (rc = ah_index__put_text(&out[i], text, cap, &used, t, len)) != 0 ||
            (rc = ah_index__score(ix, cls[i], &out[i].score)) != 0)
            return rc;
    }
    return 0;
}

/* The answer is a node's precomputed list (ids: see ah_index__exact). */
static int answer_from_list(const ah_index_t *ix, const ah_node_t *nd, uint32_t lo, unsigned k,
                            ah_completion_t *out, char *text, size_t cap, size_t *n_out,
                            uint32_t *ids)
{
    uint32_t own[AH_MAX_TOPK];
    size_t n = k < nd->list_len ? k : nd->list_len;
    if (!ids)
        ids = own;
    if (nd->hot) {
        const unsigned char *p = nd->list + nd->list_len * nd->wr;
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            const char *t;
            uint32_t len, rel;
            int rc = node_inline(ix, &p, &out[i].score, &t, &len);
            if (rc || (rc = ah_index__put_text(&out[i], text, cap, &used, t, len)) != 0 ||
                (n < k && (rc = ah_index__node_list(nd, (uint32_t)i, &rel)) != 0))
                return rc;
            ids[i] = n < k ? lo + rel : UINT32_MAX;
        }
        *n_out = n;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t rel;
        int rc = ah_index__node_list(nd, (uint32_t)i, &rel);
        if (rc)
            return rc;
        ids[i] = lo + rel;
    }
    int rc = emit_all(ix, ids, n, out, text, cap);
    *n_out = rc ? 0 : n;
    return rc;
}

/* Room for the texts of a light range's candidates, kept while scanning it. */
#define SCAN_TEXT_BYTES 8192

/*
 * The answer is the keys of the light range [a, b) that start with P, in
 * rank order. The scan decodes every key of the range anyway, so each
 * candidate's text is kept as it goes by (in a stack buffer; one that does
 * not fit is decoded again at the end) instead of being looked up twice.
 */
static int answer_from_scan(const ah_index_t *ix, uint32_t a, uint32_t b, const char *key,
                            size_t len, unsigned k, ah_completion_t *out, char *text, size_t cap,
                            size_t *n_out, uint32_t *ids)
{
    uint64_t rank[AH_MAX_TOPK]; /* class << 32 | lex id: ascending is best first */
    uint32_t toff[AH_MAX_TOPK], tlen[AH_MAX_TOPK];
    char scratch[SCAN_TEXT_BYTES];
    uint32_t n = 0, used = 0;
    ah_key_cursor_t c;
    int rc = ah_index__cursor_seek(&c, ix, a);
    for (uint32_t i = a; !rc && i < b; i++) {
        if (i > a && (rc = ah_index__cursor_next(&c)) != 0)
            break;
        if (c.len < len || memcmp(c.key, key, len) != 0) {
            if (n > 0)
                break; /* matches are contiguous in lex order */
            continue;
        }
        const char *t;
        uint32_t tl;
        if ((rc = ah_index__display(ix, c.display, c.key, c.len, &t, &tl)) != 0)
            break;
        uint32_t off = UINT32_MAX;
        if (tl <= SCAN_TEXT_BYTES - used) {
            memcpy(scratch + used, t, tl);
            off = used;
            used += tl;
        }
        /* Insertion by rank; the range holds at most topk keys. */
        uint64_t r = (uint64_t)ah_index__class(ix, i) << 32 | i;
        uint32_t j = n++;
        for (; j > 0 && rank[j - 1] > r; j--) {
            rank[j] = rank[j - 1];
            toff[j] = toff[j - 1];
            tlen[j] = tlen[j - 1];
        }
        rank[j] = r;
        toff[j] = off;
        tlen[j] = tl;
    }
    if (rc)
        return rc;
    size_t m = n < k ? n : k, at = 0;
    for (size_t i = 0; i < m && ids; i++)
        ids[i] = (uint32_t)rank[i];
    for (size_t i = 0; i < m && !rc; i++) {
        if (toff[i] == UINT32_MAX) { /* did not fit while scanning */
            uint32_t id = (uint32_t)rank[i];
            rc = emit_all(ix, &id, 1, &out[i], text + at, cap - at);
            at += rc ? 0 : out[i].text_len;
            continue;
        }
        rc = ah_index__put_text(&out[i], text, cap, &at, scratch + toff[i], tlen[i]);
        if (!rc)
            rc = ah_index__score(ix, (uint32_t)(rank[i] >> 32), &out[i].score);
    }
    *n_out = rc ? 0 : m;
    return rc;
}

int ah_index__locate(const ah_index_t *ix, const char *key, size_t len, ah_locus_t *at)
{
    uint32_t off = ix->root, lo = 0, count = ix->n;
    size_t depth = 0;
    at->kind = AH_LOCUS_NONE;
    /* Each step consumes at least one byte of the key, so this ends. */
    for (;;) {
        ah_node_t *nd = &at->node;
        int rc = node_parse(ix, off, nd);
        if (rc)
            return rc;
        if (nd->count != count || lo > ix->n - count)
            return AH_ECORRUPT;
        size_t rest = len - depth;
        size_t cmp = rest < nd->label_len ? rest : nd->label_len;
        for (size_t i = 0; i < cmp; i++) /* labels are short: no library call */
            if (nd->label[i] != (unsigned char)key[depth + i])
                return 0;
        if (rest <= nd->label_len) {
            at->kind = AH_LOCUS_NODE;
            at->lo = lo;
            return 0;
        }
        depth += nd->label_len;
        const unsigned char *hit =
            memchr(nd->child_bytes, (unsigned char)key[depth], nd->n_children);
        if (!hit)
            return 0;
        uint32_t clo, chi, child;
        rc = ah_index__node_child(nd, (uint32_t)(hit - nd->child_bytes), &clo, &chi, &child);
        if (rc)
            return rc;
        if (child == UINT32_MAX) {
            if (chi - clo > ix->topk)
                return AH_ECORRUPT;
            at->kind = AH_LOCUS_RANGE;
            at->lo = lo + clo;
            at->hi = lo + chi;
            return 0;
        }
        off = child;
        lo += clo;
        count = chi - clo;
        depth += 1;
    }
}

int ah_index__hot_lookup(const ah_index_t *ix, const char *key, size_t len, uint32_t *node_off)
{
    const ah_section_t *slots = &ix->sec[AH_SEC_HOT_SLOTS], *paths = &ix->sec[AH_SEC_HOT_PATHS];
    uint64_t n = slots->len / AH_HOT_SLOT_SIZE;
    if (n == 0 || len > ix->hot_max_len)
        return 0;
    uint64_t mask = n - 1, at = ah_hash64(0, key, len) & mask;
    /* Open addressing: every probe sequence ends at an empty slot, or after n. */
    for (uint64_t probes = 0; probes < n; probes++, at = (at + 1) & mask) {
        const unsigned char *slot = slots->data + at * AH_HOT_SLOT_SIZE;
        uint32_t off = ah_load_u32(slot), ref = ah_load_u32(slot + 4);
        if (off == AH_HOT_SLOT_EMPTY)
            return 0;
        uint32_t l = ref & AH_HOT_LEN_MASK, path = ref >> AH_HOT_LEN_BITS;
        if (l == len && path <= paths->len && l <= paths->len - path &&
            memcmp(paths->data + path, key, len) == 0) {
            *node_off = off;
            return 1;
        }
    }
    return 0;
}

const unsigned char *ah_index__fill_find(const ah_index_t *ix, const char *key, size_t len,
                                         uint32_t lo)
{
    if (ix->fill_slots == 0 || len > AH_FILL_MAX_LEN)
        return NULL;
    const ah_section_t *f = &ix->sec[AH_SEC_FILLS];
    uint64_t at = ah_fill_slot(ah_hash64(0, key, len), ix->fill_slots);
    /* Open addressing: every probe sequence ends at an empty slot, or after S. */
    for (uint64_t probes = 0; probes < ix->fill_slots;
         probes++, at = at + 1 == ix->fill_slots ? 0 : at + 1) {
        uint32_t off = ah_load_u32(f->data + AH_FILL_HEAD + 4 * at);
        if (off == AH_FILL_SLOT_EMPTY)
            return NULL;
        if (off < AH_FILL_HEAD || off > f->len || f->len - off < AH_FILL_ENTRY_HEAD)
            return NULL; /* damaged: the walk answers instead */
        const unsigned char *e = f->data + off;
        if (e[4] == len && ah_load_u32(e) == lo)
            return e;
    }
    return NULL;
}

int ah_index__exact(const ah_index_t *ix, const char *key, size_t len, unsigned k,
                    ah_completion_t *out, char *text, size_t cap, size_t *n_out, uint32_t *ids)
{
    *n_out = 0;
    /* A popular prefix: its hot node, found in one probe, answers inline. */
    uint32_t hot;
    ah_locus_t at;
    if (ah_index__hot_lookup(ix, key, len, &hot) && node_parse(ix, hot, &at.node) == 0 &&
        at.node.hot) {
        /* Fewer than k answers only from the root, whose range starts at 0. */
        return answer_from_list(ix, &at.node, 0, k, out, text, cap, n_out, ids);
    }
    int rc = ah_index__locate(ix, key, len, &at);
    if (rc || at.kind == AH_LOCUS_NONE)
        return rc;
    if (at.kind == AH_LOCUS_NODE)
        return answer_from_list(ix, &at.node, at.lo, k, out, text, cap, n_out, ids);
    return answer_from_scan(ix, at.lo, at.hi, key, len, k, out, text, cap, n_out, ids);
}
