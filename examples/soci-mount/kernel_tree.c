/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-mount --kernel: the image served by the kernel. Each layer becomes an EROFS
 * metadata image (built from its zTOC, kept in the cache directory by zTOC digest, checked
 * before use) whose file data lives on a data device: a file of a small FUSE file system
 * this process serves, read lazily through libsoci. The layers' EROFS mounts are stacked
 * with overlayfs at the mount point; lookups, stats and directory listings never leave the
 * kernel, and file pages stay in its page cache.
 *
 * Everything lives under a runtime directory per mount point (/run/soci-mount/<hash>/:
 * `devices/` the FUSE mount, `0`, `1`, ... the layers' mounts, `pid`, `top` the id of the
 * mount at the mount point, `images/` without a cache directory). A run killed without
 * its cleanup leaves that behind; the next mount at the same place finds it, sees its
 * process gone, and takes its mounts down first. The mount is ended by umount of the
 * mount point (seen in the mount table), SIGINT, SIGTERM or SIGHUP; then every mount is
 * detached and the runtime directory removed.
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
#include <dirent.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel.h"

#define IMAGE_FORMAT "v1" /* bump when the writer's output changes: old images are not reused */

struct kernel_tree {
    const struct options *o;
    struct loaded *l;
    char mnt[PATH_MAX];
    char run[PATH_MAX]; /* the runtime directory */
    char images[PATH_MAX]; /* where EROFS images are kept */
    struct device_files df;
    int top; /* the mount id at the mount point once stacked, else -1 */
    struct fuse_session *se;
    bool session_mounted;
    pthread_t loop_thread;
    bool loop_started;
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

/* dir/name into out; a path too long for out is cut (and then names nothing of ours). */
static void path_in(char *out, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        out[0] = '\0';
}

/* FNV-1a of the mount point: a short, fixed name for its runtime directory. */
static uint64_t path_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3u;
    return h;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* The pid a runtime directory names, if that process is a soci-mount still running. */
static long read_number(const char *run, const char *name);

static pid_t live_owner(const char *run)
{
    char path[PATH_MAX + 16], comm[64] = "";
    long pid = read_number(run, "pid");
    if (pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) != 0)
        return 0;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    if ((f = fopen(path, "re")) != NULL) {
        if (fgets(comm, sizeof(comm), f) == NULL)
            comm[0] = '\0';
        fclose(f);
    }
    return strncmp(comm, "soci-mount", 10) == 0 ? (pid_t)pid : 0;
}

/* A number kept in a file of the runtime directory (pid, top), or -1. */
static long read_number(const char *run, const char *name)
{
    char path[PATH_MAX + 16];
    long v = -1;
    path_in(path, sizeof(path), run, name);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static int write_number(const char *run, const char *name, long v)
{
    char path[PATH_MAX + 16];
    path_in(path, sizeof(path), run, name);
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", v);
    return fclose(f);
}

/* Empty and remove a directory of plain files. */
static void remove_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX + 256];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            path_in(path, sizeof(path), dir, e->d_name);
            unlink(path);
        }
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

/* Take down the mounts of the tree at kt, or of a run killed before (found through its
 * runtime directory), and remove that directory. Safe on any partial state. */
static void take_down(struct kernel_tree *kt)
{
    char path[PATH_MAX + 16], name[16];
    int top = kt->top >= 0 ? kt->top : (int)read_number(kt->run, "top");
    if (top >= 0 && kernel_mount_present(kt->mnt, top))
        umount2(kt->mnt, MNT_DETACH);
    kt->top = -1;
    for (uint32_t i = 0;; i++) {
        snprintf(name, sizeof(name), "%u", i);
        path_in(path, sizeof(path), kt->run, name);
        if (access(path, F_OK) != 0)
            break;
        kernel_unmount(path);
        rmdir(path);
    }
    path_in(path, sizeof(path), kt->run, "devices");
    if (kt->session_mounted) {
        fuse_session_unmount(kt->se);
        kt->session_mounted = false;
    } else {
        kernel_unmount(path);
    }
    rmdir(path);
    path_in(path, sizeof(path), kt->run, "images");
    remove_files(path);
    path_in(path, sizeof(path), kt->run, "top");
    unlink(path);
    path_in(path, sizeof(path), kt->run, "pid");
    unlink(path);
    rmdir(kt->run);
}

/* The runtime directory, made afresh: a dead run's leftovers taken down first. */
static int prepare_runtime(struct kernel_tree *kt)
{
    const char *base = getenv("SOCI_MOUNT_RUNTIME_DIR");
    char path[PATH_MAX + 16];
    snprintf(kt->run, sizeof(kt->run), "%s/%016llx", base && *base ? base : "/run/soci-mount",
             (unsigned long long)path_hash(kt->mnt));
    pid_t owner = live_owner(kt->run);
    if (owner != 0) {
        fprintf(stderr, "soci-mount: %s is served by soci-mount (pid %ld) already\n", kt->mnt, (long)owner);
        return 1;
    }
    struct stat st;
    if (stat(kt->run, &st) == 0) {
        daemon_log(SOCI_LOG_WARNING, "%s: cleaning up after a soci-mount that did not stop cleanly", kt->mnt);
        take_down(kt);
    }
    if (mkdir_p(kt->run, 0700) != 0)
        return failed("cannot make the runtime directory %s", kt->run);
    path_in(path, sizeof(path), kt->run, "devices");
    if (mkdir(path, 0700) != 0)
        return failed("cannot make %s", path);
    return 0;
}

/* The layers under layer i merged, for the directories layer i implies (NULL for 0). */
static int open_below(struct kernel_tree *kt, uint32_t i, soci_fs **ret)
{
    *ret = NULL;
    if (i == 0)
        return 0;
    soci_layer **layers = calloc(i, sizeof(*layers));
    const soci_ztoc *z;
    int r = layers ? 0 : SOCI_ENOMEM;
    for (uint32_t k = 0; k < i && r == 0; k++)
        r = soci_image_open_layer(kt->l->img, k, &layers[k], &z);
    if (r == 0)
        r = soci_fs_open_layers(layers, i, 0, ret);
    free(layers);
    return r;
}

/* Whether the image file at path is one to mount over a data device of device_size bytes. */
static bool kept_image_good(const char *path, uint64_t device_size)
{
    FILE *f = fopen(path, "rbe");
    struct stat st;
    void *buf = NULL;
    if (f == NULL)
        return false;
    bool good = fstat(fileno(f), &st) == 0 && st.st_size > 0 && st.st_size < ((off_t)1 << 32) &&
                (buf = malloc((size_t)st.st_size)) != NULL && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size &&
                soci_erofs_check(buf, (size_t)st.st_size, device_size) == 0;
    free(buf);
    fclose(f);
    return good;
}

static int write_image(const char *path, const void *img, size_t len)
{
    char tmp[PATH_MAX + 128];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "wbe");
    bool written = f != NULL && fwrite(img, 1, len, f) == len;
    if ((f != NULL && fclose(f) != 0) || !written || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Layer i's EROFS image in path: the kept one if it checks out, else built and kept. An
 * image depends on the layer's zTOC (or own TOC, or the layer itself when fetched whole)
 * and on the layers under it (the directories it implies): its name says both. */
static int layer_image(struct kernel_tree *kt, uint32_t i, char *path, size_t size)
{
    struct soci_image_layer info;
    soci_layer *layer;
    const soci_ztoc *z;
    int r;
    if ((r = soci_image_layer(kt->l->img, i, &info, sizeof(info))) < 0 ||
        (r = soci_image_open_layer(kt->l->img, i, &layer, &z)) < 0)
        return r;
    const char *key = info.ztoc_digest[0]                     ? info.ztoc_digest
                      : info.toc_digest && info.toc_digest[0] ? info.toc_digest
                                                              : info.digest;
    const char *hex = strchr(key, ':') ? strchr(key, ':') + 1 : key;
    const char *layer_hex = strchr(info.digest, ':') ? strchr(info.digest, ':') + 1 : info.digest;
    uint64_t lower = 0xcbf29ce484222325u;
    for (uint32_t k = 0; k < i; k++) {
        struct soci_image_layer below;
        if (soci_image_layer(kt->l->img, k, &below, sizeof(below)) == 0)
            lower ^= path_hash(below.digest) + k;
    }
    snprintf(path, size, "%s/%s-%s-%016llx.erofs", kt->images, IMAGE_FORMAT, hex,
             (unsigned long long)(i ? lower : 0));
    /* A kept image is used only if it checks out: a damaged one is made again. */
    if (kept_image_good(path, soci_erofs_device_size(kt->df.devices[i])))
        return 0;
    if (access(path, F_OK) == 0)
        daemon_log(SOCI_LOG_WARNING, "layer %u: kept EROFS image %s is damaged: making it again", i, path);
    void *img;
    size_t len;
    soci_fs *below;
    if ((r = open_below(kt, i, &below)) < 0)
        return r;
    r = soci_erofs_write(z, below, layer_hex, 0, &img, &len);
    soci_fs_free(below);
    if (r < 0)
        return r;
    if (write_image(path, img, len) != 0) {
        soci_free(img);
        daemon_log(SOCI_LOG_ERROR, "layer %u: cannot write %s: %m", i, path);
        return SOCI_EIO;
    }
    soci_free(img);
    daemon_log(SOCI_LOG_INFO, "layer %u: EROFS image %s (%zu bytes)", i, path, len);
    return 0;
}

static void *serve_devices(void *arg)
{
    struct kernel_tree *kt = arg;
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (cfg == NULL)
        return NULL;
    fuse_loop_cfg_set_max_threads(cfg, kt->o->d.threads ? kt->o->d.threads : 16);
    fuse_loop_cfg_set_clone_fd(cfg, 1);
    fuse_session_loop_mt(kt->se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return NULL;
}

static int start_devices(struct kernel_tree *kt)
{
    static char dash_o[] = "-o", opts[] = "ro,allow_other,default_permissions,fsname=soci-devices,subtype=soci";
    char prog[] = "soci-mount", dev_path[PATH_MAX + 16];
    char *argv[] = {prog, dash_o, opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    path_in(dev_path, sizeof(dev_path), kt->run, "devices");
    kt->se = fuse_session_new(&args, &device_file_ops, sizeof(device_file_ops), &kt->df);
    if (kt->se == NULL)
        return failed("cannot start a FUSE session");
    if (fuse_session_mount(kt->se, dev_path) != 0)
        return failed("cannot mount the layers' data at %s", dev_path);
    kt->session_mounted = true;
    if (pthread_create(&kt->loop_thread, NULL, serve_devices, kt) != 0)
        return failed("cannot start the FUSE thread");
    kt->loop_started = true;
    return 0;
}

static int mount_layers(struct kernel_tree *kt)
{
    char image[PATH_MAX + 64], device[PATH_MAX + 32], dir[PATH_MAX + 16], name[16];
    uint32_t n = kt->df.count;
    for (uint32_t i = 0; i < n; i++) {
        int r = layer_image(kt, i, image, sizeof(image));
        if (r < 0) {
            fprintf(stderr, "soci-mount: layer %u: %s\n", i, soci_last_error());
            return 1;
        }
        snprintf(name, sizeof(name), "%u", i);
        snprintf(device, sizeof(device), "%s/devices/%u", kt->run, i);
        path_in(dir, sizeof(dir), kt->run, name);
        /* One layer needs no overlay: it is mounted at the mount point itself. */
        const char *at = n == 1 ? kt->mnt : dir;
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
    if (chdir(kt->run) == 0) {
        r = mount(KERNEL_OVERLAY_SOURCE, kt->mnt, "overlay", MS_RDONLY, opts);
        if (r != 0)
            daemon_log(SOCI_LOG_ERROR, "mount -t overlay -o %s %s: %m", opts, kt->mnt);
        if (chdir("/") != 0)
            r = -1;
    }
    free(opts);
    if (r != 0)
        return failed("cannot stack the layers at %s with overlayfs", kt->mnt);
    return 0;
}

/* Note the mount now at the mount point as ours: for the end of serving, and for a later
 * run's cleanup if this one is killed. */
static int note_top(struct kernel_tree *kt)
{
    kt->top = kernel_top_mount(kt->mnt);
    if (kt->top < 0 || write_number(kt->run, "top", kt->top) != 0)
        return failed("%s: the mount is not in the mount table", kt->mnt);
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
        if (!kernel_mount_present(kt->mnt, kt->top)) {
            daemon_log(SOCI_LOG_INFO, "%s was unmounted", kt->mnt);
            kt->top = -1;
            break;
        }
        struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = table, .events = POLLPRI}};
        if (poll(fds, table >= 0 ? 2 : 1, table >= 0 ? -1 : 1000) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                daemon_log(SOCI_LOG_INFO, "signal %u: unmounting %s", si.ssi_signo, kt->mnt);
            break;
        }
    }
    if (table >= 0)
        close(table);
}

static void stop_devices(struct kernel_tree *kt)
{
    if (kt->se == NULL)
        return;
    fuse_session_exit(kt->se);
    if (kt->session_mounted) {
        fuse_session_unmount(kt->se); /* wakes the loop: its reads of /dev/fuse end */
        kt->session_mounted = false;
    }
    if (kt->loop_started)
        pthread_join(kt->loop_thread, NULL);
    fuse_session_destroy(kt->se);
    kt->se = NULL;
}

int kernel_serve(const struct options *o, struct loaded *l)
{
    struct kernel_tree kt = {.o = o, .l = l, .top = -1};
    int status = 1, notify = -1, sigfd = -1;
    if (geteuid() != 0)
        return failed("--kernel needs root: it mounts EROFS and overlayfs");
    if (realpath(o->mountpoint, kt.mnt) == NULL)
        return failed("no mount point %s", o->mountpoint);
    kt.df.count = soci_image_layer_count(l->img);
    if (kt.df.count == 0)
        return failed("%s has no layers", o->image);
    if ((kt.df.devices = calloc(kt.df.count, sizeof(*kt.df.devices))) == NULL)
        return failed("out of memory");
    for (uint32_t i = 0; i < kt.df.count; i++) {
        soci_layer *layer;
        const soci_ztoc *z;
        int r = soci_image_open_layer(l->img, i, &layer, &z);
        if (r == 0)
            r = soci_erofs_device_open(layer, &kt.df.devices[i]);
        if (r < 0) {
            fprintf(stderr, "soci-mount: layer %u: %s\n", i, soci_last_error());
            goto out;
        }
    }
    if ((status = prepare_runtime(&kt)) != 0)
        goto out;
    status = 1;
    /* Without a cache directory the images are this mount's alone, removed with it. */
    if (o->cache_dir)
        path_in(kt.images, sizeof(kt.images), o->cache_dir, "erofs");
    else
        path_in(kt.images, sizeof(kt.images), kt.run, "images");
    if (mkdir_p(kt.images, 0700) != 0) {
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
    if ((sigfd = signalfd(-1, &stop, SFD_CLOEXEC)) < 0 || write_number(kt.run, "pid", (long)getpid()) != 0) {
        failed("cannot set up signals or the pid file");
        goto down;
    }
    if (start_devices(&kt) != 0 || mount_layers(&kt) != 0 || note_top(&kt) != 0)
        goto down;
    report(notify, 0);
    notify = -1;
    serving_started(o, l);
    wait_for_end(&kt, sigfd);
    soci_fs_background_fetch(l->fs, 0);
    status = 0;
down:
    take_down(&kt);
    stop_devices(&kt);
    write_outputs(o, l, &kt.df.stats);
    report(notify, status);
out:
    if (sigfd >= 0)
        close(sigfd);
    for (uint32_t i = 0; i < kt.df.count && kt.df.devices; i++)
        soci_erofs_device_free(kt.df.devices[i]);
    free(kt.df.devices);
    return status;
}
