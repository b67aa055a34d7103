/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers that carry their own TOC. The first byte picks what the rest is:
 *   0, 1  a chunk TOC's JSON (eStargz / zstd:chunked), as if its digest had matched,
 *         then the layer's bytes: u32 JSON length (little-endian), JSON, layer; every
 *         chunk the TOC maps is decoded from those bytes;
 *   2, 3  a whole eStargz / zstd:chunked blob: footer, TOC fetch and decompression up to
 *         the digest check (which a fuzzer cannot pass, by design).
 */
#include <soci/blob.h>

#include "format/chunk_toc.h"
#include "format/lazy_formats.h"
#include "format/ztoc_internal.h"
#include "fuzz.h"

/* Decoding allocates each chunk's declared size: keep the harness's memory small. */
#define MAX_CHUNK_OUT (1u << 20)
#define ANY_DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static void decode_chunks(const soci_ztoc *z, const uint8_t *blob, size_t size)
{
    for (uint32_t i = 0; i < soci_ztoc_span_count(z); i++) {
        struct soci_span_info si;
        if (soci_ztoc_span_info(z, i, &si, sizeof(si)) < 0)
            abort();
        if (si.compressed_offset + si.compressed_size > size)
            abort(); /* chunks were bounded by the data */
        if (si.uncompressed_size > MAX_CHUNK_OUT)
            continue;
        uint8_t *out = malloc(si.uncompressed_size ? si.uncompressed_size : 1);
        if (out == NULL)
            abort();
        (void)soci_ztoc_decode_span(z, i, blob + si.compressed_offset, si.compressed_size, out,
                                    si.uncompressed_size);
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] & 3;
    fuzz_take(&data, &size, 1);
    soci_ztoc *z = NULL;
    if (mode < 2) {
        if (size < 4)
            return 0;
        size_t json_len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
        fuzz_take(&data, &size, 4);
        const uint8_t *json = fuzz_take(&data, &size, json_len);
        json_len = (size_t)(data - json);
        struct chunk_toc_layer layer = {mode == 0 ? SOCI_COMPRESSION_GZIP : SOCI_COMPRESSION_ZSTD, size, size,
                                        "fuzz"};
        if (chunk_toc_parse(json, json_len, &layer, &z) == 0) {
            decode_chunks(z, data, size);
            soci_ztoc_free(z);
        }
        return 0;
    }
    soci_blob *blob;
    if (soci_blob_open_mem(data, size, 0, &blob) < 0)
        return 0;
    int r = mode == 2 ? estargz_open(blob, ANY_DIGEST, &z) : zstd_chunked_open(blob, ANY_DIGEST, "", &z);
    if (r == 0)
        soci_ztoc_free(z); /* only if a fuzzer found a TOC hashing to zeros */
    soci_blob_unref(blob);
    return 0;
}
