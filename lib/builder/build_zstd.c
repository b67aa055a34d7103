/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checkpointing pass over a zstd layer (libsoci's extension of the zTOC format).
 * A zstd decoder can only be entered at a frame start, so spans are runs of whole
 * frames: the first starts at byte 0, and a new one starts at the first frame boundary
 * after more than span_size bytes of output — recorded lazily, only once another frame
 * follows, so the last span is never empty. Skippable frames (the seekable format's seek
 * table among them) decode to nothing and stay inside their span.
 *
 * A layer written as one frame gives one span: it can be indexed, not entered mid-way.
 * The build says so in the log, so the user can re-encode with a multi-frame encoder.
 * A seekable-format layer built from a blob has its seek table read first and every
 * frame found checked against it (seek_table.c).
 */
#include <stdlib.h>
#include <zstd.h>

#include "builder/build_internal.h"
#include "util/error.h"
#include "util/log.h"

#define WINDOW_LOG_MAX 27

static int add_checkpoint(struct build *b, uint64_t in, uint64_t out)
{
    return build_add_checkpoint(b, (struct build_checkpoint){.in = in, .out = out});
}

/* Hand on what the output buffer holds. */
static int flush_output(struct build *b, ZSTD_outBuffer *o)
{
    uint8_t *full = o->dst;
    if (full == NULL)
        return 0;
    size_t len = o->pos;
    o->dst = NULL;
    o->pos = 0;
    return build_emit_output(b, full, len, true);
}

int build_zstd(struct build *b)
{
    ZSTD_DStream *d = ZSTD_createDStream();
    ZSTD_outBuffer o = {NULL, BUILD_OUT_CHUNK, 0}; /* the output buffer being filled */
    uint64_t totout = 0, last = 0, frames = 0;
    bool pending = false, in_frame = false;
    uint64_t pending_in = 0, pending_out = 0;
    struct seek_table seek = {0};
    int r;

    if (d == NULL) {
        r = soci_fail_nomem("zstd decoder");
        goto out;
    }
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
    if (b->blob && (r = seek_table_read(b->blob, &seek)) < 0) {
        if (r != SOCI_EFORMAT)
            goto out;
        soci_log(SOCI_LOG_WARNING, "%s; building without it", soci_last_error());
        soci_clear_error();
    }
    if ((r = add_checkpoint(b, 0, 0)) < 0)
        goto out;
    ZSTD_inBuffer in = {b->chunk, b->chunk_len, 0};
    for (;;) {
        if (in.pos == in.size) {
            if ((r = build_next_chunk(b)) < 0)
                goto out;
            if (b->chunk_len == 0)
                break;
            in = (ZSTD_inBuffer){b->chunk, b->chunk_len, 0};
        }
        /* Another frame begins: the boundary before it becomes a span start. */
        if (pending) {
            if ((r = add_checkpoint(b, pending_in, pending_out)) < 0)
                goto out;
            last = pending_out;
            pending = false;
        }
        if (o.dst == NULL || o.pos == o.size) {
            uint8_t *fresh;
            if ((r = flush_output(b, &o)) < 0 || (r = build_pipe_buffer(b, BUILD_POOL_OUTPUT, &fresh)) < 0)
                goto out;
            o.dst = fresh;
        }
        size_t before = o.pos;
        size_t ret = ZSTD_decompressStream(d, &o, &in);
        if (ZSTD_isError(ret)) {
            r = soci_fail(SOCI_EFORMAT, "zstd: %s near byte %llu", ZSTD_getErrorName(ret),
                          (unsigned long long)(b->chunk_start + in.pos));
            goto out;
        }
        totout += o.pos - before;
        in_frame = ret != 0;
        if (ret == 0) {
            frames++;
            seek_table_check_frame(&seek, b->chunk_start + in.pos, totout);
            if (totout - last > b->opts->span_size) {
                pending = true;
                pending_in = b->chunk_start + in.pos;
                pending_out = totout;
            }
        }
    }
    if (in_frame) {
        r = soci_fail(SOCI_EFORMAT, "zstd: layer ends inside a frame at byte %llu", (unsigned long long)b->total_in);
        goto out;
    }
    if (frames == 0) {
        r = soci_fail(SOCI_EFORMAT, "zstd: no frames");
        goto out;
    }
    if ((r = flush_output(b, &o)) < 0)
        goto out;
    seek_table_finish(&seek);
    if (b->ncps == 1 && totout > 2 * b->opts->span_size)
        soci_log(SOCI_LOG_WARNING,
                 "zstd layer of %llu bytes in %llu frame(s) with no boundary to split at: one span, "
                 "read whole on first access; re-encode with many frames (pzstd, or the seekable "
                 "format) to read it lazily",
                 (unsigned long long)totout, (unsigned long long)frames);
out:
    seek_table_free(&seek);
    ZSTD_freeDStream(d);
    if (o.dst != NULL)
        build_pipe_release(b, (uint8_t *)o.dst);
    return r;
}
