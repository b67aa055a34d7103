/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zstd decoding contexts kept for reuse: a fresh one costs 12 us to make and free, against
 * 17 us to decode a 20 KB chunk, and a zstd:chunked start decodes thousands of chunks. A
 * zTOC of a zstd layer holds a pool for its spans. Taking and giving back are
 * thread-safe; at most ZSTD_POOL_MAX idle contexts are kept.
 */
#ifndef SOCI_UTIL_ZSTD_POOL_H
#define SOCI_UTIL_ZSTD_POOL_H

#include <zstd.h>

/* About as many as decode at once in practice: the reading threads. */
#define ZSTD_POOL_MAX 8

struct zstd_pool;

/* NULL when out of memory. */
struct zstd_pool *zstd_pool_new(void);
void zstd_pool_free(struct zstd_pool *p);

/* A context whose frames may ask for windows up to window_log_max, from p (NULL: a new
 * one); NULL when out of memory. */
ZSTD_DCtx *zstd_pool_take(struct zstd_pool *p, int window_log_max);

/* Back to p, its frame forgotten (an error or a frame cut short included); freed when p
 * is NULL or full. */
void zstd_pool_give_back(struct zstd_pool *p, ZSTD_DCtx *d);

#endif
