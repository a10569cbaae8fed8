/* SPDX-License-Identifier: MIT */
/*
 * main.c: ahead-serve's lifecycle. The order matters and is:
 *
 *   1. parse options; a bad one is one line on stderr and exit 2;
 *   2. block SIGTERM, SIGINT, SIGHUP and the lease signal in every thread
 *      (they are taken by sigwaitinfo() here), ignore SIGPIPE;
 *   3. configure libh2o (public and admin hosts, handlers, access log);
 *   4. bind every socket: a port in use is one line and exit 1, before any
 *      thread exists;
 *   5. start the control thread and the workers: /healthz answers 200 and
 *      /readyz 503 while
 *   6. every index is loaded and verified; one that fails is one line and
 *      exit 1; then /readyz turns 200;
 *   7. wait for signals: SIGHUP asks the control thread to reload all
 *      indexes; the lease signal means a snapshot file is being written in
 *      place (registry.h); SIGTERM or SIGINT turns /readyz to 503 for
 *      --drain-ms while everything is still served (a load balancer takes
 *      the replica out), then drains every loop (worker.c) and exits 0.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "h2o.h"

#include "admin.h"
#include "ahead.h"
#include "api.h"
#include "config.h"
#include "control.h"
#include "early_errors.h"
#include "log.h"
#include "registry.h"
#include "server.h"
#include "worker.h"

/*
 * jemalloc's options, read at its start. Freed memory goes back to the
 * system within about a second even while the server is idle (a
 * background thread purges it; without one, jemalloc purges only when the
 * program allocates again), and no thread keeps a cache of freed objects:
 * after 1,000 idle and 200 slow connections the anonymous resident size
 * came back within 2.4% of where it was, against 6-8% with thread caches
 * (bench/hostile.sh), for no throughput measurable here (the hot path
 * allocates from libh2o's pools). Ignored by the sanitizer builds, which
 * use the system allocator.
 */
const char *malloc_conf =
    "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,tcache:false";

/* The largest request body accepted (and ignored); see register_root(). */
#define AH_MAX_REQUEST_BODY 4096

/* The signals main() takes with sigwaitinfo(); blocked in every thread. */
static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, ah_lease_signal());
}

static h2o_pathconf_t *register_root(h2o_globalconf_t *conf, unsigned request_timeout_ms,
                                     h2o_iovec_t cors_origin)
{
    h2o_config_init(conf);
    /* One deadline for a whole request head, and for an idle keep-alive connection. */
    conf->http1.req_timeout = request_timeout_ms;
    conf->http2.idle_timeout = request_timeout_ms;
    conf->server_name = h2o_iovec_init(H2O_STRLIT("ahead/" AH_VERSION_STRING));
    /*
     * No endpoint reads a request body, and libh2o buffers a whole body
     * (up to 1 GB by default) before a handler runs: a bigger one is a 413.
     */
    conf->max_request_entity_size = AH_MAX_REQUEST_BODY;
    h2o_hostconf_t *host =
        h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    ah_early_errors_register(host, cors_origin);
    return h2o_config_register_path(host, "/", 0);
}

/*
 * Descriptors: the soft limit is raised to the hard one (often 1024 of
 * 524288), and the connection cap lowered to what is left after the
 * snapshots, listeners and logs (DESCRIPTORS_KEPT), so that the cap, not
 * EMFILE, is what stops accepting (accept.h).
 */
#define DESCRIPTORS_KEPT 64

/* The kernel silently caps a listen backlog at net.core.somaxconn: say so. */
static void check_backlog(const ah_config_t *cfg)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    unsigned somaxconn = 0;
    if (f == NULL)
        return;
    if (fscanf(f, "%u", &somaxconn) == 1 && somaxconn < cfg->listen_backlog)
        ah_log("warning: the kernel caps --listen-backlog %u at net.core.somaxconn = %u; "
               "raise it with sysctl -w net.core.somaxconn=%u",
               cfg->listen_backlog, somaxconn, cfg->listen_backlog);
    fclose(f);
}

static void fit_descriptors(ah_server_t *srv)
{
    struct rlimit rl;
    srv->max_connections = srv->cfg.max_connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t spare = (rlim_t)(DESCRIPTORS_KEPT + 2 * srv->cfg.n_indexes +
                            srv->cfg.n_listen * srv->cfg.threads + AH_ADMIN_MAX_CONNS);
    rlim_t room = rl.rlim_cur > spare ? rl.rlim_cur - spare : 1;
    if (rl.rlim_cur != RLIM_INFINITY && room < srv->max_connections) {
        ah_log("--max-connections %u lowered to %llu: the descriptor limit (ulimit -n) is %llu",
               srv->max_connections, (unsigned long long)room, (unsigned long long)rl.rlim_cur);
        srv->max_connections = (unsigned)room;
    }
}

static int setup_h2o(ah_server_t *srv, char *err, size_t errlen)
{
    srv->cors_origin = h2o_iovec_init(srv->cfg.cors_origin, strlen(srv->cfg.cors_origin));
    h2o_pathconf_t *pub =
        register_root(&srv->h2o_public, srv->cfg.request_timeout_ms, srv->cors_origin);
    ah_api_register(srv, pub);
    if (srv->cfg.access_log != NULL) {
        h2o_access_log_filehandle_t *fh =
            h2o_access_log_open_handle(srv->cfg.access_log, NULL, H2O_LOGCONF_ESCAPE_APACHE);
        if (fh == NULL) {
            snprintf(err, errlen, "--access-log %s: cannot open", srv->cfg.access_log);
            return -1;
        }
        h2o_access_log_register(pub, fh);
        h2o_mem_release_shared(fh); /* the logger holds its own reference, as h2o's configurator */
    }
    ah_admin_register(
        srv, register_root(&srv->h2o_admin, srv->cfg.request_timeout_ms, h2o_iovec_init(NULL, 0)));

    int n = snprintf(srv->cache_control_buf, sizeof(srv->cache_control_buf), "public, max-age=%u",
                     srv->cfg.cache_max_age);
    srv->cache_control = h2o_iovec_init(srv->cache_control_buf, (size_t)n);
    return 0;
}

/* Binds every public socket (one per address per loop) and the admin socket. */
static int bind_all(ah_server_t *srv, int *admin_fd, char *err, size_t errlen)
{
    char msg[256], addr[80];
    ah_config_t *cfg = &srv->cfg;

    for (size_t a = 0; a < cfg->n_listen; a++) {
        if (ah_listener_probe(&cfg->listen[a], msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen[a].spec, msg);
            return -1;
        }
        for (size_t w = 0; w < srv->n_workers; w++) {
            int fd =
                ah_listener_open((struct sockaddr *)&cfg->listen[a].addr, cfg->listen[a].addrlen, 1,
                                 (int)cfg->listen_backlog, msg, sizeof(msg));
            if (fd < 0) {
                snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen[a].spec, msg);
                return -1;
            }
            srv->workers[w].fds[a] = fd;
        }
    }
    *admin_fd = -1;
    if (cfg->admin_enabled) {
        *admin_fd = ah_listener_open((struct sockaddr *)&cfg->admin.addr, cfg->admin.addrlen, 0,
                                     SOMAXCONN, msg, sizeof(msg));
        if (*admin_fd < 0) {
            snprintf(err, errlen, "cannot listen on %s (admin): %s", cfg->admin.spec, msg);
            return -1;
        }
        struct sockaddr_storage got;
        socklen_t len = sizeof(got);
        if (getsockname(*admin_fd, (struct sockaddr *)&got, &len) == 0)
            memcpy(&cfg->admin.addr, &got, len);
    }
    for (size_t a = 0; a < cfg->n_listen; a++)
        ah_log("listening on %s (%zu event loops)",
               ah_format_sockaddr((struct sockaddr *)&cfg->listen[a].addr, addr, sizeof(addr)),
               srv->n_workers);
    if (cfg->admin_enabled)
        ah_log("admin listening on %s%s",
               ah_format_sockaddr((struct sockaddr *)&cfg->admin.addr, addr, sizeof(addr)),
               cfg->admin_token != NULL ? " (bearer token required)" : "");
    else
        ah_log("admin listener off");
    return 0;
}

static int create_workers(ah_server_t *srv)
{
    srv->n_workers = srv->cfg.threads;
    srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
    srv->metrics = calloc(srv->n_workers, sizeof(*srv->metrics));
    if (srv->workers == NULL || srv->metrics == NULL)
        return AH_ENOMEM;
    for (size_t w = 0; w < srv->n_workers; w++) {
        if (ah_worker_init(&srv->workers[w], srv, w) != 0)
            return AH_ENOMEM;
        srv->metrics[w] = &srv->workers[w].metrics;
    }
    return 0;
}

/* Loads every index; the first failure has been logged as one line. */
static int load_all(ah_server_t *srv)
{
    ah_reload_result_t res;
    for (size_t i = 0; i < srv->reg.n; i++) {
        if (ah_control_reload(srv, i, "startup", &res) != 0)
            return -1;
    }
    for (size_t i = 0; i < srv->reg.n; i++) {
        ah_snap_t *s = ah_registry_acquire(&srv->reg, i);
        if (s != NULL && srv->cfg.max_k > s->st.topk)
            ah_log("index %s: --max-k %u is above the snapshot's top-k %u; k is capped at %u",
                   srv->reg.entries[i].name, srv->cfg.max_k, s->st.topk, s->st.topk);
        ah_snap_release(s);
    }
    return 0;
}

/* A snapshot file is being written in place: keep a private copy (registry.h). */
static void on_lease_broken(ah_server_t *srv, const siginfo_t *info)
{
    char msg[512];
    if (ah_registry_lease_broken(&srv->reg, info->si_fd, msg, sizeof(msg)) && msg[0] != '\0')
        ah_log("%s", msg);
}

/*
 * The --drain-ms period: /readyz answers 503 "draining" while every request
 * is still served, so a load balancer polling it stops sending before the
 * listeners close. A second SIGTERM or SIGINT ends it early; the lease
 * signal is still handled, SIGHUP is ignored.
 */
static void drain(ah_server_t *srv, const sigset_t *set)
{
    if (srv->cfg.drain_ms == 0)
        return;
    atomic_store_explicit(&srv->draining, 1, memory_order_release);
    int64_t end = (int64_t)ah_monotonic_ms() + srv->cfg.drain_ms;
    for (;;) {
        int64_t left = end - (int64_t)ah_monotonic_ms();
        if (left <= 0)
            return;
        struct timespec wait = {.tv_sec = left / 1000, .tv_nsec = left % 1000 * 1000000L};
        siginfo_t info;
        int sig = sigtimedwait(set, &info, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            ah_log("%s again: draining cut short", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
        if (sig > 0 && sig == ah_lease_signal())
            on_lease_broken(srv, &info);
    }
}

/* Waits for signals until SIGTERM or SIGINT. */
static void wait_for_signals(ah_server_t *srv, const sigset_t *set)
{
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(set, &info);
        if (sig < 0)
            continue;
        if (sig == ah_lease_signal()) {
            on_lease_broken(srv, &info);
            continue;
        }
        if (sig == SIGHUP) {
            ah_log("SIGHUP: reloading every index");
            ah_control_request(srv->control, AH_CONTROL_RELOAD_ALL);
            continue;
        }
        ah_log("%s: shutting down (drain %u ms, grace %u ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
               srv->cfg.drain_ms, srv->cfg.grace_ms);
        drain(srv, set);
        return;
    }
}

/* The least time shutdown gives the control thread, when --grace-ms is shorter. */
#define CONTROL_JOIN_MIN_MS 1000

/*
 * Stops every loop. The control thread gets the grace period (at least
 * CONTROL_JOIN_MIN_MS) from the signal, not more: one stuck in a reload or
 * a request must not keep the process alive, so past that it exits here,
 * with a line saying why, without unwinding what that thread still uses.
 */
static void shutdown_all(ah_server_t *srv)
{
    unsigned wait_ms =
        srv->cfg.grace_ms > CONTROL_JOIN_MIN_MS ? srv->cfg.grace_ms : CONTROL_JOIN_MIN_MS;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long ns = deadline.tv_nsec + (long)(wait_ms % 1000) * 1000000L;
    deadline.tv_sec += (time_t)(wait_ms / 1000) + ns / 1000000000L;
    deadline.tv_nsec = ns % 1000000000L;

    for (size_t w = 0; w < srv->n_workers; w++)
        ah_worker_request_stop(&srv->workers[w]);
    ah_control_request(srv->control, AH_CONTROL_STOP);
    for (size_t w = 0; w < srv->n_workers; w++)
        ah_worker_join(&srv->workers[w]);
    if (ah_control_join(srv->control, &deadline) != 0) {
        ah_log("the control thread (reloads, admin requests) is still busy %u ms after the "
               "signal; exiting without waiting for it",
               wait_ms);
        fflush(NULL);
        _exit(1);
    }
}

static void free_all(ah_server_t *srv)
{
    for (size_t w = 0; srv->workers != NULL && w < srv->n_workers; w++)
        ah_worker_free(&srv->workers[w]);
    free(srv->workers);
    free(srv->metrics);
    free(srv->control);
    ah_registry_dispose(&srv->reg);
    h2o_config_dispose(&srv->h2o_public);
    h2o_config_dispose(&srv->h2o_admin);
    ah_config_free(&srv->cfg);
    free(srv);
}

/* A startup failure after threads exist: one line, and out without unwinding them. */
static void die(const char *msg)
{
    if (msg != NULL)
        fprintf(stderr, "ahead-serve: %s\n", msg);
    fflush(NULL);
    _exit(1);
}

int main(int argc, char **argv)
{
    char err[512];
    sigset_t set;
    int admin_fd = -1;

    ah_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        die("out of memory");
    int rc = ah_config_parse(&srv->cfg, argc, argv, err, sizeof(err));
    if (rc == AH_CONFIG_HELP || rc == AH_CONFIG_VERSION) {
        if (rc == AH_CONFIG_HELP)
            ah_config_usage(stdout);
        else
            printf("ahead-serve %s (libh2o %s)\n", AH_VERSION_STRING, H2O_VERSION);
        ah_config_free(&srv->cfg);
        free(srv);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "ahead-serve: %s\n", err);
        ah_config_free(&srv->cfg);
        free(srv);
        return 2;
    }

    ah_config_hide_token(argc, argv);
    if (srv->cfg.admin_token_in_argv)
        ah_log("warning: --admin-token was visible to every local user in the process list until "
               "now; use --admin-token-file or AHEAD_ADMIN_TOKEN");

    fit_descriptors(srv);
    check_backlog(&srv->cfg);
    signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv->control = calloc(1, sizeof(*srv->control));
    if (srv->control == NULL || ah_registry_init(&srv->reg, &srv->cfg) != 0 ||
        create_workers(srv) != 0)
        die("out of memory");
    if (setup_h2o(srv, err, sizeof(err)) != 0 || bind_all(srv, &admin_fd, err, sizeof(err)) != 0)
        die(err);
    if (ah_control_start(srv->control, srv, admin_fd, err, sizeof(err)) != 0)
        die(err);
    for (size_t w = 0; w < srv->n_workers; w++) {
        if (ah_worker_start(&srv->workers[w]) != 0)
            die("cannot start an event loop thread");
    }
    if (load_all(srv) != 0)
        die(NULL);
    atomic_store_explicit(&srv->reg.ready, 1, memory_order_release);
    ah_log("ready: %zu index%s", srv->reg.n, srv->reg.n == 1 ? "" : "es");

    wait_for_signals(srv, &set);
    shutdown_all(srv);
    ah_log("stopped");
    free_all(srv);
    return 0;
}
