/* SPDX-License-Identifier: Apache-2.0 */
/* Turning tar entries into zTOC entries as they pass: every field as the reference
 * records it, strings copied (the tar reader's live only during its callback). */
#include <stdlib.h>
#include <string.h>

#include "builder/build_internal.h"
#include "util/error.h"
#include "util/time.h"

static const char *const type_names[] = {"", "reg", "dir", "symlink", "hardlink", "char", "block", "fifo"};

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

/* The write model holds const pointers; the build owns what they point to. */
static void free_owned(const void *p)
{
    free((void *)(uintptr_t)p);
}

static void free_entry(struct ztoc_write_entry *e)
{
    free_owned(e->name);
    free_owned(e->linkname);
    free_owned(e->uname);
    free_owned(e->gname);
    free_owned(e->mod_time);
    for (uint32_t j = 0; j < e->xattr_count; j++) {
        free_owned(e->xattrs[j].key);
        free_owned(e->xattrs[j].value);
    }
    free_owned(e->xattrs);
}

static int copy_records(struct ztoc_write_entry *e, const struct tar_entry *t)
{
    struct ztoc_write_xattr *x = calloc(t->record_count ? t->record_count : 1, sizeof(*x));
    if (x == NULL)
        return soci_fail_nomem("xattrs");
    e->xattrs = x;
    for (size_t j = 0; j < t->record_count; j++) {
        const struct tar_record *r = &t->records[j];
        char *k = malloc(r->key_len + 1), *v = malloc(r->value_len + 1);
        if (k == NULL || v == NULL) {
            free(k);
            free(v);
            return soci_fail_nomem("xattr");
        }
        memcpy(k, r->key, r->key_len + 1);
        memcpy(v, r->value, r->value_len + 1);
        x[j] = (struct ztoc_write_xattr){k, r->key_len, (uint8_t *)v, r->value_len};
        e->xattr_count = (uint32_t)j + 1;
    }
    return 0;
}

int build_collect_entry(void *ctx, const struct tar_entry *t)
{
    struct build *b = ctx;
    if (b->nentries == b->entries_cap) {
        size_t cap = b->entries_cap ? b->entries_cap * 2 : 256;
        if (cap > UINT32_MAX)
            return soci_fail(SOCI_ETOOBIG, "tar: too many entries");
        void *p = realloc(b->entries, cap * sizeof(*b->entries));
        if (p == NULL)
            return soci_fail_nomem("entries");
        b->entries = p;
        b->entries_cap = cap;
    }
    char mtime[40];
    rfc3339_format(t->mtime_sec, t->mtime_nsec, mtime, sizeof(mtime));

    struct ztoc_write_entry *e = &b->entries[b->nentries];
    memset(e, 0, sizeof(*e));
    e->name = dup_str(t->name);
    e->type = type_names[t->type];
    e->linkname = dup_str(t->linkname);
    e->uname = dup_str(t->uname);
    e->gname = dup_str(t->gname);
    e->mod_time = dup_str(mtime);
    e->offset = (int64_t)t->offset;
    e->size = t->size;
    e->mode = t->mode;
    e->uid = (uint32_t)t->uid; /* the reference stores uint32(int(uid)) */
    e->gid = (uint32_t)t->gid;
    e->devmajor = t->devmajor;
    e->devminor = t->devminor;
    b->nentries++;
    if (!e->name || !e->linkname || !e->uname || !e->gname || !e->mod_time)
        return soci_fail_nomem("entry");
    return copy_records(e, t);
}

void build_free_entries(struct build *b)
{
    for (size_t i = 0; i < b->nentries; i++)
        free_entry(&b->entries[i]);
    free(b->entries);
    b->entries = NULL;
    b->nentries = 0;
}
