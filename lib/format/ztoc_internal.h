/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory form of an opened, verified zTOC. Shared by the reader, the span decoder
 * and the layer; nothing here is public. */
#ifndef SOCI_FORMAT_ZTOC_INTERNAL_H
#define SOCI_FORMAT_ZTOC_INTERNAL_H

#include <stdbool.h>

#include <soci/ztoc.h>

#include "format/flatbuf.h"
#include "util/digest.h"
#include "util/pathmap.h"

/* Size of a gzip checkpoint's window: deflate's maximum back-reference distance. */
#define ZTOC_WINDOW_SIZE 32768

/* No span may decode to more than this: it bounds what a read allocates, whatever the
 * zTOC claims. A span is normally span_size plus at most one deflate block. */
#define ZTOC_SPAN_MAX ((uint64_t)1 << 30)

struct ztoc_checkpoint {
    uint64_t in;           /* compressed offset of the first whole byte */
    uint64_t out;          /* uncompressed offset */
    uint8_t bits;          /* bits of the byte at in - 1 that belong to this span */
    const uint8_t *window; /* ZTOC_WINDOW_SIZE bytes before out, or NULL for none */
};

/* A span of a layer indexed by a chunk TOC (eStargz, zstd:chunked) rather than a zTOC:
 * decoding starts afresh at a gzip member or zstd frame (comp_off), drops the first
 * `skip` bytes it produces and yields the chunk. Such zTOCs exist only in memory; their
 * "uncompressed" offsets number the chunks' bytes one after another (file data only, no
 * tar headers), and their span digests are those of the decoded chunks. */
struct ztoc_chunk {
    uint64_t comp_off, comp_end; /* compressed bytes to fetch */
    uint64_t skip;               /* decoded bytes before the chunk's */
    uint64_t out;                /* the chunk's offset in the zTOC's uncompressed space */
};

struct ztoc_xattr {
    const char *key;
    const uint8_t *value;
    uint32_t key_len;
    uint32_t value_len;
};

struct ztoc_entry {
    struct soci_entry pub;
    uint32_t xattr_first; /* index into soci_ztoc.xattrs */
};

struct zstd_pool;

struct soci_ztoc {
    uint8_t *owned; /* the buffer, when copied or read from a file */
    struct fb_buf fb;

    const char *version;
    const char *build_tool;
    uint64_t compressed_size;
    uint64_t uncompressed_size;
    int compression;
    int checkpoint_version;
    uint64_t span_size;
    uint32_t span_count;

    const uint8_t *checkpoint_blob; /* the raw checkpoints vector, inside the buffer */
    size_t checkpoint_blob_len;
    struct ztoc_checkpoint *checkpoints; /* gzip: span_count of them */
    struct ztoc_chunk *chunks;           /* chunk-TOC layers: span_count of them, else NULL */
    bool chunked;
    const char **digest_text;            /* span_count strings inside the buffer */
    uint8_t (*digests)[SHA256_LEN];

    struct ztoc_entry *entries;
    uint32_t entry_count;
    struct ztoc_xattr *xattrs;
    uint32_t xattr_count;
    char *paths; /* cleaned paths of all entries, NUL-separated */
    struct pathmap by_path;
    struct zstd_pool *zstd; /* zstd layers: decoding contexts for their spans, reused */
};

/* Open a zTOC that takes ownership of data (malloc'd; freed with the zTOC, or now if
 * opening fails). */
int ztoc_open_owned(void *data, size_t len, soci_ztoc **ret);

/* Open zTOC bytes written by ztoc_write for a chunk-TOC layer (chunk_toc.c), whose spans
 * are chunks[0..n): takes ownership of data and chunks (freed now if opening fails). */
int ztoc_open_chunked(void *data, size_t len, struct ztoc_chunk *chunks, uint32_t n, soci_ztoc **ret);

/* Parse the checkpoint bytes of a gzip zTOC (FORMAT: gzip checkpoint blob v1/v2). */
int zinfo_gzip_parse(struct soci_ztoc *z, const uint8_t *blob, size_t len);

/* Parse the checkpoint bytes of a zstd zTOC (libsoci's extension, docs/format.md). */
int zinfo_zstd_parse(struct soci_ztoc *z, const uint8_t *blob, size_t len);

/* Check parsed checkpoints (gzip or zstd): the first at output 0, in order, inside the
 * layer, every span within ZTOC_SPAN_MAX. */
int zinfo_check_checkpoints(const struct soci_ztoc *z);

/* Parse the checkpoint bytes of an uncompressed-tar zTOC (TarZinfo). */
int zinfo_tar_parse(struct soci_ztoc *z, const uint8_t *blob, size_t len);

/* Span i's compressed and uncompressed ranges. i < span_count. */
void ztoc_span_ranges(const struct soci_ztoc *z, uint32_t i, uint64_t *comp_off, uint64_t *comp_end,
                      uint64_t *out_off, uint64_t *out_end);

/* Compressed bytes between the end of span a and the start of span b (a < b < span_count;
 * 0 when they touch). */
uint64_t ztoc_span_gap(const struct soci_ztoc *z, uint32_t a, uint32_t b);

/* Compressed bytes spans [first, last] take, the spans between included (first <= last <
 * span_count). */
uint64_t ztoc_run_bytes(const struct soci_ztoc *z, uint32_t first, uint32_t last);

/* The last span of a run of spans that starts at span first, grown from span from (first
 * <= from <= limit < span_count) while the run stays within max_bytes compressed bytes
 * from first's start, max_spans spans, and limit: at least from. How fetches are sized. */
uint32_t ztoc_span_run_last(const struct soci_ztoc *z, uint32_t first, uint32_t from, uint32_t limit,
                            uint64_t max_bytes, uint32_t max_spans);

/* The first and last span holding the bytes of entry e, which has some (e->size > 0). */
int ztoc_entry_spans(const struct soci_ztoc *z, const struct soci_entry *e, uint32_t *first, uint32_t *last);

#endif
