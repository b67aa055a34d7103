/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <zlib.h>

#include <cmocka.h>

#include <soci/ztoc.h>

#include "helpers.h"

const char *vectors_dir(void)
{
    const char *dir = getenv("SOCI_VECTORS");
    struct stat st;
    if (dir == NULL || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "reference vectors not found (SOCI_VECTORS=%s); they are carried in "
                        "tests/data/vectors of the source tree\n",
                dir ? dir : "unset");
        exit(EXIT_FAILURE);
    }
    return dir;
}

static int cmp_case(const void *a, const void *b)
{
    return strcmp(((const struct vector_case *)a)->name, ((const struct vector_case *)b)->name);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

struct vector_case *vector_cases(const char *dir, size_t *count)
{
    struct vector_case *cases = NULL;
    size_t n = 0, cap = 0;
    DIR *top = opendir(dir);
    struct dirent *d;

    if (top == NULL)
        abort();
    while ((d = readdir(top)) != NULL) {
        char sub[768];
        if (d->d_name[0] == '.')
            continue;
        if (snprintf(sub, sizeof(sub), "%s/%s", dir, d->d_name) >= (int)sizeof(sub))
            abort();
        DIR *inner = opendir(sub);
        if (inner == NULL)
            continue;
        struct dirent *f;
        while ((f = readdir(inner)) != NULL) {
            size_t len = strlen(f->d_name);
            if (strncmp(f->d_name, "span-", 5) != 0 || len < 6 || strcmp(f->d_name + len - 5, ".ztoc") != 0)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                cases = realloc(cases, cap * sizeof(*cases));
            }
            struct vector_case *c = &cases[n++];
            int stem = (int)(len - 5);
            if (snprintf(c->name, sizeof(c->name), "%s/%.*s", d->d_name, stem, f->d_name) >= (int)sizeof(c->name) ||
                snprintf(c->ztoc, sizeof(c->ztoc), "%s/%s", sub, f->d_name) >= (int)sizeof(c->ztoc) ||
                snprintf(c->json, sizeof(c->json), "%s/%.*s.json", sub, stem, f->d_name) >= (int)sizeof(c->json) ||
                snprintf(c->layer, sizeof(c->layer), "%s/layer.tar.gz", sub) >= (int)sizeof(c->layer))
                abort();
            if (!file_exists(c->layer) &&
                snprintf(c->layer, sizeof(c->layer), "%s/layer.tar", sub) >= (int)sizeof(c->layer))
                abort();
        }
        closedir(inner);
    }
    closedir(top);
    qsort(cases, n, sizeof(*cases), cmp_case);
    *count = n;
    return cases;
}

uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size)
        abort();
    fclose(f);
    *len = (size_t)size;
    return buf;
}

json_t *load_json(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &err);
    if (j == NULL) {
        fprintf(stderr, "%s: %s\n", path, err.text);
        abort();
    }
    return j;
}

void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char d[32];
    unsigned int n;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
}

uint8_t *gunzip_all(const uint8_t *gz, size_t len, size_t *out_len)
{
    size_t cap = len * 4 + 65536, n = 0;
    uint8_t *out = malloc(cap);
    z_stream s = {0};
    if (out == NULL || inflateInit2(&s, 15 + 16) != Z_OK)
        abort();
    s.next_in = (Bytef *)(uintptr_t)gz;
    s.avail_in = (uInt)len;
    for (;;) {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        s.next_out = out + n;
        s.avail_out = (uInt)(cap - n);
        int r = inflate(&s, Z_NO_FLUSH);
        n = cap - s.avail_out;
        if (r == Z_STREAM_END) {
            if (s.avail_in == 0)
                break;
            inflateReset(&s); /* next member */
            continue;
        }
        if (r != Z_OK && !(r == Z_BUF_ERROR && s.avail_out == 0))
            abort();
    }
    inflateEnd(&s);
    *out_len = n;
    return out;
}

int run_per_vector(const char *group, vector_test_fn fn, vector_fixture_fn setup, vector_fixture_fn teardown)
{
    const char *dir = vectors_dir();
    size_t n;
    struct vector_case *cases = vector_cases(dir, &n);
    if (n == 0) {
        fprintf(stderr, "no vectors found in %s\n", dir);
        return 1;
    }
    struct CMUnitTest *tests = calloc(n, sizeof(*tests));
    for (size_t i = 0; i < n; i++)
        tests[i] = (struct CMUnitTest){.name = cases[i].name, .test_func = fn, .setup_func = setup,
                                       .teardown_func = teardown, .initial_state = &cases[i]};
    int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    free(tests);
    free(cases);
    return failed;
}

int vector_layer_load(const char *name, const char *span, struct vector_layer *ret)
{
    const char *dir = vectors_dir();
    char path[1024];
    memset(ret, 0, sizeof(*ret));
    snprintf(path, sizeof(path), "%s/%s/%s.ztoc", dir, name, span);
    if (soci_ztoc_open_file(path, &ret->z) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s/%s.json", dir, name, span);
    ret->expect = load_json(path);
    snprintf(path, sizeof(path), "%s/%s/layer.tar.gz", dir, name);
    ret->gz = slurp(path, &ret->gz_len);
    ret->tar = gunzip_all(ret->gz, ret->gz_len, &ret->tar_len);
    return ret->expect && ret->gz && ret->tar ? 0 : -1;
}

void vector_layer_free(struct vector_layer *v)
{
    soci_ztoc_free(v->z);
    json_decref(v->expect);
    free(v->gz);
    free(v->tar);
}

void vector_entry_extent(const struct vector_layer *v, const char *name, uint64_t *off, uint64_t *size)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(v->expect, "entries"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
            *off = (uint64_t)json_integer_value(json_object_get(e, "uncompressed_offset"));
            *size = (uint64_t)json_integer_value(json_object_get(e, "uncompressed_size"));
            return;
        }
    }
    fail_msg("no entry %s in the expected JSON", name);
}
