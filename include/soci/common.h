/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/common.h
 * Export macro and shared conventions of every libsoci header.
 *
 * Conventions, once for all headers:
 * - Every call that can fail returns an int: 0 on success or a negative SOCI_E* code
 *   (see soci/error.h); byte counts are int64_t, negative on error.
 * - Out-pointers come last, are named ret, and are left untouched when a call fails.
 * - Handles are opaque. Functions named _free or _unref accept NULL.
 * - Strings passed in are copied unless a function says otherwise; pointers returned by
 *   accessors live as long as the handle they came from.
 */
#ifndef SOCI_COMMON_H
#define SOCI_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(SOCI_BUILDING_LIBRARY) && defined(__GNUC__)
#define SOCI_API __attribute__((visibility("default")))
#else
#define SOCI_API
#endif

#ifdef __cplusplus
#define SOCI_BEGIN_DECLS extern "C" {
#define SOCI_END_DECLS }
#else
#define SOCI_BEGIN_DECLS
#define SOCI_END_DECLS
#endif

#endif
