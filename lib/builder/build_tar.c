/* SPDX-License-Identifier: Apache-2.0 */
/* The pass over an uncompressed tar layer: spans are fixed slices of span_size bytes, so
 * the only work is hashing each slice and parsing the tar headers. */
#include "builder/build_internal.h"
#include "util/error.h"

int build_tar(struct build *b)
{
    uint64_t span_size = b->opts->span_size, next_boundary = span_size;
    int r;

    if ((r = build_split_span(b, 0, 0)) < 0)
        return r;
    for (;;) {
        /* Close every slice that ends inside this chunk. */
        while (next_boundary < b->chunk_start + b->chunk_len) {
            if ((r = build_split_span(b, next_boundary, next_boundary)) < 0)
                return r;
            next_boundary += span_size;
        }
        /* The input is the tar: the chunk goes on as output too (it stays the pipe's). */
        if (b->chunk_len && (r = build_emit_output(b, b->chunk, b->chunk_len, false)) < 0)
            return r;
        if ((r = build_next_chunk(b)) < 0)
            return r;
        if (b->chunk_len == 0)
            break;
    }
    if (b->total_in == 0)
        return soci_fail(SOCI_EFORMAT, "tar: the layer is empty");
    return 0;
}
