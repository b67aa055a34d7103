/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FUSE replies over a soci_fs: each one is a call into libsoci and a reply. Inodes never
 * go away, so forget has nothing to do. Because an image never changes, every reply tells
 * the kernel to keep it for as long as it likes, negative lookups included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "fuse_fs.h"

int fuse_fs_errno(const char *op, uint64_t ino, int code)
{
    int e = soci_errno(code);
    if (e == EIO)
        daemon_log(SOCI_LOG_ERROR, "%s inode %llu: %s", op, (unsigned long long)ino, soci_last_error());
    return e;
}

int fuse_fs_stat(soci_fs *fs, uint64_t ino, uint64_t base, struct stat *st)
{
    struct soci_stat s;
    int r = soci_fs_getattr(fs, ino, &s, sizeof(s));
    if (r < 0)
        return r;
    memset(st, 0, sizeof(*st));
    st->st_ino = base | s.ino;
    st->st_mode = s.mode;
    st->st_nlink = s.nlink;
    st->st_uid = s.uid;
    st->st_gid = s.gid;
    st->st_size = (off_t)s.size;
    st->st_blocks = (blkcnt_t)s.blocks;
    st->st_blksize = 4096;
    st->st_rdev = makedev(s.rdev_major, s.rdev_minor);
    st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = s.mtime_sec;
    st->st_mtim.tv_nsec = st->st_atim.tv_nsec = st->st_ctim.tv_nsec = s.mtime_nsec;
    return 0;
}

void fuse_fs_reply_entry(fuse_req_t req, const struct stat *st)
{
    struct fuse_entry_param e = {.ino = st->st_ino, .generation = 1, .attr = *st,
                                 .attr_timeout = FUSE_FS_CACHE_SECONDS, .entry_timeout = FUSE_FS_CACHE_SECONDS};
    fuse_reply_entry(req, &e);
}

void fuse_fs_entry(fuse_req_t req, soci_fs *fs, uint64_t ino, uint64_t base)
{
    struct stat st;
    int r = fuse_fs_stat(fs, ino, base, &st);
    if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("lookup", ino, r));
    else
        fuse_fs_reply_entry(req, &st);
}

void fuse_fs_lookup(fuse_req_t req, soci_fs *fs, uint64_t parent, const char *name, uint64_t base)
{
    uint64_t ino;
    int r = soci_fs_lookup(fs, parent, name, &ino);
    if (r == SOCI_ENOTFOUND) {
        /* ino 0 with a timeout: the kernel caches the absence too. */
        struct fuse_entry_param e = {.ino = 0, .entry_timeout = FUSE_FS_CACHE_SECONDS};
        fuse_reply_entry(req, &e);
    } else if (r < 0) {
        fuse_reply_err(req, fuse_fs_errno("lookup", parent, r));
    } else {
        fuse_fs_entry(req, fs, ino, base);
    }
}

void fuse_fs_getattr(fuse_req_t req, soci_fs *fs, uint64_t ino, uint64_t base)
{
    struct stat st;
    int r = fuse_fs_stat(fs, ino, base, &st);
    if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("getattr", ino, r));
    else
        fuse_reply_attr(req, &st, FUSE_FS_CACHE_SECONDS);
}

void fuse_fs_readlink(fuse_req_t req, soci_fs *fs, uint64_t ino)
{
    const char *target;
    int r = soci_fs_readlink(fs, ino, &target);
    if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("readlink", ino, r));
    else
        fuse_reply_readlink(req, target);
}

void fuse_fs_open(fuse_req_t req, soci_fs *fs, uint64_t ino, struct fuse_file_info *fi)
{
    struct soci_stat s;
    int r = soci_fs_getattr(fs, ino, &s, sizeof(s));
    if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("open", ino, r));
    else if (S_ISDIR(s.mode))
        fuse_reply_err(req, EISDIR);
    else if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
        fuse_reply_err(req, EROFS);
    else {
        fi->keep_cache = 1; /* the page cache stays valid across opens */
        fuse_reply_open(req, fi);
    }
}

void fuse_fs_read(fuse_req_t req, soci_fs *fs, uint64_t ino, size_t size, off_t off)
{
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int64_t n = soci_fs_pread(fs, ino, buf, size, (uint64_t)off);
    if (n < 0)
        fuse_reply_err(req, fuse_fs_errno("read", ino, (int)n));
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

void fuse_fs_opendir(fuse_req_t req, soci_fs *fs, uint64_t ino, struct fuse_file_info *fi)
{
    struct soci_stat s;
    int r = soci_fs_getattr(fs, ino, &s, sizeof(s));
    if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("opendir", ino, r));
    else if (!S_ISDIR(s.mode))
        fuse_reply_err(req, ENOTDIR);
    else {
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
        fuse_reply_open(req, fi);
    }
}

void fuse_fs_readdir(fuse_req_t req, soci_fs *fs, uint64_t ino, size_t size, off_t off, bool plus, uint64_t base)
{
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
            struct fuse_entry_param e = {.ino = base | d.ino, .generation = 1, .attr_timeout = FUSE_FS_CACHE_SECONDS,
                                         .entry_timeout = FUSE_FS_CACHE_SECONDS};
            if ((r = fuse_fs_stat(fs, d.ino, base, &e.attr)) < 0)
                break;
            n = fuse_add_direntry_plus(req, buf + used, size - used, d.name, &e, (off_t)d.next);
        } else {
            struct stat st = {.st_ino = base | d.ino, .st_mode = d.mode};
            n = fuse_add_direntry(req, buf + used, size - used, d.name, &st, (off_t)d.next);
        }
        if (n > size - used)
            break;
        used += n;
    }
    if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("readdir", ino, r));
    else
        fuse_reply_buf(req, buf, used);
    free(buf);
}

void fuse_fs_statfs(fuse_req_t req, soci_fs *fs)
{
    struct soci_statfs s = {.block_size = 4096, .name_max = 255};
    struct statvfs st = {0};
    int r = fs ? soci_fs_statfs(fs, &s, sizeof(s)) : 0;
    if (r < 0) {
        fuse_reply_err(req, fuse_fs_errno("statfs", 1, r));
        return;
    }
    st.f_bsize = st.f_frsize = (unsigned long)s.block_size;
    st.f_blocks = (fsblkcnt_t)s.blocks;
    st.f_files = (fsfilcnt_t)s.files;
    st.f_namemax = s.name_max;
    st.f_flag = ST_RDONLY;
    fuse_reply_statfs(req, &st);
}

void fuse_fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

void fuse_fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

void fuse_fs_reply_xattr(fuse_req_t req, const void *value, size_t len, size_t size)
{
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

void fuse_fs_getxattr(fuse_req_t req, soci_fs *fs, uint64_t ino, const char *name, size_t size)
{
    const void *value;
    size_t len;
    int r = soci_fs_getxattr(fs, ino, name, &value, &len);
    if (r == SOCI_ENOTFOUND)
        fuse_reply_err(req, ENODATA);
    else if (r < 0)
        fuse_reply_err(req, fuse_fs_errno("getxattr", ino, r));
    else
        fuse_fs_reply_xattr(req, value, len, size);
}

void fuse_fs_listxattr(fuse_req_t req, soci_fs *fs, uint64_t ino, size_t size)
{
    const char *name;
    const void *value;
    size_t len, total = 0;
    int r;
    for (uint32_t i = 0; (r = soci_fs_listxattr(fs, ino, i, &name, &value, &len)) == 1; i++)
        total += strlen(name) + 1;
    if (r < 0) {
        fuse_reply_err(req, fuse_fs_errno("listxattr", ino, r));
        return;
    }
    if (size == 0 || size < total) {
        fuse_fs_reply_xattr(req, NULL, total, size);
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
