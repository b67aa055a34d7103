/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-mount --kernel: the parts. examples/common has what soci-store shares (the FUSE
 * data device files, the kernel's mounts, kept images); kernel_images.c makes and keeps
 * the layers' EROFS images; kernel_runtime.c keeps the runtime directory (and cleans up
 * after a killed run); kernel_decoded.c keeps decoded copies of the data devices for later
 * mounts; kernel_tree.c puts them together and takes them down.
 */
#ifndef SOCI_MOUNT_KERNEL_H
#define SOCI_MOUNT_KERNEL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kernel_common.h"
#include "mount.h"

/* The source our overlayfs mounts carry, for people reading the mount table. */
#define KERNEL_OVERLAY_SOURCE "soci-kernel"

/* ---- kernel_runtime.c ---- */

struct kernel_runtime {
    char root[PATH_MAX]; /* /run/soci-mount, or $SOCI_MOUNT_RUNTIME_DIR */
    char mnt[PATH_MAX]; /* the mount point, resolved */
    char dir[PATH_MAX]; /* the runtime directory */
    int top;            /* the id of our mount at the mount point, or -1 */
};

/* Resolve the mount point, take down what a dead run left there, and make the runtime
 * directory with its devices/. 0, or an exit status after saying why. */
int runtime_prepare(struct kernel_runtime *rt, const char *mountpoint);
int runtime_write_pid(const struct kernel_runtime *rt);

/* Note the mount now at the mount point as ours (rt->top, and the file `top`). */
int runtime_note_top(struct kernel_runtime *rt);

/* Detach our mount at the mount point (rt->top, else the file's) and the layers'. */
void runtime_unmount(struct kernel_runtime *rt);

/* Remove the runtime directory: a dead run's devices/ mount detached, images removed. */
void runtime_remove(struct kernel_runtime *rt);

/* ---- kernel_images.c ---- */

/* Layer i's EROFS image, for a data device of device_size bytes, into path: the one kept
 * in dir if it checks out, else built (with the layers under it for the directories it
 * implies) and kept there. Named by the layer's key (kernel_layer_key) and a hash of the
 * layers under it. 0 or a negative code. */
int kernel_layer_image(soci_image *img, uint32_t i, const char *key, uint64_t device_size, const char *dir,
                       char *path, size_t size);

/* ---- kernel_decoded.c ---- */

/* The decoded data device kept in dir for the layer named key, if there is one of size
 * bytes that checks out (its sha256, hashed once per boot: the check is remembered under
 * rt_root by the file's identity): its path into path, true. A damaged one is removed. */
bool decoded_find(const char *dir, const char *rt_root, const char *key, uint64_t size, char *path,
                  size_t path_size);

struct decoded_keeper;

/* Start a thread that, while the devices are idle, writes a decoded copy of each layer
 * without one (have[i] unset) once that layer is all local, within budget bytes of kept
 * copies in dir (the least recently used go first). keys[i] names layer i. 0, or -1
 * after logging. */
int decoded_start(struct decoded_keeper **ret, struct device_files *df, const char *dir, const char *rt_root,
                  char (*keys)[KERNEL_KEY_MAX], const bool *have, uint64_t budget);

/* Stop it (a copy half written is dropped). Accepts NULL. */
void decoded_stop(struct decoded_keeper *k);

#endif
