/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pushing an image from a layout to a registry: children before parents (blobs, then
 * manifests, then the image index under its tag), each blob skipped when the registry
 * has it. v1 SOCI indexes travel through the referrers fallback tag "sha256-<hex>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/registry.h>

#include "oci/layout_internal.h"
#include "remote/reference.h"
#include "util/error.h"

/* Layers read whole for upload: bounded, as everything read into memory is. */
#define MAX_PUSH_BLOB ((uint64_t)2 << 30)
#define MAX_DEPTH 4

struct push {
    struct soci_layout *l;
    soci_registry *r;
    char repo[600]; /* host/repo */
    soci_event_fn fn;
    void *userdata;
};

static void event(const struct push *p, const char *a, const char *b)
{
    if (p->fn)
        p->fn(p->userdata, SOCI_EVENT_PUSHED, a, b);
}

static int push_blob(struct push *p, const char *digest)
{
    void *data;
    size_t len;
    /* A layer left in the source repository is there already when pushing back to it. */
    if (layout_blob_remote(p->l, digest) && strcmp(p->l->source_repo, p->repo) == 0)
        return 0;
    int r = soci_layout_read_blob(p->l, digest, MAX_PUSH_BLOB, &data, &len);
    if (r == 0)
        r = soci_registry_put_blob(p->r, p->repo, data, len);
    soci_free(data);
    if (r == 0)
        event(p, digest, "blob");
    return r;
}

/* Push the object desc names and everything under it; tag it when tag is not NULL. */
static int push_object(struct push *p, const json_t *desc, const char *tag, int depth)
{
    const char *digest = oci_str(desc, "digest"), *mt = oci_str(desc, "mediaType");
    void *data;
    size_t len;
    json_t *obj;
    char ref[800];
    int r;
    if (depth > MAX_DEPTH)
        return soci_fail(SOCI_EFORMAT, "%s: image indexes nested too deep", digest);
    if ((r = soci_layout_read_blob(p->l, digest, OCI_MAX_MANIFEST, &data, &len)) < 0)
        return r;
    if ((r = oci_parse_object(data, len, digest, &obj)) < 0) {
        soci_free(data);
        return r;
    }
    size_t i;
    json_t *child;
    if (json_is_array(json_object_get(obj, "manifests"))) {
        json_array_foreach(json_object_get(obj, "manifests"), i, child) {
            if ((r = push_object(p, child, NULL, depth + 1)) < 0)
                break;
        }
    } else {
        const json_t *config = json_object_get(obj, "config");
        if (config && (r = push_blob(p, oci_str(config, "digest"))) < 0)
            goto out;
        json_array_foreach(json_object_get(obj, "layers"), i, child) {
            if ((r = push_blob(p, oci_str(child, "digest"))) < 0)
                break;
        }
    }
    if (r < 0)
        goto out;
    snprintf(ref, sizeof(ref), tag ? "%s:%s" : "%s@%s", p->repo, tag ? tag : digest);
    if ((r = soci_registry_put_manifest(p->r, ref, mt[0] ? mt : oci_str(obj, "mediaType"), data, len)) == 0)
        event(p, digest, tag ? tag : "manifest");
out:
    json_decref(obj);
    soci_free(data);
    return r;
}

/* v1: the layout's referrers of manifest_digest, merged into the registry's fallback tag. */
static int push_referrers(struct push *p, const char *manifest_digest)
{
    char tag[80], ref[800];
    json_t *local_desc, *local, *remote = NULL;
    void *data;
    size_t len;
    int r;
    snprintf(tag, sizeof(tag), "sha256-%s", manifest_digest + 7);
    if (layout_find(p->l, tag, &local_desc) < 0) {
        soci_clear_error();
        return 0;
    }
    if ((r = layout_read_json(p->l, oci_str(local_desc, "digest"), &local)) < 0)
        return r;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(local, "manifests"), i, d) {
        if ((r = push_object(p, d, NULL, 1)) < 0)
            goto out;
    }
    snprintf(ref, sizeof(ref), "%s:%s", p->repo, tag);
    if (soci_registry_get_manifest(p->r, ref, &data, &len, NULL) == 0) {
        oci_parse_object(data, len, "remote referrers", &remote);
        soci_free(data);
    }
    soci_clear_error();
    json_t *merged = remote && json_is_array(json_object_get(remote, "manifests")) ? json_incref(remote) : json_incref(local);
    if (merged != local) {
        json_array_foreach(json_object_get(local, "manifests"), i, d) {
            size_t j;
            json_t *x;
            bool present = false;
            json_array_foreach(json_object_get(merged, "manifests"), j, x) present |= strcmp(oci_str(x, "digest"), oci_str(d, "digest")) == 0;
            if (!present)
                json_array_append(json_object_get(merged, "manifests"), d);
        }
    }
    struct jw w;
    char *text;
    size_t tlen;
    jw_init(&w);
    oci_write_index(&w, merged);
    json_decref(merged);
    if ((r = jw_finish(&w, &text, &tlen)) < 0)
        goto out;
    r = soci_registry_put_manifest(p->r, ref, OCI_INDEX_MEDIA_TYPE, text, tlen);
    free(text);
    if (r == 0)
        event(p, manifest_digest, "referrers");
out:
    json_decref(remote);
    json_decref(local);
    return r;
}

int soci_layout_push(soci_layout *l, const char *ref, soci_registry *reg, const char *dest_ref, soci_event_fn fn,
                     void *userdata)
{
    struct image_ref dest;
    json_t *desc;
    int r;
    if (l == NULL || reg == NULL || dest_ref == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layout_push: bad arguments");
    if ((r = ref_parse(dest_ref, &dest)) < 0 || (r = layout_find(l, ref, &desc)) < 0)
        return r;
    if (dest.digest[0])
        return soci_fail(SOCI_EINVAL, "push: %s names a digest; push to a tag", dest_ref);
    struct push p = {.l = l, .r = reg, .fn = fn, .userdata = userdata};
    snprintf(p.repo, sizeof(p.repo), "%s/%s", dest.host, dest.repo);
    json_t *copy = json_deep_copy(desc);
    if ((r = push_object(&p, copy, dest.tag, 0)) < 0)
        goto out;

    /* The referrers of every image manifest pushed. */
    if (json_is_array(json_object_get(copy, "manifests")) || strcmp(oci_str(copy, "mediaType"), OCI_INDEX_MEDIA_TYPE) == 0) {
        json_t *ix, *d;
        size_t i;
        if ((r = layout_read_json(l, oci_str(copy, "digest"), &ix)) < 0)
            goto out;
        json_array_foreach(json_object_get(ix, "manifests"), i, d) {
            if (oci_str(d, "artifactType")[0] == '\0' && (r = push_referrers(&p, oci_str(d, "digest"))) < 0)
                break;
        }
        json_decref(ix);
    } else {
        r = push_referrers(&p, oci_str(copy, "digest"));
    }
out:
    json_decref(copy);
    return r;
}
