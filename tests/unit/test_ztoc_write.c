/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The zTOC writer lays bytes out as the reference does: every reference zTOC, read and
 * written back, must come out byte for byte the same. The uncompressed layer's TarZinfo
 * must equal the reference's checkpoint bytes too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <soci/soci.h>

#include "format/ztoc_internal.h"
#include "format/ztoc_write.h"
#include "helpers.h"

static const char *type_names[] = {"?", "reg", "dir", "symlink", "hardlink", "char", "block", "fifo"};

static void test_rewrite(void **state)
{
    const struct vector_case *vc = *state;
    size_t len;
    uint8_t *orig = slurp(vc->ztoc, &len);
    soci_ztoc *z;
    assert_int_equal(soci_ztoc_open_mem(orig, len, 0, &z), 0);

    struct ztoc_write m = {
        .version = z->version,
        .build_tool = z->build_tool,
        .compressed_size = (int64_t)z->compressed_size,
        .uncompressed_size = (int64_t)z->uncompressed_size,
        .compression = z->compression,
        .span_count = z->span_count,
        .span_digests = z->digest_text,
        .checkpoints = z->checkpoint_blob,
        .checkpoints_len = z->checkpoint_blob_len,
        .entry_count = z->entry_count,
    };
    struct ztoc_write_entry *entries = calloc(z->entry_count + 1, sizeof(*entries));
    struct ztoc_write_xattr *xattrs = calloc(z->xattr_count + 1, sizeof(*xattrs));
    for (uint32_t i = 0; i < z->xattr_count; i++)
        xattrs[i] = (struct ztoc_write_xattr){z->xattrs[i].key, z->xattrs[i].key_len, z->xattrs[i].value,
                                              z->xattrs[i].value_len};
    for (uint32_t i = 0; i < z->entry_count; i++) {
        const struct soci_entry *e = &z->entries[i].pub;
        entries[i] = (struct ztoc_write_entry){
            .name = e->name, .type = type_names[e->type], .linkname = e->linkname, .uname = e->uname,
            .gname = e->gname, .mod_time = e->mod_time, .offset = (int64_t)e->offset,
            .size = (int64_t)e->size, .mode = e->mode, .devmajor = e->devmajor, .devminor = e->devminor,
            .uid = e->uid, .gid = e->gid, .xattrs = xattrs + z->entries[i].xattr_first,
            .xattr_count = e->xattr_count};
    }
    m.entries = entries;

    uint8_t *out;
    size_t out_len;
    assert_int_equal(ztoc_write(&m, &out, &out_len), 0);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, orig, len);

    if (z->compression == SOCI_COMPRESSION_UNCOMPRESSED) {
        uint8_t *tz;
        size_t tz_len;
        assert_int_equal(tar_zinfo_write(z->checkpoint_version, (int64_t)z->span_size,
                                         (int64_t)z->compressed_size, &tz, &tz_len), 0);
        assert_int_equal(tz_len, z->checkpoint_blob_len);
        assert_memory_equal(tz, z->checkpoint_blob, tz_len);
        free(tz);
    }
    free(out);
    free(entries);
    free(xattrs);
    soci_ztoc_free(z);
    free(orig);
}

int main(void)
{
    return run_per_vector("ztoc_write", test_rewrite, NULL, NULL);
}
