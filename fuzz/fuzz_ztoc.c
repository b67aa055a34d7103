/* SPDX-License-Identifier: Apache-2.0 */
/* zTOC bytes: the flatbuffers verifier, then every accessor over what it accepted. */
#include <soci/ztoc.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    soci_ztoc *z;
    if (soci_ztoc_open_mem(data, size, 0, &z) < 0)
        return 0;
    (void)soci_ztoc_version(z);
    (void)soci_ztoc_build_tool(z);
    uint64_t usize = soci_ztoc_uncompressed_size(z);
    uint32_t spans = soci_ztoc_span_count(z), n = soci_ztoc_entry_count(z), s, target;
    for (uint32_t i = 0; i < spans; i++) {
        struct soci_span_info si;
        if (soci_ztoc_span_info(z, i, &si, sizeof(si)) < 0)
            abort(); /* every span of an accepted zTOC describes itself */
        if (si.uncompressed_size && soci_ztoc_span_at(z, si.uncompressed_offset, &s) == 0 && s > i)
            abort();
    }
    for (uint32_t i = 0; i < n; i++) {
        struct soci_entry e;
        const char *key, *link;
        const void *value;
        size_t len;
        if (soci_ztoc_entry(z, i, &e, sizeof(e)) < 0)
            abort();
        if (e.type == SOCI_TYPE_REG && e.size && (e.offset + e.size > usize))
            abort(); /* the verifier bounds every file inside the archive */
        for (uint32_t j = 0; j < e.xattr_count; j++)
            if (soci_ztoc_entry_xattr(z, i, j, &key, &value, &len) < 0)
                abort();
        uint32_t found;
        if (soci_ztoc_lookup(z, e.path, &found) < 0)
            abort(); /* every entry can be found by its own path */
        (void)soci_ztoc_resolve(z, i, &target);
        (void)soci_ztoc_readlink(z, i, &link);
    }
    if (usize)
        (void)soci_ztoc_span_at(z, usize - 1, &s);
    soci_ztoc_free(z);
    return 0;
}
