/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The builder against the reference: each vector layer, built at the vector's span size
 * with the same build tool identifier and checkpoint form, must give the reference's
 * zTOC byte for byte (so also the same digest). Built from a stream (with one thread and
 * with two) and from a blob.
 *
 * With cuts (extents of a prefetch record, builder/build_cuts.h) the zTOC is ours: every
 * span must still decode, its digest verified, to exactly what plain zlib inflates there;
 * a checkpoint must lie close before each extent (the spans holding the extents hold
 * fewer bytes than without cuts); and one thread or two must give the same bytes.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <soci/soci.h>

#include "builder/build_cuts.h"
#include "builder/build_internal.h"
#include "helpers.h"

struct mem_stream {
    const uint8_t *data;
    size_t len, off, step;
};

/* Hands out the layer in odd-sized pieces so chunk boundaries fall everywhere. */
static int64_t read_pieces(void *ctx, void *buf, size_t len)
{
    struct mem_stream *s = ctx;
    size_t n = s->len - s->off;
    if (n > len)
        n = len;
    if (n > s->step)
        n = s->step;
    memcpy(buf, s->data + s->off, n);
    s->off += n;
    s->step = s->step * 7 % 100003 + 1;
    return (int64_t)n;
}

static void test_build(void **state)
{
    const struct vector_case *vc = *state;
    size_t want_len, layer_len;
    uint8_t *want = slurp(vc->ztoc, &want_len), *layer = slurp(vc->layer, &layer_len);
    soci_ztoc *ref;
    assert_int_equal(soci_ztoc_open_mem(want, want_len, 0, &ref), 0);

    soci_builder *b;
    assert_int_equal(soci_builder_new(&b), 0);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, soci_ztoc_span_size(ref)), 0);
    assert_int_equal(soci_builder_set_str(b, SOCI_BUILD_TOOL_IDENTIFIER, soci_ztoc_build_tool(ref)), 0);
    if (soci_ztoc_compression(ref) == SOCI_COMPRESSION_GZIP)
        assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_CHECKPOINT_VERSION,
                                              (uint64_t)soci_ztoc_checkpoint_version(ref)), 0);

    void *out;
    size_t out_len;
    /* On the calling thread alone, and with the indexing on a second thread. */
    for (uint64_t threads = 1; threads <= 2; threads++) {
        assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_THREADS, threads), 0);
        struct mem_stream s = {.data = layer, .len = layer_len, .step = 1};
        int r = soci_builder_build_stream(b, read_pieces, &s, &out, &out_len);
        if (r < 0)
            fail_msg("%s, %u thread(s): %s", vc->name, (unsigned)threads, soci_last_error());
        assert_int_equal(out_len, want_len);
        assert_memory_equal(out, want, want_len);
        soci_free(out);
    }
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_THREADS, 0), 0);

    soci_blob *blob;
    assert_int_equal(soci_blob_open_mem(layer, layer_len, 0, &blob), 0);
    assert_int_equal(soci_builder_build_blob(b, blob, &out, &out_len), 0);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
    soci_free(out);
    soci_blob_unref(blob);

    soci_builder_free(b);
    soci_ztoc_free(ref);
    free(want);
    free(layer);
}

/* Bytes of the spans of z that hold the extents. */
static uint64_t bytes_holding(const soci_ztoc *z, const struct extent *v, size_t n)
{
    uint64_t total = 0;
    uint32_t counted_upto = 0; /* spans below are counted */
    for (size_t k = 0; k < n; k++) {
        uint32_t first, last;
        assert_int_equal(soci_ztoc_span_at(z, v[k].start, &first), 0);
        assert_int_equal(soci_ztoc_span_at(z, v[k].end - 1, &last), 0);
        for (uint32_t s = first > counted_upto ? first : counted_upto; s <= last; s++) {
            struct soci_span_info info;
            assert_int_equal(soci_ztoc_span_info(z, s, &info, sizeof(info)), 0);
            total += info.uncompressed_size;
        }
        counted_upto = last + 1;
    }
    return total;
}

static void test_build_cuts(void **state)
{
    const struct vector_case *vc = *state;
    size_t ref_len, layer_len;
    uint8_t *ref_bytes = slurp(vc->ztoc, &ref_len), *layer = slurp(vc->layer, &layer_len);
    soci_ztoc *ref;
    assert_int_equal(soci_ztoc_open_mem(ref_bytes, ref_len, 0, &ref), 0);
    uint64_t size = soci_ztoc_uncompressed_size(ref);
    if (soci_ztoc_compression(ref) != SOCI_COMPRESSION_GZIP || size < 4 * BUILD_CUT_LEAD) {
        soci_ztoc_free(ref);
        free(ref_bytes);
        free(layer);
        skip(); /* cuts are for gzip layers with room between spans */
    }
    size_t tar_len;
    uint8_t *tar = gunzip_all(layer, layer_len, &tar_len);
    assert_true(tar_len >= size); /* the zTOC's size ends with the tar's last entry */
    /* Three short reads spread over the layer, one long one near its end. */
    struct extent v[] = {{size / 5, size / 5 + 4096},
                         {size / 3, size / 3 + 100},
                         {size / 2, size / 2 + 70000},
                         {size - size / 8, size - size / 16}};
    size_t n = sizeof(v) / sizeof(v[0]);

    soci_builder *b;
    assert_int_equal(soci_builder_new(&b), 0);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, soci_ztoc_span_size(ref)), 0);
    assert_int_equal(builder_set_cuts(b, v, n), 0);
    void *out[2];
    size_t out_len[2];
    for (uint64_t threads = 1; threads <= 2; threads++) {
        assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_THREADS, threads), 0);
        struct mem_stream st = {.data = layer, .len = layer_len, .step = 1};
        if (soci_builder_build_stream(b, read_pieces, &st, &out[threads - 1], &out_len[threads - 1]) < 0)
            fail_msg("%s with cuts, %u thread(s): %s", vc->name, (unsigned)threads, soci_last_error());
    }
    assert_int_equal(out_len[0], out_len[1]);
    assert_memory_equal(out[0], out[1], out_len[0]);

    soci_ztoc *z;
    assert_int_equal(soci_ztoc_open_mem(out[0], out_len[0], 0, &z), 0);
    /* Spans much larger than a cut's reach are what cuts shrink; small ones stay. */
    bool large = soci_ztoc_span_size(ref) >= 4 * BUILD_CUT_LEAD;
    assert_true(soci_ztoc_span_count(z) >= soci_ztoc_span_count(ref));
    for (uint32_t s = 0; s < soci_ztoc_span_count(z); s++) {
        struct soci_span_info info;
        assert_int_equal(soci_ztoc_span_info(z, s, &info, sizeof(info)), 0);
        assert_true(info.compressed_offset + info.compressed_size <= layer_len);
        uint8_t *dec = malloc(info.uncompressed_size ? info.uncompressed_size : 1);
        assert_non_null(dec);
        int64_t got = soci_ztoc_decode_span(z, s, layer + info.compressed_offset, info.compressed_size, dec,
                                            info.uncompressed_size);
        if (got < 0)
            fail_msg("%s with cuts: span %u: %s", vc->name, s, soci_last_error());
        assert_int_equal((uint64_t)got, info.uncompressed_size);
        assert_memory_equal(dec, tar + info.uncompressed_offset, info.uncompressed_size);
        free(dec);
    }
    /* A cut lies at the last block boundary before each extent, within BUILD_CUT_LEAD
     * when the stream has a boundary there: the spans holding the extents shrink. */
    uint64_t with = bytes_holding(z, v, n), without = bytes_holding(ref, v, n);
    if (large ? with >= without : with > without)
        fail_msg("%s: spans holding the extents: %llu bytes with cuts, %llu without", vc->name,
                 (unsigned long long)with, (unsigned long long)without);

    soci_ztoc_free(z);
    soci_free(out[0]);
    soci_free(out[1]);
    soci_builder_free(b);
    soci_ztoc_free(ref);
    free(tar);
    free(ref_bytes);
    free(layer);
}

static void test_options(void **state)
{
    (void)state;
    soci_builder *b;
    assert_int_equal(soci_builder_new(&b), 0);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, 0), SOCI_EINVAL);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_CHECKPOINT_VERSION, 3), SOCI_EINVAL);
    assert_int_equal(soci_builder_set_u64(b, SOCI_BUILD_THREADS, 3), SOCI_EINVAL);
    assert_int_equal(soci_builder_set_u64(b, 999, 1), SOCI_EINVAL);
    assert_int_equal(soci_builder_set_str(b, 999, "x"), SOCI_EINVAL);
    assert_int_equal(soci_builder_set_str(b, SOCI_BUILD_TOOL_IDENTIFIER, NULL), SOCI_EINVAL);
    /* Cuts: however many extents a record holds, at most BUILD_CUTS_MAX remain. */
    size_t n = 3 * BUILD_CUTS_MAX;
    struct extent *v = malloc(n * sizeof(*v));
    assert_non_null(v);
    for (size_t k = 0; k < n; k++)
        v[k] = (struct extent){k << 20, (k << 20) + 1};
    assert_int_equal(builder_set_cuts(b, v, n), 0);
    assert_true(b->ncuts > 0 && b->ncuts <= BUILD_CUTS_MAX && b->cuts[0].start == 0 &&
                b->cuts[b->ncuts - 1].end >= ((n - 1) << 20) + 1);
    assert_int_equal(builder_set_cuts(b, v, 2), 0); /* 1 MiB apart: two, each 256 KiB longer */
    assert_true(b->ncuts == 2 && b->cuts[1].end == (1u << 20) + 1 + BUILD_CUT_TAIL);
    assert_int_equal(builder_set_cuts(b, NULL, 0), 0);
    assert_int_equal(b->ncuts, 0);
    free(v);
    soci_builder_free(b);
    soci_builder_free(NULL);
    soci_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_options)};
    int failed = run_per_vector("build_vectors", test_build, NULL, NULL);
    failed += run_per_vector("build_cuts", test_build_cuts, NULL, NULL);
    return failed + cmocka_run_group_tests_name("builder_options", tests, NULL, NULL);
}
