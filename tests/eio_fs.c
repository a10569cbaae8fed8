/* SPDX-License-Identifier: MIT */
/*
 * eio_fs.c: a FUSE file system with one file whose disk has a bad sector,
 * for the tests of how ahead-serve loads a snapshot it cannot read whole.
 *
 *   eio_fs MOUNTPOINT BACKING_FILE BAD_OFFSET
 *
 * MOUNTPOINT/bad-middle and MOUNTPOINT/bad-header have BACKING_FILE's size
 * and bytes, except that every read of a range holding byte BAD_OFFSET (of
 * bad-middle) or byte 64 (of bad-header) fails with EIO, as a read from a
 * disk with a damaged sector does. Runs in the foreground, single-threaded,
 * until unmounted or sent SIGTERM.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const FILE_PATHS[] = {"/bad-middle", "/bad-header"};
static int backing_fd = -1;
static off_t bad_offsets[] = {0, 64};

/* Which file path is, or -1. */
static int file_of(const char *path)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(path, FILE_PATHS[i]) == 0)
            return i;
    return -1;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    memset(st, 0, sizeof(*st));
    if (strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    }
    if (file_of(path) < 0)
        return -ENOENT;
    struct stat real;
    if (fstat(backing_fd, &real) != 0)
        return -errno;
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = real.st_size;
    return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)off;
    (void)fi;
    (void)flags;
    if (strcmp(path, "/") != 0)
        return -ENOENT;
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill(buf, FILE_PATHS[0] + 1, NULL, 0, 0);
    fill(buf, FILE_PATHS[1] + 1, NULL, 0, 0);
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    if (file_of(path) < 0)
        return -ENOENT;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    fi->keep_cache = 0; /* every open starts from an empty page cache */
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    off_t bad_offset = bad_offsets[file_of(path)];
    if (off <= bad_offset && bad_offset < off + (off_t)size)
        return -EIO;
    ssize_t got = pread(backing_fd, buf, size, off);
    return got < 0 ? -errno : (int)got;
}

static const struct fuse_operations ops = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
};

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: eio_fs MOUNTPOINT BACKING_FILE BAD_OFFSET\n");
        return 2;
    }
    backing_fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (backing_fd < 0) {
        perror(argv[2]);
        return 1;
    }
    bad_offsets[0] = (off_t)strtoll(argv[3], NULL, 10);
    char *fuse_argv[] = {argv[0], "-f", "-s", "-o", "default_permissions", argv[1], NULL};
    return fuse_main(6, fuse_argv, &ops, NULL);
}
