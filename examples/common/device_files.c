/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE file system behind the kernel paths (soci-mount --kernel, soci-store --kernel):
 * one read-only file per layer, named by its index ("0" first), holding that layer's EROFS
 * data device. The kernel's EROFS mounts read their files' data from these; the rest of
 * the tree never comes here. Inode 1 is the directory, inode 2 + i layer i's file. Layers
 * may be added while it is served (the store's are, as the engine asks for them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernel_common.h"

#define FIRST_FILE 2

static struct device_files *files_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* Layer index of inode ino, or UINT32_MAX. */
static uint32_t layer_of(const struct device_files *df, fuse_ino_t ino)
{
    /* A layer the kernel path could not take has no device: its file does not exist. */
    return ino >= FIRST_FILE && ino - FIRST_FILE < atomic_load(&df->count) && df->devices[ino - FIRST_FILE]
               ? (uint32_t)(ino - FIRST_FILE)
               : UINT32_MAX;
}

fuse_ino_t device_files_inode(uint32_t i)
{
    return FIRST_FILE + (fuse_ino_t)i;
}

static void fill_stat(const struct device_files *df, fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_nlink = 1;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0500;
        st->st_nlink = 2;
        return;
    }
    st->st_mode = S_IFREG | 0400;
    st->st_size = (off_t)soci_erofs_device_size(df->devices[layer_of(df, ino)]);
    st->st_blocks = st->st_size / 512;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* The kernel reads a device in large sequential runs when a file is read through. */
    conn->max_readahead = 1u << 20;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct device_files *df = files_of(req);
    char *end;
    unsigned long i = strtoul(name, &end, 10);
    if (parent != FUSE_ROOT_ID || *end != '\0' || end == name || i >= atomic_load(&df->count) ||
        layer_of(df, FIRST_FILE + i) == UINT32_MAX) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param e = {.ino = FIRST_FILE + i, .attr_timeout = 86400, .entry_timeout = 86400};
    fill_stat(df, e.ino, &e.attr);
    fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct device_files *df = files_of(req);
    struct stat st;
    (void)fi;
    if (ino != FUSE_ROOT_ID && layer_of(df, ino) == UINT32_MAX) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fill_stat(df, ino, &st);
    fuse_reply_attr(req, &st, 86400);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (layer_of(files_of(req), ino) == UINT32_MAX) {
        fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        fuse_reply_err(req, EROFS);
        return;
    }
    fi->keep_cache = 1; /* a device never changes: what the kernel cached stays right */
    fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct device_files *df = files_of(req);
    uint32_t i = layer_of(df, ino);
    (void)fi;
    char *buf = i == UINT32_MAX ? NULL : malloc(size ? size : 1);
    if (buf == NULL) {
        fuse_reply_err(req, i == UINT32_MAX ? ENOENT : ENOMEM);
        return;
    }
    uint64_t t = fuse_stats_now();
    atomic_fetch_add(&df->reading, 1);
    int64_t n = soci_erofs_device_pread(df->devices[i], buf, size, (uint64_t)off);
    atomic_store(&df->last_read_ns, fuse_stats_now());
    atomic_fetch_sub(&df->reading, 1);
    if (n < 0) {
        /* The reader gets EIO; why goes to the log once per failed read. */
        daemon_log(SOCI_LOG_ERROR, "layer %u data [%lld, +%zu): %s", i, (long long)off, size, soci_last_error());
        fuse_reply_err(req, EIO);
    } else {
        fuse_reply_buf(req, buf, (size_t)n);
    }
    fuse_stats_add(&df->stats, FOP_READ, t);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct device_files *df = files_of(req);
    (void)fi;
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    char *buf = calloc(1, size ? size : 1);
    size_t used = 0;
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (uint64_t k = (uint64_t)off; k < atomic_load(&df->count); k++) {
        char name[16];
        struct stat st;
        if (df->devices[k] == NULL)
            continue;
        snprintf(name, sizeof(name), "%llu", (unsigned long long)k);
        fill_stat(df, FIRST_FILE + k, &st);
        size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)(k + 1));
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static const struct fuse_lowlevel_ops device_file_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = fuse_fs_forget,
    .forget_multi = fuse_fs_forget_multi,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
    .readdir = op_readdir,
};

static void *serve_devices(void *arg)
{
    struct device_files *df = arg;
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (cfg == NULL)
        return NULL;
    fuse_loop_cfg_set_max_threads(cfg, df->threads ? df->threads : 16);
    fuse_loop_cfg_set_clone_fd(cfg, 1);
    fuse_session_loop_mt(df->se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return NULL;
}

int device_files_start(struct device_files *df, const char *dir, unsigned threads)
{
    static char dash_o[] = "-o", opts[] = "ro,allow_other,default_permissions,fsname=soci-devices,subtype=soci";
    char prog[] = "soci-devices";
    char *argv[] = {prog, dash_o, opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    df->threads = threads;
    df->se = fuse_session_new(&args, &device_file_ops, sizeof(device_file_ops), df);
    fuse_opt_free_args(&args); /* the session keeps copies of what it parsed */
    if (df->se == NULL) {
        fprintf(stderr, "cannot start a FUSE session for the layers' data\n");
        return -1;
    }
    if (fuse_session_mount(df->se, dir) != 0) {
        fprintf(stderr, "cannot mount the layers' data at %s\n", dir);
        return -1;
    }
    df->mounted = true;
    if (pthread_create(&df->thread, NULL, serve_devices, df) != 0) {
        fprintf(stderr, "cannot start the thread serving the layers' data\n");
        return -1;
    }
    df->serving = true;
    return 0;
}

void device_files_stop(struct device_files *df)
{
    if (df->se == NULL)
        return;
    fuse_session_exit(df->se);
    if (df->mounted) {
        fuse_session_unmount(df->se); /* wakes the loop: its reads of /dev/fuse end */
        df->mounted = false;
    }
    if (df->serving)
        pthread_join(df->thread, NULL);
    df->serving = false;
    fuse_session_destroy(df->se);
    df->se = NULL;
}
