/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoded data devices of soci-mount --kernel. Once every span of a layer is local (in the
 * disk store or in memory), a thread writes the layer's data device out as a plain file
 * beside its EROFS image, CACHE/erofs/<key>.dev, while the tree is idle. Later mounts give
 * the kernel that file as the data device instead of the FUSE one: file data then comes
 * from local disk, nothing decoded, no round trip through this process — warm reads at the
 * disk's speed rather than at inflate's.
 *
 * The copy is written only from verified reads (soci_erofs_device_pread), zero blocks left
 * as holes, fsync'd and renamed into place, its sha256 beside it (<key>.dev.sha256). The
 * kernel reads it without asking us, so it is checked before it is used: hashed whole
 * against its sum, once per boot — the check is remembered in the runtime root (a tmpfs)
 * under the file's identity (device, inode, size, mtime, ctime), which any change made
 * through the file system alters. One that fails is removed and the FUSE device used
 * instead; the copy is made again later. The copies together stay within a budget
 * (--decoded-size), the least recently mounted removed first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"

#define DECODED_SUFFIX ".dev"
#define SUM_SUFFIX ".dev.sha256"
#define COPY_CHUNK ((size_t)1 << 20)
#define IDLE_NS 2000000000ull /* no device read for this long: the tree is idle */
#define POLL_SECONDS 1

/* ---- checking a kept copy ---- */

/* Finish a sha256 into lowercase hex (and free the context); false on failure. */
static bool finish_hex(EVP_MD_CTX *ctx, bool ok, char hex[65])
{
    unsigned char md[32];
    unsigned len = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == sizeof(md);
    for (unsigned i = 0; ok && i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    return ok;
}

static bool sha256_fd(int fd, char hex[65])
{
    char *buf = malloc(COPY_CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = buf && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    ssize_t n;
    while (ok && (n = read(fd, buf, COPY_CHUNK)) != 0)
        ok = n > 0 && EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
    free(buf);
    return finish_hex(ctx, ok, hex);
}

/* What identifies the file's present contents short of reading them. */
static void identity(const struct stat *st, char *out, size_t size)
{
    snprintf(out, size, "%llu %llu %lld %lld.%09ld %lld.%09ld\n", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
             st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* Up to size - 1 bytes of a small file into out; false if it cannot be read. */
static bool read_small(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, out, size - 1);
    if (fd >= 0)
        close(fd);
    out[n > 0 ? n : 0] = '\0';
    return n > 0;
}

static void checked_path(char *out, size_t size, const char *rt_root, const char *key)
{
    if ((size_t)snprintf(out, size, "%s/.checked/%s", rt_root, key) >= size)
        out[0] = '\0';
}

/* Note that the file (fd) was found to hold what its sum says, for the rest of the boot. */
static void remember_checked(int fd, const char *rt_root, const char *key)
{
    char path[PATH_MAX + 64], dir[PATH_MAX + 16], id[128];
    struct stat st;
    kernel_path(dir, sizeof(dir), rt_root, ".checked");
    checked_path(path, sizeof(path), rt_root, key);
    if (fstat(fd, &st) == 0 && path[0] && kernel_mkdir_p(dir, 0700) == 0) {
        identity(&st, id, sizeof(id));
        daemon_write_file(path, id, strlen(id), 0600, true);
    }
}

bool decoded_find(const char *dir, const char *rt_root, const char *key, uint64_t size, char *path,
                  size_t path_size)
{
    char sum_path[PATH_MAX + 64], memo_path[PATH_MAX + 64], want[80], have[65], id[128], memo[128];
    struct stat st;
    if ((size_t)snprintf(path, path_size, "%s/%s" DECODED_SUFFIX, dir, key) >= path_size)
        return false;
    snprintf(sum_path, sizeof(sum_path), "%s/%s" SUM_SUFFIX, dir, key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool good = fstat(fd, &st) == 0 && (uint64_t)st.st_size == size && read_small(sum_path, want, sizeof(want)) &&
                strlen(want) >= 64;
    if (good) {
        identity(&st, id, sizeof(id));
        checked_path(memo_path, sizeof(memo_path), rt_root, key);
        if (!(memo_path[0] && read_small(memo_path, memo, sizeof(memo)) && strcmp(memo, id) == 0)) {
            good = sha256_fd(fd, have) && strncmp(have, want, 64) == 0;
            if (good)
                remember_checked(fd, rt_root, key);
        }
    }
    close(fd);
    if (!good) {
        daemon_log(SOCI_LOG_WARNING, "decoded data device %s does not match its sum: removed (made again later)",
                   path);
        unlink(path);
        unlink(sum_path);
        return false;
    }
    utimensat(AT_FDCWD, sum_path, NULL, 0); /* the sum's mtime says when it was last mounted */
    return true;
}

/* ---- the budget ---- */

struct kept {
    char name[256]; /* <key>.dev */
    uint64_t bytes; /* on disk */
    struct timespec used;
};

static int older_first(const void *a, const void *b)
{
    const struct timespec *x = &((const struct kept *)a)->used, *y = &((const struct kept *)b)->used;
    return x->tv_sec != y->tv_sec ? (x->tv_sec < y->tv_sec ? -1 : 1)
                                  : (x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A temporary file of a writer that is gone (NAME.<pid>.tmp, the pid dead). */
static bool stale_temporary(const char *name)
{
    if (!ends_with(name, ".tmp"))
        return false;
    const char *end = name + strlen(name) - 4, *p = end;
    while (p > name && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == end || p == name || p[-1] != '.')
        return false;
    long pid = strtol(p, NULL, 10);
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove copies, least recently mounted first, until need more bytes fit in budget; and
 * what killed writers left. */
static void make_room(const char *dir, uint64_t need, uint64_t budget)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct kept *all = NULL;
    size_t n = 0, cap = 0;
    uint64_t used = 0;
    char path[PATH_MAX + 320];
    while (d != NULL && (e = readdir(d)) != NULL) {
        struct stat st, sum;
        kernel_path(path, sizeof(path), dir, e->d_name);
        if (stale_temporary(e->d_name)) {
            unlink(path);
            continue;
        }
        if (!ends_with(e->d_name, DECODED_SUFFIX) || strlen(e->d_name) >= sizeof(all->name) || stat(path, &st) != 0)
            continue;
        if (n == cap) {
            struct kept *more = realloc(all, (cap = cap ? 2 * cap : 16) * sizeof(*all));
            if (more == NULL)
                break;
            all = more;
        }
        snprintf(all[n].name, sizeof(all[n].name), "%s", e->d_name);
        all[n].bytes = (uint64_t)st.st_blocks * 512;
        strcat(path, ".sha256");
        all[n].used = stat(path, &sum) == 0 ? sum.st_mtim : st.st_mtim;
        used += all[n++].bytes;
    }
    if (d != NULL)
        closedir(d);
    qsort(all, n, sizeof(*all), older_first);
    for (size_t i = 0; i < n && used + need > budget; i++) {
        kernel_path(path, sizeof(path), dir, all[i].name);
        daemon_log(SOCI_LOG_INFO, "decoded data device %s removed to stay within --decoded-size", path);
        unlink(path);
        strcat(path, ".sha256");
        unlink(path);
        used -= all[i].bytes;
    }
    free(all);
}

/* ---- the keeper ---- */

struct decoded_keeper {
    struct device_files *df;
    const char *dir, *rt_root;
    char (*keys)[KERNEL_KEY_MAX];
    bool *want;
    uint64_t budget;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
};

/* Wait up to seconds; false once asked to stop. */
static bool keeper_wait(struct decoded_keeper *k, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&k->lock);
    while (!k->stop && pthread_cond_timedwait(&k->wake, &k->lock, &until) != ETIMEDOUT)
        ;
    bool go_on = !k->stop;
    pthread_mutex_unlock(&k->lock);
    return go_on;
}

static bool idle(const struct device_files *df)
{
    return atomic_load(&df->reading) == 0 && fuse_stats_now() - atomic_load(&df->last_read_ns) >= IDLE_NS;
}

/* Wait until the devices are idle; false once asked to stop. */
static bool wait_idle(struct decoded_keeper *k)
{
    while (!idle(k->df))
        if (!keeper_wait(k, POLL_SECONDS))
            return false;
    return keeper_wait(k, 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Copy device i into fd (holes for zero blocks), hashing it; false when stopped or failed. */
static bool copy_device(struct decoded_keeper *k, uint32_t i, int fd, char hex[65])
{
    soci_erofs_device *dev = k->df->devices[i];
    uint64_t size = soci_erofs_device_size(dev);
    uint8_t *buf = malloc(COPY_CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = buf && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && ftruncate(fd, (off_t)size) == 0;
    for (uint64_t off = 0; ok && off < size; off += COPY_CHUNK) {
        size_t want = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK;
        if (!wait_idle(k)) /* a reader came: the copy waits for the tree to be idle again */
            ok = false;
        int64_t got = ok ? soci_erofs_device_pread(dev, buf, want, off) : -1;
        if (ok && got != (int64_t)want) {
            daemon_log(SOCI_LOG_WARNING, "layer %u: decoded copy: %s", i,
                       got < 0 ? soci_last_error() : "short read");
            ok = false;
        }
        ok = ok && EVP_DigestUpdate(ctx, buf, want) == 1;
        for (size_t b = 0; ok && b < want; b += SOCI_EROFS_BLOCK_SIZE) {
            size_t n = want - b < SOCI_EROFS_BLOCK_SIZE ? want - b : SOCI_EROFS_BLOCK_SIZE;
            if (!all_zero(buf + b, n) && pwrite(fd, buf + b, n, (off_t)(off + b)) != (ssize_t)n) {
                daemon_log(SOCI_LOG_WARNING, "layer %u: decoded copy: %m", i);
                ok = false;
            }
        }
    }
    free(buf);
    return finish_hex(ctx, ok && fsync(fd) == 0, hex);
}

/* Write and keep layer i's decoded copy. */
static void keep_one(struct decoded_keeper *k, uint32_t i)
{
    char path[PATH_MAX + 192], tmp[PATH_MAX + 224], sum[PATH_MAX + 200], hex[65], line[80];
    uint64_t size = soci_erofs_device_size(k->df->devices[i]), t0 = fuse_stats_now();
    k->want[i] = false; /* one try per mount: a failure is not retried in a loop */
    if (size > k->budget) {
        daemon_log(SOCI_LOG_INFO, "layer %u: data device of %llu bytes is over --decoded-size: not kept", i,
                   (unsigned long long)size);
        return;
    }
    make_room(k->dir, size, k->budget);
    snprintf(path, sizeof(path), "%s/%s" DECODED_SUFFIX, k->dir, k->keys[i]);
    snprintf(sum, sizeof(sum), "%s/%s" SUM_SUFFIX, k->dir, k->keys[i]);
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        daemon_log(SOCI_LOG_WARNING, "layer %u: cannot write %s: %m", i, tmp);
        return;
    }
    bool ok = copy_device(k, i, fd, hex);
    snprintf(line, sizeof(line), "%s\n", hex);
    if (ok && (rename(tmp, path) != 0 || daemon_write_file(sum, line, strlen(line), 0600, true) != 0)) {
        daemon_log(SOCI_LOG_WARNING, "layer %u: cannot keep %s: %m", i, path);
        unlink(path);
        ok = false;
    }
    if (ok) {
        remember_checked(fd, k->rt_root, k->keys[i]); /* hashed as written, from verified reads */
        daemon_log(SOCI_LOG_INFO, "layer %u: decoded data device kept as %s (%llu MiB in %.1f s)", i, path,
                   (unsigned long long)(size >> 20), (double)(fuse_stats_now() - t0) / 1e9);
    } else {
        unlink(tmp);
    }
    close(fd);
}

static void *keeper_main(void *arg)
{
    struct decoded_keeper *k = arg;
    /* Decoding competes with readers for the CPU: it gets what they leave. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    make_room(k->dir, 0, k->budget); /* the budget may have been lowered since */
    for (;;) {
        bool pending = false, kept = false;
        if (!keeper_wait(k, POLL_SECONDS))
            break;
        for (uint32_t i = k->df->count; i-- > 0 && !kept;) {
            uint64_t missing = 1;
            if (!k->want[i])
                continue;
            pending = true;
            if (idle(k->df) && soci_erofs_device_missing(k->df->devices[i], &missing) == 0 && missing == 0) {
                keep_one(k, i);
                kept = true;
            }
        }
        if (!pending)
            break;
    }
    return NULL;
}

int decoded_start(struct decoded_keeper **ret, struct device_files *df, const char *dir, const char *rt_root,
                  char (*keys)[KERNEL_KEY_MAX], const bool *have, uint64_t budget)
{
    struct decoded_keeper *k = calloc(1, sizeof(*k));
    bool *mine = calloc(df->count, sizeof(*mine));
    *ret = NULL;
    if (k == NULL || mine == NULL) {
        free(k);
        free(mine);
        daemon_log(SOCI_LOG_ERROR, "decoded copies: out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < df->count; i++)
        mine[i] = !have[i];
    *k = (struct decoded_keeper){.df = df, .dir = dir, .rt_root = rt_root, .keys = keys, .want = mine,
                                 .budget = budget};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&k->lock, NULL);
    if (pthread_create(&k->thread, NULL, keeper_main, k) != 0) {
        daemon_log(SOCI_LOG_ERROR, "decoded copies: cannot start a thread");
        pthread_cond_destroy(&k->wake);
        pthread_mutex_destroy(&k->lock);
        free(k->want);
        free(k);
        return -1;
    }
    *ret = k;
    return 0;
}

void decoded_stop(struct decoded_keeper *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&k->lock);
    k->stop = true;
    pthread_cond_signal(&k->wake);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->lock);
    free(k->want);
    free(k);
}
