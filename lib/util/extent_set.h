/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded set of byte ranges, kept sorted and merged: what a layer's demand reads
 * covered, for a prefetch record's extents. Adding is thread-safe. Past `max` ranges, the
 * two closest neighbours are merged (the bytes between count as read), so the memory is
 * bounded whatever the reads do and no read is ever left out.
 */
#ifndef SOCI_UTIL_EXTENT_SET_H
#define SOCI_UTIL_EXTENT_SET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct extent {
    uint64_t start, end; /* [start, end) */
};

struct extent_set {
    pthread_mutex_t lock;
    struct extent *v;
    size_t n, cap, max;
};

void extent_set_init(struct extent_set *s, size_t max);
void extent_set_destroy(struct extent_set *s);

/* Add [start, end); an empty range is ignored. SOCI_ENOMEM if the set cannot grow. */
int extent_set_add(struct extent_set *s, uint64_t start, uint64_t end);

/* A copy of the ranges, in order (*ret malloc'd, NULL when there are none). */
int extent_set_copy(struct extent_set *s, struct extent **ret, size_t *n);

#endif
