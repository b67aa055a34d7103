/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a layer's EROFS data device: a read that spans files is one read of each, as a
 * reader of the layer's tree (so background fetching yields to it, and a learned
 * decode-ahead plan starts with it); the blocks' tails and the gaps are zeros. */
#include <stdlib.h>
#include <string.h>

#include <soci/erofs.h>

#include "format/erofs_device.h"
#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "util/error.h"

struct soci_erofs_device {
    soci_fs *fs;
    uint32_t layer;
    struct erofs_device_map map;
};

int soci_erofs_device_open(soci_fs *fs, uint32_t layer, soci_erofs_device **ret)
{
    if (fs == NULL || ret == NULL || layer >= fs->nlayers || fs->layers[layer] == NULL)
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_open: bad arguments");
    struct soci_erofs_device *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return soci_fail_nomem("EROFS data device");
    int r = erofs_device_map(fs->ztocs[layer], &d->map);
    if (r < 0) {
        free(d);
        return r;
    }
    d->fs = fs;
    d->layer = layer;
    *ret = d;
    return 0;
}

uint64_t soci_erofs_device_size(const soci_erofs_device *d)
{
    return d ? d->map.size : 0;
}

int64_t soci_erofs_device_pread(soci_erofs_device *d, void *buf, size_t len, uint64_t off)
{
    if (d == NULL || (buf == NULL && len))
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_pread: bad arguments");
    if (off >= d->map.size || len == 0)
        return 0;
    uint64_t n = d->map.size - off < len ? d->map.size - off : len, end = off + n;
    const struct soci_ztoc *z = d->fs->ztocs[d->layer];
    memset(buf, 0, (size_t)n);
    uint32_t k = erofs_device_find_addr(&d->map, off);
    for (k = k == UINT32_MAX ? 0 : k; k < d->map.n && d->map.addr[k] < end; k++) {
        uint64_t start = d->map.addr[k], size = z->entries[d->map.entry[k]].pub.size;
        uint64_t a = off > start ? off : start, b = end < start + size ? end : start + size;
        if (b <= a)
            continue; /* off lies in the padding after this file */
        int64_t got = fs_layer_pread(d->fs, d->layer, d->map.entry[k], (uint8_t *)buf + (a - off), (size_t)(b - a),
                                     a - start);
        if (got < 0)
            return got;
        if ((uint64_t)got != b - a)
            return soci_fail(SOCI_EIO, "EROFS data device: a short read of entry %u", d->map.entry[k]);
    }
    return (int64_t)n;
}

int soci_erofs_device_missing(soci_erofs_device *d, uint64_t *ret)
{
    struct soci_image_layer info;
    if (d == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_missing: bad arguments");
    /* A layer fetched whole is in memory already: its spans are decoded from there. */
    if (d->fs->img && soci_image_layer(d->fs->img, d->fs->img_first + d->layer, &info, sizeof(info)) == 0 &&
        info.lazy_path == SOCI_LAZY_WHOLE) {
        *ret = 0;
        return 0;
    }
    *ret = layer_missing_spans(d->fs->layers[d->layer]);
    return 0;
}

void soci_erofs_device_free(soci_erofs_device *d)
{
    if (d == NULL)
        return;
    erofs_device_map_free(&d->map);
    free(d);
}
