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

/* A request to the registry's origin for path, with whatever authorization is cached,
 * for requests sent outside registry_request (in parallel). Answers other than the one
 * expected are to be retried through registry_request. */
int registry_prepare(soci_registry *r, const struct image_ref *ref, const char *path, struct http_request *req,
                     char *url, size_t url_size, char *auth, size_t auth_size);
void registry_count(soci_registry *r, uint64_t requests, uint64_t bytes);

/* host answered a range request with its whole blob: remembered, and said once in the log.
 * Range requests to it go one at a time from then on (each streams from the blob's start). */
void registry_note_rangeless(soci_registry *r, const char *host);
bool registry_is_rangeless(soci_registry *r, const char *host);

/* host answered a request for several ranges with something else than byte ranges we
 * could place (a 200, a malformed or unknown body): remembered, said once in the log,
 * and asked for one range per request from then on. */
void registry_note_one_range(soci_registry *r, const char *host);
bool registry_is_one_range(soci_registry *r, const char *host);

/* The registry's HTTP client, for http_do_many. */
struct http *registry_http(soci_registry *r);

#endif
