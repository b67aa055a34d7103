/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>

#include "util/thread.h"

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
