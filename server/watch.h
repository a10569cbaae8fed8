/* SPDX-License-Identifier: MIT */
/*
 * watch.h: --watch, reloading an index when its file is replaced.
 *
 * inotify watches each snapshot's directory, not the file: replacing a file
 * the safe way (write a temporary file, then rename() it over the old name)
 * gives the old inode no event at all, but gives the directory an
 * IN_MOVED_TO with the name. IN_CLOSE_WRITE is watched too, for a file
 * written in place under its final name (which is not safe while it is
 * served: see docs/operating.md, "Reloads"). The inotify descriptor is polled by the control
 * thread's event loop; each matching event calls back with the index.
 *
 * An inotify watch follows an inode, not a path, and deploys change what
 * the path leads to:
 *
 *   mv data data.old; mkdir data      the watch moves with data.old
 *                                     (IN_MOVE_SELF), or dies with it
 *                                     (IN_DELETE_SELF, then IN_IGNORED);
 *   ln -sfn releases/r2 current       nothing at all happens to r1, the
 *                                     directory watched: no event comes.
 *
 * So each watched directory remembers its path as configured (through any
 * symlinks) and the st_dev/st_ino that path led to when the watch was
 * added. Its self events re-check at once; a timer on the same loop
 * re-checks every directory every second, one stat() each, which is what
 * catches a re-pointed symlink at any level of the path (a watch on the
 * parent would see only the last one) and a directory that comes back after
 * it was removed. When the path leads to another directory, the watch is
 * re-armed there (stat first, then inotify_add_watch, so the identity kept
 * is never newer than the directory watched and a race is caught by the
 * next check), one line is logged, and every index whose file exists in
 * the new directory is reloaded: the registry answers "same content" when
 * it did not change. While the path leads to no directory, one line says so
 * and the check goes on every second. IN_Q_OVERFLOW (events were lost)
 * re-checks every directory and reloads every index.
 */
#ifndef AH_SERVER_WATCH_H
#define AH_SERVER_WATCH_H

#include <stddef.h>
#include <sys/types.h>

#include "h2o.h"

#include "registry.h"

typedef void (*ah_watch_cb)(void *arg, size_t index);

/* A watched directory, shared by the indexes whose files it holds. */
typedef struct ah_watch_dir {
    char *path; /* as configured, re-resolved at every check; owned */
    int wd;     /* the inotify watch, -1 while the path leads to no directory */
    dev_t dev;  /* what path led to when wd was added */
    ino_t ino;
    int lost_logged; /* 1 once "leads to no directory" was logged, until re-armed */
} ah_watch_dir_t;

typedef struct ah_watch_item {
    size_t dir;       /* in ah_watch_t.dirs */
    const char *path; /* the snapshot's path, owned by the registry */
    const char *base; /* the file name inside the directory, in path */
    size_t index;
} ah_watch_item_t;

typedef struct ah_watch {
    int fd;
    h2o_socket_t *sock;
    h2o_evloop_t *loop;
    h2o_timeout_t recheck; /* every directory's path, every second */
    h2o_timeout_entry_t recheck_entry;
    int recheck_started;
    ah_watch_dir_t *dirs;
    size_t ndirs;
    ah_watch_item_t *items;
    size_t n;
    ah_watch_cb cb;
    void *arg;
} ah_watch_t;

/*
 * ah_watch_start: watches the directory of every entry of reg on loop.
 * Returns 0, or -1 with a message in err (e.g. a directory that does not exist).
 */
int ah_watch_start(ah_watch_t *w, h2o_evloop_t *loop, const ah_registry_t *reg, ah_watch_cb cb,
                   void *arg, char *err, size_t errlen);

/*
 * ah_watch_stop: closes the inotify descriptor and stops the timer; on the
 * loop's own thread. Safe on a watch never started.
 */
void ah_watch_stop(ah_watch_t *w);

#endif /* AH_SERVER_WATCH_H */
