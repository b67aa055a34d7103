/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the kernel paths of soci-mount --kernel and soci-store --kernel share: the FUSE
 * file system of layers' EROFS data devices (device_files.c) and the learned data handed
 * to the kernel through it (device_push.c), the kernel's EROFS mounts and
 * the mount table (kernel_mounts.c), kept EROFS images (kernel_kept_images.c) and short
 * path helpers (kernel_paths.c).
 */
#ifndef SOCI_EXAMPLES_KERNEL_COMMON_H
#define SOCI_EXAMPLES_KERNEL_COMMON_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fuse_fs.h"
#include "fuse_stats.h"

/* ---- device_files.c ---- */

/* One read-only file per layer, named by its index, holding that layer's EROFS data
 * device. Layers may be added while served: devices[i] is set before count passes i. */
struct device_files {
    soci_erofs_device **devices; /* capacity entries, bottom first */
    uint32_t capacity;
    _Atomic uint32_t count;
    struct fuse_stats stats;
    atomic_uint reading;               /* reads in flight */
    atomic_uint_fast64_t last_read_ns; /* when the last one ended (fuse_stats_now) */
    struct fuse_session *se;
    bool mounted, serving;
    unsigned threads;
    pthread_t thread;
};

/* Mount the files at dir (read-only, others allowed: the kernel opens them for the
 * mounts) and serve them on up to threads workers (0: 16). 0, or -1 after saying why on
 * stderr. */
int device_files_start(struct device_files *df, const char *dir, unsigned threads);

/* Unmount and stop serving. Accepts a never started df. */
void device_files_stop(struct device_files *df);

/* The inode number of layer i's file. */
fuse_ino_t device_files_inode(uint32_t i);

/* ---- device_push.c ---- */

/* Write the planned data (soci_erofs_device_planned) of layers [first, first + count)
 * into their files' page cache on a thread of its own, what a start needs first first,
 * for the kernel to read without asking. Start once the EROFS mounts hold the files; stop
 * before df stops. *ret is NULL when nothing is planned. 0, or -1 (logged; the layers
 * serve as without it). */
struct device_push;
int device_push_start(struct device_files *df, uint32_t first, uint32_t count, struct device_push **ret);
void device_push_stop(struct device_push *p); /* accepts NULL */

/* ---- kernel_mounts.c ---- */

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

/* Detach every mount at or below dir, deepest first. */
void kernel_unmount_under(const char *dir);

/* ---- kernel_kept_images.c ---- */

/* Whether the EROFS image file at path is one to mount over a data device of device_size
 * bytes (read back by soci_erofs_check). */
bool kernel_image_good(const char *path, uint64_t device_size);

/* Make the image soci_erofs_write(z, below, tag, flags) writes, and keep it at path (one
 * there already, which failed kernel_image_good, is replaced: said in the log). 0 or a
 * negative code (logged). */
int kernel_image_make(const char *path, const soci_ztoc *z, soci_fs *below, const char *tag, unsigned flags);

/* What layer i's kept files are named by: format version and zTOC (or own TOC, or layer)
 * digest, "v1-<hex>". 0 or a negative code (logged). */
#define KERNEL_KEY_MAX 160
int kernel_layer_key(soci_image *img, uint32_t i, char *key, size_t size);

/* ---- kernel_paths.c ---- */

/* dir/name into out (empty when it does not fit). */
void kernel_path(char *out, size_t size, const char *dir, const char *name);

/* FNV-1a of s, going on from h (KERNEL_HASH_SEED to start): short fixed names for paths
 * and lists of them. */
#define KERNEL_HASH_SEED 0xcbf29ce484222325u
uint64_t kernel_hash(uint64_t h, const char *s);

int kernel_mkdir_p(const char *path, mode_t mode);

/* Remove a directory of plain files and empty directories, one level deep. */
void kernel_remove_dir(const char *dir);

/* The pid in dir/pid if that process still runs as program (a dead run's directory
 * names none), else 0. */
pid_t kernel_live_owner(const char *dir, const char *program);

#endif
