/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/cache.h
 * soci_cache: decoded spans in memory, verified compressed spans and zTOCs on disk.
 *
 * The memory part is an LRU of decoded spans bounded in bytes. Readers of one span share
 * one fetch: the first reader to miss loads it while the others wait for its result.
 *
 * The disk part (present when SOCI_OPT_CACHE_DIR is set) keeps the compressed bytes of
 * every span fetched, under the layer digest and span number, and zTOCs under their
 * digest. Entries are written atomically (temporary file, fsync, rename), so a crash
 * leaves no half entry; each is verified again when read (the span digest, the zTOC
 * digest), and one that fails is deleted and fetched again, never served. The store is
 * bounded in bytes: past the bound, the least recently used entries are evicted. Several
 * processes may share one directory; they coordinate through a lock file in it.
 *
 * A cache is reference-counted and safe for concurrent use by many threads; one cache
 * may serve many layers and images.
 */
#ifndef SOCI_CACHE_H
#define SOCI_CACHE_H

#include <soci/config.h>

SOCI_BEGIN_DECLS

/** A span cache (reference-counted, thread-safe). */
typedef struct soci_cache soci_cache;

/**
 * Make a cache from cfg (NULL: defaults): SOCI_OPT_CACHE_MEMORY bytes of decoded spans,
 * and, if SOCI_OPT_CACHE_DIR is set, a disk store there (created if missing) of at most
 * SOCI_OPT_CACHE_DISK bytes (shared by every cache and process using DIR; each records
 * what it adds a batch at a time, so the store may pass its bound by a sixteenth of it,
 * 8 MiB at most, per cache until the next batch or soci_cache_unref()). Besides the
 * decoded spans, the cache keeps span-sized buffers given back for reuse: at most an
 * eighth of SOCI_OPT_CACHE_MEMORY (64 MiB at most). The caller holds one reference.
 */
SOCI_API int soci_cache_new(const soci_config *cfg, soci_cache **ret);

/** Take another reference; returns c. */
SOCI_API soci_cache *soci_cache_ref(soci_cache *c);

/** Drop a reference; the last one frees the cache. Accepts NULL. */
SOCI_API void soci_cache_unref(soci_cache *c);

/* Counters of a cache, for soci_cache_counter() (SOCI_COUNTER_BYTES_FETCHED counts the
 * compressed bytes read from blobs to fill it; it is defined in soci/layer.h). */
#define SOCI_COUNTER_CACHE_HITS 5       /**< spans served from memory */
#define SOCI_COUNTER_CACHE_DISK_HITS 6  /**< spans loaded from the disk store (verified) */
#define SOCI_COUNTER_CACHE_MISSES 7     /**< spans fetched from their blob */
#define SOCI_COUNTER_BYTES_SERVED 8     /**< uncompressed bytes copied out to readers */
#define SOCI_COUNTER_EVICTIONS 9        /**< spans dropped from memory to stay in bounds */
#define SOCI_COUNTER_DISK_EVICTIONS 10  /**< disk entries evicted to stay in bounds */
#define SOCI_COUNTER_DISK_CORRUPT 11    /**< disk entries that failed verification (dropped) */

/** Read counter `which` (SOCI_COUNTER_BYTES_FETCHED or SOCI_COUNTER_CACHE_* above). */
SOCI_API int soci_cache_counter(const soci_cache *c, int which, uint64_t *ret);

SOCI_END_DECLS

#endif
