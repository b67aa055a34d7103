/* SPDX-License-Identifier: Apache-2.0 */
/*
 * read_file: print one file of a layer, read through its zTOC — the smallest useful
 * embedding of libsoci, and the example the README shows.
 *
 *   cc read_file.c $(pkg-config --cflags --libs libsoci) -o read_file
 *   ./read_file LAYER.ztoc LAYER.tar.gz etc/os-release
 */
#include <stdio.h>
#include <string.h>

#include <soci/soci.h>

int main(int argc, char **argv)
{
    soci_ztoc *ztoc = NULL;
    soci_blob *blob = NULL;
    soci_layer *layer = NULL;
    uint32_t entry;
    char buf[65536];
    int64_t n;
    uint64_t off = 0;
    int err;

    if (argc != 4 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr, "usage: read_file ZTOC LAYER PATH\n");
        return argc == 2 ? 0 : 2;
    }
    if ((err = soci_ztoc_open_file(argv[1], &ztoc)) < 0 ||  /* verified as it opens */
        (err = soci_blob_open_file(argv[2], &blob)) < 0 ||  /* any soci_blob: file, memory, yours */
        (err = soci_layer_open(blob, ztoc, &layer)) < 0 ||   /* takes its own blob reference */
        (err = soci_ztoc_lookup(ztoc, argv[3], &entry)) < 0)
        goto fail;
    while ((n = soci_layer_pread(layer, entry, buf, sizeof(buf), off)) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        off += (uint64_t)n;
    }
    if (n < 0) {
        err = (int)n;
        goto fail;
    }
    soci_layer_free(layer);
    soci_blob_unref(blob);
    soci_ztoc_free(ztoc);
    return 0;
fail:
    fprintf(stderr, "read_file: %s: %s\n", soci_errname(err), soci_last_error());
    soci_layer_free(layer);
    soci_blob_unref(blob);
    soci_ztoc_free(ztoc);
    return 1;
}
