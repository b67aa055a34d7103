/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SOCI index manifests. Parsed into a JSON object normalised to the OCI image manifest
 * form (older releases wrote an artifact manifest with "blobs"; those become "layers"),
 * with a table of entries for readers. Serialised field by field as Go's image-spec
 * Manifest marshals, which is what the reference writes and re-checks by digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <soci/index.h>

#include "util/oci_json.h"
#include "util/digest.h"
#include "util/error.h"

#define EMPTY_CONFIG_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define ANN_LAYER_DIGEST "com.amazon.soci.image-layer-digest"
#define ANN_LAYER_MEDIA_TYPE "com.amazon.soci.image-layer-mediaType"
#define ANN_SPAN_SIZE "com.amazon.soci.span-size"
#define ANN_DISABLE_XATTRS "com.amazon.soci.disable-xattrs"
#define ANN_BUILD_TOOL "com.amazon.soci.build-tool-identifier"

/* Most entries an index may list: far above any image's layer count. */
#define MAX_ENTRIES 65536

struct soci_index {
    json_t *m; /* the manifest */
    int version;
    struct soci_index_entry *entries;
    uint32_t count;
};

static int version_of(const char *artifact_type)
{
    if (strcmp(artifact_type, SOCI_INDEX_ARTIFACT_TYPE_V1) == 0)
        return SOCI_INDEX_V1;
    if (strcmp(artifact_type, SOCI_INDEX_ARTIFACT_TYPE_V2) == 0)
        return SOCI_INDEX_V2;
    return 0;
}

/* Rebuild the entry table from the manifest's layers. */
static int index_entries(struct soci_index *ix)
{
    json_t *layers = json_object_get(ix->m, "layers");
    size_t n = json_array_size(layers);
    if (n > MAX_ENTRIES)
        return soci_fail(SOCI_ETOOBIG, "SOCI index: %zu entries", n);
    struct soci_index_entry *e = calloc(n ? n : 1, sizeof(*e));
    if (e == NULL)
        return soci_fail_nomem("index entries");
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(layers, i), *ann = json_object_get(d, "annotations");
        int r = oci_check_descriptor(d, "SOCI index layer");
        const char *span = oci_str(ann, ANN_SPAN_SIZE);
        char *end;
        if (r < 0) {
            free(e);
            return r;
        }
        e[i].media_type = oci_str(d, "mediaType");
        e[i].digest = oci_str(d, "digest");
        e[i].size = (uint64_t)json_integer_value(json_object_get(d, "size"));
        e[i].layer_digest = oci_str(ann, ANN_LAYER_DIGEST);
        e[i].layer_media_type = oci_str(ann, ANN_LAYER_MEDIA_TYPE);
        e[i].span_size = span[0] ? strtoull(span, &end, 10) : 0;
        e[i].kind = strcmp(e[i].media_type, SOCI_PREFETCH_MEDIA_TYPE) == 0 ? SOCI_ENTRY_PREFETCH : SOCI_ENTRY_ZTOC;
        e[i].disable_xattrs = strcmp(oci_str(ann, ANN_DISABLE_XATTRS), "true") == 0;
        uint8_t ignored[SHA256_LEN];
        if (e[i].kind == SOCI_ENTRY_ZTOC && !digest_parse(e[i].layer_digest, strlen(e[i].layer_digest), ignored)) {
            r = soci_fail(SOCI_EFORMAT, "SOCI index: zTOC %s names no valid image layer digest", e[i].digest);
            free(e);
            return r;
        }
    }
    free(ix->entries);
    ix->entries = e;
    ix->count = (uint32_t)n;
    return 0;
}

int soci_index_parse(const void *json, size_t len, soci_index **ret)
{
    json_t *m;
    if (json == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_index_parse: bad arguments");
    int r = oci_parse_object(json, len, "SOCI index", &m);
    if (r < 0)
        return r;

    /* The current form names the version in config.mediaType, the old one in artifactType. */
    int version = version_of(oci_str(json_object_get(m, "config"), "mediaType"));
    if (version == 0)
        version = version_of(oci_str(m, "artifactType"));
    if (version == 0) {
        json_decref(m);
        return soci_fail(SOCI_EFORMAT, "SOCI index: not a SOCI index (config media type \"%.100s\")",
                         oci_str(json_object_get(m, "config"), "mediaType"));
    }
    if (!json_is_array(json_object_get(m, "layers")) && json_is_array(json_object_get(m, "blobs")))
        json_object_set(m, "layers", json_object_get(m, "blobs"));
    if (json_object_get(m, "layers") != NULL && !json_is_array(json_object_get(m, "layers"))) {
        json_decref(m);
        return soci_fail(SOCI_EFORMAT, "SOCI index: layers is not a list");
    }
    json_t *subject = json_object_get(m, "subject");
    if (subject == NULL)
        subject = json_object_get(m, "refers");
    if (subject != NULL && (r = oci_check_descriptor(subject, "SOCI index subject")) < 0) {
        json_decref(m);
        return r;
    }

    struct soci_index *ix = calloc(1, sizeof(*ix));
    if (ix == NULL) {
        json_decref(m);
        return soci_fail_nomem("index");
    }
    ix->m = m;
    ix->version = version;
    if (subject != NULL && json_object_get(m, "subject") == NULL)
        json_object_set(m, "subject", subject);
    if ((r = index_entries(ix)) < 0) {
        soci_index_free(ix);
        return r;
    }
    *ret = ix;
    return 0;
}

int soci_index_new(int version, soci_index **ret)
{
    if (ret == NULL || (version != SOCI_INDEX_V1 && version != SOCI_INDEX_V2))
        return soci_fail(SOCI_EINVAL, "soci_index_new: version %d", version);
    struct soci_index *ix = calloc(1, sizeof(*ix));
    json_t *m = json_pack("{s:i,s:s,s:{s:s,s:s,s:i},s:[]}", "schemaVersion", 2, "mediaType",
                          OCI_MANIFEST_MEDIA_TYPE, "config", "mediaType",
                          version == SOCI_INDEX_V1 ? SOCI_INDEX_ARTIFACT_TYPE_V1 : SOCI_INDEX_ARTIFACT_TYPE_V2,
                          "digest", EMPTY_CONFIG_DIGEST, "size", 2, "layers");
    if (ix == NULL || m == NULL) {
        free(ix);
        json_decref(m);
        return soci_fail_nomem("index");
    }
    ix->m = m;
    ix->version = version;
    *ret = ix;
    return 0;
}

void soci_index_free(soci_index *ix)
{
    if (ix == NULL)
        return;
    json_decref(ix->m);
    free(ix->entries);
    free(ix);
}

int soci_index_version(const soci_index *ix)
{
    return ix->version;
}

const char *soci_index_build_tool(const soci_index *ix)
{
    return oci_str(json_object_get(ix->m, "annotations"), ANN_BUILD_TOOL);
}

int soci_index_subject(const soci_index *ix, struct soci_descriptor *ret, size_t ret_size)
{
    json_t *s = json_object_get(ix->m, "subject");
    if (ret == NULL || ret_size == 0)
        return soci_fail(SOCI_EINVAL, "soci_index_subject: bad arguments");
    if (s == NULL)
        return soci_fail(SOCI_ENOTFOUND, "SOCI index has no subject");
    struct soci_descriptor d = {oci_str(s, "mediaType"), oci_str(s, "digest"),
                                (uint64_t)json_integer_value(json_object_get(s, "size")), oci_str(s, "artifactType")};
    memset(ret, 0, ret_size);
    memcpy(ret, &d, ret_size < sizeof(d) ? ret_size : sizeof(d));
    return 0;
}

uint32_t soci_index_entry_count(const soci_index *ix)
{
    return ix->count;
}

int soci_index_entry(const soci_index *ix, uint32_t i, struct soci_index_entry *ret, size_t ret_size)
{
    if (ix == NULL || ret == NULL || ret_size == 0 || i >= ix->count)
        return soci_fail(SOCI_EINVAL, "soci_index_entry: no entry %u", i);
    memset(ret, 0, ret_size);
    memcpy(ret, &ix->entries[i], ret_size < sizeof(*ret) ? ret_size : sizeof(*ret));
    return 0;
}

static int find_entry(const soci_index *ix, uint32_t kind, const char *layer_digest, uint32_t *ret)
{
    for (uint32_t i = 0; ix && layer_digest && ret && i < ix->count; i++) {
        if (ix->entries[i].kind == kind && strcmp(ix->entries[i].layer_digest, layer_digest) == 0) {
            *ret = i;
            return 0;
        }
    }
    return soci_fail(SOCI_ENOTFOUND, "SOCI index has no %s for layer %s",
                     kind == SOCI_ENTRY_ZTOC ? "zTOC" : "prefetch artifact", layer_digest ? layer_digest : "(null)");
}

int soci_index_find_layer(const soci_index *ix, const char *layer_digest, uint32_t *ret)
{
    return find_entry(ix, SOCI_ENTRY_ZTOC, layer_digest, ret);
}

int soci_index_find_prefetch(const soci_index *ix, const char *layer_digest, uint32_t *ret)
{
    return find_entry(ix, SOCI_ENTRY_PREFETCH, layer_digest, ret);
}

static bool valid_digest(const char *d)
{
    uint8_t ignored[SHA256_LEN];
    return d != NULL && digest_parse(d, strlen(d), ignored);
}

int soci_index_set_subject(soci_index *ix, const char *media_type, const char *digest, uint64_t size)
{
    if (ix == NULL || media_type == NULL || !valid_digest(digest) || size > INT64_MAX)
        return soci_fail(SOCI_EINVAL, "soci_index_set_subject: bad descriptor");
    json_t *s = json_pack("{s:s,s:s,s:I}", "mediaType", media_type, "digest", digest, "size", (json_int_t)size);
    if (s == NULL || json_object_set_new(ix->m, "subject", s) < 0)
        return soci_fail_nomem("subject");
    return 0;
}

int soci_index_set_build_tool(soci_index *ix, const char *tool)
{
    if (ix == NULL || tool == NULL)
        return soci_fail(SOCI_EINVAL, "soci_index_set_build_tool: bad arguments");
    json_t *ann = json_pack("{s:s}", ANN_BUILD_TOOL, tool);
    if (ann == NULL || json_object_set_new(ix->m, "annotations", ann) < 0)
        return soci_fail_nomem("annotations");
    return 0;
}

int soci_index_add_ztoc(soci_index *ix, const char *ztoc_digest, uint64_t ztoc_size, const char *layer_digest,
                        const char *layer_media_type, uint64_t span_size, int disable_xattrs)
{
    char span[24];
    if (ix == NULL || !valid_digest(ztoc_digest) || !valid_digest(layer_digest) || layer_media_type == NULL ||
        ztoc_size > INT64_MAX)
        return soci_fail(SOCI_EINVAL, "soci_index_add_ztoc: bad arguments");
    snprintf(span, sizeof(span), "%llu", (unsigned long long)span_size);
    json_t *ann = json_pack("{s:s,s:s,s:s}", ANN_LAYER_DIGEST, layer_digest, ANN_LAYER_MEDIA_TYPE, layer_media_type,
                            ANN_SPAN_SIZE, span);
    if (ann != NULL && disable_xattrs)
        json_object_set_new(ann, ANN_DISABLE_XATTRS, json_string("true"));
    json_t *d = json_pack("{s:s,s:s,s:I,s:o}", "mediaType", SOCI_ZTOC_MEDIA_TYPE, "digest", ztoc_digest, "size",
                          (json_int_t)ztoc_size, "annotations", ann);
    if (d == NULL || json_array_append_new(json_object_get(ix->m, "layers"), d) < 0)
        return soci_fail_nomem("index entry");
    return index_entries(ix);
}

int soci_index_add_prefetch(soci_index *ix, const char *artifact_digest, uint64_t artifact_size,
                            const char *layer_digest)
{
    if (ix == NULL || !valid_digest(artifact_digest) || !valid_digest(layer_digest) || artifact_size > INT64_MAX)
        return soci_fail(SOCI_EINVAL, "soci_index_add_prefetch: bad arguments");
    json_t *d = json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType", SOCI_PREFETCH_MEDIA_TYPE, "digest", artifact_digest,
                          "size", (json_int_t)artifact_size, "annotations", ANN_LAYER_DIGEST, layer_digest);
    if (d == NULL || json_array_append_new(json_object_get(ix->m, "layers"), d) < 0)
        return soci_fail_nomem("index entry");
    return index_entries(ix);
}

int soci_index_serialize(const soci_index *ix, void **ret, size_t *ret_len)
{
    struct jw w;
    if (ix == NULL || ret == NULL || ret_len == NULL)
        return soci_fail(SOCI_EINVAL, "soci_index_serialize: bad arguments");
    jw_init(&w);
    oci_write_manifest(&w, ix->m);
    return jw_finish(&w, (char **)ret, ret_len);
}
