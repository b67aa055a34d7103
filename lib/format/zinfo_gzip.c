/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gzip checkpoint blob: int32 count, int64 span size, then count packed checkpoints
 * of 32785 bytes (int64 in, int64 out, uint8 bits, 32 KiB window), little-endian.
 * Version 1 blobs (older reference releases) leave out checkpoint 0, which is then
 * in=10 (right after a minimal gzip header), out=0, no window. The two are told apart by
 * length alone, as the reference does.
 */
#include <stdlib.h>

#include "format/ztoc_internal.h"
#include "util/bytes.h"
#include "util/error.h"

#define HEADER_SIZE 12
#define PACKED_CHECKPOINT_SIZE (8 + 8 + 1 + ZTOC_WINDOW_SIZE)
#define V1_IMPLIED_IN 10

int zinfo_check_checkpoints(const struct soci_ztoc *z)
{
    const struct ztoc_checkpoint *cp = z->checkpoints;

    if (cp[0].out != 0)
        return soci_fail(SOCI_EFORMAT, "ztoc: checkpoint 0 starts at uncompressed offset %llu, not 0",
                         (unsigned long long)cp[0].out);
    for (uint32_t i = 0; i < z->span_count; i++) {
        uint64_t comp_off, comp_end, out_off, out_end;
        if (cp[i].bits > 7 || (cp[i].bits && cp[i].in == 0))
            return soci_fail(SOCI_EFORMAT, "ztoc: checkpoint %u has %u bits at offset %llu", i,
                             cp[i].bits, (unsigned long long)cp[i].in);
        /* A checkpoint's out may lie past uncompressed_size: that size is where the tar
         * reader stopped, while checkpoints cover the whole gzip stream, tar padding and
         * all (the reference writes such zTOCs). Geometry clamps those spans to empty. */
        if (cp[i].in > z->compressed_size)
            return soci_fail(SOCI_EFORMAT, "ztoc: checkpoint %u (in %llu) past the %llu-byte layer", i,
                             (unsigned long long)cp[i].in, (unsigned long long)z->compressed_size);
        if (i > 0 && (cp[i].in < cp[i - 1].in || cp[i].out < cp[i - 1].out))
            return soci_fail(SOCI_EFORMAT, "ztoc: checkpoint %u goes backwards", i);
        ztoc_span_ranges(z, i, &comp_off, &comp_end, &out_off, &out_end);
        if (comp_off > comp_end)
            return soci_fail(SOCI_EFORMAT, "ztoc: span %u has a negative compressed size", i);
        if (out_end - out_off > ZTOC_SPAN_MAX || comp_end - comp_off > ZTOC_SPAN_MAX)
            return soci_fail(SOCI_ETOOBIG, "ztoc: span %u is larger than %llu bytes", i,
                             (unsigned long long)ZTOC_SPAN_MAX);
    }
    return 0;
}

int zinfo_gzip_parse(struct soci_ztoc *z, const uint8_t *blob, size_t len)
{
    if (len < HEADER_SIZE)
        return soci_fail(SOCI_EFORMAT, "ztoc: gzip checkpoint data is %zu bytes, shorter than its header",
                         len);
    int32_t count = (int32_t)load_u32le(blob);
    uint64_t span_size = load_u64le(blob + 4);
    if (count < 1 || (uint32_t)count != z->span_count)
        return soci_fail(SOCI_EFORMAT, "ztoc: %d checkpoints for %u spans", count, z->span_count);

    uint64_t n = (uint32_t)count;
    uint64_t body = len - HEADER_SIZE;
    uint32_t stored_from; /* index of the first checkpoint stored in the blob */
    if (body == n * PACKED_CHECKPOINT_SIZE) {
        z->checkpoint_version = 2;
        stored_from = 0;
    } else if (body == (n - 1) * PACKED_CHECKPOINT_SIZE) {
        z->checkpoint_version = 1;
        stored_from = 1;
    } else {
        return soci_fail(SOCI_EFORMAT,
                         "ztoc: gzip checkpoint data is %zu bytes, neither form for %u checkpoints", len,
                         z->span_count);
    }
    if ((int64_t)span_size <= 0)
        return soci_fail(SOCI_EFORMAT, "ztoc: gzip span size %lld", (long long)span_size);
    z->span_size = span_size;

    z->checkpoints = calloc(n, sizeof(*z->checkpoints));
    if (z->checkpoints == NULL)
        return soci_fail_nomem("checkpoints");
    if (stored_from == 1)
        z->checkpoints[0] = (struct ztoc_checkpoint){.in = V1_IMPLIED_IN};
    for (uint32_t i = stored_from; i < n; i++) {
        const uint8_t *p = blob + HEADER_SIZE + (uint64_t)(i - stored_from) * PACKED_CHECKPOINT_SIZE;
        z->checkpoints[i].in = load_u64le(p);
        z->checkpoints[i].out = load_u64le(p + 8);
        z->checkpoints[i].bits = p[16];
        z->checkpoints[i].window = p + 17;
        if ((int64_t)z->checkpoints[i].in < 0 || (int64_t)z->checkpoints[i].out < 0)
            return soci_fail(SOCI_EFORMAT, "ztoc: checkpoint %u has a negative offset", i);
    }
    return zinfo_check_checkpoints(z);
}
