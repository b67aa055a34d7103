/* SPDX-License-Identifier: Apache-2.0 */
/* Little-endian loads from untrusted buffers (callers bound the offsets first) and
 * overflow-checked size arithmetic. */
#ifndef SOCI_UTIL_BYTES_H
#define SOCI_UTIL_BYTES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t load_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t load_u64le(const uint8_t *p)
{
    return (uint64_t)load_u32le(p) | ((uint64_t)load_u32le(p + 4) << 32);
}

static inline void store_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void store_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void store_u64le(uint8_t *p, uint64_t v)
{
    store_u32le(p, (uint32_t)v);
    store_u32le(p + 4, (uint32_t)(v >> 32));
}

/* True when [off, off+len) lies inside a buffer of size total, without overflow. */
static inline bool range_ok(uint64_t off, uint64_t len, uint64_t total)
{
    return off <= total && len <= total - off;
}

#define add_overflows(a, b, res) __builtin_add_overflow((a), (b), (res))
#define mul_overflows(a, b, res) __builtin_mul_overflow((a), (b), (res))

#endif
