/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/layer.h
 * soci_layer: read files of one layer through its zTOC, fetching only the spans needed.
 *
 * A layer pairs a zTOC with the blob of the layer it describes. A read maps the byte
 * range to spans, reads each span's compressed range from the blob (adjacent spans in one
 * read), checks the span digest, decodes it and copies out. A layer is safe for
 * concurrent use by many threads; concurrent readers of one span share one fetch.
 */
#ifndef SOCI_LAYER_H
#define SOCI_LAYER_H

#include <soci/blob.h>
#include <soci/cache.h>
#include <soci/ztoc.h>

SOCI_BEGIN_DECLS

/** A layer opened for reads (thread-safe). */
typedef struct soci_layer soci_layer;

/**
 * Open a layer. Takes a reference to blob; z is borrowed and must outlive the layer.
 * The blob's size must equal the zTOC's compressed archive size (SOCI_EFORMAT otherwise).
 * Decoded spans go to a small cache of the layer's own (32 MiB).
 */
SOCI_API int soci_layer_open(soci_blob *blob, const soci_ztoc *z, soci_layer **ret);

/**
 * Open a layer whose spans go through a shared cache (a reference is taken). With
 * layer_digest ("sha256:<hex>", the digest of the blob) and a cache with a disk store,
 * compressed spans are kept on disk under that digest; with NULL, only in memory.
 */
SOCI_API int soci_layer_open_cached(soci_blob *blob, const soci_ztoc *z, soci_cache *cache,
                                    const char *layer_digest, soci_layer **ret);

/** Free a layer. Accepts NULL. */
SOCI_API void soci_layer_free(soci_layer *l);

/**
 * pread() on entry `entry`: up to len bytes at off into buf. Hard links read their
 * target. Returns the bytes read: fewer than len at the end of the file, 0 at or past it;
 * or a negative code (SOCI_EISDIR for a directory, SOCI_EINVAL for other non-files).
 */
SOCI_API int64_t soci_layer_pread(soci_layer *l, uint32_t entry, void *buf, size_t len, uint64_t off);

/**
 * Fetch, verify and decode spans [first, last] into the layer's cache now (and its disk
 * store, if any), so that reads of them later do not wait. Spans other threads are
 * loading are waited for, not fetched twice.
 */
SOCI_API int soci_layer_prefetch(soci_layer *l, uint32_t first, uint32_t last);

/* Counters of a layer, for soci_layer_counter(). */
#define SOCI_COUNTER_BYTES_FETCHED 1 /**< compressed bytes read from the blob */
#define SOCI_COUNTER_READS 2         /**< read requests issued to the blob */
#define SOCI_COUNTER_SPANS_DECODED 3 /**< spans decoded (digest checked) */
/* Where reads spend their time and work, for profiles (since 1.1; times in nanoseconds,
 * summed over threads). */
#define SOCI_COUNTER_FETCH_NS 13        /**< waiting for span bytes from the blob */
#define SOCI_COUNTER_DECODE_NS 14       /**< verifying and decoding spans */
#define SOCI_COUNTER_READ_WAIT_NS 15    /**< soci_layer_pread waiting for its spans: their fetch and
                                             decode, or another thread's load of them */
#define SOCI_COUNTER_SPANS_REDECODED 16 /**< decodes of spans decoded before (evicted, needed again) */
#define SOCI_COUNTER_SPANS_DEMANDED 17  /**< distinct spans soci_layer_pread needed */

/** Read counter `which` (SOCI_COUNTER_*). Unknown counters are SOCI_EINVAL. */
SOCI_API int soci_layer_counter(const soci_layer *l, int which, uint64_t *ret);

SOCI_END_DECLS

#endif
