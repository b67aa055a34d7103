/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_read: print files of an image in a registry, read lazily through its SOCI index,
 * with credentials from the embedding program (here: the environment) instead of
 * docker's config files.
 *
 *   cc remote_read.c $(pkg-config --cflags --libs libsoci) -o remote_read
 *   SOCI_USERNAME=me SOCI_PASSWORD=... ./remote_read registry.example/app:1 etc/os-release
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/soci.h>

/* The embedding program's own credential store. */
static int credentials(void *userdata, const char *host, char *user, size_t user_size, char *secret,
                       size_t secret_size)
{
    (void)userdata, (void)host;
    const char *u = getenv("SOCI_USERNAME"), *p = getenv("SOCI_PASSWORD");
    if (u == NULL || p == NULL)
        return 0; /* none: libsoci falls back to docker's config files */
    snprintf(user, user_size, "%s", u);
    snprintf(secret, secret_size, "%s", p);
    return 1;
}

/* Print one file: the top layer holding it wins. */
static int print_file(soci_image *img, const char *path)
{
    for (uint32_t i = soci_image_layer_count(img); i-- > 0;) {
        soci_layer *layer;
        const soci_ztoc *ztoc;
        uint32_t entry;
        int err = soci_image_open_layer(img, i, &layer, &ztoc);
        if (err < 0)
            return err;
        if (soci_ztoc_lookup(ztoc, path, &entry) < 0)
            continue;
        char buf[65536];
        int64_t n;
        for (uint64_t off = 0; (n = soci_layer_pread(layer, entry, buf, sizeof(buf), off)) > 0; off += (uint64_t)n)
            fwrite(buf, 1, (size_t)n, stdout);
        return n < 0 ? (int)n : 0;
    }
    return SOCI_ENOTFOUND;
}

int main(int argc, char **argv)
{
    soci_registry *reg = NULL;
    soci_image *img = NULL;
    int err;

    if (argc < 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr, "usage: remote_read IMAGE PATH [PATH...]\n");
        return argc == 2 ? 0 : 2;
    }
    if ((err = soci_registry_new(NULL, &reg)) < 0 || (err = soci_registry_set_credential_fn(reg, credentials, NULL)) < 0 ||
        (err = soci_image_open(argv[1], reg, NULL, &img)) < 0)
        goto fail;
    for (int i = 2; i < argc; i++)
        if ((err = print_file(img, argv[i])) < 0)
            goto fail;
    soci_image_free(img);
    soci_registry_unref(reg);
    return 0;
fail:
    fprintf(stderr, "remote_read: %s: %s\n", soci_errname(err), soci_last_error());
    soci_image_free(img);
    soci_registry_unref(reg);
    return 1;
}
