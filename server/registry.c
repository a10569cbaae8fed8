/* SPDX-License-Identifier: MIT */
/*
 * registry.c: the served indexes, reloads and reference counting (the
 * design is explained in registry.h).
 *
 * Lock order: reload_lock, then lock. The registry lock is held only for
 * pointer and counter updates, never while a file is opened, verified or
 * unmapped, so a worker refreshing its view never waits on a disk.
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long a reload waits for the previous old snapshot to be released. */
#define RETIRE_WAIT_MS 2000

/* How long a load waits for a writer that has the file open to close it. */
#define LEASE_RETRY_MS 200

/* The longest pause between two pieces of a paced reload (see pace()). */
#define PACE_MAX_SLEEP_NS 2000000

int ah_registry_init(ah_registry_t *reg, const ah_config_t *cfg)
{
    memset(reg, 0, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    pthread_mutex_init(&reg->reload_lock, NULL);
    atomic_init(&reg->generation, 1);
    atomic_init(&reg->ready, 0);
    reg->entries = calloc(cfg->n_indexes, sizeof(*reg->entries));
    if (reg->entries == NULL)
        return AH_ENOMEM;
    reg->n = cfg->n_indexes;
    reg->verify = cfg->verify;
    reg->copy = cfg->snapshot_copy;
    for (size_t i = 0; i < reg->n; i++) {
        reg->entries[i].name = cfg->indexes[i].name;
        reg->entries[i].path = cfg->indexes[i].path;
        atomic_init(&reg->entries[i].live, 0);
    }
    return 0;
}

void ah_registry_dispose(ah_registry_t *reg)
{
    ah_registry_reap(reg);
    for (size_t i = 0; i < reg->n; i++) {
        pthread_mutex_lock(&reg->lock);
        ah_snap_t *s = reg->entries[i].snap;
        reg->entries[i].snap = NULL;
        pthread_mutex_unlock(&reg->lock);
        ah_snap_release(s);
    }
    free(reg->entries);
    reg->entries = NULL;
    reg->n = 0;
    pthread_mutex_destroy(&reg->lock);
    pthread_mutex_destroy(&reg->reload_lock);
}

int ah_registry_find(const ah_registry_t *reg, const char *name, size_t len)
{
    for (size_t i = 0; i < reg->n; i++) {
        const char *n = reg->entries[i].name;
        if (strncmp(n, name, len) == 0 && n[len] == '\0')
            return (int)i;
    }
    return -1;
}

/* Unmaps and frees; the caller accounts for the entry's live count. */
static void snap_free(ah_snap_t *s)
{
    ah_index_close(s->idx);
    if (s->lease_fd >= 0)
        close(s->lease_fd); /* after the unmap: a waiting writer may go on */
    free(s);
}

static void snap_destroy(ah_snap_t *s)
{
    ah_registry_entry_t *e = s->entry;
    snap_free(s);
    atomic_fetch_sub_explicit(&e->live, 1, memory_order_release);
}

void ah_snap_release(ah_snap_t *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snap_destroy(s);
}

/* ah_snap_release for the event loops: the last reference retires, not unmaps. */
static void snap_release_from_loop(ah_registry_t *reg, ah_snap_t *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&reg->lock);
    s->next_retired = reg->retired;
    reg->retired = s;
    pthread_mutex_unlock(&reg->lock);
}

void ah_registry_reap(ah_registry_t *reg)
{
    pthread_mutex_lock(&reg->lock);
    ah_snap_t *s = reg->retired;
    reg->retired = NULL;
    pthread_mutex_unlock(&reg->lock);
    while (s != NULL) {
        ah_snap_t *next = s->next_retired;
        snap_destroy(s);
        s = next;
    }
}

/* Takes a reference; the caller holds the registry lock and s is some entry's current. */
static ah_snap_t *snap_ref_locked(ah_snap_t *s)
{
    if (s != NULL)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

ah_snap_t *ah_registry_acquire(ah_registry_t *reg, size_t i)
{
    pthread_mutex_lock(&reg->lock);
    ah_snap_t *s = snap_ref_locked(reg->entries[i].snap);
    pthread_mutex_unlock(&reg->lock);
    return s;
}

unsigned ah_registry_mapped(ah_registry_t *reg)
{
    unsigned n = 0;
    for (size_t i = 0; i < reg->n; i++)
        n += atomic_load_explicit(&reg->entries[i].live, memory_order_acquire);
    return n;
}

/*
 * Waits until the entry has at most its current snapshot mapped, so that
 * mapping one more keeps it at two. Workers drop old references within one
 * event loop iteration (at most ~100 ms when idle), so this is short; if a
 * worker is stuck we go on rather than refuse the reload.
 */
static void wait_for_retired(ah_registry_t *reg, ah_registry_entry_t *e)
{
    for (int waited = 0; waited < RETIRE_WAIT_MS; waited++) {
        ah_registry_reap(reg);
        if (atomic_load_explicit(&e->live, memory_order_acquire) <= 1)
            return;
        usleep(1000);
    }
}

static void record_failure(ah_registry_t *reg, ah_registry_entry_t *e, ah_reload_result_t *res)
{
    pthread_mutex_lock(&reg->lock);
    e->reloads_failed++;
    snprintf(e->last_error, sizeof(e->last_error), "%s", res->err);
    if (e->snap != NULL) {
        memcpy(res->new_id, e->snap->st.id_hex, sizeof(res->new_id));
        memcpy(res->old_id, e->snap->st.id_hex, sizeof(res->old_id));
        res->entries = e->snap->st.entries;
        res->bytes = e->snap->st.file_bytes;
    }
    pthread_mutex_unlock(&reg->lock);
}

/* What a file that is not a regular one is, for the error message. */
static const char *file_kind(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "of an unknown type";
}

/*
 * Opens path read-only without ever blocking, and refuses anything but a
 * regular file. A plain open() of a FIFO waits for a writer, forever if none
 * comes, and it would wait in the control thread holding the reload lock,
 * with every admin request and the shutdown behind it. O_NONBLOCK makes that
 * open return at once (and makes one that would wait for another process's
 * write lease to be broken fail with EWOULDBLOCK instead); the type is then
 * checked before anything else touches the descriptor, and O_NONBLOCK is
 * cleared so that the regular file behaves as if opened without it.
 * Returns the descriptor, or -1 with res filled.
 */
static int open_regular(const char *path, ah_reload_result_t *res)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        res->rc = AH_EIO;
        snprintf(res->err, sizeof(res->err), "%s: %s", path,
                 errno == EWOULDBLOCK ? "another process holds a lease on the file"
                                      : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        res->rc = AH_EIO;
        snprintf(res->err, sizeof(res->err), "%s: fstat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        res->rc = AH_EIO;
        snprintf(res->err, sizeof(res->err), "%s: not a regular file (%s); a snapshot must be one",
                 path, file_kind(st.st_mode));
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        res->rc = AH_EIO;
        snprintf(res->err, sizeof(res->err), "%s: fcntl: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Opens path (open_regular) and takes the read lease described in
 * registry.h. Returns the descriptor, or -1 with res filled. *leased tells
 * whether the lease is held: a file system or a user that allows no leases
 * still gets its snapshot loaded, with a warning.
 */
static int open_leased(const char *path, int *leased, int *lease_errno, ah_reload_result_t *res)
{
    *leased = 0;
    *lease_errno = 0;
    int fd = open_regular(path, res);
    if (fd < 0)
        return -1;
    /*
     * EAGAIN: someone has the file open for writing. The kernel reports a
     * close for writing (inotify's IN_CLOSE_WRITE, which --watch acts on)
     * a moment before it stops counting the writer, so a closing writer
     * gets LEASE_RETRY_MS to be gone before the load is refused.
     */
    int rc = fcntl(fd, F_SETSIG, ah_lease_signal());
    for (int waited = 0; rc == 0; waited++) {
        if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
            *leased = 1;
            return fd;
        }
        if (errno != EAGAIN || waited == LEASE_RETRY_MS)
            break;
        usleep(1000);
    }
    if (errno == EAGAIN) {
        close(fd);
        res->rc = AH_EIO;
        snprintf(res->err, sizeof(res->err),
                 "%s: the file is open for writing by another process; a snapshot still being "
                 "written is not loaded",
                 path);
        return -1;
    }
    *lease_errno = errno;
    return fd;
}

/*
 * Opens and checks path; on failure fills res and returns its code. On
 * success *lease_fd is the descriptor holding the file's lease, or -1.
 * ah_index_open_fd() checks the header, the section table and every
 * section's bounds; the checksums (the default) add CRC-32s of every byte,
 * at memory speed (tens of milliseconds for the 63 MB npm-downloads
 * snapshot); ah_index_verify() adds the content id and a walk of every structure (about a
 * second there). Lookups are bounds-checked whatever the level, so a lower
 * level trades detecting a damaged file early for fast reloads, never
 * safety.
 */
/*
 * Pacing of a reload's checksum pass (the bulk of its CPU). A reload runs
 * at the event loops' own priority, so it is never starved by them: at
 * 100% load it still ends in a bounded time (issue 9: SCHED_IDLE made it
 * wait for idle time that never came). To keep it from holding a loop's
 * core for its whole 30 ms, it sleeps after each AH_PACE_BYTES piece for
 * as long as the piece took in CPU time: at most half a core, in pieces of
 * half a millisecond, so a request on that core waits at most about that.
 */
typedef struct pacer {
    uint64_t cpu_ns; /* the thread's CPU time when the current piece began */
} pacer_t;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pace(void *arg)
{
    pacer_t *p = arg;
    uint64_t worked = thread_cpu_ns() - p->cpu_ns;
    if (worked > PACE_MAX_SLEEP_NS)
        worked = PACE_MAX_SLEEP_NS;
    struct timespec ts = {0, (long)worked};
    nanosleep(&ts, NULL);
    p->cpu_ns = thread_cpu_ns();
}

static int open_verified(const char *path, ah_verify_level_t level, int copy, int paced,
                         ah_index_t **out, int *lease_fd, struct stat *st, ah_reload_result_t *res)
{
    pacer_t pacer = {thread_cpu_ns()};
    char msg[200] = "";
    ah_index_t *idx = NULL;
    int leased, lease_errno;
    int fd = open_leased(path, &leased, &lease_errno, res);
    if (fd < 0)
        return res->rc;
    int rc = ah_index_open_fd(fd, path, &idx, msg, sizeof(msg));
    /*
     * The private copy first, read with pread (a disk read error is an
     * error here), so that the checks then read the very bytes that will
     * serve, from memory: the checksums then take under half the CPU of
     * their pass over the file (11-14 against 29-35 ms for npm's 153 MB).
     * A copy that fails for want of memory leaves the mapping, with a
     * warning.
     */
    if (rc == 0 && copy) {
        rc = ah_index_detach_paced(idx, fd, paced ? pace : NULL, &pacer, msg, sizeof(msg));
        if (rc != 0 && rc != AH_EIO) {
            snprintf(res->warning, sizeof(res->warning),
                     "%s: not copied into memory (%s): served from the file's mapping", path, msg);
            rc = 0;
            msg[0] = '\0';
        }
        if (rc != 0) {
            ah_index_close(idx);
            idx = NULL;
        }
    }
    if (rc == 0 && level != AH_VERIFY_OPEN) {
        /* A mapping's checksums read with pread, so that a disk read error is an error, not
         * SIGBUS in a walk of the mapping; the full check walks it afterwards, from the cache. */
        rc = ah_index_verify_checksums_paced(idx, ah_index_detached(idx) ? -1 : fd,
                                             paced ? pace : NULL, &pacer, msg, sizeof(msg));
        if (rc == 0 && level == AH_VERIFY_FULL)
            rc = ah_index_verify(idx, msg, sizeof(msg));
        if (rc != 0) {
            ah_index_close(idx);
            idx = NULL;
        }
    }
    if (rc == 0 && !ah_index_detached(idx)) {
        /* After a swap the loops would fault the new mapping in page by page. */
        if (paced)
            ah_index_prefault(idx);
        if (!leased && !res->warning[0])
            snprintf(res->warning, sizeof(res->warning),
                     "%s: no read lease on the file (%s): writing into it in place, instead of "
                     "replacing it by rename, would crash the server",
                     path, strerror(lease_errno));
    }
    if (rc != 0) {
        close(fd);
        res->rc = rc;
        snprintf(res->err, sizeof(res->err), "%s: %s", path, msg[0] ? msg : ah_strerror(rc));
        return rc;
    }
    *out = idx;
    *lease_fd = leased ? fd : -1;
    if (fstat(fd, st) != 0)
        memset(st, 0, sizeof(*st));
    if (!leased)
        close(fd);
    return 0;
}

/*
 * 1 when path is still the very file the current snapshot was mapped from,
 * under a lease that never broke: nobody can have written it since (a
 * writer breaks the lease first), so a reload has nothing to check or map.
 * A SIGHUP to reload every index then costs nothing for those unchanged.
 */
static int same_file_unwritten(ah_registry_t *reg, ah_registry_entry_t *e, ah_reload_result_t *res)
{
    struct stat st;
    if (stat(e->path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    int same = 0;
    pthread_mutex_lock(&reg->lock);
    ah_snap_t *cur = e->snap;
    if (cur != NULL && cur->file_leased && !atomic_load(&cur->written_to) &&
        cur->file_dev == st.st_dev && cur->file_ino == st.st_ino) {
        same = 1;
        e->reloads_unchanged++;
        e->last_error[0] = '\0';
        memcpy(res->old_id, cur->st.id_hex, sizeof(res->old_id));
        memcpy(res->new_id, cur->st.id_hex, sizeof(res->new_id));
        res->entries = cur->st.entries;
        res->bytes = cur->st.file_bytes;
    }
    pthread_mutex_unlock(&reg->lock);
    return same;
}

int ah_registry_reload(ah_registry_t *reg, size_t i, ah_reload_result_t *res)
{
    ah_registry_entry_t *e = &reg->entries[i];
    ah_index_t *idx = NULL;
    int lease_fd = -1;

    memset(res, 0, sizeof(*res));
    pthread_mutex_lock(&reg->reload_lock);
    wait_for_retired(reg, e);
    if (same_file_unwritten(reg, e, res)) {
        pthread_mutex_unlock(&reg->reload_lock);
        return 0;
    }
    /* Loading at startup, before anyone is served, goes at full speed. */
    int paced = atomic_load_explicit(&reg->ready, memory_order_acquire);
    struct stat st;
    if (open_verified(e->path, reg->verify, reg->copy, paced, &idx, &lease_fd, &st, res) != 0) {
        record_failure(reg, e, res);
        pthread_mutex_unlock(&reg->reload_lock);
        return res->rc;
    }

    ah_snap_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        ah_index_close(idx);
        if (lease_fd >= 0)
            close(lease_fd);
        res->rc = AH_ENOMEM;
        snprintf(res->err, sizeof(res->err), "%s: %s", e->path, ah_strerror(AH_ENOMEM));
        record_failure(reg, e, res);
        pthread_mutex_unlock(&reg->reload_lock);
        return res->rc;
    }
    s->idx = idx;
    ah_index_stats(idx, &s->st);
    s->loaded_at = time(NULL);
    s->entry = e;
    s->lease_fd = lease_fd;
    s->file_dev = st.st_dev;
    s->file_ino = st.st_ino;
    s->file_leased = lease_fd >= 0;
    atomic_init(&s->written_to, 0);
    atomic_init(&s->refs, 1); /* the registry's reference */

    ah_snap_t *old;
    pthread_mutex_lock(&reg->lock);
    old = e->snap;
    if (old != NULL) {
        memcpy(res->old_id, old->st.id_hex, sizeof(res->old_id));
    }
    if (old != NULL && old->st.content_id == s->st.content_id &&
        old->st.file_bytes == s->st.file_bytes) {
        /* Same content: keep the mapping that is already warm. */
        e->reloads_unchanged++;
        e->last_error[0] = '\0';
        pthread_mutex_unlock(&reg->lock);
        snap_free(s); /* it never went live */
        memcpy(res->new_id, res->old_id, sizeof(res->new_id));
        res->entries = old->st.entries;
        res->bytes = old->st.file_bytes;
        pthread_mutex_unlock(&reg->reload_lock);
        return 0;
    }
    atomic_fetch_add_explicit(&e->live, 1, memory_order_relaxed);
    e->snap = s;
    e->reloads_ok++;
    e->last_error[0] = '\0';
    atomic_fetch_add_explicit(&reg->generation, 1, memory_order_release);
    pthread_mutex_unlock(&reg->lock);

    res->changed = 1;
    memcpy(res->new_id, s->st.id_hex, sizeof(res->new_id));
    res->entries = s->st.entries;
    res->bytes = s->st.file_bytes;
    res->memory = ah_index_memory(idx);
    ah_snap_release(old);
    pthread_mutex_unlock(&reg->reload_lock);
    return 0;
}

int ah_view_init(ah_view_t *v, const ah_registry_t *reg)
{
    v->generation = 0; /* differs from any registry generation: the first check refreshes */
    v->n = reg->n;
    v->snaps = calloc(reg->n, sizeof(*v->snaps));
    return v->snaps == NULL ? AH_ENOMEM : 0;
}

void ah_view_refresh(ah_view_t *v, ah_registry_t *reg)
{
    /* At most one old reference per index is dropped; collect them to release outside the lock. */
    ah_snap_t *drop[16];
    size_t ndrop = 0;

    /*
     * The generation recorded is the one seen by the first locked pass: if a
     * swap lands between passes, the next check sees a newer one and
     * refreshes again.
     */
    int first = 1;
    for (size_t i = 0; i < v->n;) {
        pthread_mutex_lock(&reg->lock);
        if (first)
            v->generation = atomic_load_explicit(&reg->generation, memory_order_acquire);
        first = 0;
        for (; i < v->n && ndrop < sizeof(drop) / sizeof(drop[0]); i++) {
            ah_snap_t *cur = reg->entries[i].snap;
            if (cur == v->snaps[i])
                continue;
            if (v->snaps[i] != NULL)
                drop[ndrop++] = v->snaps[i];
            v->snaps[i] = snap_ref_locked(cur);
        }
        pthread_mutex_unlock(&reg->lock);
        for (size_t j = 0; j < ndrop; j++)
            snap_release_from_loop(reg, drop[j]);
        ndrop = 0;
    }
}

void ah_view_release(ah_view_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        ah_snap_release(v->snaps[i]);
    free(v->snaps);
    v->snaps = NULL;
    v->n = 0;
}

int ah_registry_lease_broken(ah_registry_t *reg, int fd, char *msg, size_t len)
{
    ah_snap_t *s = NULL;
    msg[0] = '\0';
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->n && s == NULL; i++) {
        if (reg->entries[i].snap != NULL && reg->entries[i].snap->lease_fd == fd)
            s = snap_ref_locked(reg->entries[i].snap);
    }
    pthread_mutex_unlock(&reg->lock);
    if (s == NULL)
        return 0; /* an old snapshot's: released when it is unmapped */

    /*
     * The writer is held until the lease goes, so the file is still the one
     * mapped while it is copied. lease_fd is only written here, by the one
     * thread that takes lease signals, and read by snap_destroy() after the
     * last reference, which this function holds until the end.
     */
    char err[200] = "";
    ah_registry_entry_t *e = s->entry;
    int rc = ah_index_detached(s->idx) ? -1 : ah_index_detach(s->idx, err, sizeof(err));
    if (rc < 0) {
        msg[0] = '\0'; /* a private copy already: nothing reads the file */
    } else if (rc == 0) {
        pthread_mutex_lock(&reg->lock);
        e->detaches++;
        pthread_mutex_unlock(&reg->lock);
        snprintf(msg, len,
                 "index %s: %s is being written in place; snapshot %s now serves from a "
                 "private copy in memory (replace snapshots by rename to avoid the copy)",
                 e->name, e->path, s->st.id_hex);
    } else {
        snprintf(msg, len,
                 "index %s: %s is being written in place and snapshot %s could not be copied "
                 "to memory (%s): lookups may fail or crash until the next reload",
                 e->name, e->path, s->st.id_hex, err);
    }
    /* Last, so that the writer finds the copy made and counted. */
    atomic_store(&s->written_to, 1);
    fcntl(s->lease_fd, F_SETLEASE, F_UNLCK);
    close(s->lease_fd);
    s->lease_fd = -1;
    ah_snap_release(s);
    return 1;
}
