/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "format/flatbuf_build.h"
#include "util/bytes.h"
#include "util/error.h"

void fbb_init(struct fbb *b)
{
    memset(b, 0, sizeof(*b));
    b->minalign = 1;
}

void fbb_free(struct fbb *b)
{
    free(b->buf);
    free(b->vtables);
    memset(b, 0, sizeof(*b));
}

static uint32_t fbb_offset(const struct fbb *b)
{
    return (uint32_t)(b->cap - b->head);
}

/* Make room for n more bytes in front of the data, doubling like Go's builder. */
static int reserve(struct fbb *b, size_t n)
{
    if (b->error)
        return -1;
    if (b->head >= n)
        return 0;
    size_t used = b->cap - b->head, ncap = b->cap ? b->cap : 64;
    while (ncap - used < n) {
        if (ncap >= FBB_MAX_SIZE) {
            b->error = soci_fail(SOCI_ETOOBIG, "flatbuffer: output larger than %zu bytes", FBB_MAX_SIZE);
            return -1;
        }
        ncap *= 2;
    }
    uint8_t *nbuf = malloc(ncap);
    if (nbuf == NULL) {
        b->error = soci_fail_nomem("flatbuffer output");
        return -1;
    }
    memset(nbuf, 0, ncap - used);
    if (used)
        memcpy(nbuf + ncap - used, b->buf + b->head, used);
    free(b->buf);
    b->buf = nbuf;
    b->head = ncap - used;
    b->cap = ncap;
    return 0;
}

static void place(struct fbb *b, const void *p, size_t n)
{
    b->head -= n;
    if (n) /* an empty vector may come as NULL (no checkpoints in a chunk TOC's zTOC) */
        memcpy(b->buf + b->head, p, n);
}

/* Align so that an element of `size` bytes is aligned once `additional` bytes follow. */
static int prep(struct fbb *b, size_t size, size_t additional)
{
    if (size > b->minalign)
        b->minalign = size;
    size_t pad = (size_t)(-(fbb_offset(b) + additional)) & (size - 1);
    if (reserve(b, pad + size + additional) < 0)
        return -1;
    b->head -= pad;
    memset(b->buf + b->head, 0, pad);
    return 0;
}

static void put_u16(struct fbb *b, uint16_t v)
{
    uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    if (prep(b, 2, 0) == 0)
        place(b, le, 2);
}

static void put_u32(struct fbb *b, uint32_t v)
{
    uint8_t le[4];
    store_u32le(le, v);
    if (prep(b, 4, 0) == 0)
        place(b, le, 4);
}

static void put_u64(struct fbb *b, uint64_t v)
{
    uint8_t le[8];
    store_u64le(le, v);
    if (prep(b, 8, 0) == 0)
        place(b, le, 8);
}

/* A reference stored here points `ref` relative to its own position. */
static void put_ref(struct fbb *b, fbb_ref ref)
{
    if (prep(b, 4, 0) < 0)
        return;
    uint8_t le[4];
    store_u32le(le, fbb_offset(b) - ref + 4);
    place(b, le, 4);
}

static fbb_ref end_vector(struct fbb *b, size_t n)
{
    uint8_t le[4];
    if (b->error)
        return 0;
    store_u32le(le, (uint32_t)n);
    place(b, le, 4); /* room was made by the vector's prep */
    return fbb_offset(b);
}

fbb_ref fbb_string(struct fbb *b, const void *s, size_t len)
{
    if (len > FBB_MAX_SIZE || prep(b, 4, len + 1) < 0)
        return 0;
    static const uint8_t nul = 0;
    place(b, &nul, 1);
    place(b, s, len);
    return end_vector(b, len);
}

fbb_ref fbb_bytes(struct fbb *b, const void *data, size_t len)
{
    if (len > FBB_MAX_SIZE || prep(b, 4, len) < 0)
        return 0;
    place(b, data, len);
    return end_vector(b, len);
}

fbb_ref fbb_ref_vector(struct fbb *b, const fbb_ref *refs, size_t n)
{
    if (n > FBB_MAX_SIZE / 4 || prep(b, 4, 4 * n) < 0 || prep(b, 4, 4 * n) < 0)
        return 0;
    for (size_t i = n; i-- > 0;)
        put_ref(b, refs[i]);
    return end_vector(b, n);
}

void fbb_start_table(struct fbb *b, unsigned nfields)
{
    memset(b->fields, 0, sizeof(b->fields));
    b->nfields = nfields;
    b->object_end = fbb_offset(b);
    b->minalign = 1;
}

static void slot(struct fbb *b, unsigned s)
{
    b->fields[s] = fbb_offset(b);
}

void fbb_add_i8(struct fbb *b, unsigned s, int8_t x, int8_t def)
{
    if (x == def || prep(b, 1, 0) < 0)
        return;
    place(b, &x, 1);
    slot(b, s);
}

void fbb_add_i32(struct fbb *b, unsigned s, int32_t x, int32_t def)
{
    if (x != def) {
        put_u32(b, (uint32_t)x);
        slot(b, s);
    }
}

void fbb_add_u32(struct fbb *b, unsigned s, uint32_t x, uint32_t def)
{
    if (x != def) {
        put_u32(b, x);
        slot(b, s);
    }
}

void fbb_add_i64(struct fbb *b, unsigned s, int64_t x, int64_t def)
{
    if (x != def) {
        put_u64(b, (uint64_t)x);
        slot(b, s);
    }
}

void fbb_add_ref(struct fbb *b, unsigned s, fbb_ref ref)
{
    if (ref != 0) {
        put_ref(b, ref);
        slot(b, s);
    }
}

/* The field part of the open table's vtable, as it would be written. */
static void field_entries(const struct fbb *b, uint32_t object, uint16_t *out)
{
    for (unsigned i = 0; i < b->nfields; i++)
        out[i] = b->fields[i] ? (uint16_t)(object - b->fields[i]) : 0;
}

static uint64_t hash_fields(const uint16_t *f, unsigned n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    for (unsigned i = 0; i < n; i++)
        h = (h ^ f[i]) * 1099511628211ull;
    return h;
}

/* A written vtable whose fields equal these (Go compares fields only, not the table
 * size stored beside them), or 0. */
static uint32_t find_vtable(const struct fbb *b, const uint16_t *f, unsigned n, size_t *slot_ret)
{
    size_t i = b->vt_mask ? hash_fields(f, n) & b->vt_mask : 0;
    if (b->vtables == NULL)
        return 0;
    for (;; i = (i + 1) & b->vt_mask) {
        uint32_t vt = b->vtables[i];
        if (vt == 0) {
            *slot_ret = i;
            return 0;
        }
        const uint8_t *p = b->buf + b->cap - vt;
        if (load_u16le(p) == (n + 2) * 2) {
            unsigned k = 0;
            while (k < n && load_u16le(p + 4 + 2 * k) == f[k])
                k++;
            if (k == n)
                return vt;
        }
    }
}

static int remember_vtable(struct fbb *b, uint32_t vt, const uint16_t *f, unsigned n)
{
    if (2 * (b->vt_count + 1) > b->vt_mask + 1) {
        size_t ncap = b->vt_mask ? 2 * (b->vt_mask + 1) : 64;
        uint32_t *old = b->vtables;
        size_t old_cap = b->vt_mask ? b->vt_mask + 1 : 0;
        b->vtables = calloc(ncap, sizeof(*b->vtables));
        if (b->vtables == NULL) {
            b->vtables = old;
            return b->error = soci_fail_nomem("flatbuffer vtables");
        }
        b->vt_mask = ncap - 1;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i] == 0)
                continue;
            const uint8_t *p = b->buf + b->cap - old[i];
            unsigned on = load_u16le(p) / 2 - 2;
            uint16_t of[FBB_MAX_FIELDS];
            for (unsigned k = 0; k < on; k++)
                of[k] = load_u16le(p + 4 + 2 * k);
            size_t j = hash_fields(of, on) & b->vt_mask;
            while (b->vtables[j] != 0)
                j = (j + 1) & b->vt_mask;
            b->vtables[j] = old[i];
        }
        free(old);
    }
    size_t j = hash_fields(f, n) & b->vt_mask;
    while (b->vtables[j] != 0)
        j = (j + 1) & b->vt_mask;
    b->vtables[j] = vt;
    b->vt_count++;
    return 0;
}

fbb_ref fbb_end_table(struct fbb *b)
{
    uint16_t f[FBB_MAX_FIELDS];
    size_t unused;

    put_u32(b, 0); /* the table's soffset to its vtable, patched below */
    if (b->error)
        return 0;
    uint32_t object = fbb_offset(b);
    field_entries(b, object, f);
    uint32_t vt = find_vtable(b, f, b->nfields, &unused);
    if (vt == 0) {
        for (unsigned i = b->nfields; i-- > 0;)
            put_u16(b, f[i]);
        put_u16(b, (uint16_t)(object - b->object_end));
        put_u16(b, (uint16_t)((b->nfields + 2) * 2));
        if (b->error)
            return 0;
        vt = fbb_offset(b);
        if (remember_vtable(b, vt, f, b->nfields) < 0)
            return 0;
    }
    /* soffset = table position - vtable position; positions grow as offsets shrink. */
    store_u32le(b->buf + b->cap - object, (uint32_t)((int32_t)vt - (int32_t)object));
    return object;
}

int fbb_finish(struct fbb *b, fbb_ref root, uint8_t **ret, size_t *ret_len)
{
    prep(b, b->minalign, 4);
    put_ref(b, root);
    if (b->error)
        return b->error;
    size_t len = b->cap - b->head;
    uint8_t *out = malloc(len ? len : 1);
    if (out == NULL)
        return soci_fail_nomem("flatbuffer output");
    memcpy(out, b->buf + b->head, len);
    *ret = out;
    *ret_len = len;
    return 0;
}
