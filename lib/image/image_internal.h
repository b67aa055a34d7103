/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_IMAGE_INTERNAL_H
#define SOCI_IMAGE_INTERNAL_H

#include <soci/image.h>

/* The cache set with soci_image_set_cache, or NULL. */
const soci_cache *image_cache(const soci_image *img);

/* Fetch and parse the SOCI zTOCs of the layers not yet opened, IMAGE_ZTOC_THREADS at a
 * time, so that opening the layers one after another (soci_fs_open) does not wait for each
 * in turn: a zTOC is tens of MB for a big layer, and checking, storing and parsing one
 * left a connection and a CPU idle. Each layer's prefetch artifact comes beside its zTOC,
 * for image_layer_prefetch. Best effort: a zTOC or artifact that fails is fetched again,
 * and its error told, when it is used. Registry images only (a layout's are local);
 * called on the one thread the image is used by. */
#define IMAGE_ZTOC_THREADS 4
void image_load_ztocs(soci_image *img);

struct prefetch_range;

/* The ranges of layer i's prefetch artifact (fetched, digest-checked, parsed; *ret free()),
 * or none (*count 0) when the SOCI index has no artifact for it. */
int image_layer_prefetch(soci_image *img, uint32_t i, struct prefetch_range **ret, size_t *count);

#endif
