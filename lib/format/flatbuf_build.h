/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A flatbuffers builder that lays bytes out exactly as the Go flatbuffers Builder does,
 * so that a zTOC we write is byte-identical to the reference's for the same content.
 * Like Go's, it builds back to front: children before parents, a table's fields
 * prepended in the order they are added, alignment padding computed the same way,
 * vtables never trimmed and shared between tables whose field offsets agree.
 *
 * Offsets (fbb_ref) count bytes from the end of the buffer, as in every flatbuffers
 * builder. A builder stops at FBB_MAX_SIZE; errors stick, so a sequence of calls can be
 * checked once at the end with fbb_finish().
 */
#ifndef SOCI_FORMAT_FLATBUF_BUILD_H
#define SOCI_FORMAT_FLATBUF_BUILD_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t fbb_ref;

#define FBB_MAX_FIELDS 16
#define FBB_MAX_SIZE ((size_t)1 << 31)

struct fbb {
    uint8_t *buf;
    size_t cap;
    size_t head;     /* data lives in buf[head, cap) */
    size_t minalign;
    int error;       /* first error, sticky */

    uint32_t fields[FBB_MAX_FIELDS]; /* offset of each field of the open table, 0 = absent */
    unsigned nfields;
    uint32_t object_end;

    uint32_t *vtables; /* offsets of written vtables: an open-addressing set */
    size_t vt_mask;
    size_t vt_count;
};

void fbb_init(struct fbb *b);
void fbb_free(struct fbb *b);

fbb_ref fbb_string(struct fbb *b, const void *s, size_t len);
fbb_ref fbb_bytes(struct fbb *b, const void *data, size_t len);
/* A vector of references, elements in order. */
fbb_ref fbb_ref_vector(struct fbb *b, const fbb_ref *refs, size_t n);

void fbb_start_table(struct fbb *b, unsigned nfields);
/* Scalars equal to their schema default are not written (as Go's Prepend*Slot). */
void fbb_add_i8(struct fbb *b, unsigned slot, int8_t x, int8_t def);
void fbb_add_i32(struct fbb *b, unsigned slot, int32_t x, int32_t def);
void fbb_add_u32(struct fbb *b, unsigned slot, uint32_t x, uint32_t def);
void fbb_add_i64(struct fbb *b, unsigned slot, int64_t x, int64_t def);
void fbb_add_ref(struct fbb *b, unsigned slot, fbb_ref ref);
fbb_ref fbb_end_table(struct fbb *b);

/* Point the root at `root` and hand over the finished bytes (caller frees *ret). */
int fbb_finish(struct fbb *b, fbb_ref root, uint8_t **ret, size_t *ret_len);

#endif
