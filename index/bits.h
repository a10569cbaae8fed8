/* SPDX-License-Identifier: MIT */
/*
 * bits.h: the little-endian integer, varint and packed-array primitives the
 * snapshot is made of, for both the writer and the reader.
 *
 * The readers take an end pointer and never read past it: a varint that runs
 * off its section reports failure instead. Packed-array reads load 8 bytes at
 * a time; sections end in AH_SECTION_PAD zero bytes so that such a load
 * inside a section stays inside it (the reader checks the index first).
 */
#ifndef AH_BITS_H
#define AH_BITS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t ah_load_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* the format is little-endian, as is every host we build for */
    return v;
}

static inline uint64_t ah_load_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void ah_store_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void ah_store_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Reads a w-byte (1..4) little-endian unsigned integer. */
static inline uint32_t ah_load_uw(const unsigned char *p, unsigned w)
{
    uint32_t v = p[0];
    if (w > 1)
        v |= (uint32_t)p[1] << 8;
    if (w > 2)
        v |= (uint32_t)p[2] << 16;
    if (w > 3)
        v |= (uint32_t)p[3] << 24;
    return v;
}

static inline void ah_store_uw(unsigned char *p, uint32_t v, unsigned w)
{
    for (unsigned i = 0; i < w; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Bytes (1..4) needed to hold v. */
static inline unsigned ah_bytes_for(uint32_t v)
{
    return v < (1u << 8) ? 1 : v < (1u << 16) ? 2 : v < (1u << 24) ? 3 : 4;
}

/* Bits (0..64) needed to hold v. */
static inline unsigned ah_bits_for(uint64_t v)
{
    return v ? 64 - (unsigned)__builtin_clzll(v) : 0;
}

/*
 * Decodes a varint at *pp, not reading at or past end. On success stores the
 * value, advances *pp and returns 1; returns 0 on a truncated or over-long
 * varint (more than 10 bytes or bits beyond 64).
 */
static inline int ah_varint_get(const unsigned char **pp, const unsigned char *end, uint64_t *v)
{
    const unsigned char *p = *pp;
    if (p < end && *p < 0x80) { /* the common one-byte case */
        *v = *p;
        *pp = p + 1;
        return 1;
    }
    uint64_t x = 0;
    if (end - p >= 10) { /* all ten bytes readable: no bounds test per byte */
        /* Two and three bytes (counts, offsets, classes) unrolled, the rest looped. */
        x = (uint64_t)(p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7;
        if (p[1] < 0x80) {
            *v = x;
            *pp = p + 2;
            return 1;
        }
        x |= (uint64_t)(p[2] & 0x7f) << 14;
        if (p[2] < 0x80) {
            *v = x;
            *pp = p + 3;
            return 1;
        }
        for (unsigned i = 3; i < 10; i++) {
            uint64_t b = p[i];
            x |= (b & 0x7f) << (7 * i);
            if (b < 0x80) {
                if (i == 9 && b > 1)
                    return 0;
                *v = x;
                *pp = p + i + 1;
                return 1;
            }
        }
        return 0;
    }
    for (unsigned shift = 0; shift < 64 && p < end; shift += 7) {
        unsigned char b = *p++;
        if (shift == 63 && b > 1)
            return 0;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *v = x;
            *pp = p;
            return 1;
        }
    }
    return 0;
}

/* Encodes v at p (at least 10 bytes of room); returns the bytes written. */
static inline size_t ah_varint_put(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* Length of v's varint encoding. */
static inline size_t ah_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/*
 * Reads the width-w value (w <= 64) at bit position pos of a packed array.
 * The caller guarantees that bytes [pos/8, pos/8 + 16) are readable when
 * w > 56, and [pos/8, pos/8 + 8) otherwise.
 */
static inline uint64_t ah_bits_get(const unsigned char *base, uint64_t pos, unsigned w)
{
    if (w == 0)
        return 0;
    const unsigned char *p = base + (pos >> 3);
    unsigned shift = (unsigned)(pos & 7);
    uint64_t lo = ah_load_u64(p) >> shift;
    if (w + shift > 64)
        lo |= (uint64_t)p[8] << (64 - shift);
    return w == 64 ? lo : lo & ((UINT64_C(1) << w) - 1);
}

/* Writes the width-w value v at bit position pos; the bits must be zero. */
static inline void ah_bits_put(unsigned char *base, uint64_t pos, unsigned w, uint64_t v)
{
    for (unsigned i = 0; i < w; i++, pos++)
        if ((v >> i) & 1)
            base[pos >> 3] |= (unsigned char)(1u << (pos & 7));
}

#endif /* AH_BITS_H */
