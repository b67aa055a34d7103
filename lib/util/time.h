/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 3339 timestamps as the zTOC stores them ("2023-11-14T22:13:20.1234567Z"). */
#ifndef SOCI_UTIL_TIME_H
#define SOCI_UTIL_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) into UTC seconds and nanoseconds.
 * Fractions beyond nanoseconds are truncated. False if s is not of that form. */
bool rfc3339_parse(const char *s, size_t len, int64_t *sec, uint32_t *nsec);

/* Format UTC seconds + nanoseconds as Go's time.MarshalText does (RFC 3339 with the
 * fraction's trailing zeros dropped) into out (at least 36 bytes). Years outside
 * 0..9999 cannot be written that way: out becomes "" (Go's MarshalText fails and the
 * reference stores the empty string). */
void rfc3339_format(int64_t sec, uint32_t nsec, char *out, size_t out_len);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
