/* SPDX-License-Identifier: Apache-2.0 */
/* soci-index ztoc erofs: a layer's EROFS metadata image from its zTOC (to mount with the
 * layer's data device: soci-index ztoc erofs-device, or soci-mount --kernel). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/soci.h>

#include "cli.h"

int ztoc_erofs(const char *ztoc_path, const char *out, const char *tag)
{
    soci_ztoc *z = NULL;
    void *img = NULL;
    size_t len = 0;
    int r, rc = 1;
    if ((r = soci_ztoc_open_file(ztoc_path, &z)) < 0)
        return cli_fail(ztoc_path, r);
    if ((r = soci_erofs_write(z, NULL, tag ? tag : "", 0, &img, &len)) < 0) {
        cli_fail(ztoc_path, r);
        goto out;
    }
    FILE *f = fopen(out, "wb");
    bool written = f != NULL && fwrite(img, 1, len, f) == len;
    if ((f != NULL && fclose(f) != 0) || !written) {
        cli_fail(out, SOCI_EIO);
        remove(out);
        goto out;
    }
    fprintf(stderr, "%s: %zu bytes of EROFS metadata\n", out, len);
    rc = 0;
out:
    soci_free(img);
    soci_ztoc_free(z);
    return rc;
}

/* The data device written out whole, from a local layer: for a mount without soci-mount
 * (and for tests that check the image against the kernel). */
int ztoc_erofs_device(const char *ztoc_path, const char *layer_path, const char *out)
{
    struct local_layer ll;
    soci_fs *fs = NULL;
    soci_erofs_device *dev = NULL;
    FILE *f = NULL;
    const size_t chunk = 4 << 20;
    int r, rc = 1;
    if (local_layer_open(ztoc_path, layer_path, &ll) != 0)
        return 1;
    uint8_t *buf = malloc(chunk);
    if (buf == NULL) {
        cli_fail("buffer", SOCI_ENOMEM);
        goto out;
    }
    if ((r = soci_fs_open_layers(&ll.layer, 1, SOCI_FS_OVERLAY_WHITEOUTS, &fs)) < 0 ||
        (r = soci_erofs_device_open(fs, 0, &dev)) < 0) {
        cli_fail(layer_path, r);
        goto out;
    }
    if ((f = fopen(out, "wb")) == NULL) {
        cli_fail(out, SOCI_EIO);
        goto out;
    }
    for (uint64_t off = 0; off < soci_erofs_device_size(dev);) {
        int64_t n = soci_erofs_device_pread(dev, buf, chunk, off);
        if (n <= 0 || fwrite(buf, 1, (size_t)n, f) != (size_t)n) {
            cli_fail(n < 0 ? layer_path : out, n < 0 ? (int)n : SOCI_EIO);
            goto out;
        }
        off += (uint64_t)n;
    }
    rc = 0;
out:
    if (f != NULL && fclose(f) != 0 && rc == 0)
        rc = cli_fail(out, SOCI_EIO);
    if (rc != 0 && f != NULL)
        remove(out);
    free(buf);
    soci_erofs_device_free(dev);
    soci_fs_free(fs);
    local_layer_close(&ll);
    return rc;
}
