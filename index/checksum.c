/* SPDX-License-Identifier: MIT */
/*
 * checksum.c: CRC-32 through zlib, and ah_hash64, a multiply-xorshift hash
 * over 8-byte words with a final avalanche (the splitmix64 finalizer). The
 * hash only has to make accidental collisions between snapshots unlikely.
 */
#include "checksum.h"

#include <string.h>
#include <zlib.h>

uint32_t ah_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) { /* crc32() takes a uInt length */
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return crc;
}

uint32_t ah_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return (uint32_t)crc32_combine(crc_a, crc_b, (z_off_t)len_b);
}

static uint64_t avalanche(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

uint64_t ah_hash64(uint64_t seed, const void *data, size_t len)
{
    const unsigned char *p = data;
    const uint64_t k = UINT64_C(0x9e3779b97f4a7c15);
    uint64_t h = avalanche(seed ^ (len * k));
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ avalanche(w)) * k;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h = (h ^ avalanche(tail ^ ((uint64_t)len << 56))) * k;
    return avalanche(h);
}
