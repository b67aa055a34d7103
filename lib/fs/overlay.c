/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Merging the layers' tables of contents into one tree, as extracting the layers in
 * order onto one directory would (the OCI image spec's layer changeset rules).
 *
 * The build keeps two hash indexes: (parent, name) -> dentry for path walks, which the
 * finished tree keeps for lookups (fs_child_find), and (layer, entry) -> inode so hard
 * links find the inode of their target, which dies with the build. At the end the live
 * tree is walked breadth first, children sorted by name (for readdir), and its inodes are
 * renumbered in that order: the same image always gets the same inode numbers.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs_internal.h"
#include "util/error.h"
#include "util/log.h"

#define NONE UINT32_MAX
#define TOMB (UINT32_MAX - 1)
#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

/* Open addressing over u32 values, keys derived through the build. */
struct table {
    uint32_t *slots; /* NONE: empty, TOMB: deleted */
    uint64_t *keys;  /* inode table only */
    size_t mask, used;
};

struct build {
    struct soci_fs *fs;
    struct table children; /* dentries by (parent, name) */
    struct table inodes;   /* inodes by (layer << 32 | entry) */
    uint32_t dentry_cap, inode_cap, opaque_cap;
    /* The directory the last entry went into, and its path (a prefix of that entry's,
     * which the zTOC keeps): a tar lists a directory's entries together, so most entries
     * go where the one before went, without a walk from the root. */
    const char *last_dir_path;
    size_t last_dir_len;
    uint32_t last_dir;
};

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
    return h;
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    return h ^ (h >> 33);
}

static int table_init(struct table *t, size_t want, bool with_keys)
{
    size_t n = 1024;
    while (n < want * 2)
        n *= 2;
    t->slots = malloc(n * sizeof(*t->slots));
    t->keys = with_keys ? malloc(n * sizeof(*t->keys)) : NULL;
    if (t->slots == NULL || (with_keys && t->keys == NULL))
        return soci_fail_nomem("file tree index");
    memset(t->slots, 0xff, n * sizeof(*t->slots));
    t->mask = n - 1;
    t->used = 0;
    return 0;
}

static void table_free(struct table *t)
{
    free(t->slots);
    free(t->keys);
}

/* ---- dentries by (parent, name) ---- */

static uint64_t child_hash(uint32_t parent, const char *name, size_t len)
{
    return mix(hash_bytes(0xcbf29ce484222325u ^ parent, name, len));
}

static uint32_t find_in(const struct soci_fs *fs, const struct table *t, uint32_t parent, const char *name,
                        size_t len)
{
    for (size_t i = child_hash(parent, name, len) & t->mask;; i = (i + 1) & t->mask) {
        uint32_t d = t->slots[i];
        if (d == NONE)
            return NONE;
        const struct fs_dentry *de = &fs->dentries[d];
        if (d != TOMB && de->parent == parent && strncmp(de->name, name, len) == 0 && de->name[len] == '\0')
            return d;
    }
}

static uint32_t child_find(const struct build *b, uint32_t parent, const char *name, size_t len)
{
    return find_in(b->fs, &b->children, parent, name, len);
}

uint32_t fs_child_find(const struct soci_fs *fs, uint32_t parent, const char *name, size_t len)
{
    const struct table *t = fs->by_name;
    uint32_t d = find_in(fs, t, parent, name, len);
    return d != NONE && fs->dentries[d].live ? d : FS_NO_DENTRY;
}

static int grow_children_table(struct build *b);

static int child_index(struct build *b, uint32_t d)
{
    struct table *t = &b->children;
    int r;
    if ((t->used + 1) * 2 > t->mask + 1 && (r = grow_children_table(b)) < 0)
        return r;
    const struct fs_dentry *de = &b->fs->dentries[d];
    size_t i = child_hash(de->parent, de->name, strlen(de->name)) & t->mask;
    while (t->slots[i] != NONE && t->slots[i] != TOMB)
        i = (i + 1) & t->mask;
    t->slots[i] = d;
    t->used++;
    return 0;
}

static void child_unindex(struct build *b, uint32_t d)
{
    struct table *t = &b->children;
    const struct fs_dentry *de = &b->fs->dentries[d];
    for (size_t i = child_hash(de->parent, de->name, strlen(de->name)) & t->mask;; i = (i + 1) & t->mask) {
        if (t->slots[i] == d) {
            t->slots[i] = TOMB;
            return;
        }
        if (t->slots[i] == NONE)
            return;
    }
}

static int grow_children_table(struct build *b)
{
    struct table old = b->children;
    int r = table_init(&b->children, old.mask + 1, false);
    if (r < 0) {
        b->children = old;
        return r;
    }
    for (size_t i = 0; i <= old.mask; i++)
        if (old.slots[i] != NONE && old.slots[i] != TOMB)
            child_index(b, old.slots[i]);
    table_free(&old);
    return 0;
}

/* ---- inodes by (layer, entry) ---- */

static uint32_t inode_find(const struct build *b, uint64_t key)
{
    const struct table *t = &b->inodes;
    for (size_t i = mix(key) & t->mask; t->slots[i] != NONE; i = (i + 1) & t->mask)
        if (t->keys[i] == key)
            return t->slots[i];
    return NONE;
}

static int inode_index(struct build *b, uint64_t key, uint32_t inode)
{
    struct table *t = &b->inodes;
    if ((t->used + 1) * 2 > t->mask + 1) {
        struct table old = *t;
        int r = table_init(t, old.mask + 1, true);
        if (r < 0) {
            *t = old;
            return r;
        }
        for (size_t i = 0; i <= old.mask; i++)
            if (old.slots[i] != NONE)
                inode_index(b, old.keys[i], old.slots[i]);
        table_free(&old);
    }
    size_t i = mix(key) & t->mask;
    while (t->slots[i] != NONE && t->keys[i] != key)
        i = (i + 1) & t->mask;
    if (t->slots[i] == NONE)
        t->used++;
    t->slots[i] = inode;
    t->keys[i] = key;
    return 0;
}

/* ---- nodes ---- */

static uint32_t type_bits(uint32_t type)
{
    switch (type) {
    case SOCI_TYPE_DIR: return S_IFDIR;
    case SOCI_TYPE_SYMLINK: return S_IFLNK;
    case SOCI_TYPE_CHAR: return S_IFCHR;
    case SOCI_TYPE_BLOCK: return S_IFBLK;
    case SOCI_TYPE_FIFO: return S_IFIFO;
    default: return S_IFREG;
    }
}

/* Room for one more element in the array *array_ptr points to (a T **), which holds
 * count of *cap: doubled when full. The pointer is moved with memcpy, so any T works. */
static int grow(void *array_ptr, uint32_t *cap, uint32_t count, size_t elem, uint32_t initial, const char *what)
{
    void *old, *bigger;
    if (count < *cap)
        return 0;
    if (*cap > UINT32_MAX / 4)
        return soci_fail(SOCI_ETOOBIG, "image tree: too many %s", what);
    uint32_t n = *cap ? *cap * 2 : initial;
    memcpy(&old, array_ptr, sizeof(old));
    if ((bigger = realloc(old, (size_t)n * elem)) == NULL)
        return soci_fail_nomem(what);
    memcpy(array_ptr, &bigger, sizeof(bigger));
    *cap = n;
    return 0;
}

static int new_inode(struct build *b, uint32_t layer, uint32_t entry, uint32_t *ret)
{
    struct soci_fs *fs = b->fs;
    int r = grow(&fs->inodes, &b->inode_cap, fs->ninodes, sizeof(*fs->inodes), 1024, "inodes");
    if (r < 0)
        return r;
    struct fs_inode *in = &fs->inodes[fs->ninodes];
    *in = (struct fs_inode){.layer = layer, .entry = entry, .dentry = NONE};
    const struct soci_entry *e = fs_entry(fs, in);
    in->mode = e ? type_bits(e->type) | ((uint32_t)e->mode & 07777) : S_IFDIR | 0755;
    *ret = fs->ninodes++;
    return 0;
}

static bool is_dir(const struct build *b, uint32_t d)
{
    return S_ISDIR(b->fs->inodes[b->fs->dentries[d].inode].mode);
}

/* A dentry for name (len bytes) in parent. A name that ends the string it lies in (an
 * entry's cleaned path, which the zTOC keeps as long as the fs) is borrowed, not copied:
 * most names are, which saves a copy per entry. */
static int new_dentry(struct build *b, uint32_t parent, const char *name, size_t len, uint32_t inode,
                      uint32_t *ret)
{
    struct soci_fs *fs = b->fs;
    int r = grow(&fs->dentries, &b->dentry_cap, fs->ndentries, sizeof(*fs->dentries), 1024, "directory entries");
    if (r < 0)
        return r;
    uint32_t d = fs->ndentries;
    struct fs_dentry *de = &fs->dentries[d];
    *de = (struct fs_dentry){.parent = parent == NONE ? d : parent, .inode = inode, .live = true};
    if (name[len] == '\0') {
        de->name = name;
    } else {
        char *copy = strndup(name, len);
        if (copy == NULL)
            return soci_fail_nomem("name");
        de->name = copy;
        de->owns_name = true;
    }
    fs->ndentries++;
    if (parent != NONE) {
        struct fs_dentry *p = &fs->dentries[parent];
        if ((r = grow(&p->children, &p->cap, p->nchildren, sizeof(*p->children), 8, "directory entries")) < 0)
            return r;
        p->children[p->nchildren++] = d;
        if ((r = child_index(b, d)) < 0)
            return r;
    }
    *ret = d;
    return 0;
}

/* Remove dentry d and everything under it from the tree. */
static void remove_tree(struct build *b, uint32_t d)
{
    struct fs_dentry *de = &b->fs->dentries[d];
    if (!de->live)
        return;
    de->live = false;
    child_unindex(b, d);
    for (uint32_t i = 0; i < de->nchildren; i++)
        remove_tree(b, b->fs->dentries[d].children[i]);
}

/* The dentry at a cleaned path, or NONE. */
static uint32_t find_path(const struct build *b, const char *path)
{
    uint32_t d = 0;
    while (*path && d != NONE) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        d = child_find(b, d, path, len);
        path += len + (slash ? 1 : 0);
    }
    return d;
}

static int mark_opaque(struct build *b, uint32_t d)
{
    struct soci_fs *fs = b->fs;
    int r = grow(&fs->opaque_dirs, &b->opaque_cap, fs->nopaque, sizeof(*fs->opaque_dirs), 8, "opaque directories");
    if (r == 0)
        fs->opaque_dirs[fs->nopaque++] = d;
    return r;
}

/* Whether a directory layer makes in place of dentry d is opaque: d is a whiteout layer
 * put there (overlay form: a character device whose entry is not one), and recreated
 * directories are opaque (see recreated_dirs_opaque in fs_internal.h), as the OCI layer
 * rules and umoci have it: what lay below is gone. */
static bool reopens_opaque(const struct build *b, uint32_t d, uint32_t layer)
{
    if (!b->fs->overlay_whiteouts || !b->fs->recreated_dirs_opaque)
        return false;
    const struct fs_inode *in = &b->fs->inodes[b->fs->dentries[d].inode];
    const struct soci_entry *e = fs_entry(b->fs, in);
    return S_ISCHR(in->mode) && in->layer == layer && e != NULL && e->type != SOCI_TYPE_CHAR;
}

/* The directory holding the last component of path, made (as implied directories) where
 * missing; *base is set to that component. A non-directory on the way is replaced, by an
 * opaque directory where reopens_opaque says, as a directory entry would be. */
static int make_parent(struct build *b, uint32_t layer, const char *path, uint32_t *ret, const char **base)
{
    const char *last_slash = strrchr(path, '/');
    size_t dir_len = last_slash ? (size_t)(last_slash - path) : 0;
    /* The last entry's directory, while it stands: a dentry removed (replaced, whited out,
     * or under one that was) is no longer live, and a live one keeps its path and stays a
     * directory (a directory entry over one updates it in place). */
    if (last_slash != NULL && b->last_dir != NONE && b->fs->dentries[b->last_dir].live &&
        dir_len == b->last_dir_len && memcmp(path, b->last_dir_path, dir_len) == 0) {
        *ret = b->last_dir;
        *base = last_slash + 1;
        return 0;
    }
    const char *whole = path;
    uint32_t d = 0;
    int r;
    for (;;) {
        const char *slash = strchr(path, '/');
        if (slash == NULL)
            break;
        size_t len = (size_t)(slash - path);
        uint32_t next = child_find(b, d, path, len);
        bool opaque = false;
        if (next != NONE && !is_dir(b, next)) {
            opaque = reopens_opaque(b, next, layer);
            remove_tree(b, next);
            next = NONE;
        }
        if (next == NONE) {
            uint32_t inode;
            if ((r = new_inode(b, FS_IMPLIED, 0, &inode)) < 0 || (r = new_dentry(b, d, path, len, inode, &next)) < 0)
                return r;
            b->fs->inodes[inode].dentry = next;
            if (opaque && (r = mark_opaque(b, next)) < 0)
                return r;
        }
        d = next;
        path = slash + 1;
    }
    b->last_dir = d;
    b->last_dir_path = whole;
    b->last_dir_len = dir_len;
    *ret = d;
    *base = path;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Pass one of a layer: its whiteouts, against what the layers below made. */
static void apply_whiteouts(struct build *b, uint32_t layer)
{
    const struct soci_ztoc *z = b->fs->ztocs[layer];
    char path[8192];
    for (uint32_t i = 0; i < z->entry_count; i++) {
        const char *p = z->entries[i].pub.path, *base = base_name(p);
        if (strncmp(base, WHITEOUT, strlen(WHITEOUT)) != 0)
            continue;
        size_t dir_len = (size_t)(base - p);
        if (dir_len >= sizeof(path))
            continue;
        memcpy(path, p, dir_len);
        path[dir_len ? dir_len - 1 : 0] = '\0';
        uint32_t dir = find_path(b, path);
        if (dir == NONE || !is_dir(b, dir))
            continue;
        if (strcmp(base, OPAQUE) == 0) {
            const struct fs_dentry *de = &b->fs->dentries[dir];
            for (uint32_t c = 0; c < de->nchildren; c++)
                remove_tree(b, b->fs->dentries[dir].children[c]);
        } else {
            const char *name = base + strlen(WHITEOUT);
            uint32_t victim = child_find(b, dir, name, strlen(name));
            if (victim != NONE)
                remove_tree(b, victim);
        }
    }
}

/* The inode a hard link entry names: its target's, in this layer or (when the tar links
 * to a path a lower layer made) in the tree. */
static int link_inode(struct build *b, uint32_t layer, uint32_t entry, uint32_t *ret)
{
    const struct soci_ztoc *z = b->fs->ztocs[layer];
    uint32_t target;
    if (soci_ztoc_resolve(z, entry, &target) == 0) {
        uint64_t key = (uint64_t)layer << 32 | target;
        *ret = inode_find(b, key);
        if (*ret != NONE)
            return 0;
        int r = new_inode(b, layer, target, ret);
        return r < 0 ? r : inode_index(b, key, *ret);
    }
    soci_clear_error();
    uint32_t d = find_path(b, z->entries[entry].pub.linkname);
    if (d != NONE && !is_dir(b, d)) {
        *ret = b->fs->dentries[d].inode;
        return 0;
    }
    soci_log(SOCI_LOG_WARNING, "layer %u: hard link \"%s\" to missing \"%s\" left out", layer,
             z->entries[entry].pub.path, z->entries[entry].pub.linkname);
    *ret = NONE;
    return 0;
}

/* A whiteout entry in overlayfs form (fs->overlay_whiteouts): `.wh..wh..opq` marks its
 * directory opaque; `.wh.NAME` becomes NAME, a character device 0/0 (the tar entry's
 * owner and time kept; a whiteout's device numbers are 0 in the tar). */
static int overlay_whiteout(struct build *b, uint32_t layer, uint32_t i, uint32_t parent, const char *base)
{
    struct soci_fs *fs = b->fs;
    uint32_t inode, d;
    int r;
    if (strcmp(base, OPAQUE) == 0)
        return mark_opaque(b, parent);
    const char *name = base + strlen(WHITEOUT);
    if (name[0] == '\0')
        return 0;
    uint32_t existing = child_find(b, parent, name, strlen(name));
    if (existing != NONE)
        remove_tree(b, existing);
    if ((r = new_inode(b, layer, i, &inode)) < 0 || (r = new_dentry(b, parent, name, strlen(name), inode, &d)) < 0)
        return r;
    fs->inodes[inode].mode = S_IFCHR;
    fs->inodes[inode].dentry = d;
    return 0;
}

/* Pass two of a layer: its entries. */
static int apply_entry(struct build *b, uint32_t layer, uint32_t i)
{
    struct soci_fs *fs = b->fs;
    const struct soci_entry *e = &fs->ztocs[layer]->entries[i].pub;
    uint32_t parent, existing, inode;
    const char *base;
    int r;

    if (e->path[0] == '\0') { /* the root: only its metadata */
        if (e->type == SOCI_TYPE_DIR) {
            struct fs_inode *root = &fs->inodes[fs->dentries[0].inode];
            root->layer = layer;
            root->entry = i;
            root->mode = S_IFDIR | ((uint32_t)e->mode & 07777);
        }
        return 0;
    }
    bool whiteout = strncmp(base_name(e->path), WHITEOUT, strlen(WHITEOUT)) == 0;
    if (whiteout && !fs->keep_whiteouts && !fs->overlay_whiteouts)
        return 0;
    if ((r = make_parent(b, layer, e->path, &parent, &base)) < 0)
        return r;
    if (whiteout && fs->overlay_whiteouts)
        return overlay_whiteout(b, layer, i, parent, base);
    existing = child_find(b, parent, base, strlen(base));
    if (existing != NONE && e->type == SOCI_TYPE_DIR && is_dir(b, existing)) {
        struct fs_inode *in = &fs->inodes[fs->dentries[existing].inode];
        in->layer = layer;
        in->entry = i;
        in->mode = S_IFDIR | ((uint32_t)e->mode & 07777);
        return 0;
    }
    if (e->type == SOCI_TYPE_HARDLINK) {
        if ((r = link_inode(b, layer, i, &inode)) < 0 || inode == NONE)
            return r;
    } else {
        if ((r = new_inode(b, layer, i, &inode)) < 0)
            return r;
        if (e->type == SOCI_TYPE_REG && (r = inode_index(b, (uint64_t)layer << 32 | i, inode)) < 0)
            return r;
    }
    bool opaque = e->type == SOCI_TYPE_DIR && existing != NONE && reopens_opaque(b, existing, layer);
    if (existing != NONE)
        remove_tree(b, existing);
    uint32_t d;
    if ((r = new_dentry(b, parent, base, strlen(base), inode, &d)) < 0)
        return r;
    if (opaque && (r = mark_opaque(b, d)) < 0)
        return r;
    if (fs->inodes[inode].dentry == NONE)
        fs->inodes[inode].dentry = d;
    return 0;
}

static int by_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

bool overlay_is_opaque(const struct soci_fs *fs, uint32_t d)
{
    return fs->nopaque > 0 && bsearch(&d, fs->opaque_dirs, fs->nopaque, sizeof(d), by_u32) != NULL;
}

struct named {
    const char *name;
    uint32_t dentry;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

/* Sort a directory's children by name. */
static int sort_children(struct soci_fs *fs, struct fs_dentry *de)
{
    struct named *v = malloc((de->nchildren ? de->nchildren : 1) * sizeof(*v));
    if (v == NULL)
        return soci_fail_nomem("directory");
    for (uint32_t i = 0; i < de->nchildren; i++)
        v[i] = (struct named){fs->dentries[de->children[i]].name, de->children[i]};
    qsort(v, de->nchildren, sizeof(*v), by_name);
    for (uint32_t i = 0; i < de->nchildren; i++)
        de->children[i] = v[i].dentry;
    free(v);
    return 0;
}

/* Keep live children only, sorted by name; number the inodes breadth first. */
static int finish(struct build *b)
{
    struct soci_fs *fs = b->fs;
    uint32_t *renum = malloc((size_t)fs->ninodes * sizeof(*renum));
    uint32_t *queue = malloc((size_t)fs->ndentries * sizeof(*queue));
    struct fs_inode *inodes = calloc(fs->ninodes, sizeof(*inodes));
    if (renum == NULL || queue == NULL || inodes == NULL) {
        free(renum);
        free(queue);
        free(inodes);
        return soci_fail_nomem("file tree");
    }
    memset(renum, 0xff, (size_t)fs->ninodes * sizeof(*renum));
    uint32_t n = 0, head = 0, tail = 0;
    queue[tail++] = 0;
    renum[fs->dentries[0].inode] = n;
    inodes[n++] = fs->inodes[fs->dentries[0].inode];
    int r = 0;
    while (head < tail && r == 0) {
        uint32_t d = queue[head++];
        struct fs_dentry *de = &fs->dentries[d];
        uint32_t live = 0;
        for (uint32_t i = 0; i < de->nchildren; i++)
            if (fs->dentries[de->children[i]].live)
                de->children[live++] = de->children[i];
        de->nchildren = live;
        r = sort_children(fs, de);
        struct fs_inode *dir = &inodes[de->inode]; /* renumbered when it was queued */
        dir->nlink = 2;
        for (uint32_t i = 0; i < live; i++) {
            struct fs_dentry *c = &fs->dentries[de->children[i]];
            uint32_t old = c->inode;
            if (renum[old] == NONE) {
                renum[old] = n;
                inodes[n] = fs->inodes[old];
                inodes[n].dentry = de->children[i];
                n++;
            }
            struct fs_inode *in = &inodes[renum[old]];
            c->inode = renum[old];
            if (S_ISDIR(in->mode)) {
                dir->nlink++;
                queue[tail++] = de->children[i];
            } else {
                in->nlink++;
            }
        }
    }
    if (r < 0) {
        free(renum);
        free(queue);
        free(inodes);
        return r;
    }
    fs->dentries[0].inode = 0;
    free(fs->inodes);
    fs->inodes = inodes;
    fs->ninodes = n;
    for (uint32_t i = 0; i < n; i++) {
        const struct soci_entry *e = fs_entry(fs, &inodes[i]);
        if (e && S_ISREG(inodes[i].mode))
            fs->data_bytes += e->size;
    }
    free(renum);
    free(queue);
    return 0;
}

int overlay_build(struct soci_fs *fs)
{
    struct build b = {.fs = fs, .last_dir = NONE};
    uint64_t total = 0;
    uint32_t root, d;
    int r;
    for (uint32_t l = 0; l < fs->nlayers; l++)
        total += fs->ztocs[l]->entry_count;
    if ((r = table_init(&b.children, total + 1, false)) < 0 || (r = table_init(&b.inodes, total + 1, true)) < 0)
        goto out;
    if ((r = new_inode(&b, FS_IMPLIED, 0, &root)) < 0 || (r = new_dentry(&b, NONE, "", 0, root, &d)) < 0)
        goto out;
    fs->inodes[root].dentry = d;
    for (uint32_t l = 0; l < fs->nlayers && r == 0; l++) {
        if (!fs->keep_whiteouts && !fs->overlay_whiteouts)
            apply_whiteouts(&b, l);
        for (uint32_t i = 0; i < fs->ztocs[l]->entry_count && r == 0; i++)
            r = apply_entry(&b, l, i);
    }
    if (r == 0)
        r = finish(&b);
    if (r == 0 && fs->nopaque > 1)
        qsort(fs->opaque_dirs, fs->nopaque, sizeof(*fs->opaque_dirs), by_u32);
    if (r == 0 && (fs->by_name = malloc(sizeof(b.children))) == NULL)
        r = soci_fail_nomem("file tree index");
    if (r == 0) {
        *(struct table *)fs->by_name = b.children;
        b.children = (struct table){0};
    }
out:
    table_free(&b.children);
    table_free(&b.inodes);
    return r;
}

void overlay_free(struct soci_fs *fs)
{
    for (uint32_t i = 0; i < fs->ndentries; i++) {
        if (fs->dentries[i].owns_name)
            free((char *)(uintptr_t)fs->dentries[i].name);
        free(fs->dentries[i].children);
    }
    free(fs->dentries);
    free(fs->inodes);
    free(fs->opaque_dirs);
    if (fs->by_name != NULL)
        table_free(fs->by_name);
    free(fs->by_name);
}
