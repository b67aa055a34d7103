/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkpoint data of an uncompressed tar layer: no checkpoints at all, only a span size
 * and the tar's size; span i is the fixed slice [i*span_size, (i+1)*span_size). The
 * reference stores it as a small flatbuffer (table TarZinfo: version, span_size, size);
 * early releases wrote the same three fields packed little-endian in 20 bytes, which is
 * accepted too.
 */
#include "format/ztoc_internal.h"
#include "util/bytes.h"
#include "util/error.h"

#define PACKED_LEN 20

static int parse_flatbuffer(const uint8_t *blob, size_t len, int32_t *version, int64_t *span_size,
                            int64_t *size)
{
    struct fb_buf b;
    struct fb_table t;
    int r;

    fb_buf_init(&b, blob, len);
    if ((r = fb_root(&b, &t)) < 0 || (r = fb_i32(&t, 0, 0, "TarZinfo.version", version)) < 0 ||
        (r = fb_i64(&t, 1, 0, "TarZinfo.span_size", span_size)) < 0 ||
        (r = fb_i64(&t, 2, 0, "TarZinfo.size", size)) < 0)
        return soci_fail_prefix(r, "ztoc: tar checkpoint data");
    return 0;
}

int zinfo_tar_parse(struct soci_ztoc *z, const uint8_t *blob, size_t len)
{
    int32_t version;
    int64_t span_size, size;
    int r;

    if (len == PACKED_LEN && (int64_t)load_u64le(blob + 12) == (int64_t)z->compressed_size &&
        (int64_t)load_u64le(blob + 4) > 0) {
        version = (int32_t)load_u32le(blob);
        span_size = (int64_t)load_u64le(blob + 4);
        size = (int64_t)load_u64le(blob + 12);
    } else if ((r = parse_flatbuffer(blob, len, &version, &span_size, &size)) < 0) {
        return r;
    }

    if (span_size <= 0 || (uint64_t)span_size > ZTOC_SPAN_MAX)
        return soci_fail(SOCI_EFORMAT, "ztoc: tar span size %lld out of range", (long long)span_size);
    if (size < 0 || (uint64_t)size != z->compressed_size)
        return soci_fail(SOCI_EFORMAT, "ztoc: tar size %lld differs from the archive size %llu",
                         (long long)size, (unsigned long long)z->compressed_size);
    if (z->uncompressed_size > z->compressed_size)
        return soci_fail(SOCI_EFORMAT, "ztoc: uncompressed size %llu past the tar's %llu bytes",
                         (unsigned long long)z->uncompressed_size,
                         (unsigned long long)z->compressed_size);
    uint64_t spans = ((uint64_t)size + (uint64_t)span_size - 1) / (uint64_t)span_size;
    if (spans != z->span_count)
        return soci_fail(SOCI_EFORMAT, "ztoc: %u spans recorded, a %lld-byte tar at span size %lld has %llu",
                         z->span_count, (long long)size, (long long)span_size,
                         (unsigned long long)spans);
    z->checkpoint_version = version;
    z->span_size = (uint64_t)span_size;
    return 0;
}
