/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock in nanoseconds, for timing and the profile counters; and sleeping. */
#ifndef SOCI_UTIL_CLOCK_H
#define SOCI_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep ns nanoseconds (a pause of a thread that polls; signals may cut it short). */
static inline void clock_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

#endif
