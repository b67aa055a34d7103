/* SPDX-License-Identifier: Apache-2.0 */
/* Serialising a zTOC exactly as the reference does (same flatbuffer layout, so the same
 * bytes and digest for the same content). */
#ifndef SOCI_FORMAT_ZTOC_WRITE_H
#define SOCI_FORMAT_ZTOC_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ztoc_write_xattr {
    const char *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
};

struct ztoc_write_entry {
    const char *name;
    const char *type; /* "reg", "dir", ... */
    const char *linkname;
    const char *uname;
    const char *gname;
    const char *mod_time;
    int64_t offset, size, mode, devmajor, devminor;
    uint32_t uid, gid;
    const struct ztoc_write_xattr *xattrs; /* sorted by key */
    uint32_t xattr_count;
};

struct ztoc_write {
    const char *version;
    const char *build_tool;
    int64_t compressed_size;
    int64_t uncompressed_size;
    int compression; /* SOCI_COMPRESSION_* */
    uint32_t span_count;
    const char *const *span_digests; /* "sha256:<hex>" each */
    const uint8_t *checkpoints;
    size_t checkpoints_len;
    const struct ztoc_write_entry *entries;
    uint32_t entry_count;
    bool chunked; /* for ztoc_open_chunked: spans come from elsewhere, and may be none */
};

/* The zTOC bytes (malloc'd) for m. */
int ztoc_write(const struct ztoc_write *m, uint8_t **ret, size_t *ret_len);

/* The TarZinfo flatbuffer of an uncompressed layer, as the reference writes it. */
int tar_zinfo_write(int32_t version, int64_t span_size, int64_t size, uint8_t **ret, size_t *ret_len);

/* The checkpoint bytes of a zstd zTOC (zinfo_zstd.c): offsets[i] = {in, out} of span i. */
int zinfo_zstd_write(const uint64_t (*offsets)[2], size_t count, uint64_t span_size, uint8_t **ret,
                     size_t *ret_len);

#endif
