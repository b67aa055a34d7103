/* SPDX-License-Identifier: Apache-2.0 */
/* An open-addressing hash index from path strings to entry numbers. The map stores only
 * numbers; the owner keeps the strings and hands the map a function to read them. */
#ifndef SOCI_UTIL_PATHMAP_H
#define SOCI_UTIL_PATHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef const char *(*pathmap_key_fn)(const void *owner, uint32_t value);

struct pathmap {
    uint32_t *slots; /* value + 1, 0 = empty */
    size_t mask;
    pathmap_key_fn key;
    const void *owner;
};

/* Room for n values. */
int pathmap_init(struct pathmap *m, uint32_t n, pathmap_key_fn key, const void *owner);
void pathmap_free(struct pathmap *m);

/* Insert value under its key; an existing value with an equal key is replaced. */
void pathmap_put(struct pathmap *m, uint32_t value);

/* The value stored under key (len bytes), or -1. */
int64_t pathmap_get(const struct pathmap *m, const char *key, size_t len);

#endif
