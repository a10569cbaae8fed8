/* SPDX-License-Identifier: MIT */
/*
 * refsort.h: sorting references to the builder's largest arrays in place,
 * by an eight-byte key (pre) and two tie-breakers: an MSD radix sort of pre,
 * with heap-bounded quicksort and insertion sort for what pre leaves tied.
 */
#ifndef AH_REFSORT_H
#define AH_REFSORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ah_ref {
    uint64_t pre;
    uint32_t id, off;
} ah_ref_t;

/* Sorts r[0..n) by (pre, id, off), in place, in O(n log n) at worst. */
void ah_refs_sort(ah_ref_t *r, size_t n);

#endif /* AH_REFSORT_H */
