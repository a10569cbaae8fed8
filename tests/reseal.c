/* SPDX-License-Identifier: MIT */
/* reseal.c: see reseal.h. */
#include "reseal.h"

#include "bits.h"
#include "checksum.h"
#include "format.h"

int ts_reseal(unsigned char *f, size_t len)
{
    if (len < AH_HEADER_SIZE)
        return -1;
    /* The table as long as the header says, within reason (the optional sections included). */
    uint32_t n = ah_load_u32(f + AH_HDR_SECTION_COUNT);
    if (n > AH_SECTION_MAX || len < AH_HEADER_SIZE + (size_t)n * AH_SECTION_ENTRY_SIZE)
        return -1;
    uint64_t id = ah_hash64(ah_load_u32(f + AH_HDR_TOPK), f + AH_HDR_BUCKET, 4);
    for (unsigned s = 0; s < n; s++) {
        unsigned char *e = f + AH_HEADER_SIZE + s * AH_SECTION_ENTRY_SIZE;
        uint64_t off = ah_load_u64(e + AH_SEC_OFFSET), slen = ah_load_u64(e + AH_SEC_LENGTH);
        if (off > len || slen > len - off)
            return -1;
        ah_store_u32(e + AH_SEC_CRC, ah_crc32(0, f + off, slen));
        id = ah_hash64(id, f + off, slen);
    }
    ah_store_u64(f + AH_HDR_CONTENT_ID, id);
    ah_store_u32(f + AH_HDR_BODY_CRC, ah_crc32(0, f + AH_HEADER_SIZE, len - AH_HEADER_SIZE));
    ah_store_u32(f + AH_HDR_HEADER_CRC, ah_crc32(0, f, AH_HDR_HEADER_CRC));
    return 0;
}
