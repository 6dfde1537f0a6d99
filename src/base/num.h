/*
 * Bounded conversions of numbers that come from the network (HTTP headers,
 * JSON bodies) into integers and timer values. A double cast to an integer
 * type it does not fit is undefined behaviour in C, and "inf", "1e12" or
 * NaN are one header or JSON field away; every such conversion goes
 * through here.
 */
#ifndef CSM_NUM_H
#define CSM_NUM_H

#include <stddef.h>
#include <sys/time.h>

#include "csm/error.h"

/*
 * HTTP delta-seconds (RFC 9110 section 10.2.3: 1*DIGIT), blanks around it
 * allowed, from s[0..n). Saturates at max (>= 0) instead of overflowing.
 * Anything else ("inf", "1e12", "-5", "1.5", "", an HTTP date) is
 * CSM_ERR_PARSE and *out is untouched.
 */
csm_err csm_num_delta_seconds(const char *s, size_t n, long max, long *out);

/* v rounded toward zero and clamped into [lo, hi] (lo <= hi); NaN gives
 * nan_as. Never undefined, whatever v is. */
long csm_num_to_long(double v, long lo, long hi, long nan_as);

/* A timer delay of `seconds`, clamped into [0, max]; NaN is 0. */
struct timeval csm_num_timeval(double seconds, double max);

#endif
