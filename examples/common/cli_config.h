/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A daemon's options from a config file as well as its command line (--config FILE): the
 * file's lines are "name value" ("name" alone for a flag; # starts a comment) and stand
 * for "--name value" before the command line's options, which so win. One argv for
 * getopt_long, with every option checked as the command line's are.
 */
#ifndef SOCI_EXAMPLES_CLI_CONFIG_H
#define SOCI_EXAMPLES_CLI_CONFIG_H

#define CLI_CONFIG_MAX_ARGS 256  /* of a file: 128 options with values */
#define CLI_CONFIG_MAX_BYTES 65536

struct cli_args {
    int argc;
    char **argv;  /* argv[0], the file's options, then the command line's; NULL-terminated */
    char *text;   /* the file, which the values point into */
    char **owned; /* the "--name" strings made */
    int nowned;
};

/* Read the --config FILE (or --config=FILE) among argv, if any, into *ret: 0, or 2 after
 * saying why on stderr as prog (no file, a file too long, --config twice). cli_args_free
 * ret either way. */
int cli_args_with_config(const char *prog, int argc, char **argv, struct cli_args *ret);
void cli_args_free(struct cli_args *a);

#endif
