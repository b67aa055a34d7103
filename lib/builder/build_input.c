/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reading half of a build: input chunks, checkpoints and tar output, each told to
 * the indexing half (build_sink.c) as a message. The reading half never waits for the
 * indexing half except when every buffer is in flight.
 */
#include <stdlib.h>
#include <string.h>

#include "builder/build_internal.h"
#include "util/error.h"

/* The last 8 bytes of everything before the next chunk: the old tail, then the chunk. */
static void keep_tail(struct build *b)
{
    size_t keep = sizeof(b->tail);
    if (b->chunk_len >= keep) {
        memcpy(b->tail, b->chunk + b->chunk_len - keep, keep);
    } else if (b->chunk_len > 0) {
        memmove(b->tail, b->tail + b->chunk_len, keep - b->chunk_len);
        memcpy(b->tail + keep - b->chunk_len, b->chunk, b->chunk_len);
    }
}

/* Fill a chunk from the read function: sources may hand out a few bytes at a time
 * (pipes), and the magic test and the inflater both do better with whole chunks. */
static int read_chunk(struct build *b, uint8_t **ret, size_t *ret_len)
{
    uint8_t *buf;
    size_t len = 0;
    int r = build_pipe_buffer(b, BUILD_POOL_INPUT, &buf);
    if (r < 0)
        return r;
    while (len < BUILD_CHUNK && !b->eof) {
        int64_t n = b->read(b->read_ctx, buf + len, BUILD_CHUNK - len);
        if (n < 0 || (uint64_t)n > BUILD_CHUNK - len) {
            build_pipe_release(b, buf);
            if (n < 0)
                return (int)n;
            return soci_fail(SOCI_EINVAL, "build: read function returned %lld for a %zu-byte buffer",
                             (long long)n, BUILD_CHUNK - len);
        }
        if (n == 0)
            b->eof = true;
        len += (size_t)n;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

int build_next_chunk(struct build *b)
{
    keep_tail(b);
    b->chunk_start += b->chunk_len;
    b->chunk_len = 0;
    b->chunk = NULL;
    if (b->eof)
        return 0;
    if (b->chunk_start > 0)
        build_pipe_spawn(b);
    uint8_t *buf;
    size_t len = 0;
    int r;
    if (build_pipe_reads_ahead(b)) {
        if (b->chunk_start >= soci_blob_size(b->blob)) {
            b->eof = true;
            return 0;
        }
        if ((r = build_pipe_next_input(b, &buf, &len)) < 0)
            return r;
    } else if ((r = read_chunk(b, &buf, &len)) < 0) {
        return r;
    }
    if (len == 0) {
        build_pipe_release(b, buf);
        return 0;
    }
    b->chunk = buf;
    b->chunk_len = len;
    b->total_in += len;
    if (b->opts->progress != NULL)
        b->opts->progress(b->opts->progress_userdata, b->total_in);
    return build_pipe_post(b, &(struct build_msg){.op = BUILD_INPUT, .buf = buf, .len = len,
                                                  .at = b->chunk_start, .pooled = true});
}

int build_split_span(struct build *b, uint64_t upto, uint64_t at)
{
    return build_pipe_post(b, &(struct build_msg){.op = BUILD_SPAN, .upto = upto, .at = at});
}

int build_emit_output(struct build *b, uint8_t *buf, size_t len, bool pooled)
{
    return build_pipe_post(b, &(struct build_msg){.op = BUILD_OUTPUT, .buf = buf, .len = len, .pooled = pooled});
}

int build_add_checkpoint(struct build *b, struct build_checkpoint cp)
{
    /* Stop as soon as the checkpoints alone outgrow what readers accept in a zTOC: a
     * hostile layer (a decompression bomb) must not make us hold gigabytes of windows. */
    uint64_t per = cp.window ? ZTOC_WINDOW_SIZE + 17 : 16;
    if ((uint64_t)(b->ncps + 1) * per > SOCI_ZTOC_MAX_SIZE) {
        free(cp.window);
        return soci_fail(SOCI_ETOOBIG, "build: more than %zu checkpoints would not fit in a zTOC; "
                                       "use a larger span size", b->ncps);
    }
    if (b->ncps == b->cps_cap) {
        size_t cap = b->cps_cap ? b->cps_cap * 2 : 64;
        void *p = realloc(b->cps, cap * sizeof(*b->cps));
        if (p == NULL) {
            free(cp.window);
            return soci_fail_nomem("checkpoints");
        }
        b->cps = p;
        b->cps_cap = cap;
    }
    b->cps[b->ncps++] = cp;
    return build_split_span(b, cp.in, cp.bits ? cp.in - 1 : cp.in);
}
