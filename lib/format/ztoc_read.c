/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a zTOC: verify the whole flatbuffer once, then keep what readers need in plain
 * arrays (entries, xattrs, checkpoints, digests) that point into the verified buffer.
 * After soci_ztoc_open_mem() returns, nothing reads the buffer through an unchecked path.
 */
#include <stdlib.h>
#include <string.h>

#include "format/ztoc_internal.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/file.h"
#include "util/path.h"
#include "util/time.h"
#include "util/zstd_pool.h"

/* Field ids of the zTOC schema (ztoc.fbs): declaration order. */
enum { ZTOC_VERSION, ZTOC_BUILD_TOOL, ZTOC_COMPRESSED_SIZE, ZTOC_UNCOMPRESSED_SIZE, ZTOC_TOC,
       ZTOC_COMPRESSION_INFO };
enum { TOC_METADATA };
enum { FM_NAME, FM_TYPE, FM_OFFSET, FM_SIZE, FM_LINKNAME, FM_MODE, FM_UID, FM_GID, FM_UNAME,
       FM_GNAME, FM_MOD_TIME, FM_DEVMAJOR, FM_DEVMINOR, FM_XATTRS };
enum { XATTR_KEY, XATTR_VALUE };
enum { CI_ALGORITHM, CI_MAX_SPAN_ID, CI_SPAN_DIGESTS, CI_CHECKPOINTS };

/* Hard links may chain; a cycle or an absurd chain stops here. */
#define MAX_LINK_HOPS 40

static const struct {
    const char *name;
    uint32_t type;
} entry_types[] = {
    {"reg", SOCI_TYPE_REG},         {"dir", SOCI_TYPE_DIR},   {"symlink", SOCI_TYPE_SYMLINK},
    {"hardlink", SOCI_TYPE_HARDLINK}, {"char", SOCI_TYPE_CHAR}, {"block", SOCI_TYPE_BLOCK},
    {"fifo", SOCI_TYPE_FIFO},
};

static const char *entry_path(const void *owner, uint32_t i)
{
    return ((const struct soci_ztoc *)owner)->entries[i].pub.path;
}

/* A string field that names something (a path, a user): NUL inside it is hostile. */
static int text_field(const struct fb_table *t, unsigned id, const char *what, uint32_t entry,
                      const char **ret)
{
    struct fb_str s;
    int r = fb_string(t, id, what, &s);
    if (r < 0)
        return soci_fail_prefix(r, "ztoc: entry %u", entry);
    if (memchr(s.ptr, '\0', s.len) != NULL)
        return soci_fail(SOCI_EFORMAT, "ztoc: entry %u: %s holds a NUL byte", entry, what);
    *ret = s.ptr;
    return 0;
}

static int parse_type(const char *s, uint32_t entry, uint32_t *ret)
{
    for (size_t i = 0; i < sizeof(entry_types) / sizeof(entry_types[0]); i++) {
        if (strcmp(s, entry_types[i].name) == 0) {
            *ret = entry_types[i].type;
            return 0;
        }
    }
    return soci_fail(SOCI_EFORMAT, "ztoc: entry %u has unknown type \"%.32s\"", entry, s);
}

static int parse_xattrs(struct soci_ztoc *z, const struct fb_table *fm, uint32_t entry,
                        size_t *cap)
{
    struct fb_vec v;
    int r = fb_vector(fm, FM_XATTRS, 4, "FileMetadata.xattrs", &v);
    if (r < 0)
        return soci_fail_prefix(r, "ztoc: entry %u", entry);
    z->entries[entry].xattr_first = z->xattr_count;
    z->entries[entry].pub.xattr_count = v.count;
    for (uint32_t j = 0; j < v.count; j++) {
        struct fb_table x;
        struct fb_str key, value;
        if ((r = fb_vec_table(&v, j, "Xattr", &x)) < 0 ||
            (r = fb_string(&x, XATTR_KEY, "Xattr.key", &key)) < 0 ||
            (r = fb_string(&x, XATTR_VALUE, "Xattr.value", &value)) < 0)
            return soci_fail_prefix(r, "ztoc: entry %u", entry);
        if (z->xattr_count == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            struct ztoc_xattr *nx = realloc(z->xattrs, ncap * sizeof(*nx));
            if (nx == NULL)
                return soci_fail_nomem("xattrs");
            z->xattrs = nx;
            *cap = ncap;
        }
        z->xattrs[z->xattr_count++] = (struct ztoc_xattr){
            .key = key.ptr, .value = (const uint8_t *)value.ptr, .key_len = key.len, .value_len = value.len};
    }
    return 0;
}

static int parse_entry(struct soci_ztoc *z, const struct fb_table *fm, uint32_t i, char **path_out,
                       const char *path_end, uint64_t *data_end, size_t *xattr_cap)
{
    struct soci_entry *e = &z->entries[i].pub;
    const char *type = NULL, *name = NULL;
    int64_t off, size, mode, devmajor, devminor;
    uint32_t uid, gid;
    struct fb_str namestr;
    bool dotdot;
    int r;

    if ((r = text_field(fm, FM_NAME, "name", i, &name)) < 0 ||
        (r = text_field(fm, FM_TYPE, "type", i, &type)) < 0 ||
        (r = text_field(fm, FM_LINKNAME, "linkname", i, &e->linkname)) < 0 ||
        (r = text_field(fm, FM_UNAME, "uname", i, &e->uname)) < 0 ||
        (r = text_field(fm, FM_GNAME, "gname", i, &e->gname)) < 0 ||
        (r = text_field(fm, FM_MOD_TIME, "mod_time", i, &e->mod_time)) < 0)
        return r;
    if ((r = fb_i64(fm, FM_OFFSET, 0, "uncompressed_offset", &off)) < 0 ||
        (r = fb_i64(fm, FM_SIZE, 0, "uncompressed_size", &size)) < 0 ||
        (r = fb_i64(fm, FM_MODE, 0, "mode", &mode)) < 0 ||
        (r = fb_u32(fm, FM_UID, 0, "uid", &uid)) < 0 || (r = fb_u32(fm, FM_GID, 0, "gid", &gid)) < 0 ||
        (r = fb_i64(fm, FM_DEVMAJOR, 0, "devmajor", &devmajor)) < 0 ||
        (r = fb_i64(fm, FM_DEVMINOR, 0, "devminor", &devminor)) < 0)
        return soci_fail_prefix(r, "ztoc: entry %u", i);
    if ((r = parse_type(type, i, &e->type)) < 0)
        return r;

    if (name[0] == '\0')
        return soci_fail(SOCI_EFORMAT, "ztoc: entry %u has an empty name", i);
    if (off < 0 || size < 0 || (uint64_t)off > z->uncompressed_size ||
        (e->type == SOCI_TYPE_REG && !range_ok((uint64_t)off, (uint64_t)size, z->uncompressed_size)))
        return soci_fail(SOCI_EFORMAT, "ztoc: entry %u (\"%s\") data [%lld, +%lld) outside the %llu-byte archive",
                         i, name, (long long)off, (long long)size,
                         (unsigned long long)z->uncompressed_size);
    /* Data regions follow each other in tar order. Only regular files own data: tar
     * headers of other types may carry a size their reader ignores. */
    if ((uint64_t)off < *data_end)
        return soci_fail(SOCI_EFORMAT, "ztoc: entry %u (\"%s\") overlaps the file before it", i, name);
    if (e->type == SOCI_TYPE_REG)
        *data_end = (uint64_t)off + (uint64_t)size;
    if (e->mod_time[0] != '\0' &&
        !rfc3339_parse(e->mod_time, strlen(e->mod_time), &e->mtime_sec, &e->mtime_nsec))
        return soci_fail(SOCI_EFORMAT, "ztoc: entry %u (\"%s\") has a bad mod_time \"%.40s\"", i, name,
                         e->mod_time);

    /* The cleaned path is the lookup key; a name climbing out of the layer is hostile. */
    fb_string(fm, FM_NAME, "name", &namestr); /* verified above */
    if ((size_t)(path_end - *path_out) < (size_t)namestr.len + 1)
        return soci_fail(SOCI_EFORMAT, "ztoc: entry %u: names add up to more than the zTOC holds", i);
    size_t plen = path_clean(name, namestr.len, *path_out, &dotdot);
    if (dotdot)
        return soci_fail(SOCI_EFORMAT, "ztoc: entry %u name \"%s\" has a \"..\" component", i, name);
    e->name = name;
    e->path = *path_out;
    *path_out += plen + 1;

    e->offset = (uint64_t)off;
    e->size = (uint64_t)size;
    e->mode = mode;
    e->uid = uid;
    e->gid = gid;
    e->devmajor = devmajor;
    e->devminor = devminor;
    return parse_xattrs(z, fm, i, xattr_cap);
}

static int parse_toc(struct soci_ztoc *z, const struct fb_table *root)
{
    struct fb_table toc;
    struct fb_vec meta = {0};
    int present, r;

    if ((r = fb_table_field(root, ZTOC_TOC, "Ztoc.toc", &toc, &present)) < 0 ||
        (present && (r = fb_vector(&toc, TOC_METADATA, 4, "TOC.metadata", &meta)) < 0))
        return soci_fail_prefix(r, "ztoc");

    z->entry_count = meta.count;
    z->entries = calloc(meta.count ? meta.count : 1, sizeof(*z->entries));
    /* Cleaned paths are never longer than the names. Names lie in the buffer, so unless
     * a hostile buffer shares one name among many entries they add up to less than it. */
    size_t paths_size = z->fb.len + (size_t)meta.count + 1;
    z->paths = malloc(paths_size);
    if (z->entries == NULL || z->paths == NULL)
        return soci_fail_nomem("zTOC entries");

    char *path_out = z->paths;
    size_t xattr_cap = 0;
    uint64_t data_end = 0;
    for (uint32_t i = 0; i < meta.count; i++) {
        struct fb_table fm;
        if ((r = fb_vec_table(&meta, i, "FileMetadata", &fm)) < 0)
            return soci_fail_prefix(r, "ztoc: entry %u", i);
        if ((r = parse_entry(z, &fm, i, &path_out, z->paths + paths_size, &data_end, &xattr_cap)) < 0)
            return r;
    }

    if ((r = pathmap_init(&z->by_path, meta.count, entry_path, z)) < 0)
        return r;
    for (uint32_t i = 0; i < meta.count; i++)
        pathmap_put(&z->by_path, i);
    return 0;
}

static int parse_digests(struct soci_ztoc *z, const struct fb_vec *v)
{
    z->digest_text = calloc(z->span_count, sizeof(*z->digest_text));
    z->digests = calloc(z->span_count, sizeof(*z->digests));
    if (z->digest_text == NULL || z->digests == NULL)
        return soci_fail_nomem("span digests");
    for (uint32_t i = 0; i < z->span_count; i++) {
        struct fb_str s;
        int r = fb_vec_string(v, i, "CompressionInfo.span_digests", &s);
        if (r < 0)
            return soci_fail_prefix(r, "ztoc");
        if (!digest_parse(s.ptr, s.len, z->digests[i]))
            return soci_fail(SOCI_EFORMAT, "ztoc: span %u digest \"%.80s\" is not sha256:<hex>", i, s.ptr);
        z->digest_text[i] = s.ptr;
    }
    return 0;
}

static int parse_compression(struct soci_ztoc *z, const struct fb_table *root)
{
    struct fb_table ci;
    struct fb_vec digests, cps;
    uint8_t algorithm;
    int32_t max_span_id;
    int present, r;

    if ((r = fb_table_field(root, ZTOC_COMPRESSION_INFO, "Ztoc.compression_info", &ci, &present)) < 0)
        return soci_fail_prefix(r, "ztoc");
    if (!present)
        return soci_fail(SOCI_EFORMAT, "ztoc: no compression_info");
    if ((r = fb_u8(&ci, CI_ALGORITHM, SOCI_COMPRESSION_GZIP, "compression_algorithm", &algorithm)) < 0 ||
        (r = fb_i32(&ci, CI_MAX_SPAN_ID, 0, "max_span_id", &max_span_id)) < 0 ||
        (r = fb_vector(&ci, CI_SPAN_DIGESTS, 4, "span_digests", &digests)) < 0 ||
        (r = fb_vector(&ci, CI_CHECKPOINTS, 1, "checkpoints", &cps)) < 0)
        return soci_fail_prefix(r, "ztoc");

    if (algorithm != SOCI_COMPRESSION_GZIP && algorithm != SOCI_COMPRESSION_UNCOMPRESSED &&
        algorithm != SOCI_COMPRESSION_ZSTD)
        return soci_fail(SOCI_EFORMAT, "ztoc: unknown compression algorithm %u", algorithm);
    z->compression = algorithm;
    if (z->chunked) /* spans come from the chunk TOC; a layer of directories has none */
        return digests.count == z->span_count ? parse_digests(z, &digests)
                                              : soci_fail(SOCI_EFORMAT, "ztoc: %u digests for %u chunks",
                                                          digests.count, z->span_count);
    if (max_span_id < 0)
        return soci_fail(SOCI_EFORMAT, "ztoc: max_span_id %d is negative", max_span_id);
    z->span_count = (uint32_t)max_span_id + 1;
    if (digests.count != z->span_count)
        return soci_fail(SOCI_EFORMAT, "ztoc: %u span digests for %u spans", digests.count, z->span_count);
    if ((r = parse_digests(z, &digests)) < 0)
        return r;
    z->checkpoint_blob = fb_vec_bytes(&cps);
    z->checkpoint_blob_len = cps.count;
    if (algorithm == SOCI_COMPRESSION_GZIP)
        return zinfo_gzip_parse(z, fb_vec_bytes(&cps), cps.count);
    if (algorithm == SOCI_COMPRESSION_ZSTD)
        return zinfo_zstd_parse(z, fb_vec_bytes(&cps), cps.count);
    return zinfo_tar_parse(z, fb_vec_bytes(&cps), cps.count);
}

static int parse(struct soci_ztoc *z)
{
    struct fb_table root;
    struct fb_str version, tool;
    int64_t csize, usize;
    int r;

    if ((r = fb_root(&z->fb, &root)) < 0 ||
        (r = fb_string(&root, ZTOC_VERSION, "Ztoc.version", &version)) < 0 ||
        (r = fb_string(&root, ZTOC_BUILD_TOOL, "Ztoc.build_tool_identifier", &tool)) < 0 ||
        (r = fb_i64(&root, ZTOC_COMPRESSED_SIZE, 0, "compressed_archive_size", &csize)) < 0 ||
        (r = fb_i64(&root, ZTOC_UNCOMPRESSED_SIZE, 0, "uncompressed_archive_size", &usize)) < 0)
        return soci_fail_prefix(r, "ztoc");
    if (csize < 0 || usize < 0)
        return soci_fail(SOCI_EFORMAT, "ztoc: negative archive size (%lld, %lld)", (long long)csize,
                         (long long)usize);
    z->version = version.ptr;
    z->build_tool = tool.ptr;
    z->compressed_size = (uint64_t)csize;
    z->uncompressed_size = (uint64_t)usize;
    if ((r = parse_compression(z, &root)) < 0)
        return r;
    return parse_toc(z, &root);
}

/* Parse the zTOC bytes data into z (which owns them or not), or free z. */
static int parse_into(struct soci_ztoc *z, const void *data, size_t len, soci_ztoc **ret)
{
    fb_buf_init(&z->fb, data, len);
    int r = parse(z);
    if (r == 0 && z->compression == SOCI_COMPRESSION_ZSTD && (z->zstd = zstd_pool_new()) == NULL)
        r = soci_fail_nomem("zstd contexts");
    if (r < 0) {
        soci_ztoc_free(z);
        return r;
    }
    *ret = z;
    return 0;
}

int soci_ztoc_open_mem(const void *buf, size_t len, unsigned flags, soci_ztoc **ret)
{
    if (buf == NULL || ret == NULL || (flags & ~SOCI_ZTOC_COPY) != 0)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_open_mem: bad arguments");
    if (len > SOCI_ZTOC_MAX_SIZE || len > UINT32_MAX)
        return soci_fail(SOCI_ETOOBIG, "ztoc: %zu bytes is larger than the %llu-byte limit", len,
                         (unsigned long long)SOCI_ZTOC_MAX_SIZE);

    struct soci_ztoc *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return soci_fail_nomem("zTOC");
    const void *data = buf;
    if (flags & SOCI_ZTOC_COPY) {
        z->owned = malloc(len ? len : 1);
        if (z->owned == NULL) {
            free(z);
            return soci_fail_nomem("zTOC copy");
        }
        memcpy(z->owned, buf, len);
        data = z->owned;
    }
    return parse_into(z, data, len, ret);
}

int ztoc_open_owned(void *data, size_t len, soci_ztoc **ret)
{
    soci_ztoc *z;
    int r = soci_ztoc_open_mem(data, len, 0, &z);
    if (r < 0) {
        free(data);
        return r;
    }
    z->owned = data;
    *ret = z;
    return 0;
}

int ztoc_open_chunked(void *data, size_t len, struct ztoc_chunk *chunks, uint32_t n, soci_ztoc **ret)
{
    if (len > SOCI_ZTOC_MAX_SIZE || len > UINT32_MAX) {
        free(data);
        free(chunks);
        return soci_fail(SOCI_ETOOBIG, "chunk TOC: %zu bytes of zTOC is larger than the limit", len);
    }
    struct soci_ztoc *z = calloc(1, sizeof(*z));
    if (z == NULL) {
        free(data);
        free(chunks);
        return soci_fail_nomem("zTOC");
    }
    z->owned = data;
    z->chunks = chunks;
    z->chunked = true;
    z->span_count = n;
    return parse_into(z, data, len, ret);
}

int soci_ztoc_open_file(const char *path, soci_ztoc **ret)
{
    void *data = NULL;
    size_t len = 0;

    if (path == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_open_file: bad arguments");
    int r = read_file_capped(path, SOCI_ZTOC_MAX_SIZE, &data, &len);
    if (r == 0 && (r = ztoc_open_owned(data, len, ret)) < 0)
        return soci_fail_prefix(r, "%s", path);
    return r;
}

void soci_ztoc_free(soci_ztoc *z)
{
    if (z == NULL)
        return;
    pathmap_free(&z->by_path);
    free(z->paths);
    free(z->xattrs);
    free(z->entries);
    free(z->digests);
    free(z->digest_text);
    free(z->checkpoints);
    free(z->chunks);
    free(z->owned);
    zstd_pool_free(z->zstd);
    free(z);
}

const char *soci_ztoc_version(const soci_ztoc *z)
{
    return z->version;
}

const char *soci_ztoc_build_tool(const soci_ztoc *z)
{
    return z->build_tool;
}

uint64_t soci_ztoc_compressed_size(const soci_ztoc *z)
{
    return z->compressed_size;
}

uint64_t soci_ztoc_uncompressed_size(const soci_ztoc *z)
{
    return z->uncompressed_size;
}

int soci_ztoc_compression(const soci_ztoc *z)
{
    return z->compression;
}

uint32_t soci_ztoc_span_count(const soci_ztoc *z)
{
    return z->span_count;
}

uint64_t soci_ztoc_span_size(const soci_ztoc *z)
{
    return z->span_size;
}

int soci_ztoc_checkpoint_version(const soci_ztoc *z)
{
    return z->checkpoint_version;
}

uint32_t soci_ztoc_entry_count(const soci_ztoc *z)
{
    return z->entry_count;
}

/* Copy the first n bytes of a fully built struct: callers compiled against an older,
 * smaller struct get the fields they know. */
static int copy_sized(void *dst, size_t dst_size, const void *src, size_t src_size)
{
    if (dst == NULL || dst_size == 0)
        return soci_fail(SOCI_EINVAL, "output struct missing or of size 0");
    memset(dst, 0, dst_size);
    memcpy(dst, src, dst_size < src_size ? dst_size : src_size);
    return 0;
}

int soci_ztoc_entry(const soci_ztoc *z, uint32_t i, struct soci_entry *ret, size_t ret_size)
{
    if (z == NULL || i >= z->entry_count)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_entry: no entry %u", i);
    return copy_sized(ret, ret_size, &z->entries[i].pub, sizeof(z->entries[i].pub));
}

int soci_ztoc_entry_xattr(const soci_ztoc *z, uint32_t i, uint32_t j, const char **key,
                          const void **value, size_t *value_len)
{
    if (z == NULL || i >= z->entry_count || j >= z->entries[i].pub.xattr_count)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_entry_xattr: no record %u of entry %u", j, i);
    const struct ztoc_xattr *x = &z->xattrs[z->entries[i].xattr_first + j];
    if (key != NULL)
        *key = x->key;
    if (value != NULL)
        *value = x->value;
    if (value_len != NULL)
        *value_len = x->value_len;
    return 0;
}

int soci_ztoc_lookup(const soci_ztoc *z, const char *path, uint32_t *ret)
{
    if (z == NULL || path == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_lookup: bad arguments");
    size_t len = strlen(path);
    char stackbuf[256];
    char *clean = len < sizeof(stackbuf) ? stackbuf : malloc(len + 1);
    if (clean == NULL)
        return soci_fail_nomem("path");
    size_t clen = path_clean(path, len, clean, NULL);
    int64_t i = pathmap_get(&z->by_path, clean, clen);
    if (clean != stackbuf)
        free(clean);
    if (i < 0)
        return soci_fail(SOCI_ENOTFOUND, "ztoc: no entry \"%s\"", path);
    *ret = (uint32_t)i;
    return 0;
}

int soci_ztoc_resolve(const soci_ztoc *z, uint32_t i, uint32_t *ret)
{
    if (z == NULL || ret == NULL || i >= z->entry_count)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_resolve: no entry %u", i);
    for (int hops = 0; z->entries[i].pub.type == SOCI_TYPE_HARDLINK; hops++) {
        const struct soci_entry *e = &z->entries[i].pub;
        uint32_t target;
        if (hops == MAX_LINK_HOPS)
            return soci_fail(SOCI_ELOOP, "ztoc: hard link \"%s\": too many links", e->name);
        if (soci_ztoc_lookup(z, e->linkname, &target) < 0)
            return soci_fail(SOCI_ENOTFOUND, "ztoc: hard link \"%s\" points to missing \"%s\"", e->name,
                             e->linkname);
        i = target;
    }
    *ret = i;
    return 0;
}

int soci_ztoc_readlink(const soci_ztoc *z, uint32_t i, const char **ret)
{
    if (z == NULL || ret == NULL || i >= z->entry_count)
        return soci_fail(SOCI_EINVAL, "soci_ztoc_readlink: no entry %u", i);
    if (z->entries[i].pub.type != SOCI_TYPE_SYMLINK)
        return soci_fail(SOCI_EINVAL, "ztoc: \"%s\" is not a symlink", z->entries[i].pub.name);
    *ret = z->entries[i].pub.linkname;
    return 0;
}
