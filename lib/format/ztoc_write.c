/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The order of every call below is the order in which the reference's marshaller
 * (ztocToFlatbuffer) builds its flatbuffer; with a builder laying bytes out as Go's
 * does, that order is what makes our zTOCs byte-identical to the reference's.
 */
#include <stdlib.h>
#include <string.h>

#include <soci/ztoc.h>

#include "format/flatbuf_build.h"
#include "format/ztoc_write.h"
#include "util/error.h"

enum { ZTOC_FIELDS = 6, TOC_FIELDS = 1, FM_FIELDS = 14, XATTR_FIELDS = 2, CI_FIELDS = 4, TZ_FIELDS = 3 };

static fbb_ref cstring(struct fbb *b, const char *s)
{
    return fbb_string(b, s, strlen(s));
}

static fbb_ref write_xattrs(struct fbb *b, const struct ztoc_write_entry *e)
{
    fbb_ref *refs = calloc(e->xattr_count ? e->xattr_count : 1, sizeof(*refs));
    if (refs == NULL) {
        b->error = soci_fail_nomem("xattr offsets");
        return 0;
    }
    for (uint32_t j = 0; j < e->xattr_count; j++) {
        fbb_ref key = fbb_string(b, e->xattrs[j].key, e->xattrs[j].key_len);
        fbb_ref value = fbb_string(b, e->xattrs[j].value, e->xattrs[j].value_len);
        fbb_start_table(b, XATTR_FIELDS);
        fbb_add_ref(b, 0, key);
        fbb_add_ref(b, 1, value);
        refs[j] = fbb_end_table(b);
    }
    fbb_ref v = fbb_ref_vector(b, refs, e->xattr_count);
    free(refs);
    return v;
}

static fbb_ref write_entry(struct fbb *b, const struct ztoc_write_entry *e)
{
    fbb_ref name = cstring(b, e->name), type = cstring(b, e->type), link = cstring(b, e->linkname),
            uname = cstring(b, e->uname), gname = cstring(b, e->gname), mtime = cstring(b, e->mod_time);
    fbb_ref xattrs = write_xattrs(b, e);

    fbb_start_table(b, FM_FIELDS);
    fbb_add_ref(b, 0, name);
    fbb_add_ref(b, 1, type);
    fbb_add_i64(b, 2, e->offset, 0);
    fbb_add_i64(b, 3, e->size, 0);
    fbb_add_ref(b, 4, link);
    fbb_add_i64(b, 5, e->mode, 0);
    fbb_add_u32(b, 6, e->uid, 0);
    fbb_add_u32(b, 7, e->gid, 0);
    fbb_add_ref(b, 8, uname);
    fbb_add_ref(b, 9, gname);
    fbb_add_ref(b, 10, mtime);
    fbb_add_i64(b, 11, e->devmajor, 0);
    fbb_add_i64(b, 12, e->devminor, 0);
    fbb_add_ref(b, 13, xattrs);
    return fbb_end_table(b);
}

static fbb_ref write_toc(struct fbb *b, const struct ztoc_write *m)
{
    fbb_ref *refs = calloc(m->entry_count ? m->entry_count : 1, sizeof(*refs));
    if (refs == NULL) {
        b->error = soci_fail_nomem("entry offsets");
        return 0;
    }
    /* The reference prepares entries last to first. */
    for (uint32_t i = m->entry_count; i-- > 0 && !b->error;)
        refs[i] = write_entry(b, &m->entries[i]);
    fbb_ref meta = fbb_ref_vector(b, refs, m->entry_count);
    free(refs);
    fbb_start_table(b, TOC_FIELDS);
    fbb_add_ref(b, 0, meta);
    return fbb_end_table(b);
}

static fbb_ref write_compression_info(struct fbb *b, const struct ztoc_write *m)
{
    fbb_ref cps = fbb_bytes(b, m->checkpoints, m->checkpoints_len);
    fbb_ref *refs = calloc(m->span_count ? m->span_count : 1, sizeof(*refs));
    if (refs == NULL) {
        b->error = soci_fail_nomem("span digest offsets");
        return 0;
    }
    for (uint32_t i = 0; i < m->span_count; i++)
        refs[i] = cstring(b, m->span_digests[i]);
    fbb_ref digests = fbb_ref_vector(b, refs, m->span_count);
    free(refs);

    fbb_start_table(b, CI_FIELDS);
    fbb_add_i32(b, 1, (int32_t)m->span_count - 1, 0);
    fbb_add_ref(b, 2, digests);
    fbb_add_ref(b, 3, cps);
    fbb_add_i8(b, 0, (int8_t)m->compression, SOCI_COMPRESSION_GZIP);
    return fbb_end_table(b);
}

int ztoc_write(const struct ztoc_write *m, uint8_t **ret, size_t *ret_len)
{
    struct fbb b;
    if ((m->span_count == 0 && !m->chunked) || m->span_count > INT32_MAX)
        return soci_fail(SOCI_EINVAL, "ztoc: cannot write %u spans", m->span_count);
    fbb_init(&b);
    fbb_ref version = cstring(&b, m->version);
    fbb_ref tool = cstring(&b, m->build_tool);
    fbb_ref toc = write_toc(&b, m);
    fbb_ref ci = write_compression_info(&b, m);

    fbb_start_table(&b, ZTOC_FIELDS);
    fbb_add_ref(&b, 0, version);
    fbb_add_ref(&b, 1, tool);
    fbb_add_ref(&b, 4, toc);
    fbb_add_i64(&b, 2, m->compressed_size, 0);
    fbb_add_i64(&b, 3, m->uncompressed_size, 0);
    fbb_add_ref(&b, 5, ci);
    fbb_ref root = fbb_end_table(&b);
    int r = fbb_finish(&b, root, ret, ret_len);
    fbb_free(&b);
    return r;
}

int tar_zinfo_write(int32_t version, int64_t span_size, int64_t size, uint8_t **ret, size_t *ret_len)
{
    struct fbb b;
    fbb_init(&b);
    fbb_start_table(&b, TZ_FIELDS);
    fbb_add_i32(&b, 0, version, 0);
    fbb_add_i64(&b, 1, span_size, 0);
    fbb_add_i64(&b, 2, size, 0);
    fbb_ref root = fbb_end_table(&b);
    int r = fbb_finish(&b, root, ret, ret_len);
    fbb_free(&b);
    return r;
}
