/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "format/erofs_device.h"
#include "format/erofs_write.h"
#include "util/error.h"
#include "util/search.h"

#define DEVICE_MAX ((uint64_t)UINT32_MAX * EROFS_BLKSIZE) /* 32-bit block addresses */

int erofs_device_map(const struct soci_ztoc *z, struct erofs_device_map *ret)
{
    struct erofs_device_map m = {0};
    uint32_t files = 0;
    for (uint32_t i = 0; i < z->entry_count; i++)
        files += z->entries[i].pub.type == SOCI_TYPE_REG && z->entries[i].pub.size > 0;
    m.entry = malloc((files ? files : 1) * sizeof(*m.entry));
    m.addr = malloc((files ? files : 1) * sizeof(*m.addr));
    if (m.entry == NULL || m.addr == NULL) {
        erofs_device_map_free(&m);
        return soci_fail_nomem("EROFS data device");
    }
    for (uint32_t i = 0; i < z->entry_count; i++) {
        const struct soci_entry *e = &z->entries[i].pub;
        if (e->type != SOCI_TYPE_REG || e->size == 0)
            continue;
        /* Sizes are bounded by the layer's; the sum of their blocks by the address width. */
        uint64_t blocks = (e->size + EROFS_BLKSIZE - 1) / EROFS_BLKSIZE;
        if (e->size > DEVICE_MAX || blocks * EROFS_BLKSIZE > DEVICE_MAX - m.size) {
            erofs_device_map_free(&m);
            return soci_fail(SOCI_ETOOBIG, "EROFS data device: the layer's files pass %llu bytes",
                             (unsigned long long)DEVICE_MAX);
        }
        m.entry[m.n] = i;
        m.addr[m.n++] = m.size;
        m.size += blocks * EROFS_BLKSIZE;
    }
    *ret = m;
    return 0;
}

void erofs_device_map_free(struct erofs_device_map *m)
{
    free(m->entry);
    free(m->addr);
    *m = (struct erofs_device_map){0};
}

uint32_t erofs_device_find_entry(const struct erofs_device_map *m, uint32_t e)
{
    size_t k = lower_bound_u32(m->entry, m->n, e);
    return k < m->n && m->entry[k] == e ? (uint32_t)k : UINT32_MAX;
}

uint32_t erofs_device_find_addr(const struct erofs_device_map *m, uint64_t off)
{
    size_t after = upper_bound_u64(m->addr, m->n, off);
    return after == 0 ? UINT32_MAX : (uint32_t)after - 1;
}
