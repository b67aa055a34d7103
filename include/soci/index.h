/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/index.h
 * SOCI index manifests: parse them as the reference writes them (v1 and v2, and the
 * older artifact-manifest form), and build new ones serialised exactly as the reference
 * serialises them (Go's encoding/json of an OCI image manifest), so that the reference
 * accepts them.
 *
 * A SOCI index is an OCI image manifest whose config media type names the index
 * version and whose layers are the zTOCs, each annotated with the image layer it indexes.
 * A soci_index is not thread-safe while being built; once built or parsed, any number
 * of threads may read it.
 */
#ifndef SOCI_INDEX_H
#define SOCI_INDEX_H

#include <soci/common.h>

SOCI_BEGIN_DECLS

/** A SOCI index manifest, parsed or being built; used by one thread at a time. */
typedef struct soci_index soci_index;

#define SOCI_INDEX_V1 1 /**< linked to its image by `subject` (referrers API / tag fallback) */
#define SOCI_INDEX_V2 2 /**< bound into a new image index by annotations */

#define SOCI_INDEX_ARTIFACT_TYPE_V1 "application/vnd.amazon.soci.index.v1+json" /**< artifact type of a v1 index */
#define SOCI_INDEX_ARTIFACT_TYPE_V2 "application/vnd.amazon.soci.index.v2+json" /**< artifact type of a v2 index */
#define SOCI_ZTOC_MEDIA_TYPE "application/octet-stream" /**< media type of zTOC blobs, as the reference writes them */
#define SOCI_PREFETCH_MEDIA_TYPE "application/vnd.amazon.soci.prefetch.v1+json" /**< media type of prefetch artifacts */

/* Kinds of index entries. */
#define SOCI_ENTRY_ZTOC 1     /**< a zTOC */
#define SOCI_ENTRY_PREFETCH 2 /**< a prefetch artifact */

/** One artifact listed by an index. Strings live as long as the index. */
struct soci_index_entry {
    const char *media_type;       /**< SOCI_ZTOC_MEDIA_TYPE or SOCI_PREFETCH_MEDIA_TYPE */
    const char *digest;           /**< of the zTOC (or prefetch artifact) blob */
    uint64_t size;                /**< of that blob */
    const char *layer_digest;     /**< the image layer it belongs to */
    const char *layer_media_type; /**< "" if not annotated */
    uint64_t span_size;           /**< 0 if not annotated */
    uint32_t kind;                /**< SOCI_ENTRY_* */
    uint32_t disable_xattrs;      /**< 1 when the index says the layer has no xattrs */
};

/** A descriptor. Strings live as long as the object it came from. */
struct soci_descriptor {
    const char *media_type;    /**< of the object described */
    const char *digest;        /**< "sha256:<hex>" */
    uint64_t size;             /**< bytes */
    const char *artifact_type; /**< "" when there is none */
};

/** Parse a SOCI index manifest (any valid JSON form the reference has written). */
SOCI_API int soci_index_parse(const void *json, size_t len, soci_index **ret);

/** Start an empty index of version SOCI_INDEX_V1 or SOCI_INDEX_V2. */
SOCI_API int soci_index_new(int version, soci_index **ret);

/** Free an index. Accepts NULL. */
SOCI_API void soci_index_free(soci_index *ix);

/** SOCI_INDEX_V1 or SOCI_INDEX_V2. */
SOCI_API int soci_index_version(const soci_index *ix);

/** The build tool annotation, or "". */
SOCI_API const char *soci_index_build_tool(const soci_index *ix);

/** The image manifest a v1 index refers to; SOCI_ENOTFOUND if it has none. */
SOCI_API int soci_index_subject(const soci_index *ix, struct soci_descriptor *ret, size_t ret_size);

/** Number of blobs (zTOCs, prefetch artifacts) the index lists. */
SOCI_API uint32_t soci_index_entry_count(const soci_index *ix);
/** Entry i into *ret (ret_size bytes at most). Strings live as long as ix. */
SOCI_API int soci_index_entry(const soci_index *ix, uint32_t i, struct soci_index_entry *ret, size_t ret_size);

/** The zTOC entry of an image layer; SOCI_ENOTFOUND if the layer has none (too small). */
SOCI_API int soci_index_find_layer(const soci_index *ix, const char *layer_digest, uint32_t *ret);

/** Building. Strings are copied. Set the image manifest the index describes (v1: its subject). */
SOCI_API int soci_index_set_subject(soci_index *ix, const char *media_type, const char *digest, uint64_t size);
/** Set the build tool annotation (copied). */
SOCI_API int soci_index_set_build_tool(soci_index *ix, const char *tool);
/**
 * Add the zTOC of a layer: its digest and size, the layer's digest and media type, the
 * span size it was built with, and whether the layer has no xattrs (the reference's
 * optimisation; 0 to leave the annotation out).
 */
SOCI_API int soci_index_add_ztoc(soci_index *ix, const char *ztoc_digest, uint64_t ztoc_size,
                                 const char *layer_digest, const char *layer_media_type, uint64_t span_size,
                                 int disable_xattrs);

/**
 * Add a prefetch artifact of a layer (the reference's `soci create --prefetch-file`): the
 * artifact blob's digest and size, and the digest of the layer whose spans it names.
 * Since 1.1.
 */
SOCI_API int soci_index_add_prefetch(soci_index *ix, const char *artifact_digest, uint64_t artifact_size,
                                     const char *layer_digest);

/** The prefetch artifact entry of an image layer; SOCI_ENOTFOUND if it has none. Since 1.1. */
SOCI_API int soci_index_find_prefetch(const soci_index *ix, const char *layer_digest, uint32_t *ret);

/**
 * The index as JSON, byte for byte what the reference writes for the same content
 * (compact, no trailing newline). Free *ret with soci_free().
 */
SOCI_API int soci_index_serialize(const soci_index *ix, void **ret, size_t *ret_len);

SOCI_END_DECLS

#endif
