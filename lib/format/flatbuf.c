/* SPDX-License-Identifier: Apache-2.0 */
#include "format/flatbuf.h"
#include "util/bytes.h"
#include "util/error.h"

/* Largest object count a buffer may make us visit: no legitimate buffer holds more
 * objects than bytes, so one unit per byte (plus slack for tiny buffers) suffices. */
#define BUDGET_SLACK 1024

void fb_buf_init(struct fb_buf *b, const void *data, size_t len)
{
    b->data = data;
    b->len = len;
    b->budget = (uint64_t)len + BUDGET_SLACK;
}

static int spend(struct fb_buf *b, const char *what)
{
    if (b->budget == 0)
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: too many shared objects", what);
    b->budget--;
    return 0;
}

/* Follow the uoffset stored at pos: the target, bounded to leave `need` bytes. */
static int follow(const struct fb_buf *b, uint64_t pos, uint64_t need, const char *what, uint32_t *ret)
{
    if (!range_ok(pos, 4, b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: offset at %llu past end of %zu-byte buffer",
                         what, (unsigned long long)pos, b->len);
    uint64_t target = pos + load_u32le(b->data + pos);
    if (!range_ok(target, need, b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: points to %llu, past end of %zu-byte buffer",
                         what, (unsigned long long)target, b->len);
    *ret = (uint32_t)target;
    return 0;
}

static int table_at(struct fb_buf *b, uint32_t pos, const char *what, struct fb_table *ret)
{
    int r = spend(b, what);
    if (r < 0)
        return r;
    if (!range_ok(pos, 4, b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: table at %u past end", what, pos);
    int64_t vt = (int64_t)pos - (int32_t)load_u32le(b->data + pos);
    if (vt < 0 || !range_ok((uint64_t)vt, 4, b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: vtable at %lld outside buffer", what,
                         (long long)vt);
    uint16_t vt_len = load_u16le(b->data + vt);
    uint16_t size = load_u16le(b->data + vt + 2);
    if (vt_len < 4 || (vt_len & 1) || !range_ok((uint64_t)vt, vt_len, b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: bad vtable (%u bytes at %lld)", what, vt_len,
                         (long long)vt);
    if (size < 4 || !range_ok(pos, size, b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: table of %u bytes at %u past end", what,
                         size, pos);
    ret->b = b;
    ret->pos = pos;
    ret->vt = (uint32_t)vt;
    ret->vt_len = vt_len;
    ret->size = size;
    return 0;
}

int fb_root(struct fb_buf *b, struct fb_table *ret)
{
    uint32_t pos = 0;
    int r = follow(b, 0, 4, "root", &pos);
    return r < 0 ? r : table_at(b, pos, "root", ret);
}

int fb_field_pos(const struct fb_table *t, unsigned id, size_t size, const char *what,
                     uint32_t *ret)
{
    size_t slot = 4 + 2 * (size_t)id;
    *ret = 0;
    if (slot + 2 > t->vt_len)
        return 0;
    uint16_t off = load_u16le(t->b->data + t->vt + slot);
    if (off == 0)
        return 0;
    if (off < 4 || !range_ok(off, size, t->size))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: field at +%u outside its %u-byte table",
                         what, off, t->size);
    *ret = t->pos + off;
    return 0;
}

#define SCALAR_GETTER(name, type, bytes, load)                                           \
    int name(const struct fb_table *t, unsigned id, type def, const char *what, type *ret) \
    {                                                                                    \
        uint32_t pos = 0;                                                                \
        int r = fb_field_pos(t, id, bytes, what, &pos);                                     \
        if (r < 0)                                                                       \
            return r;                                                                    \
        *ret = pos ? (type)load(t->b->data + pos) : def;                                 \
        return 0;                                                                        \
    }

static inline uint8_t load_u8(const uint8_t *p)
{
    return *p;
}

SCALAR_GETTER(fb_u8, uint8_t, 1, load_u8)
SCALAR_GETTER(fb_i32, int32_t, 4, load_u32le)
SCALAR_GETTER(fb_u32, uint32_t, 4, load_u32le)
SCALAR_GETTER(fb_i64, int64_t, 8, load_u64le)

/* A string whose uoffset is stored at pos. */
static int string_at(struct fb_buf *b, uint32_t pos, const char *what, struct fb_str *ret)
{
    uint32_t s = 0;
    int r = spend(b, what);
    if (r < 0 || (r = follow(b, pos, 4, what, &s)) < 0)
        return r;
    uint32_t len = load_u32le(b->data + s);
    if (!range_ok((uint64_t)s + 4, (uint64_t)len + 1, b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: string of %u bytes at %u past end", what,
                         len, s);
    if (b->data[s + 4 + len] != '\0')
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: string at %u not NUL-terminated", what, s);
    ret->ptr = (const char *)b->data + s + 4;
    ret->len = len;
    return 0;
}

int fb_string(const struct fb_table *t, unsigned id, const char *what, struct fb_str *ret)
{
    uint32_t pos = 0;
    int r = fb_field_pos(t, id, 4, what, &pos);
    if (r < 0)
        return r;
    if (pos == 0) {
        ret->ptr = "";
        ret->len = 0;
        return 0;
    }
    return string_at(t->b, pos, what, ret);
}

int fb_table_field(const struct fb_table *t, unsigned id, const char *what, struct fb_table *ret,
                   int *present)
{
    uint32_t pos, target;
    int r = fb_field_pos(t, id, 4, what, &pos);
    *present = 0;
    if (r < 0 || pos == 0)
        return r;
    if ((r = follow(t->b, pos, 4, what, &target)) < 0)
        return r;
    *present = 1;
    return table_at(t->b, target, what, ret);
}

int fb_vector(const struct fb_table *t, unsigned id, size_t elem_size, const char *what,
              struct fb_vec *ret)
{
    uint32_t pos, v;
    int r = fb_field_pos(t, id, 4, what, &pos);
    ret->b = t->b;
    ret->pos = 0;
    ret->count = 0;
    if (r < 0 || pos == 0)
        return r;
    if ((r = spend(t->b, what)) < 0 || (r = follow(t->b, pos, 4, what, &v)) < 0)
        return r;
    uint32_t count = load_u32le(t->b->data + v);
    if (!range_ok((uint64_t)v + 4, (uint64_t)count * elem_size, t->b->len))
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: vector of %u elements at %u past end", what,
                         count, v);
    ret->pos = v + 4;
    ret->count = count;
    return 0;
}

int fb_vec_table(const struct fb_vec *v, uint32_t i, const char *what, struct fb_table *ret)
{
    uint32_t target = 0;
    int r;
    if (i >= v->count)
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: index %u of %u", what, i, v->count);
    if ((r = follow(v->b, (uint64_t)v->pos + 4 * (uint64_t)i, 4, what, &target)) < 0)
        return r;
    return table_at(v->b, target, what, ret);
}

int fb_vec_string(const struct fb_vec *v, uint32_t i, const char *what, struct fb_str *ret)
{
    if (i >= v->count)
        return soci_fail(SOCI_EFORMAT, "flatbuffer: %s: index %u of %u", what, i, v->count);
    return string_at(v->b, v->pos + 4 * i, what, ret);
}
