/*
 * The exporter's own metrics (served on the telemetry port): counters,
 * gauges and histograms with labels, plus process metrics read from /proc
 * at scrape time.
 *
 * Families are registered once at start-up; series are created on first
 * use. Lookups are linear in the number of series of a family, which stays
 * small (one per resource and result); no string is allocated on the hot
 * path once a series exists. Single-threaded like the rest of the exporter.
 */
#ifndef CSM_TELEMETRY_H
#define CSM_TELEMETRY_H

#include <stddef.h>

#include "csm/error.h"
#include "csm/generator.h"
#include "render/expo.h"

typedef struct csm_telemetry csm_telemetry;
typedef struct csm_tel_family csm_tel_family;

/* Returns NULL on allocation failure. Free with csm_telemetry_free(). */
csm_telemetry *csm_telemetry_new(void);
void csm_telemetry_free(csm_telemetry *t);

/*
 * Registers a counter or gauge family (type CSM_METRIC_COUNTER or
 * CSM_METRIC_GAUGE; counter names end in "_total"). label_names are copied.
 * *out is owned by t.
 */
csm_err csm_tel_family_add(csm_telemetry *t, const char *name, const char *help,
                           csm_metric_type type, size_t nlabels, const char *const *label_names,
                           csm_tel_family **out);

/* Registers a histogram with the given upper bounds (ascending, +Inf is
 * implicit). */
csm_err csm_tel_histogram_add(csm_telemetry *t, const char *name, const char *help, size_t nlabels,
                              const char *const *label_names, const double *bounds, size_t nbounds,
                              csm_tel_family **out);

/* label_values has as many entries as the family has label names. */
csm_err csm_tel_inc(csm_tel_family *f, const char *const *label_values, double delta);
csm_err csm_tel_set(csm_tel_family *f, const char *const *label_values, double value);
csm_err csm_tel_observe(csm_tel_family *f, const char *const *label_values, double value);
/* Adds 1 to the series {v0, v1} of a family with up to two labels (the
 * values past its label count are not read; pass NULL). f NULL counts
 * nothing and is CSM_OK: a module without telemetry keeps NULL families. */
csm_err csm_tel_count(csm_tel_family *f, const char *v0, const char *v1);
/* Current value of a counter/gauge series; 0 if it does not exist. */
double csm_tel_get(const csm_tel_family *f, const char *const *label_values);
/* Drops a series (e.g. a resource that went away). */
csm_err csm_tel_remove(csm_tel_family *f, const char *const *label_values);

/* Renders all families plus process_* metrics in registration order. */
csm_err csm_tel_write(csm_telemetry *t, csm_expo_format fmt, csm_sink *sink);

#endif
