/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resolving the store's names: a reference to an image (its manifest, config and SOCI
 * index fetched on the first layer lookup), a layer digest to that layer's own tree.
 *
 * Tables only grow, to fixed bounds, and an entry is published (its count raised) only
 * once complete, so FUSE threads read entries without the lock. Resolution holds the
 * lock across registry requests: an engine looks layers up one at a time, and a slow
 * registry should not be asked the same thing twice at once.
 *
 * A layer is served when it can be read lazily (a zTOC in the SOCI index, or the layer's
 * own eStargz or zstd:chunked TOC) and the image config gives its diff_id: anything else
 * is left to the engine, which pulls it as usual. Layers are shared by digest between
 * images. The image a layer was opened through owns it, so images stay open while the
 * store runs; a reference is opened again (a tag may have moved) when asked for a layer
 * its image lacks, at most every REFRESH_SECONDS.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_common.h"
#include "store.h"

#define REFRESH_SECONDS 30

struct store_ref *store_ref_at(struct store *s, uint32_t i)
{
    return i < atomic_load(&s->nrefs) ? s->refs[i] : NULL;
}

struct store_layer *store_layer_at(struct store *s, uint32_t i)
{
    return i < atomic_load(&s->nlayers) ? s->layers[i] : NULL;
}

struct store_binding *store_binding_at(struct store *s, uint32_t i)
{
    return i < atomic_load(&s->nbindings) ? s->bindings[i] : NULL;
}

int store_find_ref(struct store *s, const char *b64, uint32_t *ret)
{
    char name[STORE_REF_MAX];
    int r = -1;
    if (strlen(b64) >= sizeof(((struct store_ref *)0)->b64))
        return -1;
    pthread_mutex_lock(&s->lock);
    uint32_t n = atomic_load(&s->nrefs);
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(s->refs[i]->b64, b64) == 0) {
            *ret = i;
            r = 0;
            goto out;
        }
    }
    if (store_decode_ref(b64, name, sizeof(name)) < 0) {
        daemon_log(SOCI_LOG_WARNING, "\"%.80s\" does not name an image reference (base64 of one)", b64);
        goto out;
    }
    if (n == STORE_MAX_REFS) {
        daemon_log(SOCI_LOG_ERROR, "%s: the store already knows %d references", name, STORE_MAX_REFS);
        goto out;
    }
    struct store_ref *ref = calloc(1, sizeof(*ref));
    if (ref == NULL)
        goto out;
    snprintf(ref->name, sizeof(ref->name), "%s", name);
    snprintf(ref->b64, sizeof(ref->b64), "%s", b64);
    s->refs[n] = ref;
    atomic_store(&s->nrefs, n + 1);
    *ret = n;
    r = 0;
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* "sha256:" and 64 lowercase hex digits. */
static bool is_digest(const char *name)
{
    if (strncmp(name, "sha256:", 7) != 0 || strlen(name) != 7 + 64)
        return false;
    for (const char *p = name + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Open (or reopen) the image of a reference. Called with the lock held. */
static int open_image(struct store *s, struct store_ref *ref)
{
    soci_image *img;
    int r = soci_image_open(ref->name, s->reg, s->cfg, &img);
    if (r == 0 && (r = soci_image_set_cache(img, s->cache)) < 0)
        soci_image_free(img);
    if (r < 0) {
        daemon_log(SOCI_LOG_WARNING, "%s: %s; the engine pulls its layers itself", ref->name, soci_last_error());
        return r;
    }
    if (ref->img != NULL && ref->layers_through > 0) {
        struct store_retired *old = malloc(sizeof(*old));
        if (old == NULL) {
            soci_image_free(img);
            return SOCI_ENOMEM;
        }
        *old = (struct store_retired){ref->img, s->retired};
        s->retired = old;
    } else {
        soci_image_free(ref->img);
    }
    ref->img = img;
    ref->opened_at = time(NULL);
    ref->layers_through = 0;
    return 0;
}

/* The index of the image's layer digest (or TOC digest) `name`, or -1. */
static int64_t layer_index(soci_image *img, const char *name, struct soci_image_layer *info)
{
    for (uint32_t i = 0; i < soci_image_layer_count(img); i++) {
        if (soci_image_layer(img, i, info, sizeof(*info)) == 0 &&
            (strcmp(info->digest, name) == 0 || (info->toc_digest && strcmp(info->toc_digest, name) == 0)))
            return i;
    }
    return -1;
}

/* What containers/storage reads from `info` (its Layer struct's JSON names). */
static char *info_json(const struct soci_image_layer *info, const soci_ztoc *z, size_t *len)
{
    /* containers/storage's compression numbers: 0 none, 2 gzip, 4 zstd. */
    int compression = info->compression == SOCI_COMPRESSION_GZIP ? 2 : info->compression == SOCI_COMPRESSION_ZSTD ? 4 : 0;
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:i}", "diff-digest", info->diff_id, "compressed-diff-digest",
                          info->digest, "compressed-size", (json_int_t)info->size, "diff-size",
                          (json_int_t)soci_ztoc_uncompressed_size(z), "compression", compression);
    if (o != NULL && info->toc_digest && info->toc_digest[0])
        json_object_set_new(o, "toc-digest", json_string(info->toc_digest));
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    *len = text ? strlen(text) : 0;
    return text;
}

/* The store's layer for image layer i of a reference: found by digest, or opened.
 * Called with the lock held. */
static int find_layer(struct store *s, struct store_ref *ref, uint32_t i, const struct soci_image_layer *info,
                      uint32_t *ret)
{
    uint32_t n = atomic_load(&s->nlayers);
    for (uint32_t k = 0; k < n; k++) {
        if (strcmp(s->layers[k]->digest, info->digest) == 0) {
            *ret = k;
            return 0;
        }
    }
    if (n == STORE_MAX_LAYERS) {
        daemon_log(SOCI_LOG_ERROR, "layer %s: the store already serves %d layers", info->digest, STORE_MAX_LAYERS);
        return SOCI_ETOOBIG;
    }
    const soci_ztoc *z;
    soci_fs *fs = NULL;
    uint64_t prefetched = 0;
    int r = soci_fs_open_image_layer(ref->img, i, SOCI_FS_OVERLAY_WHITEOUTS, &fs);
    soci_layer *layer = NULL;
    if (r == 0) /* opened already: its zTOC, for info's diff-size; the layer for the figures */
        r = soci_image_open_layer(ref->img, i, &layer, &z);
    struct store_layer *l = r == 0 ? calloc(1, sizeof(*l)) : NULL;
    if (l == NULL || (l->info = info_json(info, z, &l->info_len)) == NULL) {
        if (r == 0)
            daemon_log(SOCI_LOG_ERROR, "layer %s: out of memory", info->digest);
        else
            daemon_log(SOCI_LOG_WARNING, "layer %s of %s: %s", info->digest, ref->name, soci_last_error());
        soci_fs_free(fs);
        free(l);
        return r < 0 ? r : SOCI_ENOMEM;
    }
    snprintf(l->digest, sizeof(l->digest), "%s", info->digest);
    snprintf(l->toc_digest, sizeof(l->toc_digest), "%s", info->toc_digest ? info->toc_digest : "");
    snprintf(l->ref, sizeof(l->ref), "%s", ref->name);
    l->size = info->size;
    l->fs = fs;
    l->layer = layer;
    pthread_mutex_init(&l->blob_lock, NULL);
    /* What the image's builder asked to have ready, before the engine gets the layer. */
    if (soci_fs_prefetch_artifacts(fs, &prefetched) < 0)
        daemon_log(SOCI_LOG_WARNING, "layer %s: prefetch artifact: %s", l->digest, soci_last_error());
    else if (prefetched > 0)
        daemon_log(SOCI_LOG_INFO, "layer %s: %llu span(s) of its prefetch artifact fetched", l->digest,
                   (unsigned long long)prefetched);
    if (s->background_fetch && soci_fs_background_fetch(fs, 1) < 0)
        daemon_log(SOCI_LOG_WARNING, "layer %s: background fetch: %s", l->digest, soci_last_error());
    store_kernel_layer(s, l, n, ref->img, i);
    s->layers[n] = l;
    atomic_store(&s->nlayers, n + 1);
    ref->layers_through++;
    daemon_log(SOCI_LOG_INFO, "layer %s of %s: served lazily (%s)", l->digest, ref->name,
               cli_lazy_path_name(info->lazy_path));
    *ret = n;
    return 0;
}

/* Image layer `name` of a reference, resolved and checked: its index, or -1 (logged). */
static int64_t resolve(struct store *s, struct store_ref *ref, const char *name, struct soci_image_layer *info)
{
    bool fresh = ref->img == NULL;
    if (fresh && open_image(s, ref) < 0)
        return -1;
    int64_t i = layer_index(ref->img, name, info);
    if (i < 0 && !fresh && time(NULL) - ref->opened_at >= REFRESH_SECONDS && open_image(s, ref) == 0)
        i = layer_index(ref->img, name, info);
    if (i < 0) {
        daemon_log(SOCI_LOG_WARNING, "%s has no layer %s", ref->name, name);
        return -1;
    }
    bool lazy = info->lazy_path == SOCI_LAZY_SOCI || info->lazy_path == SOCI_LAZY_ESTARGZ ||
                info->lazy_path == SOCI_LAZY_ZSTD_CHUNKED;
    if (!lazy) {
        daemon_log(SOCI_LOG_INFO, "layer %s of %s has no zTOC or TOC: the engine pulls it", info->digest, ref->name);
        return -1;
    }
    if (info->diff_id == NULL || info->diff_id[0] == '\0') {
        daemon_log(SOCI_LOG_WARNING, "layer %s of %s: the image config gives no diff_id for it", info->digest,
                   ref->name);
        return -1;
    }
    return i;
}

int store_find_binding(struct store *s, uint32_t ref_i, const char *name, uint32_t *ret)
{
    struct soci_image_layer info;
    uint32_t layer;
    int r = -1;
    if (!is_digest(name))
        return -1;
    pthread_mutex_lock(&s->lock);
    uint32_t n = atomic_load(&s->nbindings);
    for (uint32_t k = 0; k < n; k++) {
        if (s->bindings[k]->ref == ref_i && strcmp(s->bindings[k]->name, name) == 0) {
            *ret = k;
            r = 0;
            goto out;
        }
    }
    if (n == STORE_MAX_BINDINGS) {
        daemon_log(SOCI_LOG_ERROR, "%s: the store already holds %d layer directories", name, STORE_MAX_BINDINGS);
        goto out;
    }
    int64_t i = resolve(s, s->refs[ref_i], name, &info);
    if (i < 0 || find_layer(s, s->refs[ref_i], (uint32_t)i, &info, &layer) < 0)
        goto out;
    struct store_binding *b = calloc(1, sizeof(*b));
    if (b == NULL)
        goto out;
    *b = (struct store_binding){.ref = ref_i, .layer = layer};
    snprintf(b->name, sizeof(b->name), "%s", name);
    s->bindings[n] = b;
    atomic_store(&s->nbindings, n + 1);
    *ret = n;
    r = 0;
out:
    soci_clear_error();
    pthread_mutex_unlock(&s->lock);
    return r;
}

int64_t store_read_blob(struct store *s, struct store_layer *l, void *buf, size_t len, uint64_t off)
{
    int r = 0;
    if (off >= l->size)
        return 0;
    if (len > l->size - off)
        len = (size_t)(l->size - off);
    pthread_mutex_lock(&l->blob_lock);
    if (l->blob == NULL)
        r = soci_registry_open_blob(s->reg, l->ref, l->digest, l->size, &l->blob);
    soci_blob *blob = l->blob;
    pthread_mutex_unlock(&l->blob_lock);
    if (r == 0)
        r = soci_blob_read_at(blob, buf, len, off);
    return r < 0 ? r : (int64_t)len;
}

void store_free(struct store *s)
{
    for (uint32_t i = 0; i < atomic_load(&s->nbindings); i++)
        free(s->bindings[i]);
    for (uint32_t i = 0; i < atomic_load(&s->nlayers); i++) {
        struct store_layer *l = s->layers[i];
        soci_fs_free(l->fs);
        soci_blob_unref(l->blob);
        pthread_mutex_destroy(&l->blob_lock);
        free(l->info);
        free(l);
    }
    for (uint32_t i = 0; i < atomic_load(&s->nrefs); i++) {
        soci_image_free(s->refs[i]->img);
        free(s->refs[i]);
    }
    while (s->retired != NULL) {
        struct store_retired *next = s->retired->next;
        soci_image_free(s->retired->img);
        free(s->retired);
        s->retired = next;
    }
}
