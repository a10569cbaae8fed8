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

/*
 * One pass of an in-place MSD radix sort: moves a[0..n) (elements of
 * `type`) into 256 buckets by byte ((a[i].field >> shift) & 0xff), leaving
 * in count[b] and end[b] each bucket's size and end (size_t[256] each).
 * The buckets are filled in rounds: each open bucket's unplaced elements
 * are swapped with the next free place of their own bucket. The places a
 * round swaps with do not depend on what it loaded before, so the cache
 * misses of a large array overlap, where carrying each element on to its
 * place in a chain misses one at a time; an element brought back behind
 * the scan waits for the next round, and once one bucket is open, what is
 * left in it is its own.
 */
#define AH_RADIX_PASS(type, a, n, field, shift, count, end)                                        \
    do {                                                                                           \
        size_t next_[256], at_ = 0;                                                                \
        unsigned open_[256], n_open_ = 0;                                                          \
        for (unsigned b_ = 0; b_ < 256; b_++)                                                      \
            (count)[b_] = 0;                                                                       \
        for (size_t i_ = 0; i_ < (n); i_++)                                                        \
            (count)[((a)[i_].field >> (shift)) & 0xff]++;                                          \
        for (unsigned b_ = 0; b_ < 256; b_++) {                                                    \
            next_[b_] = at_;                                                                       \
            at_ += (count)[b_];                                                                    \
            (end)[b_] = at_;                                                                       \
            if ((count)[b_] > 0)                                                                   \
                open_[n_open_++] = b_;                                                             \
        }                                                                                          \
        while (n_open_ > 1) {                                                                      \
            unsigned still_ = 0;                                                                   \
            for (unsigned o_ = 0; o_ < n_open_; o_++) {                                            \
                unsigned b_ = open_[o_];                                                           \
                for (size_t x_ = next_[b_], stop_ = (end)[b_]; x_ < stop_; x_++) {                 \
                    size_t to_ = next_[((a)[x_].field >> (shift)) & 0xff]++;                       \
                    type t_ = (a)[x_];                                                             \
                    (a)[x_] = (a)[to_];                                                            \
                    (a)[to_] = t_;                                                                 \
                }                                                                                  \
                if (next_[b_] < (end)[b_])                                                         \
                    open_[still_++] = b_;                                                          \
            }                                                                                      \
            n_open_ = still_;                                                                      \
        }                                                                                          \
    } while (0)

#endif /* AH_REFSORT_H */
