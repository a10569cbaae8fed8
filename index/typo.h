/* SPDX-License-Identifier: MIT */
/*
 * typo.h: the typo index's small pure functions (format.h, LOOK and
 * GRAM_*), shared by the writer that builds it, the lookup that reads it
 * and the verifier that checks it, so that the three cannot disagree.
 * Nothing here reads a snapshot.
 */
#ifndef AH_TYPO_H
#define AH_TYPO_H

#include "bits.h"
#include "checksum.h"
#include "format.h"

#include <stdint.h>

/* The class of a byte in a LOOK entry's next mask (format.h). */
static inline unsigned ah_look_class(unsigned char b)
{
    if (b >= 'a' && b <= 'z')
        return b - 'a';
    if (b >= '0' && b <= '9')
        return 26;
    switch (b) {
    case ' ':
        return 27;
    case '-':
        return 28;
    case '.':
    case '_':
        return 29;
    default:
        return b < 0x80 ? 30 : 31;
    }
}

/*
 * The bytes of class c of ah_look_class() as a string, for the classes that
 * name their bytes (0..29); NULL for the others (30: any other ASCII byte,
 * 31: any byte from 0x80).
 */
static inline const char *ah_look_class_bytes(unsigned c)
{
    static const char bytes[30][11] = {"a", "b", "c", "d", "e", "f", "g",          "h", "i", "j",
                                       "k", "l", "m", "n", "o", "p", "q",          "r", "s", "t",
                                       "u", "v", "w", "x", "y", "z", "0123456789", " ", "-", "._"};
    return c < 30 ? bytes[c] : NULL;
}

/* The bit of two bytes in a LOOK entry's pair mask. */
static inline unsigned ah_look_pair(unsigned char b, unsigned char c)
{
    return (uint32_t)(b * 0x9E3779B1u + c * 0x85EBCA77u) >> 27;
}

/* The bit of a code point in a gram record's m4 or m5. */
static inline unsigned ah_gram_bit(uint32_t c)
{
    return (uint32_t)(c * 0x9E3779B1u) >> 29;
}

/* A gram block's key (j, p0, g1, g2) as the 16 bytes format.h hashes. */
static inline void ah_gram_key(unsigned char key[16], uint32_t j, uint32_t p0, uint32_t g1,
                               uint32_t g2)
{
    ah_store_u32(key, j);
    ah_store_u32(key + 4, p0);
    ah_store_u32(key + 8, g1);
    ah_store_u32(key + 12, g2);
}

/* The hash of a gram block's key (j, p0, g1, g2). */
static inline uint64_t ah_gram_hash(uint32_t j, uint32_t p0, uint32_t g1, uint32_t g2)
{
    unsigned char key[16];
    ah_gram_key(key, j, p0, g1, g2);
    return ah_hash64(0, key, sizeof key);
}

/*
 * A second, independent hash of the same key: the writer tells two keys
 * with one ah_gram_hash() apart by it (a block for each); not stored.
 */
static inline uint32_t ah_gram_check(uint32_t j, uint32_t p0, uint32_t g1, uint32_t g2)
{
    unsigned char key[16];
    ah_gram_key(key, j, p0, g1, g2);
    return (uint32_t)ah_hash64(0x6772616d, key, sizeof key);
}

#endif /* AH_TYPO_H */
