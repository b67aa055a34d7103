/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/log.h
 * The library never prints. Messages go to a function the caller installs, or nowhere.
 */
#ifndef SOCI_LOG_H
#define SOCI_LOG_H

#include <soci/common.h>

SOCI_BEGIN_DECLS

#define SOCI_LOG_ERROR 0 /**< an operation failed */
#define SOCI_LOG_WARNING 1 /**< something was wrong and worked around (a bad cache entry, a retry) */
#define SOCI_LOG_INFO 2 /**< milestones */
#define SOCI_LOG_DEBUG 3 /**< detail for debugging */

/**
 * A log sink. Called with one complete line (no trailing newline), possibly from several
 * threads at once. Messages never contain credentials.
 */
typedef void (*soci_log_fn)(int level, const char *message, void *userdata);

/**
 * Install (or with fn == NULL remove) the process-wide log sink; messages above
 * max_level are dropped before they are formatted. Not thread-safe against concurrent
 * calls of itself: call it once at start-up.
 */
SOCI_API void soci_set_log_func(soci_log_fn fn, int max_level, void *userdata);

SOCI_END_DECLS

#endif
