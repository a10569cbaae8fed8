/* SPDX-License-Identifier: MIT */
/*
 * watch.c: inotify on the snapshots' directories (see watch.h). The
 * descriptor is wrapped as an h2o socket with H2O_SOCKET_FLAG_DONT_READ, so
 * the loop only reports readiness and the events are read here.
 */
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_MASK (IN_MOVED_TO | IN_CLOSE_WRITE)

static void dispatch(ah_watch_t *w, const struct inotify_event *ev)
{
    if (ev->len == 0 || (ev->mask & WATCH_MASK) == 0)
        return;
    for (size_t i = 0; i < w->n; i++) {
        if (w->items[i].wd == ev->wd && strcmp(w->items[i].base, ev->name) == 0)
            w->cb(w->arg, w->items[i].index);
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

int ah_watch_start(ah_watch_t *w, h2o_evloop_t *loop, const ah_registry_t *reg, ah_watch_cb cb,
                   void *arg, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, errlen, "--watch: inotify_init1: %s", strerror(errno));
        return -1;
    }
    w->items = calloc(reg->n, sizeof(*w->items));
    if (w->items == NULL) {
        snprintf(err, errlen, "--watch: out of memory");
        return -1;
    }
    w->cb = cb;
    w->arg = arg;
    for (size_t i = 0; i < reg->n; i++) {
        const char *path = reg->entries[i].path;
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];
        if (slash == NULL)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == path)
            snprintf(dir, sizeof(dir), "/");
        else
            snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        int wd = inotify_add_watch(w->fd, dir, WATCH_MASK | IN_ONLYDIR);
        if (wd < 0) {
            snprintf(err, errlen, "--watch: cannot watch directory %s: %s", dir, strerror(errno));
            return -1;
        }
        w->items[w->n].wd = wd;
        w->items[w->n].base = slash == NULL ? path : slash + 1;
        w->items[w->n].index = i;
        w->n++;
    }
    w->sock = h2o_evloop_socket_create(loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    w->sock->data = w;
    h2o_socket_read_start(w->sock, on_readable);
    return 0;
}

void ah_watch_stop(ah_watch_t *w)
{
    if (w->sock != NULL) {
        h2o_socket_read_stop(w->sock);
        h2o_socket_close(w->sock); /* closes the fd */
    } else if (w->fd > 0) {
        close(w->fd);
    }
    free(w->items);
    memset(w, 0, sizeof(*w));
}
