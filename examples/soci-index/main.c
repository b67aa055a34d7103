/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-index: build and inspect SOCI indexes and zTOCs with libsoci. Its commands mirror
 * the reference `soci` CLI. This file dispatches; each command group has its own file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <soci/soci.h>

#include "cli.h"

static const char usage[] =
    "usage: soci-index <command> [options]\n"
    "\n"
    "commands:\n"
    "  create [--span-size N] [--min-layer-size N] [--format v1|v2] [--platform OS/ARCH[/VARIANT]]\n"
    "         [--all-platforms] [--build-tool-identifier S] [--optimizations xattr]\n"
    "         [--prefetch-file PATH]...  (its spans go into the layer's prefetch artifact)\n"
    "         [--prefetch-record FILE]   (what a start-up read, recorded by soci-mount --record: its\n"
    "                                     zTOCs get checkpoints around it and its spans become the\n"
    "                                     layers' prefetch artifacts: learned prefetch)\n"
    "         [--push REGISTRY_REF [--plain-http] [--insecure] [--ca FILE]]\n"
    "         OCI_LAYOUT_DIR[:TAG] | REGISTRY_REF   build and store the SOCI index of an image; prints\n"
    "                                     its digest. An image in a registry (by tag) is indexed in\n"
    "                                     place: layers streamed, the index pushed to its repository\n"
    "  index info [--json] OCI_LAYOUT_DIR[@DIGEST] | REGISTRY_REF   a SOCI index: version, subject, zTOCs\n"
    "  index list [--json] OCI_LAYOUT_DIR | REGISTRY_REF  the SOCI indexes a layout or an image holds\n"
    "  ztoc create [--span-size N] [--build-tool-identifier S] [--checkpoint-version 1|2]\n"
    "              LAYER -o OUT.ztoc       build the zTOC of a gzip or uncompressed tar layer\n"
    "  (ZTOC may also be REPOSITORY@sha256:... to read a zTOC from a registry)\n"
    "  ztoc info [--json] ZTOC             header, spans and checkpoints of a zTOC\n"
    "  ztoc list [--json] ZTOC             the entries of a zTOC, in tar order\n"
    "  ztoc get-file [--stats] [-o OUT] ZTOC LAYER PATH\n"
    "                                      one file's bytes, read through the zTOC\n"
    "  ztoc checksum ZTOC LAYER            sha256 of every regular file, as sha256sum prints\n"
    "  ztoc erofs [--tag TAG] ZTOC -o OUT.img\n"
    "                                      the layer's EROFS metadata image (docs/kernel.md)\n"
    "  ztoc erofs-device ZTOC LAYER -o OUT the image's data device, from a local layer\n"
    "  get-file [--stats] [-o OUT] [--platform P] [--plain-http] [--insecure] [--ca FILE] [--index DIGEST]\n"
    "           [--hosts-dir DIR]          (mirrors as containerd's DIR/<host>/hosts.toml)\n"
    "           [--registries-conf FILE]   (mirrors, insecure, blocked as podman's registries.conf)\n"
    "           [--max-connections N]      (requests in flight to one registry host; default 8)\n"
    "           [--cache-dir DIR [--cache-size N]]  (zTOCs, small layers and spans kept on disk, verified,\n"
    "                                      shared with soci-mount; default size 10G)\n"
    "           IMAGE PATH [PATH...]       files of an image (registry reference or OCI_LAYOUT_DIR[:TAG]),\n"
    "                                      read lazily through its SOCI index, from the top layer down\n"
    "  push [--plain-http] [--insecure] [--ca FILE] OCI_LAYOUT_DIR[:TAG] REGISTRY_REF\n"
    "                                      upload an image with its zTOCs and SOCI indexes\n"
    "  version                             print the libsoci version\n";

int cli_fail(const char *what, int err)
{
    const char *detail = soci_last_error();
    fprintf(stderr, "soci-index: %s: %s\n", what, detail[0] ? detail : soci_strerror(err));
    return 1;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("soci-index: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see soci-index --help)\n", stderr);
    return 2;
}

/* The library's warnings (a zstd layer that cannot be split, a cache entry dropped...)
 * are worth a line on stderr. */
static void print_warning(int level, const char *message, void *userdata)
{
    (void)level;
    (void)userdata;
    fprintf(stderr, "soci-index: %s\n", message);
}

int main(int argc, char **argv)
{
    soci_set_log_func(print_warning, SOCI_LOG_WARNING, NULL);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("soci-index (libsoci %s)\n", soci_version_string());
        return 0;
    }
    if (strcmp(argv[1], "create") == 0)
        return cmd_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "push") == 0)
        return cmd_push(argc - 1, argv + 1);
    if (strcmp(argv[1], "get-file") == 0)
        return cmd_get_file(argc - 1, argv + 1);
    if (strcmp(argv[1], "index") == 0)
        return cmd_index(argc - 2, argv + 2);
    if (strcmp(argv[1], "ztoc") == 0)
        return cmd_ztoc(argc - 2, argv + 2);
    return cli_usage_error("unknown command \"%s\"", argv[1]);
}
