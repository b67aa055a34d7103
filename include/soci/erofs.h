/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/erofs.h
 * A layer as an EROFS image for the kernel to mount (since 1.2): metadata at kernel speed,
 * file data still read lazily.
 *
 * The image holds the layer's whole tree (directories, inodes, symlinks, xattrs, hard
 * links as one inode) and no file data: every regular file is a run of 4 KiB blocks of a
 * second device, the layer's *data device* (soci_erofs_device_*), which holds the layer's
 * regular files one after another in tar order, each starting at a block boundary, zeros
 * between. Serve that device as a file (soci-mount --kernel serves one per layer with
 * FUSE) and mount the image with it as its one extra device:
 *
 *     mount -t erofs -o device=DATA_DEVICE_FILE IMAGE DIR   (Linux >= 6.12 mounts files;
 *                                                             older ones need loop devices)
 *
 * Whiteouts are in overlayfs form (a deleted NAME is a character device 0/0, an opaque
 * directory carries trusted.overlay.opaque=y and user.overlay.opaque=y), so the mounts of
 * an image's layers stack with overlayfs as its lower directories. The image needs EROFS
 * with chunk-based files and a device table (Linux 5.16, erofs-utils 1.4).
 */
#ifndef SOCI_EROFS_H
#define SOCI_EROFS_H

#include <soci/fs.h>
#include <soci/layer.h>
#include <soci/ztoc.h>

SOCI_BEGIN_DECLS

#define SOCI_EROFS_BLOCK_SIZE 4096 /**< the image's block size, and its data device's */

/**
 * soci_erofs_write flag: the layer as a container engine's own extraction leaves it in its
 * layer directory (containers/storage; soci-store serves layers so): the root is mode
 * 0555 whatever the tar says, and a directory the layer recreates after its own whiteout
 * of the name is a plain directory, not opaque (what lay below stays visible). Without
 * it the image follows the OCI layer rules (such a directory is opaque), as umoci and the
 * merged tree do. Since 1.2.
 */
#define SOCI_EROFS_ENGINE_LAYER 1u

/**
 * Write the EROFS image of the layer z describes into *ret (free with soci_free()),
 * *ret_len bytes. device_tag (at most 64 bytes kept, e.g. the layer digest's hex) names
 * the data device in the image. flags: 0 or SOCI_EROFS_ENGINE_LAYER.
 *
 * below: the layers under this one as one tree (soci_fs_open_layers of them), or NULL.
 * A directory this layer does not list but needs (a parent of its entries) takes its
 * mode, owner and time from the same directory below, as extracting the layers in order
 * onto one directory keeps them (and as overlayfs shows the upper one); without below,
 * or where below has none, it is 0755, owned by 0:0, time 0. The image then depends on
 * the layers below too: keep it by zTOC digest and the digests of the layers under it.
 *
 * Deterministic: the same inputs give the same bytes. The image is read back as the
 * kernel reads it before it is returned (soci_erofs_check). Attributes EROFS has no prefix
 * for (other than user., trusted., security. and POSIX ACLs) are left out with a warning
 * in the log. SOCI_EFORMAT for a tree no image can hold (a symlink without a target, a
 * device number Linux cannot name). Thread-safe for distinct zTOCs; below is only read.
 */
SOCI_API int soci_erofs_write(const soci_ztoc *z, soci_fs *below, const char *device_tag, unsigned flags,
                              void **ret, size_t *ret_len);

/**
 * Check an EROFS image as the kernel reads it, walking the whole tree: superblock, every
 * inode reached once and in bounds, directories sorted with valid names, inline data
 * inside its block, every chunk of file data inside a data device of device_size bytes.
 * 0, or SOCI_EFORMAT naming the first fault. For images soci_erofs_write made (other
 * writers' layouts are refused, not judged).
 */
SOCI_API int soci_erofs_check(const void *img, size_t len, uint64_t device_size);

/** The data device of a layer's EROFS image, read through the layer. */
typedef struct soci_erofs_device soci_erofs_device;

/**
 * Open the data device of layer `layer` (bottom = 0) of tree fs: soci_fs_open() of an
 * image for all its layers, soci_fs_open_layers() or soci_fs_open_image_layer() for
 * others. Reads of the device are reads of the tree: background fetching
 * (soci_fs_background_fetch) yields to them and a learned prefetch plan starts with the
 * first. fs is borrowed and must outlive the device.
 */
SOCI_API int soci_erofs_device_open(soci_fs *fs, uint32_t layer, soci_erofs_device **ret);

/** Its size in bytes, a multiple of SOCI_EROFS_BLOCK_SIZE. 0 for NULL. */
SOCI_API uint64_t soci_erofs_device_size(const soci_erofs_device *d);

/**
 * Read up to len bytes of the device at off: file data through soci_layer_pread (the
 * cache, verified spans, read-ahead), zeros elsewhere. Returns the bytes read (short only
 * at the end, 0 past it) or a negative code; a failed fetch is SOCI_ENET/SOCI_EIO/
 * SOCI_EDIGEST with nothing unverified in buf. Thread-safe.
 */
SOCI_API int64_t soci_erofs_device_pread(soci_erofs_device *d, void *buf, size_t len, uint64_t off);

/**
 * How many of the layer's spans (or chunks) are neither in the cache's disk store nor in
 * its memory: 0 means that reading the whole device now fetches nothing (a layer
 * soci_image_open fetched whole always has 0). For keeping a decoded copy of the device
 * once its layer is all local (soci-mount --kernel does). Since 1.2.
 */
SOCI_API int soci_erofs_device_missing(soci_erofs_device *d, uint64_t *ret);

/** A run of a data device's bytes. */
struct soci_erofs_range {
    uint64_t off;      /**< where it starts, a multiple of SOCI_EROFS_BLOCK_SIZE */
    uint64_t len;      /**< its bytes, a multiple of SOCI_EROFS_BLOCK_SIZE */
    uint32_t rank;     /**< its place in the tree's plan: lower is needed sooner */
    uint32_t reserved; /**< zero */
};

/**
 * The parts of the device whose file data lies in spans the tree's last learned prefetch
 * (soci_fs_prefetch_artifacts) took, so a server can hand them to the kernel before
 * anything asks (soci-mount --kernel writes them into the device file's page cache).
 * Reading them with soci_erofs_device_pread_planned fetches nothing the prefetch did not:
 * a block partly outside those spans is left out (at a file's end the rest of the block
 * is zeros).
 *
 * *ret (free with soci_free()) gets *ret_n ranges in the plan's order, what a start-up
 * needs first coming first: rank counts over the spans of all the tree's layers, so the
 * ranges of several devices merge into one order. Adjacent blocks of one span are one
 * range. *ret is NULL and *ret_n 0 when nothing was planned for this layer (no prefetch
 * artifact, or no soci_fs_prefetch_artifacts yet). Since 1.2.
 */
SOCI_API int soci_erofs_device_planned(soci_erofs_device *d, struct soci_erofs_range **ret, size_t *ret_n);

/**
 * soci_erofs_device_pread for the ranges soci_erofs_device_planned gives: the same bytes,
 * verified the same way, but nothing is read ahead (neither a file's next spans nor a
 * fetch's neighbours): reading planned data through, as a server handing it over does,
 * would otherwise look like a reader streaming files and fetch spans past the plan.
 * Since 1.2.
 */
SOCI_API int64_t soci_erofs_device_pread_planned(soci_erofs_device *d, void *buf, size_t len, uint64_t off);

/** Free the device. Accepts NULL. */
SOCI_API void soci_erofs_device_free(soci_erofs_device *d);

SOCI_END_DECLS

#endif
