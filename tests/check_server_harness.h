/* SPDX-License-Identifier: MIT */
/*
 * check_server_harness.h: what the server integration tests share: building
 * snapshots with the real ahead-build, starting the real ahead-serve on free
 * ports and making sure the server answering is the one started, talking
 * HTTP with libcurl, and stopping it.
 *
 * Ports: the server is started with --listen 127.0.0.1:0 and
 * --admin-listen 127.0.0.1:0; ahead-serve binds port 0 without
 * SO_REUSEPORT first, so the kernel gives it a port nobody else listens on,
 * and logs it ("listening on 127.0.0.1:PORT"), which the harness reads from
 * the server's stderr. The harness then checks the server's identity: its
 * /admin/indexes must list the snapshot paths of this test's own temporary
 * directory, and its pid is the child we forked.
 *
 * Every server is started with PR_SET_PDEATHSIG, so a failing test (Check
 * runs each test in a forked process) never leaves a server behind.
 */
#ifndef AH_CHECK_SERVER_HARNESS_H
#define AH_CHECK_SERVER_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ts_server {
    pid_t pid;
    int port;
    int admin_port;
    char log[512];     /* the server's stderr */
    char url[64];      /* "http://127.0.0.1:PORT" */
    char admin[64];    /* "http://127.0.0.1:ADMIN_PORT", "" with the admin listener off */
    const char *token; /* for ts_admin_* calls, NULL when none */
} ts_server_t;

typedef struct ts_resp {
    long status;
    char *body;
    size_t len;
    char *headers; /* raw response header block(s) */
    size_t hlen;
    long connects; /* new connections curl opened for this request */
    long http_version;
} ts_resp_t;

/* Request options. */
enum { TS_H2C = 1 /* HTTP/2 with prior knowledge */ };

/* ts_tmpdir: creates a fresh private directory under /tmp; path into buf. */
void ts_tmpdir(char *buf, size_t len);

/* ts_rmtree: removes a directory made by ts_tmpdir (best effort). */
void ts_rmtree(const char *dir);

/* ts_sample_tsv: the path of data/sample.tsv (tests/datasets.h), NULL when missing. */
const char *ts_sample_tsv(char *buf, size_t len);

/* ts_build_sample: ts_build of data/sample.tsv into out, default top-k; -1 when it is missing. */
int ts_build_sample(const char *out);

/* ts_head_tsv: the first n lines of src (gzip when it ends in .gz) into dst. Returns 0. */
int ts_head_tsv(const char *src, const char *dst, long n);

/* ts_head_dataset: ts_head_tsv of a dataset file found by dataset_path(); -1 when missing. */
int ts_head_dataset(const char *file, const char *dst, long n);

/* ts_build: runs ahead-build --quiet [--topk topk] input -o out; returns its exit status. */
int ts_build(const char *input, const char *out, int topk);

/* ts_build with one more option for ahead-build (NULL: none), such as "--no-infix". */
int ts_build_with(const char *input, const char *out, int topk, const char *option);

/* ts_copy: copies a file; returns 0. */
int ts_copy(const char *src, const char *dst);

/* ts_install: copies src to dir/.tmp-NAME and renames it over dst (an atomic replace). */
int ts_install(const char *src, const char *dst);

/* ts_read_file: the whole file, NUL-terminated, in malloc'd memory (len may be NULL); NULL on
 * error. */
char *ts_read_file(const char *path, size_t *len);

/*
 * ts_server_start: starts ahead-serve with args (NULL-terminated; the
 * harness adds --listen and, unless args has one, --admin-listen) and waits
 * until it logs "ready" (or exits). Returns 0, or -1 when the server
 * exited or did not get ready in 30 s (its log is left in s->log).
 */
int ts_server_start(ts_server_t *s, const char *const *args);

/* ts_server_spawn: as ts_server_start, but waits for the log line wait_for instead of "ready". */
int ts_server_spawn(ts_server_t *s, const char *const *args, const char *wait_for);

/*
 * ts_server_check_identity: 1 when the server's /admin/indexes lists an
 * index named name at path (proof that the answering server is ours).
 */
int ts_server_check_identity(ts_server_t *s, const char *name, const char *path);

/*
 * ts_server_stop: sends sig and waits up to timeout_ms for the exit;
 * returns the exit status (or 128 + signal), -1 on timeout (then the
 * server is killed). *elapsed_ms gets the time it took, when not NULL.
 * When the server's log holds a sanitizer report, the log is printed to
 * stderr, and an exit status of 0 becomes TS_SANITIZER_REPORT: a server
 * that a test stops must exit 0 with a clean log.
 */
#define TS_SANITIZER_REPORT 1000
int ts_server_stop(ts_server_t *s, int sig, int timeout_ms, double *elapsed_ms);

/*
 * ts_run_server_expect_exit: runs ahead-serve with args (nothing added),
 * expecting it to exit within timeout_ms; its stderr goes into err. Returns
 * the exit status, or -1 if it kept running (then it is killed).
 */
int ts_run_server_expect_exit(const char *const *args, char *err, size_t errlen, int timeout_ms);

/* ts_log_contains: 1 when the server's log has the text. */
int ts_log_contains(const ts_server_t *s, const char *text);

/*
 * ts_http: one request. headers: NULL-terminated "Name: value" strings, or
 * NULL. Returns 0 when an HTTP answer came back (any status) within 15 s, -1
 * on a transport error or timeout.
 */
int ts_http(const char *method, const char *url, const char *const *headers, int flags,
            ts_resp_t *r);
void ts_resp_free(ts_resp_t *r);

/* ts_get: ts_http("GET", base + path). */
int ts_get(const char *base, const char *path, ts_resp_t *r);

/* ts_header: the value of the last header called name (any case) into out; 1 if found. */
int ts_header(const ts_resp_t *r, const char *name, char *out, size_t len);

/* ts_admin: a request to the admin listener, with s->token when set. */
int ts_admin(ts_server_t *s, const char *method, const char *path, ts_resp_t *r);
/* ts_admin_within: the same, waiting up to timeout_ms for the answer instead of 15 s. */
int ts_admin_within(ts_server_t *s, const char *method, const char *path, long timeout_ms,
                    ts_resp_t *r);

/* ts_metric: the value of the first metrics line starting with prefix; -1 when absent. */
double ts_metric(ts_server_t *s, const char *prefix);

/* ts_count_mapped: how many distinct snapshot files (paths containing needle) pid has mapped. */
int ts_count_mapped(pid_t pid, const char *needle);

/* ts_now_ms: a monotonic clock in milliseconds. */
double ts_now_ms(void);

/* ts_sleep_ms: sleeps. */
void ts_sleep_ms(int ms);

/*
 * ts_set_child_nofile: servers started from now on run with RLIMIT_NOFILE
 * (soft and hard) set to n; 0 leaves the limit as it is.
 */
void ts_set_child_nofile(long n);

/* ts_connect: a TCP connection to 127.0.0.1:port (blocking); the descriptor, or -1. */
int ts_connect(int port);

/*
 * ts_recv: reads from fd into buf (cap bytes, NUL-terminated) until the
 * peer closes or timeout_ms passes. Returns the bytes read; *closed is 1
 * when the peer closed (or reset) the connection.
 */
size_t ts_recv(int fd, char *buf, size_t cap, int timeout_ms, int *closed);

/* ts_run_suite: runs s with libcurl set up; returns the exit status (0: all passed). */
int ts_run_suite(Suite *s);

#endif /* AH_CHECK_SERVER_HARNESS_H */
