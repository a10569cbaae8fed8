/* SPDX-License-Identifier: MIT */
/*
 * blocklist.h: the offensive-suggestion filter. A blocklist file holds one
 * term or phrase per line, normalized like keys. Blank lines are skipped,
 * and so are comments: lines whose first non-blank character is '#', decided
 * on the raw bytes (a comment need not be UTF-8). A backslash before a term
 * is dropped, to block a term that starts with '#': "\#tag" blocks "#tag".
 * A completion is blocked when its key contains a blocked term as a whole
 * word, or equals a blocked phrase (an entry with a space in it). Words are
 * maximal runs of letters, digits and marks; a term with other characters in
 * it ("c++") is found as a substring that starts and ends at word boundaries.
 */
#ifndef AH_BUILDER_BLOCKLIST_H
#define AH_BUILDER_BLOCKLIST_H

#include <stddef.h>

typedef struct ah_blocklist ah_blocklist_t;

/* Loads path. Returns 0, or AH_EIO / AH_ENOMEM / AH_EUTF8 (a bad line) with a message. */
int ah_blocklist_load(const char *path, ah_blocklist_t **out, char *err, size_t errlen);

/* 1 if the key is blocked, 0 if not. */
int ah_blocklist_match(const ah_blocklist_t *bl, const char *key, size_t len);

/* Number of terms and phrases loaded. */
size_t ah_blocklist_size(const ah_blocklist_t *bl);

/* Frees; no operation if bl is NULL. */
void ah_blocklist_free(ah_blocklist_t *bl);

#endif /* AH_BUILDER_BLOCKLIST_H */
