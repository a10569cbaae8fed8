/* SPDX-License-Identifier: MIT */
/*
 * input.c: a buffered line reader over zlib's gzFile (plain files pass
 * through). The buffer holds AH_INPUT_MAX_LINE bytes plus one read; a line
 * that does not fit is skipped and flagged, so memory stays bounded.
 */
#include "input.h"

#include "ahead.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK (256 * 1024)
#define BUF_SIZE   (AH_INPUT_MAX_LINE + READ_CHUNK)

struct ah_input {
    gzFile gz;
    const char *name;
    char *buf;
    size_t start, end; /* unread bytes are buf[start, end) */
    int eof;
    uint64_t consumed;
};

int ah_input_open(const char *path, ah_input_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return AH_EIO;
    }
    ah_input_t *in = calloc(1, sizeof *in);
    char *buf = malloc(BUF_SIZE);
    gzFile gz = (in && buf) ? gzdopen(fd, "rb") : NULL;
    if (!gz) {
        free(in);
        free(buf);
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return AH_ENOMEM;
    }
    gzbuffer(gz, 128 * 1024);
    in->gz = gz;
    in->name = path;
    in->buf = buf;
    *out = in;
    return 0;
}

/* Moves unread bytes to the front and reads more. Returns bytes read, 0 at EOF, -1 on error. */
static int fill(ah_input_t *in, char *err, size_t errlen)
{
    if (in->start > 0) {
        memmove(in->buf, in->buf + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    size_t room = BUF_SIZE - in->end;
    if (room > READ_CHUNK)
        room = READ_CHUNK;
    int got = gzread(in->gz, in->buf + in->end, (unsigned)room);
    if (got < 0) {
        int zerr;
        const char *msg = gzerror(in->gz, &zerr);
        snprintf(err, errlen, "%s: %s", in->name, zerr == Z_ERRNO ? strerror(errno) : msg);
        return -1;
    }
    if (got == 0) {
        /* A gzip stream cut short reads as EOF; zlib flags it. */
        int zerr;
        const char *msg = gzerror(in->gz, &zerr);
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            snprintf(err, errlen, "%s: %s", in->name, msg);
            return -1;
        }
        in->eof = 1;
    }
    in->end += (size_t)got;
    return got;
}

int ah_input_next(ah_input_t *in, const char **line, size_t *len, int *truncated, char *err,
                  size_t errlen)
{
    *truncated = 0;
    for (;;) {
        char *s = in->buf + in->start;
        size_t avail = in->end - in->start;
        char *nl = memchr(s, '\n', avail);
        if (nl || (in->eof && avail > 0)) {
            size_t n = nl ? (size_t)(nl - s) : avail;
            in->start += nl ? n + 1 : n;
            in->consumed += nl ? n + 1 : n;
            if (n > 0 && s[n - 1] == '\r')
                n--;
            *line = s;
            *len = n;
            return 1;
        }
        if (in->eof)
            return 0;
        if (avail >= AH_INPUT_MAX_LINE) {
            /* Over-long: skip to the next line end and report it empty. */
            *truncated = 1;
            for (;;) {
                in->consumed += in->end - in->start;
                in->start = in->end = 0;
                int got = fill(in, err, errlen);
                if (got < 0)
                    return AH_EIO;
                nl = memchr(in->buf, '\n', in->end);
                if (nl || got == 0) {
                    size_t skip = nl ? (size_t)(nl - in->buf) + 1 : in->end;
                    in->start = skip;
                    in->consumed += skip;
                    break;
                }
            }
            *line = in->buf;
            *len = 0;
            return 1;
        }
        if (fill(in, err, errlen) < 0)
            return AH_EIO;
    }
}

uint64_t ah_input_bytes(const ah_input_t *in)
{
    return in->consumed;
}

void ah_input_close(ah_input_t *in)
{
    if (!in)
        return;
    gzclose(in->gz);
    free(in->buf);
    free(in);
}
