/* SPDX-License-Identifier: Apache-2.0 */
/* Lexical path cleaning, the one normal form under which libsoci compares tar names. */
#ifndef SOCI_UTIL_PATH_H
#define SOCI_UTIL_PATH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Clean path (len bytes) into out, which must hold len + 1 bytes: leading "/" and "./",
 * empty and "." components and trailing "/" are dropped; ".." removes the component
 * before it and stops at the root. The root itself is "". Returns the cleaned length.
 * *had_dotdot (may be NULL) says whether a ".." component was seen.
 */
size_t path_clean(const char *path, size_t len, char *out, bool *had_dotdot);

#endif
