/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding a zstd span: one or more whole frames, with a context from the zTOC's pool.
 * The output is capped at the span's declared size (decoding stops there), frames that
 * end too early are an error, and the window a frame may ask for is bounded, so a
 * hostile frame header cannot make us allocate gigabytes. The span digest was checked
 * before (a chunk's is checked after, span.c): nothing decoded here leaves the library
 * unverified.
 */
#include "span/span.h"
#include "util/error.h"
#include "util/zstd_pool.h"

/* Largest window accepted: 128 MiB, zstd's own default limit for decompression. */
#define WINDOW_LOG_MAX 27

int span_zstd_decode(struct zstd_pool *pool, const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out,
                     size_t out_len)
{
    uint8_t scratch[16384];
    ZSTD_DCtx *d = zstd_pool_take(pool, WINDOW_LOG_MAX);
    if (d == NULL)
        return soci_fail_nomem("zstd context");
    ZSTD_inBuffer in = {comp, comp_len, 0};
    ZSTD_outBuffer o = {out, out_len, 0};
    int r = 0;
    /* Stop once the span's bytes are out: what follows (the tar's trailing padding in
     * the last span) is never read, as with gzip. A chunk starting `skip` bytes into its
     * frame (zstd:chunked) has those decoded into scratch and dropped. */
    while (o.pos < o.size) {
        ZSTD_outBuffer drop = {scratch, skip < sizeof(scratch) ? (size_t)skip : sizeof(scratch), 0};
        ZSTD_outBuffer *dst = skip > 0 ? &drop : &o;
        size_t before_in = in.pos, before_out = dst->pos;
        size_t ret = ZSTD_decompressStream(d, dst, &in);
        if (ZSTD_isError(ret)) {
            r = soci_fail(SOCI_EFORMAT, "zstd: %s at byte %zu of the span", ZSTD_getErrorName(ret), in.pos);
            break;
        }
        if (in.pos == before_in && dst->pos == before_out) {
            r = soci_fail(SOCI_EFORMAT, "zstd: the span's frames end after %zu of its %zu bytes", o.pos, out_len);
            break;
        }
        if (dst == &drop)
            skip -= drop.pos;
    }
    zstd_pool_give_back(pool, d);
    return r;
}
