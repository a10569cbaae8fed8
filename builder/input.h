/* SPDX-License-Identifier: MIT */
/*
 * input.h: reading query logs line by line from files, gzip files or stdin.
 * zlib's gz* functions read plain and gzip input alike, so a `.gz` suffix is
 * not even needed. Lines end at LF; a CR before it is dropped.
 */
#ifndef AH_BUILDER_INPUT_H
#define AH_BUILDER_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* Lines longer than this are skipped and reported as over-long. */
#define AH_INPUT_MAX_LINE (64 * 1024)

typedef struct ah_input ah_input_t;

/* Opens path ("-" is stdin). Returns 0 or AH_EIO / AH_ENOMEM with a message in err. */
int ah_input_open(const char *path, ah_input_t **out, char *err, size_t errlen);

/*
 * Reads the next line. On 1, *line and *len hold it without its line end (valid
 * until the next call); when *truncated is set the line was longer than
 * AH_INPUT_MAX_LINE and was skipped (*len is 0). Returns 0 at end of input,
 * or AH_EIO with a message (a damaged gzip stream, a read error).
 */
int ah_input_next(ah_input_t *in, const char **line, size_t *len, int *truncated, char *err,
                  size_t errlen);

/* Bytes of (uncompressed) input consumed so far. */
uint64_t ah_input_bytes(const ah_input_t *in);

/* Closes; no operation if in is NULL. */
void ah_input_close(ah_input_t *in);

#endif /* AH_BUILDER_INPUT_H */
