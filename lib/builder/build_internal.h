/* SPDX-License-Identifier: Apache-2.0 */
/* The state of one zTOC build, shared by the pass over the layer (gzip or tar) and the
 * collection of the TOC. */
#ifndef SOCI_BUILDER_BUILD_INTERNAL_H
#define SOCI_BUILDER_BUILD_INTERNAL_H

#include <openssl/evp.h>

#include <soci/build.h>

#include "format/ztoc_internal.h"
#include "format/ztoc_write.h"
#include "tar/tar_reader.h"
#include "util/extent_set.h"

/* Compressed input is read in chunks of this size; tar output is handed on in pieces of
 * BUILD_OUT_CHUNK. BUILD_POOL buffers of each kind circulate between the two halves. */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define BUILD_CHUNK ((size_t)256 << 10)
#define BUILD_OUT_CHUNK ((size_t)256 << 10)
#else
#define BUILD_CHUNK ((size_t)4 << 10)
#define BUILD_OUT_CHUNK ((size_t)4 << 10)
#endif
#define BUILD_POOL 8

struct soci_builder {
    uint64_t span_size;
    int checkpoint_version;
    int threads; /* 0: as many as help (two when the machine has two cores) */
    char *tool;
    soci_progress_fn progress;
    void *progress_userdata;
    struct extent *cuts; /* builder_set_cuts (build_cuts.h) */
    size_t ncuts;
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

/*
 * A build has two halves. The reading half (the caller's thread) reads the layer,
 * decompresses it and decides where checkpoints go; the indexing half hashes every
 * span's compressed bytes, checks each gzip member's CRC-32 and parses the tar. The
 * reading half tells the indexing half what happened through messages, in stream order;
 * the indexing half runs on a second thread (build_pipe.c) or, with one thread, inline
 * as each message is posted. Either way it sees the same messages in the same order, so
 * the zTOC cannot depend on the thread count.
 */
enum build_op {
    BUILD_INPUT,      /* buf[0, len) is the next chunk of input; it starts at layer offset `at` */
    BUILD_SPAN,       /* the span being hashed ends at offset `upto`; the next starts at `at` */
    BUILD_OUTPUT,     /* buf[0, len) is the next stretch of the uncompressed tar */
    BUILD_MEMBER_END, /* a gzip member ended; its trailer says crc and isize */
    BUILD_END,        /* all input is in: close the last span */
};

struct build_msg {
    enum build_op op;
    uint8_t *buf;
    size_t len;
    uint64_t at, upto;
    uint32_t crc, isize;
    bool pooled; /* buf came from build_pipe_buffer: it goes back once handled */
};

enum build_pool { BUILD_POOL_INPUT, BUILD_POOL_OUTPUT };

struct build_pipe;

struct build {
    const struct soci_builder *opts;
    soci_read_fn read;
    void *read_ctx;
    soci_blob *blob; /* the layer, when built from a blob (random access), else NULL */
    struct build_pipe *pipe;
    int compression;

    /* The reading half's. */
    uint8_t *chunk;       /* the current chunk of input */
    size_t chunk_len;
    uint64_t chunk_start; /* its offset in the layer */
    uint64_t total_in;    /* bytes read so far */
    uint8_t tail[8];      /* the last 8 bytes before chunk_start (a gzip trailer may straddle) */
    bool eof;
    struct build_checkpoint *cps;
    size_t ncps, cps_cap;

    /* The indexing half's. Span digests: a running sha256 over the current span's
     * compressed bytes, which come from the input chunk it was last told of. */
    const uint8_t *hash_chunk;
    size_t hash_chunk_len;
    uint64_t hash_chunk_start;
    uint8_t prev_chunk_last; /* last byte of the chunk before it */
    EVP_MD_CTX *md;
    bool hashing;
    uint64_t hashed_upto;
    uint8_t (*digests)[SHA256_LEN];
    size_t ndigests, digests_cap;
    uint32_t member_crc; /* CRC-32 and size of the gzip member's output so far */
    uint64_t member_size;
    /* The TOC, gathered as tar entries pass. */
    struct tar_reader *tar;
    struct ztoc_write_entry *entries;
    size_t nentries, entries_cap;
    uint64_t tar_end;
};

/* The reading half. */

/* Read the next chunk of input (full unless the input ends) and tell the indexing half;
 * chunk_len is 0 once there is nothing left. */
int build_next_chunk(struct build *b);

/* Record a checkpoint (taking its window) and start the span it opens: the span before
 * ends at its `in`, the next starts at its first byte (in - 1 when bits are left over). */
int build_add_checkpoint(struct build *b, struct build_checkpoint cp);

/* Close the span at `upto` and start the next at `at` (uncompressed and zstd layers). */
int build_split_span(struct build *b, uint64_t upto, uint64_t at);

/* Hand buf[0, len) of tar stream on; pooled says it came from build_pipe_buffer. */
int build_emit_output(struct build *b, uint8_t *buf, size_t len, bool pooled);

/* The pipe between the halves (build_pipe.c). Start it, saying how many threads it may
 * use; spawn its second thread (a no-op with one, or when it runs; a layer that fits in
 * one chunk is done before a thread would pay for itself, so the reader calls this at
 * its second chunk; a failure to start one leaves the build on one thread); take a
 * free buffer (waiting for one; fails once the indexing half has); post a message; finish:
 * wait until every message is handled, then return `r` or, when the indexing half failed
 * first, its error. Posting fails once the indexing half has failed. */
int build_pipe_start(struct build *b, int threads);
void build_pipe_spawn(struct build *b);
int build_pipe_buffer(struct build *b, enum build_pool pool, uint8_t **ret);
void build_pipe_release(struct build *b, uint8_t *buf);
/* Blob builds with a second thread: the worker reads the input ahead, and the reader takes
 * the chunks in order (a failed read is raised where it happened). */
bool build_pipe_reads_ahead(const struct build *b);
int build_pipe_next_input(struct build *b, uint8_t **buf, size_t *len);
int build_pipe_post(struct build *b, const struct build_msg *m);
int build_pipe_finish(struct build *b, int r);
void build_pipe_free(struct build *b);

/* The indexing half: act on one message (build_sink.c). */
int build_sink_handle(struct build *b, const struct build_msg *m);

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
