/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decode-ahead: after a prefetch has put a start-up's spans on disk, undecoded, one thread
 * decodes them into the memory cache in the order the start-up will need them (the
 * artifacts' priorities), so that its reads find them ready instead of decoding each on
 * their own path. Profiled on a 400 MB image, decoding was the larger half of what a
 * learned start still waited for (2.1 s of 2.2 s); a second core does it meanwhile.
 *
 * It stays at most half the memory cache ahead of the reads, shared with the other
 * decode-ahead threads on that cache (soci-store runs one per layer): spans decoded but
 * not yet needed add up to no more than that, so it never pushes out what it decoded
 * before it is read, nor all of what readers keep using. A span a reader needs first is
 * simply a hit later. Stops when the order is done, or when the tree is freed.
 *
 * The prefetch leaves the order as a plan; the first read starts the thread. A daemon
 * prefetches before it forks into the background (soci-mount does, to report failures
 * with its exit status), and a thread started then would not be in the child, leaving
 * the span it was decoding marked as loading forever.
 */
#include <stdlib.h>

#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

#define WAIT_NS 5000000 /* 5 ms: how often a thread ahead looks whether reads caught up */

struct decode_ahead {
    struct soci_fs *fs;
    struct fs_span *order;
    size_t n;
    pthread_t thread;
    bool started;
    atomic_bool stop;
};

static uint64_t decoded_size(const struct soci_fs *fs, const struct fs_span *s)
{
    uint64_t co, ce, oo, oe;
    ztoc_span_ranges(fs->ztocs[s->layer], s->span, &co, &ce, &oo, &oe);
    return oe - oo;
}

static bool demanded(const struct soci_fs *fs, const struct fs_span *s)
{
    return layer_demanded_ns(fs->layers[s->layer], s->span) != 0;
}

static void *decode_ahead_main(void *arg)
{
    struct decode_ahead *d = arg;
    struct soci_fs *fs = d->fs;
    size_t caught_up = 0; /* order[0, caught_up) all needed by reads already */
    soci_layer *joined = d->n ? fs->layers[d->order[0].layer] : NULL; /* its cache's budget is shared */
    if (joined)
        layer_decode_ahead_join(joined, 1);
    for (size_t k = 0; k < d->n && !atomic_load(&d->stop); k++) {
        const struct fs_span *s = &d->order[k];
        uint64_t budget = layer_decode_ahead_budget(fs->layers[s->layer]), ahead;
        for (;;) {
            while (caught_up < k && demanded(fs, &d->order[caught_up]))
                caught_up++;
            ahead = decoded_size(fs, s);
            for (size_t j = caught_up; j < k; j++)
                if (!demanded(fs, &d->order[j]))
                    ahead += decoded_size(fs, &d->order[j]);
            if (ahead <= budget || caught_up == k || atomic_load(&d->stop))
                break;
            clock_sleep_ns(WAIT_NS);
        }
        if (!atomic_load(&d->stop) && soci_layer_prefetch(fs->layers[s->layer], s->span, s->span) < 0) {
            soci_log(SOCI_LOG_DEBUG, "decode-ahead: layer %u span %u: %s", s->layer, s->span, soci_last_error());
            soci_clear_error(); /* a hint: the read that needs it will say */
        }
    }
    if (joined)
        layer_decode_ahead_join(joined, -1);
    return NULL;
}

/* Stop the thread, if one runs (bg_control held). */
static void stop_locked(struct soci_fs *fs)
{
    struct decode_ahead *d = fs->decode_ahead;
    if (d == NULL)
        return;
    atomic_store(&d->stop, true);
    if (d->started)
        pthread_join(d->thread, NULL);
    free(d->order);
    free(d);
    fs->decode_ahead = NULL;
}

int fs_decode_ahead_plan(struct soci_fs *fs, struct fs_span *order, size_t n)
{
    struct decode_ahead *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        free(order);
        return soci_fail_nomem("decode-ahead");
    }
    *d = (struct decode_ahead){.fs = fs, .order = order, .n = n};
    pthread_mutex_lock(&fs->bg_control);
    stop_locked(fs);
    fs->decode_ahead = d;
    atomic_store(&fs->decode_ahead_planned, true);
    pthread_mutex_unlock(&fs->bg_control);
    return 0;
}

void fs_decode_ahead_begin(struct soci_fs *fs)
{
    pthread_mutex_lock(&fs->bg_control);
    struct decode_ahead *d = fs->decode_ahead;
    if (d != NULL && !d->started) {
        if (thread_start(&d->thread, decode_ahead_main, d) == 0) {
            d->started = true;
        } else {
            soci_log(SOCI_LOG_WARNING, "cannot start the decode-ahead thread");
            fs->decode_ahead = NULL;
            free(d->order);
            free(d);
        }
    }
    pthread_mutex_unlock(&fs->bg_control);
}

void fs_decode_ahead_stop(struct soci_fs *fs)
{
    pthread_mutex_lock(&fs->bg_control);
    stop_locked(fs);
    pthread_mutex_unlock(&fs->bg_control);
}
