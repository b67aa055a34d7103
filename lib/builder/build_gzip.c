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
 *
 * Cuts (build_cuts.h) add checkpoints around extents: the last boundary before an
 * extent's start is only known once the output has passed it, so within BUILD_CUT_LEAD
 * before a start every boundary is kept as a candidate (its window copied), and the last
 * one becomes a checkpoint when the start is reached (or, sooner, when the input chunk it
 * lies in is done with); at the first boundary at or after an extent's end one is taken
 * outright.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "builder/build_cuts.h"
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

static int add_checkpoint(struct build *b, uint8_t bits, const uint8_t *tail, uint64_t in, uint64_t out)
{
    uint8_t *w = malloc(ZTOC_WINDOW_SIZE);
    if (w == NULL)
        return soci_fail_nomem("checkpoint window");
    memcpy(w, tail, ZTOC_WINDOW_SIZE);
    return build_add_checkpoint(b, (struct build_checkpoint){.in = in, .out = out, .bits = bits, .window = w});
}

/* Where the pass stands against the cuts' extents. */
struct cuts {
    const struct extent *v;
    size_t n, next;      /* v[next]: the extent coming up, or being passed */
    bool inside;         /* v[next]'s start is behind: its end is what comes up */
    bool have_candidate; /* the last boundary within BUILD_CUT_LEAD before v[next]'s start */
    uint64_t cand_in, cand_out;
    uint8_t cand_bits;
    uint8_t *cand_window;
};

/* The output offset from which inflate must stop at every block boundary for the cuts
 * (UINT64_MAX: never). */
static uint64_t cuts_stop(const struct cuts *c)
{
    if (c->next >= c->n)
        return UINT64_MAX;
    const struct extent *e = &c->v[c->next];
    if (c->inside)
        return e->end;
    return e->start > BUILD_CUT_LEAD ? e->start - BUILD_CUT_LEAD : 0;
}

/* The candidate, if any, becomes a checkpoint: when its start is reached, or when the
 * input chunk is about to change (now or never: the indexing half hashes a chunk's bytes
 * into the current span once the next chunk comes, so a checkpoint can only go back to a
 * boundary within the current chunk). A candidate lies BUILD_CUT_MIN_SPAN or more past
 * the last checkpoint: it is kept only so (cuts_candidate), and any checkpoint after it
 * drops it. */
static int cuts_flush_candidate(struct build *b, struct cuts *c, uint64_t *last)
{
    if (!c->have_candidate)
        return 0;
    c->have_candidate = false;
    int r = add_checkpoint(b, c->cand_bits, c->cand_window, c->cand_in, c->cand_out);
    if (r == 0)
        *last = c->cand_out;
    return r;
}

/* At a block boundary inside a member (output offset out, the last checkpoint at last):
 * a candidate taken for a start now reached goes in (*last moves), and whether this
 * boundary is a cut itself (an extent starts exactly here, or one ended since). */
static int cuts_at_boundary(struct build *b, struct cuts *c, uint64_t out, uint64_t *last, bool *take)
{
    *take = false;
    while (c->next < c->n) {
        const struct extent *e = &c->v[c->next];
        if (!c->inside) {
            if (out < e->start)
                break;
            if (out == e->start) {
                *take = true;
                c->have_candidate = false;
            } else {
                int r = cuts_flush_candidate(b, c, last);
                if (r < 0)
                    return r;
            }
            c->inside = true;
        }
        if (out < e->end)
            break;
        *take = true;
        c->inside = false;
        c->next++;
    }
    *take = *take && out - *last >= BUILD_CUT_MIN_SPAN;
    return 0;
}

/* A boundary not taken: the candidate for the coming start, if it lies within reach. */
static void cuts_candidate(struct cuts *c, uint8_t bits, const uint8_t *tail, uint64_t in, uint64_t out,
                           uint64_t last)
{
    if (c->next >= c->n || c->inside || out + BUILD_CUT_LEAD < c->v[c->next].start ||
        out - last < BUILD_CUT_MIN_SPAN)
        return;
    memcpy(c->cand_window, tail, ZTOC_WINDOW_SIZE);
    c->cand_in = in;
    c->cand_out = out;
    c->cand_bits = bits;
    c->have_candidate = true;
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
    struct cuts cuts = {.v = b->opts->cuts, .n = b->opts->ncuts};
    int zret, r = 0;

    if (cuts.n > 0 && (cuts.cand_window = malloc(ZTOC_WINDOW_SIZE)) == NULL) {
        free(tail);
        return soci_fail_nomem("checkpoint candidate");
    }
    if (tail == NULL) {
        free(cuts.cand_window);
        return soci_fail_nomem("gzip stream tail");
    }
    if ((zret = inflateInit2(&s, GZIP_ONLY)) != Z_OK) {
        free(tail);
        return soci_fail(SOCI_ENOMEM, "build: inflateInit2 failed (%d)", zret);
    }
    inflateValidate(&s, 0); /* the indexing half checks each member's CRC-32 */
    s.next_in = b->chunk;
    s.avail_in = (uInt)b->chunk_len;

    for (;;) {
        if (s.avail_in == 0) {
            if ((r = cuts_flush_candidate(b, &cuts, &last)) < 0 || (r = build_next_chunk(b)) < 0)
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
         * at every block costs zlib a window copy); from there it steps block by block.
         * So it does near the cuts. */
        size_t room = (size_t)(buf_end - s.next_out);
        uint64_t stop = cuts_stop(&cuts);
        bool stepping = b->ncps == 0 || totout - last >= span_size || totout >= stop;
        if (!stepping && room > span_size - (totout - last))
            room = (size_t)(span_size - (totout - last));
        if (!stepping && room > stop - totout)
            room = (size_t)(stop - totout);
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
        bool first = b->ncps == 0 && totout == 0, cut = false;
        uint8_t bits = (uint8_t)(s.data_type & 7);
        if (boundary && !first && member_out > 0 && cuts.n > 0 &&
            (r = cuts_at_boundary(b, &cuts, totout, &last, &cut)) < 0)
            goto out;
        if (boundary && (first || (member_out > 0 && (cut || totout - last > span_size)))) {
            if ((r = add_checkpoint(b, bits, tail, in, totout)) < 0)
                goto out;
            last = totout;
            cuts.have_candidate = false;
        } else if (boundary && member_out > 0 && cuts.n > 0) {
            cuts_candidate(&cuts, bits, tail, in, totout, last);
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
    free(cuts.cand_window);
    return r;
}
