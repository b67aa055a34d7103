/* SPDX-License-Identifier: Apache-2.0 */
/* A zTOC to an EROFS image: any zTOC the reader accepts either makes an image that the
 * structural checker (the kernel's reading, erofs_check.c) finds sound, or is refused with
 * a reason; an image that fails the check is the writer's bug and stops the run. With
 * SOCI_EROFS_DUMP_DIR set, each image is written there with the size of its data device
 * in its name, for fsck.erofs (tests/mount/test_erofs_fsck.py replays the corpus so). */
#include <stdio.h>

#include <soci/soci.h>

#include "format/erofs_write.h"
#include "fs/fs_internal.h"
#include "fuzz.h"
#include "util/digest.h"

static void dump(const uint8_t *img, size_t len, uint64_t device_size)
{
    const char *dir = getenv("SOCI_EROFS_DUMP_DIR");
    uint8_t d[SHA256_LEN];
    char path[4096];
    if (dir == NULL || sha256(img, len, d) < 0)
        return;
    int n = snprintf(path, sizeof(path), "%s/%02x%02x%02x%02x%02x%02x%02x%02x-%llu.erofs", dir, d[0], d[1], d[2],
                     d[3], d[4], d[5], d[6], d[7], (unsigned long long)device_size);
    FILE *f = n > 0 && (size_t)n < sizeof(path) ? fopen(path, "wb") : NULL;
    if (f == NULL || fwrite(img, 1, len, f) != len)
        abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    soci_ztoc *z;
    uint8_t *img;
    size_t len;
    uint64_t device_size;
    if (soci_ztoc_open_mem(data, size, 0, &z) < 0)
        return 0;
    /* Both layer forms: the input's length picks one. */
    unsigned flags = size & 1 ? SOCI_EROFS_ENGINE_LAYER : 0;
    if (fs_erofs_image(z, NULL, "fuzz", flags, &img, &len, &device_size) == 0) {
        if (erofs_check(img, len, device_size) < 0) {
            fprintf(stderr, "%s\n", soci_last_error());
            abort();
        }
        dump(img, len, device_size);
        free(img);
    }
    soci_ztoc_free(z);
    return 0;
}
