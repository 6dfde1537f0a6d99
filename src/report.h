/*
 * `crd-state-metrics report`: turns what Prometheus stored into a metering
 * report for one resource, per namespace (or another label):
 *
 *   instance-seconds  exact: the increase of <stem>_object_seconds_total over
 *                     the window, from the raw samples (resets handled, the
 *                     window's start interpolated between the samples around
 *                     it, no extrapolation), summed over series (shards)
 *   peak / average    instance count from count by (..) (<stem>_info),
 *                     sampled by query_range
 *   created / deleted increase of <stem>_created_total / _deleted_total
 *   coverage          share of the window's steps at which up{job=...} was 1
 *
 * It talks to the Prometheus HTTP API with libcurl (bearer token, CA file,
 * TLS verified unless --insecure-skip-tls-verify) and parses with cJSON.
 * Exit status: 0 report printed, 1 Prometheus failed or has no data, 2 bad
 * flags.
 */
#ifndef CSM_REPORT_H
#define CSM_REPORT_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "base/buf.h"
#include "csm/error.h"

/* Runs the subcommand; argv[0] is "report". Returns the exit status. */
int csm_report_main(int argc, char **argv, FILE *out, FILE *err);

/*
 * A time flag: RFC 3339 ("2026-11-01T00:00:00Z"), Unix seconds ("1700000000"),
 * "now", or an age before now: a number and a unit s, m, h, d or w ("30d",
 * "1.5h"). CSM_ERR_INVALID for anything else.
 */
csm_err csm_report_parse_time(const char *s, double now, double *out);

/*
 * Checks a Prometheus API answer (HTTP status and JSON body) and returns its
 * "data" member (borrowed from *doc, which the caller frees with
 * cJSON_Delete(); set also on failure when the body parsed). On failure msg
 * says what Prometheus said ("HTTP 503: ...", "bad_data: parse error ...").
 */
csm_err csm_report_api_data(long status, const char *body, size_t len, cJSON **doc,
                            const cJSON **data, char *msg, size_t msglen);

/*
 * The increase of one counter series over [from, to] from its raw samples
 * (a JSON array of [t, "v"] pairs, oldest first, as a range vector's
 * "values"): resets count the value after the reset; the value at `from` is
 * interpolated linearly between the samples around it when interpolate is
 * set (object-seconds grow linearly between events), else the last sample at
 * or before from. A series whose first sample is after from counts its first
 * value from 0 (the exporter started in the window), but with interpolate no
 * more than the slope of its next interval allows since from (Prometheus
 * may have started scraping a counter that was already running). A reset is
 * seen as a decrease. With interpolate, the value at `to` is interpolated
 * between the samples around it as well; other samples after `to` are
 * ignored.
 */
csm_err csm_report_counter_increase(const cJSON *values, double from, double to, int interpolate,
                                    double *out);

#endif
