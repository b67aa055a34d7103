/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_UTIL_LOG_H
#define SOCI_UTIL_LOG_H

#include <soci/log.h>

/* Send one line to the installed sink, if any wants this level. */
void soci_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
