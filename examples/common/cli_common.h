/* SPDX-License-Identifier: Apache-2.0 */
/* What the example programs' command lines share: sizes, and the registry options. */
#ifndef SOCI_EXAMPLES_CLI_COMMON_H
#define SOCI_EXAMPLES_CLI_COMMON_H

#include <stdbool.h>
#include <stdint.h>

/* "123", "64K", "4M", "10G" (powers of 1024) into *ret; false if malformed or too big. */
bool cli_parse_size(const char *s, uint64_t *ret);

/* The options every command that talks to registries takes, for getopt_long tables. */
#define CLI_REGISTRY_LONGOPTS                                                                        \
    {"plain-http", no_argument, NULL, 'H'}, {"insecure", no_argument, NULL, 'k'},                  \
        {"ca", required_argument, NULL, 'c'}, {"hosts-dir", required_argument, NULL, 'D'},          \
        {"max-connections", required_argument, NULL, 'M'}, {"registries-conf", required_argument, NULL, 'R'}

struct soci_config;
/* Apply one of those options to cfg: 1 if opt was one (*err set by the setter), else 0. */
int cli_registry_option(int opt, const char *arg, struct soci_config *cfg, int *err);

/* What the FUSE daemons (soci-mount, soci-store) both take: -f, -d, -o and these. */
enum { CLI_CACHE_SIZE = 400, CLI_MEMORY_CACHE, CLI_BACKGROUND, CLI_NO_BACKGROUND, CLI_THREADS };
#define CLI_DAEMON_LONGOPTS                                                                              \
    {"foreground", no_argument, NULL, 'f'}, {"debug", no_argument, NULL, 'd'},                         \
        {"cache-size", required_argument, NULL, CLI_CACHE_SIZE},                                        \
        {"memory-cache", required_argument, NULL, CLI_MEMORY_CACHE},                                    \
        {"background-fetch", no_argument, NULL, CLI_BACKGROUND},                                        \
        {"no-background-fetch", no_argument, NULL, CLI_NO_BACKGROUND},                                  \
        {"threads", required_argument, NULL, CLI_THREADS}

struct cli_daemon_opts {
    const char *fuse_opts; /* -o */
    bool foreground, debug;
    int background;   /* 1, 0, or -1: the program's default */
    unsigned threads; /* 0: the default */
};

/* *err after cli_daemon_option for a bad value (already said on stderr): a usage error. */
#define CLI_USAGE_ERROR 1

/* Apply one of the daemon options to d and cfg: 1 if opt was one (*err 0, a negative
 * SOCI_E* from a config setter, or CLI_USAGE_ERROR), else 0. prog prefixes messages. */
int cli_daemon_option(int opt, const char *arg, struct soci_config *cfg, struct cli_daemon_opts *d, const char *prog,
                      int *err);

/* "soci", "estargz", "zstd:chunked", "whole" or "unknown" for a SOCI_LAZY_* value. */
const char *cli_lazy_path_name(int lazy_path);

/* path made absolute against the working directory (for files a daemon writes once it
 * has left it): *ret malloc'd. 0, SOCI_ENOMEM, or SOCI_EIO when the directory is unknown. */
int cli_absolute_path(const char *path, char **ret);

struct sockaddr_in;
/* A daemon's --listen: "ADDRESS:PORT", an IPv4 address and a port from 1 to 65535, into
 * *ret. NULL when it is one, else what is wrong with it, for a usage message. */
const char *cli_parse_listen(const char *text, struct sockaddr_in *ret);

#endif
