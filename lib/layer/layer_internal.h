/* SPDX-License-Identifier: Apache-2.0 */
/* What the image filesystem needs of a layer beyond the public API. */
#ifndef SOCI_LAYER_LAYER_INTERNAL_H
#define SOCI_LAYER_LAYER_INTERNAL_H

#include <stdbool.h>

#include <soci/layer.h>

/* Spans to fetch that lie at most this many compressed bytes apart go in one request, the
 * bytes between included: fetching them costs less than another round trip (20 ms at
 * 100 Mbit/s moves 250 KB). */
#define LAYER_JOIN_GAP ((uint64_t)256 << 10)

/* soci_layer_open_cached, with the cache optional (a private one when NULL) and the
 * layer's digest apart from the disk store: digest (may be NULL) names the layer in every
 * message; its spans go to the cache's disk store only when store is set too. */
int layer_open(soci_blob *blob, const soci_ztoc *z, soci_cache *cache, const char *digest, bool store,
               soci_layer **ret);

const soci_ztoc *layer_ztoc(const soci_layer *l);

/* Whether the layer's spans go to a disk store. */
bool layer_has_store(const soci_layer *l);

/* Put span s in the disk store (fetched and verified) unless it is there or in memory
 * already; memory is left alone, so background fetching does not push out hot spans. */
int layer_store_span(soci_layer *l, uint32_t s);

#endif
