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
#include <unistd.h>

#include "kernel.h"

#define IMAGE_FORMAT "v1" /* bump when the writer's output changes: old images are not reused */

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

/* Whether the image file at path is one to mount over a data device of device_size bytes. */
static bool kept_image_good(const char *path, uint64_t device_size)
{
    FILE *f = fopen(path, "rbe");
    struct stat st;
    void *buf = NULL;
    if (f == NULL)
        return false;
    bool good = fstat(fileno(f), &st) == 0 && st.st_size > 0 && st.st_size < ((off_t)1 << 32) &&
                (buf = malloc((size_t)st.st_size)) != NULL && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size &&
                soci_erofs_check(buf, (size_t)st.st_size, device_size) == 0;
    free(buf);
    fclose(f);
    return good;
}

static int write_image(const char *path, const void *img, size_t len)
{
    char tmp[PATH_MAX + 128];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "wbe");
    bool written = f != NULL && fwrite(img, 1, len, f) == len;
    if ((f != NULL && fclose(f) != 0) || !written || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int kernel_layer_key(soci_image *img, uint32_t i, char *key, size_t size)
{
    struct soci_image_layer info;
    int r = soci_image_layer(img, i, &info, sizeof(info));
    if (r < 0)
        return r;
    const char *digest = info.ztoc_digest[0]                     ? info.ztoc_digest
                         : info.toc_digest && info.toc_digest[0] ? info.toc_digest
                                                                 : info.digest;
    const char *hex = strchr(digest, ':') ? strchr(digest, ':') + 1 : digest;
    if ((size_t)snprintf(key, size, "%s-%s", IMAGE_FORMAT, hex) >= size) {
        daemon_log(SOCI_LOG_ERROR, "layer %u: digest %s is too long to name a file by", i, digest);
        return SOCI_EINVAL;
    }
    return 0;
}

int kernel_layer_image(soci_image *img, uint32_t i, uint64_t device_size, const char *dir, char *path,
                       size_t size)
{
    struct soci_image_layer info;
    soci_layer *layer;
    const soci_ztoc *z;
    char key[KERNEL_KEY_MAX];
    int r;
    if ((r = soci_image_layer(img, i, &info, sizeof(info))) < 0 || (r = kernel_layer_key(img, i, key, sizeof(key))) < 0 ||
        (r = soci_image_open_layer(img, i, &layer, &z)) < 0)
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
    if (kept_image_good(path, device_size))
        return 0;
    if (access(path, F_OK) == 0)
        daemon_log(SOCI_LOG_WARNING, "layer %u: kept EROFS image %s is damaged: making it again", i, path);
    void *image;
    size_t len;
    soci_fs *below;
    if ((r = open_below(img, i, &below)) < 0)
        return r;
    r = soci_erofs_write(z, below, layer_hex, 0, &image, &len);
    soci_fs_free(below);
    if (r < 0)
        return r;
    if (write_image(path, image, len) != 0) {
        soci_free(image);
        daemon_log(SOCI_LOG_ERROR, "layer %u: cannot write %s: %m", i, path);
        return SOCI_EIO;
    }
    soci_free(image);
    daemon_log(SOCI_LOG_INFO, "layer %u: EROFS image %s (%zu bytes)", i, path, len);
    return 0;
}
