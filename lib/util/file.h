/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_UTIL_FILE_H
#define SOCI_UTIL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read a whole regular file of at most max bytes into memory (NUL-terminated, the NUL
 * not counted). SOCI_ENOTFOUND, SOCI_ETOOBIG or SOCI_EIO naming the path otherwise. */
int read_file_capped(const char *path, uint64_t max, void **ret, size_t *ret_len);

/* Write data to path atomically: into a new file made from tmp_template (a mkstemp(3)
 * template on path's filesystem, filled in place) with the given mode, fsync'd when
 * durable (else a crash of the machine may leave the file renamed but not written), then
 * renamed over path. 0, or SOCI_EIO naming the file; no temporary file is left behind. */
int write_file_atomic(char *tmp_template, const char *path, const void *data, size_t len, unsigned mode,
                      bool durable);

#endif
