/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_OCI_LAYOUT_INTERNAL_H
#define SOCI_OCI_LAYOUT_INTERNAL_H

#include <limits.h>
#include <stdbool.h>

#include <jansson.h>
#include <soci/layout.h>
#include <soci/ztoc.h>

#include "util/oci_json.h"

/* Manifests and image indexes are small; registries refuse them past 4 MiB. */
#define OCI_MAX_MANIFEST ((uint64_t)4 << 20)

struct soci_registry;

struct soci_layout {
    char *dir;
    json_t *index; /* index.json */
    /* soci_registry_build_index: blobs not in the layout (the layers) are in this
     * repository of this registry (borrowed); NULL for a plain layout. */
    struct soci_registry *source;
    char source_repo[600];
};

int layout_write_file(const char *path, const void *data, size_t len);
int layout_blob_path(const struct soci_layout *l, const char *digest, char path[PATH_MAX]);

/* The index.json descriptor for ref (tag, digest, or NULL for the only image). */
int layout_find(struct soci_layout *l, const char *ref, json_t **ret);

/* Point tag at desc in index.json (desc is referenced, not copied). */
int layout_set_tag(struct soci_layout *l, const char *tag, json_t *desc);
/* List desc in index.json without a tag, once. */
int layout_add_untagged(struct soci_layout *l, json_t *desc);
int layout_save_index(struct soci_layout *l);

/* Layers of a layout whose blobs stay in the source registry (layout_remote.c): whether
 * digest is one, and a reader streaming it (range requests, in order). */
struct remote_reader;
bool layout_blob_remote(const struct soci_layout *l, const char *digest);
int layout_remote_open(struct soci_layout *l, const char *digest, uint64_t size, struct remote_reader **ret);
int64_t layout_remote_read(struct remote_reader *rr, void *buf, size_t len);
void layout_remote_free(struct remote_reader *rr);

/* Read and parse a JSON blob (a manifest, an index, a config). */
int layout_read_json(struct soci_layout *l, const char *digest, json_t **ret);

/* Serialise an OCI object as Go would and store it; its descriptor fields are set. */
int layout_write_manifest(struct soci_layout *l, const json_t *m, bool is_index, char digest[SOCI_DIGEST_BUFSIZE],
                          size_t *size);

/* Building prefetch artifacts (layout_prefetch.c): per layer of a manifest, bottom first,
 * its zTOC (NULL: the layer has none) and the span ranges asked for so far. */
struct prefetch_range;
struct layout_prefetch {
    soci_ztoc *z;
    struct prefetch_range *ranges;
    size_t n, cap;
};

/* Add the spans of file (an absolute path in the image) to the layer the container sees
 * it in: 1 when added, 0 (with *why) when it is not in any indexed layer or not a regular
 * file, a negative code on failure. */
int layout_prefetch_file(struct layout_prefetch *layers, size_t count, const char *file, const char **why);

/* Add spans [first, last] at priority to one layer's artifact. */
int layout_prefetch_add(struct layout_prefetch *p, uint32_t first, uint32_t last, int32_t priority);

#endif
