/* SPDX-License-Identifier: Apache-2.0 */
/* An OCI image layout directory: index.json, blobs/sha256/<hex>, atomic writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <soci/layout.h>

#include "oci/layout_internal.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/file.h"

/* index.json is small; this bounds what a hostile one can make us read. */
#define MAX_INDEX_JSON ((uint64_t)16 << 20)

static int load_index(struct soci_layout *l)
{
    char path[PATH_MAX];
    void *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/index.json", l->dir);
    int r = read_file_capped(path, MAX_INDEX_JSON, &text, &len);
    if (r < 0)
        return r;
    json_t *ix;
    r = oci_parse_object(text, len, "index.json", &ix);
    free(text);
    if (r < 0)
        return soci_fail_prefix(r, "%s", l->dir);
    if (!json_is_array(json_object_get(ix, "manifests"))) {
        json_decref(ix);
        return soci_fail(SOCI_EFORMAT, "%s/index.json: no manifests list", l->dir);
    }
    json_decref(l->index);
    l->index = ix;
    return 0;
}

int soci_layout_open(const char *dir, soci_layout **ret)
{
    struct stat st;
    char path[PATH_MAX];
    if (dir == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layout_open: bad arguments");
    if (snprintf(path, sizeof(path), "%s/oci-layout", dir) >= (int)sizeof(path) || stat(path, &st) != 0)
        return soci_fail(SOCI_ENOTFOUND, "%s: not an OCI image layout (no oci-layout file)", dir);
    struct soci_layout *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->dir = strdup(dir)) == NULL) {
        free(l);
        return soci_fail_nomem("layout");
    }
    int r = load_index(l);
    if (r < 0) {
        soci_layout_free(l);
        return r;
    }
    *ret = l;
    return 0;
}

void soci_layout_free(soci_layout *l)
{
    if (l == NULL)
        return;
    json_decref(l->index);
    free(l->dir);
    free(l);
}

int layout_blob_path(const struct soci_layout *l, const char *digest, char path[PATH_MAX])
{
    uint8_t d[SHA256_LEN];
    if (digest == NULL || !digest_parse(digest, strlen(digest), d))
        return soci_fail(SOCI_EINVAL, "bad digest \"%.80s\"", digest ? digest : "(null)");
    if (snprintf(path, PATH_MAX, "%s/blobs/sha256/%s", l->dir, digest + 7) >= PATH_MAX)
        return soci_fail(SOCI_EINVAL, "%s: path too long", l->dir);
    return 0;
}

int soci_layout_open_blob(soci_layout *l, const char *digest, soci_blob **ret)
{
    char path[PATH_MAX];
    int r = layout_blob_path(l, digest, path);
    return r < 0 ? r : soci_blob_open_file(path, ret);
}

int soci_layout_read_blob(soci_layout *l, const char *digest, uint64_t max_size, void **ret, size_t *ret_len)
{
    char path[PATH_MAX], got[DIGEST_TEXT_LEN + 1];
    uint8_t d[SHA256_LEN];
    void *data;
    size_t len;
    int r = layout_blob_path(l, digest, path);
    if (r < 0 || (r = read_file_capped(path, max_size, &data, &len)) < 0)
        return r;
    if ((r = sha256(data, len, d)) < 0) {
        free(data);
        return r;
    }
    digest_format(d, got);
    if (strcmp(got, digest) != 0) {
        free(data);
        return soci_fail(SOCI_EDIGEST, "%s: blob content is %s, not %s", l->dir, got, digest);
    }
    *ret = data;
    *ret_len = len;
    return 0;
}

/* Write a file atomically: temp file in the same folder, fsync, rename. */
int layout_write_file(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX + 16];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return soci_fail(SOCI_EINVAL, "%s: path too long", path);
    return write_file_atomic(tmp, path, data, len, 0644, true);
}

int soci_layout_write_blob(soci_layout *l, const void *data, size_t len, char ret_digest[SOCI_DIGEST_BUFSIZE])
{
    uint8_t d[SHA256_LEN];
    char path[PATH_MAX];
    struct stat st;
    int r;
    if (l == NULL || (data == NULL && len) || ret_digest == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layout_write_blob: bad arguments");
    if ((r = sha256(data, len, d)) < 0)
        return r;
    digest_format(d, ret_digest);
    if ((r = layout_blob_path(l, ret_digest, path)) < 0)
        return r;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len)
        return 0; /* content-addressed: already there */
    return layout_write_file(path, data, len);
}

int soci_layout_resolve(soci_layout *l, const char *ref, struct soci_descriptor *ret, size_t ret_size)
{
    json_t *d = NULL;
    int r = layout_find(l, ref, &d);
    if (r < 0)
        return r;
    struct soci_descriptor out = {oci_str(d, "mediaType"), oci_str(d, "digest"),
                                  (uint64_t)json_integer_value(json_object_get(d, "size")), oci_str(d, "artifactType")};
    memset(ret, 0, ret_size);
    memcpy(ret, &out, ret_size < sizeof(out) ? ret_size : sizeof(out));
    return 0;
}

#define REF_NAME "org.opencontainers.image.ref.name"

int layout_find(struct soci_layout *l, const char *ref, json_t **ret)
{
    json_t *manifests = json_object_get(l->index, "manifests"), *d, *found = NULL;
    size_t i, images = 0;
    bool by_digest = ref != NULL && strncmp(ref, "sha256:", 7) == 0;
    json_array_foreach(manifests, i, d) {
        const char *name = oci_str(json_object_get(d, "annotations"), REF_NAME);
        if (ref == NULL || ref[0] == '\0') {
            if (oci_str(d, "artifactType")[0] == '\0' && strncmp(name, "sha256-", 7) != 0) {
                found = d;
                images++;
            }
        } else if (by_digest ? strcmp(oci_str(d, "digest"), ref) == 0 : strcmp(name, ref) == 0) {
            found = d;
        }
    }
    if ((ref == NULL || ref[0] == '\0') && images > 1)
        return soci_fail(SOCI_EINVAL, "%s holds %zu images: name one with :TAG", l->dir, images);
    if (found == NULL)
        return soci_fail(SOCI_ENOTFOUND, "%s: no image %s%s", l->dir, ref && ref[0] ? "named " : "",
                         ref && ref[0] ? ref : "in index.json");
    int r = oci_check_descriptor(found, "index.json");
    if (r < 0)
        return r;
    *ret = found;
    return 0;
}

int layout_set_tag(struct soci_layout *l, const char *tag, json_t *desc)
{
    json_t *manifests = json_object_get(l->index, "manifests"), *d;
    size_t i;
    json_t *ann = json_object_get(desc, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(desc, "annotations", ann);
    }
    json_object_set_new(ann, REF_NAME, json_string(tag));
    json_array_foreach(manifests, i, d) {
        if (strcmp(oci_str(json_object_get(d, "annotations"), REF_NAME), tag) == 0) {
            json_array_set(manifests, i, desc);
            return 0;
        }
    }
    return json_array_append(manifests, desc) == 0 ? 0 : soci_fail_nomem("index.json");
}

int layout_add_untagged(struct soci_layout *l, json_t *desc)
{
    json_t *manifests = json_object_get(l->index, "manifests"), *d;
    size_t i;
    json_array_foreach(manifests, i, d) {
        if (strcmp(oci_str(d, "digest"), oci_str(desc, "digest")) == 0 &&
            oci_str(json_object_get(d, "annotations"), REF_NAME)[0] == '\0')
            return 0;
    }
    return json_array_append(manifests, desc) == 0 ? 0 : soci_fail_nomem("index.json");
}

int layout_save_index(struct soci_layout *l)
{
    char path[PATH_MAX], *text;
    size_t len;
    struct jw w;
    jw_init(&w);
    oci_write_index(&w, l->index);
    int r = jw_finish(&w, &text, &len);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s/index.json", l->dir);
    r = layout_write_file(path, text, len);
    free(text);
    return r;
}
