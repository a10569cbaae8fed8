/* SPDX-License-Identifier: MIT */
/*
 * watch.h: --watch, reloading an index when its file is replaced.
 *
 * inotify watches each snapshot's directory, not the file: replacing a file
 * the safe way (write a temporary file, then rename() it over the old name)
 * gives the old inode no event at all, but gives the directory an
 * IN_MOVED_TO with the name. IN_CLOSE_WRITE is watched too, for a file
 * written in place under its final name (which is not safe while it is
 * served: see the README, "Reloads"). The inotify descriptor is polled by the control
 * thread's event loop; each matching event calls back with the index.
 */
#ifndef AH_SERVER_WATCH_H
#define AH_SERVER_WATCH_H

#include <stddef.h>

#include "h2o.h"

#include "registry.h"

typedef void (*ah_watch_cb)(void *arg, size_t index);

typedef struct ah_watch_item {
    int wd;           /* the directory's watch descriptor */
    const char *base; /* the file name inside it, in the path string */
    size_t index;
} ah_watch_item_t;

typedef struct ah_watch {
    int fd;
    h2o_socket_t *sock;
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

/* ah_watch_stop: closes the inotify descriptor. Safe on a watch never started. */
void ah_watch_stop(ah_watch_t *w);

#endif /* AH_SERVER_WATCH_H */
