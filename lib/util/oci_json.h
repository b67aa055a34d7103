/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI image-spec objects (descriptor, platform, manifest, index) held as parsed JSON,
 * written back as Go's image-spec structs marshal them: fields in struct order, empty
 * optional fields left out, unknown fields dropped, annotation keys sorted.
 */
#ifndef SOCI_UTIL_OCI_JSON_H
#define SOCI_UTIL_OCI_JSON_H

#include <jansson.h>

#include "util/json_go.h"

#define OCI_MANIFEST_MEDIA_TYPE "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX_MEDIA_TYPE "application/vnd.oci.image.index.v1+json"
#define OCI_CONFIG_MEDIA_TYPE "application/vnd.oci.image.config.v1+json"
#define DOCKER_MANIFEST_MEDIA_TYPE "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_LIST_MEDIA_TYPE "application/vnd.docker.distribution.manifest.list.v2+json"

void oci_write_descriptor(struct jw *w, const json_t *d);
void oci_write_manifest(struct jw *w, const json_t *m);
void oci_write_index(struct jw *w, const json_t *ix);

/* A string member or "" (never NULL). */
const char *oci_str(const json_t *o, const char *key);

/* Parse JSON text into an object; SOCI_EFORMAT naming `what` if it is not one. */
int oci_parse_object(const void *text, size_t len, const char *what, json_t **ret);

/* Check a descriptor has a media type, a sha256 digest and a size; SOCI_EFORMAT if not. */
int oci_check_descriptor(const json_t *d, const char *what);

#endif
