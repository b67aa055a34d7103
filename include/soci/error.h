/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/error.h
 * Error codes, their names, and the calling thread's detailed message.
 *
 * The numeric values are pinned: a code is never renumbered or reused. New codes are
 * appended below the last one.
 */
#ifndef SOCI_ERROR_H
#define SOCI_ERROR_H

#include <soci/common.h>

SOCI_BEGIN_DECLS

#define SOCI_OK 0 /**< success */
#define SOCI_EINVAL (-1)    /**< invalid argument or API misuse */
#define SOCI_ENOMEM (-2)    /**< out of memory */
#define SOCI_EFORMAT (-3)   /**< malformed or hostile input (zTOC, tar, gzip, JSON) */
#define SOCI_EDIGEST (-4)   /**< content does not match its digest */
#define SOCI_ENOTFOUND (-5) /**< no such entry, file or object */
#define SOCI_EIO (-6)       /**< I/O error reading a blob */
#define SOCI_ENET (-7)      /**< network error talking to a registry */
#define SOCI_EAUTH (-8)     /**< authentication or authorisation failed */
#define SOCI_ERANGE (-9)    /**< offset or size outside the object */
#define SOCI_ENOTSUP (-10)  /**< operation not supported by this object */
#define SOCI_ETOOBIG (-11)  /**< input exceeds a libsoci limit */
#define SOCI_ENOTDIR (-12)  /**< a path component is not a directory */
#define SOCI_EISDIR (-13)   /**< the entry is a directory */
#define SOCI_ELOOP (-14)    /**< too many links followed */

/**
 * The name of a code, e.g. "SOCI_EFORMAT". Static text, never NULL ("SOCI_E?" for an
 * unknown code). Thread-safe.
 */
SOCI_API const char *soci_errname(int err);

/** A short description of a code, e.g. "malformed input". Static text, never NULL. */
SOCI_API const char *soci_strerror(int err);

/**
 * The errno value that best matches a code (SOCI_EDIGEST -> EIO, SOCI_ENOTFOUND -> ENOENT),
 * for file system front ends such as FUSE. Returns 0 for 0.
 */
SOCI_API int soci_errno(int err);

/**
 * The detailed message of the calling thread's last failed libsoci call, naming what
 * failed (file, entry, span, offset). Never NULL; "" when there is none. The pointer is
 * valid until the next libsoci call on this thread.
 */
SOCI_API const char *soci_last_error(void);

/** Forget the calling thread's last error message. */
SOCI_API void soci_clear_error(void);

/** The library's version, MAJOR*10000 + MINOR*100 + PATCH (see SOCI_VERSION_NUMBER). */
SOCI_API unsigned soci_version(void);

/** The library's version as text, e.g. "0.1.0". Static, never NULL. */
SOCI_API const char *soci_version_string(void);

SOCI_END_DECLS

#endif
