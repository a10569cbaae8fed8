/* SPDX-License-Identifier: MIT */
/*
 * check_reliability.c: ahead-serve against hostile and broken clients,
 * hostile files and a saturated machine (issue 9), with the real server on
 * real sockets:
 *
 *   - errors libh2o raises before our handlers (413, 400) are our JSON;
 *   - an answer is valid UTF-8 JSON whatever bytes a snapshot holds;
 *   - the admin listener refuses web pages (Origin, Sec-Fetch-Site, a Host
 *     that is a name: DNS rebinding), takes its token from a file or the
 *     environment, hides a command-line token, and refuses to listen off
 *     loopback without one;
 *   - the connection cap queues further clients, the request timeout ends
 *     idle and slow-header connections;
 *   - out of descriptors, the server neither spins nor stops answering;
 *   - with every core saturated, reloads and /metrics still answer;
 *   - start, swap and stop, many times over, end cleanly.
 *
 * Time bounds are generous (seconds): they separate "works" from "starved"
 * or "hung", not fast from slow.
 */
#include "check_server_harness.h"
#include "reseal.h"

#include <cJSON.h>
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts a server on data/sample.tsv with extra args; dir gets the snapshot. */
static void start_sample(ts_server_t *s, char *dir, size_t dirlen, char *snap, size_t snaplen,
                         const char *const *extra)
{
    const char *args[32];
    int n = 0;
    ts_tmpdir(dir, dirlen);
    snprintf(snap, snaplen, "%s/sample.snap", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    args[n++] = "--threads";
    args[n++] = "1";
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
        args[n++] = extra[i];
    args[n++] = snap;
    args[n] = NULL;
    ck_assert_msg(ts_server_start(s, args) == 0, "server did not start (log %s)", s->log);
}

static void stop_and_clean(ts_server_t *s, const char *dir)
{
    ck_assert_int_eq(ts_server_stop(s, SIGTERM, 15000, NULL), 0);
    unlink(s->log);
    ts_rmtree(dir);
}

/* Sends raw bytes on a new connection and returns what came back before the close (or 5 s). */
static size_t raw_exchange(int port, const char *req, size_t len, char *out, size_t cap,
                           int *closed)
{
    int fd = ts_connect(port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, req, len), (ssize_t)len);
    size_t n = ts_recv(fd, out, cap, 5000, closed);
    close(fd);
    return n;
}

/* The JSON body of a raw HTTP/1.1 answer, parsed; its status into *status. */
static cJSON *parse_answer(const char *raw, int *status)
{
    *status = 0;
    sscanf(raw, "HTTP/1.1 %d", status);
    const char *body = strstr(raw, "\r\n\r\n");
    return body != NULL ? cJSON_Parse(body + 4) : NULL;
}

static const char *error_code(cJSON *j)
{
    cJSON *e = cJSON_GetObjectItem(j, "error");
    cJSON *c = e != NULL ? cJSON_GetObjectItem(e, "code") : NULL;
    return cJSON_IsString(c) ? c->valuestring : "";
}

/* ---------------------------------------------------------- early errors */

START_TEST(test_early_errors_are_json)
{
    char dir[256], snap[512], out[4096];
    ts_server_t s;
    int status, closed;
    start_sample(&s, dir, sizeof(dir), snap, sizeof(snap), NULL);

    static const char too_big[] = "POST /v1/complete?q=a HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 100000\r\n\r\n";
    raw_exchange(s.port, too_big, sizeof(too_big) - 1, out, sizeof(out), &closed);
    cJSON *j = parse_answer(out, &status);
    ck_assert_int_eq(status, 413);
    ck_assert_ptr_nonnull(strstr(out, "application/json"));
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_str_eq(error_code(j), "payload_too_large");
    cJSON_Delete(j);

    static const char bad_framing[] = "POST /v1/complete?q=a HTTP/1.1\r\nHost: x\r\n"
                                      "Transfer-Encoding: gzip\r\n\r\n";
    raw_exchange(s.port, bad_framing, sizeof(bad_framing) - 1, out, sizeof(out), &closed);
    j = parse_answer(out, &status);
    ck_assert_int_eq(status, 400);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_str_eq(error_code(j), "bad_request");
    cJSON_Delete(j);

    /* The admin listener's early errors are JSON too. */
    raw_exchange(s.admin_port, too_big, sizeof(too_big) - 1, out, sizeof(out), &closed);
    j = parse_answer(out, &status);
    ck_assert_int_eq(status, 413);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    cJSON_Delete(j);

    /*
     * What libh2o cannot parse gets its own fixed text/plain 400, written
     * straight to the socket (no hook; docs/operating.md), and a close.
     */
    static const char garbage[] = "\x01\x02 not http\r\n\r\n";
    raw_exchange(s.port, garbage, sizeof(garbage) - 1, out, sizeof(out), &closed);
    ck_assert_msg(strncmp(out, "HTTP/1.1 400 ", 13) == 0, "%s", out);
    ck_assert_int_eq(closed, 1);

    ts_resp_t r;
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=a", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    stop_and_clean(&s, dir);
}
END_TEST

/* ------------------------------------------------------- hostile content */

/* 1 when s/len is well-formed UTF-8 (lead bytes and continuation counts; enough here). */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], more;
        if (c < 0x80)
            more = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c >= 0xe0 && c <= 0xef)
            more = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            more = 3;
        else
            return 0;
        if (len - i <= more)
            return 0;
        for (unsigned k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        }
        i += more + 1;
    }
    return 1;
}

START_TEST(test_answers_are_utf8_whatever_the_file_holds)
{
    char dir[256], tsv[512], snap[512];
    ts_server_t s;
    ts_resp_t r;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(tsv, sizeof(tsv), "%s/u.tsv", dir);
    snprintf(snap, sizeof(snap), "%s/u.snap", dir);
    FILE *f = fopen(tsv, "w");
    fputs("Zqxwv Marker\t100\nzqxwv other\t50\nhello\t10\n", f);
    fclose(f);
    ck_assert_int_eq(ts_build(tsv, snap, 0), 0);

    /* Every "Zqxwv Marker" in the file gets a 0xFF byte; the CRCs are made to hold again. */
    size_t len, patched = 0;
    unsigned char *bytes = (unsigned char *)ts_read_file(snap, &len);
    for (size_t i = 0; i + 12 <= len; i++) {
        if (memcmp(bytes + i, "Zqxwv Marker", 12) == 0) {
            bytes[i + 2] = 0xff;
            patched++;
        }
    }
    ck_assert_uint_gt(patched, 0);
    ck_assert_int_eq(ts_reseal(bytes, len), 0);
    f = fopen(snap, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
    free(bytes);

    const char *args[] = {"--threads", "1", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);
    const char *paths[] = {"/v1/complete?q=zq", "/v1/complete?q=zq&format=opensearch",
                           "/v1/complete?q=mark"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ck_assert_int_eq(ts_get(s.url, paths[i], &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(utf8_valid((const unsigned char *)r.body, r.len), "%s: not UTF-8: %s",
                      paths[i], r.body);
        cJSON *j = cJSON_Parse(r.body);
        ck_assert_msg(j != NULL, "%s: not JSON: %s", paths[i], r.body);
        cJSON_Delete(j);
        ts_resp_free(&r);
    }
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=zq", &r), 0);
    ck_assert_msg(strstr(r.body, "Zq\\ufffdwv Marker") != NULL, "%s", r.body);
    ts_resp_free(&r);
    stop_and_clean(&s, dir);
}
END_TEST

/* ------------------------------------------------------------ admin API */

START_TEST(test_admin_refuses_web_pages)
{
    char dir[256], snap[512], url[256], host[64];
    ts_server_t s;
    ts_resp_t r;
    start_sample(&s, dir, sizeof(dir), snap, sizeof(snap), NULL);
    double ok_before = ts_metric(&s, "ahead_reloads_total{index=\"default\",result=\"ok\"}");

    /* A cross-site form post: text/plain, with the page's Origin. */
    snprintf(url, sizeof(url), "%s/admin/reload", s.admin);
    const char *form[] = {"Origin: http://evil.example", "Content-Type: text/plain", NULL};
    ck_assert_int_eq(ts_http("POST", url, form, 0, &r), 0);
    ck_assert_int_eq(r.status, 403);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_str_eq(error_code(j), "forbidden");
    cJSON_Delete(j);
    ts_resp_free(&r);

    const char *fetch_site[] = {"Sec-Fetch-Site: cross-site", NULL};
    snprintf(url, sizeof(url), "%s/metrics", s.admin);
    ck_assert_int_eq(ts_http("GET", url, fetch_site, 0, &r), 0);
    ck_assert_int_eq(r.status, 403);
    ts_resp_free(&r);

    /* DNS rebinding: the page's own name, resolved to this listener. */
    const char *rebound[] = {"Host: evil.example", NULL};
    snprintf(url, sizeof(url), "%s/admin/indexes", s.admin);
    ck_assert_int_eq(ts_http("GET", url, rebound, 0, &r), 0);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_null(strstr(r.body, snap));
    ts_resp_free(&r);

    /* An operator's curl, by address or localhost, is answered. */
    snprintf(host, sizeof(host), "Host: localhost:%d", s.admin_port);
    const char *local[] = {host, NULL};
    ck_assert_int_eq(ts_http("GET", url, local, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    const char *by_hand[] = {"Sec-Fetch-Site: none", NULL};
    ck_assert_int_eq(ts_http("GET", url, by_hand, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);

    double ok_after = ts_metric(&s, "ahead_reloads_total{index=\"default\",result=\"ok\"}");
    ck_assert_msg(ok_after == ok_before, "a refused request reloaded (%g -> %g)", ok_before,
                  ok_after);
    stop_and_clean(&s, dir);
}
END_TEST

/* 1 when /proc/pid/cmdline holds text. */
static int cmdline_has(pid_t pid, const char *text)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        buf[i] = buf[i] == '\0' ? ' ' : buf[i];
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static long admin_status(ts_server_t *s, const char *token)
{
    ts_resp_t r;
    s->token = token;
    ck_assert_int_eq(ts_admin(s, "GET", "/admin/indexes", &r), 0);
    long status = r.status;
    ts_resp_free(&r);
    return status;
}

START_TEST(test_admin_token_sources)
{
    char dir[256], snap[512], file[512], err[1024];
    ts_server_t s;

    /* A token file: its first line, the line end dropped. */
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/t.snap", dir);
    snprintf(file, sizeof(file), "%s/token", dir);
    ck_assert_int_eq(ts_build_sample(snap), 0);
    FILE *f = fopen(file, "w");
    fputs("file-token-42\n", f);
    fclose(f);
    chmod(file, 0600);
    const char *from_file[] = {"--threads", "1", "--admin-token-file", file, snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, from_file), 0);
    ck_assert_int_eq(admin_status(&s, NULL), 401);
    ck_assert_int_eq(admin_status(&s, "file-token-4"), 401);
    ck_assert_int_eq(admin_status(&s, "file-token-42x"), 401);
    ck_assert_int_eq(admin_status(&s, "file-token-42"), 200);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 15000, NULL), 0);
    unlink(s.log);

    /* The environment. */
    setenv("AHEAD_ADMIN_TOKEN", "env-token-7", 1);
    const char *plain[] = {"--threads", "1", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, plain), 0);
    unsetenv("AHEAD_ADMIN_TOKEN");
    ck_assert_int_eq(admin_status(&s, "env-token-7"), 200);
    ck_assert_int_eq(admin_status(&s, "env-token-8"), 401);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 15000, NULL), 0);
    unlink(s.log);

    /* On the command line it still works, but stops showing in the process list. */
    const char *argv_token[] = {"--threads", "1", "--admin-token", "argv-token-secret", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, argv_token), 0);
    ck_assert(!cmdline_has(s.pid, "argv-token-secret"));
    ck_assert(ts_log_contains(&s, "--admin-token-file"));
    ck_assert_int_eq(admin_status(&s, "argv-token-secret"), 200);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 15000, NULL), 0);
    unlink(s.log);

    /* Off loopback, a token is required; a missing token file is named. */
    const char *open_admin[] = {"--listen",  "127.0.0.1:0", "--admin-listen",
                                "0.0.0.0:0", snap,          NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(open_admin, err, sizeof(err), 10000), 2);
    ck_assert_msg(strstr(err, "not a loopback address") != NULL, "%s", err);
    const char *missing[] = {"--admin-token-file", "/nonexistent/token", snap, NULL};
    ck_assert_int_eq(ts_run_server_expect_exit(missing, err, sizeof(err), 10000), 2);
    ck_assert_msg(strstr(err, "/nonexistent/token") != NULL, "%s", err);
    const char *guarded[] = {
        "--threads", "1", "--admin-listen", "0.0.0.0:0", "--admin-token-file", file, snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, guarded), 0);
    ck_assert_int_eq(admin_status(&s, "file-token-42"), 200);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 15000, NULL), 0);
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

/* ------------------------------------------------------------------ limits */

static int answered(int fd, int timeout_ms)
{
    char buf[2048];
    int closed;
    ts_recv(fd, buf, sizeof(buf), timeout_ms, &closed);
    return strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

static const char GET_A[] = "GET /v1/complete?q=a HTTP/1.1\r\nHost: x\r\n\r\n";

START_TEST(test_connection_cap_queues)
{
    char dir[256], snap[512];
    ts_server_t s;
    const char *extra[] = {"--max-connections", "4", NULL};
    start_sample(&s, dir, sizeof(dir), snap, sizeof(snap), extra);
    int idle[4];
    for (int i = 0; i < 4; i++) {
        idle[i] = ts_connect(s.port);
        ck_assert_int_ge(idle[i], 0);
    }
    ts_sleep_ms(300); /* all four accepted */
    /* The fifth waits in the listen queue: connected, but not answered. */
    int fifth = ts_connect(s.port);
    ck_assert_int_ge(fifth, 0);
    ck_assert_int_eq(write(fifth, GET_A, sizeof(GET_A) - 1), (ssize_t)(sizeof(GET_A) - 1));
    ck_assert_msg(!answered(fifth, 500), "the fifth connection was served past the cap");
    /* One leaves: the fifth is taken and answered. */
    close(idle[0]);
    ck_assert_msg(answered(fifth, 10000), "the queued connection was never served");
    close(fifth);
    for (int i = 1; i < 4; i++)
        close(idle[i]);
    stop_and_clean(&s, dir);
}
END_TEST

START_TEST(test_request_timeout_ends_slow_and_idle)
{
    char dir[256], snap[512], buf[256];
    ts_server_t s;
    int closed;
    const char *extra[] = {"--request-timeout-ms", "1000", NULL};
    start_sample(&s, dir, sizeof(dir), snap, sizeof(snap), extra);

    /* Slowloris: a byte every 200 ms never finishes a head; it is cut after about 1 s. */
    int slow = ts_connect(s.port);
    double start = ts_now_ms();
    closed = 0;
    for (size_t i = 0; i < sizeof(GET_A) - 1 && !closed; i++) {
        if (write(slow, GET_A + i, 1) != 1)
            break;
        ts_recv(slow, buf, sizeof(buf), 200, &closed);
        if (ts_now_ms() - start > 15000)
            break;
    }
    double took = ts_now_ms() - start;
    ck_assert_msg(closed, "a slow-header client was not cut off (%.0f ms)", took);
    ck_assert_msg(took >= 900 && took < 8000, "cut after %.0f ms (timeout 1000)", took);
    close(slow);

    /* An idle keep-alive connection is closed after its answer plus the timeout. */
    int idle = ts_connect(s.port);
    ck_assert_int_eq(write(idle, GET_A, sizeof(GET_A) - 1), (ssize_t)(sizeof(GET_A) - 1));
    ck_assert(answered(idle, 5000));
    start = ts_now_ms();
    ts_recv(idle, buf, sizeof(buf), 10000, &closed);
    took = ts_now_ms() - start;
    ck_assert_msg(closed && took < 8000, "idle connection open after %.0f ms", took);
    close(idle);
    stop_and_clean(&s, dir);
}
END_TEST

/* CPU time (user + system) of pid so far, in seconds. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    unsigned long utime = 0, stime = 0;
    const char *p = strrchr(buf, ')');
    ck_assert_ptr_nonnull(p);
    /* After ")": state, then fields 4..13; utime and stime are fields 14 and 15. */
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

START_TEST(test_out_of_descriptors)
{
    char dir[256], snap[512];
    ts_server_t s;
    ts_resp_t r;
    ts_set_child_nofile(40);
    start_sample(&s, dir, sizeof(dir), snap, sizeof(snap), NULL);
    ts_set_child_nofile(0);

    int served = ts_connect(s.port);
    ck_assert_int_eq(write(served, GET_A, sizeof(GET_A) - 1), (ssize_t)(sizeof(GET_A) - 1));
    ck_assert(answered(served, 5000));

    int idle[60];
    for (int i = 0; i < 60; i++)
        idle[i] = ts_connect(s.port);
    /* Also exhaust the admin listener's share, so that accept() itself fails. */
    int admin_idle[30];
    for (int i = 0; i < 30; i++)
        admin_idle[i] = ts_connect(s.admin_port);
    for (int i = 0; i < 10; i++)
        close(admin_idle[i]);
    ts_sleep_ms(300);

    /* No spinning: over 3 s the server uses well under a second of CPU. */
    double cpu0 = cpu_seconds(s.pid), t0 = ts_now_ms();
    ts_sleep_ms(3000);
    double cpu = cpu_seconds(s.pid) - cpu0, wall = (ts_now_ms() - t0) / 1000;
    ck_assert_msg(cpu < 0.5 * wall, "%.2f s of CPU in %.2f s: accept is spinning", cpu, wall);

    /* The connection already served still is; the admin listener still answers. */
    ck_assert_int_eq(write(served, GET_A, sizeof(GET_A) - 1), (ssize_t)(sizeof(GET_A) - 1));
    ck_assert(answered(served, 5000));
    for (int i = 10; i < 30; i++)
        close(admin_idle[i]);
    ck_assert_int_eq(ts_admin(&s, "GET", "/metrics", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);

    /* Once the idle ones leave, new clients are served. */
    for (int i = 0; i < 60; i++)
        close(idle[i]);
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=a", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    close(served);
    ck_assert(ts_log_contains(&s, "--max-connections 10000 lowered"));
    stop_and_clean(&s, dir);
}
END_TEST

/* ------------------------------------------------------------ saturation */

/* Processes spinning on the CPU at normal priority, until killed. */
static void spin_start(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            for (volatile unsigned long x = 0;; x++)
                ;
        }
    }
}

static void spin_stop(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
}

START_TEST(test_control_plane_under_saturation)
{
    char dir[256], tsv[512], snap[512], other[512];
    ts_server_t s;
    ts_resp_t r;
    ts_tmpdir(dir, sizeof(dir));
    snprintf(tsv, sizeof(tsv), "%s/es.tsv", dir);
    snprintf(snap, sizeof(snap), "%s/es.snap", dir);
    snprintf(other, sizeof(other), "%s/es-k5.snap", dir);
    ck_assert_msg(ts_head_dataset("es-ngrams.tsv.gz", tsv, 1000000) == 0, "data/es-ngrams missing");
    ck_assert_int_eq(ts_build(tsv, snap, 0), 0);
    ck_assert_int_eq(ts_build(tsv, other, 5), 0);
    /* --verify full: a reload costs about 0.4 s of CPU (10 MB), enough to starve visibly. */
    const char *args[] = {"--threads", "2", "--verify", "full", snap, NULL};
    ck_assert_int_eq(ts_server_start(&s, args), 0);

    /*
     * The bound: 30 times a reload timed before the spinners start, and at
     * least 15 s. A fair share of the cores makes a request a few times
     * slower; a thread that gets only idle time makes it hundreds of times
     * slower. Timing the reload first keeps the bound fair on a machine
     * that is already busy (a sanitizer build beside other heavy jobs
     * reloaded in seconds, and once took over 15 s here).
     */
    ck_assert_int_eq(ts_install(other, snap), 0);
    double t = ts_now_ms();
    ck_assert_int_eq(ts_admin(&s, "POST", "/admin/reload", &r), 0);
    double unloaded_ms = ts_now_ms() - t;
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    double bound_ms = 30 * unloaded_ms < 15000   ? 15000
                      : 30 * unloaded_ms > 60000 ? 60000
                                                 : 30 * unloaded_ms;

    /*
     * Three spinners per core at normal priority. A control thread that
     * only gets idle time (it ran under SCHED_IDLE) gets almost nothing and
     * took minutes; at normal priority it gets a fair share.
     */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(ncpu < 1 ? 3 : ncpu > 5 ? 16 : 3 * ncpu);
    pid_t spinners[16];
    spin_start(spinners, n);
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ts_install(i % 2 == 0 ? snap : other, snap), 0);
        t = ts_now_ms();
        int rc = ts_admin_within(&s, "POST", "/admin/reload", (long)bound_ms, &r);
        double reload_ms = ts_now_ms() - t;
        long status = r.status;
        ts_resp_free(&r);
        t = ts_now_ms();
        rc |= ts_admin_within(&s, "GET", "/metrics", (long)bound_ms, &r);
        double metrics_ms = ts_now_ms() - t;
        status = status * 1000 + r.status;
        ts_resp_free(&r);
        if (rc != 0 || status != 200200) {
            spin_stop(spinners, n);
            ck_abort_msg("admin requests failed under load (rc %d, statuses %ld; bound %.0f ms, a "
                         "reload took %.0f ms before the load)",
                         rc, status, bound_ms, unloaded_ms);
        }
        worst = reload_ms > worst ? reload_ms : worst;
        worst = metrics_ms > worst ? metrics_ms : worst;
    }
    spin_stop(spinners, n);
    ck_assert_msg(worst < bound_ms,
                  "an admin request took %.0f ms with the cores saturated (bound %.0f ms: 30 "
                  "times the %.0f ms a reload took before)",
                  worst, bound_ms, unloaded_ms);
    fprintf(stderr,
            "saturated: the slowest admin request %.0f ms; a reload before the load %.0f ms\n",
            worst, unloaded_ms);
    stop_and_clean(&s, dir);
}
END_TEST

/* ------------------------------------------------------------- draining */

/*
 * --listen-backlog is the listening socket's backlog. SIGTERM with
 * --drain-ms: /readyz turns 503 "draining" at once, while
 * completions are still answered on new and kept-alive connections; the
 * listeners close only after the drain, and the exit is clean. A second
 * SIGTERM cuts the drain short.
 */
START_TEST(test_drain_turns_readyz_first)
{
    char dir[256], snap[512];
    ts_server_t s;
    const char *extra[] = {"--drain-ms", "3000", "--listen-backlog", "64", NULL};
    start_sample(&s, dir, sizeof(dir), snap, sizeof(snap), extra);
    ts_resp_t r;
    ck_assert_int_eq(ts_get(s.url, "/readyz", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    /* --listen-backlog reaches listen(): ss shows a listener's backlog as its Send-Q. */
    char cmd[128], line[256];
    snprintf(cmd, sizeof(cmd), "ss -ltnH 'sport = :%d' 2>/dev/null", s.port);
    FILE *ss = popen(cmd, "r");
    int listeners = 0;
    while (ss != NULL && fgets(line, sizeof(line), ss) != NULL) {
        unsigned recv_q, send_q;
        ck_assert_int_eq(sscanf(line, "LISTEN %u %u", &recv_q, &send_q), 2);
        ck_assert_msg(send_q == 64, "backlog %u, --listen-backlog 64: %s", send_q, line);
        listeners++;
    }
    if (ss != NULL)
        pclose(ss);
    if (listeners == 0)
        printf("test_drain_turns_readyz_first: ss (iproute2) not found, the backlog not checked: "
               "skipped\n");
    int kept = ts_connect(s.port); /* a proxy's keep-alive connection, opened before */
    ck_assert_int_ge(kept, 0);

    double start = ts_now_ms();
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    int draining = 0;
    while (!draining && ts_now_ms() - start < 2000) {
        ck_assert_int_eq(ts_get(s.url, "/readyz", &r), 0);
        draining = r.status == 503 && strstr(r.body, "\"draining\"") != NULL;
        ts_resp_free(&r);
    }
    ck_assert_msg(draining, "/readyz did not turn 503 draining");
    ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=a", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_resp_free(&r);
    ck_assert_int_eq(ts_admin(&s, "GET", "/admin/indexes", &r), 0);
    ck_assert_msg(strstr(r.body, "\"draining\":true") != NULL, "%s", r.body);
    ts_resp_free(&r);
    ck_assert_int_eq(write(kept, GET_A, sizeof(GET_A) - 1), (ssize_t)(sizeof(GET_A) - 1));
    ck_assert(answered(kept, 5000));
    close(kept);

    /* After the drain the port refuses, and the process ends 0. */
    double stopped = 0;
    while (ts_now_ms() - start < 20000) {
        int fd = ts_connect(s.port);
        if (fd < 0) {
            stopped = ts_now_ms() - start;
            break;
        }
        close(fd);
        ts_sleep_ms(50);
    }
    ck_assert_msg(stopped >= 2900, "listeners closed %.0f ms after SIGTERM, drain 3000", stopped);
    ck_assert_int_eq(ts_server_stop(&s, 0, 15000, NULL), 0);
    ck_assert(ts_log_contains(&s, "drain 3000 ms"));
    unlink(s.log);
    ts_rmtree(dir);

    /* A second SIGTERM ends a long drain at once. */
    const char *longer[] = {"--drain-ms", "600000", NULL};
    start_sample(&s, dir, sizeof(dir), snap, sizeof(snap), longer);
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    ts_sleep_ms(300);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM, 15000, NULL), 0);
    ck_assert(ts_log_contains(&s, "draining cut short"));
    unlink(s.log);
    ts_rmtree(dir);
}
END_TEST

/*
 * Start, answer, swap, stop, many times over, with many event loops (issue
 * 15): every stop must end in exit 0 with a clean log. The message queues'
 * sockets were once created on the main thread, so at SIGTERM all loops
 * shared its unlocked buffer allocator, and the sanitizer build reported a
 * heap use-after-free in about 10% of such cycles at 64 loops (1-4% at 8).
 * STOP_CYCLES makes a missed regression unlikely (0.9^60 < 0.2%).
 */
#define STOP_CYCLES 60
START_TEST(test_stop_cycles_under_swaps)
{
    char dir[256], snap[300], other[300], live[300];
    ts_tmpdir(dir, sizeof(dir));
    snprintf(snap, sizeof(snap), "%s/sample.snap", dir);
    snprintf(other, sizeof(other), "%s/other.snap", dir);
    snprintf(live, sizeof(live), "%s/live.snap", dir);
    char tsv[256];
    ck_assert_ptr_nonnull(ts_sample_tsv(tsv, sizeof(tsv)));
    ck_assert_int_eq(ts_build(tsv, snap, 0), 0);
    ck_assert_int_eq(ts_build(tsv, other, 5), 0);

    const char *args[] = {"--threads", "64", "--admin-listen", "off", live, NULL};
    for (int cycle = 0; cycle < STOP_CYCLES; cycle++) {
        ts_server_t s;
        ck_assert_int_eq(ts_install(snap, live), 0);
        ck_assert_msg(ts_server_start(&s, args) == 0, "cycle %d: no start (log %s)", cycle, s.log);
        for (int i = 0; i < 8; i++) {
            ts_resp_t r;
            ck_assert_int_eq(ts_get(s.url, "/v1/complete?q=s", &r), 0);
            ck_assert_int_eq(r.status, 200);
            ts_resp_free(&r);
        }
        ck_assert_int_eq(ts_install(other, live), 0);
        ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
        ts_sleep_ms(cycle % 3 * 25); /* SIGTERM during the reload, or just after it */
        int status = ts_server_stop(&s, SIGTERM, 15000, NULL);
        ck_assert_msg(status == 0, "cycle %d: exit status %d (log %s, printed above)", cycle,
                      status, s.log);
        unlink(s.log);
    }
    ts_rmtree(dir);
}
END_TEST

static Suite *reliability_suite(void)
{
    Suite *s = suite_create("reliability");
    TCase *t = tcase_create("reliability");
    tcase_set_timeout(t, 180);
    tcase_add_test(t, test_early_errors_are_json);
    tcase_add_test(t, test_answers_are_utf8_whatever_the_file_holds);
    tcase_add_test(t, test_admin_refuses_web_pages);
    tcase_add_test(t, test_admin_token_sources);
    tcase_add_test(t, test_connection_cap_queues);
    tcase_add_test(t, test_request_timeout_ends_slow_and_idle);
    tcase_add_test(t, test_out_of_descriptors);
    tcase_add_test(t, test_drain_turns_readyz_first);
    suite_add_tcase(s, t);
    /* Its own case: six requests may each take up to 60 s on a machine busy elsewhere. */
    TCase *saturation = tcase_create("saturation");
    tcase_set_timeout(saturation, 420);
    tcase_add_test(saturation, test_control_plane_under_saturation);
    suite_add_tcase(s, saturation);
    /* Its own case, so that CK_RUN_CASE=stop_cycles repeats it alone. */
    TCase *cycles = tcase_create("stop_cycles");
    tcase_set_timeout(cycles, 300);
    tcase_add_test(cycles, test_stop_cycles_under_swaps);
    suite_add_tcase(s, cycles);
    return s;
}

int main(void)
{
    return ts_run_suite(reliability_suite());
}
