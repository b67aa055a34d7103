/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-store --stats-file: the store's figures when it stops, in the shape soci-mount
 * writes (fuse_stats.h), so one reader serves both. The store has one registry client and
 * one cache but an image per reference and a tree per layer, so each figure is read where
 * it is whole: bytes and requests from the registry client (every fetch: manifests,
 * zTOCs, spans, blob reads), hits and evictions from the cache, background spans summed
 * over the layers' trees, and the read profile (waits, decodes, spans needed) summed over
 * the images, each of which counts its own layers.
 */
#include "store.h"
#include "fuse_stats.h"

static int sum_images(const struct store *s, int which, uint64_t *ret)
{
    uint64_t total = 0, v;
    for (uint32_t i = 0; i < atomic_load(&s->nrefs); i++) {
        if (s->refs[i]->img == NULL)
            continue;
        int r = soci_image_counter(s->refs[i]->img, which, &v);
        if (r < 0)
            return r;
        total += v;
    }
    for (const struct store_retired *old = s->retired; old != NULL; old = old->next) {
        int r = soci_image_counter(old->img, which, &v);
        if (r < 0)
            return r;
        total += v;
    }
    *ret = total;
    return 0;
}

static int sum_background(const struct store *s, uint64_t *ret)
{
    uint64_t total = 0, v;
    for (uint32_t i = 0; i < atomic_load(&s->nlayers); i++)
        if (soci_fs_counter(s->layers[i]->fs, SOCI_COUNTER_BACKGROUND_SPANS, &v) == 0)
            total += v;
    *ret = total;
    return 0;
}

static int store_counter(const void *source, int which, uint64_t *ret)
{
    const struct store *s = source;
    if (which == SOCI_COUNTER_BYTES_FETCHED || which == SOCI_COUNTER_REQUESTS)
        return soci_registry_counter(s->reg, which, ret);
    if (which >= SOCI_COUNTER_CACHE_HITS && which <= SOCI_COUNTER_DISK_CORRUPT)
        return soci_cache_counter(s->cache, which, ret);
    if (which == SOCI_COUNTER_BACKGROUND_SPANS)
        return sum_background(s, ret);
    return sum_images(s, which, ret);
}

int store_stats_write(struct store *s, const char *path)
{
    pthread_mutex_lock(&s->lock); /* a refresh retires images under it */
    int r = fuse_stats_write_from(path, NULL, store_counter, s);
    pthread_mutex_unlock(&s->lock);
    return r;
}
