#include "base/clock.h"

#include <time.h>

double csm_clock_mono(void)
{
    struct timespec ts;

    /* Cannot fail for CLOCK_MONOTONIC with a valid pointer (POSIX). */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double csm_clock_since(double t0)
{
    return csm_clock_mono() - t0;
}
