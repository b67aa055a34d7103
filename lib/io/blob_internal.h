/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_IO_BLOB_INTERNAL_H
#define SOCI_IO_BLOB_INTERNAL_H

#include <soci/blob.h>

/* Read several ranges, each bounded against the blob's size; through the backend's
 * read_vec when it has one. */
int blob_read_vec(soci_blob *b, const struct soci_iov_at *iov, size_t count);

#endif
