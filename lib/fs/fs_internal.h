/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image filesystem inside: the merged tree (built once by overlay.c, read-only
 * afterwards), the operations on it (image_fs.c) and background fetching (fs_background.c).
 */
#ifndef SOCI_FS_INTERNAL_H
#define SOCI_FS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <soci/fs.h>

#include "format/ztoc_internal.h"

#define FS_IMPLIED UINT32_MAX /* fs_inode.layer of a directory no layer lists */
#define BG_THREADS 4          /* background fetching's threads */

struct fs_inode {
    uint32_t layer;  /* the layer whose entry describes it, or FS_IMPLIED */
    uint32_t entry;  /* that entry (a hard link's target, resolved) */
    uint32_t dentry; /* a name of it; for a directory, its only one */
    uint32_t nlink;
    uint32_t mode;   /* type bits and permissions */
};

struct fs_dentry {
    const char *name; /* usually the tail of a zTOC entry's cleaned path (owns_name false) */
    uint32_t parent; /* the root is its own parent */
    uint32_t inode;
    uint32_t *children; /* directories: child dentries, sorted by name once built */
    uint32_t nchildren, cap;
    bool live;
    bool owns_name;
};

/* A span of the tree's layer `layer`. */
struct fs_span {
    uint32_t layer, span;
};

struct soci_fs {
    soci_image *img;     /* the image the layers are of, or NULL (soci_fs_open_layers) */
    uint32_t img_first;  /* the image's index of layers[0] */
    uint32_t nlayers;
    soci_layer **layers;
    const soci_ztoc **ztocs;

    struct fs_inode *inodes; /* inode number n is inodes[n - 1]; the root is 1 */
    uint32_t ninodes;
    struct fs_dentry *dentries; /* dentries[0] is the root */
    uint32_t ndentries;
    void *by_name; /* (parent dentry, name) -> dentry, a hash table (overlay.c) */
    uint64_t data_bytes;
    bool keep_whiteouts;    /* whiteout entries are plain files, not applied */
    bool overlay_whiteouts; /* whiteouts in overlayfs form, not applied */
    /* With overlay_whiteouts: a directory a layer recreates after its own whiteout of the
     * name is opaque (the OCI layer rules, umoci, the merged tree: what lay below is gone).
     * Off for soci-store, whose layers must show what podman's own extraction shows: it
     * replaces the whiteout with a plain directory, and the lower contents stay visible. */
    bool recreated_dirs_opaque;
    /* With overlay_whiteouts: an opaque directory lists trusted.overlay.opaque and, unless
     * this is set, user.overlay.opaque (for overlayfs mounted with userxattr, as over FUSE
     * lower layers). Set for EROFS images: overlayfs mounted by root reads and hides the
     * trusted. one, and a user. one would show through as an attribute. */
    bool trusted_opaque_only;
    uint32_t *opaque_dirs;  /* overlay_whiteouts: dentries of opaque directories, sorted */
    uint32_t nopaque;

    /* Background fetching (fs_background.c): its threads, started and stopped under
     * bg_control; the next job, under bg_lock (a layer index + 1 counting down, and a
     * span in it). */
    pthread_mutex_t bg_control, bg_lock;
    pthread_t bg_thread[BG_THREADS];
    unsigned bg_threads;
    uint32_t bg_layer, bg_next;
    atomic_bool bg_stop;
    atomic_uint bg_active;
    atomic_uint_fast64_t bg_spans;
    struct decode_ahead *decode_ahead; /* fs_decode_ahead.c's plan and thread; under bg_control */
    /* The spans the last learned prefetch fetched, in its order (what a start needs first,
     * first; fs_prefetch.c), for soci_erofs_device_planned; under bg_control. */
    struct fs_span *planned;
    size_t nplanned;
    atomic_bool decode_ahead_planned;  /* a plan waits for the first read to start it */
};

/* The entry behind an inode, or NULL for an implied directory. */
static inline const struct soci_entry *fs_entry(const struct soci_fs *fs, const struct fs_inode *in)
{
    if (in->layer == FS_IMPLIED)
        return NULL;
    return &fs->ztocs[in->layer]->entries[in->entry].pub;
}

/* A symlink's target ("" for anything without an entry). */
static inline const char *fs_linkname(const struct soci_fs *fs, const struct fs_inode *in)
{
    const struct soci_entry *e = fs_entry(fs, in);
    return e ? e->linkname : "";
}

#define FS_NO_DENTRY UINT32_MAX

/* The live dentry called name (len bytes) in directory dentry parent, or FS_NO_DENTRY:
 * one hash probe, whatever the directory's size (overlay.c). */
uint32_t fs_child_find(const struct soci_fs *fs, uint32_t parent, const char *name, size_t len);

/* The tree of one zTOC alone, no layer to read it (soci_erofs_write): its structure and
 * metadata only. flags as for soci_fs_open_layers; opacity is trusted.overlay.opaque
 * alone, and recreated directories are opaque if asked (see recreated_dirs_opaque). */
int fs_open_ztoc(const soci_ztoc *z, unsigned flags, bool recreated_dirs_opaque, soci_fs **ret);

/* The EROFS image of z (soci_erofs_write without reading it back: for the fuzz harness,
 * which checks it and stops on a fault), and the size of its data device (fs_erofs.c).
 * flags: soci_erofs_write's. */
int fs_erofs_image(const soci_ztoc *z, soci_fs *below, const char *device_tag, unsigned flags, uint8_t **ret,
                   size_t *ret_len, uint64_t *device_size);

/* Read entry of fs's layer `layer` as a reader of the tree: a learned decode-ahead plan
 * starts at the first read, background fetching waits while reads go on (image_fs.c).
 * ahead: with the layer's read-ahead (soci_layer_pread), else exactly these bytes' spans
 * (layer_pread_exact). */
int64_t fs_layer_pread(soci_fs *fs, uint32_t layer, uint32_t entry, void *buf, size_t len, uint64_t off,
                       bool ahead);

/* Build the merged tree from fs->ztocs (overlay.c). */
int overlay_build(struct soci_fs *fs);

/* Whether the directory with dentry d is opaque (overlay_whiteouts only). */
bool overlay_is_opaque(const struct soci_fs *fs, uint32_t d);
void overlay_free(struct soci_fs *fs);

/* Stop background fetching if it runs (fs_background.c). */
void fs_background_stop(struct soci_fs *fs);

/* Plan to decode spans into the memory cache, in this order, ahead of reads
 * (fs_decode_ahead.c), replacing a plan or thread there was; takes order (malloc'd) in any
 * case. fs_decode_ahead_begin, at the first read after, starts the plan's thread. */
int fs_decode_ahead_plan(struct soci_fs *fs, struct fs_span *order, size_t n);
void fs_decode_ahead_begin(struct soci_fs *fs);
void fs_decode_ahead_stop(struct soci_fs *fs);

#endif
