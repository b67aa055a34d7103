/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The line-level TOML the registry configuration files use (containerd's hosts.toml,
 * containers-registries.conf): `# comments`, table headers `[name]` and `[[name]]`, and
 * `key = value` lines whose value is a "string", true/false or an array of strings.
 * Nothing multi-line, no inline tables: a line outside that is an error, never a guess.
 */
#ifndef SOCI_UTIL_TOML_LINES_H
#define SOCI_UTIL_TOML_LINES_H

#include <stdbool.h>
#include <stddef.h>

enum toml_kind { TOML_TABLE, TOML_ARRAY_TABLE, TOML_KEY };

struct toml_line {
    enum toml_kind kind;
    int lineno;       /* 1-based */
    char name[1024];  /* the table's name between the brackets, or the key */
    char value[1024]; /* a key's value: the string, "true"/"false", or array items joined by ',' */
};

/* The next meaningful line of the text at *p (advanced past it): 1 and *out, 0 at the end,
 * or SOCI_EINVAL naming `what` and the line. */
int toml_next(const char **p, const char *what, struct toml_line *out);

/* Whether a boolean value is true. */
static inline bool toml_true(const struct toml_line *l)
{
    return l->value[0] == 't';
}

#endif
