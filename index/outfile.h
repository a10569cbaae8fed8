/* SPDX-License-Identifier: MIT */
/*
 * outfile.h: writing a file so that its path holds either its previous
 * content or the whole new content, whatever happens to the writer.
 *
 * The bytes go to a temporary file in the same folder, which is synced and
 * then renamed over the path. Where the file system allows it the temporary
 * file has no name until it is complete (O_TMPFILE), so a writer killed
 * while writing leaves nothing behind. Otherwise, and for the instant
 * between naming it and the rename, it is PATH.tmp.XXXXXX, held under an
 * flock(2) lock for as long as its writer lives: a later writer of the same
 * path removes every such file whose lock it can take, since its writer is
 * gone.
 */
#ifndef AH_OUTFILE_H
#define AH_OUTFILE_H

#include <stddef.h>

typedef struct ah_outfile {
    char *path;
    char *temp;       /* the temporary file's name once it has one, else NULL */
    int fd;           /* may also be written at any offset (pwrite), the error kept below */
    int failed_errno; /* the first write error, or 0 */
    size_t written;   /* bytes written, for the error message */
} ah_outfile_t;

/*
 * Creates the temporary file for path, open for reading too (the writer
 * maps its draft). Returns 0 or AH_EIO / AH_ENOMEM.
 */
int ah_outfile_open(ah_outfile_t *f, const char *path, char *err, size_t errlen);

/* Appends len bytes; an error is kept and reported by commit. */
void ah_outfile_write(ah_outfile_t *f, const void *data, size_t len);

/*
 * Syncs the temporary file and renames it over the path, then syncs the
 * folder; or, after any error, removes it and reports the path, the cause and
 * the size that could not be written. Either way f is closed.
 */
int ah_outfile_commit(ah_outfile_t *f, char *err, size_t errlen);

/* Closes f and removes its file without touching path: for a writer that gave up. */
void ah_outfile_discard(ah_outfile_t *f);

/*
 * Removes the temporary files of path left by writers that died (their lock is
 * free); returns how many.
 */
unsigned ah_outfile_sweep(const char *path);

#endif /* AH_OUTFILE_H */
