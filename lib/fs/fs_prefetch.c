/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prefetch artifacts: the spans an image's builder asked to have fetched before the
 * container starts (format/prefetch_json.h). They name spans of a layer's SOCI zTOC, so
 * only layers read through one take them.
 *
 * The ranges of every layer become jobs, top layer first; ranges of a layer closer than a
 * round trip's worth of bytes are joined (the spans between are fetched too), and
 * PREFETCH_THREADS threads work through the jobs, each job's spans going out as parallel
 * range requests. The per-host connection bound (SOCI_OPT_MAX_CONNECTIONS) keeps the
 * registry's share in check however many jobs run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "format/prefetch_json.h"
#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "image/image_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

#define PREFETCH_THREADS 4

struct job {
    uint32_t layer, first, last;
};

struct prefetch {
    struct soci_fs *fs;
    struct job *jobs;
    size_t njobs, cap;
    atomic_size_t next;
    atomic_uint_fast64_t spans;
    pthread_mutex_t lock; /* the first failure: */
    int code;
    char message[512];
};

static void note_failure(struct prefetch *p, int code)
{
    soci_log(SOCI_LOG_WARNING, "prefetch: %s", soci_last_error());
    pthread_mutex_lock(&p->lock);
    if (p->code == 0) {
        p->code = code;
        snprintf(p->message, sizeof(p->message), "%s", soci_last_error());
    }
    pthread_mutex_unlock(&p->lock);
}

static int add_job(struct prefetch *p, struct job j)
{
    if (p->njobs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        void *q = realloc(p->jobs, cap * sizeof(*p->jobs));
        if (q == NULL)
            return soci_fail_nomem("prefetch jobs");
        p->jobs = q;
        p->cap = cap;
    }
    p->jobs[p->njobs++] = j;
    return 0;
}

/* The artifact of the tree's layer i as jobs: ranges cut to the layer's spans, close ones
 * joined. */
static int plan_layer(struct prefetch *p, uint32_t i)
{
    struct soci_image_layer info = {0};
    struct prefetch_range *ranges;
    uint32_t in_image = p->fs->img_first + i;
    size_t n;
    int r;
    if (soci_image_layer(p->fs->img, in_image, &info, sizeof(info)) < 0 || info.lazy_path != SOCI_LAZY_SOCI)
        return 0;
    if ((r = image_layer_prefetch(p->fs->img, in_image, &ranges, &n)) < 0) {
        note_failure(p, r);
        return 0;
    }
    /* Priorities matter no more here (every job runs at once): by span, merged. */
    for (size_t k = 0; k < n; k++)
        ranges[k].priority = 0;
    n = prefetch_normalize(ranges, n);
    const soci_ztoc *z = p->fs->ztocs[i];
    uint32_t spans = soci_ztoc_span_count(z);
    size_t first_job = p->njobs;
    for (size_t k = 0; k < n && r == 0; k++) {
        uint32_t first = ranges[k].first, last = ranges[k].last;
        if (first >= spans) {
            soci_log(SOCI_LOG_WARNING, "prefetch: layer %s has %u spans; range %u-%u skipped", info.digest, spans,
                     first, last);
            continue;
        }
        if (last >= spans) {
            soci_log(SOCI_LOG_WARNING, "prefetch: layer %s has %u spans; range %u-%u cut at %u", info.digest, spans,
                     first, last, spans - 1);
            last = spans - 1;
        }
        struct job *prev = p->njobs > first_job ? &p->jobs[p->njobs - 1] : NULL;
        if (prev && ztoc_span_gap(z, prev->last, first) <= LAYER_JOIN_GAP)
            prev->last = last;
        else
            r = add_job(p, (struct job){i, first, last});
    }
    free(ranges);
    return r;
}

static void *worker(void *arg)
{
    struct prefetch *p = arg;
    for (size_t k; (k = atomic_fetch_add(&p->next, 1)) < p->njobs;) {
        const struct job *j = &p->jobs[k];
        int r = soci_layer_prefetch(p->fs->layers[j->layer], j->first, j->last);
        if (r < 0) {
            soci_fail_prefix(r, "layer %u spans %u-%u", j->layer, j->first, j->last);
            note_failure(p, r);
        } else {
            atomic_fetch_add(&p->spans, (uint64_t)(j->last - j->first) + 1);
        }
    }
    return NULL;
}

int soci_fs_prefetch_artifacts(soci_fs *fs, uint64_t *ret_spans)
{
    struct prefetch p = {.fs = fs};
    pthread_t threads[PREFETCH_THREADS];
    int started = 0, r = 0;
    if (fs == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_prefetch_artifacts: no fs");
    pthread_mutex_init(&p.lock, NULL);
    for (uint32_t i = fs->img ? fs->nlayers : 0; i-- > 0 && r == 0;)
        r = plan_layer(&p, i);
    /* This thread works too; the others join in when there is more than one job. */
    while (r == 0 && started < PREFETCH_THREADS - 1 && (size_t)started + 1 < p.njobs &&
           thread_start(&threads[started], worker, &p) == 0)
        started++;
    if (r == 0)
        worker(&p);
    for (int t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    free(p.jobs);
    pthread_mutex_destroy(&p.lock);
    if (ret_spans != NULL)
        *ret_spans = atomic_load(&p.spans);
    if (r < 0)
        return r;
    if (p.code < 0)
        return soci_fail(p.code, "%s", p.message);
    soci_clear_error();
    return 0;
}
