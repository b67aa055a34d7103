/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding one gzip span from its checkpoint (zlib's zran method).
 *
 * Deflate is a bit stream of blocks; each block may refer back up to 32 KiB into the
 * output that came before it. A checkpoint, recorded at a block boundary, holds what is
 * needed to start there instead of at the beginning of the stream:
 *  - `in`, the first compressed byte wholly after the boundary, and `bits`, how many of
 *    the high bits of the byte before it (in - 1) already belong to the next block;
 *  - the 32 KiB of output before the boundary, the window that back-references may reach.
 * So: a raw inflater (no gzip header expected), primed with those leftover bits, given
 * the window as its dictionary, inflates the span's bytes and produces exactly the
 * span's output.
 *
 * A layer may be several gzip members back to back (pigz, concatenated streams). When a
 * member ends inside the span, its 8-byte trailer (CRC32, ISIZE) follows; we step over
 * it and continue with the next member, letting zlib parse that member's header.
 *
 * The span's output size is known, so we stop as soon as it is produced: the trailing
 * bytes of the last span (end of stream, tar padding past the recorded size) are never
 * decoded, and a span can never write past out_len.
 */
#include <limits.h>
#include <stdbool.h>
#include <zlib.h>

#include "span/span.h"
#include "util/error.h"

#define GZIP_TRAILER_SIZE 8
#define RAW_DEFLATE (-15)
#define GZIP_ONLY (15 + 16)

static int zfail(int zret, const z_stream *s, const char *what)
{
    return soci_fail(SOCI_EFORMAT, "gzip span: %s (zlib %d: %s)", what, zret,
                     s->msg ? s->msg : "no message");
}

int span_gzip_decode(const struct ztoc_checkpoint *cp, const uint8_t *comp, size_t comp_len,
                     uint8_t *out, size_t out_len)
{
    z_stream s = {0};
    int zret, r = 0;

    if (comp_len > UINT_MAX || out_len > UINT_MAX)
        return soci_fail(SOCI_ETOOBIG, "gzip span: %zu -> %zu bytes is too large", comp_len, out_len);
    if (out_len == 0)
        return 0;
    if ((zret = inflateInit2(&s, RAW_DEFLATE)) != Z_OK)
        return soci_fail(SOCI_ENOMEM, "gzip span: inflateInit2 failed (%d)", zret);

    if (cp->bits) {
        if (comp_len < 1) {
            r = soci_fail(SOCI_EFORMAT, "gzip span: empty, but its checkpoint needs %u bits", cp->bits);
            goto out;
        }
        if ((zret = inflatePrime(&s, cp->bits, comp[0] >> (8 - cp->bits))) != Z_OK) {
            r = zfail(zret, &s, "priming bits");
            goto out;
        }
        comp++;
        comp_len--;
    }
    if (cp->window != NULL && (zret = inflateSetDictionary(&s, cp->window, ZTOC_WINDOW_SIZE)) != Z_OK) {
        r = zfail(zret, &s, "setting the window");
        goto out;
    }

    s.next_in = (Bytef *)(uintptr_t)comp;
    s.avail_in = (uInt)comp_len;
    s.next_out = out;
    s.avail_out = (uInt)out_len;
    bool raw = true;
    while (s.avail_out > 0) {
        zret = inflate(&s, Z_NO_FLUSH);
        if (zret == Z_STREAM_END) {
            /* A member ended. In raw mode zlib did not read its trailer; in gzip mode it did. */
            if (raw) {
                if (s.avail_in < GZIP_TRAILER_SIZE) {
                    r = soci_fail(SOCI_EFORMAT, "gzip span: member trailer cut short");
                    goto out;
                }
                s.next_in += GZIP_TRAILER_SIZE;
                s.avail_in -= GZIP_TRAILER_SIZE;
            }
            if (s.avail_in == 0)
                break;
            if ((zret = inflateReset2(&s, GZIP_ONLY)) != Z_OK) {
                r = zfail(zret, &s, "starting the next member");
                goto out;
            }
            raw = false;
            continue;
        }
        if (zret == Z_BUF_ERROR && s.avail_in == 0)
            break; /* input used up */
        if (zret != Z_OK) {
            r = zfail(zret, &s, "corrupt deflate data");
            goto out;
        }
    }
    if (s.avail_out != 0)
        r = soci_fail(SOCI_EFORMAT, "gzip span: data ends after %zu of %zu bytes",
                      out_len - s.avail_out, out_len);
out:
    inflateEnd(&s);
    return r;
}

/*
 * A chunk of a chunk-TOC layer (eStargz): the compressed range starts with a member's
 * gzip header, so no checkpoint is needed. The chunk may begin `skip` bytes into what the
 * member decodes to (eStargz packs small files together, innerOffset); those bytes are
 * decoded into a scratch buffer and dropped.
 */
int span_gzip_members_decode(const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out, size_t out_len)
{
    uint8_t scratch[16384];
    z_stream s = {0};
    size_t done = 0;
    int zret, r = 0;

    if (comp_len > UINT_MAX || out_len > UINT_MAX)
        return soci_fail(SOCI_ETOOBIG, "gzip chunk: %zu -> %zu bytes is too large", comp_len, out_len);
    if (out_len == 0)
        return 0;
    if ((zret = inflateInit2(&s, GZIP_ONLY)) != Z_OK)
        return soci_fail(SOCI_ENOMEM, "gzip chunk: inflateInit2 failed (%d)", zret);
    s.next_in = (Bytef *)(uintptr_t)comp;
    s.avail_in = (uInt)comp_len;
    while (done < out_len) {
        bool skipping = skip > 0;
        s.next_out = skipping ? scratch : out + done;
        s.avail_out = skipping ? (uInt)(skip < sizeof(scratch) ? skip : sizeof(scratch)) : (uInt)(out_len - done);
        uInt room = s.avail_out;
        zret = inflate(&s, Z_NO_FLUSH);
        if (skipping)
            skip -= room - s.avail_out;
        else
            done += room - s.avail_out;
        if (zret == Z_STREAM_END) {
            if (s.avail_in == 0)
                break;
            if ((zret = inflateReset(&s)) != Z_OK) {
                r = zfail(zret, &s, "starting the next member");
                goto out;
            }
            continue;
        }
        if (zret == Z_BUF_ERROR && s.avail_in == 0)
            break; /* input used up */
        if (zret != Z_OK) {
            r = zfail(zret, &s, "corrupt gzip member");
            goto out;
        }
    }
    if (done != out_len)
        r = soci_fail(SOCI_EFORMAT, "gzip chunk: data ends after %zu of %zu bytes", done, out_len);
out:
    inflateEnd(&s);
    return r;
}
