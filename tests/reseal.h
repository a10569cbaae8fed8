/* SPDX-License-Identifier: MIT */
/*
 * reseal.h: re-sealing a snapshot after editing its bytes, as a forger
 * would: every checksum and the content id recomputed. The corruption
 * tests use it to reach the checks behind the CRCs; the server tests to
 * serve a file whose CRCs hold but whose content is hostile.
 */
#ifndef AH_TESTS_RESEAL_H
#define AH_TESTS_RESEAL_H

#include <stddef.h>

/* ts_reseal: recomputes the CRCs and content id of the snapshot f/len; 0, or -1 if it cannot. */
int ts_reseal(unsigned char *f, size_t len);

#endif /* AH_TESTS_RESEAL_H */
