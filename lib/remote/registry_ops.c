/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests, whole blobs and referrers from a registry, each checked by digest. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/index.h>

#include "remote/registry_internal.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/thread.h"

#define MAX_MANIFEST ((size_t)4 << 20)
#define MANIFEST_ACCEPT                                                                                 \
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "             \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                                      \
    "application/vnd.docker.distribution.manifest.v2+json"

static int status_error(const struct image_ref *ref, const char *what, long status)
{
    int code = status == 404 ? SOCI_ENOTFOUND : status == 401 || status == 403 ? SOCI_EAUTH : SOCI_ENET;
    return soci_fail(code, "%s/%s: %s: HTTP %ld", ref->host, ref->repo, what, status);
}

/* Check body against want (a digest; may be ""), and put its own digest in got. */
static int check_digest(const struct image_ref *ref, const void *body, size_t len, const char *want, char *got)
{
    uint8_t d[SHA256_LEN];
    int r = sha256(body, len, d);
    if (r < 0)
        return r;
    digest_format(d, got);
    if (want[0] && strcmp(want, got) != 0)
        return soci_fail(SOCI_EDIGEST, "%s/%s: content is %s, expected %s", ref->host, ref->repo, got, want);
    return 0;
}

/* soci_registry_get_manifest; with one_try, without retries. */
static int get_manifest(soci_registry *r, const char *ref_text, void **ret, size_t *ret_len,
                        char ret_digest[SOCI_REGISTRY_DIGEST_BUFSIZE], bool one_try)
{
    struct image_ref ref;
    struct http_response resp;
    char path[400], got[DIGEST_TEXT_LEN + 1];
    int err;
    if (r == NULL || ret == NULL || ret_len == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_get_manifest: bad arguments");
    if ((err = ref_parse(ref_text, &ref)) < 0)
        return err;
    snprintf(path, sizeof(path), "manifests/%s", ref.digest[0] ? ref.digest : ref.tag);
    struct http_request req = {.method = "GET", .accept = MANIFEST_ACCEPT, .max_body = MAX_MANIFEST,
                               .one_try = one_try};
    if ((err = registry_request(r, &ref, &req, path, &resp)) < 0)
        return err;
    if (resp.status != 200) {
        http_response_free(&resp);
        return status_error(&ref, ref.digest[0] ? ref.digest : ref.tag, resp.status);
    }
    /* A digest asked for must match; else the digest the registry states, if it states one. */
    const char *want = ref.digest[0] ? ref.digest : resp.docker_digest;
    if ((err = check_digest(&ref, resp.body ? resp.body : "", resp.body_len, want, got)) < 0) {
        http_response_free(&resp);
        return err;
    }
    if (ret_digest)
        snprintf(ret_digest, SOCI_REGISTRY_DIGEST_BUFSIZE, "%s", got);
    *ret = resp.body ? resp.body : calloc(1, 1);
    *ret_len = resp.body_len;
    return *ret ? 0 : soci_fail_nomem("manifest");
}

int soci_registry_get_manifest(soci_registry *r, const char *ref_text, void **ret, size_t *ret_len,
                               char ret_digest[SOCI_REGISTRY_DIGEST_BUFSIZE])
{
    return get_manifest(r, ref_text, ret, ret_len, ret_digest, false);
}

int soci_registry_get_blob(soci_registry *r, const char *ref_text, const char *digest, uint64_t max_size, void **ret,
                           size_t *ret_len)
{
    struct image_ref ref;
    struct http_response resp;
    char path[400], got[DIGEST_TEXT_LEN + 1];
    uint8_t d[SHA256_LEN];
    int err;
    if (r == NULL || digest == NULL || !digest_parse(digest, strlen(digest), d) || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_get_blob: bad arguments");
    if ((err = ref_parse(ref_text, &ref)) < 0)
        return err;
    snprintf(path, sizeof(path), "blobs/%s", digest);
    struct http_request req = {.method = "GET", .max_body = max_size};
    if ((err = registry_request(r, &ref, &req, path, &resp)) < 0)
        return err;
    if (resp.status != 200) {
        http_response_free(&resp);
        return status_error(&ref, digest, resp.status);
    }
    if ((err = check_digest(&ref, resp.body ? resp.body : "", resp.body_len, digest, got)) < 0) {
        http_response_free(&resp);
        return err;
    }
    *ret = resp.body ? resp.body : calloc(1, 1);
    *ret_len = resp.body_len;
    return *ret ? 0 : soci_fail_nomem("blob");
}

/* The referrers tag fallback, asked beside the API (fallback_main): a registry without
 * the API (distribution 2.8 answers 404) then costs no round trip more than one with it.
 * Asked on speculation, it gets one try, so a registry whose API answers never waits
 * for the fallback's retries; when the API does not answer, a fallback that failed is
 * asked again with them. */
struct fallback {
    soci_registry *r;
    char ref[REF_HOST_MAX + REF_REPO_MAX + 80];
    void *data;
    size_t len;
    int code;
    char message[512];
    pthread_t thread;
};

/* Ask for the fallback tag; f's code, data and message say how it went (the message
 * copied: the error detail is the asking thread's). */
static void ask_fallback(struct fallback *f, bool one_try)
{
    f->code = get_manifest(f->r, f->ref, &f->data, &f->len, NULL, one_try);
    if (f->code < 0)
        snprintf(f->message, sizeof(f->message), "%s", soci_last_error());
}

static void *fallback_main(void *arg)
{
    ask_fallback(arg, true);
    return NULL;
}

int soci_registry_get_referrers(soci_registry *r, const char *ref_text, const char *manifest_digest, void **ret,
                                size_t *ret_len)
{
    struct image_ref ref;
    struct http_response resp;
    char path[400];
    uint8_t d[SHA256_LEN];
    int err;
    if (r == NULL || manifest_digest == NULL || !digest_parse(manifest_digest, strlen(manifest_digest), d))
        return soci_fail(SOCI_EINVAL, "soci_registry_get_referrers: bad arguments");
    if ((err = ref_parse(ref_text, &ref)) < 0)
        return err;
    struct fallback f = {.r = r};
    snprintf(f.ref, sizeof(f.ref), "%s/%s:sha256-%s", ref.host, ref.repo, manifest_digest + 7);
    bool beside = thread_start(&f.thread, fallback_main, &f) == 0;
    snprintf(path, sizeof(path), "referrers/%s", manifest_digest);
    struct http_request req = {.method = "GET", .accept = "application/vnd.oci.image.index.v1+json",
                               .max_body = MAX_MANIFEST};
    err = registry_request(r, &ref, &req, path, &resp);
    bool api = err == 0 && resp.status == 200 && strstr(resp.content_type, "image.index") != NULL;
    if (err == 0 && !api)
        http_response_free(&resp);
    if (beside)
        pthread_join(f.thread, NULL);
    if (err < 0 || api) { /* a registry with the API answers for itself, even with none */
        free(f.data); /* the manifest's body: malloc'd by the HTTP layer */
        if (err < 0)
            return err;
        *ret = resp.body ? resp.body : calloc(1, 1);
        *ret_len = resp.body_len;
        return *ret ? 0 : soci_fail_nomem("referrers");
    }
    if (!beside || (f.code < 0 && f.code != SOCI_ENOTFOUND))
        ask_fallback(&f, false); /* now, with retries */
    if (f.code == SOCI_ENOTFOUND)
        return soci_fail(SOCI_ENOTFOUND, "%s/%s: no referrers of %s", ref.host, ref.repo, manifest_digest);
    if (f.code < 0)
        return soci_fail(f.code, "%s", f.message);
    *ret = f.data;
    *ret_len = f.len;
    return 0;
}
