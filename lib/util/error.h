/* SPDX-License-Identifier: Apache-2.0 */
/* Internal error helpers: set the thread-local detail message where a failure is found. */
#ifndef SOCI_UTIL_ERROR_H
#define SOCI_UTIL_ERROR_H

#include <soci/error.h>

/* Record a detail message for this thread and return code (a negative SOCI_E*). */
int soci_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put "<prefix>: " in front of the current detail message; returns code. Used by callers
 * that know context (a file name) the failing callee did not. */
int soci_fail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Out-of-memory failure naming what was being allocated. */
#define soci_fail_nomem(what) soci_fail(SOCI_ENOMEM, "out of memory allocating %s", (what))

#endif
