/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ISA-L against zlib: every span of every reference vector decoded by both inflaters,
 * byte for byte the same, and the same as plain zlib's inflation of the whole layer.
 * ISA-L's path primes the checkpoint's leftover bits through its state's bit buffer,
 * which depends on that struct's layout: this is the test that would catch a change.
 * Skipped (77) in builds without ISA-L.
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

#include "format/ztoc_internal.h"
#include "helpers.h"
#include "span/span.h"

#ifdef SOCI_HAVE_ISAL
static void test_spans_agree(void **state)
{
    const struct vector_case *vc = *state;
    size_t gz_len, tar_len;
    uint8_t *gz = slurp(vc->layer, &gz_len);
    soci_ztoc *z;
    assert_int_equal(soci_ztoc_open_file(vc->ztoc, &z), 0);
    if (soci_ztoc_compression(z) != SOCI_COMPRESSION_GZIP) {
        soci_ztoc_free(z);
        free(gz);
        skip();
    }
    uint8_t *tar = gunzip_all(gz, gz_len, &tar_len);
    for (uint32_t i = 0; i < z->span_count; i++) {
        uint64_t co, ce, oo, oe;
        ztoc_span_ranges(z, i, &co, &ce, &oo, &oe);
        size_t n = (size_t)(oe - oo);
        uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
        assert_int_equal(span_gzip_decode(&z->checkpoints[i], gz + co, (size_t)(ce - co), a, n), 0);
        assert_int_equal(span_gzip_decode_isal(&z->checkpoints[i], gz + co, (size_t)(ce - co), b, n), 0);
        assert_memory_equal(a, b, n);
        assert_true(oe <= tar_len);
        assert_memory_equal(b, tar + oo, n);
        free(a);
        free(b);
    }
    free(tar);
    free(gz);
    soci_ztoc_free(z);
}
#endif

int main(void)
{
#ifdef SOCI_HAVE_ISAL
    return run_per_vector("span_backends", test_spans_agree, NULL, NULL);
#else
    puts("SKIP: built without ISA-L (-Disal=disabled or libisal-dev missing)");
    return EXIT_SKIP;
#endif
}
