/* SPDX-License-Identifier: Apache-2.0 */
/* soci-index create | index info | index list: SOCI indexes of images in OCI layouts (and
 * of images in registries: create indexes one in place, info and list read them). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <soci/soci.h>

#include "cli.h"
#include "progress.h"

/* Split "DIR:TAG" or "DIR@DIGEST" (a ':' after the last '/' starts a tag). */
static void split_ref(const char *arg, char *dir, size_t n, const char **ref)
{
    const char *slash = strrchr(arg, '/'), *at = strchr(slash ? slash : arg, '@');
    const char *colon = strrchr(slash ? slash : arg, ':');
    const char *cut = at ? at : colon;
    snprintf(dir, n, "%.*s", cut ? (int)(cut - arg) : (int)strlen(arg), arg);
    *ref = cut ? cut + 1 : NULL;
}

/* A registry reference rather than a layout's path: not a directory here, and its first
 * component names a host (a dot or a port, or localhost), as docker tells them apart. */
static bool is_registry_ref(const char *arg, const char *dir)
{
    struct stat st;
    const char *slash = strchr(arg, '/');
    if (stat(dir, &st) == 0 || arg[0] == '/' || arg[0] == '.' || slash == NULL)
        return false;
    size_t n = (size_t)(slash - arg);
    return memchr(arg, '.', n) != NULL || memchr(arg, ':', n) != NULL || (n == 9 && strncmp(arg, "localhost", 9) == 0);
}

static void on_event(void *userdata, int ev, const char *a, const char *b)
{
    (void)userdata;
    switch (ev) {
    case SOCI_EVENT_ZTOC_BUILT:
        printf("layer %s -> ztoc %s\n", a, b);
        break;
    case SOCI_EVENT_LAYER_SKIPPED:
        printf("layer %s skipped: %s\n", a, b);
        break;
    case SOCI_EVENT_INDEX_WRITTEN:
        printf("soci index for %s: %s\n", a, b);
        break;
    case SOCI_EVENT_IMAGE_WRITTEN:
        printf("image index%s%s: %s\n", a[0] ? " tagged " : "", a, b);
        break;
    case SOCI_EVENT_PREFETCH_WRITTEN:
        printf("layer %s -> prefetch %s\n", a, b);
        break;
    case SOCI_EVENT_PREFETCH_SKIPPED:
        /* a is a file of --prefetch-file, or a layer of --prefetch-record */
        fprintf(stderr, "soci-index: prefetch %s %s: %s\n", strncmp(a, "sha256:", 7) == 0 ? "record of layer" : "file",
                a, b);
        break;
    default:
        break;
    }
}

int cmd_create(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"span-size", required_argument, NULL, 'S'},
        {"min-layer-size", required_argument, NULL, 'm'},
        {"format", required_argument, NULL, 'f'},
        {"platform", required_argument, NULL, 'p'},
        {"all-platforms", no_argument, NULL, 'a'},
        {"build-tool-identifier", required_argument, NULL, 'B'},
        {"optimizations", required_argument, NULL, 'O'},
        {"push", required_argument, NULL, 'P'},
        {"prefetch-file", required_argument, NULL, 'F'},
        {"prefetch-record", required_argument, NULL, 'L'},
        CLI_REGISTRY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    soci_builder *b = NULL;
    soci_config *cfg = NULL;
    soci_layout *l = NULL;
    soci_registry *reg = NULL;
    const char *push = NULL;
    char *prefetch = NULL; /* --prefetch-file paths, one per line */
    size_t prefetch_len = 0;
    int c, r, rc = 1;

    if (soci_builder_new(&b) < 0 || soci_config_new(&cfg) < 0)
        return cli_fail("setup", SOCI_ENOMEM);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        r = 0;
        if (cli_registry_option(c, optarg, cfg, &r)) {
            if (r < 0) {
                cli_fail("options", r);
                goto out;
            }
            continue;
        }
        uint64_t size;
        switch (c) {
        case 'S':
        case 'm':
            if (!cli_parse_size(optarg, &size)) {
                rc = cli_usage_error("bad size \"%s\"", optarg);
                goto out;
            }
            r = c == 'S' ? soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, size)
                         : soci_config_set_u64(cfg, SOCI_OPT_MIN_LAYER_SIZE, size);
            break;
        case 'f':
            if (strcmp(optarg, "v1") != 0 && strcmp(optarg, "v2") != 0) {
                rc = cli_usage_error("--format is v1 or v2");
                goto out;
            }
            r = soci_config_set_u64(cfg, SOCI_OPT_INDEX_VERSION, optarg[1] == '1' ? SOCI_INDEX_V1 : SOCI_INDEX_V2);
            break;
        case 'p':
            r = soci_config_set_str(cfg, SOCI_OPT_PLATFORM, optarg);
            break;
        case 'a':
            r = soci_config_set_str(cfg, SOCI_OPT_PLATFORM, "all");
            break;
        case 'B':
            r = soci_builder_set_str(b, SOCI_BUILD_TOOL_IDENTIFIER, optarg);
            break;
        case 'P':
            push = optarg;
            break;
        case 'F': {
            size_t add = strlen(optarg);
            char *more = realloc(prefetch, prefetch_len + add + 2);
            if (more == NULL) {
                rc = cli_fail("options", SOCI_ENOMEM);
                goto out;
            }
            if (strchr(optarg, '\n') != NULL) {
                free(more);
                prefetch = NULL;
                rc = cli_usage_error("--prefetch-file: a path without newlines");
                goto out;
            }
            prefetch = more;
            snprintf(prefetch + prefetch_len, add + 2, "%s\n", optarg);
            prefetch_len += add + 1;
            r = soci_config_set_str(cfg, SOCI_OPT_PREFETCH_FILES, prefetch);
            break;
        }
        case 'L':
            r = soci_config_set_str(cfg, SOCI_OPT_PREFETCH_RECORD, optarg);
            break;
        case 'O':
            if (strcmp(optarg, "xattr") != 0) {
                rc = cli_usage_error("unknown optimization \"%s\" (known: xattr)", optarg);
                goto out;
            }
            r = soci_config_set_u64(cfg, SOCI_OPT_XATTR_OPTIMIZATION, 1);
            break;
        default:
            rc = cli_usage_error("create: bad option");
            goto out;
        }
        if (r < 0) {
            cli_fail("options", r);
            goto out;
        }
    }
    if (argc - optind != 1) {
        rc = cli_usage_error("create takes one OCI_LAYOUT_DIR[:TAG] or REGISTRY_REF");
        goto out;
    }
    char dir[4096], digest[SOCI_DIGEST_BUFSIZE];
    const char *ref;
    split_ref(argv[optind], dir, sizeof(dir), &ref);
    struct progress p;
    progress_attach(&p, b, "indexing", 0);
    /* An image in a registry is indexed where it is. */
    if (is_registry_ref(argv[optind], dir)) {
        if (push != NULL) {
            progress_done(&p, b);
            rc = cli_usage_error("create REGISTRY_REF publishes to the image's own repository: no --push");
            goto out;
        }
        if ((r = soci_registry_new(cfg, &reg)) < 0 ||
            (r = soci_registry_build_index(reg, argv[optind], NULL, b, cfg, on_event, NULL, digest)) < 0) {
            progress_done(&p, b);
            cli_fail(argv[optind], r);
            goto out;
        }
        progress_done(&p, b);
        printf("%s\n", digest);
        rc = 0;
        goto out;
    }
    if ((r = soci_layout_open(dir, &l)) < 0 ||
        (r = soci_layout_build_index(l, ref, b, cfg, on_event, NULL, digest)) < 0) {
        progress_done(&p, b);
        cli_fail(argv[optind], r);
        goto out;
    }
    progress_done(&p, b);
    if (push != NULL && ((r = soci_registry_new(cfg, &reg)) < 0 || (r = soci_layout_push(l, ref, reg, push, NULL, NULL)) < 0)) {
        cli_fail(push, r);
        goto out;
    }
    printf("%s\n", digest);
    rc = 0;
out:
    free(prefetch);
    soci_registry_unref(reg);
    soci_layout_free(l);
    soci_config_free(cfg);
    soci_builder_free(b);
    return rc;
}

/* ---- index list / info ---- */

static const char *version_name(int version)
{
    return version == SOCI_INDEX_V1 ? "v1" : version == SOCI_INDEX_V2 ? "v2" : "?";
}

static void print_found(void *userdata, const char *digest, int version, const char *manifest, const char *platform)
{
    json_t *arr = userdata;
    if (arr != NULL)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "digest", digest, "version",
                                             version_name(version), "image_manifest", manifest, "platform", platform));
    else
        printf("%s  %s  %-14s %s\n", digest, version_name(version), platform[0] ? platform : "-", manifest);
}

static void collect_digest(void *userdata, const char *digest, int version, const char *manifest,
                           const char *platform)
{
    (void)version, (void)manifest, (void)platform;
    json_array_append_new(userdata, json_string(digest));
}

static json_t *index_json(const soci_index *ix, const char *digest)
{
    json_t *ztocs = json_array();
    for (uint32_t i = 0; i < soci_index_entry_count(ix); i++) {
        struct soci_index_entry e;
        soci_index_entry(ix, i, &e, sizeof(e));
        json_array_append_new(ztocs, json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:b}", "kind",
                                               e.kind == SOCI_ENTRY_ZTOC ? "ztoc" : "prefetch", "digest", e.digest,
                                               "size", (json_int_t)e.size, "layer_digest", e.layer_digest,
                                               "layer_media_type", e.layer_media_type, "span_size",
                                               (json_int_t)e.span_size, "disable_xattrs", (int)e.disable_xattrs));
    }
    struct soci_descriptor subject;
    json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "digest", digest, "version",
                          soci_index_version(ix) == SOCI_INDEX_V1 ? "v1" : "v2", "build_tool_identifier",
                          soci_index_build_tool(ix), "ztocs", ztocs);
    if (soci_index_subject(ix, &subject, sizeof(subject)) == 0)
        json_object_set_new(o, "subject", json_pack("{s:s,s:s,s:I}", "mediaType", subject.media_type, "digest",
                                                    subject.digest, "size", (json_int_t)subject.size));
    return o;
}

/* Every layer of img and how soci_image_open would read it. */
static json_t *layers_json(const soci_image *img)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; i < soci_image_layer_count(img); i++) {
        struct soci_image_layer l;
        if (soci_image_layer(img, i, &l, sizeof(l)) == 0)
            json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s,s:s}", "digest", l.digest, "media_type",
                                                 l.media_type, "size", (json_int_t)l.size, "ztoc_digest",
                                                 l.ztoc_digest, "lazy_path", cli_lazy_path_name(l.lazy_path)));
    }
    return arr;
}

/* index info for an image in a registry: the SOCI index its discovery finds (if any) and
 * the lazy path chosen for each layer. */
static int remote_index_info(const char *ref, bool json)
{
    soci_image *img = NULL;
    soci_registry *reg = NULL;
    soci_index *ix = NULL;
    void *text = NULL;
    size_t len;
    json_t *o = NULL;
    int r, rc = 1;
    if ((r = soci_registry_new(NULL, &reg)) < 0 || (r = soci_image_open(ref, reg, NULL, &img)) < 0) {
        cli_fail(ref, r);
        goto out;
    }
    const char *digest = soci_image_index_digest(img);
    if (digest[0]) {
        char repo[1100];
        const char *cut = strchr(ref, '@');
        const char *slash = strrchr(ref, '/'), *colon = strrchr(slash ? slash : ref, ':');
        int n = cut ? (int)(cut - ref) : colon ? (int)(colon - ref) : (int)strlen(ref);
        snprintf(repo, sizeof(repo), "%.*s@%s", n, ref, digest);
        if ((r = soci_registry_get_manifest(reg, repo, &text, &len, NULL)) < 0 ||
            (r = soci_index_parse(text, len, &ix)) < 0) {
            cli_fail(repo, r);
            goto out;
        }
        o = index_json(ix, digest);
    } else {
        o = json_pack("{s:s,s:n,s:[]}", "digest", "", "version", "ztocs");
    }
    json_object_set_new(o, "image_manifest", json_string(soci_image_manifest_digest(img)));
    json_object_set_new(o, "layers", layers_json(img));
    if (json) {
        json_dumpf(o, stdout, JSON_INDENT(1));
        putchar('\n');
    } else {
        printf("digest:         %s\nversion:        %s\nimage manifest: %s\nztocs:          %zu\nlayers:\n",
               digest[0] ? digest : "(no SOCI index)", digest[0] ? json_string_value(json_object_get(o, "version")) : "-",
               soci_image_manifest_digest(img), json_array_size(json_object_get(o, "ztocs")));
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(o, "layers"), i, l)
            printf("  %-2zu %s %12lld  %s\n", i, json_string_value(json_object_get(l, "digest")),
                   (long long)json_integer_value(json_object_get(l, "size")),
                   json_string_value(json_object_get(l, "lazy_path")));
    }
    rc = 0;
out:
    json_decref(o);
    soci_free(text);
    soci_index_free(ix);
    soci_image_free(img);
    soci_registry_unref(reg);
    return rc;
}

static int index_info(const char *arg, bool json)
{
    char dir[4096];
    const char *ref;
    soci_layout *l = NULL;
    soci_index *ix = NULL;
    void *text = NULL;
    size_t len;
    json_t *digests = json_array();
    int r, rc = 1;

    split_ref(arg, dir, sizeof(dir), &ref);
    struct stat st;
    if (stat(dir, &st) != 0) {
        json_decref(digests);
        return remote_index_info(arg, json);
    }
    if ((r = soci_layout_open(dir, &l)) < 0) {
        cli_fail(dir, r);
        goto out;
    }
    if (ref == NULL) {
        soci_layout_list_indexes(l, collect_digest, digests);
        if (json_array_size(digests) != 1) {
            fprintf(stderr, "soci-index: %s holds %zu SOCI indexes: name one as %s@DIGEST (see index list)\n", dir,
                    json_array_size(digests), dir);
            goto out;
        }
        ref = json_string_value(json_array_get(digests, 0));
    }
    if ((r = soci_layout_read_blob(l, ref, 4 << 20, &text, &len)) < 0 || (r = soci_index_parse(text, len, &ix)) < 0) {
        cli_fail(ref, r);
        goto out;
    }
    json_t *o = index_json(ix, ref);
    if (json) {
        json_dumpf(o, stdout, JSON_INDENT(1));
        putchar('\n');
    } else {
        printf("digest:      %s\nversion:     %s\nbuild tool:  %s\n", ref, json_string_value(json_object_get(o, "version")),
               soci_index_build_tool(ix));
        if (json_object_get(o, "subject"))
            printf("subject:     %s\n", json_string_value(json_object_get(json_object_get(o, "subject"), "digest")));
        for (uint32_t i = 0; i < soci_index_entry_count(ix); i++) {
            struct soci_index_entry e;
            soci_index_entry(ix, i, &e, sizeof(e));
            printf("layer %s -> %s %s (%" PRIu64 " bytes, span size %" PRIu64 ")\n", e.layer_digest,
                   e.kind == SOCI_ENTRY_ZTOC ? "ztoc" : "prefetch", e.digest, e.size, e.span_size);
        }
    }
    json_decref(o);
    rc = 0;
out:
    json_decref(digests);
    soci_free(text);
    soci_index_free(ix);
    soci_layout_free(l);
    return rc;
}

/* index list for an image in a registry: the SOCI index found for each of its platforms. */
static int remote_index_list(const char *ref, bool json)
{
    soci_registry *reg = NULL;
    void *text = NULL;
    size_t len;
    json_t *top = NULL, *arr = json ? json_array() : NULL;
    int r, rc = 1;
    if ((r = soci_registry_new(NULL, &reg)) < 0 || (r = soci_registry_get_manifest(reg, ref, &text, &len, NULL)) < 0) {
        cli_fail(ref, r);
        goto out;
    }
    top = json_loadb(text, len, 0, NULL);
    json_t *manifests = json_object_get(top, "manifests"), *d;
    size_t i, n = json_is_array(manifests) ? json_array_size(manifests) : 1;
    for (i = 0; i < n; i++) {
        char platform[128] = "";
        d = json_array_get(manifests, i);
        if (d != NULL) {
            json_t *p = json_object_get(d, "platform");
            const char *v = json_string_value(json_object_get(p, "variant"));
            if (json_object_get(d, "artifactType") || !json_is_object(p))
                continue;
            snprintf(platform, sizeof(platform), "%s/%s%s%s", json_string_value(json_object_get(p, "os")),
                     json_string_value(json_object_get(p, "architecture")), v ? "/" : "", v ? v : "");
        }
        soci_config *cfg = NULL;
        soci_image *img = NULL;
        if (soci_config_new(&cfg) == 0 && (!platform[0] || soci_config_set_str(cfg, SOCI_OPT_PLATFORM, platform) == 0) &&
            soci_image_open(ref, reg, cfg, &img) == 0 && soci_image_index_digest(img)[0])
            print_found(arr, soci_image_index_digest(img), soci_image_index_version(img),
                        soci_image_manifest_digest(img), platform);
        soci_image_free(img);
        soci_config_free(cfg);
    }
    if (arr) {
        json_dumpf(arr, stdout, JSON_INDENT(1));
        putchar('\n');
    }
    rc = 0;
out:
    json_decref(arr);
    json_decref(top);
    soci_free(text);
    soci_registry_unref(reg);
    return rc;
}

static int index_list(const char *dir, bool json)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return remote_index_list(dir, json);
    soci_layout *l;
    int r = soci_layout_open(dir, &l);
    if (r < 0)
        return cli_fail(dir, r);
    json_t *arr = json ? json_array() : NULL;
    soci_layout_list_indexes(l, print_found, arr);
    if (arr) {
        json_dumpf(arr, stdout, JSON_INDENT(1));
        putchar('\n');
        json_decref(arr);
    }
    soci_layout_free(l);
    return 0;
}

int cmd_index(int argc, char **argv)
{
    bool json = false;
    int args = 0;
    const char *sub = argc > 0 ? argv[0] : "", *operand = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (args++ == 0)
            operand = argv[i];
    }
    if (args != 1)
        return cli_usage_error("index %s takes one OCI_LAYOUT_DIR%s or REGISTRY_REF", sub,
                               strcmp(sub, "info") == 0 ? "[@DIGEST]" : "");
    if (strcmp(sub, "info") == 0)
        return index_info(operand, json);
    if (strcmp(sub, "list") == 0)
        return index_list(operand, json);
    return cli_usage_error("index: unknown command \"%s\" (info, list)", sub);
}
