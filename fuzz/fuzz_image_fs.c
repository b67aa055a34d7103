/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Overlay semantics on hostile layers: the input is split (at the offset its first two
 * bytes give) into two uncompressed tars, indexed, and stacked; then the whole merged
 * tree is walked — every directory listed, every inode stat'ed, every symlink resolved
 * (loops, "..", absolute targets), a little of every file read. Names must stay inside
 * the tree: resolving never fails other than cleanly.
 */
#include <stdio.h>

#include <soci/build.h>
#include <soci/fs.h>

#include "fuzz.h"

struct built {
    void *ztoc;
    soci_ztoc *z;
    soci_blob *blob;
    soci_layer *layer;
};

static int build(const uint8_t *data, size_t size, struct built *ret)
{
    struct fuzz_source src = {data, size, 0, 0};
    soci_builder *b;
    size_t len;
    memset(ret, 0, sizeof(*ret));
    if (soci_builder_new(&b) < 0)
        abort();
    int r = soci_builder_build_stream(b, fuzz_read, &src, &ret->ztoc, &len);
    soci_builder_free(b);
    if (r < 0)
        return r;
    if (soci_ztoc_open_mem(ret->ztoc, len, 0, &ret->z) < 0 || soci_blob_open_mem(data, size, 0, &ret->blob) < 0 ||
        soci_layer_open(ret->blob, ret->z, &ret->layer) < 0)
        abort();
    return 0;
}

static void release(struct built *b)
{
    soci_layer_free(b->layer);
    soci_blob_unref(b->blob);
    soci_ztoc_free(b->z);
    soci_free(b->ztoc);
}

static void walk(soci_fs *fs, uint64_t dir, char *path, size_t len, int depth, unsigned *budget)
{
    struct soci_dirent d;
    for (uint64_t off = 0; depth < 64 && *budget > 0 && soci_fs_readdir(fs, dir, off, &d, sizeof(d)) == 1;
         off = d.next) {
        struct soci_stat st;
        uint64_t ino;
        (*budget)--;
        if (soci_fs_getattr(fs, d.ino, &st, sizeof(st)) < 0)
            abort(); /* every listed inode exists */
        if (off < 2)
            continue;
        int n = snprintf(path + len, 8192 - len, "/%s", d.name);
        if (n < 0 || (size_t)n >= 8192 - len)
            continue;
        (void)soci_fs_resolve(fs, path, SOCI_FS_FOLLOW, &ino);
        if (soci_fs_lookup(fs, dir, d.name, &ino) < 0 || ino != d.ino)
            abort(); /* lookup agrees with readdir */
        const char *target;
        uint8_t buf[512];
        const char *name;
        const void *value;
        size_t vlen;
        (void)soci_fs_readlink(fs, d.ino, &target);
        (void)soci_fs_pread(fs, d.ino, buf, sizeof(buf), st.size > 100 ? st.size - 100 : 0);
        for (uint32_t i = 0; soci_fs_listxattr(fs, d.ino, i, &name, &value, &vlen) == 1; i++)
            (void)soci_fs_getxattr(fs, d.ino, name, &value, &vlen);
        if ((st.mode & 0170000) == 0040000)
            walk(fs, d.ino, path, len + (size_t)n, depth + 1, budget);
        path[len] = '\0';
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t split = ((size_t)data[0] << 8 | data[1]) * 512;
    data += 2;
    size -= 2;
    split = split < size ? split : size;
    struct built lower, upper;
    if (build(data, split, &lower) < 0)
        return 0;
    if (build(data + split, size - split, &upper) < 0) {
        release(&lower);
        return 0;
    }
    soci_layer *layers[2] = {lower.layer, upper.layer};
    soci_fs *fs;
    if (soci_fs_open_layers(layers, 2, 0, &fs) == 0) {
        char path[8192] = "";
        unsigned budget = 5000;
        struct soci_statfs sf;
        soci_fs_statfs(fs, &sf, sizeof(sf));
        walk(fs, SOCI_FS_ROOT, path, 0, 0, &budget);
        soci_fs_free(fs);
    }
    release(&upper);
    release(&lower);
    return 0;
}
