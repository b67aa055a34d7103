/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_INDEX_CLI_H
#define SOCI_INDEX_CLI_H

#include <stdbool.h>

#include "cli_common.h"

/* Print "soci-index: <what>: <libsoci detail or code name>" and return 1 (an exit code). */
int cli_fail(const char *what, int err);

/* Print "soci-index: <message>" and return 2 (usage errors). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int cmd_ztoc(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_get_file(int argc, char **argv);
int cmd_push(int argc, char **argv);

#endif
