/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-store: an additional layer store for podman and CRI-O (containers/storage), served
 * with FUSE. The engine looks up STORE/<base64(image reference)>/<layer digest>/ while it
 * pulls an image and, where it finds `diff/`, `info` and `blob` there, uses `diff/` as
 * the layer's overlayfs lower directory instead of downloading the layer.
 *
 * The tree:
 *   /                       the store
 *   /<b64ref>/              one image reference (a name podman builds; nothing fetched yet)
 *   /<b64ref>/<digest>/     one layer of it, resolved on lookup: its SOCI zTOC or own TOC
 *   .../diff/               the layer's own tree, whiteouts in overlayfs form, read lazily
 *   .../info                JSON for containers/storage (diff-digest from the image config)
 *   .../blob                the compressed layer, read through from the registry
 *
 * Inode numbers carry what they name in their high bits (store_ino.h): the kind of node,
 * and the reference, binding or layer it belongs to; a layer's tree keeps libsoci's own
 * numbers in the low 32 bits.
 */
#ifndef SOCI_STORE_H
#define SOCI_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "fuse_fs.h"

/* Inodes: kind in bits 60-63, a table index in bits 32-59, a layer tree's inode below. */
enum store_kind { KIND_ROOT = 0, KIND_REF = 1, KIND_BINDING = 2, KIND_INFO = 3, KIND_BLOB = 4, KIND_DIFF = 5 };
#define STORE_INO(kind, index, low) (((uint64_t)(kind) << 60) | ((uint64_t)(index) << 32) | (uint64_t)(low))
#define STORE_KIND(ino) ((enum store_kind)((ino) >> 60))
#define STORE_INDEX(ino) ((uint32_t)(((ino) >> 32) & 0x0FFFFFFFu))
#define STORE_LOW(ino) ((uint64_t)(ino)&FUSE_FS_INO_MASK)

/* Bounds: a flood of lookups cannot grow the store's tables without end. */
#define STORE_MAX_REFS 4096
#define STORE_MAX_LAYERS 16384
#define STORE_MAX_BINDINGS 65536
#define STORE_REF_MAX 512 /* bytes of an image reference */

/* One layer, shared by every image that has it (by compressed digest). */
struct store_layer {
    char digest[80];      /* the manifest's layer digest */
    char toc_digest[80];  /* eStargz / zstd:chunked TOC digest, "" for others */
    char ref[STORE_REF_MAX]; /* the image it was first resolved through (its blob's repository) */
    uint64_t size;
    soci_fs *fs;          /* its own tree, overlay whiteouts */
    soci_layer *layer;    /* its reads, owned by the image (safe on any thread): the figures */
    char *info;           /* the info file's JSON */
    size_t info_len;
    pthread_mutex_t blob_lock;
    soci_blob *blob;      /* the compressed layer from the registry, opened on first read */
    atomic_int uses;      /* `use` files created minus rmdir() calls: the engine's hold on it */
    char kernel_dir[256]; /* --kernel: its EROFS mount, where `diff` links to; "" = diff/ over FUSE */
};

/* One image reference as podman names it. */
struct store_ref {
    char name[STORE_REF_MAX]; /* the decoded reference */
    char b64[4 * ((STORE_REF_MAX + 2) / 3) + 1];
    soci_image *img;          /* opened on the first layer lookup, NULL until then */
    time_t opened_at;         /* when img was opened */
    uint32_t layers_through;  /* layers published through img (which owns them) */
};

/* An image given up by a refresh while layers opened through it are still served. */
struct store_retired {
    soci_image *img;
    struct store_retired *next;
};

/* A layer under a reference: the directory <b64ref>/<digest>. */
struct store_binding {
    uint32_t ref, layer;
    char name[80]; /* the name it was looked up by: the layer digest or its TOC digest */
};

struct store {
    soci_registry *reg;
    soci_cache *cache;
    const soci_config *cfg;
    bool background_fetch;
    pthread_mutex_t lock; /* the tables below; held across resolution (network) */
    struct store_ref *refs[STORE_MAX_REFS];
    struct store_layer *layers[STORE_MAX_LAYERS];
    struct store_binding *bindings[STORE_MAX_BINDINGS];
    _Atomic uint32_t nrefs, nlayers, nbindings;
    struct store_retired *retired;
    struct store_kernel *kernel; /* --kernel, else NULL */
};

/* The FUSE operations (store_ops.c); userdata is the struct store. */
extern const struct fuse_lowlevel_ops store_ops;

/* Names (store_names.c). Decode a directory name of the store into the image reference it
 * stands for: standard base64 with padding, decoding to a fully qualified reference
 * (host with a dot or port, or localhost, then a path): 0, or -1 (not one: ENOENT). */
int store_decode_ref(const char *b64, char *out, size_t out_size);

/* Resolution (store_layers.c): the reference entry for a b64 name (made on first sight),
 * or -1 for a name that is not one or a full table (logged). */
int store_find_ref(struct store *s, const char *b64, uint32_t *ret);

/* The binding for layer `name` (a layer digest, or the TOC digest newer engines look up by)
 * of reference ref: the image opened and the layer resolved on first sight. -1 when the
 * layer cannot be served lazily, the image has no such layer, or the registry fails (all
 * logged: the engine then pulls the layer itself). */
int store_find_binding(struct store *s, uint32_t ref, const char *name, uint32_t *ret);

/* Table entries by index, or NULL (published entries never move or go away). */
struct store_ref *store_ref_at(struct store *s, uint32_t i);
struct store_layer *store_layer_at(struct store *s, uint32_t i);
struct store_binding *store_binding_at(struct store *s, uint32_t i);

/* Read the layer's compressed bytes (the blob file): bytes read, or a negative SOCI_E*. */
int64_t store_read_blob(struct store *s, struct store_layer *l, void *buf, size_t len, uint64_t off);

/* The store's figures (store_stats.c), read while it serves: the library's counters as
 * soci-mount's --stats-file names them (fuse_stats.h), summed over the store. */
int store_counter(void *store, int which, uint64_t *ret);

/* Write them to path as JSON: 0, or -1 with errno. */
int store_stats_write(struct store *s, const char *path);

/* Them as Prometheus text, and the store's references and layers with them as JSON: a
 * string to free(), or NULL when out of memory. */
char *store_metrics_text(struct store *s);
char *store_status_json(struct store *s);

/* --listen (store_http.c): GET /metrics and GET /status over HTTP. The socket is bound
 * before the daemon forks, so a bad address or a port in use fails the start: a listening
 * socket on an IPv4 ADDRESS:PORT, or -1 after saying why (also when the store was built
 * without libmicrohttpd). The server runs in the daemon: NULL when it cannot (logged). */
struct store_http;
int store_http_listen(const char *address);
struct store_http *store_http_start(struct store *s, int fd);
void store_http_stop(struct store_http *h);

/* Free every table entry (at shutdown, after the FUSE loop). */
void store_free(struct store *s);

/* soci-store --kernel (store_kernel.c): layers as EROFS mounts, `diff` a link to one. */
struct store_kernel;

/* In the foreground, before serving: take down what a killed store left, make the runtime
 * directory. An exit status (0 to go on) after saying why. */
int store_kernel_prepare(struct store *s, const char *store_dir, const char *cache_dir, bool use_loop,
                         unsigned threads);

/* In the daemon, before serving: the pid file and the data devices' FUSE files. 0, or -1
 * (logged; layers then keep diff/ over FUSE). */
int store_kernel_start(struct store *s);

/* Layer `index` of the store (image layer i of img), being published: its EROFS image made
 * or reused and mounted, l->kernel_dir set; on failure (logged) it keeps diff/ over FUSE.
 * Called with the store's lock held; nothing here takes it. */
void store_kernel_layer(struct store *s, struct store_layer *l, uint32_t index, soci_image *img, uint32_t i);

/* After serving: every mount detached, the runtime directory removed. */
void store_kernel_stop(struct store *s);
void store_kernel_free(struct store *s);

#endif
