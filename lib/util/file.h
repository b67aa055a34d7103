/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_UTIL_FILE_H
#define SOCI_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole regular file of at most max bytes into memory (NUL-terminated, the NUL
 * not counted). SOCI_ENOTFOUND, SOCI_ETOOBIG or SOCI_EIO naming the path otherwise. */
int read_file_capped(const char *path, uint64_t max, void **ret, size_t *ret_len);

#endif
