/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file soci/config.h
 * soci_config: options by key, for the operations that take many. A new option is a
 * new key, never a new function or a changed struct. Strings are copied. A config is
 * used by one thread at a time; operations read it when called and keep no reference.
 */
#ifndef SOCI_CONFIG_H
#define SOCI_CONFIG_H

#include <soci/common.h>

SOCI_BEGIN_DECLS

/** Options by key; used by one thread at a time. */
typedef struct soci_config soci_config;

/* Keys. The type of each is in its comment. */
#define SOCI_OPT_MIN_LAYER_SIZE 1     /**< u64: layers smaller than this get no zTOC (default 10 MiB) */
#define SOCI_OPT_INDEX_VERSION 2      /**< u64: SOCI_INDEX_V1 or SOCI_INDEX_V2 (default V2) */
#define SOCI_OPT_PLATFORM 3           /**< str: "os/arch[/variant]", or "all" (default: this host's) */
#define SOCI_OPT_XATTR_OPTIMIZATION 4 /**< u64 0/1: mark layers without xattrs (default 0, as the reference) */
#define SOCI_OPT_PLAIN_HTTP 5         /**< u64 0/1: talk plain HTTP to registries (local ones fall back to it anyway) */
#define SOCI_OPT_INSECURE 6           /**< u64 0/1: do not verify registries' TLS certificates */
#define SOCI_OPT_CA_FILE 7            /**< str: PEM file of CA certificates to trust */
#define SOCI_OPT_INDEX_DIGEST 8       /**< str: use this SOCI index instead of discovering one */
#define SOCI_OPT_RETRIES 9            /**< u64: attempts after a failed request (default 4) */
#define SOCI_OPT_HOSTS_DIR 10         /**< str: containerd-style DIR/HOST/hosts.toml mirrors
                                           (default /etc/containerd/certs.d) */
#define SOCI_OPT_CACHE_DIR 11         /**< str: directory of the span cache's disk store (default: none) */
#define SOCI_OPT_CACHE_MEMORY 12      /**< u64: bytes of decoded spans kept in memory (default 256 MiB) */
#define SOCI_OPT_CACHE_DISK 13        /**< u64: bytes the disk store may hold (default 10 GiB) */
#define SOCI_OPT_PREFETCH_FILES 14    /**< str: files (absolute paths, one per line) whose spans an index
                                           build lists in prefetch artifacts (default: none). Since 1.1 */
#define SOCI_OPT_MAX_CONNECTIONS 15   /**< u64: requests in flight to one registry host at once, over
                                           all threads (default 8, 1 to 64). Since 1.1 */
#define SOCI_OPT_REGISTRIES_CONF 16   /**< str: a containers-registries.conf(5) file (podman's, CRI-O's)
                                           whose [[registry]] entries say how to reach a host: mirrors,
                                           insecure, blocked; consulted before SOCI_OPT_HOSTS_DIR
                                           (default: none). Since 1.1 */
#define SOCI_OPT_PREFETCH_RECORD 17   /**< str: a prefetch record file (soci_fs_prefetch_record()):
                                           an index build places checkpoints around the bytes it
                                           lists and writes the spans holding them as prefetch
                                           artifacts (a record of spans alone: those spans, for the
                                           layers whose zTOC it builds equal to the recorded one)
                                           (default: none). Since 1.1 */

/** A config holding every default. Free with soci_config_free(). */
SOCI_API int soci_config_new(soci_config **ret);
/** Free a config. Accepts NULL. */
SOCI_API void soci_config_free(soci_config *cfg);
/** Set an integer (or 0/1) option. SOCI_EINVAL for a key that is not one, or a value out of range. */
SOCI_API int soci_config_set_u64(soci_config *cfg, int key, uint64_t value);
/** Set a string option (copied). SOCI_EINVAL for a key that is not one. */
SOCI_API int soci_config_set_str(soci_config *cfg, int key, const char *value);

SOCI_END_DECLS

#endif
