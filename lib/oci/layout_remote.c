/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Indexing an image where it lies, in a registry, without a copy of its layers: a scratch
 * layout gets the image's manifests and configs (small, digest checked), its layers stay
 * in the registry — the index build streams each from there into the builder (range
 * requests of STREAM_CHUNK, the layer's digest checked as it passes) and the push back
 * skips them, since the repository has them. Then the usual build (layout_index.c) and
 * push (layout_push.c) run over that layout, so what is published is exactly what
 * `soci-index create` + `push` publish for the same image.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <soci/registry.h>

#include "oci/layout_internal.h"
#include "remote/reference.h"
#include "util/error.h"
#include "util/file.h"

#define STREAM_CHUNK ((size_t)8 << 20)
#define MAX_CHILDREN 256 /* platforms of one image index that are fetched */

/* ---- a layer streamed from the source ---- */

struct remote_reader {
    soci_blob *blob;
    uint64_t size, off;
    uint8_t *buf;
    size_t have, pos;
};

int layout_remote_open(struct soci_layout *l, const char *digest, uint64_t size, struct remote_reader **ret)
{
    struct remote_reader *rr = calloc(1, sizeof(*rr));
    if (rr == NULL || (rr->buf = malloc(STREAM_CHUNK)) == NULL) {
        free(rr);
        return soci_fail_nomem("layer stream");
    }
    int r = soci_registry_open_blob(l->source, l->source_repo, digest, size, &rr->blob);
    if (r < 0) {
        free(rr->buf);
        free(rr);
        return r;
    }
    rr->size = size;
    *ret = rr;
    return 0;
}

int64_t layout_remote_read(struct remote_reader *rr, void *buf, size_t len)
{
    if (rr->pos == rr->have) {
        if (rr->off >= rr->size)
            return 0;
        size_t n = rr->size - rr->off < STREAM_CHUNK ? (size_t)(rr->size - rr->off) : STREAM_CHUNK;
        int r = soci_blob_read_at(rr->blob, rr->buf, n, rr->off);
        if (r < 0)
            return r;
        rr->off += n;
        rr->have = n;
        rr->pos = 0;
    }
    size_t n = rr->have - rr->pos < len ? rr->have - rr->pos : len;
    memcpy(buf, rr->buf + rr->pos, n);
    rr->pos += n;
    return (int64_t)n;
}

void layout_remote_free(struct remote_reader *rr)
{
    if (rr == NULL)
        return;
    soci_blob_unref(rr->blob);
    free(rr->buf);
    free(rr);
}

bool layout_blob_remote(const struct soci_layout *l, const char *digest)
{
    char path[PATH_MAX];
    struct stat st;
    return l->source != NULL && layout_blob_path(l, digest, path) == 0 && stat(path, &st) != 0;
}

/* ---- the scratch layout ---- */

/* Fetch the manifest (or image index) at ref into l; its descriptor into *ret. */
static int fetch_manifest(struct soci_layout *l, const char *ref, json_t **ret)
{
    char digest[SOCI_REGISTRY_DIGEST_BUFSIZE], stored[SOCI_DIGEST_BUFSIZE];
    void *data;
    size_t len;
    json_t *m;
    int r = soci_registry_get_manifest(l->source, ref, &data, &len, digest);
    if (r < 0)
        return r;
    if ((r = oci_parse_object(data, len, digest, &m)) == 0 && (r = soci_layout_write_blob(l, data, len, stored)) == 0 &&
        strcmp(stored, digest) != 0)
        r = soci_fail(SOCI_EDIGEST, "%s: manifest is %s, not %s", ref, stored, digest);
    soci_free(data);
    if (r < 0)
        return r;
    const char *mt = oci_str(m, "mediaType");
    if (mt[0] == '\0')
        mt = json_is_array(json_object_get(m, "manifests")) ? OCI_INDEX_MEDIA_TYPE : OCI_MANIFEST_MEDIA_TYPE;
    *ret = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)len);
    json_decref(m);
    return *ret ? 0 : soci_fail_nomem("descriptor");
}

/* The config of the image manifest with this digest, into l. */
static int fetch_config(struct soci_layout *l, const char *manifest_digest)
{
    json_t *m;
    void *data;
    size_t len;
    char stored[SOCI_DIGEST_BUFSIZE];
    int r = layout_read_json(l, manifest_digest, &m);
    if (r < 0)
        return r;
    const char *config = oci_str(json_object_get(m, "config"), "digest");
    if (config[0] && (r = soci_registry_get_blob(l->source, l->source_repo, config, OCI_MAX_MANIFEST, &data, &len)) == 0) {
        r = soci_layout_write_blob(l, data, len, stored);
        soci_free(data);
    }
    json_decref(m);
    return r;
}

/* The image at ref, its platforms' manifests and configs, tagged `tag` in l. */
static int fetch_image(struct soci_layout *l, const char *ref, const char *tag)
{
    json_t *desc, *ix = NULL;
    char child[800];
    int r = fetch_manifest(l, ref, &desc);
    if (r < 0)
        return r;
    if (strcmp(oci_str(desc, "mediaType"), OCI_INDEX_MEDIA_TYPE) != 0 &&
        strcmp(oci_str(desc, "mediaType"), DOCKER_LIST_MEDIA_TYPE) != 0) {
        r = fetch_config(l, oci_str(desc, "digest"));
    } else if ((r = layout_read_json(l, oci_str(desc, "digest"), &ix)) == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(ix, "manifests"), i, d) {
            json_t *got;
            if (i >= MAX_CHILDREN) {
                r = soci_fail(SOCI_ETOOBIG, "%s: more than %d manifests", ref, MAX_CHILDREN);
                break;
            }
            snprintf(child, sizeof(child), "%s@%s", l->source_repo, oci_str(d, "digest"));
            /* Artifacts (an earlier SOCI index among them) are kept as they are. */
            if ((r = fetch_manifest(l, child, &got)) < 0)
                break;
            json_decref(got);
            if (oci_str(d, "artifactType")[0] == '\0' && json_object_get(d, "platform") != NULL &&
                (r = fetch_config(l, oci_str(d, "digest"))) < 0)
                break;
        }
        json_decref(ix);
    }
    if (r == 0)
        r = layout_set_tag(l, tag, desc);
    json_decref(desc);
    return r == 0 ? layout_save_index(l) : r;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* The scratch layout is ours alone (made by mkdtemp): remove it whole. */
static void remove_scratch(const char *dir)
{
    if (dir[0])
        nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int make_scratch(const char *parent, char dir[PATH_MAX])
{
    const char *base = parent ? parent : getenv("TMPDIR");
    char path[PATH_MAX + 32];
    if ((size_t)snprintf(dir, PATH_MAX, "%s/soci-index-XXXXXX", base && *base ? base : "/tmp") >= PATH_MAX)
        return soci_fail(SOCI_EINVAL, "scratch directory: path too long");
    if (mkdtemp(dir) == NULL)
        return soci_fail(SOCI_EIO, "%s: %s", dir, strerror(errno));
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    static const char index[] = "{\"schemaVersion\":2,\"manifests\":[]}";
    snprintf(path, sizeof(path), "%s/blobs", dir);
    if (mkdir(path, 0700) != 0 || (snprintf(path, sizeof(path), "%s/blobs/sha256", dir), mkdir(path, 0700)) != 0)
        return soci_fail(SOCI_EIO, "%s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/oci-layout", dir);
    int r = layout_write_file(path, layout, sizeof(layout) - 1);
    snprintf(path, sizeof(path), "%s/index.json", dir);
    if (r == 0)
        r = layout_write_file(path, index, sizeof(index) - 1);
    return r;
}

int soci_registry_build_index(soci_registry *r, const char *ref, const char *scratch_parent, soci_builder *zb,
                              const soci_config *cfg, soci_event_fn fn, void *userdata,
                              char ret_digest[SOCI_DIGEST_BUFSIZE])
{
    static const char tag[] = "soci-indexing";
    struct image_ref parsed;
    char dir[PATH_MAX], dest[800];
    soci_layout *l = NULL;
    int rc;
    if (r == NULL || ref == NULL || zb == NULL || ret_digest == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_build_index: bad arguments");
    if ((rc = ref_parse(ref, &parsed)) < 0)
        return rc;
    if (parsed.tag[0] == '\0' || parsed.digest[0])
        return soci_fail(SOCI_EINVAL, "%s: index an image by its tag (its index is published under it)", ref);
    dir[0] = '\0';
    if ((rc = make_scratch(scratch_parent, dir)) < 0) {
        remove_scratch(dir);
        return rc;
    }
    if ((rc = soci_layout_open(dir, &l)) == 0) {
        l->source = r;
        snprintf(l->source_repo, sizeof(l->source_repo), "%s/%s", parsed.host, parsed.repo);
        /* Published under the tag it came by (v2 moves the tag to the new image index). */
        snprintf(dest, sizeof(dest), "%s:%s", l->source_repo, parsed.tag);
        if ((rc = fetch_image(l, ref, tag)) == 0 && (rc = soci_layout_build_index(l, tag, zb, cfg, fn, userdata, ret_digest)) == 0)
            rc = soci_layout_push(l, tag, r, dest, fn, userdata);
    }
    soci_layout_free(l);
    remove_scratch(dir);
    return rc;
}
