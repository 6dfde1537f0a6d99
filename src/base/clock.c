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

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t csm_clock_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t csm_clock_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}
