/* SPDX-License-Identifier: MIT */
/*
 * check_hotswap.c: zero-downtime reloads and graceful shutdown of the real
 * ahead-serve, under load from wrk.
 *
 * Hot swap, once per trigger (SIGHUP, POST /admin/reload, --watch): wrk
 * keeps 16 keep-alive connections busy for a few seconds while the test
 * replaces the served file (atomically, by rename) more than 20 times,
 * alternating two snapshots with different answers, plus a few corrupt
 * files of several kinds. After each good swap the answers must be the new
 * snapshot's (compared with the library's own answer); after each corrupt
 * one, the old snapshot must still be serving and the failure counted.
 * wrk must then report zero non-2xx answers and zero socket errors, and
 * once the load stops the process must map exactly one snapshot file again
 * (read from /proc/PID/maps).
 *
 * Writes in place: the same load while the served file itself is written
 * into (scribbled over, truncated, rewritten the way cp does): the server
 * must copy its snapshot out of the file before any write lands, so that it
 * neither crashes (SIGBUS on a truncated mapping) nor serves altered bytes,
 * and must refuse to load a file another process still has open for writing.
 *
 * Not a file: a FIFO renamed over the served file, seen by --watch or
 * reloaded through the admin API, is refused at once with "not a regular
 * file"; the old snapshot keeps serving, the admin API keeps answering and
 * SIGTERM still ends the process (opening the FIFO once blocked the control
 * thread for good).
 *
 * Watch re-arm: --watch keeps working when the watched directory is
 * replaced (moved away or removed, then created again) and when a symlink on
 * the path is re-pointed to another directory, the usual deploy: the server
 * ends up serving the new directory's snapshot and logs the re-arm; and
 * when inotify's queue overflows (events lost), every index is reloaded.
 *
 * Files gone: the served file deleted and its folder removed keep the old
 * answers (reloads fail, counted, with the reason) until a valid file is
 * back; a file on a disk with a bad sector (a FUSE stand-in) is refused, at
 * start and at a reload, with the system's reason; a server killed with SIGKILL in the middle of a
 * reload and started again serves the file at its path.
 *
 * Shutdown: an idle keep-alive connection is closed at once, a burst of
 * pipelined requests gets only complete responses, new connections are
 * refused while draining, and the process exits 0 within --grace-ms. A
 * control thread that never returns (held stopped with ptrace) does not keep
 * the process alive past the grace period: it exits 1 and says why.
 */
#include <arpa/inet.h>
#include <check.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ahead.h"
#include "check_server_harness.h"

/*
 * wrk loads the server from before the first swap until after the last one,
 * when it is stopped (about 2.5 s per trigger on an idle machine). Its own
 * limit, LOAD_MAX_SECONDS, only bounds a test gone wrong: on a busy machine
 * the swaps take longer, and the load lasts as long as they do.
 */
#define LOAD_MAX_SECONDS "60"
#define GOOD_SWAPS       21
#define CORRUPT_EVERY    5
#define SWAP_INTERVAL_MS 85 /* 26 swaps: about 2.2 s */

enum { TRIGGER_SIGHUP, TRIGGER_ADMIN, TRIGGER_WATCH };

static char g_dir[256];
static char g_snap[2][512]; /* two good snapshots with different answers */
static char g_top[2][256];  /* the top completion of "th" in each */
static char g_id[2][17];
static char g_corrupt[5][512];
static const char *const g_corrupt_kind[5] = {"truncated", "flipped byte", "empty", "garbage",
                                              "wrong version"};

/* Writes the first 20,000 sample lines with their counts replaced by the line number. */
static void write_reversed(const char *src, const char *dst)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    char line[4096];
    long n = 0;
    ck_assert(in != NULL && out != NULL);
    while (fgets(line, sizeof(line), in) != NULL && n < 20000) {
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            continue;
        fprintf(out, "%.*s\t%ld\n", (int)(tab - line), line, ++n);
    }
    fclose(in);
    fclose(out);
}

static void write_bytes(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(len == 0 || fwrite(p, 1, len, f) == len);
    fclose(f);
}

static void make_corrupt(const char *good)
{
    size_t size;
    char *buf = ts_read_file(good, &size);
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < 5; i++)
        snprintf(g_corrupt[i], sizeof(g_corrupt[i]), "%s/corrupt-%d.snap", g_dir, i);
    write_bytes(g_corrupt[0], buf, size / 2);
    buf[size / 2] ^= 0x5a;
    write_bytes(g_corrupt[1], buf, size);
    buf[size / 2] ^= 0x5a;
    write_bytes(g_corrupt[2], buf, 0);
    write_bytes(g_corrupt[3], "AHEADIDX\x01\x00\x00\x00 not really", 22);
    buf[8] = 99; /* the format version field */
    write_bytes(g_corrupt[4], buf, size);
    free(buf);
}

static void top_of(const char *snap, char *top, size_t len, char *id)
{
    ah_index_t *idx;
    ah_completion_t c[1];
    char text[AH_COMPLETE_TEXT_BYTES(1)];
    size_t n = 0;
    ah_index_stats_t st;
    ck_assert_int_eq(ah_index_open(snap, &idx, NULL, 0), 0);
    ck_assert_int_eq(ah_index_complete(idx, "th", 2, 1, c, text, sizeof(text), &n), 0);
    ck_assert_int_eq(n, 1);
    snprintf(top, len, "%.*s", (int)c[0].text_len, c[0].text);
    ah_index_stats(idx, &st);
    memcpy(id, st.id_hex, 17);
    ah_index_close(idx);
}

static void fixture_setup(void)
{
    char sample[512], reversed[512];
    ts_tmpdir(g_dir, sizeof(g_dir));
    ck_assert_ptr_nonnull(ts_sample_tsv(sample, sizeof(sample)));
    snprintf(reversed, sizeof(reversed), "%s/reversed.tsv", g_dir);
    write_reversed(sample, reversed);
    snprintf(g_snap[0], sizeof(g_snap[0]), "%s/a.snap", g_dir);
    snprintf(g_snap[1], sizeof(g_snap[1]), "%s/b.snap", g_dir);
    ck_assert_int_eq(ts_build(sample, g_snap[0], 0), 0);
    ck_assert_int_eq(ts_build(reversed, g_snap[1], 0), 0);
    top_of(g_snap[0], g_top[0], sizeof(g_top[0]), g_id[0]);
    top_of(g_snap[1], g_top[1], sizeof(g_top[1]), g_id[1]);
    ck_assert_str_ne(g_top[0], g_top[1]);
    make_corrupt(g_snap[0]);
}

static void fixture_teardown(void)
{
    ts_rmtree(g_dir);
}

/* ------------------------------------------------------------------- wrk */

typedef struct wrk_run {
    pid_t pid;
    char out[600];
} wrk_run_t;

static void wrk_start(wrk_run_t *w, const ts_server_t *s)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/v1/complete", s->url);
    snprintf(w->out, sizeof(w->out), "%s/wrk-%d.out", g_dir, s->port);
    ck_assert_msg(AH_WRK_BIN[0] != '\0', "wrk is not installed");
    w->pid = fork();
    ck_assert(w->pid >= 0);
    if (w->pid == 0) {
        int fd = open(w->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        char dur[16];
        snprintf(dur, sizeof(dur), "%ss", LOAD_MAX_SECONDS);
        execl(AH_WRK_BIN, "wrk", "-t1", "-c16", "-d", dur, "-s", AH_TESTS_DIR "/hotswap.lua", url,
              (char *)NULL);
        _exit(127);
    }
}

/*
 * Stops wrk (SIGINT: it prints its summary and exits 0), after checking that
 * it was still running, so the load covered everything before; checks the
 * summary line and returns the request count.
 */
static long wrk_finish(wrk_run_t *w)
{
    int st;
    ck_assert_msg(waitpid(w->pid, &st, WNOHANG) == 0,
                  "wrk ended (after " LOAD_MAX_SECONDS " s?) before the swaps did");
    kill(w->pid, SIGINT);
    ck_assert_int_eq(waitpid(w->pid, &st, 0), w->pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wrk failed");
    FILE *f = fopen(w->out, "r");
    char line[1024];
    long req = -1, resp = -1, non2xx = -1, conn = -1, rd = -1, wr = -1, status = -1, to = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "AHEAD ", 6) == 0)
            sscanf(line,
                   "AHEAD requests=%ld responses=%ld non2xx=%ld connect=%ld read=%ld write=%ld "
                   "status=%ld timeout=%ld",
                   &req, &resp, &non2xx, &conn, &rd, &wr, &status, &to);
    }
    if (f != NULL)
        fclose(f);
    ck_assert_msg(req > 0, "no summary from wrk (see %s)", w->out);
    ck_assert_msg(non2xx == 0 && status == 0, "%ld non-2xx answers under hot swap", non2xx);
    ck_assert_msg(conn == 0 && rd == 0 && wr == 0 && to == 0,
                  "socket errors under hot swap: connect %ld read %ld write %ld timeout %ld", conn,
                  rd, wr, to);
    return req;
}

/* -------------------------------------------------------------- swapping */

/* The snapshot id serving "th" right now, and its top completion. */
static int current(const ts_server_t *s, char *id, char *top, size_t toplen)
{
    ts_resp_t r;
    int ok = 0;
    if (ts_get(s->url, "/v1/complete?q=th&k=1", &r) == 0 && r.status == 200) {
        cJSON *j = cJSON_Parse(r.body);
        const char *sid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "snapshot"));
        cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "suggestions"), 0);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(first, "text"));
        if (sid != NULL && t != NULL) {
            snprintf(id, 17, "%s", sid);
            snprintf(top, toplen, "%s", t);
            ok = 1;
        }
        cJSON_Delete(j);
    }
    ts_resp_free(&r);
    return ok;
}

static double failed_reloads(ts_server_t *s)
{
    return ts_metric(s, "ahead_reloads_total{index=\"default\",result=\"failed\"}");
}

static void trigger(ts_server_t *s, int how, int expect_ok)
{
    ts_resp_t r;
    switch (how) {
    case TRIGGER_SIGHUP:
        kill(s->pid, SIGHUP);
        break;
    case TRIGGER_ADMIN:
        ck_assert_int_eq(ts_admin(s, "POST", "/admin/reload?index=default", &r), 0);
        ck_assert_msg(expect_ok ? r.status == 200 : r.status == 422, "admin reload gave %ld: %s",
                      r.status, r.body);
        ts_resp_free(&r);
        break;
    default:
        break; /* the rename itself is the trigger */
    }
}

/* The server still answers from snapshot `which`. */
static void assert_serving(ts_server_t *s, int which)
{
    char id[17], top[256];
    ck_assert(current(s, id, top, sizeof(top)));
    ck_assert_str_eq(id, g_id[which]);
    ck_assert_str_eq(top, g_top[which]);
}

/* Waits until the server answers from snapshot `which`. */
static void wait_serving(ts_server_t *s, int which)
{
    char id[17], top[256];
    for (double t0 = ts_now_ms();; ts_sleep_ms(2)) {
        ck_assert(current(s, id, top, sizeof(top)));
        if (strcmp(id, g_id[which]) == 0)
            break;
        ck_assert_msg(ts_now_ms() - t0 < 5000, "%s not serving after 5 s (server log %s)",
                      g_id[which], s->log);
    }
    ck_assert_str_eq(top, g_top[which]);
}

/* Installs snapshot `which` and waits until the server answers from it. */
static void swap_good(ts_server_t *s, const char *live, int how, int which)
{
    ck_assert_int_eq(ts_install(g_snap[which], live), 0);
    trigger(s, how, 1);
    wait_serving(s, which);
}

/* Installs a corrupt file; the reload must fail and the old snapshot keep serving. */
static void swap_corrupt(ts_server_t *s, const char *live, int how, int kind, int serving)
{
    double before = failed_reloads(s);
    ck_assert_int_eq(ts_install(g_corrupt[kind], live), 0);
    trigger(s, how, 0);
    for (double t0 = ts_now_ms(); failed_reloads(s) <= before; ts_sleep_ms(2))
        ck_assert_msg(ts_now_ms() - t0 < 5000, "failed reload of a %s file not counted",
                      g_corrupt_kind[kind]);
    assert_serving(s, serving);
}

static void hot_swap_under_load(int how)
{
    static const char *const names[] = {"sighup", "admin", "watch"};
    char sub[512], live[600];
    ts_server_t s;
    wrk_run_t w;

    /* Each trigger gets its own directory: --watch watches the whole directory. */
    snprintf(sub, sizeof(sub), "%s/%s", g_dir, names[how]);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(live, sizeof(live), "%s/live.snap", sub);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    /*
     * SIGHUP swaps snapshots mapped from their files, which lets the test
     * count them in /proc; the others serve private copies (the default).
     */
    int mapped_files = how == TRIGGER_SIGHUP;
    const char *args[] = {"--threads", "2", live, NULL, NULL, NULL, NULL};
    if (mapped_files) {
        args[2] = "--snapshot-memory";
        args[3] = "map";
        args[4] = live;
    } else if (how == TRIGGER_WATCH) {
        args[2] = "--watch";
        args[3] = live;
    }
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);
    ck_assert_msg(ts_server_check_identity(&s, "default", live), "not our server");

    wrk_start(&w, &s);
    ts_sleep_ms(200); /* let wrk connect */
    double t0 = ts_now_ms();
    int serving = 0, corrupt = 0;
    for (int good = 0; good < GOOD_SWAPS;) {
        /* Spread the swaps over the load rather than bunching them at its start. */
        double due = t0 + (good + corrupt) * SWAP_INTERVAL_MS;
        if (ts_now_ms() < due)
            ts_sleep_ms((int)(due - ts_now_ms()));
        if ((good + corrupt) % CORRUPT_EVERY == CORRUPT_EVERY - 1) {
            swap_corrupt(&s, live, how, corrupt % 5, serving);
            corrupt++;
            continue;
        }
        serving = 1 - serving;
        swap_good(&s, live, how, serving);
        good++;
    }
    double swaps_ms = ts_now_ms() - t0;
    ts_sleep_ms(100); /* requests on the last snapshot too */
    long requests = wrk_finish(&w);
    ck_assert_msg(requests > 1000, "only %ld requests under load", requests);
    ck_assert_int_ge(corrupt, 4);

    /* Memory returns to one snapshot once nothing references the old ones. */
    int mapped = -1;
    for (double t1 = ts_now_ms(); ts_now_ms() - t1 < 3000; ts_sleep_ms(20)) {
        mapped = ts_count_mapped(s.pid, sub);
        if (mapped == mapped_files)
            break;
    }
    ck_assert_msg(mapped == mapped_files, "%d snapshot files still mapped after the swaps (%d)",
                  mapped, mapped_files);
    ck_assert(ts_metric(&s, "ahead_snapshots_mapped") == 1);
    ck_assert(ts_metric(&s, "ahead_reloads_total{index=\"default\",result=\"ok\"}") >= GOOD_SWAPS);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    fprintf(stderr, "hot swap (%s): %d good swaps and %d corrupt in %.0f ms under %ld requests\n",
            names[how], GOOD_SWAPS, corrupt, swaps_ms, requests);
    unlink(s.log);
}

START_TEST(test_hot_swap_sighup)
{
    hot_swap_under_load(TRIGGER_SIGHUP);
}
END_TEST

START_TEST(test_hot_swap_admin)
{
    hot_swap_under_load(TRIGGER_ADMIN);
}
END_TEST

START_TEST(test_hot_swap_watch)
{
    hot_swap_under_load(TRIGGER_WATCH);
}
END_TEST

/* --------------------------------------------------------- writes in place */

/* Opens live for writing as cp does (O_TRUNC) and writes src's bytes; returns the open fd. */
static int rewrite_open(const char *src, const char *live)
{
    size_t len;
    char *buf = ts_read_file(src, &len);
    ck_assert_ptr_nonnull(buf);
    int fd = open(live, O_WRONLY | O_TRUNC);
    ck_assert_msg(fd >= 0, "open %s: %s", live, strerror(errno));
    ck_assert(write(fd, buf, len) == (ssize_t)len);
    free(buf);
    return fd;
}

static double detaches(ts_server_t *s)
{
    return ts_metric(s, "ahead_snapshot_detaches_total{index=\"default\"}");
}

/* 1 when this file system grants read leases (the server then relies on them). */
static int leases_work(const char *path)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    int ok = fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
    if (!ok)
        fprintf(stderr, "writes in place: not tested, no read lease on %s: %s\n", path,
                strerror(errno));
    close(fd);
    return ok;
}

/*
 * Loop 0: the snapshot mapped from its file (--snapshot-memory map), which
 * each write in place makes the server copy into memory first; loop 1: a
 * private copy from the start (the default), which no write can touch.
 */
START_TEST(test_write_in_place)
{
    enum { ROUNDS = 8 };
    char sub[512], live[600];
    ts_server_t s;
    wrk_run_t w;
    int copied = _i;

    snprintf(sub, sizeof(sub), "%s/in-place-%d", g_dir, copied);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(live, sizeof(live), "%s/live.snap", sub);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    if (!leases_work(live))
        return; /* the server warns at load in that case; nothing more to test */
    const char *args[] = {"--threads", "2", "--snapshot-memory", copied ? "copy" : "map", "--watch",
                          live,        NULL};
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);
    ck_assert_msg(ts_server_check_identity(&s, "default", live), "not our server");

    wrk_start(&w, &s);
    ts_sleep_ms(200);
    int serving = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double failed = failed_reloads(&s);
        if (round % 2 == 0) {
            /* Same size, a damaged middle: its close makes --watch reload, which must fail. */
            int fd = open(live, O_WRONLY);
            ck_assert_int_ge(fd, 0);
            struct stat st;
            ck_assert_int_eq(fstat(fd, &st), 0);
            static const char junk[4096] = "scribbled over";
            ck_assert(pwrite(fd, junk, sizeof(junk), st.st_size / 2) == (ssize_t)sizeof(junk));
            close(fd);
            for (double t0 = ts_now_ms(); failed_reloads(&s) <= failed; ts_sleep_ms(2))
                ck_assert_msg(ts_now_ms() - t0 < 5000, "failed reload not counted");
        } else {
            /* Cut to a tenth: any lookup still reading the file would die of SIGBUS. */
            struct stat st;
            ck_assert_int_eq(stat(live, &st), 0);
            ck_assert_int_eq(truncate(live, st.st_size / 10), 0);
        }
        assert_serving(&s, serving);
        ck_assert_msg(detaches(&s) == (copied ? 0 : round + 1), "%.0f detaches after %d writes",
                      detaches(&s), round + 1);
        /* Rewritten whole, as cp does: --watch loads it. */
        serving = 1 - serving;
        close(rewrite_open(g_snap[serving], live));
        wait_serving(&s, serving);
    }

    /* A file still open for writing is not loaded, whatever it holds so far. */
    int writer = rewrite_open(g_snap[1 - serving], live);
    ts_resp_t r;
    ck_assert_int_eq(ts_admin(&s, "POST", "/admin/reload?index=default", &r), 0);
    ck_assert_msg(r.status == 422 && strstr(r.body, "open for writing") != NULL,
                  "reload of a file open for writing gave %ld: %s", r.status, r.body);
    ts_resp_free(&r);
    assert_serving(&s, serving);
    close(writer); /* and once it is closed, --watch loads it */
    serving = 1 - serving;
    wait_serving(&s, serving);

    long requests = wrk_finish(&w);
    ck_assert_msg(requests > 1000, "only %ld requests under load", requests);
    ck_assert_int_eq(ts_count_mapped(s.pid, sub), copied ? 0 : 1);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    fprintf(stderr, "writes in place (%s): %d rounds under %ld requests, no error\n",
            copied ? "copy" : "map", ROUNDS, requests);
    unlink(s.log);
}
END_TEST

/* ------------------------------------------------------- non-regular files */

/*
 * An admin request that must answer within ADMIN_ANSWER_MS: the control
 * plane may be slow on a busy machine, never stuck (curl alone would wait 15 s).
 */
#define ADMIN_ANSWER_MS 5000

static void admin_within(ts_server_t *s, const char *method, const char *path, ts_resp_t *r)
{
    double t0 = ts_now_ms();
    ck_assert_msg(ts_admin(s, method, path, r) == 0, "%s %s: no answer (control plane stuck?)",
                  method, path);
    ck_assert_msg(ts_now_ms() - t0 < ADMIN_ANSWER_MS, "%s %s took %.0f ms", method, path,
                  ts_now_ms() - t0);
}

/* The last_error /admin/indexes reports for the index "default" holds text. */
static int last_error_has(ts_server_t *s, const char *text)
{
    ts_resp_t r;
    admin_within(s, "GET", "/admin/indexes", &r);
    int found =
        r.status == 200 && strstr(r.body, "\"last_error\"") != NULL && strstr(r.body, text) != NULL;
    ts_resp_free(&r);
    return found;
}

/* Puts a FIFO at live the safe way (mkfifo a temporary name, rename it over live). */
static void install_fifo(const char *dir, const char *live)
{
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s/.tmp-fifo", dir);
    ck_assert_int_eq(mkfifo(tmp, 0644), 0);
    ck_assert_int_eq(rename(tmp, live), 0);
}

/*
 * A FIFO renamed over the served file: opening it for reading would wait for
 * a writer forever, and did, in the control thread, holding the reload lock.
 * The reload must be refused at once, the old snapshot keep serving, the admin
 * API keep answering, and SIGTERM end the process within its grace period.
 */
static void fifo_at_snapshot_path(int watch)
{
    enum { GRACE_MS = 2000, EXIT_MARGIN_MS = 3000 };
    char sub[512], live[600];
    ts_server_t s;
    ts_resp_t r;

    snprintf(sub, sizeof(sub), "%s/fifo-%s", g_dir, watch ? "watch" : "admin");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(live, sizeof(live), "%s/live.snap", sub);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    const char *args[] = {"--threads", "1", "--grace-ms", "2000", live, NULL, NULL};
    if (watch) {
        args[4] = "--watch";
        args[5] = live;
    }
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);
    ck_assert_msg(ts_server_check_identity(&s, "default", live), "not our server");

    double failed = failed_reloads(&s);
    install_fifo(sub, live);
    if (watch) {
        /* --watch sees the rename and tries the FIFO on its own. */
        for (double t0 = ts_now_ms(); !last_error_has(&s, "not a regular file"); ts_sleep_ms(20))
            ck_assert_msg(ts_now_ms() - t0 < ADMIN_ANSWER_MS,
                          "--watch did not refuse the FIFO (log %s)", s.log);
        ck_assert(failed_reloads(&s) > failed);
    }
    admin_within(&s, "POST", "/admin/reload?index=default", &r);
    ck_assert_msg(r.status == 422 && strstr(r.body, "not a regular file") != NULL,
                  "reload of a FIFO gave %ld: %s", r.status, r.body);
    ts_resp_free(&r);
    ck_assert(last_error_has(&s, "not a regular file"));
    ck_assert(ts_log_contains(&s, "not a regular file"));
    assert_serving(&s, 0);

    /* The control plane is free: a good file still loads. */
    ck_assert_int_eq(ts_install(g_snap[1], live), 0);
    if (!watch) {
        admin_within(&s, "POST", "/admin/reload?index=default", &r);
        ck_assert_int_eq(r.status, 200);
        ts_resp_free(&r);
    }
    wait_serving(&s, 1);

    /* And a FIFO left in place does not hold the shutdown either. */
    install_fifo(sub, live);
    double elapsed = 0;
    int status = ts_server_stop(&s, SIGTERM, GRACE_MS + EXIT_MARGIN_MS, &elapsed);
    ck_assert_msg(status == 0, "exit status %d after SIGTERM (log %s)", status, s.log);
    fprintf(stderr, "FIFO at the snapshot path (%s): refused, exit %.0f ms after SIGTERM\n",
            watch ? "--watch" : "admin", elapsed);
    unlink(s.log);
}

START_TEST(test_fifo_watch)
{
    fifo_at_snapshot_path(1);
}
END_TEST

START_TEST(test_fifo_admin)
{
    fifo_at_snapshot_path(0);
}
END_TEST

/* ----------------------------------------------------------- watch re-arm */

/* The id of pid's thread named name (/proc/PID/task/TID/comm), or -1. */
static pid_t thread_named(pid_t pid, const char *name)
{
    char path[320], comm[32];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    pid_t found = -1;
    for (struct dirent *e; d != NULL && found < 0 && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL && fgets(comm, sizeof(comm), f) != NULL &&
            strncmp(comm, name, strlen(name)) == 0 && comm[strlen(name)] == '\n')
            found = (pid_t)atoi(e->d_name);
        if (f != NULL)
            fclose(f);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/*
 * How long a deploy that replaces the watched directory may take to be
 * noticed: the watch checks its directories every second; the rest is margin
 * for a busy machine.
 */
#define REARM_MAX_MS 10000

/* Waits up to REARM_MAX_MS until the server answers from snapshot `which`. */
static void wait_serving_rearmed(ts_server_t *s, int which)
{
    char id[17] = "", top[256];
    for (double t0 = ts_now_ms();; ts_sleep_ms(20)) {
        if (current(s, id, top, sizeof(top)) && strcmp(id, g_id[which]) == 0)
            break;
        ck_assert_msg(ts_now_ms() - t0 < REARM_MAX_MS,
                      "still serving %s, not %s, after %d ms (server log %s)", id, g_id[which],
                      REARM_MAX_MS, s->log);
    }
    ck_assert_str_eq(top, g_top[which]);
}

/* The deploy: a new directory takes the old one's name (mv dir dir.old; mkdir dir). */
START_TEST(test_watch_directory_replaced)
{
    char sub[512], dir[600], old[700], live[700];
    ts_server_t s;

    snprintf(sub, sizeof(sub), "%s/replaced", g_dir);
    snprintf(dir, sizeof(dir), "%s/data", sub);
    snprintf(old, sizeof(old), "%s/data.old", sub);
    snprintf(live, sizeof(live), "%s/live.snap", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    const char *args[] = {"--threads", "1", "--watch", live, NULL};
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);
    ck_assert_msg(ts_server_check_identity(&s, "default", live), "not our server");

    ck_assert_int_eq(rename(dir, old), 0);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(ts_install(g_snap[1], live), 0);
    wait_serving_rearmed(&s, 1);
    ck_assert_msg(ts_log_contains(&s, "re-armed"), "no re-arm logged (log %s)", s.log);

    /* The new directory is the one watched now: a rename into it is seen. */
    ck_assert_int_eq(ts_install(g_snap[0], live), 0);
    wait_serving_rearmed(&s, 0);

    /* And the directory removed outright, then created again with a snapshot in it. */
    ck_assert_int_eq(unlink(live), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    ts_sleep_ms(300);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(ts_install(g_snap[1], live), 0);
    wait_serving_rearmed(&s, 1);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
}
END_TEST

/* Waits (up to REARM_MAX_MS) until the server has counted `n` failed reloads. */
static void wait_failed_reloads(ts_server_t *s, double n)
{
    for (double t0 = ts_now_ms(); failed_reloads(s) < n; ts_sleep_ms(20))
        ck_assert_msg(ts_now_ms() - t0 < REARM_MAX_MS, "reload failure %g not counted (log %s)", n,
                      s->log);
}

/*
 * The served file deleted, then its folder removed: the server keeps its
 * mapping and its answers, reloads fail with a reason and are counted, and
 * once a valid file is back it serves that.
 */
START_TEST(test_served_file_and_folder_removed)
{
    char sub[512], dir[600], live[700];
    ts_server_t s;
    ts_resp_t r;

    snprintf(sub, sizeof(sub), "%s/removed", g_dir);
    snprintf(dir, sizeof(dir), "%s/data", sub);
    snprintf(live, sizeof(live), "%s/live.snap", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    /* Mapped from their files, so that /proc shows the deleted one going. */
    const char *args[] = {"--threads", "2", "--snapshot-memory", "map", live, NULL};
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);

    ck_assert_int_eq(unlink(live), 0);
    assert_serving(&s, 0);
    kill(s.pid, SIGHUP);
    wait_failed_reloads(&s, 1);
    assert_serving(&s, 0);
    ck_assert_int_eq(rmdir(dir), 0);
    kill(s.pid, SIGHUP);
    wait_failed_reloads(&s, 2);
    assert_serving(&s, 0);
    ck_assert_msg(ts_log_contains(&s, "No such file or directory"), "no reason logged (log %s)",
                  s.log);
    ck_assert_int_eq(ts_get(s.url, "/readyz", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);

    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(ts_install(g_snap[1], live), 0);
    kill(s.pid, SIGHUP);
    wait_serving_rearmed(&s, 1);
    /* The deleted file's mapping goes once nothing references it. */
    int mapped = -1;
    for (double t1 = ts_now_ms(); ts_now_ms() - t1 < REARM_MAX_MS; ts_sleep_ms(20))
        if ((mapped = ts_count_mapped(s.pid, sub)) == 1)
            break;
    ck_assert_msg(mapped == 1, "%d snapshot files still mapped", mapped);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
}
END_TEST

static void repoint_symlink(const char *target, const char *link);

/*
 * A disk with a bad sector: the snapshot's file sits on a FUSE file system
 * (tests/eio_fs.c) that fails every read of one byte with EIO, in the
 * middle or in the header. Started on it, the server refuses it and says
 * why; reloading onto it, the server keeps the old snapshot and says why;
 * ahead-query --verify too. No read ever reaches the bad sector through the
 * mapping (that would be SIGBUS).
 */
START_TEST(test_unreadable_disk)
{
    char sub[512], mnt[600], bad[2][700], live[600], good[600], fs_log[600];
    ts_server_t s;

    if (AH_EIO_FS_BIN[0] == 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
        printf("check_hotswap: read errors: %s: skipped\n",
               AH_EIO_FS_BIN[0] ? "no /dev/fuse here" : "built without libfuse3");
        return;
    }
    snprintf(sub, sizeof(sub), "%s/eio", g_dir);
    snprintf(mnt, sizeof(mnt), "%s/mnt", sub);
    snprintf(bad[0], sizeof(bad[0]), "%s/bad-middle", mnt);
    snprintf(bad[1], sizeof(bad[1]), "%s/bad-header", mnt);
    snprintf(live, sizeof(live), "%s/live.snap", sub);
    snprintf(good, sizeof(good), "%s/good.snap", sub);
    snprintf(fs_log, sizeof(fs_log), "%s/eio_fs.log", sub);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(mkdir(mnt, 0755), 0);
    struct stat st;
    ck_assert_int_eq(stat(g_snap[1], &st), 0);
    char offset[32];
    snprintf(offset, sizeof(offset), "%lld", (long long)st.st_size / 2);
    pid_t fs = fork();
    ck_assert(fs >= 0);
    if (fs == 0) {
        int fd = open(fs_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(AH_EIO_FS_BIN, AH_EIO_FS_BIN, mnt, g_snap[1], offset, (char *)NULL);
        _exit(127);
    }
    int mounted = 0;
    for (double t0 = ts_now_ms(); ts_now_ms() - t0 < 10000; ts_sleep_ms(20)) {
        if ((mounted = access(bad[0], R_OK) == 0) || waitpid(fs, NULL, WNOHANG) == fs)
            break;
    }
    if (!mounted) {
        char *why = ts_read_file(fs_log, NULL);
        printf("check_hotswap: read errors: cannot mount a FUSE file system here (%s): skipped\n",
               why ? strtok(why, "\n") : "?");
        free(why);
        kill(fs, SIGKILL);
        waitpid(fs, NULL, 0);
        return;
    }

    char err[4096];
    ck_assert_int_eq(ts_copy(g_snap[0], good), 0);
    ck_assert_int_eq(symlink(good, live), 0);
    const char *args[] = {"--threads", "2", live, NULL};
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);
    for (int b = 0; b < 2; b++) {
        const char *on_bad[] = {"--listen", "127.0.0.1:0", "--admin-listen", "off", bad[b], NULL};
        int rc = ts_run_server_expect_exit(on_bad, err, sizeof(err), 20000);
        ck_assert_msg(rc == 1 && strstr(err, bad[b]) && strstr(err, "Input/output error"),
                      "started on %s: exit %d, %s", bad[b], rc, err);
        char cmd[2048];
        snprintf(cmd, sizeof(cmd), "%s '%s' --verify 2>&1", AH_QUERY_BIN, bad[b]);
        FILE *q = popen(cmd, "r");
        size_t got = q ? fread(err, 1, sizeof(err) - 1, q) : 0;
        err[got] = 0;
        int status = q ? pclose(q) : -1;
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
                          strstr(err, "Input/output error"),
                      "ahead-query --verify %s: status %d, %s", bad[b], status, err);
        repoint_symlink(bad[b], live);
        kill(s.pid, SIGHUP);
        wait_failed_reloads(&s, b + 1);
        assert_serving(&s, 0);
    }
    ck_assert_msg(ts_log_contains(&s, "Input/output error"), "no reason logged (log %s)", s.log);
    ck_assert_int_eq(ts_copy(g_snap[1], good), 0);
    repoint_symlink(good, live);
    kill(s.pid, SIGHUP);
    wait_serving_rearmed(&s, 1);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);

    kill(fs, SIGTERM); /* unmounts and exits */
    waitpid(fs, NULL, 0);
    umount2(mnt, MNT_DETACH);
}
END_TEST

/*
 * A server killed with SIGKILL in the middle of a reload (from the SIGHUP to
 * 30 ms after it), then started again on the same path, serves the file that
 * is there: a reload writes nothing that a crash could leave half done.
 */
START_TEST(test_killed_during_reload)
{
    static const int delay_us[] = {0, 200, 1000, 3000, 10000, 30000};
    char sub[512], live[600];
    ts_server_t s;

    snprintf(sub, sizeof(sub), "%s/killed", g_dir);
    snprintf(live, sizeof(live), "%s/live.snap", sub);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    const char *args[] = {"--threads", "2", live, NULL};
    int which = 0;
    for (unsigned i = 0; i < sizeof(delay_us) / sizeof(delay_us[0]); i++) {
        ck_assert_msg(ts_server_start(&s, args) == 0, "start %u failed; log %s", i, s.log);
        assert_serving(&s, which);
        which = !which;
        ck_assert_int_eq(ts_install(g_snap[which], live), 0);
        kill(s.pid, SIGHUP);
        usleep((useconds_t)delay_us[i]);
        ck_assert_int_eq(ts_server_stop(&s, SIGKILL, 10000, NULL), 128 + SIGKILL);
        unlink(s.log);
    }
    ck_assert_msg(ts_server_start(&s, args) == 0, "last start failed; log %s", s.log);
    assert_serving(&s, which);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
}
END_TEST

/* Points link at target the way ln -sfn does: a new symlink renamed over the old one. */
static void repoint_symlink(const char *target, const char *link)
{
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s.tmp", link);
    ck_assert_int_eq(symlink(target, tmp), 0);
    ck_assert_int_eq(rename(tmp, link), 0);
}

/*
 * The other deploy: the server reads releases/current/live.snap and current
 * is re-pointed from one release directory to the next. Nothing happens in
 * the old directory, so no event reaches a watch on it.
 */
START_TEST(test_watch_symlink_repointed)
{
    char sub[512], rel[2][600], current[600], live[700], file[700];
    ts_server_t s;

    snprintf(sub, sizeof(sub), "%s/releases", g_dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(rel[i], sizeof(rel[i]), "%s/r%d", sub, i + 1);
        ck_assert_int_eq(mkdir(rel[i], 0755), 0);
    }
    snprintf(current, sizeof(current), "%s/current", sub);
    ck_assert_int_eq(symlink("r1", current), 0);
    snprintf(live, sizeof(live), "%s/live.snap", current);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    const char *args[] = {"--threads", "1", "--watch", live, NULL};
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);
    ck_assert_msg(ts_server_check_identity(&s, "default", live), "not our server");

    snprintf(file, sizeof(file), "%s/live.snap", rel[1]);
    ck_assert_int_eq(ts_copy(g_snap[1], file), 0);
    repoint_symlink("r2", current);
    wait_serving_rearmed(&s, 1);
    ck_assert_msg(ts_log_contains(&s, "re-armed"), "no re-arm logged (log %s)", s.log);

    /* The watch follows the link: a file replaced in the new release is seen. */
    ck_assert_int_eq(ts_install(g_snap[0], live), 0);
    wait_serving_rearmed(&s, 0);

    /* Back to the first release, given snapshot 1 meanwhile (unwatched then). */
    snprintf(file, sizeof(file), "%s/live.snap", rel[0]);
    ck_assert_int_eq(ts_install(g_snap[1], file), 0);
    repoint_symlink("r1", current);
    wait_serving_rearmed(&s, 1);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
}
END_TEST

/*
 * Events lost: the control thread is held stopped (ptrace) while more events
 * than the inotify queue holds pile up, and the new snapshot is renamed in
 * after that, so its own event is dropped. IN_Q_OVERFLOW must reload it.
 */
START_TEST(test_watch_queue_overflow)
{
    char sub[512], live[600], noise[600];
    ts_server_t s;
    long max_events = 0;
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    if (f == NULL || fscanf(f, "%ld", &max_events) != 1 || max_events > 1000000) {
        fprintf(stderr, "inotify overflow: not tested, queue limit %ld\n", max_events);
        if (f != NULL)
            fclose(f);
        return;
    }
    fclose(f);
    snprintf(sub, sizeof(sub), "%s/overflow", g_dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(live, sizeof(live), "%s/live.snap", sub);
    ck_assert_int_eq(ts_copy(g_snap[0], live), 0);
    const char *args[] = {"--threads", "1", "--watch", live, NULL};
    ck_assert_msg(ts_server_start(&s, args) == 0, "server did not start; log %s", s.log);
    ck_assert_msg(ts_server_check_identity(&s, "default", live), "not our server");

    pid_t tid = thread_named(s.pid, "ahead-control");
    ck_assert_msg(tid > 0, "no thread named ahead-control in %d", (int)s.pid);
    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0) {
        fprintf(stderr, "inotify overflow: not tested, ptrace refused: %s\n", strerror(errno));
        ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
        return;
    }
    int st;
    ck_assert_int_eq(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL), 0);
    ck_assert_int_eq(waitpid(tid, &st, __WALL), tid);
    /* Two names in turn: the kernel merges an event identical to the one before it. */
    for (long i = 0; i < max_events + 16; i++) {
        snprintf(noise, sizeof(noise), "%s/noise-%ld", sub, i % 2);
        int fd = open(noise, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    ck_assert_int_eq(ts_install(g_snap[1], live), 0);
    ck_assert_int_eq(ptrace(PTRACE_DETACH, tid, NULL, NULL), 0);

    wait_serving_rearmed(&s, 1);
    ck_assert_msg(ts_log_contains(&s, "overflowed"), "no overflow logged (log %s)", s.log);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
    unlink(s.log);
}
END_TEST

/* ---------------------------------------------------------------- shutdown */

static int connect_to(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Reads until EOF; returns the byte count (-1 on a timeout) and the data in buf. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r == 0)
            break;
        if (r < 0)
            return errno == ECONNRESET ? (ssize_t)n : -1;
        n += (size_t)r;
        if (n == cap - 1)
            break;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

/*
 * Counts the HTTP/1.1 responses in buf; -1 when one is cut short. (No
 * ck_assert in the loop: each one costs Check a message to its parent.)
 */
static int complete_responses(const char *buf, size_t len)
{
    int count = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        /* memmem on a bounded window: strstr under ASan measures the whole buffer each call. */
        size_t window = (size_t)(end - p) < 4096 ? (size_t)(end - p) : 4096;
        const char *hdr_end = memmem(p, window, "\r\n\r\n", 4);
        const char *cl = memmem(p, window, "Content-Length: ", 16);
        if (hdr_end == NULL || cl == NULL || cl > hdr_end)
            return -1;
        long body = atol(cl + 16);
        if (hdr_end + 4 + body > end)
            return -1;
        p = hdr_end + 4 + body;
        count++;
    }
    return count;
}

START_TEST(test_graceful_shutdown)
{
    char dir[256], snap[512];
    static char buf[16 << 20];
    ts_server_t s;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/g.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    const char *args[] = {"--threads", "2", "--grace-ms", "3000", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    ck_assert(ts_server_check_identity(&s, "default", snap));

    /* An idle keep-alive connection. */
    int idle = connect_to(s.port, 0);
    ck_assert_int_ge(idle, 0);
    const char get[] = "GET /v1/complete?q=th HTTP/1.1\r\nHost: t\r\n\r\n";
    ck_assert(write(idle, get, sizeof(get) - 1) == (ssize_t)(sizeof(get) - 1));
    ck_assert_int_gt(read(idle, buf, sizeof(buf)), 0);

    /* An HTTP/2 connection (prior knowledge), which keeps the drain going about a second. */
    int h2 = connect_to(s.port, 0);
    static const char preface[] =
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    ck_assert(write(h2, preface, sizeof(preface) - 1) == (ssize_t)(sizeof(preface) - 1));
    ck_assert_int_gt(read(h2, buf, sizeof(buf)), 0);

    /*
     * A burst of pipelined requests in flight when the signal lands: as many
     * as the socket takes without blocking. The server answers until our
     * receive buffer is full, so it is in the middle of a response then.
     * The answers (about 0.75 MB) must be read within the drain's first
     * phase (worker.c), which a loaded machine does with a wide margin.
     */
    enum { BURST = 2000 };
    int busy = connect_to(s.port, 4096);
    static char burst[BURST * 64];
    size_t blen = 0, sent = 0;
    for (int i = 0; i < BURST; i++)
        blen += (size_t)sprintf(
            burst + blen, "GET /v1/complete?q=%c&k=10 HTTP/1.1\r\nHost: t\r\n\r\n", 'a' + i % 26);
    fcntl(busy, F_SETFL, O_NONBLOCK);
    for (ssize_t w; sent < blen && (w = write(busy, burst + sent, blen - sent)) > 0;)
        sent += (size_t)w;
    ts_sleep_ms(50);
    fcntl(busy, F_SETFL, 0);
    ck_assert_int_gt(sent, 0);

    pid_t pid = s.pid;
    double t0 = ts_now_ms();
    ck_assert_int_eq(kill(pid, SIGTERM), 0);

    /* The idle connection is closed at once, not at the 10 s request timeout. */
    ssize_t n = read_all(idle, buf, sizeof(buf));
    ck_assert_int_eq(n, 0);
    ck_assert_msg(ts_now_ms() - t0 < 1000, "idle connection closed after %.0f ms",
                  ts_now_ms() - t0);
    /* The pipelined connection gets whole responses only. */
    n = read_all(busy, buf, sizeof(buf));
    ck_assert_int_ge(n, 0);
    int responses = complete_responses(buf, (size_t)n);
    ck_assert_msg(responses >= 1,
                  "a response was cut short (%zd bytes read, %.0f ms after SIGTERM)", n,
                  ts_now_ms() - t0);

    /* While draining (the HTTP/2 connection is still open), new connections are refused. */
    ts_sleep_ms(100);
    ck_assert_msg(kill(pid, 0) == 0, "the server exited before draining HTTP/2");
    int late = connect_to(s.port, 0);
    ck_assert_msg(late < 0 && errno == ECONNREFUSED,
                  "a new connection was accepted while draining");

    double elapsed = 0;
    int status = ts_server_stop(&s, 0, 5000, &elapsed); /* signal 0: just wait */
    ck_assert_msg(status == 0, "exit status %d", status);
    ck_assert_msg(ts_now_ms() - t0 < 3000 + 500, "took %.0f ms, more than --grace-ms",
                  ts_now_ms() - t0);
    close(idle);
    close(h2);
    close(busy);
    unlink(s.log);
    fprintf(stderr,
            "graceful shutdown: %d of %d pipelined requests answered in full, exit after %.0f ms\n",
            responses, (int)(sent / (blen / BURST)), ts_now_ms() - t0);
    ts_rmtree(dir);
}
END_TEST

/*
 * A control thread that never comes back (here held stopped by ptrace, as a
 * reload stuck in the kernel would be): SIGTERM must still end the process
 * within the grace period, with a line that says why, and not wait forever
 * to join that thread. Only that one thread is stopped; the others run.
 */
START_TEST(test_shutdown_control_stuck)
{
    enum { GRACE_MS = 1000, EXIT_MARGIN_MS = 4000 };
    char dir[256], snap[512];
    ts_server_t s;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/g.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    const char *args[] = {"--threads", "1", "--grace-ms", "1000", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    ck_assert(ts_server_check_identity(&s, "default", snap));

    pid_t tid = thread_named(s.pid, "ahead-control");
    ck_assert_msg(tid > 0, "no thread named ahead-control in %d", (int)s.pid);
    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0) {
        fprintf(stderr, "stuck control thread: not tested, ptrace refused: %s\n", strerror(errno));
        ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 10000, NULL), 0);
        ts_rmtree(dir);
        return;
    }
    int st;
    ck_assert_int_eq(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL), 0);
    ck_assert_int_eq(waitpid(tid, &st, __WALL), tid);
    ck_assert(WIFSTOPPED(st));

    double t0 = ts_now_ms();
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    /* The stopped thread is ours to reap (as its tracer) before its process is. */
    int reaped = 0, thread_gone = 0;
    while (!reaped && ts_now_ms() - t0 < GRACE_MS + EXIT_MARGIN_MS) {
        if (!thread_gone && waitpid(tid, &st, __WALL | WNOHANG) == tid)
            thread_gone = WIFEXITED(st) || WIFSIGNALED(st);
        if (waitpid(s.pid, &st, WNOHANG) == s.pid)
            reaped = 1;
        else
            ts_sleep_ms(5);
    }
    double elapsed = ts_now_ms() - t0;
    if (!reaped) {
        kill(s.pid, SIGKILL);
        ck_abort_msg("still running %.0f ms after SIGTERM with its control thread stuck (log %s)",
                     elapsed, s.log);
    }
    s.pid = 0;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
    ck_assert_msg(elapsed >= GRACE_MS - 50, "exited after %.0f ms, before the grace period",
                  elapsed);
    ck_assert_msg(ts_log_contains(&s, "control thread"), "no line says why (log %s)", s.log);
    fprintf(stderr, "stuck control thread: exit 1 after %.0f ms (grace %d ms)\n", elapsed,
            GRACE_MS);
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

static Suite *hotswap_suite(void)
{
    Suite *s = suite_create("hotswap");
    TCase *swap = tcase_create("swap");
    tcase_add_unchecked_fixture(swap, fixture_setup, fixture_teardown);
    /* 2.5 s each when idle, up to 20 s with both cores busy elsewhere: a wide margin. */
    tcase_set_timeout(swap, 120);
    tcase_add_test(swap, test_hot_swap_sighup);
    tcase_add_test(swap, test_hot_swap_admin);
    tcase_add_test(swap, test_hot_swap_watch);
    tcase_add_loop_test(swap, test_write_in_place, 0, 2);
    tcase_add_test(swap, test_killed_during_reload);
    suite_add_tcase(s, swap);
    TCase *files = tcase_create("files");
    tcase_add_unchecked_fixture(files, fixture_setup, fixture_teardown);
    tcase_set_timeout(files, 120);
    tcase_add_test(files, test_fifo_watch);
    tcase_add_test(files, test_fifo_admin);
    tcase_add_test(files, test_watch_directory_replaced);
    tcase_add_test(files, test_served_file_and_folder_removed);
    tcase_add_test(files, test_unreadable_disk);
    tcase_add_test(files, test_watch_symlink_repointed);
    tcase_add_test(files, test_watch_queue_overflow);
    suite_add_tcase(s, files);
    TCase *shut = tcase_create("shutdown");
    tcase_set_timeout(shut, 60);
    tcase_add_test(shut, test_graceful_shutdown);
    tcase_add_test(shut, test_shutdown_control_stuck);
    suite_add_tcase(s, shut);
    return s;
}

int main(void)
{
    return ts_run_suite(hotswap_suite());
}
