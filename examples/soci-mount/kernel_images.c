/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EROFS images of soci-mount --kernel: built from each layer's zTOC, kept by what they
 * depend on, read back by libsoci's checker before every use (a damaged one is made
 * again, never mounted).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernel.h"


/* The layers under layer i merged, for the directories layer i implies (NULL for 0). */
static int open_below(soci_image *img, uint32_t i, soci_fs **ret)
{
    *ret = NULL;
    if (i == 0)
        return 0;
    soci_layer **layers = calloc(i, sizeof(*layers));
    const soci_ztoc *z;
    int r = layers ? 0 : SOCI_ENOMEM;
    for (uint32_t k = 0; k < i && r == 0; k++)
        r = soci_image_open_layer(img, k, &layers[k], &z);
    if (r == 0)
        r = soci_fs_open_layers(layers, i, 0, ret);
    free(layers);
    return r;
}

int kernel_layer_image(soci_image *img, uint32_t i, const char *key, uint64_t device_size, const char *dir,
                       char *path, size_t size)
{
    struct soci_image_layer info;
    soci_layer *layer;
    const soci_ztoc *z;
    int r;
    if ((r = soci_image_layer(img, i, &info, sizeof(info))) < 0 || (r = soci_image_open_layer(img, i, &layer, &z)) < 0)
        return r;
    const char *layer_hex = strchr(info.digest, ':') ? strchr(info.digest, ':') + 1 : info.digest;
    uint64_t lower = KERNEL_HASH_SEED; /* the digests of the layers under it, in order */
    for (uint32_t k = 0; k < i; k++) {
        struct soci_image_layer below;
        if ((r = soci_image_layer(img, k, &below, sizeof(below))) < 0)
            return r;
        lower = kernel_hash(lower, below.digest);
    }
    snprintf(path, size, "%s/%s-%016llx.erofs", dir, key, (unsigned long long)(i ? lower : 0));
    /* A kept image is used only if it checks out: a damaged one is made again. */
    if (kernel_image_good(path, device_size))
        return 0;
    soci_fs *below;
    if ((r = open_below(img, i, &below)) < 0)
        return r;
    r = kernel_image_make(path, z, below, layer_hex, 0);
    soci_fs_free(below);
    return r;
}
