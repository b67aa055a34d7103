/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_INDEX_CLI_H
#define SOCI_INDEX_CLI_H

#include <stdbool.h>

/* Print "soci-index: <what>: <libsoci detail or code name>" and return 1 (an exit code). */
int cli_fail(const char *what, int err);

/* Print "soci-index: <message>" and return 2 (usage errors). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The options every command that talks to registries takes, for getopt_long tables. */
#define CLI_REGISTRY_LONGOPTS                                                                        \
    {"plain-http", no_argument, NULL, 'H'}, {"insecure", no_argument, NULL, 'k'},                  \
        {"ca", required_argument, NULL, 'c'}, {"hosts-dir", required_argument, NULL, 'D'}

struct soci_config;
/* Apply one of those options to cfg: 1 if opt was one (*err set by the setter), else 0. */
int cli_registry_option(int opt, const char *arg, struct soci_config *cfg, int *err);

int cmd_ztoc(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_get_file(int argc, char **argv);
int cmd_push(int argc, char **argv);

#endif
