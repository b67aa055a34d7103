/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checkpointing pass over a gzip layer (zlib's zran method, as the reference builds
 * it). zlib inflates with Z_BLOCK, which returns at every deflate block boundary (and
 * right after a gzip header) with data_type saying so. At such a boundary, when more
 * than span_size bytes came out since the last checkpoint, we record one: the input
 * offset, the bits of the current byte already consumed, and the last 32 KiB of output.
 * Output lands in a 32 KiB ring that is at once the inflate buffer and the window; each
 * piece of output is also handed to the tar parser.
 *
 * Concatenated gzip members continue the same counters. Each member starts with an
 * empty window (deflate cannot refer across members) and no checkpoint is taken at a
 * member's very start, only at block boundaries inside it, as the reference does.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "build/build_internal.h"
#include "util/error.h"

#define GZIP_ONLY (15 + 16)

static int add_checkpoint(struct build *b, uint64_t in, uint64_t out, uint8_t bits, const uint8_t *ring,
                          size_t ring_pos)
{
    uint8_t *w = malloc(ZTOC_WINDOW_SIZE);
    if (w == NULL)
        return soci_fail_nomem("checkpoint window");
    /* Oldest output first: the ring from the write position on, then its start. */
    memcpy(w, ring + ring_pos, ZTOC_WINDOW_SIZE - ring_pos);
    memcpy(w + ZTOC_WINDOW_SIZE - ring_pos, ring, ring_pos);
    return build_add_checkpoint(b, (struct build_checkpoint){.in = in, .out = out, .bits = bits, .window = w});
}

int build_gzip(struct build *b)
{
    z_stream s = {0};
    uint8_t *ring = calloc(1, ZTOC_WINDOW_SIZE);
    uint64_t totout = 0, member_out = 0, last = 0;
    bool member_ended = false;
    int zret, r = 0;

    if (ring == NULL)
        return soci_fail_nomem("inflate window");
    if ((zret = inflateInit2(&s, GZIP_ONLY)) != Z_OK) {
        free(ring);
        return soci_fail(SOCI_ENOMEM, "build: inflateInit2 failed (%d)", zret);
    }
    s.next_in = b->chunk;
    s.avail_in = (uInt)b->chunk_len;

    for (;;) {
        if (s.avail_in == 0) {
            if ((r = build_next_chunk(b)) < 0)
                goto out;
            if (b->chunk_len == 0) {
                if (!member_ended)
                    r = soci_fail(SOCI_EFORMAT, "gzip: layer ends inside a gzip member at byte %llu",
                                  (unsigned long long)b->total_in);
                break;
            }
            s.next_in = b->chunk;
            s.avail_in = (uInt)b->chunk_len;
        }
        if (member_ended) {
            /* More input after a member: the next member (zlib checks its header). */
            inflateReset(&s);
            memset(ring, 0, ZTOC_WINDOW_SIZE);
            s.avail_out = 0;
            member_out = 0;
            member_ended = false;
        }
        if (s.avail_out == 0) {
            s.next_out = ring;
            s.avail_out = ZTOC_WINDOW_SIZE;
        }

        uint8_t *out_start = s.next_out;
        zret = inflate(&s, Z_BLOCK);
        size_t produced = (size_t)(s.next_out - out_start);
        totout += produced;
        member_out += produced;
        if (produced && (r = tar_reader_feed(b->tar, out_start, produced)) < 0)
            goto out;

        if (zret == Z_STREAM_END) {
            member_ended = true;
            continue;
        }
        if (zret != Z_OK && !(zret == Z_BUF_ERROR && s.avail_in == 0)) {
            r = soci_fail(SOCI_EFORMAT, "gzip: corrupt data near byte %llu: %s",
                          (unsigned long long)(b->chunk_start + (uint64_t)(s.next_in - b->chunk)),
                          s.msg ? s.msg : "zlib error");
            goto out;
        }
        /* At a block boundary (or the first header's end), not after the last block. */
        bool boundary = (s.data_type & 128) && !(s.data_type & 64);
        bool first = b->ncps == 0 && totout == 0;
        if (boundary && (first || (member_out > 0 && totout - last > b->opts->span_size))) {
            uint64_t in = b->chunk_start + (uint64_t)(s.next_in - b->chunk);
            size_t ring_pos = ZTOC_WINDOW_SIZE - s.avail_out;
            if ((r = add_checkpoint(b, in, totout, (uint8_t)(s.data_type & 7), ring,
                                    ring_pos == ZTOC_WINDOW_SIZE ? 0 : ring_pos)) < 0)
                goto out;
            last = totout;
        }
    }
    if (r == 0 && b->ncps == 0)
        r = soci_fail(SOCI_EFORMAT, "gzip: no deflate data");
out:
    inflateEnd(&s);
    free(ring);
    return r;
}
