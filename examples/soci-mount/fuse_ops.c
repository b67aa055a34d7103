/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE low-level operations of soci-mount: one tree, the image's, whose inode numbers
 * are libsoci's own (the root is 1, as FUSE wants); the replies are the shared ones.
 */
#include <errno.h>

#include "mount.h"

static struct mount_state *state_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* Serve one request and count it: the state is taken first, since a reply frees req. */
#define SERVED(kind, call)                                                                                            \
    do {                                                                                                              \
        struct mount_state *st_ = state_of(req);                                                                      \
        soci_fs *fs = st_->fs;                                                                                        \
        uint64_t t_ = fuse_stats_now();                                                                               \
        call;                                                                                                         \
        fuse_stats_add(&st_->stats, kind, t_);                                                                        \
    } while (0)

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct mount_state *st = userdata;
    /* Symlink targets and directory listings never change either. */
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    conn->max_readahead = 1u << 20;
    /* Opens tell us nothing: the mount is read-only, the kernel sends directories to
     * opendir, and what an open would reply (keep the page cache, cache the listing) is
     * what the kernel assumes without one. A start-up opens a file per read or so: 1,831
     * round trips of a scientific-Python start's 8,895. */
    st->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) && (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    SERVED(FOP_LOOKUP, fuse_fs_lookup(req, fs, parent, name, 0));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    SERVED(FOP_GETATTR, fuse_fs_getattr(req, fs, ino, 0));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    SERVED(FOP_READLINK, fuse_fs_readlink(req, fs, ino));
}

/* ENOSYS to the first open, where the kernel can do without: it stops asking. */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (state_of(req)->no_open)
        fuse_reply_err(req, ENOSYS);
    else
        SERVED(FOP_OPEN, fuse_fs_open(req, fs, ino, fi));
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    SERVED(FOP_READ, fuse_fs_read(req, fs, ino, size, off));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (state_of(req)->no_open)
        fuse_reply_err(req, ENOSYS);
    else
        SERVED(FOP_OPEN, fuse_fs_opendir(req, fs, ino, fi));
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    SERVED(FOP_READDIR, fuse_fs_readdir(req, fs, ino, size, off, false, 0));
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    SERVED(FOP_READDIR, fuse_fs_readdir(req, fs, ino, size, off, true, 0));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    SERVED(FOP_OTHER, fuse_fs_statfs(req, fs));
}

/* A tree without extended attributes answers the first getxattr or listxattr with ENOSYS:
 * the kernel then answers every later one itself (EOPNOTSUPP, as a file system without
 * attributes does, which overlayfs and copy-up take as "none"). Overlayfs asks for its own
 * attributes at every lookup in a lower layer: 2,677 round trips of a scientific-Python
 * start's 7,064. */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    if (state_of(req)->no_xattrs)
        fuse_reply_err(req, ENOSYS);
    else
        SERVED(FOP_XATTR, fuse_fs_getxattr(req, fs, ino, name, size));
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    if (state_of(req)->no_xattrs)
        fuse_reply_err(req, ENOSYS);
    else
        SERVED(FOP_XATTR, fuse_fs_listxattr(req, fs, ino, size));
}

const struct fuse_lowlevel_ops mount_ops = {
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
    .readdirplus = op_readdirplus,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
};
