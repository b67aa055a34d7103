/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zstd layers (libsoci's extension): the reference's alltypes tar (plain zlib inflates it
 * from the vector, independently of libsoci) compressed here with libzstd as many frames,
 * as one frame, and wrapped in skippable frames; indexed; every file read back through
 * the zTOC and checked against the sha256 the reference's JSON gives. Then hostile
 * streams: truncated, corrupted, and a span that decodes past its size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include <soci/soci.h>

#include "helpers.h"
#include "span/span.h"
#include "util/zstd_pool.h"

static struct vector_layer v;

static int setup(void **state)
{
    (void)state;
    return vector_layer_load("alltypes-pax-gzip6", "span-65536", &v);
}

static int teardown(void **state)
{
    (void)state;
    vector_layer_free(&v);
    return 0;
}

/* The tar as zstd frames of frame_size input bytes each (0: one frame), with a
 * skippable frame before and after when asked. */
static uint8_t *compress_frames(size_t frame_size, bool skippable, size_t *len)
{
    size_t cap = ZSTD_compressBound(v.tar_len) + v.tar_len / 1024 + 4096, n = 0;
    uint8_t *out = malloc(cap);
    static const uint8_t skip[] = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'x', 'y', 'z', 'w'};
    if (skippable) {
        memcpy(out, skip, sizeof(skip));
        n += sizeof(skip);
    }
    size_t step = frame_size ? frame_size : v.tar_len;
    for (size_t off = 0; off < v.tar_len; off += step) {
        size_t in = v.tar_len - off < step ? v.tar_len - off : step;
        size_t w = ZSTD_compress(out + n, cap - n, v.tar + off, in, 3);
        assert_false(ZSTD_isError(w));
        n += w;
    }
    if (skippable) {
        memcpy(out + n, skip, sizeof(skip));
        n += sizeof(skip);
    }
    *len = n;
    return out;
}

static int build_ztoc(const uint8_t *layer, size_t len, uint64_t span, void **ztoc, size_t *ztoc_len)
{
    soci_builder *b;
    soci_blob *blob;
    assert_int_equal(soci_builder_new(&b), 0);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, span), 0);
    assert_int_equal(soci_blob_open_mem(layer, len, 0, &blob), 0);
    int r = soci_builder_build_blob(b, blob, ztoc, ztoc_len);
    soci_blob_unref(blob);
    soci_builder_free(b);
    return r;
}

/* Index the layer and read every file of the reference's list back through it. */
static uint32_t check_layer(const uint8_t *layer, size_t len, uint64_t span)
{
    void *data;
    size_t data_len;
    soci_ztoc *z;
    soci_blob *blob;
    soci_layer *l;
    if (build_ztoc(layer, len, span, &data, &data_len) < 0)
        fail_msg("build: %s", soci_last_error());
    assert_int_equal(soci_ztoc_open_mem(data, data_len, SOCI_ZTOC_COPY, &z), 0);
    soci_free(data);
    assert_int_equal(soci_ztoc_compression(z), SOCI_COMPRESSION_ZSTD);
    assert_int_equal(soci_ztoc_compressed_size(z), len);
    assert_int_equal(soci_blob_open_mem(layer, len, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, z, &l), 0);
    const char *path;
    json_t *digest;
    json_object_foreach(json_object_get(v.expect, "file_sha256"), path, digest) {
        uint32_t e;
        struct soci_entry ent;
        char hex[65];
        assert_int_equal(soci_ztoc_lookup(z, path, &e), 0);
        assert_int_equal(soci_ztoc_entry(z, e, &ent, sizeof(ent)), 0);
        uint32_t target;
        soci_ztoc_resolve(z, e, &target);
        soci_ztoc_entry(z, target, &ent, sizeof(ent));
        uint8_t *buf = malloc(ent.size + 1);
        assert_int_equal(soci_layer_pread(l, e, buf, ent.size, 0), (int64_t)ent.size);
        sha256_hex(buf, ent.size, hex);
        if (strcmp(hex, json_string_value(digest)) != 0)
            fail_msg("%s: read back differs", path);
        free(buf);
    }
    uint32_t spans = soci_ztoc_span_count(z);
    soci_layer_free(l);
    soci_blob_unref(blob);
    soci_ztoc_free(z);
    return spans;
}

static void test_many_frames(void **state)
{
    (void)state;
    size_t len;
    uint8_t *layer = compress_frames(32 << 10, false, &len);
    uint32_t spans = check_layer(layer, len, 64 << 10);
    /* About one span per 64 KiB of the 3 MiB tar: frames are 32 KiB, spans at least 64. */
    assert_true(spans > 20 && spans <= v.tar_len / (64 << 10) + 1);
    free(layer);
}

static void test_one_frame_and_skippable_frames(void **state)
{
    (void)state;
    size_t len;
    uint8_t *layer = compress_frames(0, false, &len);
    assert_int_equal(check_layer(layer, len, 64 << 10), 1); /* indexed, as one span */
    free(layer);
    layer = compress_frames(100 << 10, true, &len);
    assert_true(check_layer(layer, len, 64 << 10) > 10);
    free(layer);
}

static void test_hostile_streams(void **state)
{
    (void)state;
    size_t len, ztoc_len;
    void *ztoc;
    uint8_t *layer = compress_frames(32 << 10, false, &len);

    /* Truncated inside a frame: refused when indexing. */
    assert_int_equal(build_ztoc(layer, len - 7, 64 << 10, &ztoc, &ztoc_len), SOCI_EFORMAT);
    /* A flipped byte: refused when indexing (frame checksums or corrupt blocks)... */
    uint8_t *bad = malloc(len);
    memcpy(bad, layer, len);
    bad[len / 2] ^= 0x55;
    int r = build_ztoc(bad, len, 64 << 10, &ztoc, &ztoc_len);
    if (r == 0)
        soci_free(ztoc);
    /* ...and, against a good zTOC, never served: the span digest catches it. */
    soci_ztoc *z;
    soci_blob *blob;
    soci_layer *l;
    assert_int_equal(build_ztoc(layer, len, 64 << 10, &ztoc, &ztoc_len), 0);
    assert_int_equal(soci_ztoc_open_mem(ztoc, ztoc_len, SOCI_ZTOC_COPY, &z), 0);
    soci_free(ztoc);
    assert_int_equal(soci_blob_open_mem(bad, len, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, z, &l), 0);
    uint32_t big;
    assert_int_equal(soci_ztoc_lookup(z, "bin/big", &big), 0);
    uint8_t *buf = malloc(4 << 20);
    assert_int_equal(soci_layer_pread(l, big, buf, 4 << 20, 0), SOCI_EDIGEST);
    soci_layer_free(l);
    soci_blob_unref(blob);
    soci_ztoc_free(z);

    /* A span asked for fewer bytes than its frames hold stops there (no overflow);
     * one asked for more than they hold fails. */
    size_t frame = ZSTD_compress(buf, 4 << 20, v.tar, 100000, 3);
    uint8_t out[1000];
    assert_int_equal(span_zstd_decode(NULL, buf, frame, 0, out, sizeof(out)), 0);
    assert_memory_equal(out, v.tar, sizeof(out));
    uint8_t *more = malloc(200000);
    assert_int_equal(span_zstd_decode(NULL, buf, frame, 0, more, 200000), SOCI_EFORMAT);
    assert_int_equal(span_zstd_decode(NULL, buf, frame / 2, 0, more, 100000), SOCI_EFORMAT);
    /* A chunk starting inside its frame (zstd:chunked) drops what comes before it, across
     * the decoder's scratch buffer many times over; skipping past the end fails. */
    assert_int_equal(span_zstd_decode(NULL, buf, frame, 77777, out, sizeof(out)), 0);
    assert_memory_equal(out, v.tar + 77777, sizeof(out));
    assert_int_equal(span_zstd_decode(NULL, buf, frame, 99500, out, sizeof(out)), SOCI_EFORMAT);
    /* The same through a pool, more contexts at once than it keeps: a context given back
     * in the middle of a frame (stopped early, cut short, failed) decodes the next span
     * from its start. */
    struct zstd_pool *pool = zstd_pool_new();
    assert_non_null(pool);
    ZSTD_DCtx *held[ZSTD_POOL_MAX + 2];
    for (int i = 0; i < ZSTD_POOL_MAX + 2; i++)
        assert_non_null(held[i] = zstd_pool_take(pool, 27));
    for (int i = 0; i < ZSTD_POOL_MAX + 2; i++)
        zstd_pool_give_back(pool, held[i]);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(span_zstd_decode(pool, buf, frame, 0, out, sizeof(out)), 0);
        assert_memory_equal(out, v.tar, sizeof(out));
        assert_int_equal(span_zstd_decode(pool, buf, frame / 2, 0, more, 100000), SOCI_EFORMAT);
        assert_int_equal(span_zstd_decode(pool, buf, frame, 99500, out, sizeof(out)), SOCI_EFORMAT);
        assert_int_equal(span_zstd_decode(pool, buf, frame, 77777, out, sizeof(out)), 0);
        assert_memory_equal(out, v.tar + 77777, sizeof(out));
        assert_int_equal(span_zstd_decode(pool, buf, frame, 0, more, 100000), 0);
        assert_memory_equal(more, v.tar, 100000);
    }
    zstd_pool_free(pool);
    free(more);
    free(buf);
    free(bad);
    free(layer);
}

/* The seekable format: the frames, then a skippable frame (0x184D2A5E) with one entry
 * per frame (compressed, decompressed size) and the footer (count, descriptor, magic). */
static uint8_t *seekable(size_t frame_size, bool lie, size_t *len)
{
    size_t cap = ZSTD_compressBound(v.tar_len) + v.tar_len / 1024 + 65536, n = 0, frames = 0;
    uint8_t *out = malloc(cap), *table = malloc(65536);
    size_t t = 0;
    for (size_t off = 0; off < v.tar_len; off += frame_size, frames++) {
        size_t in = v.tar_len - off < frame_size ? v.tar_len - off : frame_size;
        size_t w = ZSTD_compress(out + n, cap - n, v.tar + off, in, 3);
        assert_false(ZSTD_isError(w));
        n += w;
        uint32_t entry[2] = {(uint32_t)w, (uint32_t)in + (lie && frames == 2)};
        memcpy(table + t, entry, sizeof(entry)); /* little-endian machine, as the tests run */
        t += sizeof(entry);
    }
    uint32_t head[2] = {0x184D2A5Eu, (uint32_t)(t + 9)}, count = (uint32_t)frames, magic = 0x8F92EAB1u;
    memcpy(out + n, head, 8);
    memcpy(out + n + 8, table, t);
    memcpy(out + n + 8 + t, &count, 4);
    out[n + 12 + t] = 0;
    memcpy(out + n + 13 + t, &magic, 4);
    *len = n + 17 + t;
    free(table);
    return out;
}

static char last_log[512];
static void keep_log(int level, const char *message, void *userdata)
{
    (void)level, (void)userdata;
    if (strstr(message, "seek table") || strstr(message, "seekable"))
        snprintf(last_log, sizeof(last_log), "%s", message);
}

/* A seekable-format layer: its seek table is read and the frames found agree with it;
 * a table that lies is reported and ignored, and the layer still reads right. */
static void test_seekable_format(void **state)
{
    (void)state;
    size_t len;
    soci_set_log_func(keep_log, SOCI_LOG_INFO, NULL);
    for (int lie = 0; lie < 2; lie++) {
        last_log[0] = '\0';
        uint8_t *layer = seekable(48 << 10, lie, &len);
        assert_true(check_layer(layer, len, 64 << 10) > 1);
        assert_non_null(strstr(last_log, lie ? "ignored" : "all"));
        free(layer);
    }
    soci_set_log_func(NULL, 0, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_frames),
        cmocka_unit_test(test_one_frame_and_skippable_frames),
        cmocka_unit_test(test_hostile_streams),
        cmocka_unit_test(test_seekable_format),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
