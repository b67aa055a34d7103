/* SPDX-License-Identifier: Apache-2.0 */
/* soci-indexer's log: one line per event on stderr, "time level key=value ...", which
 * systemd's journal keeps and log tools split without a parser of their own. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "indexer.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void ix_log(const char *level, const char *fmt, ...)
{
    char when[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "time=%s.%03ldZ level=%s ", when, ts.tv_nsec / 1000000, level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
}

/* libsoci's own messages, as lines of ours. */
void ix_library_log(int level, const char *msg, void *userdata)
{
    (void)userdata;
    ix_log(level <= SOCI_LOG_ERROR ? "error" : level == SOCI_LOG_WARNING ? "warning" : "info", "msg=\"libsoci: %s\"",
           msg);
}
