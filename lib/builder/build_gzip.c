/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checkpointing pass over a gzip layer (zlib's zran method, as the reference builds
 * it). zlib inflates with Z_BLOCK, which returns at every deflate block boundary (and
 * right after a gzip header) with data_type saying so. At the first such boundary after
 * more than span_size bytes came out since the last checkpoint, we record one: the input
 * offset, the bits of the current byte already consumed, and the last 32 KiB of output.
 * Short of that point no boundary can matter, so inflate runs there without Z_BLOCK, up
 * to the point exactly.
 *
 * This is the only part of a build that must see every bit, and it is the slow part, so
 * it does nothing else: the output goes to the indexing half in large pieces, and even
 * the CRC-32 of each member is left to that half (inflateValidate off here; the trailer
 * is handed over with the member's end).
 *
 * Concatenated gzip members continue the same counters, and no checkpoint is taken at a
 * member's very start, only at block boundaries inside it, as the reference does. The
 * window is the last 32 KiB of the whole stream, earlier members' bytes included and
 * zeros only before the stream's start, as the reference writes it: decoding does not
 * need the bytes before a member, the zTOC's digest does. zlib's own window cannot give
 * that (it starts empty at each member, and misses the output of the call that reaches a
 * member's trailer), so the pass keeps the stream's tail itself: the last 32 KiB of each
 * inflate call's output, a copy of at most 32 KiB per call of up to 256 KiB.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "builder/build_internal.h"
#include "util/bytes.h"
#include "util/error.h"

#define GZIP_ONLY (15 + 16)
#define GZIP_TRAILER_SIZE 8

/* The stream's output so far keeps its last n bytes in tail (ZTOC_WINDOW_SIZE bytes,
 * zeros where the stream is shorter). */
static void stream_tail_append(uint8_t *tail, const uint8_t *out, size_t n)
{
    if (n >= ZTOC_WINDOW_SIZE) {
        memcpy(tail, out + n - ZTOC_WINDOW_SIZE, ZTOC_WINDOW_SIZE);
        return;
    }
    memmove(tail, tail + n, ZTOC_WINDOW_SIZE - n);
    memcpy(tail + ZTOC_WINDOW_SIZE - n, out, n);
}

static int add_checkpoint(struct build *b, z_stream *s, const uint8_t *tail, uint64_t in, uint64_t out)
{
    uint8_t *w = malloc(ZTOC_WINDOW_SIZE);
    if (w == NULL)
        return soci_fail_nomem("checkpoint window");
    memcpy(w, tail, ZTOC_WINDOW_SIZE);
    return build_add_checkpoint(b, (struct build_checkpoint){.in = in, .out = out, .bits = (uint8_t)(s->data_type & 7),
                                                             .window = w});
}

/* Hand on what the output buffer (*buf, taken from the pipe) holds. */
static int flush_output(struct build *b, z_stream *s, uint8_t **buf)
{
    uint8_t *full = *buf;
    if (full == NULL)
        return 0;
    *buf = NULL;
    return build_emit_output(b, full, (size_t)(s->next_out - full), true);
}

/* A member ended at input offset `end`: hand on its output, then its trailer. */
static int member_end(struct build *b, z_stream *s, uint8_t **buf, uint64_t end)
{
    uint8_t trailer[GZIP_TRAILER_SIZE];
    size_t in_chunk = (size_t)(s->next_in - b->chunk);
    int r;
    if (in_chunk >= GZIP_TRAILER_SIZE) {
        memcpy(trailer, s->next_in - GZIP_TRAILER_SIZE, GZIP_TRAILER_SIZE);
    } else {
        memcpy(trailer, b->tail + in_chunk, GZIP_TRAILER_SIZE - in_chunk);
        memcpy(trailer + GZIP_TRAILER_SIZE - in_chunk, b->chunk, in_chunk);
    }
    if ((r = flush_output(b, s, buf)) < 0)
        return r;
    return build_pipe_post(b, &(struct build_msg){.op = BUILD_MEMBER_END, .at = end, .crc = load_u32le(trailer),
                                                  .isize = load_u32le(trailer + 4)});
}

int build_gzip(struct build *b)
{
    z_stream s = {0};
    uint8_t *buf = NULL, *buf_end = NULL; /* the output buffer being filled */
    uint64_t totout = 0, member_out = 0, last = 0, span_size = b->opts->span_size;
    bool member_ended = false;
    uint8_t *tail = calloc(1, ZTOC_WINDOW_SIZE); /* the stream's last 32 KiB */
    int zret, r = 0;

    if (tail == NULL)
        return soci_fail_nomem("gzip stream tail");
    if ((zret = inflateInit2(&s, GZIP_ONLY)) != Z_OK) {
        free(tail);
        return soci_fail(SOCI_ENOMEM, "build: inflateInit2 failed (%d)", zret);
    }
    inflateValidate(&s, 0); /* the indexing half checks each member's CRC-32 */
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
            member_out = 0;
            member_ended = false;
        }
        if (buf == NULL || s.next_out == buf_end) {
            if ((r = flush_output(b, &s, &buf)) < 0 || (r = build_pipe_buffer(b, BUILD_POOL_OUTPUT, &buf)) < 0)
                goto out;
            s.next_out = buf;
            buf_end = buf + BUILD_OUT_CHUNK;
        }
        /* Until span_size bytes have come out, inflate runs freely but no further (a stop
         * at every block costs zlib a window copy); from there it steps block by block. */
        size_t room = (size_t)(buf_end - s.next_out);
        bool stepping = b->ncps == 0 || totout - last >= span_size;
        if (!stepping && room > span_size - (totout - last))
            room = (size_t)(span_size - (totout - last));
        s.avail_out = (uInt)room;

        uint8_t *out_start = s.next_out;
        zret = inflate(&s, stepping ? Z_BLOCK : Z_NO_FLUSH);
        size_t produced = (size_t)(s.next_out - out_start);
        totout += produced;
        member_out += produced;
        stream_tail_append(tail, out_start, produced);
        uint64_t in = b->chunk_start + (uint64_t)(s.next_in - b->chunk);

        if (zret == Z_STREAM_END) {
            if ((r = member_end(b, &s, &buf, in)) < 0)
                goto out;
            member_ended = true;
            continue;
        }
        if (zret != Z_OK && !(zret == Z_BUF_ERROR && s.avail_in == 0)) {
            r = soci_fail(SOCI_EFORMAT, "gzip: corrupt data near byte %llu: %s", (unsigned long long)in,
                          s.msg ? s.msg : "zlib error");
            goto out;
        }
        /* At a block boundary (or the first header's end), not after the last block. */
        bool boundary = (s.data_type & 128) && !(s.data_type & 64);
        bool first = b->ncps == 0 && totout == 0;
        if (boundary && (first || (member_out > 0 && totout - last > span_size))) {
            if ((r = add_checkpoint(b, &s, tail, in, totout)) < 0)
                goto out;
            last = totout;
        }
    }
    if (r == 0 && b->ncps == 0)
        r = soci_fail(SOCI_EFORMAT, "gzip: no deflate data");
    if (r == 0)
        r = flush_output(b, &s, &buf);
out:
    if (buf != NULL)
        build_pipe_release(b, buf);
    inflateEnd(&s);
    free(tail);
    return r;
}
