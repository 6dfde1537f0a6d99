/*
 * Exact integers in parsed JSON.
 *
 * cJSON keeps a number only as a double, which cannot hold every integer
 * above 2^53 (9007199254740993 reads back as ...992). Kubernetes clients
 * decode a JSON integer into int64, so kube-state-metrics prints such a
 * label value exactly. After cJSON parsed a text, csm_jsonnum_annotate()
 * walks the text once more next to the tree and stores the token text of
 * the numbers a double cannot stand for in the node's unused valuestring
 * (cJSON_Delete() and cJSON_Duplicate() already free and copy it).
 *
 * Cost: one scan of the text looking for a run of 16 digits; only a text
 * that has one is walked again, still linearly and without allocating
 * except for the tokens kept.
 */
#ifndef CSM_JSONNUM_H
#define CSM_JSONNUM_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/buf.h"
#include "csm/error.h"

/*
 * root must be what cJSON parsed from text[0..len) (trailing bytes after
 * the value are ignored). Keeps the token text of every number whose
 * token is an integer of 16 or more digits, or a float-syntax token
 * ("1.5e10") whose value is integral and at least 1e6 in magnitude (Go
 * prints those differently from an integer). CSM_ERR_NOMEM leaves the
 * tree usable (the numbers keep their doubles).
 */
csm_err csm_jsonnum_annotate(cJSON *root, const char *text, size_t len);

/* The kept token text of number node n, or NULL (borrowed). */
const char *csm_jsonnum_text(const cJSON *n);

/* Sets the kept token text of number node n (copied); for parsers other
 * than cJSON's that know the exact text (YAML). */
csm_err csm_jsonnum_set_text(cJSON *n, const char *text);

/*
 * Appends a number the way Go's fmt %v prints what a Kubernetes client
 * decoded: a JSON integer that fits int64 in full; anything else as a
 * float64 in Go's shortest form (1e+06, 1.5e-05).
 */
csm_err csm_jsonnum_format(const cJSON *n, csm_buf *out);

/* Go's strconv.FormatFloat(v, 'g', -1, bits), bits 64 or 32. */
csm_err csm_jsonnum_format_float(double v, int bits, csm_buf *out);

/* An integral v as Go's encoding/json writes it below 1e21: the shortest
 * digits that read back as v, padded with zeros ("123456789012345680").
 * CSM_ERR_INVALID if v is not integral. */
csm_err csm_jsonnum_format_integral(double v, csm_buf *out);

#endif
