/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: per-worker counters (see metrics.h) and their Prometheus text
 * rendering. Every metric is prefixed ahead_; label values are escaped as
 * the exposition format requires (backslash, double quote, newline).
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ahead.h"

static const uint64_t latency_bounds_ns[AH_LATENCY_BUCKETS] = {
    5000,   10000,   25000,   50000,    100000,    250000,
    500000, 1000000, 2500000, 10000000, 100000000, 1000000000};

static const int slot_codes[AH_STATUS_SLOTS] = {200, 204, 304, 400, 401, 404, 405, 500, 503, 0};

/* ---------------------------------------------------------------- strbuf */

void ah_strbuf_printf(ah_strbuf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p == NULL ? NULL : b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

void ah_strbuf_free(ah_strbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* --------------------------------------------------------------- counters */

int ah_metrics_init(ah_worker_metrics_t *m, size_t n_indexes)
{
    memset(m, 0, sizeof(*m));
    m->n_indexes = n_indexes;
    m->requests = calloc((n_indexes + 1) * AH_STATUS_SLOTS, sizeof(*m->requests));
    return m->requests == NULL ? AH_ENOMEM : 0;
}

void ah_metrics_dispose(ah_worker_metrics_t *m)
{
    free(m->requests);
    m->requests = NULL;
}

int ah_metrics_slot(int status)
{
    for (int i = 0; i < AH_ST_OTHER; i++) {
        if (slot_codes[i] == status)
            return i;
    }
    return AH_ST_OTHER;
}

void ah_metrics_request(ah_worker_metrics_t *m, int index, int status, uint64_t ns)
{
    size_t row = (size_t)(index + 1);
    ah_counter_add(&m->requests[row * AH_STATUS_SLOTS + ah_metrics_slot(status)], 1);
    int b = 0;
    while (b < AH_LATENCY_BUCKETS && ns > latency_bounds_ns[b])
        b++;
    ah_counter_add(&m->latency[b], 1);
    ah_counter_add(&m->latency_sum_ns, ns);
}

/* -------------------------------------------------------------- rendering */

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Appends a label value with \, " and newline escaped. */
static void put_label(ah_strbuf_t *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            ah_strbuf_printf(out, "\\\\");
        else if (*s == '"')
            ah_strbuf_printf(out, "\\\"");
        else if (*s == '\n')
            ah_strbuf_printf(out, "\\n");
        else
            ah_strbuf_printf(out, "%c", *s);
    }
}

static void render_requests(ah_strbuf_t *out, ah_registry_t *reg,
                            ah_worker_metrics_t *const *workers, size_t n_workers)
{
    ah_strbuf_printf(out, "# HELP ahead_requests_total Public API requests by index and status "
                          "code (index=\"\": none applied).\n"
                          "# TYPE ahead_requests_total counter\n");
    for (size_t row = 0; row <= reg->n; row++) {
        for (int slot = 0; slot < AH_STATUS_SLOTS; slot++) {
            uint64_t sum = 0;
            for (size_t w = 0; w < n_workers; w++)
                sum += load(&workers[w]->requests[row * AH_STATUS_SLOTS + slot]);
            if (sum == 0)
                continue;
            ah_strbuf_printf(out, "ahead_requests_total{index=\"");
            if (row > 0)
                put_label(out, reg->entries[row - 1].name);
            if (slot == AH_ST_OTHER)
                ah_strbuf_printf(out, "\",code=\"other\"} %llu\n", (unsigned long long)sum);
            else
                ah_strbuf_printf(out, "\",code=\"%d\"} %llu\n", slot_codes[slot],
                                 (unsigned long long)sum);
        }
    }
}

static void render_latency(ah_strbuf_t *out, ah_worker_metrics_t *const *workers, size_t n_workers)
{
    uint64_t cum = 0, sum_ns = 0;
    ah_strbuf_printf(out, "# HELP ahead_request_duration_seconds Time an event loop spent on a "
                          "public API request: parsing, lookup, building the response.\n"
                          "# TYPE ahead_request_duration_seconds histogram\n");
    for (int b = 0; b <= AH_LATENCY_BUCKETS; b++) {
        for (size_t w = 0; w < n_workers; w++)
            cum += load(&workers[w]->latency[b]);
        if (b < AH_LATENCY_BUCKETS)
            ah_strbuf_printf(out, "ahead_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                             latency_bounds_ns[b] / 1e9, (unsigned long long)cum);
        else
            ah_strbuf_printf(out, "ahead_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                             (unsigned long long)cum);
    }
    for (size_t w = 0; w < n_workers; w++)
        sum_ns += load(&workers[w]->latency_sum_ns);
    ah_strbuf_printf(out,
                     "ahead_request_duration_seconds_sum %.9f\n"
                     "ahead_request_duration_seconds_count %llu\n",
                     sum_ns / 1e9, (unsigned long long)cum);
}

static void render_snapshots(ah_strbuf_t *out, ah_registry_t *reg)
{
    static const char *const names[] = {"info", "entries", "bytes", "topk",
                                        "loaded_timestamp_seconds"};
    static const char *const help[] = {
        "The snapshot each index serves (value 1; id and path in labels).",
        "Completions in the snapshot an index serves.",
        "File size of the snapshot an index serves.",
        "Length of the snapshot's precomputed lists (the largest k).",
        "When the serving snapshot was loaded (Unix time)."};
    for (size_t m = 0; m < sizeof(names) / sizeof(names[0]); m++) {
        ah_strbuf_printf(out, "# HELP ahead_snapshot_%s %s\n# TYPE ahead_snapshot_%s gauge\n",
                         names[m], help[m], names[m]);
        for (size_t i = 0; i < reg->n; i++) {
            ah_snap_t *s = ah_registry_acquire(reg, i);
            if (s == NULL)
                continue;
            ah_strbuf_printf(out, "ahead_snapshot_%s{index=\"", names[m]);
            put_label(out, reg->entries[i].name);
            switch (m) {
            case 0:
                ah_strbuf_printf(out, "\",snapshot=\"%s\",path=\"", s->st.id_hex);
                put_label(out, reg->entries[i].path);
                ah_strbuf_printf(out, "\"} 1\n");
                break;
            case 1:
                ah_strbuf_printf(out, "\"} %llu\n", (unsigned long long)s->st.entries);
                break;
            case 2:
                ah_strbuf_printf(out, "\"} %llu\n", (unsigned long long)s->st.file_bytes);
                break;
            case 3:
                ah_strbuf_printf(out, "\"} %u\n", s->st.topk);
                break;
            default:
                ah_strbuf_printf(out, "\"} %lld\n", (long long)s->loaded_at);
                break;
            }
            ah_snap_release(s);
        }
    }
}

static void render_reloads(ah_strbuf_t *out, ah_registry_t *reg)
{
    ah_strbuf_printf(out, "# HELP ahead_reloads_total Snapshot reloads by index and result "
                          "(ok: swapped, unchanged: same content, failed: old kept).\n"
                          "# TYPE ahead_reloads_total counter\n");
    for (size_t i = 0; i < reg->n; i++) {
        uint64_t v[3];
        pthread_mutex_lock(&reg->lock);
        v[0] = reg->entries[i].reloads_ok;
        v[1] = reg->entries[i].reloads_unchanged;
        v[2] = reg->entries[i].reloads_failed;
        pthread_mutex_unlock(&reg->lock);
        static const char *const results[] = {"ok", "unchanged", "failed"};
        for (int r = 0; r < 3; r++) {
            ah_strbuf_printf(out, "ahead_reloads_total{index=\"");
            put_label(out, reg->entries[i].name);
            ah_strbuf_printf(out, "\",result=\"%s\"} %llu\n", results[r], (unsigned long long)v[r]);
        }
    }
    ah_strbuf_printf(out, "# HELP ahead_snapshot_detaches_total Snapshots copied into memory "
                          "because their file was being written in place.\n"
                          "# TYPE ahead_snapshot_detaches_total counter\n");
    for (size_t i = 0; i < reg->n; i++) {
        pthread_mutex_lock(&reg->lock);
        uint64_t v = reg->entries[i].detaches;
        pthread_mutex_unlock(&reg->lock);
        ah_strbuf_printf(out, "ahead_snapshot_detaches_total{index=\"");
        put_label(out, reg->entries[i].name);
        ah_strbuf_printf(out, "\"} %llu\n", (unsigned long long)v);
    }
}

void ah_metrics_render(ah_strbuf_t *out, ah_registry_t *reg, ah_worker_metrics_t *const *workers,
                       size_t n_workers)
{
    int64_t conns = 0;
    uint64_t hits = 0, misses = 0;
    for (size_t w = 0; w < n_workers; w++) {
        conns += atomic_load_explicit(&workers[w]->open_conns, memory_order_relaxed);
        hits += atomic_load_explicit(&workers[w]->cache_hits, memory_order_relaxed);
        misses += atomic_load_explicit(&workers[w]->cache_misses, memory_order_relaxed);
    }

    ah_strbuf_printf(out,
                     "# HELP ahead_build_info The server's version (value 1).\n"
                     "# TYPE ahead_build_info gauge\n"
                     "ahead_build_info{version=\"%s\"} 1\n"
                     "# HELP ahead_ready 1 once every index has loaded.\n"
                     "# TYPE ahead_ready gauge\n"
                     "ahead_ready %d\n",
                     AH_VERSION_STRING, atomic_load(&reg->ready));
    render_requests(out, reg, workers, n_workers);
    render_latency(out, workers, n_workers);
    render_snapshots(out, reg);
    render_reloads(out, reg);
    ah_strbuf_printf(out,
                     "# HELP ahead_snapshots_mapped Snapshots held now (mapped or copied), old "
                     "ones still in use included.\n"
                     "# TYPE ahead_snapshots_mapped gauge\n"
                     "ahead_snapshots_mapped %u\n"
                     "# HELP ahead_open_connections Open public API connections.\n"
                     "# TYPE ahead_open_connections gauge\n"
                     "ahead_open_connections %lld\n"
                     "# HELP ahead_response_cache_hits_total Answers served from the response "
                     "cache.\n"
                     "# TYPE ahead_response_cache_hits_total counter\n"
                     "ahead_response_cache_hits_total %llu\n"
                     "# HELP ahead_response_cache_misses_total Answers looked up and rendered.\n"
                     "# TYPE ahead_response_cache_misses_total counter\n"
                     "ahead_response_cache_misses_total %llu\n",
                     ah_registry_mapped(reg), (long long)conns, (unsigned long long)hits,
                     (unsigned long long)misses);
}
