/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/ztoc.h
 * Reading zTOCs: the table of contents and decompression checkpoints of one layer.
 *
 * A zTOC is verified completely when it is opened (every flatbuffers offset, vector and
 * string bounded inside the buffer, every checkpoint and entry checked against the sizes
 * it declares); a zTOC that opens is safe to use. An open soci_ztoc is immutable: any
 * number of threads may read it at once.
 */
#ifndef SOCI_ZTOC_H
#define SOCI_ZTOC_H

#include <soci/common.h>

SOCI_BEGIN_DECLS

/** An opened, verified zTOC (immutable; thread-safe). */
typedef struct soci_ztoc soci_ztoc;

/* Compression of the layer a zTOC describes (values as the zTOC stores them). */
#define SOCI_COMPRESSION_GZIP 1 /**< a gzip layer */
#define SOCI_COMPRESSION_UNCOMPRESSED 2 /**< a plain tar layer */
/** A zstd layer, spans aligned to frames. A libsoci extension of the format: the
 *  reference rejects zTOCs with this value (docs/format.md). */
#define SOCI_COMPRESSION_ZSTD 3

/* Entry types. */
#define SOCI_TYPE_REG 1 /**< regular file */
#define SOCI_TYPE_DIR 2 /**< directory */
#define SOCI_TYPE_SYMLINK 3 /**< symbolic link */
#define SOCI_TYPE_HARDLINK 4 /**< hard link to an earlier entry */
#define SOCI_TYPE_CHAR 5 /**< character device */
#define SOCI_TYPE_BLOCK 6 /**< block device */
#define SOCI_TYPE_FIFO 7 /**< named pipe */

/** Copy the buffer (else it is borrowed and must outlive the zTOC). */
#define SOCI_ZTOC_COPY 0x1u

/** Largest zTOC soci_ztoc_open_file() reads (a 10 GiB layer at 1 MiB spans is ~330 MiB). */
#define SOCI_ZTOC_MAX_SIZE ((uint64_t)1 << 30)

/** Open a zTOC held in memory. flags: 0 or SOCI_ZTOC_COPY. */
SOCI_API int soci_ztoc_open_mem(const void *buf, size_t len, unsigned flags, soci_ztoc **ret);

/** Read a zTOC file into memory and open it. */
SOCI_API int soci_ztoc_open_file(const char *path, soci_ztoc **ret);

/** Free a zTOC. Accepts NULL. Layers opened on it must be freed first. */
SOCI_API void soci_ztoc_free(soci_ztoc *z);

/** Header fields. Strings live as long as z. The format version string ("0.9"). */
SOCI_API const char *soci_ztoc_version(const soci_ztoc *z);
/** The build_tool_identifier string. */
SOCI_API const char *soci_ztoc_build_tool(const soci_ztoc *z);
/** Size of the layer blob. */
SOCI_API uint64_t soci_ztoc_compressed_size(const soci_ztoc *z);
/** Where the tar ends, as the reference's reader found it. */
SOCI_API uint64_t soci_ztoc_uncompressed_size(const soci_ztoc *z);
/** SOCI_COMPRESSION_GZIP, SOCI_COMPRESSION_UNCOMPRESSED or SOCI_COMPRESSION_ZSTD. */
SOCI_API int soci_ztoc_compression(const soci_ztoc *z);
/** Number of spans (max_span_id + 1); at least 1. */
SOCI_API uint32_t soci_ztoc_span_count(const soci_ztoc *z);
/** The span size the zTOC was built with (as recorded in its checkpoint data). */
SOCI_API uint64_t soci_ztoc_span_size(const soci_ztoc *z);
/** Form of the checkpoint data: 1 or 2 for gzip (see docs/format.md), the TarZinfo
 *  version for uncompressed layers. */
SOCI_API int soci_ztoc_checkpoint_version(const soci_ztoc *z);

/** Where one span lies in the layer, and how to enter it. */
struct soci_span_info {
    uint64_t compressed_offset;   /**< first byte of the span's compressed range */
    uint64_t compressed_size;     /**< length of that range (what its digest covers) */
    uint64_t uncompressed_offset; /**< first uncompressed byte the span produces */
    uint64_t uncompressed_size;   /**< bytes it produces (may be 0 for the last span) */
    uint64_t checkpoint_in;       /**< gzip: first whole compressed byte; tar: as offset */
    uint32_t checkpoint_bits;     /**< gzip: bits of the byte before checkpoint_in used */
    uint32_t reserved; /**< zero */
    const char *digest;           /**< "sha256:<hex>", lives as long as the zTOC */
};

/**
 * Describe span `span`. info_size is sizeof(struct soci_span_info) as the caller knows
 * it: the library fills that many bytes at most, so the struct can grow.
 */
SOCI_API int soci_ztoc_span_info(const soci_ztoc *z, uint32_t span, struct soci_span_info *info,
                                 size_t info_size);

/** The span holding uncompressed offset off (off < soci_ztoc_uncompressed_size()). */
SOCI_API int soci_ztoc_span_at(const soci_ztoc *z, uint64_t off, uint32_t *ret);

/**
 * Decode one span on its own. comp must hold exactly the span's compressed range
 * (soci_span_info.compressed_size bytes); its sha256 is checked against the span digest
 * before anything is decoded (SOCI_EDIGEST on mismatch). out receives exactly
 * uncompressed_size bytes; out_len must be at least that. Never writes more.
 * Returns the number of bytes written or a negative code. Thread-safe.
 */
SOCI_API int64_t soci_ztoc_decode_span(const soci_ztoc *z, uint32_t span, const void *comp,
                                       size_t comp_len, void *out, size_t out_len);

/** One TOC entry. Strings live as long as the zTOC. */
struct soci_entry {
    const char *name;      /**< as stored in the tar (e.g. "etc/", "./x") */
    const char *path;      /**< cleaned: no leading "/" or "./", no trailing "/"; "" = root */
    const char *linkname;  /**< symlink or hard link target, else "" */
    const char *uname; /**< owner name, as stored */
    const char *gname; /**< group name, as stored */
    const char *mod_time;  /**< RFC 3339 as stored */
    uint64_t offset;       /**< offset of the data in the uncompressed tar */
    uint64_t size;         /**< data size (0 unless a regular file) */
    int64_t mode;          /**< permission bits incl. setuid/setgid/sticky, no type bits */
    int64_t devmajor; /**< device files */
    int64_t devminor; /**< device files */
    int64_t mtime_sec;     /**< mod_time as seconds since the epoch, UTC */
    uint32_t mtime_nsec; /**< and nanoseconds */
    uint32_t uid; /**< owner */
    uint32_t gid; /**< group */
    uint32_t type;         /**< SOCI_TYPE_* */
    uint32_t xattr_count;  /**< raw PAX records, see soci_ztoc_entry_xattr() */
    uint32_t reserved; /**< zero */
};

/** Number of TOC entries. */
SOCI_API uint32_t soci_ztoc_entry_count(const soci_ztoc *z);

/** Fill *ret (at most ret_size bytes of it) with entry i, in TOC (tar) order. */
SOCI_API int soci_ztoc_entry(const soci_ztoc *z, uint32_t i, struct soci_entry *ret, size_t ret_size);

/**
 * Record j of entry i's PAX records, sorted by key. The zTOC keeps ALL of an entry's raw
 * PAX records under the name "xattrs" ("path", "mtime", "SCHILY.xattr.user.foo", ...);
 * real extended attributes are the "SCHILY.xattr." ones with that prefix removed.
 * value may hold NUL bytes and is not NUL-terminated in general: use *value_len.
 */
SOCI_API int soci_ztoc_entry_xattr(const soci_ztoc *z, uint32_t i, uint32_t j, const char **key,
                                   const void **value, size_t *value_len);

/**
 * Find an entry by path in O(1) average. The path is cleaned first, so "/etc/passwd",
 * "./etc/passwd" and "etc/passwd" are the same; "" and "/" name the root entry if the
 * layer has one. When a path occurs more than once, the last occurrence wins (as when
 * extracting the tar). SOCI_ENOTFOUND if absent.
 */
SOCI_API int soci_ztoc_lookup(const soci_ztoc *z, const char *path, uint32_t *ret);

/**
 * The regular file a hard link entry stands for (following chains of hard links);
 * any other entry resolves to itself. SOCI_ENOTFOUND if the target is missing,
 * SOCI_ELOOP for a cycle.
 */
SOCI_API int soci_ztoc_resolve(const soci_ztoc *z, uint32_t i, uint32_t *ret);

/** A symlink's target (lives as long as z). SOCI_EINVAL if i is not a symlink. */
SOCI_API int soci_ztoc_readlink(const soci_ztoc *z, uint32_t i, const char **ret);

SOCI_END_DECLS

#endif
