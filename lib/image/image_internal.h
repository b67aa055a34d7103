/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_IMAGE_INTERNAL_H
#define SOCI_IMAGE_INTERNAL_H

#include <soci/image.h>

/* The cache set with soci_image_set_cache, or NULL. */
const soci_cache *image_cache(const soci_image *img);

#endif
