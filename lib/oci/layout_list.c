/* SPDX-License-Identifier: Apache-2.0 */
/* Finding the SOCI indexes a layout holds, wherever the reference would have put them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/layout_internal.h"
#include "util/error.h"

#define ANN_MANIFEST_DIGEST "com.amazon.soci.image-manifest-digest"

#define SEEN_KEY 200

struct seen {
    char (*digests)[SEEN_KEY];
    size_t n, cap;
};

static bool first_time(struct seen *s, const char *digest)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->digests[i], digest) == 0)
            return false;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void *p = realloc(s->digests, cap * sizeof(*s->digests));
        if (p == NULL)
            return false;
        s->digests = p;
        s->cap = cap;
    }
    snprintf(s->digests[s->n++], SEEN_KEY, "%s", digest);
    return true;
}

static int version_of(const char *artifact_type)
{
    return strcmp(artifact_type, SOCI_INDEX_ARTIFACT_TYPE_V1) == 0   ? SOCI_INDEX_V1
           : strcmp(artifact_type, SOCI_INDEX_ARTIFACT_TYPE_V2) == 0 ? SOCI_INDEX_V2
                                                                    : 0;
}

/* Report one index descriptor; a v1 index names its image manifest as its subject. */
static void report(struct soci_layout *l, const json_t *d, struct seen *seen, soci_index_found_fn fn, void *ud)
{
    const char *digest = oci_str(d, "digest");
    int version = version_of(oci_str(d, "artifactType"));
    char platform[100] = "", manifest[SOCI_DIGEST_BUFSIZE];
    const json_t *p = json_object_get(d, "platform");
    if (json_is_object(p)) {
        const char *v = oci_str(p, "variant");
        snprintf(platform, sizeof(platform), "%s/%s%s%s", oci_str(p, "os"), oci_str(p, "architecture"),
                 v[0] ? "/" : "", v);
    }
    /* One index may serve several platforms whose layers are the same: once per platform. */
    char key[SOCI_DIGEST_BUFSIZE + sizeof(platform)];
    snprintf(key, sizeof(key), "%s %s", digest, platform);
    if (version == 0 || !first_time(seen, key))
        return;
    snprintf(manifest, sizeof(manifest), "%s", oci_str(json_object_get(d, "annotations"), ANN_MANIFEST_DIGEST));
    json_t *m;
    if (manifest[0] == '\0' && layout_read_json(l, digest, &m) == 0) {
        snprintf(manifest, sizeof(manifest), "%s", oci_str(json_object_get(m, "subject"), "digest"));
        json_decref(m);
    }
    fn(ud, digest, version, manifest, platform);
}

int soci_layout_list_indexes(soci_layout *l, soci_index_found_fn fn, void *userdata)
{
    struct seen seen = {0};
    json_t *d;
    size_t i;
    if (l == NULL || fn == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layout_list_indexes: bad arguments");
    json_array_foreach(json_object_get(l->index, "manifests"), i, d) {
        const char *mt = oci_str(d, "mediaType");
        if (version_of(oci_str(d, "artifactType"))) {
            report(l, d, &seen, fn, userdata);
        } else if (strcmp(mt, OCI_INDEX_MEDIA_TYPE) == 0 || strcmp(mt, DOCKER_LIST_MEDIA_TYPE) == 0) {
            json_t *ix, *x;
            size_t j;
            if (layout_read_json(l, oci_str(d, "digest"), &ix) < 0)
                continue;
            json_array_foreach(json_object_get(ix, "manifests"), j, x) report(l, x, &seen, fn, userdata);
            json_decref(ix);
        }
    }
    free(seen.digests);
    return 0;
}
