/* SPDX-License-Identifier: MIT */
/*
 * main.c: ahead-build, the command that compiles query logs into a snapshot.
 *
 *   ahead-build [options] [--weight W] INPUT... -o OUT
 *
 * Reads every input (files, .gz files, part-file directories written by a
 * data engine, or - for stdin), each line's count times the --weight before
 * it, skips and reports bad lines, aggregates, filters, and writes OUT
 * atomically. Exit status: 0 on success, 1 when the build failed
 * (unreadable input, --strict and a bad line, nothing left to write, a
 * write error), 2 for a usage error.
 */
#include "aggregate.h"
#include "ahead.h"
#include "blocklist.h"
#include "input.h"
#include "parts.h"
#include "writer.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <sched.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPORT_FIRST 10 /* bad lines reported one by one */
#define MIN_MEMORY   ((uint64_t)1 << 20)
#define MAX_THREADS  256

/* An INPUT, and the --weight given before it. */
typedef struct input_arg {
    const char *path;
    double weight;
} input_arg_t;

typedef struct options {
    unsigned topk;
    uint64_t min_count;
    unsigned max_bytes;
    unsigned bucket_size;
    unsigned hot_nodes;
    int hot_nodes_set;
    int no_infix;
    int no_typo;
    unsigned word_leaf;
    const char *blocklist;
    const char *out;
    int strict, quiet;
    input_arg_t *inputs;
    size_t n_inputs;
    uint64_t memory; /* --memory; 0: the default share of the machine */
    const char *tmpdir;
    unsigned threads;   /* --threads; 0: the cores available */
    long fills;         /* --fills; AH_FILLS_AUTO: the default */
    double size_budget; /* --size-budget */
} options_t;

typedef struct progress {
    int enabled;
    double start, last;
    uint64_t lines, bytes;
    uint64_t total_bytes; /* of the inputs, when known (plain files): for the time left */
    uint64_t spills, disk_bytes;
} progress_t;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ahead-build [options] [--weight W] INPUT... [--weight W INPUT...] -o OUT\n"
            "\n"
            "Compiles query logs into an ahead snapshot. Each INPUT is a file (gzip is\n"
            "detected and read through zlib), - for stdin, or a directory of part files\n"
            "as a data engine writes them (Spark, DuckDB: every file below it, gzip or\n"
            "plain, in path order; _SUCCESS, .crc and hidden files skipped; a header\n"
            "line and quoted texts understood). Each line is text<TAB>count or just\n"
            "text (a raw log line, counting 1); lines are aggregated by key. A third\n"
            "field, text<TAB>count<TAB>V1,V2,..., names up to 32 contexts (a category,\n"
            "a store, a country: 1-64 bytes each) that the count also goes to; lookups\n"
            "with context=V rank the completions of V by their counts in V.\n"
            "\n"
            "      --weight W       multiply the counts of the INPUTs after it by W, a\n"
            "                       number > 0 (default 1); each line's product is\n"
            "                       rounded and saturates. Blends windows of counts:\n"
            "                       --weight 4 last-day/ --weight 1 last-30-days/\n"
            "  -o, --output OUT     snapshot to write, whole or not at all (see below)\n"
            "  -k, --topk K         length of the precomputed top-k lists, 1..%d (default 10)\n"
            "      --min-count N    drop completions whose summed count is below N (default 1)\n"
            "      --max-bytes N    longest text accepted, in bytes, 1..%d (default 256)\n"
            "      --blocklist FILE drop completions containing a listed term as a whole\n"
            "                       word, or equal to a listed phrase; one per line, lines\n"
            "                       starting with # are comments, \\#tag blocks #tag\n"
            "      --bucket-size B  keys per front-coded bucket, a power of two up to %d\n"
            "                       (default %d): smaller is faster, larger is smaller\n"
            "      --hot-nodes N    trie nodes, the most typed-through first, whose answers\n"
            "                       are stored inline for speed (default: 1 per 256\n"
            "                       completions)\n"
            "      --no-infix       leave out the word-start index: matches only at the start\n"
            "                       of a text (\"york\" no longer finds \"new york\"), and a\n"
            "                       smaller snapshot\n"
            "      --word-leaf N    word starts per leaf of that index, 1..%d (default %d):\n"
            "                       smaller is faster, larger is smaller\n"
            "      --no-typo-index  leave out the typo index: typo matches are found by\n"
            "                       walking the trie alone, several times slower, and the\n"
            "                       snapshot is smaller\n"
            "      --fills N        the N most popular prefixes with fewer than K\n"
            "                       completions get their typo and word-start answers\n"
            "                       worked out now, so that looking them up costs an\n"
            "                       exact lookup (default: 1 per 64 completions, at\n"
            "                       least 1,024; 0: none, every typo lookup walks)\n"
            "      --size-budget X  a snapshot with the typo index may grow to X times\n"
            "                       its exact index alone (--no-infix --no-typo-index\n"
            "                       --fills 0) where the typo index and fills leave room:\n"
            "                       smaller word-start leaves (faster typo lookups of\n"
            "                       phrases; for them the typo index gives up its\n"
            "                       deepest level when that makes the room), then four\n"
            "                       times the hot nodes unless --hot-nodes is given\n"
            "                       (default %.1f; 0: never)\n"
            "      --memory SIZE    the most the table of distinct texts may take is half\n"
            "                       of SIZE (bytes, or with K, M, G, T; at least 1M;\n"
            "                       default half of this machine's memory): beyond it the\n"
            "                       table is sorted out to temporary files and merged.\n"
            "                       The typo index is built within a quarter of it (in\n"
            "                       parts beyond that); the rest of writing is not bound\n"
            "                       by it yet: about 200 bytes per completion. The\n"
            "                       snapshot's bytes do not depend on it\n"
            "      --tmpdir DIR     where those files go (default: OUT's folder); they\n"
            "                       never have a name, so nothing is left behind\n"
            "      --threads N      threads that key and sort texts and work out fills,\n"
            "                       1..256 (default: the cores available); the bytes do\n"
            "                       not depend on it\n"
            "      --strict         stop at the first bad line (exit 1)\n"
            "  -q, --quiet          print only errors\n"
            "  -h, --help           this text\n"
            "  -V, --version        the version\n"
            "\n"
            "OUT is written to a temporary file in its folder, synced, and renamed over it:\n"
            "a build that fails (a bad input, a full disk, ulimit -f) or is killed leaves\n"
            "OUT as it was. The next build removes a temporary file a killed one left\n"
            "(OUT.tmp.XXXXXX).\n"
            "\n"
            "Exit status: 0 written; 1 an error (OUT unchanged); 2 a usage error.\n",
            AH_MAX_TOPK, AH_MAX_TEXT_BYTES, AH_MAX_BUCKET, AH_DEFAULT_BUCKET, AH_MAX_WORD_LEAF,
            AH_DEFAULT_WORD_LEAF, AH_SIZE_BUDGET);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses an unsigned decimal option in [lo, hi]; exits with status 2 if it is not one. */
static uint64_t parse_number(const char *name, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr,
                "ahead-build: %s must be an integer from %" PRIu64 " to %" PRIu64 ", not '%s'\n",
                name, lo, hi, s);
        exit(2);
    }
    return v;
}

/* At most twice a second: the phase, lines and bytes so far, and the line rate. */
static void progress_tick(progress_t *p, const char *phase, uint64_t input_bytes)
{
    if (!p->enabled)
        return;
    double t = now();
    if (t - p->last < 0.5)
        return;
    p->last = t;
    double elapsed = t - p->start > 1e-6 ? t - p->start : 1e-6;
    uint64_t done = p->bytes + input_bytes;
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " lines, %.1f MB, %.0f lines/s", phase, p->lines,
            (double)done / 1e6, (double)p->lines / elapsed);
    if (p->spills)
        fprintf(stderr, ", %" PRIu64 " spills (%.0f MB on disk)", p->spills,
                (double)p->disk_bytes / 1e6);
    if (p->total_bytes > done && done > 0)
        fprintf(stderr, ", reading done in ~%.0f s",
                elapsed * (double)(p->total_bytes - done) / (double)done);
}

/* The aggregator's reports: spills while reading, and the merge. */
static void agg_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    progress_t *p = ctx;
    if (strcmp(phase, "spilled") == 0) {
        p->spills = done;
        p->disk_bytes = total;
        return;
    }
    double t = now();
    if (!p->enabled || t - p->last < 0.5)
        return;
    p->last = t;
    fprintf(stderr, "\r\033[Kmerging sorted runs: %" PRIu64 " surface forms", done);
}

static void progress_phase(progress_t *p, const char *phase)
{
    if (p->enabled)
        fprintf(stderr, "\r\033[K%s...", phase);
}

/*
 * Reads one file into the aggregator; a part file (found in a directory)
 * goes through ah_part_line() first. Returns 0, or 1 after printing why it
 * failed.
 */
static int read_file(const char *path, int part_file, ah_agg_t *agg, const options_t *o,
                     progress_t *prog, uint64_t *skipped, uint64_t *headers)
{
    char err[512];
    ah_input_t *in;
    if (ah_input_open(path, &in, err, sizeof err) != 0) {
        fprintf(stderr, "ahead-build: %s\n", err);
        return 1;
    }
    const char *line;
    size_t len;
    int truncated, rc;
    uint64_t lineno = 0;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    static char unquoted[AH_INPUT_MAX_LINE];
    while ((rc = ah_input_next(in, &line, &len, &truncated, err, sizeof err)) == 1) {
        lineno++;
        prog->lines++;
        if ((prog->lines & 0xffff) == 0)
            progress_tick(prog, "reading", ah_input_bytes(in));
        if (part_file && !truncated) {
            switch (ah_part_line(line, len, lineno == 1, unquoted, &len)) {
            case AH_PART_HEADER:
                ++*headers;
                continue;
            case AH_PART_UNQUOTED:
                line = unquoted;
                break;
            case AH_PART_PLAIN:
                break;
            }
        }
        ah_line_status_t st = AH_LINE_TOOLONG;
        if (!truncated && ah_agg_add_line(agg, line, len, &st) != 0) {
            fprintf(stderr, "%sahead-build: %s after %" PRIu64 " lines; %s unchanged\n",
                    prog->enabled ? "\r\033[K" : "", ah_agg_error(agg), prog->lines, o->out);
            ah_input_close(in);
            return 1;
        }
        if (st == AH_LINE_OK)
            continue;
        ++*skipped;
        if (o->strict || *skipped <= REPORT_FIRST)
            fprintf(stderr, "%s%s:%" PRIu64 ": skipped: %s\n", prog->enabled ? "\r\033[K" : "",
                    name, lineno, ah_line_status_str(st));
        if (o->strict) {
            fprintf(stderr, "ahead-build: --strict: stopping at the first bad line; %s unchanged\n",
                    o->out);
            ah_input_close(in);
            return 1;
        }
    }
    prog->bytes += ah_input_bytes(in);
    ah_input_close(in);
    if (rc < 0) {
        fprintf(stderr, "ahead-build: %s\n", err);
        return 1;
    }
    return 0;
}

/* Reads an INPUT: a file, stdin, or every part file of a directory. Returns 0 or 1. */
static int read_input(const char *path, ah_agg_t *agg, const options_t *o, progress_t *prog,
                      uint64_t *skipped, uint64_t *headers)
{
    struct stat st;
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return read_file(path, 0, agg, o, prog, skipped, headers); /* it reports a missing file */
    char err[512], **parts;
    size_t n;
    if (ah_parts_list(path, &parts, &n, err, sizeof err) != 0) {
        fprintf(stderr, "ahead-build: %s\n", err);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < n && !status; i++)
        status = read_file(parts[i], 1, agg, o, prog, skipped, headers);
    ah_parts_free(parts, n);
    return status;
}

/* Parses --memory: bytes, or a number with K, M, G or T (powers of 1024); exits with 2 if bad. */
static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end && !end[1])
        switch (*end | 0x20) {
        case 'k':
            shift = 10, end++;
            break;
        case 'm':
            shift = 20, end++;
            break;
        case 'g':
            shift = 30, end++;
            break;
        case 't':
            shift = 40, end++;
            break;
        }
    if (errno || end == s || *end || s[0] == '-' || v > (UINT64_MAX >> shift) ||
        (v << shift) < MIN_MEMORY) {
        fprintf(stderr,
                "ahead-build: --memory must be a size of at least 1M (bytes, or a number with "
                "K, M, G or T), not '%s'\n",
                s);
        exit(2);
    }
    return (uint64_t)v << shift;
}

/* Half of the machine's memory, or of the cgroup's limit when that is lower. */
static uint64_t default_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t total = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : (uint64_t)4 << 30;
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    unsigned long long limit;
    if (f) {
        if (fscanf(f, "%llu", &limit) == 1 && limit < total)
            total = limit;
        fclose(f);
    }
    return total / 2 < MIN_MEMORY ? MIN_MEMORY : total / 2;
}

static unsigned default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* A finite number above 0, or with zero_ok from 0 on; exits with status 2 otherwise. */
static double parse_real(const char *name, const char *s, int zero_ok)
{
    char *end;
    errno = 0;
    double w = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(w) || !(w > 0 || (zero_ok && w == 0))) {
        fprintf(stderr, "ahead-build: %s must be a number %s 0, not '%s'\n", name,
                zero_ok ? "from" : "greater than", s);
        exit(2);
    }
    return w;
}

static void parse_options(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"topk", required_argument, NULL, 'k'},
                                             {"min-count", required_argument, NULL, 'm'},
                                             {"max-bytes", required_argument, NULL, 'b'},
                                             {"blocklist", required_argument, NULL, 'B'},
                                             {"bucket-size", required_argument, NULL, 'z'},
                                             {"hot-nodes", required_argument, NULL, 'H'},
                                             {"strict", no_argument, NULL, 's'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"no-infix", no_argument, NULL, 'I'},
                                             {"no-typo-index", no_argument, NULL, 'T'},
                                             {"word-leaf", required_argument, NULL, 'L'},
                                             {"weight", required_argument, NULL, 'W'},
                                             {"memory", required_argument, NULL, 'M'},
                                             {"tmpdir", required_argument, NULL, 'D'},
                                             {"threads", required_argument, NULL, 'j'},
                                             {"fills", required_argument, NULL, 'F'},
                                             {"size-budget", required_argument, NULL, 'S'},
                                             {NULL, 0, NULL, 0}};
    *o = (options_t){.topk = 10,
                     .min_count = 1,
                     .max_bytes = 256,
                     .bucket_size = AH_DEFAULT_BUCKET,
                     .fills = AH_FILLS_AUTO,
                     .size_budget = AH_SIZE_BUDGET};
    o->inputs = calloc((size_t)argc, sizeof *o->inputs);
    if (!o->inputs) {
        fprintf(stderr, "ahead-build: out of memory\n");
        exit(1);
    }
    double weight = 1.0;
    int c;
    /* "-" first: INPUTs come back in order (code 1), so each takes the --weight before it. */
    while ((c = getopt_long(argc, argv, "-o:k:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 1:
            o->inputs[o->n_inputs++] = (input_arg_t){.path = optarg, .weight = weight};
            break;
        case 'W':
            weight = parse_real("--weight", optarg, 0);
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'k':
            o->topk = (unsigned)parse_number("--topk", optarg, 1, AH_MAX_TOPK);
            break;
        case 'm':
            o->min_count = parse_number("--min-count", optarg, 0, UINT64_MAX);
            break;
        case 'b':
            o->max_bytes = (unsigned)parse_number("--max-bytes", optarg, 1, AH_MAX_TEXT_BYTES);
            break;
        case 'B':
            o->blocklist = optarg;
            break;
        case 'z':
            o->bucket_size = (unsigned)parse_number("--bucket-size", optarg, 1, AH_MAX_BUCKET);
            if (o->bucket_size & (o->bucket_size - 1)) {
                fprintf(stderr, "ahead-build: --bucket-size must be a power of two\n");
                exit(2);
            }
            break;
        case 'H':
            o->hot_nodes = (unsigned)parse_number("--hot-nodes", optarg, 0, UINT32_MAX);
            o->hot_nodes_set = 1;
            break;
        case 's':
            o->strict = 1;
            break;
        case 'I':
            o->no_infix = 1;
            break;
        case 'T':
            o->no_typo = 1;
            break;
        case 'L':
            o->word_leaf = (unsigned)parse_number("--word-leaf", optarg, 1, AH_MAX_WORD_LEAF);
            break;
        case 'M':
            o->memory = parse_size(optarg);
            break;
        case 'D':
            o->tmpdir = optarg;
            break;
        case 'j':
            o->threads = (unsigned)parse_number("--threads", optarg, 1, MAX_THREADS);
            break;
        case 'F':
            o->fills = (long)parse_number("--fills", optarg, 0, UINT32_MAX - 1);
            break;
        case 'S':
            o->size_budget = parse_real("--size-budget", optarg, 1);
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("ahead-build %s (snapshot format %d)\n", AH_VERSION_STRING, AH_FORMAT_VERSION);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    while (optind < argc) /* after "--" */
        o->inputs[o->n_inputs++] = (input_arg_t){.path = argv[optind++], .weight = weight};
    if (!o->out || o->n_inputs == 0) {
        fprintf(stderr, "ahead-build: %s\n", !o->out ? "no output: give -o OUT" : "no input files");
        usage(stderr);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    options_t o;
    parse_options(argc, argv, &o);
    /* Over a file size limit (ulimit -f), write() then fails with EFBIG and the
     * builder says so, where SIGXFSZ would kill it without a word. */
    signal(SIGXFSZ, SIG_IGN);
    double t0 = now();
    progress_t prog = {.enabled = !o.quiet && isatty(STDERR_FILENO), .start = t0};
    char err[512];

    ah_blocklist_t *bl = NULL;
    if (o.blocklist && ah_blocklist_load(o.blocklist, &bl, err, sizeof err) != 0) {
        fprintf(stderr, "ahead-build: blocklist: %s\n", err);
        free(o.inputs);
        return 1;
    }
    ah_agg_t *agg = ah_agg_new(o.max_bytes);
    if (!agg) {
        fprintf(stderr, "ahead-build: out of memory\n");
        ah_blocklist_free(bl);
        free(o.inputs);
        return 1;
    }
    /* Temporary files go next to the output unless --tmpdir says otherwise. */
    char *out_copy = strdup(o.out);
    const char *tmpdir = o.tmpdir ? o.tmpdir : out_copy ? dirname(out_copy) : ".";
    uint64_t memory = o.memory ? o.memory : default_memory();
    unsigned threads = o.threads ? o.threads : default_threads();
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (memory > SIZE_MAX)
        memory = SIZE_MAX;
    if (!out_copy || ah_agg_set_limits(agg, (size_t)memory, tmpdir, threads) != 0) {
        fprintf(stderr, "ahead-build: out of memory\n");
        ah_agg_free(agg);
        ah_blocklist_free(bl);
        free(out_copy);
        free(o.inputs);
        return 1;
    }
    struct stat tmp_st;
    if (o.tmpdir &&
        (stat(o.tmpdir, &tmp_st) != 0 || (!S_ISDIR(tmp_st.st_mode) && (errno = ENOTDIR)) ||
         access(o.tmpdir, W_OK | X_OK) != 0)) {
        fprintf(stderr, "ahead-build: --tmpdir %s: %s; %s unchanged\n", o.tmpdir, strerror(errno),
                o.out);
        ah_agg_free(agg);
        ah_blocklist_free(bl);
        free(out_copy);
        free(o.inputs);
        return 1;
    }
    ah_agg_set_progress(agg, agg_progress, &prog);
    if (!o.quiet)
        fprintf(stderr, "ahead-build: memory %.0f MB%s, %u thread%s, temporary files in %s\n",
                (double)memory / (1 << 20), o.memory ? "" : " (half of this machine's)", threads,
                threads == 1 ? "" : "s", tmpdir);
    for (size_t i = 0; i < o.n_inputs; i++) { /* the time left, when the sizes are known */
        struct stat st;
        const char *path = o.inputs[i].path;
        size_t len = strlen(path);
        if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            (len > 3 && strcmp(path + len - 3, ".gz") == 0)) {
            prog.total_bytes = 0;
            break;
        }
        prog.total_bytes += (uint64_t)st.st_size;
    }
    uint64_t skipped = 0, headers = 0;
    int status = 0;
    for (size_t i = 0; i < o.n_inputs && !status; i++) {
        ah_agg_set_weight(agg, o.inputs[i].weight);
        status = read_input(o.inputs[i].path, agg, &o, &prog, &skipped, &headers);
    }

    ah_entry_t *entries = NULL;
    size_t n = 0;
    ah_agg_counts_t counts;
    double t_read = 0, t_aggregated = 0;
    if (!status) {
        t_read = now();
        progress_phase(&prog, "aggregating");
        if (ah_agg_finish(agg, o.min_count, bl, &entries, &n, &counts) != 0) {
            fprintf(stderr, "%sahead-build: %s while aggregating; %s unchanged\n",
                    prog.enabled ? "\r\033[K" : "", ah_agg_error(agg), o.out);
            status = 1;
        } else if (ah_agg_keep_mapped_below(agg, (size_t)(memory / 4)) != 0) {
            /* Completions read from disk stay within a quarter of the budget, the writer's
             * draft within a quarter too (index/writer_fills.c). */
            fprintf(stderr, "%sahead-build: out of memory while aggregating; %s unchanged\n",
                    prog.enabled ? "\r\033[K" : "", o.out);
            status = 1;
        } else if (n == 0) {
            fprintf(stderr,
                    "%sahead-build: no completions left to write (%" PRIu64 " lines read, %" PRIu64
                    " skipped); %s unchanged\n",
                    prog.enabled ? "\r\033[K" : "", prog.lines, skipped, o.out);
            status = 1;
        }
    }
    ah_write_context_t *contexts = NULL;
    size_t n_contexts = 0;
    uint64_t memberships = 0;
    if (!status && ah_agg_contexts(agg, &contexts, &n_contexts, &memberships) != 0) {
        fprintf(stderr, "\nahead-build: out of memory while aggregating contexts\n");
        status = 1;
    }
    if (!status && ah_snapshot_precheck(entries, n, err, sizeof err) != 0) {
        fprintf(stderr, "%sahead-build: %s; %s unchanged\n", prog.enabled ? "\r\033[K" : "", err,
                o.out);
        status = 1;
    }
    ah_write_info_t info;
    if (!status) {
        t_aggregated = now();
        progress_phase(&prog, "writing");
        ah_write_options_t wo = {.topk = o.topk,
                                 .bucket_size = o.bucket_size,
                                 .max_text_bytes = o.max_bytes,
                                 .hot_nodes =
                                     o.hot_nodes_set ? o.hot_nodes : (unsigned)(n / 256 + 16),
                                 .hot_nodes_room = o.hot_nodes_set ? 0 : (unsigned)(n / 64 + 16),
                                 .no_words = o.no_infix,
                                 .no_typo = o.no_typo,
                                 .word_leaf = o.word_leaf,
                                 .memory = (size_t)memory,
                                 .entries_on_disk = ah_agg_on_disk(agg),
                                 .entries_read = ah_agg_on_disk(agg) ? ah_agg_entries_read : NULL,
                                 .entries_read_ctx = agg,
                                 .fills = o.fills,
                                 .size_budget = o.size_budget,
                                 .threads = threads,
                                 .contexts = contexts,
                                 .n_contexts = n_contexts};
        if (ah_snapshot_write(o.out, entries, n, &wo, &info, err, sizeof err) != 0) {
            fprintf(stderr, "%sahead-build: %s; %s unchanged\n", prog.enabled ? "\r\033[K" : "",
                    err, o.out);
            status = 1;
        }
    }
    if (prog.enabled)
        fprintf(stderr, "\r\033[K");
    if (!status && skipped > 0)
        fprintf(stderr, "ahead-build: skipped %" PRIu64 " bad line%s of %" PRIu64 "%s\n", skipped,
                skipped == 1 ? "" : "s", prog.lines,
                skipped > REPORT_FIRST ? "; the first ones are listed above" : "");
    if (!status && !o.quiet) {
        fprintf(stderr,
                "ahead-build: %zu completions, %" PRIu64 " distinct keys, %" PRIu64
                " skipped lines, %" PRIu64 " below --min-count, %" PRIu64 " blocked, %" PRIu64
                " bytes (%.1f bytes/completion), %.2f s -> %s (id %016" PRIx64 ")\n",
                n, counts.keys, skipped, counts.below_min, counts.blocked, info.file_bytes,
                (double)info.file_bytes / (double)n, now() - t0, o.out, info.content_id);
        double t_end = now();
        ah_spill_stats_t sp;
        ah_agg_spill_stats(agg, &sp);
        fprintf(stderr, "ahead-build: phases: reading %.2f s, aggregating %.2f s, writing %.2f s\n",
                t_read - t0, t_aggregated - t_read, t_end - t_aggregated);
        if (info.word_leaves_near || info.hot_nodes_more)
            fprintf(stderr, "ahead-build: within --size-budget %.1f: %s%s%s%s\n", o.size_budget,
                    info.word_leaves_near ? "smaller word-start leaves" : "",
                    info.grams_shallower ? " (for them, the typo index one level shallower)" : "",
                    info.word_leaves_near && info.hot_nodes_more ? ", " : "",
                    info.hot_nodes_more ? "four times the hot nodes" : "");
        if (info.fills)
            fprintf(stderr,
                    "ahead-build: %" PRIu32 " fills (--fills; %" PRIu32
                    " from shorter prefixes' answers), %.2f s of the writing, %.2f MB\n",
                    info.fills, info.fills_derived, info.fill_seconds,
                    (double)info.section_bytes[AH_SEC_FILLS] / 1e6);
        /* The completions read from disk stay while the writer's files beside the output grow. */
        uint64_t writing = sp.completions + info.temp_disk;
        if (sp.spills)
            fprintf(stderr,
                    "ahead-build: the table of surface forms filled --memory's half %" PRIu64
                    " time%s: %" PRIu64 " sorted runs, %" PRIu64 " merge pass%s before the "
                    "last, temporary disk at most %.1f MB (removed), of which the completions "
                    "read from disk %.1f MB and the writer's files beside the output %.1f MB\n",
                    sp.spills, sp.spills == 1 ? "" : "s", sp.runs, sp.merge_passes,
                    sp.merge_passes == 1 ? "" : "es",
                    (double)(sp.disk_peak > writing ? sp.disk_peak : writing) / 1e6,
                    (double)sp.completions / 1e6, (double)info.temp_disk / 1e6);
        else if (info.temp_disk)
            fprintf(stderr,
                    "ahead-build: temporary disk at most %.1f MB (removed), the writer's files "
                    "beside the output\n",
                    (double)info.temp_disk / 1e6);
        if (n_contexts)
            fprintf(stderr,
                    "ahead-build: %zu context values, %" PRIu64
                    " completions in them (%.2f per completion), %" PRIu64 " bytes of them\n",
                    n_contexts, memberships, (double)memberships / (double)n,
                    info.section_bytes[AH_SEC_CONTEXTS]);
        if (info.stale_temps_removed)
            fprintf(stderr,
                    "ahead-build: removed %u temporary file%s left beside %s by a killed build\n",
                    info.stale_temps_removed, info.stale_temps_removed == 1 ? "" : "s", o.out);
        if (headers)
            fprintf(stderr, "ahead-build: %" PRIu64 " part file header line%s skipped\n", headers,
                    headers == 1 ? "" : "s");
        if (counts.weighted_to_zero)
            fprintf(stderr,
                    "ahead-build: %" PRIu64
                    " line%s counted 0 after --weight (count x weight rounds to 0)\n",
                    counts.weighted_to_zero, counts.weighted_to_zero == 1 ? "" : "s");
        if (counts.empty_keys || counts.long_keys)
            fprintf(stderr,
                    "ahead-build: %" PRIu64 " texts normalize to nothing and %" PRIu64
                    " to an over-long key; dropped\n",
                    counts.empty_keys, counts.long_keys);
    }
    ah_agg_free(agg);
    ah_blocklist_free(bl);
    free(out_copy);
    free(o.inputs);
    return status;
}
