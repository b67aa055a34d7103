/* SPDX-License-Identifier: Apache-2.0 */
/* Span geometry (where each span lies, which span holds an offset) and the checked
 * decode entry point: digest first, then the codec. */
#include <stdlib.h>
#include <string.h>

#include "format/ztoc_internal.h"
#include "span/span.h"
#include "util/error.h"

void ztoc_span_ranges(const struct soci_ztoc *z, uint32_t i, uint64_t *comp_off, uint64_t *comp_end,
                      uint64_t *out_off, uint64_t *out_end)
{
    bool last = i + 1 == z->span_count;

    if (z->compression == SOCI_COMPRESSION_UNCOMPRESSED) {
        *comp_off = (uint64_t)i * z->span_size;
        *comp_end = last ? z->compressed_size : *comp_off + z->span_size;
        *out_off = *comp_off;
        *out_end = *comp_end;
        return;
    }
    if (z->chunked) {
        const struct ztoc_chunk *c = &z->chunks[i];
        *comp_off = c->comp_off;
        *comp_end = c->comp_end;
        *out_off = c->out;
        *out_end = last ? z->uncompressed_size : c[1].out;
        return;
    }
    const struct ztoc_checkpoint *cp = &z->checkpoints[i];
    uint64_t end = z->uncompressed_size;
    /* With leftover bits the span begins on the byte it shares with the span before. */
    *comp_off = cp->in - (cp->bits ? 1 : 0);
    *comp_end = last ? z->compressed_size : cp[1].in;
    /* Nothing past the archive's end is ever read: spans there are empty. */
    *out_off = cp->out < end ? cp->out : end;
    *out_end = last || cp[1].out > end ? end : cp[1].out;
}

uint64_t ztoc_span_gap(const struct soci_ztoc *z, uint32_t a, uint32_t b)
{
    uint64_t a_off, a_end, b_off, b_end, oo, oe;
    ztoc_span_ranges(z, a, &a_off, &a_end, &oo, &oe);
    ztoc_span_ranges(z, b, &b_off, &b_end, &oo, &oe);
    return b_off > a_end ? b_off - a_end : 0;
}

uint64_t ztoc_run_bytes(const struct soci_ztoc *z, uint32_t first, uint32_t last)
{
    uint64_t start, end, co, ce, oo, oe;
    ztoc_span_ranges(z, first, &start, &ce, &oo, &oe);
    ztoc_span_ranges(z, last, &co, &end, &oo, &oe);
    return end - start;
}

uint32_t ztoc_span_run_last(const struct soci_ztoc *z, uint32_t first, uint32_t from, uint32_t limit,
                            uint64_t max_bytes, uint32_t max_spans)
{
    uint64_t start, co, ce, oo, oe;
    ztoc_span_ranges(z, first, &start, &ce, &oo, &oe);
    uint32_t last = from;
    while (last < limit && last + 1 - first < max_spans) {
        ztoc_span_ranges(z, last + 1, &co, &ce, &oo, &oe);
        if (ce - start > max_bytes)
            break;
        last++;
    }
    return last;
}

int ztoc_entry_spans(const struct soci_ztoc *z, const struct soci_entry *e, uint32_t *first, uint32_t *last)
{
    int r = soci_ztoc_span_at(z, e->offset, first);
    return r < 0 ? r : soci_ztoc_span_at(z, e->offset + e->size - 1, last);
}

int soci_ztoc_span_info(const soci_ztoc *z, uint32_t span, struct soci_span_info *info,
                        size_t info_size)
{
    struct soci_span_info full = {0};
    uint64_t comp_end, out_end;

    if (z == NULL || info == NULL || info_size == 0 || span >= z->span_count)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_span_info: no span %u", span);
    ztoc_span_ranges(z, span, &full.compressed_offset, &comp_end, &full.uncompressed_offset, &out_end);
    full.compressed_size = comp_end - full.compressed_offset;
    full.uncompressed_size = out_end - full.uncompressed_offset;
    if (z->chunked) {
        full.checkpoint_in = full.compressed_offset;
    } else if (z->compression == SOCI_COMPRESSION_GZIP) {
        full.checkpoint_in = z->checkpoints[span].in;
        full.checkpoint_bits = z->checkpoints[span].bits;
    } else {
        full.checkpoint_in = full.compressed_offset;
    }
    full.digest = z->digest_text[span];
    memset(info, 0, info_size);
    memcpy(info, &full, info_size < sizeof(full) ? info_size : sizeof(full));
    return 0;
}

int soci_ztoc_span_at(const soci_ztoc *z, uint64_t off, uint32_t *ret)
{
    if (z == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_span_at: bad arguments");
    if (off >= z->uncompressed_size)
        return soci_fail(SOCI_ERANGE, "ztoc: offset %llu past the %llu-byte archive",
                         (unsigned long long)off, (unsigned long long)z->uncompressed_size);
    if (z->compression == SOCI_COMPRESSION_UNCOMPRESSED) {
        *ret = (uint32_t)(off / z->span_size);
        return 0;
    }
    /* The last span starting at or before off (spans are sorted by out). */
    uint32_t lo = 0, hi = z->span_count; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((z->chunked ? z->chunks[mid].out : z->checkpoints[mid].out) <= off)
            lo = mid;
        else
            hi = mid;
    }
    *ret = lo;
    return 0;
}

/* A chunk's digest is that of its decoded bytes (the chunk TOC records no other): decode
 * from the member or frame start, then check before anything is returned. */
static int64_t decode_chunk(const struct soci_ztoc *z, uint32_t span, const uint8_t *comp, size_t comp_len,
                            uint8_t *out, size_t n)
{
    uint8_t digest[SHA256_LEN];
    uint64_t skip = z->chunks[span].skip;
    int r = z->compression == SOCI_COMPRESSION_ZSTD ? span_zstd_decode(z->zstd, comp, comp_len, skip, out, n)
                                                    : span_gzip_members_decode(comp, comp_len, skip, out, n);
    if (r == 0)
        r = sha256(out, n, digest);
    if (r == 0 && memcmp(digest, z->digests[span], SHA256_LEN) != 0)
        r = soci_fail(SOCI_EDIGEST, "decoded bytes do not match %s", z->digest_text[span]);
    if (r < 0) {
        memset(out, 0, n); /* nothing unverified leaves the library */
        return soci_fail_prefix(r, "chunk %u (compressed [%llu, %llu))", span,
                                (unsigned long long)z->chunks[span].comp_off,
                                (unsigned long long)z->chunks[span].comp_end);
    }
    return (int64_t)n;
}

/* A zTOC span's digest is that of its compressed bytes: checked before decoding. */
static int check_compressed_digest(const struct soci_ztoc *z, uint32_t span, const uint8_t *comp, size_t len)
{
    uint8_t digest[SHA256_LEN];
    int r = sha256(comp, len, digest);
    if (r == 0 && memcmp(digest, z->digests[span], SHA256_LEN) != 0) {
        uint64_t comp_off, comp_end, out_off, out_end;
        ztoc_span_ranges(z, span, &comp_off, &comp_end, &out_off, &out_end);
        r = soci_fail(SOCI_EDIGEST, "span %u: compressed bytes [%llu, %llu) do not match %s", span,
                      (unsigned long long)comp_off, (unsigned long long)comp_end, z->digest_text[span]);
    }
    return r;
}

int64_t soci_ztoc_decode_span(const soci_ztoc *z, uint32_t span, const void *comp, size_t comp_len,
                              void *out, size_t out_len)
{
    uint64_t comp_off, comp_end, out_off, out_end;
    int r;

    if (z == NULL || (comp == NULL && comp_len) || (out == NULL && out_len) || span >= z->span_count)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_decode_span: bad arguments");
    ztoc_span_ranges(z, span, &comp_off, &comp_end, &out_off, &out_end);
    if (comp_len != comp_end - comp_off)
        return soci_fail(SOCI_EINVAL, "span %u: given %zu compressed bytes, it has %llu", span, comp_len,
                         (unsigned long long)(comp_end - comp_off));
    if (out_len < out_end - out_off)
        return soci_fail(SOCI_EINVAL, "span %u: %zu-byte buffer for %llu bytes", span, out_len,
                         (unsigned long long)(out_end - out_off));

    size_t n = (size_t)(out_end - out_off);
    if (z->chunked)
        return decode_chunk(z, span, comp, comp_len, out, n);
    if ((r = check_compressed_digest(z, span, comp, comp_len)) < 0)
        return r;

    if (z->compression == SOCI_COMPRESSION_GZIP)
#ifdef SOCI_HAVE_ISAL
        r = span_gzip_decode_isal(&z->checkpoints[span], comp, comp_len, out, n);
#else
        r = span_gzip_decode(&z->checkpoints[span], comp, comp_len, out, n);
#endif
    else if (z->compression == SOCI_COMPRESSION_ZSTD)
        r = span_zstd_decode(z->zstd, comp, comp_len, 0, out, n);
    else
        r = span_tar_decode(comp, comp_len, out, n);
    if (r < 0)
        return soci_fail_prefix(r, "span %u", span);
    return (int64_t)n;
}
