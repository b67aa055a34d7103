/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An EROFS metadata image in two passes. Pass one asks the tree for every inode, sizes its
 * attributes and content and places it: inodes one after another from the end of the
 * device table (a node number is the inode's byte offset / 32), an inline tail kept
 * inside one block, content that does not fit inline in blocks after the inodes. Pass two
 * writes into a zeroed buffer of the final size. Every inode is extended (64 bytes: 32-bit
 * owners, 64-bit times); a regular file is chunk-based, its whole data one run of blocks
 * on device 1 at its address there, so nothing of it is copied.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/erofs_write.h"
#include "util/bytes.h"
#include "util/error.h"

#define IMAGE_MAX ((uint64_t)4 << 30) /* no layer's metadata comes near this */
#define SYMLINK_MAX 4095              /* PATH_MAX - 1: what the kernel reads back */
#define BLOCK_DIRENTS_MAX (EROFS_BLKSIZE / (EROFS_DIRENT_SIZE + 1))

struct placed {
    uint64_t pos;     /* the inode's byte offset (its node number * 32) */
    uint64_t dsize;   /* directory or symlink content bytes */
    uint64_t blkaddr; /* flat (not inline) content: its first block */
    uint32_t xsize;   /* inline xattr bytes */
    uint32_t mode;
    uint8_t layout;
};

struct writer {
    const struct erofs_tree *t;
    struct placed *p;
    uint8_t *img; /* pass two */
    uint32_t skipped;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* ---- extended attributes: inline, after the inode ---- */

static const struct {
    const char *prefix;
    uint8_t index;
    bool whole; /* the prefix is the whole name */
} xattr_prefixes[] = {
    {"user.", 1, false},    {"system.posix_acl_access", 2, true}, {"system.posix_acl_default", 3, true},
    {"trusted.", 4, false}, {"security.", 6, false},
};

/* EROFS's name index for name and the rest of the name after it, or 0 for none. */
static uint8_t xattr_index(const char *name, const char **suffix)
{
    for (size_t i = 0; i < sizeof(xattr_prefixes) / sizeof(xattr_prefixes[0]); i++) {
        size_t n = strlen(xattr_prefixes[i].prefix);
        if (strncmp(name, xattr_prefixes[i].prefix, n) != 0)
            continue;
        *suffix = name + n;
        if (xattr_prefixes[i].whole != (name[n] == '\0'))
            return 0;
        return xattr_prefixes[i].index;
    }
    return 0;
}

/* Inode i's inline xattr bytes into *size, and with out (at the inode's end) the bytes. */
static int xattr_body(struct writer *w, uint32_t i, uint8_t *out, uint32_t *size)
{
    const struct erofs_tree *t = w->t;
    uint64_t total = 0;
    for (uint32_t k = 0;; k++) {
        const char *name, *suffix = "";
        const void *value;
        size_t vlen;
        int r = t->xattr(t->ctx, i, k, &name, &value, &vlen);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        uint8_t index = xattr_index(name, &suffix);
        size_t slen = strlen(suffix);
        if (index == 0 || slen > UINT8_MAX || vlen > UINT16_MAX) {
            w->skipped += out == NULL;
            continue;
        }
        if (out != NULL) {
            uint8_t *e = out + EROFS_XATTR_HEADER_SIZE + total;
            e[0] = (uint8_t)slen;
            e[1] = index;
            store_u16le(e + 2, (uint16_t)vlen);
            memcpy(e + 4, suffix, slen);
            if (vlen)
                memcpy(e + 4 + slen, value, vlen);
        }
        total += align_up(4 + slen + vlen, 4);
        /* The count of 4-byte words is 16 bits. */
        if (total > 4 * (uint64_t)(UINT16_MAX - 3))
            return soci_fail(SOCI_ETOOBIG, "EROFS: inode %u has more extended attributes than an inode holds", i);
    }
    *size = total ? (uint32_t)(EROFS_XATTR_HEADER_SIZE + total) : 0;
    return 0;
}

/* ---- directories: blocks of dirents, then their names, "." and ".." among them ---- */

struct dent {
    const char *name;
    size_t len;
    uint32_t inode;
};

struct dir_walk {
    struct writer *w;
    uint32_t dir, k;
    int special; /* "." and ".." given so far */
    bool peeked, done;
    struct dent child;
    const char *prev; /* the last child's name: they must come sorted */
};

static int dir_next(struct dir_walk *d, struct dent *ret)
{
    static const char *const specials[] = {".", ".."};
    const struct erofs_tree *t = d->w->t;
    if (!d->peeked && !d->done) {
        const char *name;
        uint32_t child;
        int r = t->dirent(t->ctx, d->dir, d->k, &name, &child);
        if (r < 0)
            return r;
        if (r == 0) {
            d->done = true;
        } else {
            size_t len = strlen(name);
            if (len == 0 || len > EROFS_NAME_LEN || strchr(name, '/') || strcmp(name, ".") == 0 ||
                strcmp(name, "..") == 0 || child >= t->ninodes || child == 0)
                return soci_fail(SOCI_EFORMAT, "EROFS: directory %u: entry \"%.80s\" cannot be written", d->dir,
                                 name);
            if (d->prev != NULL && strcmp(d->prev, name) >= 0)
                return soci_fail(SOCI_EFORMAT, "EROFS: directory %u: \"%.80s\" out of order", d->dir, name);
            d->prev = name;
            d->child = (struct dent){name, len, child};
            d->peeked = true;
            d->k++;
        }
    }
    if (d->special < 2 && (!d->peeked || strcmp(specials[d->special], d->child.name) < 0)) {
        uint32_t self = d->special == 0 ? d->dir : t->parent(t->ctx, d->dir);
        if (self >= t->ninodes)
            return soci_fail(SOCI_EFORMAT, "EROFS: directory %u has no parent", d->dir);
        *ret = (struct dent){specials[d->special], strlen(specials[d->special]), self};
        d->special++;
        return 1;
    }
    if (!d->peeked)
        return 0;
    d->peeked = false;
    *ret = d->child;
    return 1;
}

static uint8_t file_type(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return 1;
    case S_IFDIR: return 2;
    case S_IFCHR: return 3;
    case S_IFBLK: return 4;
    case S_IFIFO: return 5;
    case S_IFSOCK: return 6;
    case S_IFLNK: return 7;
    default: return 0;
    }
}

static void write_dir_block(const struct writer *w, uint8_t *out, const struct dent *e, uint32_t n)
{
    size_t nameoff = (size_t)n * EROFS_DIRENT_SIZE;
    for (uint32_t j = 0; j < n; j++) {
        uint8_t *de = out + (size_t)j * EROFS_DIRENT_SIZE;
        store_u64le(de, w->p[e[j].inode].pos / EROFS_INODE_SLOT);
        store_u16le(de + 8, (uint16_t)nameoff);
        de[10] = file_type(w->p[e[j].inode].mode);
        memcpy(out + nameoff, e[j].name, e[j].len);
        nameoff += e[j].len;
    }
}

/* Directory dir laid out in blocks: its size in *size, and with out its bytes there (pass
 * two, when every inode's place is known). */
static int dir_blocks(struct writer *w, uint32_t dir, uint8_t *out, uint64_t *size)
{
    struct dent blk[BLOCK_DIRENTS_MAX], e;
    struct dir_walk d = {.w = w, .dir = dir};
    uint32_t n = 0;
    size_t names = 0;
    uint64_t done = 0;
    for (;;) {
        int r = dir_next(&d, &e);
        if (r < 0)
            return r;
        if (r == 1 && (size_t)(n + 1) * EROFS_DIRENT_SIZE + names + e.len <= EROFS_BLKSIZE) {
            blk[n++] = e;
            names += e.len;
            continue;
        }
        if (out != NULL)
            write_dir_block(w, out + done, blk, n);
        if (r == 0) {
            *size = done + (uint64_t)n * EROFS_DIRENT_SIZE + names;
            return 0;
        }
        done += EROFS_BLKSIZE;
        blk[0] = e;
        n = 1;
        names = e.len;
    }
}

/* ---- inodes ---- */

/* The chunk size (as block bits) that holds a file of size bytes in one chunk when it can. */
static uint32_t chunk_bits(uint64_t size)
{
    uint32_t b = 0;
    while (b < EROFS_CHUNK_BLKBITS_MASK && ((uint64_t)EROFS_BLKSIZE << b) < size)
        b++;
    return b;
}

static uint64_t chunk_count(uint64_t size)
{
    uint64_t chunk = (uint64_t)EROFS_BLKSIZE << chunk_bits(size);
    return (size + chunk - 1) / chunk;
}

static int check_inode(const struct erofs_tree *t, uint32_t i, const struct erofs_in_inode *in)
{
    uint32_t type = in->mode & S_IFMT;
    if (file_type(in->mode) == 0 || (i == 0 && type != S_IFDIR))
        return soci_fail(SOCI_EFORMAT, "EROFS: inode %u: mode 0%o", i, in->mode);
    if (type == S_IFLNK && (in->link == NULL || in->link[0] == '\0' || strlen(in->link) > SYMLINK_MAX))
        return soci_fail(SOCI_EFORMAT, "EROFS: inode %u: a symlink without a target of 1 to %d bytes", i,
                         SYMLINK_MAX);
    if ((type == S_IFCHR || type == S_IFBLK) && (in->rdev_major > 0xfff || in->rdev_minor > 0xfffff))
        return soci_fail(SOCI_EFORMAT, "EROFS: inode %u: device %u:%u out of range", i, in->rdev_major,
                         in->rdev_minor);
    if (type == S_IFREG && in->size > 0) {
        uint64_t end;
        if (in->data_addr % EROFS_BLKSIZE != 0 || add_overflows(in->data_addr, in->size, &end) ||
            end > t->data_size || align_up(end, EROFS_BLKSIZE) / EROFS_BLKSIZE > UINT32_MAX)
            return soci_fail(SOCI_EFORMAT,
                             "EROFS: inode %u: data [%llu, +%llu) not at a block boundary inside the %llu-byte data device",
                             i, (unsigned long long)in->data_addr, (unsigned long long)in->size,
                             (unsigned long long)t->data_size);
    }
    return 0;
}

/* Pass one for inode i: its sizes and layout, placed at *cursor (moved past it). */
static int place_inode(struct writer *w, uint32_t i, uint64_t *cursor)
{
    const struct erofs_tree *t = w->t;
    struct placed *p = &w->p[i];
    struct erofs_in_inode in;
    int r;
    if ((r = t->inode(t->ctx, i, &in)) < 0 || (r = check_inode(t, i, &in)) < 0 ||
        (r = xattr_body(w, i, NULL, &p->xsize)) < 0)
        return r;
    p->mode = in.mode;
    uint32_t type = in.mode & S_IFMT;
    if (type == S_IFDIR && (r = dir_blocks(w, i, NULL, &p->dsize)) < 0)
        return r;
    if (type == S_IFLNK)
        p->dsize = strlen(in.link);
    uint64_t meta = EROFS_INODE_EXTENDED_SIZE + p->xsize;
    uint64_t pos = align_up(*cursor, EROFS_INODE_SLOT), extent = meta;
    if (type == S_IFDIR || type == S_IFLNK) {
        /* Content that fits after the inode in its block goes there, never across blocks. */
        if (meta + p->dsize <= EROFS_BLKSIZE) {
            p->layout = EROFS_LAYOUT_FLAT_INLINE;
            if (pos % EROFS_BLKSIZE + meta + p->dsize > EROFS_BLKSIZE)
                pos = align_up(pos, EROFS_BLKSIZE);
            extent += p->dsize;
        } else {
            p->layout = EROFS_LAYOUT_FLAT_PLAIN;
        }
    } else if (type == S_IFREG && in.size > 0) {
        p->layout = EROFS_LAYOUT_CHUNK_BASED;
        extent = align_up(pos + meta, EROFS_CHUNK_INDEX_SIZE) - pos + chunk_count(in.size) * EROFS_CHUNK_INDEX_SIZE;
    } else {
        p->layout = EROFS_LAYOUT_FLAT_PLAIN;
    }
    p->pos = pos;
    *cursor = pos + extent;
    if (*cursor > IMAGE_MAX)
        return soci_fail(SOCI_ETOOBIG, "EROFS: metadata past %llu bytes", (unsigned long long)IMAGE_MAX);
    return 0;
}

static uint32_t encode_dev(uint32_t major, uint32_t minor)
{
    return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

/* Pass two for inode i. */
static int write_inode(struct writer *w, uint32_t i)
{
    const struct erofs_tree *t = w->t;
    const struct placed *p = &w->p[i];
    struct erofs_in_inode in;
    uint32_t xsize;
    int r;
    if ((r = t->inode(t->ctx, i, &in)) < 0)
        return r;
    uint8_t *d = w->img + p->pos, *tail = d + EROFS_INODE_EXTENDED_SIZE + p->xsize;
    uint32_t type = in.mode & S_IFMT, iu = 0;
    uint64_t size = type == S_IFDIR || type == S_IFLNK ? p->dsize : type == S_IFREG ? in.size : 0;
    uint8_t *content = p->layout == EROFS_LAYOUT_FLAT_INLINE ? tail : w->img + p->blkaddr * EROFS_BLKSIZE;
    if (p->layout == EROFS_LAYOUT_FLAT_PLAIN && (type == S_IFDIR || type == S_IFLNK))
        iu = (uint32_t)p->blkaddr;
    if (type == S_IFCHR || type == S_IFBLK)
        iu = encode_dev(in.rdev_major, in.rdev_minor);
    if (type == S_IFDIR) {
        uint64_t again;
        if ((r = dir_blocks(w, i, content, &again)) < 0)
            return r;
        if (again != p->dsize)
            return soci_fail(SOCI_EFORMAT, "EROFS: directory %u changed while written", i);
    }
    if (type == S_IFLNK)
        memcpy(content, in.link, p->dsize);
    if (p->layout == EROFS_LAYOUT_CHUNK_BASED) {
        uint32_t bits = chunk_bits(in.size);
        uint64_t n = chunk_count(in.size), step = (uint64_t)1 << bits;
        uint8_t *idx = w->img + align_up(p->pos + EROFS_INODE_EXTENDED_SIZE + p->xsize, EROFS_CHUNK_INDEX_SIZE);
        iu = bits | EROFS_CHUNK_FORMAT_INDEXES; /* chunk_info.format; its reserved half stays 0 */
        for (uint64_t k = 0; k < n; k++) {
            store_u16le(idx + k * EROFS_CHUNK_INDEX_SIZE + 2, 1); /* device 1: the layer */
            store_u32le(idx + k * EROFS_CHUNK_INDEX_SIZE + 4, (uint32_t)(in.data_addr / EROFS_BLKSIZE + k * step));
        }
    }
    if (p->xsize && (r = xattr_body(w, i, d + EROFS_INODE_EXTENDED_SIZE, &xsize)) < 0)
        return r;
    store_u16le(d, (uint16_t)(1 | p->layout << 1)); /* extended inode */
    store_u16le(d + 2, (uint16_t)(p->xsize ? (p->xsize - EROFS_XATTR_HEADER_SIZE) / 4 + 1 : 0));
    store_u16le(d + 4, (uint16_t)in.mode);
    store_u64le(d + 8, size);
    store_u32le(d + 16, iu);
    store_u32le(d + 20, i + 1);
    store_u32le(d + 24, in.uid);
    store_u32le(d + 28, in.gid);
    store_u64le(d + 32, (uint64_t)in.mtime);
    store_u32le(d + 40, in.mtime_nsec);
    store_u32le(d + 44, in.nlink);
    return 0;
}

static void write_super(const struct writer *w, size_t len)
{
    const struct erofs_tree *t = w->t;
    uint8_t *sb = w->img + EROFS_SUPER_OFFSET, *dev = w->img + EROFS_DEVT_OFFSET;
    store_u32le(sb, EROFS_SUPER_MAGIC);
    sb[12] = EROFS_BLKBITS;
    store_u16le(sb + 14, (uint16_t)(w->p[0].pos / EROFS_INODE_SLOT)); /* root_nid */
    store_u64le(sb + 16, t->ninodes);
    store_u32le(sb + 36, (uint32_t)(len / EROFS_BLKSIZE));
    memcpy(sb + 64, "soci", 4);
    store_u32le(sb + 80, EROFS_INCOMPAT_CHUNKED_FILE | EROFS_INCOMPAT_DEVICE_TABLE);
    store_u16le(sb + 86, 1); /* extra_devices */
    store_u16le(sb + 88, EROFS_DEVT_OFFSET / EROFS_DEVT_SLOT_SIZE);
    size_t tag = t->data_tag ? strlen(t->data_tag) : 0;
    memcpy(dev, t->data_tag, tag < 64 ? tag : 64);
    store_u32le(dev + 64, (uint32_t)(align_up(t->data_size, EROFS_BLKSIZE) / EROFS_BLKSIZE));
}

int erofs_write(const struct erofs_tree *t, uint8_t **ret, size_t *ret_len, uint32_t *skipped_xattrs)
{
    if (t == NULL || ret == NULL || ret_len == NULL || t->ninodes == 0)
        return soci_fail(SOCI_EINVAL, "erofs_write: bad arguments");
    if (align_up(t->data_size, EROFS_BLKSIZE) / EROFS_BLKSIZE > UINT32_MAX)
        return soci_fail(SOCI_ETOOBIG, "EROFS: a %llu-byte data device is past 16 TiB of 4 KiB blocks",
                         (unsigned long long)t->data_size);
    struct writer w = {.t = t, .p = calloc(t->ninodes, sizeof(*w.p))};
    if (w.p == NULL)
        return soci_fail_nomem("EROFS inodes");
    int r = 0;
    uint64_t cursor = EROFS_DEVT_OFFSET + EROFS_DEVT_SLOT_SIZE;
    for (uint32_t i = 0; i < t->ninodes && r == 0; i++)
        r = place_inode(&w, i, &cursor);
    /* Content too large to sit inline: whole blocks after the inodes. */
    cursor = align_up(cursor, EROFS_BLKSIZE);
    for (uint32_t i = 0; i < t->ninodes && r == 0; i++) {
        struct placed *p = &w.p[i];
        if (p->layout != EROFS_LAYOUT_FLAT_PLAIN || p->dsize == 0)
            continue;
        p->blkaddr = cursor / EROFS_BLKSIZE;
        cursor += align_up(p->dsize, EROFS_BLKSIZE);
        if (cursor > IMAGE_MAX)
            r = soci_fail(SOCI_ETOOBIG, "EROFS: metadata past %llu bytes", (unsigned long long)IMAGE_MAX);
    }
    if (r == 0 && w.p[0].pos / EROFS_INODE_SLOT > UINT16_MAX)
        r = soci_fail(SOCI_EFORMAT, "EROFS: the root inode is out of reach"); /* it is placed first */
    if (r == 0 && (w.img = calloc(1, (size_t)cursor)) == NULL)
        r = soci_fail_nomem("EROFS image");
    for (uint32_t i = 0; i < t->ninodes && r == 0; i++)
        r = write_inode(&w, i);
    if (r == 0) {
        write_super(&w, (size_t)cursor);
        *ret = w.img;
        *ret_len = (size_t)cursor;
        if (skipped_xattrs)
            *skipped_xattrs = w.skipped;
    } else {
        free(w.img);
    }
    free(w.p);
    return r;
}
