/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/blob.h
 * soci_blob: an immutable random-access source of bytes (a layer blob, a zTOC).
 *
 * A blob has a size and answers read_at(offset, length). libsoci ships a file and a
 * memory implementation; callers plug in their own with a versioned method table, as
 * SQLite's VFS does. Blobs are shared by the layers reading them, so they are
 * reference-counted. All functions here are safe to call from many threads at once.
 */
#ifndef SOCI_BLOB_H
#define SOCI_BLOB_H

#include <soci/common.h>

SOCI_BEGIN_DECLS

/** A random-access byte source (reference-counted; safe for concurrent reads). */
typedef struct soci_blob soci_blob;

/** One range of a vectored read. */
struct soci_iov_at {
    void *buf; /**< where the bytes go */
    size_t len; /**< how many */
    uint64_t off; /**< from this offset of the blob */
};

#define SOCI_BLOB_METHODS_VERSION 1 /**< the version of struct soci_blob_methods this header describes */

/** read_at may be called from several threads at once with the same ctx. Without this
 *  capability libsoci serialises the calls. */
#define SOCI_BLOB_CONCURRENT 0x1u

/**
 * The method table of a caller-supplied blob.
 *
 * Contract:
 * - size is called exactly once, by soci_blob_new(); a blob never changes size.
 * - read_at fills all len bytes at off or fails; it is only called with ranges inside the
 *   size, and never with len == 0. A short read must be reported as an error
 *   (SOCI_EIO), never as success.
 * - read_vec, if not NULL, reads several ranges in one go (a remote blob merges them into
 *   fewer requests); libsoci otherwise calls read_at for each range.
 * - control, if not NULL, answers operation codes; it returns SOCI_ENOTSUP for any it does
 *   not know. Codes below 1000 are reserved for libsoci.
 * - close is called exactly once, after the last read, when the last reference goes. If
 *   soci_blob_new() fails, close is not called and ctx still belongs to the caller.
 * - Methods return 0 or a negative SOCI_E* code; a detail message set with
 *   soci_blob_set_error() is kept.
 * Later versions append fields after close; libsoci reads them only when version says so.
 */
struct soci_blob_methods {
    int version;   /**< SOCI_BLOB_METHODS_VERSION */
    uint32_t caps; /**< SOCI_BLOB_* capability bits */
    int (*size)(void *ctx, uint64_t *ret); /**< the blob's size in *ret; 0 or a SOCI_E* code */
    int (*read_at)(void *ctx, void *buf, size_t len, uint64_t off); /**< all len bytes at off, or a SOCI_E* code */
    int (*read_vec)(void *ctx, const struct soci_iov_at *iov, size_t count); /**< optional: several ranges at once */
    int (*control)(void *ctx, int op, void *arg); /**< optional: SOCI_ENOTSUP for unknown ops */
    void (*close)(void *ctx); /**< called once, after the last read */
    /* Fields above are version 1. */
};

/**
 * Make a blob from a caller's method table. The table is copied; ctx is passed to every
 * method. On success the blob owns ctx (close frees it).
 */
SOCI_API int soci_blob_new(const struct soci_blob_methods *methods, void *ctx, soci_blob **ret);

/** Open a file as a blob. The file is read with pread(); its size is taken once, at open. */
SOCI_API int soci_blob_open_file(const char *path, soci_blob **ret);

/** Copy buf into the blob (else buf is borrowed and must outlive the blob). */
#define SOCI_BLOB_COPY 0x1u

/** A blob over memory. flags: 0 or SOCI_BLOB_COPY. */
SOCI_API int soci_blob_open_mem(const void *buf, size_t len, unsigned flags, soci_blob **ret);

/** Take a reference. Returns b. */
SOCI_API soci_blob *soci_blob_ref(soci_blob *b);

/** Drop a reference; the last one closes the blob. Accepts NULL. Returns NULL. */
SOCI_API soci_blob *soci_blob_unref(soci_blob *b);

/** The blob's size in bytes. */
SOCI_API uint64_t soci_blob_size(const soci_blob *b);

/**
 * Read exactly len bytes at off. A range past the end is SOCI_ERANGE; nothing is read.
 */
SOCI_API int soci_blob_read_at(soci_blob *b, void *buf, size_t len, uint64_t off);

/**
 * For blob implementations: record the detail message of the failure the method is about
 * to return (printf format). Returns err, so a method can `return soci_blob_set_error(...)`.
 */
SOCI_API int soci_blob_set_error(int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

SOCI_END_DECLS

#endif
