/* SPDX-License-Identifier: MIT */
/*
 * spill.h: sorted runs of surface forms, for builds whose distinct surface
 * forms do not fit in the builder's memory budget (ahead-build --memory).
 *
 * The aggregator (aggregate.c) fills its table until the budget is reached,
 * then sorts the table's surface forms by (key, text) and writes them out as
 * one run; at the end the runs are merged into one key-sorted stream. Runs
 * live in temporary files that never have a name (O_TMPFILE, or a name
 * removed the moment the file is open), so no way of ending the builder,
 * SIGKILL included, leaves one behind. A reader gives the disk space of
 * what it has read back as it goes (a hole punched in the file), so that
 * the runs shrink while the completions they fold into are written.
 *
 * A run is a sequence of records, each:
 *   varint  kind: 0 the text has no key (it normalizes to nothing), 1 its
 *           key is longer than AH_MAX_KEY_BYTES, else key length + 2
 *   bytes   the key (kinds >= 2 only)
 *   varint  text length, or 0 when the text is the key's bytes
 *   bytes   the text (when the length is not 0)
 *   varint  count
 *   varint  number of context memberships, then for each: varint context id
 *           (the aggregator's, the same in every run), varint count
 * in ascending order of (kind, key bytes, text bytes), no two records equal.
 * Runs are private to one build: the format is not kept stable.
 */
#ifndef AH_BUILDER_SPILL_H
#define AH_BUILDER_SPILL_H

#include <stddef.h>
#include <stdint.h>

enum { AH_RUN_NO_KEY = 0, AH_RUN_LONG_KEY = 1, AH_RUN_KEYED = 2 };

/* One record of a run; the pointers are valid until the reader moves on. */
typedef struct ah_run_rec {
    unsigned kind; /* AH_RUN_NO_KEY, AH_RUN_LONG_KEY or AH_RUN_KEYED */
    const char *key;
    uint32_t key_len; /* 0 unless kind is AH_RUN_KEYED */
    const char *text;
    uint32_t text_len;
    uint64_t count;
    uint32_t n_contexts; /* read each with ah_run_context() */
} ah_run_rec_t;

/* Orders records by (kind, key, text): the order of a run. */
int ah_run_rec_cmp(const ah_run_rec_t *a, const ah_run_rec_t *b);

/* A temporary file that runs are appended to, and its size. */
typedef struct ah_spill {
    int fd;
    uint64_t size;
    int failed_errno;
} ah_spill_t;

/* Opens a new spill file in dir. Returns 0, or AH_EIO with the path and cause in err. */
int ah_spill_open(ah_spill_t *s, const char *dir, char *err, size_t errlen);

/* Closes s; its disk space is freed at once (the file has no name). */
void ah_spill_close(ah_spill_t *s);

/* Appends len bytes; a failure sticks in s->failed_errno. */
void ah_spill_write(ah_spill_t *s, const void *data, size_t len);

/* A run's place: in a spill file, or (fd -1) in memory. */
typedef struct ah_run {
    int fd;
    const unsigned char *mem;
    uint64_t offset, length;
} ah_run_t;

/*
 * Writes records into a run, through a buffer of its own: to a spill file,
 * or (spill NULL) to memory, where the run's bytes stay until
 * ah_run_writer_free().
 */
typedef struct ah_run_writer {
    ah_spill_t *spill;
    unsigned char *buf;
    size_t len, cap;
    uint64_t start;
    int failed; /* out of memory (memory runs) */
} ah_run_writer_t;

/* buf_bytes: the buffer's size (file runs), at least 8 KB. */
int ah_run_writer_init(ah_run_writer_t *w, ah_spill_t *spill, size_t buf_bytes);
void ah_run_writer_put(ah_run_writer_t *w, const ah_run_rec_t *rec);
void ah_run_writer_context(ah_run_writer_t *w, uint32_t id, uint64_t count);
/* Ends the run: 0 and its place in *run, or AH_EIO / AH_ENOMEM. */
int ah_run_writer_finish(ah_run_writer_t *w, ah_run_t *run, char *err, size_t errlen);
void ah_run_writer_free(ah_run_writer_t *w);

/* Reads a run's records in order, through a buffer of buf_bytes (file runs). */
typedef struct ah_run_reader {
    ah_run_t run;
    uint64_t next_offset; /* of the file's bytes not yet in the buffer */
    unsigned char *buf;
    size_t cap;
    const unsigned char *p, *end; /* the bytes read but not yet decoded */
    uint32_t contexts_left;
    int failed_errno;
    uint64_t punched; /* bytes of the run already read and given back to the file system */
} ah_run_reader_t;

int ah_run_reader_init(ah_run_reader_t *r, const ah_run_t *run, size_t buf_bytes);
void ah_run_reader_free(ah_run_reader_t *r);

/*
 * The next record (its contexts are then read with ah_run_context() before
 * the next call). Returns 1, 0 at the end, or -1 on a read error or a
 * damaged run (errno-style cause in r->failed_errno).
 */
int ah_run_next(ah_run_reader_t *r, ah_run_rec_t *rec);
int ah_run_context(ah_run_reader_t *r, uint32_t *id, uint64_t *count);

#endif /* AH_BUILDER_SPILL_H */
