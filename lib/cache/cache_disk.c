/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk store: compressed spans and zTOCs in files, shared by processes.
 *
 *   DIR/soci-cache-v1/spans/<layer hex>/<span digest hex>   compressed bytes of one span
 *   DIR/soci-cache-v1/blobs/sha256/<hex>         a whole blob (zTOCs)
 *   DIR/soci-cache-v1/tmp/                       entries being written
 *   DIR/soci-cache-v1/lock, usage                flock(2) target; bytes stored, as text
 *
 * Writes go to tmp/ and are renamed into place, so a reader sees a whole entry or none
 * (after a crash of the machine, possibly one whose bytes never reached the disk: they
 * are not fsync'd). Nothing read is trusted: callers verify span and blob digests, and
 * drop what fails. The usage file is the processes' shared count of bytes stored; it is read and
 * changed only under an exclusive flock on the lock file. When a write takes it past the
 * bound, the writer scans the store and deletes the least recently used entries (a hit
 * refreshes an entry's mtime) down to 90% of the bound, then writes the true total.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache_disk_internal.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

#define STORE "soci-cache-v1"
/* A temporary file this old was left by a process that died while writing it. */
#define STALE_TMP_SECONDS 3600

struct cache_disk {
    char *root; /* DIR/soci-cache-v1 */
    uint64_t limit;
    int lock_fd;
    pthread_mutex_t lock; /* flock does not exclude threads sharing the descriptor */
    struct disk_writer writer; /* spans written behind readers (cache_disk_writer.c) */
    bool writer_ready;
    /* Usage changes not yet in the shared count (under lock; see account). */
    int64_t unrecorded;
    unsigned unrecorded_entries;
    bool recorded;
};

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    return soci_fail(SOCI_EIO, "cache: mkdir %s: %s", path, strerror(errno));
}

int cache_disk_open(soci_cache *c, const char *dir, uint64_t limit, struct cache_disk **ret)
{
    char path[4200];
    int r;
    if (strlen(dir) > 4000)
        return soci_fail(SOCI_EINVAL, "cache directory path too long");
    struct cache_disk *d = calloc(1, sizeof(*d));
    if (d == NULL || asprintf(&d->root, "%s/" STORE, dir) < 0) {
        free(d);
        return soci_fail_nomem("disk cache");
    }
    d->limit = limit;
    d->lock_fd = -1;
    pthread_mutex_init(&d->lock, NULL);
    const char *subdirs[] = {"", "/spans", "/blobs", "/blobs/sha256", "/tmp"};
    if ((r = make_dir(dir)) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(*subdirs); i++) {
        snprintf(path, sizeof(path), "%s%s", d->root, subdirs[i]);
        if ((r = make_dir(path)) < 0)
            goto fail;
    }
    snprintf(path, sizeof(path), "%s/lock", d->root);
    if ((d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        r = soci_fail(SOCI_EIO, "cache: %s: %s", path, strerror(errno));
        goto fail;
    }
    disk_writer_init(&d->writer, c);
    d->writer_ready = true;
    *ret = d;
    return 0;
fail:
    cache_disk_close(d);
    return r;
}

static void record_usage(soci_cache *c, struct cache_disk *d);

void cache_disk_close(struct cache_disk *d)
{
    if (d == NULL)
        return;
    if (d->writer_ready)
        disk_writer_close(&d->writer); /* writes what is queued, while the store is open */
    if (d->lock_fd >= 0 && d->unrecorded_entries > 0) {
        pthread_mutex_lock(&d->lock);
        record_usage(d->writer.cache, d);
        pthread_mutex_unlock(&d->lock);
    }
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    pthread_mutex_destroy(&d->lock);
    free(d->root);
    free(d);
}

/* ---- the shared usage count, under the store lock ---- */

/* Usage as recorded, or UINT64_MAX when unknown (no file yet, or unreadable). */
static uint64_t usage_read(const struct cache_disk *d)
{
    char path[4200], text[32];
    snprintf(path, sizeof(path), "%s/usage", d->root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return UINT64_MAX;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return UINT64_MAX;
    text[n] = '\0';
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    return end == text ? UINT64_MAX : (uint64_t)v;
}

static void usage_write(const struct cache_disk *d, uint64_t v)
{
    char path[4200], tmp[4200], text[32];
    snprintf(path, sizeof(path), "%s/usage", d->root);
    snprintf(tmp, sizeof(tmp), "%s/usage.new", d->root);
    int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", v);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    bool ok = write(fd, text, (size_t)n) == n;
    close(fd);
    if (ok)
        rename(tmp, path);
}

/* ---- scanning and eviction ---- */

struct stored {
    char *path;
    uint64_t size;
    struct timespec used;
};

struct scan {
    struct stored *items;
    size_t n, cap;
    uint64_t total;
};

static void scan_add(struct scan *s, const char *path, const struct stat *st)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct stored *items = realloc(s->items, cap * sizeof(*items));
        if (items == NULL)
            return;
        s->items = items;
        s->cap = cap;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    s->items[s->n++] = (struct stored){copy, (uint64_t)st->st_size, st->st_mtim};
    s->total += (uint64_t)st->st_size;
}

/* Add the regular files of dir (and, depth > 0, of its subdirectories). Stale
 * temporary files are deleted on the way. */
static void scan_dir(struct scan *s, const char *dir, int depth, bool tmp)
{
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return;
    struct dirent *de;
    char path[4400];
    while ((de = readdir(dh)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth > 0)
            scan_dir(s, path, depth - 1, tmp);
        else if (S_ISREG(st.st_mode) && tmp && time(NULL) - st.st_mtime > STALE_TMP_SECONDS)
            unlink(path);
        else if (S_ISREG(st.st_mode) && !tmp)
            scan_add(s, path, &st);
    }
    closedir(dh);
}

static int by_use(const void *a, const void *b)
{
    const struct timespec *x = &((const struct stored *)a)->used, *y = &((const struct stored *)b)->used;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? -1 : 1;
    return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* Under the store lock: recount the store and evict down to 90% of the bound. */
static void rescan_and_evict(soci_cache *c, struct cache_disk *d)
{
    struct scan s = {0};
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/spans", d->root);
    scan_dir(&s, dir, 1, false);
    snprintf(dir, sizeof(dir), "%s/blobs/sha256", d->root);
    scan_dir(&s, dir, 0, false);
    snprintf(dir, sizeof(dir), "%s/tmp", d->root);
    scan_dir(&s, dir, 0, true);
    if (s.total > d->limit) {
        uint64_t target = d->limit / 10 * 9;
        qsort(s.items, s.n, sizeof(*s.items), by_use);
        for (size_t i = 0; i < s.n && s.total > target; i++) {
            if (unlink(s.items[i].path) == 0) {
                s.total -= s.items[i].size;
                atomic_fetch_add(&c->disk_evictions, 1);
            }
        }
    }
    usage_write(d, s.total);
    for (size_t i = 0; i < s.n; i++)
        free(s.items[i].path);
    free(s.items);
}

/* Apply the changes not yet recorded to the shared count, evicting when past the bound
 * (d->lock held; takes the file lock). */
static void record_usage(soci_cache *c, struct cache_disk *d)
{
    while (flock(d->lock_fd, LOCK_EX) < 0 && errno == EINTR)
        ;
    uint64_t usage = usage_read(d);
    int64_t delta = d->unrecorded;
    if (usage == UINT64_MAX) {
        rescan_and_evict(c, d); /* first use of the store, or a damaged count */
    } else {
        usage = delta < 0 && (uint64_t)-delta > usage ? 0 : usage + (uint64_t)delta;
        if (usage > d->limit)
            rescan_and_evict(c, d); /* counts what is on disk, these changes included */
        else
            usage_write(d, usage);
    }
    d->unrecorded = 0;
    d->unrecorded_entries = 0;
    d->recorded = true;
    flock(d->lock_fd, LOCK_UN);
}

/* Note delta bytes added (or removed). The shared count is a file under a file lock,
 * rewritten by rename: per entry, that cost a chunked layer's start-up (13,000 chunks, a
 * file each) seconds of CPU, most of it ext4 writing the count back on every rename over
 * it. So changes are recorded a batch at a time: every ACCOUNT_BATCH_ENTRIES entries or a
 * sixteenth of the bound (ACCOUNT_BATCH_BYTES at most), whichever comes first, the first
 * change at once (it finds out whether the store needs a scan), and on close. Between
 * batches the store may run past its bound by one batch per process. */
#define ACCOUNT_BATCH_ENTRIES 256
#define ACCOUNT_BATCH_BYTES ((uint64_t)8 << 20)
static void account(soci_cache *c, struct cache_disk *d, int64_t delta)
{
    uint64_t batch = d->limit / 16 < ACCOUNT_BATCH_BYTES ? d->limit / 16 : ACCOUNT_BATCH_BYTES;
    pthread_mutex_lock(&d->lock);
    d->unrecorded += delta;
    d->unrecorded_entries++;
    uint64_t pending = d->unrecorded < 0 ? (uint64_t)-d->unrecorded : (uint64_t)d->unrecorded;
    if (!d->recorded || pending >= batch || d->unrecorded_entries >= ACCOUNT_BATCH_ENTRIES)
        record_usage(c, d);
    pthread_mutex_unlock(&d->lock);
}

/* ---- entries ---- */

static void span_path(const struct cache_disk *d, const char *layer_hex, const char *span_hex, char *out,
                      size_t n)
{
    snprintf(out, n, "%s/spans/%.64s/%.96s", d->root, layer_hex, span_hex);
}

static void blob_path(const struct cache_disk *d, const char *digest, char *out, size_t n)
{
    snprintf(out, n, "%s/blobs/sha256/%.64s", d->root, digest + 7);
}

/* Read a whole entry of at most max bytes into a buffer from malloc, or from the cache's
 * buffers when `buffers` is given; refresh its use time. 1 found, 0 absent. */
static int read_entry(const char *path, uint64_t max, soci_cache *buffers, uint8_t **ret, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    uint8_t *buf = NULL;
    int found = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= max &&
        (buf = buffers ? cache_buf_get(buffers, (size_t)st.st_size) : malloc(st.st_size ? (size_t)st.st_size : 1))) {
        size_t got = 0, want = (size_t)st.st_size;
        while (got < want) {
            ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got == want) {
            futimens(fd, NULL);
            *ret = buf;
            *len = want;
            buf = NULL;
            found = 1;
        }
    }
    if (buffers)
        cache_buf_put(buffers, buf);
    else
        free(buf);
    close(fd);
    return found;
}

static uint64_t entry_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void drop_entry(soci_cache *c, const char *path)
{
    uint64_t size = entry_size(path);
    if (unlink(path) == 0)
        account(c, c->disk, -(int64_t)size);
}

static void put_entry(soci_cache *c, const char *path, const void *data, size_t len)
{
    struct cache_disk *d = c->disk;
    if ((uint64_t)len > d->limit / 4)
        return; /* an entry this large would churn the whole store */
    struct stat st;
    if (stat(path, &st) == 0)
        return; /* entries are named by their digests: this one is there (a bad one is dropped when read) */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/tmp/entry.XXXXXX", d->root);
    /* Not fsync'd: every entry is verified when read, so one a crash of the machine left
     * empty or torn is dropped and fetched again, and a reader waiting on a fetch does not
     * also wait for the disk (an fsync a span, or a chunk, cost seconds of a start-up). */
    if (write_file_atomic(tmp, path, data, len, 0600, false) < 0) {
        soci_log(SOCI_LOG_WARNING, "cache: %s", soci_last_error());
        soci_clear_error();
        return;
    }
    account(c, d, (int64_t)len);
}

int cache_disk_get_span(soci_cache *c, const char *layer_hex, const char *span_hex, uint64_t max,
                        uint8_t **ret, size_t *len)
{
    if (disk_writer_get(&c->disk->writer, layer_hex, span_hex, max, ret, len) == 1)
        return 1;
    char path[4300];
    span_path(c->disk, layer_hex, span_hex, path, sizeof(path));
    return read_entry(path, max, c, ret, len);
}

bool cache_disk_has_span(soci_cache *c, const char *layer_hex, const char *span_hex)
{
    if (disk_writer_has(&c->disk->writer, layer_hex, span_hex))
        return true;
    char path[4300];
    span_path(c->disk, layer_hex, span_hex, path, sizeof(path));
    return access(path, F_OK) == 0;
}

void cache_disk_put_span(soci_cache *c, const char *layer_hex, const char *span_hex, const void *data,
                         size_t len)
{
    disk_writer_put(&c->disk->writer, layer_hex, span_hex, data, len);
}

void cache_disk_store_span(soci_cache *c, const char *layer_hex, const char *span_hex, const void *data,
                           size_t len)
{
    disk_writer_write_now(&c->disk->writer, layer_hex, span_hex, data, len);
}

void cache_disk_write_span(soci_cache *c, const char *layer_hex, const char *span_hex, const void *data, size_t len)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/spans/%.64s", c->disk->root, layer_hex);
    if (make_dir(path) < 0) {
        soci_clear_error();
        return;
    }
    span_path(c->disk, layer_hex, span_hex, path, sizeof(path));
    put_entry(c, path, data, len);
}

void cache_disk_drop_span(soci_cache *c, const char *layer_hex, const char *span_hex)
{
    char path[4300];
    span_path(c->disk, layer_hex, span_hex, path, sizeof(path));
    soci_log(SOCI_LOG_WARNING, "cache: span sha256:%.64s of layer sha256:%.64s failed verification; refetching",
             span_hex, layer_hex);
    atomic_fetch_add(&c->disk_corrupt, 1);
    drop_entry(c, path);
}

int cache_disk_get_blob(soci_cache *c, const char *digest, uint64_t max, void **ret, size_t *len)
{
    char path[4300];
    uint8_t want[SHA256_LEN], got[SHA256_LEN], *data;
    size_t n;
    if (!digest_parse(digest, strlen(digest), want))
        return 0;
    blob_path(c->disk, digest, path, sizeof(path));
    if (!read_entry(path, max, NULL, &data, &n))
        return 0;
    if (sha256(data, n, got) == 0 && memcmp(want, got, SHA256_LEN) == 0) {
        *ret = data;
        *len = n;
        return 1;
    }
    soci_log(SOCI_LOG_WARNING, "cache: %s failed verification; refetching", digest);
    atomic_fetch_add(&c->disk_corrupt, 1);
    free(data);
    drop_entry(c, path);
    return 0;
}

void cache_disk_put_blob(soci_cache *c, const char *digest, const void *data, size_t len)
{
    char path[4300];
    uint8_t want[SHA256_LEN];
    if (!digest_parse(digest, strlen(digest), want))
        return;
    blob_path(c->disk, digest, path, sizeof(path));
    put_entry(c, path, data, len);
}
