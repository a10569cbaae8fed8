/* SPDX-License-Identifier: MIT */
/*
 * bench_lookup.c: ahead-bench-lookup, the lookup latency benchmark.
 *
 *   ahead-bench-lookup SNAPSHOT PREFIXES [-k K] [--typos auto|0|1|2]
 *                      [--match prefix|words] [--passes N] [--json] [--slow NS]
 *                      [--context V] [--snapshot-memory copy|map]
 *
 * Loads the prefix file (one typed prefix per line, as bench/make_prefixes.py
 * or bench/make_misspelled.py write it) into memory, runs one warm-up pass,
 * then N timed passes (default 5) calling ah_index_lookup() on each prefix
 * in file order with the given matching (default: typos auto, match words,
 * as the server), timing every call with CLOCK_MONOTONIC. Prints queries,
 * mean, p50, p90, p99, p99.9 and max in nanoseconds (the clock read itself,
 * ~20 ns, is included), and how many answers were incomplete (the typo
 * search reached its work bound). --slow NS lists the queries of the last
 * pass that took longer than NS. --exact-tier FILE writes the prefixes
 * whose answer came from the exact tier alone (k exact prefix matches) to
 * FILE and prints their latency within this run, so that a second run on
 * FILE times the same lookups without the typo searches between them.
 * --snapshot-memory holds the snapshot as the server's option of that name
 * does (default copy: a private copy in huge pages where the kernel gives
 * them; map: the file's mapping).
 */
#include "ahead.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ahead-bench-lookup SNAPSHOT PREFIXES [options]\n"
            "Times a lookup of every line of PREFIXES (one typed prefix per line): one\n"
            "warm-up pass, then N timed passes; prints latency percentiles in\n"
            "nanoseconds and the share of incomplete answers.\n"
            "  -k K                   completions per lookup (default 10)\n"
            "  --typos auto|0|1|2     typos forgiven (default auto)\n"
            "  --match prefix|words   where a prefix may match (default words)\n"
            "  --passes N             timed passes (default 5)\n"
            "  --slow NS              list on stderr the prefixes slower than NS in the last pass\n"
            "  --context V            look up within context value V (none in the snapshot:\n"
            "                         empty answers); a line PREFIX<TAB>V of PREFIXES is\n"
            "                         looked up within V whatever this says\n"
            "  --exact-tier FILE      write the prefixes answered by the exact tier alone to\n"
            "                         FILE, and print their latency in this run\n"
            "  --snapshot-memory copy|map\n"
            "                         a private copy of the snapshot, in huge pages where\n"
            "                         the kernel gives them (default, as ahead-serve), or\n"
            "                         the file's mapping\n"
            "  --json                 one JSON object instead of text, with the latency\n"
            "                         at quantiles from 0.01 to 1 (quantiles_ns: [q, ns])\n"
            "  --help, --version      print this or the version and exit\n");
}

/*
 * The distribution for plots (bench/plot.py): pairs [q, ns] from q = 0.01
 * to 0.99 in steps of 0.01, then 1 - 10^-e for e = 2.25, 2.5, ... while a
 * quantile still has a lookup of its own, and the maximum (q = 1).
 */
static void print_quantiles(const uint32_t *sorted, size_t n)
{
    const char *sep = "";
    for (int c = 1; c <= 99; c++, sep = ",")
        printf("%s[%.2f,%u]", sep, c / 100.0, sorted[(size_t)((double)(n - 1) * c / 100.0)]);
    for (double e = 2.25; pow(10, e) <= (double)n; e += 0.25) {
        double q = 1 - pow(10, -e);
        printf(",[%.6f,%u]", q, sorted[(size_t)((double)(n - 1) * q)]);
    }
    printf(",[1,%u]", sorted[n - 1]);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The prefixes, and per prefix the context it is asked in (ctx_len 0: the one of --context). */
typedef struct prefixes {
    char *data;
    size_t *off, *len;
    size_t *ctx_off, *ctx_len;
    size_t n;
} prefixes_t;

static int load_prefixes(const char *path, prefixes_t *p)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0, used = 0, dcap = 0, ncap = 0;
    ssize_t got;
    memset(p, 0, sizeof *p);
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            len--;
        if (used + len > dcap) {
            dcap = (used + len) * 2 + 4096;
            p->data = realloc(p->data, dcap);
        }
        if (p->n == ncap) {
            ncap = ncap * 2 + 1024;
            p->off = realloc(p->off, ncap * sizeof *p->off);
            p->len = realloc(p->len, ncap * sizeof *p->len);
            p->ctx_off = realloc(p->ctx_off, ncap * sizeof *p->ctx_off);
            p->ctx_len = realloc(p->ctx_len, ncap * sizeof *p->ctx_len);
        }
        if (!p->data || !p->off || !p->len || !p->ctx_off || !p->ctx_len) {
            fclose(f);
            return -1;
        }
        memcpy(p->data + used, line, len);
        const char *tab = memchr(line, '\t', len);
        p->off[p->n] = used;
        p->len[p->n] = tab ? (size_t)(tab - line) : len;
        p->ctx_off[p->n] = tab ? used + (size_t)(tab + 1 - line) : 0;
        p->ctx_len[p->n++] = tab ? len - (size_t)(tab + 1 - line) : 0;
        used += len;
    }
    free(line);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"passes", required_argument, NULL, 'p'},
                                             {"slow", required_argument, NULL, 's'},
                                             {"typos", required_argument, NULL, 't'},
                                             {"match", required_argument, NULL, 'm'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"exact-tier", required_argument, NULL, 'e'},
                                             {"context", required_argument, NULL, 'c'},
                                             {"snapshot-memory", required_argument, NULL, 'M'},
                                             {NULL, 0, NULL, 0}};
    int json = 0, passes = 5, c, bad = 0, copy = 1;
    long slow_ns = 0;
    const char *exact_out = NULL, *context = NULL;
    unsigned k = 10;
    ah_lookup_options_t opt = {.typos = AH_TYPOS_AUTO, .match = AH_MATCH_WORDS};
    while ((c = getopt_long(argc, argv, "k:hV", longopts, NULL)) != -1) {
        if (c == 'k')
            k = (unsigned)atoi(optarg);
        else if (c == 'p')
            passes = atoi(optarg);
        else if (c == 'j')
            json = 1;
        else if (c == 's')
            slow_ns = atol(optarg);
        else if (c == 'e')
            exact_out = optarg;
        else if (c == 'c')
            context = optarg;
        else if (c == 'M' && (!strcmp(optarg, "copy") || !strcmp(optarg, "map")))
            copy = !strcmp(optarg, "copy");
        else if (c == 't')
            bad |= ah_parse_typos(optarg, strlen(optarg), &opt.typos) != 0;
        else if (c == 'm')
            bad |= ah_parse_match(optarg, strlen(optarg), &opt.match) != 0;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c == 'V') {
            printf("ahead-bench-lookup %s\n", AH_VERSION_STRING);
            return 0;
        } else
            bad = 1;
    }
    if (bad || argc - optind != 2 || passes < 1 || k < 1 || k > AH_MAX_K) {
        usage(stderr);
        return 2;
    }
    opt.k = k;
    char err[512];
    ah_index_t *ix;
    if (ah_index_open(argv[optind], &ix, err, sizeof err) != 0) {
        fprintf(stderr, "ahead-bench-lookup: %s\n", err);
        return 1;
    }
    if (copy && ah_index_detach(ix, err, sizeof err) != 0) {
        fprintf(stderr, "ahead-bench-lookup: %s\n", err);
        return 1;
    }
    const char *memory = ah_index_memory(ix);
    prefixes_t p;
    if (load_prefixes(argv[optind + 1], &p) != 0 || p.n == 0) {
        fprintf(stderr, "ahead-bench-lookup: cannot read prefixes from %s\n", argv[optind + 1]);
        return 1;
    }
    ah_completion_t out[AH_MAX_K];
    static char text[AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];
    size_t total = p.n * (size_t)passes, at = 0, results = 0, incomplete = 0;
    uint32_t *lat = malloc(total * sizeof *lat), *elat = malloc(total * sizeof *elat);
    size_t ne = 0;
    FILE *ef = exact_out ? fopen(exact_out, "w") : NULL;
    if (!lat || !elat || (exact_out && !ef))
        return 1;
    for (int pass = -1; pass < passes; pass++) {
        for (size_t i = 0; i < p.n; i++) {
            size_t n;
            int complete;
            uint64_t t0 = now_ns();
            /* Finding the context's index is part of the lookup, as in the server. */
            const ah_index_t *in = p.ctx_len[i]
                                       ? ah_index_context(ix, p.data + p.ctx_off[i], p.ctx_len[i])
                                   : context ? ah_index_context(ix, context, strlen(context))
                                             : ix;
            int rc = in ? ah_index_lookup(in, p.data + p.off[i], p.len[i], &opt, out, text,
                                          sizeof text, &n, &complete)
                        : (n = 0, complete = 1, 0);
            uint64_t dt = now_ns() - t0;
            if (rc && rc != AH_EUTF8 && rc != AH_ETOOLONG) {
                fprintf(stderr, "ahead-bench-lookup: %s\n", ah_strerror(rc));
                return 1;
            }
            if (slow_ns > 0 && pass == passes - 1 && dt > (uint64_t)slow_ns)
                fprintf(stderr, "slow %llu ns: %.*s\n", (unsigned long long)dt, (int)p.len[i],
                        p.data + p.off[i]);
            if (pass >= 0) {
                lat[at++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
                results += n;
                incomplete += rc == 0 && !complete;
                int exact = rc == 0 && n == k;
                for (size_t j = 0; exact && j < n; j++)
                    exact = out[j].typos == 0 && !out[j].mid;
                if (ef && exact) {
                    elat[ne++] = lat[at - 1];
                    if (pass == 0)
                        fprintf(ef, "%.*s%s%.*s\n", (int)p.len[i], p.data + p.off[i],
                                p.ctx_len[i] ? "\t" : "", (int)p.ctx_len[i], p.data + p.ctx_off[i]);
                }
            }
        }
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < total; i++)
        sum += lat[i];
    qsort(lat, total, sizeof *lat, cmp_u32);
#define PCT(q) lat[(size_t)((double)(total - 1) * (q))]
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    if (json) {
        printf(
            "{\"queries\":%zu,\"k\":%u,\"mean_ns\":%.1f,\"p50_ns\":%u,\"p90_ns\":%u,\"p99_ns\":%u,"
            "\"p999_ns\":%u,\"max_ns\":%u,\"mean_results\":%.2f,\"incomplete\":%.6f,"
            "\"snapshot_bytes\":%" PRIu64 ",\"snapshot_memory\":\"%s\",\"quantiles_ns\":[",
            total, k, (double)sum / (double)total, PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999),
            lat[total - 1], (double)results / (double)total, (double)incomplete / (double)total,
            st.file_bytes, memory);
        print_quantiles(lat, total);
        printf("]}\n");
    } else
        printf("queries %zu (k=%u, %d passes of %zu)  mean %.1f ns  p50 %u ns  p90 %u ns  p99 %u ns"
               "  p99.9 %u ns  max %u ns  (%.2f results/query, %.4f%% incomplete; snapshot: %s)\n",
               total, k, passes, p.n, (double)sum / (double)total, PCT(0.5), PCT(0.9), PCT(0.99),
               PCT(0.999), lat[total - 1], (double)results / (double)total,
               100.0 * (double)incomplete / (double)total, memory);
    if (ef) {
        fclose(ef);
        qsort(elat, ne, sizeof *elat, cmp_u32);
        uint64_t esum = 0;
        for (size_t i = 0; i < ne; i++)
            esum += elat[i];
#define EPCT(q) (ne ? elat[(size_t)((double)(ne - 1) * (q))] : 0)
        fprintf(json ? stderr : stdout,
                "exact tier within this run: %zu lookups, mean %.1f ns, p50 %u ns, p90 %u ns, "
                "p99 %u ns\n",
                ne, ne ? (double)esum / (double)ne : 0.0, EPCT(0.5), EPCT(0.9), EPCT(0.99));
    }
    free(elat);
    free(lat);
    free(p.data);
    free(p.off);
    free(p.len);
    free(p.ctx_off);
    free(p.ctx_len);
    ah_index_close(ix);
    return 0;
}
