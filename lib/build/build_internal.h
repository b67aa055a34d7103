/* SPDX-License-Identifier: Apache-2.0 */
/* The state of one zTOC build, shared by the pass over the layer (gzip or tar) and the
 * collection of the TOC. */
#ifndef SOCI_BUILD_BUILD_INTERNAL_H
#define SOCI_BUILD_BUILD_INTERNAL_H

#include <openssl/evp.h>

#include <soci/build.h>

#include "format/ztoc_internal.h"
#include "format/ztoc_write.h"
#include "tar/tar_reader.h"

/* Compressed input is read in chunks of this size. */
#define BUILD_CHUNK ((size_t)256 << 10)

struct soci_builder {
    uint64_t span_size;
    int checkpoint_version;
    char *tool;
    soci_progress_fn progress;
    void *progress_userdata;
};

struct build_checkpoint {
    uint64_t in, out;
    uint8_t bits;
    uint8_t *window; /* ZTOC_WINDOW_SIZE bytes */
};

/* A zstd seekable-format seek table (seek_table.c): where each frame ends. */
struct seek_table {
    struct {
        uint64_t in, out;
    } *ends;
    uint32_t n, matched;
    uint64_t layer_size;
    bool bad;
};

struct build {
    const struct soci_builder *opts;
    soci_read_fn read;
    void *read_ctx;
    soci_blob *blob; /* the layer, when built from a blob (random access), else NULL */

    uint8_t *chunk;      /* the current chunk of input */
    size_t chunk_len;
    uint64_t chunk_start; /* its offset in the layer */
    uint64_t total_in;    /* bytes read so far */
    bool eof;

    /* Span digests: a running sha256 over the current span's compressed bytes. */
    EVP_MD_CTX *md;
    bool hashing;
    uint64_t hashed_upto;
    uint8_t prev_chunk_last; /* last byte of the chunk before this one */
    uint8_t (*digests)[SHA256_LEN];
    size_t ndigests, digests_cap;

    struct build_checkpoint *cps;
    size_t ncps, cps_cap;

    /* The TOC, gathered as tar entries pass. */
    struct tar_reader *tar;
    struct ztoc_write_entry *entries;
    size_t nentries, entries_cap;
    uint64_t tar_end;
};

/* Read the next chunk of input (full unless the input ends); chunk_len is 0 once
 * there is nothing left. */
int build_next_chunk(struct build *b);

/* Hash the compressed bytes [hashed_upto, upto) of the current chunk into the span. */
int build_hash_upto(struct build *b, uint64_t upto);

/* Close the current span's digest and start the next at `start` (the first byte of
 * the new span; it may be the last byte already hashed, or of the previous chunk). */
int build_next_span(struct build *b, uint64_t start);

/* Record a checkpoint (taking its window) and start the span it opens: hash the bytes
 * up to it into the span before, then start the next at its first byte. */
int build_add_checkpoint(struct build *b, struct build_checkpoint cp);

/* Close the last span. */
int build_end_spans(struct build *b);

/* The passes over a layer. */
int build_gzip(struct build *b);
int build_zstd(struct build *b);
int build_tar(struct build *b);

/* Collecting tar entries into b->entries (the tar reader's callback). */
int build_collect_entry(void *ctx, const struct tar_entry *e);
void build_free_entries(struct build *b);

/* Read the seek table at the end of blob into *t: t->n = 0 when the layer is not in the
 * seekable format; SOCI_EFORMAT when its table is malformed. */
int seek_table_read(soci_blob *blob, struct seek_table *t);

/* The build pass found a frame ending at compressed in_end, uncompressed out_end: check it
 * against the table (the first disagreement is logged and the table set aside). */
void seek_table_check_frame(struct seek_table *t, uint64_t in_end, uint64_t out_end);

/* Log whether the whole table agreed. */
void seek_table_finish(struct seek_table *t);
void seek_table_free(struct seek_table *t);

#endif
