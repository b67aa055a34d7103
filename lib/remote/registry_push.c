/* SPDX-License-Identifier: Apache-2.0 */
/* Uploads: blobs (monolithic: POST an upload, PUT its bytes with the digest) and
 * manifests (PUT under a tag or digest), as the distribution API defines them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/registry_internal.h"
#include "util/digest.h"
#include "util/error.h"

#define SMALL_RESPONSE ((size_t)64 << 10)

static int put_status(const struct image_ref *ref, const char *what, const struct http_response *resp, long want)
{
    if (resp->status == want)
        return 0;
    int code = resp->status == 401 || resp->status == 403 ? SOCI_EAUTH : SOCI_ENET;
    return soci_fail(code, "%s/%s: %s: HTTP %ld%s%.200s", ref->host, ref->repo, what, resp->status,
                     resp->body ? ": " : "", resp->body ? resp->body : "");
}

int soci_registry_put_blob(soci_registry *r, const char *ref_text, const void *data, size_t len)
{
    struct image_ref ref;
    struct http_response resp;
    char digest[DIGEST_TEXT_LEN + 1], path[4200];
    uint8_t d[SHA256_LEN];
    int err;
    if (r == NULL || (data == NULL && len))
        return soci_fail(SOCI_EINVAL, "soci_registry_put_blob: bad arguments");
    if ((err = ref_parse(ref_text, &ref)) < 0 || (err = sha256(data, len, d)) < 0)
        return err;
    digest_format(d, digest);

    snprintf(path, sizeof(path), "blobs/%s", digest);
    struct http_request head = {.method = "HEAD", .max_body = SMALL_RESPONSE};
    if ((err = registry_request(r, &ref, &head, path, &resp)) < 0)
        return err;
    http_response_free(&resp);
    if (resp.status == 200)
        return 0; /* already there */

    struct http_request post = {.method = "POST", .max_body = SMALL_RESPONSE};
    if ((err = registry_request(r, &ref, &post, "blobs/uploads/", &resp)) < 0)
        return err;
    char location[sizeof(resp.location)];
    snprintf(location, sizeof(location), "%s", resp.location);
    err = put_status(&ref, "starting an upload", &resp, 202);
    http_response_free(&resp);
    if (err < 0)
        return err;
    if (location[0] == '\0')
        return soci_fail(SOCI_ENET, "%s/%s: upload started without a Location", ref.host, ref.repo);
    snprintf(path, sizeof(path), "%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?", digest);
    struct http_request put = {.method = "PUT", .content_type = "application/octet-stream", .body = data,
                               .body_len = len, .max_body = SMALL_RESPONSE};
    if ((err = registry_request(r, &ref, &put, path, &resp)) < 0)
        return err;
    err = put_status(&ref, digest, &resp, 201);
    http_response_free(&resp);
    return err;
}

int soci_registry_put_manifest(soci_registry *r, const char *ref_text, const char *media_type, const void *data,
                               size_t len)
{
    struct image_ref ref;
    struct http_response resp;
    char digest[DIGEST_TEXT_LEN + 1], path[400];
    uint8_t d[SHA256_LEN];
    int err;
    if (r == NULL || media_type == NULL || data == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_put_manifest: bad arguments");
    if ((err = ref_parse(ref_text, &ref)) < 0 || (err = sha256(data, len, d)) < 0)
        return err;
    digest_format(d, digest);
    bool by_tag = strchr(ref_text, '@') == NULL; /* a reference without a digest has a tag (latest by default) */
    snprintf(path, sizeof(path), "manifests/%s", by_tag ? ref.tag : digest);
    struct http_request put = {.method = "PUT", .content_type = media_type, .body = data, .body_len = len,
                               .max_body = SMALL_RESPONSE};
    if ((err = registry_request(r, &ref, &put, path, &resp)) < 0)
        return err;
    err = put_status(&ref, by_tag ? ref.tag : digest, &resp, 201);
    http_response_free(&resp);
    return err;
}
