/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/image.h
 * soci_image: one platform's image, from a registry or an OCI layout, with its SOCI
 * index found the way the reference finds it, and its layers opened for lazy reads.
 *
 * SOCI index discovery, in order: an index named in the config (SOCI_OPT_INDEX_DIGEST);
 * the referrers of the image manifest (the referrers API, then the "sha256-<hex>" tag
 * fallback) for a v1 index; a v2 index bound into the image index. Every manifest, index
 * and zTOC is checked against its digest before use. Layers without a zTOC (too small)
 * are fetched whole and indexed in memory.
 *
 * A soci_image is used by one thread at a time; the layers it opens are safe for
 * concurrent reads and live until the image is freed.
 */
#ifndef SOCI_IMAGE_H
#define SOCI_IMAGE_H

#include <soci/cache.h>
#include <soci/config.h>
#include <soci/layer.h>
#include <soci/registry.h>

SOCI_BEGIN_DECLS

/** One platform's image and its SOCI index; used by one thread at a time. */
typedef struct soci_image soci_image;

/**
 * Open `image`: "OCI_LAYOUT_DIR[:TAG]" when that directory is an OCI layout, else a
 * registry reference ("host/repo:tag", "alpine", "...@sha256:..."). The platform is
 * SOCI_OPT_PLATFORM (default this host's). reg may be NULL (one is made from cfg).
 */
SOCI_API int soci_image_open(const char *image, soci_registry *reg, const soci_config *cfg, soci_image **ret);
/** Free the image, its layers and zTOCs. Accepts NULL. */
SOCI_API void soci_image_free(soci_image *img);

/**
 * Send the layers opened from now on through cache (a reference is taken; NULL: each
 * layer its own small cache), and zTOCs and whole small layers through its disk store.
 * Call before the first soci_image_open_layer (SOCI_EINVAL after).
 */
SOCI_API int soci_image_set_cache(soci_image *img, soci_cache *cache);

/** The image manifest's digest and the SOCI index used ("" if none was found). */
SOCI_API const char *soci_image_manifest_digest(const soci_image *img);
/** The SOCI index used ("" if none was found); lives as long as img. */
SOCI_API const char *soci_image_index_digest(const soci_image *img);

/** SOCI_INDEX_V1 or SOCI_INDEX_V2 for the index used, 0 if none was found. */
SOCI_API int soci_image_index_version(const soci_image *img);

/** Layers, bottom first. */
SOCI_API uint32_t soci_image_layer_count(const soci_image *img);

/**
 * How reads reach a layer (soci_image_layer.lazy_path). soci_image_open picks, per layer,
 * the first that applies: a zTOC in the SOCI index; the layer's own zstd:chunked TOC
 * (manifest-checksum annotation); its own eStargz TOC (toc.digest annotation); else the
 * whole layer is fetched and indexed in memory.
 */
#define SOCI_LAZY_UNKNOWN 0      /**< not reported: a library older than 1.1 zero-fills the field */
#define SOCI_LAZY_WHOLE 1        /**< fetched whole (verified by its digest), indexed in memory */
#define SOCI_LAZY_SOCI 2         /**< span reads through a zTOC of the SOCI index */
#define SOCI_LAZY_ESTARGZ 3      /**< chunk reads through the layer's eStargz TOC */
#define SOCI_LAZY_ZSTD_CHUNKED 4 /**< chunk reads through the layer's zstd:chunked TOC */

/** One layer of an image, as its manifest and SOCI index describe it. Strings live as long as the image. */
struct soci_image_layer {
    const char *digest; /**< the layer blob's digest */
    const char *media_type; /**< its media type */
    uint64_t size; /**< its size, from the manifest */
    const char *ztoc_digest; /**< "" when the index has no zTOC for it */
    /** SOCI_LAZY_*: the path chosen when the image was opened; once the layer is opened,
     *  the one in use (a TOC that fails its checks falls back to SOCI_LAZY_WHOLE). Since 1.1. */
    int lazy_path;
    /** The digest of the layer's uncompressed tar, from the image config's
     *  `rootfs.diff_ids` (the config checked against its digest); "" when the config does
     *  not give one per layer. Since 1.1 (NULL from an older library, which fills only the
     *  fields it knows). */
    const char *diff_id;
    /** The TOC digest of a layer that carries its own TOC: the eStargz `toc.digest` or the
     *  zstd:chunked manifest checksum annotation; "" for others. Since 1.1. */
    const char *toc_digest;
    /** SOCI_COMPRESSION_GZIP, _ZSTD or _UNCOMPRESSED from the media type; 0 when the media
     *  type is not a layer's. Since 1.1. */
    int compression;
};

/** Describe layer i (bottom = 0) into *ret, ret_size bytes of it at most. */
SOCI_API int soci_image_layer(const soci_image *img, uint32_t i, struct soci_image_layer *ret, size_t ret_size);

/**
 * Layer i ready for reads, with its zTOC (fetched and checked, or built in memory from
 * the whole layer). Both belong to the image; the first call fetches, later ones reuse.
 */
SOCI_API int soci_image_open_layer(soci_image *img, uint32_t i, soci_layer **ret_layer,
                                   const soci_ztoc **ret_ztoc);

/** SOCI_COUNTER_BYTES_FETCHED, SOCI_COUNTER_REQUESTS (every fetch the image made, manifests
 *  and zTOCs included), SOCI_COUNTER_SPANS_DECODED, or since 1.1 the profile counters
 *  SOCI_COUNTER_FETCH_NS to SOCI_COUNTER_SPANS_DEMANDED (these over its layers). */
SOCI_API int soci_image_counter(const soci_image *img, int which, uint64_t *ret);

SOCI_END_DECLS

#endif
