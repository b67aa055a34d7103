/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_UTIL_CONFIG_INTERNAL_H
#define SOCI_UTIL_CONFIG_INTERNAL_H

#include <soci/config.h>

struct soci_config {
    uint64_t min_layer_size;
    int index_version;
    char *platform; /* NULL: the host's */
    int xattr_optimization;
    int plain_http;
    int insecure;
    char *ca_file;
    char *index_digest;
    char *hosts_dir;
    unsigned retries;
    char *cache_dir; /* NULL: no disk store */
    uint64_t cache_memory, cache_disk;
    char *prefetch_files; /* paths, one per line; NULL: none */
    unsigned max_connections; /* per registry host */
    char *registries_conf;    /* containers-registries.conf(5) to read, or NULL */
    char *prefetch_record;    /* a prefetch record file for index builds, or NULL */
};

/* The defaults, for callers given no config. */
extern const struct soci_config soci_config_defaults;

#endif
