/*
 * The monotonic clock as every stage reads it: seconds as a double, for
 * backoff deadlines, durations in logs and telemetry. CLOCK_MONOTONIC
 * never steps with the wall clock; its zero is arbitrary (boot), so only
 * differences mean anything. A double holds such a value to well under a
 * microsecond for centuries of uptime.
 */
#ifndef CSM_CLOCK_H
#define CSM_CLOCK_H

#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC. */
double csm_clock_mono(void);

/* Seconds elapsed since t0, a csm_clock_mono() value. */
double csm_clock_since(double t0);

/* Whole milliseconds on CLOCK_MONOTONIC and CLOCK_REALTIME (auth's cache
 * expiry compares token expiry, a wall time, in milliseconds). */
int64_t csm_clock_mono_ms(void);
int64_t csm_clock_wall_ms(void);

#endif
