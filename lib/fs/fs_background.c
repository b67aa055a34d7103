/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Background fetching: BG_THREADS threads take every span of every layer into the disk
 * store, top layer first (the files a container changes last are the ones it is likeliest
 * to read), so that the whole image arrives at the link's aggregate speed, not one span
 * at a time. Each job is a run of spans of up to BG_JOB_BYTES compressed bytes fetched
 * with one request (a chunk-TOC layer's small chunks go many to a request, not one
 * round trip each); spans already stored, in memory, or being fetched by a reader are
 * skipped (layer claims), so nothing is fetched twice.
 *
 * Readers come first. The threads start no job while reads are in flight or one ended
 * less than QUIET_NS ago, through any layer sharing the tree's caches (soci-store's trees
 * are a layer each: watching only their own, a layer's threads would fill the store while
 * the start-up reads the layer beside it). A start-up that reads files one after another
 * is CPU-bound as much as network-bound, and filling the store alongside it slowed it
 * down (profiled on two cores: 4.9 s became 6.7 s from a loopback registry); what a
 * start-up needs soon is fetched by its reads, their neighbour read-ahead and a learned
 * prefetch artifact. The threads are of the background class (util/thread.h): a quarter
 * of each registry host's connections stays free for readers, and their CPU priority is
 * low. A reader that needs a span being fetched here waits for it rather than fetching it
 * again. Spans go to disk without being decoded, so they cost readers neither memory nor
 * CPU. A failed job is logged and skipped (a later read fetches its spans); failures in a
 * row slow the threads down, so an unreachable registry is not hammered.
 */
#include <time.h>

#include "cache/cache_internal.h"
#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

#define BG_JOB_BYTES ((uint64_t)4 << 20)
/* Quiet: no read for this long. A start-up reading files one after another pauses for
 * tens of milliseconds between them; at 100 ms, background jobs began in those pauses (a
 * learned 400 MB start fetched 5-10 spans it did not need, 1.25x its bytes, on the same
 * two cores as its decoding); at 500 ms none began before it was ready, and it was not
 * slower (medians of three alternating runs on each link). */
#define QUIET_NS 500000000 /* 500 ms */
#define PAUSE_NS 20000000  /* 20 ms */
#define BG_BACKOFF_MAX_NS 2000000000 /* 2 s */
/* Before the first read, background fetching waits this long: an engine takes a second or
 * so between getting its layers (soci-store opens them then) and starting the container,
 * and jobs begun meanwhile were still running, on the same two cores, when its start-up
 * read (a learned start through soci-store: 5.85 s against 6.18 s, medians of five
 * alternating runs). A tree nobody reads still fills soon after. */
#define BG_FIRST_READ_WAIT_NS 3000000000ull /* 3 s */
/* After planned data was handed over (soci_erofs_device_pread_planned: soci-mount --kernel
 * writes a learned start's blocks into the kernel's page cache), the start-up reads it
 * without a read coming here: quiet then says nothing about whether it is over. So
 * background fetching gives it as long as a start before a first read: starting 0.5 s
 * after the handover, it fetched 70-160 MB beside a learned 400 MB start on two cores
 * (1.8-2.8x the start's bytes). */
#define HANDOVER_QUIET_NS BG_FIRST_READ_WAIT_NS

/* The next job: spans [*first, *last] of layer *layer; false when every span is taken. */
static bool next_job(struct soci_fs *fs, uint32_t *layer, uint32_t *first, uint32_t *last)
{
    bool found = false;
    pthread_mutex_lock(&fs->bg_lock);
    while (!found && fs->bg_layer > 0) {
        uint32_t l = fs->bg_layer - 1;
        const soci_ztoc *z = fs->ztocs[l];
        uint32_t spans = soci_ztoc_span_count(z);
        if (!layer_has_store(fs->layers[l]) || fs->bg_next >= spans) {
            fs->bg_layer--;
            fs->bg_next = 0;
            continue;
        }
        *layer = l;
        *first = fs->bg_next;
        *last = ztoc_span_run_last(z, *first, *first, spans - 1, BG_JOB_BYTES, LAYER_STORE_MAX_SPANS);
        fs->bg_next = *last + 1;
        found = true;
    }
    pthread_mutex_unlock(&fs->bg_lock);
    return found;
}

/* Whether no read is near: through any of the tree's layers, or any other layer sharing
 * their caches (soci-store opens a tree per layer, all on one cache). */
static bool quiet(const struct soci_fs *fs)
{
    for (uint32_t i = 0; i < fs->nlayers; i++)
        if (!layer_reads_quiet(fs->layers[i], QUIET_NS, HANDOVER_QUIET_NS))
            return false;
    return true;
}

static bool read_seen(const struct soci_fs *fs)
{
    for (uint32_t i = 0; i < fs->nlayers; i++)
        if (layer_reads_seen(fs->layers[i]))
            return true;
    return false;
}

/* Wait until no read is near, and until the first read or BG_FIRST_READ_WAIT_NS after
 * `since`; false when asked to stop meanwhile. */
static bool wait_for_quiet(struct soci_fs *fs, uint64_t since)
{
    while (!atomic_load(&fs->bg_stop)) {
        if (quiet(fs) && (read_seen(fs) || clock_now_ns() - since >= BG_FIRST_READ_WAIT_NS))
            return true;
        clock_sleep_ns(PAUSE_NS);
    }
    return false;
}

static void *background_main(void *arg)
{
    struct soci_fs *fs = arg;
    uint32_t l, first, last, stored;
    uint64_t backoff = 0, since = clock_now_ns();
    thread_set_background(1);
    while (wait_for_quiet(fs, since) && next_job(fs, &l, &first, &last)) {
        if (layer_store_spans(fs->layers[l], first, last, &stored) < 0) {
            soci_log(SOCI_LOG_WARNING, "background fetch: layer %u: %s", l, soci_last_error());
            backoff = backoff ? (backoff * 2 < BG_BACKOFF_MAX_NS ? backoff * 2 : BG_BACKOFF_MAX_NS) : PAUSE_NS;
            clock_sleep_ns(backoff);
        } else {
            backoff = 0;
        }
        atomic_fetch_add(&fs->bg_spans, stored);
    }
    if (atomic_fetch_sub(&fs->bg_active, 1) == 1 && !atomic_load(&fs->bg_stop))
        soci_log(SOCI_LOG_INFO, "background fetch: done");
    return NULL;
}

static bool any_store(const struct soci_fs *fs)
{
    for (uint32_t l = 0; l < fs->nlayers; l++)
        if (layer_has_store(fs->layers[l]))
            return true;
    return false;
}

static void fetch_all(struct soci_fs *fs, bool on)
{
    for (uint32_t l = 0; l < fs->nlayers; l++)
        if (layer_has_store(fs->layers[l]))
            layer_fetch_all(fs->layers[l], on);
}

void fs_background_stop(struct soci_fs *fs)
{
    pthread_mutex_lock(&fs->bg_control);
    if (fs->bg_threads > 0) {
        fetch_all(fs, false);
        atomic_store(&fs->bg_stop, true);
        for (unsigned t = 0; t < fs->bg_threads; t++)
            pthread_join(fs->bg_thread[t], NULL);
        fs->bg_threads = 0;
    }
    pthread_mutex_unlock(&fs->bg_control);
}

int soci_fs_background_fetch(soci_fs *fs, int enable)
{
    int r = 0;
    if (fs == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_background_fetch: no fs");
    if (!enable) {
        fs_background_stop(fs);
        return 0;
    }
    if (!any_store(fs))
        return soci_fail(SOCI_ENOTSUP, "background fetching needs a cache with a disk store");
    pthread_mutex_lock(&fs->bg_control);
    if (fs->bg_threads == 0) {
        atomic_store(&fs->bg_stop, false);
        pthread_mutex_lock(&fs->bg_lock);
        fs->bg_layer = fs->nlayers; /* from the top, again: what is stored is skipped */
        fs->bg_next = 0;
        pthread_mutex_unlock(&fs->bg_lock);
        atomic_store(&fs->bg_active, BG_THREADS);
        fetch_all(fs, true);
        for (unsigned t = 0; t < BG_THREADS; t++) {
            if (thread_start(&fs->bg_thread[t], background_main, fs) != 0) {
                atomic_fetch_sub(&fs->bg_active, BG_THREADS - t);
                if (t == 0)
                    r = soci_fail(SOCI_ENOMEM, "cannot start the background fetch threads");
                break;
            }
            fs->bg_threads++;
        }
    }
    pthread_mutex_unlock(&fs->bg_control);
    return r;
}
