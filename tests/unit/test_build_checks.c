/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checks a build makes of a gzip layer, on one thread and on two: each member's
 * CRC-32 and size against its trailer (a build hands this to its second thread, so a
 * broken trailer must still fail the build, with the same error either way), and layers
 * of several gzip members; a blob that fails to read (the second thread reads a blob ahead)
 * fails the build with its own message. The reference's big-gzip6 vector gives the layer and, through
 * its zTOC, the entries the build must find; plain zlib makes the multi-member layers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include <soci/soci.h>

#include "helpers.h"

static struct vector_layer v;

static int setup(void **state)
{
    (void)state;
    return vector_layer_load("big-gzip6", "span-1048576", &v);
}

static int teardown(void **state)
{
    (void)state;
    vector_layer_free(&v);
    return 0;
}

static int build(const uint8_t *layer, size_t len, uint64_t threads, soci_ztoc **ret)
{
    soci_builder *b;
    soci_blob *blob;
    void *out;
    size_t out_len;
    assert_int_equal(soci_builder_new(&b), 0);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, 1 << 20), 0);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_THREADS, threads), 0);
    assert_int_equal(soci_blob_open_mem(layer, len, 0, &blob), 0);
    int r = soci_builder_build_blob(b, blob, &out, &out_len);
    soci_blob_unref(blob);
    soci_builder_free(b);
    if (r == 0) {
        assert_int_equal(soci_ztoc_open_mem(out, out_len, SOCI_ZTOC_COPY, ret), 0);
        soci_free(out);
    }
    return r;
}

/* Both thread counts fail with SOCI_EFORMAT and a message containing `what`. */
static void expect_failure(const uint8_t *layer, size_t len, const char *what)
{
    for (uint64_t threads = 1; threads <= 2; threads++) {
        soci_ztoc *z = NULL;
        assert_int_equal(build(layer, len, threads, &z), SOCI_EFORMAT);
        if (strstr(soci_last_error(), what) == NULL)
            fail_msg("%u thread(s): \"%s\" does not say \"%s\"", (unsigned)threads, soci_last_error(), what);
    }
}

/* The entries of z are the reference's, by name, offset and size. */
static void expect_reference_entries(soci_ztoc *z)
{
    assert_int_equal(soci_ztoc_entry_count(z), soci_ztoc_entry_count(v.z));
    for (uint32_t i = 0; i < soci_ztoc_entry_count(z); i++) {
        struct soci_entry got, want;
        assert_int_equal(soci_ztoc_entry(z, i, &got, sizeof(got)), 0);
        assert_int_equal(soci_ztoc_entry(v.z, i, &want, sizeof(want)), 0);
        assert_string_equal(got.name, want.name);
        assert_int_equal(got.offset, want.offset);
        assert_int_equal(got.size, want.size);
    }
}

static void test_trailer_checked(void **state)
{
    (void)state;
    uint8_t *bad = malloc(v.gz_len);
    assert_non_null(bad);
    memcpy(bad, v.gz, v.gz_len);
    bad[v.gz_len - 8] ^= 0x01; /* CRC-32 */
    expect_failure(bad, v.gz_len, "fails its check");
    bad[v.gz_len - 8] ^= 0x01;
    bad[v.gz_len - 1] ^= 0x80; /* ISIZE */
    expect_failure(bad, v.gz_len, "fails its check");
    free(bad);
}

/* gzip (one member, zlib's) of data into out; returns its length. */
static size_t gzip_member(const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
    z_stream s = {0};
    assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = (Bytef *)(uintptr_t)data;
    s.avail_in = (uInt)len;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
    size_t n = cap - s.avail_out;
    deflateEnd(&s);
    return n;
}

static void test_members(void **state)
{
    (void)state;
    /* The reference's tar in three members, cut at arbitrary points (not on headers). */
    size_t cuts[4] = {0, v.tar_len / 3 + 7, 2 * v.tar_len / 3 + 1001, v.tar_len};
    size_t cap = v.tar_len + v.tar_len / 10 + 4096, len = 0, first_end = 0;
    uint8_t *layer = malloc(cap);
    assert_non_null(layer);
    for (int i = 0; i < 3; i++) {
        len += gzip_member(v.tar + cuts[i], cuts[i + 1] - cuts[i], layer + len, cap - len);
        if (i == 0)
            first_end = len;
    }
    for (uint64_t threads = 1; threads <= 2; threads++) {
        soci_ztoc *z;
        assert_int_equal(build(layer, len, threads, &z), 0);
        expect_reference_entries(z);
        soci_ztoc_free(z);
    }
    /* The first member's CRC broken: the build names where that member ends. */
    layer[first_end - 8] ^= 0x40;
    char where[64];
    snprintf(where, sizeof(where), "ending at byte %zu", first_end);
    expect_failure(layer, len, where);
    free(layer);
}

/* A caller's blob that fails to read past a point, with its own detail message. */
struct failing {
    const uint8_t *data;
    size_t len, fail_from;
};

static int failing_size(void *ctx, uint64_t *ret)
{
    *ret = ((struct failing *)ctx)->len;
    return 0;
}

static int failing_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct failing *f = ctx;
    if (off + len > f->fail_from)
        return soci_blob_set_error(SOCI_EIO, "disk on fire at %llu", (unsigned long long)off);
    memcpy(buf, f->data + off, len);
    return 0;
}

static void test_read_failure(void **state)
{
    (void)state;
    static const struct soci_blob_methods m = {.version = SOCI_BLOB_METHODS_VERSION, .caps = SOCI_BLOB_CONCURRENT,
                                               .size = failing_size, .read_at = failing_read};
    struct failing f = {v.gz, v.gz_len, v.gz_len / 2};
    for (uint64_t threads = 1; threads <= 2; threads++) {
        soci_builder *b;
        soci_blob *blob;
        void *out;
        size_t out_len;
        assert_int_equal(soci_builder_new(&b), 0);
        assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_THREADS, threads), 0);
        assert_int_equal(soci_blob_new(&m, &f, &blob), 0);
        assert_int_equal(soci_builder_build_blob(b, blob, &out, &out_len), SOCI_EIO);
        if (strstr(soci_last_error(), "disk on fire") == NULL)
            fail_msg("%u thread(s): \"%s\"", (unsigned)threads, soci_last_error());
        soci_blob_unref(blob);
        soci_builder_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trailer_checked),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_read_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
