/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zTOC build time against decompressing the same layer, measured in the same run: the
 * build on one thread and on two (SOCI_BUILD_THREADS) against `gzip -dc LAYER` and
 * `pigz -dc LAYER` (output to /dev/null), and the builder's peak memory.
 *
 * usage: bench_build LAYER.tar.gz [SPAN_SIZE]
 *
 * The build reads the layer as soci-index does, a file blob (with two threads the second
 * reads ahead). Each contender runs in its own child process RUNS times, in turns (the
 * best time counts), reading the same file, so the page cache serves all alike; the builder's peak
 * resident memory is its child's ru_maxrss. Ratios are build time / baseline time (lower
 * is better). pigz missing: its row says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <soci/soci.h>

#include "bench_common.h"

#define RUNS 3

enum contender { GZIP, PIGZ, BUILD_1, BUILD_2, CONTENDERS };

static const char *const names[CONTENDERS] = {"gzip -dc > /dev/null", "pigz -dc > /dev/null",
                                              "zTOC build, 1 thread", "zTOC build, 2 threads"};

/* As soci-index builds: the layer file as a blob. */
static int build_child(const char *layer, uint64_t span_size, uint64_t threads)
{
    soci_builder *b;
    soci_blob *blob;
    void *ztoc;
    size_t len;
    if (soci_blob_open_file(layer, &blob) < 0 || soci_builder_new(&b) < 0 ||
        soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, span_size) < 0 ||
        soci_builder_set_u64(b, SOCI_BUILD_THREADS, threads) < 0 || soci_builder_build_blob(b, blob, &ztoc, &len) < 0) {
        fprintf(stderr, "bench_build: %s\n", soci_last_error());
        return 1;
    }
    soci_free(ztoc);
    soci_builder_free(b);
    soci_blob_unref(blob);
    return 0;
}

/* Run one contender in a child; its wall time (< 0: it failed), and its peak RSS in KiB. */
static double timed_child(enum contender c, const char *layer, uint64_t span_size, long *maxrss_kib)
{
    double t0 = now_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        if (c == GZIP || c == PIGZ) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            execlp(c == GZIP ? "gzip" : "pigz", c == GZIP ? "gzip" : "pigz", "-dc", layer, (char *)NULL);
            _exit(127);
        }
        _exit(build_child(layer, span_size, c == BUILD_1 ? 1 : 2));
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
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
    double best[CONTENDERS];
    long rss[CONTENDERS] = {0};
    for (int c = 0; c < CONTENDERS; c++)
        best[c] = 1e9;
    for (int run = 0; run < RUNS; run++) {
        for (int c = 0; c < CONTENDERS; c++) {
            long kib;
            double t = timed_child((enum contender)c, layer, span_size, &kib);
            if (t < 0 && c != PIGZ) {
                fprintf(stderr, "bench_build: %s failed\n", names[c]);
                return 1;
            }
            if (t >= 0 && t < best[c]) {
                best[c] = t;
                rss[c] = kib;
            }
        }
    }
    FILE *f = fopen(layer, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    bool pigz = best[PIGZ] < 1e9;
    printf("layer: %ld bytes, span size %" PRIu64 ", best of %d\n", size, span_size, RUNS);
    printf("%-24s %8.3f s\n", names[GZIP], best[GZIP]);
    if (pigz)
        printf("%-24s %8.3f s\n", names[PIGZ], best[PIGZ]);
    else
        printf("%-24s (pigz not found)\n", names[PIGZ]);
    for (int c = BUILD_1; c <= BUILD_2; c++) {
        printf("%-24s %8.3f s, peak RSS %.1f MiB: %.2fx gzip -dc", names[c], best[c], (double)rss[c] / 1024.0,
               best[c] / best[GZIP]);
        if (pigz)
            printf(", %.2fx pigz -dc", best[c] / best[PIGZ]);
        printf("\n");
    }
    printf("ratio build/gzip-dc: %.2f\n", best[BUILD_2] / best[GZIP]);
    return 0;
}
