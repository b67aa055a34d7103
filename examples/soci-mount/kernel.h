/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-mount --kernel: the parts. device_files.c serves each layer's EROFS data device
 * as a file over FUSE; kernel_mounts.c makes and finds the kernel's mounts (EROFS,
 * overlayfs, loop devices); kernel_tree.c puts them together and takes them down.
 */
#ifndef SOCI_MOUNT_KERNEL_H
#define SOCI_MOUNT_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "mount.h"

struct device_files {
    soci_erofs_device **devices; /* one per layer, bottom first */
    uint32_t count;
    struct fuse_stats stats;
};

extern const struct fuse_lowlevel_ops device_file_ops;

/* The source our overlayfs mounts carry, for people reading the mount table. */
#define KERNEL_OVERLAY_SOURCE "soci-kernel"

/* Mount EROFS image at dir with device as its data device: the files themselves where the
 * kernel mounts files, else (or with use_loop) through read-only loop devices that go
 * away with the mount. 0, or -1 after logging why. */
int kernel_mount_erofs(const char *image, const char *device, const char *dir, bool use_loop);

/* The id (mountinfo's first field) of the topmost mount at path (absolute, resolved), or
 * -1 when nothing is mounted there. */
int kernel_top_mount(const char *path);

/* Whether the mount with this id still sits at path. */
bool kernel_mount_present(const char *path, int id);

/* Detach whatever is mounted at path (all of it, lazily: busy files keep it alive). */
void kernel_unmount(const char *path);

#endif
