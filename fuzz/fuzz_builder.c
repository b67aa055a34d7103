/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole builder on a mutated layer (gzip or plain tar), then the round trip: a zTOC
 * it builds must open, and every regular file must read back through a layer over the
 * same bytes without error, within its size. Small spans (the first input byte picks
 * one) put checkpoints everywhere. Its top bit builds from a blob instead of a stream,
 * which reads a zstd seekable-format seek table first. The same layer is then built
 * again on one thread: the result (zTOC or error code) must not change.
 */
#include <soci/build.h>
#include <soci/layer.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* 4 KiB to 32 KiB, but at least 8 input bytes per span byte: deflate expands at most
     * ~1032 times, so a bomb still makes few checkpoints (each keeps a 32 KiB window). */
    uint64_t span = (uint64_t)(data[0] % 8 + 1) << 12;
    if (span < (uint64_t)size * 8)
        span = (uint64_t)size * 8;
    struct fuzz_source src = {data + 1, size - 1, 0, 4099}; /* odd pieces, as a network delivers them */
    soci_builder *b;
    void *ztoc;
    size_t ztoc_len;
    if (soci_builder_new(&b) < 0)
        abort();
    soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, span);
    soci_blob *blob;
    if (soci_blob_open_mem(data + 1, size - 1, 0, &blob) < 0)
        abort();
    soci_builder_set_u64(b, SOCI_BUILD_THREADS, 2);
    int r = data[0] & 0x80 ? soci_builder_build_blob(b, blob, &ztoc, &ztoc_len)
                           : soci_builder_build_stream(b, fuzz_read, &src, &ztoc, &ztoc_len);
    /* One thread must come to the same end: the same zTOC, or the same failure. */
    void *alone;
    size_t alone_len;
    struct fuzz_source again = {data + 1, size - 1, 0, 4099};
    soci_builder_set_u64(b, SOCI_BUILD_THREADS, 1);
    int r1 = soci_builder_build_stream(b, fuzz_read, &again, &alone, &alone_len);
    soci_builder_free(b);
    if (r1 != r && !(data[0] & 0x80)) /* (a blob build may also fail on its seek table) */
        abort();
    if (r == 0 && r1 == 0 && (alone_len != ztoc_len || memcmp(alone, ztoc, ztoc_len) != 0))
        abort();
    if (r1 == 0)
        soci_free(alone);
    if (r < 0) {
        soci_blob_unref(blob);
        return 0;
    }

    soci_ztoc *z;
    soci_layer *layer;
    if (soci_ztoc_open_mem(ztoc, ztoc_len, 0, &z) < 0)
        abort(); /* we must read what we write */
    if (soci_layer_open(blob, z, &layer) < 0)
        abort();
    uint8_t buf[8192];
    for (uint32_t i = 0; i < soci_ztoc_entry_count(z); i++) {
        struct soci_entry e;
        soci_ztoc_entry(z, i, &e, sizeof(e));
        if (e.type != SOCI_TYPE_REG)
            continue;
        for (uint64_t off = 0; off < e.size && off < (1u << 20); off += sizeof(buf)) {
            int64_t n = soci_layer_pread(layer, i, buf, sizeof(buf), off);
            if (n <= 0 || (uint64_t)n > e.size - off)
                abort();
        }
    }
    soci_layer_free(layer);
    soci_blob_unref(blob);
    soci_ztoc_free(z);
    soci_free(ztoc);
    return 0;
}
