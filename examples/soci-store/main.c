/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-store: serve images lazily to podman and CRI-O as an additional layer store.
 *
 * It mounts STORE_DIR with FUSE and answers containers/storage's lookups there (store.h),
 * for every image and layer at once, through one registry client and one span cache.
 * Like other FUSE daemons it returns once mounted (unless -f) and serves until unmounted
 * or stopped (SIGTERM, SIGINT, SIGHUP: the mount is taken down cleanly).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_common.h"
#include "cli_config.h"
#include "store.h"

#define DEFAULT_CACHE_DIR "/var/lib/soci-store/cache"
#define DEFAULT_REGISTRIES_CONF "/etc/containers/registries.conf"

static const char usage[] =
    "usage: soci-store [options] STORE_DIR\n"
    "\n"
    "Mount an additional layer store for podman and CRI-O at STORE_DIR: layers of images with\n"
    "a SOCI index (or eStargz / zstd:chunked layers) are read lazily from their registry\n"
    "instead of being pulled. Point containers/storage at it in storage.conf:\n"
    "  [storage.options]\n"
    "  additionallayerstores = [\"STORE_DIR:ref\"]\n"
    "\n"
    "options:\n"
    "      --config FILE         options from FILE, one \"name value\" per line (# comments),\n"
    "                            before the command line's\n"
    "  -f, --foreground          stay in the foreground (default: return once mounted)\n"
    "  -d, --debug               foreground, with libsoci and FUSE debug output\n"
    "      --cache-dir DIR       fetched spans and zTOCs on disk, shared and verified\n"
    "                            (default " DEFAULT_CACHE_DIR ")\n"
    "      --no-disk-cache       keep spans in memory only\n"
    "      --cache-size N        bound of the disk cache (default 10G; K, M, G suffixes)\n"
    "      --memory-cache N      bound of decoded spans kept in memory (default 256M)\n"
    "      --background-fetch    fetch the rest of each layer in the background when reads\n"
    "                            are quiet (default with a disk cache)\n"
    "      --no-background-fetch only fetch what is read\n"
    "      --kernel              serve each layer's diff from the kernel: an EROFS image of it\n"
    "                            (kept in the cache dir) mounted under /run/soci-store, its data\n"
    "                            read lazily; diff is a link to that mount. Needs root\n"
    "      --kernel-loop         with --kernel, attach images with loop devices even where the\n"
    "                            kernel mounts files (it must before Linux 6.12)\n"
    "      --platform OS/ARCH[/VARIANT]   image platform (default: this host's)\n"
    "      --plain-http          talk plain HTTP to registries\n"
    "  -k, --insecure            do not verify registries' TLS certificates\n"
    "      --ca FILE             trust the CA certificates in FILE\n"
    "      --registries-conf FILE   registries, mirrors and insecure hosts as podman reads them\n"
    "                            (default $CONTAINERS_REGISTRIES_CONF, else " DEFAULT_REGISTRIES_CONF ")\n"
    "      --hosts-dir DIR       containerd-style DIR/<host>/hosts.toml mirrors\n"
    "      --max-connections N   requests in flight to one registry host at once (default 8)\n"
    "      --stats-file FILE     once stopped, write fetch, cache and decode figures to FILE (JSON)\n"
    "      --listen ADDR:PORT    serve GET /metrics (Prometheus) and GET /status (JSON) there,\n"
    "                            unauthenticated: a loopback address, or one only operators reach\n"
    "  -o OPTIONS                extra FUSE mount options\n"
    "      --threads N           most FUSE worker threads (default 16)\n"
    "  -h, --help                this text\n"
    "\n"
    "Credentials come from $REGISTRY_AUTH_FILE, podman's auth.json or docker's config.json.\n";

struct options {
    const char *store_dir, *cache_dir, *registries_conf;
    char *stats_file; /* absolute: the daemon runs in / */
    const char *listen;
    bool no_disk_cache;
    bool kernel, kernel_loop;
    struct cli_daemon_opts d; /* background -1: on with a disk cache */
};

static int fail(const char *what, int code)
{
    const char *detail = soci_last_error();
    fprintf(stderr, "soci-store: %s: %s\n", what, detail[0] ? detail : soci_strerror(code));
    return 1;
}

/* Parse argv into o and cfg; returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, struct options *o, soci_config *cfg)
{
    enum { CACHE_DIR = 256, NO_DISK_CACHE, PLATFORM, KERNEL, KERNEL_LOOP, STATS_FILE, LISTEN, CONFIG };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"cache-dir", required_argument, NULL, CACHE_DIR},
        {"no-disk-cache", no_argument, NULL, NO_DISK_CACHE}, {"platform", required_argument, NULL, PLATFORM},
        {"kernel", no_argument, NULL, KERNEL}, {"kernel-loop", no_argument, NULL, KERNEL_LOOP},
        {"stats-file", required_argument, NULL, STATS_FILE}, {"listen", required_argument, NULL, LISTEN},
        {"config", required_argument, NULL, CONFIG}, CLI_DAEMON_LONGOPTS, CLI_REGISTRY_LONGOPTS, {NULL, 0, NULL, 0}};
    int c, r;
    o->cache_dir = DEFAULT_CACHE_DIR;
    while ((c = getopt_long(argc, argv, "fdhko:", longopts, NULL)) != -1) {
        r = 0;
        if (c == 'R')
            o->registries_conf = optarg;
        if (cli_registry_option(c, optarg, cfg, &r) || cli_daemon_option(c, optarg, cfg, &o->d, "soci-store", &r)) {
            if (r == CLI_USAGE_ERROR)
                return 2;
            if (r < 0)
                return fail("options", r);
            continue;
        }
        switch (c) {
        case 'h': fputs(usage, stdout); return 0;
        case CACHE_DIR: o->cache_dir = optarg; break;
        case NO_DISK_CACHE: o->no_disk_cache = true; break;
        case PLATFORM: r = soci_config_set_str(cfg, SOCI_OPT_PLATFORM, optarg); break;
        case KERNEL: o->kernel = true; break;
        case KERNEL_LOOP: o->kernel = o->kernel_loop = true; break;
        case STATS_FILE: free(o->stats_file); r = cli_absolute_path(optarg, &o->stats_file); break;
        case LISTEN: o->listen = optarg; break;
        case CONFIG: break; /* read before the command line (cli_args_with_config) */
        default: fputs(usage, stderr); return 2;
        }
        if (r < 0)
            return fail("options", r);
    }
    if (argc - optind != 1) {
        fputs(usage, stderr);
        return 2;
    }
    o->store_dir = argv[optind];
    return -1;
}

/* The registry client and the cache every image shares. */
static int setup(const struct options *o, soci_config *cfg, struct store *s)
{
    struct stat st;
    int r;
    if (stat(o->store_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "soci-store: %s: not a directory (%s)\n", o->store_dir, strerror(errno));
        return 1;
    }
    if (!o->no_disk_cache && (r = soci_config_set_str(cfg, SOCI_OPT_CACHE_DIR, o->cache_dir)) < 0)
        return fail("cache", r);
    /* The engine's own registry configuration, unless one was named. */
    const char *conf = o->registries_conf ? o->registries_conf : getenv("CONTAINERS_REGISTRIES_CONF");
    if (conf == NULL && access(DEFAULT_REGISTRIES_CONF, R_OK) == 0)
        conf = DEFAULT_REGISTRIES_CONF;
    if (conf != NULL && (r = soci_config_set_str(cfg, SOCI_OPT_REGISTRIES_CONF, conf)) < 0)
        return fail("registries.conf", r);
    if ((r = soci_registry_new(cfg, &s->reg)) < 0)
        return fail("registry", r);
    if ((r = soci_cache_new(cfg, &s->cache)) < 0)
        return fail(o->no_disk_cache ? "cache" : o->cache_dir, r);
    s->cfg = cfg;
    s->background_fetch = o->d.background == 1 || (o->d.background == -1 && !o->no_disk_cache);
    if (o->kernel)
        return store_kernel_prepare(s, o->store_dir, o->no_disk_cache ? NULL : o->cache_dir, o->kernel_loop,
                                    o->d.threads);
    return 0;
}

struct serving {
    const struct options *o;
    struct store *s;
    int http_fd; /* --listen's socket, bound before the fork; -1 without */
    struct store_http *http;
};

/* In the daemon, once mounted: threads started before it forked would not be in it. */
static void on_ready(void *arg)
{
    struct serving *sv = arg;
    if (sv->s->kernel)
        store_kernel_start(sv->s);
    if (sv->http_fd >= 0)
        sv->http = store_http_start(sv->s, sv->http_fd); /* the store serves on without */
    sv->http_fd = -1; /* the server's now, or closed */
    daemon_log(SOCI_LOG_INFO, "serving the layer store at %s%s", sv->o->store_dir, sv->s->kernel ? " (kernel)" : "");
}

static void on_stopping(void *arg)
{
    struct serving *sv = arg;
    store_http_stop(sv->http);
    sv->http = NULL;
    store_kernel_stop(sv->s);
}

static int serve(const struct options *o, struct store *s, int http_fd)
{
    char opts[1024];
    /* Not read-only: containers/storage creates `use` files and removes layer directories,
     * which the store answers itself. The kernel checks permissions against the modes. */
    snprintf(opts, sizeof(opts), "default_permissions,fsname=soci-store,subtype=soci-store%s%s%s",
             geteuid() == 0 ? ",allow_other" : "", o->d.fuse_opts ? "," : "", o->d.fuse_opts ? o->d.fuse_opts : "");
    struct serving sv = {.o = o, .s = s, .http_fd = http_fd};
    struct daemon_serve d = {.prog = "soci-store", .mountpoint = o->store_dir, .mount_opts = opts,
                             .foreground = o->d.foreground, .debug = o->d.debug, .threads = o->d.threads,
                             .ready = on_ready, .stopping = on_stopping, .arg = &sv};
    int status = daemon_serve(&d, &store_ops, sizeof(store_ops), s);
    if (sv.http_fd >= 0) /* never served: the mount failed */
        close(sv.http_fd);
    daemon_log(SOCI_LOG_INFO, "stopped: %u image reference(s), %u layer(s) served", atomic_load(&s->nrefs),
               atomic_load(&s->nlayers));
    if (o->stats_file && store_stats_write(s, o->stats_file) < 0)
        daemon_log(SOCI_LOG_ERROR, "stats file %s: %m", o->stats_file);
    return status;
}

int main(int argc, char **argv)
{
    struct options o = {.d = {.background = -1}};
    struct store *s = calloc(1, sizeof(*s));
    soci_config *cfg;
    int status;
    if (s == NULL || soci_config_new(&cfg) < 0)
        return fail("setup", SOCI_ENOMEM);
    pthread_mutex_init(&s->lock, NULL);
    struct cli_args args; /* the options point into it */
    /* The config file's options first, the command line's after (so they win). */
    if ((status = cli_args_with_config("soci-store", argc, argv, &args)) != 0 ||
        (status = parse_args(args.argc, args.argv, &o, cfg)) >= 0)
        goto out;
    int level = o.d.debug ? SOCI_LOG_DEBUG : SOCI_LOG_INFO;
    daemon_log_setup("soci-store", level);
    soci_set_log_func(daemon_library_log, level, NULL);
    int http_fd = -1;
    if ((status = setup(&o, cfg, s)) == 0 && o.listen && (http_fd = store_http_listen(o.listen)) < 0)
        status = 1;
    if (status == 0)
        status = serve(&o, s, http_fd);
    store_kernel_free(s); /* before the layers whose trees its devices read */
    store_free(s);
    soci_cache_unref(s->cache);
    soci_registry_unref(s->reg);
out:
    pthread_mutex_destroy(&s->lock);
    soci_config_free(cfg);
    free(o.stats_file);
    cli_args_free(&args);
    free(s);
    return status;
}
