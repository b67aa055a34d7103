/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE operations of the store. Each inode names its node (store.h): the store's own
 * directories and files are answered here, a layer's tree (`diff/` and below) by the
 * shared replies over its soci_fs.
 *
 * containers/storage also writes to the store, in its own way: at each lookup of a layer
 * it creates and deletes `<layer>/use`, and when it lets a layer go it removes the
 * layer's directory. Both are counted (the engine's hold on the layer, for the log) and
 * answered ENOENT, as the protocol expects; nothing is created or deleted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

#define USE_FILE "use"

static struct store *store_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* The layer of a binding, info, blob or diff inode; NULL for others. */
static struct store_layer *layer_of(struct store *s, fuse_ino_t ino)
{
    switch (STORE_KIND(ino)) {
    case KIND_BINDING: {
        struct store_binding *b = store_binding_at(s, STORE_INDEX(ino));
        return b ? store_layer_at(s, b->layer) : NULL;
    }
    case KIND_INFO:
    case KIND_BLOB:
    case KIND_DIFF:
        return store_layer_at(s, STORE_INDEX(ino));
    default:
        return NULL;
    }
}

/* The store's own nodes: directories and two read-only files, owned by root. */
static int node_stat(struct store *s, fuse_ino_t ino, struct stat *st)
{
    struct store_layer *l = layer_of(s, ino);
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    st->st_blksize = 4096;
    switch (STORE_KIND(ino)) {
    case KIND_ROOT:
        return ino == FUSE_ROOT_ID ? 0 : -1;
    case KIND_REF:
        return store_ref_at(s, STORE_INDEX(ino)) ? 0 : -1;
    case KIND_BINDING:
        return l ? 0 : -1;
    case KIND_INFO:
    case KIND_BLOB:
        if (l == NULL)
            return -1;
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)(STORE_KIND(ino) == KIND_INFO ? l->info_len : l->size);
        st->st_blocks = (st->st_size + 511) / 512;
        return 0;
    default:
        return -1;
    }
}

static void node_entry(fuse_req_t req, struct store *s, fuse_ino_t ino)
{
    struct stat st;
    if (node_stat(s, ino, &st) < 0)
        fuse_reply_err(req, ENOENT);
    else
        fuse_fs_reply_entry(req, &st);
}

static uint64_t diff_base(uint32_t layer)
{
    return STORE_INO(KIND_DIFF, layer, 0);
}

/* The stat of a layer's tree node. Its root is `diff` itself, which containers/storage
 * makes for a pulled layer with mode 0555 and never changes (it does not apply a tar's
 * "./" entry); the engine copies the top lower layer's root mode into a container's own
 * layer, so the store's roots must be the same or a container's "/" would differ from a
 * normal pull's. With --kernel, `diff` is a link to the layer's EROFS mount instead (whose
 * root is 0555 too). */
static int diff_stat(struct store_layer *l, uint32_t layer, uint64_t low, struct stat *st)
{
    if (l->kernel_dir[0] && low == SOCI_FS_ROOT) {
        memset(st, 0, sizeof(*st));
        st->st_ino = diff_base(layer) | SOCI_FS_ROOT;
        st->st_mode = S_IFLNK | 0777;
        st->st_nlink = 1;
        st->st_size = (off_t)strlen(l->kernel_dir);
        return 0;
    }
    int r = fuse_fs_stat(l->fs, low, diff_base(layer), st);
    if (r == 0 && low == SOCI_FS_ROOT)
        st->st_mode = S_IFDIR | 0555;
    return r;
}

static void diff_entry(fuse_req_t req, struct store_layer *l, uint32_t layer, uint64_t low)
{
    struct stat st;
    int r = diff_stat(l, layer, low, &st);
    if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("lookup", low, r));
    else
        fuse_fs_reply_entry(req, &st);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    conn->max_readahead = 1u << 20;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct store *s = store_of(req);
    uint32_t i;
    switch (STORE_KIND(parent)) {
    case KIND_ROOT:
        /* Not cached when absent: a reference can be looked up again once its registry
         * answers, and a name that is no reference costs only its decoding. */
        if (store_find_ref(s, name, &i) < 0)
            fuse_reply_err(req, ENOENT);
        else
            node_entry(req, s, STORE_INO(KIND_REF, i, 0));
        return;
    case KIND_REF:
        if (store_ref_at(s, STORE_INDEX(parent)) == NULL || store_find_binding(s, STORE_INDEX(parent), name, &i) < 0)
            fuse_reply_err(req, ENOENT);
        else
            node_entry(req, s, STORE_INO(KIND_BINDING, i, 0));
        return;
    case KIND_BINDING: {
        struct store_binding *b = store_binding_at(s, STORE_INDEX(parent));
        if (b == NULL)
            fuse_reply_err(req, ENOENT);
        else if (strcmp(name, "diff") == 0)
            diff_entry(req, store_layer_at(s, b->layer), b->layer, SOCI_FS_ROOT);
        else if (strcmp(name, "info") == 0)
            node_entry(req, s, STORE_INO(KIND_INFO, b->layer, 0));
        else if (strcmp(name, "blob") == 0)
            node_entry(req, s, STORE_INO(KIND_BLOB, b->layer, 0));
        else
            fuse_reply_err(req, ENOENT);
        return;
    }
    case KIND_DIFF: {
        struct store_layer *l = layer_of(s, parent);
        if (l == NULL)
            fuse_reply_err(req, ENOENT);
        else
            fuse_fs_lookup(req, l->fs, STORE_LOW(parent), name, diff_base(STORE_INDEX(parent)));
        return;
    }
    default:
        fuse_reply_err(req, ENOTDIR);
    }
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct store *s = store_of(req);
    struct stat st;
    (void)fi;
    if (STORE_KIND(ino) == KIND_DIFF) {
        struct store_layer *l = layer_of(s, ino);
        int r = l ? diff_stat(l, STORE_INDEX(ino), STORE_LOW(ino), &st) : SOCI_ENOTFOUND;
        if (r < 0)
            fuse_reply_err(req, fuse_fs_errno("getattr", ino, r));
        else
            fuse_reply_attr(req, &st, FUSE_FS_CACHE_SECONDS);
    } else if (node_stat(s, ino, &st) < 0) {
        fuse_reply_err(req, ENOENT);
    } else {
        fuse_reply_attr(req, &st, FUSE_FS_CACHE_SECONDS);
    }
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct store_layer *l = STORE_KIND(ino) == KIND_DIFF ? layer_of(store_of(req), ino) : NULL;
    if (l == NULL)
        fuse_reply_err(req, EINVAL);
    else if (l->kernel_dir[0] && STORE_LOW(ino) == SOCI_FS_ROOT)
        fuse_reply_readlink(req, l->kernel_dir);
    else
        fuse_fs_readlink(req, l->fs, STORE_LOW(ino));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct store_layer *l = layer_of(store_of(req), ino);
    if (l == NULL)
        fuse_reply_err(req, STORE_KIND(ino) == KIND_ROOT || STORE_KIND(ino) == KIND_REF ? EISDIR : ENOENT);
    else if (STORE_KIND(ino) == KIND_DIFF)
        fuse_fs_open(req, l->fs, STORE_LOW(ino), fi);
    else if (STORE_KIND(ino) == KIND_BINDING)
        fuse_reply_err(req, EISDIR);
    else if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
        fuse_reply_err(req, EROFS);
    else {
        fi->keep_cache = 1;
        fuse_reply_open(req, fi);
    }
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct store *s = store_of(req);
    struct store_layer *l = layer_of(s, ino);
    (void)fi;
    if (l == NULL) {
        fuse_reply_err(req, ENOENT);
    } else if (STORE_KIND(ino) == KIND_DIFF) {
        fuse_fs_read(req, l->fs, STORE_LOW(ino), size, off);
    } else if (STORE_KIND(ino) == KIND_INFO) {
        size_t at = (uint64_t)off < l->info_len ? (size_t)off : l->info_len;
        fuse_reply_buf(req, l->info + at, size < l->info_len - at ? size : l->info_len - at);
    } else {
        char *buf = malloc(size ? size : 1);
        int64_t n = buf ? store_read_blob(s, l, buf, size, (uint64_t)off) : SOCI_ENOMEM;
        if (n < 0)
            fuse_reply_err(req, fuse_fs_errno("blob", ino, (int)n));
        else
            fuse_reply_buf(req, buf, (size_t)n);
        free(buf);
    }
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct store *s = store_of(req);
    struct stat st;
    if (STORE_KIND(ino) == KIND_DIFF) {
        struct store_layer *l = layer_of(s, ino);
        if (l == NULL)
            fuse_reply_err(req, ENOENT);
        else
            fuse_fs_opendir(req, l->fs, STORE_LOW(ino), fi);
    } else if (node_stat(s, ino, &st) < 0) {
        fuse_reply_err(req, ENOENT);
    } else if (!S_ISDIR(st.st_mode)) {
        fuse_reply_err(req, ENOTDIR);
    } else {
        fuse_reply_open(req, fi); /* the store's own directories grow: not cached */
    }
}

/* The name of entry k of one of the store's directories, and its inode; false past the end. */
static bool store_dirent(struct store *s, fuse_ino_t dir, uint32_t k, const char **name, fuse_ino_t *ino)
{
    static const char *const files[] = {"diff", "info", "blob"};
    switch (STORE_KIND(dir)) {
    case KIND_ROOT: {
        struct store_ref *r = store_ref_at(s, k);
        *name = r ? r->b64 : NULL;
        *ino = STORE_INO(KIND_REF, k, 0);
        return r != NULL;
    }
    case KIND_REF: /* the bindings of this reference, among all */
        for (uint32_t seen = 0, i = 0; i < atomic_load(&s->nbindings); i++) {
            struct store_binding *b = store_binding_at(s, i);
            if (b->ref == STORE_INDEX(dir) && seen++ == k) {
                *name = b->name;
                *ino = STORE_INO(KIND_BINDING, i, 0);
                return true;
            }
        }
        return false;
    case KIND_BINDING: {
        struct store_binding *b = store_binding_at(s, STORE_INDEX(dir));
        if (b == NULL || k >= 3)
            return false;
        *name = files[k];
        *ino = k == 0 ? diff_base(b->layer) | 1 : STORE_INO(k == 1 ? KIND_INFO : KIND_BLOB, b->layer, 0);
        return true;
    }
    default:
        return false;
    }
}

static void list_store_dir(fuse_req_t req, fuse_ino_t dir, size_t size, off_t off)
{
    struct store *s = store_of(req);
    char *buf = malloc(size ? size : 1);
    size_t used = 0;
    const char *name;
    fuse_ino_t ino;
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    /* Offsets: 0 the start, k + 1 after entry k. */
    for (uint32_t k = (uint32_t)off; store_dirent(s, dir, k, &name, &ino); k++) {
        struct stat st = {.st_ino = ino, .st_mode = STORE_KIND(ino) == KIND_INFO || STORE_KIND(ino) == KIND_BLOB
                                                        ? S_IFREG : S_IFDIR};
        size_t n = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)k + 1);
        if (n > size - used)
            break;
        used += n;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    if (STORE_KIND(ino) == KIND_DIFF) {
        struct store_layer *l = layer_of(store_of(req), ino);
        if (l == NULL)
            fuse_reply_err(req, ENOENT);
        else
            fuse_fs_readdir(req, l->fs, STORE_LOW(ino), size, off, false, diff_base(STORE_INDEX(ino)));
    } else {
        list_store_dir(req, ino, size, off);
    }
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    fuse_fs_statfs(req, NULL);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct store_layer *l = STORE_KIND(ino) == KIND_DIFF ? layer_of(store_of(req), ino) : NULL;
    if (l == NULL)
        fuse_reply_err(req, ENODATA);
    else
        fuse_fs_getxattr(req, l->fs, STORE_LOW(ino), name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct store_layer *l = STORE_KIND(ino) == KIND_DIFF ? layer_of(store_of(req), ino) : NULL;
    if (l == NULL)
        fuse_fs_reply_xattr(req, "", 0, size);
    else
        fuse_fs_listxattr(req, l->fs, STORE_LOW(ino), size);
}

/* `use` in a layer directory: the engine takes hold of the layer. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
    struct store_layer *l = STORE_KIND(parent) == KIND_BINDING ? layer_of(store_of(req), parent) : NULL;
    (void)mode;
    (void)fi;
    if (l != NULL && strcmp(name, USE_FILE) == 0) {
        int uses = atomic_fetch_add(&l->uses, 1) + 1;
        daemon_log(SOCI_LOG_DEBUG, "layer %s: in use (%d)", l->digest, uses);
        fuse_reply_err(req, ENOENT);
    } else {
        fuse_reply_err(req, EROFS);
    }
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent;
    fuse_reply_err(req, strcmp(name, USE_FILE) == 0 ? ENOENT : EROFS);
}

/* rmdir(<ref>/<layer>): the engine lets the layer go. */
static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct store *s = store_of(req);
    uint32_t n = atomic_load(&s->nbindings);
    for (uint32_t i = 0; STORE_KIND(parent) == KIND_REF && i < n; i++) {
        struct store_binding *b = store_binding_at(s, i);
        if (b->ref == STORE_INDEX(parent) && strcmp(b->name, name) == 0) {
            struct store_layer *l = store_layer_at(s, b->layer);
            int uses = atomic_load(&l->uses);
            while (uses > 0 && !atomic_compare_exchange_weak(&l->uses, &uses, uses - 1))
                ;
            daemon_log(SOCI_LOG_DEBUG, "layer %s: released (%d)", l->digest, uses > 0 ? uses - 1 : 0);
            break;
        }
    }
    fuse_reply_err(req, ENOENT);
}

static void op_refuse(fuse_req_t req)
{
    fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)parent, (void)name, (void)mode;
    op_refuse(req);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    op_refuse(req);
}

const struct fuse_lowlevel_ops store_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = fuse_fs_forget,
    .forget_multi = fuse_fs_forget_multi,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .open = op_open,
    .read = op_read,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .create = op_create,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
};
