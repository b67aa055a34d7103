/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <soci/soci.h>

#include "cli_common.h"

bool cli_parse_size(const char *s, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return false;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end != '\0' || (v << shift) >> shift != v)
        return false;
    *ret = (uint64_t)v << shift;
    return true;
}

int cli_registry_option(int opt, const char *arg, struct soci_config *cfg, int *err)
{
    switch (opt) {
    case 'H':
        *err = soci_config_set_u64(cfg, SOCI_OPT_PLAIN_HTTP, 1);
        return 1;
    case 'k':
        *err = soci_config_set_u64(cfg, SOCI_OPT_INSECURE, 1);
        return 1;
    case 'c':
        *err = soci_config_set_str(cfg, SOCI_OPT_CA_FILE, arg);
        return 1;
    case 'D':
        *err = soci_config_set_str(cfg, SOCI_OPT_HOSTS_DIR, arg);
        return 1;
    case 'R':
        *err = soci_config_set_str(cfg, SOCI_OPT_REGISTRIES_CONF, arg);
        return 1;
    case 'M': {
        uint64_t n;
        *err = cli_parse_size(arg, &n) ? soci_config_set_u64(cfg, SOCI_OPT_MAX_CONNECTIONS, n) : SOCI_EINVAL;
        return 1;
    }
    default:
        return 0;
    }
}

int cli_daemon_option(int opt, const char *arg, struct soci_config *cfg, struct cli_daemon_opts *d, const char *prog,
                      int *err)
{
    uint64_t v;
    *err = 0;
    switch (opt) {
    case 'f': d->foreground = true; return 1;
    case 'd': d->foreground = d->debug = true; return 1;
    case 'o': d->fuse_opts = arg; return 1;
    case CLI_BACKGROUND: d->background = 1; return 1;
    case CLI_NO_BACKGROUND: d->background = 0; return 1;
    case CLI_CACHE_SIZE:
    case CLI_MEMORY_CACHE:
        if (!cli_parse_size(arg, &v)) {
            fprintf(stderr, "%s: bad size \"%s\"\n", prog, arg);
            *err = CLI_USAGE_ERROR;
            return 1;
        }
        *err = soci_config_set_u64(cfg, opt == CLI_CACHE_SIZE ? SOCI_OPT_CACHE_DISK : SOCI_OPT_CACHE_MEMORY, v);
        return 1;
    case CLI_THREADS:
        if (!cli_parse_size(arg, &v) || v == 0 || v > 1024) {
            fprintf(stderr, "%s: --threads takes 1 to 1024\n", prog);
            *err = CLI_USAGE_ERROR;
            return 1;
        }
        d->threads = (unsigned)v;
        return 1;
    default:
        return 0;
    }
}

const char *cli_lazy_path_name(int lazy_path)
{
    switch (lazy_path) {
    case SOCI_LAZY_SOCI:
        return "soci";
    case SOCI_LAZY_ESTARGZ:
        return "estargz";
    case SOCI_LAZY_ZSTD_CHUNKED:
        return "zstd:chunked";
    case SOCI_LAZY_WHOLE:
        return "whole";
    default:
        return "unknown";
    }
}

int cli_absolute_path(const char *path, char **ret)
{
    char cwd[4096];
    size_t len;
    if (path[0] == '/') {
        *ret = strdup(path);
    } else if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return SOCI_EIO;
    } else {
        len = strlen(cwd) + strlen(path) + 2;
        if ((*ret = malloc(len)) != NULL)
            snprintf(*ret, len, "%s/%s", cwd, path);
    }
    return *ret ? 0 : SOCI_ENOMEM;
}

const char *cli_parse_listen(const char *text, struct sockaddr_in *ret)
{
    const char *colon = strrchr(text, ':');
    char host[INET_ADDRSTRLEN], *end;
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
        return "wants an IPv4 ADDRESS:PORT";
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || errno != 0 || port == 0 || port > 65535)
        return "wants a port from 1 to 65535 after the address";
    snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
    *ret = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &ret->sin_addr) != 1)
        return "the address is not an IPv4 address";
    return NULL;
}
