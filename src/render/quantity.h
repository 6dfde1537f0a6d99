/*
 * Kubernetes resource quantities ("250m", "1Gi", "1.5k", "1e3") and Go
 * durations ("1h30m", "250ms") as plain doubles, the way kube-state-metrics'
 * Custom Resource State config converts them.
 */
#ifndef CSM_QUANTITY_H
#define CSM_QUANTITY_H

#include "csm/error.h"

/*
 * Parses a quantity in the Kubernetes grammar:
 *   [+-] (DIGITS | DIGITS. | DIGITS.DIGITS | .DIGITS) SUFFIX
 *   SUFFIX: "" | n u m k M G T P E | Ki Mi Gi Ti Pi Ei | (e|E) [+-] DIGITS
 * into *out (the nearest double, like Quantity.AsApproximateFloat64()).
 * CSM_ERR_PARSE for anything else, *out untouched.
 */
csm_err csm_quantity_parse(const char *s, double *out);

/*
 * Parses a Go duration ("300ms", "-1.5h", "2h45m", "0") into seconds.
 * Units: ns, us, µs, μs, ms, s, m, h. CSM_ERR_PARSE for anything else.
 */
csm_err csm_quantity_duration(const char *s, double *out);

#endif
