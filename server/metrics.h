/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: request counters, the latency histogram and the open
 * connection gauge, kept per event loop and summed when /metrics is read.
 *
 * Each worker owns one ah_worker_metrics_t and is its only writer, so an
 * update is a relaxed load and a relaxed store (a plain add on x86, no
 * locked instruction, no shared cache line); the admin thread reads them
 * with relaxed loads. A reader may see a request counted but its latency
 * not yet: the figures are sampled, not a transaction.
 *
 *   requests[(index + 1) * AH_STATUS_SLOTS + slot]   row 0: no index (404 path, healthz)
 *   latency[b]                                         non-cumulative bucket counts
 */
#ifndef AH_SERVER_METRICS_H
#define AH_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* The status codes counted one by one; anything else goes to "other". */
enum ah_status_slot {
    AH_ST_200,
    AH_ST_204,
    AH_ST_304,
    AH_ST_400,
    AH_ST_401,
    AH_ST_404,
    AH_ST_405,
    AH_ST_500,
    AH_ST_503,
    AH_ST_OTHER,
    AH_STATUS_SLOTS
};

/* Upper bounds of the latency buckets, in nanoseconds; one more bucket is +Inf. */
#define AH_LATENCY_BUCKETS 12

typedef struct ah_worker_metrics {
    _Atomic uint64_t *requests; /* [(n_indexes + 1) * AH_STATUS_SLOTS] */
    size_t n_indexes;
    _Atomic uint64_t latency[AH_LATENCY_BUCKETS + 1];
    _Atomic uint64_t latency_sum_ns;
    _Atomic int64_t open_conns;
    _Atomic uint64_t cache_hits, cache_misses; /* the response cache (rcache.h) */
} ah_worker_metrics_t;

/* A growable text buffer for rendering, off the hot path. */
typedef struct ah_strbuf {
    char *p;
    size_t len, cap;
    int oom; /* set when an append failed; the text is then incomplete */
} ah_strbuf_t;

void ah_strbuf_printf(ah_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ah_strbuf_free(ah_strbuf_t *b);

/* ah_metrics_init: zeroed counters for n_indexes indexes. Returns 0 or AH_ENOMEM. */
int ah_metrics_init(ah_worker_metrics_t *m, size_t n_indexes);
void ah_metrics_dispose(ah_worker_metrics_t *m);

/* ah_metrics_slot: the slot of an HTTP status code. */
int ah_metrics_slot(int status);

static inline void ah_counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* ah_metrics_request: counts one API request. index is -1 when none applies. */
void ah_metrics_request(ah_worker_metrics_t *m, int index, int status, uint64_t ns);

/* ah_metrics_conn: the open connection gauge moves by delta (+1 accept, -1 close). */
static inline void ah_metrics_conn(ah_worker_metrics_t *m, int delta)
{
    atomic_store_explicit(&m->open_conns,
                          atomic_load_explicit(&m->open_conns, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

/*
 * ah_metrics_render: the Prometheus text exposition (version 0.0.4) of all
 * workers' counters and the registry's state, appended to out.
 */
void ah_metrics_render(ah_strbuf_t *out, ah_registry_t *reg, ah_worker_metrics_t *const *workers,
                       size_t n_workers);

#endif /* AH_SERVER_METRICS_H */
