/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing an EROFS metadata image: the tree's inodes, directories, symlinks and xattrs in
 * one image, every regular file's data a run of blocks of a second device (the data
 * device, erofs_device.h: the layer's files, served lazily, never copied). Written from
 * the EROFS core on-disk format (superblock at 1024, 32-byte inode slots, 4 KiB blocks,
 * chunk-based inodes with a device table); erofs_check.c reads such images back.
 */
#ifndef SOCI_FORMAT_EROFS_WRITE_H
#define SOCI_FORMAT_EROFS_WRITE_H

#include <stddef.h>
#include <stdint.h>

/* 4 KiB blocks, a page: every kernel with chunked files mounts them, and Debian's
 * erofs-utils 1.5 checks them (it refuses blocks smaller than a page). */
#define EROFS_BLKBITS 12
#define EROFS_BLKSIZE (1u << EROFS_BLKBITS)
#define EROFS_SUPER_OFFSET 1024
#define EROFS_SUPER_MAGIC 0xE0F5E1E2u
#define EROFS_SUPER_SIZE 128
#define EROFS_DEVT_SLOT_SIZE 128
#define EROFS_DEVT_OFFSET (EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE) /* our one device slot */
#define EROFS_INODE_SLOT 32
#define EROFS_INODE_EXTENDED_SIZE 64
#define EROFS_DIRENT_SIZE 12
#define EROFS_NAME_LEN 255
#define EROFS_XATTR_HEADER_SIZE 12
#define EROFS_CHUNK_INDEX_SIZE 8

#define EROFS_INCOMPAT_CHUNKED_FILE 0x4u
#define EROFS_INCOMPAT_DEVICE_TABLE 0x8u

#define EROFS_LAYOUT_FLAT_PLAIN 0
#define EROFS_LAYOUT_FLAT_INLINE 2
#define EROFS_LAYOUT_CHUNK_BASED 4
#define EROFS_CHUNK_FORMAT_INDEXES 0x20u
#define EROFS_CHUNK_BLKBITS_MASK 0x1fu

/* One inode as the tree describes it. */
struct erofs_in_inode {
    uint32_t mode; /* type bits and permissions */
    uint32_t uid, gid, nlink;
    int64_t mtime;
    uint32_t mtime_nsec;
    uint32_t rdev_major, rdev_minor; /* device files */
    uint64_t size;      /* a regular file's bytes */
    uint64_t data_addr; /* where they are on the data device: a multiple of EROFS_BLKSIZE */
    const char *link;   /* a symlink's target */
};

/* The tree to write, read through callbacks. Inode 0 is the root directory; inode numbers
 * run below ninodes. Each callback returns 0 (or 1: an item given, for the iterators), 0
 * past the last item, or a negative SOCI_E* code that ends the write. */
struct erofs_tree {
    uint32_t ninodes;
    uint64_t data_size;   /* bytes of the data device: no file's data may lie past it */
    const char *data_tag; /* recorded in the device slot (up to 64 bytes) */
    void *ctx;
    int (*inode)(void *ctx, uint32_t i, struct erofs_in_inode *ret);
    /* Directory dir's k-th entry, sorted by name in byte order; "." and ".." are not given. */
    int (*dirent)(void *ctx, uint32_t dir, uint32_t k, const char **name, uint32_t *child);
    uint32_t (*parent)(void *ctx, uint32_t dir);
    /* Inode i's k-th extended attribute; name in full ("user.x"). */
    int (*xattr)(void *ctx, uint32_t i, uint32_t k, const char **name, const void **value, size_t *value_len);
};

/* Write t's image into *ret (malloc'd), *ret_len bytes (a multiple of EROFS_BLKSIZE).
 * Deterministic: the same tree gives the same bytes. Attributes EROFS cannot name (not
 * user., trusted., security. or a POSIX ACL) are left out, counted in *skipped_xattrs. */
int erofs_write(const struct erofs_tree *t, uint8_t **ret, size_t *ret_len, uint32_t *skipped_xattrs);

/* Check an image as the kernel would read it, walking the whole tree from the root: the
 * superblock, every inode in bounds and reached without cycles, layouts, inline data
 * within its block, directories sorted with valid name offsets, every chunk within the
 * data device of data_size bytes. 0 or SOCI_EFORMAT with the first fault (erofs_check.c). */
int erofs_check(const uint8_t *img, size_t len, uint64_t data_size);

#endif
