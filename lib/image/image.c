/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci_image: resolve a reference (registry or OCI layout) to one platform's image
 * manifest, find its SOCI index, and open layers on demand. Registry and layout differ
 * only in where bytes come from; both go through the few source_* functions below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <jansson.h>
#include <soci/build.h>
#include <soci/image.h>
#include <soci/index.h>
#include <soci/layout.h>

#include "cache/cache_internal.h"
#include "format/lazy_formats.h"
#include "format/prefetch_json.h"
#include "format/ztoc_internal.h"
#include "image/image_internal.h"
#include "io/blob_internal.h"
#include "layer/layer_internal.h"
#include "oci/layout_internal.h"
#include "remote/reference.h"
#include "util/config_internal.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

#define ANN_INDEX_DIGEST "com.amazon.soci.index-digest"
#define ANN_MANIFEST_DIGEST "com.amazon.soci.image-manifest-digest"
/* A layer without a zTOC is fetched whole; those are the small ones (< 10 MiB by default). */
#define MAX_WHOLE_LAYER ((uint64_t)1 << 30)

struct image_layer {
    char digest[SOCI_DIGEST_BUFSIZE];
    char media_type[128];
    uint64_t size;
    char ztoc_digest[SOCI_DIGEST_BUFSIZE];
    uint64_t ztoc_size;
    char prefetch_digest[SOCI_DIGEST_BUFSIZE]; /* its prefetch artifact in the SOCI index, "" if none */
    uint64_t prefetch_size;
    void *prefetch_data; /* the artifact's checked bytes, fetched beside the zTOC; NULL if not */
    size_t prefetch_len;
    char diff_id[SOCI_DIGEST_BUFSIZE];     /* from the config's rootfs.diff_ids, "" if not given */
    char toc_digest[SOCI_DIGEST_BUFSIZE];  /* eStargz: its toc.digest annotation */
    char zc_checksum[SOCI_DIGEST_BUFSIZE]; /* zstd:chunked: manifest-checksum annotation */
    char zc_position[128];                 /* and manifest-position, "" to read the footer */
    int lazy_path;                         /* SOCI_LAZY_* */
    soci_ztoc *ztoc;
    soci_layer *layer;
    void *whole; /* the layer's bytes, when fetched whole */
};

struct soci_image {
    soci_registry *reg;    /* registry source, or NULL */
    char repo[600];        /* host/repo, for registry calls */
    soci_layout *layout;   /* layout source, or NULL */
    soci_cache *cache;     /* shared by the layers, or NULL */
    uint64_t layout_bytes, layout_reads;

    char manifest_digest[SOCI_DIGEST_BUFSIZE];
    char index_digest[SOCI_DIGEST_BUFSIZE];
    int index_version;
    struct image_layer *layers;
    uint32_t nlayers;
};

/* ---- sources ---- */

static int source_json(soci_image *img, const char *digest, json_t **ret)
{
    void *data;
    size_t len;
    char ref[700];
    int r;
    if (img->layout) {
        r = soci_layout_read_blob(img->layout, digest, OCI_MAX_MANIFEST, &data, &len);
        if (r == 0) {
            img->layout_bytes += len;
            img->layout_reads++;
        }
    } else {
        snprintf(ref, sizeof(ref), "%s@%s", img->repo, digest);
        r = soci_registry_get_manifest(img->reg, ref, &data, &len, NULL);
    }
    if (r < 0)
        return r;
    r = oci_parse_object(data, len, digest, ret);
    soci_free(data);
    return r;
}

/* Blobs of at least PARALLEL_MIN_BYTES come from a registry in pieces side by side, of
 * at least PARALLEL_PIECE_BYTES, PARALLEL_PIECES at most. A registry's work is mostly per
 * request, and an image's zTOCs come side by side, sharing the host's connections: the
 * learned start's two zTOCs (24 MB) in 12 requests instead of 16 took its loopback mount
 * from 0.60 to 0.56 s (the registry's CPU 0.45 to 0.38 CPU-s), and left its tree phase on
 * a link of 20 ms and 50 MB/s per connection as it was (0.22-0.24 s); pieces of 4 MiB
 * made that 0.26-0.28 s. */
#define PARALLEL_MIN_BYTES ((uint64_t)4 << 20)
#define PARALLEL_PIECES 8
#define PARALLEL_PIECE_BYTES ((uint64_t)2 << 20)

static int source_blob(soci_image *img, const char *digest, uint64_t max, void **ret, size_t *len)
{
    if (img->layout) {
        int r = soci_layout_read_blob(img->layout, digest, max, ret, len);
        if (r == 0) {
            img->layout_bytes += *len;
            img->layout_reads++;
        }
        return r;
    }
    return soci_registry_get_blob(img->reg, img->repo, digest, max, ret, len);
}

/* A large registry blob of known size in pieces fetched side by side, over as many
 * connections as the host allows: a zTOC of a big layer is tens of MB (a 32 KiB window a
 * span), and one connection's rate made it most of the time to open a 400 MB image
 * (profiled: 1.1 s of 1.5 s on a 50 MB/s link). The whole is checked against digest. */
static int registry_blob_parallel(soci_image *img, const char *digest, uint64_t size, void **ret, size_t *len)
{
    uint8_t want[SHA256_LEN], got[SHA256_LEN];
    struct soci_iov_at iov[PARALLEL_PIECES];
    soci_blob *blob;
    if (!digest_parse(digest, strlen(digest), want))
        return soci_fail(SOCI_EINVAL, "blob digest \"%s\" is not sha256:<hex>", digest);
    int r = soci_registry_open_blob(img->reg, img->repo, digest, size, &blob);
    if (r < 0)
        return r;
    uint8_t *data = malloc((size_t)size);
    if (data == NULL) {
        soci_blob_unref(blob);
        return soci_fail_nomem("blob");
    }
    uint64_t piece = (size + PARALLEL_PIECES - 1) / PARALLEL_PIECES, off = 0;
    if (piece < PARALLEL_PIECE_BYTES)
        piece = PARALLEL_PIECE_BYTES;
    size_t n = 0;
    for (; off < size; off += piece, n++)
        iov[n] = (struct soci_iov_at){data + off, (size_t)(size - off < piece ? size - off : piece), off};
    r = blob_read_vec(blob, iov, n);
    soci_blob_unref(blob);
    if (r == 0 && (r = sha256(data, (size_t)size, got)) == 0 && memcmp(got, want, SHA256_LEN) != 0)
        r = soci_fail(SOCI_EDIGEST, "blob %s: the bytes fetched do not match it", digest);
    if (r < 0) {
        free(data);
        return r;
    }
    *ret = data;
    *len = (size_t)size;
    return 0;
}

/* A blob through the cache's disk store, when there is one: zTOCs and small layers. size
 * is the descriptor's, or 0 when unknown; a large one from a registry comes in parallel
 * pieces. */
static int source_blob_cached(soci_image *img, const char *digest, uint64_t size, uint64_t max, void **ret,
                              size_t *len)
{
    if (img->cache && img->cache->disk && cache_disk_get_blob(img->cache, digest, max, ret, len) == 1)
        return 0;
    int r = img->layout == NULL && size >= PARALLEL_MIN_BYTES && size <= max
                ? registry_blob_parallel(img, digest, size, ret, len)
                : source_blob(img, digest, max, ret, len);
    if (r == 0 && img->cache && img->cache->disk)
        cache_disk_put_blob(img->cache, digest, *ret, *len);
    return r;
}

static int source_open_blob(soci_image *img, const char *digest, uint64_t size, soci_blob **ret)
{
    if (img->layout)
        return soci_layout_open_blob(img->layout, digest, ret);
    return soci_registry_open_blob(img->reg, img->repo, digest, size, ret);
}

/* The referrers of a manifest as an image index JSON, or NULL when there are none. */
static int source_referrers(soci_image *img, const char *manifest_digest, json_t **ret)
{
    *ret = NULL;
    if (img->layout) {
        char tag[80];
        json_t *d;
        snprintf(tag, sizeof(tag), "sha256-%s", manifest_digest + 7);
        if (layout_find(img->layout, tag, &d) < 0) {
            soci_clear_error();
            return 0;
        }
        return source_json(img, oci_str(d, "digest"), ret);
    }
    void *data;
    size_t len;
    int r = soci_registry_get_referrers(img->reg, img->repo, manifest_digest, &data, &len);
    if (r == SOCI_ENOTFOUND) {
        soci_clear_error();
        return 0;
    }
    if (r < 0)
        return r;
    r = oci_parse_object(data, len, "referrers", ret);
    soci_free(data);
    return r;
}

/* ---- opening ---- */

static void host_platform(char *os, char *arch, char *variant, size_t n)
{
    struct utsname u;
    snprintf(os, n, "linux");
    snprintf(arch, n, "amd64");
    variant[0] = '\0';
    if (uname(&u) == 0 && strcmp(u.machine, "aarch64") == 0)
        snprintf(arch, n, "arm64");
}

/* The manifest descriptor of an image index for the wanted platform. */
static int pick_platform(const json_t *index, const struct soci_config *cfg, json_t **ret)
{
    char os[32], arch[32], variant[32], want[100];
    host_platform(os, arch, variant, sizeof(os));
    if (cfg->platform && sscanf(cfg->platform, "%31[^/]/%31[^/]/%31s", os, arch, variant) < 2)
        return soci_fail(SOCI_EINVAL, "platform \"%s\": expected os/arch[/variant]", cfg->platform);
    snprintf(want, sizeof(want), "%s/%s%s%s", os, arch, variant[0] ? "/" : "", variant);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(index, "manifests"), i, d) {
        const json_t *p = json_object_get(d, "platform");
        if (oci_str(d, "artifactType")[0] || !json_is_object(p))
            continue;
        if (strcmp(oci_str(p, "os"), os) == 0 && strcmp(oci_str(p, "architecture"), arch) == 0 &&
            (variant[0] == '\0' || strcmp(oci_str(p, "variant"), variant) == 0)) {
            *ret = d;
            return oci_check_descriptor(d, "image index");
        }
    }
    return soci_fail(SOCI_ENOTFOUND, "the image has no manifest for %s", want);
}

/* v1: the newest SOCI index among the manifest's referrers. */
static void index_from_referrers(const json_t *referrers, char *out)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(referrers, "manifests"), i, d) {
        if (strcmp(oci_str(d, "artifactType"), SOCI_INDEX_ARTIFACT_TYPE_V1) == 0)
            snprintf(out, SOCI_DIGEST_BUFSIZE, "%s", oci_str(d, "digest"));
    }
}

/* v2: the index bound to this manifest in the image index, or named by its annotation. */
static void index_from_binding(const json_t *top, const json_t *manifest, const char *manifest_digest, char *out)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(top, "manifests"), i, d) {
        if (strcmp(oci_str(d, "artifactType"), SOCI_INDEX_ARTIFACT_TYPE_V2) == 0 &&
            strcmp(oci_str(json_object_get(d, "annotations"), ANN_MANIFEST_DIGEST), manifest_digest) == 0) {
            snprintf(out, SOCI_DIGEST_BUFSIZE, "%s", oci_str(d, "digest"));
            return;
        }
    }
    const char *ann = oci_str(json_object_get(manifest, "annotations"), ANN_INDEX_DIGEST);
    if (ann[0])
        snprintf(out, SOCI_DIGEST_BUFSIZE, "%s", ann);
}

static int load_index(soci_image *img)
{
    void *data;
    size_t len;
    soci_index *ix;
    int r;
    if (img->layout)
        r = source_blob(img, img->index_digest, OCI_MAX_MANIFEST, &data, &len);
    else {
        char ref[700];
        snprintf(ref, sizeof(ref), "%s@%s", img->repo, img->index_digest);
        r = soci_registry_get_manifest(img->reg, ref, &data, &len, NULL);
    }
    if (r < 0)
        return soci_fail_prefix(r, "SOCI index %s", img->index_digest);
    r = soci_index_parse(data, len, &ix);
    soci_free(data);
    if (r < 0)
        return r;
    img->index_version = soci_index_version(ix);
    for (uint32_t i = 0; i < img->nlayers; i++) {
        uint32_t e;
        struct soci_index_entry entry;
        if (soci_index_find_layer(ix, img->layers[i].digest, &e) == 0 &&
            soci_index_entry(ix, e, &entry, sizeof(entry)) == 0) {
            snprintf(img->layers[i].ztoc_digest, SOCI_DIGEST_BUFSIZE, "%s", entry.digest);
            img->layers[i].ztoc_size = entry.size;
        }
        if (soci_index_find_prefetch(ix, img->layers[i].digest, &e) == 0 &&
            soci_index_entry(ix, e, &entry, sizeof(entry)) == 0) {
            snprintf(img->layers[i].prefetch_digest, SOCI_DIGEST_BUFSIZE, "%s", entry.digest);
            img->layers[i].prefetch_size = entry.size;
        }
    }
    soci_clear_error();
    soci_index_free(ix);
    return 0;
}

static int read_layers(soci_image *img, const json_t *manifest)
{
    json_t *layers = json_object_get(manifest, "layers"), *l;
    size_t i, n = json_array_size(layers);
    if (n > 4096)
        return soci_fail(SOCI_ETOOBIG, "image manifest lists %zu layers", n);
    img->layers = calloc(n ? n : 1, sizeof(*img->layers));
    if (img->layers == NULL)
        return soci_fail_nomem("layers");
    json_array_foreach(layers, i, l) {
        int r = oci_check_descriptor(l, "image layer");
        if (r < 0)
            return r;
        struct image_layer *il = &img->layers[i];
        snprintf(il->digest, sizeof(il->digest), "%s", oci_str(l, "digest"));
        snprintf(il->media_type, sizeof(il->media_type), "%s", oci_str(l, "mediaType"));
        il->size = (uint64_t)json_integer_value(json_object_get(l, "size"));
        const json_t *ann = json_object_get(l, "annotations");
        snprintf(il->toc_digest, sizeof(il->toc_digest), "%s", oci_str(ann, ANN_ESTARGZ_TOC_DIGEST));
        const char *checksum = oci_str(ann, ANN_ZSTD_CHUNKED_CHECKSUM), *position = oci_str(ann, ANN_ZSTD_CHUNKED_POSITION);
        if (!checksum[0]) {
            checksum = oci_str(ann, ANN_ZSTD_CHUNKED_CHECKSUM_OLD);
            position = oci_str(ann, ANN_ZSTD_CHUNKED_POSITION_OLD);
        }
        snprintf(il->zc_checksum, sizeof(il->zc_checksum), "%s", checksum);
        snprintf(il->zc_position, sizeof(il->zc_position), "%s", position);
    }
    img->nlayers = (uint32_t)n;
    return 0;
}

/* The diff_ids of the image config (a blob checked against its digest), one per layer.
 * Reading files needs none of it, so a config that cannot be had or does not give one
 * diff_id per layer leaves them unknown (""), with a warning: never guessed. */
static void read_diff_ids(soci_image *img, const json_t *manifest)
{
    const json_t *d = json_object_get(manifest, "config");
    void *data = NULL;
    size_t len;
    json_t *config = NULL;
    int r = oci_check_descriptor(d, "image config");
    if (r == 0)
        r = source_blob(img, oci_str(d, "digest"), OCI_MAX_MANIFEST, &data, &len);
    if (r == 0)
        r = oci_parse_object(data, len, "image config", &config);
    soci_free(data);
    const json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    bool ok = r == 0 && json_array_size(ids) == img->nlayers;
    uint8_t raw[SHA256_LEN];
    for (uint32_t i = 0; ok && i < img->nlayers; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        ok = id != NULL && digest_parse(id, strlen(id), raw);
    }
    for (uint32_t i = 0; ok && i < img->nlayers; i++)
        snprintf(img->layers[i].diff_id, SOCI_DIGEST_BUFSIZE, "%s", json_string_value(json_array_get(ids, i)));
    if (!ok && img->nlayers > 0)
        soci_log(SOCI_LOG_WARNING, "image %s: %s; layers' diff_ids unknown", img->manifest_digest,
                 r < 0 ? soci_last_error() : "its config does not give one valid diff_id per layer");
    soci_clear_error();
    json_decref(config);
}

struct diff_ids_job {
    soci_image *img;
    const json_t *manifest; /* read, never changed, by both threads until the join */
    pthread_t thread;
};

static void *diff_ids_job(void *arg)
{
    struct diff_ids_job *j = arg;
    read_diff_ids(j->img, j->manifest);
    return NULL;
}

/* What a layer's media type says of its compression (SOCI_COMPRESSION_*, 0: not a layer's). */
static int media_type_compression(const char *mt)
{
    size_t n = strlen(mt);
    if (strstr(mt, ".tar+gzip") || strstr(mt, ".tar.gzip")) /* OCI's, docker's */
        return SOCI_COMPRESSION_GZIP;
    if (strstr(mt, ".tar+zstd") || strstr(mt, ".tar.zstd"))
        return SOCI_COMPRESSION_ZSTD;
    if (n >= 4 && strcmp(mt + n - 4, ".tar") == 0)
        return SOCI_COMPRESSION_UNCOMPRESSED;
    return 0;
}

/* The best way in to a layer: the SOCI index's zTOC, else the layer's own TOC. */
static int pick_lazy_path(const struct image_layer *l)
{
    if (l->ztoc_digest[0])
        return SOCI_LAZY_SOCI;
    if (l->zc_checksum[0])
        return SOCI_LAZY_ZSTD_CHUNKED;
    if (l->toc_digest[0])
        return SOCI_LAZY_ESTARGZ;
    return SOCI_LAZY_WHOLE;
}

/* "dir[:tag]" names a layout when dir is one. */
static bool is_layout(const char *image, char *dir, size_t n, const char **tag)
{
    struct stat st;
    char path[4200];
    const char *slash = strrchr(image, '/'), *colon = strrchr(slash ? slash : image, ':');
    snprintf(dir, n, "%.*s", colon ? (int)(colon - image) : (int)strlen(image), image);
    *tag = colon ? colon + 1 : NULL;
    snprintf(path, sizeof(path), "%s/oci-layout", dir);
    return stat(path, &st) == 0;
}

static int resolve_top(soci_image *img, const char *image, json_t **top, char *top_digest)
{
    char dir[4096];
    const char *tag;
    int r;
    if (is_layout(image, dir, sizeof(dir), &tag)) {
        json_t *d;
        if ((r = soci_layout_open(dir, &img->layout)) < 0 || (r = layout_find(img->layout, tag, &d)) < 0)
            return r;
        snprintf(top_digest, SOCI_DIGEST_BUFSIZE, "%s", oci_str(d, "digest"));
        return source_json(img, top_digest, top);
    }
    void *data;
    size_t len;
    if ((r = soci_registry_get_manifest(img->reg, image, &data, &len, top_digest)) < 0)
        return r;
    r = oci_parse_object(data, len, image, top);
    soci_free(data);
    /* Later calls name the repository: host/repo without tag or digest. */
    struct image_ref parsed;
    if (r == 0 && (r = ref_parse(image, &parsed)) == 0)
        snprintf(img->repo, sizeof(img->repo), "%s/%s", parsed.host, parsed.repo);
    return r;
}

int soci_image_open(const char *image, soci_registry *reg, const soci_config *cfg_in, soci_image **ret)
{
    const struct soci_config *cfg = cfg_in ? cfg_in : &soci_config_defaults;
    json_t *top = NULL, *manifest = NULL, *referrers = NULL;
    char top_digest[SOCI_DIGEST_BUFSIZE];
    int r;

    if (image == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_image_open: bad arguments");
    struct soci_image *img = calloc(1, sizeof(*img));
    if (img == NULL)
        return soci_fail_nomem("image");
    img->reg = reg ? soci_registry_ref(reg) : NULL;
    if (img->reg == NULL && (r = soci_registry_new(cfg_in, &img->reg)) < 0)
        goto fail;
    if ((r = resolve_top(img, image, &top, top_digest)) < 0)
        goto fail;

    if (json_is_array(json_object_get(top, "manifests"))) {
        json_t *d = NULL;
        if ((r = pick_platform(top, cfg, &d)) < 0)
            goto fail;
        snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", oci_str(d, "digest"));
        if ((r = source_json(img, img->manifest_digest, &manifest)) < 0)
            goto fail;
    } else {
        snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", top_digest);
        manifest = json_incref(top);
    }
    if ((r = read_layers(img, manifest)) < 0)
        goto fail;
    /* The config (diff_ids only) comes beside the discovery: a round trip off the path. It
     * writes only the layers' diff_id, which nothing below reads. */
    struct diff_ids_job config = {img, manifest};
    bool beside = thread_start(&config.thread, diff_ids_job, &config) == 0;
    if (!beside)
        read_diff_ids(img, manifest);

    /* Discovery: named, then v1 referrers (API, tag fallback), then a v2 binding. */
    if (cfg->index_digest)
        snprintf(img->index_digest, sizeof(img->index_digest), "%s", cfg->index_digest);
    if (!img->index_digest[0] && (r = source_referrers(img, img->manifest_digest, &referrers)) == 0)
        index_from_referrers(referrers, img->index_digest);
    if (r == 0 && !img->index_digest[0])
        index_from_binding(top, manifest, img->manifest_digest, img->index_digest);
    if (r == 0 && img->index_digest[0])
        r = load_index(img);
    if (beside)
        pthread_join(config.thread, NULL);
    if (r < 0)
        goto fail;
    for (uint32_t i = 0; i < img->nlayers; i++)
        img->layers[i].lazy_path = pick_lazy_path(&img->layers[i]);

    json_decref(top);
    json_decref(manifest);
    json_decref(referrers);
    *ret = img;
    return 0;
fail:
    json_decref(top);
    json_decref(manifest);
    json_decref(referrers);
    soci_image_free(img);
    return r;
}

void soci_image_free(soci_image *img)
{
    if (img == NULL)
        return;
    for (uint32_t i = 0; i < img->nlayers; i++) {
        soci_layer_free(img->layers[i].layer);
        soci_ztoc_free(img->layers[i].ztoc);
        free(img->layers[i].whole);
        soci_free(img->layers[i].prefetch_data);
    }
    free(img->layers);
    soci_layout_free(img->layout);
    soci_registry_unref(img->reg);
    soci_cache_unref(img->cache);
    free(img);
}

int soci_image_set_cache(soci_image *img, soci_cache *cache)
{
    if (img == NULL)
        return soci_fail(SOCI_EINVAL, "soci_image_set_cache: no image");
    for (uint32_t i = 0; i < img->nlayers; i++)
        if (img->layers[i].layer)
            return soci_fail(SOCI_EINVAL, "soci_image_set_cache: layers are open already");
    soci_cache_unref(img->cache);
    img->cache = soci_cache_ref(cache);
    return 0;
}

const soci_cache *image_cache(const soci_image *img)
{
    return img->cache;
}

const char *soci_image_manifest_digest(const soci_image *img)
{
    return img->manifest_digest;
}

const char *soci_image_index_digest(const soci_image *img)
{
    return img->index_digest;
}

int soci_image_index_version(const soci_image *img)
{
    return img->index_version;
}

uint32_t soci_image_layer_count(const soci_image *img)
{
    return img->nlayers;
}

int soci_image_layer(const soci_image *img, uint32_t i, struct soci_image_layer *ret, size_t ret_size)
{
    if (img == NULL || ret == NULL || ret_size == 0 || i >= img->nlayers)
        return soci_fail(SOCI_EINVAL, "soci_image_layer: no layer %u", i);
    const struct image_layer *l = &img->layers[i];
    struct soci_image_layer out = {
        .digest = l->digest,
        .media_type = l->media_type,
        .size = l->size,
        .ztoc_digest = l->ztoc_digest,
        .lazy_path = l->lazy_path,
        .diff_id = l->diff_id,
        .toc_digest = l->zc_checksum[0] ? l->zc_checksum : l->toc_digest,
        .compression = media_type_compression(l->media_type),
    };
    memset(ret, 0, ret_size);
    memcpy(ret, &out, ret_size < sizeof(out) ? ret_size : sizeof(out));
    return 0;
}

/* A small layer with no zTOC: fetch it whole and index it in memory. */
static int index_whole_layer(soci_image *img, struct image_layer *l, soci_blob **blob)
{
    size_t len;
    soci_builder *b = NULL;
    soci_blob *mem = NULL;
    void *ztoc = NULL;
    size_t ztoc_len;
    int r;
    /* The descriptor's size bounds what we accept (the digest then checks the bytes). */
    if (l->size > MAX_WHOLE_LAYER)
        return soci_fail(SOCI_ETOOBIG, "layer %s: %llu bytes, too large to fetch whole", l->digest,
                         (unsigned long long)l->size);
    if ((r = source_blob_cached(img, l->digest, l->size, l->size, &l->whole, &len)) < 0)
        return soci_fail_prefix(r, "layer %s", l->digest);
    if ((r = soci_blob_open_mem(l->whole, len, 0, &mem)) < 0 || (r = soci_builder_new(&b)) < 0 ||
        (r = soci_builder_build_blob(b, mem, &ztoc, &ztoc_len)) < 0 || (r = ztoc_open_owned(ztoc, ztoc_len, &l->ztoc)) < 0) {
        soci_blob_unref(mem);
        soci_builder_free(b);
        return soci_fail_prefix(r, "layer %s", l->digest);
    }
    soci_builder_free(b);
    *blob = mem;
    return 0;
}

/* A layer that carries its own TOC (eStargz, zstd:chunked): open the blob and the TOC.
 * A TOC that is missing, corrupt or does not match its annotation is no reason to fail
 * the layer: say so and fall back to fetching it whole (lazy_path becomes WHOLE). */
static int open_own_toc(soci_image *img, struct image_layer *l, soci_blob **blob)
{
    int r = source_open_blob(img, l->digest, l->size, blob);
    if (r < 0)
        return r;
    if (soci_blob_size(*blob) != l->size)
        return 0; /* reported by the caller */
    if (l->lazy_path == SOCI_LAZY_ZSTD_CHUNKED)
        r = zstd_chunked_open(*blob, l->zc_checksum, l->zc_position, &l->ztoc);
    else
        r = estargz_open(*blob, l->toc_digest, &l->ztoc);
    if (r == SOCI_EFORMAT || r == SOCI_EDIGEST || r == SOCI_ETOOBIG) {
        soci_log(SOCI_LOG_WARNING, "layer %s: %s; fetching it whole", l->digest, soci_last_error());
        soci_clear_error();
        soci_blob_unref(*blob);
        *blob = NULL;
        l->lazy_path = SOCI_LAZY_WHOLE;
        return 0;
    }
    if (r < 0)
        r = soci_fail_prefix(r, "layer %s", l->digest);
    return r;
}

/* Layer l's SOCI zTOC, fetched (or read from the disk store), checked and parsed. */
static int load_ztoc(soci_image *img, struct image_layer *l)
{
    void *data;
    size_t len;
    uint64_t max = l->ztoc_size && l->ztoc_size < SOCI_ZTOC_MAX_SIZE ? l->ztoc_size : SOCI_ZTOC_MAX_SIZE;
    int r = source_blob_cached(img, l->ztoc_digest, l->ztoc_size, max, &data, &len);
    if (r < 0)
        return soci_fail_prefix(r, "zTOC of layer %s", l->digest);
    if ((r = ztoc_open_owned(data, len, &l->ztoc)) < 0)
        return soci_fail_prefix(r, "zTOC %s", l->ztoc_digest);
    return 0;
}

/* Layer l's prefetch artifact, fetched and checked, kept for image_layer_prefetch. */
static int load_prefetch(soci_image *img, struct image_layer *l)
{
    void *data;
    size_t len;
    if (l->prefetch_data != NULL || l->prefetch_size > PREFETCH_MAX_SIZE)
        return 0; /* image_layer_prefetch says what is wrong with its size */
    int r = source_blob_cached(img, l->prefetch_digest, l->prefetch_size, PREFETCH_MAX_SIZE, &data, &len);
    if (r == 0) {
        l->prefetch_data = data;
        l->prefetch_len = len;
    }
    return r;
}

struct ztoc_job {
    soci_image *img;
    struct image_layer *l;
    pthread_t thread;
};

static void *load_prefetch_job(void *arg)
{
    struct ztoc_job *j = arg;
    if (load_prefetch(j->img, j->l) < 0) /* image_layer_prefetch fetches it again, and says why */
        soci_clear_error();
    return NULL;
}

/* The zTOC, and beside it the prefetch artifact (a round trip of its own that would
 * otherwise come after the tree is built, one layer after another, before any span of a
 * learned prefetch goes out). */
static void *load_ztoc_job(void *arg)
{
    struct ztoc_job *j = arg;
    struct ztoc_job artifact = *j;
    bool beside = j->l->prefetch_digest[0] != '\0' && j->l->prefetch_data == NULL &&
                  thread_start(&artifact.thread, load_prefetch_job, &artifact) == 0;
    if (load_ztoc(j->img, j->l) < 0) /* opening the layer fetches it again, and says why */
        soci_clear_error();
    if (beside)
        pthread_join(artifact.thread, NULL);
    return NULL;
}

void image_load_ztocs(soci_image *img)
{
    struct ztoc_job jobs[IMAGE_ZTOC_THREADS];
    uint32_t next = 0;
    if (img->layout != NULL) /* local files: nothing to wait for */
        return;
    while (next < img->nlayers) {
        unsigned n = 0;
        for (; next < img->nlayers && n < IMAGE_ZTOC_THREADS; next++) {
            struct image_layer *l = &img->layers[next];
            if (l->lazy_path == SOCI_LAZY_SOCI && l->layer == NULL && l->ztoc == NULL) {
                jobs[n] = (struct ztoc_job){img, l};
                if (thread_start(&jobs[n].thread, load_ztoc_job, &jobs[n]) == 0)
                    n++;
                else /* no thread to spare: on this one, then */
                    load_ztoc_job(&jobs[n]);
            }
        }
        for (unsigned k = 0; k < n; k++)
            pthread_join(jobs[k].thread, NULL);
    }
}

int soci_image_open_layer(soci_image *img, uint32_t i, soci_layer **ret_layer, const soci_ztoc **ret_ztoc)
{
    if (img == NULL || i >= img->nlayers)
        return soci_fail(SOCI_EINVAL, "soci_image_open_layer: no layer %u", i);
    struct image_layer *l = &img->layers[i];
    soci_blob *blob = NULL;
    int r;
    if (l->layer == NULL) {
        if (l->lazy_path == SOCI_LAZY_SOCI) {
            if (l->ztoc == NULL && (r = load_ztoc(img, l)) < 0)
                return r;
            r = source_open_blob(img, l->digest, l->size, &blob);
        } else if (l->lazy_path != SOCI_LAZY_WHOLE) {
            if ((r = open_own_toc(img, l, &blob)) == 0 && l->lazy_path == SOCI_LAZY_WHOLE)
                r = index_whole_layer(img, l, &blob);
        } else {
            r = index_whole_layer(img, l, &blob);
        }
        if (r == 0 && soci_blob_size(blob) != l->size)
            r = soci_fail(SOCI_EFORMAT, "layer %s is %llu bytes, its descriptor says %llu", l->digest,
                          (unsigned long long)soci_blob_size(blob), (unsigned long long)l->size);
        /* A layer held whole in memory keeps no spans on disk (the whole blob is there). */
        if (r == 0)
            r = layer_open(blob, l->ztoc, img->cache, l->digest, !l->whole, &l->layer);
        soci_blob_unref(blob);
        if (r < 0) {
            soci_ztoc_free(l->ztoc);
            l->ztoc = NULL;
            return r;
        }
    }
    if (ret_layer)
        *ret_layer = l->layer;
    if (ret_ztoc)
        *ret_ztoc = l->ztoc;
    return 0;
}

int soci_image_counter(const soci_image *img, int which, uint64_t *ret)
{
    uint64_t total = 0, v;
    if (img == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_image_counter: bad arguments");
    if (which == SOCI_COUNTER_SPANS_DECODED || (which >= SOCI_COUNTER_FETCH_NS && which <= SOCI_COUNTER_SPANS_DEMANDED)) {
        for (uint32_t i = 0; i < img->nlayers; i++)
            if (img->layers[i].layer && soci_layer_counter(img->layers[i].layer, which, &v) == 0)
                total += v;
    } else if (which == SOCI_COUNTER_BYTES_FETCHED || which == SOCI_COUNTER_REQUESTS) {
        if (img->layout) {
            /* Layout reads: whole blobs here, ranges through the layers. */
            total = which == SOCI_COUNTER_REQUESTS ? img->layout_reads : img->layout_bytes;
            for (uint32_t i = 0; i < img->nlayers; i++)
                if (img->layers[i].layer &&
                    soci_layer_counter(img->layers[i].layer,
                                       which == SOCI_COUNTER_REQUESTS ? SOCI_COUNTER_READS : which, &v) == 0)
                    total += v;
        } else {
            int r = soci_registry_counter(img->reg, which, &total);
            if (r < 0)
                return r;
        }
    } else {
        return soci_fail(SOCI_EINVAL, "soci_image_counter: unknown counter %d", which);
    }
    *ret = total;
    return 0;
}

int image_layer_prefetch(soci_image *img, uint32_t i, struct prefetch_range **ret, size_t *count)
{
    void *data;
    size_t len;
    *ret = NULL;
    *count = 0;
    if (i >= img->nlayers || img->layers[i].prefetch_digest[0] == '\0')
        return 0;
    const struct image_layer *l = &img->layers[i];
    if (l->prefetch_size > PREFETCH_MAX_SIZE)
        return soci_fail(SOCI_ETOOBIG, "prefetch artifact %s: %llu bytes", l->prefetch_digest,
                         (unsigned long long)l->prefetch_size);
    int r;
    if (l->prefetch_data != NULL) { /* fetched beside the zTOC */
        r = prefetch_parse(l->prefetch_data, l->prefetch_len, ret, count);
    } else if ((r = source_blob_cached(img, l->prefetch_digest, l->prefetch_size, PREFETCH_MAX_SIZE, &data,
                                       &len)) == 0) {
        r = prefetch_parse(data, len, ret, count);
        soci_free(data);
    }
    return r < 0 ? soci_fail_prefix(r, "prefetch artifact %s", l->prefetch_digest) : 0;
}
