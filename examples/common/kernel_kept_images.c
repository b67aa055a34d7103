/* SPDX-License-Identifier: Apache-2.0 */
/* Kept EROFS images: written whole or not at all, and read back by libsoci's checker
 * before every use, so a damaged one is made again, never mounted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_common.h"

#define IMAGE_FORMAT "v1" /* bump when the writer's output changes: old images are not reused */

bool kernel_image_good(const char *path, uint64_t device_size)
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

int kernel_image_make(const char *path, const soci_ztoc *z, soci_fs *below, const char *tag, unsigned flags)
{
    void *image;
    size_t len;
    if (access(path, F_OK) == 0)
        daemon_log(SOCI_LOG_WARNING, "kept EROFS image %s is damaged: making it again", path);
    int r = soci_erofs_write(z, below, tag, flags, &image, &len);
    if (r < 0) {
        daemon_log(SOCI_LOG_WARNING, "EROFS image %s: %s", path, soci_last_error());
        return r;
    }
    /* Not synced: a kept image is checked before every use, and made again if torn. */
    r = daemon_write_file(path, image, len, 0600, false);
    soci_free(image);
    if (r != 0) {
        daemon_log(SOCI_LOG_ERROR, "cannot write %s: %m", path);
        return SOCI_EIO;
    }
    daemon_log(SOCI_LOG_INFO, "EROFS image %s (%zu bytes)", path, len);
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
