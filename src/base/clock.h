/*
 * The monotonic clock as every stage reads it: seconds as a double, for
 * backoff deadlines, durations in logs and telemetry. CLOCK_MONOTONIC
 * never steps with the wall clock; its zero is arbitrary (boot), so only
 * differences mean anything. A double holds such a value to well under a
 * microsecond for centuries of uptime.
 */
#ifndef CSM_CLOCK_H
#define CSM_CLOCK_H

/* Seconds on CLOCK_MONOTONIC. */
double csm_clock_mono(void);

/* Seconds elapsed since t0, a csm_clock_mono() value. */
double csm_clock_since(double t0);

#endif
