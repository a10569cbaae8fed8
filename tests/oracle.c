/* SPDX-License-Identifier: MIT */
/*
 * oracle.c: the brute-force model the suites compare against, and the
 * process and file helpers. Deliberately simple: every line becomes a record,
 * records are sorted, runs are folded, and a query sorts its whole range.
 */
#include "oracle.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

typedef struct rec {
    char *surface, *key;
    uint32_t surface_len, key_len;
    uint64_t count;
    uint64_t in_context; /* the count when the line lists the context asked for, else 0 */
} rec_t;

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen < blen ? -1 : alen > blen);
}

static int by_key_surface(const void *x, const void *y)
{
    const rec_t *a = x, *b = y;
    int c = cmp_bytes(a->key, a->key_len, b->key, b->key_len);
    return c ? c : cmp_bytes(a->surface, a->surface_len, b->surface, b->surface_len);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/*
 * Folds records into entries: per key, sum; per surface, sum; most frequent
 * surface wins. With in_context, a key's score is the sum of its records'
 * in_context counts, and it is kept only when that is > 0 too.
 */
static void fold(oracle_t *o, rec_t *r, size_t n, int in_context)
{
    if (n > 1)
        qsort(r, n, sizeof *r, by_key_surface);
    o->e = calloc(n ? n : 1, sizeof *o->e);
    o->n = 0;
    o->cps = NULL;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t total = 0, best_count = 0, ctx_total = 0;
        const rec_t *best = NULL;
        while (j < n && cmp_bytes(r[j].key, r[j].key_len, r[i].key, r[i].key_len) == 0) {
            size_t s = j;
            uint64_t sc = 0;
            while (j < n && cmp_bytes(r[j].key, r[j].key_len, r[i].key, r[i].key_len) == 0 &&
                   cmp_bytes(r[j].surface, r[j].surface_len, r[s].surface, r[s].surface_len) == 0) {
                sc = sat_add(sc, r[j].count);
                ctx_total = sat_add(ctx_total, r[j].in_context);
                j++;
            }
            total = total + sc < total ? UINT64_MAX : total + sc;
            if (!best || sc > best_count) {
                best = &r[s];
                best_count = sc;
            }
        }
        if (total > 0 && (!in_context || ctx_total > 0)) {
            oracle_entry_t *e = &o->e[o->n++];
            e->key = strndup(best->key, best->key_len);
            e->key_len = best->key_len;
            e->text = strndup(best->surface, best->surface_len);
            e->text_len = best->surface_len;
            e->score = in_context ? ctx_total : total;
        }
        i = j;
    }
    for (size_t i = 0; i < n; i++) {
        free(r[i].surface);
        free(r[i].key);
    }
}

/* Adds one (text, count) as a record if it is valid by the builder's rules. */
static int add_rec(rec_t **r, size_t *n, size_t *cap, const char *text, size_t len, uint64_t count,
                   uint64_t in_context)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f ||
            (c == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] >= 0x80 &&
             (unsigned char)text[i + 1] <= 0x9f))
            return 0;
    }
    char surface[AH_MAX_TEXT_BYTES], key[AH_MAX_KEY_BYTES];
    size_t slen, klen;
    if (ah_normalize_surface(text, len, surface, 256, &slen) != 0 || slen == 0)
        return 0;
    if (ah_normalize_key(surface, slen, key, sizeof key, &klen, 0) != 0 || klen == 0)
        return 0;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *r = realloc(*r, *cap * sizeof **r);
    }
    (*r)[(*n)++] = (rec_t){.surface = strndup(surface, slen),
                           .surface_len = (uint32_t)slen,
                           .key = strndup(key, klen),
                           .key_len = (uint32_t)klen,
                           .count = count,
                           .in_context = in_context};
    return 1;
}

/* Strict UTF-8: shortest forms, no surrogates, nothing above U+10FFFF. */
static int utf8_ok(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i], n = c < 0x80                ? 0
                               : c >= 0xc2 && c < 0xe0 ? 1
                               : c >= 0xe0 && c < 0xf0 ? 2
                               : c >= 0xf0 && c < 0xf5 ? 3
                                                       : 9;
        if (n == 9 || i + n >= len)
            return 0;
        uint32_t cp = n == 0 ? c : c & (0x3fu >> n);
        for (unsigned j = 1; j <= n; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/*
 * The contexts field by the contract: comma-separated values, ASCII spaces
 * around each trimmed, each 1-64 bytes of UTF-8 without control characters,
 * at most 32 distinct; an empty field lists none. Returns -1 if the field is bad, else 1 when it
 * lists context (NULL: never), 0 when not.
 */
static int lists_context(const char *f, size_t len, const char *context)
{
    const char *seen[33];
    size_t seen_len[33], n_seen = 0;
    int found = 0;
    if (len == 0) /* an empty field: no values (what a data engine writes for NULL) */
        return 0;
    for (size_t at = 0;;) {
        size_t end = at;
        while (end < len && f[end] != ',')
            end++;
        size_t a = at, b = end;
        while (a < b && f[a] == ' ')
            a++;
        while (b > a && f[b - 1] == ' ')
            b--;
        if (b == a || b - a > 64 || !utf8_ok((const unsigned char *)f + a, b - a))
            return -1;
        for (size_t i = a; i < b; i++) {
            unsigned char c = (unsigned char)f[i];
            if (c < 0x20 || c == 0x7f ||
                (c == 0xc2 && (unsigned char)f[i + 1] >= 0x80 && (unsigned char)f[i + 1] <= 0x9f))
                return -1;
        }
        size_t k = 0;
        while (k < n_seen && !(seen_len[k] == b - a && memcmp(seen[k], f + a, b - a) == 0))
            k++;
        if (k == n_seen) {
            if (n_seen == 32)
                return -1;
            seen[n_seen] = f + a;
            seen_len[n_seen++] = b - a;
        }
        if (context && strlen(context) == b - a && memcmp(context, f + a, b - a) == 0)
            found = 1;
        if (end == len)
            return found;
        at = end + 1;
    }
}

void oracle_load(oracle_t *o, const char *path, size_t max_lines)
{
    oracle_load_context(o, path, max_lines, NULL);
}

void oracle_load_context(oracle_t *o, const char *path, size_t max_lines, const char *context)
{
    gzFile f = gzopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    rec_t *r = NULL;
    size_t n = 0, cap = 0, lines = 0;
    char line[70000];
    while (gzgets(f, line, sizeof line) && (max_lines == 0 || lines < max_lines)) {
        lines++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        /* text, count, contexts: the text holds no tab, so it ends at the first. */
        char *tab = strchr(line, '\t');
        uint64_t count = 1;
        size_t tlen = len;
        int listed = 0;
        if (tab) {
            char *end, *tab2 = strchr(tab + 1, '\t');
            if (tab2)
                *tab2 = 0;
            errno = 0;
            if (tab[1] < '0' || tab[1] > '9')
                continue;
            count = strtoull(tab + 1, &end, 10);
            if (errno || *end)
                continue;
            tlen = (size_t)(tab - line);
            if (tab2 && (listed = lists_context(tab2 + 1, strlen(tab2 + 1), context)) < 0)
                continue;
        }
        add_rec(&r, &n, &cap, line, tlen, count, listed ? count : 0);
    }
    gzclose(f);
    fold(o, r, n, context != NULL);
    free(r);
}

void oracle_from_pairs(oracle_t *o, const char *const *texts, const uint64_t *scores, size_t n)
{
    rec_t *r = NULL;
    size_t m = 0, cap = 0;
    for (size_t i = 0; i < n; i++)
        add_rec(&r, &m, &cap, texts[i], strlen(texts[i]), scores[i], 0);
    fold(o, r, m, 0);
    free(r);
}

ah_entry_t *oracle_entries(const oracle_t *o)
{
    ah_entry_t *e = malloc((o->n ? o->n : 1) * sizeof *e);
    for (size_t i = 0; i < o->n; i++)
        e[i] = (ah_entry_t){.key = o->e[i].key,
                            .key_len = o->e[i].key_len,
                            .text = o->e[i].text,
                            .text_len = o->e[i].text_len,
                            .score = o->e[i].score};
    return e;
}

static int by_rank(const void *x, const void *y, void *ctx)
{
    const oracle_t *o = ctx;
    const oracle_entry_t *a = &o->e[*(const size_t *)x], *b = &o->e[*(const size_t *)y];
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return cmp_bytes(a->key, a->key_len, b->key, b->key_len);
}

size_t oracle_topk(const oracle_t *o, const char *prefix, size_t len, unsigned k, size_t *out)
{
    /* The first key not below the prefix, then every key that starts with it. */
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_bytes(o->e[mid].key, o->e[mid].key_len, prefix, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Keep the best k seen so far, sorted: insertion, one pass over the range. */
    size_t n = 0;
    for (size_t i = lo; i < o->n && o->e[i].key_len >= len && memcmp(o->e[i].key, prefix, len) == 0;
         i++) {
        if (n == k && by_rank(&i, &out[n - 1], (void *)o) >= 0)
            continue;
        size_t j = n < k ? n++ : n - 1;
        for (; j > 0 && by_rank(&i, &out[j - 1], (void *)o) < 0; j--)
            out[j] = out[j - 1];
        out[j] = i;
    }
    return n;
}

void oracle_check_prefix(const oracle_t *o, const ah_index_t *ix, const char *prefix, size_t len,
                         unsigned k)
{
    size_t want[AH_MAX_K], got_n;
    ah_completion_t got[AH_MAX_K];
    static char text[AH_COMPLETE_TEXT_BYTES(AH_MAX_K)];
    size_t want_n = oracle_topk(o, prefix, len, k, want);
    int rc = ah_index_complete_key(ix, prefix, len, k, got, text, sizeof text, &got_n);
    ck_assert_msg(rc == 0, "prefix '%.*s': %s", (int)len, prefix, ah_strerror(rc));
    ck_assert_msg(got_n == want_n, "prefix '%.*s' (k=%u): %zu results, oracle has %zu", (int)len,
                  prefix, k, got_n, want_n);
    for (size_t i = 0; i < got_n; i++) {
        const oracle_entry_t *e = &o->e[want[i]];
        ck_assert_msg(got[i].score == e->score && got[i].text_len == e->text_len &&
                          memcmp(got[i].text, e->text, e->text_len) == 0,
                      "prefix '%.*s' result %zu: got '%.*s' %llu, oracle '%s' %llu", (int)len,
                      prefix, i, (int)got[i].text_len, got[i].text,
                      (unsigned long long)got[i].score, e->text, (unsigned long long)e->score);
    }
}

void oracle_free(oracle_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->e[i].key);
        free(o->e[i].text);
    }
    free(o->e);
    oracle_free_cps(o->cps);
    o->cps = NULL;
    o->e = NULL;
    o->n = 0;
}

static char scratch[256];
static pid_t scratch_owner;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the scratch directory when the process that made it exits (not its test forks). */
static void scratch_cleanup(void)
{
    if (scratch[0] && getpid() == scratch_owner && !getenv("AH_KEEP_SCRATCH"))
        nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *scratch_dir(void)
{
    if (!scratch[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/ahead-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        /* No ck_assert here: this also runs outside any test, where Check cannot report. */
        if (!mkdtemp(scratch)) {
            fprintf(stderr, "mkdtemp %s: %s\n", scratch, strerror(errno));
            exit(EXIT_FAILURE);
        }
        scratch_owner = getpid();
        atexit(scratch_cleanup);
    }
    return scratch;
}

char *scratch_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", scratch_dir(), name);
    return buf;
}

void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert(fwrite(data, 1, len, f) == len);
    ck_assert(fclose(f) == 0);
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* Reads everything from fd into a malloc'ed string. */
static char *slurp_fd(int fd)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t got;
    while ((got = read(fd, buf + n, cap - n)) > 0 || (got < 0 && errno == EINTR)) {
        if (got < 0)
            continue;
        n += (size_t)got;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    buf[n] = 0;
    return buf;
}

int run_cmd(char *const argv[], const char *in_path, char **out, char **err)
{
    char out_path[512], err_path[512];
    static int seq;
    char name[64];
    snprintf(name, sizeof name, "cmd-%d-%d.out", (int)getpid(), seq);
    scratch_path(out_path, sizeof out_path, name);
    snprintf(name, sizeof name, "cmd-%d-%d.err", (int)getpid(), seq++);
    scratch_path(err_path, sizeof err_path, name);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int fd = open(out_path, O_RDONLY);
    if (out)
        *out = slurp_fd(fd);
    close(fd);
    fd = open(err_path, O_RDONLY);
    if (err)
        *err = slurp_fd(fd);
    close(fd);
    unlink(out_path);
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void assert_same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = read_file(a, &la), *y = read_file(b, &lb);
    ck_assert_msg(x && y && la == lb && memcmp(x, y, la) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

uint64_t test_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
