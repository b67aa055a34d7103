/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime directory of soci-mount --kernel, one per mount point
 * (/run/soci-mount/<hash of the mount point>/, $SOCI_MOUNT_RUNTIME_DIR moves it):
 * `devices/` the FUSE mount of the layers' data devices, `0`, `1`, ... the layers' EROFS
 * mounts, `images/` their images when no cache directory keeps them, `pid` the serving
 * process, `top` the id of the mount at the mount point. A run killed without its cleanup
 * leaves it behind; the next run at the same place finds it, sees its process gone, and
 * takes its mounts down first.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel.h"

/* A number kept in a file of the runtime directory (pid, top), or -1. */
static long read_number(const char *dir, const char *name)
{
    char path[PATH_MAX + 16];
    long v = -1;
    kernel_path(path, sizeof(path), dir, name);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static int write_number(const char *dir, const char *name, long v)
{
    char path[PATH_MAX + 16];
    kernel_path(path, sizeof(path), dir, name);
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", v);
    return fclose(f);
}

void runtime_unmount(struct kernel_runtime *rt)
{
    char path[PATH_MAX + 16], name[16];
    int top = rt->top >= 0 ? rt->top : (int)read_number(rt->dir, "top");
    if (top >= 0 && kernel_mount_present(rt->mnt, top))
        umount2(rt->mnt, MNT_DETACH);
    rt->top = -1;
    for (uint32_t i = 0;; i++) {
        snprintf(name, sizeof(name), "%u", i);
        kernel_path(path, sizeof(path), rt->dir, name);
        if (access(path, F_OK) != 0)
            break;
        kernel_unmount(path);
        rmdir(path);
    }
}

void runtime_remove(struct kernel_runtime *rt)
{
    char path[PATH_MAX + 16];
    kernel_path(path, sizeof(path), rt->dir, "devices");
    kernel_unmount(path); /* a dead run's; ours is unmounted by its session by now */
    rmdir(path);
    kernel_path(path, sizeof(path), rt->dir, "images");
    kernel_remove_dir(path);
    kernel_path(path, sizeof(path), rt->dir, "top");
    unlink(path);
    kernel_path(path, sizeof(path), rt->dir, "pid");
    unlink(path);
    rmdir(rt->dir);
}

int runtime_prepare(struct kernel_runtime *rt, const char *mountpoint)
{
    const char *base = getenv("SOCI_MOUNT_RUNTIME_DIR");
    char path[PATH_MAX + 16];
    rt->top = -1;
    if (realpath(mountpoint, rt->mnt) == NULL) {
        fprintf(stderr, "soci-mount: no mount point %s\n", mountpoint);
        return 1;
    }
    snprintf(rt->root, sizeof(rt->root), "%s", base && *base ? base : "/run/soci-mount");
    char name[17];
    snprintf(name, sizeof(name), "%016llx", (unsigned long long)kernel_hash(KERNEL_HASH_SEED, rt->mnt));
    kernel_path(rt->dir, sizeof(rt->dir), rt->root, name);
    if (rt->dir[0] == '\0') {
        fprintf(stderr, "soci-mount: the runtime directory's path is too long: %s\n", rt->root);
        return 1;
    }
    pid_t owner = kernel_live_owner(rt->dir, "soci-mount");
    if (owner != 0) {
        fprintf(stderr, "soci-mount: %s is served by soci-mount (pid %ld) already\n", rt->mnt, (long)owner);
        return 1;
    }
    struct stat st;
    if (stat(rt->dir, &st) == 0) {
        daemon_log(SOCI_LOG_WARNING, "%s: cleaning up after a soci-mount that did not stop cleanly", rt->mnt);
        runtime_unmount(rt);
        runtime_remove(rt);
    }
    kernel_path(path, sizeof(path), rt->dir, "devices");
    if (kernel_mkdir_p(rt->dir, 0700) != 0 || mkdir(path, 0700) != 0) {
        fprintf(stderr, "soci-mount: cannot make the runtime directory %s: %s\n", rt->dir, strerror(errno));
        return 1;
    }
    return 0;
}

int runtime_write_pid(const struct kernel_runtime *rt)
{
    return write_number(rt->dir, "pid", (long)getpid());
}

int runtime_note_top(struct kernel_runtime *rt)
{
    rt->top = kernel_top_mount(rt->mnt);
    return rt->top < 0 ? -1 : write_number(rt->dir, "top", rt->top);
}
