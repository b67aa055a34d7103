/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The zstd seekable format's seek table (facebook/zstd contrib/seekable_format): a
 * skippable frame (magic 0x184D2A5E) at the very end of the stream, holding one entry per
 * compressed frame — compressed size, decompressed size (u32 LE each), and a checksum
 * when the descriptor's top bit says so — then a 9-byte footer: number of frames (u32),
 * descriptor (u8), magic 0x8F92EAB1 (u32).
 *
 * The zstd build pass finds frame boundaries by decoding, so it needs no table; when the
 * layer comes as a blob (random access) the table is read first and every frame the pass
 * finds is checked against it. A table that disagrees is reported, never trusted.
 */
#include <stdlib.h>

#include "builder/build_internal.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/log.h"

#define SEEKABLE_MAGIC 0x8F92EAB1u
#define SEEK_TABLE_FRAME_MAGIC 0x184D2A5Eu
#define FOOTER_SIZE 9
#define SKIPPABLE_HEADER 8
#define MAX_FRAMES (1u << 22) /* 4 M frames (a 64 MiB table): far more than a layer needs */

int seek_table_read(soci_blob *blob, struct seek_table *t)
{
    uint8_t footer[FOOTER_SIZE], head[SKIPPABLE_HEADER];
    uint64_t size = soci_blob_size(blob);
    int r;
    *t = (struct seek_table){0};
    if (size < FOOTER_SIZE + SKIPPABLE_HEADER)
        return 0;
    if ((r = soci_blob_read_at(blob, footer, FOOTER_SIZE, size - FOOTER_SIZE)) < 0)
        return r;
    if (load_u32le(footer + 5) != SEEKABLE_MAGIC)
        return 0; /* not the seekable format */
    uint32_t n = load_u32le(footer);
    uint8_t desc = footer[4];
    size_t entry = desc & 0x80 ? 12 : 8;
    uint64_t table = (uint64_t)n * entry + FOOTER_SIZE;
    if ((desc & 0x7c) != 0 || n == 0 || n > MAX_FRAMES || table + SKIPPABLE_HEADER > size)
        return soci_fail(SOCI_EFORMAT, "zstd seek table: %u frames, descriptor 0x%02x, in a %llu-byte layer", n,
                         desc, (unsigned long long)size);
    if ((r = soci_blob_read_at(blob, head, SKIPPABLE_HEADER, size - table - SKIPPABLE_HEADER)) < 0)
        return r;
    if (load_u32le(head) != SEEK_TABLE_FRAME_MAGIC || load_u32le(head + 4) != table)
        return soci_fail(SOCI_EFORMAT, "zstd seek table: its skippable frame header does not match its footer");
    uint8_t *raw = malloc((size_t)table);
    t->ends = malloc((size_t)n * sizeof(*t->ends));
    if (raw == NULL || t->ends == NULL) {
        free(raw);
        seek_table_free(t);
        return soci_fail_nomem("zstd seek table");
    }
    if ((r = soci_blob_read_at(blob, raw, (size_t)table, size - table)) < 0) {
        free(raw);
        seek_table_free(t);
        return r;
    }
    uint64_t in = 0, out = 0;
    for (uint32_t i = 0; i < n; i++) {
        in += load_u32le(raw + (size_t)i * entry);
        out += load_u32le(raw + (size_t)i * entry + 4);
        t->ends[i].in = in;
        t->ends[i].out = out;
    }
    free(raw);
    t->n = n;
    t->layer_size = size;
    return 0;
}

void seek_table_check_frame(struct seek_table *t, uint64_t in_end, uint64_t out_end)
{
    if (t->n == 0 || t->bad)
        return;
    if (in_end == t->layer_size && t->matched == t->n)
        return; /* the table's own skippable frame */
    if (t->matched < t->n && t->ends[t->matched].in == in_end && t->ends[t->matched].out == out_end) {
        t->matched++;
        return;
    }
    t->bad = true;
    soci_log(SOCI_LOG_WARNING,
             "zstd seek table: frame %u ends at %llu -> %llu in the layer, the table says %llu -> %llu; "
             "the table is ignored (spans come from the frames themselves)",
             t->matched, (unsigned long long)in_end, (unsigned long long)out_end,
             (unsigned long long)(t->matched < t->n ? t->ends[t->matched].in : 0),
             (unsigned long long)(t->matched < t->n ? t->ends[t->matched].out : 0));
}

void seek_table_finish(struct seek_table *t)
{
    if (t->n == 0 || t->bad)
        return;
    if (t->matched == t->n)
        soci_log(SOCI_LOG_INFO, "zstd seekable format: all %u frames agree with the seek table", t->n);
    else
        soci_log(SOCI_LOG_WARNING, "zstd seek table lists %u frames, the layer holds %u before it; ignored", t->n,
                 t->matched);
}

void seek_table_free(struct seek_table *t)
{
    free(t->ends);
    t->ends = NULL;
    t->n = 0;
}
