/* SPDX-License-Identifier: MIT */
/*
 * spill.c: temporary files without names, and the runs of sorted surface
 * forms written to them and read back (spill.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_TMPFILE */
#endif
#include "spill.h"

#include "ahead.h"
#include "bits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The most bytes a record takes before its contexts, and one context. */
#define REC_HEAD_MAX (10 + AH_MAX_KEY_BYTES + 10 + AH_MAX_TEXT_BYTES + 10 + 5)
#define CONTEXT_MAX  (5 + 10)

int ah_run_rec_cmp(const ah_run_rec_t *a, const ah_run_rec_t *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    size_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = m ? memcmp(a->key, b->key, m) : 0;
    if (c || a->key_len != b->key_len)
        return c ? c : (a->key_len < b->key_len ? -1 : 1);
    m = a->text_len < b->text_len ? a->text_len : b->text_len;
    c = memcmp(a->text, b->text, m);
    return c ? c : (a->text_len > b->text_len) - (a->text_len < b->text_len);
}

int ah_spill_open(ah_spill_t *s, const char *dir, char *err, size_t errlen)
{
    *s = (ah_spill_t){.fd = -1};
    s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (s->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        /* No O_TMPFILE here: a name that lives only until the file is open. */
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/.ahead-build-run.XXXXXX", dir) >= sizeof path) {
            errno = ENAMETOOLONG;
        } else if ((s->fd = mkostemp(path, O_CLOEXEC)) >= 0) {
            unlink(path);
        }
    }
    if (s->fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file in %s: %s", dir, strerror(errno));
        return AH_EIO;
    }
    return 0;
}

void ah_spill_close(ah_spill_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->size = 0;
}

void ah_spill_write(ah_spill_t *s, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0 && !s->failed_errno) {
        ssize_t w = write(s->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->failed_errno = w < 0 ? errno : ENOSPC;
            return;
        }
        p += w;
        len -= (size_t)w;
        s->size += (uint64_t)w;
    }
}

int ah_run_writer_init(ah_run_writer_t *w, ah_spill_t *spill, size_t buf_bytes)
{
    *w = (ah_run_writer_t){.spill = spill, .start = spill ? spill->size : 0};
    w->cap = buf_bytes < 2 * REC_HEAD_MAX ? 2 * REC_HEAD_MAX : buf_bytes;
    w->buf = malloc(w->cap);
    return w->buf ? 0 : AH_ENOMEM;
}

/* Room for at least need more bytes: flushed to the file, or the memory run grown. */
static unsigned char *room(ah_run_writer_t *w, size_t need)
{
    if (w->failed)
        return NULL;
    if (w->cap - w->len >= need)
        return w->buf + w->len;
    if (w->spill) {
        ah_spill_write(w->spill, w->buf, w->len);
        w->len = 0;
        return w->buf;
    }
    size_t cap = w->cap * 2;
    unsigned char *b = realloc(w->buf, cap);
    if (!b) {
        w->failed = 1;
        return NULL;
    }
    w->buf = b;
    w->cap = cap;
    return w->buf + w->len;
}

void ah_run_writer_put(ah_run_writer_t *w, const ah_run_rec_t *rec)
{
    unsigned char *p = room(w, REC_HEAD_MAX), *start = p;
    if (!p)
        return;
    int same = rec->kind == AH_RUN_KEYED && rec->key_len == rec->text_len &&
               memcmp(rec->key, rec->text, rec->key_len) == 0;
    p += ah_varint_put(p, rec->kind == AH_RUN_KEYED ? rec->key_len + 2u : rec->kind);
    memcpy(p, rec->key, rec->key_len);
    p += rec->key_len;
    p += ah_varint_put(p, same ? 0 : rec->text_len);
    if (!same) {
        memcpy(p, rec->text, rec->text_len);
        p += rec->text_len;
    }
    p += ah_varint_put(p, rec->count);
    p += ah_varint_put(p, rec->n_contexts);
    w->len += (size_t)(p - start);
}

void ah_run_writer_context(ah_run_writer_t *w, uint32_t id, uint64_t count)
{
    unsigned char *p = room(w, CONTEXT_MAX), *start = p;
    if (!p)
        return;
    p += ah_varint_put(p, id);
    p += ah_varint_put(p, count);
    w->len += (size_t)(p - start);
}

int ah_run_writer_finish(ah_run_writer_t *w, ah_run_t *run, char *err, size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "out of memory while sorting surface forms");
        return AH_ENOMEM;
    }
    if (!w->spill) {
        *run = (ah_run_t){.fd = -1, .mem = w->buf, .length = w->len};
        return 0;
    }
    ah_spill_write(w->spill, w->buf, w->len);
    w->len = 0;
    if (w->spill->failed_errno) {
        snprintf(err, errlen, "writing a temporary file: %s", strerror(w->spill->failed_errno));
        return AH_EIO;
    }
    *run = (ah_run_t){.fd = w->spill->fd, .offset = w->start, .length = w->spill->size - w->start};
    return 0;
}

void ah_run_writer_free(ah_run_writer_t *w)
{
    free(w->buf);
    w->buf = NULL;
}

int ah_run_reader_init(ah_run_reader_t *r, const ah_run_t *run, size_t buf_bytes)
{
    *r = (ah_run_reader_t){.run = *run, .next_offset = run->offset};
    if (run->fd < 0) {
        r->p = run->mem;
        r->end = run->mem + run->length;
        return 0;
    }
    r->cap = buf_bytes < 4 * REC_HEAD_MAX ? 4 * REC_HEAD_MAX : buf_bytes;
    r->buf = malloc(r->cap);
    r->p = r->end = r->buf;
    return r->buf ? 0 : AH_ENOMEM;
}

void ah_run_reader_free(ah_run_reader_t *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* At least need bytes decodable, or all that is left of the run; 0, or -1 on a read error. */
static int ensure(ah_run_reader_t *r, size_t need)
{
    uint64_t run_end = r->run.offset + r->run.length;
    if ((size_t)(r->end - r->p) >= need || r->run.fd < 0 || r->next_offset == run_end)
        return 0;
    size_t have = (size_t)(r->end - r->p);
    /* What came before the bytes left is read for good: its disk space goes now (a file
     * system that cannot free part of a file keeps it until the file is closed). */
    uint64_t done = r->next_offset - have, from = r->run.offset + r->punched;
    if (done > from && fallocate(r->run.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from,
                                 (off_t)(done - from)) == 0)
        r->punched = done - r->run.offset;
    memmove(r->buf, r->p, have);
    r->p = r->buf;
    r->end = r->buf + have;
    while ((size_t)(r->end - r->p) < r->cap && r->next_offset < run_end) {
        size_t want = r->cap - (size_t)(r->end - r->p);
        if (want > run_end - r->next_offset)
            want = (size_t)(run_end - r->next_offset);
        ssize_t got = pread(r->run.fd, r->buf + (r->end - r->p), want, (off_t)r->next_offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            r->failed_errno = got < 0 ? errno : EIO;
            return -1;
        }
        r->end += got;
        r->next_offset += (uint64_t)got;
    }
    return 0;
}

static int damaged(ah_run_reader_t *r)
{
    r->failed_errno = EIO;
    return -1;
}

static int get(ah_run_reader_t *r, uint64_t *v)
{
    return ah_varint_get(&r->p, r->end, v) ? 0 : damaged(r);
}

int ah_run_next(ah_run_reader_t *r, ah_run_rec_t *rec)
{
    uint32_t id;
    uint64_t count;
    while (r->contexts_left) /* contexts the caller did not read */
        if (ah_run_context(r, &id, &count) != 1)
            return -1;
    if (ensure(r, REC_HEAD_MAX) != 0)
        return -1;
    if (r->p == r->end)
        return 0;
    uint64_t kind, len, n;
    if (get(r, &kind) || (kind >= AH_RUN_KEYED && kind - AH_RUN_KEYED > AH_MAX_KEY_BYTES))
        return damaged(r);
    rec->kind = kind >= AH_RUN_KEYED ? AH_RUN_KEYED : (unsigned)kind;
    rec->key_len = kind >= AH_RUN_KEYED ? (uint32_t)(kind - AH_RUN_KEYED) : 0;
    rec->key = (const char *)r->p;
    if ((size_t)(r->end - r->p) < rec->key_len)
        return damaged(r);
    r->p += rec->key_len;
    if (get(r, &len) || len > AH_MAX_TEXT_BYTES || (len == 0 && kind < AH_RUN_KEYED) ||
        (size_t)(r->end - r->p) < len)
        return damaged(r);
    rec->text = len ? (const char *)r->p : rec->key;
    rec->text_len = len ? (uint32_t)len : rec->key_len;
    r->p += len;
    if (get(r, &rec->count) || get(r, &n) || n > UINT32_MAX)
        return damaged(r);
    rec->n_contexts = r->contexts_left = (uint32_t)n;
    return 1;
}

int ah_run_context(ah_run_reader_t *r, uint32_t *id, uint64_t *count)
{
    uint64_t v;
    if (!r->contexts_left || ensure(r, CONTEXT_MAX) != 0)
        return -1;
    if (get(r, &v) || v > UINT32_MAX || get(r, count))
        return damaged(r);
    *id = (uint32_t)v;
    r->contexts_left--;
    return 1;
}
