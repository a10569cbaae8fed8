/* SPDX-License-Identifier: MIT */
/*
 * verify.c: the deep check of a snapshot (ahead-query --verify, and the
 * server before it trusts a file it did not build itself, if asked).
 *
 * ah_index_open() checks only what is O(1); lookups check what they touch.
 * This walks everything and checks the invariants format.h promises:
 * checksums and content id; keys strictly increasing, each display text
 * normalizing to its key; the score table strictly decreasing, every class
 * in it and used; every hot prefix slot naming the node a descent finds;
 * every inner node's children partitioning its range
 * under the right edge bytes, light children small, and every list being
 * exactly its node's top-K; and the word-start index: every entry standing
 * for a word start of its key under its leaf's path, as many times as the
 * key has such word starts, leaves in rank order, lists the top distinct
 * keys, and the entries adding up to every word start of every key; the
 * sections made from the keys (typo index, initials, fills) are made again
 * and compared. It allocates O(n) scratch.
 */
#include "index_internal.h"

#include "bits.h"
#include "checksum.h"
#include "match.h"
#include "typo.h"
#include "walk.h"
#include "writer_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAIL(...) ah_index__fail(err, errlen, AH_ECORRUPT, __VA_ARGS__)

/*
 * Each byte is read by the CRC once: the body's CRC is assembled in file
 * order from the CRCs of the section table, the gaps and the sections (each
 * of which is checked against its own on the way) with ah_crc32_combine.
 * Reading the sections twice cost a reload of a 63 MB snapshot 30 ms more.
 *
 * The bytes come from the mapping, or, given a descriptor of the same file,
 * from pread() into a small buffer: on a virtual machine the first pass
 * over a fresh mapping pays a nested page-table walk per page, 124 ms for
 * the 92 MB npm snapshot against 27-38 ms read (measured here), and a
 * server's loops touch only the pages they need afterwards.
 */
typedef struct crc_source {
    const ah_index_t *ix;
    int fd;             /* -1: read the mapping */
    unsigned char *buf; /* AH_PACE_BYTES, with fd */
    ah_pace_fn pace;
    void *arg;
    uint64_t failed_at; /* where a read failed, with its errno (0: the file ended there) */
    int failed_errno;
} crc_source_t;

/* The CRC-32 of the file's bytes [off, off + len) continued from *crc; 0, or AH_EIO. */
static int crc_range(crc_source_t *src, uint32_t *crc, uint64_t off, uint64_t len)
{
    while (len > 0) {
        size_t n = len < AH_PACE_BYTES ? (size_t)len : AH_PACE_BYTES;
        const unsigned char *p = (const unsigned char *)src->ix->map + off;
        if (src->fd >= 0) {
            for (size_t got = 0; got < n;) {
                ssize_t k = pread(src->fd, src->buf + got, n - got, (off_t)(off + got));
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0) {
                    src->failed_at = off + got;
                    src->failed_errno = k < 0 ? errno : 0;
                    return AH_EIO;
                }
                got += (size_t)k;
            }
            p = src->buf;
        }
        *crc = ah_crc32(*crc, p, n);
        off += n;
        len -= n;
        if (src->pace != NULL && len > 0)
            src->pace(src->arg);
    }
    return 0;
}

static int read_failed(const crc_source_t *src, char *err, size_t errlen)
{
    return ah_index__fail(err, errlen, AH_EIO, "cannot read the file at byte %llu: %s",
                          (unsigned long long)src->failed_at,
                          src->failed_errno ? strerror(src->failed_errno)
                                            : "it ends there (truncated while loading)");
}

static int verify_checksums(crc_source_t *src, char *err, size_t errlen)
{
    const ah_index_t *ix = src->ix;
    uint64_t pos = AH_HEADER_SIZE; /* the body's bytes before pos are in body_crc */
    uint32_t body_crc = 0;
    /* Sections lie in table order, without overlap (checked at open). */
    for (unsigned t = 0; t < ix->n_sec; t++) {
        unsigned s = ix->sec_ids[t];
        const ah_section_t *sec = &ix->sec[s];
        uint64_t full = sec->len + AH_SECTION_PAD;
        uint32_t crc = 0;
        if (crc_range(src, &body_crc, pos, sec->file_off - pos) != 0 ||
            crc_range(src, &crc, sec->file_off, full) != 0)
            return read_failed(src, err, errlen);
        if (crc != sec->crc)
            return FAIL("section %u checksum mismatch", s);
        body_crc = ah_crc32_combine(body_crc, crc, full);
        pos = sec->file_off + full;
    }
    if (crc_range(src, &body_crc, pos, ix->size - pos) != 0)
        return read_failed(src, err, errlen);
    if (body_crc != ah_load_u32((const unsigned char *)ix->map + AH_HDR_BODY_CRC))
        return FAIL("file checksum mismatch");
    return 0;
}

int ah_index_verify_checksums_paced(const ah_index_t *ix, int fd, ah_pace_fn pace, void *arg,
                                    char *err, size_t errlen)
{
    crc_source_t src = {.ix = ix, .fd = fd, .pace = pace, .arg = arg};
    if (fd >= 0 && (src.buf = malloc(AH_PACE_BYTES)) == NULL)
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    int rc = verify_checksums(&src, err, errlen);
    free(src.buf);
    return rc;
}

int ah_index_verify_checksums(const ah_index_t *ix, char *err, size_t errlen)
{
    return ah_index_verify_checksums_paced(ix, -1, NULL, NULL, err, errlen);
}

/*
 * The content id recomputed from the sections. Once the CRCs hold, a
 * mismatch means a writer bug or a forged file, not damage, so this is part
 * of the full check only: it costs as much as the CRCs themselves.
 */
static int verify_content_id(const ah_index_t *ix, char *err, size_t errlen)
{
    uint64_t id = ah_hash64(ix->topk, &ix->bucket, sizeof ix->bucket);
    for (unsigned t = 0; t < ix->n_sec; t++)
        id = ah_hash64(id, ix->sec[ix->sec_ids[t]].data,
                       ix->sec[ix->sec_ids[t]].len + AH_SECTION_PAD);
    if (id != ix->content_id)
        return FAIL("content id does not match the content");
    return 0;
}

static int verify_keys(const ah_index_t *ix, char *err, size_t errlen)
{
    ah_key_cursor_t *c = malloc(sizeof *c);
    char *prev = malloc(AH_MAX_KEY_BYTES), *norm = malloc(AH_MAX_KEY_BYTES);
    int rc = (c && prev && norm) ? 0 : AH_ENOMEM;
    uint32_t prev_len = 0, max_key = 0;
    for (uint32_t i = 0; !rc && i < ix->n; i++) {
        if ((i == 0 ? ah_index__cursor_seek(c, ix, 0) : ah_index__cursor_next(c)) != 0) {
            rc = FAIL("key %u: bad record", i);
            break;
        }
        uint32_t m = prev_len < c->len ? prev_len : c->len;
        int cmp = memcmp(prev, c->key, m);
        if (i > 0 && (cmp > 0 || (cmp == 0 && prev_len >= c->len))) {
            rc = FAIL("key %u: keys out of order", i);
            break;
        }
        memcpy(prev, c->key, c->len);
        prev_len = c->len;
        if (c->len > max_key)
            max_key = c->len;
        const char *text;
        uint32_t tlen;
        size_t nlen;
        if (ah_index__display(ix, c->display, c->key, c->len, &text, &tlen) != 0 ||
            ah_normalize_key(text, tlen, norm, AH_MAX_KEY_BYTES, &nlen, 0) != 0 || nlen != c->len ||
            memcmp(norm, c->key, nlen) != 0) {
            rc = FAIL("key %u: display text does not normalize to its key", i);
            break;
        }
    }
    if (!rc && c->pos != c->bk.bytes_len)
        rc = FAIL("last key bucket has bytes after its last key");
    if (!rc && max_key != ix->max_key)
        rc = FAIL("header's longest key (%u) is not the longest key (%u)", ix->max_key, max_key);
    free(c);
    free(prev);
    free(norm);
    return rc;
}

/* Checks SCORES (strictly decreasing, all used) and CLASSES (in range), and the total. */
static int verify_scores(const ah_index_t *ix, char *err, size_t errlen)
{
    unsigned char *used = calloc(ix->n_scores, 1);
    if (!used)
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    uint64_t prev = 0, total = 0;
    int rc = 0;
    for (uint32_t c = 0; c < ix->n_scores && !rc; c++) {
        uint64_t s;
        ah_index__score(ix, c, &s);
        if (c > 0 && s >= prev)
            rc = FAIL("scores table not strictly decreasing at %u", c);
        prev = s;
    }
    for (uint32_t i = 0; i < ix->n && !rc; i++) {
        uint32_t c = ah_index__class(ix, i);
        uint64_t s;
        if (ah_index__score(ix, c, &s) != 0) {
            rc = FAIL("key %u: score class %u out of range", i, c);
            break;
        }
        used[c] = 1;
        total = s > UINT64_MAX - total ? UINT64_MAX : total + s;
    }
    for (uint32_t c = 0; c < ix->n_scores && !rc; c++)
        if (!used[c])
            rc = FAIL("score class %u is not used", c);
    if (!rc && total != ix->total_score)
        rc = FAIL("total score does not match the scores");
    free(used);
    return rc;
}

/* Scratch for the trie walk. */
typedef struct walk {
    const ah_index_t *ix;
    ah_key_cursor_t *cur;
    char *path; /* the current node's path */
    uint32_t visited;
    unsigned char *look_used; /* per LOOK entry, then per WORD_LOOK entry: seen */
    char *err;
    size_t errlen;
} walk_t;

/*
 * What a LOOK entry is checked against, built bottom-up: below a child
 * whose edge byte is at p, the bytes at p + 1 (raw, so that a parent whose
 * child has an empty label can pair them) and the pair mask of p + 1, p + 2.
 */
typedef struct follow {
    uint64_t bytes[4]; /* bit b: some string has byte b at p + 1 */
    uint32_t pair;
} follow_t;

/* Adds the bytes that follow offset p of a string s[0..len). */
static void follow_add(follow_t *f, const unsigned char *s, uint32_t len, uint32_t p)
{
    if (len > p + 1)
        f->bytes[s[p + 1] >> 6] |= 1ull << (s[p + 1] & 63);
    if (len > p + 2)
        f->pair |= 1u << ah_look_pair(s[p + 1], s[p + 2]);
}

/*
 * A record's own follow set, from its label and children (format.h): what
 * its parent's entry for it must say. kids[j] is child j's follow set; an
 * edge byte `skip` (the word-start trie's 0x00) stands for strings that
 * end, which add nothing.
 */
static void follow_of_record(const ah_node_t *nd, const follow_t *kids, int skip, follow_t *f)
{
    memset(f, 0, sizeof *f);
    const unsigned char *l = nd->label;
    if (nd->label_len >= 1)
        f->bytes[l[0] >> 6] |= 1ull << (l[0] & 63);
    if (nd->label_len >= 2)
        f->pair |= 1u << ah_look_pair(l[0], l[1]);
    for (uint32_t j = 0; j < nd->n_children && nd->label_len < 2; j++) {
        unsigned b = nd->child_bytes[j];
        if (skip >= 0 && b == (unsigned)skip)
            continue;
        if (nd->label_len == 1) {
            f->pair |= 1u << ah_look_pair(l[0], (unsigned char)b);
        } else {
            f->bytes[b >> 6] |= 1ull << (b & 63);
            for (unsigned c = 0; c < 256; c++)
                if (kids[j].bytes[c >> 6] >> (c & 63) & 1)
                    f->pair |= 1u << ah_look_pair((unsigned char)b, (unsigned char)c);
        }
    }
}

/* Checks child j's LOOK entry in a record of either trie against its follow set, once. */
static int check_look(walk_t *w, const ah_node_t *nd, uint32_t j, int words, const follow_t *f)
{
    char *err = w->err;
    size_t errlen = w->errlen;
    const ah_index_t *ix = w->ix;
    const unsigned char *base = ix->sec[words ? AH_SEC_WORD_LOOK : AH_SEC_LOOK].data;
    uint64_t at = (uint64_t)(nd->look - base) / AH_LOOK_ENTRY_SIZE + j -
                  (words && nd->child_bytes[0] == AH_WORD_END_EDGE); /* 0x00 has no entry */
    unsigned char *used = w->look_used + (words ? ix->look_n : 0);
    if (used[at])
        return FAIL("%snode at %u: child %u shares a lookahead entry", words ? "word " : "",
                    nd->offset, j);
    used[at] = 1;
    uint32_t next = 0;
    for (unsigned c = 0; c < 256; c++)
        if (f->bytes[c >> 6] >> (c & 63) & 1)
            next |= 1u << ah_look_class((unsigned char)c);
    const unsigned char *e = base + at * AH_LOOK_ENTRY_SIZE;
    if (ah_load_u32(e) != next || ah_load_u32(e + 4) != f->pair)
        return FAIL("%snode at %u: child %u lookahead entry is not its strings'",
                    words ? "word " : "", nd->offset, j);
    return 0;
}

/* Does lex id `id` start with path[0..len)? */
static int key_has_prefix(walk_t *w, uint32_t id, uint32_t len)
{
    if (ah_index__cursor_seek(w->cur, w->ix, id) != 0)
        return 0;
    return w->cur->len >= len && memcmp(w->cur->key, w->path, len) == 0;
}

static int verify_list(walk_t *w, const ah_node_t *nd, uint32_t lo)
{
    char *err = w->err;
    size_t errlen = w->errlen;
    uint64_t last = 0;
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel;
        if (ah_index__node_list(nd, i, &rel) != 0)
            return FAIL("node at %u: list entry outside the node", nd->offset);
        uint64_t r = (uint64_t)ah_index__class(w->ix, lo + rel) << 32 | (lo + rel);
        if (i > 0 && r <= last)
            return FAIL("node at %u: list not in rank order", nd->offset);
        last = r;
    }
    /* A hot node's inline answers are its list's texts and scores. */
    const unsigned char *p = nd->list + nd->list_len * nd->wr;
    for (uint32_t i = 0; nd->hot && i < nd->list_len; i++) {
        uint32_t rel, key_len, len, ilen;
        uint64_t display, score, iscore;
        const char *text, *itext;
        ah_index__node_list(nd, i, &rel);
        if (ah_index__node_inline(w->ix, &p, &iscore, &itext, &ilen) != 0 ||
            ah_index__key_at(w->ix, lo + rel, w->cur->key, &key_len, &display) != 0 ||
            ah_index__display(w->ix, display, w->cur->key, key_len, &text, &len) != 0 ||
            ah_index__score(w->ix, ah_index__class(w->ix, lo + rel), &score) != 0 ||
            score != iscore || len != ilen || memcmp(text, itext, len) != 0)
            return FAIL("node at %u: inline answer %u differs from its entry", nd->offset, i);
    }
    /* Exactly list_len keys of the range rank at or above the list's last. */
    uint32_t better = 0;
    for (uint32_t i = lo; i < lo + nd->count; i++)
        better += ((uint64_t)ah_index__class(w->ix, i) << 32 | i) <= last;
    if (better != nd->list_len)
        return FAIL("node at %u: list is not the node's top-%u", nd->offset, nd->list_len);
    return 0;
}

/*
 * Checks the node at off covering [lo, lo+count) whose path has length
 * depth; *f gets its follow set (for its parent's lookahead entry).
 */
static int verify_node(walk_t *w, uint32_t off, uint32_t lo, uint32_t count, uint32_t depth,
                       follow_t *f)
{
    char *err = w->err;
    size_t errlen = w->errlen;
    const ah_index_t *ix = w->ix;
    ah_node_t nd;
    if (ah_index__node_parse(ix, off, &nd) != 0)
        return FAIL("node at %u: bad record", off);
    if (nd.count != count || (off != ix->root && count <= ix->topk))
        return FAIL("node at %u: count %u, expected %u", off, nd.count, count);
    if (depth + nd.label_len > ix->max_key)
        return FAIL("node at %u: path too long", off);
    memcpy(w->path + depth, nd.label, nd.label_len);
    depth += nd.label_len;
    if (!key_has_prefix(w, lo, depth) || !key_has_prefix(w, lo + count - 1, depth))
        return FAIL("node at %u: label does not match its keys", off);
    w->visited++;
    int rc = verify_list(w, &nd, lo);
    if (rc)
        return rc;
    uint32_t expect = 0;
    if (ah_index__cursor_seek(w->cur, ix, lo) == 0 && w->cur->len == depth)
        expect = 1; /* the node's own path is a key, sorted first */
    follow_t *kids = malloc((nd.n_children + 1) * sizeof *kids); /* on the heap: deep recursion */
    if (!kids)
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    for (uint32_t j = 0; j < nd.n_children; j++) {
        uint32_t clo, chi, child;
        if (ah_index__node_child(&nd, j, &clo, &chi, &child) != 0 || clo != expect) {
            rc = FAIL("node at %u: child %u range broken", off, j);
            break;
        }
        expect = chi;
        w->path[depth] = (char)nd.child_bytes[j];
        if (!key_has_prefix(w, lo + clo, depth + 1) ||
            !key_has_prefix(w, lo + chi - 1, depth + 1)) {
            rc = FAIL("node at %u: child %u keys do not start with its edge", off, j);
            break;
        }
        follow_t *kf = &kids[j];
        memset(kf, 0, sizeof *kf);
        if (child == UINT32_MAX) {
            if (chi - clo > ix->topk)
                rc = FAIL("node at %u: light child %u too large", off, j);
            for (uint32_t id = lo + clo; id < lo + chi && !rc; id++) {
                if (ah_index__cursor_seek(w->cur, ix, id) != 0)
                    rc = FAIL("key %u: bad record", id);
                else
                    follow_add(kf, (const unsigned char *)w->cur->key, w->cur->len, depth);
            }
        } else {
            rc = verify_node(w, child, lo + clo, chi - clo, depth + 1, kf);
        }
        if (!rc && nd.look)
            rc = check_look(w, &nd, j, 0, kf);
        if (rc)
            break;
    }
    if (!rc)
        follow_of_record(&nd, kids, -1, f);
    free(kids);
    if (rc)
        return rc;
    if (expect != count)
        return FAIL("node at %u: children do not cover the node", off);
    return 0;
}

/* Every slot of the hot prefix table names the hot node a descent reaches for its prefix. */
static int verify_hot_table(const ah_index_t *ix, char *err, size_t errlen)
{
    const ah_section_t *slots = &ix->sec[AH_SEC_HOT_SLOTS], *paths = &ix->sec[AH_SEC_HOT_PATHS];
    uint64_t n = slots->len / AH_HOT_SLOT_SIZE;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *slot = slots->data + i * AH_HOT_SLOT_SIZE;
        uint32_t off = ah_load_u32(slot), ref = ah_load_u32(slot + 4);
        if (off == AH_HOT_SLOT_EMPTY)
            continue;
        uint32_t len = ref & AH_HOT_LEN_MASK, path = ref >> AH_HOT_LEN_BITS;
        if (path > paths->len || len > paths->len - path)
            return FAIL("hot slot %llu: path outside HOT_PATHS", (unsigned long long)i);
        const char *key = (const char *)paths->data + path;
        uint32_t found;
        ah_locus_t at;
        if (!ah_index__hot_lookup(ix, key, len, &found) || found != off)
            return FAIL("hot slot %llu: its prefix does not look up to it", (unsigned long long)i);
        if (ah_index__locate(ix, key, len, &at) != 0 || at.kind != AH_LOCUS_NODE ||
            at.node.offset != off || !at.node.hot)
            return FAIL("hot slot %llu: not the hot node that answers its prefix",
                        (unsigned long long)i);
    }
    return 0;
}

/* ------------------------------------------------------ word-start index */

/*
 * How many word starts (after the first) of key[0..len) begin a suffix that
 * starts with path[0..plen), or, when exact, equals it.
 */
static uint32_t starts_under(const char *key, uint32_t len, const char *path, uint32_t plen,
                             int exact, uint32_t *offs)
{
    size_t n = ah_match_word_starts(key, len, offs, AH_MAX_KEY_BYTES);
    uint32_t m = 0;
    for (size_t i = 0; i < n && i < AH_MAX_KEY_BYTES; i++) {
        uint32_t rest = len - offs[i];
        if (rest >= plen && (!exact || rest == plen) && memcmp(key + offs[i], path, plen) == 0)
            m++;
    }
    return m;
}

typedef struct word_walk {
    walk_t *w;
    uint32_t *offs;
    uint64_t entries; /* entries seen in leaves */
    uint32_t nodes;
} word_walk_t;

/*
 * A leaf [lo, lo+count) under path[0..plen): rank order, and each key
 * there once per word start. With f, its follow set (the edge at plen - 1).
 */
static int verify_word_leaf(word_walk_t *v, uint32_t lo, uint32_t count, uint32_t plen, int exact,
                            follow_t *f)
{
    walk_t *w = v->w;
    char *err = w->err;
    size_t errlen = w->errlen;
    const ah_index_t *ix = w->ix;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < count;) {
        uint32_t id, len;
        uint64_t display;
        if (ah_index__word_entry(ix, lo + i, &id) != 0)
            return FAIL("word entry %u: lex id out of range", lo + i);
        uint64_t r = (uint64_t)ah_index__class(ix, id) << 32 | id;
        if (i > 0 && r <= prev)
            return FAIL("word entry %u: leaf not in rank order", lo + i);
        prev = r;
        uint32_t run = 1, other;
        while (i + run < count && ah_index__word_entry(ix, lo + i + run, &other) == 0 &&
               other == id)
            run++;
        if (ah_index__key_at(ix, id, w->cur->key, &len, &display) != 0)
            return FAIL("word entry %u: bad key", lo + i);
        if (starts_under(w->cur->key, len, w->path, plen, exact, v->offs) != run)
            return FAIL("word entry %u: key %u has %u entries here, not one per word start", lo + i,
                        id, run);
        size_t n = f ? ah_match_word_starts(w->cur->key, len, v->offs, AH_MAX_KEY_BYTES) : 0;
        for (size_t k = 0; k < n && k < AH_MAX_KEY_BYTES; k++)
            if (len - v->offs[k] >= plen && memcmp(w->cur->key + v->offs[k], w->path, plen) == 0)
                follow_add(f, (const unsigned char *)w->cur->key + v->offs[k], len - v->offs[k],
                           plen - 1);
        i += run;
    }
    v->entries += count;
    return 0;
}

/* The list of a word-start node over entries [lo, lo+count): its top distinct keys. */
static int verify_word_list(word_walk_t *v, const ah_node_t *nd, uint32_t lo)
{
    walk_t *w = v->w;
    char *err = w->err;
    size_t errlen = w->errlen;
    const ah_index_t *ix = w->ix;
    uint64_t ranks[AH_MAX_TOPK];
    for (uint32_t i = 0; i < nd->list_len; i++) {
        uint32_t rel, id;
        if (ah_index__node_list(nd, i, &rel) != 0 || ah_index__word_entry(ix, lo + rel, &id) != 0)
            return FAIL("word node at %u: list entry outside the node", nd->offset);
        ranks[i] = (uint64_t)ah_index__class(ix, id) << 32 | id;
        if (i > 0 && ranks[i] <= ranks[i - 1])
            return FAIL("word node at %u: list not in rank order", nd->offset);
    }
    /* Every entry ranked at or above the list's last is listed; with a short list, every one. */
    uint64_t last = ranks[nd->list_len - 1];
    int all = nd->list_len < ix->topk;
    for (uint32_t i = lo; i < lo + nd->count; i++) {
        uint32_t id;
        if (ah_index__word_entry(ix, i, &id) != 0)
            return FAIL("word entry %u: lex id out of range", i);
        uint64_t r = (uint64_t)ah_index__class(ix, id) << 32 | id;
        if (r > last && !all)
            continue;
        uint32_t a = 0, b = nd->list_len;
        while (a < b) {
            uint32_t mid = (a + b) / 2;
            if (ranks[mid] < r)
                a = mid + 1;
            else
                b = mid;
        }
        if (a == nd->list_len || ranks[a] != r)
            return FAIL("word node at %u: list is not its best distinct keys", nd->offset);
    }
    return 0;
}

/* Checks a word-start record, as verify_node() does the main trie's; *f gets its follow set. */
static int verify_word_node(word_walk_t *v, uint32_t off, uint32_t lo, uint32_t count,
                            uint32_t depth, follow_t *f)
{
    walk_t *w = v->w;
    char *err = w->err;
    size_t errlen = w->errlen;
    const ah_index_t *ix = w->ix;
    ah_node_t nd;
    if (ah_index__word_node_parse(ix, off, &nd) != 0)
        return FAIL("word node at %u: bad record", off);
    if (nd.count != count || (uint64_t)lo + count > ix->word_entries)
        return FAIL("word node at %u: count %u, expected %u", off, nd.count, count);
    if (depth + nd.label_len + 1 > ix->max_key)
        return FAIL("word node at %u: path too long", off);
    memcpy(w->path + depth, nd.label, nd.label_len);
    depth += nd.label_len;
    v->nodes++;
    int rc = verify_word_list(v, &nd, lo);
    if (rc)
        return rc;
    uint32_t expect = 0;
    follow_t *kids = calloc(nd.n_children + 1, sizeof *kids); /* on the heap: deep recursion */
    if (!kids)
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    for (uint32_t j = 0; j < nd.n_children && !rc; j++) {
        uint32_t clo, chi, child;
        unsigned edge = nd.child_bytes[j];
        if (ah_index__node_child(&nd, j, &clo, &chi, &child) != 0 || clo != expect ||
            (j > 0 && edge <= nd.child_bytes[j - 1])) {
            rc = FAIL("word node at %u: child %u range broken", off, j);
            break;
        }
        expect = chi;
        if (edge == AH_WORD_END_EDGE) {
            if (child != UINT32_MAX)
                rc = FAIL("word node at %u: the suffixes ending here have a record", off);
            if (!rc)
                rc = verify_word_leaf(v, lo + clo, chi - clo, depth, 1, NULL);
            continue; /* no lookahead entry: never walked */
        }
        w->path[depth] = (char)edge;
        if (child == UINT32_MAX) {
            if (chi - clo > ix->word_leaf)
                rc = FAIL("word node at %u: leaf %u larger than %u", off, j, ix->word_leaf);
            if (!rc)
                rc = verify_word_leaf(v, lo + clo, chi - clo, depth + 1, 0, &kids[j]);
        } else {
            rc = verify_word_node(v, child, lo + clo, chi - clo, depth + 1, &kids[j]);
        }
        if (!rc && nd.look)
            rc = check_look(w, &nd, j, 1, &kids[j]);
    }
    if (!rc)
        follow_of_record(&nd, kids, AH_WORD_END_EDGE, f);
    free(kids);
    if (!rc && expect != count)
        return FAIL("word node at %u: children do not cover the node", off);
    return rc;
}

/* The whole word-start index, and that it holds every word start of every key once. */
static int verify_words(walk_t *w)
{
    char *err = w->err;
    size_t errlen = w->errlen;
    const ah_index_t *ix = w->ix;
    word_walk_t v = {.w = w, .offs = malloc(AH_MAX_KEY_BYTES * sizeof(uint32_t))};
    if (!v.offs)
        return ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    int rc = 0;
    uint64_t total = 0;
    if (ix->flags & AH_FLAG_WORDS) {
        for (uint32_t i = 0; i < ix->n && !rc; i++) {
            if ((i == 0 ? ah_index__cursor_seek(w->cur, ix, 0) : ah_index__cursor_next(w->cur)))
                rc = FAIL("key %u: bad record", i);
            else
                total += ah_match_word_starts(w->cur->key, w->cur->len, v.offs, AH_MAX_KEY_BYTES);
        }
    }
    if (!rc && total != ix->word_entries)
        rc = FAIL("the keys have %llu word starts, the index %u entries", (unsigned long long)total,
                  ix->word_entries);
    if (!rc && ix->word_entries > 0)
        rc = verify_word_node(&v, ix->word_root, 0, ix->word_entries, 0, &(follow_t){{0}, 0});
    if (!rc && v.entries != ix->word_entries)
        rc = FAIL("word-start leaves hold %llu entries, the header says %u",
                  (unsigned long long)v.entries, ix->word_entries);
    if (!rc && v.nodes != ix->word_nodes)
        rc =
            FAIL("word-start trie has %u reachable nodes, header says %u", v.nodes, ix->word_nodes);
    free(v.offs);
    return rc;
}

/* Every LOOK and WORD_LOOK entry belongs to one child. */
static int verify_look_used(const walk_t *w)
{
    char *err = w->err;
    size_t errlen = w->errlen;
    for (uint64_t i = 0; i < (uint64_t)w->ix->look_n + w->ix->word_look_n; i++)
        if (!w->look_used[i])
            return FAIL("lookahead entry %llu belongs to no child", (unsigned long long)i);
    return 0;
}

/* The snapshot's keys, decoded into memory (*bytes), for ah_writer__grams(). */
static int decode_keys(const ah_index_t *ix, ah_entry_t **out, char **bytes)
{
    ah_key_cursor_t *c = malloc(sizeof *c);
    ah_entry_t *e = malloc((size_t)ix->n * sizeof *e);
    char *b = NULL;
    int rc = c && e ? 0 : AH_ENOMEM;
    /* Front-coded keys take less room than decoded ones: measure first, then copy. */
    for (int fill = 0; fill < 2 && !rc; fill++) {
        uint64_t at = 0;
        for (uint32_t i = 0; i < ix->n && !rc; i++) {
            if ((i == 0 ? ah_index__cursor_seek(c, ix, 0) : ah_index__cursor_next(c)) != 0) {
                rc = AH_ECORRUPT;
                break;
            }
            if (fill) {
                memcpy(b + at, c->key, c->len);
                e[i] = (ah_entry_t){.key = b + at, .key_len = c->len};
            }
            at += c->len;
        }
        if (!fill && !rc && (b = malloc(at + 1)) == NULL)
            rc = AH_ENOMEM;
    }
    free(c);
    if (rc) {
        free(e);
        free(b);
        return rc;
    }
    *out = e;
    *bytes = b;
    return 0;
}

/*
 * The memory the gram table is rebuilt within: the writer's parts, so that
 * a snapshot of 10^8 keys verifies on the machine that built it at
 * --memory 2G (rebuilt all at once, a verify of that snapshot was killed
 * for memory at 18.8 GB of its own). Small tables fit in one part, as before.
 */
#define VERIFY_GRAM_MEMORY ((size_t)2 << 30)

/* The gram table is the one the writer makes from the keys e. */
static int verify_grams(const ah_index_t *ix, const ah_entry_t *e, char *err, size_t errlen)
{
    int rc;
    buf_t slots = {0}, blocks = {0};
    uint32_t n_slots = 0;
    rc = ah_writer__grams(e, ix->n, (ix->flags & AH_FLAG_WORDS) != 0, ix->typo_depth,
                          VERIFY_GRAM_MEMORY, &slots, &blocks, &n_slots);
    if (rc || slots.failed || blocks.failed)
        rc = ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    else if (n_slots != ix->gram_slots || slots.len != ix->sec[AH_SEC_GRAM_SLOTS].len ||
             (slots.len > 0 && memcmp(slots.data, ix->sec[AH_SEC_GRAM_SLOTS].data, slots.len) != 0))
        rc = FAIL("gram slots are not those of the keys");
    else if (blocks.len > ix->sec[AH_SEC_GRAM_BLOCKS].len ||
             ix->sec[AH_SEC_GRAM_BLOCKS].len - blocks.len >= 8 ||
             (blocks.len > 0 &&
              memcmp(blocks.data, ix->sec[AH_SEC_GRAM_BLOCKS].data, blocks.len) != 0))
        rc = FAIL("gram blocks are not those of the keys"); /* the rest is alignment */
    free(slots.data);
    free(blocks.data);
    return rc;
}

/* Does a section hold the bytes rebuilt into want, then only zeros to its 8-byte alignment? */
static int same_as_rebuilt(const ah_section_t *sec, const buf_t *want)
{
    return want->len <= sec->len && sec->len - want->len < 8 &&
           (want->len == 0 || memcmp(want->data, sec->data, want->len) == 0) &&
           (sec->len == want->len ||
            memcmp(sec->data + want->len, "\0\0\0\0\0\0\0", sec->len - want->len) == 0);
}

/* The initial-consonant section is the one the writer makes from the keys e and the classes. */
static int verify_choseong(const ah_index_t *ix, const ah_entry_t *e, char *err, size_t errlen)
{
    uint32_t *class_of = malloc((size_t)ix->n * sizeof *class_of);
    buf_t want = {0};
    int rc = class_of ? 0 : AH_ENOMEM;
    for (uint32_t i = 0; !rc && i < ix->n; i++)
        class_of[i] = ah_index__class(ix, i);
    if (!rc)
        rc = ah_writer__choseong(e, ix->n, class_of, NULL, &want);
    const ah_section_t *sec = &ix->sec[AH_SEC_CHOSEONG];
    if (rc)
        rc = ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    else if (want.len == 0 || !same_as_rebuilt(sec, &want))
        rc = FAIL("initial-consonant section is not that of the keys");
    free(want.data);
    free(class_of);
    return rc;
}

/*
 * FILLS is the one the writer makes: the same E prefixes chosen from the
 * keys and scores, and each one's fill walked again on this snapshot (the
 * walk never reads FILLS, and everything it reads is verified by now).
 */
static int verify_fills(const ah_index_t *ix, ah_entry_t *e, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < ix->n; i++)
        if (ah_index__score(ix, ah_index__class(ix, i), &e[i].score) != 0)
            return FAIL("key %u: score class out of range", i);
    ah_fill_prefix_t *p;
    size_t m;
    buf_t want = {0};
    int rc = ah_writer__fill_choose(e, ix->n, ix->topk, ix->fills, NULL, &p, &m);
    if (!rc)
        rc = ah_writer__fills(ix, e, p, m, 2, 0, NULL, &want, NULL);
    if (!rc && want.failed)
        rc = AH_ENOMEM;
    const ah_section_t *sec = &ix->sec[AH_SEC_FILLS];
    if (rc == AH_ENOMEM)
        rc = ah_index__fail(err, errlen, rc, "out of memory");
    else if (rc)
        rc = FAIL("fills: a walk failed");
    else if (m != ix->fills || !same_as_rebuilt(sec, &want))
        rc = FAIL("fills are not those the keys and the walks give");
    free(want.data);
    free(p);
    return rc;
}

/*
 * The sections rebuilt from the keys (the typo index, the initials, the
 * fills), compared: keys decoded once.
 */
static int verify_rebuilt(const ah_index_t *ix, char *err, size_t errlen)
{
    if (!(ix->flags & (AH_FLAG_TYPO | AH_FLAG_CHOSEONG | AH_FLAG_FILLS)))
        return 0;
    ah_entry_t *e;
    char *bytes;
    int rc = decode_keys(ix, &e, &bytes);
    if (rc)
        return rc == AH_ENOMEM ? ah_index__fail(err, errlen, rc, "out of memory")
                               : FAIL("keys: bad record");
    if (ix->flags & AH_FLAG_TYPO)
        rc = verify_grams(ix, e, err, errlen);
    if (!rc && (ix->flags & AH_FLAG_CHOSEONG))
        rc = verify_choseong(ix, e, err, errlen);
    if (!rc && (ix->flags & AH_FLAG_FILLS))
        rc = verify_fills(ix, e, err, errlen);
    free(e);
    free(bytes);
    return rc;
}

/* The lex id of key in ix (a binary search over the front-coded keys); 0, or -1 when absent. */
static int find_key(const ah_index_t *ix, ah_key_cursor_t *c, const char *key, uint32_t len,
                    uint32_t *id)
{
    uint32_t lo = 0, hi = ix->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ah_index__cursor_seek(c, ix, mid) != 0)
            return -1;
        int cmp = memcmp(c->key, key, c->len < len ? c->len : len);
        if (cmp == 0 && c->len == len) {
            *id = mid;
            return 0;
        }
        if (cmp < 0 || (cmp == 0 && c->len < len))
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/*
 * A context's completions are the whole's (format.h, CONTEXTS): each of its
 * keys is a key of the whole, with the same display text, and a score in
 * the context above 0 and no more than the whole's.
 */
static int verify_context_members(const ah_index_t *ix, const ah_index_t *in, char *err,
                                  size_t errlen)
{
    ah_key_cursor_t *c = malloc(sizeof *c), *w = malloc(sizeof *w);
    char *text = malloc(AH_MAX_TEXT_BYTES);
    int rc = c && w && text ? 0 : ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    for (uint32_t i = 0; !rc && i < in->n; i++) {
        const char *t, *wt;
        uint32_t tl, wtl, id;
        uint64_t score, whole;
        if ((i == 0 ? ah_index__cursor_seek(c, in, 0) : ah_index__cursor_next(c)) != 0 ||
            ah_index__display(in, c->display, c->key, c->len, &t, &tl) != 0 ||
            ah_index__score(in, ah_index__class(in, i), &score) != 0) {
            rc = FAIL("key %u: bad record", i);
            break;
        }
        memcpy(text, t, tl);
        if (find_key(ix, w, c->key, c->len, &id) != 0) {
            rc = FAIL("key %u is not one of the whole's", i);
            break;
        }
        if (ah_index__display(ix, w->display, w->key, w->len, &wt, &wtl) != 0 ||
            ah_index__score(ix, ah_index__class(ix, id), &whole) != 0 || wtl != tl ||
            memcmp(wt, text, tl) != 0 || score == 0 || score > whole)
            rc = FAIL("key %u: its text or score is not the whole's", i);
    }
    free(c);
    free(w);
    free(text);
    return rc;
}

int ah_index_verify(const ah_index_t *ix, char *err, size_t errlen)
{
    int rc = ah_index_verify_checksums(ix, err, errlen);
    if (!rc)
        rc = verify_content_id(ix, err, errlen);
    if (!rc)
        rc = verify_keys(ix, err, errlen);
    walk_t w = {.ix = ix, .err = err, .errlen = errlen};
    w.cur = malloc(sizeof *w.cur);
    w.path = malloc(AH_MAX_KEY_BYTES + 1);
    w.look_used = calloc((size_t)ix->look_n + ix->word_look_n + 1, 1);
    if (!rc && (!w.cur || !w.path || !w.look_used))
        rc = ah_index__fail(err, errlen, AH_ENOMEM, "out of memory");
    if (!rc)
        rc = verify_scores(ix, err, errlen);
    if (!rc)
        rc = verify_node(&w, ix->root, 0, ix->n, 0, &(follow_t){{0}, 0});
    if (!rc && w.visited != ix->inner_nodes)
        rc = FAIL("trie has %u reachable nodes, header says %u", w.visited, ix->inner_nodes);
    if (!rc)
        rc = verify_hot_table(ix, err, errlen);
    if (!rc)
        rc = verify_words(&w);
    if (!rc)
        rc = verify_look_used(&w);
    if (!rc)
        rc = verify_rebuilt(ix, err, errlen);
    free(w.cur);
    free(w.path);
    free(w.look_used);
    /* Each context's snapshot is a whole snapshot: verified as one. */
    for (uint32_t c = 0; !rc && c < ix->n_contexts; c++) {
        char why[256];
        rc = ah_index_verify(&ix->ctx_ix[c], why, sizeof why);
        if (!rc)
            rc = verify_context_members(ix, &ix->ctx_ix[c], why, sizeof why);
        if (rc)
            rc = ah_index__fail(err, errlen, rc, "context \"%.*s\": %s", (int)ix->ctx_value_len[c],
                                (const char *)ix->ctx_value[c], why);
    }
    return rc;
}
