/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Background fetching: one thread walks every span of every layer, top layer first (the
 * files a container changes last are the ones it is likeliest to read), and stores what
 * the disk store lacks. It yields to on-demand reads: while any is in flight, or one
 * ended less than QUIET_NS ago, it sleeps. One span at a time keeps its share of the
 * network small; a failure is logged and the span skipped (a later read fetches it).
 */
#include <time.h>

#include "cache/cache_internal.h"
#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

#define QUIET_NS 100000000 /* 100 ms */
#define PAUSE_NS 20000000  /* 20 ms */

static void pause_briefly(void)
{
    struct timespec ts = {0, PAUSE_NS};
    nanosleep(&ts, NULL);
}

/* Wait until no on-demand read is near; false when asked to stop meanwhile. */
static bool wait_for_quiet(struct soci_fs *fs)
{
    while (!atomic_load(&fs->bg_stop)) {
        if (atomic_load(&fs->reading) == 0 && fs_now_ns() - atomic_load(&fs->last_read_ns) >= QUIET_NS)
            return true;
        pause_briefly();
    }
    return false;
}

static void *background_main(void *arg)
{
    struct soci_fs *fs = arg;
    for (uint32_t l = fs->nlayers; l-- > 0;) {
        soci_layer *layer = fs->layers[l];
        if (!layer_has_store(layer))
            continue;
        uint32_t spans = soci_ztoc_span_count(fs->ztocs[l]);
        for (uint32_t s = 0; s < spans; s++) {
            if (!wait_for_quiet(fs))
                return NULL;
            if (layer_store_span(layer, s) < 0) {
                soci_log(SOCI_LOG_WARNING, "background fetch: layer %u span %u: %s", l, s, soci_last_error());
                pause_briefly();
            } else {
                atomic_fetch_add(&fs->bg_spans, 1);
            }
        }
    }
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

void fs_background_stop(struct soci_fs *fs)
{
    pthread_mutex_lock(&fs->bg_lock);
    if (fs->bg_running) {
        atomic_store(&fs->bg_stop, true);
        pthread_join(fs->bg_thread, NULL);
        fs->bg_running = false;
    }
    pthread_mutex_unlock(&fs->bg_lock);
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
    pthread_mutex_lock(&fs->bg_lock);
    if (!fs->bg_running) {
        atomic_store(&fs->bg_stop, false);
        if (thread_start(&fs->bg_thread, background_main, fs) != 0)
            r = soci_fail(SOCI_ENOMEM, "cannot start the background fetch thread");
        else
            fs->bg_running = true;
    }
    pthread_mutex_unlock(&fs->bg_lock);
    return r;
}
