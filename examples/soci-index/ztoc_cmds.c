/* SPDX-License-Identifier: Apache-2.0 */
/* soci-index ztoc info | list | get-file: the read side of a zTOC, as `soci ztoc` has it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <soci/soci.h>

#include "cli.h"
#include "progress.h"

struct ztoc_opts {
    bool json;
    bool stats;
    const char *out;
    uint64_t span_size;
    uint64_t checkpoint_version;
    const char *build_tool;
    const char *tag;
};

/* A size like 4194304, 4M, 64K or 1G. */
/* Parse the options of one ztoc subcommand; leaves the operands at argv[optind]. */
static int parse_opts(int argc, char **argv, struct ztoc_opts *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"stats", no_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"span-size", required_argument, NULL, 'S'},
        {"build-tool-identifier", required_argument, NULL, 'B'},
        {"checkpoint-version", required_argument, NULL, 'C'},
        {"tag", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->json = true;
            break;
        case 's':
            o->stats = true;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'S':
            if (!cli_parse_size(optarg, &o->span_size) || o->span_size == 0) {
                fprintf(stderr, "soci-index: bad span size \"%s\"\n", optarg);
                return -1;
            }
            break;
        case 'B':
            o->build_tool = optarg;
            break;
        case 'T':
            o->tag = optarg;
            break;
        case 'C':
            if (!cli_parse_size(optarg, &o->checkpoint_version)) {
                fprintf(stderr, "soci-index: bad checkpoint version \"%s\"\n", optarg);
                return -1;
            }
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* A JSON string from bytes that may not be UTF-8 (xattr values are raw): invalid UTF-8
 * is written byte by byte as U+0000..U+00FF so nothing is lost. */
static json_t *json_bytes(const void *data, size_t len)
{
    json_t *s = json_stringn(data, len);
    if (s != NULL)
        return s;
    const uint8_t *p = data;
    char *utf8 = malloc(2 * len + 1);
    size_t n = 0;
    if (utf8 == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x80) {
            utf8[n++] = (char)p[i];
        } else {
            utf8[n++] = (char)(0xc0 | (p[i] >> 6));
            utf8[n++] = (char)(0x80 | (p[i] & 0x3f));
        }
    }
    s = json_stringn(utf8, n);
    free(utf8);
    return s;
}

/* A zTOC from a file, or from a registry as REPOSITORY@sha256:... (checked by digest). */
static int open_ztoc(const char *arg, soci_ztoc **ret)
{
    struct stat st;
    if (stat(arg, &st) == 0 || strchr(arg, '@') == NULL)
        return soci_ztoc_open_file(arg, ret);
    const char *at = strchr(arg, '@');
    char repo[1024];
    snprintf(repo, sizeof(repo), "%.*s", (int)(at - arg), arg);
    soci_registry *reg;
    void *data;
    size_t len;
    int r = soci_registry_new(NULL, &reg);
    if (r == 0)
        r = soci_registry_get_blob(reg, repo, at + 1, SOCI_ZTOC_MAX_SIZE, &data, &len);
    soci_registry_unref(reg);
    if (r < 0)
        return r;
    r = soci_ztoc_open_mem(data, len, SOCI_ZTOC_COPY, ret);
    soci_free(data);
    return r;
}

static int dump_json(json_t *v)
{
    int r = json_dumpf(v, stdout, JSON_INDENT(1) | JSON_ENSURE_ASCII) == 0 ? 0 : 1;
    json_decref(v);
    if (r == 0)
        putchar('\n');
    return r || fflush(stdout) != 0 ? cli_fail("stdout", SOCI_EIO) : 0;
}

static const char *compression_name(int c)
{
    return c == SOCI_COMPRESSION_GZIP           ? "gzip"
           : c == SOCI_COMPRESSION_UNCOMPRESSED ? "uncompressed"
           : c == SOCI_COMPRESSION_ZSTD         ? "zstd"
                                                : "unknown";
}

static const char *type_name(uint32_t t)
{
    static const char *const names[] = {"?", "reg", "dir", "symlink", "hardlink", "char", "block", "fifo"};
    return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static int info(const char *path, const struct ztoc_opts *o)
{
    soci_ztoc *z;
    int r = open_ztoc(path, &z);
    if (r < 0)
        return cli_fail(path, r);

    uint32_t spans = soci_ztoc_span_count(z);
    json_t *digests = json_array(), *cps = json_array();
    for (uint32_t i = 0; i < spans; i++) {
        struct soci_span_info si;
        soci_ztoc_span_info(z, i, &si, sizeof(si));
        json_array_append_new(digests, json_string(si.digest));
        if (soci_ztoc_compression(z) == SOCI_COMPRESSION_GZIP)
            json_array_append_new(cps, json_pack("{s:I,s:I,s:i}", "in", (json_int_t)si.checkpoint_in,
                                                 "out", (json_int_t)si.uncompressed_offset, "bits",
                                                 (int)si.checkpoint_bits));
    }
    json_t *v = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:I}", "version", soci_ztoc_version(z),
                          "build_tool_identifier", soci_ztoc_build_tool(z), "compression_algorithm",
                          compression_name(soci_ztoc_compression(z)), "compressed_archive_size",
                          (json_int_t)soci_ztoc_compressed_size(z), "uncompressed_archive_size",
                          (json_int_t)soci_ztoc_uncompressed_size(z), "max_span_id",
                          (json_int_t)spans - 1, "span_digests", digests, "checkpoints", cps,
                          "entries", (json_int_t)soci_ztoc_entry_count(z));
    if (o->json) {
        r = dump_json(v);
    } else {
        printf("version:                   %s\n", soci_ztoc_version(z));
        printf("build tool identifier:     %s\n", soci_ztoc_build_tool(z));
        printf("compression algorithm:     %s\n", compression_name(soci_ztoc_compression(z)));
        printf("compressed archive size:   %" PRIu64 "\n", soci_ztoc_compressed_size(z));
        printf("uncompressed archive size: %" PRIu64 "\n", soci_ztoc_uncompressed_size(z));
        printf("span size:                 %" PRIu64 "\n", soci_ztoc_span_size(z));
        printf("spans:                     %u (max span id %u)\n", spans, spans - 1);
        printf("checkpoint data version:   %d\n", soci_ztoc_checkpoint_version(z));
        printf("entries:                   %u\n", soci_ztoc_entry_count(z));
        for (uint32_t i = 0; i < spans; i++) {
            struct soci_span_info si;
            soci_ztoc_span_info(z, i, &si, sizeof(si));
            printf("span %u: compressed [%" PRIu64 ", +%" PRIu64 ") uncompressed [%" PRIu64 ", +%" PRIu64
                   ") bits %u %s\n",
                   i, si.compressed_offset, si.compressed_size, si.uncompressed_offset,
                   si.uncompressed_size, si.checkpoint_bits, si.digest);
        }
        json_decref(v);
        r = 0;
    }
    soci_ztoc_free(z);
    return r;
}

static json_t *entry_json(const soci_ztoc *z, uint32_t i, const struct soci_entry *e)
{
    json_t *xattrs = json_object();
    for (uint32_t j = 0; j < e->xattr_count; j++) {
        const char *key;
        const void *value;
        size_t len;
        soci_ztoc_entry_xattr(z, i, j, &key, &value, &len);
        json_object_set_new(xattrs, key, json_bytes(value, len));
    }
    return json_pack("{s:s,s:s,s:I,s:I,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:I,s:I,s:o}", "name", e->name,
                     "type", type_name(e->type), "uncompressed_offset", (json_int_t)e->offset,
                     "uncompressed_size", (json_int_t)e->size, "linkname", e->linkname, "mode",
                     (json_int_t)e->mode, "uid", (json_int_t)e->uid, "gid", (json_int_t)e->gid,
                     "uname", e->uname, "gname", e->gname, "mod_time", e->mod_time, "devmajor",
                     (json_int_t)e->devmajor, "devminor", (json_int_t)e->devminor, "xattrs", xattrs);
}

static int list(const char *path, const struct ztoc_opts *o)
{
    soci_ztoc *z;
    int r = open_ztoc(path, &z);
    if (r < 0)
        return cli_fail(path, r);

    json_t *arr = o->json ? json_array() : NULL;
    for (uint32_t i = 0; i < soci_ztoc_entry_count(z); i++) {
        struct soci_entry e;
        soci_ztoc_entry(z, i, &e, sizeof(e));
        if (arr != NULL)
            json_array_append_new(arr, entry_json(z, i, &e));
        else
            printf("%-8s %06" PRIo64 " %5u/%-5u %12" PRIu64 " %s  %s%s%s\n", type_name(e.type),
                   e.mode & 07777, e.uid, e.gid, e.size, e.mod_time, e.name, e.linkname[0] ? " -> " : "",
                   e.linkname);
    }
    r = arr != NULL ? dump_json(arr) : 0;
    soci_ztoc_free(z);
    return r;
}

int local_layer_open(const char *ztoc_path, const char *layer_path, struct local_layer *ll)
{
    int r;
    *ll = (struct local_layer){0};
    if ((r = soci_ztoc_open_file(ztoc_path, &ll->z)) < 0)
        return cli_fail(ztoc_path, r);
    if ((r = soci_blob_open_file(layer_path, &ll->blob)) < 0 || (r = soci_layer_open(ll->blob, ll->z, &ll->layer)) < 0) {
        cli_fail(layer_path, r);
        local_layer_close(ll);
        return 1;
    }
    return 0;
}

void local_layer_close(struct local_layer *ll)
{
    soci_layer_free(ll->layer);
    soci_blob_unref(ll->blob);
    soci_ztoc_free(ll->z);
    *ll = (struct local_layer){0};
}

static int get_file(const char *ztoc_path, const char *layer_path, const char *path,
                    const struct ztoc_opts *o)
{
    struct local_layer ll;
    FILE *out = stdout;
    uint32_t entry;
    int r, rc = 1;

    if (local_layer_open(ztoc_path, layer_path, &ll) != 0)
        return 1;
    soci_ztoc *z = ll.z;
    soci_layer *layer = ll.layer;
    if ((r = soci_ztoc_lookup(z, path, &entry)) < 0) {
        cli_fail(path, r);
        goto out;
    }
    if (o->out != NULL && (out = fopen(o->out, "wb")) == NULL) {
        fprintf(stderr, "soci-index: %s: %s\n", o->out, strerror(errno));
        goto out;
    }
    if (cli_copy_entry(layer, entry, path, out, o->out) < 0)
        goto out;
    if (o->stats) {
        uint64_t fetched = 0, reads = 0, spans = 0;
        soci_layer_counter(layer, SOCI_COUNTER_BYTES_FETCHED, &fetched);
        soci_layer_counter(layer, SOCI_COUNTER_READS, &reads);
        soci_layer_counter(layer, SOCI_COUNTER_SPANS_DECODED, &spans);
        fprintf(stderr, "fetched=%" PRIu64 " requests=%" PRIu64 " spans=%" PRIu64 "\n", fetched, reads,
                spans);
    }
    rc = 0;
out:
    if (out != NULL && out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "soci-index: %s: %s\n", o->out, strerror(errno));
        rc = 1;
    }
    local_layer_close(&ll);
    return rc;
}

static int create(const char *layer_path, const struct ztoc_opts *o)
{
    soci_builder *b = NULL;
    soci_blob *blob = NULL;
    void *ztoc = NULL;
    size_t len = 0;
    int r, rc = 1;

    if (o->out == NULL)
        return cli_usage_error("ztoc create needs -o OUT.ztoc");
    if ((r = soci_builder_new(&b)) < 0 ||
        (o->span_size && (r = soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, o->span_size)) < 0) ||
        (o->checkpoint_version &&
         (r = soci_builder_set_u64(b, SOCI_BUILD_CHECKPOINT_VERSION, o->checkpoint_version)) < 0) ||
        (o->build_tool && (r = soci_builder_set_str(b, SOCI_BUILD_TOOL_IDENTIFIER, o->build_tool)) < 0)) {
        cli_fail("options", r);
        goto out;
    }
    if ((r = soci_blob_open_file(layer_path, &blob)) < 0) {
        cli_fail(layer_path, r);
        goto out;
    }
    struct progress p;
    progress_attach(&p, b, layer_path, soci_blob_size(blob));
    r = soci_builder_build_blob(b, blob, &ztoc, &len);
    progress_done(&p, b);
    if (r < 0) {
        cli_fail(layer_path, r);
        goto out;
    }
    FILE *f = fopen(o->out, "wb");
    if (f == NULL || fwrite(ztoc, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "soci-index: %s: %s\n", o->out, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    soci_free(ztoc);
    soci_blob_unref(blob);
    soci_builder_free(b);
    return rc;
}

/* sha256 of every regular file (hard links read through), in TOC order, in the form
 * sha256sum prints: a way to check a zTOC against its layer end to end. */
static int checksum(const char *ztoc_path, const char *layer_path)
{
    struct local_layer ll;
    const size_t chunk = 4 << 20;
    int r, rc = 1;

    if (local_layer_open(ztoc_path, layer_path, &ll) != 0)
        return 1;
    soci_ztoc *z = ll.z;
    soci_layer *layer = ll.layer;
    uint8_t *buf = malloc(chunk);
    if (buf == NULL) {
        local_layer_close(&ll);
        return cli_fail("buffer", SOCI_ENOMEM);
    }
    for (uint32_t i = 0; i < soci_ztoc_entry_count(z); i++) {
        struct soci_entry e;
        uint32_t target;
        soci_ztoc_entry(z, i, &e, sizeof(e));
        if (e.type != SOCI_TYPE_REG && e.type != SOCI_TYPE_HARDLINK)
            continue;
        if ((r = soci_ztoc_resolve(z, i, &target)) < 0) {
            cli_fail(e.name, r);
            goto out;
        }
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char d[32];
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        for (uint64_t off = 0;;) {
            int64_t n = soci_layer_pread(layer, target, buf, chunk, off);
            if (n < 0) {
                EVP_MD_CTX_free(md);
                cli_fail(e.name, (int)n);
                goto out;
            }
            if (n == 0)
                break;
            EVP_DigestUpdate(md, buf, (size_t)n);
            off += (uint64_t)n;
        }
        EVP_DigestFinal_ex(md, d, NULL);
        EVP_MD_CTX_free(md);
        for (int k = 0; k < 32; k++)
            printf("%02x", d[k]);
        printf("  %s\n", e.name);
    }
    rc = fflush(stdout) == 0 ? 0 : cli_fail("stdout", SOCI_EIO);
out:
    free(buf);
    local_layer_close(&ll);
    return rc;
}

int cmd_ztoc(int argc, char **argv)
{
    struct ztoc_opts o = {0};
    if (argc < 1)
        return cli_usage_error("ztoc: which command? (info, list, get-file)");
    const char *sub = argv[0];
    if (parse_opts(argc, argv, &o) < 0)
        return cli_usage_error("ztoc %s: bad option", sub);
    int nargs = argc - optind;
    char **args = argv + optind;

    if (strcmp(sub, "info") == 0 && nargs == 1)
        return info(args[0], &o);
    if (strcmp(sub, "list") == 0 && nargs == 1)
        return list(args[0], &o);
    if (strcmp(sub, "get-file") == 0 && nargs == 3)
        return get_file(args[0], args[1], args[2], &o);
    if (strcmp(sub, "checksum") == 0 && nargs == 2)
        return checksum(args[0], args[1]);
    if (strcmp(sub, "create") == 0 && nargs == 1)
        return create(args[0], &o);
    if (strcmp(sub, "erofs") == 0 && nargs == 1 && o.out)
        return ztoc_erofs(args[0], o.out, o.tag);
    if (strcmp(sub, "erofs-device") == 0 && nargs == 2 && o.out)
        return ztoc_erofs_device(args[0], args[1], o.out);
    if (strcmp(sub, "erofs") == 0 || strcmp(sub, "erofs-device") == 0)
        return cli_usage_error("ztoc %s takes ZTOC%s and -o OUT", sub, sub[5] ? " LAYER" : "");
    if (strcmp(sub, "create") == 0)
        return cli_usage_error("ztoc create takes one LAYER and -o OUT.ztoc");
    if (strcmp(sub, "info") == 0 || strcmp(sub, "list") == 0)
        return cli_usage_error("ztoc %s takes one zTOC file", sub);
    if (strcmp(sub, "get-file") == 0)
        return cli_usage_error("ztoc get-file takes ZTOC LAYER PATH");
    return cli_usage_error("ztoc: unknown command \"%s\"", sub);
}
