/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data device of a layer's EROFS image: every regular file's data with a size, in tar
 * order, each starting at a block boundary, zeros between. A function of the zTOC alone,
 * so the image writer and the device's reader (fs_erofs_device.c) always agree.
 */
#ifndef SOCI_FORMAT_EROFS_DEVICE_H
#define SOCI_FORMAT_EROFS_DEVICE_H

#include <stdint.h>

#include "format/ztoc_internal.h"

struct erofs_device_map {
    uint32_t n;
    uint32_t *entry; /* zTOC entries (regular files of a size), ascending */
    uint64_t *addr;  /* where each one's data starts, ascending, block-aligned */
    uint64_t size;   /* the device's bytes: a whole number of blocks */
};

int erofs_device_map(const struct soci_ztoc *z, struct erofs_device_map *ret);
void erofs_device_map_free(struct erofs_device_map *m);

/* Index (into entry and addr) of the file entry e, or UINT32_MAX when it has no data. */
uint32_t erofs_device_find_entry(const struct erofs_device_map *m, uint32_t e);

/* Index of the last file whose data starts at or before off, or UINT32_MAX for none. */
uint32_t erofs_device_find_addr(const struct erofs_device_map *m, uint64_t off);

#endif
