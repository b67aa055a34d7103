/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The span cache: one fetch per span however many threads read it, memory kept within
 * its bound, the disk store reused across caches (as by another process), corrupt disk
 * entries dropped and refetched, the store kept within its bound. Bytes are checked
 * against plain zlib inflating the whole layer at the offsets of the reference's JSON.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <soci/soci.h>

#include "cache/cache_internal.h"
#include "helpers.h"

static struct {
    struct vector_layer v;
    uint64_t big_off, big_size;
    uint32_t big;
    char dir[64];
} fx;

/* A blob over the layer bytes that counts reads per range start and is slow, so that
 * concurrent readers really overlap. */
struct slow_blob {
    pthread_mutex_t lock;
    unsigned reads_at[1 << 12]; /* by compressed offset / 4096 */
    unsigned total;
};

static int slow_size(void *ctx, uint64_t *ret)
{
    (void)ctx;
    *ret = fx.v.gz_len;
    return 0;
}

static int slow_read_at(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct slow_blob *b = ctx;
    usleep(20000);
    pthread_mutex_lock(&b->lock);
    b->reads_at[(off / 4096) % (1 << 12)]++;
    b->total++;
    pthread_mutex_unlock(&b->lock);
    memcpy(buf, fx.v.gz + off, len);
    return 0;
}

static void slow_close(void *ctx)
{
    free(ctx);
}

static soci_blob *slow_blob(struct slow_blob **counts)
{
    static const struct soci_blob_methods m = {
        .version = SOCI_BLOB_METHODS_VERSION, .caps = SOCI_BLOB_CONCURRENT,
        .size = slow_size, .read_at = slow_read_at, .close = slow_close};
    struct slow_blob *b = calloc(1, sizeof(*b));
    soci_blob *blob;
    pthread_mutex_init(&b->lock, NULL);
    assert_int_equal(soci_blob_new(&m, b, &blob), 0);
    *counts = b;
    return blob;
}

static int setup(void **state)
{
    (void)state;
    if (vector_layer_load("alltypes-pax-gzip6", "span-65536", &fx.v) < 0)
        return -1;
    vector_entry_extent(&fx.v, "bin/big", &fx.big_off, &fx.big_size);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/soci-cache-test.XXXXXX");
    if (soci_ztoc_lookup(fx.v.z, "bin/big", &fx.big) < 0 || mkdtemp(fx.dir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
    if (system(cmd) != 0)
        return -1;
    vector_layer_free(&fx.v);
    return 0;
}

static soci_cache *make_cache(uint64_t memory, const char *dir, uint64_t disk)
{
    soci_config *cfg;
    soci_cache *c;
    assert_int_equal(soci_config_new(&cfg), 0);
    assert_int_equal(soci_config_set_u64(cfg, SOCI_OPT_CACHE_MEMORY, memory), 0);
    if (dir) {
        assert_int_equal(soci_config_set_str(cfg, SOCI_OPT_CACHE_DIR, dir), 0);
        assert_int_equal(soci_config_set_u64(cfg, SOCI_OPT_CACHE_DISK, disk), 0);
    }
    assert_int_equal(soci_cache_new(cfg, &c), 0);
    soci_config_free(cfg);
    return c;
}

static uint64_t counter(const soci_cache *c, int which)
{
    uint64_t v;
    assert_int_equal(soci_cache_counter(c, which, &v), 0);
    return v;
}

/* The spans holding bin/big. */
static void big_spans(uint32_t *first, uint32_t *last)
{
    assert_int_equal(soci_ztoc_span_at(fx.v.z, fx.big_off, first), 0);
    assert_int_equal(soci_ztoc_span_at(fx.v.z, fx.big_off + fx.big_size - 1, last), 0);
}

static void read_big_and_check(soci_layer *l)
{
    uint8_t *buf = malloc(fx.big_size);
    assert_int_equal(soci_layer_pread(l, fx.big, buf, fx.big_size, 0), (int64_t)fx.big_size);
    assert_memory_equal(buf, fx.v.tar + fx.big_off, fx.big_size);
    free(buf);
}

struct reader {
    soci_layer *l;
    unsigned seed;
    int bad;
};

static void *read_randomly(void *p)
{
    struct reader *r = p;
    uint8_t buf[70000];
    for (int i = 0; i < 40; i++) {
        uint64_t at = (uint64_t)rand_r(&r->seed) % fx.big_size;
        size_t len = (size_t)rand_r(&r->seed) % sizeof(buf);
        int64_t n = soci_layer_pread(r->l, fx.big, buf, len, at);
        uint64_t want = fx.big_size - at < len ? fx.big_size - at : len;
        if (n != (int64_t)want || memcmp(buf, fx.v.tar + fx.big_off + at, want) != 0)
            r->bad++;
    }
    return NULL;
}

/* Sixteen threads reading the same file at random fetch each span exactly once. */
static void test_single_flight(void **state)
{
    (void)state;
    struct slow_blob *counts;
    soci_blob *blob = slow_blob(&counts);
    soci_cache *c = make_cache(64 << 20, NULL, 0);
    soci_layer *l;
    assert_int_equal(soci_layer_open_cached(blob, fx.v.z, c, NULL, &l), 0);

    pthread_t t[16];
    struct reader r[16];
    for (int i = 0; i < 16; i++) {
        r[i] = (struct reader){l, (unsigned)i * 7919u + 1, 0};
        pthread_create(&t[i], NULL, read_randomly, &r[i]);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].bad, 0);
    }
    for (size_t i = 0; i < sizeof(counts->reads_at) / sizeof(*counts->reads_at); i++)
        if (counts->reads_at[i] > 1)
            fail_msg("compressed range at %zu KiB read %u times", i * 4, counts->reads_at[i]);
    uint32_t first, last;
    big_spans(&first, &last);
    assert_true(counter(c, SOCI_COUNTER_CACHE_MISSES) <= last - first + 1);
    assert_true(counter(c, SOCI_COUNTER_CACHE_HITS) > 0);
    assert_int_equal(counter(c, SOCI_COUNTER_EVICTIONS), 0);
    soci_layer_free(l);
    soci_blob_unref(blob);
    soci_cache_unref(c);
}

/* A memory bound smaller than the file: spans are evicted, bytes stay right. */
static void test_memory_bound(void **state)
{
    (void)state;
    soci_blob *blob;
    soci_layer *l;
    soci_cache *c = make_cache(200 << 10, NULL, 0);
    assert_int_equal(soci_blob_open_mem(fx.v.gz, fx.v.gz_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open_cached(blob, fx.v.z, c, NULL, &l), 0);
    read_big_and_check(l);
    read_big_and_check(l);
    assert_true(counter(c, SOCI_COUNTER_EVICTIONS) > 0);
    assert_int_equal(counter(c, SOCI_COUNTER_BYTES_SERVED), 2 * fx.big_size);
    soci_layer_free(l);
    soci_blob_unref(blob);
    soci_cache_unref(c);
}

static const char *layer_digest(void)
{
    static char d[80];
    char hex[65];
    sha256_hex(fx.v.gz, fx.v.gz_len, hex);
    snprintf(d, sizeof(d), "sha256:%s", hex);
    return d;
}

/* Read bin/big through a fresh cache on the disk store; return that cache. */
static soci_cache *read_through_store(uint64_t disk_limit)
{
    soci_blob *blob;
    soci_layer *l;
    soci_cache *c = make_cache(1 << 20, fx.dir, disk_limit);
    assert_int_equal(soci_blob_open_mem(fx.v.gz, fx.v.gz_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open_cached(blob, fx.v.z, c, layer_digest(), &l), 0);
    read_big_and_check(l);
    soci_layer_free(l);
    soci_blob_unref(blob);
    return c;
}

/* The first file in the store's span folder for this layer. */
static void some_stored_span(char *out, size_t n)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/soci-cache-v1/spans/%s", fx.dir, layer_digest() + 7);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
        ;
    assert_non_null(de);
    snprintf(out, n, "%s/%s", dir, de->d_name);
    closedir(d);
}

static void test_disk_store(void **state)
{
    (void)state;
    uint32_t first, last;
    big_spans(&first, &last);
    uint64_t nspans = last - first + 1;

    soci_cache *c = read_through_store(1 << 30);
    assert_int_equal(counter(c, SOCI_COUNTER_CACHE_MISSES), nspans);
    soci_cache_unref(c);

    /* A second cache on the same directory (another process, say) fetches nothing. */
    c = read_through_store(1 << 30);
    assert_int_equal(counter(c, SOCI_COUNTER_CACHE_MISSES), 0);
    assert_int_equal(counter(c, SOCI_COUNTER_CACHE_DISK_HITS), nspans);
    assert_int_equal(counter(c, SOCI_COUNTER_BYTES_FETCHED), 0);
    soci_cache_unref(c);

    /* A damaged entry is dropped and fetched again; a truncated one likewise. */
    char path[1024];
    some_stored_span(path, sizeof(path));
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 10, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 10, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
    c = read_through_store(1 << 30);
    assert_int_equal(counter(c, SOCI_COUNTER_DISK_CORRUPT), 1);
    assert_int_equal(counter(c, SOCI_COUNTER_CACHE_MISSES), 1);
    soci_cache_unref(c);
    some_stored_span(path, sizeof(path));
    assert_int_equal(truncate(path, 5), 0);
    c = read_through_store(1 << 30);
    assert_int_equal(counter(c, SOCI_COUNTER_CACHE_MISSES), 1);
    soci_cache_unref(c);
    c = read_through_store(1 << 30);
    assert_int_equal(counter(c, SOCI_COUNTER_CACHE_MISSES), 0);
    soci_cache_unref(c);
}

/* A store bound of a few spans: entries are evicted and the recorded usage stays near it. */
static void test_disk_bound(void **state)
{
    (void)state;
    char cmd[256], usage_path[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/soci-cache-v1'", fx.dir);
    assert_int_equal(system(cmd), 0);
    uint64_t limit = 400 << 10;
    soci_cache *c = read_through_store(limit);
    /* The store's writer thread puts spans on disk behind the reads (cache_disk_writer.c):
     * under load it is still writing when they return, and evicts only as it writes. */
    for (int i = 0; i < 1000 && counter(c, SOCI_COUNTER_DISK_EVICTIONS) == 0; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    assert_true(counter(c, SOCI_COUNTER_DISK_EVICTIONS) > 0);
    soci_cache_unref(c);
    snprintf(usage_path, sizeof(usage_path), "%s/soci-cache-v1/usage", fx.dir);
    size_t len;
    char *usage = (char *)slurp(usage_path, &len);
    assert_true(strtoull(usage, NULL, 10) <= limit);
    free(usage);
    snprintf(cmd, sizeof(cmd), "test $(du -sb '%s/soci-cache-v1/spans' | cut -f1) -le %llu", fx.dir,
             (unsigned long long)(limit + (64 << 10)));
    assert_int_equal(system(cmd), 0);
}

/* Prefetched spans are served without another fetch; bad ranges are refused. */
static void test_prefetch(void **state)
{
    (void)state;
    soci_blob *blob;
    soci_layer *l;
    uint32_t first, last;
    big_spans(&first, &last);
    soci_cache *c = make_cache(64 << 20, NULL, 0);
    assert_int_equal(soci_blob_open_mem(fx.v.gz, fx.v.gz_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open_cached(blob, fx.v.z, c, NULL, &l), 0);
    assert_int_equal(soci_layer_prefetch(l, first, last), 0);
    uint64_t fetched = counter(c, SOCI_COUNTER_BYTES_FETCHED);
    assert_int_equal(counter(c, SOCI_COUNTER_CACHE_MISSES), last - first + 1);
    read_big_and_check(l);
    assert_int_equal(counter(c, SOCI_COUNTER_BYTES_FETCHED), fetched);
    assert_int_equal(soci_layer_prefetch(l, last, first > 0 ? first - 1 : 0), last > 0 ? SOCI_EINVAL : 0);
    assert_int_equal(soci_layer_prefetch(l, 0, soci_ztoc_span_count(fx.v.z)), SOCI_EINVAL);
    soci_layer_free(l);
    soci_blob_unref(blob);
    soci_cache_unref(c);
}

/* Span-sized buffers: whole and writable, reused for requests of about their size, the
 * pool within an eighth of the memory cache's bound; small ones from malloc. */
static void test_buffers(void **state)
{
    (void)state;
    const size_t mib = (size_t)1 << 20;
    soci_cache *c = make_cache(64 << 20, NULL, 0); /* a pool of at most 8 MiB */
    uint8_t *a = cache_buf_get(c, 4 * mib);
    assert_non_null(a);
    memset(a, 0xa5, 4 * mib);
    cache_buf_put(c, a);
    uint8_t *b = cache_buf_get(c, 4 * mib - 4096); /* about its size: the same buffer */
    assert_ptr_equal(b, a);
    memset(b, 0x5a, 4 * mib - 4096);
    assert_int_equal(b[4 * mib - 4097], 0x5a);
    cache_buf_put(c, b);
    uint8_t *small = cache_buf_get(c, mib / 2); /* far smaller: a buffer of its own */
    assert_non_null(small);
    assert_ptr_not_equal(small, a);
    memset(small, 1, mib / 2);
    cache_buf_put(c, small);
    uint8_t *tiny = cache_buf_get(c, 100), *none = cache_buf_get(c, 0);
    assert_non_null(tiny);
    assert_non_null(none);
    memset(tiny, 2, 100);
    cache_buf_put(c, tiny);
    cache_buf_put(c, none);
    cache_buf_put(c, NULL);
    assert_null(cache_buf_get(c, SIZE_MAX));
    uint8_t *big = cache_buf_get(c, 20 * mib); /* past what is populated and pooled */
    assert_non_null(big);
    big[0] = big[20 * mib - 1] = 3;
    cache_buf_put(c, big);
    soci_cache_unref(c); /* with the 4 MiB and 0.5 MiB buffers still pooled: freed here */

    /* Ten 1 MiB buffers given back: the pool keeps what fits in its 8 MiB. */
    c = make_cache(64 << 20, NULL, 0);
    uint8_t *bufs[10];
    for (int i = 0; i < 10; i++) {
        assert_non_null(bufs[i] = cache_buf_get(c, mib));
        memset(bufs[i], i, mib);
    }
    for (int i = 0; i < 10; i++)
        cache_buf_put(c, bufs[i]);
    int reused = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t *again = cache_buf_get(c, mib);
        for (int j = 0; j < 10; j++)
            reused += again == bufs[j];
        bufs[i] = again;
    }
    assert_true(reused >= 5 && reused <= 8);
    for (int i = 0; i < 10; i++)
        cache_buf_release(bufs[i]);
    soci_cache_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_memory_bound),
        cmocka_unit_test(test_prefetch),
        cmocka_unit_test(test_disk_store),
        cmocka_unit_test(test_disk_bound),
        cmocka_unit_test(test_buffers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
