/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span decoding throughput against plain zlib, measured in the same run.
 *
 * usage: bench_span LAYER.tar.gz [SPAN_SIZE]
 *
 * Baseline: zlib inflating the whole layer from memory, start to end, output discarded.
 * libsoci: every span decoded on its own through soci_ztoc_decode_span() — sha256 of
 * its compressed bytes checked, inflater primed from the checkpoint, window set. Both
 * produce the same bytes; the ratio is libsoci's rate over the baseline's (1.0 = as
 * fast as inflating the layer in one go). Each side runs three times; the best counts.
 */
#include <inttypes.h>
#include <string.h>
#include <zlib.h>

#include <soci/soci.h>

#include "bench_common.h"

#define RUNS 3

static double plain_inflate(const uint8_t *gz, size_t len, uint64_t *out_total)
{
    static uint8_t out[1 << 20];
    z_stream s = {0};
    double t0 = now_seconds();
    inflateInit2(&s, 15 + 16);
    s.next_in = (Bytef *)(uintptr_t)gz;
    s.avail_in = (uInt)len;
    uint64_t total = 0;
    for (;;) {
        s.next_out = out;
        s.avail_out = sizeof(out);
        int r = inflate(&s, Z_NO_FLUSH);
        total += sizeof(out) - s.avail_out;
        if (r == Z_STREAM_END) {
            if (s.avail_in == 0)
                break;
            inflateReset(&s);
        } else if (r != Z_OK) {
            fprintf(stderr, "zlib error %d\n", r);
            exit(1);
        }
    }
    inflateEnd(&s);
    *out_total = total;
    return now_seconds() - t0;
}

static double decode_spans(const soci_ztoc *z, const uint8_t *gz, uint64_t *out_total)
{
    uint32_t n = soci_ztoc_span_count(z);
    uint64_t max = 0, total = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct soci_span_info si;
        soci_ztoc_span_info(z, i, &si, sizeof(si));
        if (si.uncompressed_size > max)
            max = si.uncompressed_size;
    }
    uint8_t *out = malloc(max + 1);
    double t0 = now_seconds();
    for (uint32_t i = 0; i < n; i++) {
        struct soci_span_info si;
        soci_ztoc_span_info(z, i, &si, sizeof(si));
        int64_t got = soci_ztoc_decode_span(z, i, gz + si.compressed_offset, si.compressed_size, out,
                                            si.uncompressed_size);
        if (got < 0) {
            fprintf(stderr, "span %u: %s\n", i, soci_last_error());
            exit(1);
        }
        total += (uint64_t)got;
    }
    double t = now_seconds() - t0;
    free(out);
    *out_total = total;
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_span LAYER.tar.gz [SPAN_SIZE]\n");
        return 2;
    }
    uint64_t span_size = argc > 2 ? strtoull(argv[2], NULL, 10) : SOCI_BUILD_DEFAULT_SPAN_SIZE;
    size_t len;
    uint8_t *gz = read_all(argv[1], &len);

    soci_builder *b;
    soci_blob *blob;
    soci_ztoc *z;
    void *ztoc;
    size_t ztoc_len;
    if (soci_builder_new(&b) < 0 || soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, span_size) < 0 ||
        soci_blob_open_mem(gz, len, 0, &blob) < 0 || soci_builder_build_blob(b, blob, &ztoc, &ztoc_len) < 0 ||
        soci_ztoc_open_mem(ztoc, ztoc_len, 0, &z) < 0) {
        fprintf(stderr, "bench_span: %s\n", soci_last_error());
        return 1;
    }

    double best_plain = 1e9, best_spans = 1e9;
    uint64_t plain_bytes = 0, span_bytes = 0;
    for (int run = 0; run < RUNS; run++) {
        double t = plain_inflate(gz, len, &plain_bytes);
        if (t < best_plain)
            best_plain = t;
        t = decode_spans(z, gz, &span_bytes);
        if (t < best_spans)
            best_spans = t;
    }
    double plain_rate = (double)plain_bytes / best_plain / 1e6, span_rate = (double)span_bytes / best_spans / 1e6;
    printf("layer: %zu bytes compressed, %" PRIu64 " inflated, %u spans of %" PRIu64 " bytes\n", len, plain_bytes,
           soci_ztoc_span_count(z), span_size);
    printf("plain zlib inflate, whole layer: %8.1f MB/s\n", plain_rate);
    printf("libsoci, every span on its own:  %8.1f MB/s (digest checked)\n", span_rate);
    printf("ratio span/plain: %.2f\n", span_rate / plain_rate);

    soci_ztoc_free(z);
    soci_free(ztoc);
    soci_blob_unref(blob);
    soci_builder_free(b);
    free(gz);
    return 0;
}
