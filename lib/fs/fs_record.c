/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Learned prefetch, first half: what a start-up read, as a prefetch record
 * (format/prefetch_record.h). Each layer read through a SOCI zTOC lists the spans its
 * demand reads needed (read-ahead, prefetch and background fetching are not demand),
 * cut into runs of consecutive spans needed one after another; a run's priority is its
 * rank among the runs of all layers, so a replay fetches what the start-up needed first,
 * first. An index build turns the record into prefetch artifacts
 * (SOCI_OPT_PREFETCH_RECORD), which soci_fs_prefetch_artifacts() fetches on every later
 * start. Each layer also lists the uncompressed bytes its reads asked for (extents), for
 * the build to place checkpoints around.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/prefetch_record.h"
#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "util/error.h"

struct demanded {
    uint64_t ns;
    uint32_t layer; /* index into the record's layers */
    uint32_t span;
};

static int by_time(const void *a, const void *b)
{
    const struct demanded *x = a, *y = b;
    if (x->ns != y->ns)
        return x->ns < y->ns ? -1 : 1;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return x->span < y->span ? -1 : x->span > y->span;
}

/* The demanded spans of the record's layers (fs layer index in map[k]) in the order they
 * were first needed, cut into runs: a run goes on while the next span needed is the next
 * span of the same layer. A run's priority is its rank among all runs, so priorities
 * order the runs of every layer at once. */
static int record_runs(const struct soci_fs *fs, const uint32_t *map, struct prefetch_record *rec)
{
    size_t total = 0, n = 0;
    for (size_t k = 0; k < rec->n; k++)
        total += soci_ztoc_span_count(fs->ztocs[map[k]]);
    struct demanded *order = malloc((total ? total : 1) * sizeof(*order));
    if (order == NULL)
        return soci_fail_nomem("prefetch record");
    for (size_t k = 0; k < rec->n; k++) {
        uint32_t spans = soci_ztoc_span_count(fs->ztocs[map[k]]);
        for (uint32_t s = 0; s < spans; s++) {
            uint64_t ns = layer_demanded_ns(fs->layers[map[k]], s);
            if (ns != 0)
                order[n++] = (struct demanded){ns, (uint32_t)k, s};
        }
    }
    qsort(order, n, sizeof(*order), by_time);
    int r = 0;
    int32_t runs = 0;
    for (size_t k = 0; k < rec->n && r == 0; k++)
        if ((rec->layers[k].ranges = malloc((n ? n : 1) * sizeof(*rec->layers[k].ranges))) == NULL)
            r = soci_fail_nomem("prefetch record");
    for (size_t i = 0; i < n && r == 0; i++) {
        struct prefetch_record_layer *l = &rec->layers[order[i].layer];
        bool goes_on = i > 0 && order[i - 1].layer == order[i].layer && order[i - 1].span + 1 == order[i].span;
        if (goes_on)
            l->ranges[l->n - 1].last = order[i].span;
        else if (l->n < PREFETCH_MAX_RANGES)
            l->ranges[l->n++] = (struct prefetch_range){order[i].span, order[i].span, runs++};
    }
    free(order);
    return r;
}

/* The bytes layer k's reads asked for, each extent with the priority of the run of spans
 * its first byte lies in. */
static int record_extents(const struct soci_fs *fs, uint32_t i, struct prefetch_record_layer *l)
{
    const soci_ztoc *z = fs->ztocs[i];
    uint32_t spans = soci_ztoc_span_count(z);
    struct extent *read;
    size_t n;
    int r = layer_read_extents(fs->layers[i], &read, &n);
    if (r < 0 || n == 0)
        return r;
    int32_t *prio = malloc((spans ? spans : 1) * sizeof(*prio));
    if (prio == NULL || (l->extents = malloc(n * sizeof(*l->extents))) == NULL) {
        free(prio);
        free(read);
        return soci_fail_nomem("prefetch record");
    }
    for (uint32_t s = 0; s < spans; s++)
        prio[s] = INT32_MAX;
    for (size_t k = 0; k < l->n; k++)
        for (uint32_t s = l->ranges[k].first; s <= l->ranges[k].last && s < spans; s++)
            prio[s] = l->ranges[k].priority < prio[s] ? l->ranges[k].priority : prio[s];
    for (size_t k = 0; k < n; k++) {
        uint32_t s;
        int32_t p = soci_ztoc_span_at(z, read[k].start, &s) == 0 ? prio[s] : INT32_MAX;
        l->extents[l->nextents++] = (struct prefetch_extent){read[k].start, read[k].end, p};
    }
    soci_clear_error();
    free(prio);
    free(read);
    return 0;
}

int soci_fs_prefetch_record(soci_fs *fs, char **ret, size_t *ret_len)
{
    struct prefetch_record rec = {0};
    uint32_t *map;
    int r;
    if (fs == NULL || ret == NULL || ret_len == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_prefetch_record: bad arguments");
    if (fs->img == NULL)
        return soci_fail(SOCI_ENOTSUP, "a prefetch record needs a tree opened from an image");
    rec.layers = calloc(fs->nlayers ? fs->nlayers : 1, sizeof(*rec.layers));
    map = calloc(fs->nlayers ? fs->nlayers : 1, sizeof(*map));
    if (rec.layers == NULL || map == NULL) {
        free(rec.layers);
        free(map);
        return soci_fail_nomem("prefetch record");
    }
    /* The layers read through a SOCI zTOC: their spans are what artifacts name. */
    for (uint32_t i = 0; i < fs->nlayers; i++) {
        struct soci_image_layer info = {0};
        if (soci_image_layer(fs->img, fs->img_first + i, &info, sizeof(info)) < 0 ||
            info.lazy_path != SOCI_LAZY_SOCI || info.ztoc_digest[0] == '\0')
            continue;
        struct prefetch_record_layer *l = &rec.layers[rec.n];
        snprintf(l->layer, sizeof(l->layer), "%s", info.digest);
        snprintf(l->ztoc, sizeof(l->ztoc), "%s", info.ztoc_digest);
        map[rec.n++] = i;
    }
    soci_clear_error();
    r = record_runs(fs, map, &rec);
    for (size_t k = 0; k < rec.n && r == 0; k++)
        r = record_extents(fs, map[k], &rec.layers[k]);
    free(map);
    /* Layers whose spans were never needed are left out. */
    size_t kept = 0;
    for (size_t k = 0; k < rec.n; k++) {
        if (rec.layers[k].n > 0) {
            rec.layers[kept++] = rec.layers[k];
        } else {
            free(rec.layers[k].ranges);
            free(rec.layers[k].extents);
        }
    }
    rec.n = kept;
    if (r == 0)
        r = prefetch_record_write(&rec, ret, ret_len);
    prefetch_record_free(&rec);
    return r;
}
