/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci_fs: the operations a filesystem needs, over the merged tree of an image. The tree
 * is immutable once built, so no operation takes a lock; reads go to the layers, which
 * share fetches through the cache.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "image/image_internal.h"
#include "util/clock.h"
#include "util/error.h"

#define XATTR_PREFIX "SCHILY.xattr."
#define MAX_SYMLINKS 40

static struct soci_fs *fs_new(uint32_t nlayers)
{
    struct soci_fs *fs = calloc(1, sizeof(*fs));
    if (fs == NULL)
        return NULL;
    fs->nlayers = nlayers;
    fs->layers = calloc(nlayers ? nlayers : 1, sizeof(*fs->layers));
    fs->ztocs = calloc(nlayers ? nlayers : 1, sizeof(*fs->ztocs));
    pthread_mutex_init(&fs->bg_lock, NULL);
    pthread_mutex_init(&fs->bg_control, NULL);
    if (fs->layers == NULL || fs->ztocs == NULL) {
        soci_fs_free(fs);
        return NULL;
    }
    return fs;
}

int soci_fs_open(soci_image *img, soci_fs **ret)
{
    int r;
    if (img == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_open: bad arguments");
    struct soci_fs *fs = fs_new(soci_image_layer_count(img));
    if (fs == NULL)
        return soci_fail_nomem("fs");
    fs->img = img;
    image_load_ztocs(img);
    for (uint32_t i = 0; i < fs->nlayers; i++)
        if ((r = soci_image_open_layer(img, i, &fs->layers[i], &fs->ztocs[i])) < 0)
            goto fail;
    if ((r = overlay_build(fs)) < 0)
        goto fail;
    *ret = fs;
    return 0;
fail:
    soci_fs_free(fs);
    return r;
}

/* Whether flags are a valid set for a tree of layers, which takes them. */
static bool take_flags(struct soci_fs *fs, unsigned flags)
{
    unsigned known = SOCI_FS_KEEP_WHITEOUTS | SOCI_FS_OVERLAY_WHITEOUTS;
    if ((flags & ~known) || flags == known)
        return false;
    if (fs != NULL) {
        fs->keep_whiteouts = (flags & SOCI_FS_KEEP_WHITEOUTS) != 0;
        fs->overlay_whiteouts = (flags & SOCI_FS_OVERLAY_WHITEOUTS) != 0;
    }
    return true;
}

int soci_fs_open_image_layer(soci_image *img, uint32_t i, unsigned flags, soci_fs **ret)
{
    int r;
    if (img == NULL || ret == NULL || i >= soci_image_layer_count(img) || !take_flags(NULL, flags))
        return soci_fail(SOCI_EINVAL, "soci_fs_open_image_layer: bad arguments");
    struct soci_fs *fs = fs_new(1);
    if (fs == NULL)
        return soci_fail_nomem("fs");
    fs->img = img;
    fs->img_first = i;
    take_flags(fs, flags);
    if ((r = soci_image_open_layer(img, i, &fs->layers[0], &fs->ztocs[0])) < 0 || (r = overlay_build(fs)) < 0) {
        soci_fs_free(fs);
        return r;
    }
    *ret = fs;
    return 0;
}

int fs_open_ztoc(const soci_ztoc *z, unsigned flags, bool recreated_dirs_opaque, soci_fs **ret)
{
    struct soci_fs *fs = fs_new(1);
    if (fs == NULL)
        return soci_fail_nomem("fs");
    fs->ztocs[0] = z;
    take_flags(fs, flags);
    fs->recreated_dirs_opaque = recreated_dirs_opaque;
    fs->trusted_opaque_only = true;
    int r = overlay_build(fs);
    if (r < 0) {
        soci_fs_free(fs);
        return r;
    }
    *ret = fs;
    return 0;
}

int soci_fs_open_layers(soci_layer *const *layers, uint32_t count, unsigned flags, soci_fs **ret)
{
    int r;
    if ((layers == NULL && count) || ret == NULL || count > 4096 || !take_flags(NULL, flags))
        return soci_fail(SOCI_EINVAL, "soci_fs_open_layers: bad arguments");
    struct soci_fs *fs = fs_new(count);
    if (fs == NULL)
        return soci_fail_nomem("fs");
    for (uint32_t i = 0; i < count; i++) {
        if (layers[i] == NULL) {
            soci_fs_free(fs);
            return soci_fail(SOCI_EINVAL, "soci_fs_open_layers: layer %u is NULL", i);
        }
        fs->layers[i] = layers[i];
        fs->ztocs[i] = layer_ztoc(layers[i]);
    }
    take_flags(fs, flags);
    if ((r = overlay_build(fs)) < 0) {
        soci_fs_free(fs);
        return r;
    }
    *ret = fs;
    return 0;
}

void soci_fs_free(soci_fs *fs)
{
    if (fs == NULL)
        return;
    fs_background_stop(fs);
    fs_decode_ahead_stop(fs);
    free(fs->planned);
    overlay_free(fs);
    pthread_mutex_destroy(&fs->bg_lock);
    pthread_mutex_destroy(&fs->bg_control);
    free(fs->layers);
    free(fs->ztocs);
    free(fs);
}

/* Inode ino, or NULL (SOCI_ENOTFOUND recorded). */
static const struct fs_inode *inode_of(const struct soci_fs *fs, uint64_t ino)
{
    if (fs == NULL || ino == 0 || ino > fs->ninodes) {
        soci_fail(SOCI_ENOTFOUND, "no inode %llu", (unsigned long long)ino);
        return NULL;
    }
    return &fs->inodes[ino - 1];
}

static void fill_out(void *ret, size_t ret_size, const void *full, size_t full_size)
{
    memset(ret, 0, ret_size);
    memcpy(ret, full, ret_size < full_size ? ret_size : full_size);
}

int soci_fs_getattr(soci_fs *fs, uint64_t ino, struct soci_stat *ret, size_t ret_size)
{
    const struct fs_inode *in;
    if (ret == NULL || ret_size == 0)
        return soci_fail(SOCI_EINVAL, "soci_fs_getattr: bad arguments");
    if ((in = inode_of(fs, ino)) == NULL)
        return SOCI_ENOTFOUND;
    const struct soci_entry *e = fs_entry(fs, in);
    struct soci_stat st = {.ino = ino, .mode = in->mode, .nlink = in->nlink, .layer = in->layer};
    if (e) {
        st.uid = e->uid;
        st.gid = e->gid;
        st.mtime_sec = e->mtime_sec;
        st.mtime_nsec = e->mtime_nsec;
        st.rdev_major = (uint32_t)e->devmajor;
        st.rdev_minor = (uint32_t)e->devminor;
    }
    if (S_ISREG(in->mode))
        st.size = e->size;
    else if (S_ISLNK(in->mode))
        st.size = strlen(e->linkname);
    else if (S_ISDIR(in->mode))
        st.size = 4096;
    st.blocks = (st.size + 511) / 512;
    fill_out(ret, ret_size, &st, sizeof(st));
    return 0;
}

/* Binary search of a directory's sorted children. */
static int child(const struct soci_fs *fs, const struct fs_inode *dir, const char *name, size_t len, uint64_t *ret)
{
    uint32_t d = fs_child_find(fs, dir->dentry, name, len);
    if (d == FS_NO_DENTRY)
        return soci_fail(SOCI_ENOTFOUND, "no \"%.*s\" in \"%s\"", (int)len, name, fs->dentries[dir->dentry].name);
    *ret = fs->dentries[d].inode + 1;
    return 0;
}

/* The inode of name (len bytes) in directory inode parent. */
static int lookup_in(const struct soci_fs *fs, uint64_t parent, const char *name, size_t len, uint64_t *ret)
{
    const struct fs_inode *dir;
    if ((dir = inode_of(fs, parent)) == NULL)
        return SOCI_ENOTFOUND;
    if (!S_ISDIR(dir->mode))
        return soci_fail(SOCI_ENOTDIR, "inode %llu is not a directory", (unsigned long long)parent);
    if (len == 0 || (len == 1 && name[0] == '.')) {
        *ret = parent;
        return 0;
    }
    if (len == 2 && name[0] == '.' && name[1] == '.') {
        *ret = fs->dentries[fs->dentries[dir->dentry].parent].inode + 1;
        return 0;
    }
    return child(fs, dir, name, len, ret);
}

int soci_fs_lookup(soci_fs *fs, uint64_t parent, const char *name, uint64_t *ret)
{
    if (fs == NULL || name == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_lookup: bad arguments");
    return lookup_in(fs, parent, name, strlen(name), ret);
}

/*
 * Walk path from directory inode dir. Symlinks met on the way are expanded by walking
 * their target (from the root when absolute) before the rest of the path; *links counts
 * them across the whole resolution.
 */
static int walk(const struct soci_fs *fs, uint64_t dir, const char *path, bool follow_last, int *links,
                uint64_t *ret)
{
    uint64_t cur = dir;
    int r;
    if (path[0] == '/')
        cur = SOCI_FS_ROOT;
    while (*path) {
        while (*path == '/')
            path++;
        if (*path == '\0')
            break;
        const char *end = strchr(path, '/');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        bool last = path[len] == '\0' || path[len + strspn(path + len, "/")] == '\0';
        uint64_t next = 0;
        if ((r = lookup_in(fs, cur, path, len, &next)) < 0)
            return r;
        const struct fs_inode *in = &fs->inodes[next - 1];
        if (S_ISLNK(in->mode) && (!last || follow_last)) {
            if (++*links > MAX_SYMLINKS)
                return soci_fail(SOCI_ELOOP, "too many levels of symbolic links at \"%.*s\"", (int)len, path);
            if ((r = walk(fs, cur, fs_linkname(fs, in), true, links, &next)) < 0)
                return r;
        }
        cur = next;
        path += len;
    }
    *ret = cur;
    return 0;
}

int soci_fs_resolve(soci_fs *fs, const char *path, unsigned flags, uint64_t *ret)
{
    int links = 0;
    if (fs == NULL || path == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_resolve: bad arguments");
    uint64_t ino;
    int r = walk(fs, SOCI_FS_ROOT, path, (flags & SOCI_FS_FOLLOW) != 0, &links, &ino);
    if (r < 0)
        return soci_fail_prefix(r, "\"%s\"", path);
    *ret = ino;
    return 0;
}

int soci_fs_readdir(soci_fs *fs, uint64_t dir, uint64_t off, struct soci_dirent *ret, size_t ret_size)
{
    const struct fs_inode *in;
    if (ret == NULL || ret_size == 0)
        return soci_fail(SOCI_EINVAL, "soci_fs_readdir: bad arguments");
    if ((in = inode_of(fs, dir)) == NULL)
        return SOCI_ENOTFOUND;
    if (!S_ISDIR(in->mode))
        return soci_fail(SOCI_ENOTDIR, "inode %llu is not a directory", (unsigned long long)dir);
    const struct fs_dentry *de = &fs->dentries[in->dentry];
    struct soci_dirent d = {.next = off + 1, .mode = S_IFDIR};
    if (off == 0) {
        d.name = ".";
        d.ino = dir;
    } else if (off == 1) {
        d.name = "..";
        d.ino = fs->dentries[de->parent].inode + 1;
    } else if (off - 2 < de->nchildren) {
        const struct fs_dentry *c = &fs->dentries[de->children[off - 2]];
        d.name = c->name;
        d.ino = c->inode + 1;
        d.mode = fs->inodes[c->inode].mode & S_IFMT;
    } else {
        return 0;
    }
    fill_out(ret, ret_size, &d, sizeof(d));
    return 1;
}

int64_t soci_fs_pread(soci_fs *fs, uint64_t ino, void *buf, size_t len, uint64_t off)
{
    const struct fs_inode *in;
    if ((in = inode_of(fs, ino)) == NULL)
        return SOCI_ENOTFOUND;
    if (S_ISDIR(in->mode))
        return soci_fail(SOCI_EISDIR, "inode %llu is a directory", (unsigned long long)ino);
    if (!S_ISREG(in->mode))
        return soci_fail(SOCI_EINVAL, "inode %llu is not a regular file", (unsigned long long)ino);
    return fs_layer_pread(fs, in->layer, in->entry, buf, len, off, true);
}

int64_t fs_layer_pread(soci_fs *fs, uint32_t layer, uint32_t entry, void *buf, size_t len, uint64_t off,
                       bool ahead)
{
    if (atomic_load_explicit(&fs->decode_ahead_planned, memory_order_relaxed) &&
        atomic_exchange(&fs->decode_ahead_planned, false))
        fs_decode_ahead_begin(fs);
    return ahead ? soci_layer_pread(fs->layers[layer], entry, buf, len, off)
                 : layer_pread_exact(fs->layers[layer], entry, buf, len, off);
}

int soci_fs_readlink(soci_fs *fs, uint64_t ino, const char **ret)
{
    const struct fs_inode *in;
    if (ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_readlink: bad arguments");
    if ((in = inode_of(fs, ino)) == NULL)
        return SOCI_ENOTFOUND;
    if (!S_ISLNK(in->mode))
        return soci_fail(SOCI_EINVAL, "inode %llu is not a symlink", (unsigned long long)ino);
    *ret = fs_linkname(fs, in);
    return 0;
}

/* ---- extended attributes: the "SCHILY.xattr." PAX records ---- */

static const struct ztoc_xattr *xattr_record(const struct soci_fs *fs, const struct fs_inode *in, uint32_t j)
{
    const struct soci_ztoc *z = fs->ztocs[in->layer];
    return &z->xattrs[z->entries[in->entry].xattr_first + j];
}

/* An attribute record. An empty PAX value deletes a key rather than setting it empty
 * (POSIX pax; Go's archive/tar, which the reference reads layers with, drops them too). */
static bool is_xattr(const struct ztoc_xattr *x)
{
    size_t n = strlen(XATTR_PREFIX);
    return x->key_len > n && x->value_len > 0 && memcmp(x->key, XATTR_PREFIX, n) == 0;
}

/* What overlayfs reads to know a lower directory is opaque (after the tar's own). */
static const char *const opaque_xattrs[] = {"trusted.overlay.opaque", "user.overlay.opaque"};

/* How many of opaque_xattrs inode in lists: none unless it is an opaque directory. */
static uint32_t opaque_names(const struct soci_fs *fs, const struct fs_inode *in)
{
    if (!S_ISDIR(in->mode) || !overlay_is_opaque(fs, in->dentry))
        return 0;
    return fs->trusted_opaque_only ? 1 : 2;
}

int soci_fs_listxattr(soci_fs *fs, uint64_t ino, uint32_t i, const char **name, const void **value,
                      size_t *value_len)
{
    const struct fs_inode *in;
    if (name == NULL || value == NULL || value_len == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_listxattr: bad arguments");
    if ((in = inode_of(fs, ino)) == NULL)
        return SOCI_ENOTFOUND;
    const struct soci_entry *e = fs_entry(fs, in);
    for (uint32_t j = 0; e && j < e->xattr_count; j++) {
        const struct ztoc_xattr *x = xattr_record(fs, in, j);
        if (is_xattr(x) && i-- == 0) {
            *name = x->key + strlen(XATTR_PREFIX);
            *value = x->value;
            *value_len = x->value_len;
            return 1;
        }
    }
    if (i < opaque_names(fs, in)) {
        *name = opaque_xattrs[i];
        *value = "y";
        *value_len = 1;
        return 1;
    }
    return 0;
}

/* What soci_fs_listxattr lists, over every inode (SOCI_COUNTER_XATTRS). */
static uint64_t xattr_total(const struct soci_fs *fs)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < fs->ninodes; i++) {
        const struct fs_inode *in = &fs->inodes[i];
        const struct soci_entry *e = fs_entry(fs, in);
        for (uint32_t j = 0; e && j < e->xattr_count; j++)
            n += is_xattr(xattr_record(fs, in, j));
        n += opaque_names(fs, in);
    }
    return n;
}

int soci_fs_getxattr(soci_fs *fs, uint64_t ino, const char *name, const void **value, size_t *value_len)
{
    const char *n;
    const void *v;
    size_t len;
    int r;
    if (name == NULL || value == NULL || value_len == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_getxattr: bad arguments");
    for (uint32_t i = 0; (r = soci_fs_listxattr(fs, ino, i, &n, &v, &len)) == 1; i++) {
        if (strcmp(n, name) == 0) {
            *value = v;
            *value_len = len;
            return 0;
        }
    }
    return r < 0 ? r : soci_fail(SOCI_ENOTFOUND, "inode %llu has no attribute %s", (unsigned long long)ino, name);
}

int soci_fs_statfs(soci_fs *fs, struct soci_statfs *ret, size_t ret_size)
{
    if (fs == NULL || ret == NULL || ret_size == 0)
        return soci_fail(SOCI_EINVAL, "soci_fs_statfs: bad arguments");
    struct soci_statfs st = {.block_size = 4096, .blocks = (fs->data_bytes + 4095) / 4096,
                             .files = fs->ninodes, .name_max = 255};
    fill_out(ret, ret_size, &st, sizeof(st));
    return 0;
}

int soci_fs_prefetch(soci_fs *fs, const char *path)
{
    uint64_t ino;
    uint32_t first, last;
    int r;
    if (fs == NULL || path == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_prefetch: bad arguments");
    if ((r = soci_fs_resolve(fs, path, SOCI_FS_FOLLOW, &ino)) < 0)
        return r;
    const struct fs_inode *in = &fs->inodes[ino - 1];
    if (S_ISDIR(in->mode))
        return soci_fail(SOCI_EISDIR, "\"%s\" is a directory", path);
    if (!S_ISREG(in->mode))
        return soci_fail(SOCI_EINVAL, "\"%s\" is not a regular file", path);
    const struct soci_entry *e = fs_entry(fs, in);
    const soci_ztoc *z = fs->ztocs[in->layer];
    if (e == NULL || e->size == 0)
        return 0;
    if ((r = ztoc_entry_spans(z, e, &first, &last)) < 0)
        return r;
    r = soci_layer_prefetch(fs->layers[in->layer], first, last);
    return r < 0 ? soci_fail_prefix(r, "prefetching \"%s\"", path) : 0;
}

int soci_fs_counter(const soci_fs *fs, int which, uint64_t *ret)
{
    if (fs == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_counter: bad arguments");
    if (which == SOCI_COUNTER_BACKGROUND_SPANS) {
        *ret = atomic_load(&fs->bg_spans);
        return 0;
    }
    if (which == SOCI_COUNTER_XATTRS) {
        *ret = xattr_total(fs);
        return 0;
    }
    if (fs->img == NULL) {
        /* Layers given directly: their counters, summed. */
        uint64_t total = 0, v;
        for (uint32_t i = 0; i < fs->nlayers; i++) {
            int r = soci_layer_counter(fs->layers[i], which, &v);
            if (r < 0)
                return r;
            total += v;
        }
        *ret = total;
        return 0;
    }
    if (which >= SOCI_COUNTER_CACHE_HITS && which <= SOCI_COUNTER_DISK_CORRUPT) {
        const soci_cache *c = image_cache(fs->img);
        if (c == NULL)
            return soci_fail(SOCI_EINVAL, "soci_fs_counter: the image has no cache");
        return soci_cache_counter(c, which, ret);
    }
    return soci_image_counter(fs->img, which, ret);
}
