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

int kernel_image_write(const char *path, const void *img, size_t len)
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
