/*
 * Capped exponential backoff with jitter, as client-go's reflector uses:
 * 0.8 s doubling to a 30 s cap, each delay stretched by a random factor in
 * [1, 1 + jitter) but never beyond the cap (at the cap, divided by such a
 * factor instead, so retries stay spread), and the sequence reset once no failure happened for
 * `reset_after` seconds (a healthy period).
 *
 * Pure arithmetic on caller-supplied time, so it is unit-testable; the
 * random state lives in the struct (no global PRNG).
 */
#ifndef CSM_BACKOFF_H
#define CSM_BACKOFF_H

#include <stdint.h>

typedef struct csm_backoff {
    double initial;     /* seconds */
    double cap;         /* seconds */
    double jitter;      /* 0 disables */
    double reset_after; /* seconds without failures that reset the sequence */
    double current;     /* last un-jittered delay; 0 before the first failure */
    double last_failure;
    uint64_t rng;
} csm_backoff;

/* Defaults: 0.8 s, 30 s cap, jitter 0.5, reset after 60 s. seed varies the
 * jitter between informers. */
void csm_backoff_init(csm_backoff *b, uint64_t seed);

/* Records a failure at `now` (seconds, monotonic) and returns the delay
 * before the next attempt. */
double csm_backoff_next(csm_backoff *b, double now);

/* Forgets past failures. */
void csm_backoff_reset(csm_backoff *b);

#endif
