/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_INDEX_CLI_H
#define SOCI_INDEX_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli_common.h"

/* Print "soci-index: <what>: <libsoci detail or code name>" and return 1 (an exit code). */
int cli_fail(const char *what, int err);

/* Print "soci-index: <message>" and return 2 (usage errors). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct soci_blob;
struct soci_layer;
struct soci_ztoc;
/* Write file `entry` of layer to out (out_name names it in messages, NULL: stdout);
 * 0, or -1 after printing why (a read failure names path). */
int cli_copy_entry(struct soci_layer *layer, uint32_t entry, const char *path, FILE *out, const char *out_name);

/* A zTOC and the local layer file it indexes, opened for reads (ztoc_cmds.c). */
struct local_layer {
    struct soci_ztoc *z;
    struct soci_blob *blob;
    struct soci_layer *layer;
};

/* Open both; 0, or 1 after saying which failed (what is open then is closed). */
int local_layer_open(const char *ztoc_path, const char *layer_path, struct local_layer *ll);
void local_layer_close(struct local_layer *ll);

/* soci-index ztoc erofs: write ZTOC's EROFS image to out (ztoc_erofs.c); an exit code. */
int ztoc_erofs(const char *ztoc_path, const char *out, const char *tag);
/* soci-index ztoc erofs-device: write the image's data device, read from a local layer. */
int ztoc_erofs_device(const char *ztoc_path, const char *layer_path, const char *out);

int cmd_ztoc(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_get_file(int argc, char **argv);
int cmd_push(int argc, char **argv);

#endif
