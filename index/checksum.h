/* SPDX-License-Identifier: MIT */
/*
 * checksum.h: the two digests of the snapshot format. CRC-32 (zlib's) guards
 * the header, the body and each section against damage; ah_hash64 names the
 * content (snapshot id, ETag). Neither is cryptographic.
 */
#ifndef AH_CHECKSUM_H
#define AH_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (the zlib/PNG polynomial) of len bytes, continuing from crc (0 to start). */
uint32_t ah_crc32(uint32_t crc, const void *data, size_t len);

/* The CRC-32 of A followed by B, from crc_a, crc_b and B's length, without reading either. */
uint32_t ah_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* A 64-bit hash of len bytes, chained: pass the previous result as seed. */
uint64_t ah_hash64(uint64_t seed, const void *data, size_t len);

/*
 * The same hash over bytes that come in pieces: begin with the seed and the
 * total length, update with the pieces in order (any sizes), and end gives
 * what ah_hash64(seed, all of them, len) gives.
 */
typedef struct ah_hash64_stream {
    uint64_t h;
    unsigned char carry[8]; /* bytes of an 8-byte word not yet complete */
    unsigned n_carry;
} ah_hash64_stream_t;

void ah_hash64_begin(ah_hash64_stream_t *s, uint64_t seed, size_t len);
void ah_hash64_update(ah_hash64_stream_t *s, const void *data, size_t len);
uint64_t ah_hash64_end(ah_hash64_stream_t *s);

#endif /* AH_CHECKSUM_H */
