/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/soci.h
 * libsoci: lazy loading of container image layers through SOCI indexes.
 * This umbrella header includes every stable public header.
 */
#ifndef SOCI_SOCI_H
#define SOCI_SOCI_H

#include <soci/version.h>
#include <soci/common.h>
#include <soci/error.h>
#include <soci/log.h>
#include <soci/blob.h>
#include <soci/ztoc.h>
#include <soci/cache.h>
#include <soci/layer.h>
#include <soci/build.h>
#include <soci/config.h>
#include <soci/index.h>
#include <soci/layout.h>
#include <soci/registry.h>
#include <soci/image.h>
#include <soci/fs.h>
#include <soci/erofs.h>

#endif
