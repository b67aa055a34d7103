/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tar stream as a state machine fed in arbitrary pieces:
 *   HEADER  collecting a 512-byte header block
 *   SPECIAL collecting the data of a PAX header or GNU long name/link (bounded)
 *   SKIP    passing over an entry's data and padding
 *   ZERO2   one all-zero block seen; a second one ends the archive
 *   DONE    end of archive; later bytes are ignored
 * `pos` counts every byte consumed, so an entry's offset and the final position are
 * what the reference's position-tracking reader reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/ztoc.h>

#include "tar/tar_fields.h"
#include "tar/tar_pax.h"
#include "tar/tar_reader.h"
#include "util/error.h"
#include "util/path.h"

enum state { ST_HEADER, ST_SPECIAL, ST_SKIP, ST_ZERO2, ST_DONE };

struct tar_reader {
    tar_entry_fn fn;
    void *ctx;
    enum state state;
    uint64_t pos;

    uint8_t blk[TAR_BLOCK];
    size_t blk_fill;

    uint8_t *special; /* data of the PAX header / long name being read */
    size_t special_len, special_fill;
    char special_type;

    uint64_t skip;     /* bytes left to pass over */
    uint64_t skip_pad; /* how many of them are padding after the last entry's data */

    struct pax_set local;  /* records of the 'x' header before the next entry */
    struct pax_set global; /* records of 'g' headers, in force from then on */
    struct pax_set merged;
    char *long_name, *long_link;
};

int tar_reader_new(tar_entry_fn fn, void *ctx, struct tar_reader **ret)
{
    struct tar_reader *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return soci_fail_nomem("tar reader");
    t->fn = fn;
    t->ctx = ctx;
    *ret = t;
    return 0;
}

void tar_reader_free(struct tar_reader *t)
{
    if (t == NULL)
        return;
    free(t->special);
    pax_set_clear(&t->local);
    pax_set_clear(&t->global);
    pax_set_clear(&t->merged);
    free(t->long_name);
    free(t->long_link);
    free(t);
}

static uint64_t padding(uint64_t n)
{
    return (TAR_BLOCK - n % TAR_BLOCK) % TAR_BLOCK;
}

static void start_skip(struct tar_reader *t, uint64_t data, uint64_t pad)
{
    t->skip = data + pad;
    t->skip_pad = pad;
    t->state = t->skip ? ST_SKIP : ST_HEADER;
}

static int map_type(char flag, const char *name, uint32_t *ret)
{
    switch (flag) {
    case '0':
    case '7': /* contiguous file: a regular file to every reader that is not special hardware */
        *ret = SOCI_TYPE_REG;
        return 0;
    case '\0': /* pre-POSIX regular file; a trailing slash made it a directory */
        *ret = name[0] && name[strlen(name) - 1] == '/' ? SOCI_TYPE_DIR : SOCI_TYPE_REG;
        return 0;
    case '1': *ret = SOCI_TYPE_HARDLINK; return 0;
    case '2': *ret = SOCI_TYPE_SYMLINK; return 0;
    case '3': *ret = SOCI_TYPE_CHAR; return 0;
    case '4': *ret = SOCI_TYPE_BLOCK; return 0;
    case '5': *ret = SOCI_TYPE_DIR; return 0;
    case '6': *ret = SOCI_TYPE_FIFO; return 0;
    case 'S':
        return soci_fail(SOCI_ENOTSUP, "tar: \"%.200s\" is a GNU sparse file, which is not supported", name);
    default:
        return soci_fail(SOCI_ENOTSUP, "tar: \"%.200s\" has unsupported entry type '%c' (0x%02x)", name,
                         flag >= 32 && flag < 127 ? flag : '?', (unsigned char)flag);
    }
}

/* Name checks the reference does not make but a reader of hostile layers must. */
static int check_name(const char *what, const char *name)
{
    char *clean = malloc(strlen(name) + 1);
    bool dotdot;
    if (clean == NULL)
        return soci_fail_nomem("name");
    path_clean(name, strlen(name), clean, &dotdot);
    free(clean);
    if (dotdot)
        return soci_fail(SOCI_EFORMAT, "tar: %s \"%.200s\" has a \"..\" component", what, name);
    return 0;
}

/* Apply the records in force to the header's fields, as Go's mergePAX does. An empty
 * value keeps the header's own. */
static int apply_records(struct tar_entry *e, const struct pax_set *recs, char **name, char **link,
                         char **uname, char **gname)
{
    for (size_t i = 0; i < recs->count; i++) {
        const struct tar_record *r = &recs->recs[i];
        char **target = NULL;
        int64_t v;
        if (r->value_len == 0)
            continue;
        if (strncmp(r->key, "GNU.sparse.", 11) == 0)
            return soci_fail(SOCI_ENOTSUP, "tar: \"%.200s\" is a PAX sparse file, which is not supported",
                             *name);
        if (strcmp(r->key, "path") == 0)
            target = name;
        else if (strcmp(r->key, "linkpath") == 0)
            target = link;
        else if (strcmp(r->key, "uname") == 0)
            target = uname;
        else if (strcmp(r->key, "gname") == 0)
            target = gname;
        if (target != NULL) {
            *target = r->value; /* borrowed: the record outlives the callback */
            continue;
        }
        if (strcmp(r->key, "mtime") == 0) {
            int err = pax_time(r->value, &e->mtime_sec, &e->mtime_nsec);
            if (err < 0)
                return err;
        } else if (strcmp(r->key, "uid") == 0 || strcmp(r->key, "gid") == 0 || strcmp(r->key, "size") == 0) {
            char *endp;
            v = strtoll(r->value, &endp, 10);
            if (*endp != '\0' || endp == r->value)
                return soci_fail(SOCI_EFORMAT, "tar: bad PAX %s \"%.40s\"", r->key, r->value);
            *(r->key[0] == 'u' ? &e->uid : r->key[0] == 'g' ? &e->gid : &e->size) = v;
        }
    }
    return 0;
}

static int emit_entry(struct tar_reader *t, enum tar_format fmt)
{
    const uint8_t *b = t->blk;
    char hname[TAR_NAME_LEN + 1], hlink[TAR_NAME_LEN + 1], huname[TAR_OWNER_LEN + 1],
        hgname[TAR_OWNER_LEN + 1], prefix[TAR_PREFIX_LEN + 1], full[TAR_PREFIX_LEN + 1 + TAR_NAME_LEN + 1];
    struct tar_entry e = {0};
    bool ok = true;

    tar_string(b + TAR_NAME, TAR_NAME_LEN, hname);
    tar_string(b + TAR_LINKNAME, TAR_NAME_LEN, hlink);
    ok &= tar_numeric(b + TAR_SIZE, TAR_NUM12_LEN, &e.size);
    ok &= tar_numeric(b + TAR_MODE, TAR_ID_LEN, &e.mode);
    ok &= tar_numeric(b + TAR_UID, TAR_ID_LEN, &e.uid);
    ok &= tar_numeric(b + TAR_GID, TAR_ID_LEN, &e.gid);
    ok &= tar_numeric(b + TAR_MTIME, TAR_NUM12_LEN, &e.mtime_sec);
    huname[0] = hgname[0] = prefix[0] = '\0';
    if (fmt != TAR_V7) {
        tar_string(b + TAR_UNAME, TAR_OWNER_LEN, huname);
        tar_string(b + TAR_GNAME, TAR_OWNER_LEN, hgname);
        ok &= tar_numeric(b + TAR_DEVMAJOR, TAR_ID_LEN, &e.devmajor);
        ok &= tar_numeric(b + TAR_DEVMINOR, TAR_ID_LEN, &e.devminor);
        if (fmt == TAR_USTAR)
            tar_string(b + TAR_PREFIX, TAR_PREFIX_LEN, prefix);
        else if (fmt == TAR_STAR)
            tar_string(b + TAR_PREFIX, TAR_STAR_PREFIX_LEN, prefix);
    }
    if (!ok)
        return soci_fail(SOCI_EFORMAT, "tar: header at offset %llu has a malformed number",
                         (unsigned long long)(t->pos - TAR_BLOCK));
    if (prefix[0])
        snprintf(full, sizeof(full), "%s/%s", prefix, hname);
    else
        memcpy(full, hname, sizeof(hname));

    char *name = full, *link = hlink, *uname = huname, *gname = hgname;
    pax_set_clear(&t->merged);
    int r = pax_set_merge(&t->merged, &t->global, &t->local);
    if (r < 0 || (r = apply_records(&e, &t->merged, &name, &link, &uname, &gname)) < 0)
        return r;
    if (t->long_name)
        name = t->long_name;
    if (t->long_link)
        link = t->long_link;

    if ((r = map_type((char)b[TAR_TYPEFLAG], name, &e.type)) < 0)
        return r;
    if (e.size < 0)
        return soci_fail(SOCI_EFORMAT, "tar: \"%.200s\" has negative size %lld", name, (long long)e.size);
    if (name[0] == '\0')
        return soci_fail(SOCI_EFORMAT, "tar: entry at offset %llu has an empty name",
                         (unsigned long long)(t->pos - TAR_BLOCK));
    if ((r = check_name("name", name)) < 0)
        return r;
    if (e.type == SOCI_TYPE_HARDLINK && (r = check_name("hard link target", link)) < 0)
        return r;

    e.name = name;
    e.linkname = link;
    e.uname = uname;
    e.gname = gname;
    e.records = t->merged.recs;
    e.record_count = t->merged.count;
    e.offset = t->pos;
    if ((r = t->fn(t->ctx, &e)) < 0)
        return r;

    /* Only regular files own data; other types are header-only whatever size they claim. */
    uint64_t data = e.type == SOCI_TYPE_REG ? (uint64_t)e.size : 0;
    pax_set_clear(&t->local);
    free(t->long_name);
    free(t->long_link);
    t->long_name = t->long_link = NULL;
    start_skip(t, data, padding(data));
    return 0;
}

static int start_special(struct tar_reader *t, char type)
{
    int64_t size;
    if (!tar_numeric(t->blk + TAR_SIZE, TAR_NUM12_LEN, &size) || size < 0)
        return soci_fail(SOCI_EFORMAT, "tar: extended header at offset %llu has a bad size",
                         (unsigned long long)(t->pos - TAR_BLOCK));
    if ((uint64_t)size > TAR_MAX_SPECIAL)
        return soci_fail(SOCI_ETOOBIG, "tar: extended header at offset %llu is %lld bytes, over %zu",
                         (unsigned long long)(t->pos - TAR_BLOCK), (long long)size, TAR_MAX_SPECIAL);
    free(t->special);
    t->special = malloc((size_t)size + 1);
    if (t->special == NULL)
        return soci_fail_nomem("tar extended header");
    t->special_len = (size_t)size;
    t->special_fill = 0;
    t->special_type = type;
    t->state = ST_SPECIAL;
    return 0;
}

static int finish_special(struct tar_reader *t)
{
    int r = 0;
    char **slot;
    switch (t->special_type) {
    case 'x':
        r = pax_parse(t->special, t->special_len, &t->local);
        break;
    case 'g':
        r = pax_parse(t->special, t->special_len, &t->global);
        break;
    default: /* 'L' or 'K': the name up to its first NUL */
        slot = t->special_type == 'L' ? &t->long_name : &t->long_link;
        free(*slot);
        t->special[t->special_len] = 0;
        *slot = strdup((char *)t->special);
        if (*slot == NULL)
            r = soci_fail_nomem("GNU long name");
        break;
    }
    free(t->special);
    t->special = NULL;
    if (r < 0)
        return r;
    start_skip(t, 0, padding(t->special_len));
    return 0;
}

static int header_block(struct tar_reader *t)
{
    enum tar_format fmt;
    if (tar_block_is_zero(t->blk)) {
        t->state = ST_ZERO2;
        return 0;
    }
    if (!tar_block_format(t->blk, &fmt))
        return soci_fail(SOCI_EFORMAT, "tar: bad header checksum at offset %llu",
                         (unsigned long long)(t->pos - TAR_BLOCK));
    char type = (char)t->blk[TAR_TYPEFLAG];
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K')
        return start_special(t, type);
    return emit_entry(t, fmt);
}

int tar_reader_feed(struct tar_reader *t, const uint8_t *data, size_t len)
{
    while (len > 0 && t->state != ST_DONE) {
        size_t n;
        int r = 0;
        switch (t->state) {
        case ST_HEADER:
        case ST_ZERO2:
            n = TAR_BLOCK - t->blk_fill < len ? TAR_BLOCK - t->blk_fill : len;
            memcpy(t->blk + t->blk_fill, data, n);
            t->blk_fill += n;
            t->pos += n;
            if (t->blk_fill == TAR_BLOCK) {
                t->blk_fill = 0;
                if (t->state == ST_HEADER)
                    r = header_block(t);
                else if (tar_block_is_zero(t->blk))
                    t->state = ST_DONE;
                else
                    r = soci_fail(SOCI_EFORMAT, "tar: data after the first end-of-archive block at %llu",
                                  (unsigned long long)(t->pos - TAR_BLOCK));
            }
            break;
        case ST_SPECIAL:
            n = t->special_len - t->special_fill < len ? t->special_len - t->special_fill : len;
            memcpy(t->special + t->special_fill, data, n);
            t->special_fill += n;
            t->pos += n;
            if (t->special_fill == t->special_len)
                r = finish_special(t);
            break;
        case ST_SKIP:
            n = t->skip < len ? (size_t)t->skip : len;
            t->skip -= n;
            t->pos += n;
            if (t->skip == 0)
                t->state = ST_HEADER;
            break;
        default:
            n = len;
            break;
        }
        if (r < 0)
            return r;
        data += n;
        len -= n;
    }
    /* A zero-length special header completes without any byte arriving. */
    if (t->state == ST_SPECIAL && t->special_fill == t->special_len)
        return finish_special(t);
    return 0;
}

int tar_reader_finish(struct tar_reader *t, uint64_t *end_pos)
{
    /* A stream may end where a header would start, after one end block, or (as layers
     * written by umoci 0.4 do) right after the last entry's data without its padding:
     * every byte of every entry has been seen. GNU tar and the reference call the last
     * case truncated; nothing is lost, so we accept it. */
    bool clean_end = t->state == ST_DONE || ((t->state == ST_HEADER || t->state == ST_ZERO2) && t->blk_fill == 0) ||
                     (t->state == ST_SKIP && t->skip <= t->skip_pad && t->long_name == NULL &&
                      t->long_link == NULL && t->local.count == 0);
    if (!clean_end)
        return soci_fail(SOCI_EFORMAT, "tar: stream ends inside %s at offset %llu",
                         t->state == ST_SKIP ? "an entry's data" : "a header", (unsigned long long)t->pos);
    *end_pos = t->pos;
    return 0;
}
