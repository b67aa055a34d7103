/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding the fields of one 512-byte tar header block, as Go's archive/tar does. */
#ifndef SOCI_TAR_TAR_FIELDS_H
#define SOCI_TAR_TAR_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK 512

enum tar_format { TAR_V7, TAR_USTAR, TAR_GNU, TAR_STAR };

/* Checksum verified (unsigned or signed sum, as tars in the wild use both) and magic
 * identified. False for a block that is no tar header. */
bool tar_block_format(const uint8_t *blk, enum tar_format *ret);

bool tar_block_is_zero(const uint8_t *blk);

/* A numeric field: octal (space/NUL padded) or base-256. False if malformed. */
bool tar_numeric(const uint8_t *field, size_t len, int64_t *ret);

/* A string field up to its first NUL, copied into out (len + 1 bytes). */
void tar_string(const uint8_t *field, size_t len, char *out);

/* Field positions of the header block. */
enum {
    TAR_NAME = 0, TAR_NAME_LEN = 100,
    TAR_MODE = 100, TAR_UID = 108, TAR_GID = 116, TAR_ID_LEN = 8,
    TAR_SIZE = 124, TAR_MTIME = 136, TAR_NUM12_LEN = 12,
    TAR_CHKSUM = 148, TAR_CHKSUM_LEN = 8,
    TAR_TYPEFLAG = 156,
    TAR_LINKNAME = 157,
    TAR_MAGIC = 257, TAR_VERSION = 263,
    TAR_UNAME = 265, TAR_GNAME = 297, TAR_OWNER_LEN = 32,
    TAR_DEVMAJOR = 329, TAR_DEVMINOR = 337,
    TAR_PREFIX = 345, TAR_PREFIX_LEN = 155, TAR_STAR_PREFIX_LEN = 131,
    TAR_STAR_TRAILER = 508,
};

#endif
