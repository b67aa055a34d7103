/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_config.h"

static int fail(const char *prog, const char *what, const char *arg)
{
    fprintf(stderr, "%s: --config: %s%s%s\n", prog, what, arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* The file's options appended to a->argv as "--name" "value". */
static int read_file(const char *prog, const char *path, struct cli_args *a)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return fail(prog, "cannot read", path);
    if ((a->text = malloc(CLI_CONFIG_MAX_BYTES + 1)) == NULL) {
        fclose(f);
        return fail(prog, "out of memory", NULL);
    }
    size_t len = fread(a->text, 1, CLI_CONFIG_MAX_BYTES + 1, f);
    fclose(f);
    if (len > CLI_CONFIG_MAX_BYTES)
        return fail(prog, "the file is over 64 KiB", path);
    a->text[len] = '\0';
    char *save, *line;
    for (line = strtok_r(a->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *name = line + strspn(line, " \t"), *end = name + strcspn(name, " \t=");
        if (*name == '\0' || *name == '\r')
            continue;
        char *value = end + strspn(end, " \t=");
        *end = '\0';
        for (char *v = value + strlen(value); v > value && (v[-1] == ' ' || v[-1] == '\t' || v[-1] == '\r');)
            *--v = '\0';
        if (a->nowned + 1 > CLI_CONFIG_MAX_ARGS / 2)
            return fail(prog, "too many options", path);
        char *opt = malloc(strlen(name) + 3);
        if (opt == NULL)
            return fail(prog, "out of memory", NULL);
        sprintf(opt, "--%s", name);
        a->owned[a->nowned++] = opt;
        a->argv[a->argc++] = opt;
        if (*value)
            a->argv[a->argc++] = value;
    }
    return 0;
}

int cli_args_with_config(const char *prog, int argc, char **argv, struct cli_args *ret)
{
    struct cli_args *a = ret;
    *a = (struct cli_args){0};
    if ((a->argv = calloc((size_t)argc + CLI_CONFIG_MAX_ARGS + 1, sizeof(*a->argv))) == NULL ||
        (a->owned = calloc(CLI_CONFIG_MAX_ARGS / 2, sizeof(*a->owned))) == NULL)
        return fail(prog, "out of memory", NULL);
    a->argv[a->argc++] = argv[0];
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *path = strcmp(argv[i], "--config") == 0 && i + 1 < argc ? argv[i + 1]
                           : strncmp(argv[i], "--config=", 9) == 0    ? argv[i] + 9
                                                                      : NULL;
        if (path && config)
            return fail(prog, "given twice", NULL);
        config = path ? path : config;
    }
    int r = config ? read_file(prog, config, a) : 0;
    for (int i = 1; i < argc && r == 0; i++)
        a->argv[a->argc++] = argv[i];
    return r;
}

void cli_args_free(struct cli_args *a)
{
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->text);
    *a = (struct cli_args){0};
}
