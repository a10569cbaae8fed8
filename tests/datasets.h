/* SPDX-License-Identifier: MIT */
/*
 * datasets.h: where the tests find the real datasets. The small ones
 * (sample.tsv, subtlex-us.tsv, es-ngrams.tsv.gz) ship in the repository's
 * data/, so the suite runs from a bare clone; the large npm-downloads.tsv.gz
 * stays out of git and is looked for in ../shared/data beside the clone,
 * where our machines and CI have it. Tests that need it say they are
 * skipped when it is absent.
 */
#ifndef AH_TESTS_DATASETS_H
#define AH_TESTS_DATASETS_H

#include <stdio.h>
#include <unistd.h>

/* The path of a dataset file in data/, else in ../shared/data; NULL when neither has it. */
static inline const char *dataset_path(const char *file, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/data/%s", AH_SOURCE_DIR, file);
    if (access(buf, R_OK) == 0)
        return buf;
    snprintf(buf, cap, "%s/%s", AH_SHARED_DATA, file);
    if (access(buf, R_OK) == 0)
        return buf;
    return NULL;
}

#endif
