/* SPDX-License-Identifier: Apache-2.0 */
/* What the harnesses share. Each harness is one LLVMFuzzerTestOneInput; built with
 * -fsanitize=fuzzer it is a libFuzzer target, linked with replay_main.c it replays files
 * (seeds and committed crashers) in the normal test suite. */
#ifndef SOCI_FUZZ_H
#define SOCI_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a NUL-terminated string (malloc'd); embedded NULs end it early, as in C. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Take n bytes off the front of the input (fewer if it is shorter). */
static inline const uint8_t *fuzz_take(const uint8_t **data, size_t *size, size_t n)
{
    const uint8_t *p = *data;
    n = n < *size ? n : *size;
    *data += n;
    *size -= n;
    return p;
}

/* Input as a stream for the builder, handed out in pieces of at most piece bytes. */
struct fuzz_source {
    const uint8_t *data;
    size_t size, pos, piece;
};

static inline int64_t fuzz_read(void *ctx, void *buf, size_t len)
{
    struct fuzz_source *s = ctx;
    size_t n = s->size - s->pos < len ? s->size - s->pos : len;
    n = s->piece && n > s->piece ? s->piece : n;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (int64_t)n;
}

#endif
