/* SPDX-License-Identifier: Apache-2.0 */
/* A layer's tree, overlay whiteouts and all, handed to the EROFS writer: tree inode n + 1
 * is EROFS inode n (the root first), a regular file's data is where the data device map
 * puts it. */
#include <stdlib.h>
#include <sys/stat.h>

#include <soci/erofs.h>

#include "format/erofs_device.h"
#include "format/erofs_write.h"
#include "fs/fs_internal.h"
#include "util/error.h"
#include "util/log.h"

struct tree {
    soci_fs *fs;
    soci_fs *below; /* the layers under this one, merged, or NULL */
    bool engine_layer; /* SOCI_EROFS_ENGINE_LAYER */
    struct erofs_device_map map;
};

/* The attributes a directory this layer only implies takes from the layers below, as
 * extracting the layers in order onto one directory keeps them: found by walking the
 * same names down from the root there, no symlink followed. 0 when it has them. */
static int inherit_dir(const struct tree *t, uint32_t dentry, struct erofs_in_inode *ret)
{
    const struct soci_fs *fs = t->fs;
    uint32_t chain[256], depth = 0;
    for (uint32_t d = dentry; d != 0 && depth < 256; d = fs->dentries[d].parent)
        chain[depth++] = d;
    if (depth == 256)
        return -1;
    uint64_t ino = SOCI_FS_ROOT;
    while (depth > 0)
        if (soci_fs_lookup(t->below, ino, fs->dentries[chain[--depth]].name, &ino) < 0)
            return -1;
    struct soci_stat st;
    if (soci_fs_getattr(t->below, ino, &st, sizeof(st)) < 0 || !S_ISDIR(st.mode))
        return -1;
    ret->mode = st.mode;
    ret->uid = st.uid;
    ret->gid = st.gid;
    ret->mtime = st.mtime_sec;
    ret->mtime_nsec = st.mtime_nsec;
    return 0;
}

static int tree_inode(void *ctx, uint32_t i, struct erofs_in_inode *ret)
{
    const struct tree *t = ctx;
    const struct soci_fs *fs = t->fs;
    const struct fs_inode *in = &fs->inodes[i];
    const struct soci_entry *e = fs_entry(fs, in);
    *ret = (struct erofs_in_inode){.mode = in->mode, .nlink = in->nlink};
    /* An engine makes a layer's directory 0555 and applies no "./" entry to it. */
    if (t->engine_layer && i == 0)
        ret->mode = S_IFDIR | 0555;
    if (e == NULL) {
        /* A directory no entry lists: as below, or 0755, root's, time 0. */
        if (t->below != NULL && inherit_dir(t, in->dentry, ret) < 0)
            soci_clear_error();
        return 0;
    }
    ret->uid = e->uid;
    ret->gid = e->gid;
    ret->mtime = e->mtime_sec;
    ret->mtime_nsec = e->mtime_nsec;
    /* Out-of-range numbers stay out of range, for the writer to refuse. */
    ret->rdev_major = e->devmajor < 0 || e->devmajor > UINT32_MAX ? UINT32_MAX : (uint32_t)e->devmajor;
    ret->rdev_minor = e->devminor < 0 || e->devminor > UINT32_MAX ? UINT32_MAX : (uint32_t)e->devminor;
    if (S_ISREG(in->mode)) {
        uint32_t k = erofs_device_find_entry(&t->map, in->entry);
        ret->size = e->size;
        ret->data_addr = k == UINT32_MAX ? 0 : t->map.addr[k];
    } else if (S_ISLNK(in->mode)) {
        ret->link = e->linkname;
    } else if (S_ISCHR(in->mode) && e->type != SOCI_TYPE_CHAR) {
        ret->rdev_major = ret->rdev_minor = 0; /* a whiteout */
    }
    return 0;
}

static int tree_dirent(void *ctx, uint32_t dir, uint32_t k, const char **name, uint32_t *child)
{
    const struct soci_fs *fs = ((const struct tree *)ctx)->fs;
    const struct fs_dentry *de = &fs->dentries[fs->inodes[dir].dentry];
    if (k >= de->nchildren)
        return 0;
    const struct fs_dentry *c = &fs->dentries[de->children[k]];
    *name = c->name;
    *child = c->inode;
    return 1;
}

static uint32_t tree_parent(void *ctx, uint32_t dir)
{
    const struct soci_fs *fs = ((const struct tree *)ctx)->fs;
    return fs->dentries[fs->dentries[fs->inodes[dir].dentry].parent].inode;
}

static int tree_xattr(void *ctx, uint32_t i, uint32_t k, const char **name, const void **value, size_t *len)
{
    return soci_fs_listxattr(((struct tree *)ctx)->fs, (uint64_t)i + 1, k, name, value, len);
}

int fs_erofs_image(const soci_ztoc *z, soci_fs *below, const char *device_tag, unsigned flags, uint8_t **ret,
                   size_t *ret_len, uint64_t *device_size)
{
    struct tree tree = {.below = below, .engine_layer = flags & SOCI_EROFS_ENGINE_LAYER};
    uint32_t skipped = 0;
    int r = fs_open_ztoc(z, SOCI_FS_OVERLAY_WHITEOUTS, !tree.engine_layer, &tree.fs);
    if (r < 0)
        return r;
    if ((r = erofs_device_map(z, &tree.map)) < 0) {
        soci_fs_free(tree.fs);
        return r;
    }
    struct erofs_tree t = {
        .ninodes = tree.fs->ninodes,
        .data_size = tree.map.size,
        .data_tag = device_tag,
        .ctx = &tree,
        .inode = tree_inode,
        .dirent = tree_dirent,
        .parent = tree_parent,
        .xattr = tree_xattr,
    };
    r = erofs_write(&t, ret, ret_len, &skipped);
    *device_size = tree.map.size;
    erofs_device_map_free(&tree.map);
    soci_fs_free(tree.fs);
    if (r == 0 && skipped > 0)
        soci_log(SOCI_LOG_WARNING, "EROFS image: %u extended attribute(s) without a prefix EROFS names left out",
                 skipped);
    return r;
}

int soci_erofs_write(const soci_ztoc *z, soci_fs *below, const char *device_tag, unsigned flags, void **ret,
                     size_t *ret_len)
{
    uint8_t *img;
    uint64_t device_size;
    if (z == NULL || ret == NULL || ret_len == NULL || (flags & ~SOCI_EROFS_ENGINE_LAYER) != 0)
        return soci_fail(SOCI_EINVAL, "soci_erofs_write: bad arguments");
    int r = fs_erofs_image(z, below, device_tag, flags, &img, ret_len, &device_size);
    /* What leaves here has been read back as the kernel will read it. */
    if (r == 0 && (r = erofs_check(img, *ret_len, device_size)) < 0)
        free(img);
    if (r < 0)
        return soci_fail_prefix(r, "EROFS image");
    *ret = img;
    return 0;
}

int soci_erofs_check(const void *img, size_t len, uint64_t device_size)
{
    if (img == NULL && len)
        return soci_fail(SOCI_EINVAL, "soci_erofs_check: bad arguments");
    return erofs_check(img, len, device_size);
}
