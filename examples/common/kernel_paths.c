/* SPDX-License-Identifier: Apache-2.0 */
/* Path helpers of the kernel paths: bounded joins, short hashed names, directories made
 * and removed, the process a runtime directory names. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_common.h"

void kernel_path(char *out, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        out[0] = '\0'; /* too long for out: then it names nothing of ours */
}

uint64_t kernel_hash(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3u;
    return h;
}

int kernel_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

static void remove_dir(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX + 256];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        kernel_path(path, sizeof(path), dir, e->d_name);
        if (path[0] && unlink(path) != 0 && (errno == EISDIR || errno == EPERM) && depth > 0)
            remove_dir(path, depth - 1);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

void kernel_remove_dir(const char *dir)
{
    remove_dir(dir, 1);
}

pid_t kernel_live_owner(const char *dir, const char *program)
{
    char path[PATH_MAX + 16], comm[64] = "";
    long pid = -1;
    kernel_path(path, sizeof(path), dir, "pid");
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    if (pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) != 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    if ((f = fopen(path, "re")) != NULL) {
        if (fgets(comm, sizeof(comm), f) == NULL)
            comm[0] = '\0';
        fclose(f);
    }
    /* comm is cut at 15 bytes: compare what it keeps. */
    size_t n = strlen(program) < 15 ? strlen(program) : 15;
    return n > 0 && strncmp(comm, program, n) == 0 ? (pid_t)pid : 0;
}
