/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building the SOCI index of an image held in an OCI layout, and publishing it there
 * the way the reference publishes to a registry:
 *  - for each platform's image manifest, a zTOC per layer of at least the minimum size
 *    (gzip or uncompressed tar), each layer's digest checked while it is read;
 *  - v1: the index names the image manifest as its subject; it is listed in index.json
 *    and in the referrers tag fallback "sha256-<hex>" (an image index of referrers);
 *  - v2: as the reference's convert: every image manifest is rewritten as an OCI
 *    manifest (those indexed annotated with their index's digest), the SOCI indexes join
 *    a new image index beside them, and the tag names that new image index.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <soci/layout.h>
#include <soci/ztoc.h>

#include "builder/build_internal.h"
#include "format/prefetch_json.h"
#include "builder/build_cuts.h"
#include "format/prefetch_record.h"
#include "oci/layout_internal.h"
#include "util/config_internal.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/file.h"

#define ANN_INDEX_DIGEST "com.amazon.soci.index-digest"
#define ANN_MANIFEST_DIGEST "com.amazon.soci.image-manifest-digest"

int layout_read_json(struct soci_layout *l, const char *digest, json_t **ret)
{
    void *text;
    size_t len;
    int r = soci_layout_read_blob(l, digest, OCI_MAX_MANIFEST, &text, &len);
    if (r < 0)
        return r;
    r = oci_parse_object(text, len, digest, ret);
    free(text);
    return r;
}

int layout_write_manifest(struct soci_layout *l, const json_t *m, bool is_index, char digest[SOCI_DIGEST_BUFSIZE],
                          size_t *size)
{
    struct jw w;
    char *text;
    jw_init(&w);
    if (is_index)
        oci_write_index(&w, m);
    else
        oci_write_manifest(&w, m);
    int r = jw_finish(&w, &text, size);
    if (r < 0)
        return r;
    r = soci_layout_write_blob(l, text, *size, digest);
    free(text);
    return r;
}

/* ---- platforms ---- */

struct platform {
    char os[32], arch[32], variant[32];
};

static void host_platform(struct platform *p)
{
    struct utsname u;
    const char *arch = "amd64";
    if (uname(&u) == 0) {
        if (strcmp(u.machine, "aarch64") == 0)
            arch = "arm64";
        else if (strncmp(u.machine, "armv7", 5) == 0)
            arch = "arm";
        else if (strcmp(u.machine, "x86_64") != 0)
            arch = u.machine;
    }
    snprintf(p->os, sizeof(p->os), "linux");
    snprintf(p->arch, sizeof(p->arch), "%.31s", arch);
    snprintf(p->variant, sizeof(p->variant), "%s", strcmp(arch, "arm") == 0 ? "v7" : "");
}

static int parse_platform(const char *s, struct platform *p)
{
    memset(p, 0, sizeof(*p));
    if (sscanf(s, "%31[^/]/%31[^/]/%31s", p->os, p->arch, p->variant) < 2)
        return soci_fail(SOCI_EINVAL, "platform \"%s\": expected os/arch[/variant]", s);
    return 0;
}

/* The variant a platform implies when it names none (containerd's normalisation). */
static const char *norm_variant(const char *arch, const char *variant)
{
    if (strcmp(arch, "arm64") == 0 && (strcmp(variant, "v8") == 0 || strcmp(variant, "8") == 0))
        return "";
    if (strcmp(arch, "amd64") == 0 && strcmp(variant, "v1") == 0)
        return "";
    return variant;
}

static bool platform_matches(const struct platform *want, const json_t *p)
{
    return strcmp(oci_str(p, "os"), want->os) == 0 && strcmp(oci_str(p, "architecture"), want->arch) == 0 &&
           strcmp(norm_variant(want->arch, oci_str(p, "variant")), norm_variant(want->arch, want->variant)) == 0;
}

static void platform_text(const json_t *p, char *out, size_t n)
{
    const char *v = oci_str(p, "variant");
    snprintf(out, n, "%s/%s%s%s", oci_str(p, "os"), oci_str(p, "architecture"), v[0] ? "/" : "", v);
}

/* ---- one layer, one image manifest ---- */

/* A layer's bytes on their way into the builder, hashed as they pass: from the layout's
 * blob file, or streamed from the source registry (layout_remote.c). */
struct hashing_reader {
    int fd;
    struct remote_reader *remote;
    EVP_MD_CTX *md;
};

static int64_t read_hashing(void *ctx, void *buf, size_t len)
{
    struct hashing_reader *h = ctx;
    int64_t n = h->remote ? layout_remote_read(h->remote, buf, len) : read(h->fd, buf, len);
    if (n < 0)
        return h->remote ? n : soci_fail(SOCI_EIO, "reading layer: %m");
    EVP_DigestUpdate(h->md, buf, (size_t)n);
    return n;
}

static bool is_layer_type(const char *mt, bool *ok_compression)
{
    static const char *const indexable[] = {
        "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        /* libsoci's extension: zstd layers, spans aligned to frames (docs/format.md). */
        "application/vnd.oci.image.layer.v1.tar+zstd"};
    for (size_t i = 0; i < sizeof(indexable) / sizeof(indexable[0]); i++)
        if (strcmp(mt, indexable[i]) == 0)
            return *ok_compression = true;
    *ok_compression = false;
    return strstr(mt, ".layer.") != NULL || strstr(mt, "rootfs.diff") != NULL;
}

/* No entry has a real xattr or is an opaque-directory marker: readers may skip xattrs. */
static bool layer_has_no_xattrs(const soci_ztoc *z)
{
    bool none = true;
    for (uint32_t i = 0; i < soci_ztoc_entry_count(z) && none; i++) {
        struct soci_entry e;
        soci_ztoc_entry(z, i, &e, sizeof(e));
        const char *base = strrchr(e.path, '/');
        if (strcmp(base ? base + 1 : e.path, ".wh..wh..opq") == 0)
            none = false;
        for (uint32_t j = 0; j < e.xattr_count && none; j++) {
            const char *key;
            soci_ztoc_entry_xattr(z, i, j, &key, NULL, NULL);
            if (strncmp(key, "SCHILY.xattr.", 13) == 0)
                none = false;
        }
    }
    return none;
}

static int build_layer_ztoc(struct soci_layout *l, const json_t *layer, soci_builder *zb, void **ztoc, size_t *len)
{
    char path[PATH_MAX], got[DIGEST_TEXT_LEN + 1];
    const char *digest = oci_str(layer, "digest");
    uint8_t d[SHA256_LEN];
    int r = layout_blob_path(l, digest, path);
    if (r < 0)
        return r;
    struct hashing_reader h = {.fd = -1, .md = EVP_MD_CTX_new()};
    if (h.md == NULL) {
        r = soci_fail_nomem("digest");
        goto out;
    }
    if (layout_blob_remote(l, digest)) {
        json_int_t size = json_integer_value(json_object_get(layer, "size"));
        if (size <= 0) {
            r = soci_fail(SOCI_EFORMAT, "layer %s: no size in its descriptor", digest);
            goto out;
        }
        if ((r = layout_remote_open(l, digest, (uint64_t)size, &h.remote)) < 0)
            goto out;
    } else if ((h.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        r = soci_fail(SOCI_ENOTFOUND, "%s: layer blob missing", digest);
        goto out;
    }
    EVP_DigestInit_ex(h.md, EVP_sha256(), NULL);
    if ((r = soci_builder_build_stream(zb, read_hashing, &h, ztoc, len)) < 0) {
        soci_fail_prefix(r, "layer %s", digest);
        goto out;
    }
    EVP_DigestFinal_ex(h.md, d, NULL);
    digest_format(d, got);
    if (strcmp(got, digest) != 0) {
        soci_free(*ztoc);
        *ztoc = NULL;
        r = soci_fail(SOCI_EDIGEST, "layer %s: content is %s", digest, got);
    }
out:
    if (h.fd >= 0)
        close(h.fd);
    layout_remote_free(h.remote);
    EVP_MD_CTX_free(h.md);
    return r;
}

struct build_ctx {
    struct soci_layout *l;
    soci_builder *zb;
    const struct soci_config *cfg;
    soci_event_fn fn;
    void *userdata;
    struct prefetch_record record; /* SOCI_OPT_PREFETCH_RECORD's, if set */
};

static void event(const struct build_ctx *c, int ev, const char *a, const char *b)
{
    if (c->fn)
        c->fn(c->userdata, ev, a, b);
}

/* What index_manifest learns of each layer before it lists them. */
struct built_layer {
    char ztoc_digest[SOCI_DIGEST_BUFSIZE]; /* "" when the layer gets no zTOC */
    size_t ztoc_len;
    uint64_t span_size;
    bool no_xattrs;
};

/* The builder's cuts: the bytes a prefetch record says the layer's reads asked for. */
static int set_cuts(soci_builder *zb, const struct prefetch_record_layer *rl)
{
    if (rl->nextents == 0)
        return 0;
    struct extent *v = malloc(rl->nextents * sizeof(*v));
    if (v == NULL)
        return soci_fail_nomem("checkpoint cuts");
    for (size_t k = 0; k < rl->nextents; k++)
        v[k] = (struct extent){rl->extents[k].start, rl->extents[k].end};
    int r = builder_set_cuts(zb, v, rl->nextents);
    free(v);
    return r;
}

/* Build and store the zTOC of one layer, and read back what the index lists of it into
 * *b. Prefetch files are looked up in every layer's zTOC once all are built: then it is
 * kept, opened, in p->z. */
static int index_layer(const struct build_ctx *c, const json_t *layer, struct built_layer *b,
                       struct layout_prefetch *p)
{
    const struct prefetch_record_layer *rl = prefetch_record_find(&c->record, oci_str(layer, "digest"));
    bool keep = c->cfg->prefetch_files != NULL || rl != NULL;
    void *ztoc = NULL;
    soci_ztoc *z;
    int r = rl ? set_cuts(c->zb, rl) : 0;
    if (r == 0)
        r = build_layer_ztoc(c->l, layer, c->zb, &ztoc, &b->ztoc_len);
    if (rl)
        builder_set_cuts(c->zb, NULL, 0);
    if (r < 0)
        return r;
    if ((r = soci_layout_write_blob(c->l, ztoc, b->ztoc_len, b->ztoc_digest)) == 0 &&
        (r = soci_ztoc_open_mem(ztoc, b->ztoc_len, keep ? SOCI_ZTOC_COPY : 0, &z)) == 0) {
        b->span_size = soci_ztoc_span_size(z);
        b->no_xattrs = c->cfg->xattr_optimization && layer_has_no_xattrs(z);
        if (keep)
            p->z = z;
        else
            soci_ztoc_free(z);
    }
    soci_free(ztoc);
    return r;
}

/* The prefetch artifacts the config asks for: each file's spans, in the layer it is seen in. */
static int plan_prefetch(const struct build_ctx *c, struct layout_prefetch *p, size_t n)
{
    const char *files = c->cfg->prefetch_files;
    while (files && *files) {
        size_t len = strcspn(files, "\n");
        char file[PATH_MAX];
        const char *why = NULL;
        snprintf(file, sizeof(file), "%.*s", (int)len, files);
        files += len + (files[len] == '\n');
        if (file[0] == '\0')
            continue;
        int r = layout_prefetch_file(p, n, file, &why);
        if (r < 0)
            return soci_fail_prefix(r, "prefetch file %s", file);
        if (r == 0)
            event(c, SOCI_EVENT_PREFETCH_SKIPPED, file, why);
    }
    return 0;
}

/* The spans of the zTOC just built that hold a record's extents, at their priorities. */
static int plan_extents(const struct prefetch_record_layer *rl, struct layout_prefetch *p)
{
    for (size_t k = 0; k < rl->nextents; k++) {
        uint32_t first, last;
        if (soci_ztoc_span_at(p->z, rl->extents[k].start, &first) < 0) {
            soci_clear_error();
            continue; /* past the layer's end: read by no one */
        }
        if (soci_ztoc_span_at(p->z, rl->extents[k].end - 1, &last) < 0) {
            soci_clear_error();
            last = soci_ztoc_span_count(p->z) - 1;
        }
        int r = layout_prefetch_add(p, first, last, rl->extents[k].priority);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The spans a prefetch record lists for layer ld: from its extents, against any zTOC of
 * the layer; from its spans, if it was recorded against the zTOC just built (span
 * numbers mean nothing against another). */
static int plan_record(const struct build_ctx *c, const char *ld, const struct built_layer *b,
                       struct layout_prefetch *p)
{
    const struct prefetch_record_layer *rl = prefetch_record_find(&c->record, ld);
    if (rl == NULL)
        return 0;
    if (rl->nextents > 0)
        return plan_extents(rl, p);
    if (strcmp(rl->ztoc, b->ztoc_digest) != 0) {
        event(c, SOCI_EVENT_PREFETCH_SKIPPED, ld, "the record was made against another zTOC of this layer");
        return 0;
    }
    uint32_t spans = soci_ztoc_span_count(p->z);
    for (size_t k = 0; k < rl->n; k++) {
        if (rl->ranges[k].first >= spans)
            continue; /* cannot be: the zTOC is the recorded one */
        uint32_t last = rl->ranges[k].last < spans ? rl->ranges[k].last : spans - 1;
        int r = layout_prefetch_add(p, rl->ranges[k].first, last, rl->ranges[k].priority);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Store layer i's prefetch artifact, if it has ranges, and list it. */
static int add_prefetch(const struct build_ctx *c, soci_index *ix, struct layout_prefetch *p, const char *ld)
{
    char *text, digest[SOCI_DIGEST_BUFSIZE];
    size_t len;
    if (p->n == 0)
        return 0;
    p->n = prefetch_normalize(p->ranges, p->n);
    int r = prefetch_write(p->ranges, p->n, &text, &len);
    if (r < 0)
        return r;
    if ((r = soci_layout_write_blob(c->l, text, len, digest)) == 0 &&
        (r = soci_index_add_prefetch(ix, digest, len, ld)) == 0)
        event(c, SOCI_EVENT_PREFETCH_WRITTEN, ld, digest);
    free(text);
    return r;
}

/* Build and store the SOCI index of one image manifest. *made is false when no layer
 * was big enough (nothing stored). Each zTOC is followed in the index by the layer's
 * prefetch artifact, when files were asked for and it holds some. */
static int index_manifest(const struct build_ctx *c, const json_t *mdesc, const char *platform,
                          char index_digest[SOCI_DIGEST_BUFSIZE], size_t *index_size, bool *made)
{
    json_t *m = NULL;
    soci_index *ix = NULL;
    void *text = NULL;
    struct built_layer *built = NULL;
    struct layout_prefetch *pf = NULL;
    size_t len, i, n = 0;
    int r;
    *made = false;
    if ((r = layout_read_json(c->l, oci_str(mdesc, "digest"), &m)) < 0)
        return r;
    json_t *layers = json_object_get(m, "layers"), *layer;
    n = json_array_size(layers);
    built = calloc(n ? n : 1, sizeof(*built));
    pf = calloc(n ? n : 1, sizeof(*pf));
    if (built == NULL || pf == NULL) {
        r = soci_fail_nomem("layers");
        goto out;
    }
    if ((r = soci_index_new(c->cfg->index_version, &ix)) < 0)
        goto out;
    json_array_foreach(layers, i, layer) {
        const char *ld = oci_str(layer, "digest"), *mt = oci_str(layer, "mediaType");
        bool supported;
        json_int_t size = json_integer_value(json_object_get(layer, "size"));
        if ((r = oci_check_descriptor(layer, "image layer")) < 0)
            goto out;
        if (!is_layer_type(mt, &supported))
            continue;
        if (!supported) {
            event(c, SOCI_EVENT_LAYER_SKIPPED, ld, "compression not supported");
            continue;
        }
        if ((uint64_t)size < c->cfg->min_layer_size) {
            event(c, SOCI_EVENT_LAYER_SKIPPED, ld, "smaller than the minimum layer size");
            continue;
        }
        if ((r = index_layer(c, layer, &built[i], &pf[i])) < 0 || (r = plan_record(c, ld, &built[i], &pf[i])) < 0)
            goto out;
        event(c, SOCI_EVENT_ZTOC_BUILT, ld, built[i].ztoc_digest);
    }
    if ((r = plan_prefetch(c, pf, n)) < 0)
        goto out;
    json_array_foreach(layers, i, layer) {
        const char *ld = oci_str(layer, "digest"), *mt = oci_str(layer, "mediaType");
        if (built[i].ztoc_digest[0] == '\0')
            continue;
        if ((r = soci_index_add_ztoc(ix, built[i].ztoc_digest, built[i].ztoc_len, ld, mt, built[i].span_size,
                                     built[i].no_xattrs)) < 0 ||
            (r = add_prefetch(c, ix, &pf[i], ld)) < 0)
            goto out;
    }
    if (soci_index_entry_count(ix) == 0)
        goto out;
    if (c->cfg->index_version == SOCI_INDEX_V1 &&
        (r = soci_index_set_subject(ix, oci_str(mdesc, "mediaType"), oci_str(mdesc, "digest"),
                                    (uint64_t)json_integer_value(json_object_get(mdesc, "size")))) < 0)
        goto out;
    char empty[SOCI_DIGEST_BUFSIZE];
    if ((r = soci_index_set_build_tool(ix, c->zb->tool)) < 0 ||
        (r = soci_layout_write_blob(c->l, "{}", 2, empty)) < 0 || (r = soci_index_serialize(ix, &text, &len)) < 0 ||
        (r = soci_layout_write_blob(c->l, text, len, index_digest)) < 0)
        goto out;
    *index_size = len;
    *made = true;
    event(c, SOCI_EVENT_INDEX_WRITTEN, platform, index_digest);
out:
    for (size_t k = 0; pf && k < n; k++) {
        soci_ztoc_free(pf[k].z);
        free(pf[k].ranges);
    }
    free(pf);
    free(built);
    soci_free(text);
    soci_index_free(ix);
    json_decref(m);
    return r;
}

/* ---- publishing ---- */

static json_t *index_descriptor(const char *digest, size_t size, int version, const json_t *platform)
{
    json_t *d = json_pack("{s:s,s:s,s:I,s:s}", "mediaType", OCI_MANIFEST_MEDIA_TYPE, "digest", digest, "size",
                          (json_int_t)size, "artifactType",
                          version == SOCI_INDEX_V1 ? SOCI_INDEX_ARTIFACT_TYPE_V1 : SOCI_INDEX_ARTIFACT_TYPE_V2);
    if (d && platform)
        json_object_set(d, "platform", (json_t *)(uintptr_t)platform);
    return d;
}

/* Store an image index; the descriptor that names it (NULL if storing failed). */
static json_t *store_image_index(struct soci_layout *l, const json_t *ix, char digest[SOCI_DIGEST_BUFSIZE], int *r)
{
    size_t size;
    if ((*r = layout_write_manifest(l, ix, true, digest, &size)) < 0)
        return NULL;
    json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", OCI_INDEX_MEDIA_TYPE, "digest", digest, "size", (json_int_t)size);
    if (d == NULL)
        *r = soci_fail_nomem("descriptor");
    return d;
}

/* v1: the index in index.json, and in the referrers fallback tag of its subject. */
static int publish_v1(struct soci_layout *l, const json_t *mdesc, const char *digest, size_t size)
{
    char tag[80];
    json_t *referrers = NULL, *tagged;
    int r;
    json_t *d = index_descriptor(digest, size, SOCI_INDEX_V1, NULL);
    if (d == NULL)
        return soci_fail_nomem("descriptor");
    if ((r = layout_add_untagged(l, d)) < 0)
        goto out;
    snprintf(tag, sizeof(tag), "sha256-%s", oci_str(mdesc, "digest") + 7);
    if (layout_find(l, tag, &tagged) == 0 && layout_read_json(l, oci_str(tagged, "digest"), &referrers) == 0 &&
        json_is_array(json_object_get(referrers, "manifests"))) {
        json_t *list = json_object_get(referrers, "manifests"), *x;
        size_t i;
        bool listed = false;
        json_array_foreach(list, i, x) listed |= strcmp(oci_str(x, "digest"), digest) == 0;
        if (!listed)
            json_array_append(list, d);
    } else {
        json_decref(referrers);
        referrers = json_pack("{s:i,s:s,s:[O]}", "schemaVersion", 2, "mediaType", OCI_INDEX_MEDIA_TYPE, "manifests", d);
    }
    char rdigest[SOCI_DIGEST_BUFSIZE];
    json_t *rdesc = store_image_index(l, referrers, rdigest, &r);
    if (rdesc == NULL)
        goto out;
    r = layout_set_tag(l, tag, rdesc);
    json_decref(rdesc);
out:
    json_decref(referrers);
    json_decref(d);
    return r;
}

static int read_record(const char *path, struct prefetch_record *ret)
{
    void *text;
    size_t len;
    int r = read_file_capped(path, PREFETCH_RECORD_MAX_SIZE, &text, &len);
    if (r == 0) {
        r = prefetch_record_parse(text, len, ret);
        free(text);
    }
    return r < 0 ? soci_fail_prefix(r, "prefetch record %s", path) : 0;
}

int soci_layout_build_index(soci_layout *l, const char *ref, soci_builder *zb, const soci_config *cfg,
                            soci_event_fn fn, void *userdata, char ret_digest[SOCI_DIGEST_BUFSIZE])
{
    struct build_ctx c = {l, zb, cfg ? cfg : &soci_config_defaults, fn, userdata, {0}};
    struct platform want;
    json_t *target, *image = NULL, *manifests;
    bool is_index, all = false;
    int r, built = 0;

    if (l == NULL || zb == NULL || ret_digest == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layout_build_index: bad arguments");
    if (c.cfg->prefetch_record && (r = read_record(c.cfg->prefetch_record, &c.record)) < 0)
        return r;
    if (c.cfg->platform && strcmp(c.cfg->platform, "all") == 0)
        all = true;
    else if (c.cfg->platform && (r = parse_platform(c.cfg->platform, &want)) < 0)
        return r;
    else if (c.cfg->platform == NULL)
        host_platform(&want);
    if ((r = layout_find(l, ref, &target)) < 0)
        return r;
    const char *tmt = oci_str(target, "mediaType");
    is_index = strcmp(tmt, OCI_INDEX_MEDIA_TYPE) == 0 || strcmp(tmt, DOCKER_LIST_MEDIA_TYPE) == 0;

    /* The image as an image index: the layout's own, or one made around its manifest. */
    if (is_index) {
        if ((r = layout_read_json(l, oci_str(target, "digest"), &image)) < 0)
            return r;
    } else {
        json_t *m, *config;
        if ((r = layout_read_json(l, oci_str(target, "digest"), &m)) < 0)
            return r;
        r = layout_read_json(l, oci_str(json_object_get(m, "config"), "digest"), &config);
        json_decref(m);
        if (r < 0)
            return r;
        json_t *mdesc = json_deep_copy(target);
        json_object_del(mdesc, "annotations");
        json_t *p = json_pack("{s:s,s:s}", "architecture", oci_str(config, "architecture"), "os", oci_str(config, "os"));
        const char *v = norm_variant(oci_str(config, "architecture"), oci_str(config, "variant"));
        if (v[0])
            json_object_set_new(p, "variant", json_string(v));
        json_object_set_new(mdesc, "platform", p);
        json_decref(config);
        image = json_pack("{s:i,s:s,s:[o]}", "schemaVersion", 2, "mediaType", OCI_INDEX_MEDIA_TYPE, "manifests", mdesc);
        all = true; /* a single-platform image is indexed for its own platform */
    }
    json_object_set_new(image, "mediaType", json_string(OCI_INDEX_MEDIA_TYPE));
    manifests = json_object_get(image, "manifests");

    /* Index every selected platform's image manifest. */
    size_t n = json_array_size(manifests);
    char (*index_digests)[SOCI_DIGEST_BUFSIZE] = calloc(n ? n : 1, sizeof(*index_digests));
    size_t *index_sizes = calloc(n ? n : 1, sizeof(*index_sizes));
    if (index_digests == NULL || index_sizes == NULL) {
        r = soci_fail_nomem("indexes");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *mdesc = json_array_get(manifests, i), *p = json_object_get(mdesc, "platform");
        char ptext[100];
        bool made;
        if (oci_str(mdesc, "artifactType")[0] || !json_is_object(p) || strcmp(oci_str(p, "os"), "unknown") == 0)
            continue;
        if (!all && !platform_matches(&want, p))
            continue;
        platform_text(p, ptext, sizeof(ptext));
        if ((r = index_manifest(&c, mdesc, ptext, index_digests[i], &index_sizes[i], &made)) < 0)
            goto out;
        if (made) {
            built++;
            snprintf(ret_digest, SOCI_DIGEST_BUFSIZE, "%s", index_digests[i]);
            if (c.cfg->index_version == SOCI_INDEX_V1 && (r = publish_v1(l, mdesc, index_digests[i], index_sizes[i])) < 0)
                goto out;
        }
    }
    if (built == 0) {
        r = soci_fail(SOCI_ENOTFOUND, "no zTOC built: every layer of the selected platforms was skipped");
        goto out;
    }

    if (c.cfg->index_version == SOCI_INDEX_V2) {
        /* Rewrite every image manifest as OCI, annotating the indexed ones. */
        size_t original = n;
        for (size_t i = 0; i < original; i++) {
            json_t *mdesc = json_array_get(manifests, i), *m;
            char mdigest[SOCI_DIGEST_BUFSIZE];
            size_t msize;
            if (oci_str(mdesc, "artifactType")[0] || layout_read_json(l, oci_str(mdesc, "digest"), &m) < 0)
                continue;
            json_object_set_new(m, "mediaType", json_string(OCI_MANIFEST_MEDIA_TYPE));
            json_object_set_new(json_object_get(m, "config"), "mediaType", json_string(OCI_CONFIG_MEDIA_TYPE));
            if (index_digests[i][0]) {
                if (!json_is_object(json_object_get(m, "annotations")))
                    json_object_set_new(m, "annotations", json_object());
                json_object_set_new(json_object_get(m, "annotations"), ANN_INDEX_DIGEST, json_string(index_digests[i]));
            }
            r = layout_write_manifest(l, m, false, mdigest, &msize);
            if (r == 0) {
                json_object_set_new(mdesc, "digest", json_string(mdigest));
                json_object_set_new(mdesc, "size", json_integer((json_int_t)msize));
                json_object_set_new(mdesc, "mediaType", json_string(OCI_MANIFEST_MEDIA_TYPE));
                if (json_object_get(m, "annotations"))
                    json_object_set(mdesc, "annotations", json_object_get(m, "annotations"));
                else
                    json_object_del(mdesc, "annotations");
            }
            json_decref(m);
            if (r < 0)
                goto out;
            if (index_digests[i][0]) {
                json_t *sd = index_descriptor(index_digests[i], index_sizes[i], SOCI_INDEX_V2,
                                              json_object_get(mdesc, "platform"));
                json_object_set_new(sd, "annotations", json_pack("{s:s}", ANN_MANIFEST_DIGEST, mdigest));
                /* Replace an earlier v2 index of the same platform, else append. */
                size_t j;
                json_t *x;
                bool replaced = false;
                json_array_foreach(manifests, j, x) {
                    if (strcmp(oci_str(x, "artifactType"), SOCI_INDEX_ARTIFACT_TYPE_V2) == 0 &&
                        json_equal(json_object_get(x, "platform"), json_object_get(sd, "platform"))) {
                        json_array_set(manifests, j, sd);
                        replaced = true;
                        break;
                    }
                }
                if (!replaced)
                    json_array_append(manifests, sd);
                json_decref(sd);
            }
        }
        char idigest[SOCI_DIGEST_BUFSIZE];
        json_t *idesc = store_image_index(l, image, idigest, &r);
        if (idesc == NULL)
            goto out;
        const char *tag = oci_str(json_object_get(target, "annotations"), "org.opencontainers.image.ref.name");
        char tagcopy[256];
        snprintf(tagcopy, sizeof(tagcopy), "%s", tag);
        r = tagcopy[0] ? layout_set_tag(l, tagcopy, idesc) : layout_add_untagged(l, idesc);
        json_decref(idesc);
        if (r < 0)
            goto out;
        snprintf(ret_digest, SOCI_DIGEST_BUFSIZE, "%s", idigest);
        event(&c, SOCI_EVENT_IMAGE_WRITTEN, tagcopy, idigest);
    }
    r = layout_save_index(l);
out:
    free(index_digests);
    free(index_sizes);
    json_decref(image);
    prefetch_record_free(&c.record);
    return r;
}
