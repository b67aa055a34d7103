/* SPDX-License-Identifier: Apache-2.0 */
/* Binary searches over sorted arrays, as the C++ library names them. */
#ifndef SOCI_UTIL_SEARCH_H
#define SOCI_UTIL_SEARCH_H

#include <stddef.h>
#include <stdint.h>

/* The index of the first element of a[0..n) (ascending) greater than v; n if none. */
static inline size_t upper_bound_u64(const uint64_t *a, size_t n, uint64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The index of the first element of a[0..n) (ascending) not less than v; n if none. */
static inline size_t lower_bound_u32(const uint32_t *a, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif
