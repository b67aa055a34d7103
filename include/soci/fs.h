/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/fs.h
 * soci_fs: the file tree of a whole image, read lazily — its layers stacked with overlay
 * semantics, as a container runtime extracts them.
 *
 * Layers apply bottom first. In each layer, whiteouts apply first and to the layers below
 * only: "DIR/.wh.NAME" deletes DIR/NAME, "DIR/.wh..wh..opq" empties DIR of what lower
 * layers put there. Then its entries apply: a directory over a directory merges (the
 * upper one's metadata wins), anything else replaces what was at that path. Whiteout
 * entries themselves never appear. Hard links share one inode. Parent directories a
 * layer does not list appear with mode 0755, owner 0:0, time 0.
 *
 * Inodes are numbers: 1 (SOCI_FS_ROOT) is the root; the others are given in a fixed walk
 * of the tree, so the same image gets the same numbers each time. Nothing in a soci_fs
 * changes after soci_fs_open: every function may be called from many threads at once.
 *
 * Errors map to errno with soci_errno(): SOCI_ENOTFOUND (ENOENT), SOCI_ENOTDIR,
 * SOCI_EISDIR, SOCI_ELOOP, SOCI_EINVAL; a failed fetch is SOCI_ENET/SOCI_EIO/SOCI_EDIGEST
 * (EIO) with a message naming the layer and spans.
 */
#ifndef SOCI_FS_H
#define SOCI_FS_H

#include <soci/image.h>

SOCI_BEGIN_DECLS

/** The merged file tree of an image (immutable; every function is thread-safe). */
typedef struct soci_fs soci_fs;

#define SOCI_FS_ROOT 1 /**< the root directory's inode number */

/**
 * Open the tree of img: every layer is opened (zTOCs fetched and checked, several at once
 * from a registry; layers without one fetched whole) and the tree is merged. img is
 * borrowed and must outlive the fs; it must not be used by another thread meanwhile. To
 * cache spans, soci_image_set_cache first.
 */
SOCI_API int soci_fs_open(soci_image *img, soci_fs **ret);

/** Keep whiteout entries as the plain files they are in the tar (soci_fs_open_layers). */
#define SOCI_FS_KEEP_WHITEOUTS 0x1u

/**
 * Show whiteouts as overlayfs reads them in a lower directory, instead of applying them
 * (soci_fs_open_layers; since 1.1): a deleted NAME (`.wh.NAME` in the tar) is a character
 * device 0/0 named NAME, and a directory holding `.wh..wh..opq` carries the attributes
 * `trusted.overlay.opaque` and `user.overlay.opaque`, both "y" (that entry itself is
 * hidden). One layer opened so is what a container engine can stack under overlayfs
 * (podman's additional layer store). A library older than 1.1 refuses the flag.
 */
#define SOCI_FS_OVERLAY_WHITEOUTS 0x2u

/**
 * Open the tree of layers given directly, bottom first (for sources other than
 * soci_image: a caller's blobs and zTOCs). The layers are borrowed and must outlive the
 * fs. flags: 0, or SOCI_FS_KEEP_WHITEOUTS to see each layer's tar as it is (one layer's
 * own contents, say) instead of applying whiteouts, or SOCI_FS_OVERLAY_WHITEOUTS.
 */
SOCI_API int soci_fs_open_layers(soci_layer *const *layers, uint32_t count, unsigned flags, soci_fs **ret);

/**
 * Open layer i of an image as a tree of its own (flags as for soci_fs_open_layers:
 * SOCI_FS_OVERLAY_WHITEOUTS gives what a container engine stacks under overlayfs). Unlike
 * a tree opened with soci_fs_open_layers, it knows its image, so
 * soci_fs_prefetch_artifacts() fetches what the layer's prefetch artifact names. img is
 * borrowed and must outlive the fs. Since 1.1.
 */
SOCI_API int soci_fs_open_image_layer(soci_image *img, uint32_t i, unsigned flags, soci_fs **ret);

/** Free the fs (stopping background fetching). Accepts NULL. */
SOCI_API void soci_fs_free(soci_fs *fs);

/** Attributes of an inode. mode holds the POSIX type bits (S_IFREG, ...) and permissions. */
struct soci_stat {
    uint64_t ino; /**< inode number */
    uint32_t mode; /**< type bits and permissions */
    uint32_t nlink; /**< names of a file; 2 + subdirectories for a directory */
    uint32_t uid; /**< owner, as stored */
    uint32_t gid; /**< group, as stored */
    uint64_t size;        /**< bytes of a file, length of a symlink's target, 4096 for a directory */
    uint64_t blocks;      /**< 512-byte blocks the data would take */
    int64_t mtime_sec; /**< modification time, seconds since the epoch */
    uint32_t mtime_nsec; /**< and nanoseconds */
    uint32_t rdev_major;  /**< device files */
    uint32_t rdev_minor; /**< device files */
    uint32_t layer;       /**< index of the layer it comes from, bottom = 0; UINT32_MAX: implied */
};

/** Fill *ret (ret_size bytes of it at most, so the struct can grow) for inode ino. */
SOCI_API int soci_fs_getattr(soci_fs *fs, uint64_t ino, struct soci_stat *ret, size_t ret_size);

/** The inode named name in directory parent ("." and ".." work; ".." of the root is the root). */
SOCI_API int soci_fs_lookup(soci_fs *fs, uint64_t parent, const char *name, uint64_t *ret);

/** Follow symlinks in the last component too (for soci_fs_resolve). */
#define SOCI_FS_FOLLOW 0x1u

/**
 * The inode at path, from the root ("/usr/bin/sh" and "usr/bin/sh" alike). Symlinks in
 * directories on the way are followed inside the image (an absolute target starts again
 * at its root, ".." never climbs above it); the last component only with SOCI_FS_FOLLOW.
 * SOCI_ELOOP after 40 symlinks.
 */
SOCI_API int soci_fs_resolve(soci_fs *fs, const char *path, unsigned flags, uint64_t *ret);

/** One directory entry. name lives as long as the fs. */
struct soci_dirent {
    const char *name; /**< the entry's name */
    uint64_t ino; /**< inode number */
    uint32_t mode;     /**< type bits only (S_IFDIR, S_IFREG, ...) */
    uint32_t reserved; /**< zero */
    uint64_t next;     /**< offset of the entry after this one */
};

/**
 * The entry at offset off of directory dir: offsets 0 and 1 are "." and "..", then the
 * entries sorted by name. Returns 1 with *ret filled, 0 past the last entry, or a negative
 * code. Offsets stay valid for the life of the fs, whatever other threads do.
 */
SOCI_API int soci_fs_readdir(soci_fs *fs, uint64_t dir, uint64_t off, struct soci_dirent *ret, size_t ret_size);

/**
 * Read up to len bytes of regular file ino at off. Returns the bytes read (short only at
 * the end of the file, 0 past it) or a negative code. Files need no open: an image never
 * changes, so an inode number is all a reader holds.
 */
SOCI_API int64_t soci_fs_pread(soci_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off);

/** A symlink's target (lives as long as the fs); SOCI_EINVAL for other inodes. */
SOCI_API int soci_fs_readlink(soci_fs *fs, uint64_t ino, const char **ret);

/**
 * Extended attribute i of inode ino (from the layer's "SCHILY.xattr." PAX records):
 * 1 with *name, *value and *value_len set (valid as long as the fs), 0 when i is past the
 * last. Values may hold NUL bytes.
 */
SOCI_API int soci_fs_listxattr(soci_fs *fs, uint64_t ino, uint32_t i, const char **name, const void **value,
                               size_t *value_len);

/** The value of attribute name; SOCI_ENOTFOUND when the inode has none by that name. */
SOCI_API int soci_fs_getxattr(soci_fs *fs, uint64_t ino, const char *name, const void **value, size_t *value_len);

/** What statfs(2) reports of the tree. */
struct soci_statfs {
    uint64_t block_size; /**< 4096 */
    uint64_t blocks;   /**< the image's data, in block_size units */
    uint64_t files;    /**< inodes */
    uint32_t name_max; /**< 255 */
    uint32_t reserved; /**< zero */
};

/** Fill *ret (ret_size bytes of it at most). */
SOCI_API int soci_fs_statfs(soci_fs *fs, struct soci_statfs *ret, size_t ret_size);

/**
 * Fetch the spans holding a file (path resolved with SOCI_FS_FOLLOW) into the cache now,
 * so that later reads of it do not wait. Regular files only; a directory is SOCI_EISDIR.
 */
SOCI_API int soci_fs_prefetch(soci_fs *fs, const char *path);

/**
 * Fetch into the cache every span the image's prefetch artifacts name: the SOCI index
 * entries of media type SOCI_PREFETCH_MEDIA_TYPE, one per layer, as the reference's
 * `soci create --prefetch-file` writes them (and `soci-index create --prefetch-file`).
 * Ranges past a layer's zTOC are cut (with a warning); ranges closer than a round trip's
 * worth of bytes are fetched as one, the spans between them included; a few threads
 * fetch ranges side by side, within SOCI_OPT_MAX_CONNECTIONS. Best effort: a range or
 * artifact that fails is skipped, the rest fetched, and the first failure returned at the
 * end. *ret_spans (NULL allowed) gets the number of spans fetched. An fs from
 * soci_fs_open_image_layer() fetches its one layer's artifact; one from
 * soci_fs_open_layers(), or an image without artifacts, fetches nothing. Since 1.1.
 */
SOCI_API int soci_fs_prefetch_artifacts(soci_fs *fs, uint64_t *ret_spans);

/**
 * Learned prefetch: what the tree's reads have needed so far, as a prefetch record (JSON,
 * media type application/vnd.libsoci.prefetch-record.v1+json; docs/prefetch.md): for each
 * layer read through a SOCI zTOC, the spans soci_fs_pread() needed — not those read
 * ahead, prefetched or fetched in the background — in the order first needed, and the
 * uncompressed bytes those reads asked for (since 1.2), with the layer's and the zTOC's
 * digests. An index build given it (SOCI_OPT_PREFETCH_RECORD) places checkpoints around
 * those bytes in the layer's zTOC and writes the spans holding them as its prefetch
 * artifact, which soci_fs_prefetch_artifacts() then fetches on every start. Record a
 * start-up on a fresh tree: what was read before is listed too. *ret (free with soci_free()) and *ret_len get the record; SOCI_ENOTSUP for
 * a tree not opened from an image. Since 1.1.
 */
SOCI_API int soci_fs_prefetch_record(soci_fs *fs, char **ret, size_t *ret_len);

/**
 * Start (enable != 0) or stop background fetching: threads fetch every span of every
 * layer into the cache's disk store, top layer first, a run of spans a request. They
 * start nothing while reads through the layers' caches (by this tree or any other using
 * them) are in flight or ended less than 500 ms ago, nor, until the first read, in the
 * first 3 s. Needs a cache with a disk store (SOCI_ENOTSUP otherwise). Stopping waits for
 * the requests in flight.
 */
SOCI_API int soci_fs_background_fetch(soci_fs *fs, int enable);

#define SOCI_COUNTER_BACKGROUND_SPANS 12 /**< spans background fetching stored */
/** Extended attributes in the tree: what soci_fs_listxattr() lists, summed over every
 *  inode (overlayfs opacity included). A tree with none can tell the kernel so, which then
 *  stops asking (soci-mount answers FUSE's getxattr with ENOSYS). Since 1.2. */
#define SOCI_COUNTER_XATTRS 18

/**
 * SOCI_COUNTER_BACKGROUND_SPANS, SOCI_COUNTER_XATTRS (any fs), or any soci_image_counter()
 * counter (over the image), or any soci_cache_counter() counter (of the image's cache, if
 * it has one). An fs from soci_fs_open_layers() sums its layers' soci_layer_counter()
 * counters instead. The image counters read the image, so for a tree of an image they are
 * the one call here that must not run while that image is used on another thread (opening
 * more of its layers, say); soci_layer_counter() on the layers themselves may run on any
 * thread.
 */
SOCI_API int soci_fs_counter(const soci_fs *fs, int which, uint64_t *ret);

SOCI_END_DECLS

#endif
