/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-mount --kernel: the image served by the kernel. Each layer becomes an EROFS
 * metadata image (built from its zTOC, kept in the cache directory by zTOC digest, checked
 * before use) whose file data lives on a data device: a file of a small FUSE file system
 * this process serves, read lazily through libsoci. The layers' EROFS mounts are stacked
 * with overlayfs at the mount point; lookups, stats and directory listings never leave the
 * kernel, and file pages stay in its page cache.
 *
 * A layer whose decoded data is kept in the cache directory (kernel_decoded.c) is mounted
 * over that file instead, and the data of the others is copied there once it is all
 * local, for the next mount.
 *
 * Here the parts (kernel_runtime.c, kernel_images.c, device_files.c, kernel_mounts.c,
 * kernel_decoded.c) are put together in order and taken down in reverse. The mount is ended by umount of
 * the mount point (seen in the mount table), SIGINT, SIGTERM or SIGHUP; then every mount
 * is detached and the runtime directory removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel.h"

struct kernel_tree {
    const struct options *o;
    struct loaded *l;
    struct kernel_runtime rt;
    char images[PATH_MAX]; /* where EROFS images are kept */
    struct device_files df;
    char (*keys)[KERNEL_KEY_MAX]; /* what each layer's kept files are named by */
    bool *decoded;                /* layer i mounted over its kept decoded copy */
    struct decoded_keeper *keeper;
    struct device_push *push; /* the learned start's data on its way to the kernel */
};

static int failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Say why on stderr (the terminal until the tree is mounted); an exit status. */
static int failed(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "soci-mount: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

/* Decoded copies are kept only in a cache directory, and not while recording: their reads
 * would be recorded as needed. */
static bool keeps_decoded(const struct kernel_tree *kt)
{
    return kt->o->cache_dir && kt->o->decoded_size > 0 && kt->o->record == NULL;
}

static int mount_layers(struct kernel_tree *kt)
{
    char image[PATH_MAX + 64], device[PATH_MAX + 192], dir[PATH_MAX + 16], name[16];
    uint32_t n = kt->df.count;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t size = soci_erofs_device_size(kt->df.devices[i]);
        int r = kernel_layer_key(kt->l->img, i, kt->keys[i], sizeof(kt->keys[i]));
        if (r == 0)
            r = kernel_layer_image(kt->l->img, i, kt->keys[i], size, kt->images, image, sizeof(image));
        if (r < 0) {
            fprintf(stderr, "soci-mount: layer %u: %s\n", i, soci_last_error());
            return 1;
        }
        snprintf(name, sizeof(name), "%u", i);
        /* The layer's data from local disk if a decoded copy is kept, else lazily. */
        kt->decoded[i] = keeps_decoded(kt) &&
                         decoded_find(kt->images, kt->rt.root, kt->keys[i], size, device, sizeof(device));
        if (kt->decoded[i])
            daemon_log(SOCI_LOG_INFO, "layer %u: data from its decoded copy %s", i, device);
        else
            snprintf(device, sizeof(device), "%s/devices/%u", kt->rt.dir, i);
        kernel_path(dir, sizeof(dir), kt->rt.dir, name);
        /* One layer needs no overlay: it is mounted at the mount point itself. */
        const char *at = n == 1 ? kt->rt.mnt : dir;
        if (n > 1 && mkdir(dir, 0700) != 0 && errno != EEXIST)
            return failed("cannot make %s", dir);
        if (kernel_mount_erofs(image, device, at, kt->o->kernel_loop) != 0)
            return failed("layer %s: cannot mount its EROFS image (see the log)", name);
    }
    if (n == 1)
        return 0;
    /* Relative lower directories keep the option short whatever the depth: mount(2)
     * resolves them against our working directory. */
    size_t cap = (size_t)n * 12 + 16, used;
    char *opts = malloc(cap);
    if (opts == NULL)
        return failed("out of memory");
    used = (size_t)snprintf(opts, cap, "lowerdir=");
    for (uint32_t i = n; i-- > 0;)
        used += (size_t)snprintf(opts + used, cap - used, "%u%s", i, i ? ":" : "");
    int r = -1;
    if (chdir(kt->rt.dir) == 0) {
        r = mount(KERNEL_OVERLAY_SOURCE, kt->rt.mnt, "overlay", MS_RDONLY, opts);
        if (r != 0)
            daemon_log(SOCI_LOG_ERROR, "mount -t overlay -o %s %s: %m", opts, kt->rt.mnt);
        if (chdir("/") != 0)
            r = -1;
    }
    free(opts);
    if (r != 0)
        return failed("cannot stack the layers at %s with overlayfs", kt->rt.mnt);
    return 0;
}

/* Unless in the foreground: fork, and let the parent wait for the child's word on
 * whether the tree is mounted (its exit status). Returns the pipe's write end in the
 * child, -1 in the foreground; never returns in the parent. */
static int background(const struct options *o)
{
    int p[2];
    if (o->d.foreground || pipe(p) != 0)
        return -1;
    fuse_stats_before_fork();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid > 0) {
        unsigned char status = 1;
        close(p[1]);
        if (read(p[0], &status, 1) != 1)
            status = 1;
        _exit(status);
    }
    close(p[0]);
    setsid();
    return p[1];
}

static void report(int notify, int status)
{
    if (notify < 0)
        return;
    unsigned char s = (unsigned char)status;
    if (write(notify, &s, 1) != 1)
        daemon_log(SOCI_LOG_WARNING, "could not tell the parent process: %m");
    close(notify);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    daemon_log_to_syslog();
}

/* Serve until the mount point is unmounted or a signal says stop. */
static void wait_for_end(struct kernel_tree *kt, int sigfd)
{
    int table = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    char buf[65536];
    for (;;) {
        /* Reading the table to its end arms the next change notice. */
        if (table >= 0) {
            lseek(table, 0, SEEK_SET);
            while (read(table, buf, sizeof(buf)) > 0)
                ;
        }
        if (!kernel_mount_present(kt->rt.mnt, kt->rt.top)) {
            daemon_log(SOCI_LOG_INFO, "%s was unmounted", kt->rt.mnt);
            kt->rt.top = -1;
            break;
        }
        struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = table, .events = POLLPRI}};
        if (poll(fds, table >= 0 ? 2 : 1, table >= 0 ? -1 : 1000) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                daemon_log(SOCI_LOG_INFO, "signal %u: unmounting %s", si.ssi_signo, kt->rt.mnt);
            break;
        }
    }
    if (table >= 0)
        close(table);
}

int kernel_serve(const struct options *o, struct loaded *l)
{
    struct kernel_tree kt = {.o = o, .l = l};
    char devices[PATH_MAX + 16];
    int status = 1, notify = -1, sigfd = -1;
    if (geteuid() != 0)
        return failed("--kernel needs root: it mounts EROFS and overlayfs");
    uint32_t n = soci_image_layer_count(l->img);
    if (n == 0)
        return failed("%s has no layers", o->image);
    if ((kt.df.devices = calloc(n, sizeof(*kt.df.devices))) == NULL || (kt.keys = calloc(n, sizeof(*kt.keys))) == NULL ||
        (kt.decoded = calloc(n, sizeof(*kt.decoded))) == NULL) {
        status = failed("out of memory");
        goto out;
    }
    kt.df.capacity = n;
    atomic_store(&kt.df.count, n);
    for (uint32_t i = 0; i < n; i++) {
        int r = soci_erofs_device_open(l->fs, i, &kt.df.devices[i]);
        if (r < 0) {
            fprintf(stderr, "soci-mount: layer %u: %s\n", i, soci_last_error());
            goto out;
        }
    }
    if ((status = runtime_prepare(&kt.rt, o->mountpoint)) != 0)
        goto out;
    status = 1;
    /* Without a cache directory the images are this mount's alone, removed with it. */
    if (o->cache_dir)
        kernel_path(kt.images, sizeof(kt.images), o->cache_dir, "erofs");
    else
        kernel_path(kt.images, sizeof(kt.images), kt.rt.dir, "images");
    if (kernel_mkdir_p(kt.images, 0700) != 0) {
        failed("cannot make %s", kt.images);
        goto down;
    }
    /* Signals are read from a descriptor in this thread: blocked before any other starts. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    notify = background(o);
    if ((sigfd = signalfd(-1, &stop, SFD_CLOEXEC)) < 0 || runtime_write_pid(&kt.rt) != 0) {
        failed("cannot set up signals or the pid file");
        goto down;
    }
    kernel_path(devices, sizeof(devices), kt.rt.dir, "devices");
    if (device_files_start(&kt.df, devices, o->d.threads) != 0) {
        status = failed("cannot serve the layers' data at %s", devices);
        goto down;
    }
    if (mount_layers(&kt) != 0)
        goto down;
    /* Not while recording: the record is what reads needed, and these would count. */
    if (o->record == NULL)
        device_push_start(&kt.df, 0, n, &kt.push);
    /* The mount now at the mount point is ours: watched while serving, and found by the
     * next run if this one is killed. */
    if (runtime_note_top(&kt.rt) != 0) {
        failed("%s: the mount is not in the mount table", kt.rt.mnt);
        goto down;
    }
    report(notify, 0);
    notify = -1;
    serving_started(o, l);
    if (keeps_decoded(&kt))
        decoded_start(&kt.keeper, &kt.df, kt.images, kt.rt.root, kt.keys, kt.decoded, o->decoded_size);
    wait_for_end(&kt, sigfd);
    decoded_stop(kt.keeper);
    kt.keeper = NULL;
    soci_fs_background_fetch(l->fs, 0);
    status = 0;
down:
    device_push_stop(kt.push);
    runtime_unmount(&kt.rt);
    device_files_stop(&kt.df);
    runtime_remove(&kt.rt);
    write_outputs(o, l, &kt.df.stats);
    report(notify, status);
out:
    if (sigfd >= 0)
        close(sigfd);
    for (uint32_t i = 0; i < kt.df.count && kt.df.devices; i++)
        soci_erofs_device_free(kt.df.devices[i]);
    free(kt.df.devices);
    free(kt.keys);
    free(kt.decoded);
    return status;
}
