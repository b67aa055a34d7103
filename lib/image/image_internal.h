/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_IMAGE_INTERNAL_H
#define SOCI_IMAGE_INTERNAL_H

#include <soci/image.h>

/* The cache set with soci_image_set_cache, or NULL. */
const soci_cache *image_cache(const soci_image *img);

struct prefetch_range;

/* The ranges of layer i's prefetch artifact (fetched, digest-checked, parsed; *ret free()),
 * or none (*count 0) when the SOCI index has no artifact for it. */
int image_layer_prefetch(soci_image *img, uint32_t i, struct prefetch_range **ret, size_t *count);

#endif
