/* SPDX-License-Identifier: Apache-2.0 */
/* soci-index get-file: files of an image (registry or OCI layout), read lazily; with
 * --cache-dir, through the disk store soci-mount uses, so that one call after another
 * fetches each zTOC, small layer and span once. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/soci.h>

#include "cli.h"

/* Whether layer z hides path: a whiteout of it or of an ancestor, or an opaque ancestor. */
static bool hides(const soci_ztoc *z, const char *path)
{
    char probe[8192];
    uint32_t ignored;
    size_t len = strlen(path);
    for (size_t end = 0; end <= len; end++) {
        if (end != len && path[end] != '/')
            continue;
        const char *slash = NULL;
        for (size_t k = 0; k < end; k++)
            if (path[k] == '/')
                slash = path + k;
        size_t dir = slash ? (size_t)(slash - path) : 0;
        const char *base = slash ? slash + 1 : path;
        snprintf(probe, sizeof(probe), "%.*s%s.wh.%.*s", (int)dir, path, dir ? "/" : "", (int)(path + end - base), base);
        if (soci_ztoc_lookup(z, probe, &ignored) == 0)
            return true;
        if (end < len) {
            snprintf(probe, sizeof(probe), "%.*s/.wh..wh..opq", (int)end, path);
            if (soci_ztoc_lookup(z, probe, &ignored) == 0)
                return true;
        }
    }
    soci_clear_error();
    return false;
}

/* Write one file of the image to out: from the top layer down, the first layer holding
 * the path, unless a layer above hides it. */
static int copy_file(soci_image *img, const char *image, const char *path, FILE *out, const char *out_path)
{
    soci_layer *layer = NULL;
    uint32_t entry = 0;
    int r;
    for (uint32_t i = soci_image_layer_count(img); i-- > 0 && layer == NULL;) {
        soci_layer *l;
        const soci_ztoc *z;
        if ((r = soci_image_open_layer(img, i, &l, &z)) < 0)
            return cli_fail(image, r), -1;
        if (soci_ztoc_lookup(z, path, &entry) == 0)
            layer = l;
        else if (hides(z, path))
            break;
    }
    if (layer == NULL) {
        fprintf(stderr, "soci-index: %s: no file \"%s\" in the image\n", image, path);
        return -1;
    }
    return cli_copy_entry(layer, entry, path, out, out_path);
}

int cmd_get_file(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"stats", no_argument, NULL, 's'},          {"output", required_argument, NULL, 'o'},
        {"platform", required_argument, NULL, 'p'}, {"index", required_argument, NULL, 'i'},
        {"cache-dir", required_argument, NULL, 'C'}, {"cache-size", required_argument, NULL, 'S'},
        CLI_REGISTRY_LONGOPTS,                      {NULL, 0, NULL, 0},
    };
    soci_config *cfg = NULL;
    soci_image *img = NULL;
    soci_cache *cache = NULL;
    const char *cache_dir = NULL;
    uint64_t cache_size;
    FILE *out = stdout;
    const char *out_path = NULL;
    bool stats = false;
    int c, r = 0, rc = 1;

    if (soci_config_new(&cfg) < 0)
        return cli_fail("config", SOCI_ENOMEM);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        if (cli_registry_option(c, optarg, cfg, &r)) {
            /* applied */
        } else switch (c) {
        case 's': stats = true; break;
        case 'o': out_path = optarg; break;
        case 'p': r = soci_config_set_str(cfg, SOCI_OPT_PLATFORM, optarg); break;
        case 'i': r = soci_config_set_str(cfg, SOCI_OPT_INDEX_DIGEST, optarg); break;
        case 'C':
            cache_dir = optarg;
            r = soci_config_set_str(cfg, SOCI_OPT_CACHE_DIR, optarg);
            break;
        case 'S':
            if (!cli_parse_size(optarg, &cache_size)) {
                soci_config_free(cfg);
                return cli_usage_error("get-file: bad --cache-size");
            }
            r = soci_config_set_u64(cfg, SOCI_OPT_CACHE_DISK, cache_size);
            break;
        default:
            soci_config_free(cfg);
            return cli_usage_error("get-file: bad option");
        }
        if (r < 0) {
            soci_config_free(cfg);
            return cli_fail("options", r);
        }
    }
    if (argc - optind < 2 || (out_path != NULL && argc - optind != 2)) {
        soci_config_free(cfg);
        return cli_usage_error("get-file takes IMAGE PATH [PATH...] (-o with one PATH)");
    }
    const char *image = argv[optind];
    if (cache_dir != NULL && (r = soci_cache_new(cfg, &cache)) < 0) {
        cli_fail(cache_dir, r);
        goto out;
    }
    if ((r = soci_image_open(image, NULL, cfg, &img)) < 0 || (cache && (r = soci_image_set_cache(img, cache)) < 0)) {
        cli_fail(image, r);
        goto out;
    }
    if (out_path != NULL && (out = fopen(out_path, "wb")) == NULL) {
        fprintf(stderr, "soci-index: %s: %s\n", out_path, strerror(errno));
        goto out;
    }
    for (int k = optind + 1; k < argc; k++)
        if (copy_file(img, image, argv[k], out, out_path) < 0)
            goto out;
    if (stats) {
        uint64_t fetched = 0, requests = 0, spans = 0;
        soci_image_counter(img, SOCI_COUNTER_BYTES_FETCHED, &fetched);
        soci_image_counter(img, SOCI_COUNTER_REQUESTS, &requests);
        soci_image_counter(img, SOCI_COUNTER_SPANS_DECODED, &spans);
        fprintf(stderr, "fetched=%" PRIu64 " requests=%" PRIu64 " spans=%" PRIu64 "\n", fetched, requests, spans);
    }
    rc = 0;
out:
    if (out != stdout && out != NULL && fclose(out) != 0 && rc == 0)
        rc = 1;
    soci_image_free(img);
    soci_cache_unref(cache);
    soci_config_free(cfg);
    return rc;
}

static void on_pushed(void *userdata, int ev, const char *a, const char *b)
{
    (void)userdata;
    if (ev == SOCI_EVENT_PUSHED)
        printf("pushed %s %s\n", b, a);
}

int cmd_push(int argc, char **argv)
{
    static const struct option longopts[] = {CLI_REGISTRY_LONGOPTS, {NULL, 0, NULL, 0}};
    soci_config *cfg = NULL;
    soci_registry *reg = NULL;
    soci_layout *l = NULL;
    int c, r = 0, rc = 1;
    if (soci_config_new(&cfg) < 0)
        return cli_fail("config", SOCI_ENOMEM);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (!cli_registry_option(c, optarg, cfg, &r)) {
            soci_config_free(cfg);
            return cli_usage_error("push: bad option");
        }
        if (r < 0) {
            soci_config_free(cfg);
            return cli_fail("options", r);
        }
    }
    if (argc - optind != 2) {
        soci_config_free(cfg);
        return cli_usage_error("push takes OCI_LAYOUT_DIR[:TAG] REGISTRY_REF");
    }
    char dir[4096];
    const char *src = argv[optind], *slash = strrchr(src, '/'), *colon = strrchr(slash ? slash : src, ':');
    snprintf(dir, sizeof(dir), "%.*s", colon ? (int)(colon - src) : (int)strlen(src), src);
    if ((r = soci_layout_open(dir, &l)) < 0 || (r = soci_registry_new(cfg, &reg)) < 0 ||
        (r = soci_layout_push(l, colon ? colon + 1 : NULL, reg, argv[optind + 1], on_pushed, NULL)) < 0) {
        cli_fail(r == SOCI_ENOTFOUND || !l ? src : argv[optind + 1], r);
        goto out;
    }
    rc = 0;
out:
    soci_layout_free(l);
    soci_registry_unref(reg);
    soci_config_free(cfg);
    return rc;
}
