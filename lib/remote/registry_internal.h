/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_REMOTE_REGISTRY_INTERNAL_H
#define SOCI_REMOTE_REGISTRY_INTERNAL_H

#include <soci/registry.h>

#include "remote/http.h"
#include "remote/reference.h"

/* One request to the registry of ref: the URL is https://host/v2/<repo>/<path> (or
 * http). Authenticates on a challenge and retries failures; returns with any final HTTP
 * status for the caller to judge, or an error when retries run out. */
int registry_request(soci_registry *r, const struct image_ref *ref, struct http_request *req, const char *path,
                     struct http_response *resp);

/* The registry's HTTP client, for requests that bypass the registry (a blob's storage
 * URL, reused after a redirect). Counts them like registry requests. */
int registry_direct(soci_registry *r, struct http_request *req, struct http_response *resp);

#endif
