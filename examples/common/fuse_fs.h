/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the FUSE daemons share (soci-mount, soci-store): replies to the kernel built from a
 * soci_fs, logging that goes to syslog once daemonized, and dropping privileges.
 *
 * A daemon may serve several trees under one mount: each tree's inode numbers are
 * libsoci's own (the root is 1) with the daemon's high bits added (`base`, 0 for a mount of
 * one tree), so the kernel sees base | ino and the daemon hands ino back with
 * `ino & FUSE_FS_INO_MASK`.
 */
#ifndef SOCI_EXAMPLES_FUSE_FS_H
#define SOCI_EXAMPLES_FUSE_FS_H

#define FUSE_USE_VERSION 312
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>
#include <soci/soci.h>

/* An image never changes: the kernel may keep what it is told for as long as it likes. */
#define FUSE_FS_CACHE_SECONDS (365.0 * 24 * 3600)
#define FUSE_FS_INO_MASK 0xFFFFFFFFull /* libsoci's inode numbers fit 32 bits */

/* A stat of inode ino of fs, as the kernel sees it (st_ino = base | ino). */
int fuse_fs_stat(soci_fs *fs, uint64_t ino, uint64_t base, struct stat *st);

/* A lookup's answer: st (st_ino the kernel's inode number), cached for as long as the
 * kernel likes. */
void fuse_fs_reply_entry(fuse_req_t req, const struct stat *st);

/* The replies to each operation on inode ino (or parent) of fs; fuse_fs_entry answers a
 * lookup that found ino. */
void fuse_fs_entry(fuse_req_t req, soci_fs *fs, uint64_t ino, uint64_t base);
void fuse_fs_lookup(fuse_req_t req, soci_fs *fs, uint64_t parent, const char *name, uint64_t base);
void fuse_fs_getattr(fuse_req_t req, soci_fs *fs, uint64_t ino, uint64_t base);
void fuse_fs_readlink(fuse_req_t req, soci_fs *fs, uint64_t ino);
void fuse_fs_open(fuse_req_t req, soci_fs *fs, uint64_t ino, struct fuse_file_info *fi);
void fuse_fs_read(fuse_req_t req, soci_fs *fs, uint64_t ino, size_t size, off_t off);
void fuse_fs_opendir(fuse_req_t req, soci_fs *fs, uint64_t ino, struct fuse_file_info *fi);
void fuse_fs_readdir(fuse_req_t req, soci_fs *fs, uint64_t ino, size_t size, off_t off, bool plus, uint64_t base);
void fuse_fs_statfs(fuse_req_t req, soci_fs *fs);
void fuse_fs_getxattr(fuse_req_t req, soci_fs *fs, uint64_t ino, const char *name, size_t size);
void fuse_fs_listxattr(fuse_req_t req, soci_fs *fs, uint64_t ino, size_t size);

/* Reply to getxattr with value (len bytes), as the size asked for allows. */
void fuse_fs_reply_xattr(fuse_req_t req, const void *value, size_t len, size_t size);

/* errno for a libsoci failure; fetch failures (EIO) are logged with what failed. */
int fuse_fs_errno(const char *op, uint64_t ino, int code);

/* Logging: "<prog>: line" on stderr until daemon_log_to_syslog(), syslog after. Lines
 * above the level set are dropped. library_log can be given to soci_set_log_func. */
void daemon_log_setup(const char *prog, int level);
void daemon_log_to_syslog(void);
void daemon_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void daemon_library_log(int level, const char *message, void *userdata);

/* Keep only CAP_SYS_ADMIN (to unmount), set no_new_privs; call before starting threads.
 * 0, or -1 after logging why. */
int daemon_drop_privileges(void);

/* Write data to path whole or not at all (a temporary file beside it, created with mode
 * and renamed over it; synced first when durable). 0, or -1 with errno set
 * (daemon_files.c). */
int daemon_write_file(const char *path, const void *data, size_t len, mode_t mode, bool durable);

/* Inodes never go away: forgetting one has nothing to do. */
void fuse_fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fuse_fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);

/* How a daemon serves its FUSE session (daemon_serve.c). */
struct daemon_serve {
    const char *prog;       /* for messages */
    const char *mountpoint;
    const char *mount_opts; /* the -o options, complete */
    bool foreground, debug;
    unsigned threads;       /* most worker threads (0: 16) */
    void (*ready)(void *arg);    /* in the daemon, privileges dropped, before serving */
    void (*stopping)(void *arg); /* after serving, before unmounting */
    void *arg;
};

/* Mount, return in the parent once mounted (unless foreground), drop privileges, serve on
 * worker threads until unmounted or stopped (SIGINT, SIGTERM, SIGHUP: a clean stop),
 * unmount. The exit status: 0 for a clean stop. */
int daemon_serve(const struct daemon_serve *d, const struct fuse_lowlevel_ops *ops, size_t ops_size, void *userdata);

#endif
