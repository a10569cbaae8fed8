/* SPDX-License-Identifier: MIT */
/*
 * refsort.c: in-place sorts of references by (pre, id, off), see refsort.h.
 * They run over the builder's largest arrays (a few word-start suffixes a
 * key, every distinct surface form), so they take no room beside them
 * (qsort's merge sort takes a copy), and they order by a total order so
 * that any algorithm gives the same bytes: qsort was only stable while its
 * copy fitted in a quarter of the machine's memory.
 */
#include "refsort.h"

static inline int before(const ah_ref_t *a, const ah_ref_t *b)
{
    if (a->pre != b->pre)
        return a->pre < b->pre;
    if (a->id != b->id)
        return a->id < b->id;
    return a->off < b->off;
}

static inline void swap_refs(ah_ref_t *a, ah_ref_t *b)
{
    ah_ref_t t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(ah_ref_t *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        ah_ref_t x = s[i];
        size_t j = i;
        for (; j > 0 && before(&x, &s[j - 1]); j--)
            s[j] = s[j - 1];
        s[j] = x;
    }
}

static void sift_down(ah_ref_t *s, size_t i, size_t n)
{
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && before(&s[c], &s[c + 1]))
            c++;
        if (!before(&s[i], &s[c]))
            return;
        swap_refs(&s[i], &s[c]);
    }
}

static void heap_sort(ah_ref_t *s, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(s, i, n);
    for (size_t end = n; end-- > 1;) {
        swap_refs(&s[0], &s[end]);
        sift_down(s, 0, end);
    }
}

/*
 * Sorts s[0..n) by before(), in place: quicksort on the median of three,
 * recursing into the smaller side, heap sort where the recursion gets
 * deeper than 2 log2 n (so never worse than n log n), insertion sort
 * below 16 elements.
 */
static void sort_refs(ah_ref_t *s, size_t n, unsigned depth_left)
{
    while (n > 16) {
        if (depth_left-- == 0) {
            heap_sort(s, n);
            return;
        }
        ah_ref_t *a = &s[0], *m = &s[n / 2], *z = &s[n - 1];
        if (before(m, a))
            swap_refs(m, a);
        if (before(z, m)) {
            swap_refs(z, m);
            if (before(m, a))
                swap_refs(m, a);
        }
        ah_ref_t pivot = *m;
        size_t i = 0, j = n - 1;
        for (;;) { /* Hoare: s[0] <= pivot <= s[n - 1] keep both scans in range */
            while (before(&s[i], &pivot))
                i++;
            while (before(&pivot, &s[j]))
                j--;
            if (i >= j)
                break;
            swap_refs(&s[i++], &s[j--]);
        }
        /* s[0..j] <= pivot <= s[j+1..n) */
        size_t left = j + 1;
        if (left < n - left) {
            sort_refs(s, left, depth_left);
            s += left;
            n -= left;
        } else {
            sort_refs(s + left, n - left, depth_left);
            n = left;
        }
    }
    insertion_sort(s, n);
}

static void sort_all(ah_ref_t *s, size_t n)
{
    unsigned depth = 0;
    for (size_t m = n; m > 1; m >>= 1)
        depth += 2;
    sort_refs(s, n, depth);
}

/*
 * Sorts s[0..n) by before() when their pre's bits above shift + 8 agree
 * (56 for any): in place, an MSD radix sort of pre a byte at a time, with
 * small buckets, and those whose pre is all equal, left to sort_all().
 */
static void radix_sort(ah_ref_t *s, size_t n, unsigned shift)
{
    if (n <= 32) {
        insertion_sort(s, n);
        return;
    }
    size_t count[256], end[256];
    AH_RADIX_PASS(ah_ref_t, s, n, pre, shift, count, end);
    for (unsigned b = 0; b < 256; b++) {
        if (count[b] < 2)
            continue;
        if (shift == 0)
            sort_all(s + end[b] - count[b], count[b]); /* equal pre: by id and offset */
        else
            radix_sort(s + end[b] - count[b], count[b], shift - 8);
    }
}

void ah_refs_sort(ah_ref_t *r, size_t n)
{
    radix_sort(r, n, 56);
}
