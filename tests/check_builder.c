/* SPDX-License-Identifier: MIT */
/*
 * check_builder.c: ahead-build and ahead-query as a user runs them:
 * aggregation, the blocklist, --min-count, bad lines (skipped, reported,
 * fatal under --strict), gzip and stdin input, option errors, determinism
 * (shuffled input gives identical bytes), part-file directories from a
 * data engine and --weight. The line parser and the part-file line reader
 * are also called in-process (libahead-builder), on exact-size buffers that
 * ASan guards.
 *
 * Crashes (the "crash" case): a build killed at ten points, under a file size
 * limit and on a full file system leaves the previous snapshot whole and no
 * stray file, or only a temporary file that the next build removes.
 */
#include "aggregate.h"
#include "blocklist.h"
#include "parts.h"
#include "datasets.h"
#include "oracle.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Runs ahead-build with the given arguments (NULL-terminated); returns the status. */
#define BUILD(out, err, ...) run_cmd((char *[]){AH_BUILD_BIN, __VA_ARGS__, NULL}, NULL, out, err)

/* ahead-query SNAPSHOT -k K PREFIX: its stdout. */
static char *query(const char *snap, const char *k, const char *prefix)
{
    char *out, *err;
    int status =
        run_cmd((char *[]){AH_QUERY_BIN, (char *)snap, "-k", (char *)k, (char *)prefix, NULL}, NULL,
                &out, &err);
    ck_assert_msg(status == 0, "ahead-query failed: %s", err);
    free(err);
    return out;
}

static char *scratch_file(const char *name, const char *content)
{
    static char paths[16][512];
    static int next;
    char *p = scratch_path(paths[next++ % 16], 512, name);
    write_file(p, content, strlen(content));
    return p;
}

START_TEST(test_aggregation_and_display)
{
    char *in = scratch_file("agg.tsv", "São Paulo\t100\nsao paulo\t50\nSAO  PAULO\t10\n"
                                       "sao paulo\t60\nnew york\t5\nnew york\n");
    char snap[512];
    scratch_path(snap, sizeof snap, "agg.snap");
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "--quiet", in, "-o", snap), 0);
    free(err);
    /* sao paulo (50 + 60 = 110) beats São Paulo (100): the most frequent surface is shown. */
    char *out = query(snap, "10", "SÃO");
    ck_assert_str_eq(out, "sao paulo\t220\n");
    free(out);
    out = query(snap, "10", "new");
    ck_assert_str_eq(out, "new york\t6\n"); /* a raw line counts 1 */
    free(out);
}
END_TEST

START_TEST(test_blocklist_and_min_count)
{
    char *in = scratch_file("bl.tsv", "badword\t9\nnot a badword here\t8\nbadwords are fine\t7\n"
                                      "Bad Word\t6\nbad word tour\t5\nhello\t4\nrare\t1\n"
                                      "c++ tricks\t3\nabc++\t3\n");
    char *bl = scratch_file("bl.txt", "# offensive terms\nBADWORD\n\nbad word\nc++\n");
    char snap[512];
    scratch_path(snap, sizeof snap, "bl.snap");
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "--blocklist", bl, "--min-count", "2", in, "-o", snap), 0);
    ck_assert_msg(strstr(err, "1 below --min-count, 4 blocked") != NULL, "summary: %s", err);
    free(err);
    char *out = query(snap, "10", "");
    /* Blocked: the term as a whole word, the phrase exactly, "c++" at word edges. Kept: a
     * longer word, a phrase that only contains the blocked phrase, "abc++" (no boundary). */
    ck_assert_str_eq(out, "badwords are fine\t7\nbad word tour\t5\nhello\t4\nabc++\t3\n");
    free(out);
    ck_assert_int_eq(BUILD(NULL, &err, "--blocklist", "/nonexistent/bl", in, "-o", snap), 1);
    ck_assert(strstr(err, "/nonexistent/bl") != NULL);
    free(err);
}
END_TEST

START_TEST(test_bad_lines_skipped_and_reported)
{
    /* Line numbers: 2 bad UTF-8, 3 bad count, 4 overflow, 5 empty, 6 control, 7 NUL,
     * 8 too long (with --max-bytes 20), 9 negative count, 10 empty count. */
    const char content[] = "good\t5\n"
                           "bad\xff utf8\t1\n"
                           "word\tabc\n"
                           "big\t99999999999999999999999\n"
                           "   \t3\n"
                           "ctl\x01here\t2\n"
                           "nul\0here\t2\n"
                           "this text is longer than twenty bytes\t1\n"
                           "neg\t-1\n"
                           "empty count\t\n"
                           "fine too\r\n"
                           "max\t18446744073709551615\n";
    char in[512], snap[512];
    scratch_path(in, sizeof in, "bad.tsv");
    write_file(in, content, sizeof content - 1);
    scratch_path(snap, sizeof snap, "bad.snap");
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "--max-bytes", "20", in, "-o", snap), 0);
    static const char *const expect[] = {":2: skipped: invalid UTF-8",
                                         ":3: skipped: count is not an unsigned integer",
                                         ":4: skipped: count overflows 64 bits",
                                         ":5: skipped: empty text",
                                         ":6: skipped: NUL or control character in text",
                                         ":7: skipped: NUL or control character in text",
                                         ":8: skipped: text longer than --max-bytes",
                                         ":9: skipped: count is not an unsigned integer",
                                         ":10: skipped: count is not an unsigned integer",
                                         "skipped 9 bad lines of 12",
                                         "3 completions"};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
        ck_assert_msg(strstr(err, expect[i]) != NULL, "missing '%s' in:\n%s", expect[i], err);
    free(err);
    char *out = query(snap, "10", "");
    ck_assert_str_eq(out, "max\t18446744073709551615\ngood\t5\nfine too\t1\n");
    free(out);

    /* --strict: the first bad line is fatal and the old snapshot stays. */
    size_t before_len, after_len;
    char *before = read_file(snap, &before_len);
    ck_assert_int_eq(BUILD(NULL, &err, "--strict", in, "-o", snap), 1);
    ck_assert(strstr(err, ":2: skipped: invalid UTF-8") != NULL);
    ck_assert(strstr(err, ":3:") == NULL);
    free(err);
    char *after = read_file(snap, &after_len);
    ck_assert(before_len == after_len && memcmp(before, after, before_len) == 0);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_gzip_stdin_and_many_inputs)
{
    char gz[512], plain[512], snap1[512], snap2[512];
    scratch_path(gz, sizeof gz, "in.tsv.gz");
    gzFile f = gzopen(gz, "wb");
    gzputs(f, "alpha\t3\nbeta\t2\n");
    gzclose(f);
    scratch_path(plain, sizeof plain, "in2.tsv");
    write_file(plain, "alpha\t1\ngamma\t7\n", 16);
    scratch_path(snap1, sizeof snap1, "multi.snap");
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "-q", gz, plain, "-o", snap1), 0);
    free(err);
    char *out = query(snap1, "10", "");
    ck_assert_str_eq(out, "gamma\t7\nalpha\t4\nbeta\t2\n");
    free(out);
    /* The same lines through stdin give the same bytes. */
    scratch_path(snap2, sizeof snap2, "stdin.snap");
    char all[512];
    scratch_path(all, sizeof all, "all.tsv");
    write_file(all, "gamma\t7\nbeta\t2\nalpha\t1\nalpha\t3\n", 31);
    ck_assert_int_eq(
        run_cmd((char *[]){AH_BUILD_BIN, "-q", "-", "-o", snap2, NULL}, all, NULL, &err), 0);
    free(err);
    assert_same_file(snap1, snap2);
    /* A gzip stream cut short is an error, not a silently short snapshot. */
    char cut[512];
    scratch_path(cut, sizeof cut, "cut.tsv.gz");
    f = gzopen(cut, "wb");
    for (int i = 0; i < 20000; i++)
        gzprintf(f, "word%d\t%d\n", i, i + 1);
    gzclose(f);
    size_t len;
    char *bytes = read_file(cut, &len);
    write_file(cut, bytes, len / 2);
    free(bytes);
    ck_assert_int_eq(BUILD(NULL, &err, "-q", cut, "-o", snap1), 1);
    ck_assert_msg(strstr(err, "cut.tsv.gz") != NULL, "%s", err);
    free(err);
}
END_TEST

START_TEST(test_option_errors)
{
    char *err, *out;
    char *in = scratch_file("opt.tsv", "a\t1\n");
    char snap[512];
    scratch_path(snap, sizeof snap, "opt.snap");
    ck_assert_int_eq(BUILD(NULL, &err, "--topk", "0", in, "-o", snap), 2);
    ck_assert(strstr(err, "--topk") != NULL);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "--topk", "256", in, "-o", snap), 2);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "--min-count", "x", in, "-o", snap), 2);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "--bucket-size", "3", in, "-o", snap), 2);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "--memory", "512K", in, "-o", snap), 2);
    ck_assert(strstr(err, "--memory must be a size of at least 1M") != NULL);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "--memory", "2X", in, "-o", snap), 2);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "--threads", "0", in, "-o", snap), 2);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "--tmpdir", "/nonexistent/tmp", in, "-o", snap), 1);
    ck_assert(strstr(err, "/nonexistent/tmp: No such file or directory") != NULL);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, in), 2);
    ck_assert(strstr(err, "-o OUT") != NULL);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "-o", snap), 2);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "/nonexistent/in.tsv", "-o", snap), 1);
    ck_assert(strstr(err, "/nonexistent/in.tsv: No such file or directory") != NULL);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, in, "-o", "/nonexistent/dir/x.snap"), 1);
    ck_assert(strstr(err, "/nonexistent/dir/x.snap") != NULL);
    free(err);
    char *empty = scratch_file("empty.tsv", "\n\n");
    ck_assert_int_eq(BUILD(NULL, &err, empty, "-o", snap), 1);
    ck_assert(strstr(err, "no completions") != NULL);
    free(err);
    ck_assert_int_eq(BUILD(&out, &err, "--help"), 0);
    ck_assert(strstr(out, "--blocklist") != NULL);
    free(out);
    free(err);
    ck_assert_int_eq(BUILD(&out, &err, "--version"), 0);
    ck_assert(strstr(out, AH_VERSION_STRING) != NULL);
    free(out);
    free(err);
}
END_TEST

/* Writes the dataset's lines in a shuffled order (seeded), as a raw copy of its text. */
static void shuffled_copy(const char *src, const char *dst, uint64_t seed)
{
    size_t len;
    char *data = read_file(src, &len);
    ck_assert(data != NULL);
    size_t n = 0, cap = 1024;
    char **lines = malloc(cap * sizeof *lines);
    for (char *p = data, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        if (n == cap)
            lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = p;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = test_rand(&seed) % i;
        char *t = lines[i - 1];
        lines[i - 1] = lines[j];
        lines[j] = t;
    }
    FILE *f = fopen(dst, "w");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
    free(lines);
    free(data);
}

START_TEST(test_deterministic_output)
{
    char src[512], a[512], b[512], snap_a[512], snap_b[512], *err;
    ck_assert_ptr_nonnull(dataset_path("subtlex-us.tsv", src, sizeof src));
    scratch_path(a, sizeof a, "shuf-a.tsv");
    scratch_path(b, sizeof b, "shuf-b.tsv");
    shuffled_copy(src, a, 1);
    shuffled_copy(src, b, 2);
    scratch_path(snap_a, sizeof snap_a, "det-a.snap");
    scratch_path(snap_b, sizeof snap_b, "det-b.snap");
    ck_assert_int_eq(BUILD(NULL, &err, "-q", a, "-o", snap_a), 0);
    free(err);
    ck_assert_int_eq(BUILD(NULL, &err, "-q", b, "-o", snap_b), 0);
    free(err);
    assert_same_file(snap_a, snap_b);
}
END_TEST

/* ---------------------------------------------------------------- crashes */

/* A folder of its own under the scratch folder, so that what a build leaves in it can be listed. */
static char *crash_dir(char *buf, size_t cap, const char *name)
{
    scratch_path(buf, cap, name);
    ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "%s: %s", buf, strerror(errno));
    return buf;
}

/* The names in dir other than keep, joined by spaces ("" when there are none). */
static void dir_leftovers(const char *dir, const char *keep, char *out, size_t cap)
{
    out[0] = 0;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, keep) == 0)
            continue;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", len ? " " : "", de->d_name);
    }
    closedir(d);
}

/* The content id of the snapshot at path, verified whole; 0 when there is no file. */
static uint64_t snapshot_id_at(const char *path)
{
    char msg[256];
    ah_index_t *ix;
    if (access(path, F_OK) != 0)
        return 0;
    ck_assert_msg(ah_index_open(path, &ix, msg, sizeof msg) == 0, "%s: %s", path, msg);
    ck_assert_msg(ah_index_verify(ix, msg, sizeof msg) == 0, "%s: %s", path, msg);
    ah_index_stats_t st;
    ah_index_stats(ix, &st);
    ah_index_close(ix);
    return st.content_id;
}

/*
 * The bytes the builder writes for the data in data/, pinned: their
 * content ids as of the commit that added this test. A change of the
 * format or of what the builder chooses changes them and must update them
 * here on purpose; a change of how the writer works (a faster sort, a
 * streaming writer) must not. korean-words.txt gives the gram table heads
 * that are not ASCII, compared byte by byte; es-ngrams runs of hundreds of
 * records with one block key, which the gram table's sort merges.
 */
START_TEST(test_pinned_bytes)
{
    static const struct {
        const char *file;
        uint64_t id;
    } pinned[] = {
        {"es-ngrams.tsv.gz", 0xc1d5f337178e62b1u},
        {"korean-words.txt", 0x0552e43ce756d7b8u},
        {"subtlex-us.tsv", 0x28be0c62ce042211u}, /* depth 4, smaller leaves, more hot nodes */
    };
    for (size_t i = 0; i < sizeof pinned / sizeof *pinned; i++) {
        char src[512], snap[512], *err;
        ck_assert_ptr_nonnull(dataset_path(pinned[i].file, src, sizeof src));
        scratch_path(snap, sizeof snap, "pinned.snap");
        ck_assert_int_eq(BUILD(NULL, &err, "-q", src, "-o", snap), 0);
        free(err);
        uint64_t id = snapshot_id_at(snap);
        ck_assert_msg(id == pinned[i].id, "%s: content id %016llx, pinned %016llx", pinned[i].file,
                      (unsigned long long)id, (unsigned long long)pinned[i].id);
    }
}
END_TEST

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether process pid has a file open in dir (its output, named or not yet). */
static int has_file_open_in(pid_t pid, const char *dir)
{
    char fds[64], link[320], target[1024];
    snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(fds);
    if (!d)
        return 0;
    struct dirent *de;
    int found = 0;
    size_t dlen = strlen(dir);
    while (!found && (de = readdir(d)) != NULL) {
        snprintf(link, sizeof link, "%s/%s", fds, de->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        found = strncmp(target, dir, dlen) == 0 && target[dlen] == '/';
    }
    closedir(d);
    return found;
}

static pid_t spawn_build(const char *in, const char *snap)
{
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(AH_BUILD_BIN, AH_BUILD_BIN, "-q", in, "-o", snap, (char *)NULL);
        _exit(127);
    }
    return pid;
}

START_TEST(test_killed_builds_leave_old_or_nothing)
{
    /* SIGKILL at ten points of a build: seven spread over its whole length, three while
     * it writes the output. The path then holds the previous snapshot, whole; a temporary
     * file may be left only under the name the next build sweeps, and it does. */
    char dir[512], snap[600], new_in[512], left[4096];
    crash_dir(dir, sizeof dir, "killed");
    snprintf(snap, sizeof snap, "%s/out.snap", dir);
    char *old_in = scratch_file("killed-old.tsv", "old\t1\nolder\t2\n");
    ck_assert_ptr_nonnull(dataset_path("es-ngrams.tsv.gz", new_in, sizeof new_in));
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "-q", old_in, "-o", snap), 0);
    free(err);
    uint64_t old_id = snapshot_id_at(snap);
    /* How long a whole build takes here, to spread the kills over it. */
    double t0 = seconds_now();
    char spare[600];
    snprintf(spare, sizeof spare, "%s/spare.snap", dir);
    ck_assert_int_eq(BUILD(NULL, &err, "-q", new_in, "-o", spare), 0);
    free(err);
    double whole = seconds_now() - t0;
    uint64_t new_id = snapshot_id_at(spare);
    unlink(spare);
    int killed_writing = 0;
    for (int point = 0; point < 10; point++) {
        pid_t pid = spawn_build(new_in, snap);
        if (point < 7) {
            double at = whole * (point + 0.5) / 7;
            struct timespec ts = {(time_t)at, (long)((at - (time_t)at) * 1e9)};
            nanosleep(&ts, NULL);
        } else {
            /* Until the output is open, then 0, 1 or 3 ms into writing it. */
            double give_up = seconds_now() + 10 * whole + 5;
            while (!has_file_open_in(pid, dir) && seconds_now() < give_up &&
                   waitpid(pid, NULL, WNOHANG) == 0)
                usleep(100);
            struct timespec ts = {0, (long)(point == 7 ? 0 : point == 8 ? 1 : 3) * 1000000L};
            nanosleep(&ts, NULL);
        }
        int status;
        int running = waitpid(pid, &status, WNOHANG) == 0;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        int was_killed = running && WIFSIGNALED(status);
        uint64_t id = snapshot_id_at(snap);
        /* A kill may land after the rename, while the build syncs the folder and exits: then
         * the new snapshot is there, whole, and that is right too. Never anything else. */
        int replaced = id == new_id;
        killed_writing += was_killed && !replaced && point >= 7;
        if (was_killed)
            ck_assert_msg(id == old_id || replaced,
                          "kill %d: the output is %016llx, neither the previous one nor the new",
                          point, (unsigned long long)id);
        else
            ck_assert_msg(replaced, "build %d finished, yet the output is not the new one", point);
        /* Only a temporary file named for the sweep may be left. */
        dir_leftovers(dir, "out.snap", left, sizeof left);
        for (char *name = strtok(left, " "); name; name = strtok(NULL, " "))
            ck_assert_msg(strncmp(name, "out.snap.tmp.", 13) == 0 && strlen(name) == 19,
                          "kill %d left %s", point, name);
        if (replaced) { /* it finished first: start again from the previous snapshot */
            ck_assert_int_eq(BUILD(NULL, &err, "-q", old_in, "-o", snap), 0);
            free(err);
        }
    }
    ck_assert_msg(killed_writing >= 1, "no kill landed while the output was written");
    /* The next build completes, replaces the file, and leaves nothing else. */
    ck_assert_int_eq(BUILD(NULL, &err, "-q", new_in, "-o", snap), 0);
    free(err);
    ck_assert(snapshot_id_at(snap) == new_id);
    dir_leftovers(dir, "out.snap", left, sizeof left);
    ck_assert_msg(left[0] == 0, "left beside the snapshot: %s", left);
}
END_TEST

START_TEST(test_stale_temporary_files_swept)
{
    /* A temporary file whose writer is gone (no lock on it) is removed by the next build;
     * one a live writer holds (locked) is not, nor are files that only look alike. */
    char dir[512], path[700], snap[600], left[4096];
    crash_dir(dir, sizeof dir, "stale");
    snprintf(snap, sizeof snap, "%s/out.snap", dir);
    static const char *const names[] = {"out.snap.tmp.a1b2c3", "out.snap.tmp.livexx",
                                        "out.snap.tmp.short", "other.snap.tmp.d4e5f6"};
    int live_fd = -1;
    for (unsigned i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        write_file(path, "partial", 7);
    }
    snprintf(path, sizeof path, "%s/%s", dir, names[1]);
    live_fd = open(path, O_RDONLY);
    ck_assert(live_fd >= 0 && flock(live_fd, LOCK_EX) == 0);
    char *in = scratch_file("stale.tsv", "fresh\t3\n");
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, in, "-o", snap), 0);
    ck_assert_msg(strstr(err, "removed 1 temporary file left beside") != NULL, "%s", err);
    free(err);
    dir_leftovers(dir, "out.snap", left, sizeof left);
    ck_assert_msg(strstr(left, "a1b2c3") == NULL, "the stale file stayed: %s", left);
    ck_assert_msg(strstr(left, "livexx") && strstr(left, "short") && strstr(left, "d4e5f6"),
                  "a file not to sweep was removed: %s", left);
    close(live_fd);
}
END_TEST

/* Runs a build with the file size limit at limit bytes; returns its exit status. */
static int build_under_fsize_limit(const char *in, const char *snap, rlim_t limit, char **err)
{
    char err_path[512];
    scratch_path(err_path, sizeof err_path, "fsize.err");
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {limit, limit};
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(126);
        dup2(fd, 2);
        execl(AH_BUILD_BIN, AH_BUILD_BIN, "-q", in, "-o", snap, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    *err = read_file(err_path, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

START_TEST(test_file_size_limit)
{
    /* ulimit -f: a clear error naming the path and the cause, not a silent SIGXFSZ. */
    char dir[512], snap[600], in[512], left[4096];
    crash_dir(dir, sizeof dir, "fsize");
    snprintf(snap, sizeof snap, "%s/out.snap", dir);
    char *old_in = scratch_file("fsize-old.tsv", "old\t1\n");
    ck_assert_ptr_nonnull(dataset_path("es-ngrams.tsv.gz", in, sizeof in));
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "-q", old_in, "-o", snap), 0);
    free(err);
    uint64_t old_id = snapshot_id_at(snap);
    /* 3M: the keys, streamed to the side file as they are made, go back to memory after
     * a failed write (index/writer.c, stream_back); the output then fails, clearly. */
    static const rlim_t limits[] = {256 << 10, 3 << 20};
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        int rc = build_under_fsize_limit(in, snap, limits[i], &err);
        ck_assert_msg(rc == 1, "exit %d: %s", rc, err);
        ck_assert_msg(strstr(err, snap) && strstr(err, "File too large") &&
                          strstr(err, "ulimit -f") && strstr(err, "unchanged"),
                      "unclear error: %s", err);
        free(err);
        ck_assert(snapshot_id_at(snap) == old_id);
    }
    dir_leftovers(dir, "out.snap", left, sizeof left);
    ck_assert_msg(left[0] == 0, "left beside the snapshot: %s", left);
}
END_TEST

START_TEST(test_full_disk)
{
    /* A real full file system: a 1 MB tmpfs, where the machine lets the test mount one. */
    char dir[512], snap[600], in[512], left[4096];
    crash_dir(dir, sizeof dir, "full");
    if (mount("ahead-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) {
        printf("check_builder: full disk: cannot mount a small tmpfs here (%s): skipped\n",
               strerror(errno));
        return;
    }
    snprintf(snap, sizeof snap, "%s/out.snap", dir);
    char *old_in = scratch_file("full-old.tsv", "old\t1\n");
    ck_assert_ptr_nonnull(dataset_path("es-ngrams.tsv.gz", in, sizeof in));
    char *err, *err_full;
    int rc_old = BUILD(NULL, &err, "-q", old_in, "-o", snap);
    free(err);
    uint64_t old_id = rc_old == 0 ? snapshot_id_at(snap) : 0;
    struct statvfs before, after;
    statvfs(dir, &before);
    int rc = BUILD(NULL, &err_full, "-q", in, "-o", snap);
    statvfs(dir, &after);
    uint64_t id = snapshot_id_at(snap);
    dir_leftovers(dir, "out.snap", left, sizeof left);
    ck_assert_int_eq(umount(dir), 0); /* before any assertion can end the test */
    ck_assert_int_eq(rc_old, 0);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, err_full);
    ck_assert_msg(strstr(err_full, snap) && strstr(err_full, "No space left on device") &&
                      strstr(err_full, "unchanged"),
                  "unclear error: %s", err_full);
    free(err_full);
    ck_assert(id == old_id);
    ck_assert_msg(left[0] == 0, "left beside the snapshot: %s", left);
    ck_assert_msg(after.f_bfree == before.f_bfree, "the failed build kept %lu blocks",
                  (unsigned long)(before.f_bfree - after.f_bfree));
}
END_TEST

START_TEST(test_query_cli)
{
    char *in = scratch_file("q.tsv", "Zürich\t5\nzurich airport\t3\n\"quoted\"\\\t2\n");
    char snap[512], *err, *out;
    scratch_path(snap, sizeof snap, "q.snap");
    ck_assert_int_eq(BUILD(NULL, &err, "-q", "--topk", "5", in, "-o", snap), 0);
    free(err);
    out = query(snap, "5", "zu");
    ck_assert_str_eq(out, "Zürich\t5\nzurich airport\t3\n");
    free(out);
    /* A typo (four letters or more), and a match at a later word start; --details adds the
     * typos and the highlighted code points. */
    out = query(snap, "5", "zurch");
    ck_assert_str_eq(out, "Zürich\t5\nzurich airport\t3\n");
    free(out);
    ck_assert_int_eq(run_cmd((char *[]){AH_QUERY_BIN, snap, "-k", "5", "--details", "zurch",
                                        "airport", "zu", NULL},
                             NULL, &out, &err),
                     0);
    ck_assert_str_eq(out, "Zürich\t5\t1\t0-6\nzurich airport\t3\t1\t0-6\n\n"
                          "zurich airport\t3\t0\t7-14\n\n"
                          "Zürich\t5\t0\t0-2\nzurich airport\t3\t0\t0-2\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_cmd((char *[]){AH_QUERY_BIN, snap, "-k", "5", "--match", "prefix",
                                        "--typos", "0", "zurch", "airport", NULL},
                             NULL, &out, &err),
                     0);
    ck_assert_str_eq(out, "\n");
    free(out);
    free(err);
    ck_assert_int_eq(
        run_cmd((char *[]){AH_QUERY_BIN, snap, "--typos", "3", "zu", NULL}, NULL, &out, &err), 2);
    ck_assert(strstr(err, "--typos") != NULL);
    free(out);
    free(err);
    ck_assert_int_eq(
        run_cmd((char *[]){AH_QUERY_BIN, snap, "--match", "infix", "zu", NULL}, NULL, &out, &err),
        2);
    ck_assert(strstr(err, "--match") != NULL);
    free(out);
    free(err);
    /* Two prefixes: a blank line between them. */
    ck_assert_int_eq(
        run_cmd((char *[]){AH_QUERY_BIN, snap, "-k", "1", "zu", "\"", NULL}, NULL, &out, &err), 0);
    ck_assert_str_eq(out, "Zürich\t5\n\n\"quoted\"\\\t2\n");
    free(out);
    free(err);
    /* --batch: JSON lines, exact scores, escaping, errors per line. */
    char *prefixes = scratch_file("batch.txt", "ZU\n\"\nnothing\n\xff\nzurch\n");
    ck_assert_int_eq(
        run_cmd((char *[]){AH_QUERY_BIN, snap, "--batch", "-k", "2", NULL}, prefixes, &out, &err),
        0);
    ck_assert_str_eq(
        out, "{\"q\":\"ZU\",\"complete\":true,\"completions\":[[\"Zürich\",5,0,[0,2]],"
             "[\"zurich airport\",3,0,[0,2]]]}\n"
             "{\"q\":\"\\\"\",\"complete\":true,\"completions\":[[\"\\\"quoted\\\"\\\\\",2,0,"
             "[0,1]]]}\n"
             "{\"q\":\"nothing\",\"complete\":true,\"completions\":[]}\n"
             "{\"q\":\"\\ufffd\",\"error\":\"invalid UTF-8\"}\n"
             "{\"q\":\"zurch\",\"complete\":true,\"completions\":[[\"Zürich\",5,1,[0,6]],"
             "[\"zurich airport\",3,1,[0,6]]]}\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_cmd((char *[]){AH_QUERY_BIN, snap, "--stats", NULL}, NULL, &out, &err), 0);
    ck_assert(strstr(out, "\"entries\":3,") != NULL && strstr(out, "\"topk\":5,") != NULL);
    free(out);
    free(err);
    ck_assert_int_eq(run_cmd((char *[]){AH_QUERY_BIN, snap, "--verify", NULL}, NULL, &out, &err),
                     0);
    ck_assert(strstr(out, ": ok (3 completions") != NULL);
    free(out);
    free(err);
    ck_assert_int_eq(
        run_cmd((char *[]){AH_QUERY_BIN, snap, "-k", "6", "a", NULL}, NULL, &out, &err), 2);
    free(out);
    free(err);
    ck_assert_int_eq(
        run_cmd((char *[]){AH_QUERY_BIN, "/nonexistent.snap", "a", NULL}, NULL, &out, &err), 1);
    ck_assert(strstr(err, "/nonexistent.snap") != NULL);
    free(out);
    free(err);
}
END_TEST

/*
 * Adds one line to a fresh aggregator from an exact-size heap copy (no NUL
 * after it, so that ASan reports any read past its end) and returns its
 * status; *count is the count the line's key ended with, when it was used.
 */
static ah_line_status_t add_exact_line(const char *line, uint64_t *count)
{
    size_t len = strlen(line);
    char *copy = malloc(len);
    memcpy(copy, line, len);
    ah_agg_t *agg = ah_agg_new(256);
    ck_assert_ptr_nonnull(agg);
    ah_line_status_t st;
    ck_assert_int_eq(ah_agg_add_line(agg, copy, len, &st), 0);
    free(copy);
    ah_entry_t *e;
    size_t n;
    ah_agg_counts_t counts;
    ck_assert_int_eq(ah_agg_finish(agg, 0, NULL, &e, &n, &counts), 0);
    ck_assert_uint_eq(n, st == AH_LINE_OK);
    *count = n ? e[0].score : 0;
    ah_agg_free(agg);
    return st;
}

START_TEST(test_count_leading_zeros_and_exact_buffer)
{
    static const struct {
        const char *line;
        ah_line_status_t status;
        uint64_t count;
    } cases[] = {
        {"a\t000000000000000000000000000001", AH_LINE_OK, 1}, /* 30 digits */
        {"a\t000000000000000000000000000000", AH_LINE_OK, 0},
        {"a\t000000000000000000000000000000000000000018446744073709551615", AH_LINE_OK, UINT64_MAX},
        {"a\t000000000018446744073709551616", AH_LINE_OVERFLOW, 0},
        {"a\t1111111111111111111111111", AH_LINE_OVERFLOW, 0},
        {"a\t0000000000000000000000000x", AH_LINE_COUNT, 0},
        {"a\t9999999999999999999999999x", AH_LINE_COUNT, 0},
        {"a\t42", AH_LINE_OK, 42},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t count;
        ah_line_status_t st = add_exact_line(cases[i].line, &count);
        ck_assert_msg(st == cases[i].status, "'%s': %s, expected %s", cases[i].line,
                      ah_line_status_str(st), ah_line_status_str(cases[i].status));
        ck_assert_msg(count == cases[i].count, "'%s': count %llu", cases[i].line,
                      (unsigned long long)count);
    }
}
END_TEST

/* Writes content to dir/name, gzip-compressed when gz is set. */
static void write_part(const char *dir, const char *name, const char *content, int gz)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!gz) {
        write_file(path, content, strlen(content));
        return;
    }
    gzFile f = gzopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    gzputs(f, content);
    gzclose(f);
}

START_TEST(test_part_file_directories)
{
    /* What DuckDB's COPY ... (FORMAT csv, DELIMITER '\t', COMPRESSION gzip,
     * PARTITION_BY ...) and Spark's df.write.csv(sep='\t') leave behind. */
    char dir[512], sub[600], tmp[600], snap[512], same[512], flat[512];
    scratch_path(dir, sizeof dir, "engine-out");
    snprintf(sub, sizeof sub, "%s/day=2026-12-01", dir);
    snprintf(tmp, sizeof tmp, "%s/_temporary", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' '%s'", dir, sub, tmp);
    ck_assert_int_eq(system(cmd), 0);
    write_part(sub, "data_0.csv.gz", "text\tcount\n\"say \"\"hi\"\"\"\t3\nnew york\t5\n", 1);
    write_part(dir, "part-00000-c000.csv", "\"say \\\"hi\\\"\"\t2\nnew york\t1\n\"\"\t4\n", 0);
    write_part(dir, "_SUCCESS", "", 0);
    write_part(dir, ".part-00000-c000.csv.crc", "crc\t9\n", 0);
    write_part(dir, "part-00000-c000.csv.crc", "crc\t9\n", 0);
    write_part(tmp, "part-00001.csv", "left over\t100\n", 0);
    scratch_path(snap, sizeof snap, "engine.snap");
    char *err, *out;
    ck_assert_int_eq(BUILD(NULL, &err, dir, "-o", snap), 0);
    /* The empty quoted text ("") is a bad line like any empty text; the header is not. */
    ck_assert_msg(strstr(err, "part-00000-c000.csv:3: skipped: empty text") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "1 part file header line skipped") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "skipped 1 bad line of 6") != NULL, "%s", err);
    free(err);
    out = query(snap, "10", "");
    ck_assert_str_eq(out, "new york\t6\nsay \"hi\"\t5\n");
    free(out);

    /* The same counts as one plain file give the same bytes; so does "dir/". */
    scratch_path(flat, sizeof flat, "engine-flat.snap");
    char *plain = scratch_file("engine-flat.tsv", "new york\t6\nsay \"hi\"\t5\n");
    ck_assert_int_eq(BUILD(NULL, &err, "-q", plain, "-o", flat), 0);
    free(err);
    assert_same_file(snap, flat);
    char slash[600];
    snprintf(slash, sizeof slash, "%s/", dir);
    scratch_path(same, sizeof same, "engine-slash.snap");
    ck_assert_int_eq(BUILD(NULL, &err, "-q", slash, "-o", same), 0);
    free(err);
    assert_same_file(snap, same);

    /* Outside a directory a line is taken literally: a header is a bad line, quotes stay. */
    char *lone = scratch_file("lone.tsv", "text\tcount\n\"say \"\"hi\"\"\"\t3\n");
    ck_assert_int_eq(BUILD(NULL, &err, lone, "-o", same), 0);
    ck_assert_msg(strstr(err, "lone.tsv:1: skipped: count is not") != NULL, "%s", err);
    free(err);
    out = query(same, "10", "");
    ck_assert_str_eq(out, "\"say \"\"hi\"\"\"\t3\n");
    free(out);

    /* A directory with nothing to read is an error, and so is one that cannot be read. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/* '%s'/.part-00000-c000.csv.crc", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    write_part(dir, "_SUCCESS", "", 0);
    ck_assert_int_eq(BUILD(NULL, &err, dir, "-o", same), 1);
    ck_assert_msg(strstr(err, "no part files") != NULL, "%s", err);
    free(err);
}
END_TEST

/* ah_part_line() on an exact-size copy of line; returns what it made and the line in out. */
static ah_part_line_t part_line(const char *line, int first, char *out, size_t outlen)
{
    size_t len = strlen(line), got = 0;
    char *copy = malloc(len ? len : 1), *buf = malloc(len ? len : 1);
    memcpy(copy, line, len);
    ah_part_line_t r = ah_part_line(copy, len, first, buf, &got);
    if (r == AH_PART_UNQUOTED) {
        ck_assert_uint_lt(got, outlen);
        memcpy(out, buf, got);
        out[got] = '\0';
    } else {
        snprintf(out, outlen, "%s", line);
    }
    free(copy);
    free(buf);
    return r;
}

START_TEST(test_part_lines)
{
    static const struct {
        const char *line;
        int first;
        ah_part_line_t result;
        const char *out;
    } cases[] = {
        {"text\tcount", 1, AH_PART_HEADER, "text\tcount"},
        {"query\tn_2", 1, AH_PART_HEADER, "query\tn_2"},
        {"text\tcount", 0, AH_PART_PLAIN, "text\tcount"}, /* a header only on line 1 */
        {"new york\t12", 1, AH_PART_PLAIN, "new york\t12"},
        {"a\t2x", 1, AH_PART_PLAIN, "a\t2x"}, /* not a column name */
        {"\"a \"\"b\"\" c\"\t3", 0, AH_PART_UNQUOTED, "a \"b\" c\t3"},
        {"\"a \\\"b\\\" c\\\\\"\t3", 0, AH_PART_UNQUOTED, "a \"b\" c\\\t3"},
        {"\"a, b\"\t1", 0, AH_PART_UNQUOTED, "a, b\t1"},
        {"\"\"\t1", 0, AH_PART_UNQUOTED, "\t1"},
        {"\"raw quoted line\"", 0, AH_PART_UNQUOTED, "raw quoted line"},
        {"\"x\" and \"y\"\t1", 0, AH_PART_PLAIN, "\"x\" and \"y\"\t1"}, /* QUOTE '': literal */
        {"\"open\t1", 0, AH_PART_PLAIN, "\"open\t1"},
        {"\"\t1", 0, AH_PART_PLAIN, "\"\t1"},
        {"", 1, AH_PART_PLAIN, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[256];
        ah_part_line_t r = part_line(cases[i].line, cases[i].first, out, sizeof out);
        ck_assert_msg(r == cases[i].result, "'%s': %d, expected %d", cases[i].line, r,
                      cases[i].result);
        ck_assert_str_eq(out, cases[i].out);
    }
}
END_TEST

START_TEST(test_weights)
{
    char *day = scratch_file("w-day.tsv", "shoes\t3\nsocks\t1\n");
    char *month = scratch_file("w-month.tsv", "shoes\t5\nsocks\t40\nhats\t1\n");
    char snap[512];
    scratch_path(snap, sizeof snap, "weights.snap");
    char *err, *out;
    /* shoes 4x3 + 0.5x5 (2.5 rounds to 3) = 15; socks 4 + 20 = 24; hats 0.5 rounds to 1. */
    ck_assert_int_eq(
        BUILD(NULL, &err, "-q", "--weight", "4", day, "--weight", "0.5", month, "-o", snap), 0);
    free(err);
    out = query(snap, "10", "");
    ck_assert_str_eq(out, "socks\t24\nshoes\t15\nhats\t1\n");
    free(out);
    /* The weight holds for every INPUT after it, "--" included; 1 is the default. */
    ck_assert_int_eq(BUILD(NULL, &err, "-q", day, "--weight", "2", "-o", snap, "--", month), 0);
    free(err);
    out = query(snap, "10", "");
    ck_assert_str_eq(out, "socks\t81\nshoes\t13\nhats\t2\n");
    free(out);
    /* Products round to 0 (reported) and saturate at 2^64 - 1. */
    char *big = scratch_file("w-big.tsv", "big\t18446744073709551615\nsmall\t1\n");
    ck_assert_int_eq(BUILD(NULL, &err, "--weight", "0.4", day, "--weight", "3", big, "-o", snap),
                     0);
    ck_assert_msg(strstr(err, "1 line counted 0 after --weight") != NULL, "%s", err);
    free(err);
    out = query(snap, "10", "");
    ck_assert_str_eq(out, "big\t18446744073709551615\nsmall\t3\nshoes\t1\n");
    free(out);
    static const char *bad[] = {"0", "-1", "nan", "inf", "1x", "", "1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(BUILD(NULL, &err, "--weight", (char *)bad[i], day, "-o", snap), 2);
        ck_assert_msg(strstr(err, "--weight must be a number greater than 0") != NULL, "%s", err);
        free(err);
    }
}
END_TEST

/*
 * --size-budget: smaller word-start leaves and more hot nodes where the
 * snapshot has room, said in the summary; none at 0 or where there is
 * none; the same answers.
 */
START_TEST(test_size_budget)
{
    static const char *words[] = {"santa", "san", "sant", "saint", "sandra", "sanders",
                                  "del",   "de",  "la",   "las",   "rio",    "monte"};
    size_t cap = 600000, len = 0;
    char *log = malloc(cap);
    uint64_t seed = 31;
    for (int i = 0; i < 10000; i++) { /* enough that the tries take over 512K */
        const char *a = words[test_rand(&seed) % 12], *b = words[test_rand(&seed) % 12];
        len += (size_t)snprintf(log + len, cap - len, "%s %s %s %d\t%d\n", a, b,
                                words[test_rand(&seed) % 12], i, 1 + i % 17);
    }
    char *in = scratch_file("phrases.tsv", log);
    free(log);
    char roomy[512], none[512];
    scratch_path(roomy, sizeof roomy, "budget-roomy.snap");
    scratch_path(none, sizeof none, "budget-none.snap");
    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "--size-budget", "100", in, "-o", roomy), 0);
    ck_assert_msg(strstr(err, "within --size-budget 100.0: smaller word-start leaves, four times "
                              "the hot nodes\n"),
                  "%s", err);
    free(err);
    /* Under a small --memory: the same bytes. */
    char seq[512];
    scratch_path(seq, sizeof seq, "budget-seq.snap");
    ck_assert_int_eq(BUILD(NULL, &err, "--size-budget", "100", "--memory", "1M", in, "-o", seq), 0);
    ck_assert_msg(strstr(err, "within --size-budget 100.0: smaller word-start leaves, four times "
                              "the hot nodes\n"),
                  "%s", err);
    free(err);
    assert_same_file(roomy, seq);
    /* A --hot-nodes given is kept. */
    ck_assert_int_eq(BUILD(NULL, &err, "--size-budget", "100", "--hot-nodes", "3", in, "-o", none),
                     0);
    ck_assert_msg(strstr(err, "within --size-budget 100.0: smaller word-start leaves\n"), "%s",
                  err);
    free(err);
    /* subtlex is over the budget at depth 5: its smaller leaves fit only at depth 4. */
    char sub[512];
    ck_assert_ptr_nonnull(dataset_path("subtlex-us.tsv", sub, sizeof sub));
    ck_assert_int_eq(BUILD(NULL, &err, sub, "-o", seq), 0);
    ck_assert_msg(strstr(err, "within --size-budget 2.5: smaller word-start leaves (for them, the "
                              "typo index one level shallower), four times the hot nodes\n"),
                  "%s", err);
    free(err);
    static const char *never[] = {"0", "1"}; /* 1: no room beyond the exact index */
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(BUILD(NULL, &err, "--size-budget", (char *)never[i], in, "-o", none), 0);
        ck_assert_msg(!strstr(err, "--size-budget"), "%s", err);
        free(err);
    }
    static const char *typed[] = {"sant", "del rio", "rio mon", "snata", "de la s", "monte 1"};
    for (size_t i = 0; i < sizeof typed / sizeof *typed; i++) {
        char *a = query(roomy, "10", typed[i]), *b = query(none, "10", typed[i]);
        ck_assert_msg(a[0] != 0, "nothing for %s", typed[i]);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
    }
    static const char *bad[] = {"-1", "nan", "x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(BUILD(NULL, &err, "--size-budget", (char *)bad[i], in, "-o", none), 2);
        ck_assert_msg(strstr(err, "--size-budget must be a number from 0") != NULL, "%s", err);
        free(err);
    }
}
END_TEST

START_TEST(test_blocklist_comments_and_hash_terms)
{
    char *in = scratch_file("hash.tsv", "#tag\t5\ntag\t4\n#other\t3\nc#\t2\n");
    /* A comment with invalid UTF-8 is still a comment; "\\#tag" blocks the term "#tag". */
    char *bl = scratch_file("hash-bl.txt", "  # comment \xff\xfe not UTF-8\n\t#other\n\\#tag\n");
    char snap[512], *err;
    scratch_path(snap, sizeof snap, "hash.snap");
    ck_assert_int_eq(BUILD(NULL, &err, "--blocklist", bl, in, "-o", snap), 0);
    ck_assert_msg(strstr(err, "1 blocked") != NULL, "summary: %s", err);
    free(err);
    char *out = query(snap, "10", "");
    ck_assert_str_eq(out, "tag\t4\n#other\t3\nc#\t2\n");
    free(out);
    /* The library's view: two comments skipped, one term loaded. */
    ah_blocklist_t *list;
    char msg[256];
    ck_assert_int_eq(ah_blocklist_load(bl, &list, msg, sizeof msg), 0);
    ck_assert_uint_eq(ah_blocklist_size(list), 1);
    ck_assert(ah_blocklist_match(list, "#tag", 4));
    ck_assert(!ah_blocklist_match(list, "tag", 3));
    ah_blocklist_free(list);
}
END_TEST

/*
 * Writes a log of groups of keys that share a long prefix: every group's
 * node has the same mass (ties at any hot-node threshold) and a label of
 * about prefix_len bytes (as many hot prefixes). Returns the path.
 */
static char *tied_groups_log(const char *name, unsigned groups, unsigned per_group,
                             unsigned prefix_len)
{
    static char path[512];
    scratch_path(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (unsigned g = 0; g < groups; g++)
        for (unsigned k = 0; k < per_group; k++) {
            fprintf(f, "%c%c%c", 'a' + g % 26, 'a' + g / 26 % 26, 'a' + g / 676 % 26);
            for (unsigned i = 3; i < prefix_len; i++)
                fputc('x', f);
            fprintf(f, "%c\t7\n", 'a' + k);
        }
    fclose(f);
    return path;
}

START_TEST(test_hot_table_ties_and_long_labels)
{
    static const struct {
        unsigned groups, per_group, prefix_len;
        const char *k, *hot_nodes; /* NULL: the default */
    } cases[] = {
        {660, 11, 242, "10", NULL}, /* issue 9: "out of memory" with default options */
        {660, 11, 242, "1", "4000"},
        {4000, 2, 30, "1", "6000"}, /* more ties at the 2,048th node than the table holds */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char *log =
            tied_groups_log("tied.tsv", cases[c].groups, cases[c].per_group, cases[c].prefix_len);
        char snap[512], *err, msg[256];
        scratch_path(snap, sizeof snap, "tied.snap");
        int status = cases[c].hot_nodes
                         ? BUILD(NULL, &err, "-q", "-k", (char *)cases[c].k, "--hot-nodes",
                                 (char *)cases[c].hot_nodes, log, "-o", snap)
                         : BUILD(NULL, &err, "-q", "-k", (char *)cases[c].k, log, "-o", snap);
        ck_assert_msg(status == 0, "case %zu: %s", c, err);
        free(err);
        ah_index_t *ix;
        ck_assert_int_eq(ah_index_open(snap, &ix, msg, sizeof msg), 0);
        ck_assert_msg(ah_index_verify(ix, msg, sizeof msg) == 0, "case %zu: %s", c, msg);
        /* Every prefix of a few groups' keys, hot or not, answers as the oracle does. */
        oracle_t o;
        oracle_load(&o, log, 0);
        unsigned k = (unsigned)atoi(cases[c].k);
        for (size_t e = 0; e < o.n; e += o.n / 7)
            for (uint32_t l = 0; l <= o.e[e].key_len; l++)
                oracle_check_prefix(&o, ix, o.e[e].key, l, k);
        oracle_free(&o);
        ah_index_close(ix);
    }
}
END_TEST

/* ---------------------------------------------------------------- spilling (--memory, --threads)
 */

/*
 * A log whose surface forms spill at --memory 1M in many runs: texts of
 * several scripts in case and spacing variants (several forms per key),
 * repeated with Zipf-like frequency so that one form is in many runs, tied
 * counts, bare lines, contexts on a third of the lines, and a bad line now
 * and then.
 */
static void spill_log(const char *path, uint64_t seed, unsigned lines)
{
    enum { BASES = 9000 };
    static char base[BASES][160];
    for (unsigned i = 0; i < BASES; i++)
        test_random_text(&seed, base[i], sizeof base[i]);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (unsigned i = 0; i < lines; i++) {
        uint64_t r = test_rand(&seed);
        unsigned b =
            (unsigned)((r % BASES) * (r % BASES) / BASES); /* the first bases repeat most */
        char text[200];
        snprintf(text, sizeof text, "%s", base[b]);
        switch (test_rand(&seed) % 4) { /* a variant of the form */
        case 0:
            text[0] = (char)(text[0] >= 'a' && text[0] <= 'z' ? text[0] - 32 : text[0]);
            break;
        case 1: {
            char *sp = strchr(text, ' ');
            if (sp)
                memmove(sp + 1, sp, strlen(sp) + 1);
            break;
        }
        case 2: /* one key in many forms: each letter's case at random (a long run of texts) */
            if (i % 4 == 0) {
                snprintf(text, sizeof text, "%s", "many forms of one phrase");
                for (char *c = text; *c; c++)
                    if (*c >= 'a' && *c <= 'z' && test_rand(&seed) % 2)
                        *c = (char)(*c - 32);
            }
            break;
        default:
            break;
        }
        unsigned kind = (unsigned)(test_rand(&seed) % 16);
        if (kind == 0)
            fprintf(f, "%s\tnot-a-count\n", text);
        else if (kind < 3)
            fprintf(f, "%s\n", text);
        else if (kind < 9)
            fprintf(f, "%s\t%u\n", text, (unsigned)(test_rand(&seed) % 8) * 5);
        else
            fprintf(f, "%s\t%u\tc%u,c%u\n", text, (unsigned)(test_rand(&seed) % 1000),
                    (unsigned)(test_rand(&seed) % 40), (unsigned)(test_rand(&seed) % 40));
    }
    fclose(f);
}

/* Builds args (NULL-terminated, without -o) into out; returns the build's stderr. */
static char *build_args(char **args, const char *out)
{
    char *argv[32];
    size_t n = 0;
    argv[n++] = AH_BUILD_BIN;
    for (; *args; args++)
        argv[n++] = *args;
    argv[n++] = "-o";
    argv[n++] = (char *)out;
    argv[n] = NULL;
    char *err;
    int status = run_cmd(argv, NULL, NULL, &err);
    ck_assert_msg(status == 0, "ahead-build failed: %s", err);
    return err;
}

/* 1 when ahead-build's summary says it read its completions from temporary files. */
static int completions_from_disk(const char *err)
{
    const char *at = strstr(err, "of which the completions read from disk ");
    return at && strtod(at + strlen("of which the completions read from disk "), NULL) > 0;
}

START_TEST(test_memory_budget_and_threads_same_bytes)
{
    /* The same bytes with and without --memory, for 1 to 3 threads: random logs with
     * weights, --min-count, a blocklist and contexts, spilled in many runs and merged
     * in several passes, their typo index built in parts. */
    char log_a[512], log_b[512], block[512], want[512], got[512], tmp[512];
    scratch_path(log_a, sizeof log_a, "spill-a.tsv");
    scratch_path(log_b, sizeof log_b, "spill-b.tsv");
    scratch_path(block, sizeof block, "spill-block.txt");
    scratch_path(want, sizeof want, "spill-want.snap");
    scratch_path(got, sizeof got, "spill-got.snap");
    crash_dir(tmp, sizeof tmp, "spill-tmp");
    for (uint64_t seed = 1; seed <= 2; seed++) {
        spill_log(log_a, seed * 7919, 50000);
        spill_log(log_b, seed * 104729, 20000);
        write_file(block, "c1\nzz\n", 6);
        char *base[] = {"--min-count", "3",   "--blocklist", block, log_a,
                        "--weight",    "2.5", log_b,         NULL};
        free(build_args(base, want));
        static const char *const budgets[][2] = {{"1M", "1"}, {"1M", "2"}, {"1M", "3"},
                                                 {"3M", "2"}, {NULL, "1"}, {NULL, "3"}};
        for (size_t i = 0; i < sizeof budgets / sizeof *budgets; i++) {
            char *args[16] = {"--min-count", "3",         "--blocklist",
                              block,         "--threads", (char *)budgets[i][1],
                              "--tmpdir",    tmp};
            size_t n = 8;
            if (budgets[i][0]) {
                args[n++] = "--memory";
                args[n++] = (char *)budgets[i][0];
            }
            args[n++] = log_a;
            args[n++] = "--weight";
            args[n++] = "2.5";
            args[n++] = log_b;
            args[n] = NULL;
            char *err = build_args(args, got);
            if (budgets[i][0] && strcmp(budgets[i][0], "1M") == 0)
                ck_assert_msg(strstr(err, "sorted runs") && !strstr(err, " 0 merge passes") &&
                                  completions_from_disk(err),
                              "--memory 1M did not spill, merge in passes and map the "
                              "completions: %s",
                              err);
            free(err);
            assert_same_file(want, got);
            char left[4096];
            dir_leftovers(tmp, "", left, sizeof left);
            ck_assert_msg(left[0] == 0, "left in --tmpdir: %s", left);
        }
    }
}
END_TEST

START_TEST(test_memory_budget_on_datasets)
{
    /* The shipped datasets (and npm-downloads where it is, outside the sanitizer build,
     * where it would take minutes) spilled at a small budget, and their typo index built
     * in parts (ah_writer__grams_begin): the same bytes. */
    static const char *const sets[][2] = {
        {"es-ngrams.tsv.gz", "16M"}, {"subtlex-us.tsv", "4M"}, {"npm-downloads.tsv.gz", "256M"}};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        char path[512], want[512], got[512];
        if (!dataset_path(sets[i][0], path, sizeof path)) {
            printf("test_memory_budget_on_datasets: %s skipped: not in data/ or ../shared/data\n",
                   sets[i][0]);
            continue;
        }
#if defined(__SANITIZE_ADDRESS__)
        if (i == 2) {
            printf("test_memory_budget_on_datasets: %s skipped in the sanitizer build (minutes)\n",
                   sets[i][0]);
            continue;
        }
#endif
        scratch_path(want, sizeof want, "spill-set-want.snap");
        scratch_path(got, sizeof got, "spill-set-got.snap");
        free(build_args((char *[]){"--threads", "1", path, NULL}, want));
        char *err = build_args(
            (char *[]){"--memory", (char *)sets[i][1], "--threads", "2", path, NULL}, got);
        ck_assert_msg(strstr(err, "sorted runs") && completions_from_disk(err),
                      "%s did not spill and map its completions: %s", sets[i][0], err);
        free(err);
        assert_same_file(want, got);
    }
}
END_TEST

/* The builder's open files that are unnamed temporary files in dir (O_TMPFILE or unlinked). */
static int unnamed_files_in(pid_t pid, const char *dir)
{
    char fds[64], link[600], target[1024];
    snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(fds);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        snprintf(link, sizeof link, "%s/%s", fds, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = 0;
        n += strncmp(target, dir, strlen(dir)) == 0 && strstr(target, "(deleted)") != NULL;
    }
    if (d)
        closedir(d);
    return n;
}

START_TEST(test_spill_files_never_left)
{
    /* Spill files have no name from start to end: --tmpdir stays empty during a build,
     * after it succeeds, after it fails on an unreadable input in the middle (a damaged
     * .gz after a spilling file), and after SIGTERM or SIGKILL while it spills. */
    char tmp[512], log[512], bad[512], snap[512], left[4096];
    crash_dir(tmp, sizeof tmp, "spill-never");
    scratch_path(log, sizeof log, "spill-never.tsv");
    scratch_path(bad, sizeof bad, "spill-never-bad.gz");
    scratch_path(snap, sizeof snap, "spill-never.snap");
    spill_log(log, 99, 400000);
    gzFile gz = gzopen(bad, "wb");
    for (int i = 0; i < 20000; i++)
        gzprintf(gz, "damaged gzip line %d\t%d\n", i, i);
    gzclose(gz);
    truncate(bad, 3000); /* the stream ends in the middle: a read error */

    char *err;
    ck_assert_int_eq(BUILD(NULL, &err, "--memory", "1M", "--tmpdir", tmp, log, bad, "-o", snap), 1);
    ck_assert_msg(strstr(err, "sorted runs") == NULL && strstr(err, "gz") != NULL,
                  "no read error reported: %s", err);
    free(err);
    dir_leftovers(tmp, "", left, sizeof left);
    ck_assert_msg(left[0] == 0, "left in --tmpdir after a failure: %s", left);
    ck_assert_int_eq(access(snap, F_OK), -1);

    for (int sig = 0; sig < 2; sig++) {
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
            freopen("/dev/null", "w", stderr);
            execl(AH_BUILD_BIN, AH_BUILD_BIN, "--memory", "1M", "--tmpdir", tmp, log, log, log,
                  "-o", snap, (char *)NULL);
            _exit(127);
        }
        /* Wait until it holds a spill file (or ends), then look at the folder and kill it. */
        int seen = 0, status;
        for (int i = 0; i < 20000 && !seen && waitpid(pid, &status, WNOHANG) == 0; i++) {
            seen = unnamed_files_in(pid, tmp) > 0;
            if (!seen)
                usleep(1000);
        }
        ck_assert_msg(seen, "the build never held a spill file in %s", tmp);
        dir_leftovers(tmp, "", left, sizeof left);
        ck_assert_msg(left[0] == 0, "a spill file has a name: %s", left);
        kill(pid, sig == 0 ? SIGTERM : SIGKILL);
        waitpid(pid, &status, 0);
        dir_leftovers(tmp, "", left, sizeof left);
        ck_assert_msg(left[0] == 0, "left in --tmpdir after signal %d: %s", sig, left);
    }
    ck_assert_int_eq(BUILD(NULL, &err, "-q", "--memory", "1M", "--tmpdir", tmp, log, "-o", snap),
                     0);
    free(err);
    dir_leftovers(tmp, "", left, sizeof left);
    ck_assert_msg(left[0] == 0, "left in --tmpdir after success: %s", left);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("builder");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_aggregation_and_display);
    tcase_add_test(tc, test_blocklist_and_min_count);
    tcase_add_test(tc, test_bad_lines_skipped_and_reported);
    tcase_add_test(tc, test_gzip_stdin_and_many_inputs);
    tcase_add_test(tc, test_option_errors);
    tcase_add_test(tc, test_deterministic_output);
    tcase_add_test(tc, test_pinned_bytes);
    tcase_add_test(tc, test_query_cli);
    tcase_add_test(tc, test_count_leading_zeros_and_exact_buffer);
    tcase_add_test(tc, test_blocklist_comments_and_hash_terms);
    tcase_add_test(tc, test_hot_table_ties_and_long_labels);
    tcase_add_test(tc, test_part_file_directories);
    tcase_add_test(tc, test_part_lines);
    tcase_add_test(tc, test_weights);
    tcase_add_test(tc, test_size_budget);
    suite_add_tcase(s, tc);
    TCase *crash = tcase_create("crash");
    tcase_set_timeout(crash, 300);
    tcase_add_test(crash, test_killed_builds_leave_old_or_nothing);
    tcase_add_test(crash, test_stale_temporary_files_swept);
    tcase_add_test(crash, test_file_size_limit);
    tcase_add_test(crash, test_full_disk);
    suite_add_tcase(s, crash);
    TCase *spill = tcase_create("spill");
    tcase_set_timeout(spill, 600);
    tcase_add_test(spill, test_memory_budget_and_threads_same_bytes);
    tcase_add_test(spill, test_memory_budget_on_datasets);
    tcase_add_test(spill, test_spill_files_never_left);
    suite_add_tcase(s, spill);
    return run_suite(s);
}
