/*
 * Paths and values of kube-state-metrics' Custom Resource State config.
 *
 * A path is a list of segments resolved one after the other against an
 * object (see csm_crspath_compile()). Values convert to sample values and
 * to label values the way kube-state-metrics does, so a config written for
 * it gives the same numbers and label text here.
 */
#ifndef CSM_CRSPATH_H
#define CSM_CRSPATH_H

#include <stddef.h>

#include "base/buf.h"
#include "csm/error.h"
#include "csm/generator.h"

typedef struct csm_crspath csm_crspath;

/*
 * Compiles segments. Each one is, resolved against the current value:
 *   "name"        a map key; on an array a decimal index, negative counts
 *                 from the end ("-1" is the last element)
 *   "key=value"   on a map: the value of `key` if it is the string `value`,
 *                 else the map key "key=value" itself
 *   "[key=value]" on an array of maps: the first map whose `key` equals
 *                 `value` as a string, else as a number, else as a boolean
 * n == 0 is the empty path, which resolves to the value itself. On
 * CSM_ERR_INVALID, why[] names the bad segment. Free with
 * csm_crspath_free() (which accepts NULL).
 */
csm_err csm_crspath_compile(const char *const *segs, size_t n, csm_crspath **out, char *why,
                            size_t whylen);
void csm_crspath_free(csm_crspath *p);

/* Number of segments. */
size_t csm_crspath_len(const csm_crspath *p);

/* Segment i's text as written (borrowed). */
const char *csm_crspath_segment(const csm_crspath *p, size_t i);

/* "[status,conditions]", as kube-state-metrics prints paths (borrowed). */
const char *csm_crspath_text(const csm_crspath *p);

/* Resolves p against v; NULL when any step is missing (including an index
 * out of range) or lands on a JSON null. */
const csm_value *csm_crspath_get(const csm_crspath *p, const csm_value *v);

/* Same for segments [from, to) only (to is capped at the length). */
const csm_value *csm_crspath_get_part(const csm_crspath *p, size_t from, size_t to,
                                      const csm_value *v);

/* How csm_crspath_number() reads a string (each.gauge.valueType). */
typedef enum csm_crspath_vtype {
    CSM_CRSPATH_AUTO = 0, /* the rules below */
    CSM_CRSPATH_QUANTITY, /* a Kubernetes quantity only */
    CSM_CRSPATH_DURATION, /* a Go duration only, in seconds */
} csm_crspath_vtype;

/*
 * A value as a sample value:
 *   missing/null  0 if nil_is_zero, else CSM_ERR_NOT_FOUND
 *   number        itself;  boolean  1 or 0
 *   string        "true"/"yes" 1, "false"/"no"/"unknown" 0 (any case);
 *                 an RFC 3339 time in whole seconds since the epoch;
 *                 a quantity ("250m" 0.25, "1Gi" 1073741824, "1e3");
 *                 a percentage ("50%" 0.5); a float ("NaN", "+Inf" too)
 *   map, array    CSM_ERR_TYPE
 * On error why[] says what was found.
 */
csm_err csm_crspath_number(const csm_value *v, int nil_is_zero, csm_crspath_vtype type, double *out,
                           char *why, size_t whylen);

/* Same rules for a bare string. */
csm_err csm_crspath_string_number(const char *s, double *out);

/*
 * Appends a value as a label value the way Go's fmt %v prints it: strings
 * as they are, true/false, integers without exponent, other numbers in
 * shortest %g form with Go's exponent rule (1e+06), maps as
 * "map[k:v ...]" sorted by key, arrays as "[a b]". A NULL value appends
 * "<nil>".
 */
csm_err csm_crspath_format(const csm_value *v, csm_buf *out);

#endif
