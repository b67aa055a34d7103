/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's mounts for the kernel paths: EROFS over files or loop devices, and reading
 * the mount table to find what is mounted where. */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "kernel_common.h"

/* Attach file to a free loop device, read-only, gone once its last user closes it (the
 * mount, after our descriptor): *ret_fd keeps it until then. 0 or -errno. */
static int loop_attach(const char *file, char *dev, size_t dev_size, int *ret_fd)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), r = -ENODEV;
    int backing = open(file, O_RDONLY | O_CLOEXEC);
    if (ctl < 0 || backing < 0) {
        r = -errno;
        goto out;
    }
    for (int tries = 0; tries < 16; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) {
            r = -errno;
            break;
        }
        snprintf(dev, dev_size, "/dev/loop%d", n);
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            r = -errno;
            break;
        }
        struct loop_config cfg = {.fd = (uint32_t)backing, .block_size = SOCI_EROFS_BLOCK_SIZE};
        cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
            *ret_fd = fd;
            r = 0;
            break;
        }
        r = -errno;
        close(fd);
        if (r != -EBUSY) /* another process took it between the two calls: next one */
            break;
    }
out:
    if (ctl >= 0)
        close(ctl);
    if (backing >= 0)
        close(backing);
    return r;
}

static int mount_erofs_loop(const char *image, const char *device, const char *dir)
{
    char meta_dev[32], data_dev[32], opts[64];
    int meta_fd = -1, data_fd = -1, r;
    if ((r = loop_attach(image, meta_dev, sizeof(meta_dev), &meta_fd)) < 0 ||
        (r = loop_attach(device, data_dev, sizeof(data_dev), &data_fd)) < 0) {
        daemon_log(SOCI_LOG_ERROR, "loop device for %s: %s", meta_fd < 0 ? image : device, strerror(-r));
    } else {
        snprintf(opts, sizeof(opts), "device=%s", data_dev);
        if (mount(meta_dev, dir, "erofs", MS_RDONLY, opts) != 0) {
            r = -errno;
            daemon_log(SOCI_LOG_ERROR, "mount -t erofs %s (%s) %s: %m", meta_dev, image, dir);
        }
    }
    /* The mount holds the devices now; without one, these closes free them. */
    if (meta_fd >= 0)
        close(meta_fd);
    if (data_fd >= 0)
        close(data_fd);
    return r < 0 ? -1 : 0;
}

int kernel_mount_erofs(const char *image, const char *device, const char *dir, bool use_loop)
{
    char opts[4200];
    if (!use_loop) {
        snprintf(opts, sizeof(opts), "device=%s", device);
        if (mount(image, dir, "erofs", MS_RDONLY, opts) == 0)
            return 0;
        if (errno != ENOTBLK) { /* a kernel that mounts only block devices says ENOTBLK */
            daemon_log(SOCI_LOG_ERROR, "mount -t erofs -o %s %s %s: %m", opts, image, dir);
            return -1;
        }
        daemon_log(SOCI_LOG_INFO, "this kernel mounts EROFS from block devices only: using loop devices");
    }
    return mount_erofs_loop(image, device, dir);
}

/* A mountinfo field, its octal escapes (\040 for a space) undone in place. */
static char *unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return s;
}

/* Call fn(id, mount point) for each line of the mount table, in its order (a mount over
 * another comes after it); stop when fn returns false. */
static void each_mount(bool (*fn)(void *arg, int id, const char *point), void *arg)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0;
    if (f == NULL)
        return;
    while (getline(&line, &cap, f) > 0) {
        /* id parent major:minor root MOUNTPOINT options ... */
        char *save, *id = strtok_r(line, " \n", &save), *point = NULL;
        for (int i = 1; i <= 4 && id != NULL; i++)
            point = strtok_r(NULL, " \n", &save);
        if (point != NULL && !fn(arg, atoi(id), unescape(point)))
            break;
    }
    free(line);
    fclose(f);
}

struct mount_query {
    const char *path;
    int id;
    bool found;
};

static bool note_top(void *arg, int id, const char *point)
{
    struct mount_query *q = arg;
    if (strcmp(point, q->path) == 0)
        q->id = id;
    return true;
}

int kernel_top_mount(const char *path)
{
    struct mount_query q = {.path = path, .id = -1};
    each_mount(note_top, &q);
    return q.id;
}

static bool find_id(void *arg, int id, const char *point)
{
    struct mount_query *q = arg;
    q->found = id == q->id && strcmp(point, q->path) == 0;
    return !q->found;
}

bool kernel_mount_present(const char *path, int id)
{
    struct mount_query q = {.path = path, .id = id};
    each_mount(find_id, &q);
    return q.found;
}

void kernel_unmount(const char *path)
{
    /* Mounts may be stacked there: take them all. */
    for (int i = 0; i < 16 && umount2(path, MNT_DETACH) == 0; i++)
        ;
}

struct under_query {
    const char *dir;
    size_t len;
    char **points;
    size_t n, cap;
};

static bool note_under(void *arg, int id, const char *point)
{
    struct under_query *q = arg;
    (void)id;
    if (strncmp(point, q->dir, q->len) != 0 || (point[q->len] != '/' && point[q->len] != '\0'))
        return true;
    if (q->n == q->cap) {
        char **more = realloc(q->points, (q->cap = q->cap ? 2 * q->cap : 16) * sizeof(*more));
        if (more == NULL)
            return false;
        q->points = more;
    }
    if ((q->points[q->n] = strdup(point)) != NULL)
        q->n++;
    return true;
}

void kernel_unmount_under(const char *dir)
{
    struct under_query q = {.dir = dir, .len = strlen(dir)};
    each_mount(note_under, &q);
    /* The table lists a mount after the one it sits on: undo it backwards. */
    for (size_t i = q.n; i-- > 0;) {
        umount2(q.points[i], MNT_DETACH);
        free(q.points[i]);
    }
    free(q.points);
}
