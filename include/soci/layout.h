/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/layout.h
 * OCI image layouts on disk (as umoci and `skopeo copy oci:` write them): reading
 * images and blobs, and building their SOCI indexes the way the reference publishes
 * them. Blobs read whole are checked against their digest; blobs written are stored
 * atomically (temporary file, fsync, rename), as is index.json.
 *
 * A soci_layout may be used by one thread at a time.
 */
#ifndef SOCI_LAYOUT_H
#define SOCI_LAYOUT_H

#include <soci/blob.h>
#include <soci/build.h>
#include <soci/config.h>
#include <soci/index.h>

SOCI_BEGIN_DECLS

/** An OCI image layout directory; used by one thread at a time. */
typedef struct soci_layout soci_layout;

/** Room for "sha256:" + 64 hex digits + NUL. */
#define SOCI_DIGEST_BUFSIZE 72

/** Open the layout in dir (it must have an oci-layout file and index.json). */
SOCI_API int soci_layout_open(const char *dir, soci_layout **ret);
/** Close a layout. Accepts NULL. */
SOCI_API void soci_layout_free(soci_layout *l);

/** A blob of the layout as a soci_blob (read lazily, not verified as a whole). */
SOCI_API int soci_layout_open_blob(soci_layout *l, const char *digest, soci_blob **ret);

/** A whole blob, at most max_size bytes, its sha256 checked. Free *ret with soci_free(). */
SOCI_API int soci_layout_read_blob(soci_layout *l, const char *digest, uint64_t max_size, void **ret,
                                   size_t *ret_len);

/** Store data as a blob; its digest goes to ret_digest. */
SOCI_API int soci_layout_write_blob(soci_layout *l, const void *data, size_t len,
                                    char ret_digest[SOCI_DIGEST_BUFSIZE]);

/**
 * The descriptor index.json holds for ref: a tag (org.opencontainers.image.ref.name), a
 * digest, or NULL / "" for the layout's only image. Strings live until the layout is
 * freed or changed.
 */
SOCI_API int soci_layout_resolve(soci_layout *l, const char *ref, struct soci_descriptor *ret, size_t ret_size);

/* Events reported while building indexes. */
#define SOCI_EVENT_ZTOC_BUILT 1    /**< a: layer digest, b: zTOC digest */
#define SOCI_EVENT_LAYER_SKIPPED 2 /**< a: layer digest, b: why */
#define SOCI_EVENT_INDEX_WRITTEN 3 /**< a: platform, b: SOCI index digest */
#define SOCI_EVENT_IMAGE_WRITTEN 4 /**< a: the tag, b: the new image index digest (v2) */
#define SOCI_EVENT_PREFETCH_WRITTEN 6 /**< a: layer digest, b: its prefetch artifact's digest (since 1.1) */
#define SOCI_EVENT_PREFETCH_SKIPPED 7 /**< a: a file of SOCI_OPT_PREFETCH_FILES, b: why it is not in one (1.1);
                                           or a: a layer of SOCI_OPT_PREFETCH_RECORD, b: why its
                                           record is not used */

/** Receives SOCI_EVENT_* as building or pushing goes on, on the calling thread. */
typedef void (*soci_event_fn)(void *userdata, int event, const char *a, const char *b);

/**
 * Build the SOCI index of the image at ref, for the platforms cfg names (default this
 * host's; "all"), storing zTOCs and index manifests in the layout as the reference
 * publishes them: v1 indexes are listed in index.json and in the referrers fallback
 * tag "sha256-<hex of the image manifest digest>"; v2 indexes are bound into a new image
 * index that the tag then names. zb sets span size and build tool; cfg may be NULL.
 * ret_digest gets the SOCI index digest (v1, the last platform's) or the new image
 * index digest (v2).
 */
SOCI_API int soci_layout_build_index(soci_layout *l, const char *ref, soci_builder *zb, const soci_config *cfg,
                                     soci_event_fn fn, void *userdata, char ret_digest[SOCI_DIGEST_BUFSIZE]);

struct soci_registry;

#define SOCI_EVENT_PUSHED 5 /**< a: digest, b: what ("blob", "manifest", "tag <name>") */

/**
 * Upload the image at ref (with everything it references: manifests, configs, layers,
 * zTOCs, bound SOCI indexes) to the registry repository dest_ref names, under dest_ref's
 * tag. v1 SOCI indexes of its manifests follow through the referrers fallback tag, merged
 * with the one the registry already has, so a registry without a referrers API works.
 */
SOCI_API int soci_layout_push(soci_layout *l, const char *ref, struct soci_registry *r, const char *dest_ref,
                              soci_event_fn fn, void *userdata);

/**
 * Build the SOCI index of an image in a registry and publish it there, without copying
 * its layers: what soci_layout_build_index() then soci_layout_push() publish for the same
 * image in a layout (the same zTOCs, index and, for v2, image index under the tag). ref
 * names the image by its tag (host/repository:tag; a digest alone is SOCI_EINVAL). The
 * image's manifests and configs go to a scratch layout made in scratch_parent (NULL:
 * $TMPDIR, else /tmp) and removed before returning; each layer of at least the minimum
 * size is streamed from the registry into zb in 8 MiB range requests, its digest checked
 * as it passes, so memory stays bounded whatever the layer's size. Events as for the two
 * calls it stands for; ret_digest as soci_layout_build_index's. Since 1.2.
 */
SOCI_API int soci_registry_build_index(struct soci_registry *r, const char *ref, const char *scratch_parent,
                                       soci_builder *zb, const soci_config *cfg, soci_event_fn fn, void *userdata,
                                       char ret_digest[SOCI_DIGEST_BUFSIZE]);

/** Called once per SOCI index found; platform may be "". */
typedef void (*soci_index_found_fn)(void *userdata, const char *index_digest, int version,
                                    const char *manifest_digest, const char *platform);

/**
 * Every SOCI index the layout holds: v1 indexes listed in index.json (and in referrers
 * fallback tags), v2 indexes inside the image indexes index.json names. Each once.
 */
SOCI_API int soci_layout_list_indexes(soci_layout *l, soci_index_found_fn fn, void *userdata);

SOCI_END_DECLS

#endif
