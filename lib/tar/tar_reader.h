/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A push parser for tar streams: bytes go in as they arrive (from an inflater, a file),
 * entries come out through a callback, data is skipped without being buffered. It reads
 * what Go's archive/tar reads, the way the reference's zTOC builder sees it: ustar with
 * prefix, GNU long names and links, PAX extended headers (records override the header
 * fields; all of them are reported), base-256 numbers, and the position of every
 * entry's data counted exactly as the reference counts it. PAX global headers apply to
 * every entry after them (the reference rejects them). Sparse files are refused.
 */
#ifndef SOCI_TAR_TAR_READER_H
#define SOCI_TAR_TAR_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest PAX header or GNU long name accepted (as Go's reader). */
#define TAR_MAX_SPECIAL ((size_t)1 << 20)

struct tar_record {
    char *key;
    char *value;
    size_t key_len;
    size_t value_len;
};

struct tar_entry {
    const char *name;
    const char *linkname;
    const char *uname;
    const char *gname;
    uint32_t type; /* SOCI_TYPE_* */
    int64_t size;  /* as declared (non-regular entries own no data whatever it says) */
    int64_t mode;
    int64_t uid;
    int64_t gid;
    int64_t devmajor;
    int64_t devminor;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    const struct tar_record *records; /* PAX records in force, sorted by key */
    size_t record_count;
    uint64_t offset; /* where the entry's data starts in the tar stream */
};

/* Called for each entry; the entry and its strings live until the callback returns.
 * A negative return stops the parser with that code. */
typedef int (*tar_entry_fn)(void *ctx, const struct tar_entry *e);

struct tar_reader;

int tar_reader_new(tar_entry_fn fn, void *ctx, struct tar_reader **ret);
void tar_reader_free(struct tar_reader *t);

/* Feed the next bytes of the stream. Bytes after the end-of-archive marker are ignored. */
int tar_reader_feed(struct tar_reader *t, const uint8_t *data, size_t len);

/* The stream has ended. Fails if it ended inside a header or an entry's data; on success
 * *end_pos is where reading stopped (after the end-of-archive blocks, as the reference
 * records it in uncompressed_archive_size). */
int tar_reader_finish(struct tar_reader *t, uint64_t *end_pos);

#endif
