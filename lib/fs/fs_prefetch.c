/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prefetch artifacts: the spans an image's builder asked to have fetched before the
 * container starts (format/prefetch_json.h). They name spans of a layer's SOCI zTOC, so
 * only layers read through one take them.
 *
 * The ranges of every layer become runs of spans; ranges of a layer closer than a round
 * trip's worth of bytes are joined (the spans between are fetched too) and cut into runs
 * of at most PREFETCH_JOB_BYTES. Taken in the order of the ranges' priorities, each run
 * joins the last job opened for its layer while that stays within as many bytes, so runs
 * far apart but needed about together are read in one vectored read (a registry answers
 * them in one request: its work is mostly per request). PREFETCH_THREADS threads work through
 * the jobs in priority order (what a start-up needs first goes first), so the spans
 * arrive over many connections at once. The per-host connection bound
 * (SOCI_OPT_MAX_CONNECTIONS) keeps the registry's share in check however many jobs run.
 *
 * A layer with a disk store takes its spans there as fetched, neither checked nor decoded
 * (the read that loads one checks it, as it checks every store entry): decoding
 * them all up front would cost the start-up CPU time before it runs, and a start-up's
 * spans often decode to more than the memory cache holds, which would evict the first
 * ones before they are read (profiled: a 400 MB image's start decoded 60 of 86 spans
 * twice). Once they are in, a thread decodes them into memory in the order the
 * artifacts' priorities give, a little ahead of the reads (fs_decode_ahead.c). Without a
 * disk store, spans go to memory, decoded, right away.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "format/prefetch_json.h"
#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "image/image_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

#define PREFETCH_THREADS 8
#define PREFETCH_JOB_BYTES ((uint64_t)4 << 20)

/* Spans [first, last] of the tree's layer. */
struct run {
    uint32_t layer, first, last;
    int32_t priority; /* the lowest of its ranges': runs are packed in this order */
};

/* Runs of one layer read together. */
struct job {
    uint32_t layer, nruns;
    uint64_t bytes, spans;
    struct span_run runs[LAYER_STORE_MAX_RUNS];
};

/* A span of the plan, with the priority its artifact gave it. */
struct ranked_span {
    int32_t priority;
    uint32_t layer, span;
};

struct prefetch {
    struct soci_fs *fs;
    struct run *runs;
    size_t nruns, cap;
    struct job *jobs; /* in the order they go out */
    size_t njobs;
    struct ranked_span *ahead; /* every span planned, once; by priority once planned */
    size_t nahead, ahead_cap;
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

static int add_run(struct prefetch *p, struct run run)
{
    if (p->nruns == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        void *q = realloc(p->runs, cap * sizeof(*p->runs));
        if (q == NULL)
            return soci_fail_nomem("prefetch runs");
        p->runs = q;
        p->cap = cap;
    }
    p->runs[p->nruns++] = run;
    return 0;
}

static int add_ahead(struct prefetch *p, uint32_t layer, int32_t priority, uint32_t span)
{
    if (p->nahead == p->ahead_cap) {
        size_t cap = p->ahead_cap ? p->ahead_cap * 2 : 64;
        void *q = realloc(p->ahead, cap * sizeof(*p->ahead));
        if (q == NULL)
            return soci_fail_nomem("prefetch order");
        p->ahead = q;
        p->ahead_cap = cap;
    }
    p->ahead[p->nahead++] = (struct ranked_span){priority, layer, span};
    return 0;
}

/* Layer i's spans that ranges (ordered by priority) name, each once, at its first
 * priority: at most one entry a span, whatever the artifact says. */
static int plan_ahead(struct prefetch *p, uint32_t i, const struct prefetch_range *ranges, size_t n, uint32_t spans)
{
    bool *seen = calloc(spans ? spans : 1, sizeof(*seen));
    int r = seen ? 0 : soci_fail_nomem("prefetch order");
    for (size_t k = 0; k < n && r == 0; k++) {
        for (uint32_t s = ranges[k].first; s <= ranges[k].last && s < spans && r == 0; s++) {
            if (!seen[s]) {
                seen[s] = true;
                r = add_ahead(p, i, ranges[k].priority, s);
            }
        }
    }
    free(seen);
    return r;
}

static int by_first_span(const void *a, const void *b)
{
    const struct prefetch_range *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int run_by_priority(const void *a, const void *b)
{
    const struct run *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->layer != y->layer)
        return x->layer > y->layer ? -1 : 1; /* top layer first */
    return x->first < y->first ? -1 : x->first > y->first;
}

static int by_priority(const void *a, const void *b)
{
    const struct ranked_span *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return x->span < y->span ? -1 : x->span > y->span;
}

/* Keep the plan, by priority, for the tree (soci_erofs_device_planned), and decode the
 * spans that went to disk stores in its order. */
static void keep_plan(struct prefetch *p)
{
    size_t n = p->nahead, stored = 0;
    if (n > 1)
        qsort(p->ahead, n, sizeof(*p->ahead), by_priority);
    struct fs_span *plan = malloc((n ? n : 1) * sizeof(*plan)), *order = malloc((n ? n : 1) * sizeof(*order));
    if (plan == NULL || order == NULL) { /* a hint: reads decode for themselves */
        free(plan);
        free(order);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        plan[k] = (struct fs_span){p->ahead[k].layer, p->ahead[k].span};
        if (layer_has_store(p->fs->layers[plan[k].layer]))
            order[stored++] = plan[k];
    }
    pthread_mutex_lock(&p->fs->bg_control);
    free(p->fs->planned);
    p->fs->planned = plan;
    p->fs->nplanned = n;
    pthread_mutex_unlock(&p->fs->bg_control);
    if (stored == 0) {
        free(order);
    } else if (fs_decode_ahead_plan(p->fs, order, stored) < 0) {
        soci_log(SOCI_LOG_DEBUG, "prefetch: %s", soci_last_error());
        soci_clear_error();
    }
}

/* Cut the runs from first_run on into runs of at most PREFETCH_JOB_BYTES compressed bytes
 * (at least one span each). */
static int cut_runs(struct prefetch *p, size_t first_run)
{
    size_t end = p->nruns;
    for (size_t k = first_run; k < end; k++) {
        struct run j = p->runs[k];
        for (uint32_t s = j.first; s <= j.last;) {
            uint32_t e =
                ztoc_span_run_last(p->fs->ztocs[j.layer], s, s, j.last, PREFETCH_JOB_BYTES, LAYER_STORE_MAX_SPANS);
            if (s == j.first) { /* the first piece stays in the run's place */
                p->runs[k].last = e;
            } else {
                int r = add_run(p, (struct run){j.layer, s, e, j.priority});
                if (r < 0)
                    return r;
            }
            s = e + 1;
        }
    }
    return 0;
}

/* The artifact of the tree's layer i as runs: ranges cut to the layer's spans, close ones
 * joined, then cut to size. */
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
    const soci_ztoc *z = p->fs->ztocs[i];
    uint32_t spans = soci_ztoc_span_count(z);
    /* Priorities order the plan (decoding ahead, soci_erofs_device_planned) and the jobs;
     * ranges are joined by span. */
    r = plan_ahead(p, i, ranges, n, spans);
    if (n > 1) /* qsort takes no NULL, which an empty artifact's list may be */
        qsort(ranges, n, sizeof(*ranges), by_first_span);
    size_t first_run = p->nruns;
    for (size_t k = 0; k < n && r == 0; k++) {
        uint32_t first = ranges[k].first, last = ranges[k].last;
        int32_t priority = ranges[k].priority;
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
        struct run *prev = p->nruns > first_run ? &p->runs[p->nruns - 1] : NULL;
        if (prev && first <= prev->last + 1u) { /* overlapping or touching */
            prev->last = last > prev->last ? last : prev->last;
            prev->priority = priority < prev->priority ? priority : prev->priority;
        } else if (prev && ztoc_span_gap(z, prev->last, first) <= LAYER_JOIN_GAP) {
            prev->last = last;
            prev->priority = priority < prev->priority ? priority : prev->priority;
        } else {
            r = add_run(p, (struct run){i, first, last, priority});
        }
    }
    free(ranges);
    return r == 0 ? cut_runs(p, first_run) : r;
}

static int by_first(const void *a, const void *b)
{
    const struct span_run *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Pack the runs, in priority order, into jobs: a run joins the last job opened for its
 * layer while that stays within PREFETCH_JOB_BYTES, LAYER_STORE_MAX_RUNS and
 * LAYER_STORE_MAX_SPANS (layers with a disk store: the others read a run at a time), else
 * opens the next. Jobs go out in the
 * order they were opened; each job's runs ascend, as a vectored read wants them. */
static int pack_jobs(struct prefetch *p)
{
    size_t *open = malloc(p->fs->nlayers * sizeof(*open));
    if (p->nruns > 0 && ((p->jobs = calloc(p->nruns, sizeof(*p->jobs))) == NULL || open == NULL)) {
        free(open);
        return soci_fail_nomem("prefetch jobs");
    }
    for (uint32_t i = 0; i < p->fs->nlayers; i++)
        open[i] = SIZE_MAX;
    for (size_t k = 0; k < p->nruns; k++) {
        const struct run *run = &p->runs[k];
        uint64_t bytes = ztoc_run_bytes(p->fs->ztocs[run->layer], run->first, run->last);
        uint64_t spans = (uint64_t)(run->last - run->first) + 1;
        struct job *j = open[run->layer] != SIZE_MAX ? &p->jobs[open[run->layer]] : NULL;
        if (j == NULL || !layer_has_store(p->fs->layers[run->layer]) || j->nruns == LAYER_STORE_MAX_RUNS ||
            j->bytes + bytes > PREFETCH_JOB_BYTES || j->spans + spans > LAYER_STORE_MAX_SPANS) {
            open[run->layer] = p->njobs;
            j = &p->jobs[p->njobs++];
            j->layer = run->layer;
        }
        j->runs[j->nruns++] = (struct span_run){run->first, run->last};
        j->bytes += bytes;
        j->spans += spans;
    }
    for (size_t k = 0; k < p->njobs; k++)
        qsort(p->jobs[k].runs, p->jobs[k].nruns, sizeof(p->jobs[k].runs[0]), by_first);
    free(open);
    return 0;
}

static void *worker(void *arg)
{
    struct prefetch *p = arg;
    for (size_t k; (k = atomic_fetch_add(&p->next, 1)) < p->njobs;) {
        const struct job *j = &p->jobs[k];
        soci_layer *layer = p->fs->layers[j->layer];
        uint32_t stored;
        int r = layer_has_store(layer) ? layer_store_runs(layer, j->runs, j->nruns, PREFETCH_JOB_BYTES, &stored)
                                       : soci_layer_prefetch(layer, j->runs[0].first, j->runs[0].last);
        if (r < 0) {
            soci_fail_prefix(r, "layer %u spans %u-%u", j->layer, j->runs[0].first, j->runs[j->nruns - 1].last);
            note_failure(p, r);
        } else {
            atomic_fetch_add(&p->spans, j->spans);
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
    if (p.nruns > 1) /* what is needed first goes first */
        qsort(p.runs, p.nruns, sizeof(*p.runs), run_by_priority);
    if (r == 0)
        r = pack_jobs(&p);
    /* This thread works too; the others join in when there is more than one job. */
    while (r == 0 && started < PREFETCH_THREADS - 1 && (size_t)started + 1 < p.njobs &&
           thread_start(&threads[started], worker, &p) == 0)
        started++;
    if (r == 0)
        worker(&p);
    for (int t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    if (r == 0)
        keep_plan(&p);
    free(p.ahead);
    free(p.runs);
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
