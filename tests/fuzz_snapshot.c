/* SPDX-License-Identifier: MIT */
/*
 * fuzz_snapshot.c: a libFuzzer target for the snapshot reader. Each input is
 * taken as a snapshot file (its header CRC re-sealed, so that mutations of
 * the header reach the checks behind it), opened, asked a fixed set of
 * prefixes (in every context too) and deep-verified: any crash, sanitizer
 * report or out-of-bounds read is a bug. Built with clang by tests/fuzz.sh (CMake -DAHEAD_FUZZ=ON
 * in build-fuzz/), which runs it from a copy of tests/fuzz/corpus/fuzz_snapshot/ (small snapshots
 * of data/sample.tsv):
 *
 *   tests/fuzz.sh 60 fuzz_snapshot
 *   build-fuzz/tests/fuzz_snapshot CRASH_FILE          (replay a finding)
 */
#include "ahead.h"
#include "bits.h"
#include "checksum.h"
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/dev/shm/ahead-fuzz-%d.snap", (int)getpid());
        atexit(remove_file); /* libFuzzer ends with exit(); a crash leaves the file */
    }
    unsigned char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    if (size >= AH_HEADER_SIZE)
        ah_store_u32(copy + AH_HDR_HEADER_CRC, ah_crc32(0, copy, AH_HDR_HEADER_CRC));
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(copy);
        return 0;
    }
    fwrite(copy, 1, size, f);
    fclose(f);
    free(copy);

    ah_index_t *ix;
    char err[256];
    if (ah_index_open(path, &ix, err, sizeof err) != 0)
        return 0;
    static const char *const probes[] = {"",       "a",    "ab",   "abc",     "new ", "s",    "sa",
                                         "sao p",  "z",    "é",    "q",       "qqqq", "x",    "str",
                                         "b",      "c",    "d",    "e",       "ㅅㅇ", "한ㄱ", "닭",
                                         "ㅎㄱㅇ", "that", "what", "서울 특", "café"};
    ah_completion_t out[8];
    static char text[AH_COMPLETE_TEXT_BYTES(8)];
    size_t n;
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++)
        ah_index_complete(ix, probes[i], strlen(probes[i]), 1 + (unsigned)(i % 8), out, text,
                          sizeof text, &n);
    /* With typos and word starts (the default), which read the fills and the typo index. */
    ah_lookup_options_t opt = {.k = 4, .typos = AH_TYPOS_AUTO, .match = AH_MATCH_WORDS};
    int complete;
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        opt.k = 1 + (unsigned)(i % 8);
        ah_index_lookup(ix, probes[i], strlen(probes[i]), &opt, out, text, sizeof text, &n,
                        &complete);
    }
    /* The contexts' indexes: by position and by value, a few lookups with typos in each. */
    opt.k = 4;
    for (uint32_t c = 0; c < ah_index_context_count(ix) && c < 8; c++) {
        size_t vlen;
        const char *v = ah_index_context_value(ix, c, &vlen);
        const ah_index_t *in = ah_index_context(ix, v, vlen);
        if (!in)
            in = ah_index_context_at(ix, c);
        for (size_t i = 0; i < sizeof probes / sizeof *probes; i += 4)
            ah_index_lookup(in, probes[i], strlen(probes[i]), &opt, out, text, sizeof text, &n,
                            &complete);
    }
    ah_index_verify(ix, err, sizeof err);
    ah_index_close(ix);
    return 0;
}
