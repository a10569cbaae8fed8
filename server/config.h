/* SPDX-License-Identifier: MIT */
/*
 * config.h: the command line of ahead-serve, parsed once at startup into an
 * immutable ah_config_t that every thread reads and none writes.
 *
 * The struct owns its strings and resolved addresses; ah_config_free()
 * releases them. Nothing here touches the network or the snapshots: parsing
 * only checks syntax and ranges, so a bad option is reported before any
 * socket is bound or file mapped.
 */
#ifndef AH_SERVER_CONFIG_H
#define AH_SERVER_CONFIG_H

#include "ahead.h" /* ah_match_mode_t */

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

/* The longest index name; names are [A-Za-z0-9_.-]+ so they fit in a path segment. */
#define AH_INDEX_NAME_MAX 64

/* The longest admin token accepted. */
#define AH_ADMIN_TOKEN_MAX 256

/* The default k when a request gives none (capped by the effective max-k). */
#define AH_DEFAULT_K 10

/* One address to listen on, as given and as resolved. */
/* How a snapshot is checked before it serves (--verify). */
typedef enum ah_verify_level {
    AH_VERIFY_OPEN,      /* header, section table, bounds: constant time */
    AH_VERIFY_CHECKSUMS, /* and every checksum: memory speed (the default) */
    AH_VERIFY_FULL,      /* and every structure: about a second per 60 MB */
} ah_verify_level_t;

typedef struct ah_listen_addr {
    char *spec; /* "HOST:PORT" as given on the command line */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} ah_listen_addr_t;

/* One served index: a name and the snapshot file it is (re)loaded from. */
typedef struct ah_index_spec {
    char *name;
    char *path;
} ah_index_spec_t;

typedef struct ah_config {
    ah_index_spec_t *indexes; /* in command-line order; the positional one is "default" */
    size_t n_indexes;
    ah_listen_addr_t *listen; /* --listen, at least one */
    size_t n_listen;
    int admin_enabled;             /* 0 after --admin-listen off */
    ah_listen_addr_t admin;        /* --admin-listen */
    char *admin_token;             /* --admin-token(-file) or AHEAD_ADMIN_TOKEN; NULL: none */
    int admin_token_in_argv;       /* it came from --admin-token: warn at startup */
    unsigned threads;              /* --threads: event loops serving the public API */
    int watch;                     /* --watch */
    unsigned cache_max_age;        /* --cache-max-age, seconds */
    char *cors_origin;             /* --cors-origin */
    char *access_log;              /* --access-log, NULL when off */
    unsigned max_k;                /* --max-k; 0 means each snapshot's own top-k */
    int ui;                        /* --ui on|off: the search box at / */
    int default_typos;             /* --typos: AH_TYPOS_AUTO or 0..2, for requests without typos= */
    ah_match_mode_t default_match; /* --match, for requests without match= */
    unsigned response_cache;       /* --response-cache: bodies cached per event loop (0: off) */
    unsigned grace_ms;             /* --grace-ms */
    unsigned drain_ms;             /* --drain-ms: /readyz 503 before the listeners close */
    unsigned listen_backlog;       /* --listen-backlog: each listening socket's queue */
    ah_verify_level_t verify;      /* --verify open|checksums|full */
    int snapshot_copy;             /* --snapshot-memory: 1 copy (the default), 0 map */
    unsigned max_connections;      /* --max-connections: public connections at most */
    unsigned request_timeout_ms;   /* --request-timeout-ms: idle and slow request heads */
} ah_config_t;

/* What ah_config_parse() asks the caller to do. */
enum { AH_CONFIG_RUN = 0, AH_CONFIG_HELP = 1, AH_CONFIG_VERSION = 2 };

/*
 * ah_config_parse: fills *cfg from argv. On success returns AH_CONFIG_RUN,
 * or AH_CONFIG_HELP / AH_CONFIG_VERSION when the caller should print that
 * and exit 0. On a bad option returns AH_EINVAL with one line (no newline)
 * in err. *cfg must be released with ah_config_free() in every case.
 */
int ah_config_parse(ah_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/*
 * ah_config_hide_token: overwrites the values of --admin-token in argv with
 * 'x', so that /proc/PID/cmdline stops showing them (it did until now: a
 * token file or the environment is the safe way, and --help says so).
 */
void ah_config_hide_token(int argc, char **argv);

/* ah_config_usage: the --help text. */
void ah_config_usage(FILE *out);

/* ah_config_free: releases what ah_config_parse() allocated; safe on a zeroed struct. */
void ah_config_free(ah_config_t *cfg);

/* ah_config_valid_name: 1 when name/len is a legal index name. */
int ah_config_valid_name(const char *name, size_t len);

/* ah_format_sockaddr: "HOST:PORT" (IPv6 in brackets) into buf; returns buf. */
const char *ah_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

#endif /* AH_SERVER_CONFIG_H */
