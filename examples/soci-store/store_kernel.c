/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-store --kernel: each layer the engine takes from the store is an EROFS image built
 * from its zTOC, mounted by the kernel, and the layer's `diff` is a symbolic link to that
 * mount. The engine hands the path to overlayfs as a lower directory as before; lookups,
 * stats and listings of the container's files then never leave the kernel, and file data
 * comes from the layer's data device, a file of a small FUSE file system this process
 * serves lazily through libsoci (examples/common/device_files.c).
 *
 * The images are written as the engine's own extraction leaves a layer
 * (SOCI_EROFS_ENGINE_LAYER: a 0555 root, recreated directories not opaque), kept in the
 * cache directory's erofs/ by zTOC digest and checked before reuse. Everything lives under
 * a runtime directory per store, /run/soci-store/<hash of the store directory>/
 * ($SOCI_STORE_RUNTIME_DIR moves the parent): devices/ (the FUSE files), N/ (layer N's
 * EROFS), pid. At a clean stop the layers' mounts are detached and the directory removed;
 * a store killed outright leaves them, and the next start at the same place, seeing its
 * process gone, takes them down first. A layer the kernel path cannot take (the mount
 * fails) keeps the FUSE `diff/`.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_common.h"
#include "store.h"

struct store_kernel {
    char runtime[PATH_MAX];
    char images[PATH_MAX]; /* kept images: CACHE/erofs, or runtime/images */
    bool use_loop;
    bool made;   /* the runtime directory is ours to take down */
    bool active; /* serving the data devices: layers take the kernel path */
    unsigned threads;
    struct device_files df; /* one file per store layer, by its index */
    struct device_push **pushes; /* each layer's learned data on its way to the kernel */
};

/* Detach the layers' mounts, then the data devices', and remove the directory. */
static void take_down(const char *runtime)
{
    for (int pass = 0; pass < 2; pass++) {
        /* Layers first: their mounts hold the device files open. */
        DIR *d = opendir(runtime);
        struct dirent *e;
        char sub[PATH_MAX + 256];
        while (d != NULL && (e = readdir(d)) != NULL) {
            bool layer = e->d_name[0] >= '0' && e->d_name[0] <= '9';
            if ((pass == 0) == layer) {
                kernel_path(sub, sizeof(sub), runtime, e->d_name);
                if (layer || strcmp(e->d_name, "devices") == 0)
                    kernel_unmount_under(sub);
            }
        }
        if (d != NULL)
            closedir(d);
    }
    kernel_remove_dir(runtime);
}

int store_kernel_prepare(struct store *s, const char *store_dir, const char *cache_dir, bool use_loop,
                         unsigned threads)
{
    char resolved[PATH_MAX], name[17];
    const char *base = getenv("SOCI_STORE_RUNTIME_DIR");
    struct store_kernel *k = calloc(1, sizeof(*k));
    if (k == NULL || (k->df.devices = calloc(STORE_MAX_LAYERS, sizeof(*k->df.devices))) == NULL ||
        (k->pushes = calloc(STORE_MAX_LAYERS, sizeof(*k->pushes))) == NULL) {
        if (k)
            free(k->df.devices);
        free(k);
        fprintf(stderr, "soci-store: out of memory\n");
        return 1;
    }
    s->kernel = k;
    k->df.capacity = STORE_MAX_LAYERS;
    k->use_loop = use_loop;
    k->threads = threads;
    if (geteuid() != 0) {
        fprintf(stderr, "soci-store: --kernel needs root: it mounts EROFS\n");
        return 1;
    }
    if (realpath(store_dir, resolved) == NULL) {
        fprintf(stderr, "soci-store: %s: %s\n", store_dir, strerror(errno));
        return 1;
    }
    snprintf(name, sizeof(name), "%016llx", (unsigned long long)kernel_hash(KERNEL_HASH_SEED, resolved));
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", base && *base ? base : "/run/soci-store");
    kernel_path(k->runtime, sizeof(k->runtime), parent, name);
    pid_t owner = kernel_live_owner(k->runtime, "soci-store");
    if (owner != 0) {
        fprintf(stderr, "soci-store: %s is served by soci-store (pid %ld) already\n", resolved, (long)owner);
        return 1;
    }
    struct stat st;
    if (stat(k->runtime, &st) == 0) {
        daemon_log(SOCI_LOG_WARNING, "%s: cleaning up after a soci-store that did not stop cleanly", resolved);
        take_down(k->runtime);
    }
    char devices[PATH_MAX + 16];
    kernel_path(devices, sizeof(devices), k->runtime, "devices");
    if (cache_dir)
        kernel_path(k->images, sizeof(k->images), cache_dir, "erofs");
    else
        kernel_path(k->images, sizeof(k->images), k->runtime, "images");
    if (k->runtime[0] == '\0' || kernel_mkdir_p(devices, 0700) != 0 || kernel_mkdir_p(k->images, 0700) != 0) {
        fprintf(stderr, "soci-store: cannot make the runtime directory %s: %s\n", k->runtime, strerror(errno));
        return 1;
    }
    k->made = true;
    return 0;
}

int store_kernel_start(struct store *s)
{
    struct store_kernel *k = s->kernel;
    char path[PATH_MAX + 16];
    kernel_path(path, sizeof(path), k->runtime, "pid");
    FILE *f = fopen(path, "we");
    if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
        daemon_log(SOCI_LOG_ERROR, "cannot write %s: %m", path);
        return -1;
    }
    kernel_path(path, sizeof(path), k->runtime, "devices");
    if (device_files_start(&k->df, path, k->threads) != 0) {
        daemon_log(SOCI_LOG_ERROR, "cannot serve the layers' data at %s: every diff/ over FUSE", path);
        return -1;
    }
    k->active = true;
    return 0;
}

/* Layer i of img as an EROFS image (the engine's form) for a device of device_size bytes,
 * kept in k->images: its path into path. 0 or a negative code (logged). */
static int layer_image(struct store_kernel *k, soci_image *img, uint32_t i, uint64_t device_size, char *path,
                       size_t size)
{
    char key[KERNEL_KEY_MAX];
    const soci_ztoc *z;
    int r = kernel_layer_key(img, i, key, sizeof(key));
    if (r < 0)
        return r;
    snprintf(path, size, "%s/%s-engine.erofs", k->images, key);
    if (kernel_image_good(path, device_size))
        return 0;
    if ((r = soci_image_open_layer(img, i, NULL, &z)) < 0) {
        daemon_log(SOCI_LOG_WARNING, "layer %u: %s", i, soci_last_error());
        return r;
    }
    return kernel_image_make(path, z, NULL, key, SOCI_EROFS_ENGINE_LAYER);
}

void store_kernel_layer(struct store *s, struct store_layer *l, uint32_t index, soci_image *img, uint32_t i)
{
    struct store_kernel *k = s->kernel;
    char image[PATH_MAX + 256], device[PATH_MAX + 32], dir[PATH_MAX + 16], name[16];
    soci_erofs_device *dev;
    if (k == NULL || !k->active)
        return;
    snprintf(name, sizeof(name), "%u", index);
    kernel_path(dir, sizeof(dir), k->runtime, name);
    if (dir[0] == '\0' || strlen(dir) >= sizeof(l->kernel_dir)) {
        daemon_log(SOCI_LOG_WARNING, "layer %s: runtime path too long; serving diff/ over FUSE", l->digest);
        return;
    }
    if (soci_erofs_device_open(l->fs, 0, &dev) < 0) {
        daemon_log(SOCI_LOG_WARNING, "layer %s: %s; serving diff/ over FUSE", l->digest, soci_last_error());
        return;
    }
    /* The device file exists from here on: the mount opens it. */
    k->df.devices[index] = dev;
    atomic_store(&k->df.count, index + 1);
    snprintf(device, sizeof(device), "%s/devices/%u", k->runtime, index);
    if (layer_image(k, img, i, soci_erofs_device_size(dev), image, sizeof(image)) < 0 ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST) || kernel_mount_erofs(image, device, dir, k->use_loop) != 0) {
        daemon_log(SOCI_LOG_WARNING, "layer %s: the kernel path failed (see above); serving diff/ over FUSE",
                   l->digest);
        rmdir(dir);
        return;
    }
    snprintf(l->kernel_dir, sizeof(l->kernel_dir), "%s", dir);
    daemon_log(SOCI_LOG_INFO, "layer %s: EROFS at %s", l->digest, dir);
    /* What its prefetch artifact brought, in the kernel's page cache before the engine reads. */
    device_push_start(&k->df, index, 1, &k->pushes[index]);
}

void store_kernel_stop(struct store *s)
{
    struct store_kernel *k = s->kernel;
    if (k == NULL)
        return;
    for (uint32_t i = 0; i < atomic_load(&k->df.count); i++) {
        device_push_stop(k->pushes[i]);
        k->pushes[i] = NULL;
    }
    if (k->made) {
        /* The layers' mounts first (they hold the device files), then the devices. */
        for (uint32_t i = 0; i < atomic_load(&k->df.count); i++) {
            struct store_layer *l = store_layer_at(s, i);
            if (l != NULL && l->kernel_dir[0]) {
                kernel_unmount(l->kernel_dir);
                rmdir(l->kernel_dir);
            }
        }
        device_files_stop(&k->df);
        take_down(k->runtime);
        k->made = false;
    }
}

void store_kernel_free(struct store *s)
{
    struct store_kernel *k = s->kernel;
    if (k == NULL)
        return;
    store_kernel_stop(s); /* if serving never began */
    for (uint32_t i = 0; i < atomic_load(&k->df.count); i++)
        soci_erofs_device_free(k->df.devices[i]);
    free(k->df.devices);
    free(k->pushes);
    free(k);
    s->kernel = NULL;
}
