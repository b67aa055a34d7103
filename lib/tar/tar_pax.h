/* SPDX-License-Identifier: Apache-2.0 */
/* PAX extended header records: "<len> <key>=<value>\n", later records overriding. */
#ifndef SOCI_TAR_TAR_PAX_H
#define SOCI_TAR_TAR_PAX_H

#include <stddef.h>
#include <stdint.h>

#include "tar/tar_reader.h"

/* A set of records kept sorted by key, each key once. */
struct pax_set {
    struct tar_record *recs;
    size_t count;
    size_t cap;
};

void pax_set_clear(struct pax_set *s);
int pax_set_put(struct pax_set *s, const char *key, size_t key_len, const char *value, size_t value_len);
const struct tar_record *pax_set_get(const struct pax_set *s, const char *key);
/* dst = every record of a, then of b (b's win). */
int pax_set_merge(struct pax_set *dst, const struct pax_set *a, const struct pax_set *b);

/* Parse a PAX header's data into s. SOCI_EFORMAT naming the fault if malformed. */
int pax_parse(const uint8_t *data, size_t len, struct pax_set *s);

/* "sec[.frac]" (optionally negative) into seconds and nanoseconds, as Go parses it. */
int pax_time(const char *v, int64_t *sec, uint32_t *nsec);

#endif
