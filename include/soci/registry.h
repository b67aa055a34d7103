/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/registry.h
 * A client of OCI registries over libcurl: manifests and blobs fetched and checked
 * against their digests, byte ranges of blobs as soci_blobs, referrers, authentication
 * (anonymous, basic, bearer tokens from the registry's challenge; credentials from
 * docker's config.json and $REGISTRY_AUTH_FILE), retries with backoff and jitter.
 * Registries on localhost and 127.0.0.0/8 fall back to plain HTTP, as docker does.
 *
 * A soci_registry is reference-counted (blobs it opens hold a reference) and safe for
 * concurrent use.
 */
#ifndef SOCI_REGISTRY_H
#define SOCI_REGISTRY_H

#include <soci/blob.h>
#include <soci/config.h>

SOCI_BEGIN_DECLS

/** A registry client: connections, tokens, endpoints (reference-counted, thread-safe). */
typedef struct soci_registry soci_registry;

/** Room for a manifest digest. */
#define SOCI_REGISTRY_DIGEST_BUFSIZE 72

/** cfg (may be NULL) is read now: SOCI_OPT_PLAIN_HTTP, _INSECURE, _CA_FILE, _RETRIES. */
SOCI_API int soci_registry_new(const soci_config *cfg, soci_registry **ret);
/** Take a reference; returns r. */
SOCI_API soci_registry *soci_registry_ref(soci_registry *r);
/** Drop a reference (the last frees it); returns NULL. Accepts NULL. */
SOCI_API soci_registry *soci_registry_unref(soci_registry *r);

/**
 * A source of credentials, asked before docker's config files whenever a registry
 * challenges us. Fill user and secret (NUL-terminated, within the sizes given) and return
 * 1, return 0 to have none from it, or a negative SOCI_E* code. It may be called from any
 * thread. libsoci never logs or reports what it returns.
 */
typedef int (*soci_credential_fn)(void *userdata, const char *host, char *user, size_t user_size, char *secret,
                                  size_t secret_size);

/** Install (or with fn == NULL remove) a credential source. Call before using r. */
SOCI_API int soci_registry_set_credential_fn(soci_registry *r, soci_credential_fn fn, void *userdata);

/**
 * The manifest or image index ref names (a tag or a digest), checked against the digest
 * asked for or the one the registry states. *ret (free with soci_free()) is its JSON;
 * ret_digest receives its digest.
 */
SOCI_API int soci_registry_get_manifest(soci_registry *r, const char *ref, void **ret, size_t *ret_len,
                                        char ret_digest[SOCI_REGISTRY_DIGEST_BUFSIZE]);

/** A whole blob of the repository ref names, at most max_size bytes, checked by digest. */
SOCI_API int soci_registry_get_blob(soci_registry *r, const char *ref, const char *digest, uint64_t max_size,
                                    void **ret, size_t *ret_len);

/** A blob read lazily with range requests; size comes from its descriptor. */
SOCI_API int soci_registry_open_blob(soci_registry *r, const char *ref, const char *digest, uint64_t size,
                                     soci_blob **ret);

/**
 * The referrers of a manifest as an image index (JSON): the referrers API, else the
 * referrers tag fallback "sha256-<hex>". Both are asked at once (one round trip on a
 * registry without the API); the fallback's answer is used only when the API answers
 * nothing. SOCI_ENOTFOUND if neither has any.
 */
SOCI_API int soci_registry_get_referrers(soci_registry *r, const char *ref, const char *manifest_digest,
                                         void **ret, size_t *ret_len);

/** Upload a blob to the repository ref names, unless the registry has it already. */
SOCI_API int soci_registry_put_blob(soci_registry *r, const char *ref, const void *data, size_t len);

/**
 * Upload a manifest or image index (the exact bytes) under ref's tag, or under its own
 * digest when ref has no tag.
 */
SOCI_API int soci_registry_put_manifest(soci_registry *r, const char *ref, const char *media_type,
                                        const void *data, size_t len);

#define SOCI_COUNTER_REQUESTS 4 /**< HTTP requests made (for soci_registry_counter) */

/** SOCI_COUNTER_BYTES_FETCHED (body bytes received) or SOCI_COUNTER_REQUESTS. */
SOCI_API int soci_registry_counter(const soci_registry *r, int which, uint64_t *ret);

SOCI_END_DECLS

#endif
