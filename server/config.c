/* SPDX-License-Identifier: MIT */
/*
 * config.c: parses ahead-serve's options (getopt_long) into ah_config_t.
 *
 * Every error is one line naming the option and what was wrong with it, so
 * that main() can print "ahead-serve: <line>" and exit non-zero before any
 * socket or snapshot is touched. Addresses are resolved here (numeric ports,
 * getaddrinfo for the host) so that a bad host is a startup error too.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ahead.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return AH_EINVAL;
}

void ah_config_usage(FILE *out)
{
    fputs("Usage: ahead-serve [options] [SNAPSHOT]\n"
          "\n"
          "Serves prefix completions from snapshots made by ahead-build.\n"
          "SNAPSHOT is served as the index named \"default\"; --index adds more.\n"
          "\n"
          "  --index NAME=PATH        serve PATH as index NAME (repeatable)\n"
          "  --listen HOST:PORT       public API address (default 127.0.0.1:8080; repeatable)\n"
          "  --threads N              event loops (default: number of CPUs)\n"
          "  --admin-listen HOST:PORT\n"
          "                           admin address (default 127.0.0.1:8081; 'off' disables)\n"
          "  --admin-token-file PATH  require 'Authorization: Bearer TOKEN' on the admin\n"
          "                           listener, TOKEN being the file's first line (also:\n"
          "                           the AHEAD_ADMIN_TOKEN environment variable); needed\n"
          "                           when --admin-listen is not a loopback address\n"
          "  --admin-token TOKEN      the same, but the token shows in the process list\n"
          "  --watch                  reload an index when its file is replaced (inotify)\n"
          "  --cache-max-age SECONDS  Cache-Control max-age of API answers (default 60)\n"
          "  --cors-origin ORIGIN     Access-Control-Allow-Origin value (default *)\n"
          "  --access-log PATH        write an access log (default: off)\n"
          "  --max-k N                largest k a request may ask for (default: the snapshot's "
          "top-k)\n"
          "  --ui on|off              the search box at / (default on)\n"
          "  --typos auto|0|1|2       typos forgiven when a request does not say (default auto)\n"
          "  --match words|prefix     where a request that does not say may match (default\n"
          "                           words: also at word starts inside a text)\n"
          "  --response-cache N       answers kept per event loop, 1 KB each (default 4096;\n"
          "                           0 turns the cache off)\n"
          "  --drain-ms MS            at SIGTERM, answer /readyz with 503 \"draining\" and\n"
          "                           go on serving for MS before closing the listeners, so\n"
          "                           that a load balancer stops sending first (default 0)\n"
          "  --grace-ms MS            shutdown grace period, after --drain-ms (default 5000)\n"
          "  --listen-backlog N       connections the kernel queues per listening socket\n"
          "                           before they are accepted (default 4096; capped by\n"
          "                           net.core.somaxconn)\n"
          "  --max-connections N      open client connections at most; further ones wait in\n"
          "                           the listen queue (default 10000, lowered to fit the\n"
          "                           descriptor limit)\n"
          "  --request-timeout-ms MS  close a connection that has not sent a whole request\n"
          "                           head this long after it connected or after its last\n"
          "                           answer: idle keep-alive and slow senders (default 10000)\n"
          "  --verify LEVEL           check a snapshot before serving it: open (header and\n"
          "                           bounds), checksums (and every CRC; the default) or\n"
          "                           full (and every structure)\n"
          "  --snapshot-memory MODE   copy (the default): serve each snapshot from a private\n"
          "                           copy in memory, in 2 MB pages where the kernel gives\n"
          "                           transparent huge pages (faster walks of large\n"
          "                           snapshots; the snapshot's size in this process's\n"
          "                           memory); map: serve it from the file's mapping, shared\n"
          "                           with every process that maps the file\n"
          "  --help                   this text\n"
          "  --version                print the version\n"
          "\n"
          "Signals: SIGHUP reloads every index; SIGTERM and SIGINT shut down gracefully.\n",
          out);
}

int ah_config_valid_name(const char *name, size_t len)
{
    if (len == 0 || len > AH_INDEX_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

const char *ah_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "?");
    }
    return buf;
}

/* Parses an unsigned decimal in [lo, hi]; returns 0 or -1. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    if (*s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/*
 * Resolves "HOST:PORT", "[V6]:PORT", ":PORT" or "*:PORT" (any address).
 * Port 0 asks the kernel for a free port (the server logs the one it got).
 */
static int parse_listen(const char *opt, const char *spec, ah_listen_addr_t *out, char *err,
                        size_t errlen)
{
    char host[256];
    const char *colon, *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':')
            return fail(err, errlen, "%s '%s': expected [IPV6]:PORT", opt, spec);
        if ((size_t)(close - spec - 1) >= sizeof(host))
            return fail(err, errlen, "%s '%s': host too long", opt, spec);
        memcpy(host, spec + 1, close - spec - 1);
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL)
            return fail(err, errlen, "%s '%s': expected HOST:PORT", opt, spec);
        if ((size_t)(colon - spec) >= sizeof(host))
            return fail(err, errlen, "%s '%s': host too long", opt, spec);
        memcpy(host, spec, colon - spec);
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    unsigned long p;
    if (parse_uint(port, 0, 65535, &p) != 0)
        return fail(err, errlen, "%s '%s': port must be 0..65535", opt, spec);

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    const char *h = (host[0] == '\0' || strcmp(host, "*") == 0) ? NULL : host;
    if (h == NULL)
        hints.ai_family = AF_INET;
    int rc = getaddrinfo(h, port, &hints, &res);
    if (rc != 0 || res == NULL)
        return fail(err, errlen, "%s '%s': cannot resolve host: %s", opt, spec, gai_strerror(rc));
    memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
    out->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    out->spec = strdup(spec);
    return 0;
}

static int add_index(ah_config_t *cfg, const char *name, size_t name_len, const char *path,
                     char *err, size_t errlen)
{
    if (!ah_config_valid_name(name, name_len))
        return fail(err, errlen, "--index '%.*s': a name is 1..%d characters of A-Z a-z 0-9 _ - .",
                    (int)name_len, name, AH_INDEX_NAME_MAX);
    if (*path == '\0')
        return fail(err, errlen, "--index '%.*s': empty path", (int)name_len, name);
    for (size_t i = 0; i < cfg->n_indexes; i++) {
        if (strlen(cfg->indexes[i].name) == name_len &&
            memcmp(cfg->indexes[i].name, name, name_len) == 0)
            return fail(err, errlen, "index '%.*s' given twice", (int)name_len, name);
    }
    ah_index_spec_t *n = realloc(cfg->indexes, (cfg->n_indexes + 1) * sizeof(*n));
    if (n == NULL)
        return fail(err, errlen, "out of memory");
    cfg->indexes = n;
    n[cfg->n_indexes].name = strndup(name, name_len);
    n[cfg->n_indexes].path = strdup(path);
    cfg->n_indexes++;
    return 0;
}

static int add_listen(ah_config_t *cfg, const char *spec, char *err, size_t errlen)
{
    ah_listen_addr_t *n = realloc(cfg->listen, (cfg->n_listen + 1) * sizeof(*n));
    if (n == NULL)
        return fail(err, errlen, "out of memory");
    cfg->listen = n;
    memset(&n[cfg->n_listen], 0, sizeof(n[0]));
    int rc = parse_listen("--listen", spec, &n[cfg->n_listen], err, errlen);
    if (rc != 0)
        return rc;
    cfg->n_listen++;
    return 0;
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = strdup(src);
}

/* A token is printable ASCII without spaces: it travels in an HTTP header. */
static int set_token(ah_config_t *cfg, const char *from, const char *tok, size_t len, char *err,
                     size_t errlen)
{
    if (len == 0)
        return fail(err, errlen, "%s: empty token", from);
    if (len > AH_ADMIN_TOKEN_MAX)
        return fail(err, errlen, "%s: the token is longer than %d bytes", from, AH_ADMIN_TOKEN_MAX);
    for (size_t i = 0; i < len; i++) {
        if (tok[i] <= 0x20 || tok[i] >= 0x7f)
            return fail(err, errlen, "%s: the token must be printable ASCII without spaces", from);
    }
    free(cfg->admin_token);
    cfg->admin_token = strndup(tok, len);
    return cfg->admin_token != NULL ? 0 : fail(err, errlen, "out of memory");
}

/* The token is the file's first line, without its line end. */
static int read_token_file(ah_config_t *cfg, const char *path, char *err, size_t errlen)
{
    char line[AH_ADMIN_TOKEN_MAX + 3], from[300];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, errlen, "--admin-token-file %s: %s", path, strerror(errno));
    size_t n = fgets(line, sizeof(line), f) != NULL ? strlen(line) : 0;
    fclose(f);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    snprintf(from, sizeof(from), "--admin-token-file %s", path);
    return set_token(cfg, from, line, n, err, errlen);
}

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

enum {
    OPT_INDEX = 256,
    OPT_LISTEN,
    OPT_THREADS,
    OPT_ADMIN_LISTEN,
    OPT_ADMIN_TOKEN,
    OPT_ADMIN_TOKEN_FILE,
    OPT_WATCH,
    OPT_CACHE_MAX_AGE,
    OPT_CORS_ORIGIN,
    OPT_ACCESS_LOG,
    OPT_MAX_K,
    OPT_UI,
    OPT_TYPOS,
    OPT_MATCH,
    OPT_RESPONSE_CACHE,
    OPT_GRACE_MS,
    OPT_DRAIN_MS,
    OPT_LISTEN_BACKLOG,
    OPT_VERIFY,
    OPT_SNAPSHOT_MEMORY,
    OPT_MAX_CONNECTIONS,
    OPT_REQUEST_TIMEOUT,
    OPT_HELP,
    OPT_VERSION
};

static const struct option long_options[] = {
    {"index", required_argument, NULL, OPT_INDEX},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN},
    {"admin-token", required_argument, NULL, OPT_ADMIN_TOKEN},
    {"admin-token-file", required_argument, NULL, OPT_ADMIN_TOKEN_FILE},
    {"watch", no_argument, NULL, OPT_WATCH},
    {"cache-max-age", required_argument, NULL, OPT_CACHE_MAX_AGE},
    {"cors-origin", required_argument, NULL, OPT_CORS_ORIGIN},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"max-k", required_argument, NULL, OPT_MAX_K},
    {"ui", required_argument, NULL, OPT_UI},
    {"typos", required_argument, NULL, OPT_TYPOS},
    {"match", required_argument, NULL, OPT_MATCH},
    {"response-cache", required_argument, NULL, OPT_RESPONSE_CACHE},
    {"grace-ms", required_argument, NULL, OPT_GRACE_MS},
    {"drain-ms", required_argument, NULL, OPT_DRAIN_MS},
    {"listen-backlog", required_argument, NULL, OPT_LISTEN_BACKLOG},
    {"verify", required_argument, NULL, OPT_VERIFY},
    {"snapshot-memory", required_argument, NULL, OPT_SNAPSHOT_MEMORY},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"request-timeout-ms", required_argument, NULL, OPT_REQUEST_TIMEOUT},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0}};

/* One option; returns 0, AH_CONFIG_HELP/VERSION, or AH_EINVAL. */
static int apply_option(ah_config_t *cfg, int opt, const char *arg, int *admin_given, char *err,
                        size_t errlen)
{
    unsigned long v;
    switch (opt) {
    case OPT_INDEX: {
        const char *eq = strchr(arg, '=');
        if (eq == NULL)
            return fail(err, errlen, "--index '%s': expected NAME=PATH", arg);
        return add_index(cfg, arg, eq - arg, eq + 1, err, errlen);
    }
    case OPT_LISTEN:
        return add_listen(cfg, arg, err, errlen);
    case OPT_THREADS:
        if (parse_uint(arg, 1, 256, &v) != 0)
            return fail(err, errlen, "--threads '%s': expected an integer in 1..256", arg);
        cfg->threads = (unsigned)v;
        return 0;
    case OPT_ADMIN_LISTEN:
        *admin_given = 1;
        free(cfg->admin.spec);
        memset(&cfg->admin, 0, sizeof(cfg->admin));
        if (strcmp(arg, "off") == 0) {
            cfg->admin_enabled = 0;
            return 0;
        }
        cfg->admin_enabled = 1;
        return parse_listen("--admin-listen", arg, &cfg->admin, err, errlen);
    case OPT_ADMIN_TOKEN:
        cfg->admin_token_in_argv = 1;
        return set_token(cfg, "--admin-token", arg, strlen(arg), err, errlen);
    case OPT_ADMIN_TOKEN_FILE:
        cfg->admin_token_in_argv = 0;
        return read_token_file(cfg, arg, err, errlen);
    case OPT_WATCH:
        cfg->watch = 1;
        return 0;
    case OPT_CACHE_MAX_AGE:
        if (parse_uint(arg, 0, 31536000, &v) != 0)
            return fail(err, errlen, "--cache-max-age '%s': expected seconds in 0..31536000", arg);
        cfg->cache_max_age = (unsigned)v;
        return 0;
    case OPT_CORS_ORIGIN:
        for (const char *p = arg; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return fail(err, errlen, "--cors-origin: control characters are not allowed");
        }
        if (*arg == '\0')
            return fail(err, errlen, "--cors-origin: empty origin");
        set_str(&cfg->cors_origin, arg);
        return 0;
    case OPT_ACCESS_LOG:
        if (*arg == '\0')
            return fail(err, errlen, "--access-log: empty path");
        set_str(&cfg->access_log, arg);
        return 0;
    case OPT_MAX_K:
        if (parse_uint(arg, 1, 255, &v) != 0)
            return fail(err, errlen, "--max-k '%s': expected an integer in 1..255", arg);
        cfg->max_k = (unsigned)v;
        return 0;
    case OPT_UI:
        if (strcmp(arg, "on") == 0 || strcmp(arg, "off") == 0)
            cfg->ui = arg[1] == 'n';
        else
            return fail(err, errlen, "--ui '%s': expected on or off", arg);
        return 0;
    case OPT_TYPOS:
        if (ah_parse_typos(arg, strlen(arg), &cfg->default_typos) != 0)
            return fail(err, errlen, "--typos '%s': expected auto, 0, 1 or 2", arg);
        return 0;
    case OPT_MATCH:
        if (ah_parse_match(arg, strlen(arg), &cfg->default_match) != 0)
            return fail(err, errlen, "--match '%s': expected words or prefix", arg);
        return 0;
    case OPT_RESPONSE_CACHE:
        if (parse_uint(arg, 0, 1u << 20, &v) != 0)
            return fail(err, errlen, "--response-cache '%s': expected an integer in 0..1048576",
                        arg);
        cfg->response_cache = (unsigned)v;
        return 0;
    case OPT_GRACE_MS:
        if (parse_uint(arg, 0, 3600000, &v) != 0)
            return fail(err, errlen, "--grace-ms '%s': expected milliseconds in 0..3600000", arg);
        cfg->grace_ms = (unsigned)v;
        return 0;
    case OPT_DRAIN_MS:
        if (parse_uint(arg, 0, 3600000, &v) != 0)
            return fail(err, errlen, "--drain-ms '%s': expected milliseconds in 0..3600000", arg);
        cfg->drain_ms = (unsigned)v;
        return 0;
    case OPT_LISTEN_BACKLOG:
        if (parse_uint(arg, 1, 65535, &v) != 0)
            return fail(err, errlen, "--listen-backlog '%s': expected an integer in 1..65535", arg);
        cfg->listen_backlog = (unsigned)v;
        return 0;
    case OPT_VERIFY:
        if (strcmp(arg, "full") == 0)
            cfg->verify = AH_VERIFY_FULL;
        else if (strcmp(arg, "checksums") == 0)
            cfg->verify = AH_VERIFY_CHECKSUMS;
        else if (strcmp(arg, "open") == 0)
            cfg->verify = AH_VERIFY_OPEN;
        else
            return fail(err, errlen, "--verify '%s': expected open, checksums or full", arg);
        return 0;
    case OPT_SNAPSHOT_MEMORY:
        if (strcmp(arg, "copy") != 0 && strcmp(arg, "map") != 0)
            return fail(err, errlen, "--snapshot-memory '%s': expected copy or map", arg);
        cfg->snapshot_copy = strcmp(arg, "copy") == 0;
        return 0;
    case OPT_MAX_CONNECTIONS:
        if (parse_uint(arg, 1, 1000000, &v) != 0)
            return fail(err, errlen, "--max-connections '%s': expected an integer in 1..1000000",
                        arg);
        cfg->max_connections = (unsigned)v;
        return 0;
    case OPT_REQUEST_TIMEOUT:
        if (parse_uint(arg, 1, 3600000, &v) != 0)
            return fail(err, errlen,
                        "--request-timeout-ms '%s': expected milliseconds in 1..3600000", arg);
        cfg->request_timeout_ms = (unsigned)v;
        return 0;
    case OPT_HELP:
        return AH_CONFIG_HELP;
    case OPT_VERSION:
        return AH_CONFIG_VERSION;
    default:
        return fail(err, errlen, "unknown option (see --help)");
    }
}

int ah_config_parse(ah_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    int admin_given = 0, opt, rc;

    memset(cfg, 0, sizeof(*cfg));
    cfg->cache_max_age = 60;
    cfg->response_cache = 4096;
    cfg->grace_ms = 5000;
    cfg->listen_backlog = 4096;
    cfg->max_connections = 10000;
    cfg->request_timeout_ms = 10000;
    cfg->admin_enabled = 1;
    cfg->verify = AH_VERIFY_CHECKSUMS;
    cfg->snapshot_copy = 1;
    cfg->ui = 1;
    cfg->default_typos = AH_TYPOS_AUTO;
    cfg->default_match = AH_MATCH_WORDS;
    cfg->cors_origin = strdup("*");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = ncpu > 0 ? (unsigned)(ncpu > 256 ? 256 : ncpu) : 1;

    /* getopt prints its own messages; we print one line of ours instead. */
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
        if (opt == '?')
            return fail(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
        if (opt == ':')
            return fail(err, errlen, "option '%s' needs a value", argv[optind - 1]);
        rc = apply_option(cfg, opt, optarg, &admin_given, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (argc - optind > 1)
        return fail(err, errlen, "more than one SNAPSHOT given ('%s'); use --index NAME=PATH",
                    argv[optind + 1]);
    if (argc - optind == 1) {
        /* The positional snapshot is "default" and comes first. */
        size_t n_named = cfg->n_indexes;
        rc = add_index(cfg, "default", 7, argv[optind], err, errlen);
        if (rc != 0)
            return rc;
        ah_index_spec_t d = cfg->indexes[n_named];
        memmove(cfg->indexes + 1, cfg->indexes, n_named * sizeof(d));
        cfg->indexes[0] = d;
    }
    if (cfg->n_indexes == 0)
        return fail(err, errlen, "no snapshot given (see --help)");
    if (cfg->n_listen == 0 && (rc = add_listen(cfg, "127.0.0.1:8080", err, errlen)) != 0)
        return rc;
    if (!admin_given &&
        (rc = parse_listen("--admin-listen", "127.0.0.1:8081", &cfg->admin, err, errlen)) != 0)
        return rc;
    const char *env = getenv("AHEAD_ADMIN_TOKEN");
    if (cfg->admin_token == NULL && env != NULL &&
        (rc = set_token(cfg, "AHEAD_ADMIN_TOKEN", env, strlen(env), err, errlen)) != 0)
        return rc;
    /* Anyone who can reach an open admin listener can reload and read file paths. */
    if (cfg->admin_enabled && cfg->admin_token == NULL && !is_loopback(&cfg->admin.addr))
        return fail(err, errlen,
                    "--admin-listen %s is not a loopback address: give it a token "
                    "(--admin-token-file or AHEAD_ADMIN_TOKEN), or listen on 127.0.0.1",
                    cfg->admin.spec);
    return AH_CONFIG_RUN;
}

void ah_config_hide_token(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *value = NULL;
        if (strcmp(argv[i], "--admin-token") == 0 && i + 1 < argc)
            value = argv[++i];
        else if (strncmp(argv[i], "--admin-token=", 14) == 0)
            value = argv[i] + 14;
        if (value != NULL)
            memset(value, 'x', strlen(value));
    }
}

void ah_config_free(ah_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_indexes; i++) {
        free(cfg->indexes[i].name);
        free(cfg->indexes[i].path);
    }
    free(cfg->indexes);
    for (size_t i = 0; i < cfg->n_listen; i++)
        free(cfg->listen[i].spec);
    free(cfg->listen);
    free(cfg->admin.spec);
    free(cfg->admin_token);
    free(cfg->cors_origin);
    free(cfg->access_log);
    memset(cfg, 0, sizeof(*cfg));
}
