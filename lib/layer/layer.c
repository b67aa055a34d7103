/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading files out of one layer: map a file's byte range to the spans that hold it and
 * make those spans resident in the cache, then copy out.
 *
 * A read works through its spans a window at a time (a window pins at most
 * WINDOW_BYTES of decoded data). For each window: pin every span in the cache; of those
 * nobody has, take what the disk store holds (verified by decoding, which checks the span
 * digest) and fetch the rest from the blob, consecutive spans merged into requests of a
 * few MiB that go out together; decode each into the cache and store its compressed bytes
 * on disk; wait for spans other readers are loading; copy; unpin.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/layer.h>

#include "cache/cache_internal.h"
#include "format/ztoc_internal.h"
#include "layer/layer_internal.h"
#include "io/blob_internal.h"
#include "util/clock.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

/* A chunk-TOC layer (eStargz, zstd:chunked) has one chunk per small file, so reading a
 * program's files one after another would cost a round trip each; a read that misses
 * takes the chunks after its own along, up to this many compressed bytes in all. The
 * files next to one in the tar are the likeliest to be read next (a SOCI span holds
 * them anyway). At 256 KiB a Python start-up from a 400 MB eStargz image made 586
 * requests, one after another, 21 s of waiting on a 20 ms link: 2 MiB costs a request
 * 40 ms more at 50 MB/s and saves most of them. */
#define CHUNK_READAHEAD ((uint64_t)2 << 20)

/* Decoded bytes one read pins at once (always at least one span); and at most this many
 * spans, enough for CHUNK_READAHEAD of small chunks. */
#define WINDOW_BYTES ((uint64_t)32 << 20)
#define WINDOW_SPANS 512

/* Consecutive spans are merged into requests of about this size, sent together (a
 * remote blob sends them in parallel). */
#define REQUEST_TARGET ((uint64_t)2 << 20)
#define MAX_REQUESTS 16

/* A layer opened without a cache gets a private one this large. */
#define PRIVATE_CACHE_BYTES ((uint64_t)32 << 20)

/* Read-ahead (layers with spans of their own, not chunk TOCs, which read ahead their own
 * way), by one thread of the layer's, a job at a time (a newer job replaces one not yet
 * started: these are hints):
 * - sequential: once a file has been read RA_MIN_RUN times in a row where the last read
 *   ended, the next RA_SPANS spans of it are fetched while the reader works through the
 *   current one. The reads of RA_STREAMS files are followed at once.
 * - neighbours: when every span is to be fetched anyway (background fetching is on, see
 *   layer_fetch_all), a read that had to fetch has the spans after its own, up to
 *   RA_NEIGHBOUR_BYTES compressed (at least one), put in the disk store (not decoded: no
 *   CPU or memory spent on a guess) while it decodes. A start-up reads files close
 *   together in the tar: a package's files, its libraries (profiled: a Python start-up
 *   needed 86 of a 400 MB image's 316 spans, in every package), so the next miss is
 *   likely there, and then waits only for its decode. Costing no bytes that would not be
 *   fetched, it only changes their order. */
#define RA_STREAMS 8
#define RA_SPANS 2
#define RA_MIN_RUN 2
#define RA_NEIGHBOUR_BYTES ((uint64_t)8 << 20)

struct ra_stream {
    uint32_t entry;
    uint64_t next; /* where the file's last read ended */
    unsigned run;  /* reads in a row that began there */
};

/* One read-ahead job at a time: a hint, so a newer one replaces one not yet started. */
struct readahead {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started, stop, pending;
    bool to_disk;         /* the pending job stores its spans, undecoded */
    uint32_t first, last; /* the pending job's spans */
    struct ra_stream streams[RA_STREAMS];
    unsigned clock; /* which stream slot a new file takes */
};

/* What a layer notes of each span: when soci_layer_pread first needed it (the monotonic
 * clock, so that spans of several layers fall in one order; 0 = never), which is what a
 * prefetch record lists; and whether it was decoded before, to count decodes repeated. */
struct span_note {
    _Atomic uint64_t demanded_ns;
    atomic_bool decoded;
    atomic_bool claimed; /* someone is fetching its bytes (see "claims" below) */
};

struct soci_layer {
    soci_blob *blob;
    const soci_ztoc *z;
    soci_cache *cache;
    uint64_t id;          /* this layer's spans in the memory cache */
    char hex[65];         /* layer digest's hex, for the disk store; "" = unknown */
    char what[80];        /* "layer sha256:<hex>", or "layer" when unknown: messages start so */
    bool store;           /* spans go to the cache's disk store */
    atomic_bool fetch_all; /* every span will be fetched: read ahead to neighbours */
    atomic_uint_fast64_t bytes_fetched, reads, spans_decoded, fetch_ns, decode_ns, read_wait_ns, spans_redecoded,
        spans_demanded;
    struct span_note *notes; /* one per span */
    struct extent_set read_extents; /* the uncompressed bytes demand reads needed */
    pthread_mutex_t claim_lock;
    pthread_cond_t claim_released;
    struct readahead ra;
};

static void layer_free_arrays(struct soci_layer *l)
{
    if (l) {
        free(l->notes);
        free(l);
    }
}

int layer_open(soci_blob *blob, const soci_ztoc *z, soci_cache *cache, const char *digest, bool store,
               soci_layer **ret)
{
    uint8_t raw[SHA256_LEN];
    if (blob == NULL || z == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layer_open: bad arguments");
    if (digest && !digest_parse(digest, strlen(digest), raw))
        return soci_fail(SOCI_EINVAL, "layer digest \"%s\" is not sha256:<hex>", digest);
    if (soci_blob_size(blob) != z->compressed_size)
        return soci_fail(SOCI_EFORMAT, "layer blob is %llu bytes, its zTOC says %llu",
                         (unsigned long long)soci_blob_size(blob),
                         (unsigned long long)z->compressed_size);
    struct soci_layer *l = calloc(1, sizeof(*l));
    size_t spans = z->span_count ? z->span_count : 1;
    if (l == NULL || (l->notes = calloc(spans, sizeof(*l->notes))) == NULL) {
        layer_free_arrays(l);
        return soci_fail_nomem("layer");
    }
    if (cache) {
        l->cache = soci_cache_ref(cache);
    } else {
        struct soci_config *cfg;
        int r = soci_config_new(&cfg);
        if (r == 0 && (r = soci_config_set_u64(cfg, SOCI_OPT_CACHE_MEMORY, PRIVATE_CACHE_BYTES)) == 0)
            r = soci_cache_new(cfg, &l->cache);
        soci_config_free(cfg);
        if (r < 0) {
            layer_free_arrays(l);
            return r;
        }
    }
    snprintf(l->what, sizeof(l->what), "layer%s%s", digest ? " " : "", digest ? digest : "");
    if (digest) {
        snprintf(l->hex, sizeof(l->hex), "%s", digest + 7);
        l->store = store && l->cache->disk != NULL;
    }
    l->id = cache_new_layer_id(l->cache);
    l->blob = soci_blob_ref(blob);
    l->z = z;
    pthread_mutex_init(&l->ra.lock, NULL);
    pthread_cond_init(&l->ra.wake, NULL);
    pthread_mutex_init(&l->claim_lock, NULL);
    pthread_cond_init(&l->claim_released, NULL);
    extent_set_init(&l->read_extents, LAYER_READ_EXTENTS_MAX);
    *ret = l;
    return 0;
}

int soci_layer_open(soci_blob *blob, const soci_ztoc *z, soci_layer **ret)
{
    return layer_open(blob, z, NULL, NULL, false, ret);
}

int soci_layer_open_cached(soci_blob *blob, const soci_ztoc *z, soci_cache *cache, const char *layer_digest,
                           soci_layer **ret)
{
    if (cache == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layer_open_cached: no cache");
    return layer_open(blob, z, cache, layer_digest, true, ret);
}

void soci_layer_free(soci_layer *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->ra.lock);
    l->ra.stop = true;
    pthread_cond_signal(&l->ra.wake);
    pthread_mutex_unlock(&l->ra.lock);
    if (l->ra.started)
        pthread_join(l->ra.thread, NULL);
    pthread_cond_destroy(&l->ra.wake);
    pthread_mutex_destroy(&l->ra.lock);
    pthread_cond_destroy(&l->claim_released);
    pthread_mutex_destroy(&l->claim_lock);
    extent_set_destroy(&l->read_extents);
    soci_blob_unref(l->blob);
    soci_cache_unref(l->cache);
    layer_free_arrays(l);
}

int soci_layer_counter(const soci_layer *l, int which, uint64_t *ret)
{
    if (l == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layer_counter: bad arguments");
    switch (which) {
    case SOCI_COUNTER_BYTES_FETCHED:
        *ret = atomic_load(&l->bytes_fetched);
        return 0;
    case SOCI_COUNTER_READS:
        *ret = atomic_load(&l->reads);
        return 0;
    case SOCI_COUNTER_SPANS_DECODED:
        *ret = atomic_load(&l->spans_decoded);
        return 0;
    case SOCI_COUNTER_FETCH_NS:
        *ret = atomic_load(&l->fetch_ns);
        return 0;
    case SOCI_COUNTER_DECODE_NS:
        *ret = atomic_load(&l->decode_ns);
        return 0;
    case SOCI_COUNTER_READ_WAIT_NS:
        *ret = atomic_load(&l->read_wait_ns);
        return 0;
    case SOCI_COUNTER_SPANS_REDECODED:
        *ret = atomic_load(&l->spans_redecoded);
        return 0;
    case SOCI_COUNTER_SPANS_DEMANDED:
        *ret = atomic_load(&l->spans_demanded);
        return 0;
    default:
        return soci_fail(SOCI_EINVAL, "soci_layer_counter: unknown counter %d", which);
    }
}

const soci_ztoc *layer_ztoc(const soci_layer *l)
{
    return l->z;
}

uint64_t layer_demanded_ns(const soci_layer *l, uint32_t s)
{
    return s < l->z->span_count ? atomic_load(&l->notes[s].demanded_ns) : 0;
}

int layer_read_extents(soci_layer *l, struct extent **ret, size_t *n)
{
    return extent_set_copy(&l->read_extents, ret, n);
}

/* Spans [first, last] are needed by a read: note when, for those needed the first time. */
static void note_demand(struct soci_layer *l, uint32_t first, uint32_t last)
{
    uint64_t now = 0; /* read once, and only when a span is needed the first time */
    for (uint32_t s = first; s <= last; s++) {
        uint64_t none = 0;
        if (atomic_load_explicit(&l->notes[s].demanded_ns, memory_order_relaxed) != 0)
            continue;
        if (now == 0)
            now = clock_now_ns();
        if (atomic_compare_exchange_strong(&l->notes[s].demanded_ns, &none, now))
            atomic_fetch_add(&l->spans_demanded, 1);
    }
}

/* ---- loading spans ---- */

/* A span's name in the disk store: its digest's hex. Content addresses keep zTOCs of
 * one layer built with different span sizes from reading each other's spans. A chunk's
 * digest is that of its decoded bytes, which two chunks of a layer may share while their
 * compressed bytes differ: its name adds where it starts. */
#define SPAN_KEY_SIZE 96
static const char *span_key(const struct soci_layer *l, uint32_t s, char key[SPAN_KEY_SIZE])
{
    if (!l->z->chunked)
        return l->z->digest_text[s] + 7;
    snprintf(key, SPAN_KEY_SIZE, "%s-%llx", l->z->digest_text[s] + 7, (unsigned long long)l->z->chunks[s].comp_off);
    return key;
}

/* ---- claims: one fetch of a span at a time ----
 *
 * The memory cache lets one reader load a span; background fetching, which stores spans
 * on disk without decoding them, is outside it. So a layer with a disk store has claims
 * too: whoever fetches a span's bytes holds its claim meanwhile. A reader to load a span
 * waits out a background fetch of it and takes it from the disk store instead; background
 * fetching skips spans someone holds. Readers never wait on each other's claims (the
 * memory cache already gave each span one reader), and background fetching never waits,
 * so nobody waits forever. */
static bool claim(struct soci_layer *l, uint32_t s)
{
    bool none = false;
    return atomic_compare_exchange_strong(&l->notes[s].claimed, &none, true);
}

static void unclaim(struct soci_layer *l, uint32_t s)
{
    atomic_store(&l->notes[s].claimed, false);
    pthread_mutex_lock(&l->claim_lock);
    pthread_cond_broadcast(&l->claim_released);
    pthread_mutex_unlock(&l->claim_lock);
}

/* Claim span s for a reader, waiting while background fetching holds it. */
static void claim_waiting(struct soci_layer *l, uint32_t s)
{
    if (claim(l, s))
        return;
    pthread_mutex_lock(&l->claim_lock);
    while (!claim(l, s))
        pthread_cond_wait(&l->claim_released, &l->claim_lock);
    pthread_mutex_unlock(&l->claim_lock);
}

/* What a window's spans are in: the cache_acquire states, then LOADED once this reader
 * filled one and FAILED once it gave one up (both still pinned). */
enum { LOADED = 100, GAVE_UP };

struct window {
    uint32_t first, count;
    struct cache_span *spans[WINDOW_SPANS];
    int state[WINDOW_SPANS];
    bool claimed[WINDOW_SPANS];
    bool neighbours; /* pinned for a reader that may have the spans after it fetched
                      * (soci_layer_pread: fetch_neighbours), not to fetch ahead */
};

/* Decode span s from its compressed bytes into a new buffer and hand it to the cache. */
static int decode_into_cache(struct soci_layer *l, struct window *w, uint32_t i, const uint8_t *comp, size_t len)
{
    uint64_t co, ce, oo, oe;
    uint32_t s = w->first + i;
    ztoc_span_ranges(l->z, s, &co, &ce, &oo, &oe);
    size_t out_len = (size_t)(oe - oo);
    uint64_t t0 = clock_now_ns(); /* a new buffer's pages cost about as much as decoding into them */
    uint8_t *out = cache_buf_get(l->cache, out_len);
    if (out == NULL)
        return soci_fail_nomem("span");
    int64_t n = soci_ztoc_decode_span(l->z, s, comp, len, out, out_len);
    atomic_fetch_add(&l->decode_ns, clock_now_ns() - t0);
    if (n < 0) {
        cache_buf_put(l->cache, out);
        return (int)n;
    }
    atomic_fetch_add(&l->spans_decoded, 1);
    if (atomic_exchange(&l->notes[s].decoded, true))
        atomic_fetch_add(&l->spans_redecoded, 1);
    cache_fill(l->cache, w->spans[i], out, out_len);
    w->state[i] = LOADED;
    return 0;
}

/* Spans the disk store holds: decoding verifies them; a bad one is dropped. */
static void load_from_disk(struct soci_layer *l, struct window *w)
{
    for (uint32_t i = 0; i < w->count; i++) {
        uint64_t co, ce, oo, oe;
        uint8_t *comp;
        size_t len;
        char buf[SPAN_KEY_SIZE];
        if (w->state[i] != CACHE_LOAD)
            continue;
        ztoc_span_ranges(l->z, w->first + i, &co, &ce, &oo, &oe);
        const char *key = span_key(l, w->first + i, buf);
        if (cache_disk_get_span(l->cache, l->hex, key, ce - co, &comp, &len) != 1)
            continue;
        if (decode_into_cache(l, w, i, comp, len) == 0)
            atomic_fetch_add(&l->cache->disk_hits, 1);
        else
            cache_disk_drop_span(l->cache, l->hex, key);
        soci_clear_error();
        cache_buf_put(l->cache, comp);
    }
}

/* Fetch window spans [a, b] (indexes into w) in one vectored read, then decode each this
 * reader is to load (the others in between are held already: their bytes only fill a gap). */
static int fetch_run(struct soci_layer *l, struct window *w, uint32_t a, uint32_t b)
{
    const struct soci_ztoc *z = l->z;
    uint64_t base, run_end, co, ce, oo, oe;
    ztoc_span_ranges(z, w->first + a, &base, &ce, &oo, &oe);
    ztoc_span_ranges(z, w->first + b, &co, &run_end, &oo, &oe);
    size_t comp_len = (size_t)(run_end - base);
    uint8_t *comp = cache_buf_get(l->cache, comp_len);
    if (comp == NULL)
        return soci_fail_nomem("compressed spans");

    /* Cut the run at span starts into requests of about REQUEST_TARGET bytes. */
    struct soci_iov_at iov[MAX_REQUESTS];
    size_t nreq = 0;
    uint64_t req_start = base;
    for (uint32_t i = a + 1; i <= b; i++) {
        ztoc_span_ranges(z, w->first + i, &co, &ce, &oo, &oe);
        if (co > req_start && co - req_start >= REQUEST_TARGET && nreq + 1 < MAX_REQUESTS) {
            iov[nreq++] = (struct soci_iov_at){comp + (req_start - base), (size_t)(co - req_start), req_start};
            req_start = co;
        }
    }
    iov[nreq++] = (struct soci_iov_at){comp + (req_start - base), (size_t)(run_end - req_start), req_start};
    atomic_fetch_add(&l->reads, nreq);
    atomic_fetch_add(&l->bytes_fetched, comp_len);
    atomic_fetch_add(&l->cache->bytes_fetched, comp_len);
    uint64_t t0 = clock_now_ns();
    int r = blob_read_vec(l->blob, iov, nreq);
    atomic_fetch_add(&l->fetch_ns, clock_now_ns() - t0);
    for (uint32_t i = a; i <= b && r == 0; i++) {
        if (w->state[i] != CACHE_LOAD)
            continue;
        ztoc_span_ranges(z, w->first + i, &co, &ce, &oo, &oe);
        const uint8_t *span = comp + (co - base);
        char buf[SPAN_KEY_SIZE];
        if ((r = decode_into_cache(l, w, i, span, (size_t)(ce - co))) == 0) {
            atomic_fetch_add(&l->cache->misses, 1);
            if (l->store)
                cache_disk_put_span(l->cache, l->hex, span_key(l, w->first + i, buf), span, (size_t)(ce - co));
        }
    }
    cache_buf_put(l->cache, comp);
    return r;
}

static void release_window(struct soci_layer *l, struct window *w, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        cache_release(l->cache, w->spans[i]);
}

/* Give up the spans this reader was to load but did not: their waiters see code. */
static void give_up(struct soci_layer *l, struct window *w, int code)
{
    for (uint32_t i = 0; i < w->count; i++) {
        if (w->state[i] == CACHE_LOAD) {
            cache_fail(l->cache, w->spans[i], code);
            w->state[i] = GAVE_UP;
        }
    }
}

/* The first span of the window this reader is to fetch (all of them loaded from disk or
 * held by others: count). */
static uint32_t first_fetch(const struct window *w)
{
    uint32_t i = 0;
    while (i < w->count && w->state[i] != CACHE_LOAD)
        i++;
    return i;
}

static void fetch_neighbours(struct soci_layer *l, uint32_t last);

/* Pin spans [first, first + count) of the layer, every one ready, or fail with none. */
static int pin_window(struct soci_layer *l, struct window *w)
{
    int r = 0;
    uint32_t pinned;
    for (pinned = 0; pinned < w->count; pinned++) {
        if ((r = cache_acquire(l->cache, l->id, w->first + pinned, &w->spans[pinned])) < 0)
            break;
        w->state[pinned] = r;
        if (r == CACHE_HIT)
            atomic_fetch_add(&l->cache->hits, 1);
    }
    if (r < 0) {
        w->count = pinned;
        give_up(l, w, r);
        release_window(l, w, pinned);
        return r;
    }
    if (l->store) {
        for (uint32_t i = 0; i < w->count; i++)
            if ((w->claimed[i] = w->state[i] == CACHE_LOAD))
                claim_waiting(l, w->first + i);
        load_from_disk(l, w);
    }
    /* Load what is left, in runs of spans close enough to share requests; then wait for
     * the others'. */
    r = 0;
    for (uint32_t i = 0; i < w->count && r == 0; i++) {
        if (w->state[i] != CACHE_LOAD)
            continue;
        uint32_t j = i;
        for (uint32_t k = i + 1; k < w->count; k++) {
            if (w->state[k] != CACHE_LOAD)
                continue;
            /* Spans already held lie between: fetched again when they are few bytes. */
            if (ztoc_span_gap(l->z, w->first + j, w->first + k) > LAYER_JOIN_GAP)
                break;
            j = k;
        }
        if (w->neighbours && !l->z->chunked && i == first_fetch(w))
            fetch_neighbours(l, w->first + w->count - 1);
        if ((r = fetch_run(l, w, i, j)) < 0)
            r = soci_fail_prefix(r, "%s spans %u-%u", l->what, w->first + i, w->first + j);
        i = j;
    }
    if (r < 0)
        give_up(l, w, r);
    for (uint32_t i = 0; i < w->count && l->store; i++)
        if (w->claimed[i])
            unclaim(l, w->first + i);
    for (uint32_t i = 0; i < w->count && r == 0; i++)
        if (w->state[i] == CACHE_BUSY)
            r = cache_wait(l->cache, w->spans[i]);
    if (r < 0)
        release_window(l, w, w->count);
    return r;
}

/* The window starting at span first, within [first, last]. */
static uint32_t window_count(const struct soci_ztoc *z, uint32_t first, uint32_t last)
{
    uint64_t co, ce, oo, oe, start;
    ztoc_span_ranges(z, first, &co, &ce, &start, &oe);
    uint32_t n = 1;
    while (first + n <= last && n < WINDOW_SPANS) {
        ztoc_span_ranges(z, first + n, &co, &ce, &oo, &oe);
        if (oe - start > WINDOW_BYTES)
            break;
        n++;
    }
    return n;
}

int soci_layer_prefetch(soci_layer *l, uint32_t first, uint32_t last)
{
    struct window w;
    if (l == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layer_prefetch: layer is NULL");
    if (last >= l->z->span_count || first > last)
        return soci_fail(SOCI_EINVAL, "%s: no spans %u-%u", l->what, first, last);
    for (uint32_t s = first; s <= last; s += w.count) {
        w.first = s;
        w.neighbours = false;
        w.count = window_count(l->z, s, last);
        int r = pin_window(l, &w);
        if (r < 0)
            return r;
        release_window(l, &w, w.count);
    }
    return 0;
}

/* Spans [first, last] that layer_store_spans is to fetch: claimed, neither on disk nor in
 * memory. */
static bool wanted_for_store(struct soci_layer *l, uint32_t s)
{
    char buf[SPAN_KEY_SIZE];
    if (cache_disk_has_span(l->cache, l->hex, span_key(l, s, buf)) || cache_mem_has(l->cache, l->id, s))
        return false;
    if (!claim(l, s))
        return false;
    /* Re-checked under the claim: a reader may have stored it just before. */
    if (cache_disk_has_span(l->cache, l->hex, span_key(l, s, buf))) {
        unclaim(l, s);
        return false;
    }
    return true;
}

/* Whether runs are ascending and apart, within the layer, and LAYER_STORE_MAX_SPANS in
 * all at most. */
static bool runs_valid(const struct soci_layer *l, const struct span_run *runs, size_t n)
{
    uint64_t spans = 0;
    for (size_t k = 0; k < n; k++) {
        if (runs[k].first > runs[k].last || runs[k].last >= l->z->span_count ||
            (k > 0 && runs[k].first <= runs[k - 1].last))
            return false;
        spans += runs[k].last - runs[k].first + 1u;
    }
    return n > 0 && n <= LAYER_STORE_MAX_RUNS && spans <= LAYER_STORE_MAX_SPANS;
}

static uint64_t span_start(const struct soci_ztoc *z, uint32_t s)
{
    uint64_t co, ce, oo, oe;
    ztoc_span_ranges(z, s, &co, &ce, &oo, &oe);
    return co;
}

static uint64_t span_end(const struct soci_ztoc *z, uint32_t s)
{
    uint64_t co, ce, oo, oe;
    ztoc_span_ranges(z, s, &co, &ce, &oo, &oe);
    return ce;
}

/* The pieces to read for the spans of run (take[i]: whether its span first + i is ours,
 * buf: where the run's first span goes), appended to iov: one per run of spans to take,
 * of about piece_bytes; when the pieces left are as many as the runs left (runs_after),
 * this run's last piece reaches through to its last span to take. */
static size_t plan_pieces(const struct soci_layer *l, struct span_run run, const bool *take, uint8_t *buf,
                          uint64_t piece_bytes, struct soci_iov_at *iov, size_t nreq, size_t runs_after)
{
    uint64_t base = span_start(l->z, run.first);
    for (uint32_t s = run.first; s <= run.last; s++) {
        if (!take[s - run.first])
            continue;
        uint32_t e = s;
        if (nreq + 1 + runs_after >= LAYER_STORE_MAX_PIECES) {
            for (uint32_t k = s; k <= run.last; k++)
                e = take[k - run.first] ? k : e;
        } else {
            uint64_t run_start = span_start(l->z, s);
            while (e < run.last && take[e + 1 - run.first] && span_start(l->z, e + 1) - run_start < piece_bytes)
                e++;
        }
        uint64_t rs = span_start(l->z, s), re = span_end(l->z, e);
        iov[nreq++] = (struct soci_iov_at){buf + (rs - base), (size_t)(re - rs), rs};
        s = e;
    }
    return nreq;
}

int layer_store_runs(soci_layer *l, const struct span_run *runs, size_t n, uint64_t piece_bytes, uint32_t *stored)
{
    struct soci_iov_at iov[LAYER_STORE_MAX_PIECES];
    bool take[LAYER_STORE_MAX_SPANS];
    size_t nreq = 0, spans = 0;
    uint64_t comp_len = 0;
    *stored = 0;
    if (!l->store || !runs_valid(l, runs, n))
        return soci_fail(SOCI_EINVAL, "%s: cannot store spans %u-%u (%zu runs)", l->what, n ? runs[0].first : 0,
                         n ? runs[n - 1].last : 0, n);
    for (size_t k = 0; k < n; k++) {
        for (uint32_t s = runs[k].first; s <= runs[k].last; s++)
            take[spans++] = wanted_for_store(l, s);
        comp_len += ztoc_run_bytes(l->z, runs[k].first, runs[k].last);
    }
    uint8_t *comp = cache_buf_get(l->cache, (size_t)comp_len);
    if (comp == NULL) {
        for (size_t k = 0, t = 0; k < n; k++)
            for (uint32_t s = runs[k].first; s <= runs[k].last; s++, t++)
                if (take[t])
                    unclaim(l, s);
        return soci_fail_nomem("spans");
    }
    uint64_t at = 0;
    for (size_t k = 0, t = 0; k < n; k++) {
        nreq = plan_pieces(l, runs[k], &take[t], comp + at, piece_bytes, iov, nreq, n - k - 1);
        at += ztoc_run_bytes(l->z, runs[k].first, runs[k].last);
        t += runs[k].last - runs[k].first + 1u;
    }
    int r = 0;
    if (nreq > 0) {
        uint64_t t0 = clock_now_ns(), bytes = 0;
        for (size_t k = 0; k < nreq; k++)
            bytes += iov[k].len;
        atomic_fetch_add(&l->reads, nreq);
        atomic_fetch_add(&l->bytes_fetched, bytes);
        atomic_fetch_add(&l->cache->bytes_fetched, bytes);
        r = blob_read_vec(l->blob, iov, nreq);
        atomic_fetch_add(&l->fetch_ns, clock_now_ns() - t0);
        if (r < 0)
            r = soci_fail_prefix(r, "%s spans %u-%u", l->what, runs[0].first, runs[n - 1].last);
    }
    bool fetched = r == 0;
    at = 0;
    for (size_t k = 0, t = 0; k < n; k++) {
        uint64_t base = span_start(l->z, runs[k].first);
        for (uint32_t s = runs[k].first; s <= runs[k].last; s++, t++) {
            if (!take[t])
                continue;
            char buf[SPAN_KEY_SIZE];
            uint64_t co = span_start(l->z, s), ce = span_end(l->z, s);
            /* Stored as fetched: the read that loads it from the store checks it, as it
             * checks every store entry (soci_ztoc_decode_span), and drops a bad one.
             * Checking here too would hash every span twice. */
            if (fetched) {
                cache_disk_store_span(l->cache, l->hex, span_key(l, s, buf), comp + at + (co - base),
                                      (size_t)(ce - co));
                (*stored)++;
            }
            unclaim(l, s);
        }
        at += ztoc_run_bytes(l->z, runs[k].first, runs[k].last);
    }
    cache_buf_put(l->cache, comp);
    return r;
}

int layer_store_spans(soci_layer *l, uint32_t first, uint32_t last, uint32_t *stored)
{
    struct span_run run = {first, last};
    return layer_store_runs(l, &run, 1, REQUEST_TARGET, stored); /* pieces go out side by side */
}

void layer_fetch_all(soci_layer *l, bool on)
{
    atomic_store(&l->fetch_all, on);
}

void layer_decode_ahead_join(soci_layer *l, int delta)
{
    cache_ahead_join(l->cache, delta);
}

uint64_t layer_decode_ahead_budget(const soci_layer *l)
{
    return cache_ahead_budget(l->cache);
}

bool layer_has_store(const soci_layer *l)
{
    return l->store;
}

uint32_t layer_missing_spans(soci_layer *l)
{
    char buf[SPAN_KEY_SIZE];
    uint32_t missing = 0;
    for (uint32_t s = 0; s < l->z->span_count; s++)
        if (!cache_mem_has(l->cache, l->id, s) &&
            !(l->store && cache_disk_has_span(l->cache, l->hex, span_key(l, s, buf))))
            missing++;
    return missing;
}

/* ---- reading ---- */

/* The last span to load for a read of spans [first, last]: for a chunk-TOC layer, small
 * chunks after last while they add up to CHUNK_READAHEAD compressed bytes. */
static uint32_t readahead_last(const struct soci_layer *l, uint32_t first, uint32_t last)
{
    if (!l->z->chunked)
        return last;
    /* Only a read that misses reads ahead: one whose chunks are all held would pin (and
     * look up) hundreds of chunks for nothing, on every read. */
    uint32_t s = first;
    while (s <= last && cache_mem_has(l->cache, l->id, s))
        s++;
    if (s > last)
        return last;
    return ztoc_span_run_last(l->z, first, last, l->z->span_count - 1, CHUNK_READAHEAD, WINDOW_SPANS);
}

static void *readahead_main(void *arg)
{
    struct soci_layer *l = arg;
    pthread_mutex_lock(&l->ra.lock);
    for (;;) {
        while (!l->ra.pending && !l->ra.stop)
            pthread_cond_wait(&l->ra.wake, &l->ra.lock);
        if (l->ra.stop)
            break;
        uint32_t first = l->ra.first, last = l->ra.last, stored;
        bool to_disk = l->ra.to_disk;
        l->ra.pending = false;
        pthread_mutex_unlock(&l->ra.lock);
        int r = to_disk ? layer_store_spans(l, first, last, &stored) : soci_layer_prefetch(l, first, last);
        if (r < 0) /* a hint: the read that needs it will say */
            soci_log(SOCI_LOG_DEBUG, "read-ahead of spans %u-%u: %s", first, last, soci_last_error());
        soci_clear_error();
        pthread_mutex_lock(&l->ra.lock);
    }
    pthread_mutex_unlock(&l->ra.lock);
    return NULL;
}

/* Make spans [first, last] the read-ahead job (with ra.lock held), starting the thread. */
static void queue_readahead(struct soci_layer *l, uint32_t first, uint32_t last, bool to_disk)
{
    struct readahead *ra = &l->ra;
    if (ra->stop)
        return;
    ra->first = first;
    ra->last = last;
    ra->to_disk = to_disk;
    ra->pending = true;
    if (!ra->started)
        ra->started = thread_start(&ra->thread, readahead_main, l) == 0;
    pthread_cond_signal(&ra->wake);
}

/* A read of entry's [off, off + n), through span last, has been served: follow the file's
 * reads, and when they run in sequence ask for the spans after `last` that the file
 * still has. The file's data ends in span file_last. */
static void follow_reads(struct soci_layer *l, uint32_t entry, uint64_t off, uint64_t n, uint32_t last,
                         uint32_t file_last)
{
    struct readahead *ra = &l->ra;
    pthread_mutex_lock(&ra->lock);
    struct ra_stream *st = NULL;
    for (int i = 0; i < RA_STREAMS && st == NULL; i++)
        if (ra->streams[i].next != 0 && ra->streams[i].entry == entry)
            st = &ra->streams[i];
    if (st == NULL) {
        st = &ra->streams[ra->clock++ % RA_STREAMS];
        *st = (struct ra_stream){.entry = entry};
    }
    st->run = off == st->next && off > 0 ? st->run + 1 : 0;
    st->next = off + n;
    uint32_t first = last + 1, until = last + RA_SPANS < file_last ? last + RA_SPANS : file_last;
    if (st->run >= RA_MIN_RUN && first <= until && !cache_mem_has(l->cache, l->id, until))
        queue_readahead(l, first, until, false);
    pthread_mutex_unlock(&ra->lock);
}

/* A read through span last had to fetch: store the spans after it (see RA_NEIGHBOUR_BYTES). */
static void fetch_neighbours(struct soci_layer *l, uint32_t last)
{
    if (!l->store || !atomic_load(&l->fetch_all) || last + 1 >= l->z->span_count)
        return;
    uint32_t until = ztoc_span_run_last(l->z, last + 1, last + 1, l->z->span_count - 1, RA_NEIGHBOUR_BYTES,
                                        LAYER_STORE_MAX_SPANS);
    pthread_mutex_lock(&l->ra.lock);
    queue_readahead(l, last + 1, until, true);
    pthread_mutex_unlock(&l->ra.lock);
}

/* ahead: read ahead of the reader as layer.c's read-ahead says; without, exactly the
 * spans of these bytes. */
static int64_t layer_pread(soci_layer *l, uint32_t entry, void *buf, size_t len, uint64_t off, bool ahead)
{
    uint32_t target, first, last;
    int r;
    const struct soci_ztoc *z = l->z;
    if ((r = soci_ztoc_resolve(z, entry, &target)) < 0)
        return r;
    const struct soci_entry *e = &z->entries[target].pub;
    if (e->type == SOCI_TYPE_DIR)
        return soci_fail(SOCI_EISDIR, "\"%s\" is a directory", e->name);
    if (e->type != SOCI_TYPE_REG)
        return soci_fail(SOCI_EINVAL, "\"%s\" is not a regular file", e->name);
    if (off >= e->size || len == 0)
        return 0;
    uint64_t n = e->size - off < len ? e->size - off : len;
    uint64_t start = e->offset + off, end = start + n;

    if ((r = soci_ztoc_span_at(z, start, &first)) < 0 || (r = soci_ztoc_span_at(z, end - 1, &last)) < 0)
        return r;

    struct window w;
    uint32_t through = ahead ? readahead_last(l, first, last) : last;
    note_demand(l, first, last);
    if (extent_set_add(&l->read_extents, start, end) < 0)
        soci_clear_error(); /* a record's detail, never a read's failure */
    for (uint32_t s = first; s <= last; s += w.count) {
        w.first = s;
        w.neighbours = ahead;
        w.count = window_count(z, s, s == first ? through : last);
        uint64_t t0 = clock_now_ns();
        r = pin_window(l, &w);
        if (r < 0 && s == first && through > last) {
            /* Read-ahead is a hint: a neighbour that fails must not fail this read. */
            soci_clear_error();
            w.count = window_count(z, s, last);
            r = pin_window(l, &w);
        }
        atomic_fetch_add(&l->read_wait_ns, clock_now_ns() - t0);
        if (r < 0)
            return soci_fail_prefix(r, "\"%s\"", e->name);
        for (uint32_t i = 0; i < w.count; i++) {
            uint64_t co, ce, oo, oe;
            ztoc_span_ranges(z, s + i, &co, &ce, &oo, &oe);
            uint64_t a = start > oo ? start : oo, b = end < oe ? end : oe;
            if (b > a)
                memcpy((uint8_t *)buf + (a - start), cache_span_data(w.spans[i]) + (a - oo), (size_t)(b - a));
        }
        release_window(l, &w, w.count);
    }
    atomic_fetch_add(&l->cache->bytes_served, n);
    uint32_t file_last;
    if (ahead && !z->chunked && soci_ztoc_span_at(z, e->offset + e->size - 1, &file_last) == 0)
        follow_reads(l, target, off, n, last, file_last);
    return (int64_t)n;
}

int64_t soci_layer_pread(soci_layer *l, uint32_t entry, void *buf, size_t len, uint64_t off)
{
    if (l == NULL || (buf == NULL && len))
        return soci_fail(SOCI_EINVAL, "soci_layer_pread: bad arguments");
    cache_read_begin(l->cache); /* fetching ahead waits while reads come (cache_reads_quiet) */
    int64_t n = layer_pread(l, entry, buf, len, off, true);
    cache_read_end(l->cache, false);
    return n;
}

int64_t layer_pread_exact(soci_layer *l, uint32_t entry, void *buf, size_t len, uint64_t off)
{
    cache_read_begin(l->cache);
    int64_t n = layer_pread(l, entry, buf, len, off, false);
    cache_read_end(l->cache, true);
    return n;
}

bool layer_reads_quiet(const soci_layer *l, uint64_t quiet_ns, uint64_t handover_quiet_ns)
{
    return cache_reads_quiet(l->cache, quiet_ns, handover_quiet_ns);
}

bool layer_reads_seen(const soci_layer *l)
{
    return cache_reads_seen(l->cache);
}
