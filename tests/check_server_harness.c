/* SPDX-License-Identifier: MIT */
/*
 * check_server_harness.c: process, file and HTTP helpers for the server
 * integration tests (see check_server_harness.h).
 */
#include "check_server_harness.h"
#include "datasets.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AH_SERVE_BIN
#error "AH_SERVE_BIN must be defined (tests/server.cmake)"
#endif

double ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void ts_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ files */

void ts_tmpdir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/ahead-srvtest-XXXXXX");
    if (mkdtemp(buf) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

static int run_argv(char *const argv[], int quiet)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void ts_rmtree(const char *dir)
{
    if (strncmp(dir, "/tmp/ahead-srvtest-", 19) != 0)
        return;
    char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
    run_argv(argv, 1);
}

int ts_head_tsv(const char *src, const char *dst, long n)
{
    char cmd[2048];
    size_t len = strlen(src);
    snprintf(cmd, sizeof(cmd), "%s '%s' | head -n %ld > '%s'",
             len > 3 && strcmp(src + len - 3, ".gz") == 0 ? "zcat" : "cat", src, n, dst);
    return system(cmd) == 0 ? 0 : -1;
}

const char *ts_sample_tsv(char *buf, size_t len)
{
    return dataset_path("sample.tsv", buf, len);
}

int ts_build_sample(const char *out)
{
    char sample[512];
    return ts_sample_tsv(sample, sizeof sample) ? ts_build(sample, out, 0) : -1;
}

int ts_head_dataset(const char *file, const char *dst, long n)
{
    char src[512];
    return dataset_path(file, src, sizeof src) ? ts_head_tsv(src, dst, n) : -1;
}

int ts_build(const char *input, const char *out, int topk)
{
    return ts_build_with(input, out, topk, NULL);
}

int ts_build_with(const char *input, const char *out, int topk, const char *option)
{
    char k[16];
    snprintf(k, sizeof(k), "%d", topk);
    char *argv[10];
    int i = 0;
    argv[i++] = AH_BUILD_BIN;
    argv[i++] = "--quiet";
    if (topk > 0) {
        argv[i++] = "--topk";
        argv[i++] = k;
    }
    if (option)
        argv[i++] = (char *)option;
    argv[i++] = (char *)input;
    argv[i++] = "-o";
    argv[i++] = (char *)out;
    argv[i] = NULL;
    return run_argv(argv, 1);
}

int ts_copy(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (in == NULL)
        return -1;
    FILE *out = fopen(dst, "wb");
    if (out == NULL) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    }
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    return rc;
}

int ts_install(const char *src, const char *dst)
{
    char tmp[1024];
    const char *slash = strrchr(dst, '/');
    int dirlen = slash != NULL ? (int)(slash - dst) : 1;
    snprintf(tmp, sizeof(tmp), "%.*s/.tmp-install-%d", dirlen, slash != NULL ? dst : ".",
             (int)getpid());
    if (ts_copy(src, tmp) != 0)
        return -1;
    return rename(tmp, dst);
}

char *ts_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    size_t got;
    while (p != NULL && (got = fread(p + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            p = realloc(p, cap);
        }
    }
    fclose(f);
    if (p != NULL)
        p[n] = '\0';
    if (len != NULL)
        *len = n;
    return p;
}

/* ---------------------------------------------------------------- servers */

static long child_nofile;

void ts_set_child_nofile(long n)
{
    child_nofile = n;
}

static void child_exec(const char *const *argv, int outfd)
{
    if (child_nofile > 0) {
        struct rlimit rl = {(rlim_t)child_nofile, (rlim_t)child_nofile};
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Die with the test: a failing Check test must not leave a server running. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(outfd, 1);
    dup2(outfd, 2);
    /* LeakSanitizer: libh2o's per-thread recycle caches are not leaks (LIBH2O-NOTES.md). */
    setenv("LSAN_OPTIONS", "suppressions=" AH_LSAN_SUPP ":print_suppressions=0", 0);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

int ts_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t ts_recv(int fd, char *buf, size_t cap, int timeout_ms, int *closed)
{
    size_t got = 0;
    double end = ts_now_ms() + timeout_ms;
    *closed = 0;
    while (got + 1 < cap) {
        int left = (int)(end - ts_now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

int ts_log_contains(const ts_server_t *s, const char *text)
{
    char *log = ts_read_file(s->log, NULL);
    int found = log != NULL && strstr(log, text) != NULL;
    free(log);
    return found;
}

static int parse_port(const char *log, const char *marker)
{
    const char *p = strstr(log, marker);
    if (p == NULL)
        return -1;
    p += strlen(marker);
    const char *colon = strchr(p, ':');
    if (colon == NULL)
        return -1;
    return atoi(colon + 1);
}

int ts_server_start(ts_server_t *s, const char *const *args)
{
    return ts_server_spawn(s, args, "ahead-serve: ready");
}

int ts_server_spawn(ts_server_t *s, const char *const *args, const char *wait_for)
{
    const char *argv[64];
    int n = 0, has_admin = 0;

    memset(s, 0, sizeof(*s));
    argv[n++] = AH_SERVE_BIN;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (int i = 0; args != NULL && args[i] != NULL && n < 60; i++) {
        if (strcmp(args[i], "--admin-listen") == 0)
            has_admin = 1;
        argv[n++] = args[i];
    }
    if (!has_admin) {
        argv[n++] = "--admin-listen";
        argv[n++] = "127.0.0.1:0";
    }
    argv[n] = NULL;

    snprintf(s->log, sizeof(s->log), "/tmp/ahead-serve-log-XXXXXX");
    int fd = mkstemp(s->log);
    if (fd < 0)
        return -1;
    s->pid = fork();
    if (s->pid == 0)
        child_exec(argv, fd);
    close(fd);
    if (s->pid < 0)
        return -1;

    for (double start = ts_now_ms(); ts_now_ms() - start < 30000;) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        char *log = ts_read_file(s->log, NULL);
        if (log != NULL && strstr(log, wait_for) != NULL) {
            s->port = parse_port(log, "ahead-serve: listening on ");
            s->admin_port = parse_port(log, "ahead-serve: admin listening on ");
            free(log);
            snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
            if (s->admin_port > 0)
                snprintf(s->admin, sizeof(s->admin), "http://127.0.0.1:%d", s->admin_port);
            return s->port > 0 ? 0 : -1;
        }
        free(log);
        ts_sleep_ms(20);
    }
    ts_server_stop(s, SIGKILL, 1000, NULL);
    return -1;
}

/* What the sanitizers' reports start with (ASan, LSan, UBSan, TSan). */
static const char *const sanitizer_markers[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                                "runtime error:", "WARNING: ThreadSanitizer",
                                                "AddressSanitizer: CHECK failed"};

/* Prints the server's log to stderr when it holds a sanitizer report; returns 1 then. */
static int print_sanitizer_report(const char *path)
{
    char *log = ts_read_file(path, NULL);
    int found = 0;
    for (size_t i = 0; log != NULL && !found && i < sizeof(sanitizer_markers) / sizeof(char *); i++)
        found = strstr(log, sanitizer_markers[i]) != NULL;
    if (found)
        fprintf(stderr, "---- a sanitizer report in the server's log %s:\n%s\n----\n", path, log);
    free(log);
    return found;
}

int ts_server_stop(ts_server_t *s, int sig, int timeout_ms, double *elapsed_ms)
{
    int st = 0;
    if (s->pid <= 0)
        return -1;
    double start = ts_now_ms();
    kill(s->pid, sig);
    for (;;) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid)
            break;
        if (ts_now_ms() - start > timeout_ms) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            s->pid = 0;
            return -1;
        }
        ts_sleep_ms(5);
    }
    if (elapsed_ms != NULL)
        *elapsed_ms = ts_now_ms() - start;
    s->pid = 0;
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return print_sanitizer_report(s->log) && status == 0 ? TS_SANITIZER_REPORT : status;
}

int ts_run_server_expect_exit(const char *const *args, char *err, size_t errlen, int timeout_ms)
{
    const char *argv[64];
    int n = 0, st;
    char log[] = "/tmp/ahead-serve-err-XXXXXX";

    argv[n++] = AH_SERVE_BIN;
    for (int i = 0; args[i] != NULL && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fd = mkstemp(log);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, fd);
    close(fd);
    int rc = -1;
    for (double start = ts_now_ms(); ts_now_ms() - start < timeout_ms; ts_sleep_ms(10)) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
    }
    if (rc == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    char *text = ts_read_file(log, NULL);
    snprintf(err, errlen, "%s", text != NULL ? text : "");
    free(text);
    unlink(log);
    return rc;
}

int ts_server_check_identity(ts_server_t *s, const char *name, const char *path)
{
    ts_resp_t r;
    char needle[1200];
    if (ts_admin(s, "GET", "/admin/indexes", &r) != 0)
        return 0;
    snprintf(needle, sizeof(needle), "\"name\":\"%s\",\"path\":\"%s\"", name, path);
    int ok = r.status == 200 && r.body != NULL && strstr(r.body, needle) != NULL;
    ts_resp_free(&r);
    return ok;
}

/* ------------------------------------------------------------------- HTTP */

/* Appends n bytes to a NUL-terminated growing buffer; curl's callbacks share it. */
static size_t append(char **buf, size_t *len, const char *p, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    if (b == NULL)
        return 0;
    memcpy(b + *len, p, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
    return n;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    ts_resp_t *r = arg;
    return append(&r->body, &r->len, p, size * n);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    ts_resp_t *r = arg;
    return append(&r->headers, &r->hlen, p, size * n);
}

static int http_request(const char *method, const char *url, const char *const *headers, int flags,
                        long timeout_ms, ts_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    r->body = calloc(1, 1);
    r->headers = calloc(1, 1);
    CURL *c = curl_easy_init();
    struct curl_slist *list = NULL;
    for (int i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (flags & TS_H2C)
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
        curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r->http_version);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

int ts_http(const char *method, const char *url, const char *const *headers, int flags,
            ts_resp_t *r)
{
    return http_request(method, url, headers, flags, 15000, r);
}

void ts_resp_free(ts_resp_t *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

int ts_get(const char *base, const char *path, ts_resp_t *r)
{
    char url[8192];
    snprintf(url, sizeof(url), "%s%s", base, path);
    return ts_http("GET", url, NULL, 0, r);
}

int ts_header(const ts_resp_t *r, const char *name, char *out, size_t len)
{
    size_t nlen = strlen(name);
    int found = 0;
    for (const char *line = r->headers; line != NULL && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t llen = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = llen - (size_t)(v - line);
            snprintf(out, len, "%.*s", (int)vlen, v);
            found = 1;
        }
        line = eol != NULL ? eol + 2 : NULL;
    }
    return found;
}

int ts_admin(ts_server_t *s, const char *method, const char *path, ts_resp_t *r)
{
    return ts_admin_within(s, method, path, 15000, r);
}

int ts_admin_within(ts_server_t *s, const char *method, const char *path, long timeout_ms,
                    ts_resp_t *r)
{
    char url[2048], auth[512];
    const char *headers[2] = {NULL, NULL};
    snprintf(url, sizeof(url), "%s%s", s->admin, path);
    if (s->token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->token);
        headers[0] = auth;
    }
    return http_request(method, url, headers, 0, timeout_ms, r);
}

double ts_metric(ts_server_t *s, const char *prefix)
{
    ts_resp_t r;
    double v = -1;
    if (ts_admin(s, "GET", "/metrics", &r) != 0)
        return -1;
    size_t plen = strlen(prefix);
    for (const char *line = r.body; line != NULL && *line;) {
        if (strncmp(line, prefix, plen) == 0) {
            const char *eol = strchr(line, '\n');
            const char *sp = line + plen;
            while (sp < (eol ? eol : line + strlen(line)) && *sp != ' ')
                sp++;
            v = strtod(sp, NULL);
            break;
        }
        const char *eol = strchr(line, '\n');
        line = eol != NULL ? eol + 1 : NULL;
    }
    ts_resp_free(&r);
    return v;
}

int ts_count_mapped(pid_t pid, const char *needle)
{
    char path[64], line[4096];
    unsigned long inodes[64];
    int n = 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, needle) == NULL)
            continue;
        unsigned long inode = 0;
        if (sscanf(line, "%*s %*s %*s %*s %lu", &inode) != 1)
            continue;
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= inodes[i] == inode;
        if (!seen && n < 64)
            inodes[n++] = inode;
    }
    fclose(f);
    return n;
}

int ts_run_suite(Suite *s)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
