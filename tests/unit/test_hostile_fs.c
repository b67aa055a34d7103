/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile layers through the image filesystem, and hostile image manifests: absolute and
 * climbing names, very long components, symlink loops and symlinks that climb past the
 * root, whiteouts of odd names, and manifests whose layer sizes lie. The tars are written
 * here byte by byte (ustar headers, PAX records), so they hold exactly what a hostile
 * producer could put there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <soci/soci.h>

#include "helpers.h"

/* ---- a minimal tar writer ---- */

struct tar {
    uint8_t *buf;
    size_t len, cap;
};

static void tar_append(struct tar *t, const void *data, size_t n)
{
    size_t padded = (n + 511) / 512 * 512;
    if (t->len + padded > t->cap) {
        t->cap = (t->len + padded) * 2;
        t->buf = realloc(t->buf, t->cap);
        assert_non_null(t->buf);
    }
    memcpy(t->buf + t->len, data, n);
    memset(t->buf + t->len + n, 0, padded - n);
    t->len += padded;
}

static void tar_header(struct tar *t, const char *name, char type, const char *link, size_t size)
{
    uint8_t h[512] = {0};
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011zo", size);
    snprintf((char *)h + 136, 12, "%011o", 1700000000);
    memset(h + 148, ' ', 8);
    h[156] = (uint8_t)type;
    if (link)
        snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257, "ustar\0" "00", 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    tar_append(t, h, 512);
}

/* An entry; names or targets longer than ustar holds go in a PAX record first. */
static void tar_entry(struct tar *t, const char *name, char type, const char *link, const char *data)
{
    if (strlen(name) >= 100 || (link && strlen(link) >= 100)) {
        char rec[8192];
        int n = 0;
        const char *key = strlen(name) >= 100 ? "path" : "linkpath";
        const char *value = strlen(name) >= 100 ? name : link;
        size_t body = strlen(key) + strlen(value) + 3; /* " key=value\n" without the length */
        size_t total = body + 1;
        while (total != body + (size_t)snprintf(NULL, 0, "%zu", total))
            total = body + (size_t)snprintf(NULL, 0, "%zu", total);
        n = snprintf(rec, sizeof(rec), "%zu %s=%s\n", total, key, value);
        tar_header(t, "pax", 'x', NULL, (size_t)n);
        tar_append(t, rec, (size_t)n);
    }
    size_t size = data ? strlen(data) : 0;
    tar_header(t, name, type, link, size);
    if (size)
        tar_append(t, data, size);
}

static void tar_end(struct tar *t)
{
    uint8_t zero[1024] = {0};
    tar_append(t, zero, sizeof(zero));
}

/* ---- layers from tars ---- */

struct built {
    struct tar tar;
    void *ztoc;
    soci_ztoc *z;
    soci_blob *blob;
    soci_layer *layer;
};

static void build(struct built *b)
{
    soci_builder *builder;
    size_t len;
    tar_end(&b->tar);
    assert_int_equal(soci_blob_open_mem(b->tar.buf, b->tar.len, 0, &b->blob), 0);
    assert_int_equal(soci_builder_new(&builder), 0);
    assert_int_equal(soci_builder_build_blob(builder, b->blob, &b->ztoc, &len), 0);
    soci_builder_free(builder);
    assert_int_equal(soci_ztoc_open_mem(b->ztoc, len, 0, &b->z), 0);
    assert_int_equal(soci_layer_open(b->blob, b->z, &b->layer), 0);
}

static void release(struct built *b)
{
    soci_layer_free(b->layer);
    soci_ztoc_free(b->z);
    soci_blob_unref(b->blob);
    soci_free(b->ztoc);
    free(b->tar.buf);
}

static int resolve(soci_fs *fs, const char *path, unsigned flags, uint64_t *ino)
{
    return soci_fs_resolve(fs, path, flags, ino);
}

static void expect_file(soci_fs *fs, const char *path, const char *content)
{
    uint64_t ino;
    char buf[256];
    if (resolve(fs, path, SOCI_FS_FOLLOW, &ino) < 0)
        fail_msg("%s: %s", path, soci_last_error());
    int64_t n = soci_fs_pread(fs, ino, buf, sizeof(buf), 0);
    assert_int_equal(n, (int64_t)strlen(content));
    assert_memory_equal(buf, content, (size_t)n);
}

static void test_names_stay_inside(void **state)
{
    (void)state;
    struct built l = {0};
    char long_component[301];
    memset(long_component, 'c', 300);
    long_component[300] = '\0';
    char long_path[400];
    snprintf(long_path, sizeof(long_path), "long/%s", long_component);

    tar_entry(&l.tar, "/abs/file", '0', NULL, "absolute\n");
    tar_entry(&l.tar, "./dot/file", '0', NULL, "dot\n");
    tar_entry(&l.tar, long_path, '0', NULL, "long\n");
    tar_entry(&l.tar, "target", '0', NULL, "target\n");
    tar_entry(&l.tar, "up", '2', "../../../../../../target", NULL);
    tar_entry(&l.tar, "root", '2', "/", NULL);
    tar_entry(&l.tar, "dotdot", '2', "..", NULL);
    build(&l);
    soci_fs *fs;
    assert_int_equal(soci_fs_open_layers(&l.layer, 1, 0, &fs), 0);

    expect_file(fs, "abs/file", "absolute\n");
    expect_file(fs, "/dot/file", "dot\n");
    expect_file(fs, long_path, "long\n");
    expect_file(fs, "up", "target\n");
    expect_file(fs, "root/root/root/up", "target\n");
    expect_file(fs, "dotdot/dotdot/target", "target\n");
    expect_file(fs, "../../../target", "target\n");

    uint64_t ino, root;
    assert_int_equal(resolve(fs, "/", 0, &root), 0);
    assert_int_equal(root, SOCI_FS_ROOT);
    assert_int_equal(soci_fs_lookup(fs, SOCI_FS_ROOT, "..", &ino), 0);
    assert_int_equal(ino, SOCI_FS_ROOT);
    assert_int_equal(resolve(fs, "long", 0, &ino), 0);
    assert_int_equal(soci_fs_lookup(fs, ino, long_component, &ino), 0);
    assert_int_equal(resolve(fs, "target/x", 0, &ino), SOCI_ENOTDIR);
    assert_int_equal(resolve(fs, "nothing", 0, &ino), SOCI_ENOTFOUND);
    soci_fs_free(fs);
    release(&l);

    /* A name with ".." components is refused when indexing (as extraction tools refuse
     * it), naming the entry; the reader refuses zTOCs with names that climb out. */
    struct built bad = {0};
    tar_entry(&bad.tar, "a/../../../escape", '0', NULL, "escaped?\n");
    tar_end(&bad.tar);
    soci_builder *builder;
    void *ztoc;
    size_t len;
    assert_int_equal(soci_blob_open_mem(bad.tar.buf, bad.tar.len, 0, &bad.blob), 0);
    assert_int_equal(soci_builder_new(&builder), 0);
    assert_int_equal(soci_builder_build_blob(builder, bad.blob, &ztoc, &len), SOCI_EFORMAT);
    assert_true(strstr(soci_last_error(), "a/../../../escape") != NULL);
    soci_builder_free(builder);
    soci_blob_unref(bad.blob);
    free(bad.tar.buf);
}

static void test_symlink_loops(void **state)
{
    (void)state;
    struct built l = {0};
    char name[32], target[32];
    tar_entry(&l.tar, "loop1", '2', "loop2", NULL);
    tar_entry(&l.tar, "loop2", '2', "/loop1", NULL);
    tar_entry(&l.tar, "self", '2', "self", NULL);
    tar_entry(&l.tar, "dir/", '5', NULL, NULL);
    tar_entry(&l.tar, "dir/back", '2', "../dir/back/x", NULL);
    tar_entry(&l.tar, "end", '0', NULL, "end\n");
    /* A chain of 40 links works (the limit, as Linux's); one more is a loop. */
    for (int i = 0; i < 41; i++) {
        snprintf(name, sizeof(name), "chain%02d", i);
        snprintf(target, sizeof(target), i == 40 ? "end" : "chain%02d", i + 1);
        tar_entry(&l.tar, name, '2', target, NULL);
    }
    build(&l);
    soci_fs *fs;
    uint64_t ino;
    assert_int_equal(soci_fs_open_layers(&l.layer, 1, 0, &fs), 0);
    assert_int_equal(resolve(fs, "loop1", SOCI_FS_FOLLOW, &ino), SOCI_ELOOP);
    assert_int_equal(resolve(fs, "loop1", 0, &ino), 0); /* the link itself */
    assert_int_equal(resolve(fs, "self/x", 0, &ino), SOCI_ELOOP);
    assert_int_equal(resolve(fs, "dir/back", SOCI_FS_FOLLOW, &ino), SOCI_ELOOP);
    assert_int_equal(resolve(fs, "chain01", SOCI_FS_FOLLOW, &ino), 0); /* 40 links */
    assert_int_equal(resolve(fs, "chain00", SOCI_FS_FOLLOW, &ino), SOCI_ELOOP);
    assert_true(strstr(soci_last_error(), "symbolic links") != NULL);
    assert_int_equal(soci_errno(SOCI_ELOOP), 40 /* ELOOP */);
    soci_fs_free(fs);
    release(&l);
}

/* Whiteouts of odd names change nothing they should not; opaque root empties the lower. */
static void test_odd_whiteouts(void **state)
{
    (void)state;
    struct built lower = {0}, upper = {0};
    tar_entry(&lower.tar, "keep", '0', NULL, "keep\n");
    tar_entry(&lower.tar, "dir/", '5', NULL, NULL);
    tar_entry(&lower.tar, "dir/x", '0', NULL, "x\n");
    tar_entry(&upper.tar, "dir/.wh..", '0', NULL, NULL);
    tar_entry(&upper.tar, "dir/.wh.", '0', NULL, NULL);
    tar_entry(&upper.tar, "nodir/.wh.x", '0', NULL, NULL);
    tar_entry(&upper.tar, "keep/.wh..wh..opq", '0', NULL, NULL);
    build(&lower);
    build(&upper);
    soci_layer *layers[2] = {lower.layer, upper.layer};
    soci_fs *fs;
    uint64_t ino;
    assert_int_equal(soci_fs_open_layers(layers, 2, 0, &fs), 0);
    expect_file(fs, "keep", "keep\n");
    expect_file(fs, "dir/x", "x\n");
    assert_int_equal(resolve(fs, "nodir", 0, &ino), SOCI_ENOTFOUND); /* a whiteout makes nothing */
    assert_int_equal(soci_fs_lookup(fs, SOCI_FS_ROOT, "dir", &ino), 0);
    assert_int_equal(soci_fs_lookup(fs, ino, ".wh..", &ino), SOCI_ENOTFOUND);
    soci_fs_free(fs);

    /* An opaque marker at the root hides every lower entry. */
    struct built opaque = {0};
    tar_entry(&opaque.tar, ".wh..wh..opq", '0', NULL, NULL);
    tar_entry(&opaque.tar, "new", '0', NULL, "new\n");
    build(&opaque);
    layers[1] = opaque.layer;
    assert_int_equal(soci_fs_open_layers(layers, 2, 0, &fs), 0);
    struct soci_dirent d;
    assert_int_equal(soci_fs_readdir(fs, SOCI_FS_ROOT, 2, &d, sizeof(d)), 1);
    assert_string_equal(d.name, "new");
    assert_int_equal(soci_fs_readdir(fs, SOCI_FS_ROOT, 3, &d, sizeof(d)), 0);
    soci_fs_free(fs);
    release(&opaque);
    release(&upper);
    release(&lower);
}

/* ---- manifests that lie about their layers ---- */

static void write_blob(const char *layout, const void *data, size_t len, char digest[80])
{
    char hex[65], path[1024];
    sha256_hex(data, len, hex);
    snprintf(digest, 80, "sha256:%s", hex);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, hex);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A layout with one image whose manifest gives the layer size size_delta off the truth. */
static void make_layout(const char *dir, long size_delta)
{
    char path[1024], layer_digest[80], config_digest[80], manifest_digest[80], text[4096];
    snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, path);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/oci-layout", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"imageLayoutVersion\":\"1.0.0\"}", f);
    fclose(f);

    struct tar t = {0};
    tar_entry(&t, "file", '0', NULL, "content\n");
    tar_end(&t);
    write_blob(dir, t.buf, t.len, layer_digest);
    const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
    write_blob(dir, config, strlen(config), config_digest);
    int n = snprintf(text, sizeof(text),
                     "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
                     "\"size\":%zu},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                     "\"digest\":\"%s\",\"size\":%ld}]}",
                     config_digest, strlen(config), layer_digest, (long)t.len + size_delta);
    write_blob(dir, text, (size_t)n, manifest_digest);
    snprintf(path, sizeof(path), "%s/index.json", dir);
    f = fopen(path, "w");
    fprintf(f, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
               "\"digest\":\"%s\",\"size\":%d,\"annotations\":{\"org.opencontainers.image.ref.name\":\"img\"}}]}",
            manifest_digest, n);
    fclose(f);
    free(t.buf);
}

static void test_manifest_lies_about_layer_size(void **state)
{
    (void)state;
    char dir[64], ref[128];
    snprintf(dir, sizeof(dir), "/tmp/soci-hostile-layout.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(ref, sizeof(ref), "%s:img", dir);
    for (long delta = -1; delta <= 1; delta++) {
        soci_image *img;
        soci_fs *fs;
        make_layout(dir, delta * 100);
        assert_int_equal(soci_image_open(ref, NULL, NULL, &img), 0);
        int r = soci_fs_open(img, &fs);
        if (delta == 0) {
            assert_int_equal(r, 0);
            expect_file(fs, "file", "content\n");
            soci_fs_free(fs);
        } else {
            /* Bigger than the blob or smaller: refused, never read past or cut short. */
            if (r != SOCI_EFORMAT && r != SOCI_ETOOBIG)
                fail_msg("layer size off by %ld: %d %s", delta * 100, r, soci_last_error());
            if (strstr(soci_last_error(), "sha256:") == NULL)
                fail_msg("the error does not name the layer: %s", soci_last_error());
        }
        soci_image_free(img);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_stay_inside),
        cmocka_unit_test(test_symlink_loops),
        cmocka_unit_test(test_odd_whiteouts),
        cmocka_unit_test(test_manifest_lies_about_layer_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
