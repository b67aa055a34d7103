/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-indexer: index every image pushed to a registry. A registry's push notifications
 * (or POST /index) become jobs, journalled in the state directory before they are
 * acknowledged; workers build each image's SOCI index where it lies (layers streamed, not
 * copied) and push it back. It runs in the foreground, as services under systemd do, and
 * stops cleanly on SIGTERM or SIGINT: no new requests, the jobs in progress finished, the
 * rest left in the journal for the next start.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_common.h"
#include "cli_config.h"
#include "indexer.h"

#define MAX_REGISTRIES 16

static const char usage[] =
    "usage: soci-indexer --registry HOST[:PORT] --state-dir DIR [options]\n"
    "\n"
    "Build and push the SOCI index of every image pushed to the registry: point its push\n"
    "notifications at http://LISTEN/events (docs/indexer.md).\n"
    "\n"
    "options:\n"
    "      --registry HOST[:PORT]  the registry whose images are indexed (events name the first;\n"
    "                              POST /index takes any given; repeatable)\n"
    "      --listen ADDR:PORT    where the API listens (default 127.0.0.1:8470)\n"
    "      --state-dir DIR       the journal and scratch space (default /var/lib/soci-indexer)\n"
    "      --secret-file FILE    requests must carry \"Authorization: Bearer <FILE's first line>\"\n"
    "      --tls-cert FILE, --tls-key FILE   serve HTTPS with this certificate and key (PEM)\n"
    "      --config FILE         options from FILE, one \"name value\" per line (# comments);\n"
    "                            the command line comes after and wins\n"
    "      --workers N           images indexed at once (default 2)\n"
    "      --queue-size N        jobs waiting or running at most (default 10000); more are refused\n"
    "      --attempts N          tries of a job that fails for a passing reason (default 5)\n"
    "      --backoff SECONDS     the first retry's wait, doubled after each (default 2, at most 300)\n"
    "      --format v1|v2        index version (default v2)\n"
    "      --platform OS/ARCH[/VARIANT]   index one platform (default: every platform)\n"
    "      --min-layer-size N    layers smaller than this get no zTOC (default 10M)\n"
    "      --span-size N         zTOC span size (default 4M)\n"
    "      --plain-http, -k/--insecure, --ca FILE, --hosts-dir DIR, --registries-conf FILE,\n"
    "      --max-connections N   the registry connection, as for soci-index\n"
    "  -h, --help                this text\n"
    "\n"
    "Registry credentials come from $REGISTRY_AUTH_FILE, podman's auth.json or docker's config.json.\n";

struct options {
    const char *listen, *state_dir, *secret_file, *tls_cert, *tls_key;
    const char *registries[MAX_REGISTRIES];
    unsigned nregistries;
    unsigned workers, queue_size, attempts, backoff;
    uint64_t span_size;
    bool v1; /* --format v1 */
};

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "soci-indexer: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    return 2;
}

static bool parse_count(const char *s, unsigned max, unsigned *ret)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v == 0 || v > max)
        return false;
    *ret = (unsigned)v;
    return true;
}

static int parse(int argc, char **argv, struct options *o, soci_config *cfg)
{
    enum { LISTEN = 256, STATE_DIR, SECRET, TLS_CERT, TLS_KEY, CONFIG, WORKERS, QUEUE, ATTEMPTS, BACKOFF, FORMAT,
           PLATFORM, MIN_LAYER, SPAN, REGISTRY };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"listen", required_argument, NULL, LISTEN},
        {"state-dir", required_argument, NULL, STATE_DIR}, {"secret-file", required_argument, NULL, SECRET},
        {"tls-cert", required_argument, NULL, TLS_CERT}, {"tls-key", required_argument, NULL, TLS_KEY},
        {"config", required_argument, NULL, CONFIG}, {"workers", required_argument, NULL, WORKERS},
        {"queue-size", required_argument, NULL, QUEUE}, {"attempts", required_argument, NULL, ATTEMPTS},
        {"backoff", required_argument, NULL, BACKOFF}, {"format", required_argument, NULL, FORMAT},
        {"platform", required_argument, NULL, PLATFORM}, {"min-layer-size", required_argument, NULL, MIN_LAYER},
        {"span-size", required_argument, NULL, SPAN}, {"registry", required_argument, NULL, REGISTRY},
        CLI_REGISTRY_LONGOPTS, {NULL, 0, NULL, 0}};
    int c, r;
    uint64_t size;
    while ((c = getopt_long(argc, argv, "hk", longopts, NULL)) != -1) {
        r = 0;
        if (cli_registry_option(c, optarg, cfg, &r)) {
            if (r < 0)
                return usage_error("bad registry option", optarg);
            continue;
        }
        switch (c) {
        case 'h': fputs(usage, stdout); return 0;
        case LISTEN: o->listen = optarg; break;
        case STATE_DIR: o->state_dir = optarg; break;
        case SECRET: o->secret_file = optarg; break;
        case TLS_CERT: o->tls_cert = optarg; break;
        case TLS_KEY: o->tls_key = optarg; break;
        case CONFIG: break; /* read before the command line */
        case WORKERS:
            if (!parse_count(optarg, 64, &o->workers))
                return usage_error("--workers takes 1 to 64", optarg);
            break;
        case QUEUE:
            if (!parse_count(optarg, 1000000, &o->queue_size))
                return usage_error("--queue-size takes 1 to 1000000", optarg);
            break;
        case ATTEMPTS:
            if (!parse_count(optarg, 100, &o->attempts))
                return usage_error("--attempts takes 1 to 100", optarg);
            break;
        case BACKOFF:
            if (!parse_count(optarg, 300, &o->backoff))
                return usage_error("--backoff takes 1 to 300 seconds", optarg);
            break;
        case FORMAT:
            if (strcmp(optarg, "v1") != 0 && strcmp(optarg, "v2") != 0)
                return usage_error("--format is v1 or v2", optarg);
            o->v1 = optarg[1] == '1';
            r = soci_config_set_u64(cfg, SOCI_OPT_INDEX_VERSION, o->v1 ? SOCI_INDEX_V1 : SOCI_INDEX_V2);
            break;
        case PLATFORM: r = soci_config_set_str(cfg, SOCI_OPT_PLATFORM, optarg); break;
        case MIN_LAYER:
        case SPAN:
            if (!cli_parse_size(optarg, &size))
                return usage_error("not a size", optarg);
            if (c == SPAN)
                o->span_size = size;
            else
                r = soci_config_set_u64(cfg, SOCI_OPT_MIN_LAYER_SIZE, size);
            break;
        case REGISTRY:
            if (o->nregistries == MAX_REGISTRIES || strchr(optarg, '/') != NULL || optarg[0] == '\0')
                return usage_error("--registry takes a host[:port] (at most 16 of them)", optarg);
            o->registries[o->nregistries++] = optarg;
            break;
        default: fputs(usage, stderr); return 2;
        }
        if (r < 0)
            return usage_error("bad value", optarg);
    }
    if (optind != argc)
        return usage_error("unexpected argument", argv[optind]);
    if (o->nregistries == 0)
        return usage_error("--registry is needed: the registry whose images are indexed", NULL);
    if ((o->tls_cert == NULL) != (o->tls_key == NULL))
        return usage_error("--tls-cert and --tls-key go together", NULL);
    return -1;
}

/* The secret's first line, or NULL after saying why. */
static char *read_secret(const char *path)
{
    char buf[512];
    FILE *f = fopen(path, "re");
    if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
        fprintf(stderr, "soci-indexer: --secret-file %s: %s\n", path, f ? "empty" : strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0') {
        fprintf(stderr, "soci-indexer: --secret-file %s: empty\n", path);
        return NULL;
    }
    return strdup(buf);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Scratch layouts a killed run left in STATE_DIR/work (the library removes its own). */
static void clear_scratch(const char *work)
{
    DIR *d = opendir(work);
    struct dirent *e;
    char path[4400];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "soci-index-", 11) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", work, e->d_name);
        if (nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
            ix_log("warning", "msg=\"cannot remove a scratch layout\" path=%s", path);
    }
    if (d != NULL)
        closedir(d);
}

int main(int argc, char **argv)
{
    struct options o = {.listen = "127.0.0.1:8470", .state_dir = "/var/lib/soci-indexer", .workers = 2,
                        .queue_size = 10000, .attempts = 5, .backoff = 2};
    char work[4096];
    struct sockaddr_in listen_at;
    struct cli_args args;
    int status = 1;
    soci_config *cfg = NULL;
    soci_registry *reg = NULL;
    struct queue *q = NULL;
    struct journal *j = NULL;
    struct workers *w = NULL;
    struct api *api = NULL;
    char *secret = NULL;

    /* The config file's options first, the command line's after (so they win). */
    if ((status = cli_args_with_config("soci-indexer", argc, argv, &args)) != 0)
        goto out;
    status = 1;
    if (soci_config_new(&cfg) < 0 || soci_config_set_str(cfg, SOCI_OPT_PLATFORM, "all") < 0)
        goto out;
    if ((status = parse(args.argc, args.argv, &o, cfg)) >= 0)
        goto out;
    status = 1;
    soci_set_log_func(ix_library_log, SOCI_LOG_WARNING, NULL);
    const char *wrong = cli_parse_listen(o.listen, &listen_at);
    if (wrong != NULL) {
        fprintf(stderr, "soci-indexer: --listen %s: %s, e.g. 127.0.0.1:8470\n", o.listen, wrong);
        status = 2;
        goto out;
    }
    if (o.secret_file && (secret = read_secret(o.secret_file)) == NULL)
        goto out;
    snprintf(work, sizeof(work), "%s/work", o.state_dir);
    if ((mkdir(o.state_dir, 0700) != 0 && errno != EEXIST) || (mkdir(work, 0700) != 0 && errno != EEXIST)) {
        fprintf(stderr, "soci-indexer: cannot make %s: %s\n", work, strerror(errno));
        goto out;
    }
    clear_scratch(work);

    /* Signals are waited for in this thread: blocked before any other starts. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct indexer_config ic = {.registries = o.registries, .nregistries = o.nregistries};
    struct worker_config wc = {.cfg = cfg, .span_size = o.span_size, .scratch_dir = work,
                               .max_attempts = o.attempts, .backoff_seconds = o.backoff};
    if (soci_registry_new(cfg, &reg) < 0) {
        fprintf(stderr, "soci-indexer: registry: %s\n", soci_last_error());
        goto out;
    }
    wc.reg = reg;
    if (queue_new(o.queue_size, 1000, o.v1, &q) < 0 || journal_open(o.state_dir, q, &j) < 0)
        goto out;
    struct api_config ac = {.listen = o.listen, .addr = listen_at, .secret = secret, .tls_cert = o.tls_cert,
                            .tls_key = o.tls_key, .ic = &ic, .q = q, .j = j, .reg = reg};
    if (workers_start(&wc, q, j, o.workers, &w) < 0 || api_start(&ac, &api) < 0)
        goto stop;
    ix_log("info", "msg=listening address=%s registry=%s state=%s workers=%u", o.listen, o.registries[0], o.state_dir,
           o.workers);
    int sig = 0;
    sigwait(&stop, &sig);
    ix_log("info", "msg=stopping signal=%d", sig);
    status = 0;
stop:
    api_stop(api);  /* no more requests */
    queue_stop(q);  /* workers finish the job in hand; the rest stays in the journal */
    workers_join(w);
    if (status == 0)
        ix_log("info", "msg=stopped");
out:
    journal_close(j);
    queue_free(q);
    soci_registry_unref(reg);
    soci_config_free(cfg);
    free(secret);
    cli_args_free(&args);
    return status;
}
