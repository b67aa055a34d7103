/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

static soci_log_fn log_fn;
static int log_max_level = SOCI_LOG_ERROR;
static void *log_userdata;

void soci_set_log_func(soci_log_fn fn, int max_level, void *userdata)
{
    log_fn = fn;
    log_max_level = max_level;
    log_userdata = userdata;
}

void soci_log(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (log_fn == NULL || level > log_max_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_fn(level, line, log_userdata);
}
