/* SPDX-License-Identifier: MIT */
/*
 * parts.c: part-file directories and the CSV writers' header and quoting
 * (see parts.h).
 */
#include "parts.h"

#include "ahead.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Partition folders nest a few levels at most; this bounds a symbolic-link loop. */
#define MAX_DEPTH 16

typedef struct path_list {
    char **v;
    size_t n, cap;
} path_list_t;

static int push(path_list_t *l, char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return AH_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = path;
    return 0;
}

/* Markers (_SUCCESS), hidden and checksum files (.part-0.crc, part-0.crc) are not data. */
static int skipped_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] == '.' || name[0] == '_' || (len >= 4 && strcmp(name + len - 4, ".crc") == 0);
}

static int walk(const char *dir, int depth, path_list_t *out, char *err, size_t errlen)
{
    if (depth > MAX_DEPTH) {
        snprintf(err, errlen, "%s: folders nested more than %d deep (a symbolic link loop?)", dir,
                 MAX_DEPTH);
        return AH_EIO;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return AH_EIO;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (skipped_name(e->d_name))
            continue;
        size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        char *path = malloc(len);
        if (!path) {
            rc = AH_ENOMEM;
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = AH_EIO;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(path, depth + 1, out, err, errlen);
        } else if (S_ISREG(st.st_mode)) {
            rc = push(out, path);
            if (rc == 0)
                continue; /* the list owns path now */
        }
        free(path); /* folders, sockets, FIFOs and failures */
    }
    if (rc == 0 && errno != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        rc = AH_EIO;
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ah_parts_list(const char *dir, char ***paths, size_t *n, char *err, size_t errlen)
{
    path_list_t l = {0};
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/') /* "out/" names the same folder as "out" */
        dlen--;
    char *root = strndup(dir, dlen);
    int rc = root ? walk(root, 0, &l, err, errlen) : AH_ENOMEM;
    free(root);
    if (rc == 0 && l.n == 0) {
        snprintf(err, errlen,
                 "%s: no part files (names starting with '.' or '_', or ending in .crc, are "
                 "skipped)",
                 dir);
        rc = AH_EIO;
    }
    if (rc == AH_ENOMEM)
        snprintf(err, errlen, "%s: out of memory listing part files", dir);
    if (rc != 0) {
        ah_parts_free(l.v, l.n);
        return rc;
    }
    qsort(l.v, l.n, sizeof *l.v, by_path);
    *paths = l.v;
    *n = l.n;
    return 0;
}

void ah_parts_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

static int is_column_name(const char *s, size_t len)
{
    if (len == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* The inside of "..." in CSV style: every quote doubled. Returns 0 if it is not that. */
static int unquote_doubled(const char *s, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            if (i + 1 >= len || s[i + 1] != '"')
                return 0;
            i++;
        }
        out[o++] = s[i];
    }
    *out_len = o;
    return 1;
}

/* The inside of "..." in backslash style: \" and \\ escaped. Returns 0 if it is not that. */
static int unquote_backslashed(const char *s, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            return 0;
        if (s[i] == '\\' && i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\'))
            i++;
        out[o++] = s[i];
    }
    *out_len = o;
    return 1;
}

ah_part_line_t ah_part_line(const char *line, size_t len, int first_line, char *out,
                            size_t *out_len)
{
    /*
     * The text is the first field: it ends at the first tab, or for a quoted
     * text at the first closing quote followed by a tab. The count follows,
     * then the contexts, if any (a context value may look like a count).
     */
    const char *tab = memchr(line, '\t', len);
    if (len > 0 && line[0] == '"')
        for (const char *q = line + 1; (q = memchr(q, '"', len - (size_t)(q - line))) != NULL; q++)
            if (q + 1 < line + len && q[1] == '\t') {
                tab = q + 1;
                break;
            }
    size_t text_len = tab ? (size_t)(tab - line) : len;
    if (first_line && tab) {
        const char *count = tab + 1, *end = memchr(count, '\t', len - text_len - 1);
        if (is_column_name(count, end ? (size_t)(end - count) : len - text_len - 1))
            return AH_PART_HEADER;
    }
    if (text_len < 2 || line[0] != '"' || line[text_len - 1] != '"')
        return AH_PART_PLAIN;
    size_t inner;
    if (!unquote_doubled(line + 1, text_len - 2, out, &inner) &&
        !unquote_backslashed(line + 1, text_len - 2, out, &inner))
        return AH_PART_PLAIN;
    /* The rest of the line (the tab and the count) follows the unquoted text. */
    memcpy(out + inner, line + text_len, len - text_len);
    *out_len = inner + (len - text_len);
    return AH_PART_UNQUOTED;
}
