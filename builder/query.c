/* SPDX-License-Identifier: MIT */
/*
 * query.c: ahead-query, a look into a snapshot from the shell and scripts.
 *
 *   ahead-query SNAPSHOT [-k K] PREFIX...   text<TAB>score lines per prefix
 *                                           (--details: also typos and the
 *                                           highlight start-end), a blank
 *                                           line between prefixes
 *   ahead-query SNAPSHOT --batch [-k K]     one prefix per stdin line, one
 *                                           JSON object per output line
 *   --typos auto|0|1|2, --match prefix|words  the matching (README,
 *                                           "Matching"; defaults auto, words)
 *   --context V                             within context value V (--batch:
 *                                           also PREFIX<TAB>V per line)
 *   ahead-query SNAPSHOT --stats            the header's facts as JSON
 *   ahead-query SNAPSHOT --verify           deep check; exit 1 if corrupt
 *
 * JSON is written by hand: scores are 64-bit integers and must come out
 * exact, which a double-based JSON library cannot promise.
 */
#include "ahead.h"
#include "format.h"

#include <getopt.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: ahead-query SNAPSHOT [-k K] [MATCHING] [--details] PREFIX...\n"
               "  or:  ahead-query SNAPSHOT --batch [-k K] [MATCHING]\n"
               "  or:  ahead-query SNAPSHOT --stats\n"
               "  or:  ahead-query SNAPSHOT --verify\n"
               "Looks up completions in a snapshot made by ahead-build (--batch: prefixes on\n"
               "stdin, JSON lines out), prints its statistics as JSON, or checks every byte\n"
               "and structure of it (exit 1 if it is corrupt).\n"
               "\n"
               "  -k K                  completions per prefix (default: the snapshot's top-k)\n"
               "  --typos auto|0|1|2    MATCHING: typos forgiven (default auto: none below 4\n"
               "                        characters, one below 8, then two)\n"
               "  --match prefix|words  MATCHING: where a match may start (default words: also\n"
               "                        at word starts inside the text)\n"
               "  --context V           MATCHING: only completions of context value V, ranked\n"
               "                        by their counts in V (none if the snapshot lacks V);\n"
               "                        in --batch a line PREFIX<TAB>V sets it for that line\n"
               "  --details             add to each text and score its typos and the\n"
               "                        highlighted code points start-end (--batch always does)\n"
               "  --batch               read prefixes from stdin, write one JSON object per line\n"
               "  --stats               print the snapshot's statistics as JSON\n"
               "  --verify              check every byte and structure; exit 1 if corrupt\n"
               "  --help                this text\n"
               "  --version             print the version\n");
}

/* Writes s as a JSON string; bytes that are not valid UTF-8 become U+FFFD. */
static void json_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
            i++;
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            putc(c, f);
            i++;
        } else {
            /* Length of a valid sequence, or 0. */
            size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            if (c >= 0xf5)
                n = 0;
            for (size_t j = 1; n && j < n; j++)
                if (i + j >= len || (p[i + j] & 0xc0) != 0x80)
                    n = 0;
            if (n == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0)))
                n = 0;
            if (n == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90)))
                n = 0;
            if (n) {
                fwrite(p + i, 1, n, f);
                i += n;
            } else {
                fputs("\\ufffd", f);
                i++;
            }
        }
    }
    putc('"', f);
}

static int print_stats(const ah_index_t *ix)
{
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    printf("{\"format_version\":%" PRIu32 ",\"id\":\"%s\",\"entries\":%" PRIu64
           ",\"file_bytes\":%" PRIu64 ",\"bytes_per_entry\":%.2f,\"topk\":%" PRIu32
           ",\"bucket_size\":%" PRIu32 ",\"inner_nodes\":%" PRIu32 ",\"max_text_bytes\":%" PRIu32
           ",\"max_key_bytes\":%" PRIu32 ",\"total_score\":%" PRIu64 ",",
           st.format_version, st.id_hex, st.entries, st.file_bytes,
           (double)st.file_bytes / (double)st.entries, st.topk, st.bucket_size, st.inner_nodes,
           st.max_text_bytes, st.max_key_bytes, st.total_score);
    printf("\"infix\":%s,\"word_entries\":%" PRIu32 ",\"word_nodes\":%" PRIu32
           ",\"word_leaf\":%" PRIu32 ",\"typo_index\":%s,\"typo_depth\":%" PRIu32 ",\"sections\":{",
           st.has_words ? "true" : "false", st.word_entries, st.word_nodes, st.word_leaf,
           st.has_typo_index ? "true" : "false", st.typo_depth);
    static const char *const names[] = {"",          "keys",      "key_index",  "scores",
                                        "classes",   "nodes",     "display",    "hot_texts",
                                        "hot_paths", "hot_slots", "word_nodes", "word_entries",
                                        "look",      "word_look", "gram_slots", "gram_blocks"};
    for (unsigned i = 1; i < sizeof names / sizeof names[0]; i++)
        printf("%s\"%s\":%" PRIu64, i > 1 ? "," : "", names[i], st.section_bytes[i]);
    if (st.contexts)
        printf(",\"contexts\":%" PRIu64, st.section_bytes[AH_SEC_CONTEXTS]);
    if (st.section_bytes[AH_SEC_CHOSEONG])
        printf(",\"choseong\":%" PRIu64, st.section_bytes[AH_SEC_CHOSEONG]);
    if (st.section_bytes[AH_SEC_FILLS])
        printf(",\"fills\":%" PRIu64, st.section_bytes[AH_SEC_FILLS]);
    printf("},\"contexts\":%" PRIu32 ",\"fills\":%" PRIu32 "}\n", st.contexts, st.fills);
    return 0;
}

/*
 * The index to ask for context [v, v + len) (NULL: none given): ix, the
 * context's, or NULL when the snapshot has no such value (empty answers).
 * A bad value prints why and sets *bad.
 */
static const ah_index_t *in_context(const ah_index_t *ix, const char *v, size_t len, int *bad)
{
    *bad = 0;
    if (!v)
        return ix;
    if (ah_context_value_check(&v, &len) != 0) {
        fprintf(stderr,
                "ahead-query: context '%.*s': a value is 1-64 bytes of UTF-8 without commas or "
                "control characters\n",
                (int)len, v);
        *bad = 1;
        return NULL;
    }
    return ah_index_context(ix, v, len);
}

/* One lookup; results or the error go to stdout in the chosen form. Returns 0 or 1. */
static int lookup(const ah_index_t *ix, const char *q, size_t len, const ah_lookup_options_t *opt,
                  int json, int details)
{
    ah_completion_t out[AH_MAX_K];
    static char text[AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];
    size_t n = 0;
    int complete = 1;
    /* ix NULL: a context the snapshot does not have, where nothing matches. */
    int rc = ix ? ah_index_lookup(ix, q, len, opt, out, text, sizeof text, &n, &complete) : 0;
    if (json) {
        fputs("{\"q\":", stdout);
        json_string(stdout, q, len);
        if (rc) {
            printf(",\"error\":\"%s\"}\n", ah_strerror(rc));
            return rc == AH_ECORRUPT;
        }
        printf(",\"complete\":%s,\"completions\":[", complete ? "true" : "false");
        for (size_t i = 0; i < n; i++) {
            fputs(i ? ",[" : "[", stdout);
            json_string(stdout, out[i].text, out[i].text_len);
            printf(",%" PRIu64 ",%u,[%" PRIu32 ",%" PRIu32 "]]", out[i].score, out[i].typos,
                   out[i].span_start, out[i].span_end);
        }
        fputs("]}\n", stdout);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "ahead-query: '%.*s': %s\n", (int)len, q, ah_strerror(rc));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%.*s\t%" PRIu64, (int)out[i].text_len, out[i].text, out[i].score);
        if (details)
            printf("\t%u\t%" PRIu32 "-%" PRIu32, out[i].typos, out[i].span_start, out[i].span_end);
        putchar('\n');
    }
    if (!complete)
        fprintf(stderr,
                "ahead-query: '%.*s': the typo search stopped at its work bound; the answer "
                "may miss matches\n",
                (int)len, q);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"batch", no_argument, NULL, 'b'},         {"stats", no_argument, NULL, 's'},
        {"verify", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {"typos", required_argument, NULL, 't'},
        {"match", required_argument, NULL, 'm'},   {"details", no_argument, NULL, 'd'},
        {"context", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0}};
    int batch = 0, stats = 0, verify = 0, details = 0, c;
    const char *context = NULL;
    long k = 10;
    ah_lookup_options_t opt = {.typos = AH_TYPOS_AUTO, .match = AH_MATCH_WORDS};
    while ((c = getopt_long(argc, argv, "k:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': {
            char *end;
            k = strtol(optarg, &end, 10);
            if (*end || k < 1 || k > AH_MAX_K) {
                fprintf(stderr, "ahead-query: -k must be an integer from 1 to %d\n", AH_MAX_K);
                return 2;
            }
            break;
        }
        case 't':
            if (ah_parse_typos(optarg, strlen(optarg), &opt.typos) != 0) {
                fprintf(stderr, "ahead-query: --typos must be auto, 0, 1 or 2\n");
                return 2;
            }
            break;
        case 'm':
            if (ah_parse_match(optarg, strlen(optarg), &opt.match) != 0) {
                fprintf(stderr, "ahead-query: --match must be prefix or words\n");
                return 2;
            }
            break;
        case 'b':
            batch = 1;
            break;
        case 'c':
            context = optarg;
            break;
        case 'd':
            details = 1;
            break;
        case 's':
            stats = 1;
            break;
        case 'v':
            verify = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ahead-query %s\n", AH_VERSION_STRING);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    char err[512];
    ah_index_t *ix;
    int rc = ah_index_open(argv[optind], &ix, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ahead-query: %s\n", err);
        return 1;
    }
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    if (!stats && !verify && k > (long)st.topk) {
        fprintf(stderr, "ahead-query: -k %ld is more than the snapshot's top-k (%u)\n", k, st.topk);
        ah_index_close(ix);
        return 2;
    }
    int status = 0, bad;
    opt.k = (unsigned)k;
    const ah_index_t *target = in_context(ix, context, context ? strlen(context) : 0, &bad);
    if (bad) {
        ah_index_close(ix);
        return 2;
    }
    if (stats) {
        status = print_stats(ix);
    } else if (verify) {
        /* Checksums first, read with pread: a disk read error is then an error, not SIGBUS. */
        int fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? ah_index_verify_checksums(ix, err, sizeof err)
                    : ah_index_verify_checksums_paced(ix, fd, NULL, NULL, err, sizeof err);
        if (fd >= 0)
            close(fd);
        if (!rc)
            rc = ah_index_verify(ix, err, sizeof err);
        if (rc)
            fprintf(stderr, "ahead-query: %s: %s\n", argv[optind], err);
        else
            printf("%s: ok (%" PRIu64 " completions, id %s)\n", argv[optind], st.entries,
                   st.id_hex);
        status = rc ? 1 : 0;
    } else if (batch) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t got;
        while ((got = getline(&line, &cap, stdin)) >= 0) {
            size_t len = (size_t)got;
            if (len > 0 && line[len - 1] == '\n')
                len--;
            if (len > 0 && line[len - 1] == '\r')
                len--;
            const char *tab = memchr(line, '\t', len);
            const ah_index_t *in = target;
            if (tab) {
                in = in_context(ix, tab + 1, len - (size_t)(tab + 1 - line), &bad);
                len = (size_t)(tab - line);
                if (bad) {
                    fputs("{\"q\":", stdout);
                    json_string(stdout, line, len);
                    fputs(",\"error\":\"bad context\"}\n", stdout);
                    status = 1;
                    continue;
                }
            }
            status |= lookup(in, line, len, &opt, 1, 0);
        }
        free(line);
    } else {
        for (int i = optind + 1; i < argc; i++) {
            if (i > optind + 1)
                putchar('\n');
            status |= lookup(target, argv[i], strlen(argv[i]), &opt, 0, details);
        }
    }
    ah_index_close(ix);
    return status;
}
