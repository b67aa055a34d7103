/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checkpoint bytes of a zstd zTOC — libsoci's extension of the format (compression
 * algorithm 3; docs/format.md). Little-endian, tightly packed:
 *
 *   int32 n          number of checkpoints (= spans)
 *   int64 span_size  the span size the zTOC was built with
 *   n × { int64 in, int64 out }   compressed and uncompressed offset of a frame start
 *
 * Every span is a run of whole frames, so a checkpoint needs no window and no bits:
 * decoding a span is decompressing its frames from a fresh context.
 */
#include <stdlib.h>

#include "format/ztoc_internal.h"
#include "format/ztoc_write.h"
#include "util/bytes.h"
#include "util/error.h"

#define HEADER 12
#define RECORD 16

int zinfo_zstd_parse(struct soci_ztoc *z, const uint8_t *blob, size_t len)
{
    if (len < HEADER)
        return soci_fail(SOCI_EFORMAT, "ztoc: zstd checkpoint data is %zu bytes, shorter than its header", len);
    int32_t count = (int32_t)load_u32le(blob);
    int64_t span_size = (int64_t)load_u64le(blob + 4);
    if (count < 1 || (uint32_t)count != z->span_count)
        return soci_fail(SOCI_EFORMAT, "ztoc: %d zstd checkpoints for %u spans", count, z->span_count);
    if ((uint64_t)len != HEADER + (uint64_t)count * RECORD)
        return soci_fail(SOCI_EFORMAT, "ztoc: zstd checkpoint data is %zu bytes, not %llu for %d checkpoints",
                         len, (unsigned long long)(HEADER + (uint64_t)count * RECORD), count);
    if (span_size <= 0)
        return soci_fail(SOCI_EFORMAT, "ztoc: zstd span size %lld", (long long)span_size);
    z->span_size = (uint64_t)span_size;
    z->checkpoint_version = 1;
    z->checkpoints = calloc((size_t)count, sizeof(*z->checkpoints));
    if (z->checkpoints == NULL)
        return soci_fail_nomem("checkpoints");
    for (int32_t i = 0; i < count; i++) {
        const uint8_t *p = blob + HEADER + (size_t)i * RECORD;
        int64_t in = (int64_t)load_u64le(p), out = (int64_t)load_u64le(p + 8);
        if (in < 0 || out < 0)
            return soci_fail(SOCI_EFORMAT, "ztoc: zstd checkpoint %d has a negative offset", i);
        z->checkpoints[i] = (struct ztoc_checkpoint){.in = (uint64_t)in, .out = (uint64_t)out};
    }
    if (z->checkpoints[0].in != 0)
        return soci_fail(SOCI_EFORMAT, "ztoc: zstd checkpoint 0 is at byte %llu, not 0",
                         (unsigned long long)z->checkpoints[0].in);
    return zinfo_check_checkpoints(z);
}

int zinfo_zstd_write(const uint64_t (*offsets)[2], size_t count, uint64_t span_size, uint8_t **ret, size_t *ret_len)
{
    size_t len = HEADER + count * RECORD;
    uint8_t *p = malloc(len);
    if (p == NULL)
        return soci_fail_nomem("zstd checkpoints");
    store_u32le(p, (uint32_t)count);
    store_u64le(p + 4, span_size);
    for (size_t i = 0; i < count; i++) {
        store_u64le(p + HEADER + i * RECORD, offsets[i][0]);
        store_u64le(p + HEADER + i * RECORD + 8, offsets[i][1]);
    }
    *ret = p;
    *ret_len = len;
    return 0;
}
