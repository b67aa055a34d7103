/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/build.h
 * Building a zTOC from a layer in one streaming pass.
 *
 * The layer (gzip or uncompressed tar, told apart by its first bytes) is read once:
 * inflated, with a checkpoint recorded at the first deflate block boundary after every
 * span_size bytes of output, each span's compressed bytes hashed as they pass, and the
 * tar headers parsed into the TOC. Memory grows with the number of checkpoints (32 KiB
 * each) and entries, never with the layer's size. The zTOC produced is byte-identical
 * to what the reference implementation (soci-snapshotter) builds from the same layer.
 *
 * A soci_builder holds options; it may build many zTOCs, one at a time (one thread per
 * builder). A build may start a second thread of its own (SOCI_BUILD_THREADS) and joins
 * it before returning; the read and progress callbacks are only ever called on the
 * thread that called the build.
 */
#ifndef SOCI_BUILD_H
#define SOCI_BUILD_H

#include <soci/blob.h>

SOCI_BEGIN_DECLS

/** Builds zTOCs; used by one thread at a time, reusable for several layers. */
typedef struct soci_builder soci_builder;

/* Options of a builder. */
#define SOCI_BUILD_SPAN_SIZE 1             /**< u64: bytes of output between checkpoints (default 4 MiB) */
#define SOCI_BUILD_TOOL_IDENTIFIER 2       /**< str: build_tool_identifier (default "AWS SOCI CLI v0.2") */
#define SOCI_BUILD_CHECKPOINT_VERSION 3    /**< u64: gzip checkpoint data form, 1 or 2 (default 2) */
/** u64: threads a build may use: 1, only the calling one; 2, a second one for hashing and
 *  tar parsing while the calling thread decompresses; 0 (default), 2 when the process may
 *  run on two CPUs, else 1. The zTOC is the same whatever the count. */
#define SOCI_BUILD_THREADS 4

#define SOCI_BUILD_DEFAULT_SPAN_SIZE ((uint64_t)4 << 20) /**< the reference's default span size */
#define SOCI_BUILD_DEFAULT_TOOL "AWS SOCI CLI v0.2" /**< the reference CLI's build_tool_identifier */

/** A builder with the default options. Free with soci_builder_free(). */
SOCI_API int soci_builder_new(soci_builder **ret);
/** Free a builder. Accepts NULL. */
SOCI_API void soci_builder_free(soci_builder *b);

/** Set an integer option. SOCI_EINVAL for an unknown option or a value out of range. */
SOCI_API int soci_builder_set_u64(soci_builder *b, int option, uint64_t value);

/** Set a string option (copied). */
SOCI_API int soci_builder_set_str(soci_builder *b, int option, const char *value);

/**
 * Progress of a build: called after each chunk of input with the compressed bytes read
 * so far, on the building thread. Install with fn == NULL to stop.
 */
typedef void (*soci_progress_fn)(void *userdata, uint64_t bytes_read);
/** Install (fn NULL: remove) the progress callback. */
SOCI_API int soci_builder_set_progress(soci_builder *b, soci_progress_fn fn, void *userdata);

/**
 * A source of the layer's bytes: fill buf with up to len bytes and return how many,
 * 0 at the end of the layer, or a negative SOCI_E* code.
 */
typedef int64_t (*soci_read_fn)(void *ctx, void *buf, size_t len);

/**
 * Build the zTOC of the layer read from `read`. On success *ret holds the zTOC bytes
 * (free with soci_free()) and *ret_len their length.
 * Errors: SOCI_EFORMAT for a corrupt gzip stream or tar, SOCI_ENOTSUP for entries the
 * format cannot describe (sparse files, unknown types), or the read function's code.
 */
SOCI_API int soci_builder_build_stream(soci_builder *b, soci_read_fn read, void *ctx, void **ret,
                                       size_t *ret_len);

/** The same, reading a blob from start to end. */
SOCI_API int soci_builder_build_blob(soci_builder *b, soci_blob *blob, void **ret, size_t *ret_len);

/** Free memory libsoci returned to the caller. Accepts NULL. */
SOCI_API void soci_free(void *p);

SOCI_END_DECLS

#endif
