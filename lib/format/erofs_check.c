/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading an EROFS image back as the kernel would, and refusing anything the writer must
 * never produce: the fuzz harness runs every image the writer makes through this, and the
 * tests run it beside Debian's fsck.erofs. Every offset is bounded before use; the walk
 * marks each node number it visits, so a directory reached twice (a cycle, a directory
 * hard link) is a fault, not a loop.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/erofs_write.h"
#include "util/bytes.h"
#include "util/error.h"

struct inode_info {
    uint64_t nid, pos, size;
    uint64_t content; /* directory or symlink bytes: their offset in the image */
    uint32_t mode, xsize;
    uint8_t layout;
};

struct checker {
    const uint8_t *img;
    size_t len;
    uint64_t data_size;
    uint8_t *seen; /* a bit per node number */
    uint64_t *stack; /* directories to walk: node number, parent's node number */
    size_t nstack;
};

#define FAULT(...) soci_fail(SOCI_EFORMAT, "EROFS image: " __VA_ARGS__)

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static bool in_image(const struct checker *c, uint64_t off, uint64_t n)
{
    return range_ok(off, n, c->len);
}

static int check_xattrs(const struct checker *c, uint64_t nid, uint64_t at, uint32_t xsize)
{
    uint64_t p = at + EROFS_XATTR_HEADER_SIZE, end = at + xsize;
    if (c->img[at + 4] != 0)
        return FAULT("inode %llu: shared xattrs", (unsigned long long)nid);
    while (p < end) {
        if (end - p < 4)
            return FAULT("inode %llu: a cut xattr entry", (unsigned long long)nid);
        uint8_t name_len = c->img[p], index = c->img[p + 1];
        uint64_t size = align_up(4 + (uint64_t)name_len + load_u16le(c->img + p + 2), 4);
        if (index == 0 || index == 5 || index > 6 || size > end - p)
            return FAULT("inode %llu: xattr entry at %llu (index %u, %llu bytes)", (unsigned long long)nid,
                         (unsigned long long)p, index, (unsigned long long)size);
        p += size;
    }
    return 0;
}

static int check_chunks(const struct checker *c, const struct inode_info *ii, uint32_t iu)
{
    uint32_t format = iu & 0xffff, bits = format & EROFS_CHUNK_BLKBITS_MASK;
    if ((format & ~(EROFS_CHUNK_BLKBITS_MASK | EROFS_CHUNK_FORMAT_INDEXES)) || !(format & EROFS_CHUNK_FORMAT_INDEXES) ||
        (iu >> 16) != 0)
        return FAULT("inode %llu: chunk format 0x%x", (unsigned long long)ii->nid, iu);
    uint64_t chunk = (uint64_t)EROFS_BLKSIZE << bits, n = (ii->size + chunk - 1) / chunk;
    uint64_t idx = align_up(ii->pos + EROFS_INODE_EXTENDED_SIZE + ii->xsize, EROFS_CHUNK_INDEX_SIZE);
    if (n > c->len / EROFS_CHUNK_INDEX_SIZE || !in_image(c, idx, n * EROFS_CHUNK_INDEX_SIZE))
        return FAULT("inode %llu: %llu chunk indexes out of the image", (unsigned long long)ii->nid,
                     (unsigned long long)n);
    for (uint64_t k = 0; k < n; k++) {
        const uint8_t *e = c->img + idx + k * EROFS_CHUNK_INDEX_SIZE;
        uint16_t device = load_u16le(e + 2);
        uint64_t addr = (uint64_t)load_u32le(e + 4) * EROFS_BLKSIZE;
        uint64_t bytes = ii->size - k * chunk < chunk ? ii->size - k * chunk : chunk;
        uint64_t limit = device == 1 ? align_up(c->data_size, EROFS_BLKSIZE) : c->len;
        if (load_u16le(e) != 0 || device > 1 || !range_ok(addr, bytes, limit))
            return FAULT("inode %llu: chunk %llu (device %u, [%llu, +%llu)) outside its device of %llu bytes",
                         (unsigned long long)ii->nid, (unsigned long long)k, device, (unsigned long long)addr,
                         (unsigned long long)bytes, (unsigned long long)limit);
    }
    return 0;
}

static int read_inode(const struct checker *c, uint64_t nid, struct inode_info *ii)
{
    uint64_t pos = nid * EROFS_INODE_SLOT;
    if (nid > c->len / EROFS_INODE_SLOT || pos < EROFS_DEVT_OFFSET + EROFS_DEVT_SLOT_SIZE ||
        !in_image(c, pos, EROFS_INODE_EXTENDED_SIZE))
        return FAULT("inode %llu out of the metadata area", (unsigned long long)nid);
    const uint8_t *d = c->img + pos;
    uint16_t format = load_u16le(d), icount = load_u16le(d + 2);
    *ii = (struct inode_info){.nid = nid, .pos = pos, .mode = load_u16le(d + 4), .size = load_u64le(d + 8),
                              .layout = (uint8_t)((format >> 1) & 7)};
    ii->xsize = icount ? EROFS_XATTR_HEADER_SIZE + 4u * (icount - 1u) : 0;
    uint32_t iu = load_u32le(d + 16), type = ii->mode & S_IFMT;
    if ((format & 1) == 0 || (format >> 4) != 0)
        return FAULT("inode %llu: format 0x%x (libsoci writes extended inodes only)", (unsigned long long)nid, format);
    if (!in_image(c, pos + EROFS_INODE_EXTENDED_SIZE, ii->xsize))
        return FAULT("inode %llu: xattrs past the image", (unsigned long long)nid);
    int r;
    if (ii->xsize && (r = check_xattrs(c, nid, pos + EROFS_INODE_EXTENDED_SIZE, ii->xsize)) < 0)
        return r;
    uint64_t tail = pos + EROFS_INODE_EXTENDED_SIZE + ii->xsize;
    switch (ii->layout) {
    case EROFS_LAYOUT_FLAT_INLINE:
        if (type != S_IFDIR && type != S_IFLNK)
            return FAULT("inode %llu: inline data in mode 0%o", (unsigned long long)nid, ii->mode);
        if (tail % EROFS_BLKSIZE + ii->size > EROFS_BLKSIZE || !in_image(c, tail, ii->size))
            return FAULT("inode %llu: inline data crosses its block", (unsigned long long)nid);
        ii->content = tail;
        break;
    case EROFS_LAYOUT_FLAT_PLAIN:
        if (type == S_IFREG && ii->size > 0)
            return FAULT("inode %llu: file data in the metadata image", (unsigned long long)nid);
        ii->content = (uint64_t)iu * EROFS_BLKSIZE;
        if ((type == S_IFDIR || type == S_IFLNK) && !in_image(c, ii->content, ii->size))
            return FAULT("inode %llu: data blocks out of the image", (unsigned long long)nid);
        break;
    case EROFS_LAYOUT_CHUNK_BASED:
        if (type != S_IFREG)
            return FAULT("inode %llu: chunks in mode 0%o", (unsigned long long)nid, ii->mode);
        if ((r = check_chunks(c, ii, iu)) < 0)
            return r;
        break;
    default: return FAULT("inode %llu: data layout %u", (unsigned long long)nid, ii->layout);
    }
    switch (type) {
    case S_IFDIR:
        if (ii->size == 0)
            return FAULT("directory %llu is empty (no \".\")", (unsigned long long)nid);
        break;
    case S_IFLNK:
        if (ii->size == 0 || ii->size > 4095 || memchr(c->img + ii->content, 0, ii->size) != NULL)
            return FAULT("symlink %llu: a target of %llu bytes", (unsigned long long)nid,
                         (unsigned long long)ii->size);
        break;
    case S_IFREG: break;
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
        if (ii->size != 0)
            return FAULT("inode %llu: a special file of %llu bytes", (unsigned long long)nid,
                         (unsigned long long)ii->size);
        break;
    default: return FAULT("inode %llu: mode 0%o", (unsigned long long)nid, ii->mode);
    }
    return 0;
}

static const uint8_t type_of_mode[16] = {
    [S_IFREG >> 12] = 1, [S_IFDIR >> 12] = 2, [S_IFCHR >> 12] = 3, [S_IFBLK >> 12] = 4,
    [S_IFIFO >> 12] = 5, [S_IFSOCK >> 12] = 6, [S_IFLNK >> 12] = 7,
};

static bool test_and_set(uint8_t *bits, uint64_t n)
{
    bool was = bits[n / 8] & (1u << (n % 8));
    bits[n / 8] |= (uint8_t)(1u << (n % 8));
    return was;
}

/* One entry of directory dir: its target visited (directories queued), "." and ".." right. */
static int check_dirent(struct checker *c, const struct inode_info *dir, uint64_t parent, const uint8_t *de,
                        const char *name, size_t len)
{
    uint64_t nid = load_u64le(de);
    struct inode_info ii;
    int r;
    if (len == 1 && name[0] == '.')
        return nid == dir->nid ? 0 : FAULT("directory %llu: \".\" is %llu", (unsigned long long)dir->nid,
                                          (unsigned long long)nid);
    if (len == 2 && name[0] == '.' && name[1] == '.')
        return nid == parent ? 0 : FAULT("directory %llu: \"..\" is %llu", (unsigned long long)dir->nid,
                                        (unsigned long long)nid);
    if (nid >= (uint64_t)c->len / EROFS_INODE_SLOT)
        return FAULT("directory %llu: entry at node %llu", (unsigned long long)dir->nid, (unsigned long long)nid);
    bool seen = test_and_set(c->seen, nid);
    if ((r = read_inode(c, nid, &ii)) < 0)
        return r;
    if (de[10] != type_of_mode[(ii.mode & S_IFMT) >> 12])
        return FAULT("directory %llu: \"%.*s\" has file type %u, its inode mode 0%o", (unsigned long long)dir->nid,
                     (int)len, name, de[10], ii.mode);
    if (S_ISDIR(ii.mode)) {
        if (seen)
            return FAULT("directory %llu reached twice", (unsigned long long)nid);
        c->stack[c->nstack++] = nid;
        c->stack[c->nstack++] = dir->nid;
    }
    return 0;
}

/* Byte order, a prefix first: how the kernel's lookup compares names. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);
    return r ? r : (alen > blen) - (alen < blen);
}

static int check_dir(struct checker *c, uint64_t nid, uint64_t parent)
{
    struct inode_info dir;
    int r;
    if ((r = read_inode(c, nid, &dir)) < 0)
        return r;
    if (!S_ISDIR(dir.mode))
        return FAULT("inode %llu is not a directory", (unsigned long long)nid);
    const char *prev = NULL;
    size_t prev_len = 0;
    int specials = 0;
    for (uint64_t start = 0; start < dir.size; start += EROFS_BLKSIZE) {
        const uint8_t *blk = c->img + dir.content + start;
        uint64_t max = dir.size - start < EROFS_BLKSIZE ? dir.size - start : EROFS_BLKSIZE;
        if (max < EROFS_DIRENT_SIZE)
            return FAULT("directory %llu: a block of %llu bytes", (unsigned long long)nid, (unsigned long long)max);
        uint32_t first = load_u16le(blk + 8), n = first / EROFS_DIRENT_SIZE;
        if (first % EROFS_DIRENT_SIZE || n == 0 || first >= max)
            return FAULT("directory %llu: first name at %u", (unsigned long long)nid, first);
        for (uint32_t j = 0; j < n; j++) {
            const uint8_t *de = blk + (size_t)j * EROFS_DIRENT_SIZE;
            uint32_t off = load_u16le(de + 8);
            uint64_t end = j + 1 < n ? load_u16le(de + EROFS_DIRENT_SIZE + 8) : max;
            if (off < first || end > max || off >= end)
                return FAULT("directory %llu: name offsets %u..%llu", (unsigned long long)nid, off,
                             (unsigned long long)end);
            const char *name = (const char *)blk + off;
            size_t len = j + 1 < n ? end - off : strnlen(name, end - off);
            if (len == 0 || len > EROFS_NAME_LEN || memchr(name, '/', len) || memchr(name, 0, len))
                return FAULT("directory %llu: a name of %zu bytes at %u", (unsigned long long)nid, len, off);
            if (prev != NULL && name_cmp(prev, prev_len, name, len) >= 0)
                return FAULT("directory %llu: \"%.*s\" out of order", (unsigned long long)nid, (int)len, name);
            prev = name;
            prev_len = len;
            specials += (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.');
            if ((r = check_dirent(c, &dir, parent, de, name, len)) < 0)
                return r;
        }
    }
    return specials == 2 ? 0 : FAULT("directory %llu lacks \".\" or \"..\"", (unsigned long long)nid);
}

static int check_super(const struct checker *c, uint64_t *root)
{
    if (c->len < EROFS_DEVT_OFFSET + EROFS_DEVT_SLOT_SIZE || c->len % EROFS_BLKSIZE)
        return FAULT("%zu bytes", c->len);
    const uint8_t *sb = c->img + EROFS_SUPER_OFFSET;
    uint32_t incompat = load_u32le(sb + 80);
    if (load_u32le(sb) != EROFS_SUPER_MAGIC || sb[12] != EROFS_BLKBITS || sb[13] != 0)
        return FAULT("not a 4 KiB-block EROFS superblock");
    if ((incompat & ~(EROFS_INCOMPAT_CHUNKED_FILE | EROFS_INCOMPAT_DEVICE_TABLE)) || load_u32le(sb + 40) != 0 ||
        load_u32le(sb + 44) != 0 || load_u16le(sb + 86) != 1 ||
        load_u16le(sb + 88) != EROFS_DEVT_OFFSET / EROFS_DEVT_SLOT_SIZE)
        return FAULT("features 0x%x, %u extra device(s): not an image libsoci writes", incompat, load_u16le(sb + 86));
    if ((uint64_t)load_u32le(sb + 36) * EROFS_BLKSIZE != c->len)
        return FAULT("%u blocks for %zu bytes", load_u32le(sb + 36), c->len);
    if ((uint64_t)load_u32le(c->img + EROFS_DEVT_OFFSET + 64) * EROFS_BLKSIZE < c->data_size)
        return FAULT("its data device is smaller than %llu bytes", (unsigned long long)c->data_size);
    *root = load_u16le(sb + 14);
    return 0;
}

int erofs_check(const uint8_t *img, size_t len, uint64_t data_size)
{
    struct checker c = {.img = img, .len = len, .data_size = data_size};
    uint64_t root = 0;
    int r = check_super(&c, &root);
    if (r < 0)
        return r;
    size_t slots = len / EROFS_INODE_SLOT;
    c.seen = calloc(slots / 8 + 1, 1);
    c.stack = malloc((slots + 1) * 2 * sizeof(*c.stack)); /* every directory at most once */
    if (c.seen == NULL || c.stack == NULL) {
        r = soci_fail_nomem("EROFS check");
        goto out;
    }
    if (root >= slots) {
        r = FAULT("root inode %llu", (unsigned long long)root);
        goto out;
    }
    test_and_set(c.seen, root);
    c.stack[c.nstack++] = root;
    c.stack[c.nstack++] = root;
    while (c.nstack > 0 && r == 0) {
        uint64_t parent = c.stack[--c.nstack], nid = c.stack[--c.nstack];
        r = check_dir(&c, nid, parent);
    }
out:
    free(c.seen);
    free(c.stack);
    return r;
}
