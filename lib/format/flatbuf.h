/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A verifying reader for the flatbuffers wire format, enough for the zTOC schemas.
 *
 * Every accessor checks what it touches against the buffer before reading it: offsets
 * land inside the buffer, vtables and table bodies fit, a field lies inside its table's
 * inline size, vectors and strings fit (strings with their NUL). Failures return
 * SOCI_EFORMAT with a message naming the field (the `what` argument).
 *
 * Objects may be shared (several offsets pointing at one table), so a hostile buffer
 * could make a naive walk revisit the same large vector without end. Each visit costs
 * one unit of a budget sized to the buffer; exhausting it is an error.
 */
#ifndef SOCI_FORMAT_FLATBUF_H
#define SOCI_FORMAT_FLATBUF_H

#include <stddef.h>
#include <stdint.h>

struct fb_buf {
    const uint8_t *data;
    size_t len;
    uint64_t budget; /* objects left to visit */
};

struct fb_table {
    struct fb_buf *b;
    uint32_t pos;    /* table start (its soffset to the vtable) */
    uint32_t vt;     /* vtable start */
    uint16_t vt_len; /* vtable size in bytes */
    uint16_t size;   /* table inline size in bytes */
};

struct fb_vec {
    struct fb_buf *b;
    uint32_t pos;   /* first element */
    uint32_t count;
};

struct fb_str {
    const char *ptr; /* NUL-terminated inside the buffer */
    uint32_t len;
};

void fb_buf_init(struct fb_buf *b, const void *data, size_t len);

/* The root table (uoffset at byte 0). */
int fb_root(struct fb_buf *b, struct fb_table *ret);

/* Byte position of field id (size bytes) in the buffer, or 0 when the field is absent. */
int fb_field_pos(const struct fb_table *t, unsigned id, size_t size, const char *what, uint32_t *ret);

/* Scalars. An absent field yields def. */
int fb_u8(const struct fb_table *t, unsigned id, uint8_t def, const char *what, uint8_t *ret);
int fb_i32(const struct fb_table *t, unsigned id, int32_t def, const char *what, int32_t *ret);
int fb_u32(const struct fb_table *t, unsigned id, uint32_t def, const char *what, uint32_t *ret);
int fb_i64(const struct fb_table *t, unsigned id, int64_t def, const char *what, int64_t *ret);

/* A string field; absent yields "" with len 0. */
int fb_string(const struct fb_table *t, unsigned id, const char *what, struct fb_str *ret);

/* A sub-table field; absent gives *present = 0. */
int fb_table_field(const struct fb_table *t, unsigned id, const char *what, struct fb_table *ret,
                   int *present);

/* A vector field of elem_size-byte elements (4 for tables and strings); absent is empty. */
int fb_vector(const struct fb_table *t, unsigned id, size_t elem_size, const char *what,
              struct fb_vec *ret);

/* Element i of a vector of tables / of strings. */
int fb_vec_table(const struct fb_vec *v, uint32_t i, const char *what, struct fb_table *ret);
int fb_vec_string(const struct fb_vec *v, uint32_t i, const char *what, struct fb_str *ret);

/* Pointer to the first byte of a vector of bytes (count bytes, already bounded). */
static inline const uint8_t *fb_vec_bytes(const struct fb_vec *v)
{
    return v->b->data + v->pos;
}

#endif
