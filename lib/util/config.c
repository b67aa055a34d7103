/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <soci/index.h>

#include "util/config_internal.h"
#include "util/error.h"

const struct soci_config soci_config_defaults = {
    .min_layer_size = 10u << 20,
    .index_version = SOCI_INDEX_V2,
    .retries = 4,
    .cache_memory = (uint64_t)256 << 20,
    .cache_disk = (uint64_t)10 << 30,
    .max_connections = 8,
};

int soci_config_new(soci_config **ret)
{
    if (ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_config_new: ret is NULL");
    struct soci_config *c = malloc(sizeof(*c));
    if (c == NULL)
        return soci_fail_nomem("config");
    *c = soci_config_defaults;
    *ret = c;
    return 0;
}

void soci_config_free(soci_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->platform);
    free(cfg->ca_file);
    free(cfg->index_digest);
    free(cfg->hosts_dir);
    free(cfg->cache_dir);
    free(cfg->prefetch_files);
    free(cfg->registries_conf);
    free(cfg->prefetch_record);
    free(cfg);
}

int soci_config_set_u64(soci_config *cfg, int key, uint64_t value)
{
    if (cfg == NULL)
        return soci_fail(SOCI_EINVAL, "soci_config_set_u64: config is NULL");
    switch (key) {
    case SOCI_OPT_MIN_LAYER_SIZE:
        cfg->min_layer_size = value;
        return 0;
    case SOCI_OPT_INDEX_VERSION:
        if (value != SOCI_INDEX_V1 && value != SOCI_INDEX_V2)
            return soci_fail(SOCI_EINVAL, "index version %llu: 1 or 2", (unsigned long long)value);
        cfg->index_version = (int)value;
        return 0;
    case SOCI_OPT_XATTR_OPTIMIZATION:
        cfg->xattr_optimization = value != 0;
        return 0;
    case SOCI_OPT_PLAIN_HTTP:
        cfg->plain_http = value != 0;
        return 0;
    case SOCI_OPT_INSECURE:
        cfg->insecure = value != 0;
        return 0;
    case SOCI_OPT_RETRIES:
        if (value > 20)
            return soci_fail(SOCI_EINVAL, "retries %llu: at most 20", (unsigned long long)value);
        cfg->retries = (unsigned)value;
        return 0;
    case SOCI_OPT_CACHE_MEMORY:
        cfg->cache_memory = value;
        return 0;
    case SOCI_OPT_CACHE_DISK:
        cfg->cache_disk = value;
        return 0;
    case SOCI_OPT_MAX_CONNECTIONS:
        if (value < 1 || value > 64)
            return soci_fail(SOCI_EINVAL, "connections per host %llu: 1 to 64", (unsigned long long)value);
        cfg->max_connections = (unsigned)value;
        return 0;
    default:
        return soci_fail(SOCI_EINVAL, "config: key %d is not an integer option", key);
    }
}

int soci_config_set_str(soci_config *cfg, int key, const char *value)
{
    if (cfg == NULL || value == NULL)
        return soci_fail(SOCI_EINVAL, "soci_config_set_str: bad arguments");
    char **slot = key == SOCI_OPT_PLATFORM         ? &cfg->platform
                  : key == SOCI_OPT_CA_FILE        ? &cfg->ca_file
                  : key == SOCI_OPT_INDEX_DIGEST   ? &cfg->index_digest
                  : key == SOCI_OPT_HOSTS_DIR      ? &cfg->hosts_dir
                  : key == SOCI_OPT_CACHE_DIR      ? &cfg->cache_dir
                  : key == SOCI_OPT_PREFETCH_FILES ? &cfg->prefetch_files
                  : key == SOCI_OPT_REGISTRIES_CONF ? &cfg->registries_conf
                  : key == SOCI_OPT_PREFETCH_RECORD ? &cfg->prefetch_record
                                                   : NULL;
    if (slot == NULL)
        return soci_fail(SOCI_EINVAL, "config: key %d is not a string option", key);
    char *copy = strdup(value);
    if (copy == NULL)
        return soci_fail_nomem("config");
    free(*slot);
    *slot = copy;
    return 0;
}
