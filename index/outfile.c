/* SPDX-License-Identifier: MIT */
/*
 * outfile.c: a file written whole or not at all (see outfile.h).
 */
#include "outfile.h"

#include "ahead.h"
#include "index_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define fail ah_index__fail

#define TEMP_SUFFIX ".tmp."
#define TEMP_RANDOM 6 /* characters after the suffix, as mkstemp's XXXXXX */

/* The folder of path, as a new string ("." for a bare name). */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(len + 1);
    if (dir) {
        memcpy(dir, path, len);
        dir[len] = 0;
    }
    return dir;
}

static void sync_folder(const char *path)
{
    char *dir = folder_of(path);
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dir);
}

/* An unnamed file in path's folder, if the file system and /proc allow naming it later. */
static int open_unnamed(const char *path)
{
#ifdef O_TMPFILE
    if (access("/proc/self/fd", X_OK) != 0)
        return -1;
    char *dir = folder_of(path);
    int fd = dir ? open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644) : -1;
    free(dir);
    return fd;
#else
    (void)path;
    return -1;
#endif
}

int ah_outfile_open(ah_outfile_t *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    size_t plen = strlen(path);
    f->path = strdup(path);
    char *temp = malloc(plen + sizeof TEMP_SUFFIX + TEMP_RANDOM);
    if (!f->path || !temp) {
        free(f->path);
        free(temp);
        return fail(err, errlen, AH_ENOMEM, "out of memory");
    }
    f->fd = open_unnamed(path);
    if (f->fd >= 0) {
        free(temp);
    } else {
        snprintf(temp, plen + sizeof TEMP_SUFFIX + TEMP_RANDOM, "%s" TEMP_SUFFIX "XXXXXX", path);
        f->fd = mkostemp(temp, O_CLOEXEC);
        if (f->fd < 0) {
            int rc = fail(err, errlen, AH_EIO, "%s: cannot create a file beside it: %s", path,
                          strerror(errno));
            free(temp);
            free(f->path);
            return rc;
        }
        f->temp = temp;
    }
    /* Held until commit closes the file or the process ends: ah_outfile_sweep() leaves it. */
    if (flock(f->fd, LOCK_EX) != 0 || fchmod(f->fd, 0644) != 0)
        f->failed_errno = errno;
    return 0;
}

void ah_outfile_write(ah_outfile_t *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0 && !f->failed_errno) {
        ssize_t got = write(f->fd, p, len);
        if (got < 0) {
            if (errno != EINTR)
                f->failed_errno = errno;
            continue;
        }
        p += got;
        len -= (size_t)got;
        f->written += (size_t)got;
    }
}

/* Gives the unnamed file a temporary name beside path, so that it can be renamed over it. */
static int name_unnamed(ah_outfile_t *f)
{
    size_t cap = strlen(f->path) + sizeof TEMP_SUFFIX + TEMP_RANDOM;
    char *temp = malloc(cap);
    if (!temp)
        return ENOMEM;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t seed =
        (uint64_t)getpid() * 0x9E3779B97F4A7C15u ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)temp;
    for (int attempt = 0; attempt < 100; attempt++) {
        char rand[TEMP_RANDOM + 1];
        for (int i = 0; i < TEMP_RANDOM; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            rand[i] = letters[(seed >> 33) % (sizeof letters - 1)];
        }
        rand[TEMP_RANDOM] = 0;
        snprintf(temp, cap, "%s" TEMP_SUFFIX "%s", f->path, rand);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, temp, AT_SYMLINK_FOLLOW) == 0) {
            f->temp = temp;
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    int e = errno;
    free(temp);
    return e;
}

/* Closes f and frees what it holds; its file, if it has a name, goes too (remove). */
static void close_file(ah_outfile_t *f, int remove)
{
    if (remove && f->temp)
        unlink(f->temp);
    close(f->fd); /* releases the lock, after the rename */
    free(f->temp);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

void ah_outfile_discard(ah_outfile_t *f)
{
    close_file(f, 1);
}

int ah_outfile_commit(ah_outfile_t *f, char *err, size_t errlen)
{
    int e = f->failed_errno;
    if (!e && fsync(f->fd) != 0)
        e = errno;
    if (!e && !f->temp)
        e = name_unnamed(f);
    if (!e && rename(f->temp, f->path) != 0)
        e = errno;
    int rc = 0;
    if (e) {
        char size[32];
        if (f->written >= 10u << 20)
            snprintf(size, sizeof size, "%zu MB", f->written >> 20);
        else
            snprintf(size, sizeof size, "%zu bytes", f->written);
        rc = fail(err, errlen, AH_EIO, "%s: cannot write the snapshot (stopped after %s): %s%s",
                  f->path, size, strerror(e),
                  e == EFBIG    ? " (a file size limit: see ulimit -f)"
                  : e == ENOSPC ? " (the disk is full)"
                                : "");
    } else {
        sync_folder(f->path); /* makes the rename itself durable */
    }
    close_file(f, e != 0);
    return rc;
}

unsigned ah_outfile_sweep(const char *path)
{
    char *dir = folder_of(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    unsigned removed = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strlen(name) != blen + strlen(TEMP_SUFFIX) + TEMP_RANDOM ||
            memcmp(name, base, blen) != 0 ||
            memcmp(name + blen, TEMP_SUFFIX, strlen(TEMP_SUFFIX)) != 0)
            continue;
        int fd = openat(dirfd(d), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd < 0)
            continue;
        /* A lock we can take means the writer is gone. */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            unlinkat(dirfd(d), name, 0) == 0)
            removed++;
        close(fd);
    }
    if (d)
        closedir(d);
    free(dir);
    return removed;
}
