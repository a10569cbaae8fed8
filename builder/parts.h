/* SPDX-License-Identifier: MIT */
/*
 * parts.h: reading what a data engine writes. A Spark or DuckDB job that
 * aggregates query logs writes a directory of part files (plain or gzip,
 * maybe in Hive-style partition folders such as day=2026-12-01/), beside
 * markers such as _SUCCESS and checksum files such as .part-0.csv.gz.crc.
 * Its CSV writer adds a header line ("text<TAB>count", or with a third
 * column, "text<TAB>count<TAB>contexts") and quotes a text
 * holding a quote ("say ""hi""", or "say \"hi\"" in Spark's default dialect).
 *
 * ahead-build reads such a directory as it stands: ah_parts_list() finds the
 * part files, and each part file's lines go through ah_part_line() first.
 */
#ifndef AH_BUILDER_PARTS_H
#define AH_BUILDER_PARTS_H

#include <stddef.h>

/*
 * Lists the part files under dir, recursively, sorted byte-wise by path so
 * the order is fixed: regular files (symbolic links followed) whose name does
 * not start with '.' or '_' and does not end in ".crc"; folders starting with
 * '.' or '_' (_temporary, .spark-staging) are not entered. On 0, *paths holds
 * *n >= 1 malloc'd "dir/..." paths (free with ah_parts_free). Returns
 * AH_EIO with a message when dir cannot be read or holds no part file, or
 * AH_ENOMEM.
 */
int ah_parts_list(const char *dir, char ***paths, size_t *n, char *err, size_t errlen);

void ah_parts_free(char **paths, size_t n);

/* What ah_part_line() made of a line. */
typedef enum ah_part_line {
    AH_PART_PLAIN = 0, /* use the line as it is */
    AH_PART_HEADER,    /* a CSV header ("text<TAB>count"): not data */
    AH_PART_UNQUOTED,  /* the text was quoted: the unquoted line is in out */
} ah_part_line_t;

/*
 * Classifies line [0, len) of a part file, first_line set for its first
 * line. A header is a first line whose second field (the count's) is a
 * column name (a letter or '_', then letters, digits and '_'). A text starting with
 * '"' is unquoted, CSV style ("" is one quote) or else backslash style (\"
 * is a quote, \\ a backslash), into out (at least len bytes), with *out_len.
 * A text that is neither (it starts with a quote that a writer did not put
 * there: QUOTE '' in DuckDB) is taken literally.
 */
ah_part_line_t ah_part_line(const char *line, size_t len, int first_line, char *out,
                            size_t *out_len);

#endif /* AH_BUILDER_PARTS_H */
