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

/* "soci", "estargz", "zstd:chunked", "whole" or "unknown" for a SOCI_LAZY_* value. */
const char *cli_lazy_path_name(int lazy_path);

#endif
