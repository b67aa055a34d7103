/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dropping what a FUSE daemon does not need once its mount is in place. It parses bytes
 * from registries and caches for as long as it runs, so a bug there should find as
 * little power as possible: of root's capabilities it keeps CAP_SYS_ADMIN alone (to
 * unmount on SIGTERM), removes the rest from the bounding set too, and sets
 * no_new_privs so nothing it could execute gains any. Raw syscalls: no libcap needed.
 */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuse_fs.h"

int daemon_drop_privileges(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        daemon_log(SOCI_LOG_WARNING, "no_new_privs: %s", strerror(errno));
        return -1;
    }
    if (geteuid() != 0)
        return 0; /* mounted through fusermount3: no capabilities to drop */
    for (int cap = 0; cap <= 63; cap++) {
        if (cap != CAP_SYS_ADMIN && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
            daemon_log(SOCI_LOG_WARNING, "dropping capability %d from the bounding set: %s", cap, strerror(errno));
            return -1;
        }
    }
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective = CAP_TO_MASK(CAP_SYS_ADMIN);
    data[CAP_TO_INDEX(CAP_SYS_ADMIN)].permitted = CAP_TO_MASK(CAP_SYS_ADMIN);
    if (syscall(SYS_capset, &header, data) < 0) {
        daemon_log(SOCI_LOG_WARNING, "capset: %s", strerror(errno));
        return -1;
    }
    return 0;
}
