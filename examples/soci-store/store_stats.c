/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's figures, in three forms: the --stats-file written when it stops (in the
 * shape soci-mount writes, fuse_stats.h, so one reader serves both), and while it serves,
 * Prometheus text and a JSON status (store_http.c).
 *
 * The store has one registry client and one cache but an image per reference and a tree
 * per layer, so each figure is read where it is whole: bytes and requests from the
 * registry client (every fetch: manifests, zTOCs, spans, blob reads), hits, misses,
 * evictions and corrupt entries from the cache, background spans summed over the layers'
 * trees, and the read profile (waits, decodes, spans needed) summed over the layers. The
 * tables are read as published (entries never move), without the store's lock, so a
 * scrape never waits for a resolution's registry requests.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_stats.h"
#include "metrics_text.h"
#include "store.h"

/* The read profile: each layer's own counters (a layer is safe on any thread; the images,
 * which resolution uses under the store's lock, are not read here). */
static int sum_layers(const struct store *s, int which, uint64_t *ret)
{
    uint64_t total = 0, v;
    for (uint32_t i = 0; i < atomic_load(&s->nlayers); i++) {
        int r = soci_layer_counter(s->layers[i]->layer, which, &v);
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

int store_counter(void *store, int which, uint64_t *ret)
{
    struct store *s = store;
    if (which == SOCI_COUNTER_BYTES_FETCHED || which == SOCI_COUNTER_REQUESTS)
        return soci_registry_counter(s->reg, which, ret);
    if (which >= SOCI_COUNTER_CACHE_HITS && which <= SOCI_COUNTER_DISK_CORRUPT)
        return soci_cache_counter(s->cache, which, ret);
    if (which == SOCI_COUNTER_BACKGROUND_SPANS)
        return sum_background(s, ret);
    return sum_layers(s, which, ret);
}

int store_stats_write(struct store *s, const char *path)
{
    return fuse_stats_write_from(path, NULL, store_counter, s);
}

/* Layers the engine holds now (`use` files it made and did not remove). */
static uint32_t layers_in_use(const struct store *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < atomic_load(&s->nlayers); i++)
        n += atomic_load(&s->layers[i]->uses) > 0;
    return n;
}

char *store_metrics_text(struct store *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
#define GAUGE(name, help, value) metrics_text_int(f, "soci_store_" name, "gauge", help, (value))
    GAUGE("image_references", "Image references the store was asked about.", atomic_load(&s->nrefs));
    GAUGE("layers", "Layers served lazily.", atomic_load(&s->nlayers));
    GAUGE("layers_in_use", "Layers the engine holds now.", layers_in_use(s));
#undef GAUGE
    for (size_t i = 0; i < fuse_stats_ncounters; i++) {
        const struct fuse_stats_counter *c = &fuse_stats_counters[i];
        uint64_t v;
        char name[96];
        if (store_counter(s, c->which, &v) < 0)
            continue;
        size_t n = strlen(c->name);
        if (n > 3 && strcmp(c->name + n - 3, "_ns") == 0) { /* Prometheus counts seconds */
            snprintf(name, sizeof(name), "soci_store_%.*s_seconds_total", (int)(n - 3), c->name);
            metrics_text_seconds(f, name, c->help, (double)v / 1e9);
        } else {
            snprintf(name, sizeof(name), "soci_store_%s_total", c->name);
            metrics_text_int(f, name, "counter", c->help, v);
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

char *store_status_json(struct store *s)
{
    json_t *root = json_object(), *refs = json_array(), *layers = json_array(), *figures = json_object();
    json_object_set_new(root, "references", refs);
    json_object_set_new(root, "layers", layers);
    json_object_set_new(root, "library", figures);
    for (uint32_t i = 0; i < atomic_load(&s->nrefs); i++) {
        const struct store_ref *r = s->refs[i];
        json_array_append_new(refs, json_pack("{s:s, s:s}", "name", r->name, "directory", r->b64));
    }
    for (uint32_t i = 0; i < atomic_load(&s->nlayers); i++) {
        const struct store_layer *l = s->layers[i];
        json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:b}", "digest", l->digest, "image", l->ref, "size",
                              (json_int_t)l->size, "uses", atomic_load(&l->uses), "kernel", l->kernel_dir[0] != 0);
        if (o != NULL && l->toc_digest[0])
            json_object_set_new(o, "toc_digest", json_string(l->toc_digest));
        json_array_append_new(layers, o);
    }
    for (size_t i = 0; i < fuse_stats_ncounters; i++) {
        uint64_t v;
        if (store_counter(s, fuse_stats_counters[i].which, &v) == 0)
            json_object_set_new(figures, fuse_stats_counters[i].name, json_integer((json_int_t)v));
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}
