/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the cmocka tests: files, the reference vectors, hashing. */
#ifndef SOCI_TEST_HELPERS_H
#define SOCI_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Exit code that makes meson count a test as skipped. */
#define EXIT_SKIP 77

/* The reference vectors folder ($SOCI_VECTORS, tests/data/vectors by default), or exit
 * with a failure saying it is missing: the tests carry their data, so a missing file is a
 * broken tree, never a skip. */
const char *vectors_dir(void);

/* Run fn (with setup/teardown, which may be NULL) once per vector case as a cmocka
 * group; each test's initial state is its struct vector_case. Fails without the
 * vectors folder or when it holds none. Returns the number of failed tests. */
typedef void (*vector_test_fn)(void **state);
typedef int (*vector_fixture_fn)(void **state);
int run_per_vector(const char *group, vector_test_fn fn, vector_fixture_fn setup, vector_fixture_fn teardown);

/* One built zTOC of a vector: <dir>/<case>/span-N.{ztoc,json} and the layer beside it. */
struct vector_case {
    char name[256];   /* "<case>/span-N" */
    char ztoc[1024];
    char json[1024];
    char layer[1024];
};

/* All cases under the vectors folder, sorted; *count set. Free with free(). */
struct vector_case *vector_cases(const char *dir, size_t *count);

/* The whole file, or abort the test. */
uint8_t *slurp(const char *path, size_t *len);

json_t *load_json(const char *path);

/* Lowercase hex sha256 of data into hex[65]. */
void sha256_hex(const void *data, size_t len, char hex[65]);

/* Inflate a whole gzip file (all members) with plain zlib; the independent reference for
 * what spans decode to. */
uint8_t *gunzip_all(const uint8_t *gz, size_t len, size_t *out_len);

/* One vector layer loaded for reading tests: its zTOC, its bytes, the whole layer
 * inflated by plain zlib (the independent reference) and the reference's JSON. */
struct soci_ztoc;
struct vector_layer {
    struct soci_ztoc *z;
    uint8_t *gz, *tar;
    size_t gz_len, tar_len;
    json_t *expect;
};

/* Load <vectors>/<name>/<span>.{ztoc,json} and its layer.tar.gz; skips without vectors. */
int vector_layer_load(const char *name, const char *span, struct vector_layer *ret);
void vector_layer_free(struct vector_layer *v);

/* Offset and size of an entry's data, from the reference's JSON; aborts the test if absent. */
void vector_entry_extent(const struct vector_layer *v, const char *name, uint64_t *off, uint64_t *size);

#endif
