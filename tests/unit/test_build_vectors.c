/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The builder against the reference: each vector layer, built at the vector's span size
 * with the same build tool identifier and checkpoint form, must give the reference's
 * zTOC byte for byte (so also the same digest). Built from a stream (with one thread and
 * with two) and from a blob.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <soci/soci.h>

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
    soci_builder_free(b);
    soci_builder_free(NULL);
    soci_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_options)};
    int failed = run_per_vector("build_vectors", test_build, NULL, NULL);
    return failed + cmocka_run_group_tests_name("builder_options", tests, NULL, NULL);
}
