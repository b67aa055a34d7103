/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show(void *userdata, uint64_t done)
{
    struct progress *p = userdata;
    double t = now();
    if (t - p->last < 0.2 && done < p->total)
        return; /* redraw at most five times a second */
    p->last = t;
    double rate = t > p->start ? (double)done / (t - p->start) / 1e6 : 0;
    if (p->total)
        fprintf(stderr, "\r%-24.24s %8.1f / %.1f MiB  %6.1f MB/s", p->label, (double)done / 1048576.0,
                (double)p->total / 1048576.0, rate);
    else
        fprintf(stderr, "\r%-24.24s %8.1f MiB  %6.1f MB/s", p->label, (double)done / 1048576.0, rate);
    p->shown = 1;
}

void progress_attach(struct progress *p, soci_builder *b, const char *label, uint64_t total)
{
    *p = (struct progress){.label = label, .total = total, .start = now()};
    if (isatty(STDERR_FILENO))
        soci_builder_set_progress(b, show, p);
}

void progress_done(struct progress *p, soci_builder *b)
{
    if (p->shown)
        fprintf(stderr, "\r%79s\r", "");
    soci_builder_set_progress(b, NULL, NULL);
}
