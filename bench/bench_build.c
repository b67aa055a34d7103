/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zTOC build time against `gzip -dc LAYER > /dev/null`, measured in the same run, and
 * the builder's peak memory.
 *
 * usage: bench_build LAYER.tar.gz [SPAN_SIZE]
 *
 * Each side runs in its own child process three times (the best time counts), reading
 * the same file, so the page cache serves both alike; the builder's peak resident
 * memory is that child's ru_maxrss. ratio = build time / gzip -dc time (lower is better).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <soci/soci.h>

#include "bench_common.h"

#define RUNS 3

static int64_t read_fd(void *ctx, void *buf, size_t len)
{
    ssize_t n;
    do
        n = read(*(int *)ctx, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? SOCI_EIO : (int64_t)n;
}

static int build_child(const char *layer, uint64_t span_size)
{
    soci_builder *b;
    void *ztoc;
    size_t len;
    int fd = open(layer, O_RDONLY);
    if (fd < 0 || soci_builder_new(&b) < 0 || soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, span_size) < 0 ||
        soci_builder_build_stream(b, read_fd, &fd, &ztoc, &len) < 0) {
        fprintf(stderr, "bench_build: %s\n", soci_last_error());
        return 1;
    }
    soci_free(ztoc);
    soci_builder_free(b);
    close(fd);
    return 0;
}

/* Run gzip -dc or the builder in a child; its wall time, and its peak RSS in KiB. */
static double timed_child(const char *layer, uint64_t span_size, bool gzip, long *maxrss_kib)
{
    double t0 = now_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        if (gzip) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            execlp("gzip", "gzip", "-dc", layer, (char *)NULL);
            _exit(127);
        }
        _exit(build_child(layer, span_size));
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_build: %s failed\n", gzip ? "gzip -dc" : "build");
        exit(1);
    }
    if (maxrss_kib)
        *maxrss_kib = ru.ru_maxrss;
    return now_seconds() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_build LAYER.tar.gz [SPAN_SIZE]\n");
        return 2;
    }
    const char *layer = argv[1];
    uint64_t span_size = argc > 2 ? strtoull(argv[2], NULL, 10) : SOCI_BUILD_DEFAULT_SPAN_SIZE;
    double best_build = 1e9, best_gzip = 1e9;
    long rss = 0;
    for (int run = 0; run < RUNS; run++) {
        double t = timed_child(layer, span_size, true, NULL);
        if (t < best_gzip)
            best_gzip = t;
        t = timed_child(layer, span_size, false, &rss);
        if (t < best_build)
            best_build = t;
    }
    FILE *f = fopen(layer, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    printf("layer: %ld bytes, span size %" PRIu64 "\n", size, span_size);
    printf("gzip -dc > /dev/null: %.3f s\n", best_gzip);
    printf("libsoci zTOC build:   %.3f s, peak RSS %.1f MiB\n", best_build, (double)rss / 1024.0);
    printf("ratio build/gzip-dc: %.2f\n", best_build / best_gzip);
    return 0;
}
