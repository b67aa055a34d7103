/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/thread.h"

#define BACKGROUND_NICE 10

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    /* The new thread inherits the mask in force when it is created. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

static _Thread_local int background_class;

void thread_set_background(int background)
{
    background_class = background != 0;
    /* Its CPU time too goes last: on Linux a thread has a nice value of its own, and
     * raising it needs no privilege (a hint: failure changes nothing else). */
    if (background_class)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), BACKGROUND_NICE);
}

int thread_is_background(void)
{
    return background_class;
}
