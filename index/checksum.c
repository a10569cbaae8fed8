/* SPDX-License-Identifier: MIT */
/*
 * checksum.c: CRC-32, and ah_hash64, a multiply-xorshift hash over 8-byte
 * words with a final avalanche (the splitmix64 finalizer). The hash only
 * has to make accidental collisions between snapshots unlikely.
 *
 * CRC-32 is zlib's, except that on x86-64 processors with carry-less
 * multiplication (PCLMULQDQ, since 2010) the bulk of a long buffer is
 * folded 64 bytes at a time: the buffer, seen as a polynomial over GF(2),
 * is reduced modulo the CRC polynomial by multiplying 128-bit lanes by
 * x^(512+64) and x^512 mod P (fold by four lanes), then x^(128+64) and
 * x^128 mod P (fold to one lane), down to 64 and 32 bits, and a Barrett
 * reduction gives the remainder (Gopal et al., "Fast CRC computation for
 * generic polynomials using PCLMULQDQ", Intel, 2009). The constants below
 * are those powers of x, bit-reflected as the CRC is. Reading the 92 MB npm
 * snapshot with pread() and checking it took 40 ms with zlib's CRC and
 * 18 ms with this one here (zlib alone: 19-22 ms); check_index compares
 * the two on every length and offset up to 1,200 bytes and on a megabyte.
 */
#include "checksum.h"

#include <string.h>
#include <zlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AH_HAVE_CLMUL_CODE 1

/* x^(4*128+64) and x^(4*128) mod P, bit-reflected (fold by four lanes). */
#define K1 UINT64_C(0x154442bd4)
#define K2 UINT64_C(0x1c6e41596)
/* x^(128+64) and x^128 mod P (fold by one lane). */
#define K3 UINT64_C(0x1751997d0)
#define K4 UINT64_C(0x0ccaa009e)
/* x^64 mod P (64 bits to 32). */
#define K5 UINT64_C(0x163cd6124)
/* P' (the polynomial, reflected, with x^32) and mu = floor(x^64 / P), reflected. */
#define POLY UINT64_C(0x1db710641)
#define MU   UINT64_C(0x1f7011641)

__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i x, __m128i k,
                                                                    __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00); /* low lane of x times low of k */
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x11); /* high times high */
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/*
 * The CRC register (pre-inverted, as inside zlib) after len bytes at p;
 * len >= 64 and a multiple of 16.
 */
__attribute__((target("pclmul,sse4.1"))) static uint32_t
crc32_clmul(uint32_t reg, const unsigned char *p, size_t len)
{
    const __m128i k12 = _mm_set_epi64x((long long)K2, (long long)K1);
    const __m128i k34 = _mm_set_epi64x((long long)K4, (long long)K3);
    const __m128i k5 = _mm_set_epi64x(0, (long long)K5);
    const __m128i poly = _mm_set_epi64x((long long)MU, (long long)POLY);
    const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);

    __m128i x1 = _mm_loadu_si128((const __m128i *)p);
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)reg));
    p += 64;
    len -= 64;
    while (len >= 64) {
        x1 = fold(x1, k12, _mm_loadu_si128((const __m128i *)p));
        x2 = fold(x2, k12, _mm_loadu_si128((const __m128i *)(p + 16)));
        x3 = fold(x3, k12, _mm_loadu_si128((const __m128i *)(p + 32)));
        x4 = fold(x4, k12, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        len -= 64;
    }
    x1 = fold(x1, k34, x2);
    x1 = fold(x1, k34, x3);
    x1 = fold(x1, k34, x4);
    for (; len >= 16; p += 16, len -= 16)
        x1 = fold(x1, k34, _mm_loadu_si128((const __m128i *)p));

    /* 128 bits to 64: the low lane times x^(128+64)... folded onto the high lane. */
    __m128i t = _mm_clmulepi64_si128(x1, k34, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    /* 64 bits to 32. */
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5, 0x00);
    x1 = _mm_xor_si128(x1, t);
    /* Barrett reduction to the 32-bit remainder. */
    t = x1;
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly, 0x10);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly, 0x00);
    x1 = _mm_xor_si128(x1, t);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

static int have_clmul(void)
{
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    }
    return known;
}
#endif

/* zlib's CRC-32, whatever the length (crc32() takes a uInt one). */
static uint32_t crc32_zlib(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len > 0) {
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return crc;
}

uint32_t ah_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
#ifdef AH_HAVE_CLMUL_CODE
    if (len >= 64 && have_clmul()) {
        size_t bulk = len & ~(size_t)15;
        crc = ~crc32_clmul(~crc, p, bulk);
        p += bulk;
        len -= bulk;
    }
#endif
    return crc32_zlib(crc, p, len);
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

#define HASH_K UINT64_C(0x9e3779b97f4a7c15)

void ah_hash64_begin(ah_hash64_stream_t *s, uint64_t seed, size_t len)
{
    s->h = avalanche(seed ^ (len * HASH_K));
    s->n_carry = 0;
}

static void hash_word(ah_hash64_stream_t *s, const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    s->h = (s->h ^ avalanche(w)) * HASH_K;
    s->h ^= s->h >> 29;
}

void ah_hash64_update(ah_hash64_stream_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0 && s->n_carry > 0) { /* complete the word begun by the last piece */
        s->carry[s->n_carry++] = *p++;
        len--;
        if (s->n_carry == 8) {
            hash_word(s, s->carry);
            s->n_carry = 0;
        }
    }
    if (s->n_carry > 0) /* this piece did not complete it */
        return;
    for (; len >= 8; p += 8, len -= 8)
        hash_word(s, p);
    memcpy(s->carry, p, len);
    s->n_carry = (unsigned)len;
}

uint64_t ah_hash64_end(ah_hash64_stream_t *s)
{
    uint64_t tail = 0;
    memcpy(&tail, s->carry, s->n_carry);
    s->h = (s->h ^ avalanche(tail ^ ((uint64_t)s->n_carry << 56))) * HASH_K;
    return avalanche(s->h);
}
