/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE low-level operations over a soci_fs: each one is a call into libsoci and a
 * reply. Inode numbers are libsoci's own (the root is 1, as FUSE wants), and they never
 * go away, so forget has nothing to do. Because an image never changes, every reply
 * tells the kernel to keep it for as long as it likes (CACHE_SECONDS), negative lookups
 * included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>

#include "mount.h"

#define CACHE_SECONDS (365.0 * 24 * 3600)

static soci_fs *fs_of(fuse_req_t req)
{
    return ((struct mount_state *)fuse_req_userdata(req))->fs;
}

/* errno for a libsoci failure; fetch failures (EIO) are logged, naming layer and spans. */
static int fail_errno(const char *op, uint64_t ino, int code)
{
    int e = soci_errno(code);
    if (e == EIO)
        mount_log(SOCI_LOG_ERROR, "%s inode %llu: %s", op, (unsigned long long)ino, soci_last_error());
    return e;
}

static void to_stat(const struct soci_stat *s, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = s->ino;
    st->st_mode = s->mode;
    st->st_nlink = s->nlink;
    st->st_uid = s->uid;
    st->st_gid = s->gid;
    st->st_size = (off_t)s->size;
    st->st_blocks = (blkcnt_t)s->blocks;
    st->st_blksize = 4096;
    st->st_rdev = makedev(s->rdev_major, s->rdev_minor);
    st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = s->mtime_sec;
    st->st_mtim.tv_nsec = st->st_atim.tv_nsec = st->st_ctim.tv_nsec = s->mtime_nsec;
}

static int stat_of(soci_fs *fs, uint64_t ino, struct stat *st)
{
    struct soci_stat s;
    int r = soci_fs_getattr(fs, ino, &s, sizeof(s));
    if (r == 0)
        to_stat(&s, st);
    return r;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* Symlink targets and directory listings never change either. */
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    conn->max_readahead = 1u << 20;
}

static void entry_reply(fuse_req_t req, soci_fs *fs, uint64_t ino)
{
    struct fuse_entry_param e = {.ino = ino, .generation = 1, .attr_timeout = CACHE_SECONDS,
                                 .entry_timeout = CACHE_SECONDS};
    int r = stat_of(fs, ino, &e.attr);
    if (r < 0)
        fuse_reply_err(req, fail_errno("lookup", ino, r));
    else
        fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    soci_fs *fs = fs_of(req);
    uint64_t ino;
    int r = soci_fs_lookup(fs, parent, name, &ino);
    if (r == SOCI_ENOTFOUND) {
        /* ino 0 with a timeout: the kernel caches the absence too. */
        struct fuse_entry_param e = {.ino = 0, .entry_timeout = CACHE_SECONDS};
        fuse_reply_entry(req, &e);
    } else if (r < 0) {
        fuse_reply_err(req, fail_errno("lookup", parent, r));
    } else {
        entry_reply(req, fs, ino);
    }
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    (void)fi;
    int r = stat_of(fs_of(req), ino, &st);
    if (r < 0)
        fuse_reply_err(req, fail_errno("getattr", ino, r));
    else
        fuse_reply_attr(req, &st, CACHE_SECONDS);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    const char *target;
    int r = soci_fs_readlink(fs_of(req), ino, &target);
    if (r < 0)
        fuse_reply_err(req, fail_errno("readlink", ino, r));
    else
        fuse_reply_readlink(req, target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct soci_stat s;
    int r = soci_fs_getattr(fs_of(req), ino, &s, sizeof(s));
    if (r < 0)
        fuse_reply_err(req, fail_errno("open", ino, r));
    else if (S_ISDIR(s.mode))
        fuse_reply_err(req, EISDIR);
    else if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
        fuse_reply_err(req, EROFS);
    else {
        fi->keep_cache = 1; /* the page cache stays valid across opens */
        fuse_reply_open(req, fi);
    }
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int64_t n = soci_fs_pread(fs_of(req), ino, buf, size, (uint64_t)off);
    if (n < 0)
        fuse_reply_err(req, fail_errno("read", ino, (int)n));
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct soci_stat s;
    int r = soci_fs_getattr(fs_of(req), ino, &s, sizeof(s));
    if (r < 0)
        fuse_reply_err(req, fail_errno("opendir", ino, r));
    else if (!S_ISDIR(s.mode))
        fuse_reply_err(req, ENOTDIR);
    else {
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
        fuse_reply_open(req, fi);
    }
}

/* readdir and readdirplus: entries from offset off until the reply buffer is full. */
static void list_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    soci_fs *fs = fs_of(req);
    char *buf = malloc(size ? size : 1);
    size_t used = 0;
    struct soci_dirent d;
    int r;
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (uint64_t at = (uint64_t)off; (r = soci_fs_readdir(fs, ino, at, &d, sizeof(d))) == 1; at = d.next) {
        size_t n;
        if (plus) {
            struct fuse_entry_param e = {.ino = d.ino, .generation = 1, .attr_timeout = CACHE_SECONDS,
                                         .entry_timeout = CACHE_SECONDS};
            if ((r = stat_of(fs, d.ino, &e.attr)) < 0)
                break;
            n = fuse_add_direntry_plus(req, buf + used, size - used, d.name, &e, (off_t)d.next);
        } else {
            struct stat st = {.st_ino = d.ino, .st_mode = d.mode};
            n = fuse_add_direntry(req, buf + used, size - used, d.name, &st, (off_t)d.next);
        }
        if (n > size - used)
            break;
        used += n;
    }
    if (r < 0)
        fuse_reply_err(req, fail_errno("readdir", ino, r));
    else
        fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    list_dir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    list_dir(req, ino, size, off, true);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct soci_statfs s;
    struct statvfs st = {0};
    int r = soci_fs_statfs(fs_of(req), &s, sizeof(s));
    if (r < 0) {
        fuse_reply_err(req, fail_errno("statfs", ino, r));
        return;
    }
    st.f_bsize = st.f_frsize = (unsigned long)s.block_size;
    st.f_blocks = (fsblkcnt_t)s.blocks;
    st.f_files = (fsfilcnt_t)s.files;
    st.f_namemax = s.name_max;
    st.f_flag = ST_RDONLY;
    fuse_reply_statfs(req, &st);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    const void *value;
    size_t len;
    int r = soci_fs_getxattr(fs_of(req), ino, name, &value, &len);
    if (r == SOCI_ENOTFOUND)
        fuse_reply_err(req, ENODATA);
    else if (r < 0)
        fuse_reply_err(req, fail_errno("getxattr", ino, r));
    else if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    soci_fs *fs = fs_of(req);
    const char *name;
    const void *value;
    size_t len, total = 0;
    int r;
    for (uint32_t i = 0; (r = soci_fs_listxattr(fs, ino, i, &name, &value, &len)) == 1; i++)
        total += strlen(name) + 1;
    if (r < 0) {
        fuse_reply_err(req, fail_errno("listxattr", ino, r));
        return;
    }
    if (size == 0) {
        fuse_reply_xattr(req, total);
        return;
    }
    if (size < total) {
        fuse_reply_err(req, ERANGE);
        return;
    }
    char *list = malloc(total ? total : 1), *p = list;
    if (list == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (uint32_t i = 0; soci_fs_listxattr(fs, ino, i, &name, &value, &len) == 1; i++) {
        size_t n = strlen(name) + 1;
        memcpy(p, name, n);
        p += n;
    }
    fuse_reply_buf(req, list, total);
    free(list);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

const struct fuse_lowlevel_ops mount_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
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
