/* SPDX-License-Identifier: MIT */
/*
 * registry.h: the set of served indexes and the reference-counted snapshot
 * swap that makes a reload invisible to clients.
 *
 * The set of names is fixed at startup; what changes is which snapshot each
 * name points to. Three parties hold references to a snapshot (ah_snap_t):
 *
 *     registry entry "default" --ref--> snap B (current)
 *     worker 0 view             --ref--> snap B
 *     worker 1 view             --ref--> snap A (old: not refreshed yet)
 *
 *   - the registry holds one reference to each current snapshot;
 *   - each event loop (worker) holds one reference per index in its "view",
 *     and every request reads the snapshot through its worker's view, with
 *     no atomic operation per request;
 *   - admin code takes a short-lived reference with ah_registry_acquire().
 *
 * A reload maps and verifies the new file while the old one keeps serving,
 * then, under the registry lock, replaces the entry's pointer, bumps the
 * generation and drops the registry's reference to the old snapshot.
 * Workers compare the generation (one relaxed load) before each request and
 * after each event loop iteration (at most 100 ms apart even when idle);
 * when it changed, they take references to the new snapshots and drop the
 * old ones under the lock. A request runs start to finish inside one handler
 * call, so it always finishes on the snapshot it started with. The last
 * reference dropped unmaps the file; when an event loop drops it, the
 * snapshot goes on a retired list instead, and the control thread unmaps it
 * (ah_registry_reap, within 100 ms): unmapping 63 MB takes milliseconds,
 * which a loop answering users would add to every request waiting on it. Taking a reference happens
 * only under the lock, from the entry's pointer, which itself holds a reference; so a snapshot is
 * never revived after its count reached zero.
 *
 * Memory: before mapping a new file for an entry, a reload waits (briefly)
 * until the entry's previous old snapshot is gone, so an index never has
 * more than two snapshots mapped.
 *
 * Private copies (--snapshot-memory copy, the default): after its checks a
 * snapshot is copied out of its file into anonymous memory at the same
 * address (ah_index_detach, paced like the checksums), in transparent huge
 * pages where the kernel gives them: lookups that walk a large snapshot
 * miss the TLB far less (bench/RESULTS.md). A copy that fails (no memory)
 * leaves the snapshot served from its mapping, with a warning. Writing
 * into the file afterwards cannot touch a copy; the lease below is still
 * taken, so that a reload of a file nobody has written costs nothing.
 *
 * Files rewritten in place: for a snapshot mapped from its file
 * (--snapshot-memory map, or a copy that failed), writing into that file
 * (cp onto it, a truncate) would change the bytes lookups read, or kill
 * the process with SIGBUS. Every snapshot therefore holds a
 * read lease on its file (fcntl F_SETLEASE): a process that opens the file
 * for writing or truncates it is held by the kernel, and the lease holder
 * gets ah_lease_signal() naming the descriptor. The main thread then calls
 * ah_registry_lease_broken(), which copies the current snapshot into
 * anonymous memory (ah_index_detach; nothing to do for a snapshot that is
 * a private copy already) and only then lets the lease go, so
 * the writer proceeds against a file nobody reads any more. An old
 * snapshot (already swapped out) is not copied: it keeps its lease until it
 * is unmapped, at most one event loop iteration later, and the writer waits
 * that long. A file that is open for writing when it is loaded is refused.
 */
#ifndef AH_SERVER_REGISTRY_H
#define AH_SERVER_REGISTRY_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ahead.h"
#include "config.h"

struct ah_registry;

/* One mapped, verified snapshot. Immutable except for its reference count. */
typedef struct ah_snap {
    ah_index_t *idx;
    ah_index_stats_t st;
    time_t loaded_at; /* wall clock, seconds */
    atomic_uint refs;
    struct ah_registry_entry *entry; /* the name it was loaded for */
    int lease_fd;   /* the file, open with a read lease; -1 without one (see the top comment) */
    dev_t file_dev; /* the file it was loaded from, for telling an unchanged one */
    ino_t file_ino;
    int file_leased;              /* loaded with the lease held */
    atomic_int written_to;        /* the lease broke: the file may differ from the mapping now */
    struct ah_snap *next_retired; /* on the registry's retired list, guarded by its lock */
} ah_snap_t;

/* One served name. Fields below the lock line are guarded by the registry lock. */
typedef struct ah_registry_entry {
    const char *name; /* owned by the config */
    const char *path;
    atomic_uint live; /* snapshots of this entry still mapped (current + old) */
    /* ---- guarded by ah_registry_t.lock */
    ah_snap_t *snap; /* current snapshot, NULL before the first load */
    uint64_t reloads_ok, reloads_unchanged, reloads_failed;
    uint64_t detaches;    /* snapshots copied to memory because their file was written */
    char last_error[256]; /* the last failed reload's message, "" if none */
} ah_registry_entry_t;

typedef struct ah_registry {
    pthread_mutex_t lock;        /* guards the entries' current pointers and counters */
    pthread_mutex_t reload_lock; /* serializes reloads (startup, admin, SIGHUP, watch) */
    ah_registry_entry_t *entries;
    size_t n;
    ah_snap_t *retired; /* dropped by event loops, waiting for ah_registry_reap; under lock */
    atomic_uint_fast64_t generation; /* bumped on every swap */
    atomic_int ready;                /* 1 once every index has loaded */
    ah_verify_level_t verify;        /* the check every load runs (--verify) */
    int copy;                        /* serve private copies (--snapshot-memory copy) */
} ah_registry_t;

/* The outcome of one reload, for the log and the admin answer. */
typedef struct ah_reload_result {
    int rc;             /* 0 or the AH_E* code that made it fail */
    int changed;        /* 1 when a new snapshot went live; 0 when the content was the same */
    char old_id[17];    /* "" when there was none */
    char new_id[17];    /* the snapshot serving after the reload */
    uint64_t entries;   /* of the snapshot serving after the reload */
    uint64_t bytes;     /* of the snapshot serving after the reload */
    const char *memory; /* how the snapshot serving after it is held (ah_index_memory) */
    char err[256];      /* one line, when rc != 0 */
    char warning[256];  /* one line worth logging even though the reload worked, or "" */
} ah_reload_result_t;

/* A worker's references: one per index, read without locking by its own thread. */
typedef struct ah_view {
    uint64_t generation;
    ah_snap_t **snaps; /* [n], NULL for an index not loaded yet */
    size_t n;
} ah_view_t;

/* ah_registry_init: one entry per configured index, none loaded. Returns 0 or AH_ENOMEM. */
int ah_registry_init(ah_registry_t *reg, const ah_config_t *cfg);

/* ah_registry_dispose: drops the registry's references (unmapping what no view holds). */
void ah_registry_dispose(ah_registry_t *reg);

/* ah_registry_find: the index of the entry named name/len, or -1. */
int ah_registry_find(const ah_registry_t *reg, const char *name, size_t len);

/*
 * ah_registry_reload: maps entry i's file, checks it (ah_index_open, then
 * ah_index_verify unless --verify open) and, if it is good and differs
 * from the current one,
 * makes it current. On failure nothing changes. Blocks for as long as the
 * verification takes; call it off the event loops that serve the API.
 * Never waits on the file itself: a path that is not a regular file (a
 * FIFO, a directory, a device) is refused with "not a regular file" without
 * being opened for reading in the blocking way. Returns res->rc.
 */
int ah_registry_reload(ah_registry_t *reg, size_t i, ah_reload_result_t *res);

/* The signal that reports a broken lease (a realtime one: they queue, one per file). */
static inline int ah_lease_signal(void)
{
    return SIGRTMIN + 1;
}

/*
 * ah_registry_lease_broken: the file held open as fd is being opened for
 * writing or truncated by another process (see the top comment). If fd is
 * a current snapshot's, copies that snapshot to memory (unless it is a
 * private copy already) and releases the lease. Writes what happened into
 * msg (for the log; empty when there was nothing to copy) and returns 1;
 * returns 0 with msg empty when fd is no current snapshot's.
 */
int ah_registry_lease_broken(ah_registry_t *reg, int fd, char *msg, size_t len);

/* ah_registry_acquire: entry i's current snapshot with a reference taken, or NULL. */
ah_snap_t *ah_registry_acquire(ah_registry_t *reg, size_t i);

/* ah_snap_release: drops a reference; the last one unmaps. NULL is ignored. */
void ah_snap_release(ah_snap_t *s);

/* ah_registry_reap: unmaps the snapshots the event loops retired (see the top comment). */
void ah_registry_reap(ah_registry_t *reg);

/* ah_registry_mapped: how many snapshots are mapped right now, all entries together. */
unsigned ah_registry_mapped(ah_registry_t *reg);

/* ah_view_init: an empty view for reg's entries. Returns 0 or AH_ENOMEM. */
int ah_view_init(ah_view_t *v, const ah_registry_t *reg);

/* ah_view_refresh: points the view at the current snapshots (see the top comment). */
void ah_view_refresh(ah_view_t *v, ah_registry_t *reg);

/* ah_view_release: drops all of the view's references and frees it. */
void ah_view_release(ah_view_t *v);

/* ah_view_check: the per-request test; refreshes only when a swap happened. */
static inline void ah_view_check(ah_view_t *v, ah_registry_t *reg)
{
    if (atomic_load_explicit(&reg->generation, memory_order_relaxed) != v->generation)
        ah_view_refresh(v, reg);
}

#endif /* AH_SERVER_REGISTRY_H */
