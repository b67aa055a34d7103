/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/pathmap.h"

/* FNV-1a: short keys, good spread, no state. */
static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int pathmap_init(struct pathmap *m, uint32_t n, pathmap_key_fn key, const void *owner)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1; /* load factor <= 1/2 keeps probes short */
    m->slots = calloc(cap, sizeof(*m->slots));
    if (m->slots == NULL)
        return soci_fail_nomem("path index");
    m->mask = cap - 1;
    m->key = key;
    m->owner = owner;
    return 0;
}

void pathmap_free(struct pathmap *m)
{
    free(m->slots);
    m->slots = NULL;
}

void pathmap_put(struct pathmap *m, uint32_t value)
{
    const char *k = m->key(m->owner, value);
    size_t len = strlen(k);
    size_t i = hash_bytes(k, len) & m->mask;

    for (;; i = (i + 1) & m->mask) {
        uint32_t s = m->slots[i];
        if (s == 0 || strcmp(m->key(m->owner, s - 1), k) == 0) {
            m->slots[i] = value + 1;
            return;
        }
    }
}

int64_t pathmap_get(const struct pathmap *m, const char *key, size_t len)
{
    size_t i = hash_bytes(key, len) & m->mask;

    for (;; i = (i + 1) & m->mask) {
        uint32_t s = m->slots[i];
        if (s == 0)
            return -1;
        const char *k = m->key(m->owner, s - 1);
        if (strncmp(k, key, len) == 0 && k[len] == '\0')
            return (int64_t)s - 1;
    }
}
