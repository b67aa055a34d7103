/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-mount: mount an image, read lazily through its SOCI index, with FUSE.
 *
 * Everything that can fail for a reason the user can fix (a wrong reference, no access,
 * no index) happens before the mount: the image, its zTOCs and the merged tree are loaded
 * first, so the exit status says whether the mount worked. Then, like other FUSE file
 * systems, it mounts, goes to the background (unless -f) and serves until unmounted
 * (fusermount3 -u, umount, SIGINT, SIGTERM).
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "mount.h"

static const char usage[] =
    "usage: soci-mount [options] IMAGE MOUNTPOINT\n"
    "\n"
    "Mount IMAGE (a registry reference, or OCI_LAYOUT_DIR[:TAG]) read-only at MOUNTPOINT, fetching\n"
    "only the parts of its layers that are read, through its SOCI index.\n"
    "\n"
    "options:\n"
    "  -f, --foreground          stay in the foreground (default: return once mounted)\n"
    "  -d, --debug               foreground, with libsoci and FUSE debug output\n"
    "      --cache-dir DIR       keep fetched spans and zTOCs on disk in DIR (shared, verified)\n"
    "      --cache-size N        bound of the disk cache (default 10G; K, M, G suffixes)\n"
    "      --memory-cache N      bound of decoded spans kept in memory (default 256M)\n"
    "      --background-fetch    fetch all remaining spans in the background (default with --cache-dir)\n"
    "      --no-background-fetch only fetch what is read\n"
    "      --prefetch PATH       fetch this file before serving (repeatable)\n"
    "      --no-prefetch-artifacts   ignore the SOCI index's prefetch artifacts (default: fetch\n"
    "                            the spans they name before serving, many at once)\n"
    "      --record FILE         once unmounted, write the spans reads needed to FILE, a prefetch\n"
    "                            record for soci-index create --prefetch-record (learned prefetch)\n"
    "      --stats-file FILE     once unmounted, write FUSE and fetch figures to FILE (JSON)\n"
    "      --kernel              serve the tree from the kernel: each layer an EROFS image (kept\n"
    "                            in the cache dir) over its data read lazily, stacked with\n"
    "                            overlayfs; needs root (docs/kernel.md). Unmount with umount.\n"
    "      --kernel-loop         with --kernel, attach the images with loop devices even where\n"
    "                            the kernel mounts files (it must before Linux 6.12)\n"
    "      --decoded-size N      with --kernel and --cache-dir, bound of the layers' decoded data\n"
    "                            kept there for later mounts to read from local disk (default 10G;\n"
    "                            0 keeps none)\n"
    "      --platform OS/ARCH[/VARIANT]   image platform (default: this host's)\n"
    "      --index DIGEST        use this SOCI index instead of discovering one\n"
    "      --creds USER:SECRET   registry credentials (default: docker's config.json)\n"
    "      --plain-http          talk plain HTTP to the registry\n"
    "  -k, --insecure            do not verify the registry's TLS certificate\n"
    "      --ca FILE             trust the CA certificates in FILE\n"
    "      --hosts-dir DIR       containerd-style DIR/<host>/hosts.toml mirrors\n"
    "      --registries-conf FILE   podman's registries.conf: mirrors, insecure, blocked hosts\n"
    "      --max-connections N   requests in flight to one registry host at once (default 8)\n"
    "  -o OPTIONS                extra FUSE mount options (e.g. allow_other)\n"
    "      --threads N           most FUSE worker threads (default 16)\n"
    "  -h, --help                this text\n";


static int credentials(void *userdata, const char *host, char *user, size_t user_size, char *secret,
                       size_t secret_size)
{
    const char *creds = userdata, *colon = strchr(creds, ':');
    (void)host;
    if (colon == NULL || (size_t)(colon - creds) >= user_size || strlen(colon + 1) >= secret_size)
        return 0;
    snprintf(user, user_size, "%.*s", (int)(colon - creds), creds);
    snprintf(secret, secret_size, "%s", colon + 1);
    return 1;
}

static int fail(const char *what, int code)
{
    const char *detail = soci_last_error();
    fprintf(stderr, "soci-mount: %s: %s\n", what, detail[0] ? detail : soci_strerror(code));
    return 1;
}

/* Parse argv into o and cfg; returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, struct options *o, soci_config *cfg)
{
    enum { CACHE_DIR = 256, PREFETCH, PLATFORM, INDEX, CREDS, NO_ARTIFACTS, RECORD, STATS_FILE, KERNEL, KERNEL_LOOP,
           DECODED_SIZE };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"cache-dir", required_argument, NULL, CACHE_DIR},
        {"prefetch", required_argument, NULL, PREFETCH}, {"platform", required_argument, NULL, PLATFORM},
        {"index", required_argument, NULL, INDEX}, {"creds", required_argument, NULL, CREDS},
        {"no-prefetch-artifacts", no_argument, NULL, NO_ARTIFACTS}, {"record", required_argument, NULL, RECORD},
        {"stats-file", required_argument, NULL, STATS_FILE}, {"kernel", no_argument, NULL, KERNEL},
        {"kernel-loop", no_argument, NULL, KERNEL_LOOP}, {"decoded-size", required_argument, NULL, DECODED_SIZE},
        CLI_DAEMON_LONGOPTS, CLI_REGISTRY_LONGOPTS, {NULL, 0, NULL, 0}};
    int c, r;
    o->prefetch = calloc((size_t)argc, sizeof(*o->prefetch));
    while ((c = getopt_long(argc, argv, "fdhko:", longopts, NULL)) != -1) {
        r = 0;
        if (cli_registry_option(c, optarg, cfg, &r) || cli_daemon_option(c, optarg, cfg, &o->d, "soci-mount", &r)) {
            if (r == CLI_USAGE_ERROR)
                return 2;
            if (r < 0)
                return fail("options", r);
            continue;
        }
        switch (c) {
        case 'h': fputs(usage, stdout); return 0;
        case CACHE_DIR: o->cache_dir = optarg; r = soci_config_set_str(cfg, SOCI_OPT_CACHE_DIR, optarg); break;
        case PREFETCH: o->prefetch[o->nprefetch++] = optarg; break;
        case NO_ARTIFACTS: o->no_artifacts = true; break;
        case PLATFORM: r = soci_config_set_str(cfg, SOCI_OPT_PLATFORM, optarg); break;
        case INDEX: r = soci_config_set_str(cfg, SOCI_OPT_INDEX_DIGEST, optarg); break;
        case CREDS: o->creds = optarg; break;
        case RECORD: r = cli_absolute_path(optarg, &o->record); break;
        case STATS_FILE: r = cli_absolute_path(optarg, &o->stats_file); break;
        case KERNEL: o->kernel = true; break;
        case KERNEL_LOOP: o->kernel = o->kernel_loop = true; break;
        case DECODED_SIZE:
            if (!cli_parse_size(optarg, &o->decoded_size)) {
                fprintf(stderr, "soci-mount: --decoded-size: not a size: %s\n", optarg);
                return 2;
            }
            break;
        default: fputs(usage, stderr); return 2;
        }
        if (r < 0)
            return fail("options", r);
    }
    if (argc - optind != 2) {
        fputs(usage, stderr);
        return 2;
    }
    o->image = argv[optind];
    o->mountpoint = argv[optind + 1];
    return -1;
}


static void unload(struct loaded *l)
{
    soci_fs_free(l->fs);
    soci_image_free(l->img);
    soci_cache_unref(l->cache);
    soci_registry_unref(l->reg);
}

/* How each layer is read (the image filesystem has opened them all by now). */
static void log_lazy_paths(const soci_image *img, const char *image)
{
    uint32_t n = soci_image_layer_count(img), whole = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct soci_image_layer info;
        if (soci_image_layer(img, i, &info, sizeof(info)) < 0)
            continue;
        whole += info.lazy_path == SOCI_LAZY_WHOLE;
        daemon_log(SOCI_LOG_INFO, "layer %u %s: %s", i, info.digest, cli_lazy_path_name(info.lazy_path));
    }
    if (n > 0 && whole == n)
        daemon_log(SOCI_LOG_WARNING, "%s has no SOCI index or layer TOCs: every layer is fetched whole", image);
}

/* The image, its cache and its merged tree, with the files asked for fetched. */
static int load(const struct options *o, const soci_config *cfg, struct loaded *l)
{
    int r;
    if ((r = soci_registry_new(cfg, &l->reg)) < 0)
        return fail("registry", r);
    if (o->creds && (r = soci_registry_set_credential_fn(l->reg, credentials, o->creds)) < 0)
        return fail("credentials", r);
    if ((r = soci_cache_new(cfg, &l->cache)) < 0)
        return fail("cache", r);
    uint64_t t = fuse_stats_now();
    if ((r = soci_image_open(o->image, l->reg, cfg, &l->img)) < 0)
        return fail(o->image, r);
    l->image_ns = fuse_stats_now() - t;
    t += l->image_ns;
    if ((r = soci_image_set_cache(l->img, l->cache)) < 0 || (r = soci_fs_open(l->img, &l->fs)) < 0)
        return fail(o->image, r);
    l->tree_ns = fuse_stats_now() - t;
    t += l->tree_ns;
    log_lazy_paths(l->img, o->image);
    /* Before serving, not while: a start-up competes with the fetch for CPU (on two cores,
     * serving during it made a learned 400 MB start 0.5 s slower, not faster). */
    uint64_t spans = 0;
    if (!o->no_artifacts && (r = soci_fs_prefetch_artifacts(l->fs, &spans)) < 0)
        daemon_log(SOCI_LOG_WARNING, "prefetch artifacts: %s", soci_last_error());
    l->prefetch_ns = fuse_stats_now() - t;
    if (spans > 0)
        daemon_log(SOCI_LOG_INFO, "prefetch artifacts: %llu span(s) fetched in %.2f s", (unsigned long long)spans,
                   (double)l->prefetch_ns / 1e9);
    for (int i = 0; i < o->nprefetch; i++)
        if ((r = soci_fs_prefetch(l->fs, o->prefetch[i])) < 0)
            daemon_log(SOCI_LOG_WARNING, "prefetch: %s", soci_last_error());
    return 0;
}

struct serving {
    const struct options *o;
    struct loaded *l;
};

void serving_started(const struct options *o, struct loaded *l)
{
    bool background = o->d.background == 1 || (o->d.background == -1 && o->cache_dir);
    if (background && soci_fs_background_fetch(l->fs, 1) < 0)
        daemon_log(SOCI_LOG_WARNING, "background fetch: %s", soci_last_error());
    daemon_log(SOCI_LOG_INFO, "serving %s at %s%s", o->image, o->mountpoint, o->kernel ? " (kernel)" : "");
}

/* Once mounted, in the daemon. */
static void on_ready(void *arg)
{
    serving_started(((struct serving *)arg)->o, ((struct serving *)arg)->l);
}

static void on_stopping(void *arg)
{
    soci_fs_background_fetch(((struct serving *)arg)->l->fs, 0);
}

/* Learned prefetch: what the reads of this mount needed, for an index build. */
static void write_record(const char *path, soci_fs *fs)
{
    char *json;
    size_t len;
    if (soci_fs_prefetch_record(fs, &json, &len) < 0) {
        daemon_log(SOCI_LOG_ERROR, "prefetch record: %s", soci_last_error());
        return;
    }
    /* Written whole: whoever waits for it to appear (the benchmarks) never reads half. */
    if (daemon_write_file(path, json, len, 0666, false) != 0)
        daemon_log(SOCI_LOG_ERROR, "prefetch record %s: %m", path);
    else
        daemon_log(SOCI_LOG_INFO, "prefetch record written to %s", path);
    soci_free(json);
}

static int serve(const struct options *o, struct loaded *l)
{
    char opts[1024];
    struct serving both = {o, l};
    /* Read-only, kernel permission checks, what the caller adds. */
    snprintf(opts, sizeof(opts), "ro,default_permissions,fsname=soci,subtype=soci%s%s%s",
             geteuid() == 0 ? ",allow_other" : "", o->d.fuse_opts ? "," : "", o->d.fuse_opts ? o->d.fuse_opts : "");
    struct daemon_serve d = {.prog = "soci-mount", .mountpoint = o->mountpoint, .mount_opts = opts,
                             .foreground = o->d.foreground, .debug = o->d.debug, .threads = o->d.threads,
                             .ready = on_ready, .stopping = on_stopping, .arg = &both};
    struct mount_state state = {.fs = l->fs};
    uint64_t xattrs;
    state.no_xattrs = soci_fs_counter(l->fs, SOCI_COUNTER_XATTRS, &xattrs) == 0 && xattrs == 0;
    int status = daemon_serve(&d, &mount_ops, sizeof(mount_ops), &state);
    write_outputs(o, l, &state.stats);
    return status;
}

void write_outputs(const struct options *o, struct loaded *l, struct fuse_stats *st)
{
    st->image_ns = l->image_ns;
    st->tree_ns = l->tree_ns;
    st->prefetch_ns = l->prefetch_ns;
    if (o->stats_file && fuse_stats_write(o->stats_file, st, l->fs) < 0)
        daemon_log(SOCI_LOG_ERROR, "stats file %s: %m", o->stats_file);
    if (o->record)
        write_record(o->record, l->fs);
}

int main(int argc, char **argv)
{
    struct options o = {.d = {.background = -1}, .decoded_size = (uint64_t)10 << 30};
    struct loaded l = {0};
    soci_config *cfg;
    int status;
    if (soci_config_new(&cfg) < 0)
        return fail("setup", SOCI_ENOMEM);
    if ((status = parse_args(argc, argv, &o, cfg)) >= 0)
        goto out;
    int level = o.d.debug ? SOCI_LOG_DEBUG : SOCI_LOG_INFO;
    daemon_log_setup("soci-mount", level);
    soci_set_log_func(daemon_library_log, level, NULL);
    status = load(&o, cfg, &l);
    if (status == 0)
        status = o.kernel ? kernel_serve(&o, &l) : serve(&o, &l);
out:
    unload(&l);
    soci_config_free(cfg);
    free(o.prefetch);
    free(o.record);
    free(o.stats_file);
    return status;
}
