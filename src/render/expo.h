/*
 * Prometheus exposition: text format 0.0.4 and OpenMetrics 1.0.
 *
 * Sample lines are identical in both formats for the families this exporter
 * serves (gauges, info and stateset rendered as "<name>{...} <value>"), so
 * they are rendered once per object change; only the HELP/TYPE headers and
 * the trailing "# EOF" depend on the negotiated format. That is what lets a
 * scrape reuse pre-rendered blocks untouched.
 */
#ifndef CSM_EXPO_H
#define CSM_EXPO_H

#include <stddef.h>

#include "base/buf.h"
#include "csm/error.h"
#include "csm/generator.h"

typedef enum csm_expo_format {
    CSM_EXPO_TEXT = 0,    /* text/plain; version=0.0.4 */
    CSM_EXPO_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
} csm_expo_format;

/* Content-Type header value for a format; static string. */
const char *csm_expo_content_type(csm_expo_format fmt);

/*
 * Picks the format from an Accept header the way Prometheus' client
 * libraries do: OpenMetrics when application/openmetrics-text is acceptable
 * with a q at least as high as the best text/plain (or any) alternative.
 * NULL or unparsable headers give CSM_EXPO_TEXT.
 */
csm_expo_format csm_expo_negotiate(const char *accept);

/* 1 if an Accept-Encoding header allows gzip (q > 0), else 0. */
int csm_expo_accepts_gzip(const char *accept_encoding);

/* 1 if name matches [a-zA-Z_:][a-zA-Z0-9_:]*. */
int csm_expo_valid_metric_name(const char *name);
/* 1 if name matches [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__". */
int csm_expo_valid_label_name(const char *name);

/* Appends v escaped for a label value: \ -> \\, " -> \", newline -> \n.
 * Other bytes (UTF-8 included) pass through. */
csm_err csm_expo_escape_label_value(csm_buf *b, const char *v);
/* Appends s escaped for HELP text: \ -> \\, newline -> \n. */
csm_err csm_expo_escape_help(csm_buf *b, const char *s);
/* Appends a sample value canonically: integers without exponent or point
 * ("1", "-3", "1700000000"), other finite values with the shortest
 * round-tripping %g form, "NaN", "+Inf", "-Inf". */
csm_err csm_expo_format_value(csm_buf *b, double v);

/*
 * Appends the "# HELP" and "# TYPE" lines for a family. In text 0.0.4,
 * info and stateset families are typed gauge. In OpenMetrics, an info
 * family named "x_info" is announced as "x" with TYPE info (its samples keep
 * the "_info" suffix), a stateset as TYPE stateset, a counter "x_total" as
 * "x" with TYPE counter.
 */
csm_err csm_expo_family_header(csm_buf *b, csm_expo_format fmt, const char *name, const char *help,
                               csm_metric_type type);

/*
 * Appends one sample line: name{l1="v1",...} value\n. Checks the names
 * (pairwise distinct, in O(n log n)), escapes the values. nlabels may be 0
 * (no braces are printed).
 */
csm_err csm_expo_sample(csm_buf *b, const char *name, size_t nlabels, const char *const *names,
                        const char *const *values, double value);

/*
 * Where a response body goes. text() copies; ref() may keep a pointer to
 * [p, p+n) instead of copying, calling release(owner) once it no longer
 * needs it (exactly once, also on failure). The HTTP server provides a plain
 * sink (zero-copy evbuffer references) and a gzip sink (which stitches the
 * segments' cached gzip pieces, see gzcat.h).
 */
typedef struct csm_sink csm_sink;
/* A store's pre-rendered segment (see store.h). */
typedef struct csm_seg csm_seg;
struct csm_sink {
    csm_err (*text)(csm_sink *s, const char *p, size_t n);
    csm_err (*ref)(csm_sink *s, const char *p, size_t n, void (*release)(void *owner), void *owner);
    /* Optional (NULL: writers fall back to ref()): writes family `fam` of
     * a segment, taking references of its own on seg as long as it needs
     * the text or the segment's cached gzip piece. */
    csm_err (*seg)(csm_sink *s, csm_seg *seg, size_t fam);
};

#endif
