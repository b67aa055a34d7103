/* SPDX-License-Identifier: Apache-2.0 */
/* What the image filesystem needs of a layer beyond the public API. */
#ifndef SOCI_LAYER_LAYER_INTERNAL_H
#define SOCI_LAYER_LAYER_INTERNAL_H

#include <stdbool.h>

#include <soci/layer.h>

#include "util/extent_set.h"

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

/* soci_layer_pread without reading ahead (neither the file's next spans nor the
 * neighbours a fetch would bring): exactly the spans these bytes lie in. For handing
 * planned data over (soci_erofs_device_pread_planned), where guessing past the plan
 * would fetch what the start-up never asked for; the reads that then find the data
 * never come here, so such a read counts as a handover (cache_read_end). */
int64_t layer_pread_exact(soci_layer *l, uint32_t entry, void *buf, size_t len, uint64_t off);

/* When soci_layer_pread first needed span s (util/clock.h's clock: comparable between
 * layers); 0 = never. */
uint64_t layer_demanded_ns(const soci_layer *l, uint32_t s);

/* The uncompressed byte ranges of the layer that soci_layer_pread was asked for, merged
 * and in order (*ret malloc'd, NULL when none); at most LAYER_READ_EXTENTS_MAX, the
 * closest merged beyond that. What a prefetch record's extents list. */
#define LAYER_READ_EXTENTS_MAX 4096
int layer_read_extents(soci_layer *l, struct extent **ret, size_t *n);

/* Whether every span of the layer is to be fetched (background fetching runs): reads then
 * have the spans after theirs fetched early, which costs no bytes. */
void layer_fetch_all(soci_layer *l, bool on);

/* Whether no read through the layer's cache (this layer's or any other's using it) is in
 * flight or ended less than quiet_ns ago, nor one that handed data over (layer_pread_exact)
 * less than handover_quiet_ns ago (cache_reads_quiet). */
bool layer_reads_quiet(const soci_layer *l, uint64_t quiet_ns, uint64_t handover_quiet_ns);
/* Whether anything was ever read through the layer's cache. */
bool layer_reads_seen(const soci_layer *l);

/* A decode-ahead thread starts (+1) or ends (-1) on the layer's cache; and the decoded
 * bytes one may keep ahead of reads there (cache_ahead_budget). */
void layer_decode_ahead_join(soci_layer *l, int delta);
uint64_t layer_decode_ahead_budget(const soci_layer *l);

/* Whether the layer's spans go to a disk store. */
bool layer_has_store(const soci_layer *l);

/* How many of the layer's spans are neither in the disk store nor in memory: those a read
 * of the whole layer would fetch. */
uint32_t layer_missing_spans(soci_layer *l);

/* The most spans one layer_store_spans call takes. */
#define LAYER_STORE_MAX_SPANS 4096

/* Put spans [first, last] in the disk store, fetched (runs of them in one request each)
 * and stored as fetched (the read that loads a span from the store checks it), but for
 * those on disk or in memory already or being fetched by someone else; memory is left
 * alone, so background fetching does not push out hot spans.
 * *stored gets the number stored; the first failure is returned after the rest. */
int layer_store_spans(soci_layer *l, uint32_t first, uint32_t last, uint32_t *stored);

/* Spans [first, last] of a layer. */
struct span_run {
    uint32_t first, last;
};

/* The most runs one layer_store_runs call takes, and the most ranges it reads them in. */
#define LAYER_STORE_MAX_RUNS 16
#define LAYER_STORE_MAX_PIECES 64

/* layer_store_spans for several runs, ascending and apart (LAYER_STORE_MAX_SPANS spans in
 * all at most), read in one vectored read of pieces of about piece_bytes (a run of spans
 * to take is cut where a span starts past that): a registry blob asks for pieces far
 * apart in one request, which costs it less than a request each. layer_store_spans cuts
 * at 2 MiB, for requests side by side. */
int layer_store_runs(soci_layer *l, const struct span_run *runs, size_t n, uint64_t piece_bytes, uint32_t *stored);

#endif
