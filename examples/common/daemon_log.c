/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE daemons' log: stderr in the foreground, syslog once they go to the background. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

#include "fuse_fs.h"

static const char *log_prog = "soci";
static int log_level = SOCI_LOG_INFO;
static bool to_syslog;

void daemon_log_setup(const char *prog, int level)
{
    log_prog = prog;
    log_level = level;
}

void daemon_log_to_syslog(void)
{
    openlog(log_prog, LOG_PID, LOG_DAEMON);
    to_syslog = true;
}

void daemon_log(int level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    if (level > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (to_syslog)
        syslog(level == SOCI_LOG_ERROR ? LOG_ERR : level == SOCI_LOG_WARNING ? LOG_WARNING : LOG_INFO, "%s", line);
    else
        fprintf(stderr, "%s: %s\n", log_prog, line);
}

void daemon_library_log(int level, const char *message, void *userdata)
{
    (void)userdata;
    daemon_log(level, "%s", message);
}
