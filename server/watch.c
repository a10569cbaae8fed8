/* SPDX-License-Identifier: MIT */
/*
 * watch.c: inotify on the snapshots' directories, and the re-arming when a
 * path comes to lead to another directory (see watch.h). The descriptor is
 * wrapped as an h2o socket with H2O_SOCKET_FLAG_DONT_READ, so the loop only
 * reports readiness and the events are read here; the once-a-second
 * re-check is an h2o timeout on the same loop, so everything here runs on
 * the control thread and needs no lock.
 */
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define FILE_EVENTS (IN_MOVED_TO | IN_CLOSE_WRITE)
#define SELF_EVENTS (IN_DELETE_SELF | IN_MOVE_SELF)
#define WATCH_MASK  (FILE_EVENTS | SELF_EVENTS | IN_ONLYDIR)

/* How often every watched directory's path is checked (see watch.h). */
#define RECHECK_MS 1000

/* 1 when a directory other than except holds the watch wd (one directory, two spellings). */
static int wd_shared(const ah_watch_t *w, size_t except, int wd)
{
    for (size_t d = 0; d < w->ndirs; d++) {
        if (d != except && w->dirs[d].wd == wd)
            return 1;
    }
    return 0;
}

/*
 * Watches what dir d's path leads to now. stat() comes first: the identity
 * kept is then never newer than the directory watched, so if the path
 * changes in between, the next check sees a difference and re-arms again.
 * Returns 0 or an errno value; on failure d's watch is left as it was.
 */
static int arm(ah_watch_t *w, size_t d)
{
    ah_watch_dir_t *dir = &w->dirs[d];
    struct stat st;
    if (stat(dir->path, &st) != 0)
        return errno;
    if (!S_ISDIR(st.st_mode))
        return ENOTDIR;
    int wd = inotify_add_watch(w->fd, dir->path, WATCH_MASK);
    if (wd < 0)
        return errno;
    dir->wd = wd;
    dir->dev = st.st_dev;
    dir->ino = st.st_ino;
    return 0;
}

/* Reloads the indexes whose file is in dir d and exists (one absent yet is no failure). */
static void reload_dir(ah_watch_t *w, size_t d)
{
    struct stat st;
    for (size_t i = 0; i < w->n; i++) {
        if (w->items[i].dir == d && stat(w->items[i].path, &st) == 0)
            w->cb(w->arg, w->items[i].index);
    }
}

/*
 * Checks that dir d's path still leads to the directory watched; if not,
 * re-arms the watch where it leads now, logs it and (when reload is set)
 * reloads its indexes. why says what prompted the check, for the log.
 */
static void recheck(ah_watch_t *w, size_t d, const char *why, int reload)
{
    ah_watch_dir_t *dir = &w->dirs[d];
    struct stat st;
    int found = stat(dir->path, &st) == 0 && S_ISDIR(st.st_mode);
    if (dir->wd >= 0 && found && st.st_dev == dir->dev && st.st_ino == dir->ino)
        return; /* still the directory watched */
    if (dir->wd < 0 && !found && dir->lost_logged)
        return; /* still no directory there, and that was said */

    int old = dir->wd;
    int err = arm(w, d);
    if (err != 0)
        dir->wd = -1;
    /* The old watch follows a directory that is no longer ours (moved away, or elsewhere). */
    if (old >= 0 && old != dir->wd && !wd_shared(w, d, old))
        inotify_rm_watch(w->fd, old); /* EINVAL when the kernel dropped it already */
    if (err != 0) {
        ah_log("watch: %s: %s, and the path leads to no directory now (%s); checking it every "
               "second",
               dir->path, why, strerror(err));
        dir->lost_logged = 1;
        return;
    }
    dir->lost_logged = 0;
    ah_log("watch: re-armed on %s (%s)", dir->path, why);
    if (reload)
        reload_dir(w, d);
}

/* Events were lost: every path checked again, every index reloaded. */
static void overflowed(ah_watch_t *w)
{
    ah_log("watch: the inotify queue overflowed and events were lost; reloading every index");
    for (size_t d = 0; d < w->ndirs; d++)
        recheck(w, d, "events were lost", 0);
    for (size_t i = 0; i < w->n; i++)
        w->cb(w->arg, w->items[i].index);
}

static void dispatch(ah_watch_t *w, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        overflowed(w);
        return;
    }
    for (size_t d = 0; d < w->ndirs; d++) {
        if (w->dirs[d].wd != ev->wd)
            continue;
        if (ev->mask & IN_IGNORED) {
            w->dirs[d].wd = -1; /* the kernel has removed it already */
            recheck(w, d, "its watch was removed", 1);
        } else if (ev->mask & IN_DELETE_SELF) {
            recheck(w, d, "the directory was removed", 1);
        } else if (ev->mask & IN_MOVE_SELF) {
            recheck(w, d, "the directory was moved away", 1);
        } else if (ev->len > 0 && (ev->mask & FILE_EVENTS)) {
            for (size_t i = 0; i < w->n; i++) {
                if (w->items[i].dir == d && strcmp(w->items[i].base, ev->name) == 0)
                    w->cb(w->arg, w->items[i].index);
            }
        }
    }
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    ah_watch_t *w = sock->data;
    /* Aligned as the kernel's struct inotify_event requires. */
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (err != NULL)
        return;
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n <= 0)
            return; /* EAGAIN: drained */
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            dispatch(w, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
}

static void on_recheck(h2o_timeout_entry_t *entry)
{
    ah_watch_t *w = H2O_STRUCT_FROM_MEMBER(ah_watch_t, recheck_entry, entry);
    for (size_t d = 0; d < w->ndirs; d++)
        recheck(w, d,
                w->dirs[d].wd >= 0 ? "the path leads to another directory now"
                                   : "the directory is there again",
                1);
    h2o_timeout_link(w->loop, &w->recheck, &w->recheck_entry);
}

/* The directory part of path into dir ("." or "/" when there is none). */
static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* The entry of w->dirs for dir, added (not yet armed) when new; -1 when out of memory. */
static long dir_entry(ah_watch_t *w, const char *dir)
{
    for (size_t d = 0; d < w->ndirs; d++) {
        if (strcmp(w->dirs[d].path, dir) == 0)
            return (long)d;
    }
    if ((w->dirs[w->ndirs].path = strdup(dir)) == NULL)
        return -1;
    w->dirs[w->ndirs].wd = -1;
    return (long)w->ndirs++;
}

int ah_watch_start(ah_watch_t *w, h2o_evloop_t *loop, const ah_registry_t *reg, ah_watch_cb cb,
                   void *arg, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, errlen, "--watch: inotify_init1: %s", strerror(errno));
        return -1;
    }
    w->items = calloc(reg->n, sizeof(*w->items));
    w->dirs = calloc(reg->n, sizeof(*w->dirs));
    if (w->items == NULL || w->dirs == NULL) {
        snprintf(err, errlen, "--watch: out of memory");
        return -1;
    }
    w->cb = cb;
    w->arg = arg;
    for (size_t i = 0; i < reg->n; i++) {
        const char *path = reg->entries[i].path;
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];
        dir_of(path, dir, sizeof(dir));
        long d = dir_entry(w, dir);
        if (d < 0) {
            snprintf(err, errlen, "--watch: out of memory");
            return -1;
        }
        int e = w->dirs[d].wd < 0 ? arm(w, (size_t)d) : 0;
        if (e != 0) {
            snprintf(err, errlen, "--watch: cannot watch directory %s: %s", dir, strerror(e));
            return -1;
        }
        w->items[w->n].dir = (size_t)d;
        w->items[w->n].path = path;
        w->items[w->n].base = slash == NULL ? path : slash + 1;
        w->items[w->n].index = i;
        w->n++;
    }
    w->sock = h2o_evloop_socket_create(loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    w->sock->data = w;
    h2o_socket_read_start(w->sock, on_readable);
    h2o_timeout_init(loop, &w->recheck, RECHECK_MS);
    w->recheck_entry.cb = on_recheck;
    h2o_timeout_link(loop, &w->recheck, &w->recheck_entry);
    w->recheck_started = 1;
    return 0;
}

void ah_watch_stop(ah_watch_t *w)
{
    if (w->recheck_started) {
        if (h2o_timeout_is_linked(&w->recheck_entry))
            h2o_timeout_unlink(&w->recheck_entry);
        h2o_timeout_dispose(w->loop, &w->recheck);
    }
    if (w->sock != NULL) {
        h2o_socket_read_stop(w->sock);
        h2o_socket_close(w->sock); /* closes the fd */
    } else if (w->fd > 0) {
        close(w->fd);
    }
    for (size_t d = 0; d < w->ndirs; d++)
        free(w->dirs[d].path);
    free(w->dirs);
    free(w->items);
    memset(w, 0, sizeof(*w));
}
