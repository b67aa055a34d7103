/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The span cache inside the library: the memory LRU with single-flight loading
 * (cache_mem.c) and the disk store (cache_disk.c), joined in one soci_cache (cache.c).
 */
#ifndef SOCI_CACHE_INTERNAL_H
#define SOCI_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <soci/cache.h>

struct cache_span;
struct cache_mem;
struct cache_disk;
struct cache_buffers;

struct soci_cache {
    atomic_int refs;
    struct cache_mem *mem;
    struct cache_disk *disk; /* NULL: memory only */
    struct cache_buffers *buffers;
    atomic_uint_fast64_t next_layer_id;
    atomic_uint_fast64_t hits, disk_hits, misses, bytes_fetched, bytes_served, evictions,
        disk_evictions, disk_corrupt;
    /* Reads through any layer using this cache: in flight, and when the last one ended. */
    atomic_int reads_in_flight;
    atomic_uint_fast64_t last_read_end_ns;
    atomic_uint_fast64_t last_handover_ns; /* the last read that handed data over (cache_read_end) */
    atomic_int ahead_plans; /* decode-ahead threads filling this cache's memory */
};

/* A decode-ahead thread starts (+1) or ends (-1) on this cache; and the decoded bytes each
 * may keep ahead of reads: half the memory cache, shared by those running (soci-store
 * runs one per layer: each with half of its own, they filled the cache together and
 * evicted spans before they were read; a learned start through it decoded 27 spans twice,
 * now 16, against 10 through soci-mount's one tree). */
void cache_ahead_join(soci_cache *c, int delta);
uint64_t cache_ahead_budget(const soci_cache *c);

/* A layer read begins and ends (soci_layer_pread). */
void cache_read_begin(soci_cache *c);
/* handed_over: the read took data for a reader this process does not see (planned data
 * written into the kernel's page cache), whose reads then never come here. */
void cache_read_end(soci_cache *c, bool handed_over);

/* Whether no read through this cache is in flight or ended less than quiet_ns ago. Fetching
 * ahead of readers (background fetching) waits for that on every cache its layers use:
 * one fs per layer (as soci-store opens them) would otherwise see only its own layer's
 * reads and fill the store while the start-up reads the layer beside it. */
bool cache_reads_quiet(soci_cache *c, uint64_t quiet_ns, uint64_t handover_quiet_ns);
/* Whether anything was ever read through this cache. */
bool cache_reads_seen(soci_cache *c);

/* A number naming one layer's spans in memory, unique within the cache. */
uint64_t cache_new_layer_id(soci_cache *c);

/* ---- span-sized buffers (cache_buffers.c) ---- */

int cache_buffers_new(uint64_t memory_limit, struct cache_buffers **ret);
void cache_buffers_free(struct cache_buffers *b);

/* A buffer for n bytes (NULL when out of memory): for a decoded span, or fetched spans.
 * Large ones are mapped with their pages populated, or reused from the cache's pool.
 * Give it back with cache_buf_put (to the pool, if it has room) or cache_buf_release
 * (straight back to the system), never with free(). */
uint8_t *cache_buf_get(soci_cache *c, size_t n);
void cache_buf_put(soci_cache *c, uint8_t *data);
void cache_buf_release(uint8_t *data);

/* ---- memory: single-flight LRU ---- */

enum cache_state { CACHE_HIT, CACHE_LOAD, CACHE_BUSY };

int cache_mem_new(uint64_t limit, struct cache_mem **ret);
void cache_mem_free(struct cache_mem *m);

/*
 * Find span (layer, span) or start loading it. Returns, with *ret pinned:
 *  CACHE_HIT  — the data is ready (cache_span_data);
 *  CACHE_LOAD — nobody has it: the caller must load it and call cache_fill or cache_fail;
 *  CACHE_BUSY — another caller is loading it: cache_wait for the outcome.
 * Or a negative code (out of memory). Every pinned span is cache_release'd once.
 */
int cache_acquire(soci_cache *c, uint64_t layer, uint32_t span, struct cache_span **ret);

/* Wait for a CACHE_BUSY span: 0 when it is ready, else the loader's error code (with
 * its message as this thread's detail). */
int cache_wait(soci_cache *c, struct cache_span *s);

/* The loader's result: fill hands over data (len bytes, from cache_buf_get); fail records why.
 * Both wake the waiters. A failed span is forgotten, so the next reader tries again. */
void cache_fill(soci_cache *c, struct cache_span *s, uint8_t *data, size_t len);
void cache_fail(soci_cache *c, struct cache_span *s, int code);

void cache_release(soci_cache *c, struct cache_span *s);

const uint8_t *cache_span_data(const struct cache_span *s);
size_t cache_span_len(const struct cache_span *s);

/* Whether (layer, span) is in memory and ready; a hint, for background fetching. */
bool cache_mem_has(soci_cache *c, uint64_t layer, uint32_t span);

/* Bytes of decoded spans the memory cache holds at most. */
uint64_t cache_mem_limit(const soci_cache *c);

/* ---- disk store ---- */

int cache_disk_open(soci_cache *c, const char *dir, uint64_t limit, struct cache_disk **ret);
void cache_disk_close(struct cache_disk *d);

/* A span's compressed bytes from the store, at most max of them: 1 and *ret (a cache
 * buffer: cache_buf_put) when present, 0 when absent. The caller verifies them and calls
 * cache_disk_drop_span if they are wrong. Spans are filed under their layer (layer_hex:
 * the layer digest's 64 hex digits) and named by their own digest (span_hex, likewise; a
 * chunk-TOC layer adds "-<offset>", since equal chunks may sit at several offsets). */
int cache_disk_get_span(soci_cache *c, const char *layer_hex, const char *span_hex, uint64_t max,
                        uint8_t **ret, size_t *len);
bool cache_disk_has_span(soci_cache *c, const char *layer_hex, const char *span_hex);
/* Store a span (verified by the caller): queued, written by the store's own thread; found
 * by the two above meanwhile. */
void cache_disk_put_span(soci_cache *c, const char *layer_hex, const char *span_hex, const void *data,
                         size_t len);
/* Store a span (verified by the caller) now, in the caller's thread: for fetchers no reader
 * waits on, whose spans then need no copy in the queue. */
void cache_disk_store_span(soci_cache *c, const char *layer_hex, const char *span_hex, const void *data,
                           size_t len);
void cache_disk_drop_span(soci_cache *c, const char *layer_hex, const char *span_hex);

/* A whole blob (a zTOC) by digest, checked against it: 1 when present and right, 0 when
 * absent (a wrong entry is dropped and counts as absent). */
int cache_disk_get_blob(soci_cache *c, const char *digest, uint64_t max, void **ret, size_t *len);
void cache_disk_put_blob(soci_cache *c, const char *digest, const void *data, size_t len);

#endif
