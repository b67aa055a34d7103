/* SPDX-License-Identifier: Apache-2.0 */
/* A one-line progress display on stderr, only when stderr is a terminal. */
#ifndef SOCI_INDEX_PROGRESS_H
#define SOCI_INDEX_PROGRESS_H

#include <stdint.h>

#include <soci/build.h>

struct progress {
    const char *label;
    uint64_t total;
    double start, last;
    int shown;
};

/* Attach a progress line for a build of `total` bytes to builder b. */
void progress_attach(struct progress *p, soci_builder *b, const char *label, uint64_t total);
/* Clear the line and detach. */
void progress_done(struct progress *p, soci_builder *b);

#endif
