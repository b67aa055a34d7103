/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span decoding throughput against plain zlib, measured in the same run.
 *
 * usage: bench_span LAYER.tar.gz [SPAN_SIZE]
 *
 * Baseline: zlib inflating the whole layer from memory, start to end, output discarded.
 * libsoci: every span decoded on its own — sha256 of its compressed bytes checked,
 * inflater primed from the checkpoint, window set — with zlib's inflater and, when
 * built with it, ISA-L's (what soci_ztoc_decode_span uses then). All produce the same
 * bytes; ratios are rates over the baseline's (1.0 = as fast as inflating the layer in
 * one go) and ISA-L's over zlib's. Each side runs three times; the best counts.
 */
#include <inttypes.h>
#include <string.h>
#include <zlib.h>

#include <soci/soci.h>

#include "bench_common.h"
#include "format/ztoc_internal.h"
#include "span/span.h"
#include "util/digest.h"

typedef int (*span_decoder)(const struct ztoc_checkpoint *cp, const uint8_t *comp, size_t comp_len, uint8_t *out,
                            size_t out_len);

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

static double decode_spans(const soci_ztoc *z, const uint8_t *gz, span_decoder decode, uint64_t *out_total)
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
        uint8_t digest[SHA256_LEN];
        const uint8_t *comp = gz + si.compressed_offset;
        if (sha256(comp, si.compressed_size, digest) < 0 || memcmp(digest, z->digests[i], SHA256_LEN) != 0 ||
            decode(&z->checkpoints[i], comp, si.compressed_size, out, si.uncompressed_size) < 0) {
            fprintf(stderr, "span %u: %s\n", i, soci_last_error());
            exit(1);
        }
        total += si.uncompressed_size;
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

    if (soci_ztoc_compression(z) != SOCI_COMPRESSION_GZIP) {
        fprintf(stderr, "bench_span: not a gzip layer\n");
        return 1;
    }
    double best_plain = 1e9, best_zlib = 1e9, best_isal = 1e9;
    uint64_t plain_bytes = 0, span_bytes = 0;
    for (int run = 0; run < RUNS; run++) {
        double t = plain_inflate(gz, len, &plain_bytes);
        if (t < best_plain)
            best_plain = t;
        t = decode_spans(z, gz, span_gzip_decode, &span_bytes);
        if (t < best_zlib)
            best_zlib = t;
#ifdef SOCI_HAVE_ISAL
        t = decode_spans(z, gz, span_gzip_decode_isal, &span_bytes);
        if (t < best_isal)
            best_isal = t;
#endif
    }
    double plain_rate = (double)plain_bytes / best_plain / 1e6, zlib_rate = (double)span_bytes / best_zlib / 1e6;
    printf("layer: %zu bytes compressed, %" PRIu64 " inflated, %u spans of %" PRIu64 " bytes\n", len, plain_bytes,
           soci_ztoc_span_count(z), span_size);
    printf("plain zlib inflate, whole layer:        %8.1f MB/s\n", plain_rate);
    printf("libsoci spans, zlib (digest checked):   %8.1f MB/s  ratio span/plain: %.2f\n", zlib_rate,
           zlib_rate / plain_rate);
#ifdef SOCI_HAVE_ISAL
    double isal_rate = (double)span_bytes / best_isal / 1e6;
    printf("libsoci spans, ISA-L (digest checked):  %8.1f MB/s  ratio span/plain: %.2f  ISA-L/zlib: %.2f\n",
           isal_rate, isal_rate / plain_rate, isal_rate / zlib_rate);
#else
    (void)best_isal;
    printf("libsoci spans, ISA-L: not built (-Disal)\n");
#endif

    soci_ztoc_free(z);
    soci_free(ztoc);
    soci_blob_unref(blob);
    soci_builder_free(b);
    free(gz);
    return 0;
}
