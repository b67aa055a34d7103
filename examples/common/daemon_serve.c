/* SPDX-License-Identifier: Apache-2.0 */
/* Serving a FUSE session as the daemons do: mount, go to the background once mounted,
 * drop privileges, serve on worker threads until a signal or an unmount, unmount. */
#include <signal.h>
#include <stdio.h>

#include "fuse_fs.h"
#include "fuse_stats.h"

int daemon_serve(const struct daemon_serve *d, const struct fuse_lowlevel_ops *ops, size_t ops_size, void *userdata)
{
    static char dash_o[] = "-o", dash_d[] = "-d";
    char opts[1024], prog[64];
    snprintf(opts, sizeof(opts), "%s", d->mount_opts);
    snprintf(prog, sizeof(prog), "%s", d->prog);
    char *argv[] = {prog, dash_o, opts, d->debug ? dash_d : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(d->debug ? 4 : 3, argv);
    int status = 1;
    struct fuse_session *se = fuse_session_new(&args, ops, ops_size, userdata);
    if (se == NULL) {
        fprintf(stderr, "%s: cannot start a FUSE session\n", d->prog);
        return 1;
    }
    if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, d->mountpoint) != 0) {
        fprintf(stderr, "%s: cannot mount at %s\n", d->prog, d->mountpoint);
        goto out;
    }
    /* Returns in the child only; the parent exits 0 now that the mount is in place. */
    if (!d->foreground)
        fuse_stats_before_fork();
    if (fuse_daemonize(d->foreground) != 0)
        goto unmount;
    if (!d->foreground)
        daemon_log_to_syslog();
    /* Capabilities are per thread: drop them before any thread starts. */
    if (daemon_drop_privileges() < 0)
        goto unmount;
    if (d->ready)
        d->ready(d->arg);
    struct fuse_loop_config *loop = fuse_loop_cfg_create();
    if (loop == NULL)
        goto unmount;
    fuse_loop_cfg_set_max_threads(loop, d->threads ? d->threads : 16);
    fuse_loop_cfg_set_clone_fd(loop, 1);
    /* A loop ended by SIGINT, SIGTERM or SIGHUP reports the signal: a clean stop too. */
    int r = fuse_session_loop_mt(se, loop);
    status = r == 0 || r == SIGINT || r == SIGTERM || r == SIGHUP ? 0 : 1;
    fuse_loop_cfg_destroy(loop);
    if (d->stopping)
        d->stopping(d->arg);
unmount:
    fuse_session_unmount(se);
out:
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    fuse_opt_free_args(&args);
    return status;
}
